"""Tests generated from the kernel table (engine/kernels/): every registered kernel equals its op's
reference, values and gradients, on random shapes including odd sizes.

Each (op, backend) in the table needs a case in CASES: a kernel can't land without one
(``test_every_kernel_has_a_case``). Each case runs the op twice on the same inputs, kernels on and
off, checks that the kernel pair really ran (its calls are counted) and compares the results. CPU
kernels need numba; CUDA kernels run on CuPy arrays on a GPU, or here in tests/engine/cuda_emu.py's
emulator on NumPy arrays (needs g++).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import cuda_emu
import numpy as np
import pytest

import engine
import engine.functional as F
import engine.kernels
import engine.kernels.cuda as C
import nn
from engine import Tensor

SEEDS = (0, 1, 2)


def _ln(x, weight=None, bias=None, eps=1e-5):
    """F.layer_norm over the last dim (torch's signature takes normalized_shape second)."""
    return F.layer_norm(x, x.shape[-1:], weight, bias, eps)


def _shape(rng, lead_dims: int, last: int | None = None) -> tuple[int, ...]:
    """Odd sizes too: leading sides 1-5, a last side 1-67 unless given."""
    lead = tuple(int(n) for n in rng.integers(1, 6, lead_dims))
    return lead + (int(rng.integers(1, 68)) if last is None else last,)


def _normal(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# name -> case(rng, dtype, backend): (fn of tensors -> tensor, input arrays)
def _softmax(rng, dtype, backend):
    return (lambda x: F.softmax(x, -1)), [_normal(rng, _shape(rng, 2), dtype, 3)]


def _layer_norm(rng, dtype, backend):
    shape = _shape(rng, 2)
    return _ln, [_normal(rng, shape, dtype, 2) + 1, _normal(rng, shape[-1:], dtype),
                          _normal(rng, shape[-1:], dtype)]


def _gelu(rng, dtype, backend):
    x = _normal(rng, _shape(rng, int(rng.integers(0, 3))), dtype, 3)
    # a transposed view too: not C-contiguous
    return (lambda t: F.gelu(t, approximate="tanh")), [x.T if rng.random() < 0.5 else x]


def _cross_entropy(rng, dtype, backend):
    shape = _shape(rng, 1)
    t = rng.integers(0, shape[-1], shape[:-1])
    t[0] = -100  # one ignored row
    return (lambda z: F.cross_entropy(z, Tensor(t))), [_normal(rng, shape, dtype, 2)]


def _attention(rng, dtype, backend):
    b, h, t = (int(n) for n in rng.integers(1, 4, 3))
    d = 4 * int(rng.integers(1, 5)) if backend == "cuda" else int(rng.integers(1, 9))  # flash: d % 4 == 0
    q, k, v = (_normal(rng, (b, h, t + 5, d), dtype) for _ in range(3))
    return (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)), [q, k, v]


def _attention_softmax(rng, dtype, backend):
    """As _attention with the "attention_blocks" kernel out of the table (it runs its own softmax)."""
    fn, arrays = _attention(rng, dtype, backend)

    def without_blocks(*ts):
        blocks = engine.kernels.kernels.pop(("attention_blocks", backend), None)
        try:
            return fn(*ts)  # forward picks the path; backward follows it
        finally:
            if blocks is not None:
                engine.kernels.kernels[("attention_blocks", backend)] = blocks

    return without_blocks, arrays


def _attention_blocks(rng, dtype, backend):
    """Self-attention long enough for several query blocks (T > 128), odd sizes, sometimes a window
    (blocks that do not start at key 0, so no block sees every key)."""
    b, nh, hs = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 9))
    t = int(rng.integers(128, 200)) if rng.random() < 0.75 else int(rng.integers(1, 9))
    window = int(rng.integers(1, 80)) if rng.random() < 0.4 else None
    return (lambda qkv: F.self_attention(qkv, nh, window=window)), [_normal(rng, (b, t, 3 * nh * hs), dtype)]


def _conv2d(rng, dtype, backend, groups=None):
    """im2col/col2im run inside conv2d's forward and backward: strided, dilated, padded, grouped
    (groups 1 runs the "conv2d" pipeline kernel, which calls its own loops, not im2col2d)."""
    groups = int(rng.integers(2, 4)) if groups is None else groups
    n, h, w = (int(v) for v in rng.integers(1, 7, 3))
    x = _normal(rng, (n, 2 * groups, h + 2, w + 2), dtype)
    weight = _normal(rng, (2 * groups, 2, 2, 3), dtype)
    stride, dilation = tuple(int(v) for v in rng.integers(1, 3, 2)), tuple(int(v) for v in rng.integers(1, 3, 2))
    return (lambda a, b: F.conv2d(a, b, None, stride, 1, dilation, groups)), [x, weight]


