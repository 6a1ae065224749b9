"""Specs of the shape, indexing and linear-algebra family (torch names): gather/scatter, index_*,
masks, flips and rolls, repeats, diagonals, F.pad's modes, torch's advanced-index placement,
einsum, tensordot and the matrix products.

Refs are plain NumPy (loops over ``np.ndindex`` where NumPy has no such function); ``torch=``
twins call torch under the same names. Index draws keep gradcheck honest: scatter's positions
are unique (its forward keeps one of several writes), amax/amin values are distinct (no ties),
prod's values are nonzero.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from op_specs import MAX_SIDE, SEEDS, Case, Spec, broadcast_shapes, fill, shapes, unary

import engine
import engine.functional as F
from engine import Tensor
from engine.ops.hooks import GradTap


def _rng(draw):
    return np.random.default_rng(draw(SEEDS))


# ---- gather / scatter -----------------------------------------------------------------------------


@st.composite
def scatter_case(draw, unique=False, domain="real", with_src=True, reduce=None):
    """self (shape), index (same ndim, each dim no larger; along ``dim`` any size), src >= index."""
    shape = draw(shapes(1, 3))
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    d = dim % nd
    rng = _rng(draw)
    ishape = [draw(st.integers(1, s)) for s in shape]
    ishape[d] = draw(st.integers(1, shape[d] if unique else MAX_SIDE))
    if unique:  # per column a few distinct positions along dim
        index = np.empty(ishape, dtype=np.int64)
        for pos in np.ndindex(*[s for i, s in enumerate(ishape) if i != d]):
            col = list(pos)
            col.insert(d, slice(None))
            index[tuple(col)] = rng.permutation(shape[d])[: ishape[d]]
    else:
        index = rng.integers(0, shape[d], size=ishape)
    sshape = [s + draw(st.integers(0, 1)) for s in ishape]  # torch reads only src's corner
    arrays = [fill(rng, shape, domain)]
    if with_src:
        arrays.append(fill(rng, sshape, domain))
    if domain == "distinct":  # a and src together distinct (no ties anywhere)
        both = fill(rng, (arrays[0].size + arrays[1].size,), "distinct")
        arrays = [both[: arrays[0].size].reshape(shape), both[arrays[0].size :].reshape(sshape)]
    params = {"dim": dim, "index": index}
    if reduce is not None:
        params.update(reduce=reduce if isinstance(reduce, str) else draw(st.sampled_from(reduce)),
                      include_self=draw(st.booleans()))
    return Case(tuple(arrays), params)


def _cells(index, dim):
    """(position in index, position in self) pairs of torch's scatter/gather rule."""
    d = dim % index.ndim
    for pos in np.ndindex(*index.shape):
        target = list(pos)
        target[d] = index[pos]
        yield pos, tuple(target)


def _scatter_ref(a, src, dim, index, reduce="set", include_self=True):
    out = a.copy()
    if reduce == "set":
        for pos, tgt in _cells(index, dim):
            out[tgt] = src[pos]
        return out
    groups: dict = {}
    for pos, tgt in _cells(index, dim):
        groups.setdefault(tgt, []).append(src[pos])
    for tgt, vals in groups.items():
        vals = ([a[tgt]] if include_self else []) + vals
        out[tgt] = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "amax": np.max, "amin": np.min}[reduce](vals)
    return out


def _gather_ref(a, dim, index):
    out = np.empty(index.shape)
    for pos, src in _cells(index, dim):
        out[pos] = a[src]
    return out


def _t(T, index):
    return T.as_tensor(index)


def _corner(src, index):
    """torch's scatter backward fails for a src larger than index (it reads only that corner)."""
    return src[tuple(slice(0, n) for n in index.shape)]


@st.composite
def gather_case(draw):
    case = draw(scatter_case(with_src=False))
    return case


@st.composite
def take_along_case(draw):
    shape = draw(shapes(1, 3))
    nd = len(shape)
    dim = draw(st.one_of(st.none(), st.integers(-nd, nd - 1)))
    rng = _rng(draw)
    if dim is None:
        index = rng.integers(0, int(np.prod(shape)), size=draw(shapes(1, 2)))
    else:
        ishape = [1 if draw(st.booleans()) else s for s in shape]  # broadcasts against self
        ishape[dim % nd] = draw(st.integers(1, MAX_SIDE))
        index = rng.integers(0, shape[dim % nd], size=ishape)
        if draw(st.booleans()):  # self broadcasts too
            shape = tuple(1 if i != dim % nd and draw(st.booleans()) else s for i, s in enumerate(shape))
            index = rng.integers(0, shape[dim % nd], size=[max(a, b) if i != dim % nd else a
                                                            for i, (a, b) in enumerate(zip(ishape, shape))])
    return Case((fill(rng, shape),), {"indices": index, "dim": dim})


def _take_along_ref(a, indices, dim):
    if dim is None:
        return a.reshape(-1)[indices.reshape(-1)]
    return np.take_along_axis(a, indices, dim)


@st.composite
def index_dim_case(draw, source=False, unique=False, alpha=False):
    shape = draw(shapes(1, 3))
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    n = shape[dim % nd]
    rng = _rng(draw)
    if unique:
        index = rng.permutation(n)[: draw(st.integers(1, n))]
    else:
        index = rng.integers(0, n, size=draw(st.integers(1, MAX_SIDE)))  # torch rejects negative ones
    arrays = [fill(rng, shape)]
    if source:
        sshape = list(shape)
        sshape[dim % nd] = len(index)
        arrays.append(fill(rng, sshape))
    params = {"dim": dim, "index": index}
    if alpha:
        params["alpha"] = draw(st.sampled_from([1, -0.5, 2.0]))
    return Case(tuple(arrays), params)


