"""Second derivatives (session 18) of scatter_reduce / index_reduce with prod, amin and amax (ties split
evenly, zeros in self and src), copysign (nan at a == 0, as torch), frexp, nextafter, einsum with a
repeated letter, cov with float32 aweights, and linear_cross_entropy with torch's chunking options,
against torch's double backward in float64: g = d sum(f(x...) · v) / dx with create_graph, then
d sum(g · u) / d(x..., v), leaf inputs and freed intermediates.

linear_cross_entropy with ``options`` is compared against torch's unchunked path: torch's chunked op
returns its forward's precomputed gradient, detached, times grad_output, so its second derivative in
input and weight is 0 (torch/nn/modules/linear_cross_entropy.py: double backward unsupported), which
the last test shows; ours computes the same loss with the same, nonzero, second derivative either way."""

from __future__ import annotations

import numpy as np
import pytest
from double_backward_check import check, functional, through

import engine
import nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(1818)


def _check(f, arrays, rtol=1e-10, atol=1e-12) -> None:
    """double_backward_check.check at float64's tolerances, on these arrays."""
    check(f, None, RNG, arrays=arrays, rtol=rtol, atol=atol)


def _idx(lib, a):
    return lib.tensor(np.asarray(a, dtype=np.int64))


# ---- scatter_reduce / index_reduce -----------------------------------------------------------------

_INDEX = np.array([[0, 1, 0], [2, 0, 1], [0, 2, 2], [1, 1, 0]])  # (4, 3) into a (3, 3) self, dim 0


def _ties():  # self and src share values where the result is taken, so amax/amin split their gradient
    a = RNG.standard_normal((3, 3))
    src = RNG.standard_normal((4, 3))
    a[0, 0] = src[0, 0] = src[2, 0] = 5.0  # a three-way tie at the max of (0, 0): self and two of src
    a[1, 1] = src[3, 1] = -5.0  # a self/src tie at the min of (1, 1)
    src[0, 2] = src[3, 2] = 4.0  # a src/src tie at the max of (0, 2)
    return a, src


def _with_zeros():  # a zero in self, a zero in src alone at its position, none twice at one position
    a = RNG.standard_normal((3, 3))
    src = RNG.standard_normal((4, 3))
    a[2, 0] = 0.0
    src[0, 1] = 0.0  # goes to (1, 1): the only zero there
    src[1, 0] = 0.0  # goes to (2, 0), where self is 0 too
    return a, src


def _scatter(reduce, include_self):
    def f(lib, a, src):
        return a.scatter_reduce(0, _idx(lib, _INDEX), src * 1.0, reduce, include_self=include_self) * a.sum()
    return f


SCATTER = {
    f"{reduce}_{'self' if inc else 'noself'}_{kind}": (_scatter(reduce, inc), make)
    for reduce in ("prod", "amax", "amin") for inc in (True, False)
    for kind, make in (("random", lambda: (RNG.standard_normal((3, 3)), RNG.standard_normal((4, 3)))),
                       ("ties", _ties), ("zeros", _with_zeros))
}


@pytest.mark.parametrize("name", sorted(SCATTER))
@pytest.mark.parametrize("freed", [False, True], ids=["leaf", "intermediate"])
def test_scatter_reduce(name, freed):
    f, make = SCATTER[name]
    _check(through(f) if freed else f, list(make()))


