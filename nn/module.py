"""`Module`, `Parameter` and the containers: the bookkeeping of layers, not their math.

Names follow torch.nn.Module: ``named_parameters``, ``named_buffers``, ``state_dict`` keys,
``load_state_dict`` (returning ``missing_keys``/``unexpected_keys``), hooks and ``repr``.
"""

from __future__ import annotations

import itertools
import operator
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np

from engine import SparseTensor, Tensor, name_scope, no_grad
from engine.backend import GPU_HELP, check_device, device_of, get_xp, gpu_available, to_device, to_numpy
from engine.dtypes import to_dtype
from engine.ops.hooks import GradTap


class Parameter(Tensor):
    """A Tensor that a Module owns and an optimizer updates (requires_grad by default).

    >>> p = Parameter(np.zeros(3, dtype=np.float32)); p.requires_grad
    True
    """

    def __init__(self, data: Any = None, requires_grad: bool = True):
        if data is None:
            data = np.zeros((0,), dtype=np.float32)
        super().__init__(data._data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        out = Parameter(self._data.copy(), requires_grad=self.requires_grad)
        memo[id(self)] = out
        return out


class UninitializedParameter(Parameter):
    """torch.nn.UninitializedParameter: a lazy module's parameter before its first forward, its shape
    not known yet. ``materialize(shape)`` gives it storage (uninitialized values) and makes it a plain
    Parameter; reading its shape before then raises, as torch.

    >>> p = UninitializedParameter(); p.materialize((2, 3)); type(p).__name__, p.shape
    ('Parameter', (2, 3))
    """

    def __init__(self, requires_grad: bool = True, device=None, dtype=None):
        super().__init__(Tensor.zeros(0, dtype=dtype or "float32", device=device or "cpu"), requires_grad)

    @property
    def shape(self) -> tuple:
        raise RuntimeError("Can't access the shape of an uninitialized parameter or buffer. This error usually "
                           "happens in `load_state_dict` when trying to load an uninitialized parameter into an "
                           "initialized one. Call `forward` to initialize the parameters before accessing their "
                           "attributes.")

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Storage of ``shape`` (values unset) in the parameter's dtype and device; it becomes a Parameter."""
        from engine.backend import get_xp

        xp = get_xp(device or self.device)
        self._data = xp.empty(tuple(shape), dtype=dtype or self._data.dtype)
        self.__class__ = Parameter

    def __repr__(self) -> str:
        return "<UninitializedParameter>"

    def __deepcopy__(self, memo):
        out = UninitializedParameter(self.requires_grad, self.device, self._data.dtype)
        memo[id(self)] = out
        return out


class UninitializedBuffer(Tensor):
    """torch.nn.UninitializedBuffer: a lazy module's buffer (LazyBatchNorm's running statistics) before
    its first forward. ``materialize(shape)`` gives it storage (values unset) and makes it a Tensor.

    >>> b = UninitializedBuffer(); b.materialize((3,)); type(b).__name__, b.shape
    ('Tensor', (3,))
    """

    __slots__ = ()

    def __init__(self, requires_grad: bool = False, device=None, dtype=None):
        super().__init__(Tensor.zeros(0, dtype=dtype or "float32", device=device or "cpu")._data,
                         requires_grad=requires_grad)

    shape = UninitializedParameter.shape

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Storage of ``shape`` (values unset) in the buffer's dtype and device; it becomes a Tensor."""
        from engine.backend import get_xp

        xp = get_xp(device or self.device)
        self._data = xp.empty(tuple(shape), dtype=dtype or self._data.dtype)
        self.__class__ = Tensor

    def __repr__(self) -> str:
        return "<UninitializedBuffer>"

    def __deepcopy__(self, memo):
        out = UninitializedBuffer(self.requires_grad, self.device, self._data.dtype)
        memo[id(self)] = out
        return out


class Buffer(Tensor):
    """torch.nn.Buffer: a tensor that, assigned to a Module attribute, becomes a buffer (as
    ``register_buffer``); ``persistent=False`` keeps it out of ``state_dict``. The data is detached.

    >>> import nn
    >>> m = nn.Module(); m.table = Buffer(np.ones(2, dtype=np.float32), persistent=False)
    >>> list(dict(m.named_buffers())), list(m.state_dict())
    (['table'], [])
    """

    __slots__ = ("persistent",)

    def __init__(self, data: Any = None, *, persistent: bool = True):
        if data is None:
            data = np.zeros((0,), dtype=np.float32)
        requires_grad = data.requires_grad if isinstance(data, Tensor) else False
        super().__init__(data._data if isinstance(data, Tensor) else data, requires_grad=requires_grad)
        self.persistent = bool(persistent)


class _NextableList(list):
    """A list that is also its own iterator: ``next(m.parameters())`` gives the first parameter as
    torch's generator does, while ``for`` loops and indexing see an ordinary list."""

    _next = 0

    def __next__(self):
        if self._next >= len(self):
            raise StopIteration
        self._next += 1
        return self[self._next - 1]


class _IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns, as torch's ``_IncompatibleKeys``."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"


class RemovableHandle:
    """Returned by ``register_*_hook``; ``remove()`` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks: dict, flags=()):
        self._hooks, self._flags = hooks, flags
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)
        for f in self._flags:
            f.discard(self.id)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _addindent(s: str, n: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


_calling: list = []  # the modules whose __call__ is running, innermost last
_tree_version = 0  # bumped whenever a module is assigned anywhere: cached paths are then rebuilt


def _path_from_caller(module: Module) -> tuple[str, ...]:
    """``module``'s path below the module now running its forward (there is one), or its class name
    when that module does not hold it (a module called from another one's forward)."""
    caller = _calling[-1]
    cache = caller.__dict__.get("_subpaths")
    if cache is None or cache[0] != _tree_version or cache[1] != id(caller):  # a deepcopy carries the cache
        paths = {id(m): tuple(n.split(".")) for n, m in caller.named_modules() if n}
        cache = caller.__dict__["_subpaths"] = (_tree_version, id(caller), paths)
    return cache[2].get(id(module)) or (type(module).__name__,)


class Module:
    """Base class of layers. Parameters, buffers and sub-modules are found from attributes, in
    the order they were assigned, so names are stable: ``h.0.attn.c_attn.weight``.

    >>> class Affine(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = Parameter(np.ones(2, dtype=np.float32))
    ...     def forward(self, x):
    ...         return x * self.w
    >>> [n for n, _ in Affine().named_parameters()]
    ['w']
    """

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_parameter_names", set())  # names registered as parameters (None included)
        object.__setattr__(self, "_module_names", set())  # and as sub-modules
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_pre_hooks", OrderedDict())
        # handle ids registered with with_kwargs / always_call (torch's attribute names)
        object.__setattr__(self, "_forward_pre_hooks_with_kwargs", set())
        object.__setattr__(self, "_forward_hooks_with_kwargs", set())
        object.__setattr__(self, "_forward_hooks_always_called", set())
        # state_dict / load_state_dict hooks (torch's attribute names)
        object.__setattr__(self, "_state_dict_pre_hooks", OrderedDict())
        object.__setattr__(self, "_state_dict_hooks", OrderedDict())
        object.__setattr__(self, "_load_state_dict_pre_hooks", OrderedDict())
        object.__setattr__(self, "_load_state_dict_post_hooks", OrderedDict())

    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        # Ops recorded inside carry the module's path, as named_modules() spells it ("transformer",
        # "h", "3", "attn"), so that engine.draw groups the graph by layer and folds repeated blocks.
        # The path is relative to the module whose forward calls this one (containers such as
        # ModuleDict are never called themselves); the outermost module adds none.
        path = _path_from_caller(self) if _calling else ()
        _calling.append(self)
        try:
            if not path:
                return self._call(args, kwargs)
            with name_scope(path):
                return self._call(args, kwargs)
        finally:
            _calling.pop()

    def _call(self, args: tuple, kwargs: dict):
        if not (self._forward_pre_hooks or self._forward_hooks or self._backward_hooks
                or getattr(self, "_backward_pre_hooks", None)):
            return self.forward(*args, **kwargs)  # no hooks (the usual case): skip their bookkeeping
        with_kw = getattr(self, "_forward_hooks_with_kwargs", ())
        always = getattr(self, "_forward_hooks_always_called", ())
        called: set = set()
        state = None
        try:
            args, kwargs = self._run_forward_pre_hooks(args, kwargs)
            if self._backward_hooks:
                args, state = self._hook_inputs(args)
            out = self.forward(*args, **kwargs)
            for hid, hook in list(self._forward_hooks.items()):
                called.add(hid)
                res = hook(self, args, kwargs, out) if hid in with_kw else hook(self, args, out)
                if res is not None:
                    out = res
        except Exception:
            # torch: hooks registered with always_call run even when a pre-hook, forward or a hook
            # raised, with output None; an error inside them is only a warning, the first error propagates.
            for hid, hook in list(self._forward_hooks.items()):
                if hid in always and hid not in called:
                    try:
                        hook(self, args, kwargs, None) if hid in with_kw else hook(self, args, None)
                    except Exception as e:
                        warnings.warn("module forward hook with ``always_call=True`` raised an exception that "
                                      f"was silenced as another error was raised in forward: {e}", stacklevel=2)
            raise
        if state is not None and isinstance(out, Tensor) and out.requires_grad:
            out = GradTap.apply(out, on_grad=state.output_grad)
        pre = getattr(self, "_backward_pre_hooks", None)
        if pre and isinstance(out, Tensor) and out.requires_grad:
            # applied last, so backward reaches it first: torch runs pre-hooks before full hooks
            out = GradTap.apply(out, on_grad=self._backward_pre_caller(list(pre.values())))
        return out

    def _run_forward_pre_hooks(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        pre_kw = getattr(self, "_forward_pre_hooks_with_kwargs", ())
        for hid, hook in list(self._forward_pre_hooks.items()):
            if hid in pre_kw:  # hook(module, args, kwargs) -> None or (args, kwargs)
                res = hook(self, args, kwargs)
                if res is not None:
                    if not (isinstance(res, tuple) and len(res) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                                           f"but got {res}.")
                    args, kwargs = res
            else:
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        return args, kwargs

    def _hook_inputs(self, args):
        from engine import is_grad_enabled
        from nn._hooks import _HookState

        if not is_grad_enabled():
            return args, None
        waiting = {i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad}
        state = _HookState(self, list(self._backward_hooks.values()), len(args), waiting)
        args = tuple(GradTap.apply(a, on_grad=state.input_grad(i)) if i in waiting else a
                     for i, a in enumerate(args))
        return args, state

    # ---- attributes: parameters, buffers and sub-modules follow assignment -----------------------
    # Parameters and sub-modules live in __dict__ like any attribute; the names registered as one or
    # the other are remembered, so that (as in torch) ``m.bias = None`` keeps ``bias`` a parameter slot
    # and a later ``m.bias = Tensor(...)`` is refused.
    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        buffers = d.get("_buffers")
        if isinstance(value, Parameter):
            if buffers is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            if "." in name:  # torch registers it through register_parameter's checks
                raise KeyError('parameter name can\'t contain "."')
            if name == "":
                raise KeyError('parameter name can\'t be empty string ""')
            if isinstance(getattr(type(self), name, None), property):  # e.g. a parametrized tensor
                raise KeyError(f"attribute '{name}' already exists")
            self._forget_name(name)  # a buffer or module of that name stops being one (torch)
            d.setdefault("_parameter_names", set()).add(name)
        elif name in d.get("_parameter_names", ()):
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as parameter '{name}' "
                                "(nn.Parameter or None expected)")
        elif isinstance(value, Module):
            if buffers is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget_name(name)
            d.setdefault("_module_names", set()).add(name)
            global _tree_version
            _tree_version += 1  # the cached submodule paths of every module are stale
        elif name in d.get("_module_names", ()):
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as child module '{name}' "
                                "(nn.Module or None expected)")
        elif isinstance(value, Buffer):  # torch: registered as register_buffer would, with its persistence
            if buffers is None:
                raise AttributeError("cannot assign buffer before Module.__init__() call")
            self.register_buffer(name, value, value.persistent)
            return
        elif buffers is not None and name in buffers:
            if value is not None and not isinstance(value, (Tensor, SparseTensor)):
                raise TypeError(f"cannot assign '{_typename(value)}' as buffer '{name}' (Tensor or None expected)")
            buffers[name] = value
        object.__setattr__(self, name, value)

    def _forget_name(self, name: str) -> None:
        """Drop ``name`` from every registry (parameter, module, buffer), before it is registered anew."""
        d = self.__dict__
        for registry in ("_parameter_names", "_module_names", "_non_persistent_buffers_set"):
            d.get(registry, set()).discard(name)
        d.get("_buffers", {}).pop(name, None)

    def __delattr__(self, name: str) -> None:
        self._forget_name(name)
        object.__delattr__(self, name)

    def _check_new_name(self, kind: str, name: Any, registry: Any) -> None:
        """torch's checks, in torch's order, of a name given to register_parameter/register_buffer
        ("parameter", "buffer") or add_module ("module"); ``registry`` holds the names already of
        that kind, which may be registered again."""
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {_typename(name)}")
        taken = hasattr(self, name) and name not in registry
        if kind == "module" and taken:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}' if kind == "module"
                           else f'{kind} name can\'t contain "."')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if taken:
            raise KeyError(f"attribute '{name}' already exists")

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """A tensor that is not trained but moves with ``to()``; saved in ``state_dict`` when
        ``persistent`` (torch's BatchNorm running statistics), not saved otherwise (a sinusoid table)."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_new_name("buffer", name, self._buffers)
        if tensor is not None and not isinstance(tensor, (Tensor, SparseTensor)):  # sparse: a GCN's adjacency
            raise TypeError(f"cannot assign '{_typename(tensor)}' object to buffer '{name}' "
                            "(Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)
        object.__setattr__(self, name, tensor)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_new_name("parameter", name, self.__dict__.get("_parameter_names", set()))
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                            "(nn.Parameter or None required)")
        self.__dict__.setdefault("_parameter_names", set()).add(name)
        object.__setattr__(self, name, param)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign module before Module.__init__() call")
        self._check_new_name("module", name, self.__dict__.get("_module_names", set()))
        self.__dict__.setdefault("_module_names", set()).add(name)
        global _tree_version
        _tree_version += 1
        object.__setattr__(self, name, module)

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The module at the dotted path ``target`` ("" is this one); errors name the missing part."""
        mod = self
        for item in target.split(".") if target else []:
            if not hasattr(mod, item):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def set_submodule(self, target: str, module: Module, strict: bool = False) -> None:
        """Put ``module`` at the dotted path ``target`` ("block.0.attn"), as torch; with ``strict``
        the last name must already hold a submodule.

        >>> m = Module(); m.set_submodule("head", Module()); type(m.head).__name__
        'Module'
        """
        if not target:
            raise ValueError("Cannot set the submodule without a target name!")
        parent_path, _, name = target.rpartition(".")
        parent = self.get_submodule(parent_path)
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        if strict and not isinstance(getattr(parent, name, None), Module):
            raise AttributeError(f"{type(parent).__name__} has no submodule `{name}`")
        setattr(parent, name, module)

    def _get_attribute(self, target: str) -> tuple[Module, str, Any]:
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        return mod, name, getattr(mod, name)

    def get_parameter(self, target: str) -> Parameter:
        _, name, p = self._get_attribute(target)
        if not isinstance(p, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return p

    def get_buffer(self, target: str) -> Tensor:
        mod, name, buf = self._get_attribute(target)
        if name not in mod._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return buf

    # ---- traversal --------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, value in list(vars(self).items()):
            if isinstance(value, Module) and id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def children(self) -> Iterator[Module]:
        return (m for _, m in self.named_children())

    def _own_children(self) -> list[tuple[str, Module]]:
        return [(n, v) for n, v in vars(self).items() if isinstance(v, Module)]

    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """Every module below (and including) this one, depth first. Iterative.
        A module registered in two places is listed once, unless ``remove_duplicate=False``."""
        if isinstance(memo, str):  # the old positional order was (prefix, remove_duplicate)
            memo, prefix = None, memo
        seen: set[int] = set() if memo is None else memo
        stack = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if remove_duplicate:
                if id(mod) in seen:
                    continue
                seen.add(id(mod))
            yield name, mod
            kids = [(f"{name}.{n}" if name else n, m) for n, m in mod._own_children()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        return (m for _, m in self.named_modules())

    def _named_members(self, get, prefix: str, recurse: bool, remove_duplicate: bool):
        seen: set[int] = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for name, value in get(mod):
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{mod_name}.{name}" if mod_name else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs; a tied parameter appears once, under its first name,
        unless ``remove_duplicate=False`` (then under every name, shared sub-modules included)."""
        return self._named_members(_own_parameters, prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> list[Parameter]:
        """A list (code here reuses it) that ``next()`` also steps through, as torch's generator."""
        return _NextableList(p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members(lambda m: list(m._buffers.items()), prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> list[Tensor]:
        return _NextableList(b for _, b in self.named_buffers(recurse=recurse))

    @property
    def _parameters(self) -> OrderedDict:
        """A snapshot of torch's ``_parameters``: this module's own parameter slots (None included)."""
        names = self.__dict__.get("_parameter_names", ())
        return OrderedDict((n, v) for n, v in vars(self).items() if isinstance(v, Parameter) or n in names)

    @property
    def _modules(self) -> OrderedDict:
        """A snapshot of torch's ``_modules``: this module's own children (None slots included)."""
        names = self.__dict__.get("_module_names", ())
        return OrderedDict((n, v) for n, v in vars(self).items() if isinstance(v, Module) or n in names)

    def num_parameters(self, exclude: tuple[str, ...] = ()) -> int:
        """Total parameter count (tied ones counted once), minus any named in ``exclude``."""
        return sum(p.numel() for n, p in self.named_parameters() if n not in exclude)

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every sub-module (children first, in order, each child's own subtree
        before the next child) and then on this module, as torch. A module held in two places is
        visited twice, as torch's recursion does. Iterative (post-order with a stack)."""
        stack: list[tuple[Module, bool]] = [(self, False)]
        while stack:
            mod, children_done = stack.pop()
            if children_done:
                fn(mod)
                continue
            stack.append((mod, True))
            stack.extend((child, False) for child in reversed(list(mod.children())))
        return self

    # ---- hooks ------------------------------------------------------------------------------------
    def _add_hook(self, hooks: dict, hook: Callable, prepend: bool, flags=()) -> RemovableHandle:
        handle = RemovableHandle(hooks, flags)
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        for f in flags:
            f.add(handle.id)
        return handle

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args)`` runs before forward; it may return new args (a tuple or one value).
        With ``with_kwargs``: ``hook(module, args, kwargs)`` returning None or ``(args, kwargs)``.
        ``prepend`` runs it before the hooks already registered.

        >>> lin = Module(); h = lin.register_forward_pre_hook(lambda m, a: None, prepend=True); h.remove()
        """
        return self._add_hook(self._forward_pre_hooks, hook, prepend,
                              (self._forward_pre_hooks_with_kwargs,) if with_kwargs else ())

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """``hook(module, args, output)`` runs after forward; it may return a replacement output.
        ``with_kwargs``: ``hook(module, args, kwargs, output)``; ``always_call``: it also runs (with
        output None) when forward raises; ``prepend``: before the hooks already registered."""
        flags = ((self._forward_hooks_with_kwargs,) if with_kwargs else ()) + (
            (self._forward_hooks_always_called,) if always_call else ())
        return self._add_hook(self._forward_hooks, hook, prepend, flags)

    def register_full_backward_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` runs when the gradient of the module's output
        is computed. Here ``grad_input`` holds the gradients of the tensor inputs that require grad
        (None for the others) once backward reaches them; ``grad_output`` those of the outputs.
        The hook must return None (replacing gradients is not supported)."""
        return self._add_hook(self._backward_hooks, hook, prepend)

    def register_full_backward_pre_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_output)`` runs when the gradient of the module's output is known,
        before the gradients of its inputs are computed (and before full backward hooks). It must
        return None (replacing gradients is not supported)."""
        return self._add_hook(self._backward_pre_hooks, hook, prepend)

    def _backward_pre_caller(self, hooks: list):
        def on_grad(g):
            # torch: a pre-hook may return a new grad_output, which the next hook and backward then see
            graph = isinstance(g, Tensor)  # a create_graph sweep's gradient: what the hooks return stays in it
            grad_output, replaced = (g if graph else Tensor(g),), False
            for hook in hooks:
                res = hook(self, grad_output)
                if res is not None:
                    grad_output = tuple(res) if isinstance(res, (tuple, list)) else (res,)
                    replaced = True
            if not replaced:
                return None
            new = grad_output[0]
            return new._data if isinstance(new, Tensor) and not graph else new

        return on_grad

    # ---- modes and devices --------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif getattr(p.grad, "is_sparse", False) is True:  # a sparse=True embedding's: no entries left
                p.grad.zero_()
            elif p.grad is not None:
                p.grad._data[...] = 0

    def _apply(self, fn, recurse: bool = True) -> Module:
        """Replace the array of every parameter (and its grad) and buffer by ``fn(array)``, in place:
        the Parameter objects are kept, so optimizers and tied weights still point at them.
        ``recurse=False``: this module's own parameters and buffers only."""
        for p in self.parameters(recurse=recurse):
            p._data = fn(p._data)
            if p.grad is not None:
                p.grad._data = fn(p.grad._data)
        for m in self.modules() if recurse else [self]:
            for name, buf in list(m._buffers.items()):
                if buf is None:
                    continue
                moved = _apply_sparse(fn, buf) if type(buf) is SparseTensor else Tensor(fn(buf._data))
                m._buffers[name] = moved
                object.__setattr__(m, name, moved)
        return self

    def to(self, *args, **kwargs) -> Module:
        """Move (``device``) and/or cast floating-point entries (``dtype``) of every parameter and
        buffer in place (Parameter objects are kept): ``m.to("gpu")``, ``m.to(np.float64)``,
        ``m.to(device="cpu", dtype="float64")``."""
        device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, str) and not _is_dtype_name(a):
                device = a
            else:
                dtype = a
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.kind not in "fc":
                raise TypeError(f"nn.Module.to only accepts floating point or complex dtypes, but got desired "
                                f"dtype={dtype}")
            if dtype.kind == "c":  # torch's words
                warnings.warn("Complex modules are a new feature under active development whose design may change, "
                              "and some modules might not work as expected when using complex tensors as parameters "
                              "or buffers.", UserWarning, stacklevel=2)
            # torch casts floating and complex entries (complex to real drops the imaginary part)
            self._apply(lambda a: a.astype(dtype, copy=False) if a.dtype.kind in "fc" and a.dtype != dtype
                        else a)
        if device is not None:
            device = check_device(device)
            get_xp(device)  # helpful error when the GPU is missing
            self._apply(lambda a: to_device(a, device))
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self, device: int | str | None = None) -> Module:
        """Move every parameter and buffer to the GPU in place, as ``to("cuda")``: the engine drives
        one GPU, "gpu" (``device`` may be None, 0, "cuda" or "cuda:0"). Without CuPy and a CUDA
        device it raises RuntimeError ("No CUDA GPUs are available", with how to install CuPy).
        Example: ``model = GPT(config).cuda()``."""
        if device is not None and not isinstance(device, str) and operator.index(device) != 0:
            raise RuntimeError(f"Module.cuda: invalid device ordinal {device}: the engine drives one GPU (0)")
        if device is not None and isinstance(device, str):
            check_device(device)
        if not gpu_available():
            raise RuntimeError(f"No CUDA GPUs are available. {GPU_HELP}")
        return self.to("gpu")

    def type(self, dst_type) -> Module:
        """Cast every parameter and buffer, integer buffers included (torch's ``Module.type``), to
        ``dst_type``: a dtype (``engine.float64``, np.float64, "float64") or a legacy tensor type name
        ("torch.DoubleTensor").

        >>> from nn import BatchNorm1d
        >>> BatchNorm1d(2).type("torch.DoubleTensor").num_batches_tracked.dtype
        dtype('float64')
        """
        name = getattr(dst_type, "__name__", dst_type)  # torch.FloatTensor, the class, prints as FloatTensor
        if isinstance(name, str) and name.removeprefix("torch.") in _LEGACY_TENSOR_TYPES:
            dtype = np.dtype(_LEGACY_TENSOR_TYPES[name.removeprefix("torch.")])
        else:
            dtype = to_dtype(dst_type)
        if dtype.kind != "f" and any(p.requires_grad for p in self.parameters()):
            raise RuntimeError("data set to a tensor that requires gradients must be floating point or complex dtype")
        return self._apply(lambda a: a.astype(dtype, copy=False))

    def bfloat16(self) -> Module:
        """Not available: NumPy and CuPy have no bfloat16 dtype. Raises TypeError; ``half()`` (float16)
        is the nearest, or ``nn.amp.autocast`` for mixed precision."""
        raise TypeError("Module.bfloat16: NumPy and CuPy have no bfloat16 dtype; use half() (float16) or float()")

    def share_memory(self) -> Module:
        """torch moves the storages to shared memory for torch.multiprocessing; the engine's arrays
        are plain NumPy ones, so this returns the module unchanged.

        >>> m = Module(); m.share_memory() is m
        True
        """
        return self

    def to_empty(self, *, device, recurse: bool = True) -> Module:
        """Give every parameter and buffer (this module's own only when ``recurse`` is False) fresh,
        uninitialized storage of the same shape and dtype on ``device``, in place; torch uses it to
        materialize a model built on the "meta" device. Then initialize it (``reset_parameters``).

        >>> from nn import Linear
        >>> m = Linear(2, 3); w = m.weight; m.to_empty(device="cpu").weight is w
        True
        """
        device = check_device(device)
        xp = get_xp(device)
        return self._apply(lambda a: xp.empty(a.shape, dtype=a.dtype), recurse=recurse)

    def compile(self, *args, **kwargs) -> None:
        """torch compiles this module's forward in place and returns None; the engine runs eagerly,
        so this does nothing (and returns None, as torch): ``model.compile()`` in torch code runs.

        >>> Module().compile(mode="max-autotune") is None
        True
        """
        return None

    def astype(self, dtype) -> Module:
        """Cast every floating-point parameter and buffer to ``dtype`` in place, e.g. float64 for
        gradcheck (like torch's ``module.double()``). Integer buffers are left alone.

        >>> from nn import Linear
        >>> Linear(2, 3).astype("float64").weight.dtype
        dtype('float64')
        """
        dtype = np.dtype(dtype)
        if dtype.kind not in "fc":
            raise TypeError(f"Module.astype casts to a floating-point or complex dtype, got {dtype}")
        return self._apply(lambda a: a.astype(dtype, copy=False) if a.dtype.kind == "f" else a)

    def double(self) -> Module:
        return self.astype(np.float64)

    def float(self) -> Module:
        return self.astype(np.float32)

    def half(self) -> Module:
        return self.astype(np.float16)

    @property
    def device(self) -> str:
        ps = self.parameters()
        return ps[0].device if ps else "cpu"

    # ---- state --------------------------------------------------------------------------------
    def _state_items(self, extra_state: bool = False) -> Iterator[tuple[str, Any]]:
        """(key, tensor) in torch's state_dict order: a module's parameters, then its persistent
        buffers, then its children's, depth first. Shared entries appear under every name. With
        ``extra_state``, a module that overrides ``get_extra_state`` also gives ("..._extra_state",
        the module) after its buffers."""
        for mod_name, mod in self.named_modules(remove_duplicate=False):
            pre = f"{mod_name}." if mod_name else ""
            for name, p in _own_parameters(mod):
                if p is not None:
                    yield pre + name, p
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent_buffers_set:
                    yield pre + name, b
            if extra_state and type(mod).get_extra_state is not Module.get_extra_state:
                yield pre + "_extra_state", mod

    def _named_modules_post_order(self) -> Iterator[tuple[str, Module]]:
        """(name, module), every child's subtree before its parent (torch's order for the hooks run
        after a module's state is saved or loaded)."""
        stack: list[tuple[str, Module, bool]] = [("", self, False)]
        while stack:
            name, mod, children_done = stack.pop()
            if children_done:
                yield name, mod
                continue
            stack.append((name, mod, True))
            stack.extend((f"{name}.{n}" if name else n, m, False) for n, m in reversed(mod._own_children()))

    def get_extra_state(self) -> Any:
        """Override (with ``set_extra_state``) to save any picklable object under "_extra_state"."""
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be called.")

    def set_extra_state(self, state: Any) -> None:
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be called.")

    def register_state_dict_pre_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, prefix, keep_vars)`` runs before ``state_dict`` saves this module's state."""
        return self._add_hook(self._state_dict_pre_hooks, hook, False)

    def register_state_dict_post_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata)`` runs once this module's entries (its
        children's included) are in ``state_dict``; it may edit the dict in place, and returns None."""
        return self._add_hook(self._state_dict_hooks, hook, False)

    def _register_state_dict_hook(self, hook: Callable) -> RemovableHandle:
        """torch's older private form, which third-party code still calls: ``hook(module, state_dict,
        prefix, local_metadata)`` may also return a new dict, which replaces the result when this is
        the module ``state_dict()`` was called on (a child's is ignored, as torch)."""
        def call(module, state_dict, prefix, local_metadata):
            return hook(module, state_dict, prefix, local_metadata)

        call._may_return_state_dict = True
        return self._add_hook(self._state_dict_hooks, call, False)

    def _register_load_state_dict_pre_hook(self, hook: Callable, with_module: bool = False) -> RemovableHandle:
        """torch's older private form: ``hook(state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs)``, with the module first when ``with_module``."""
        if with_module:
            return self.register_load_state_dict_pre_hook(hook)
        return self.register_load_state_dict_pre_hook(lambda module, *args: hook(*args))

    def register_load_state_dict_pre_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
        error_msgs)`` runs before ``load_state_dict`` reads this module's entries; it may edit the
        (copied) state_dict, e.g. to rename old keys."""
        return self._add_hook(self._load_state_dict_pre_hooks, hook, False)

    def register_load_state_dict_post_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, incompatible_keys)`` runs after ``load_state_dict`` copied the values; it may
        edit ``incompatible_keys.missing_keys``/``unexpected_keys`` in place before strict checks them."""
        return self._add_hook(self._load_state_dict_post_hooks, hook, False)

    def state_dict(self, *args, destination: dict | None = None, prefix: str = "", keep_vars: bool = False) -> dict:
        """Name -> NumPy array copy for every parameter and persistent buffer (tied ones under
        each of their names); ``keep_vars=True`` gives the tensors themselves. A module's
        ``get_extra_state()`` (when overridden) is saved as "<module>._extra_state"."""
        if args:  # torch's deprecated positional form: state_dict(destination, prefix, keep_vars)
            destination, prefix, keep_vars = (list(args) + [destination, prefix, keep_vars][len(args):])[:3]
        out = OrderedDict() if destination is None else destination
        for name, mod in self.named_modules(remove_duplicate=False):
            for hook in getattr(mod, "_state_dict_pre_hooks", {}).values():
                hook(mod, prefix + (f"{name}." if name else ""), keep_vars)
        for k, v in self._state_items(extra_state=True):
            if isinstance(v, Module):
                out[prefix + k] = v.get_extra_state()
            else:
                out[prefix + k] = v if keep_vars else v.detach().clone() if type(v) is SparseTensor \
                    else to_numpy(v._data).copy()
        for name, mod in self._named_modules_post_order():
            for hook in getattr(mod, "_state_dict_hooks", {}).values():
                res = hook(mod, out, prefix + (f"{name}." if name else ""), {})
                if res is not None:
                    if not getattr(hook, "_may_return_state_dict", False):
                        raise RuntimeError("state_dict post-hook must return None")
                    if not name:  # torch: only the module state_dict() was called on passes a new dict on
                        out = res
        return out

    def load_state_dict(self, state_dict: dict, strict: bool = True, assign: bool = False) -> _IncompatibleKeys:
        """Copy arrays (NumPy, CuPy, Tensor, or anything with ``.numpy()``) into the parameters and
        persistent buffers (and ``set_extra_state`` of modules that save extra state); with
        ``assign`` the checkpoint's arrays replace them (new Parameter objects, the checkpoint's dtype,
        ``requires_grad`` kept). Returns
        ``(missing_keys, unexpected_keys)``. As torch: entries of the right shape are copied first,
        then a strict load raises a RuntimeError naming missing and unexpected keys; a shape
        mismatch always raises."""
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)  # pre-hooks may edit it; the caller's dict is left alone
        if metadata is not None:
            state_dict._metadata = metadata
        missing: list[str] = []
        unexpected: list[str] = []
        errors: list[str] = []
        for name, mod in self.named_modules(remove_duplicate=False):
            for hook in getattr(mod, "_load_state_dict_pre_hooks", {}).values():
                hook(mod, state_dict, f"{name}." if name else "", (metadata or {}).get(name, {}), strict,
                     missing, unexpected, errors)
        own = OrderedDict(self._state_items(extra_state=True))
        optional = self._optional_state_keys(state_dict)
        missing += [k for k in own if k not in state_dict and k not in optional]
        unexpected += self._unexpected_keys(state_dict)
        values = {}
        for k, t in own.items():
            if k not in state_dict:
                continue
            if isinstance(t, Module) or type(t) is SparseTensor:  # extra state (any object); a sparse buffer
                values[k] = state_dict[k]
                continue
            value = _to_array(state_dict[k])
            if tuple(np.shape(value)) != t.shape:
                errors.append(f"size mismatch for {k}: copying a param with shape {tuple(np.shape(value))} "
                              f"from checkpoint, the shape in current model is {t.shape}.")
                continue
            values[k] = value
        with no_grad():
            for k, value in values.items():
                t = own[k]
                if isinstance(t, Module):
                    t.set_extra_state(value)
                elif type(t) is SparseTensor:  # torch's copy_ of a sparse tensor: its entries replace t's
                    _load_sparse(self, k, t, value)
                elif assign:  # torch: the checkpoint's values (and dtype) replace the tensors themselves
                    owner_path, _, name = k.rpartition(".")
                    array = to_device(np.array(value), t.device)
                    setattr(self.get_submodule(owner_path), name,
                            Parameter(array, requires_grad=t.requires_grad) if isinstance(t, Parameter)
                            else Tensor(array))
                else:
                    t.copy_(to_device(np.asarray(value, dtype=t.dtype), t.device))  # bumps its version
        result = _IncompatibleKeys(missing, unexpected)
        for _, mod in self._named_modules_post_order():
            for hook in getattr(mod, "_load_state_dict_post_hooks", {}).values():
                if hook(mod, result) is not None:
                    raise RuntimeError("load_state_dict post-hook must return None")
        if strict and unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
        if strict and missing:
            errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        return result

    def _unexpected_keys(self, state_dict) -> list[str]:
        """Keys naming nothing here, in torch's order: module by module (depth first), each taking
        the keys under its prefix whose next name is neither one of its entries nor a child."""
        unexpected = []
        for name, mod in self.named_modules(remove_duplicate=False):
            pre = f"{name}." if name else ""
            known = set(mod._modules) | {n for n, p in _own_parameters(mod) if p is not None} | {
                n for n, b in mod._buffers.items() if b is not None and n not in mod._non_persistent_buffers_set}
            for key in state_dict:
                if key.startswith(pre) and key != pre + "_extra_state" and key[len(pre):].split(".", 1)[0] not in known:
                    unexpected.append(key)
        return unexpected

    # Names of state a checkpoint may lack; the module keeps its own value (torch's norm layers fill
    # a missing ``num_batches_tracked`` in when the checkpoint predates it).
    _optional_state: tuple[str, ...] = ()

    def _optional_state_keys(self, state_dict) -> set[str]:
        """Keys of ``_optional_state`` entries, unless the checkpoint's torch metadata (``_metadata``,
        kept by torch's state_dict) says its module version (2 or more) saves them."""
        metadata = getattr(state_dict, "_metadata", None) or {}
        keys = set()
        for name, mod in self.named_modules(remove_duplicate=False):
            version = metadata.get(name, {}).get("version")
            if version is None or version < 2:
                keys.update((f"{name}.{k}" if name else k) for k in mod._optional_state)
        return keys

    # ---- printing -----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = self.extra_repr().split("\n") if self.extra_repr() else []
        children = [(n, v) for n, v in vars(self).items()
                    if isinstance(v, Module) or (v is None and n in self.__dict__.get("_module_names", ()))]
        lines += [f"({n}): " + _addindent(repr(m), 2) for n, m in children]
        head = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not children:
                return head + lines[0] + ")"
            return head + "\n  " + "\n  ".join(lines) + "\n)"
        return head + ")"

    def __dir__(self):
        # torch leaves out names that are not identifiers, such as a Sequential's "0", "1"
        return sorted({k for k in super().__dir__() if not k[0].isdigit()})