def _max_pool2d(rng, dtype, backend):
    x = _normal(rng, (2, 3, int(rng.integers(2, 8)), int(rng.integers(2, 8))), dtype)
    return (lambda a: F.max_pool2d(a, 2, 1, 1, 1, ceil_mode=bool(rng.random() < 0.5))), [x]


def _batch_norm(rng, dtype, backend):
    x = _normal(rng, (int(rng.integers(2, 5)), 3, int(rng.integers(1, 6)), 4), dtype, 2) + 1
    return (lambda a, w, b: F.batch_norm(a, None, None, w, b, training=True)), [
        x, _normal(rng, (3,), dtype), _normal(rng, (3,), dtype)]


def _lstm_layer(rng, dtype, backend):
    """The recurrence of F.lstm_layer, both directions, odd sizes, some saturated gates (scale 2)."""
    t, b, i, h = (int(v) for v in rng.integers(1, 8, 4))
    reverse = bool(rng.random() < 0.5)
    arrays = [_normal(rng, (t, b, i), dtype, 2), _normal(rng, (b, h), dtype), _normal(rng, (b, h), dtype),
              _normal(rng, (4 * h, i), dtype), _normal(rng, (4 * h, h), dtype), _normal(rng, (4 * h,), dtype),
              _normal(rng, (4 * h,), dtype)]

    def fn(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        out, _, cn = F.lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=reverse)
        return F.cat([out, cn[None]], 0)  # (T + 1, B, H): c_n's gradient path too

    return fn, arrays


def _relu(rng, dtype, backend):
    """Above the kernel's 2^16-element minimum, channels-last as after a convolution."""
    x = _normal(rng, (2, 8, int(rng.integers(64, 80)), 67), dtype)
    return F.relu, [np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)]


def _embedding(rng, dtype, backend):
    """Repeated ids (rows that sum), some vocabulary rows never used, odd sizes."""
    V, D = int(rng.integers(1, 12)), int(rng.integers(1, 68))
    ids = rng.integers(0, V, _shape(rng, 1, int(rng.integers(1, 40))))
    return (lambda w: F.embedding(Tensor(ids), w)), [_normal(rng, (V, D), dtype)]


CASES = {"softmax": _softmax, "layer_norm": _layer_norm, "gelu": _gelu, "cross_entropy": _cross_entropy,
         "attention": _attention, "attention_softmax": _attention_softmax,
         "attention_blocks": _attention_blocks, "im2col2d": _conv2d, "max_pool2d": _max_pool2d,
         "batch_norm": _batch_norm, "lstm_layer": _lstm_layer,
         "conv2d": lambda rng, dtype, backend: _conv2d(rng, dtype, backend, 1), "relu": _relu,
         "embedding": _embedding}
UPDATES = {"adamw"}  # kernels without a gradient: compared over optimizer steps instead
INFERENCE = {"attention_decode", "rows_matmul"}  # no gradient: values compared in test_*_kernel_equals_reference
REDUCTIONS = {"sum_squares"}  # a float, no gradient: compared in test_sum_squares_kernel_equals_reference
FORWARD_ONLY = engine.kernels.FORWARD_ONLY  # backward is the reference's: test_linear_kernel_equals_reference


def test_every_kernel_has_a_case():
    for name, _, _, _ in engine.kernels.table():
        known = {*CASES, *UPDATES, *INFERENCE, *REDUCTIONS, *FORWARD_ONLY}
        assert name in known, f"kernel {name!r} has no case in test_kernel_table.py"


def test_engine_kernels_prints_the_table():
    out = subprocess.run([sys.executable, "-m", "engine.kernels"], capture_output=True, text=True, check=True)
    for name, backend, _, _ in engine.kernels.table():
        assert any(line.split()[:2] == [name, backend] for line in out.stdout.splitlines()), (name, backend)


