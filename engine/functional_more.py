"""torch.nn.functional names engine.functional lacked (issue 15, second round), composed from existing
ops so the engine derives their backward: distances, bilinear, gumbel_softmax, channel dropouts, the
group/instance/RMS/local-response norms, two margin losses, affine_grid and grid_sample.
Installed into ``engine.functional`` by ``engine/__init__.py``.

>>> import engine, engine.functional as F
>>> F.pairwise_distance(engine.tensor([[0.0, 0.0]]), engine.tensor([[3.0, 4.0]]), eps=0.0).tolist()
[5.0]
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from engine.backend import get_xp
from engine.functional import _embedding_renorm_, _need_tensor, _same_dtype_as_weights
from engine.ops.movement import IndexOutOfRange
from engine.tensor import Tensor


def _F():
    import engine.functional as F

    return F


def _E():
    import engine

    return engine



# ---- distances and bilinear --------------------------------------------------------------------------


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """``‖x1 - x2 + eps‖_p`` over the last dim (broadcast), as torch."""
    _need_tensor(x1, "pairwise_distance", "x1")
    _need_tensor(x2, "pairwise_distance", "x2")
    nd = max(x1.ndim, x2.ndim)
    d = x1 - x2 + eps
    if nd == 0:
        return d.abs()
    return d.norm(p, -1, keepdim)


def pdist(input: Tensor, p: float = 2) -> Tensor:  # noqa: A002
    """Distances between each pair of rows of (N, M), upper triangle row by row: (N(N-1)/2,)."""
    _need_tensor(input, "pdist", "input")
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    if p < 0:
        raise RuntimeError(f"pdist only supports non-negative p values, got {p}")
    n = input.shape[0]
    i, j = np.triu_indices(n, 1)
    a = input[Tensor(i).to(input.device)]
    b = input[Tensor(j).to(input.device)]
    return (a - b).norm(p, -1)


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y_o = x1ᵀ W_o x2 + b_o``: input1 (..., n), input2 (..., m), weight (out, n, m) -> (..., out)."""
    for name, t in (("input1", input1), ("input2", input2), ("weight", weight)):
        _need_tensor(t, "bilinear", name)
    if weight.ndim != 3 or input1.shape[-1] != weight.shape[1] or input2.shape[-1] != weight.shape[2]:
        raise RuntimeError(f"bilinear: shapes don't match: input1 {input1.shape}, input2 {input2.shape}, weight "
                           f"{weight.shape} (expected (..., n), (..., m), (out, n, m))")
    if input1.shape[:-1] != input2.shape[:-1]:
        raise RuntimeError(f"bilinear: input1 and input2 must have the same leading dims, got {input1.shape} and "
                           f"{input2.shape}")
    for name, t in (("input1", input1), ("input2", input2)):
        _same_dtype_as_weights(f"bilinear ({name})", t, weight=weight, bias=bias)
    y = _E().einsum("...i,oij,...j->...o", input1, weight, input2)
    return y if bias is None else y + bias


def gumbel_softmax(logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1) -> Tensor:
    """Softmax of (logits + Gumbel noise) / tau; ``hard``: one-hot of the argmax in the forward with the
    soft gradient (straight-through). Noise from engine's generator (engine.manual_seed)."""
    _need_tensor(logits, "gumbel_softmax", "logits")
    u = _E().rand_like(logits)
    gumbels = -(-(u.clamp_min(np.finfo(logits.dtype).tiny)).log()).log()  # -log(Exp(1)) samples
    y = _F().softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y
    index = y.argmax(dim, keepdim=True)
    y_hard = _E().zeros_like(y).scatter(dim, index, 1.0)
    return y_hard - y.detach() + y


# ---- dropouts ----------------------------------------------------------------------------------------


def _check_p(p: float) -> None:
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _channel_mask(x: Tensor, p: float) -> Tensor:
    """Bernoulli(1 - p) keep mask of shape (x.shape[0], x.shape[1], 1, ...), dtype of x (torch's feature noise)."""
    if x.ndim < 2:
        raise RuntimeError(f"Feature dropout requires at least 2 dimensions in the input (got shape {x.shape})")
    shape = x.shape[:2] + (1,) * (x.ndim - 2)
    keep = _E().rand(*shape, dtype=x.dtype, device=x.device) >= p
    return keep.astype(x.dtype)


def _feature_dropout(op: str, nd: int):
    def fn(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
        _need_tensor(input, op, "input")
        _check_p(p)
        if input.ndim not in (nd + 1, nd + 2):
            if op == "dropout1d":
                raise RuntimeError(f"{op}: Expected {nd + 1}D or {nd + 2}D input, but received a {input.ndim}D "
                                   f"input (shape {input.shape})")
            warnings.warn(f"{op}: Received a {input.ndim}-D input to {op}, which is deprecated (as in torch); "
                          f"use dropout for entrywise dropout", stacklevel=2)
        if op == "dropout2d" and input.ndim == 3:
            warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                          "behavior is desired - input is interpreted as shape (N, C, L), as torch", stacklevel=2)
        if not training or p == 0 or input.numel() == 0:
            return input
        # torch: dropout1d/3d read any rank but the batched one as one unbatched sample; dropout2d always
        # drops along the first two dims (so a 3-D input is (N, C, L))
        unbatched = op != "dropout2d" and input.ndim != nd + 2
        x = input.unsqueeze(0) if unbatched else input
        out = x * 0 if p == 1 else x * _channel_mask(x, p) * (1 / (1 - p))
        out = out.squeeze(0) if unbatched else out
        return input.copy_(out) if inplace and not out.requires_grad else out

    fn.__name__ = op
    fn.__doc__ = (f"Zero whole channels of (N, C, {nd}-d) or (C, {nd}-d) input with probability p, scale the rest "
                  "by 1/(1-p) (identity when not training), as torch; other ranks as torch reads them (with its "
                  "deprecation warning; dropout2d takes a 3-D input as (N, C, L)).")
    return fn


dropout1d = _feature_dropout("dropout1d", 1)
dropout2d = _feature_dropout("dropout2d", 2)
dropout3d = _feature_dropout("dropout3d", 3)

_SELU_ALPHA_PRIME = -1.7580993408473766  # -selu's scale * alpha


