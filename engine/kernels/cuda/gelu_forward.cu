
    const float tg_x = (float)x;
    const float tg_t = tanhf(0.7978845608028654f * (tg_x + 0.044715f * tg_x * tg_x * tg_x));
    y = (T)(0.5f * tg_x * (1.0f + tg_t));
    