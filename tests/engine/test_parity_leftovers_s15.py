"""torch comparisons for session 15's sweep leftovers: norm(p='nuc') and the nuclear norm's subgradient at
rank-deficient matrices, quantile's gradient in q, the functions that were absent (histogram method,
histogramdd, scalar_tensor, empty_strided, empty_permuted, nonzero_static, svd/pca_lowrank, grid_sampler_*,
__rdiv__, geqrf, ormqr, as_strided*), out= overlap checks and local_response_norm on integers."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import engine  # noqa: E402

RNG = np.random.default_rng(1515)


def _run(M, fn, arrays, grad):
    """fn(M, *tensors) -> (outputs as NumPy, input grads as NumPy or None)."""
    ts = [M.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    out = fn(M, *ts)
    outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    grads = []
    if grad:
        loss = sum((o * M.tensor(np.cos(np.arange(o.numel()) + 0.5 * i).reshape(o.shape), dtype=o.dtype)).sum()
                   for i, o in enumerate(outs) if o.requires_grad)
        loss.backward()
        grads = [None if t.grad is None else t.grad.numpy() for t in ts]
    return [o.detach().numpy() for o in outs], grads


def _same(fn, *arrays, grad=False, rtol=1e-10, atol=1e-12):
    o1, g1 = _run(engine, fn, arrays, grad)
    o2, g2 = _run(torch, fn, arrays, grad)
    assert len(o1) == len(o2) and len(g1) == len(g2)
    for a, b in zip(o1 + g1, o2 + g2):
        assert (a is None) == (b is None)
        if a is None:
            continue
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def _same_error(fn, *args_np):
    """Both raise, the same exception type; returns the two messages."""
    errs = []
    for M in (engine, torch):
        with pytest.raises(Exception) as info:
            fn(M, *[M.tensor(a) if isinstance(a, np.ndarray) else a for a in args_np])
        errs.append(info.value)
    assert type(errs[0]) is type(errs[1]), (errs[0], errs[1])
    return [str(e) for e in errs]


# ---- 1. norm(p='nuc'), the nuclear norm's subgradient ------------------------------------------------

NUC_CALLS = {
    "func_2d": (lambda M, x: M.norm(x, "nuc"), (4, 3)),
    "method_2d": (lambda M, x: x.norm("nuc"), (3, 5)),
    "dims": (lambda M, x: M.norm(x, "nuc", (0, 2)), (3, 2, 4)),
    "dims_keepdim": (lambda M, x: x.norm(p="nuc", dim=(2, 0), keepdim=True), (3, 2, 4)),
    "negative_dims": (lambda M, x: M.norm(x, "nuc", dim=[-1, -2]), (2, 3, 3)),
    "dtype": (lambda M, x: M.norm(x.float(), "nuc", dtype=M.float64), (3, 3)),
    "fro_two_dims": (lambda M, x: M.norm(x, "fro", (0, 1)), (3, 2, 4)),
}


@pytest.mark.parametrize("name", NUC_CALLS)
def test_norm_nuc(name):
    fn, shape = NUC_CALLS[name]
    _same(fn, RNG.standard_normal(shape), grad=True, rtol=1e-9, atol=1e-11)


NUC_ERRORS = {
    "3d_no_dim": lambda M, x: M.norm(x, "nuc"),
    "one_dim": lambda M, x: M.norm(x, "nuc", 0),
    "fro_three_dims": lambda M, x: M.norm(x, "fro", (0, 1, 2)),
    "bad_order": lambda M, x: M.norm(x, "foo"),
    "bad_order_dims": lambda M, x: x.norm("foo", (0, 1)),
    "same_dims": lambda M, x: M.linalg.matrix_norm(x, "nuc", (0, 0)),
    "vector": lambda M, x: M.norm(x[0, 0], "nuc"),
    "integer": lambda M, x: M.norm(x[0].int(), "nuc"),
    "integer_bad_order": lambda M, x: M.norm(x.int(), "foo"),
}


@pytest.mark.parametrize("name", NUC_ERRORS)
def test_norm_nuc_errors(name):
    ours, theirs = _same_error(NUC_ERRORS[name], RNG.standard_normal((2, 3, 4)))
    assert ours.split(" Got")[0].split(", got")[0].rstrip(".") == theirs.split(" Got")[0].rstrip(".")


def _low_rank(shape, rank):
    a = RNG.standard_normal(shape[:-1] + (rank,))
    b = RNG.standard_normal(shape[:-2] + (rank, shape[-1]))
    return a @ b


@pytest.mark.parametrize("shape,rank", [((5, 5), 0), ((3, 4), 0), ((4, 3), 0), ((2, 3, 3), 0), ((4, 4), 1),
                                        ((5, 3), 2)])
@pytest.mark.parametrize("call", ["linalg_norm", "matrix_norm", "norm", "svdvals_sum"])
def test_nuclear_norm_subgradient_rank_deficient(shape, rank, call):
    """torch's svdvals backward is U diag(gS) Vh with no singular-value gaps: finite at repeated zeros."""
    fn = {"linalg_norm": lambda M, x: M.linalg.norm(x, "nuc", dim=(-2, -1), keepdim=True),
          "matrix_norm": lambda M, x: M.linalg.matrix_norm(x, "nuc"),
          "norm": lambda M, x: M.norm(x, "nuc", (-2, -1)),
          "svdvals_sum": lambda M, x: M.linalg.svdvals(x).sum(-1)}[call]
    a = np.zeros(shape) if rank == 0 else _low_rank(shape, rank)
    if rank == 0:  # U Vh at 0 is LAPACK's choice of singular vectors: the identity, for both
        _same(fn, a, grad=True)
    else:  # away from the zero singular values' subspace, the subgradient is U₁V₁ᵀ: unique
        o1, g1 = _run(engine, fn, [a], True)
        o2, g2 = _run(torch, fn, [a], True)
        np.testing.assert_allclose(o1[0], o2[0], rtol=1e-10)
        u, s, vh = np.linalg.svd(a)
        proj_u, proj_v = u[:, :rank] @ u[:, :rank].T, vh[:rank].T @ vh[:rank]
        np.testing.assert_allclose(proj_u @ g1[0] @ proj_v, proj_u @ g2[0] @ proj_v, atol=1e-9)
        assert np.isfinite(g1[0]).all()


