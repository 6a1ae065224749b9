"""Layers built only from engine ops: no layer defines its own backward."""

from __future__ import annotations

import math

import numpy as np

import engine.functional as F
from engine import Tensor
from engine.backend import to_device
from nn import init
from nn.module import Module, Parameter


def _param(shape, dtype, device) -> Parameter:
    return Parameter(Tensor.zeros(*shape, dtype=dtype, device=device))


class Linear(Module):
    """y = x Wᵀ + b, with W (out, in). Initialized as torch does: U(±1/sqrt(in)).

    >>> Linear(3, 2)(Tensor.randn(4, 3)).shape
    (4, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype="float32", device: str = "cpu"):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = _param((out_features, in_features), dtype, device)
        self.bias = _param((out_features,), dtype, device) if bias else None
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(in_features) if in_features else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Linear({self.in_features}, {self.out_features}) got input of shape {x.shape}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table (num, dim) indexed by integer ids. Initialized N(0, 1) as torch does.

    >>> Embedding(10, 4)(np.array([[1, 2, 3]])).shape
    (1, 3, 4)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, dtype="float32", device: str = "cpu"):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = _param((num_embeddings, embedding_dim), dtype, device)
        init.normal_(self.weight)

    def forward(self, ids) -> Tensor:
        return F.embedding(ids, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class LayerNorm(Module):
    """LayerNorm over the last axis, with an optional bias (GPT-2 has one; some models don't)."""

    def __init__(self, dim: int, eps: float = 1e-5, bias: bool = True, dtype="float32", device: str = "cpu"):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = init.ones_(_param((dim,), dtype, device))
        self.bias = _param((dim,), dtype, device) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps}, bias={self.bias is not None}"


class Dropout(Module):
    """Zeroes entries with probability p in train mode only."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class GELU(Module):
    def __init__(self, approximate: str = "tanh"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class MLP(Module):
    """GPT's feed-forward block: Linear(C, 4C) → GELU → Linear(4C, C) → Dropout.

    >>> MLP(8)(Tensor.randn(2, 3, 8)).shape
    (2, 3, 8)
    """

    def __init__(self, n_embd: int, hidden: int | None = None, dropout: float = 0.0, bias: bool = True,
                 approximate: str = "tanh"):
        super().__init__()
        hidden = hidden or 4 * n_embd
        self.c_fc = Linear(n_embd, hidden, bias=bias)
        self.gelu = GELU(approximate)
        self.c_proj = Linear(hidden, n_embd, bias=bias)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class SinusoidalPositionalEncoding(Module):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)). No parameters.

    >>> SinusoidalPositionalEncoding(16, 4)(np.arange(3)).shape
    (3, 4)
    """

    def __init__(self, max_len: int, dim: int, dtype="float32"):
        super().__init__()
        self.max_len, self.dim = max_len, dim
        pos = np.arange(max_len, dtype=np.float64)[:, None]
        freq = 10000.0 ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)  # (ceil(d/2),)
        table = np.zeros((max_len, dim))
        table[:, 0::2] = np.sin(pos * freq)
        table[:, 1::2] = np.cos(pos * freq[: dim // 2])
        self.register_buffer("table", Tensor(table.astype(dtype)))

    def forward(self, positions) -> Tensor:
        positions = _positions(positions, self.max_len, "max_len")
        return self.table[to_device(positions, self.table.device)]


class LearnedPositionalEmbedding(Embedding):
    """A trained table of position vectors (GPT-2's ``wpe``)."""

    def forward(self, positions) -> Tensor:
        return super().forward(_positions(positions, self.num_embeddings, "the number of learned positions"))


def _positions(positions, n: int, what: str):
    """Integer position ids (Tensor, array or list) checked to lie in [0, n).

    A negative position would otherwise index the table from its end and silently
    return the encoding of a late position.
    """
    if isinstance(positions, Tensor):
        positions = positions.data
    elif not hasattr(positions, "dtype"):  # a list; NumPy and CuPy arrays pass through
        positions = np.asarray(positions)
    if positions.dtype.kind not in "iu":
        raise TypeError(f"positions must be integers, got dtype {positions.dtype}")
    if positions.size:
        lo, hi = int(positions.min()), int(positions.max())
        if lo < 0:
            raise ValueError(f"position {lo} is negative")
        if hi >= n:
            raise ValueError(f"position {hi} is beyond {what} {n}")
    return positions
