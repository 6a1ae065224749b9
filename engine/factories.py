"""torch-named factories and random sampling: ``engine.tensor``, ``zeros``, ``arange``,
``randint``, ``normal``, ``multinomial``, ... (also reachable as ``Tensor`` methods).

Random draws come from the seeded default generator of the device (``engine.manual_seed``)
or from ``generator=`` (an ``engine.Generator``, a ``numpy.random.Generator`` or its CuPy twin).

>>> import engine
>>> engine.tensor([1, 2]).dtype, engine.tensor([1.5]).dtype
(dtype('int64'), dtype('float32'))
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.backend import array_module, check_device, get_xp
from engine.dtypes import to_dtype
from engine.rng import generator as _default
from engine.tensor import RandomDtypeError, Tensor, _as_array, _sample, _sample_parts

_builtin_bool = bool


def _size(size: tuple, kw_size, op: str) -> tuple:
    """torch's size forms: ``f(2, 3)``, ``f((2, 3))``, ``f([2, 3])`` or ``f(size=(2, 3))``."""
    if kw_size is not None:
        if size:
            raise TypeError(f"{op}(): give the size positionally or as size=, not both")
        size = (kw_size,)
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if any(isinstance(s, float) or isinstance(s, _builtin_bool) for s in size):
        raise TypeError(f"{op}(): size must be ints, got {size!r}")
    try:
        out = tuple(int(s) for s in size)
    except TypeError:
        raise TypeError(f"{op}(): size must be ints, got {size!r}") from None
    if any(s < 0 for s in out):
        raise RuntimeError(f"{op}(): negative dimension in size {out}")
    return out


def _device(device) -> str:
    return "cpu" if device is None else check_device(device)


def _make(arr, requires_grad: bool) -> Tensor:
    return Tensor(arr, requires_grad=requires_grad)


_DEFAULT_DTYPE = [np.dtype(np.float32)]  # engine.set_default_dtype changes it (factories only)


def default_dtype() -> np.dtype:
    """The float dtype factories use when none is given (float32 unless set_default_dtype changed it)."""
    return _DEFAULT_DTYPE[0]


def set_default_dtype(d) -> None:
    """torch.set_default_dtype for the factories (zeros, ones, rand, arange with floats, tensor of Python
    floats, ...): float32 or float64. A float op on an integer tensor still gives float32.

    >>> set_default_dtype("float64"); zeros(1).dtype
    dtype('float64')
    >>> set_default_dtype("float32")
    """
    dt = to_dtype(d)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"set_default_dtype only supports float32 and float64 here, got {dt}")
    _DEFAULT_DTYPE[0] = np.dtype(dt)


# ---- from data ---------------------------------------------------------------------------------


def _python_ints(data, dtype):
    """torch.tensor's checks on Python numbers bound for an integer ``dtype``: a value outside the
    type raises RuntimeError (nan and inf too), except that unsigned types take negatives down to
    -(2^bits - 1), wrapping them (``tensor([-1], dtype=uint8)`` is 255). Returns the data to build from."""
    arr = np.asarray(data)
    if arr.dtype == object and all(isinstance(v, int) for v in arr.flat):  # beyond int64 and uint64
        raise ValueError("Overflow when unpacking long long: tensor() ints must fit int64")
    info = np.iinfo(dtype)
    lo = -int(info.max) if dtype.kind == "u" and arr.dtype.kind != "f" else int(info.min)  # ints only wrap
    if arr.size and arr.dtype.kind in "fiuO":
        vals = arr.astype(np.float64) if arr.dtype.kind == "f" else arr
        if not (bool(np.isfinite(vals).all()) if arr.dtype.kind == "f" else True) or \
                not lo <= vals.min() or not vals.max() <= int(info.max):
            raise RuntimeError(f"value cannot be converted to type {dtype.name} without overflow")
        if dtype.kind == "u" and vals.min() < 0:
            return (np.trunc(vals).astype(np.int64) % (int(info.max) + 1)).astype(dtype)
    return data


