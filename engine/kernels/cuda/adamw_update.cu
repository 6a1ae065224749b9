
    const float tg_p = __fmul_rn(p, tg_d);
    const float tg_m = __fadd_rn(__fmul_rn(m, b1), __fmul_rn(omb1, g));
    const float tg_v = __fadd_rn(__fmul_rn(v, b2), __fmul_rn(__fmul_rn(omb2, g), g));
    const float tg_denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(tg_v), sqrt_bc2), eps);
    p = __fsub_rn(tg_p, __fdiv_rn(__fmul_rn(step_size, tg_m), tg_denom));
    m = tg_m;
    v = tg_v;
