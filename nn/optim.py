"""Optimizers, gradient clipping and learning-rate schedules.

Updates run on raw arrays under no_grad: an optimizer step is not part of any graph.

>>> from nn import Linear
>>> model = Linear(2, 1)
>>> opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
>>> loss = model(Tensor.randn(4, 2)).sum(); loss.backward(); opt.step(); opt.zero_grad()
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from collections.abc import Iterable

import numpy as np

import engine
from engine import Tensor, enable_grad, no_grad
from engine import sparse as _sparse
from engine.backend import array_module, to_device, to_numpy
from engine.sparse import SparseTensor, fma


def _typename(obj) -> str:
    """torch.typename's spelling: ``module.QualName``, builtins bare."""
    cls = type(obj)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _repeated(params: list):
    seen: set[int] = set()
    for p in params:
        if id(p) in seen:
            return p
        seen.add(id(p))
    return None


class _Required:
    """torch.optim.optimizer.required: a default that every parameter group must set itself."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


class _ParamState(dict):
    """Per-parameter state, as torch's ``defaultdict(dict)`` keyed by the parameters themselves:
    ``opt.state[p]`` (a missing entry reads as a new empty dict), and iterating gives the parameters.
    A parameter's ``id`` is accepted as a key too (the older spelling, ``opt.state[id(p)]``)."""

    def _key(self, key):
        if isinstance(key, int) and not super().__contains__(key):
            return next((p for p in self if id(p) == key), key)
        return key

    def __missing__(self, key):
        value = self[key] = {}
        return value

    def __getitem__(self, key):
        return super().__getitem__(self._key(key))

    def __setitem__(self, key, value):
        super().__setitem__(self._key(key), value)

    def __delitem__(self, key):
        super().__delitem__(self._key(key))

    def __contains__(self, key):
        return super().__contains__(self._key(key))

    def get(self, key, default=None):
        return super().get(self._key(key), default)

    def setdefault(self, key, default=None):
        return super().setdefault(self._key(key), default)

    def pop(self, key, *default):
        return super().pop(self._key(key), *default)


def _state_value(key: str, value, p: Tensor):
    """A loaded state entry on ``p``: arrays (and tensors, e.g. torch's converted to NumPy) in p's
    dtype and on its device; torch's 0-d ``step`` tensor as a Python number, so that bias
    corrections stay in float64 as torch's ``step.item()`` does."""
    if isinstance(value, Tensor):
        value = value._data
    if np.ndim(value) == 0 and hasattr(value, "dtype"):  # a 0-d array or NumPy scalar
        number = to_numpy(value).item()
        return int(number) if key == "step" and float(number).is_integer() else number
    if hasattr(value, "shape"):
        return to_device(np.asarray(to_numpy(value), dtype=p.dtype), p.device).copy()
    return copy.deepcopy(value)


class Optimizer:
    """Base: parameter groups (dicts with "params" and hyper-parameters) and per-parameter state.

    ``Optimizer(params, defaults)`` as torch (a subclass passes its hyper-parameters' defaults as a
    dict); the keyword form ``Optimizer(params, lr=0.1)`` is accepted too.
    """

    defaults: dict = {}
    _supports_complex = True  # complex parameters step as real pairs (torch's view_as_real); False: refuse
    _supports_sparse = False  # sparse gradients (sparse=True embeddings): SGD, Adagrad, SparseAdam, LBFGS step them

    def __init__(self, params, defaults: dict | None = None, **kw_defaults):
        self.defaults = {**(defaults or {}), **kw_defaults}
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {_typename(params)}")
        self.state: dict = _ParamState()
        self.param_groups: list[dict] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(dict(g))

    def _params(self) -> list[Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines) + "\n)"

    def __getstate__(self):
        return self.__dict__

    def add_param_group(self, param_group: dict) -> None:
        """Add a group (e.g. layers unfrozen for fine-tuning); unset hyper-parameters take the
        optimizer's defaults, as torch.

        >>> from nn import Linear
        >>> a, b = Linear(2, 2), Linear(2, 1)
        >>> opt = SGD(a.parameters(), lr=0.1); opt.add_param_group({"params": b.parameters(), "lr": 0.01})
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.01]
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        group_extra = {}
        if any(isinstance(p, tuple) for p in params):  # named_parameters(): (name, tensor) pairs, as torch
            if not all(isinstance(p, tuple) for p in params):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            group_extra["param_names"] = [name for name, _ in params]
            params = [p for _, p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {_typename(p)}")
            # Frozen parameters (requires_grad=False) are accepted, as torch: they have no grad, so
            # step() skips them until they are unfrozen.
            if not self.defaults.get("differentiable") and not (p.is_leaf or p._retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        group = {**param_group, "params": params, **group_extra}
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        # step() updates a parameter once per appearance, e.g. a bias put in both the decay and the
        # no-decay group, or a tied weight listed under each of its names. torch raises for a parameter
        # in two groups (below) and warns for one listed twice in a group, as here.
        if len({id(p) for p in params}) != len(params):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information "
                          f"(a parameter of shape {_repeated(params).shape} is listed twice)", stacklevel=3)
        for other in self.param_groups:
            if ("param_names" in group) != ("param_names" in other):
                raise ValueError("all optimizer param groups should be with/without names. cannot add param group "
                                 f"{'with' if 'param_names' in group else 'without'} names to the optimizer")
        seen = {id(p) for p in self._params()}
        for p in params:
            if id(p) in seen:
                raise ValueError("some parameters appear in more than one parameter group "
                                 f"(a parameter of shape {p.shape} is given to the optimizer more than once)")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self._params():
            if set_to_none:
                p.grad = None
            elif type(p.grad) is SparseTensor:  # torch's zero_ on a sparse gradient: no entries left
                p.grad.zero_()
            elif p.grad is not None:
                p.grad._data[...] = 0

    @no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is not None:  # update gets the array, or the SparseTensor (SGD, Adagrad)
                    self.update(p, g if type(g) is SparseTensor else g._data, self.state[p], group)

    def update(self, p: Tensor, grad, state: dict, group: dict) -> None:  # pragma: no cover - abstract
        """Update ``p`` in place through its in-place ops (``p.sub_``, ...), which bump its version."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Hyper-parameters and state as NumPy arrays, parameters referred to by index (with torch's
        state_dict pre/post hooks run around it)."""
        for hook in list(self.__dict__.get("_state_dict_pre_hooks", {}).values()):
            hook(self)
        state_dict = self._state_dict()
        for hook in list(self.__dict__.get("_state_dict_post_hooks", {}).values()):
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    def _state_dict(self) -> dict:
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {
            index[id(p)]: {k: (v.clone() if type(v) is SparseTensor else to_numpy(v).copy() if hasattr(v, "shape")
                               else v) for k, v in s.items()}
            for p, s in self.state.items()
            if id(p) in index
        }
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]}
                  for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict`` returned (ours, or torch's with its tensors as NumPy arrays)
        onto this optimizer's parameters: saved parameter ids map, group by group and in order, onto
        the parameters, as torch's load_state_dict (with its load_state_dict pre/post hooks)."""
        for hook in list(self.__dict__.get("_load_state_dict_pre_hooks", {}).values()):
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        self._load_state_dict(state_dict)
        for hook in list(self.__dict__.get("_load_state_dict_post_hooks", {}).values()):
            hook(self)

    def _load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = {saved: p for g, mine in zip(groups, self.param_groups)
                  for saved, p in zip(g["params"], mine["params"])}
        for mine, saved in zip(self.param_groups, groups):
            names = mine.get("param_names")
            mine.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})
            if names is not None and "param_names" not in saved:  # as torch: a group keeps its names
                mine["param_names"] = names
        self.state = _ParamState()
        for i, s in state_dict["state"].items():
            p = id_map.get(i, id_map.get(int(i)) if isinstance(i, (int, np.integer, str)) else None)
            if p is None:
                continue  # torch keeps state of unknown ids as is; nothing here would read it
            self.state[p] = {k: _state_value(k, v, p) for k, v in s.items()}


