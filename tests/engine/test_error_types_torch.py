"""Torch's behaviour where a user's code depends on it: for each bad call, ours raises an instance
of the exception type torch raises (ours may be both, e.g. ShapeError is a ValueError and a
RuntimeError), and a diagonal is a view that in-place ops write through."""

from __future__ import annotations

import numpy as np
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


@pytest.mark.parametrize("shape,offset,dims", [((3, 3), 0, (0, 1)), ((3, 5), 1, (0, 1)), ((5, 3), -2, (0, 1)),
                                               ((2, 4, 4), 0, (1, 2)), ((2, 3, 4), -1, (0, 2)), ((3, 0), 0, (0, 1))])
def test_diagonal_is_a_view_as_torchs(shape, offset, dims):
    """x.diagonal(...).fill_(v) writes into x (init code does this under no_grad), and the diagonal's
    values and gradient stay torch's."""
    a = np.random.default_rng(0).standard_normal(shape)
    t, e = torch.tensor(a), engine.tensor(a)
    t.diagonal(offset, *dims).fill_(7.0)
    e.diagonal(offset, *dims).fill_(7.0)
    np.testing.assert_array_equal(e.numpy(), t.numpy())
    t, e = torch.tensor(a, requires_grad=True), engine.tensor(a, requires_grad=True)
    g = np.random.default_rng(1).standard_normal(tuple(t.diagonal(offset, *dims).shape))
    t.diagonal(offset, *dims).backward(torch.tensor(g))
    e.diagonal(offset, *dims).backward(engine.tensor(g))
    np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())
