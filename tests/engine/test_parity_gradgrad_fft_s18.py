"""Second derivatives (create_graph=True, then a second grad) through engine.fft, stft / istft and the
as_strided family against torch's double backward, float64, rtol 1e-10.

Real losses of complex FFT outputs (abs, real², imag²), complex inputs (the complex graph sweep, torch's
convention) and real inputs, every transform of torch.fft with n / s / dim / norm; third derivatives
(the FFT a double backward records is differentiated once more); stft and istft with a window that
requires grad; as_strided, as_strided_copy, and as_strided_scatter where its first derivative is torch's
(src) and against central differences where it deliberately is not (input: see test_parity_missing_s16).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import engine

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(1818)
RTOL = 1e-10


def _cplx(*shape):
    return RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)


def _is_complex(t) -> bool:
    return t.dtype.is_complex if isinstance(t, torch.Tensor) else t.dtype.kind == "c"


def _numpy(t) -> np.ndarray:
    return t.detach().resolve_conj().numpy() if isinstance(t, torch.Tensor) else t.numpy()


def _second(lib, f, arrays, us):
    """(first derivatives, second derivatives) of the real ``f(lib, *xs)``: g = df/dx with create_graph,
    then d/dx of Re Σ conj(g)·u + Σ |g|² (u fixed), as NumPy arrays."""
    xs = [lib.tensor(a.copy(), requires_grad=True) for a in arrays]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stft's return_complex=False deprecation, in both
        gs = lib.autograd.grad(f(lib, *xs), xs, create_graph=True)
    l2 = None
    for g, u in zip(gs, us):
        ut = lib.tensor(u.copy())
        term = ((g.conj() * ut).real.sum() if _is_complex(g) else (g * ut).sum()) + (g.abs() ** 2).sum()
        l2 = term if l2 is None else l2 + term
    hs = lib.autograd.grad(l2, xs)
    return [_numpy(g) for g in gs], [_numpy(h) for h in hs]


def _close(ours, theirs):
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=RTOL * 1e-2 * max(1.0, np.abs(theirs).max()))


def _check(f, arrays):
    us = [_cplx(*a.shape) if a.dtype.kind == "c" else RNG.standard_normal(a.shape) for a in arrays]
    (of, os_), (tf, ts) = _second(engine, f, arrays, us), _second(torch, f, arrays, us)
    for o, t in zip(of + os_, tf + ts):
        assert np.abs(t).max() > 0  # a loss whose second derivative is zero would test nothing
        _close(o, t)


XR, XC = RNG.standard_normal((4, 6)), _cplx(4, 6)

FFT = {  # name: (real loss f(lib, x), input)
    "fft abs, real input": (lambda L, x: L.fft.fft(x).abs().sum(), XR),
    "fft abs, complex input, n and ortho": (lambda L, x: L.fft.fft(x, n=8, norm="ortho").abs().sum(), XC),
    "ifft real², dim 0": (lambda L, x: (L.fft.ifft(x, dim=0).real ** 2).sum(), XC),
    "ifft abs, real input, n trims": (lambda L, x: L.fft.ifft(x * x, n=4).abs().sum(), XR),
    "rfft abs, n trims": (lambda L, x: L.fft.rfft(x, n=5).abs().sum(), XR),
    "rfft2 abs": (lambda L, x: L.fft.rfft2(x).abs().sum(), XR),
    "rfftn imag², forward norm": (lambda L, x: (L.fft.rfftn(x, norm="forward").imag ** 2).sum(), XR),
    "ihfft abs": (lambda L, x: L.fft.ihfft(x).abs().sum(), XR),
    "ihfft2 abs, s pads and trims": (lambda L, x: L.fft.ihfft2(x, s=(3, 7)).abs().sum(), XR),
    "ihfftn real·imag": (lambda L, x: (L.fft.ihfftn(x, dim=(0,)) ** 2).real.sum(), XR),
    "irfft sin, complex input, odd n": (lambda L, x: L.fft.irfft(x, n=9).sin().sum(), XC),
    "irfft cube, real input, ortho": (lambda L, x: (L.fft.irfft(x, norm="ortho") ** 3).sum(), XR),
    "irfft2 cube, real input": (lambda L, x: (L.fft.irfft2(x) ** 3).sum(), XR),
    "irfftn cube, complex input": (lambda L, x: (L.fft.irfftn(x) ** 3).sum(), XC),
    "hfft cube, complex input": (lambda L, x: (L.fft.hfft(x, n=7) ** 3).sum(), XC),
    "hfft2 cube, complex input, s": (lambda L, x: (L.fft.hfft2(x, s=(5, 6)) ** 3).sum(), XC),
    "hfftn cube, real input": (lambda L, x: (L.fft.hfftn(x, norm="forward") ** 3).sum(), XR),
    "fft2 abs of a square": (lambda L, x: L.fft.fft2(x * x).abs().sum(), XC),
    "fftn abs, real input, s": (lambda L, x: L.fft.fftn(x * x, s=(3, 8)).abs().sum(), XR),
    "ifft2 real², complex input": (lambda L, x: (L.fft.ifft2(x.exp(), norm="ortho").real ** 2).sum(), XC),
    "ifftn abs, real input, dim": (lambda L, x: L.fft.ifftn(x.sin(), dim=(1,)).abs().sum(), XR),
    "fftshift, ifftshift": (lambda L, x: L.fft.fft(L.fft.fftshift(x) * L.fft.ifftshift(x, 0)).abs().sum(), XC),
    "rfft then irfft": (lambda L, x: (L.fft.irfft(L.fft.rfft(x) ** 2, n=6) ** 2).sum(), XR),
}


@pytest.mark.parametrize("name", sorted(FFT))
def test_fft_second_derivatives_match_torch(name):
    f, x = FFT[name]
    _check(f, [x])


@pytest.mark.parametrize("name", ["fft abs, real input", "irfft cube, real input, ortho", "hfft cube, complex input"])
def test_fft_second_derivatives_of_freed_intermediates_match_torch(name):
    f, x = FFT[name]
    _check(lambda L, x: f(L, x * 1.0), [x])


SIG, WIN = RNG.standard_normal(40), RNG.standard_normal(8) + 2
SPEC, SPEC2 = _cplx(5, 11), _cplx(8, 11)

STFT = {  # name: (real loss f(lib, x, window), inputs)
    "stft abs, window": (lambda L, x, w: L.stft(x, 8, hop_length=4, window=w, return_complex=True).abs().sum(),
                         [SIG, WIN]),
    "stft real out, win_length": (lambda L, x, w: (L.stft(x, 8, hop_length=3, win_length=6, window=w,
                                                          return_complex=False) ** 2).sum(), [SIG, WIN[:6]]),
    "stft complex input, two-sided": (lambda L, x, w: L.stft(x * w[0], 8, hop_length=2, window=w, onesided=False,
                                                            return_complex=True).abs().sum(), [SIG + 1j * SIG[::-1],
                                                                                             WIN]),
    "stft batched, not centred": (lambda L, x, w: (L.stft(x.reshape(2, 20), 8, hop_length=2, window=w, center=False,
                                                          return_complex=True).real ** 2).sum(), [SIG, WIN]),
    "istft cube, window, length": (lambda L, s, w: (L.istft(s, 8, hop_length=2, window=w, length=20) ** 3).sum(),
                                   [SPEC, WIN]),
    "istft complex out": (lambda L, s, w: L.istft(s, 8, hop_length=2, window=w, onesided=False,
                                                  return_complex=True).abs().sum(), [SPEC2, WIN]),
}


@pytest.mark.parametrize("name", sorted(STFT))
def test_stft_istft_second_derivatives_match_torch(name):
    f, arrays = STFT[name]
    _check(f, arrays)


def _third(lib, f, x0, us):
    x = lib.tensor(x0.copy(), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (g,) = lib.autograd.grad(f(lib, x), [x], create_graph=True)
    (h,) = lib.autograd.grad((g * lib.tensor(us[0])).sum(), [x], create_graph=True)
    (k,) = lib.autograd.grad((h * lib.tensor(us[1])).sum(), [x])
    return [_numpy(a) for a in (g, h, k)]


THIRD = {  # the double backward's FFT (adjoint steps: real, as_complex, double) differentiated again
    "irfft": lambda L, x: (L.fft.irfft(x, n=7) ** 4).sum(),
    "rfft": lambda L, x: (L.fft.rfft(x) ** 3).real.sum(),
    "hfft2 ortho": lambda L, x: (L.fft.hfft2(x, norm="ortho") ** 4).sum(),
    "stft real out": lambda L, x: (L.stft(x, 4, hop_length=1, return_complex=False) ** 4).sum(),
}


@pytest.mark.parametrize("name", sorted(THIRD))
def test_fft_third_derivatives_match_torch(name):
    x0 = RNG.standard_normal((3, 6))
    us = [RNG.standard_normal(x0.shape) for _ in range(2)]
    for o, t in zip(_third(engine, THIRD[name], x0, us), _third(torch, THIRD[name], x0, us)):
        assert np.abs(t).max() > 0
        _close(o, t)


X6 = RNG.standard_normal(6)

STRIDED = {
    "as_strided, overlapping windows": (lambda L, x: (L.as_strided(x, (3, 3), (1, 1), 1) ** 3).sum(), X6),
    "as_strided of an expanded input (reads divided)": (
        lambda L, x: (L.as_strided(x.expand(2, 6), (2, 2), (1, 2), 1) ** 3).sum(), X6),
    "as_strided, stride 0": (lambda L, x: (L.as_strided(x.reshape(2, 3), (2, 2), (0, 1), 2) ** 3).sum(), X6),
    "as_strided_copy": (lambda L, x: (L.as_strided_copy(x * x, (2, 2), (2, 1), 0) ** 3).sum(), X6),
    "as_strided method, freed input": (lambda L, x: ((x * 1.0).as_strided((2, 2), (1, 3)) ** 3).sum(), X6),
    "as_strided, complex": (lambda L, x: (L.as_strided(x, (3, 2), (1, 2), 0) ** 3).abs().sum(), _cplx(6)),
    "as_strided, into an fft": (lambda L, x: L.fft.fft(L.as_strided(x, (2, 3), (3, 1), 0) ** 2).abs().sum(),
                                _cplx(6)),
}


@pytest.mark.parametrize("name", sorted(STRIDED))
def test_as_strided_second_derivatives_match_torch(name):
    f, x = STRIDED[name]
    _check(f, [x])


SCATTER = [((3, 3), (2, 2), (1, 2), 1), ((16,), (2, 2, 2, 2), (8, 4, 2, 1), 0), ((4,), (2,), (1,), 1)]


def _scatter_src_terms(lib, a0, s0, v0, u0, size, stride, offset):
    """The second derivatives that go through src's gradient (torch's first derivative there is ours)."""
    a, s, v = (lib.tensor(t.copy(), requires_grad=True) for t in (a0, s0, v0))
    out = lib.as_strided_scatter(a * a, s * s * s, size, stride, offset)
    (gs,) = lib.autograd.grad((out * v).sum(), [s], create_graph=True)
    return [_numpy(gs)] + [_numpy(h) for h in lib.autograd.grad((gs * lib.tensor(u0)).sum(), [s, v])]


@pytest.mark.parametrize("shape,size,stride,offset", SCATTER)
def test_as_strided_scatter_second_derivatives(shape, size, stride, offset):
    a0, s0, v0, u0 = (RNG.standard_normal(sh) for sh in (shape, size, shape, size))
    ours = _scatter_src_terms(engine, a0, s0, v0, u0, size, stride, offset)
    theirs = _scatter_src_terms(torch, a0, s0, v0, u0, size, stride, offset)
    for o, t in zip(ours, theirs):
        _close(o, t)
    # input's first derivative (g with the window zeroed) is not torch's: its own second derivative against
    # central differences, with src and the input nonlinear so that the double backward has work to do
    a, s = engine.tensor(a0, requires_grad=True), engine.tensor(s0, requires_grad=True)
    assert engine.autograd.gradgradcheck(
        lambda a, s: engine.as_strided_scatter(a * a * a, s * s, size, stride, offset), a, s)


def test_fft_backward_is_recorded_as_an_fft_of_the_adjoint_steps():
    x = engine.tensor(XR, requires_grad=True)
    v = engine.tensor(RNG.standard_normal((4, 9)), requires_grad=True)
    (g,) = engine.autograd.grad(engine.fft.irfft(x, n=9), [x], v, create_graph=True)
    assert type(g._ctx).__name__ == "FFT" and g.requires_grad
    (plain,) = engine.autograd.grad(engine.fft.irfft(x, n=9), [x], v)
    np.testing.assert_array_equal(g.numpy(), plain.numpy())  # the same numbers as the array backward


def test_as_strided_scatter_src_gradient_does_not_depend_on_input():
    """The window's entries are src's alone, so src's gradient of any loss of the output has no derivative in
    input: ours is exactly zero; torch's is not (its input gradient's error, carried into the double backward),
    which is why the input terms above are checked by central differences rather than against torch."""
    a0, s0 = RNG.standard_normal((3, 3)), RNG.standard_normal((2, 2))

    def d_src_d_input(lib):
        a, s = lib.tensor(a0.copy(), requires_grad=True), lib.tensor(s0.copy(), requires_grad=True)
        (gs,) = lib.autograd.grad((lib.as_strided_scatter(a * a, s * s * s, (2, 2), (1, 2), 1) ** 2).sum(), [s],
                                  create_graph=True)
        (ha,) = lib.autograd.grad((gs ** 2).sum(), [a], allow_unused=True)
        return None if ha is None else _numpy(ha)

    ours = d_src_d_input(engine)
    assert ours is None or not ours.any()
    assert np.abs(d_src_d_input(torch)).max() > 1e-3
