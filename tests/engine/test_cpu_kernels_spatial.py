"""engine/kernels/cpu/spatial.py's channels-last paths equal the NumPy references of spatial.py.

A convolution returns a channels-first view of channels-last memory, and the kernels take a faster
loop for such inputs. Each case runs the op with kernels on and off on the same channels-last input
(values, argmax indices, gradients), and also on a plain channels-first copy, so both kernel loops
are held to the reference; NaN, -inf, padding, dilation and ceil_mode included.
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


def _scaled(tol: dict, ref) -> dict:
    """atol times the reference's largest magnitude (as test_kernel_table.py): a weight gradient is a
    sum of many products, and an entry that cancels to a small value keeps the rounding error of
    the large terms, which depends on the BLAS kernel's summation order (AVX2 vs AVX-512)."""
    return {**tol, "atol": tol["atol"] * max(1.0, float(np.abs(ref).max(initial=0.0)))}


def channels_last(a):
    """The same values as a (N, C, H, W) view of channels-last memory."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def run_pool(x, on, **kw):
    old = engine.kernels.set_enabled(on, "cpu")
    try:
        t = Tensor(x.copy(order="K"), requires_grad=True)
        out, idx = F.max_pool2d(t, return_indices=True, **kw)
        g = np.random.default_rng(1).standard_normal(out.shape).astype(x.dtype)
        out.backward(Tensor(g))
        return out.numpy(), idx.numpy(), t.grad.numpy()
    finally:
        engine.kernels.set_enabled(old, "cpu")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=2, stride=1, padding=1, dilation=2),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=(2, 3)),  # windows tile the input (backward's branch-free loop), edges left over
    dict(kernel_size=(3, 2), ceil_mode=True),  # tiles too, but the last windows run past the edge
])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_max_pool2d_kernel_equals_reference(dtype, kw, seed):
    rng = np.random.default_rng(seed)
    n, c, h, w = 2, int(rng.integers(1, 20)), int(rng.integers(5, 10)), int(rng.integers(5, 10))
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    x.flat[rng.integers(0, x.size, 3)] = np.nan  # a NaN wins its window
    x.flat[rng.integers(0, x.size, 3)] = -np.inf
    x[0, 0, :2, :2] = 0.5  # ties: the first maximum
    ref = run_pool(x, False, **kw)
    for layout in (channels_last(x), x):
        got = run_pool(layout, True, **kw)
        for what, a, b in zip(("value", "indices"), got, ref):
            np.testing.assert_array_equal(a, b, err_msg=f"{what} {kw} {dtype.__name__}")
        # overlapping windows add into one input in another order: float rounding only
        tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(got[2], ref[2], err_msg=f"grad {kw} {dtype.__name__}", **tol)


def test_max_pool2d_keeps_channels_last():
    x = channels_last(np.random.default_rng(0).standard_normal((2, 8, 6, 6)).astype(np.float32))
    out = F.max_pool2d(Tensor(x), 2).numpy()
    assert out.transpose(0, 2, 3, 1).flags.c_contiguous  # the next convolution reads it without a copy


def run_bn(x, on, training, affine, rng_seed=2):
    rng = np.random.default_rng(rng_seed)
    c = x.shape[1]
    old = engine.kernels.set_enabled(on, "cpu")
    try:
        t = Tensor(x.copy(order="K"), requires_grad=True)
        w = Tensor(rng.standard_normal(c).astype(x.dtype), requires_grad=True) if affine else None
        b = Tensor(rng.standard_normal(c).astype(x.dtype), requires_grad=True) if affine else None
        rm, rv = Tensor(rng.standard_normal(c).astype(x.dtype)), Tensor(rng.random(c).astype(x.dtype) + 0.5)
        out = F.batch_norm(t, rm, rv, w, b, training=training, momentum=0.3)
        out.backward(Tensor(rng.standard_normal(out.shape).astype(x.dtype)))
        res = [out.numpy(), t.grad.numpy(), rm.numpy(), rv.numpy()]
        return res + ([w.grad.numpy(), b.grad.numpy()] if affine else [])
    finally:
        engine.kernels.set_enabled(old, "cpu")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (4, 7, 9), (8, 16, 6, 5)])
def test_batch_norm_kernel_equals_reference(dtype, training, affine, shape):
    rng = np.random.default_rng(len(shape))
    x = (rng.standard_normal(shape) * 3 + 5).astype(dtype)  # an offset mean: the centering matters
    ref = run_bn(x, False, training, affine)
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
    for layout in ((channels_last(x), x) if x.ndim == 4 else (x,)):
        got = run_bn(layout, True, training, affine)
        for what, a, b in zip(("y", "grad x", "running_mean", "running_var", "grad w", "grad b"), got, ref):
            assert a.dtype == b.dtype == dtype, what
            np.testing.assert_allclose(a, b, err_msg=f"{what} {shape} {dtype.__name__}", **tol)


def test_batch_norm_kernel_runs_and_keeps_channels_last():
    calls = []
    fwd, bwd = engine.kernels.kernels[("batch_norm", "cpu")]
    engine.kernels.kernels[("batch_norm", "cpu")] = (lambda *a: calls.append(0) or fwd(*a),
                                                     lambda *a: calls.append(1) or bwd(*a))
    try:
        x = channels_last(np.random.default_rng(0).standard_normal((4, 8, 5, 5)).astype(np.float32))
        t = Tensor(x, requires_grad=True)
        out = F.batch_norm(t, None, None, training=True)
        out.sum().backward()
    finally:
        engine.kernels.kernels[("batch_norm", "cpu")] = (fwd, bwd)
    assert calls == [0, 1]
    assert out.numpy().transpose(0, 2, 3, 1).flags.c_contiguous


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [1, 3, 5, 16])  # below and above SHORT_RUN: both im2col/col2im loops
@pytest.mark.parametrize("stride,dilation,padding", [(1, 1, 1), (2, 1, 0), (1, (2, 1), 2), (2, (1, 2), 1)])
def test_conv2d_im2col_kernels_equal_reference(dtype, c, stride, dilation, padding):
    rng = np.random.default_rng(c)
    x = rng.standard_normal((3, c, 7, 6)).astype(dtype)
    w = rng.standard_normal((4, c, 3, 2)).astype(dtype)
    g = rng.standard_normal(F.conv2d(Tensor(x), Tensor(w), stride=stride, padding=padding,
                                     dilation=dilation).shape).astype(dtype)
    res = []
    for on in (True, False):
        old = engine.kernels.set_enabled(on, "cpu")
        try:
            tx, tw = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
            out = F.conv2d(tx, tw, stride=stride, padding=padding, dilation=dilation)
            out.backward(Tensor(g))
            res.append([out.numpy(), tx.grad.numpy(), tw.grad.numpy()])
        finally:
            engine.kernels.set_enabled(old, "cpu")
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    for what, a, b in zip(("value", "grad x", "grad w"), *res):
        np.testing.assert_allclose(a, b, err_msg=what, **_scaled(tol, b))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [1, 3, 16])  # the two im2col loops of the pipeline
@pytest.mark.parametrize("stride,dilation,padding", [(1, 1, 1), (2, 1, 0), (1, (2, 1), 2), (2, (1, 2), (1, 0)),
                                                     (1, (1, 2), "same")])  # "same" pads W unevenly here
@pytest.mark.parametrize("pipe_bytes,keep_bytes", [(1 << 20, 16 << 20), (1, 16 << 20), (1, 0), (2000, 0)])
def test_conv2d_pipeline_kernel_equals_reference(monkeypatch, dtype, c, stride, dilation, padding, pipe_bytes,
                                                 keep_bytes):
    """("conv2d", "cpu") against ConvNd's reference (im2col kernels off too): one chunk or chunks of
    one or a few images (PIPE_BYTES), columns kept from forward or rebuilt (KEEP_COLS_BYTES), a bias."""
    import engine.kernels.cpu.spatial as ks
    import engine.ops.spatial as ops

    monkeypatch.setattr(ks, "PIPE_BYTES", pipe_bytes)
    monkeypatch.setattr(ops, "KEEP_COLS_BYTES", keep_bytes)
    rng = np.random.default_rng(c)
    x = channels_last(rng.standard_normal((5, c, 9, 7)).astype(dtype))
    w = rng.standard_normal((6, c, 3, 2)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    g = rng.standard_normal(F.conv2d(Tensor(x), Tensor(w), **kw).shape).astype(dtype)
    res = []
    for on in (True, False):
        old = engine.kernels.set_enabled(on, "cpu")
        try:
            tx, tw, tb = (Tensor(a, requires_grad=True) for a in (x, w, b))
            out = F.conv2d(tx, tw, tb, **kw)
            out.backward(Tensor(g))
            res.append([out.numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()])
        finally:
            engine.kernels.set_enabled(old, "cpu")
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    for what, a, r in zip(("value", "grad x", "grad w", "grad b"), *res):
        np.testing.assert_allclose(a, r, err_msg=what, **_scaled(tol, r))


def test_conv2d_pipeline_kernel_runs_and_skips_unneeded_grads():
    """The kernel is the path taken (forward and backward), and only the wanted gradients exist."""
    calls = []
    fwd, bwd = engine.kernels.kernels[("conv2d", "cpu")]
    engine.kernels.kernels[("conv2d", "cpu")] = (lambda *a: calls.append(0) or fwd(*a),
                                                lambda *a: calls.append(1) or bwd(*a))
    try:
        x = channels_last(np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32))
        tw = Tensor(np.random.default_rng(1).standard_normal((5, 3, 3, 3)).astype(np.float32), requires_grad=True)
        tx = Tensor(x)
        F.conv2d(tx, tw, padding=1).sum().backward()
    finally:
        engine.kernels.kernels[("conv2d", "cpu")] = (fwd, bwd)
    assert calls == [0, 1]
    assert tx.grad is None and tw.grad.shape == (5, 3, 3, 3)
