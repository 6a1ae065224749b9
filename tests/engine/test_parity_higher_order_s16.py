"""Higher-order gradients (session 16): double backward of linear algebra (inv, det, slogdet, logdet,
solve, cholesky, eigh, eigvalsh, svd, svdvals, qr, pinv, matrix norms, matrix_power), special
functions (lgamma, digamma, polygamma, mvlgamma, erfinv, i0, i0e, i1, i1e, entr, ndtri, log_ndtr,
erfcx), prod and cumprod with zeros, median, unfold / fold, softmax on an empty input and mish at
large inputs, against torch's double backward in float64 (g = d sum(f(x...) · v) / dx with
create_graph, then d sum(g · u) / d(x..., v)), with leaf inputs and with freed intermediates; and
engine.autograd.gradgradcheck (central differences) on a few of them.

Decompositions are read through sign-invariant quantities (V∘V, U∘U, R∘R, ...): the signs of
eigen- and singular vectors are LAPACK's choice, and torch's are not ours to match."""

from __future__ import annotations

import numpy as np
import pytest
from double_backward_check import check, functional, through

import engine

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(1616)


def _check(f, shapes, scale=1.0, arrays=None):
    check(f, shapes, RNG, scale, arrays)


def _well(*shape):  # well-conditioned square matrices: random + 3·I
    n = shape[-1]
    return RNG.standard_normal(shape) + 3 * np.eye(n)


def _spd(lib, a):  # a symmetric positive definite function of a
    return a @ a.mT + lib.eye(a.shape[-1], dtype=lib.float64)


def _eigh(lib, a):
    w, v = lib.linalg.eigh(a + a.mT)
    return (v * v) * w.unsqueeze(-2)


def _svd(lib, a):
    u, s, vh = lib.linalg.svd(a, full_matrices=False)
    return (u * u) @ (s.unsqueeze(-1) * vh * vh)


def _qr(lib, a):
    q, r = lib.linalg.qr(a)
    return (q * q) @ (r * r)


LINALG = {  # name: (f(lib, *xs), input arrays)
    "inv": (lambda lib, a: lib.linalg.inv(a), [_well(2, 3, 3)]),
    "det": (lambda lib, a: lib.linalg.det(a), [_well(2, 3, 3)]),
    "det_negative": (lambda lib, a: lib.linalg.det(-a), [_well(3, 3)]),
    "slogdet": (lambda lib, a: lib.linalg.slogdet(a)[1], [_well(2, 3, 3) - 6 * np.eye(3)]),
    "logdet": (lambda lib, a: lib.logdet(_spd(lib, a)), [RNG.standard_normal((3, 3))]),
    "solve": (lambda lib, a, b: lib.linalg.solve(a, b), [_well(2, 3, 3), RNG.standard_normal((2, 3, 2))]),
    "solve_vector": (lambda lib, a, b: lib.linalg.solve(a, b), [_well(4, 4), RNG.standard_normal(4)]),
    "cholesky": (lambda lib, a: lib.linalg.cholesky(_spd(lib, a)), [RNG.standard_normal((2, 3, 3))]),
    "cholesky_upper": (lambda lib, a: lib.linalg.cholesky(_spd(lib, a), upper=True), [RNG.standard_normal((3, 3))]),
    "eigh": (_eigh, [RNG.standard_normal((2, 3, 3))]),
    "eigvalsh": (lambda lib, a: lib.linalg.eigvalsh(a + a.mT), [RNG.standard_normal((2, 4, 4))]),
    "svd_tall": (_svd, [RNG.standard_normal((2, 4, 3))]),
    "svd_wide": (_svd, [RNG.standard_normal((3, 5))]),
    "svd_square": (_svd, [RNG.standard_normal((3, 3))]),
    "svdvals": (lambda lib, a: lib.linalg.svdvals(a), [RNG.standard_normal((2, 4, 3))]),
    "matrix_norm_nuc": (lambda lib, a: lib.linalg.matrix_norm(a, "nuc"), [RNG.standard_normal((3, 4))]),
    "matrix_norm_2": (lambda lib, a: lib.linalg.matrix_norm(a, 2), [RNG.standard_normal((2, 3, 4))]),
    "cond": (lambda lib, a: lib.linalg.cond(a), [_well(3, 3)]),
    "qr_tall": (_qr, [RNG.standard_normal((2, 4, 3))]),
    "qr_wide": (_qr, [RNG.standard_normal((3, 5))]),
    "pinv_tall": (lambda lib, a: lib.linalg.pinv(a), [RNG.standard_normal((4, 3))]),
    "pinv_wide": (lambda lib, a: lib.linalg.pinv(a), [RNG.standard_normal((2, 3, 4))]),
    "pinv_hermitian": (lambda lib, a: lib.linalg.pinv(a + a.mT, hermitian=True), [_well(3, 3)]),
    "matrix_power_negative": (lambda lib, a: lib.linalg.matrix_power(a, -2), [_well(3, 3)]),
    "inv_of_product": (lambda lib, a, b: lib.linalg.inv(a @ b) * a.sum(), [_well(3, 3), _well(3, 3)]),
}


