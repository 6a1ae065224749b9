"""Seeded random numbers for both backends (dropout, init, factories, sampling)."""

from __future__ import annotations

import numpy as np

from engine.backend import get_xp

_generators: dict[str, object] = {}
_seed: int | None = None


def manual_seed(seed: int) -> None:
    """Seed every backend's default generator, like ``torch.manual_seed``.

    >>> manual_seed(0); a = generator("cpu").random(); manual_seed(0)
    >>> a == generator("cpu").random()
    True
    """
    global _seed
    _seed = int(seed)
    _generators.clear()


def generator(device: str = "cpu"):
    """The default generator of a device: a ``numpy.random.Generator`` or its CuPy twin."""
    if device not in _generators:
        xp = get_xp(device)
        _generators[device] = (np.random.default_rng(_seed) if xp is np else xp.random.default_rng(_seed))
    return _generators[device]


def get_state() -> dict:
    """The CPU generator's state, for exact resume from a checkpoint."""
    return {"seed": _seed, "cpu": generator("cpu").bit_generator.state}


def set_state(state: dict) -> None:
    """Restore what ``get_state`` returned."""
    global _seed
    _seed = state.get("seed")
    _generators.clear()
    generator("cpu").bit_generator.state = state["cpu"]
