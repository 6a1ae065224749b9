"""torch.nn.utils: gradient clipping and parameter <-> vector conversion; ``parametrize`` and
``parametrizations`` (weight_norm, spectral_norm, orthogonal), ``prune``, the older hook-based
``weight_norm`` / ``spectral_norm``; ``nn.utils.data`` is torch.utils.data (datasets, samplers, DataLoader).

>>> from engine import Tensor
>>> p = Tensor([3.0, 4.0], requires_grad=True); p.grad = Tensor([3.0, 4.0])
>>> round(clip_grad_norm_([p], 1.0).item(), 4)
5.0
>>> [round(g, 4) for g in p.grad.tolist()]
[0.6, 0.8]
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from engine import Tensor, no_grad
from engine.backend import array_module, to_numpy
from engine.ops.optim import sum_squares


def _params(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _norm(g, norm_type: float) -> float:
    """||g||_p in float64 on the host (one number per gradient)."""
    a = to_numpy(g).reshape(-1)
    if a.size == 0:
        return 0.0
    if a.dtype.kind == "c":  # torch's norm of a complex gradient: of |g|
        a = np.abs(a)
    if norm_type == 2:  # float64 sum without a float64 copy of the gradient (S: 4.3 -> 0.1 ms)
        return math.sqrt(sum_squares(a))
    if norm_type == math.inf:  # exact in any float dtype
        return float(np.abs(a).max())
    if norm_type == -math.inf:
        return float(np.abs(a).min())
    if norm_type == 0:
        return float((a != 0).sum())
    a = a.astype(np.float64)
    return float((np.abs(a) ** norm_type).sum() ** (1.0 / norm_type))


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """The norm of the norms of ``tensors`` (as if concatenated into one vector)."""
    ts = [t._data if isinstance(t, Tensor) else t for t in _params(tensors)]
    if any(getattr(t, "is_sparse", False) is True for t in ts):  # torch 2.13 has no sparse kernel here either
        raise NotImplementedError("Could not run 'aten::linalg_vector_norm' with arguments from the 'SparseCPU' "
                                  "backend: the norm of a sparse gradient (a sparse=True embedding's) is not "
                                  "supported, as torch's; clip grad.to_dense() or use sparse=False")
    norm_type = float(norm_type)
    if not ts:
        return Tensor(np.asarray(0.0, dtype=np.float32))
    norms = [_norm(t, norm_type) for t in ts]
    if norm_type == math.inf:
        total = max(norms)
    elif norm_type == -math.inf:
        total = min(norms)
    elif norm_type == 0:  # torch: the 0-"norm" of the per-tensor norms, i.e. how many tensors are nonzero
        total = float(sum(n != 0 for n in norms))
    else:
        total = float(np.sum(np.asarray(norms) ** norm_type) ** (1.0 / norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    return Tensor(np.asarray(total, dtype=ts[0].real.dtype))  # real for complex gradients, as torch


def clip_grads_with_norm_(parameters, max_norm: float, total_norm, foreach=None) -> None:
    """Scale every gradient by min(1, max_norm / (total_norm + 1e-6))."""
    total = float(total_norm.item() if isinstance(total_norm, Tensor) else total_norm)
    coef = min(float(max_norm) / (total + 1e-6), 1.0)
    with no_grad():
        for p in _params(parameters):
            if p.grad is not None:
                p.grad.mul_(p.grad.dtype.type(coef))


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Scale gradients in place so that their total ``norm_type`` norm is at most ``max_norm``;
    returns the total norm before clipping as a 0-d Tensor, as torch."""
    params = [p for p in _params(parameters) if p.grad is not None]
    if not params:
        return Tensor(np.asarray(0.0, dtype=np.float32))
    total = get_total_norm([p.grad for p in params], norm_type, error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float, foreach=None) -> None:
    """Clamp every gradient entry into [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _params(parameters):
            if p.grad is not None and p.grad.dtype.kind == "c":
                raise NotImplementedError("clamp is not supported for complex types")  # torch's words
            if getattr(p.grad, "is_sparse", False) is True:  # as torch 2.13's
                raise NotImplementedError("Could not run 'aten::clamp_min_' with arguments from the 'SparseCPU' "
                                          "backend: clip_grad_value_ does not support sparse gradients, as torch's")
            if p.grad is not None:
                p.grad.copy_(array_module(p.grad._data).clip(p.grad._data, -clip_value, clip_value))


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and joined into one 1-D tensor (differentiable).

    >>> parameters_to_vector([Tensor([[1.0, 2.0]]), Tensor([3.0])]).tolist()
    [1.0, 2.0, 3.0]
    """
    from engine import concatenate

    ps = _params(parameters)
    return concatenate([p.reshape(-1) for p in ps], 0)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters (in place)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    if vec.ndim != 1:
        raise RuntimeError(f"vector_to_parameters expects a 1-D vector, got shape {vec.shape}")
    ps = _params(parameters)
    need = sum(p.numel() for p in ps)
    if vec.numel() != need:
        raise RuntimeError(f"vector has {vec.numel()} entries but the parameters hold {need}")
    i = 0
    with no_grad():
        for p in ps:
            n = p.numel()
            p.copy_(vec._data[i:i + n].reshape(p.shape).astype(p.dtype, copy=False))
            i += n


def skip_init(module_cls: type, *args, **kwargs):
    """An instance of ``module_cls(*args, **kwargs)`` whose parameters and buffers are uninitialized (as
    ``engine.empty``), torch.nn.utils.skip_init. The class must be an nn.Module taking a ``device`` argument.
    (torch builds it on the "meta" device to skip the initialization's cost; here it is built, then emptied.)

    >>> import nn
    >>> m = skip_init(nn.Linear, 5, 1); m.weight.shape, m.weight.requires_grad
    ((1, 5), True)
    """
    import inspect

    from nn.module import Module

    if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    final_device = kwargs.pop("device", "cpu")
    kwargs["device"] = final_device
    return module_cls(*args, **kwargs).to_empty(device=final_device)


def convert_conv2d_weight_memory_format(module, memory_format):
    """torch's conversion of every Conv2d/ConvTranspose2d weight under ``module`` to ``memory_format``
    (channels_last for cuDNN). Arrays here have one layout, so this returns ``module`` unchanged, as torch
    returns it (with the same values).

    >>> import engine, nn
    >>> m = nn.Sequential(nn.Conv2d(2, 2, 1)); convert_conv2d_weight_memory_format(m, engine.channels_last) is m
    True
    """
    return module


def convert_conv3d_weight_memory_format(module, memory_format):
    """As convert_conv2d_weight_memory_format, for Conv3d/ConvTranspose3d (channels_last_3d): ``module``,
    unchanged.

    >>> import engine, nn
    >>> m = nn.Conv3d(2, 2, 1); convert_conv3d_weight_memory_format(m, engine.channels_last_3d) is m
    True
    """
    return module


from nn.utils import checkpoint, data, fusion, parametrizations, parametrize, prune, rnn, stateless  # noqa: E402,F401  (data: torch.utils.data's place)
from nn.utils.fusion import (  # noqa: E402,F401
    fuse_conv_bn_eval,
    fuse_conv_bn_weights,
    fuse_linear_bn_eval,
    fuse_linear_bn_weights,
)
from nn.utils.spectral_norm import remove_spectral_norm, spectral_norm  # noqa: E402,F401
from nn.utils.weight_norm import remove_weight_norm, weight_norm  # noqa: E402,F401
from nn.watch import Watcher, watch  # noqa: E402,F401  (nn.utils.watch, as the issue names it)
