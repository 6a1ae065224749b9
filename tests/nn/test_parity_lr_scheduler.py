"""Every scheduler of nn.optim.lr_scheduler against torch.optim.lr_scheduler: the lrs (and the
cycled momentum) of two param groups over many steps, with a hand-set lr in the middle for the
chainable forms, ``step(epoch)``'s closed forms, and a state_dict round trip."""

from __future__ import annotations

import math

import pytest

import nn
from nn.optim import lr_scheduler as ours

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


def _pair(kind: str = "sgd"):
    """Our optimizer and torch's, each with two groups (lr 0.1 and 0.02)."""
    p1, p2 = nn.Parameter([1.0]), nn.Parameter([2.0])
    t1, t2 = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
    if kind == "sgd":
        mine = nn.optim.SGD([{"params": [p1]}, {"params": [p2], "lr": 0.02}], lr=0.1, momentum=0.9)
        theirs = torch.optim.SGD([{"params": [t1]}, {"params": [t2], "lr": 0.02}], lr=0.1, momentum=0.9)
    else:
        mine = nn.optim.Adam([{"params": [p1]}, {"params": [p2], "lr": 0.02}], lr=0.1)
        theirs = torch.optim.Adam([{"params": [t1]}, {"params": [t2], "lr": 0.02}], lr=0.1)
    return mine, theirs


def _lambda(epoch):
    return 0.95**epoch


def _mult(epoch):
    return 0.9


FACTORIES = {
    "LambdaLR": lambda m, o: m.LambdaLR(o, lr_lambda=_lambda),
    "LambdaLR_list": lambda m, o: m.LambdaLR(o, lr_lambda=[_lambda, lambda e: 1.0 / (e + 1)]),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lr_lambda=_mult),
    "StepLR": lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=4),
    "LinearLR": lambda m, o: m.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=6),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.8),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=7, power=2.0),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=5, eta_min=0.001),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01),
    "CyclicLR": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.2], step_size_up=3, step_size_down=2,
                                        mode="triangular2"),
    "CyclicLR_exp": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2, mode="exp_range",
                                            gamma=0.9),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.1], total_steps=25),
    "OneCycleLR_three": lambda m, o: m.OneCycleLR(o, max_lr=0.3, total_steps=25, three_phase=True,
                                                  anneal_strategy="linear"),
    "SequentialLR": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=3), m.ExponentialLR(o, gamma=0.9)], milestones=[4]),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler([m.ConstantLR(o, factor=0.5, total_iters=3),
                                                         m.ExponentialLR(o, gamma=0.9)]),
}


def _state(opt):
    out = []
    for g in opt.param_groups:
        out.append(g["lr"])
        out.append(g["momentum"] if "momentum" in g else g["betas"][0])
    return out


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_lrs_equal_torch(name, kind):
    mine, theirs = _pair(kind)
    s_mine, s_theirs = FACTORIES[name](ours, mine), FACTORIES[name](torch.optim.lr_scheduler, theirs)
    for step in range(24):
        mine.step()
        theirs.step()
        if step == 11 and not name.startswith(("OneCycle", "Cyclic", "CosineAnnealingWarm", "LambdaLR")):
            for g in (*mine.param_groups, *theirs.param_groups):  # a hand-set lr: chainable forms carry it on
                g["lr"] = g["lr"] * 0.5
        s_mine.step()
        s_theirs.step()
        assert _state(mine) == pytest.approx(_state(theirs), rel=1e-12, abs=1e-15), (name, step)
        assert s_mine.get_last_lr() == pytest.approx(s_theirs.get_last_lr(), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR",
                                  "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts"])
def test_step_with_epoch_uses_the_closed_form(name):
    mine, theirs = _pair()
    s_mine, s_theirs = FACTORIES[name](ours, mine), FACTORIES[name](torch.optim.lr_scheduler, theirs)
    warm = name == "CosineAnnealingWarmRestarts"  # its own step(epoch), fractional epochs allowed, no warning
    for epoch in (3, 7, 4, 12, 2.5 if warm else 1):
        if warm:
            s_mine.step(epoch)
            s_theirs.step(epoch)
        else:
            with pytest.warns(UserWarning):
                s_mine.step(epoch)
            with pytest.warns(UserWarning):
                s_theirs.step(epoch)
        assert s_mine.get_last_lr() == pytest.approx(s_theirs.get_last_lr(), rel=1e-12)


@pytest.mark.parametrize("mode,threshold_mode", [("min", "rel"), ("max", "abs")])
def test_reduce_on_plateau_equals_torch(mode, threshold_mode):
    mine, theirs = _pair()
    kw = {"mode": mode, "factor": 0.5, "patience": 2, "threshold": 0.01, "threshold_mode": threshold_mode,
          "cooldown": 1, "min_lr": [0.01, 0.001]}
    s_mine = ours.ReduceLROnPlateau(mine, **kw)
    s_theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, **kw)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.96, 0.97, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.2, 0.3, 0.3, 0.3, 0.3]
    for m in metrics:
        s_mine.step(m)
        s_theirs.step(m)
        assert s_mine.get_last_lr() == pytest.approx(s_theirs.get_last_lr(), rel=1e-12)


@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "OneCycleLR", "SequentialLR", "LambdaLR",
                                  "CyclicLR"])
def test_state_dict_resumes_the_same_schedule(name):
    mine, _ = _pair()
    sched = FACTORIES[name](ours, mine)
    for _ in range(7):
        mine.step()
        sched.step()
    saved, opt_saved = sched.state_dict(), mine.state_dict()
    expected = []
    for _ in range(6):
        mine.step()
        sched.step()
        expected.append(list(sched.get_last_lr()))
    resumed_opt, _ = _pair()
    resumed = FACTORIES[name](ours, resumed_opt)  # torch's order: scheduler first, then both states
    resumed_opt.load_state_dict(opt_saved)
    resumed.load_state_dict(saved)
    got = []
    for _ in range(6):
        resumed_opt.step()
        resumed.step()
        got.append(list(resumed.get_last_lr()))
    assert got == expected


def test_bad_arguments_raise_like_torch():
    opt, _ = _pair()
    with pytest.raises(ValueError, match="factor"):
        ours.ConstantLR(opt, factor=1.5)
    with pytest.raises(ValueError, match="T_0"):
        ours.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="total_steps"):
        ours.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(TypeError, match="not an Optimizer"):
        ours.StepLR(object(), step_size=1)
    with pytest.raises(KeyError, match="initial_lr"):
        ours.StepLR(_pair()[0], step_size=1, last_epoch=3)
    with pytest.raises(ValueError, match="must have the same length as optimizer.param_groups"):
        ours.OneCycleLR(opt, max_lr=[0.1, 0.2, 0.3], total_steps=5)
    sched = ours.OneCycleLR(_pair()[0], max_lr=0.1, total_steps=2)
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="Tried to step 3 times"):
        sched.step()


def test_cosine_reaches_eta_min_at_t_max():
    opt, _ = _pair()
    sched = ours.CosineAnnealingLR(opt, T_max=10, eta_min=0.0)
    for _ in range(10):
        opt.step()
        sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(0.0, abs=1e-15)
    assert math.isclose(opt.param_groups[1]["initial_lr"], 0.02)
