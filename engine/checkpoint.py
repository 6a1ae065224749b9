"""torch.utils.checkpoint: activation checkpointing, which trades compute for memory.

``checkpoint(function, *args)`` runs ``function`` and keeps only its inputs: the output's graph holds one
node for the whole region instead of every intermediate. Backward re-runs ``function`` with grad mode on
(after restoring the RNG state of the forward, so dropout draws the same masks) and backpropagates the
incoming gradients through the recomputed graph. Gradients equal those without checkpointing.

Two variants, as torch's (``use_reentrant``; not passing it warns and picks True, as torch 2.13):

- ``use_reentrant=True``: the forward runs under ``no_grad``; backward recomputes on detached copies of
  the inputs and runs a nested ``backward`` that accumulates straight into the ``.grad`` of the
  parameters used inside. So it works only with a plain ``.backward()`` (``autograd.grad`` or
  ``backward(inputs=...)`` raise RuntimeError, as torch), takes no keyword arguments, warns when no input
  requires grad (the outputs then have no gradient), and gives every floating output a gradient.
- ``use_reentrant=False``: the forward runs with grad mode on and the graph it records is read once, for
  the tensors from outside the region that it uses (inputs, parameters, tensors of an enclosing
  closure), then dropped; those become the region node's inputs. So ``autograd.grad`` reaches
  parameters used inside, keyword arguments and nested output structures (tuple, list, dict) work, and
  ``create_graph=True`` works through a region with one differentiable output. (The region's own
  intermediates live while its forward runs, as without checkpointing, and are freed when it returns;
  the output's ``grad_fn`` is the region's node, "CheckpointBackward", where torch's is the region's last op.)

>>> from engine import Tensor
>>> w = Tensor([2.0], requires_grad=True); x = Tensor([3.0], requires_grad=True)
>>> y = checkpoint(lambda a: (a * w).tanh() * a, x, use_reentrant=False)
>>> y.backward(); [round(v, 6) for v in (x.grad.item(), w.grad.item())]
[1.000135, 0.000221]
"""

from __future__ import annotations

import contextlib
import itertools
import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from engine import amp, higher_order, rng
from engine.backend import array_module
from engine.function import Function as _EngineFunction
from engine.function import _state as _grad_state
from engine.function import enable_grad, is_grad_enabled, name_scope, no_grad
from engine.tensor import Tensor, backpropagate, graph_ref, in_partial_sweep

__all__ = ["CheckpointError", "check_backward_validity", "checkpoint", "checkpoint_sequential", "detach_variable",
           "noop_context_fn"]

_DEFAULT_DETERMINISM_MODE = "default"
_DETERMINISM_CHECKS = ("default", "none")
_REENTRANT_GRAD = ("When use_reentrant=True, torch.utils.checkpoint is incompatible with .grad() or passing an "
                   "`inputs` parameter to .backward(). To resolve this error, you can either set "
                   "use_reentrant=False, or call .backward() without passing the `inputs` argument.")  # torch's words
_markers = itertools.count()


class CheckpointError(RuntimeError):
    """The recomputation differs from the forward (torch.utils.checkpoint.CheckpointError)."""


def noop_context_fn() -> tuple:
    """The default ``context_fn``: two null context managers (forward, recomputation)."""
    return contextlib.nullcontext(), contextlib.nullcontext()


def check_backward_validity(inputs) -> None:
    """Warn, as torch, when no Tensor in ``inputs`` requires grad (a reentrant checkpoint then gives no
    gradient)."""
    if not any(inp.requires_grad for inp in inputs if isinstance(inp, Tensor)):
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None", stacklevel=3)


def detach_variable(inputs: tuple) -> tuple:
    """Each Tensor of the tuple detached, keeping its ``requires_grad`` (other items as they are).

    >>> (d,) = detach_variable((Tensor([1.0], requires_grad=True) * 2,)); d.requires_grad, d.grad_fn is None
    (True, True)
    """
    if not isinstance(inputs, tuple):
        raise RuntimeError(f"Only tuple of tensors is supported. Got Unsupported input type: {type(inputs).__name__}")
    out = []
    for inp in inputs:
        if not isinstance(inp, Tensor):
            out.append(inp)
            continue
        x = inp.detach()
        if inp.requires_grad:
            x.requires_grad_(True)
        out.append(x)
    return tuple(out)


# ---- the RNG and autocast state of the forward, restored around the recomputation --------------------


