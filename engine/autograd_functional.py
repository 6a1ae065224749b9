"""torch.autograd.functional: ``jacobian``, ``vjp`` and ``jvp`` of a function of Tensors, through the
engine's reverse sweep (``engine.autograd.grad``, one sweep per output element for a Jacobian), and
``hessian``, ``hvp`` and ``vhp`` through the gradient of a gradient (the create_graph sweep,
engine.higher_order). ``create_graph=True`` keeps the results differentiable. Importable as
``engine.autograd.functional``.

>>> import engine
>>> jacobian(lambda x: x * x, engine.tensor([1.0, 2.0])).tolist()
[[2.0, 0.0], [0.0, 4.0]]
"""

from __future__ import annotations

from collections.abc import Callable

import engine
from engine.tensor import Tensor

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]


def _as_tuple(x, what: str, fn: str) -> tuple[bool, tuple[Tensor, ...]]:
    """(was it a tuple, the Tensors as a tuple)."""
    is_tuple = isinstance(x, (tuple, list))
    items = tuple(x) if is_tuple else (x,)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"The {what} given to {fn} must be either a Tensor or a tuple of Tensors but the "
                            f"value at index {i} has type {type(t).__name__}.")
    return is_tuple, items


def _keep(t: Tensor, create_graph: bool) -> Tensor:
    """A result as torch gives it: detached, or kept in the graph with ``create_graph``."""
    return t if create_graph else t.detach()


def _call(func: Callable, inputs: tuple[Tensor, ...], fn: str,
          create_graph: bool = False) -> tuple[bool, tuple[Tensor, ...], tuple[Tensor, ...]]:
    """Run func on fresh leaves that require grad: (outputs were a tuple, outputs, the leaves). With
    ``create_graph`` an input that requires grad stays in its graph through a node of its own (a copy;
    torch's is a view), so that gradients with respect to it leave out its other uses (a ``v`` made from it)."""
    leaves = tuple(t.clone() if create_graph and t.requires_grad else
                   t.detach().requires_grad_(t.is_floating_point()) for t in inputs)
    with engine.enable_grad():
        out = func(*leaves)
    out_tuple, outputs = _as_tuple(out, "outputs of the user-provided function", fn)
    return out_tuple, outputs, leaves


def _grads(output: Tensor, leaves: tuple[Tensor, ...], upstream: Tensor, strict: bool, i: int,
           fn: str, create_graph: bool = False) -> list[Tensor]:
    """d(output · upstream)/d(leaf) for each leaf; zeros where the output does not depend on it."""
    wants = [j for j, leaf in enumerate(leaves) if leaf.requires_grad]
    got = (engine.autograd.grad(output, [leaves[j] for j in wants], upstream, retain_graph=True, allow_unused=True,
                                create_graph=create_graph)
           if output.requires_grad and wants else [None] * len(wants))
    result = [engine.zeros_like(leaf) for leaf in leaves]
    for j, g in zip(wants, got):
        if g is not None:
            result[j] = g
    if strict:
        used = {j for j, g in zip(wants, got) if g is not None}
        for j in range(len(leaves)):
            if j not in used:
                raise RuntimeError(f"Output {i} of the user-provided function is independent of input {j}. This is "
                                   "not allowed in strict mode.")
    return result


