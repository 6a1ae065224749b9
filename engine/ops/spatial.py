"""Convolution, pooling and resampling primitives (channels-first API, as torch).

Everything rests on two array functions with a plain contract, written once against ``xp``:

- ``im2col(xpad, kernel, stride, dilation, out_size, groups) -> cols (G, N·L, Kp·Cg)``
  from a padded channels-last input ``xpad`` (N, *Sp, C); L = prod(out_size), Kp = prod(kernel),
  C = G·Cg, and the last axis runs over kernel offsets then channels (offset-major).
- ``col2im(cols, n, padded_size, kernel, stride, dilation, out_size, groups) -> (N, *Sp, C)``,
  its adjoint: each kernel offset's slab is added into a strided slice (Kp adds, no loop over pixels).

A convolution is then im2col + one sgemm per group; its backward is one sgemm for the weight
and one sgemm + col2im for the input. conv_transpose is the adjoint (col2im of a matmul).
Internals are channels-last: a convolution returns a channels-first *view* of a channels-last
array, so the next elementwise ops and convolution read it without transposing copies.
A compiled kernel may replace im2col/col2im: same arguments, same result.
"""

from __future__ import annotations

import itertools
import math

from engine.backend import scatter_add
from engine.function import Function, is_grad_enabled
from engine.kernels import lookup
from engine.ops.elementwise import column_sums

# ---- the array helpers (no autograd) ---------------------------------------------------------------


def out_size(size: int, k: int, s: int, d: int, lo: int, hi: int) -> int:
    """Output length of a window k (dilation d, stride s) over ``size`` padded by lo/hi."""
    return (size + lo + hi - d * (k - 1) - 1) // s + 1


def _offset_slices(offs, stride, dilation, out):
    """The strided slice of a padded axis that kernel offset ``o`` reads, one per spatial axis."""
    return tuple(slice(o * d, o * d + s * (n - 1) + 1, s) for o, s, d, n in zip(offs, stride, dilation, out))


def padded_channels_last(xp, x, pads, value=0.0):
    """x (N, C, *S) -> (N, *Sp, C) padded by pads ((lo, hi) per spatial axis); a view when no padding."""
    xc = xp.moveaxis(x, 1, -1)
    if not any(lo or hi for lo, hi in pads):
        return xc
    sp = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads))
    out = xp.empty((x.shape[0], *sp, x.shape[1]), dtype=x.dtype)
    out[(slice(None), *(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[2:], pads)))] = xc
    for axis, (n, (lo, hi)) in enumerate(zip(x.shape[2:], pads), start=1):  # only the borders get `value`
        out[(slice(None),) * axis + (slice(0, lo),)] = value
        out[(slice(None),) * axis + (slice(lo + n, lo + n + hi),)] = value
    return out


def im2col(xpad, kernel, stride, dilation, out, groups=1):
    """Windows of ``xpad`` (N, *Sp, C) as one contiguous (G, N·L, Kp·Cg) buffer.

    One strided slab copy per kernel offset: 5x faster in NumPy than a single copy of the whole
    ``as_strided`` window view, whose innermost run (Cg values) is too short for its copy loop.
    """
    if len(kernel) == 2 and xpad.size and (k := lookup("im2col2d", xpad)) is not None:
        return k[0](xpad, kernel, stride, dilation, out, groups)
    xp = _xp_of(xpad)
    n, c, nd = xpad.shape[0], xpad.shape[-1], len(kernel)
    cg = c // groups
    cols = xp.empty((groups, n, *out, *kernel, cg), dtype=xpad.dtype)
    for offs in itertools.product(*(range(k) for k in kernel)):
        src = xpad[(slice(None), *_offset_slices(offs, stride, dilation, out))]  # (N, *O, C)
        src = xp.moveaxis(src.reshape(*src.shape[:-1], groups, cg), -2, 0)  # (G, N, *O, Cg)
        cols[(slice(None),) * (2 + nd) + offs] = src
    return cols.reshape(groups, n * math.prod(out), math.prod(kernel) * cg)


