"""Dtype names as torch spells them (``engine.float32``, ``engine.long``, ...): NumPy dtypes.

>>> import engine
>>> engine.zeros(2, dtype=engine.long).dtype
dtype('int64')
"""

from __future__ import annotations

import builtins

import numpy as np

float32 = float = np.dtype(np.float32)  # noqa: A001
float64 = double = np.dtype(np.float64)
float16 = half = np.dtype(np.float16)
int64 = long = np.dtype(np.int64)
int32 = int = np.dtype(np.int32)  # noqa: A001
int16 = short = np.dtype(np.int16)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
bool = np.dtype(np.bool_)  # noqa: A001
complex64 = cfloat = np.dtype(np.complex64)
complex128 = cdouble = np.dtype(np.complex128)

_SCALAR_TYPES = {"float16": "Half", "float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int",
                 "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool", "complex64": "ComplexFloat",
                 "complex128": "ComplexDouble"}


def scalar_type_name(dtype) -> str:
    """torch's ScalarType name of ``dtype`` (a dtype or its name), as its error messages spell it.

    >>> scalar_type_name(complex64), scalar_type_name("int64")
    ('ComplexFloat', 'Long')
    """
    name = getattr(dtype, "name", dtype) if not isinstance(dtype, type) else np.dtype(dtype).name
    return _SCALAR_TYPES.get(name, name)


NAMES = ["float32", "float", "float64", "double", "float16", "half", "int64", "long", "int32", "int",
         "int16", "short", "int8", "uint8", "bool", "complex64", "cfloat", "complex128", "cdouble"]


def to_dtype(dtype) -> np.dtype | None:
    """``dtype`` (a NumPy dtype, one of the names above, a string such as "float32", or a Python
    type: ``float`` is float64, ``int`` int64 and ``complex`` complex128, as torch) as a NumPy dtype;
    None stays None.

    >>> to_dtype("torch.complex64"), to_dtype(complex)
    (dtype('complex64'), dtype('complex128'))
    """
    if dtype is None:
        return None
    if isinstance(dtype, str) and dtype.startswith("torch."):
        dtype = dtype[6:]
    if isinstance(dtype, str) and dtype in NAMES:
        return globals()[dtype]
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}; use engine.float32, engine.int64, ... or a NumPy dtype") from None


# ---- type promotion as torch's (torch.promote_types, torch.result_type, torch.can_cast) ----------


def _category(dt: np.dtype) -> int:
    """0 bool, 1 integer, 2 floating point, 3 complex: torch never lowers an operand's category."""
    return 0 if dt.kind == "b" else 1 if dt.kind in "iu" else 3 if dt.kind == "c" else 2


def to_complex(dt: np.dtype) -> np.dtype:
    """The complex dtype of float dtype ``dt`` (torch's toComplexType: float16 has none here, complex64).

    >>> to_complex(float64)
    dtype('complex128')
    """
    return complex128 if dt == float64 else complex64


def to_real(dt: np.dtype) -> np.dtype:
    """The real dtype of a complex one (complex64: float32); any other dtype unchanged.

    >>> to_real(complex128), to_real(int64)
    (dtype('float64'), dtype('int64'))
    """
    return dt if dt.kind != "c" else float64 if dt == complex128 else float32


def promote_types(type1, type2) -> np.dtype:
    """The smallest dtype both ``type1`` and ``type2`` cast to without losing category or range, as
    torch.promote_types: an integer meeting a float takes the float's dtype (NumPy would widen it).

    >>> promote_types(int32, float16)
    dtype('float16')
    """
    a, b = to_dtype(type1), to_dtype(type2)
    ca, cb = _category(a), _category(b)
    if ca != cb and max(ca, cb) == 3 and min(ca, cb) == 2:  # float meets complex: the wider of the two
        return np.promote_types(a, b) if a != float16 and b != float16 else (a if ca == 3 else b)
    if ca != cb and max(ca, cb) >= 2:
        return a if ca > cb else b
    return np.promote_types(a, b)


def _operand_dtype(x) -> tuple[np.dtype, int]:
    """(dtype, priority) of a result_type operand: 2 a tensor with dims, 1 a 0-d tensor, 0 a number
    (a Python float counts as the default float32, an int as int64, as torch's wrapped numbers)."""
    if isinstance(x, (builtins.bool, np.bool_)):
        return bool, 0
    if isinstance(x, (np.integer, np.floating)):
        return np.dtype(x.dtype), 0
    if isinstance(x, builtins.int):
        return int64, 0
    if isinstance(x, builtins.float):
        return float32, 0
    if isinstance(x, (builtins.complex, np.complexfloating)):  # a Python complex: the default's complex64
        return (complex64 if isinstance(x, builtins.complex) else np.dtype(x.dtype)), 0
    dt = getattr(x, "dtype", None)
    if dt is None:
        raise TypeError(f"result_type: expected a Tensor or a number, got {type(x).__name__}")
    return np.dtype(dt), (2 if len(x.shape) else 1)


def result_type(tensor1, tensor2) -> np.dtype:
    """The dtype torch gives an arithmetic op on ``tensor1`` and ``tensor2`` (Tensors or numbers):
    the highest category wins; within it, tensors with dims outrank 0-d tensors, which outrank numbers.

    >>> import engine
    >>> result_type(engine.tensor([1, 2], dtype=int32), 5)
    dtype('int32')
    >>> result_type(engine.tensor([1, 2], dtype=int32), 2.5)
    dtype('float32')
    >>> result_type(engine.tensor([1.0], dtype=float64), 1j)
    dtype('complex128')
    """
    groups: dict = {}
    for x in (tensor1, tensor2):
        dt, prio = _operand_dtype(x)
        groups[prio] = dt if prio not in groups else promote_types(groups[prio], dt)

    def combine(higher, lower):  # torch's combine_categories
        if higher is None:
            return lower
        if lower is None:
            return higher
        if _category(higher) == 3:
            return higher
        if _category(lower) == 3:  # a float keeps its width as complex; an integer takes lower's complex
            return to_complex(higher) if _category(higher) == 2 else lower
        if _category(higher) == 2:
            return higher
        if _category(higher) == 0 or _category(lower) == 2:
            return promote_types(higher, lower)
        return higher

    return combine(groups.get(2), combine(groups.get(1), groups.get(0)))


def can_cast(from_, to) -> builtins.bool:
    """True where torch allows a same-kind cast: never from complex to float, from float to integer or
    bool, nor from integer to bool (any size within a category is fine).

    >>> can_cast(float64, int32), can_cast(int64, int8)
    (False, True)
    """
    return _category(to_dtype(from_)) <= _category(to_dtype(to))
