"""engine.distributions' second round against torch.distributions (torch is the oracle): constraints
(check and repr), every family's arg_constraints / support / has_rsample / has_enumerate_support,
torch's argument and sample checks, ``expand``, transforms and TransformedDistribution,
MixtureSameFamily, the relaxed families, and the gamma family's cdf through ``special.gammainc``.
Values in float64 on random parameters, gradients with respect to the parameters by engine autograd
against torch autograd."""

from __future__ import annotations

import re

import numpy as np
import pytest

import engine
import engine.distributions as D
from engine.distributions import constraints as C

torch = pytest.importorskip("torch")
TD = torch.distributions
TC = TD.constraints
RNG = np.random.default_rng(142)
RTOL, ATOL = 1e-10, 1e-12


def _e(a):
    return engine.tensor(np.asarray(a), dtype="float64")


def _t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64)


def _pairs(*arrays):
    ours = [engine.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    return ours, theirs


def _check(ours_fn, torch_fn, ours_params, torch_params, rtol=RTOL, grad_rtol=1e-9):
    """Values (shape, dtype) equal, and the gradients of their sum w.r.t. every parameter."""
    o, t = ours_fn(), torch_fn()
    assert o.shape == tuple(t.shape) and o.dtype == np.float64
    np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=rtol, atol=ATOL)
    if not t.requires_grad:
        return
    o.sum().backward()
    t.sum().backward()
    for a, b in zip(ours_params, torch_params):
        ga = np.zeros(a.shape) if a.grad is None else a.grad.numpy()
        gb = np.zeros(tuple(b.shape)) if b.grad is None else b.grad.numpy()
        np.testing.assert_allclose(ga, gb, rtol=grad_rtol, atol=1e-11)
        a.grad, b.grad = None, None


def _pos(*shape):
    return np.abs(RNG.standard_normal(shape)) + 0.3


def _message(e: Exception) -> str:
    """An error message up to its values, with torch's Size and tensor spellings as ours."""
    m = str(e).split("but found")[0]
    m = re.sub(r"torch\.Size\(\[(.*?)\]\)", lambda g: str(tuple(int(n) for n in g.group(1).split(",") if n)), m)
    m = re.sub(r"(tensor|Tensor)\(.*?\)", "T", m)
    # torch's LogNormal, HalfNormal, HalfCauchy are TransformedDistributions, whose repr shows no parameter
    return re.sub(r"distribution (LogNormal|HalfNormal|HalfCauchy)\(.*?\)", r"distribution \1", m)


# ---- constraints --------------------------------------------------------------------------------------

VALUES = [np.array([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan, np.inf, -np.inf]),
          np.array([[0.2, 0.8], [0.5, 0.6], [-0.1, 1.1], [1.0, 0.0]]), np.zeros((0, 3))]
NAMED = ["real", "positive", "nonnegative", "unit_interval", "boolean", "nonnegative_integer", "positive_integer",
         "simplex", "real_vector", "one_hot"]
MADE = [lambda M: M.interval(0.0, 1.0), lambda M: M.greater_than(0.5), lambda M: M.greater_than_eq(0.5),
        lambda M: M.less_than(0.5), lambda M: M.integer_interval(0, 2), lambda M: M.half_open_interval(0.0, 1.0),
        lambda M: M.independent(M.positive, 1), lambda M: M.independent(M.real, 0)]


@pytest.mark.parametrize("make", [lambda M, n=n: getattr(M, n) for n in NAMED] + MADE)
def test_constraint_check_repr_and_attributes_as_torch(make):
    ours, theirs = make(C), make(TC)
    assert repr(ours) == repr(theirs)
    assert ours.event_dim == theirs.event_dim and ours.is_discrete == theirs.is_discrete
    for v in VALUES:
        if v.ndim < ours.event_dim:
            continue
        a = ours.check(engine.tensor(v))
        try:
            b = theirs.check(torch.tensor(v))
        except RuntimeError:  # torch's independent check reshapes an empty value with -1 and fails; ours: no events
            assert v.size == 0 and a.shape == v.shape[:v.ndim - ours.event_dim]
            continue
        assert a.dtype == np.bool_ and a.shape == tuple(b.shape)
        np.testing.assert_array_equal(a.numpy(), b.numpy())


