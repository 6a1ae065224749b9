"""torch.distributions' everyday part, composed from engine ops (so every gradient, through
``rsample``, ``log_prob``, ``entropy`` and ``kl_divergence``, comes from the engine): ``Normal``,
``MultivariateNormal``, ``Laplace``, ``Exponential``, ``Uniform``, ``Bernoulli``, ``Categorical``,
``Independent``, and ``kl_divergence`` with ``register_kl``. Names, signatures, shapes
(``batch_shape``, ``event_shape``, ``sample_shape``) and argument checks are torch's; checks run
unless ``validate_args=False`` (torch's default under ``python`` without ``-O``). Draws come from
the engine's default generator (``engine.manual_seed``).

    >>> import engine
    >>> from engine.distributions import Normal, kl_divergence
    >>> q = Normal(engine.zeros(2), engine.ones(2))
    >>> q.rsample((3,)).shape, kl_divergence(q, q).tolist()
    ((3, 2), [0.0, 0.0])

A VAE's reparameterized sample and its KL to the prior, with gradients to ``mu`` and ``log_var``::

    z = Normal(mu, (0.5 * log_var).exp()).rsample()
    kl = kl_divergence(Normal(mu, (0.5 * log_var).exp()), Normal(0.0, 1.0)).sum(-1)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

import engine
import engine.functional as F
from engine import Tensor

__all__ = ["Bernoulli", "Categorical", "Distribution", "Exponential", "Independent", "Laplace", "MultivariateNormal",
           "Normal", "Uniform", "kl_divergence", "register_kl"]

_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))


def _tensor(x, like: Tensor | None = None) -> Tensor:
    """A parameter or value as a float Tensor (numbers take ``like``'s dtype, or the default one)."""
    if isinstance(x, Tensor):
        return x
    dtype = like.dtype if like is not None and like.dtype.kind == "f" else engine.get_default_dtype()
    return engine.tensor(x, dtype=dtype)


def _broadcast_params(a, b) -> tuple[Tensor, Tensor]:
    """Two parameters as Tensors (a number takes the other's dtype), broadcast together."""
    a = _tensor(a, b if isinstance(b, Tensor) else None)
    return engine.broadcast_tensors(a, _tensor(b, a))


def _sum_rightmost(x: Tensor, n: int) -> Tensor:
    return x.sum(tuple(range(-n, 0))) if n > 0 else x


def _clamp_probs(p: Tensor) -> Tensor:
    eps = float(np.finfo(p.dtype).eps)
    return p.clamp(eps, 1 - eps)


class Distribution:
    """Base class (torch.distributions.Distribution): ``batch_shape``, ``event_shape``, ``sample``,
    ``rsample``, ``log_prob``, ``entropy``, ``cdf``, ``icdf``, ``mean``, ``mode``, ``variance``,
    ``stddev``. ``sample`` draws without a graph; ``rsample`` (where ``has_rsample``) keeps one."""

    has_rsample = False

    def __init__(self, batch_shape=(), event_shape=(), validate_args: bool | None = None):
        self._batch_shape, self._event_shape = tuple(batch_shape), tuple(event_shape)
        self._validate_args = True if validate_args is None else bool(validate_args)

    @property
    def batch_shape(self) -> tuple:
        return self._batch_shape

    @property
    def event_shape(self) -> tuple:
        return self._event_shape

    def _extended_shape(self, sample_shape=()) -> tuple:
        return tuple(sample_shape) + self._batch_shape + self._event_shape

    def sample(self, sample_shape=()) -> Tensor:
        with engine.no_grad():
            return self.rsample(sample_shape).detach()

    def rsample(self, sample_shape=()) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no rsample (no reparameterized sample)")

    def sample_n(self, n: int) -> Tensor:
        return self.sample((n,))

    def log_prob(self, value) -> Tensor:
        raise NotImplementedError

    def entropy(self) -> Tensor:
        raise NotImplementedError

    def cdf(self, value) -> Tensor:
        raise NotImplementedError

    def icdf(self, value) -> Tensor:
        raise NotImplementedError

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError

    @property
    def mode(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement mode")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def _check_parameter(self, name: str, ok, constraint: str) -> None:
        if self._validate_args and not bool(engine.all(ok).item()):
            value = getattr(self, name)
            raise ValueError(f"Expected parameter {name} ({type(value).__name__} of shape {value.shape}) of "
                             f"distribution {self!r} to satisfy the constraint {constraint}, but found invalid "
                             f"values:\n{value}")

    def _check_value(self, value: Tensor, ok, support: str) -> None:
        if self._validate_args and not bool(engine.all(ok).item()):
            raise ValueError(f"Expected value argument ({type(value).__name__} of shape {value.shape}) to be within "
                             f"the support ({support}) of the distribution {self!r}, but found invalid values:\n"
                             f"{value}")

    def __repr__(self) -> str:
        names = [n for n in ("loc", "scale", "probs", "logits", "low", "high") if n in self.__dict__]
        return f"{type(self).__name__}({', '.join(f'{n}: {self.__dict__[n].shape}' for n in names)})"


class _LocationScale(Distribution):
    """A family of ``loc`` and ``scale`` (> 0), broadcast together, centred on loc (Normal, Laplace)."""

    has_rsample = True

    def __init__(self, loc, scale, validate_args: bool | None = None):
        self.loc, self.scale = _broadcast_params(loc, scale)
        super().__init__(self.loc.shape, (), validate_args)
        self._check_parameter("scale", self.scale > 0, "GreaterThan(lower_bound=0.0)")

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc


class Normal(_LocationScale):
    """N(loc, scale²) with ``loc`` and ``scale`` (> 0) broadcast together.

    >>> round(Normal(0.0, 1.0).log_prob(0.0).item(), 4)  # -log √(2π)
    -0.9189
    """

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.scale ** 2

    def rsample(self, sample_shape=()) -> Tensor:
        """loc + ε·scale, ε ~ N(0, 1): gradients flow to loc (1) and scale (ε)."""
        eps = engine.randn(*self._extended_shape(sample_shape), dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + eps * self.scale

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.loc)
        return -((value - self.loc) ** 2) / (2 * self.variance) - self.scale.log() - _LOG_SQRT_2PI

    def entropy(self) -> Tensor:
        return 0.5 + _LOG_SQRT_2PI + self.scale.log()

    def cdf(self, value) -> Tensor:
        return 0.5 * (1 + engine.erf((_tensor(value, self.loc) - self.loc) / (self.scale * math.sqrt(2))))

    def icdf(self, value) -> Tensor:
        return self.loc + self.scale * engine.erfinv(2 * _tensor(value, self.loc) - 1) * math.sqrt(2)


class Laplace(_LocationScale):
    """Laplace(loc, scale): density exp(−|x − loc| / scale) / (2·scale), ``scale`` > 0."""

    @property
    def variance(self) -> Tensor:
        return 2 * self.scale ** 2

    @property
    def stddev(self) -> Tensor:
        return math.sqrt(2) * self.scale

    def rsample(self, sample_shape=()) -> Tensor:
        """loc − scale·sign(u)·log(1 − |u|), u ~ U(−1, 1) (kept off ±1, as torch)."""
        eps = float(np.finfo(self.loc.dtype).eps)
        u = engine.rand(*self._extended_shape(sample_shape), dtype=self.loc.dtype, device=self.loc.device)
        u = (u * 2 - 1).clamp(eps - 1, 1 - eps)
        return self.loc - self.scale * u.sign() * (-u.abs()).log1p()

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.loc)
        return -(2 * self.scale).log() - (value - self.loc).abs() / self.scale

    def entropy(self) -> Tensor:
        return 1 + (2 * self.scale).log()

    def cdf(self, value) -> Tensor:
        z = _tensor(value, self.loc) - self.loc
        return 0.5 - 0.5 * z.sign() * (-z.abs() / self.scale).expm1()

    def icdf(self, value) -> Tensor:
        term = _tensor(value, self.loc) - 0.5
        return self.loc - self.scale * term.sign() * (-2 * term.abs()).log1p()


class Exponential(Distribution):
    """Exponential(rate): density rate·exp(−rate·x) on x ≥ 0, ``rate`` > 0."""

    has_rsample = True

    def __init__(self, rate, validate_args: bool | None = None):
        self.rate = _tensor(rate)
        super().__init__(self.rate.shape, (), validate_args)
        self._check_parameter("rate", self.rate > 0, "GreaterThan(lower_bound=0.0)")

    @property
    def mean(self) -> Tensor:
        return self.rate.reciprocal()

    @property
    def mode(self) -> Tensor:
        return engine.zeros_like(self.rate)

    @property
    def variance(self) -> Tensor:
        return self.rate ** -2

    @property
    def stddev(self) -> Tensor:
        return self.rate.reciprocal()

    def rsample(self, sample_shape=()) -> Tensor:
        """−log(1 − u) / rate, u ~ U[0, 1)."""
        u = engine.rand(*self._extended_shape(sample_shape), dtype=self.rate.dtype, device=self.rate.device)
        return -(-u).log1p() / self.rate

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.rate)
        self._check_value(value, value >= 0, "GreaterThanEq(lower_bound=0.0)")
        return self.rate.log() - self.rate * value

    def entropy(self) -> Tensor:
        return 1.0 - self.rate.log()

    def cdf(self, value) -> Tensor:
        return 1 - (-self.rate * _tensor(value, self.rate)).exp()

    def icdf(self, value) -> Tensor:
        return -(-_tensor(value, self.rate)).log1p() / self.rate