def tensor(data: Any, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor (always a copy) from data: nested lists of Python floats become float32,
    ints int64, bools bool; arrays and Tensors keep their dtype.

    >>> tensor([[1.0, 2.0]], requires_grad=True).shape
    (1, 2)
    """
    if isinstance(data, Tensor):
        data = data._data
    dtype = to_dtype(dtype)
    if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in data):
        data = [_one_element(d) if isinstance(d, Tensor) else d for d in data]
    if not hasattr(data, "dtype") and dtype is not None and dtype.kind in "iu":
        data = _python_ints(data, dtype)
    arr = _as_array(data, dtype=dtype, device=device)
    if dtype is None and not hasattr(data, "dtype") and arr.dtype in (np.uint64, object):
        raise ValueError("Overflow when unpacking long long: tensor() ints must fit int64")
    if dtype is None and not hasattr(data, "dtype") and arr.dtype == np.float32 and default_dtype() != np.float32:
        arr = arr.astype(default_dtype())  # Python floats take the default dtype
    if dtype is None and not hasattr(data, "dtype") and arr.dtype == np.complex64 and default_dtype() == np.float64:
        arr = arr.astype(np.complex128)  # and Python complex numbers its complex dtype
    if device is None and hasattr(data, "dtype"):
        arr = arr.copy()
    elif device is not None and arr is data:
        arr = arr.copy()
    return _make(arr, requires_grad)


def _one_element(t: Tensor):
    """A Tensor inside a list given to ``tensor`` is one number, as torch (item(), keeping its dtype)."""
    if t.numel() != 1:
        raise ValueError("only one element tensors can be converted to Python scalars")
    return t.numpy().reshape(())


def as_tensor(data: Any, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with a NumPy (or CuPy) array, or returns the Tensor
    itself, when dtype and device already match."""
    dtype = to_dtype(dtype)
    if isinstance(data, Tensor):
        if (dtype is None or data.dtype == dtype) and (device is None or data.device == check_device(device)):
            return data
        out = data.to(device) if device is not None else data
        return out.to(dtype) if dtype is not None else out
    return Tensor(_as_array(data, dtype=dtype, device=device))


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory and dtype (writes to one show in the other).

    >>> a = np.zeros(2); t = from_numpy(a); a[0] = 5; t.tolist()
    [5.0, 0.0]
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy(): expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


# ---- filled ------------------------------------------------------------------------------------


def zeros(*size, dtype=None, device=None, requires_grad: bool = False, **kw) -> Tensor:
    """Zeros of ``size`` (float32 unless ``dtype=``).

    >>> zeros(2, 3).shape, zeros((2, 3)).shape, zeros(size=(2,)).shape
    ((2, 3), (2, 3), (2,))
    """
    shape = _size(size, kw.pop("size", None), "zeros")
    _no_extra("zeros", kw)
    return _make(get_xp(_device(device)).zeros(shape, dtype=to_dtype(dtype) or default_dtype()), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False, **kw) -> Tensor:
    shape = _size(size, kw.pop("size", None), "ones")
    _no_extra("ones", kw)
    return _make(get_xp(_device(device)).ones(shape, dtype=to_dtype(dtype) or default_dtype()), requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False, **kw) -> Tensor:
    """Uninitialised memory of ``size`` (float32 unless ``dtype=``)."""
    shape = _size(size, kw.pop("size", None), "empty")
    _no_extra("empty", kw)
    return _make(get_xp(_device(device)).empty(shape, dtype=to_dtype(dtype) or default_dtype()), requires_grad)


def empty_strided(size, stride, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uninitialised memory of ``size`` laid out with ``stride`` (in elements; torch's Tensor.stride()):
    a window on a flat buffer just large enough, as torch.empty_strided.

    >>> empty_strided((2, 3), (1, 2)).stride()
    (1, 2)
    """
    shape, steps = _size((size,), None, "empty_strided"), tuple(int(st) for st in stride)
    if len(shape) != len(steps):
        raise RuntimeError(f"dimensionality of sizes ({len(shape)}) must match dimensionality of strides "
                           f"({len(steps)})")
    if any(st < 0 for st in steps):
        raise RuntimeError(f"empty_strided: strides must be non-negative, got {list(steps)}")
    dtype = to_dtype(dtype) or default_dtype()
    xp = get_xp(_device(device))
    span = 0 if 0 in shape else 1 + sum((n - 1) * st for n, st in zip(shape, steps))
    flat = xp.empty((span,), dtype=dtype)
    return _make(xp.lib.stride_tricks.as_strided(flat, shape, tuple(st * dtype.itemsize for st in steps)),
                 requires_grad)


def empty_permuted(size, physical_layout, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uninitialised dense memory of ``size`` whose dims lie in memory in the order ``physical_layout``
    (outermost first), as torch.empty_permuted.

    >>> empty_permuted((2, 3, 4), (2, 0, 1)).stride()
    (3, 1, 6)
    """
    shape, order = _size((size,), None, "empty_permuted"), tuple(int(d) for d in physical_layout)
    if len(shape) != len(order):
        raise RuntimeError(f"Number of dimensions in size does not match the length of the physical_layout; i.e. "
                           f"len(size) = {len(shape)} is not equal to len(physical_layout) = {len(order)}")
    if sorted(order) != list(range(len(shape))):
        if len(set(order)) != len(order):
            raise RuntimeError("Duplicate dim not allowed")
        raise RuntimeError(f"Dimension out of range (expected to be between 0 and {len(shape) - 1}, but got "
                           f"{list(order)}): empty_permuted's physical_layout must permute the dims of size "
                           f"{list(shape)}")
    physical = get_xp(_device(device)).empty(tuple(shape[d] for d in order), dtype=to_dtype(dtype) or default_dtype())
    return _make(physical.transpose(np.argsort(order)), requires_grad)


def scalar_tensor(s, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A 0-d tensor holding the number ``s`` (float32 unless ``dtype=``, whatever the number's type).

    >>> scalar_tensor(3).tolist(), scalar_tensor(3, dtype="int64").dtype
    (3.0, dtype('int64'))
    """
    if isinstance(s, Tensor) or not isinstance(s, (int, float, np.number, np.bool_)):
        raise TypeError(f"scalar_tensor(): argument 's' (position 1) must be Number, not {type(s).__name__}")
    return _make(get_xp(_device(device)).asarray(s, dtype=to_dtype(dtype) or default_dtype()), requires_grad)


def _fill_dtype(fill_value):
    """torch's dtype for a fill value: bool, int64 for ints, the default dtype for floats and its complex
    dtype for complex numbers."""
    if isinstance(fill_value, (_builtin_bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(fill_value, (int, np.integer)):
        return np.dtype(np.int64)
    if isinstance(fill_value, (complex, np.complexfloating)):
        return np.dtype(np.complex128 if default_dtype() == np.float64 else np.complex64)
    return default_dtype()


def full(size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``size`` filled with ``fill_value``; the dtype follows the value as in torch.

    >>> full((2,), 7).dtype, full((2,), 7.5).tolist()
    (dtype('int64'), [7.5, 7.5])
    """
    shape = _size((size,), None, "full")
    dtype = to_dtype(dtype) or _fill_dtype(fill_value)
    return _make(get_xp(_device(device)).full(shape, _fill_scalar(fill_value, dtype), dtype=dtype), requires_grad)


# torch's C++ type names in its fill errors
_C_TYPE_NAMES = {"float16": "c10::Half", "float32": "float", "float64": "double", "int32": "int", "int64": "int64_t",
                 "int16": "int16_t", "int8": "int8_t", "uint8": "uint8_t"}


def _fill_scalar(value, dtype):
    """torch's checks on a Python number filling an integer ``dtype`` (full, fill_): past 64 bits
    OverflowError, outside the type RuntimeError (unsigned types wrap negatives, ``full(.., -1,
    dtype=uint8)`` is 255). Returns the value to fill with."""
    kind = np.dtype(dtype).kind
    if isinstance(value, (complex, np.complexfloating)) and kind in "iuf":
        if value.imag != 0:  # torch's words: a complex number fills only a complex (or bool) tensor
            raise RuntimeError(f"value cannot be converted to type {_C_TYPE_NAMES.get(np.dtype(dtype).name, 'float')}"
                               " without overflow")
        value = value.real
    if kind not in "iu" or not isinstance(value, (int, float)) or isinstance(value, _builtin_bool):
        return value
    if isinstance(value, int) and not -(1 << 63) <= value < 1 << 64:
        raise OverflowError(f"int too big to convert: fill value {value} for {np.dtype(dtype).name}")
    try:
        return _python_ints([value], np.dtype(dtype))[0]
    except RuntimeError:
        raise RuntimeError(f"value cannot be converted to type {np.dtype(dtype).name}_t without overflow") from None


def _no_extra(op: str, kw: dict) -> None:
    if kw:
        raise TypeError(f"{op}() got unexpected keyword arguments {sorted(kw)}")


def _like(input: Tensor, dtype, device) -> tuple:  # noqa: A002
    return (input.shape, to_dtype(dtype) or input.dtype, _device(device) if device is not None else input.device)


def zeros_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    """Zeros with ``input``'s shape, dtype and device (unless overridden)."""
    shape, dtype, device = _like(input, dtype, device)
    return zeros(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    shape, dtype, device = _like(input, dtype, device)
    return ones(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    shape, dtype, device = _like(input, dtype, device)
    return empty(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(input: Tensor, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    shape, dtype, device = _like(input, dtype, device)
    return full(shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def rand_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False, generator=None) -> Tensor:  # noqa: A002
    shape, dtype, device = _like(input, dtype, device)
    return rand(shape, dtype=dtype, device=device, requires_grad=requires_grad, generator=generator)


def randn_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False, generator=None) -> Tensor:  # noqa: A002
    shape, dtype, device = _like(input, dtype, device)
    return randn(shape, dtype=dtype, device=device, requires_grad=requires_grad, generator=generator)


def randint_like(input: Tensor, low: int = 0, high: int | None = None, *, dtype=None, device=None,  # noqa: A002
                 requires_grad: bool = False, generator=None) -> Tensor:
    """Random ints in [low, high) with ``input``'s shape and dtype (``randint_like(x, high)`` too)."""
    if high is None:
        low, high = 0, low
    shape, dtype, device = _like(input, dtype, device)
    return randint(low, high, shape, dtype=dtype, device=device, requires_grad=requires_grad, generator=generator)


# ---- ranges ------------------------------------------------------------------------------------


def arange(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """torch's arange: all ints give int64, any float gives float32 (computed in float64).
    ``arange(5)`` and ``arange(end=5)`` both count from 0; 0-d tensors count as their numbers.

    >>> arange(3).tolist(), arange(0, 1, 0.25).dtype
    ([0, 1, 2], dtype('float32'))
    """
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    if to_dtype(dtype) is not None and to_dtype(dtype).kind == "c":  # torch has no complex arange kernel
        raise NotImplementedError(f"\"arange_cpu\" not implemented for "
                                  f"'{'ComplexFloat' if to_dtype(dtype) == np.complex64 else 'ComplexDouble'}'")
    if end is None:
        start, end = 0, start
    if not (math.isfinite(start) and math.isfinite(end)):
        raise RuntimeError(f"arange(): unsupported range: {start} -> {end}")
    if step == 0:
        raise RuntimeError("arange(): step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    vals = (start, end, step)
    dtype = to_dtype(dtype)
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) and not isinstance(v, _builtin_bool) for v in vals)
        dtype = np.dtype(np.int64) if is_int else default_dtype()
    xp = get_xp(_device(device))
    n = max(math.ceil((end - start) / step), 0)
    if dtype.kind in "iu" and all(isinstance(v, (int, np.integer)) for v in vals):
        arr = xp.arange(start, end, step, dtype=dtype)
    elif dtype.kind in "iub":  # torch: float bounds truncate to the integer type before counting
        i0, i1, di = (math.trunc(v) for v in vals)
        if dtype == np.int64:  # int64 counts in integers too: (end - start + step - sign) / step, truncated
            if di == 0:
                raise ValueError("step must be nonzero")
            n = max(math.trunc((i1 - i0 + di - (1 if di > 0 else -1)) / di), 0)
        arr = (i0 + xp.arange(n, dtype=np.int64) * di).astype(dtype)
    else:
        arr = (start + xp.arange(n, dtype=np.float64) * step).astype(dtype)
    return _make(arr, requires_grad)


def linspace(start: float, end: float, steps: int, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` (float32 unless ``dtype=``).

    >>> linspace(0, 1, 3).tolist()
    [0.0, 0.5, 1.0]
    """
    _zero_d_bounds("linspace", start, end)
    start, end, steps = (v.item() if isinstance(v, Tensor) else v for v in (start, end, steps))
    if steps < 0:
        raise RuntimeError("linspace(): number of steps must be non-negative")
    xp = get_xp(_device(device))
    dtype = _range_dtype("linspace", start, end, dtype)
    if dtype.kind in "iu":  # torch: bounds cast to the integer type first, a float step, each half from its end
        s, e = math.trunc(start), math.trunc(end)
        step = (e - s) / max(steps - 1, 1)
        i = xp.arange(steps, dtype=np.float64)
        vals = xp.where((i < steps // 2) | (steps == 1), s + step * i, e - step * (steps - 1 - i))
        return _make(vals.astype(dtype), requires_grad)
    wide = np.complex128 if dtype.kind == "c" else np.float64
    return _make(xp.linspace(start, end, steps, dtype=wide).astype(dtype), requires_grad)


def _range_dtype(op: str, start, end, dtype) -> np.dtype:
    """linspace/logspace's dtype: ``dtype``, else the default float's, complex when a bound is complex;
    a complex bound with a real ``dtype`` is torch's RuntimeError."""
    complex_bound = any(isinstance(v, (complex, np.complexfloating)) for v in (start, end))
    inferred = np.dtype(np.complex128 if default_dtype() == np.float64 else np.complex64) if complex_bound \
        else default_dtype()
    dtype = to_dtype(dtype)
    if dtype is None:
        return inferred
    if complex_bound and dtype.kind != "c":
        names = {"complex64": "c10::complex<float>", "complex128": "c10::complex<double>"}
        from engine.dtypes import scalar_type_name

        raise RuntimeError(f"torch.{op}(): inferred dtype {names[inferred.name]} can't be safely cast to passed dtype "
                           f"{scalar_type_name(dtype)}")
    return dtype


def _zero_d_bounds(op: str, start, end) -> None:
    """torch's linspace/logspace take tensor bounds only when they are 0-d."""
    nd = [v.ndim if isinstance(v, Tensor) else 0 for v in (start, end)]
    if any(nd):
        raise RuntimeError(f"{op} only supports 0-dimensional start and end tensors, but got start with {nd[0]} "
                           f"dimension(s) and end with {nd[1]} dimension(s).")


def logspace(start: float, end: float, steps: int, base: float = 10.0, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``base ** linspace(start, end, steps)``.

    >>> logspace(0, 2, 3).tolist()
    [1.0, 10.0, 100.0]
    """
    _zero_d_bounds("logspace", start, end)
    start, end = (v.item() if isinstance(v, Tensor) else v for v in (start, end))
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    xp = get_xp(_device(device))
    dtype = _range_dtype("logspace", start, end, dtype)
    vals = base ** xp.linspace(start, end, steps, dtype=np.complex128 if dtype.kind == "c" else np.float64)
    return _make(vals.astype(dtype), requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """The ``n`` x ``m`` identity (``m`` defaults to ``n``).

    >>> eye(2, 3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    for name, v in (("n", n), ("m", m)):
        if v is not None and v < 0:
            raise RuntimeError(f"{name} must be greater or equal to 0, got {v}")
    return _make(get_xp(_device(device)).eye(n, n if m is None else m, dtype=to_dtype(dtype) or default_dtype()),
                 requires_grad)


# ---- random ------------------------------------------------------------------------------------


def _gen(generator, device: str):
    return generator if generator is not None else _default(device)


def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False, **kw) -> Tensor:
    """Uniform [0, 1) samples (float32 unless ``dtype=``), reproducible under ``manual_seed``; complex:
    real and imaginary parts each uniform on [0, 1), as torch.

    >>> bool((rand(4, dtype="complex64").imag.numpy() < 1).all())
    True
    """
    shape = _size(size, kw.pop("size", None), "rand")
    _no_extra("rand", kw)
    device = _device(device)
    dtype = to_dtype(dtype) or default_dtype()
    return _make(_sample_parts(_gen(generator, device).random, shape, dtype), requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False, **kw) -> Tensor:
    """Standard normal samples (float32 unless ``dtype=``); complex: real and imaginary parts each of
    variance 1/2, as torch.

    >>> randn(3, dtype="complex64").dtype
    dtype('complex64')
    """
    shape = _size(size, kw.pop("size", None), "randn")
    _no_extra("randn", kw)
    device = _device(device)
    dtype = to_dtype(dtype) or default_dtype()
    scale = math.sqrt(0.5) if dtype.kind == "c" else 1.0  # complex: each part of variance 1/2
    return _make(_sample_parts(_gen(generator, device).standard_normal, shape, dtype, scale), requires_grad)


_CTYPE = {"bool": "bool", "uint8": "unsigned char", "int8": "signed char", "int16": "short", "int32": "int",
          "int64": "int64_t"}


def _check_int_bounds(low: int, high: int, dtype) -> None:
    """torch's check that [low, high) fits an integer ``dtype`` (randint, random_)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "iub":
        return
    lo, hi = (0, 1) if dtype.kind == "b" else (int(np.iinfo(dtype).min), int(np.iinfo(dtype).max))
    name = _CTYPE.get(dtype.name, dtype.name)
    if not lo <= low <= hi:
        raise RuntimeError(f"from is out of bounds for {name}")
    if not lo <= high - 1 <= hi:
        raise RuntimeError(f"to - 1 is out of bounds for {name}")


def _int_size(op: str, size) -> None:
    """torch's strict ``size`` of randint and normal: a tuple or list of ints (a bare int is a TypeError)."""
    if not isinstance(size, (tuple, list)) or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, (_builtin_bool, np.bool_)) for n in size):
        raise TypeError(f"{op}(): argument 'size' must be tuple of ints, not {type(size).__name__} ({size!r})")


def _uniform01(gen, shape, xp):
    return gen.random(shape, dtype=np.float64) if shape else xp.asarray(gen.random(dtype=np.float64))


def randint(low: int = 0, high: int | None = None, size=None, *, generator=None, dtype=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """Random ints in [low, high): ``randint(high, size)`` or ``randint(low, high, size)`` (int64).

    >>> randint(0, 3, (4,)).dtype
    dtype('int64')
    """
    if size is None:  # randint(high, size)
        if high is None:
            raise TypeError("randint(): missing the required argument 'size'")
        low, high, size = 0, low, high
    elif high is None:  # randint(high, size=...)
        low, high = 0, low
    for pos, (name, v) in enumerate((("low", low), ("high", high))):
        if not isinstance(v, (int, np.integer)) or isinstance(v, (_builtin_bool, np.bool_)):
            raise TypeError(f"randint(): argument '{name}' (position {pos}) must be int, not {type(v).__name__}")
    _int_size("randint", size)
    if low >= high:
        raise RuntimeError(f"randint(): expected low < high, got low={low}, high={high}")
    _check_int_bounds(low, high, to_dtype(dtype) or np.int64)
    shape = _size((size,), None, "randint")
    device = _device(device)
    xp = get_xp(device)
    gen = _gen(generator, device)
    if hasattr(gen, "integers"):
        arr = gen.integers(low, high, size=shape, dtype=np.int64)
    else:  # a generator with floats only: floor of a scaled uniform
        arr = (low + xp.floor(_uniform01(gen, shape, xp) * (high - low))).astype(np.int64)
    return _make(xp.asarray(arr).astype(to_dtype(dtype) or np.int64), requires_grad)


def randperm(n: int, *, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64).

    >>> sorted(randperm(3).tolist())
    [0, 1, 2]
    """
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    dt = to_dtype(dtype) or np.dtype(np.int64)
    if dt.kind in "iu" and n > 0 and n - 1 > np.iinfo(dt).max:
        raise RuntimeError(f"value cannot be converted to type {dt.name}_t without overflow")
    device = _device(device)
    xp = get_xp(device)
    gen = _gen(generator, device)
    arr = gen.permutation(n) if hasattr(gen, "permutation") else xp.argsort(_uniform01(gen, (n,), xp))
    return _make(xp.asarray(arr).astype(to_dtype(dtype) or np.int64), requires_grad)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Normal samples, torch.normal's forms: tensor ``mean`` and/or ``std`` (broadcast against
    each other), or floats and ``size``. No gradient flows to ``mean`` or ``std``.

    >>> normal(2.0, 0.5, (3,)).shape
    (3,)
    """
    tensors = [t for t in (mean, std) if isinstance(t, Tensor)]
    if tensors:
        if size is not None:
            raise TypeError("normal(): size= only goes with float mean and std")
        ref = tensors[0]
        fdt = next((t.dtype for t in tensors if t.dtype.kind == "f"), np.dtype(np.float32))
        if any(t.dtype.kind != "f" for t in tensors):
            raise RandomDtypeError(f"normal(): mean and std must be floating point, got {[t.dtype for t in tensors]}")
        if (bool((std._data < 0).any()) if isinstance(std, Tensor) else std < 0):
            found = "< 0" if isinstance(std, Tensor) else std
            raise RuntimeError(f"normal expects std >= 0.0, but found std {found}")
        shape = np.broadcast_shapes(*(t.shape for t in tensors))
        dev = ref.device
        z = Tensor(_sample(_gen(generator, dev).standard_normal, tuple(shape), fdt))
        out = mean + std * z  # differentiable in a tensor mean (1) and std (z), as torch's normal
        return out if dtype is None and not requires_grad else _make(out._data.astype(to_dtype(dtype) or fdt),
                                                                     requires_grad)
    if size is None:
        raise TypeError("normal(): give size= when mean and std are floats")
    _int_size("normal", size)
    if std < 0:
        raise RuntimeError(f"normal(): std must be >= 0, got {std}")
    out = randn(size, generator=generator, dtype=dtype, device=device)
    return _make(out._data * out._data.dtype.type(std) + out._data.dtype.type(mean), requires_grad)


def bernoulli(input: Tensor, p: float | None = None, *, generator=None) -> Tensor:  # noqa: A002
    """0/1 samples, 1 with probability ``input`` (or ``p``), in ``input``'s dtype."""
    probs = input._data if p is None else p
    xp = array_module(input._data)
    if input.dtype.kind != "f":
        raise RandomDtypeError(f"bernoulli(): input must be floating point, got {input.dtype}")
    if p is None and not bool(((probs >= 0) & (probs <= 1)).all()):  # nan fails too
        raise RuntimeError("bernoulli(): probabilities must be in [0, 1]")
    if p is not None and not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    u = _uniform01(_gen(generator, input.device), input.shape, xp)
    out = Tensor((u < probs).astype(input.dtype))
    return out + input * 0 if p is None and input.requires_grad else out  # torch: requires grad, zero gradient


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:  # noqa: A002
    """``num_samples`` category indices (int64) per row of non-negative weights ``input`` (C,)
    or (B, C). Without replacement the draws of a row are distinct.

    >>> sorted(multinomial(tensor([1.0, 1.0, 1.0]), 3).tolist())
    [0, 1, 2]
    """
    if input.ndim not in (1, 2):
        raise RuntimeError(f"multinomial(): input must be 1-D or 2-D, got shape {input.shape}")
    if input.dtype.kind != "f":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {input.dtype}")
    w = input._data.astype(np.float64)
    xp = array_module(w)
    w2 = w.reshape(-1, w.shape[-1])  # (B, C)
    if bool((w2 < 0).any()) or not bool(xp.isfinite(w2).all()):
        raise RuntimeError("multinomial(): probabilities must be finite and non-negative")
    if bool((w2.sum(-1) <= 0).any()):
        raise RuntimeError("multinomial(): every row must have a positive sum")
    if num_samples <= 0:
        raise RuntimeError(f"multinomial(): num_samples must be positive, got {num_samples}")
    gen = _gen(generator, input.device)
    b, c = w2.shape
    if replacement:
        cdf = xp.cumsum(w2, axis=-1)
        cdf = cdf / cdf[:, -1:]
        u = _uniform01(gen, (b, num_samples), xp)
        idx = xp.stack([xp.searchsorted(cdf[i], u[i], side="right") for i in range(b)])
        idx = xp.minimum(idx, c - 1)
    else:
        if num_samples > c:
            raise RuntimeError(f"multinomial(): cannot sample n_sample={num_samples} > {c} categories "
                               "without replacement")
        # Exponential races: the first num_samples arrivals of rates w are a draw without replacement
        # (zero-weight categories never arrive, so they fill the tail in index order, as torch's do).
        u = _uniform01(gen, (b, c), xp)
        with np.errstate(divide="ignore"):
            t = -xp.log1p(-u) / w2
        idx = xp.argsort(t, axis=-1, kind="stable")[:, :num_samples]
    idx = idx.astype(np.int64)
    return Tensor(idx.reshape(num_samples) if input.ndim == 1 else idx)

