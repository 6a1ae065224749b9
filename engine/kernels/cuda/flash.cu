// ---- flash attention -----------------------------------------------------------------------------
// Compile-time: HD head dim (multiple of 4, <= 128), R query (or key) rows per warp, NW warps.
// q (BH, Tq, HD), k and v (BH, S, HD) contiguous; query i sits at absolute position i + S - Tq and
// sees key j iff j <= i + S - Tq and (window <= 0 or j > i + S - Tq - window).
// Within a warp: for scores, lane = key (or query) of a 32-wide tile, dot products from shared
// memory with float4 loads (rows padded to KS floats, conflict-free when HD % 8 == 0); for the
// value/gradient accumulation, lane owns dims lane, lane + 32, ... (NPL of them) in registers.

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
