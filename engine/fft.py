"""engine.fft: torch.fft's discrete Fourier transforms, and stft/istft (torch.stft, torch.istft).

Each transform is one op, ``FFT``, running a short list of steps on arrays of the engine's array
module (``xp.fft``, so CuPy works as NumPy): resize (torch's zero-padding/trimming by ``n``/``s``),
c2c, r2c, c2r, conj, a real-to-complex cast and view_as_real's layout, in the order torch's own composition runs them.
Backward runs each step's adjoint in reverse (torch's convention: the cotangent of a complex output
is dL/dRe + i dL/dIm, the vjp of a linear map is its conjugate transpose, a real input gets the real
part), with torch's fft_r2c_backward / fft_c2r_backward for the one-sided ops. That backward is linear
in g and made of steps itself: ``adjoint_steps`` lists them (with "real", "as_complex" and "double", the
steps only a backward takes), so create_graph records it as one more FFT (engine.higher_order).

>>> import engine
>>> engine.fft.fft(engine.tensor([1.0, 0.0, 0.0, 0.0])).tolist()
[(1+0j), (1+0j), (1+0j), (1+0j)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from engine.dtypes import scalar_type_name
from engine.function import Function
from engine.tensor import Tensor

__all__ = [
    "fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2", "irfft2", "hfft2", "ihfft2",
    "fftn", "ifftn", "rfftn", "irfftn", "hfftn", "ihfftn", "fftfreq", "rfftfreq", "fftshift", "ifftshift",
]

_COMPLEX = {np.dtype(np.float32): np.dtype(np.complex64), np.dtype(np.float64): np.dtype(np.complex128)}


# ---- array-level steps and their adjoints ------------------------------------------------------------


def _scale(mode: str, sizes) -> float:
    """torch's fft_norm_mode as a factor: "none" 1, "sqrt" 1/sqrt(n), "n" 1/n (n: the signal's size)."""
    n = math.prod(sizes)
    return 1.0 if mode == "none" or n == 0 else 1.0 / math.sqrt(n) if mode == "sqrt" else 1.0 / n


def _resize(xp, a, dims, sizes):
    """Trim or zero-pad (at the end) ``a`` along ``dims`` to ``sizes`` (torch's resize_fft_input)."""
    pad = [(0, 0)] * a.ndim
    index = [slice(None)] * a.ndim
    for d, n in zip(dims, sizes):
        if a.shape[d] > n:
            index[d] = slice(0, n)
        elif a.shape[d] < n:
            pad[d] = (0, n - a.shape[d])
    a = a[tuple(index)]
    return xp.pad(a, pad) if any(p[1] for p in pad) else a


def _c2c(xp, a, dims, mode, forward, cdtype):
    if not dims:
        return a.astype(cdtype)
    s = _scale(mode, [a.shape[d] for d in dims])
    out = xp.fft.fftn(a, axes=dims) if forward else xp.fft.ifftn(a, axes=dims, norm="forward")
    return (out * s).astype(cdtype, copy=False)


def _r2c(xp, a, dims, mode, onesided, cdtype):
    s = _scale(mode, [a.shape[d] for d in dims])
    out = xp.fft.rfftn(a, axes=dims) if onesided else xp.fft.fftn(a, axes=dims)
    return (out * s).astype(cdtype, copy=False)


def _c2r(xp, a, dims, mode, last, rdtype):
    sizes = [a.shape[d] for d in dims[:-1]] + [last]
    out = xp.fft.irfftn(a, s=sizes, axes=dims, norm="forward")
    return (out * _scale(mode, sizes)).astype(rdtype, copy=False)


_NODE_NAMES = {"c2c": "FftC2CBackward0", "r2c": "FftR2CBackward0", "c2r": "FftC2RBackward0"}


class FFT(Function):
    """A torch.fft transform as a list of steps (see the module's docstring); ``cdtype`` is the complex
    dtype it works in. Backward gives a real input a real gradient."""

    conj_grad = False  # backward is written in torch's convention already (the adjoints Fᴴ g)

    def forward(self, a, steps=(), cdtype=None):
        xp = self.xp
        cdtype = np.dtype(cdtype)
        rdtype = np.dtype(cdtype.char.lower())  # complex64 -> float32
        self.steps, self.shapes, self.cdtype, self.rdtype = steps, [], cdtype, rdtype
        kinds = [step[0] for step in steps if step[0] in _NODE_NAMES]
        self.torch_name = _NODE_NAMES[kinds[-1]] if kinds else "FftC2CBackward0"  # grad_fn's name, as torch's
        for step in steps:
            self.shapes.append(a.shape)
            kind = step[0]
            if kind == "resize":
                a = _resize(xp, a, step[1], step[2])
            elif kind == "c2c":
                a = _c2c(xp, a, step[1], step[2], step[3], cdtype)
            elif kind == "r2c":
                a = _r2c(xp, a, step[1], step[2], step[3], cdtype)
            elif kind == "c2r":
                a = _c2r(xp, a, step[1], step[2], step[3], rdtype)
            elif kind == "conj":
                a = xp.conj(a)
            elif kind == "as_real":  # view_as_real's layout: (..., 2)
                a = xp.stack((a.real, a.imag), axis=-1)
            elif kind == "complex":
                a = a.astype(cdtype)
            else:  # the steps only a backward (adjoint_steps) runs
                a = _adjoint_only(xp, kind, step, a, cdtype, rdtype)
        return a

    def backward(self, g):
        xp, cdtype, rdtype = self.xp, self.cdtype, self.rdtype
        for step, shape in zip(reversed(self.steps), reversed(self.shapes)):
            kind = step[0]
            if kind == "resize":
                g = _resize(xp, g, step[1], [shape[d] for d in step[1]])
            elif kind == "c2c":
                g = _c2c(xp, g, step[1], step[2], not step[3], cdtype)
            elif kind == "r2c":  # torch's fft_r2c_backward
                dims = step[1]
                if step[3]:
                    g = _resize(xp, g, dims[-1:], [shape[dims[-1]]])
                g = _c2c(xp, g, dims, step[2], False, cdtype).real.astype(rdtype)
            elif kind == "c2r":  # torch's fft_c2r_backward: rfft, then the entries a mirror image lost doubled
                dims, last = step[1], step[1][-1]
                gi = _r2c(xp, g.astype(rdtype, copy=False), dims, step[2], True, cdtype)
                double = g.shape[last] - gi.shape[last]
                if double > 0:
                    index = [slice(None)] * gi.ndim
                    index[last] = slice(1, 1 + double)
                    gi[tuple(index)] *= 2
                g = gi
            elif kind == "conj":
                g = xp.conj(g)
            elif kind == "as_real":
                g = (g[..., 0] + 1j * g[..., 1]).astype(cdtype)
            elif kind == "complex":  # a real input's gradient is the real part
                g = g.real.astype(rdtype)
            elif kind == "real":  # the steps only a backward runs (adjoint_steps): real's adjoint is complex,
                g = g.astype(cdtype)
            elif kind == "as_complex":  # as_complex's as_real,
                g = xp.stack((g.real, g.imag), axis=-1)
            else:  # and double is its own
                g = _adjoint_only(xp, kind, step, g, cdtype, rdtype)
        return g


def _adjoint_only(xp, kind: str, step: tuple, a, cdtype, rdtype):
    """The steps of a backward written as an FFT (adjoint_steps): "real" (the real part), "as_complex"
    (view_as_complex of a (..., 2) array), ("double", dim, lo, hi) (entries lo:hi of dim times 2)."""
    if kind == "real":
        return a.real.astype(rdtype)
    if kind == "as_complex":
        return (a[..., 0] + 1j * a[..., 1]).astype(cdtype)
    index = [slice(None)] * a.ndim
    index[step[1]] = slice(step[2], step[3])
    a = a.copy()
    a[tuple(index)] *= 2
    return a


def adjoint_steps(steps: tuple, shapes: list) -> tuple:
    """The steps whose forward is ``FFT.backward`` of an FFT with ``steps`` (``shapes``: each step's input
    shape): backward is linear in g, so create_graph records it as one more FFT (engine.higher_order),
    whose own backward, the adjoint of the adjoint, is the forward map again.

    >>> adjoint_steps((("complex",), ("c2c", (0,), "none", True)), [(4,), (4,)])
    (('c2c', (0,), 'none', False), ('real',))
    """
    out = []
    for step, shape in zip(reversed(steps), reversed(shapes)):
        kind = step[0]
        if kind == "resize":
            out.append(("resize", step[1], tuple(shape[d] for d in step[1])))
        elif kind == "c2c":
            out.append(("c2c", step[1], step[2], not step[3]))
        elif kind == "r2c":  # as FFT.backward: the one-sided half zero-padded, the inverse c2c, its real part
            dims = step[1]
            if step[3]:
                out.append(("resize", dims[-1:], (shape[dims[-1]],)))
            out += [("c2c", dims, step[2], False), ("real",)]
        elif kind == "c2r":  # rfft, then the entries a mirror image lost doubled
            dims, last = step[1], step[3]
            out.append(("r2c", dims, step[2], True))
            if last - (last // 2 + 1) > 0:
                out.append(("double", dims[-1], 1, last - last // 2))
        else:
            out.append({"conj": ("conj",), "as_real": ("as_complex",), "complex": ("real",), "real": ("complex",),
                        "as_complex": ("as_real",), "double": step}[kind])
    return tuple(out)


# ---- argument handling as torch's ------------------------------------------------------------------


def _norm_mode(norm: str | None, forward: bool) -> str:
    """torch's norm_from_string: the scaling of a forward (or backward) transform."""
    if norm is None or norm == "backward":
        return "none" if forward else "n"
    if norm == "forward":
        return "n" if forward else "none"
    if norm == "ortho":
        return "sqrt"
    raise RuntimeError(f'Invalid normalization mode: "{norm}"')


def _promote(x: Tensor, name: str, require_complex: bool = False, require_real: bool = False) -> Tensor:
    """torch's promote_tensor_fft: integers and bool to the default float dtype; no half."""
    if not isinstance(x, Tensor):
        raise TypeError(f"fft_{name}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")
    kind = x.dtype.kind
    if require_real and kind == "c":
        raise RuntimeError(f"{name} expects a real input tensor, but got {scalar_type_name(x.dtype)}")
    if kind in "iub":
        from engine.torch_more import get_default_dtype

        x = x.astype(get_default_dtype())
    elif kind == "f" and x.dtype.itemsize < 4 or x.dtype.name == "bfloat16":
        raise RuntimeError(f"Unsupported dtype {scalar_type_name(x.dtype)}")
    return x


def _cdtype(x: Tensor) -> np.dtype:
    return x.dtype if x.dtype.kind == "c" else _COMPLEX[x.dtype]


def _wrap(dim, ndim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"fft: dim must be an int, got {dim!r}")
    if ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    if not -ndim <= dim < ndim:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], but got {dim})")
    return int(dim) % ndim


def _check_n(n) -> None:
    if n < 1:
        raise RuntimeError(f"Invalid number of data points ({n}) specified")


def _shape_and_dims(x: Tensor, s, dim) -> tuple[tuple, list]:
    """torch's canonicalize_fft_shape_and_dim_args: (dims, sizes)."""
    if isinstance(s, (int, np.integer)):
        s = (s,)
    if isinstance(dim, (int, np.integer)):
        dim = (dim,)
    dims = None
    if dim is not None:
        dims = tuple(_wrap(d, x.ndim) for d in dim)
        if len(set(dims)) != len(dims):
            raise RuntimeError("FFT dims must be unique")
    if s is not None:
        s = list(s)
        if dims is not None and len(dims) != len(s):
            raise RuntimeError("When given, dim and shape arguments must have the same length")
        if len(s) > x.ndim:
            raise RuntimeError(f"Got shape with {len(s)} values but input tensor only has {x.ndim} dimensions.")
        if dims is None:
            dims = tuple(range(x.ndim - len(s), x.ndim))
        sizes = [x.shape[d] if n == -1 else int(n) for d, n in zip(dims, s)]
    elif dims is None:
        dims, sizes = tuple(range(x.ndim)), list(x.shape)
    else:
        sizes = [x.shape[d] for d in dims]
    for n in sizes:
        if n <= 0:
            raise RuntimeError(f"Invalid number of data points ({n}) specified")
    return dims, sizes


def _finish(name: str, result: Tensor, out: Tensor | None) -> Tensor:
    """Write ``result`` into ``out`` when given (torch's out= on the fft functions)."""
    if out is None:
        return result
    from engine.out import _write_all

    if not isinstance(out, Tensor):
        raise TypeError(f"fft_{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if result.dtype.kind == "c" and out.dtype.kind != "c":
        raise RuntimeError(f"{name} expects a complex output tensor, but got {scalar_type_name(out.dtype)}")
    return _write_all(f"fft_{name}", result, out, True)


def _run(x: Tensor, steps: list, cdtype) -> Tensor:
    return FFT.apply(x, steps=tuple(steps), cdtype=cdtype)


# ---- one-dimensional transforms ------------------------------------------------------------------------


def _c2c_1d(name: str, input: Tensor, n, dim, norm, forward: bool) -> Tensor:  # noqa: A002
    x = _promote(input, name)
    d = _wrap(dim, x.ndim)
    n = x.shape[d] if n is None else n
    _check_n(n)
    mode = _norm_mode(norm, forward)
    steps = [("resize", (d,), (n,))]
    if x.dtype.kind == "c":
        steps.append(("c2c", (d,), mode, forward))
    else:  # torch: a one-sided=False r2c, conjugated for the inverse
        steps.append(("r2c", (d,), mode, False))
        if not forward:
            steps.append(("conj",))
    return _run(x, steps, _cdtype(x))


def fft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *,  # noqa: A002
        out: Tensor | None = None) -> Tensor:
    """One-dimensional discrete Fourier transform (torch.fft.fft); ``n`` trims or zero-pads ``dim``.

    >>> import engine
    >>> engine.fft.fft(engine.tensor([1.0, 2.0]), n=3).shape
    (3,)
    """
    return _finish("fft", _c2c_1d("fft", input, n, dim, norm, True), out)


def ifft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *,  # noqa: A002
         out: Tensor | None = None) -> Tensor:
    """Inverse of :func:`fft` (torch.fft.ifft).

    >>> import engine
    >>> engine.fft.ifft(engine.tensor([2.0 + 0j, 0j])).tolist()
    [(1+0j), (1+0j)]
    """
    return _finish("ifft", _c2c_1d("ifft", input, n, dim, norm, False), out)


def _r2c_1d(name: str, input: Tensor, n, dim, norm, forward: bool) -> Tensor:  # noqa: A002
    x = _promote(input, name, require_real=True)
    d = _wrap(dim, x.ndim)
    n = x.shape[d] if n is None else n
    _check_n(n)
    steps = [("resize", (d,), (n,)), ("r2c", (d,), _norm_mode(norm, forward), True)]
    if not forward:
        steps.append(("conj",))
    return _run(x, steps, _cdtype(x))


def rfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *,  # noqa: A002
         out: Tensor | None = None) -> Tensor:
    """Fourier transform of a real signal, the n // 2 + 1 non-negative frequencies (torch.fft.rfft).

    >>> import engine
    >>> engine.fft.rfft(engine.tensor([1.0, 1.0, 1.0, 1.0])).tolist()
    [(4+0j), 0j, 0j]
    """
    return _finish("rfft", _r2c_1d("rfft", input, n, dim, norm, True), out)


def ihfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *,  # noqa: A002
          out: Tensor | None = None) -> Tensor:
    """Inverse of :func:`hfft`: the one-sided inverse transform of a real signal (torch.fft.ihfft).

    >>> import engine
    >>> engine.fft.ihfft(engine.tensor([1.0, 2.0, 3.0])).shape
    (2,)
    """
    return _finish("ihfft", _r2c_1d("ihfft", input, n, dim, norm, False), out)


def _c2r_1d(name: str, input: Tensor, n, dim, norm, forward: bool) -> Tensor:  # noqa: A002
    x = _promote(input, name)
    d = _wrap(dim, x.ndim)
    last = 2 * (x.shape[d] - 1) if n is None else n
    _check_n(last)
    steps = [] if x.dtype.kind == "c" else [("complex",)]
    if n is not None:
        steps.append(("resize", (d,), (n // 2 + 1,)))
    if forward:
        steps.append(("conj",))
    steps.append(("c2r", (d,), _norm_mode(norm, forward), last))
    return _run(x, steps, _cdtype(x))


def irfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *,  # noqa: A002
          out: Tensor | None = None) -> Tensor:
    """Inverse of :func:`rfft`: a real signal of length ``n`` (default 2 * (m - 1)) (torch.fft.irfft).

    >>> import engine
    >>> engine.fft.irfft(engine.tensor([4.0, 0.0, 0.0])).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    return _finish("irfft", _c2r_1d("irfft", input, n, dim, norm, False), out)


def hfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *,  # noqa: A002
         out: Tensor | None = None) -> Tensor:
    """Fourier transform of a Hermitian-symmetric signal given by its one-sided half (torch.fft.hfft).

    >>> import engine
    >>> engine.fft.hfft(engine.tensor([1.0, 0.0, 0.0])).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    return _finish("hfft", _c2r_1d("hfft", input, n, dim, norm, True), out)


# ---- n-dimensional transforms --------------------------------------------------------------------------


def _fftn(name: str, input: Tensor, s, dim, norm, forward: bool) -> Tensor:  # noqa: A002
    x = _promote(input, name)
    dims, sizes = _shape_and_dims(x, s, dim)
    steps = [] if x.dtype.kind == "c" else [("complex",)]
    steps += [("resize", dims, sizes), ("c2c", dims, _norm_mode(norm, forward), forward)]
    return _run(x, steps, _cdtype(x))


def _nd_name(name: str) -> str:
    return name[:-1] + "n" if name.endswith("2") else name  # torch's fft2 family is its fftn's


def _rfftn(name: str, input: Tensor, s, dim, norm, forward: bool) -> Tensor:  # noqa: A002
    x = _promote(input, name)
    if x.dtype.kind == "c":  # torch's words differ from the 1-d ones
        kind = scalar_type_name(x.dtype)
        raise RuntimeError(f"rfftn expects a real-valued input tensor, but got {kind}" if forward else
                           f"Only supports floating-point dtypes, but found: {kind}")
    dims, sizes = _shape_and_dims(x, s, dim)
    if not dims:
        raise RuntimeError(f"{_nd_name(name)} must transform at least one axis")
    mode = _norm_mode(norm, forward)
    steps = [("resize", dims, sizes), ("r2c", dims[-1:], mode, True)]
    if not forward:  # ihfftn: the one-sided inverse on the last dim, then c2c inverses on the others
        steps.append(("conj",))
        if len(dims) > 1:
            steps.append(("c2c", dims[:-1], mode, False))
    elif len(dims) > 1:
        steps.append(("c2c", dims[:-1], mode, True))
    return _run(x, steps, _cdtype(x))


def _irfftn(name: str, input: Tensor, s, dim, norm, forward: bool) -> Tensor:  # noqa: A002
    if not isinstance(input, Tensor):
        _promote(input, name)
    dims, sizes = _shape_and_dims(input, s, dim)
    if not dims:
        raise RuntimeError(f"{_nd_name(name)} must transform at least one axis")
    s_list = [s] if isinstance(s, (int, np.integer)) else None if s is None else list(s)
    last = 2 * (input.shape[dims[-1]] - 1) if s_list is None or s_list[-1] == -1 else sizes[-1]
    _check_n(last)
    sizes[-1] = last // 2 + 1
    x = _promote(input, name)
    mode = _norm_mode(norm, forward)
    steps = [] if x.dtype.kind == "c" else [("complex",)]
    steps.append(("resize", dims, sizes))
    if forward:  # hfftn: c2c on all dims but the last, conj, then c2r on the last
        if len(dims) > 1:
            steps.append(("c2c", dims[:-1], mode, True))
        steps += [("conj",), ("c2r", dims[-1:], mode, last)]
    else:
        steps.append(("c2r", dims, mode, last))
    return _run(x, steps, _cdtype(x))


def _nd(name: str, impl, default_dim, doc_example: str):
    def transform(input: Tensor, s: Sequence[int] | None = None, dim=default_dim,  # noqa: A002
                  norm: str | None = None, *, out: Tensor | None = None) -> Tensor:
        return _finish(name, impl(name, input, s, dim, norm, not name.startswith("i")), out)

    transform.__name__ = transform.__qualname__ = name
    transform.__doc__ = doc_example
    return transform


def _doc(what: str, name: str, shape: str) -> str:
    return (f"{what} (torch.fft.{name}).\n\n    >>> import engine\n    >>> engine.fft.{name}(engine.ones(2, 4))"
            f".shape\n    {shape}\n    ")


fft2 = _nd("fft2", _fftn, (-2, -1), _doc("Two-dimensional discrete Fourier transform", "fft2", "(2, 4)"))
ifft2 = _nd("ifft2", _fftn, (-2, -1), _doc("Inverse of fft2", "ifft2", "(2, 4)"))
fftn = _nd("fftn", _fftn, None, _doc("N-dimensional discrete Fourier transform", "fftn", "(2, 4)"))
ifftn = _nd("ifftn", _fftn, None, _doc("Inverse of fftn", "ifftn", "(2, 4)"))
rfft2 = _nd("rfft2", _rfftn, (-2, -1), _doc("fft2 of a real signal, one-sided in the last dim", "rfft2", "(2, 3)"))
rfftn = _nd("rfftn", _rfftn, None, _doc("fftn of a real signal, one-sided in the last dim", "rfftn", "(2, 3)"))
ihfft2 = _nd("ihfft2", _rfftn, (-2, -1), _doc("Inverse of hfft2", "ihfft2", "(2, 3)"))
ihfftn = _nd("ihfftn", _rfftn, None, _doc("Inverse of hfftn", "ihfftn", "(2, 3)"))
irfft2 = _nd("irfft2", _irfftn, (-2, -1), _doc("Inverse of rfft2", "irfft2", "(2, 6)"))
irfftn = _nd("irfftn", _irfftn, None, _doc("Inverse of rfftn", "irfftn", "(2, 6)"))
hfft2 = _nd("hfft2", _irfftn, (-2, -1), _doc("Two-dimensional hfft", "hfft2", "(2, 6)"))
hfftn = _nd("hfftn", _irfftn, None, _doc("N-dimensional hfft", "hfftn", "(2, 6)"))


# ---- frequencies and shifts ----------------------------------------------------------------------------


def _freq(n: int, d: float, dtype, device, requires_grad: bool, values) -> Tensor:
    from engine.torch_more import get_default_dtype

    dtype = np.dtype(get_default_dtype() if dtype is None else dtype)
    if dtype.kind not in "fc":
        raise RuntimeError("fftfreq requires a floating point or complex dtype")
    data = values.astype(dtype) * dtype.type(1.0 / (n * d))
    t = Tensor(data.astype(dtype, copy=False))
    if device is not None:
        t = t.to(device)
    return t.requires_grad_() if requires_grad else t


def fftfreq(n: int, d: float = 1.0, *, out: Tensor | None = None, dtype=None, layout=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """The sample frequencies of :func:`fft` for a signal of ``n`` samples spaced ``d`` (torch.fft.fftfreq).

    >>> import engine
    >>> engine.fft.fftfreq(4).tolist()
    [0.0, 0.25, -0.5, -0.25]
    """
    values = np.concatenate([np.arange((n + 1) // 2), np.arange(-(n // 2), 0)])
    return _finish("fftfreq", _freq(n, d, dtype if out is None else out.dtype, device, requires_grad, values), out)


def rfftfreq(n: int, d: float = 1.0, *, out: Tensor | None = None, dtype=None, layout=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """The sample frequencies of :func:`rfft` (torch.fft.rfftfreq).

    >>> import engine
    >>> engine.fft.rfftfreq(4).tolist()
    [0.0, 0.25, 0.5]
    """
    values = np.arange(n // 2 + 1)
    return _finish("rfftfreq", _freq(n, d, dtype if out is None else out.dtype, device, requires_grad, values),
                   out)


def _shift(input: Tensor, dim, inverse: bool) -> Tensor:  # noqa: A002
    if dim is None:
        dims = tuple(range(input.ndim))
    else:
        dims = tuple(_wrap(d, input.ndim) for d in ((dim,) if isinstance(dim, (int, np.integer)) else dim))
    if not dims:
        return input.clone()
    shifts = [(input.shape[d] + inverse) // 2 for d in dims]
    return input.roll(shifts, dims)


def fftshift(input: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:  # noqa: A002
    """Move the zero frequency to the centre of ``dim`` (all dims by default): a roll (torch.fft.fftshift).

    >>> import engine
    >>> engine.fft.fftshift(engine.fft.fftfreq(4)).tolist()
    [-0.5, -0.25, 0.0, 0.25]
    """
    return _shift(input, dim, False)


def ifftshift(input: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:  # noqa: A002
    """Inverse of :func:`fftshift` (torch.fft.ifftshift).

    >>> import engine
    >>> engine.fft.ifftshift(engine.tensor([-0.5, -0.25, 0.0, 0.25])).tolist()
    [0.0, 0.25, -0.5, -0.25]
    """
    return _shift(input, dim, True)

