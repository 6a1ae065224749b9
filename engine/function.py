"""`Function`: the base of every op. An op is a forward and a backward on raw arrays.

``Op.apply(*tensors, **params)`` runs ``forward`` on the tensors' arrays, wraps the
result in a Tensor and, when a gradient is needed, records the op as the result's
``_ctx`` so that ``Tensor.backward`` can call ``backward`` later.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from engine.backend import array_module, device_of

Tensor: Any = None  # set by engine.tensor (import cycle: Tensor methods call ops)
graph_ref: Any = None  # engine.tensor.graph_ref: what ctx.parents keeps of an input


class _GradState(threading.local):
    """Grad mode is per thread, as in PyTorch: a ``no_grad`` block in one thread (an eval
    or a data thread) must not switch off the graph that another thread is recording."""

    def __init__(self):
        self.enabled = True
        # Previous states, a stack: a decorator reuses one _GradMode for every call, and a
        # decorated function may recurse, so the state to restore cannot live on the instance.
        self.prev: list[bool] = []
        # Names of the modules being called, outermost first (nn.Module.__call__ pushes them): each
        # recorded op keeps them as ``scope``, so engine.draw can group a graph by layer.
        self.scope: tuple[str, ...] = ()
        self.inference = False  # inside inference_mode (torch.is_inference_mode_enabled)
        self.prev_inference: list[bool] = []


_state = _GradState()


class name_scope:
    """Ops recorded inside belong to ``name`` (nested scopes join with "."), for ``engine.draw``;
    a tuple of names enters each in turn (nn modules give their path, ``("h", "0", "attn")``).
    A class, not a generator: nn.Module.__call__ enters one per module call, so it must be cheap.

    >>> from engine import Tensor
    >>> x = Tensor([1.0], requires_grad=True)
    >>> with name_scope("block"):
    ...     y = x * 2
    >>> y._ctx.scope
    ('block',)
    """

    __slots__ = ("names", "prev")

    def __init__(self, name: str | tuple[str, ...]):
        self.names = (name,) if isinstance(name, str) else tuple(name)

    def __enter__(self) -> None:
        self.prev = _state.scope
        _state.scope = self.prev + self.names

    def __exit__(self, *exc) -> None:
        _state.scope = self.prev


def is_grad_enabled() -> bool:
    """Whether ops record a graph right now (in this thread)."""
    return _state.enabled


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        _state.prev.append(_state.enabled)
        _state.enabled = self.enabled

    def __exit__(self, *exc):
        _state.enabled = _state.prev.pop()
        return False

    def __call__(self, fn):
        """As a decorator; a generator function runs each of its steps inside the mode, as torch's."""
        if inspect.isgeneratorfunction(fn):
            return _wrap_generator(self, fn)
        return super().__call__(fn)


def _wrap_generator(mode: _GradMode, fn: Callable) -> Callable:
    """``fn``, a generator function, with every resumption of its body inside ``mode`` (torch's
    _wrap_generator): the caller's code between two ``next`` calls keeps the caller's mode."""

    @functools.wraps(fn)
    def generator(*args, **kwargs):
        gen = fn(*args, **kwargs)
        try:
            with mode:
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with mode:
                        gen.close()
                    raise
                except BaseException as e:  # noqa: BLE001 - handed on to the generator, as torch
                    with mode:
                        response = gen.throw(e)
                else:
                    with mode:
                        response = gen.send(request)
        except StopIteration as e:
            return e.value

    return generator


def no_grad(fn: Callable | None = None):
    """Context manager / decorator (``@no_grad()`` or ``@no_grad``): ops inside record no graph.

    >>> from engine import Tensor
    >>> x = Tensor([1.0], requires_grad=True)
    >>> with no_grad():
    ...     (x * 2).requires_grad
    False
    """
    return _GradMode(False) if fn is None else _GradMode(False)(fn)


def enable_grad(fn: Callable | None = None):
    """Context manager / decorator: turn graph recording back on inside ``no_grad``."""
    return _GradMode(True) if fn is None else _GradMode(True)(fn)


