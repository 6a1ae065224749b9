"""engine.manual_seed / engine.default_generator against torch's: manual_seed returns the default
generator, which seeds, reports and restores the very stream that draws without ``generator=``."""

import numpy as np
import pytest

import engine

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


def test_manual_seed_returns_the_default_generator_like_torch():
    t = torch.manual_seed(3)
    g = engine.manual_seed(3)
    assert t is torch.default_generator and g is engine.default_generator
    assert isinstance(g, engine.Generator) and isinstance(t, torch.Generator)
    assert g.initial_seed() == t.initial_seed() == engine.initial_seed() == torch.initial_seed() == 3
    assert g.device == str(t.device) == "cpu"
    assert engine.manual_seed(-1).initial_seed() == torch.manual_seed(-1).initial_seed() == 2**64 - 1
    for bad in (2**64, -2**63 - 1):
        for f in (torch.manual_seed, engine.manual_seed, torch.Generator().manual_seed, engine.Generator().manual_seed):
            with pytest.raises(ValueError, match="Overflow when unpacking long long"):
                f(bad)
    assert engine.manual_seed(-2**63).initial_seed() == torch.manual_seed(-2**63).initial_seed() == 2**63


def test_default_generator_drives_the_default_stream_unchanged():
    engine.manual_seed(11)
    want = [engine.randn(5).numpy(), engine.rand(3).numpy(), engine.randint(0, 9, (4,)).numpy()]
    # the same seed through the generator object gives the same draws, with or without generator=
    assert engine.default_generator.manual_seed(11) is engine.default_generator
    np.testing.assert_array_equal(engine.randn(5, generator=engine.default_generator).numpy(), want[0])
    np.testing.assert_array_equal(engine.rand(3).numpy(), want[1])
    np.testing.assert_array_equal(engine.randint(0, 9, (4,), generator=engine.default_generator).numpy(), want[2])


def test_default_generator_state_round_trip_like_torch():
    for lib in (torch, engine):
        g = lib.manual_seed(5)
        lib.randn(3)
        state = g.get_state()
        a = lib.randn(4)
        assert g.set_state(state) is g
        b = lib.randn(4)
        np.testing.assert_array_equal(np.asarray(a.numpy()), np.asarray(b.numpy()))
        # the module-level state functions see the same stream
        lib.set_rng_state(state)
        np.testing.assert_array_equal(np.asarray(lib.randn(4).numpy()), np.asarray(a.numpy()))


def test_default_generator_seed_reseeds_from_entropy_like_torch():
    for lib in (torch, engine):
        s = lib.default_generator.seed()
        assert isinstance(s, int) and s == lib.default_generator.initial_seed() == lib.initial_seed()
        first = lib.randn(3).numpy()
        lib.manual_seed(s)
        np.testing.assert_array_equal(lib.randn(3).numpy(), first)


def _raises_like_torch(call):
    """``call(lib)`` raises the same exception type (and kernel name) under torch and engine."""
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(type(theirs.value)) as ours:
        call(engine)
    assert type(ours.value) is type(theirs.value)
    assert str(theirs.value).split(" not implemented")[0] in str(ours.value)


@pytest.mark.parametrize("name,call", [
    ("bool ** bool", lambda lib: lib.tensor([True, False]) ** lib.tensor([True, True])),
    ("0-d bool ** bool", lambda lib: lib.tensor(True) ** lib.tensor(False)),
    ("empty bool ** bool", lambda lib: lib.tensor([True])[:0] ** lib.tensor([True])[:0]),
    ("pow(bool, bool)", lambda lib: lib.pow(lib.tensor([True, False]), lib.tensor([False, True]))),
    ("True ** bool", lambda lib: True ** lib.tensor([True, False])),
    ("pow(True, bool)", lambda lib: lib.pow(True, lib.tensor([True, False]))),
    ("pow_", lambda lib: lib.tensor([True, False]).pow_(lib.tensor([True, False]))),
    ("kthvalue", lambda lib: lib.tensor([True, False, True]).kthvalue(2)),
    ("kthvalue fn", lambda lib: lib.kthvalue(lib.tensor([[True, False]]), 1, 0)),
    ("median", lambda lib: lib.tensor([True, False, True]).median()),
    ("median dim", lambda lib: lib.median(lib.tensor([[True, False]]), 1)),
    ("0-d median dim", lambda lib: lib.tensor(True).median(0)),
    ("nanmedian", lambda lib: lib.nanmedian(lib.tensor([True, False]))),
    ("nanmedian dim", lambda lib: lib.tensor([[True], [False]]).nanmedian(0)),
])
def test_bool_ops_without_a_torch_kernel_raise_its_error(name, call):
    _raises_like_torch(call)


@pytest.mark.parametrize("call", [
    lambda lib: lib.tensor([True, False]) ** True, lambda lib: lib.tensor([True, False]) ** False,
    lambda lib: lib.tensor([True, False]) ** 2, lambda lib: 2 ** lib.tensor([True, False]),
    lambda lib: lib.tensor([True, False]) ** lib.tensor([2, 3]), lambda lib: lib.tensor([True, False]).sort()[0],
    lambda lib: lib.tensor([True, False, True]).mode()[0], lambda lib: lib.tensor([[2, 3]]).median(1)[0],
])
def test_bool_pow_and_sorts_torch_has_still_work(call):
    t, o = call(torch), call(engine)
    assert o.numpy().dtype == t.numpy().dtype
    np.testing.assert_array_equal(o.numpy(), t.numpy())
