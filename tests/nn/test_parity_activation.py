"""Every activation module of nn against torch.nn's: outputs and input gradients (and PReLU's
weight gradient) in float32 (1e-5) and float64 (1e-10), train and eval mode, inputs spread over
each function's regions (both sides of every kink and the softplus threshold)."""

import numpy as np
import pytest

import nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

from parity_helpers import compare, pair  # noqa: E402

KINKS = (-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0)


def spread(*shape, seed=0):
    """Normal * 4 entries, none within 0.01 of a kink (the gradient there is a convention)."""
    x = np.random.default_rng(seed).standard_normal(shape) * 4
    for k in KINKS:
        near = np.abs(x - k) < 0.01
        x[near] = k + 0.05
    return x


ACTIVATIONS = {
    "CELU": lambda m: m.CELU(alpha=0.5), "ELU": lambda m: m.ELU(alpha=1.5), "GELU": lambda m: m.GELU(),
    "GELU_tanh": lambda m: m.GELU(approximate="tanh"), "GLU": lambda m: m.GLU(dim=1), "SELU": lambda m: m.SELU(),
    "Hardshrink": lambda m: m.Hardshrink(0.5), "Hardsigmoid": lambda m: m.Hardsigmoid(),
    "Hardswish": lambda m: m.Hardswish(), "Hardtanh": lambda m: m.Hardtanh(-1.0, 3.0),
    "LeakyReLU": lambda m: m.LeakyReLU(0.2), "LogSigmoid": lambda m: m.LogSigmoid(),
    "LogSoftmax": lambda m: m.LogSoftmax(dim=1), "Mish": lambda m: m.Mish(), "PReLU": lambda m: m.PReLU(4, init=0.3),
    "ReLU": lambda m: m.ReLU(), "ReLU6": lambda m: m.ReLU6(), "Sigmoid": lambda m: m.Sigmoid(),
    "SiLU": lambda m: m.SiLU(), "Softmax": lambda m: m.Softmax(dim=0), "Softmax2d": lambda m: m.Softmax2d(),
    "Softmin": lambda m: m.Softmin(dim=-1), "Softplus": lambda m: m.Softplus(beta=2.0, threshold=3.0),
    "Softshrink": lambda m: m.Softshrink(0.5), "Softsign": lambda m: m.Softsign(), "Tanh": lambda m: m.Tanh(),
    "Tanhshrink": lambda m: m.Tanhshrink(), "Threshold": lambda m: m.Threshold(0.5, -2.0),
    # lower == upper: the slope drawn in training is that number, so train mode compares too
    "RReLU": lambda m: m.RReLU(0.2, 0.2),
}


def test_every_activation_module_is_covered():
    import nn.activation as A

    names = {n for n in dir(A) if isinstance(getattr(A, n), type) and issubclass(getattr(A, n), nn.Module)
             and n != "Module" and not n.startswith("_")}
    assert names <= {k.split("_")[0] for k in ACTIVATIONS}, names - set(ACTIVATIONS)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_equals_torch(name, dtype, train):
    tm, om = pair(torch, ACTIVATIONS[name](torch.nn), ACTIVATIONS[name](nn), dtype)
    compare(torch, tm, om, [spread(3, 4, 2, 2)], dtype, train)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hardsigmoid_keeps_dtype_and_region_ends(dtype):
    x = np.array([-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0])
    out = nn.Hardsigmoid()(nn.Parameter(x.astype(dtype)))
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out.numpy(), torch.nn.Hardsigmoid()(torch.tensor(x.astype(dtype))).numpy(),
                               rtol=0, atol=1e-7 if dtype == "float32" else 0)


def test_repr_equals_torch():
    for name, make in ACTIVATIONS.items():
        assert repr(make(nn)) == repr(make(torch.nn)), name
