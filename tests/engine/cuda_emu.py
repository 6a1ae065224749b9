"""A CPU emulator for engine/kernels/cuda/'s kernels: the real CUDA source, compiled as C++ with g++.

``FakeCupy`` stands in for the ``cupy`` module inside engine.kernels.cuda (tests monkeypatch
``engine.kernels.cuda._cupy``): its arrays are NumPy arrays, and its ``RawKernel`` /
``ElementwiseKernel`` compile the kernel source into a shared library and run it on the CPU.

How a launch is emulated: one pthread per CUDA thread of a block; the threads walk the grid's
blocks in order, one block at a time. ``__shared__`` arrays become function statics (shared by
the block's threads; blocks never overlap), ``__syncthreads`` is a pthread barrier over the
block, ``__syncwarp`` one over each warp, and ``__shfl_xor_sync`` goes through a
per-warp exchange buffer between two warp barriers. So the emulator checks the kernels'
indexing, tiling, masking, reductions and barrier discipline (a barrier not reached by every
thread deadlocks here as it would hang on a GPU), and every launch checks that each argument's
type matches the kernel's C signature (CuPy passes Python ints as ``long long`` without a
check). It cannot find races that need real concurrency inside a warp, memory-model or
performance problems, or differences between the GPU's and the CPU's math libraries.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HEADER = r"""
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define TG_EMU 1
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(x)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define __restrict__
struct dim3 { unsigned int x = 1, y = 1, z = 1; };
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
static dim3 gridDim, blockDim, blockIdx;
static thread_local dim3 threadIdx;
static pthread_barrier_t tg_bar;
static pthread_barrier_t tg_wbar[32];
static float tg_xbuf[32][32];
static inline void __syncthreads() { pthread_barrier_wait(&tg_bar); }
static inline void __syncwarp(unsigned int = 0xffffffffu) { pthread_barrier_wait(&tg_wbar[threadIdx.x >> 5]); }
static inline float __shfl_xor_sync(unsigned int, float v, int o) {
    const unsigned w = threadIdx.x >> 5, l = threadIdx.x & 31;
    tg_xbuf[w][l] = v;
    __syncwarp();
    const float r = tg_xbuf[w][l ^ o];
    __syncwarp();
    return r;
}
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline float tg_h2f(unsigned short h) { _Float16 x; memcpy(&x, &h, 2); return (float)x; }
static inline unsigned short tg_f2h(float f) {
    _Float16 x = (_Float16)f;
    unsigned short h;
    memcpy(&h, &x, 2);
    return h;
}
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fsqrt_rn(float a) { return sqrtf(a); }

struct tg_job { unsigned t; void (*call)(void*); void* args; };
static void* tg_worker(void* p) {
    const tg_job* j = (const tg_job*)p;
    threadIdx.x = j->t;
    const unsigned long long nblocks = (unsigned long long)gridDim.x * gridDim.y;
    for (unsigned long long b = 0; b < nblocks; ++b) {
        if (j->t == 0) { blockIdx.x = (unsigned)(b % gridDim.x); blockIdx.y = (unsigned)(b / gridDim.x); }
        pthread_barrier_wait(&tg_bar);  /* blockIdx is set */
        j->call(j->args);
        pthread_barrier_wait(&tg_bar);  /* the block is done with its shared memory */
    }
    return 0;
}
/* Run the grid: one pthread per CUDA thread of a block, the blocks one after another. */
static void tg_launch(void (*call)(void*), void* args, unsigned gx, unsigned gy, unsigned bx) {
    gridDim.x = gx; gridDim.y = gy; blockDim.x = bx;
    pthread_barrier_init(&tg_bar, 0, bx);
    for (unsigned w = 0; w < bx / 32; ++w) pthread_barrier_init(&tg_wbar[w], 0, 32);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 18);
    pthread_t th[1024];
    tg_job jobs[1024];
    for (unsigned t = 0; t < bx; ++t) {
        jobs[t].t = t; jobs[t].call = call; jobs[t].args = args;
        if (pthread_create(&th[t], &attr, tg_worker, &jobs[t])) { fprintf(stderr, "pthread_create failed\n"); abort(); }
    }
    for (unsigned t = 0; t < bx; ++t) pthread_join(th[t], 0);
    pthread_attr_destroy(&attr);
    pthread_barrier_destroy(&tg_bar);
    for (unsigned w = 0; w < bx / 32; ++w) pthread_barrier_destroy(&tg_wbar[w]);
}
"""

_SIG = re.compile(r'extern "C" __global__ void\s+(?:__launch_bounds__\([^)]*\)\s*)?(\w+)\s*\(([^)]*)\)', re.S)
_CACHE = Path(tempfile.gettempdir()) / "tg_cuda_emu"


def compiler_works() -> bool:
    """True when g++ builds the emulator's header (C++11 thread_local, pthreads, _Float16)."""
    if shutil.which("g++") is None:
        return False
    try:
        _build(HEADER + 'extern "C" float tg_probe(float f) { return tg_h2f(tg_f2h(f)); }\n')
        return True
    except (RuntimeError, OSError):
        return False


