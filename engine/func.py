"""torch.func for this engine: ``grad``, ``grad_and_value``, ``vjp``, ``jvp``, ``jacrev``, ``jacfwd``,
``hessian``, ``vmap``, ``functional_call`` and ``stack_module_state``, with torch.func's signatures,
pytrees (tuples, lists, dicts of Tensors) and errors.

How they are built (no functorch levels, no batching rules):

* ``grad``/``vjp`` run ``func`` on fresh copies of the differentiated Tensors and take the gradient
  with ``engine.autograd.grad``. Where the result must itself be differentiable (a nested transform,
  or an outer input or closure Tensor that requires grad) that sweep records its graph
  (``create_graph``, engine/higher_order.py), so ``grad(grad(f))`` works; otherwise it does not.
* ``jvp``, ``jacrev`` and ``jacfwd`` are reverse mode: one sweep per output element (``jacfwd``
  shares ``jacrev``'s code; the values are the same).
* ``vmap`` is a Python loop over the batch: each mapped argument is sliced with ``select`` (which
  keeps autograd), ``func`` runs once per sample and the results are stacked along ``out_dims``.
  So gradients flow through it, and ``vmap(grad(f))`` gives per-sample gradients; its cost is
  ``batch`` calls of ``func``.

>>> import engine
>>> from engine.func import grad, vmap
>>> grad(lambda x: (x ** 3).sum())(engine.tensor([1.0, 2.0])).tolist()
[3.0, 12.0]
>>> vmap(lambda row: row.sum())(engine.tensor([[1.0, 2.0], [3.0, 4.0]])).tolist()
[3.0, 7.0]
"""

from __future__ import annotations

import contextlib
import functools
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import engine
from engine import rng
from engine.backend import to_numpy
from engine.function import enable_grad, is_grad_enabled
from engine.tensor import Tensor, _node_of, _toposort

__all__ = ["functional_call", "grad", "grad_and_value", "hessian", "jacfwd", "jacrev", "jvp", "stack_module_state",
           "vjp", "vmap"]

# ---- pytrees: tuples, lists, dicts and namedtuples of leaves (torch.utils._pytree's, in small) ---------------


class _Spec:
    """The structure of a pytree: ``kind`` (None for a leaf), ``context`` (a dict's keys, a namedtuple's
    type) and the children's specs. Equal specs have equal structure; the repr is torch's TreeSpec's."""

    __slots__ = ("kind", "context", "children", "num_leaves")

    def __init__(self, kind=None, context=None, children: tuple = ()):
        self.kind, self.context, self.children = kind, context, children
        self.num_leaves = 1 if kind is None else sum(c.num_leaves for c in children)

    def __eq__(self, other) -> bool:
        return (isinstance(other, _Spec) and self.kind == other.kind and self.context == other.context
                and self.children == other.children)

    def __repr__(self) -> str:
        if self.kind is None:
            return "*"
        name = self.kind.__name__ if isinstance(self.kind, type) else self.kind
        inner = ",\n".join(repr(c) for c in self.children).replace("\n", "\n  ")
        return f"TreeSpec({name}, {self.context}, [{inner}])"


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _node(x) -> tuple[Any, Any, list] | None:
    """(kind, context, children) of a container, None for a leaf."""
    if _is_namedtuple(x):
        return type(x), None, list(x)
    if isinstance(x, (tuple, list)):
        return type(x) if type(x) in (tuple, list) else (tuple if isinstance(x, tuple) else list), None, list(x)
    if isinstance(x, dict):
        kind = OrderedDict if isinstance(x, OrderedDict) else dict
        return kind, list(x.keys()), list(x.values())
    return None


def _flatten(tree) -> tuple[list, _Spec]:
    """(the leaves in order, the structure)."""
    node = _node(tree)
    if node is None:
        return [tree], _Spec()
    kind, context, children = node
    leaves, specs = [], []
    for child in children:
        sub, spec = _flatten(child)
        leaves += sub
        specs.append(spec)
    return leaves, _Spec(kind, context, tuple(specs))


def _unflatten(leaves, spec: _Spec):
    """The pytree of structure ``spec`` holding ``leaves`` (inverse of ``_flatten``)."""
    it = iter(leaves)

    def build(s: _Spec):
        if s.kind is None:
            return next(it)
        children = [build(c) for c in s.children]
        if s.kind in (dict, OrderedDict):
            return s.kind(zip(s.context, children))
        if s.kind in (tuple, list):
            return s.kind(children)
        return s.kind(*children)  # a namedtuple

    return build(spec)


def _broadcast_flatten(prefix, spec: _Spec) -> list | None:
    """``prefix`` (a pytree whose leaves stand for whole subtrees of ``spec``) as one value per leaf of
    ``spec``; None where it does not fit (torch's _broadcast_to_and_flatten)."""
    node = _node(prefix)
    if node is None:
        return [prefix] * spec.num_leaves
    kind, context, children = node
    if spec.kind != kind or spec.context != context or len(children) != len(spec.children):
        return None
    out = []
    for child, sub in zip(children, spec.children):
        got = _broadcast_flatten(child, sub)
        if got is None:
            return None
        out += got
    return out


def _tree_map(fn: Callable, tree):
    leaves, spec = _flatten(tree)
    return _unflatten([fn(x) for x in leaves], spec)


