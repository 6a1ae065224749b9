"""The engine's ops and nn.optim.AdamW with engine/kernels/cuda/'s kernels wired in equal their references.

Each check runs an op forward and backward twice, once through the kernels and once composed, and
compares values and gradients; it also asserts that the kernel path was really taken. Two modes:
- CPU (always, where g++ works): the kernels run in tests/engine/cuda_emu.py's emulator on NumPy
  arrays (``engine.kernels.backend_of`` is patched to send float32/float16 NumPy arrays to "cuda").
- GPU (marked ``gpu``): real CuPy, kernels switched with ``engine.kernels.set_enabled``.
"""

from __future__ import annotations

import cuda_emu
import numpy as np
import pytest

import engine
import engine.functional as F
import engine.kernels
import engine.kernels.cuda as C
import nn
import nn.optim
from engine import Tensor
from tinygrad_gpt.config import GPTConfig
from tinygrad_gpt.model import GPT


class DispatchChecks:
    DEVICE = "cpu"

    def kernels(self, on: bool):  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self, on: bool, fn, arrays, upstream):
        """(value, grads, took_kernels) of fn on DEVICE tensors, with the kernels on or off."""
        self.kernels(on)
        engine.manual_seed(0)  # the same dropout draws on both paths
        ts = [Tensor(a, requires_grad=True, device=self.DEVICE) for a in arrays]
        y = fn(*ts)
        took = bool(getattr(y._ctx, "kernel", None))  # read before backward frees the ctx
        y.backward(Tensor(upstream, device=self.DEVICE))
        return y.numpy(), [t.grad.numpy() for t in ts], took

    def check(self, fn, arrays, upstream, rtol=2e-5):
        v1, g1, took = self.run(True, fn, arrays, upstream)
        assert took, "the op did not take the kernel path"
        v0, g0, took = self.run(False, fn, arrays, upstream)
        assert not took
        for name, a, b in [("value", v1, v0)] + [(f"grad {i}", a, b) for i, (a, b) in enumerate(zip(g1, g0))]:
            assert a.dtype == b.dtype, name
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(1.0, float(np.abs(b).max())), err_msg=name)

    def test_gelu(self):
        rng = np.random.default_rng(0)
        x = (rng.standard_normal((5, 67)) * 3).astype(np.float32)
        self.check(lambda t: F.gelu(t, approximate="tanh"), [x], rng.standard_normal(x.shape).astype(np.float32))

    def test_softmax_last_axis(self):
        rng = np.random.default_rng(1)
        x = (rng.standard_normal((3, 4, 40)) * 4).astype(np.float32)
        self.check(lambda t: F.softmax(t, axis=-1), [x], rng.standard_normal(x.shape).astype(np.float32))

    def test_softmax_other_axis_stays_composed(self):
        x = np.random.default_rng(2).standard_normal((6, 5)).astype(np.float32)
        assert not self.run(True, lambda t: F.softmax(t, axis=0), [x], np.ones((6, 5), np.float32))[2]

    @pytest.mark.parametrize("affine", [True, False])
    def test_layer_norm(self, affine):
        rng = np.random.default_rng(3)
        x = (rng.standard_normal((2, 7, 48)) * 2 + 1).astype(np.float32)
        g = rng.standard_normal(x.shape).astype(np.float32)
        if affine:
            w, b = (rng.standard_normal(48).astype(np.float32) for _ in range(2))
            self.check(lambda x_, w_, b_: F.layer_norm(x_, x_.shape[-1:], w_, b_), [x, w, b], g, rtol=1e-4)
        else:
            self.check(lambda x_: F.layer_norm(x_, x_.shape[-1:]), [x], g, rtol=1e-4)

    @pytest.mark.parametrize("reduction,ignore_index", [("mean", -100), ("mean", 3), ("sum", -100), ("none", 3)])
    def test_cross_entropy(self, reduction, ignore_index):
        rng = np.random.default_rng(4)
        logits = (rng.standard_normal((2, 9, 37)) * 3).astype(np.float32)
        t = rng.integers(0, 37, size=(2, 9))
        t[0, :3] = 3
        targets = engine.backend.to_device(t, self.DEVICE)
        up = rng.standard_normal((2, 9)).astype(np.float32) if reduction == "none" else np.float32(0.7)
        self.check(lambda z: F.cross_entropy(z.reshape(-1, 37), targets.reshape(-1), ignore_index=ignore_index,
                                             reduction=reduction), [logits], up.reshape(-1) if up.ndim else up)

    def test_cross_entropy_bad_target_names_it(self):
        self.kernels(True)
        logits = Tensor(np.zeros((4, 9), np.float32), device=self.DEVICE)
        with pytest.raises(IndexError, match=r"target id 9 is out of range \[0, 9\)"):
            F.cross_entropy(logits, engine.backend.to_device(np.array([0, 1, 9, 2]), self.DEVICE))

    @pytest.mark.parametrize("T,S,window", [(40, 40, None), (21, 50, None), (33, 33, 7), (1, 30, None), (3, 30, 4)])
    def test_scaled_dot_product_attention(self, T, S, window):
        rng = np.random.default_rng(5)
        q = rng.standard_normal((2, 3, T, 16)).astype(np.float32)
        k, v = (rng.standard_normal((2, 3, S, 16)).astype(np.float32) for _ in range(2))
        g = rng.standard_normal((2, 3, T, 16)).astype(np.float32)
        mask = F.causal_lower_right(T, S, window)
        self.check(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=mask), [q, k, v], g, rtol=1e-4)

    def test_attention_with_a_mask_or_dropout_stays_composed(self):
        x = np.random.default_rng(6).standard_normal((1, 2, 8, 8)).astype(np.float32)
        mask = engine.backend.to_device(np.tril(np.ones((8, 8), bool)), self.DEVICE)
        assert not self.run(True, lambda a: F.scaled_dot_product_attention(a, a, a, attn_mask=mask), [x], x)[2]
        qkv = np.random.default_rng(6).standard_normal((1, 8, 24)).astype(np.float32)
        g = np.ones((1, 8, 8), np.float32)
        assert self.run(True, lambda a: F.self_attention(a, 2), [qkv], g)[2]
        assert not self.run(True, lambda a: F.self_attention(a, 2, dropout_p=0.5), [qkv], g)[2]

    @pytest.mark.parametrize("window", [None, 5])
    def test_self_attention(self, window):
        rng = np.random.default_rng(7)
        qkv = rng.standard_normal((2, 30, 3 * 24)).astype(np.float32)
        g = rng.standard_normal((2, 30, 24)).astype(np.float32)
        self.check(lambda t: F.self_attention(t, 3, window=window), [qkv], g, rtol=1e-4)

    def test_adamw_is_bitwise_the_composed_update(self):
        rng = np.random.default_rng(8)
        values = {"w": rng.standard_normal((6, 5)), "b": rng.standard_normal(5)}
        steps = [{k: rng.standard_normal(v.shape).astype(np.float32) for k, v in values.items()} for _ in range(3)]
        results = []
        for on in (True, False):
            self.kernels(on)
            ps = {k: Tensor(v.astype(np.float32), requires_grad=True, device=self.DEVICE) for k, v in values.items()}
            opt = nn.optim.AdamW([{"params": [ps["w"]], "weight_decay": 0.1}, {"params": [ps["b"]], "weight_decay": 0}],
                                 lr=3e-3, betas=(0.9, 0.95))
            for grads in steps:
                for k, p in ps.items():
                    p.grad = Tensor(grads[k], device=self.DEVICE)
                opt.step()
            results.append({k: p.numpy() for k, p in ps.items()})
        for k in values:
            np.testing.assert_array_equal(results[0][k], results[1][k], err_msg=k)

    def test_gpt_training_steps_match(self):
        cfg = GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.0)
        rng = np.random.default_rng(9)
        x, y = (engine.backend.to_device(rng.integers(0, 50, size=(3, 16)), self.DEVICE) for _ in range(2))
        losses = []
        for on in (True, False):
            self.kernels(on)
            model = GPT(cfg, seed=0).to(self.DEVICE)
            opt = model.optimizer(1e-2, 0.1)
            run = []
            for _ in range(4):
                _, loss = model(x, y)
                loss.backward()
                nn.optim.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                opt.zero_grad()
                run.append(loss.item())
            losses.append(run)
        np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)