# torch's legacy tensor type names, as Module.type takes them ("torch.DoubleTensor")
_LEGACY_TENSOR_TYPES = {"FloatTensor": "float32", "DoubleTensor": "float64", "HalfTensor": "float16",
                        "LongTensor": "int64", "IntTensor": "int32", "ShortTensor": "int16", "CharTensor": "int8",
                        "ByteTensor": "uint8", "BoolTensor": "bool"}


def _is_dtype_name(name: str) -> bool:
    try:
        np.dtype(name)
    except TypeError:
        return False
    return True


def _typename(obj: Any) -> str:
    """The type's dotted name, as ``torch.typename`` spells it in errors ("int", "engine.tensor.Tensor")."""
    cls = type(obj)
    return cls.__qualname__ if cls.__module__ in ("", "builtins") else f"{cls.__module__}.{cls.__qualname__}"


def _own_parameters(mod: Module) -> list[tuple[str, Parameter]]:
    return [(n, v) for n, v in vars(mod).items() if isinstance(v, Parameter)]


def _apply_sparse(fn, buf: SparseTensor) -> SparseTensor:
    """A sparse buffer's ``fn`` (a cast or a move of the array): on its values; its indices follow them to
    their device and stay int64."""
    vals = fn(buf._vals)
    return SparseTensor(to_device(buf._idx, device_of(vals)), vals, buf.shape, buf._coalesced)


