"""Normalization layers composed from engine ops: BatchNorm, InstanceNorm, GroupNorm, RMSNorm,
LocalResponseNorm (LayerNorm lives in nn.layers). Parameters, buffers and their state_dict
keys are torch's (``weight``, ``bias``, ``running_mean``, ``running_var``, ``num_batches_tracked``).

>>> from engine import Tensor
>>> BatchNorm1d(3)(Tensor.randn(4, 3)).shape
(4, 3)
"""

from __future__ import annotations

import numpy as np

import engine
import engine.functional as F
from engine import Tensor, no_grad
from nn import init
from nn.module import Module, Parameter


def _zeros(shape, dtype, device) -> Tensor:
    return Tensor.zeros(*shape, dtype=dtype or "float32", device=device or "cpu")


class _NormBase(Module):
    """Shared state of BatchNorm and InstanceNorm: affine weight/bias and running statistics."""

    _ndims: tuple[int, ...] = ()  # accepted input dims
    _batch_stats = True  # BatchNorm: statistics over (N, *spatial); InstanceNorm: per sample
    _optional_state = ("num_batches_tracked",)  # older checkpoints lack it: the current value is kept

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(_zeros((num_features,), dtype, device))
            if bias:
                self.bias = Parameter(_zeros((num_features,), dtype, device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", _zeros((num_features,), dtype, device))
            self.register_buffer("running_var", _zeros((num_features,), dtype, device))
            self.register_buffer("num_batches_tracked", Tensor.zeros((), dtype="int64", device=device or "cpu"))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            with no_grad():
                self.running_mean._data[...] = 0
                self.running_var._data[...] = 1
                self.num_batches_tracked._data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in self._ndims:
            want = " or ".join(f"{d}D" for d in self._ndims)
            raise ValueError(f"expected {want} input (got {input.ndim}D input)")

    def _factor(self) -> float:
        """The running-average weight of this batch (momentum, or 1/n for momentum=None)."""
        with no_grad():
            self.num_batches_tracked.add_(1)
        if self.momentum is None:
            return 1.0 / float(self.num_batches_tracked.item())
        return self.momentum

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise RuntimeError(f"running_mean should contain {input.shape[1]} elements not {self.num_features}")
        use_batch = self.training or self.running_mean is None
        factor = 0.0
        if self.training and self.track_running_stats:  # F.batch_norm checks the batch size, as torch's
            factor = self._factor()
        # one fused op (engine/ops/norm.py); it moves the running statistics in place when training
        track = self.training and self.track_running_stats
        return F.batch_norm(input, self.running_mean if track or not use_batch else None,
                            self.running_var if track or not use_batch else None, self.weight, self.bias,
                            training=use_batch, momentum=factor, eps=self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs over N (and L)."""

    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs over N, H, W."""

    _ndims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalization of (N, C, D, H, W) inputs."""

    _ndims = (5,)


class SyncBatchNorm(_BatchNorm):
    """torch.nn.SyncBatchNorm in one process: BatchNorm's math over the local batch, any input of 2 or
    more dims (N, C, *). ``convert_sync_batchnorm`` swaps the BatchNorm*d layers of a model for it.

    >>> SyncBatchNorm(3)(Tensor.randn(4, 3, 5)).shape
    (4, 3, 5)
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group=None, device=None, dtype=None, *,
                 bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim < 2:
            raise ValueError(f"expected at least 2D input (got {input.ndim}D input)")
        if input.shape[1] == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """``module`` with every BatchNorm*d in it replaced by a SyncBatchNorm sharing its parameters and
        buffers (torch's); a BatchNorm*d ``module`` itself gives a new SyncBatchNorm.

        >>> import nn; m = SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(BatchNorm1d(2))); type(m[0]).__name__
        'SyncBatchNorm'
        """
        out = module
        if isinstance(module, _BatchNorm):
            out = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                      process_group, bias=module.bias is not None)
            if module.affine:
                out.weight, out.bias = module.weight, module.bias
            out.running_mean, out.running_var = module.running_mean, module.running_var
            out.num_batches_tracked = module.num_batches_tracked
            out.training = module.training
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out


class _InstanceNorm(_NormBase):
    _spatial = 1

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None, *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)

    def forward(self, input: Tensor) -> Tensor:
        s = self._spatial
        if input.ndim not in (s + 1, s + 2):
            raise ValueError(f"expected {s + 1}D or {s + 2}D input (got {input.ndim}D input)")
        if input.ndim == s + 1:  # unbatched (C, *spatial)
            return self.forward(input.unsqueeze(0)).squeeze(0)
        if input.shape[1] != self.num_features and self.affine:
            raise ValueError(f"expected input's size at dim=1 to match num_features ({self.num_features}), "
                             f"but got: {input.shape[1]}.")
        if (self.training or not self.track_running_stats) and int(np.prod(input.shape[2:])) == 1:
            raise ValueError(f"Expected more than 1 spatial element when training, got input size {input.shape}")
        # torch's instance_norm: the batch's statistics unless evaluating with running ones; those move
        # by momentum (None means 0.1, and no num_batches_tracked count)
        return F.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                               use_input_stats=self.training or not self.track_running_stats,
                               momentum=0.1 if self.momentum is None else self.momentum, eps=self.eps)


