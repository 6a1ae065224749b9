"""TransformedDistribution (a base distribution pushed through transforms) and the relaxed
(Gumbel-softmax / Concrete) families built on it: RelaxedBernoulli and RelaxedOneHotCategorical,
as torch.distributions has them.

A tanh-squashed Gaussian policy (SAC): the sample is reparameterized, and ``log_prob`` adds the
log-Jacobian of tanh::

    >>> import engine
    >>> from engine.distributions import Normal, TransformedDistribution
    >>> from engine.distributions.transforms import TanhTransform
    >>> pi = TransformedDistribution(Normal(engine.zeros(2), engine.ones(2)), [TanhTransform(cache_size=1)])
    >>> a = pi.rsample()
    >>> pi.log_prob(a).shape, bool((a.abs() < 1).all())
    ((2,), True)
"""

from __future__ import annotations

import math

import engine
from engine import Tensor
from engine.distributions import constraints
from engine.distributions.families import (
    Categorical,
    Distribution,
    Independent,
    _clamp_probs,
    _sum_rightmost,
    _tensor,
    lazy_property,
)
from engine.distributions.transforms import ComposeTransform, ExpTransform, SigmoidTransform, Transform

__all__ = ["ExpRelaxedCategorical", "LogitRelaxedBernoulli", "RelaxedBernoulli", "RelaxedOneHotCategorical",
           "TransformedDistribution"]


