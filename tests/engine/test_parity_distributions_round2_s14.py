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


# ---- transforms -------------------------------------------------------------------------------------

X = RNG.standard_normal((4, 3))
TRANSFORMS = {  # name: (maker given the module and a Tensor factory, input values)
    "Exp": (lambda M, f: M.ExpTransform(), X),
    "Affine": (lambda M, f: M.AffineTransform(1.5, -2.0), X),
    "AffineTensors": (lambda M, f: M.AffineTransform(f([0.1, -0.3, 2.0]), f([1.0, -2.0, 0.5])), X),
    "AffineEvent": (lambda M, f: M.AffineTransform(0.5, 3.0, event_dim=1), X),
    "AffineEventTensor": (lambda M, f: M.AffineTransform(0.5, f([1.0, -2.0, 0.5]), event_dim=1), X),
    "Sigmoid": (lambda M, f: M.SigmoidTransform(), X),
    "Tanh": (lambda M, f: M.TanhTransform(), X),
    "Softplus": (lambda M, f: M.SoftplusTransform(), X),
    "Power": (lambda M, f: M.PowerTransform(2.5), np.abs(X) + 0.1),
    "PowerTensor": (lambda M, f: M.PowerTransform(f(-0.5)), np.abs(X) + 0.1),
    "Abs": (lambda M, f: M.AbsTransform(), X),
    "Softmax": (lambda M, f: M.SoftmaxTransform(), X),
    "StickBreaking": (lambda M, f: M.StickBreakingTransform(), X),
    "Compose": (lambda M, f: M.ComposeTransform([M.AffineTransform(0.3, 2.0), M.TanhTransform(),
                                                 M.AffineTransform(1.0, 0.5)]), X),
    "ComposeEvent": (lambda M, f: M.ComposeTransform([M.ExpTransform(), M.StickBreakingTransform()]), X),
    "ComposeEvent2": (lambda M, f: M.ComposeTransform([M.StickBreakingTransform(), M.AffineTransform(0.0, 2.0)]), X),
    "Inverse": (lambda M, f: M.SigmoidTransform().inv, RNG.uniform(0.05, 0.95, (4, 3))),
    "Independent": (lambda M, f: M.IndependentTransform(M.ExpTransform(), 1), X),
    "Reshape": (lambda M, f: M.ReshapeTransform((3,), (3, 1)), X),
    "LowerCholesky": (lambda M, f: M.LowerCholeskyTransform(), RNG.standard_normal((2, 3, 3))),
}


def _value(v):
    return v.numpy() if hasattr(v, "numpy") else v


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transform_as_torch(name):
    make, x = TRANSFORMS[name]
    o, t = make(D.transforms, _e), make(TD.transforms, _t)
    if "Tensor" not in name:
        assert repr(o) == repr(t)
    assert o.bijective == t.bijective
    for attr in ("domain", "codomain"):
        a, b = getattr(o, attr), getattr(t, attr)
        assert repr(a) == repr(b) and a.event_dim == b.event_dim
    if o.domain.event_dim == o.codomain.event_dim:
        assert o.event_dim == t.event_dim
    try:
        sign = t.sign
    except NotImplementedError:
        with pytest.raises(NotImplementedError):
            o.sign  # noqa: B018
    else:
        np.testing.assert_array_equal(_value(o.sign), _value(sign))
    (xo,), (xt,) = _pairs(x)
    yo, yt = o(xo), t(xt)
    assert yo.shape == tuple(yt.shape) and yo.dtype == np.float64
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(o.inv(yo.detach()).numpy(), t.inv(yt.detach()).numpy(), rtol=1e-9, atol=ATOL)
    shape = (5,) + x.shape
    assert tuple(o.forward_shape(shape)) == tuple(t.forward_shape(shape))
    assert tuple(o.inverse_shape(tuple(t.forward_shape(shape)))) == tuple(t.inverse_shape(t.forward_shape(shape)))
    try:
        lt = t.log_abs_det_jacobian(xt, yt)
    except NotImplementedError:
        with pytest.raises(NotImplementedError):
            o.log_abs_det_jacobian(xo, yo)
        return
    lo = o.log_abs_det_jacobian(xo, yo)
    assert lo.shape == tuple(lt.shape)
    np.testing.assert_allclose(lo.detach().numpy(), lt.detach().numpy(), rtol=RTOL, atol=ATOL)
    (yo.sum() + lo.sum()).backward()
    (yt.sum() + lt.sum()).backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-11)
    li, lti = o.inv.log_abs_det_jacobian(yo.detach(), xo.detach()), t.inv.log_abs_det_jacobian(yt.detach(), xt.detach())
    np.testing.assert_allclose(li.numpy(), lti.numpy(), rtol=RTOL, atol=ATOL)


