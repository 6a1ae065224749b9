"""Higher-order gradients, part 3 (session 15): the second derivatives the OpInfo gradgrad sweep
(``tests/engine/opinfo_sweep.py --gradgrad``) found wrong or missing, against torch's double backward
in float64. Each case: g = d sum(f(x...) · v) / dx with create_graph, then d sum(g · u) / d(x..., v).

- a stop-gradient copy (``x * x.detach()``): the detached tensor shares x's array, and the saved-array
  matching took it for x (a nonzero second derivative where torch has none);
- freed intermediates of one shape (the matching by shape and order);
- ELU/CELU/SELU at large inputs (the unselected branch's exp overflowed: 0 · inf = nan).
"""

from __future__ import annotations

import numpy as np
import pytest
from double_backward_check import check, functional, through

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(15)


def _check(f, shapes, scale=1.0, arrays=None):
    check(f, shapes, RNG, scale, arrays)


STOP_GRADIENT = {
    "mul_detached": lambda lib, x: x * x.detach(),
    "detached_mul": lambda lib, x: x.detach() * x,
    "div_detached": lambda lib, x: x / (x.detach() ** 2 + 1),
    "div_by_detached_self": lambda lib, x: (x + 3) / (x + 3).detach(),
    "detached_div": lambda lib, x: x.detach() / (x ** 2 + 1),
    "pow_detached_exponent": lambda lib, x: (x.abs() + 1) ** x.detach(),
    "maximum_detached": lambda lib, x: lib.maximum(x * x, x.detach() * 0.5),
    "matmul_detached": lambda lib, x: x @ x.detach(),
    "matmul_detached_left": lambda lib, x: x.detach() @ x,
    "linear_detached_weight": lambda lib, x: functional(lib).linear(x, x.detach()) ** 2,
    "mse_to_detached": lambda lib, x: (x * x - (x * 2).detach()) ** 2,
}


@pytest.mark.parametrize("name", sorted(STOP_GRADIENT))
@pytest.mark.parametrize("freed", [False, True], ids=["leaf", "intermediate"])
def test_stop_gradient_copy(name, freed):
    f = STOP_GRADIENT[name]
    _check(through(f) if freed else f, [(3, 3)])


BINARY = {
    "mul": lambda lib, a, b: a * b * a,
    "div": lambda lib, a, b: a / (b * b + 1),
    "pow": lambda lib, a, b: (a * a + 1) ** b,
    "maximum": lambda lib, a, b: lib.maximum(a, b) ** 2,
    "matmul": lambda lib, a, b: (a @ b) ** 2,
    "logsumexp": lambda lib, a, b: (a * b).logsumexp(-1) ** 2,
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_freed_inputs_of_one_shape(name):
    _check(through(BINARY[name]), [(3, 3), (3, 3)])


@pytest.mark.parametrize("op,kw", [("elu", {"alpha": 0.8}), ("celu", {"alpha": 0.8}), ("selu", {})])
def test_elu_family_large_inputs(op, kw):
    x = np.concatenate([np.full(4, -1001.2), np.full(4, 1001.2), RNG.standard_normal(8) * 2, [0.0]])
    _check(lambda lib, a: getattr(functional(lib), op)(a, **kw), None, arrays=[x])
    _check(through(lambda lib, a: getattr(functional(lib), op)(a, **kw)), None, arrays=[x])


# ops whose reference backward now runs on Tensors under create_graph (opinfo_sweep --gradgrad passes)
ADDED = {
    "tril": (lambda lib, a: lib.tril(a * a, -1), [(4, 4)]),
    "triu": (lambda lib, a: lib.triu(a * a, 1), [(3, 5)]),
    "logaddexp": (lambda lib, a, b: lib.logaddexp(a * b, b) ** 2, [(3, 4), (3, 4)]),
    "logaddexp2": (lambda lib, a, b: lib.logaddexp2(a, a * b) ** 2, [(3, 4), (4,)]),
    "hardswish": (lambda lib, a: functional(lib).hardswish(a) ** 2, [(3, 4)]),
    "atan2": (lambda lib, a, b: lib.atan2(a, b), [(3, 4), (3, 4)]),
    "lerp": (lambda lib, a, b, w: lib.lerp(a * a, b, w) ** 2, [(3, 4), (3, 4), (3, 4)]),
    "hypot": (lambda lib, a, b: lib.hypot(a, b) ** 2 * a, [(3, 4), (3, 4)]),
    "fmax": (lambda lib, a, b: lib.fmax(a * a, b) ** 2, [(3, 4), (3, 4)]),
    "fmin": (lambda lib, a, b: lib.fmin(a, b * b) ** 2, [(3, 4), (3, 4)]),
}


@pytest.mark.parametrize("name", sorted(ADDED))
@pytest.mark.parametrize("freed", [False, True], ids=["leaf", "intermediate"])
def test_added_reference_ops(name, freed):
    f, shapes = ADDED[name]
    _check(through(f) if freed else f, shapes, scale=2.0)
