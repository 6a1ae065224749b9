"""Random API and integer-construction corners against torch: shapes, dtypes, errors and the
statistics of draws (not values: engine's generator wraps NumPy's, not torch's streams)."""

from __future__ import annotations

import numpy as np
import pytest

import engine

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


def _lib(name):
    return torch if name == "torch" else engine


def _outcome(fn, lib):
    """(shape, dtype name, requires_grad) of fn(lib), or the exception types it raised."""
    try:
        out = fn(lib)
    except Exception as e:  # noqa: BLE001 - the type is the thing compared
        return ("error", tuple(c.__name__ for c in type(e).__mro__ if c.__name__ in (
            "RuntimeError", "NotImplementedError", "TypeError", "ValueError")))
    return (tuple(out.shape), str(out.dtype).replace("torch.", ""), bool(out.requires_grad))


def _same_outcome(fn):
    want, got = _outcome(fn, torch), _outcome(fn, engine)
    if want[0] == "error":  # ours may be a subclass of more builtins, never fewer of torch's
        assert got[0] == "error" and set(want[1]) <= set(got[1]), (want, got)
    else:
        assert got == want


FILLS = {
    "uniform_ from>to": lambda L, dt: L.zeros(3, dtype=dt).uniform_(2, 1),
    "uniform_ from/to kw": lambda L, dt: L.zeros(3, dtype=dt).uniform_(**{"from": 1, "to": 2}),
    "normal_ std<0": lambda L, dt: L.zeros(3, dtype=dt).normal_(0, -1),
    "bernoulli_ p>1": lambda L, dt: L.zeros(3, dtype=dt).bernoulli_(1.5),
    "exponential_ lambda<0": lambda L, dt: L.zeros(3, dtype=dt).exponential_(-1),
    "exponential_": lambda L, dt: L.zeros(3, dtype=dt).exponential_(),
    "geometric_": lambda L, dt: L.zeros(3, dtype=dt).geometric_(0.5),
    "log_normal_": lambda L, dt: L.zeros(3, dtype=dt).log_normal_(),
    "cauchy_": lambda L, dt: L.zeros(3, dtype=dt).cauchy_(),
    "random_()": lambda L, dt: L.zeros(3, dtype=dt).random_(),
    "random_(to)": lambda L, dt: L.zeros(3, dtype=dt).random_(5),
    "random_(to=)": lambda L, dt: L.zeros(3, dtype=dt).random_(to=5),
    "random_(from=, to=)": lambda L, dt: L.zeros(3, dtype=dt).random_(**{"from": 2, "to": 5}),
    "random_ from>=to": lambda L, dt: L.zeros(3, dtype=dt).random_(5, 2),
    "random_ to past uint8": lambda L, dt: L.zeros(3, dtype=dt).random_(0, 300),
    "random_ negative from": lambda L, dt: L.zeros(3, dtype=dt).random_(-5, 5),
}


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64", "int32", "uint8", "int8"])
@pytest.mark.parametrize("case", list(FILLS))
def test_in_place_fills_match_torch(case, dtype):
    _same_outcome(lambda L: FILLS[case](L, getattr(L, dtype)))


FACTORIES = {
    "randint past uint8": lambda L: L.randint(0, 300, (3,), dtype=L.uint8),
    "randint below int8": lambda L: L.randint(-200, 5, (3,), dtype=L.int8),
    "randint bool": lambda L: L.randint(0, 2, (3,), dtype=L.bool),
    "randperm negative": lambda L: L.randperm(-1),
    "randperm int8 overflow": lambda L: L.randperm(300, dtype=L.int8),
    "randperm int8 fits": lambda L: L.randperm(128, dtype=L.int8),
    "rand int dtype": lambda L: L.rand(2, dtype=L.int64),
    "normal tensor mean, std<0": lambda L: L.normal(L.zeros(3), -1.0),
    "normal int mean": lambda L: L.normal(L.zeros(3, dtype=L.int64), 1.0),
    "normal mean requires grad": lambda L: L.normal(L.zeros(3, requires_grad=True), 1.0),
    "normal f64 std": lambda L: L.normal(0.0, L.ones(2, 1, dtype=L.float64)),
    "bernoulli p= > 1": lambda L: L.bernoulli(L.zeros(3), p=1.5),
    "bernoulli nan": lambda L: L.bernoulli(L.tensor([float("nan")])),
    "bernoulli int": lambda L: L.bernoulli(L.zeros(3, dtype=L.int64)),
    "multinomial int": lambda L: L.multinomial(L.ones(3, dtype=L.int64), 1),
    "multinomial fewer nonzero": lambda L: L.multinomial(L.tensor([1.0, 0, 0]), 2),
    "multinomial too many": lambda L: L.multinomial(L.ones(4), 5),
    "multinomial negative": lambda L: L.multinomial(L.tensor([1.0, -1.0]), 1),
    "multinomial inf": lambda L: L.multinomial(L.tensor([1.0, float("inf")]), 1),
    "multinomial zero row": lambda L: L.multinomial(L.zeros(2, 3), 1),
    "poisson int": lambda L: L.poisson(L.ones(3, dtype=L.int64)),
    "poisson negative": lambda L: L.poisson(-L.ones(3)),
}


@pytest.mark.parametrize("case", list(FACTORIES))
def test_random_factories_match_torch(case):
    _same_outcome(FACTORIES[case])


