"""The user-facing `Tensor`: an array, an optional gradient and a link to the op that made it.

It holds no math: every method calls an op from ``engine.ops``. ``backward`` walks the
graph in reverse topological order (iterative, so depth is unlimited).
"""

from __future__ import annotations

import copy
import math
import threading
import warnings
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import function, return_types
from engine.backend import array_module, check_device, device_of, get_xp, scatter_add, to_device, to_numpy
from engine.dtypes import can_cast, result_type, to_dtype, to_real
from engine.formats import check_memory_format, is_contiguous_as
from engine.function import Function, is_grad_enabled
from engine.ops import complex as complex_ops
from engine.ops import elementwise as elementwise_ops
from engine.ops import matmul as matmul_ops
from engine.ops import movement as movement_ops
from engine.ops import reduce as reduce_ops
from engine.ops import scan as scan_ops
from engine.ops.fused import Gelu
from engine.ops.movement import ShapeError, broadcast_error, wrap_dim, wrap_dims
from engine.rng import generator


def _as_array(data: Any, dtype=None, device: str | None = None):
    """Backend array for ``data``. Python floats become float32; arrays keep their dtype."""
    if isinstance(data, Tensor):
        data = data._data
    xp = get_xp(device) if device is not None else array_module(data)
    if dtype is None and not hasattr(data, "dtype"):
        arr = np.asarray(data)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        elif arr.dtype == np.complex128:  # a Python complex is torch's default complex, complex64
            arr = arr.astype(np.complex64)
        return arr if xp is np else xp.asarray(arr)
    if device is not None and device_of(data) != check_device(device) and hasattr(data, "dtype"):
        data = to_device(data, device)
    return xp.asarray(data, dtype=dtype)


class Size(tuple):
    """torch.Size: a tuple of dims that also has ``numel()``; ``Tensor.size()`` returns one (``.shape``
    is a plain tuple, equal to it).

    >>> Tensor.zeros(2, 3).size(), Tensor.zeros(2, 3).size().numel()
    (engine.Size([2, 3]), 6)
    """

    def numel(self) -> int:
        return math.prod(self)

    def __getitem__(self, index):
        item = super().__getitem__(index)
        return Size(item) if isinstance(index, slice) else item

    def __add__(self, other) -> Size:
        return Size(tuple(self) + tuple(other))

    def __repr__(self) -> str:
        return f"engine.Size({list(self)})"


class RandomDtypeError(NotImplementedError, TypeError):
    """A sampler asked for a dtype it has no kernel for: torch's NotImplementedError (a RuntimeError),
    still a TypeError for callers that caught the old error."""


class RequiresGradDtypeError(TypeError, RuntimeError):
    """requires_grad on an integer or bool tensor: torch raises RuntimeError; TypeError too."""