class MultivariateNormal(Distribution):
    """N(loc, Σ) over the last axis, Σ given as exactly one of ``covariance_matrix``,
    ``precision_matrix`` or ``scale_tril`` (its lower Cholesky factor L, Σ = L Lᵀ); batch axes
    broadcast. Sampling is loc + L ε, densities go through a triangular solve with L."""

    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args: bool | None = None):
        loc = _tensor(loc)
        if loc.ndim < 1:
            raise ValueError("loc must be at least one-dimensional.")
        if sum(m is not None for m in (covariance_matrix, precision_matrix, scale_tril)) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or scale_tril may be specified.")
        given = next(m for m in (scale_tril, covariance_matrix, precision_matrix) if m is not None)
        given = _tensor(given, loc)
        if given.ndim < 2:
            kind = "scale_tril" if scale_tril is not None else (
                "covariance_matrix" if covariance_matrix is not None else "precision_matrix")
            raise ValueError(f"{kind} matrix must be at least two-dimensional, with optional leading batch dimensions")
        if given.shape[-2:] != (loc.shape[-1], loc.shape[-1]):
            raise ValueError(f"Incompatible shapes: loc {loc.shape} and a {given.shape[-2:]} matrix")
        if scale_tril is not None:
            self._scale_tril = given
        elif covariance_matrix is not None:
            self._scale_tril = engine.linalg.cholesky(given)
        else:
            self._scale_tril = engine.linalg.cholesky(engine.linalg.inv(given))
        batch = np.broadcast_shapes(given.shape[:-2], loc.shape[:-1])
        self.loc = loc.expand(*batch, loc.shape[-1])
        super().__init__(batch, loc.shape[-1:], validate_args)

    @property
    def scale_tril(self) -> Tensor:
        return self._scale_tril.expand(*self._batch_shape, *self._event_shape * 2)

    @property
    def covariance_matrix(self) -> Tensor:
        return self.scale_tril @ self.scale_tril.mT

    @property
    def precision_matrix(self) -> Tensor:
        return engine.linalg.inv(self.covariance_matrix)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return (self._scale_tril ** 2).sum(-1).expand(*self._batch_shape, *self._event_shape)

    def rsample(self, sample_shape=()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        eps = engine.randn(*shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + (self._scale_tril @ eps[..., None])[..., 0]

    def _half_log_det(self) -> Tensor:
        return self._scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value) -> Tensor:
        diff = _tensor(value, self.loc) - self.loc
        k = self._event_shape[0]
        m = _mahalanobis(self._scale_tril, diff)
        return -0.5 * (k * math.log(2 * math.pi) + m) - self._half_log_det()

    def entropy(self) -> Tensor:
        k = self._event_shape[0]
        h = 0.5 * k * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return h.expand(*self._batch_shape) if self._batch_shape else h


def _mahalanobis(scale_tril: Tensor, diff: Tensor) -> Tensor:
    """‖L⁻¹ diff‖² over the last axis, L broadcast over diff's leading axes."""
    lead = np.broadcast_shapes(scale_tril.shape[:-2], diff.shape[:-1])
    k = diff.shape[-1]
    sol = engine.linalg.solve_triangular(scale_tril.expand(*lead, k, k), diff.expand(*lead, k)[..., None], upper=False)
    return (sol[..., 0] ** 2).sum(-1)


class Uniform(Distribution):
    """Uniform on [low, high), ``low < high`` broadcast together."""

    has_rsample = True

    def __init__(self, low, high, validate_args: bool | None = None):
        self.low, self.high = _broadcast_params(low, high)
        super().__init__(self.low.shape, (), validate_args)
        self._check_parameter("low", self.low < self.high, "LessThan(upper_bound=high)")

    @property
    def mean(self) -> Tensor:
        return (self.high + self.low) / 2

    @property
    def mode(self) -> Tensor:
        return engine.full_like(self.high, math.nan)

    @property
    def variance(self) -> Tensor:
        return (self.high - self.low) ** 2 / 12

    @property
    def stddev(self) -> Tensor:
        return (self.high - self.low) / 12 ** 0.5

    def rsample(self, sample_shape=()) -> Tensor:
        u = engine.rand(*self._extended_shape(sample_shape), dtype=self.low.dtype, device=self.low.device)
        return self.low + u * (self.high - self.low)

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.low)
        self._check_value(value, (self.low <= value) & (value < self.high), "Interval(low, high)")
        inside = ((self.low <= value) & (self.high > value)).astype(self.low.dtype)
        return inside.log() - (self.high - self.low).log()

    def entropy(self) -> Tensor:
        return (self.high - self.low).log()

    def cdf(self, value) -> Tensor:
        return ((_tensor(value, self.low) - self.low) / (self.high - self.low)).clamp(0, 1)

    def icdf(self, value) -> Tensor:
        return _tensor(value, self.low) * (self.high - self.low) + self.low


