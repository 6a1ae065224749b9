"""Complex tensors as torch's: ``engine.complex``, ``polar``, ``view_as_real``/``view_as_complex``,
``real``/``imag`` (views), ``conj``, ``angle``, ``sgn``, and the Tensor methods of the same names.

Gradients follow torch's convention: for a real loss L, ``z.grad`` is dL/dRe z + i dL/dIm z (see
engine.function.complex_backward). ``conj()`` copies (torch's is a lazy view with the same values), so
``is_conj()`` is always False and ``resolve_conj``/``resolve_neg`` return their input.

>>> import engine
>>> z = engine.tensor([3 + 4j], requires_grad=True)
>>> z.abs().sum().backward(); z.grad.tolist()
[(0.6000000238418579+0.800000011920929j)]
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np

from engine.dtypes import scalar_type_name
from engine.ops import complex as complex_ops
from engine.tensor import Tensor


def _check_real_pair(op: str, a: Tensor, b: Tensor) -> None:
    """torch.complex/polar's checks: two float tensors of one dtype (float16 has no complex dtype here)."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"{op}(): argument 'real' and 'imag' must be Tensors")
    if a.dtype.kind != "f" or b.dtype.kind != "f":
        raise RuntimeError(f"Expected both inputs to be Half, Float or Double tensors but got "
                           f"{scalar_type_name(a.dtype)} and {scalar_type_name(b.dtype)}")
    if a.dtype != b.dtype:
        raise RuntimeError(f"Expected object of scalar type {scalar_type_name(a.dtype)} but got scalar type "
                           f"{scalar_type_name(b.dtype)} for second argument")
    if a.dtype == np.float16:
        raise NotImplementedError(f"{op}: complex32 (from float16) is not supported")


def complex(real: Tensor, imag: Tensor) -> Tensor:  # noqa: A001 - torch's name
    """``real + i imag`` (torch.complex): float32 gives complex64, float64 complex128; broadcasts.

    >>> import engine
    >>> complex(engine.tensor([1.0]), engine.tensor([2.0])).tolist()
    [(1+2j)]
    """
    _check_real_pair("complex", real, imag)
    return complex_ops.Complex.apply(real, imag)


def polar(abs: Tensor, angle: Tensor) -> Tensor:  # noqa: A002 - torch's names
    """``abs * (cos(angle) + i sin(angle))`` (torch.polar).

    >>> import engine, math
    >>> round(polar(engine.tensor([2.0]), engine.tensor([math.pi / 2])).imag.item(), 4)
    2.0
    """
    _check_real_pair("polar", abs, angle)
    return complex_ops.Polar.apply(abs, angle)


def view_as_real(input: Tensor) -> Tensor:  # noqa: A002
    """A complex tensor as a real one with a last dim of 2 (real, imag) over the same memory: writes go
    through, and so does the gradient.

    >>> import engine
    >>> view_as_real(engine.tensor([1 + 2j])).tolist()
    [[1.0, 2.0]]
    """
    if input.dtype.kind != "c":
        raise RuntimeError("view_as_real is only supported for complex tensors")
    return complex_ops.ViewAsReal.apply(input)


