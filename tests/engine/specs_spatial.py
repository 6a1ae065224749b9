"""Specs for convolution, pooling and resampling (engine/ops/spatial.py and the F.* built on them).

Every ``ref`` here is a direct loop over output positions in float64 NumPy (no im2col, no
matrices), written from torch's documented formulas, so it checks the engine's vectorised
im2col/col2im and resampling matrices independently. Shapes stay tiny (batch <= 2, channels
<= 3, sides <= 6) so the float64 gradchecks are fast. Max-pool inputs are "distinct" (no
ties within a gap), and dilated max pools use no padding, so no window is only padding.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import strategies as st
from op_specs import SEEDS, Case, Spec, fill

import engine.functional as F

# ---- shared pieces -------------------------------------------------------------------------------


def _ints(draw, lo, hi, n):
    return tuple(draw(st.integers(lo, hi)) for _ in range(n))


def _pad_pairs(padding, kernel, dilation, nd):
    """F.conv*'s padding argument as (lo, hi) pairs, as torch resolves it."""
    if padding == "valid":
        return [(0, 0)] * nd
    if padding == "same":
        return [((d * (k - 1)) // 2, d * (k - 1) - (d * (k - 1)) // 2) for k, d in zip(kernel, dilation)]
    p = (padding,) * nd if isinstance(padding, int) else padding
    return [(v, v) for v in p]


def _windows(out, stride, dilation, kernel, starts=None):
    """For each output position: the slices of a padded array that its window reads."""
    for pos in itertools.product(*(range(o) for o in out)):
        yield pos, tuple(slice(p * s, p * s + d * (k - 1) + 1, d) for p, s, d, k in zip(pos, stride, dilation, kernel))


# ---- convolution ---------------------------------------------------------------------------------


@st.composite
def conv_case(draw, nd=None, depthwise=False, bias=None):
    nd = nd or draw(st.integers(1, 2))
    g = draw(st.integers(1, 3))
    cg, og = (1, draw(st.integers(1, 2))) if depthwise else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    kernel = _ints(draw, 1, 3, nd)
    dilation = _ints(draw, 1, 2, nd)
    form = draw(st.sampled_from(["int", "tuple", "same", "valid"]))
    stride = (1,) * nd if form == "same" else _ints(draw, 1, 3, nd)
    padding = {"int": draw(st.integers(0, 2)), "tuple": _ints(draw, 0, 2, nd), "same": "same", "valid": "valid"}[form]
    pads = _pad_pairs(padding, kernel, dilation, nd)
    side = 6 if nd < 3 else 4
    size = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - lo - hi), max(side, d * (k - 1) + 1)))
                 for k, d, (lo, hi) in zip(kernel, dilation, pads))
    rng = np.random.default_rng(draw(SEEDS))
    n = draw(st.integers(1, 2))
    has_bias = draw(st.booleans()) if bias is None else bias
    arrays = (fill(rng, (n, g * cg, *size)), fill(rng, (g * og, cg, *kernel)))
    if has_bias:
        arrays += (fill(rng, (g * og,)),)
    return Case(arrays, {"stride": stride, "padding": padding, "dilation": dilation, "groups": g})


