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