# ---- argnums and the differentiated copies ----------------------------------------------------------------


def _wrap_argnum(argnum, num_args: int) -> int:
    if not isinstance(argnum, int):
        raise RuntimeError(f"argnum must be int, got: {type(argnum)}")
    if 0 <= argnum < num_args:
        return argnum
    if -num_args <= argnum < 0:
        return argnum + num_args
    raise RuntimeError(f"Got argnum={argnum}, but only {num_args} positional inputs")


def _check_argnums(argnums, num_args: int) -> int | tuple[int, ...]:
    """argnums checked and made non-negative, as torch's _slice_argnums (RuntimeError)."""
    if isinstance(argnums, int):
        return _wrap_argnum(argnums, num_args)
    if not isinstance(argnums, tuple):
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    wrapped = tuple(_wrap_argnum(a, num_args) for a in argnums)
    if not wrapped:
        raise RuntimeError("argnums must be non-empty")
    if len(set(wrapped)) != len(wrapped):
        raise RuntimeError(f"argnums elements must be unique, got {argnums}")
    return wrapped


def _differentiable(x: Tensor, outer: bool) -> Tensor:
    """A fresh Tensor to differentiate ``x`` at: a copy in ``x``'s graph where the outer computation
    differentiates ``x`` too (so the gradient stays differentiable in it), else a new leaf."""
    if not isinstance(x, Tensor):
        raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
    if not (x.is_floating_point() or x.dtype.kind == "c"):
        raise RuntimeError("only Tensors of floating point dtype can require gradients")
    return x.clone() if outer and x.requires_grad else x.detach().requires_grad_()


def _wrap_args(args: tuple, argnums, outer: bool) -> tuple[tuple, Any, list[Tensor], list[Tensor]]:
    """(args with the ``argnums`` ones replaced by fresh copies, those copies as a pytree — one arg for
    an int ``argnums``, a tuple otherwise —, the copies flat, the originals flat)."""
    argnums = _check_argnums(argnums, len(args))
    picked = (argnums,) if isinstance(argnums, int) else argnums
    new = list(args)
    originals: list[Tensor] = []
    for i in picked:
        originals += _flatten(args[i])[0]
        new[i] = _tree_map(lambda x: _differentiable(x, outer), args[i])
    diff = new[argnums] if isinstance(argnums, int) else tuple(new[i] for i in picked)
    return tuple(new), diff, _flatten(diff)[0], originals


def _needs_graph(outer: bool, originals: list, outputs: list, fresh: list[Tensor]) -> bool:
    """Must the gradients be recorded (create_graph)? Only where grad mode was on outside and something
    outside the transform is differentiated too: an original input that requires grad, or a leaf
    (a closure's parameter) the outputs reach other than the fresh copies."""
    if not outer:
        return False
    if any(isinstance(t, Tensor) and t.requires_grad for t in originals):
        return True
    roots = [_node_of(o) for o in outputs if isinstance(o, Tensor) and o.requires_grad]
    if not roots:
        return False
    stop = {id(_node_of(f)) for f in fresh}
    return any(node._ctx is None and id(node) not in stop for node in _toposort(roots, stop))


def _autograd_grad(outputs: list[Tensor], inputs: list[Tensor], grad_outputs: list | None = None,
                   retain_graph: bool = False, create_graph: bool = False) -> tuple[Tensor, ...]:
    """torch.func's _autograd_grad: outputs that do not require grad are left out, gradients of inputs
    nothing reaches are zeros."""
    if grad_outputs is None:
        pairs = [(o, None) for o in outputs if o.requires_grad]
    else:
        pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if not pairs:
        return tuple(engine.zeros_like(x) for x in inputs)
    outs = [o for o, _ in pairs]
    ups = None if grad_outputs is None else [g for _, g in pairs]
    # a recorded gradient's graph runs through the forward's nodes (engine.higher_order): keep them
    with enable_grad() if create_graph else contextlib.nullcontext():
        got = engine.autograd.grad(outs, inputs, ups, retain_graph=retain_graph or create_graph,
                                   create_graph=create_graph, allow_unused=True)
    return tuple(engine.zeros_like(x) if g is None else g for g, x in zip(got, inputs))


def _undo(tree, keep: bool):
    """A result handed out of a transform: detached unless its graph is needed outside."""
    if keep:
        return tree
    return _tree_map(lambda t: t.detach() if isinstance(t, Tensor) else t, tree)


# ---- grad and vjp ------------------------------------------------------------------------------------------