def test_random_fill_ranges_match_torch():
    """random_() spans [0, 2^digits] for floats and the dtype's non-negative range for ints;
    random_(from=, to=) and uniform_(from=, to=) stay inside their bounds."""
    n = 4000
    engine.manual_seed(0)
    torch.manual_seed(0)
    for dt in ["float16", "uint8", "int8", "bool"]:
        ours = engine.zeros(n, dtype=getattr(engine, dt)).random_()
        ref = torch.zeros(n, dtype=getattr(torch, dt)).random_()
        assert str(ours.dtype) == str(ref.dtype).replace("torch.", "")
        # 4000 draws over at most 2049 values reach within 2% of each end of the range (torch's too;
        # missing that by chance has probability below e^-80). Not the ends exactly: float16's 0 is
        # missed by 4000 draws about 14% of the time, in torch as in ours.
        top = float({"float16": 2048, "uint8": 255, "int8": 127, "bool": 1}[dt])
        for draws in (ours.data.astype(np.float64), ref.double().numpy()):
            assert 0 <= draws.min() <= 0.02 * top and 0.98 * top <= draws.max() <= top
    x = engine.zeros(n, dtype=engine.int64).random_(**{"from": -3, "to": 4})
    assert sorted(set(x.tolist())) == sorted(set(torch.zeros(n, dtype=torch.int64).random_(-3, 4).tolist()))
    u = engine.zeros(n, dtype=engine.float64).uniform_(**{"from": 2, "to": 3})
    assert 2 <= float(u.data.min()) and float(u.data.max()) < 3


def test_normal_gradients_match_torch():
    """torch.normal(mean, std) is differentiable: d/dmean = 1, d/dstd = (out - mean) / std."""
    mean = engine.tensor([0.5, -1.0, 2.0], dtype=engine.float64, requires_grad=True)
    std = engine.tensor([1.0, 2.0, 0.5], dtype=engine.float64, requires_grad=True)
    out = engine.normal(mean, std)
    (out * engine.tensor([1.0, 2.0, 3.0], dtype=engine.float64)).sum().backward()
    tm = torch.tensor(mean.tolist(), dtype=torch.float64, requires_grad=True)
    ts = torch.tensor(std.tolist(), dtype=torch.float64, requires_grad=True)
    z = torch.tensor(((out.data - mean.data) / std.data).tolist(), dtype=torch.float64)
    ((tm + ts * z) * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum().backward()
    np.testing.assert_allclose(mean.grad.data, tm.grad.numpy())
    np.testing.assert_allclose(std.grad.data, ts.grad.numpy())
    # and torch's own normal gives the same mean gradient (all ones times the weights)
    tn = torch.normal(tm.detach().requires_grad_(), ts.detach())
    (tn * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum().backward()


def test_multinomial_without_replacement_takes_zero_weights_last():
    out = engine.multinomial(engine.tensor([0.0, 1.0, 0.0]), 3)
    ref = torch.multinomial(torch.tensor([0.0, 1.0, 0.0]), 3)
    assert out.tolist()[0] == ref.tolist()[0] == 1 and sorted(out.tolist()) == sorted(ref.tolist())


INT_CONSTRUCTION = [
    ([-1], "uint8"), ([-255, 3], "uint8"), ([-256], "uint8"), ([256], "uint8"), (300, "int8"),
    ([-129], "int8"), ([127, -128], "int8"), ([70000], "int16"), ([-1.7, 1.7, 2.5], "int8"),
    ([-1.0], "uint8"), ([float("nan")], "int64"), (float("inf"), "int32"), ([1.5e10], "int32"),
    ([True, 2], "int8"), ([], "uint8"),
]


@pytest.mark.parametrize("data,dtype", INT_CONSTRUCTION)
def test_tensor_integer_construction_matches_torch(data, dtype):
    try:
        ref = torch.tensor(data, dtype=getattr(torch, dtype))
    except RuntimeError:
        with pytest.raises(RuntimeError, match="without overflow"):
            engine.tensor(data, dtype=getattr(engine, dtype))
        return
    out = engine.tensor(data, dtype=getattr(engine, dtype))
    assert str(out.dtype) == dtype and out.tolist() == ref.tolist()


def test_tensor_int_past_int64_is_a_value_error():
    with pytest.raises(ValueError):
        torch.tensor([2 ** 63])
    with pytest.raises(ValueError):
        engine.tensor([2 ** 63])


@pytest.mark.parametrize("fill", ["uniform_", "normal_", "bernoulli_", "exponential_", "geometric_",
                                  "log_normal_", "cauchy_", "random_"])
def test_fills_draw_from_the_generator_given(fill):
    """torch's fills take generator=; the same generator state gives the same draws, whatever the
    default generator does in between."""
    args = (0.3,) if fill == "geometric_" else ()
    for lib in (torch, engine):
        g = lib.Generator().manual_seed(7)
        state = g.get_state()
        a = getattr(lib.zeros(6, dtype=lib.float64), fill)(*args, generator=g)
        lib.manual_seed(1)
        g.set_state(state)
        lib.rand(5)  # a draw from the default generator must not move g
        b = getattr(lib.zeros(6, dtype=lib.float64), fill)(*args, generator=g)
        assert a.tolist() == b.tolist(), lib.__name__