def col2im(cols, n, padded, kernel, stride, dilation, out, groups=1):
    """Adjoint of im2col: (G, N·L, Kp·Cg) -> (N, *Sp, C), overlapping windows summed."""
    # an empty batch stays on the reference (the compiled col2im cannot reshape a 0-row result)
    if len(kernel) == 2 and cols.size and (k := lookup("im2col2d", cols)) is not None:
        return k[1](cols, n, padded, kernel, stride, dilation, out, groups)
    xp = _xp_of(cols)
    cg = cols.shape[-1] // math.prod(kernel)
    cv = cols.reshape(groups, n, *out, *kernel, cg)
    res = xp.zeros((n, *padded, groups, cg), dtype=cols.dtype)
    nd = len(kernel)
    for offs in itertools.product(*(range(k) for k in kernel)):
        src = cv[(slice(None),) * (2 + nd) + offs]  # (G, N, *O, Cg)
        res[(slice(None), *_offset_slices(offs, stride, dilation, out))] += xp.moveaxis(src, 0, -2)
    return res.reshape(n, *padded, groups * cg)


def _xp_of(a):
    from engine.backend import array_module

    return array_module(a)


def weight_matrix(w, groups):
    """Conv weight (O, Cg, *K) -> (G, Og, Kp·Cg), offset-major to match im2col's columns."""
    o, cg, kp = w.shape[0], w.shape[1], math.prod(w.shape[2:])
    return w.reshape(groups, o // groups, cg, kp).transpose(0, 1, 3, 2).reshape(groups, o // groups, kp * cg)


def weight_from_matrix(wm, shape):
    """Inverse of weight_matrix: (G, Og, Kp·Cg) -> (O, Cg, *K)."""
    g, og = wm.shape[:2]
    cg, kp = shape[1], math.prod(shape[2:])
    return wm.reshape(g, og, kp, cg).transpose(0, 1, 3, 2).reshape(shape)


def _to_groups(xp, a_cl, groups):
    """Channels-last rows (N, *O, C) -> (G, N·L, C/G) for a grouped matmul (a view when G == 1)."""
    c = a_cl.shape[-1]
    rows = a_cl.reshape(-1, groups, c // groups)
    return xp.moveaxis(rows, 1, 0)


def _from_groups(xp, a_g, lead):
    """(G, N·L, Og) -> channels-first (N, G·Og, *O) (a view of a channels-last array when G == 1)."""
    g, _, og = a_g.shape
    rows = a_g[0] if g == 1 else xp.moveaxis(a_g, 0, 1).reshape(-1, g * og)
    return xp.moveaxis(rows.reshape(*lead, g * og), -1, 1)


def _crop(xp, a_cl, pads, size):
    """The unpadded part of (N, *Sp, C) as channels-first (N, C, *S)."""
    inner = a_cl[(slice(None), *(slice(lo, lo + n) for (lo, _), n in zip(pads, size)))]
    return xp.moveaxis(inner, -1, 1)


# ---- convolution -----------------------------------------------------------------------------------


CHUNK_BYTES = 16 << 20  # a convolution builds its columns for this many bytes of images at a time
KEEP_COLS_BYTES = 16 << 20  # up to this many bytes of columns, forward keeps them for the weight
#   gradient: worth it for few channels (3: rebuilding costs ~2 ms of 64 32×32 images); from 16 on,
#   conv2d's pipeline rebuilds them in cache as fast as it reads them back (and RSS stays lower)


def batch_chunks(n: int, per_image: int):
    """(lo, hi) ranges of images whose im2col columns take about CHUNK_BYTES (at least one image)."""
    step = max(1, CHUNK_BYTES // max(per_image, 1))
    return [(lo, min(n, lo + step)) for lo in range(0, n, step)]


class ConvNd(Function):
    """N-d convolution (cross-correlation, as torch): x (N, C, *S), w (O, C/G, *K), b (O,) or None.

    ``padding`` is ((lo, hi), ...) per spatial axis. Forward: im2col + a grouped sgemm, a chunk of
    images at a time. With grad enabled and at most ``KEEP_COLS_BYTES`` of columns (Kp times the
    input), forward keeps each chunk's columns for the weight gradient; above that they never exist
    for the whole batch, and backward rebuilds each chunk's columns from the input. The kernel
    ``("conv2d", cpu)`` (groups 1, two spatial axes) runs the same steps as a per-thread pipeline.
    """

    def forward(self, x, w, b=None, stride=(1,), padding=((0, 0),), dilation=(1,), groups=1):
        xp = self.xp
        kernel = w.shape[2:]
        out = tuple(out_size(n, k, s, d, lo, hi) for n, k, s, d, (lo, hi)
                    in zip(x.shape[2:], kernel, stride, dilation, padding))
        n, c, L = x.shape[0], x.shape[1], math.prod(out)
        per_image = L * math.prod(kernel) * c * x.itemsize
        keep = is_grad_enabled() and n * per_image <= KEEP_COLS_BYTES
        self.save_for_backward(x, w)
        self.args = (kernel, stride, dilation, out, groups, padding)
        self.kernel = lookup("conv2d", x, w) if len(kernel) == 2 and groups == 1 and x.size and w.size else None
        if self.kernel:
            y2, self.cols = self.kernel[0](x, w, stride, padding, dilation, keep)  # (N·L, O) rows
            y = xp.moveaxis(y2.reshape(n, *out, -1), -1, 1)
            if b is not None:
                y += b.reshape(-1, *(1,) * len(out))
            return y
        wmt = weight_matrix(w, groups).transpose(0, 2, 1)  # (G, Kp·Cg, Og)
        y = xp.empty((groups, n * L, wmt.shape[2]), dtype=x.dtype)  # (G, N·L, Og)
        self.cols = [] if keep else None
        for lo, hi in batch_chunks(n, per_image):
            xpad = padded_channels_last(xp, x[lo:hi], padding)
            cols = im2col(xpad, kernel, stride, dilation, out, groups)  # (G, n·L, Kp·Cg)
            xp.matmul(cols, wmt, out=y[:, lo * L:hi * L])
            if self.cols is not None:
                self.cols.append(cols)
        y = _from_groups(xp, y, (n, *out))  # (N, O, *out)
        if b is not None:
            y += b.reshape(-1, *(1,) * len(out))
        return y

    def backward(self, g):
        xp = self.xp
        x, w = self.saved
        kernel, stride, dilation, out, groups, padding = self.args
        n, c, L = x.shape[0], x.shape[1], math.prod(out)
        gg = _to_groups(xp, xp.moveaxis(g, 1, -1), groups)  # (G, N·L, Og)
        gx = gw = gb = None
        if self.needs_input_grad[2]:
            gb = column_sums(xp.moveaxis(g, 1, -1).reshape(-1, g.shape[1]))
        if self.kernel:
            gxl, gw = self.kernel[1](xp.moveaxis(g, 1, -1).reshape(-1, g.shape[1]), x, w, self.cols, stride,
                                     padding, dilation, *self.needs_input_grad[:2])
            return None if gxl is None else xp.moveaxis(gxl, -1, 1), gw, gb
        wm = weight_matrix(w, groups)  # (G, Og, Kp·Cg)
        gwm = xp.zeros(wm.shape[:1] + wm.shape[2:] + wm.shape[1:2], dtype=w.dtype) \
            if self.needs_input_grad[1] else None  # (G, Kp·Cg, Og)
        gxl = xp.empty((n, *x.shape[2:], c), dtype=x.dtype) if self.needs_input_grad[0] else None
        padded = tuple(m + p0 + p1 for m, (p0, p1) in zip(x.shape[2:], padding))
        for i, (lo, hi) in enumerate(batch_chunks(n, L * math.prod(kernel) * c * x.itemsize)):
            gc = gg[:, lo * L:hi * L]
            if gwm is not None:
                cols = self.cols[i] if self.cols is not None else \
                    im2col(padded_channels_last(xp, x[lo:hi], padding), kernel, stride, dilation, out, groups)
                # colsᵀ g, not gᵀ cols: OpenBLAS is ~8x slower with the long N·L axis inside gᵀ
                gwm += cols.transpose(0, 2, 1) @ gc
                del cols
            if gxl is not None:
                res = col2im(gc @ wm, hi - lo, padded, kernel, stride, dilation, out, groups)
                gxl[lo:hi] = res[(slice(None), *(slice(a, a + m) for (a, _), m in zip(padding, x.shape[2:])))]
        if gwm is not None:
            gw = weight_from_matrix(gwm.transpose(0, 2, 1), w.shape)
        if gxl is not None:
            gx = xp.moveaxis(gxl, -1, 1)
        return gx, gw, gb


class ConvTransposeNd(Function):
    """Transposed convolution, the adjoint of ConvNd in x: x (N, Cin, *S), w (Cin, Cout/G, *K).

    ``padding`` is symmetric per axis and ``out`` is the output's spatial size (output_padding
    included). Forward: a grouped sgemm + col2im; backward: im2col of the padded gradient.
    """

    def forward(self, x, w, b=None, stride=(1,), padding=(0,), dilation=(1,), groups=1, out=(1,)):
        xp = self.xp
        kernel, size = w.shape[2:], x.shape[2:]
        padded = tuple(o + 2 * p for o, p in zip(out, padding))
        wm = weight_matrix(w, groups)  # (G, Cin/G, Kp·Og): the adjoint conv's weight
        xg = _to_groups(xp, xp.moveaxis(x, 1, -1), groups)  # (G, N·L, Cin/G)
        cols = xg @ wm  # (G, N·L, Kp·Og)
        res = col2im(cols, x.shape[0], padded, kernel, stride, dilation, size, groups)
        del cols
        y = _crop(xp, res, tuple((p, p) for p in padding), out)
        if b is not None:
            y += b.reshape(-1, *(1,) * len(out))
        self.save_for_backward(x, w)
        self.args = (kernel, stride, dilation, padding, groups, out)
        return y

    def backward(self, g):
        xp = self.xp
        x, w = self.saved
        kernel, stride, dilation, padding, groups, out = self.args
        gx = gw = gb = None
        if self.needs_input_grad[2]:
            gb = column_sums(xp.moveaxis(g, 1, -1).reshape(-1, g.shape[1]))
        gpad = padded_channels_last(xp, g, tuple((p, p) for p in padding))
        cols = im2col(gpad, kernel, stride, dilation, x.shape[2:], groups)  # (G, N·L, Kp·Og)
        wm = weight_matrix(w, groups)
        if self.needs_input_grad[0]:
            gx = _from_groups(xp, cols @ wm.transpose(0, 2, 1), (x.shape[0], *x.shape[2:]))
        if self.needs_input_grad[1]:
            xg = _to_groups(xp, xp.moveaxis(x, 1, -1), groups)
            gw = weight_from_matrix((cols.transpose(0, 2, 1) @ xg).transpose(0, 2, 1), w.shape)
        return gx, gw, gb


class Unfold(Function):
    """im2col as torch.nn.functional.unfold: x (N, C, *S) -> (N, C·Kp, L), channel-major columns."""

    def forward(self, x, kernel=(1,), stride=(1,), padding=((0, 0),), dilation=(1,)):
        xp = self.xp
        out = tuple(out_size(n, k, s, d, lo, hi) for n, k, s, d, (lo, hi)
                    in zip(x.shape[2:], kernel, stride, dilation, padding))
        n, c = x.shape[:2]
        xpad = padded_channels_last(xp, x, padding)
        cols = im2col(xpad, kernel, stride, dilation, out).reshape(n, math.prod(out), math.prod(kernel), c)
        self.args = (x.shape, xpad.shape[1:-1], kernel, stride, padding, dilation, out)
        return xp.ascontiguousarray(cols.transpose(0, 3, 2, 1)).reshape(n, c * math.prod(kernel), math.prod(out))

    def backward(self, g):
        shape, padded, kernel, stride, padding, dilation, out = self.args
        return fold_array(self.xp, g, shape, padded, kernel, stride, padding, dilation, out)


def fold_array(xp, cols, shape, padded, kernel, stride, padding, dilation, out):
    """col2im of torch's unfold layout: (N, C·Kp, L) -> (N, C, *S) (``shape``), windows summed."""
    n, c = shape[:2]
    kp = math.prod(kernel)
    rows = xp.ascontiguousarray(cols.reshape(n, c, kp, cols.shape[-1]).transpose(0, 3, 2, 1))
    rows = rows.reshape(1, n * cols.shape[-1], kp * c)
    res = col2im(rows, n, padded, kernel, stride, dilation, out)
    return xp.ascontiguousarray(_crop(xp, res, padding, shape[2:]))


class Fold(Function):
    """col2im as torch.nn.functional.fold: (N, C·Kp, L) -> (N, C, *output_size), overlaps summed."""

    def forward(self, cols, shape=(1, 1, 1), kernel=(1,), stride=(1,), padding=((0, 0),), dilation=(1,)):
        out = tuple(out_size(n, k, s, d, lo, hi) for n, k, s, d, (lo, hi)
                    in zip(shape[2:], kernel, stride, dilation, padding))
        padded = tuple(n + lo + hi for n, (lo, hi) in zip(shape[2:], padding))
        self.args = (shape, kernel, stride, padding, dilation, out)
        return fold_array(self.xp, cols, shape, padded, kernel, stride, padding, dilation, out)

    def backward(self, g):
        shape, kernel, stride, padding, dilation, out = self.args
        xp = self.xp
        n, c = shape[:2]
        xpad = padded_channels_last(xp, g, padding)
        cols = im2col(xpad, kernel, stride, dilation, out).reshape(n, math.prod(out), math.prod(kernel), c)
        return xp.ascontiguousarray(cols.transpose(0, 3, 2, 1)).reshape(n, c * math.prod(kernel), math.prod(out))


# ---- pooling -----------------------------------------------------------------------------------------


def pool_out_size(size, k, s, p, d, ceil_mode):
    """torch's pooling output length (ceil_mode drops a last window that starts in the right padding)."""
    span = size + 2 * p - d * (k - 1) - 1
    o = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (o - 1) * s >= size + p:
        o -= 1
    return o


def _pool_pads(size, kernel, stride, padding, dilation, out):
    """(lo, hi) per axis so every window of ``out`` lies inside the padded array (ceil_mode reaches past)."""
    return tuple((p, max(0, (o - 1) * s + d * (k - 1) + 1 - n - p))
                 for n, k, s, p, d, o in zip(size, kernel, stride, padding, dilation, out))


def _padded_first(xp, x, pads, value):
    """x (N, C, *S) padded on the spatial axes (channels-first); x itself when no padding."""
    if not any(lo or hi for lo, hi in pads):
        return x
    lead = x.ndim - len(pads)
    res = xp.full((*x.shape[:lead], *(n + lo + hi for n, (lo, hi) in zip(x.shape[lead:], pads))), value, x.dtype)
    res[(Ellipsis, *(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[lead:], pads)))] = x
    return res


class MaxPoolNd(Function):
    """Max over windows of the trailing ``len(kernel)`` axes, -inf padding; keeps the argmax offset
    of each window (first maximum in scan order, as torch) for backward and for ``indices``."""

    def forward(self, x, kernel=(1,), stride=(1,), padding=(0,), dilation=(1,), out=(1,)):
        xp = self.xp
        pads = _pool_pads(x.shape[-len(kernel):], kernel, stride, padding, dilation, out)
        # an empty batch stays on the reference (the compiled backward indexes the first image)
        self.compiled = lookup("max_pool2d", x) if len(kernel) == 2 and x.ndim == 4 and x.size else None
        if self.compiled is not None:
            best, self.arg = self.compiled[0](x, kernel, stride, padding, dilation, out)
            self.args = (x.shape, None, pads, kernel, stride, dilation, out)
            self.empty = best == -xp.inf if any(padding) else None
            return best
        xpad = _padded_first(xp, x, pads, -xp.inf)
        slabs = [xpad[(Ellipsis, *_offset_slices(offs, stride, dilation, out))]
                 for offs in itertools.product(*(range(k) for k in kernel))]
        best = slabs[0].copy()
        for v in slabs[1:]:
            xp.maximum(best, v, out=best)  # NaN propagates, as in torch
        # argmax = the first offset that reaches the maximum (torch's choice among ties): write the
        # offsets last to first, so the smallest one that matches is what remains
        arg = xp.zeros(best.shape, dtype=xp.int16 if len(slabs) < 2**15 else xp.int64)
        for i in range(len(slabs) - 1, -1, -1):
            xp.copyto(arg, i, where=slabs[i] == best)
        if best.dtype.kind == "f" and xp.isnan(best).any():  # a NaN window points at its last NaN, as torch
            nan = xp.isnan(best)
            for i in range(len(slabs)):
                xp.copyto(arg, i, where=nan & xp.isnan(slabs[i]))
        self.arg, self.args = arg, (x.shape, xpad.shape, pads, kernel, stride, dilation, out)
        # torch never reads the padding: a window whose real entries are all -inf (or that has none)
        # reports its first in-range offset per axis (its start clamped to >= 0), with no gradient.
        self.empty = best == -xp.inf if best.dtype.kind == "f" and any(p for p in padding) else None
        return best

    def indices(self):
        """Flat index of each window's maximum into the unpadded trailing axes (torch's ``indices``)."""
        xp = self.xp
        shape, _, pads, kernel, stride, dilation, out = self.args
        nd = len(kernel)
        koff = list(xp.unravel_index(self.arg.astype(xp.int64), kernel))
        for i in range(nd):
            if self.empty is not None:
                start = xp.arange(out[i], dtype=xp.int64) * stride[i] - pads[i][0]
                first = xp.maximum((-start + dilation[i] - 1) // dilation[i], 0)  # ceil(-start / d)
                first = first.reshape((-1,) + (1,) * (nd - 1 - i))
                koff[i] = xp.where(self.empty, first, koff[i])
        flat = xp.zeros(self.arg.shape, dtype=xp.int64)
        for i in range(nd):
            pos = xp.arange(out[i], dtype=xp.int64).reshape((-1,) + (1,) * (nd - 1 - i)) * stride[i] - pads[i][0]
            flat = flat * shape[-nd + i] + pos + koff[i] * dilation[i]
        return flat

    def backward(self, g):
        xp = self.xp
        shape, padded, pads, kernel, stride, dilation, out = self.args
        zero = g.dtype.type(0)
        g_all, nd = g, len(kernel)
        if self.empty is not None:  # windows with no real maximum get their gradient below
            g = xp.where(self.empty, zero, g)
        if self.compiled is not None:
            gx = self.compiled[1](g, self.arg, shape, kernel, stride, tuple(p for p, _ in pads),
                                                   dilation)
            return self._empty_windows(g_all, gx)
        res = xp.zeros(padded, dtype=g.dtype)
        # windows that never overlap (stride >= dilated kernel on every axis) write, not add
        disjoint = all(s >= d * (k - 1) + 1 for s, d, k in zip(stride, dilation, kernel))
        for i, offs in enumerate(itertools.product(*(range(k) for k in kernel))):
            dst = res[(Ellipsis, *_offset_slices(offs, stride, dilation, out))]
            if disjoint:
                xp.multiply(g, self.arg == i, out=dst)
            else:
                dst += xp.where(self.arg == i, g, zero)
        gx = res[(Ellipsis, *(slice(lo, lo + n) for n, (lo, _) in zip(shape[-nd:], pads)))]
        return self._empty_windows(g_all, gx)

    def _empty_windows(self, g, gx):
        """torch sends the gradient of a window whose real entries are all -inf (or that has none)
        to the index it reports for it (its first in-range offset)."""
        if self.empty is None or not self.empty.any():
            return gx
        xp, shape, nd = self.xp, self.args[0], len(self.args[3])
        idx = self.indices()
        ok = self.empty & (idx < math.prod(shape[-nd:]))
        zero = g.dtype.type(0)
        return gx + scatter_rows(xp, xp.where(ok, g, zero), xp.where(ok, idx, 0), shape, nd)


def avg_divisor(xp, size, kernel, stride, padding, out, count_include_pad, dtype):
    """torch's avg_pool divisor per output position (separable: a product of per-axis counts)."""
    div = xp.ones((1,) * len(kernel), dtype=xp.float64)
    for i, (n, k, s, p, o) in enumerate(zip(size, kernel, stride, padding, out)):
        start = xp.arange(o) * s - p
        end = xp.minimum(start + k, n + p)
        cnt = end - start if count_include_pad else xp.minimum(end, n) - xp.maximum(start, 0)
        div = div * cnt.reshape((1,) * i + (-1,) + (1,) * (len(kernel) - 1 - i))
    return div.astype(dtype)


class AvgPoolNd(Function):
    """Window sums over the trailing axes (zero padding) divided by torch's divisor."""

    def forward(self, x, kernel=(1,), stride=(1,), padding=(0,), out=(1,), count_include_pad=True,
                divisor_override=None):
        xp = self.xp
        nd = len(kernel)
        dil = (1,) * nd
        pads = _pool_pads(x.shape[-nd:], kernel, stride, padding, dil, out)
        xpad = _padded_first(xp, x, pads, 0)
        total = None
        for offs in itertools.product(*(range(k) for k in kernel)):
            v = xpad[(Ellipsis, *_offset_slices(offs, stride, dil, out))]
            total = v.copy() if total is None else xp.add(total, v, out=total)
        if divisor_override:
            div = xp.asarray(divisor_override, dtype=xp.int64)
        else:
            div = avg_divisor(xp, x.shape[-nd:], kernel, stride, padding, out, count_include_pad, xp.int64)
        self.args = (x.shape, xpad.shape, pads, kernel, stride, out)
        if x.dtype.kind in "iu":  # integer pools divide as C++ does: the quotient truncated toward zero
            return (xp.sign(total) * (xp.abs(total) // xp.abs(div)) * xp.sign(div)).astype(x.dtype)
        self.inv = (1.0 / div.astype(xp.float64)).astype(x.dtype)
        total *= self.inv
        return total

    def backward(self, g):
        xp = self.xp
        shape, padded, pads, kernel, stride, out = self.args
        nd = len(kernel)
        gs = g * self.inv
        res = xp.zeros(padded, dtype=g.dtype)
        for offs in itertools.product(*(range(k) for k in kernel)):
            res[(Ellipsis, *_offset_slices(offs, stride, (1,) * nd, out))] += gs
        return res[(Ellipsis, *(slice(lo, lo + n) for n, (lo, _) in zip(shape[-nd:], pads)))]


def adaptive_bounds(n_in: int, n_out: int):
    """torch's adaptive pooling windows: [floor(i·In/Out), ceil((i+1)·In/Out)) for each output i."""
    return [((i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)) for i in range(n_out)]


class AdaptiveMaxPoolNd(Function):
    """Max over torch's adaptive windows of the trailing axes; keeps flat argmax indices."""

    def forward(self, x, out=(1,)):
        xp = self.xp
        nd = len(out)
        size = x.shape[-nd:]
        lead = x.shape[:-nd]
        bounds = [adaptive_bounds(n, o) for n, o in zip(size, out)]
        res = xp.empty((*lead, *out), dtype=x.dtype)
        idx = xp.empty((*lead, *out), dtype=xp.int64)
        for pos in itertools.product(*(range(o) for o in out)):
            win = [bounds[i][p] for i, p in enumerate(pos)]
            v = x[(Ellipsis, *(slice(a, b) for a, b in win))]
            wshape = v.shape[-nd:]
            flat = v.reshape(*lead, math.prod(wshape))
            # last NaN, else first maximum (torch's choice: it takes a value if > max or NaN)
            nan = xp.isnan(flat)
            last_nan = flat.shape[-1] - 1 - xp.argmax(nan[..., ::-1], -1)
            a = xp.where(nan.any(-1), last_nan, xp.argmax(xp.where(nan, -xp.inf, flat), -1))
            res[(Ellipsis, *pos)] = xp.take_along_axis(flat, a[..., None], -1)[..., 0]
            local = xp.unravel_index(a, wshape)
            f = xp.zeros(a.shape, dtype=xp.int64)
            for i in range(nd):
                f = f * size[i] + win[i][0] + local[i]
            idx[(Ellipsis, *pos)] = f
        self.idx, self.shape, self.nd = idx, x.shape, nd
        return res

    def backward(self, g):
        return scatter_rows(self.xp, g, self.idx, self.shape, self.nd)


def scatter_rows(xp, g, idx, shape, nd):
    """zeros(shape) with g (*lead, *out) added at flat indices ``idx`` (g's shape) into the last ``nd``
    axes of ``shape`` (*lead, *S); duplicate indices are summed."""
    lead = shape[: len(shape) - nd]
    rows = math.prod(lead)
    res = xp.zeros((rows, math.prod(shape[len(lead):])), dtype=g.dtype)
    n = math.prod(g.shape[len(lead):])
    r = xp.broadcast_to(xp.arange(rows).reshape(-1, 1), (rows, n))
    scatter_add(res, (r, idx.reshape(rows, n)), g.reshape(rows, n))
    return res.reshape(shape)


class MaxUnpool(Function):
    """Partial inverse of max pooling: x goes to flat ``indices`` of zeros (N, C, *out); the rest stays 0."""

    def forward(self, x, indices=None, out=(1,)):
        xp = self.xp
        lead = x.shape[: x.ndim - len(out)]
        rows = math.prod(lead)
        res = xp.zeros((rows, math.prod(out)), dtype=x.dtype)
        self.rows, self.flat = xp.arange(rows).reshape(-1, 1), indices.reshape(rows, -1)
        res[self.rows, self.flat] = x.reshape(rows, -1)
        self.in_shape = x.shape
        return res.reshape(*lead, *out)

    def backward(self, g):
        rows = self.flat.shape[0]
        return g.reshape(rows, -1)[self.rows, self.flat].reshape(self.in_shape)