def grad_and_value(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable:
    """torch.func.grad_and_value: a function returning ``(gradient, value)`` of ``func``, whose output
    must be a 0-d Tensor; the gradient is with respect to the ``argnums`` arguments (each a Tensor or
    a pytree of Tensors: dict, tuple, list), a tuple for a tuple ``argnums``. With ``has_aux`` ``func``
    returns ``(output, aux)`` and the result is ``(gradient, (value, aux))``.

    >>> import engine
    >>> g, v = grad_and_value(lambda x: (x * x).sum())(engine.tensor([1.0, 2.0])); g.tolist(), v.item()
    ([2.0, 4.0], 5.0)
    """
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        outer = is_grad_enabled()
        with enable_grad():
            args, diff, flat_diff, originals = _wrap_args(args, argnums, outer)
            output = func(*args, **kwargs)
            aux = None
            if has_aux:
                if not (isinstance(output, tuple) and len(output) == 2):
                    raise RuntimeError("grad_and_value(f)(*args): output of function f should be a tuple: "
                                       "(output, aux) if has_aux is True")
                output, aux = output
            if not isinstance(output, Tensor):
                raise RuntimeError(f"grad_and_value(f)(*args): Expected f(*args) to return a Tensor, got "
                                   f"{type(output)}")
            if output.dim() != 0:
                raise RuntimeError(f"grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got "
                                   f"tensor with {output.dim()} dims. Maybe you wanted to use the vjp or jacrev "
                                   "APIs instead?")
            keep = _needs_graph(outer, originals, [output], flat_diff)
            flat_grads = _autograd_grad([output], flat_diff, create_graph=keep)
            grads = _unflatten(flat_grads, _flatten(diff)[1])
        output, grads = _undo(output, keep), _undo(grads, keep)
        if has_aux:
            return grads, (output, _undo(aux, keep))
        return grads, output

    return wrapper


def grad(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable:
    """torch.func.grad: a function returning the gradient of ``func`` (a 0-d Tensor output) with
    respect to the ``argnums`` arguments; ``(gradient, aux)`` with ``has_aux``. Nests:
    ``grad(grad(f))`` is the second derivative.

    >>> import engine
    >>> grad(grad(engine.sin))(engine.tensor(0.5)).item() == -engine.tensor(0.5).sin().item()
    True
    """
    inner = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        grads, value = inner(*args, **kwargs)
        return (grads, value[1]) if has_aux else grads

    return wrapper


def _check_outputs(flat: list, api: str) -> None:
    if (len(flat) == 1 and flat[0] is None) or len(flat) < 1:
        raise RuntimeError(f"{api}: Expected f to be a function that has non-empty output (got output = {flat})")
    for o in flat:
        if not isinstance(o, Tensor):
            raise RuntimeError(f"{api}: expected f(*primals) to return only tensors, got unsupported type {type(o)}")


def _vjp(func: Callable, primals: tuple, argnums, has_aux: bool):
    """vjp with argnums (None: every primal): (output, a function of flat cotangents to flat gradients,
    aux, the output's flat Tensors, their structure, the structure of the differentiated primals, keep)."""
    outer = is_grad_enabled()
    with enable_grad():
        if argnums is None:
            diff = _tree_map(lambda x: _differentiable(x, outer), primals)
            args, flat_diff, originals = diff, _flatten(diff)[0], _flatten(primals)[0]
        else:
            args, diff, flat_diff, originals = _wrap_args(primals, argnums, outer)
        out = func(*args)
        aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise RuntimeError("vjp(f, *primals): output of function f should be a tuple: (output, aux) "
                                   "if has_aux is True")
            out, aux = out
        flat_out, out_spec = _flatten(out)
        _check_outputs(flat_out, "vjp(f, *primals)")
        for o in flat_out:
            if not (o.is_floating_point() or o.dtype.kind == "c"):
                raise RuntimeError("vjp(f, ...): All outputs of f must be floating-point or complex Tensors, got "
                                   f"Tensor with dtype {o.dtype}")
        keep = _needs_graph(outer, originals, flat_out, flat_diff)

    def pull(flat_cot: list, retain_graph: bool = True, create_graph: bool | None = None) -> tuple[Tensor, ...]:
        return _autograd_grad(flat_out, flat_diff, flat_cot, retain_graph=retain_graph,
                              create_graph=keep if create_graph is None else create_graph)

    return (_undo(out, keep), pull, _undo(aux, keep), flat_out, out_spec, _flatten(diff)[1], keep)


def vjp(func: Callable, *primals, has_aux: bool = False):
    """torch.func.vjp: ``(func(*primals), vjp_fn)`` (and ``aux`` with ``has_aux``); ``vjp_fn(cotangents)``
    (cotangents with the output's structure and shapes) returns the vector-Jacobian products, a tuple
    with one entry per primal (each with that primal's structure). ``vjp_fn`` may be called again.

    >>> import engine
    >>> out, vjp_fn = vjp(lambda x: x * x, engine.tensor([1.0, 2.0])); vjp_fn(engine.ones(2))[0].tolist()
    [2.0, 4.0]
    """
    out, pull, aux, _, out_spec, primals_spec, _ = _vjp(func, primals, None, has_aux)

    def vjp_fn(cotangents, retain_graph: bool = True, create_graph: bool | None = None):
        flat_cot, cot_spec = _flatten(cotangents)
        if cot_spec != out_spec:
            raise RuntimeError("Expected pytree structure of cotangents to be the same as pytree structure of outputs "
                               f"to the function. cotangents: {cot_spec}, primal output: {out_spec}")
        return _unflatten(pull(flat_cot, retain_graph, create_graph), primals_spec)

    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


# ---- jvp, jacrev, jacfwd, hessian (reverse mode) -------------------------------------------------------------


def _rows(output: Tensor, pull_one: Callable) -> list[list[Tensor]]:
    """For each element k of ``output`` (row-major), the gradients of that element: ``pull_one(onehot)``."""
    rows = []
    for k in range(output.numel()):
        onehot = engine.zeros(output.numel(), dtype=output.dtype, device=output.device)
        onehot[k] = 1
        rows.append(pull_one(onehot.reshape(output.shape)))
    return rows


def jvp(func: Callable, primals: tuple, tangents: tuple, *, strict: bool = False, has_aux: bool = False):
    """torch.func.jvp: ``(func(*primals), J·tangents)`` (and ``aux`` with ``has_aux``); ``primals`` a
    tuple (of Tensors or pytrees), ``tangents`` of the same structure and shapes. Computed in
    reverse mode, one sweep per output element. ``strict`` raises where an output does not depend on
    the primals (else its tangent is zeros).

    >>> import engine
    >>> out, t = jvp(lambda x: x * x, (engine.tensor([1.0, 2.0]),), (engine.tensor([1.0, 0.0]),)); t.tolist()
    [2.0, 0.0]
    """
    api = "jvp(f, primals, tangents)"
    if not isinstance(primals, tuple):
        raise RuntimeError(f"{api}: Expected primals to be a tuple. E.g. it should be valid to call f(*primals).")
    flat_primals, primals_spec = _flatten(primals)
    flat_tangents, tangents_spec = _flatten(tangents)
    if primals_spec != tangents_spec:
        raise RuntimeError(f"{api}: Expected primals and tangents to have the same python structure. For example, "
                           "if primals is a tuple of 3 tensors, tangents also must be. Got primals with structure "
                           f"{primals_spec} and tangents with structure {tangents_spec}")
    for what, flat in (("primals", flat_primals), ("tangents", flat_tangents)):
        if not flat:
            raise RuntimeError(f"{api}: Expected {what} to contain at least one Tensor.")
        for t in flat:
            if not isinstance(t, Tensor):
                raise RuntimeError(f"{api}: Expected {what} to only contain Tensors, got {type(t)}")
    for p, t in zip(flat_primals, flat_tangents):
        if not (p.is_floating_point() or p.dtype.kind == "c"):
            raise ValueError(f"Expected primal to be floating point or complex, but got: {p.dtype}")
        if tuple(p.shape) != tuple(t.shape):
            raise RuntimeError("Trying to set a forward gradient that has a different size than that of the original "
                               f"Tensor, this is not supported. Tensor is of size {list(p.shape)} while the given "
                               f"forward gradient is of size {list(t.shape)}.")
    out, pull, aux, flat_out, out_spec, _, keep = _vjp(func, primals, None, has_aux)
    out_tangents = []
    for o in flat_out:
        if o.requires_grad and (o.is_floating_point() or o.dtype.kind == "c"):
            # (J·t)[k] = sum over primals of <d o[k] / d p, t_p>: one sweep per element k
            rows = _rows(o, lambda onehot, o=o: _vjp_one(pull, flat_out, o, onehot))
            elems = [sum(((g * tj.to(g.dtype)).sum() for g, tj in zip(row, flat_tangents)),
                         engine.zeros((), dtype=o.dtype, device=o.device)) for row in rows]
            t = (engine.stack(elems).reshape(o.shape).to(o.dtype) if elems else engine.zeros_like(o))
        elif strict:
            raise RuntimeError("jvp(f, primals, tangents, strict=True): The output of f is independent of the "
                               "inputs. This is not allowed with strict=True.")
        else:
            t = engine.zeros_like(o)
        out_tangents.append(t)
    result = (out, _undo(_unflatten(out_tangents, out_spec), keep or _any_requires_grad(flat_tangents)))
    return (*result, aux) if has_aux else result


def _any_requires_grad(ts: list) -> bool:
    return is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in ts)


def _vjp_one(pull: Callable, flat_out: list[Tensor], o: Tensor, cot: Tensor) -> tuple[Tensor, ...]:
    """The gradients of output ``o`` alone with upstream ``cot`` (the other outputs get zeros)."""
    return pull([cot if x is o else engine.zeros_like(x) for x in flat_out])


def _jacobian(func: Callable, args: tuple, argnums, has_aux: bool, api: str):
    """jacrev's and jacfwd's result: for each output leaf, the Jacobian with respect to each
    differentiated input leaf (shape out.shape + in.shape), arranged as torch: the output's structure
    outside, the inputs' (one input for an int ``argnums``) inside."""
    if api == "jacfwd":
        for p in _flatten(tuple(args[i] for i in _as_tuple(_check_argnums(argnums, len(args)))))[0]:
            if isinstance(p, Tensor) and not (p.is_floating_point() or p.dtype.kind == "c"):
                raise ValueError(f"Expected primal to be floating point or complex, but got: {p.dtype}")
    out, pull, aux, flat_out, out_spec, _, keep = _vjp(func, args, argnums, has_aux)
    primals = tuple(args[i] for i in _as_tuple(_check_argnums(argnums, len(args))))
    flat_primals, primals_spec = _flatten(primals)
    per_output = []
    for o in flat_out:
        rows = _rows(o, lambda onehot, o=o: _vjp_one(pull, flat_out, o, onehot))
        jacs = []
        for j, p in enumerate(flat_primals):
            if rows:
                jac = engine.stack([r[j] for r in rows]).reshape(tuple(o.shape) + tuple(p.shape))
            else:  # an empty output: an empty Jacobian
                jac = engine.zeros(tuple(o.shape) + tuple(p.shape), dtype=p.dtype, device=p.device)
            jacs.append(_undo(jac, keep))
        by_input = _unflatten(jacs, primals_spec)
        per_output.append(by_input[0] if isinstance(argnums, int) else by_input)
    result = _unflatten(per_output, out_spec)
    return (result, aux) if has_aux else result


def _as_tuple(argnums) -> tuple[int, ...]:
    return (argnums,) if isinstance(argnums, int) else argnums


def jacrev(func: Callable, argnums: int | tuple[int, ...] = 0, *, has_aux: bool = False,
           chunk_size: int | None = None, _preallocate_and_copy: bool = False) -> Callable:
    """torch.func.jacrev: a function returning the Jacobian of ``func`` with respect to the ``argnums``
    arguments, reverse mode (one sweep per output element); each block has shape
    ``output.shape + input.shape``. ``chunk_size`` is checked and otherwise ignored (every row is its
    own sweep here).

    >>> import engine
    >>> jacrev(lambda x: x ** 2)(engine.tensor([1.0, 3.0])).tolist()
    [[2.0, 0.0], [0.0, 6.0]]
    """
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")

    @functools.wraps(func)
    def wrapper(*args):
        return _jacobian(func, args, argnums, has_aux, "jacrev")

    return wrapper


def jacfwd(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False, *,
           randomness: str = "error") -> Callable:
    """torch.func.jacfwd: the Jacobian, as ``jacrev`` (the same values and structure; it is computed
    in reverse mode here, which torch's forward mode equals).

    >>> import engine
    >>> jacfwd(lambda x: x.sin())(engine.tensor([0.0])).tolist()
    [[1.0]]
    """
    @functools.wraps(func)
    def wrapper(*args):
        _check_randomness(randomness)
        return _jacobian(func, args, argnums, has_aux, "jacfwd")

    return wrapper


def hessian(func: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """torch.func.hessian: ``jacfwd(jacrev(func, argnums), argnums)``, the second derivatives of a
    function (shape ``output.shape + input.shape + input.shape``).

    >>> import engine
    >>> hessian(lambda x: (x ** 3).sum())(engine.tensor([1.0, 2.0])).tolist()
    [[6.0, 0.0], [0.0, 12.0]]
    """
    return jacfwd(jacrev(func, argnums), argnums)


# ---- vmap: a loop over the batch ------------------------------------------------------------------------


def _name(func) -> str:
    if hasattr(func, "__name__"):
        return func.__name__
    if isinstance(func, functools.partial):
        return f"functools.partial({_name(func.func)}, ...)"
    return repr(func)


def _check_randomness(randomness: str) -> None:
    if randomness not in ("error", "different", "same"):
        raise RuntimeError("Only allowed values for randomness are 'error', 'different', or 'same'. Got "
                           f"{randomness}")


@contextlib.contextmanager
def _randomness(randomness: str):
    """randomness="error": a draw from a default random stream raises inside (engine.rng checks)."""
    if randomness != "error":
        yield
        return
    rng._random_forbidden += 1
    try:
        yield
    finally:
        rng._random_forbidden -= 1


def _batched_inputs(in_dims, args: tuple, func) -> tuple[int, list, list, _Spec]:
    """(batch size, in_dim per leaf (non-negative or None), the leaves, the args' structure), checked
    as torch's _process_batched_inputs (ValueError)."""
    name = _name(func)
    if not isinstance(in_dims, (int, tuple)):
        raise ValueError(f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): expected `in_dims` to be int or a "
                         f"(potentially nested) tuple matching the structure of inputs, got: {type(in_dims)}.")
    if not args:
        raise ValueError(f"vmap({name})(<inputs>): got no inputs. Maybe you forgot to add inputs, or you are trying "
                         "to vmap over a function with no inputs. The latter is unsupported.")
    flat_args, spec = _flatten(args)
    flat_dims = _broadcast_flatten(in_dims, spec)
    if flat_dims is None:
        raise ValueError(f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with the "
                         f"structure of `inputs`. in_dims has structure {_flatten(in_dims)[1]} but inputs has "
                         f"structure {spec}.")
    for i, (arg, d) in enumerate(zip(flat_args, flat_dims)):
        if not isinstance(d, int) and d is not None:
            raise ValueError(f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for an input but "
                             "in_dim must be either an integer dimension or None.")
        if isinstance(d, int) and not isinstance(arg, Tensor):
            raise ValueError(f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for an input but the "
                             f"input is of type {type(arg)}. We cannot vmap over non-Tensor arguments, please use "
                             "None as the respective in_dim")
        if d is not None and not -arg.dim() <= d < arg.dim():
            raise ValueError(f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for some input, but "
                             f"that input is a Tensor of dimensionality {arg.dim()} so expected in_dim to satisfy "
                             f"-{arg.dim()} <= in_dim < {arg.dim()}.")
        if d is not None and d < 0:
            flat_dims[i] = d % arg.dim()
    sizes = [arg.shape[d] for arg, d in zip(flat_args, flat_dims) if d is not None]
    if not sizes:
        raise ValueError("vmap: Expected at least one Tensor to vmap over")
    if any(s != sizes[0] for s in sizes):
        raise ValueError("vmap: Expected all tensors to have the same size in the mapped dimension, got sizes "
                         f"{sizes} for the mapped dimension")
    return sizes[0], flat_dims, flat_args, spec


def _check_out_dims(out_dims, func) -> None:
    if isinstance(out_dims, int):
        return
    for d in _flatten(out_dims)[0]:
        if not (d is None or isinstance(d, int)):
            raise ValueError(f"vmap({_name(func)}, ..., out_dims={out_dims}): `out_dims` must be an int, None or a "
                             "python collection of ints representing where in the outputs the vmapped dimension "
                             "should appear.")


def _same(outs: list) -> bool:
    """Did every sample give the same output (the same object or equal values, NaNs included)?"""
    first = outs[0]
    for o in outs[1:]:
        if o is first:
            continue
        if not isinstance(o, Tensor) or tuple(o.shape) != tuple(first.shape) or o.dtype != first.dtype:
            return False
        a, b = to_numpy(first._data), to_numpy(o._data)
        if not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
            return False
    return True


def _combine(outputs: list, out_dims, func, batch_size: int):
    """The per-sample outputs as torch's vmap returns them: each Tensor leaf stacked at its out_dim."""
    name = _name(func)
    flat0, spec = _flatten(outputs[0])
    per_sample = [flat0] + [_flatten(o)[0] for o in outputs[1:]]
    for o in outputs[1:]:
        if _flatten(o)[1] != spec:
            raise ValueError(f"vmap({name}, ...): `{name}` returned outputs of different structures for different "
                             "samples")

    def incompatible():
        raise ValueError(f"vmap({name}, ..., out_dims={out_dims})(<inputs>): out_dims is not compatible with the "
                         f"structure of `outputs`. out_dims has structure {_flatten(out_dims)[1]} but outputs has "
                         f"structure {spec}.")

    if isinstance(outputs[0], Tensor):  # torch's edge case: a one-element tuple fits one Tensor
        if isinstance(out_dims, int) or out_dims is None:
            flat_dims = [out_dims]
        elif isinstance(out_dims, tuple) and len(out_dims) == 1:
            flat_dims = list(out_dims)
        else:
            incompatible()
    else:
        flat_dims = _broadcast_flatten(out_dims, spec)
        if flat_dims is None:
            incompatible()
    result = []
    for j, d in enumerate(flat_dims):
        column = [flat[j] for flat in per_sample]
        if d is None:
            if isinstance(column[0], Tensor) and not _same(column):
                raise ValueError(f"vmap({name}, ...): `{name}` can not return a BatchedTensor when out_dim is None")
            result.append(column[0])
            continue
        if not isinstance(column[0], Tensor):
            raise ValueError(f"vmap({name}, ...): `{name}` must only return Tensors, got type {type(column[0])}. "
                             "Did you mean to set out_dims= to None for output?")
        if batch_size == 0:  # column holds one output of a stand-in sample: keep its shape, no rows
            result.append(column[0].unsqueeze(_stack_dim(d, column[0])).narrow(_stack_dim(d, column[0]), 0, 0))
        else:
            result.append(engine.stack(column, dim=d))
    return _unflatten(result, spec)


def _stack_dim(d: int, sample: Tensor) -> int:
    """out_dim d as a position in the stacked result, checked as torch.stack checks it."""
    rank = sample.dim() + 1
    if not -rank <= d < rank:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], but got {d})")
    return d % rank


