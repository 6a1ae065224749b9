"""Convolution, pooling and resampling modules against torch.nn: weights copied through
state_dict, outputs and gradients (input and parameters) in float32 (1e-5) and float64 (1e-10),
train and eval mode."""

import numpy as np
import pytest

import nn
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

from parity_helpers import compare, pair  # noqa: E402


def rnd(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def distinct(*shape, seed=0):
    """No ties inside a pooling window: the max (and so its gradient) is unique, as torch's."""
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) * 0.1 - n * 0.05).reshape(shape)


CASES = [
    ("conv1d", lambda m: m.Conv1d(4, 6, 3, stride=2, padding=1, groups=2), rnd(2, 4, 7)),
    ("conv1d_same_circular", lambda m: m.Conv1d(2, 3, 4, padding="same", padding_mode="circular"), rnd(2, 2, 6)),
    ("conv2d", lambda m: m.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2)), rnd(2, 3, 6, 5)),
    ("conv2d_reflect_nobias", lambda m: m.Conv2d(2, 2, 3, padding=1, padding_mode="reflect", bias=False),
     rnd(1, 2, 4, 4)),
    ("conv2d_replicate", lambda m: m.Conv2d(2, 2, 3, padding=2, padding_mode="replicate"), rnd(1, 2, 3, 4)),
    ("conv2d_unbatched", lambda m: m.Conv2d(2, 3, 2), rnd(2, 4, 4)),
    ("conv3d", lambda m: m.Conv3d(2, 2, 2, stride=(1, 2, 1), padding=1), rnd(1, 2, 3, 4, 3)),
    ("convtranspose1d", lambda m: m.ConvTranspose1d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2),
     rnd(2, 4, 5)),
    ("convtranspose2d", lambda m: m.ConvTranspose2d(3, 2, (2, 3), stride=2, dilation=(2, 1)), rnd(2, 3, 3, 3)),
    ("maxpool1d", lambda m: m.MaxPool1d(3, stride=2, padding=1, ceil_mode=True), distinct(2, 3, 8)),
    ("maxpool2d", lambda m: m.MaxPool2d((2, 3), stride=(2, 1), dilation=(1, 2)), distinct(2, 2, 5, 7)),
    ("avgpool1d", lambda m: m.AvgPool1d(3, stride=2, padding=1, count_include_pad=False), rnd(2, 3, 8)),
    ("avgpool2d", lambda m: m.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), rnd(2, 2, 6, 5)),
    ("avgpool2d_divisor", lambda m: m.AvgPool2d(2, divisor_override=3), rnd(1, 2, 4, 4)),
    ("adaptiveavgpool1d", lambda m: m.AdaptiveAvgPool1d(3), rnd(2, 3, 7)),
    ("adaptiveavgpool2d", lambda m: m.AdaptiveAvgPool2d((3, None)), rnd(2, 2, 5, 4)),
    ("adaptivemaxpool1d", lambda m: m.AdaptiveMaxPool1d(4), distinct(2, 3, 7)),
    ("adaptivemaxpool2d", lambda m: m.AdaptiveMaxPool2d((2, 3)), distinct(1, 2, 5, 7)),
    ("upsample_nearest", lambda m: m.Upsample(scale_factor=2), rnd(1, 2, 3, 3)),
    ("upsample_bilinear_ac", lambda m: m.Upsample(size=(5, 4), mode="bilinear", align_corners=True), rnd(1, 2, 3, 3)),
    ("upsample_bilinear", lambda m: m.Upsample(scale_factor=1.5, mode="bilinear"), rnd(1, 2, 4, 4)),
    ("upsample_linear", lambda m: m.Upsample(scale_factor=2, mode="linear"), rnd(2, 2, 5)),
    ("upsampling_bilinear2d", lambda m: m.UpsamplingBilinear2d(scale_factor=2), rnd(1, 2, 3, 3)),
    ("upsampling_nearest2d", lambda m: m.UpsamplingNearest2d(size=(5, 7)), rnd(1, 2, 3, 3)),
    ("lppool2d", lambda m: m.LPPool2d(2, 2, stride=1), rnd(2, 2, 4, 5)),
    ("lppool1d_p3_ceil", lambda m: m.LPPool1d(3, 2, ceil_mode=True), np.abs(rnd(2, 3, 7)) + 0.1),
    ("pixelshuffle", lambda m: m.PixelShuffle(2), rnd(2, 8, 2, 3)),
    ("pixelunshuffle", lambda m: m.PixelUnshuffle(2), rnd(2, 2, 4, 6)),
    ("unfold", lambda m: m.Unfold((2, 3), dilation=1, padding=1, stride=2), rnd(2, 3, 5, 5)),
    ("fold", lambda m: m.Fold((4, 5), (2, 2), stride=1), rnd(2, 8, 12)),
    ("cnn", lambda m: m.Sequential(m.Conv2d(1, 4, 3, padding=1), m.BatchNorm2d(4), m.ReLU(), m.MaxPool2d(2),
                                   m.Dropout(0.0), m.Flatten(), m.Linear(16, 3)), distinct(3, 1, 4, 4)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("name,make,x", CASES, ids=[c[0] for c in CASES])
def test_conv_pool_equals_torch(name, make, x, dtype, train):
    torch.manual_seed(0)
    tm, om = pair(torch, make(torch.nn), make(nn), dtype)
    compare(torch, tm, om, [x], dtype, train)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_maxpool_return_indices(dtype):
    x = distinct(2, 2, 5, 6)
    t_out, t_idx = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x.astype(dtype)))
    o_out, o_idx = nn.MaxPool2d(2, return_indices=True)(nn.Parameter(x.astype(dtype)))
    np.testing.assert_array_equal(o_out.numpy(), t_out.numpy())
    np.testing.assert_array_equal(np.asarray(o_idx.numpy()), t_idx.numpy())


