"""engine.distributions against torch.distributions: log_prob, entropy, cdf/icdf, moments and KL values,
their float64 gradients with respect to the parameters (engine autograd vs torch autograd), shapes of
samples, the reparameterized sample's gradient, sample statistics, and torch's argument checks."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.distributions as D

torch = pytest.importorskip("torch")
TD = torch.distributions
RNG = np.random.default_rng(0)


def _pair(a):
    """The same float64 values as an engine Tensor and a torch tensor, both requiring grad."""
    return engine.tensor(a, dtype="float64", requires_grad=True), torch.tensor(a, dtype=torch.float64,
                                                                               requires_grad=True)


def _check(ours_fn, torch_fn, ours_params, torch_params):
    """Values equal, and gradients of the sum of the values w.r.t. every parameter."""
    o, t = ours_fn(), torch_fn()
    np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)
    o.sum().backward()
    t.sum().backward()
    for a, b in zip(ours_params, torch_params):  # no gradient (a parameter the value does not use) is zero
        ga = np.zeros(a.shape) if a.grad is None else a.grad.numpy()
        gb = np.zeros(tuple(b.shape)) if b.grad is None else b.grad.numpy()
        np.testing.assert_allclose(ga, gb, rtol=1e-9, atol=1e-12)
        a.grad, b.grad = None, None


def _normals():
    loc, scale = RNG.standard_normal((2, 3)), np.abs(RNG.standard_normal((2, 3))) + 0.3
    (ol, tl), (os_, ts) = _pair(loc), _pair(scale)
    return (D.Normal(ol, os_), TD.Normal(tl, ts)), (ol, os_), (tl, ts)


def test_normal_log_prob_entropy_cdf_icdf_moments():
    (o, t), op, tp = _normals()
    x = RNG.standard_normal((4, 2, 3))
    _check(lambda: o.log_prob(engine.tensor(x)), lambda: t.log_prob(torch.tensor(x)), op, tp)
    _check(o.entropy, t.entropy, op, tp)
    _check(lambda: o.cdf(engine.tensor(x)), lambda: t.cdf(torch.tensor(x)), op, tp)
    u = RNG.uniform(0.05, 0.95, (2, 3))
    _check(lambda: o.icdf(engine.tensor(u)), lambda: t.icdf(torch.tensor(u)), op, tp)
    for name in ("mean", "mode", "stddev", "variance"):
        np.testing.assert_allclose(getattr(o, name).numpy(), getattr(t, name).detach().numpy(), rtol=1e-12)
    assert o.batch_shape == tuple(t.batch_shape) and o.event_shape == ()


def test_normal_rsample_carries_the_reparameterized_gradient():
    (o, _), (loc, scale), _ = _normals()
    z = o.rsample((5,))
    assert z.shape == (5, 2, 3) and o.sample((7,)).shape == (7, 2, 3) and not o.sample().requires_grad
    z.sum().backward()
    eps = (z.detach().numpy() - loc.numpy()) / scale.numpy()
    np.testing.assert_allclose(loc.grad.numpy(), np.full((2, 3), 5.0))
    np.testing.assert_allclose(scale.grad.numpy(), eps.sum(0), rtol=1e-10)


def test_samples_follow_their_distribution():
    engine.manual_seed(0)
    n = 20000
    z = D.Normal(engine.tensor([1.0, -2.0]), engine.tensor([0.5, 2.0])).sample((n,)).numpy()
    np.testing.assert_allclose(z.mean(0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(z.std(0), [0.5, 2.0], rtol=0.03)
    b = D.Bernoulli(probs=engine.tensor([0.2, 0.9])).sample((n,)).numpy()
    assert set(np.unique(b)) <= {0.0, 1.0}
    np.testing.assert_allclose(b.mean(0), [0.2, 0.9], atol=0.02)
    c = D.Categorical(probs=engine.tensor([[0.1, 0.6, 0.3]])).sample((n,)).numpy()
    assert c.shape == (n, 1) and c.dtype == np.int64
    np.testing.assert_allclose(np.bincount(c[:, 0], minlength=3) / n, [0.1, 0.6, 0.3], atol=0.02)
    u = D.Uniform(engine.tensor([0.0]), engine.tensor([4.0])).sample((n,)).numpy()
    assert u.min() >= 0 and u.max() < 4
    np.testing.assert_allclose(u.mean(), 2.0, atol=0.05)


@pytest.mark.parametrize("by", ["probs", "logits"])
def test_bernoulli_and_categorical_as_torch(by):
    raw = RNG.uniform(0.05, 0.95, (3, 4)) if by == "probs" else RNG.standard_normal((3, 4))
    (op, tp) = _pair(raw)
    # a fresh distribution per backward: the derived parameter (logits of probs, or probs of logits) is
    # made once per object, and a backward frees its graph (torch's lazy_property does the same)
    x = (RNG.random((3, 4)) < 0.5).astype(np.float64)
    _check(lambda: D.Bernoulli(**{by: op}).log_prob(engine.tensor(x)),
           lambda: TD.Bernoulli(**{by: tp}).log_prob(torch.tensor(x)), [op], [tp])
    _check(lambda: D.Bernoulli(**{by: op}).entropy(), lambda: TD.Bernoulli(**{by: tp}).entropy(), [op], [tp])
    o, t = D.Bernoulli(**{by: op}), TD.Bernoulli(**{by: tp})
    np.testing.assert_allclose(o.variance.detach().numpy(), t.variance.detach().numpy(), rtol=1e-10)
    (cp, ctp) = _pair(raw)
    v = np.array([[0, 3, 1], [2, 2, 0]])  # (2, 3): broadcast over the batch
    _check(lambda: D.Categorical(**{by: cp}).log_prob(engine.tensor(v)),
           lambda: TD.Categorical(**{by: ctp}).log_prob(torch.tensor(v)), [cp], [ctp])
    _check(lambda: D.Categorical(**{by: cp}).entropy(), lambda: TD.Categorical(**{by: ctp}).entropy(), [cp], [ctp])
    c, tc = D.Categorical(**{by: cp}), TD.Categorical(**{by: ctp})
    assert c.batch_shape == (3,) and c.param_shape == (3, 4)
    np.testing.assert_array_equal(c.mode.numpy(), tc.mode.numpy())
    assert np.isnan(c.mean.numpy()).all() and c.sample((2, 5)).shape == (2, 5, 3)


def test_uniform_and_independent_as_torch():
    (lo, tlo), (hi, thi) = _pair(RNG.uniform(-2, 0, 3)), _pair(RNG.uniform(1, 3, 3))
    o, t = D.Uniform(lo, hi), TD.Uniform(tlo, thi)
    x = RNG.uniform(0, 0.9, (2, 3))
    _check(lambda: o.log_prob(engine.tensor(x)), lambda: t.log_prob(torch.tensor(x)), [lo, hi], [tlo, thi])
    _check(o.entropy, t.entropy, [lo, hi], [tlo, thi])
    _check(lambda: o.cdf(engine.tensor(x)), lambda: t.cdf(torch.tensor(x)), [lo, hi], [tlo, thi])
    (n, tn), ol, tl = _normals()
    oi, ti = D.Independent(n, 1), TD.Independent(tn, 1)
    assert (oi.batch_shape, oi.event_shape) == (tuple(ti.batch_shape), tuple(ti.event_shape)) == ((2,), (3,))
    y = RNG.standard_normal((2, 3))
    _check(lambda: oi.log_prob(engine.tensor(y)), lambda: ti.log_prob(torch.tensor(y)), ol, tl)
    _check(oi.entropy, ti.entropy, ol, tl)


def test_kl_divergences_as_torch():
    (p, tp), pp, tpp = _normals()
    (q, tq), qp, tqp = _normals()
    _check(lambda: D.kl_divergence(p, q), lambda: TD.kl_divergence(tp, tq), pp + qp, tpp + tqp)
    _check(lambda: D.kl_divergence(D.Independent(p, 1), D.Independent(q, 1)),
           lambda: TD.kl_divergence(TD.Independent(tp, 1), TD.Independent(tq, 1)), pp + qp, tpp + tqp)
    vae = D.kl_divergence(p, D.Normal(0.0, 1.0))  # against a scalar prior: broadcast
    np.testing.assert_allclose(vae.detach().numpy(), TD.kl_divergence(tp, TD.Normal(0.0, 1.0)).detach().numpy(),
                               rtol=1e-6)
    for probs_p, probs_q in (([0.3, 0.0, 0.7], [0.5, 0.5, 0.0]), ([0.2, 0.3, 0.5], [0.1, 0.1, 0.8])):
        a, b = D.Categorical(probs=engine.tensor(probs_p)), D.Categorical(probs=engine.tensor(probs_q))
        want = TD.kl_divergence(TD.Categorical(probs=torch.tensor(probs_p)),
                                TD.Categorical(probs=torch.tensor(probs_q)))
        np.testing.assert_allclose(D.kl_divergence(a, b).numpy(), want.numpy(), rtol=1e-6)
    pb, qb = [0.0, 0.4, 1.0], [0.5, 0.0, 0.3]
    want = TD.kl_divergence(TD.Bernoulli(torch.tensor(pb)), TD.Bernoulli(torch.tensor(qb)))
    np.testing.assert_allclose(D.kl_divergence(D.Bernoulli(engine.tensor(pb)), D.Bernoulli(engine.tensor(qb))).numpy(),
                               want.numpy(), rtol=1e-6)
    u1, u2 = D.Uniform(0.0, 1.0), D.Uniform(-1.0, 2.0)
    assert np.isclose(D.kl_divergence(u1, u2).item(), np.log(3.0)) and D.kl_divergence(u2, u1).item() == np.inf
    with pytest.raises(NotImplementedError, match="No KL"):
        D.kl_divergence(p, u1)


def test_register_kl_adds_a_rule():
    class Shifted(D.Normal):
        pass

    @D.register_kl(Shifted, D.Uniform)
    def _kl(p, q):
        return engine.tensor(7.0)

    try:
        assert D.kl_divergence(Shifted(0.0, 1.0), D.Uniform(0.0, 1.0)).item() == 7.0
        assert D.kl_divergence(Shifted(0.0, 1.0), D.Normal(0.0, 1.0)).item() == 0.0  # the Normal rule
    finally:
        D._KL.pop((Shifted, D.Uniform))


def test_arguments_are_checked_as_torch():
    with pytest.raises(ValueError, match="parameter scale .* GreaterThan"):
        D.Normal(0.0, engine.tensor([1.0, 0.0]))
    D.Normal(0.0, -1.0, validate_args=False)  # checks off
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        D.Bernoulli()
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        D.Categorical(probs=engine.ones(2), logits=engine.ones(2))
    with pytest.raises(ValueError, match="parameter probs"):
        D.Bernoulli(probs=engine.tensor([1.5]))
    with pytest.raises(ValueError, match="within the support"):
        D.Uniform(0.0, 1.0).log_prob(1.5)
    with pytest.raises(ValueError, match="within the support"):
        D.Categorical(logits=engine.zeros(3)).log_prob(engine.tensor([3]))
    with pytest.raises(ValueError, match="within the support"):
        D.Bernoulli(probs=engine.tensor([0.5])).log_prob(engine.tensor([0.5]))
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims <= len"):
        D.Independent(D.Normal(engine.zeros(3), engine.ones(3)), 2)
    with pytest.raises(NotImplementedError, match="no rsample"):
        D.Bernoulli(probs=engine.tensor([0.5])).rsample()


def _mvn_params():
    a = RNG.standard_normal((2, 3, 3))
    tril = np.tril(a) + 2.5 * np.eye(3)  # a lower factor with a positive diagonal
    return RNG.standard_normal((2, 3)), tril


def test_multivariate_normal_as_torch():
    loc, tril = _mvn_params()
    (ol, tl), (oL, tL) = _pair(loc), _pair(tril)
    x = RNG.standard_normal((4, 2, 3))
    _check(lambda: D.MultivariateNormal(ol, scale_tril=oL).log_prob(engine.tensor(x)),
           lambda: TD.MultivariateNormal(tl, scale_tril=tL).log_prob(torch.tensor(x)), [ol, oL], [tl, tL])
    _check(lambda: D.MultivariateNormal(ol, scale_tril=oL).entropy(),
           lambda: TD.MultivariateNormal(tl, scale_tril=tL).entropy(), [ol, oL], [tl, tL])
    loc2, tril2 = _mvn_params()
    (ol2, tl2), (oL2, tL2) = _pair(loc2[0]), _pair(tril2[1])  # a batch against a single one: broadcast
    ours = lambda: D.kl_divergence(D.MultivariateNormal(ol, scale_tril=oL),  # noqa: E731
                                   D.MultivariateNormal(ol2, scale_tril=oL2))
    theirs = lambda: TD.kl_divergence(TD.MultivariateNormal(tl, scale_tril=tL),  # noqa: E731
                                      TD.MultivariateNormal(tl2, scale_tril=tL2))
    _check(ours, theirs, [ol, oL, ol2, oL2], [tl, tL, tl2, tL2])
    cov = tril @ tril.transpose(0, 2, 1)
    want = TD.MultivariateNormal(torch.tensor(loc), covariance_matrix=torch.tensor(cov))
    for kw in ({"covariance_matrix": cov}, {"precision_matrix": np.linalg.inv(cov)}):
        d = D.MultivariateNormal(engine.tensor(loc), **{k: engine.tensor(v) for k, v in kw.items()})
        np.testing.assert_allclose(d.log_prob(engine.tensor(x)).numpy(), want.log_prob(torch.tensor(x)).numpy(),
                                   rtol=1e-9)
        np.testing.assert_allclose(d.covariance_matrix.numpy(), cov, rtol=1e-9)
        np.testing.assert_allclose(d.variance.numpy(), want.variance.numpy(), rtol=1e-9)
    d = D.MultivariateNormal(ol, scale_tril=oL)
    assert (d.batch_shape, d.event_shape, d.rsample((5,)).shape) == ((2,), (3,), (5, 2, 3))
    engine.manual_seed(1)
    s = D.MultivariateNormal(engine.tensor(loc[0]), scale_tril=engine.tensor(tril[0])).sample((40000,)).numpy()
    np.testing.assert_allclose(np.cov(s.T), cov[0], atol=0.15 * np.abs(cov[0]).max())
    with pytest.raises(ValueError, match="Exactly one of covariance_matrix or precision_matrix or scale_tril"):
        D.MultivariateNormal(engine.zeros(3), covariance_matrix=engine.eye(3), scale_tril=engine.eye(3))
    with pytest.raises(ValueError, match="loc must be at least one-dimensional"):
        D.MultivariateNormal(engine.tensor(0.0), scale_tril=engine.eye(1))


@pytest.mark.parametrize("name", ["Laplace", "Exponential"])
def test_laplace_and_exponential_as_torch(name):
    if name == "Laplace":
        (a, ta), (b, tb) = _pair(RNG.standard_normal(3)), _pair(np.abs(RNG.standard_normal(3)) + 0.5)
        ours, theirs, params, tparams = (lambda: D.Laplace(a, b)), (lambda: TD.Laplace(ta, tb)), [a, b], [ta, tb]
        x = RNG.standard_normal((2, 3))
    else:
        (a, ta) = _pair(np.abs(RNG.standard_normal(3)) + 0.5)
        ours, theirs, params, tparams = (lambda: D.Exponential(a)), (lambda: TD.Exponential(ta)), [a], [ta]
        x = np.abs(RNG.standard_normal((2, 3)))
    _check(lambda: ours().log_prob(engine.tensor(x)), lambda: theirs().log_prob(torch.tensor(x)), params, tparams)
    _check(lambda: ours().entropy(), lambda: theirs().entropy(), params, tparams)
    _check(lambda: ours().cdf(engine.tensor(x)), lambda: theirs().cdf(torch.tensor(x)), params, tparams)
    u = RNG.uniform(0.05, 0.95, 3)
    _check(lambda: ours().icdf(engine.tensor(u)), lambda: theirs().icdf(torch.tensor(u)), params, tparams)
    other = [engine.tensor(np.abs(RNG.standard_normal(3)) + 0.5, dtype="float64") for _ in params]
    _check(lambda: D.kl_divergence(ours(), getattr(D, name)(*other)),
           lambda: TD.kl_divergence(theirs(), getattr(TD, name)(*[torch.tensor(o.numpy()) for o in other])),
           params, tparams)
    for m in ("mean", "variance", "stddev"):
        np.testing.assert_allclose(getattr(ours(), m).detach().numpy(), getattr(theirs(), m).detach().numpy(),
                                   rtol=1e-12)
    engine.manual_seed(2)
    s = ours().sample((40000,)).numpy()
    np.testing.assert_allclose(s.mean(0), ours().mean.detach().numpy(), atol=0.05)
    np.testing.assert_allclose(s.var(0), ours().variance.detach().numpy(), rtol=0.1)