class SGD(Optimizer):
    """SGD with momentum, dampening, Nesterov and L2 weight decay, as torch.optim.SGD."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None):
        # torch's positional order (weight_decay before nesterov); foreach/differentiable/fused are
        # accepted as torch's and are no-ops here (one NumPy update per parameter, never in a graph).
        _check_hyper(lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                         nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=differentiable,
                         fused=fused)

    _supports_sparse = True

    def update(self, p, grad, state, group):
        if type(grad) is SparseTensor:
            return _sparse_sgd(p, grad, state, group)
        grad = -grad if group.get("maximize") else grad
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p._data
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


def _sparse_sgd(p: Tensor, grad: SparseTensor, state: dict, group: dict) -> None:
    """SGD on a sparse gradient, as torch's: the momentum buffer stays sparse (its entries side by side,
    scaled each step), and only the rows it holds move; weight decay raises torch's error (a sparse
    gradient plus the dense parameter)."""
    grad = -grad if group.get("maximize") else grad
    if group["weight_decay"]:
        raise RuntimeError("add(sparse, dense) is not supported. Use add(dense, sparse) instead.")
    mu = group["momentum"]
    if mu:
        buf = state.get("momentum_buffer")
        buf = grad.clone() if buf is None else buf * mu + grad * (1 - group["dampening"])
        state["momentum_buffer"] = buf
        grad = grad + buf * mu if group["nesterov"] else buf
    lr = float(group["lr"])
    grad._add_into(p._data, -lr)
    p._vc[0] += 1  # an in-place update: its version moves, as p.sub_'s


class Adam(Optimizer):
    """Adam (L2 weight decay added to the gradient), as torch.optim.Adam."""

    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False):
        # foreach/capturable/differentiable/fused: torch's keywords, accepted and no-ops here.
        _check_tensor_hyper("lr", lr, foreach, capturable)
        _check_hyper(lr=lr, eps=eps, betas=betas, weight_decay=weight_decay)
        if not (all(isinstance(b, float) for b in betas) or all(isinstance(b, Tensor) for b in betas)):
            raise ValueError("betas must be either both floats or both Tensors")
        for i, b in enumerate(betas):
            _check_tensor_hyper(f"betas[{i}]", b, foreach, capturable)
        betas = tuple(float(b) if isinstance(b, Tensor) else b for b in betas)
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, foreach=foreach, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=decoupled_weight_decay or self.decoupled)

    @no_grad()
    def step(self) -> None:
        """One step for every parameter with a gradient, through ``engine.adam_`` (one group at a time)."""
        for group in self.param_groups:
            if _adam_needs_composed(group, self.decoupled):
                _adam_composed_step(self, group)
                continue
            params = [p for p in group["params"] if p.grad is not None]
            states = [self.state[p] for p in params]
            _flat_adam_moments(params, states, group)  # flat parameters: flat moments, one joined update
            for p, state in zip(params, states):
                if not state:
                    xp = array_module(p._data)
                    state.update(step=0, exp_avg=xp.zeros_like(p._data), exp_avg_sq=xp.zeros_like(p._data))
                state["step"] += 1
            engine.adam_(params, [p.grad._data for p in params], [s["exp_avg"] for s in states],
                         [s["exp_avg_sq"] for s in states], [s["step"] for s in states], lr=group["lr"],
                         betas=group["betas"], eps=group["eps"], weight_decay=group["weight_decay"],
                         decoupled=self.decoupled)


class AdamW(Adam):
    """Adam with decoupled weight decay (p ← p·(1 − lr·wd) before the Adam step), as torch.optim.AdamW."""

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         foreach=foreach, maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused)


def clip_grad_norm_(params: Iterable[Tensor], max_norm: float) -> float:
    """Scale gradients so their global L2 norm is at most ``max_norm``; return the norm before clipping.

    Not torch's name: use ``nn.utils.clip_grad_norm_`` (torch.nn.utils' signature, a Tensor norm,
    norm_type, error_if_nonfinite). This L2-only form, returning a float, stays for the GPT
    trainer's hot loop (one BLAS dot per gradient, one device sync on CuPy).

    >>> p = Tensor([3.0, 4.0], requires_grad=True); p.grad = Tensor([3.0, 4.0])
    >>> clip_grad_norm_([p], 1.0)
    5.0
    """
    grads = [p.grad._data for p in params if p.grad is not None]
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
    if g.dtype.kind == "c":  # |g|² summed over the real and imaginary parts
        g = _as_real(g).reshape(-1)
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



# ---- more of torch.optim: each update follows torch's single-tensor rule, operation for operation ----


def _lerp_(avg, target, weight: float) -> None:
    """avg ← avg + weight·(target − avg) in place, rounded as torch's lerp_ (its two forms by weight)."""
    if weight < 0.5:
        avg += weight * (target - avg)
    else:
        avg[...] = target - (target - avg) * (1 - weight)


def _signed_grad(grad, group: dict):
    return -grad if group.get("maximize") else grad


