"""Specs of the reductions, scans and sorts (issue 15): one per registered op (Prod, Median,
Cumsum, Cumprod, LogCumSumExp, TakeAlong) and the Tensor-level ops built on them.

Values stay where each op is smooth by construction: sort/topk/median/kthvalue/cummax and
max/min with a dim get distinct entries (no ties), norms get magnitudes that differ and
stay away from 0. Ties, zeros, nan and inf are checked against torch in test_parity_reduce.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from op_specs import SEEDS, Case, Spec, fill, reduced_size, shapes, unary

SPECS: dict[str, Spec] = {}
DERIVED: dict[str, Spec] = {}


def a_dim(ndim):
    """One dim, maybe negative; a 0-d tensor takes 0 and -1 as torch."""
    return st.sampled_from([0, -1]) if ndim == 0 else st.integers(-ndim, ndim - 1)


def some_dims(ndim):
    """None (all), an int, or a non-empty tuple or list of dims (torch reduces all on an empty one)."""
    if ndim == 0:
        return st.sampled_from([None, 0, -1])
    return st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                     st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(
                         lambda d: tuple(d) if len(d) % 2 else list(d)))


def _axes(dim, ndim):
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(sorted({d % ndim for d in dims})) if ndim else ()


def _np_dim(dim, ndim):
    """A NumPy axis for a torch dim (a 0-d array has no axis to name)."""
    return None if ndim == 0 else (dim if isinstance(dim, int) else (None if dim is None else tuple(dim)))


@st.composite
def reduce_case(draw, domain="real", keepdim=True):
    shape = draw(shapes())
    rng = np.random.default_rng(draw(SEEDS))
    params = {"dim": draw(some_dims(len(shape)))}
    if keepdim:
        params["keepdim"] = draw(st.booleans())
    return Case((fill(rng, shape, domain),), params)


@st.composite
def dim_case(draw, domain="distinct", keepdim=False, **more):
    shape = draw(shapes())
    rng = np.random.default_rng(draw(SEEDS))
    params = {"dim": draw(a_dim(len(shape)))}
    if keepdim:
        params["keepdim"] = draw(st.booleans())
    params.update({k: draw(v) for k, v in more.items()})
    return Case((fill(rng, shape, domain),), params)


def _keep(out, a, dim, keepdim):
    """Drop the reduced dim from a keepdims NumPy result unless keepdim (0-d stays 0-d)."""
    if a.ndim == 0:
        return out.reshape(())
    return out if keepdim else np.squeeze(out, axis=dim % a.ndim)


def _along(fn, a, dim):
    """Apply ``fn`` (array, axis) on a 0-d array as on one entry."""
    if a.ndim == 0:
        return fn(a.reshape(1), 0).reshape(())
    return fn(a, dim % a.ndim)


# ---- registered ops --------------------------------------------------------------------------------


def _prod_ref(a, dim, keepdim):
    return np.prod(a, axis=_axes(dim, a.ndim), keepdims=keepdim)


def _torch_prod(T, a, dim, keepdim):
    axes = _axes(dim, a.ndim)
    if dim is None and not keepdim:
        return a.prod()
    for d in sorted(axes, reverse=True):  # torch.prod takes one dim at a time
        a = a.prod(d, keepdim=keepdim)
    return a


SPECS["Prod"] = Spec(reduce_case("nonzero"), lambda a, dim, keepdim: a.prod(dim, keepdim), _prod_ref,
                     torch=_torch_prod)


def _median_ref(a):
    flat = np.sort(a.reshape(-1))
    return flat[(flat.size - 1) // 2]


SPECS["Median"] = Spec(unary("distinct"), lambda a: a.median(), _median_ref, torch=lambda T, a: a.median())


SPECS["Cumsum"] = Spec(dim_case("real"), lambda a, dim: a.cumsum(dim),
                       lambda a, dim: _along(lambda x, ax: np.cumsum(x, axis=ax), a, dim),
                       torch=lambda T, a, dim: T.cumsum(a, dim))
SPECS["Cumprod"] = Spec(dim_case("real"), lambda a, dim: a.cumprod(dim),
                        lambda a, dim: _along(lambda x, ax: np.cumprod(x, axis=ax), a, dim),
                        torch=lambda T, a, dim: T.cumprod(a, dim))
SPECS["LogCumSumExp"] = Spec(
    dim_case("real"), lambda a, dim: a.logcumsumexp(dim),
    lambda a, dim: _along(lambda x, ax: np.log(np.cumsum(np.exp(x), axis=ax)), a, dim),
    torch=lambda T, a, dim: T.logcumsumexp(a, dim),
)


def _max_dim_ref(a, dim, keepdim):
    return _keep(np.max(a.reshape(a.shape or (1,)), axis=dim % max(a.ndim, 1), keepdims=True), a, dim, keepdim)


SPECS["TakeAlong"] = Spec(dim_case(keepdim=True), lambda a, dim, keepdim: a.max(dim, keepdim).values,
                          _max_dim_ref, torch=lambda T, a, dim, keepdim: T.max(a, dim, keepdim).values)


# ---- derived ---------------------------------------------------------------------------------------


def _min_dim_ref(a, dim, keepdim):
    return _keep(np.min(a.reshape(a.shape or (1,)), axis=dim % max(a.ndim, 1), keepdims=True), a, dim, keepdim)


def _sort_ref(a, dim, descending):
    def f(x, ax):
        s = np.sort(x, axis=ax)
        return np.flip(s, ax) if descending else s
    return _along(f, a, dim)


def _topk_ref(a, dim, k, largest):
    def f(x, ax):
        s = np.sort(x, axis=ax)
        s = np.flip(s, ax) if largest else s
        return np.take(s, range(min(k, x.shape[ax])), axis=ax)
    return _along(f, a, dim)


def _kth_ref(a, dim, k, keepdim):
    def f(x, ax):
        return np.take(np.sort(x, axis=ax), [min(k, x.shape[ax]) - 1], axis=ax)
    return _keep(_along(f, a, dim) if a.ndim else a.reshape(()), a, dim, keepdim)


def _median_dim_ref(a, dim, keepdim):
    def f(x, ax):
        return np.take(np.sort(x, axis=ax), [(x.shape[ax] - 1) // 2], axis=ax)
    return _keep(_along(f, a, dim) if a.ndim else a.reshape(()), a, dim, keepdim)


def _cum_ref(ufunc):
    return lambda a, dim: _along(lambda x, ax: ufunc.accumulate(x, axis=ax), a, dim)


def _clamp_k(a, dim, k):
    return min(k, a.shape[dim % a.ndim]) if a.ndim else 1


DERIVED.update({
    "min_dim": Spec(dim_case(keepdim=True), lambda a, dim, keepdim: a.min(dim, keepdim).values, _min_dim_ref,
                    torch=lambda T, a, dim, keepdim: T.min(a, dim, keepdim).values),
    "max_dim_keyword": Spec(dim_case(keepdim=True), lambda a, dim, keepdim: a.max(axis=dim, keepdims=keepdim)[0],
                            _max_dim_ref, torch=lambda T, a, dim, keepdim: a.max(dim=dim, keepdim=keepdim)[0]),
    "sort": Spec(dim_case(descending=st.booleans()),
                 lambda a, dim, descending: a.sort(dim, descending).values, _sort_ref,
                 torch=lambda T, a, dim, descending: T.sort(a, dim, descending).values),
    "topk": Spec(dim_case(k=st.integers(1, 5), largest=st.booleans()),
                 lambda a, dim, k, largest: a.topk(_clamp_k(a, dim, k), dim, largest).values, _topk_ref,
                 torch=lambda T, a, dim, k, largest: T.topk(a, _clamp_k(a, dim, k), dim, largest).values),
    "kthvalue": Spec(dim_case(keepdim=True, k=st.integers(1, 5)),
                     lambda a, dim, k, keepdim: a.kthvalue(_clamp_k(a, dim, k), dim, keepdim).values, _kth_ref,
                     torch=lambda T, a, dim, k, keepdim: T.kthvalue(a, _clamp_k(a, dim, k), dim, keepdim).values),
    "median_dim": Spec(dim_case(keepdim=True), lambda a, dim, keepdim: a.median(dim, keepdim).values,
                       _median_dim_ref, torch=lambda T, a, dim, keepdim: T.median(a, dim, keepdim).values),
    "msort": Spec(unary("distinct", min_dims=1), lambda a: a.msort(), lambda a: np.sort(a, axis=0),
                  torch=lambda T, a: T.msort(a)),
    "cummax": Spec(dim_case(), lambda a, dim: a.cummax(dim).values, _cum_ref(np.maximum),
                   torch=lambda T, a, dim: T.cummax(a, dim).values),
    "cummin": Spec(dim_case(), lambda a, dim: a.cummin(dim).values, _cum_ref(np.minimum),
                   torch=lambda T, a, dim: T.cummin(a, dim).values),
    "amax_dims": Spec(reduce_case("distinct"), lambda a, dim, keepdim: a.amax(dim, keepdim),
                      lambda a, dim, keepdim: np.max(a, axis=_axes(dim, a.ndim), keepdims=keepdim),
                      torch=lambda T, a, dim, keepdim: T.amax(a, () if dim is None else dim, keepdim)),
    "amin_dims": Spec(reduce_case("distinct"), lambda a, dim, keepdim: a.amin(dim, keepdim),
                      lambda a, dim, keepdim: np.min(a, axis=_axes(dim, a.ndim), keepdims=keepdim),
                      torch=lambda T, a, dim, keepdim: T.amin(a, () if dim is None else dim, keepdim)),
    "sum_dims": Spec(reduce_case(), lambda a, dim, keepdim: a.sum(dim, keepdim),
                     lambda a, dim, keepdim: np.sum(a, axis=_axes(dim, a.ndim), keepdims=keepdim),
                     torch=lambda T, a, dim, keepdim: T.sum(a, dim, keepdim) if dim is not None else
                     (T.sum(a, tuple(range(a.ndim)), keepdim) if keepdim else T.sum(a))),
    "mean_dims": Spec(reduce_case(), lambda a, dim, keepdim: a.mean(dim, keepdim),
                      lambda a, dim, keepdim: np.mean(a, axis=_axes(dim, a.ndim), keepdims=keepdim),
                      torch=lambda T, a, dim, keepdim: T.mean(a, dim, keepdim) if dim is not None else
                      (T.mean(a, tuple(range(a.ndim)), keepdim) if keepdim else T.mean(a))),
    "logsumexp_dims": Spec(reduce_case(), lambda a, dim, keepdim: a.logsumexp(dim, keepdim),
                           lambda a, dim, keepdim: np.log(np.sum(np.exp(a), axis=_axes(dim, a.ndim),
                                                                 keepdims=keepdim)),
                           torch=lambda T, a, dim, keepdim: T.logsumexp(
                               a, tuple(range(a.ndim)) if dim is None else dim, keepdim)),
})


# ---- var / std with torch's correction ----------------------------------------------------------------


@st.composite
def correction_case(draw, strict=False):
    shape = draw(shapes())
    dim = draw(some_dims(len(shape)))
    correction = draw(st.sampled_from([0, 1, 2]))
    n = reduced_size(shape, _axes(dim, len(shape)))
    assume(n > correction and (n >= 2 or not strict))  # at n <= correction: inf/nan, see the parity tests
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, shape, "distinct" if strict else "real"),),
                {"dim": dim, "keepdim": draw(st.booleans()), "correction": correction})


def _var_ref(a, dim, keepdim, correction):
    return np.var(a, axis=_axes(dim, a.ndim), keepdims=keepdim, ddof=correction)


def _std_ref(a, dim, keepdim, correction):
    return np.std(a, axis=_axes(dim, a.ndim), keepdims=keepdim, ddof=correction)


def _tdim(dim, a):
    return tuple(range(a.ndim)) if dim is None else dim


DERIVED.update({
    "var_correction": Spec(correction_case(), lambda a, dim, keepdim, correction: a.var(
        dim, keepdim=keepdim, correction=correction), _var_ref,
        torch=lambda T, a, dim, keepdim, correction: T.var(a, _tdim(dim, a), correction=correction, keepdim=keepdim)),
    "std_correction": Spec(correction_case(strict=True), lambda a, dim, keepdim, correction: a.std(
        dim, keepdim=keepdim, correction=correction), _std_ref,
        torch=lambda T, a, dim, keepdim, correction: T.std(a, _tdim(dim, a), correction=correction, keepdim=keepdim)),
    "var_mean": Spec(correction_case(), lambda a, dim, keepdim, correction: a.var_mean(
        dim, keepdim=keepdim, correction=correction),
        lambda a, dim, keepdim, correction: (_var_ref(a, dim, keepdim, correction),
                                             np.mean(a, axis=_axes(dim, a.ndim), keepdims=keepdim)),
        torch=lambda T, a, dim, keepdim, correction: T.var_mean(a, _tdim(dim, a), correction=correction,
                                                                keepdim=keepdim)),
    "std_mean": Spec(correction_case(strict=True), lambda a, dim, keepdim, correction: a.std_mean(
        dim, keepdim=keepdim, correction=correction),
        lambda a, dim, keepdim, correction: (_std_ref(a, dim, keepdim, correction),
                                             np.mean(a, axis=_axes(dim, a.ndim), keepdims=keepdim)),
        torch=lambda T, a, dim, keepdim, correction: T.std_mean(a, _tdim(dim, a), correction=correction,
                                                                keepdim=keepdim)),
})


# ---- norms ------------------------------------------------------------------------------------------

NORM_PS = [1, 2, 3, 0.5, 1.5, math.inf, -math.inf, "fro"]


@st.composite
def norm_case(draw):
    """Magnitudes 0.1 apart (no ties for the inf norms) and at least 0.08 from 0 (|x|'s kink)."""
    shape = draw(shapes())
    rng = np.random.default_rng(draw(SEEDS))
    n = math.prod(shape)
    mags = (rng.permutation(n) + 1) * 0.1 + rng.uniform(-0.02, 0.02, n)
    x = (mags * rng.choice([-1.0, 1.0], n)).reshape(shape)
    p = draw(st.sampled_from(NORM_PS))
    dim = draw(some_dims(len(shape)))
    return Case((x,), {"p": p, "dim": dim, "keepdim": draw(st.booleans())})


def _norm_ref(a, p, dim, keepdim):
    axes = _axes(dim, a.ndim)
    m = np.abs(a)
    if p == math.inf:
        return np.max(m, axis=axes, keepdims=keepdim)
    if p == -math.inf:
        return np.min(m, axis=axes, keepdims=keepdim)
    p = 2 if p == "fro" else p
    return np.sum(m**p, axis=axes, keepdims=keepdim) ** (1 / p)


def _torch_norm(T, a, p, dim, keepdim):
    return T.linalg.vector_norm(a, ord=2 if p == "fro" else p, dim=_tdim(dim, a), keepdim=keepdim)


DERIVED["norm"] = Spec(norm_case(), lambda a, p, dim, keepdim: a.norm(p, dim, keepdim), _norm_ref,
                       torch=_torch_norm)