def _load_sparse(module: Module, key: str, t: SparseTensor, value) -> None:
    """load_state_dict into a sparse buffer: the checkpoint's sparse tensor (its entries, in the buffer's
    dtype and device) replaces it, as torch's copy_ between sparse tensors."""
    if type(value) is not SparseTensor:
        raise RuntimeError(f"Error(s) in loading state_dict for {type(module).__name__}: {key} is a sparse buffer, "
                           f"the checkpoint holds a dense {_typename(value)}; copy_ from dense to sparse is not "
                           "supported")
    if value.shape != t.shape:
        raise RuntimeError(f"Error(s) in loading state_dict for {type(module).__name__}: size mismatch for {key}: "
                           f"copying a param with shape {value.shape} from checkpoint, the shape in current model "
                           f"is {t.shape}.")
    owner_path, _, name = key.rpartition(".")
    device = device_of(t._vals)
    setattr(module.get_submodule(owner_path), name,
            SparseTensor(to_device(value._idx.copy(), device), to_device(value._vals.astype(t.dtype), device),
                         value.shape, value._coalesced))


def _to_array(value):
    if isinstance(value, Tensor):
        return to_numpy(value._data)
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        return value.detach().cpu().numpy()
    return to_numpy(value) if hasattr(value, "dtype") else np.asarray(value)


