"""Repository-wide pytest hooks (tests/conftest.py holds the hypothesis profiles).

engine/kernels/cpu/'s doctests run its compiled kernels, which need numba (the ``cpu`` extra): without
it they are skipped, as tests/engine/test_cpu_kernels.py is, and the ops take their NumPy paths.
"""

import pytest


def pytest_collection_modifyitems(config, items):
    import engine.kernels.cpu

    if engine.kernels.cpu.available():
        return
    skip = pytest.mark.skip(reason="needs numba (pip install -e \".[cpu]\")")
    for item in items:
        if item.nodeid.startswith("engine/kernels/cpu/"):
            item.add_marker(skip)