def _alpha(input: Tensor, p: float, keep: Tensor) -> Tensor:
    a = ((1 - p) * (1 + p * _SELU_ALPHA_PRIME**2)) ** -0.5
    b = -a * _SELU_ALPHA_PRIME * p
    return (input * keep + _SELU_ALPHA_PRIME * (1 - keep)) * a + b


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:  # noqa: A002
    """Dropout for SELU networks: dropped entries take selu's negative saturation value and an affine
    map keeps mean 0 and variance 1, as torch."""
    return _alpha_dropout("alpha_dropout", input, p, training, input.ndim if isinstance(input, Tensor) else 0, inplace)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,  # noqa: A002
                          inplace: bool = False) -> Tensor:
    """alpha_dropout that drops whole channels of (N, C, ...)."""
    return _alpha_dropout("feature_alpha_dropout", input, p, training, 2, inplace)


def _alpha_dropout(op: str, input: Tensor, p: float, training: bool, mask_dims: int,  # noqa: A002
                   inplace: bool = False) -> Tensor:
    """alpha dropout with one keep decision per index of the first ``mask_dims`` dims (all: elementwise)."""
    _need_tensor(input, op, "input")
    _check_p(p)
    if not training or p == 0 or input.numel() == 0:
        return input
    if p == 1:
        out = input * 0
    else:
        if input.ndim < mask_dims:
            raise RuntimeError(f"Feature dropout requires at least 2 dimensions in the input (got shape {input.shape})")
        shape = input.shape[:mask_dims] + (1,) * (input.ndim - mask_dims)
        keep = (_E().rand(*shape, dtype=input.dtype, device=input.device) >= p).astype(input.dtype)
        out = _alpha(input, p, keep)
    return input.copy_(out) if inplace and not out.requires_grad else out