class TransformedDistribution(Distribution):
    """Y = f(X), X ~ ``base_distribution``, f the composition of ``transforms`` (a Transform or a
    list): log p(y) = log p(x) − log |det ∂y/∂x|. The event shape is the larger of the base's and
    the transforms' (a transform over vectors makes a scalar base's batch axis an event axis).

    >>> import engine
    >>> from engine.distributions import Normal
    >>> from engine.distributions.transforms import ExpTransform
    >>> d = TransformedDistribution(Normal(0.0, 1.0), ExpTransform())  # a LogNormal
    >>> round(d.log_prob(engine.tensor(1.0)).item(), 4)
    -0.9189
    """

    arg_constraints: dict = {}

    def __init__(self, base_distribution: Distribution, transforms: Transform | list[Transform],
                 validate_args: bool | None = None):
        if isinstance(transforms, Transform):
            self.transforms = [transforms]
        elif isinstance(transforms, list):
            if not all(isinstance(t, Transform) for t in transforms):
                raise ValueError("transforms must be a Transform or a list of Transforms")
            self.transforms = transforms
        else:
            raise ValueError(f"transforms must be a Transform or list, but was {transforms}")
        base_shape = base_distribution.batch_shape + base_distribution.event_shape
        base_event_dim = len(base_distribution.event_shape)
        transform = ComposeTransform(self.transforms)
        if len(base_shape) < transform.domain.event_dim:
            raise ValueError(f"base_distribution needs to have shape with size at least "
                             f"{transform.domain.event_dim}, but got {base_shape}.")
        forward_shape = transform.forward_shape(base_shape)
        expanded_base_shape = transform.inverse_shape(forward_shape)
        if base_shape != expanded_base_shape:
            base_batch_shape = expanded_base_shape[:len(expanded_base_shape) - base_event_dim]
            base_distribution = base_distribution.expand(base_batch_shape)
        reinterpreted = transform.domain.event_dim - base_event_dim
        if reinterpreted > 0:
            base_distribution = Independent(base_distribution, reinterpreted)
        self.base_dist = base_distribution
        event_dim = max(transform.codomain.event_dim,
                        base_event_dim + transform.codomain.event_dim - transform.domain.event_dim)
        cut = len(forward_shape) - event_dim
        super().__init__(forward_shape[:cut], forward_shape[cut:], validate_args)

    def expand(self, batch_shape, _instance=None) -> TransformedDistribution:
        new = type(self).__new__(type(self)) if _instance is None else _instance
        new.__dict__.update(self.__dict__)
        shape = tuple(batch_shape) + self._event_shape
        for t in reversed(self.transforms):
            shape = t.inverse_shape(shape)
        new.base_dist = self.base_dist.expand(shape[:len(shape) - len(self.base_dist.event_shape)])
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property(is_discrete=False)
    def support(self):
        if not self.transforms:
            return self.base_dist.support
        support = self.transforms[-1].codomain
        if len(self._event_shape) > support.event_dim:
            support = constraints.independent(support, len(self._event_shape) - support.event_dim)
        return support

    @property
    def has_rsample(self) -> bool:
        return self.base_dist.has_rsample

    def sample(self, sample_shape=()) -> Tensor:
        with engine.no_grad():
            x = self.base_dist.sample(sample_shape)
            for transform in self.transforms:
                x = transform(x)
            return x

    def rsample(self, sample_shape=()) -> Tensor:
        x = self.base_dist.rsample(sample_shape)
        for transform in self.transforms:
            x = transform(x)
        return x

    def log_prob(self, value) -> Tensor:
        """The base's log_prob of the pulled-back value, minus each transform's log-Jacobian (summed
        over the event axes the transform does not cover)."""
        value = _tensor(value)
        self._validate_sample(value)
        event_dim = len(self._event_shape)
        log_prob = 0.0
        y = value
        for transform in reversed(self.transforms):
            x = transform.inv(y)
            event_dim += transform.domain.event_dim - transform.codomain.event_dim
            log_prob = log_prob - _sum_rightmost(transform.log_abs_det_jacobian(x, y),
                                                 event_dim - transform.domain.event_dim)
            y = x
        return log_prob + _sum_rightmost(self.base_dist.log_prob(y), event_dim - len(self.base_dist.event_shape))

    def _monotonize_cdf(self, value: Tensor) -> Tensor:
        sign = 1
        for transform in self.transforms:
            sign = sign * transform.sign
        if isinstance(sign, int) and sign == 1:
            return value
        return sign * (value - 0.5) + 0.5

    def cdf(self, value) -> Tensor:
        value = _tensor(value)
        for transform in self.transforms[::-1]:
            value = transform.inv(value)
        if self._validate_args:
            self.base_dist._validate_sample(value)
        return self._monotonize_cdf(self.base_dist.cdf(value))

    def icdf(self, value) -> Tensor:
        value = self.base_dist.icdf(self._monotonize_cdf(_tensor(value)))
        for transform in self.transforms:
            value = transform(value)
        return value


def _temperature(temperature, like: Tensor) -> Tensor:
    return temperature if isinstance(temperature, Tensor) else engine.tensor(float(temperature), dtype=like.dtype)


class LogitRelaxedBernoulli(Distribution):
    """The logit of a RelaxedBernoulli sample: (logit u + logit p) / temperature, u ~ U(0, 1).
    ``temperature`` is not broadcast into the batch shape (as torch)."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.real
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args: bool | None = None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            self.probs = self._param = _tensor(probs)
        else:
            self.logits = self._param = _tensor(logits)
        self.temperature = _temperature(temperature, self._param)
        super().__init__(self._param.shape, (), validate_args)

    def expand(self, batch_shape, _instance=None) -> LogitRelaxedBernoulli:
        new = super().expand(batch_shape, _instance)
        new._param = new.__dict__["probs"] if "probs" in self.__dict__ else new.__dict__["logits"]
        return new

    @lazy_property
    def logits(self) -> Tensor:
        p = _clamp_probs(self.probs)
        return p.log() - (-p).log1p()

    @lazy_property
    def probs(self) -> Tensor:
        return self.logits.sigmoid()

    @property
    def param_shape(self) -> tuple:
        return self._param.shape

    def rsample(self, sample_shape=()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        probs = _clamp_probs(self.probs.expand(*shape))
        u = _clamp_probs(engine.rand(*shape, dtype=probs.dtype, device=probs.device))
        return (u.log() - (-u).log1p() + probs.log() - (-probs).log1p()) / self.temperature

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self._param)
        self._validate_sample(value)
        logits, value = engine.broadcast_tensors(self.logits, value)
        diff = logits - value * self.temperature
        return self.temperature.log() + diff - 2 * diff.exp().log1p()


class _RelaxedParameters:
    """temperature, logits and probs of a relaxed family: its base distribution's."""

    @property
    def temperature(self) -> Tensor:
        return self.base_dist.temperature

    @property
    def logits(self) -> Tensor:
        return self.base_dist.logits

    @property
    def probs(self) -> Tensor:
        return self.base_dist.probs