def _decay_square_(avg, grad, keep: float) -> None:
    """avg ← keep·avg + (1 − keep)·grad², in place (every RMS-style running average)."""
    avg *= keep
    avg += (1 - keep) * (grad * grad)


def _adam_moments(p, grad, state: dict, group: dict):
    """NAdam/RAdam's shared start: step count, L2 or decoupled weight decay, both moments.
    Returns the (decayed) gradient and the step number."""
    t, lr, (b1, b2), wd = state["step"], group["lr"], group["betas"], group["weight_decay"]
    if wd:
        if group["decoupled_weight_decay"]:
            p.mul_(1 - lr * wd)
        else:
            grad = grad + wd * p._data
    _lerp_(state["exp_avg"], grad, 1 - b1)
    _decay_square_(state["exp_avg_sq"], grad, b2)
    return grad, t


class RMSprop(Optimizer):
    """RMSprop (optionally centered, with momentum), as torch.optim.RMSprop."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False):
        # capturable/foreach/differentiable: torch's keywords (and order), no-ops here.
        _check_hyper(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        super().__init__(params, lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                         weight_decay=weight_decay, capturable=capturable, foreach=foreach, maximize=maximize,
                         differentiable=differentiable)

    def update(self, p, grad, state, group):
        xp = array_module(p._data)
        grad = _signed_grad(grad, group)
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p._data)
            if group["momentum"] > 0:
                state["momentum_buffer"] = xp.zeros_like(p._data)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p._data)
        state["step"] += 1
        alpha, eps, lr = group["alpha"], group["eps"], group["lr"]
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p._data
        square_avg = state["square_avg"]
        _decay_square_(square_avg, grad, alpha)
        if group["centered"]:
            _lerp_(state["grad_avg"], grad, 1 - alpha)
            avg = xp.sqrt(square_avg - state["grad_avg"] * state["grad_avg"])
        else:
            avg = xp.sqrt(square_avg)
        avg += eps
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += grad / avg
            p.sub_(lr * buf)
        else:
            p.sub_(lr * (grad / avg))


class Adagrad(Optimizer):
    """Adagrad with lr decay, as torch.optim.Adagrad."""

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None):
        _check_hyper(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                     initial_accumulator_value=initial_accumulator_value, eps=eps)
        super().__init__(params, lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize,
                         differentiable=differentiable, fused=fused)
        # As torch: the state is made here for every parameter (so state_dict() has it before any
        # step), from the constructor's initial_accumulator_value, even for a group that sets its own.
        for p in self._params():
            self.state[p] = {"step": 0, "sum": _initial_sum(p._data, initial_accumulator_value)}

    _supports_sparse = True

    def update(self, p, grad, state, group):
        xp = array_module(p._data)
        grad = _signed_grad(grad, group)
        if not state:  # a parameter added later by add_param_group: torch's default, not the group's
            state["step"] = 0
            state["sum"] = _initial_sum(p._data, self.defaults["initial_accumulator_value"])
        state["step"] += 1
        if group["weight_decay"]:
            if type(grad) is SparseTensor:
                raise RuntimeError("weight_decay option is not compatible with sparse gradients")
            grad = grad + group["weight_decay"] * p._data
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        if type(grad) is SparseTensor:  # torch's sparse rule: only the rows in the gradient move
            grad = grad.coalesce()
            rows, vals = tuple(grad._idx), grad._vals
            state["sum"][rows] += vals * vals
            std = xp.sqrt(state["sum"][rows])
            std += group["eps"]
            p._data[rows] = fma(-clr, vals / std, p._data[rows])  # torch's param.add_(sparse, alpha=-clr)
            p._vc[0] += 1
            return
        state["sum"] += grad * grad
        std = xp.sqrt(state["sum"])
        std += group["eps"]
        p.sub_(clr * (grad / std))


class SparseAdam(Optimizer):
    """Adam on sparse gradients (``nn.Embedding(..., sparse=True)``), as torch.optim.SparseAdam: only the
    rows in the gradient update their moments and move; a dense gradient raises.

    >>> import nn
    >>> emb = nn.Embedding(10, 3, sparse=True); opt = SparseAdam(emb.parameters(), lr=0.1)
    >>> emb(np.array([1, 4])).sum().backward(); opt.step(); opt.state[emb.weight]["step"]
    1
    """

    _supports_complex = False
    _supports_sparse = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 maximize: bool = False):
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 < lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _check_hyper(betas=betas)
        params = list(params) if not isinstance(params, Tensor) else params
        groups = params if params and isinstance(params[0], dict) else [{"params": params}]
        for kind, test, words in (("Sparse", lambda p: type(p) is SparseTensor, "SparseAdam requires dense parameter "
                                   "tensors"), ("Complex", lambda p: getattr(p, "dtype", None) is not None
                                                and p.dtype.kind == "c", "SparseAdam does not support complex "
                                                "parameters")):
            found = [[i, j] for i, g in enumerate(groups) if isinstance(g, dict)
                     for j, p in enumerate([g["params"]] if isinstance(g["params"], (Tensor, SparseTensor))
                                           else g["params"]) if test(p)]
            if found:
                raise ValueError(f"{kind} params at indices {found}: {words}")
        super().__init__(params, lr=lr, betas=betas, eps=eps, maximize=maximize)

    @no_grad()
    def step(self) -> None:
        """One masked Adam step per parameter with a (sparse) gradient, operation for operation as torch's."""
        for group in self.param_groups:
            b1, b2 = group["betas"]
            lr = float(group["lr"])
            stepping = []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if type(p.grad) is not SparseTensor:
                    raise RuntimeError("SparseAdam does not support dense gradients, please consider Adam instead")
                state = self.state[p]
                if not state:
                    xp = array_module(p._data)
                    state.update(step=0, exp_avg=xp.zeros_like(p._data), exp_avg_sq=xp.zeros_like(p._data))
                state["step"] += 1
                stepping.append((p, state))
            for p, state in stepping:
                grad = -p.grad if group["maximize"] else p.grad
                grad = grad.coalesce()  # the update is not linear: each row once
                if grad._vals.size == 0:
                    continue
                rows, g = tuple(grad._idx), grad._vals
                m, v = state["exp_avg"], state["exp_avg_sq"]
                old_m, old_v = m[rows], v[rows]
                m_step = (g - old_m) * (1 - b1)  # old <- old + (1 - b)(new - old)
                m[rows] += m_step
                v_step = (g * g - old_v) * (1 - b2)
                v[rows] += v_step
                numer = m_step + old_m
                denom = array_module(g).sqrt(v_step + old_v) + group["eps"]
                t = state["step"]
                step_size = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                p._data[rows] += -step_size * (numer / denom)
                p._vc[0] += 1