def _devices(args) -> list[str]:
    """The devices whose RNG state a checkpoint keeps: the CPU always (as torch), and those of the Tensor args."""
    devs = ["cpu"]
    for a in args:
        if isinstance(a, Tensor) and a.device.split(":")[0] not in devs:
            devs.append(a.device.split(":")[0])
    return devs


def _rng_states(devices: list[str]) -> dict:
    return {d: rng._stream(d).bit_generator.state for d in devices}


@contextlib.contextmanager
def _forked_rng(states: dict | None):
    """Run the block with the generators at ``states``, and put back the states they had before after it
    (torch.random.fork_rng): the RNG stream outside the recomputation does not move."""
    if states is None:
        yield
        return
    outside = _rng_states(list(states))
    for d, s in states.items():
        rng._stream(d).bit_generator.state = s
    try:
        yield
    finally:
        for d, s in outside.items():
            rng._stream(d).bit_generator.state = s


@contextlib.contextmanager
def _autocast_as(dtype):
    prev, amp._state.dtype = amp._state.dtype, dtype
    try:
        yield
    finally:
        amp._state.dtype = prev


# ---- outputs: a Tensor, or (non-reentrant) any nesting of tuples, lists and dicts ----------------------


def _flatten(out, nested: bool) -> tuple[list, Callable]:
    """The leaves of ``out`` and a function that rebuilds ``out`` from new leaves. Reentrant: a Tensor or
    a tuple (torch's autograd.Function); non-reentrant: tuples, lists and dicts, nested."""
    if isinstance(out, Tensor):
        return [out], lambda leaves: leaves[0]
    if isinstance(out, tuple) and not nested:
        return list(out), tuple
    if not nested or not isinstance(out, (tuple, list, dict)):
        return [out], lambda leaves: leaves[0]
    items = list(out.values()) if isinstance(out, dict) else list(out)
    parts = [_flatten(v, True) for v in items]
    sizes = [len(p[0]) for p in parts]

    def rebuild(leaves):
        vals, i = [], 0
        for (_, build), n in zip(parts, sizes):
            vals.append(build(leaves[i:i + n]))
            i += n
        if isinstance(out, dict):
            return type(out)(zip(out.keys(), vals))
        return type(out)(*vals) if hasattr(out, "_fields") else type(out)(vals)

    return [x for p in parts for x in p[0]], rebuild


def _differentiable(t) -> bool:
    return isinstance(t, Tensor) and t.dtype.kind in "fc"


def _meta(t: Tensor) -> dict:
    return {"shape": tuple(t.shape), "dtype": t.dtype, "device": t.device}


# ---- the graph node of a checkpointed region -------------------------------------------------------------


class _Grads(dict):
    """The gradients of a region's outputs {output slot: array}, summed over the outputs' nodes (``+`` merges)."""

    # the sweep reads g.dtype.kind to route complex gradients; the region's nested sweep handles its own
    dtype = np.dtype(np.void)

    def __add__(self, other: _Grads) -> _Grads:
        out = _Grads(self)
        for k, v in other.items():
            out[k] = v if k not in out else out[k] + v
        return out


class _CheckpointOut(_EngineFunction):
    """One output of a region with several differentiable outputs: hands its gradient to the region's
    node (its one parent) under its slot."""

    conj_grad = False  # passes gradients on as they are (torch's convention)

    def backward(self, g):
        return (_Grads({self.slot: g}),)