class InstanceNorm1d(_InstanceNorm):
    """Per-sample, per-channel normalization of (N, C, L) or (C, L) inputs."""

    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Per-sample, per-channel normalization of (N, C, H, W) or (C, H, W) inputs."""

    _spatial = 2


class InstanceNorm3d(_InstanceNorm):
    _spatial = 3


class GroupNorm(Module):
    """Normalizes each of ``num_groups`` channel groups of every sample; per-channel affine."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        if affine:
            self.weight = Parameter(_zeros((num_channels,), dtype, device))
            if bias:
                self.bias = Parameter(_zeros((num_channels,), dtype, device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise RuntimeError(f"GroupNorm: expected input of shape (N, {self.num_channels}, *), got {input.shape}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class RMSNorm(Module):
    """x / sqrt(mean(x², trailing normalized_shape dims) + eps) * weight; ``eps=None`` uses the
    input dtype's machine epsilon, as torch."""

    def __init__(self, normalized_shape, eps: float | None = None, elementwise_affine: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(_zeros(self.normalized_shape, dtype, device))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        k = len(self.normalized_shape)
        if x.shape[x.ndim - k:] != self.normalized_shape:
            raise RuntimeError(f"RMSNorm: expected input with shape [*, {', '.join(map(str, self.normalized_shape))}]"
                               f", but got input of size {x.shape}")
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class CrossMapLRN2d(Module):
    """torch.nn.CrossMapLRN2d (Lua torch's legacy LRN over channels of (N, C, H, W) input): x · scale^-beta,
    scale = k + alpha/size · a running sum of x² over channels, with torch's running-sum quirk kept (the
    window starts at channel 0 until ``size // 2 + 1`` channels in, and channel 0 is never subtracted).
    The gradient is the engine's exact derivative of that forward; torch's hand-written backward is not
    (``torch.autograd.gradcheck`` fails on it), so gradients differ from torch's, values do not.

    >>> import engine
    >>> CrossMapLRN2d(3)(engine.ones(1, 4, 1, 1)).shape
    (1, 4, 1, 1)
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim != 4:
            raise ValueError(f"CrossMapLRN2d: Expected input to be 4D, got {input.ndim}D instead.")
        c, pre = input.shape[1], int((self.size - 1) / 2 + 1)
        sq = input * input
        cum = sq.cumsum(1)  # (N, C, H, W): Σ x² over channels 0..j
        hi = [min(j + pre - 1, c - 1) for j in range(c)]  # the last channel added for channel j
        scale = cum[:, hi]
        lo = [j - pre for j in range(c)]  # channels 1..j - pre were subtracted (never channel 0)
        if any(v >= 1 for v in lo):
            start = next(j for j, v in enumerate(lo) if v >= 1)
            gone = cum[:, [lo[j] for j in range(start, c)]] - sq[:, 0:1]
            scale = engine.cat([scale[:, :start], scale[:, start:] - gone], 1)
        scale = scale * (self.alpha / self.size) + self.k
        return input * scale ** -self.beta

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class LocalResponseNorm(Module):
    """x / (k + alpha/size * Σ x² over ``size`` neighbouring channels)^beta, as torch."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim < 3:
            raise ValueError(f"Expected 3D or higher dimensionality input (got {input.ndim} dimensions)")
        if input.numel() == 0:
            return input
        c, size = input.shape[1], self.size
        pad = [(0, 0)] * input.ndim
        pad[1] = (size // 2, (size - 1) // 2)
        sq = (input * input).pad(pad)  # (N, C + size - 1, ...)
        acc = sq[:, 0:c]
        for i in range(1, size):
            acc = acc + sq[:, i:i + c]
        div = (acc * (self.alpha / size) + self.k) ** self.beta
        return input / div

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
