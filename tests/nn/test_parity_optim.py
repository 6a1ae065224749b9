"""Every optimizer of nn.optim against torch.optim: ten steps from the same parameters and the same
gradients give the same parameters (float64 to 1e-10, float32 to 1e-5), and a state_dict taken
mid-run resumes bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import nn
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

SHAPES = [(3, 4), (4,), (2, 1, 3)]

CONFIGS = {
    "SGD": {"lr": 0.1},
    "SGD_momentum": {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01},
    "SGD_nesterov": {"lr": 0.05, "momentum": 0.8, "nesterov": True},
    "Adam": {"lr": 0.01, "weight_decay": 0.1},
    "AdamW": {"lr": 0.01, "weight_decay": 0.1, "betas": (0.8, 0.99)},
    "RMSprop": {"lr": 0.01},
    "RMSprop_centered": {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.1, "alpha": 0.9},
    "Adagrad": {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.05, "initial_accumulator_value": 0.1},
    "Adadelta": {"lr": 1.0, "rho": 0.8, "weight_decay": 0.1},
    "Adamax": {"lr": 0.01, "weight_decay": 0.1},
    "NAdam": {"lr": 0.01, "weight_decay": 0.1},
    "NAdam_decoupled": {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "momentum_decay": 0.01},
    "RAdam": {"lr": 0.01, "weight_decay": 0.1},
    "RAdam_decoupled": {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
    "RMSprop_maximize": {"lr": 0.01, "maximize": True},
}


def _class(name: str) -> str:
    return name.split("_")[0]


def _grads(step: int, dtype):
    rng = np.random.default_rng(100 + step)
    return [rng.normal(size=s).astype(dtype) for s in SHAPES]


def _run(name, dtype, steps=10):
    rng = np.random.default_rng(0)
    start = [rng.normal(size=s).astype(dtype) for s in SHAPES]
    ours = [nn.Parameter(a.copy()) for a in start]
    theirs = [torch.nn.Parameter(torch.tensor(a.copy())) for a in start]
    # two groups, the second with its own lr, so per-group hyper-parameters are exercised
    kw = CONFIGS[name]
    groups = lambda ps: [{"params": ps[:2]}, {"params": ps[2:], "lr": kw["lr"] * 0.5}]  # noqa: E731
    opt = getattr(nn.optim, _class(name))(groups(ours), **kw)
    topt = getattr(torch.optim, _class(name))(groups(theirs), **kw)
    for step in range(steps):
        for p, t, g in zip(ours, theirs, _grads(step, dtype)):
            p.grad = Tensor(g.copy())
            t.grad = torch.tensor(g.copy())
        opt.step()
        topt.step()
    return ours, theirs, opt


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_ten_steps_equal_torch(name, dtype, tol):
    ours, theirs, _ = _run(name, dtype)
    for p, t in zip(ours, theirs):
        assert p.dtype == dtype
        np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_state_dict_resumes_bit_exactly(name):
    dtype = np.float32
    ours, _, opt = _run(name, dtype, steps=4)
    saved_params = [p.numpy().copy() for p in ours]
    saved = opt.state_dict()
    for step in range(4, 8):
        for p, g in zip(ours, _grads(step, dtype)):
            p.grad = Tensor(g)
        opt.step()
    expected = [p.numpy().copy() for p in ours]

    resumed = [nn.Parameter(a.copy()) for a in saved_params]
    kw = CONFIGS[name]
    opt2 = getattr(nn.optim, _class(name))([{"params": resumed[:2]}, {"params": resumed[2:], "lr": 1.0}], **kw)
    opt2.load_state_dict(saved)  # restores the per-group lr too
    for step in range(4, 8):
        for p, g in zip(resumed, _grads(step, dtype)):
            p.grad = Tensor(g)
        opt2.step()
    for a, b in zip(expected, resumed):
        assert np.array_equal(a, b.numpy())


_A = np.array([[3.0, 0.5, 0.0, 0.2], [0.5, 2.0, 0.3, 0.0], [0.0, 0.3, 1.5, 0.1], [0.2, 0.0, 0.1, 1.0]])
_B = np.array([1.0, -2.0, 0.5, 3.0])


def _objective(x):
    """A well-conditioned smooth problem (quadratic plus a quartic), so that the two runs' rounding
    differences stay at 1e-15 instead of being amplified as on Rosenbrock's valley."""
    x = x.reshape(4)
    A, B = (x.new_tensor(_A), x.new_tensor(_B)) if hasattr(x, "new_tensor") else (_A, _B)
    return 0.5 * (x @ (A @ x)) - (B * x).sum() + 0.1 * (x**4).sum()


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_equals_torch(line_search_fn):
    start = np.array([[-1.5, 0.3], [2.0, 1.0]])
    ours = nn.Parameter(start.copy())
    theirs = torch.nn.Parameter(torch.tensor(start.copy()))
    kw = {"lr": 0.5 if line_search_fn is None else 1.0, "max_iter": 6, "history_size": 3,
          "line_search_fn": line_search_fn}
    opt, topt = nn.optim.LBFGS([ours], **kw), torch.optim.LBFGS([theirs], **kw)

    def closure():
        opt.zero_grad()
        loss = _objective(ours)
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = _objective(theirs)
        loss.backward()
        return loss

    for _ in range(4):
        loss, tloss = opt.step(closure), topt.step(tclosure)
        assert float(loss) == pytest.approx(tloss.item(), rel=1e-12)
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
        assert opt.state[id(ours)]["func_evals"] == topt.state[theirs]["func_evals"]


def test_bad_hyperparameters_raise():
    p = [nn.Parameter([1.0])]
    with pytest.raises(ValueError, match="beta"):
        nn.optim.NAdam(p, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="Invalid learning rate"):
        nn.optim.RMSprop(p, lr=-1.0)
    with pytest.raises(ValueError, match="groups"):
        nn.optim.LBFGS([{"params": p}, {"params": [nn.Parameter([2.0])]}])
    with pytest.raises(RuntimeError, match="closure"):
        nn.optim.LBFGS(p).step()
