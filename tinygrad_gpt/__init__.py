"""GPT-2/GPT-3 models, tokenizers and data on the tinygrad_gpt engine."""

# engine first: it sets OPENBLAS_THREAD_TIMEOUT, which OpenBLAS reads when NumPy is first imported.
import engine  # noqa: E402, F401
