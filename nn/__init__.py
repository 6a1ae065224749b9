"""nn: layers, initialization, optimizers and serialization, built only from engine ops.

>>> import nn
>>> from engine import Tensor
>>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
>>> net(Tensor.randn(3, 4)).shape
(3, 2)
"""

from nn import amp, init, optim
from nn.attention import CausalSelfAttention, KVCache
from nn.layers import (
    GELU,
    MLP,
    Dropout,
    Embedding,
    LayerNorm,
    LearnedPositionalEmbedding,
    Linear,
    ReLU,
    SinusoidalPositionalEncoding,
    Tanh,
)
from nn.module import Module, ModuleDict, ModuleList, Parameter, Sequential
from nn.serialization import load, save

__all__ = [
    "GELU", "MLP", "amp", "CausalSelfAttention", "Dropout", "Embedding", "KVCache", "LayerNorm",
    "LearnedPositionalEmbedding", "Linear", "Module", "ModuleDict", "ModuleList", "Parameter", "ReLU",
    "Sequential", "SinusoidalPositionalEncoding", "Tanh", "init", "load", "optim", "save",
]