class _Checkpoint(_EngineFunction):
    """The one node of a checkpointed region. Its parents: the Tensor args that require grad (reentrant),
    or every tensor from outside the region that the forward's graph used (non-reentrant)."""

    conj_grad = False  # its nested sweep takes and gives gradients in torch's convention

    def backward(self, g):
        grads = g if isinstance(g, _Grads) else _Grads({self.single: g})
        if self.reentrant:
            return self._reentrant_backward(grads)
        roots, upstream = self._roots(grads, lambda t, a: a.astype(t.dtype, copy=False))
        if not roots:
            return (None,) * len(self.parents)
        keys = [types.SimpleNamespace(_gref=p) for p in self.parents]  # capture/stop at the parents' nodes
        got = backpropagate(roots, upstream, False, capture=keys, stop={id(p) for p in self.parents})
        return tuple(self._as_input_grad(got.get(i), p) for i, p in enumerate(self.parents))

    def _recompute(self, args) -> list:
        """Re-run the region as the forward ran it (RNG, autocast, grad mode on); its flat outputs."""
        with _forked_rng(self.rng_states), _autocast_as(self.amp_dtype), enable_grad(), self.recompute_ctx():
            out = self.function(*args, **self.kwargs)
        flat, _ = _flatten(out, not self.reentrant)
        if self.check:
            _determinism_check(self.metas, flat)
        return flat

    def _roots(self, grads: _Grads, cast) -> tuple[list, list]:
        """The recomputed outputs that reach the graph, and their upstream gradients."""
        flat = self._recompute(self.args)
        roots, upstream = [], []
        for i, g in grads.items():
            t = flat[i] if i < len(flat) else None
            if isinstance(t, Tensor) and t.requires_grad:
                roots.append(t)
                upstream.append(cast(t, g))
        return roots, upstream

    def _reentrant_backward(self, grads: _Grads) -> tuple:
        if in_partial_sweep():
            raise RuntimeError(_REENTRANT_GRAD)
        detached = detach_variable(tuple(self.args))
        flat = self._recompute(detached)
        roots, upstream = [], []
        for i, t in enumerate(flat):
            if isinstance(t, Tensor) and t.requires_grad:
                g = grads.get(i)  # an output no gradient reached gets zeros, as torch's materialized grads
                roots.append(t)
                upstream.append(array_module(t._data).zeros(t.shape, t.dtype) if g is None
                                else g.astype(t.dtype, copy=False))
        if not roots:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is not necessary")
        backpropagate(roots, upstream, False)  # accumulates into the parameters' .grad, as torch's
        out = []
        for d, a in zip(detached, self.args):
            if isinstance(a, Tensor) and a.requires_grad:
                out.append(None if d._grad is None else d._grad._data)
        return tuple(out)

    @staticmethod
    def _as_input_grad(g, p):
        if g is None:
            return None
        if g.dtype != p.dtype:
            g = g.astype(p.dtype)
        if g.shape != p.shape:
            g = array_module(g).broadcast_to(g, p.shape)
        return g

    def free(self) -> None:
        """Drop the inputs kept for the recomputation: a second backward raises, as torch's."""
        self.args, self.kwargs, self.function = (), {}, None
        self.freed = True
        self._versions = ()


def _graph_backward(node, ctx: _Checkpoint, g: Tensor) -> tuple:
    """create_graph=True through a region (engine.higher_order's rule for the region's node). Non-reentrant,
    one differentiable output: the recomputed graph's gradients, recorded. Reentrant: its plain backward,
    whose gradients are constants, as torch's."""
    if ctx.reentrant:  # torch's: the nested backward records no graph (x.grad.requires_grad is False)
        grads = ctx._reentrant_backward(_Grads({ctx.single: g._data}))
        return tuple(None if a is None else Tensor(a) for a in grads)
    if ctx.single is None:
        raise NotImplementedError("checkpoint: create_graph=True through a checkpointed region with several "
                                  "differentiable outputs is not supported")
    roots, upstream = ctx._roots(_Grads({ctx.single: g}), lambda t, a: a.to(t.dtype) if a.dtype != t.dtype else a)
    if not roots:
        return (None,) * len(ctx.parents)
    keys = [types.SimpleNamespace(_gref=p) for p in ctx.parents]
    got = higher_order.sweep(roots, upstream, True, capture=keys, stop=keys)
    return tuple(got.get(i) for i in range(len(ctx.parents)))


def _graph_backward_out(node, ctx, g):
    raise NotImplementedError("checkpoint: create_graph=True through a checkpointed region with several "
                              "differentiable outputs is not supported")


higher_order._RULES["_Checkpoint"] = _graph_backward
higher_order._RULES["_CheckpointOut"] = _graph_backward_out


def _determinism_check(metas: list, flat: list) -> None:
    recomputed = [_meta(t) if isinstance(t, Tensor) else None for t in flat]
    if len(recomputed) != len(metas):
        raise CheckpointError(f"torch.utils.checkpoint: the recomputation returned {len(recomputed)} outputs but the "
                              f"forward pass returned {len(metas)}")
    bad = [(i, m, r) for i, (m, r) in enumerate(zip(metas, recomputed)) if m is not None and m != r]
    if bad:
        lines = "".join(f"tensor at position {i}:\nsaved metadata: {m}\nrecomputed metadata: {r}\n" for i, m, r in bad)
        raise CheckpointError("torch.utils.checkpoint: Recomputed values for the following tensors have different "
                              "metadata than during the forward pass.\n" + lines)