def _conv_ref(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    nd = x.ndim - 2
    kernel = w.shape[2:]
    pads = _pad_pairs(padding, kernel, dilation, nd)
    xp = np.pad(x, [(0, 0), (0, 0), *pads])
    out = [(n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(xp.shape[2:], kernel, stride, dilation)]
    o, cg = w.shape[:2]
    og = o // groups
    y = np.zeros((x.shape[0], o, *out))
    for pos, win in _windows(out, stride, dilation, kernel):
        patch = xp[(slice(None), slice(None), *win)]  # (N, C, *K)
        for g in range(groups):
            a = patch[:, g * cg:(g + 1) * cg].reshape(x.shape[0], -1)
            m = w[g * og:(g + 1) * og].reshape(og, -1)
            y[(slice(None), slice(g * og, (g + 1) * og), *pos)] = a @ m.T
    if b is not None:
        y += b.reshape(-1, *(1,) * nd)
    return y


def _conv_fn(x, w, b=None, **kw):
    return getattr(F, f"conv{x.ndim - 2}d")(x, w, b, **kw)


def _torch_conv(T, x, w, b=None, **kw):
    return getattr(T.nn.functional, f"conv{x.ndim - 2}d")(x, w, b, **kw)


@st.composite
def conv_transpose_case(draw, nd=None):
    nd = nd or draw(st.integers(1, 2))
    g = draw(st.integers(1, 3))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = _ints(draw, 1, 3, nd)
    stride = _ints(draw, 1, 3, nd)
    dilation = _ints(draw, 1, 2, nd)
    opad = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    size = _ints(draw, 1, 4 if nd < 3 else 2, nd)
    padding = tuple(draw(st.integers(0, ((n - 1) * s + d * (k - 1) + q) // 2))
                    for n, s, d, k, q in zip(size, stride, dilation, kernel, opad))
    rng = np.random.default_rng(draw(SEEDS))
    n = draw(st.integers(1, 2))
    arrays = (fill(rng, (n, g * cg, *size)), fill(rng, (g * cg, og, *kernel)))
    if draw(st.booleans()):
        arrays += (fill(rng, (g * og,)),)
    return Case(arrays, {"stride": stride, "padding": padding, "output_padding": opad, "groups": g,
                         "dilation": dilation})


def _conv_transpose_ref(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    nd = x.ndim - 2
    kernel = w.shape[2:]
    cin, og = w.shape[:2]
    cg = cin // groups
    out = [(n - 1) * s - 2 * p + d * (k - 1) + q + 1
           for n, s, p, d, k, q in zip(x.shape[2:], stride, padding, dilation, kernel, output_padding)]
    full = np.zeros((x.shape[0], og * groups, *(o + 2 * p for o, p in zip(out, padding))))
    for pos in itertools.product(*(range(n) for n in x.shape[2:])):
        for offs in itertools.product(*(range(k) for k in kernel)):
            dst = tuple(p * s + o * d for p, s, o, d in zip(pos, stride, offs, dilation))
            for g in range(groups):
                xs = x[(slice(None), slice(g * cg, (g + 1) * cg), *pos)]  # (N, cg)
                ws = w[(slice(g * cg, (g + 1) * cg), slice(None), *offs)]  # (cg, og)
                full[(slice(None), slice(g * og, (g + 1) * og), *dst)] += xs @ ws
    y = full[(slice(None), slice(None), *(slice(p, p + o) for p, o in zip(padding, out)))]
    if b is not None:
        y = y + b.reshape(-1, *(1,) * nd)
    return y


def _conv_transpose_fn(x, w, b=None, **kw):
    return getattr(F, f"conv_transpose{x.ndim - 2}d")(x, w, b, **kw)


def _torch_conv_transpose(T, x, w, b=None, **kw):
    return getattr(T.nn.functional, f"conv_transpose{x.ndim - 2}d")(x, w, b, **kw)


# ---- unfold / fold -------------------------------------------------------------------------------


@st.composite
def unfold_case(draw, fold=False):
    kernel, stride, dilation = _ints(draw, 1, 3, 2), _ints(draw, 1, 3, 2), _ints(draw, 1, 2, 2)
    padding = _ints(draw, 0, 1, 2)
    size = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 6)) for k, d, p in zip(kernel, dilation, padding))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(SEEDS))
    params = {"kernel_size": kernel, "dilation": dilation, "padding": padding, "stride": stride}
    if not fold:
        return Case((fill(rng, (n, c, *size)),), params)
    blocks = [(s + 2 * p - d * (k - 1) - 1) // st_ + 1 for s, p, d, k, st_ in zip(size, padding, dilation, kernel,
                                                                                   stride)]
    return Case((fill(rng, (n, c * kernel[0] * kernel[1], blocks[0] * blocks[1])),), {"output_size": size, **params})