def _index_add_ref(a, src, dim, index, alpha):
    out = a.copy()
    np.add.at(out, (slice(None),) * (dim % a.ndim) + (index,), alpha * src)
    return out


def _index_copy_ref(a, src, dim, index):
    out = a.copy()
    out[(slice(None),) * (dim % a.ndim) + (index,)] = src
    return out


@st.composite
def mask_case(draw, source=False):
    shape = draw(shapes(0, 3))
    drop = draw(st.integers(0, len(shape)))
    mshape = tuple(1 if draw(st.booleans()) else s for s in shape[drop:])
    rng = _rng(draw)
    mask = rng.random(mshape) < 0.5
    arrays = [fill(rng, shape)]
    if source:
        k = int(np.broadcast_to(mask, shape).sum())
        arrays.append(fill(rng, (k + draw(st.integers(0, 2)),)))
    return Case(tuple(arrays), {"mask": mask})


def _masked_scatter_ref(a, src, mask):
    out = a.copy()
    m = np.broadcast_to(mask, a.shape)
    out[m] = src[: int(m.sum())]
    return out


def _masked_select_ref(a, mask):
    shape = np.broadcast_shapes(a.shape, mask.shape)
    return np.broadcast_to(a, shape)[np.broadcast_to(mask, shape)]


# ---- torch's advanced-index placement -------------------------------------------------------------


@st.composite
def mixed_index_case(draw):
    """Ints, slices, None, ``...``, int arrays (maybe Tensors) and bool masks mixed, as torch places them."""
    shape = draw(shapes(2, 4))
    rng = _rng(draw)
    items, dim = [], 0
    while dim < len(shape):
        kind = draw(st.sampled_from(["int", "slice", "array", "none", "mask"]))
        n = shape[dim]
        if kind == "int":
            items.append(int(rng.integers(-n, n)))
        elif kind == "slice":
            items.append(slice(draw(st.integers(0, n - 1)), None))
        elif kind == "array":
            items.append(("array", rng.integers(-n, n, size=2)))  # same length: the arrays broadcast
        elif kind == "mask":
            m = rng.random(n) < 0.5
            m[rng.integers(n)] = True
            items.append(("mask", m, int(m.sum())))
        else:
            items.append(None)
            continue
        dim += 1
    # bool masks with different counts would not broadcast with the arrays: keep one kind of length
    lengths = {it[2] if it[0] == "mask" else 2 for it in items if isinstance(it, tuple)}
    assume(len(lengths) <= 1)
    if draw(st.booleans()) and len(items) > 1:  # an Ellipsis stands for the last full slices
        cut = draw(st.integers(1, len(items)))
        tail = items[cut:]
        if all(isinstance(i, slice) and i == slice(0, None) for i in tail):
            items = items[:cut] + [Ellipsis]
    index = tuple(it[1] if isinstance(it, tuple) else it for it in items)
    return Case((fill(rng, shape),), {"index": index, "as_tensor": draw(st.booleans())})


def _as_index(index, as_tensor, wrap):
    return tuple(wrap(i) if as_tensor and isinstance(i, np.ndarray) else i for i in index)


def _torch_placement_ref(a, index, as_tensor):
    """Plain NumPy: select every int first (dims counted before the selection), then index the rest."""
    items = list(index)
    at = next((k for k, i in enumerate(items) if i is Ellipsis), None)  # `in` would compare arrays
    if at is not None:
        used = sum(1 for i in items if i is not None and i is not Ellipsis and not (
            isinstance(i, np.ndarray) and i.dtype == bool))
        used += sum(i.ndim for i in items if isinstance(i, np.ndarray) and i.dtype == bool)
        items[at:at + 1] = [slice(None)] * (a.ndim - used)
    out, rest, dim = a, [], 0
    for it in items:
        if it is None:
            out = np.expand_dims(out, dim)
            rest.append(slice(None))
            dim += 1
        elif isinstance(it, int):
            out = np.take(out, it, axis=dim)
        else:
            rest.append(it)
            dim += 1
    return out[tuple(rest)]


# ---- diagonals, pads, grids -----------------------------------------------------------------------


@st.composite
def diagonal_case(draw):
    shape = draw(shapes(2, 4))
    nd = len(shape)
    d1, d2 = draw(st.permutations(range(nd)))[:2]
    d1 -= nd * draw(st.integers(0, 1))
    return Case((fill(_rng(draw), shape),), {"offset": draw(st.integers(-3, 3)), "dim1": d1, "dim2": d2})


@st.composite
def diag_embed_case(draw):
    shape = draw(shapes(1, 3))
    nd = len(shape) + 1
    d1, d2 = draw(st.permutations(range(nd)))[:2]
    return Case((fill(_rng(draw), shape),), {"offset": draw(st.integers(-2, 2)), "dim1": d1, "dim2": d2 - nd})


def _diag_embed_ref(a, offset, dim1, dim2):
    n = a.shape[-1] + abs(offset)
    out = np.zeros((*a.shape[:-1], n, n))
    for i in range(a.shape[-1]):
        r, c = i + max(-offset, 0), i + max(offset, 0)
        out[..., r, c] = a[..., i]
    return np.moveaxis(out, (-2, -1), (dim1, dim2))