def test_transform_cache_inverse_and_equality_as_torch():
    t = D.transforms.TanhTransform(cache_size=1)
    x = _e([30.0, -0.5])  # tanh saturates: atanh(tanh(30)) is inf, the cache returns x itself
    y = t(x)
    assert t.inv(y) is x and t(x) is y
    assert np.isinf(D.transforms.TanhTransform().inv(y).numpy()[0])
    assert t.inv.inv is t and t.with_cache(0)._cache_size == 0
    c = D.transforms.ComposeTransform([D.transforms.ExpTransform(), D.transforms.AffineTransform(1.0, 2.0)])
    assert c.inv.inv is c and c.inv.parts[0] == D.transforms.AffineTransform(1.0, 2.0).inv
    assert D.transforms.ExpTransform() == D.transforms.ExpTransform() != D.transforms.SigmoidTransform()
    assert D.transforms.AffineTransform(1.0, 2.0) != D.transforms.AffineTransform(1.0, 3.0)
    assert D.transforms.identity_transform(x) is x
    with pytest.raises(ValueError, match="cache_size must be 0 or 1"):
        D.transforms.ExpTransform(cache_size=2)
    with pytest.raises(ValueError, match="cache_size must be 0 or 1"):
        TD.transforms.ExpTransform(cache_size=2)
    with pytest.raises(ValueError, match="in_shape, out_shape have different numbers of elements"):
        D.transforms.ReshapeTransform((3,), (2,))
    with pytest.raises(ValueError, match="Please use either .domain.event_dim or .codomain.event_dim"):
        D.transforms.ReshapeTransform((4,), (2, 2)).event_dim  # noqa: B018


# ---- TransformedDistribution ---------------------------------------------------------------------

LOC, SCALE = RNG.standard_normal(3), _pos(3)
TRANSFORMED = {  # name: (base maker, transforms maker, values)
    "tanh_normal": (lambda M, p: M.Normal(*p), lambda M, f: [M.TanhTransform()], RNG.uniform(-0.9, 0.9, (4, 3))),
    "exp_normal": (lambda M, p: M.Normal(*p), lambda M, f: M.ExpTransform(), _pos(4, 3)),
    "decreasing_affine": (lambda M, p: M.Normal(*p), lambda M, f: [M.AffineTransform(1.0, -2.0)], X),
    "stick_breaking": (lambda M, p: M.Normal(*p), lambda M, f: [M.StickBreakingTransform()],
                       np.array([[0.2, 0.3, 0.1, 0.4], [0.1, 0.1, 0.7, 0.1]])),
    "affine_event": (lambda M, p: M.Normal(*p), lambda M, f: [M.AffineTransform(f(LOC), f(SCALE), event_dim=1)], X),
    "logistic": (lambda M, p: M.Uniform(p[0] * 0, p[0] * 0 + 1), lambda M, f: [M.SigmoidTransform().inv,
                                                                                M.AffineTransform(0.5, 2.0)], X),
    "mvn_exp": (lambda M, p: M.MultivariateNormal(p[0], scale_tril=p[1].diag_embed()),
                lambda M, f: [M.ExpTransform()], _pos(4, 3)),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMED))
