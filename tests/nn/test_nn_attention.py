"""CausalSelfAttention: gradients, an exact causal (and banded) mask, and KV-cache decoding that
equals the full forward at every position."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import engine
import nn
from engine import Tensor, gradcheck, no_grad

seeds = st.integers(0, 2**32 - 1)


@st.composite
def configs(draw, max_t=6):
    n_head = draw(st.integers(1, 3))
    return dict(
        B=draw(st.integers(1, 2)),
        T=draw(st.integers(1, max_t)),
        n_head=n_head,
        n_embd=n_head * draw(st.integers(1, 3)),
        bias=draw(st.booleans()),
        window=draw(st.one_of(st.none(), st.integers(1, 4))),
    )


def make(cfg, dropout=0.0, seed=0) -> nn.CausalSelfAttention:
    engine.manual_seed(seed)
    attn = nn.CausalSelfAttention(cfg["n_embd"], cfg["n_head"], dropout=dropout, bias=cfg["bias"],
                                  window=cfg["window"])
    return attn.double()


def reference(attn: nn.CausalSelfAttention, x: np.ndarray) -> np.ndarray:
    """Multi-head causal attention in plain NumPy, from the layer's weights (eval mode)."""
    B, T, C = x.shape
    nh, hs = attn.n_head, C // attn.n_head
    w = attn.c_attn.weight.numpy()
    qkv = x @ w.T + (attn.c_attn.bias.numpy() if attn.c_attn.bias is not None else 0)
    q, k, v = (qkv[..., i * C:(i + 1) * C].reshape(B, T, nh, hs).transpose(0, 2, 1, 3) for i in range(3))
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hs)
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    allowed = j <= i
    if attn.window is not None:
        allowed &= j > i - attn.window
    s = np.where(allowed, s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    y = (p @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
    return y @ attn.c_proj.weight.numpy().T + (attn.c_proj.bias.numpy() if attn.c_proj.bias is not None else 0)


def test_fused_qkv_names_and_shapes():
    attn = nn.CausalSelfAttention(8, 2)
    names = {n: p.shape for n, p in attn.named_parameters()}
    assert names == {"c_attn.weight": (24, 8), "c_attn.bias": (24,), "c_proj.weight": (8, 8), "c_proj.bias": (8,)}
    assert [n for n, _ in nn.CausalSelfAttention(8, 2, bias=False).named_parameters()] == [
        "c_attn.weight", "c_proj.weight"]
    with pytest.raises(ValueError, match="divisible"):
        nn.CausalSelfAttention(7, 2)


@given(cfg=configs(), seed=seeds)
def test_forward_matches_numpy_reference(cfg, seed):
    attn = make(cfg, seed=seed).eval()
    x = np.random.default_rng(seed).standard_normal((cfg["B"], cfg["T"], cfg["n_embd"]))
    np.testing.assert_allclose(attn(Tensor(x)).numpy(), reference(attn, x), rtol=1e-10, atol=1e-12)


@given(cfg=configs(max_t=4), dropout=st.sampled_from([0.0, 0.25]), seed=seeds)
def test_gradients_of_input_and_parameters(cfg, dropout, seed):
    attn = make(cfg, dropout=dropout, seed=seed).train()
    x = Tensor(np.random.default_rng(seed).standard_normal((cfg["B"], cfg["T"], cfg["n_embd"])),
               requires_grad=True)

    def call(t, *params):
        engine.manual_seed(seed)  # same dropout masks on every evaluation
        return attn(t)

    gradcheck(call, x, *attn.parameters(), max_entries=16)


@given(cfg=configs(), data=st.data())
def test_a_token_changes_no_output_before_it_nor_beyond_the_window(cfg, data):
    """Perturb one token: outputs at earlier positions stay bit-identical (exact masking, not
    just small weights); with window w, so do outputs w or more positions later."""
    T = cfg["T"]
    seed = data.draw(seeds)
    t0 = data.draw(st.integers(0, T - 1), label="t0")
    attn = make(cfg, seed=seed).eval()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg["B"], T, cfg["n_embd"]))
    x2 = x.copy()
    x2[:, t0] = rng.standard_normal((cfg["B"], cfg["n_embd"])) * 10
    with no_grad():
        y, y2 = attn(Tensor(x)).numpy(), attn(Tensor(x2)).numpy()
    np.testing.assert_array_equal(y2[:, :t0], y[:, :t0])
    w = cfg["window"]
    if w is not None:
        np.testing.assert_array_equal(y2[:, t0 + w:], y[:, t0 + w:])
    assert not np.allclose(y2[:, t0], y[:, t0])  # the token itself does matter: the test can fail


@given(cfg=configs(max_t=7), data=st.data())
def test_kv_cache_decoding_equals_full_forward(cfg, data):
    """Prefill a chunk (possibly empty), then decode one token at a time through the cache:
    every position's output equals the full forward's."""
    T = cfg["T"]
    seed = data.draw(seeds)
    prefill = data.draw(st.integers(0, T - 1), label="prefill")
    attn = make(cfg, seed=seed).eval()
    x = Tensor(np.random.default_rng(seed).standard_normal((cfg["B"], T, cfg["n_embd"])))
    cache = nn.KVCache(max_len=T)
    with no_grad():
        full = attn(x).numpy()
        steps = [attn(x[:, :prefill], cache=cache).numpy()] if prefill else []
        steps += [attn(x[:, t:t + 1], cache=cache).numpy() for t in range(prefill, T)]
    assert cache.length == T
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-12, atol=1e-13)


def test_kv_cache_overflow_reset_and_grad_mode():
    attn = nn.CausalSelfAttention(4, 2).eval()
    x = Tensor(np.random.default_rng(0).standard_normal((1, 3, 4)).astype(np.float32))
    cache = nn.KVCache(max_len=3)
    with no_grad():
        attn(x, cache=cache)
        with pytest.raises(ValueError, match="overflow"):
            attn(x[:, :1], cache=cache)
        cache.reset()
        assert cache.length == 0
        a = attn(x[:, :1], cache=cache).numpy()
        np.testing.assert_allclose(a, attn(x).numpy()[:, :1], rtol=1e-6, atol=1e-7)
    with pytest.raises(RuntimeError, match="no_grad"):
        attn(x, cache=nn.KVCache(3))  # the cache keeps arrays, not graph: inference only


def test_dropout_only_in_train_mode():
    attn = nn.CausalSelfAttention(8, 2, dropout=0.5)
    x = Tensor(np.random.default_rng(0).standard_normal((2, 5, 8)))
    attn.double()
    with no_grad():
        attn.eval()
        np.testing.assert_array_equal(attn(x).numpy(), attn(x).numpy())
        np.testing.assert_allclose(attn(x).numpy(), reference(attn, x.numpy()), rtol=1e-10, atol=1e-12)
        attn.train()
        engine.manual_seed(0)
        a = attn(x).numpy()
        engine.manual_seed(1)
        b = attn(x).numpy()
    assert not np.allclose(a, b)
