"""Tensor ops against torch where earlier parity tests did not reach: gradients through empty
tensors, assignment of values with extra leading 1-dims, ... (session 14)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import engine
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


def pair(a, dtype=np.float64):
    a = np.asarray(a, dtype=dtype)
    return Tensor(a.copy(), requires_grad=True), torch.tensor(a, requires_grad=True)


def same(ours, theirs, what=""):
    theirs = theirs.detach().numpy()
    ours = ours.numpy()
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs torch {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} vs torch {theirs.dtype}"
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-12, equal_nan=True, err_msg=what)


def first(out):
    return out[0] if isinstance(out, tuple) else out


EMPTY_DIM_OPS = {
    "max": lambda t, d: t.max(d), "min": lambda t, d: t.min(d), "median": lambda t, d: t.median(d),
    "nanmedian": lambda t, d: t.nanmedian(d), "mode": lambda t, d: t.mode(d), "sort": lambda t, d: t.sort(d),
    "cummax": lambda t, d: t.cummax(d), "cummin": lambda t, d: t.cummin(d), "topk": lambda t, d: t.topk(0, d),
    "prod": lambda t, d: t.prod(d), "prod_all": lambda t, d: t.prod(), "amax": lambda t, d: t.amax(d),
}


@pytest.mark.parametrize("name", list(EMPTY_DIM_OPS))
@pytest.mark.parametrize("shape, dim", [((0, 3), 1), ((3, 0), 0), ((2, 0, 3), -1), ((3, 0), 1), ((0,), 0)])
def test_ops_along_a_dim_of_an_empty_tensor_and_their_gradients(name, shape, dim):
    fn = EMPTY_DIM_OPS[name]
    x, tx = pair(np.zeros(shape))
    try:
        tout = first(fn(tx, dim))
    except (IndexError, RuntimeError) as e:  # reducing an empty dim: torch refuses, and so do we
        with pytest.raises(type(e)):
            fn(x, dim)
        return
    out = first(fn(x, dim))
    same(out, tout, name)
    g = np.ones(out.shape)
    out.backward(Tensor(g))
    tout.backward(torch.tensor(g))
    same(x.grad, tx.grad, name)


@pytest.mark.parametrize("index, vshape", [((0,), (1, 4, 5)), ((0,), (1, 1, 4, 5)), ((slice(None), 1), (1, 3, 5)),
                                           ((Ellipsis, 0), (1, 1, 4)), ((0, 0, 0), (1, 1))])
def test_setitem_of_a_value_with_extra_leading_ones_as_torch(index, vshape):
    rng = np.random.default_rng(0)
    x, tx = pair(rng.standard_normal((3, 4, 5)))
    v, tv = pair(rng.standard_normal(vshape))
    y, ty = x * 1, tx * 1
    y[index] = v
    ty[index] = tv
    same(y, ty, "value")
    g = rng.standard_normal(y.shape)
    y.backward(Tensor(g))
    ty.backward(torch.tensor(g))
    same(x.grad, tx.grad, "grad of the tensor")
    same(v.grad, tv.grad, "grad of the value")


@pytest.mark.parametrize("grad", [False, True])
def test_setitem_of_a_value_that_does_not_broadcast_is_a_runtime_error(grad):
    x = engine.zeros(3, 4, 5, requires_grad=grad) * 1
    with pytest.raises(Exception) as theirs:
        torch.zeros(3, 4, 5)[0] = torch.zeros(2, 5)
    with pytest.raises(type(theirs.value), match=r"\(2, 5\).*\(4, 5\)"):
        x[0] = engine.zeros(2, 5)


def grads_match(ours_fn, torch_fn, *arrays, seed=0):
    """Values and float64 gradients of every input, against torch's autograd."""
    ts = [pair(a) for a in arrays]
    out, tout = ours_fn(*(t for t, _ in ts)), torch_fn(*(t for _, t in ts))
    same(out, tout, "value")
    g = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(Tensor(g))
    tout.backward(torch.tensor(g))
    for i, (t, tt) in enumerate(ts):
        if tt.grad is None:
            assert t.grad is None, f"gradient {i}: torch has none"
        else:
            same(t.grad, tt.grad, f"gradient {i}")


