"""Small parity fixes found by the OpInfo sweeps in session 17: angle's double backward on real input
(zero, as torch's), and combinations with no combination to make staying in the graph (torch's (0, r)
result requires grad)."""

from __future__ import annotations

import numpy as np
import pytest

import engine

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


def test_angle_of_a_real_input_has_a_zero_second_derivative():
    x = np.array([-2.0, 0.0, 3.0, np.nan])
    t = torch.tensor(x, requires_grad=True)
    o = engine.tensor(x, requires_grad=True)
    (tg,) = torch.autograd.grad((t.angle() * t).sum(), t, create_graph=True)
    (og,) = engine.autograd.grad((o.angle() * o).sum(), o, create_graph=True)
    np.testing.assert_array_equal(og.detach().numpy(), tg.detach().numpy())  # d/dx (angle·x) = angle
    (tgg,) = torch.autograd.grad((tg * tg).sum(), t, allow_unused=True)
    (ogg,) = engine.autograd.grad((og * og).sum(), o, allow_unused=True)
    expected = np.zeros(4) if tgg is None else tgg.numpy()
    np.testing.assert_array_equal(np.zeros(4) if ogg is None else ogg.numpy(), expected)


@pytest.mark.parametrize("n,r,with_replacement", [(1, 2, False), (2, 3, False), (0, 2, True), (1, 2, True)])
def test_combinations_stay_in_the_graph_even_when_empty(n, r, with_replacement):
    x = np.arange(1.0, n + 1)
    t = torch.tensor(x, requires_grad=True)
    o = engine.tensor(x, requires_grad=True)
    ty = torch.combinations(t, r=r, with_replacement=with_replacement)
    oy = engine.combinations(o, r=r, with_replacement=with_replacement)
    assert oy.shape == tuple(ty.shape) and oy.requires_grad == ty.requires_grad
    (tg,) = torch.autograd.grad((ty * 2).sum(), t)
    (og,) = engine.autograd.grad((oy * 2).sum(), o)
    np.testing.assert_array_equal(og.numpy(), tg.numpy())
