"""Layers built only from engine ops: no layer defines its own backward.

Names, constructor signatures, defaults, default initialization and parameter names are
torch.nn's, so a torch ``state_dict`` (as NumPy arrays) loads with ``load_state_dict``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

import engine.functional as F
from engine import Tensor, no_grad
from engine.backend import to_device, to_numpy
from nn import init
from nn.activation import GELU, ReLU, Tanh  # noqa: F401 - re-exported (old import path)
from nn.module import Module, Parameter, UninitializedParameter


def _param(shape, dtype=None, device=None) -> Parameter:
    return Parameter(Tensor.zeros(*shape, dtype=dtype or "float32", device=device or "cpu"))


def _ids(x):
    """Integer ids as an array (Tensor, NumPy/CuPy array or list)."""
    if isinstance(x, Tensor):
        return x._data
    return x if hasattr(x, "dtype") else np.asarray(x)


class _IndexOutOfRange(IndexError, ValueError):
    """torch's embedding error (an IndexError); a ValueError too, as the engine's id checks raise."""


class _BagIndexOutOfRange(RuntimeError, ValueError):
    """torch's embedding_bag error (a RuntimeError); a ValueError too, as the engine's id checks raise."""


def _check_ids(ids, n: int, op: str) -> None:
    """torch's checks of embedding ids: an integer dtype (RuntimeError), every id in [0, n)."""
    if ids.dtype.kind not in "iu":
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {ids.dtype} instead (while checking arguments for {op})")
    if not ids.size:
        return
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= n:
        bad = lo if lo < 0 else hi
        if op == "embedding":
            raise _IndexOutOfRange(f"index out of range in self (id {bad} is not in [0, {n}))")
        raise _BagIndexOutOfRange(f"Index {bad} is not in the valid range [0, {n})")


