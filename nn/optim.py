"""Optimizers, gradient clipping and learning-rate schedules.

Updates run on raw arrays under no_grad: an optimizer step is not part of any graph.

>>> from nn import Linear
>>> model = Linear(2, 1)
>>> opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
>>> loss = model(Tensor.randn(4, 2)).sum(); loss.backward(); opt.step(); opt.zero_grad()
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable

import numpy as np

import engine
from engine import Tensor, no_grad
from engine.backend import array_module, to_device, to_numpy


class Optimizer:
    """Base: parameter groups (dicts with "params" and hyper-parameters) and per-parameter state."""

    defaults: dict = {}

    def __init__(self, params, **defaults):
        self.defaults = defaults
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups: list[dict] = []
        seen: set[int] = set()
        for g in groups:
            group = {**defaults, **g, "params": list(g["params"])}
            for p in group["params"]:
                if not isinstance(p, Tensor) or not p.requires_grad:
                    raise TypeError("optimizer params must be Tensors with requires_grad=True")
                # step() would update it once per appearance, e.g. a bias put in both the decay
                # and the no-decay group, or a tied weight listed under each of its names.
                if id(p) in seen:
                    raise ValueError(f"a parameter of shape {p.shape} is given to the optimizer more than once")
                seen.add(id(p))
            self.param_groups.append(group)
        self.state: dict[int, dict] = {}  # id(param) -> state arrays

    def _params(self) -> list[Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self._params():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data[...] = 0

    @no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p, p.grad.data, self.state.setdefault(id(p), {}), group)

    def update(self, p: Tensor, grad, state: dict, group: dict) -> None:  # pragma: no cover - abstract
        """Update ``p`` in place through its in-place ops (``p.sub_``, ...), which bump its version."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Hyper-parameters and state as NumPy arrays, parameters referred to by index."""
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {
            index[pid]: {k: (to_numpy(v).copy() if hasattr(v, "shape") else v) for k, v in s.items()}
            for pid, s in self.state.items()
            if pid in index
        }
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]}
                  for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict`` returned, onto this optimizer's parameters."""
        params = self._params()
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
            len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)
        ):
            raise ValueError("optimizer state_dict does not match this optimizer's parameter groups")
        for mine, saved in zip(self.param_groups, groups):
            mine.update({k: v for k, v in saved.items() if k != "params"})
        self.state = {}
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            self.state[id(p)] = {
                k: (to_device(np.asarray(v, dtype=p.dtype), p.device).copy() if np.ndim(v) else copy.copy(v))
                for k, v in s.items()
            }


