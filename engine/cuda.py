"""Fused CUDA kernels for the GPU backend, through CuPy, each with a NumPy reference.

Checked on an NVIDIA H200 (CuPy 14.2, CUDA 13; 2026-11-26, bench/RESULTS.md): every kernel equals
its NumPy reference and the composed op (tests/engine/test_cuda_kernels.py, float32 and float16),
and each op that calls it equals its composed path (tests/engine/test_cuda_dispatch.py). At gpt2's
shapes a forward + backward is 2.5-9x faster than the composed CuPy op. Without a GPU the same CUDA
source runs in the CPU emulator of tests/engine/cuda_emu.py (one thread per CUDA thread, real
barriers and warp shuffles), and ``python -m engine.cuda`` compiles it with NVRTC for sm_90.

The engine's ops call these kernels for float32/float16 CuPy arrays (:func:`kernels_for`);
``TINYGRAD_GPT_CUDA_KERNELS=0`` or :func:`set_enabled` keeps the composed ops instead.

What is here (each a plain function on CuPy arrays; ``*_reference`` twins are plain NumPy):

===========================  =====================================================================
``softmax``                  softmax over the last axis, one block per row, online max/sum
``softmax_backward``         ``dx = y * (g - sum(g * y))``
``layer_norm``               ``(y, mean, rstd)`` over the last axis; stats in float32
``layer_norm_backward``      ``(dx, dw, db)``; dw/db by column partial sums (no (N, C) temporary)
``gelu`` / ``gelu_backward`` GPT-2's tanh GELU (ElementwiseKernel)
``cross_entropy``            per-row loss and log-sum-exp in one pass over the (N, V) logits
``cross_entropy_backward``   ``(softmax - onehot) * scale_row`` written straight into one buffer
``adamw_flat``               AdamW over flat float32 buffers, in place, bit-for-bit nn.optim.AdamW
``flash_attention``          causal (optionally banded) attention, tiled, online softmax, saves LSE
                             (float32 math on CUDA cores, no tensor cores: memory O(T), not speed)
``flash_attention_backward`` recomputes P from q, k and the LSE: (dq, dk, dv), no (T, S) array
===========================  =====================================================================

CuPy is imported inside the functions only, so importing this module never imports CuPy; the
references and the helpers that take an array module (``cross_entropy_row_scale``,
``cross_entropy_reduce``, ``adamw_constants``) work with NumPy alone.

Dtypes: the kernels take float32 or float16 arrays (float16 loads and stores go through PTX
``cvt`` instructions, so no CUDA header is needed); all arithmetic and every statistic (mean,
rstd, LSE, loss rows) is float32. ``adamw_flat`` is float32 only.
"""

from __future__ import annotations

import functools
import math
import os
import sys
from typing import Any

import numpy as np

from engine.backend import array_module

__all__ = [
    "softmax", "softmax_backward", "layer_norm", "layer_norm_backward", "gelu", "gelu_backward",
    "cross_entropy", "cross_entropy_backward", "cross_entropy_row_scale", "cross_entropy_reduce",
    "adamw_flat", "adamw_constants", "flash_attention", "flash_attention_backward", "flash_supported",
    "flash_config",
    "softmax_reference", "softmax_backward_reference", "layer_norm_reference",
    "layer_norm_backward_reference", "gelu_reference", "gelu_backward_reference",
    "cross_entropy_reference", "cross_entropy_backward_reference", "adamw_flat_reference",
    "flash_attention_reference", "flash_attention_backward_reference",
]

SQRT_2_OVER_PI = math.sqrt(2 / math.pi)  # the same constant as engine/ops/elementwise.py's Gelu
MAX_HEAD_DIM = 128
_MAX_GRID_Y = 65535


def _cupy():
    import cupy

    return cupy


# The engine's fused ops (engine/ops/fused.py, Gelu) and nn.optim's AdamW call these kernels for
# float32/float16 CuPy arrays. TINYGRAD_GPT_CUDA_KERNELS=0 (or ``set_enabled(False)``) keeps the
# composed CuPy path instead, e.g. to compare the two.
_enabled = os.environ.get("TINYGRAD_GPT_CUDA_KERNELS", "1") != "0"


def set_enabled(enabled: bool) -> bool:
    """Use the fused kernels in the engine's ops (True, the default) or not; returns the old setting.

    >>> old = set_enabled(False); set_enabled(old)
    False
    """
    global _enabled
    old, _enabled = _enabled, bool(enabled)
    return old


def kernels_for(*arrays) -> Any:
    """This module when every array is a float32/float16 CuPy array and the kernels are on, else None.

    >>> kernels_for(np.ones(3, np.float32)) is None  # NumPy arrays take the composed path
    True
    """
    for a in arrays:
        if a is not None and not (_enabled and array_module(a) is not np and a.dtype in (np.float32, np.float16)):
            return None
    return sys.modules[__name__]


# =================================================================================================
# CUDA source
# =================================================================================================
_COMMON = r"""
#define TG_NEG_INF (-__int_as_float(0x7f800000))
#define TG_FULL 0xffffffffu
#if TG_HALF
typedef unsigned short T;  /* float16 bits; converted with PTX cvt, no cuda_fp16.h needed */
#ifdef TG_EMU  /* tests/engine/cuda_emu.py runs these kernels as C++ threads on the CPU */
__device__ __forceinline__ float ldT(const T* p, long long i) { return tg_h2f(p[i]); }
__device__ __forceinline__ void stT(T* p, long long i, float f) { p[i] = tg_f2h(f); }
#else
__device__ __forceinline__ float ldT(const T* p, long long i) {
    unsigned short h = p[i];
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
__device__ __forceinline__ void stT(T* p, long long i, float f) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    p[i] = h;
}
#endif
#else
typedef float T;
__device__ __forceinline__ float ldT(const T* p, long long i) { return p[i]; }
__device__ __forceinline__ void stT(T* p, long long i, float f) { p[i] = f; }
#endif

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(TG_FULL, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(TG_FULL, v, o));
    return v;
}
/* A running (max, sum of exp(x - max)) pair; the empty pair is (-inf, 0). */
__device__ __forceinline__ void ms_merge(float& m, float& s, float m2, float s2) {
    const float mn = fmaxf(m, m2);
    if (mn == TG_NEG_INF) return;  /* both empty */
    s = s * expf(m - mn) + s2 * expf(m2 - mn);
    m = mn;
}
__device__ __forceinline__ void ms_push(float& m, float& s, float x) {
    if (x > m) { s = s * expf(m - x) + 1.0f; m = x; }
    else if (x != TG_NEG_INF) { s += expf(x - m); }
}
/* Block-wide sum, every thread gets it. blockDim.x is a multiple of 32; sh holds >= 32 floats. */
__device__ float block_sum(float v, float* sh) {
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();  /* sh may still be read by an earlier call */
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    v = (lane < nw) ? sh[lane] : 0.0f;
    return warp_sum(v);
}
/* Block-wide (max, sum-exp) merge, every thread gets the same pair. */
__device__ void block_max_sum(float& m, float& s, float* shm, float* shs) {
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(TG_FULL, m, o);
        const float s2 = __shfl_xor_sync(TG_FULL, s, o);
        ms_merge(m, s, m2, s2);
    }
    __syncthreads();
    if (lane == 0) { shm[wid] = m; shs[wid] = s; }
    __syncthreads();
    if (lane < nw) { m = shm[lane]; s = shs[lane]; } else { m = TG_NEG_INF; s = 0.0f; }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(TG_FULL, m, o);
        const float s2 = __shfl_xor_sync(TG_FULL, s, o);
        ms_merge(m, s, m2, s2);
    }
}
"""

