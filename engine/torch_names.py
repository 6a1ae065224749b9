"""torch names a PyTorch user may call that the engine lacked (issue 17): top-level spellings of
functional ops (torch.batch_norm, torch.kl_div, torch.convolution, torch.native_layer_norm, ...), the
functional RNN entry points (torch.lstm_cell, torch.lstm, ...), eager torch.cond / torch.while_loop,
runtime queries (autocast, anomaly, default device, threads), DLPack and frombuffer, torch's removed
linear-algebra functions (with its error messages) and Tensor's properties and legacy methods
(layout, is_sparse, new, dim_order, untyped_storage, ...). Everything is composed from existing engine
ops, so backward comes from the engine. Installed by ``engine/__init__.py``; nothing else imports it.

>>> import engine
>>> x = engine.tensor([[1.0, 2.0], [3.0, 4.0]])
>>> engine.native_layer_norm(x, [2], None, None, 1e-5)[1].shape
(2, 1)
"""

from __future__ import annotations

import math
import os
import threading
import types
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from engine.dtypes import to_dtype
from engine.tensor import Tensor

_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _engine():
    import engine

    return engine


def _F():  # noqa: N802
    import engine.functional as F  # noqa: N812

    return F


def _reduction(reduction: int) -> str:
    """torch's at::Reduction enum (0 none, 1 mean, 2 sum) as F's reduction string."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return _REDUCTIONS[reduction]


def _reduce(loss: Tensor, reduction: int) -> Tensor:
    name = _reduction(reduction)
    return loss if name == "none" else loss.mean() if name == "mean" else loss.sum()


# ---- top-level spellings of functional ops (aten's argument order) -----------------------------------


def batch_norm(input: Tensor, weight: Tensor | None, bias: Tensor | None, running_mean: Tensor | None,  # noqa: A002
               running_var: Tensor | None, training: bool, momentum: float, eps: float,
               cudnn_enabled: bool) -> Tensor:
    """torch.batch_norm: F.batch_norm with aten's argument order (weight and bias first).

    >>> import engine
    >>> x = engine.tensor([[1.0], [3.0]])
    >>> engine.batch_norm(x, None, None, None, None, True, 0.1, 1e-5, False).round(decimals=3).tolist()
    [[-1.0], [1.0]]
    """
    return _F().batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input: Tensor, weight: Tensor | None, bias: Tensor | None,  # noqa: A002
                  running_mean: Tensor | None, running_var: Tensor | None, use_input_stats: bool,
                  momentum: float, eps: float, cudnn_enabled: bool) -> Tensor:
    """torch.instance_norm: F.instance_norm with aten's argument order.

    >>> import engine
    >>> x = engine.tensor([[[1.0, 3.0]]])
    >>> engine.instance_norm(x, None, None, None, None, True, 0.1, 1e-5, False).round(decimals=3).tolist()
    [[[-1.0, 1.0]]]
    """
    return _F().instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                                     pos_weight: Tensor | None = None, reduction: int = 1) -> Tensor:
    """torch.binary_cross_entropy_with_logits: reduction is aten's int (0 none, 1 mean, 2 sum).

    >>> import engine
    >>> round(engine.binary_cross_entropy_with_logits(engine.tensor([0.0]), engine.tensor([1.0])).item(), 4)
    0.6931
    """
    return _F().binary_cross_entropy_with_logits(input, target, weight, reduction=_reduction(reduction),
                                                 pos_weight=pos_weight)


def kl_div(input: Tensor, target: Tensor, reduction: int = 1, *, log_target: bool = False) -> Tensor:  # noqa: A002
    """torch.kl_div: the pointwise KL loss, reduced by aten's int (1 = the mean over every element).

    >>> import engine
    >>> engine.kl_div(engine.tensor([0.0, 0.0]), engine.tensor([1.0, 1.0])).item()
    0.0
    """
    return _reduce(_F().kl_div(input, target, reduction="none", log_target=log_target), reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool, full: bool, eps: float,  # noqa: A002
                     reduction: int) -> Tensor:
    """torch.poisson_nll_loss: every argument positional, reduction aten's int.

    >>> import engine
    >>> engine.poisson_nll_loss(engine.tensor([0.0]), engine.tensor([1.0]), True, False, 1e-8, 1).item()
    1.0
    """
    return _F().poisson_nll_loss(input, target, log_input, full, eps=eps, reduction=_reduction(reduction))


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths, blank: int = 0,
             reduction: int = 1, zero_infinity: bool = False) -> Tensor:
    """torch.ctc_loss: F.ctc_loss with aten's int reduction."""
    return _F().ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, _reduction(reduction),
                         zero_infinity)