@st.composite
def torch_pad_case(draw):
    mode = draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    if mode == "constant":
        shape = draw(shapes(1, 4))
        k = draw(st.integers(1, len(shape)))
    else:
        k = draw(st.integers(1, 3))
        shape = draw(shapes(k + 1, k + 2, min_side=2))
    widths = []
    for d in range(k):
        n = shape[len(shape) - 1 - d]
        lo_bound = -(n // 2) if mode != "reflect" else -(n // 2 - 1 if n > 3 else 0)
        lo = draw(st.integers(lo_bound, 2))
        hi = draw(st.integers(lo_bound, 2))
        left = n + min(lo, 0) + min(hi, 0)  # what is left after cropping
        limit = left - 1 if mode == "reflect" else left
        widths += [min(lo, limit), min(hi, limit)]
    assume(mode != "reflect" or all(w < n for w in widths))
    value = draw(st.sampled_from([None, 1.5])) if mode == "constant" else None
    return Case((fill(_rng(draw), shape),), {"pad": tuple(widths), "mode": mode, "value": value})


def _torch_pad_ref(a, pad, mode, value):
    per = [(a.ndim - 1 - i, pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)]
    crop = [slice(None)] * a.ndim
    grow = [(0, 0)] * a.ndim
    for d, lo, hi in per:
        crop[d] = slice(max(-lo, 0), a.shape[d] - max(-hi, 0))
        grow[d] = (max(lo, 0), max(hi, 0))
    a = a[tuple(crop)]
    if mode == "constant":
        return np.pad(a, grow, constant_values=0.0 if value is None else value)
    return np.pad(a, grow, mode={"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode])


@st.composite
def vectors_case(draw, count=(1, 3)):
    rng = _rng(draw)
    n = draw(st.integers(*count))
    return Case(tuple(fill(rng, (draw(st.integers(1, 4)),)) for _ in range(n)),
                {"indexing": draw(st.sampled_from(["ij", "xy"]))})


# ---- linear algebra -----------------------------------------------------------------------------

EINSUM_TEMPLATES = [
    "ij,jk->ik", "ij,jk", "bij,bjk->bik", "...ij,...jk->...ik", "ii->", "ii", "ii->i", "ij->", "ij->ji", "i,i->",
    "i,j->ij", "iij->j", "bii->bi", "ij,ij->ij", "ijk,ikl->jl", "ba,ab->", "ii,i->i", "...i,i->...", "i...->...",
    "ij,kj->ik", "bhqd,bhkd->bhqk", "a,b,c->abc", "...", "Ab,bA->",
]


@st.composite
def einsum_case(draw):
    eq = draw(st.sampled_from(EINSUM_TEMPLATES))
    letters = sorted(set(eq) - set(".,->"))
    size = {c: draw(st.integers(1, 4)) for c in letters}
    terms = eq.split("->")[0].split(",")
    batch = draw(broadcast_shapes(len(terms), 0, 2)).input_shapes if "..." in eq else [()] * len(terms)
    rng = _rng(draw)
    arrays = []
    for term, b in zip(terms, batch):
        explicit = [size[c] for c in term.replace("...", "")]
        at = term.find("...")
        shape = explicit if at < 0 else [size[c] for c in term[:at]] + list(b) + [size[c] for c in term[at + 3:]]
        arrays.append(fill(rng, shape))
    return Case(tuple(arrays), {"equation": eq, "as_list": draw(st.booleans())})


def _einsum_fn(*ts, equation, as_list):
    return engine.einsum(equation, list(ts)) if as_list else engine.einsum(equation, *ts)


@st.composite
def tensordot_case(draw):
    rng = _rng(draw)
    k = draw(st.integers(0, 2))
    contracted = [draw(st.integers(1, 3)) for _ in range(k)]
    free_a, free_b = draw(shapes(0, 2, max_side=3)), draw(shapes(0, 2, max_side=3))
    if draw(st.booleans()):
        return Case((fill(rng, (*free_a, *contracted)), fill(rng, (*contracted, *free_b))), {"dims": k})
    pa = draw(st.permutations(range(len(free_a) + k)))
    pb = draw(st.permutations(range(len(free_b) + k)))
    sa, sb = [*free_a, *contracted], [*contracted, *free_b]
    a = np.transpose(fill(rng, sa), pa)
    b = np.transpose(fill(rng, sb), pb)
    da = [list(pa).index(len(free_a) + i) for i in range(k)]
    db = [list(pb).index(i) for i in range(k)]
    return Case((np.ascontiguousarray(a), np.ascontiguousarray(b)), {"dims": (da, db)})


@st.composite
def matrices_case(draw, kind):
    rng = _rng(draw)
    n, k, m, b = (draw(st.integers(1, 4)) for _ in range(4))
    shapes_for = {
        "mm": [(n, k), (k, m)], "bmm": [(b, n, k), (b, k, m)], "mv": [(n, k), (k,)], "dot": [(k,), (k,)],
        "outer": [(n,), (m,)], "addmm": [(n, m) if draw(st.booleans()) else (m,), (n, k), (k, m)],
        "baddbmm": [(b, n, m), (b, n, k), (b, k, m)],
        "kron": [draw(shapes(0, 3, max_side=3)), draw(shapes(0, 3, max_side=3))],
    }[kind]
    params = {}
    if kind in ("addmm", "baddbmm"):
        params = {"beta": draw(st.sampled_from([1, 0.5])), "alpha": draw(st.sampled_from([1, -2.0]))}
    return Case(tuple(fill(rng, s) for s in shapes_for), params)


def _kron_ref(a, b):
    return np.kron(a, b)


# ---- movement -------------------------------------------------------------------------------------


@st.composite
def dims_case(draw, min_dims=1, allow_none=False):
    shape = draw(shapes(min_dims, 4))
    nd = len(shape)
    dims = tuple(draw(st.lists(st.integers(-nd, nd - 1), max_size=nd, unique_by=lambda d: d % nd)))
    return Case((fill(_rng(draw), shape),), {"dims": dims})


@st.composite
def roll_case(draw):
    shape = draw(shapes(0, 4))
    nd = len(shape)
    if nd == 0 or draw(st.booleans()):
        return Case((fill(_rng(draw), shape),), {"shifts": draw(st.integers(-7, 7)), "dims": None})
    dims = draw(st.lists(st.integers(-nd, nd - 1), min_size=1, max_size=3))
    shifts = [draw(st.integers(-7, 7)) for _ in dims]
    return Case((fill(_rng(draw), shape),), {"shifts": tuple(shifts), "dims": tuple(dims)})


def _roll_ref(a, shifts, dims):
    return np.roll(a, shifts, axis=dims)


@st.composite
def repeat_case(draw):
    shape = draw(shapes(0, 3, max_side=3))
    extra = draw(st.integers(0, 2))
    sizes = tuple(draw(st.integers(0 if draw(st.booleans()) else 1, 3)) for _ in range(len(shape) + extra))
    assume(sizes)
    return Case((fill(_rng(draw), shape),), {"sizes": sizes})


@st.composite
def tile_case(draw):
    shape = draw(shapes(0, 3, max_side=3))
    dims = tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(1, 4))))
    return Case((fill(_rng(draw), shape),), {"dims": dims})


