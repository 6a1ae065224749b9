"""In-place initializers, seeded and reproducible.

Values are drawn on the CPU from a NumPy generator (``generator=`` or engine's default,
seeded by ``engine.manual_seed``) and copied to the tensor's device, so a seed gives the
same weights on CPU and GPU.

>>> from engine import Tensor, manual_seed
>>> _ = manual_seed(0); a = normal_(Tensor.zeros(3), std=0.02).numpy()
>>> _ = manual_seed(0); bool((a == normal_(Tensor.zeros(3), std=0.02).numpy()).all())
True
"""

from __future__ import annotations

import math
import warnings

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


def _uniform(gen: np.random.Generator, a: float, b: float, t: Tensor) -> np.ndarray:
    """U(a, b) in t's shape; for a complex t each part on its own, as torch fills view_as_real(t)."""
    if t.dtype.kind != "c":
        return gen.uniform(a, b, size=t.shape)
    parts = gen.uniform(a, b, size=tuple(t.shape) + (2,))
    return parts[..., 0] + 1j * parts[..., 1]


def _normal(gen: np.random.Generator, mean: float, std: float, t: Tensor) -> np.ndarray:
    """N(mean, std²) in t's shape; for a complex t each part N(mean, std²/2) (torch's normal_ on complex:
    E|z - mean(1 + i)|² = std²)."""
    if t.dtype.kind != "c":
        return gen.normal(mean, std, size=t.shape)
    parts = gen.normal(mean, std / math.sqrt(2), size=tuple(t.shape) + (2,))
    return parts[..., 0] + 1j * parts[..., 1]


def _refuse_complex(t: Tensor, words: str) -> None:
    if t.dtype.kind == "c":  # torch's error for an init its ops can't do on complex
        raise NotImplementedError(words.format("ComplexFloat" if t.dtype == np.complex64 else "ComplexDouble"))


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """torch's recommended gain for a nonlinearity.

    >>> round(calculate_gain("tanh"), 4)
    1.6667
    """
    linear = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]
    if nonlinearity in linear or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(t) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel), as torch computes them."""
    shape = tuple(t.shape) if hasattr(t, "shape") else tuple(t)
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def fans(shape: tuple) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape (kept for old callers)."""
    return _calculate_fan_in_and_fan_out(shape)


def _fan(t, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of {['fan_in', 'fan_out']}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    return fan_in if mode == "fan_in" else fan_out


def _check_range(a: float, b: float) -> None:
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}")


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Fill with U(a, b).

    >>> bool((uniform_(Tensor.zeros(4), -1.0, 1.0).numpy() < 1.0).all())
    True
    """
    _check_range(a, b)
    return _fill(tensor, _uniform(_gen(generator), a, b, tensor))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: np.random.Generator | None = None) -> Tensor:
    """Fill with N(mean, std²).

    >>> normal_(Tensor.zeros(2), mean=3.0, std=0.0).tolist()
    [3.0, 3.0]
    """
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    return _fill(tensor, _normal(_gen(generator), mean, std, tensor))


def _norm_cdf(x: float) -> float:
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator: np.random.Generator | None = None) -> Tensor:
    """N(mean, std²) truncated to [a, b], by torch's two rejection samplers: normal draws redrawn
    outside [a, b] when that keeps more than 30% of them, else uniform draws on [a, b] kept with
    the normal density's ratio to its peak (exact even for a window far in a tail).

    >>> t = trunc_normal_(Tensor.zeros(1000), std=1.0, a=-0.5, b=0.5)
    >>> bool((t.numpy() >= -0.5).all() and (t.numpy() <= 0.5).all())
    True
    """
    _refuse_complex(tensor, "\"lt_cpu\" not implemented for '{}'")
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                      "The distribution of values may be incorrect.", stacklevel=2)
    gen = _gen(generator)
    v = np.empty(math.prod(tensor.shape))
    pending = np.arange(v.size)
    if _norm_cdf((b - mean) / std) - _norm_cdf((a - mean) / std) > 0.3:
        while pending.size:
            v[pending] = gen.normal(mean, std, size=pending.size)
            pending = pending[(v[pending] < a) | (v[pending] > b)]
    else:
        _check_range(a, b)
        log_peak = -0.5 * ((max(a, min(mean, b)) - mean) / std) ** 2
        while pending.size:
            v[pending] = gen.uniform(a, b, size=pending.size)
            log_ratio = -0.5 * ((v[pending] - mean) / std) ** 2 - log_peak
            pending = pending[np.log(gen.uniform(size=pending.size)) > log_ratio]
    return _fill(tensor, v.reshape(tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    return _fill(tensor, np.full(tensor.shape, val))


def zeros_(tensor: Tensor) -> Tensor:
    return _fill(tensor, np.zeros(tensor.shape))


def ones_(tensor: Tensor) -> Tensor:
    return _fill(tensor, np.ones(tensor.shape))


def eye_(tensor: Tensor) -> Tensor:
    """The identity matrix (2-D tensors only)."""
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _fill(tensor, np.eye(*tensor.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """The Dirac delta in a {3, 4, 5}-D conv weight: identity on channels, per group."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor.shape
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_per = sizes[0] // groups
    min_dim = min(out_per, sizes[1])
    w = np.zeros(sizes)
    centre = tuple(s // 2 for s in sizes[2:])
    for g in range(groups):
        for d in range(min_dim):
            w[(g * out_per + d, d, *centre)] = 1
    return _fill(tensor, w)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Glorot: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Glorot: N(0, std²) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
    generator: np.random.Generator | None = None,
) -> Tensor:
    """He: U(-b, b) with b = gain * sqrt(3 / fan). torch.nn.Linear uses a=sqrt(5)."""
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
    generator: np.random.Generator | None = None,
) -> Tensor:
    """He: N(0, std²) with std = gain / sqrt(fan)."""
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """A (semi-)orthogonal matrix from the QR of a Gaussian one (dims after the first flattened)."""
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    # torch's QR path takes torch.sign of R's diagonal, which refuses complex
    _refuse_complex(tensor, "Unlike NumPy, torch.sign is not intended to support complex numbers. Please use "
                            "torch.sgn instead.")
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _gen(generator).normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator: np.random.Generator | None = None) -> Tensor:
    """A 2-D matrix with ``ceil(sparsity * rows)`` zeros per column, the rest N(0, std²)."""
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    gen = _gen(generator)
    w = _normal(gen, 0.0, std, tensor)
    for c in range(cols):
        w[gen.permutation(rows)[: math.ceil(sparsity * rows)], c] = 0
    return _fill(tensor, w)