class Bernoulli(Distribution):
    """Bernoulli of ``probs`` (in [0, 1]) or ``logits``, exactly one of them."""

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            self.probs = _tensor(probs)
            super().__init__(self.probs.shape, (), validate_args)
            self._check_parameter("probs", (self.probs >= 0) & (self.probs <= 1), "Interval(lower_bound=0.0, "
                                  "upper_bound=1.0)")
        else:
            self.logits = _tensor(logits)
            super().__init__(self.logits.shape, (), validate_args)

    def __getattr__(self, name: str):  # the other parameterization, made when first asked for
        if name == "probs":
            self.probs = F.sigmoid(self.__dict__["logits"])
            return self.probs
        if name == "logits":
            p = _clamp_probs(self.__dict__["probs"])
            self.logits = p.log() - (-p).log1p()
            return self.logits
        raise AttributeError(name)

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        mode = (self.probs >= 0.5).astype(self.probs.dtype)
        return engine.where(self.probs == 0.5, engine.full_like(mode, math.nan), mode)

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()) -> Tensor:
        with engine.no_grad():
            shape = self._extended_shape(sample_shape)
            u = engine.rand(*shape, dtype=self.probs.dtype, device=self.probs.device)
            return (u < self.probs.expand(*shape)).astype(self.probs.dtype)

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.logits)
        self._check_value(value, (value == 0) | (value == 1), "Boolean()")
        logits, value = engine.broadcast_tensors(self.logits, value)
        return -F.binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self) -> Tensor:
        return F.binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")


