"""torch.nn.utils.spectral_norm / remove_spectral_norm: the older, hook-based spectral
normalization (``<name>_orig`` parameter, ``<name>_u`` and ``<name>_v`` buffers, ``<name>``
recomputed by a forward pre-hook, the power iteration run in training mode only).

>>> import nn
>>> list(spectral_norm(nn.Linear(3, 2)).state_dict())
['bias', 'weight_orig', 'weight_u', 'weight_v']
"""

from __future__ import annotations

from typing import Any

import engine
import engine.functional as F
from engine import Tensor, no_grad
from nn.module import Module, Parameter, UninitializedParameter
from nn.utils.weight_norm import remove_norm_hook

__all__ = ["SpectralNorm", "spectral_norm", "remove_spectral_norm"]


class SpectralNorm:
    """The forward pre-hook: sets ``module.<name>`` to W / sigma(W) before each forward."""

    _version: int = 1

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        self.name = name
        self.dim = dim
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but "
                             f"got n_power_iterations={n_power_iterations}")
        self.n_power_iterations = n_power_iterations
        self.eps = eps

    def reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        if self.dim != 0:
            weight = weight.permute(self.dim, *[d for d in range(weight.ndim) if d != self.dim])
        return weight.reshape(weight.shape[0], -1)

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        weight_mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            with no_grad():  # the buffers are updated in place (torch's out=), then cloned for the graph
                for _ in range(self.n_power_iterations):
                    v.copy_(F.normalize(engine.mv(weight_mat.t(), u), dim=0, eps=self.eps))
                    u.copy_(F.normalize(engine.mv(weight_mat, v), dim=0, eps=self.eps))
                u, v = u.clone(), v.clone()
        sigma = engine.dot(u, engine.mv(weight_mat, v))
        return weight / sigma

    def remove(self, module: Module) -> None:
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        delattr(module, self.name)
        delattr(module, self.name + "_u")
        delattr(module, self.name + "_v")
        delattr(module, self.name + "_orig")
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))

    @staticmethod
    def apply(module: Module, name: str, n_power_iterations: int, dim: int, eps: float) -> SpectralNorm:
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter {name}")
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        weight = module._parameters[name]
        if weight is None:
            raise ValueError(f"`SpectralNorm` cannot be applied as parameter `{name}` is None")
        if isinstance(weight, UninitializedParameter):
            raise ValueError("The module passed to `SpectralNorm` can't have uninitialized parameters. "
                             "Make sure to run the dummy forward before applying spectral normalization")
        with no_grad():
            h, w = fn.reshape_weight_to_matrix(weight).shape
            kw = dict(dtype=weight.dtype, device=weight.device)
            u = F.normalize(engine.randn(h, **kw), dim=0, eps=fn.eps)
            v = F.normalize(engine.randn(w, **kw), dim=0, eps=fn.eps)
        delattr(module, fn.name)
        module.register_parameter(fn.name + "_orig", weight)
        setattr(module, fn.name, weight.detach())
        module.register_buffer(fn.name + "_u", u)
        module.register_buffer(fn.name + "_v", v)
        module.register_forward_pre_hook(fn)
        return fn


def _transposed_conv_types() -> tuple[type, ...]:
    from nn.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d

    return ConvTranspose1d, ConvTranspose2d, ConvTranspose3d


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12,
                  dim: int | None = None) -> Module:
    """Replace ``module.<name>`` by W / sigma(W) before each forward, sigma estimated by power
    iteration (``n_power_iterations`` steps per forward in training mode) on the buffers
    ``<name>_u``, ``<name>_v``; W = ``<name>_orig`` seen as a matrix with ``dim`` first (1 for
    ConvTranspose, else 0)."""
    if dim is None:
        dim = 1 if isinstance(module, _transposed_conv_types()) else 0
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Undo ``spectral_norm``: ``<name>`` is a plain parameter again, holding W / sigma (no power
    iteration), and the ``_orig``, ``_u``, ``_v`` entries are gone."""
    return remove_norm_hook(module, SpectralNorm, name, "spectral_norm")