def test_engine_kernels_off_runs_every_op_on_its_reference():
    code = ("import numpy as np, engine.kernels as K\n"
            "print(K.lookup('gelu', np.ones(3, np.float32)), K.describe())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "ENGINE_KERNELS": "off"})
    assert out.stdout.startswith("None references")


@contextlib.contextmanager
def counted(key):
    """Count the calls of one table entry's forward and backward inside the block."""
    calls = [0, 0]
    fwd, bwd = engine.kernels.kernels[key]

    def wrap(i, f):
        def call(*a, **kw):
            calls[i] += 1
            return f(*a, **kw)
        return call

    engine.kernels.kernels[key] = (wrap(0, fwd), None if bwd is None else wrap(1, bwd))
    try:
        yield calls
    finally:
        engine.kernels.kernels[key] = (fwd, bwd)


@pytest.fixture(params=["cpu", "cuda"])
def backend(request, monkeypatch):
    """The backend under test, on NumPy arrays: the CPU kernels, or the CUDA kernels in the emulator."""
    if request.param == "cpu":
        if not engine.kernels.enabled("cpu"):
            pytest.skip("needs numba (the cpu extra)")
        yield "cpu"
        return
    if not cuda_emu.compiler_works():
        pytest.skip("the CUDA emulator needs g++ with pthreads and _Float16")
    monkeypatch.setattr(C, "_cupy", lambda: cuda_emu.FakeCupy)
    monkeypatch.setattr(engine.kernels, "backend_of", lambda arrays: "cuda" if all(
        a is None or (type(a) is np.ndarray and a.dtype in (np.float32, np.float16)) for a in arrays) else None)
    C._raw_kernel.cache_clear()
    C._elementwise.cache_clear()
    yield "cuda"
    C._raw_kernel.cache_clear()
    C._elementwise.cache_clear()


def run(fn, arrays, on: bool, backend: str, seed: int):
    old = engine.kernels.set_enabled(on, backend)
    try:
        ts = [Tensor(a.copy(order="K"), requires_grad=True) for a in arrays]  # K: a transposed view stays one
        out = fn(*ts)
        out.backward(Tensor(np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)))
        return out.numpy(), [t.grad.numpy() for t in ts]
    finally:
        engine.kernels.set_enabled(old, backend)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("seed", SEEDS)
def test_kernel_equals_reference(backend, name, seed):
    if (name, backend) not in engine.kernels.kernels:
        pytest.skip(f"no {backend} kernel for {name}")
    for dtype in (np.float32, np.float64) if backend == "cpu" else (np.float32,):
        fn, arrays = CASES[name](np.random.default_rng(seed), dtype, backend)
        with counted((name, backend)) as calls:
            out_k, grads_k = run(fn, arrays, True, backend, seed)
        assert calls[0] and calls[1], f"the {backend} kernels of {name} did not run: {calls}"
        with counted((name, backend)) as calls:
            out_r, grads_r = run(fn, arrays, False, backend, seed)
        assert calls == [0, 0]
        tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
        pairs = [("value", out_k, out_r)] + [(f"grad {i}", a, b) for i, (a, b) in enumerate(zip(grads_k, grads_r))]
        for what, k, r in pairs:
            assert k.dtype == r.dtype == dtype, what
            np.testing.assert_allclose(k, r, err_msg=f"{name} {backend} {dtype.__name__} {what}",
                                       **{**tol, "atol": tol["atol"] * max(1.0, float(np.abs(r).max()))})


@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_layer_kernel_shares_batch_rows_out(reverse, monkeypatch):
    """Above parallel_batched's minimum the CPU recurrence runs per share of batch rows, one share
    per thread (an odd batch: unequal shares); values and gradients equal the reference's."""
    from engine import parallel
    from engine.kernels.cpu import recurrent

    if ("lstm_layer", "cpu") not in engine.kernels.kernels or parallel._openblas is None:
        pytest.skip("needs the CPU lstm_layer kernel and NumPy on OpenBLAS")
    monkeypatch.setattr(parallel, "_threads", 2)
    monkeypatch.setattr(parallel, "_pool", None)
    shares = []
    def spy(name):
        real = getattr(recurrent, name)

        def call(*a):
            shares.append((name, a[0].shape[1]))  # the share's batch rows
            return real(*a)
        return call

    for name in ("_forward_rows", "_backward_rows"):
        monkeypatch.setattr(recurrent, name, spy(name))
    rng = np.random.default_rng(7)
    t, b, i, h = 16, 9, 5, 64  # b * t * 4h = 36864 >= MIN_PARALLEL
    assert b * t * 4 * h >= parallel.MIN_PARALLEL
    for dtype in (np.float32, np.float64):
        arrays = [_normal(rng, (t, b, i), dtype, 2), _normal(rng, (b, h), dtype), _normal(rng, (b, h), dtype),
                  _normal(rng, (4 * h, i), dtype), _normal(rng, (4 * h, h), dtype, 0.3), _normal(rng, (4 * h,), dtype),
                  _normal(rng, (4 * h,), dtype)]

        def fn(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
            out, _, cn = F.lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=reverse)
            return F.cat([out, cn[None]], 0)

        shares.clear()
        out_k, grads_k = run(fn, arrays, True, "cpu", 0)
        assert sorted(shares) == [("_backward_rows", 4), ("_backward_rows", 5), ("_forward_rows", 4),
                                  ("_forward_rows", 5)], shares
        out_r, grads_r = run(fn, arrays, False, "cpu", 0)
        tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
        for k, r in zip([out_k, *grads_k], [out_r, *grads_r]):
            np.testing.assert_allclose(k, r, **{**tol, "atol": tol["atol"] * max(1.0, float(np.abs(r).max()))})


