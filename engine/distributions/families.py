"""engine.distributions' families (torch.distributions' everyday ones), their base class and KL rules.
The package docstring (engine/distributions/__init__.py) says what is here and how to use it."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

import engine
import engine.functional as F
from engine import Tensor
from engine.backend import array_module
from engine.distributions import constraints

__all__ = ["Bernoulli", "Beta", "Binomial", "Categorical", "Cauchy", "Chi2", "Dirichlet", "Distribution", "Exponential",
           "Gamma", "Geometric", "Gumbel", "HalfCauchy", "HalfNormal", "Independent", "Laplace", "LogNormal",
           "MultivariateNormal", "Normal", "OneHotCategorical", "OneHotCategoricalStraightThrough", "Poisson",
           "StudentT", "Uniform", "kl_divergence", "register_kl"]

_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))


def _tensor(x, like: Tensor | None = None) -> Tensor:
    """A parameter or value as a float Tensor (numbers take ``like``'s dtype, or the default one)."""
    if isinstance(x, Tensor):
        return x
    dtype = like.dtype if like is not None and like.dtype.kind == "f" else engine.get_default_dtype()
    return engine.tensor(x, dtype=dtype)


def _broadcast_params(*params) -> tuple[Tensor, ...]:
    """Parameters as Tensors (a number takes the first Tensor's float dtype), broadcast together."""
    like = next((p for p in params if isinstance(p, Tensor)), None)
    return engine.broadcast_tensors(*(_tensor(p, like) for p in params))


def _sum_rightmost(x: Tensor, n: int) -> Tensor:
    return x.sum(tuple(range(-n, 0))) if n > 0 else x


def _clamp_probs(p: Tensor) -> Tensor:
    eps = float(np.finfo(p.dtype).eps)
    return p.clamp(eps, 1 - eps)


class lazy_property:
    """A property computed on first read and then kept in the instance's ``__dict__`` (torch's
    ``lazy_property``): parameters made from another parameterization, left out of the argument
    checks until something reads them."""

    def __init__(self, fn: Callable):
        self.fn, self.__doc__ = fn, fn.__doc__

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = self.fn(instance)
        instance.__dict__[self.fn.__name__] = value
        return value


class Distribution:
    """Base class (torch.distributions.Distribution): ``batch_shape``, ``event_shape``, ``sample``,
    ``rsample``, ``log_prob``, ``entropy``, ``cdf``, ``icdf``, ``mean``, ``mode``, ``variance``,
    ``stddev``, ``expand``. ``sample`` draws without a graph; ``rsample`` (where ``has_rsample``)
    keeps one. ``arg_constraints`` (parameter name -> constraint) are checked at construction and
    ``support`` in ``log_prob`` (and ``cdf``) unless ``validate_args=False``."""

    has_rsample = False
    has_enumerate_support = False
    arg_constraints: dict = {}
    _validate_args = True

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        """Whether distributions check their arguments when ``validate_args`` is not given (default True).

        >>> Distribution.set_default_validate_args(True)
        """
        if value not in (True, False):
            raise ValueError(f"set_default_validate_args: expected True or False, got {value!r}")
        Distribution._validate_args = value

    def __init__(self, batch_shape=(), event_shape=(), validate_args: bool | None = None):
        self._batch_shape, self._event_shape = tuple(batch_shape), tuple(event_shape)
        if validate_args is not None:
            self._validate_args = bool(validate_args)
        if self._validate_args:
            self._validate_parameters()

    def _validate_parameters(self) -> None:
        """torch's check of every ``arg_constraints`` entry that is set (a lazily made one is skipped)."""
        for name, constraint in self.arg_constraints.items():
            if constraints.is_dependent(constraint):
                continue
            kind = getattr(type(self), name, None)
            if name not in self.__dict__ and (kind is None or isinstance(kind, lazy_property)):
                continue
            value = getattr(self, name)
            if not bool(constraint.check(value).all().item()):
                raise ValueError(f"Expected parameter {name} ({type(value).__name__} of shape {value.shape}) of "
                                 f"distribution {self!r} to satisfy the constraint {constraint!r}, but found invalid "
                                 f"values:\n{value}")

    @property
    def support(self):
        raise NotImplementedError(f"{type(self).__name__} does not define its support")

    @property
    def batch_shape(self) -> tuple:
        return self._batch_shape

    @property
    def event_shape(self) -> tuple:
        return self._event_shape

    def _extended_shape(self, sample_shape=()) -> tuple:
        return tuple(sample_shape) + self._batch_shape + self._event_shape

    def expand(self, batch_shape, _instance=None) -> Distribution:
        """A new distribution of the same family whose parameters are broadcast to ``batch_shape``
        (views: no copy); the argument checks are not run again.

        >>> Normal(engine.zeros(3), 1.0).expand((2, 3)).batch_shape
        (2, 3)
        """
        batch_shape = tuple(batch_shape)
        new = type(self).__new__(type(self)) if _instance is None else _instance
        new.__dict__.update(self.__dict__)
        n = len(self._batch_shape)
        for name in self._expand_names():
            t = self.__dict__[name]
            new.__dict__[name] = t.expand(*batch_shape, *t.shape[n:])
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _expand_names(self) -> list[str]:
        """The Tensor attributes that ``expand`` broadcasts: the parameters set on this instance."""
        return [name for name in self.arg_constraints if isinstance(self.__dict__.get(name), Tensor)]

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

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    def cdf(self, value) -> Tensor:
        raise NotImplementedError

    def icdf(self, value) -> Tensor:
        raise NotImplementedError

    def enumerate_support(self, expand: bool = True) -> Tensor:
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

    def _validate_sample(self, value: Tensor) -> None:
        """torch's check of a ``log_prob``/``cdf`` argument: its rightmost axes are ``event_shape``,
        it broadcasts with ``batch_shape + event_shape``, and it lies in ``support``."""
        if not self._validate_args:
            return
        shape, expected = value.shape, self._batch_shape + self._event_shape
        if shape[len(shape) - len(self._event_shape):] != self._event_shape:
            raise ValueError(f"The right-most size of value must match event_shape: {shape} vs {self._event_shape}.")
        for i, j in zip(reversed(shape), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: {shape} vs {expected}.")
        support = self.support
        if not bool(support.check(value).all().item()):
            raise ValueError(f"Expected value argument ({type(value).__name__} of shape {value.shape}) to be within "
                             f"the support ({support!r}) of the distribution {self!r}, but found invalid values:\n"
                             f"{value}")

    def __repr__(self) -> str:
        names = [n for n in self.arg_constraints if isinstance(self.__dict__.get(n), Tensor)]
        return f"{type(self).__name__}({', '.join(f'{n}: {_short(self.__dict__[n])}' for n in names)})"


def _short(t: Tensor) -> str:
    """A parameter as torch's repr shows it: the number of a 0-d one, the Tensor if it has one
    element, else its shape."""
    if t.ndim == 0:
        return str(t.item())
    return str(t) if t.numel() == 1 else str(t.shape)


class _LocationScale(Distribution):
    """A family of ``loc`` and ``scale`` (> 0), broadcast together, centred on loc (Normal, Laplace)."""

    has_rsample = True
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real

    def __init__(self, loc, scale, validate_args: bool | None = None):
        self.loc, self.scale = _broadcast_params(loc, scale)
        super().__init__(self.loc.shape, (), validate_args)

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
        self._validate_sample(value)
        return -((value - self.loc) ** 2) / (2 * self.variance) - self.scale.log() - _LOG_SQRT_2PI

    def entropy(self) -> Tensor:
        return 0.5 + _LOG_SQRT_2PI + self.scale.log()

    def cdf(self, value) -> Tensor:
        value = _tensor(value, self.loc)
        self._validate_sample(value)
        return 0.5 * (1 + engine.erf((value - self.loc) / (self.scale * math.sqrt(2))))

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
        self._validate_sample(value)
        return -(2 * self.scale).log() - (value - self.loc).abs() / self.scale

    def entropy(self) -> Tensor:
        return 1 + (2 * self.scale).log()

    def cdf(self, value) -> Tensor:
        value = _tensor(value, self.loc)
        self._validate_sample(value)
        z = value - self.loc
        return 0.5 - 0.5 * z.sign() * (-z.abs() / self.scale).expm1()

    def icdf(self, value) -> Tensor:
        term = _tensor(value, self.loc) - 0.5
        return self.loc - self.scale * term.sign() * (-2 * term.abs()).log1p()


class Exponential(Distribution):
    """Exponential(rate): density rate·exp(−rate·x) on x ≥ 0, ``rate`` > 0."""

    has_rsample = True
    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative

    def __init__(self, rate, validate_args: bool | None = None):
        self.rate = _tensor(rate)
        super().__init__(self.rate.shape, (), validate_args)

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
        self._validate_sample(value)
        return self.rate.log() - self.rate * value

    def entropy(self) -> Tensor:
        return 1.0 - self.rate.log()

    def cdf(self, value) -> Tensor:
        value = _tensor(value, self.rate)
        self._validate_sample(value)
        return 1 - (-self.rate * value).exp()

    def icdf(self, value) -> Tensor:
        return -(-_tensor(value, self.rate)).log1p() / self.rate


class MultivariateNormal(Distribution):
    """N(loc, Σ) over the last axis, Σ given as exactly one of ``covariance_matrix``,
    ``precision_matrix`` or ``scale_tril`` (its lower Cholesky factor L, Σ = L Lᵀ); batch axes
    broadcast. Sampling is loc + L ε, densities go through a triangular solve with L."""

    has_rsample = True
    arg_constraints = {"loc": constraints.real_vector, "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite, "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector

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
        batch = np.broadcast_shapes(given.shape[:-2], loc.shape[:-1])
        name = "scale_tril" if scale_tril is not None else (
            "covariance_matrix" if covariance_matrix is not None else "precision_matrix")
        self.__dict__[name] = given.expand(*batch, *given.shape[-2:])  # checked against its constraint below
        self.loc = loc.expand(*batch, loc.shape[-1])
        super().__init__(batch, loc.shape[-1:], validate_args)
        if scale_tril is not None:
            self._scale_tril = given
        elif covariance_matrix is not None:
            self._scale_tril = engine.linalg.cholesky(given)
        else:
            self._scale_tril = engine.linalg.cholesky(engine.linalg.inv(given))

    @lazy_property
    def scale_tril(self) -> Tensor:
        return self._scale_tril.expand(*self._batch_shape, *self._event_shape * 2)

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        return (self._scale_tril @ self._scale_tril.mT).expand(*self._batch_shape, *self._event_shape * 2)

    @lazy_property
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
        value = _tensor(value, self.loc)
        self._validate_sample(value)
        diff = value - self.loc
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

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def arg_constraints(self) -> dict:
        return {"low": constraints.less_than(self.high), "high": constraints.greater_than(self.low)}

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.interval(self.low, self.high)

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
        self._validate_sample(value)
        inside = ((self.low <= value) & (self.high > value)).astype(self.low.dtype)
        return inside.log() - (self.high - self.low).log()

    def entropy(self) -> Tensor:
        return (self.high - self.low).log()

    def cdf(self, value) -> Tensor:
        value = _tensor(value, self.low)
        self._validate_sample(value)
        return ((value - self.low) / (self.high - self.low)).clamp(0, 1)

    def icdf(self, value) -> Tensor:
        return _tensor(value, self.low) * (self.high - self.low) + self.low


class Bernoulli(Distribution):
    """Bernoulli of ``probs`` (in [0, 1]) or ``logits``, exactly one of them."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            self.probs = _tensor(probs)
            super().__init__(self.probs.shape, (), validate_args)
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
        value = _tensor(value, self.__dict__.get("probs", self.__dict__.get("logits")))
        self._validate_sample(value)
        logits, value = engine.broadcast_tensors(self.logits, value)
        return -F.binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self) -> Tensor:
        return F.binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """0 and 1 along a new leading axis (expanded over the batch unless ``expand=False``)."""
        param = self.__dict__.get("probs", self.__dict__.get("logits"))
        values = engine.arange(2, dtype=param.dtype).reshape(-1, *(1,) * len(self._batch_shape))
        return values.expand(-1, *self._batch_shape) if expand else values


class Categorical(Distribution):
    """A categorical over the last axis of ``probs`` (non-negative, normalized here) or ``logits``
    (normalized by logsumexp), exactly one of them; values are int64 indices."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    has_enumerate_support = True

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

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

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
        self._validate_sample(value)
        value, log_pmf = engine.broadcast_tensors(value.astype(np.int64)[..., None], self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self) -> Tensor:
        logits = self.logits.clamp(min=float(np.finfo(self.logits.dtype).min))
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """0, ..., K − 1 (int64) along a new leading axis (expanded over the batch unless ``expand=False``)."""
        values = engine.arange(self._num_events, dtype=np.int64).reshape(-1, *(1,) * len(self._batch_shape))
        return values.expand(-1, *self._batch_shape) if expand else values


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

    @constraints.dependent_property
    def support(self):
        support = self.base_dist.support
        return constraints.independent(support, self.reinterpreted_batch_ndims) if self.reinterpreted_batch_ndims \
            else support

    def expand(self, batch_shape, _instance=None) -> Independent:
        new = type(self).__new__(type(self)) if _instance is None else _instance
        new.__dict__.update(self.__dict__)
        new.base_dist = self.base_dist.expand(tuple(batch_shape) + self._event_shape[:self.reinterpreted_batch_ndims])
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

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


# ---- more continuous families: LogNormal, Gumbel, Cauchy, HalfNormal, HalfCauchy, StudentT -----------

_EULER = 0.57721566490153286061


def _uniform_open(shape: tuple, like: Tensor, low: float) -> Tensor:
    """U[low, 1 − eps) in ``like``'s dtype: a uniform kept off 0 (below ``low``) and off 1."""
    finfo = np.finfo(like.dtype)
    u = engine.rand(*shape, dtype=like.dtype, device=like.device)
    return u.clamp(low, 1 - float(finfo.eps))


class LogNormal(_LocationScale):
    """exp(X) for X ~ Normal(loc, scale): ``loc`` and ``scale`` (> 0) are the log's mean and
    standard deviation; support x > 0.

    >>> round(LogNormal(0.0, 1.0).mean.item(), 4)  # exp(1/2)
    1.6487
    """

    support = constraints.positive

    @property
    def base_dist(self) -> Normal:
        return Normal(self.loc, self.scale, validate_args=False)

    @property
    def mean(self) -> Tensor:
        return (self.loc + self.scale ** 2 / 2).exp()

    @property
    def mode(self) -> Tensor:
        return (self.loc - self.scale ** 2).exp()

    @property
    def variance(self) -> Tensor:
        scale_sq = self.scale ** 2
        return scale_sq.expm1() * (2 * self.loc + scale_sq).exp()

    def rsample(self, sample_shape=()) -> Tensor:
        return self.base_dist.rsample(sample_shape).exp()

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.loc)
        self._validate_sample(value)
        log_value = value.log()
        return self.base_dist.log_prob(log_value) - log_value

    def entropy(self) -> Tensor:
        return self.base_dist.entropy() + self.loc

    def cdf(self, value) -> Tensor:
        value = _tensor(value, self.loc)
        self._validate_sample(value)
        return self.base_dist.cdf(value.log())

    def icdf(self, value) -> Tensor:
        return self.base_dist.icdf(value).exp()


class Gumbel(_LocationScale):
    """Gumbel(loc, scale): cdf exp(−exp(−(x − loc)/scale)), ``scale`` > 0.

    >>> round(Gumbel(0.0, 1.0).mean.item(), 4)  # Euler's constant
    0.5772
    """

    @property
    def mean(self) -> Tensor:
        return self.loc + self.scale * _EULER

    @property
    def stddev(self) -> Tensor:
        return (math.pi / math.sqrt(6)) * self.scale

    @property
    def variance(self) -> Tensor:
        return self.stddev ** 2

    def rsample(self, sample_shape=()) -> Tensor:
        """loc − scale·log(−log u), u ~ U[tiny, 1 − eps) (as torch's chain of transforms)."""
        u = _uniform_open(self._extended_shape(sample_shape), self.loc, float(np.finfo(self.loc.dtype).tiny))
        return self.loc - self.scale * (-u.log()).log()

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.loc)
        self._validate_sample(value)
        y = (self.loc - value) / self.scale
        return (y - y.exp()) - self.scale.log()

    def entropy(self) -> Tensor:
        return self.scale.log() + (1 + _EULER)

    def cdf(self, value) -> Tensor:
        return (-(-(_tensor(value, self.loc) - self.loc) / self.scale).exp()).exp()

    def icdf(self, value) -> Tensor:
        return self.loc - self.scale * (-_tensor(value, self.loc).log()).log()


class Cauchy(_LocationScale):
    """Cauchy(loc, scale): density 1 / (π·scale·(1 + ((x − loc)/scale)²)); no mean (nan), infinite variance."""

    @property
    def mean(self) -> Tensor:
        return engine.full_like(self.loc, math.nan)

    @property
    def variance(self) -> Tensor:
        return engine.full_like(self.loc, math.inf)

    def rsample(self, sample_shape=()) -> Tensor:
        """loc + scale·tan(π(u − 1/2)), u ~ U[0, 1)."""
        u = engine.rand(*self._extended_shape(sample_shape), dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + (math.pi * (u - 0.5)).tan() * self.scale

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.loc)
        self._validate_sample(value)
        z = (value - self.loc) / self.scale
        return -math.log(math.pi) - self.scale.log() - (z ** 2).log1p()

    def entropy(self) -> Tensor:
        return math.log(4 * math.pi) + self.scale.log()

    def cdf(self, value) -> Tensor:
        value = _tensor(value, self.loc)
        self._validate_sample(value)
        return ((value - self.loc) / self.scale).atan() / math.pi + 0.5

    def icdf(self, value) -> Tensor:
        return (math.pi * (_tensor(value, self.loc) - 0.5)).tan() * self.scale + self.loc


class _Half(Distribution):
    """|X| for X of a location-0 family (``_base``) with ``scale`` > 0; support x ≥ 0."""

    has_rsample = True
    _base: type = Normal
    arg_constraints = {"scale": constraints.positive}
    support = constraints.nonnegative

    def __init__(self, scale, validate_args: bool | None = None):
        self.scale = _tensor(scale)
        super().__init__(self.scale.shape, (), validate_args)

    @property
    def base_dist(self) -> Distribution:
        return self._base(engine.zeros_like(self.scale), self.scale, validate_args=False)

    @property
    def mode(self) -> Tensor:
        return engine.zeros_like(self.scale)

    def rsample(self, sample_shape=()) -> Tensor:
        return self.base_dist.rsample(sample_shape).abs()

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.scale)
        self._validate_sample(value)
        log_prob = self.base_dist.log_prob(value) + math.log(2)
        return _infinite_where(value < 0, log_prob, -math.inf)

    def cdf(self, value) -> Tensor:
        value = _tensor(value, self.scale)
        self._validate_sample(value)
        return 2 * self.base_dist.cdf(value) - 1

    def icdf(self, value) -> Tensor:
        return self.base_dist.icdf((_tensor(value, self.scale) + 1) / 2)

    def entropy(self) -> Tensor:
        return self.base_dist.entropy() - math.log(2)