MATRICES = [np.array([[2.0, 0.0], [1.0, 3.0]]), np.array([[2.0, 1.0], [1.0, 3.0]]), np.array([[1.0, 2.0], [2.0, 1.0]]),
            np.array([[[1.0, 0.0], [0.0, -1.0]], [[1.0, 0], [0, 1]]]), np.array([[1.0, 2.0], [0.0, 1.0]]),
            np.array([[1.0, 0.0], [0.0, 0.0]]), np.ones((2, 3))]


@pytest.mark.parametrize("name", ["lower_cholesky", "lower_triangular", "positive_definite", "positive_semidefinite",
                                  "symmetric", "square"])
def test_matrix_constraints_as_torch(name):
    ours, theirs = getattr(C, name), getattr(TC, name)
    assert repr(ours) == repr(theirs) and ours.event_dim == theirs.event_dim == 2
    for m in MATRICES:
        if m.shape[-1] != m.shape[-2] and name not in ("lower_triangular", "square"):
            continue
        a, b = ours.check(engine.tensor(m)), theirs.check(torch.tensor(m))
        assert a.shape == tuple(b.shape)
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_dependent_constraints_as_torch():
    assert C.is_dependent(C.dependent) and not C.is_dependent(C.real)
    assert C.is_dependent(D.Uniform.support) and C.is_dependent(D.Binomial.support)
    with pytest.raises(ValueError, match="Cannot determine validity of dependent constraint"):
        C.dependent.check(engine.zeros(1))
    with pytest.raises(NotImplementedError, match="cannot be determined statically"):
        C.dependent.event_dim  # noqa: B018
    assert C.dependent(is_discrete=True, event_dim=1).event_dim == 1
    with pytest.raises(ValueError, match=r"Expected value.dim\(\) >= 2 but got 1"):
        C.independent(C.real_vector, 1).check(engine.zeros(3))
    with pytest.raises(ValueError, match=r"Expected value.dim\(\) >= 2 but got 1"):
        TC.independent(TC.real_vector, 1).check(torch.zeros(3))


# ---- every family: arg_constraints, support, flags, expand ------------------------------------------

