"""Second derivatives through complex graphs against torch (create_graph=True): holomorphic elementwise
ops, matmul, reductions and shape ops, ended by real, imag, abs and conj, in torch's convention. The
second loss mixes the complex first gradient with a fixed complex vector (Re(conj(g)·u)) and |gW|²."""

from __future__ import annotations

import numpy as np
import pytest

import engine

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(0)
Z0 = RNG.standard_normal(3) + 1j * RNG.standard_normal(3)
W0 = RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3))
U0 = RNG.standard_normal(3) + 1j * RNG.standard_normal(3)

LOSSES = {
    "abs of z*z + exp z": lambda z, w: (z * z + z.exp()).abs().sum(),
    "real of (w @ z) * sin z": lambda z, w: ((w @ z) * z.sin()).real.sum(),
    "imag of log z / z": lambda z, w: (z.log() / z).imag.sum(),
    "|tanh z|^2": lambda z, w: (z.tanh().abs() ** 2).sum(),
    "real of conj(z) * (w @ z)": lambda z, w: (z.conj() * (w @ z)).real.sum(),
    "|sqrt z + 1/z| mean": lambda z, w: (z.sqrt() + 1 / z).abs().mean(),
    "stack, reshape, transpose": lambda z, w: (engine_or_torch(z).stack([z, z.cos()]).reshape(3, 2).T @ z).abs().sum(),
    "cast of a real input": lambda z, w: ((w @ z) * z.real.to(z.dtype)).real.sum(),
}


def engine_or_torch(t):
    return torch if isinstance(t, torch.Tensor) else engine


def _second(lib, loss):
    z = lib.tensor(Z0.copy(), requires_grad=True)
    w = lib.tensor(W0.copy(), requires_grad=True)
    gz, gw = lib.autograd.grad(loss(z, w), [z, w], create_graph=True, allow_unused=True)
    l2 = (gz.conj() * lib.tensor(U0.copy())).real.sum()
    if gw is not None:
        l2 = l2 + (gw.abs() ** 2).sum()
    hz, hw = lib.autograd.grad(l2, [z, w], allow_unused=True)
    return [None if x is None else np.asarray(x.detach().numpy()) for x in (gz, hz, hw)]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_second_derivatives_through_complex_graphs_match_torch(name):
    ours, theirs = _second(engine, LOSSES[name]), _second(torch, LOSSES[name])
    for o, t in zip(ours, theirs):
        assert (o is None) == (t is None)
        if t is not None:
            assert o.dtype == t.dtype
            np.testing.assert_allclose(o, t, rtol=1e-10, atol=1e-12)


def test_an_op_without_a_complex_graph_backward_says_so():
    w = engine.tensor(W0.copy(), requires_grad=True)  # angle and eig have one now (the s18 tests)
    # torch has no complex scatter_reduce gradient at all; ours has a first derivative, not a second
    out = engine.ones(3, 3, dtype=w.dtype).scatter_reduce(0, engine.tensor([[0, 1, 0], [1, 0, 2]]), w[:2], "prod")
    with pytest.raises(NotImplementedError, match="double backward of ScatterReduce with complex tensors"):
        engine.autograd.grad(out.abs().sum(), w, create_graph=True)
