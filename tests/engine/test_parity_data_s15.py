"""``Tensor.data`` as torch's: a tensor over the same memory, outside the graph. PyTorch code writes
through it to initialise and update parameters (``m.weight.data.normal_()``, ``p.data -= lr * p.grad``),
so each case here runs the same calls on torch and on ours and compares."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import engine  # noqa: E402
import nn  # noqa: E402
from engine import Tensor  # noqa: E402

RNG = np.random.default_rng(15)


def _both(values, requires_grad=False, dtype=np.float64):
    a = np.asarray(values, dtype=dtype)
    return Tensor(a.copy(), requires_grad=requires_grad), torch.tensor(a.copy(), requires_grad=requires_grad)


def test_data_is_a_tensor_over_the_same_memory_outside_the_graph():
    ours, theirs = _both(RNG.standard_normal(4), requires_grad=True)
    for x, lib in ((ours, engine), (theirs, torch)):
        d = x.data
        assert isinstance(d, lib.Tensor) and not d.requires_grad and d.grad_fn is None and d.is_leaf
        d.mul_(3)  # in place through .data reaches x
        d[0] = 7.0
    np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())
    assert ours.requires_grad and theirs.requires_grad  # x itself is untouched


def test_data_of_a_parameter_is_a_plain_tensor_and_of_a_non_leaf_needs_no_grad():
    p, tp = nn.Parameter(Tensor(np.ones(3, np.float32))), torch.nn.Parameter(torch.ones(3))
    assert type(tp.data) is torch.Tensor and type(p.data) is Tensor
    y, ty = p * 2, tp * 2
    assert not ty.data.requires_grad and not y.data.requires_grad
    assert y.data.tolist() == ty.data.tolist()


def test_torch_style_init_and_sgd_through_data_match_torch():
    w = RNG.standard_normal((3, 4)).astype(np.float32)
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    ours, theirs = nn.Linear(4, 3), torch.nn.Linear(4, 3)
    ours.weight.data.copy_(Tensor(w))
    theirs.weight.data.copy_(torch.tensor(w))
    ours.bias.data.zero_()
    theirs.bias.data.zero_()
    for _ in range(2):
        for m, X in ((ours, Tensor(x)), (theirs, torch.tensor(x))):
            (m(X) ** 2).sum().backward()
            for p in m.parameters():
                p.data -= 0.1 * p.grad.data  # the pre-optimizer SGD idiom
                p.grad = None
    np.testing.assert_allclose(ours.weight.detach().numpy(), theirs.weight.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.bias.detach().numpy(), theirs.bias.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert isinstance(ours.weight, nn.Parameter) and ours.weight.requires_grad


def test_a_change_through_data_is_not_seen_by_autograd():
    # y = x * x saves x; changing x through .data raises no version error (unlike detach()), and
    # backward reads the changed values, as torch.
    grads = []
    for x in _both([1.0, 2.0, 3.0], requires_grad=True):
        y = x * x
        x.data.mul_(2)
        y.sum().backward()
        grads.append(np.asarray(x.grad.tolist()))
    np.testing.assert_array_equal(grads[0], grads[1])


def test_assigning_data_swaps_the_memory_and_may_change_the_shape():
    ours, theirs = _both([1.0, 2.0], requires_grad=True)
    new_ours, new_theirs = _both([[5.0, 6.0, 7.0]])
    ours.data, theirs.data = new_ours, new_theirs
    assert tuple(ours.shape) == tuple(theirs.shape) == (1, 3)
    assert ours.requires_grad and theirs.requires_grad
    new_ours.add_(1)  # the same memory afterwards
    new_theirs.add_(1)
    assert ours.tolist() == theirs.tolist() == [[6.0, 7.0, 8.0]]


def test_assigning_data_rejects_what_torch_rejects():
    ours, theirs = _both([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError):
        theirs.data = np.zeros(2)
    with pytest.raises(TypeError, match="Variable data has to be a tensor"):
        ours.data = np.zeros(2)
    with pytest.raises(RuntimeError):
        theirs.data = torch.tensor([1, 2])
    with pytest.raises(RuntimeError, match="floating point"):
        ours.data = Tensor(np.array([1, 2]))