# ---- row kernels: one block per row of a contiguous (N, C) array -------------------------------
_ROW_KERNELS = r"""
extern "C" __global__ void tg_softmax_fwd(const T* __restrict__ x, T* __restrict__ y, long long C) {
    __shared__ float shm[32], shs[32];
    const long long row = blockIdx.x;
    const T* xr = x + row * C;
    T* yr = y + row * C;
    float m = TG_NEG_INF, s = 0.0f;
    for (long long c = threadIdx.x; c < C; c += blockDim.x) ms_push(m, s, ldT(xr, c));
    block_max_sum(m, s, shm, shs);
    for (long long c = threadIdx.x; c < C; c += blockDim.x) stT(yr, c, expf(ldT(xr, c) - m) / s);
}

extern "C" __global__ void tg_softmax_bwd(const T* __restrict__ y, const T* __restrict__ g,
                                          T* __restrict__ dx, long long C) {
    __shared__ float sh[32];
    const long long row = blockIdx.x;
    const T* yr = y + row * C;
    const T* gr = g + row * C;
    T* dr = dx + row * C;
    float dot = 0.0f;
    for (long long c = threadIdx.x; c < C; c += blockDim.x) dot += ldT(yr, c) * ldT(gr, c);
    dot = block_sum(dot, sh);
    for (long long c = threadIdx.x; c < C; c += blockDim.x) {
        const float yv = ldT(yr, c);
        stT(dr, c, yv * (ldT(gr, c) - dot));
    }
}

extern "C" __global__ void tg_layernorm_fwd(const T* __restrict__ x, const T* __restrict__ w,
                                            const T* __restrict__ b, T* __restrict__ y,
                                            float* __restrict__ mean_out, float* __restrict__ rstd_out,
                                            long long C, float eps, int has_w, int has_b) {
    __shared__ float sh[32];
    const long long row = blockIdx.x;
    const T* xr = x + row * C;
    T* yr = y + row * C;
    float acc = 0.0f;
    for (long long c = threadIdx.x; c < C; c += blockDim.x) acc += ldT(xr, c);
    const float mu = block_sum(acc, sh) / (float)C;
    acc = 0.0f;
    for (long long c = threadIdx.x; c < C; c += blockDim.x) {
        const float d = ldT(xr, c) - mu;
        acc += d * d;
    }
    const float var = block_sum(acc, sh) / (float)C;
    const float rs = 1.0f / sqrtf(var + eps);
    for (long long c = threadIdx.x; c < C; c += blockDim.x) {
        float v = (ldT(xr, c) - mu) * rs;
        if (has_w) v *= ldT(w, c);
        if (has_b) v += ldT(b, c);
        stT(yr, c, v);
    }
    if (threadIdx.x == 0) { mean_out[row] = mu; rstd_out[row] = rs; }
}

extern "C" __global__ void tg_layernorm_bwd_dx(const T* __restrict__ x, const T* __restrict__ w,
                                               const float* __restrict__ mean, const float* __restrict__ rstd,
                                               const T* __restrict__ g, T* __restrict__ dx,
                                               long long C, int has_w) {
    __shared__ float sh[32];
    const long long row = blockIdx.x;
    const T* xr = x + row * C;
    const T* gr = g + row * C;
    T* dr = dx + row * C;
    const float mu = mean[row], rs = rstd[row];
    float s1 = 0.0f, s2 = 0.0f;
    for (long long c = threadIdx.x; c < C; c += blockDim.x) {
        const float xh = (ldT(xr, c) - mu) * rs;
        float gh = ldT(gr, c);
        if (has_w) gh *= ldT(w, c);
        s1 += gh;
        s2 += gh * xh;
    }
    s1 = block_sum(s1, sh) / (float)C;
    s2 = block_sum(s2, sh) / (float)C;
    for (long long c = threadIdx.x; c < C; c += blockDim.x) {
        const float xh = (ldT(xr, c) - mu) * rs;
        float gh = ldT(gr, c);
        if (has_w) gh *= ldT(w, c);
        stT(dr, c, (gh - s1 - xh * s2) * rs);
    }
}

/* Column partial sums for dw, db: block (x: 256 columns, y: one chunk of rows). */
extern "C" __global__ void tg_layernorm_bwd_dwdb(const T* __restrict__ x, const float* __restrict__ mean,
                                                 const float* __restrict__ rstd, const T* __restrict__ g,
                                                 float* __restrict__ pw, float* __restrict__ pb,
                                                 long long N, long long C, long long rows_per_chunk) {
    const long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long chunk = blockIdx.y;
    if (c >= C) return;
    const long long r0 = chunk * rows_per_chunk;
    const long long r1 = (r0 + rows_per_chunk < N) ? r0 + rows_per_chunk : N;
    float aw = 0.0f, ab = 0.0f;
    for (long long r = r0; r < r1; ++r) {
        const float gv = ldT(g, r * C + c);
        aw += gv * ((ldT(x, r * C + c) - mean[r]) * rstd[r]);
        ab += gv;
    }
    pw[chunk * C + c] = aw;
    pb[chunk * C + c] = ab;
}

extern "C" __global__ void tg_ce_fwd(const T* __restrict__ logits, const long long* __restrict__ tgt,
                                     float* __restrict__ loss, float* __restrict__ lse_out,
                                     long long V, long long ignore) {
    __shared__ float shm[32], shs[32];
    const long long row = blockIdx.x;
    const T* xr = logits + row * V;
    float m = TG_NEG_INF, s = 0.0f;
    for (long long c = threadIdx.x; c < V; c += blockDim.x) ms_push(m, s, ldT(xr, c));
    block_max_sum(m, s, shm, shs);
    if (threadIdx.x == 0) {
        const float l = logf(s) + m;
        const long long t = tgt[row];
        lse_out[row] = l;
        loss[row] = (t == ignore) ? 0.0f : (l - ldT(xr, t));
    }
}

/* grad = (softmax - onehot) * scale[row]; zero rows whose target is ignore. out may be logits. */
extern "C" __global__ void tg_ce_bwd(const T* logits, const float* __restrict__ lse,
                                     const long long* __restrict__ tgt, const float* __restrict__ scale,
                                     T* out, long long V, long long ignore) {
    const long long row = blockIdx.x;
    const T* xr = logits + row * V;
    T* orow = out + row * V;
    const long long t = tgt[row];
    if (t == ignore) {
        for (long long c = threadIdx.x; c < V; c += blockDim.x) stT(orow, c, 0.0f);
        return;
    }
    const float l = lse[row], sc = scale[row];
    for (long long c = threadIdx.x; c < V; c += blockDim.x) {
        float p = expf(ldT(xr, c) - l);
        if (c == t) p -= 1.0f;
        stT(orow, c, p * sc);
    }
}
"""

