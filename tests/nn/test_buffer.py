"""nn.Buffer (torch 2.5's): assigned to a Module attribute it is registered as register_buffer would,
with its persistence; the same keys, buffers and errors as torch.nn.Buffer."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import engine
import nn


def _pair(torch):
    class Ours(nn.Module):
        def __init__(self):
            super().__init__()
            self.running = nn.Buffer(engine.ones(2))
            self.table = nn.Buffer(engine.arange(3.0), persistent=False)
            self.lin = nn.Linear(2, 2)

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.running = torch.nn.Buffer(torch.ones(2))
            self.table = torch.nn.Buffer(torch.arange(3.0), persistent=False)
            self.lin = torch.nn.Linear(2, 2)

    return Ours(), Theirs()


def test_buffers_register_as_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = _pair(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["running", "lin.weight", "lin.bias"]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()] == ["running", "table"]
    assert [n for n, _ in ours.named_parameters()] == ["lin.weight", "lin.bias"]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_array_equal(ours.running.numpy(), np.ones(2, np.float32))
    ours.running = engine.full((2,), 5.0)  # a plain tensor assigned to a buffer's name stays the buffer
    assert ours.state_dict()["running"].tolist() == [5.0, 5.0]
    assert [n for n, _ in copy.deepcopy(ours).named_buffers()] == ["running", "table"]
    assert ours.to(dtype="float64").table.dtype == np.float64


def test_buffer_data_and_errors_as_torch():
    torch = pytest.importorskip("torch")
    x = engine.ones(2, requires_grad=True)
    b = nn.Buffer(x)
    assert b.requires_grad and b.persistent and b._ctx is None  # detached, the flag kept (torch)
    assert torch.nn.Buffer(torch.ones(2, requires_grad=True)).requires_grad
    assert nn.Buffer().shape == (0,)

    class Clash(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = 3
            self.c = nn.Buffer(engine.ones(1))

    with pytest.raises(KeyError, match="attribute 'c' already exists"):
        Clash()

    class Early(nn.Module):
        def __init__(self):
            self.c = nn.Buffer(engine.ones(1))

    with pytest.raises(AttributeError, match="cannot assign buffer before Module.__init__"):
        Early()
