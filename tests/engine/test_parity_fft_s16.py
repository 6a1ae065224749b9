"""engine.fft (torch.fft) and engine.stft / engine.istft against torch: values, dtypes, shapes, errors and
gradients. The gradients of complex outputs are checked two ways: the FFT op's backward called directly with
a cotangent (works without complex tensors in the graph), and through engine.autograd where the engine lets
complex tensors require grad (skipped otherwise)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import engine
import engine.fft as efft
from engine.fft import FFT

torch = pytest.importorskip("torch")


def _complex_grad_ok() -> bool:
    try:
        engine.zeros(2, dtype=np.complex128).requires_grad_()
        return True
    except Exception:  # noqa: BLE001 - any refusal means: not yet
        return False


needs_complex_grad = pytest.mark.skipif(not _complex_grad_ok(), reason="complex tensors cannot require grad yet")

ONE_D = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]
N_D = ["fft2", "ifft2", "fftn", "ifftn", "rfft2", "irfft2", "hfft2", "ihfft2", "rfftn", "irfftn", "hfftn", "ihfftn"]
REAL_ONLY = {"rfft", "ihfft", "rfft2", "ihfft2", "rfftn", "ihfftn"}


def _sample(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    if np.dtype(dtype).kind in "iu":
        a = rng.integers(-5, 5, shape)
    return a.astype(dtype)


def _tnp(t):
    return t.detach().resolve_conj().numpy()


def _assert_same(ours, theirs, atol=1e-5):
    ref = _tnp(theirs)
    assert ours.shape == ref.shape
    assert ours.dtype == ref.dtype
    np.testing.assert_allclose(ours.detach().numpy(), ref, rtol=1e-4, atol=atol)


def _both(name, arr, **kw):
    return getattr(efft, name)(engine.tensor(arr), **kw), getattr(torch.fft, name)(torch.tensor(arr), **kw)


ONE_D_KW = [{}, {"n": 4}, {"n": 9}, {"n": 1}, {"dim": 0}, {"dim": -2, "n": 5}, {"norm": "ortho"},
            {"norm": "forward", "n": 5}, {"norm": "backward"}]


@pytest.mark.parametrize("name", ONE_D)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128, np.int64])
@pytest.mark.parametrize("kw", ONE_D_KW, ids=str)
def test_one_dim_values(name, dtype, kw):
    if name in REAL_ONLY and np.dtype(dtype).kind == "c":
        pytest.skip("real input only")
    if name in ("irfft", "hfft") and kw.get("n") == 1 and "dim" not in kw:
        pass
    ours, theirs = _both(name, _sample((3, 6), dtype), **kw)
    _assert_same(ours, theirs)


ND_KW = [{}, {"s": (4, 3)}, {"s": (4, -1)}, {"dim": (0, 2)}, {"dim": (2, 0)}, {"s": (3, 4, 7)}, {"s": (1, 2, 6)},
         {"dim": 0}, {"dim": (1,)}, {"norm": "ortho", "dim": (-1, 1)}, {"norm": "forward", "s": (2, 8), "dim": (0, 1)},
         {"s": 4}, {"dim": ()}]


@pytest.mark.parametrize("name", N_D)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128, np.int32])
@pytest.mark.parametrize("kw", ND_KW, ids=str)
def test_n_dim_values_and_errors(name, dtype, kw):
    if name in REAL_ONLY and np.dtype(dtype).kind == "c":
        pytest.skip("real input only")
    arr = _sample((2, 3, 5), dtype)
    try:
        theirs = getattr(torch.fft, name)(torch.tensor(arr), **kw)
    except Exception as e:  # noqa: BLE001 - ours must raise the same
        with pytest.raises(type(e)) as info:
            getattr(efft, name)(engine.tensor(arr), **kw)
        assert str(info.value) == str(e)
        return
    _assert_same(getattr(efft, name)(engine.tensor(arr), **kw), theirs)


def test_dtypes_as_torch():
    for dt, want in [(np.float32, np.complex64), (np.float64, np.complex128), (np.int64, np.complex64),
                     (np.bool_, np.complex64), (np.complex64, np.complex64)]:
        assert efft.fft(engine.tensor(np.zeros(4, dt))).dtype == want
    assert efft.irfft(engine.tensor(np.zeros(3, np.complex64))).dtype == np.float32
    assert efft.irfft(engine.tensor(np.zeros(3, np.float64))).dtype == np.float64
    assert efft.hfft(engine.tensor(np.zeros(3, np.int64))).dtype == np.float32


ERRORS = [
    ("fft", (4,), np.float32, {"norm": "foo"}),
    ("fft", (4,), np.float32, {"n": 0}),
    ("fft", (4,), np.float32, {"n": -2}),
    ("irfft", (1,), np.complex64, {}),
    ("irfft", (4,), np.complex64, {"n": 0}),
    ("rfft", (4,), np.complex64, {}),
    ("ihfft", (4,), np.complex128, {}),
    ("fft", (), np.float32, {}),
    ("fft", (4,), np.float32, {"dim": 3}),
    ("fft", (4,), np.float16, {}),
    ("fftn", (3, 3), np.float32, {"dim": (0, 0)}),
    ("fftn", (3, 3), np.float32, {"dim": (0, -2)}),
    ("fftn", (4,), np.float32, {"s": (2, 2)}),
    ("fftn", (2, 2), np.float32, {"s": (2,), "dim": (0, 1)}),
    ("fftn", (2, 2), np.float32, {"s": (0, 2)}),
    ("rfftn", (2, 2), np.float32, {"dim": ()}),
    ("irfftn", (2, 2), np.complex64, {"dim": ()}),
    ("rfft2", (2, 2), np.complex64, {}),
    ("ihfftn", (2, 2), np.complex128, {}),
    ("irfftn", (2, 1), np.complex64, {}),
    ("fft2", (4,), np.float32, {}),
    ("hfftn", (2, 3), np.complex64, {"norm": "backwards"}),
]


@pytest.mark.parametrize("name,shape,dtype,kw", ERRORS, ids=str)
def test_errors_as_torch(name, shape, dtype, kw):
    arr = np.ones(shape, dtype)
    with pytest.raises(Exception) as expected:
        getattr(torch.fft, name)(torch.tensor(arr), **kw)
    with pytest.raises(type(expected.value)) as info:
        getattr(efft, name)(engine.tensor(arr), **kw)
    assert str(info.value) == str(expected.value)


def test_out():
    x = _sample((5,), np.float32)
    out = engine.empty(5, dtype=np.complex64)
    assert efft.fft(engine.tensor(x), out=out) is out
    _assert_same(out, torch.fft.fft(torch.tensor(x)))
    with pytest.raises(RuntimeError, match="fft expects a complex output tensor, but got Float"):
        efft.fft(engine.tensor(x), out=engine.empty(5))
    torch.fft.fft(torch.tensor(x), out=torch.empty(5, dtype=torch.complex128))  # torch casts: so do we
    out = engine.empty(5, dtype=np.complex128)
    efft.fft(engine.tensor(x), out=out)
    assert out.dtype == np.complex128


# ---- backward: the op's vjp with a given cotangent -----------------------------------------------------


def _ours_vjp(name, arr, g, **kw):
    """Run ``name`` and call its FFT node's backward with cotangent ``g`` (no complex tensor needs grad)."""
    record = {}
    original = FFT.apply.__func__

    def recording(cls, x, **params):
        record.update(params, x=x._data)
        return original(cls, x, **params)

    FFT.apply = classmethod(recording)
    try:
        getattr(efft, name)(engine.tensor(arr), **kw)
    finally:
        FFT.apply = classmethod(original)
    fn = FFT()
    fn.xp, fn.saved, fn.needs_input_grad = np, (), (True,)
    fn.forward(record.pop("x"), **record)
    return fn.backward(g)


