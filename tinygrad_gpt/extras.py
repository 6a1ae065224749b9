"""Optional packages (the extras of setup.cfg): a missing one is one line that names the extra.

>>> require("json", "examples", "this doctest").__name__
'json'
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ImportError):
    """An optional package is not installed; the message names the extra that brings it."""

    @staticmethod
    def install_hint(extra: str) -> str:
        return f'pip install -e ".[{extra}]"'


# The package each importable name comes from, when the two differ.
_PACKAGES = {"sklearn": "scikit-learn", "cupy": "cupy-cuda12x"}


def require(module: str, extra: str, needed_for: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtra` saying which extra to install for ``needed_for``."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is not None and e.name.split(".")[0] != module.split(".")[0]:
            raise  # the package is there but something it imports is not: show that
        package = _PACKAGES.get(module.split(".")[0], module)
        raise MissingExtra(f"error: {needed_for} needs {package}, which is not installed: "
                           f"{MissingExtra.install_hint(extra)}", name=module) from None


__all__ = ["MissingExtra", "require"]