def test_transformed_distribution_as_torch(name):
    make_base, make_transforms, value = TRANSFORMED[name]
    ours, theirs = _pairs(LOC, SCALE)

    def pair():
        return (D.TransformedDistribution(make_base(D, ours), make_transforms(D.transforms, _e)),
                TD.TransformedDistribution(make_base(TD, theirs), make_transforms(TD.transforms, _t)))

    o, t = pair()
    assert o.batch_shape == tuple(t.batch_shape) and o.event_shape == tuple(t.event_shape)
    assert repr(o.support) == repr(t.support) and o.has_rsample == t.has_rsample
    assert o.sample((2,)).shape == tuple(t.sample((2,)).shape) == o.rsample((2,)).shape
    _check(lambda: pair()[0].log_prob(_e(value)), lambda: pair()[1].log_prob(_t(value)), ours, theirs, rtol=1e-9)
    try:
        tc = t.cdf(_t(value))
    except (NotImplementedError, ValueError) as e:
        with pytest.raises(type(e)):
            o.cdf(_e(value))
    else:
        _check(lambda: pair()[0].cdf(_e(value)), lambda: pair()[1].cdf(_t(value)), ours, theirs)
        np.testing.assert_allclose(o.icdf(o.cdf(_e(value))).detach().numpy(), value, rtol=1e-8)
        assert tc.shape == o.cdf(_e(value)).shape
    pre = (2, 1) if o.batch_shape else (2, 1, 1)
    eo, et = o.expand(pre + o.batch_shape), t.expand(pre + tuple(t.batch_shape))
    assert eo.batch_shape == tuple(et.batch_shape) and eo.event_shape == tuple(et.event_shape)
    np.testing.assert_allclose(eo.log_prob(_e(value)).detach().numpy(), et.log_prob(_t(value)).detach().numpy(),
                               rtol=1e-9)