def _build(source: str) -> Path:
    _CACHE.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(source.encode()).hexdigest()[:20]
    lib = _CACHE / f"k{key}.so"
    if lib.exists():
        return lib
    src = _CACHE / f"k{key}.cpp"
    src.write_text(source)
    tmp = _CACHE / f"k{key}.{os.getpid()}.tmp.so"
    cmd = ["g++", "-std=c++17", "-O1", "-pthread", "-shared", "-fPIC", "-ffp-contract=off",
           "-fno-strict-aliasing", "-w", str(src), "-o", str(tmp)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"g++ failed on the emulated kernel source:\n{out.stderr[-4000:]}")
    os.replace(tmp, lib)
    return lib


def _param(decl: str) -> tuple[str, str]:
    """'const T* __restrict__ Q' -> ('T*', 'Q'); 'long long C' -> ('long long', 'C')."""
    decl = decl.replace("__restrict__", "").replace("const ", "").strip()
    m = re.match(r"(.+?)\s*(\*?)\s*(\w+)$", decl)
    typ, star, name = m.group(1).strip(), m.group(2), m.group(3)
    return typ + star, name


_SCALARS = {"long long": (ctypes.c_longlong, np.int64), "int": (ctypes.c_int, np.int32),
            "float": (ctypes.c_float, np.float32)}


_LIBS: dict[str, tuple] = {}  # kernel source -> (CDLL, {kernel name: params})


def _library(code: str):
    """Build (once per source) a library with ``tg_run_<name>(gx, gy, bx, params...)`` per kernel."""
    if code not in _LIBS:
        sigs = {n: [_param(p) for p in params.split(",")] for n, params in _SIG.findall(code)}
        wrappers = []
        for name, params in sigs.items():
            fields = "".join(f"{t} {n}; " for t, n in params)
            names = ", ".join(f"a->{n}" for _, n in params)
            decl = ", ".join(f"{t} {n}" for t, n in params)
            init = ", ".join(n for _, n in params)
            wrappers.append(
                f"struct tg_args_{name} {{ {fields}}};\n"
                f"static void tg_call_{name}(void* p) {{ tg_args_{name}* a = (tg_args_{name}*)p; {name}({names}); }}\n"
                f'extern "C" void tg_run_{name}(unsigned gx, unsigned gy, unsigned bx, {decl}) '
                f"{{ tg_args_{name} a = {{{init}}}; tg_launch(tg_call_{name}, &a, gx, gy, bx); }}\n")
        _LIBS[code] = (ctypes.CDLL(str(_build(HEADER + code + "\n" + "".join(wrappers)))), sigs)
    return _LIBS[code]


class RawKernel:
    """Emulates cupy.RawKernel(code, name): ``kernel(grid, block, args)``."""

    def __init__(self, code: str, name: str, options=()):
        self.code, self.name = code, name
        lib, sigs = _library(code)
        if name not in sigs:
            raise ValueError(f"kernel {name} not found in the source")
        self.params = sigs[name]
        half = "#define TG_HALF 1" in code
        self.elem = {"T*": np.float16 if half else np.float32, "float*": np.float32, "long long*": np.int64}
        self.fn = getattr(lib, f"tg_run_{name}")
        self.fn.restype = None
        self.fn.argtypes = [ctypes.c_uint] * 3 + [
            ctypes.c_void_p if t.endswith("*") else _SCALARS[t][0] for t, _ in self.params]

    def __call__(self, grid, block, args, shared_mem=0):
        grid = tuple(grid) + (1,) * (3 - len(grid))
        block = tuple(block) + (1,) * (3 - len(block))
        if grid[2] != 1 or block[1:] != (1, 1) or block[0] % 32 or not 0 < block[0] <= 1024:
            raise ValueError(f"{self.name}: unsupported launch grid {grid} block {block}")
        if not 0 < grid[1] <= 65535 or grid[0] < 1:
            raise ValueError(f"{self.name}: grid {grid} is outside CUDA's limits")
        if len(args) != len(self.params):
            raise TypeError(f"{self.name} takes {len(self.params)} arguments, got {len(args)}")
        conv = []
        for a, (typ, pname) in zip(args, self.params):
            if typ.endswith("*"):
                want = self.elem[typ]
                if not isinstance(a, np.ndarray) or a.dtype != want or not a.flags.c_contiguous:
                    raise TypeError(f"{self.name}({pname}): expected a C-contiguous {np.dtype(want)} array, "
                                    f"got {getattr(a, 'dtype', type(a))}")
                conv.append(a.ctypes.data)
            else:
                want = _SCALARS[typ][1]
                if type(a) is not want:
                    raise TypeError(f"{self.name}({pname}): expected {np.dtype(want)} for C type {typ}, got {type(a)}")
                conv.append(a.item())
        self.fn(grid[0], grid[1], block[0], *conv)