FAMILIES = {
    "Normal": lambda: [RNG.standard_normal(3), _pos(3)],
    "Laplace": lambda: [RNG.standard_normal(3), _pos(3)],
    "Cauchy": lambda: [RNG.standard_normal(3), _pos(3)],
    "Gumbel": lambda: [RNG.standard_normal(3), _pos(3)],
    "LogNormal": lambda: [RNG.standard_normal(3), _pos(3)],
    "HalfNormal": lambda: [_pos(3)],
    "HalfCauchy": lambda: [_pos(3)],
    "StudentT": lambda: [_pos(3) * 3, RNG.standard_normal(3), _pos(3)],
    "Exponential": lambda: [_pos(3)],
    "Gamma": lambda: [_pos(3) * 2, _pos(3)],
    "Chi2": lambda: [_pos(3) * 3],
    "Beta": lambda: [_pos(3), _pos(3)],
    "Dirichlet": lambda: [_pos(3, 4)],
    "Uniform": lambda: [RNG.standard_normal(3), 3 + _pos(3)],
    "Bernoulli": lambda: [RNG.uniform(0.1, 0.9, 3)],
    "Geometric": lambda: [RNG.uniform(0.1, 0.9, 3)],
    "Poisson": lambda: [_pos(3)],
    "Binomial": lambda: [np.array([3.0, 4.0, 5.0]), RNG.uniform(0.1, 0.9, 3)],
    "Categorical": lambda: [_pos(3, 4)],
    "OneHotCategorical": lambda: [_pos(3, 4)],
    "MultivariateNormal": lambda: [RNG.standard_normal((3, 2)), np.array([[2.0, 0.5], [0.5, 1.0]])],
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_constraints_and_flags_as_torch(name):
    params = FAMILIES[name]()
    o, t = getattr(D, name)(*map(_e, params)), getattr(TD, name)(*map(_t, params))
    dependent = name in ("Uniform", "Binomial", "Categorical")  # their bounds are Tensors: reprs differ in spelling
    if name != "Uniform":
        assert {k: repr(v) for k, v in o.arg_constraints.items()} == {k: repr(v) for k, v in t.arg_constraints.items()}
        assert {k: repr(v) for k, v in type(o).arg_constraints.items()} == \
            {k: repr(v) for k, v in type(t).arg_constraints.items()}
    if not dependent or name == "Categorical":
        assert repr(o.support) == repr(t.support)
    assert type(o.support).__name__ == type(t.support).__name__
    assert o.support.event_dim == t.support.event_dim and o.support.is_discrete == t.support.is_discrete
    assert o.has_rsample == t.has_rsample and o.has_enumerate_support == t.has_enumerate_support
    x = t.sample((5,))
    ox = engine.tensor(x.numpy())
    np.testing.assert_array_equal(o.support.check(ox).numpy(), t.support.check(x).numpy())


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_expand_as_torch(name):
    params = FAMILIES[name]()
    ours, theirs = _pairs(*params)
    o, t = getattr(D, name)(*ours), getattr(TD, name)(*theirs)

    def expanded():  # a fresh graph per backward: ours frees a graph's nodes after one backward
        return getattr(D, name)(*ours).expand((2, 3)), getattr(TD, name)(*theirs).expand(torch.Size((2, 3)))

    eo, et = o.expand((2, 3)), t.expand(torch.Size((2, 3)))
    assert type(eo) is type(o) and eo is not o
    assert eo.batch_shape == tuple(et.batch_shape) == (2, 3) and eo.event_shape == tuple(et.event_shape)
    assert o.batch_shape == (3,)  # the original is unchanged
    x = et.sample((4,))
    _check(lambda: expanded()[0].log_prob(engine.tensor(x.numpy())), lambda: expanded()[1].log_prob(x), ours, theirs,
           rtol=1e-9)
    for m in ("mean", "variance"):
        a, b = getattr(eo, m), getattr(et, m)
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-12, equal_nan=True)
    if name not in ("Poisson", "Binomial"):  # (torch has no Poisson entropy; Binomial's needs one total_count)
        _check(lambda: expanded()[0].entropy(), lambda: expanded()[1].entropy(), ours, theirs, rtol=1e-9,
               grad_rtol=1e-8)
    assert eo.sample((5,)).shape == tuple(et.sample((5,)).shape)
    assert eo._validate_args == et._validate_args
    with pytest.raises(RuntimeError):
        t.expand((4,))
    with pytest.raises(RuntimeError):
        o.expand((4,))


def test_expand_independent_and_mvn_keep_their_structure():
    loc, scale = RNG.standard_normal((3, 2)), _pos(3, 2)
    o = D.Independent(D.Normal(_e(loc), _e(scale)), 1).expand((4, 3))
    t = TD.Independent(TD.Normal(_t(loc), _t(scale)), 1).expand((4, 3))
    assert o.batch_shape == (4, 3) and o.event_shape == (2,) and o.base_dist.batch_shape == (4, 3, 2)
    x = RNG.standard_normal((4, 3, 2))
    np.testing.assert_allclose(o.log_prob(_e(x)).numpy(), t.log_prob(_t(x)).numpy(), rtol=1e-12)
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    om = D.MultivariateNormal(_e(loc), covariance_matrix=_e(cov)).expand((5, 3))
    tm = TD.MultivariateNormal(_t(loc), covariance_matrix=_t(cov)).expand((5, 3))
    for name in ("covariance_matrix", "scale_tril", "precision_matrix", "loc"):
        np.testing.assert_allclose(getattr(om, name).numpy(), getattr(tm, name).numpy(), rtol=1e-12)
    x = RNG.standard_normal((5, 3, 2))
    np.testing.assert_allclose(om.log_prob(_e(x)).numpy(), tm.log_prob(_t(x)).numpy(), rtol=1e-12)