@st.composite
def repeat_interleave_case(draw):
    shape = draw(shapes(0, 3))
    nd = len(shape)
    dim = draw(st.one_of(st.none(), st.integers(-nd, nd - 1))) if nd else None
    n = int(np.prod(shape)) if dim is None else shape[dim]
    rng = _rng(draw)
    if draw(st.booleans()):
        repeats = draw(st.integers(0, 3))
    else:
        repeats = rng.integers(0, 3, size=n)
    return Case((fill(rng, shape),), {"repeats": repeats, "dim": dim})


def _repeat_interleave_torch(T, a, repeats, dim):
    r = T.as_tensor(repeats) if isinstance(repeats, np.ndarray) else repeats
    return T.repeat_interleave(a, r, dim=dim)


@st.composite
def movedim_case(draw):
    shape = draw(shapes(1, 4))
    nd = len(shape)
    k = draw(st.integers(1, nd))
    src = draw(st.permutations(range(nd)))[:k]
    dst = draw(st.permutations(range(nd)))[:k]
    if k == 1 and draw(st.booleans()):
        return Case((fill(_rng(draw), shape),), {"source": src[0] - nd, "destination": dst[0]})
    return Case((fill(_rng(draw), shape),), {"source": tuple(src), "destination": tuple(dst)})


@st.composite
def narrow_case(draw):
    shape = draw(shapes(1, 4))
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    n = shape[dim]
    start = draw(st.integers(0, n))
    length = draw(st.integers(0, n - start))
    if draw(st.booleans()) and start < n:
        start -= n
    return Case((fill(_rng(draw), shape),), {"dim": dim, "start": start, "length": length})


def _narrow_ref(a, dim, start, length):
    start %= a.shape[dim] if start < 0 else a.shape[dim] + 1
    return np.take(a, np.arange(start, start + length), axis=dim)


@st.composite
def torch_squeeze_case(draw):
    """Any dims, sizes 1 or not (torch leaves a named dim of size != 1 alone)."""
    shape = tuple(1 if draw(st.booleans()) else s for s in draw(shapes(0, 4)))
    nd = len(shape)
    if nd == 0:
        dim = draw(st.sampled_from([None, 0, -1]))
    else:
        dim = draw(st.one_of(st.none(), st.integers(-nd, nd - 1),
                             st.lists(st.integers(0, nd - 1), unique=True).map(tuple)))
    return Case((fill(_rng(draw), shape),), {"dim": dim})


def _torch_squeeze_ref(a, dim):
    if dim is None:
        return np.squeeze(a)
    dims = (dim,) if isinstance(dim, int) else dim
    dims = tuple(d % max(a.ndim, 1) for d in dims)
    return np.squeeze(a, tuple(d for d in dims if a.ndim and a.shape[d] == 1))


@st.composite
def split_dim_case(draw, kind):
    shape = draw(shapes(1, 4))
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    n = shape[dim]
    rng = _rng(draw)
    if kind == "chunk":
        arg = draw(st.integers(1, 6))
    elif kind == "tensor_split":
        arg = draw(st.one_of(st.integers(1, 6), st.lists(st.integers(-n, n + 1), max_size=3).map(tuple)))
    else:
        arg = draw(st.integers(1, n + 1))
    return Case((fill(rng, shape),), {"arg": arg, "dim": dim})


def _tensor_split_ref(a, arg, dim):
    return tuple(np.array_split(a, arg if isinstance(arg, int) else list(arg), axis=dim))