def _renorm_rows(weight: Parameter, ids, max_norm: float, norm_type: float) -> None:
    """torch's embedding_renorm_: rows used by ``ids`` with norm > max_norm scaled to max_norm, in place."""
    with no_grad():
        w = weight._data
        rows = np.unique(to_numpy(ids).reshape(-1))
        xp_rows = to_device(rows, weight.device)
        sub = w[xp_rows]
        norms = (abs(sub) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
        scale = max_norm / (norms + 1e-7)
        scale[norms <= max_norm] = 1
        weight[xp_rows] = sub * scale[:, None].astype(w.dtype)  # bumps its version


def _scale_grad_by_freq(rows: Tensor, ids) -> Tensor:
    """``rows`` (..., D), looked up by ``ids`` (...): the same values, with the gradient of each
    lookup divided by how often its id occurs in ``ids`` (torch's ``scale_grad_by_freq``)."""
    flat = to_numpy(ids).reshape(-1)
    _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    scale = (1.0 / counts[inverse]).reshape(*np.shape(ids), 1).astype(rows.dtype)
    frozen = rows.detach()
    return frozen + (rows - frozen) * Tensor(to_device(scale, rows.device))  # value: rows exactly


class Identity(Module):
    """Returns its input; takes (and ignores) any constructor arguments, as torch's."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class _ShapeError(RuntimeError, ValueError):
    """A shape mismatch: RuntimeError as torch raises it, and ValueError as this library did."""


class Linear(Module):
    """y = x Wᵀ + b, with W (out, in). Initialized as torch does: U(±1/sqrt(in)).

    >>> Linear(3, 2)(Tensor.randn(4, 3)).shape
    (4, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = _param((out_features, in_features), dtype, device)
        if bias:
            self.bias = _param((out_features,), dtype, device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        if input.shape[-1:] != (self.in_features,):
            # torch's RuntimeError and message; a ValueError too, for callers that caught ours before.
            rows = math.prod(input.shape[:-1]) if input.ndim > 1 else 1
            cols = input.shape[-1] if input.ndim else 1
            raise _ShapeError(f"Linear({self.in_features}, {self.out_features}) got input of shape {input.shape}: "
                              f"mat1 and mat2 shapes cannot be multiplied ({rows}x{cols} "
                              f"and {self.in_features}x{self.out_features})")
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class LazyLinear(Linear):
    """torch.nn.LazyLinear: a Linear whose ``in_features`` comes from its first input. Until then
    its weight and bias are ``UninitializedParameter``s (``in_features`` 0); the first forward (or a
    ``load_state_dict``, from the checkpoint's shapes) makes them, initializes them as Linear's
    ``reset_parameters`` does, and the module becomes a ``Linear``. Build the optimizer after that.

    >>> m = LazyLinear(2); y = m(Tensor.randn(4, 3)); type(m).__name__, m.weight.shape
    ('Linear', (2, 3))
    """

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None):
        Module.__init__(self)
        self.in_features, self.out_features = 0, out_features
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self._lazy_hook = self.register_load_state_dict_pre_hook(LazyLinear._materialize_from_checkpoint)

    def has_uninitialized_params(self) -> bool:
        return isinstance(self.weight, UninitializedParameter)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input: Tensor) -> None:
        """Shapes from ``input`` (…, in_features), then Linear's initialization; the module becomes a Linear."""
        if self.has_uninitialized_params():
            self._materialize(input.shape[-1] if input.ndim else 1)
            self.reset_parameters()
        self._become_linear()

    def forward(self, input: Tensor) -> Tensor:
        self.initialize_parameters(input)
        return Linear.forward(self, input)

    def _materialize(self, in_features: int) -> None:
        with no_grad():
            self.in_features = int(in_features)
            self.weight.materialize((self.out_features, self.in_features))
            if self.bias is not None:
                self.bias.materialize((self.out_features,))

    def _become_linear(self) -> None:
        self._lazy_hook.remove()  # the hook below, its work done
        del self._lazy_hook
        self.__class__ = self.cls_to_become

    @staticmethod
    def _materialize_from_checkpoint(module, state_dict, prefix, *args) -> None:
        """load_state_dict into a module not yet run: the checkpoint's weight gives the shapes (torch's)."""
        weight = state_dict.get(prefix + "weight")
        if isinstance(module, LazyLinear) and module.has_uninitialized_params() and weight is not None:
            module._materialize(np.shape(weight._data if isinstance(weight, Tensor) else weight)[-1])
            module._become_linear()


class Bilinear(Module):
    """y = x1ᵀ A x2 + b with A (out, in1, in2); init U(±1/sqrt(in1)) as torch.

    >>> Bilinear(2, 3, 4)(Tensor.randn(5, 2), Tensor.randn(5, 3)).shape
    (5, 4)
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = _param((out_features, in1_features, in2_features), dtype, device)
        if bias:
            self.bias = _param((out_features,), dtype, device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        if input1.shape[-1] != self.in1_features or input2.shape[-1] != self.in2_features \
                or input1.shape[:-1] != input2.shape[:-1]:
            raise RuntimeError(f"Bilinear: input1 {input1.shape} and input2 {input2.shape} do not match "
                               f"({self.in1_features}, {self.in2_features}) with equal leading dims")
        lead = input1.shape[:-1]
        o, i, j = self.weight.shape
        x1 = input1.reshape(-1, i)  # (N, in1)
        x2 = input2.reshape(-1, j)  # (N, in2)
        t = (x1 @ self.weight.permute(1, 0, 2).reshape(i, o * j)).reshape(-1, o, j)  # (N, out, in2)
        y = (t * x2.reshape(-1, 1, j)).sum(axis=-1)  # (N, out)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, o)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class Flatten(Module):
    """Flattens dims ``start_dim..end_dim`` (default: all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expands dim ``dim`` into ``unflattened_size``."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError("unflattened_size must be a tuple of ints, but found type "
                            f"{type(unflattened_size).__name__}")
        for pos, size in enumerate(unflattened_size):
            if not isinstance(size, int):
                raise TypeError(f"unflattened_size must be tuple of ints, but found element of type "
                                f"{type(size).__name__} at pos {pos}")
        self.dim, self.unflattened_size = dim, unflattened_size  # kept as given: a list prints as a list

    def forward(self, input: Tensor) -> Tensor:
        return input.unflatten(self.dim, self.unflattened_size)  # its errors name unflatten and the sizes

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Embedding(Module):
    """A lookup table (num, dim) indexed by integer ids. Initialized N(0, 1) as torch does;
    the ``padding_idx`` row starts at zero and gets no gradient; ``max_norm`` renormalizes the
    looked-up rows in place first; ``scale_grad_by_freq`` divides each row's gradient by how often
    its id occurs in the batch. ``sparse=True``: the weight's gradient is a sparse COO tensor of the
    looked-up rows (engine/sparse.py), for optim.SparseAdam, SGD or Adagrad.

    >>> Embedding(10, 4)(np.array([[1, 2, 3]])).shape
    (1, 3, 4)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight=None, _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = padding_idx % num_embeddings
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = _param((num_embeddings, embedding_dim), dtype, device)
            self.reset_parameters()
        else:
            w = _weight if isinstance(_weight, Tensor) else Tensor(np.asarray(_weight))
            if w.shape != (num_embeddings, embedding_dim):
                raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
            self.weight = Parameter(w._data.copy())
        self.weight.requires_grad = not _freeze

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight._data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An Embedding holding a copy of ``embeddings`` (2-D); frozen unless ``freeze=False``."""
        w = embeddings._data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if w.ndim != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        return cls(w.shape[0], w.shape[1], _weight=w, _freeze=freeze, padding_idx=padding_idx,
                   max_norm=max_norm, norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)

    def forward(self, input) -> Tensor:
        ids = _ids(input)
        _check_ids(ids, self.num_embeddings, "embedding")
        if self.max_norm is not None:
            _renorm_rows(self.weight, ids, self.max_norm, self.norm_type)
        if self.sparse:
            return F.embedding(ids, self.weight, self.padding_idx, scale_grad_by_freq=self.scale_grad_by_freq,
                               sparse=True)
        out = F.embedding(ids, self.weight)
        if self.scale_grad_by_freq:
            out = _scale_grad_by_freq(out, ids)
        if self.padding_idx is not None and self.weight.requires_grad:
            # the padding row's value is looked up but gets no gradient
            keep = (ids != self.padding_idx)[..., None]
            out = F.where(keep, out, out.detach())
        return out

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse is not False:
            s += ", sparse=True"
        return s


class EmbeddingBag(Module):
    """Sums, means or maxes of bags of embeddings: ``input`` 2-D (B, N) gives B bags of N ids;
    1-D with ``offsets`` gives bags starting at each offset.

    >>> bag = EmbeddingBag(10, 3, mode="sum")
    >>> bag(np.array([1, 2, 4, 5]), np.array([0, 2])).shape
    (2, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm: float | None = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                 _weight=None, include_last_offset: bool = False, padding_idx: int | None = None,
                 device=None, dtype=None):
        super().__init__()
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"mode has to be one of sum, mean or max, got {mode!r}")
        self.num_embeddings, self.embedding_dim, self.mode = num_embeddings, embedding_dim, mode
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        self.include_last_offset = include_last_offset
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError("padding_idx must be within num_embeddings")
            padding_idx = padding_idx % num_embeddings
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = _param((num_embeddings, embedding_dim), dtype, device)
            self.reset_parameters()
        else:
            self.weight = Parameter(_weight._data.copy() if isinstance(_weight, Tensor) else np.array(_weight))

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight._data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, max_norm=None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                        include_last_offset: bool = False, padding_idx: int | None = None) -> EmbeddingBag:
        w = embeddings._data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        bag = cls(w.shape[0], w.shape[1], max_norm, norm_type, scale_grad_by_freq, mode, sparse, w,
                  include_last_offset, padding_idx)
        bag.weight.requires_grad = not freeze
        return bag

    def forward(self, input, offsets=None, per_sample_weights=None) -> Tensor:
        ids = to_numpy(_ids(input))
        if ids.ndim not in (1, 2):
            raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {ids.ndim}")
        _check_ids(ids, self.num_embeddings, "embedding_bag")
        if ids.ndim == 2:
            if offsets is not None:
                raise ValueError("if input is 2D, then offsets has to be None")
            offs = np.arange(0, ids.size, ids.shape[1]) if ids.shape[1] else np.zeros(ids.shape[0], dtype=np.int64)
            ids_flat = ids.reshape(-1)
            ends = list(offs[1:]) + [ids_flat.size]
        elif ids.ndim == 1:
            if offsets is None:
                raise ValueError("offsets has to be a 1D Tensor but got None")
            offs = to_numpy(_ids(offsets)).astype(np.int64)
            ids_flat = ids
            if self.include_last_offset:
                offs, ends = offs[:-1], list(offs[1:])
            else:
                ends = list(offs[1:]) + [ids_flat.size]
        else:
            raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {ids.ndim}")
        if per_sample_weights is not None and self.mode != "sum":
            raise NotImplementedError("embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                      f"supported for mode='sum' (got mode='{self.mode}')")
        if self.mode == "max" and self.scale_grad_by_freq:  # torch checks these at the call
            raise ValueError("max mode does not support scaling the gradient by the frequency")
        if self.mode == "max" and self.sparse:
            raise ValueError("max mode does not support sparse weights")
        if self.max_norm is not None:
            _renorm_rows(self.weight, ids_flat, self.max_norm, self.norm_type)
        if self.sparse:  # a sparse gradient without the padding lookups, as torch's
            rows = F.embedding(to_device(ids_flat.astype(np.int64), self.weight.device), self.weight,
                               self.padding_idx, scale_grad_by_freq=self.scale_grad_by_freq, sparse=True)
        else:
            rows = F.embedding(to_device(ids_flat.astype(np.int64), self.weight.device), self.weight)  # (M, D)
        if self.scale_grad_by_freq and not self.sparse:
            rows = _scale_grad_by_freq(rows, ids_flat)
        if per_sample_weights is not None:
            rows = rows * per_sample_weights.reshape(-1, 1)
        keep = np.ones(ids_flat.shape, dtype=bool) if self.padding_idx is None else ids_flat != self.padding_idx
        bags = []
        for lo, hi in zip(offs, ends):
            idx = np.arange(lo, hi)[keep[lo:hi]]
            if idx.size == 0:
                bags.append(Tensor.zeros(self.embedding_dim, dtype=self.weight.dtype, device=self.weight.device))
                continue
            sel = rows[to_device(idx, self.weight.device)]  # (n, D)
            bags.append(sel.sum(axis=0) if self.mode == "sum" else sel.mean(axis=0) if self.mode == "mean"
                        else sel.amax(axis=0))
        if not bags:
            return Tensor.zeros(0, self.embedding_dim, dtype=self.weight.dtype, device=self.weight.device)
        return F.stack(bags, 0)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm!r}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type!r}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq!r}"
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


class LayerNorm(Module):
    """LayerNorm over the trailing ``normalized_shape`` dims (an int or a tuple), as torch's.

    >>> LayerNorm(4)(Tensor.randn(2, 4)).shape
    (2, 4)
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = init.ones_(_param(self.normalized_shape, dtype, device))
            if bias:
                self.bias = _param(self.normalized_shape, dtype, device)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    @property
    def dim(self) -> int:
        """The size of the normalized axis (GPT's old name; 1-D normalized_shape only)."""
        return self.normalized_shape[-1]

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        k = len(self.normalized_shape)
        if input.shape[input.ndim - k:] != self.normalized_shape:
            raise RuntimeError(f"LayerNorm: expected input with shape [*, {', '.join(map(str, self.normalized_shape))}]"
                               f", but got input of size {input.shape}")
        if k == 1:
            return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)
        axes = tuple(range(input.ndim - k, input.ndim))
        mean = input.mean(axis=axes, keepdims=True)
        d = input - mean
        y = d / ((d * d).mean(axis=axes, keepdims=True) + self.eps).sqrt()
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class Dropout(Module):
    """Zeroes entries with probability p in train mode only, scaling the rest by 1/(1-p)."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input: Tensor) -> Tensor:
        if self.p == 1 and self.training:
            return input * 0.0
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class _DropoutNd(Dropout):
    """Zeroes whole channels: one draw per (N, C) entry (per C for an unbatched input), broadcast
    over the spatial dims. The accepted ranks and the odd cases are torch's F.dropout{1,2,3}d's."""

    _nd = 1

    def _drawn_dims(self, ndim: int) -> int:
        """How many leading dims get their own draw. Dropout1d refuses ranks other than 2 and 3;
        Dropout2d/3d warn about them. Dropout2d reads any input as (N, C, ...), a 3D one included."""
        nd, name = self._nd, f"dropout{self._nd}d"
        if ndim not in (nd + 1, nd + 2):
            if nd == 1:
                raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {ndim}D input. Note that "
                                   "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
                                   "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or "
                                   "3D inputs).")
            warnings.warn(f"{name}: Received a {ndim}-D input to {name}, which is deprecated and will result in an "
                          "error in a future release. To retain the behavior and silence this warning, please use "
                          f"dropout instead. Note that {name} exists to provide channel-wise dropout on inputs with "
                          f"{nd} spatial dimensions, a channel dimension, and an optional batch dimension (i.e. "
                          f"{nd + 1}D or {nd + 2}D inputs).", stacklevel=3)
        if nd == 2:
            if ndim == 3:
                warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                              "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel "
                              "dim. This behavior will change in a future release to interpret the input as one "
                              "without a batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise "
                              "dropout behavior, please switch to using dropout1d instead.", stacklevel=3)
            return min(2, ndim)
        return 2 if ndim == nd + 2 else 1

    def forward(self, input: Tensor) -> Tensor:
        drawn = self._drawn_dims(input.ndim)
        if not self.training or self.p == 0:
            return input
        mask_shape = input.shape[:drawn] + (1,) * (input.ndim - drawn)
        keep = Tensor.rand(*mask_shape, dtype=input.dtype, device=input.device)._data >= self.p
        scale = 0.0 if self.p == 1 else 1.0 / (1 - self.p)
        return input * Tensor(keep.astype(input.dtype) * input.dtype.type(scale))


class Dropout1d(_DropoutNd):
    """Channel dropout for (N, C, L) or (C, L) inputs."""

    _nd = 1


class Dropout2d(_DropoutNd):
    """Channel dropout for (N, C, H, W) or (C, H, W) inputs."""

    _nd = 2


class Dropout3d(_DropoutNd):
    """Channel dropout for (N, C, D, H, W) or (C, D, H, W) inputs."""

    _nd = 3


class AlphaDropout(Dropout):
    """Dropout that keeps SELU's zero mean and unit variance (dropped entries go to -alpha')."""

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return input
        if self.p == 1:
            return input * 0.0
        alpha = 1.7580993408473766
        p = self.p
        a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
        keep = (Tensor.rand(*input.shape, dtype=input.dtype, device=input.device)._data >= p).astype(input.dtype)
        b = (keep - 1) * (alpha * a) + alpha * a * p
        return input * Tensor(keep * input.dtype.type(a)) + Tensor(b.astype(input.dtype))


class FeatureAlphaDropout(AlphaDropout):
    """Alpha dropout of whole channels."""

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return input
        alpha = 1.7580993408473766
        p = self.p
        a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
        shape = input.shape[:2] + (1,) * (input.ndim - 2)
        keep = (Tensor.rand(*shape, dtype=input.dtype, device=input.device)._data >= p).astype(input.dtype)
        b = (keep - 1) * (alpha * a) + alpha * a * p
        return input * Tensor(keep * input.dtype.type(a)) + Tensor(b.astype(input.dtype))


class MLP(Module):
    """GPT's feed-forward block: Linear(C, 4C) → GELU → Linear(4C, C) → Dropout.

    >>> MLP(8)(Tensor.randn(2, 3, 8)).shape
    (2, 3, 8)
    """

    def __init__(self, n_embd: int, hidden: int | None = None, dropout: float = 0.0, bias: bool = True,
                 approximate: str = "tanh"):
        super().__init__()
        hidden = hidden or 4 * n_embd
        self.c_fc = Linear(n_embd, hidden, bias=bias)
        self.gelu = GELU(approximate)
        self.c_proj = Linear(hidden, n_embd, bias=bias)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class SinusoidalPositionalEncoding(Module):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)). No parameters.

    >>> SinusoidalPositionalEncoding(16, 4)(np.arange(3)).shape
    (3, 4)
    """

    def __init__(self, max_len: int, dim: int, dtype="float32"):
        super().__init__()
        self.max_len, self.dim = max_len, dim
        pos = np.arange(max_len, dtype=np.float64)[:, None]
        freq = 10000.0 ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)  # (ceil(d/2),)
        table = np.zeros((max_len, dim))
        table[:, 0::2] = np.sin(pos * freq)
        table[:, 1::2] = np.cos(pos * freq[: dim // 2])
        self.register_buffer("table", Tensor(table.astype(dtype)), persistent=False)

    def forward(self, positions) -> Tensor:
        positions = _positions(positions, self.max_len, "max_len")
        return self.table[to_device(positions, self.table.device)]


class LearnedPositionalEmbedding(Embedding):
    """A trained table of position vectors (GPT-2's ``wpe``)."""

    def forward(self, positions) -> Tensor:
        return super().forward(_positions(positions, self.num_embeddings, "the number of learned positions"))


def _positions(positions, n: int, what: str):
    """Integer position ids (Tensor, array or list) checked to lie in [0, n).

    A negative position would otherwise index the table from its end and silently
    return the encoding of a late position.
    """
    if isinstance(positions, Tensor):
        positions = positions._data
    elif not hasattr(positions, "dtype"):  # a list; NumPy and CuPy arrays pass through
        positions = np.asarray(positions)
    if positions.dtype.kind not in "iu":
        raise TypeError(f"positions must be integers, got dtype {positions.dtype}")
    if positions.size:
        lo, hi = int(positions.min()), int(positions.max())
        if lo < 0:
            raise ValueError(f"position {lo} is negative")
        if hi >= n:
            raise ValueError(f"position {hi} is beyond {what} {n}")
    return positions


class CosineSimilarity(Module):
    """Cosine similarity of ``x1`` and ``x2`` along ``dim`` (norms clamped below by ``eps``)."""

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """The p-norm of ``x1 - x2 + eps`` over the last dim, as torch's pairwise_distance."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        diff = x1 - x2 + self.eps
        return diff.norm(self.norm, dim=-1, keepdim=self.keepdim)


class ChannelShuffle(Module):
    """Splits the channels (dim 1) into ``groups`` and interleaves them: (N, g·k, *) -> (N, k·g, *)."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, input: Tensor) -> Tensor:
        n, c, *rest = input.shape
        if c % self.groups:
            raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels and "
                               f"{self.groups} groups.")
        x = input.reshape(n, self.groups, c // self.groups, *rest).transpose(1, 2)
        return x.reshape(n, c, *rest)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