def embedding_bag(weight: Tensor, indices: Tensor, offsets: Tensor, scale_grad_by_freq: bool = False,
                  mode: int = 0, sparse: bool = False, per_sample_weights: Tensor | None = None,
                  include_last_offset: bool = False,
                  padding_idx: int | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """torch.embedding_bag (aten's form: weight first, mode 0 sum / 1 mean / 2 max). Returns
    (output, offset2bag, bag_size, max_indices) as torch's CPU kernel: for sum, bag_size/max_indices are
    zeros and offset2bag is empty on float32 without padding_idx (torch's fast path); otherwise offset2bag
    is each index's bag, bag_size the non-padding indices per bag, and max_indices (max) the row each
    output entry came from (mean: bag_size again).

    >>> import engine
    >>> w = engine.tensor([[1.0], [2.0], [3.0]])
    >>> engine.embedding_bag(w, engine.tensor([0, 2]), engine.tensor([0]))[0].tolist()
    [[4.0]]
    """
    if mode not in (0, 1, 2):
        raise ValueError(f"embedding_bag: mode must be 0 (sum), 1 (mean) or 2 (max), got {mode}")
    out = _F().embedding_bag(indices, weight, offsets, scale_grad_by_freq=scale_grad_by_freq,
                             mode=("sum", "mean", "max")[mode], sparse=sparse, per_sample_weights=per_sample_weights,
                             include_last_offset=include_last_offset, padding_idx=padding_idx)
    engine, idx = _engine(), indices.numpy().reshape(-1).astype(np.int64)
    offs = offsets.numpy().astype(np.int64)
    n_bags = len(offs) - 1 if include_last_offset else len(offs)
    ends = np.append(offs[1:], len(idx)) if not include_last_offset else offs[1:]
    offset2bag = np.zeros(len(idx), np.int64)
    for b in range(n_bags):
        offset2bag[offs[b]:ends[b]] = b
    if mode == 0:  # torch's float32 sum path without padding_idx leaves offset2bag empty
        zeros = engine.tensor(np.zeros(len(offs), np.int64), device=weight.device)
        if weight.dtype == np.float32 and padding_idx is None:
            offset2bag = offset2bag[:0]
        return out, engine.tensor(offset2bag, device=weight.device), zeros, zeros.clone()
    bag_size = np.zeros(len(offs), np.int64)
    max_indices = np.zeros((len(offs), weight.shape[1]), np.int64) if mode == 2 else None
    w = weight.numpy()
    for b in range(n_bags):
        rows = [r for r in idx[offs[b]:ends[b]] if padding_idx is None or r != padding_idx % weight.shape[0]]
        bag_size[b] = len(rows)
        if mode == 2 and rows:
            max_indices[b] = np.asarray(rows)[np.argmax(w[rows], axis=0)]
    aux = max_indices if mode == 2 else bag_size
    return (out, engine.tensor(offset2bag, device=weight.device), engine.tensor(bag_size, device=weight.device),
            engine.tensor(aux, device=weight.device))


def convolution(input: Tensor, weight: Tensor, bias: Tensor | None, stride: Sequence[int],  # noqa: A002
                padding: Sequence[int], dilation: Sequence[int], transposed: bool,
                output_padding: Sequence[int], groups: int) -> Tensor:
    """torch.convolution: convNd or conv_transposeNd (N = weight.ndim - 2) with every argument given.

    >>> import engine
    >>> x, w = engine.ones(1, 1, 4), engine.ones(1, 1, 2)
    >>> engine.convolution(x, w, None, [1], [0], [1], False, [0], 1).tolist()
    [[[2.0, 2.0, 2.0]]]
    """
    F, n = _F(), weight.ndim - 2
    if n not in (1, 2, 3):
        raise RuntimeError(f"convolution: expected a 3-D, 4-D or 5-D weight, got {weight.ndim}-D")
    if transposed:
        fn = getattr(F, f"conv_transpose{n}d")
        return fn(input, weight, bias, tuple(stride), tuple(padding), tuple(output_padding), groups, tuple(dilation))
    return getattr(F, f"conv{n}d")(input, weight, bias, tuple(stride), tuple(padding), tuple(dilation), groups)


def _stat_dims(x: Tensor, n_last: int) -> tuple[int, ...]:
    return tuple(range(x.ndim - n_last, x.ndim))


def native_layer_norm(input: Tensor, normalized_shape: Sequence[int], weight: Tensor | None,  # noqa: A002
                      bias: Tensor | None, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """torch.native_layer_norm: (out, mean, rstd), mean and rstd with the normalized dims kept as 1.

    >>> import engine
    >>> out, mean, rstd = engine.native_layer_norm(engine.tensor([[1.0, 3.0]]), [2], None, None, 1e-5)
    >>> out.round(decimals=3).tolist(), mean.tolist(), rstd.round(decimals=3).tolist()
    ([[-1.0, 1.0]], [[2.0]], [[1.0]])
    """
    dims = _stat_dims(input, len(normalized_shape))
    mean = input.mean(dim=dims, keepdim=True)
    rstd = ((input - mean) ** 2).mean(dim=dims, keepdim=True).add(eps).rsqrt()
    return _F().layer_norm(input, list(normalized_shape), weight, bias, eps), mean, rstd


def native_batch_norm(input: Tensor, weight: Tensor | None, bias: Tensor | None,  # noqa: A002
                      running_mean: Tensor | None, running_var: Tensor | None, training: bool,
                      momentum: float, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """torch.native_batch_norm: (out, save_mean, save_invstd); in training the batch's per-channel mean
    and 1/sqrt(biased var + eps) (and the running statistics move), otherwise two empty tensors.

    >>> import engine
    >>> out, m, r = engine.native_batch_norm(engine.tensor([[1.0], [3.0]]), None, None, None, None, True, 0.1, 1e-5)
    >>> m.tolist(), r.round(decimals=3).tolist()
    ([2.0], [1.0])
    """
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError("native_batch_norm: running_mean and running_var must be defined in evaluation mode")
    out = _F().batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
    if not training:
        empty = _engine().zeros(0, dtype=input.dtype, device=input.device)
        return out, empty, empty.clone()
    dims = (0, *range(2, input.ndim))
    mean = input.mean(dim=dims)
    shape = (1, -1) + (1,) * (input.ndim - 2)
    invstd = ((input - mean.reshape(shape)) ** 2).mean(dim=dims).add(eps).rsqrt()
    return out, mean, invstd


def native_group_norm(input: Tensor, weight: Tensor | None, bias: Tensor | None, N: int, C: int,  # noqa: A002, N803
                      HxW: int, group: int, eps: float) -> tuple[Tensor, Tensor, Tensor]:  # noqa: N803
    """torch.native_group_norm: (out, mean (N, group), rstd (N, group)).

    >>> import engine
    >>> x = engine.tensor([[[1.0], [3.0]]])
    >>> [t.shape for t in engine.native_group_norm(x, None, None, 1, 2, 1, 1, 1e-5)]
    [(1, 2, 1), (1, 1), (1, 1)]
    """
    flat = input.reshape(N, group, -1)
    mean = flat.mean(dim=-1)
    rstd = ((flat - mean.unsqueeze(-1)) ** 2).mean(dim=-1).add(eps).rsqrt()
    return _F().group_norm(input, group, weight, bias, eps), mean, rstd


def native_dropout(input: Tensor, p: float, train: bool | None) -> tuple[Tensor, Tensor]:  # noqa: A002
    """torch.native_dropout: (out, keep mask as bool). In training each entry is kept with
    probability 1 - p and scaled by 1/(1 - p); otherwise out is a copy and the mask all True.

    >>> import engine
    >>> out, mask = engine.native_dropout(engine.ones(3), 0.5, False)
    >>> out.tolist(), mask.tolist()
    ([1.0, 1.0, 1.0], [True, True, True])
    """
    engine = _engine()
    if train is False:
        return input.clone(), engine.ones(input.shape, dtype=np.bool_, device=input.device)
    mask = engine.rand(input.shape, device=input.device) >= p if p < 1 else \
        engine.zeros(input.shape, dtype=np.bool_, device=input.device)
    scale = 0.0 if p >= 1 else 1.0 / (1.0 - p)
    return input * mask.astype(input.dtype) * scale, mask


def _feature_mask(input: Tensor, p: float) -> Tensor:  # noqa: A002
    if input.ndim < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    engine = _engine()
    shape = input.shape[:2] + (1,) * (input.ndim - 2)
    return (engine.rand(shape, device=input.device) >= p).astype(input.dtype)


def feature_dropout(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    """torch.feature_dropout: zero whole channels (dims 0 and 1 index them) with probability p and
    scale the rest by 1/(1 - p), in training.

    >>> import engine
    >>> engine.feature_dropout(engine.ones(2, 3), 0.5, False).tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    if p < 0 or p > 1:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not train or p == 0:
        return input
    if p == 1:
        return input * 0.0
    return input * _feature_mask(input, p) * (1.0 / (1.0 - p))


def dropout_(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    """torch.dropout_: dropout in place."""
    return _F().dropout(input, p, train, inplace=True)


def alpha_dropout_(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    """torch.alpha_dropout_: alpha dropout in place."""
    return _F().alpha_dropout(input, p, train, inplace=True)


def feature_dropout_(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    """torch.feature_dropout_: feature_dropout written into ``input``."""
    out = feature_dropout(input, p, train)
    return input if out is input else input.copy_(out)


def feature_alpha_dropout_(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    """torch.feature_alpha_dropout_: feature alpha dropout in place."""
    return _F().feature_alpha_dropout(input, p, train, inplace=True)


def embedding_renorm_(input: Tensor, indices: Tensor, max_norm: float, norm_type: float) -> Tensor:  # noqa: A002
    """torch.embedding_renorm_: rows ``indices`` of ``input`` whose norm exceeds max_norm rescaled to
    it, in place (outside the graph, as torch's no-grad kernel). Returns ``input``.

    >>> import engine
    >>> engine.embedding_renorm_(engine.tensor([[3.0, 4.0]]), engine.tensor([0]), 1.0, 2.0).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """
    if input.requires_grad and input.is_leaf and _engine().is_grad_enabled():
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    _F()._embedding_renorm_(input, indices._data, max_norm, norm_type)
    return input


def _deprecated_norm(name: str, replacement: str) -> None:
    warnings.warn(f"at::{name} is deprecated and it is just left for JIT compatibility. It will be removed in a "
                  f"future PyTorch release. Please use `{replacement}` instead", UserWarning, stacklevel=3)


def frobenius_norm(input: Tensor, dim: Sequence[int], keepdim: bool = False) -> Tensor:  # noqa: A002
    """torch.frobenius_norm (deprecated, warns as torch): the 2-norm over ``dim``.

    >>> import engine, warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     engine.frobenius_norm(engine.tensor([[3.0, 4.0]]), [1]).tolist()
    [5.0]
    """
    _deprecated_norm("frobenius_norm", "linalg.vector_norm(A, 2., dim, keepdim)")
    return _engine().linalg.vector_norm(input, 2, tuple(dim) if not isinstance(dim, int) else dim, keepdim)


def nuclear_norm(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A002
    """torch.nuclear_norm (deprecated, warns as torch): the sum of singular values over ``dim``
    (the last two dims by default; ``nuclear_norm(A, True)`` is keepdim).

    >>> import engine, warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     engine.nuclear_norm(engine.tensor([[2.0, 0.0], [0.0, 3.0]])).item()
    5.0
    """
    _deprecated_norm("nuclear_norm", "linalg.matrix_norm(A, 'nuc', dim, keepdim)")
    if isinstance(dim, bool):
        dim, keepdim = None, dim
    return _engine().linalg.matrix_norm(input, "nuc", (-2, -1) if dim is None else tuple(dim), keepdim)


def norm_except_dim(v: Tensor, pow: float = 2, dim: int = 0) -> Tensor:  # noqa: A002
    """torch.norm_except_dim (weight norm's helper): the ``pow``-norm over every dim but ``dim``, kept
    as size 1; ``dim = -1`` gives the norm of everything (0-d).

    >>> import engine
    >>> engine.norm_except_dim(engine.tensor([[3.0, 4.0], [0.0, 1.0]]), 2, 0).tolist()
    [[5.0], [1.0]]
    """
    vector_norm = _engine().linalg.vector_norm
    if dim == -1:
        return vector_norm(v, pow)
    others = tuple(d for d in range(v.ndim) if d != dim % v.ndim)
    return vector_norm(v, pow, others, keepdim=True)


def max_pool1d_with_indices(input: Tensor, kernel_size, stride=(), padding=0, dilation=1,  # noqa: A002
                            ceil_mode: bool = False) -> tuple[Tensor, Tensor]:
    """torch.max_pool1d_with_indices: (values, argmax indices); an empty stride means kernel_size.

    >>> import engine
    >>> [t.tolist() for t in engine.max_pool1d_with_indices(engine.tensor([[1.0, 3.0, 2.0, 0.0]]), 2)]
    [[[3.0, 2.0]], [[1, 2]]]
    """
    stride = None if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) else stride
    return _F().max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def binomial(count: Tensor, prob: Tensor, generator=None) -> Tensor:
    """torch.binomial: one Binomial(count, prob) draw per entry (the default generator), in count's dtype.

    >>> import engine
    >>> engine.binomial(engine.tensor([0.0, 5.0]), engine.tensor([0.5, 1.0])).tolist()
    [0.0, 5.0]
    """
    if not isinstance(count, Tensor) or not isinstance(prob, Tensor):
        raise TypeError("binomial(): argument 'count' and 'prob' must be Tensor")
    if count.dtype.kind != "f" or prob.dtype.kind != "f":
        raise NotImplementedError(f"\"binomial_cpu\" not implemented for '{count.dtype}'")
    from engine.distributions import Binomial

    with _engine().no_grad():
        return Binomial(count, probs=prob, validate_args=False).sample().astype(count.dtype)


def orgqr(input: Tensor, input2: Tensor) -> Tensor:  # noqa: A002
    """torch.orgqr: linalg.householder_product(input, tau).

    >>> import engine
    >>> engine.orgqr(engine.eye(2), engine.zeros(1)).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    return _engine().linalg.householder_product(input, input2)


_SEGMENT_REDUCTIONS = {"sum": "sum", "prod": "prod", "mean": "mean", "max": "amax", "amax": "amax",
                       "min": "amin", "amin": "amin"}


def segment_reduce(data: Tensor, reduce: str, *, lengths: Tensor | None = None, indices: Tensor | None = None,
                   offsets: Tensor | None = None, axis: int = 0, unsafe: bool = False,
                   initial: float | None = None) -> Tensor:
    """torch.segment_reduce: reduce consecutive segments of ``data`` along ``axis`` (``lengths`` or
    ``offsets`` give them; lengths have data's leading dims before axis) with sum, prod, mean, max or
    min. An empty segment gives ``initial`` (or the reduction's identity; mean: nan); ``initial`` joins
    every segment's reduction (mean: (sum + initial) / length). Differentiable through the engine.

    >>> import engine
    >>> engine.segment_reduce(engine.tensor([1.0, 2.0, 3.0]), "sum", lengths=engine.tensor([2, 1])).tolist()
    [3.0, 3.0]
    """
    op = _SEGMENT_REDUCTIONS.get(reduce)
    if op is None:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    if indices is not None:
        raise RuntimeError("segment_reduce(): indices based reduction is not supported yet.")
    if lengths is None and offsets is None:
        raise RuntimeError("segment_reduce(): Either lengths or offsets must be defined.")
    if data.dtype.kind not in "f":
        names = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}
        name = names.get(data.dtype.name, data.dtype)
        raise NotImplementedError(f"\"_segment_reduce_cpu\" not implemented for '{name}'")
    engine = _engine()
    axis = axis % data.ndim
    lens = lengths.numpy() if lengths is not None else np.diff(offsets.numpy(), axis=-1)
    if (lens < 0).any():
        raise RuntimeError("lengths contains negative value!")
    if not unsafe and (lens.sum(axis=-1) != data.shape[axis]).any():
        raise RuntimeError("segment_reduce(): Expected all rows of lengths along axis to sum to "
                           "data.size(lengths.dim()-1) when !unsafe.")
    identity = {"sum": 0.0, "prod": 1.0, "mean": math.nan, "amax": -math.inf, "amin": math.inf}[op]
    lead = lens.shape[:-1]
    rows = []
    for pos in np.ndindex(*lead):
        row_data = data[pos] if pos else data
        seg_axis = axis - len(pos)
        starts = np.concatenate([[0], np.cumsum(lens[pos])[:-1]]).astype(int)
        segs = []
        for start, n in zip(starts, lens[pos]):
            piece = row_data.narrow(seg_axis, int(start), int(n))
            if n == 0:
                shape = piece.shape[:seg_axis] + piece.shape[seg_axis + 1:]
                fill = identity if initial is None else float(initial)
                segs.append(engine.full(shape, fill, dtype=data.dtype, device=data.device))
                continue
            if op == "mean":
                red = piece.sum(dim=seg_axis)
                red = (red if initial is None else red + initial) / int(n)
            else:
                red = getattr(piece, op)(dim=seg_axis)
                if initial is not None:
                    init = engine.full(red.shape, float(initial), dtype=data.dtype, device=data.device)
                    red = {"sum": red + initial, "prod": red * initial,
                           "amax": engine.maximum(red, init), "amin": engine.minimum(red, init)}[op]
            segs.append(red)
        rows.append(engine.stack(segs, dim=seg_axis))
    if not lead:
        return rows[0]
    return engine.stack(rows, dim=0).reshape(*lead, *rows[0].shape)


def range_(start: float = 0, end: float | None = None, step: float = 1, *, dtype=None,
           device=None, requires_grad: bool = False) -> Tensor:
    """torch.range (deprecated, warns as torch): ``start`` to ``end`` inclusive by ``step``, in the
    default float dtype unless ``dtype`` is given.

    >>> import engine, warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     engine.range(0, 2).tolist()
    [0.0, 1.0, 2.0]
    """
    if end is None:
        raise TypeError('range() missing 1 required positional arguments: "end"')
    warnings.warn("torch.range is deprecated and will be removed in a future release because its behavior is "
                  "inconsistent with Python's range builtin. Instead, use torch.arange, which produces values in "
                  "[start, end).", UserWarning, stacklevel=2)
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (step > 0 and end < start) or (step < 0 and end > start):
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    engine = _engine()
    n = int(math.floor((end - start) / step)) + 1
    dt = to_dtype(dtype) or engine.get_default_dtype()
    values = np.arange(n, dtype=np.float64) * step + start
    return engine.tensor(values.astype(dt), device=device, requires_grad=requires_grad)


# ---- *_copy: the view ops' results as new tensors --------------------------------------------------


def detach_copy(input: Tensor) -> Tensor:  # noqa: A002
    """torch.detach_copy: ``input.detach()`` in new memory."""
    return input.detach().clone()


def select_copy(input: Tensor, dim: int, index: int) -> Tensor:  # noqa: A002
    """torch.select_copy: ``input.select(dim, index)`` in new memory (differentiable).

    >>> import engine
    >>> engine.select_copy(engine.tensor([[1, 2], [3, 4]]), 1, 0).tolist()
    [1, 3]
    """
    return input.select(dim, index).clone()


def slice_copy(input: Tensor, dim: int = 0, start: int | None = None, end: int | None = None,  # noqa: A002
               step: int = 1) -> Tensor:
    """torch.slice_copy: ``input[..., start:end:step, ...]`` along ``dim``, in new memory.

    >>> import engine
    >>> engine.slice_copy(engine.arange(6), 0, 1, 5, 2).tolist()
    [1, 3]
    """
    if step <= 0:
        raise RuntimeError("slice step must be positive")
    index = (slice(None),) * (dim % input.ndim) + (slice(start, end, step),)
    return input[index].clone()


def split_copy(input: Tensor, split_size: int | Sequence[int], dim: int = 0) -> list[Tensor]:  # noqa: A002
    """torch.split_copy: ``input.split(split_size, dim)``, each piece in new memory.

    >>> import engine
    >>> [t.tolist() for t in engine.split_copy(engine.arange(5), 2)]
    [[0, 1], [2, 3], [4]]
    """
    return [piece.clone() for piece in input.split(split_size, dim)]


def view_as_real_copy(input: Tensor) -> Tensor:  # noqa: A002
    """torch.view_as_real_copy: ``view_as_real(input)`` in new memory."""
    return _engine().view_as_real(input).clone()


def view_as_complex_copy(input: Tensor) -> Tensor:  # noqa: A002
    """torch.view_as_complex_copy: ``view_as_complex(input)`` in new memory."""
    return _engine().view_as_complex(input).clone()


# ---- functional RNN entry points ---------------------------------------------------------------------


def _gates(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,  # noqa: A002
           b_hh: Tensor | None) -> tuple[Tensor, Tensor]:
    if input.ndim < 2:  # torch's cells take (B, I) only (nn's cells add the batch dim)
        raise IndexError(f"Dimension out of range (expected to be in range of [-1, {max(input.ndim - 1, 0)}], "
                         "but got 1)")
    F = _F()  # noqa: N806
    return F.linear(input, w_ih, b_ih), F.linear(hx, w_hh, b_hh)


def rnn_tanh_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,  # noqa: A002
                  b_hh: Tensor | None = None) -> Tensor:
    """torch.rnn_tanh_cell: h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh).

    >>> import engine
    >>> engine.rnn_tanh_cell(engine.zeros(1, 2), engine.zeros(1, 3), engine.ones(3, 2), engine.ones(3, 3)).tolist()
    [[0.0, 0.0, 0.0]]
    """
    gi, gh = _gates(input, hx, w_ih, w_hh, b_ih, b_hh)
    return (gi + gh).tanh()


def rnn_relu_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,  # noqa: A002
                  b_hh: Tensor | None = None) -> Tensor:
    """torch.rnn_relu_cell: h' = relu(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)."""
    gi, gh = _gates(input, hx, w_ih, w_hh, b_ih, b_hh)
    return (gi + gh).relu()


def lstm_cell(input: Tensor, hx: Sequence[Tensor], w_ih: Tensor, w_hh: Tensor,  # noqa: A002
              b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """torch.lstm_cell: one LSTM step, hx = (h, c), gates i, f, g, o as torch. Returns (h', c').

    >>> import engine
    >>> h, c = engine.lstm_cell(engine.zeros(1, 2), (engine.zeros(1, 3), engine.zeros(1, 3)),
    ...                         engine.ones(12, 2), engine.ones(12, 3))
    >>> h.tolist(), c.tolist()
    ([[0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0]])
    """
    if len(hx) != 2:
        raise RuntimeError(f"lstm_cell: Expected hx to have 2 tensors (h, c), got {len(hx)}")
    h, c = hx
    gi, gh = _gates(input, h, w_ih, w_hh, b_ih, b_hh)
    i, f, g, o = (gi + gh).chunk(4, dim=-1)
    c_next = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c_next.tanh(), c_next


def gru_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,  # noqa: A002
             b_hh: Tensor | None = None) -> Tensor:
    """torch.gru_cell: one GRU step (gates r, z, n as torch): n = tanh(i_n + r·h_n), h' = (1 - z)·n + z·h.

    >>> import engine
    >>> engine.gru_cell(engine.zeros(1, 2), engine.zeros(1, 3), engine.ones(9, 2), engine.ones(9, 3)).tolist()
    [[0.0, 0.0, 0.0]]
    """
    gi, gh = _gates(input, hx, w_ih, w_hh, b_ih, b_hh)
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r, z = (i_r + h_r).sigmoid(), (i_z + h_z).sigmoid()
    n = (i_n + r * h_n).tanh()
    return (1 - z) * n + z * hx


def _stacked(kind: str, input: Tensor, states: tuple, params: Sequence[Tensor], has_biases: bool,  # noqa: A002
             num_layers: int, dropout: float, train: bool, bidirectional: bool, batch_first: bool):
    """The flat-weights multi-layer RNN torch.nn.RNN/LSTM/GRU call: each layer and direction one fused
    F.*_layer, directions concatenated, dropout between layers in training. states: (h0,) or (h0, c0),
    each (layers·dirs, B, H). Returns (output, finals per state)."""
    F, engine = _F(), _engine()  # noqa: N806
    dirs = 2 if bidirectional else 1
    per = 4 if has_biases else 2
    if len(params) != num_layers * dirs * per:
        raise RuntimeError(f"{kind}: expected {num_layers * dirs * per} parameters for {num_layers} layer(s), "
                           f"{dirs} direction(s) and has_biases={has_biases}, got {len(params)} "
                           "(proj_size weights are not supported)")
    if input.ndim != 3:
        raise RuntimeError(f"{kind}: input must have 3 dimensions, got {input.ndim}")
    x = input.transpose(0, 1) if batch_first else input
    finals: list[list[Tensor]] = [[] for _ in states]
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            k = (layer * dirs + d) * per
            w_ih, w_hh = params[k], params[k + 1]
            b_ih, b_hh = (params[k + 2], params[k + 3]) if has_biases else (None, None)
            init = [s[layer * dirs + d] for s in states]
            if kind == "lstm":
                out, hn, cn = F.lstm_layer(x, init[0], init[1], w_ih, w_hh, b_ih, b_hh, reverse=d == 1)
                last = (hn, cn)
            elif kind == "gru":
                out, hn = F.gru_layer(x, init[0], w_ih, w_hh, b_ih, b_hh, reverse=d == 1)
                last = (hn,)
            else:
                out, hn = F.rnn_layer(x, init[0], w_ih, w_hh, b_ih, b_hh, nonlinearity=kind[4:], reverse=d == 1)
                last = (hn,)
            outs.append(out)
            for acc, t in zip(finals, last):
                acc.append(t)
        x = outs[0] if dirs == 1 else engine.cat(outs, dim=-1)
        if dropout and train and layer < num_layers - 1:
            x = F.dropout(x, dropout, True)
    out = x.transpose(0, 1) if batch_first else x
    return out, [engine.stack(acc, dim=0) for acc in finals]


def lstm(input: Tensor, hx: Sequence[Tensor], params: Sequence[Tensor], has_biases: bool,  # noqa: A002
         num_layers: int, dropout: float, train: bool, bidirectional: bool,
         batch_first: bool) -> tuple[Tensor, Tensor, Tensor]:
    """torch.lstm (the flat-weights form nn.LSTM calls): params per layer and direction
    [w_ih, w_hh, (b_ih, b_hh)], hx = (h0, c0) each (layers·dirs, B, H). Returns (output, h_n, c_n)."""
    out, (hn, cn) = _stacked("lstm", input, tuple(hx), params, has_biases, num_layers, dropout, train,
                             bidirectional, batch_first)
    return out, hn, cn


def gru(input: Tensor, hx: Tensor, params: Sequence[Tensor], has_biases: bool, num_layers: int,  # noqa: A002
        dropout: float, train: bool, bidirectional: bool, batch_first: bool) -> tuple[Tensor, Tensor]:
    """torch.gru (the flat-weights form nn.GRU calls). Returns (output, h_n)."""
    out, (hn,) = _stacked("gru", input, (hx,), params, has_biases, num_layers, dropout, train, bidirectional,
                          batch_first)
    return out, hn


def rnn_tanh(input: Tensor, hx: Tensor, params: Sequence[Tensor], has_biases: bool, num_layers: int,  # noqa: A002
             dropout: float, train: bool, bidirectional: bool, batch_first: bool) -> tuple[Tensor, Tensor]:
    """torch.rnn_tanh (the flat-weights form nn.RNN calls). Returns (output, h_n)."""
    out, (hn,) = _stacked("rnn_tanh", input, (hx,), params, has_biases, num_layers, dropout, train, bidirectional,
                          batch_first)
    return out, hn


def rnn_relu(input: Tensor, hx: Tensor, params: Sequence[Tensor], has_biases: bool, num_layers: int,  # noqa: A002
             dropout: float, train: bool, bidirectional: bool, batch_first: bool) -> tuple[Tensor, Tensor]:
    """torch.rnn_relu (the flat-weights form nn.RNN(nonlinearity="relu") calls). Returns (output, h_n)."""
    out, (hn,) = _stacked("rnn_relu", input, (hx,), params, has_biases, num_layers, dropout, train, bidirectional,
                          batch_first)
    return out, hn


# ---- control flow, run eagerly -----------------------------------------------------------------------


def _leaves(tree) -> list:
    if isinstance(tree, (list, tuple)):
        return [leaf for item in tree for leaf in _leaves(item)]
    if isinstance(tree, dict):
        return [leaf for item in tree.values() for leaf in _leaves(item)]
    return [tree]


def cond(pred, true_fn: Callable, false_fn: Callable, operands: tuple | list = ()):
    """torch.cond run eagerly: ``true_fn(*operands)`` if pred else ``false_fn(*operands)``; pred is a
    bool or a one-element tensor, operands a tuple/list of tensors (torch's checks and messages).

    >>> import engine
    >>> engine.cond(engine.tensor(True), lambda a: a + 1, lambda a: a - 1, (engine.tensor(1.0),)).item()
    2.0
    """
    if isinstance(pred, (bool, int, float)):
        return true_fn(*operands) if pred else false_fn(*operands)
    if not isinstance(pred, Tensor):
        raise RuntimeError(f"Expected pred to be bool or tensor, but got {pred}.")
    if pred.numel() != 1:
        raise RuntimeError(f"Expected pred to be bool or single-element tensor, but got {pred}.")
    if not callable(true_fn) or not callable(false_fn):
        raise RuntimeError("Expect both branches to be callable.")
    if not isinstance(operands, (tuple, list)) or any(not isinstance(t, Tensor) for t in _leaves(operands)):
        raise RuntimeError("Expect operands to be a tuple of possibly nested dict/list/tuple that only "
                           f"consists of tensor leaves, but got {operands}.")
    return true_fn(*operands) if bool(pred.item()) else false_fn(*operands)


def while_loop(cond_fn: Callable, body_fn: Callable, carried_inputs: tuple | list):
    """torch.while_loop run eagerly: ``carried = body_fn(*carried)`` while ``cond_fn(*carried)``;
    returns the final carried values as a tuple (torch's argument checks and messages).

    >>> import engine
    >>> start = (engine.tensor(0), engine.tensor(1.0))
    >>> i, s = engine.while_loop(lambda i, s: i < 3, lambda i, s: (i + 1, s * 2), start)
    >>> i.item(), s.item()
    (3, 8.0)
    """
    if not callable(cond_fn) or not callable(body_fn):
        raise RuntimeError("Expect cond_fn and body_fn to be callable.")
    leaves = _leaves(carried_inputs)
    if not all(isinstance(t, (Tensor, int)) for t in leaves):
        raise AssertionError(f"{tuple(leaves)} can only be of (<class 'torch.Tensor'>, <class 'int'>, "
                             f"<class 'torch.SymInt'>) but got {tuple(type(t) for t in leaves)}")
    if not isinstance(carried_inputs, (tuple, list)):
        raise RuntimeError("Expect carried_inputs to be a tuple of possibly nested dict/list/tuple that only"
                           f"consists of tensor or int leaves, but got {carried_inputs}.")
    carried = tuple(carried_inputs)
    while bool(cond_fn(*carried)):
        out = body_fn(*carried)
        out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        if len(out) != len(carried):
            raise RuntimeError(f"body_fn should return the same number of elements as carried_inputs: "
                               f"expected {len(carried)}, got {len(out)}")
        carried = out
    return carried


# ---- runtime state ---------------------------------------------------------------------------------


class _State(threading.local):
    def __init__(self):
        self.anomaly, self.anomaly_nan = False, True
        self.autocast_dtype = np.dtype(np.float16)  # engine.amp supports float16 only
        self.nesting, self.cache = 0, True


_state = _State()
_GLOBAL = {"warn_always": False, "interop_threads": None}


def get_default_device():
    """torch.get_default_device: the engine's factories allocate on the CPU unless given device=.

    >>> import engine
    >>> engine.get_default_device()
    device(type='cpu')
    """
    return _engine().device("cpu")


def set_default_device(device) -> None:  # noqa: A002
    """torch.set_default_device: only the CPU (or None, the same) here; the engine's factories have no
    global default device, so another device raises NotImplementedError instead of being ignored."""
    if device is not None and _engine().device(device).type != "cpu":
        raise NotImplementedError(f"set_default_device({device!r}): the engine's factories always allocate on "
                                  "the CPU unless given device=; pass device= instead")


def is_inference(input: Tensor) -> bool:  # noqa: A002
    """torch.is_inference: whether ``input`` was made under inference_mode."""
    if not isinstance(input, Tensor):
        raise TypeError(f"is_inference(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    return input.is_inference()


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    """torch.set_anomaly_enabled: the anomaly-mode flags (the engine records them; its backward does not
    check for nan or keep forward traces)."""
    _state.anomaly, _state.anomaly_nan = bool(enabled), bool(check_nan)


def is_anomaly_enabled() -> bool:
    """torch.is_anomaly_enabled (False until set_anomaly_enabled(True))."""
    return _state.anomaly


def is_anomaly_check_nan_enabled() -> bool:
    """torch.is_anomaly_check_nan_enabled (True by default, as torch)."""
    return _state.anomaly_nan


def set_warn_always(b: bool) -> None:
    """torch.set_warn_always: a flag (the engine's warnings go through Python's warnings filters)."""
    _GLOBAL["warn_always"] = bool(b)


def is_warn_always_enabled() -> bool:
    """torch.is_warn_always_enabled."""
    return _GLOBAL["warn_always"]


_TENSOR_TYPES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor", "int64": "LongTensor",
                 "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor",
                 "bool": "BoolTensor", "complex64": "ComplexFloatTensor", "complex128": "ComplexDoubleTensor"}


def typename(obj) -> str:
    """torch.typename: "torch.FloatTensor" for a float32 tensor, "module.QualName" otherwise.

    >>> import engine
    >>> engine.typename(engine.zeros(1)), engine.typename(1)
    ('torch.FloatTensor', 'int')
    """
    if isinstance(obj, Tensor):
        return "torch." + _TENSOR_TYPES.get(obj.dtype.name, obj.dtype.name)
    module = getattr(obj, "__module__", "") or ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module, qualname = obj.__class__.__module__ or "", obj.__class__.__qualname__
    return qualname if module in ("", "builtins") else f"{module}.{qualname}"


def get_device(input: Tensor) -> int:  # noqa: A002
    """torch.get_device: -1 on the CPU, the GPU's index otherwise."""
    if input.device == "cpu":
        return -1
    return _engine().device(input.device).index or 0


def set_flush_denormal(mode: bool) -> bool:
    """torch.set_flush_denormal: NumPy cannot flush denormals to zero, so this returns False (not set)."""
    return False


def get_num_interop_threads() -> int:
    """torch.get_num_interop_threads (the engine runs no inter-op thread pool; this is the setting)."""
    return _GLOBAL["interop_threads"] or os.cpu_count() or 1


def set_num_interop_threads(num: int) -> None:
    """torch.set_num_interop_threads: records the setting (positive)."""
    if not isinstance(num, int) or num <= 0:
        raise RuntimeError("Expected positive number of threads")
    _GLOBAL["interop_threads"] = num


def init_num_threads() -> None:
    """torch.init_num_threads: nothing to initialise here."""


def is_distributed(input: Tensor) -> bool:  # noqa: A002
    """torch.is_distributed: False (no distributed tensors)."""
    return False


def set_default_tensor_type(t) -> None:
    """torch.set_default_tensor_type (deprecated, warns as torch): "torch.FloatTensor" /
    "torch.DoubleTensor" set the default float dtype; integer types raise torch's TypeError."""
    warnings.warn("torch.set_default_tensor_type() is deprecated as of PyTorch 2.1, please use "
                  "torch.set_default_dtype() and torch.set_default_device() as alternatives.", UserWarning,
                  stacklevel=2)
    name = t if isinstance(t, str) else getattr(t, "__module__", "") + "." + getattr(t, "__name__", str(t))
    if name.startswith("torch.cuda."):
        raise TypeError(f"type {name} not available. Torch not compiled with CUDA enabled.")
    if not name.startswith("torch."):
        raise ModuleNotFoundError(f"No module named '{name.rpartition('.')[0] or name}'")
    by_type = {v: k for k, v in _TENSOR_TYPES.items()}
    dtype = by_type.get(name[len("torch."):])
    if dtype is None:
        raise TypeError(f"invalid type: '{name}'")
    if not dtype.startswith("float"):
        raise TypeError("only floating-point types are supported as the default type")
    _engine().set_default_dtype(np.dtype(dtype))


# autocast: engine.amp's state (a matmul dtype or None, any device)


def _autocast_device(device_type: str) -> str:
    if device_type not in _DEVICE_TYPES:
        raise RuntimeError("Expected one of cpu, cuda, ipu, xpu, mkldnn, opengl, opencl, ideep, hip, ve, fpga, maia, "
                           "xla, lazy, vulkan, mps, meta, hpu, mtia, privateuseone device type at start of device "
                           f"string: {device_type}")
    return device_type


_DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia",
                 "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    """torch.is_autocast_enabled: whether an engine.autocast block (it covers every device) is active.

    >>> import engine
    >>> with engine.autocast("float16"):
    ...     engine.is_autocast_enabled("cpu")
    True
    """
    from engine import amp

    _autocast_device(device_type)
    return amp.autocast_dtype() is not None


def set_autocast_enabled(device_type, enabled: bool | None = None) -> None:
    """torch.set_autocast_enabled(device_type, enabled) (or the old one-argument form): turn the
    engine's autocast on (in get_autocast_dtype's dtype) or off."""
    from engine import amp

    if enabled is None:
        device_type, enabled = "cuda", device_type
    _autocast_device(device_type)
    amp._state.dtype = _state.autocast_dtype if enabled else None


def get_autocast_dtype(device_type: str) -> np.dtype:
    """torch.get_autocast_dtype: the dtype autocast runs matmuls in; float16 for every device (NumPy has no
    bfloat16, torch's CPU default), or the active block's dtype."""
    from engine import amp

    _autocast_device(device_type)
    return amp.autocast_dtype() or _state.autocast_dtype


def set_autocast_dtype(device_type: str, dtype) -> None:
    """torch.set_autocast_dtype: only float16 is supported by engine.amp."""
    from engine import amp

    _autocast_device(device_type)
    try:
        dt = to_dtype(dtype)
    except TypeError:  # a name NumPy has no dtype for (bfloat16)
        dt = None
    if dt is None or dt.name not in amp.SUPPORTED:
        raise ValueError(f"autocast dtype must be one of {amp.SUPPORTED}, got {dtype!r} (NumPy and CuPy have no "
                         "bfloat16)")
    _state.autocast_dtype = dt


def _deprecated_cpu(old: str, new: str) -> None:
    warnings.warn(f"torch.{old}() is deprecated. Please use torch.{new} instead.", DeprecationWarning, stacklevel=3)


def is_autocast_cpu_enabled() -> bool:
    """torch.is_autocast_cpu_enabled (deprecated): is_autocast_enabled("cpu")."""
    _deprecated_cpu("is_autocast_cpu_enabled", "is_autocast_enabled('cpu')")
    return is_autocast_enabled("cpu")


def get_autocast_cpu_dtype() -> np.dtype:
    """torch.get_autocast_cpu_dtype (deprecated): get_autocast_dtype("cpu")."""
    _deprecated_cpu("get_autocast_cpu_dtype", "get_autocast_dtype('cpu')")
    return get_autocast_dtype("cpu")


def set_autocast_cpu_enabled(enabled: bool) -> None:
    """torch.set_autocast_cpu_enabled (deprecated): set_autocast_enabled("cpu", enabled)."""
    _deprecated_cpu("set_autocast_cpu_enabled", "set_autocast_enabled('cpu', enabled)")
    set_autocast_enabled("cpu", enabled)


def set_autocast_cpu_dtype(dtype) -> None:
    """torch.set_autocast_cpu_dtype (deprecated): set_autocast_dtype("cpu", dtype)."""
    _deprecated_cpu("set_autocast_cpu_dtype", "set_autocast_dtype('cpu', dtype)")
    set_autocast_dtype("cpu", dtype)


def clear_autocast_cache() -> None:
    """torch.clear_autocast_cache: the engine's autocast keeps no cast cache."""


def autocast_increment_nesting() -> int:
    """torch.autocast_increment_nesting: the autocast nesting counter, incremented."""
    _state.nesting += 1
    return _state.nesting


def autocast_decrement_nesting() -> int:
    """torch.autocast_decrement_nesting: the counter, decremented (may go negative, as torch)."""
    _state.nesting -= 1
    return _state.nesting


def is_autocast_cache_enabled() -> bool:
    """torch.is_autocast_cache_enabled (a flag; the engine keeps no cast cache)."""
    return _state.cache


def set_autocast_cache_enabled(enabled: bool) -> None:
    """torch.set_autocast_cache_enabled."""
    _state.cache = bool(enabled)


# ---- buffers and DLPack ----------------------------------------------------------------------------


def frombuffer(buffer, *, dtype, count: int = -1, offset: int = 0, requires_grad: bool = False) -> Tensor:
    """torch.frombuffer: a 1-D tensor sharing a writable buffer's memory (a read-only one is copied,
    with torch's warning).

    >>> import engine
    >>> engine.frombuffer(bytearray(b"\\x01\\x00\\x00\\x00"), dtype=engine.int32).tolist()
    [1]
    """
    dt = to_dtype(dtype)
    mem = memoryview(buffer)
    length, size = mem.nbytes, dt.itemsize
    if length == 0 or count == 0:
        raise ValueError(f"both buffer length ({length}) and count ({count}) must not be 0")
    if offset < 0 or offset >= length:
        raise ValueError(f"offset ({offset} bytes) must be non-negative and no greater than buffer length "
                         f"({length} bytes) minus 1")
    if count <= 0 and (length - offset) % size != 0:
        raise ValueError(f"buffer length ({length - offset} bytes) after offset ({offset} bytes) must be a multiple "
                         f"of element size ({size})")
    if count > 0 and count * size > length - offset:
        raise ValueError(f"requested buffer length ({count} * {size} bytes) after offset ({offset} bytes) must not "
                         f"be greater than actual buffer length ({length} bytes)")
    arr = np.frombuffer(buffer, dtype=dt, count=count if count > 0 else -1, offset=offset)
    if not arr.flags.writeable:
        warnings.warn("The given buffer is not writable, and PyTorch does not support non-writable tensors. This "
                      "means you can write to the underlying (supposedly non-writable) buffer using the tensor. You "
                      "may want to copy the buffer to protect its data or make it writable before converting it to a "
                      "tensor. This type of warning will be suppressed for the rest of this program.", UserWarning,
                      stacklevel=2)
        arr = arr.copy()
    return Tensor(arr, requires_grad=requires_grad)


class _Capsule:
    """A DLPack capsule behind the ``__dlpack__`` protocol, so NumPy's from_dlpack takes it."""

    def __init__(self, capsule, device=(1, 0)):
        self.capsule, self.device = capsule, device

    def __dlpack__(self, stream=None, **kw):
        return self.capsule

    def __dlpack_device__(self):
        return self.device


def from_dlpack(ext_tensor) -> Tensor:
    """torch.from_dlpack: a tensor sharing the memory of any object with ``__dlpack__`` (a NumPy or CuPy
    array, a torch tensor) or of a DLPack capsule (CPU).

    >>> import engine, numpy as np
    >>> engine.from_dlpack(np.arange(3)).tolist()
    [0, 1, 2]
    """
    obj = ext_tensor if hasattr(ext_tensor, "__dlpack__") else _Capsule(ext_tensor)
    device_type = obj.__dlpack_device__()[0]
    if device_type == 2:  # kDLCUDA
        import cupy

        return Tensor(cupy.from_dlpack(obj))
    return Tensor(np.from_dlpack(obj))


def to_dlpack(tensor: Tensor):
    """torch.to_dlpack: a DLPack capsule of the tensor's memory (from_dlpack takes it back)."""
    return tensor._data.__dlpack__()


# ---- removed linear-algebra functions: torch's errors ------------------------------------------------

_REMOVED = "This function was deprecated since version 1.9 and is now removed. "


def eig(input: Tensor, eigenvectors: bool = False, *, e=None, v=None):  # noqa: A002
    """torch.eig was removed: raises torch's RuntimeError pointing to linalg.eig / eigvals."""
    raise RuntimeError(
        _REMOVED + "`torch.linalg.eig` returns complex tensors of dtype `cfloat` or `cdouble` rather than real "
        "tensors mimicking complex tensors.\n\nL, _ = torch.eig(A) should be replaced with:\n"
        "L_complex = torch.linalg.eigvals(A)\n\nand\n\nL, V = torch.eig(A, eigenvectors=True) should be replaced "
        "with:\nL_complex, V_complex = torch.linalg.eig(A)")


def symeig(input: Tensor, eigenvectors: bool = False, upper: bool = True, *, out=None):  # noqa: A002
    """torch.symeig was removed: raises torch's RuntimeError pointing to linalg.eigh / eigvalsh."""
    raise RuntimeError(
        _REMOVED + "The default behavior has changed from using the upper triangular portion of the matrix by default "
        "to using the lower triangular portion.\n\nL, _ = torch.symeig(A, upper=upper) should be replaced with:\n"
        "L = torch.linalg.eigvalsh(A, UPLO='U' if upper else 'L')\n\nand\n\nL, V = torch.symeig(A, "
        "eigenvectors=True) should be replaced with:\nL, V = torch.linalg.eigh(A, UPLO='U' if upper else 'L')")


def lstsq(input: Tensor, A: Tensor, *, out=None):  # noqa: A002, N803
    """torch.lstsq was removed: raises torch's RuntimeError pointing to linalg.lstsq."""
    raise RuntimeError(
        _REMOVED + "`torch.lstsq` is deprecated in favor of `torch.linalg.lstsq`.\n`torch.linalg.lstsq` has reversed "
        "arguments and does not return the QR decomposition in the returned tuple (although it returns other "
        "information about the problem).\n\nTo get the QR decomposition consider using `torch.linalg.qr`.\n\n"
        "The returned solution in `torch.lstsq` stored the residuals of the solution in the last m - n columns of "
        "the returned value whenever m > n. In torch.linalg.lstsq, the residuals are in the field 'residuals' of "
        "the returned named tuple.\n\nThe unpacking of the solution, as in\nX, _ = torch.lstsq(B, A).solution"
        "[:A.size(1)]\nshould be replaced with:\nX = torch.linalg.lstsq(A, B).solution")


def solve(input: Tensor, A: Tensor, *, out=None):  # noqa: A002, N803
    """torch.solve was removed: raises torch's RuntimeError pointing to linalg.solve."""
    raise RuntimeError(
        _REMOVED + "`torch.solve` is deprecated in favor of `torch.linalg.solve`. `torch.linalg.solve` has its "
        "arguments reversed and does not return the LU factorization.\n\nTo get the LU factorization see "
        "`torch.lu`, which can be used with `torch.lu_solve` or `torch.lu_unpack`.\nX = torch.solve(B, A).solution "
        "should be replaced with:\nX = torch.linalg.solve(A, B)")


def matrix_rank(input: Tensor, tol=None, symmetric: bool = False, *, out=None):  # noqa: A002
    """torch.matrix_rank was removed: raises torch's RuntimeError pointing to linalg.matrix_rank."""
    raise RuntimeError(
        "This function was deprecated since version 1.9 and is now removed.\nPlease use the "
        "`torch.linalg.matrix_rank` function instead. The parameter 'symmetric' was renamed in "
        "`torch.linalg.matrix_rank()` to 'hermitian'.")


# ---- Tensor methods and properties -----------------------------------------------------------------


class UntypedStorage:
    """A minimal torch.UntypedStorage: the bytes of the array that owns a tensor's memory
    (``data_ptr()``, ``nbytes()``, ``size()``, ``device``); it does not copy or resize."""

    def __init__(self, root):
        self._root = root

    def data_ptr(self) -> int:
        from engine.storage import _address

        return _address(self._root)

    def nbytes(self) -> int:
        return int(self._root.nbytes)

    def size(self) -> int:
        return self.nbytes()

    __len__ = size

    def element_size(self) -> int:
        return 1

    @property
    def device(self):
        return _engine().device("cpu" if isinstance(self._root, np.ndarray) else "cuda")

    def __repr__(self) -> str:
        return f"UntypedStorage(nbytes={self.nbytes()}, device={self.device!r})"


def is_storage(obj) -> bool:
    """torch.is_storage: whether obj is a storage (what Tensor.untyped_storage() returns)."""
    return isinstance(obj, UntypedStorage)


def _untyped_storage(self: Tensor) -> UntypedStorage:
    """The storage (the memory's owner) behind this tensor: ``x.untyped_storage().nbytes()``."""
    from engine.storage import _root

    return UntypedStorage(_root(self._data))


def _new(self: Tensor, *args, device=None) -> Tensor:
    """Tensor.new, torch's legacy constructor: ``x.new(2, 3)`` uninitialized in x's dtype, ``x.new([1, 2])``
    or ``x.new((2, 3))`` data in x's dtype, ``x.new(t)`` t itself (same dtype required), ``x.new()`` empty."""
    engine = _engine()
    dev = self.device if device is None else device
    if len(args) == 1 and isinstance(args[0], Tensor):
        other = args[0]
        if other.dtype != self.dtype:
            raise TypeError(f"expected {self.dtype} (got {other.dtype})")
        return other.view(other.shape)
    if len(args) == 1 and isinstance(args[0], (list, tuple)):  # data, as torch (sizes go as separate ints)
        return engine.tensor(np.asarray(args[0]).astype(self.dtype), device=dev)
    if len(args) == 1 and isinstance(args[0], (float, complex, bool)):
        raise TypeError(f"new(): data must be a sequence (got {type(args[0]).__name__})")
    shape = args if args else (0,)
    return engine.empty(*shape, dtype=self.dtype, device=dev)


def _dim_order(self: Tensor, *, ambiguity_check: bool | list = False) -> tuple[int, ...]:
    """The dims from outermost to innermost in memory (strides descending), as torch's Tensor.dim_order."""
    if not isinstance(ambiguity_check, bool):
        if not isinstance(ambiguity_check, list) or not all(type(m).__name__ == "memory_format"
                                                            for m in ambiguity_check):
            raise TypeError("The ambiguity_check argument must be a bool or a list of memory formats.")
    sizes, strides = self.shape, self.stride()
    formats = ambiguity_check if isinstance(ambiguity_check, list) else []
    check = ambiguity_check if isinstance(ambiguity_check, bool) else True
    multiple = any(a == b for a, b in zip(strides, strides[1:])) or any(s == 1 for s in sizes)
    unique_format = sum(bool(self.is_contiguous(memory_format=m)) for m in formats) == 1
    if check and multiple and not unique_format:
        raise RuntimeError("The tensor does not have unique dim order, or cannot map to exact one of the given "
                           "memory formats.")
    order = list(range(self.ndim))
    for i in range(1, len(order)):  # insertion sort by stride, size-1 dims stay put (as torch's perm)
        j = i
        while j > 0 and sizes[order[j]] != 1 and sizes[order[j - 1]] != 1 and strides[order[j]] > strides[order[j - 1]]:
            order[j], order[j - 1] = order[j - 1], order[j]
            j -= 1
    return tuple(order)


def _resize(self: Tensor, *sizes, memory_format=None) -> Tensor:
    """Tensor.resize (deprecated out-of-place form, warns as torch): a reshape keeping the element count."""
    warnings.warn("non-inplace resize is deprecated", UserWarning, stacklevel=2)
    shape = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (list, tuple)) else sizes
    if math.prod(shape) != self.numel():
        given = "x".join(str(s) for s in self.shape)
        raise RuntimeError(f"requested resize to {'x'.join(str(s) for s in shape)} ({math.prod(shape)} elements in "
                           f"total), but the given tensor has a size of {given} ({self.numel()} elements). autograd's "
                           "resize can only change the shape of a given tensor, while preserving the number of "
                           "elements. ")
    return self.reshape(shape)


def _resize_as(self: Tensor, the_template: Tensor, *, memory_format=None) -> Tensor:
    """Tensor.resize_as (deprecated out-of-place form, warns as torch): resize to the template's shape."""
    warnings.warn("non-inplace resize_as is deprecated", UserWarning, stacklevel=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _resize(self, the_template.shape)


def _is_set_to(self: Tensor, tensor: Tensor) -> bool:
    """Whether both tensors view the same memory with the same start, shape and strides."""
    from engine.storage import _address, _root

    return (_root(self._data) is _root(tensor._data) and _address(self._data) == _address(tensor._data)
            and self.shape == tensor.shape and self.stride() == tensor.stride())


def _pin_memory(self: Tensor, device=None) -> Tensor:
    """Tensor.pin_memory: needs an accelerator, as torch (a CPU-only machine raises torch's error)."""
    if not _engine().cuda.is_available():
        raise RuntimeError("Cannot access accelerator device when none is available.")
    return self.clone()


def _as_subclass(self: Tensor, cls: type) -> Tensor:
    """Tensor.as_subclass: the same tensor (memory and graph) as an instance of ``cls``."""
    if not (isinstance(cls, type) and issubclass(cls, Tensor)):
        raise TypeError("Creating a Tensor subclass from a class that does not inherit from Tensor is not possible. "
                        "Make sure your class inherits from Tensor.")
    view = self[...]  # a view in the graph (view(shape) of the same shape is self)
    out = object.__new__(cls)
    for name in Tensor.__slots__:
        if name != "__weakref__" and hasattr(view, name):
            setattr(out, name, getattr(view, name))
    return out


def _module_load(self: Tensor, other, assign: bool = False) -> Tensor:
    """Tensor.module_load: what load_state_dict puts in a module: ``other.detach()`` with assign, else
    ``self.copy_(other).detach()`` (other cast to self's dtype, broadcast to its shape)."""
    if assign:
        return other.detach()
    if not isinstance(other, Tensor):
        raise TypeError(f"copy_(): argument 'other' (position 1) must be Tensor, not {type(other).__name__}")
    return self.copy_(other).detach()


def _no_dtype(name: str, dtype: str):
    def cast(self: Tensor, memory_format=None) -> Tensor:
        raise TypeError(f"Tensor.{name}(): the engine has no {dtype} dtype (NumPy and CuPy lack it)")
    cast.__name__ = name
    cast.__doc__ = f"torch's {dtype} cast: raises, the engine has no {dtype} dtype."
    return cast


def _removed_method(fn):
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    method.__name__, method.__doc__ = fn.__name__, fn.__doc__
    return method


_FALSE_FLAGS = ("is_sparse", "is_sparse_csr", "is_quantized", "is_meta", "is_nested", "is_mps", "is_xpu", "is_ipu",
                "is_xla", "is_mkldnn", "is_vulkan", "is_maia", "is_mtia")

TENSOR_PROPERTIES = {
    "layout": lambda self: _engine().strided,
    "output_nr": lambda self: 0,
    "name": lambda self: None,
    "grad_dtype": lambda self: self.dtype,
    **{flag: (lambda self: False) for flag in _FALSE_FLAGS},
}

TENSOR_METHODS = {
    "pin_memory": _pin_memory,
    "is_pinned": lambda self, device=None: False,
    "new": _new,
    "to_dense": lambda self, dtype=None, *, masked_grad=None: self if dtype is None else self.to(dtype),
    "dim_order": _dim_order,
    "const_data_ptr": lambda self: self.data_ptr(),
    "resize": _resize,
    "resize_as": _resize_as,
    "is_set_to": _is_set_to,
    "is_shared": lambda self: False,
    "untyped_storage": _untyped_storage,
    "chalf": _no_dtype("chalf", "complex32"),
    "bfloat16": _no_dtype("bfloat16", "bfloat16"),
    "as_subclass": _as_subclass,
    "record_stream": lambda self, stream: None,
    "module_load": _module_load,
    "orgqr": orgqr,
    "is_distributed": lambda self: False,
    "eig": _removed_method(eig),
    "symeig": _removed_method(symeig),
    "lstsq": _removed_method(lstsq),
    "solve": _removed_method(solve),
    "__dlpack__": lambda self, stream=None, **kw: self._data.__dlpack__(),
    "__dlpack_device__": lambda self: self._data.__dlpack_device__(),
}

TORCH_FUNCTIONS = {f.__name__: f for f in (
    batch_norm, instance_norm, binary_cross_entropy_with_logits, kl_div, poisson_nll_loss, ctc_loss, embedding_bag,
    convolution, native_layer_norm, native_batch_norm, native_group_norm, native_dropout, feature_dropout,
    dropout_, alpha_dropout_, feature_dropout_, feature_alpha_dropout_, embedding_renorm_, frobenius_norm,
    nuclear_norm, norm_except_dim, max_pool1d_with_indices, binomial, orgqr, segment_reduce, detach_copy,
    select_copy, slice_copy, split_copy, view_as_real_copy, view_as_complex_copy, rnn_tanh_cell, rnn_relu_cell,
    lstm_cell, gru_cell, lstm, gru, rnn_tanh, rnn_relu, cond, while_loop, get_default_device, set_default_device,
    is_inference, set_anomaly_enabled, is_anomaly_enabled, is_anomaly_check_nan_enabled, set_warn_always,
    is_warn_always_enabled, typename, is_storage, get_device, set_flush_denormal, get_num_interop_threads,
    set_num_interop_threads, init_num_threads, is_distributed, set_default_tensor_type, is_autocast_enabled,
    set_autocast_enabled, get_autocast_dtype, set_autocast_dtype, is_autocast_cpu_enabled, get_autocast_cpu_dtype,
    set_autocast_cpu_enabled, set_autocast_cpu_dtype, clear_autocast_cache, autocast_increment_nesting,
    autocast_decrement_nesting, is_autocast_cache_enabled, set_autocast_cache_enabled, frombuffer, from_dlpack,
    to_dlpack, eig, symeig, lstsq, solve, matrix_rank)}
TORCH_FUNCTIONS["range"] = range_  # torch.range (a Python builtin's name, so defined as range_)

F_ALIASES = ("channel_shuffle", "native_channel_shuffle", "celu_", "selu_", "rrelu_", "threshold_")


def install(engine_module: types.ModuleType) -> list[str]:
    """Attach the Tensor properties and methods, and put the top-level functions on ``engine_module``
    (only names it does not have yet). Returns the top-level names added."""
    import engine.functional as F  # noqa: N812
    from engine.torch_more import put_missing

    put_missing(Tensor, {name: property(getter) for name, getter in TENSOR_PROPERTIES.items()})
    put_missing(Tensor, TENSOR_METHODS)
    added = put_missing(engine_module, TORCH_FUNCTIONS)
    added += put_missing(engine_module, {name: getattr(F, name) for name in F_ALIASES if hasattr(F, name)})
    return added + put_missing(engine_module, {"UntypedStorage": UntypedStorage})
