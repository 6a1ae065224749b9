"""torch's memory formats and layouts as names: ``engine.contiguous_format``, ``preserve_format``,
``channels_last``, ``channels_last_3d`` and ``engine.strided``.

Our tensors are NumPy (or CuPy) arrays, always in their own (row-major) order: asking for
``channels_last`` checks what torch checks (a rank-4 tensor; ``channels_last_3d``: rank 5) and
changes no values, but it does **not** reorder memory. So ``x.to(memory_format=channels_last)``
equals torch's result entry for entry, while ``is_contiguous(memory_format=channels_last)`` answers
for the array we really hold (torch's rule on its strides), which stays row-major.

>>> import engine
>>> x = engine.ones(2, 3, 4, 5)
>>> x.contiguous(memory_format=engine.channels_last).shape, x.is_contiguous(memory_format=engine.channels_last)
((2, 3, 4, 5), False)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class memory_format:  # noqa: N801 - torch's name
    """torch.memory_format: one of four named objects (compare with ``is``/``==``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self) -> str:  # pickles as the module-level object
        return self.name


class layout:  # noqa: N801 - torch's name
    """torch.layout: ``engine.strided`` (dense arrays); ``engine.sparse_coo`` names the layout of the sparse
    gradients sparse=True embeddings make (engine/sparse.py), which factories do not build."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self) -> str:
        return self.name


contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")
strided = layout("strided")
sparse_coo = layout("sparse_coo")

_RANK = {"channels_last": 4, "channels_last_3d": 5}


def check_memory_format(fmt: Any, ndim: int, op: str) -> None:
    """Raise as torch when ``fmt`` is not a memory format, or asks for channels-last on the wrong rank.

    >>> check_memory_format(contiguous_format, 2, "clone")
    """
    if fmt is None:
        return
    if not isinstance(fmt, memory_format):
        raise TypeError(f"{op}(): memory_format must be a torch.memory_format (engine.contiguous_format, ...), "
                        f"got {type(fmt).__name__}")
    rank = _RANK.get(fmt.name)
    if rank is not None and ndim != rank:
        raise RuntimeError(f"required rank {rank} tensor to use {fmt.name} format (got a {ndim}-d tensor in {op})")


def check_layout(value: Any, op: str) -> None:
    """Only the dense layout exists here: ``None`` or ``engine.strided`` pass, anything else raises.

    >>> check_layout(strided, "zeros")
    """
    if value is None or value is strided:
        return
    if isinstance(value, layout):
        raise NotImplementedError(f"{op}(): layout {value!r} is not supported (only engine.strided)")
    raise TypeError(f"{op}(): layout must be a torch.layout (engine.strided), got {type(value).__name__}")


def is_contiguous_as(shape: tuple, strides: tuple, fmt: Any) -> bool:
    """torch's contiguity test for ``fmt`` on ``strides`` (in elements): channels-last walks the dims
    C, W, H, N (3-d: C, W, H, D, N), skipping size-1 dims, each stride the product of the sizes before.

    >>> is_contiguous_as((2, 3, 4, 5), (60, 1, 15, 3), channels_last)
    True
    """
    if not isinstance(fmt, memory_format):
        raise TypeError(f"is_contiguous(): memory_format must be a torch.memory_format, got {type(fmt).__name__}")
    order = {"channels_last": (1, 3, 2, 0), "channels_last_3d": (1, 4, 3, 2, 0)}.get(getattr(fmt, "name", ""))
    if order is None:
        order = tuple(reversed(range(len(shape))))
        if any(n == 0 for n in shape):
            return True
    elif len(shape) != len(order):
        return False
    expected = 1
    for d in order:
        if shape[d] != 1:
            if strides[d] != expected:
                return False
            expected *= shape[d]
    return True


# torch's factories that take layout= (and, the second list, memory_format=): engine.__init__ wraps them
LAYOUT_FACTORIES = ("zeros", "ones", "empty", "full", "arange", "linspace", "logspace", "eye", "rand", "randn",
                    "randint", "randperm", "normal", "tril_indices", "triu_indices", "hann_window",
                    "bartlett_window", "blackman_window", "hamming_window", "kaiser_window", "empty_strided",
                    "empty_permuted", "scalar_tensor")
LIKE_FACTORIES = ("zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like", "randint_like")


def accept_layout(fn: Callable, name: str, memory_format_too: bool) -> Callable:
    """``fn`` also taking torch's ``layout=`` (strided only) and, where torch has it, ``memory_format=``
    (checked on the result's rank, values unchanged).

    >>> import engine
    >>> engine.zeros(2, layout=engine.strided).tolist()
    [0.0, 0.0]
    """
    @functools.wraps(fn)
    def wrapper(*args, layout=None, **kwargs):
        check_layout(layout, name)
        fmt = kwargs.pop("memory_format", None) if memory_format_too else None
        out = fn(*args, **kwargs)
        check_memory_format(fmt, out.ndim, name)
        return out

    return wrapper


def install(module: Any) -> None:
    """Wrap ``module``'s factories (engine's) so they take ``layout=`` / ``memory_format=`` as torch's do."""
    for name in LAYOUT_FACTORIES + LIKE_FACTORIES:
        fn = getattr(module, name, None)
        if fn is not None:
            setattr(module, name, accept_layout(fn, name, name == "empty" or name in LIKE_FACTORIES))
