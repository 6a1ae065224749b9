"""Second derivatives through complex graphs against torch (create_graph=True) for what the complex gradgrad
sweep (``opinfo_sweep.py --gradgrad --dtypes complex128``) found: no complex double backward for linear,
conv1d/2d/3d and conv_transpose1d/2d/3d (bilinear), unfold and fold (linear, real coefficients), logaddexp
(holomorphic) and logcumsumexp (a nested sweep over its composition); matmul of a batch with a size-0 inner
axis raising; and setitem (linear, real coefficients), which no complex OpInfo sample reaches. Each case is
differentiated three ways, as in test_parity_complex_gradgrad_s18.py: a real loss |f(z)|.sum(), a real loss
(Re f(z))².sum(), and the vjp of f for a random complex cotangent v (then grad again, also with respect to v);
the second loss is Re(conj(u)·g) summed over the first gradients g, u fixed and random."""

from __future__ import annotations

import numpy as np
import pytest
from test_parity_complex_gradgrad_s18 import _assert_same, _numpy, second_of

import engine
import engine.functional as ef

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(1818)


def _c(*shape, scale=1.0):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)) * scale


def F(lib):
    return torch.nn.functional if lib is torch else ef


X3, W43, B4 = _c(2, 3), _c(4, 3), _c(4)
C1, K1 = _c(2, 4, 7), _c(6, 2, 3)  # conv1d, groups 2
C2, K2, KB2 = _c(1, 2, 5, 6), _c(3, 2, 3, 2), _c(3)
C3, K3 = _c(1, 1, 4, 3, 4), _c(2, 1, 2, 2, 3)
T1, TK1 = _c(2, 2, 4), _c(2, 3, 3)  # conv_transpose1d: (in, out, k)
T2, TK2, TB2 = _c(1, 4, 3, 3), _c(4, 1, 2, 3), _c(2)  # groups 2
T3, TK3 = _c(1, 2, 2, 3, 2), _c(2, 1, 2, 2, 2)
U = _c(2, 2, 4, 5)
COLS = _c(1, 2 * 2 * 2, 6)  # fold to (3, 4): (3 - 1) * (4 - 1) windows of 2x2
Z, Z2 = _c(3, 4, scale=0.7), _c(4, scale=0.7)
S = _c(3, 5, 2, scale=0.8)

def _setitem(lib, a, v):  # a[1] = v (cast to a's dtype), then a[:, ::2] = v[:2]: written entries take v's gradient
    y = a * a
    y[1] = v * v
    y[:, ::2] = v[:2].exp()
    return y


CASES = {
    # name: (inputs, f(lib, *tensors))
    "linear": ([X3, W43, B4], lambda lib, x, w, b: F(lib).linear(x * x, w, b)),
    "linear batched no bias": ([_c(2, 2, 3), W43], lambda lib, x, w: F(lib).linear(x, w * w)),
    "conv1d stride padding groups": ([C1, K1], lambda lib, x, w: F(lib).conv1d(x, w, None, 2, 1, 1, 2)),
    "conv2d dilation bias": ([C2, K2, KB2], lambda lib, x, w, b: F(lib).conv2d(x * x, w, b, 1, (1, 0), (2, 1))),
    "conv3d": ([C3, K3], lambda lib, x, w: F(lib).conv3d(x, w, None, (1, 2, 1), 1)),
    "conv_transpose1d stride output_padding": (
        [T1, TK1], lambda lib, x, w: F(lib).conv_transpose1d(x, w, None, 2, 1, 1)),
    "conv_transpose2d groups bias": (
        [T2, TK2, TB2], lambda lib, x, w, b: F(lib).conv_transpose2d(x, w * w, b, (2, 1), 0, 0, 2)),
    "conv_transpose3d dilation": ([T3, TK3], lambda lib, x, w: F(lib).conv_transpose3d(x, w, None, 1, 0, 0, 1, 2)),
    "unfold": ([U], lambda lib, x: F(lib).unfold(x * x, (2, 3), dilation=(1, 1), padding=1, stride=(2, 1))),
    "fold": ([COLS], lambda lib, x: F(lib).fold(x * x, (3, 4), (2, 2))),
    "logaddexp": ([Z, Z2], lambda lib, a, b: lib.logaddexp(a, b * b)),
    "logaddexp real other": ([Z, Z2.real.copy()], lambda lib, a, b: lib.logaddexp(a, b.to(a.dtype) * 2)),
    "logcumsumexp dim 0": ([S], lambda lib, a: lib.logcumsumexp(a, 0)),
    "logcumsumexp dim 1": ([S], lambda lib, a: lib.logcumsumexp(a * a, 1)),
    "logcumsumexp large real parts": ([S + 40], lambda lib, a: lib.logcumsumexp(a, -1)),
    # a size-0 inner axis under a batch: the weight-side gradient's rows reshape (it raised, real too)
    "matmul batched, empty inner axis": ([_c(5, 5, 0), _c(0, 5)], lambda lib, a, b: lib.matmul(a, b) + 1),
    "matmul batched, empty inner axis, real": ([_c(5, 5, 0).real.copy(), _c(0, 5).real.copy()],
                                               lambda lib, a, b: lib.matmul(a, b) + 1),
    "setitem": ([Z, Z2], _setitem),
    "setitem real value": ([Z, Z2.real.copy()], _setitem),
}


def _second(lib, name, mode):
    return second_of(lib, *CASES[name], mode)


@pytest.mark.parametrize("mode", ["abs", "re2", "vjp"])
@pytest.mark.parametrize("name", list(CASES))
def test_second_derivatives_through_complex_ops_match_torch(name, mode):
    _assert_same(_second(engine, name, mode), _second(torch, name, mode))


def test_complex_conv_of_a_real_input_gives_real_second_derivatives():
    # a real input made complex before the conv: its first and second derivatives are real, as torch's
    def f(lib):
        x = lib.tensor(C2.real.copy(), requires_grad=True)
        w = lib.tensor(K2.copy(), requires_grad=True)
        y = F(lib).conv2d(x.to(lib.complex128) * (1 - 0.5j), w, None, 1, 1)
        gx, gw = lib.autograd.grad(y.abs().sum(), [x, w], create_graph=True)
        hx, hw = lib.autograd.grad((gx * gx).sum() + (gw * gw.conj()).real.sum(), [x, w])
        return [_numpy(g) for g in (gx, gw, hx, hw)]

    ours, theirs = f(engine), f(torch)
    assert ours[0].dtype == np.float64 and ours[2].dtype == np.float64
    _assert_same(ours, theirs)


def test_logcumsumexp_double_backward_with_a_non_finite_entry_still_raises():
    a = engine.tensor(np.array([1 + 1j, -np.inf + 0j, 2j]), requires_grad=True)
    with pytest.raises(NotImplementedError, match="LogCumSumExp with a non-finite entry"):
        engine.autograd.grad(engine.logcumsumexp(a, 0).abs().sum(), a, create_graph=True)
