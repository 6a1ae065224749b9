"""One decode step of GPT.generate on raw NumPy arrays (issue 21): the speed path.

After the prompt has filled the KV caches through the model (the reference path), each new token
runs here: the same layers on (B, C) rows, no Tensor wrappers or graph bookkeeping, matmuls into
preallocated buffers (engine.ops.matmul.rows_times_weight: a GEMV at batch 1, a kernel for a few
rows), K/V written in place into the caches, attention for the one query as a table kernel over
the cache (engine.ops.fused.attend_one_query: no (T, S) scores, no mask); LayerNorm and GELU
through engine.functional (their kernels when the table has them). At batch 1 a step reads every
weight once (~475 MB at gpt2-124M), so it is memory-bound; the aim is to spend little more than
those reads.
tests/gpt/test_decode.py checks it against the reference path (logits and greedy tokens).
"""

from __future__ import annotations

import math

import numpy as np

import engine.functional as F
from engine import Tensor
from engine.ops.fused import attend_one_query
from engine.ops.matmul import rows_times_weight


def supported(model) -> bool:
    """True when ``model`` can decode here: NumPy float32/float64 weights."""
    w = model.transformer.wte.weight._data
    return type(w) is np.ndarray and w.dtype in (np.float32, np.float64)


class Decoder:
    """Runs one new token per row through ``model``, given caches the prompt filled.

    >>> from tinygrad_gpt.config import GPTConfig; from tinygrad_gpt.model import GPT; import nn, engine
    >>> m = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8), seed=0)
    >>> caches = [nn.KVCache(8)]
    >>> with engine.no_grad(): _ = m.hidden(np.zeros((1, 3), dtype=np.int64), caches)
    >>> Decoder(m, 1).step(np.array([4]), caches).shape
    (1, 11)
    """

    def __init__(self, model, batch: int):
        t = model.transformer
        c = model.config
        dt = t.wte.weight._data.dtype
        B, C = batch, c.n_embd

        def arr(p):
            return None if p is None else p._data

        self.model = model
        self.layers = []
        for blk in t.h:
            a, m = blk.attn, blk.mlp
            self.layers.append(dict(
                ln1=(arr(blk.ln_1.weight), arr(blk.ln_1.bias)), ln2=(arr(blk.ln_2.weight), arr(blk.ln_2.bias)),
                attn=(arr(a.c_attn.weight), arr(a.c_attn.bias)), proj=(arr(a.c_proj.weight), arr(a.c_proj.bias)),
                fc=(arr(m.c_fc.weight), arr(m.c_fc.bias)), mproj=(arr(m.c_proj.weight), arr(m.c_proj.bias)),
                window=a.window, eps=blk.ln_1.eps, eps2=blk.ln_2.eps,
            ))
        self.lnf = (arr(t.ln_f.weight), arr(t.ln_f.bias), t.ln_f.eps)
        self.lm = arr(model.lm_head.weight)  # (V, C), C-contiguous: logits = W @ h, no copy
        self.nh, self.hs = c.n_head, C // c.n_head
        self.scale = dt.type(1.0 / math.sqrt(self.hs))
        # (B, ·) buffers, written over every step
        self.x, self.h = np.empty((B, C), dt), np.empty((B, C), dt)
        self.qkv, self.y, self.o = np.empty((B, 3 * C), dt), np.empty((B, C), dt), np.empty((B, C), dt)
        self.f = np.empty((B, m.c_fc.weight.shape[0]), dt)
        self.logits = np.empty((B, self.lm.shape[0]), dt)

    @staticmethod
    def _ln(x, w, b, eps, out):
        w, b = (None if a is None else Tensor(a) for a in (w, b))
        out[...] = F.layer_norm(Tensor(x), x.shape[-1:], w, b, eps)._data

    @staticmethod
    def _linear(x, wb, out):
        w, b = wb  # w (N, K), x (B, K) → out (B, N)
        rows_times_weight(x, w, out)  # a GEMV at batch 1; a kernel for a few rows
        if b is not None:
            out += b

    def step(self, ids: np.ndarray, caches) -> np.ndarray:
        """Logits (B, V) for one new id per row ``ids`` (B,); appends its K/V to ``caches``."""
        t = self.model.transformer
        B, nh, hs = self.x.shape[0], self.nh, self.hs
        pos = caches[0].length
        x, h = self.x, self.h
        np.add(t.wte.weight._data[ids], t.wpe(np.arange(pos, pos + 1))._data, out=x)  # (B, C)
        for L, cache in zip(self.layers, caches):
            self._ln(x, *L["ln1"], L["eps"], h)
            self._linear(h, L["attn"], self.qkv)  # (B, 3C) = q | k | v, heads of hs inside each
            qkv = self.qkv.reshape(B, 3, nh, hs)
            cache.k[:, :, pos] = qkv[:, 1]
            cache.v[:, :, pos] = qkv[:, 2]
            cache.length = pos + 1
            start = 0 if L["window"] is None else max(0, pos + 1 - L["window"])
            attend_one_query(qkv[:, 0], cache.k, cache.v, start, pos + 1, self.scale, self.y.reshape(B, nh, hs))
            self._linear(self.y, L["proj"], self.o)
            x += self.o
            self._ln(x, *L["ln2"], L["eps2"], h)
            self._linear(h, L["fc"], self.f)
            self.f[...] = F.gelu(Tensor(self.f), approximate="tanh")._data
            self._linear(self.f, L["mproj"], self.o)
            x += self.o
        w, b, eps = self.lnf
        self._ln(x, w, b, eps, h)
        self._linear(h, (self.lm, None), self.logits)
        return self.logits
