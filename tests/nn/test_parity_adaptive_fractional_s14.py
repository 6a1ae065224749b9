"""nn.AdaptiveLogSoftmaxWithLoss against torch.nn.AdaptiveLogSoftmaxWithLoss: state_dict keys,
forward's (output, loss) values and gradients with torch's weights copied in, log_prob, predict,
unbatched input and torch's errors for bad cutoffs and targets."""

from __future__ import annotations

import numpy as np
import pytest

import nn
from engine import Tensor

torch = pytest.importorskip("torch")

CONFIGS = [((8, 10, [4, 7]), {}), ((16, 20, [2]), {"head_bias": True, "div_value": 2.0}),
           ((5, 6, [1, 2, 3, 4, 5]), {}), ((6, 9, [3, 5]), {"div_value": 1.5})]


def _pair(args, kw):
    tm = torch.nn.AdaptiveLogSoftmaxWithLoss(*args, **kw).double()
    om = nn.AdaptiveLogSoftmaxWithLoss(*args, **kw)
    om.double()
    om.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    return tm, om


@pytest.mark.parametrize("args,kw", CONFIGS)
def test_state_dict_keys_and_shapes(args, kw):
    tm = torch.nn.AdaptiveLogSoftmaxWithLoss(*args, **kw)
    om = nn.AdaptiveLogSoftmaxWithLoss(*args, **kw)
    assert [(k, tuple(v.shape)) for k, v in tm.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in om.state_dict().items()]
    assert (om.shortlist_size, om.n_clusters, om.head_size, om.cutoffs) == \
        (tm.shortlist_size, tm.n_clusters, tm.head_size, tm.cutoffs)
    assert repr(om) == repr(tm)


@pytest.mark.parametrize("args,kw", CONFIGS)
@pytest.mark.parametrize("n", [1, 7, 30])
def test_forward_values_and_gradients(args, kw, n):
    tm, om = _pair(args, kw)
    rng = np.random.default_rng(n)
    x, t = rng.standard_normal((n, args[0])), rng.integers(0, args[1], n)
    w = rng.standard_normal(n)
    tx, ox = torch.tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
    tr, orr = tm(tx, torch.tensor(t)), om(ox, Tensor(t))
    assert type(orr).__name__ == type(tr).__name__ == "_ASMoutput" and orr._fields == ("output", "loss")
    assert orr.output.shape == tuple(tr.output.shape) and orr.loss.shape == ()
    np.testing.assert_allclose(orr.output.numpy(), tr.output.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(orr.loss.item(), tr.loss.item(), rtol=1e-12)
    (tr.loss + (tr.output * torch.tensor(w)).sum()).backward()
    (orr.loss + (orr.output * Tensor(w)).sum()).backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (tn, tp), (on, op) in zip(tm.named_parameters(), om.named_parameters(), strict=True):
        assert tn == on
        assert (tp.grad is None) == (op.grad is None), tn  # clusters without a target get no gradient
        if tp.grad is not None:
            np.testing.assert_allclose(op.grad.numpy(), tp.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=tn)


def test_float32_and_unbatched():
    tm = torch.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [4, 7])
    om = nn.AdaptiveLogSoftmaxWithLoss(8, 10, [4, 7])
    om.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal(8).astype(np.float32)
    for t in (1, 5, 9):
        tr, orr = tm(torch.tensor(x), torch.tensor(t)), om(Tensor(x), Tensor(np.array(t)))
        assert orr.output.shape == () and orr.output.dtype == np.float32
        np.testing.assert_allclose(orr.output.item(), tr.output.item(), rtol=1e-5)
        np.testing.assert_allclose(orr.loss.item(), tr.loss.item(), rtol=1e-5)


@pytest.mark.parametrize("args,kw", CONFIGS)
def test_log_prob_and_predict(args, kw):
    tm, om = _pair(args, kw)
    x = np.random.default_rng(1).standard_normal((40, args[0])) * 3
    tx, ox = torch.tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
    tl, ol = tm.log_prob(tx), om.log_prob(ox)
    np.testing.assert_allclose(ol.numpy(), tl.detach().numpy(), rtol=1e-12, atol=1e-12)
    w = np.random.default_rng(2).standard_normal(tl.shape)
    (tl * torch.tensor(w)).sum().backward()
    (ol * Tensor(w)).sum().backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(om.predict(Tensor(x)).numpy(), tm.predict(torch.tensor(x)).numpy())


@pytest.mark.parametrize("column", [0, "cluster", None])
def test_predict_branches(column):
    """All rows' head argmax in the shortlist, all in a cluster, and mixed: torch's three paths."""
    tm, om = _pair((6, 9, [3, 5]), {"head_bias": True})
    with torch.no_grad():
        if column is not None:
            tm.head.bias[0 if column == 0 else 3] = 100.0
    om.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((25, 6)) * 3
    expect = tm.predict(torch.tensor(x)).numpy()
    got = om.predict(Tensor(x))
    assert got.dtype == np.int64 and got.shape == (25,)
    np.testing.assert_array_equal(got.numpy(), expect)
    np.testing.assert_array_equal(got.numpy(), tm.log_prob(torch.tensor(x)).argmax(1).numpy())