def _child_index(n: int, idx: int) -> int:
    idx = operator.index(idx)
    if not -n <= idx < n:
        raise IndexError(f"index {idx} is out of range")
    return idx % n


class Sequential(Module):
    """Modules applied in order; also built from an OrderedDict (names kept).

    >>> from nn import Linear, ReLU
    >>> net = Sequential(Linear(2, 4), ReLU(), Linear(4, 1))
    >>> net(Tensor.randn(3, 2)).shape
    (3, 1)
    """

    def __init__(self, *args: Module):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):  # torch: a plain dict is not taken
            for k, m in args[0].items():
                self.add_module(k, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def _items(self) -> list[tuple[str, Module]]:
        return self._own_children()

    def _reset(self, modules: Iterable[Module]) -> None:
        for n, _ in self._items():
            delattr(self, n)
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def __iter__(self) -> Iterator[Module]:
        return iter([m for _, m in self._items()])

    def __len__(self) -> int:
        return len(self._items())

    def __getitem__(self, idx):
        items = self._items()
        if isinstance(idx, slice):
            return type(self)(OrderedDict(items[idx]))
        return items[_child_index(len(items), idx)][1]

    def __setitem__(self, idx: int, module: Module) -> None:
        items = self._items()
        setattr(self, items[_child_index(len(items), idx)][0], module)

    def __delitem__(self, idx) -> None:
        items = self._items()
        drop = items[idx] if isinstance(idx, slice) else [items[_child_index(len(items), idx)]]
        for n, _ in drop:
            delattr(self, n)
        # torch renumbers the remaining modules 0, 1, ...
        kept = [m for _, m in self._items()]
        self._reset(kept)

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        mods = list(self)
        n = len(mods)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        mods.insert(index + n if index < 0 else index, module)
        self._reset(mods)
        return self

    def extend(self, sequential: Iterable[Module]) -> Sequential:
        for m in sequential:
            self.append(m)
        return self

    def pop(self, key: int) -> Module:
        v = self[key]
        del self[key]
        return v

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        return Sequential(*list(self), *list(other))

    def __iadd__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        return self.extend(list(other))

    def __mul__(self, other: int) -> Sequential:
        """``seq * 3``: a new Sequential holding the same module objects three times over (torch)."""
        if not isinstance(other, int):
            raise TypeError(f"unsupported operand type(s) for *: {type(self)} and {type(other)}")
        if other <= 0:
            raise ValueError(f"Non-positive multiplication factor {other} for {type(self)}")
        return Sequential(*(list(self) * other))

    def __rmul__(self, other: int) -> Sequential:
        return self.__mul__(other)

    def __imul__(self, other: int) -> Sequential:
        if not isinstance(other, int):
            raise TypeError(f"unsupported operand type(s) for *: {type(self)} and {type(other)}")
        if other <= 0:
            raise ValueError(f"Non-positive multiplication factor {other} for {type(self)}")
        return self.extend(list(self) * (other - 1))

    def forward(self, input):
        for m in self:
            input = m(input)
        return input


class ModuleList(Module):
    """A list of modules, named 0, 1, 2, … (GPT's ``h``)."""

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        for m in modules or ():
            self.append(m)

    def _items(self) -> list[tuple[str, Module]]:
        return self._own_children()

    def _reset(self, modules: Iterable[Module]) -> None:
        for n, _ in self._items():
            delattr(self, n)
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):  # torch's add_module words: "int is not a Module subclass"
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        if not isinstance(modules, Iterable):
            raise TypeError(f"ModuleList.extend should be called with an iterable, but got {type(modules).__name__}")
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        mods = list(self)
        mods.insert(index, module)
        self._reset(mods)

    def pop(self, key: int = -1) -> Module:
        v = self[key]
        del self[key]
        return v

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self) -> Iterator[Module]:
        return iter([m for _, m in self._items()])

    def __getitem__(self, idx):
        items = self._items()
        if isinstance(idx, slice):
            return type(self)([m for _, m in items[idx]])
        return items[_child_index(len(items), idx)][1]

    def __setitem__(self, idx: int, module: Module) -> None:
        items = self._items()
        setattr(self, items[_child_index(len(items), idx)][0], module)

    def __delitem__(self, idx) -> None:
        mods = list(self)
        del mods[idx]
        self._reset(mods)

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *other])

    def __repr__(self) -> str:
        """torch's: runs of identical children print once, as ``(0-2): 3 x Linear(...)``."""
        items = self._items()
        if not items:
            return self._get_name() + "()"
        lines, i = [], 0
        reprs = [repr(m) for _, m in items]
        while i < len(items):
            j = i
            while j + 1 < len(items) and reprs[j + 1] == reprs[i]:
                j += 1
            if j == i:
                lines.append(f"({i}): " + _addindent(reprs[i], 2))
            else:
                lines.append(f"({i}-{j}): {j - i + 1} x " + _addindent(reprs[i], 2))
            i = j + 1
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """A dict of modules (GPT's ``transformer``)."""

    def __init__(self, modules: dict[str, Module] | Iterable | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict holds Modules, got {type(module).__name__}")
        self.add_module(key, module)

    def __getitem__(self, key: str) -> Module:
        return dict(self._own_children())[key]

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        delattr(self, key)

    def __contains__(self, key: str) -> bool:
        return key in dict(self._own_children())

    def __len__(self) -> int:
        return len(self._own_children())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self):
        return dict(self._own_children()).keys()

    def values(self):
        return dict(self._own_children()).values()

    def items(self):
        return dict(self._own_children()).items()

    def pop(self, key: str) -> Module:
        v = self[key]
        del self[key]
        return v

    def clear(self) -> None:
        for k in list(self.keys()):
            del self[k]

    def update(self, modules) -> None:
        pairs = modules.items() if hasattr(modules, "items") else modules
        for k, m in pairs:
            self[k] = m


