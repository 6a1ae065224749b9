"""engine/kernels/cuda/: the CUDA kernels and their NumPy twins (cuda_references.py).

Two layers of checks:
- CPU (always run): each NumPy reference equals the engine's composed op, values and gradients,
  in float64. The flash-attention references walk the tiles exactly as the CUDA kernels do
  (same block sizes, same key/query ranges, same guards for fully masked tiles), so these tests
  check the kernels' tiling logic without a GPU. Plus: the module imports without CuPy, and
  (where CuPy's NVRTC bindings are installed) every kernel source compiles for sm_90.
- GPU (marked ``gpu``, skipped without a CUDA device): each kernel equals its reference and the
  engine's composed path on the GPU within float32 tolerance, and flash attention's memory grows
  linearly in T.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import cuda_emu
import cuda_references as R
import numpy as np
import pytest

import engine
import engine.functional as F
import engine.kernels.cuda as C
import nn
from engine import Tensor

REPO = Path(__file__).resolve().parents[2]


def _ln(x, weight=None, bias=None, eps=1e-5):
    """F.layer_norm over the last dim (torch's signature takes normalized_shape second)."""
    return F.layer_norm(x, x.shape[-1:], weight, bias, eps)


def grads_of(fn, arrays, upstream):
    """Values and input gradients of ``fn(*tensors)`` for the upstream gradient ``upstream``."""
    ts = [Tensor(a, requires_grad=True) for a in arrays]
    y = fn(*ts)
    (y * Tensor(upstream)).sum().backward()
    return y.numpy(), [t.grad.numpy() for t in ts]


# =================================================================================================
# CPU: the references against the engine
# =================================================================================================
def test_importing_engine_cuda_does_not_import_cupy():
    code = textwrap.dedent("""
        import sys
        sys.modules["cupy"] = None  # any `import cupy` now fails
        import numpy as np
        import engine.kernels.cuda as C
        x = np.arange(6.0).reshape(2, 3)
        print(len(C.source("rows.cu", False)) > 0, "cupy" in sys.modules and sys.modules["cupy"] is not None)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False"]


@pytest.mark.skipif(importlib.util.find_spec("cupy") is None, reason="CuPy (for its NVRTC bindings) not installed")
def test_every_kernel_source_compiles_with_nvrtc():
    """No GPU needed: NVRTC compiles each RawKernel source (float32 and float16, several head dims)
    and each ElementwiseKernel body wrapped in a kernel. Skipped when NVRTC cannot be loaded."""
    code = textwrap.dedent("""
        import sys
        try:
            from cupy.cuda import nvrtc
            nvrtc.getVersion()
        except Exception as e:
            print("no nvrtc:", e)
            sys.exit(77)
        sys.path.insert(0, "scripts")
        from nvrtc_check import main
        sys.exit(main())
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
    if out.returncode == 77:
        pytest.skip(out.stdout.strip())
    assert out.returncode == 0, out.stdout + out.stderr


def test_softmax_reference_matches_engine():
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((2, 3, 17)), rng.standard_normal((2, 3, 17))
    y, (dx,) = grads_of(lambda t: F.softmax(t, axis=-1), [x], g)
    np.testing.assert_allclose(R.softmax_reference(x), y, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(R.softmax_backward_reference(R.softmax_reference(x), g), dx, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("affine", [(True, True), (True, False), (False, True), (False, False)])
def test_layer_norm_reference_matches_engine(affine):
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal((3, 4, 10)) * 3 + 1, rng.standard_normal((3, 4, 10))
    w = rng.standard_normal(10) if affine[0] else None
    b = rng.standard_normal(10) if affine[1] else None
    arrays = [x] + [a for a in (w, b) if a is not None]

    def fn(*ts):
        it = iter(ts[1:])
        return _ln(ts[0], next(it) if w is not None else None, next(it) if b is not None else None)

    y, grads = grads_of(fn, arrays, g)
    ry, mean, rstd = R.layer_norm_reference(x, w, b)
    np.testing.assert_allclose(ry, y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mean, x.mean(-1), rtol=1e-12)
    np.testing.assert_allclose(rstd, 1 / np.sqrt(x.var(-1) + 1e-5), rtol=1e-10)
    dx, dw, db = R.layer_norm_backward_reference(x, w, mean, rstd, g)
    np.testing.assert_allclose(dx, grads[0], rtol=1e-10, atol=1e-12)
    it = iter(grads[1:])
    if w is not None:
        np.testing.assert_allclose(dw, next(it), rtol=1e-10, atol=1e-12)
    if b is not None:
        np.testing.assert_allclose(db, next(it), rtol=1e-10, atol=1e-12)


def test_gelu_reference_matches_engine():
    x = np.linspace(-6, 6, 101)
    g = np.random.default_rng(2).standard_normal(101)
    y, (dx,) = grads_of(lambda t: F.gelu(t, approximate="tanh"), [x], g)
    np.testing.assert_allclose(R.gelu_reference(x), y, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(R.gelu_backward_reference(x, g), dx, rtol=1e-12, atol=1e-14)


def ce_case(rng, n=12, v=9, ignore_index=-1, ignored=(1, 5, 6)):
    logits = rng.standard_normal((n, v)) * 2
    t = rng.integers(0, v, size=n)
    t[list(ignored)] = ignore_index
    return logits, t


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [-1, -100, 3])
def test_cross_entropy_reference_matches_engine(reduction, ignore_index):
    rng = np.random.default_rng(3)
    logits, t = ce_case(rng, ignore_index=ignore_index)
    upstream = rng.standard_normal(t.shape) if reduction == "none" else np.array(rng.standard_normal())
    loss, (dlogits,) = grads_of(lambda z: F.cross_entropy(z, t, ignore_index=ignore_index, reduction=reduction),
                                [logits], upstream)
    rows, lse = R.cross_entropy_reference(logits, t, ignore_index)
    ref_loss, n_valid = R.cross_entropy_reduce(rows, t, ignore_index, reduction)
    np.testing.assert_allclose(ref_loss, loss, rtol=1e-12)
    scale = R.cross_entropy_row_scale(upstream, t, ignore_index, reduction, n_valid)
    grad = R.cross_entropy_backward_reference(logits, lse, t, scale.astype(np.float64), ignore_index)
    np.testing.assert_allclose(grad, dlogits, rtol=1e-6, atol=1e-7)  # the row scale is float32


def test_cross_entropy_reference_with_every_row_ignored_gives_nan_and_zero_grad():
    rng = np.random.default_rng(4)
    logits, t = ce_case(rng, n=3, ignored=(0, 1, 2))
    rows, lse = R.cross_entropy_reference(logits, t, -1)
    loss, n_valid = R.cross_entropy_reduce(rows, t, -1, "mean")
    assert np.isnan(loss) and n_valid == 0
    assert np.isnan(F.cross_entropy(Tensor(logits), t, ignore_index=-1).item())
    scale = R.cross_entropy_row_scale(np.array(1.0), t, -1, "mean", n_valid)
    assert not R.cross_entropy_backward_reference(logits, lse, t, scale, -1).any()


def test_cross_entropy_target_check_matches_the_engine_message():
    t = np.array([0, -1, 9, 2])
    with pytest.raises(ValueError, match=r"target id 9 is out of range \[0, 9\)"):
        C._check_targets(t, 9, -1, np)
    with pytest.raises(IndexError, match=r"target id 9 is out of range \[0, 9\)"):
        F.cross_entropy(Tensor(np.zeros((4, 9))), t, ignore_index=-1)
    C._check_targets(np.array([0, -1, 8]), 9, -1, np)


def adamw_params(rng):
    shapes = {"w": (4, 5), "b": (5,), "emb": (7, 3), "ln": (3,)}
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}


def run_nn_adamw(values, grads_per_step, lr, wd, betas, eps, device="cpu"):
    """nn.optim.AdamW on the named arrays, decay on 2-D ones, as GPT.optimizer groups them."""
    params = {k: Tensor(v.copy(), requires_grad=True, device=device) for k, v in values.items()}
    decay = [p for p in params.values() if p.ndim >= 2]
    no_decay = [p for p in params.values() if p.ndim < 2]
    opt = nn.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}],
                         lr=lr, betas=betas, eps=eps)
    for grads in grads_per_step:
        for k, p in params.items():
            p.grad = Tensor(grads[k], device=device)
        opt.step()
    return {k: p.numpy() for k, p in params.items()}, opt


