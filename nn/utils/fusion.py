"""torch.nn.utils.fusion: fold an eval-mode BatchNorm into the conv or linear layer before it (one
layer at inference: ``bn(conv(x)) == fused(x)``), with torch's math and checks.

>>> import engine, nn
>>> conv, bn = nn.Conv2d(2, 3, 1).eval(), nn.BatchNorm2d(3).eval()
>>> x = engine.randn(1, 2, 4, 4)
>>> bool((fuse_conv_bn_eval(conv, bn)(x) - bn(conv(x))).abs().max() < 1e-5)
True
"""

from __future__ import annotations

import copy

from engine import Tensor, ones_like, rsqrt, zeros_like
from nn.module import Module, Parameter

__all__ = ["fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights"]


def fuse_conv_bn_eval(conv: Module, bn: Module, transpose: bool = False) -> Module:
    """A new conv module (a deep copy of ``conv``) computing ``bn(conv(x))``; both must be in eval mode and
    ``bn`` must track running stats. ``transpose``: ``conv`` is a transposed conv (out channels on dim 1).

    >>> import nn
    >>> fused = fuse_conv_bn_eval(nn.Conv1d(2, 3, 1).eval(), nn.BatchNorm1d(3).eval()); fused.weight.shape
    (3, 2, 1)
    """
    if conv.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    fused_conv = copy.deepcopy(conv)
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError("bn.running_mean and bn.running_var must not be None")
    fused_conv.weight, fused_conv.bias = fuse_conv_bn_weights(
        fused_conv.weight, fused_conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias, transpose)
    return fused_conv


def fuse_conv_bn_weights(conv_w: Tensor, conv_b: Tensor | None, bn_rm: Tensor, bn_rv: Tensor, bn_eps: float,
                         bn_w: Tensor | None, bn_b: Tensor | None,
                         transpose: bool = False) -> tuple[Parameter, Parameter]:
    """The fused conv weight and bias, as Parameters: ``w * (bn_w / sqrt(bn_rv + eps))`` per out channel and
    ``(conv_b - bn_rm) / sqrt(bn_rv + eps) * bn_w + bn_b`` (a missing conv bias or bn affine is zeros/ones).

    >>> import engine
    >>> w, b = fuse_conv_bn_weights(engine.ones(2, 1, 1), None, engine.zeros(2), engine.ones(2), 0.0, None, None)
    >>> w.flatten().tolist(), b.tolist(), b.requires_grad
    ([1.0, 1.0], [0.0, 0.0], False)
    """
    conv_weight_dtype = conv_w.dtype
    conv_bias_dtype = conv_b.dtype if conv_b is not None else conv_weight_dtype
    if conv_b is None:
        conv_b = zeros_like(bn_rm)
    if bn_w is None:
        bn_w = ones_like(bn_rm)
    if bn_b is None:
        bn_b = zeros_like(bn_rm)
    bn_var_rsqrt = rsqrt(bn_rv + bn_eps)
    # the per-channel scale lines up with the out channels: dim 0 of a conv's weight, dim 1 of a transposed one's
    shape = ([1, -1] if transpose else [-1, 1]) + [1] * (len(conv_w.shape) - 2)
    fused_conv_w = (conv_w * (bn_w * bn_var_rsqrt).reshape(shape)).to(dtype=conv_weight_dtype)
    fused_conv_b = ((conv_b - bn_rm) * bn_var_rsqrt * bn_w + bn_b).to(dtype=conv_bias_dtype)
    return Parameter(fused_conv_w, conv_w.requires_grad), Parameter(fused_conv_b, conv_b.requires_grad)


def fuse_linear_bn_eval(linear: Module, bn: Module) -> Module:
    """A new Linear (a deep copy of ``linear``) computing ``bn(linear(x))``; both in eval mode, and
    ``bn.num_features`` equal to ``linear.out_features`` or 1.

    >>> import nn
    >>> fuse_linear_bn_eval(nn.Linear(2, 3).eval(), nn.BatchNorm1d(3).eval()).weight.shape
    (3, 2)
    """
    if linear.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    fused_linear = copy.deepcopy(linear)
    # bn's channels must broadcast against linear's out features, keeping the weight's and bias's shapes
    if linear.out_features != bn.num_features and bn.num_features != 1:
        raise AssertionError(
            f"To fuse, linear.out_features == bn.num_features or bn.num_features == 1, "
            f"got linear.out_features={linear.out_features} and bn.num_features={bn.num_features}")
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError("bn.running_mean and bn.running_var must not be None")
    fused_linear.weight, fused_linear.bias = fuse_linear_bn_weights(
        fused_linear.weight, fused_linear.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
    return fused_linear


def fuse_linear_bn_weights(linear_w: Tensor, linear_b: Tensor | None, bn_rm: Tensor, bn_rv: Tensor, bn_eps: float,
                           bn_w: Tensor, bn_b: Tensor) -> tuple[Parameter, Parameter]:
    """The fused linear weight and bias, as Parameters: ``w * scale[:, None]`` and ``(b - bn_rm) * scale + bn_b``
    with ``scale = bn_w / sqrt(bn_rv + eps)``.

    >>> import engine
    >>> w, b = fuse_linear_bn_weights(engine.ones(2, 3), None, engine.ones(2), engine.ones(2), 0.0,
    ...                               engine.full((2,), 2.0), engine.zeros(2))
    >>> w.tolist()[0], b.tolist()
    ([2.0, 2.0, 2.0], [-2.0, -2.0])
    """
    linear_weight_dtype = linear_w.dtype
    linear_bias_dtype = linear_b.dtype if linear_b is not None else linear_weight_dtype
    if linear_b is None:
        linear_b = zeros_like(bn_rm)
    bn_scale = bn_w * rsqrt(bn_rv + bn_eps)
    fused_w = linear_w * bn_scale.unsqueeze(-1).to(dtype=linear_weight_dtype)
    fused_b = ((linear_b - bn_rm) * bn_scale + bn_b).to(dtype=linear_bias_dtype)
    return Parameter(fused_w, linear_w.requires_grad), Parameter(fused_b, linear_b.requires_grad)