def _parameter_entry(value: Any) -> Any:
    """What ParameterList/ParameterDict store for ``value``: a Parameter as it is, a tensor (or an
    array) wrapped in a Parameter, any other object (a number, a string, None) as it is, as torch."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor) or isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__"):
        return Parameter(value)
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        return Parameter(_to_array(value))
    return value


def _set_entry(container: Module, name: str, value: Any) -> None:
    """``setattr(container, name, value)`` with torch's order of registration: a Parameter that
    replaces another kind of object is registered anew (last in ``parameters()`` and the state_dict)."""
    value = _parameter_entry(value)
    if isinstance(value, Parameter) and name not in container.__dict__.get("_parameter_names", ()):
        container.__dict__.pop(name, None)
    setattr(container, name, value)


def _entries_repr(pairs) -> str:
    """torch's ParameterList/ParameterDict extra_repr lines: a tensor's kind, dtype and size, another
    object's type."""
    lines = []
    for k, p in pairs:
        if isinstance(p, Tensor):
            kind = "Parameter" if isinstance(p, Parameter) else "Tensor"
            where = " (cuda:0)" if p.device == "gpu" else ""
            lines.append(f"  ({k}): {kind} containing: [{p.dtype} of size {'x'.join(map(str, p.shape))}{where}]")
        else:
            lines.append(f"  ({k}): Object of type: {type(p).__name__}")
    return "\n".join(lines)