def _unfold_ref(x, kernel_size, dilation, padding, stride):
    xp = np.pad(x, [(0, 0), (0, 0), *((p, p) for p in padding)])
    out = [(n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(xp.shape[2:], kernel_size, stride, dilation)]
    cols = np.zeros((x.shape[0], x.shape[1] * math.prod(kernel_size), math.prod(out)))
    for i, (_, win) in enumerate(_windows(out, stride, dilation, kernel_size)):
        cols[:, :, i] = xp[(slice(None), slice(None), *win)].reshape(x.shape[0], -1)
    return cols


def _fold_ref(cols, output_size, kernel_size, dilation, padding, stride):
    n = cols.shape[0]
    c = cols.shape[1] // math.prod(kernel_size)
    full = np.zeros((n, c, *(s + 2 * p for s, p in zip(output_size, padding))))
    out = [(s - d * (k - 1) - 1) // st_ + 1 for s, k, st_, d in zip(full.shape[2:], kernel_size, stride, dilation)]
    for i, (_, win) in enumerate(_windows(out, stride, dilation, kernel_size)):
        full[(slice(None), slice(None), *win)] += cols[:, :, i].reshape(n, c, *kernel_size)
    return full[(slice(None), slice(None), *(slice(p, p + s) for p, s in zip(padding, output_size)))]


# ---- pooling -------------------------------------------------------------------------------------


def _pool_out(n, k, s, p, d, ceil_mode):
    """torch's pooling output size (pooling_output_shape in ATen)."""
    num = n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    o = num // s + 1
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return o


@st.composite
def pool_case(draw, kind="max", nd=None):
    nd = nd or draw(st.integers(1, 2))
    kernel, stride = _ints(draw, 1, 3, nd), _ints(draw, 1, 4, nd)
    dilation = _ints(draw, 1, 2, nd) if kind == "max" else (1,) * nd
    padding = tuple(0 if d > 1 else draw(st.integers(0, k // 2)) for k, d in zip(kernel, dilation))
    size = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 6)) for k, d, p in zip(kernel, dilation, padding))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(SEEDS))
    params = {"kernel_size": kernel, "stride": stride, "padding": padding, "ceil_mode": draw(st.booleans())}
    if kind == "max":
        params["dilation"] = dilation
        return Case((fill(rng, (n, c, *size), "distinct"),), params)
    params["count_include_pad"] = draw(st.booleans())
    if nd == 2:
        params["divisor_override"] = draw(st.sampled_from([None, None, 1, 3]))
    return Case((fill(rng, (n, c, *size)),), params)


def _max_pool_ref(x, kernel_size, stride, padding, dilation, ceil_mode):
    nd = len(kernel_size)
    out = [_pool_out(n, k, s, p, d, ceil_mode) for n, k, s, p, d in zip(x.shape[2:], kernel_size, stride, padding,
                                                                        dilation)]
    xp = np.pad(x, [(0, 0), (0, 0), *((p, p + 2 * k * d) for p, k, d in zip(padding, kernel_size, dilation))],
                constant_values=-np.inf)
    y = np.zeros((*x.shape[:2], *out))
    for pos, win in _windows(out, stride, dilation, kernel_size):
        y[(Ellipsis, *pos)] = xp[(slice(None), slice(None), *win)].reshape(*x.shape[:2], -1).max(-1)
    assert y.ndim == nd + 2
    return y


def _avg_pool_ref(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override=None):
    out = [_pool_out(n, k, s, p, 1, ceil_mode) for n, k, s, p in zip(x.shape[2:], kernel_size, stride, padding)]
    y = np.zeros((*x.shape[:2], *out))
    for pos in itertools.product(*(range(o) for o in out)):
        start = [p_ * s - p for p_, s, p in zip(pos, stride, padding)]
        end = [min(a + k, n + p) for a, k, n, p in zip(start, kernel_size, x.shape[2:], padding)]
        size = math.prod(e - a for a, e in zip(start, end))
        lo = [max(a, 0) for a in start]
        hi = [min(e, n) for e, n in zip(end, x.shape[2:])]
        total = x[(slice(None), slice(None), *(slice(a, b) for a, b in zip(lo, hi)))].reshape(*x.shape[:2], -1).sum(-1)
        div = divisor_override or (size if count_include_pad else math.prod(b - a for a, b in zip(lo, hi)))
        y[(Ellipsis, *pos)] = total / div
    return y


def _pool_fn(kind):
    def fn(x, **kw):
        return getattr(F, f"{kind}_pool{x.ndim - 2}d")(x, **kw)

    return fn


def _torch_pool(kind):
    def fn(T, x, **kw):
        return getattr(T.nn.functional, f"{kind}_pool{x.ndim - 2}d")(x, **kw)

    return fn


def _bounds(n, o):
    return [((i * n) // o, -(-((i + 1) * n) // o)) for i in range(o)]


@st.composite
def adaptive_case(draw, nd=2, distinct=False):
    size = _ints(draw, 1, 6, nd)
    out = tuple(draw(st.integers(1, 7)) for _ in range(nd))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, (n, c, *size), "distinct" if distinct else "real"),),
                {"output_size": out if nd > 1 else out[0]})