@pytest.mark.parametrize("name", sorted(LINALG))
@pytest.mark.parametrize("freed", [False, True], ids=["leaf", "intermediate"])
def test_linalg(name, freed):
    f, arrays = LINALG[name]
    _check(through(f) if freed else f, None, arrays=arrays)


def _pos(x):  # away from 0 and the poles
    return x * x + 0.5


SPECIAL = {  # name: (f(lib, x), scale)
    "lgamma": (lambda lib, a: lib.lgamma(_pos(a)), 1.0),
    "lgamma_negative": (lambda lib, a: lib.lgamma(-_pos(a) - 0.25), 0.3),
    "digamma": (lambda lib, a: lib.digamma(_pos(a)), 1.0),
    "polygamma_1": (lambda lib, a: lib.polygamma(1, _pos(a)), 1.0),
    "polygamma_3": (lambda lib, a: lib.special.polygamma(3, _pos(a)), 1.0),
    "mvlgamma": (lambda lib, a: lib.mvlgamma(_pos(a) + 1.5, 3), 1.0),
    "erfinv": (lambda lib, a: lib.erfinv(a.tanh() * 0.9), 1.0),
    "i0": (lambda lib, a: lib.i0(a), 2.0),
    "i0e": (lambda lib, a: lib.special.i0e(a), 2.0),
    "i1": (lambda lib, a: lib.special.i1(a), 2.0),
    "i1e": (lambda lib, a: lib.special.i1e(a), 2.0),
    "entr": (lambda lib, a: lib.special.entr(_pos(a)), 1.0),
    "ndtri": (lambda lib, a: lib.special.ndtri(a.sigmoid()), 1.0),
    "log_ndtr": (lambda lib, a: lib.special.log_ndtr(a), 3.0),
    "erfcx": (lambda lib, a: lib.special.erfcx(a), 2.0),
}


@pytest.mark.parametrize("name", sorted(SPECIAL))
@pytest.mark.parametrize("freed", [False, True], ids=["leaf", "intermediate"])
def test_special(name, freed):
    f, scale = SPECIAL[name]
    _check(through(f) if freed else f, [(3, 4)], scale=scale)


def test_bessel_i1_at_zero():  # |a| <= eps: the derivative is ½ there, and its own derivative 0 (torch's where)
    a = np.array([0.0, 1e-17, -0.7, 1.3])
    _check(lambda lib, x: lib.special.i1(x) + lib.special.i1e(x), None, arrays=[a])


def _zeros(shape, where):
    a = RNG.standard_normal(shape)
    a[where] = 0.0
    return a