def jacobian(func: Callable, inputs: Tensor | tuple[Tensor, ...], create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: d output / d input of shape ``output.shape + input.shape``;
    a tuple per input and/or per output where those are tuples, as torch. ``vectorize`` and
    ``strategy`` are accepted (the result is the same; it is computed in reverse mode, one sweep per
    output element).

    >>> import engine
    >>> jacobian(lambda a, b: a * b, (engine.tensor([2.0]), engine.tensor([3.0])))
    (Tensor([[3.]], dtype=float32, device=cpu), Tensor([[2.]], dtype=float32, device=cpu))
    """
    if strategy not in ("forward-mode", "reverse-mode"):
        raise ValueError('Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
                         'function has more outputs than inputs, "forward-mode" tends to be more performant. '
                         'Otherwise, prefer to use "reverse-mode".')
    if strategy == "forward-mode" and not vectorize:
        raise NotImplementedError("torch.autograd.functional.jacobian: `strategy=\"forward-mode\"` is only "
                                  "implemented with `vectorize=True`.")
    in_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
    out_tuple, outputs, leaves = _call(func, inputs, "jacobian", create_graph)
    table = []  # [output][input]: (output.shape + input.shape)
    for i, out in enumerate(outputs):
        rows = [[] for _ in leaves]
        flat = out.detach().reshape(-1)
        for k in range(flat.numel()):
            onehot = engine.zeros(flat.numel(), dtype=out.dtype, device=out.device)
            onehot[k] = 1
            for j, g in enumerate(_grads(out, leaves, onehot.reshape(out.shape), strict, i, "jacobian",
                                         create_graph)):
                rows[j].append(_keep(g, create_graph))
        table.append(tuple(engine.stack(r).reshape(out.shape + leaf.shape) if r else
                           engine.zeros(out.shape + leaf.shape, dtype=leaf.dtype, device=leaf.device)
                           for r, leaf in zip(rows, leaves)))
    if not out_tuple:
        return table[0] if in_tuple else table[0][0]
    return tuple(row if in_tuple else row[0] for row in table)


def vjp(func: Callable, inputs: Tensor | tuple[Tensor, ...], v: Tensor | tuple[Tensor, ...] | None = None,
        create_graph: bool = False, strict: bool = False):
    """(func(inputs), vᵀ·J): the vector-Jacobian product, one reverse sweep. ``v`` has the outputs'
    shapes; it may be left out for a one-element output.

    >>> import engine
    >>> out, g = vjp(lambda x: (x * x).sum(), engine.tensor([1.0, 2.0])); g.tolist()
    [2.0, 4.0]
    """
    in_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
    out_tuple, outputs, leaves = _call(func, inputs, "vjp", create_graph)
    vs = _vectors(v, outputs, "vjp", "outputs")
    total = [engine.zeros_like(leaf) for leaf in leaves]
    for i, (out, vi) in enumerate(zip(outputs, vs)):
        for j, g in enumerate(_grads(out, leaves, vi, strict, i, "vjp", create_graph)):
            total[j] = total[j] + _keep(g, create_graph)
    out_value = tuple(_keep(o, create_graph) for o in outputs)
    return (out_value if out_tuple else out_value[0]), (tuple(total) if in_tuple else total[0])


def jvp(func: Callable, inputs: Tensor | tuple[Tensor, ...], v: Tensor | tuple[Tensor, ...] | None = None,
        create_graph: bool = False, strict: bool = False):
    """(func(inputs), J·v): the Jacobian-vector product, from the Jacobian (one reverse sweep per
    output element). ``v`` has the inputs' shapes; it may be left out for a one-element input.

    >>> import engine
    >>> out, t = jvp(lambda x: x * x, engine.tensor([1.0, 2.0]), engine.tensor([1.0, 1.0])); t.tolist()
    [2.0, 4.0]
    """
    in_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
    vs = _vectors(v, inputs, "jvp", "inputs")
    out_tuple, outputs, _ = _call(func, inputs, "jvp", create_graph)
    jac = jacobian(func, inputs if in_tuple else inputs[0], create_graph=create_graph, strict=strict)
    jac = jac if out_tuple else (jac,)
    result = []
    for i, out in enumerate(outputs):
        row = jac[i] if in_tuple else (jac[i],)
        t = engine.zeros(out.shape, dtype=out.dtype, device=out.device)
        for jij, vj in zip(row, vs):
            t = t + (jij.reshape(out.numel(), vj.numel()) @ vj.reshape(-1).to(jij.dtype)).reshape(out.shape)
        result.append(_keep(t, create_graph))
    out_value = tuple(_keep(o, create_graph) for o in outputs)
    return (out_value if out_tuple else out_value[0]), (tuple(result) if out_tuple else result[0])


def _vectors(v, like: tuple[Tensor, ...], fn: str, what: str) -> tuple[Tensor, ...]:
    """v as one Tensor per entry of ``like`` (each of its shape); None only for one-element ``like``."""
    if v is None:
        if len(like) != 1 or like[0].numel() != 1:
            whose = ("user-provided function returns" if what == "outputs"
                     else "input to the user-provided function is")
            raise RuntimeError(f"The vector v can only be None if the {whose} a single Tensor with a single element.")
        return (engine.ones_like(like[0]),)
    _, vs = _as_tuple(v, "v", fn)
    if len(vs) != len(like):
        raise RuntimeError(f"v is a tuple of invalid length: should be {len(like)} but got {len(vs)}.")
    for i, (vi, t) in enumerate(zip(vs, like)):
        if tuple(vi.shape) != tuple(t.shape):
            raise RuntimeError(f"Entry {i} in v has invalid size: should be {tuple(t.shape)} but got "
                               f"{tuple(vi.shape)}.")
    return vs


def _scalar_output(func: Callable, fn: str) -> Callable:
    """func, checked to return one Tensor with one element (what hessian, hvp and vhp differentiate twice)."""
    def call(*xs):
        out = func(*xs)
        is_tuple, outs = _as_tuple(out, "outputs of the user-provided function", fn)
        if len(outs) != 1:
            raise RuntimeError(f"The function given to {fn} should return a single Tensor")
        if outs[0].numel() != 1:
            raise RuntimeError(f"The Tensor returned by the function given to {fn} should contain a single element")
        return outs[0]
    return call


def _input_grads(out: Tensor, leaves: tuple[Tensor, ...], strict: bool, fn: str) -> tuple[Tensor, ...]:
    """d out / d leaf for each leaf, recorded in the graph (zeros, with no graph, where out does not use it)."""
    if not out.requires_grad:
        if strict:
            raise RuntimeError(f"The output of the user-provided function given to {fn} is independent of input 0. "
                               "This is not allowed in strict mode.")
        return tuple(engine.zeros_like(leaf) for leaf in leaves)
    got = engine.autograd.grad(out.reshape(()), leaves, create_graph=True, allow_unused=True)
    for j, g in enumerate(got):
        if g is None and strict:
            raise RuntimeError(f"The output of the user-provided function given to {fn} is independent of input {j}. "
                               "This is not allowed in strict mode.")
    return tuple(engine.zeros_like(leaf) if g is None else g for leaf, g in zip(leaves, got))


def hessian(func: Callable, inputs: Tensor | tuple[Tensor, ...], create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of a scalar function ``func`` at ``inputs``: shape ``input.shape + input.shape``, a
    tuple of tuples (one per pair of inputs) where ``inputs`` is a tuple, as torch. The Jacobian of
    the gradient, which is recorded with create_graph.

    >>> import engine
    >>> hessian(lambda x: (x ** 3).sum(), engine.tensor([1.0, 2.0])).tolist()
    [[6.0, 0.0], [0.0, 12.0]]
    """
    in_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    scalar = _scalar_output(func, "hessian")

    def gradient(*xs):
        grads = _input_grads(scalar(*xs), xs, strict, "hessian")
        return grads if in_tuple else grads[0]

    return jacobian(gradient, inputs if in_tuple else inputs[0], create_graph=create_graph, strict=strict,
                    vectorize=vectorize, strategy=outer_jacobian_strategy)


def vhp(func: Callable, inputs: Tensor | tuple[Tensor, ...], v: Tensor | tuple[Tensor, ...] | None = None,
        create_graph: bool = False, strict: bool = False):
    """(func(inputs), vᵀ·H): the vector-Hessian product of a scalar ``func``, two reverse sweeps (the
    first records the gradient's graph). ``v`` has the inputs' shapes.

    >>> import engine
    >>> out, p = vhp(lambda x: (x ** 3).sum(), engine.tensor([1.0, 2.0]), engine.tensor([1.0, 1.0])); p.tolist()
    [6.0, 12.0]
    """
    return _hessian_product(func, inputs, v, create_graph, strict, "vhp")


def hvp(func: Callable, inputs: Tensor | tuple[Tensor, ...], v: Tensor | tuple[Tensor, ...] | None = None,
        create_graph: bool = False, strict: bool = False):
    """(func(inputs), H·v): the Hessian-vector product of a scalar ``func``. The Hessian of a function
    with continuous second derivatives is symmetric, so this is ``vhp``'s vᵀ·H (torch's hvp equals it
    the same way, computed with one more sweep).

    >>> import engine
    >>> out, p = hvp(lambda x: (x ** 3).sum(), engine.tensor([1.0, 2.0]), engine.tensor([1.0, 0.0])); p.tolist()
    [6.0, 0.0]
    """
    return _hessian_product(func, inputs, v, create_graph, strict, "hvp")


def _hessian_product(func: Callable, inputs, v, create_graph: bool, strict: bool, fn: str):
    in_tuple, inputs = _as_tuple(inputs, "inputs", fn)
    vs = _vectors(v, inputs, fn, "inputs")
    _, outputs, leaves = _call(_scalar_output(func, fn), inputs, fn, create_graph)
    out = outputs[0]
    grads = _input_grads(out, leaves, strict, fn)
    dot = sum((g * vi.to(g.dtype)).sum() for g, vi in zip(grads, vs) if g.requires_grad)
    products = [engine.zeros_like(leaf) for leaf in leaves]
    if isinstance(dot, Tensor) and dot.requires_grad:
        got = engine.autograd.grad(dot, leaves, create_graph=create_graph, allow_unused=True)
        products = [p if g is None else _keep(g, create_graph) for p, g in zip(products, got)]
    elif strict:
        raise RuntimeError(f"The gradient of the user-provided function given to {fn} is independent of the "
                           "input. This is not allowed in strict mode.")
    result = tuple(products)
    return _keep(out, create_graph), (result if in_tuple else result[0])
