"""torch.cuda's everyday calls, so ``device = "cuda" if engine.cuda.is_available() else "cpu"``
ports as written. The GPU backend is CuPy (``device="gpu"``, "cuda" is its alias).

>>> isinstance(is_available(), bool), device_count() >= 0
(True, True)
"""

from __future__ import annotations

from engine.backend import _cupy, gpu_available
from engine.rng import manual_seed as _manual_seed


def is_available() -> bool:
    """True when CuPy imports and sees a CUDA device."""
    return gpu_available()


def device_count() -> int:
    """CUDA devices CuPy sees (0 without CuPy)."""
    return _cupy().cuda.runtime.getDeviceCount() if gpu_available() else 0


def current_device() -> int:
    return _cupy().cuda.Device().id if gpu_available() else 0


def get_device_name(device=None) -> str:
    props = _cupy().cuda.runtime.getDeviceProperties(current_device() if device is None else int(device))
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else name


def synchronize(device=None) -> None:
    """Wait for the GPU's queued work (a no-op without one), as before timing a step."""
    if gpu_available():
        _cupy().cuda.Device().synchronize()


def manual_seed(seed: int) -> None:
    """Seed every device's generator (the engine keeps one per device), as torch.cuda.manual_seed_all."""
    _manual_seed(seed)


manual_seed_all = manual_seed