def vmap(func: Callable, in_dims: int | tuple = 0, out_dims: int | tuple | None = 0, randomness: str = "error", *,
         chunk_size: int | None = None) -> Callable:
    """torch.vmap / torch.func.vmap: ``func`` mapped over a dimension of its inputs.

    ``in_dims`` gives the mapped dimension of each positional argument (an int for all, or a tuple
    with one entry per argument; an entry may be None, unmapped, or a pytree matching a dict/tuple
    argument); ``out_dims`` where the batch dimension goes in each output (None: the output is the
    same for every sample and returned once). Keyword arguments are passed unmapped.

    This is an honest loop, not torch's batching rules: each mapped argument is sliced with
    ``select`` (which keeps autograd), ``func`` is called once per sample and the outputs are stacked.
    So any function works, gradients flow through (``vmap(f)(x).sum().backward()``), and
    ``vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)`` gives per-sample gradients; it costs
    ``batch`` calls. ``randomness``: "error" (a random draw inside raises, as torch), "different"
    (each sample draws its own) or "same" (every sample starts from the same generator state).
    ``chunk_size`` is checked and otherwise needs nothing (the loop is one sample at a time). An
    out_dims None output is checked to be equal for every sample. With a batch of size 0, ``func``
    runs once on a zero-filled sample, only for the outputs' shapes.

    >>> import engine
    >>> x = engine.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> vmap(lambda a, b: a * b, in_dims=(0, None))(x, engine.tensor([10.0, 100.0])).tolist()
    [[10.0, 200.0], [30.0, 400.0]]
    >>> vmap(lambda r: r.sum(), in_dims=1)(x).tolist()
    [4.0, 6.0]
    """
    _check_randomness(randomness)
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        _check_out_dims(out_dims, func)
        batch_size, flat_dims, flat_args, spec = _batched_inputs(in_dims, args, func)
        state = None
        if randomness == "same":
            state = rng.get_state()
        outputs = []
        for b in range(max(batch_size, 1)):
            if batch_size == 0:  # a zero-filled stand-in sample, for the outputs' shapes
                sample = [a if d is None else engine.zeros(a.shape[:d] + a.shape[d + 1:], dtype=a.dtype,
                                                           device=a.device) for a, d in zip(flat_args, flat_dims)]
            else:
                sample = [a if d is None else a.select(d, b) for a, d in zip(flat_args, flat_dims)]
            if state is not None:
                rng.set_state(state)
            with _randomness(randomness):
                outputs.append(func(*_unflatten(sample, spec), **kwargs))
        return _combine(outputs, out_dims, func, batch_size)

    return wrapped


