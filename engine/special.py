"""torch.special's everyday functions: most are the engine's own ops under torch.special's names;
``entr``, ``xlog1py`` and ``ndtr`` are composed from them, so their gradients come from the engine;
``gammainc``/``gammaincc`` are the ``Gammainc`` op (engine/ops/special.py).

>>> import engine
>>> x = engine.tensor([0.0, 2.0])
>>> expit(x).tolist() == engine.sigmoid(x).tolist()
True
"""

from __future__ import annotations

import math

import engine
from engine.functional import _TORCH_INT_NAMES
from engine.ops.movement import broadcast_error
from engine.ops.special import Gammainc
from engine.tensor import Tensor

__all__ = [
    "digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammainc", "gammaincc", "gammaln", "log1p",
    "log_softmax",
    "logit", "logsumexp", "multigammaln", "ndtr", "polygamma", "psi", "round", "sinc", "softmax", "xlog1py", "xlogy",
]

digamma = psi = engine.digamma
erf, erfc, erfinv = engine.erf, engine.erfc, engine.erfinv
exp2, expm1, log1p = engine.exp2, engine.expm1, engine.log1p
expit = engine.sigmoid
gammaln = engine.lgamma
logit, logsumexp, polygamma, sinc, xlogy = engine.logit, engine.logsumexp, engine.polygamma, engine.sinc, engine.xlogy
multigammaln = engine.mvlgamma
round = engine.round  # noqa: A001  (torch.special's name)


def softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """torch.special.softmax: ``dim`` is required.

    >>> import engine
    >>> softmax(engine.tensor([0.0, 0.0]), 0).tolist()
    [0.5, 0.5]
    """
    return engine.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """torch.special.log_softmax: ``dim`` is required.

    >>> import engine
    >>> [f"{v:.4f}" for v in log_softmax(engine.tensor([0.0, 0.0]), 0).tolist()]
    ['-0.6931', '-0.6931']
    """
    return engine.log_softmax(input, dim, dtype=dtype)


def _float(x: Tensor, name: str) -> Tensor:
    """x as a Tensor of a float dtype (integers and bools go to the default float32, as torch)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"special.{name}: input must be a Tensor, got {type(x).__name__}")
    return x if x.is_floating_point() else x.float()


def entr(input: Tensor) -> Tensor:
    """Elementwise entropy term: −x·ln x for x > 0, 0 at 0, −inf for x < 0 (NaN stays NaN).

    >>> import engine
    >>> entr(engine.tensor([0.0, 0.5, -1.0])).tolist()
    [0.0, 0.3465735912322998, -inf]
    """
    x = _float(input, "entr")
    positive = x > 0
    safe = engine.where(positive, x, engine.ones_like(x))  # ln 1 = 0: no NaN in the unused branch's gradient
    value = engine.where(positive, -x * safe.log(), engine.where(x.isnan(), x, engine.zeros_like(x)))
    return engine.where(x < 0, engine.full_like(x, -math.inf), value)


def xlog1py(input: Tensor | float, other: Tensor | float) -> Tensor:
    """x·log1p(y), 0 where x == 0 (unless y is NaN), as torch.special.xlog1py.

    >>> import engine
    >>> xlog1py(engine.tensor([0.0, 2.0]), engine.tensor([-1.0, 0.0])).tolist()
    [0.0, 0.0]
    """
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError("special.xlog1py: at least one of input and other must be a Tensor")
    like = _float(input if isinstance(input, Tensor) else other, "xlog1py")
    x = _float(input, "xlog1py") if isinstance(input, Tensor) else engine.full_like(like, input)
    y = _float(other, "xlog1py") if isinstance(other, Tensor) else engine.full_like(like, other)
    x, y = engine.broadcast_tensors(x, y)
    dtype = engine.promote_types(x.dtype, y.dtype)
    x, y = x.to(dtype), y.to(dtype)
    zero = (x == 0) & ~y.isnan()
    safe_y = engine.where(zero, engine.zeros_like(y), y)  # log1p(0) = 0: the unused branch stays finite
    return engine.where(zero, engine.zeros_like(x), x * safe_y.log1p())


def ndtr(input: Tensor) -> Tensor:
    """The standard normal CDF, Φ(x) = erfc(−x/√2)/2 (accurate in both tails' relative sense where erfc is).

    >>> import engine
    >>> ndtr(engine.tensor([0.0])).tolist()
    [0.5]
    """
    x = _float(input, "ndtr")
    return (x * (-1 / math.sqrt(2))).erfc() * 0.5


def _gammainc(input: Tensor, other: Tensor, upper: bool) -> Tensor:
    name = "gammaincc" if upper else "gammainc"
    for arg, value, position in (("input", input, 1), ("other", other, 2)):
        if not isinstance(value, Tensor):
            raise TypeError(f"special_{name}(): argument '{arg}' (position {position}) must be Tensor, not "
                            f"{type(value).__name__}")
    dtype = engine.result_type(input, other)
    if dtype.kind != "f":
        kernel = "igammac_cpu" if upper else "igamma_cpu"
        raise NotImplementedError(f'"{kernel}" not implemented for \'{_TORCH_INT_NAMES.get(str(dtype), str(dtype))}\'')
    error = broadcast_error(f"special.{name}", input.shape, other.shape)
    if error is not None:
        raise error
    return Gammainc.apply(input.to(dtype), other.to(dtype), upper=upper)


def gammainc(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """The regularized lower incomplete gamma P(a, x) = γ(a, x)/Γ(a), ``input`` = a ≥ 0 and ``other``
    = x ≥ 0 broadcast together (NaN outside). Differentiable in x only: a gradient to a raises
    NotImplementedError, as torch's.

    >>> import engine
    >>> [f"{v:.4f}" for v in gammainc(engine.tensor([1.0, 2.0]), engine.tensor([1.0, 1.0])).tolist()]
    ['0.6321', '0.2642']
    """
    return _gammainc(input, other, upper=False)


def gammaincc(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """The regularized upper incomplete gamma Q(a, x) = 1 − P(a, x), computed directly (accurate where
    it is tiny); the gradient as :func:`gammainc`'s, negated.

    >>> import engine
    >>> [f"{v:.4f}" for v in gammaincc(engine.tensor([1.0]), engine.tensor([1.0])).tolist()]
    ['0.3679']
    """
    return _gammainc(input, other, upper=True)