class HalfNormal(_Half):
    """|X| for X ~ Normal(0, scale).

    >>> round(HalfNormal(1.0).mean.item(), 4)  # √(2/π)
    0.7979
    """

    @property
    def mean(self) -> Tensor:
        return self.scale * math.sqrt(2 / math.pi)

    @property
    def variance(self) -> Tensor:
        return self.scale ** 2 * (1 - 2 / math.pi)


class HalfCauchy(_Half):
    """|X| for X ~ Cauchy(0, scale); its mean and variance are infinite."""

    _base = Cauchy

    @property
    def mean(self) -> Tensor:
        return engine.full_like(self.scale, math.inf)

    @property
    def variance(self) -> Tensor:
        return engine.full_like(self.scale, math.inf)


class StudentT(Distribution):
    """Student's t with ``df`` (> 0) degrees of freedom, ``loc`` and ``scale`` (> 0), broadcast together.
    The mean is nan for df ≤ 1; the variance inf for 1 < df ≤ 2, nan for df ≤ 1.

    >>> round(StudentT(3.0).variance.item(), 4)  # df / (df − 2)
    3.0
    """

    has_rsample = True
    arg_constraints = {"df": constraints.positive, "loc": constraints.real, "scale": constraints.positive}
    support = constraints.real

    def __init__(self, df, loc=0.0, scale=1.0, validate_args: bool | None = None):
        self.df, self.loc, self.scale = _broadcast_params(df, loc, scale)
        super().__init__(self.df.shape, (), validate_args)

    @property
    def mean(self) -> Tensor:
        return _infinite_where(self.df <= 1, self.loc, math.nan)

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        big = self.df > 2
        safe_df = engine.where(big, self.df, engine.full_like(self.df, 3.0))
        var = engine.where(big, self.scale ** 2 * safe_df / (safe_df - 2), engine.full_like(self.df, math.inf))
        return _infinite_where(self.df <= 1, var, math.nan)

    def rsample(self, sample_shape=()) -> Tensor:
        """loc + scale·X/√(Z/df), X ~ N(0, 1), Z ~ Chi2(df) (reparameterized through the gamma draw)."""
        shape = self._extended_shape(sample_shape)
        x = engine.randn(*shape, dtype=self.df.dtype, device=self.df.device)
        z = Chi2(self.df, validate_args=False).rsample(sample_shape)
        return self.loc + self.scale * x * (z / self.df).rsqrt()

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.loc)
        self._validate_sample(value)
        y = (value - self.loc) / self.scale
        z = (self.scale.log() + 0.5 * self.df.log() + 0.5 * math.log(math.pi) + (0.5 * self.df).lgamma()
             - (0.5 * (self.df + 1.0)).lgamma())
        return -0.5 * (self.df + 1.0) * (y ** 2 / self.df).log1p() - z

    def entropy(self) -> Tensor:
        lbeta = (0.5 * self.df).lgamma() + math.lgamma(0.5) - (0.5 * (self.df + 1)).lgamma()
        return (self.scale.log() + 0.5 * (self.df + 1) * ((0.5 * (self.df + 1)).digamma() - (0.5 * self.df).digamma())
                + 0.5 * self.df.log() + lbeta)


