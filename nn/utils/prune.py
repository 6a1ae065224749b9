"""torch.nn.utils.prune: zero out entries (or whole channels) of a module's tensor with a mask.

Pruning ``name`` moves the Parameter to ``name + "_orig"``, adds the buffer ``name + "_mask"`` and
makes ``name`` a plain attribute holding ``orig * mask``, recomputed by a forward pre-hook (the
pruning method itself) before each forward; gradients reach ``name + "_orig"`` through the mask.
Pruning the same tensor again combines the masks in a ``PruningContainer``: the new amount applies
to the units still unpruned. ``remove`` makes it permanent. Names, messages and the entries chosen
(ties included: see ``_topk_indices``) are torch's.

>>> import nn
>>> from engine import Tensor
>>> m = nn.Linear(3, 2)
>>> m.weight.data = Tensor([[0.1, -2.0, 0.3], [4.0, -0.5, 0.05]])
>>> _ = l1_unstructured(m, "weight", amount=0.5)
>>> list(m.state_dict()), m.weight_mask.tolist()
(['bias', 'weight_orig', 'weight_mask'], [[0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
>>> is_pruned(m), remove(m, "weight") is m, is_pruned(m), m.weight.tolist()[0]
(True, True, False, [0.0, -2.0, 0.0])
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any

from engine import Tensor, ones_like, rand, rand_like, zeros_like
from nn.module import Module

__all__ = ["BasePruningMethod", "PruningContainer", "Identity", "RandomUnstructured", "L1Unstructured",
           "RandomStructured", "LnStructured", "CustomFromMask", "identity", "random_unstructured",
           "l1_unstructured", "random_structured", "ln_structured", "global_unstructured", "custom_from_mask",
           "remove", "is_pruned"]


def _size(shape) -> str:
    return f"torch.Size({list(shape)})"  # torch's spelling of a shape in its messages


class BasePruningMethod(ABC):
    """Base of the pruning methods: a subclass defines ``compute_mask(t, default_mask)`` and
    ``PRUNING_TYPE`` ("unstructured", "structured" with a ``dim`` attribute, or "global"). An
    instance is the forward pre-hook that recomputes ``module.<name>`` as ``orig * mask``.

    >>> class KeepPositive(BasePruningMethod):
    ...     PRUNING_TYPE = "unstructured"
    ...     def compute_mask(self, t, default_mask):
    ...         return default_mask * (t > 0)
    >>> KeepPositive().prune(Tensor([1.0, -2.0, 3.0])).tolist()
    [1.0, -0.0, 3.0]
    """

    _tensor_name: str  # set by apply (no class default: torch's AttributeError when never set)

    def __call__(self, module: Module, inputs: Any) -> None:
        """The forward pre-hook: ``module.<name> = orig * mask`` from the current orig and mask."""
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The mask (same shape as ``t``) pruning ``t``, starting from ``default_mask``."""

    def apply_mask(self, module: Module) -> Tensor:
        """``module.<name>_mask * module.<name>_orig`` (the mask cast to orig's dtype).

        >>> import nn
        >>> m = identity(nn.Linear(2, 1), "weight")
        >>> bool((m._forward_pre_hooks[next(iter(m._forward_pre_hooks))].apply_mask(m) == m.weight_orig).all())
        True
        """
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned")
        mask = getattr(module, self._tensor_name + "_mask")
        orig = getattr(module, self._tensor_name + "_orig")
        return mask.to(dtype=orig.dtype) * orig

    @classmethod
    def apply(cls, module: Module, name: str, *args: Any, importance_scores: Tensor | None = None,
              **kwargs: Any) -> BasePruningMethod:
        """Prune ``module.<name>`` with ``cls(*args, **kwargs)`` (masks computed from
        ``importance_scores``, default the tensor itself), combined with any pruning already there;
        returns the hook (the method, or the PruningContainer holding it).

        >>> import nn
        >>> type(L1Unstructured.apply(nn.Linear(4, 2), "weight", amount=3)).__name__
        'L1Unstructured'
        """

        def _get_composite_method(cls, module, name, *args, **kwargs):
            old_method = None
            found = 0
            hooks_to_remove = []
            for k, hook in module._forward_pre_hooks.items():
                if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
                    old_method = hook
                    hooks_to_remove.append(k)
                    found += 1
            if found > 1:
                raise AssertionError(f"Avoid adding multiple pruning hooks to the same tensor {name} of module "
                                     f"{module}. Use a PruningContainer.")
            for k in hooks_to_remove:
                del module._forward_pre_hooks[k]
            method = cls(*args, **kwargs)
            method._tensor_name = name
            if old_method is not None:  # the new method joins (or starts) a container with the old one
                if isinstance(old_method, PruningContainer):
                    old_method.add_pruning_method(method)
                    method = old_method
                elif isinstance(old_method, BasePruningMethod):
                    container = PruningContainer(old_method)
                    container.add_pruning_method(method)
                    method = container
            return method

        method = _get_composite_method(cls, module, name, *args, **kwargs)
        orig = getattr(module, name)
        if importance_scores is not None:
            if importance_scores.shape != orig.shape:
                raise AssertionError(f"importance_scores should have the same shape as parameter {name} of "
                                     f"{module}, got {_size(importance_scores.shape)} vs {_size(orig.shape)}")
        else:
            importance_scores = orig
        if not isinstance(method, PruningContainer):
            # first pruning of this tensor: the Parameter moves to <name>_orig (the same object, so an
            # optimizer built before still trains it); torch's order: register first, then drop <name>
            module.register_parameter(name + "_orig", orig)
            delattr(module, name)
            default_mask = _ones_like(orig)
        else:
            default_mask = getattr(module, name + "_mask").detach().clone()
        try:
            mask = method.compute_mask(importance_scores, default_mask=default_mask)
            module.register_buffer(name + "_mask", mask)
            setattr(module, name, method.apply_mask(module))
            module.register_forward_pre_hook(method)
        except Exception:
            if not isinstance(method, PruningContainer):  # put the Parameter back, as torch
                orig = getattr(module, name + "_orig")
                module.register_parameter(name, orig)
                delattr(module, name + "_orig")
            raise
        return method

    def prune(self, t: Tensor, default_mask: Tensor | None = None,
              importance_scores: Tensor | None = None) -> Tensor:
        """``t * compute_mask(importance_scores or t, default_mask or ones)``: a pruned copy of ``t``.

        >>> L1Unstructured(amount=1).prune(Tensor([3.0, -1.0, 2.0])).tolist()
        [3.0, -0.0, 2.0]
        """
        if importance_scores is not None:
            if importance_scores.shape != t.shape:
                raise AssertionError("importance_scores should have the same shape as tensor t, got "
                                     f"{_size(importance_scores.shape)} vs {_size(t.shape)}")
        else:
            importance_scores = t
        default_mask = default_mask if default_mask is not None else ones_like(t)
        return t * self.compute_mask(importance_scores, default_mask=default_mask)

    def remove(self, module: Module) -> None:
        """Make the pruning permanent: ``<name>`` becomes the Parameter ``<name>_orig`` (same object)
        holding orig * mask; ``<name>_orig`` and ``<name>_mask`` go. The hook itself is dropped by
        the module-level ``remove``.

        >>> import nn
        >>> m = nn.Linear(2, 1); method = Identity.apply(m, "weight"); method.remove(m)
        >>> [n for n, _ in m.named_parameters()], list(m._buffers)
        (['bias', 'weight'], [])
        """
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned before pruning can be removed")
        weight = self.apply_mask(module)
        if hasattr(module, self._tensor_name):
            delattr(module, self._tensor_name)
        orig = module._parameters[self._tensor_name + "_orig"]
        orig.data = weight.data
        delattr(module, self._tensor_name + "_orig")
        if self._tensor_name + "_mask" not in module._buffers:
            raise KeyError(self._tensor_name + "_mask")
        delattr(module, self._tensor_name + "_mask")
        setattr(module, self._tensor_name, orig)