def _check_vjp(name, arr, seed=0, **kw):
    rng = np.random.default_rng(seed)
    tx = torch.tensor(arr, requires_grad=True)
    ty = getattr(torch.fft, name)(tx, **kw)
    g = rng.standard_normal(ty.shape)
    if ty.is_complex():
        g = g + 1j * rng.standard_normal(ty.shape)
    g = g.astype(_tnp(ty).dtype)
    (expected,) = torch.autograd.grad(ty, tx, torch.tensor(g))
    got = _ours_vjp(name, arr, g, **kw)
    ref = _tnp(expected)
    assert got.shape == ref.shape and got.dtype == ref.dtype
    np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ONE_D)
@pytest.mark.parametrize("kind", ["real", "complex", "real_odd", "complex_odd"])
@pytest.mark.parametrize("kw", [{}, {"n": 4}, {"n": 9}, {"n": 8}, {"dim": 0}, {"norm": "ortho"},
                                {"norm": "forward", "n": 5, "dim": 0}, {"norm": "backward", "n": 7}], ids=str)
def test_one_dim_vjp(name, kind, kw):
    if name in REAL_ONLY and kind.startswith("complex"):
        pytest.skip("real input only")
    arr = _sample((3, 5 if kind.endswith("odd") else 6), np.complex128 if kind.startswith("complex") else np.float64)
    _check_vjp(name, arr, **kw)


