"""Optimizers on complex parameters against torch: torch steps a complex parameter as its real and
imaginary parts (view_as_real), so Adam's second moment, RMSprop's average, Rprop's signs and LBFGS's
flat vectors are per part; state_dict keeps complex state. Adafactor and Muon refuse complex, as torch;
gradient clipping takes norms of |g| and refuses to clamp complex values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import engine
import nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(0)
W0 = RNG.standard_normal((3, 4)) + 1j * RNG.standard_normal((3, 4))
B0 = RNG.standard_normal(4) + 1j * RNG.standard_normal(4)
X0 = RNG.standard_normal((5, 3)) + 1j * RNG.standard_normal((5, 3))
Y0 = RNG.standard_normal((5, 4)) + 1j * RNG.standard_normal((5, 4))  # the minimum is away from 0

CASES = [
    ("SGD", {"lr": 0.01}), ("SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01}), ("Adam", {"lr": 0.01, "amsgrad": True, "maximize": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}), ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True}), ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5}), ("Adadelta", {"lr": 1.0}),
    ("Adamax", {"lr": 0.01}), ("NAdam", {"lr": 0.01}), ("RAdam", {"lr": 0.01}), ("ASGD", {"lr": 0.01}),
    ("Rprop", {"lr": 0.01}), ("LBFGS", {"lr": 0.5}), ("LBFGS", {"lr": 1, "line_search_fn": "strong_wolfe"}),
]


def _pair(name, kw):
    tp = [torch.tensor(W0.copy(), requires_grad=True), torch.tensor(B0.copy(), requires_grad=True)]
    op = [nn.Parameter(engine.tensor(W0.copy())), nn.Parameter(engine.tensor(B0.copy()))]
    return tp, op, getattr(torch.optim, name)(tp, **kw), getattr(nn.optim, name)(op, **kw)


def _run(tp, op, to, oo, steps=4):
    def t_closure():
        to.zero_grad()
        loss = (torch.tensor(X0) @ tp[0] + tp[1] - torch.tensor(Y0)).abs().pow(2).sum()
        loss.backward()
        return loss

    def o_closure():
        oo.zero_grad()
        loss = (engine.tensor(X0) @ op[0] + op[1] - engine.tensor(Y0)).abs().pow(2).sum()
        loss.backward()
        return loss

    for _ in range(steps):
        to.step(t_closure)
        oo.step(o_closure)


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_complex_parameters_step_as_torch(name, kw):
    tp, op, to, oo = _pair(name, kw)
    _run(tp, op, to, oo)
    for o, t in zip(op, tp):
        assert str(o.dtype) == "complex128"
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)
    t_state, o_state = to.state_dict()["state"], oo.state_dict()["state"]
    for i, t in enumerate(tp):
        for key, value in t_state.get(i, {}).items():
            if isinstance(value, torch.Tensor) and value.shape == t.shape:  # per-element state
                ours = np.asarray(o_state[i][key])
                assert ours.dtype == np.complex128, key
                np.testing.assert_allclose(ours, value.numpy(), rtol=1e-10, atol=1e-12, err_msg=key)


def test_adagrad_initial_sum_is_complex_v_v():
    tp, op, to, oo = _pair("Adagrad", {"initial_accumulator_value": 0.5})
    np.testing.assert_array_equal(oo.state_dict()["state"][0]["sum"], to.state_dict()["state"][0]["sum"].numpy())


def test_complex_state_round_trips_through_load_state_dict():
    tp, op, to, oo = _pair("Adam", {"lr": 0.01})
    _run(tp, op, to, oo, steps=2)
    op2 = [nn.Parameter(engine.tensor(p.detach().numpy().copy())) for p in op]
    oo2 = nn.optim.Adam(op2, lr=0.01)
    oo2.load_state_dict(oo.state_dict())
    _run(tp, op2, to, oo2, steps=2)
    for o, t in zip(op2, tp):
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["Adafactor", "Muon"])
def test_optimizers_that_refuse_complex(name):
    t = torch.zeros(3, 3, dtype=torch.complex128, requires_grad=True)
    t.grad = torch.ones_like(t)
    o = nn.Parameter(engine.tensor(np.zeros((3, 3), complex)))
    o.grad = engine.tensor(np.ones((3, 3), complex))
    with pytest.raises(RuntimeError) as te:
        getattr(torch.optim, name)([t]).step()
    with pytest.raises(RuntimeError) as oe:
        getattr(nn.optim, name)([o]).step()
    assert str(oe.value) == str(te.value)


def test_a_users_own_step_sees_complex_parameters():
    seen = []

    class Mine(nn.optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {"lr": 0.1})

        def step(self):
            for p in self.param_groups[0]["params"]:
                seen.append((p.dtype, p.grad.dtype, p.shape))
                p.data.sub_(0.1 * p.grad)

    p = nn.Parameter(engine.tensor(W0.copy()))
    p.grad = engine.tensor(W0.copy())
    Mine([p]).step()
    assert seen == [(np.dtype("complex128"), np.dtype("complex128"), (3, 4))]
    np.testing.assert_allclose(p.detach().numpy(), 0.9 * W0)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, 0.0])
def test_clip_grad_norm_of_complex_gradients(norm_type):
    t = torch.zeros(3, 4, dtype=torch.complex128, requires_grad=True)
    t.grad = torch.tensor(W0.copy())
    o = nn.Parameter(engine.tensor(np.zeros((3, 4), complex)))
    o.grad = engine.tensor(W0.copy())
    tn = torch.nn.utils.clip_grad_norm_([t], 1.0, norm_type)
    on = nn.utils.clip_grad_norm_([o], 1.0, norm_type)
    assert str(on.dtype) == "float64" == str(tn.dtype).removeprefix("torch.")
    np.testing.assert_allclose(on.item(), tn.item(), rtol=1e-14)
    np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-14)


def test_the_trainers_clip_grad_norm_takes_complex_gradients():
    o = nn.Parameter(engine.tensor(np.zeros((3, 4), complex)))
    o.grad = engine.tensor(W0.copy())
    t = torch.zeros(3, 4, dtype=torch.complex128, requires_grad=True)
    t.grad = torch.tensor(W0.copy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = torch.nn.utils.clip_grad_norm_([t], 1.0).item()
    assert math.isclose(nn.optim.clip_grad_norm_([o], 1.0), expected, rel_tol=1e-14)
    np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-14)


def test_clip_grad_value_refuses_complex():
    t = torch.zeros(2, dtype=torch.complex128, requires_grad=True)
    t.grad = torch.ones_like(t)
    o = nn.Parameter(engine.tensor(np.zeros(2, complex)))
    o.grad = engine.tensor(np.ones(2, complex))
    with pytest.raises(NotImplementedError) as te:
        torch.nn.utils.clip_grad_value_([t], 0.5)
    with pytest.raises(NotImplementedError) as oe:
        nn.utils.clip_grad_value_([o], 0.5)
    assert str(oe.value) == str(te.value)
