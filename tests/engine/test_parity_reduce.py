"""Reductions, scans and sorts against torch where the specs cannot go: ties, zeros, nan and
inf, empty and 0-d tensors, indices, dtypes, argument conventions and error types."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_specs import shapes

import engine
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

DTYPES = [np.float32, np.float64]
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def pair(a, dtype=np.float64, grad=True):
    a = np.asarray(a, dtype=dtype)
    return Tensor(a.copy(), requires_grad=grad), torch.tensor(a, requires_grad=grad)


def same(ours, theirs, what="", rtol=1e-6):
    """Values (nan where torch has nan, inf where it has inf), shape and dtype kind."""
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    ours = ours.numpy() if isinstance(ours, Tensor) else np.asarray(ours)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs torch {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} vs torch {theirs.dtype}"
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=1e-6, equal_nan=True, err_msg=what)


def backward_both(out, tout, seed=0):
    g = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(g.astype(out.dtype))
    tout.backward(torch.as_tensor(g.astype(out.dtype)))


def tied(seed, shape, dtype=np.float64):
    """Few distinct values: many ties."""
    return np.random.default_rng(seed).integers(0, 3, size=shape).astype(dtype)


# ---- max / min / argmax with a dim: values, indices (first on ties) and gradient to that index ----


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["max", "min"])
@given(data=st.data())
@settings(max_examples=15)
def test_max_min_with_dim_match_torch_on_ties(op, dtype, data):
    shape = data.draw(shapes(0, 3), label="shape")
    dim = data.draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1), label="dim")
    keepdim = data.draw(st.booleans(), label="keepdim")
    t, tt = pair(tied(data.draw(st.integers(0, 99)), shape, dtype), dtype)
    out, tout = getattr(t, op)(dim, keepdim), getattr(tt, op)(dim, keepdim)
    same(out.values, tout.values, "values")
    same(out.indices, tout.indices, "indices")
    assert type(out).__name__ == op and out._fields == ("values", "indices")
    backward_both(out.values, tout.values)
    same(t.grad, tt.grad, "gradient")


@pytest.mark.parametrize("op", ["max", "min", "amax", "amin"])
def test_without_dim_the_gradient_splits_among_ties_as_torch(op):
    t, tt = pair([[1.0, 3.0, 3.0], [0.0, 3.0, 0.0]])
    getattr(t, op)().backward()
    getattr(tt, op)().backward()
    same(t.grad, tt.grad)


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_argmin_first_index_on_ties_and_nan(op):
    for a in ([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], [[1.0, math.nan, 3.0], [math.nan, 0.0, math.nan]]):
        t, tt = pair(a, grad=False)
        same(getattr(t, op)(), getattr(tt, op)(), op)
        for dim in (0, 1, -1):
            same(getattr(t, op)(dim), getattr(tt, op)(dim), f"{op} dim {dim}")
            same(getattr(t, op)(dim, True), getattr(tt, op)(dim, True), f"{op} keepdim")
    same(getattr(Tensor(2.0), op)(0), getattr(torch.tensor(2.0), op)(0), "0-d")


def test_max_with_nan_picks_the_nan_as_torch():
    t, tt = pair([[1.0, math.nan, 3.0]])
    same(t.max(1).values, tt.max(1).values)
    same(t.max(1).indices, tt.max(1).indices)
    same(t.max(), tt.max())


def test_max_of_a_tensor_is_maximum():
    a, b = pair([1.0, 5.0]), pair([3.0, 2.0])
    same(a[0].max(b[0]), a[1].max(b[1]))
    same(a[0].min(b[0]), a[1].min(b[1]))


def test_aminmax():
    t, tt = pair([[1.0, 3.0], [0.0, 2.0]], grad=False)
    for kw in ({}, {"dim": 1}, {"dim": 0, "keepdim": True}):
        ours, theirs = t.aminmax(**kw), tt.aminmax(**kw)
        same(ours.min, theirs.min)
        same(ours.max, theirs.max)


# ---- sorting ------------------------------------------------------------------------------------


@pytest.mark.parametrize("descending", [False, True])
@given(data=st.data())
@settings(max_examples=15)
def test_sort_is_stable_like_torch_stable_sort(descending, data):
    shape = data.draw(shapes(0, 3), label="shape")
    dim = data.draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1), label="dim")
    a = tied(data.draw(st.integers(0, 99)), shape)
    if a.size and data.draw(st.booleans(), label="nan"):
        a.reshape(-1)[0] = math.nan
    t, tt = pair(a)
    out, tout = t.sort(dim, descending), torch.sort(tt, dim=dim, descending=descending, stable=True)
    same(out.values, tout.values, "values")
    same(out.indices, tout.indices, "indices")
    same(t.argsort(dim, descending), torch.argsort(tt, dim=dim, descending=descending, stable=True), "argsort")
    backward_both(out.values, tout.values)
    same(t.grad, tt.grad, "gradient")


@given(data=st.data())
@settings(max_examples=15)
def test_topk_kthvalue_median_values_and_gradients(data):
    shape = data.draw(shapes(1, 3), label="shape")
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    n = shape[dim]
    k = data.draw(st.integers(1, n), label="k")
    a = np.random.default_rng(data.draw(st.integers(0, 99))).permutation(math.prod(shape)).reshape(shape) * 1.0
    for op, args in (("topk", (k, dim, True)), ("topk", (k, dim, False)), ("kthvalue", (k, dim, True)),
                     ("median", (dim, False))):
        t, tt = pair(a)
        out, tout = getattr(t, op)(*args), getattr(tt, op)(*args)
        same(out.values, tout.values, f"{op} values")
        same(out.indices, tout.indices, f"{op} indices")  # distinct values: indices are unique
        backward_both(out.values, tout.values)
        same(t.grad, tt.grad, f"{op} gradient")


def test_median_without_dim_is_the_lower_median_with_ties_sharing_the_gradient():
    for a in ([1.0, 3.0, 3.0, 0.0, 3.0, 1.0], [[4.0, 1.0], [2.0, 3.0]], [1.0, math.nan, 0.0]):
        t, tt = pair(a)
        same(t.median(), tt.median())
        if not np.isnan(a).any():
            t.median().backward()
            tt.median().backward()
            same(t.grad, tt.grad)


def test_median_and_topk_with_nan_along_a_dim():
    t, tt = pair([[1.0, math.nan, 0.0], [3.0, 1.0, 2.0]], grad=False)
    same(t.median(1).values, tt.median(1).values)
    same(t.median(1).indices, tt.median(1).indices)
    same(t.topk(1, 1).values, tt.topk(1, 1).values)
    same(t.sort(1).values, tt.sort(1).values)


def test_topk_and_kthvalue_reject_k_out_of_range():
    t = Tensor(np.zeros(3))
    for call in (lambda: t.topk(4), lambda: t.kthvalue(0), lambda: t.kthvalue(4)):
        with pytest.raises(RuntimeError):
            call()
    with pytest.raises(RuntimeError):
        torch.zeros(3).topk(4)


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def test_msort_and_unique():
    a = np.array([[3, 1], [1, 2], [3, 1]])
    t, tt = Tensor(a), torch.tensor(a)
    same(t.msort(), tt.msort())
    for kw in ({}, {"return_inverse": True}, {"return_counts": True}, {"return_inverse": True, "return_counts": True}):
        ours, theirs = t.unique(**kw), torch.unique(tt, **kw)
        for o, th in zip(_as_tuple(ours), _as_tuple(theirs)):
            same(o, th, str(kw))
    ours, theirs = t.unique(dim=0, return_inverse=True), torch.unique(tt, dim=0, return_inverse=True)
    same(ours[0], theirs[0])
    same(ours[1], theirs[1])


# ---- scans --------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["cummax", "cummin"])
@given(data=st.data())
@settings(max_examples=15)
def test_cummax_cummin_values_indices_and_gradients_on_ties(op, data):
    shape = data.draw(shapes(0, 3), label="shape")
    dim = data.draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1), label="dim")
    a = tied(data.draw(st.integers(0, 99)), shape)
    if a.size and data.draw(st.booleans(), label="nan"):
        a.reshape(-1)[-1] = math.nan
    t, tt = pair(a)
    out, tout = getattr(t, op)(dim), getattr(tt, op)(dim)
    same(out.values, tout.values, "values")
    same(out.indices, tout.indices, "indices")
    backward_both(out.values, tout.values)
    same(t.grad, tt.grad, "gradient")


ZEROS = [[2.0, 0.0, 3.0, 4.0], [0.0, 1.5, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 0.0], [0.5, 2.0, -1.0, 3.0]]


@pytest.mark.parametrize("a", ZEROS)
def test_prod_and_cumprod_gradients_with_zeros(a):
    for op in ("prod", "cumprod"):
        t, tt = pair([a, a[::-1]])
        args = () if op == "prod" else (1,)
        out, tout = getattr(t, op)(*args), getattr(tt, op)(*args)
        same(out, tout, op)
        backward_both(out, tout)
        same(t.grad, tt.grad, f"{op} gradient")
        t, tt = pair([a, a[::-1]])
        backward_both(t.prod(1), tt.prod(1))
        same(t.grad, tt.grad, "prod(1) gradient")


@pytest.mark.parametrize("dtype", DTYPES)
def test_logcumsumexp_with_inf_and_a_wide_range(dtype):
    a = [[-math.inf, -math.inf, 1.0, 200.0, -300.0], [5.0, -math.inf, 0.0, 1e3, 1e3]]
    t, tt = pair(a, dtype)
    same(t.logcumsumexp(1), tt.logcumsumexp(1), rtol=1e-5)
    t, tt = pair([[0.5, 2.0, -1.0], [100.0, -50.0, 3.0]], dtype)
    backward_both(t.logcumsumexp(1), tt.logcumsumexp(1))
    same(t.grad, tt.grad, rtol=1e-5)


def test_cumsum_cumprod_dtypes_and_required_dim():
    i = np.array([[1, 2], [3, 4]], dtype=np.int32)
    for op in ("cumsum", "cumprod"):
        same(getattr(Tensor(i), op)(1), getattr(torch.tensor(i), op)(1), op)
        same(getattr(Tensor(i), op)(0, dtype=np.float64), getattr(torch.tensor(i), op)(0, dtype=torch.float64))
        with pytest.raises(TypeError, match=op):
            getattr(Tensor(i), op)()
    same(Tensor(np.array([True, True])).cumsum(0), torch.tensor([True, True]).cumsum(0))
    same(Tensor(2.0).cumsum(0), torch.tensor(2.0).cumsum(0))
    same(Tensor(np.zeros((2, 0))).cumsum(1), torch.zeros(2, 0, dtype=torch.float64).cumsum(1))


# ---- var / std: torch's correction and its inf/nan ------------------------------------------------


@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("a,dim,correction", [
    ([1.0, 2.0], None, 2), ([1.0, 1.0], None, 2), ([1.0, 2.0], None, 3), ([1.0], None, 1), ([1.0], None, 0),
    ([], None, 1), ([], None, 0), ([[1.0, 2.0], [3.0, 3.0]], 1, 2), ([[1.0, 2.0], [3.0, 5.0]], 0, 1),
    (np.zeros((2, 0)), 1, 1), (np.zeros((2, 0)), 0, 1), (2.0, None, 1), (2.0, 0, 0),
])
def test_var_std_edge_cases_match_torch(op, a, dim, correction):
    t, tt = pair(a, grad=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns when N <= correction
        theirs = getattr(tt, op)(dim, correction=correction)
        same(getattr(t, op)(dim, correction=correction), theirs)
        same(getattr(t, op + "_mean")(dim, correction=correction)[0], getattr(torch, op + "_mean")(
            tt, dim, correction=correction)[0])


def test_var_std_argument_forms():
    t, tt = pair([[1.0, 2.0, 4.0], [3.0, 3.0, 7.0]], grad=False)
    same(t.var(), tt.var())  # correction 1 by default
    same(t.std(1, True, True), tt.std(1, True, True))  # (dim, unbiased, keepdim)
    same(t.var(1, False), tt.var(1, False))
    same(t.var(True), tt.var(True))
    same(t.std(dim=[0, 1], correction=0, keepdim=True), tt.std(dim=[0, 1], correction=0, keepdim=True))
    same(t.var(axis=1, ddof=0, keepdims=True), tt.var(1, correction=0, keepdim=True))  # NumPy spellings
    with pytest.raises(TypeError):
        t.var(1, unbiased=True, correction=1)


def test_std_gradient_where_it_is_zero_matches_torch():
    t, tt = pair([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]])
    backward_both(t.std(1), tt.std(1))
    same(t.grad, tt.grad)


# ---- sums, means, logsumexp: 0-d, empty, dtypes ----------------------------------------------------


@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin", "logsumexp", "prod", "nansum"])
def test_0d_tensors_accept_dim_0_and_minus_1(op):
    t, tt = pair(2.5)
    for dim in (0, -1):
        for keepdim in (False, True):
            same(getattr(t, op)(dim, keepdim), getattr(tt, op)(dim, keepdim), f"{op}({dim}, {keepdim})")
    with pytest.raises(IndexError, match=op):
        getattr(t, op)(1)


def test_max_min_squeeze_argmax_on_0d():
    t, tt = pair(2.5)
    for dim in (0, -1):
        same(t.max(dim).values, tt.max(dim).values)
        same(t.min(dim, True).indices, tt.min(dim, True).indices)
        same(t.sort(dim).values, tt.sort(dim).values)
        same(t.squeeze(dim), tt.squeeze(dim))


def test_empty_tensors_as_torch():
    e, te = Tensor(np.zeros((2, 0))), torch.zeros(2, 0, dtype=torch.float64)
    same(e.sum(), te.sum())
    same(e.sum(1), te.sum(1))
    same(e.mean(1), te.mean(1))
    same(e.mean(), te.mean())
    same(e.prod(1), te.prod(1))
    same(e.logsumexp(1), te.logsumexp(1))
    same(e.amax(0), te.amax(0))
    same(e.max(0).values, te.max(0).values)
    same(e.norm(), te.norm())
    same(e.any(), te.any())
    same(e.all(1), te.all(1))
    with pytest.raises(RuntimeError):
        te.max()
    with pytest.raises(RuntimeError):
        e.max()
    with pytest.raises(IndexError):
        e.max(1)
    with pytest.raises(IndexError):
        te.max(1)
    with pytest.raises(IndexError):
        e.amax(1)
    with pytest.raises(RuntimeError):
        e.argmax()


def test_result_dtypes_as_torch():
    i = np.array([[1, 2], [3, 4]], dtype=np.int32)
    b = np.array([True, False, True])
    same(Tensor(i).sum(), torch.tensor(i).sum())
    same(Tensor(b).sum(), torch.tensor(b).sum())
    same(Tensor(np.array([1, 2], dtype=np.uint8)).sum(), torch.tensor([1, 2], dtype=torch.uint8).sum())
    same(Tensor(i).prod(1), torch.tensor(i).prod(1))
    same(Tensor(i).sum(1, dtype=engine.float64), torch.tensor(i).sum(1, dtype=torch.float64))
    same(Tensor(i).mean(dtype=engine.float32), torch.tensor(i).mean(dtype=torch.float32))
    same(Tensor(i).amax(1), torch.tensor(i).amax(1))
    same(Tensor(i).max(1).values, torch.tensor(i).max(1).values)
    same(Tensor(b).any(), torch.tensor(b).any())
    same(Tensor(i).all(1), torch.tensor(i).all(1))
    same(Tensor(i).count_nonzero(), torch.tensor(i).count_nonzero())
    same(Tensor(np.array([[0.0, 1.0], [2.0, 0.0]])).count_nonzero(0),
         torch.tensor([[0.0, 1.0], [2.0, 0.0]]).count_nonzero(0))
    with pytest.raises(RuntimeError):
        Tensor(i).mean()
    with pytest.raises(RuntimeError):
        torch.tensor(i).mean()
    assert Tensor(np.ones(3, np.float32)).sum().dtype == np.float32


@pytest.mark.parametrize("dtype", DTYPES)
def test_logsumexp_with_inf(dtype):
    a = [[-math.inf, -math.inf], [math.inf, 1.0], [0.0, -math.inf], [1000.0, 1000.0]]
    t, tt = pair(a, dtype, grad=False)
    same(t.logsumexp(1), tt.logsumexp(1))


# ---- norms ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [1, 2, 3, 0.5, 0, math.inf, -math.inf, "fro"])
@pytest.mark.parametrize("dim", [None, 1, (0, 1), [0, 2]])
def test_norm_values_and_gradients(p, dim):
    a = np.random.default_rng(1).standard_normal((2, 3, 2)).round(1)
    a[0, 0, 0] = 0.0
    t, tt = pair(a)
    if p == "fro" and dim == 1:
        return  # torch's 'fro' needs two dims or none
    out, tout = t.norm(p, dim, True), tt.norm(p, dim, True)
    same(out, tout, f"p={p}")
    if p == 0:
        return
    backward_both(out, tout)
    same(t.grad, tt.grad, f"p={p} gradient")


def test_norm_gradient_at_zero_is_zero_as_torch():
    for p in (2, "fro", 1, 3):
        t, tt = pair(np.zeros((2, 3)))
        t.norm(p).backward()
        tt.norm(p).backward()
        same(t.grad, tt.grad, f"p={p}")


# ---- conventions: dim/axis, keepdim/keepdims, positional order, errors --------------------------------


REDUCTIONS = ["sum", "mean", "amax", "amin", "logsumexp", "prod", "any", "all", "argmax", "argmin"]


@pytest.mark.parametrize("op", REDUCTIONS)
def test_dim_axis_keepdim_keepdims_spellings(op):
    a = np.arange(24.0).reshape(2, 3, 4) / 7
    t, tt = Tensor(a), torch.tensor(a)
    single = op in ("argmax", "argmin", "prod")  # torch takes one dim for these
    dims = [1, -1] if single else [1, -1, (0, 2), [0, 2]]
    for d in dims:
        theirs = getattr(tt, op)(d, True)
        same(getattr(t, op)(d, True), theirs, f"{op}({d}, True)")
        same(getattr(t, op)(dim=d, keepdim=True), theirs)
        same(getattr(t, op)(axis=d, keepdims=True), theirs)
        same(getattr(engine, op)(t, d, True), theirs)
    with pytest.raises(TypeError, match="both"):
        getattr(t, op)(dim=1, axis=1)
    with pytest.raises(TypeError, match="both"):
        getattr(t, op)(1, keepdim=True, keepdims=True)
    with pytest.raises(IndexError, match=op):
        getattr(t, op)(3)
    with pytest.raises(IndexError):
        getattr(tt, op)(3)


@pytest.mark.parametrize("op", ["max", "min", "median", "cumsum", "cumprod", "cummax", "sort", "argsort",
                                "logcumsumexp", "kthvalue", "topk"])
def test_single_dim_ops_raise_index_error_naming_the_op(op):
    t = Tensor(np.ones((2, 3)))
    args = (1, 5) if op in ("kthvalue", "topk") else (5,)
    with pytest.raises(IndexError, match=op):
        getattr(t, op)(*args)


def test_top_level_functions_take_the_tensor_first():
    t, tt = pair([[1.0, 3.0], [2.0, 0.0]], grad=False)
    same(engine.max(t, 1).indices, torch.max(tt, 1).indices)
    same(engine.sort(t, 0, True).values, torch.sort(tt, 0, True).values)
    same(engine.cumsum(t, 1), torch.cumsum(tt, 1))
    same(engine.var(t, 1), torch.var(tt, 1))
    same(engine.norm(t), torch.norm(tt))
    with pytest.raises(TypeError, match="Tensor"):
        engine.sum(np.ones(3))