def test_default_init_bounds_match_torch():
    """torch's default: weight and bias uniform on (-b, b), b = 1/sqrt(fan_in), fan_in = weight.shape[1] *
    kernel size (for ConvTranspose that is out_channels/groups). With >= 300 draws the largest |w|
    lies within 2% of b with probability > 1 - 0.99^300 ~ 0.95 per tensor; the seed is fixed."""
    for make in (lambda m: m.Conv2d(8, 16, 3), lambda m: m.ConvTranspose2d(8, 4, 3, groups=2),
                 lambda m: m.Conv1d(6, 400, 4)):
        t, o = make(torch.nn), make(nn)
        w = t.weight
        b = 1 / np.sqrt(w.shape[1] * np.prod(w.shape[2:]))
        for (k, tp), (k2, op) in zip(t.named_parameters(), o.named_parameters()):
            assert k == k2 and tuple(tp.shape) == op.shape
            a = np.abs(op.numpy())
            assert a.max() <= b
            if a.size >= 300:
                assert a.max() >= 0.98 * b, (k, a.max(), b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dims", [1, 2])
def test_max_unpool_equals_torch(dims, dtype):
    shape = (2, 3, 9) if dims == 1 else (2, 3, 5, 6)
    x = distinct(*shape).astype(dtype)
    outs = {}
    for lib in ("torch", "ours"):
        m = torch.nn if lib == "torch" else nn
        pool = (m.MaxPool1d if dims == 1 else m.MaxPool2d)(2, stride=2, padding=1, return_indices=True)
        unpool = (m.MaxUnpool1d if dims == 1 else m.MaxUnpool2d)(2, stride=2, padding=1)
        xt = torch.tensor(x, requires_grad=True) if lib == "torch" else Tensor(x, requires_grad=True)
        y, idx = pool(xt)
        z = unpool(y, idx, output_size=shape[2:])
        w = np.random.default_rng(1).standard_normal(tuple(z.shape)).astype(dtype)
        (z * (torch.tensor(w) if lib == "torch" else w)).sum().backward()
        to_np = (lambda t: t.detach().numpy()) if lib == "torch" else (lambda t: t.numpy())
        outs[lib] = (to_np(z), to_np(xt.grad), repr(unpool))
    np.testing.assert_array_equal(outs["ours"][0], outs["torch"][0])
    np.testing.assert_array_equal(outs["ours"][1], outs["torch"][1])
    assert outs["ours"][2] == outs["torch"][2]