# ---- 2. quantile / nanquantile differentiable in q ---------------------------------------------------

QUANTILE_CALLS = {
    "vector_q_dim": (lambda M, x, q: M.quantile(x, q, dim=1), (3, 5), (4,)),
    "scalar_q": (lambda M, x, q: M.quantile(x, q), (7,), ()),
    "all_entries": (lambda M, x, q: x.quantile(q), (3, 4), (2,)),
    "keepdim": (lambda M, x, q: M.quantile(x, q, dim=0, keepdim=True), (4, 3), (3,)),
    "nanquantile": (lambda M, x, q: M.nanquantile(x, q, dim=-1), (4, 6), (3,)),
    "nanquantile_method": (lambda M, x, q: x.nanquantile(q, 1, True), (4, 6), ()),
    "quantile_nan_rows": (lambda M, x, q: M.quantile(x, q, dim=-1), (4, 6), (3,)),
    "midpoint": (lambda M, x, q: M.quantile(x, q, dim=1, interpolation="midpoint"), (3, 5), (2,)),
    "nearest": (lambda M, x, q: M.quantile(x, q, dim=1, interpolation="nearest"), (3, 5), (2,)),
    "lower": (lambda M, x, q: M.nanquantile(x, q, dim=1, interpolation="lower"), (3, 5), (2,)),
}


@pytest.mark.parametrize("name", QUANTILE_CALLS)
def test_quantile_gradient_in_q(name):
    fn, xshape, qshape = QUANTILE_CALLS[name]
    x = RNG.standard_normal(xshape)
    if "nan" in name:
        x[1, 2] = x[3, :] = np.nan
        x[2, :2] = np.nan
    q = RNG.uniform(0.02, 0.98, qshape)
    _same(fn, x, q, grad=True)


