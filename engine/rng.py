"""Seeded random numbers for both backends (dropout, init, factories, sampling)."""

from __future__ import annotations

import numpy as np

from engine.backend import get_xp

_generators: dict[str, object] = {}
_seed: int | None = None


def manual_seed(seed: int) -> Generator:
    """Seed every backend's default generator and return ``default_generator``, like
    ``torch.manual_seed`` (a negative seed is its 64-bit two's complement, as torch's).

    >>> manual_seed(0); a = generator("cpu").random(); manual_seed(0)  # doctest: +ELLIPSIS
    <engine.rng._DefaultGenerator object at ...>
    >>> a == generator("cpu").random(), manual_seed(-1).initial_seed() == 2**64 - 1
    (True, True)
    """
    global _seed
    _seed = _check_seed(seed)
    _generators.clear()
    return default_generator


def _check_seed(seed) -> int:
    seed = int(seed)
    if not -(1 << 63) <= seed < 1 << 64:  # torch's error type and range
        raise ValueError(f"Overflow when unpacking long long: seed {seed} is outside [-2^63, 2^64)")
    return seed + (1 << 64) if seed < 0 else seed  # a negative seed is its 64-bit two's complement


# vmap(randomness="error") levels open now (engine.func): a draw from a default stream raises inside them
_random_forbidden = 0
_RANDOM_IN_VMAP = ("vmap: called random operation while in randomness error mode. Please either use the 'same' or "
                   "'different' randomness flags on vmap or perform the randomness operation out of vmap")


def generator(device: str = "cpu"):
    """The default generator of a device: a ``numpy.random.Generator`` or its CuPy twin."""
    if _random_forbidden:
        raise RuntimeError(_RANDOM_IN_VMAP)
    return _stream(device)


def _stream(device: str):
    """generator() without vmap's check: for reading and restoring the state, which is no draw."""
    global _seed
    if device not in _generators:
        if _seed is None:  # unseeded: a seed from the OS's entropy, kept so initial_seed() can tell it
            _seed = _entropy_seed()
        xp = get_xp(device)
        _generators[device] = (np.random.default_rng(_seed) if xp is np else xp.random.default_rng(_seed))
    return _generators[device]


def get_state() -> dict:
    """The CPU generator's state, for exact resume from a checkpoint."""
    return {"seed": _seed, "cpu": _stream("cpu").bit_generator.state}


def set_state(state: dict) -> None:
    """Restore what ``get_state`` returned."""
    global _seed
    _seed = state.get("seed")
    _generators.clear()
    _stream("cpu").bit_generator.state = state["cpu"]


def _entropy_seed() -> int:
    import os

    return int.from_bytes(os.urandom(8), "little") >> 1


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
        seed = _check_seed(seed)
        xp = get_xp(self.device)
        self._seed = seed
        self._gen = np.random.default_rng(seed) if xp is np else xp.random.default_rng(seed)
        return self

    def seed(self) -> int:
        """Seed from the OS's entropy and return the seed."""
        s = _entropy_seed()
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


class _DefaultGenerator(Generator):
    """torch.default_generator: the default CPU stream (what ``engine.manual_seed`` seeds and every
    draw without ``generator=`` uses) as a Generator; seeding or restoring it through this object
    or through ``manual_seed`` / ``set_state`` (``engine.set_rng_state``) is the same thing.

    >>> default_generator.manual_seed(5) is manual_seed(5), default_generator.initial_seed()
    (True, 5)
    """

    def __init__(self):
        self.device = "cpu"

    @property
    def _gen(self):
        return generator("cpu")

    def manual_seed(self, seed: int) -> Generator:
        return manual_seed(seed)

    def initial_seed(self) -> int:
        _stream("cpu")  # an unseeded stream picks its seed on first use
        return _seed

    def get_state(self) -> dict:
        """The same state as ``get_state()`` / ``engine.get_rng_state()`` (torch's are one too)."""
        return get_state()

    def set_state(self, state: dict) -> Generator:
        set_state(state)
        return self


default_generator = _DefaultGenerator()
