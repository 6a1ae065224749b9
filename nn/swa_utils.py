"""torch.optim.swa_utils: stochastic weight averaging and EMA of a model's parameters.

``AveragedModel`` keeps a copy of a model whose parameters are the running average (SWA, the
default) or an exponential moving average (``get_ema_multi_avg_fn``) of the model's over
``update_parameters`` calls; ``SWALR`` anneals the lr to a constant SWA lr; ``update_bn`` recomputes
BatchNorm statistics for the averaged weights.

>>> import nn
>>> model = nn.Linear(2, 1)
>>> swa = AveragedModel(model)
>>> swa.update_parameters(model); int(swa.n_averaged.item())
1
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterable

import numpy as np

from engine import Tensor, no_grad
from nn.lr_scheduler import LRScheduler, _per_group
from nn.module import Module

__all__ = ["AveragedModel", "SWALR", "get_ema_avg_fn", "get_ema_multi_avg_fn", "get_swa_avg_fn",
           "get_swa_multi_avg_fn", "update_bn"]


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable:
    """In place, for lists of tensors: ema ← lerp(ema, current, 1 - decay), as torch."""
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")

    @no_grad()
    def ema_update(ema_param_list, current_param_list, _):
        for ema, current in zip(ema_param_list, current_param_list):
            ema.lerp_(current, 1 - decay)

    return ema_update


def get_swa_multi_avg_fn() -> Callable:
    """In place, for lists of tensors: avg ← avg + (current - avg) / (n + 1), as torch."""

    @no_grad()
    def swa_update(averaged_param_list, current_param_list, num_averaged):
        n = float(num_averaged.item() if isinstance(num_averaged, Tensor) else num_averaged)
        for averaged, current in zip(averaged_param_list, current_param_list):
            averaged.copy_(averaged + (current - averaged) / (n + 1))

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> Callable:
    """decay · ema + (1 - decay) · current, as torch."""
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")

    @no_grad()
    def ema_update(ema_param, current_param, num_averaged):
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn() -> Callable:
    """avg + (current - avg) / (n + 1), as torch."""

    @no_grad()
    def swa_update(averaged_param, current_param, num_averaged):
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


class AveragedModel(Module):
    """A deep copy of ``model`` whose parameters (and, with ``use_buffers``, buffers) average the
    model's over ``update_parameters`` calls; the first call copies them. ``n_averaged`` is an int64
    buffer. Without ``use_buffers`` the buffers follow the model's."""

    def __init__(self, model: Module, device=None, avg_fn: Callable | None = None,
                 multi_avg_fn: Callable | None = None, use_buffers: bool = False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", Tensor(np.zeros((), np.int64)))
        self.avg_fn, self.multi_avg_fn, self.use_buffers = avg_fn, multi_avg_fn, use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _tensors(self, model: Module) -> list[Tensor]:
        if self.use_buffers:
            return [t for t in itertools.chain(model.parameters(), model.buffers())]
        return list(model.parameters())

    @no_grad()
    def update_parameters(self, model: Module) -> None:
        mine = self._tensors(self.module)
        theirs = [t.detach() for t in self._tensors(model)]
        if int(self.n_averaged.item()) == 0:
            for a, b in zip(mine, theirs):
                a.copy_(b)
        else:
            if self.avg_fn is not None:
                for a, b in zip(mine, theirs):
                    a.copy_(self.avg_fn(a.detach(), b, self.n_averaged))
            else:
                # torch groups by device and dtype for its foreach kernels; the arithmetic is the same
                (self.multi_avg_fn or get_swa_multi_avg_fn())([a.detach() for a in mine], theirs, self.n_averaged)
        if not self.use_buffers:  # the buffers follow the model's
            for a, b in zip(self.module.buffers(), model.buffers()):
                a.copy_(b.detach())
        self.n_averaged.add_(1)


@no_grad()
def update_bn(loader: Iterable, model: Module, device=None) -> None:
    """One pass over ``loader`` in train mode with every BatchNorm's momentum None (a cumulative
    average), after resetting its running statistics, as torch: the statistics of averaged weights."""
    from nn.normalization import _BatchNorm

    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    for batch in loader:
        if isinstance(batch, (list, tuple)):
            batch = batch[0]
        if device is not None:
            batch = batch.to(device)
        model(batch)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's lr to ``swa_lr`` over ``anneal_epochs`` (cos or linear), then hold it, as
    torch.optim.swa_utils.SWALR."""

    def __init__(self, optimizer, swa_lr, anneal_epochs: int = 10, anneal_strategy: str = "cos",
                 last_epoch: int = -1) -> None:
        for lr, group in zip(_per_group("swa_lr", optimizer, swa_lr), optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return t

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        return swa_lr if alpha == 1 else (lr - alpha * swa_lr) / (1 - alpha)

    def _set_anneal_func(self, anneal_strategy: str) -> None:
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal

    def get_lr(self) -> list[float]:
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        prev_lrs = [self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha) for g in self.optimizer.param_groups]
        alpha = self.anneal_func(max(0, min(1, step / max(1, self.anneal_epochs))))
        return [g["swa_lr"] * alpha + lr * (1 - alpha) for g, lr in zip(self.optimizer.param_groups, prev_lrs)]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)
        self._set_anneal_func(self._anneal_strategy)