def test_tanh_squashed_policy_log_prob_of_its_own_sample_as_torch():
    """SAC's policy: a = tanh(u), u = μ + σε; log π(a) through the cached inverse (no atanh), with
    gradients to μ and σ through both the sample and the density, as torch gives for the same ε."""
    eps = RNG.standard_normal((5, 3)) * 3  # far tails too: tanh saturates, the cache keeps log π finite
    (mu, sigma), (tmu, tsigma) = _pairs(LOC, SCALE)
    o = D.TransformedDistribution(D.Normal(mu, sigma), [D.transforms.TanhTransform(cache_size=1)])
    t = TD.TransformedDistribution(TD.Normal(tmu, tsigma), [TD.transforms.TanhTransform(cache_size=1)])
    a = o.transforms[0](mu + sigma * _e(eps))
    ta = t.transforms[0](tmu + tsigma * _t(eps))
    lo, lt = o.log_prob(a), t.log_prob(ta)
    np.testing.assert_allclose(lo.detach().numpy(), lt.detach().numpy(), rtol=1e-10)
    assert np.isfinite(lo.detach().numpy()).all()
    (lo.sum() + a.sum()).backward()
    (lt.sum() + ta.sum()).backward()
    np.testing.assert_allclose(mu.grad.numpy(), tmu.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(sigma.grad.numpy(), tsigma.grad.numpy(), rtol=1e-9)


def test_transformed_distribution_rsample_is_the_transformed_base_draw():
    (mu, sigma), _ = _pairs(LOC, SCALE)
    d = D.TransformedDistribution(D.Normal(mu, sigma), [D.transforms.TanhTransform()])
    engine.manual_seed(3)
    a = d.rsample((4,))
    engine.manual_seed(3)
    u = D.Normal(mu, sigma).rsample((4,))
    np.testing.assert_allclose(a.detach().numpy(), np.tanh(u.detach().numpy()), rtol=1e-14)
    a.sum().backward()
    eps = (u.detach().numpy() - LOC) / SCALE
    np.testing.assert_allclose(mu.grad.numpy(), (1 - np.tanh(u.detach().numpy()) ** 2).sum(0), rtol=1e-12)
    np.testing.assert_allclose(sigma.grad.numpy(), ((1 - np.tanh(u.detach().numpy()) ** 2) * eps).sum(0), rtol=1e-10)
    assert not d.sample().requires_grad


def test_transformed_distribution_errors_as_torch():
    for bad in ("exp", [D.Normal(0.0, 1.0)]):
        with pytest.raises(ValueError, match="transforms must be a Transform"):
            D.TransformedDistribution(D.Normal(0.0, 1.0), bad)
    with pytest.raises(ValueError, match="base_distribution needs to have shape with size at least 1"):
        D.TransformedDistribution(D.Normal(0.0, 1.0), [D.transforms.SoftmaxTransform()])
    with pytest.raises(ValueError, match="base_distribution needs to have shape with size at least 1"):
        TD.TransformedDistribution(TD.Normal(0.0, 1.0), [TD.transforms.SoftmaxTransform()])
    d = D.TransformedDistribution(D.Normal(_e(LOC), _e(SCALE)), [D.transforms.TanhTransform()])
    with pytest.raises(ValueError, match="within the support"):
        d.log_prob(_e([0.5, 1.5, 0.0]))


# ---- relaxed families -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["probs", "logits"])
def test_relaxed_bernoulli_as_torch(kind):
    p = RNG.uniform(0.1, 0.9, 3)
    param = p if kind == "probs" else np.log(p / (1 - p))
    ours, theirs = _pairs(np.array(0.7), param)
    value = RNG.uniform(0.05, 0.95, (4, 3))

    def pair():
        return D.RelaxedBernoulli(ours[0], **{kind: ours[1]}), TD.RelaxedBernoulli(theirs[0], **{kind: theirs[1]})

    o, t = pair()
    assert o.batch_shape == tuple(t.batch_shape) and o.event_shape == ()
    assert repr(o.support) == repr(t.support) and o.has_rsample and o.temperature is ours[0]
    _check(lambda: pair()[0].log_prob(_e(value)), lambda: pair()[1].log_prob(_t(value)), ours, theirs)
    np.testing.assert_allclose(o.probs.detach().numpy(), t.probs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(o.logits.detach().numpy(), t.logits.detach().numpy(), rtol=1e-10)
    x = o.rsample((2000,))
    assert x.shape == (2000, 3) and bool(((x > 0) & (x < 1)).all().item())
    x.sum().backward()  # reparameterized: the draw depends on the temperature and the parameter
    assert ours[0].grad is not None and np.all(np.isfinite(ours[1].grad.numpy()))
    eo, et = o.expand((2, 3)), t.expand((2, 3))
    assert type(eo) is D.RelaxedBernoulli and eo.batch_shape == tuple(et.batch_shape)
    np.testing.assert_allclose(eo.log_prob(_e(value[:2])).detach().numpy(),
                               et.log_prob(_t(value[:2])).detach().numpy(), rtol=1e-10)


def test_relaxed_bernoulli_draws_follow_the_concrete_law():
    """P(X > 1/2) = p for a RelaxedBernoulli at any temperature (logit X·T − logit p is logistic)."""
    engine.manual_seed(0)
    p = np.array([0.2, 0.5, 0.9])
    x = D.RelaxedBernoulli(_e(0.3), probs=_e(p)).sample((20000,)).numpy()
    assert np.all(np.abs((x > 0.5).mean(0) - p) < 5 * np.sqrt(p * (1 - p) / 20000))


@pytest.mark.parametrize("kind", ["probs", "logits"])
def test_relaxed_one_hot_categorical_as_torch(kind):
    p = RNG.uniform(0.1, 1.0, (2, 4))
    p /= p.sum(-1, keepdims=True)
    param = p if kind == "probs" else np.log(p) + 0.3
    ours, theirs = _pairs(np.array(0.6), param)
    value = RNG.dirichlet(np.ones(4), (5, 2))

    def pair():
        return (D.RelaxedOneHotCategorical(ours[0], **{kind: ours[1]}),
                TD.RelaxedOneHotCategorical(theirs[0], **{kind: theirs[1]}))

    o, t = pair()
    assert o.batch_shape == tuple(t.batch_shape) and o.event_shape == tuple(t.event_shape) == (4,)
    assert repr(o.support) == repr(t.support) and o.has_rsample
    _check(lambda: pair()[0].log_prob(_e(value)), lambda: pair()[1].log_prob(_t(value)), ours, theirs, rtol=1e-9)
    x = o.rsample((7,))
    assert x.shape == (7, 2, 4)
    np.testing.assert_allclose(x.sum(-1).detach().numpy(), 1.0, rtol=1e-12)
    eo, et = o.expand((3, 2)), t.expand((3, 2))
    assert eo.batch_shape == tuple(et.batch_shape)
    np.testing.assert_allclose(eo.log_prob(_e(value[:3])).detach().numpy(),
                               et.log_prob(_t(value[:3])).detach().numpy(), rtol=1e-9)


def test_relaxed_one_hot_argmax_follows_the_categorical():
    """The argmax of a Gumbel-softmax draw is a Categorical(probs) draw at any temperature."""
    engine.manual_seed(1)
    p = np.array([0.1, 0.6, 0.3])
    x = D.RelaxedOneHotCategorical(_e(2.0), probs=_e(p)).sample((20000,)).numpy()
    np.testing.assert_allclose(np.bincount(x.argmax(-1), minlength=3) / 20000, p, atol=5 * np.sqrt(0.25 / 20000))


# ---- MixtureSameFamily ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["scalar_components", "vector_components", "shared_mixture"])
def test_mixture_same_family_as_torch(case):
    if case == "scalar_components":
        arrays, value = [_pos(2, 3), RNG.standard_normal((2, 3)), _pos(2, 3)], RNG.standard_normal((4, 2))

        def make(M, w, loc, scale):
            return M.MixtureSameFamily(M.Categorical(w), M.Normal(loc, scale))
    elif case == "vector_components":
        arrays, value = [_pos(2, 3), RNG.standard_normal((2, 3, 2)), _pos(2, 3, 2)], RNG.standard_normal((4, 2, 2))

        def make(M, w, loc, scale):
            return M.MixtureSameFamily(M.Categorical(logits=w), M.Independent(M.Normal(loc, scale), 1))
    else:
        arrays, value = [_pos(3), RNG.standard_normal((2, 3)), _pos(2, 3)], RNG.standard_normal((4, 2))

        def make(M, w, loc, scale):
            return M.MixtureSameFamily(M.Categorical(w), M.Normal(loc, scale))
    ours, theirs = _pairs(*arrays)
    o, t = make(D, *ours), make(TD, *theirs)
    assert o.batch_shape == tuple(t.batch_shape) and o.event_shape == tuple(t.event_shape)
    assert repr(o.support) == repr(t.support) and not o.has_rsample
    _check(lambda: make(D, *ours).log_prob(_e(value)), lambda: make(TD, *theirs).log_prob(_t(value)), ours, theirs,
           rtol=1e-9)
    _check(lambda: make(D, *ours).mean, lambda: make(TD, *theirs).mean, ours, theirs)
    _check(lambda: make(D, *ours).variance, lambda: make(TD, *theirs).variance, ours, theirs, rtol=1e-9)
    if case == "scalar_components":
        _check(lambda: make(D, *ours).cdf(_e(value)), lambda: make(TD, *theirs).cdf(_t(value)), ours, theirs)
    assert o.sample((6,)).shape == (6,) + o.batch_shape + o.event_shape
    eo, et = o.expand((5,) + o.batch_shape), t.expand((5,) + tuple(t.batch_shape))
    assert eo.batch_shape == tuple(et.batch_shape) and eo.component_distribution.batch_shape == \
        tuple(et.component_distribution.batch_shape)
    np.testing.assert_allclose(eo.log_prob(_e(value[:1])).detach().numpy(),
                               et.log_prob(_t(value[:1])).detach().numpy(), rtol=1e-9)


def test_mixture_samples_follow_the_mixture():
    engine.manual_seed(2)
    w, loc, scale = np.array([0.3, 0.7]), np.array([-2.0, 3.0]), np.array([0.5, 1.0])
    gmm = D.MixtureSameFamily(D.Categorical(_e(w)), D.Normal(_e(loc), _e(scale)))
    x = gmm.sample((20000,)).numpy()
    mean, var = gmm.mean.item(), gmm.variance.item()
    np.testing.assert_allclose(x.mean(), mean, atol=5 * np.sqrt(var / 20000))
    np.testing.assert_allclose((x < 0).mean(), 0.3, atol=5 * np.sqrt(0.21 / 20000))
    # a mixture batch that only broadcasts with the components' (torch's sample fails there): each
    # batch entry draws its own component
    gmm2 = D.MixtureSameFamily(D.Categorical(_e(w)), D.Normal(_e(np.stack([loc, loc])), _e(np.stack([scale, scale]))))
    x2 = gmm2.sample((20000,)).numpy()
    assert x2.shape == (20000, 2) and abs(np.corrcoef((x2 < 0).T)[0, 1]) < 0.05


def test_mixture_same_family_errors_as_torch():
    cases = [lambda M, f: M.MixtureSameFamily(M.Categorical(f(np.ones(2))), M.Normal(f(np.zeros(3)), f(np.ones(3)))),
             lambda M, f: M.MixtureSameFamily(M.Normal(f(0.0), f(1.0)), M.Normal(f(np.zeros(3)), f(np.ones(3)))),
             lambda M, f: M.MixtureSameFamily(M.Categorical(f(np.ones((4, 3)))),
                                              M.Normal(f(np.zeros((2, 3))), f(np.ones((2, 3)))))]
    for make in cases:
        with pytest.raises(ValueError) as theirs:
            make(TD, _t)
        with pytest.raises(ValueError) as ours:
            make(D, _e)
        assert _message(ours.value) == _message(theirs.value)


# ---- special.gammainc / gammaincc and the gamma family's cdf -------------------------------------------

# torch's igamma is accurate to about 3e-9 relative for 20 < a < 250 (against mpmath and scipy, which
# ours meets to 1e-12 there: see the mpmath test below), so values are compared with torch to 1e-8
GAMMAINC_RTOL = 1e-8


@pytest.mark.parametrize("upper", [False, True])
def test_gammainc_values_and_x_gradient_as_torch(upper):
    a = np.concatenate([RNG.uniform(0.05, 5, 40), 10 ** RNG.uniform(-2, 4, 40)])
    x = np.concatenate([RNG.uniform(0.01, 12, 40), a[40:] * np.exp(RNG.normal(0, 0.3, 40))])
    name = "gammaincc" if upper else "gammainc"
    (xo,), (xt,) = _pairs(x)
    o, t = getattr(engine.special, name)(_e(a), xo), getattr(torch.special, name)(_t(a), xt)
    assert o.shape == tuple(t.shape) and o.dtype == np.float64
    np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=GAMMAINC_RTOL, atol=1e-300)
    v = RNG.standard_normal(x.shape)
    o.backward(_e(v))
    t.backward(_t(v))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-300)