# ---- flash attention -----------------------------------------------------------------------------
# Compile-time: HD head dim (multiple of 4, <= 128), R query (or key) rows per warp, NW warps.
# q (BH, Tq, HD), k and v (BH, S, HD) contiguous; query i sits at absolute position i + S - Tq and
# sees key j iff j <= i + S - Tq and (window <= 0 or j > i + S - Tq - window).
# Within a warp: for scores, lane = key (or query) of a 32-wide tile, dot products from shared
# memory with float4 loads (rows padded to KS floats, conflict-free when HD % 8 == 0); for the
# value/gradient accumulation, lane owns dims lane, lane + 32, ... (NPL of them) in registers.
_FLASH = r"""
#define TN 32
#define NPL ((HD + 31) / 32)
#define KS ((HD % 8 == 0) ? (HD + 4) : (HD + 8))
#define BM (NW * R)

__device__ __forceinline__ bool tg_visible(int qi, int kj, int Tq, int S, int off, int window) {
    const int qpos = qi + off;
    return qi < Tq && kj < S && kj <= qpos && (window <= 0 || kj > qpos - window);
}
__device__ __forceinline__ float dot4(const float4 a, const float4 b) {
    return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
}

extern "C" __global__ void __launch_bounds__(NW * 32)
tg_flash_fwd(const T* __restrict__ Q, const T* __restrict__ K, const T* __restrict__ V,
             T* __restrict__ O, float* __restrict__ Lse,
             int Tq, int S, int window, float scale, long long bh0) {
    __shared__ __align__(16) float sQ[BM][HD];
    __shared__ __align__(16) float sK[TN][KS];
    __shared__ __align__(16) float sV[TN][HD];
    __shared__ float sP[NW][R][TN];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const long long bh = bh0 + blockIdx.y;
    const int q0 = (int)(gridDim.x - 1 - blockIdx.x) * BM;  /* heaviest (last) query blocks first */
    const int off = S - Tq;
    const T* Qb = Q + bh * (long long)Tq * HD;
    const T* Kb = K + bh * (long long)S * HD;
    const T* Vb = V + bh * (long long)S * HD;
    T* Ob = O + bh * (long long)Tq * HD;
    float* Lb = Lse + bh * (long long)Tq;

    for (int idx = tid; idx < BM * HD; idx += NW * 32) {
        const int r = idx / HD, d = idx - r * HD, qi = q0 + r;
        sQ[r][d] = (qi < Tq) ? ldT(Qb, (long long)qi * HD + d) : 0.0f;
    }
    float m[R], l[R], acc[R][NPL];
#pragma unroll
    for (int r = 0; r < R; ++r) {
        m[r] = TG_NEG_INF;
        l[r] = 0.0f;
#pragma unroll
        for (int e = 0; e < NPL; ++e) acc[r][e] = 0.0f;
    }
    const int qlast = min(q0 + BM, Tq) - 1;
    const int kmax = qlast + off;
    const int kmin = (window > 0) ? max(0, q0 + off - window + 1) : 0;
    for (int k0 = (kmin / TN) * TN; k0 <= kmax; k0 += TN) {
        __syncthreads();  /* the previous tile is consumed; orders the sQ fill on the first pass */
        for (int idx = tid; idx < TN * HD; idx += NW * 32) {
            const int j = idx / HD, d = idx - j * HD, kj = k0 + j;
            float kv = 0.0f, vv = 0.0f;
            if (kj < S) {
                kv = ldT(Kb, (long long)kj * HD + d);
                vv = ldT(Vb, (long long)kj * HD + d);
            }
            sK[j][d] = kv;
            sV[j][d] = vv;
        }
        __syncthreads();
        float s[R];
#pragma unroll
        for (int r = 0; r < R; ++r) s[r] = 0.0f;
#pragma unroll
        for (int d = 0; d < HD; d += 4) {
            const float4 kk = *reinterpret_cast<const float4*>(&sK[lane][d]);
#pragma unroll
            for (int r = 0; r < R; ++r)
                s[r] += dot4(*reinterpret_cast<const float4*>(&sQ[warp * R + r][d]), kk);
        }
        const int kj = k0 + lane;
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const bool ok = tg_visible(q0 + warp * R + r, kj, Tq, S, off, window);
            const float sv = ok ? s[r] * scale : TG_NEG_INF;
            const float mnew = fmaxf(m[r], warp_max(sv));
            float p = 0.0f;
            if (mnew != TG_NEG_INF) {  /* warp-uniform */
                const float alpha = expf(m[r] - mnew);  /* 0 while m is still -inf */
                p = ok ? expf(sv - mnew) : 0.0f;
                l[r] = l[r] * alpha + p;  /* lane-partial sum, reduced at the end */
#pragma unroll
                for (int e = 0; e < NPL; ++e) acc[r][e] *= alpha;
                m[r] = mnew;
            }
            sP[warp][r][lane] = p;
        }
        __syncwarp();
#pragma unroll 4
        for (int j = 0; j < TN; ++j) {
            float vv[NPL];
#pragma unroll
            for (int e = 0; e < NPL; ++e) {
                const int d = lane + 32 * e;
                vv[e] = (d < HD) ? sV[j][d] : 0.0f;
            }
#pragma unroll
            for (int r = 0; r < R; ++r) {
                const float p = sP[warp][r][j];
#pragma unroll
                for (int e = 0; e < NPL; ++e) acc[r][e] += p * vv[e];
            }
        }
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const float lt = warp_sum(l[r]);
        const int qi = q0 + warp * R + r;
        if (qi < Tq) {
#pragma unroll
            for (int e = 0; e < NPL; ++e) {
                const int d = lane + 32 * e;
                if (d < HD) stT(Ob, (long long)qi * HD + d, acc[r][e] / lt);
            }
            if (lane == 0) Lb[qi] = m[r] + logf(lt);
        }
    }
}

extern "C" __global__ void __launch_bounds__(NW * 32)
tg_flash_bwd_dq(const T* __restrict__ Q, const T* __restrict__ K, const T* __restrict__ V,
                const T* __restrict__ dO, const float* __restrict__ Lse, const float* __restrict__ Dlt,
                T* __restrict__ dQ, int Tq, int S, int window, float scale, long long bh0) {
    __shared__ __align__(16) float sQ[BM][HD];
    __shared__ __align__(16) float sG[BM][HD];
    __shared__ __align__(16) float sK[TN][KS];
    __shared__ __align__(16) float sV[TN][KS];
    __shared__ float sS[NW][R][TN];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const long long bh = bh0 + blockIdx.y;
    const int q0 = (int)(gridDim.x - 1 - blockIdx.x) * BM;
    const int off = S - Tq;
    const T* Qb = Q + bh * (long long)Tq * HD;
    const T* Gb = dO + bh * (long long)Tq * HD;
    const T* Kb = K + bh * (long long)S * HD;
    const T* Vb = V + bh * (long long)S * HD;
    T* dQb = dQ + bh * (long long)Tq * HD;

    for (int idx = tid; idx < BM * HD; idx += NW * 32) {
        const int r = idx / HD, d = idx - r * HD, qi = q0 + r;
        const bool in = qi < Tq;
        sQ[r][d] = in ? ldT(Qb, (long long)qi * HD + d) : 0.0f;
        sG[r][d] = in ? ldT(Gb, (long long)qi * HD + d) : 0.0f;
    }
    float Lr[R], Dr[R], acc[R][NPL];
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const int qi = q0 + warp * R + r;
        Lr[r] = (qi < Tq) ? Lse[bh * (long long)Tq + qi] : 0.0f;
        Dr[r] = (qi < Tq) ? Dlt[bh * (long long)Tq + qi] : 0.0f;
#pragma unroll
        for (int e = 0; e < NPL; ++e) acc[r][e] = 0.0f;
    }
    const int qlast = min(q0 + BM, Tq) - 1;
    const int kmax = qlast + off;
    const int kmin = (window > 0) ? max(0, q0 + off - window + 1) : 0;
    for (int k0 = (kmin / TN) * TN; k0 <= kmax; k0 += TN) {
        __syncthreads();
        for (int idx = tid; idx < TN * HD; idx += NW * 32) {
            const int j = idx / HD, d = idx - j * HD, kj = k0 + j;
            float kv = 0.0f, vv = 0.0f;
            if (kj < S) {
                kv = ldT(Kb, (long long)kj * HD + d);
                vv = ldT(Vb, (long long)kj * HD + d);
            }
            sK[j][d] = kv;
            sV[j][d] = vv;
        }
        __syncthreads();
        float s[R], dp[R];
#pragma unroll
        for (int r = 0; r < R; ++r) { s[r] = 0.0f; dp[r] = 0.0f; }
#pragma unroll
        for (int d = 0; d < HD; d += 4) {
            const float4 kk = *reinterpret_cast<const float4*>(&sK[lane][d]);
            const float4 vv = *reinterpret_cast<const float4*>(&sV[lane][d]);
#pragma unroll
            for (int r = 0; r < R; ++r) {
                s[r] += dot4(*reinterpret_cast<const float4*>(&sQ[warp * R + r][d]), kk);
                dp[r] += dot4(*reinterpret_cast<const float4*>(&sG[warp * R + r][d]), vv);
            }
        }
        const int kj = k0 + lane;
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const bool ok = tg_visible(q0 + warp * R + r, kj, Tq, S, off, window);
            const float p = ok ? expf(s[r] * scale - Lr[r]) : 0.0f;
            sS[warp][r][lane] = p * (dp[r] - Dr[r]);
        }
        __syncwarp();
#pragma unroll 4
        for (int j = 0; j < TN; ++j) {
            float kv[NPL];
#pragma unroll
            for (int e = 0; e < NPL; ++e) {
                const int d = lane + 32 * e;
                kv[e] = (d < HD) ? sK[j][d] : 0.0f;
            }
#pragma unroll
            for (int r = 0; r < R; ++r) {
                const float ds = sS[warp][r][j];
#pragma unroll
                for (int e = 0; e < NPL; ++e) acc[r][e] += ds * kv[e];
            }
        }
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const int qi = q0 + warp * R + r;
        if (qi < Tq) {
#pragma unroll
            for (int e = 0; e < NPL; ++e) {
                const int d = lane + 32 * e;
                if (d < HD) stT(dQb, (long long)qi * HD + d, acc[r][e] * scale);
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(NW * 32)
tg_flash_bwd_dkdv(const T* __restrict__ Q, const T* __restrict__ K, const T* __restrict__ V,
                  const T* __restrict__ dO, const float* __restrict__ Lse, const float* __restrict__ Dlt,
                  T* __restrict__ dK, T* __restrict__ dV, int Tq, int S, int window, float scale,
                  long long bh0) {
    __shared__ __align__(16) float sK[BM][HD];
    __shared__ __align__(16) float sV[BM][HD];
    __shared__ __align__(16) float sQ[TN][KS];
    __shared__ __align__(16) float sG[TN][KS];
    __shared__ float sL[TN], sD[TN];
    __shared__ float sP[NW][R][TN], sS[NW][R][TN];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const long long bh = bh0 + blockIdx.y;
    const int k0 = (int)blockIdx.x * BM;  /* the first keys are seen by the most queries: first */
    const int off = S - Tq;
    const T* Qb = Q + bh * (long long)Tq * HD;
    const T* Gb = dO + bh * (long long)Tq * HD;
    const T* Kb = K + bh * (long long)S * HD;
    const T* Vb = V + bh * (long long)S * HD;
    const float* Lb = Lse + bh * (long long)Tq;
    const float* Db = Dlt + bh * (long long)Tq;
    T* dKb = dK + bh * (long long)S * HD;
    T* dVb = dV + bh * (long long)S * HD;

    for (int idx = tid; idx < BM * HD; idx += NW * 32) {
        const int r = idx / HD, d = idx - r * HD, kj = k0 + r;
        const bool in = kj < S;
        sK[r][d] = in ? ldT(Kb, (long long)kj * HD + d) : 0.0f;
        sV[r][d] = in ? ldT(Vb, (long long)kj * HD + d) : 0.0f;
    }
    float ak[R][NPL], av[R][NPL];
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
        for (int e = 0; e < NPL; ++e) { ak[r][e] = 0.0f; av[r][e] = 0.0f; }
    }
    /* queries that see at least one key of [k0, klast]: qpos >= k0, and qpos < klast + window */
    const int klast = min(k0 + BM, S) - 1;
    const int imin = max(0, k0 - off);
    const int imax = (window > 0) ? min(Tq - 1, klast + window - 1 - off) : Tq - 1;
    for (int i0 = (imin / TN) * TN; i0 <= imax; i0 += TN) {
        __syncthreads();  /* previous tile consumed; orders the sK/sV fill on the first pass */
        for (int idx = tid; idx < TN * HD; idx += NW * 32) {
            const int j = idx / HD, d = idx - j * HD, qi = i0 + j;
            const bool in = qi < Tq;
            sQ[j][d] = in ? ldT(Qb, (long long)qi * HD + d) : 0.0f;
            sG[j][d] = in ? ldT(Gb, (long long)qi * HD + d) : 0.0f;
        }
        if (tid < TN) {
            const int qi = i0 + tid;
            sL[tid] = (qi < Tq) ? Lb[qi] : 0.0f;
            sD[tid] = (qi < Tq) ? Db[qi] : 0.0f;
        }
        __syncthreads();
        float s[R], dp[R];
#pragma unroll
        for (int r = 0; r < R; ++r) { s[r] = 0.0f; dp[r] = 0.0f; }
#pragma unroll
        for (int d = 0; d < HD; d += 4) {
            const float4 qq = *reinterpret_cast<const float4*>(&sQ[lane][d]);
            const float4 gg = *reinterpret_cast<const float4*>(&sG[lane][d]);
#pragma unroll
            for (int r = 0; r < R; ++r) {
                s[r] += dot4(qq, *reinterpret_cast<const float4*>(&sK[warp * R + r][d]));
                dp[r] += dot4(gg, *reinterpret_cast<const float4*>(&sV[warp * R + r][d]));
            }
        }
        const int qi = i0 + lane;
        const float Lq = sL[lane], Dq = sD[lane];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const bool ok = tg_visible(qi, k0 + warp * R + r, Tq, S, off, window);
            const float p = ok ? expf(s[r] * scale - Lq) : 0.0f;
            sP[warp][r][lane] = p;
            sS[warp][r][lane] = p * (dp[r] - Dq);
        }
        __syncwarp();
#pragma unroll 4
        for (int j = 0; j < TN; ++j) {
            float qv[NPL], gv[NPL];
#pragma unroll
            for (int e = 0; e < NPL; ++e) {
                const int d = lane + 32 * e;
                qv[e] = (d < HD) ? sQ[j][d] : 0.0f;
                gv[e] = (d < HD) ? sG[j][d] : 0.0f;
            }
#pragma unroll
            for (int r = 0; r < R; ++r) {
                const float p = sP[warp][r][j], ds = sS[warp][r][j];
#pragma unroll
                for (int e = 0; e < NPL; ++e) {
                    av[r][e] += p * gv[e];
                    ak[r][e] += ds * qv[e];
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const int kj = k0 + warp * R + r;
        if (kj < S) {
#pragma unroll
            for (int e = 0; e < NPL; ++e) {
                const int d = lane + 32 * e;
                if (d < HD) {
                    stT(dKb, (long long)kj * HD + d, ak[r][e] * scale);
                    stT(dVb, (long long)kj * HD + d, av[r][e]);
                }
            }
        }
    }
}
"""