@pytest.mark.parametrize("seed", SEEDS)
def test_rows_matmul_kernel_equals_reference(backend, seed):
    """GPT.generate's decode matmul out = x @ wᵀ for a few rows: odd sizes (w's last rows not a
    multiple of four, an odd row of x), batch 1 and above the kernel's 16 rows (NumPy there), a
    strided out, and a size the threads share."""
    from engine.ops.matmul import rows_times_weight

    if ("rows_matmul", backend) not in engine.kernels.kernels:
        pytest.skip(f"no {backend} kernel for rows_matmul")
    rng = np.random.default_rng(seed)
    sizes = [(1, 5, 3), (2, 7, 9), (3, 13, 67), (5, 6, 1), (16, 9, 5), (17, 4, 3), (7, 4099, 65)]
    for dtype in (np.float32, np.float64):
        for b, n, k in sizes:
            x, w = _normal(rng, (b, k), dtype), _normal(rng, (n, k), dtype)
            for strided in (False, True):
                outs = []
                for on in (True, False):
                    full = np.full((b, 2 * n if strided else n), np.nan, dtype)
                    out = full[:, ::2] if strided else full
                    old = engine.kernels.set_enabled(on, backend)
                    try:
                        with counted(("rows_matmul", backend)) as calls:
                            rows_times_weight(x, w, out)
                    finally:
                        engine.kernels.set_enabled(old, backend)
                    assert calls[0] == on, calls
                    outs.append(out.copy())
                    if strided:
                        assert np.isnan(full[:, 1::2]).all()  # only out's own entries written
                tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
                scale = max(1.0, float(np.abs(x).max() * np.abs(w).max() * k))
                np.testing.assert_allclose(outs[0], outs[1], rtol=tol["rtol"], atol=tol["atol"] * scale,
                                           err_msg=f"{dtype.__name__} {(b, n, k)} strided={strided}")
                np.testing.assert_allclose(outs[1], x.astype(np.float64) @ w.astype(np.float64).T,
                                           rtol=tol["rtol"], atol=tol["atol"] * scale)


@pytest.mark.parametrize("seed", SEEDS)
def test_attention_decode_kernel_equals_reference(backend, seed):
    """GPT.generate's one-query attention over a KV cache: odd sizes, a window (start > 0), scores
    large enough that the max shift matters; and a size whose (batch, head) pairs go to the threads."""
    from engine.ops.fused import attend_one_query

    if ("attention_decode", backend) not in engine.kernels.kernels:
        pytest.skip(f"no {backend} kernel for attention_decode")
    rng = np.random.default_rng(seed)
    for dtype, big in ((np.float32, False), (np.float64, False), (np.float32, True), (np.float64, True)):
        b, nh, hs, s_max = (int(v) for v in rng.integers(1, 6, 4) + np.array([0, 0, 0, 4]))
        if big:  # over MIN_DECODE_PARALLEL: the (b, h) pairs are shared out to the threads (odd counts)
            b, nh, hs, s_max = 7, 3, 67, 240
        stop = int(rng.integers(1, s_max + 1)) if not big else s_max - 3
        start = int(rng.integers(0, stop)) if not big else 5
        scale = 3 if not big else 1 / np.sqrt(hs)  # big: scores O(1), so float32 dots of 67 terms agree to 1e-5
        q = _normal(rng, (b, nh, hs), dtype, 3)
        k, v = _normal(rng, (b, nh, s_max, hs), dtype, scale), _normal(rng, (b, nh, s_max, hs), dtype)
        outs = []
        for on in (True, False):
            old = engine.kernels.set_enabled(on, backend)
            try:
                with counted(("attention_decode", backend)) as calls:
                    out = np.full((b, nh, hs), np.nan, dtype)
                    attend_one_query(q, k, v, start, stop, 0.5, out)
                assert calls[0] == on
            finally:
                engine.kernels.set_enabled(old, backend)
            outs.append(out)
        tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(outs[0], outs[1], **tol)