def _adaptive_ref(reduce):
    def ref(x, output_size):
        out = (output_size,) if isinstance(output_size, int) else output_size
        y = np.zeros((*x.shape[:2], *out))
        bounds = [_bounds(n, o) for n, o in zip(x.shape[2:], out)]
        for pos in itertools.product(*(range(o) for o in out)):
            win = x[(slice(None), slice(None), *(slice(*bounds[i][p]) for i, p in enumerate(pos)))]
            y[(Ellipsis, *pos)] = reduce(win.reshape(*x.shape[:2], -1), -1)
        return y

    return ref


@st.composite
def unpool_case(draw):
    k, s = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    size = _ints(draw, 1, 3, 2)
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    out = tuple((v - 1) * s + k for v in size)
    rng = np.random.default_rng(draw(SEEDS))
    # distinct flat targets per (n, c) row, as max pooling with stride >= kernel gives
    idx = np.stack([rng.choice(math.prod(out), math.prod(size), replace=False) for _ in range(n * c)])
    return Case((fill(rng, (n, c, *size)),), {"indices": idx.reshape(n, c, *size), "kernel_size": k, "stride": s})


def _unpool_ref(x, indices, kernel_size, stride):
    out = [(v - 1) * stride + kernel_size for v in x.shape[2:]]
    y = np.zeros((*x.shape[:2], math.prod(out)))
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            y[i, j, indices[i, j].ravel()] = x[i, j].ravel()
    return y.reshape(*x.shape[:2], *out)


# ---- resampling ----------------------------------------------------------------------------------


@st.composite
def interp_case(draw, mode):
    nd = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}.get(mode) or draw(st.integers(1, 2))
    size = _ints(draw, 1, 5 if nd < 3 else 3, nd)
    rng = np.random.default_rng(draw(SEEDS))
    params = {"mode": mode}
    if draw(st.booleans()):
        params["size"] = _ints(draw, 1, 7 if nd < 3 else 4, nd)
    else:
        params["scale_factor"] = draw(st.sampled_from([0.5, 0.7, 1.0, 1.5, 2.0, 2.5, 3.0]))
        params["recompute_scale_factor"] = draw(st.sampled_from([None, True]))
        if any(math.floor(n * params["scale_factor"]) < 1 for n in size):
            params["scale_factor"] = 2.0
    if mode in ("linear", "bilinear", "bicubic", "trilinear"):
        params["align_corners"] = draw(st.booleans())
    return Case((fill(rng, (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *size)),), params)