def _node(fn: _EngineFunction, parents: list, versions: list) -> _EngineFunction:
    """Fill in what Function.apply would for a recorded op (the region's node is built by hand: its parents
    are not the args of one call)."""
    fn.xp, fn.saved, fn.freed, fn.scope = None, (), False, _grad_state.scope
    fn.parents = tuple(parents)
    fn.needs_input_grad = (True,) * len(parents)
    fn._versions = versions
    return fn


def _attach(flat: list, diff: list[int], region: _Checkpoint) -> list:
    """New output Tensors for the slots in ``diff`` (the same arrays), in the graph behind ``region``: the
    one output is its node; several hang on a hidden hub Tensor, one _CheckpointOut node each."""
    out = list(flat)
    region.single = diff[0] if len(diff) == 1 else None
    region.xp = xp = array_module(flat[diff[0]]._data)
    if len(diff) == 1:
        t = Tensor(flat[diff[0]]._data, requires_grad=True)
        t._ctx = region
        out[diff[0]] = t
        return out
    hub = Tensor(xp.zeros((), flat[diff[0]].dtype), requires_grad=True)
    hub._ctx = region
    hub_ref = graph_ref(hub)
    for i in diff:
        t = Tensor(flat[i]._data, requires_grad=True)
        node = _node(_CheckpointOut(), [hub_ref], [])
        node.slot, node.xp = i, xp
        t._ctx = node
        out[i] = t
    return out


def _region(function, args, kwargs, reentrant: bool, recompute_ctx, check: bool, preserve: bool,
            states: dict | None, amp_dtype) -> _Checkpoint:
    region = _Checkpoint()
    region.function, region.args, region.kwargs = function, tuple(args), dict(kwargs)
    region.reentrant, region.check, region.recompute_ctx = reentrant, check, recompute_ctx
    region.rng_states = states if preserve else None
    region.amp_dtype = amp_dtype
    return region


def _versions(args) -> list:
    """The Tensor args' version counters: an in-place change before backward raises torch's error."""
    return [(a._vc, a._vc[0], a.shape, a.dtype) for a in args if isinstance(a, Tensor)]


def _external(roots: list[Tensor], marker: str) -> list:
    """The graph nodes from outside the region (the scope of its ops holds ``marker``) that the region's
    outputs depend on: the args and parameters it used, tensors of an enclosing graph. In first-use order."""
    found, seen = [], set()
    stack = [graph_ref(t) for t in reversed(roots)]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        ctx = node._ctx
        if ctx is None or marker not in ctx.scope:
            found.append(node)
            continue
        for parent, need in reversed(list(zip(ctx.parents, ctx.needs_input_grad))):
            if need and id(parent) not in seen:
                stack.append(parent)
    return found


