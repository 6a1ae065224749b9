"""The Lazy conv / conv-transpose / batch-norm / instance-norm modules and nn.UninitializedBuffer as
torch's: constructor defaults, reprs and state_dict entries before the first forward, the channel
count from the first input, the class they become, and forward values and gradients (float64)
once torch's weights are copied in; load_state_dict takes the checkpoint's shapes."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import engine
import nn

torch = pytest.importorskip("torch")

CASES = [
    ("LazyConv1d", dict(out_channels=4, kernel_size=3), (2, 5, 9)),
    ("LazyConv2d", dict(out_channels=4, kernel_size=3), (2, 6, 7, 7)),
    ("LazyConv2d", dict(out_channels=4, kernel_size=3), (6, 7, 7)),  # unbatched
    ("LazyConv2d", dict(out_channels=4, kernel_size=3, groups=2, padding=1, bias=False,
                        padding_mode="reflect"), (2, 6, 7, 7)),
    ("LazyConv3d", dict(out_channels=2, kernel_size=2, stride=2), (2, 3, 4, 5, 4)),
    ("LazyConvTranspose1d", dict(out_channels=4, kernel_size=3), (2, 5, 9)),
    ("LazyConvTranspose2d", dict(out_channels=4, kernel_size=3, groups=2, stride=2, output_padding=1), (2, 6, 5, 5)),
    ("LazyConvTranspose3d", dict(out_channels=2, kernel_size=2, dilation=2), (2, 3, 4, 4, 4)),
    ("LazyBatchNorm1d", dict(), (4, 3)),
    ("LazyBatchNorm1d", dict(bias=False), (4, 3, 5)),
    ("LazyBatchNorm2d", dict(affine=False), (4, 3, 5, 5)),
    ("LazyBatchNorm3d", dict(momentum=None, track_running_stats=False), (2, 3, 2, 2, 2)),
    ("LazyInstanceNorm1d", dict(), (4, 3, 5)),
    ("LazyInstanceNorm2d", dict(affine=False, track_running_stats=False), (4, 3, 5, 5)),
    ("LazyInstanceNorm3d", dict(eps=1e-3), (2, 3, 2, 2, 2)),
]


@pytest.mark.parametrize("name,kwargs,shape", CASES)
def test_lazy_module_matches_torch(name, kwargs, shape):
    theirs, ours = getattr(torch.nn, name)(**kwargs), getattr(nn, name)(**kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [repr(p) for p in ours.parameters()] == [repr(p) for p in theirs.parameters()]
    assert ours.has_uninitialized_params() == theirs.has_uninitialized_params()
    x = np.random.default_rng(0).standard_normal(shape)
    ours.initialize_parameters(engine.Tensor(x))
    theirs.double()(torch.tensor(x))  # torch's materializes in its first forward
    assert type(ours).__name__ == type(theirs).__name__ == name[4:]
    assert repr(ours) == repr(theirs)
    ours = ours.double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    tx, ox = torch.tensor(x, requires_grad=True), engine.Tensor(x, requires_grad=True)
    ty, oy = theirs(tx), ours(ox)
    np.testing.assert_allclose(oy.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(1).standard_normal(ty.shape)
    ty.backward(torch.tensor(g))
    oy.backward(engine.Tensor(g))
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (k, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=k)
    for k, v in theirs.state_dict().items():  # running statistics updated alike
        np.testing.assert_allclose(np.asarray(ours.state_dict()[k]), v.numpy(), rtol=1e-10, err_msg=k)


def test_initialization_follows_the_non_lazy_class():
    conv = nn.LazyConv2d(8, 3)
    conv(engine.randn(2, 5, 6, 6))
    bound = 1 / np.sqrt(5 * 9)  # kaiming_uniform_(a=sqrt(5)) and U(±1/sqrt(fan_in)), as Conv2d
    assert np.abs(conv.weight.numpy()).max() <= bound and conv.weight.numpy().std() > 0.1 * bound
    assert np.abs(conv.bias.numpy()).max() <= bound
    bn = nn.LazyBatchNorm2d()
    bn.eval()
    bn(engine.randn(2, 3, 4, 4))
    np.testing.assert_array_equal(bn.weight.numpy(), np.ones(3))
    np.testing.assert_array_equal(bn.bias.numpy(), np.zeros(3))
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(3))
    assert bn.num_batches_tracked.item() == 0


@pytest.mark.parametrize("name,make", [
    ("LazyConv2d", lambda m: m.Conv2d(5, 4, 3, groups=1)),
    ("LazyConvTranspose1d", lambda m: m.ConvTranspose1d(6, 4, 3, groups=2)),
    ("LazyBatchNorm1d", lambda m: m.BatchNorm1d(5)),
    ("LazyInstanceNorm2d", lambda m: m.InstanceNorm2d(5, affine=True, track_running_stats=True)),
])
def test_load_state_dict_takes_the_checkpoints_shapes(name, make):
    theirs = make(torch.nn)
    kw = {"LazyConv2d": dict(out_channels=4, kernel_size=3), "LazyBatchNorm1d": {},
          "LazyConvTranspose1d": dict(out_channels=4, kernel_size=3, groups=2), "LazyInstanceNorm2d": {}}[name]
    ours = getattr(nn, name)(**kw)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert repr(ours) == repr(theirs)
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(np.asarray(ours.state_dict()[k]), v.numpy())


def test_errors_as_torch():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        torch.nn.LazyConv2d(4, 3, groups=2)(torch.randn(2, 5, 8, 8))
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.LazyConv2d(4, 3, groups=2)(engine.randn(2, 5, 8, 8))
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to LazyConv2d"):
        torch.nn.LazyConv2d(4, 3)(torch.randn(2, 2, 5, 8, 8))
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to LazyConv2d"):
        nn.LazyConv2d(4, 3)(engine.randn(2, 2, 5, 8, 8))
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized"):
        nn.LazyBatchNorm1d().running_mean.shape  # noqa: B018


def test_uninitialized_buffer_and_deepcopy():
    b = nn.UninitializedBuffer()
    assert repr(b) == repr(torch.nn.UninitializedBuffer()) == "<UninitializedBuffer>"
    b.materialize((3,))
    assert type(b) is engine.Tensor and b.shape == (3,)
    m = copy.deepcopy(nn.LazyBatchNorm1d())
    assert repr(m.running_mean) == "<UninitializedBuffer>"
    m(engine.randn(4, 3))
    assert type(m) is nn.BatchNorm1d and m.running_mean.shape == (3,)
