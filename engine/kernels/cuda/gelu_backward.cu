
    const float tg_x = (float)x;
    const float tg_t = tanhf(0.7978845608028654f * (tg_x + 0.044715f * tg_x * tg_x * tg_x));
    const float tg_dinner = 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * tg_x * tg_x);
    dx = (T)((float)g * (0.5f * (1.0f + tg_t) + 0.5f * tg_x * (1.0f - tg_t * tg_t) * tg_dinner));
    