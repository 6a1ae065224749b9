"""tinygrad_gpt/decode.py, generate's one-token step on raw arrays, against the reference path
(the model's forward with the KV caches): the same logits and the same greedy tokens."""

import numpy as np
import pytest

import nn
from engine import no_grad
from tinygrad_gpt import decode
from tinygrad_gpt.config import GPTConfig
from tinygrad_gpt.model import GPT

pytestmark = pytest.mark.skipif(not decode.supported(GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1,
                                                                     n_head=1, n_embd=4))),
                                reason="the decode path needs numba")

CONFIGS = {
    "dense-learned": dict(),
    "alternating-sinusoidal": dict(attn_pattern="alternating", local_window=3, pos_encoding="sinusoidal"),
    "no-bias-untied": dict(bias=False, tie_weights=False, n_layer=3),
}


def model_for(dtype, **overrides) -> GPT:
    c = GPTConfig(**{**dict(vocab_size=37, block_size=16, n_layer=2, n_head=4, n_embd=32), **overrides})
    m = GPT(c, seed=0)
    m.eval()
    return m.double() if dtype == np.float64 else m


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("batch", [1, 3])
def test_step_logits_and_caches_equal_the_reference_path(dtype, tol, overrides, batch):
    model = model_for(dtype, **overrides)
    rng = np.random.default_rng(1)
    prompt = rng.integers(0, 37, size=(batch, 5))
    ref_caches = [nn.KVCache(16) for _ in range(model.config.n_layer)]
    fast_caches = [nn.KVCache(16) for _ in range(model.config.n_layer)]
    dec = decode.Decoder(model, batch)
    with no_grad():
        model.hidden(prompt, ref_caches)
        model.hidden(prompt, fast_caches)
        for _ in range(6):  # past the banded layers' window of 3
            ids = rng.integers(0, 37, size=batch)
            h = model.hidden(ids[:, None], ref_caches)
            expected = model.lm_head(h[:, -1, :]).numpy()
            got = dec.step(ids, fast_caches)
            assert got.dtype == dtype and got.shape == (batch, 37)
            np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
            for r, f in zip(ref_caches, fast_caches):
                assert r.length == f.length
                np.testing.assert_allclose(f.k[:, :, : f.length], r.k[:, :, : r.length], rtol=tol, atol=tol)
                np.testing.assert_allclose(f.v[:, :, : f.length], r.v[:, :, : r.length], rtol=tol, atol=tol)


@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
def test_generate_gives_the_same_tokens_with_and_without_the_decode_path(overrides, monkeypatch):
    model = model_for(np.float64, **overrides)
    prompt = np.random.default_rng(2).integers(0, 37, size=(2, 4))
    fast = model.generate(prompt, 20, temperature=0)  # outgrows block 16: refills, then fast steps again
    sampled_fast = model.generate(prompt, 20, temperature=0.8, top_k=10, seed=3)
    monkeypatch.setattr(GPT, "fast_decode", False)
    np.testing.assert_array_equal(fast, model.generate(prompt, 20, temperature=0))
    np.testing.assert_array_equal(sampled_fast, model.generate(prompt, 20, temperature=0.8, top_k=10, seed=3))