def test_gammainc_against_mpmath_in_both_tails():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    points = [(0.5, 1e-3), (2.0, 1.0), (30.0, 20.0), (30.0, 45.0), (150.0, 120.0), (3.0, 60.0), (1e4, 9.5e3),
              (1e5, 1.02e5), (0.1, 40.0)]
    a, x = (np.array(v) for v in zip(*points))
    lower, upper = engine.special.gammainc(_e(a), _e(x)).numpy(), engine.special.gammaincc(_e(a), _e(x)).numpy()
    for i, (ai, xi) in enumerate(points):
        p = mpmath.gammainc(ai, 0, xi, regularized=True)
        q = mpmath.gammainc(ai, xi, mpmath.inf, regularized=True)
        np.testing.assert_allclose(lower[i], float(p), rtol=1e-11)
        np.testing.assert_allclose(upper[i], float(q), rtol=1e-11)  # Q itself, not 1 − P: exact where it is tiny


def test_gammainc_edges_dtypes_and_errors_as_torch():
    nan, inf = np.nan, np.inf
    a = np.array([0.0, 0.0, 0.0, -1.0, inf, inf, nan, 2.0, 2.0, 2.0, 2.0, 0.0, inf])
    x = np.array([1.0, 0.0, inf, 1.0, 1.0, inf, 1.0, 0.0, inf, -1.0, nan, -1.0, 0.0])
    for name in ("gammainc", "gammaincc"):
        np.testing.assert_array_equal(getattr(engine.special, name)(_e(a), _e(x)).numpy(),
                                      getattr(torch.special, name)(_t(a), _t(x)).numpy())
        for ta, tx in [(torch.ones(2), torch.ones(2, dtype=torch.float64)),
                       (torch.ones(2), torch.ones(2, dtype=torch.int64)), (torch.tensor([True]), torch.ones(1)),
                       (torch.ones(2, 3), torch.ones(4, 1, 3)),
                       (torch.ones(0), torch.ones(0)), (torch.ones(2, dtype=torch.float16), torch.ones(2))]:
            ours = getattr(engine.special, name)(engine.tensor(ta.numpy()), engine.tensor(tx.numpy()))
            theirs = getattr(torch.special, name)(ta, tx)
            assert ours.shape == tuple(theirs.shape) and str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        with pytest.raises(NotImplementedError, match=f'"{"igammac" if name == "gammaincc" else "igamma"}_cpu" '
                                                      "not implemented for 'Long'"):
            getattr(engine.special, name)(engine.ones(2, dtype="int64"), engine.ones(2, dtype="int64"))
        with pytest.raises(NotImplementedError):
            getattr(torch.special, name)(torch.ones(2, dtype=torch.int64), torch.ones(2, dtype=torch.int64))
        with pytest.raises(TypeError, match="must be Tensor, not float"):
            getattr(engine.special, name)(2.0, engine.ones(2))
        with pytest.raises(TypeError, match="must be Tensor, not float"):
            getattr(torch.special, name)(2.0, torch.ones(2))
        with pytest.raises(RuntimeError, match="The size of tensor a \\(2\\) must match the size of tensor b \\(3\\)"):
            getattr(engine.special, name)(engine.ones(2), engine.ones(3))
        with pytest.raises(RuntimeError, match="The size of tensor a \\(2\\) must match the size of tensor b \\(3\\)"):
            getattr(torch.special, name)(torch.ones(2), torch.ones(3))