# ---- ElementwiseKernel bodies --------------------------------------------------------------------
_GELU_FWD = (
    "T x", "T y",
    """
    const float tg_x = (float)x;
    const float tg_t = tanhf(0.7978845608028654f * (tg_x + 0.044715f * tg_x * tg_x * tg_x));
    y = (T)(0.5f * tg_x * (1.0f + tg_t));
    """,
)
_GELU_BWD = (
    "T x, T g", "T dx",
    """
    const float tg_x = (float)x;
    const float tg_t = tanhf(0.7978845608028654f * (tg_x + 0.044715f * tg_x * tg_x * tg_x));
    const float tg_dinner = 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * tg_x * tg_x);
    dx = (T)((float)g * (0.5f * (1.0f + tg_t) + 0.5f * tg_x * (1.0f - tg_t * tg_t) * tg_dinner));
    """,
)
# AdamW exactly as nn.optim.AdamW's array ops, one rounding per op (the _rn intrinsics keep the
# compiler from contracting a*b+c into an FMA, which NumPy/CuPy's one-op-per-kernel path never does).
_ADAMW_SCALARS = ("float32 decay_mul, float32 b1, float32 omb1, float32 b2, float32 omb2, "
                  "float32 sqrt_bc2, float32 eps, float32 step_size")
_ADAMW_UPDATE = """
    const float tg_p = __fmul_rn(p, tg_d);
    const float tg_m = __fadd_rn(__fmul_rn(m, b1), __fmul_rn(omb1, g));
    const float tg_v = __fadd_rn(__fmul_rn(v, b2), __fmul_rn(__fmul_rn(omb2, g), g));
    const float tg_denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(tg_v), sqrt_bc2), eps);
    p = __fsub_rn(tg_p, __fdiv_rn(__fmul_rn(step_size, tg_m), tg_denom));
    m = tg_m;
    v = tg_v;
"""
_ADAMW_MASK = (
    "float32 g, bool decay, " + _ADAMW_SCALARS, "float32 p, float32 m, float32 v",
    "const float tg_d = decay ? decay_mul : 1.0f;" + _ADAMW_UPDATE,
)
_ADAMW_RANGE = (
    "float32 g, " + _ADAMW_SCALARS + ", int64 d0, int64 d1", "float32 p, float32 m, float32 v",
    "const float tg_d = (i >= d0 && i < d1) ? decay_mul : 1.0f;" + _ADAMW_UPDATE,
)
_ELEMENTWISE = {"tg_gelu_fwd": _GELU_FWD, "tg_gelu_bwd": _GELU_BWD,
                "tg_adamw_mask": _ADAMW_MASK, "tg_adamw_range": _ADAMW_RANGE}


def flash_config(head_dim: int) -> dict[str, int]:
    """Compile-time shape of the flash kernels for a head dim: HD, R rows per warp, NW warps.

    Rows per block is NW·R (16 for head dims up to 64, else 8); tiles are 32 keys (or queries).
    Shared memory stays under the 48 KiB static limit for every head dim up to 128.

    >>> flash_config(64)
    {'HD': 64, 'R': 4, 'NW': 4}
    """
    return {"HD": int(head_dim), "R": 4 if head_dim <= 64 else 2, "NW": 4}


def _source(body: str, half: bool, defines: tuple = ()) -> str:
    head = f"#define TG_HALF {1 if half else 0}\n" + "".join(f"#define {k} {v}\n" for k, v in defines)
    return head + _COMMON + body


@functools.cache
def _raw_kernel(name: str, half: bool, defines: tuple = ()):
    body = _FLASH if name.startswith("tg_flash") else _ROW_KERNELS
    return _cupy().RawKernel(_source(body, half, defines), name)