# ---- norms -------------------------------------------------------------------------------------------


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None, c: int) -> Tensor:
    shape = (1, c) + (1,) * (y.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,  # noqa: A002
               eps: float = 1e-5) -> Tensor:
    """Normalize (N, C, *) over each group of C/num_groups channels (and all spatial dims), then the
    per-channel affine, as torch."""
    _need_tensor(input, "group_norm", "input")
    if input.ndim < 2:
        raise RuntimeError(f"group_norm: Expected at least 2 dimensions for input tensor but received {input.ndim}")
    n, c = input.shape[:2]
    if c % num_groups:
        raise RuntimeError(f"group_norm: Expected number of channels in input to be divisible by num_groups, but got "
                           f"input of shape {list(input.shape)} and num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (c,):
            raise RuntimeError(f"group_norm: Expected {name} to be a vector of size equal to the number of channels "
                               f"in input, but got {name} of shape {list(t.shape)} and input of shape "
                               f"{list(input.shape)}")
    _same_dtype_as_weights("group_norm", input, weight=weight, bias=bias)
    # torch's check (_verify_batch_size of [N*C/G, G, *spatial]): only a lone value per group in all
    # the batch raises; otherwise a group of one value normalizes to 0
    size = [n * c // num_groups, num_groups, *input.shape[2:]]
    if math.prod(size[:1] + size[2:]) == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")
    x = input.reshape(n, num_groups, math.prod(input.shape[1:]) // num_groups)  # not -1: n may be 0
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, keepdim=True, correction=0)
    y = ((x - mean) / (var + eps).sqrt()).reshape(input.shape)
    return _affine(y, weight, bias, c)


def instance_norm(input: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,  # noqa: A002
                  weight: Tensor | None = None, bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize each (sample, channel) of (N, C, *) over its spatial dims; running stats (when given)
    move towards the batch-averaged statistics, as torch."""
    _need_tensor(input, "instance_norm", "input")
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected an input of at least 3 dimensions (N, C, ...), got shape "
                         f"{input.shape}")
    _same_dtype_as_weights("instance_norm", input, weight=weight, bias=bias, running_mean=running_mean,
                           running_var=running_var)
    c = input.shape[1]
    axes = tuple(range(2, input.ndim))
    if use_input_stats:
        if math.prod(input.shape[2:]) <= 1:
            raise ValueError(f"Expected more than 1 spatial element when training, got input size {input.shape}")
        mean = input.mean(axes, keepdim=True)
        var = input.var(axes, keepdim=True, correction=0)
        if running_mean is not None or running_var is not None:
            m = math.prod(input.shape[2:])
            with _E().no_grad():
                if running_mean is not None:
                    running_mean.mul_(1 - momentum).add_(mean.detach().reshape(input.shape[0], c).mean(0) * momentum)
                if running_var is not None:
                    unbiased = var.detach().reshape(input.shape[0], c) * (m / max(m - 1, 1))
                    running_var.mul_(1 - momentum).add_(unbiased.mean(0) * momentum)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("instance_norm: Expected running_mean and running_var to be defined when "
                             "use_input_stats is false")
        shape = (1, c) + (1,) * (input.ndim - 2)
        mean, var = running_mean.reshape(shape), running_var.reshape(shape)
    y = (input - mean) / (var + eps).sqrt()
    return _affine(y, weight, bias, c)


def rms_norm(input: Tensor, normalized_shape: Sequence[int] | int, weight: Tensor | None = None,  # noqa: A002
             eps: float | None = None) -> Tensor:
    """``x / sqrt(mean(x², last dims) + eps) * weight``; eps None: the dtype's machine epsilon, as torch."""
    _need_tensor(input, "rms_norm", "input")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0:
        raise RuntimeError(f"rms_norm: Expected normalized_shape to be at least 1-dimensional, i.e., containing at "
                           f"least one element, but got normalized_shape = [] (input of size {list(input.shape)})")
    if input.shape[input.ndim - k:] != shape or k > input.ndim:
        raise RuntimeError(f"rms_norm: Given normalized_shape={list(shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, shape))}], but got input of size {list(input.shape)}")
    if weight is not None and weight.shape != shape:
        raise RuntimeError(f"rms_norm: weight shape {weight.shape} must equal normalized_shape {shape}")
    if input.dtype.kind != "f":  # torch refuses an integer input; a float of another width is promoted
        _same_dtype_as_weights("rms_norm", input, weight=weight)
    eps = float(np.finfo(input.dtype).eps) if eps is None else eps
    axes = tuple(range(input.ndim - k, input.ndim))
    y = input * ((input * input).mean(axes, keepdim=True) + eps).rsqrt()
    return y if weight is None else y * weight


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,  # noqa: A002
                        k: float = 1.0) -> Tensor:
    """Divide each entry by (k + alpha · mean of squares over ``size`` neighbouring channels)^beta,
    channels zero-padded by size//2 before and (size-1)//2 after, as torch (integer input: the mean of the
    squares truncates, as torch's integer avg_pool).

    >>> import engine
    >>> local_response_norm(engine.ones(1, 2, 1), 2, alpha=1.0, k=0.0, beta=1.0).flatten().tolist()
    [2.0, 1.0]
    """
    _need_tensor(input, "local_response_norm", "input")
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: Expected 3D or higher dimensionality input (got {input.ndim} "
                         "dimensions)")
    if input.numel() == 0:
        return input
    c = input.shape[1]
    sq = input * input
    pad = [0, 0] * (input.ndim - 2) + [size // 2, (size - 1) // 2]
    padded = _F().pad(sq, pad)
    acc = None
    for j in range(size):
        part = padded.narrow(1, j, c)
        acc = part if acc is None else acc + part
    # torch: avg_pool over the squares (an integer input's mean truncates, as its integer avg_pool), then
    # mul(alpha).add(k).pow(beta), in that order
    mean = acc // size if acc.dtype.kind in "iu" else acc / size
    div = (mean * alpha + k) ** beta
    return input / div


# ---- losses ------------------------------------------------------------------------------------------


def multilabel_margin_loss(input: Tensor, target, size_average=None, reduce=None,  # noqa: A002
                           reduction: str = "mean") -> Tensor:
    """Multi-class multi-label hinge loss: for each sample, sum over its target classes j (target row
    read up to the first -1) and non-target classes i of max(0, 1 - (x_j - x_i)), divided by C."""
    F = _F()  # noqa: N806
    reduction = F._reduction_arg(size_average, reduce, reduction)
    _need_tensor(input, "multilabel_margin_loss", "input")
    t = target._data if isinstance(target, Tensor) else np.asarray(target)
    t = t.get() if hasattr(t, "get") else np.asarray(t)
    if input.ndim > 2 or t.shape != input.shape:
        raise RuntimeError(f"multilabel_margin_loss: inconsistent target size: {list(t.shape)} for input of size: "
                           f"{list(input.shape)}")
    if input.numel() == 0 and not (input.ndim == 2 and input.shape[0] == 0):
        raise RuntimeError(f"multilabel_margin_loss: Expected non-empty vector or matrix with optional 0-dim batch "
                           f"size, but got: {list(input.shape)}")
    x = input.reshape(1, -1) if input.ndim < 2 else input
    tt = t.reshape(x.shape).astype(np.int64)
    n, c = x.shape
    count = np.zeros((n, c))  # how often class j is listed as a target (before the first -1)
    is_target = np.zeros((n, c), dtype=bool)
    for r in range(n):
        for j in tt[r]:
            if j < 0:
                break
            if j >= c:
                raise RuntimeError("argument #2 'target' is out of range")  # torch's error
            count[r, j] += 1
            is_target[r, j] = True
    w = count[:, :, None] * (~is_target)[:, None, :]  # (N, C_j, C_i)
    margins = (1 - (x.unsqueeze(2) - x.unsqueeze(1))).relu()  # (N, C_j, C_i): 1 - (x_j - x_i)
    loss = (margins * Tensor(w.astype(x.dtype)).to(x.device)).sum((1, 2)) / c
    if input.ndim < 2:
        loss = loss.reshape(()) if input.ndim == 1 else loss.reshape(())
    return F._reduce(loss, reduction)


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function: Callable | None = None, margin: float = 1.0,
                                      swap: bool = False, reduction: str = "mean") -> Tensor:
    """max(d(a, p) - d(a, n) + margin, 0) with any distance (default pairwise_distance), as torch."""
    F = _F()  # noqa: N806
    reduction = F._reduction_arg(None, None, reduction)
    if margin <= 0:
        raise ValueError(f"triplet_margin_with_distance_loss: expected margin to be greater than 0, got {margin} "
                         "instead")
    dist = distance_function if distance_function is not None else pairwise_distance
    dp, dn = dist(anchor, positive), dist(anchor, negative)
    if swap:
        dn = _E().minimum(dn, dist(positive, negative))
    return F._reduce((dp - dn + margin).clamp_min(0), reduction)


# ---- spatial transformers ----------------------------------------------------------------------------


def _lin(n: int, align_corners: bool, dtype, device) -> Tensor:
    """n normalized coordinates in [-1, 1] (pixel centres when not align_corners)."""
    if n <= 1:
        v = np.zeros(n)
    else:
        v = np.linspace(-1, 1, n)
        if not align_corners:
            v = v * (n - 1) / n
    return Tensor(v.astype(dtype)).to(device)


def affine_grid(theta: Tensor, size: Sequence[int], align_corners: bool | None = None) -> Tensor:
    """Sampling grid (N, H, W, 2) (or (N, D, H, W, 3)) of the affine maps theta (N, 2, 3) (or (N, 3, 4)),
    as torch (align_corners None means False)."""
    _need_tensor(theta, "affine_grid", "theta")
    if theta.dtype.kind != "f":
        raise ValueError(f"Expected theta to have floating point type, but got torch.{theta.dtype}")
    align = bool(align_corners)
    size = tuple(size)
    if len(size) in (4, 5) and theta.ndim == 3 and theta.shape[1:] == (len(size) - 2, len(size) - 1) \
            and theta.shape[0] != size[0]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{size[0]}, {theta.shape[2]}] but got: [{theta.shape[0]}, {theta.shape[2]}].")
    if len(size) == 4:
        n, _, h, w = size
        if theta.shape != (n, 2, 3):
            raise ValueError(f"affine_grid: Expected a batch of 2D affine matrices of shape Nx2x3 for size "
                             f"{list(size)}. Got {list(theta.shape)}.")
        xs, ys = _lin(w, align, theta.dtype, theta.device), _lin(h, align, theta.dtype, theta.device)
        base = _E().stack([xs.reshape(1, w).expand(h, w), ys.reshape(h, 1).expand(h, w),
                           _E().ones(h, w, dtype=theta.dtype, device=theta.device)], -1)  # (H, W, 3)
        return (base.reshape(1, h * w, 3) @ theta.mT).reshape(n, h, w, 2)
    if len(size) == 5:
        n, _, d, h, w = size
        if theta.shape != (n, 3, 4):
            raise ValueError(f"affine_grid: Expected a batch of 3D affine matrices of shape Nx3x4 for size "
                             f"{list(size)}. Got {list(theta.shape)}.")
        xs, ys, zs = (_lin(k, align, theta.dtype, theta.device) for k in (w, h, d))
        shape = (d, h, w)
        base = _E().stack([xs.reshape(1, 1, w).expand(*shape), ys.reshape(1, h, 1).expand(*shape),
                           zs.reshape(d, 1, 1).expand(*shape),
                           _E().ones(*shape, dtype=theta.dtype, device=theta.device)], -1)
        return (base.reshape(1, d * h * w, 4) @ theta.mT).reshape(n, d, h, w, 3)
    raise NotImplementedError(f"affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                              f"respectively. Got size {list(size)}.")


def _unnormalize(g: Tensor, n: int, align: bool) -> Tensor:
    return (g + 1) * ((n - 1) / 2) if align else ((g + 1) * n - 1) / 2


def _host(a):
    return a.get() if hasattr(a, "get") else a


def _clip(x: Tensor, n: int) -> Tensor:
    """Clamp to [0, n - 1] with torch's clip_coordinates gradient: 0 at and beyond either end."""
    v = _host(x._data)
    x = _F().where(Tensor(v >= n - 1).to(x.device), float(n - 1), x)
    return _F().where(Tensor(~(v > 0)).to(x.device), 0.0, x)  # a NaN coordinate lands on 0, as here


def _reflect(x: Tensor, n: int, align: bool) -> Tensor:
    """torch's reflect_coordinates (then clip): reflect about the border (pixel centres or edges)
    until the coordinate lies in range; the gradient is ±1 as torch's, 0 for a one-pixel axis."""
    lo, span = (0.0, float(n - 1)) if align else (-0.5, float(n))
    if span <= 0:
        return x * 0
    y = x - lo
    sign = np.where(_host(y._data) < 0, -1.0, 1.0).astype(_host(y._data).dtype)
    y = y * Tensor(sign).to(x.device)  # |x - lo| with torch's gradient sign (+1 at 0)
    flips = _host((y / span).floor()._data)
    extra = y - Tensor(flips * span).to(x.device)  # fmod(y, span)
    odd = (flips % 2) == 1
    out = _F().where(Tensor(odd).to(x.device), (span - extra) + lo, extra + lo)
    return _clip(out, n)


def _reflect_index(i: np.ndarray, n: int, align: bool) -> np.ndarray:
    """_reflect (and clip) of integer coordinates, without gradient (bicubic's taps)."""
    lo, span = (0.0, float(n - 1)) if align else (-0.5, float(n))
    if span <= 0:
        return np.zeros_like(i)
    y = np.abs(i - lo)
    flips = np.floor(y / span)
    extra = np.fmod(y, span)
    out = np.where(flips % 2 == 1, span - extra + lo, extra + lo)
    return np.clip(out, 0, n - 1).astype(np.int64)


def _grid_sample_checks(input: Tensor, grid: Tensor, mode: str, padding_mode: str) -> None:
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', "
                         f"but got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    if input.dtype != grid.dtype:
        raise RuntimeError(f"grid_sampler(): expected input and grid to have same dtype, but input has "
                           f"{input.dtype} and grid has {grid.dtype}")
    if input.ndim not in (4, 5) or grid.ndim != input.ndim:
        raise RuntimeError(f"grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, but "
                           f"got input with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}")
    if input.shape[0] != grid.shape[0]:
        raise RuntimeError(f"grid_sampler(): expected grid and input to have same batch size, but got input with "
                           f"sizes {list(input.shape)} and grid with sizes {list(grid.shape)}")
    if grid.shape[-1] != input.ndim - 2:
        raise RuntimeError(f"grid_sampler(): expected grid to have size {input.ndim - 2} in last dimension, but got "
                           f"grid with sizes {list(grid.shape)}")
    for i in range(2, input.ndim):
        if input.shape[i] == 0:
            raise RuntimeError(f"grid_sampler(): expected input to have non-empty spatial dimensions, but input has "
                               f"sizes {list(input.shape)} with dimension {i} being empty")
    if mode == "bicubic" and input.ndim != 4:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    if input.dtype.kind != "f":
        raise RuntimeError(f"grid_sampler(): expected floating point input and grid, got {input.dtype}")


def _cubic_coeffs(t: Tensor) -> list:
    """torch's cubic convolution weights (A = -0.75) of the taps at -1, 0, 1, 2 for fraction t."""
    a = -0.75

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear", padding_mode: str = "zeros",  # noqa: A002
                align_corners: bool | None = None) -> Tensor:
    """Sample input (N, C, H, W) at grid (N, Ho, Wo, 2) of (x, y) in [-1, 1], or (N, C, D, H, W) at
    (N, Do, Ho, Wo, 3) of (x, y, z): bilinear (trilinear for 5-D), nearest or bicubic (4-D), padding
    zeros, border or reflection; gradients to input and grid, as torch (nearest: a zero grid gradient).

    >>> grid_sample(Tensor.arange(4.0).reshape(1, 1, 2, 2), Tensor.zeros(1, 1, 1, 2),
    ...             align_corners=True).numpy().ravel().tolist()
    [1.5]
    """
    _need_tensor(input, "grid_sample", "input")
    _need_tensor(grid, "grid_sample", "grid")
    _grid_sample_checks(input, grid, mode, padding_mode)
    align = bool(align_corners)
    n, c, *size = input.shape
    nd = len(size)
    out = grid.shape[1:-1]
    flat = input.reshape(n, c, math.prod(size))
    # source coordinate per spatial axis (D, H, W order; the grid lists x (W) first)
    coords = [_unnormalize(grid[..., nd - 1 - a], size[a], align) for a in range(nd)]
    if mode != "bicubic":  # bicubic applies the padding mode to each tap instead
        if padding_mode == "border":
            coords = [_clip(x, m) for x, m in zip(coords, size)]
        elif padding_mode == "reflection":
            coords = [_reflect(x, m, align) for x, m in zip(coords, size)]

    def tap(idx, weight):
        """weight (N, *out) times input at the integer positions ``idx`` (one array per axis); zero outside."""
        inside = np.ones(idx[0].shape, dtype=bool)
        pos = np.zeros(idx[0].shape, dtype=np.int64)
        for i, m in zip(idx, size):
            inside &= (i >= 0) & (i < m)
            pos = pos * m + np.clip(i, 0, m - 1)
        L = math.prod(out)
        g = np.ascontiguousarray(np.broadcast_to(pos.reshape(n, 1, L), (n, c, L)))
        vals = flat.gather(2, Tensor(g).to(input.device)).reshape(n, c, *out)
        if not inside.all():  # masked, not multiplied: an inf outside must not become 0·inf
            vals = vals.masked_fill(Tensor(~inside[:, None]).to(input.device), 0)
        return vals * weight.unsqueeze(1)

    host = [_host(x._data) for x in coords]
    if mode == "nearest":  # round half to even, as torch's nearbyint; the grid gets a zero gradient
        one = _F().where(Tensor(np.ones(coords[0].shape, dtype=bool)).to(input.device), 1.0, coords[0])
        return tap([np.rint(v).astype(np.int64) for v in host], one)
    base = [np.floor(v).astype(np.int64) for v in host]
    frac = [x - Tensor(b.astype(x.dtype)).to(x.device) for x, b in zip(coords, base)]
    if mode == "bilinear":
        y = None
        for corner in itertools.product((0, 1), repeat=nd):
            w = None
            for f, k in zip(frac, corner):
                wk = f if k else 1 - f
                w = wk if w is None else w * wk
            v = tap([b + k for b, k in zip(base, corner)], w)
            y = v if y is None else y + v
        return y
    cy, cx = _cubic_coeffs(frac[0]), _cubic_coeffs(frac[1])
    y = None
    for i, j in itertools.product(range(4), range(4)):
        iy, ix = base[0] - 1 + i, base[1] - 1 + j
        if padding_mode == "border":
            iy, ix = np.clip(iy, 0, size[0] - 1), np.clip(ix, 0, size[1] - 1)
        elif padding_mode == "reflection":
            iy, ix = _reflect_index(iy, size[0], align), _reflect_index(ix, size[1], align)
        v = tap([iy, ix], cy[i] * cx[j])
        y = v if y is None else y + v
    return y


# ---- names that are torch spellings of existing functions --------------------------------------------


def _with_indices(name: str) -> Callable:
    def fn(*args, **kwargs):
        kwargs["return_indices"] = True
        return getattr(_F(), name)(*args, **kwargs)

    fn.__name__ = name + "_with_indices"
    fn.__doc__ = f"``{name}(..., return_indices=True)``: (output, indices)."
    return fn


def linear_cross_entropy(input: Tensor, linear_weight: Tensor, target: Tensor, *,  # noqa: A002
                         linear_bias: Tensor | None = None, weight: Tensor | None = None, reduction: str = "mean",
                         ignore_index: int | None = None, label_smoothing: float = 0.0, options=None) -> Tensor:
    """``cross_entropy(linear(input, linear_weight, linear_bias), target, ...)`` as torch 2.13's reference
    path: input (N, in) or (in,); linear_weight (C, *d, in) gives logits (N, C, *d) (a K-dimensional loss).
    ``options`` (torch's chunking) is accepted and changes nothing here: the chunked path computes the
    same loss. ``ignore_index`` None means -100 (class-index targets only).

    >>> import engine
    >>> round(linear_cross_entropy(engine.ones(2, 3), engine.zeros(4, 3), engine.tensor([0, 1])).item(), 4)
    1.3863
    """
    F = _F()  # noqa: N806
    fn = "linear_cross_entropy"
    for name, t in (("input", input), ("linear_weight", linear_weight), ("target", target)):
        _need_tensor(t, fn, name)
    if input.ndim not in (1, 2):
        raise RuntimeError(f"{fn}: expected input with dimensionality 1 or 2, got {input.ndim} (shape {input.shape})")
    if linear_weight.ndim < 2:
        raise RuntimeError(f"{fn}: expected linear_weight with dimensionality at least 2, got {linear_weight.ndim} "
                           f"(shape {linear_weight.shape})")
    batch, in_features = input.shape[:-1], input.shape[-1]
    if in_features != linear_weight.shape[-1]:
        raise RuntimeError(f"{fn}: expected equal input and linear_weight last dimensions (in_features), got "
                           f"{in_features} and {linear_weight.shape[-1]} (shapes {input.shape} and "
                           f"{linear_weight.shape})")
    classes, out_features = linear_weight.shape[0], linear_weight.shape[1:-1]
    if linear_bias is not None and linear_bias.shape != (classes, *out_features):
        raise RuntimeError(f"{fn}: expected linear_bias shape {(classes, *out_features)}, got {linear_bias.shape}")
    if out_features and not batch:
        raise RuntimeError(f"{fn}: K-dimensional loss defined by linear_weight shape {linear_weight.shape} requires "
                           f"batched input, (N, {in_features}), got unbatched input with shape {input.shape}")
    logits_shape = (*batch, classes, *out_features)
    if target.shape == logits_shape and ignore_index is not None:
        raise RuntimeError(f"{fn}: ignore_index cannot be specified when target contains probabilities")
    rows = math.prod(out_features, start=classes)
    bias = None if linear_bias is None else linear_bias.reshape(rows)
    logits = F.linear(input, linear_weight.reshape(rows, in_features), bias).reshape(logits_shape)
    return F.cross_entropy(logits, target, weight=weight, reduction=reduction,
                           ignore_index=-100 if ignore_index is None else ignore_index,
                           label_smoothing=label_smoothing)


FUNCTIONS = {
    "linear_cross_entropy": linear_cross_entropy,
    "pairwise_distance": pairwise_distance, "pdist": pdist, "bilinear": bilinear, "gumbel_softmax": gumbel_softmax,
    "dropout1d": dropout1d, "dropout2d": dropout2d, "dropout3d": dropout3d, "alpha_dropout": alpha_dropout,
    "feature_alpha_dropout": feature_alpha_dropout, "group_norm": group_norm, "instance_norm": instance_norm,
    "rms_norm": rms_norm, "local_response_norm": local_response_norm,
    "multilabel_margin_loss": multilabel_margin_loss,
    "triplet_margin_with_distance_loss": triplet_margin_with_distance_loss, "affine_grid": affine_grid,
    "grid_sample": grid_sample,
}


# ---- embedding_bag and the 3-d pooling spellings ------------------------------------------------------


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor | None = None, max_norm=None,  # noqa: A002
                  norm_type: float = 2, scale_grad_by_freq: bool = False, mode: str = "mean",
                  sparse: bool = False, per_sample_weights: Tensor | None = None,
                  include_last_offset: bool = False, padding_idx: int | None = None) -> Tensor:
    """Sum, mean or max of the embedding rows of each bag: input (B, N) (one bag per row) or 1-D with
    ``offsets`` (bag starts); padding_idx entries are left out; an empty bag gives zeros, as torch.
    ``max_norm`` renormalises the looked-up rows of ``weight`` in place first; ``scale_grad_by_freq``
    divides each row's gradient by its id's count in ``input`` (sum and mean modes). ``sparse``: ``weight.grad``
    is a sparse COO tensor (see F.embedding).

    >>> w = Tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> embedding_bag(Tensor([[0, 1]], dtype="int64"), w, mode="sum").tolist()
    [[4.0, 6.0]]
    """
    E = _E()  # noqa: N806
    _need_tensor(weight, "embedding_bag", "weight")
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode has to be one of sum, mean or max, got {mode!r}")
    if scale_grad_by_freq and mode == "max":
        raise ValueError("max mode does not support scaling the gradient by the frequency")
    if sparse and mode == "max":
        raise ValueError("max mode does not support sparse weights")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                  f"supported for mode='sum' (got mode='{mode}'). Please open a feature request "
                                  "on GitHub.")
    idx = input._data if isinstance(input, Tensor) else np.asarray(input)
    idx = np.asarray(idx.get() if hasattr(idx, "get") else idx).astype(np.int64)
    n_rows = weight.shape[0]
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n_rows
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError("embedding_bag: if input is 2D, then offsets has to be None, as input is treated "
                             "is a mini-batch of fixed length sequences.")
        b, n = idx.shape
        bag = np.repeat(np.arange(b), n)
        flat = idx.reshape(-1)
    elif idx.ndim == 1:
        if offsets is None:
            raise ValueError("embedding_bag: offsets has to be a 1D Tensor but got None")
        off = offsets._data if isinstance(offsets, Tensor) else np.asarray(offsets)
        off = np.asarray(off.get() if hasattr(off, "get") else off).astype(np.int64)
        if off.size and off[0] != 0:
            raise RuntimeError(f"offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start "
                               f"from position 0. However, got {off[0]}")
        if include_last_offset:
            off = off[:-1]
        b = len(off)
        bag = np.searchsorted(off, np.arange(len(idx)), side="right") - 1
        flat = idx
    else:
        raise ValueError(f"embedding_bag: input has to be 1D or 2D Tensor, but got Tensor of dimension {idx.ndim}")
    if flat.size and (flat.min() < 0 or flat.max() >= n_rows):
        raise IndexOutOfRange(f"embedding_bag: Expected idx >= 0 && idx < num_embeddings but found an index "
                              f"outside [0, {n_rows})")
    if max_norm is not None:
        _embedding_renorm_(weight, flat, max_norm, norm_type)
    keep = np.ones(len(flat), dtype=bool) if padding_idx is None else flat != padding_idx
    keep &= bag >= 0
    if sparse:  # weight.grad: a sparse COO tensor, one entry per non-padding index (engine/sparse.py)
        rows = _F().embedding(Tensor(flat[keep]).to(weight.device), weight, scale_grad_by_freq=scale_grad_by_freq,
                              sparse=True)
    else:
        rows = weight[Tensor(flat[keep]).to(weight.device)]  # (K, D)
    if scale_grad_by_freq and not sparse:  # value unchanged, each row's gradient / how often its id occurs in input
        freq = np.bincount(flat, minlength=n_rows)[flat[keep]][:, None].astype(weight.dtype)
        rows = rows.detach() + (rows - rows.detach()) * Tensor(1 / freq).to(weight.device)
    if per_sample_weights is not None:
        psw = per_sample_weights.reshape(-1)[Tensor(np.flatnonzero(keep)).to(weight.device)]
        rows = rows * psw.unsqueeze(-1)
    bags = Tensor(bag[keep]).to(weight.device)
    d = weight.shape[1]
    if mode == "max":
        out = E.zeros(b, d, dtype=weight.dtype, device=weight.device)
        if rows.shape[0]:
            out = out.scatter_reduce(0, bags.unsqueeze(-1).expand(-1, d), rows, "amax", include_self=False)
        return out
    out = E.zeros(b, d, dtype=weight.dtype, device=weight.device).index_add(0, bags, rows)
    if mode == "mean":
        counts = np.bincount(bag[keep], minlength=b).astype(weight.dtype)
        out = out / Tensor(np.maximum(counts, 1)[:, None]).to(weight.device)
    return out