@pytest.mark.parametrize("name", ["gammainc", "gammaincc"])
def test_gammainc_has_no_gradient_in_a_as_torch(name):
    a, x = engine.tensor([2.0], requires_grad=True), engine.tensor([1.5], requires_grad=True)
    ta, tx = torch.tensor([2.0], requires_grad=True), torch.tensor([1.5], requires_grad=True)
    torch_op = "igammac" if name == "gammaincc" else "igamma"
    with pytest.raises(NotImplementedError, match=f"the derivative for '{torch_op}: input' is not implemented"):
        getattr(torch.special, name)(ta, tx).sum().backward()
    with pytest.raises(NotImplementedError, match=f"the derivative for '{torch_op}: input' is not implemented"):
        getattr(engine.special, name)(a, x).sum().backward()
    x0 = engine.tensor([0.0, 1.0], dtype="float64", requires_grad=True)  # torch's formula at x = 0 too
    tx0 = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    for av in ([0.5, 0.5], [1.0, 3.0]):
        getattr(engine.special, name)(_e(av), x0).sum().backward()
        getattr(torch.special, name)(_t(av), tx0).sum().backward()
        np.testing.assert_allclose(x0.grad.numpy(), tx0.grad.numpy(), rtol=1e-12)
        x0.grad, tx0.grad = None, None


