"""The one place that knows about NumPy vs CuPy.

Every op is written against an array module ``xp``; this file picks it.
CuPy is imported only when a GPU is asked for, so CPU users never need it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

DEVICES = ("cpu", "gpu")
GPU_HELP = (
    "device='gpu' needs CuPy and a CUDA device. Install it with `pip install -e \".[gpu]\"` "
    "or the cupy-cudaXXx wheel matching your CUDA driver (e.g. `pip install cupy-cuda12x`)."
)


def _cupy():
    """Import CuPy and check that a CUDA device is present, or raise with install help.

    float32 matmuls use TF32 tensor cores by default (``CUPY_TF32=1``, read when CuPy is first
    imported); set ``CUPY_TF32=0`` beforehand, or call ``set_tf32(False)`` first, for full float32.
    """
    os.environ.setdefault("CUPY_TF32", "1")
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(f"{GPU_HELP} (import failed: {e})") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, no device
        raise RuntimeError(f"{GPU_HELP} (no CUDA device: {e})") from None
    if count < 1:
        raise RuntimeError(f"{GPU_HELP} (no CUDA device found)")
    return cupy


def set_tf32(enabled: bool) -> None:
    """Allow (or forbid) TF32 for float32 matmuls on the GPU. Takes effect only before CuPy is imported."""
    if "cupy" in sys.modules and sys.modules["cupy"] is not None:
        raise RuntimeError("set_tf32 must be called before the GPU is first used (CuPy reads CUPY_TF32 on import)")
    os.environ["CUPY_TF32"] = "1" if enabled else "0"


def gpu_available() -> bool:
    """True when CuPy imports and sees a CUDA device.

    >>> isinstance(gpu_available(), bool)
    True
    """
    try:
        _cupy()
        return True
    except RuntimeError:
        return False


def keep_freed_memory(mmap_threshold: int = 256 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Tell glibc's malloc to reuse freed array memory instead of handing it back to the OS.

    By default an array over 128 KiB gets fresh pages from ``mmap`` and returns them on free, so
    every temporary of a training step page-faults its memory in again, one fault per 4 KiB:
    about a fifth of a small GPT's CPU step (bench/RESULTS.md, 2026-11-26). Raising the mmap
    and trim thresholds keeps that memory in the heap for the next step; peak RSS is unchanged.
    Never called on import: ``engine.tune_cpu()`` calls it (the training CLI does). Returns
    whether it took effect (False off glibc, e.g. macOS or musl).

    >>> isinstance(keep_freed_memory(), bool)
    True
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
        return bool(libc.mallopt(m_mmap_threshold, mmap_threshold)) and bool(
            libc.mallopt(m_trim_threshold, trim_threshold)
        )
    except (OSError, AttributeError):  # not glibc
        return False


def check_device(device: str) -> str:
    """Normalize a device name ("cpu", "gpu"; "cuda" is an alias of "gpu")."""
    if device == "cuda" or (isinstance(device, str) and device.startswith("cuda:")):
        device = "gpu"
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected one of {DEVICES}")
    return device


class device(str):  # noqa: N801 - torch's name
    """torch.device: a device name that ``.to()`` and ``device=`` take ("cpu", "cuda", "cuda:0",
    "gpu"), with torch's ``type`` and ``index``.

    >>> d = device("cuda", 0); d.type, d.index, str(d)
    ('cuda', 0, 'cuda:0')
    """

    def __new__(cls, type: str, index: int | None = None):  # noqa: A002 - torch's argument name
        if isinstance(type, device) and index is None:
            return type
        name = str(type) if index is None else f"{type}:{int(index)}"
        check_device(name)
        self = super().__new__(cls, name)
        base, _, idx = name.partition(":")
        self.type = "cuda" if base in ("cuda", "gpu") else base
        self.index = int(idx) if idx else None
        return self

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"

    __hash__ = str.__hash__


def get_xp(device: str):
    """The array module for a device name: numpy for "cpu", cupy for "gpu".

    >>> get_xp("cpu").__name__
    'numpy'
    """
    return np if check_device(device) == "cpu" else _cupy()


def array_module(arr: Any):
    """The array module an array belongs to (numpy unless it is a CuPy array)."""
    if type(arr) is np.ndarray:
        return np
    # sys.modules["cupy"] may be None (an import blocked on purpose) or a failed half-import.
    cupy = sys.modules.get("cupy")
    ndarray = getattr(cupy, "ndarray", None)
    return cupy if ndarray is not None and isinstance(arr, ndarray) else np


def device_of(arr: Any) -> str:
    """ "cpu" or "gpu" for a backend array."""
    return "cpu" if array_module(arr) is np else "gpu"


def to_device(arr: Any, device: str):
    """Copy ``arr`` to ``device`` (no copy when it is already there)."""
    device = check_device(device)
    if device_of(arr) == device:
        return arr
    if device == "cpu":
        return arr.get()
    return _cupy().asarray(arr)


def to_numpy(arr: Any) -> np.ndarray:
    """A NumPy array for any backend array."""
    return arr if isinstance(arr, np.ndarray) else arr.get()


def scatter_add(target, index, values) -> None:
    """``target[index] += values`` with duplicate indices summed, in place.

    >>> t = np.zeros((3, 2)); scatter_add(t, np.array([2, 0, 2]), np.ones((3, 2))); t[:, 0].tolist()
    [1.0, 0.0, 2.0]
    """
    xp = array_module(target)
    if xp is np:
        rows_by_ids = isinstance(index, np.ndarray) and index.ndim == 1 and index.dtype.kind in "iu"
        if rows_by_ids and values.shape == index.shape + target.shape[1:]:
            # Rows by a 1-D index (embedding backward): sort, then one add.reduceat per run of equal
            # ids, 4x faster than np.add.at at (768, 128) -> (65, 128). Equal ids add in input order.
            if len(index) and index.min() < 0:  # -1 and n-1 are one row: they must sort together
                index = np.where(index < 0, index + target.shape[0], index)
            order = np.argsort(index, kind="stable")
            ids = index[order]
            starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1]))) if len(ids) else ids
            if len(ids):
                target[ids[starts]] += np.add.reduceat(values[order], starts, axis=0)
            return
        np.add.at(target, index, values)
    elif hasattr(xp.add, "at"):  # CuPy >= 13 (its cupyx.scatter_add is deprecated)
        xp.add.at(target, index, values)
    else:
        import cupyx

        cupyx.scatter_add(target, index, values)


_scipy_erf = None


def erf(x):
    """Elementwise error function on either backend."""
    global _scipy_erf
    xp = array_module(x)
    if xp is not np:
        import cupyx.scipy.special

        return cupyx.scipy.special.erf(x).astype(x.dtype, copy=False)  # float16 would come back wider
    if _scipy_erf is None:
        try:
            from scipy.special import erf as f
        except ImportError:  # scipy is optional: math.erf is exact but slow
            import math

            f = np.frompyfunc(math.erf, 1, 1)
        _scipy_erf = f
    return np.asarray(_scipy_erf(x), dtype=x.dtype)
