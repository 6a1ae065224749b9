"""nn.DataParallel (one device), nn.SyncBatchNorm (one process) with convert_sync_batchnorm,
nn.NLLLoss2d and nn.Container as torch's: reprs, state_dict keys, forward values and gradients
(float64) with torch's weights copied in, and the deprecation warnings."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import nn

torch = pytest.importorskip("torch")


def _copy(ours, theirs) -> None:
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def test_data_parallel_calls_the_module():
    tnet = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    theirs = torch.nn.DataParallel(tnet)
    ours = nn.DataParallel(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double())
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.device_ids == theirs.device_ids == []
    _copy(ours, theirs)
    assert isinstance(ours.module, nn.Sequential)
    x = np.random.default_rng(0).standard_normal((5, 3))
    ty, oy = theirs(torch.tensor(x)), ours(engine.Tensor(x))
    np.testing.assert_allclose(oy.numpy(), ty.detach().numpy(), rtol=1e-12)
    ty.sum().backward()
    oy.sum().backward()
    for (k, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert k.startswith("module.")
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, err_msg=k)


@pytest.mark.parametrize("shape", [(4, 3), (4, 3, 5), (2, 3, 2, 2), (2, 3, 2, 2, 2), (2, 3, 1, 2, 2, 2)])
@pytest.mark.parametrize("kwargs", [dict(), dict(momentum=None), dict(affine=False), dict(track_running_stats=False),
                                    dict(bias=False, eps=1e-3)])
def test_sync_batch_norm_is_batch_norm_in_one_process(shape, kwargs):
    theirs, ours = torch.nn.SyncBatchNorm(3, **kwargs).double(), nn.SyncBatchNorm(3, **kwargs).double()
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(0)
    for training in (True, True, False):
        theirs.train(training)
        ours.train(training)
        x = rng.standard_normal(shape)
        tx, ox = torch.tensor(x, requires_grad=True), engine.Tensor(x, requires_grad=True)
        ty, oy = theirs(tx), ours(ox)
        np.testing.assert_allclose(oy.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        g = rng.standard_normal(shape)
        ty.backward(torch.tensor(g))
        oy.backward(engine.Tensor(g))
        np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
        for k, v in theirs.state_dict().items():
            np.testing.assert_allclose(np.asarray(ours.state_dict()[k]), v.numpy(), rtol=1e-12, err_msg=k)


def test_sync_batch_norm_errors():
    for m, x in ((torch.nn.SyncBatchNorm(3), torch.randn(3)), (nn.SyncBatchNorm(3), engine.randn(3))):
        with pytest.raises(ValueError, match=r"expected at least 2D input \(got 1D input\)"):
            m(x)
    for m, x in ((torch.nn.SyncBatchNorm(0), torch.randn(2, 0)), (nn.SyncBatchNorm(0), engine.randn(2, 0))):
        with pytest.raises(ValueError, match="SyncBatchNorm number of input channels should be non-zero"):
            m(x)


def test_convert_sync_batchnorm():
    def build(m):
        return m.Sequential(m.Conv2d(2, 3, 1), m.BatchNorm2d(3, momentum=0.3),
                            m.Sequential(m.BatchNorm2d(3, affine=False)))

    theirs, ours = build(torch.nn), build(nn)
    ours.eval()
    theirs.eval()
    bn = ours[1]
    tc, oc = torch.nn.SyncBatchNorm.convert_sync_batchnorm(theirs), nn.SyncBatchNorm.convert_sync_batchnorm(ours)
    assert oc is ours and tc is theirs  # the container itself, its BatchNorms replaced
    assert repr(oc) == repr(tc)
    assert type(oc[1]) is nn.SyncBatchNorm and type(oc[2][0]) is nn.SyncBatchNorm
    assert oc[1].weight is bn.weight and oc[1].running_mean is bn.running_mean and not oc[1].training
    assert list(oc.state_dict()) == list(tc.state_dict())
    single = nn.BatchNorm1d(4)
    new = nn.SyncBatchNorm.convert_sync_batchnorm(single)
    assert new is not single and type(new) is nn.SyncBatchNorm and new.bias is single.bias


def test_nll_loss_2d_is_nll_loss():
    with pytest.warns(FutureWarning, match="`NLLLoss2d` has been deprecated"):
        theirs = torch.nn.NLLLoss2d(ignore_index=1, reduction="sum")
    with pytest.warns(FutureWarning, match="`NLLLoss2d` has been deprecated"):
        ours = nn.NLLLoss2d(ignore_index=1, reduction="sum")
    assert isinstance(ours, nn.NLLLoss) and repr(ours) == repr(theirs) == "NLLLoss2d()"
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((2, 4, 3, 3)), rng.integers(0, 4, (2, 3, 3))
    tx, ox = torch.tensor(x, requires_grad=True), engine.Tensor(x, requires_grad=True)
    ty, oy = theirs(tx, torch.tensor(t)), ours(ox, engine.Tensor(t))
    np.testing.assert_allclose(oy.numpy(), ty.detach().numpy(), rtol=1e-12)
    ty.backward()
    oy.backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_container():
    with pytest.warns(FutureWarning, match="`nn.Container` is deprecated"):
        theirs = torch.nn.Container(a=torch.nn.Linear(1, 2), b=torch.nn.ReLU())
    with pytest.warns(FutureWarning, match="`nn.Container` is deprecated"):
        ours = nn.Container(a=nn.Linear(1, 2), b=nn.ReLU())
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
