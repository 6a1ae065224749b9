"""Repository-wide pytest hooks (tests/conftest.py holds the hypothesis profiles).

engine/cpu.py's doctests run its compiled kernels, which need numba (the ``cpu`` extra): without
it they are skipped, as tests/engine/test_cpu_kernels.py is, and the ops take their NumPy paths.
"""

import pytest


def pytest_collection_modifyitems(config, items):
    import engine.cpu

    if engine.cpu.available():
        return
    skip = pytest.mark.skip(reason="needs numba (pip install -e \".[cpu]\")")
    for item in items:
        if item.nodeid.startswith("engine/cpu.py::"):
            item.add_marker(skip)