# ---- the gamma family: Gamma, Chi2, Dirichlet, Beta --------------------------------------------------


def _standard_gamma(concentration: Tensor) -> Tensor:
    """Gamma(concentration, 1) draws, one per entry, with the implicit reparameterization gradient."""
    return engine._standard_gamma(concentration)


class Gamma(Distribution):
    """Gamma(concentration, rate): density rateᵃ xᵃ⁻¹ e^(−rate·x) / Γ(a) on x ≥ 0, both parameters
    > 0 and broadcast together. ``rsample`` is reparameterized (implicit gradient of the gamma draw).

    >>> g = Gamma(engine.tensor([2.0]), engine.tensor([4.0]))
    >>> g.mean.tolist(), g.variance.tolist()
    ([0.5], [0.125])
    """

    has_rsample = True
    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative

    def __init__(self, concentration, rate, validate_args: bool | None = None):
        self.concentration, self.rate = _broadcast_params(concentration, rate)
        super().__init__(self.concentration.shape, (), validate_args)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.rate

    @property
    def mode(self) -> Tensor:
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self) -> Tensor:
        return self.concentration / self.rate ** 2

    def rsample(self, sample_shape=()) -> Tensor:
        """standard_gamma(concentration) / rate, kept ≥ the dtype's tiny (as torch)."""
        shape = self._extended_shape(sample_shape)
        value = _standard_gamma(self.concentration.expand(*shape)) / self.rate.expand(*shape)
        return _clamp_tiny(value)

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.rate)
        self._validate_sample(value)
        return (engine.xlogy(self.concentration, self.rate) + engine.xlogy(self.concentration - 1, value)
                - self.rate * value - self.concentration.lgamma())

    def entropy(self) -> Tensor:
        c = self.concentration
        return c - self.rate.log() + c.lgamma() + (1.0 - c) * c.digamma()

    def cdf(self, value) -> Tensor:
        """P(concentration, rate·value), the regularized incomplete gamma: differentiable in ``rate``
        and ``value`` only (a gradient to ``concentration`` raises NotImplementedError, as torch's)."""
        value = _tensor(value, self.rate)
        self._validate_sample(value)
        return engine.special.gammainc(self.concentration, self.rate * value)


