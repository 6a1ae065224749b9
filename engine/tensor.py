"""The user-facing `Tensor`: an array, an optional gradient and a link to the op that made it.

It holds no math: every method calls an op from ``engine.ops``. ``backward`` walks the
graph in reverse topological order (iterative, so depth is unlimited).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import function
from engine.backend import array_module, check_device, device_of, get_xp, to_device, to_numpy
from engine.function import Function, is_grad_enabled
from engine.ops import elementwise as E
from engine.ops import matmul as M
from engine.ops import movement as Mv
from engine.ops import reduce as R
from engine.rng import generator


def _as_array(data: Any, dtype=None, device: str | None = None):
    """Backend array for ``data``. Python floats become float32; arrays keep their dtype."""
    if isinstance(data, Tensor):
        data = data.data
    xp = get_xp(device) if device is not None else array_module(data)
    if dtype is None and not hasattr(data, "dtype"):
        arr = np.asarray(data)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        return arr if xp is np else xp.asarray(arr)
    if device is not None and device_of(data) != check_device(device) and hasattr(data, "dtype"):
        data = to_device(data, device)
    return xp.asarray(data, dtype=dtype)


class Tensor:
    """An n-dimensional array that records the ops applied to it for reverse-mode autodiff.

    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.numpy().tolist()
    [2.0, 4.0, 6.0]
    """

    # _vc: the version counter, a one-element list shared by views and detach() of one array.
    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_vc", "_retains_grad", "__weakref__")
    __array_priority__ = 1000  # numpy_array * tensor calls Tensor.__rmul__

    def __init__(self, data: Any, requires_grad: bool = False, dtype=None, device: str | None = None):
        arr = data if (dtype is None and device is None and type(data) is np.ndarray) else _as_array(
            data, dtype, device
        )
        if type(arr) is not np.ndarray and not hasattr(arr, "__cuda_array_interface__"):
            arr = np.asarray(arr)  # NumPy scalars from reductions become 0-d arrays
        if requires_grad and arr.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require grad, got dtype {arr.dtype}")
        self.data = arr
        self.grad: Tensor | None = None
        self.requires_grad = requires_grad
        self._ctx: Function | None = None
        self._vc = [0]
        self._retains_grad = False

    # ---- properties -------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self) -> str:
        return device_of(self.data)

    @property
    def _version(self) -> int:
        """How many times this tensor's memory was modified in place (bump it after writing
        to ``.data`` directly, so that a pending backward that saved it raises)."""
        return self._vc[0]

    @_version.setter
    def _version(self, value: int) -> None:
        self._vc[0] = value

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def T(self) -> Tensor:
        return self.permute(*reversed(range(self.ndim)))

    def size(self, dim: int | None = None):
        """The shape, or one of its entries (torch's ``x.size(0)``)."""
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        body = np.array2string(to_numpy(self.data), separator=", ", precision=4, threshold=20, prefix="Tensor(")
        extra = f", dtype={self.dtype}, device={self.device}"
        if self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    # ---- conversion ---------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A NumPy array (copied from the GPU when needed; shares memory on the CPU)."""
        return to_numpy(self.data)

    def item(self) -> float | int | bool:
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def to(self, device: str) -> Tensor:
        """This tensor on ``device`` ("cpu" or "gpu"); differentiable."""
        device = check_device(device)
        if device == self.device:
            return self
        get_xp(device)  # raises with install help when the GPU is missing
        return E.ToDevice.apply(self, device=device)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def astype(self, dtype) -> Tensor:
        """A copy cast to ``dtype``; differentiable between float dtypes."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        if dtype.kind != "f":
            return Tensor(self.data.astype(dtype))
        return E.Cast.apply(self, dtype=dtype)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def half(self) -> Tensor:
        return self.astype(np.float16)

    def detach(self) -> Tensor:
        """The same array, cut from the graph (it shares the version counter: an in-place
        change through the detached tensor is still caught by a pending backward)."""
        out = Tensor(self.data)
        out._vc = self._vc
        return out

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if flag and self.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self.dtype}")
        self.requires_grad = flag
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        self._retains_grad = True

    # ---- autograd -----------------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``grad`` is the upstream gradient (needed unless self has one element).
        The graph's saved arrays are freed afterwards unless ``retain_graph``.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad (no input has requires_grad=True)")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without grad needs a scalar (one element), got shape {self.shape}; "
                    "pass grad= of that shape"
                )
            g = array_module(self.data).ones(self.shape, dtype=self.dtype)
        else:
            g = _as_array(grad, dtype=self.dtype, device=self.device)
            if g.shape != self.shape:
                raise ValueError(f"backward(): grad has shape {g.shape} but the tensor has shape {self.shape}")
        backpropagate(self, g, retain_graph)

    # ---- in-place (only outside the graph) ------------------------------------------------
    def _check_inplace(self, what: str) -> None:
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError(
                f"in-place {what} on a tensor that requires grad; use an out-of-place op "
                "or wrap the update in `with no_grad():`"
            )
        self._vc[0] += 1

    def __setitem__(self, index, value) -> None:
        self._check_inplace("assignment")
        self.data[_index_array(index)] = value.data if isinstance(value, Tensor) else value

    def _inplace(self, name: str, other) -> Tensor:
        self._check_inplace(name)
        other = other.data if isinstance(other, Tensor) else other
        getattr(array_module(self.data), name)(self.data, other, out=self.data, casting="same_kind")
        return self

    def add_(self, other) -> Tensor:
        return self._inplace("add", other)

    def sub_(self, other) -> Tensor:
        return self._inplace("subtract", other)

    def mul_(self, other) -> Tensor:
        return self._inplace("multiply", other)

    def div_(self, other) -> Tensor:
        return self._inplace("divide", other)

    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_

    def zero_(self) -> Tensor:
        self._check_inplace("zero_")
        self.data[...] = 0
        return self

    def fill_(self, value) -> Tensor:
        self._check_inplace("fill_")
        self.data[...] = value
        return self

    def copy_(self, src) -> Tensor:
        self._check_inplace("copy_")
        src = src.data if isinstance(src, Tensor) else src
        self.data[...] = to_device(src, self.device) if hasattr(src, "dtype") else src
        return self

    # ---- binary arithmetic ------------------------------------------------------------------
    def _binary(self, op: type[Function], other, reflected: bool = False, **params) -> Tensor:
        a, b = self._operands(other)
        if reflected:
            a, b = b, a
        try:
            return op.apply(a, b, **params)
        except ValueError:
            try:
                np.broadcast_shapes(a.shape, b.shape)
            except ValueError:
                raise ValueError(f"{op.__name__}: cannot broadcast shapes {a.shape} and {b.shape}") from None
            raise

    def _coerce(self, other) -> Tensor:
        """``other`` as a Tensor that can meet ``self``: same device, a compatible dtype (torch's
        promotion: a Python number takes the tensor's dtype within its kind, an int tensor meeting
        a float becomes float32, int64 meeting int32 is int64)."""
        if not isinstance(other, Tensor):
            # Numbers and raw arrays take a float tensor's dtype, so nothing leaks float64.
            if self.dtype.kind == "f":
                dtype = self.dtype
            elif isinstance(other, float):
                dtype = np.float32
            elif isinstance(other, bool):
                dtype = self.dtype
            elif isinstance(other, int) and self.dtype.kind in "iu":
                dtype = self.dtype
            else:
                dtype = None
            return Tensor(_as_array(other, dtype=dtype, device=self.device))
        if other.device != self.device:
            raise RuntimeError(f"tensors are on different devices: {self.device} and {other.device}; use .to()")
        if other.dtype != self.dtype:
            if self.dtype.kind == "f" and other.dtype.kind == "f":
                raise TypeError(
                    f"dtype mismatch: {self.dtype} and {other.dtype}; cast one with .astype() "
                    "(no silent upcasting)"
                )
            if other.dtype.kind != "f" and self.dtype.kind == "f":
                return Tensor(other.data.astype(self.dtype))
        return other

    def _operands(self, other) -> tuple[Tensor, Tensor]:
        """``(self, other)`` ready to meet: ``other`` coerced, and an int/bool ``self`` cast to
        ``other``'s float dtype (so ``int_tensor * 0.5`` is float32, not NumPy's float64)."""
        other = self._coerce(other)
        if self.dtype.kind != "f" and other.dtype.kind == "f":
            return Tensor(self.data.astype(other.dtype)), other
        return self, other

    def _float_operands(self, other) -> tuple[Tensor, Tensor]:
        """Operands of a float-only op (atan2, hypot, ...): two int/bool operands become float32."""
        a, b = self._operands(other)
        if a.dtype.kind != "f":
            a, b = a.astype(np.float32), b.astype(np.float32)
        return a, b

    def __add__(self, other):
        return self._binary(E.Add, other)

    def __radd__(self, other):
        return self._binary(E.Add, other, reflected=True)

    def __sub__(self, other):
        return self._binary(E.Sub, other)

    def __rsub__(self, other):
        return self._binary(E.Sub, other, reflected=True)

    def __mul__(self, other):
        return self._binary(E.Mul, other)

    def __rmul__(self, other):
        return self._binary(E.Mul, other, reflected=True)

    def _float_for_div(self, other) -> Tensor:
        """Integer / integer is float32 (torch's rule), not NumPy's float64."""
        if self.dtype.kind == "f" or getattr(other, "dtype", np.dtype("int64")).kind == "f":
            return self
        return self.astype(np.float32)

    def __truediv__(self, other):
        return self._float_for_div(other)._binary(E.Div, other)

    def __rtruediv__(self, other):
        return self._float_for_div(other)._binary(E.Div, other, reflected=True)

    def __floordiv__(self, other):
        return self.floor_divide(other)

    def __rfloordiv__(self, other):
        return self._binary(E.RoundedDiv, other, reflected=True, mode="floor")

    def __mod__(self, other):
        return self.remainder(other)

    def __rmod__(self, other):
        return self._binary(E.Remainder, other, reflected=True)

    def __pow__(self, other):
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            if self.dtype.kind in "iub" and isinstance(other, int) and other < 0:
                raise RuntimeError("pow: integers to negative integer powers are not allowed")
            base = self if self.dtype.kind == "f" or isinstance(other, int) else self.astype(np.float32)
            if base.dtype == np.bool_:
                base = base.astype(np.int64)
            return E.PowScalar.apply(base, p=other)
        return self._binary(E.Pow, other)

    def __rpow__(self, other):
        return self._binary(E.Pow, other, reflected=True)

    def __matmul__(self, other):
        return M.MatMul.apply(*self._operands(other))

    def __rmatmul__(self, other):
        a, b = self._operands(other)
        return M.MatMul.apply(b, a)

    def __neg__(self):
        if self.dtype == np.bool_:
            raise RuntimeError("negation, the `-` operator, on a bool tensor is not supported; use ~ or logical_not()")
        return E.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    def add(self, other, *, alpha=1) -> Tensor:
        """``self + alpha * other`` (torch.add).

        >>> Tensor([1.0, 2.0]).add(Tensor([1.0, 1.0]), alpha=3).tolist()
        [4.0, 5.0]
        """
        return self + (other if alpha == 1 else other * alpha)

    def sub(self, other, *, alpha=1) -> Tensor:
        """``self - alpha * other`` (torch.sub)."""
        return self - (other if alpha == 1 else other * alpha)

    subtract = sub

    def mul(self, other) -> Tensor:
        return self * other

    multiply = mul

    def div(self, other, *, rounding_mode: str | None = None) -> Tensor:
        """True division, or rounded toward zero (``"trunc"``) or down (``"floor"``); rounded
        results keep an integer dtype and have zero gradient, as in torch.

        >>> Tensor([-7, 7]).div(2, rounding_mode="trunc").tolist()
        [-3, 3]
        >>> Tensor([-7, 7]).div(2, rounding_mode="floor").tolist()
        [-4, 3]
        """
        if rounding_mode is None:
            return self / other
        if rounding_mode not in ("trunc", "floor"):
            raise RuntimeError(
                f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}"
            )
        return self._binary(E.RoundedDiv, other, mode=rounding_mode)

    divide = div

    def true_divide(self, other) -> Tensor:
        return self / other

    def floor_divide(self, other) -> Tensor:
        """Division rounded down, Python's ``//`` (torch.floor_divide)."""
        return self._binary(E.RoundedDiv, other, mode="floor")

    def remainder(self, other) -> Tensor:
        """Python's ``%``: the result has the divisor's sign (torch.remainder).

        >>> Tensor([-3, 3]).remainder(2).tolist()
        [1, 1]
        """
        return self._binary(E.Remainder, other)

    def fmod(self, other) -> Tensor:
        """C's fmod: the result has the dividend's sign.

        >>> Tensor([-3, 3]).fmod(2).tolist()
        [-1, 1]
        """
        return self._binary(E.Fmod, other)

    def pow(self, exponent) -> Tensor:
        """``self ** exponent`` (a number or a tensor)."""
        return self**exponent

    def float_power(self, exponent) -> Tensor:
        """``self ** exponent`` computed in float64, as torch.float_power."""
        exponent = exponent.double() if isinstance(exponent, Tensor) else exponent
        return self.double() ** exponent

    def atan2(self, other) -> Tensor:
        """The angle of (other, self), in (-pi, pi]."""
        return E.Atan2.apply(*self._float_operands(other))

    arctan2 = atan2

    def hypot(self, other) -> Tensor:
        """sqrt(self² + other²) without overflow."""
        return E.Hypot.apply(*self._float_operands(other))

    def logaddexp(self, other) -> Tensor:
        """log(exp(self) + exp(other)) without overflow."""
        return E.LogAddExp.apply(*self._float_operands(other))

    def logaddexp2(self, other) -> Tensor:
        """log2(2**self + 2**other)."""
        a, b = self._float_operands(other)
        return (a * _LN2).logaddexp(b * _LN2) * (1 / _LN2)

    def copysign(self, other) -> Tensor:
        """|self| with the sign of ``other`` (float result; no gradient flows to ``other``)."""
        return E.Copysign.apply(*self._float_operands(other))

    def maximum(self, other) -> Tensor:
        return self._binary(E.Maximum, other)

    def minimum(self, other) -> Tensor:
        return self._binary(E.Minimum, other)

    def fmax(self, other) -> Tensor:
        """Elementwise max that ignores nan (nan only where both are nan)."""
        return self._binary(E.Fmax, other)

    def fmin(self, other) -> Tensor:
        """Elementwise min that ignores nan."""
        return self._binary(E.Fmin, other)

    def lerp(self, end, weight) -> Tensor:
        """``self + weight * (end - self)``; ``weight`` a number or a tensor.

        >>> Tensor([0.0, 2.0]).lerp(Tensor([4.0, 4.0]), 0.5).tolist()
        [2.0, 3.0]
        """
        if self.dtype.kind != "f":
            raise NotImplementedError(f"lerp: not implemented for dtype {self.dtype} (needs a float tensor)")
        return E.Lerp.apply(self, self._coerce(end), self._coerce(weight))

    # Comparisons give bool tensors with no gradient.
    def _compare(self, fn, other) -> Tensor:
        if isinstance(other, Tensor):
            if other.device != self.device:
                raise RuntimeError(
                    f"tensors are on different devices: {self.device} and {other.device}; use .to()"
                )
            other = other.data
        elif isinstance(other, (list, tuple)):
            other = array_module(self.data).asarray(other)
        return Tensor(fn(self.data, other))

    def __lt__(self, other):
        return self._compare(lambda a, b: a < b, other)

    def __le__(self, other):
        return self._compare(lambda a, b: a <= b, other)

    def __gt__(self, other):
        return self._compare(lambda a, b: a > b, other)

    def __ge__(self, other):
        return self._compare(lambda a, b: a >= b, other)

    def __eq__(self, other):  # type: ignore[override]
        return self._compare(lambda a, b: a == b, other)

    def __ne__(self, other):  # type: ignore[override]
        return self._compare(lambda a, b: a != b, other)

    __hash__ = object.__hash__

    lt, le, gt, ge, eq, ne = __lt__, __le__, __gt__, __ge__, __eq__, __ne__
    less, less_equal, greater, greater_equal, not_equal = lt, le, gt, ge, ne

    def isclose(self, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
        """|self - other| <= atol + rtol * |other|, elementwise (bool); infinities equal themselves.

        >>> Tensor([1.0, 2.0]).isclose(Tensor([1.0 + 1e-7, 2.1])).tolist()
        [True, False]
        """
        other = other.data if isinstance(other, Tensor) else other
        return Tensor(array_module(self.data).isclose(self.data, other, rtol=rtol, atol=atol, equal_nan=equal_nan))

    def allclose(self, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
        """Whether every entry ``isclose``."""
        return bool(self.isclose(other, rtol, atol, equal_nan).data.all())

    def equal(self, other) -> bool:
        """True when both have the same shape and the same values.

        >>> Tensor([1, 2]).equal(Tensor([1, 2]))
        True
        """
        if not isinstance(other, Tensor):
            raise TypeError(f"equal(): argument 'other' must be Tensor, not {type(other).__name__}")
        return self.shape == other.shape and bool((self.data == _on(other, self)).all())

    # Logical ops take any dtype (nonzero is True) and give bool.
    def logical_and(self, other) -> Tensor:
        return Tensor(array_module(self.data).logical_and(self.data, _on(other, self)))

    def logical_or(self, other) -> Tensor:
        return Tensor(array_module(self.data).logical_or(self.data, _on(other, self)))

    def logical_xor(self, other) -> Tensor:
        return Tensor(array_module(self.data).logical_xor(self.data, _on(other, self)))

    def logical_not(self) -> Tensor:
        return Tensor(array_module(self.data).logical_not(self.data))

    # Bitwise ops and shifts take integer and bool tensors (bool & bool is bool).
    def _bitwise(self, name: str, other, reflected: bool = False) -> Tensor:
        a, b = self, self._coerce(other)
        if a.dtype.kind not in "iub" or b.dtype.kind not in "iub":
            bad = a.dtype if a.dtype.kind not in "iub" else b.dtype
            raise NotImplementedError(f"{name}: not implemented for dtype {bad} (needs integer or bool tensors)")
        if reflected:
            a, b = b, a
        x, y = a.data, b.data
        if name in ("left_shift", "right_shift") and x.dtype == np.bool_:
            x = x.astype(np.int64)
        return Tensor(getattr(array_module(x), name)(x, y))

    def bitwise_and(self, other) -> Tensor:
        return self._bitwise("bitwise_and", other)

    def bitwise_or(self, other) -> Tensor:
        return self._bitwise("bitwise_or", other)

    def bitwise_xor(self, other) -> Tensor:
        return self._bitwise("bitwise_xor", other)

    def bitwise_not(self) -> Tensor:
        if self.dtype.kind not in "iub":
            raise NotImplementedError(f"bitwise_not: not implemented for dtype {self.dtype}")
        return Tensor(array_module(self.data).invert(self.data))

    def bitwise_left_shift(self, other) -> Tensor:
        return self._bitwise("left_shift", other)

    def bitwise_right_shift(self, other) -> Tensor:
        return self._bitwise("right_shift", other)

    __and__, __or__, __xor__, __invert__ = bitwise_and, bitwise_or, bitwise_xor, bitwise_not
    __lshift__, __rshift__ = bitwise_left_shift, bitwise_right_shift

    def __rand__(self, other):
        return self._bitwise("bitwise_and", other, reflected=True)

    def __ror__(self, other):
        return self._bitwise("bitwise_or", other, reflected=True)

    def __rxor__(self, other):
        return self._bitwise("bitwise_xor", other, reflected=True)

    def __rlshift__(self, other):
        return self._bitwise("left_shift", other, reflected=True)

    def __rrshift__(self, other):
        return self._bitwise("right_shift", other, reflected=True)

    def _inplace_result(self, what: str, out: Tensor) -> Tensor:
        """Write ``out`` into self (in-place op outside the graph); its dtype must cast to self's."""
        if out.dtype != self.dtype and not np.can_cast(out.dtype, self.dtype, casting="same_kind"):
            raise RuntimeError(f"{what}: result type {out.dtype} can't be cast to the desired output type "
                               f"{self.dtype}")
        self._check_inplace(what)
        self.data[...] = out.data
        return self

    def bitwise_and_(self, other) -> Tensor:
        return self._inplace_result("bitwise_and_", self.bitwise_and(other))

    def bitwise_or_(self, other) -> Tensor:
        return self._inplace_result("bitwise_or_", self.bitwise_or(other))

    def bitwise_xor_(self, other) -> Tensor:
        return self._inplace_result("bitwise_xor_", self.bitwise_xor(other))

    def bitwise_left_shift_(self, other) -> Tensor:
        return self._inplace_result("bitwise_left_shift_", self.bitwise_left_shift(other))

    def bitwise_right_shift_(self, other) -> Tensor:
        return self._inplace_result("bitwise_right_shift_", self.bitwise_right_shift(other))

    def logical_and_(self, other) -> Tensor:
        return self._inplace_result("logical_and_", self.logical_and(other))

    def logical_or_(self, other) -> Tensor:
        return self._inplace_result("logical_or_", self.logical_or(other))

    def logical_xor_(self, other) -> Tensor:
        return self._inplace_result("logical_xor_", self.logical_xor(other))

    def logical_not_(self) -> Tensor:
        return self._inplace_result("logical_not_", self.logical_not())

    def floor_divide_(self, other) -> Tensor:
        return self._inplace_result("floor_divide_", self.floor_divide(other).detach())

    def remainder_(self, other) -> Tensor:
        return self._inplace_result("remainder_", self.remainder(other).detach())

    def fmod_(self, other) -> Tensor:
        return self._inplace_result("fmod_", self.fmod(other).detach())

    def pow_(self, exponent) -> Tensor:
        return self._inplace_result("pow_", self.pow(exponent).detach())

    __iand__, __ior__, __ixor__ = bitwise_and_, bitwise_or_, bitwise_xor_
    __ilshift__, __irshift__ = bitwise_left_shift_, bitwise_right_shift_
    __ifloordiv__, __imod__, __ipow__ = floor_divide_, remainder_, pow_

    def __bool__(self) -> bool:
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, got {self.dtype}")
        return int(self.item())

    # ---- elementwise --------------------------------------------------------------------------
    # Float functions of an int/bool tensor compute in float32, as in torch (never float64).
    def _float(self) -> Tensor:
        return self if self.dtype.kind == "f" else self.astype(np.float32)

    def exp(self) -> Tensor:
        return E.Exp.apply(self._float())

    def exp2(self) -> Tensor:
        return E.Exp2.apply(self._float())

    def expm1(self) -> Tensor:
        return E.Expm1.apply(self._float())

    def log(self) -> Tensor:
        return E.Log.apply(self._float())

    def log2(self) -> Tensor:
        return E.Log2.apply(self._float())

    def log10(self) -> Tensor:
        return E.Log10.apply(self._float())

    def log1p(self) -> Tensor:
        return E.Log1p.apply(self._float())

    def sqrt(self) -> Tensor:
        """Square root; its gradient at 0 is inf, as in torch."""
        return E.Sqrt.apply(self._float())

    def rsqrt(self) -> Tensor:
        return E.Rsqrt.apply(self._float())

    def square(self) -> Tensor:
        """``self ** 2`` (an int or bool tensor gives int64 for bool, else its own dtype)."""
        return (self.astype(np.int64) if self.dtype == np.bool_ else self) ** 2

    def reciprocal(self) -> Tensor:
        return E.Reciprocal.apply(self._float())

    def erf(self) -> Tensor:
        return E.Erf.apply(self._float())

    def erfc(self) -> Tensor:
        return E.Erfc.apply(self._float())

    def erfinv(self) -> Tensor:
        return E.Erfinv.apply(self._float())

    def sin(self) -> Tensor:
        return E.Sin.apply(self._float())

    def cos(self) -> Tensor:
        return E.Cos.apply(self._float())

    def tan(self) -> Tensor:
        return E.Tan.apply(self._float())

    def asin(self) -> Tensor:
        return E.Asin.apply(self._float())

    def acos(self) -> Tensor:
        return E.Acos.apply(self._float())

    def atan(self) -> Tensor:
        return E.Atan.apply(self._float())

    def sinh(self) -> Tensor:
        return E.Sinh.apply(self._float())

    def cosh(self) -> Tensor:
        return E.Cosh.apply(self._float())

    def tanh(self) -> Tensor:
        return E.Tanh.apply(self._float())

    def asinh(self) -> Tensor:
        return E.Asinh.apply(self._float())

    def acosh(self) -> Tensor:
        return E.Acosh.apply(self._float())

    def atanh(self) -> Tensor:
        return E.Atanh.apply(self._float())

    arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh

    def sigmoid(self) -> Tensor:
        return E.Sigmoid.apply(self._float())

    def relu(self) -> Tensor:
        """max(self, 0); its gradient at 0 is 0, as in torch."""
        return E.Relu.apply(self)

    def gelu(self, approximate: str = "none") -> Tensor:
        """GELU: exact ``x * Phi(x)`` by default (torch's), ``approximate="tanh"`` GPT-2's form."""
        return E.Gelu.apply(self._float(), approximate=approximate)

    def softmax(self, dim: int, dtype=None) -> Tensor:
        """Softmax along ``dim`` (torch's Tensor.softmax; ``dtype`` casts the input first)."""
        from engine import functional

        return functional.softmax(self, dim, dtype=dtype)

    def log_softmax(self, dim: int, dtype=None) -> Tensor:
        from engine import functional

        return functional.log_softmax(self, dim, dtype=dtype)

    def hardshrink(self, lambd: float = 0.5) -> Tensor:
        from engine import functional

        return functional.hardshrink(self, lambd)

    def abs(self) -> Tensor:
        """|self|; its gradient at 0 is 0, as in torch."""
        return E.Abs.apply(self)

    absolute = abs

    def neg(self) -> Tensor:
        return -self

    negative = neg

    def sign(self) -> Tensor:
        """-1, 0 or 1 (0 for nan, as torch); zero gradient."""
        return E.Rounding.apply(self, mode="sign")

    sgn = sign

    def floor(self) -> Tensor:
        return E.Rounding.apply(self, mode="floor")

    def ceil(self) -> Tensor:
        return E.Rounding.apply(self, mode="ceil")

    def trunc(self) -> Tensor:
        return E.Rounding.apply(self, mode="trunc")

    fix = trunc

    def round(self, decimals: int = 0) -> Tensor:
        """Round half to even, to ``decimals`` places (torch.round); zero gradient.

        >>> Tensor([0.5, 1.5, 1.2345]).round().tolist()
        [0.0, 2.0, 1.0]
        """
        return E.Rounding.apply(self, mode="round", decimals=decimals)

    def frac(self) -> Tensor:
        """``self - trunc(self)``; gradient 1."""
        return self - self.trunc()

    def clip(self, min=None, max=None) -> Tensor:  # noqa: A002
        """Clamp to [min, max]; either may be None, a number or a tensor (broadcast). Gradient, as
        torch: to self where min <= self <= max; to a tensor ``min`` where self < min, to a tensor
        ``max`` where self > max (``max`` wins where min > max).

        >>> Tensor([-2.0, 0.5, 2.0]).clamp(-1, 1).tolist()
        [-1.0, 0.5, 1.0]
        """
        if min is None and max is None:
            raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
        x = self
        if x.dtype.kind != "f" and any(isinstance(v, float) or (isinstance(v, Tensor) and v.dtype.kind == "f")
                                       for v in (min, max)):
            x = x.astype(np.float32 if not any(isinstance(v, Tensor) for v in (min, max))
                         else next(v.dtype for v in (min, max) if isinstance(v, Tensor) and v.dtype.kind == "f"))
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            lo = None if min is None else x._coerce(min)
            hi = None if max is None else x._coerce(max)
            return E.ClampTensor.apply(x, lo, hi)
        return E.Clip.apply(x, lo=min, hi=max)

    clamp = clip

    def clamp_min(self, min) -> Tensor:  # noqa: A002
        return self.clamp(min=min)

    def clamp_max(self, max) -> Tensor:  # noqa: A002
        return self.clamp(max=max)

    def nan_to_num(self, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
        """nan → ``nan``, ±inf → ``posinf``/``neginf`` (default: the dtype's largest finite values).

        >>> Tensor([float("nan"), 1.0]).nan_to_num().tolist()
        [0.0, 1.0]
        """
        return E.NanToNum.apply(self, nan=nan, posinf=posinf, neginf=neginf)

    def isnan(self) -> Tensor:
        return Tensor(array_module(self.data).isnan(self.data))

    def isinf(self) -> Tensor:
        return Tensor(array_module(self.data).isinf(self.data))

    def isposinf(self) -> Tensor:
        return Tensor(self.data == np.inf) if self.dtype.kind == "f" else self.zeros_like(dtype=bool)

    def isneginf(self) -> Tensor:
        return Tensor(self.data == -np.inf) if self.dtype.kind == "f" else self.zeros_like(dtype=bool)

    def isfinite(self) -> Tensor:
        return Tensor(array_module(self.data).isfinite(self.data))

    def masked_fill(self, mask, value: float) -> Tensor:
        """Entries where ``mask`` (bool, broadcastable) is True become ``value``."""
        mask = mask.data if isinstance(mask, Tensor) else mask
        return Mv.MaskedFill.apply(self, mask=mask, value=value)

    def tril(self, k: int = 0) -> Tensor:
        return Mv.Tri.apply(self, k=k, upper=False)

    def triu(self, k: int = 0) -> Tensor:
        return Mv.Tri.apply(self, k=k, upper=True)

    # ---- reductions ---------------------------------------------------------------------------
    def sum(self, axis=None, keepdims: bool = False) -> Tensor:
        return R.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> Tensor:
        return R.Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims: bool = False) -> Tensor:
        return R.Max.apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims: bool = False) -> Tensor:
        return R.Min.apply(self, axis=axis, keepdims=keepdims)

    def logsumexp(self, axis=None, keepdims: bool = False) -> Tensor:
        return R.LogSumExp.apply(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        """Variance with NumPy's ``ddof`` (0 by default; torch's default is ddof=1)."""
        axes = R.normalize_axis(axis, self.ndim)
        n = math.prod(self.shape[a] for a in axes)
        d = self - self.mean(axis=axes, keepdims=True)
        return (d * d).sum(axis=axes, keepdims=keepdims) * (1.0 / max(n - ddof, 0) if n > ddof else math.nan)

    def std(self, axis=None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        """Standard deviation; where it is 0 its gradient is 0, as in torch (sqrt'(0) would give nan)."""
        v = self.var(axis=axis, keepdims=keepdims, ddof=ddof)
        positive = v.data > 0
        one, zero = (Tensor(array_module(v.data).asarray(c, dtype=v.dtype)) for c in (1, 0))
        safe = E.Where.apply(v, one, cond=positive)  # 1 where var is 0
        return E.Where.apply(safe.sqrt(), zero, cond=positive)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return Tensor(self.data.argmax(axis=axis, keepdims=keepdims))

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return Tensor(self.data.argmin(axis=axis, keepdims=keepdims))

    # ---- movement -----------------------------------------------------------------------------
    def reshape(self, *shape) -> Tensor:
        shape = _shape_arg(shape)
        try:
            target = _resolve_shape(self.shape, shape)
        except ValueError:
            raise ValueError(
                f"cannot reshape tensor of shape {self.shape} ({self.numel()} elements) into {tuple(shape)}"
            ) from None
        return self if target == self.shape else Mv.Reshape.apply(self, shape=target)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        s, e = start_dim % self.ndim, end_dim % self.ndim
        return self.reshape(*self.shape[:s], -1, *self.shape[e + 1 :])

    def permute(self, *axes) -> Tensor:
        axes = tuple(a % self.ndim for a in _shape_arg(axes))
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"permute: {axes} is not a permutation of the {self.ndim} axes of shape {self.shape}")
        return Mv.Transpose.apply(self, axes=axes)

    def transpose(self, *axes) -> Tensor:
        """NumPy's transpose: no axes reverses them, a tuple is a full permutation.
        Two axes swap them, as torch does, on any number of dims: on a 2-D tensor
        ``x.transpose(0, 1)`` is ``x.T`` (torch), not the identity permutation (NumPy).

        >>> Tensor([[1.0, 2.0]]).transpose(0, 1).shape
        (2, 1)
        """
        if not axes:
            return self.T
        if len(axes) == 2:
            return self.swapaxes(*axes)
        return self.permute(*axes)

    def swapaxes(self, a: int, b: int) -> Tensor:
        axes = list(range(self.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return self.permute(*axes)

    def broadcast_to(self, *shape) -> Tensor:
        shape = tuple(_shape_arg(shape))
        try:
            np.broadcast_shapes(self.shape, shape)
            if len(shape) < self.ndim or np.broadcast_shapes(self.shape, shape) != shape:
                raise ValueError
        except ValueError:
            raise ValueError(f"cannot broadcast shape {self.shape} to {shape}") from None
        return self if shape == self.shape else Mv.BroadcastTo.apply(self, shape=shape)

    def expand(self, *shape) -> Tensor:
        """torch's expand: -1 keeps a dimension."""
        shape = list(_shape_arg(shape))
        lead = len(shape) - self.ndim
        for i in range(lead, len(shape)):
            if shape[i] == -1:
                shape[i] = self.shape[i - lead]
        return self.broadcast_to(*shape)

    def squeeze(self, axis=None) -> Tensor:
        if axis is None:
            return self.reshape([s for s in self.shape if s != 1])
        axes = R.normalize_axis(axis, self.ndim)
        for a in axes:
            if self.shape[a] != 1:
                raise ValueError(f"cannot squeeze axis {a} of size {self.shape[a]} (shape {self.shape})")
        return self.reshape([s for i, s in enumerate(self.shape) if i not in axes])

    def unsqueeze(self, axis: int) -> Tensor:
        axis = axis % (self.ndim + 1)
        return self.reshape(*self.shape[:axis], 1, *self.shape[axis:])

    def __getitem__(self, index) -> Tensor:
        return Mv.GetItem.apply(self, index=_index_array(index))

    def split(self, split_size_or_sections, axis: int = 0) -> list[Tensor]:
        """torch's split: an int chunk size, or a list of section sizes."""
        n = self.shape[axis]
        if isinstance(split_size_or_sections, int):
            sizes = [min(split_size_or_sections, n - i) for i in range(0, n, split_size_or_sections)]
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != n:
                raise ValueError(f"split sizes {sizes} do not add up to {n} (axis {axis} of shape {self.shape})")
        out, start = [], 0
        index = [slice(None)] * self.ndim
        for s in sizes:
            index[axis] = slice(start, start + s)
            out.append(self[tuple(index)])
            start += s
        return out

    def chunk(self, chunks: int, axis: int = 0) -> list[Tensor]:
        return self.split(-(-self.shape[axis] // chunks), axis=axis)

    def pad(self, pad_width, value: float = 0.0) -> Tensor:
        """NumPy-style constant padding: ``pad_width`` is ((before, after), ...) per axis."""
        if self.ndim == 0:
            raise ValueError("pad needs a tensor with at least one dimension, got a 0-d tensor")
        pad_width = tuple(tuple(p) for p in np.broadcast_to(np.asarray(pad_width), (self.ndim, 2)).tolist())
        return Mv.Pad.apply(self, pad_width=pad_width, value=value)

    # ---- linear algebra (torch names) ---------------------------------------------------------

    # ---- factories ----------------------------------------------------------------------------
    @staticmethod
    def zeros(*shape, dtype="float32", device: str = "cpu", requires_grad: bool = False) -> Tensor:
        return Tensor(get_xp(device).zeros(_shape_arg(shape), dtype=dtype), requires_grad=requires_grad)

    @staticmethod
    def ones(*shape, dtype="float32", device: str = "cpu", requires_grad: bool = False) -> Tensor:
        return Tensor(get_xp(device).ones(_shape_arg(shape), dtype=dtype), requires_grad=requires_grad)

    @staticmethod
    def full(shape, fill_value, dtype="float32", device: str = "cpu", requires_grad: bool = False) -> Tensor:
        return Tensor(get_xp(device).full(_shape_arg((shape,)), fill_value, dtype=dtype), requires_grad=requires_grad)

    @staticmethod
    def empty(*shape, dtype="float32", device: str = "cpu") -> Tensor:
        return Tensor(get_xp(device).empty(_shape_arg(shape), dtype=dtype))

    @staticmethod
    def randn(*shape, dtype="float32", device: str = "cpu", requires_grad: bool = False, generator=None) -> Tensor:
        """Standard normal samples from the seeded default generator (see ``engine.manual_seed``)."""
        gen = generator or _default_generator(device)
        return Tensor(_sample(gen.standard_normal, _shape_arg(shape), dtype), requires_grad=requires_grad)

    @staticmethod
    def rand(*shape, dtype="float32", device: str = "cpu", requires_grad: bool = False, generator=None) -> Tensor:
        """Uniform [0, 1) samples from the seeded default generator."""
        gen = generator or _default_generator(device)
        return Tensor(_sample(gen.random, _shape_arg(shape), dtype), requires_grad=requires_grad)

    @staticmethod
    def arange(start, stop=None, step=1, dtype=None, device: str = "cpu") -> Tensor:
        if dtype is None:
            is_int = all(isinstance(v, int) for v in (start, stop if stop is not None else 0, step))
            dtype = "int64" if is_int else "float32"
        args = (start,) if stop is None else (start, stop, step)
        return Tensor(get_xp(device).arange(*args, dtype=dtype))

    def zeros_like(self, **kw) -> Tensor:
        """Zeros with this tensor's shape, dtype and device (``dtype=``, ``device=``,
        ``requires_grad=`` override them). Also ``engine.zeros_like(x)``; likewise the
        ones/full/randn/rand variants below.

        >>> Tensor([1.0, 2.0]).zeros_like().tolist()
        [0.0, 0.0]
        """
        return Tensor.zeros(*self.shape, **{"dtype": self.dtype, "device": self.device, **kw})

    def ones_like(self, **kw) -> Tensor:
        return Tensor.ones(*self.shape, **{"dtype": self.dtype, "device": self.device, **kw})

    def full_like(self, fill_value, **kw) -> Tensor:
        return Tensor.full(self.shape, fill_value, **{"dtype": self.dtype, "device": self.device, **kw})

    def randn_like(self, **kw) -> Tensor:
        return Tensor.randn(*self.shape, **{"dtype": self.dtype, "device": self.device, **kw})

    def rand_like(self, **kw) -> Tensor:
        return Tensor.rand(*self.shape, **{"dtype": self.dtype, "device": self.device, **kw})


function.Tensor = Tensor


_LN2 = math.log(2)


def _on(other, ref: Tensor):
    """``other``'s array (a Tensor on ``ref``'s device, or a number/array) for a raw xp op."""
    if isinstance(other, Tensor):
        if other.device != ref.device:
            raise RuntimeError(f"tensors are on different devices: {ref.device} and {other.device}; use .to()")
        return other.data
    return other


# In-place forms (``x.sqrt_()``, ``x.clamp_(0, 1)``, ...): the out-of-place result written into x,
# outside the graph only; the result must cast back to x's dtype (``int_tensor.sqrt_()`` raises).
_INPLACE = [
    "abs", "absolute", "neg", "negative", "sign", "sgn", "floor", "ceil", "round", "trunc", "fix", "frac", "sqrt",
    "rsqrt", "square", "reciprocal", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "erf", "erfc", "erfinv",
    "sin", "cos", "tan", "asin", "acos", "atan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "asinh",
    "acosh", "atanh", "sigmoid", "relu", "clamp", "clip", "clamp_min", "clamp_max", "nan_to_num", "atan2", "hypot",
    "logaddexp", "copysign", "fmax", "fmin", "lerp", "float_power", "true_divide", "eq", "ne", "lt", "le", "gt",
    "ge", "greater", "greater_equal", "less", "less_equal", "not_equal",
]


def _inplace_method(name: str):
    def method(self: Tensor, *args, **kwargs) -> Tensor:
        return self._inplace_result(name + "_", getattr(self, name)(*args, **kwargs).detach())

    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"In-place ``{name}``: writes ``self.{name}(...)`` into self and returns self."
    return method


for _name in _INPLACE:
    if not hasattr(Tensor, _name + "_"):
        setattr(Tensor, _name + "_", _inplace_method(_name))


def _default_generator(device: str):
    return generator(check_device(device))


def _sample(method, shape: tuple, dtype):
    """Draw with a generator ``method`` in ``dtype``. Generators draw only float32/float64,
    so float16 is drawn in float32 and cast (the stream is the float32 one)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"random samples need a floating-point dtype, got {dtype}")
    if dtype in (np.float32, np.float64):
        return method(shape, dtype=dtype)
    return method(shape, dtype=np.float32).astype(dtype)


def _shape_arg(shape) -> tuple:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _resolve_shape(old: tuple, new: Sequence[int]) -> tuple:
    """Fill in a single -1 and check the element count, like NumPy."""
    new = [int(s) for s in new]
    size = math.prod(old)
    if new.count(-1) > 1:
        raise ValueError("only one -1 allowed")
    if -1 in new:
        known = math.prod(s for s in new if s != -1)
        if known == 0 or size % known:
            raise ValueError("bad -1")
        new[new.index(-1)] = size // known
    if math.prod(new) != size or any(s < 0 for s in new):
        raise ValueError("size mismatch")
    return tuple(new)


def _index_array(index):
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def backpropagate(root: Tensor, grad, retain_graph: bool) -> None:
    """Reverse-mode sweep from ``root`` with upstream ``grad``."""
    grads = {id(root): grad}
    for node in _toposort(root):
        g = grads.pop(id(node), None)
        ctx = node._ctx
        if g is None:  # no gradient reached it (an op returned None): still free its arrays
            if ctx is not None and not retain_graph:
                ctx.free()
            continue
        if ctx is None or node._retains_grad:
            _accumulate(node, g)
            if ctx is None:
                continue
        in_grads = ctx.backward(g)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        for parent, pg, need in zip(ctx.parents, in_grads, ctx.needs_input_grad):
            if not need or pg is None:
                continue
            key = id(parent)
            prev = grads.get(key)
            grads[key] = pg if prev is None else prev + pg
        if not retain_graph:
            ctx.free()


def _accumulate(leaf: Tensor, g) -> None:
    if g.dtype != leaf.dtype:
        g = g.astype(leaf.dtype)
    if g.shape != leaf.shape:
        g = array_module(g).broadcast_to(g, leaf.shape)
    if leaf.grad is None:
        leaf.grad = Tensor(g.copy())  # own the array: g may alias another leaf's gradient
    else:
        leaf.grad.data += g


def _toposort(root: Tensor) -> list[Tensor]:
    """Tensors reachable from ``root`` that require grad, outputs before inputs. Iterative.

    It also checks every op's version counters, so that an in-place change raises before
    any gradient is accumulated (no leaf is left with half a gradient)."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is None:
            continue
        if ctx.freed:
            raise RuntimeError(
                "trying to backward through the graph a second time: its saved arrays were freed "
                "by the first backward(); pass retain_graph=True to the first call if you need this"
            )
        ctx.check_versions()
        for parent in ctx.parents:
            if parent is not None and parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    order.reverse()
    return order
