"""torch.autograd's functional entry points: ``grad`` (gradients returned, not accumulated) and
``backward`` (several outputs at once), over the engine's one reverse sweep; and ``Function``,
torch's way to write a custom op with Tensors (one graph node whose backward is the user's).

>>> from engine import Tensor
>>> x = Tensor([1.0, 2.0], requires_grad=True)
>>> (gx,) = grad((x * x).sum(), x); gx.tolist(), x.grad
([2.0, 4.0], None)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from engine import higher_order
from engine.backend import array_module
from engine.factories import zeros_like as engine_zeros_like
from engine.function import Function as _EngineFunction
from engine.function import enable_grad, inference_mode, is_grad_enabled, no_grad  # noqa: F401  (torch.autograd's names)
from engine.gradcheck import gradcheck, gradgradcheck  # noqa: F401  (torch.autograd's names)
from engine.ops.elementwise import sum_to
from engine.sparse import SparseTensor
from engine.tensor import Tensor, _backward_inputs, _initial_grad, backpropagate
from engine.torch_more import set_grad_enabled  # noqa: F401


def _tensors(arg, what: str) -> list[Tensor]:
    items = [arg] if isinstance(arg, Tensor) else list(arg)
    for t in items:
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}: expected Tensors, got {type(t).__name__}")
    return items


def _upstream(outputs: list[Tensor], grad_outputs, what: str) -> list:
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"{what}: grad_outputs has {len(grad_outputs)} entries but outputs has {len(outputs)}")
    for i, t in enumerate(outputs):
        if not t.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
    return [_initial_grad(t, g, what) for t, g in zip(outputs, grad_outputs)]


def _graph_upstream(outputs: list[Tensor], grad_outputs, what: str) -> list[Tensor]:
    """The outputs' upstream gradients as Tensors for a create_graph sweep: a Tensor given keeps its
    graph (so the result is differentiable in it too, as torch), anything else is wrapped."""
    given = list(grad_outputs) if isinstance(grad_outputs, (list, tuple)) else [grad_outputs] * len(outputs)
    arrays = _upstream(outputs, grad_outputs, what)
    return [g if isinstance(g, Tensor) and g.dtype == a.dtype and g.shape == a.shape else Tensor(a)
            for g, a in zip(given, arrays)]


def _graph_result(g: Tensor | None, t: Tensor, allow_unused: bool, materialize: bool) -> Tensor | None:
    """autograd.grad's answer for input ``t`` from a create_graph sweep (see grad)."""
    if g is None:
        if not allow_unused:
            raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                               "Set allow_unused=True if this is the desired behavior.")
        return engine_zeros_like(t) if materialize else None
    return higher_order._as_grad(g, t)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor], grad_outputs=None,
         retain_graph: bool | None = None, create_graph: bool = False, only_inputs: bool = True,
         allow_unused: bool | None = None, is_grads_batched: bool = False,
         materialize_grads: bool = False) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs`` (leaves or intermediates), as a
    tuple; nothing is accumulated into ``.grad``. ``grad_outputs`` are the outputs' upstream
    gradients (needed for outputs of more than one element). An input the outputs do not depend on
    raises unless ``allow_unused`` (then None, or zeros with ``materialize_grads``). The graph is
    freed unless ``retain_graph``. ``create_graph`` records the gradients' own graph, so they can be
    differentiated again (engine.higher_order; it implies ``retain_graph``).

    >>> from engine import Tensor
    >>> x = Tensor([3.0], requires_grad=True); y = x * x
    >>> [g.tolist() for g in grad(y, [x, y], Tensor([1.0]))]
    [[6.0], [1.0]]
    """
    if is_grads_batched:
        raise NotImplementedError("autograd.grad(is_grads_batched=True) is not supported")
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, "
                         "but got: allow_unused=False.")
    allow_unused = materialize_grads if allow_unused is None else allow_unused
    if type(inputs) is SparseTensor or (isinstance(inputs, (list, tuple)) and any(type(t) is SparseTensor
                                                                                    for t in inputs)):
        inputs = [t._graph() if type(t) is SparseTensor else t  # its graph node (engine/sparse.py)
                  for t in ([inputs] if type(inputs) is SparseTensor else inputs)]
    outputs, inputs = _tensors(outputs, "grad"), _tensors(inputs, "grad")
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    if create_graph:  # the sweep that records the gradients' graph; retain_graph defaults to True, as torch
        got = higher_order.sweep(outputs, _graph_upstream(outputs, grad_outputs, "grad"),
                                 True if retain_graph is None else bool(retain_graph), capture=inputs)
        return tuple(_graph_result(got.get(i), t, allow_unused, materialize_grads) for i, t in enumerate(inputs))
    got = backpropagate(outputs, _upstream(outputs, grad_outputs, "grad"), bool(retain_graph), capture=inputs)
    result = []
    for i, t in enumerate(inputs):
        g = got.get(i)
        if g is None:
            if not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                                   "Set allow_unused=True if this is the desired behavior.")
            result.append(Tensor(array_module(t._data).zeros(t.shape, dtype=t.dtype)) if materialize_grads else None)
            continue
        if type(g) is SparseTensor:  # a sparse=True embedding's weight: its sparse gradient, as torch
            result.append(g)
            continue
        if g.dtype != t.dtype:
            g = g.astype(t.dtype)
        if g.shape != t.shape:
            g = array_module(g).broadcast_to(g, t.shape)
        result.append(Tensor(g.copy()))
    return tuple(result)


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors=None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs=None) -> None:
    """Accumulate the gradients of several outputs into the leaves' ``.grad`` in one sweep, as
    ``torch.autograd.backward`` (``sum(o * g_o)`` backpropagated, without building that sum).

    >>> from engine import Tensor
    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> backward([x.sum(), (x * 3).sum()]); x.grad.tolist()
    [4.0, 4.0]
    """
    outputs = _tensors(tensors, "backward")
    if create_graph:
        higher_order.sweep(outputs, _graph_upstream(outputs, grad_tensors, "backward"),
                           True if retain_graph is None else bool(retain_graph), only=_backward_inputs(inputs))
        return
    backpropagate(outputs, _upstream(outputs, grad_tensors, "backward"), bool(retain_graph),
                  only=_backward_inputs(inputs))


# ---- torch.autograd.Function: a custom op written with Tensors ---------------------------------------


class FunctionCtx:
    """The ``ctx`` of a custom Function: ``save_for_backward`` / ``saved_tensors``,
    ``needs_input_grad`` (one flag per forward argument), ``mark_non_differentiable``,
    ``set_materialize_grads``; any other attribute may be set in forward and read in backward."""

    def __init__(self):
        self.needs_input_grad: tuple = ()
        self.saved_tensors: tuple = ()
        self.materialize_grads = True
        self._non_differentiable: set[int] = set()

    def save_for_backward(self, *tensors) -> None:
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save variables, but argument 0 is of type "
                                f"{type(t).__name__}")
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *tensors) -> None:
        self._non_differentiable.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors) -> None:
        raise NotImplementedError("engine.autograd.Function: mark_dirty (a forward that modifies its inputs in "
                                  "place) is not supported; return a new tensor instead")


class _CustomFunctionOp(_EngineFunction):
    """The graph node of one call of a custom Function: forward hands on the array the user's forward
    computed; backward calls the user's backward with Tensors (grad mode off, as torch without
    create_graph) and maps its results back to the Tensor arguments. The user's backward takes and
    gives complex gradients in torch's convention, as written (no conjugation around it)."""

    conj_grad = False

    def forward(self, *arrays, out=None, call=None):
        self.call = call
        return out

    def backward(self, g):
        fn_cls, ctx, args = self.call
        with no_grad():
            grads = fn_cls.backward(ctx, Tensor(g))
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) != len(args):
            raise RuntimeError(f"function {fn_cls.__name__}Backward returned an incorrect number of gradients "
                               f"(expected {len(args)}, got {len(grads)})")
        out = []
        for i, (arg, gi) in enumerate(zip(args, grads)):
            if not isinstance(arg, Tensor):
                if gi is not None:
                    raise RuntimeError(f"function {fn_cls.__name__}Backward returned a gradient different than "
                                       f"None at position {i + 1}, but the corresponding forward input was not a "
                                       "Variable")
                continue
            if gi is None:
                out.append(None)
                continue
            ga = gi._data if isinstance(gi, Tensor) else array_module(arg._data).asarray(gi)
            if ga.shape != arg.shape:  # torch sums a gradient the input's shape expands to; anything else is wrong
                try:
                    expandable = np.broadcast_shapes(arg.shape, ga.shape) == ga.shape
                except ValueError:
                    expandable = False
                if not expandable:
                    raise RuntimeError(f"Function {fn_cls.__name__}Backward returned an invalid gradient at index "
                                       f"{i} - got {list(ga.shape)} but expected shape compatible with "
                                       f"{list(arg.shape)}")
                ga = sum_to(ga, arg.shape)
            out.append(ga.astype(arg.dtype, copy=False))
        return tuple(out)