def _emulated_backend_of(arrays):
    ok = all(a is None or (isinstance(a, np.ndarray) and a.dtype in (np.float32, np.float16)) for a in arrays)
    return "cuda" if ok else None


class TestDispatchInCPUEmulator(DispatchChecks):
    """engine.kernels.cuda runs on cuda_emu.FakeCupy: the CUDA source as C++ threads, on NumPy arrays."""

    @pytest.fixture(autouse=True)
    def _emulate(self, monkeypatch):
        if not cuda_emu.compiler_works():
            pytest.skip("the CUDA emulator needs g++ with pthreads and _Float16")
        monkeypatch.setattr(C, "_cupy", lambda: cuda_emu.FakeCupy)
        self.monkeypatch = monkeypatch
        C._raw_kernel.cache_clear()
        C._elementwise.cache_clear()
        yield
        C._raw_kernel.cache_clear()
        C._elementwise.cache_clear()

    def kernels(self, on: bool):
        self.monkeypatch.setattr(engine.kernels, "backend_of", _emulated_backend_of if on else (lambda arrays: None))


@pytest.mark.gpu
@pytest.mark.skipif(not engine.gpu_available(), reason="needs CuPy and a CUDA device")
class TestDispatchOnGPU(DispatchChecks):
    DEVICE = "gpu"

    @pytest.fixture(autouse=True)
    def _restore(self):
        old = engine.kernels.set_enabled(True, "cuda")
        yield
        engine.kernels.set_enabled(old, "cuda")

    def kernels(self, on: bool):
        engine.kernels.set_enabled(on, "cuda")

    def test_attention_memory_is_linear_in_t(self):
        """Pool bytes of a self-attention forward + backward at T=4096 are about twice those at
        T=2048, and below what one (H, T, T) float32 score matrix alone would take."""
        import cupy as cp

        pool = cp.get_default_memory_pool()

        def peak(t):
            cp.cuda.Device().synchronize()
            pool.free_all_blocks()
            base = pool.used_bytes()
            qkv = Tensor(cp.random.default_rng(0).standard_normal((1, t, 3 * 512), dtype=cp.float32),
                         requires_grad=True)
            y = F.self_attention(qkv, 8)
            y.backward(Tensor(cp.ones(y.shape, cp.float32)))
            cp.cuda.Device().synchronize()
            used = pool.total_bytes() - base
            del qkv, y
            pool.free_all_blocks()
            return used

        peak(128)
        small, large = peak(2048), peak(4096)
        assert large < 8 * 4096 * 4096 * 4, large
        assert 1.5 < large / small < 2.6, (small, large)


def test_numpy_arrays_never_take_the_cuda_kernels():
    assert engine.kernels.backend_of([np.ones(3, np.float32)]) == "cpu"
    assert engine.kernels.backend_of([None, np.ones(3, np.float16)]) is None
