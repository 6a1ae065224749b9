"""In-place initializers, seeded and reproducible.

Values are drawn on the CPU from a NumPy generator (``generator=`` or engine's default,
seeded by ``engine.manual_seed``) and copied to the tensor's device, so a seed gives the
same weights on CPU and GPU.

>>> from engine import Tensor, manual_seed
>>> manual_seed(0); a = normal_(Tensor.zeros(3), std=0.02).numpy()
>>> manual_seed(0); bool((a == normal_(Tensor.zeros(3), std=0.02).numpy()).all())
True
"""

from __future__ import annotations

import math

import numpy as np

from engine import Tensor, no_grad
from engine.backend import to_device
from engine.rng import generator as default_generator


def _fill(t: Tensor, values: np.ndarray) -> Tensor:
    with no_grad():
        t[...] = to_device(values.astype(t.dtype, copy=False), t.device)  # bumps its version
    return t


def _gen(generator: np.random.Generator | None) -> np.random.Generator:
    return generator if generator is not None else default_generator("cpu")


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Fill with N(mean, std²)."""
    return _fill(t, _gen(generator).normal(mean, std, size=t.shape))


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Fill with U(a, b)."""
    return _fill(t, _gen(generator).uniform(a, b, size=t.shape))


def zeros_(t: Tensor) -> Tensor:
    return _fill(t, np.zeros(t.shape))


def ones_(t: Tensor) -> Tensor:
    return _fill(t, np.ones(t.shape))


def fans(shape: tuple) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel), as torch computes them."""
    if len(shape) < 2:
        raise ValueError(f"fan in/out needs a tensor with at least 2 dims, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def xavier_uniform_(t: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Glorot: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(t.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound, generator)


def kaiming_uniform_(
    t: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
    generator: np.random.Generator | None = None,
) -> Tensor:
    """He: U(-b, b) with b = gain * sqrt(3 / fan). torch.nn.Linear uses a=sqrt(5)."""
    fan_in, fan_out = fans(t.shape)
    fan = {"fan_in": fan_in, "fan_out": fan_out}[mode]
    gains = {"linear": 1.0, "relu": math.sqrt(2.0), "tanh": 5.0 / 3, "leaky_relu": math.sqrt(2.0 / (1 + a * a))}
    bound = gains[nonlinearity] * math.sqrt(3.0 / fan)
    return uniform_(t, -bound, bound, generator)
