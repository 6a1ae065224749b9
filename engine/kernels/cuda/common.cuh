
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
