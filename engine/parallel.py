"""Elementwise work on every core.

NumPy's BLAS already runs matmuls on all cores, but each ufunc runs on one. NumPy releases the
GIL inside a ufunc, so a kernel split into row ranges runs in parallel on a few Python threads.
Each thread also walks its range in chunks of about ``CHUNK`` elements, so that a kernel's
several passes over one chunk stay in the core's L2 cache.

A hand-off to a thread costs tens of microseconds, so (measured in bench/RESULTS.md):
- kernels with a tanh or exp (GELU forward, the attention softmax) go parallel from
  ``MIN_PARALLEL`` elements;
- kernels of cheap passes (GELU and softmax backward, optimizer updates) only from
  ``MIN_PARALLEL_CHEAP``, where their arrays outgrow the caches;
- single ufuncs and LayerNorm's short rows stay on one thread: two were slower.

Attention's batched matmuls of small matrices also run here (``parallel_batched``): OpenBLAS is
set to one thread and each of our threads multiplies its share of the batch.

Only the CPU uses this; CuPy kernels are parallel already. ``TINYGRAD_GPT_THREADS=1`` or
``engine.set_num_threads(1)`` turns it off (attention's batched matmuls then run on one core);
results do not depend on the thread count.

For the split to pay off OpenBLAS must not keep a core busy after each matmul: its idle threads
spin for 2^28 cycles (~0.1 s) by default; ``OPENBLAS_THREAD_TIMEOUT=16`` (2^16 cycles) keeps
matmuls as fast. OpenBLAS reads it when its threads start: :func:`tune_cpu` sets it and restarts
them, whenever NumPy was imported, and tunes malloc.
"""

from __future__ import annotations

import ctypes
import glob
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

THREADS_ENV = "TINYGRAD_GPT_THREADS"
CHUNK = 1 << 16  # elements per call of a kernel: 256 KiB of float32, a few arrays fit in L2
MIN_PARALLEL = 1 << 15  # below this many elements a thread hand-off costs more than a tanh/exp saves
MIN_PARALLEL_CHEAP = 1 << 20  # the same for kernels of cheap passes (+, *), which gain only once
#                               their arrays outgrow the caches and memory bandwidth is the limit


def _default_threads() -> int:
    env = os.environ.get(THREADS_ENV, "")
    if env:
        if not env.strip().isdigit() or int(env) < 1:
            raise ValueError(f"{THREADS_ENV} must be a positive integer (threads for elementwise work), got {env!r}")
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


_threads = _default_threads()
_pool: ThreadPoolExecutor | None = None


def _forget_pool_in_child() -> None:
    """A forked child has none of the parent's pool threads: work queued to them would wait forever."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def get_num_threads() -> int:
    """Threads used for elementwise work on the CPU (default: the cores this process may use).

    >>> get_num_threads() >= 1
    True
    """
    return _threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for elementwise work on the CPU (1: no threads). BLAS keeps its own
    threads, except for attention's batched matmuls, which run on these (``parallel_batched``).

    >>> old = get_num_threads(); set_num_threads(1); get_num_threads()
    1
    >>> set_num_threads(old)
    """
    global _threads, _pool
    if int(n) < 1:
        raise ValueError(f"set_num_threads needs n >= 1, got {n}")
    _threads = int(n)
    if _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None


