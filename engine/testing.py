"""torch.testing's two everyday functions: ``assert_close`` (Tensors, NumPy arrays, Python numbers,
and sequences or mappings of them, with torch's default tolerances per dtype and its messages) and
``make_tensor`` (a random tensor of a shape, dtype and range).

>>> import engine
>>> assert_close(engine.tensor([1.0, 2.0]), engine.tensor([1.0, 2.0 + 1e-7]))
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence

import numpy as np

import engine
from engine.tensor import Tensor

__all__ = ["assert_close", "make_tensor"]

# (rtol, atol) when neither is given, as torch.testing.assert_close; other dtypes compare exactly
_DEFAULT_TOLERANCES = {np.dtype(np.float16): (1e-3, 1e-5), np.dtype(np.float32): (1.3e-6, 1e-5),
                       np.dtype(np.float64): (1e-7, 1e-7), np.dtype(np.complex64): (1.3e-6, 1e-5),
                       np.dtype(np.complex128): (1e-7, 1e-7)}


class _Mismatch(AssertionError):
    """A failed comparison; ``where`` collects the items it happened in (outermost first)."""

    def __init__(self, message: str, where: tuple = ()):
        super().__init__(message)
        self.message, self.where = message, where


def assert_close(actual, expected, *, allow_subclasses: bool = True, rtol: float | None = None,
                 atol: float | None = None, equal_nan: bool = False, check_device: bool = True,
                 check_dtype: bool = True, check_layout: bool = True, check_stride: bool = False,
                 msg: str | Callable[[str], str] | None = None) -> None:
    """Raise AssertionError unless ``actual`` and ``expected`` are close: |actual − expected| ≤
    atol + rtol·|expected| elementwise, with the same shape (and dtype and device, unless told
    otherwise). Defaults per dtype as torch: float32 rtol 1.3e-6, atol 1e-5; float64 1e-7, 1e-7;
    integers and bools exactly. Sequences and mappings are compared item by item.

    >>> import engine
    >>> try:
    ...     assert_close(engine.tensor([1.0, 2.0]), engine.tensor([1.0, 2.5]))
    ... except AssertionError as e:
    ...     print(str(e).splitlines()[0])
    Tensor-likes are not close!
    """
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, "
                         f"but got no {'rtol' if rtol is None else 'atol'}.")
    try:
        _compare(actual, expected, (), dict(rtol=rtol, atol=atol, equal_nan=equal_nan,
                                            check_device=check_device, check_dtype=check_dtype))
    except _Mismatch as failure:
        text = failure.message
        if failure.where:
            text += "\n\nThe failure occurred for item " + "".join(f"[{i!r}]" for i in failure.where)
        if msg is not None:
            text = msg(text) if callable(msg) else msg
        raise AssertionError(text) from None


def _is_tensor_like(x) -> bool:
    return isinstance(x, (Tensor, np.ndarray))


def _compare(actual, expected, where: tuple, options: dict) -> None:
    if _is_tensor_like(actual) and _is_tensor_like(expected):
        _compare_arrays(actual, expected, where, options)
    elif isinstance(actual, (builtins.bool, int, float, complex)) and isinstance(expected, (builtins.bool, int, float,
                                                                                          complex)):
        if options["check_dtype"] and type(actual) is not type(expected):
            raise _Mismatch(f"The (d)types do not match: {type(actual)} != {type(expected)}.", where)
        _compare_arrays(np.asarray(actual), np.asarray(expected), where, options, scalars=True)
    elif isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            missing, extra = sorted(set(expected) - set(actual), key=str), sorted(set(actual) - set(expected), key=str)
            raise _Mismatch(f"The keys of the mappings do not match:\nMissing keys in the actual mapping: {missing}\n"
                            f"Additional keys in the actual mapping: {extra}", where)
        for key in expected:
            _compare(actual[key], expected[key], where + (key,), options)
    elif (isinstance(actual, Sequence) and isinstance(expected, Sequence)
          and not isinstance(actual, str) and not isinstance(expected, str)):
        if len(actual) != len(expected):
            raise _Mismatch(f"The length of the sequences mismatch: {len(actual)} != {len(expected)}", where)
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, where + (i,), options)
    elif actual is None and expected is None:
        return
    else:
        raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} and {type(expected)}.")


def _compare_arrays(actual, expected, where: tuple, options: dict, scalars: bool = False) -> None:
    def attribute(name, a, e):
        raise _Mismatch(f"The values for attribute '{name}' do not match: {a} != {e}.", where)

    a = actual.detach().numpy(force=True) if isinstance(actual, Tensor) else np.asarray(actual)
    e = expected.detach().numpy(force=True) if isinstance(expected, Tensor) else np.asarray(expected)
    if a.shape != e.shape:
        attribute("shape", a.shape, e.shape)
    if options["check_device"] and isinstance(actual, Tensor) and isinstance(expected, Tensor):
        if actual.device != expected.device:
            attribute("device", actual.device, expected.device)
    if options["check_dtype"] and a.dtype != e.dtype:
        attribute("dtype", a.dtype, e.dtype)
    rtol, atol = options["rtol"], options["atol"]
    if rtol is None:
        rtol, atol = (builtins.max(tols) for tols in zip(*(_DEFAULT_TOLERANCES.get(d, (0.0, 0.0))
                                                             for d in (a.dtype, e.dtype))))
    exact = rtol == 0 and atol == 0
    if a.dtype.kind in "biu" and e.dtype.kind in "biu":  # differences of integers and bools as int64
        a, e = a.astype(np.int64), e.astype(np.int64)
    elif a.dtype != e.dtype:
        common = np.promote_types(a.dtype, e.dtype)
        a, e = a.astype(common), e.astype(common)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        matches = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=options["equal_nan"]) | (a == e)
        if matches.all():
            return
        abs_diff = np.where(matches, 0, np.abs(a - e))  # only mismatches count
        exact_kinds = a.dtype.kind in "biu"  # torch divides integer differences in float32
        rel_diff = np.where(matches, 0, (abs_diff.astype(np.float32) / np.abs(e).astype(np.float32)) if exact_kinds
                            else abs_diff / np.abs(e))
    kind = "equal" if exact else "close"

    def allowed(tol):
        return "" if exact else f" (up to {tol} allowed)"

    if scalars or a.ndim == 0:
        raise _Mismatch(f"Scalars are not {kind}!\n\nExpected {e.item()} but got {a.item()}.\n"
                        f"Absolute difference: {abs_diff.item()}{allowed(atol)}\n"
                        f"Relative difference: {rel_diff.item()}{allowed(rtol)}", where)
    total, bad = matches.size, int(matches.size - matches.sum())
    i_abs = np.unravel_index(int(np.argmax(abs_diff)), a.shape)
    i_rel = np.unravel_index(int(np.argmax(rel_diff)), a.shape)
    raise _Mismatch(f"Tensor-likes are not {kind}!\n\nMismatched elements: {bad} / {total} ({bad / total:.1%})\n"
                    f"Greatest absolute difference: {abs_diff[i_abs].item()} at index "
                    f"{tuple(int(i) for i in i_abs)}{allowed(atol)}\n"
                    f"Greatest relative difference: {rel_diff[i_rel].item()} at index "
                    f"{tuple(int(i) for i in i_rel)}{allowed(rtol)}", where)


def make_tensor(*shape, dtype, device=None, low: float | None = None, high: float | None = None,
                requires_grad: bool = False, noncontiguous: bool = False, exclude_zero: bool = False,
                memory_format=None) -> Tensor:
    """A random tensor of ``shape`` and ``dtype``, uniform in [low, high) (floats: default [−9, 9];
    integers: [−9, 10), bools: True/False), as torch.testing.make_tensor.

    >>> import engine
    >>> t = make_tensor(2, 3, dtype=engine.float32, low=0, high=1)
    >>> t.shape, bool((t >= 0).all()), bool((t < 1).all())
    ((2, 3), True, True)
    """
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    dtype = np.dtype(dtype)
    if low is not None and high is not None and low > high:
        raise ValueError(f"make_tensor: low ({low}) must not be greater than high ({high})")
    if dtype == np.bool_:
        data = engine.rand(*shape) < 0.5
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo = builtins.max(int(np.ceil(low)) if low is not None else -9, info.min)
        hi = builtins.min(int(np.ceil(high)) if high is not None else 10, info.max)
        data = engine.randint(lo, builtins.max(hi, lo + 1), shape, dtype=dtype)
        if exclude_zero:
            data = engine.where(data == 0, engine.ones_like(data), data)
    elif dtype.kind == "f":
        lo = -9.0 if low is None else float(low)
        hi = 9.0 if high is None else float(high)
        data = (engine.rand(*shape, dtype=np.float64) * (hi - lo) + lo).to(dtype)
        if exclude_zero:
            tiny = np.finfo(dtype).tiny
            data = engine.where(data == 0, engine.full_like(data, tiny), data)
    else:
        raise TypeError(f"make_tensor: dtype {dtype} is not supported (bool, integer or float)")
    if device is not None:
        data = data.to(device)
    if requires_grad:
        if dtype.kind != "f":
            raise ValueError(f"make_tensor: requires_grad=True needs a float dtype, got {dtype}")
        data.requires_grad_(True)
    return data