class ParameterList(Module):
    """A list of Parameters, named 0, 1, 2, …; tensors and arrays become Parameters and, as torch,
    other objects (numbers, strings, None) are kept as they are (not in ``parameters()`` or the
    state_dict).

    >>> pl = ParameterList([np.zeros(2, dtype=np.float32), 3, "x"])
    >>> [type(v).__name__ for v in pl], [n for n, _ in pl.named_parameters()]
    (['Parameter', 'int', 'str'], ['0'])
    """

    def __init__(self, values: Iterable | None = None):
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def append(self, value) -> ParameterList:
        self._size += 1
        self[self._size - 1] = value
        return self

    def extend(self, values: Iterable) -> ParameterList:
        if not isinstance(values, Iterable) or isinstance(values, Tensor):
            raise TypeError(f"ParameterList.extend should be called with an iterable, but got {type(values).__name__}")
        for v in values:
            self.append(v)
        return self

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Any]:
        return iter([self[i] for i in range(len(self))])

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList([self[i] for i in range(len(self))[idx]])
        return getattr(self, str(_child_index(len(self), idx)))

    def __setitem__(self, idx: int, value) -> None:
        _set_entry(self, str(_child_index(len(self), idx)), value)

    def __iadd__(self, values: Iterable) -> ParameterList:
        return self.extend(values)

    def __dir__(self):
        return [k for k in super().__dir__() if not k.isdigit()]

    def extra_repr(self) -> str:
        return _entries_repr(enumerate(self))


