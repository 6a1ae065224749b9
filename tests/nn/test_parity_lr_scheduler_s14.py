"""nn.optim.lr_scheduler against torch's where the earlier tests did not look: the warning of a
built-in ``get_lr()`` called outside ``step()`` (and none from step, step(epoch) or a user's
subclass), the ``_LRScheduler`` base older code subclasses, and two argument errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nn
from nn.optim import lr_scheduler as ours

torch = pytest.importorskip("torch")
theirs = torch.optim.lr_scheduler
pytestmark = pytest.mark.parity

BUILD = {
    "StepLR": lambda m, o: m.StepLR(o, 2),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, [2]),
    "ConstantLR": lambda m, o: m.ConstantLR(o),
    "LinearLR": lambda m, o: m.LinearLR(o),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, 0.5),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, 5),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, 3),
    "CyclicLR": lambda m, o: m.CyclicLR(o, 0.01, 0.1),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, 1.0, total_steps=10),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda e: 0.9),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lambda e: 0.9),
}


def _optimizer(lib):
    if lib is torch:
        return torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1, momentum=0.9)
    return nn.optim.SGD([nn.Parameter(np.ones(1))], lr=0.1, momentum=0.9)


def _messages(caught) -> list[str]:
    return [str(w.message) for w in caught if "epoch parameter" not in str(w.message)]


def _run(lib, sched_module, name, with_epoch):
    opt = _optimizer(lib)
    with warnings.catch_warnings(record=True) as in_steps:
        warnings.simplefilter("always")
        sched = BUILD[name](sched_module, opt)
        for epoch in range(1, 4):
            opt.step()
            sched.step(epoch) if with_epoch else sched.step()
    with warnings.catch_warnings(record=True) as direct:
        warnings.simplefilter("always")
        lrs = sched.get_lr()
    return _messages(in_steps), _messages(direct), [round(float(lr), 12) for lr in lrs]


# step(epoch) too, for the schedulers whose epoch form is in use (the cyclic ones have none)
CASES = [(n, False) for n in sorted(BUILD)] + [(n, True) for n in sorted(BUILD)
                                               if n not in ("CyclicLR", "OneCycleLR", "MultiplicativeLR")]


@pytest.mark.parametrize("name,with_epoch", CASES)
def test_get_lr_outside_step_warns_as_torch(name, with_epoch):
    mine = _run(nn, ours, name, with_epoch)
    assert mine == _run(torch, theirs, name, with_epoch)
    assert mine[0] == [] and len(mine[1]) == 1 and "get_last_lr()" in mine[1][0]


@pytest.mark.parametrize("base", ["LRScheduler", "_LRScheduler"])
def test_user_subclass_of_the_base_runs_as_torchs_and_does_not_warn(base):
    def make(lib, module):
        class Warmup(getattr(module, base)):
            def __init__(self, optimizer, warm, last_epoch=-1):
                self.warm = warm
                super().__init__(optimizer, last_epoch)

            def get_lr(self):
                return [b * min(1.0, (self.last_epoch + 1) / self.warm) for b in self.base_lrs]

        opt = _optimizer(lib)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sched = Warmup(opt, 4)
            lrs = [sched.get_last_lr()]
            for _ in range(6):
                opt.step()
                sched.step()
                lrs.append(sched.get_last_lr())
            lrs.append(sched.get_lr())
        return lrs, sorted(sched.state_dict()), [str(w.message) for w in caught]

    assert make(nn, ours) == make(torch, theirs)


@pytest.mark.parametrize("build", [
    lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2, eta_min="a"),
    lambda m, o: m.SequentialLR(o, [m.StepLR(o, 2)], milestones=[1]),
    lambda m, o: m.SequentialLR(o, [m.StepLR(o, 2), m.StepLR(o, 3)], milestones=[1, 2]),
])
def test_argument_errors_equal_torch(build):
    with pytest.raises(ValueError) as theirs_error:
        build(theirs, _optimizer(torch))
    with pytest.raises(ValueError) as ours_error:
        build(ours, _optimizer(nn))
    assert str(ours_error.value) == str(theirs_error.value)


def test_reduce_on_plateau_step_with_epoch_warns_as_torch():
    def run(lib, module):
        opt = _optimizer(lib)
        sched = module.ReduceLROnPlateau(opt, patience=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            opt.step()
            sched.step(1.0, 5)
            opt.step()
            sched.step(2.0)
        return sched.last_epoch, sched.get_last_lr(), [str(w.message) for w in caught]

    assert run(nn, ours) == run(torch, theirs)