def _chunk_ref(a, arg, dim):
    n = a.shape[dim]
    size = -(-n // arg)
    return tuple(np.split(a, list(range(size, n, size)), axis=dim))


@st.composite
def cat_case(draw, stack=False):
    shape = draw(shapes(0 if stack else 1, 3))
    nd = len(shape)
    dim = draw(st.integers(-nd - 1, nd) if stack else st.integers(-nd, nd - 1))
    rng = _rng(draw)
    arrays = []
    for _ in range(draw(st.integers(1, 3))):
        s = list(shape)
        if not stack:
            s[dim] = draw(st.integers(1, 3))
        arrays.append(fill(rng, s))
    return Case(tuple(arrays), {"dim": dim})


@st.composite
def hvstack_case(draw, joined_dim: int = 1):
    """1 to 3 arrays of one shape except along ``joined_dim`` (hstack joins dim 1, vstack dim 0;
    1-D and 0-d inputs all share one shape, as both functions need)."""
    shape = draw(shapes(0, 3, max_side=3))
    rng = _rng(draw)
    arrays = []
    for _ in range(draw(st.integers(1, 3))):
        s = list(shape)
        if len(s) >= 2:
            s[joined_dim] = draw(st.integers(1, 3))
        arrays.append(fill(rng, s))
    return Case(tuple(arrays), {})


@st.composite
def setitem_case(draw):
    """a (1-3 dims) and the value written at an index of it: an int, a slice, unique ints (an
    advanced index) or a bool mask on dim 0, with a value of the selected shape or one that
    broadcasts to it (its trailing dims)."""
    shape = draw(shapes(1, 3))
    rng = _rng(draw)
    n = shape[0]
    kind = draw(st.sampled_from(["int", "slice", "ints", "mask"]))
    if kind == "int":
        index = draw(st.integers(-n, n - 1))
    elif kind == "slice":
        lo = draw(st.integers(0, n - 1))
        index = (slice(lo, draw(st.integers(lo + 1, n))),)
    elif kind == "ints":
        index = rng.permutation(n)[: draw(st.integers(1, n))]
    else:
        index = rng.random(shape) < 0.5
    selected = np.zeros(shape)[index].shape
    vshape = selected[draw(st.integers(0, len(selected))):]  # trailing dims: broadcast over the rest
    return Case((fill(rng, shape), fill(rng, vshape)), {"index": index})


@st.composite
def as_strided_case(draw, scatter=False):
    """A window (size, stride, storage_offset) inside a contiguous input of ``shape`` (its storage is its
    numel); ``scatter``: a src of the window's size, the window's positions distinct (its writes are
    then all kept, so its gradient is the true one)."""
    size = tuple(draw(st.lists(st.integers(0 if not scatter else 1, 3), min_size=0, max_size=3)))
    stride = tuple(draw(st.lists(st.integers(0, 3), min_size=len(size), max_size=len(size))))
    span = 1 + sum((n - 1) * st_ for n, st_ in zip(size, stride)) if 0 not in size else 0
    offset = draw(st.integers(0, 3))
    numel = max(span + offset, 1) + draw(st.integers(0, 2))
    shape = draw(st.sampled_from([(numel,), (1, numel), (numel, 1)]))
    rng = _rng(draw)
    params = {"size": size, "stride": stride, "storage_offset": offset}
    if not scatter:
        return Case((fill(rng, shape),), params)
    from engine.storage import positions

    pos = positions(size, stride, offset)
    assume(np.unique(pos).size == pos.size)
    return Case((fill(rng, shape), fill(rng, size)), params)


def _as_strided_ref(a, size, stride, storage_offset):
    from engine.storage import positions

    return a.reshape(-1)[positions(size, stride, storage_offset)]


def _as_strided_scatter_ref(a, src, size, stride, storage_offset):
    from engine.storage import positions

    out = a.copy().reshape(-1)
    out[positions(size, stride, storage_offset)] = src
    return out.reshape(a.shape)


def _setitem_fn(a, v, index):
    y = a * 1  # a non-leaf: the assignment is recorded in the graph
    y[index] = v
    return y


def _setitem_ref(a, v, index):
    out = a.copy()
    out[index] = v
    return out


SPECS: dict[str, Spec] = {
    # a window on the input's storage (its own memory here: the leaves are contiguous), as torch's
    "AsStrided": Spec(as_strided_case(), lambda a, **kw: engine.as_strided(a, **kw), _as_strided_ref,
                      torch=lambda T, a, **kw: T.as_strided(a, **kw)),
    "AsStridedScatter": Spec(as_strided_case(scatter=True), lambda a, src, **kw: engine.as_strided_scatter(a, src,
                                                                                                          **kw),
                             _as_strided_scatter_ref,
                             torch_skip="torch's gradient for input is wrong (its OpInfo xfails test_fn_grad); "
                                        "tests/engine/test_parity_missing_s16.py compares the values and src's"),
    # the diagonal is a strided view of its input (Diagonal), as torch's
    "Diagonal": Spec(diagonal_case(), lambda a, offset, dim1, dim2: a.diagonal(offset, dim1, dim2),
                     lambda a, offset, dim1, dim2: np.diagonal(a, offset, dim1, dim2),
                     torch=lambda T, a, offset, dim1, dim2: T.diagonal(a, offset, dim1, dim2)),
    "SetItem": Spec(setitem_case(), _setitem_fn, _setitem_ref,
                    torch=lambda T, a, v, index: _setitem_fn(a, v, index if isinstance(index, (int, tuple))
                                                             else T.from_numpy(index))),
    "GradTap": Spec(unary(), lambda a: GradTap.apply(a, on_grad=lambda g: None), lambda a: a,
                    torch_skip="the identity; torch's nearest is Tensor.register_hook"),
    "IndexPut": Spec(
        scatter_case(unique=True), lambda a, src, dim, index: a.scatter(dim, Tensor(index), src),
        lambda a, src, dim, index: _scatter_ref(a, src, dim, index),
        torch=lambda T, a, src, dim, index: a.scatter(dim, _t(T, index), _corner(src, index)),
    ),
    "IndexAccumulate": Spec(
        scatter_case(), lambda a, src, dim, index: engine.scatter_add(a, dim, index, src),
        lambda a, src, dim, index: _scatter_ref(a, src, dim, index, "sum"),
        torch=lambda T, a, src, dim, index: T.scatter_add(a, dim, _t(T, index), _corner(src, index)),
    ),
    "ScatterReduce": Spec(
        st.one_of(scatter_case(domain="distinct", reduce=("amax", "amin")),
                  scatter_case(domain="nonzero", reduce="prod")),
        lambda a, src, dim, index, reduce, include_self: a.scatter_reduce(dim, index, src, reduce,
                                                                          include_self=include_self),
        lambda a, src, **kw: _scatter_ref(a, src, **kw),
        torch=lambda T, a, src, dim, index, reduce, include_self: a.scatter_reduce(
            dim, _t(T, index), _corner(src, index), reduce, include_self=include_self),
    ),
    "Einsum": Spec(einsum_case(), _einsum_fn, lambda *a, equation, as_list: np.einsum(equation, *a),
                   torch=lambda T, *a, equation, as_list: T.einsum(equation, *a)),
}


def _pad_fn(a, pad, mode, value):
    return F.pad(a, pad, mode=mode, value=value)


DERIVED: dict[str, Spec] = {
    # gather / scatter / index / masks
    "gather": Spec(gather_case(), lambda a, dim, index: a.gather(dim, Tensor(index)), _gather_ref,
                   torch=lambda T, a, dim, index: T.gather(a, dim, _t(T, index))),
    "scatter_value": Spec(
        scatter_case(with_src=False), lambda a, dim, index: engine.scatter(a, dim, index, value=2.5),
        lambda a, dim, index: _scatter_ref(a, np.full(index.shape, 2.5), dim, index),
        torch=lambda T, a, dim, index: a.scatter(dim, _t(T, index), value=2.5),
    ),
    "scatter_reduce_sum_mean": Spec(
        scatter_case(reduce=("sum", "mean")),
        lambda a, src, dim, index, reduce, include_self: engine.scatter_reduce(a, dim, Tensor(index), src, reduce,
                                                                               include_self=include_self),
        lambda a, src, **kw: _scatter_ref(a, src, **kw),
        torch=lambda T, a, src, dim, index, reduce, include_self: a.scatter_reduce(
            dim, _t(T, index), _corner(src, index), reduce, include_self=include_self),
    ),
    "take_along_dim": Spec(take_along_case(), lambda a, indices, dim: engine.take_along_dim(a, Tensor(indices), dim),
                           _take_along_ref,
                           torch=lambda T, a, indices, dim: T.take_along_dim(a, _t(T, indices), dim)),
    "take": Spec(take_along_case().filter(lambda c: c.params["dim"] is None),
                 lambda a, indices, dim: engine.take(a, indices), lambda a, indices, dim: np.take(a, indices),
                 torch=lambda T, a, indices, dim: T.take(a, _t(T, indices))),
    "index_select": Spec(index_dim_case(), lambda a, dim, index: engine.index_select(a, dim, Tensor(index)),
                         lambda a, dim, index: np.take(a, index, axis=dim),
                         torch=lambda T, a, dim, index: T.index_select(a, dim, _t(T, index))),
    "index_add": Spec(index_dim_case(source=True, alpha=True),
                      lambda a, src, dim, index, alpha: a.index_add(dim, Tensor(index), src, alpha=alpha),
                      _index_add_ref,
                      torch=lambda T, a, src, dim, index, alpha: a.index_add(dim, _t(T, index), src, alpha=alpha)),
    "index_copy": Spec(index_dim_case(source=True, unique=True),
                       lambda a, src, dim, index: a.index_copy(dim, Tensor(index), src), _index_copy_ref,
                       torch=lambda T, a, src, dim, index: a.index_copy(dim, _t(T, index) % a.shape[dim], src)),
    "index_fill": Spec(index_dim_case(), lambda a, dim, index: a.index_fill(dim, Tensor(index), -1.5),
                       lambda a, dim, index: _index_copy_ref(a, np.float64(-1.5), dim, index),
                       torch=lambda T, a, dim, index: a.index_fill(dim, _t(T, index), -1.5)),
    "masked_select": Spec(mask_case(), lambda a, mask: engine.masked_select(a, Tensor(mask)), _masked_select_ref,
                          torch=lambda T, a, mask: T.masked_select(a, T.as_tensor(mask))),
    "masked_scatter": Spec(mask_case(source=True), lambda a, src, mask: a.masked_scatter(Tensor(mask), src),
                           _masked_scatter_ref,
                           torch=lambda T, a, src, mask: a.masked_scatter(T.as_tensor(mask), src)),
    "masked_fill_0d_tensor_value": Spec(
        mask_case(source=False).map(lambda c: Case((*c.arrays, np.array(0.75)), c.params)),
        lambda a, v, mask: a.masked_fill(Tensor(mask), v), lambda a, v, mask: np.where(mask, v, a),
        torch=lambda T, a, v, mask: a.masked_fill(T.as_tensor(mask), v),
    ),
    "where_scalar_input": Spec(
        mask_case(), lambda a, mask: engine.where(Tensor(mask), 2.0, a), lambda a, mask: np.where(mask, 2.0, a),
        torch=lambda T, a, mask: T.where(T.as_tensor(mask), 2.0, a),
    ),
    "getitem_torch_placement": Spec(
        mixed_index_case(), lambda a, index, as_tensor: a[_as_index(index, as_tensor, Tensor)],
        _torch_placement_ref,
        torch=lambda T, a, index, as_tensor: a[_as_index(index, True, T.as_tensor)],
    ),
    # diagonals and triangles
    "diag_embed": Spec(diag_embed_case(), lambda a, offset, dim1, dim2: engine.diag_embed(a, offset, dim1, dim2),
                       _diag_embed_ref,
                       torch=lambda T, a, offset, dim1, dim2: T.diag_embed(a, offset, dim1, dim2)),
    # diag of a matrix (its diagonal) and of a vector (dim1 odd: the matrix flattened first)
    "diag": Spec(diagonal_case().filter(lambda c: c.arrays[0].ndim == 2),
                 lambda a, offset, dim1, dim2: engine.diag(a.flatten() if dim1 % 2 else a, offset),
                 lambda a, offset, dim1, dim2: np.diag(a.reshape(-1) if dim1 % 2 else a, offset),
                 torch=lambda T, a, offset, dim1, dim2: T.diag(a.flatten() if dim1 % 2 else a, offset)),
    "trace": Spec(diagonal_case().filter(lambda c: c.arrays[0].ndim == 2), lambda a, **kw: engine.trace(a),
                  lambda a, **kw: np.trace(a), torch=lambda T, a, **kw: T.trace(a)),
    "tril_diagonal_kw": Spec(diagonal_case(), lambda a, offset, **kw: engine.tril(a, diagonal=offset),
                             lambda a, offset, **kw: np.tril(a, offset),
                             torch=lambda T, a, offset, **kw: T.tril(a, diagonal=offset)),
    "triu_diagonal_kw": Spec(diagonal_case(), lambda a, offset, **kw: a.triu(diagonal=offset),
                             lambda a, offset, **kw: np.triu(a, offset),
                             torch=lambda T, a, offset, **kw: T.triu(a, diagonal=offset)),
    # pads and grids
    "F_pad_modes": Spec(torch_pad_case(), _pad_fn, _torch_pad_ref,
                        torch=lambda T, a, pad, mode, value: T.nn.functional.pad(a, pad, mode=mode, value=value)),
    "meshgrid": Spec(vectors_case(), lambda *ts, indexing: engine.meshgrid(*ts, indexing=indexing),
                     lambda *a, indexing: tuple(np.meshgrid(*a, indexing=indexing)),
                     torch=lambda T, *ts, indexing: T.meshgrid(*ts, indexing=indexing)),
    "cartesian_prod": Spec(vectors_case(), lambda *ts, indexing: engine.cartesian_prod(*ts),
                           lambda *a, indexing: np.array(list(itertools.product(*a))).reshape(
                               -1, len(a)).squeeze(-1 if len(a) == 1 else ()),
                           torch=lambda T, *ts, indexing: T.cartesian_prod(*ts)),
    # linear algebra
    "tensordot": Spec(tensordot_case(), lambda a, b, dims: engine.tensordot(a, b, dims=dims),
                      lambda a, b, dims: np.tensordot(a, b, axes=dims),
                      torch=lambda T, a, b, dims: T.tensordot(a, b, dims=dims)),
    "mm": Spec(matrices_case("mm"), engine.mm, np.matmul, torch=lambda T, a, b: T.mm(a, b)),
    "bmm": Spec(matrices_case("bmm"), engine.bmm, np.matmul, torch=lambda T, a, b: T.bmm(a, b)),
    "mv": Spec(matrices_case("mv"), engine.mv, np.matmul, torch=lambda T, a, b: T.mv(a, b)),
    "dot": Spec(matrices_case("dot"), engine.dot, np.dot, torch=lambda T, a, b: T.dot(a, b)),
    "vdot": Spec(matrices_case("dot"), engine.vdot, np.vdot, torch=lambda T, a, b: T.vdot(a, b)),
    "outer": Spec(matrices_case("outer"), engine.outer, np.outer, torch=lambda T, a, b: T.outer(a, b)),
    "ger": Spec(matrices_case("outer"), lambda a, b: a.ger(b), np.outer, torch=lambda T, a, b: T.outer(a, b)),
    "addmm": Spec(matrices_case("addmm"), lambda c, a, b, beta, alpha: engine.addmm(c, a, b, beta=beta, alpha=alpha),
                  lambda c, a, b, beta, alpha: beta * c + alpha * (a @ b),
                  torch=lambda T, c, a, b, beta, alpha: T.addmm(c, a, b, beta=beta, alpha=alpha)),
    "baddbmm": Spec(matrices_case("baddbmm"),
                    lambda c, a, b, beta, alpha: c.baddbmm(a, b, beta=beta, alpha=alpha),
                    lambda c, a, b, beta, alpha: beta * c + alpha * (a @ b),
                    torch=lambda T, c, a, b, beta, alpha: T.baddbmm(c, a, b, beta=beta, alpha=alpha)),
    "kron": Spec(matrices_case("kron"), engine.kron, _kron_ref, torch=lambda T, a, b: T.kron(a, b)),
    "matmul_function": Spec(matrices_case("bmm"), engine.matmul, np.matmul, torch=lambda T, a, b: T.matmul(a, b)),
    # movement
    "cat_dim": Spec(cat_case(), lambda *ts, dim: engine.cat(ts, dim=dim),
                    lambda *a, dim: np.concatenate(a, dim), torch=lambda T, *ts, dim: T.cat(ts, dim=dim)),
    "stack_dim": Spec(cat_case(stack=True), lambda *ts, dim: engine.stack(list(ts), dim=dim),
                      lambda *a, dim: np.stack(a, dim), torch=lambda T, *ts, dim: T.stack(ts, dim=dim)),
    "hstack": Spec(hvstack_case(), lambda *ts: engine.hstack(ts), lambda *a: np.hstack(a),
                   torch=lambda T, *ts: T.hstack(ts)),
    "vstack": Spec(hvstack_case(joined_dim=0), lambda *ts: engine.vstack(ts), lambda *a: np.vstack(a),
                   torch=lambda T, *ts: T.vstack(ts)),
    "split_dim": Spec(split_dim_case("split"), lambda a, arg, dim: tuple(engine.split(a, arg, dim=dim)),
                      lambda a, arg, dim: tuple(np.split(a, list(range(arg, a.shape[dim], arg)), axis=dim)),
                      torch=lambda T, a, arg, dim: T.split(a, arg, dim=dim)),
    "chunk_torch": Spec(split_dim_case("chunk"), lambda a, arg, dim: tuple(engine.chunk(a, arg, dim=dim)), _chunk_ref,
                        torch=lambda T, a, arg, dim: T.chunk(a, arg, dim=dim)),
    "tensor_split": Spec(split_dim_case("tensor_split"), lambda a, arg, dim: tuple(a.tensor_split(arg, dim)),
                         _tensor_split_ref, torch=lambda T, a, arg, dim: T.tensor_split(a, arg, dim)),
    "unbind": Spec(split_dim_case("split"), lambda a, arg, dim: engine.unbind(a, dim),
                   lambda a, arg, dim: tuple(np.moveaxis(a, dim, 0)), torch=lambda T, a, arg, dim: T.unbind(a, dim)),
    "flip": Spec(dims_case(), lambda a, dims: engine.flip(a, dims), lambda a, dims: np.flip(a, dims) if dims else a,
                 torch=lambda T, a, dims: T.flip(a, dims)),
    "fliplr": Spec(dims_case(min_dims=2), lambda a, dims: a.fliplr(), lambda a, dims: np.fliplr(a),
                   torch=lambda T, a, dims: T.fliplr(a)),
    "flipud": Spec(dims_case(), lambda a, dims: engine.flipud(a), lambda a, dims: np.flipud(a),
                   torch=lambda T, a, dims: T.flipud(a)),
    "roll": Spec(roll_case(), lambda a, shifts, dims: engine.roll(a, shifts, dims), _roll_ref,
                 torch=lambda T, a, shifts, dims: T.roll(a, shifts, dims)),
    "repeat": Spec(repeat_case(), lambda a, sizes: a.repeat(*sizes), lambda a, sizes: np.tile(a, sizes),
                   torch=lambda T, a, sizes: a.repeat(*sizes)),
    "tile": Spec(tile_case(), lambda a, dims: engine.tile(a, dims), lambda a, dims: np.tile(a, dims),
                 torch=lambda T, a, dims: T.tile(a, dims)),
    "repeat_interleave": Spec(
        repeat_interleave_case(),
        lambda a, repeats, dim: a.repeat_interleave(Tensor(repeats) if isinstance(repeats, np.ndarray) else repeats,
                                                    dim),
        lambda a, repeats, dim: np.repeat(a, repeats, axis=dim), torch=_repeat_interleave_torch,
    ),
    "movedim": Spec(movedim_case(), lambda a, source, destination: engine.movedim(a, source, destination),
                    lambda a, source, destination: np.moveaxis(a, source, destination),
                    torch=lambda T, a, source, destination: T.movedim(a, source, destination)),
    "narrow": Spec(narrow_case(), lambda a, dim, start, length: engine.narrow(a, dim, start, length), _narrow_ref,
                   torch=lambda T, a, dim, start, length: T.narrow(a, dim, start, length)),
    "squeeze_torch": Spec(torch_squeeze_case(), lambda a, dim: a.squeeze(dim), _torch_squeeze_ref,
                          torch=lambda T, a, dim: a.squeeze() if dim is None else a.squeeze(dim)),
    "unflatten": Spec(
        dims_case().map(lambda c: Case(c.arrays, {"dim": -1, "sizes": (1, -1, 1)})),
        lambda a, dim, sizes: engine.unflatten(a, dim, sizes),
        lambda a, dim, sizes: a.reshape(*a.shape[:-1], 1, a.shape[-1], 1),
        torch=lambda T, a, dim, sizes: T.unflatten(a, dim, sizes),
    ),
    "t": Spec(dims_case().filter(lambda c: c.arrays[0].ndim <= 2), lambda a, dims: engine.t(a),
              lambda a, dims: a.T, torch=lambda T, a, dims: T.t(a)),
    "mT": Spec(dims_case(min_dims=2), lambda a, dims: a.mT, lambda a, dims: np.swapaxes(a, -1, -2),
               torch=lambda T, a, dims: a.mT),
    "expand_as_view_as": Spec(
        dims_case(), lambda a, dims: a.expand_as(Tensor.zeros(2, *a.shape)).view_as(Tensor.zeros(2, a.numel())),
        lambda a, dims: np.broadcast_to(a, (2, *a.shape)).reshape(2, -1),
        torch=lambda T, a, dims: a.expand_as(T.zeros(2, *a.shape)).view_as(T.zeros(2, a.numel())),
    ),
}