def _clamp_tiny(value: Tensor) -> Tensor:
    """``value`` raised to the dtype's tiny where it underflowed, the gradient passing unchanged
    (torch clamps the sample in place outside autograd)."""
    tiny = float(np.finfo(value.dtype).tiny)
    return value + (value.detach().clamp(min=tiny) - value.detach())


class Chi2(Gamma):
    """Chi-squared with ``df`` (> 0) degrees of freedom: Gamma(df/2, 1/2).

    >>> Chi2(engine.tensor([3.0])).variance.tolist()  # 2·df
    [6.0]
    """

    arg_constraints = {"df": constraints.positive}

    def __init__(self, df, validate_args: bool | None = None):
        df = _tensor(df)
        super().__init__(0.5 * df, engine.full_like(df, 0.5), validate_args)

    def _expand_names(self) -> list[str]:
        return ["concentration", "rate"]

    @property
    def df(self) -> Tensor:
        return self.concentration * 2


class Dirichlet(Distribution):
    """Dirichlet over the last axis of ``concentration`` (> 0, at least 1-D); values lie on the simplex.

    >>> Dirichlet(engine.tensor([1.0, 3.0])).mean.tolist()
    [0.25, 0.75]
    """

    has_rsample = True
    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex

    def __init__(self, concentration, validate_args: bool | None = None):
        concentration = _tensor(concentration)
        if concentration.ndim < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:], validate_args)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self) -> Tensor:
        cm1 = (self.concentration - 1).clamp(min=0.0)
        mode = cm1 / cm1.sum(-1, keepdim=True)
        corner = F.one_hot(mode.argmax(-1), cm1.shape[-1]).astype(mode.dtype)  # every concentration < 1
        return engine.where((self.concentration < 1).all(-1, keepdim=True), corner, mode)

    @property
    def variance(self) -> Tensor:
        c0 = self.concentration.sum(-1, keepdim=True)
        return self.concentration * (c0 - self.concentration) / (c0 ** 2 * (c0 + 1))

    def rsample(self, sample_shape=()) -> Tensor:
        """Gamma(concentration, 1) draws normalized over the last axis (the gradient flows through both)."""
        shape = self._extended_shape(sample_shape)
        g = _clamp_tiny(_standard_gamma(self.concentration.expand(*shape)))
        return _clamp_tiny(g / g.sum(-1, keepdim=True))

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.concentration)
        self._validate_sample(value)
        c = self.concentration
        return engine.xlogy(c - 1.0, value).sum(-1) + c.sum(-1).lgamma() - c.lgamma().sum(-1)

    def entropy(self) -> Tensor:
        c = self.concentration
        k, a0 = c.shape[-1], c.sum(-1)
        return c.lgamma().sum(-1) - a0.lgamma() - (k - a0) * a0.digamma() - ((c - 1.0) * c.digamma()).sum(-1)