def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):  # noqa: A002
    """Max over torch's adaptive windows of (N, C, D, H, W); ``return_indices``: flat indices into D·H·W."""
    return _F()._adaptive_max("adaptive_max_pool3d", 3, input, output_size, return_indices)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:  # noqa: A002
    """Power-average pooling over 3-d windows: (sum of x^p over each window)^(1/p)."""
    return _F()._lp_pool("lp_pool3d", 3, input, norm_type, kernel_size, stride, ceil_mode)


def max_unpool3d(input: Tensor, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:  # noqa: A002
    """Partial inverse of max_pool3d (with ``return_indices=True``): zeros except at the maxima."""
    return _F()._max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding, output_size)


FUNCTIONS.update({"embedding_bag": embedding_bag, "adaptive_max_pool3d": adaptive_max_pool3d,
                  "lp_pool3d": lp_pool3d, "max_unpool3d": max_unpool3d})


def _fractional_starts(u, n_in: int, n_out: int, k: int, dtype):
    """torch's window starts (N, C, n_out) for samples ``u`` (N, C), in the input's float type as its
    kernel: floor((i + u) * alpha) - floor(u * alpha) with alpha = (n_in - k) / (n_out - 1); the last
    window ends at the input's end."""
    xp = get_xp("cpu") if isinstance(u, np.ndarray) else get_xp("cuda")
    i = xp.arange(max(n_out - 1, 0), dtype=dtype)
    alpha = dtype.type(n_in - k) / dtype.type(max(n_out - 1, 1))
    u = u.astype(dtype)[..., None]
    starts = ((i + u) * alpha).astype(np.int64) - (u * alpha).astype(np.int64)
    last = xp.full(u.shape, n_in - k, dtype=np.int64)
    return xp.concatenate([starts, last], axis=-1) if n_out > 0 else starts