class Function:
    """torch.autograd.Function: a differentiable op written with Tensors.

    Subclass it with ``@staticmethod forward(ctx, *args)`` (Tensors and other values; it runs with
    grad mode off) returning one Tensor, and ``@staticmethod backward(ctx, grad_output)`` returning one
    gradient (a Tensor or None) per forward argument; call it as ``MyFn.apply(*args)``. The newer
    form, ``forward(*args)`` plus ``setup_context(ctx, inputs, output)``, works too. One Tensor out
    (tuple outputs are not supported); no double backward through ``backward``.

    >>> class Clip(Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x.clamp(-1, 1)
    ...     @staticmethod
    ...     def backward(ctx, g):  # straight-through inside [-1, 1]
    ...         (x,) = ctx.saved_tensors
    ...         return g * (x.abs() <= 1)
    >>> x = Tensor([0.5, 3.0], requires_grad=True); Clip.apply(x).sum().backward(); x.grad.tolist()
    [1.0, 0.0]
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def setup_context(ctx, inputs, output):  # pragma: no cover - the older form does it in forward
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):  # pragma: no cover - abstract
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            if cls.setup_context is not Function.setup_context:  # forward(*args) + setup_context
                out = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, out)
            else:
                out = cls.forward(ctx, *args, **kwargs)
        if not isinstance(out, Tensor):
            raise NotImplementedError(f"engine.autograd.Function: {cls.__name__}.forward must return one Tensor, got "
                                      f"{type(out).__name__} (tuple outputs are not supported)")
        tensors = [a for a in args if isinstance(a, Tensor)]
        if id(out) in ctx._non_differentiable or not any(ctx.needs_input_grad) or not is_grad_enabled():
            return out if out._ctx is None else out.detach()
        return _CustomFunctionOp.apply(*tensors, out=out._data, call=(cls, ctx, args))


def once_differentiable(fn):
    """torch.autograd.function.once_differentiable: marks a backward that cannot be differentiated
    again; every backward here is (no double backward), so it returns ``fn`` unchanged."""
    return fn


# torch.autograd.functional (jacobian, vjp, jvp), importable as engine.autograd.functional
from engine import autograd_functional as functional  # noqa: E402

sys.modules[__name__ + ".functional"] = functional
