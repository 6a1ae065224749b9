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

import engine
import engine.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(154)


def _second(lib, f, arrays, v, u):
    xs = [lib.tensor(a, dtype=lib.float64, requires_grad=True) for a in arrays]
    vt = lib.tensor(v, dtype=lib.float64, requires_grad=True)
    out = f(lib, *xs)
    gs = lib.autograd.grad((out * vt).sum(), xs, create_graph=True, allow_unused=True)
    total = None
    for g, uu in zip(gs, u):
        if g is not None and g.requires_grad:
            term = (g * lib.tensor(uu, dtype=lib.float64)).sum()
            total = term if total is None else total + term
    first = [None if g is None else np.array(g.tolist()) for g in gs]
    if total is None:
        return first, [None] * (len(xs) + 1)
    second = lib.autograd.grad(total, [*xs, vt], allow_unused=True)
    return first, [None if g is None else np.array(g.tolist()) for g in second]


def _check(f, shapes, scale=1.0, arrays=None):
    arrays = arrays or [RNG.standard_normal(s) * scale for s in shapes]
    out_shape = tuple(f(torch, *[torch.tensor(a) for a in arrays]).shape)
    v = RNG.standard_normal(out_shape)
    u = [RNG.standard_normal(a.shape) for a in arrays]
    tf, ts = _second(torch, f, arrays, v, u)
    of, os_ = _second(engine, f, arrays, v, u)
    for t, o in zip(tf + ts, of + os_):
        if t is None or not np.any(t):
            assert o is None or np.allclose(o, 0, rtol=1e-6, atol=1e-8), o
        else:
            np.testing.assert_allclose(o, t, rtol=1e-6, atol=1e-8)


def _fn(lib):
    return F if lib is engine else TF


def _through(f):  # the op's inputs as intermediates nothing else holds (freed after the call)
    return lambda lib, *xs: f(lib, *[x * 1.0 for x in xs])


SCALAR = {  # 0-d inputs: the op's forward returns a NumPy scalar
    "exp": lambda lib, a: a.exp(),
    "sigmoid": lambda lib, a: a.sigmoid() * a,
    "relu": lambda lib, a: _fn(lib).relu(a) * a,
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
    _check(_through(f) if freed else f, [()] * n, scale=1.5)


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
    _check(_through(f) if freed else f, shapes, scale=1.5)


@pytest.mark.parametrize("f", [lambda a: (a * 1.0).prod(), lambda a: (a * 1.0).cumprod(0)], ids=["prod", "cumprod"])
def test_zero_entry_still_raises(f):
    x = engine.tensor([1.0, 0.0, 2.0], dtype=engine.float64, requires_grad=True)
    with pytest.raises(NotImplementedError, match="zero entry"):
        engine.autograd.grad(f(x).sum(), x, create_graph=True)