ADAMW_ORDERS = {"range": ["w", "emb", "b", "ln"], "mask": ["b", "w", "ln", "emb"]}


def flat(arrays, order):
    return np.concatenate([arrays[k].ravel() for k in order]).astype(np.float32)


def unflat(buf, like, order):
    out, at = {}, 0
    for k in order:
        out[k] = buf[at:at + like[k].size].reshape(like[k].shape)
        at += like[k].size
    return out


@pytest.mark.parametrize("layout", ["range", "mask"])
def test_adamw_flat_reference_is_bitwise_nn_optim_adamw(layout):
    rng = np.random.default_rng(5)
    values = adamw_params(rng)
    steps = [{k: rng.standard_normal(v.shape).astype(np.float32) for k, v in values.items()} for _ in range(3)]
    lr, wd, betas, eps = 3e-3, 0.1, (0.9, 0.99), 1e-8
    expected, _ = run_nn_adamw(values, steps, lr, wd, betas, eps)
    order = ADAMW_ORDERS[layout]
    p, m, v = flat(values, order), np.zeros(0, np.float32), None
    m, v = np.zeros_like(p), np.zeros_like(p)
    n_decay = values["w"].size + values["emb"].size
    mask = flat({k: np.full(a.shape, a.ndim >= 2) for k, a in values.items()}, order).astype(bool)
    for i, grads in enumerate(steps, start=1):
        kw = {"decay_range": (0, n_decay)} if layout == "range" else {"decay_mask": mask}
        R.adamw_flat_reference(p, flat(grads, order), m, v, i, lr, betas, eps, wd, **kw)
    for k, arr in unflat(p, values, order).items():
        np.testing.assert_array_equal(arr, expected[k], err_msg=k)