@functools.cache
def _elementwise(name: str):
    in_params, out_params, body = _ELEMENTWISE[name]
    return _cupy().ElementwiseKernel(in_params, out_params, body, name)


def _row_block(c: int) -> int:
    """Threads per row: about four elements each, a multiple of 32, between 32 and 1024."""
    return int(min(1024, max(32, ((c + 3) // 4 + 31) // 32 * 32)))


def _float_kind(arr, what: str) -> bool:
    """True for float16, False for float32; raise for anything else."""
    if arr.dtype == np.float16:
        return True
    if arr.dtype == np.float32:
        return False
    raise TypeError(f"{what}: the CUDA kernels take float32 or float16, got {arr.dtype}")


def _rows(x):
    """A C-contiguous (N, C) view (or copy) of ``x`` (…, C) and the original shape."""
    cp = _cupy()
    x = cp.ascontiguousarray(x)
    c = x.shape[-1] if x.ndim else 1
    return x.reshape(-1, c), x.shape


# =================================================================================================
# softmax
# =================================================================================================
def softmax(x):
    """Softmax over the LAST axis of a float32/float16 CuPy array, one block per row.

    Equals ``engine.ops.fused.Softmax`` with ``axis=-1``; the result has ``x``'s shape and dtype.
    """
    cp = _cupy()
    half = _float_kind(x, "softmax")
    x2, shape = _rows(x)
    y = cp.empty_like(x2)
    n, c = x2.shape
    if n and c:
        _raw_kernel("tg_softmax_fwd", half)((n,), (_row_block(c),), (x2, y, np.int64(c)))
    return y.reshape(shape)


def softmax_backward(y, g):
    """Gradient of softmax over the last axis: ``y * (g - sum(g * y, -1))`` from the output ``y``."""
    cp = _cupy()
    half = _float_kind(y, "softmax_backward")
    y2, shape = _rows(y)
    g2, _ = _rows(g.astype(y.dtype, copy=False))
    dx = cp.empty_like(y2)
    n, c = y2.shape
    if n and c:
        _raw_kernel("tg_softmax_bwd", half)((n,), (_row_block(c),), (y2, g2, dx, np.int64(c)))
    return dx.reshape(shape)


def softmax_reference(x, axis: int = -1):
    """NumPy softmax, the same arithmetic as engine.ops.fused.Softmax."""
    y = x - x.max(axis=axis, keepdims=True)
    y = np.exp(y)
    return y / y.sum(axis=axis, keepdims=True)


def softmax_backward_reference(y, g, axis: int = -1):
    """NumPy softmax backward from the output ``y``."""
    return y * (g - (g * y).sum(axis=axis, keepdims=True))


# =================================================================================================
# layer norm
# =================================================================================================
def layer_norm(x, weight=None, bias=None, eps: float = 1e-5):
    """LayerNorm over the last axis -> ``(y, mean, rstd)``; mean and rstd are float32 of shape
    ``x.shape[:-1]``. ``weight``/``bias`` (C,) may be None. One block per row, three passes over
    the row (sum, centered sum of squares, write), as engine.ops.fused.LayerNorm computes them.
    """
    cp = _cupy()
    half = _float_kind(x, "layer_norm")
    x2, shape = _rows(x)
    n, c = x2.shape
    w = x2 if weight is None else cp.ascontiguousarray(weight.astype(x.dtype, copy=False))
    b = x2 if bias is None else cp.ascontiguousarray(bias.astype(x.dtype, copy=False))
    y = cp.empty_like(x2)
    mean = cp.empty(n, dtype=cp.float32)
    rstd = cp.empty(n, dtype=cp.float32)
    if n and c:
        _raw_kernel("tg_layernorm_fwd", half)(
            (n,), (_row_block(c),),
            (x2, w, b, y, mean, rstd, np.int64(c), np.float32(eps),
             np.int32(weight is not None), np.int32(bias is not None)),
        )
    return y.reshape(shape), mean.reshape(shape[:-1]), rstd.reshape(shape[:-1])


def layer_norm_backward(x, weight, mean, rstd, g, need_dx: bool = True, need_dw: bool = True,
                        need_db: bool = True):
    """``(dx, dw, db)`` of LayerNorm from the INPUT ``x`` and the saved float32 ``mean``/``rstd``.

    ``weight`` may be None (then dw is None). Entries not needed are None. dx: one block per row;
    dw, db: float32 column partial sums over chunks of 64 rows, summed by CuPy, cast to x's dtype.
    """
    cp = _cupy()
    half = _float_kind(x, "layer_norm_backward")
    x2, shape = _rows(x)
    g2, _ = _rows(g.astype(x.dtype, copy=False))
    n, c = x2.shape
    mean = cp.ascontiguousarray(mean.astype(cp.float32, copy=False)).reshape(-1)
    rstd = cp.ascontiguousarray(rstd.astype(cp.float32, copy=False)).reshape(-1)
    dx = dw = db = None
    if need_dx:
        w = x2 if weight is None else cp.ascontiguousarray(weight.astype(x.dtype, copy=False))
        dx = cp.empty_like(x2)
        if n and c:
            _raw_kernel("tg_layernorm_bwd_dx", half)(
                (n,), (_row_block(c),),
                (x2, w, mean, rstd, g2, dx, np.int64(c), np.int32(weight is not None)),
            )
        dx = dx.reshape(shape)
    if (need_dw and weight is not None) or need_db:
        rows_per_chunk = max(64, -(-n // _MAX_GRID_Y))
        chunks = max(1, -(-n // rows_per_chunk))
        pw = cp.zeros((chunks, c), dtype=cp.float32)
        pb = cp.zeros((chunks, c), dtype=cp.float32)
        if n and c:
            _raw_kernel("tg_layernorm_bwd_dwdb", half)(
                (-(-c // 256), chunks), (256,),
                (x2, mean, rstd, g2, pw, pb, np.int64(n), np.int64(c), np.int64(rows_per_chunk)),
            )
        if need_dw and weight is not None:
            dw = pw.sum(axis=0).astype(weight.dtype)
        if need_db:
            db = pb.sum(axis=0).astype(x.dtype)
    return dx, dw, db


def layer_norm_reference(x, weight=None, bias=None, eps: float = 1e-5):
    """NumPy LayerNorm -> ``(y, mean, rstd)`` (mean and rstd without the kept last axis)."""
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=-1, keepdims=True)
    rstd = 1 / np.sqrt(var + eps)
    y = xc * rstd
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y, mean[..., 0], rstd[..., 0]


def layer_norm_backward_reference(x, weight, mean, rstd, g):
    """NumPy LayerNorm backward from the input -> ``(dx, dw or None, db)``."""
    c = x.shape[-1]
    mean, rstd = mean[..., None], rstd[..., None]
    xhat = (x - mean) * rstd
    lead = tuple(range(g.ndim - 1))
    gxhat = g * weight if weight is not None else g
    dx = (gxhat - gxhat.sum(axis=-1, keepdims=True) / c - xhat * ((gxhat * xhat).sum(axis=-1, keepdims=True) / c))
    dx = dx * rstd
    dw = (g * xhat).sum(axis=lead) if weight is not None else None
    return dx, dw, g.sum(axis=lead)


# =================================================================================================
# GELU (tanh approximation)
# =================================================================================================
def gelu(x):
    """GPT-2's GELU, ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``, float32 math (ElementwiseKernel)."""
    _float_kind(x, "gelu")
    return _elementwise("tg_gelu_fwd")(x)


def gelu_backward(x, g):
    """Gradient of the tanh GELU at ``x`` times ``g`` (recomputes tanh; saves nothing but ``x``)."""
    _float_kind(x, "gelu_backward")
    return _elementwise("tg_gelu_bwd")(x, g.astype(x.dtype, copy=False))


def gelu_reference(x):
    """NumPy tanh GELU, as engine.ops.elementwise.Gelu."""
    t = np.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
    return 0.5 * x * (1 + t)


def gelu_backward_reference(x, g):
    """NumPy tanh GELU backward, as engine.ops.elementwise.Gelu."""
    t = np.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
    dinner = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dinner)


# =================================================================================================
# cross-entropy
# =================================================================================================
def _check_targets(t, n_class: int, ignore_index: int, xp) -> None:
    """Raise ValueError like engine.ops.fused.check_ids for a non-ignored target outside [0, n_class)."""
    bad = (t != ignore_index) & ((t < 0) | (t >= n_class))
    if bool(bad.any()):
        vals = t[bad]
        lo, hi = int(vals.min()), int(vals.max())
        raise ValueError(f"target id {lo if lo < 0 else hi} is out of range [0, {n_class})")


def cross_entropy(logits2d, targets, ignore_index: int = -100, check: bool = True):
    """Per-row softmax cross-entropy of (N, V) logits -> ``(loss_rows, lse)``, both float32 (N,).

    One block per row reads the row once (online max and sum of exponentials); ``loss_rows`` is
    ``lse - logits[row, target]`` and 0 where ``target == ignore_index``. No (N, V) array is
    allocated. ``check`` raises ValueError for a target outside [0, V) (one device sync).
    Reduce with :func:`cross_entropy_reduce`.
    """
    cp = _cupy()
    half = _float_kind(logits2d, "cross_entropy")
    if logits2d.ndim != 2:
        raise ValueError(f"cross_entropy kernel takes (N, V) logits, got shape {logits2d.shape}")
    x = cp.ascontiguousarray(logits2d)
    n, v = x.shape
    t = cp.ascontiguousarray(targets.reshape(-1).astype(cp.int64, copy=False))
    if t.shape[0] != n:
        raise ValueError(f"cross_entropy: {t.shape[0]} targets for {n} rows")
    if check:
        _check_targets(t, v, ignore_index, cp)
    loss = cp.zeros(n, dtype=cp.float32)
    lse = cp.zeros(n, dtype=cp.float32)
    if n and v:
        _raw_kernel("tg_ce_fwd", half)((n,), (_row_block(v),),
                                       (x, t, loss, lse, np.int64(v), np.int64(ignore_index)))
    return loss, lse


def cross_entropy_backward(logits2d, lse, targets, scale_rows, ignore_index: int = -100, out=None):
    """``(softmax(logits) - onehot(target)) * scale_rows[:, None]`` as ONE (N, V) array of logits' dtype.

    Rows whose target is ``ignore_index`` are zero. ``out`` may be a preallocated (N, V) buffer or
    ``logits2d`` itself (in place: each element is read before it is written by the same thread).
    """
    cp = _cupy()
    half = _float_kind(logits2d, "cross_entropy_backward")
    x = cp.ascontiguousarray(logits2d)
    n, v = x.shape
    if out is None:
        out = cp.empty_like(x)
    elif out.shape != x.shape or out.dtype != x.dtype or not out.flags.c_contiguous:
        raise ValueError("cross_entropy_backward: out must be a C-contiguous array of the logits' shape and dtype")
    t = cp.ascontiguousarray(targets.reshape(-1).astype(cp.int64, copy=False))
    lse = cp.ascontiguousarray(lse.astype(cp.float32, copy=False)).reshape(-1)
    scale = cp.ascontiguousarray(cp.asarray(scale_rows, dtype=cp.float32)).reshape(-1)
    if n and v:
        _raw_kernel("tg_ce_bwd", half)((n,), (_row_block(v),),
                                       (x, lse, t, scale, out, np.int64(v), np.int64(ignore_index)))
    return out


def cross_entropy_row_scale(g, targets, ignore_index: int, reduction: str, n_valid: int | None = None, xp=None):
    """The per-row factor of the CE gradient for an upstream gradient ``g``, as
    engine.ops.fused.CrossEntropy.backward: ``g_row`` ("none"), ``g`` ("sum"),
    ``g / max(n_valid, 1)`` ("mean"), times 0 on ignored rows. float32 (N,). Works on NumPy or CuPy.
    """
    if xp is None:
        from engine.backend import array_module

        xp = array_module(targets)
    valid = (targets.reshape(-1) != ignore_index).astype(np.float32)
    if reduction == "none":
        scale = xp.asarray(g, dtype=np.float32).reshape(-1) * valid
    elif reduction == "sum":
        scale = xp.asarray(g, dtype=np.float32) * valid
    elif reduction == "mean":
        if n_valid is None:
            n_valid = int(valid.sum())
        scale = (xp.asarray(g, dtype=np.float32) / np.float32(max(n_valid, 1))) * valid
    else:
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return scale.astype(np.float32)


def cross_entropy_reduce(loss_rows, targets, ignore_index: int, reduction: str, dtype=None, xp=None):
    """Reduce per-row losses like engine.ops.fused.CrossEntropy -> ``(loss, n_valid)``.

    "none": the rows in ``targets``' shape; "sum": their sum; "mean": the sum over the number of
    non-ignored rows (NaN when there is none). Summed in float32, cast to ``dtype`` (the logits').
    ``n_valid`` is None except for "mean".
    """
    if xp is None:
        from engine.backend import array_module

        xp = array_module(loss_rows)
    dtype = np.dtype(dtype or loss_rows.dtype)
    if reduction == "none":
        return loss_rows.reshape(targets.shape).astype(dtype), None
    total = loss_rows.sum()
    if reduction == "sum":
        return total.astype(dtype), None
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    n_valid = int((targets != ignore_index).sum())
    if n_valid:
        return (total / np.float32(n_valid)).astype(dtype), n_valid
    return (total * np.float32("nan")).astype(dtype), n_valid


def cross_entropy_reference(logits2d, targets, ignore_index: int = -100):
    """NumPy per-row CE -> ``(loss_rows, lse)``; 0 loss on ignored rows."""
    t = targets.reshape(-1)
    valid = t != ignore_index
    m = logits2d.max(axis=1, keepdims=True)
    lse = np.log(np.exp(logits2d - m).sum(axis=1)) + m[:, 0]
    picked = logits2d[np.arange(len(t)), np.where(valid, t, 0)]
    return np.where(valid, lse - picked, 0).astype(logits2d.dtype), lse


def cross_entropy_backward_reference(logits2d, lse, targets, scale_rows, ignore_index: int = -100):
    """NumPy ``(softmax - onehot) * scale_rows``, zero on ignored rows."""
    t = targets.reshape(-1)
    valid = t != ignore_index
    grad = np.exp(logits2d - lse[:, None])
    rows = np.arange(len(t))
    grad[rows[valid], t[valid]] -= 1
    return grad * (np.where(valid, scale_rows, 0)[:, None]).astype(grad.dtype)


# =================================================================================================
# AdamW over flat buffers
# =================================================================================================
def adamw_constants(step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float) -> dict:
    """The float32 scalars of one AdamW step, rounded from float64 exactly as NumPy/CuPy round the
    Python floats of nn.optim.AdamW's array expressions (NEP 50: a Python float meets a float32
    array as float32)."""
    if step < 1:
        raise ValueError(f"AdamW step counts from 1, got {step}")
    f = np.float32
    return {
        "decay_mul": f(1 - lr * weight_decay), "b1": f(beta1), "omb1": f(1 - beta1), "b2": f(beta2),
        "omb2": f(1 - beta2), "sqrt_bc2": f(math.sqrt(1 - beta2**step)), "eps": f(eps),
        "step_size": f(lr / (1 - beta1**step)),
    }


def _decay_flags(n: int, decay_mask, decay_range, weight_decay: float, xp):
    if decay_mask is not None and decay_range is not None:
        raise ValueError("give decay_mask or decay_range, not both")
    if decay_mask is not None:
        return decay_mask.reshape(-1).astype(bool)
    lo, hi = decay_range if decay_range is not None else (0, n if weight_decay else 0)
    return (xp.arange(n) >= lo) & (xp.arange(n) < hi)


def adamw_flat(param, grad, exp_avg, exp_avg_sq, step: int, lr: float, betas=(0.9, 0.999), eps: float = 1e-8,
               weight_decay: float = 0.0, decay_mask=None, decay_range: tuple[int, int] | None = None) -> None:
    """One AdamW step IN PLACE on flat, contiguous float32 CuPy buffers (param, exp_avg, exp_avg_sq),
    one ElementwiseKernel for the whole model.

    Math, in nn.optim.AdamW's order with one float32 rounding per operation (bit-for-bit equal to it):
    ``p *= 1 - lr*wd`` (only where decay applies), ``m = b1*m + (1-b1)*g``,
    ``v = b2*v + (1-b2)*g*g``, ``p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)``.
    Decay applies where ``decay_mask`` (bool, one per element) is True, or on the contiguous
    ``decay_range=(start, stop)``; with neither, everywhere when ``weight_decay`` is non-zero.
    ``step`` is the 1-based step count after incrementing, like nn.optim's ``state["step"]``.
    One lr for every element: parameter groups with different lr need one call each.
    """
    cp = _cupy()
    n = param.size
    for name, a in (("param", param), ("grad", grad), ("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)):
        if a.dtype != np.float32 or a.ndim != 1 or a.size != n or not a.flags.c_contiguous:
            raise ValueError(f"adamw_flat: {name} must be a flat contiguous float32 array of {n} elements, "
                             f"got {a.dtype} {a.shape}")
    c = adamw_constants(step, lr, betas[0], betas[1], eps, weight_decay)
    scalars = (c["decay_mul"], c["b1"], c["omb1"], c["b2"], c["omb2"], c["sqrt_bc2"], c["eps"], c["step_size"])
    if decay_mask is not None:
        if decay_range is not None:
            raise ValueError("give decay_mask or decay_range, not both")
        mask = cp.ascontiguousarray(decay_mask.reshape(-1).astype(cp.bool_, copy=False))
        if mask.size != n:
            raise ValueError(f"adamw_flat: decay_mask has {mask.size} elements, expected {n}")
        _elementwise("tg_adamw_mask")(grad, mask, *scalars, param, exp_avg, exp_avg_sq)
    else:
        lo, hi = decay_range if decay_range is not None else (0, n if weight_decay else 0)
        _elementwise("tg_adamw_range")(grad, *scalars, np.int64(lo), np.int64(hi), param, exp_avg, exp_avg_sq)


def adamw_flat_reference(param, grad, exp_avg, exp_avg_sq, step: int, lr: float, betas=(0.9, 0.999),
                         eps: float = 1e-8, weight_decay: float = 0.0, decay_mask=None,
                         decay_range: tuple[int, int] | None = None) -> None:
    """NumPy twin of :func:`adamw_flat` (in place), written with nn.optim.AdamW's array ops."""
    c = adamw_constants(step, lr, betas[0], betas[1], eps, weight_decay)
    decay = _decay_flags(param.size, decay_mask, decay_range, weight_decay, np)
    param *= np.where(decay, c["decay_mul"], np.float32(1))
    exp_avg *= c["b1"]
    exp_avg += c["omb1"] * grad
    exp_avg_sq *= c["b2"]
    exp_avg_sq += c["omb2"] * grad * grad
    denom = np.sqrt(exp_avg_sq)
    denom /= c["sqrt_bc2"]
    denom += c["eps"]
    param -= c["step_size"] * exp_avg / denom


# =================================================================================================
# flash attention
# =================================================================================================
def flash_supported(q, k, v, dropout_p: float = 0.0, mask=None, causal: bool = True) -> bool:
    """Whether :func:`flash_attention` handles this call: causal, no extra mask, no dropout,
    float32/float16 q, k, v of one dtype, head dim a multiple of 4 up to 128, equal q/k/v head
    dims, and no more queries than keys. Otherwise use the composed path."""
    if not causal or mask is not None or dropout_p > 0:
        return False
    if not (q.dtype == k.dtype == v.dtype) or q.dtype not in (np.float32, np.float16):
        return False
    d = q.shape[-1]
    if q.ndim < 2 or k.shape[-1] != d or v.shape[-1] != d or d % 4 or d > MAX_HEAD_DIM or d < 4:
        return False
    if q.shape[:-2] != k.shape[:-2] or k.shape[:-1] != v.shape[:-1]:
        return False
    return q.shape[-2] <= k.shape[-2]


def _flash_args(q, k, v, window, scale):
    if not flash_supported(q, k, v):
        raise ValueError(f"flash_attention does not support q {q.shape} {q.dtype}, k {k.shape} {k.dtype}, "
                         f"v {v.shape} {v.dtype} (see flash_supported)")
    if window is not None and window < 1:
        raise ValueError(f"attention window must be >= 1, got {window}")
    d = q.shape[-1]
    scale = 1 / math.sqrt(d) if scale is None else scale
    return d, int(window or 0), np.float32(scale)


def _launch_bh(kernel, grid_x: int, bh: int, block: int, args: tuple) -> None:
    """Launch over (grid_x, bh) blocks, splitting bh into chunks of at most 65535 (grid.y's limit)."""
    for bh0 in range(0, bh, _MAX_GRID_Y):
        kernel((grid_x, min(_MAX_GRID_Y, bh - bh0)), (block,), args + (np.int64(bh0),))


def flash_attention(q, k, v, window: int | None = None, scale: float | None = None):
    """Causal attention ``softmax(q kᵀ·scale, masked) v`` without materializing (T, S) -> ``(out, lse)``.

    q (…, T, D), k and v (…, S, D) float32 or float16 CuPy arrays (copied to contiguous if they
    are not), T <= S: queries are the LAST T of the S positions, so query i sees key j iff
    ``j <= i + S - T`` and, with ``window``, ``j > i + S - T - window`` (engine.functional's mask).
    ``lse`` is the float32 (…, T) log-sum-exp of the scaled, masked scores, for the backward.
    Tiled online softmax (FlashAttention-2 style, CUDA cores, float32 math); memory O(T·D).
    """
    cp = _cupy()
    d, window, scale = _flash_args(q, k, v, window, scale)
    half = q.dtype == np.float16
    *lead, t, _ = q.shape
    s = k.shape[-2]
    bh = int(np.prod(lead)) if lead else 1
    qc = cp.ascontiguousarray(q).reshape(bh, t, d)
    kc = cp.ascontiguousarray(k).reshape(bh, s, d)
    vc = cp.ascontiguousarray(v).reshape(bh, s, d)
    out = cp.empty_like(qc)
    lse = cp.empty((bh, t), dtype=cp.float32)
    cfg = flash_config(d)
    bm = cfg["NW"] * cfg["R"]
    if bh and t:
        kern = _raw_kernel("tg_flash_fwd", half, tuple(cfg.items()))
        _launch_bh(kern, -(-t // bm), bh, cfg["NW"] * 32,
                   (qc, kc, vc, out, lse, np.int32(t), np.int32(s), np.int32(window), scale))
    return out.reshape(q.shape), lse.reshape(*lead, t)


def flash_attention_backward(q, k, v, out, lse, g, window: int | None = None, scale: float | None = None):
    """``(dq, dk, dv)`` of :func:`flash_attention` for the upstream gradient ``g`` (…, T, D).

    P is recomputed tile by tile from q, k and the saved ``lse``; ``delta = rowsum(g * out)``
    is the only extra (…, T) array. Two kernels, no atomics: a query-parallel one for dq and a
    key-parallel one for dk, dv.
    """
    cp = _cupy()
    d, window, scale = _flash_args(q, k, v, window, scale)
    half = q.dtype == np.float16
    *lead, t, _ = q.shape
    s = k.shape[-2]
    bh = int(np.prod(lead)) if lead else 1
    qc = cp.ascontiguousarray(q).reshape(bh, t, d)
    kc = cp.ascontiguousarray(k).reshape(bh, s, d)
    vc = cp.ascontiguousarray(v).reshape(bh, s, d)
    gc = cp.ascontiguousarray(g.astype(q.dtype, copy=False)).reshape(bh, t, d)
    oc = cp.ascontiguousarray(out).reshape(bh, t, d)
    lsec = cp.ascontiguousarray(lse.astype(cp.float32, copy=False)).reshape(bh, t)
    delta = cp.ascontiguousarray((gc.astype(cp.float32, copy=False) * oc.astype(cp.float32, copy=False)).sum(axis=-1))
    dq = cp.empty_like(qc)
    dk = cp.empty_like(kc)
    dv = cp.empty_like(vc)
    cfg = flash_config(d)
    bm = cfg["NW"] * cfg["R"]
    defines = tuple(cfg.items())
    if bh and t:
        common = (qc, kc, vc, gc, lsec, delta)
        tail = (np.int32(t), np.int32(s), np.int32(window), scale)
        _launch_bh(_raw_kernel("tg_flash_bwd_dq", half, defines), -(-t // bm), bh, cfg["NW"] * 32,
                   common + (dq,) + tail)
        _launch_bh(_raw_kernel("tg_flash_bwd_dkdv", half, defines), -(-s // bm), bh, cfg["NW"] * 32,
                   common + (dk, dv) + tail)
    else:
        dk[...] = 0
        dv[...] = 0
    return dq.reshape(q.shape), dk.reshape(k.shape), dv.reshape(v.shape)


def _flat_heads(a):
    *lead, n, d = a.shape
    return a.reshape(-1, n, d), lead


def _visible(rows, keys, off: int, window: int | None):
    """(len(rows), len(keys)) bool: query row i sees key j (queries are the last rows of the keys)."""
    qpos = rows[:, None] + off
    ok = keys[None, :] <= qpos
    if window:
        ok &= keys[None, :] > qpos - window
    return ok


def flash_attention_reference(q, k, v, window: int | None = None, scale: float | None = None,
                              block_m: int | None = None, block_n: int = 32):
    """NumPy FlashAttention forward, tile by tile exactly as the ``tg_flash_fwd`` kernel walks it:
    query blocks of ``block_m`` rows (the kernel's NW·R), key tiles of ``block_n`` (32) starting
    at the tile holding the block's first visible key, online softmax with the same guards for
    fully masked tiles. Returns ``(out, lse)``; computes in q's dtype (float64 stays float64)."""
    d = q.shape[-1]
    scale = 1 / math.sqrt(d) if scale is None else scale
    block_m = block_m or flash_config(d)["NW"] * flash_config(d)["R"]
    qf, lead = _flat_heads(q)
    kf, _ = _flat_heads(k)
    vf, _ = _flat_heads(v)
    bh, t, _ = qf.shape
    s = kf.shape[1]
    off = s - t
    if t > s:
        raise ValueError(f"flash attention needs T <= S, got T={t}, S={s}")
    out = np.zeros_like(qf)
    lse = np.zeros((bh, t), dtype=qf.dtype)
    neg_inf = -np.inf
    for q0 in range(0, t, block_m):
        rows = np.arange(q0, min(q0 + block_m, t))
        kmax = rows[-1] + off
        kmin = max(0, q0 + off - window + 1) if window else 0
        m = np.full((bh, len(rows)), neg_inf, dtype=qf.dtype)
        l = np.zeros((bh, len(rows)), dtype=qf.dtype)
        acc = np.zeros((bh, len(rows), d), dtype=qf.dtype)
        for k0 in range((kmin // block_n) * block_n, kmax + 1, block_n):
            keys = np.arange(k0, min(k0 + block_n, s))
            ok = _visible(rows, keys, off, window)[None]
            sc = np.where(ok, (qf[:, rows] @ kf[:, keys].transpose(0, 2, 1)) * scale, neg_inf)
            mnew = np.maximum(m, sc.max(axis=-1))
            live = mnew != neg_inf
            base = np.where(live, mnew, 0)
            alpha = np.where(live, np.exp(m - base), 1)
            p = np.where(ok & live[..., None], np.exp(sc - base[..., None]), 0)
            l = l * alpha + p.sum(axis=-1)
            acc = acc * alpha[..., None] + p @ vf[:, keys]
            m = np.where(live, mnew, m)
        out[:, rows] = acc / l[..., None]
        lse[:, rows] = m + np.log(l)
    return out.reshape(q.shape), lse.reshape(*lead, t)


def flash_attention_backward_reference(q, k, v, out, lse, g, window: int | None = None, scale: float | None = None,
                                       block_m: int | None = None, block_n: int = 32):
    """NumPy FlashAttention backward, walking the tiles as the two CUDA kernels do: dq over query
    blocks x key tiles, dk/dv over key blocks x query tiles (with their query range), P recomputed
    from q, k and ``lse``. Returns ``(dq, dk, dv)``."""
    d = q.shape[-1]
    scale = 1 / math.sqrt(d) if scale is None else scale
    block_m = block_m or flash_config(d)["NW"] * flash_config(d)["R"]
    qf, _ = _flat_heads(q)
    kf, _ = _flat_heads(k)
    vf, _ = _flat_heads(v)
    gf, _ = _flat_heads(g)
    of, _ = _flat_heads(out)
    lf = lse.reshape(qf.shape[0], qf.shape[1])
    bh, t, _ = qf.shape
    s = kf.shape[1]
    off = s - t
    delta = (gf * of).sum(axis=-1)
    dq, dk, dv = np.zeros_like(qf), np.zeros_like(kf), np.zeros_like(vf)

    def tile(rows, keys):
        ok = _visible(rows, keys, off, window)[None]
        sc = (qf[:, rows] @ kf[:, keys].transpose(0, 2, 1)) * scale
        p = np.where(ok, np.exp(np.where(ok, sc, 0) - lf[:, rows, None]), 0)
        dp = gf[:, rows] @ vf[:, keys].transpose(0, 2, 1)
        return p, p * (dp - delta[:, rows, None])

    for q0 in range(0, t, block_m):  # tg_flash_bwd_dq
        rows = np.arange(q0, min(q0 + block_m, t))
        kmax = rows[-1] + off
        kmin = max(0, q0 + off - window + 1) if window else 0
        for k0 in range((kmin // block_n) * block_n, kmax + 1, block_n):
            keys = np.arange(k0, min(k0 + block_n, s))
            _, ds = tile(rows, keys)
            dq[:, rows] += ds @ kf[:, keys]
    for k0 in range(0, s, block_m):  # tg_flash_bwd_dkdv
        keys = np.arange(k0, min(k0 + block_m, s))
        imin = max(0, k0 - off)
        imax = min(t - 1, keys[-1] + window - 1 - off) if window else t - 1
        for i0 in range((imin // block_n) * block_n, imax + 1, block_n):
            rows = np.arange(i0, min(i0 + block_n, t))
            p, ds = tile(rows, keys)
            dv[:, keys] += p.transpose(0, 2, 1) @ gf[:, rows]
            dk[:, keys] += ds.transpose(0, 2, 1) @ qf[:, rows]
    return (dq * scale).reshape(q.shape), (dk * scale).reshape(k.shape), dv.reshape(v.shape)


# =================================================================================================
# compile check without a GPU
# =================================================================================================
_C_TYPES = {"float32": "float", "float16": "float", "bool": "bool", "int64": "long long", "int32": "int", "T": "float"}


def _elementwise_check_source(name: str, in_params: str, out_params: str, body: str) -> str:
    """A standalone kernel wrapping an ElementwiseKernel body (T = float, i = 0) so NVRTC can check it."""
    decls = []
    for spec in (in_params + ", " + out_params).split(","):
        typ, var = spec.split()
        decls.append(f"{_C_TYPES[typ]} {var} = ({_C_TYPES[typ]})_seed[0];")
    outs = [spec.split()[1] for spec in out_params.split(",")]
    return ("typedef float T;\n"
            f'extern "C" __global__ void {name}(const float* _seed, float* _out) {{\n'
            "    long long i = threadIdx.x;\n    " + "\n    ".join(decls) + "\n    {" + body + "}\n"
            + "".join(f"    _out[{j}] = (float){o};\n" for j, o in enumerate(outs)) + "}\n")


def _nvrtc_compile_all(arch: str = "compute_90", head_dims=(4, 8, 16, 32, 64, 96, 128)) -> list[str]:
    """Compile every kernel source (both dtypes, several head dims) with NVRTC; needs CuPy's NVRTC
    bindings but no GPU. Returns a list of 'name: log' failures (empty when all compile)."""
    from cupy.cuda import nvrtc

    sources: list[tuple[str, str]] = []
    for half in (False, True):
        sources.append((f"rows half={half}", _source(_ROW_KERNELS, half)))
        for hd in head_dims:
            cfg = flash_config(hd)
            sources.append((f"flash HD={hd} half={half}", _source(_FLASH, half, tuple(cfg.items()))))
    for name, (ins, outs, body) in _ELEMENTWISE.items():
        sources.append((name, _elementwise_check_source(name, ins, outs, body)))
    failures = []
    for label, src in sources:
        prog = nvrtc.createProgram(src, "tg_check.cu", [], [])
        try:
            nvrtc.compileProgram(prog, [f"-arch={arch}"])
        except Exception as e:  # NVRTCError carries the status; the log says why
            failures.append(f"{label}: {e}\n{nvrtc.getProgramLog(prog)}")
        finally:
            nvrtc.destroyProgram(prog)
    return failures


def _main(argv: Any = None) -> int:
    """``python -m engine.cuda``: compile-check every kernel with NVRTC (no GPU needed)."""
    failures = _nvrtc_compile_all()
    for f in failures:
        print(f)
    print("all kernels compile" if not failures else f"{len(failures)} kernel sources failed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(_main())