def _src_1d(mode, n_in, n_out, align_corners, scale):
    """Per output index: [(source index, weight), ...], from torch's formulas (UpSample.h)."""
    res = []
    for i in range(n_out):
        if mode in ("nearest", "nearest-exact"):
            s = np.float32(1.0 / scale) if scale else np.float32(n_in / n_out)
            v = np.float32(i + 0.5 if mode == "nearest-exact" else i) * s
            res.append([(min(int(np.floor(v)), n_in - 1), 1.0)])
            continue
        if align_corners:
            sc = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
            src = sc * i
        else:
            sc = 1.0 / scale if scale else n_in / n_out
            src = sc * (i + 0.5) - 0.5
            if mode != "bicubic":
                src = max(src, 0.0)
        i0 = math.floor(src)
        t = src - i0
        if mode != "bicubic":
            res.append([(i0, 1 - t), (min(i0 + 1, n_in - 1), t)])
            continue
        a = -0.75
        w = [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
             ((a + 2) * t - (a + 3)) * t * t + 1,
             ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
             ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a]
        res.append([(min(max(i0 - 1 + j, 0), n_in - 1), w[j]) for j in range(4)])
    return res


def _interp_ref(x, mode, size=None, scale_factor=None, recompute_scale_factor=None, align_corners=None):
    nd = x.ndim - 2
    if size is not None:
        out, scales = list(size), [None] * nd
    else:
        out = [math.floor(n * scale_factor) for n in x.shape[2:]]
        scales = [None if recompute_scale_factor else scale_factor] * nd
    taps = [_src_1d(mode, n, o, bool(align_corners), sc) for n, o, sc in zip(x.shape[2:], out, scales)]
    y = np.zeros((*x.shape[:2], *out))
    for pos in itertools.product(*(range(o) for o in out)):
        acc = 0.0
        for combo in itertools.product(*(taps[i][p] for i, p in enumerate(pos))):
            acc = acc + math.prod(w for _, w in combo) * x[(slice(None), slice(None), *(j for j, _ in combo))]
        y[(Ellipsis, *pos)] = acc
    return y


def _interp_fn(x, **kw):
    return F.interpolate(x, **kw)


def _torch_interp(T, x, **kw):
    return T.nn.functional.interpolate(x, **kw)


@st.composite
def shuffle_case(draw, down=False):
    r = draw(st.integers(1, 3))
    lead = _ints(draw, 1, 2, draw(st.integers(0, 2)))
    c, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    shape = (*lead, c, h * r, w * r) if down else (*lead, c * r * r, h, w)
    return Case((fill(np.random.default_rng(draw(SEEDS)), shape),), {"r": r})