@pytest.mark.parametrize("decay", [0.1, 0.0])
def test_adamw_kernel_equals_reference(backend, decay):
    """Bit for bit on the CPU. The CUDA kernel rounds (1 − b2)·g·g in another order than the
    reference's g·g·(1 − b2), so an element may differ in its last bit."""
    rng = np.random.default_rng(3)
    shapes = [(37, 5), (11,), (3, 4, 2)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(3)]
    finals = []
    for on in (True, False):
        with counted(("adamw", backend)) as calls:
            old = engine.kernels.set_enabled(on, backend)
            try:
                params = [nn.Parameter(Tensor(a.copy())) for a in init]
                opt = nn.optim.AdamW(params, lr=3e-3, betas=(0.9, 0.95), weight_decay=decay)
                for step in grads:
                    for p, g in zip(params, step):
                        p.grad = Tensor(g.copy())
                    opt.step()
            finally:
                engine.kernels.set_enabled(old, backend)
        assert bool(calls[0]) == on
        finals.append([p.numpy() for p in params])
    for a, b in zip(*finals):
        if backend == "cpu":
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_squares_kernel_equals_reference(dtype):
    """The float64 sum of squares (clip_grad_norm_'s 2-norm): kernel and einsum reference agree to
    float64 rounding (the kernel reassociates), against an exact math.fsum; nan and inf propagate."""
    import math

    from engine.ops.optim import sum_squares

    rng = np.random.default_rng(5)
    for shape in [(0,), (1,), (7,), (37, 5), (3, 4, 1001)]:
        a = (rng.standard_normal(shape) * 3).astype(dtype)
        exact = math.fsum(float(v) ** 2 for v in a.reshape(-1).tolist())  # products of floats: exact in float64
        outs = []
        for on in (True, False):
            with counted(("sum_squares", "cpu")) as calls:
                old = engine.kernels.set_enabled(on, "cpu")
                try:
                    outs.append(sum_squares(a))
                finally:
                    engine.kernels.set_enabled(old, "cpu")
            assert bool(calls[0]) == on
        for out in outs:
            assert out == pytest.approx(exact, rel=1e-13, abs=0.0)
    for bad, want in [(np.nan, math.isnan), (np.inf, math.isinf)]:
        a = np.ones(100, dtype)
        a[37] = bad
        assert want(sum_squares(a))


@pytest.mark.parametrize("seed", SEEDS)
def test_linear_kernel_equals_reference(backend, seed):
    """F.linear with a bias, the GEMM adding x @ wᵀ to rows of b: values (and the reference's gradients)
    equal the reference's, odd sizes, leading axes, K above OpenBLAS's block, few rows (the reference's
    orientation there), a non-contiguous input (the reference's product)."""
    if ("linear", backend) not in engine.kernels.kernels:
        pytest.skip(f"no {backend} kernel for linear")
    rng = np.random.default_rng(seed)
    sizes = [((33, 5), 7), ((2, 40, 3), 1), ((64, 600), 130), ((50, 67), 513), ((3, 4), 9), ((100, 1), 2)]
    for dtype in (np.float32, np.float64):
        for shape, n in sizes:
            x, w, b = _normal(rng, shape, dtype), _normal(rng, (n, shape[-1]), dtype), _normal(rng, (n,), dtype)
            if rng.random() < 0.3:
                x = np.asfortranarray(x)  # run() keeps the layout: the kernel falls back to the reference's product
            with counted(("linear", backend)) as calls:
                out_k, grads_k = run(F.linear, [x, w, b], True, backend, seed)
            assert calls[0] == 1, calls
            out_r, grads_r = run(F.linear, [x, w, b], False, backend, seed)
            tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
            for k, r in zip([out_k, *grads_k], [out_r, *grads_r]):
                assert k.dtype == r.dtype == dtype
                np.testing.assert_allclose(k, r, **{**tol, "atol": tol["atol"] * max(1.0, float(np.abs(r).max()))})
    x = _normal(rng, (64, 8), np.float32)
    out = engine.kernels.kernels[("linear", backend)][0](x.T.copy().T, x[:5], x[0, :5].copy())  # F-ordered x
    np.testing.assert_allclose(out, x @ x[:5].T + x[0, :5], rtol=1e-5, atol=1e-5)
