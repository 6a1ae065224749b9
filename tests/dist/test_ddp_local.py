"""DistributedDataParallel in this process, as one MPI rank (a singleton COMM_WORLD, no mpiexec): the
same bucket and hook path as with many ranks. The GPU case runs NCCL with a 1-rank communicator."""

import numpy as np
import pytest

import engine
import engine.functional as F
import nn
from engine import Tensor

MPI = pytest.importorskip("mpi4py.MPI")
pytestmark = pytest.mark.dist


def _cnn(dtype="float64", device="cpu"):
    engine.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    return model.astype(dtype).to(device)


def _step(model, x, y, device="cpu"):
    loss = F.cross_entropy(model(Tensor(x, device=device)), Tensor(y, device=device))
    loss.backward()
    return loss


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((4, 1, 6, 6)), rng.integers(0, 5, size=4)


def test_one_rank_gives_the_plain_gradients_through_the_buckets():
    ref, model = _cnn(), _cnn()
    ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=1e-3)  # 131 float64 per bucket
    assert len(ddp.buckets) > 1 and ddp.world_size == 1
    launched = []
    launch = ddp._launch
    ddp._launch = lambda b: (launched.append(b), launch(b))
    x, y = _data()
    _step(ref, x, y)
    _step(ddp, x, y)
    assert len(launched) == len(ddp.buckets) and all(b.request is None for b in ddp.buckets)  # all waited on
    for a, b in zip(ref.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    assert ddp.flat.is_intact()


def test_no_sync_skips_the_all_reduce_and_state_dict_keys_as_torch():
    ddp = nn.parallel.DistributedDataParallel(_cnn())
    calls = []
    launch = ddp._launch
    ddp._launch = lambda b: (calls.append(b), launch(b))
    x, y = _data()
    with ddp.no_sync():
        _step(ddp, x, y)
    assert calls == [] and all(b.pending == len(b.params) for b in ddp.buckets)
    _step(ddp, x, y)
    assert len(calls) == len(ddp.buckets)
    assert list(ddp.state_dict()) == ["module." + k for k in ddp.module.state_dict()]


class _WithUnused(nn.Module):
    def __init__(self):
        super().__init__()
        self.net, self.unused = _cnn(), nn.Linear(2, 2).astype("float64")

    def forward(self, x):
        return self.net(x)


def test_an_unused_parameter_needs_finish_gradient_sync():
    model = _WithUnused()
    extra = model.unused
    ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=1000)
    x, y = _data()
    _step(ddp, x, y)
    with pytest.raises(RuntimeError, match="finish_gradient_sync"):
        ddp(Tensor(x))
    ddp.finish_gradient_sync()
    assert ddp._launched == 0 and not ddp.flat.grad[slice(*ddp._span[id(extra.weight)])].any()
    ddp(Tensor(x))  # the next forward is fine


def test_errors():
    with pytest.raises(ValueError, match="no parameter"):
        nn.parallel.DistributedDataParallel(nn.ReLU())


@pytest.mark.gpu
@pytest.mark.skipif(not engine.gpu_available(), reason="needs CuPy and a CUDA device")
def test_nccl_one_rank_equals_the_plain_gradients():
    pytest.importorskip("cupy.cuda.nccl")
    ref, model = _cnn("float32", "gpu"), _cnn("float32", "gpu")
    ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=1e-3)
    assert ddp.gpu and len(ddp.buckets) > 1
    x, y = _data()
    _step(ref, x.astype(np.float32), y, "gpu")
    _step(ddp, x.astype(np.float32), y, "gpu")
    for a, b in zip(ref.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