# ---- functional_call and stack_module_state (duck-typed: engine does not import nn) ----------------------

_MISSING: Any = object()


def _submodule(module, path: str, cache: dict):
    """The module at dotted ``path`` (torch's NamedMemberAccessor.get_submodule)."""
    if not path:
        return module
    if path not in cache:
        prefix, _, attr = path.rpartition(".")
        parent = _submodule(module, prefix, cache)
        try:
            sub = getattr(parent, attr)
        except AttributeError as e:
            raise AttributeError(f"{parent._get_name()} has no attribute `{attr}`") from e
        if not callable(getattr(sub, "named_parameters", None)):
            raise TypeError(f"submodule `{path}`: {sub} is not an instance of torch.nn.Module")
        cache[path] = sub
    return cache[path]


def _swap_tensor(module, name: str, tensor, cache: dict):
    """Put ``tensor`` (or _MISSING: remove) at dotted ``name``; returns what was there (_MISSING: nothing).
    A parameter slot takes any Tensor here: it is written into the module's ``__dict__`` directly,
    past Module.__setattr__ (which holds parameter slots to Parameters); a buffer also in ``_buffers``."""
    prefix, _, attr = name.rpartition(".")
    mod = _submodule(module, prefix, cache)
    if tensor is not _MISSING and tensor is not None and not isinstance(tensor, Tensor):
        raise TypeError(f"{tensor} is not an instance of torch.Tensor")
    if "." in attr:
        raise KeyError('tensor name can\'t contain "."')
    if attr == "":
        raise KeyError('tensor name can\'t be empty string ""')
    buffers = getattr(mod, "_buffers", {})
    if attr in getattr(mod, "_parameters", {}) or attr in buffers:
        orig = mod.__dict__.get(attr, _MISSING)
        if tensor is _MISSING:
            mod.__dict__.pop(attr, None)
            buffers.pop(attr, None)
        else:
            object.__setattr__(mod, attr, tensor)
            if attr in buffers:
                buffers[attr] = tensor
        return orig
    if hasattr(mod, attr):
        orig = getattr(mod, attr)
        if orig is not None and not isinstance(orig, Tensor):
            raise TypeError(f"attribute `{attr}`: {orig} is not an instance of torch.Tensor")
    else:
        orig = _MISSING
    if tensor is not _MISSING:
        setattr(mod, attr, tensor)
    elif hasattr(mod, attr):
        delattr(mod, attr)
    return orig


