"""GPT-2/GPT-3 models, tokenizers and data on the tinygrad_gpt engine.

Importing it changes nothing in the process; training (``train.setup``, the ``train`` command)
calls ``engine.tune_cpu()`` (``TINYGRAD_GPT_TUNE_CPU=0`` to opt out).
"""

import engine  # noqa: F401