def _error(fn):
    with pytest.raises(Exception) as e:
        fn()
    return e


@pytest.mark.parametrize("cutoffs", [[], [3, 2], [0], [10], [2, 2], [2.5], [-1, 3]])
def test_bad_cutoffs(cutoffs):
    te = _error(lambda: torch.nn.AdaptiveLogSoftmaxWithLoss(4, 10, cutoffs))
    oe = _error(lambda: nn.AdaptiveLogSoftmaxWithLoss(4, 10, cutoffs))
    assert oe.type is te.type is ValueError and str(oe.value) == str(te.value)


@pytest.mark.parametrize("shape,target", [((3, 4), [0, 10, 1]), ((3, 4), [0, -1, 1]), ((3, 4), [1, 2]),
                                          ((3, 4), [[1, 2, 3]]), ((4,), [1]), ((3, 4), 1), ((1, 3, 4), [1])])
def test_bad_targets(shape, target):
    tm = torch.nn.AdaptiveLogSoftmaxWithLoss(4, 10, [3])
    om = nn.AdaptiveLogSoftmaxWithLoss(4, 10, [3])
    x = np.zeros(shape, np.float32)
    te = _error(lambda: tm(torch.tensor(x), torch.tensor(target)))
    oe = _error(lambda: om(Tensor(x), Tensor(np.array(target))))
    assert oe.type is te.type is RuntimeError
    assert str(oe.value).replace("torch.Size([", "(").replace("])", ")") == \
        str(te.value).replace("torch.Size([", "(").replace("])", ")")


# ---- F.fractional_max_pool2d / 3d with torch's _random_samples ----------------------------------------

@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("seed", range(12))
def test_fractional_max_pool_matches_torch(nd, seed):
    import engine.functional as F

    rng = np.random.default_rng(seed)
    dt = (np.float32, np.float64)[seed % 2]
    k = tuple(int(rng.integers(1, 4)) for _ in range(nd))
    space = tuple(kk + int(rng.integers(2, 9)) for kk in k)
    out = tuple(int(rng.integers(1, s - kk + 1 + (nd == 2))) for s, kk in zip(space, k))
    n, c = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    x = rng.standard_normal((n, c) + space).astype(dt)
    if seed % 3 == 0:
        x = np.round(x)  # ties: torch's first maximum
    u = rng.uniform(0, 1, (n, c, nd)).astype(dt)
    tx, ox = torch.tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
    tf = getattr(torch.nn.functional, f"fractional_max_pool{nd}d")
    of = getattr(F, f"fractional_max_pool{nd}d")
    ty, ti = tf(tx, k, output_size=out, return_indices=True, _random_samples=torch.tensor(u))
    oy, oi = of(ox, k, output_size=out, return_indices=True, _random_samples=Tensor(u))
    assert oy.dtype == dt and oi.dtype == np.int64
    np.testing.assert_array_equal(oy.numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(oi.numpy(), ti.numpy())
    w = rng.standard_normal(ty.shape).astype(dt)
    (ty * torch.tensor(w)).sum().backward()
    (oy * Tensor(w)).sum().backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    # unbatched (C, *space) and output_ratio
    ratio = (0.5,) * nd
    np.testing.assert_array_equal(of(Tensor(x[0]), k, output_ratio=ratio, _random_samples=Tensor(u[:1])).numpy(),
                                  tf(torch.tensor(x[0]), k, output_ratio=ratio,
                                     _random_samples=torch.tensor(u[:1])).numpy())


@pytest.mark.parametrize("nd,shape,k,out", [(2, (4, 5), 2, (4, 3)), (2, (4, 4), 3, (3, 3)),
                                            (3, (3, 3, 6), 2, (2, 2, 1)), (3, (5, 6, 5), 3, (2, 3, 3)),
                                            (3, (4, 8, 4), (1, 3, 2), (1, 6, 3))])
def test_fractional_max_pool_errors(nd, shape, k, out):
    import engine.functional as F

    u = np.full((1, 1, nd), 0.5)
    te = _error(lambda: getattr(torch.nn.functional, f"fractional_max_pool{nd}d")(
        torch.zeros((1, 1) + shape, dtype=torch.float64), k, output_size=out, _random_samples=torch.tensor(u)))
    oe = _error(lambda: getattr(F, f"fractional_max_pool{nd}d")(Tensor(np.zeros((1, 1) + shape)), k, output_size=out,
                                                               _random_samples=Tensor(u)))
    assert oe.type is te.type is RuntimeError and str(oe.value) == str(te.value)


def test_fractional_max_pool_draws_from_engine_generator():
    import engine
    import engine.functional as F

    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 9, 9)))
    engine.manual_seed(5)
    a = F.fractional_max_pool2d(x, 2, output_size=4)
    engine.manual_seed(5)
    u = engine.rand(2, 3, 2, dtype=x.dtype)
    np.testing.assert_array_equal(a.numpy(), F.fractional_max_pool2d(x, 2, output_size=4, _random_samples=u).numpy())
    with pytest.raises(ValueError, match="output_size or an output_ratio"):
        F.fractional_max_pool2d(x, 2)