def _fractional_max(op: str, nd: int, input: Tensor, kernel_size, output_size, output_ratio,  # noqa: A002
                    return_indices: bool, _random_samples):
    """Max over torch's pseudo-random fractional windows: the flat argmax per window is found on the
    arrays (first maximum; a NaN wins, the last one), then the input is gathered there, so the
    gradient goes to each window's maximum as torch's backward does."""
    F = _F()
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op} requires specifying either an output_size or an output_ratio")
    x = F._float_input(input, op)
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}(): Expected {nd + 1}D or {nd + 2}D tensor, but got input of shape {x.shape}")
    unbatched = x.ndim == nd + 1
    x = x.unsqueeze(0) if unbatched else x
    n, c, space = x.shape[0], x.shape[1], x.shape[2:]
    k = _tuple(kernel_size, nd)
    if output_size is None:
        out = tuple(int(s * r) for s, r in zip(space, _tuple(output_ratio, nd), strict=True))
    else:
        out = _tuple(output_size, nd)
    if _random_samples is None:
        _random_samples = _E().rand(n, c, nd, dtype=x.dtype, device=x.device)
    u = _random_samples._data if isinstance(_random_samples, Tensor) else np.asarray(_random_samples)
    # torch's checks, in its words: a longer batch is allowed (its first n rows are used)
    if u.ndim != 3:
        raise RuntimeError(f"Expect _random_samples to have 3 dimensions, got {u.ndim}")
    if u.shape[2] != nd:
        raise RuntimeError(f"Expect _random_samples.size(2) equals to {nd}; got {u.shape[2]}.")
    if u.shape[1] != c:
        raise RuntimeError("Expect _random_samples.size(1) equals to input channel size.")
    if u.shape[0] < n:
        raise RuntimeError("Expect _random_samples.size(0) no less then input batch size.")
    u = u[:n]
    for j in (0, 2, 1) if nd == 3 else (0, 1):  # torch's order of checks
        if out[j] + k[j] - 1 > space[j] - (nd == 3):  # torch's 3-d check is strict, its 2-d one not
            where = ("time", "height", "width")[j + 3 - nd]
            raise RuntimeError(f"{op}{'_out' * (nd == 3)}(): pool {where} {k[j]} too large relative to input "
                               f"{where} {space[j]}")
    xp = get_xp(x.device)
    flat = xp.zeros((n, c) + (1,) * (2 * nd), dtype=np.int64)  # (N, C, o1, k1, o2, k2, ...)
    stride = 1
    for j in reversed(range(nd)):
        sample = u[:, :, nd - 1 - j] if nd == 2 else u[:, :, j]  # torch: 2-d samples are (w, h); 3-d (t, h, w)
        pos = _fractional_starts(sample, space[j], out[j], k[j], x.dtype)[..., None] + xp.arange(k[j])
        shape = [n, c] + [1] * (2 * nd)
        shape[2 + 2 * j], shape[3 + 2 * j] = out[j], k[j]
        flat = flat + pos.reshape(shape) * stride
        stride *= space[j]
    flat = flat.transpose((0, 1) + tuple(range(2, 2 + 2 * nd, 2)) + tuple(range(3, 3 + 2 * nd, 2)))
    flat = xp.broadcast_to(flat, (n, c) + out + k).reshape(n, c, math.prod(out), math.prod(k))
    xf = x.reshape(n, c, math.prod(space))  # not -1: N may be 0
    vals = xp.take_along_axis(xf._data, flat.reshape(n, c, math.prod(out + k)), axis=2).reshape(flat.shape)
    nan = xp.isnan(vals)
    pick = xp.where(nan.any(-1), flat.shape[-1] - 1 - xp.argmax(nan[..., ::-1], -1), xp.argmax(vals, -1))
    idx = xp.take_along_axis(flat, pick[..., None], axis=-1).reshape((n, c) + out)
    y = xf.gather(2, idx.reshape(n, c, math.prod(out))).reshape(n, c, *out)
    y, idx = (y[0], Tensor(idx[0])) if unbatched else (y, Tensor(idx))
    return (y, idx) if return_indices else y