class Categorical(Distribution):
    """A categorical over the last axis of ``probs`` (non-negative, normalized here) or ``logits``
    (normalized by logsumexp), exactly one of them; values are int64 indices."""

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        param = _tensor(probs if probs is not None else logits)
        if param.ndim < 1:
            raise ValueError("`probs` parameter must be at least one-dimensional." if probs is not None else
                             "`logits` parameter must be at least one-dimensional.")
        if probs is not None:
            self.probs = param / param.sum(-1, keepdim=True)
        else:
            self.logits = param - param.logsumexp(-1, keepdim=True)
        self._num_events = param.shape[-1]
        super().__init__(param.shape[:-1], (), validate_args)
        if probs is not None:
            self._check_parameter("probs", param >= 0, "Simplex()")

    def __getattr__(self, name: str):
        if name == "probs":
            self.probs = F.softmax(self.__dict__["logits"], -1)
            return self.probs
        if name == "logits":
            self.logits = _clamp_probs(self.__dict__["probs"]).log()
            return self.logits
        raise AttributeError(name)

    @property
    def param_shape(self) -> tuple:
        return self._batch_shape + (self._num_events,)

    @property
    def mean(self) -> Tensor:
        return engine.full(self._batch_shape, math.nan, dtype=self.probs.dtype)

    @property
    def variance(self) -> Tensor:
        return engine.full(self._batch_shape, math.nan, dtype=self.probs.dtype)

    @property
    def mode(self) -> Tensor:
        return self.probs.argmax(-1)

    def sample(self, sample_shape=()) -> Tensor:
        with engine.no_grad():
            n = math.prod(sample_shape)
            rows = self.probs.reshape(-1, self._num_events)
            draws = engine.multinomial(rows, n, replacement=True)  # (rows, n)
            return draws.T.reshape(*self._extended_shape(sample_shape))

    def log_prob(self, value) -> Tensor:
        value = value if isinstance(value, Tensor) else engine.tensor(value)
        self._check_value(value, (value >= 0) & (value < self._num_events) & (value == value.floor()),
                          f"IntegerInterval(lower_bound=0, upper_bound={self._num_events - 1})")
        value, log_pmf = engine.broadcast_tensors(value.astype(np.int64)[..., None], self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self) -> Tensor:
        logits = self.logits.clamp(min=float(np.finfo(self.logits.dtype).min))
        return -(logits * self.probs).sum(-1)


