"""Mixed precision: ``autocast`` runs matmuls in float16 while everything else stays float32.

Parameters stay float32 (the master weights); under ``autocast("float16")`` ``F.linear``
casts its inputs to float16, multiplies, and returns float32, so LayerNorm, softmax, the
residual stream and the loss keep float32 range. Pair it with ``nn.amp.GradScaler``: small
float16 gradients underflow unless the loss is scaled up first.

>>> import numpy as np, engine.functional as F
>>> from engine import Tensor
>>> x, w = Tensor(np.ones((2, 3), np.float32)), Tensor(np.ones((4, 3), np.float32))
>>> with autocast("float16"):
...     F.linear(x, w).dtype
dtype('float32')
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

SUPPORTED = ("float16",)  # NumPy and CuPy have no bfloat16 dtype


class _AmpState(threading.local):
    def __init__(self):
        self.dtype: np.dtype | None = None


_state = _AmpState()


def autocast_dtype() -> np.dtype | None:
    """The matmul dtype of the innermost ``autocast`` block, or None outside one."""
    return _state.dtype


class autocast(contextlib.ContextDecorator):  # noqa: N801 - named like torch.autocast
    """Context manager / decorator: matmuls inside run in ``dtype`` (float16)."""

    def __init__(self, dtype: str = "float16", enabled: bool = True):
        try:
            name = np.dtype(dtype).name
        except TypeError:  # e.g. "bfloat16", which NumPy does not know
            name = str(dtype)
        if name not in SUPPORTED:
            raise ValueError(f"autocast dtype must be one of {SUPPORTED}, got {dtype!r} "
                             "(NumPy and CuPy have no bfloat16)")
        self.dtype = np.dtype(dtype) if enabled else None
        self._prev: list = []

    def __enter__(self):
        self._prev.append(_state.dtype)
        _state.dtype = self.dtype
        return self

    def __exit__(self, *exc):
        _state.dtype = self._prev.pop()
        return False
