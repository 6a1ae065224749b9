"""engine.special, engine.testing, engine.backends and engine.autograd.functional against torch's
namesakes: values, gradients, shapes and (for assert_close) the messages."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.special as special
from engine.autograd_functional import hessian, jacobian, jvp, vjp
from engine.testing import assert_close, make_tensor

torch = pytest.importorskip("torch")
TAF = pytest.importorskip("torch.autograd.functional")

EDGES = np.array([-3.0, -1.0, -1e-3, 0.0, 1e-3, 0.5, 1.0, 2.5, np.inf, -np.inf, np.nan])


@pytest.mark.parametrize("name", ["entr", "ndtr", "expit", "gammaln", "psi", "digamma", "erf", "erfc", "expm1",
                                  "log1p", "exp2", "sinc", "round", "logit"])
def test_special_unary_values_match_torch(name):
    ours = getattr(special, name)(engine.tensor(EDGES)).numpy()
    theirs = getattr(torch.special, name)(torch.tensor(EDGES)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-300, equal_nan=True)


@pytest.mark.parametrize("name", ["entr", "ndtr", "expit", "gammaln", "xlog1py", "xlogy"])
def test_special_gradients_match_torch(name):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 3.0, 7)
    y = rng.uniform(0.1, 3.0, 7)  # inside both xlogy's and xlog1py's domains
    binary = name in ("xlog1py", "xlogy")
    ours_in = [engine.tensor(a, requires_grad=True) for a in ((x, y) if binary else (x,))]
    theirs_in = [torch.tensor(a, requires_grad=True) for a in ((x, y) if binary else (x,))]
    getattr(special, name)(*ours_in).sum().backward()
    getattr(torch.special, name)(*theirs_in).sum().backward()
    for a, b in zip(ours_in, theirs_in):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10)
    assert engine.gradcheck(lambda *t: getattr(special, name)(*t), *[engine.tensor(a, requires_grad=True)
                                                                      for a in ((x, y) if binary else (x,))])


def test_special_xlog1py_zero_rule_scalars_and_dtypes():
    x = np.array([0.0, 0.0, 2.0, -1.0, 0.0])
    y = np.array([-1.0, np.nan, -1.0, -1.0, 5.0])
    ours = special.xlog1py(engine.tensor(x), engine.tensor(y)).numpy()
    np.testing.assert_array_equal(ours, torch.special.xlog1py(torch.tensor(x), torch.tensor(y)).numpy())
    for a, b in [(2.5, [1, 2]), ([1, 2], 0.5)]:
        ta, tb = (torch.tensor(v) if isinstance(v, list) else v for v in (a, b))
        ea, eb = (engine.tensor(v) if isinstance(v, list) else v for v in (a, b))
        theirs, ours = torch.special.xlog1py(ta, tb), special.xlog1py(ea, eb)
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_special_softmax_requires_dim_and_takes_dtype():
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    ours = special.softmax(engine.tensor(x), 1, dtype=engine.float64)
    theirs = torch.special.softmax(torch.tensor(x), 1, dtype=torch.float64)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    np.testing.assert_allclose(special.log_softmax(engine.tensor(x), -1).numpy(),
                               torch.special.log_softmax(torch.tensor(x), -1).numpy(), rtol=1e-6)
    with pytest.raises(TypeError):
        special.softmax(engine.tensor(x))


def _both(actual, expected):
    """(torch's message, ours) for assert_close on the same values (lists become tensors)."""
    def run(f, convert, **kwargs):
        try:
            f(convert(actual), convert(expected), **kwargs)
        except (AssertionError, ValueError, TypeError) as e:
            return type(e).__name__, str(e)
        return "ok", ""
    return run


CASES = [  # (actual, expected, kwargs)
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.1], {}),
    ([1.0, float("nan")], [1.0, float("nan")], {}),
    ([float("nan")], [float("nan")], dict(equal_nan=True)),
    ([[1, 2], [3, 4]], [[1, 2], [3, 5]], {}),
    ([True, False], [True, True], {}),
    ([1.0], [2.0], {}),
    ([0.0, 2.0], [1e-3, 2.0], {}),
    ([float("inf")], [float("inf")], {}),
    ([float("inf")], [float("-inf")], {}),
    ([1.0, 2.0], [1.0, 2.5], dict(rtol=0.0, atol=0.0)),
    ([1.0, 2.0], [1.0, 2.01], dict(rtol=0.1)),
    ([1.0, 2.0], [1.0, 2.5], dict(msg="custom")),
    ([], [], {}),
]