class Beta(Distribution):
    """Beta(concentration1, concentration0) on [0, 1] (both > 0, broadcast together): the first
    coordinate of Dirichlet([concentration1, concentration0]).

    >>> Beta(2.0, 6.0).mean.item()
    0.25
    """

    has_rsample = True
    arg_constraints = {"concentration1": constraints.positive, "concentration0": constraints.positive}
    support = constraints.unit_interval

    def __init__(self, concentration1, concentration0, validate_args: bool | None = None):
        c1, c0 = _broadcast_params(concentration1, concentration0)
        self._dirichlet = Dirichlet(engine.stack([c1, c0], -1), validate_args=validate_args)
        super().__init__(self._dirichlet.batch_shape, (), validate_args)

    def expand(self, batch_shape, _instance=None) -> Beta:
        return _expand_inner(self, "_dirichlet", batch_shape, _instance)

    @property
    def concentration1(self) -> Tensor:
        return self._dirichlet.concentration[..., 0]

    @property
    def concentration0(self) -> Tensor:
        return self._dirichlet.concentration[..., 1]

    @property
    def mean(self) -> Tensor:
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self) -> Tensor:
        return self._dirichlet.mode[..., 0]

    @property
    def variance(self) -> Tensor:
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total ** 2 * (total + 1))

    def rsample(self, sample_shape=()) -> Tensor:
        return self._dirichlet.rsample(sample_shape)[..., 0]

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.concentration1)
        self._validate_sample(value)
        return self._dirichlet.log_prob(engine.stack([value, 1.0 - value], -1))

    def entropy(self) -> Tensor:
        return self._dirichlet.entropy()


