"""engine.distributions' newer families against torch.distributions (torch is the oracle): LogNormal,
Gumbel, Cauchy, HalfNormal, HalfCauchy, StudentT, Gamma, Chi2, Beta, Dirichlet, Geometric, Poisson,
Binomial, OneHotCategorical. Values of log_prob, entropy, cdf and icdf on random parameters in float64,
their gradients with respect to the parameters (engine autograd vs torch autograd), moments, shapes
and dtypes of samples, sample statistics against the analytic moments (5 standard errors, fixed seed),
the gamma draw's reparameterized gradient against torch._standard_gamma_grad, KL pairs and the
argument checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

import engine
import engine.distributions as D

torch = pytest.importorskip("torch")
TD = torch.distributions
RNG = np.random.default_rng(14)
RTOL, ATOL = 1e-10, 1e-12
# torch's trigamma (the gradient of digamma) is accurate to about 5e-10 relative (ours to 1e-14, both
# against mpmath); gradients through digamma sum and cancel trigamma terms of size up to ~10, so they are
# compared to 1e-8, relative and absolute
DIGAMMA_GRAD_RTOL = 1e-8


def _pairs(*arrays):
    ours = [engine.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    return ours, theirs


def _check(ours_fn, torch_fn, ours_params, torch_params, grad_rtol=1e-9):
    """Values equal, and gradients of the sum of the values w.r.t. every parameter."""
    o, t = ours_fn(), torch_fn()
    assert o.shape == tuple(t.shape) and o.dtype == np.float64
    np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=RTOL, atol=ATOL)
    if not t.requires_grad:
        return
    o.sum().backward()
    t.sum().backward()
    for a, b in zip(ours_params, torch_params):
        ga = np.zeros(a.shape) if a.grad is None else a.grad.numpy()
        gb = np.zeros(tuple(b.shape)) if b.grad is None else b.grad.numpy()
        np.testing.assert_allclose(ga, gb, rtol=grad_rtol, atol=1e-12 if grad_rtol < DIGAMMA_GRAD_RTOL else 1e-8)
        a.grad, b.grad = None, None


def _pos(*shape):
    return np.abs(RNG.standard_normal(shape)) + 0.3


# name: (parameter arrays, values for log_prob (and cdf), methods beyond log_prob and entropy, gradient rtol)
CONTINUOUS = {
    "LogNormal": (lambda: [RNG.standard_normal(3), _pos(3)], lambda: _pos(4, 3), ("cdf", "icdf"), 1e-9),
    "Gumbel": (lambda: [RNG.standard_normal(3), _pos(3)], lambda: RNG.standard_normal((4, 3)), ("cdf", "icdf"),
               1e-9),
    "Cauchy": (lambda: [RNG.standard_normal(3), _pos(3)], lambda: RNG.standard_normal((4, 3)), ("cdf", "icdf"),
               1e-9),
    "HalfNormal": (lambda: [_pos(3)], lambda: _pos(4, 3), ("cdf", "icdf"), 1e-9),
    "HalfCauchy": (lambda: [_pos(3)], lambda: _pos(4, 3), ("cdf", "icdf"), 1e-9),
    "StudentT": (lambda: [_pos(3) * 3, RNG.standard_normal(3), _pos(3)], lambda: RNG.standard_normal((4, 3)), (),
                 DIGAMMA_GRAD_RTOL),
    "Gamma": (lambda: [_pos(3) * 2, _pos(3)], lambda: _pos(4, 3), (), DIGAMMA_GRAD_RTOL),
    "Chi2": (lambda: [_pos(3) * 3], lambda: _pos(4, 3), (), DIGAMMA_GRAD_RTOL),
    "Beta": (lambda: [_pos(3) * 2, _pos(3) * 2], lambda: RNG.uniform(0.02, 0.98, (4, 3)), (), DIGAMMA_GRAD_RTOL),
}


@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_continuous_family_as_torch(name):
    params, values, methods, grad_rtol = CONTINUOUS[name]
    ours, theirs = _pairs(*params())
    x = values()
    make_o, make_t = (lambda: getattr(D, name)(*ours)), (lambda: getattr(TD, name)(*theirs))
    _check(lambda: make_o().log_prob(engine.tensor(x)), lambda: make_t().log_prob(torch.tensor(x)), ours, theirs,
           grad_rtol)
    _check(lambda: make_o().entropy(), lambda: make_t().entropy(), ours, theirs, grad_rtol)
    for m in methods:
        v = RNG.uniform(0.05, 0.95, 3) if m == "icdf" else x
        _check(lambda m=m, v=v: getattr(make_o(), m)(engine.tensor(v)),
               lambda m=m, v=v: getattr(make_t(), m)(torch.tensor(v)), ours, theirs)
    o, t = make_o(), make_t()
    for m in ("mean", "mode", "variance", "stddev"):
        np.testing.assert_allclose(getattr(o, m).detach().numpy(), getattr(t, m).detach().numpy(), rtol=1e-12)
    assert (o.batch_shape, o.event_shape, o.has_rsample) == (tuple(t.batch_shape), tuple(t.event_shape),
                                                              t.has_rsample)
    s = o.sample((5, 2))
    assert s.shape == (5, 2, 3) == tuple(t.sample((5, 2)).shape) and s.dtype == np.float64
    assert not s.requires_grad
    f32 = getattr(D, name)(*[engine.tensor(p.detach().numpy(), dtype="float32") for p in ours])
    assert f32.sample().dtype == np.float32 and f32.rsample((2,)).dtype == np.float32


@pytest.mark.parametrize("args", [(0.0, 1.0), (2.0,)])
def test_number_parameters_give_a_scalar_float32_distribution_as_torch(args):
    for name in ("LogNormal", "Gumbel", "Cauchy", "HalfNormal", "HalfCauchy", "StudentT", "Gamma", "Chi2", "Beta",
                 "Poisson", "Geometric"):
        n = {"LogNormal": 2, "Gumbel": 2, "Cauchy": 2, "Gamma": 2, "Beta": 2}.get(name, 1)
        a = (0.5, 1.5) if n == 2 else (0.4,)
        if n != len(args):
            continue
        o, t = getattr(D, name)(*a), getattr(TD, name)(*a)
        s, ts = o.sample((3,)), t.sample((3,))
        assert (o.batch_shape, s.shape, str(s.dtype)) == (tuple(t.batch_shape), tuple(ts.shape),
                                                          str(ts.dtype).removeprefix("torch.")), name
        np.testing.assert_allclose(o.mean.numpy(), t.mean.numpy(), rtol=1e-6, err_msg=name)


def test_dirichlet_as_torch():
    (oc,), (tc,) = _pairs(_pos(2, 4) * 2)
    v = RNG.dirichlet(np.ones(4), (3, 2))
    _check(lambda: D.Dirichlet(oc).log_prob(engine.tensor(v)), lambda: TD.Dirichlet(tc).log_prob(torch.tensor(v)),
           [oc], [tc], DIGAMMA_GRAD_RTOL)
    _check(lambda: D.Dirichlet(oc).entropy(), lambda: TD.Dirichlet(tc).entropy(), [oc], [tc], DIGAMMA_GRAD_RTOL)
    o, t = D.Dirichlet(oc), TD.Dirichlet(tc)
    for m in ("mean", "mode", "variance"):
        np.testing.assert_allclose(getattr(o, m).detach().numpy(), getattr(t, m).detach().numpy(), rtol=1e-12)
    assert (o.batch_shape, o.event_shape) == ((2,), (4,)) and o.sample((5,)).shape == (5, 2, 4)
    for c in ([0.5, 0.3], [2.0, 0.5, 3.0], [1.0, 0.3]):  # a corner when every concentration < 1; nan when none > 1
        np.testing.assert_array_equal(D.Dirichlet(engine.tensor(c)).mode.numpy(),
                                      TD.Dirichlet(torch.tensor(c)).mode.numpy())
        np.testing.assert_array_equal(D.Beta(*c[:2]).mode.numpy(), TD.Beta(*c[:2]).mode.numpy())


@pytest.mark.parametrize("by", ["probs", "logits"])
def test_discrete_families_as_torch(by):
    raw = RNG.uniform(0.05, 0.95, 3) if by == "probs" else RNG.standard_normal(3)
    k = np.array([[0.0, 2.0, 7.0], [3.0, 5.0, 1.0]])
    (op,), (tp,) = _pairs(raw)
    _check(lambda: D.Geometric(**{by: op}).log_prob(engine.tensor(k)),
           lambda: TD.Geometric(**{by: tp}).log_prob(torch.tensor(k)), [op], [tp])
    _check(lambda: D.Geometric(**{by: op}).entropy(), lambda: TD.Geometric(**{by: tp}).entropy(), [op], [tp])
    n = np.array([7.0, 5.0, 9.0])
    _check(lambda: D.Binomial(engine.tensor(n), **{by: op}).log_prob(engine.tensor(k)),
           lambda: TD.Binomial(torch.tensor(n), **{by: tp}).log_prob(torch.tensor(k)), [op], [tp])
    _check(lambda: D.Binomial(6, **{by: op}).entropy(), lambda: TD.Binomial(6, **{by: tp}).entropy(), [op], [tp])
    for make, tmake in ((lambda: D.Geometric(**{by: op}), lambda: TD.Geometric(**{by: tp})),
                        (lambda: D.Binomial(engine.tensor(n), **{by: op}),
                         lambda: TD.Binomial(torch.tensor(n), **{by: tp}))):
        o, t = make(), tmake()
        for m in ("mean", "mode", "variance", "probs", "logits"):
            np.testing.assert_allclose(getattr(o, m).detach().numpy(), getattr(t, m).detach().numpy(), rtol=1e-12)
        s = o.sample((4,))
        assert s.shape == (4, 3) == tuple(t.sample((4,)).shape) and s.dtype == np.float64
    np.testing.assert_array_equal(D.Binomial(6, **{by: op}).enumerate_support().numpy(),
                                  TD.Binomial(6, **{by: tp}).enumerate_support().numpy())
    with pytest.raises(NotImplementedError, match="Inhomogeneous total count"):
        D.Binomial(engine.tensor(n), **{by: op}).entropy()

    (pp,), (tpp,) = _pairs(RNG.uniform(0.1, 1, (2, 4)) if by == "probs" else RNG.standard_normal((2, 4)))
    v = np.eye(4)[[[1, 3], [0, 2]]]  # (2, 2, 4): a sample axis, the batch, the event
    _check(lambda: D.OneHotCategorical(**{by: pp}).log_prob(engine.tensor(v)),
           lambda: TD.OneHotCategorical(**{by: tpp}).log_prob(torch.tensor(v)), [pp], [tpp])
    _check(lambda: D.OneHotCategorical(**{by: pp}).entropy(), lambda: TD.OneHotCategorical(**{by: tpp}).entropy(),
           [pp], [tpp])
    o, t = D.OneHotCategorical(**{by: pp}), TD.OneHotCategorical(**{by: tpp})
    for m in ("mean", "mode", "variance"):
        np.testing.assert_allclose(getattr(o, m).detach().numpy(), getattr(t, m).detach().numpy(), rtol=1e-12)
    assert (o.batch_shape, o.event_shape, o.param_shape) == ((2,), (4,), (2, 4))
    s = o.sample((3,))
    assert s.shape == (3, 2, 4) and s.dtype == np.float64 and np.all(s.numpy().sum(-1) == 1)
    np.testing.assert_array_equal(o.enumerate_support().numpy(), t.enumerate_support().numpy())


def test_poisson_as_torch():
    (rate,), (trate,) = _pairs(_pos(3) * 3)
    k = np.array([[0.0, 2.0, 7.0], [3.0, 5.0, 1.0]])
    _check(lambda: D.Poisson(rate).log_prob(engine.tensor(k)), lambda: TD.Poisson(trate).log_prob(torch.tensor(k)),
           [rate], [trate])
    zero = D.Poisson(engine.tensor([0.0, 0.0])).log_prob(engine.tensor([0.0, 1.0]))  # rate 0: log 1 and log 0
    np.testing.assert_array_equal(zero.numpy(), TD.Poisson(torch.tensor([0.0, 0.0])).log_prob(
        torch.tensor([0.0, 1.0])).numpy())
    o, t = D.Poisson(rate), TD.Poisson(trate)
    for m in ("mean", "mode", "variance"):
        np.testing.assert_allclose(getattr(o, m).detach().numpy(), getattr(t, m).detach().numpy(), rtol=1e-12)
    with pytest.raises(NotImplementedError):  # torch has no Poisson entropy either
        o.entropy()
    with pytest.raises(NotImplementedError, match="no rsample"):
        o.rsample()


def _within(samples: np.ndarray, mean, var, what: str, k: float = 5.0):
    """The sample mean within k standard errors of ``mean``; the sample variance within k standard errors
    (from the samples' own fourth moment) of ``var``."""
    n = samples.shape[0]
    m = samples.mean(0)
    np.testing.assert_array_less(np.abs(m - mean), k * np.sqrt(var / n) + 1e-12, err_msg=f"{what}: mean")
    dev2 = (samples - m) ** 2
    np.testing.assert_array_less(np.abs(dev2.mean(0) - var), k * dev2.std(0) / np.sqrt(n) + 1e-12,
                                 err_msg=f"{what}: variance")


SAMPLED = {  # families with a finite variance: (constructor, support check)
    "LogNormal": (lambda: D.LogNormal(engine.tensor([0.0, 0.5]), engine.tensor([0.3, 0.6])), lambda s: s > 0),
    "Gumbel": (lambda: D.Gumbel(engine.tensor([0.0, 1.0]), engine.tensor([0.5, 2.0])), np.isfinite),
    "HalfNormal": (lambda: D.HalfNormal(engine.tensor([0.5, 2.0])), lambda s: s >= 0),
    "StudentT": (lambda: D.StudentT(engine.tensor([5.0, 9.0]), engine.tensor([1.0, -1.0]), engine.tensor([0.5, 2.0])),
                 np.isfinite),
    "Gamma": (lambda: D.Gamma(engine.tensor([0.3, 2.5, 40.0]), engine.tensor([1.0, 2.0, 0.5])), lambda s: s > 0),
    "Chi2": (lambda: D.Chi2(engine.tensor([1.0, 7.0])), lambda s: s > 0),
    "Beta": (lambda: D.Beta(engine.tensor([0.5, 2.0, 7.0]), engine.tensor([0.5, 5.0, 1.5])),
             lambda s: (s >= 0) & (s <= 1)),  # float32 draws can round to 1 (torch's support is closed)
    "Dirichlet": (lambda: D.Dirichlet(engine.tensor([[0.4, 1.0, 3.0], [2.0, 2.0, 0.7]], dtype="float64")),
                  lambda s: (s > 0) & (np.abs(s.sum(-1, keepdims=True) - 1) < 1e-12)),
    "Geometric": (lambda: D.Geometric(engine.tensor([0.2, 0.7])), lambda s: (s >= 0) & (s == np.floor(s))),
    "Poisson": (lambda: D.Poisson(engine.tensor([0.5, 4.0, 30.0])), lambda s: (s >= 0) & (s == np.floor(s))),
    "Binomial": (lambda: D.Binomial(engine.tensor([3.0, 10.0]), engine.tensor([0.3, 0.8])),
                 lambda s: (s >= 0) & (s <= np.array([3.0, 10.0])) & (s == np.floor(s))),
    "OneHotCategorical": (lambda: D.OneHotCategorical(engine.tensor([0.2, 0.5, 0.3])),
                          lambda s: (s == 0) | (s == 1)),
}


@pytest.mark.parametrize("name", sorted(SAMPLED))
def test_samples_follow_the_analytic_moments(name):
    make, in_support = SAMPLED[name]
    d = make()
    engine.manual_seed(1400)
    n = 20000
    s = d.sample((n,)).numpy().astype(np.float64)
    assert s.shape == (n, *d.batch_shape, *d.event_shape)
    assert np.all(in_support(s)), name
    _within(s, d.mean.numpy(), d.variance.numpy(), name)


@pytest.mark.parametrize("name", ["Cauchy", "HalfCauchy"])
def test_heavy_tailed_samples_follow_their_cdf(name):
    d = D.Cauchy(engine.tensor([0.0, 2.0]), engine.tensor([1.0, 0.5])) if name == "Cauchy" else (
        D.HalfCauchy(engine.tensor([1.0, 3.0])))
    engine.manual_seed(1401)
    n = 20000
    s = d.sample((n,))
    for q in (0.1, 0.5, 0.9):
        frac = (s.numpy() < d.icdf(engine.tensor(q)).numpy()).mean(0)
        np.testing.assert_array_less(np.abs(frac - q), 5 * math.sqrt(q * (1 - q) / n))


def test_standard_gamma_gradient_is_torchs():
    """d(draw)/dα of engine._standard_gamma is torch._standard_gamma_grad at the same α and draw,
    over α from 1e-2 to 1e3 (every branch of ATen's approximation)."""
    engine.manual_seed(1402)
    alpha = np.exp(RNG.uniform(math.log(1e-2), math.log(1e3), 4000))
    a = engine.tensor(alpha, dtype="float64", requires_grad=True)
    x = engine._standard_gamma(a)
    x.sum().backward()
    want = torch._standard_gamma_grad(torch.tensor(alpha), torch.tensor(x.detach().numpy()))
    np.testing.assert_allclose(a.grad.numpy(), want.numpy(), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(engine._standard_gamma_grad(a.detach(), x.detach()).numpy(), want.numpy(),
                               rtol=1e-10, atol=1e-300)
    f32 = engine._standard_gamma(engine.tensor([0.5, 2.0]))
    assert f32.dtype == np.float32 and f32.shape == (2,)


def test_gamma_family_rsample_gradients():
    """Gamma.rsample's gradients are, sample by sample, torch's: ∂x/∂concentration =
    _standard_gamma_grad(concentration, x·rate)/rate and ∂x/∂rate = −x/rate; the Beta, Dirichlet,
    Chi2 and StudentT rsamples carry a gradient whose average is d(mean)/d(parameter)."""
    conc, rate = engine.tensor([0.7, 3.0], dtype="float64", requires_grad=True), engine.tensor(
        [2.0, 0.5], dtype="float64", requires_grad=True)
    engine.manual_seed(1403)
    x = D.Gamma(conc, rate).rsample((6,))
    x.sum().backward()
    xs = x.detach().numpy()
    grad = torch._standard_gamma_grad(torch.tensor([0.7, 3.0], dtype=torch.float64).expand(6, 2),
                                      torch.tensor(xs * [2.0, 0.5])).numpy() / [2.0, 0.5]
    np.testing.assert_allclose(conc.grad.numpy(), grad.sum(0), rtol=1e-10)
    np.testing.assert_allclose(rate.grad.numpy(), (-xs / [2.0, 0.5]).sum(0), rtol=1e-10)

    n = 20000  # one batch entry per draw, so each parameter's gradient is a per-draw ∂z/∂θ
    for seed, make, params, dmean in (
        (1404, D.Beta, (1.5, 2.5), lambda c1, c0: [c0 / (c1 + c0) ** 2, -c1 / (c1 + c0) ** 2]),  # mean c1/(c1+c0)
        (1405, D.Chi2, (3.0,), lambda df: [1.0]),  # mean df
        (1406, D.Gamma, (0.4, 2.0), lambda c, r: [1 / r, -c / r ** 2]),  # mean c/r
        (1407, D.StudentT, (6.0, 0.5, 2.0), lambda df, loc, scale: [0.0, 1.0, 0.0]),  # mean loc
    ):
        engine.manual_seed(seed)
        ts = [engine.full((n,), v, dtype="float64", requires_grad=True) for v in params]
        make(*ts).rsample().sum().backward()
        for t, want in zip(ts, dmean(*params)):
            g = t.grad.numpy()
            assert abs(g.mean() - want) < 5 * g.std() / math.sqrt(n) + 1e-12, (make.__name__, g.mean(), want)
    engine.manual_seed(1408)
    c = engine.tensor(np.tile([0.5, 1.0, 2.5], (n, 1)), dtype="float64", requires_grad=True)
    y = D.Dirichlet(c).rsample()
    assert y.shape == (n, 3) and np.allclose(y.detach().numpy().sum(-1), 1)
    y[:, 0].sum().backward()  # d E[y0]/dc = (total − c0, −c0, −c0) / total²
    g = c.grad.numpy()
    want = np.array([4.0 - 0.5, -0.5, -0.5]) / 4.0 ** 2
    np.testing.assert_array_less(np.abs(g.mean(0) - want), 5 * g.std(0) / math.sqrt(n))


def test_reparameterized_samples_keep_a_graph():
    for d in (D.LogNormal(engine.tensor([0.0]), engine.tensor([1.0], requires_grad=True)),
              D.Gumbel(engine.tensor([0.0]), engine.tensor([1.0], requires_grad=True)),
              D.Cauchy(engine.tensor([0.0]), engine.tensor([1.0], requires_grad=True)),
              D.HalfNormal(engine.tensor([1.0], requires_grad=True)),
              D.HalfCauchy(engine.tensor([1.0], requires_grad=True))):
        z = d.rsample((4,))
        assert z.shape == (4, 1) and z.requires_grad
    logits = engine.tensor([0.2, -0.4, 1.0], requires_grad=True)
    st = D.OneHotCategoricalStraightThrough(logits=logits)
    z = st.rsample((5,))
    assert z.shape == (5, 3) and z.requires_grad and np.all(z.detach().numpy().sum(-1) == 1)


KL_PAIRS = {  # name: (make ours from parameters, make torch's, parameter arrays of p, then of q)
    "Gamma": (D.Gamma, TD.Gamma, lambda: [_pos(3), _pos(3)]),
    "Chi2": (D.Chi2, TD.Chi2, lambda: [_pos(3) * 2]),
    "Beta": (D.Beta, TD.Beta, lambda: [_pos(3), _pos(3)]),
    "Dirichlet": (D.Dirichlet, TD.Dirichlet, lambda: [_pos(2, 3)]),
    "Poisson": (D.Poisson, TD.Poisson, lambda: [_pos(3)]),
    "Geometric": (D.Geometric, TD.Geometric, lambda: [RNG.uniform(0.05, 0.95, 3)]),
    "HalfNormal": (D.HalfNormal, TD.HalfNormal, lambda: [_pos(3)]),
    "LogNormal": (D.LogNormal, TD.LogNormal, lambda: [RNG.standard_normal(3), _pos(3)]),
    "Cauchy": (D.Cauchy, TD.Cauchy, lambda: [RNG.standard_normal(3), _pos(3)]),
    "HalfCauchy": (D.HalfCauchy, TD.HalfCauchy, lambda: [_pos(3)]),
    "Gumbel": (D.Gumbel, TD.Gumbel, lambda: [RNG.standard_normal(3), _pos(3)]),
    "OneHotCategorical": (lambda p: D.OneHotCategorical(probs=p), lambda p: TD.OneHotCategorical(probs=p),
                          lambda: [_pos(2, 4)]),
    "Binomial": (lambda p: D.Binomial(6, p), lambda p: TD.Binomial(6, p), lambda: [RNG.uniform(0.05, 0.95, 3)]),
}


@pytest.mark.parametrize("name", sorted(KL_PAIRS))
def test_kl_divergence_as_torch(name):
    ours_cls, torch_cls, params = KL_PAIRS[name]
    (po, pt), (qo, qt) = _pairs(*params()), _pairs(*params())
    grad_rtol = DIGAMMA_GRAD_RTOL if name in ("Gamma", "Chi2", "Beta", "Dirichlet") else 1e-9
    _check(lambda: D.kl_divergence(ours_cls(*po), ours_cls(*qo)),
           lambda: TD.kl_divergence(torch_cls(*pt), torch_cls(*qt)), po + qo, pt + qt, grad_rtol)


def test_kl_exponential_gamma_and_binomial_counts_as_torch():
    (rate, conc, qrate), (trate, tconc, tqrate) = _pairs(_pos(3), _pos(3), _pos(3))
    _check(lambda: D.kl_divergence(D.Exponential(rate), D.Gamma(conc, qrate)),
           lambda: TD.kl_divergence(TD.Exponential(trate), TD.Gamma(tconc, tqrate)), [rate, conc, qrate],
           [trate, tconc, tqrate], DIGAMMA_GRAD_RTOL)
    p, q = [0.3, 0.6], [0.5, 0.2]
    ours = D.kl_divergence(D.Binomial(engine.tensor([5.0, 6.0]), engine.tensor(p)),
                           D.Binomial(engine.tensor([5.0, 4.0]), engine.tensor(q)))
    theirs = TD.kl_divergence(TD.Binomial(torch.tensor([5.0, 6.0]), torch.tensor(p)),
                              TD.Binomial(torch.tensor([5.0, 4.0]), torch.tensor(q)))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)  # float32: the second is inf
    with pytest.raises(NotImplementedError, match="q.total_count > p.total_count"):
        D.kl_divergence(D.Binomial(3, engine.tensor(0.5)), D.Binomial(4, engine.tensor(0.5)))


def _both(fn):
    """The exception types torch and ours raise for the same call (None where it returns)."""
    out = []
    for lib, tensor in ((D, engine.tensor), (TD, torch.tensor)):
        try:
            fn(lib, tensor)
            out.append(None)
        except Exception as e:  # noqa: BLE001 - the point is which one
            out.append(type(e))
    return out


@pytest.mark.parametrize("call", [
    lambda M, t: M.Gamma(-1.0, 1.0), lambda M, t: M.Gamma(1.0, 0.0), lambda M, t: M.Chi2(-1.0),
    lambda M, t: M.Beta(-1.0, 1.0), lambda M, t: M.Dirichlet(t(1.0)), lambda M, t: M.Dirichlet(t([1.0, -1.0])),
    lambda M, t: M.Geometric(t([0.0])), lambda M, t: M.Geometric(t([1.5])), lambda M, t: M.Geometric(0.5, 0.5),
    lambda M, t: M.Poisson(t([-1.0])), lambda M, t: M.Binomial(t([1.5]), t([0.5])),
    lambda M, t: M.Binomial(3, t([1.5])), lambda M, t: M.Binomial(3), lambda M, t: M.StudentT(t([-1.0])),
    lambda M, t: M.StudentT(1.0, 0.0, t([0.0])), lambda M, t: M.HalfNormal(t([-1.0])),
    lambda M, t: M.HalfCauchy(t([0.0])), lambda M, t: M.Cauchy(0.0, t([0.0])), lambda M, t: M.Gumbel(0.0, t([-1.0])),
    lambda M, t: M.LogNormal(0.0, t([0.0])), lambda M, t: M.OneHotCategorical(),
    lambda M, t: M.LogNormal(0.0, 1.0).log_prob(t([0.0])), lambda M, t: M.HalfNormal(1.0).log_prob(t([-1.0])),
    lambda M, t: M.HalfCauchy(1.0).cdf(t([-1.0])), lambda M, t: M.Gamma(1.0, 1.0).log_prob(t([-1.0])),
    lambda M, t: M.Beta(1.0, 1.0).log_prob(t([1.5])),
    lambda M, t: M.Dirichlet(t([1.0, 1.0])).log_prob(t([0.5, 0.6])),
    lambda M, t: M.Poisson(t([1.0])).log_prob(t([0.5])), lambda M, t: M.Geometric(t([0.5])).log_prob(t([-1.0])),
    lambda M, t: M.Binomial(3, t([0.5])).log_prob(t([4.0])),
    lambda M, t: M.OneHotCategorical(t([0.5, 0.5])).log_prob(t([1.0, 1.0])),
    lambda M, t: M.Binomial(3, t([0.5])).rsample(), lambda M, t: M.Geometric(t([0.5])).rsample(),
    lambda M, t: M.Gamma(t([-1.0]), 1.0, validate_args=False).mean,  # checks off: no error
])
def test_arguments_are_checked_as_torch(call):
    ours, theirs = _both(call)
    assert ours == theirs


def test_edge_values_as_torch():
    cases = [
        (lambda M, t: M.Gamma(t([0.5, 1.0, 2.0]), 1.0).log_prob(t([0.0, 0.0, 0.0]))),  # +inf, 0, -inf
        (lambda M, t: M.Geometric(t([1.0, 1.0])).log_prob(t([0.0, 2.0]))),  # 0·log 0 := 0
        (lambda M, t: M.Binomial(3, t([0.0, 1.0])).log_prob(t([0.0, 3.0]))),
        (lambda M, t: M.StudentT(t([0.5, 1.5, 3.0])).variance), (lambda M, t: M.StudentT(t([0.5, 1.5, 3.0])).mean),
        (lambda M, t: M.Cauchy(t([0.0]), 1.0).mean), (lambda M, t: M.HalfCauchy(t([1.0])).variance),
        (lambda M, t: M.HalfNormal(t([1.0])).log_prob(t([0.0]))), (lambda M, t: M.Beta(2.0, 3.0).log_prob(t(0.0))),
    ]
    for fn in cases:
        ours, theirs = fn(D, engine.tensor), fn(TD, torch.tensor)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_poisson_and_standard_gamma_functions_as_torch():
    engine.manual_seed(1409)
    rates = engine.tensor([0.0, 0.5, 3.0, 40.0], dtype="float64")
    s = engine.poisson(rates.expand(20000, 4))
    assert s.dtype == torch.poisson(torch.tensor([2.0], dtype=torch.float64)).numpy().dtype
    _within(s.numpy(), rates.numpy(), rates.numpy(), "poisson")
    with pytest.raises(RuntimeError, match="non-negative"):
        engine.poisson(engine.tensor([-1.0]))
    alpha = [-1.0, 0.0, 2.0]
    ours, theirs = engine._standard_gamma(engine.tensor(alpha)).numpy(), torch._standard_gamma(torch.tensor(alpha))
    np.testing.assert_array_equal(ours[:2], theirs.numpy()[:2])  # α ≤ 0: float32's tiny
    engine.manual_seed(1410)
    g = engine._standard_gamma(engine.tensor([0.3, 2.0, 50.0], dtype="float64").expand(20000, 3)).numpy()
    _within(g, np.array([0.3, 2.0, 50.0]), np.array([0.3, 2.0, 50.0]), "standard_gamma")
