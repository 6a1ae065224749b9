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


SCHEDULERS = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[2, 5], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.8),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=5, eta_min=0.001),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lr_lambda=lambda e: 0.9 ** e),
    "LinearLR": lambda m, o: m.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=6),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.1], total_steps=12),
    "SequentialLR": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=3), m.ExponentialLR(o, gamma=0.9)], milestones=[4]),
    "ReduceLROnPlateau": lambda m, o: m.ReduceLROnPlateau(o, factor=0.5, patience=1, threshold=0.5),
}


@pytest.mark.parametrize("sched", sorted(SCHEDULERS))
@pytest.mark.parametrize("name", ["SGD_maximize", "Adam_amsgrad", "AdamW_defaults", "RMSprop_all"])
def test_ten_steps_under_a_scheduler_equal_torch(name, sched):
    """Optimizer + scheduler, two param groups: parameters and every group's lr (and OneCycleLR's
    momentum/betas) equal torch's after each of ten steps."""
    opt, topt, ours, theirs = _make(name, np.float64)
    s = SCHEDULERS[sched](nn.optim.lr_scheduler, opt)
    ts = SCHEDULERS[sched](torch.optim.lr_scheduler, topt)
    for step in range(10):
        for p, t, g in zip(ours, theirs, _grads(step, np.float64)):
            p.grad = Tensor(g.copy())
            t.grad = torch.tensor(g.copy())
        opt.step()
        topt.step()
        if sched == "ReduceLROnPlateau":
            metric = float(sum((p.numpy() ** 2).sum() for p in ours))  # a loss that plateaus and wobbles
            s.step(metric)
            ts.step(metric)
        else:
            s.step()
            ts.step()
        for g, tg in zip(opt.param_groups, topt.param_groups):
            assert g["lr"] == pytest.approx(tg["lr"], rel=1e-12, abs=0)
            for k in ("momentum", "betas"):
                if k in tg:
                    assert g[k] == pytest.approx(tg[k], rel=1e-12)
        for p, t in zip(ours, theirs):
            np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cls", ["SGD", "Adam", "RMSprop"])
def test_add_param_group_as_torch(cls):
    """A group added after three steps (fine-tuning an unfrozen layer) with its own lr; the
    remaining steps equal torch's, and a parameter given twice raises as torch."""
    rng = np.random.default_rng(0)
    a = [rng.normal(size=s) for s in SHAPES]
    ours = [nn.Parameter(x.copy()) for x in a]
    theirs = [torch.nn.Parameter(torch.tensor(x.copy())) for x in a]
    opt = getattr(nn.optim, cls)(ours[:1], lr=0.05)
    topt = getattr(torch.optim, cls)(theirs[:1], lr=0.05)
    for step in range(6):
        if step == 3:
            opt.add_param_group({"params": ours[1:], "lr": 0.01})
            topt.add_param_group({"params": theirs[1:], "lr": 0.01})
            assert [sorted(g) for g in opt.param_groups] == [sorted(g) for g in topt.param_groups]
        for p, t, g in zip(ours, theirs, _grads(step, np.float64)):
            p.grad = Tensor(g.copy())
            t.grad = torch.tensor(g.copy())
        opt.step()
        topt.step()
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="more than one"):
        opt.add_param_group({"params": [ours[0]]})


@pytest.mark.parametrize("cls", NAMES)
def test_param_group_keys_and_defaults_are_torchs(cls):
    o = getattr(nn.optim, cls)([nn.Parameter(np.ones(2))]).param_groups[0]
    t = getattr(torch.optim, cls)([torch.nn.Parameter(torch.ones(2))]).param_groups[0]
    assert sorted(o) == sorted(t)
    for k in t:
        if k != "params":
            assert o[k] == t[k], (k, o[k], t[k])


@pytest.mark.parametrize("cls", ["SGD", "Adam", "RMSprop", "LBFGS"])
def test_step_closure_and_step_hooks_as_torch(cls):
    """step(closure) returns the closure's loss and steps on the gradients it made; step pre- and
    post-hooks run around each step, in torch's order."""
    def run(lib, P, T):
        w = P(np.array([1.0, -2.0, 0.5]))
        opt = getattr(lib.optim, cls)([w], lr=0.1)
        log = []
        opt.register_step_pre_hook(lambda o, a, k: log.append("pre"))
        h = opt.register_step_post_hook(lambda o, a, k: log.append("post"))

        def closure():
            opt.zero_grad()
            loss = (w * w * T(np.array([1.0, 2.0, 3.0]))).sum()
            loss.backward()
            log.append("closure")
            return loss

        losses = [float(opt.step(closure).item()) for _ in range(3)]
        h.remove()
        opt.step(closure)
        return log, losses, w.detach().numpy().copy() if hasattr(w, "detach") else w.numpy()

    o_log, o_losses, o_w = run(nn, nn.Parameter, lambda a: Tensor(a))
    t_log, t_losses, t_w = run(torch, lambda a: torch.nn.Parameter(torch.tensor(a)), lambda a: torch.tensor(a))
    assert o_log == t_log
    np.testing.assert_allclose(o_losses, t_losses, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(o_w), t_w, rtol=1e-10, atol=1e-12)