def _tuple(v, n: int) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def fractional_max_pool2d(input: Tensor, kernel_size, output_size=None, output_ratio=None,  # noqa: A002
                          return_indices: bool = False, _random_samples=None):
    """Fractional max pooling (Graham) over (N, C, H, W): windows of ``kernel_size`` at torch's
    pseudo-random starts from ``_random_samples`` (N, C, 2) in [0, 1), drawn from the engine's
    generator when not given; ``return_indices``: flat indices into H·W.

    >>> x = Tensor.arange(16.0).reshape(1, 1, 4, 4)
    >>> fractional_max_pool2d(x, 2, output_size=2, _random_samples=Tensor([[[0.5, 0.5]]])).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    return _fractional_max("fractional_max_pool2d", 2, input, kernel_size, output_size, output_ratio,
                           return_indices, _random_samples)


def fractional_max_pool3d(input: Tensor, kernel_size, output_size=None, output_ratio=None,  # noqa: A002
                          return_indices: bool = False, _random_samples=None):
    """Fractional max pooling over (N, C, T, H, W), as ``fractional_max_pool2d`` with samples
    (N, C, 3); ``return_indices``: flat indices into T·H·W."""
    return _fractional_max("fractional_max_pool3d", 3, input, kernel_size, output_size, output_ratio,
                           return_indices, _random_samples)


FUNCTIONS.update({"fractional_max_pool2d": fractional_max_pool2d, "fractional_max_pool3d": fractional_max_pool3d})


# ---- multi-head attention ------------------------------------------------------------------------------


def _additive_mask(mask, dtype, device, what: str) -> Tensor | None:
    """A bool mask (True = not allowed) as an additive float mask (-inf there); a float mask as is."""
    if mask is None:
        return None
    arr = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if arr.dtype == bool:
        xp = get_xp(device)
        return Tensor(xp.where(xp.asarray(arr), -np.inf, 0.0).astype(dtype))
    if arr.dtype.kind != "f":
        raise AssertionError(f"only bool and floating types of {what} are supported")
    return mask if isinstance(mask, Tensor) else Tensor(arr.astype(dtype))


def multi_head_attention_forward(query: Tensor, key: Tensor, value: Tensor, embed_dim_to_check: int, num_heads: int,
                                 in_proj_weight: Tensor | None, in_proj_bias: Tensor | None, bias_k: Tensor | None,
                                 bias_v: Tensor | None, add_zero_attn: bool, dropout_p: float,
                                 out_proj_weight: Tensor, out_proj_bias: Tensor | None, training: bool = True,
                                 key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                                 use_separate_proj_weight: bool = False, q_proj_weight: Tensor | None = None,
                                 k_proj_weight: Tensor | None = None, v_proj_weight: Tensor | None = None,
                                 static_k: Tensor | None = None, static_v: Tensor | None = None,
                                 average_attn_weights: bool = True, is_causal: bool = False):
    """torch.nn.functional.multi_head_attention_forward: query (L, N, E), key/value (S, N, ·) (or
    unbatched (L, E), (S, ·)) -> (output (L, N, E), weights (N, L, S) averaged over heads, or
    (N, H, L, S), or None). Bool masks are True where attention is not allowed; float masks are
    added to the scores. ``is_causal`` is a hint that ``attn_mask`` is causal (it must be given).

    >>> x = Tensor.ones(2, 1, 4)
    >>> w, b = Tensor.zeros(12, 4), Tensor.zeros(12)
    >>> out, attn = multi_head_attention_forward(x, x, x, 4, 2, w, b, None, None, False, 0.0, Tensor.zeros(4, 4), None)
    >>> out.shape, attn.shape
    ((2, 1, 4), (1, 2, 2))
    """
    F = _F()  # noqa: N806
    batched = query.ndim == 3
    if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
        raise AssertionError(f"multi_head_attention_forward: query, key and value should be all 2-D (unbatched) or "
                             f"3-D (batched), got {query.ndim}-D, {key.ndim}-D and {value.ndim}-D")
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0) if isinstance(key_padding_mask, Tensor) \
                else np.asarray(key_padding_mask)[None]
    L, N, E = query.shape
    S = key.shape[0]
    H = num_heads
    if E != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {E}")
    hd = E // H
    if hd * H != E:
        raise AssertionError(f"embed_dim {E} not divisible by num_heads {H}")
    if key.shape[:2] != value.shape[:2]:
        raise AssertionError(f"key shape {key.shape} does not match value shape {value.shape}")
    bq, bk, bv = (None,) * 3 if in_proj_bias is None else (in_proj_bias[:E], in_proj_bias[E:2 * E],
                                                           in_proj_bias[2 * E:])
    if use_separate_proj_weight:
        wq, wk, wv = q_proj_weight, k_proj_weight, v_proj_weight
    else:
        wq, wk, wv = in_proj_weight[:E], in_proj_weight[E:2 * E], in_proj_weight[2 * E:]
    q, k, v = F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)
    mask = _additive_mask(attn_mask, q.dtype, q.device, "attn_mask")
    if mask is not None:
        want = (L, S) if mask.ndim == 2 else (N * H, L, S)
        if mask.ndim not in (2, 3) or mask.shape != want:
            raise RuntimeError(f"The shape of the {mask.ndim}D attn_mask is {mask.shape}, but should be {want}.")
        mask = mask.reshape(1, L, S) if mask.ndim == 2 else mask  # (1 or N·H, L, S)
    kpm = _additive_mask(key_padding_mask, q.dtype, q.device, "key_padding_mask")
    if kpm is not None and kpm.shape != (N, S):
        raise AssertionError(f"expecting key_padding_mask shape of {(N, S)}, but got {kpm.shape}")
    if bias_k is not None and bias_v is not None:
        k = F.concatenate([k, bias_k.reshape(1, 1, E).expand(1, N, E)], 0)
        v = F.concatenate([v, bias_v.reshape(1, 1, E).expand(1, N, E)], 0)
        mask = None if mask is None else F.pad(mask, (0, 1))
        kpm = None if kpm is None else F.pad(kpm, (0, 1))
    q = q.reshape(L, N * H, hd).transpose(0, 1)  # (N·H, L, hd)
    k = static_k if static_k is not None else k.reshape(k.shape[0], N * H, hd).transpose(0, 1)  # (N·H, S', hd)
    v = static_v if static_v is not None else v.reshape(v.shape[0], N * H, hd).transpose(0, 1)
    if add_zero_attn:
        z = _E().zeros(N * H, 1, hd, dtype=q.dtype, device=q.device)
        k, v = F.concatenate([k, z], 1), F.concatenate([v, z], 1)
        mask = None if mask is None else F.pad(mask, (0, 1))
        kpm = None if kpm is None else F.pad(kpm, (0, 1))
    s = k.shape[1]
    scores = (q * (1.0 / math.sqrt(hd))) @ k.transpose(1, 2)  # (N·H, L, S')
    if mask is not None:
        scores = scores + mask
    if kpm is not None:
        scores = (scores.reshape(N, H, L, s) + kpm.reshape(N, 1, 1, s)).reshape(N * H, L, s)
    weights = F.softmax(scores, -1)
    dropped = F.dropout(weights, dropout_p, training) if dropout_p > 0 and training else weights
    out = (dropped @ v).transpose(0, 1).reshape(L * N, E)
    out = F.linear(out, out_proj_weight, out_proj_bias).reshape(L, N, E)
    if not batched:
        out = out.squeeze(1)
    if not need_weights:
        return out, None
    w = weights.reshape(N, H, L, s)
    w = w.mean(1) if average_attn_weights else w
    return out, (w if batched else w.squeeze(0))


FUNCTIONS["multi_head_attention_forward"] = multi_head_attention_forward


def install(F) -> None:  # noqa: N803
    """Add the functions ``F`` (engine.functional) lacks, and the ``*_with_indices`` spellings."""
    for name, fn in FUNCTIONS.items():
        if not hasattr(F, name):
            setattr(F, name, fn)
    for name in ("max_pool1d", "max_pool2d", "max_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
                 "adaptive_max_pool3d", "fractional_max_pool2d", "fractional_max_pool3d"):
        if hasattr(F, name) and not hasattr(F, name + "_with_indices"):
            setattr(F, name + "_with_indices", _with_indices(name))
