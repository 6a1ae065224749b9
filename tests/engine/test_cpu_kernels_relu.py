"""engine/kernels/cpu/relu.py equals Relu's NumPy reference bit for bit: values, gradients, layout.

NaN inputs pass forward and keep their gradient, -0.0 gives 0.0, inf gradients stay inf or become
0; channels-last memory (a convolution's output) keeps its layout; other layouts of g fall back.
"""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.functional as F
import engine.kernels
import engine.kernels.cpu
from engine import Tensor

pytestmark = pytest.mark.skipif(not engine.kernels.cpu.available(), reason="needs numba (the cpu extra)")


def run(x, g, on):
    old = engine.kernels.set_enabled(on, "cpu")
    try:
        t = Tensor(x, requires_grad=True)
        out = F.relu(t)
        out.backward(Tensor(g))
        return out.numpy(), t.grad.numpy()
    finally:
        engine.kernels.set_enabled(old, "cpu")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["plain", "channels_last", "g_other_layout"])
@pytest.mark.parametrize("shape", [(3, 5, 67, 71), (2, 16, 33, 64)])  # odd sizes, above the kernel's minimum
def test_relu_kernel_equals_reference(dtype, layout, shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    x.flat[rng.integers(0, x.size, 20)] = np.nan
    x.flat[rng.integers(0, x.size, 20)] = -0.0
    x.flat[rng.integers(0, x.size, 20)] = 0.0
    x.flat[rng.integers(0, x.size, 20)] = -np.inf
    g.flat[rng.integers(0, g.size, 20)] = np.inf
    g.flat[rng.integers(0, g.size, 20)] = np.nan
    if layout != "plain":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    if layout == "channels_last":
        g = np.ascontiguousarray(g.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    calls = []
    fwd, bwd = engine.kernels.kernels[("relu", "cpu")]
    engine.kernels.kernels[("relu", "cpu")] = (lambda *a: calls.append(0) or fwd(*a),
                                              lambda *a: calls.append(1) or bwd(*a))
    try:
        got = run(x, g, True)
    finally:
        engine.kernels.kernels[("relu", "cpu")] = (fwd, bwd)
    ref = run(x, g, False)
    assert calls == [0, 1]
    assert got[0].strides == x.strides  # the layout is kept
    for a, b in zip(got, ref):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"))  # bits, -0.0 too
