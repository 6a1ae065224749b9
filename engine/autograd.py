"""torch.autograd's functional entry points: ``grad`` (gradients returned, not accumulated) and
``backward`` (several outputs at once), over the engine's one reverse sweep.

>>> from engine import Tensor
>>> x = Tensor([1.0, 2.0], requires_grad=True)
>>> (gx,) = grad((x * x).sum(), x); gx.tolist(), x.grad
([2.0, 4.0], None)
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.backend import array_module
from engine.function import enable_grad, is_grad_enabled, no_grad  # noqa: F401  (torch.autograd's names)
from engine.tensor import Tensor, _initial_grad, backpropagate
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


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor], grad_outputs=None,
         retain_graph: bool | None = None, create_graph: bool = False, only_inputs: bool = True,
         allow_unused: bool | None = None, is_grads_batched: bool = False,
         materialize_grads: bool = False) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs`` (leaves or intermediates), as a
    tuple; nothing is accumulated into ``.grad``. ``grad_outputs`` are the outputs' upstream
    gradients (needed for outputs of more than one element). An input the outputs do not depend on
    raises unless ``allow_unused`` (then None, or zeros with ``materialize_grads``). The graph is
    freed unless ``retain_graph``. ``create_graph`` (higher-order gradients) is not supported.

    >>> from engine import Tensor
    >>> x = Tensor([3.0], requires_grad=True); y = x * x
    >>> [g.tolist() for g in grad(y, [x, y], Tensor([1.0]))]
    [[6.0], [1.0]]
    """
    if create_graph:
        raise NotImplementedError("autograd.grad(create_graph=True): higher-order gradients are not supported "
                                  "(the engine's backward functions run on arrays, outside the graph)")
    if is_grads_batched:
        raise NotImplementedError("autograd.grad(is_grads_batched=True) is not supported")
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, "
                         "but got: allow_unused=False.")
    allow_unused = materialize_grads if allow_unused is None else allow_unused
    outputs, inputs = _tensors(outputs, "grad"), _tensors(inputs, "grad")
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    got = backpropagate(outputs, _upstream(outputs, grad_outputs, "grad"), bool(retain_graph), capture=inputs)
    result = []
    for i, t in enumerate(inputs):
        g = got.get(i)
        if g is None:
            if not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                                   "Set allow_unused=True if this is the desired behavior.")
            result.append(Tensor(array_module(t.data).zeros(t.shape, dtype=t.dtype)) if materialize_grads else None)
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
    if create_graph:
        raise NotImplementedError("autograd.backward(create_graph=True): higher-order gradients are not supported")
    outputs = _tensors(tensors, "backward")
    only = None if inputs is None else _tensors(inputs, "backward")
    backpropagate(outputs, _upstream(outputs, grad_tensors, "backward"), bool(retain_graph), only=only)