# ---- more discrete families: Geometric, Poisson, Binomial, OneHotCategorical ---------------------------


class _BinaryProbs(Distribution):
    """``probs`` or ``logits`` (log-odds), exactly one, the other made when first asked for."""

    def _init_probs(self, probs, logits) -> Tensor:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            self.probs = _tensor(probs)
            return self.probs
        self.logits = _tensor(logits)
        return self.logits

    def __getattr__(self, name: str):
        if name == "probs" and "logits" in self.__dict__:
            self.probs = F.sigmoid(self.__dict__["logits"])
            return self.probs
        if name == "logits" and "probs" in self.__dict__:
            p = _clamp_probs(self.__dict__["probs"])
            self.logits = p.log() - (-p).log1p()
            return self.logits
        raise AttributeError(name)


def _expand_inner(dist: Distribution, inner: str, batch_shape, instance) -> Distribution:
    """``dist.expand(batch_shape)`` for a family that keeps its parameters in another distribution
    (Beta's Dirichlet, OneHotCategorical's Categorical): that one is expanded."""
    new = type(dist).__new__(type(dist)) if instance is None else instance
    new.__dict__.update(dist.__dict__)
    new.__dict__[inner] = dist.__dict__[inner].expand(batch_shape)
    Distribution.__init__(new, batch_shape, dist.event_shape, validate_args=False)
    new._validate_args = dist._validate_args
    return new


class Geometric(_BinaryProbs):
    """The number of failures before the first success of Bernoulli(``probs``) trials (probs in (0, 1],
    or ``logits``): P(k) = (1 − p)ᵏ p on k = 0, 1, ...

    >>> Geometric(engine.tensor([0.25])).mean.tolist()
    [3.0]
    """

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None):
        param = self._init_probs(probs, logits)
        super().__init__(param.shape, (), validate_args)
        if probs is not None:
            if self._validate_args and not bool(engine.all(self.probs > 0).item()):
                raise ValueError(f"Expected parameter probs (Tensor of shape {self.probs.shape}) of distribution "
                                 f"{self!r} to be positive but found invalid values:\n{self.probs}")

    @property
    def mean(self) -> Tensor:
        return 1.0 / self.probs - 1.0

    @property
    def mode(self) -> Tensor:
        return engine.zeros_like(self.probs)

    @property
    def variance(self) -> Tensor:
        return (1.0 / self.probs - 1.0) / self.probs

    def sample(self, sample_shape=()) -> Tensor:
        """floor(log u / log(1 − p)), u ~ U[tiny, 1)."""
        with engine.no_grad():
            p = self.probs.detach()
            u = engine.rand(*self._extended_shape(sample_shape), dtype=p.dtype, device=p.device)
            u = u.clamp(min=float(np.finfo(p.dtype).tiny))
            return (u.log() / (-p).log1p()).floor()

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.probs)
        self._validate_sample(value)
        value, probs = engine.broadcast_tensors(value, self.probs)
        probs = engine.where((probs == 1) & (value == 0), engine.zeros_like(probs), probs)  # 0·log 0 := 0
        return value * (-probs).log1p() + self.probs.log()

    def entropy(self) -> Tensor:
        return F.binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none") / self.probs