def _named_tensors(module) -> list[tuple[str, Tensor]]:
    return (list(module.named_parameters(remove_duplicate=False))
            + list(module.named_buffers(remove_duplicate=False)))


def _untie(module, given: dict) -> dict:
    """torch's _untie_named_tensors_map: a value given for one name of a tied tensor goes to all its
    names; different values for two names of one tied tensor raise ValueError."""
    names_of: dict[int, set[str]] = {}
    for name, t in _named_tensors(module):
        names_of.setdefault(id(t), set()).add(name)
    tied = {n: names for names in names_of.values() if len(names) > 1 for n in names}
    given_tied = {n for n in given if n in tied}
    for n in given_tied:
        names = tied[n] & given_tied
        if len(names) > 1 and len({id(given[m]) for m in names}) != 1:
            raise ValueError(f"functional_call got multiple values for keys {sorted(tied[n])}, which are tied. "
                             "Consider using tie_weights=False")
    untied = dict(given)
    for n in given_tied:
        for m in tied[n]:
            untied[m] = given[n]
    return untied


@contextlib.contextmanager
def _reparametrize(module, parameters_and_buffers: dict, tie_weights: bool, strict: bool):
    """Swap the given tensors in for the module's, and back (even on an exception); what the module
    put into a swapped slot meanwhile is written back to the dict, as torch."""
    values = _untie(module, parameters_and_buffers) if tie_weights else parameters_and_buffers
    if strict:
        valid = {n for n, _ in _named_tensors(module)}
        missing, unexpected = sorted(valid - set(values)), sorted(set(values) - valid)
        msgs = []
        if unexpected:
            msgs.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
        if missing:
            msgs.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
        if msgs:
            raise RuntimeError("Error(s) in reparametrizing for {}:\n\t{}".format(module._get_name(),
                                                                                  "\n\t".join(msgs)))
    cache: dict = {}
    originals: dict = {}
    try:
        for name, t in values.items():
            originals[name] = _swap_tensor(module, name, t, cache)
        yield
    finally:
        swapped_in = {name: _swap_tensor(module, name, orig, cache) for name, orig in originals.items()}
        parameters_and_buffers.update({k: swapped_in[k] for k in parameters_and_buffers if k in swapped_in})