@pytest.mark.parametrize("name", N_D)
@pytest.mark.parametrize("kind", ["real", "complex", "real_even", "complex_even"])
@pytest.mark.parametrize("kw", [{}, {"s": (4, 3)}, {"s": (4, -1)}, {"dim": (2, 0)}, {"s": (3, 4, 7)},
                                {"s": (1, 2, 6)}, {"norm": "ortho", "dim": (-1, 1)},
                                {"norm": "forward", "s": (2, 8), "dim": (0, 1)}, {"dim": (1,)}], ids=str)
def test_n_dim_vjp(name, kind, kw):
    if name in REAL_ONLY and kind.startswith("complex"):
        pytest.skip("real input only")
    if name.endswith("2") and "dim" not in kw and len(kw.get("s", (0, 0))) != 2:
        pytest.skip("fft2's default dims take two sizes")
    shape = (2, 3, 4 if kind.endswith("even") else 5)
    _check_vjp(name, _sample(shape, np.complex128 if kind.startswith("complex") else np.float64), **kw)


def test_vjp_float32_dtype():
    _check_vjp("rfft", _sample((6,), np.float32))
    _check_vjp("irfft", _sample((4,), np.complex64))


# ---- backward through engine.autograd: needs complex tensors in the graph -------------------------------


@needs_complex_grad
@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "ihfft", "fftn", "rfft2", "ihfftn"])
def test_real_input_complex_output_autograd(name):
    x = _sample((3, 6), np.float64)
    tx = torch.tensor(x, requires_grad=True)
    ty = getattr(torch.fft, name)(tx, norm="ortho")
    g = _sample(tuple(ty.shape), np.complex128, seed=3)
    (expected,) = torch.autograd.grad(ty, tx, torch.tensor(g))
    ex = engine.tensor(x, requires_grad=True)
    ey = getattr(efft, name)(ex, norm="ortho")
    (got,) = engine.autograd.grad(ey, ex, engine.tensor(g))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got.numpy(), _tnp(expected), atol=1e-9)


@needs_complex_grad
@pytest.mark.parametrize("name", ["fft", "ifft", "irfft", "hfft", "fft2", "ifftn", "irfftn", "hfft2"])
def test_complex_leaf_autograd(name):
    x = _sample((3, 5), np.complex128)
    tx = torch.tensor(x, requires_grad=True)
    ty = getattr(torch.fft, name)(tx, norm="forward")
    g = _sample(tuple(ty.shape), np.complex128 if ty.is_complex() else np.float64, seed=4)
    (expected,) = torch.autograd.grad(ty, tx, torch.tensor(g))
    ex = engine.tensor(x, requires_grad=True)
    ey = getattr(efft, name)(ex, norm="forward")
    (got,) = engine.autograd.grad(ey, ex, engine.tensor(g))
    assert got.dtype == np.complex128
    np.testing.assert_allclose(got.numpy(), _tnp(expected), atol=1e-9)