class SGD(Optimizer):
    """SGD with momentum, dampening, Nesterov and L2 weight decay, as torch.optim.SGD."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                         weight_decay=weight_decay)

    def update(self, p, grad, state, group):
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p.data
        mu = group["momentum"]
        if mu:
            if "momentum_buffer" not in state:
                # In the parameter's dtype, as Adam's moments are and as load_state_dict restores it.
                state["momentum_buffer"] = grad.astype(p.dtype, copy=True)
            else:
                buf = state["momentum_buffer"]
                buf *= mu
                buf += (1 - group["dampening"]) * grad
            buf = state["momentum_buffer"]
            grad = grad + mu * buf if group["nesterov"] else buf
        p.sub_(group["lr"] * grad)


class Adam(Optimizer):
    """Adam (L2 weight decay added to the gradient), as torch.optim.Adam."""

    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    @no_grad()
    def step(self) -> None:
        """One step for every parameter with a gradient, through ``engine.adam_`` (one group at a time)."""
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            states = [self.state.setdefault(id(p), {}) for p in params]
            for p, state in zip(params, states):
                if not state:
                    xp = array_module(p.data)
                    state.update(step=0, exp_avg=xp.zeros_like(p.data), exp_avg_sq=xp.zeros_like(p.data))
                state["step"] += 1
            engine.adam_(params, [p.grad.data for p in params], [s["exp_avg"] for s in states],
                         [s["exp_avg_sq"] for s in states], [s["step"] for s in states], lr=group["lr"],
                         betas=group["betas"], eps=group["eps"], weight_decay=group["weight_decay"],
                         decoupled=self.decoupled)


class AdamW(Adam):
    """Adam with decoupled weight decay (p ← p·(1 − lr·wd) before the Adam step), as torch.optim.AdamW."""

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def clip_grad_norm_(params: Iterable[Tensor], max_norm: float) -> float:
    """Scale gradients so their global L2 norm is at most ``max_norm``; return the norm before clipping.

    >>> p = Tensor([3.0, 4.0], requires_grad=True); p.grad = Tensor([3.0, 4.0])
    >>> clip_grad_norm_([p], 1.0)
    5.0
    """
    grads = [p.grad.data for p in params if p.grad is not None]
    if not grads:
        return 0.0
    total = math.sqrt(float(sum(_square_sum(g) for g in grads)))  # on CuPy: one sync, for the total
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g *= g.dtype.type(coef)
    return total


def _square_sum(g):
    """Σ g², accumulated in g's float type (float16 widened to float32) as torch's norm is.

    NumPy: a float from one BLAS dot, 3x faster than summing g.astype(float64)**2. CuPy: a 0-d
    device array from a queued reduction (CuPy's vdot would wait for its result).
    """
    g = g.reshape(-1)
    if g.dtype.itemsize < 4:
        g = g.astype("float32")
    xp = array_module(g)
    return float(np.vdot(g, g)) if xp is np else xp.square(g).sum()


class LRSchedule:
    """A learning rate as a function of the step; ``step()`` writes it into every group."""

    def __init__(self, optimizer: Optimizer | None = None):
        self.optimizer = optimizer
        self.last_step = -1

    def lr_at(self, step: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, step: int | None = None) -> float:
        self.last_step = self.last_step + 1 if step is None else step
        lr = self.lr_at(self.last_step)
        if self.optimizer is not None:
            for g in self.optimizer.param_groups:
                g["lr"] = lr
        return lr


class ConstantLR(LRSchedule):
    """The same learning rate at every step."""

    def __init__(self, optimizer: Optimizer | None, lr: float):
        super().__init__(optimizer)
        self.lr = lr

    def lr_at(self, step: int) -> float:
        return self.lr


class WarmupDecay(LRSchedule):
    """Linear warmup to ``lr`` over ``warmup_steps``, a decay to ``min_lr`` at ``decay_steps``, then flat.
    Subclasses give the decay's shape: ``decay_fraction(ratio)`` for ratio in [0, 1), from 1 down to 0."""

    def __init__(self, optimizer: Optimizer | None, lr: float, min_lr: float, warmup_steps: int, decay_steps: int):
        super().__init__(optimizer)
        self.lr, self.min_lr, self.warmup, self.decay = lr, min_lr, warmup_steps, decay_steps

    def decay_fraction(self, ratio: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def lr_at(self, step: int) -> float:
        if step < self.warmup:
            return self.lr * (step + 1) / (self.warmup + 1)
        if step >= self.decay:
            return self.min_lr
        ratio = (step - self.warmup) / max(1, self.decay - self.warmup)
        return self.min_lr + self.decay_fraction(ratio) * (self.lr - self.min_lr)


class CosineWithWarmup(WarmupDecay):
    """nanoGPT's schedule: linear warmup to ``lr``, cosine decay to ``min_lr`` at ``decay_steps``, then flat.

    >>> s = CosineWithWarmup(None, lr=1.0, min_lr=0.1, warmup_steps=10, decay_steps=110)
    >>> round(s.lr_at(9), 3), round(s.lr_at(60), 3), s.lr_at(500)
    (0.909, 0.55, 0.1)
    """

    def decay_fraction(self, ratio: float) -> float:
        return 0.5 * (1 + math.cos(math.pi * ratio))


class LinearWarmupDecay(WarmupDecay):
    """Linear warmup to ``lr``, then linear decay to ``min_lr`` at ``decay_steps``, then flat.

    >>> round(LinearWarmupDecay(None, lr=1.0, min_lr=0.0, warmup_steps=0, decay_steps=4).lr_at(1), 3)
    0.75
    """

    def decay_fraction(self, ratio: float) -> float:
        return 1 - ratio
