"""engine.device and engine.cuda as torch.device / torch.cuda: the porting idiom
``device = "cuda" if cuda.is_available() else "cpu"`` works, and device objects read as torch's."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import engine  # noqa: E402


@pytest.mark.parametrize("args", [("cpu",), ("cuda",), ("cuda:0",), ("cuda", 1)])
def test_device_type_index_str_and_repr_equal_torchs(args):
    ours, theirs = engine.device(*args), torch.device(*args)
    assert (ours.type, ours.index, str(ours), repr(ours)) == (theirs.type, theirs.index, str(theirs), repr(theirs))


def test_unknown_device_raises_and_the_porting_idiom_runs():
    with pytest.raises(ValueError, match="unknown device"):
        engine.device("tpu")
    dev = engine.device("cuda" if engine.cuda.is_available() else "cpu")
    x = engine.zeros(3, device=dev)
    assert x.device == ("gpu" if engine.cuda.is_available() else "cpu")
    assert (engine.cuda.device_count() >= 1) if engine.cuda.is_available() else engine.cuda.device_count() == 0
    engine.cuda.synchronize()
    engine.cuda.manual_seed_all(0)
    a = engine.rand(3)
    engine.cuda.manual_seed(0)
    assert engine.rand(3).tolist() == a.tolist()