class ParameterDict(Module):
    """A dict of Parameters, in insertion order; tensors and arrays become Parameters and other
    objects are kept as they are (not in ``parameters()`` or the state_dict), as torch.

    >>> pd = ParameterDict({"w": np.ones(2, dtype=np.float32), "n": 3})
    >>> list(pd.keys()), type(pd["w"]).__name__, list(pd.state_dict())
    (['n', 'w'], 'Parameter', ['w'])
    """

    def __init__(self, parameters=None):
        super().__init__()
        self._keys: dict[str, None] = {}
        if parameters is not None:
            self.update(parameters)

    @staticmethod
    def _key_to_attr(key) -> str:
        if not isinstance(key, str):
            raise TypeError("Index given to ParameterDict cannot be used as a key as it is not a string (type is "
                            f"'{type(key).__name__}'). Open an issue on github if you need non-string keys.")
        return key

    def __setitem__(self, key: str, value) -> None:
        attr = self._key_to_attr(key)
        self._keys[key] = None
        _set_entry(self, attr, value)

    def __getitem__(self, key: str) -> Any:
        attr = self._key_to_attr(key)
        if key not in self._keys:  # torch reads the attribute: an AttributeError
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{key}'")
        return getattr(self, attr)

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, self._key_to_attr(key))

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._keys))

    def __reversed__(self) -> Iterator[str]:
        return reversed(list(self._keys))

    def keys(self):
        return self._keys.keys()

    def values(self):
        return [self[k] for k in self._keys]

    def items(self):
        return [(k, self[k]) for k in self._keys]

    def get(self, key: str, default=None):
        return self[key] if key in self else default

    def pop(self, key: str) -> Any:
        v = self[key]
        del self[key]
        return v

    def update(self, parameters) -> None:
        """As torch: an OrderedDict, a ParameterDict or pairs keep their order; a plain mapping
        (dict) is taken in sorted key order."""
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            pairs = list(parameters.items())
        elif hasattr(parameters, "items"):
            pairs = sorted(parameters.items())
        else:
            pairs = parameters
        for k, v in pairs:
            self[k] = v

    def clear(self) -> None:
        for k in list(self.keys()):
            del self[k]

    def copy(self) -> ParameterDict:
        """A new ParameterDict holding the same Parameter objects, in the same order."""
        return ParameterDict(OrderedDict(self.items()))

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last inserted (key, value)."""
        if not len(self):
            raise KeyError("popitem(): dictionary is empty")
        k = list(self.keys())[-1]
        return k, self.pop(k)

    def setdefault(self, key: str, default=None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def fromkeys(self, keys, default=None) -> ParameterDict:
        return ParameterDict((k, default) for k in keys)

    def __or__(self, other: ParameterDict) -> ParameterDict:
        out = self.copy()
        out.update(other)
        return out

    def __ror__(self, other: ParameterDict) -> ParameterDict:
        out = other.copy()
        out.update(self)
        return out

    def __ior__(self, other: ParameterDict) -> ParameterDict:
        self.update(other)
        return self

    def extra_repr(self) -> str:
        return _entries_repr(self.items())


class Container(Module):
    """torch.nn.Container: torch's deprecated Module that adds each keyword argument as a submodule
    (a FutureWarning when built, as torch's).

    >>> import warnings; warnings.simplefilter("ignore")
    >>> list(Container(a=Module())._modules)
    ['a']
    """

    def __init__(self, **kwargs: Any) -> None:
        import warnings

        warnings.warn("`nn.Container` is deprecated. All of its functionality is now implemented in `nn.Module`. "
                      "Subclass that instead.", FutureWarning, stacklevel=2)
        super().__init__()
        for key, value in kwargs.items():
            self.add_module(key, value)