def _draw(name: str, like: Tensor, *args) -> Tensor:
    """``name`` draws of the engine's generator on ``like``'s device (NumPy's/CuPy's method, e.g.
    poisson or binomial), as a Tensor of ``like``'s float dtype, outside any graph."""
    xp = array_module(like._data)
    return Tensor(xp.asarray(getattr(engine.rng.generator(like.device), name)(*args)).astype(like.dtype))


class Poisson(Distribution):
    """Poisson(rate), ``rate`` ≥ 0: P(k) = rateᵏ e^(−rate) / k! on k = 0, 1, ...

    >>> round(Poisson(engine.tensor([2.0])).log_prob(engine.tensor([1.0])).item(), 4)  # log(2e⁻²)
    -1.3069
    """

    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate, validate_args: bool | None = None):
        self.rate = _tensor(rate)
        super().__init__(self.rate.shape, (), validate_args)

    @property
    def mean(self) -> Tensor:
        return self.rate

    @property
    def mode(self) -> Tensor:
        return self.rate.floor()

    @property
    def variance(self) -> Tensor:
        return self.rate

    def sample(self, sample_shape=()) -> Tensor:
        rate = self.rate.detach().expand(*self._extended_shape(sample_shape))
        return _draw("poisson", rate, rate._data)

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.rate)
        self._validate_sample(value)
        rate, value = engine.broadcast_tensors(self.rate, value)
        return engine.xlogy(value, rate) - rate - (value + 1).lgamma()


class Binomial(_BinaryProbs):
    """The number of successes in ``total_count`` (a non-negative integer, broadcast with the other
    parameter) Bernoulli trials of ``probs`` or ``logits``.

    >>> Binomial(10, engine.tensor([0.3])).mean.tolist()
    [3.0]
    """

    arg_constraints = {"total_count": constraints.nonnegative_integer, "probs": constraints.unit_interval,
                       "logits": constraints.real}
    has_enumerate_support = True

    def __init__(self, total_count=1, probs=None, logits=None, validate_args: bool | None = None):
        param = self._init_probs(probs, logits)
        total_count, param = _broadcast_params(total_count, param)
        self.total_count = total_count.astype(param.dtype)
        if probs is not None:
            self.probs = param
        else:
            self.logits = param
        super().__init__(param.shape, (), validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self.total_count)

    @property
    def param_shape(self) -> tuple:
        return self._batch_shape

    @property
    def mean(self) -> Tensor:
        return self.total_count * self.probs

    @property
    def mode(self) -> Tensor:
        return engine.minimum(((self.total_count + 1) * self.probs).floor(), self.total_count)

    @property
    def variance(self) -> Tensor:
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape=()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        n = self.total_count.detach().expand(*shape)
        p = self.probs.detach().expand(*shape)
        return _draw("binomial", p, n._data.astype(np.int64), p._data)

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.total_count)
        self._validate_sample(value)
        n, logits = self.total_count, self.logits
        clamped = (logits.clamp(min=0) + logits - logits.clamp(max=0)) / 2  # max(logits, 0), gradient 1/2 at 0
        normalize = n * clamped + n * (-logits.abs()).exp().log1p() - (n + 1).lgamma()
        return value * logits - (value + 1).lgamma() - (n - value + 1).lgamma() - normalize

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """0, 1, ..., total_count along a new leading axis (one total_count for the whole batch)."""
        n = int(self.total_count.max().item())
        if int(self.total_count.min().item()) != n:
            raise NotImplementedError("Inhomogeneous total count not supported by `enumerate_support`.")
        values = engine.arange(1 + n, dtype=self.total_count.dtype).reshape(-1, *(1,) * len(self._batch_shape))
        return values.expand(-1, *self._batch_shape) if expand else values

    def entropy(self) -> Tensor:
        n = int(self.total_count.max().item())
        if int(self.total_count.min().item()) != n:
            raise NotImplementedError("Inhomogeneous total count not supported by `entropy`.")
        log_prob = self.log_prob(self.enumerate_support(False))
        return -(log_prob.exp() * log_prob).sum(0)


class OneHotCategorical(Distribution):
    """A Categorical whose values are one-hot vectors over the last axis of ``probs`` or ``logits``
    (event_shape (num_events,)), in the parameter's float dtype.

    >>> OneHotCategorical(engine.tensor([0.0, 1.0])).sample().tolist()
    [0.0, 1.0]
    """

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.one_hot
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None):
        self._categorical = Categorical(probs, logits, validate_args=validate_args)
        super().__init__(self._categorical.batch_shape, self._categorical.param_shape[-1:], validate_args)

    def expand(self, batch_shape, _instance=None) -> OneHotCategorical:
        return _expand_inner(self, "_categorical", batch_shape, _instance)

    @property
    def probs(self) -> Tensor:
        return self._categorical.probs

    @property
    def logits(self) -> Tensor:
        return self._categorical.logits

    @property
    def param_shape(self) -> tuple:
        return self._categorical.param_shape

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        return F.one_hot(self.probs.argmax(-1), self._event_shape[0]).astype(self.probs.dtype)

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()) -> Tensor:
        indices = self._categorical.sample(sample_shape)
        return F.one_hot(indices, self._event_shape[0]).astype(self.probs.dtype)

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.probs)
        self._validate_sample(value)
        return self._categorical.log_prob(value.argmax(-1))

    def entropy(self) -> Tensor:
        return self._categorical.entropy()

    def enumerate_support(self, expand: bool = True) -> Tensor:
        n = self._event_shape[0]
        values = engine.eye(n, dtype=self.probs.dtype).reshape(n, *(1,) * len(self._batch_shape), n)
        return values.expand(n, *self._batch_shape, n) if expand else values


