"""Hypothesis profiles for the whole test suite.

- "ci" (default): a fixed budget of derandomized examples, so every CI run draws the same ones.
- "dev": hypothesis' usual random search (100 examples, a local example database), for local runs.
- "thorough": many more examples, for a long hunt before a release.
- "gpu": 5 derandomized examples, for scripts/gpu_check.sh, whose GPU tests share a 6-minute
  budget with the benchmarks (on a fresh machine every CuPy kernel is compiled on first use).

Pick one with HYPOTHESIS_PROFILE=dev or ``pytest --hypothesis-profile=thorough``.
"""

import os

from hypothesis import HealthCheck, settings

# Full float32 matmuls on the GPU: the tests compare float32 results with float32 tolerances, and
# TF32 (the engine's default for training, engine.backend) keeps only 10 mantissa bits.
os.environ.setdefault("CUPY_TF32", "0")

# No deadline: a gradcheck on a 5x5x5x5 input takes a while, and CI machines are noisy.
_common = {"deadline": None, "print_blob": True, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", max_examples=15, derandomize=True, database=None, **_common)
settings.register_profile("dev", **_common)  # hypothesis' defaults: 100 random examples, failures replayed
settings.register_profile("thorough", max_examples=300, **_common)
settings.register_profile("gpu", max_examples=5, derandomize=True, database=None, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