def _initial_sum(a, value: float):
    """Adagrad's starting sum: ``value`` everywhere; for a complex parameter value + value·i (torch's
    complex(v, v): each part of the real view starts at v)."""
    return array_module(a).full_like(a, complex(value, value) if a.dtype.kind == "c" else value)


class Adadelta(Optimizer):
    """Adadelta, as torch.optim.Adadelta."""

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0,
                 foreach: bool | None = None, *, capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False):
        _check_hyper(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
        super().__init__(params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                         capturable=capturable, foreach=foreach, differentiable=differentiable)

    def update(self, p, grad, state, group):
        xp = array_module(p._data)
        grad = _signed_grad(grad, group)
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p._data)
            state["acc_delta"] = xp.zeros_like(p._data)
        state["step"] += 1
        rho, eps = group["rho"], group["eps"]
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p._data
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        _decay_square_(square_avg, grad, rho)
        std = xp.sqrt(square_avg + eps)
        delta = xp.sqrt(acc_delta + eps)
        delta /= std
        delta *= grad
        _decay_square_(acc_delta, delta, rho)
        p.sub_(group["lr"] * delta)


class Adamax(Optimizer):
    """Adamax (Adam with the infinity norm), as torch.optim.Adamax."""

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False):
        _check_hyper(lr=lr, eps=eps, betas=betas, weight_decay=weight_decay)
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=foreach,
                         maximize=maximize, differentiable=differentiable, capturable=capturable)

    def update(self, p, grad, state, group):
        xp = array_module(p._data)
        grad = _signed_grad(grad, group)
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p._data)
            state["exp_inf"] = xp.zeros_like(p._data)
        state["step"] += 1
        (b1, b2), eps = group["betas"], group["eps"]
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p._data
        _lerp_(state["exp_avg"], grad, 1 - b1)
        exp_inf = state["exp_inf"]
        exp_inf *= b2
        xp.maximum(exp_inf, xp.abs(grad) + eps, out=exp_inf)
        clr = group["lr"] / (1 - b1 ** state["step"])
        p.sub_(clr * (state["exp_avg"] / exp_inf))


class NAdam(Optimizer):
    """NAdam (Adam with Nesterov momentum and momentum decay), as torch.optim.NAdam."""

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False,
                 *, foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False):
        _check_hyper(lr=lr, eps=eps, betas=betas, weight_decay=weight_decay, momentum_decay=momentum_decay)
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                         momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                         maximize=maximize, foreach=foreach, capturable=capturable, differentiable=differentiable)

    def update(self, p, grad, state, group):
        xp = array_module(p._data)
        grad = _signed_grad(grad, group)
        if not state:
            state["step"] = 0
            state["mu_product"] = 1.0
            state["exp_avg"] = xp.zeros_like(p._data)
            state["exp_avg_sq"] = xp.zeros_like(p._data)
        state["step"] += 1
        grad, t = _adam_moments(p, grad, state, group)
        lr, (b1, b2) = group["lr"], group["betas"]
        mu = b1 * (1.0 - 0.5 * 0.96 ** (t * group["momentum_decay"]))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * group["momentum_decay"]))
        # torch keeps the running product in a float32 scalar tensor: round it the same way.
        mu_product = float(np.float32(state["mu_product"]) * np.float32(mu))
        state["mu_product"] = mu_product
        denom = xp.sqrt(state["exp_avg_sq"] / (1 - b2**t))
        denom += group["eps"]
        p.add_((-lr * (1.0 - mu) / (1.0 - mu_product)) * (grad / denom))
        p.add_(((-lr * mu_next) / (1.0 - mu_product * mu_next)) * (state["exp_avg"] / denom))


