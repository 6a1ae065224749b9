"""nn.init: distributions, bounds and seeding."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import engine
import nn
from engine import Tensor
from nn import init


def test_normal_std_within_two_percent():
    engine.manual_seed(0)
    t = init.normal_(Tensor.zeros(1000, 1000), std=0.02)
    assert t.dtype == np.float32
    w = t.numpy().astype(np.float64)
    assert abs(w.std() - 0.02) <= 0.02 * 0.02
    assert abs(w.mean()) < 0.02 * 0.01  # std of the mean: 0.02 / 1000
    t = init.normal_(Tensor.zeros(1000, 1000), mean=3.0, std=0.5)
    assert abs(t.numpy().mean() - 3.0) < 0.005 and abs(t.numpy().std() - 0.5) < 0.01


INITS = {
    "normal_": lambda t, g=None: init.normal_(t, std=0.02, generator=g),
    "uniform_": lambda t, g=None: init.uniform_(t, -0.5, 0.5, generator=g),
    "xavier_uniform_": lambda t, g=None: init.xavier_uniform_(t, generator=g),
    "kaiming_uniform_": lambda t, g=None: init.kaiming_uniform_(t, generator=g),
}


@pytest.mark.parametrize("name", sorted(INITS))
def test_global_seed_reproducible(name):
    fill = INITS[name]
    engine.manual_seed(123)
    a = fill(Tensor.zeros(16, 8)).numpy().copy()
    engine.manual_seed(123)
    b = fill(Tensor.zeros(16, 8)).numpy().copy()
    engine.manual_seed(124)
    c = fill(Tensor.zeros(16, 8)).numpy().copy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", sorted(INITS))
def test_generator_seed_reproducible_and_independent_of_global(name):
    fill = INITS[name]
    engine.manual_seed(0)
    a = fill(Tensor.zeros(16, 8), np.random.default_rng(7)).numpy().copy()
    engine.manual_seed(99)  # the global seed plays no part when a generator is given
    b = fill(Tensor.zeros(16, 8), np.random.default_rng(7)).numpy().copy()
    c = fill(Tensor.zeros(16, 8), np.random.default_rng(8)).numpy().copy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_seeded_layers_are_reproducible():
    engine.manual_seed(5)
    a = nn.MLP(8).state_dict()
    engine.manual_seed(5)
    b = nn.MLP(8).state_dict()
    engine.manual_seed(6)
    c = nn.MLP(8).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["c_fc.weight"], c["c_fc.weight"])


def test_zeros_ones_keep_dtype_and_object():
    t = Tensor(np.full((3, 2), 5.0))
    assert init.zeros_(t) is t and t.dtype == np.float64 and not t.numpy().any()
    assert init.ones_(t) is t and (t.numpy() == 1).all()


def check_uniform(w: np.ndarray, bound: float) -> None:
    """Inside [-bound, bound], reaching near both ends, with the variance of U(-b, b): b²/3."""
    assert np.abs(w).max() <= bound
    assert w.max() > 0.99 * bound and w.min() < -0.99 * bound
    assert abs(w.var() / (bound**2 / 3) - 1) < 0.03


@given(fan_out=st.integers(200, 400), fan_in=st.integers(200, 400), gain=st.sampled_from([1.0, 2.0]))
def test_xavier_uniform_bound(fan_out, fan_in, gain):
    engine.manual_seed(fan_in * 1000 + fan_out)
    w = init.xavier_uniform_(Tensor.zeros(fan_out, fan_in, dtype="float64"), gain=gain).numpy()
    check_uniform(w, gain * math.sqrt(6 / (fan_in + fan_out)))


@pytest.mark.parametrize("nonlinearity, a, gain", [
    ("relu", 0.0, math.sqrt(2)),
    ("linear", 0.0, 1.0),
    ("tanh", 0.0, 5 / 3),
    ("leaky_relu", 0.0, math.sqrt(2)),
    ("leaky_relu", math.sqrt(5), math.sqrt(2 / 6)),
])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_uniform_bound(nonlinearity, a, gain, mode):
    engine.manual_seed(0)
    shape = (300, 200, 2)  # (out, in, kernel): fans include the receptive field
    w = init.kaiming_uniform_(Tensor.zeros(*shape, dtype="float64"), a=a, mode=mode,
                              nonlinearity=nonlinearity).numpy()
    fan = 200 * 2 if mode == "fan_in" else 300 * 2
    check_uniform(w, gain * math.sqrt(3 / fan))


def test_fans_need_two_dims():
    with pytest.raises(ValueError):
        init.xavier_uniform_(Tensor.zeros(5))


def test_linear_and_embedding_default_init():
    engine.manual_seed(0)
    lin = nn.Linear(400, 300)
    check_uniform(lin.weight.numpy().astype(np.float64), 1 / math.sqrt(400))  # torch's default
    b = lin.bias.numpy()
    assert np.abs(b).max() <= 1 / math.sqrt(400) and b.std() > 0
    emb = nn.Embedding(1000, 100).weight.numpy().astype(np.float64)
    assert abs(emb.std() - 1) < 0.02 and abs(emb.mean()) < 0.01