@pytest.mark.parametrize("actual,expected,kwargs", CASES)
def test_assert_close_messages_match_torch(actual, expected, kwargs):
    results = []
    for f, make in ((torch.testing.assert_close, torch.tensor), (assert_close, engine.tensor)):
        try:
            f(make(actual), make(expected), **kwargs)
            results.append(("ok", ""))
        except (AssertionError, ValueError) as e:
            results.append((type(e).__name__, str(e)))
    assert results[0] == results[1]


def test_assert_close_scalars_nesting_dtype_and_shape():
    def message(f, *args, **kwargs):
        try:
            f(*args, **kwargs)
        except (AssertionError, TypeError) as e:
            return type(e).__name__, str(e).replace("torch.", "").replace("engine.tensor.", "")
        return "ok", ""

    t, e = torch.tensor, engine.tensor
    for args, ours in [((1.0, 1.1), (1.0, 1.1)), ((1, 2), (1, 2)), ((1, 1.0), (1, 1.0)),
                       ((t(1.0), t(2.0)), (e(1.0), e(2.0))),
                       (([t(1.0)], [t(2.0)]), ([e(1.0)], [e(2.0)])),
                       (({"a": t([1.0])}, {"a": t([2.0])}), ({"a": e([1.0])}, {"a": e([2.0])})),
                       (({"a": t([1.0])}, {"b": t([2.0])}), ({"a": e([1.0])}, {"b": e([2.0])})),
                       (([t([1.0])], [t([1.0]), t([1.0])]), ([e([1.0])], [e([1.0]), e([1.0])])),
                       ((t([1.0]), [1.0]), (e([1.0]), [1.0]))]:
        assert message(torch.testing.assert_close, *args) == message(assert_close, *ours)
    # dtype and shape: the same sentence, with each library's names for them
    kind, text = message(assert_close, e([1.0, 2.0]), e([1.0, 2.0], dtype=engine.float64))
    assert kind == "AssertionError" and text == "The values for attribute 'dtype' do not match: float32 != float64."
    assert message(assert_close, e([1, 2]), e([1.0, 2.0]), check_dtype=False) == ("ok", "")
    kind, text = message(assert_close, e([1.0, 2.0]), e([1.0, 2.0, 3.0]))
    assert kind == "AssertionError" and "'shape' do not match: (2,) != (3,)" in text
    assert message(assert_close, np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9])) == ("ok", "")
    with pytest.raises(AssertionError, match="^Xfoo$"):
        assert_close(e([1.0]), e([2.0]), msg=lambda m: "Xfoo")


def test_make_tensor_ranges_dtypes_and_grad():
    engine.manual_seed(0)
    f = make_tensor(50, 4, dtype=engine.float64, low=-2, high=3, requires_grad=True)
    assert f.shape == (50, 4) and f.dtype == np.float64 and f.requires_grad
    assert float(f.min()) >= -2 and float(f.max()) < 3
    i = make_tensor((200,), dtype=engine.int64, low=-2, high=3, exclude_zero=True)
    assert i.dtype == np.int64 and set(np.unique(i.numpy())) <= {-2, -1, 1, 2}
    default = make_tensor(1000, dtype=engine.float32)
    assert float(default.min()) >= -9 and float(default.max()) < 9 and float(default.std()) > 3
    assert make_tensor(3, dtype=engine.bool).dtype == np.bool_
    with pytest.raises(ValueError, match="requires_grad"):
        make_tensor(2, dtype=engine.int64, requires_grad=True)
    with pytest.raises(ValueError, match="low"):
        make_tensor(2, dtype=engine.float32, low=2, high=1)


