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


DEFAULT_GENERATOR_SEED = 67280421310721  # torch.Generator()'s initial seed


class Generator:
    """torch.Generator: a seeded stream of its own, for any ``generator=`` argument (``engine.rand``,
    ``randn``, ``randint``, ``randperm``, ``normal``, ``multinomial``, ``nn.utils.data``'s
    ``random_split``, samplers and ``DataLoader``), apart from the default one ``engine.manual_seed``
    seeds. It wraps a ``numpy.random.Generator`` (CuPy's on "cuda") and hands the draws to it.
    ``get_state`` returns that generator's state (a dict, where torch returns a ByteTensor).

    >>> g = Generator().manual_seed(0); a = g.random(); g.manual_seed(0)  # doctest: +ELLIPSIS
    <engine.rng.Generator object at ...>
    >>> a == g.random(), Generator().initial_seed()
    (True, 67280421310721)
    """

    def __init__(self, device="cpu"):
        self.device = str(device).split(":")[0]
        if self.device not in ("cpu", "cuda"):
            raise RuntimeError(f"Generator: device type must be 'cpu' or 'cuda', got {device!r}")
        self.manual_seed(DEFAULT_GENERATOR_SEED)

    def manual_seed(self, seed: int) -> Generator:
        """Seed this generator (returns it, as torch's does)."""
        seed = int(seed)
        if seed < 0:
            seed += 1 << 64  # torch takes a negative seed as its 64-bit two's complement
        if not 0 <= seed < 1 << 64:
            raise RuntimeError(f"Overflow when unpacking long: seed {seed} is outside [-2^63, 2^64)")
        xp = get_xp(self.device)
        self._seed = seed
        self._gen = np.random.default_rng(seed) if xp is np else xp.random.default_rng(seed)
        return self

    def seed(self) -> int:
        """Seed from the OS's entropy and return the seed."""
        import os

        s = int.from_bytes(os.urandom(8), "little") >> 1
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        return self._gen.bit_generator.state

    def set_state(self, state: dict) -> Generator:
        self._gen.bit_generator.state = state
        return self

    def __getattr__(self, name: str):  # random, standard_normal, integers, permutation, choice, ...
        if name.startswith("__") or name == "_gen":
            raise AttributeError(name)
        return getattr(self._gen, name)