class Independent(Distribution):
    """``base_distribution`` with its rightmost ``reinterpreted_batch_ndims`` batch axes read as event
    axes: ``log_prob`` and ``entropy`` sum over them (a diagonal Normal over a vector)."""

    def __init__(self, base_distribution: Distribution, reinterpreted_batch_ndims: int,
                 validate_args: bool | None = None):
        n = int(reinterpreted_batch_ndims)
        if n > len(base_distribution.batch_shape):
            raise ValueError("Expected reinterpreted_batch_ndims <= len(base_distribution.batch_shape), "
                             f"actual {n} vs {len(base_distribution.batch_shape)}")
        shape = base_distribution.batch_shape + base_distribution.event_shape
        event_dim = n + len(base_distribution.event_shape)
        self.base_dist, self.reinterpreted_batch_ndims = base_distribution, n
        self.has_rsample = base_distribution.has_rsample
        super().__init__(shape[:len(shape) - event_dim], shape[len(shape) - event_dim:], validate_args)

    @property
    def mean(self) -> Tensor:
        return self.base_dist.mean

    @property
    def mode(self) -> Tensor:
        return self.base_dist.mode

    @property
    def variance(self) -> Tensor:
        return self.base_dist.variance

    def sample(self, sample_shape=()) -> Tensor:
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape=()) -> Tensor:
        return self.base_dist.rsample(sample_shape)

    def log_prob(self, value) -> Tensor:
        return _sum_rightmost(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)

    def entropy(self) -> Tensor:
        return _sum_rightmost(self.base_dist.entropy(), self.reinterpreted_batch_ndims)

    def __repr__(self) -> str:
        return f"Independent({self.base_dist!r}, {self.reinterpreted_batch_ndims})"


# ---- KL divergence ----------------------------------------------------------------------------------

_KL: dict[tuple[type, type], Callable] = {}


