"""Optimizer options and param groups against torch.optim: Adam/AdamW amsgrad, maximize and
decoupled_weight_decay, SGD maximize, per-group hyper-parameters, a hand-changed
``param_groups[i]["lr"]``, and state_dict resumes; ten steps each, float64 to 1e-10, float32 to 1e-5."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import nn
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

SHAPES = [(3, 4), (4,), (2, 1, 3)]
NAMES = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"]

CONFIGS = {
    "Adam_amsgrad": ("Adam", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    "Adam_maximize": ("Adam", {"lr": 0.01, "maximize": True}),
    "Adam_amsgrad_maximize": ("Adam", {"lr": 0.01, "amsgrad": True, "maximize": True, "betas": (0.5, 0.9)}),
    "Adam_decoupled": ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    "AdamW_amsgrad": ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    "AdamW_maximize": ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
    "SGD_maximize": ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01, "maximize": True}),
    "SGD_nesterov_maximize": ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "maximize": True}),
    "RMSprop_all": ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.1, "momentum": 0.5,
                                "centered": True, "maximize": True}),
    "Adagrad_maximize": ("Adagrad", {"lr": 0.1, "maximize": True}),
    "Adadelta_maximize": ("Adadelta", {"lr": 1.0, "maximize": True}),
    "Adamax_maximize": ("Adamax", {"lr": 0.01, "maximize": True}),
    "NAdam_maximize": ("NAdam", {"lr": 0.01, "maximize": True}),
    "RAdam_maximize": ("RAdam", {"lr": 0.01, "maximize": True}),
}
# every optimizer once with plain defaults, so each is run with groups and a hand-set lr too
CONFIGS.update({f"{n}_defaults": (n, {}) for n in NAMES})


def _grads(step: int, dtype):
    rng = np.random.default_rng(100 + step)
    return [rng.normal(size=s).astype(dtype) for s in SHAPES]


def _make(name, dtype):
    cls, kw = CONFIGS[name]
    rng = np.random.default_rng(0)
    start = [rng.normal(size=s).astype(dtype) for s in SHAPES]
    ours = [nn.Parameter(a.copy()) for a in start]
    theirs = [torch.nn.Parameter(torch.tensor(a.copy())) for a in start]
    lr = kw.get("lr", inspect.signature(getattr(torch.optim, cls).__init__).parameters["lr"].default)
    # two groups, the second with its own lr and weight decay: per-group hyper-parameters
    groups = lambda ps: [{"params": ps[:2]}, {"params": ps[2:], "lr": lr * 0.5, "weight_decay": 0.05}]  # noqa: E731
    return getattr(nn.optim, cls)(groups(ours), **kw), getattr(torch.optim, cls)(groups(theirs), **kw), ours, theirs


def _steps(opt, topt, ours, theirs, dtype, start, stop):
    for step in range(start, stop):
        if step == 4:  # a hand-changed lr takes effect at the next step, as torch's
            for o in (opt, topt):
                o.param_groups[0]["lr"] *= 0.3
        for p, t, g in zip(ours, theirs, _grads(step, dtype)):
            p.grad = Tensor(g.copy())
            t.grad = torch.tensor(g.copy())
        opt.step()
        topt.step()


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_ten_steps_with_groups_equal_torch(name, dtype, tol):
    opt, topt, ours, theirs = _make(name, dtype)
    _steps(opt, topt, ours, theirs, dtype, 0, 10)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_state_dict_resumes_bit_exactly(name):
    opt, topt, ours, theirs = _make(name, np.float64)
    _steps(opt, topt, ours, theirs, np.float64, 0, 5)
    saved = opt.state_dict()
    params = [p.numpy().copy() for p in ours]
    _steps(opt, topt, ours, theirs, np.float64, 5, 10)
    straight = [p.numpy().copy() for p in ours]
    # a fresh optimizer over fresh parameters, restored from the saved state
    opt2, topt2, ours2, theirs2 = _make(name, np.float64)
    for p, a in zip(ours2, params):
        p.data[...] = a
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == saved["param_groups"][0]["lr"]
    for p, t in zip(ours2, theirs2):  # torch's side is not compared here: feed it the same arrays
        t.data[...] = torch.tensor(p.numpy())
    _steps(opt2, topt2, ours2, theirs2, np.float64, 5, 10)
    for a, p in zip(straight, ours2):
        np.testing.assert_array_equal(p.numpy(), a)


@pytest.mark.parametrize("cls", NAMES)
def test_signature_is_torchs(cls):
    """Same parameter names, kinds and defaults as torch 2.x (foreach/fused/... accepted as no-ops)."""
    t = inspect.signature(getattr(torch.optim, cls).__init__).parameters
    o = inspect.signature(getattr(nn.optim, cls).__init__).parameters
    assert list(o) == list(t)
    for k in t:
        assert o[k].kind == t[k].kind, k
        if k != "params":
            assert o[k].default == t[k].default, k


def test_state_keys_with_amsgrad():
    p = nn.Parameter(np.ones(3))
    opt = nn.optim.Adam([p], amsgrad=True)
    p.grad = Tensor(np.ones(3))
    opt.step()
    assert set(opt.state_dict()["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