def view_as_complex(input: Tensor) -> Tensor:  # noqa: A002
    """A float tensor with a last dim of 2 (stride 1) as a complex one over the same memory (torch's
    checks and words).

    >>> import engine
    >>> view_as_complex(engine.tensor([[1.0, 2.0]])).tolist()
    [(1+2j)]
    """
    if input.dtype not in (np.float32, np.float64):
        raise RuntimeError("view_as_complex is only supported for half, float and double tensors, but got a tensor "
                           f"of scalar type: {scalar_type_name(input.dtype)}")
    if input.ndim == 0:
        raise RuntimeError("Input tensor must have one or more dimensions")
    if input.shape[-1] != 2:
        raise RuntimeError("Tensor must have a last dimension of size 2")
    item = input._data.itemsize
    if input._data.strides[-1] != item:
        raise RuntimeError("Tensor must have a last dimension with stride 1")
    if any((st // item) % 2 for st, n in zip(input._data.strides[:-1], input.shape[:-1]) if n > 1):
        raise RuntimeError("Tensor must have a stride divisible by 2 for all but last dimension")
    if (input.storage_offset() if hasattr(input, "storage_offset") else 0) % 2:
        raise RuntimeError("Tensor must have a storage_offset divisible by 2")
    return complex_ops.ViewAsComplex.apply(input)


def real(input: Tensor) -> Tensor:  # noqa: A002
    """The real part: a view for a complex tensor, the tensor itself otherwise (torch.real).

    >>> import engine
    >>> real(engine.tensor([1 + 2j])).tolist()
    [1.0]
    """
    return complex_ops.Real.apply(input) if input.dtype.kind == "c" else input


def imag(input: Tensor) -> Tensor:  # noqa: A002
    """The imaginary part, a view (torch.imag); a real tensor raises, as torch.

    >>> import engine
    >>> imag(engine.tensor([1 + 2j])).tolist()
    [2.0]
    """
    if input.dtype.kind != "c":
        raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")
    return complex_ops.Imag.apply(input)


def conj(input: Tensor) -> Tensor:  # noqa: A002
    """The complex conjugate (a copy; a real tensor is returned as is), torch.conj.

    >>> import engine
    >>> conj(engine.tensor([1 + 2j])).tolist()
    [(1-2j)]
    """
    return complex_ops.Conj.apply(input) if input.dtype.kind == "c" else input


conj_physical = conj


def resolve_conj(input: Tensor) -> Tensor:  # noqa: A002
    """The input: conjugates here are never lazy, so there is nothing to resolve.

    >>> import engine
    >>> resolve_conj(engine.tensor([1j])).is_conj()
    False
    """
    return input


resolve_neg = resolve_conj


def is_conj(input: Tensor) -> bool:  # noqa: A002
    """False: ``conj()`` here makes a conjugated copy, never a lazy conjugate view.

    >>> import engine
    >>> is_conj(engine.tensor([1j]).conj())
    False
    """
    return False


def is_neg(input: Tensor) -> bool:  # noqa: A002
    """False: there are no lazy negative views."""
    return False


def is_complex(input: Tensor) -> bool:  # noqa: A002
    """Whether the dtype is complex (torch.is_complex).

    >>> import engine
    >>> is_complex(engine.tensor([1j])), is_complex(engine.tensor([1.0]))
    (True, False)
    """
    return input.dtype.kind == "c"


def angle(input: Tensor) -> Tensor:  # noqa: A002
    """atan2(imag, real) of a complex tensor (real dtype); of a real one π where negative, 0 elsewhere,
    nan kept, float32 for integers (torch.angle).

    >>> import engine
    >>> [round(v, 4) for v in angle(engine.tensor([1j, -2.0])).tolist()]
    [1.5708, 3.1416]
    """
    x = input if input.dtype.kind in "fc" else input.astype(np.float32)
    return complex_ops.Angle.apply(x)


def sgn(input: Tensor) -> Tensor:  # noqa: A002
    """z / |z| (0 at 0) of a complex tensor; ``sign`` of a real one (torch.sgn).

    >>> import engine
    >>> sgn(engine.tensor([3 + 4j, 0j])).tolist()
    [(0.6000000238418579+0.800000011920929j), 0j]
    """
    if input.dtype.kind == "c":
        return complex_ops.Sgn.apply(input)
    return _REAL_METHODS["sign"](input)


def adjoint(input: Tensor) -> Tensor:  # noqa: A002
    """The conjugate transpose of the last two dims (torch.adjoint, ``Tensor.mH``).

    >>> import engine
    >>> adjoint(engine.tensor([[1j, 2.0]])).tolist()
    [[-1j], [(2-0j)]]
    """
    return conj(input.mT)


def _set_part(part):
    def setter(self: Tensor, value: Any) -> None:
        if self.dtype.kind != "c":
            if part is imag:
                imag(self)
            self.copy_(value)
            return
        part(self).copy_(value)

    return setter


# torch's words for ops that refuse complex input (wrapped Tensor methods; not the real hot paths)
_REFUSED = {
    "sort": (RuntimeError, "Sort does not support complex dtypes on CPU"),
    "argsort": (RuntimeError, "Sort does not support complex dtypes on CPU"),
    "msort": (RuntimeError, "Sort does not support complex dtypes on CPU"),
    "topk": (RuntimeError, "topk does not support complex dtypes on CPU"),
    "argmax": (RuntimeError, "argmax(): does not support complex input"),
    "argmin": (RuntimeError, "argmin(): does not support complex input"),
    "maximum": (RuntimeError, "maximum not implemented for complex tensors."),
    "minimum": (RuntimeError, "minimum not implemented for complex tensors."),
    "fmax": (RuntimeError, "fmax not implemented for complex tensors."),
    "fmin": (RuntimeError, "fmin not implemented for complex tensors."),
    "floor": (NotImplementedError, "floor is not supported for complex inputs"),
    "ceil": (NotImplementedError, "ceil is not supported for complex inputs"),
    "round": (NotImplementedError, "round is not supported for complex inputs"),
    "trunc": (NotImplementedError, "trunc is not supported for complex inputs"),
    "sign": (NotImplementedError, "Unlike NumPy, torch.sign is not intended to support complex numbers. Please use "
                                  "torch.sgn instead."),
    "cummax": (NotImplementedError, '"cummax_cpu" not implemented for \'{}\''),
    "cummin": (NotImplementedError, '"cummin_cpu" not implemented for \'{}\''),
    "kthvalue": (NotImplementedError, '"kthvalue_cpu" not implemented for \'{}\''),
    "median": (NotImplementedError, '"median_cpu" not implemented for \'{}\''),
    "nanmedian": (NotImplementedError, '"nanmedian_cpu" not implemented for \'{}\''),
    "erf": (NotImplementedError, '"erf_vml_cpu" not implemented for \'{}\''),
    "erfc": (NotImplementedError, '"erfc_vml_cpu" not implemented for \'{}\''),
    "erfinv": (NotImplementedError, '"erfinv_cpu" not implemented for \'{}\''),
    "logit": (NotImplementedError, '"logit_cpu" not implemented for \'{}\''),
    "atan2": (NotImplementedError, '"atan2_cpu" not implemented for \'{}\''),
    "hypot": (NotImplementedError, '"hypot_cpu" not implemented for \'{}\''),
    "copysign": (NotImplementedError, '"copysign_cpu" not implemented for \'{}\''),
    "fmod": (NotImplementedError, '"fmod_cpu" not implemented for \'{}\''),
    "remainder": (NotImplementedError, '"remainder_cpu" not implemented for \'{}\''),
    "floor_divide": (NotImplementedError, '"div_floor_cpu" not implemented for \'{}\''),
    "xlogy": (NotImplementedError, '"xlogy_cpu" not implemented for \'{}\''),
    "unique": (NotImplementedError, '"unique" not implemented for \'{}\''),
    "nansum": (RuntimeError, "nansum on CPU does not support complex inputs"),
    "deg2rad": (RuntimeError, "deg2rad is not supported for complex tensors."),
    "rad2deg": (RuntimeError, "rad2deg is not supported for complex tensors."),
    "logaddexp2": (NotImplementedError, '"logaddexp2_cpu" not implemented for \'{}\''),
    "__lt__": (NotImplementedError, '"lt_cpu" not implemented for \'{}\''),
    "__le__": (NotImplementedError, '"le_cpu" not implemented for \'{}\''),
    "__gt__": (NotImplementedError, '"gt_cpu" not implemented for \'{}\''),
    "__ge__": (NotImplementedError, '"ge_cpu" not implemented for \'{}\''),
}
_REAL_METHODS: dict = {}


def _refuse_complex(name: str, method):
    kind, words = _REFUSED[name]

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        other = args[0] if args else None
        dt = getattr(self, "dtype", None)
        if dt is None or dt.kind != "c":
            dt = getattr(other, "dtype", None) if isinstance(other, Tensor) else None
        if dt is not None and dt.kind == "c":
            raise kind(words.format(scalar_type_name(dt)))
        return method(self, *args, **kwargs)

    return wrapper


def _cast(dtype):
    def method(self: Tensor, memory_format=None) -> Tensor:
        return self._cast(dtype, memory_format, "cfloat" if dtype == np.complex64 else "cdouble")

    return method


def _mh(self: Tensor) -> Tensor:
    if self.ndim == 0:  # torch's deprecation warning, word for word
        warnings.warn("Tensor.mH is deprecated on 0-D tensors. Consider using x.conj().", UserWarning, stacklevel=2)
        return conj(self)
    if self.ndim < 2:
        raise RuntimeError(f"tensor.mH is only supported on matrices or batches of matrices. Got {self.ndim}-D "
                           "tensor.")
    return conj(self.mT)


def _h(self: Tensor) -> Tensor:
    if self.ndim == 0:
        warnings.warn("Tensor.H is deprecated on 0-D tensors. Consider using x.conj().", UserWarning, stacklevel=2)
        return conj(self)
    if self.ndim != 2:
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {self.ndim}-D tensor.")
    return conj(self.transpose(0, 1))


FUNCTIONS = {"complex": complex, "polar": polar, "view_as_real": view_as_real, "view_as_complex": view_as_complex,
             "real": real, "imag": imag, "conj": conj, "conj_physical": conj_physical, "resolve_conj": resolve_conj,
             "resolve_neg": resolve_neg, "is_conj": is_conj, "is_neg": is_neg, "is_complex": is_complex,
             "angle": angle, "sgn": sgn, "adjoint": adjoint}


def refuse_complex(engine_module) -> None:
    """Make the Tensor methods and torch.* functions in _REFUSED raise torch's error for complex input
    (after every one of them exists: engine/__init__.py calls this once all are installed)."""
    for name in _REFUSED:
        if hasattr(Tensor, name):
            _REAL_METHODS[name] = getattr(Tensor, name)
            setattr(Tensor, name, _refuse_complex(name, getattr(Tensor, name)))
        if not name.startswith("_") and hasattr(engine_module, name):
            setattr(engine_module, name, _refuse_complex(name, getattr(engine_module, name)))


def install(engine_module) -> list[str]:
    """Put the functions on ``engine_module`` and the methods on Tensor; the names added."""
    for name in ("conj", "conj_physical", "resolve_conj", "resolve_neg", "is_conj", "is_neg", "angle", "sgn",
                 "adjoint"):
        setattr(Tensor, name, FUNCTIONS[name])
    Tensor.real = property(real, _set_part(real), doc="The real part (a view for a complex tensor).")
    Tensor.imag = property(imag, _set_part(imag), doc="The imaginary part, a view (complex tensors only).")
    Tensor.mH = property(_mh, doc="The conjugate transpose of the last two dims.")
    Tensor.H = property(_h, doc="The conjugate transpose of a matrix.")
    Tensor.cfloat, Tensor.cdouble = _cast(np.complex64), _cast(np.complex128)
    for name, fn in FUNCTIONS.items():
        setattr(engine_module, name, fn)
    from engine.dtypes import cdouble, cfloat, complex64, complex128

    engine_module.complex64, engine_module.cfloat = complex64, cfloat
    engine_module.complex128, engine_module.cdouble = complex128, cdouble
    return [*FUNCTIONS, "complex64", "cfloat", "complex128", "cdouble"]