def _functional_call(module, parameters_and_buffers: dict, args=None, kwargs=None, *, tie_weights: bool = True,
                     strict: bool = False):
    """torch.nn.utils.stateless._functional_call: the call with one dict of replacements."""
    kwargs = {} if kwargs is None else kwargs
    args = () if args is None else args if isinstance(args, tuple) else (args,)
    with _reparametrize(module, parameters_and_buffers, tie_weights, strict):
        return module(*args, **kwargs)


def functional_call(module, parameter_and_buffer_dicts: dict[str, Tensor] | Sequence[dict[str, Tensor]],
                    args: Any = None, kwargs: dict[str, Any] | None = None, *, tie_weights: bool = True,
                    strict: bool = False) -> Any:
    """torch.func.functional_call: ``module(*args, **kwargs)`` with some of its parameters and buffers
    replaced by the given Tensors (dotted names, as ``named_parameters()``), the originals restored
    afterwards (even on an exception). Gradients flow to the given Tensors, so ``grad`` of a loss
    built on it differentiates a params dict. A tuple/list of dicts is merged (a key in two raises
    ValueError). ``tie_weights``: a tied tensor (one object under two names) takes a value given
    for either name. ``strict``: missing or unexpected keys raise RuntimeError. ``args`` that is not
    a tuple is one argument.

    ``module`` is duck-typed as nn.Module (engine does not import nn): ``named_parameters`` and
    ``named_buffers`` (with ``remove_duplicate``), ``_parameters``/``_buffers`` to tell the slots,
    and a call; a parameter slot is written into the module's ``__dict__``, past Module.__setattr__.
    nn.utils.stateless.functional_call is the same (torch's deprecated name).

    >>> import engine
    >>> class Scale:  # what functional_call needs of an nn.Module
    ...     def __init__(self): self.w = engine.tensor(2.0)
    ...     _parameters, _buffers = property(lambda self: {"w": self.w}), {}
    ...     def named_parameters(self, remove_duplicate=True): return [("w", self.w)]
    ...     def named_buffers(self, remove_duplicate=True): return []
    ...     def __call__(self, x): return x * self.w
    >>> m = Scale(); functional_call(m, {"w": engine.tensor(5.0)}, engine.tensor([1.0, 2.0])).tolist(), m.w.item()
    ([5.0, 10.0], 2.0)
    """
    if isinstance(parameter_and_buffer_dicts, dict):
        merged = parameter_and_buffer_dicts
    elif isinstance(parameter_and_buffer_dicts, Sequence) and not isinstance(parameter_and_buffer_dicts, str):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError("Expected all elements of parameter_and_buffer_dicts to be dictionaries")
        counts: dict[str, int] = {}
        for d in parameter_and_buffer_dicts:
            for k in d:
                counts[k] = counts.get(k, 0) + 1
        repeated = [k for k, n in counts.items() if n > 1]
        if repeated:
            raise ValueError(f"{repeated} appeared in multiple dictionaries; behavior of functional call is ambiguous")
        merged = {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}
    else:
        raise ValueError("Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but got "
                         f"{type(parameter_and_buffer_dicts)}")
    return _functional_call(module, merged, args, kwargs, tie_weights=tie_weights, strict=strict)