@needs_complex_grad
def test_round_trip_autograd():
    x = _sample((7,), np.float64)
    tx = torch.tensor(x, requires_grad=True)
    w = torch.tensor(_sample((7,), np.float64, seed=5))
    (torch.fft.irfft(torch.fft.rfft(tx) * 2, n=7) * w).sum().backward()
    ex = engine.tensor(x, requires_grad=True)
    (efft.irfft(efft.rfft(ex) * 2, n=7) * engine.tensor(w.numpy())).sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), atol=1e-9)


# ---- frequencies and shifts ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 8])
@pytest.mark.parametrize("d", [1.0, 0.3])
@pytest.mark.parametrize("dtype", [None, "float64"])
def test_fftfreq(n, d, dtype):
    td = None if dtype is None else getattr(torch, dtype)
    for name in ("fftfreq", "rfftfreq"):
        ours = getattr(efft, name)(n, d, dtype=None if dtype is None else np.dtype(dtype))
        theirs = getattr(torch.fft, name)(n, d, dtype=td)
        _assert_same(ours, theirs, atol=0)
    assert efft.fftfreq(4, requires_grad=True).requires_grad


@pytest.mark.parametrize("shape,dim", [((5,), None), ((4, 5), None), ((4, 5), 0), ((4, 5), (1,)), ((3, 4, 5), (0, 2)),
                                       ((3, 4), -1)])
def test_shifts_and_gradient(shape, dim):
    x = _sample(shape, np.float64)
    g = _sample(shape, np.float64, seed=2)
    for name in ("fftshift", "ifftshift"):
        tx = torch.tensor(x, requires_grad=True)
        ty = getattr(torch.fft, name)(tx, dim=dim)
        ty.backward(torch.tensor(g))
        ex = engine.tensor(x, requires_grad=True)
        ey = getattr(efft, name)(ex, dim=dim)
        ey.backward(engine.tensor(g))
        _assert_same(ey, ty, atol=0)
        np.testing.assert_array_equal(ex.grad.numpy(), tx.grad.numpy())
    c = _sample(shape, np.complex64)
    _assert_same(efft.fftshift(engine.tensor(c), dim=dim), torch.fft.fftshift(torch.tensor(c), dim=dim), atol=0)


# ---- stft / istft --------------------------------------------------------------------------------------

STFT_KW = [dict(n_fft=8), dict(n_fft=8, hop_length=3), dict(n_fft=10, win_length=7, window="hann"),
           dict(n_fft=8, window="hann", normalized=True), dict(n_fft=8, center=False),
           dict(n_fft=8, pad_mode="constant"), dict(n_fft=8, onesided=False), dict(n_fft=9, hop_length=2, win_length=5),
           dict(n_fft=8, win_length=4, hop_length=2, center=False, align_to_window=True, window="rand"),
           dict(n_fft=8, pad_mode="replicate", window="rand")]


def _window(kind, length, dtype):
    if kind is None:
        return None
    w = np.hanning(length) if kind == "hann" else np.random.default_rng(7).random(length)
    return w.astype(dtype)