def _pixel_shuffle_ref(x, r):
    *lead, c, h, w = x.shape
    y = np.zeros((*lead, c // (r * r), h * r, w * r))
    for ch, i, j in itertools.product(range(c), range(h), range(w)):
        y[..., ch // (r * r), i * r + (ch % (r * r)) // r, j * r + ch % r] = x[..., ch, i, j]
    return y


def _pixel_unshuffle_ref(x, r):
    *lead, c, hr, wr = x.shape
    y = np.zeros((*lead, c * r * r, hr // r, wr // r))
    for ch, i, j in itertools.product(range(c), range(hr), range(wr)):
        y[..., ch * r * r + (i % r) * r + j % r, i // r, j // r] = x[..., ch, i, j]
    return y


@st.composite
def lp_case(draw):
    kernel, stride = _ints(draw, 1, 3, 2), draw(st.sampled_from([None, 1, 2]))
    size = tuple(draw(st.integers(k, 6)) for k in kernel)
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *size), "positive"),),
                {"norm_type": draw(st.sampled_from([1.5, 2.0, 3.0])), "kernel_size": kernel, "stride": stride,
                 "ceil_mode": draw(st.booleans())})


def _lp_ref(x, norm_type, kernel_size, stride, ceil_mode):
    s = stride or kernel_size
    s = (s, s) if isinstance(s, int) else s
    total = _avg_pool_ref(x ** norm_type, kernel_size, s, (0, 0), ceil_mode, True) * math.prod(kernel_size)
    return total ** (1.0 / norm_type)


SPECS: dict[str, Spec] = {
    "ConvNd": Spec(conv_case(), _conv_fn, _conv_ref, torch=_torch_conv, half=False),
    "ConvTransposeNd": Spec(conv_transpose_case(), _conv_transpose_fn, _conv_transpose_ref,
                            torch=_torch_conv_transpose, half=False),
    "Unfold": Spec(unfold_case(), lambda x, **kw: F.unfold(x, **kw), _unfold_ref,
                   torch=lambda T, x, **kw: T.nn.functional.unfold(x, **kw)),
    "Fold": Spec(unfold_case(fold=True), lambda x, **kw: F.fold(x, **kw), _fold_ref,
                 torch=lambda T, x, **kw: T.nn.functional.fold(x, **kw)),
    "MaxPoolNd": Spec(pool_case("max"), _pool_fn("max"), _max_pool_ref, torch=_torch_pool("max")),
    "AvgPoolNd": Spec(pool_case("avg"), _pool_fn("avg"), _avg_pool_ref, torch=_torch_pool("avg")),
    "AdaptiveMaxPoolNd": Spec(adaptive_case(distinct=True),
                              lambda x, output_size: F.adaptive_max_pool2d(x, output_size), _adaptive_ref(np.max),
                              torch=lambda T, x, output_size: T.nn.functional.adaptive_max_pool2d(x, output_size)),
    "MaxUnpool": Spec(unpool_case(), lambda x, **kw: F.max_unpool2d(x, **kw), _unpool_ref,
                      torch=lambda T, x, indices, **kw: T.nn.functional.max_unpool2d(x, T.as_tensor(indices), **kw)),
}

DERIVED: dict[str, Spec] = {
    "conv3d": Spec(conv_case(nd=3), _conv_fn, _conv_ref, torch=_torch_conv, half=False),
    "conv2d_depthwise": Spec(conv_case(nd=2, depthwise=True), _conv_fn, _conv_ref, torch=_torch_conv, half=False),
    "conv_transpose3d": Spec(conv_transpose_case(nd=3), _conv_transpose_fn, _conv_transpose_ref,
                             torch=_torch_conv_transpose, half=False),
    "max_pool3d": Spec(pool_case("max", nd=3), _pool_fn("max"), _max_pool_ref, torch=_torch_pool("max")),
    "avg_pool3d": Spec(pool_case("avg", nd=3), _pool_fn("avg"), _avg_pool_ref, torch_skip=(
        "torch's avg_pool3d rejects inputs smaller than the kernel before padding; the 2-D/1-D twins cover it")),
    "adaptive_max_pool1d": Spec(adaptive_case(nd=1, distinct=True),
                                lambda x, output_size: F.adaptive_max_pool1d(x, output_size), _adaptive_ref(np.max),
                                torch=lambda T, x, output_size: T.nn.functional.adaptive_max_pool1d(x, output_size)),
    "adaptive_avg_pool1d": Spec(adaptive_case(nd=1), lambda x, output_size: F.adaptive_avg_pool1d(x, output_size),
                                _adaptive_ref(np.mean),
                                torch=lambda T, x, output_size: T.nn.functional.adaptive_avg_pool1d(x, output_size)),
    "adaptive_avg_pool2d": Spec(adaptive_case(), lambda x, output_size: F.adaptive_avg_pool2d(x, output_size),
                                _adaptive_ref(np.mean),
                                torch=lambda T, x, output_size: T.nn.functional.adaptive_avg_pool2d(x, output_size)),
    "lp_pool2d": Spec(lp_case(), lambda x, **kw: F.lp_pool2d(x, **kw), _lp_ref,
                      torch=lambda T, x, **kw: T.nn.functional.lp_pool2d(x, **kw)),
    "pixel_shuffle": Spec(shuffle_case(), lambda x, r: F.pixel_shuffle(x, r), _pixel_shuffle_ref,
                          torch=lambda T, x, r: T.nn.functional.pixel_shuffle(x, r)),
    "pixel_unshuffle": Spec(shuffle_case(down=True), lambda x, r: F.pixel_unshuffle(x, r), _pixel_unshuffle_ref,
                            torch=lambda T, x, r: T.nn.functional.pixel_unshuffle(x, r)),
    **{f"interpolate_{m.replace('-', '_')}": Spec(interp_case(m), _interp_fn, _interp_ref, torch=_torch_interp)
       for m in ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear")},
}


# ---- batch normalization (engine/ops/norm.py) ----------------------------------------------------


@st.composite
def batch_norm_case(draw):
    """x (N, C, *S) with at least two values per channel; affine parts and running stats optional."""
    nd = draw(st.integers(0, 2))
    spatial = _ints(draw, 1, 4, nd)
    n = draw(st.integers(1 if math.prod(spatial) >= 2 else 2, 3))
    c = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(SEEDS))
    has_weight, has_bias = draw(st.booleans()), draw(st.booleans())
    arrays = [fill(rng, (n, c, *spatial))]
    if has_weight:
        arrays.append(fill(rng, (c,)))
    if has_bias:
        arrays.append(fill(rng, (c,)))
    training = draw(st.booleans())
    stats = training is False or draw(st.booleans())
    return Case(tuple(arrays), {
        "has_weight": has_weight, "has_bias": has_bias, "training": training,
        "running_mean": fill(rng, (c,)) if stats else None,
        "running_var": fill(rng, (c,), "positive") if stats else None,
        "momentum": draw(st.sampled_from([0.1, 0.5])), "eps": draw(st.sampled_from([1e-5, 1e-2]))})


def _bn_split(rest, has_weight, has_bias):
    rest = list(rest)
    return (rest.pop(0) if has_weight else None), (rest.pop(0) if has_bias else None)


def _batch_norm_fn(x, *rest, has_weight, has_bias, training, running_mean, running_var, momentum, eps):
    from engine import Tensor

    # copies: training updates the running statistics in place, and a spec is called many times
    rm = None if running_mean is None else Tensor(running_mean.copy()).to(x.device)
    rv = None if running_var is None else Tensor(running_var.copy()).to(x.device)
    return F.batch_norm(x, rm, rv, *_bn_split(rest, has_weight, has_bias), training=training, momentum=momentum,
                        eps=eps)


def _batch_norm_ref(x, *rest, has_weight, has_bias, training, running_mean, running_var, momentum, eps):
    w, b = _bn_split(rest, has_weight, has_bias)
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    else:
        mean, var = running_mean, running_var
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    y = y * w.reshape(shape) if w is not None else y
    return y + b.reshape(shape) if b is not None else y


def _torch_batch_norm(T, x, *rest, has_weight, has_bias, training, running_mean, running_var, momentum, eps):
    rm = None if running_mean is None else T.tensor(running_mean, dtype=x.dtype)
    rv = None if running_var is None else T.tensor(running_var, dtype=x.dtype)
    return T.nn.functional.batch_norm(x, rm, rv, *_bn_split(rest, has_weight, has_bias), training=training,
                                      momentum=momentum, eps=eps)


SPECS["BatchNorm"] = Spec(batch_norm_case(), _batch_norm_fn, _batch_norm_ref, torch=_torch_batch_norm, half=False)
