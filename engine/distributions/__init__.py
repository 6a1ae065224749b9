"""torch.distributions' everyday part, composed from engine ops (so every gradient, through
``rsample``, ``log_prob``, ``entropy`` and ``kl_divergence``, comes from the engine): ``Normal``,
``MultivariateNormal``, ``LowRankMultivariateNormal``, ``LogNormal``, ``Laplace``, ``Gumbel``, ``Cauchy``,
``HalfNormal``, ``HalfCauchy``, ``StudentT``, ``Exponential``, ``Gamma``, ``Chi2``, ``Beta``, ``Dirichlet``,
``Uniform``, ``Bernoulli``, ``Geometric``, ``Poisson``, ``Binomial``, ``Categorical``, ``OneHotCategorical``,
``RelaxedBernoulli``, ``RelaxedOneHotCategorical``, ``Independent``, ``MixtureSameFamily``,
``TransformedDistribution`` (with ``transforms``: Exp, Affine, Sigmoid, Tanh, Softmax, ...), and
``kl_divergence`` with ``register_kl``; ``constraints``, ``biject_to`` and ``transform_to``. The gamma
family's ``rsample`` (Gamma, Chi2, Beta, Dirichlet, StudentT) goes through ``engine._standard_gamma``,
whose gradient is torch's implicit reparameterization one (ATen's approximation); Gamma's ``cdf``
through ``engine.special.gammainc``. Names, signatures, shapes (``batch_shape``, ``event_shape``,
``sample_shape``, ``expand``) and argument checks are torch's: every family's ``arg_constraints`` are
checked at construction and its ``support`` in ``log_prob`` unless ``validate_args=False`` (torch's
default under ``python`` without ``-O``; ``Distribution.set_default_validate_args``). Draws come from
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

from engine.distributions import constraints, transforms
from engine.distributions.constraint_registry import biject_to, transform_to
from engine.distributions.families import (
    _KL,
    Bernoulli,
    Beta,
    Binomial,
    Categorical,
    Cauchy,
    Chi2,
    Dirichlet,
    Distribution,
    Exponential,
    Gamma,
    Geometric,
    Gumbel,
    HalfCauchy,
    HalfNormal,
    Independent,
    Laplace,
    LogNormal,
    MultivariateNormal,
    Normal,
    OneHotCategorical,
    OneHotCategoricalStraightThrough,
    Poisson,
    StudentT,
    Uniform,
    kl_divergence,
    register_kl,
)
from engine.distributions.lowrank import LowRankMultivariateNormal
from engine.distributions.mixture import MixtureSameFamily
from engine.distributions.transformed import (
    ExpRelaxedCategorical,
    LogitRelaxedBernoulli,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
    TransformedDistribution,
)
from engine.distributions.transforms import (
    AbsTransform,
    AffineTransform,
    ComposeTransform,
    ExpTransform,
    IndependentTransform,
    LowerCholeskyTransform,
    PowerTransform,
    ReshapeTransform,
    SigmoidTransform,
    SoftmaxTransform,
    SoftplusTransform,
    StickBreakingTransform,
    TanhTransform,
    Transform,
)

__all__ = ["AbsTransform", "AffineTransform", "Bernoulli", "Beta", "Binomial", "Categorical", "Cauchy", "Chi2",
           "ComposeTransform", "Dirichlet", "Distribution", "ExpRelaxedCategorical", "ExpTransform", "Exponential",
           "Gamma", "Geometric", "Gumbel", "HalfCauchy", "HalfNormal", "Independent", "IndependentTransform",
           "Laplace", "LogNormal", "LogitRelaxedBernoulli", "LowRankMultivariateNormal", "LowerCholeskyTransform",
           "MixtureSameFamily",
           "MultivariateNormal", "Normal", "OneHotCategorical", "OneHotCategoricalStraightThrough", "Poisson",
           "PowerTransform", "RelaxedBernoulli", "RelaxedOneHotCategorical", "ReshapeTransform", "SigmoidTransform",
           "SoftmaxTransform", "SoftplusTransform", "StickBreakingTransform", "StudentT", "TanhTransform", "Transform",
           "TransformedDistribution", "Uniform", "biject_to", "constraints", "kl_divergence", "register_kl",
           "transform_to", "transforms"]
_ = _KL  # the registry of KL rules, for tests that register a throwaway one
