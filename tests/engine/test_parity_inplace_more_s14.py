"""In-place Tensor methods torch has that were missing (apply_, map_, map2_, resize_, resize_as_, set_,
the arc*_/divide_/multiply_/subtract_/bitwise_not_ aliases, igamma_/igammac_, index_reduce(_)),
against torch: values, dtypes, errors, and gradients through the graph (session 14)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import engine

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

rng = np.random.default_rng(1)
X = rng.standard_normal((3, 2)).astype(np.float32)
S = rng.standard_normal((4, 2)).astype(np.float32)
IDX = np.array([0, 2, 0, 1])
NINE = np.arange(9.0, dtype=np.float32).reshape(3, 3)


def T(lib, a, **kw):
    return lib.tensor(a, **kw)


CASES = {
    "apply_": lambda L: T(L, X).apply_(lambda v: v * 2 + 1),
    "apply_ int": lambda L: T(L, [1, 2, 3]).apply_(lambda v: v / 2),
    "apply_ bool": lambda L: T(L, [True, False]).apply_(lambda v: not v),
    "apply_ None": lambda L: T(L, [1.0]).apply_(lambda v: None),
    "apply_ requires grad": lambda L: T(L, [1.0], requires_grad=True).apply_(lambda v: v),
    "apply_ view": lambda L: (lambda b: (b.t().apply_(lambda v: v * 10), b)[1])(T(L, X)),
    "map_": lambda L: T(L, X).map_(T(L, X[0]), lambda a, b: a * b),
    "map_ dtype": lambda L: T(L, X).map_(T(L, X.astype(np.float64)), lambda a, b: a * b),
    "map_ requires grad": lambda L: T(L, X).map_(T(L, X, requires_grad=True), lambda a, b: a * b),
    "map_ not expandable": lambda L: T(L, X[0]).map_(T(L, X), lambda a, b: a * b),
    "map2_": lambda L: T(L, X).map2_(T(L, X), T(L, X[:1]), lambda a, b, c: a + b * c),
    "map2_ dtype": lambda L: T(L, X).map2_(T(L, X), T(L, X.astype(np.float64)), lambda a, b, c: a),
    "resize_ shrink": lambda L: T(L, X).resize_(2, 2),
    "resize_ tuple": lambda L: T(L, X).resize_((6,)),
    "resize_ grow": lambda L: T(L, X).resize_(4, 4)[:1, :2].flatten(),  # the kept elements
    "resize_ requires grad": lambda L: T(L, X, requires_grad=True).resize_(6),
    "resize_ shares memory": lambda L: (lambda s: (s[:].resize_(2).fill_(7), s)[1])(T(L, [0.0, 1.0, 2.0])),
    "resize_as_": lambda L: T(L, X).resize_as_(T(L, S[:3, :1])),
    "set_": lambda L: T(L, [1.0, 2.0]).set_(T(L, [5.0, 6.0, 7.0])),
    "set_ empty": lambda L: T(L, [1.0, 2.0]).set_(),
    "set_ dtype": lambda L: T(L, [1.0, 2.0]).set_(T(L, [1, 2])),
    "set_ leaf requires grad": lambda L: T(L, [1.0, 2.0], requires_grad=True).set_(T(L, [5.0])),
    "set_ shares memory": lambda L: (lambda s: (T(L, [0.0]).set_(s).mul_(2), s)[1])(T(L, [1.0, 2.0])),
    "set_ window": lambda L: T(L, [0.0]).set_(T(L, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]), 1, (2, 2), (2, 1)),
    "arccosh_": lambda L: T(L, [1.5, 2.0]).arccosh_(),
    "arcsinh_": lambda L: T(L, [1.5, 2.0]).arcsinh_(),
    "arctanh_": lambda L: T(L, [0.5, -0.2]).arctanh_(),
    "arctan2_": lambda L: T(L, [0.5, -0.2]).arctan2_(T(L, [1.0, -1.0])),
    "arctan2_ int": lambda L: T(L, [1, 2]).arctan2_(T(L, [1, 2])),
    "bitwise_not_": lambda L: T(L, [1, -3]).bitwise_not_(),
    "bitwise_not_ bool": lambda L: T(L, [True, False]).bitwise_not_(),
    "divide_": lambda L: T(L, [5.0, -5.0]).divide_(2),
    "divide_ floor": lambda L: T(L, [5.0, -5.0]).divide_(2, rounding_mode="floor"),
    "divide_ int": lambda L: T(L, [5, -5]).divide_(2),
    "multiply_": lambda L: T(L, [5.0, -5.0]).multiply_(T(L, [2.0, 3.0])),
    "subtract_": lambda L: T(L, [5.0]).subtract_(T(L, [1.0]), alpha=2),
    "igamma_": lambda L: T(L, [1.0, 2.0]).igamma_(T(L, [1.0, 3.0])),
    "igammac_": lambda L: T(L, [1.0, 2.0]).igammac_(T(L, [1.0, 3.0])),
    "igamma": lambda L: L.igamma(T(L, [1.0, 2.0]), T(L, 1.0)),
    "igammac": lambda L: L.igammac(T(L, [1.0, 2.0]), T(L, [0.5, 1.0])),
    "igamma_ int": lambda L: T(L, [1, 2]).igamma_(T(L, [1.0, 2.0])),
    "igamma out": lambda L: L.igamma(T(L, [1.0, 2.0]), T(L, 1.0), out=L.empty(2, dtype=L.float64)),
    "conj_physical_": lambda L: T(L, [1.0]).conj_physical_(),
    "share_memory_": lambda L: T(L, [1.0]).share_memory_(),
    "index_reduce int mean": lambda L: T(L, [1, 1, 1]).index_reduce(0, T(L, [0, 0]), T(L, [2, 5]), "mean"),
    "index_reduce sum": lambda L: T(L, X).index_reduce(0, T(L, IDX), T(L, S), "sum"),
    "index_reduce 2-d index": lambda L: T(L, X).index_reduce(0, T(L, IDX[None]), T(L, S), "prod"),
    "index_reduce float index": lambda L: T(L, X).index_reduce(0, T(L, IDX.astype(np.float32)), T(L, S), "prod"),
    "index_reduce out of range": lambda L: T(L, X).index_reduce(0, T(L, [0, 5, 0, 1]), T(L, S), "prod"),
    "index_reduce negative": lambda L: T(L, X).index_reduce(0, T(L, [0, -1, 0, 1]), T(L, S), "prod"),
    "index_reduce index length": lambda L: T(L, X).index_reduce(0, T(L, IDX[:3]), T(L, S), "prod"),
    "index_reduce source shape": lambda L: T(L, X).index_reduce(0, T(L, IDX), T(L, np.ones((4, 3), np.float32)),
                                                                "prod"),
    "index_reduce source dtype": lambda L: T(L, X).index_reduce(0, T(L, IDX), T(L, S.astype(np.float64)), "prod"),
    "index_reduce bad dim": lambda L: T(L, X).index_reduce(2, T(L, IDX), T(L, S), "prod"),
    "index_reduce 0-d": lambda L: T(L, 1.0).index_reduce(0, T(L, [0]), T(L, 3.0), "prod"),
    "index_reduce int32 index": lambda L: T(L, X).index_reduce(0, T(L, IDX.astype(np.int32)), T(L, S), "amax"),
    "index_reduce function": lambda L: L.index_reduce(T(L, X), 0, T(L, IDX), T(L, S), "amin"),
    "index_reduce out": lambda L: L.index_reduce(T(L, X), 0, T(L, IDX), T(L, S), "amin", out=L.empty(3, 2)),
    "index_reduce_ leaf requires grad": lambda L: T(L, X, requires_grad=True).index_reduce_(0, T(L, IDX), T(L, S),
                                                                                             "prod"),
}
for _red in ["prod", "mean", "amax", "amin"]:
    for _inc in [True, False]:
        CASES[f"index_reduce {_red} include_self={_inc}"] = (
            lambda red, inc: lambda L: T(L, X).index_reduce(0, T(L, IDX), T(L, S), red, include_self=inc))(_red, _inc)
        CASES[f"index_reduce_ dim=-1 {_red} include_self={_inc}"] = (
            lambda red, inc: lambda L: T(L, NINE[:, :2]).index_reduce_(-1, T(L, [1, 1, 0]), T(L, NINE), red,
                                                                         include_self=inc))(_red, _inc)


def outcome(lib, f):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "index_reduce() is in beta"
        try:
            r = f(lib)
        except Exception as e:  # noqa: BLE001 - compared with torch's
            return type(e), None
    return None, r


@pytest.mark.parametrize("name", list(CASES))
def test_inplace_methods_match_torch(name):
    (err_t, r_t), (err_e, r_e) = outcome(torch, CASES[name]), outcome(engine, CASES[name])
    assert err_e is err_t, f"{name}: ours {err_e} vs torch {err_t}"
    if err_t is None:
        assert str(r_e.dtype) == str(r_t.dtype).replace("torch.", "")
        assert tuple(r_e.shape) == tuple(r_t.shape)
        np.testing.assert_allclose(r_e.numpy().astype(np.float64), r_t.numpy().astype(np.float64),
                                   rtol=1e-5, atol=1e-6)


def test_inplace_returns_self():
    t = engine.tensor([1.0, 2.0])
    for call in (lambda: t.apply_(abs), lambda: t.resize_(2), lambda: t.arcsinh_(), lambda: t.multiply_(2),
                 lambda: t.index_reduce_(0, engine.tensor([0]), engine.tensor([3.0]), "amax")):
        assert call() is t


SRC_TIES = np.array([[1.0, 2.0], [1.0, 5.0], [3.0, 2.0], [0.5, 5.0]])  # amax/amin ties share the gradient


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("src", [S.astype(np.float64), SRC_TIES], ids=["random", "ties"])
def test_index_reduce_gradients_match_torch(reduce, include_self, src):
    base = np.array([[1.0, 5.0], [2.0, 0.5], [3.0, 2.0]])
    up = rng.standard_normal((3, 2))
    grads = []
    for lib in (torch, engine):
        a, b = T(lib, base, requires_grad=True), T(lib, src, requires_grad=True)
        out = a.index_reduce(0, T(lib, IDX), b, reduce, include_self=include_self)
        (out * T(lib, up)).sum().backward()
        grads.append((a.grad.numpy(), b.grad.numpy(), out.detach().numpy()))
    for ours, theirs in zip(grads[1], grads[0]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
def test_index_reduce_gradcheck(reduce):
    a = engine.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    b = engine.tensor(rng.standard_normal((4, 2)), requires_grad=True)
    idx = engine.tensor(IDX)
    assert engine.gradcheck(lambda x, y: x.index_reduce(0, idx, y, reduce, include_self=False), a, b)


@pytest.mark.parametrize("method,args,ref", [
    ("arccosh_", (), "acosh"), ("arcsinh_", (), "asinh"), ("arctanh_", (), "atanh"),
    ("arctan2_", ([0.3, -0.7],), "atan2"), ("multiply_", ([0.3, -0.7],), "mul"), ("divide_", ([0.3, -0.7],), "div"),
    ("subtract_", ([0.3, -0.7],), "sub"),
    ("index_reduce_", (0, [1, 1], [[2.0], [3.0]], "prod"), "index_reduce"),
])
def test_inplace_on_a_non_leaf_backpropagates(method, args, ref):
    """Recorded in the graph as torch records in-place ops (torch itself has no backward for some
    in-place forms, asinh_ say, so the reference is its out-of-place op)."""
    start = [[1.2], [1.7]] if method == "index_reduce_" else [1.2, 1.7]
    if method == "arctanh_":
        start = [0.2, -0.4]
    grads = []
    for lib in (torch, engine):
        w = T(lib, np.array(start), requires_grad=True)
        targs = [T(lib, np.array(a)) if isinstance(a, list) else a for a in args]
        if lib is torch:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y = getattr(torch, ref)(w * 1, *targs)
        else:
            y = w * 1
            assert getattr(y, method)(*targs) is y
        (y * y).sum().backward()
        grads.append(w.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-10)


def test_igamma_has_no_gradient_for_input_as_torch():
    for lib in (torch, engine):
        w = T(lib, np.array([1.2, 1.7]), requires_grad=True)
        x = T(lib, np.array([0.3, 0.7]), requires_grad=True)
        with pytest.raises(NotImplementedError):
            (w * 1).igamma_(x).sum().backward()
        x2 = T(lib, np.array([0.3, 0.7]), requires_grad=True)
        lib.igamma(w.detach(), x2).sum().backward()  # the gradient for other exists
        grad = x2.grad.numpy()
        if lib is torch:
            expected = grad
    np.testing.assert_allclose(grad, expected, rtol=1e-10)


@pytest.mark.parametrize("method,args", [("arcsinh_", ()), ("multiply_", (2.0,)), ("bitwise_not_", ())])
def test_inplace_on_a_leaf_that_requires_grad_raises(method, args):
    for lib in (torch, engine):
        dtype = lib.int64 if method == "bitwise_not_" else lib.float64
        w = lib.ones(2, dtype=dtype, requires_grad=dtype == lib.float64)
        if not w.requires_grad:
            continue
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            getattr(w, method)(*args)


def test_method_names_cover_torch_inplace_methods():
    ours = {n for n in dir(engine.Tensor) if n.endswith("_") and not n.startswith("_")}
    wanted = {"apply_", "map_", "map2_", "resize_", "resize_as_", "set_", "arccosh_", "arcsinh_", "arctanh_",
              "arctan2_", "bitwise_not_", "divide_", "multiply_", "subtract_", "index_reduce_", "igamma_",
              "igammac_", "conj_physical_", "share_memory_"}
    assert wanted <= {n for n in dir(torch.Tensor)}
    assert wanted <= ours, sorted(wanted - ours)