# ---- torch's argument and sample checks -----------------------------------------------------------

BAD_PARAMS = [("Normal", [[np.nan], [1.0]]), ("Laplace", [[0.0], [0.0]]), ("Exponential", [[-1.0]]),
              ("Gamma", [[1.0], [-1.0]]), ("Gamma", [[-1.0], [1.0]]), ("Chi2", [[-1.0]]), ("Beta", [[-1.0], [1.0]]),
              ("Dirichlet", [[[1.0, -1.0]]]), ("Uniform", [[1.0], [0.0]]), ("Bernoulli", [[1.5]]),
              ("Geometric", [[0.0]]), ("Geometric", [[1.5]]), ("Poisson", [[-1.0]]), ("Binomial", [[1.5], [0.5]]),
              ("Binomial", [[2.0], [1.5]]), ("Categorical", [[[-1.0, 2.0]]]), ("HalfNormal", [[-1.0]]),
              ("Cauchy", [[0.0], [-1.0]]), ("OneHotCategorical", [[[-1.0, 2.0]]]),
              ("MultivariateNormal", [[0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]]]),
              ("MultivariateNormal", [[0.0, 0.0], [[np.nan, 0.0], [0.0, 1.0]]])]


@pytest.mark.parametrize("name, params", BAD_PARAMS)
def test_bad_parameters_raise_as_torch(name, params):
    with pytest.raises(ValueError) as theirs:
        getattr(TD, name)(*map(_t, params))
    with pytest.raises(ValueError) as ours:
        getattr(D, name)(*map(_e, params))
    assert _message(ours.value) == _message(theirs.value)
    if name != "MultivariateNormal":  # (whose Cholesky factorization fails then, as torch's)
        getattr(D, name)(*map(_e, params), validate_args=False)  # no check asked for: no error


def test_mvn_scale_tril_is_checked_as_torch():
    bad = [[1.0, 2.0], [0.0, 1.0]]
    with pytest.raises(ValueError) as theirs:
        TD.MultivariateNormal(torch.zeros(2, dtype=torch.float64), scale_tril=_t(bad))
    with pytest.raises(ValueError) as ours:
        D.MultivariateNormal(engine.zeros(2, dtype="float64"), scale_tril=_e(bad))
    assert _message(ours.value) == _message(theirs.value)


BAD_VALUES = [("Normal", [[0.0], [1.0]], [np.nan]), ("Normal", [[0.0, 0.0], [1.0, 1.0]], [0.0, 0.0, 0.0]),
              ("Exponential", [[1.0]], [-1.0]), ("Gamma", [[1.0], [1.0]], [-1.0]), ("Beta", [[1.0], [1.0]], [1.5]),
              ("Dirichlet", [[[1.0, 1.0]]], [[0.3, 0.3]]), ("Dirichlet", [[[1.0, 1.0]]], [0.3, 0.3, 0.4]),
              ("Uniform", [[0.0], [1.0]], [1.5]), ("Bernoulli", [[0.5]], [0.5]), ("Geometric", [[0.5]], [1.5]),
              ("Poisson", [[1.0]], [-1.0]), ("Binomial", [[2.0], [0.5]], [3.0]),
              ("OneHotCategorical", [[[1.0, 2.0]]], [[1.0, 1.0]]), ("HalfNormal", [[1.0]], [-1.0]),
              ("LogNormal", [[0.0], [1.0]], [-1.0]), ("StudentT", [[2.0]], [np.nan]),
              ("Laplace", [[0.0], [1.0]], [np.nan]),
              ("Cauchy", [[0.0], [1.0]], [np.nan]), ("Gumbel", [[0.0], [1.0]], [np.nan]),
              ("MultivariateNormal", [[0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]]], [0.0, 0.0, 0.0])]


