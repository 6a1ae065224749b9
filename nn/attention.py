"""Multi-head causal self-attention with a fused QKV projection and an optional KV cache."""

from __future__ import annotations

import engine.functional as F
from engine import Tensor, is_grad_enabled
from engine.backend import array_module
from nn.layers import Dropout, Linear
from nn.module import Module


class KVCache:
    """Keys and values of the tokens seen so far, for one attention layer.

    Preallocated to ``max_len`` positions; inference only (it stores arrays, not graph).
    """

    def __init__(self, max_len: int):
        self.max_len = max_len
        self.k = self.v = None  # (B, nh, max_len, hs) arrays
        self.length = 0

    def reset(self) -> None:
        self.k = self.v = None
        self.length = 0

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Add (B, nh, T, hs) keys/values; return all cached ones (B, nh, S, hs)."""
        if is_grad_enabled() and (k.requires_grad or v.requires_grad):
            raise RuntimeError("KVCache is for inference: run generation under engine.no_grad()")
        b, nh, t, hs = k.shape
        if self.length + t > self.max_len:
            raise ValueError(f"KV cache overflow: {self.length} cached + {t} new > max_len {self.max_len}")
        if self.k is None:
            xp = array_module(k._data)
            self.k = xp.empty((b, nh, self.max_len, hs), dtype=k.dtype)
            self.v = xp.empty((b, nh, self.max_len, hs), dtype=v.dtype)
        self.k[:, :, self.length : self.length + t] = k._data
        self.v[:, :, self.length : self.length + t] = v._data
        self.length += t
        return Tensor(self.k[:, :, : self.length]), Tensor(self.v[:, :, : self.length])


class CausalSelfAttention(Module):
    """x (B, T, C) → (B, T, C). Names match GPT-2 checkpoints: ``c_attn`` (C→3C), ``c_proj``.

    ``window`` makes the layer locally banded (each token sees the previous ``window``
    tokens, itself included), as GPT-3's sparse layers do.

    >>> attn = CausalSelfAttention(8, 2)
    >>> attn(Tensor.randn(1, 5, 8)).shape
    (1, 5, 8)
    """

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0, bias: bool = True,
                 window: int | None = None):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd {n_embd} is not divisible by n_head {n_head}")
        self.n_embd, self.n_head, self.window, self.dropout = n_embd, n_head, window, dropout
        self.c_attn = Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = Linear(n_embd, n_embd, bias=bias)
        self.resid_dropout = Dropout(dropout)

    def forward(self, x: Tensor, cache: KVCache | None = None) -> Tensor:
        B, T, C = x.shape
        if C != self.n_embd:
            raise ValueError(f"CausalSelfAttention expects (B, T, {self.n_embd}), got {x.shape}")
        qkv = self.c_attn(x)  # (B, T, 3C)
        dropout_p = self.dropout if self.training else 0.0
        if cache is None:
            y = F.self_attention(qkv, self.n_head, dropout_p, self.window)  # one fused op
        else:
            nh, hs = self.n_head, C // self.n_head
            heads = qkv.reshape(B, T, 3, nh, hs).permute(2, 0, 3, 1, 4)  # (3, B, nh, T, hs)
            k, v = cache.append(heads[1], heads[2])  # (B, nh, S, hs), S = tokens so far
            mask = F.causal_lower_right(T, k.shape[-2], window=self.window)  # queries are the last T of S
            y = F.scaled_dot_product_attention(heads[0], k, v, attn_mask=mask, dropout_p=dropout_p)
            y = y.permute(0, 2, 1, 3).reshape(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.c_proj(y))

    def extra_repr(self) -> str:
        return f"n_embd={self.n_embd}, n_head={self.n_head}, window={self.window}"
