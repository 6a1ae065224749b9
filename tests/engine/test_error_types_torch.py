"""The exception a torch user's ``except``/``pytest.raises`` expects: for each bad call, ours is an
instance of the type torch raises (ours may be both, e.g. ShapeError is a ValueError and a
RuntimeError)."""

from __future__ import annotations

import pytest

import engine
import engine.functional as EF

torch = pytest.importorskip("torch")
TF = pytest.importorskip("torch.nn.functional")


def _f(m):
    return TF if m is torch else EF


CASES = {
    "add": lambda m: m.ones(2) + m.ones(3),
    "mul": lambda m: m.ones(2, 3) * m.ones(4, 3),
    "maximum": lambda m: m.maximum(m.ones(2), m.ones(3)),
    "eq": lambda m: m.ones(2) == m.ones(3),
    "lt": lambda m: m.ones(2, 3) < m.ones(4, 1, 2),
    "where": lambda m: m.where(m.ones(2) > 0, m.ones(3), m.ones(2)),
    "linear": lambda m: _f(m).linear(m.ones(2, 3), m.ones(4, 5)),
    "matmul": lambda m: m.ones(2, 3) @ m.ones(4, 5),
    "cat": lambda m: m.cat([m.ones(2, 3), m.ones(2, 4)], 0),
    "view": lambda m: m.ones(6).view(4, -1),
    "expand": lambda m: m.ones(2, 3).expand(4, 3),
    "masked_fill": lambda m: m.ones(2, 3).masked_fill(m.ones(4) > 0, 0.0),
    "index": lambda m: m.ones(2, 3)[5],
    "dim": lambda m: m.ones(2, 3).sum(5),
    "item": lambda m: m.ones(2).item(),
    "setitem": lambda m: m.ones(2, 3).__setitem__(0, m.ones(4)),
    "embedding": lambda m: _f(m).embedding(m.tensor([5]), m.ones(3, 2)),
    "backward_nonscalar": lambda m: (m.ones(2, requires_grad=True) * 2).backward(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_error_type_is_torchs(name):
    with pytest.raises(Exception) as theirs:
        CASES[name](torch)
    with pytest.raises(theirs.type):
        CASES[name](engine)


def test_broadcast_message_names_the_dimension():
    with pytest.raises(RuntimeError, match=r"size of tensor a \(2\) must match the size of tensor b \(3\) at "
                                           r"non-singleton dimension 1"):
        engine.ones(4, 2) + engine.ones(4, 3)
