"""nn.LazyLinear and nn.UninitializedParameter as torch's: in_features from the first input (or from
a checkpoint's shapes in load_state_dict), Linear's initialization, the module becoming a Linear,
and the errors and reprs before that."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import engine
import nn


def test_first_forward_makes_a_linear():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.LazyLinear(3), torch.nn.LazyLinear(3)
    assert repr(ours) == repr(theirs) == "LazyLinear(in_features=0, out_features=3, bias=True)"
    assert repr(ours.weight) == repr(theirs.weight) == "<UninitializedParameter>"
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized parameter"):
        ours.weight.shape  # noqa: B018
    y = ours(engine.ones(4, 2, 5))
    theirs(torch.ones(4, 2, 5))
    assert type(ours) is nn.Linear and repr(ours) == repr(theirs) == "Linear(in_features=5, out_features=3, bias=True)"
    assert y.shape == (4, 2, 3) and ours.weight.shape == (3, 5) and type(ours.weight) is nn.Parameter
    bound = 1 / np.sqrt(5)  # Linear's reset_parameters: U(±1/sqrt(in)) for both
    assert np.abs(ours.weight.numpy()).max() <= bound and np.abs(ours.bias.numpy()).max() <= bound
    assert ours.weight.numpy().std() > 0.1 * bound
    y.sum().backward()
    assert ours.weight.grad.shape == (3, 5)


def test_load_state_dict_takes_the_checkpoints_shapes():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2))
    ours = nn.Sequential(nn.LazyLinear(6), nn.ReLU(), nn.LazyLinear(2))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert [type(m).__name__ for m in ours] == ["Linear", "ReLU", "Linear"]
    x = np.random.default_rng(0).random((3, 4), dtype=np.float32)
    np.testing.assert_allclose(ours(engine.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), atol=1e-6)


def test_options_copies_and_the_optimizer_after_the_first_forward():
    m = nn.LazyLinear(2, bias=False).to(dtype="float64")
    twin = copy.deepcopy(m)
    m(engine.ones(1, 3, dtype="float64"))
    twin(engine.ones(1, 7, dtype="float64"))  # a copy made before the first forward infers its own size
    assert m.bias is None and m.weight.dtype == np.float64 and twin.weight.shape == (2, 7)
    opt = nn.optim.SGD(m.parameters(), lr=0.5)
    before = m.weight.numpy().copy()
    m(engine.ones(1, 3, dtype="float64")).sum().backward()
    opt.step()
    np.testing.assert_allclose(m.weight.numpy(), before - 0.5)
    p = nn.UninitializedParameter()
    p.materialize((2, 3))
    assert type(p) is nn.Parameter and p.shape == (2, 3) and p.requires_grad