class Tensor:
    """An n-dimensional array that records the ops applied to it for reverse-mode autodiff.

    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.numpy().tolist()
    [2.0, 4.0, 6.0]
    """

    # _vc: the version counter, a one-element list shared by views and detach() of one array.
    # _view: (base, the base's node when this view was made) for a view of another tensor's memory, else None.
    # Leaves only, None until used (engine.flat, register_post_accumulate_grad_hook): _grad_buffer, an
    # array that backward writes the first gradient into; _post_acc_hooks, called after each accumulation.
    __slots__ = ("_data", "_grad", "_requires_grad", "_ctx", "_vc", "_retains_grad", "_grad_buffer", "_post_acc_hooks",
                 "_grad_hooks", "_gref", "_view", "__weakref__")
    __array_priority__ = 1000  # numpy_array * tensor calls Tensor.__rmul__

    def __init__(self, data: Any, requires_grad: bool = False, dtype=None, device: str | None = None):
        arr = data if (dtype is None and device is None and type(data) is np.ndarray) else _as_array(
            data, dtype, device
        )
        if type(arr) is not np.ndarray and not hasattr(arr, "__cuda_array_interface__"):
            arr = np.asarray(arr)  # NumPy scalars from reductions become 0-d arrays
        if requires_grad and arr.dtype.kind not in "fc":
            raise RequiresGradDtypeError(f"{_REQUIRES_GRAD_DTYPE} (got dtype {arr.dtype})")
        self._data = arr
        self._grad: Tensor | None = None
        self._requires_grad = requires_grad
        self._ctx: Function | None = None
        self._vc = [0]
        self._retains_grad = False
        # None, not unset: backward reads them per node, and a getattr that misses a slot raises
        # and catches inside (~0.6 us, against ~0.1 us for a hit)
        self._grad_buffer = self._post_acc_hooks = self._grad_hooks = self._gref = self._view = None

    # ---- properties -------------------------------------------------------------------
    @property
    def data(self) -> Tensor:
        """torch's ``.data``: this tensor's memory as a new tensor outside the graph, whose in-place
        changes autograd does not see (``detach()`` is the checked way). ``t.data = u`` makes t hold
        u's memory (and shape), as torch.

        >>> w = Tensor([1.0, 2.0], requires_grad=True)
        >>> _ = w.data.mul_(10); w.tolist(), w.data.requires_grad
        ([10.0, 20.0], False)
        """
        return Tensor(self._data)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(value).__name__}")
        if self._requires_grad and value.dtype.kind not in "fc":
            raise RuntimeError("data set to a tensor that requires gradients must be floating point or complex "
                               f"dtype (got {value.dtype})")
        self._data = value._data

    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def device(self) -> str:
        return device_of(self._data)

    @property
    def _base(self) -> Tensor | None:
        """The tensor whose memory this view shares (torch's ``_base``), None when it is not a view."""
        return None if self._view is None else self._view[0]

    @property
    def _version(self) -> int:
        """How many times this tensor's memory was modified in place (bump it after writing
        to ``._data`` directly, so that a pending backward that saved it raises)."""
        return self._vc[0]

    @_version.setter
    def _version(self, value: int) -> None:
        self._vc[0] = value

    @property
    def grad(self) -> Tensor | None:
        """The gradient backward accumulated (None until then). Read on a non-leaf that does not
        ``retain_grad`` it is None with torch's UserWarning: backward fills only leaves."""
        g = self._grad
        if g is None and self._ctx is not None and not self._retains_grad:
            warnings.warn(_NON_LEAF_GRAD, UserWarning, stacklevel=2)
        return g

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:  # torch's checks and words: a gradient matches its tensor
            if not isinstance(value, (Tensor, SparseTensor)):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type "
                                f"{type(value).__name__}")
            if value.dtype != self.dtype:
                raise RuntimeError(f"attempting to assign a gradient with dtype '{value.dtype}' to a tensor with "
                                   f"dtype '{self.dtype}'. The gradient must match the tensor's dtype")
            if value.shape != self.shape:
                raise RuntimeError(f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor of "
                                   f"size '{list(self.shape)}'. Please ensure that the gradient and the tensor are "
                                   "the same size")
            if value.device != self.device:
                raise RuntimeError(f"attempting to assign a gradient located on device '{value.device}' to a "
                                   f"tensor located on device '{self.device}'. Please ensure that the gradient "
                                   "and the tensor are on the same device")
        self._grad = value

    @property
    def requires_grad(self) -> bool:
        """Whether backward computes a gradient for this tensor. Settable on leaves of a float dtype (torch's
        errors otherwise: an integer tensor, or turning it off on a tensor an op made)."""
        view = self._view  # a view made before its base gained grad (through another view) catches up, as torch's
        if view is not None and not self._requires_grad and view[0]._requires_grad and is_grad_enabled():
            function._catch_up_view(self)
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if self._ctx is not None:  # torch's setter refuses a non-leaf either way (requires_grad_(True) passes)
            raise RuntimeError(_NON_LEAF_FLAG if not flag else _NON_LEAF_FLAG.split(". ")[0] + ".")
        self._set_requires_grad(flag)

    def _set_requires_grad(self, flag: bool) -> None:
        if flag and self.dtype.kind not in "fc":
            raise RequiresGradDtypeError(f"{_REQUIRES_GRAD_DTYPE} (got dtype {self.dtype})")
        self._requires_grad = bool(flag)

    @property
    def grad_fn(self) -> function.Node | None:
        """The graph node of the op that made this tensor (None for a leaf), as torch's: ``name()``
        (``"MulBackward0"``) and ``next_functions``.

        >>> x = Tensor([1.0], requires_grad=True); (x * 2).grad_fn.name(), x.grad_fn
        ('MulBackward0', None)
        """
        view = self._view  # a view whose base changed in place since is re-derived (as torch: AsStridedBackward0)
        if view is not None and view[0]._ctx is not view[1] and self._requires_grad and is_grad_enabled():
            _rederive_view(self)
        return function.node_of(self._ctx)

    def _is_view(self) -> bool:
        """Whether this tensor is a view of another's memory (torch's ``_is_view``; ``_base`` is that tensor)."""
        return self._view is not None

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def T(self) -> Tensor:
        if self.ndim != 2:  # torch's deprecation warnings, word for word
            warnings.warn(_T_0D if self.ndim == 0 else _T_ND, UserWarning, stacklevel=2)
        return self.permute(*reversed(range(self.ndim)))

    def size(self, dim: int | None = None):
        """The shape as a ``Size`` (torch's ``x.size()``), or one of its entries (``x.size(0)``)."""
        return Size(self.shape) if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    def dim(self) -> int:
        """The number of dimensions (torch's ``x.dim()``)."""
        return self.ndim

    ndimension = dim

    @property
    def is_cuda(self) -> bool:
        return self.device == "gpu"

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return int(self._data.nbytes)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        from engine.printing import array2string_options  # set_printoptions's settings

        body = np.array2string(to_numpy(self._data), separator=", ", prefix="Tensor(", **array2string_options())
        extra = f", dtype={self.dtype}, device={self.device}"
        if self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    # ---- copy and pickle ------------------------------------------------------------------
    def __deepcopy__(self, memo: dict) -> Tensor:
        """``copy.deepcopy``: a leaf with its own copy of the values, ``requires_grad`` and ``.grad``, as
        torch; a tensor an op made raises torch's error (``detach()`` it first).

        >>> import copy
        >>> x = Tensor([1.0], requires_grad=True); copy.deepcopy(x).requires_grad
        True
        """
        if self._ctx is not None:
            raise RuntimeError(_DEEPCOPY_NON_LEAF)
        if id(self) in memo:
            return memo[id(self)]
        new = type(self).__new__(type(self))
        Tensor.__init__(new, self._data.copy(), requires_grad=self.requires_grad)
        memo[id(self)] = new
        if self._grad is not None:
            new._grad = copy.deepcopy(self._grad, memo)
        for name, value in _subclass_state(self).items():
            setattr(new, name, copy.deepcopy(value, memo))
        return new

    def __reduce_ex__(self, protocol):
        """Pickled as torch pickles a tensor: its values and ``requires_grad`` (a non-leaf comes back a leaf),
        without ``.grad``, hooks or graph; a subclass keeps its class and its own attributes."""
        return _rebuild_tensor, (type(self), self._data, self.requires_grad, _subclass_state(self))

    # ---- conversion ---------------------------------------------------------------------
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """A NumPy array (copied from the GPU when needed; shares memory on the CPU). ``force`` is
        accepted as torch's: the copy from the GPU happens either way."""
        return to_numpy(self._data)

    def item(self) -> float | int | bool | complex:
        if self._data.size != 1:
            raise ShapeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar "
                             f"(shape {self.shape})")  # RuntimeError as torch; ValueError too
        return self._data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def to(self, *args, dtype=None, device=None, non_blocking: bool = False, copy: bool = False,
           memory_format=None) -> Tensor:
        """torch's overloads: ``to(dtype, non_blocking=False, copy=False)``, ``to(device=None, dtype=None,
        non_blocking=False, copy=False)`` and ``to(other, non_blocking=False, copy=False)`` (other's device
        and dtype), each also by keyword, and ``memory_format=`` (values only: see engine.formats);
        differentiable. ``copy=True`` always returns a new tensor.

        >>> Tensor([1.5]).to("float64").dtype, Tensor([1.5]).to("cpu", "int64", False, True).tolist()
        (dtype('float64'), [1])
        """
        args = list(args)
        if len(args) > 4:
            raise TypeError(f"to() takes from 0 to 4 positional arguments but {len(args)} were given")
        if args and isinstance(args[0], Tensor):  # to(other, non_blocking, copy)
            other = args.pop(0)
            device, dtype, flags = other.device, other.dtype, args
        elif args and args[0] is not None and not _is_device(args[0]):  # to(dtype, non_blocking, copy)
            dtype, flags = args.pop(0), args
        else:  # to(device, dtype, non_blocking, copy)
            device = args.pop(0) if args else device
            dtype = args.pop(0) if args and not isinstance(args[0], bool) else dtype
            flags = args
        if len(flags) > 2 or not all(isinstance(f, (bool, np.bool_)) for f in flags):
            raise TypeError(f"to() received an invalid combination of arguments: {[type(a).__name__ for a in flags]} "
                            f"after the device/dtype/tensor (expected non_blocking: bool, copy: bool)")
        copy = flags[1] if len(flags) > 1 else copy
        check_memory_format(memory_format, self.ndim, "to")
        out = self
        if device is not None:
            device = check_device(device)
            if device != self.device:
                get_xp(device)  # raises with install help when the GPU is missing
                out = elementwise_ops.ToDevice.apply(self, device=device)
        if dtype is not None:
            out = out.astype(dtype)
        return out.clone() if copy and out is self else out

    def cpu(self, memory_format=None) -> Tensor:
        return self.to("cpu", memory_format=memory_format)

    def astype(self, dtype, copy: bool = True) -> Tensor:
        """A copy cast to ``dtype``; differentiable between float dtypes. ``copy`` is NumPy's flag, accepted so
        that array code runs on Tensors (engine.higher_order); a cast to the same dtype returns self either way."""
        dtype = to_dtype(dtype)
        if dtype == self.dtype:
            return self
        if self.dtype.kind == "c" and dtype == np.bool_:  # torch: nonzero in either part, no warning
            return Tensor(self._data != 0)
        if self.dtype.kind == "c" and dtype.kind != "c":
            warnings.warn("Casting complex values to real discards the imaginary part", UserWarning, stacklevel=2)
            if dtype.kind != "f":
                return Tensor(self._data.real.astype(dtype))
        if dtype.kind not in "fc":
            return Tensor(self._data.astype(dtype))
        return elementwise_ops.Cast.apply(self, dtype=dtype)

    def _cast(self, dtype, memory_format, op: str) -> Tensor:
        check_memory_format(memory_format, self.ndim, op)
        return self.astype(dtype)

    def float(self, memory_format=None) -> Tensor:
        return self._cast(np.float32, memory_format, "float")

    def double(self, memory_format=None) -> Tensor:
        return self._cast(np.float64, memory_format, "double")

    def half(self, memory_format=None) -> Tensor:
        return self._cast(np.float16, memory_format, "half")

    def long(self, memory_format=None) -> Tensor:
        return self._cast(np.int64, memory_format, "long")

    def int(self, memory_format=None) -> Tensor:
        return self._cast(np.int32, memory_format, "int")

    def bool(self, memory_format=None) -> Tensor:
        return self._cast(np.bool_, memory_format, "bool")

    def type_as(self, other: Tensor) -> Tensor:
        """This tensor in ``other``'s dtype."""
        return self.astype(other.dtype)

    def type(self, dtype=None):
        """The dtype's name (no argument) or a cast to ``dtype``."""
        return str(self.dtype) if dtype is None else self.astype(dtype)

    def clone(self, *, memory_format=None) -> Tensor:
        """A copy with its own memory; differentiable (the gradient passes through). ``memory_format``
        is checked as torch checks it and changes no values (engine.formats).

        >>> import engine
        >>> Tensor([1.0]).clone(memory_format=engine.contiguous_format).tolist()
        [1.0]
        """
        check_memory_format(memory_format, self.ndim, "clone")
        return elementwise_ops.Cast.apply(self, dtype=self.dtype)

    def contiguous(self, memory_format=None) -> Tensor:
        """This tensor if its memory is C-contiguous, else a contiguous copy (differentiable);
        ``memory_format`` as in clone."""
        check_memory_format(memory_format, self.ndim, "contiguous")
        if self._data.flags.c_contiguous:
            return self
        return self.clone() if self.ndim <= 1 else self.reshape(-1).reshape(self.shape)

    def is_contiguous(self, memory_format=None) -> bool:
        """Whether the array is row-major contiguous, or (``memory_format=engine.channels_last``) laid
        out channels-last by torch's rule; ours are row-major unless a view made them otherwise.

        >>> Tensor.zeros(2, 3).is_contiguous(), Tensor.zeros(2, 3).t().is_contiguous()
        (True, False)
        """
        if memory_format is None:
            return bool(self._data.flags.c_contiguous)
        strides = tuple(st // self._data.itemsize for st in self._data.strides)
        return is_contiguous_as(self.shape, strides, memory_format)

    def is_floating_point(self) -> bool:
        return self.dtype.kind == "f"

    def element_size(self) -> int:
        """Bytes per entry."""
        return self.dtype.itemsize

    def detach(self) -> Tensor:
        """The same array, cut from the graph (it shares the version counter: an in-place
        change through the detached tensor is still caught by a pending backward)."""
        out = Tensor(self._data)
        out._vc = self._vc
        return out

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return self. On a non-leaf (which requires grad already) only
        turning it off raises, as torch."""
        if self._ctx is not None:
            if not flag:
                raise RuntimeError(_NON_LEAF_FLAG)
            return self
        self._set_requires_grad(flag)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        self._retains_grad = True
        _hold_in_graph(self)

    # ---- autograd -----------------------------------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
                 inputs=None, *, grad: Any = None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (torch's signature).

        ``gradient`` (or ``grad=``) is the upstream gradient, needed unless self has one element.
        The graph's saved arrays are freed afterwards unless ``retain_graph``. ``inputs`` (tensors)
        limits the accumulation to them. ``create_graph`` records the gradients' own graph (``.grad`` can be
        differentiated again: engine.higher_order) and implies ``retain_graph``.
        """
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn "
                               "(backward() on a tensor that does not require grad)")
        upstream = gradient if gradient is not None else grad
        if create_graph:  # the sweep that records the gradients' graph (higher-order gradients)
            from engine.autograd import backward as autograd_backward

            autograd_backward([self], None if upstream is None else [upstream], retain_graph, True, inputs)
            return
        g = _initial_grad(self, upstream, "backward()")
        backpropagate([self], [g], bool(retain_graph), only=_backward_inputs(inputs))

    def register_post_accumulate_grad_hook(self, hook) -> _HookHandle:
        """Call ``hook(self)`` each time backward has accumulated a gradient into this leaf's ``.grad``
        (torch's name). Returns a handle whose ``remove()`` unregisters it.

        >>> w = Tensor([1.0, 2.0], requires_grad=True)
        >>> h = w.register_post_accumulate_grad_hook(lambda t: print("grad", t.grad.tolist()))
        >>> (w * 3).sum().backward()
        grad [3.0, 3.0]
        >>> h.remove()
        """
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._ctx is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        hooks = getattr(self, "_post_acc_hooks", None)
        if hooks is None:
            hooks = self._post_acc_hooks = {}
        return _HookHandle(hooks, hook)

    def register_hook(self, hook) -> _HookHandle:
        """Call ``hook(grad)`` when backward computes this tensor's gradient (leaf or not); a Tensor it
        returns replaces the gradient (as torch). Returns a handle whose ``remove()`` unregisters it.

        >>> w = Tensor([1.0, 2.0], requires_grad=True)
        >>> h = w.register_hook(lambda g: g * 2)
        >>> (w * 3).sum().backward(); w.grad.tolist()
        [6.0, 6.0]
        """
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        hooks = getattr(self, "_grad_hooks", None)
        if hooks is None:
            hooks = self._grad_hooks = {}
        _hold_in_graph(self)
        return _HookHandle(hooks, hook)

    # ---- in-place ops ------------------------------------------------------------------------
    # Outside the graph (no_grad, or nothing involved requires grad) an in-place op writes into the
    # array and bumps the version counter. In grad mode, when self is a non-leaf that requires grad
    # or the value written requires grad, it is recorded as torch records it: the out-of-place
    # result becomes self (``_become``), so ``out += identity`` or ``outputs[t] = h`` backpropagate.
    def _check_inplace(self, what: str) -> None:
        """For in-place ops with no graph form: refuse a tensor that requires grad in grad mode."""
        if self.requires_grad and is_grad_enabled():
            if self._view is not None and self._view[1] is function.MULTI_OUTPUT:
                raise RuntimeError(_multi_output_error(self))
            raise RuntimeError(
                f"in-place {what}: " + (_LEAF_INPLACE if self._ctx is None else "this op is not recorded in the "
                                        "graph on a tensor that requires grad") +
                "; use an out-of-place op or wrap the update in `with no_grad():`"
            )
        self._vc[0] += 1

    def _write(self, value, fill: bool = False) -> None:
        """``self._data[...] = value`` for an in-place op outside the graph. An expanded tensor (NumPy's
        read-only broadcast) raises torch's error, as its entries share memory, unless ``fill`` writes
        one value everywhere (zero_, fill_: torch allows them). The check costs only when the write fails."""
        try:
            self._data[...] = value
        except ValueError:
            alias = _writable_alias(self._data)
            if alias is None:
                raise
            if _overlapping(alias) and not fill:
                raise RuntimeError(_OVERLAP) from None
            alias[...] = value

    def _records_inplace(self, what: str, *values, index=None) -> bool:
        """Whether an in-place op goes into the graph: grad mode, and self or a value written
        requires grad. A leaf that requires grad raises torch's error (an optimizer step belongs
        in ``no_grad``)."""
        if not is_grad_enabled():
            return False
        view = self._view
        if view is not None and view[1] is function.MULTI_OUTPUT and (
                self.requires_grad or any(isinstance(v, Tensor) and v.requires_grad for v in values)):
            raise RuntimeError(_multi_output_error(self, index=index))
        if self.requires_grad and self._ctx is None:
            raise RuntimeError(f"in-place {what}: {_LEAF_INPLACE}; wrap the update in `with no_grad():`")
        base = self._base
        if base is not None and base._ctx is None and base._requires_grad:
            raise RuntimeError(f"in-place {what}: a view of {_LEAF_INPLACE}; wrap the update in `with no_grad():`")
        return self.requires_grad or any(isinstance(v, Tensor) and v.requires_grad for v in values)

    def _become(self, out: Tensor, what: str, same_shape: bool = True) -> Tensor:
        """Self takes ``out``'s value and its place in the graph (an in-place op in grad mode), as torch:
        ``out`` is written into self's memory, so the tensors sharing it (self's base, other views) see
        it, and self's version moves on, so a backward that saved the old value raises. Ops that used
        self before keep the node of its old value, and so do the hooks registered until now.

        When self is a view, its base's value becomes "the base with the view's entries replaced"
        (torch's CopySlices, here SetItem) and self a view of that (``_AsStrided``): gradients reach
        both the base's old value and what was written.
        """
        if not same_shape:  # t_, squeeze_: self takes out's view of its memory (no value is written)
            if getattr(out._data, "base", None) is not None:
                out = out.clone()
            _take_graph(self, out)
            self._data, self._vc = out._data, out._vc
            return self
        if out.shape != self.shape:
            raise RuntimeError(f"{what}: output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(out.shape)}")
        if _overlapping(self._data):
            raise RuntimeError(_OVERLAP)
        if self._view is not None and self._view[0].dtype != self.dtype and not (
                self._view[0].dtype.kind == "c" and self.dtype.kind == "f"):  # view_as_complex of a real tensor
            raise NotImplementedError(f"{what}: an in-place op in the graph on a {self.dtype} view of a "
                                      f"{self._view[0].dtype} tensor is not supported; compute it out of place")
        if out.dtype != self.dtype:
            out = out.astype(self.dtype)
        ctx = out._ctx
        if ctx is not None and any(a is self._data for a in ctx.saved):  # it saved the value about to be overwritten
            ctx.saved = tuple(a.copy() if a is self._data else a for a in ctx.saved)
            ctx._versions = [v for v in ctx._versions if v[0] is not self._vc]
        self._data[...] = out._data
        self._vc[0] += 1
        if ctx is not None:  # what out's op saved of out is self's value now: a later in-place change must raise
            ctx._versions = [(self._vc, self._vc[0], *v[2:]) if v[0] is out._vc else v for v in ctx._versions]
        if self._view is None:
            _take_graph(self, out)
            return self
        base = self._view[0]
        src = _base_in_dtype_of(base, self)
        index = movement_ops.view_index(array_module(base._data), src._data, self._data)
        new = movement_ops.SetItem.apply(src, out, index=index)
        _take_graph(base, new if src is base else complex_ops.ViewAsComplex.apply(new))
        _take_graph(self, movement_ops._AsStrided.apply(_base_in_dtype_of(base, self), index=index))
        self._view = (base, base._ctx)
        return self

    def __setitem__(self, index, value) -> None:
        if self._records_inplace("assignment", value, index=index):
            v = value if isinstance(value, Tensor) else Tensor(_as_array(value, dtype=self.dtype, device=self.device))
            _same_device(self, v)
            if v.dtype != self.dtype:
                v = v.astype(self.dtype)
            try:
                out = movement_ops.SetItem.apply(self, v, index=_index_array(index))
            except IndexError as e:
                raise IndexError(_torch_words(str(e))) from None
            self._become(out, "assignment")
            return
        self._check_inplace("assignment")
        index, value = _index_array(index), value._data if isinstance(value, Tensor) else value
        try:
            movement_ops.set_item(self._data, index, value)
        except IndexError as e:
            raise IndexError(_torch_words(str(e))) from None
        except ValueError:  # a read-only (expanded) tensor: torch writes unless entries of the target share memory
            alias = _writable_alias(self._data)
            if alias is None:
                raise
            if movement_ops.is_basic_index(index) and _overlapping(alias[index]):
                raise RuntimeError(_OVERLAP) from None
            movement_ops.set_item(alias, index, value)

    _OUT_OF_PLACE = {"add": "__add__", "subtract": "__sub__", "multiply": "__mul__", "divide": "__truediv__"}

    def _inplace(self, name: str, other) -> Tensor:
        result = result_type(self, other if isinstance(other, Tensor) or np.isscalar(other) else Tensor(other))
        if name == "divide" and result.kind != "f":
            result = np.dtype(np.float32)  # true division
        if not can_cast(result, self.dtype):
            raise RuntimeError(f"{name}_: result type {result} can't be cast to the desired output type {self.dtype}")
        if self._records_inplace(name + "_", other):
            return self._inplace_result(name + "_", getattr(self, Tensor._OUT_OF_PLACE[name])(other))
        self._check_inplace(name)
        other = other._data if isinstance(other, Tensor) else other
        try:
            getattr(array_module(self._data), name)(self._data, other, out=self._data, casting="same_kind")
        except ValueError:  # NumPy's "non-broadcastable output operand": torch's RuntimeError
            if _overlapping(self._data):  # or "output array is read-only": an expanded tensor
                raise RuntimeError(_OVERLAP) from None
            shape = np.broadcast_shapes(self.shape, np.shape(other))
            raise RuntimeError(f"{name}_: output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(shape)}") from None
        return self

    def add_(self, other, *, alpha=1) -> Tensor:
        """``self += alpha * other`` in place (torch's ``add_``).

        >>> Tensor([1.0, 2.0]).add_(Tensor([1.0, 1.0]), alpha=-0.5).tolist()
        [0.5, 1.5]
        """
        return self._inplace("add", other if alpha == 1 else other * alpha)

    def sub_(self, other, *, alpha=1) -> Tensor:
        """``self -= alpha * other`` in place (torch's ``sub_``)."""
        return self._inplace("subtract", other if alpha == 1 else other * alpha)

    def mul_(self, other) -> Tensor:
        return self._inplace("multiply", other)

    def div_(self, other, *, rounding_mode: str | None = None) -> Tensor:
        """``self /= other`` in place; ``rounding_mode`` as in ``div`` ("trunc" or "floor").

        >>> Tensor([-7.0, 7.0]).div_(2, rounding_mode="floor").tolist()
        [-4.0, 3.0]
        """
        if rounding_mode is None:
            return self._inplace("divide", other)
        return self._inplace_result("div_", self.div(other, rounding_mode=rounding_mode))

    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_

    def _cleared(self) -> Tensor:
        """Zeros of self's shape that stay in the graph after self (a zero gradient to it)."""
        return movement_ops.MaskedFill.apply(self, mask=True, value=0)

    def zero_(self) -> Tensor:
        if self._records_inplace("zero_"):
            return self._become(self._cleared(), "zero_")
        self._check_inplace("zero_")
        self._write(0, fill=True)
        return self

    def fill_(self, value) -> Tensor:
        from engine.factories import _fill_scalar
        value = value if isinstance(value, Tensor) else _fill_scalar(value, self.dtype)
        if self._records_inplace("fill_", value):
            v = value if isinstance(value, Tensor) else Tensor(_as_array(value, dtype=self.dtype, device=self.device))
            if v.ndim != 0:
                raise RuntimeError("fill_ only supports 0-dimension value tensor but got tensor with "
                                   f"{v.ndim} dimensions.")
            return self._become(self._cleared() + v.astype(self.dtype), "fill_")
        self._check_inplace("fill_")
        self._write(value._data if isinstance(value, Tensor) else value, fill=True)
        return self

    def copy_(self, src) -> Tensor:
        if self._records_inplace("copy_", src):
            src = src if isinstance(src, Tensor) else Tensor(_as_array(src, dtype=self.dtype, device=self.device))
            _same_device(self, src)
            return self._become(self._cleared() + src.astype(self.dtype), "copy_")
        self._check_inplace("copy_")
        src = src._data if isinstance(src, Tensor) else src
        self._write(to_device(src, self.device) if hasattr(src, "dtype") else src)
        return self

    # ---- binary arithmetic ------------------------------------------------------------------
    def _binary(self, op: type[Function], other, reflected: bool = False, **params) -> Tensor:
        a, b = self._operands(other)
        if reflected:
            a, b = b, a
        if a.dtype == np.bool_ and b.dtype == np.bool_ and op in _NO_BOOL_KERNEL:
            kernel = {"trunc": "div_trunc", "floor": "div_floor"}.get(params.get("mode"), _NO_BOOL_KERNEL[op])
            raise NotImplementedError(f'"{kernel}_cpu" not implemented for \'Bool\'')
        try:
            return op.apply(a, b, **params)
        except ValueError:
            error = broadcast_error(op.__name__.lower(), a.shape, b.shape)
            if error is None:
                raise
            raise error from None

    def _coerce(self, other) -> Tensor:
        """``other`` as a Tensor that can meet ``self``: same device, a compatible dtype (torch's
        promotion: a Python number takes the tensor's dtype within its kind, an int tensor meeting
        a float becomes float32, int64 meeting int32 is int64)."""
        if not isinstance(other, Tensor):
            # Numbers and raw arrays take a float tensor's dtype, so nothing leaks float64.
            if self.dtype.kind == "f":
                dtype = self.dtype
            elif isinstance(other, float):
                dtype = np.float32
            elif isinstance(other, bool):
                dtype = self.dtype
            elif isinstance(other, int) and self.dtype.kind in "iu":
                dtype = self.dtype
            else:
                dtype = None
            return Tensor(_as_array(other, dtype=dtype, device=self.device))
        _same_device(self, other)
        if other.dtype != self.dtype:
            if self.dtype.kind == "f" and other.dtype.kind == "f":
                if other.ndim == 0 and self.ndim:  # torch: a 0-d tensor never widens one with dims
                    return other.astype(self.dtype)
                raise RuntimeError(f"dtype mismatch: {self.dtype} and {other.dtype}; cast one with .to()")
            if other.dtype.kind != "f" and self.dtype.kind == "f":
                return Tensor(other._data.astype(self.dtype))
        return other

    def _operands(self, other) -> tuple[Tensor, Tensor]:
        """``(self, other)`` ready to meet, both of torch's result dtype (``engine.result_type``): an
        int tensor meeting 0.5 is float32, int32 meeting a 0-d int64 tensor stays int32, uint8 meeting
        int8 is int16. float32 meeting float64 (both with dims, or both 0-d) is float64, as torch."""
        if isinstance(other, Tensor) and other.dtype == self.dtype:
            _same_device(self, other)
            return self, other
        if self.dtype.kind == "f" and isinstance(other, (int, float)):  # a float tensor keeps its dtype
            return self, Tensor(_as_array(other, dtype=self.dtype, device=self.device))
        if not isinstance(other, (Tensor, int, float, complex, np.number, np.bool_)):
            other = self._coerce(other)  # raw arrays and lists: a float tensor's dtype, else their own
        if isinstance(other, Tensor):
            _same_device(self, other)
            if other.dtype == self.dtype:
                return self, other
        target = result_type(self, other)
        if isinstance(other, Tensor):
            b = other.astype(target)
        elif isinstance(other, (int, np.integer)) and target.kind in "iu":  # wraps as torch: uint8 - 2
            b = Tensor(_as_array(np.asarray(other, dtype=np.int64).astype(target), device=self.device))
        else:
            b = Tensor(_as_array(other, dtype=target, device=self.device))
        return self.astype(target), b

    def _float_operands(self, other) -> tuple[Tensor, Tensor]:
        """Operands of a float-only op (atan2, hypot, ...): two int/bool operands become float32."""
        if self.dtype.kind not in "fc" and not (isinstance(other, Tensor) and other.dtype.kind in "fc"):
            # computed in float32 from the start: a number is not wrapped into an integer dtype first
            a = self.astype(np.float32)
            return a._operands(other.astype(np.float32) if isinstance(other, Tensor) else other)
        return self._operands(other)

    def __add__(self, other):
        return self._binary(elementwise_ops.Add, other)

    def __radd__(self, other):
        return self._binary(elementwise_ops.Add, other, reflected=True)

    def _check_bool_sub(self, other) -> None:
        """torch refuses ``-`` with a bool tensor on either side (with a message on what to use)."""
        other_bool = isinstance(other, (bool, np.bool_)) or getattr(other, "dtype", None) == np.bool_
        if self.dtype == np.bool_ and other_bool:
            raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                               "Use the `^` or `logical_xor()` operator instead.")
        if self.dtype == np.bool_ or (isinstance(other, Tensor) and other.dtype == np.bool_):
            raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
                               "trying to invert a mask, use the `~` or `logical_not()` operator instead.")

    def __sub__(self, other):
        self._check_bool_sub(other)
        return self._binary(elementwise_ops.Sub, other)

    def __rsub__(self, other):
        self._check_bool_sub(other)
        return self._binary(elementwise_ops.Sub, other, reflected=True)

    def __mul__(self, other):
        return self._binary(elementwise_ops.Mul, other)

    def __rmul__(self, other):
        return self._binary(elementwise_ops.Mul, other, reflected=True)

    def _float_for_div(self, other) -> Tensor:
        """Integer / integer is float32 (torch's rule), not NumPy's float64."""
        if self.dtype.kind in "fc" or getattr(other, "dtype", np.dtype("int64")).kind in "fc" or isinstance(
                other, complex):
            return self
        return self.astype(np.float32)

    def __truediv__(self, other):
        return self._float_for_div(other)._binary(elementwise_ops.Div, other)

    def __rtruediv__(self, other):
        if isinstance(other, (int, float)):  # torch's: reciprocal() * c, which saves 1/h, not h (h may change after)
            return self._float_for_div(other).reciprocal() * other
        return self._float_for_div(other)._binary(elementwise_ops.Div, other, reflected=True)

    def __floordiv__(self, other):
        return self.floor_divide(other)

    def __rfloordiv__(self, other):
        return self._binary(elementwise_ops.RoundedDiv, other, reflected=True, mode="floor")

    def __mod__(self, other):
        return self.remainder(other)

    def __rmod__(self, other):
        return self._binary(elementwise_ops.Remainder, other, reflected=True)

    def __pow__(self, other):
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            if self.dtype.kind in "iub" and isinstance(other, int) and other < 0:
                raise RuntimeError("pow: integers to negative integer powers are not allowed")
            base = self if self.dtype.kind in "fc" or isinstance(other, int) else self.astype(np.float32)
            if base.dtype == np.bool_:
                base = base.astype(np.int64)
            return elementwise_ops.PowScalar.apply(base, p=other)
        if self.dtype == np.bool_ and isinstance(other, bool):  # bool ** True is bool, as torch
            return (self.astype(np.int64) ** int(other)).astype(np.bool_)
        if self.dtype == np.bool_ and getattr(other, "dtype", None) == np.bool_:
            _no_bool_pow()
        return self._binary(elementwise_ops.Pow, other)

    def __rpow__(self, other):
        if self.dtype == np.bool_ and isinstance(other, bool):
            _no_bool_pow()
        return self._binary(elementwise_ops.Pow, other, reflected=True)

    def _same_float_dtype(self, op: str, other) -> None:
        """torch's matmul refuses two float dtypes (it promotes only elementwise ops)."""
        if isinstance(other, Tensor) and self.dtype.kind in "fc" and other.dtype.kind in "fc" and (
                self.dtype != other.dtype):
            raise RuntimeError(f"{op}: expected both operands to have the same dtype, but got {self.dtype} (shape "
                               f"{self.shape}) and {other.dtype} (shape {other.shape}); cast one with .to()")

    def __matmul__(self, other):
        if type(other) is SparseTensor:  # dense @ sparse: engine/sparse.py
            return other.__rmatmul__(self)
        self._same_float_dtype("matmul", other)
        return matmul_ops.MatMul.apply(*self._operands(other))

    def __rmatmul__(self, other):
        self._same_float_dtype("matmul", other)
        a, b = self._operands(other)
        return matmul_ops.MatMul.apply(b, a)

    def __neg__(self):
        if self.dtype == np.bool_:
            raise RuntimeError("negation, the `-` operator, on a bool tensor is not supported; use ~ or logical_not()")
        return elementwise_ops.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    def add(self, other, *, alpha=1) -> Tensor:
        """``self + alpha * other`` (torch.add).

        >>> Tensor([1.0, 2.0]).add(Tensor([1.0, 1.0]), alpha=3).tolist()
        [4.0, 5.0]
        """
        return self + (other if alpha == 1 else other * alpha)

    def sub(self, other, *, alpha=1) -> Tensor:
        """``self - alpha * other`` (torch.sub)."""
        return self - (other if alpha == 1 else other * alpha)

    subtract = sub

    def mul(self, other) -> Tensor:
        return self * other

    multiply = mul

    def div(self, other, *, rounding_mode: str | None = None) -> Tensor:
        """True division, or rounded toward zero (``"trunc"``) or down (``"floor"``); rounded
        results keep an integer dtype and have zero gradient, as in torch.

        >>> Tensor([-7, 7]).div(2, rounding_mode="trunc").tolist()
        [-3, 3]
        >>> Tensor([-7, 7]).div(2, rounding_mode="floor").tolist()
        [-4, 3]
        """
        if rounding_mode is None:
            return self / other
        if rounding_mode not in ("trunc", "floor"):
            raise RuntimeError(
                f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}"
            )
        return self._binary(elementwise_ops.RoundedDiv, other, mode=rounding_mode)

    divide = div

    def true_divide(self, other) -> Tensor:
        return self / other

    def floor_divide(self, other) -> Tensor:
        """Division rounded down, Python's ``//`` (torch.floor_divide)."""
        return self._binary(elementwise_ops.RoundedDiv, other, mode="floor")

    def remainder(self, other) -> Tensor:
        """Python's ``%``: the result has the divisor's sign (torch.remainder).

        >>> Tensor([-3, 3]).remainder(2).tolist()
        [1, 1]
        """
        return self._binary(elementwise_ops.Remainder, other)

    def fmod(self, other) -> Tensor:
        """C's fmod: the result has the dividend's sign.

        >>> Tensor([-3, 3]).fmod(2).tolist()
        [-1, 1]
        """
        return self._binary(elementwise_ops.Fmod, other)

    def pow(self, exponent) -> Tensor:
        """``self ** exponent`` (a number or a tensor)."""
        return self**exponent

    def float_power(self, exponent) -> Tensor:
        """``self ** exponent`` computed in float64, as torch.float_power."""
        if self.dtype.kind == "c" or getattr(exponent, "dtype", np.dtype(np.float64)).kind == "c" or isinstance(
                exponent, complex):  # complex128, as torch
            exponent = exponent.astype(np.complex128) if isinstance(exponent, Tensor) else exponent
            return self.astype(np.complex128) ** exponent
        exponent = exponent.double() if isinstance(exponent, Tensor) else exponent
        return self.double() ** exponent

    def atan2(self, other) -> Tensor:
        """The angle of (other, self), in (-pi, pi]."""
        return elementwise_ops.Atan2.apply(*self._float_operands(other))

    arctan2 = atan2

    def hypot(self, other) -> Tensor:
        """sqrt(self² + other²) without overflow."""
        return elementwise_ops.Hypot.apply(*self._float_operands(other))

    def logaddexp(self, other) -> Tensor:
        """log(exp(self) + exp(other)) without overflow."""
        return elementwise_ops.LogAddExp.apply(*self._float_operands(other))

    def logaddexp2(self, other) -> Tensor:
        """log2(2**self + 2**other)."""
        a, b = self._float_operands(other)
        return (a * _LN2).logaddexp(b * _LN2) * (1 / _LN2)

    def copysign(self, other) -> Tensor:
        """|self| with the sign of ``other`` (float result; no gradient flows to ``other``)."""
        return elementwise_ops.Copysign.apply(*self._float_operands(other))

    def maximum(self, other) -> Tensor:
        return self._binary(elementwise_ops.Maximum, other)

    def minimum(self, other) -> Tensor:
        return self._binary(elementwise_ops.Minimum, other)

    def fmax(self, other) -> Tensor:
        """Elementwise max that ignores nan (nan only where both are nan)."""
        return self._binary(elementwise_ops.Fmax, other)

    def fmin(self, other) -> Tensor:
        """Elementwise min that ignores nan."""
        return self._binary(elementwise_ops.Fmin, other)

    def lerp(self, end, weight) -> Tensor:
        """``self + weight * (end - self)``; ``weight`` a number or a tensor.

        >>> Tensor([0.0, 2.0]).lerp(Tensor([4.0, 4.0]), 0.5).tolist()
        [2.0, 3.0]
        """
        if "c" in {t.dtype.kind for t in (self, end, weight) if isinstance(t, Tensor)}:  # one dtype, as torch
            for name, t in (("end", end), ("weight", weight)):
                if isinstance(t, Tensor) and t.dtype != self.dtype:
                    raise RuntimeError(f"expected dtype {_c10_name(self.dtype)} for `{name}` but got dtype "
                                       f"{_c10_name(t.dtype)}")
            if not isinstance(weight, Tensor):
                weight = Tensor(_as_array(weight, dtype=self.dtype, device=self.device))
            return elementwise_ops.Lerp.apply(self, self._coerce(end), weight)
        if self.dtype.kind != "f":
            raise NotImplementedError(f"lerp: not implemented for dtype {self.dtype} (needs a float tensor)")
        return elementwise_ops.Lerp.apply(self, self._coerce(end), self._coerce(weight))

    # Comparisons give bool tensors with no gradient.
    def _compare(self, fn, other) -> Tensor:
        """Compare in torch's result dtype: uint8 < -2 is True (-2 wraps to 254), and a float32
        tensor meets a 0-d float64 one in float32."""
        a = self._data
        if isinstance(other, Tensor):
            _same_device(self, other)
            dt = result_type(self, other)
            a, other = a.astype(dt, copy=False), other._data.astype(dt, copy=False)
        elif isinstance(other, (list, tuple)):
            other = array_module(self._data).asarray(other)
        elif isinstance(other, int) and not isinstance(other, bool) and self.dtype.kind in "iu":
            other = int(np.asarray(other, dtype=np.int64).astype(self.dtype))  # torch wraps it: uint8 < -2 is True
        try:
            return Tensor(fn(a, other))
        except ValueError:
            error = broadcast_error("comparison", a.shape, np.shape(other))
            if error is None:
                raise
            raise error from None

    def __lt__(self, other):
        return self._compare(lambda a, b: a < b, other)

    def __le__(self, other):
        return self._compare(lambda a, b: a <= b, other)

    def __gt__(self, other):
        return self._compare(lambda a, b: a > b, other)

    def __ge__(self, other):
        return self._compare(lambda a, b: a >= b, other)

    def __eq__(self, other):  # type: ignore[override]
        if other is None:  # as torch: `t == None` is False, not a tensor
            return False
        return self._compare(lambda a, b: a == b, other)

    def __ne__(self, other):  # type: ignore[override]
        if other is None:
            return True
        return self._compare(lambda a, b: a != b, other)

    def __contains__(self, element) -> bool:
        """``element in t``: whether any entry equals ``element`` (a number or a tensor), as torch.

        >>> 2 in Tensor([[1, 2], [3, 4]])
        True
        """
        if not isinstance(element, (Tensor, int, float, np.number)):
            raise RuntimeError(f"Tensor.__contains__ only supports Tensor or scalar, but you passed in a "
                               f"{type(element)}.")
        return bool((self == element).any().item())

    __hash__ = object.__hash__

    lt, le, gt, ge, eq, ne = __lt__, __le__, __gt__, __ge__, __eq__, __ne__
    less, less_equal, greater, greater_equal, not_equal = lt, le, gt, ge, ne

    def isclose(self, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
        """|self - other| <= atol + rtol * |other|, elementwise (bool); infinities equal themselves.

        >>> Tensor([1.0, 2.0]).isclose(Tensor([1.0 + 1e-7, 2.1])).tolist()
        [True, False]
        """
        for name, tol in (("rtol", rtol), ("atol", atol)):
            if tol < 0:
                raise RuntimeError(f"isclose: {name} must be greater than or equal to zero, but got {tol}")
        other = other._data if isinstance(other, Tensor) else other
        return Tensor(array_module(self._data).isclose(self._data, other, rtol=rtol, atol=atol, equal_nan=equal_nan))

    def allclose(self, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
        """Whether every entry ``isclose``."""
        return bool(self.isclose(other, rtol, atol, equal_nan)._data.all())

    def equal(self, other) -> bool:
        """True when both have the same shape and the same values.

        >>> Tensor([1, 2]).equal(Tensor([1, 2]))
        True
        """
        if not isinstance(other, Tensor):
            raise TypeError(f"equal(): argument 'other' must be Tensor, not {type(other).__name__}")
        return self.shape == other.shape and bool((self._data == _on(other, self)).all())

    # Logical ops take any dtype (nonzero is True) and give bool.
    def logical_and(self, other) -> Tensor:
        return Tensor(array_module(self._data).logical_and(self._data, _on(other, self)))

    def logical_or(self, other) -> Tensor:
        return Tensor(array_module(self._data).logical_or(self._data, _on(other, self)))

    def logical_xor(self, other) -> Tensor:
        return Tensor(array_module(self._data).logical_xor(self._data, _on(other, self)))

    def logical_not(self) -> Tensor:
        return Tensor(array_module(self._data).logical_not(self._data))

    # Bitwise ops and shifts take integer and bool tensors (bool & bool is bool).
    def _bitwise(self, name: str, other, reflected: bool = False) -> Tensor:
        a, b = self._operands(other)
        if a.dtype.kind not in "iub" or b.dtype.kind not in "iub":
            bad = a.dtype if a.dtype.kind not in "iub" else b.dtype
            raise NotImplementedError(f"{name}: not implemented for dtype {bad} (needs integer or bool tensors)")
        if reflected:
            a, b = b, a
        x, y = a._data, b._data
        if name in ("left_shift", "right_shift") and x.dtype == np.bool_:
            x = x.astype(np.int64)
        return Tensor(getattr(array_module(x), name)(x, y))

    def bitwise_and(self, other) -> Tensor:
        return self._bitwise("bitwise_and", other)

    def bitwise_or(self, other) -> Tensor:
        return self._bitwise("bitwise_or", other)

    def bitwise_xor(self, other) -> Tensor:
        return self._bitwise("bitwise_xor", other)

    def bitwise_not(self) -> Tensor:
        if self.dtype.kind not in "iub":
            raise NotImplementedError(f"bitwise_not: not implemented for dtype {self.dtype}")
        return Tensor(array_module(self._data).invert(self._data))

    def bitwise_left_shift(self, other) -> Tensor:
        return self._bitwise("left_shift", other)

    def bitwise_right_shift(self, other) -> Tensor:
        return self._bitwise("right_shift", other)

    __and__, __or__, __xor__, __invert__ = bitwise_and, bitwise_or, bitwise_xor, bitwise_not
    __lshift__, __rshift__ = bitwise_left_shift, bitwise_right_shift

    def __rand__(self, other):
        return self._bitwise("bitwise_and", other, reflected=True)

    def __ror__(self, other):
        return self._bitwise("bitwise_or", other, reflected=True)

    def __rxor__(self, other):
        return self._bitwise("bitwise_xor", other, reflected=True)

    def __rlshift__(self, other):
        return self._bitwise("left_shift", other, reflected=True)

    def __rrshift__(self, other):
        return self._bitwise("right_shift", other, reflected=True)

    def _inplace_result(self, what: str, out: Tensor) -> Tensor:
        """Write ``out`` (self's op out of place) into self, or in grad mode make it self (``_become``);
        its dtype must cast to self's and its shape be self's (an operand may not broadcast self)."""
        if out.shape != self.shape:
            raise RuntimeError(f"{what}: output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(out.shape)}")
        if out.dtype != self.dtype and not np.can_cast(out.dtype, self.dtype, casting="same_kind"):
            raise RuntimeError(f"{what}: result type {out.dtype} can't be cast to the desired output type "
                               f"{self.dtype}")
        if self._records_inplace(what, out):
            return self._become(out, what)
        if out.shape != self.shape and np.broadcast_shapes(out.shape, self.shape) != self.shape:
            raise RuntimeError(f"{what}: output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(out.shape)}")
        self._check_inplace(what)
        self._write(out._data)
        return self

    def bitwise_and_(self, other) -> Tensor:
        return self._inplace_result("bitwise_and_", self.bitwise_and(other))

    def bitwise_or_(self, other) -> Tensor:
        return self._inplace_result("bitwise_or_", self.bitwise_or(other))

    def bitwise_xor_(self, other) -> Tensor:
        return self._inplace_result("bitwise_xor_", self.bitwise_xor(other))

    def bitwise_left_shift_(self, other) -> Tensor:
        return self._inplace_result("bitwise_left_shift_", self.bitwise_left_shift(other))

    def bitwise_right_shift_(self, other) -> Tensor:
        return self._inplace_result("bitwise_right_shift_", self.bitwise_right_shift(other))

    def logical_and_(self, other) -> Tensor:
        return self._inplace_result("logical_and_", self.logical_and(other))

    def logical_or_(self, other) -> Tensor:
        return self._inplace_result("logical_or_", self.logical_or(other))

    def logical_xor_(self, other) -> Tensor:
        return self._inplace_result("logical_xor_", self.logical_xor(other))

    def logical_not_(self) -> Tensor:
        return self._inplace_result("logical_not_", self.logical_not())

    def floor_divide_(self, other) -> Tensor:
        return self._inplace_result("floor_divide_", self.floor_divide(other))

    def remainder_(self, other) -> Tensor:
        return self._inplace_result("remainder_", self.remainder(other))

    def fmod_(self, other) -> Tensor:
        return self._inplace_result("fmod_", self.fmod(other))

    def pow_(self, exponent) -> Tensor:
        return self._inplace_result("pow_", self.pow(exponent))

    def float_power_(self, exponent) -> Tensor:
        """In-place ``float_power``: its result is float64 (complex128 for complex operands), so self must
        have that dtype (torch's RuntimeError).

        >>> Tensor([2.0, 3.0]).double().float_power_(2).tolist()
        [4.0, 9.0]
        """
        cplx = self.dtype.kind == "c" or isinstance(exponent, complex) or (
            isinstance(exponent, Tensor) and exponent.dtype.kind == "c")
        want = np.dtype(np.complex128 if cplx else np.float64)
        if self.dtype != want:
            raise RuntimeError(f"float_power_: the base given to float_power_ has dtype {self.dtype} but the "
                               f"operation's result requires dtype {want}")
        return self._inplace_result("float_power_", self.float_power(exponent))

    __iand__, __ior__, __ixor__ = bitwise_and_, bitwise_or_, bitwise_xor_
    __ilshift__, __irshift__ = bitwise_left_shift_, bitwise_right_shift_
    __ifloordiv__, __imod__, __ipow__ = floor_divide_, remainder_, pow_

    def __bool__(self) -> bool:
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iub":  # torch takes bool too: [a, b][tensor(True)] is b
            raise TypeError(f"only integer tensors can be used as an index, got {self.dtype}")
        return int(self.item())

    def __format__(self, spec: str) -> str:
        """A 0-d tensor formats as its number (``f"{loss:.4f}"``), as torch; others only with an empty spec.

        >>> f"{Tensor(3.14159):.2f}"
        '3.14'
        """
        if self.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __iter__(self):
        """The sub-tensors along dim 0 (differentiable, as torch's ``unbind(0)``); a 0-d tensor raises."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """``np.asarray(t)``: the values as a NumPy array (shared on the CPU, as ``numpy()``), in ``dtype``.

        >>> np.asarray(Tensor([1, 2])).tolist()
        [1, 2]
        """
        arr = self.numpy()
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
        return arr.copy() if copy else arr

    # ---- elementwise --------------------------------------------------------------------------
    # Float functions of an int/bool tensor compute in float32, as in torch (never float64).
    def _float(self) -> Tensor:
        return self if self.dtype.kind in "fc" else self.astype(np.float32)

    def exp(self) -> Tensor:
        return elementwise_ops.Exp.apply(self._float())

    def exp2(self) -> Tensor:
        return elementwise_ops.Exp2.apply(self._float())

    def expm1(self) -> Tensor:
        return elementwise_ops.Expm1.apply(self._float())

    def log(self) -> Tensor:
        return elementwise_ops.Log.apply(self._float())

    def log2(self) -> Tensor:
        return elementwise_ops.Log2.apply(self._float())

    def log10(self) -> Tensor:
        return elementwise_ops.Log10.apply(self._float())

    def log1p(self) -> Tensor:
        return elementwise_ops.Log1p.apply(self._float())

    def sqrt(self) -> Tensor:
        """Square root; its gradient at 0 is inf, as in torch."""
        return elementwise_ops.Sqrt.apply(self._float())

    def rsqrt(self) -> Tensor:
        return elementwise_ops.Rsqrt.apply(self._float())

    def square(self) -> Tensor:
        """``self ** 2`` (an int or bool tensor gives int64 for bool, else its own dtype)."""
        return (self.astype(np.int64) if self.dtype == np.bool_ else self) ** 2

    def reciprocal(self) -> Tensor:
        return elementwise_ops.Reciprocal.apply(self._float())

    def erf(self) -> Tensor:
        return elementwise_ops.Erf.apply(self._float())

    def erfc(self) -> Tensor:
        return elementwise_ops.Erfc.apply(self._float())

    def erfinv(self) -> Tensor:
        return elementwise_ops.Erfinv.apply(self._float())

    def sin(self) -> Tensor:
        return elementwise_ops.Sin.apply(self._float())

    def cos(self) -> Tensor:
        return elementwise_ops.Cos.apply(self._float())

    def tan(self) -> Tensor:
        return elementwise_ops.Tan.apply(self._float())

    def asin(self) -> Tensor:
        return elementwise_ops.Asin.apply(self._float())

    def acos(self) -> Tensor:
        return elementwise_ops.Acos.apply(self._float())

    def atan(self) -> Tensor:
        return elementwise_ops.Atan.apply(self._float())

    def sinh(self) -> Tensor:
        return elementwise_ops.Sinh.apply(self._float())

    def cosh(self) -> Tensor:
        return elementwise_ops.Cosh.apply(self._float())

    def tanh(self) -> Tensor:
        return elementwise_ops.Tanh.apply(self._float())

    def asinh(self) -> Tensor:
        return elementwise_ops.Asinh.apply(self._float())

    def acosh(self) -> Tensor:
        return elementwise_ops.Acosh.apply(self._float())

    def atanh(self) -> Tensor:
        return elementwise_ops.Atanh.apply(self._float())

    arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh

    def sigmoid(self) -> Tensor:
        return elementwise_ops.Sigmoid.apply(self._float())

    def relu(self) -> Tensor:
        """max(self, 0); its gradient at 0 is 0, as in torch."""
        return elementwise_ops.Relu.apply(self)

    def gelu(self, approximate: str = "none") -> Tensor:
        """GELU: exact ``x * Phi(x)`` by default (torch's), ``approximate="tanh"`` GPT-2's form."""
        return Gelu.apply(self._float(), approximate=approximate)

    def softmax(self, dim: int, dtype=None) -> Tensor:
        """Softmax along ``dim`` (torch's Tensor.softmax; ``dtype`` casts the input first)."""
        from engine import functional

        return functional.softmax(self, dim, dtype=dtype)

    def log_softmax(self, dim: int, dtype=None) -> Tensor:
        from engine import functional

        return functional.log_softmax(self, dim, dtype=dtype)

    def hardshrink(self, lambd: float = 0.5) -> Tensor:
        from engine import functional

        return functional.hardshrink(self, lambd)

    def abs(self) -> Tensor:
        """|self|; its gradient at 0 is 0, as in torch."""
        return elementwise_ops.Abs.apply(self)

    absolute = abs

    def neg(self) -> Tensor:
        return -self

    negative = neg

    def sign(self) -> Tensor:
        """-1, 0 or 1 (0 for nan, as torch); zero gradient."""
        return elementwise_ops.Rounding.apply(self, mode="sign")

    sgn = sign

    def floor(self) -> Tensor:
        return elementwise_ops.Rounding.apply(self, mode="floor")

    def ceil(self) -> Tensor:
        return elementwise_ops.Rounding.apply(self, mode="ceil")

    def trunc(self) -> Tensor:
        return elementwise_ops.Rounding.apply(self, mode="trunc")

    fix = trunc

    def round(self, decimals: int = 0) -> Tensor:
        """Round half to even, to ``decimals`` places (torch.round); zero gradient.

        >>> Tensor([0.5, 1.5, 1.2345]).round().tolist()
        [0.0, 2.0, 1.0]
        """
        return elementwise_ops.Rounding.apply(self, mode="round", decimals=decimals)

    def frac(self) -> Tensor:
        """``self - trunc(self)``; gradient 1."""
        return self - self.trunc()

    def clip(self, min=None, max=None) -> Tensor:  # noqa: A002
        """Clamp to [min, max]; either may be None, a number or a tensor (broadcast). Gradient, as
        torch: to self where min <= self <= max; to a tensor ``min`` where self < min, to a tensor
        ``max`` where self > max (``max`` wins where min > max).

        >>> Tensor([-2.0, 0.5, 2.0]).clamp(-1, 1).tolist()
        [-1.0, 0.5, 1.0]
        """
        if min is None and max is None:
            raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
        x = self
        if x.dtype.kind != "f" and any(isinstance(v, float) or (isinstance(v, Tensor) and v.dtype.kind == "f")
                                       for v in (min, max)):
            x = x.astype(np.float32 if not any(isinstance(v, Tensor) for v in (min, max))
                         else next(v.dtype for v in (min, max) if isinstance(v, Tensor) and v.dtype.kind == "f"))
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            lo = None if min is None else x._coerce(min)
            hi = None if max is None else x._coerce(max)
            return elementwise_ops.ClampTensor.apply(x, lo, hi)
        return elementwise_ops.Clip.apply(x, lo=min, hi=max)

    clamp = clip

    def clamp_min(self, min) -> Tensor:  # noqa: A002
        return self.clamp(min=min)

    def clamp_max(self, max) -> Tensor:  # noqa: A002
        return self.clamp(max=max)

    def nan_to_num(self, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
        """nan → ``nan``, ±inf → ``posinf``/``neginf`` (default: the dtype's largest finite values).

        >>> Tensor([float("nan"), 1.0]).nan_to_num().tolist()
        [0.0, 1.0]
        """
        return elementwise_ops.NanToNum.apply(self, nan=nan, posinf=posinf, neginf=neginf)

    def isnan(self) -> Tensor:
        return Tensor(array_module(self._data).isnan(self._data))

    def isinf(self) -> Tensor:
        return Tensor(array_module(self._data).isinf(self._data))

    def isposinf(self) -> Tensor:
        return Tensor(self._data == np.inf) if self.dtype.kind == "f" else self.zeros_like(dtype=bool)

    def isneginf(self) -> Tensor:
        return Tensor(self._data == -np.inf) if self.dtype.kind == "f" else self.zeros_like(dtype=bool)

    def isfinite(self) -> Tensor:
        return Tensor(array_module(self._data).isfinite(self._data))

    def masked_fill(self, mask, value) -> Tensor:
        """Entries where ``mask`` (bool) is True become ``value`` (a number or a 0-d tensor); self and mask
        broadcast together (the in-place form keeps self's shape).

        >>> Tensor([1.0, 2.0]).masked_fill(Tensor([[True, False], [False, True]]), 0.0).tolist()
        [[0.0, 2.0], [1.0, 0.0]]
        """
        return movement_ops.masked_fill(self, mask, value)

    def tril(self, diagonal: int = 0) -> Tensor:
        return movement_ops.tri(self, diagonal, upper=False)

    def triu(self, diagonal: int = 0) -> Tensor:
        return movement_ops.tri(self, diagonal, upper=True)

    # ---- reductions ---------------------------------------------------------------------------
    # torch's positional order (dim, keepdim); NumPy's axis=/keepdims= spellings are accepted too.
    def sum(self, dim=None, keepdim=None, *, dtype=None, axis=None, keepdims=None) -> Tensor:
        """Sum over ``dim`` (None: all; int, tuple or list). Integer and bool tensors sum to int64.

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).sum(1, True).tolist()
        [[3.0], [7.0]]
        """
        d, k = reduce_ops.dim_arg("sum", dim, axis), reduce_ops.keepdim_arg("sum", keepdim, keepdims)
        x = self.to(dtype) if dtype is not None else (self.astype(np.int64) if self.dtype.kind in "biu" else self)
        return reduce_ops.Sum.apply(x, axis=d, keepdims=k)

    def mean(self, dim=None, keepdim=None, *, dtype=None, axis=None, keepdims=None) -> Tensor:
        """Mean over ``dim``; floating-point tensors only (or pass ``dtype=``). Empty: nan."""
        d, k = reduce_ops.dim_arg("mean", dim, axis), reduce_ops.keepdim_arg("mean", keepdim, keepdims)
        x = self.to(dtype) if dtype is not None else self
        if x.dtype.kind not in "fc":
            raise RuntimeError(f"mean(): needs a floating-point tensor, got {x.dtype}; pass dtype= or cast first")
        return reduce_ops.Mean.apply(x, axis=d, keepdims=k)

    def nansum(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
        reduce_ops.normalize_axis(reduce_ops.dim_arg("nansum", dim, axis), self.ndim, "nansum")
        x = self.masked_fill(self != self, 0.0) if self.dtype.kind == "f" else self
        return x.sum(dim, keepdim, axis=axis, keepdims=keepdims)

    def nanmean(self, dim=None, keepdim=None, *, dtype=None, axis=None, keepdims=None) -> Tensor:
        """Mean over ``dim`` of the entries that are not nan (nan where all are), as torch.nanmean.

        >>> Tensor([1.0, float("nan"), 3.0]).nanmean().item()
        2.0
        """
        x = self.astype(dtype) if dtype is not None else self
        if x.dtype.kind != "f":
            raise RuntimeError(f"nanmean(): expected a floating point tensor as input, got {x.dtype}")
        count = (x == x).astype(x.dtype).sum(dim, keepdim, axis=axis, keepdims=keepdims)
        return x.nansum(dim, keepdim, axis=axis, keepdims=keepdims) / count

    def prod(self, dim=None, keepdim=None, *, dtype=None, axis=None, keepdims=None) -> Tensor:
        """Product over ``dim``; its gradient is exact where entries are 0."""
        d, k = reduce_ops.dim_arg("prod", dim, axis), reduce_ops.keepdim_arg("prod", keepdim, keepdims)
        x = self.to(dtype) if dtype is not None else (self.astype(np.int64) if self.dtype.kind in "biu" else self)
        return reduce_ops.Prod.apply(x, axis=d, keepdims=k)

    def _one_dim(self, op: str, dim) -> int:
        """A single dim (int) as a non-negative int; 0 for a 0-d tensor."""
        if isinstance(dim, (tuple, list)) or isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"{op}(): dim must be an int, got {dim!r}")
        axes = reduce_ops.normalize_axis(int(dim), self.ndim, op)
        return axes[0] if axes else 0

    def _pick(self, op: str, index, axis: int, keepdim: bool, kind):
        """(values, indices) of ``index`` (keepdim shape) along ``axis``; values carry the gradient."""
        x = self.reshape(1) if self.ndim == 0 else self
        values = scan_ops.TakeAlong.apply(x, index=index, axis=axis)
        if self.ndim == 0:
            return kind(values.reshape(()), Tensor(index.reshape(())))
        if not keepdim:
            values = values.squeeze(axis)
            index = index.squeeze(axis)
        return kind(values, Tensor(index))

    def _arg_extremum(self, op: str, dim, keepdim: bool):
        """The keepdim int64 index array of the max/min along ``dim`` (first one on ties; nan wins)."""
        axis = self._one_dim(op, dim)
        x = self._data.reshape(1) if self.ndim == 0 else self._data
        if x.shape[axis] == 0:
            raise IndexError(f"{op}(): cannot reduce dim {axis} of size 0 (shape {self.shape})")
        xp = array_module(x)
        fn = xp.argmax if op in ("max", "argmax") else xp.argmin
        return axis, xp.expand_dims(fn(x, axis=axis), axis).astype(np.int64)

    def max(self, dim=None, keepdim=None, *, axis=None, keepdims=None, other=None):
        """No dim: the largest entry (the gradient splits evenly among ties). With a dim: a
        named tuple ``(values, indices)``, the first index on ties, the gradient to it.
        ``x.max(other)`` is ``maximum``.

        >>> v, i = Tensor([[1.0, 5.0, 5.0]]).max(1); (v.tolist(), i.tolist())
        ([5.0], [1])
        """
        if other is not None or isinstance(dim, Tensor):  # x.max(other): maximum
            return self.maximum(dim if other is None else other)
        d, k = reduce_ops.dim_arg("max", dim, axis), reduce_ops.keepdim_arg("max", keepdim, keepdims)
        if d is None:
            return reduce_ops.Max.apply(self, nan_hits=True)
        ax, idx = self._arg_extremum("max", d, k)
        return self._pick("max", idx, ax, k, return_types.max)

    def min(self, dim=None, keepdim=None, *, axis=None, keepdims=None, other=None):
        """Like ``max``: the smallest entry, or ``(values, indices)`` along a dim."""
        if other is not None or isinstance(dim, Tensor):  # x.min(other): minimum
            return self.minimum(dim if other is None else other)
        d, k = reduce_ops.dim_arg("min", dim, axis), reduce_ops.keepdim_arg("min", keepdim, keepdims)
        if d is None:
            return reduce_ops.Min.apply(self, nan_hits=True)
        ax, idx = self._arg_extremum("min", d, k)
        return self._pick("min", idx, ax, k, return_types.min)

    def amax(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
        """The largest entries over ``dim`` (None: all; int or tuple); ties split the gradient evenly."""
        d = reduce_ops.dim_arg("amax", dim, axis)
        reduce_ops.normalize_axis(d, self.ndim, "amax")  # errors name amax
        return reduce_ops.Max.apply(self, axis=d, keepdims=reduce_ops.keepdim_arg("amax", keepdim, keepdims))

    def amin(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
        d = reduce_ops.dim_arg("amin", dim, axis)
        reduce_ops.normalize_axis(d, self.ndim, "amin")
        return reduce_ops.Min.apply(self, axis=d, keepdims=reduce_ops.keepdim_arg("amin", keepdim, keepdims))

    def aminmax(self, *, dim=None, keepdim=False):
        """``(min, max)`` as a named tuple, over all entries or one dim."""
        return return_types.aminmax(self.amin(dim, keepdim), self.amax(dim, keepdim))

    def _argext(self, op: str, dim, keepdim, axis, keepdims) -> Tensor:
        d, k = reduce_ops.dim_arg(op, dim, axis), reduce_ops.keepdim_arg(op, keepdim, keepdims)
        if d is None:
            if self.numel() == 0:
                raise reduce_ops.EmptyReduction(f"{op}(): Expected reduction dim to be specified for "
                                                "input.numel() == 0.")
            _, idx = self.reshape(-1)._arg_extremum(op, 0, False)
            return Tensor(idx.reshape((1,) * self.ndim if k else ()))
        ax, idx = self._arg_extremum(op, d, k)
        if self.ndim == 0:
            return Tensor(idx.reshape(()))
        return Tensor(idx if k else idx.squeeze(ax))

    def argmax(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
        """The int64 index of the largest entry (flat when no dim; the first on ties).

        >>> Tensor([1, 3, 3]).argmax().item()
        1
        """
        self._no_bool_arg("argmax")
        return self._argext("argmax", dim, keepdim, axis, keepdims)

    def argmin(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
        """The int64 index of the smallest entry (flat when no dim; the first on ties)."""
        self._no_bool_arg("argmin")
        return self._argext("argmin", dim, keepdim, axis, keepdims)

    def _no_bool_arg(self, op: str) -> None:
        """torch has no bool argmax/argmin (max and min of bools are fine)."""
        if self.dtype == np.bool_:
            raise RuntimeError(f"{op}(): does not support bool input")

    def logsumexp(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
        """``log(sum(exp(x)))`` over ``dim``, computed stably."""
        d, k = reduce_ops.dim_arg("logsumexp", dim, axis), reduce_ops.keepdim_arg("logsumexp", keepdim, keepdims)
        x = self if self.dtype.kind in "fc" else self.astype(np.float32)
        return reduce_ops.LogSumExp.apply(x, axis=d, keepdims=k)

    def _correction(self, op: str, dim, unbiased, keepdim, correction, ddof):
        """Sort out torch's var(dim, unbiased, keepdim) / var(dim, *, correction, keepdim) forms,
        and the old NumPy form var(axis, keepdims, ddof)."""
        if isinstance(dim, bool):  # x.var(True): unbiased
            dim, unbiased = None, dim
        if keepdim is not None and not isinstance(keepdim, bool) and isinstance(keepdim, int):
            unbiased, keepdim, ddof = None, unbiased, keepdim  # (axis, keepdims, ddof)
        given = [c for c in (unbiased, correction, ddof) if c is not None]
        if len(given) > 1:
            raise TypeError(f"{op}(): pass one of unbiased=, correction= and ddof=")
        if unbiased is not None:
            return dim, keepdim, int(bool(unbiased))
        return dim, keepdim, (1 if not given else given[0])

    def var(self, dim=None, unbiased=None, keepdim=None, *, correction=None, ddof=None,
            axis=None, keepdims=None) -> Tensor:
        """Variance over ``dim`` with torch's ``correction`` (default 1; ``unbiased=`` and NumPy's
        ``ddof=`` spell it too): sum(|x - mean|^2) / max(N - correction, 0), inf or nan at 0 as torch
        (real for complex input).

        >>> Tensor([1.0, 2.0, 3.0, 4.0]).var().item()
        1.666...
        """
        dim, keepdim, c = self._correction("var", dim, unbiased, keepdim, correction, ddof)
        d, k = reduce_ops.dim_arg("var", dim, axis), reduce_ops.keepdim_arg("var", keepdim, keepdims)
        if self.dtype.kind not in "fc":
            raise RuntimeError(f"var(): needs a floating-point tensor, got {self.dtype}")
        # axis=: () here reduces none (NumPy's axis=())
        return reduce_ops.Var.apply(self, axis=reduce_ops.normalize_axis(d, self.ndim, "var"), correction=c,
                                    keepdims=k)

    def std(self, dim=None, unbiased=None, keepdim=None, *, correction=None, ddof=None,
            axis=None, keepdims=None) -> Tensor:
        """Standard deviation (see ``var``); where it is 0 its gradient is 0, as in torch."""
        v = self.var(dim, unbiased, keepdim, correction=correction, ddof=ddof, axis=axis, keepdims=keepdims)
        return _safe_sqrt(v)

    def var_mean(self, dim=None, unbiased=None, keepdim=None, *, correction=None, ddof=None,
                 axis=None, keepdims=None) -> tuple[Tensor, Tensor]:
        """``(var, mean)`` as torch.var_mean."""
        v = self.var(dim, unbiased, keepdim, correction=correction, ddof=ddof, axis=axis, keepdims=keepdims)
        dim, keepdim, _ = self._correction("var_mean", dim, unbiased, keepdim, correction, ddof)
        d, k = reduce_ops.dim_arg("var_mean", dim, axis), reduce_ops.keepdim_arg("var_mean", keepdim, keepdims)
        return v, self.mean(axis=reduce_ops.normalize_axis(d, self.ndim, "var_mean"), keepdims=k)

    def std_mean(self, dim=None, unbiased=None, keepdim=None, *, correction=None, ddof=None,
                 axis=None, keepdims=None) -> tuple[Tensor, Tensor]:
        """``(std, mean)`` as torch.std_mean."""
        v, m = self.var_mean(dim, unbiased, keepdim, correction=correction, ddof=ddof, axis=axis, keepdims=keepdims)
        return _safe_sqrt(v), m

    def any(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
        """Whether any entry is nonzero (bool, no gradient)."""
        d, k = reduce_ops.dim_arg("any", dim, axis), reduce_ops.keepdim_arg("any", keepdim, keepdims)
        out = self._data.astype(bool).any(axis=reduce_ops.normalize_axis(d, self.ndim, "any"), keepdims=k)
        return Tensor(out.astype(np.uint8) if self.dtype == np.uint8 else out)  # torch keeps uint8

    def all(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
        """Whether every entry is nonzero (bool, no gradient)."""
        d, k = reduce_ops.dim_arg("all", dim, axis), reduce_ops.keepdim_arg("all", keepdim, keepdims)
        out = self._data.astype(bool).all(axis=reduce_ops.normalize_axis(d, self.ndim, "all"), keepdims=k)
        return Tensor(out.astype(np.uint8) if self.dtype == np.uint8 else out)  # torch keeps uint8

    def count_nonzero(self, dim=None, *, axis=None) -> Tensor:
        """How many entries are nonzero (int64)."""
        axes = reduce_ops.normalize_axis(reduce_ops.dim_arg("count_nonzero", dim, axis), self.ndim, "count_nonzero")
        return Tensor((self._data != 0).sum(axis=axes).astype(np.int64))

    def norm(self, p="fro", dim=None, keepdim=False, dtype=None) -> Tensor:
        """The vector p-norm over ``dim`` (None: all entries): p = 1, 2 / 'fro', inf, -inf, 0
        or any other number; p='nuc' is the nuclear norm (sum of singular values) over two dims (None: a
        2-D input's). The gradient of the 2-norm at 0 is 0, as torch. A complex input's norm is that of
        |x| (real), its gradient torch's.

        >>> Tensor([3.0, 4.0]).norm().item()
        5.0
        >>> Tensor([[0.0, 2.0], [3.0, 0.0]]).norm("nuc").item()
        5.0
        """
        if isinstance(p, str) and (p != "fro" or not (dim is None or isinstance(dim, int) or len(dim) <= 2)):
            from engine.linalg import matrix_norm  # 'nuc' (or a bad order / dim): torch's matrix_norm path

            return matrix_norm(self, p, tuple(range(self.ndim)) if dim is None else dim, keepdim, dtype=dtype)
        x = self._norm_dtype(dtype) if dtype is not None else self
        if x.dtype.kind not in "fc":
            raise RuntimeError(f"norm(): needs a floating-point tensor, got {x.dtype}")
        if p == "fro" or p is None:
            p = 2
        if x.dtype.kind == "c":  # the norm of |x|: real, and abs's gradient sgn(x) gives torch's norm_backward
            x = x.abs()
        axes = reduce_ops.normalize_axis(reduce_ops.dim_arg("norm", dim), x.ndim, "norm")
        if abs(p) == math.inf and any(x.shape[a] == 0 for a in axes):
            raise RuntimeError(f"linalg.vector_norm cannot compute the {p} norm over an empty dim of a tensor "
                               f"of shape {tuple(x.shape)}: the operation does not have an identity")
        if p == math.inf:
            return x.abs().amax(axes, keepdim)
        if p == -math.inf:
            return x.abs().amin(axes, keepdim)
        if p == 0:  # the count of nonzeros, still in the graph with a zero gradient (as torch)
            every = array_module(x._data).ones(x.shape, dtype=bool)
            return elementwise_ops.Where.apply((x != 0).astype(x.dtype), x, cond=every).sum(axes, keepdim)
        if p == 1:
            return x.abs().sum(axes, keepdim)
        if p == 2:
            return _safe_pow((x * x).sum(axes, keepdim), 0.5)
        if p < 0:  # |0|^p is inf, so a zero entry makes the norm 0, as torch
            if x.numel() == 0:
                raise RuntimeError(f"linalg.vector_norm cannot compute the {p} norm on an empty tensor "
                                   "because the operation does not have an identity")
            # torch's gradient is 0 across a slice whose norm is 0: compute it on ones there
            a = x.abs()
            dead = (a._data == 0).any(axis=axes, keepdims=True)
            one, zero = (Tensor(array_module(x._data).asarray(c, dtype=x.dtype)) for c in (1, 0))
            a = elementwise_ops.Where.apply(one, a, cond=dead)
            r = elementwise_ops.Where.apply(zero, (a ** float(p)).sum(axes, True) ** (1.0 / p), cond=dead)
            return r if keepdim else r.squeeze(axes)
        return _safe_pow(_safe_pow(x.abs(), float(p)).sum(axes, keepdim), 1.0 / p)  # 0 at 0 for p < 1 too

    def _norm_dtype(self, dtype) -> Tensor:
        """``self`` cast to a vector norm's ``dtype=``, with torch's checks (same kind, no narrowing)."""
        from engine.dtypes import scalar_type_name

        dt = to_dtype(dtype)
        if (self.dtype.kind == "c") != (dt.kind == "c"):
            kind = "complex for complex" if self.dtype.kind == "c" else "real for real"
            raise RuntimeError(f"linalg.vector_norm: dtype should be {kind} inputs, but got {scalar_type_name(dt)}")
        if self.dtype.kind in "fc" and np.promote_types(self.dtype, dt) != dt:
            raise RuntimeError(f"linalg.vector_norm: the dtype of the input ({scalar_type_name(self.dtype)}) should be "
                               f"convertible without narrowing to the specified dtype ({scalar_type_name(dt)})")
        return self.to(dt)

    # ---- scans and sorting ----------------------------------------------------------------------
    def _scan(self, op: str, fn: type[Function], dim, axis, dtype=None) -> Tensor:
        d = reduce_ops.dim_arg(op, dim, axis)
        if d is None:
            raise TypeError(f"{op}(): missing the required argument 'dim'")
        ax = self._one_dim(op, d)
        x = self.to(dtype) if dtype is not None else (self.astype(np.int64) if self.dtype.kind in "biu" else self)
        if x.ndim == 0:
            return fn.apply(x.reshape(1), axis=0).reshape(())
        return fn.apply(x, axis=ax)

    def cumsum(self, dim=None, *, dtype=None, axis=None) -> Tensor:
        """Running sum along ``dim`` (required, as in torch); integers give int64.

        >>> Tensor([1.0, 2.0, 3.0]).cumsum(0).tolist()
        [1.0, 3.0, 6.0]
        """
        return self._scan("cumsum", scan_ops.Cumsum, dim, axis, dtype)

    def cumprod(self, dim=None, *, dtype=None, axis=None) -> Tensor:
        """Running product along ``dim``; the gradient is exact where entries are 0."""
        return self._scan("cumprod", scan_ops.Cumprod, dim, axis, dtype)

    def logcumsumexp(self, dim=None, *, axis=None) -> Tensor:
        """``log(cumsum(exp(x)))`` along ``dim``, computed stably."""
        x = self if self.dtype.kind in "fc" else self.astype(np.float32)
        return x._scan("logcumsumexp", scan_ops.LogCumSumExp, dim, axis)

    def _cumext(self, op: str, dim, axis):
        d = reduce_ops.dim_arg(op, dim, axis)
        if d is None:
            raise TypeError(f"{op}(): missing the required argument 'dim'")
        ax = self._one_dim(op, d)
        x = self._data.reshape(1) if self.ndim == 0 else self._data
        xp = array_module(x)
        xm = to_numpy(x)  # ufunc.accumulate is NumPy's; index bookkeeping on the host
        acc = (np.maximum if op == "cummax" else np.minimum).accumulate(xm, axis=ax)
        hit = (xm == acc) | (np.isnan(xm) if xm.dtype.kind == "f" else False)  # the latest tie wins
        pos = np.arange(xm.shape[ax] if xm.ndim else 1).reshape([-1 if i == ax else 1 for i in range(xm.ndim)])
        idx = np.maximum.accumulate(np.where(hit, pos, 0), axis=ax).astype(np.int64)
        idx = xp.asarray(idx) if xp is not np else idx
        x_t = self.reshape(1) if self.ndim == 0 else self
        values = scan_ops.TakeAlong.apply(x_t, index=idx, axis=ax)
        kind = return_types.cummax if op == "cummax" else return_types.cummin
        if self.ndim == 0:
            return kind(values.reshape(()), Tensor(idx.reshape(())))
        return kind(values, Tensor(idx))

    def cummax(self, dim=None, *, axis=None):
        """Running max along ``dim``: ``(values, indices)`` (the latest index on ties, as torch)."""
        return self._cumext("cummax", dim, axis)

    def cummin(self, dim=None, *, axis=None):
        return self._cumext("cummin", dim, axis)

    def _argsort(self, op: str, dim: int, descending: bool):
        """Stable argsort along ``dim`` (nan sorts as the largest) as a keepdim-free int64 array."""
        ax = self._one_dim(op, dim)
        x = self._data.reshape(1) if self.ndim == 0 else self._data
        xp = array_module(x)
        if not descending:
            return ax, xp.argsort(x, axis=ax, kind="stable").astype(np.int64)
        # Stable descending: sort the reversed array ascending, reverse back, map the positions.
        n = x.shape[ax]
        rev = xp.flip(xp.argsort(xp.flip(x, ax), axis=ax, kind="stable"), ax)
        return ax, (n - 1 - rev).astype(np.int64)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        """``(values, indices)`` sorted along ``dim``; ties keep their order (always stable).

        >>> Tensor([3.0, 1.0, 2.0]).sort().indices.tolist()
        [1, 2, 0]
        """
        ax, idx = self._argsort("sort", dim, descending)
        return self._pick("sort", idx, ax, True, return_types.sort)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
        ax, idx = self._argsort("argsort", dim, descending)
        return Tensor(idx.reshape(()) if self.ndim == 0 else idx)

    def msort(self) -> Tensor:
        return self.sort(0).values

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
        """The ``k`` largest (or smallest) entries along ``dim``: ``(values, indices)``."""
        if self.dtype == np.bool_:
            raise RuntimeError(f"topk does not support bool dtypes on CPU (got shape {self.shape})")
        ax = self._one_dim("topk", dim)
        n = self.shape[ax] if self.ndim else 1
        if not 0 <= k <= n:
            raise RuntimeError(f"topk(): k={k} is out of range for dim {ax} of size {n} (shape {self.shape})")
        ax, idx = self._argsort("topk", dim, largest)
        idx = idx[(slice(None),) * ax + (slice(0, k),)]
        return self._pick("topk", idx, ax, True, return_types.topk)

    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False):
        """The ``k``-th smallest entry (1-based) along ``dim``: ``(values, indices)``."""
        _no_bool_kernel(self, "kthvalue_cpu")
        ax = self._one_dim("kthvalue", dim)
        n = self.shape[ax] if self.ndim else 1
        if n == 0:
            raise IndexError(f"kthvalue(): Expected reduction dim {ax} to have non-zero size.")
        if not 1 <= k <= n:
            raise RuntimeError(f"kthvalue(): k={k} is out of range for dim {ax} of size {n} (shape {self.shape})")
        ax, idx = self._argsort("kthvalue", dim, False)
        idx = idx[(slice(None),) * ax + (slice(k - 1, k),)]
        return self._pick("kthvalue", idx, ax, keepdim, return_types.kthvalue)

    def mode(self, dim: int = -1, keepdim: bool = False):
        """The most frequent entry along ``dim`` (the smallest one on a tie of counts) and the index of
        its last occurrence, as torch: ``(values, indices)``; values carry the gradient.

        >>> Tensor([3.0, 1.0, 2.0, 1.0, 3.0]).mode().indices.item()
        3
        """
        ax = self._one_dim("mode", dim)
        x = self._data.reshape(1) if self.ndim == 0 else self._data
        n = x.shape[ax]
        if n == 0:
            raise IndexError(f"mode(): cannot reduce dim {ax} of size 0 (shape {self.shape})")
        xp = array_module(x)
        rows = xp.moveaxis(x, ax, -1).reshape(-1, n)  # (M, n)
        m = rows.shape[0]
        order = xp.argsort(rows, axis=1, kind="stable")  # equal values keep their original order
        s = xp.take_along_axis(rows, order, axis=1)
        new = xp.ones((m, n), dtype=bool)
        new[:, 1:] = s[:, 1:] != s[:, :-1]
        run = xp.cumsum(new, axis=1) - 1  # (M, n) run id of each sorted entry
        flat = (xp.arange(m)[:, None] * n + run).reshape(-1)
        counts = xp.bincount(flat, minlength=m * n).reshape(m, n)  # entries per (row, run)
        best = xp.argmax(counts, axis=1)  # first run with the top count: the smallest value
        end = (run <= best[:, None]).sum(axis=1) - 1  # its last sorted entry: the last occurrence
        idx = xp.take_along_axis(order, end[:, None], axis=1).astype(np.int64)  # (M, 1)
        lead = tuple(s for i, s in enumerate(x.shape) if i != ax)
        idx = xp.moveaxis(idx.reshape(*lead, 1), -1, ax)
        return self._pick("mode", idx, ax, keepdim, return_types.mode)

    def select(self, dim: int, index: int) -> Tensor:
        """The slice at ``index`` of dim ``dim``, that dim removed (torch.select: ``x[:, index]`` for dim 1).

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).select(1, -1).tolist()
        [2.0, 4.0]
        """
        d = wrap_dim(dim, self.ndim, "select")
        n = self.shape[d]
        if not -n <= int(index) < n:
            raise IndexError(f"select(): index {index} out of range for tensor of size {self.shape} at dimension {d}")
        return self[(slice(None),) * d + (int(index),)]

    def logit(self, eps: float | None = None) -> Tensor:
        """log(p / (1 - p)), with p clamped to [eps, 1 - eps] first when ``eps`` is given (torch.logit).

        >>> Tensor([0.5]).logit().tolist()
        [0.0]
        """
        from engine.ops.special import Logit

        p = self.astype(np.float32) if self.dtype.kind != "f" else self
        return Logit.apply(p, eps=eps)

    def dist(self, other, p: float = 2) -> Tensor:
        """The ``p``-norm of ``self - other`` (broadcast), as torch.dist.

        >>> Tensor([3.0, 0.0]).dist(Tensor([0.0, 4.0])).item()
        5.0
        """
        return (self - other).norm(p)

    def short(self, memory_format=None) -> Tensor:
        return self._cast(np.int16, memory_format, "short")

    def byte(self, memory_format=None) -> Tensor:
        return self._cast(np.uint8, memory_format, "byte")

    def char(self, memory_format=None) -> Tensor:
        return self._cast(np.int8, memory_format, "char")

    def is_complex(self) -> bool:
        return self.dtype.kind == "c"

    def median(self, dim=None, keepdim: bool = False, *, axis=None):
        """No dim: the lower median (nan if any entry is nan; ties share the gradient).
        With a dim: ``(values, indices)`` of the lower median along it."""
        d = reduce_ops.dim_arg("median", dim, axis)
        _no_bool_kernel(self, "median_cpu" if d is None else "median_out")
        if d is None:
            return reduce_ops.Median.apply(self)
        ax, idx = self._argsort("median", d, False)
        x = self._data.reshape(1) if self.ndim == 0 else self._data
        n = x.shape[ax]
        if n == 0:
            raise IndexError(f"median(): cannot reduce dim {ax} of size 0 (shape {self.shape})")
        xp = array_module(x)
        pick = idx[(slice(None),) * ax + (slice((n - 1) // 2, (n - 1) // 2 + 1),)]
        if x.dtype.kind == "f":  # a slice with a nan has median nan, at its first nan
            nan = xp.isnan(x)
            first_nan = xp.expand_dims(xp.argmax(nan, axis=ax), ax).astype(np.int64)
            pick = xp.where(xp.expand_dims(nan.any(axis=ax), ax), first_nan, pick)
        return self._pick("median", pick, ax, keepdim, return_types.median)

    def unique(self, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,  # noqa: A002
               dim=None):
        """The distinct entries, sorted (no gradient); optionally the inverse map and counts."""
        xm = self.numpy()
        if dim is None:
            vals, inv, counts = np.unique(xm, return_inverse=True, return_counts=True, equal_nan=False)  # as torch
            inv = inv.reshape(self.shape)
        else:
            axis = self._one_dim("unique", dim)
            vals, inv, counts = np.unique(xm, return_inverse=True, return_counts=True, axis=axis)
            inv = inv.reshape(-1)
        out = [Tensor(vals, device=self.device)]
        if return_inverse:
            out.append(Tensor(inv.astype(np.int64), device=self.device))
        if return_counts:
            out.append(Tensor(counts.astype(np.int64), device=self.device))
        return out[0] if len(out) == 1 else tuple(out)

    # ---- movement -----------------------------------------------------------------------------
    def reshape(self, *sizes, shape=None) -> Tensor:
        """torch's reshape/view: ``x.reshape(2, -1)``, ``x.reshape((2, -1))`` or ``x.reshape(shape=(2, -1))``;
        one -1 is inferred.

        >>> Tensor([1.0, 2.0, 3.0, 4.0]).reshape(2, -1).shape
        (2, 2)
        """
        shape = _shape_arg(sizes) if shape is None else tuple(shape)
        try:
            target = _resolve_shape(self.shape, shape)
        except ValueError:
            raise ShapeError(
                f"shape '{list(shape)}' is invalid for input of size {self.numel()}: cannot reshape a tensor of "
                f"shape {self.shape} into {tuple(shape)}"
            ) from None
        return self if target == self.shape else movement_ops.Reshape.apply(self, shape=target)

    def view(self, *sizes, size=None, dtype=None) -> Tensor:
        """``reshape`` (``size=`` is torch's keyword), or with a dtype (``x.view(engine.int32)``) the same
        bytes read as that dtype (no gradient unless the dtype is unchanged), as torch.

        >>> Tensor([1.0, 2.0, 3.0, 4.0]).view(size=(2, 2)).shape
        (2, 2)
        """
        if dtype is None and len(sizes) == 1 and not isinstance(sizes[0], (int, np.integer, tuple, list, Tensor)):
            dtype = sizes[0]
        if dtype is None:
            return self.reshape(*sizes, shape=size)
        dt = to_dtype(dtype)
        if dt == self.dtype:
            return self
        try:
            return Tensor(array_module(self._data).ascontiguousarray(self._data).view(dt))
        except ValueError as e:
            raise RuntimeError(f"view: cannot view a {self.dtype} tensor of shape {self.shape} as {dt}: {e}") from None

    def view_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    reshape_as = view_as

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge dims ``start_dim..end_dim`` into one (a 0-d tensor becomes 1-D)."""
        if self.ndim == 0:
            wrap_dim(start_dim, 0, "flatten"), wrap_dim(end_dim, 0, "flatten")
            return self.reshape(1)
        s, e = wrap_dim(start_dim, self.ndim, "flatten"), wrap_dim(end_dim, self.ndim, "flatten")
        if s > e:
            raise RuntimeError(f"flatten() has invalid args: start_dim {start_dim} cannot come after end_dim {end_dim}")
        merged = math.prod(self.shape[s : e + 1])  # not -1: a size-0 dim elsewhere leaves -1 undetermined
        return self.reshape(*self.shape[:s], merged, *self.shape[e + 1 :])

    def unflatten(self, dim: int, sizes) -> Tensor:
        """Split dim ``dim`` into ``sizes`` (one -1 allowed).

        >>> Tensor.zeros(2, 6).unflatten(1, (3, -1)).shape
        (2, 3, 2)
        """
        d = wrap_dim(dim, self.ndim, "unflatten")
        try:
            sizes = _resolve_shape((self.shape[d],), sizes)
        except ValueError:
            raise ShapeError(f"unflatten: sizes {tuple(sizes)} don't multiply up to the size of dim {dim} "
                             f"({self.shape[d]}) of shape {self.shape}") from None
        return self.reshape(*self.shape[:d], *sizes, *self.shape[d + 1 :])

    def permute(self, *args, dims=None) -> Tensor:
        """Reorder the dims: ``x.permute(2, 0, 1)``, ``x.permute((2, 0, 1))`` or ``x.permute(dims=(2, 0, 1))``."""
        dims = _shape_arg(args) if dims is None else tuple(dims)
        if len(dims) != self.ndim:
            raise RuntimeError(f"permute: number of dims don't match in permute: shape {self.shape} "
                               f"has {self.ndim} dims but {len(dims)} were given")
        axes = wrap_dims(dims, self.ndim, "permute") if self.ndim else ()
        return movement_ops.Transpose.apply(self, axes=axes)

    def transpose(self, *axes, dim0=None, dim1=None) -> Tensor:
        """torch's ``transpose(dim0, dim1)`` swaps two dims, on any number of dims; NumPy's forms
        also work: no dims reverses them, a full tuple permutes.

        >>> Tensor([[1.0, 2.0]]).transpose(0, 1).shape
        (2, 1)
        """
        if dim0 is not None or dim1 is not None:
            axes = (*axes, *(d for d in (dim0, dim1) if d is not None))
        if not axes:
            return self.permute(*reversed(range(self.ndim)))
        if len(axes) == 2 and not isinstance(axes[0], (tuple, list)):
            return self.swapaxes(*axes)
        return self.permute(*axes)

    def swapaxes(self, axis0: int, axis1: int) -> Tensor:
        a, b = wrap_dim(axis0, self.ndim, "transpose"), wrap_dim(axis1, self.ndim, "transpose")
        if a == b or self.ndim == 0:
            return self
        axes = list(range(self.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return movement_ops.Transpose.apply(self, axes=tuple(axes))

    def swapdims(self, dim0: int, dim1: int) -> Tensor:
        """torch's name for ``swapaxes`` (keywords ``dim0``, ``dim1``)."""
        return self.swapaxes(dim0, dim1)

    def movedim(self, source, destination) -> Tensor:
        """Move dims ``source`` to positions ``destination`` (ints or sequences), the rest keep their order.

        >>> Tensor.zeros(2, 3, 4).movedim(0, -1).shape
        (3, 4, 2)
        """
        src, dst = wrap_dims(source, self.ndim, "movedim"), wrap_dims(destination, self.ndim, "movedim")
        if len(src) != len(dst):
            raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} dims) should "
                               f"contain the same number of dims as destination ({list(dst)} dims)")
        order = [d for d in range(self.ndim) if d not in src]
        for d, s in sorted(zip(dst, src)):
            order.insert(d, s)
        return self.permute(*order) if self.ndim else self

    moveaxis = movedim

    def t(self) -> Tensor:
        """Transpose of a tensor with at most 2 dims (torch's ``t()``)."""
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> Tensor:  # noqa: N802 - torch's name
        """The last two dims swapped (a batch of matrices transposed)."""
        if self.ndim == 0:
            warnings.warn("Tensor.mT is deprecated on 0-D tensors. This function is the identity in these cases.",
                          UserWarning, stacklevel=2)
            return self
        if self.ndim < 2:
            raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. Got {self.ndim}-D "
                               "tensor.")
        return self.swapaxes(-2, -1)

    def broadcast_to(self, *shape) -> Tensor:
        shape = tuple(_shape_arg(shape))
        try:
            if len(shape) < self.ndim or np.broadcast_shapes(self.shape, shape) != shape:
                raise ValueError
        except ValueError:
            raise ShapeError(f"The expanded size of the tensor cannot broadcast shape {self.shape} to {shape} "
                             "(each dim must match or be 1)") from None
        return self if shape == self.shape else movement_ops.BroadcastTo.apply(self, shape=shape)

    def expand(self, *sizes, size=None) -> Tensor:
        """torch's expand: size-1 dims grow to ``sizes`` (or ``size=``), -1 keeps a dim, new dims go in front.

        >>> Tensor([[1.0], [2.0]]).expand(-1, 3).shape
        (2, 3)
        """
        shape = list(_shape_arg(sizes) if size is None else size)
        lead = len(shape) - self.ndim
        if lead < 0:
            raise RuntimeError(f"expand: the number of sizes provided ({len(shape)}) must be greater or equal to "
                               f"the number of dimensions in the tensor ({self.ndim})")
        for i, s in enumerate(shape):
            if s == -1:
                if i < lead:
                    raise RuntimeError(f"expand: -1 is not allowed in a leading, non-existing dimension {i}")
                shape[i] = self.shape[i - lead]
        return self.broadcast_to(*shape)

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(*other.shape)

    def squeeze(self, dim=None, axis=None) -> Tensor:
        """Drop size-1 dims: all of them, or those among ``dim`` (an int or a tuple); as in torch
        a named dim whose size is not 1 is left alone.

        >>> Tensor.zeros(1, 3, 1).squeeze().shape, Tensor.zeros(1, 3).squeeze(1).shape
        ((3,), (1, 3))
        """
        dim = reduce_ops.dim_arg("squeeze", dim, axis)
        if dim is None:
            dims = tuple(i for i, s in enumerate(self.shape) if s == 1)
        else:
            dims = wrap_dims(dim, self.ndim, "squeeze")  # a 0-d tensor accepts dim 0 and -1 only
            dims = dims if self.ndim else ()
        drop = [d for d in dims if self.shape[d] == 1]
        return self.reshape([s for i, s in enumerate(self.shape) if i not in drop])

    def unsqueeze(self, dim: int) -> Tensor:
        d = wrap_dim(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(*self.shape[:d], 1, *self.shape[d:])

    def __getitem__(self, index) -> Tensor:
        """Indexing as torch: ints, slices, None, ``...``, int and bool Tensors, arrays and lists.
        Advanced indices follow NumPy's placement rules once every int has selected its dim
        (torch's order). Backward scatters into place, repeated entries summed.

        >>> Tensor.zeros(2, 3, 4)[1, :, [0, 1]].shape
        (3, 2)
        """
        out = self
        try:
            for step in movement_ops.torch_index_steps(movement_ops.torch_ellipses(_index_array(index), self.ndim),
                                                       array_module(self._data)):
                out = movement_ops.GetItem.apply(out, index=step)
        except IndexError as e:  # NumPy says "axis"; torch says "dimension"
            raise IndexError(_torch_words(str(e))) from None
        return out

    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        """``length`` entries of dim ``dim`` from ``start`` (an int or a 0-d integer tensor), a view.

        >>> Tensor([1.0, 2.0, 3.0]).narrow(0, 1, 2).tolist()
        [2.0, 3.0]
        """
        if self.ndim == 0:
            raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
        if isinstance(start, Tensor):
            if start.ndim != 0 or start.dtype.kind not in "iu":
                raise RuntimeError(f"narrow(): start must be an 0-dim integral Tensor, got shape {start.shape} "
                                   f"and dtype {start.dtype}")
            start = start.item()
        elif isinstance(start, (bool, float, np.bool_, np.floating)):
            raise TypeError(f"narrow(): start must be an int or a 0-dim integral Tensor, got "
                            f"{type(start).__name__}")
        d = wrap_dim(dim, self.ndim, "narrow")
        n = self.shape[d]
        start = int(start) + (n if start < 0 else 0)
        if not 0 <= start <= n:
            raise IndexError(f"narrow: start ({start}) out of range for dim {dim} of size {n}")
        if length < 0 or start + length > n:
            raise RuntimeError(f"narrow: start ({start}) + length ({length}) exceeds dimension size ({n}) of dim {dim}")
        return self[(slice(None),) * d + (slice(start, start + length),)]

    def _slices(self, d: int, bounds) -> list[Tensor]:
        """Consecutive pieces ``[lo, hi)`` of dim ``d`` (basic slices: views, gradients scatter back)."""
        return [self[(slice(None),) * d + (slice(lo, hi),)] for lo, hi in bounds]

    def split(self, split_size_or_sections, dim: int | None = None, axis: int | None = None) -> list[Tensor]:
        """torch's split: pieces of ``split_size`` (the last may be smaller), or of the listed sizes.

        >>> [p.shape for p in Tensor.zeros(5).split(2)]
        [(2,), (2,), (1,)]
        """
        dim = reduce_ops.dim_arg("split", dim, axis)
        d = wrap_dim(0 if dim is None else dim, self.ndim, "split")
        if self.ndim == 0:
            raise RuntimeError("split expects at least a 1-dimensional tensor")
        n = self.shape[d]
        if isinstance(split_size_or_sections, (int, np.integer)):
            size = int(split_size_or_sections)
            if size < 0 or (size == 0 and n > 0):
                raise RuntimeError(f"split expects split_size be non-negative (and positive for a non-empty dim), "
                                   f"but got split_size={size}")
            sizes = [min(size, n - i) for i in range(0, n, size)] if n else [0]
        else:
            sizes = [int(s) for s in split_size_or_sections]
            if sum(sizes) != n or any(s < 0 for s in sizes):
                raise ShapeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
                                 f"size at dimension {dim} of shape {self.shape}), but got split_sizes={sizes}")
        starts = np.cumsum([0, *sizes]).tolist()
        name = "Split" if isinstance(split_size_or_sections, (int, np.integer)) else "SplitWithSizes"  # torch's
        return _mark_multi_output(self._slices(d, zip(starts[:-1], starts[1:])), name)

    def chunk(self, chunks: int, dim: int = 0) -> list[Tensor]:
        """torch's chunk: pieces of ceil(n / chunks) entries, so there may be fewer than ``chunks``.

        >>> [p.shape for p in Tensor.zeros(6).chunk(4)]
        [(2,), (2,), (2,)]
        """
        if chunks <= 0:
            raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
        if self.ndim == 0:
            raise RuntimeError("chunk expects at least a 1-dimensional tensor")
        d = wrap_dim(dim, self.ndim, "chunk")
        n = self.shape[d]
        return self.split(max(-(-n // chunks), 1), dim=d)

    def tensor_split(self, indices_or_sections, dim: int = 0) -> list[Tensor]:
        """NumPy's array_split: ``sections`` near-equal pieces (the first n % sections one longer),
        or the pieces between the listed indices."""
        d = wrap_dim(dim, self.ndim, "tensor_split")
        n = self.shape[d]
        if isinstance(indices_or_sections, Tensor):
            indices_or_sections = indices_or_sections.tolist()
        if isinstance(indices_or_sections, (int, np.integer)):
            k = int(indices_or_sections)
            if k <= 0:
                raise RuntimeError(f"tensor_split: number of sections must be larger than 0, got {k}")
            cuts = [i * (n // k) + min(i, n % k) for i in range(k + 1)]
        else:
            cuts = [0, *(min(max(int(i) + (n if i < 0 else 0), 0), n) for i in indices_or_sections), n]
        return self._slices(d, ((lo, max(lo, hi)) for lo, hi in zip(cuts[:-1], cuts[1:])))

    def unbind(self, dim: int = 0) -> tuple:
        """The slices along ``dim``, that dim removed."""
        if self.ndim == 0:
            raise movement_ops.IndexOutOfRange("unbind: dimension specified as 0 but tensor has no dimensions")
        d = wrap_dim(dim, self.ndim, "unbind")
        return tuple(_mark_multi_output([self[(slice(None),) * d + (i,)] for i in range(self.shape[d])], "Unbind"))

    def flip(self, *args, dims=None) -> Tensor:
        """Reverse the order of entries along ``dims`` (positional, a sequence, or ``dims=``).

        >>> Tensor([[1.0, 2.0]]).flip(dims=[1]).tolist()
        [[2.0, 1.0]]
        """
        dims = wrap_dims(_shape_arg(args) if dims is None else tuple(dims), self.ndim, "flip")
        if not dims or self.ndim == 0:
            return self.clone()
        out = self[tuple(slice(None, None, -1) if i in dims else slice(None) for i in range(self.ndim))]
        return out.clone()  # new memory, as torch's: an in-place op on it must not reach self

    def fliplr(self) -> Tensor:
        if self.ndim < 2:
            raise RuntimeError("fliplr: Input must be >= 2-d.")
        return self.flip(1)

    def flipud(self) -> Tensor:
        if self.ndim < 1:
            raise RuntimeError("flipud: Input must be >= 1-d.")
        return self.flip(0)

    def roll(self, shifts, dims=None) -> Tensor:
        """Shift entries cyclically along ``dims`` (no dims: the flattened tensor, shape kept).

        >>> Tensor([1.0, 2.0, 3.0]).roll(1).tolist()
        [3.0, 1.0, 2.0]
        """
        if dims is None or (isinstance(dims, (tuple, list)) and len(dims) == 0):  # torch: () is no dims too
            if not isinstance(shifts, (int, np.integer)) and len(shifts) != 1:
                raise RuntimeError(f"roll: shifts {shifts} need dims when there is more than one")
            return self.flatten().roll(shifts, 0).reshape(self.shape)
        shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
        dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
        if len(shifts) != len(dims):
            raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, dims: {len(dims)}")
        if self.ndim == 0 and dims:  # torch: a 0-d tensor has no dim to roll along
            raise IndexError(f"roll: Dimension specified as {dims[0]} but tensor has no dimensions")
        out = self
        for s, dim in zip(shifts, dims):
            d = wrap_dim(dim, self.ndim, "roll")
            n = self.shape[d] if self.ndim else 1
            s = int(s) % n if n else 0
            if s and self.ndim:
                tail, head = out._slices(d, [(n - s, n), (0, n - s)])
                out = Tensor._cat([tail, head], d)
        return out if out is not self else self.clone()

    @staticmethod
    def _cat(tensors, d: int) -> Tensor:
        return tensors[0] if len(tensors) == 1 else movement_ops.Concatenate.apply(*tensors, axis=d)

    def repeat(self, *sizes, repeats=None) -> Tensor:
        """torch's repeat (NumPy's tile): the whole tensor ``sizes[i]`` times along dim i; extra
        leading sizes add dims.

        >>> Tensor([1.0, 2.0]).repeat(2).tolist()
        [1.0, 2.0, 1.0, 2.0]
        """
        sizes = tuple(int(s) for s in (_shape_arg(sizes) if repeats is None else repeats))
        if len(sizes) < self.ndim:
            raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions "
                               f"of tensor (repeat {sizes} of shape {self.shape})")
        if any(s < 0 for s in sizes):
            raise RuntimeError(f"repeat: repeats can not be negative, got {sizes}")
        shape = (1,) * (len(sizes) - self.ndim) + self.shape
        x = self.reshape([v for s in shape for v in (1, s)])  # (1, s0, 1, s1, ...)
        x = x.broadcast_to([v for r, s in zip(sizes, shape) for v in (r, s)])  # (r0, s0, r1, s1, ...)
        out = x.reshape([r * s for r, s in zip(sizes, shape)])
        return out if out._view is None else out.clone()  # new memory, as torch's (all repeats 1 gave a view)

    def tile(self, *args, dims=None) -> Tensor:
        """torch.tile: repeat with ``dims`` padded with leading 1s to the tensor's ndim."""
        dims = tuple(_shape_arg(args) if dims is None else dims)
        return self.repeat(*((1,) * (self.ndim - len(dims)) + dims))

    def repeat_interleave(self, repeats, dim: int | None = None, *, output_size: int | None = None) -> Tensor:
        """Repeat each entry ``repeats`` times (an int, or a 1-D int tensor, one count per entry)
        along ``dim``; no dim: of the flattened tensor.

        >>> Tensor([1.0, 2.0]).repeat_interleave(2).tolist()
        [1.0, 1.0, 2.0, 2.0]
        """
        x = self.flatten() if dim is None else self
        d = 0 if dim is None else wrap_dim(dim, self.ndim, "repeat_interleave")
        n = x.shape[d] if x.ndim else 1
        if isinstance(repeats, (int, np.integer)):
            if repeats < 0:
                raise RuntimeError(f"repeat_interleave: repeats can not be negative, got {repeats}")
            if x.ndim == 0:
                x = x.reshape(1)
            x = x.unsqueeze(d + 1)
            shape = list(x.shape)
            shape[d + 1] = int(repeats)
            return x.broadcast_to(shape).reshape(*x.shape[:d], -1, *x.shape[d + 2 :])
        counts = np.asarray(to_numpy(repeats._data) if isinstance(repeats, Tensor) else repeats).reshape(-1)
        if counts.size == 1:
            return self.repeat_interleave(int(counts[0]), dim)
        if counts.size != n or (counts < 0).any():
            raise RuntimeError(f"repeat_interleave: repeats must have the same size as input along dim "
                               f"({counts.size} vs {n}) and be non-negative")
        idx = np.repeat(np.arange(n), counts)
        return x.index_select(d, idx)

    def pad(self, pad_width, value: float = 0.0) -> Tensor:
        """NumPy-style constant padding: ``pad_width`` is ((before, after), ...) per axis, or one
        pair for every axis, or one int (``engine.functional.pad`` takes torch's flat form)."""
        if self.ndim == 0:
            raise ValueError("pad needs a tensor with at least one dimension, got a 0-d tensor")
        pad_width = tuple(tuple(p) for p in np.broadcast_to(np.asarray(pad_width), (self.ndim, 2)).tolist())
        return movement_ops.Pad.apply(self, pad_width=pad_width, value=value)

    # indexing: gather / scatter / index_* / masks -----------------------------------------------
    def _int_index(self, index, op: str):
        """An integer index (Tensor, array or list) as an int64 array on this tensor's device."""
        if isinstance(index, Tensor):
            a = index._data
        elif hasattr(index, "dtype"):
            a = index
        else:
            a = np.asarray(index, dtype=np.int64) if not isinstance(index, np.ndarray) else index
        if a.dtype.kind not in "iu":
            raise RuntimeError(f"{op}(): Expected dtype int64 for index, got {a.dtype}")
        return array_module(self._data).asarray(a)

    def _along(self, d: int, index):
        """The advanced index that reads ``self[..., index[i, j, ...], ...]`` with ``index`` on dim
        ``d`` and the other dims of ``index`` counting along (torch's gather/scatter rule)."""
        xp = array_module(self._data)
        grids = list(xp.ogrid[tuple(slice(n) for n in index.shape)]) if index.ndim else []
        if index.ndim:
            grids[d] = index
        return tuple(grids) if index.ndim else (index,)

    def _check_gather_index(self, op: str, d: int, index, src=None) -> None:
        if index.size and index.dtype not in (np.int32, np.int64):
            raise RuntimeError(f"{op}(): Expected dtype int32/int64 for index, got {index.dtype}")
        if max(index.ndim, 1) != max(self.ndim, 1):  # torch: a 0-d tensor counts as one with 1 dim
            raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as input tensor "
                               f"(index {index.shape}, input {self.shape})")
        src_shape = (src.shape or (1,)) if src is not None else None
        for i, n in enumerate(index.shape):
            if self.ndim and i != d and n > self.shape[i] and op == "gather":
                raise RuntimeError(f"{op}(): Size does not match at dimension {i} expected index {index.shape} "
                                   f"to be no larger than self {self.shape} apart from dimension {d}")
            if src is not None and (n > src_shape[i] or (i != d and self.ndim and n > self.shape[i])):
                raise RuntimeError(f"{op}(): Expected index {index.shape} to be no larger than self {self.shape} "
                                   f"apart from dimension {d} and to be no larger size than src {src.shape}")
        n = self.shape[d] if self.ndim else 1
        if index.size and (int(index.min()) < 0 or int(index.max()) >= n):  # torch: no negative indices here
            raise RuntimeError(f"{op}(): index {int(index.max()) if index.max() >= n else int(index.min())} is "
                               f"out of bounds for dimension {d} with size {n}")

    def gather(self, dim: int, index) -> Tensor:
        """``out[i][j][k] = self[index[i][j][k]][j][k]`` for dim 0 (likewise other dims); ``index``
        has self's ndim and may be smaller in every dim.

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).gather(1, Tensor([[1], [0]], dtype="int64")).tolist()
        [[2.0], [3.0]]
        """
        d = wrap_dim(dim, self.ndim, "gather")
        index = self._int_index(index, "gather")
        if index.size == 0:  # torch: an empty index of any shape reads nothing
            return self.reshape(-1)[:0].reshape(index.shape)
        self._check_gather_index("gather", d, index)
        x = self.reshape(1) if self.ndim == 0 else self
        out = movement_ops.GetItem.apply(x, index=self._along(d, index.reshape(index.shape or (1,))))
        return out.reshape(index.shape)

    def take_along_dim(self, indices, dim: int | None = None) -> Tensor:
        """NumPy's take_along_axis: ``indices`` broadcast against self outside ``dim``; no dim:
        of the flattened tensor."""
        indices = self._int_index(indices, "take_along_dim")
        if dim is None:
            return self.flatten().gather(0, indices.reshape(-1))
        d = wrap_dim(dim, self.ndim, "take_along_dim")
        if indices.ndim != self.ndim:
            raise RuntimeError(f"take_along_dim(): input and indices should have the same number of dimensions, "
                               f"but got {self.ndim} dimensions for input, and {indices.ndim} dimensions for indices")
        shape = list(np.broadcast_shapes(tuple(1 if i == d else s for i, s in enumerate(self.shape)),
                                         tuple(1 if i == d else s for i, s in enumerate(indices.shape))))
        xs, ix = list(shape), list(shape)
        xs[d], ix[d] = self.shape[d], indices.shape[d]
        xp = array_module(self._data)
        indices = xp.where(indices < 0, indices + self.shape[d], indices)  # torch wraps them here (gather does not)
        return self.broadcast_to(*xs).gather(d, xp.broadcast_to(indices, ix))

    def take(self, index) -> Tensor:
        """Entries of the flattened tensor at ``index``; the result has ``index``'s shape."""
        index = self._int_index(index, "take")
        n = self.numel()
        if index.size and (int(index.min()) < -n or int(index.max()) >= n):
            raise IndexError(f"take(): index out of range for a tensor of {n} elements")
        return self.reshape(-1)[index]

    def index_select(self, dim: int, index) -> Tensor:
        """Entries ``index`` (1-D int) of dim ``dim``.

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).index_select(0, Tensor([1], dtype="int64")).tolist()
        [[3.0, 4.0]]
        """
        d = wrap_dim(dim, self.ndim, "index_select")
        index = self._int_index(index, "index_select")
        if index.ndim > 1:
            raise IndexError(f"index_select(): Index is supposed to be a vector, got shape {index.shape}")
        n = self.shape[d] if self.ndim else 1
        if index.size and (int(index.min()) < 0 or int(index.max()) >= n):  # torch: no negative indices
            raise movement_ops.IndexOutOfRange(f"index_select(): index out of range in self (dim {dim} has size {n})")
        if self.ndim == 0:
            if index.size != 1:
                raise RuntimeError(f"index_select(): Index to scalar can have only 1 value, got {index.size} value(s)")
            return self.reshape(1)[index.reshape(-1)].reshape(())
        return movement_ops.GetItem.apply(self, index=(slice(None),) * d + (index.reshape(-1),))

    def _scatter_index(self, op: str, dim: int, index, src=None):
        d = wrap_dim(dim, self.ndim, op)
        index = self._int_index(index, op)
        self._check_gather_index(op, d, index, src)
        index = index.reshape(index.shape or (1,))
        return d, index, self._along(d, index)

    def _src_like(self, src, index, op: str) -> Tensor:
        """``src`` cut to ``index``'s shape (torch reads only that corner of a larger src)."""
        if not isinstance(src, Tensor):
            return Tensor(array_module(self._data).full(index.shape, src, dtype=self.dtype))
        if src.dtype != self.dtype:
            raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype ({self.dtype} vs {src.dtype})")
        if src.shape != index.shape:
            src = src.reshape(src.shape or (1,))[tuple(slice(0, n) for n in index.shape)]
        return src

    def _hit(self, where) -> Any:
        """Bool mask of the positions an advanced index reaches."""
        hit = array_module(self._data).zeros(self.shape, dtype=bool)
        hit[where] = True
        return hit

    def scatter(self, dim: int, index, src=None, value=None, *, reduce: str | None = None) -> Tensor:
        """Out-of-place torch scatter: ``out[index[i][j]][j] = src[i][j]`` (dim 0), ``src`` a tensor
        or a scalar (``value=``). ``reduce`` "add"/"multiply" combines with self instead.

        >>> Tensor.zeros(3).scatter(0, Tensor([2, 0], dtype="int64"), Tensor([5.0, 6.0])).tolist()
        [6.0, 0.0, 5.0]
        """
        src = value if src is None else src
        if src is None:
            raise TypeError("scatter(): pass src (a tensor or a number) or value")
        _, index, where = self._scatter_index("scatter", dim, index, src if isinstance(src, Tensor) else None)
        if self.ndim == 0:  # a 0-d self: its one entry, as a 1-element vector
            src = src.reshape(-1) if isinstance(src, Tensor) else src
            return self.reshape(1).scatter(0, index.reshape(-1), src, reduce=reduce).reshape(())
        if not isinstance(src, Tensor) and reduce is None:
            return movement_ops.MaskedFill.apply(self, mask=self._hit(where), value=src)
        src = self._src_like(src, index, "scatter")
        if reduce is not None:
            modes = {"add": "sum", "multiply": "prod"}
            if reduce not in modes:
                raise RuntimeError(f"scatter(): reduce argument must be either add or multiply, got {reduce!r}")
            return self.scatter_reduce(dim, index, src, modes[reduce])
        kept = movement_ops.MaskedFill.apply(self, mask=self._hit(where), value=0.0)
        return kept + movement_ops.IndexPut.apply(src, index=where, shape=self.shape)

    def scatter_add(self, dim: int, index, src: Tensor) -> Tensor:
        """``self`` plus ``src`` added at ``index`` along ``dim`` (repeated positions add up)."""
        _, index, where = self._scatter_index("scatter_add", dim, index, src)
        if self.ndim == 0:
            return self.reshape(1).scatter_add(0, index.reshape(-1), src.reshape(-1)).reshape(())
        src = self._src_like(src, index, "scatter_add")
        return self + movement_ops.IndexAccumulate.apply(src, index=where, shape=self.shape)

    def scatter_reduce(self, dim: int, index, src: Tensor, reduce: str, *, include_self: bool = True) -> Tensor:
        """Reduce ``src`` into ``self`` at ``index``: "sum", "prod", "mean", "amax" or "amin";
        ``include_self=False`` leaves self's values out at the positions that get any.

        >>> idx = Tensor([0, 0], dtype="int64")
        >>> Tensor([1.0, 1.0]).scatter_reduce(0, idx, Tensor([2.0, 4.0]), "amax").tolist()
        [4.0, 1.0]
        """
        if reduce not in ("sum", "prod", "mean", "amax", "amin"):
            raise RuntimeError(f"scatter_reduce(): reduce argument must be one of sum, prod, mean, amax, amin, "
                               f"got {reduce!r}")
        _, index, where = self._scatter_index("scatter_reduce", dim, index, src)
        if self.ndim == 0:
            return self.reshape(1).scatter_reduce(0, index.reshape(-1), src.reshape(-1), reduce,
                                                  include_self=include_self).reshape(())
        src = self._src_like(src, index, "scatter_reduce")
        if reduce in ("amax", "amin", "prod"):
            return movement_ops.ScatterReduce.apply(self, src, index=where, reduce=reduce, include_self=include_self)
        hit = self._hit(where)
        base = self if include_self else movement_ops.MaskedFill.apply(self, mask=hit, value=0.0)
        total = base + movement_ops.IndexAccumulate.apply(src, index=where, shape=self.shape)
        if reduce == "sum":
            return total
        xp = array_module(self._data)
        count = (xp.ones(self.shape, dtype=self.dtype) if include_self else (~hit).astype(self.dtype))
        scatter_add(count, where, xp.ones(index.shape, dtype=self.dtype))
        if self.dtype.kind in "iu":  # integer mean: floor division, as torch
            return Tensor(total._data // xp.maximum(count, 1))
        return total * Tensor(1 / xp.maximum(count, 1))

    def _put_index(self, indices, values, op: str):
        """torch's ``indices`` (a tuple of int/bool Tensors or arrays, one per leading dim) as one
        NumPy index, and ``values`` as a Tensor of self's dtype broadcast to what it selects."""
        if not isinstance(indices, (tuple, list)):
            raise TypeError(f"{op}(): indices must be a tuple of Tensors, got {type(indices).__name__}")
        xp = array_module(self._data)
        where = []
        for i in indices:
            a = i._data if isinstance(i, Tensor) else (slice(None) if i is None else xp.asarray(i))
            if not isinstance(a, slice) and a.dtype.kind not in "iub":
                raise IndexError(f"{op}(): tensors used as indices must be long, int, byte or bool, got {a.dtype}")
            where.append(a)
        where = tuple(where)
        try:
            shape = self._data[where].shape
        except IndexError as e:
            raise IndexError(f"{op}(): {e} (self {self.shape})") from None
        v = values if isinstance(values, Tensor) else Tensor(xp.asarray(values, dtype=self.dtype))
        if v.dtype != self.dtype:
            v = v.astype(self.dtype)
        try:
            v = v.broadcast_to(*shape) if v.shape != shape else v
        except ValueError:
            raise RuntimeError(f"{op}(): values of shape {values.shape} cannot be broadcast to the indexed "
                               f"shape {shape} (self {self.shape})") from None
        return where, v

    def index_put(self, indices, values, accumulate: bool = False) -> Tensor:
        """Out-of-place ``self[indices] = values`` (``+=`` with ``accumulate``, repeated positions
        summed), as torch's index_put; gradients reach self and values.

        >>> Tensor.zeros(3).index_put((Tensor([0, 0], dtype="int64"),), Tensor(1.0), accumulate=True).tolist()
        [2.0, 0.0, 0.0]
        """
        where, v = self._put_index(indices, values, "index_put")
        if accumulate:
            return self + movement_ops.IndexAccumulate.apply(v, index=where, shape=self.shape)
        kept = movement_ops.MaskedFill.apply(self, mask=self._hit(where), value=0.0)
        return kept + movement_ops.IndexPut.apply(v, index=where, shape=self.shape)

    def index_put_(self, indices, values, accumulate: bool = False) -> Tensor:
        """In-place ``self[indices] = values`` (``+=`` with ``accumulate``); returns self.

        >>> Tensor.zeros(3).index_put_((Tensor([2], dtype="int64"),), Tensor([5.0])).tolist()
        [0.0, 0.0, 5.0]
        """
        if self._records_inplace("index_put_", values):
            return self._become(self.index_put(indices, values, accumulate), "index_put_")
        where, v = self._put_index(indices, values, "index_put_")
        self._check_inplace("index_put_")
        if accumulate:
            scatter_add(self._data, where, v._data)
        else:
            self._data[where] = v._data
        return self

    def index_add(self, dim: int, index, source: Tensor, *, alpha: float = 1) -> Tensor:
        """``self`` with ``alpha * source`` added at entries ``index`` (1-D) of dim ``dim``."""
        d, index = self._index_dim("index_add", dim, index, source)
        if self.ndim == 0:
            return self.reshape(1).index_add(0, index, source.reshape(-1), alpha=alpha).reshape(())
        added = movement_ops.IndexAccumulate.apply(source, index=(slice(None),) * d + (index,), shape=self.shape)
        return self + (added if alpha == 1 else added * alpha)

    def _index_dim(self, op: str, dim: int, index, source=None):
        d = wrap_dim(dim, self.ndim, op)
        index = self._int_index(index, op).reshape(-1)
        n = self.shape[d] if self.ndim else 1
        if index.size and (int(index.min()) < -n or int(index.max()) >= n):
            raise IndexError(f"{op}(): index out of range for dim {dim} of size {n}")
        if source is not None:
            want = self.shape[:d] + (len(index),) + self.shape[d + 1 :] if self.ndim else (len(index),)
            if source.shape != want and not (self.ndim == 0 and source.ndim == 0):
                raise RuntimeError(f"{op}(): source shape {source.shape} must be {want} (self {self.shape}, "
                                   f"{len(index)} indices along dim {dim})")
        return d, index

    def index_fill(self, dim: int, index, value) -> Tensor:
        """Entries ``index`` of dim ``dim`` set to ``value``."""
        d, index = self._index_dim("index_fill", dim, index)
        if self.ndim == 0:
            return self.reshape(1).index_fill(0, index, value).reshape(())
        hit = self._hit((slice(None),) * d + (index,))
        return self.masked_fill(Tensor(hit), value)

    def index_copy(self, dim: int, index, source: Tensor) -> Tensor:
        """Entries ``index`` of dim ``dim`` replaced by ``source``'s slices."""
        d, index = self._index_dim("index_copy", dim, index, source)
        if self.ndim == 0:
            return self.reshape(1).index_copy(0, index, source.reshape(-1)).reshape(())
        where = (slice(None),) * d + (index,)
        kept = movement_ops.MaskedFill.apply(self, mask=self._hit(where), value=0.0)
        return kept + movement_ops.IndexPut.apply(source, index=where, shape=self.shape)

    def masked_select(self, mask) -> Tensor:
        """The entries where ``mask`` (broadcast with self) is True, as a 1-D tensor."""
        m = mask._data if isinstance(mask, Tensor) else array_module(self._data).asarray(mask)
        if m.dtype != bool:
            raise RuntimeError(f"masked_select: expected BoolTensor for mask, got {m.dtype}")
        shape = np.broadcast_shapes(self.shape, m.shape)
        x = self.broadcast_to(*shape)
        return movement_ops.GetItem.apply(x, index=array_module(m).broadcast_to(m, shape))

    def masked_scatter(self, mask, source: Tensor) -> Tensor:
        """``self`` with the positions where ``mask`` is True filled, in order, from ``source``; self and
        mask broadcast together (the in-place form keeps self's shape).

        >>> Tensor([0.0, 0.0, 0.0]).masked_scatter(Tensor([True, False, True]), Tensor([1.0, 2.0])).tolist()
        [1.0, 0.0, 2.0]
        """
        m = mask._data if isinstance(mask, Tensor) else array_module(self._data).asarray(mask)
        if m.dtype != bool:
            raise RuntimeError(f"masked_scatter: expected BoolTensor for mask, got {m.dtype}")
        try:
            shape = np.broadcast_shapes(self.shape, m.shape)
        except ValueError:
            raise RuntimeError(f"masked_scatter: the mask of shape {m.shape} and self of shape {self.shape} "
                               f"do not broadcast together") from None
        if shape != self.shape:
            return self.broadcast_to(*shape).masked_scatter(mask, source)
        m = array_module(m).broadcast_to(m, self.shape)
        k = int(m.sum())
        if source.numel() < k:
            raise RuntimeError(f"masked_scatter: Number of elements of source < number of ones in mask "
                               f"({source.numel()} < {k})")
        kept = movement_ops.MaskedFill.apply(self, mask=m, value=0.0)
        return kept + movement_ops.IndexPut.apply(source.reshape(-1)[:k], index=m, shape=self.shape)

    def nonzero(self, *, as_tuple: bool = False):
        """Indices of the nonzero entries: an int64 (N, ndim) tensor, or one 1-D tensor per dim."""
        xp = array_module(self._data)
        idx = xp.nonzero(self._data.reshape(1) if self.ndim == 0 else self._data)
        if as_tuple:
            return tuple(Tensor(i.astype(np.int64)) for i in idx) if self.ndim else (Tensor(idx[0].astype(np.int64)),)
        return Tensor(xp.stack(idx, axis=-1).astype(np.int64)[:, : self.ndim])

    def where(self, condition, other) -> Tensor:
        """``self`` where ``condition``, else ``other`` (torch's ``x.where(cond, y)``)."""
        from engine.functional import where

        return where(condition, self, other)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        """The diagonal of dims ``dim1``, ``dim2`` (shifted by ``offset``), as the last dim.

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).diagonal().tolist()
        [1.0, 4.0]
        """
        d1, d2 = wrap_dim(dim1, self.ndim, "diagonal"), wrap_dim(dim2, self.ndim, "diagonal")
        if d1 == d2:
            raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
        return movement_ops.Diagonal.apply(self.movedim((d1, d2), (-2, -1)), offset=int(offset))

    def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
        """Each last-dim vector as the diagonal (``offset``) of a matrix in dims ``dim1``, ``dim2``."""
        nd = self.ndim + 1
        d1, d2 = wrap_dim(dim1, nd, "diag_embed"), wrap_dim(dim2, nd, "diag_embed")
        if d1 == d2:
            raise RuntimeError(f"diag_embed: diagonal dimensions cannot be identical {dim1}, {dim2}")
        k = self.shape[-1] if self.ndim else 1
        x = self.reshape(1) if self.ndim == 0 else self
        n = k + abs(offset)
        rows = np.arange(k) + max(-offset, 0)
        out = movement_ops.IndexPut.apply(x, index=(Ellipsis, rows, rows + offset), shape=(*x.shape[:-1], n, n))
        return out.movedim((-2, -1), (d1, d2)) if (d1, d2) != (nd - 2, nd - 1) else out

    def diag(self, diagonal: int = 0) -> Tensor:
        """1-D: a square matrix with this vector on diagonal ``diagonal``; 2-D: that diagonal."""
        if self.ndim == 1:
            return self.diag_embed(diagonal)
        if self.ndim == 2:
            return self.diagonal(diagonal)
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {self.ndim}D")

    def trace(self) -> Tensor:
        """Sum of the main diagonal of a 2-D tensor."""
        if self.ndim != 2:
            raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {self.ndim}")
        return self.diagonal().sum()

    # ---- linear algebra (torch names) ---------------------------------------------------------
    def matmul(self, other: Tensor) -> Tensor:
        """``self @ other`` with torch's batching and 1-D rules."""
        return self @ other

    def mm(self, mat2: Tensor) -> Tensor:
        """Matrix product of two 2-D tensors (no broadcasting).

        >>> Tensor([[1.0, 2.0]]).mm(Tensor([[3.0], [4.0]])).tolist()
        [[11.0]]
        """
        if type(mat2) is SparseTensor:  # dense @ sparse: engine/sparse.py
            return mat2.__rmatmul__(self)
        for name, t in (("self", self), ("mat2", mat2)):
            if t.ndim != 2:
                raise RuntimeError(f"mm: {name} must be a matrix, got shape {t.shape}")
        if self.shape[1] != mat2.shape[0]:
            raise ShapeError(f"mm: mat1 and mat2 shapes cannot be multiplied ({self.shape[0]}x{self.shape[1]} "
                             f"and {mat2.shape[0]}x{mat2.shape[1]})")
        return self @ mat2

    def bmm(self, mat2: Tensor) -> Tensor:
        """Batched matrix product of (B, n, m) and (B, m, p), batch sizes equal."""
        for name, t in (("batch1", self), ("batch2", mat2)):
            if t.ndim != 3:
                raise RuntimeError(f"bmm: {name} must be a 3D tensor, got shape {t.shape}")
        if self.shape[0] != mat2.shape[0] or self.shape[2] != mat2.shape[1]:
            raise ShapeError(f"bmm: Expected size for first two dimensions of batch2 tensor to be: "
                             f"[{self.shape[0]}, {self.shape[2]}] but got: [{mat2.shape[0]}, {mat2.shape[1]}] "
                             f"(batch1 {self.shape}, batch2 {mat2.shape})")
        return self @ mat2

    def mv(self, vec: Tensor) -> Tensor:
        """Matrix (n, m) times vector (m,)."""
        if self.ndim != 2 or vec.ndim != 1 or self.shape[1] != vec.shape[0]:
            raise ShapeError(f"mv: size mismatch, got input ({self.shape[0] if self.ndim else ''}), "
                             f"mat {self.shape}, vec {vec.shape}")
        return self @ vec

    def dot(self, other: Tensor) -> Tensor:
        """Inner product of two 1-D tensors of one length."""
        if self.ndim != 1 or other.ndim != 1:
            raise RuntimeError(f"dot: 1D tensors expected, but got {self.ndim}D and {other.ndim}D tensors")
        if self.shape != other.shape:
            raise ShapeError(f"dot: inconsistent tensor size, expected tensor [{self.shape[0]}] and src "
                             f"[{other.shape[0]}] to have the same number of elements")
        return self @ other

    def vdot(self, other: Tensor) -> Tensor:
        """The inner product with self conjugated: sum(conj(self) * other) (torch.vdot).

        >>> Tensor([1j]).vdot(Tensor([1j])).item()
        (1+0j)
        """
        return (self.conj() if self.dtype.kind == "c" else self).dot(other)

    def inner(self, other: Tensor) -> Tensor:
        """Sum over the last dims of both (a product with a scalar when either is 0-d)."""
        if self.ndim == 0 or other.ndim == 0:
            return self * other
        from engine.functional import tensordot

        return tensordot(self, other, dims=([-1], [-1]))

    def outer(self, vec2: Tensor) -> Tensor:
        """Outer product of two 1-D tensors: (n,) x (m,) -> (n, m)."""
        if self.ndim != 1 or vec2.ndim != 1:
            raise RuntimeError(f"outer: expected 1-D tensors, got shapes {self.shape} and {vec2.shape}")
        return self.reshape(-1, 1) * vec2.reshape(1, -1)

    ger = outer

    def addmm(self, mat1: Tensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
        """``beta * self + alpha * (mat1 @ mat2)``, mat1 and mat2 2-D, self broadcast to the result; one dtype
        for all three, beta = 0 ignores self (nan included), float beta/alpha truncated on integer tensors, as torch."""
        from engine.torch_more import _beta_alpha, _same_mm_dtypes

        _same_mm_dtypes("addmm", self, mat1, mat2)
        return _beta_alpha("addmm", self, mat1.mm(mat2), beta, alpha)

    def baddbmm(self, batch1: Tensor, batch2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
        """``beta * self + alpha * bmm(batch1, batch2)``, with addmm's dtype rules.

        >>> Tensor([[[1, 1]]]).baddbmm(Tensor([[[2]]]), Tensor([[[3, 4]]]), beta=2, alpha=0.5).tolist()
        [[[2, 2]]]
        """
        from engine.torch_more import _beta_alpha, _same_mm_dtypes

        _same_mm_dtypes("baddbmm", self, batch1, batch2)
        return _beta_alpha("baddbmm", self, batch1.bmm(batch2), beta, alpha)

    def kron(self, other: Tensor) -> Tensor:
        """Kronecker product: blocks ``self[i, j] * other`` (dims padded with leading 1s).

        >>> Tensor([1.0, 2.0]).kron(Tensor([1.0, 10.0])).tolist()
        [1.0, 10.0, 2.0, 20.0]
        """
        nd = max(self.ndim, other.ndim)
        a = self.reshape((1,) * (nd - self.ndim) + self.shape)
        b = other.reshape((1,) * (nd - other.ndim) + other.shape)
        a = a.reshape([v for s in a.shape for v in (s, 1)])  # (a0, 1, a1, 1, ...)
        b = b.reshape([v for s in b.shape for v in (1, s)])  # (1, b0, 1, b1, ...)
        return (a * b).reshape([x * y for x, y in zip(a.shape[::2], b.shape[1::2])])

    # ---- factories ----------------------------------------------------------------------------
    # The implementations live in engine/factories.py (engine.zeros, engine.randint, ...).
    @staticmethod
    def zeros(*size, **kw) -> Tensor:
        from engine import factories
        return factories.zeros(*size, **kw)

    @staticmethod
    def ones(*size, **kw) -> Tensor:
        from engine import factories
        return factories.ones(*size, **kw)

    @staticmethod
    def full(size, fill_value, **kw) -> Tensor:
        from engine import factories
        return factories.full(size, fill_value, **kw)

    @staticmethod
    def empty(*size, **kw) -> Tensor:
        from engine import factories
        return factories.empty(*size, **kw)

    @staticmethod
    def randn(*size, **kw) -> Tensor:
        """Standard normal samples from the seeded default generator (see ``engine.manual_seed``)."""
        from engine import factories
        return factories.randn(*size, **kw)

    @staticmethod
    def rand(*size, **kw) -> Tensor:
        """Uniform [0, 1) samples from the seeded default generator."""
        from engine import factories
        return factories.rand(*size, **kw)

    @staticmethod
    def arange(start, end=None, step=1, **kw) -> Tensor:
        from engine import factories
        return factories.arange(start, end, step, **kw)

    def zeros_like(self, **kw) -> Tensor:
        """Zeros with this tensor's shape, dtype and device (``dtype=``, ``device=``,
        ``requires_grad=`` override them). Also ``engine.zeros_like(x)``; likewise the
        ones/full/empty/randn/rand/randint variants below.

        >>> Tensor([1.0, 2.0]).zeros_like().tolist()
        [0.0, 0.0]
        """
        from engine import factories
        return factories.zeros_like(self, **kw)

    def ones_like(self, **kw) -> Tensor:
        from engine import factories
        return factories.ones_like(self, **kw)

    def empty_like(self, **kw) -> Tensor:
        from engine import factories
        return factories.empty_like(self, **kw)

    def full_like(self, fill_value, **kw) -> Tensor:
        from engine import factories
        return factories.full_like(self, fill_value, **kw)

    def randn_like(self, **kw) -> Tensor:
        from engine import factories
        return factories.randn_like(self, **kw)

    def rand_like(self, **kw) -> Tensor:
        from engine import factories
        return factories.rand_like(self, **kw)

    def randint_like(self, low: int = 0, high: int | None = None, **kw) -> Tensor:
        from engine import factories
        return factories.randint_like(self, low, high, **kw)

    # new_*: this tensor's dtype and device unless given, as torch.
    def _new(self, kw: dict) -> dict:
        return {"dtype": self.dtype, "device": self.device, **kw}

    def new_zeros(self, *size, **kw) -> Tensor:
        """Zeros of ``size`` with this tensor's dtype and device.

        >>> Tensor([1, 2]).new_zeros(2, 2).dtype
        dtype('int64')
        """
        from engine import factories
        return factories.zeros(*size, **self._new(kw))

    def new_ones(self, *size, **kw) -> Tensor:
        from engine import factories
        return factories.ones(*size, **self._new(kw))

    def new_empty(self, *size, **kw) -> Tensor:
        from engine import factories
        return factories.empty(*size, **self._new(kw))

    def new_full(self, size, fill_value, **kw) -> Tensor:
        from engine import factories
        return factories.full(size, fill_value, **self._new(kw))

    def new_tensor(self, data, **kw) -> Tensor:
        from engine import factories
        return factories.tensor(data, **self._new(kw))

    # In-place initialisers: outside the graph, they bump the version counter like add_.
    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator=None, **kw) -> Tensor:
        """Fill with U(a, b) samples (torch's ``from=``/``to=`` keywords too).

        >>> bool(Tensor([0.0, 0.0]).uniform_(**{"from": 2, "to": 3}).ge(2).all())
        True
        """
        a, b = kw.pop("from", a), kw.pop("to", b)
        _no_kwargs("uniform_", kw)
        if self.dtype.kind not in "fc":
            raise RandomDtypeError(f"uniform_: expects a floating point tensor, got {self.dtype}")
        if a > b:
            raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}")
        self._check_inplace("uniform_")
        gen = generator or _default_generator(self.device)
        self._write(_sample_parts(gen.random, self.shape, self.dtype, b - a, a))
        return self

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
        """Fill with N(mean, std²) samples; complex: real and imaginary parts each N(mean, std²/2), as torch."""
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
        self._check_inplace("normal_")
        gen = generator or _default_generator(self.device)
        if self.dtype.kind == "c":
            std = std * math.sqrt(0.5)
        self._write(_sample_parts(gen.standard_normal, self.shape, self.dtype, std, mean))
        return self

    def bernoulli_(self, p: float = 0.5, *, generator=None) -> Tensor:
        """Fill with 0/1 samples, 1 with probability ``p`` (a float in [0, 1] or a tensor)."""
        if isinstance(p, Tensor):
            p = p._data
            if not bool(((p >= 0) & (p <= 1)).all()):
                raise RuntimeError("bernoulli_: expected all probabilities p to be in [0, 1]")
        elif not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
        self._check_inplace("bernoulli_")
        gen = generator or _default_generator(self.device)
        self._write(gen.random(self.shape, dtype=np.float64) < p)
        return self

    def random_(self, low: int | None = None, high: int | None = None, *, generator=None, **kw) -> Tensor:
        """Fill with random ints in [low, high): ``random_(high)``, ``random_(low, high)``, torch's
        ``from=``/``to=`` keywords, or ``random_()`` for [0, 2^mantissa] (floats) or the dtype's
        non-negative range (ints).

        >>> Tensor(np.zeros(3, np.uint8)).random_().dtype
        dtype('uint8')
        """
        from engine import factories
        args_to = "from" not in kw  # random_(to): one positional bound is the upper one
        low, high = kw.pop("from", low), kw.pop("to", high)
        _no_kwargs("random_", kw)
        if low is not None and high is None and args_to:
            low, high = 0, low
        low = 0 if low is None else low
        if high is None:  # torch: up to 2^digits for floats, the dtype's max for ints, inclusive
            dt = self.dtype
            high = (2 ** (np.finfo(dt).nmant + 1) + 1 if dt.kind == "f" else 2 if dt.kind == "b"
                    else int(np.iinfo(dt).max) + 1)
        if low >= high:
            raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
        if self.dtype.kind in "iub":
            factories._check_int_bounds(low, high, self.dtype)
        vals = factories.randint(low, high, self.shape, generator=generator, device=self.device)
        self._check_inplace("random_")
        self._write(vals._data)
        return self

    def exponential_(self, lambd: float = 1.0, *, generator=None) -> Tensor:
        """Fill with Exponential(``lambd``) samples (floating tensors only)."""
        if lambd <= 0:
            raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
        if self.dtype.kind != "f":
            raise RuntimeError("Exponential distribution is a continuous probability distribution. "
                               f"dtype must be a floating point but you specified {self.dtype}")
        self._check_inplace("exponential_")
        gen = generator or _default_generator(self.device)
        self._write(-array_module(self._data).log1p(-gen.random(self.shape, dtype=np.float64)) / lambd)
        return self

    def bernoulli(self, p: float | None = None, *, generator=None) -> Tensor:
        """0/1 samples with probabilities from this tensor (or ``p``), in its dtype."""
        from engine import factories
        return factories.bernoulli(self, p, generator=generator)

    def multinomial(self, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
        from engine import factories
        return factories.multinomial(self, num_samples, replacement, generator=generator)


function.Tensor = Tensor


class _GraphRef(Tensor):
    """What an op's ``ctx.parents`` holds for a non-leaf input: the tensor's place in the graph (the
    op that made it, its shape and dtype) without its array. The graph needs no input's array (the
    op saved the ones its backward reads), so an intermediate that nothing else holds is freed, as
    in torch: GPT's residual adds kept every block's Linear outputs alive to the end of backward
    (M: 36 MiB). While the tensor lives, ``data`` is its array and backward runs its hooks and
    ``retain_grad`` on it. One per tensor (``t._gref``), so every use meets at one node.
    """

    __slots__ = ("_real", "_meta", "_moved")  # _moved: (a weak link to the tensor, its op) once an in-place op moved it

    def __init__(self, t: Tensor):  # no Tensor.__init__: there is no array to hold
        self._grad, self._requires_grad, self._ctx, self._vc, self._retains_grad = None, True, t._ctx, t._vc, False
        self._grad_hooks = self._view = None  # read per node by backward (see Tensor.__init__)
        self._real = weakref.ref(t)
        self._meta = (t.shape, t.dtype, t.device)

    @property
    def _data(self):
        t = self._real()
        if t is None:
            raise RuntimeError("this intermediate tensor was freed: the graph keeps no input's array")
        return t._data

    @property
    def shape(self) -> tuple:
        return self._meta[0]

    @property
    def ndim(self) -> int:
        return len(self._meta[0])

    @property
    def dtype(self):
        return self._meta[1]

    @property
    def device(self) -> str:
        return self._meta[2]


def graph_ref(t):
    """What ``ctx.parents`` keeps for input ``t``: ``t`` itself for a leaf or None, else its
    ``_GraphRef`` (see there), strong when ``t`` has hooks or ``retain_grad``."""
    if t is None:
        return t
    view = t._view
    if view is not None and view[0]._ctx is not view[1]:  # its base was written in place since
        _rederive_view(t)
    if t._ctx is None:
        return t
    ref = getattr(t, "_gref", None)
    if ref is None:
        ref = t._gref = _GraphRef(t)
        if t._retains_grad or getattr(t, "_grad_hooks", None):
            _hold_in_graph(t)
    return ref


def _hold_in_graph(t: Tensor) -> None:
    """A tensor with hooks or ``retain_grad`` is kept alive by its graph node: backward must reach it."""
    ref = getattr(t, "_gref", None)
    if ref is not None:
        ref._real = lambda: t


function.graph_ref = graph_ref

_NON_LEAF_FLAG = ("you can only change requires_grad flags of leaf variables. If you want to use a computed variable "
                  "in a subgraph that doesn't require differentiation use var_no_grad = var.detach().")  # torch's words
_REQUIRES_GRAD_DTYPE = "Only Tensors of floating point and complex dtype can require gradients"  # torch's words
_DEEPCOPY_NON_LEAF = (  # torch's words
    "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at the moment.  If you "
    "were attempting to deepcopy a module, this may be because of a torch.nn.utils.weight_norm usage, see "
    "https://github.com/pytorch/pytorch/pull/103001")
_NON_LEAF_GRAD = (  # torch's words
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad attribute won't be "
    "populated during autograd.backward(). If you indeed want the .grad field to be populated for a non-leaf "
    "Tensor, use .retain_grad() on the non-leaf Tensor. If you access the non-leaf Tensor by mistake, make sure you "
    "access the leaf Tensor instead. See github.com/pytorch/pytorch/pull/30531 for more information.")
_T_ND = ("The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated and it will "
         "throw an error in a future release. Consider `x.mT` to transpose batches of matrices or "
         "`x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the dimensions of a tensor.")
_T_0D = "Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases."
_FREED = (  # torch's words
    "Trying to backward through the graph a second time (or directly access saved tensors after they have already "
    "been freed). Saved intermediate values of the graph are freed when you call .backward() or autograd.grad(). "
    "Specify retain_graph=True if you need to backward through the graph a second time or if you need to access "
    "saved tensors after calling backward.")
_LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation"  # torch's words
_OVERLAP = ("unsupported operation: more than one element of the written-to tensor refers to a single memory "
            "location. Please clone() the tensor before performing the operation.")  # torch's words


def _overlapping(arr) -> bool:
    """Whether entries of ``arr`` share memory (a stride 0 over a dim of size > 1: an expanded tensor)."""
    return any(step == 0 and n > 1 for step, n in zip(arr.strides, arr.shape))


def _writable_alias(arr):
    """A writable NumPy array over ``arr``'s memory (``arr`` is a read-only broadcast of a writable
    array, as ``expand`` gives), or None when there is none (read-only memory, another backend)."""
    owner = function._memory_owner(arr)
    if type(arr) is not np.ndarray or type(owner) is not np.ndarray or not owner.flags.writeable or arr is owner:
        return None
    offset = arr.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
    try:
        return np.ndarray(arr.shape, arr.dtype, buffer=owner, offset=offset, strides=arr.strides)
    except (TypeError, ValueError):  # an owner without a contiguous buffer
        return None


def _subclass_state(t: Tensor) -> dict:
    """The attributes a subclass of Tensor adds (its ``__slots__`` and ``__dict__``), for copy and pickle."""
    state = dict(getattr(t, "__dict__", {}))
    for cls in type(t).__mro__:
        if cls in (Tensor, _GraphRef, object):
            continue
        for name in cls.__dict__.get("__slots__", ()):
            if name not in ("__weakref__", "__dict__") and hasattr(t, name):
                state[name] = getattr(t, name)
    return state


def _rebuild_tensor(cls: type, data, requires_grad: bool, state: dict) -> Tensor:
    """Unpickle a Tensor (or subclass): a leaf with ``data`` and ``requires_grad``, then its own attributes."""
    t = cls.__new__(cls)
    Tensor.__init__(t, data, requires_grad=requires_grad)
    for name, value in state.items():
        setattr(t, name, value)
    return t


def _gone():
    """What a graph node's ``_real`` becomes when its tensor moved on (an in-place op in the graph)."""
    return None


def _take_graph(t: Tensor, out: Tensor) -> None:
    """``t`` takes ``out``'s place in the graph (its value is out's now). The node of t's old value stays
    for the ops that used it, with the hooks registered until now (torch's); retain_grad moves on."""
    old = t._gref
    if old is not None:
        # for the version error's words: t, and (should t die) the op that made its new value
        old._real, old._moved = _gone, (weakref.ref(t), None if out._ctx is None else function.torch_op_name(out._ctx))
        old._grad_hooks, t._grad_hooks = t._grad_hooks, None
        t._gref = None
    t._ctx, t._requires_grad = out._ctx, out._requires_grad


def _mark_multi_output(pieces: list, name: str) -> list:
    """split/chunk/unbind's outputs (views of one tensor) in grad mode: torch forbids an in-place op on any of
    them, and their use once the memory changed in place (see ``function.MULTI_OUTPUT``). ``name``: torch's."""
    if is_grad_enabled():  # made in no_grad, they are plain views (torch's no-grad views are not checked here)
        for i, p in enumerate(pieces):
            if p._view is not None:
                base = p._view[0]
                p._view = (base, function.MULTI_OUTPUT, base._ctx, name, i, p._vc[0])
                if p._ctx is not None:
                    p._ctx.torch_name = name + "Backward0"  # grad_fn.name(), as torch's
    return pieces


_MULTI_OUTPUT_TAIL = (" This view is the output of a function that returns multiple views. Such functions do not "
                      "allow the output views to be modified inplace. You should replace the inplace operation by "
                      "an out-of-place one.")  # torch's words


def _multi_output_error(t: Tensor, indirect: bool = False, index=None) -> str:
    """torch's error for an in-place op on (``indirect``: the use, after an in-place change of its memory, of)
    an output of split/chunk/unbind or a view of one. ``index``: a ``t[index] = v`` assignment, which torch
    writes through a select/slice view of t."""
    _, _, _, name, nr, _ = t._view
    if index is not None and not isinstance(index, Tensor):
        items = [i for i in (index if isinstance(index, tuple) else (index,))
                 if not (i is None or i is Ellipsis or (isinstance(i, slice) and i == slice(None)))]
        if items and all(isinstance(i, (int, slice)) for i in items):
            name, nr = ("Select" if isinstance(items[-1], int) else "Slice"), 0
    if name is None and t._ctx is not None:
        name = function.torch_op_name(t._ctx)
    what = "its base or another view of its base has been" if indirect else "is being"
    if t._ctx is None:
        return f"A view was created in no_grad mode and {what} modified inplace with grad mode enabled." + \
            _MULTI_OUTPUT_TAIL
    return f"Output {nr} of {name} is a view and {what} modified inplace." + _MULTI_OUTPUT_TAIL


def _rederive_view(t: Tensor) -> None:
    """A view whose base was written in place since it was made takes its place in the base's new graph
    (torch regenerates a view's grad_fn the same way)."""
    view = t._view
    base = view[0]
    if view[1] is function.MULTI_OUTPUT:  # split's outputs are not re-derived: torch raises once the memory changed
        if (base._ctx is not view[2] or t._vc[0] != view[5]) and t._requires_grad:
            raise RuntimeError(_multi_output_error(t, indirect=True))
        return
    src = _base_in_dtype_of(base, t)
    index = movement_ops.view_index(array_module(base._data), src._data, t._data)
    _take_graph(t, movement_ops._AsStrided.apply(src, index=index))
    t._view = (base, base._ctx)


def _base_in_dtype_of(base: Tensor, view: Tensor) -> Tensor:
    """``base``, or for a real view (.real, .imag, view_as_real) of a complex base its view_as_real (in the
    graph): the tensor whose entries ``view``'s entries are, for view_index / SetItem / _AsStrided."""
    if base.dtype == view.dtype:
        return base
    if base.dtype.kind == "c" and view.dtype.kind == "f":
        return complex_ops.ViewAsReal.apply(base)
    raise NotImplementedError(f"a {view.dtype} view of a {base.dtype} tensor cannot be re-derived after an in-place "
                              "change; compute it out of place")


_LN2 = math.log(2)


def _same_device(a: Tensor, b: Tensor) -> None:
    """Raise the one error for two tensors on different devices (ops never move data silently)."""
    if a.device != b.device:
        raise RuntimeError(f"tensors are on different devices: {a.device} and {b.device}; use .to()")


def _on(other, ref: Tensor):
    """``other``'s array (a Tensor on ``ref``'s device, or a number/array) for a raw xp op."""
    if isinstance(other, Tensor):
        _same_device(ref, other)
        return other._data
    return other


# In-place forms (``x.sqrt_()``, ``x.clamp_(0, 1)``, ...): the out-of-place result written into x,
# outside the graph only; the result must cast back to x's dtype (``int_tensor.sqrt_()`` raises).
_INPLACE = [
    "abs", "absolute", "neg", "negative", "sign", "sgn", "floor", "ceil", "round", "trunc", "fix", "frac", "sqrt",
    "rsqrt", "square", "reciprocal", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "erf", "erfc", "erfinv",
    "sin", "cos", "tan", "asin", "acos", "atan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "asinh",
    "acosh", "atanh", "sigmoid", "relu", "clamp", "clip", "clamp_min", "clamp_max", "nan_to_num", "atan2", "hypot",
    "logaddexp", "copysign", "fmax", "fmin", "lerp", "float_power", "true_divide", "eq", "ne", "lt", "le", "gt",
    "ge", "greater", "greater_equal", "less", "less_equal", "not_equal",
]


def _inplace_method(name: str):
    def method(self: Tensor, *args, **kwargs) -> Tensor:
        return self._inplace_result(name + "_", getattr(self, name)(*args, **kwargs))

    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"In-place ``{name}``: writes ``self.{name}(...)`` into self and returns self."
    return method


for _name in _INPLACE:
    if not hasattr(Tensor, _name + "_"):
        setattr(Tensor, _name + "_", _inplace_method(_name))


def _abs_(self: Tensor) -> Tensor:
    """In-place ``abs``: writes |self| into self; a complex tensor can't hold it (torch's RuntimeError)."""
    if self.dtype.kind == "c":
        raise RuntimeError("In-place abs is not supported for complex tensors.")
    return self._inplace_result("abs_", self.abs())


Tensor.abs_ = Tensor.absolute_ = _abs_


# Binary ops torch has no bool kernel for (bool // bool, bool % bool, fmod): its kernel names.
_NO_BOOL_KERNEL = {elementwise_ops.RoundedDiv: "div_floor", elementwise_ops.Remainder: "remainder",
                   elementwise_ops.Fmod: "fmod"}


def _no_bool_pow():
    """torch has no pow kernel for bool ** bool tensors (only a bool tensor ** a Python bool)."""
    raise NotImplementedError("\"pow\" not implemented for 'Bool': cast a bool operand with .int() or .float()")


def _no_bool_kernel(x: Tensor, kernel: str) -> None:
    """torch's kthvalue / median / nanmedian have no bool kernel (sort and mode do)."""
    if x.dtype == np.bool_:
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool' (input of shape {x.shape}): "
                                  "cast it with .int() first")


def _default_generator(device: str):
    return generator(check_device(device))


def _no_kwargs(name: str, kw: dict) -> None:
    if kw:
        raise TypeError(f"Tensor.{name}() got an unexpected keyword argument {next(iter(kw))!r}")


def _sample(method, shape: tuple, dtype):
    """Draw with a generator ``method`` in ``dtype``. Generators draw only float32/float64,
    so float16 is drawn in float32 and cast (the stream is the float32 one)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise RandomDtypeError(f"random samples need a floating-point dtype, got {dtype}")
    if dtype in (np.float32, np.float64):
        return method(shape, dtype=dtype)
    return method(shape, dtype=np.float32).astype(dtype)


def _sample_parts(method, shape: tuple, dtype, scale: float = 1.0, shift: float = 0.0):
    """``_sample(...) * scale + shift``; for a complex dtype, on each part of (real, imag) pairs drawn in
    its real dtype, as torch's complex rand/randn/uniform_/normal_ (a fill of the view_as_real)."""
    cplx = np.dtype(dtype).kind == "c"
    x = _sample(method, (*shape, 2) if cplx else shape, to_real(np.dtype(dtype)) if cplx else dtype)
    if scale != 1 or shift != 0:
        x = x * scale + shift
    return x.view(dtype)[..., 0] if cplx else x


def _is_device(a) -> bool:
    """Whether a positional argument of ``to`` names a device (a device name, engine.device, or an index)."""
    if isinstance(a, str):
        return a in ("cpu", "gpu", "cuda") or a.startswith("cuda:") or not _is_dtype(a)
    return isinstance(a, int) and not isinstance(a, bool)


def _is_dtype(name: str) -> bool:
    try:
        to_dtype(name)
    except TypeError:
        return False
    return True


def _c10_name(dt) -> str:
    """A dtype as torch's C++ type name in its dtype-check errors (double, c10::complex<float>)."""
    names = {"float64": "double", "float32": "float", "complex128": "c10::complex<double>",
             "complex64": "c10::complex<float>", "int64": "long int", "bool": "bool"}
    return names.get(str(dt), str(dt))


def _safe_pow(s: Tensor, e: float) -> Tensor:
    """``s ** e`` for s >= 0 that is 0 with gradient 0 where s is 0 (sqrt's kink), as torch's
    norm and std; nan and inf pass through."""
    nonzero = s._data != 0
    one, zero = (Tensor(array_module(s._data).asarray(c, dtype=s.dtype)) for c in (1, 0))
    safe = elementwise_ops.Where.apply(s, one, cond=nonzero)
    return elementwise_ops.Where.apply(safe.sqrt() if e == 0.5 else safe ** e, zero, cond=nonzero)


def _safe_sqrt(v: Tensor) -> Tensor:
    return _safe_pow(v, 0.5)


def _shape_arg(shape) -> tuple:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _resolve_shape(old: tuple, new: Sequence[int]) -> tuple:
    """Fill in a single -1 and check the element count, like NumPy."""
    new = [int(s) for s in new]
    size = math.prod(old)
    if new.count(-1) > 1:
        raise ValueError("only one -1 allowed")
    if -1 in new:
        known = math.prod(s for s in new if s != -1)
        if known == 0 or size % known:
            raise ValueError("bad -1")
        new[new.index(-1)] = size // known
    if math.prod(new) != size or any(s < 0 for s in new):
        raise ValueError("size mismatch")
    return tuple(new)


def _torch_words(message: str) -> str:
    """A NumPy index error in torch's words: "out of bounds for axis 0" -> "... for dimension 0"."""
    return message.replace("for axis", "for dimension").replace("axis ", "dimension ")


def _index_array(index):
    """Replace Tensors inside an index by their arrays, with torch's readings: a list holding a
    sequence, slice, None, ``...`` or Tensor is a tuple (``x[[[0, 1]]]`` is ``x[[0, 1]]``), ``[]``
    selects nothing, and a uint8 tensor is a mask. (A negative slice step works, as NumPy's.)"""
    if isinstance(index, list) and any(isinstance(i, (list, tuple, slice, Tensor)) or i is None or i is Ellipsis
                                       for i in index):
        index = tuple(index)
    if isinstance(index, tuple):
        return tuple(_index_item(i) for i in index)
    return _index_item(index)


def _index_item(i):
    if isinstance(i, Tensor):
        return i._data.astype(bool) if i.dtype == np.uint8 else i._data
    if isinstance(i, list):
        return np.asarray(i, dtype=np.int64) if len(i) == 0 else np.asarray(i)
    return i


def _initial_grad(t: Tensor, grad, what: str):
    """The upstream gradient array for output ``t``: ``grad``'s, or ones for a one-element ``t``."""
    if grad is None:
        if t.dtype.kind == "c":
            raise RuntimeError(f"grad can be implicitly created only for real scalar outputs but got {t.dtype}")
        if t._data.size != 1:
            raise RuntimeError(f"{what}: grad can be implicitly created only for scalar outputs "
                               f"(got shape {t.shape}); pass the output's gradient")
        return array_module(t._data).ones(t.shape, dtype=t.dtype)
    g = _as_array(grad, dtype=t.dtype, device=t.device)
    if g.shape != t.shape:  # torch's RuntimeError (a ValueError too)
        raise ShapeError(f"{what}: Mismatch in shape: grad has a shape of {g.shape} and the output has a shape of "
                         f"{t.shape}")
    return g


def _backward_inputs(inputs) -> list[Tensor] | None:
    """``backward(inputs=...)`` as a list (None: every leaf), with torch's checks."""
    if inputs is None:
        return None
    only = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not only:
        raise RuntimeError("backward: 'inputs' argument to backward() cannot be empty.")
    for t in only:
        if not isinstance(t, Tensor):
            raise TypeError(f"backward: inputs must be Tensors, got {type(t).__name__}")
        if not t.requires_grad:  # torch's words: it retains the gradient of every input
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    return only


def _node_of(t: Tensor) -> Tensor:
    """The graph node of ``t``: its ``_GraphRef`` where ops used it (that node is what their parents
    hold), else ``t``. A root and an op's input must meet at one node."""
    return t if t._gref is None else t._gref


def sweep_start(roots: list, grads: list, only, capture) -> tuple:
    """What a reverse sweep starts from (this one and engine.higher_order's): the roots' nodes, their
    upstream gradients by node id (summed where a root repeats), the ids of the ``only`` tensors (None:
    all leaves) and, for ``capture``, each node id's positions in it (a tensor asked for twice gets its
    gradient twice, as torch)."""
    nodes = [_node_of(r) for r in roots]
    pending: dict[int, Any] = {}
    for node, g in zip(nodes, grads):
        pending[id(node)] = g if id(node) not in pending else pending[id(node)] + g
    wanted = None if only is None else {id(_node_of(t)) for t in only}
    slots: dict[int, list[int]] | None = None if capture is None else {}
    for i, t in enumerate(capture or ()):
        slots.setdefault(id(_node_of(t)), []).append(i)
    return nodes, pending, wanted, slots


class _SweepState(threading.local):
    """Whether the innermost running sweep is a partial one (``autograd.grad`` or ``backward(inputs=...)``):
    the reentrant checkpoint cannot run inside one (torch's ``_is_checkpoint_valid``)."""

    def __init__(self):
        self.partial: list[bool] = []


_sweeps = _SweepState()


def in_partial_sweep() -> bool:
    """True inside a sweep of ``autograd.grad`` or ``backward(inputs=...)`` (see _SweepState)."""
    return bool(_sweeps.partial) and _sweeps.partial[-1]


def backpropagate(roots: list[Tensor], grads: list, retain_graph: bool, only=None, capture=None,
                  stop: set[int] | None = None) -> dict:
    """Reverse-mode sweep from ``roots`` with their upstream gradient arrays ``grads``.

    Leaves (and ``retain_grad`` tensors) accumulate into ``.grad``; only the tensors in ``only``
    where given (``backward(inputs=...)``). With ``capture`` (tensors, ``engine.autograd.grad``)
    nothing is accumulated: returns {index in capture: gradient array} of those reached.
    ``stop`` (node ids, engine.checkpoint's nested sweep): the sweep does not go past those nodes, and
    does nothing at them (no hooks, no accumulation, no freeing) but capture their gradient.
    """
    _sweeps.partial.append(only is not None or capture is not None)
    try:
        return _sweep(roots, grads, retain_graph, only, capture, stop)
    finally:
        _sweeps.partial.pop()


def _sweep(roots: list[Tensor], grads: list, retain_graph: bool, only, capture, stop) -> dict:
    nodes, pending, wanted, slots = sweep_start(roots, grads, only, capture)
    captured: dict[int, Any] = {}
    order = _toposort(nodes, stop)
    for i, node in enumerate(order):
        order[i] = None  # the list would keep every intermediate's array alive to the end of the sweep
        key = id(node)
        g = pending.pop(key, None)
        if stop is not None and key in stop:
            if g is not None and slots is not None:
                for slot in slots.get(key, ()):
                    captured[slot] = g
            continue
        if type(node) is _GraphRef:  # the tensor itself while it lives: its hooks, retain_grad
            real = node._real()
            node = node if real is None else real
        if g is not None and getattr(node, "_grad_hooks", None):  # register_hook: may replace the gradient
            for hook in list(node._grad_hooks.values()):
                out = hook(g if type(g) is SparseTensor else Tensor(g))
                if out is not None:
                    new = out._data if isinstance(out, Tensor) else out
                    if getattr(new, "shape", None) != g.shape:  # torch's checks and words
                        raise RuntimeError(f"hook '{getattr(hook, '__name__', 'hook')}' has changed the size of value")
                    if new.dtype != g.dtype:
                        raise RuntimeError(f"hook '{getattr(hook, '__name__', 'hook')}' has changed the type of value "
                                           f"(was {g.dtype} got {new.dtype})")
                    g = new
        ctx = node._ctx
        if g is None:  # no gradient reached it (an op returned None): still free its arrays
            if ctx is not None and not retain_graph:
                ctx.free()
            continue
        if slots is not None:
            for slot in slots.get(key, ()):
                captured[slot] = g
        elif (ctx is None or node._retains_grad) if wanted is None else key in wanted:
            _accumulate(node, g)  # backward(inputs=...): into those, non-leaves too (as torch)
        if ctx is None:
            continue
        in_grads = ctx.backward(g) if g.dtype.kind != "c" else function.complex_backward(ctx, g)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        for parent, pg, need in zip(ctx.parents, in_grads, ctx.needs_input_grad):
            if not need or pg is None:
                continue
            pk = id(parent)
            prev = pending.get(pk)
            pending[pk] = pg if prev is None else prev + pg
        if not retain_graph:
            ctx.free()
    return captured


def _accumulate(leaf: Tensor, g) -> None:
    """Add ``g`` into ``leaf.grad`` in place (the first one is copied: ``g`` may alias another leaf's
    gradient, or into the leaf's ``_grad_buffer``, a view of a flat buffer), then run its hooks."""
    if type(g) is SparseTensor:
        _accumulate_sparse(leaf, g)
    else:
        if g.dtype != leaf.dtype:
            g = g.astype(leaf.dtype)
        if g.shape != leaf.shape:
            g = array_module(g).broadcast_to(g, leaf.shape)
        if leaf._grad is None:
            buf = getattr(leaf, "_grad_buffer", None)
            if buf is None:
                leaf._grad = Tensor(g.copy())
            else:
                array_module(buf).copyto(buf, g)
                leaf._grad = Tensor(buf)
        elif type(leaf._grad) is SparseTensor:  # sparse so far + dense: dense, as torch
            leaf._grad = Tensor(leaf._grad._add_into(g.copy()))
        else:
            leaf._grad._data += g
    hooks = getattr(leaf, "_post_acc_hooks", None)
    if hooks:
        for hook in list(hooks.values()):
            hook(leaf)


def _accumulate_sparse(leaf: Tensor, g: SparseTensor) -> None:
    """A sparse gradient (a sparse=True embedding's) into ``leaf.grad``: kept sparse when ``.grad`` is
    None or sparse (the entries side by side, as torch's accumulation), added into a dense ``.grad``,
    or made dense in the leaf's flat ``_grad_buffer`` (engine.flat)."""
    if g.dtype != leaf.dtype:
        g = SparseTensor(g._idx, g._vals.astype(leaf.dtype), g.shape)
    old = leaf._grad
    if old is None:
        buf = getattr(leaf, "_grad_buffer", None)
        if buf is None:  # torch's AccumulateGrad: contiguous values are re-wrapped (coalesced flag lost), others cloned
            contiguous = g._vals.flags.c_contiguous
            leaf._grad = SparseTensor(g._idx, g._vals if contiguous else g._vals.copy(), g.shape,
                                      coalesced=g._coalesced and not contiguous)
        else:
            buf[...] = 0
            leaf._grad = Tensor(g._add_into(buf))
    elif type(old) is SparseTensor:
        leaf._grad = old + g
    else:
        g._add_into(old._data)


class _HookHandle:
    """What ``register_post_accumulate_grad_hook`` returns: ``remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: dict, hook):
        self.hooks, self.id = hooks, _HookHandle._next_id
        _HookHandle._next_id += 1
        hooks[self.id] = hook

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self) -> _HookHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _toposort(roots: list[Tensor], stop: set[int] | None = None) -> list[Tensor]:
    """Graph nodes reachable from ``roots`` that want a gradient, outputs before inputs. Iterative.
    ``stop``: ids of nodes not to go past (engine.higher_order's nested sweeps).

    It also checks every op's version counters, so that an in-place change raises before
    any gradient is accumulated (no leaf is left with half a gradient)."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False) for root in reversed(roots)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is None or (stop is not None and id(node) in stop):
            continue
        if ctx.freed:  # only a node that saved arrays: one that saved none runs again, as torch's
            raise RuntimeError(_FREED)
        ctx.check_versions()
        for parent, need in zip(ctx.parents, ctx.needs_input_grad):  # the edges recorded as wanting a gradient
            if need and id(parent) not in visited:
                stack.append((parent, False))
    order.reverse()
    return order


from engine.sparse import SparseTensor  # noqa: E402  (engine/sparse.py builds on Tensor and Function)