class RAdam(Optimizer):
    """RAdam (rectified Adam), as torch.optim.RAdam."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False):
        _check_hyper(lr=lr, eps=eps, betas=betas, weight_decay=weight_decay)
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize,
                         foreach=foreach, capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                         differentiable=differentiable)

    def update(self, p, grad, state, group):
        xp = array_module(p._data)
        grad = _signed_grad(grad, group)
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p._data)
            state["exp_avg_sq"] = xp.zeros_like(p._data)
        state["step"] += 1
        grad, t = _adam_moments(p, grad, state, group)
        lr, (b1, b2), exp_avg_sq = group["lr"], group["betas"], state["exp_avg_sq"]
        bias1, bias2 = 1 - b1**t, 1 - b2**t
        corrected = state["exp_avg"] / bias1
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * (b2**t) / bias2
        if rho_t > 5.0:  # the variance is tractable: rectified adaptive step
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            root = xp.sqrt(exp_avg_sq)
            root += group["eps"]
            p.sub_(corrected * lr * (bias2**0.5 / root) * rect)
        else:  # early steps: plain momentum SGD
            p.sub_(corrected * lr)


class Rprop(Optimizer):
    """Resilient backpropagation (per-element step sizes grown by ``etas[1]`` while the gradient's
    sign holds, shrunk by ``etas[0]`` when it flips), as torch.optim.Rprop."""

    def __init__(self, params, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False):
        _check_hyper(lr=lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        super().__init__(params, lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach, maximize=maximize,
                         differentiable=differentiable, capturable=capturable)

    def update(self, p, grad, state, group):
        xp = array_module(p._data)
        grad = _signed_grad(grad, group)
        if not state:
            state["step"] = 0
            state["prev"] = xp.zeros_like(p._data)
            state["step_size"] = xp.full_like(p._data, group["lr"])
        state["step"] += 1
        (eta_minus, eta_plus), (size_min, size_max) = group["etas"], group["step_sizes"]
        sign = xp.sign(grad * state["prev"])
        factor = xp.where(sign > 0, eta_plus, xp.where(sign < 0, eta_minus, 1.0)).astype(p.dtype)
        step_size = state["step_size"]
        step_size *= factor
        xp.clip(step_size, size_min, size_max, out=step_size)
        grad = xp.where(factor == factor.dtype.type(eta_minus), 0, grad).astype(p.dtype)  # after a flip: no step
        p.sub_(xp.sign(grad) * step_size)
        state["prev"][...] = grad


class ASGD(Optimizer):
    """Averaged SGD, as torch.optim.ASGD: ``ax`` holds the running average of the iterates."""

    def __init__(self, params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75, t0: float = 1e6,
                 weight_decay: float = 0, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False):
        _check_hyper(lr=lr, weight_decay=weight_decay)
        super().__init__(params, lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                         foreach=foreach, maximize=maximize, differentiable=differentiable, capturable=capturable)

    def update(self, p, grad, state, group):
        xp = array_module(p._data)
        grad = _signed_grad(grad, group)
        lr, lambd = group["lr"], group["lambd"]
        if not state:
            # torch keeps eta and mu in float32 scalar tensors: round them the same way
            state.update(step=0, eta=float(np.float32(lr)), mu=1.0, ax=xp.zeros_like(p._data))
        state["step"] += 1
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p._data
        eta = state["eta"]
        p.mul_(1 - lambd * eta)
        p.sub_(eta * grad)
        ax = state["ax"]
        if state["mu"] != 1:
            ax += (p._data - ax) * p.dtype.type(state["mu"])
        else:
            ax[...] = p._data
        step = state["step"]
        state["eta"] = float(np.float32(lr / ((1 + lambd * lr * step) ** group["alpha"])))
        state["mu"] = float(np.float32(1 / max(1, step - group["t0"])))


class Adafactor(Optimizer):
    """Adafactor (second moments factored into row and column averages over the last two dims,
    the step scaled by the parameter's RMS), as torch.optim.Adafactor."""

    _supports_complex = False  # as torch's

    def __init__(self, params, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0, weight_decay: float = 0.0, *,
                 foreach: bool | None = None, maximize: bool = False):
        checks = [(0.0 <= lr, f"Learning rate should be >= 0 but is: {lr}"),
                  (0.0 >= beta2_decay, f"beta2_decay should be <= 0 but is: {beta2_decay}"),
                  (eps[0] is None or 0.0 <= eps[0], f"epsilon1 should be >= 0 but is: {eps[0]}"),
                  (0.0 <= eps[1], f"epsilon2 should be >= 0 but is: {eps[1]}"),
                  (1.0 <= d, f"Clipping threshold d should be >= 1 but is: {d}"),
                  (0.0 <= weight_decay, f"weight_decay should be >= 0 but is: {weight_decay}")]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        super().__init__(params, lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay,
                         foreach=foreach, maximize=maximize)

    def update(self, p, grad, state, group):
        xp = array_module(p._data)
        grad = _signed_grad(grad, group)
        lr, (eps1, eps2) = group["lr"], group["eps"]
        if eps1 is None:
            eps1 = float(np.finfo(p.dtype).eps)
        if not state:
            state["step"] = 0
            if grad.ndim > 1:  # (…, R, 1) row and (…, 1, C) column averages of g²
                state["row_var"] = xp.zeros((*grad.shape[:-1], 1), p.dtype)
                state["col_var"] = xp.zeros((*grad.shape[:-2], 1, grad.shape[-1]), p.dtype)
            else:
                state["variance"] = xp.zeros_like(p._data)
        state["step"] += 1
        step = float(state["step"])
        one_minus_beta2 = step ** group["beta2_decay"]
        rho = min(lr, 1 / step**0.5)
        alpha = max(eps2, _rms(p._data)) * rho
        if group["weight_decay"]:
            p.mul_(1 - lr * group["weight_decay"])
        if grad.ndim > 1:
            row_var, col_var = state["row_var"], state["col_var"]
            _lerp_(row_var, (grad * grad).mean(axis=-1, keepdims=True), one_minus_beta2)
            _lerp_(col_var, (grad * grad).mean(axis=-2, keepdims=True), one_minus_beta2)
            var_estimate = row_var @ col_var
            var_estimate /= xp.maximum(row_var.mean(axis=-2, keepdims=True), eps1)
        else:
            _lerp_(state["variance"], grad * grad, one_minus_beta2)
            var_estimate = state["variance"].copy()
        update = 1 / xp.sqrt(xp.maximum(var_estimate, eps1 * eps1))
        update *= grad
        denom = max(1.0, _rms(update) / group["d"])
        p.sub_((alpha / denom) * update)


def _rms(a) -> float:
    """‖a‖₂ / √numel, as a float."""
    a = to_numpy(a).reshape(-1)
    return math.sqrt(float(np.vdot(a, a))) / a.size**0.5 if a.size else 0.0


class Muon(Optimizer):
    """Muon (momentum, then the update orthogonalized by a quintic Newton-Schulz iteration), for 2-D
    parameters, as torch.optim.Muon. torch runs the iteration in bfloat16; here each op's float32
    result is rounded to bfloat16 the same way, so steps agree with torch's to bfloat16 precision."""

    _supports_complex = False  # as torch's

    def __init__(self, params, lr: float = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95,
                 nesterov: bool = True, ns_coefficients: tuple[float, float, float] = (3.4445, -4.775, 2.0315),
                 eps: float = 1e-07, ns_steps: int = 5, adjust_lr_fn: str | None = None):
        checks = [(0.0 <= lr, f"Learning rate should be >= 0 but is: {lr}"),
                  (0.0 <= momentum, f"momentum should be >= 0 but is: {momentum}"),
                  (0.0 <= weight_decay, f"weight decay should be >= 0 but is: {weight_decay}"),
                  (adjust_lr_fn in (None, "original", "match_rms_adamw"),
                   f"Adjust learning rate function {adjust_lr_fn} is not supported")]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        super().__init__(params, lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                         ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps, adjust_lr_fn=adjust_lr_fn)
        for p in self._params():
            if p.ndim != 2:
                raise ValueError(f"Muon only supports 2D parameters whereas we found a parameter with size: "
                                 f"{_torch_size(p.shape)}")

    def update(self, p, grad, state, group):
        xp = array_module(p._data)
        if grad.ndim != 2:
            raise ValueError("Param gradient must be a 2D matrix")
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = xp.zeros_like(p._data)
        buf, momentum = state["momentum_buffer"], group["momentum"]
        _lerp_(buf, grad, 1 - momentum)
        if group["nesterov"]:
            update = grad.astype(p.dtype, copy=True)
            _lerp_(update, buf, momentum)
        else:
            update = buf
        ortho = _newton_schulz_bf16(to_numpy(update), group["ns_coefficients"], group["ns_steps"], group["eps"])
        rows, cols = p.shape
        ratio = {None: math.sqrt(max(1, rows / cols)), "original": math.sqrt(max(1, rows / cols)),
                 "match_rms_adamw": 0.2 * math.sqrt(max(rows, cols))}.get(group["adjust_lr_fn"], 1.0)
        p.mul_(1 - group["lr"] * group["weight_decay"])
        p.sub_((group["lr"] * ratio) * to_device(ortho.astype(p.dtype), p.device))


def _torch_size(shape) -> str:
    return f"torch.Size({list(shape)})"


def _bf16(a):
    """float32 values rounded to the nearest bfloat16 (ties to even), kept as float32."""
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    return ((bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) & np.uint32(0xFFFF0000)).view(np.float32)


def _newton_schulz_bf16(g, coefficients, steps: int, eps: float):
    """torch's _zeropower_via_newtonschulz: X ← X/‖X‖, then X ← aX + (bA + cA²)X with A = XXᵀ, on the
    wide orientation, each op in float32 rounded to bfloat16 as torch's bfloat16 kernels round."""
    if steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if len(coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    a, b, c = (np.float32(v) for v in coefficients)
    x = _bf16(g)
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    norm = _bf16(np.sqrt(np.sum(x * x, dtype=np.float32)))
    x = _bf16(x / np.maximum(norm, _bf16(np.float32(eps))))
    for _ in range(steps):
        gram = _bf16(x @ x.T)
        gram_update = _bf16(b * gram + c * (gram @ gram))
        x = _bf16(a * x + gram_update @ x)
    return x.T if tall else x


def _check_hyper(**values) -> None:
    """torch's argument checks and messages, in the order given (torch's order for each optimizer):
    non-negative rates, betas in [0, 1), Adadelta's rho in [0, 1]."""
    for key, value in values.items():
        if key == "betas":
            for i, b in enumerate(value):
                if not 0.0 <= b < 1.0:
                    raise ValueError(f"Invalid beta parameter at index {i}: {b}")
        elif key == "rho" and not 0.0 <= value <= 1.0:
            raise ValueError(f"Invalid rho value: {value}")
        elif not 0.0 <= value:
            label = {"lr": "learning rate", "eps": "epsilon value"}.get(key, f"{key} value")
            raise ValueError(f"Invalid {label}: {value}")


def _check_tensor_hyper(name: str, value, foreach, capturable) -> None:
    """torch's rules for a hyper-parameter given as a Tensor (Adam's lr and betas): one element, and not
    with foreach=True unless capturable."""
    if isinstance(value, Tensor):
        if foreach and not capturable:
            raise ValueError(f"{name} as a Tensor is not supported for capturable=False and foreach=True")
        if value.numel() != 1:
            raise ValueError(f"Tensor {name} must be 1-element")


class LBFGS(Optimizer):
    """L-BFGS with optional strong-Wolfe line search, as torch.optim.LBFGS: ``step(closure)``, where
    the closure clears the gradients, computes the loss, calls backward and returns the loss.
    Sparse gradients are made dense, as torch's.

    >>> import nn
    >>> w = nn.Parameter([3.0, -2.0])
    >>> opt = LBFGS([w], line_search_fn="strong_wolfe")
    >>> def closure():
    ...     opt.zero_grad(); loss = (w * w).sum(); loss.backward(); return loss
    >>> _ = opt.step(closure); [round(v, 6) + 0.0 for v in w.tolist()]
    [0.0, 0.0]
    """

    _supports_sparse = True

    def __init__(self, params, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None):
        _check_hyper(lr=lr)
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
        super().__init__(params, lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                         tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._lbfgs_params = self.param_groups[0]["params"]

    def _flat_grad(self):
        xp = array_module(self._lbfgs_params[0]._data)
        # a complex parameter counts as its real and imaginary parts (torch's view_as_real)
        return xp.concatenate([_as_real(g).reshape(-1) if g.dtype.kind == "c" else g.reshape(-1) for g in (
            xp.zeros(p._data.shape, p.dtype) if p.grad is None else
            p.grad.to_dense()._data if type(p.grad) is SparseTensor else p.grad._data for p in self._lbfgs_params)])

    def _add_grad(self, step_size: float, update) -> None:
        offset = 0
        for p in self._lbfgs_params:
            n = p._data.size * (2 if p.dtype.kind == "c" else 1)
            part = step_size * update[offset:offset + n]
            p.add_((_as_complex(part.reshape(p.shape + (2,))) if p.dtype.kind == "c" else part).reshape(p.shape))
            offset += n

    def _evaluate(self, closure, x, t: float, d):
        """Loss and flat gradient at x + t·d, then the parameters back at x."""
        self._add_grad(t, d)
        with enable_grad():
            loss = float(closure())
        flat_grad = self._flat_grad()
        for p, saved in zip(self._lbfgs_params, x):
            p.copy_(saved)
        return loss, flat_grad

    @no_grad()
    def step(self, closure=None):  # type: ignore[override]
        """Run up to ``max_iter`` L-BFGS iterations; returns the closure's first loss."""
        if closure is None:
            raise RuntimeError("LBFGS.step needs a closure that computes the loss and its gradients")
        group = self.param_groups[0]
        lr, max_iter, max_eval = float(group["lr"]), group["max_iter"], group["max_eval"]  # a Tensor lr too
        tol_grad, tol_change, history = group["tolerance_grad"], group["tolerance_change"], group["history_size"]
        state = self.state[self._lbfgs_params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        xp = array_module(flat_grad)
        if float(xp.abs(flat_grad).max()) <= tol_grad:
            return orig_loss
        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag, prev_flat_grad, prev_loss = state.get("H_diag"), state.get("prev_flat_grad"), state.get("prev_loss")
        al = state.get("al")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:  # steepest descent first
                d, old_dirs, old_stps, ro, h_diag = -flat_grad, [], [], [], 1
            else:  # two-loop recursion over the last ``history`` (y, s) pairs
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = float(y @ s)
                if ys > 1e-10:
                    if len(old_dirs) == history:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / float(y @ y)
                al = [0.0] * len(old_dirs)
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = float(old_stps[i] @ q) * ro[i]
                    q = q - al[i] * old_dirs[i]
                d = r = q * h_diag
                for i in range(len(old_dirs)):
                    be_i = float(old_dirs[i] @ r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            t = min(1.0, 1.0 / float(xp.abs(flat_grad).sum())) * lr if state["n_iter"] == 1 else lr
            gtd = float(flat_grad @ d)
            if gtd > -tol_change:  # not a descent direction
                break
            ls_evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                x_init = [p._data.copy() for p in self._lbfgs_params]
                loss, flat_grad, t, ls_evals = _strong_wolfe(
                    lambda x, step, direction: self._evaluate(closure, x, step, direction),
                    x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = float(xp.abs(flat_grad).max()) <= tol_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    with enable_grad():
                        loss = float(closure())
                    flat_grad = self._flat_grad()
                    opt_cond = float(xp.abs(flat_grad).max()) <= tol_grad
                    ls_evals = 1
            current_evals += ls_evals
            state["func_evals"] += ls_evals
            if (n_iter == max_iter or current_evals >= max_eval or opt_cond
                    or float(xp.abs(d * t).max()) <= tol_change or abs(loss - prev_loss) < tol_change):
                break
        # "al" (the two-loop's coefficients) too, so that the state's keys are torch's
        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag, al=al,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """Minimizer of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to ``bounds``."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(d2_square)
    if x1 <= x2:
        min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(min_pos, lo), hi)


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """torch's strong-Wolfe line search (bracketing, then zoom by cubic interpolation)."""
    xp = array_module(d)
    d_norm = float(xp.abs(d).max())
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    ls_evals, gtd_new = 1, float(g_new @ d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done, ls_iter = False, 0
    while ls_iter < max_ls:  # bracket an interval holding a point that satisfies the conditions
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f, bracket_g, bracket_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], \
                [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g, done = [t], [f_new], [g_new], True
            break
        if gtd_new >= 0:
            bracket, bracket_f, bracket_g, bracket_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], \
                [gtd_prev, gtd_new]
            break
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]
    insuf_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:  # zoom
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) else min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj_func(x, t, d)
        ls_evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new.copy(), gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new.copy(), gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], ls_evals


# torch.optim.lr_scheduler's and torch.optim.swa_utils's places: nn.optim.lr_scheduler.StepLR, nn.optim.swa_utils.SWALR
from nn import lr_scheduler, swa_utils  # noqa: E402, F401


# -- flat moment buffers for flat parameters (issue 21) --
def _address(a) -> int:
    return a.data.ptr if hasattr(a.data, "ptr") else a.__array_interface__["data"][0]  # CuPy / NumPy


def _one_run(arrays: list) -> bool:
    """Whether ``arrays`` are C-contiguous, of one dtype, and each starts where the previous one ends."""
    if not all(a.flags.c_contiguous and a.dtype == arrays[0].dtype for a in arrays):
        return False
    end = None
    for a in arrays:  # each address once (building one costs ~1 us)
        start = _address(a)
        if end is not None and start != end:
            return False
        end = start + a.nbytes
    return True


def _flat_adam_moments(params: list, states: list[dict], group: dict) -> None:
    """Adam's fast path for flat parameters (``engine.flatten_parameters`` of one param group): when the
    group's parameters are one contiguous run of a flat buffer, keep ``exp_avg`` and ``exp_avg_sq`` as views
    of two flat buffers laid out the same way, so that ``engine.adam_`` joins the whole group into one update
    (the same elementwise arithmetic, so the same bits). Values move over once: on the first step, and after
    ``load_state_dict`` (which gives each parameter its own arrays). Otherwise it leaves the state alone."""
    if len(params) < 2 or group.get("amsgrad") or not _one_run([p._data for p in params]):
        return
    if any(s and ("exp_avg" not in s or "exp_avg_sq" not in s) for s in states):
        return  # a state layout this path does not know
    if all(states) and _one_run([s["exp_avg"] for s in states]) and _one_run([s["exp_avg_sq"] for s in states]):
        return  # already flat
    if len({s.get("step", 0) for s in states}) > 1:
        return  # engine.adam_ joins only parameters at the same step
    first = params[0]._data
    xp, n = array_module(first), sum(p._data.size for p in params)
    exp_avg, exp_avg_sq = xp.zeros(n, dtype=first.dtype), xp.zeros(n, dtype=first.dtype)
    lo = 0
    for p, s in zip(params, states):
        hi = lo + p._data.size
        m, v = exp_avg[lo:hi].reshape(p._data.shape), exp_avg_sq[lo:hi].reshape(p._data.shape)
        if s:
            m[...], v[...] = s["exp_avg"], s["exp_avg_sq"]
        else:
            s["step"] = 0
        s["exp_avg"], s["exp_avg_sq"] = m, v
        lo = hi

# ---- Adam/AdamW's amsgrad, maximize and decoupled_weight_decay: torch's single-tensor rule in NumPy ----


def _adam_needs_composed(group: dict, decoupled: bool) -> bool:
    """True where engine.adam_ (plain Adam/AdamW) does not cover the group's options, or a parameter is
    listed twice (torch steps it twice in a row, each step seeing the first's moments)."""
    params = group["params"]
    return bool(group.get("amsgrad") or group.get("maximize")
                or group.get("decoupled_weight_decay", decoupled) != decoupled
                or len({id(p) for p in params}) != len(params))


def _adam_composed_step(opt: Optimizer, group: dict) -> None:
    """One Adam step for ``group``'s parameters, operation for operation as torch's _single_tensor_adam."""
    lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
    for p in group["params"]:
        if p.grad is None:
            continue
        xp = array_module(p._data)
        grad = -p.grad._data if group["maximize"] else p.grad._data
        state = opt.state[p]
        if not state:
            state.update(step=0, exp_avg=xp.zeros_like(p._data), exp_avg_sq=xp.zeros_like(p._data))
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = xp.zeros_like(p._data)
        if wd:
            if group["decoupled_weight_decay"]:
                p.mul_(1 - lr * wd)
            else:
                grad = grad + wd * p._data
        state["step"] += 1
        _lerp_(state["exp_avg"], grad, 1 - b1)
        _decay_square_(state["exp_avg_sq"], grad, b2)
        step_size = lr / (1 - b1 ** state["step"])
        bc2_sqrt = math.sqrt(1 - b2 ** state["step"])
        sq = state["exp_avg_sq"]
        if group["amsgrad"]:
            xp.maximum(state["max_exp_avg_sq"], sq, out=state["max_exp_avg_sq"])
            sq = state["max_exp_avg_sq"]
        denom = xp.sqrt(sq) / bc2_sqrt + eps
        p.sub_(step_size * (state["exp_avg"] / denom))


# ---- complex parameters: torch's view_as_real around a step ----


def _as_real(a):
    """A complex array's (…, 2) float view (torch.view_as_real): real and imaginary parts side by side."""
    return a[..., None].view(a.real.dtype)


def _as_complex(a):
    """The inverse of _as_real: a contiguous (…, 2) float array as its (…) complex view."""
    return a.view(np.result_type(a.dtype, np.complex64))[..., 0]


@contextlib.contextmanager
def _complex_as_real(opt: Optimizer):
    """Step complex parameters as torch does: each complex number as two real ones (view_as_real of the
    parameter, its gradient and its per-element state), so Adam's second moment, RMSprop's average and
    Rprop's signs are per part. The arrays are views: the step writes the complex memory; afterwards
    the state holds complex arrays again (torch's state_dict layout)."""
    complex_params = {id(p): p for p in opt._params() if p._data.dtype.kind == "c"}  # each once
    swapped = []
    if complex_params and not opt._supports_complex:
        raise RuntimeError(f"{type(opt).__name__} does not support complex parameters")
    for p in complex_params.values():
        data, grad = p._data, p.grad
        p._data = _as_real(data)
        if grad is not None:
            grad._data = _as_real(grad._data)
        state = opt.state.get(p)
        if state:
            for k, v in list(state.items()):
                if hasattr(v, "dtype") and v.dtype.kind == "c" and v.shape == data.shape:
                    state[k] = _as_real(v)
        swapped.append((p, data, grad))
    try:
        yield
    finally:
        for p, data, grad in swapped:
            p._data = data
            if grad is not None and grad._data.dtype.kind != "c":
                grad._data = _as_complex(grad._data)
            state = opt.state.get(p)
            for k, v in list((state or {}).items()):
                if hasattr(v, "dtype") and v.dtype.kind == "f" and v.shape == data.shape + (2,):
                    state[k] = _as_complex(v if v.flags.c_contiguous else v.copy())


# ---- torch's step(closure) and step hooks, for every optimizer (wrapped once, here at the end) ----


def _with_closure_and_hooks(step):
    """Wrap an optimizer's ``step``: run the step pre-hooks, call ``closure`` (with grad enabled)
    for optimizers whose step takes none (LBFGS takes its own), step, run the post-hooks, and
    return the closure's loss, as torch.optim.Optimizer.step does."""
    import functools
    import inspect

    if getattr(step, "_with_hooks", False):
        return step
    own_closure = "closure" in inspect.signature(step).parameters
    builtin = step.__module__ == __name__  # a user's own step sees its complex parameters as they are

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        for hook in list(getattr(self, "_step_pre_hooks", {}).values()):
            res = hook(self, args, kwargs)
            if res is not None:
                args, kwargs = res
        if own_closure:
            out = step(self, *args, **kwargs)
        else:
            closure = kwargs.pop("closure", None)
            if args:
                closure, args = args[0], args[1:]
            out = None
            if closure is not None:
                with enable_grad():
                    out = closure()
            if _sparse.seen and builtin and not self._supports_sparse:
                _refuse_sparse(self)
            with _complex_as_real(self) if builtin else contextlib.nullcontext():
                step(self, *args, **kwargs)
        for hook in list(getattr(self, "_step_post_hooks", {}).values()):
            hook(self, args, kwargs)
        self._opt_called = True  # for LRScheduler's step-order warning, as torch's patched step records it
        return out

    if not own_closure:  # the signature it accepts, torch's step(closure=None)
        sig = inspect.signature(step)
        closure = inspect.Parameter("closure", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
        with contextlib.suppress(ValueError):  # a step(self, *args, **kwargs) keeps its own
            wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), closure])
    wrapper._with_hooks = True
    return wrapper


def _refuse_sparse(opt: Optimizer) -> None:
    """torch's error for a sparse gradient (a sparse=True embedding's) in an optimizer without a sparse rule."""
    for p in opt._params():
        if type(p.grad) is SparseTensor:
            name = type(opt).__name__
            if isinstance(opt, Adam):  # AdamW's words are Adam's, as torch's
                raise RuntimeError("Adam does not support sparse gradients, please consider SparseAdam instead")
            raise RuntimeError(f"{name} does not support sparse gradients")


def _register_step_hook(self: Optimizer, kind: str, hook, prepend: bool = False):
    from collections import OrderedDict

    from nn.module import RemovableHandle

    hooks = self.__dict__.setdefault(kind, OrderedDict())
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


def _register_state_dict_pre_hook(self: Optimizer, hook, prepend: bool = False):
    """``hook(optimizer)`` before ``state_dict()`` builds the dict."""
    return _register_step_hook(self, "_state_dict_pre_hooks", hook, prepend)


def _register_state_dict_post_hook(self: Optimizer, hook, prepend: bool = False):
    """``hook(optimizer, state_dict)`` after; may return a new state_dict."""
    return _register_step_hook(self, "_state_dict_post_hooks", hook, prepend)


def _register_load_state_dict_pre_hook(self: Optimizer, hook, prepend: bool = False):
    """``hook(optimizer, state_dict)`` before loading; may return the state_dict to load instead."""
    return _register_step_hook(self, "_load_state_dict_pre_hooks", hook, prepend)


def _register_load_state_dict_post_hook(self: Optimizer, hook, prepend: bool = False):
    """``hook(optimizer)`` after ``load_state_dict()``."""
    return _register_step_hook(self, "_load_state_dict_post_hooks", hook, prepend)


def _register_step_pre_hook(self: Optimizer, hook):
    """``hook(optimizer, args, kwargs)`` before each step; may return new ``(args, kwargs)``."""
    return _register_step_hook(self, "_step_pre_hooks", hook)


def _register_step_post_hook(self: Optimizer, hook):
    """``hook(optimizer, args, kwargs)`` after each step."""
    return _register_step_hook(self, "_step_post_hooks", hook)


def _init_subclass(cls, **kwargs):
    # user-defined optimizers get the same step(closure) and hooks
    if "step" in cls.__dict__:
        cls.step = _with_closure_and_hooks(cls.__dict__["step"])


Optimizer.register_step_pre_hook = _register_step_pre_hook
Optimizer.register_step_post_hook = _register_step_post_hook
Optimizer.register_state_dict_pre_hook = _register_state_dict_pre_hook
Optimizer.register_state_dict_post_hook = _register_state_dict_post_hook
Optimizer.register_load_state_dict_pre_hook = _register_load_state_dict_pre_hook
Optimizer.register_load_state_dict_post_hook = _register_load_state_dict_post_hook
Optimizer.__init_subclass__ = classmethod(_init_subclass)
for _cls in [Optimizer, *[c for c in list(globals().values()) if isinstance(c, type) and issubclass(c, Optimizer)]]:
    if "step" in _cls.__dict__:
        _cls.step = _with_closure_and_hooks(_cls.__dict__["step"])
del _cls
