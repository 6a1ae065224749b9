"""nn.init against torch.nn.init where the earlier sweep did not look: trunc_normal_ on a narrow
window or one far in a tail (torch samples it exactly; redrawing normals and clipping piled values
on the bounds), its warning and its error for a > b, uniform_/normal_'s errors, and the message for
an unknown fan mode. Distributions are compared by their moments on many draws, not by values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import nn.init as init
from engine import Tensor, manual_seed

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

N = 200_000


def _outcome(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - the error type and message are what is compared
            return type(e).__name__, str(e), []
    return "ok", "", [str(w.message) for w in caught]


def _truncated_moments(mean, std, a, b):
    """The mean and standard deviation of N(mean, std²) truncated to [a, b], in closed form."""
    al, be = (a - mean) / std, (b - mean) / std
    pdf = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda x: (1 + math.erf(x / math.sqrt(2))) / 2  # noqa: E731
    z = cdf(be) - cdf(al)
    m = (pdf(al) - pdf(be)) / z
    var = 1 + (al * pdf(al) - be * pdf(be)) / z - m * m
    return mean + std * m, std * math.sqrt(var)


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, 1.9, 2.0), (0.0, 1.0, 3.0, 4.0), (1.0, 0.5, -1.0, -0.5),
                                          (0.0, 0.02, -0.04, 0.04), (2.0, 3.0, -1.0, 1.0)])
def test_trunc_normal_moments_equal_torch(mean, std, a, b):
    manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tail windows warn in both
        ours = init.trunc_normal_(Tensor(np.zeros(N)), mean, std, a, b).numpy()
        torch.manual_seed(0)
        theirs = torch.nn.init.trunc_normal_(torch.zeros(N, dtype=torch.float64), mean, std, a, b).numpy()
    assert ours.min() >= a and ours.max() <= b
    assert np.count_nonzero((ours == a) | (ours == b)) == 0  # nothing clipped onto a bound
    exact_mean, exact_std = _truncated_moments(mean, std, a, b)
    width = b - a
    for sample in (ours, theirs):  # torch's sample passes the same check: the bar is the distribution
        assert abs(sample.mean() - exact_mean) < 0.01 * width
        assert abs(sample.std() - exact_std) < 0.01 * width
    # quantiles of the two samples agree
    q = np.linspace(0.05, 0.95, 10)
    np.testing.assert_allclose(np.quantile(ours, q), np.quantile(theirs, q), atol=0.01 * width)


@pytest.mark.parametrize("kw", [{"mean": 5.0, "std": 1.0, "a": -2.0, "b": 2.0}, {"mean": -5.0},
                                {"mean": 0.0, "std": 1.0, "a": 2.0, "b": -2.0}, {"mean": 0.0, "std": 0.02}])
def test_trunc_normal_warning_and_error_as_torch(kw):
    ours = _outcome(lambda: init.trunc_normal_(Tensor(np.zeros((3, 4))), **kw))
    theirs = _outcome(lambda: torch.nn.init.trunc_normal_(torch.zeros(3, 4), **kw))
    assert ours[0] == theirs[0]
    assert ours[2] == theirs[2]
    if theirs[0] != "ok":
        assert ours[1].split(", but found")[0] == theirs[1].split(", but found")[0]


@pytest.mark.parametrize("name,args", [("uniform_", (2.0, 1.0)), ("normal_", (0.0, -1.0)), ("uniform_", (1.0, 1.0)),
                                       ("normal_", (0.0, 0.0))])
def test_uniform_and_normal_errors_as_torch(name, args):
    ours = _outcome(lambda: getattr(init, name)(Tensor(np.zeros(3)), *args))
    theirs = _outcome(lambda: getattr(torch.nn.init, name)(torch.zeros(3, dtype=torch.float64), *args))
    assert ours[0] == theirs[0]
    if theirs[0] != "ok":
        assert ours[1].split(", but found")[0] == theirs[1].split(", but found")[0]


@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_"])
def test_unknown_fan_mode_message_is_torchs(name):
    ours = _outcome(lambda: getattr(init, name)(Tensor(np.zeros((3, 4))), mode="fan_avg"))
    theirs = _outcome(lambda: getattr(torch.nn.init, name)(torch.zeros(3, 4), mode="fan_avg"))
    assert ours == theirs