def checkpoint(function: Callable, *args, use_reentrant: bool | None = None,
               context_fn: Callable[[], tuple] = noop_context_fn, determinism_check: str = _DEFAULT_DETERMINISM_MODE,
               debug: bool = False, early_stop: bool = True, **kwargs) -> Any:
    """Run ``function(*args, **kwargs)`` keeping only its inputs; backward recomputes it (torch.utils.checkpoint).

    ``use_reentrant`` picks the variant (see the module's doc; None warns and means True, as torch 2.13).
    ``preserve_rng_state`` (a keyword, default True) restores the forward's RNG state for the recomputation.
    ``context_fn`` returns two context managers, for the forward and the recomputation (non-reentrant only);
    ``determinism_check`` ("default" or "none") compares the recomputed outputs' shapes, dtypes and devices
    with the forward's; ``debug`` and ``early_stop`` are accepted (the recomputation always runs whole).

    >>> import engine
    >>> x = engine.tensor([1.0, 2.0], requires_grad=True)
    >>> y = checkpoint(lambda a: (a * a).sum(), x, use_reentrant=True)
    >>> y.backward(); x.grad.tolist(), y.grad_fn.name()
    ([2.0, 4.0], 'CheckpointFunctionBackward')
    """
    if use_reentrant is None:
        warnings.warn("torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. Starting in "
                      "PyTorch 2.9, calling checkpoint without use_reentrant will raise an exception. "
                      "use_reentrant=False is recommended, but if you need to preserve the current default behavior, "
                      "you can pass use_reentrant=True. Refer to docs for more details on the differences between "
                      "the two variants.", stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs and use_reentrant:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
    if use_reentrant:
        if context_fn is not noop_context_fn or debug is not False:
            raise ValueError("Passing `context_fn` or `debug` is only supported when use_reentrant=False.")
        return _reentrant(function, preserve, args)
    return _non_reentrant(function, preserve, context_fn, determinism_check, debug, args, kwargs)


def _reentrant(function, preserve: bool, args: tuple):
    check_backward_validity(args)
    states = _rng_states(_devices(args)) if preserve else None
    amp_dtype = amp.autocast_dtype()
    with no_grad():
        out = function(*args)
    wanted = [a for a in args if isinstance(a, Tensor) and a.requires_grad]
    if not is_grad_enabled() or not wanted:
        return out
    flat, rebuild = _flatten(out, False)
    diff = [i for i, t in enumerate(flat) if _differentiable(t)]
    if not diff:
        return out
    region = _region(function, args, {}, True, contextlib.nullcontext, False, preserve, states, amp_dtype)
    _node(region, [graph_ref(a) for a in wanted], _versions(args))
    region.torch_name = "CheckpointFunctionBackward"
    return rebuild(_attach(flat, diff, region))


def _non_reentrant(function, preserve: bool, context_fn, determinism_check: str, debug: bool, args: tuple,
                   kwargs: dict):
    if determinism_check not in _DETERMINISM_CHECKS:
        raise ValueError(f"determinism_check should be one of {list(_DETERMINISM_CHECKS)}, but got "
                         f"{determinism_check}")
    forward_ctx, _ = context_fn()
    states = _rng_states(_devices(args)) if preserve else None
    amp_dtype = amp.autocast_dtype()
    if not is_grad_enabled():
        with forward_ctx:
            return function(*args, **kwargs)
    marker = f"<checkpoint {next(_markers)}>"
    with forward_ctx, name_scope(marker):  # grad mode on: its graph tells which outside tensors the region uses
        out = function(*args, **kwargs)
    flat, rebuild = _flatten(out, True)
    diff = [i for i, t in enumerate(flat) if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        return out
    parents = _external([flat[i] for i in diff], marker)
    region = _region(function, args, kwargs, False, lambda: context_fn()[1], determinism_check == "default",
                     preserve, states, amp_dtype)
    region.metas = [_meta(t) if isinstance(t, Tensor) else None for t in flat]
    _node(region, parents, _versions(args))
    region.torch_name = "CheckpointBackward"
    del out
    return rebuild(_attach(flat, diff, region))  # flat's own graph goes with the last reference to it


def checkpoint_sequential(functions, segments: int, input: Tensor, use_reentrant: bool | None = None,
                          **kwargs) -> Tensor:
    """Run ``functions`` (an nn.Sequential, or a list of modules or functions) in order on ``input``, as
    ``segments`` chunks of which all but the last are checkpointed (torch.utils.checkpoint.checkpoint_sequential).

    >>> import engine
    >>> x = engine.tensor([1.0, 2.0], requires_grad=True)
    >>> y = checkpoint_sequential([lambda a: a * 3, lambda a: a.exp(), lambda a: a.sum()], 2, x, use_reentrant=False)
    >>> y.backward(); [round(g, 2) for g in x.grad.tolist()]
    [60.26, 1210.29]
    """
    if use_reentrant is None:
        warnings.warn("torch.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should be passed "
                      "explicitly. In version 2.9 we will raise an exception if use_reentrant is not passed. "
                      "use_reentrant=False is recommended, but if you need to preserve the current default behavior, "
                      "you can pass use_reentrant=True. Refer to docs for more details on the differences between "
                      "the two variants.", stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))

    def run_function(start, end, functions):
        def forward(input):
            for j in range(start, end + 1):
                input = functions[j](input)
            return input

        return forward

    if type(functions).__name__ == "Sequential" and hasattr(functions, "children"):  # nn.Sequential, duck-typed
        functions = list(functions.children())
    segment_size = len(functions) // segments
    end = -1  # the last chunk is not checkpointed
    for start in range(0, segment_size * (segments - 1), segment_size):
        end = start + segment_size - 1
        input = checkpoint(run_function(start, end, functions), input, use_reentrant=use_reentrant,
                           preserve_rng_state=preserve)
    return run_function(end + 1, len(functions) - 1, functions)(input)
