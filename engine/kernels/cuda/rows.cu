// Row kernels: one block per row of a contiguous (N, C) array.

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