# ---- flash attention --------------------------------------------------------------------------
FLASH_CASES = [  # B, H, T, S, D, window, block_m, block_n
    (2, 3, 37, 37, 16, None, None, 32),
    (1, 2, 50, 70, 8, None, 4, 8),  # more keys than queries (a KV prefix)
    (2, 2, 45, 45, 12, 3, None, 32),
    (1, 1, 64, 64, 8, 17, 4, 8),
    (1, 2, 33, 90, 4, 5, 8, 8),  # banded with a long prefix: early keys get no gradient
    (1, 1, 20, 20, 8, 1, 4, 8),  # window 1: each query sees itself only
    (1, 2, 70, 70, 64, None, None, 32),  # the kernel's own tiling for D = 64 (16-row blocks)
    (1, 1, 40, 56, 128, 9, None, 32),  # ... and for D = 128 (8-row blocks)
]


@pytest.mark.parametrize("B,H,T,S,D,window,bm,bn", FLASH_CASES)
def test_flash_attention_reference_matches_engine_sdpa(B, H, T, S, D, window, bm, bn):
    rng = np.random.default_rng(T * 131 + S)
    q, k, v = (rng.standard_normal((B, H, n, D)) for n in (T, S, S))
    g = rng.standard_normal((B, H, T, D))
    mask = F.causal_lower_right(T, S, window)
    y, (dq, dk, dv) = grads_of(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=mask),
                               [q, k, v], g)
    out, lse = R.flash_attention_reference(q, k, v, window=window, block_m=bm, block_n=bn)
    np.testing.assert_allclose(out, y, rtol=1e-10, atol=1e-12)
    # lse is the log-sum-exp of the masked scaled scores
    s = q @ k.swapaxes(-1, -2) / math.sqrt(D)
    keep = F.attention_mask(T, S, window)
    ref_lse = np.log(np.where(keep, np.exp(s), 0).sum(-1))
    np.testing.assert_allclose(lse, ref_lse, rtol=1e-10, atol=1e-12)
    got = R.flash_attention_backward_reference(q, k, v, out, lse, g, window=window, block_m=bm, block_n=bn)
    for name, a, b in zip(("dq", "dk", "dv"), got, (dq, dk, dv)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11, err_msg=name)


