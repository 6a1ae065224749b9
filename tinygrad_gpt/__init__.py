"""GPT-2/GPT-3 models, tokenizers and data on the tinygrad_gpt engine."""

import os

# The training program's CPU setting, here because OpenBLAS reads it once, when NumPy first loads
# (engine imports NumPy): its idle threads then stop spinning after 2^16 cycles instead of ~0.1 s
# after every matmul, a core our elementwise threads need. engine.parallel.OPENBLAS_THREAD_TIMEOUT.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "16")

import engine  # noqa: E402, F401