class inference_mode(_GradMode):  # noqa: N801 - torch's name
    """torch.inference_mode: ``no_grad`` that also says so to ``is_inference_mode_enabled()``; a context
    manager or a decorator (``@inference_mode()``, ``@inference_mode``). ``inference_mode(False)``
    turns graph recording on, as torch's. (Tensors made inside are ordinary ones: ``is_inference()`` is False.)

    >>> from engine import Tensor
    >>> with inference_mode():
    ...     (Tensor([1.0], requires_grad=True) * 2).requires_grad, is_inference_mode_enabled()
    (False, True)
    """

    def __new__(cls, mode: bool | Callable = True):
        if callable(mode):  # the bare decorator: @inference_mode
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True):
        super().__init__(not mode)
        self.mode = bool(mode)

    def __enter__(self):
        super().__enter__()
        _state.prev_inference.append(_state.inference)
        _state.inference = self.mode

    def __exit__(self, *exc):
        _state.inference = _state.prev_inference.pop()
        return super().__exit__(*exc)

    def clone(self) -> inference_mode:
        return type(self)(self.mode)


def is_inference_mode_enabled() -> bool:
    """Whether this thread is inside ``inference_mode()`` (torch.is_inference_mode_enabled)."""
    return _state.inference


class Function:
    """Base class of every op. Subclasses define ``forward`` and ``backward``.

    - ``forward(self, *arrays, **params) -> array``; it may stash what backward needs
      with ``self.save_for_backward(...)`` or as attributes.
    - ``backward(self, grad) -> array | tuple`` gives one gradient per positional input
      (None where no gradient flows), each of that input's shape.
    ``self.xp`` is the array module, ``self.needs_input_grad`` says which inputs want one (set before
    forward: empty outside the graph).
    """

    registry: ClassVar[dict[str, type[Function]]] = {}
    differentiable: ClassVar[bool] = True
    # Complex gradients follow torch's convention (grad = dL/dRe + i dL/dIm). ``backward`` formulas are
    # written as g * f'(z), right for real arrays; for a complex g the sweep runs conj(backward(conj(g))),
    # which is torch's g * conj(f'(z)) for holomorphic f (see complex_backward). An op whose backward is
    # written in torch's convention already (abs, real, conj, a custom Function) sets this False.
    conj_grad: ClassVar[bool] = True

    # _node: a weak link to the torch-style graph node ``Tensor.grad_fn`` handed out (set on first use only)
    __slots__ = ("xp", "parents", "needs_input_grad", "saved", "_versions", "freed", "scope", "_node")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):  # private bases (e.g. _Extremum) are not ops
            Function.registry[cls.__name__] = cls

    def save_for_backward(self, *arrays) -> None:
        self.saved = arrays

    def forward(self, *arrays, **params):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on Tensors (None allowed for optional inputs) and record it."""
        # One pass over the inputs: their arrays, and whether any wants a gradient.
        arrays, any_grad = [], False
        for t in inputs:
            if t is None:
                arrays.append(None)
            elif isinstance(t, Tensor):
                arrays.append(t._data)
                if t._requires_grad:  # the slot: a property read costs per input
                    any_grad = True
                elif t._view is not None and t._view[0]._requires_grad and _state.enabled:
                    any_grad = _catch_up_view(t) or any_grad  # a view made before its base gained grad
            else:
                _not_a_tensor(cls.__name__, inputs)
        if len(arrays) > 1:
            _check_same_kind(cls.__name__, arrays)
        fn = cls()
        fn.xp = array_module(arrays[0] if arrays[0] is not None else arrays[1])
        fn.saved = ()
        needs = any_grad and _state.enabled and cls.differentiable
        # known to forward, so an op can save only what the wanted gradients read (Mul, as torch)
        fn.needs_input_grad = tuple(t is not None and t._requires_grad for t in inputs) if needs else ()
        out = fn.forward(*arrays, **params)
        result = Tensor(out, requires_grad=needs)
        if getattr(out, "base", None) is not None:
            _share_version_with_base(result, inputs)
        if needs:
            fn.parents = tuple(graph_ref(t) for t in inputs)  # not the arrays of non-leaf inputs
            fn.freed = False
            fn.scope = _state.scope
            # Version counters (the shared cells, not the tensors: keeping `result` here
            # would make a result <-> ctx reference cycle that only the gc could free)
            # of every tensor whose array backward will read.
            versions = []
            if fn.saved:
                saved_ids = {id(a) for a in fn.saved}
                versions = [(t._vc, t._vc[0], t.shape, t.dtype) for t in inputs
                            if t is not None and id(t._data) in saved_ids]
                if id(result._data) in saved_ids:
                    versions.append((result._vc, result._vc[0], result.shape, result.dtype))
            fn._versions = versions
            result._ctx = fn
        return result

    def check_versions(self) -> None:
        """Raise torch's error when an array this op saved was changed in place since (its version moved)."""
        for cell, version, shape, dtype in self._versions:
            if cell[0] != version:
                producer = self._producer_of(cell)
                which = "" if producer is None else f", which is output 0 of {producer},"
                raise RuntimeError(  # torch's words, but for the hint
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: [torch.{_TORCH_TYPES.get(str(dtype), str(dtype))} {list(shape)}]{which} is at "
                    f"version {cell[0]}; expected version {version} instead. "
                    "Hint: compute it out of place, or clone() it before the in-place op"
                )

    def _producer_of(self, cell) -> str | None:
        """torch's name of the op that made the current value of the saved tensor with version counter
        ``cell`` ("Mul"; "AsStrided" for a view whose base changed since), None for a leaf (torch's words
        name none). A saved output is named by this op, as torch's."""
        for p in self.parents:
            if p is None or p._vc is not cell:
                continue
            t = p
            real = getattr(p, "_real", None)  # a _GraphRef: the tensor itself, or where it moved (in place)
            if real is not None:
                t = real()
                if t is None:
                    moved = getattr(p, "_moved", None)
                    if moved is not None:  # an in-place op in the graph moved it on: the tensor, or that op
                        t = moved[0]()
                        if t is None:
                            return moved[1]
                    else:  # gone, in its place still: a view's base changed (torch re-derives it), or its op
                        ctx = p._ctx
                        if any(q is not None and q._vc is cell for q in ctx.parents):
                            return "AsStrided"
                        return torch_op_name(ctx)
            view = t._view
            if view is not None and view[1] is not MULTI_OUTPUT and view[0]._ctx is not view[1]:
                return "AsStrided"
            return None if t._ctx is None else torch_op_name(t._ctx)
        return torch_op_name(self)

    def free(self) -> None:
        """Drop the arrays backward used (saved ones, and attributes such as masks or index arrays), as
        torch frees saved tensors: a later backward through this node raises (``freed``). The links to
        the inputs and non-array attributes (shapes, axes) stay, so a node that saved no array can run
        again, as torch's."""
        if self.saved:
            self.saved = ()
            self.freed = True
        self._versions = ()
        attrs = getattr(self, "__dict__", None)
        if attrs:  # a plain loop of type checks: this runs for every node of every backward
            drop = [k for k, v in attrs.items() if _holds_array(v)]
            for name in drop:
                del attrs[name]
                self.freed = True


