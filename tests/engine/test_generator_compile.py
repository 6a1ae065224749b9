"""engine.Generator (torch.Generator), engine.compile and engine.set_float32_matmul_precision: what a
torch 2 script calls, with torch's results and errors."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from nn.utils.data import DataLoader, TensorDataset, random_split


def test_generator_replays_its_stream_for_every_factory():
    g = engine.Generator()
    draws = []
    for _ in range(2):
        g.manual_seed(7)
        draws.append([engine.randn(3, generator=g).numpy(), engine.rand(2, generator=g).numpy(),
                      engine.randint(0, 10, (4,), generator=g).numpy(), engine.randperm(6, generator=g).numpy(),
                      engine.normal(0.0, 1.0, (2,), generator=g).numpy(),
                      engine.multinomial(engine.tensor([0.2, 0.8]), 3, replacement=True, generator=g).numpy()])
    for a, b in zip(*draws):
        np.testing.assert_array_equal(a, b)
    assert draws[0][1].dtype == np.float32 and draws[0][2].dtype == np.int64


def test_generator_is_apart_from_the_default_stream():
    engine.manual_seed(0)
    want = engine.randn(4).numpy()
    engine.manual_seed(0)
    engine.randn(5, generator=engine.Generator().manual_seed(1))  # does not move the default generator
    np.testing.assert_array_equal(engine.randn(4).numpy(), want)


def test_generator_seeds_and_state_as_torch():
    torch = pytest.importorskip("torch")
    g, t = engine.Generator(), torch.Generator()
    assert g.initial_seed() == t.initial_seed() == 67280421310721
    assert g.manual_seed(3) is g and g.initial_seed() == 3
    assert g.manual_seed(-1).initial_seed() == t.manual_seed(-1).initial_seed() == 2**64 - 1
    state = g.get_state()
    a = engine.rand(3, generator=g).numpy()
    g.set_state(state)
    np.testing.assert_array_equal(engine.rand(3, generator=g).numpy(), a)
    s = g.seed()
    assert g.initial_seed() == s and s >= 0
    with pytest.raises(RuntimeError, match="device type must be 'cpu' or 'cuda', got 'tpu'"):
        engine.Generator("tpu")


def test_generator_drives_data_splits_and_shuffles():
    def split(seed):
        parts = random_split(list(range(10)), [4, 6], generator=engine.Generator().manual_seed(seed))
        return [s.indices for s in parts]

    def order(seed):
        dl = DataLoader(TensorDataset(engine.arange(8)), batch_size=4, shuffle=True,
                        generator=engine.Generator().manual_seed(seed))
        return [b[0].numpy().tolist() for b in dl]

    assert split(1) == split(1) and sorted(sum(split(1), [])) == list(range(10))
    assert order(2) == order(2) and sorted(sum(order(2), [])) == list(range(8))
    assert order(2) != order(3) or split(1) != split(4)  # other seeds, other draws


def test_compile_returns_the_model_and_works_as_a_decorator():
    import nn

    model = nn.Linear(2, 3)
    assert engine.compile(model) is model
    assert engine.compile(model, mode="max-autotune", fullgraph=True, dynamic=False, backend="inductor") is model

    @engine.compile(mode="reduce-overhead")
    def double(x):
        return x * 2

    assert double(4) == 8


def test_float32_matmul_precision_as_torch():
    old = engine.get_float32_matmul_precision()
    try:
        engine.set_float32_matmul_precision("high")
        assert engine.get_float32_matmul_precision() == "high"
        with pytest.warns(UserWarning, match="low is not one of 'highest', 'high', or 'medium'"):
            engine.set_float32_matmul_precision("low")
        assert engine.get_float32_matmul_precision() == "high"
    finally:
        engine.set_float32_matmul_precision(old)