@pytest.mark.parametrize("name, params, value", BAD_VALUES)
def test_bad_values_raise_as_torch(name, params, value):
    with pytest.raises(ValueError) as theirs:
        getattr(TD, name)(*map(_t, params)).log_prob(_t(value))
    with pytest.raises(ValueError) as ours:
        getattr(D, name)(*map(_e, params)).log_prob(_e(value))
    assert _message(ours.value) == _message(theirs.value)


@pytest.mark.parametrize("name, params, value", [("Normal", [0.0, 1.0], np.nan), ("Exponential", [1.0], -1.0),
                                                  ("Uniform", [0.0, 1.0], 2.0), ("Laplace", [0.0, 1.0], np.nan),
                                                  ("Cauchy", [0.0, 1.0], np.nan), ("HalfCauchy", [1.0], -1.0)])
def test_cdf_checks_its_value_as_torch(name, params, value):
    with pytest.raises(ValueError, match="within the support"):
        getattr(TD, name)(*map(_t, params)).cdf(_t(value))
    with pytest.raises(ValueError, match="within the support"):
        getattr(D, name)(*map(_e, params)).cdf(_e(value))


def test_uniform_support_is_closed_as_torch():
    o, t = D.Uniform(_e(0.0), _e(1.0)), TD.Uniform(_t(0.0), _t(1.0))
    assert o.log_prob(_e(1.0)).item() == t.log_prob(_t(1.0)).item() == -np.inf
    assert o.cdf(_e(1.0)).item() == t.cdf(_t(1.0)).item() == 1.0


def test_default_validate_args_switch():
    try:
        D.Distribution.set_default_validate_args(False)
        D.Normal(_e(0.0), _e(-1.0))
        assert D.Normal(_e(0.0), _e(1.0)).log_prob(_e(np.nan)).isnan().item()
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError, match="parameter scale"):
        D.Normal(_e(0.0), _e(-1.0))
    with pytest.raises(ValueError):
        D.Distribution.set_default_validate_args("yes")


def test_enumerate_support_as_torch():
    p = RNG.uniform(0.1, 0.9, (2, 3))
    for expand in (True, False):
        a, b = D.Bernoulli(_e(p)).enumerate_support(expand), TD.Bernoulli(_t(p)).enumerate_support(expand)
        assert a.shape == tuple(b.shape) and a.dtype == np.float64
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        a, b = D.Categorical(_e(_pos(2, 4))).enumerate_support(expand), \
            TD.Categorical(_t(_pos(2, 4))).enumerate_support(expand)
        assert a.shape == tuple(b.shape) and a.dtype == np.int64
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_allclose(D.Normal(_e(0.0), _e(2.0)).perplexity().numpy(),
                               TD.Normal(_t(0.0), _t(2.0)).perplexity().numpy(), rtol=1e-14)


def test_one_distribution_serves_several_backwards_as_torch():
    """Parameters of one shape build no graph node, so log_prob and entropy of the same instance can
    each be backpropagated (torch accumulates both into the parameters' grads)."""
    (mu, sigma), (tmu, tsigma) = _pairs(RNG.standard_normal(3), _pos(3))
    o, t = D.Normal(mu, sigma), TD.Normal(tmu, tsigma)
    x = RNG.standard_normal(3)
    o.log_prob(_e(x)).sum().backward()
    o.entropy().sum().backward()
    t.log_prob(_t(x)).sum().backward()
    t.entropy().sum().backward()
    np.testing.assert_allclose(mu.grad.numpy(), tmu.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(sigma.grad.numpy(), tsigma.grad.numpy(), rtol=1e-12)