_TORCH_TYPES = {"float64": "DoubleTensor", "float32": "FloatTensor", "float16": "HalfTensor",
                "bfloat16": "BFloat16Tensor", "int64": "LongTensor", "int32": "IntTensor", "bool": "BoolTensor"}


def complex_backward(ctx: Function, g) -> tuple:
    """``ctx.backward`` for a complex upstream gradient ``g``, in torch's convention: the conjugation
    trick for holomorphic ops (``conj_grad``), and the real part for a real input (torch's handle_r_to_c).
    Only the sweep calls it, and only when ``g`` is complex: real graphs never pay for it."""
    xp = array_module(g)
    out = ctx.backward(xp.conj(g) if ctx.conj_grad else g)
    if not isinstance(out, tuple):
        out = (out,)
    fixed = []
    for parent, pg in zip(ctx.parents, out):
        if pg is not None and pg.dtype.kind == "c":
            if parent is not None and parent.dtype.kind != "c":
                pg = pg.real
            elif ctx.conj_grad:
                pg = xp.conj(pg)
        fixed.append(pg)
    return tuple(fixed)


def _holds_array(v) -> bool:
    """Whether attribute ``v`` of an op is an array, or a tuple/list holding one (an advanced index)."""
    t = type(v)
    if t is int or t is float or t is bool or v is None:  # the common attributes: shapes, axes, flags
        return False
    if t is tuple or t is list:
        return any(map(_holds_array, v))
    return t is np.ndarray or t.__module__.startswith("cupy")  # not NumPy scalars: constants


