"""`Module`, `Parameter` and the containers: the bookkeeping of layers, not their math."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from engine import Tensor, no_grad
from engine.backend import check_device, get_xp, to_device, to_numpy


class Parameter(Tensor):
    """A Tensor that a Module owns and an optimizer updates (requires_grad by default).

    >>> p = Parameter(np.zeros(3, dtype=np.float32)); p.requires_grad
    True
    """

    def __init__(self, data: Any, requires_grad: bool = True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers. Parameters and sub-modules are found from attributes, in the
    order they were assigned, so names are stable: ``h.0.attn.c_attn.weight``.

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

    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- traversal --------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def children(self) -> Iterator[Module]:
        return (m for _, m in self.named_children())

    def named_modules(self, prefix: str = "", remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """Every module below (and including) this one, depth first. Iterative.
        A module registered in two places is listed once, unless ``remove_duplicate=False``."""
        stack = [(prefix, self)]
        seen: set[int] = set()
        while stack:
            name, mod = stack.pop()
            if remove_duplicate and id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            kids = [(f"{name}.{n}" if name else n, m) for n, m in mod.named_children()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix: str = "", remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs; a tied parameter appears once, under its first name,
        unless ``remove_duplicate=False`` (then under every name, shared sub-modules included)."""
        seen: set[int] = set()
        for mod_name, mod in self.named_modules(prefix, remove_duplicate):
            for name, value in vars(mod).items():
                if isinstance(value, Parameter):
                    if remove_duplicate and id(value) in seen:
                        continue
                    seen.add(id(value))
                    yield (f"{mod_name}.{name}" if mod_name else name), value

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def num_parameters(self, exclude: tuple[str, ...] = ()) -> int:
        """Total parameter count (tied ones counted once), minus any named in ``exclude``."""
        return sum(p.numel() for n, p in self.named_parameters() if n not in exclude)

    def register_buffer(self, name: str, tensor: Tensor) -> None:
        """A non-trainable tensor that moves with ``to()`` but is not saved (e.g. a sinusoid table)."""
        self._buffers[name] = tensor
        object.__setattr__(self, name, tensor)

    # ---- modes and devices --------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data[...] = 0

    def _apply(self, fn) -> Module:
        """Replace the array of every parameter (and its grad) and buffer by ``fn(array)``, in place:
        the Parameter objects are kept, so optimizers and tied weights still point at them."""
        for p in self.parameters():
            p.data = fn(p.data)
            if p.grad is not None:
                p.grad.data = fn(p.grad.data)
        for m in self.modules():
            for name, buf in m._buffers.items():
                moved = Tensor(fn(buf.data))
                m._buffers[name] = moved
                object.__setattr__(m, name, moved)
        return self

    def to(self, device: str) -> Module:
        """Move every parameter and buffer to ``device`` in place (Parameter objects are kept)."""
        device = check_device(device)
        get_xp(device)  # helpful error when the GPU is missing
        return self._apply(lambda a: to_device(a, device))

    def astype(self, dtype) -> Module:
        """Cast every floating-point parameter and buffer to ``dtype`` in place, e.g. float64 for
        gradcheck (like torch's ``module.double()``). Integer buffers are left alone.

        >>> from nn import Linear
        >>> Linear(2, 3).astype("float64").weight.dtype
        dtype('float64')
        """
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Module.astype casts to a floating-point dtype, got {dtype}")
        return self._apply(lambda a: a.astype(dtype, copy=False) if a.dtype.kind == "f" else a)

    def double(self) -> Module:
        return self.astype(np.float64)

    def float(self) -> Module:
        return self.astype(np.float32)

    @property
    def device(self) -> str:
        ps = self.parameters()
        return ps[0].device if ps else "cpu"

    # ---- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Name -> NumPy array copy for every parameter (tied ones under each of their names)."""
        return {n: to_numpy(p.data).copy() for n, p in self.named_parameters(remove_duplicate=False)}

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy arrays into the parameters. A strict load reports missing keys, unexpected keys
        and shape mismatches together; returns (missing, unexpected) otherwise."""
        own = dict(self.named_parameters(remove_duplicate=False))
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = [
            f"{k}: checkpoint {tuple(np.shape(state_dict[k]))} vs model {own[k].shape}"
            for k in own
            if k in state_dict and tuple(np.shape(state_dict[k])) != own[k].shape
        ]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        if mismatched:
            problems.append(f"shape mismatches: {mismatched}")
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__} failed; " + "; ".join(problems))
        with no_grad():
            for k, p in own.items():
                if k in state_dict:
                    value = state_dict[k].data if isinstance(state_dict[k], Tensor) else state_dict[k]
                    p[...] = to_device(np.asarray(to_numpy(value), dtype=p.dtype), p.device)  # bumps its version
        return missing, unexpected

    # ---- printing -----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        kids = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not kids:
            return head + ")"
        body = "".join(f"\n  ({n}): " + repr(m).replace("\n", "\n  ") for n, m in kids)
        return head + body + "\n)"


class Sequential(Module):
    """Modules applied in order.

    >>> from nn import Linear, ReLU
    >>> net = Sequential(Linear(2, 4), ReLU(), Linear(4, 1))
    >>> net(Tensor.randn(3, 2)).shape
    (3, 1)
    """

    def __init__(self, *modules: Module):
        super().__init__()
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self.children()))

    def __len__(self) -> int:
        return len(list(self.children()))

    def __getitem__(self, i: int) -> Module:
        return list(self.children())[i]

    def forward(self, x):
        for m in self.children():
            x = m(x)
        return x


class ModuleList(Module):
    """A list of modules, named 0, 1, 2, … (GPT's ``h``)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList holds Modules, got {type(module).__name__}")
        setattr(self, str(len(self)), module)
        return self

    def __len__(self) -> int:
        return sum(1 for _ in self.named_children())

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self.children()))

    def __getitem__(self, i: int) -> Module:
        return list(self.children())[i]


class ModuleDict(Module):
    """A dict of modules (GPT's ``transformer``)."""

    def __init__(self, modules: dict[str, Module] | None = None):
        super().__init__()
        for k, m in (modules or {}).items():
            self[k] = m

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict holds Modules, got {type(module).__name__}")
        setattr(self, key, module)

    def __getitem__(self, key: str) -> Module:
        return dict(self.named_children())[key]

    def __contains__(self, key: str) -> bool:
        return key in dict(self.named_children())

    def keys(self):
        return dict(self.named_children()).keys()

    def items(self):
        return dict(self.named_children()).items()