@pytest.mark.parametrize("interpolation", ["linear", "midpoint"])
def test_quantile_q_only_requires_grad(interpolation):
    """x without grad, q with: linear's output is in q's graph, midpoint's is not (torch's 0.5 weight)."""
    x = RNG.standard_normal((3, 5))
    outs = []
    for M in (engine, torch):
        q = M.tensor([0.3, 0.7], dtype=M.float64, requires_grad=True)
        y = M.quantile(M.tensor(x), q, dim=1, interpolation=interpolation)
        outs.append(y.requires_grad)
        if y.requires_grad:
            y.sum().backward()
            outs.append(q.grad.numpy())
    assert outs[0] == outs[len(outs) // 2]
    if len(outs) == 4:
        np.testing.assert_allclose(outs[1], outs[3], rtol=1e-12)


def test_quantile_q_dtype_error():
    ours, theirs = _same_error(lambda M, x: M.quantile(x.float(), M.tensor([0.5], dtype=M.float64)),
                               np.ones(3))
    assert ours.startswith(theirs)


# ---- 3. functions that were absent ---------------------------------------------------------------------

HIST_CALLS = {
    "method": lambda M, x: x.histogram(4),
    "method_range_weight": lambda M, x: x.histogram(3, range=(-1.0, 1.0), weight=x.abs(), density=True),
    "unsorted_edges": lambda M, x: M.histogram(x, M.tensor([0.0, 2.0, 1.0, 3.0, 7.0], dtype=x.dtype)),
    "dd_counts": lambda M, x: M.histogramdd(x.reshape(-1, 2), bins=[3, 2]),
    "dd_int_bins_range": lambda M, x: M.histogramdd(x.reshape(-1, 3), bins=2, range=[-1.0, 1.0, 0.0, 1.0, -2.0, 0.0]),
    "dd_weight_density": lambda M, x: M.histogramdd(x.reshape(-1, 2), bins=[2, 4], weight=x.reshape(-1, 2)[:, 0].abs(),
                                                    density=True),
    "dd_edges": lambda M, x: M.histogramdd(x.reshape(-1, 2), bins=[M.tensor([-2.0, 0.0, 0.5, 2.0], dtype=x.dtype),
                                                                   M.tensor([-1.0, 1.0], dtype=x.dtype)]),
    "dd_decreasing_edges_density": lambda M, x: M.histogramdd(x.reshape(-1, 2), bins=[
        M.tensor([1.0, -1.0], dtype=x.dtype), M.tensor([-1.0, 1.0], dtype=x.dtype)], density=True),
    "dd_equal_range": lambda M, x: M.histogramdd(x.reshape(-1, 2) * 0 + 1, bins=2),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", HIST_CALLS)
def test_histogram_method_and_histogramdd(name, dtype):
    x = (RNG.standard_normal(24) * 1.3).astype(dtype)
    outs = []
    for M in (engine, torch):
        hist, edges = HIST_CALLS[name](M, M.tensor(x))
        outs.append([hist.numpy()] + [e.numpy() for e in (edges if isinstance(edges, tuple) else (edges,))])
    assert len(outs[0]) == len(outs[1])
    for a, b in zip(*outs):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("fn", [lambda M, x: M.histogramdd(x.int(), bins=2), lambda M, x: M.histogramdd(x, bins=[2]),
                                lambda M, x: M.histogramdd(x, bins=2, range=[0.0, 1.0]),
                                lambda M, x: M.histogramdd(x[0], bins=2)])
def test_histogramdd_errors(fn):
    _same_error(fn, RNG.standard_normal((4, 2)))


def test_factories_strided_permuted_scalar():
    for M in (engine, torch):
        e = M.empty_strided((2, 3), (1, 2), dtype=M.float64)
        assert (tuple(e.shape), e.stride(), str(e.dtype).split(".")[-1]) == ((2, 3), (1, 2), "float64")
        assert M.empty_strided((2, 3, 0), (0, 1, 5)).stride() == (0, 1, 5)
        assert M.empty_strided((2, 2), (2, 1), requires_grad=True).requires_grad
        assert M.ones(1, dtype=M.float64).new_empty_strided((2, 2), (1, 2)).stride() == (1, 2)
        assert str(M.ones(1, dtype=M.float64).new_empty_strided((2,), (1,)).dtype).endswith("float64")
        p = M.empty_permuted((2, 3, 4), (2, 0, 1))
        assert (tuple(p.shape), p.stride()) == ((2, 3, 4), (3, 1, 6))
    for s, dtype in [(3, None), (2.5, None), (True, None), (2.7, "int64"), (-1, "float64")]:
        ours = engine.scalar_tensor(s, dtype=getattr(engine, dtype) if dtype else None).numpy()
        theirs = torch.scalar_tensor(s, dtype=getattr(torch, dtype) if dtype else None).numpy()
        assert ours.shape == theirs.shape == () and ours.dtype == theirs.dtype and ours == theirs


@pytest.mark.parametrize("fn", [lambda M: M.empty_strided((2, 3), (1,)), lambda M: M.empty_permuted((2, 3), (0, 0)),
                                lambda M: M.empty_permuted((2, 3), (0,)), lambda M: M.empty_permuted((2,), (3,)),
                                lambda M: M.scalar_tensor(M.ones(2)), lambda M: M.nonzero_static(M.ones(2), size=-1)])
def test_factory_errors(fn):
    _same_error(fn)


@pytest.mark.parametrize("size,fill", [(0, -1), (2, -1), (5, -1), (9, 7)])
def test_nonzero_static(size, fill):
    x = (RNG.standard_normal((3, 4)) > 0.3).astype(np.float32)
    for fn in (lambda M, t: M.nonzero_static(t, size=size, fill_value=fill), lambda M, t: t.nonzero_static(size=size)):
        a, b = fn(engine, engine.tensor(x)).numpy(), fn(torch, torch.tensor(x)).numpy()
        assert a.dtype == b.dtype and a.shape == b.shape and (a == b).all()


def test_rdiv():
    x = RNG.uniform(0.5, 2.0, (3, 4))
    _same(lambda M, t: t.__rdiv__(3.0), x, grad=True)
    _same(lambda M, t: t.__rdiv__(t * 2), x, grad=True)


LOWRANK = {
    "svd_tall": (lambda M, a: M.svd_lowrank(a, q=3), (7, 5), 2),
    "svd_wide": (lambda M, a: M.svd_lowrank(a, q=4, niter=1), (3, 6), 3),
    "svd_batch_M": (lambda M, a: M.svd_lowrank(a, q=3, M=a.mean(-2, keepdim=True)), (2, 6, 4), 2),
    "pca_default": (lambda M, a: M.pca_lowrank(a), (8, 5), 3),
    "pca_no_center": (lambda M, a: M.pca_lowrank(a, q=2, center=False, niter=3), (6, 4), 2),
}


@pytest.mark.parametrize("name", LOWRANK)
def test_svd_pca_lowrank_exact_on_low_rank_input(name):
    """rank(A) <= q: the random projection spans A's column space, so U diag(S) Vᵀ, S (above rank: 0) and the
    projections U Uᵀ, V Vᵀ on the rank's singular vectors equal torch's (signs and basis aside)."""
    fn, shape, rank = LOWRANK[name]
    a = _low_rank(shape, rank)
    res = []
    for M in (engine, torch):
        u, s, v = (t.numpy() for t in fn(M, M.tensor(a)))
        ur, vr = u[..., :rank], v[..., :rank]
        res.append((u, s, v, (ur * s[..., None, :rank]) @ np.swapaxes(vr, -1, -2), ur @ np.swapaxes(ur, -1, -2),
                    vr @ np.swapaxes(vr, -1, -2)))
    for a1, b1 in zip(*res):
        assert a1.shape == b1.shape and a1.dtype == b1.dtype
    for i in (3, 4, 5):
        np.testing.assert_allclose(res[0][i], res[1][i], atol=1e-9)
    np.testing.assert_allclose(res[0][1], res[1][1], atol=1e-9)


def test_svd_lowrank_gradient_of_singular_values():
    """S of a rank-2 input through the randomized path: the gradient of sum(S[:2]) is U₂V₂ᵀ, as torch's."""
    a = _low_rank((6, 4), 2)
    grads = []
    for M in (engine, torch):
        t = M.tensor(a, requires_grad=True)
        M.svd_lowrank(t, q=2)[1].sum().backward()
        grads.append(t.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-9)


def test_pca_lowrank_errors():
    for fn in (lambda M, a: M.pca_lowrank(a, q=5), lambda M, a: M.pca_lowrank(a, niter=-1)):
        _same_error(fn, RNG.standard_normal((4, 3)))


@pytest.mark.parametrize("mode", [0, 1, 2])
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("align", [False, True])
def test_grid_sampler_2d(mode, padding, align):
    x, g = RNG.standard_normal((2, 3, 4, 5)), RNG.uniform(-1.2, 1.2, (2, 3, 2, 2))
    _same(lambda M, a, b: M.grid_sampler_2d(a, b, mode, padding, align), x, g, grad=mode != 1, rtol=1e-9, atol=1e-10)
    _same(lambda M, a, b: M.grid_sampler(a, b, mode, padding, align), x, g, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("mode", [0, 1])
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_grid_sampler_3d(mode, padding):
    x, g = RNG.standard_normal((1, 2, 3, 4, 3)), RNG.uniform(-1.2, 1.2, (1, 2, 2, 3, 3))
    _same(lambda M, a, b: M.grid_sampler_3d(a, b, mode, padding, False), x, g, grad=mode == 0, rtol=1e-9,
          atol=1e-10)


@pytest.mark.parametrize("fn", [lambda M, x, g: M.grid_sampler_3d(x, g, 0, 0, False),
                                lambda M, x, g: M.grid_sampler_2d(x[0], g, 0, 0, False)])
def test_grid_sampler_dims_error(fn):
    ours, theirs = _same_error(fn, RNG.standard_normal((1, 2, 3, 3)), RNG.uniform(-1, 1, (1, 2, 2, 2)))


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (2, 6, 3), (0, 3)])
def test_geqrf(shape):
    a = RNG.standard_normal(shape)
    ours, theirs = engine.geqrf(engine.tensor(a)), torch.geqrf(torch.tensor(a))
    for x, y in zip(ours, theirs):
        assert x.shape == tuple(y.shape) and x.dtype == np.float64
        np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-12)
    m = engine.tensor(a).geqrf()
    np.testing.assert_allclose(m.tau.numpy(), theirs.tau.numpy(), atol=1e-12)


