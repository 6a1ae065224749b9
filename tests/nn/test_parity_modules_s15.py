"""nn modules against torch where torch's ModuleInfo sweep (tests/nn/moduleinfo_sweep.py) found them
to differ: constructor argument checks of the recurrent layers."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import nn  # noqa: E402


def _raises_as_torch(ours, theirs, match=None):
    """Run both; torch's exception type is the expected one, and ours is an instance of it."""
    with pytest.raises(Exception) as want:
        theirs()
    with pytest.raises(want.type, match=match):
        ours()


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("args,kwargs,match", [
    ((3, 5), {"bias": 0}, "bias should be of type bool, got: int"),
    ((3, 5), {"batch_first": 1}, "batch_first should be of type bool, got: int"),
    ((3.0, 5), {}, "input_size should be of type int, got: float"),
    ((-1, 5), {}, "input_size must be greater than zero"),
    ((0, 5), {}, "input_size must be greater than zero"),
    ((3, 0), {}, "hidden_size must be greater than zero"),
])
def test_recurrent_constructor_checks_as_torch(name, args, kwargs, match):
    _raises_as_torch(lambda: getattr(nn, name)(*args, **kwargs),
                     lambda: getattr(torch.nn, name)(*args, **kwargs), match)