def register_kl(type_p: type, type_q: type) -> Callable:
    """Decorator: ``fn(p, q)`` computes KL(p ‖ q) for distributions of these types (subclasses too).

    >>> @register_kl(Normal, Uniform)
    ... def _kl_normal_uniform(p, q): ...
    >>> _KL.pop((Normal, Uniform)) is _kl_normal_uniform
    True
    """
    def wrap(fn: Callable) -> Callable:
        _KL[(type_p, type_q)] = fn
        return fn
    return wrap


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """KL(p ‖ q) per batch entry, by the rule registered for the most specific pair of types."""
    for tp in type(p).__mro__:
        for tq in type(q).__mro__:
            if (tp, tq) in _KL:
                return _KL[(tp, tq)](p, q)
    raise NotImplementedError(f"No KL(p || q) is implemented for p = {type(p).__name__}, q = {type(q).__name__}")


def _infinite_where(mask: Tensor, x: Tensor, value: float) -> Tensor:
    return engine.where(mask, engine.full_like(x, value), x)


@register_kl(Normal, Normal)
def _kl_normal_normal(p: Normal, q: Normal) -> Tensor:
    var_ratio = (p.scale / q.scale) ** 2
    t1 = ((p.loc - q.loc) / q.scale) ** 2
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p: Bernoulli, q: Bernoulli) -> Tensor:
    t1 = p.probs * (F.softplus(-q.logits) - F.softplus(-p.logits))
    t1 = _infinite_where(p.probs == 0, _infinite_where(q.probs == 0, t1, math.inf), 0.0)
    t2 = (1 - p.probs) * (F.softplus(q.logits) - F.softplus(p.logits))
    t2 = _infinite_where(p.probs == 1, _infinite_where(q.probs == 1, t2, math.inf), 0.0)
    return t1 + t2


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p: Categorical, q: Categorical) -> Tensor:
    t = p.probs * (p.logits - q.logits)
    t = _infinite_where(p.probs == 0, _infinite_where(q.probs == 0, t, math.inf), 0.0)
    return t.sum(-1)


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p: Uniform, q: Uniform) -> Tensor:
    result = ((q.high - q.low) / (p.high - p.low)).log()
    return _infinite_where((q.low > p.low) | (q.high < p.high), result, math.inf)


@register_kl(Independent, Independent)
def _kl_independent_independent(p: Independent, q: Independent) -> Tensor:
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError("KL between Independents with different reinterpreted_batch_ndims")
    return _sum_rightmost(kl_divergence(p.base_dist, q.base_dist), p.reinterpreted_batch_ndims)


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn_mvn(p: MultivariateNormal, q: MultivariateNormal) -> Tensor:
    if p.event_shape != q.event_shape:
        raise ValueError("KL-divergence between two Multivariate Normals with different event shapes cannot be "
                         "computed")
    k = p.event_shape[0]
    lead = np.broadcast_shapes(p._scale_tril.shape[:-2], q._scale_tril.shape[:-2])
    q_l, p_l = q._scale_tril.expand(*lead, k, k), p._scale_tril.expand(*lead, k, k)
    term2 = (engine.linalg.solve_triangular(q_l, p_l, upper=False) ** 2).sum((-2, -1))  # tr(Σq⁻¹ Σp)
    term3 = _mahalanobis(q._scale_tril, q.loc - p.loc)
    return q._half_log_det() - p._half_log_det() + 0.5 * (term2 + term3 - k)


@register_kl(Laplace, Laplace)
def _kl_laplace_laplace(p: Laplace, q: Laplace) -> Tensor:
    scale_ratio = p.scale / q.scale
    loc_abs_diff = (p.loc - q.loc).abs()
    t1 = -scale_ratio.log()
    t2 = loc_abs_diff / q.scale
    t3 = scale_ratio * (-loc_abs_diff / p.scale).exp()
    return t1 + t2 + t3 - 1


@register_kl(Exponential, Exponential)
def _kl_exponential_exponential(p: Exponential, q: Exponential) -> Tensor:
    rate_ratio = q.rate / p.rate
    return rate_ratio - 1 - rate_ratio.log()