class PruningContainer(BasePruningMethod):
    """The pruning methods applied, in turn, to one tensor; its mask is the last method's mask,
    computed on the units the earlier ones left (all entries: "unstructured"; the channels along
    ``dim`` with an entry left: "structured"; everything: "global").

    >>> a = L1Unstructured(amount=1); a._tensor_name = "weight"
    >>> b = L1Unstructured(amount=1); b._tensor_name = "weight"
    >>> c = PruningContainer(a); c.add_pruning_method(b); len(c)
    2
    >>> c.compute_mask(Tensor([3.0, 1.0, 2.0]), Tensor([1.0, 0.0, 1.0])).tolist()
    [1.0, 0.0, 0.0]
    """

    def __init__(self, *args: BasePruningMethod) -> None:
        self._pruning_methods: tuple[BasePruningMethod, ...] = ()
        if len(args) == 1:  # the name comes from the method; with several, it must be set first (torch)
            self._tensor_name = args[0]._tensor_name
            self.add_pruning_method(args[0])
        else:
            for method in args:
                self.add_pruning_method(method)

    def add_pruning_method(self, method: BasePruningMethod | None) -> None:
        """Append ``method`` (it must act on the same tensor name).

        >>> a = Identity(); a._tensor_name = "w"; c = PruningContainer(a); c.add_pruning_method(None); len(c)
        2
        """
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        elif method is not None and self._tensor_name != method._tensor_name:
            raise ValueError(f"Can only add pruning methods acting on the parameter named '{self._tensor_name}' "
                             f"to PruningContainer {self}. Found '{method._tensor_name}'")
        self._pruning_methods += (method,)

    def __len__(self) -> int:
        return len(self._pruning_methods)

    def __iter__(self) -> Iterator[BasePruningMethod]:
        return iter(self._pruning_methods)

    def __getitem__(self, idx):
        return self._pruning_methods[idx]

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The last method's mask, computed on the slice of ``t`` that ``default_mask`` left and
        written into it (in place when ``default_mask`` already has ``t``'s dtype, as torch)."""

        def _combine_masks(method, t, mask):
            new_mask = mask.to(dtype=t.dtype)
            if method.PRUNING_TYPE == "unstructured":
                slc = mask == 1  # the entries still unpruned
            elif method.PRUNING_TYPE == "structured":
                if not hasattr(method, "dim"):
                    raise AttributeError('Pruning methods of PRUNING_TYPE "structured" need to have the '
                                         "attribute `dim` defined.")
                n_dims = t.dim()
                dim = method.dim
                if dim < 0:
                    dim = n_dims + dim
                if dim < 0:
                    raise IndexError(f"Index is out of bounds for tensor with dimensions {n_dims}")
                # the channels along dim that still hold an unpruned entry
                keep_channel = mask.sum(dim=[d for d in range(n_dims) if d != dim]) != 0
                slc = [slice(None)] * n_dims
                slc[dim] = keep_channel
            elif method.PRUNING_TYPE == "global":
                slc = [slice(None)] * len(t.shape)
            else:
                raise ValueError(f"Unrecognized PRUNING_TYPE {method.PRUNING_TYPE}")
            if isinstance(slc, list):
                slc = tuple(slc)
            partial_mask = method.compute_mask(t[slc], default_mask=mask[slc])
            new_mask[slc] = partial_mask.to(dtype=new_mask.dtype)
            return new_mask

        method = self._pruning_methods[-1]
        return _combine_masks(method, t, default_mask)


class Identity(BasePruningMethod):
    """Prunes nothing (the mask is all ones), yet reparametrizes as the others do.

    >>> Identity().compute_mask(Tensor([2.0, 3.0]), Tensor([1.0, 0.0])).tolist()
    [1.0, 0.0]
    """

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        mask = default_mask
        return mask

    @classmethod
    def apply(cls, module: Module, name: str) -> Identity:
        """Reparametrize ``module.<name>`` with an all-ones mask.

        >>> import nn
        >>> m = nn.Linear(2, 2); _ = Identity.apply(m, "bias"); m.bias_mask.tolist()
        [1.0, 1.0]
        """
        return super().apply(module, name)


class _Unstructured(BasePruningMethod):
    """What RandomUnstructured and L1Unstructured share: ``amount`` entries pruned, which ones
    ``_pruned(t, k)`` says (flat indices)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount: int | float) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount

    def _pruned(self, t: Tensor, k: int) -> Tensor:
        raise NotImplementedError

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        tensor_size = t.nelement()
        nparams_toprune = _compute_nparams_toprune(self.amount, tensor_size)
        _validate_pruning_amount(nparams_toprune, tensor_size)
        mask = default_mask.clone().reshape(-1)
        if nparams_toprune != 0:
            mask[self._pruned(t, nparams_toprune)] = 0
        return mask.reshape(default_mask.shape)


class RandomUnstructured(_Unstructured):
    """Prunes ``amount`` entries (an int, or a fraction in [0, 1] of the entries, rounded with
    ``round``) chosen at random (engine's RNG).

    >>> int(RandomUnstructured(amount=0.25).compute_mask(Tensor.ones(8), Tensor.ones(8)).sum().item())
    6
    """

    def _pruned(self, t: Tensor, k: int) -> Tensor:
        """The flat indices of the ``k`` entries to prune: those with the largest random draws."""
        return _topk_indices(rand_like(t).reshape(-1), k, largest=True)

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float) -> BasePruningMethod:
        """Prune ``amount`` random entries of ``module.<name>``.

        >>> import nn
        >>> m = nn.Linear(4, 4); _ = RandomUnstructured.apply(m, "weight", amount=5); int(m.weight_mask.sum().item())
        11
        """
        return super().apply(module, name, amount=amount)


class L1Unstructured(_Unstructured):
    """Prunes the ``amount`` entries of smallest absolute value (an int, or a fraction in [0, 1]
    of the entries, rounded with ``round``); among equal values the entries torch.topk picks.

    >>> L1Unstructured(amount=0.5).compute_mask(Tensor([3.0, -1.0, 0.5, 2.0]), Tensor.ones(4)).tolist()
    [1.0, 0.0, 0.0, 1.0]
    """

    def _pruned(self, t: Tensor, k: int) -> Tensor:
        """The flat indices of the ``k`` entries of smallest |value| (torch.topk's picks among ties)."""
        return _topk_indices(t.detach().abs().reshape(-1), k, largest=False)

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float,
              importance_scores: Tensor | None = None) -> BasePruningMethod:
        """Prune the ``amount`` entries of ``module.<name>`` (or of ``importance_scores``) of smallest |value|.

        >>> import nn
        >>> m = nn.Linear(4, 4); _ = L1Unstructured.apply(m, "weight", amount=0.5); int(m.weight_mask.sum().item())
        8
        """
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class RandomStructured(BasePruningMethod):
    """Prunes ``amount`` whole channels along ``dim`` (slices ``t[..., i, ...]``), chosen at random.

    >>> m = RandomStructured(amount=1, dim=0).compute_mask(Tensor.ones(3, 2), Tensor.ones(3, 2))
    >>> m.sum(1).tolist().count(0.0)
    1
    """

    PRUNING_TYPE = "structured"

    def __init__(self, amount: int | float, dim: int = -1) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.dim = dim

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        _validate_structured_pruning(t)
        _validate_pruning_dim(t, self.dim)
        tensor_size = t.shape[self.dim]
        nparams_toprune = _compute_nparams_toprune(self.amount, tensor_size)
        _validate_pruning_amount(nparams_toprune, tensor_size)

        def make_mask(t, dim, nchannels, nchannels_toprune):
            # keep the channels whose random draw is above the nchannels_toprune-th smallest one
            prob = rand(nchannels, device=t.device)
            if isinstance(nchannels_toprune, bool):  # amount=True: torch's kthvalue refuses a bool k
                raise TypeError("kthvalue(): argument 'k' must be int, not bool")
            threshold = prob.kthvalue(nchannels_toprune).values
            channel_mask = prob > threshold
            mask = zeros_like(t)
            slc = [slice(None)] * len(t.shape)
            slc[dim] = channel_mask
            mask[tuple(slc)] = 1
            return mask

        if nparams_toprune == 0:
            mask = default_mask
        else:
            mask = make_mask(t, self.dim, tensor_size, nparams_toprune)
            mask *= default_mask.to(dtype=mask.dtype)
        return mask

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float, dim: int = -1) -> BasePruningMethod:
        """Prune ``amount`` random channels of ``module.<name>`` along ``dim``.

        >>> import nn
        >>> m = nn.Linear(3, 4); _ = RandomStructured.apply(m, "weight", amount=2, dim=0)
        >>> m.weight_mask.sum(1).tolist().count(0.0)
        2
        """
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(BasePruningMethod):
    """Prunes the ``amount`` channels along ``dim`` of smallest L``n`` norm (``n`` as torch.norm's
    ``p``: an int or float, inf, -inf, "fro" or "nuc"), the norm taken over every other dim.

    >>> t = Tensor([[1.0, 1.0], [0.1, 0.2], [3.0, 0.0]])
    >>> LnStructured(amount=1, n=2, dim=0).compute_mask(t, Tensor.ones(3, 2)).tolist()
    [[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]
    """

    PRUNING_TYPE = "structured"

    def __init__(self, amount: int | float, n: int | float | str, dim: int = -1) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.n = n
        self.dim = dim

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        _validate_structured_pruning(t)
        _validate_pruning_dim(t, self.dim)
        tensor_size = t.shape[self.dim]
        nparams_toprune = _compute_nparams_toprune(self.amount, tensor_size)
        nparams_tokeep = tensor_size - nparams_toprune
        _validate_pruning_amount(nparams_toprune, tensor_size)
        norm = _compute_norm(t.detach(), self.n, self.dim)
        keep = _topk_indices(norm, nparams_tokeep, largest=True)  # the channels of largest norm stay

        def make_mask(t, dim, indices):
            mask = zeros_like(t)
            slc = [slice(None)] * len(t.shape)
            slc[dim] = indices
            mask[tuple(slc)] = 1
            return mask

        if nparams_toprune == 0:
            mask = default_mask
        else:
            mask = make_mask(t, self.dim, keep)
            mask *= default_mask.to(dtype=mask.dtype)
        return mask

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float, n: int | float | str, dim: int,
              importance_scores: Tensor | None = None) -> BasePruningMethod:
        """Prune the ``amount`` channels of ``module.<name>`` along ``dim`` of smallest L``n`` norm.

        >>> import nn
        >>> m = nn.Linear(3, 4); _ = LnStructured.apply(m, "weight", amount=0.5, n=1, dim=0)
        >>> m.weight_mask.sum(1).tolist().count(0.0)
        2
        """
        return super().apply(module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Prunes with a given ``mask`` (same shape as the tensor; its zeros prune).

    >>> CustomFromMask(Tensor([0.0, 1.0])).compute_mask(Tensor([5.0, 6.0]), Tensor.ones(2)).tolist()
    [0.0, 1.0]
    """

    PRUNING_TYPE = "global"

    def __init__(self, mask: Tensor) -> None:
        self.mask = mask

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        if default_mask.shape != self.mask.shape:
            raise AssertionError(f"default_mask shape {_size(default_mask.shape)} must match self.mask shape "
                                 f"{_size(self.mask.shape)}")
        mask = default_mask * self.mask.to(dtype=default_mask.dtype)
        return mask

    @classmethod
    def apply(cls, module: Module, name: str, mask: Tensor) -> BasePruningMethod:
        """Prune ``module.<name>`` with ``mask``.

        >>> import nn
        >>> m = nn.Linear(2, 1); _ = CustomFromMask.apply(m, "bias", mask=Tensor([0.0])); m.bias_mask.tolist()
        [0.0]
        """
        return super().apply(module, name, mask=mask)


def identity(module: Module, name: str) -> Module:
    """Reparametrize ``module.<name>`` as ``<name>_orig * <name>_mask`` with a mask of ones.

    >>> import nn
    >>> m = identity(nn.Linear(2, 3), "bias"); list(m.state_dict())
    ['weight', 'bias_orig', 'bias_mask']
    """
    Identity.apply(module, name)
    return module


def random_unstructured(module: Module, name: str, amount: int | float) -> Module:
    """Prune ``amount`` randomly chosen entries of ``module.<name>`` (an int, or a fraction in [0, 1]).

    >>> import nn
    >>> m = random_unstructured(nn.Linear(4, 5), "weight", amount=0.3); int((m.weight_mask == 0).sum().item())
    6
    """
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module: Module, name: str, amount: int | float,
                    importance_scores: Tensor | None = None) -> Module:
    """Prune the ``amount`` entries of ``module.<name>`` with smallest |value| (or smallest
    |importance_scores|), an int or a fraction in [0, 1].

    >>> import nn
    >>> m = nn.Linear(2, 2); m.weight.data = Tensor([[1.0, -4.0], [0.5, 2.0]])
    >>> l1_unstructured(m, "weight", amount=2).weight.tolist()
    [[0.0, -4.0], [0.0, 2.0]]
    """
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module: Module, name: str, amount: int | float, dim: int) -> Module:
    """Prune ``amount`` randomly chosen channels of ``module.<name>`` along ``dim``.

    >>> import nn
    >>> m = random_structured(nn.Linear(3, 4), "weight", amount=1, dim=1); m.weight_mask.sum(0).tolist().count(0.0)
    1
    """
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module: Module, name: str, amount: int | float, n: int | float | str, dim: int,
                  importance_scores: Tensor | None = None) -> Module:
    """Prune the ``amount`` channels of ``module.<name>`` along ``dim`` with smallest L``n`` norm.

    >>> import nn
    >>> m = nn.Linear(2, 3); m.weight.data = Tensor([[1.0, 1.0], [0.1, 0.0], [2.0, 0.0]])
    >>> ln_structured(m, "weight", amount=1, n=1, dim=0).weight_mask.tolist()
    [[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]
    """
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def global_unstructured(parameters: Iterable[tuple[Module, str]], pruning_method: type[BasePruningMethod],
                        importance_scores: dict | None = None, **kwargs: Any) -> None:
    """Prune the (module, name) tensors of ``parameters`` together: ``pruning_method(**kwargs)``
    (an "unstructured" one) chooses among all their entries at once, as if they were one vector;
    ``importance_scores`` maps (module, name) to the scores used instead of that tensor.

    >>> import nn
    >>> a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    >>> a.weight.data = Tensor([[1.0, 5.0]]); b.weight.data = Tensor([[3.0, 0.5]])
    >>> global_unstructured([(a, "weight"), (b, "weight")], L1Unstructured, amount=2)
    >>> a.weight_mask.tolist(), b.weight_mask.tolist()
    ([[0.0, 1.0]], [[1.0, 0.0]])
    """
    from nn.utils import parameters_to_vector

    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    importance_scores = importance_scores if importance_scores is not None else {}
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured(): importance_scores must be of type dict")
    relevant_importance_scores = parameters_to_vector(
        [importance_scores.get((module, name), getattr(module, name)) for module, name in parameters])
    default_mask = parameters_to_vector(
        [getattr(module, name + "_mask", _ones_like(getattr(module, name))) for module, name in parameters])
    container = PruningContainer()
    container._tensor_name = "temp"
    method = pruning_method(**kwargs)
    method._tensor_name = "temp"
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError('Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. Found method '
                        f"{pruning_method} of type {method.PRUNING_TYPE}")
    container.add_pruning_method(method)
    final_mask = container.compute_mask(relevant_importance_scores, default_mask)
    pointer = 0
    for module, name in parameters:
        param = getattr(module, name)
        num_param = param.numel()
        param_mask = final_mask[pointer:pointer + num_param].view_as(param)
        custom_from_mask(module, name, mask=param_mask)
        pointer += num_param


def custom_from_mask(module: Module, name: str, mask: Tensor) -> Module:
    """Prune ``module.<name>`` with the given ``mask`` (combined with any mask already there).

    >>> import nn
    >>> m = custom_from_mask(nn.Linear(2, 2), "bias", mask=Tensor([1.0, 0.0])); m.bias_mask.tolist()
    [1.0, 0.0]
    """
    CustomFromMask.apply(module, name, mask)
    return module


def remove(module: Module, name: str) -> Module:
    """Make the pruning of ``module.<name>`` permanent: ``<name>`` is a Parameter again holding
    orig * mask; ``<name>_orig``, ``<name>_mask`` and the hook go.

    >>> import nn
    >>> m = remove(identity(nn.Linear(2, 2), "weight"), "weight"); list(m.state_dict())
    ['bias', 'weight']
    """
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed")


def is_pruned(module: Module) -> bool:
    """Whether ``module`` or any module below it carries a pruning hook.

    >>> import nn
    >>> net = nn.Sequential(nn.Linear(2, 2)); before = is_pruned(net); _ = identity(net[0], "bias")
    >>> before, is_pruned(net)
    (False, True)
    """
    for _, submodule in module.named_modules():
        for hook in submodule._forward_pre_hooks.values():
            if isinstance(hook, BasePruningMethod):
                return True
    return False


def _ones_like(t: Any) -> Tensor:
    """``ones_like(t)`` with torch's TypeError when ``t`` is not a tensor (pruning a None bias).

    >>> _ones_like(Tensor([2.0, 3.0])).tolist()
    [1.0, 1.0]
    """
    if not isinstance(t, Tensor):
        raise TypeError(f"ones_like(): argument 'input' (position 1) must be Tensor, not {type(t).__name__}")
    return ones_like(t)


def _validate_pruning_amount_init(amount: Any) -> None:
    """torch's check of ``amount`` when a method is built: an int >= 0 or a float in [0, 1].

    >>> _validate_pruning_amount_init(1.5)
    Traceback (most recent call last):
    ValueError: amount=1.5 should either be a float in the range [0, 1] or a non-negative integer
    """
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
            not isinstance(amount, numbers.Integral) and (float(amount) > 1.0 or float(amount) < 0.0)):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a non-negative integer")


def _validate_pruning_amount(amount: int, tensor_size: int) -> None:
    """torch's check, once the tensor is known, that an int ``amount`` is at most ``tensor_size``.

    >>> _validate_pruning_amount(5, 4)
    Traceback (most recent call last):
    ValueError: amount=5 should be smaller than the number of parameters to prune=4
    """
    if isinstance(amount, numbers.Integral) and amount > tensor_size:
        raise ValueError(f"amount={amount} should be smaller than the number of parameters to prune={tensor_size}")


def _validate_structured_pruning(t: Tensor) -> None:
    """Structured pruning needs a tensor of two dims or more (ValueError otherwise).

    >>> _validate_structured_pruning(Tensor.ones(2, 3))
    """
    shape = t.shape
    if len(shape) <= 1:
        raise ValueError("Structured pruning can only be applied to multidimensional tensors. Found tensor of "
                         f"shape {_size(shape)} with {len(shape)} dims")


def _compute_nparams_toprune(amount: int | float, tensor_size: int) -> int:
    """The number of units to prune: ``amount`` itself (an int) or ``round(amount * tensor_size)``.

    >>> _compute_nparams_toprune(3, 10), _compute_nparams_toprune(0.25, 10), _compute_nparams_toprune(0.35, 10)
    (3, 2, 4)
    """
    if isinstance(amount, numbers.Integral):
        return amount
    return round(amount * tensor_size)


def _validate_pruning_dim(t: Tensor, dim: int) -> None:
    """IndexError when ``dim`` is past ``t``'s last dim (a too negative one fails when used, as torch).

    >>> _validate_pruning_dim(Tensor.ones(2, 3), 1)
    """
    if dim >= t.dim():
        raise IndexError(f"Invalid index {dim} for tensor of size {_size(t.shape)}")


def _compute_norm(t: Tensor, n: int | float | str, dim: int) -> Tensor:
    """The ``n``-norm (torch.norm's ``p``) of each channel of ``t`` along ``dim``, over every other dim.

    >>> _compute_norm(Tensor([[3.0, 4.0], [1.0, 0.0]]), 2, 0).tolist()
    [5.0, 1.0]
    """
    dims = list(range(t.dim()))
    if dim < 0:
        dim = dims[dim]
    dims.remove(dim)
    return t.norm(p=n, dim=dims)


def _topk_indices(scores: Tensor, k: int, largest: bool) -> Tensor:
    """The indices (int64, in no particular order) of the ``k`` largest (``largest``) or smallest
    entries of the 1-D ``scores``, NaN counting as the largest, exactly as torch.topk on the CPU
    picks them: engine's stable topk when no tie straddles the k-th place, else a replay of
    torch's algorithm (see ``_stl_topk``) to pick the same entries among the tied ones.

    >>> sorted(_topk_indices(Tensor([1.0, 1.0, 1.0, 1.0, 0.0]), 2, largest=True).tolist())  # torch's pick
    [1, 3]
    """
    if isinstance(k, bool):  # amount=True: torch's topk refuses a bool k
        raise TypeError("topk(): argument 'k' must be int, not bool")
    n = scores.shape[0]
    if k == 0 or k == n:
        return scores.topk(k, largest=largest).indices
    order = scores.argsort(descending=largest)
    ranked = scores[order[k - 1:k + 1]].tolist()
    a, b = ranked
    if a != b and not (math.isnan(a) and math.isnan(b)):
        return order[:k]
    return Tensor(_stl_topk(scores.tolist(), k, largest), dtype="int64", device=scores.device)


def _stl_topk(values: list[float], k: int, largest: bool) -> list[int]:
    """Which ``k`` of ``values`` torch.topk on the CPU returns: it runs libstdc++'s
    ``std::partial_sort`` when ``k * 64 <= n``, else ``std::nth_element``, on (value, index) pairs
    with a comparator that puts NaN last; among tied values the entries kept depend on those
    algorithms' steps, replayed here (heap select; introselect with median-of-three pivots)."""
    n = len(values)
    a = [(v, i) for i, v in enumerate(values)]
    if largest:
        def comp(x, y):
            return (math.isnan(x[0]) and not math.isnan(y[0])) or x[0] > y[0]
    else:
        def comp(x, y):
            return (not math.isnan(x[0]) and math.isnan(y[0])) or x[0] < y[0]
    if k * 64 <= n:
        _heap_select(a, 0, k, n, comp)
    else:
        _nth_element(a, k - 1, comp)
    return [i for _, i in a[:k]]


def _adjust_heap(a: list, first: int, hole: int, length: int, value: Any, comp) -> None:
    """libstdc++'s ``std::__adjust_heap`` (sift the hole down to a leaf, then push ``value`` up)."""
    top = second = hole
    while second < (length - 1) // 2:
        second = 2 * (second + 1)
        if comp(a[first + second], a[first + second - 1]):
            second -= 1
        a[first + hole] = a[first + second]
        hole = second
    if (length & 1) == 0 and second == (length - 2) // 2:
        second = 2 * (second + 1)
        a[first + hole] = a[first + second - 1]
        hole = second - 1
    parent = (hole - 1) // 2
    while hole > top and comp(a[first + parent], value):
        a[first + hole] = a[first + parent]
        hole = parent
        parent = (hole - 1) // 2
    a[first + hole] = value


def _heap_select(a: list, first: int, middle: int, last: int, comp) -> None:
    """libstdc++'s ``std::__heap_select``: [first, middle) ends up holding the smallest (by comp)."""
    length = middle - first
    if length >= 2:
        parent = (length - 2) // 2
        while True:
            _adjust_heap(a, first, parent, length, a[first + parent], comp)
            if parent == 0:
                break
            parent -= 1
    for i in range(middle, last):
        if comp(a[i], a[first]):
            value, a[i] = a[i], a[first]
            _adjust_heap(a, first, 0, length, value, comp)


def _nth_element(a: list, nth: int, comp) -> None:
    """libstdc++'s ``std::nth_element`` (introselect, depth limit 2*floor(log2 n), then insertion sort)."""
    first, last = 0, len(a)
    if nth == last:
        return
    depth = 2 * ((last - first).bit_length() - 1)
    while last - first > 3:
        if depth == 0:
            _heap_select(a, first, nth + 1, last, comp)
            a[first], a[nth] = a[nth], a[first]
            return
        depth -= 1
        # __move_median_to_first of (first + 1, mid, last - 1), then __unguarded_partition
        mid = first + (last - first) // 2
        x, y, z = first + 1, mid, last - 1
        if comp(a[x], a[y]):
            m = y if comp(a[y], a[z]) else (z if comp(a[x], a[z]) else x)
        elif comp(a[x], a[z]):
            m = x
        elif comp(a[y], a[z]):
            m = z
        else:
            m = y
        a[first], a[m] = a[m], a[first]
        lo, hi, pivot = first + 1, last, a[first]
        while True:
            while comp(a[lo], pivot):
                lo += 1
            hi -= 1
            while comp(pivot, a[hi]):
                hi -= 1
            if not lo < hi:
                break
            a[lo], a[hi] = a[hi], a[lo]
            lo += 1
        if lo <= nth:
            first = lo
        else:
            last = lo
    for i in range(first + 1, last):  # __insertion_sort
        val = a[i]
        if comp(val, a[first]):
            a[first + 1:i + 1] = a[first:i]
            a[first] = val
        else:
            j = i
            while comp(val, a[j - 1]):
                a[j] = a[j - 1]
                j -= 1
            a[j] = val