@pytest.mark.parametrize("reduce", ["prod", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_index_reduce(reduce, include_self):
    index = np.array([2, 0, 2, 1, 2])
    a = RNG.standard_normal((3, 4))
    src = RNG.standard_normal((5, 4))
    src[2, 1] = a[2, 1] = src[4, 1]  # a three-way tie in row 2
    src[3, 3] = 0.0  # a single zero into row 1

    def f(lib, a, src):
        return a.index_reduce(0, _idx(lib, index), src, reduce, include_self=include_self) ** 2
    _check(f, [a, src])


def test_scatter_reduce_prod_two_zeros_at_one_position():
    """The src gradient is right (the product of the others: 0), its derivative is not, so differentiating
    it again raises, as torch's DelayedError does; self's gradient stays differentiable."""
    a = RNG.standard_normal((3, 3))
    src = RNG.standard_normal((4, 3))
    src[0, 0] = src[2, 0] = 0.0  # both go to (0, 0)
    firsts = []
    for lib in (torch, engine):
        x = lib.tensor(a, requires_grad=True)
        s = lib.tensor(src, requires_grad=True)
        out = x.scatter_reduce(0, _idx(lib, _INDEX), s, "prod")
        gx, gs = lib.autograd.grad((out * out).sum(), [x, s], create_graph=True)
        firsts.append([np.array(gx.tolist()), np.array(gs.tolist())])
        with pytest.raises(NotImplementedError if lib is engine else RuntimeError, match="Double|double"):
            lib.autograd.grad(gs.sum(), s)
        (gxx,) = lib.autograd.grad(gx.sum(), x)
        firsts[-1].append(np.array(gxx.tolist()))
    for o, t in zip(firsts[1], firsts[0]):
        np.testing.assert_allclose(o, t, rtol=1e-10, atol=1e-12)


# ---- elementwise ops -------------------------------------------------------------------------------


def _zero_at(shape, where):
    a = RNG.standard_normal(shape)
    a[where] = 0.0
    return a


ELEMENTWISE = {  # name: (f(lib, *xs), input arrays)
    "copysign": (lambda lib, a, b: lib.copysign(a, b) * a, [RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))]),
    "copysign_broadcast": (lambda lib, a, b: lib.copysign(a, b) ** 2,
                           [RNG.standard_normal((4, 1)), RNG.standard_normal(5)]),
    "copysign_zero": (lambda lib, a, b: lib.copysign(a, b), [_zero_at(4, 1), RNG.standard_normal(4)]),  # nan, as torch
    "frexp": (lambda lib, a: lib.frexp(a * 7.0).mantissa * a, [RNG.standard_normal((3, 4))]),
    "nextafter": (lambda lib, a, b: lib.nextafter(a, b) * a * b, [RNG.standard_normal((3, 4)), RNG.standard_normal(4)]),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@pytest.mark.parametrize("freed", [False, True], ids=["leaf", "intermediate"])
def test_elementwise(name, freed):
    f, arrays = ELEMENTWISE[name]
    _check(through(f) if freed else f, arrays)


# ---- einsum, cov -----------------------------------------------------------------------------------

EINSUM = {  # equation: operand shapes
    "iji->j": [(3, 2, 3)],
    "ii,j->ij": [(3, 3), (4,)],
    "ij,jj->i": [(2, 3), (3, 3)],
    "iij,jk->ik": [(2, 2, 3), (3, 4)],
}


@pytest.mark.parametrize("equation", sorted(EINSUM))
@pytest.mark.parametrize("freed", [False, True], ids=["leaf", "intermediate"])
def test_einsum_repeated_letter(equation, freed):
    def f(lib, *xs):
        return lib.einsum(equation, *xs) * xs[0].sum()
    _check(through(f) if freed else f, [RNG.standard_normal(s) for s in EINSUM[equation]])


def test_cov_float32_aweights():
    """The input's second derivatives with float32 aweights, which promote to float64 with the input."""
    w = RNG.uniform(0.2, 1.0, 5).astype(np.float32)

    def f(lib, x):
        return lib.cov(x * x, aweights=lib.tensor(w)) * x.sum()
    _check(f, [RNG.standard_normal((2, 5))])


# ---- linear_cross_entropy with torch's chunking options ---------------------------------------------


@pytest.mark.parametrize("shape", [(3,), (6, 3)], ids=["unbatched", "batched"])
def test_linear_cross_entropy_chunked_against_unchunked(shape):
    """Ours with ``options`` against torch's unchunked path (its chunked one has no second derivative)."""
    x, w = RNG.standard_normal(shape), RNG.standard_normal((4, 3))
    target = RNG.integers(0, 4, shape[:-1])
    out = []
    chunked = nn.LinearCrossEntropyOptions(allow_retain_graph=True, batch_chunk_size=2)
    for lib, opts in ((torch, None), (engine, chunked)):
        xs = [lib.tensor(a, requires_grad=True) for a in (x, w)]
        loss = functional(lib).linear_cross_entropy(*xs, _idx(lib, target), options=opts)
        gx, gw = lib.autograd.grad(loss, xs, create_graph=True)
        second = lib.autograd.grad((gx * gx).sum() + (gw * gx.sum()).sum(), xs)
        out.append([np.array(t.tolist()) for t in (gx, gw, *second)])
    assert np.abs(out[1][2]).max() > 1e-3  # a real second derivative, not 0
    for o, t in zip(out[1], out[0]):
        np.testing.assert_allclose(o, t, rtol=1e-10, atol=1e-12)


def test_torch_chunked_linear_cross_entropy_has_no_second_derivative():
    """Why the --gradgrad sweep skips linear_cross_entropy.chunked: torch's chunked gradient does not depend
    on the input in its graph (if torch fixes it, this fails, and the sweep's exception should go)."""
    x = torch.tensor(RNG.standard_normal((6, 3)), requires_grad=True)
    w = torch.tensor(RNG.standard_normal((4, 3)), requires_grad=True)
    target = torch.tensor(RNG.integers(0, 4, 6))
    opts = torch.nn.LinearCrossEntropyOptions(allow_retain_graph=True, batch_chunk_size=2)
    loss = torch.nn.functional.linear_cross_entropy(x, w, target, options=opts)
    (gx,) = torch.autograd.grad(loss, x, create_graph=True)
    assert not gx.requires_grad
