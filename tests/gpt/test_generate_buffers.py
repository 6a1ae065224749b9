"""GPT.generate allocates its buffers once (issue 21): one KV cache per layer for the whole call,
kept across the refills past block_size, and ids written into one preallocated array."""

import numpy as np

import nn
from tinygrad_gpt.config import GPTConfig
from tinygrad_gpt.model import GPT


def test_kv_caches_are_built_once_per_call_even_when_the_context_outgrows_the_block(monkeypatch):
    model = GPT(GPTConfig(vocab_size=11, block_size=4, n_layer=3, n_head=2, n_embd=8), seed=0)
    built = []
    real = nn.KVCache

    class Counting(real):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            built.append(self)

    monkeypatch.setattr(nn, "KVCache", Counting)
    out = model.generate(np.zeros((2, 3), dtype=np.int64), 9, temperature=0)  # refills at 4, 5, ... tokens
    assert out.shape == (2, 12)
    assert len(built) == 3  # one per layer, not one per layer per refill
    assert len({id(c.k) for c in built}) == 3  # each kept its array


def test_early_stop_returns_a_compact_int64_array():
    model = GPT(GPTConfig(vocab_size=11, block_size=16, n_layer=1, n_head=2, n_embd=8), seed=0)
    first = model.generate(np.zeros((1, 2), dtype=np.int64), 1, temperature=0)[0, -1]
    out = model.generate(np.zeros((1, 2), dtype=np.int64), 10, temperature=0, stop_token=int(first))
    assert out.shape == (1, 3) and out.dtype == np.int64 and out.flags.c_contiguous
    assert out[0, -1] == first