@pytest.mark.parametrize("fn", [lambda M, a: M.geqrf(a[0]), lambda M, a: M.geqrf(a.long())])
def test_geqrf_errors(fn):
    _same_error(fn, RNG.standard_normal((3, 3)))


@pytest.mark.parametrize("shape,left,transpose", [((5, 3), True, False), ((5, 3), True, True), ((5, 3), False, False),
                                                  ((4, 4), False, True), ((3, 5), True, False), ((2, 4, 2), True, True),
                                                  ((2, 4, 2), False, False)])
def test_ormqr(shape, left, transpose):
    a = RNG.standard_normal(shape)
    h, tau = (t.numpy() for t in torch.geqrf(torch.tensor(a)))
    m = shape[-2]
    c = RNG.standard_normal(shape[:-2] + ((m, 3) if left else (2, m)))
    _same(lambda M, h_, t_, c_: M.ormqr(h_, t_, c_, left, transpose), h, tau, c, grad=True, rtol=1e-9, atol=1e-11)
    _same(lambda M, h_, t_, c_: h_.ormqr(t_, c_, left=left, transpose=transpose), h, tau, c, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("fn", [lambda M, h, t, c: M.ormqr(h, t, c[:3]), lambda M, h, t, c: M.ormqr(h, t[:2], c),
                                lambda M, h, t, c: M.ormqr(h, t, c, left=False),
                                lambda M, h, t, c: M.ormqr(h, t.float(), c)])
def test_ormqr_errors(fn):
    a = RNG.standard_normal((4, 3))
    h, tau = (t.numpy() for t in torch.geqrf(torch.tensor(a)))
    _same_error(fn, h, tau, RNG.standard_normal((4, 2)))


# ---- 5. local_response_norm on integers ----------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 6, 3), (2, 5, 3, 4), (1, 4, 2, 2, 3)])
@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.float64])
@pytest.mark.parametrize("size,alpha,beta,k", [(2, 3e-5, 0.5, 1.25), (3, 1e-4, 0.75, 1.0), (4, 0.5, 0.9, 2.0)])
def test_local_response_norm_exact(shape, dtype, size, alpha, beta, k):
    """torch's order: avg_pool over the squares (integer: truncating), then mul(alpha).add(k).pow(beta)."""
    x = RNG.integers(-9, 10, shape).astype(dtype) if dtype == np.int64 else \
        RNG.standard_normal(shape).astype(dtype)
    ours = engine.functional.local_response_norm(engine.tensor(x), size, alpha, beta, k).numpy()
    theirs = torch.nn.functional.local_response_norm(torch.tensor(x), size, alpha, beta, k).numpy()
    assert ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=2e-7 if ours.dtype == np.float32 else 1e-14)


