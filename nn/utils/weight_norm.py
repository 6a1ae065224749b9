"""torch.nn.utils.weight_norm / remove_weight_norm: the older, hook-based weight normalization
(``<name>_g`` and ``<name>_v`` parameters, ``<name>`` recomputed by a forward pre-hook). torch
deprecates it in favour of ``nn.utils.parametrizations.weight_norm``, and warns so here too.

>>> import warnings, nn
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     m = weight_norm(nn.Linear(3, 2))
>>> list(m.state_dict())
['bias', 'weight_g', 'weight_v']
"""

from __future__ import annotations

import warnings
from typing import Any

from nn.module import Module, Parameter, UninitializedParameter
from nn.utils.parametrizations import _norm_except_dim, _weight_norm

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm"]


class WeightNorm:
    """The forward pre-hook: sets ``module.<name>`` to g * v / ||v|| before each forward."""

    def __init__(self, name: str, dim: int | None) -> None:
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module: Module) -> Any:
        return _weight_norm(getattr(module, self.name + "_v"), getattr(module, self.name + "_g"), self.dim)

    @staticmethod
    def apply(module: Module, name: str, dim: int | None) -> WeightNorm:
        warnings.warn("`torch.nn.utils.weight_norm` is deprecated in favor of "
                      "`torch.nn.utils.parametrizations.weight_norm`.", FutureWarning, stacklevel=3)
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        if isinstance(weight, UninitializedParameter):
            raise ValueError("The module passed to `WeightNorm` can't have uninitialized parameters. "
                             "Make sure to run the dummy forward before applying weight normalization")
        delattr(module, name)
        module.register_parameter(name + "_g", Parameter(_norm_except_dim(weight, fn.dim).detach()))
        module.register_parameter(name + "_v", Parameter(weight.detach()))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module: Module) -> None:
        weight = self.compute_weight(module)
        delattr(module, self.name)
        delattr(module, self.name + "_g")
        delattr(module, self.name + "_v")
        setattr(module, self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Replace ``module.<name>`` by g * v / ||v|| (the norm over every dim but ``dim``; over all for
    ``dim=None``), g = ``<name>_g`` and v = ``<name>_v`` the new parameters, recomputed before each
    forward. Deprecated in torch (FutureWarning): see ``nn.utils.parametrizations.weight_norm``."""
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    """Undo ``weight_norm``: ``<name>`` is a plain parameter again, holding g * v / ||v||."""
    return remove_norm_hook(module, WeightNorm, name, "weight_norm")


def remove_norm_hook(module: Module, kind: type, name: str, what: str) -> Module:
    """Remove the forward pre-hook of class ``kind`` that reparameterizes ``name`` (its ``remove``
    restores a plain parameter); torch's ValueError when there is none."""
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, kind) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"{what} of '{name}' not found in {module}")
