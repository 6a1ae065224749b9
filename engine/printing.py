"""torch.set_printoptions and the deterministic-algorithms flags: process-wide settings.

Printing: ``Tensor.__repr__`` formats its values through NumPy's array2string with ``PRINT_OPTS``
(precision, threshold, edgeitems, linewidth as torch's; ``sci_mode`` True/False forces or forbids
scientific notation, None leaves the choice to the values). The layout of the text is NumPy's, not
torch's; the options mean what they mean in torch.

Determinism: the CPU engine is deterministic (no atomics, fixed reduction orders), so
``use_deterministic_algorithms`` only records the flags torch code reads back.

>>> import engine
>>> engine.set_printoptions(precision=2)
>>> engine.tensor([1.12345])
Tensor([1.12], dtype=float32, device=cpu)
>>> engine.set_printoptions(profile="default")
"""

from __future__ import annotations

import math
import sys
from typing import Any


class _PrintOptions:
    """torch's PRINT_OPTS: the settings every Tensor repr reads."""

    def __init__(self):
        self.precision, self.threshold, self.edgeitems, self.linewidth = 4, 1000, 3, 80
        self.sci_mode: bool | None = None


PRINT_OPTS = _PrintOptions()
_PROFILES = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80), "full": (4, math.inf, 3, 80)}


def set_printoptions(precision: int | None = None, threshold: float | None = None, edgeitems: int | None = None,
                     linewidth: int | None = None, profile: str | None = None, sci_mode: bool | None = None) -> None:
    """Set how tensors print, as torch.set_printoptions: ``profile`` ("default", "short", "full") first,
    then each option given; ``sci_mode`` is always set (None: automatic).

    >>> import engine
    >>> engine.set_printoptions(threshold=5)
    >>> engine.arange(10)
    Tensor([0, 1, 2, ..., 7, 8, 9], dtype=int64, device=cpu)
    >>> engine.set_printoptions(profile="default")
    """
    if profile is not None and profile in _PROFILES:  # torch ignores an unknown profile name
        (PRINT_OPTS.precision, PRINT_OPTS.threshold, PRINT_OPTS.edgeitems,
         PRINT_OPTS.linewidth) = _PROFILES[profile]
    if precision is not None:
        PRINT_OPTS.precision = precision
    if threshold is not None:
        PRINT_OPTS.threshold = threshold
    if edgeitems is not None:
        PRINT_OPTS.edgeitems = edgeitems
    if linewidth is not None:
        PRINT_OPTS.linewidth = linewidth
    PRINT_OPTS.sci_mode = sci_mode


def array2string_options() -> dict[str, Any]:
    """The keyword arguments of ``np.array2string`` that PRINT_OPTS stands for."""
    p = PRINT_OPTS.precision
    threshold = PRINT_OPTS.threshold
    opts: dict[str, Any] = {"precision": p, "edgeitems": PRINT_OPTS.edgeitems, "max_line_width": PRINT_OPTS.linewidth,
                            "threshold": sys.maxsize if threshold == math.inf else int(threshold)}
    if PRINT_OPTS.sci_mode is True:
        opts["formatter"] = {"float_kind": lambda v: f"{v:.{p}e}"}
    elif PRINT_OPTS.sci_mode is False:
        opts["formatter"] = {"float_kind": lambda v: f"{v:.{p}f}"}
    return opts


class _Deterministic:
    mode = False
    warn_only = False


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Record torch's deterministic-algorithms flags (the engine's CPU ops are deterministic already).

    >>> import engine
    >>> engine.use_deterministic_algorithms(True, warn_only=True)
    >>> engine.are_deterministic_algorithms_enabled(), engine.is_deterministic_algorithms_warn_only_enabled()
    (True, True)
    >>> engine.use_deterministic_algorithms(False)
    """
    if not isinstance(mode, bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'mode' (position 1) must be bool, not "
                        f"{type(mode).__name__}")
    if not isinstance(warn_only, bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'warn_only' must be bool, not "
                        f"{type(warn_only).__name__}")
    _Deterministic.mode, _Deterministic.warn_only = mode, warn_only


def are_deterministic_algorithms_enabled() -> bool:
    """Whether ``use_deterministic_algorithms(True)`` is in force (torch's flag)."""
    return _Deterministic.mode


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    """Whether it was set with ``warn_only=True`` (torch's flag)."""
    return _Deterministic.warn_only


__all__ = ["set_printoptions", "use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
           "is_deterministic_algorithms_warn_only_enabled"]