_EW_TYPES = {"float32": ("float", np.float32), "bool": ("bool", np.bool_), "int64": ("long long", np.int64)}


class ElementwiseKernel:
    """Emulates cupy.ElementwiseKernel for same-shaped arrays (outputs contiguous) and scalar parameters."""

    def __init__(self, in_params: str, out_params: str, operation: str, name: str = "kernel", **kwargs):
        self.ins = [p.split() for p in in_params.split(",")]
        self.outs = [p.split() for p in out_params.split(",")]
        self.body, self.name = operation, name
        self.libs: dict = {}

    def __call__(self, *args):
        ins, outs = args[:len(self.ins)], list(args[len(self.ins):])
        t_dtype = next(np.dtype(a.dtype) for a, (typ, _) in zip(ins, self.ins) if typ == "T")  \
            if any(typ == "T" for typ, _ in self.ins) else np.dtype(np.float32)
        arrays = [a for a in ins if isinstance(a, np.ndarray)]
        n = arrays[0].size
        if not outs:
            outs = [np.empty(arrays[0].shape, dtype=t_dtype if typ == "T" else _EW_TYPES[typ][1])
                    for typ, _ in self.outs]
        lines, ptrs, scal = [], [], []
        for a, (typ, pname) in zip(ins, self.ins):
            ctype, dt = ("T", t_dtype) if typ == "T" else _EW_TYPES[typ]
            if isinstance(a, np.ndarray):
                a = np.ascontiguousarray(a)  # CuPy reads inputs through their strides: the same values
                if a.dtype != dt or a.size != n:
                    raise TypeError(f"{self.name}({pname}): expected {n} contiguous {np.dtype(dt)}, "
                                    f"got {a.dtype} {a.shape}")
                lines.append(f"const {ctype} {pname} = ((const {ctype}*)tg_a[{len(ptrs)}])[i];")
                ptrs.append(a)
            else:
                if type(a) is not dt:
                    raise TypeError(f"{self.name}({pname}): expected a {np.dtype(dt)} scalar, got {type(a)}")
                lines.append(f"const {ctype} {pname} = ({ctype})tg_s[{len(scal)}];")
                scal.append(float(a))
        for a, (typ, pname) in zip(outs, self.outs):
            ctype, dt = ("T", t_dtype) if typ == "T" else _EW_TYPES[typ]
            if a.dtype != dt or a.size != n or not a.flags.c_contiguous:
                raise TypeError(f"{self.name}({pname}): expected {n} contiguous {np.dtype(dt)}, "
                                    f"got {a.dtype} {a.shape}")
            lines.append(f"{ctype}& {pname} = (({ctype}*)tg_a[{len(ptrs)}])[i];")
            ptrs.append(a)
        ttype = "_Float16" if t_dtype == np.float16 else "float"
        src = (HEADER + f"typedef {ttype} T;\n"
               'extern "C" void tg_ew(long long n, void** tg_a, const double* tg_s) {\n'
               "    for (long long i = 0; i < n; ++i) {\n        " + "\n        ".join(lines)
               + "\n        {" + self.body + "}\n    }\n}\n")
        if src not in self.libs:
            lib = ctypes.CDLL(str(_build(src)))
            lib.tg_ew.restype = None
            lib.tg_ew.argtypes = [ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p]
            self.libs[src] = lib
        ptr_arr = (ctypes.c_void_p * max(1, len(ptrs)))(*[p.ctypes.data for p in ptrs])
        s_arr = np.asarray(scal + [0.0], dtype=np.float64)
        self.libs[src].tg_ew(n, ctypes.cast(ptr_arr, ctypes.c_void_p), s_arr.ctypes.data)
        return outs[0] if len(outs) == 1 else tuple(outs)


class FakeCupy:
    """The slice of the ``cupy`` namespace that engine.kernels.cuda uses, on NumPy arrays."""

    ndarray = np.ndarray
    float16, float32, float64, int64, bool_ = np.float16, np.float32, np.float64, np.int64, np.bool_
    RawKernel = RawKernel
    ElementwiseKernel = ElementwiseKernel

    @staticmethod
    def ascontiguousarray(a):
        return np.ascontiguousarray(a)

    asarray = staticmethod(np.asarray)
    empty = staticmethod(np.empty)
    empty_like = staticmethod(np.empty_like)
    zeros = staticmethod(np.zeros)
    zeros_like = staticmethod(np.zeros_like)