@pytest.mark.parametrize("name", ["Gamma", "Chi2"])
def test_gamma_family_cdf_as_torch(name):
    params = [_pos(3) * 2, _pos(3)] if name == "Gamma" else [_pos(3) * 3]
    value = _pos(4, 3) * 2
    grads = [False] + [True] * (len(params) - 1)  # torch has no gradient in the concentration (Chi2: in df)
    ours = [engine.tensor(p, dtype="float64", requires_grad=g) for p, g in zip(params, grads)]
    theirs = [torch.tensor(p, dtype=torch.float64, requires_grad=g) for p, g in zip(params, grads)]
    (vo,), (vt,) = _pairs(value)
    _check(lambda: getattr(D, name)(*ours).cdf(vo), lambda: getattr(TD, name)(*theirs).cdf(vt),
           ours[1:] + [vo], theirs[1:] + [vt], rtol=GAMMAINC_RTOL)
    with pytest.raises(ValueError, match="within the support"):
        getattr(D, name)(*ours).cdf(_e(-1.0))
    c = engine.tensor(params[0], dtype="float64", requires_grad=True)
    with pytest.raises(NotImplementedError, match="the derivative for 'igamma: input' is not implemented"):
        getattr(D, name)(c, *ours[1:]).cdf(vo.detach()).sum().backward()


# ---- LowRankMultivariateNormal ------------------------------------------------------------------------


@pytest.mark.parametrize("shapes", [((3,), (3, 2), (3,)), ((2, 3), (3, 1), (2, 3)), ((3,), (4, 3, 2), (1, 3))])
def test_lowrank_mvn_as_torch(shapes):
    loc_shape, w_shape, d_shape = shapes
    arrays = [RNG.standard_normal(loc_shape), RNG.standard_normal(w_shape), _pos(*d_shape)]
    ours, theirs = _pairs(*arrays)

    def pair():
        return D.LowRankMultivariateNormal(*ours), TD.LowRankMultivariateNormal(*theirs)

    o, t = pair()
    assert o.batch_shape == tuple(t.batch_shape) and o.event_shape == tuple(t.event_shape) == (3,)
    assert {k: repr(v) for k, v in o.arg_constraints.items()} == {k: repr(v) for k, v in t.arg_constraints.items()}
    value = RNG.standard_normal((5,) + o.batch_shape + (3,))
    _check(lambda: pair()[0].log_prob(_e(value)), lambda: pair()[1].log_prob(_t(value)), ours, theirs, rtol=1e-9)
    _check(lambda: pair()[0].entropy(), lambda: pair()[1].entropy(), ours, theirs, rtol=1e-9)
    for name in ("variance", "covariance_matrix", "precision_matrix", "scale_tril"):
        _check(lambda name=name: getattr(pair()[0], name), lambda name=name: getattr(pair()[1], name), ours, theirs,
               rtol=1e-9)
    assert o.rsample((4,)).shape == tuple(t.rsample((4,)).shape)
    eo, et = o.expand((2,) + o.batch_shape), t.expand((2,) + tuple(t.batch_shape))
    assert eo.batch_shape == tuple(et.batch_shape) and eo.cov_factor.shape == tuple(et.cov_factor.shape)
    np.testing.assert_allclose(eo.log_prob(_e(value[:1])).detach().numpy(), et.log_prob(_t(value[:1])).detach().numpy(),
                               rtol=1e-10)
    np.testing.assert_allclose(eo.variance.detach().numpy(), et.variance.detach().numpy(), rtol=1e-12)


