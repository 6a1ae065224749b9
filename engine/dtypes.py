"""Dtype names as torch spells them (``engine.float32``, ``engine.long``, ...): NumPy dtypes.

>>> import engine
>>> engine.zeros(2, dtype=engine.long).dtype
dtype('int64')
"""

from __future__ import annotations

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

NAMES = ["float32", "float", "float64", "double", "float16", "half", "int64", "long", "int32", "int",
         "int16", "short", "int8", "uint8", "bool"]


def to_dtype(dtype) -> np.dtype | None:
    """``dtype`` (a NumPy dtype, one of the names above, a string such as "float32", or a Python
    type: ``float`` is float64 and ``int`` int64, as torch) as a NumPy dtype; None stays None."""
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