NAN, INF = math.nan, math.inf
SPECIAL = [[1.0, NAN, 3.0, 0.5], [INF, -INF, 2.0, 0.25], [-1.0, 2.0, INF, 4.0]]


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("a", [SPECIAL, [[2.0, 0.5, -3.0], [1e200, 1e200, 1.0]], [[0.0, 2.0, 3.0], [1.0, INF, 2.0]],
                               [[0.0, 0.0, NAN], [1.0, 2.0, 3.0]], [[NAN]]])
def test_prod_gradient_with_inf_and_nan_as_torch(a, dim):
    """torch divides the product by each entry when nothing is 0, so an inf or nan entry gets nan
    (and an overflowed product inf); with zeros it takes the product of the others."""
    grads_match(lambda x: x.prod() if dim is None else x.prod(dim),
                lambda x: x.prod() if dim is None else x.prod(dim), a)


def test_prod_gradient_of_a_0d_nan_is_the_upstream_gradient():
    grads_match(lambda x: x.prod(), lambda x: x.prod(), NAN)


@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("dim, correction", [(0, 1), (1, 0), (0, 2), (1, 4), (None, 1)])
def test_var_std_gradients_with_inf_and_nan_and_a_large_correction_as_torch(op, dim, correction):
    """torch's gradient is 2 (x - mean) / (N - correction): an inf entry gets -inf or inf without
    turning the rest of its slice to nan, and N - correction = 0 gives inf, not nan."""
    rng = np.random.default_rng(1)
    for a in (SPECIAL, rng.standard_normal((2, 4))):
        grads_match(lambda x: getattr(x, op)(dim, correction=correction),
                    lambda x: getattr(x, op)(dim, correction=correction), a)


def test_xlogy_gradients_at_zero_as_torch():
    """d/dx xlogy(x, y) is log(y) at x = 0 too (0 where y <= 0); d/dy is x / y."""
    x = [0.0, 0.0, 0.0, -0.0, 2.0, 0.5, 0.0, NAN, 1.0]
    y = [2.0, 0.5, -1.0, 3.0, 0.5, 4.0, NAN, 1.0, INF]
    grads_match(engine.xlogy, torch.xlogy, x, y)
    grads_match(lambda a: engine.xlogy(a, 3.0), lambda a: torch.xlogy(a, 3.0), x)


@pytest.mark.parametrize("dtypes", [(np.float64, np.float64), (np.float32, np.float64), (np.int64, np.float64),
                                    (np.float64, np.int64), (np.float64, np.uint8), (np.int32, np.int64)])
def test_ldexp_promotes_and_differentiates_both_arguments_as_torch(dtypes):
    x = np.array([3.0, -1.5, 0.0, 2.0]).astype(dtypes[0])
    e = np.array([2, 250, -3, 0]).astype(dtypes[1])
    out, tout = engine.ldexp(engine.tensor(x), engine.tensor(e)), torch.ldexp(torch.tensor(x), torch.tensor(e))
    same(out, tout, "value")
    if all(np.dtype(d).kind == "f" for d in dtypes) and dtypes[0] == dtypes[1]:
        grads_match(engine.ldexp, torch.ldexp, x, e)


@pytest.mark.parametrize("p", [math.inf, -math.inf])
@pytest.mark.parametrize("shape, dim", [((0, 3), None), ((0, 3), 0), ((3, 0), 1)])
def test_inf_norm_over_an_empty_dim_is_a_runtime_error_as_torch(p, shape, dim):
    with pytest.raises(RuntimeError):
        torch.zeros(shape).norm(p, dim)
    with pytest.raises(RuntimeError, match="norm"):
        engine.zeros(*shape).norm(p, dim)


@pytest.mark.parametrize("p", [math.inf, -math.inf])
def test_inf_norm_along_a_dim_that_is_not_empty_of_an_empty_tensor(p):
    same(engine.zeros(0, 3).norm(p, 1), torch.zeros(0, 3).norm(p, 1))
    same(engine.zeros(3, 0).norm(p, 0), torch.zeros(3, 0).norm(p, 0))


