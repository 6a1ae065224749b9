"""The kernel table: speed kernels for the fused ops, one forward/backward pair per (op, backend).

Each fused op in ``engine/ops/`` is a ``Function`` whose ``forward``/``backward`` are the readable
reference. A backend folder (``cpu/``: numba, ``cuda/``: ``.cu`` sources and CuPy launchers) may
register a faster pair under the op's name, as llm.c pairs ``gelu_forward``/``gelu_backward``::

    kernels[("gelu", "cpu")] = (gelu_forward, gelu_backward)

The op asks :func:`lookup` once per call; it runs the pair when there is one, the reference
otherwise. A kernel takes and returns exactly what the reference it replaces does, so each op has one
backward contract whichever path ran. ``tests/engine/test_kernel_table.py`` compares every
registered kernel with its reference, values and gradients.

``ENGINE_KERNELS=off`` (or ``set_enabled(False)``) runs every op on its reference: the first thing to
try when a kernel is suspected. ``python -m engine.kernels`` prints the table.

>>> ("gelu", "cpu") in [row[:2] for row in table()]
True
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from engine.backend import array_module

BACKENDS = ("cpu", "cuda")
kernels: dict[tuple[str, str], tuple[Callable, Callable | None]] = {}

# ENGINE_KERNELS=off switches every backend off; the older per-backend names still work.
_enabled = {
    "cpu": os.environ.get("ENGINE_KERNELS", "on") != "off" and os.environ.get("TINYGRAD_GPT_CPU_KERNELS") != "0",
    "cuda": os.environ.get("ENGINE_KERNELS", "on") != "off" and os.environ.get("TINYGRAD_GPT_CUDA_KERNELS") != "0",
}
_CPU_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_CUDA_DTYPES = (np.dtype(np.float32), np.dtype(np.float16))


def register(name: str, backend: str, forward: Callable, backward: Callable | None = None) -> None:
    """Put a kernel pair in the table (``backward`` None for an op without a gradient, e.g. AdamW, or
    whose backward stays the reference's, e.g. Linear).

    >>> register("double", "cpu", lambda x: 2 * x, lambda x, g: 2 * g); kernels.pop(("double", "cpu"))[0](1)
    2
    """
    if backend not in BACKENDS:
        raise ValueError(f"register: backend must be one of {BACKENDS}, got {backend!r}")
    kernels[(name, backend)] = (forward, backward)


def set_enabled(enabled: bool, backend: str | None = None) -> bool:
    """Run the kernels (True, the default) or only the references (False), on one backend or all;
    returns the old setting (of ``backend``, or of the CPU when None).

    >>> old = set_enabled(False); set_enabled(old)
    False
    """
    old = _enabled[backend or "cpu"]
    for b in BACKENDS if backend is None else (backend,):
        _enabled[b] = bool(enabled)
    return old


def enabled(backend: str) -> bool:
    """Whether ``backend``'s kernels run: switched on, and for the CPU, numba installed.

    >>> isinstance(enabled("cpu"), bool)
    True
    """
    _load_backends()
    return _enabled[backend] and (backend != "cpu" or _cpu.available())


def backend_of(arrays) -> str | None:
    """The backend whose kernels take these arrays (None entries skipped), or None: "cpu" for NumPy
    float32/float64 of one dtype, "cuda" for CuPy float32/float16.

    >>> backend_of([np.ones(2, np.float32), None]), backend_of([np.ones(2, np.int64)])
    ('cpu', None)
    """
    dtype, backend = None, None
    for a in arrays:
        if a is None:
            continue
        if type(a) is np.ndarray:
            if backend == "cuda" or a.dtype not in _CPU_DTYPES or (dtype is not None and a.dtype != dtype):
                return None
            backend, dtype = "cpu", a.dtype
        elif array_module(a) is not np and a.dtype in _CUDA_DTYPES and backend != "cpu":
            backend = "cuda"
        else:
            return None
    return backend


def lookup(name: str, *arrays) -> tuple[Callable, Callable | None] | None:
    """The (forward, backward) kernel pair of op ``name`` for these arrays, or None (run the reference).

    >>> lookup("gelu", np.ones(3, np.int64)) is None
    True
    """
    backend = backend_of(arrays)
    if backend is None or not _enabled[backend]:
        return None
    if not _loaded:
        _load_backends()
    pair = kernels.get((name, backend))
    return pair if pair is not None and (backend != "cpu" or _cpu.available()) else None


def describe(backend: str = "cpu") -> str:
    """What the ops of ``backend`` run on, for logs.

    >>> describe().startswith(("compiled kernels", "references"))
    True
    """
    if backend == "cpu":
        from engine.kernels import cpu

        if not cpu.available():
            return "references (numba not installed: pip install -e \".[cpu]\" for compiled kernels)"
        if not _enabled["cpu"]:
            return "references (kernels off: ENGINE_KERNELS=off or engine.kernels.set_enabled(False))"
        return f"compiled kernels (numba {cpu.numba_version()})"
    return "CUDA kernels" if _enabled[backend] else "references (kernels off)"


def table() -> list[tuple[str, str, str, bool]]:
    """Rows (op, backend, "forward + backward", "forward only" (Linear: its backward stays the
    reference's) or "no gradient" (AdamW's update, decode's attention), enabled), sorted by op.

    >>> ("gelu", "cuda", "forward + backward") in [row[:3] for row in table()]
    True
    """
    _load_backends()
    return [(name, backend, "forward + backward" if bwd is not None else
             "forward only" if name in FORWARD_ONLY else "no gradient", enabled(backend))
            for (name, backend), (_, bwd) in sorted(kernels.items())]


FORWARD_ONLY = {"linear"}  # ops whose table entry is a forward only, their backward the reference's


_loaded = False
_cpu = None


def _load_backends() -> None:
    """Import the backend folders once (each registers its kernels); after the ops, whose
    constants they share. Neither imports numba nor CuPy: those load on a kernel's first call."""
    global _loaded, _cpu
    if not _loaded:
        from engine.kernels import cpu, cuda  # noqa: F401

        _cpu, _loaded = cpu, True