@pytest.mark.parametrize("shape", [(40,), (3, 40)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("kw", STFT_KW, ids=str)
@pytest.mark.parametrize("return_complex", [True, False])
def test_stft_istft_values(shape, dtype, kw, return_complex):
    kw = dict(kw)
    w = _window(kw.pop("window", None), kw.get("win_length", kw["n_fft"]), np.float32 if dtype == np.float32 else
                np.float64)
    x = _sample(shape, dtype)
    tw, ew = (None, None) if w is None else (torch.tensor(w), engine.tensor(w))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            theirs = torch.stft(torch.tensor(x), window=tw, return_complex=return_complex, **kw)
        except RuntimeError as e:
            with pytest.raises(RuntimeError) as info:
                engine.stft(engine.tensor(x), window=ew, return_complex=return_complex, **kw)
            assert str(info.value) == str(e)
            return
        ours = engine.stft(engine.tensor(x), window=ew, return_complex=return_complex, **kw)
        _assert_same(ours, theirs)
        if not return_complex or kw.get("align_to_window") or np.dtype(dtype).kind == "c":
            return
        ikw = {k: v for k, v in kw.items() if k in ("n_fft", "hop_length", "win_length", "center", "normalized",
                                                     "onesided")}
        for extra in ({}, {"length": shape[-1]}, {"length": shape[-1] + 5}, {"length": 20}, {"return_complex": True}):
            try:
                ti = torch.istft(theirs, window=tw, **ikw, **extra)
            except RuntimeError as e:
                with pytest.raises(RuntimeError) as info:
                    engine.istft(ours, window=ew, **ikw, **extra)
                assert str(info.value) == str(e)
                continue
            _assert_same(engine.istft(ours, window=ew, **ikw, **extra), ti)


def test_stft_method_and_round_trip():
    x = engine.tensor(_sample((2, 64), np.float64))
    w = engine.tensor(np.hanning(16))
    spec = x.stft(16, hop_length=4, window=w, return_complex=True)
    assert spec.shape == (2, 9, 17)
    back = spec.istft(16, hop_length=4, window=w, length=64)
    np.testing.assert_allclose(back.numpy(), x.numpy(), atol=1e-10)


STFT_ERRORS = [
    ("stft", lambda m, x, c: m.stft(x, 8)),
    ("stft", lambda m, x, c: m.stft(x.reshape(2, 2, 5), 4, return_complex=True)),
    ("stft", lambda m, x, c: m.stft(x, 64, center=False, return_complex=True)),
    ("stft", lambda m, x, c: m.stft(x, 8, hop_length=0, return_complex=True)),
    ("stft", lambda m, x, c: m.stft(x, 8, win_length=9, return_complex=True)),
    ("stft", lambda m, x, c: m.stft(x, 8, window=m.ones(6), return_complex=True)),
    ("stft", lambda m, x, c: m.stft(x, 8, align_to_window=True, return_complex=True)),
    ("stft", lambda m, x, c: m.stft(x.to(c), 8, onesided=True, return_complex=True)),
    ("istft", lambda m, x, c: m.istft(x.reshape(4, 5), 8)),
    ("istft", lambda m, x, c: m.istft(m.ones(5, 0, dtype=c), 8)),
    ("istft", lambda m, x, c: m.istft(m.ones(5, dtype=c), 8)),
    ("istft", lambda m, x, c: m.istft(m.ones(4, 5, dtype=c), 8)),
    ("istft", lambda m, x, c: m.istft(m.ones(4, 5, dtype=c), 8, onesided=False)),
    ("istft", lambda m, x, c: m.istft(m.ones(5, 5, dtype=c), 8, hop_length=9)),
    ("istft", lambda m, x, c: m.istft(m.ones(5, 5, dtype=c), 8, win_length=9)),
    ("istft", lambda m, x, c: m.istft(m.ones(5, 5, dtype=c), 8, window=m.ones(6))),
    ("istft", lambda m, x, c: m.istft(m.ones(5, 5, dtype=c), 8, window=m.zeros(8))),
    ("istft", lambda m, x, c: m.istft(m.ones(5, 5, dtype=c), 8, return_complex=True)),
]


@pytest.mark.parametrize("i", range(len(STFT_ERRORS)))
def test_stft_errors_as_torch(i):
    _, call = STFT_ERRORS[i]
    x = np.arange(20, dtype=np.float32)
    with pytest.raises(Exception) as expected:
        call(torch, torch.tensor(x), torch.complex64)
    with pytest.raises(type(expected.value)) as info:
        call(engine, engine.tensor(x), np.complex64)
    assert str(info.value) == str(expected.value)


def test_stft_int_input_error():
    with pytest.raises(RuntimeError) as expected:
        torch.stft(torch.arange(20), 8, return_complex=True)
    with pytest.raises(RuntimeError) as info:
        engine.stft(engine.arange(20), 8, return_complex=True)
    assert str(info.value) == str(expected.value)


@pytest.mark.parametrize("shape", [(30,), (2, 30)])
@pytest.mark.parametrize("kw", [dict(n_fft=8), dict(n_fft=8, hop_length=3, win_length=5, normalized=True),
                                dict(n_fft=8, onesided=False, center=False),
                                dict(n_fft=9, pad_mode="constant", hop_length=4)], ids=str)
def test_stft_gradient_input_and_window(shape, kw):
    """return_complex=False keeps the graph real: input and window gradients vs torch."""
    x = _sample(shape, np.float64)
    w = np.random.default_rng(1).random(kw.get("win_length", kw["n_fft"]))
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ty = torch.stft(tx, window=tw, return_complex=False, **kw)
        ex, ew = engine.tensor(x, requires_grad=True), engine.tensor(w, requires_grad=True)
        ey = engine.stft(ex, window=ew, return_complex=False, **kw)
    g = _sample(tuple(ty.shape), np.float64, seed=9)
    tgx, tgw = torch.autograd.grad(ty, (tx, tw), torch.tensor(g))
    gx, gw = engine.autograd.grad(ey, (ex, ew), engine.tensor(g))
    _assert_same(ey, ty)
    np.testing.assert_allclose(gx.numpy(), tgx.numpy(), atol=1e-9)
    np.testing.assert_allclose(gw.numpy(), tgw.numpy(), atol=1e-9)


@pytest.mark.parametrize("kw", [dict(n_fft=8), dict(n_fft=8, hop_length=2, win_length=6, normalized=True),
                                dict(n_fft=8, center=False, length=30), dict(n_fft=8, onesided=False)], ids=str)
def test_istft_window_gradient(kw):
    x = _sample((2, 32), np.float64)
    spec = torch.stft(torch.tensor(x), kw["n_fft"], hop_length=kw.get("hop_length"), center=kw.get("center", True),
                      onesided=kw.get("onesided"), return_complex=True)
    w = 0.5 + np.random.default_rng(2).random(kw.get("win_length", kw["n_fft"]))
    tw = torch.tensor(w, requires_grad=True)
    ty = torch.istft(spec, window=tw, **kw)
    ew = engine.tensor(w, requires_grad=True)
    ey = engine.istft(engine.tensor(_tnp(spec)), window=ew, **kw)
    _assert_same(ey, ty)
    g = _sample(tuple(ty.shape), np.float64, seed=3)
    (tgw,) = torch.autograd.grad(ty, tw, torch.tensor(g))
    (gw,) = engine.autograd.grad(ey, ew, engine.tensor(g))
    np.testing.assert_allclose(gw.numpy(), tgw.numpy(), atol=1e-8)


@needs_complex_grad
@pytest.mark.parametrize("kw", [dict(n_fft=8), dict(n_fft=8, hop_length=3, win_length=6, normalized=True),
                                dict(n_fft=8, onesided=False, length=25)], ids=str)
def test_istft_input_gradient(kw):
    spec = torch.stft(torch.tensor(_sample((30,), np.float64)), kw["n_fft"], onesided=kw.get("onesided"),
                      hop_length=kw.get("hop_length"), return_complex=True).detach()
    w = 0.5 + np.random.default_rng(2).random(kw.get("win_length", kw["n_fft"]))
    ts = spec.clone().requires_grad_()
    ty = torch.istft(ts, window=torch.tensor(w), **kw)
    g = _sample(tuple(ty.shape), np.float64, seed=3)
    (expected,) = torch.autograd.grad(ty, ts, torch.tensor(g))
    es = engine.tensor(_tnp(spec), requires_grad=True)
    (got,) = engine.autograd.grad(engine.istft(es, window=engine.tensor(w), **kw), es, engine.tensor(g))
    np.testing.assert_allclose(got.numpy(), _tnp(expected), atol=1e-9)


@needs_complex_grad
def test_stft_complex_output_gradient():
    x = _sample((2, 30), np.float64)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.stft(tx, 8, hop_length=3, return_complex=True)
    g = _sample(tuple(ty.shape), np.complex128, seed=5)
    (expected,) = torch.autograd.grad(ty, tx, torch.tensor(g))
    ex = engine.tensor(x, requires_grad=True)
    (got,) = engine.autograd.grad(engine.stft(ex, 8, hop_length=3, return_complex=True), ex, engine.tensor(g))
    np.testing.assert_allclose(got.numpy(), _tnp(expected), atol=1e-9)
