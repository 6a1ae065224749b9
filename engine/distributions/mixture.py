"""MixtureSameFamily: a Categorical mixture of the components along the last batch axis of one
distribution, as torch.distributions.MixtureSameFamily.

    >>> import engine
    >>> from engine.distributions import Categorical, Normal
    >>> gmm = MixtureSameFamily(Categorical(engine.tensor([0.25, 0.75])),
    ...                         Normal(engine.tensor([-1.0, 1.0]), engine.tensor([1.0, 1.0])))
    >>> gmm.mean.item(), gmm.batch_shape, gmm.sample((5,)).shape
    (0.5, (), (5,))
"""

from __future__ import annotations

import engine
from engine import Tensor
from engine.distributions import constraints
from engine.distributions.families import Categorical, Distribution, _tensor

__all__ = ["MixtureSameFamily"]


class MixtureSameFamily(Distribution):
    """p(x) = Σₖ πₖ pₖ(x): ``mixture_distribution`` (a Categorical over K, batch-compatible) weighs the
    K components that ``component_distribution`` holds along its last batch axis. ``log_prob`` is a
    logsumexp (differentiable in both); ``sample`` draws a component per sample, then its value."""

    arg_constraints: dict = {}
    has_rsample = False

    def __init__(self, mixture_distribution: Categorical, component_distribution: Distribution,
                 validate_args: bool | None = None):
        self._mixture_distribution = mixture_distribution
        self._component_distribution = component_distribution
        if not isinstance(mixture_distribution, Categorical):
            raise ValueError(" The Mixture distribution needs to be an  instance of torch.distributions.Categorical")
        if not isinstance(component_distribution, Distribution):
            raise ValueError("The Component distribution needs to be an instance of torch.distributions.Distribution")
        mdbs, cdbs = mixture_distribution.batch_shape, component_distribution.batch_shape[:-1]
        for size1, size2 in zip(reversed(mdbs), reversed(cdbs)):
            if size1 != 1 and size2 != 1 and size1 != size2:
                raise ValueError(f"`mixture_distribution.batch_shape` ({mdbs}) is not compatible with "
                                 f"`component_distribution.batch_shape`({cdbs})")
        km = mixture_distribution.param_shape[-1]
        kc = component_distribution.batch_shape[-1] if component_distribution.batch_shape else None
        if km != kc:
            raise ValueError(f"`mixture_distribution component` ({km}) does not equal "
                             f"`component_distribution.batch_shape[-1]` ({kc})")
        self._num_component = km
        self._event_ndims = len(component_distribution.event_shape)
        super().__init__(cdbs, component_distribution.event_shape, validate_args)

    def expand(self, batch_shape, _instance=None) -> MixtureSameFamily:
        batch_shape = tuple(batch_shape)
        new = type(self).__new__(type(self)) if _instance is None else _instance
        new.__dict__.update(self.__dict__)
        new._component_distribution = self._component_distribution.expand(batch_shape + (self._num_component,))
        new._mixture_distribution = self._mixture_distribution.expand(batch_shape)
        Distribution.__init__(new, batch_shape, new._component_distribution.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property
    def support(self):
        return constraints.MixtureSameFamilyConstraint(self._component_distribution.support)

    @property
    def mixture_distribution(self) -> Categorical:
        return self._mixture_distribution

    @property
    def component_distribution(self) -> Distribution:
        return self._component_distribution

    @property
    def mean(self) -> Tensor:
        probs = self._pad_mixture_dimensions(self._mixture_distribution.probs)
        return (probs * self._component_distribution.mean).sum(-1 - self._event_ndims)

    @property
    def variance(self) -> Tensor:
        """E[Var(X | k)] + Var(E[X | k]) (the law of total variance)."""
        probs = self._pad_mixture_dimensions(self._mixture_distribution.probs)
        components = self._component_distribution
        mean_cond_var = (probs * components.variance).sum(-1 - self._event_ndims)
        var_cond_mean = (probs * (components.mean - self._pad(self.mean)) ** 2).sum(-1 - self._event_ndims)
        return mean_cond_var + var_cond_mean

    def cdf(self, x) -> Tensor:
        cdf_x = self._component_distribution.cdf(self._pad(_tensor(x)))
        return (cdf_x * self._mixture_distribution.probs).sum(-1)

    def log_prob(self, x) -> Tensor:
        x = _tensor(x)
        self._validate_sample(x)
        log_prob_x = self._component_distribution.log_prob(self._pad(x))  # (S, B, K)
        log_mix_prob = self._mixture_distribution.logits.log_softmax(-1)  # (B, K)
        return (log_prob_x + log_mix_prob).logsumexp(-1)  # (S, B)

    def sample(self, sample_shape=()) -> Tensor:
        with engine.no_grad():
            sample_shape = tuple(sample_shape)
            gather_dim = len(sample_shape) + len(self._batch_shape)
            es = self._event_shape
            mixture = self._mixture_distribution
            if mixture.batch_shape != self._batch_shape:  # one that broadcasts: torch's gather fails there
                mixture = mixture.expand(self._batch_shape)
            mix_sample = mixture.sample(sample_shape)  # (S, B)
            comp_samples = self._component_distribution.sample(sample_shape)  # (S, B, K, E)
            index = mix_sample.reshape(*mix_sample.shape, *(1,) * (len(es) + 1))
            index = index.expand(*mix_sample.shape, 1, *es)
            return comp_samples.gather(gather_dim, index).squeeze(gather_dim)

    def _pad(self, x: Tensor) -> Tensor:
        return x.unsqueeze(-1 - self._event_ndims)

    def _pad_mixture_dimensions(self, x: Tensor) -> Tensor:
        dist_batch_ndims = len(self._batch_shape)
        cat_batch_ndims = len(self._mixture_distribution.batch_shape)
        pad_ndims = 0 if cat_batch_ndims == 1 else dist_batch_ndims - cat_batch_ndims  # (torch's rule)
        return x.reshape(*x.shape[:-1], *(1,) * pad_ndims, x.shape[-1], *(1,) * self._event_ndims)

    def __repr__(self) -> str:
        return f"MixtureSameFamily(\n  {self._mixture_distribution},\n  {self._component_distribution})"
