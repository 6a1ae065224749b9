"""Second derivatives against torch's double backward, shared by the test_parity_higher_order*_s15 files:
g = d sum(f(x...) · v) / dx with create_graph, then d sum(g · u) / d(x..., v), float64, both libraries
given the same arrays. Not a test module (torch is imported by the callers, which skip without it)."""

from __future__ import annotations

import numpy as np

import engine
import engine.functional as F


def second_derivatives(lib, f, arrays, v, u) -> tuple[list, list]:
    """(first derivatives, second derivatives) of ``f(lib, *xs)`` as NumPy arrays (None where none)."""
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


def check(f, shapes, rng, scale=1.0, arrays=None, rtol=1e-6, atol=1e-8) -> None:
    """Ours equal torch's first and second derivatives of ``f(lib, *xs)`` (to rtol, atol); where torch has
    none or zeros, ours is None or zeros (nan where torch's is nan)."""
    import torch

    arrays = arrays or [rng.standard_normal(s) * scale for s in shapes]
    out_shape = tuple(f(torch, *[torch.tensor(a) for a in arrays]).shape)
    v = rng.standard_normal(out_shape)
    u = [rng.standard_normal(a.shape) for a in arrays]
    tf, ts = second_derivatives(torch, f, arrays, v, u)
    of, os_ = second_derivatives(engine, f, arrays, v, u)
    for t, o in zip(tf + ts, of + os_):
        if t is None or not np.any(t):
            assert o is None or np.allclose(o, 0, rtol=0, atol=atol), o
        else:
            np.testing.assert_allclose(o, t, rtol=rtol, atol=atol)


def functional(lib):
    """engine.functional for ours, torch.nn.functional for torch."""
    import torch

    return F if lib is engine else torch.nn.functional


def through(f):
    """``f`` with its inputs turned into intermediates nothing else holds (freed after the call)."""
    return lambda lib, *xs: f(lib, *[x * 1.0 for x in xs])
