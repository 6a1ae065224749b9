"""nn.optim against torch.optim where the earlier sweeps did not look: Adagrad's state made at
construction (state_dict() has every parameter's step and sum before any step, from the
constructor's initial_accumulator_value even for a group or an added group that sets its own),
and add_param_group's type error."""

from __future__ import annotations

import numpy as np
import pytest

import nn
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


def _as_lists(state: dict) -> dict:
    return {i: {k: np.round(np.asarray(v, dtype=float), 12).tolist() for k, v in s.items()} for i, s in state.items()}


def _adagrad(lib, dtype):
    make = (lambda a: nn.Parameter(a.astype(dtype))) if lib is nn else (
        lambda a: torch.nn.Parameter(torch.tensor(a.astype(dtype))))
    rng = np.random.default_rng(0)
    params = [make(rng.normal(size=s)) for s in [(3, 2), (4,), (2, 2)]]
    opt = (nn.optim if lib is nn else torch.optim).Adagrad(
        [{"params": params[:1]}, {"params": params[1:2], "initial_accumulator_value": 0.7, "lr": 0.05}],
        lr=0.1, initial_accumulator_value=0.2, lr_decay=0.01)
    opt.add_param_group({"params": params[2:], "initial_accumulator_value": 0.9})
    return opt, params


def _state_dict(opt, lib):
    sd = opt.state_dict()
    if lib is torch:
        sd = {"state": {i: {k: v.numpy() for k, v in s.items()} for i, s in sd["state"].items()},
              "param_groups": sd["param_groups"]}
    return _as_lists(sd["state"]), sd["param_groups"]


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_adagrad_state_is_made_at_construction_as_torch(dtype, tol):
    ours, ours_params = _adagrad(nn, dtype)
    theirs, their_params = _adagrad(torch, dtype)
    assert _state_dict(ours, nn) == _state_dict(theirs, torch)  # params 0 and 1 only: not the added group's
    for step in range(5):
        rng = np.random.default_rng(10 + step)
        for i, (p, q) in enumerate(zip(ours_params, their_params)):
            if (step + i) % 4 == 3:  # now and then no gradient: the parameter and its state stay as they are
                p.grad = q.grad = None
                continue
            g = rng.normal(size=p.shape).astype(dtype)
            p.grad, q.grad = Tensor(g), torch.tensor(g)
        ours.step()
        theirs.step()
    for p, q in zip(ours_params, their_params):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=tol, atol=tol)
    mine_state, mine_groups = _state_dict(ours, nn)
    their_state, their_groups = _state_dict(theirs, torch)
    assert mine_groups == their_groups
    assert mine_state.keys() == their_state.keys()
    for i in their_state:
        for k in their_state[i]:
            np.testing.assert_allclose(mine_state[i][k], their_state[i][k], rtol=tol, atol=tol)


def test_add_param_group_type_error_is_torchs():
    with pytest.raises(TypeError) as theirs:
        torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1).add_param_group([torch.ones(2)])
    with pytest.raises(TypeError) as ours:
        nn.optim.SGD([nn.Parameter(np.ones(2))], lr=0.1).add_param_group([nn.Parameter(np.ones(2))])
    assert str(ours.value) == str(theirs.value)