class OneHotCategoricalStraightThrough(OneHotCategorical):
    """OneHotCategorical whose ``rsample`` passes the gradient straight through to ``probs``
    (sample + probs − probs.detach())."""

    has_rsample = True

    def rsample(self, sample_shape=()) -> Tensor:
        probs = self.probs
        return self.sample(sample_shape) + (probs - probs.detach())


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


@register_kl(Gamma, Gamma)
def _kl_gamma_gamma(p: Gamma, q: Gamma) -> Tensor:
    t1 = q.concentration * (p.rate / q.rate).log()
    t2 = q.concentration.lgamma() - p.concentration.lgamma()
    t3 = (p.concentration - q.concentration) * p.concentration.digamma()
    t4 = (q.rate - p.rate) * (p.concentration / p.rate)
    return t1 + t2 + t3 + t4


@register_kl(Exponential, Gamma)
def _kl_exponential_gamma(p: Exponential, q: Gamma) -> Tensor:
    ratio = q.rate / p.rate
    return -q.concentration * ratio.log() + ratio + q.concentration.lgamma() + q.concentration * _EULER - (1 + _EULER)


@register_kl(Dirichlet, Dirichlet)
def _kl_dirichlet_dirichlet(p: Dirichlet, q: Dirichlet) -> Tensor:
    sum_p, sum_q = p.concentration.sum(-1), q.concentration.sum(-1)
    t1 = sum_p.lgamma() - sum_q.lgamma()
    t2 = (p.concentration.lgamma() - q.concentration.lgamma()).sum(-1)
    t3 = p.concentration - q.concentration
    t4 = p.concentration.digamma() - sum_p.digamma()[..., None]
    return t1 - t2 + (t3 * t4).sum(-1)


@register_kl(Beta, Beta)
def _kl_beta_beta(p: Beta, q: Beta) -> Tensor:
    return _kl_dirichlet_dirichlet(p._dirichlet, q._dirichlet)


@register_kl(Poisson, Poisson)
def _kl_poisson_poisson(p: Poisson, q: Poisson) -> Tensor:
    return p.rate * (p.rate.log() - q.rate.log()) - (p.rate - q.rate)


@register_kl(Geometric, Geometric)
def _kl_geometric_geometric(p: Geometric, q: Geometric) -> Tensor:
    return -p.entropy() - (-q.probs).log1p() / p.probs - q.logits


@register_kl(Binomial, Binomial)
def _kl_binomial_binomial(p: Binomial, q: Binomial) -> Tensor:
    if bool((p.total_count < q.total_count).any().item()):
        raise NotImplementedError("KL between Binomials where q.total_count > p.total_count is not implemented")
    kl = p.total_count * (p.probs * (p.logits - q.logits) + (-p.probs).log1p() - (-q.probs).log1p())
    return _infinite_where(p.total_count > q.total_count, kl, math.inf)


@register_kl(OneHotCategorical, OneHotCategorical)
def _kl_onehotcategorical_onehotcategorical(p: OneHotCategorical, q: OneHotCategorical) -> Tensor:
    return _kl_categorical_categorical(p._categorical, q._categorical)


@register_kl(HalfNormal, HalfNormal)
def _kl_halfnormal_halfnormal(p: HalfNormal, q: HalfNormal) -> Tensor:
    return _kl_normal_normal(p.base_dist, q.base_dist)


@register_kl(LogNormal, LogNormal)
def _kl_lognormal_lognormal(p: LogNormal, q: LogNormal) -> Tensor:
    return _kl_normal_normal(p.base_dist, q.base_dist)


@register_kl(Cauchy, Cauchy)
def _kl_cauchy_cauchy(p: Cauchy, q: Cauchy) -> Tensor:
    return ((p.scale + q.scale) ** 2 + (p.loc - q.loc) ** 2).log() - (4 * p.scale * q.scale).log()


@register_kl(HalfCauchy, HalfCauchy)
def _kl_halfcauchy_halfcauchy(p: HalfCauchy, q: HalfCauchy) -> Tensor:
    return _kl_cauchy_cauchy(p.base_dist, q.base_dist)


@register_kl(Gumbel, Gumbel)
def _kl_gumbel_gumbel(p: Gumbel, q: Gumbel) -> Tensor:
    ct1, ct2, ct3 = p.scale / q.scale, q.loc / q.scale, p.loc / q.scale
    t1 = -ct1.log() - ct2 + ct3
    t2 = ct1 * _EULER
    t3 = (ct2 + (1 + ct1).lgamma() - ct3).exp()
    return t1 + t2 + t3 - (1 + _EULER)
