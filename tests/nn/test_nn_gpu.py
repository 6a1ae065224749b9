"""nn on the GPU gives what it gives on the CPU (skipped without CuPy and a CUDA device)."""

import numpy as np
import pytest

import engine
import nn
from engine import Tensor, no_grad
from nn import init

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not engine.gpu_available(), reason="needs CuPy and a CUDA device"),
]


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(8)
        self.attn = nn.CausalSelfAttention(8, 2, window=3)
        self.mlp = nn.MLP(8)
        self.pe = nn.SinusoidalPositionalEncoding(16, 8)

    def forward(self, x, cache=None):
        x = x + self.attn(self.ln(x), cache=cache)
        return x + self.mlp(x)


def pair():
    engine.manual_seed(0)
    cpu = Block().eval()
    engine.manual_seed(0)
    gpu = Block().eval().to("gpu")
    return cpu, gpu


def test_to_gpu_moves_parameters_and_buffers_in_place():
    cpu, gpu = pair()
    params = gpu.parameters()
    assert gpu.device == "gpu" and all(p.device == "gpu" for p in params)
    assert gpu.pe.table.device == "gpu"
    for (n, p), (_, q) in zip(cpu.named_parameters(), gpu.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=n)
    gpu.to("cpu")
    assert all(p is q for p, q in zip(params, gpu.parameters())) and gpu.device == "cpu"


def test_forward_backward_and_kv_cache_match_cpu():
    cpu, gpu = pair()
    x = np.random.default_rng(0).standard_normal((2, 6, 8)).astype(np.float32)
    out_c, out_g = cpu(Tensor(x)), gpu(Tensor(x).to("gpu"))
    np.testing.assert_allclose(out_g.numpy(), out_c.numpy(), rtol=1e-5, atol=1e-5)
    out_c.sum().backward()
    out_g.sum().backward()
    for (n, p), (_, q) in zip(cpu.named_parameters(), gpu.named_parameters()):
        assert q.grad.device == "gpu"
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=n)
    cache = nn.KVCache(6)
    with no_grad():
        steps = [gpu(Tensor(x[:, t:t + 1]).to("gpu"), cache=cache).numpy() for t in range(6)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), out_c.numpy(), rtol=1e-5, atol=1e-5)


def test_optimizer_state_dict_and_save_from_gpu(tmp_path):
    cpu, gpu = pair()
    x = np.random.default_rng(1).standard_normal((1, 4, 8)).astype(np.float32)
    opts = [nn.optim.AdamW(m.parameters(), lr=0.01) for m in (cpu, gpu)]
    for model, opt, xin in ((cpu, opts[0], Tensor(x)), (gpu, opts[1], Tensor(x).to("gpu"))):
        for _ in range(3):
            opt.zero_grad()
            (model(xin) ** 2).mean().backward()
            nn.optim.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
    for (n, p), (_, q) in zip(cpu.named_parameters(), gpu.named_parameters()):
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-4, atol=1e-5, err_msg=n)
    sd = opts[1].state_dict()
    assert all(isinstance(v, np.ndarray) for s in sd["state"].values() for v in s.values() if hasattr(v, "shape"))
    path = nn.save(gpu.state_dict(), tmp_path / "m.safetensors")
    fresh = Block().to("gpu")
    fresh.load_state_dict(nn.load(path))
    for (n, p), (_, q) in zip(gpu.named_parameters(), fresh.named_parameters()):
        assert q.device == "gpu"
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=n)


def test_init_gives_the_same_values_on_both_devices():
    a = init.normal_(Tensor.zeros(4, 5), std=0.02, generator=np.random.default_rng(3))
    b = init.normal_(Tensor.zeros(4, 5, device="gpu"), std=0.02, generator=np.random.default_rng(3))
    assert b.device == "gpu"
    np.testing.assert_array_equal(a.numpy(), b.numpy())
