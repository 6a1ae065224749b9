"""Specs of issue 15's second round (engine/ops/linalg.py, engine/torch_more.py,
engine/functional_more.py): the linalg ops with reference backwards (SPECS) and the composed Tensor
methods, torch.* functions and F extras (DERIVED).

Draws keep gradcheck honest: square matrices are diagonally dominant (well conditioned, no singular
draw), symmetric ones have eigenvalues at least 0.3 apart (eigh's gradient divides by their gaps),
abs/max inputs stay away from kinks and ties, grid_sample's sample points stay away from pixel
centres (where bilinear weights have kinks). Refs are plain NumPy.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from op_specs import GAP, SEEDS, Case, Spec, broadcast_shapes, fill, shapes, unary

import engine
import engine.functional as F

LINALG = dict(half=False)  # NumPy's linalg has no float16


def _rng(draw):
    return np.random.default_rng(draw(SEEDS))


@st.composite
def square_case(draw, rhs=False, vector_rhs=False, rect=False, **params):
    """A (batch..., n, n) well-conditioned (diagonally dominant, random signs), optionally B."""
    batch = draw(shapes(0, 2, max_side=3))
    n = draw(st.integers(1, 4))
    rng = _rng(draw)
    m = n + draw(st.integers(1, 2)) if rect else n
    a = rng.uniform(-1, 1, batch + (m, n)) + 3 * np.eye(m, n) * rng.choice([-1.0, 1.0], batch + (1, n))
    arrays = [a]
    if rhs:
        arrays.append(rng.uniform(-2, 2, batch + ((m,) if vector_rhs else (m, draw(st.integers(1, 3))))))
    drawn = {k: draw(v) for k, v in params.items()}
    return Case(tuple(arrays), drawn)


def _sym(a):
    return (a + np.swapaxes(a, -1, -2)) / 2


@st.composite
def symmetric_case(draw):
    """A whose symmetric part has eigenvalues at least 0.3 apart (eigh's gradient needs gaps)."""
    c = draw(square_case())
    w = np.linalg.eigvalsh(_sym(c.arrays[0]))
    assume(w.shape[-1] < 2 or np.diff(w, axis=-1).min() > 0.3)
    return c


def _eigh_ref(a):
    w, v = np.linalg.eigh(_sym(a))
    return w, v * v


def _eigh_fn(a):
    w, v = engine.linalg.eigh((a + a.mT) / 2)
    return w, v * v  # squared entries: independent of each eigenvector's sign


def _spd(a):
    return a @ np.swapaxes(a, -1, -2) + np.eye(a.shape[-1])


SPECS: dict[str, Spec] = {
    "Inverse": Spec(square_case(), lambda a: engine.linalg.inv(a), np.linalg.inv,
                    torch=lambda T, a: T.linalg.inv(a), **LINALG),
    "Det": Spec(square_case(), lambda a: engine.linalg.det(a), np.linalg.det,
                torch=lambda T, a: T.linalg.det(a), **LINALG),
    "LogAbsDet": Spec(square_case(), lambda a: tuple(engine.linalg.slogdet(a)),
                      lambda a: tuple(np.linalg.slogdet(a)), torch=lambda T, a: tuple(T.linalg.slogdet(a)), **LINALG),
    "Solve": Spec(square_case(rhs=True), lambda a, b: engine.linalg.solve(a, b), np.linalg.solve,
                  torch=lambda T, a, b: T.linalg.solve(a, b), **LINALG),
    "Cholesky": Spec(square_case(upper=st.booleans()),
                     lambda a, upper: engine.linalg.cholesky(a @ a.mT + engine.eye(a.shape[-1], dtype=a.dtype),
                                                            upper=upper),
                     lambda a, upper: (lambda L: np.swapaxes(L, -1, -2) if upper else L)(np.linalg.cholesky(_spd(a))),
                     torch=lambda T, a, upper: T.linalg.cholesky(a @ a.mT + T.eye(a.shape[-1], dtype=a.dtype),
                                                                 upper=upper), **LINALG),
    "EighPacked": Spec(symmetric_case(), _eigh_fn, _eigh_ref,
                       torch=lambda T, a: (lambda r: (r[0], r[1] * r[1]))(T.linalg.eigh((a + a.mT) / 2)), **LINALG),
}


# ---- derived: linalg compositions --------------------------------------------------------------------


def _lstsq_ref(a, b):
    return np.linalg.pinv(a) @ b


@st.composite
def singular_gap_case(draw, rect=True):
    c = draw(square_case(rect=draw(st.booleans()) if rect else False))
    s = np.linalg.svd(c.arrays[0], compute_uv=False)
    assume(s.shape[-1] < 2 or (-np.diff(s, axis=-1)).min() > 0.3)
    return c


@st.composite
def matrix_norm_case(draw):
    c = draw(singular_gap_case())
    a = c.arrays[0]
    ord_ = draw(st.sampled_from(["fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf]))
    if ord_ in (1, -1, math.inf, -math.inf):  # the max/min column (row) sum must not tie; no entry at 0
        assume(np.abs(a).min() > GAP)
        sums = np.abs(a).sum(-2 if ord_ in (1, -1) else -1)
        assume(sums.shape[-1] < 2 or np.diff(np.sort(sums, -1), axis=-1).min() > GAP)
    return Case(c.arrays, {"ord": ord_, "keepdim": draw(st.booleans())})


def _matrix_norm_ref(a, ord, keepdim):  # noqa: A002
    return np.linalg.norm(a, ord, axis=(-2, -1), keepdims=keepdim)


@st.composite
def power_case(draw):
    c = draw(square_case())
    return Case(c.arrays, {"n": draw(st.integers(-2, 4))})


def _matrix_power_ref(a, n):
    return np.linalg.matrix_power(a, n)


@st.composite
def vector_norm_case(draw):
    shape = draw(shapes(1, 3))
    rng = _rng(draw)
    a = fill(rng, shape, "nonzero")
    nd = len(shape)
    dim = draw(st.one_of(st.none(), st.integers(-nd, nd - 1)))
    ord_ = draw(st.sampled_from([1, 2, 3, 0.5]))
    return Case((a,), {"ord": ord_, "dim": dim, "keepdim": draw(st.booleans())})


def _vector_norm_ref(a, ord, dim, keepdim):  # noqa: A002
    axis = tuple(range(a.ndim)) if dim is None else (dim,)
    return (np.abs(a) ** ord).sum(axis, keepdims=keepdim) ** (1 / ord)


@st.composite
def triangular_case(draw):
    c = draw(square_case(rhs=True))
    return Case(c.arrays, {"upper": draw(st.booleans()), "left": True})


def _solve_triangular_ref(a, b, upper, left):
    return np.linalg.solve(np.triu(a) if upper else np.tril(a), b)


DERIVED: dict[str, Spec] = {
    "linalg_solve_vector": Spec(square_case(rhs=True, vector_rhs=True), lambda a, b: engine.linalg.solve(a, b),
                                lambda a, b: np.linalg.solve(a, b[..., None])[..., 0],
                                torch=lambda T, a, b: T.linalg.solve(a, b), **LINALG),
    "linalg_solve_triangular": Spec(triangular_case(),
                                    lambda a, b, upper, left: engine.linalg.solve_triangular(a, b, upper=upper),
                                    _solve_triangular_ref,
                                    torch=lambda T, a, b, upper, left: T.linalg.solve_triangular(a, b, upper=upper),
                                    **LINALG),
    "logdet": Spec(square_case(), lambda a: (a @ a.mT).logdet(),
                   lambda a: np.linalg.slogdet(a @ np.swapaxes(a, -1, -2))[1],
                   torch=lambda T, a: (a @ a.mT).logdet(), **LINALG),
    "linalg_matrix_power": Spec(power_case(), lambda a, n: engine.linalg.matrix_power(a, n), _matrix_power_ref,
                                torch=lambda T, a, n: T.linalg.matrix_power(a, n), **LINALG),
    "linalg_lstsq": Spec(square_case(rhs=True, rect=True), lambda a, b: engine.linalg.lstsq(a, b).solution, _lstsq_ref,
                         torch=lambda T, a, b: T.linalg.pinv(a) @ b, **LINALG),
    "linalg_matrix_norm": Spec(matrix_norm_case(), lambda a, ord, keepdim: engine.linalg.matrix_norm(a, ord,
                                                                                                      keepdim=keepdim),
                               _matrix_norm_ref,
                               torch=lambda T, a, ord, keepdim: T.linalg.matrix_norm(a, ord, keepdim=keepdim),
                               **LINALG),
    "linalg_vector_norm": Spec(vector_norm_case(),
                               lambda a, ord, dim, keepdim: engine.linalg.vector_norm(a, ord, dim, keepdim),
                               _vector_norm_ref,
                               torch=lambda T, a, ord, dim, keepdim: T.linalg.vector_norm(a, ord, dim, keepdim)),
}


# ---- derived: Tensor methods and torch.* functions ----------------------------------------------------


@st.composite
def addc_case(draw, positive_divisor=False):
    sa, sb, sc = draw(st.sampled_from([((2, 3), (2, 3), (2, 3)), ((2, 3), (3,), (2, 1)), ((), (4,), (4,)),
                                       ((3, 1), (1, 4), (3, 4))]))
    rng = _rng(draw)
    c = fill(rng, sc, "nonzero" if positive_divisor else "real")
    return Case((fill(rng, sa), fill(rng, sb), c), {"value": draw(st.sampled_from([1, 0.5, -2]))})


@st.composite
def addmv_case(draw, kind):
    rng = _rng(draw)
    n, m, k, b = (draw(st.integers(1, 4)) for _ in range(4))
    if kind == "mv":
        arrays = (fill(rng, draw(st.sampled_from([(n,), (1,), ()]))), fill(rng, (n, m)), fill(rng, (m,)))
    elif kind == "bmm":
        arrays = (fill(rng, draw(st.sampled_from([(n, k), (k,)]))), fill(rng, (b, n, m)), fill(rng, (b, m, k)))
    else:
        arrays = (fill(rng, draw(st.sampled_from([(n, m), (m,)]))), fill(rng, (n,)), fill(rng, (m,)))
    return Case(arrays, {"beta": draw(st.sampled_from([1, 0.5, 0])), "alpha": draw(st.sampled_from([1, 2.0]))})


def _beta_alpha_ref(inp, prod, beta, alpha):
    return np.broadcast_to(alpha * prod, np.broadcast_shapes(inp.shape, prod.shape)) + (beta * inp if beta else 0)


@st.composite
def diff_case(draw):
    shape = draw(shapes(1, 3))
    rng = _rng(draw)
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    d = dim % nd
    arrays = [fill(rng, shape)]
    params = {"n": draw(st.integers(1, 3)), "dim": dim, "with_prepend": draw(st.booleans()),  # n = 0: parity_more
              "with_append": draw(st.booleans())}
    for key in ("with_prepend", "with_append"):
        if params[key]:
            s = list(shape)
            s[d] = draw(st.integers(1, 2))
            arrays.append(fill(rng, s))
    return Case(tuple(arrays), params)


def _diff_fn(a, *extra, n, dim, with_prepend, with_append):
    extra = list(extra)
    pre = extra.pop(0) if with_prepend else None
    app = extra.pop(0) if with_append else None
    return a.diff(n, dim, pre, app)


def _diff_ref(a, *extra, n, dim, with_prepend, with_append):
    extra = list(extra)
    kw = {}
    if with_prepend:
        kw["prepend"] = extra.pop(0)
    if with_append:
        kw["append"] = extra.pop(0)
    return np.diff(a, n, axis=dim, **kw)


@st.composite
def cross_case(draw):
    rng = _rng(draw)
    shape = list(draw(shapes(1, 3)))
    d = draw(st.integers(0, len(shape) - 1))
    shape[d] = 3
    other = list(shape)
    rest = [i for i in range(len(shape)) if i != d]
    if rest and draw(st.booleans()):  # broadcast one other dim
        other[draw(st.sampled_from(rest))] = 1
    return Case((fill(rng, shape), fill(rng, other)), {"dim": d - len(shape) if draw(st.booleans()) else d})


@st.composite
def rot90_case(draw):
    shape = draw(shapes(2, 4))
    rng = _rng(draw)
    nd = len(shape)
    d0, d1 = draw(st.permutations(range(nd)))[:2]
    return Case((fill(rng, shape),), {"k": draw(st.integers(-5, 5)), "dims": (d0, d1 - nd)})


@st.composite
def quantile_case(draw):
    shape = draw(shapes(0, 3))
    rng = _rng(draw)
    a = fill(rng, shape, "distinct")  # no ties: sort's gradient is unique
    nd = len(shape)
    dim = draw(st.one_of(st.none(), st.integers(-nd, nd - 1))) if nd else None
    q = draw(st.one_of(st.sampled_from([0.0, 0.25, 0.5, 0.9, 1.0]),
                       st.lists(st.sampled_from([0.1, 0.33, 0.5, 0.77]), min_size=1, max_size=3)))
    return Case((a,), {"q": q, "dim": dim, "keepdim": draw(st.booleans()),
                       "interpolation": draw(st.sampled_from(["linear", "lower", "higher", "midpoint", "nearest"]))})


def _quantile_fn(a, q, dim, keepdim, interpolation):
    qq = engine.tensor(q, dtype=a.dtype) if isinstance(q, list) else q
    return a.quantile(qq, dim, keepdim, interpolation=interpolation)


def _quantile_ref(a, q, dim, keepdim, interpolation):
    return np.quantile(a, np.asarray(q), axis=dim, keepdims=keepdim, method=interpolation)


def _quantile_torch(T, a, q, dim, keepdim, interpolation):
    qq = T.tensor(q, dtype=a.dtype) if isinstance(q, list) else q
    return a.quantile(qq, dim, keepdim, interpolation=interpolation)


@st.composite
def sum_to_size_case(draw):
    shape = draw(shapes(0, 4))
    rng = _rng(draw)
    k = draw(st.integers(0, len(shape)))
    target = tuple(s if draw(st.booleans()) else 1 for s in shape[len(shape) - k:])
    return Case((fill(rng, shape),), {"size": target})


def _sum_to_size_ref(a, size):
    lead = a.ndim - len(size)
    out = a.sum(tuple(range(lead))) if lead else a
    axes = tuple(i for i, s in enumerate(size) if s == 1 and out.shape[i] != 1)
    return out.sum(axes, keepdims=True) if axes else out


@st.composite
def cdist_case(draw):
    rng = _rng(draw)
    batch = draw(shapes(0, 1, max_side=2))
    p, r, m = (draw(st.integers(1, 4)) for _ in range(3))
    ord_ = draw(st.sampled_from([1.0, 2.0, 3.0]))
    x1, x2 = fill(rng, batch + (p, m)), fill(rng, batch + (r, m))
    assume(np.abs(x1[..., :, None, :] - x2[..., None, :, :]).min() > GAP)  # |.| away from its kink
    return Case((x1, x2), {"p": ord_})


def _cdist_ref(x1, x2, p):
    return (np.abs(x1[..., :, None, :] - x2[..., None, :, :]) ** p).sum(-1) ** (1 / p)


@st.composite
def block_diag_case(draw):
    rng = _rng(draw)
    shapes_ = draw(st.lists(st.sampled_from([(), (1,), (3,), (2, 2), (1, 3), (3, 1), (2, 0)]), min_size=1,
                            max_size=3))
    return Case(tuple(fill(rng, s) for s in shapes_), {})


def _block_diag_ref(*mats):
    mats = [m.reshape(1, 1) if m.ndim == 0 else m.reshape(1, -1) if m.ndim == 1 else m for m in mats]
    out = np.zeros((sum(m.shape[0] for m in mats), sum(m.shape[1] for m in mats)))
    r = c = 0
    for m in mats:
        out[r:r + m.shape[0], c:c + m.shape[1]] = m
        r, c = r + m.shape[0], c + m.shape[1]
    return out


@st.composite
def combinations_case(draw):
    rng = _rng(draw)
    n = draw(st.integers(1, 5))
    return Case((fill(rng, (n,)),), {"r": draw(st.integers(1, n)), "with_replacement": draw(st.booleans())})


def _combinations_ref(a, r, with_replacement):
    make = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    return np.array([[a[i] for i in c] for c in make(range(len(a)), r)]).reshape(-1, r)


@st.composite
def trapezoid_case(draw, with_x=False):
    shape = draw(shapes(1, 3))
    rng = _rng(draw)
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    arrays = [fill(rng, shape)]
    if with_x:
        arrays.append(np.sort(fill(rng, (shape[dim],))))
    return Case(tuple(arrays), {"dim": dim})


def _trapz_ref(y, *x, dim):
    return np.trapezoid(y, x[0] if x else None, axis=dim)


def _cumtrapz_ref(y, *x, dim):
    y = np.moveaxis(y, dim, -1)
    dx = np.diff(x[0]) if x else np.ones(y.shape[-1] - 1)
    out = np.cumsum((y[..., 1:] + y[..., :-1]) / 2 * dx, -1)
    return np.moveaxis(out, -1, dim)


def _xlogy_case():
    @st.composite
    def case(draw):
        sa, sb = draw(st.sampled_from([((2, 3), (2, 3)), ((3,), (2, 3)), ((), (4,)), ((2, 1), (1, 3))]))
        rng = _rng(draw)
        return Case((fill(rng, sa, "nonzero"), fill(rng, sb, "positive")), {})
    return case()


DERIVED.update({
    "addcmul": Spec(addc_case(), lambda a, b, c, value: a.addcmul(b, c, value=value),
                    lambda a, b, c, value: a + value * b * c,
                    torch=lambda T, a, b, c, value: T.addcmul(a, b, c, value=value)),
    "addcdiv": Spec(addc_case(positive_divisor=True), lambda a, b, c, value: engine.addcdiv(a, b, c, value=value),
                    lambda a, b, c, value: a + value * b / c,
                    torch=lambda T, a, b, c, value: T.addcdiv(a, b, c, value=value)),
    "addmv": Spec(addmv_case("mv"), lambda a, m, v, beta, alpha: a.addmv(m, v, beta=beta, alpha=alpha),
                  lambda a, m, v, beta, alpha: _beta_alpha_ref(a, m @ v, beta, alpha),
                  torch=lambda T, a, m, v, beta, alpha: T.addmv(a, m, v, beta=beta, alpha=alpha)),
    "addbmm": Spec(addmv_case("bmm"), lambda a, m, v, beta, alpha: engine.addbmm(a, m, v, beta=beta, alpha=alpha),
                   lambda a, m, v, beta, alpha: _beta_alpha_ref(a, (m @ v).sum(0), beta, alpha),
                   torch=lambda T, a, m, v, beta, alpha: T.addbmm(a, m, v, beta=beta, alpha=alpha)),
    "addr": Spec(addmv_case("r"), lambda a, u, v, beta, alpha: a.addr(u, v, beta=beta, alpha=alpha),
                 lambda a, u, v, beta, alpha: _beta_alpha_ref(a, np.outer(u, v), beta, alpha),
                 torch=lambda T, a, u, v, beta, alpha: T.addr(a, u, v, beta=beta, alpha=alpha)),
    "diff": Spec(diff_case(), _diff_fn, _diff_ref,
                 torch=lambda T, a, *e, n, dim, with_prepend, with_append: _diff_fn(a, *e, n=n, dim=dim,
                                                                                   with_prepend=with_prepend,
                                                                                   with_append=with_append)),
    "cross": Spec(cross_case(), lambda a, b, dim: engine.cross(a, b, dim=dim),
                  lambda a, b, dim: np.cross(*np.broadcast_arrays(a, b), axis=dim),
                  torch=lambda T, a, b, dim: T.cross(*T.broadcast_tensors(a, b), dim=dim)),
    "rot90": Spec(rot90_case(), lambda a, k, dims: a.rot90(k, dims), lambda a, k, dims: np.rot90(a, k, dims),
                  torch=lambda T, a, k, dims: a.rot90(k, dims)),
    "xlogy": Spec(_xlogy_case(), lambda a, b: a.xlogy(b), lambda a, b: a * np.log(b),
                  torch=lambda T, a, b: a.xlogy(b)),
    "deg2rad": Spec(square_case(), lambda a: a.deg2rad(), np.deg2rad, torch=lambda T, a: a.deg2rad()),
    "rad2deg": Spec(square_case(), lambda a: engine.rad2deg(a), np.rad2deg, torch=lambda T, a: a.rad2deg()),
    "sinc": Spec(square_case(), lambda a: a.sinc(), np.sinc, torch=lambda T, a: a.sinc()),
    "quantile": Spec(quantile_case(), _quantile_fn, _quantile_ref, torch=_quantile_torch),
    "sum_to_size": Spec(sum_to_size_case(), lambda a, size: a.sum_to_size(size), _sum_to_size_ref,
                        torch=lambda T, a, size: a.sum_to_size(size)),
    "cdist": Spec(cdist_case(), lambda a, b, p: engine.cdist(a, b, p), _cdist_ref,
                  torch=lambda T, a, b, p: T.cdist(a, b, p)),
    "block_diag": Spec(block_diag_case(), lambda *m: engine.block_diag(*m), _block_diag_ref,
                       torch=lambda T, *m: T.block_diag(*m)),
    "combinations": Spec(combinations_case(),
                         lambda a, r, with_replacement: engine.combinations(a, r, with_replacement),
                         _combinations_ref,
                         torch=lambda T, a, r, with_replacement: T.combinations(a, r, with_replacement)),
    "trapezoid": Spec(trapezoid_case(), lambda y, dim: engine.trapezoid(y, dim=dim), _trapz_ref,
                      torch=lambda T, y, dim: T.trapezoid(y, dim=dim)),
    "trapezoid_x": Spec(trapezoid_case(with_x=True), lambda y, x, dim: engine.trapezoid(y, x, dim=dim), _trapz_ref,
                        torch=lambda T, y, x, dim: T.trapezoid(y, x, dim=dim)),
    "cumulative_trapezoid": Spec(trapezoid_case(with_x=True),
                                 lambda y, x, dim: engine.cumulative_trapezoid(y, x, dim=dim), _cumtrapz_ref,
                                 torch=lambda T, y, x, dim: T.cumulative_trapezoid(y, x, dim=dim)),
})


# ---- derived: F extras ---------------------------------------------------------------------------------


@st.composite
def pair_rows_case(draw):
    rng = _rng(draw)
    n, m = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    x1, x2 = fill(rng, (n, m)), fill(rng, draw(st.sampled_from([(n, m), (1, m), (m,)])))
    assume(np.abs(x1 - x2 + 1e-6).min() > GAP)
    return Case((x1, x2), {"p": draw(st.sampled_from([1.0, 2.0, 3.0])), "keepdim": draw(st.booleans())})


def _pairwise_ref(x1, x2, p, keepdim):
    return (np.abs(x1 - x2 + 1e-6) ** p).sum(-1, keepdims=keepdim) ** (1 / p)


@st.composite
def pdist_case(draw):
    rng = _rng(draw)
    x = fill(rng, (draw(st.integers(1, 5)), draw(st.integers(1, 4))), "distinct")
    return Case((x,), {"p": draw(st.sampled_from([1.0, 2.0, 3.0]))})


def _pdist_ref(x, p):
    i, j = np.triu_indices(len(x), 1)
    return (np.abs(x[i] - x[j]) ** p).sum(-1) ** (1 / p)


@st.composite
def bilinear_case(draw):
    rng = _rng(draw)
    lead = draw(shapes(0, 2, max_side=3))
    n, m, o = (draw(st.integers(1, 3)) for _ in range(3))
    arrays = [fill(rng, lead + (n,)), fill(rng, lead + (m,)), fill(rng, (o, n, m))]
    if draw(st.booleans()):
        arrays.append(fill(rng, (o,)))
    return Case(tuple(arrays), {})


def _bilinear_ref(x1, x2, w, *b):
    y = np.einsum("...i,oij,...j->...o", x1, w, x2)
    return y + b[0] if b else y


@st.composite
def norm_case(draw, kind):
    rng = _rng(draw)
    n, c = draw(st.integers(1, 3)), draw(st.sampled_from([1, 2, 4, 6]))
    spatial = draw(shapes(1, 2, min_side=2 if kind in ("instance", "group") else 1, max_side=4))
    x = fill(rng, (n, c) + spatial)
    params = {}
    if kind == "group":
        params["num_groups"] = draw(st.sampled_from([g for g in (1, 2, 3, 6) if c % g == 0]))
    if kind == "lrn":
        params.update(size=draw(st.integers(1, 4)), alpha=draw(st.sampled_from([1e-4, 0.5])),
                      beta=draw(st.sampled_from([0.75, 1.3])), k=draw(st.sampled_from([1.0, 2.0])))
        return Case((x,), params)
    return Case((x, fill(rng, (c,)), fill(rng, (c,))), params)


def _group_norm_ref(x, w, b, num_groups):
    n, c = x.shape[:2]
    g = x.reshape(n, num_groups, -1)
    y = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)).reshape(x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    return y * w.reshape(shape) + b.reshape(shape)


def _instance_norm_ref(x, w, b):
    axes = tuple(range(2, x.ndim))
    y = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + 1e-5)
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return y * w.reshape(shape) + b.reshape(shape)


def _lrn_ref(x, size, alpha, beta, k):
    c = x.shape[1]
    div = np.zeros_like(x)
    for ch in range(c):
        lo, hi = max(0, ch - size // 2), min(c, ch + (size - 1) // 2 + 1)
        div[:, ch] = (x[:, lo:hi] ** 2).sum(1)
    return x / (k + alpha / size * div) ** beta


@st.composite
def rms_case(draw):
    rng = _rng(draw)
    shape = draw(shapes(1, 3))
    k = draw(st.integers(1, len(shape)))
    arrays = [fill(rng, shape)]
    if draw(st.booleans()):
        arrays.append(fill(rng, shape[len(shape) - k:]))
    return Case(tuple(arrays), {"normalized_shape": tuple(shape[len(shape) - k:]),
                                "eps": draw(st.sampled_from([1e-6, 1e-3]))})  # None (dtype's eps): test_parity_more


def _rms_ref(x, *w, normalized_shape, eps):
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    eps = np.finfo(x.dtype).eps if eps is None else eps
    y = x / np.sqrt((x * x).mean(axes, keepdims=True) + eps)
    return y * w[0] if w else y


@st.composite
def multilabel_case(draw):
    rng = _rng(draw)
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    x = fill(rng, (n, c), "distinct") * 0.35  # 1 - (x_j - x_i) stays away from 0 (relu's kink)
    tgt = np.full((n, c), -1, dtype=np.int64)
    for r in range(n):
        k = draw(st.integers(0, c))
        tgt[r, :k] = rng.permutation(c)[:k]
    d = 1 - (x[:, :, None] - x[:, None, :])
    assume(np.abs(d).min() > GAP)
    return Case((x,), {"target": tgt, "reduction": draw(st.sampled_from(["mean", "sum", "none"]))})


def _multilabel_ref(x, target, reduction):
    n, c = x.shape
    loss = np.zeros(n)
    for r in range(n):
        ys = []
        for j in target[r]:
            if j < 0:
                break
            ys.append(j)
        for j in ys:
            for i in range(c):
                if i not in ys:
                    loss[r] += max(0.0, 1 - (x[r, j] - x[r, i]))
    loss /= c
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]


@st.composite
def triplet_case(draw):
    rng = _rng(draw)
    n, m = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    a, p, ng = (fill(rng, (n, m)) for _ in range(3))
    swap = draw(st.booleans())

    def d(u, v):
        return np.sqrt(((u - v + 1e-6) ** 2).sum(-1))
    dn = np.minimum(d(a, ng), d(p, ng)) if swap else d(a, ng)
    assume(np.abs(d(a, p) - dn + 1.0).min() > GAP and (not swap or np.abs(d(a, ng) - d(p, ng)).min() > GAP))
    return Case((a, p, ng), {"swap": swap, "reduction": draw(st.sampled_from(["mean", "sum", "none"]))})


def _triplet_ref(a, p, n, swap, reduction):
    def d(u, v):
        return np.sqrt(((u - v + 1e-6) ** 2).sum(-1))
    dn = np.minimum(d(a, n), d(p, n)) if swap else d(a, n)
    loss = np.maximum(d(a, p) - dn + 1.0, 0)
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]


@st.composite
def affine_case(draw):
    rng = _rng(draw)
    n = draw(st.integers(1, 2))
    three = draw(st.booleans())
    theta = fill(rng, (n, 3, 4) if three else (n, 2, 3))
    size = (n, 2) + tuple(draw(st.integers(1, 4)) for _ in range(3 if three else 2))
    return Case((theta,), {"size": size, "align_corners": draw(st.booleans())})


def _affine_ref(theta, size, align_corners):
    def lin(k):
        if k <= 1:
            return np.zeros(k)
        v = np.linspace(-1, 1, k)
        return v if align_corners else v * (k - 1) / k
    if len(size) == 4:
        _, _, h, w = size
        ys, xs = np.meshgrid(lin(h), lin(w), indexing="ij")
        base = np.stack([xs, ys, np.ones_like(xs)], -1)
    else:
        _, _, d, h, w = size
        zs, ys, xs = np.meshgrid(lin(d), lin(h), lin(w), indexing="ij")
        base = np.stack([xs, ys, zs, np.ones_like(xs)], -1)
    return np.einsum("...k,njk->n...j", base, theta)


@st.composite
def grid_sample_case(draw):
    """Sample points built in pixel units as integer + a fraction in [0.1, 0.9], so no coordinate sits
    on a pixel centre (the bilinear weights' kinks, and border's clamp points)."""
    rng = _rng(draw)
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = draw(st.integers(2, 4)), draw(st.integers(2, 4))
    ho, wo = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    align = draw(st.booleans())
    padding = draw(st.sampled_from(["zeros", "border"]))
    g = np.empty((n, ho, wo, 2))
    for k, size in ((0, w), (1, h)):
        pix = rng.integers(-1, size, (n, ho, wo)) + rng.uniform(0.1, 0.9, (n, ho, wo))
        g[..., k] = 2 * pix / (size - 1) - 1 if align else (2 * pix + 1) / size - 1
    return Case((fill(rng, (n, c, h, w)), g), {"padding_mode": padding, "align_corners": align})


def _grid_sample_ref(x, g, padding_mode, align_corners):
    n, c, h, w = x.shape
    ho, wo = g.shape[1:3]
    out = np.zeros((n, c, ho, wo))
    for b, i, j in np.ndindex(n, ho, wo):
        px, py = g[b, i, j]
        fx = (px + 1) * (w - 1) / 2 if align_corners else ((px + 1) * w - 1) / 2
        fy = (py + 1) * (h - 1) / 2 if align_corners else ((py + 1) * h - 1) / 2
        if padding_mode == "border":
            fx, fy = min(max(fx, 0), w - 1), min(max(fy, 0), h - 1)
        x0, y0 = math.floor(fx), math.floor(fy)
        for xi, yi in ((x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)):
            wt = (1 - abs(fx - xi)) * (1 - abs(fy - yi))
            if 0 <= xi < w and 0 <= yi < h:
                out[b, :, i, j] += wt * x[b, :, yi, xi]
    return out


DERIVED.update({
    "pairwise_distance": Spec(pair_rows_case(), lambda a, b, p, keepdim: F.pairwise_distance(a, b, p, 1e-6, keepdim),
                              _pairwise_ref,
                              torch=lambda T, a, b, p, keepdim: T.nn.functional.pairwise_distance(a, b, p, 1e-6,
                                                                                                  keepdim)),
    "pdist": Spec(pdist_case(), lambda a, p: F.pdist(a, p), _pdist_ref,
                  torch=lambda T, a, p: T.nn.functional.pdist(a, p)),
    "bilinear": Spec(bilinear_case(), F.bilinear, _bilinear_ref, torch=lambda T, *a: T.nn.functional.bilinear(*a)),
    "group_norm": Spec(norm_case("group"), lambda x, w, b, num_groups: F.group_norm(x, num_groups, w, b),
                       _group_norm_ref,
                       torch=lambda T, x, w, b, num_groups: T.nn.functional.group_norm(x, num_groups, w, b)),
    "instance_norm": Spec(norm_case("instance"), lambda x, w, b: F.instance_norm(x, weight=w, bias=b),
                          _instance_norm_ref,
                          torch=lambda T, x, w, b: T.nn.functional.instance_norm(x, weight=w, bias=b)),
    "rms_norm": Spec(rms_case(), lambda x, *w, normalized_shape, eps: F.rms_norm(x, normalized_shape, *w, eps=eps),
                     _rms_ref,
                     torch=lambda T, x, *w, normalized_shape, eps: T.nn.functional.rms_norm(x, normalized_shape, *w,
                                                                                            eps=eps)),
    "local_response_norm": Spec(norm_case("lrn"), F.local_response_norm, _lrn_ref,
                                torch=lambda T, x, **kw: T.nn.functional.local_response_norm(x, **kw)),
    "multilabel_margin_loss": Spec(
        multilabel_case(), lambda x, target, reduction: F.multilabel_margin_loss(x, engine.tensor(target),
                                                                                reduction=reduction),
        _multilabel_ref,
        torch=lambda T, x, target, reduction: T.nn.functional.multilabel_margin_loss(x, T.tensor(target),
                                                                                     reduction=reduction)),
    "triplet_margin_with_distance_loss": Spec(
        triplet_case(), lambda a, p, n, swap, reduction: F.triplet_margin_with_distance_loss(
            a, p, n, swap=swap, reduction=reduction),
        _triplet_ref,
        torch=lambda T, a, p, n, swap, reduction: T.nn.functional.triplet_margin_with_distance_loss(
            a, p, n, swap=swap, reduction=reduction)),
    "affine_grid": Spec(affine_case(), lambda t, size, align_corners: F.affine_grid(t, size, align_corners),
                        _affine_ref,
                        torch=lambda T, t, size, align_corners: T.nn.functional.affine_grid(t, size, align_corners)),
    "grid_sample": Spec(grid_sample_case(),
                        lambda x, g, padding_mode, align_corners: F.grid_sample(x, g, "bilinear", padding_mode,
                                                                                align_corners),
                        _grid_sample_ref,
                        torch=lambda T, x, g, padding_mode, align_corners: T.nn.functional.grid_sample(
                            x, g, "bilinear", padding_mode, align_corners)),
})


# ---- special functions, windows and the other late additions ------------------------------------------


@st.composite
def gamma_case(draw):
    """Away from the poles (0, -1, -2, ...), where lgamma and digamma blow up."""
    rng = _rng(draw)
    shape = draw(shapes(0, 3))
    x = rng.uniform(-3.5, 6, shape)
    assume(np.all(np.abs(x - np.round(x)) > 0.1) if x.size else True)
    return Case((np.asarray(x, dtype=np.float64),), {})


def _lgamma_ref(x):
    return np.vectorize(math.lgamma, otypes=[np.float64])(x)


def _digamma_ref(x, h=1e-5):
    # independent of the engine's series: Richardson-extrapolated central differences of math.lgamma
    lg = np.vectorize(math.lgamma, otypes=[np.float64])
    d1 = (lg(x + h) - lg(x - h)) / (2 * h)
    d2 = (lg(x + 2 * h) - lg(x - 2 * h)) / (4 * h)
    return (4 * d1 - d2) / 3


@st.composite
def unfold_case(draw):
    rng = _rng(draw)
    shape = draw(shapes(1, 3))
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    n = shape[dim]
    return Case((fill(rng, shape),), {"dimension": dim, "size": draw(st.integers(1, n)),
                                      "step": draw(st.integers(1, 3))})


def _unfold_ref(a, dimension, size, step):
    d = dimension % a.ndim
    n = a.shape[d]
    starts = range(0, n - size + 1, step)
    wins = [np.moveaxis(np.take(a, range(s, s + size), axis=d), d, -1) for s in starts]
    return np.stack(wins, axis=d)


@st.composite
def renorm_case(draw):
    rng = _rng(draw)
    shape = draw(shapes(2, 3))
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    a = fill(rng, shape, "nonzero")
    p = draw(st.sampled_from([1.0, 2.0, 3.0]))
    others = tuple(i for i in range(nd) if i != dim % nd)
    norms = (np.abs(a) ** p).sum(others) ** (1 / p)
    maxnorm = float(np.median(norms))
    assume(np.abs(norms - maxnorm).min() > 0.05 or norms.size == 1)
    return Case((a,), {"p": p, "dim": dim, "maxnorm": maxnorm + 0.01})


def _renorm_ref(a, p, dim, maxnorm):
    d = dim % a.ndim
    others = tuple(i for i in range(a.ndim) if i != d)
    norms = (np.abs(a) ** p).sum(others, keepdims=True) ** (1 / p)
    return a * np.where(norms > maxnorm, maxnorm / (norms + 1e-7), 1.0)


SPECS.update({
    "Lgamma": Spec(gamma_case(), lambda a: a.lgamma(), _lgamma_ref, torch=lambda T, a: a.lgamma(), half=False),
    "Digamma": Spec(gamma_case(), lambda a: engine.digamma(a), _digamma_ref, torch=lambda T, a: a.digamma(),
                    half=False),
})
DERIVED.update({
    "unfold_windows": Spec(unfold_case(), lambda a, dimension, size, step: a.unfold(dimension, size, step),
                           _unfold_ref, torch=lambda T, a, dimension, size, step: a.unfold(dimension, size, step)),
    "renorm": Spec(renorm_case(), lambda a, p, dim, maxnorm: a.renorm(p, dim, maxnorm), _renorm_ref,
                   torch=lambda T, a, p, dim, maxnorm: a.renorm(p, dim, maxnorm)),
    "mvlgamma": Spec(gamma_case().filter(lambda c: c.arrays[0].size == 0 or c.arrays[0].min() > 1.1),
                     lambda a: a.mvlgamma(2),
                     lambda a: _lgamma_ref(a) + _lgamma_ref(a - 0.5) + 0.5 * math.log(math.pi),
                     torch=lambda T, a: a.mvlgamma(2), half=False),
})


# ---- matrix_exp, the tensor solves, embedding_bag -----------------------------------------------------


@st.composite
def expm_case(draw):
    rng = _rng(draw)
    batch = draw(shapes(0, 1, max_side=2))
    n = draw(st.integers(1, 4))
    scale = draw(st.sampled_from([0.3, 1.0, 3.0]))  # 3.0: a few squarings
    return Case((rng.uniform(-1, 1, batch + (n, n)) * scale,), {})


def _expm_ref(a):
    # independent of the engine's Taylor: eigen-decomposition of the (complex) matrix, batch by batch
    out = np.empty_like(a)
    for idx in np.ndindex(*a.shape[:-2]):
        w, v = np.linalg.eig(a[idx])
        out[idx] = (v @ np.diag(np.exp(w)) @ np.linalg.inv(v)).real
    return out


@st.composite
def bag_case(draw):
    rng = _rng(draw)
    rows, d = draw(st.integers(2, 6)), draw(st.integers(1, 3))
    mode = draw(st.sampled_from(["sum", "mean", "max"]))
    w = fill(rng, (rows, d), "distinct")  # max without ties
    if draw(st.booleans()):
        idx = rng.integers(0, rows, (draw(st.integers(1, 3)), draw(st.integers(1, 4))))
        offsets = None
    else:
        idx = rng.integers(0, rows, draw(st.integers(1, 7)))
        offsets = np.sort(np.concatenate([[0], rng.integers(0, len(idx) + 1, draw(st.integers(0, 3)))]))
    if mode == "max":  # a bag's max must be unique per column: distinct rows in a bag
        assume(all(len(set(b)) == len(b) for b in _bags(idx, offsets)))
    return Case((w,), {"index": idx, "offsets": offsets, "mode": mode})


def _bags(idx, offsets):
    if offsets is None:
        return [list(r) for r in idx]
    ends = list(offsets[1:]) + [len(idx)]
    return [list(idx[a:b]) for a, b in zip(offsets, ends)]


def _bag_ref(w, index, offsets, mode):
    out = []
    for b in _bags(index, offsets):
        rows = w[b] if b else np.zeros((0, w.shape[1]))
        if not b:
            out.append(np.zeros(w.shape[1]))
        else:
            out.append({"sum": rows.sum(0), "mean": rows.mean(0), "max": rows.max(0)}[mode])
    return np.array(out).reshape(-1, w.shape[1])


def _bag_fn(w, index, offsets, mode):
    return F.embedding_bag(engine.tensor(index), w, None if offsets is None else engine.tensor(offsets), mode=mode)


def _bag_torch(T, w, index, offsets, mode):
    return T.nn.functional.embedding_bag(T.tensor(index), w, None if offsets is None else T.tensor(offsets),
                                         mode=mode)


DERIVED.update({
    "linalg_matrix_exp": Spec(expm_case(), lambda a: engine.linalg.matrix_exp(a), _expm_ref,
                              torch=lambda T, a: T.linalg.matrix_exp(a), **LINALG),
    "linalg_tensorsolve": Spec(square_case(rhs=True, vector_rhs=True).filter(lambda c: c.arrays[0].ndim == 2),
                               lambda a, b: engine.linalg.tensorsolve(a, b), np.linalg.tensorsolve,
                               torch=lambda T, a, b: T.linalg.tensorsolve(a, b), **LINALG),
    "embedding_bag": Spec(bag_case(), _bag_fn, _bag_ref, torch=_bag_torch),
})


# ---- cov / corrcoef and the *_scatter family ------------------------------------------------------------


@st.composite
def cov_case(draw):
    rng = _rng(draw)
    shape = draw(st.sampled_from([(2, 4), (3, 5), (1, 3), (4,)]))
    return Case((fill(rng, shape),), {"correction": draw(st.sampled_from([0, 1]))})


@st.composite
def scatter_slice_case(draw, kind):
    rng = _rng(draw)
    shape = draw(shapes(2, 3, min_side=2))
    nd = len(shape)
    a = fill(rng, shape)
    if kind == "select":
        dim = draw(st.integers(-nd, nd - 1))
        index = draw(st.integers(-shape[dim], shape[dim] - 1))
        src = fill(rng, tuple(s for i, s in enumerate(shape) if i != dim % nd))
        return Case((a, src), {"dim": dim, "index": index})
    if kind == "slice":
        dim = draw(st.integers(-nd, nd - 1))
        start, step = draw(st.integers(0, shape[dim] - 1)), draw(st.integers(1, 2))
        n = len(range(start, shape[dim], step))
        s = list(shape)
        s[dim] = n
        return Case((a, fill(rng, s)), {"dim": dim, "start": start, "step": step})
    d1, d2 = draw(st.permutations(range(nd)))[:2]
    offset = draw(st.integers(-1, 1))
    diag = np.diagonal(a, offset, d1, d2)
    assume(diag.size > 0)
    return Case((a, fill(rng, diag.shape)), {"offset": offset, "dim1": d1, "dim2": d2})


def _select_scatter_ref(a, src, dim, index):
    out = a.copy()
    idx = [slice(None)] * a.ndim
    idx[dim] = index
    out[tuple(idx)] = src
    return out


def _slice_scatter_ref(a, src, dim, start, step):
    out = a.copy()
    idx = [slice(None)] * a.ndim
    idx[dim] = slice(start, None, step)
    out[tuple(idx)] = src
    return out


def _diagonal_scatter_ref(a, src, offset, dim1, dim2):
    out = np.moveaxis(a.copy(), (dim1, dim2), (-2, -1))
    h, w = out.shape[-2:]
    for k in range(src.shape[-1]):
        i, j = (k, k + offset) if offset >= 0 else (k - offset, k)
        out[..., i, j] = src[..., k]
    return np.moveaxis(out, (-2, -1), (dim1, dim2))


DERIVED.update({
    "cov": Spec(cov_case(), lambda a, correction: engine.cov(a, correction=correction),
                lambda a, correction: np.cov(a, ddof=correction),
                torch=lambda T, a, correction: T.cov(a, correction=correction)),
    "corrcoef": Spec(cov_case().filter(lambda c: c.arrays[0].ndim == 2 and c.arrays[0].shape[0] > 1),
                     lambda a, correction: a.corrcoef(), lambda a, correction: np.corrcoef(a),
                     torch=lambda T, a, correction: a.corrcoef()),
    "select_scatter": Spec(scatter_slice_case("select"),
                           lambda a, s, dim, index: engine.select_scatter(a, s, dim, index), _select_scatter_ref,
                           torch=lambda T, a, s, dim, index: T.select_scatter(a, s, dim, index)),
    "slice_scatter": Spec(scatter_slice_case("slice"),
                          lambda a, s, dim, start, step: a.slice_scatter(s, dim, start, None, step), _slice_scatter_ref,
                          torch=lambda T, a, s, dim, start, step: T.slice_scatter(a, s, dim, start, None, step)),
    "diagonal_scatter": Spec(scatter_slice_case("diagonal"),
                             lambda a, s, offset, dim1, dim2: engine.diagonal_scatter(a, s, offset, dim1, dim2),
                             _diagonal_scatter_ref,
                             torch=lambda T, a, s, offset, dim1, dim2: T.diagonal_scatter(a, s, offset, dim1, dim2)),
})


def _svd_fn(a):
    u, s, vh = engine.linalg.svd(a, full_matrices=False)
    return s, u * u, vh * vh  # squared entries: independent of each singular pair's sign


def _svd_ref(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return s, u * u, vh * vh


def _svd_torch(T, a):
    u, s, vh = T.linalg.svd(a, full_matrices=False)
    return s, u * u, vh * vh


SPECS["SvdPacked"] = Spec(singular_gap_case(), _svd_fn, _svd_ref, torch=_svd_torch, **LINALG)
SPECS["Svdvals"] = Spec(singular_gap_case(), lambda a: engine.linalg.svdvals(a),
                        lambda a: np.linalg.svd(a, compute_uv=False), torch=lambda T, a: T.linalg.svdvals(a), **LINALG)
SPECS["Pinv"] = Spec(singular_gap_case(), lambda a: engine.linalg.pinv(a), np.linalg.pinv,
                     torch=lambda T, a: T.linalg.pinv(a), **LINALG)


@st.composite
def qr_case(draw):
    """Square, tall or wide A of full rank (the wide gradient is torch's m < n branch)."""
    a = draw(square_case(rect=draw(st.booleans()))).arrays[0]
    return Case((np.swapaxes(a, -1, -2).copy() if draw(st.booleans()) else a,), {})


SPECS["QrPacked"] = Spec(qr_case(), lambda a: tuple(engine.linalg.qr(a)), lambda a: tuple(np.linalg.qr(a)),
                         torch=lambda T, a: tuple(T.linalg.qr(a)), **LINALG)


def _lu_factor_ref(a):
    """Plain getrf: partial pivoting on the first largest |entry|, elimination in place."""
    out = np.array(a, dtype=np.float64, copy=True)
    m, n = out.shape[-2:]
    for idx in np.ndindex(*out.shape[:-2]):
        x = out[idx]
        for j in range(min(m, n)):
            p = j + int(np.argmax(np.abs(x[j:, j])))
            x[[j, p]] = x[[p, j]]
            if j + 1 < m:
                x[j + 1:, j] /= x[j, j]
                x[j + 1:, j + 1:] -= np.outer(x[j + 1:, j], x[j, j + 1:])
    return out


@st.composite
def lu_case(draw):
    c = draw(square_case(rect=draw(st.booleans())))
    a = c.arrays[0]
    if draw(st.booleans()):  # wide too
        a = np.swapaxes(a, -1, -2).copy()
    return Case((a,), {})


DERIVED["linalg_lu_factor"] = Spec(lu_case(), lambda a: engine.linalg.lu_factor(a)[0], _lu_factor_ref,
                                   torch=lambda T, a: T.linalg.lu_factor(a)[0], **LINALG)


# ---- the gamma draw (torch._standard_gamma) -----------------------------------------------------------


@st.composite
def standard_gamma_case(draw):
    """One α in [0.2, 3] per case (0-d up to 3-d): the backward is ATen's approximation of ∂x/∂α,
    within 8e-4 of the exact derivative entry by entry (gradcheck's rtol is 1e-3), but a random
    direction's sum over several entries can cancel below gradcheck's absolute floor."""
    shape = draw(shapes(0, 3, max_side=1))
    return Case((fill(_rng(draw), shape, "positive"),), {"seed": draw(SEEDS)})


def _standard_gamma_fn(a, seed):
    engine.manual_seed(seed)  # re-seeded on every call: gradcheck moves α at one fixed u
    return engine._standard_gamma(a)


def _standard_gamma_ref(a, seed, terms=400):
    """x with P(α, x) = u, u the engine's documented stream (default_rng(seed).random): P by its
    series xᵅe⁻ˣ Σ xⁿ/Γ(α+n+1) (math.lgamma), x by bisection on log x."""
    u = np.random.default_rng(seed).random(a.shape, dtype=np.float64)
    lgamma = np.vectorize(math.lgamma, otypes=[np.float64])
    log_gammas = np.stack([lgamma(a + n + 1) for n in range(terms)])

    def p(x):
        n = np.arange(terms).reshape((-1,) + (1,) * a.ndim)
        return np.exp((a + n) * np.log(x) - x - log_gammas).sum(0)

    lo, hi = np.full(a.shape, math.log(1e-300)), np.full(a.shape, math.log(200.0))
    for _ in range(80):
        mid = (lo + hi) / 2
        below = p(np.exp(mid)) < u
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return np.exp((lo + hi) / 2)


SPECS["StandardGamma"] = Spec(standard_gamma_case(), _standard_gamma_fn, _standard_gamma_ref, half=False,
                              ref_devices=("cpu",),
                              torch_skip="torch draws from its own generator (the gradient is compared with "
                                         "torch._standard_gamma_grad in test_parity_distributions_s14.py)")


# ---- the regularized incomplete gamma (torch.special.gammainc / gammaincc) ---------------------------


@st.composite
def gammainc_case(draw):
    """x (the differentiable input, in (0.2, 3)) and a (a parameter: torch has no gradient for it, in
    (0.2, 3)), their shapes broadcasting; the lower P or the upper Q."""
    sx, sa = draw(broadcast_shapes()).input_shapes
    rng = _rng(draw)
    return Case((fill(rng, sx, "positive"),), {"a": fill(rng, sa, "positive"), "upper": draw(st.booleans())})


def _gammainc_fn(x, a, upper):
    a = engine.Tensor(a, device=x.device).to(x.dtype)
    return (engine.special.gammaincc if upper else engine.special.gammainc)(a, x)


def _gammainc_ref(x, a, upper, terms=200):
    """P(a, x) = xᵃ e⁻ˣ Σₙ xⁿ / Γ(a + n + 1) (math.lgamma), Q = 1 − P (x ≤ 3: neither is tiny)."""
    a, x = np.broadcast_arrays(a, x)
    lgamma = np.vectorize(math.lgamma, otypes=[np.float64])
    n = np.arange(terms).reshape((-1,) + (1,) * a.ndim)
    p = np.exp((a + n) * np.log(x) - x - lgamma(a + n + 1)).sum(0)
    return 1 - p if upper else p


SPECS["Gammainc"] = Spec(gammainc_case(), _gammainc_fn, _gammainc_ref, half=False,
                         torch=lambda T, x, a, upper: (T.special.gammaincc if upper else T.special.gammainc)(
                             T.tensor(a, dtype=x.dtype), x))


# ---- torch.special's Cephes family, polygamma, zeta, entr and logit (issue s15) ----------------------


def _series_i(x, order, terms=60):
    """Iₙ(x) = Σₖ (x/2)^(2k+n) / (k! (k+n)!), plain power series (|x| ≤ 3 here)."""
    k = np.arange(terms).reshape((-1,) + (1,) * np.ndim(x))
    log_fact = np.vectorize(math.lgamma, otypes=[np.float64])
    return ((x / 2) ** (2 * k + order) / np.exp(log_fact(k + 1) + log_fact(k + order + 1))).sum(0)


def _hurwitz_ref(s, q, n=60):
    """ζ(s, q): n terms of the sum, then Euler–Maclaurin's integral, half-term and B₂, B₄ corrections."""
    s, q = np.broadcast_arrays(np.asarray(s, dtype=np.float64), q)
    k = np.arange(n).reshape((-1,) + (1,) * np.ndim(q))
    head = ((q + k) ** -s).sum(0)
    m = q + n
    return (head + m ** (1 - s) / (s - 1) + 0.5 * m ** -s + s / 12 * m ** (-s - 1)
            - s * (s + 1) * (s + 2) / 720 * m ** (-s - 3))


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _ndtri_ref(p):
    """Φ⁻¹(p) by bisection on math.erfc."""
    lo, hi = np.full(np.shape(p), -10.0), np.full(np.shape(p), 10.0)
    for _ in range(80):
        mid = (lo + hi) / 2
        below = 0.5 * _erfc(-mid / math.sqrt(2)) < p
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


@st.composite
def unit_case(draw):
    """p in (0.05, 0.95): ndtri's and logit's inner domain."""
    rng = _rng(draw)
    return Case((rng.uniform(0.05, 0.95, draw(shapes(0, 3))),), {})


@st.composite
def polygamma_case(draw):
    """x in (0.2, 3) and an order n in 1..4."""
    rng = _rng(draw)
    return Case((fill(rng, draw(shapes(0, 3)), "positive"),), {"n": draw(st.integers(1, 4))})


@st.composite
def zeta_case(draw):
    """q (the differentiable input, in (0.2, 3)) and x (a parameter in (1.5, 4): torch has no gradient for
    it), their shapes broadcasting."""
    sq, sx = draw(broadcast_shapes()).input_shapes
    rng = _rng(draw)
    return Case((fill(rng, sq, "positive"),), {"x": rng.uniform(1.5, 4, sx)})


def _zeta_fn(q, x):
    return engine.special.zeta(engine.Tensor(x, device=q.device).to(q.dtype), q)


def _polygamma_ref(x, n):
    return (-1) ** (n + 1) * math.factorial(n) * _hurwitz_ref(n + 1.0, x)


SPECS.update({
    "I0": Spec(unary(), lambda a: engine.i0(a), lambda a: _series_i(a, 0), torch=lambda T, a: T.i0(a), half=False),
    "I0e": Spec(unary(), lambda a: engine.special.i0e(a), lambda a: np.exp(-np.abs(a)) * _series_i(a, 0),
                torch=lambda T, a: T.special.i0e(a), half=False),
    "I1": Spec(unary(), lambda a: engine.special.i1(a), lambda a: _series_i(a, 1),
               torch=lambda T, a: T.special.i1(a), half=False),
    "I1e": Spec(unary(), lambda a: engine.special.i1e(a), lambda a: np.exp(-np.abs(a)) * _series_i(a, 1),
                torch=lambda T, a: T.special.i1e(a), half=False),
    "Ndtri": Spec(unit_case(), lambda a: engine.special.ndtri(a), _ndtri_ref,
                  torch=lambda T, a: T.special.ndtri(a), half=False),
    "LogNdtr": Spec(unary(), lambda a: engine.special.log_ndtr(a), lambda a: np.log(0.5 * _erfc(-a / math.sqrt(2))),
                    torch=lambda T, a: T.special.log_ndtr(a), half=False),
    "Erfcx": Spec(unary(), lambda a: engine.special.erfcx(a), lambda a: np.exp(a * a) * _erfc(a),
                  torch=lambda T, a: T.special.erfcx(a), half=False),
    "Polygamma": Spec(polygamma_case(), lambda a, n: engine.polygamma(n, a), _polygamma_ref,
                      torch=lambda T, a, n: T.polygamma(n, a), half=False),
    "Zeta": Spec(zeta_case(), _zeta_fn, lambda q, x: _hurwitz_ref(x, q), half=False,
                 torch=lambda T, q, x: T.special.zeta(T.tensor(x, dtype=q.dtype), q)),
    "Entr": Spec(unary("positive"), lambda a: engine.special.entr(a), lambda a: -a * np.log(a),
                 torch=lambda T, a: T.special.entr(a), half=False),
    "Logit": Spec(unit_case(), lambda a: a.logit(), lambda a: np.log(a / (1 - a)),
                  torch=lambda T, a: a.logit(), half=False),
})