def _not_a_tensor(op: str, inputs) -> None:
    """Raise the TypeError for the first input that is not a Tensor (a NumPy array, a list, a
    number): without it the op fails deep inside with a cryptic error."""
    for i, t in enumerate(inputs):
        if t is not None and not isinstance(t, Tensor):
            kind = type(t)
            module = kind.__module__.split(".")[0]
            name = kind.__name__ if module == "builtins" else f"{module}.{kind.__name__}"
            raise TypeError(f"{op.lower()}: argument {i} must be a Tensor, got {name}; wrap it with engine.tensor(...)")


def _catch_up_view(t) -> bool:
    """A view without grad whose base gained grad since it was made (an in-place op through another view
    wrote a value that requires grad): it takes its place in the base's new graph, as torch regenerates a
    view's grad_fn. Whether it requires grad now."""
    view = t._view
    if view[1] is not MULTI_OUTPUT and view[0]._ctx is not view[1]:
        graph_ref(t)  # re-derives it (engine.tensor._rederive_view)
    return t._requires_grad


def _check_same_kind(op: str, arrays) -> None:
    """The arrays of one op's inputs live on one device, and its float inputs share one dtype.

    The engine never upcasts silently (float32 + float64 would give float64 everywhere
    downstream), so ``F.linear(x32, w64)`` raises like ``x32 + w64`` does.
    """
    first = fdtype = None
    for a in arrays:
        if a is None:
            continue
        if first is None:
            first = a
        elif type(a) is not type(first):
            raise RuntimeError(
                f"{op}: tensors are on different devices: {device_of(first)} and {device_of(a)}; use .to()"
            )
        if a.dtype.kind == "f":
            if fdtype is None:
                fdtype = a.dtype
            elif a.dtype != fdtype:
                raise RuntimeError(  # as torch: a fused op or a matmul takes one float dtype
                    f"{op}: dtype mismatch: {fdtype} and {a.dtype}; cast one with .to()"
                )


def _memory_owner(arr):
    """The array that owns the memory ``arr`` views (``arr`` itself when it owns it)."""
    while getattr(arr, "base", None) is not None:
        arr = arr.base
    return arr