def test_flash_supported_says_when_to_fall_back():
    q = np.zeros((1, 2, 8, 64), np.float32)
    assert C.flash_supported(q, q, q)
    assert C.flash_supported(q.astype(np.float16), q.astype(np.float16), q.astype(np.float16))
    assert not C.flash_supported(q, q, q, dropout_p=0.1)
    assert not C.flash_supported(q, q, q, mask=np.ones((8, 8), bool))
    assert not C.flash_supported(q, q, q, causal=False)
    assert not C.flash_supported(q.astype(np.float64), q.astype(np.float64), q.astype(np.float64))
    big = np.zeros((1, 2, 8, 132), np.float32)
    assert not C.flash_supported(big, big, big)
    odd = np.zeros((1, 2, 8, 6), np.float32)
    assert not C.flash_supported(odd, odd, odd)
    longer_q = np.zeros((1, 2, 9, 64), np.float32)
    assert not C.flash_supported(longer_q, q, q)


# =================================================================================================
# The kernels against the references and the engine's composed path: on a GPU (TestKernelsOnGPU),
# and in the CPU emulator of tests/engine/cuda_emu.py (TestKernelsInCPUEmulator), which runs the
# same CUDA source as C++ threads and checks every launch's argument types.
# =================================================================================================
class KernelChecks:
    """The checks; a subclass says where the kernels run (``xp``, ``gpu``, ``host``, ``DEVICE``)."""

    DEVICE = "gpu"  # where the engine's composed path runs for comparison
    BIG_V = 50257  # GPT-2's vocabulary
    CE_ROWS = 40

    def xp(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def gpu(self, a):
        return self.xp().asarray(a)

    @staticmethod
    def host(a):
        return a.get() if hasattr(a, "get") else np.asarray(a)

    def engine_grads(self, fn, arrays, upstream):
        """Values and gradients of the engine's composed op on DEVICE."""
        ts = [Tensor(self.gpu(a), requires_grad=True) for a in arrays]
        y = fn(*ts)
        (y * Tensor(self.gpu(upstream))).sum().backward()
        return y.numpy(), [t.grad.numpy() for t in ts]

    # ---- softmax --------------------------------------------------------------------------------
    @pytest.mark.parametrize("shape", [(7, 300), (3, 5, 64), (2, 50257), (4, 1)])
    def test_softmax(self, shape):
        rng = np.random.default_rng(10)
        x = (rng.standard_normal(shape) * 3).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        y = C.softmax(self.gpu(x))
        assert y.shape == x.shape and y.dtype == np.float32
        np.testing.assert_allclose(self.host(y), R.softmax_reference(x.astype(np.float64)), rtol=2e-5, atol=1e-7)
        ey, (edx,) = self.engine_grads(lambda t: F.softmax(t, -1), [x], g)
        np.testing.assert_allclose(self.host(y), ey, rtol=2e-5, atol=1e-7)
        dx = C.softmax_backward(y, self.gpu(g))
        ref_dx = R.softmax_backward_reference(R.softmax_reference(x.astype(np.float64)), g.astype(np.float64))
        np.testing.assert_allclose(self.host(dx), ref_dx, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(self.host(dx), edx, rtol=1e-4, atol=1e-6)

    def test_softmax_with_masked_entries_and_float16(self):
        rng = np.random.default_rng(11)
        x = rng.standard_normal((6, 40)).astype(np.float32)
        x[:, 20:] = -np.inf  # a causal-mask-like row tail
        y = self.host(C.softmax(self.gpu(x)))
        np.testing.assert_allclose(y, R.softmax_reference(x.astype(np.float64)), rtol=2e-5, atol=1e-7)
        assert not y[:, 20:].any()
        h = rng.standard_normal((5, 333)).astype(np.float16)
        yh = C.softmax(self.gpu(h))
        assert yh.dtype == np.float16
        np.testing.assert_allclose(self.host(yh).astype(np.float64), R.softmax_reference(h.astype(np.float64)),
                                   rtol=2e-3, atol=1e-4)

    # ---- layer norm -----------------------------------------------------------------------------
    @pytest.mark.parametrize("affine", [True, False])
    @pytest.mark.parametrize("shape", [(2, 37, 768), (300, 96), (5, 1)])
    def test_layer_norm(self, shape, affine):
        rng = np.random.default_rng(12)
        c = shape[-1]
        x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        w = rng.standard_normal(c).astype(np.float32) if affine else None
        b = rng.standard_normal(c).astype(np.float32) if affine else None
        on = (lambda a: None if a is None else self.gpu(a))  # noqa: E731
        y, mean, rstd = C.layer_norm(self.gpu(x), on(w), on(b))
        x64 = x.astype(np.float64)
        ry, rmean, rrstd = R.layer_norm_reference(x64, w, b)
        np.testing.assert_allclose(self.host(y), ry, rtol=1e-4, atol=2e-5)
        np.testing.assert_allclose(self.host(mean), rmean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(self.host(rstd), rrstd, rtol=1e-4)
        if affine:
            ey, egrads = self.engine_grads(_ln, [x, w, b], g)
        else:
            ey, egrads = self.engine_grads(_ln, [x], g)
        np.testing.assert_allclose(self.host(y), ey, rtol=1e-4, atol=2e-5)
        dx, dw, db = C.layer_norm_backward(self.gpu(x), None if w is None else self.gpu(w), mean, rstd, self.gpu(g))
        rdx, rdw, rdb = R.layer_norm_backward_reference(x64, w, rmean, rrstd, g.astype(np.float64))
        np.testing.assert_allclose(self.host(dx), rdx, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(self.host(dx), egrads[0], rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(self.host(db), rdb, rtol=1e-4, atol=1e-3)
        if affine:
            np.testing.assert_allclose(self.host(dw), rdw, rtol=1e-4, atol=1e-3)
            np.testing.assert_allclose(self.host(dw), egrads[1], rtol=1e-4, atol=1e-3)
            np.testing.assert_allclose(self.host(db), egrads[2], rtol=1e-4, atol=1e-3)
        else:
            assert dw is None

    # ---- gelu -----------------------------------------------------------------------------------
    def test_gelu(self):
        rng = np.random.default_rng(13)
        x = (rng.standard_normal((33, 1000)) * 3).astype(np.float32)
        g = rng.standard_normal(x.shape).astype(np.float32)
        y = C.gelu(self.gpu(x))
        dx = C.gelu_backward(self.gpu(x), self.gpu(g))
        x64, g64 = x.astype(np.float64), g.astype(np.float64)
        np.testing.assert_allclose(self.host(y), R.gelu_reference(x64), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(self.host(dx), R.gelu_backward_reference(x64, g64), rtol=1e-4, atol=1e-5)
        ey, (edx,) = self.engine_grads(lambda t: F.gelu(t, approximate="tanh"), [x], g)
        np.testing.assert_allclose(self.host(y), ey, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(self.host(dx), edx, rtol=1e-4, atol=1e-5)
        yh = C.gelu(self.gpu(x.astype(np.float16)))
        assert yh.dtype == np.float16
        ref16 = R.gelu_reference(x.astype(np.float16).astype(np.float64))
        np.testing.assert_allclose(self.host(yh).astype(np.float64), ref16, rtol=2e-3, atol=2e-3)

    # ---- cross-entropy --------------------------------------------------------------------------
    @pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
    @pytest.mark.parametrize("v", [65, "big"])
    def test_cross_entropy(self, v, reduction):
        v = self.BIG_V if v == "big" else v
        rng = np.random.default_rng(14)
        n, ignore = self.CE_ROWS, -1
        logits = (rng.standard_normal((n, v)) * 2).astype(np.float32)
        t = rng.integers(0, v, size=n)
        t[[3, 17, 18]] = ignore
        upstream = rng.standard_normal(n).astype(np.float32) if reduction == "none" else np.float32(1.7)
        rows, lse = C.cross_entropy(self.gpu(logits), self.gpu(t), ignore)
        rrows, rlse = R.cross_entropy_reference(logits.astype(np.float64), t, ignore)
        np.testing.assert_allclose(self.host(lse), rlse, rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(self.host(rows), rrows, rtol=1e-5, atol=2e-5)
        loss, n_valid = R.cross_entropy_reduce(rows, self.gpu(t), ignore, reduction)
        eloss, (egrad,) = self.engine_grads(
            lambda z: F.cross_entropy(z, self.gpu(t), ignore_index=ignore, reduction=reduction), [logits], upstream)
        np.testing.assert_allclose(self.host(loss), eloss, rtol=1e-5, atol=2e-5)
        scale = R.cross_entropy_row_scale(self.gpu(upstream), self.gpu(t), ignore, reduction, n_valid)
        grad = C.cross_entropy_backward(self.gpu(logits), lse, self.gpu(t), scale, ignore)
        assert grad.shape == logits.shape and grad.dtype == np.float32
        rgrad = R.cross_entropy_backward_reference(logits.astype(np.float64), rlse, t,
                                                   self.host(scale).astype(np.float64), ignore)
        np.testing.assert_allclose(self.host(grad), rgrad, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(self.host(grad), egrad, rtol=1e-4, atol=1e-7)
        assert not self.host(grad)[[3, 17, 18]].any()
        inplace = self.gpu(logits)  # the gradient written over the logits: no second (N, V) buffer
        out = C.cross_entropy_backward(inplace, lse, self.gpu(t), scale, ignore, out=inplace)
        assert out is inplace
        np.testing.assert_array_equal(self.host(out), self.host(grad))

    def test_cross_entropy_rejects_out_of_range_targets(self):
        logits = self.gpu(np.zeros((3, 5), np.float32))
        with pytest.raises(ValueError, match=r"target id 5 is out of range \[0, 5\)"):
            C.cross_entropy(logits, self.gpu(np.array([0, 5, -1])), -1)

    def test_cross_entropy_float16_logits(self):
        rng = np.random.default_rng(15)
        logits = (rng.standard_normal((8, 1000)) * 2).astype(np.float16)
        t = rng.integers(0, 1000, size=8)
        rows, lse = C.cross_entropy(self.gpu(logits), self.gpu(t))
        rrows, rlse = R.cross_entropy_reference(logits.astype(np.float64), t)
        np.testing.assert_allclose(self.host(rows), rrows, rtol=1e-4, atol=1e-4)
        grad = C.cross_entropy_backward(self.gpu(logits), lse, self.gpu(t), self.gpu(np.ones(8, np.float32)))
        assert grad.dtype == np.float16
        rgrad = R.cross_entropy_backward_reference(logits.astype(np.float64), rlse, t, np.ones(8))
        np.testing.assert_allclose(self.host(grad).astype(np.float64), rgrad, rtol=1e-2, atol=1e-3)

    # ---- AdamW ----------------------------------------------------------------------------------
    @pytest.mark.parametrize("layout", ["range", "mask"])
    def test_adamw_flat(self, layout):
        rng = np.random.default_rng(16)
        values = adamw_params(rng)
        steps = [{k: rng.standard_normal(v.shape).astype(np.float32) for k, v in values.items()} for _ in range(3)]
        lr, wd, betas, eps = 3e-3, 0.1, (0.9, 0.99), 1e-8
        on_gpu, _ = run_nn_adamw(values, steps, lr, wd, betas, eps, device=self.DEVICE)
        on_cpu, _ = run_nn_adamw(values, steps, lr, wd, betas, eps, device="cpu")
        order = ADAMW_ORDERS[layout]
        p = self.gpu(flat(values, order))
        m, v = self.xp().zeros_like(p), self.xp().zeros_like(p)
        n_decay = values["w"].size + values["emb"].size
        mask = self.gpu(flat({k: np.full(a.shape, a.ndim >= 2) for k, a in values.items()}, order).astype(bool))
        for i, grads in enumerate(steps, start=1):
            kw = {"decay_range": (0, n_decay)} if layout == "range" else {"decay_mask": mask}
            C.adamw_flat(p, self.gpu(flat(grads, order)), m, v, i, lr, betas, eps, wd, **kw)
        got = unflat(self.host(p), values, order)
        for k in values:
            # one rounding per op, like the composed path: equal up to at most one ulp
            np.testing.assert_array_max_ulp(got[k], on_cpu[k], maxulp=1)
            np.testing.assert_array_max_ulp(got[k], on_gpu[k], maxulp=1)

    # ---- flash attention ------------------------------------------------------------------------
    @pytest.mark.parametrize("B,H,T,S,D,window", [
        (2, 3, 70, 70, 64, None),
        (1, 2, 100, 100, 128, None),
        (2, 2, 50, 80, 32, None),
        (1, 2, 90, 90, 64, 17),
        (1, 1, 33, 33, 16, 1),
        (1, 2, 64, 200, 64, 40),
        (1, 1, 45, 45, 8, None),
        (1, 2, 129, 129, 96, 64),
    ])
    def test_flash_attention(self, B, H, T, S, D, window):
        rng = np.random.default_rng(T + S + D)
        q, k, v = (rng.standard_normal((B, H, n, D)).astype(np.float32) for n in (T, S, S))
        g = rng.standard_normal((B, H, T, D)).astype(np.float32)
        out, lse = C.flash_attention(self.gpu(q), self.gpu(k), self.gpu(v), window=window)
        assert out.shape == q.shape and out.dtype == np.float32 and lse.shape == (B, H, T)
        q64, k64, v64, g64 = (a.astype(np.float64) for a in (q, k, v, g))
        rout, rlse = R.flash_attention_reference(q64, k64, v64, window=window)
        np.testing.assert_allclose(self.host(out), rout, rtol=1e-4, atol=2e-5)
        np.testing.assert_allclose(self.host(lse), rlse, rtol=1e-5, atol=2e-5)
        ey, (edq, edk, edv) = self.engine_grads(
            lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=F.causal_lower_right(T, S, window)),
            [q, k, v], g)
        np.testing.assert_allclose(self.host(out), ey, rtol=1e-4, atol=2e-5)
        grads = C.flash_attention_backward(self.gpu(q), self.gpu(k), self.gpu(v), out, lse, self.gpu(g), window=window)
        rgrads = R.flash_attention_backward_reference(q64, k64, v64, rout, rlse, g64, window=window)
        for name, a, r, e in zip(("dq", "dk", "dv"), grads, rgrads, (edq, edk, edv)):
            np.testing.assert_allclose(self.host(a), r, rtol=1e-3, atol=1e-4, err_msg=name)
            np.testing.assert_allclose(self.host(a), e, rtol=1e-3, atol=1e-4, err_msg=name)

    def test_flash_attention_noncontiguous_inputs_and_custom_scale(self):
        rng = np.random.default_rng(17)
        qkv = self.gpu(rng.standard_normal((2, 40, 3, 4, 32)).astype(np.float32)).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B, H, T, D) views, as nn.CausalSelfAttention makes them
        out, _ = C.flash_attention(q, k, v, scale=0.3)
        rout, _ = R.flash_attention_reference(*(self.host(a).astype(np.float64) for a in (q, k, v)), scale=0.3)
        np.testing.assert_allclose(self.host(out), rout, rtol=1e-4, atol=2e-5)

    @pytest.mark.parametrize("window", [None, 33])
    def test_flash_attention_float16(self, window):
        rng = np.random.default_rng(18)
        q, k, v = (rng.standard_normal((1, 4, 150, 64)).astype(np.float16) for _ in range(3))
        g = rng.standard_normal((1, 4, 150, 64)).astype(np.float16)
        out, lse = C.flash_attention(self.gpu(q), self.gpu(k), self.gpu(v), window=window)
        assert out.dtype == np.float16 and lse.dtype == np.float32
        q64, k64, v64, g64 = (a.astype(np.float64) for a in (q, k, v, g))
        rout, rlse = R.flash_attention_reference(q64, k64, v64, window=window)
        np.testing.assert_allclose(self.host(out).astype(np.float64), rout, rtol=1e-2, atol=3e-3)
        np.testing.assert_allclose(self.host(lse), rlse, rtol=1e-3, atol=1e-3)
        grads = C.flash_attention_backward(self.gpu(q), self.gpu(k), self.gpu(v), out, lse, self.gpu(g), window=window)
        for name, a, r in zip(("dq", "dk", "dv"), grads,
                              R.flash_attention_backward_reference(q64, k64, v64, rout, rlse, g64, window=window)):
            assert a.dtype == np.float16
            np.testing.assert_allclose(self.host(a).astype(np.float64), r, rtol=2e-2, atol=2e-2 * np.abs(r).max(),
                                       err_msg=name)


@pytest.mark.gpu
@pytest.mark.skipif(not engine.gpu_available(), reason="needs CuPy and a CUDA device")
class TestKernelsOnGPU(KernelChecks):
    DEVICE = "gpu"

    def xp(self):
        import cupy

        return cupy

    def test_flash_attention_memory_is_linear_in_t(self):
        """Pool bytes that one forward + backward adds at T=4096 are about twice those at T=2048,
        and far below one (H, T, T) float32 score matrix."""
        cp = self.xp()
        pool = cp.get_default_memory_pool()

        def peak(t):
            rng = cp.random.default_rng(0)
            q, k, v, g = (rng.standard_normal((1, 8, t, 64), dtype=cp.float32) for _ in range(4))
            cp.cuda.Device().synchronize()
            pool.free_all_blocks()
            base = pool.total_bytes()  # the inputs (and whatever earlier tests still hold)
            out, lse = C.flash_attention(q, k, v)
            grads = C.flash_attention_backward(q, k, v, out, lse, g)
            cp.cuda.Device().synchronize()
            used = pool.total_bytes() - base
            del q, k, v, g, out, lse, grads
            pool.free_all_blocks()
            return used

        peak(256)  # compile outside the measurement
        small, large = peak(2048), peak(4096)
        scores_4096 = 8 * 4096 * 4096 * 4  # what one (H, T, T) float32 score matrix alone would cost
        assert large < scores_4096 / 8, (large, scores_4096)
        assert 1.5 < large / small < 2.6, (small, large)


@functools.lru_cache(maxsize=1)
def emulator_works() -> bool:
    return cuda_emu.compiler_works()


class TestKernelsInCPUEmulator(KernelChecks):
    """The same checks with engine.kernels.cuda's CuPy swapped for cuda_emu.FakeCupy: the CUDA source runs
    as C++ threads on the CPU (needs g++), the composed path on the CPU engine."""

    DEVICE = "cpu"
    BIG_V = 5000  # 1024-thread blocks, as for 50257, but emulated in seconds
    CE_ROWS = 19

    @pytest.fixture(autouse=True)
    def _emulate(self, monkeypatch):
        if not emulator_works():
            pytest.skip("the CUDA emulator needs g++ with pthreads and _Float16")
        monkeypatch.setattr(C, "_cupy", lambda: cuda_emu.FakeCupy)
        C._raw_kernel.cache_clear()
        C._elementwise.cache_clear()
        yield
        C._raw_kernel.cache_clear()
        C._elementwise.cache_clear()

    def xp(self):
        return cuda_emu.FakeCupy