# ---- 4. out= overlap checks, cat with None ---------------------------------------------------------------

_IDX = np.array([2, 1, 0])
OVERLAP_CASES = {  # (M, x (6,)) -> the call; each raises in torch
    "gather_expanded_out": lambda M, x: M.gather(x, 0, M.tensor(_IDX), out=M.zeros(1).expand(3)),
    "gather_out_is_input": lambda M, x: M.gather(x[:3], 0, M.tensor(_IDX), out=x[:3]),
    "take_expanded_out": lambda M, x: M.take(x, M.tensor(_IDX), out=M.zeros(1).expand(3)),
    "take_out_is_input": lambda M, x: M.take(x, M.tensor(_IDX), out=x),
    "masked_select_expanded_out": lambda M, x: M.masked_select(x, x > 0.5, out=M.zeros(1).expand(6)),
    "masked_select_out_is_input": lambda M, x: M.masked_select(x, x > 0.5, out=x),
    "index_select_expanded_out": lambda M, x: M.index_select(x, 0, M.tensor(_IDX), out=M.zeros(1).expand(3)),
    "index_select_partial": lambda M, x: M.index_select(x[:3], 0, M.tensor(_IDX), out=x[2:5]),
    "kthvalue_values_in_input": lambda M, x: M.kthvalue(x, 2, out=(x[:1].squeeze(0), M.zeros((), dtype=M.int64))),
    "bernoulli_expanded_out": lambda M, x: M.bernoulli(x, out=M.zeros(1).expand(6)),
    "cat_out_is_input": lambda M, x: M.cat((x[:3], x[3:]), out=x),
    "cat_partial": lambda M, x: M.cat((x[:2], x[:1]), out=x[1:4]),
    "cat_none": lambda M, x: M.cat((x, None)),
}


@pytest.mark.parametrize("name", OVERLAP_CASES)
def test_out_overlap_errors_as_torch(name):
    x = RNG.uniform(0.1, 0.9, 6).astype(np.float32)
    ours, theirs = _same_error(OVERLAP_CASES[name], x)
    assert ours == theirs


def test_out_overlap_allowed_where_torch_allows():
    """Full overlap in elementwise ops and bernoulli(p, out=p) write in place, as torch's."""
    x = RNG.uniform(0.1, 0.9, 6).astype(np.float32)
    for M in (engine, torch):
        t = M.tensor(x)
        M.add(t, t, out=t)
        np.testing.assert_allclose(t.numpy(), 2 * x)
        p = M.tensor(x)
        M.bernoulli(p, out=p)
        assert set(np.unique(p.numpy())) <= {0.0, 1.0}
        o = M.zeros(3)
        M.gather(M.tensor(x), 0, M.tensor(_IDX), out=o)
        np.testing.assert_array_equal(o.numpy(), x[_IDX])
