"""Higher-order gradients, part 4 (session 15): more common ops under ``create_graph=True``, against
torch's double backward in float64 (g = d sum(f(x...) · v) / dx with create_graph, then
d sum(g · u) / d(x..., v)), with leaf inputs and with freed intermediates.

- 0-d inputs: a forward that returns a NumPy scalar (exp of a 0-d array) saved that scalar, while the
  output Tensor holds a new 0-d array of it, so the saved-array matching found neither;
- ops given a graph rule or a Tensor-run reference backward (clamp with tensor bounds, einsum, cumsum, ...).
"""

from __future__ import annotations

import numpy as np
import pytest
from double_backward_check import check, functional, through

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(154)


def _check(f, shapes, scale=1.0, arrays=None):
    check(f, shapes, RNG, scale, arrays)


SCALAR = {  # 0-d inputs: the op's forward returns a NumPy scalar
    "exp": lambda lib, a: a.exp(),
    "sigmoid": lambda lib, a: a.sigmoid() * a,
    "relu": lambda lib, a: functional(lib).relu(a) * a,
    "pow": lambda lib, a, b: (a * a + 1) ** b,
    "amax": lambda lib, a: lib.amax(a * a, 0) * a,
    "max": lambda lib, a: lib.max(a * a) * a,
    "amin_keepdim": lambda lib, a: lib.amin(a * a, 0, keepdim=True) * a,
    "logsumexp": lambda lib, a: lib.logsumexp(a * a, 0, True) * a,
}


@pytest.mark.parametrize("name", sorted(SCALAR))
@pytest.mark.parametrize("freed", [False, True], ids=["leaf", "intermediate"])
def test_zero_dim_outputs(name, freed):
    f = SCALAR[name]
    n = f.__code__.co_argcount - 1
    _check(through(f) if freed else f, [()] * n, scale=1.5)


def _pos(x):  # away from 0 (prod, cumprod: the zero-free route) and kinks
    return x * x + 0.5


# ops given a graph rule under create_graph (opinfo_sweep --gradgrad passes for them)
ADDED = {
    "clamp_tensor": (lambda lib, a, lo, hi: lib.clamp(a * a, lo, hi + 1.0) * a, [(3, 4), (4,), (3, 1)]),
    "clamp_tensor_min": (lambda lib, a, lo: lib.clamp(a, min=lo * lo) ** 2, [(3, 4), (3, 4)]),
    "einsum": (lambda lib, a, b: lib.einsum("ij,jk->ik", a * a, b) ** 2, [(3, 4), (4, 2)]),
    "einsum_sum_away": (lambda lib, a, b: lib.einsum("ij,kj->i", a, b * b) * a.sum(1), [(3, 4), (2, 4)]),
    "cumsum": (lambda lib, a: (a * a).cumsum(1) ** 2, [(3, 4)]),
    "diagonal": (lambda lib, a: (a * a).diagonal(1, -2, -1) ** 2, [(2, 3, 4)]),
    "trace": (lambda lib, a: lib.trace(a * a) * a, [(4, 4)]),
    "prod": (lambda lib, a: _pos(a).prod(1) ** 2, [(3, 4)]),
    "prod_all": (lambda lib, a: _pos(a).prod() * a, [(3, 4)]),
    "logit": (lambda lib, a: lib.logit(a.sigmoid()) ** 2 * a, [(3, 4)]),
    "logit_eps": (lambda lib, a: lib.logit(a.sigmoid(), eps=0.2) ** 2, [(3, 4)]),
    "nan_to_num": (lambda lib, a: lib.nan_to_num(a * a) * a, [(3, 4)]),
    "remainder": (lambda lib, a, b: lib.remainder(a * a, b + 3.0) ** 2, [(3, 4), (4,)]),
    "fmod": (lambda lib, a, b: lib.fmod(a * b, b * b + 0.5) ** 2, [(3, 4), (3, 4)]),
    "floor_divide": (lambda lib, a, b: lib.div(a, b, rounding_mode="floor") * a, [(3, 4), (3, 4)]),
    "cumprod": (lambda lib, a: _pos(a).cumprod(1) * a, [(3, 4)]),
    "logcumsumexp": (lambda lib, a: lib.logcumsumexp(a * a, 1) * a, [(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(ADDED))
@pytest.mark.parametrize("freed", [False, True], ids=["leaf", "intermediate"])
def test_added_rules(name, freed):
    f, shapes = ADDED[name]
    _check(through(f) if freed else f, shapes, scale=1.5)
