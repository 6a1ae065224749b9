"""nn.init against torch.nn.init: exact for constant_/eye_/dirac_/calculate_gain and the fan
computations; for random initializers the same distribution, checked by moments and bounds.

Sample sizes: every random test draws a (200, 500) tensor, n = 100 000 entries. The sample mean
of a distribution with std s has standard error s/sqrt(n) = 0.0032 s and the sample std about
s/sqrt(2n) = 0.0022 s, so the 5-standard-error bounds below (1.6% of s on the mean, 1.1% on the
std) fail by chance with probability < 1e-6, yet catch a wrong fan (a factor 500/200 in the
variance) or a wrong gain (e.g. sqrt 2) by a wide margin. Seeds are fixed anyway."""

import math

import numpy as np
import pytest

import nn
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

SHAPE = (200, 500)  # fan_in 500, fan_out 200
N = SHAPE[0] * SHAPE[1]


def ours(shape=SHAPE, dtype="float64"):
    return Tensor(np.zeros(shape, dtype=dtype))


def theirs(shape=SHAPE):
    return torch.zeros(shape, dtype=torch.float64)


def check_moments(a: np.ndarray, mean: float, std: float):
    assert abs(a.mean() - mean) < 5 * std / math.sqrt(a.size), (a.mean(), mean)
    assert abs(a.std() - std) < 5 * std / math.sqrt(2 * a.size), (a.std(), std)


@pytest.mark.parametrize("nl,param", [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                                      ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None),
                                      ("conv_transpose3d", None)])
def test_calculate_gain_exact(nl, param):
    assert nn.init.calculate_gain(nl, param) == torch.nn.init.calculate_gain(nl, param)


def test_calculate_gain_bad_input_raises_as_torch():
    for args in [("softmax",), ("leaky_relu", "x")]:
        with pytest.raises(ValueError):
            torch.nn.init.calculate_gain(*args)
        with pytest.raises(ValueError):
            nn.init.calculate_gain(*args)


@pytest.mark.parametrize("shape", [(3, 5), (4, 2, 3), (6, 4, 3, 2), (2, 3, 2, 2, 2)])
def test_fans_exact(shape):
    assert nn.init._calculate_fan_in_and_fan_out(ours(shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(theirs(shape))


@pytest.mark.parametrize("shape", [(3, 5), (4, 4), (5, 2)])
def test_constant_and_eye_exact(shape):
    np.testing.assert_array_equal(nn.init.constant_(ours(shape), 0.3).numpy(),
                                  torch.nn.init.constant_(theirs(shape), 0.3).numpy())
    np.testing.assert_array_equal(nn.init.eye_(ours(shape)).numpy(), torch.nn.init.eye_(theirs(shape)).numpy())


@pytest.mark.parametrize("shape,groups", [((4, 4, 3), 1), ((6, 3, 3, 3), 2), ((4, 2, 3, 3, 3), 2), ((2, 4, 5), 1),
                                          ((6, 2, 2, 4), 3)])
def test_dirac_exact(shape, groups):
    np.testing.assert_array_equal(nn.init.dirac_(ours(shape), groups).numpy(),
                                  torch.nn.init.dirac_(theirs(shape), groups).numpy())


def test_uniform_and_normal():
    torch.manual_seed(0)
    a = nn.init.uniform_(ours(), -2.0, 3.0).numpy()
    assert a.min() >= -2.0 and a.max() <= 3.0
    check_moments(a, 0.5, 5 / math.sqrt(12))
    check_moments(nn.init.normal_(ours(), 1.5, 0.3).numpy(), 1.5, 0.3)


def _truncnorm_moments(mean, std, a, b):
    """Mean and std of N(mean, std²) truncated to [a, b], by the closed form."""
    al, be = (a - mean) / std, (b - mean) / std
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    z = cdf(be) - cdf(al)
    m = mean + std * (phi(al) - phi(be)) / z
    var = std ** 2 * (1 + (al * phi(al) - be * phi(be)) / z - ((phi(al) - phi(be)) / z) ** 2)
    return m, math.sqrt(var)


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.5, 2.0, -1.0, 3.0), (0.0, 0.02, -0.04, 0.04)])
def test_trunc_normal(mean, std, a, b):
    x = nn.init.trunc_normal_(ours(), mean, std, a, b).numpy()
    t = torch.nn.init.trunc_normal_(theirs(), mean, std, a, b).numpy()
    m, s = _truncnorm_moments(mean, std, a, b)
    for arr in (x, t):  # torch's own sample passes the same check: the check is the distribution's
        assert arr.min() >= a and arr.max() <= b
        check_moments(arr, m, s)


@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_xavier(gain):
    bound = gain * math.sqrt(6 / (500 + 200))
    x = nn.init.xavier_uniform_(ours(), gain).numpy()
    assert np.abs(x).max() <= bound and np.abs(x).max() > 0.999 * bound
    check_moments(x, 0.0, bound / math.sqrt(3))
    check_moments(nn.init.xavier_normal_(ours(), gain).numpy(), 0.0, gain * math.sqrt(2 / 700))


@pytest.mark.parametrize("mode,fan", [("fan_in", 500), ("fan_out", 200)])
@pytest.mark.parametrize("nl,a", [("relu", 0), ("leaky_relu", 0.1), ("leaky_relu", math.sqrt(5)), ("linear", 0),
                                  ("tanh", 0)])
def test_kaiming(mode, fan, nl, a):
    std = torch.nn.init.calculate_gain(nl, a if nl == "leaky_relu" else None) / math.sqrt(fan)
    x = nn.init.kaiming_uniform_(ours(), a=a, mode=mode, nonlinearity=nl).numpy()
    bound = math.sqrt(3) * std
    assert np.abs(x).max() <= bound and np.abs(x).max() > 0.999 * bound
    check_moments(x, 0.0, std)
    check_moments(nn.init.kaiming_normal_(ours(), a=a, mode=mode, nonlinearity=nl).numpy(), 0.0, std)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (6, 2, 2, 2)])
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal(shape, gain):
    w = nn.init.orthogonal_(ours(shape), gain).numpy().reshape(shape[0], -1)
    rows, cols = w.shape
    gram = w @ w.T if rows <= cols else w.T @ w  # the smaller side is orthonormal (times gain)
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(min(rows, cols)), atol=1e-12)


def test_sparse_zero_count_per_column_as_torch():
    x = nn.init.sparse_(ours((10, 30)), 0.3, std=0.5).numpy()
    t = torch.nn.init.sparse_(theirs((10, 30)), 0.3, std=0.5).numpy()
    np.testing.assert_array_equal((x == 0).sum(0), (t == 0).sum(0))  # ceil(0.3 * 10) = 3 in every column


def test_init_keeps_dtype_and_object():
    t = Tensor(np.zeros((3, 4), dtype=np.float32))
    for f in (nn.init.xavier_uniform_, nn.init.kaiming_normal_, nn.init.orthogonal_, nn.init.trunc_normal_):
        assert f(t) is t and t.dtype == np.float32