def test_backends_flags():
    assert engine.backends.mps.is_available() is torch.backends.mps.is_available() is False
    assert engine.backends.cudnn.benchmark is False and engine.backends.cudnn.deterministic is False
    engine.backends.cudnn.benchmark = True  # accepted, as in a torch training script
    assert engine.backends.cudnn.benchmark is True
    engine.backends.cudnn.benchmark = False
    old = engine.get_float32_matmul_precision()
    try:
        assert engine.backends.cuda.matmul.allow_tf32 is (old != "highest")
        engine.backends.cuda.matmul.allow_tf32 = True
        assert engine.get_float32_matmul_precision() == "high"
        engine.backends.cuda.matmul.allow_tf32 = False
        assert engine.get_float32_matmul_precision() == "highest"
    finally:
        engine.set_float32_matmul_precision(old)


def _functions():
    return [
        (lambda x: x * x, 1),
        (lambda x: (x.exp() * 2).sum(), 1),
        (lambda x, y: (x * y).sum(1), 2),
        (lambda x, y: ((x * y).sum(1), x.exp()), 2),
        (lambda x: (x.sin(), x.sum()), 1),
    ]


@pytest.mark.parametrize("index", range(5))
def test_jacobian_vjp_jvp_match_torch(index):
    fn, n_in = _functions()[index]
    rng = np.random.default_rng(index)
    arrays = [rng.standard_normal((2, 3)), rng.standard_normal(3)][:n_in]
    wrap = (lambda t: t[0]) if n_in == 1 else tuple
    ours = jacobian(fn, wrap([engine.tensor(a) for a in arrays]))
    theirs = TAF.jacobian(fn, wrap([torch.tensor(a) for a in arrays]))
    flat_o, flat_t = _flatten(ours), _flatten(theirs)
    assert len(flat_o) == len(flat_t)
    for a, b in zip(flat_o, flat_t):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)
    outs = fn(*[torch.tensor(a) for a in arrays])
    outs = outs if isinstance(outs, tuple) else (outs,)
    vs = [rng.standard_normal(tuple(o.shape)) for o in outs]
    wrap_out = (lambda t: t[0]) if len(outs) == 1 else tuple
    _, ours = vjp(fn, wrap([engine.tensor(a) for a in arrays]), wrap_out([engine.tensor(v) for v in vs]))
    _, theirs = TAF.vjp(fn, wrap([torch.tensor(a) for a in arrays]), wrap_out([torch.tensor(v) for v in vs]))
    for a, b in zip(_flatten(ours), _flatten(theirs)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)
    us = [rng.standard_normal(a.shape) for a in arrays]
    _, ours = jvp(fn, wrap([engine.tensor(a) for a in arrays]), wrap([engine.tensor(u) for u in us]))
    _, theirs = TAF.jvp(fn, wrap([torch.tensor(a) for a in arrays]), wrap([torch.tensor(u) for u in us]))
    for a, b in zip(_flatten(ours), _flatten(theirs)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)


def _flatten(x):
    return [t for item in x for t in _flatten(item)] if isinstance(x, tuple) else [x]


def test_functional_importable_as_torch_spells_it():
    from engine.autograd.functional import jacobian as imported  # noqa: PLC0415  (the point of the test)

    assert imported is jacobian is engine.autograd.functional.jacobian


def test_functional_errors_as_torch():
    x, y = engine.tensor([1.0, 2.0]), engine.tensor([3.0])
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function is independent of input 1"):
        jacobian(lambda a, b: a * 2, (x, y), strict=True)
    unused = jacobian(lambda a, b: a * 2, (x, y))
    assert unused[1].shape == (2, 1) and not unused[1].numpy().any()
    with pytest.raises(RuntimeError, match="v can only be None"):
        vjp(lambda a: a * 2, x)
    with pytest.raises(RuntimeError, match="invalid size"):
        vjp(lambda a: a * 2, x, engine.tensor([1.0]))
    with pytest.raises(TypeError, match="must be either a Tensor or a tuple of Tensors"):
        jacobian(lambda a: a, [1.0])
    # the gradient of a gradient (engine.higher_order): tests/engine/test_parity_higher_order_s15.py
    assert not hessian(lambda a: a.sum(), x).numpy().any()
    assert jacobian(lambda a: a * a, x.requires_grad_(), create_graph=True).requires_grad