class RelaxedBernoulli(_RelaxedParameters, TransformedDistribution):
    """A Bernoulli relaxed to (0, 1) at ``temperature`` (Concrete / Gumbel-softmax, binary): the
    sigmoid of a LogitRelaxedBernoulli sample; ``rsample`` is reparameterized.

    >>> import engine
    >>> d = RelaxedBernoulli(engine.tensor(0.5), probs=engine.tensor([0.2, 0.9]))
    >>> x = d.rsample()
    >>> x.shape, bool(((x > 0) & (x < 1)).all())
    ((2,), True)
    """

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args: bool | None = None):
        super().__init__(LogitRelaxedBernoulli(temperature, probs, logits), SigmoidTransform(), validate_args)


class ExpRelaxedCategorical(Distribution):
    """The log of a RelaxedOneHotCategorical sample: log-softmax((logits + Gumbel noise) / temperature)."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args: bool | None = None):
        self._categorical = Categorical(probs, logits)
        param = self._categorical.__dict__.get("probs", self._categorical.__dict__.get("logits"))
        self.temperature = _temperature(temperature, param)
        super().__init__(self._categorical.batch_shape, self._categorical.param_shape[-1:], validate_args)

    def expand(self, batch_shape, _instance=None) -> ExpRelaxedCategorical:
        new = type(self).__new__(type(self)) if _instance is None else _instance
        new.__dict__.update(self.__dict__)
        new._categorical = self._categorical.expand(batch_shape)
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def param_shape(self) -> tuple:
        return self._categorical.param_shape

    @property
    def logits(self) -> Tensor:
        return self._categorical.logits

    @property
    def probs(self) -> Tensor:
        return self._categorical.probs

    def rsample(self, sample_shape=()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        u = _clamp_probs(engine.rand(*shape, dtype=self.logits.dtype, device=self.logits.device))
        scores = (self.logits - (-u.log()).log()) / self.temperature
        return scores - scores.logsumexp(-1, keepdim=True)

    def log_prob(self, value) -> Tensor:
        k = self._categorical._num_events
        value = _tensor(value, self.logits)
        self._validate_sample(value)
        logits, value = engine.broadcast_tensors(self.logits, value)
        log_scale = math.lgamma(k) + (k - 1) * self.temperature.log()
        score = logits - value * self.temperature
        return (score - score.logsumexp(-1, keepdim=True)).sum(-1) + log_scale


class RelaxedOneHotCategorical(_RelaxedParameters, TransformedDistribution):
    """A OneHotCategorical relaxed to the simplex at ``temperature`` (Gumbel-softmax): the exp of an
    ExpRelaxedCategorical sample; ``rsample`` is reparameterized.

    >>> import engine
    >>> d = RelaxedOneHotCategorical(engine.tensor(0.5), logits=engine.zeros(3))
    >>> x = d.rsample((4,))
    >>> x.shape, bool(((x.sum(-1) - 1).abs() < 1e-5).all())
    ((4, 3), True)
    """

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args: bool | None = None):
        base = ExpRelaxedCategorical(temperature, probs, logits, validate_args=validate_args)
        super().__init__(base, ExpTransform(), validate_args)