def parallel_for(xp, n: int, kernel: Callable[[int, int], None], row_size: int = 1,
                 min_parallel: int = MIN_PARALLEL) -> None:
    """Call ``kernel(lo, hi)`` on consecutive chunks that cover ``range(n)`` exactly once.

    ``n`` counts rows of ``row_size`` elements each (1 for a flat array). A kernel must write
    only its rows ``lo:hi``, since chunks run at the same time on different threads; each thread
    gets an equal share of the rows and walks it in chunks of about ``CHUNK`` elements. On CuPy,
    or for work under ``min_parallel`` elements, there is one call ``kernel(0, n)``: pass
    ``MIN_PARALLEL_CHEAP`` for a kernel without transcendental functions.

    >>> out = np.zeros(10)
    >>> def fill(lo, hi): out[lo:hi] = np.arange(lo, hi)
    >>> parallel_for(np, 10, fill); out.tolist() == list(range(10))
    True
    """
    if xp is not np or n * row_size < min_parallel or n < 2 or _threads == 1:
        kernel(0, n)
        return
    _run_shares(_row_shares(kernel, n, step=max(1, CHUNK // max(1, row_size))))


def parallel_jobs(xp, jobs: list[tuple[Callable[[int, int], None], int]],
                  min_parallel: int = MIN_PARALLEL_CHEAP) -> None:
    """Run several flat kernels ``(kernel, n)`` (e.g. one optimizer update per parameter) as one
    pool of ``CHUNK``-element chunks, shared out to the threads by element count.

    >>> a, b = np.zeros(3), np.zeros(5)
    >>> def add_one(x): return lambda lo, hi: np.add(x[lo:hi], 1, out=x[lo:hi])
    >>> parallel_jobs(np, [(add_one(a), 3), (add_one(b), 5)]); float(a.sum() + b.sum())
    8.0
    """
    total = sum(n for _, n in jobs)
    if xp is not np or total < min_parallel or _threads == 1:
        for kernel, n in jobs:
            kernel(0, n)
        return
    chunks = [(kernel, lo, min(n, lo + CHUNK)) for kernel, n in jobs for lo in range(0, n, CHUNK)]
    shares: list[list] = [[] for _ in range(_threads)]
    done = 0
    for chunk in chunks:  # contiguous runs of chunks, about total / threads elements each
        shares[min(_threads - 1, done * _threads // total)].append(chunk)
        done += chunk[2] - chunk[1]
    _run_shares([s for s in shares if s])


OPENBLAS_THREAD_TIMEOUT = "16"
TUNE_ENV = "TINYGRAD_GPT_TUNE_CPU"  # "0": tune_cpu() changes nothing (opt-out)


def tune_cpu() -> dict[str, bool]:
    """Tune this process for training on the CPU. Nothing in the engine calls it on import (``import
    engine`` leaves the process as it was); ``tinygrad_gpt``'s training entry calls it, and so may
    any program, whether it imported NumPy first or not. ``TINYGRAD_GPT_TUNE_CPU=0`` turns it into a
    no-op. Call it at start-up, before other threads run matmuls. It does two things:

    - glibc's malloc keeps freed array memory for the next step (``backend.keep_freed_memory``):
      about a fifth of a small GPT's CPU step went to page faults without it;
    - idle OpenBLAS threads stop spinning after 2^16 cycles instead of 2^28 (~0.1 s after every
      matmul, a core that our elementwise threads need). OpenBLAS reads ``OPENBLAS_THREAD_TIMEOUT``
      only when its threads start, so this sets it (unless the user did), finds the loaded OpenBLAS
      through ``threadpoolctl``, has it re-read its environment and stops its threads; the next
      matmul starts them again with the short timeout. Child processes inherit the variable.

    Returns what took effect.

    >>> sorted(tune_cpu())
    ['keep_freed_memory', 'openblas_thread_timeout']
    """
    if os.environ.get(TUNE_ENV, "").strip() == "0":
        return {"keep_freed_memory": False, "openblas_thread_timeout": False}
    from engine.backend import keep_freed_memory

    global _openblas_restarted_with
    timeout = os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", OPENBLAS_THREAD_TIMEOUT)
    if _openblas_restarted_with != timeout:  # once per value: a second call costs nothing
        _openblas_restarted_with = timeout if _restart_openblas_threads() else None
    return {"keep_freed_memory": keep_freed_memory(), "openblas_thread_timeout": _openblas_restarted_with is not None}


_openblas_restarted_with: str | None = None  # the OPENBLAS_THREAD_TIMEOUT the running OpenBLAS threads read


def _restart_openblas_threads() -> bool:
    """Make every loaded pthreads OpenBLAS re-read its environment (``openblas_read_env``) and stop
    its thread pool (``blas_thread_shutdown_``), which its next call starts again with the settings
    read. True if at least one was restarted; False without threadpoolctl, without OpenBLAS (MKL,
    Accelerate), for an OpenMP build (its threads are OpenMP's) or when the symbols are missing."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return False
    done = False
    for lib_info in threadpool_info():
        if lib_info.get("internal_api") != "openblas" or lib_info.get("threading_layer") != "pthreads":
            continue
        try:
            lib = ctypes.CDLL(lib_info["filepath"])
            read_env, shutdown = lib.openblas_read_env, lib.blas_thread_shutdown_
        except (OSError, AttributeError, KeyError):
            continue
        read_env()
        shutdown()
        done = True
    return done


def _find_openblas():
    """(get_num_threads, set_num_threads) of the OpenBLAS that NumPy loaded, or None (another
    BLAS, or not found). Symbols of the scipy-openblas wheels are prefixed and end in 64_."""
    try:  # NumPy on MKL or Accelerate: leave its BLAS alone, even if some other OpenBLAS is loaded
        if "openblas" not in np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"].lower():
            return None
    except Exception:  # an older NumPy without mode="dicts": look for the library anyway
        pass
    np_dir = os.path.dirname(np.__file__)
    paths = []
    for libs in (np_dir + ".libs", os.path.join(np_dir, ".dylibs")):  # the NumPy wheels' own copy first
        paths += glob.glob(os.path.join(libs, "*openblas*"))
    try:
        with open("/proc/self/maps") as f:  # Linux: a system OpenBLAS this process has loaded
            paths += sorted({line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line})
    except OSError:
        pass
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas_", "openblas_"):
            for suffix in ("64_", ""):
                try:
                    get = getattr(lib, f"{prefix}get_num_threads{suffix}")
                    put = getattr(lib, f"{prefix}set_num_threads{suffix}")
                except AttributeError:
                    continue
                get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
                global _openblas_symbols
                _openblas_symbols = (lib, "scipy_" if prefix.startswith("scipy") else "", suffix)
                return get, put
    return None


_openblas_symbols: tuple | None = None  # (library, CBLAS prefix, suffix) of the OpenBLAS found
_openblas = _find_openblas()
_gemms: dict = {}


def openblas_gemm(dtype):
    """CBLAS ``sgemm``/``dgemm`` of the OpenBLAS NumPy uses (float32/float64), a ctypes function with
    its argument types set, or None (another BLAS, not found, another dtype). Arguments: row-major 101,
    transA, transB (111 no, 112 yes), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc; ctypes releases
    the GIL during the call. For a product NumPy's matmul cannot ask for: C = A·B + C (β = 1).

    >>> f = openblas_gemm(np.float32); f is None or callable(f)
    True
    """
    key = np.dtype(dtype)
    if key not in _gemms:
        _gemms[key] = _bind_gemm(key)
    return _gemms[key]


def _bind_gemm(dtype):
    if _openblas_symbols is None or dtype not in (np.float32, np.float64):
        return None
    lib, prefix, suffix = _openblas_symbols
    try:
        fn = getattr(lib, f"{prefix}cblas_{'s' if dtype == np.float32 else 'd'}gemm{suffix}")
    except AttributeError:
        return None
    index = ctypes.c_int64 if suffix == "64_" else ctypes.c_int  # ILP64 builds end their symbols in 64_
    scalar = ctypes.c_float if dtype == np.float32 else ctypes.c_double
    ptr = ctypes.c_void_p
    fn.restype = None
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, index, index, index, scalar, ptr, index, ptr, index,
                   scalar, ptr, index]
    a = np.arange(6, dtype=dtype).reshape(2, 3)  # a check on a tiny product before any real use
    c = np.ones((2, 2), dtype)
    fn(101, 111, 112, 2, 2, 3, 1.0, array_address(a), 3, array_address(a), 3, 1.0, array_address(c), 2)
    return fn if np.array_equal(c, a @ a.T + 1) else None


def array_address(a) -> int:
    """The address of a NumPy array's first element, for ``openblas_gemm``'s pointers; not
    ``a.ctypes.data``, whose objects a ctypes call kept alive (tests/engine/test_memory.py's
    flat-memory loop grew ~50 bytes a call)."""
    return a.__array_interface__["data"][0]


def numpy_on_openblas() -> bool:
    """True when NumPy's BLAS is an OpenBLAS whose thread count this module can set (the one the
    CPU kernels that share matmuls out to the threads were measured against).

    >>> isinstance(numpy_on_openblas(), bool)
    True
    """
    return _openblas is not None


def parallel_batched(xp, n: int, kernel: Callable[[int, int], None], row_size: int = 1) -> None:
    """``kernel(lo, hi)`` over entries ``lo:hi`` of a batch of small matmuls (attention's heads, the
    LSTM recurrence's batch rows).

    NumPy calls BLAS once per matrix of a batched matmul, and OpenBLAS splits each 64-row
    matrix poorly over two threads (40-60 GFLOP/s). Instead, BLAS is set to one thread and the
    batch is shared out to our threads, one call each: each runs its own matrices, and whatever
    elementwise work the kernel does on them while they are in cache. That gives the same bits
    for any thread count. One call ``kernel(0, n)`` (BLAS untouched) on CuPy, without OpenBLAS, for a
    single entry or under ``MIN_PARALLEL`` elements in all. OpenBLAS's thread count is
    process-wide: a matmul that another thread of the program runs meanwhile also gets one.

    >>> out = np.zeros((4, 2, 2))
    >>> def square(lo, hi): np.matmul(np.ones((hi - lo, 2, 2)), np.ones((hi - lo, 2, 2)), out=out[lo:hi])
    >>> parallel_batched(np, 4, square, row_size=4); float(out.sum())
    32.0
    """
    if xp is not np or _openblas is None or n < 2 or n * row_size < MIN_PARALLEL:
        kernel(0, n)
        return
    get_blas_threads, set_blas_threads = _openblas
    blas_threads = get_blas_threads()
    set_blas_threads(1)
    try:  # one call per thread: smaller chunks were slower (more, smaller matmul calls)
        _run_shares(_row_shares(kernel, n, step=n))
    finally:
        set_blas_threads(blas_threads)


def _row_shares(kernel: Callable[[int, int], None], n: int, step: int) -> list[list[tuple]]:
    """Rows 0:n in equal shares, one per thread (at most n), each a list of ``(kernel, lo, hi)``
    chunks of at most ``step`` rows."""
    parts = min(_threads, n)
    bounds = [n * i // parts for i in range(parts + 1)]
    return [[(kernel, lo, min(bounds[i + 1], lo + step)) for lo in range(bounds[i], bounds[i + 1], step)]
            for i in range(parts)]


def _run_shares(shares: list[list[tuple[Callable[[int, int], None], int, int]]]) -> None:
    """Run each share's ``kernel(lo, hi)`` calls in order, share 0 in this thread, the rest on the pool."""
    global _pool

    def run(share) -> None:
        for kernel, lo, hi in share:
            kernel(lo, hi)

    if len(shares) == 1:
        run(shares[0])
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_threads - 1, thread_name_prefix="engine-elementwise")
    futures = [_pool.submit(run, share) for share in shares[1:]]
    try:
        run(shares[0])
    finally:
        for f in futures:
            f.result()  # re-raises a worker's exception here