def test_lowrank_mvn_samples_have_its_covariance():
    engine.manual_seed(4)
    w, d = np.array([[1.0, 0.5], [0.0, -1.0], [2.0, 0.3]]), np.array([0.5, 1.0, 0.2])
    x = D.LowRankMultivariateNormal(_e(np.zeros(3)), _e(w), _e(d)).sample((40000,)).numpy()
    cov = w @ w.T + np.diag(d)
    np.testing.assert_allclose(np.cov(x.T), cov, atol=5 * np.sqrt(2 * np.diag(cov).max() ** 2 / 40000))


def test_lowrank_mvn_errors_as_torch():
    # (a negative cov_diag: torch factorizes the capacitance before checking the arguments, so where that
    # factorization fails it raises its LinAlgError; ours checks first and raises the ValueError)
    cases = [([0.0], [[0.1]], [-1.0]), (0.0, [[1.0]], [1.0]), ([0.0, 0.0], [1.0, 1.0], [1.0, 1.0]),
             ([0.0, 0.0], [[1.0], [1.0], [1.0]], [1.0, 1.0]), ([0.0, 0.0], [[1.0], [1.0]], [1.0, 1.0, 1.0]),
             (np.zeros((2, 2)), np.ones((3, 2, 1)), np.ones(2))]
    for loc, w, d in cases:
        with pytest.raises(ValueError) as theirs:
            TD.LowRankMultivariateNormal(_t(loc), _t(w), _t(d))
        with pytest.raises(ValueError) as ours:
            D.LowRankMultivariateNormal(_e(loc), _e(w), _e(d))
        assert _message(ours.value) == _message(theirs.value)


# ---- biject_to / transform_to -----------------------------------------------------------------------

REGISTRY_CONSTRAINTS = [lambda M: M.real, lambda M: M.positive, lambda M: M.nonnegative, lambda M: M.unit_interval,
                        lambda M: M.interval(-1.0, 2.0), lambda M: M.half_open_interval(0.0, 3.0),
                        lambda M: M.simplex, lambda M: M.real_vector, lambda M: M.greater_than(2.0),
                        lambda M: M.greater_than_eq(-1.0), lambda M: M.less_than(1.0),
                        lambda M: M.independent(M.positive, 1), lambda M: M.lower_cholesky]


@pytest.mark.parametrize("registry", ["biject_to", "transform_to"])
@pytest.mark.parametrize("make", REGISTRY_CONSTRAINTS)
def test_biject_to_and_transform_to_as_torch(registry, make):
    ours, theirs = getattr(D, registry), getattr(TD, registry)
    try:
        t = theirs(make(TC))
    except NotImplementedError as e:
        with pytest.raises(NotImplementedError, match=re.escape(str(e))):
            ours(make(C))
        return
    o = ours(make(C))
    assert repr(o) == repr(t)
    x = RNG.standard_normal((4, 3, 3) if "Cholesky" in repr(t) else (4, 3))
    (xo,), (xt,) = _pairs(x)
    yo, yt = o(xo), t(xt)
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
    assert bool(make(C).check(yo).all().item())
    np.testing.assert_allclose(o.inv(yo).detach().numpy(), t.inv(yt).detach().numpy(), rtol=1e-9, atol=1e-12)
    if t.bijective:
        _check(lambda: o.log_abs_det_jacobian(xo, o(xo)), lambda: t.log_abs_det_jacobian(xt, t(xt)), [xo], [xt])


def test_constraint_registry_register():
    registry = D.constraint_registry.ConstraintRegistry()
    registry.register(C.positive, lambda c: D.transforms.ExpTransform())
    assert isinstance(registry(C.positive), D.transforms.ExpTransform)
    with pytest.raises(TypeError, match="Expected constraint to be either a Constraint subclass or instance"):
        registry.register(3, lambda c: None)
    with pytest.raises(NotImplementedError, match="Cannot transform _Simplex constraints"):
        registry(C.simplex)