class _MultiOutput:
    """In ``Tensor._view`` where the base's node would be: the view is an output of split/chunk/unbind
    (or a view of one), which torch forbids to modify in place. It is never a base's node, so
    ``graph_ref`` always hands such a view to ``_rederive_view``, which checks it instead of re-deriving."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MULTI_OUTPUT"


MULTI_OUTPUT = _MultiOutput()


def _share_version_with_base(result, inputs) -> None:
    """A view (reshape, transpose, basic indexing) shares its input's version counter, as in
    PyTorch, so an in-place change through the view is seen by backward of the input's users, and
    remembers its base (the tensor that owns the memory), so that an in-place op on it rewrites the
    base's value and graph (``Tensor._become``). ``Tensor._view`` is (base, the base's node) or, for
    split/chunk/unbind's outputs and their views, (base, MULTI_OUTPUT, the base's node, torch's name of the
    op or None for a view of one, output index, version): see ``Tensor._mark_multi_output``."""
    owner = _memory_owner(result._data)
    for t in inputs:
        if t is not None and _memory_owner(t._data) is owner:
            result._vc = t._vc
            view = t._view
            base = t if view is None else view[0]
            if view is not None and view[1] is MULTI_OUTPUT:  # a view of split's output: no in-place either
                result._view = (base, MULTI_OUTPUT, base._ctx, None, 0, t._vc[0])
            else:
                result._view = (base, base._ctx)  # Tensor._base; the base's node, to see it go stale
            return


# ---- grad_fn: torch's view of a graph node --------------------------------------------------------------

# Ops whose torch node is not "<op name>Backward0" (the default, right for Mul, Add, Exp, Relu, Softmax, ...).
_TORCH_NODE_NAMES = {
    "Reshape": "ViewBackward0", "MatMul": "MmBackward0", "BroadcastTo": "ExpandBackward0", "Cast": "ToCopyBackward0",
    "PowScalar": "PowBackward0", "Pow": "PowBackward1", "Concatenate": "CatBackward0", "Clip": "ClampBackward1",
    "ClampTensor": "ClampBackward0", "Linear": "AddmmBackward0", "CrossEntropy": "NllLossBackward0",
    "LayerNorm": "NativeLayerNormBackward0", "BatchNorm": "NativeBatchNormBackward0", "Max": "MaxBackward1",
    "Min": "MinBackward1", "ConvNd": "ConvolutionBackward0", "ConvTransposeNd": "ConvolutionBackward0",
    "Dropout": "NativeDropoutBackward0", "Pad": "ConstantPadNdBackward0", "SetItem": "CopySlices",
    "GradTap": "BackwardHookFunctionBackward", "_AsStrided": "AsStridedBackward0",
}


def _torch_node_name(fn: Function) -> str:
    """torch's class name for the node of op ``fn`` (``MulBackward0``; a custom Function's ``<name>Backward``)."""
    name = getattr(fn, "torch_name", None)  # set where one op stands for torch's (split's pieces: SplitBackward0)
    if name is not None:
        return name
    name = type(fn).__name__
    call = getattr(fn, "call", None)  # a custom autograd.Function's node: (its class, ctx, args)
    if call is not None:
        return call[0].__name__ + "Backward"
    if name == "GetItem":
        index = getattr(fn, "index", None)  # int: a select, slices: a slice, else advanced indexing
        if isinstance(index, int):
            return "SelectBackward0"
        if isinstance(index, slice) or (isinstance(index, tuple) and all(isinstance(i, slice) for i in index)):
            return "SliceBackward0"
        return "IndexBackward0"
    return _TORCH_NODE_NAMES.get(name, name + "Backward0")


class Node:
    """What ``Tensor.grad_fn`` returns for a tensor an op made, as torch's graph node: its class is named as
    torch's (``MulBackward0``), ``name()`` gives that name, ``next_functions`` the nodes of the op's inputs
    (``(node, 0)`` pairs: an ``AccumulateGrad`` for a leaf that requires grad, None for an input without
    gradient). One node per op while something holds it, so ``y.grad_fn is y.grad_fn``.

    >>> from engine import Tensor
    >>> x = Tensor([1.0, 2.0], requires_grad=True); y = x * 2
    >>> y.grad_fn.name(), [type(f).__name__ for f, _ in y.grad_fn.next_functions]
    ('MulBackward0', ['AccumulateGrad', 'NoneType'])
    """

    __slots__ = ("_fn", "__weakref__")
    _classes: ClassVar[dict[str, type[Node]]] = {}

    def name(self) -> str:
        name = type(self).__name__
        return "torch::autograd::" + name if name == "CopySlices" else name  # a C++ node in torch, as AccumulateGrad

    @property
    def next_functions(self) -> tuple:
        parents = self._fn.parents or ()  # None once backward freed the node
        return tuple((_node_of_input(p, need), 0) for p, need in zip(parents, self._fn.needs_input_grad))

    @property
    def metadata(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {id(self):#x}>"


class AccumulateGrad:
    """The ``next_functions`` entry of a leaf that requires grad (torch's): ``variable`` is the leaf."""

    __slots__ = ("variable",)

    def __init__(self, variable):
        self.variable = variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    next_functions: tuple = ()
    metadata: dict = {}  # noqa: RUF012 - read-only, as torch's empty one

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {id(self):#x}>"


def node_of(fn: Function | None) -> Node | None:
    """The one torch-style ``Node`` of op ``fn`` (made on first use; ``fn`` keeps a weak link to it)."""
    if fn is None:
        return None
    ref = getattr(fn, "_node", None)
    node = ref() if ref is not None else None
    if node is None:
        name = _torch_node_name(fn)
        cls = Node._classes.get(name)
        if cls is None:
            cls = Node._classes[name] = type(name, (Node,), {"__slots__": ()})
        node = cls()
        node._fn = fn
        fn._node = weakref.ref(node)
    return node


def torch_op_name(fn: Function) -> str:
    """The op's name as torch's error messages give it: the node's name without "Backward0" ("Mul",
    "Pow1", "torch::autograd::CopySlices"; a custom Function's class name)."""
    name = _torch_node_name(fn)
    if name == "CopySlices":
        return "torch::autograd::CopySlices"
    return name[:-9] if name.endswith("Backward0") else name.replace("Backward", "")


def _node_of_input(parent, need: bool):
    if parent is None or not need:
        return None
    return AccumulateGrad(parent) if parent._ctx is None else node_of(parent._ctx)