OTHERS = {  # name: (f(lib, *xs), input arrays)
    "prod_one_zero": (lambda lib, a: a.prod(), [_zeros((2, 3), (0, 1))]),
    "prod_two_zeros": (lambda lib, a: a.prod(), [_zeros((2, 3), ([0, 1], [1, 2]))]),
    "prod_dim_zeros": (lambda lib, a: a.prod(1) * a.sum(0), [_zeros((3, 3), ([0, 0, 2], [0, 2, 1]))]),
    "prod_dims_keepdim": (lambda lib, a: lib.prod(a, 1, keepdim=True), [_zeros((2, 3, 2), (1, 1, 0))]),
    "prod_no_zero": (lambda lib, a: a.prod(0), [RNG.standard_normal((3, 2))]),
    "cumprod_zeros": (lambda lib, a: a.cumprod(1), [_zeros((3, 4), ([0, 1, 1], [1, 0, 2]))]),
    "cumprod_no_zero": (lambda lib, a: a.cumprod(0) * a, [RNG.standard_normal((3, 2))]),
    "median": (lambda lib, a: lib.median(a * a) * a, [RNG.standard_normal((3, 3))]),
    "median_ties": (lambda lib, a: lib.median(a) * a, [np.array([1.0, 2.0, 2.0, 3.0, -1.0])]),
    "nanmedian": (lambda lib, a: lib.nanmedian(a * a) * a, [np.array([0.3, np.nan, -1.2, 2.0])]),
    "unfold": (lambda lib, x: functional(lib).unfold(x * x, (2, 3), dilation=(1, 2), padding=1, stride=(2, 1)) ** 2,
               [RNG.standard_normal((2, 2, 4, 5))]),
    "fold": (lambda lib, c: functional(lib).fold(c * c, (4, 5), (2, 2), padding=(1, 0)) ** 2,
             [RNG.standard_normal((2, 8, 20))]),
    "softmax_empty": (lambda lib, x: lib.softmax(x, -1, dtype=lib.float64), [np.zeros((5, 0, 0))]),
    "softmax_dtype": (lambda lib, x: lib.softmax(x * x, 0, dtype=lib.float64) * x, [RNG.standard_normal((3, 4))]),
    "mish_large": (lambda lib, x: functional(lib).mish(x) * x,
                   [np.array([-800.0, -30.0, -1.0, 0.0, 0.5, 19.0, 30.0, 1001.2])]),
}


@pytest.mark.parametrize("name", sorted(OTHERS))
@pytest.mark.parametrize("freed", [False, True], ids=["leaf", "intermediate"])
def test_others(name, freed):
    f, arrays = OTHERS[name]
    _check(through(f) if freed else f, None, arrays=arrays)


def test_third_derivative_inv():  # the graph backward's own backward is a graph backward too
    a = _well(3, 3)
    out = []
    for lib in (torch, engine):
        x = lib.tensor(a, dtype=lib.float64, requires_grad=True)
        (g1,) = lib.autograd.grad(lib.linalg.inv(x).pow(2).sum(), x, create_graph=True)
        (g2,) = lib.autograd.grad((g1 * g1).sum(), x, create_graph=True)
        (g3,) = lib.autograd.grad(g2.sum(), x)
        out.append(np.array(g3.tolist()))
    np.testing.assert_allclose(out[1], out[0], rtol=1e-6, atol=1e-8)


GRADGRAD = {  # engine.autograd.gradgradcheck against central differences
    "inv": (lambda x: engine.linalg.inv(x).sum(), [_well(3, 3)]),
    "det": (lambda x: engine.linalg.det(x), [_well(3, 3)]),
    "solve": (lambda a, b: engine.linalg.solve(a, b).pow(2).sum(), [_well(3, 3), RNG.standard_normal((3, 2))]),
    "cholesky": (lambda a: engine.linalg.cholesky(a @ a.mT + engine.eye(3, dtype=engine.float64)).pow(2).sum(),
                 [RNG.standard_normal((3, 3))]),
    "eigvalsh": (lambda a: engine.linalg.eigvalsh(a + a.mT).pow(3).sum(), [RNG.standard_normal((3, 3))]),
    "svdvals": (lambda a: engine.linalg.svdvals(a).pow(3).sum(), [RNG.standard_normal((4, 3))]),
    "digamma": (lambda a: engine.digamma(a * a + 0.5).sum(), [RNG.standard_normal(4)]),
    "prod_zero": (lambda a: a.prod(), [_zeros((2, 3), (1, 1))]),
}


@pytest.mark.parametrize("name", sorted(GRADGRAD))
def test_gradgradcheck(name):
    f, arrays = GRADGRAD[name]
    xs = [engine.tensor(a, dtype=engine.float64, requires_grad=True) for a in arrays]
    assert engine.autograd.gradgradcheck(f, *xs)