def _stacked_leaf(tensors: list[Tensor], name: str) -> Tensor:
    requires = [t.requires_grad for t in tensors]
    if any(requires) and not all(requires):
        raise RuntimeError(f"Expected {name} from each model to have the same .requires_grad")
    result = engine.stack(tensors)
    return result.detach().requires_grad_() if all(requires) else result


def stack_module_state(models) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """torch.func.stack_module_state: ``(params, buffers)``, each name's tensors of the ``models`` (one
    class, one train/eval mode) stacked along a new first dimension; the stacked parameters are new
    leaves that require grad (for an optimizer), unrelated to the models'. With ``vmap`` and
    ``functional_call`` it runs an ensemble.

    >>> import engine
    >>> class Affine:  # what stack_module_state needs of an nn.Module (nn.Linear has it)
    ...     training = True
    ...     def __init__(self): self.w = engine.randn(2, 3, requires_grad=True)
    ...     def named_parameters(self): return [("w", self.w)]
    ...     def named_buffers(self): return []
    >>> params, buffers = stack_module_state([Affine(), Affine()])
    >>> params["w"].shape, params["w"].is_leaf, params["w"].requires_grad, buffers
    ((2, 2, 3), True, True, {})
    """
    models = list(models)
    if len(models) == 0:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or all(not m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")
    if not all(type(m) is type(models[0]) for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    all_params = [dict(m.named_parameters()) for m in models]
    params = {k: _stacked_leaf([p[k] for p in all_params], k) for k in all_params[0]}
    all_buffers = [dict(m.named_buffers()) for m in models]
    buffers = {k: _stacked_leaf([b[k] for b in all_buffers], k) for k in all_buffers[0]}
    return params, buffers