IN_PLACE = {
    "add_ alpha": lambda t, o: t.add_(o, alpha=-0.5),
    "sub_ alpha": lambda t, o: t.sub_(o, alpha=2),
    "add_ number alpha": lambda t, o: t.add_(3, alpha=2),
    "div_ floor": lambda t, o: t.div_(o, rounding_mode="floor"),
    "div_ trunc": lambda t, o: t.div_(o, rounding_mode="trunc"),
    "scatter_reduce_": lambda t, o: t.scatter_reduce_(
        1, (torch.tensor if isinstance(t, torch.Tensor) else engine.tensor)([[0, 0, 2], [1, 1, 1]]), o, "amax"),
}


@pytest.mark.parametrize("name", list(IN_PLACE))
@pytest.mark.parametrize("grad", [False, True])
def test_in_place_arithmetic_takes_alpha_and_rounding_mode_as_torch(name, grad):
    """``p.add_(g, alpha=-lr)`` (optimizer code) and friends, on a leaf without grad and on a
    non-leaf in the graph, where the gradient must flow as torch's."""
    rng = np.random.default_rng(2)
    a, o = rng.standard_normal((2, 3)) * 3, rng.standard_normal((2, 3)) + 0.5
    fn = IN_PLACE[name]
    if not grad:
        t, tt = Tensor(a.copy()), torch.tensor(a)
        assert fn(t, Tensor(o)) is t
        fn(tt, torch.tensor(o))
        same(t, tt, name)
        return
    grads_match(lambda x, y: fn(x * 1, y), lambda x, y: fn(x * 1, y), a, o)


def test_in_and_eq_none_as_torch():
    x, tx = engine.tensor([[1, 2], [3, 4]]), torch.tensor([[1, 2], [3, 4]])
    for element in (2, 5, 2.0, engine.tensor([3, 4])):
        telement = torch.tensor(element.tolist()) if isinstance(element, Tensor) else element
        assert (element in x) == (telement in tx)
    with pytest.raises(RuntimeError):
        "a" in tx  # noqa: B015
    with pytest.raises(RuntimeError, match="__contains__"):
        "a" in x  # noqa: B015
    assert (x == None) is (tx == None) is False  # noqa: E711
    assert (x != None) is (tx != None) is True  # noqa: E711


KEYWORD_FORMS = [
    ("view", {"size": (3, 2)}), ("reshape", {"shape": (3, -1)}), ("expand", {"size": (2, 2, 3)}),
    ("repeat", {"repeats": (1, 2)}), ("permute", {"dims": (1, 0)}), ("flip", {"dims": (0,)}),
    ("flip", {"dims": [0, 1]}),
    ("tile", {"dims": (2,)}), ("transpose", {"dim0": 0, "dim1": 1}), ("swapdims", {"dim0": 1, "dim1": 0}),
    ("sum_to_size", {"size": (1, 3)}), ("max", {"other": "y"}), ("min", {"other": "y"}),
]


@pytest.mark.parametrize("name, kw", KEYWORD_FORMS)
def test_shape_methods_take_torchs_keywords(name, kw):
    rng = np.random.default_rng(3)

    def call(x, y):
        return getattr(x, name)(**{k: (y if v == "y" else v) for k, v in kw.items()})

    grads_match(call, call, rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))


@pytest.mark.parametrize("to", ["float64", "float32", "int64", "int32", "uint8", "bool"])
def test_view_as_another_dtype_reads_the_same_bytes_as_torch(to):
    a = np.array([[1.5, -2.0], [0.0, 3.25]])
    for dtype in ("float64", "float32", "int64"):
        x, tx = engine.tensor(a.astype(dtype)), torch.tensor(a.astype(dtype))
        try:
            theirs = tx.view(getattr(torch, to))
        except RuntimeError:
            with pytest.raises(RuntimeError, match="view"):
                x.view(getattr(engine, to))
            continue
        same(x.view(getattr(engine, to)), theirs, f"{dtype} as {to}")
