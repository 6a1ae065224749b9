"""Parity with PyTorch for convolution, pooling and resampling: values and input/weight gradients
in float64 on random configurations, corner cases included (stride > kernel, dilation, 'same'
with even kernels, ceil_mode windows that start in the padding, count_include_pad, groups,
depthwise, align_corners, scale_factor with and without recompute_scale_factor)."""

# ruff: noqa: B023  (each lambda runs inside run_both, before the loop moves on)
from __future__ import annotations

import numpy as np
import pytest

import engine.functional as F
from engine import Tensor, kernels
from engine.kernels import cpu as cpu_kernels

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity
TF = torch.nn.functional

RTOL, ATOL = 1e-7, 1e-9


@pytest.fixture(autouse=True, params=["compiled", "numpy"])
def kernel_path(request):
    """Every test runs twice: with engine/kernels/cpu/spatial.py's kernels and on the NumPy reference."""
    old = kernels.set_enabled(request.param == "compiled", "cpu")
    if request.param == "compiled" and not cpu_kernels.available():
        kernels.set_enabled(old, "cpu")
        pytest.skip("numba is not installed")
    yield request.param
    kernels.set_enabled(old, "cpu")


def run_both(ours, theirs, arrays, rng, n_out=1):
    """Forward both, backward a random upstream gradient; compare outputs and every input gradient."""
    ts = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    o, t = ours(*ts), theirs(*tt)
    o = o if isinstance(o, tuple) else (o,)
    t = t if isinstance(t, tuple) else (t,)
    assert len(o) == len(t)
    for a, b in zip(o, t):
        assert a.shape == tuple(b.shape), (a.shape, tuple(b.shape))
        if b.dtype == torch.int64:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        else:
            np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=RTOL, atol=ATOL)
    g = rng.standard_normal(o[0].shape)
    o[0].backward(g)
    t[0].backward(torch.tensor(g))
    for i, (a, b) in enumerate(zip(ts, tt)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=f"input {i}")


def conv_configs(nd, n, seed):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        g = int(rng.integers(1, 4))
        cg, og = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        k = tuple(int(v) for v in rng.integers(1, 4, nd))
        s = tuple(int(v) for v in rng.integers(1, 4, nd))
        d = tuple(int(v) for v in rng.integers(1, 3, nd))
        form = rng.choice(["int", "tuple", "same", "valid"])
        if form == "same":
            s = (1,) * nd
            pad = "same"
            p = [0] * nd
        elif form == "valid":
            pad, p = "valid", [0] * nd
        else:
            p = [int(v) for v in rng.integers(0, 3, nd)]
            pad = p[0] if form == "int" else tuple(p)
            p = [p[0]] * nd if form == "int" else p
        lo = [max(1, dd * (kk - 1) + 1 - 2 * pp) for dd, kk, pp in zip(d, k, p)]
        size = tuple(int(rng.integers(a, a + 5)) for a in lo)
        bias = bool(rng.integers(0, 2))
        yield rng, dict(stride=s, padding=pad, dilation=d, groups=g), (int(rng.integers(1, 3)), g * cg, *size), \
            (g * og, cg, *k), bias


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_matches_torch(nd):
    for rng, kw, xs, ws, bias in conv_configs(nd, 25 if nd < 3 else 8, nd):
        arrays = [rng.standard_normal(xs), rng.standard_normal(ws)] + ([rng.standard_normal(ws[0])] if bias else [])
        ours, theirs = getattr(F, f"conv{nd}d"), getattr(TF, f"conv{nd}d")
        run_both(lambda *t: ours(*t, **kw), lambda *t: theirs(*t, **kw), arrays, rng)


def test_conv2d_corner_cases():
    rng = np.random.default_rng(0)
    cases = [  # stride > kernel, 'same' with an even kernel (asymmetric padding), dilation, depthwise x2
        ((2, 3, 7, 6), (4, 3, 1, 2), dict(stride=3)),
        ((1, 2, 5, 6), (3, 2, 2, 4), dict(padding="same")),
        ((1, 2, 6, 6), (3, 2, 2, 2), dict(padding="same", dilation=3)),
        ((2, 4, 6, 5), (8, 1, 3, 3), dict(groups=4, padding=1)),
        ((1, 3, 9, 9), (3, 3, 3, 3), dict(dilation=(2, 3), stride=(2, 1), padding=(0, 2))),
        ((2, 3, 5, 5), (2, 3, 5, 5), {}),
        ((3, 5, 5), (2, 3, 3, 3), dict(padding=1)),  # unbatched
    ]
    for xs, ws, kw in cases:
        run_both(lambda x, w, kw=kw: F.conv2d(x, w, **kw), lambda x, w, kw=kw: TF.conv2d(x, w, **kw),
                 [rng.standard_normal(xs), rng.standard_normal(ws)], rng)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_transpose_matches_torch(nd):
    rng = np.random.default_rng(10 + nd)
    for _ in range(20 if nd < 3 else 6):
        g = int(rng.integers(1, 4))
        cg, og = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        k = tuple(int(v) for v in rng.integers(1, 4, nd))
        s = tuple(int(v) for v in rng.integers(1, 4, nd))
        d = tuple(int(v) for v in rng.integers(1, 3, nd))
        op = tuple(int(rng.integers(0, max(ss, dd))) for ss, dd in zip(s, d))
        size = tuple(int(v) for v in rng.integers(1, 5, nd))
        p = tuple(int(rng.integers(0, 2)) for _ in range(nd))
        out = [(n - 1) * ss - 2 * pp + dd * (kk - 1) + q + 1 for n, ss, pp, dd, kk, q in zip(size, s, p, d, k, op)]
        if min(out) <= 0:
            continue
        kw = dict(stride=s, padding=p, output_padding=op, groups=g, dilation=d)
        arrays = [rng.standard_normal((2, g * cg, *size)), rng.standard_normal((g * cg, og, *k)),
                  rng.standard_normal(g * og)]
        ours, theirs = getattr(F, f"conv_transpose{nd}d"), getattr(TF, f"conv_transpose{nd}d")
        run_both(lambda *t: ours(*t, **kw), lambda *t: theirs(*t, **kw), arrays, rng)


def test_unfold_fold_match_torch():
    rng = np.random.default_rng(3)
    for _ in range(20):
        k = tuple(int(v) for v in rng.integers(1, 4, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        d = tuple(int(v) for v in rng.integers(1, 3, 2))
        p = tuple(int(v) for v in rng.integers(0, 2, 2))
        size = tuple(int(rng.integers(max(1, dd * (kk - 1) + 1 - 2 * pp), 7)) for kk, dd, pp in zip(k, d, p))
        kw = dict(kernel_size=k, dilation=d, padding=p, stride=s)
        x = rng.standard_normal((2, 3, *size))
        run_both(lambda t: F.unfold(t, **kw), lambda t: TF.unfold(t, **kw), [x], rng)
        cols = TF.unfold(torch.tensor(x), **kw).numpy()
        run_both(lambda t: F.fold(t, size, **kw), lambda t: TF.fold(t, size, **kw), [cols], rng)


def pool_config(rng, nd, dilation=True):
    k = tuple(int(v) for v in rng.integers(1, 4, nd))
    s = tuple(int(v) for v in rng.integers(1, 5, nd))  # stride > kernel too
    d = tuple(int(v) for v in rng.integers(1, 3, nd)) if dilation else (1,) * nd
    p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
    # torch's 3-D pools want the unpadded input at least as large as the kernel
    size = tuple(int(rng.integers(max(1, dd * (kk - 1) + 1 - (0 if nd == 3 else 2 * pp)), 8))
                 for kk, dd, pp in zip(k, d, p))
    return k, s, d, p, size


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_pool_matches_torch(nd):
    rng = np.random.default_rng(20 + nd)
    for _ in range(30 if nd < 3 else 8):
        k, s, d, p, size = pool_config(rng, nd)
        kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=bool(rng.integers(0, 2)),
                  return_indices=True)
        x = rng.permutation(2 * 2 * int(np.prod(size))).reshape(2, 2, *size) * 0.1  # no ties
        run_both(lambda t: getattr(F, f"max_pool{nd}d")(t, **kw), lambda t: getattr(TF, f"max_pool{nd}d")(t, **kw),
                 [x], rng)


def test_max_pool_ties_take_the_first_maximum_as_torch():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, (2, 3, 6, 7)).astype(np.float64)
    run_both(lambda t: F.max_pool2d(t, 3, 2, 1, return_indices=True),
             lambda t: TF.max_pool2d(t, 3, 2, 1, return_indices=True), [x], rng)


def test_max_unpool2d_matches_torch():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 6, 7))
    y, i = TF.max_pool2d(torch.tensor(x), 2, return_indices=True)
    run_both(lambda t: F.max_unpool2d(t, i.numpy(), 2, output_size=(6, 7)),
             lambda t: TF.max_unpool2d(t, i, 2, output_size=(6, 7)), [y.numpy()], rng)
    y, i = TF.max_pool2d(torch.tensor(x[..., :6]), 2, return_indices=True)
    run_both(lambda t: F.max_unpool2d(t, i.numpy(), 2), lambda t: TF.max_unpool2d(t, i, 2), [y.numpy()], rng)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_avg_pool_matches_torch(nd):
    rng = np.random.default_rng(30 + nd)
    for _ in range(30 if nd < 3 else 8):
        k, s, _, p, size = pool_config(rng, nd, dilation=False)
        kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=bool(rng.integers(0, 2)),
                  count_include_pad=bool(rng.integers(0, 2)))
        if nd > 1 and rng.integers(0, 3) == 0:
            kw["divisor_override"] = int(rng.integers(1, 5))
        run_both(lambda t: getattr(F, f"avg_pool{nd}d")(t, **kw), lambda t: getattr(TF, f"avg_pool{nd}d")(t, **kw),
                 [rng.standard_normal((2, 2, *size))], rng)


def test_lp_pool_matches_torch():
    rng = np.random.default_rng(7)
    for p, k, s, ceil in [(2, 2, None, False), (3, (2, 3), 1, False), (2, 3, 2, True), (1.5, 2, 3, False)]:
        x = rng.uniform(0.2, 2.0, (2, 3, 7, 6))
        run_both(lambda t: F.lp_pool2d(t, p, k, s, ceil), lambda t: TF.lp_pool2d(t, p, k, s, ceil), [x], rng)
        run_both(lambda t: F.lp_pool1d(t[:, 0], p, 2, s if isinstance(s, int) else None, ceil),
                 lambda t: TF.lp_pool1d(t[:, 0], p, 2, s if isinstance(s, int) else None, ceil), [x], rng)


@pytest.mark.parametrize("out", [1, 2, 3, (4, 2), (None, 3), (7, 5), (2, 9)])
def test_adaptive_pools_match_torch(out):
    rng = np.random.default_rng(8)
    x = (rng.permutation(2 * 3 * 5 * 7).reshape(2, 3, 5, 7) * 0.1)
    run_both(lambda t: F.adaptive_avg_pool2d(t, out), lambda t: TF.adaptive_avg_pool2d(t, out), [x], rng)
    run_both(lambda t: F.adaptive_max_pool2d(t, out, True), lambda t: TF.adaptive_max_pool2d(t, out, True), [x], rng)
    o1 = out if isinstance(out, int) else out[1]
    run_both(lambda t: F.adaptive_avg_pool1d(t[:, :, 0], o1), lambda t: TF.adaptive_avg_pool1d(t[:, :, 0], o1),
             [x], rng)
    run_both(lambda t: F.adaptive_max_pool1d(t[:, :, 0], o1, True),
             lambda t: TF.adaptive_max_pool1d(t[:, :, 0], o1, True), [x], rng)


INTERP = [
    dict(size=(7, 3)), dict(scale_factor=2), dict(scale_factor=(1.5, 0.7)), dict(scale_factor=1.7),
    dict(scale_factor=0.6, recompute_scale_factor=True), dict(size=(2, 9)), dict(scale_factor=3.3),
]


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear", "bicubic", "area"])
@pytest.mark.parametrize("kw", INTERP)
def test_interpolate_2d_matches_torch(mode, kw):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 5, 4))
    for ac in ([None] if mode in ("nearest", "nearest-exact", "area") else [False, True]):
        run_both(lambda t: F.interpolate(t, mode=mode, align_corners=ac, **kw),
                 lambda t: TF.interpolate(t, mode=mode, align_corners=ac, **kw), [x], rng)


@pytest.mark.parametrize("mode,nd", [("nearest", 1), ("linear", 1), ("nearest-exact", 1), ("nearest", 3),
                                     ("trilinear", 3), ("area", 1)])
@pytest.mark.parametrize("ac", [None, True])
def test_interpolate_1d_3d_matches_torch(mode, nd, ac):
    if ac and mode in ("nearest", "nearest-exact", "area"):
        pytest.skip("align_corners only with the interpolating modes")
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 2, *(4, 3, 5)[:nd]))
    for kw in (dict(scale_factor=2.5), dict(size=(6, 2, 3)[:nd]), dict(scale_factor=0.5)):
        run_both(lambda t: F.interpolate(t, mode=mode, align_corners=ac, **kw),
                 lambda t: TF.interpolate(t, mode=mode, align_corners=ac, **kw), [x], rng)


def test_upsample_aliases_and_pixel_shuffle_match_torch():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 8, 3, 5))
    run_both(lambda t: F.upsample_bilinear(t, scale_factor=2), lambda t: TF.upsample_bilinear(t, scale_factor=2),
             [x], rng)
    run_both(lambda t: F.upsample_nearest(t, size=(4, 4)), lambda t: TF.upsample_nearest(t, size=(4, 4)), [x], rng)
    run_both(lambda t: F.upsample(t, size=(4, 4), mode="bicubic"),
             lambda t: TF.interpolate(t, size=(4, 4), mode="bicubic"), [x], rng)
    run_both(lambda t: F.pixel_shuffle(t, 2), lambda t: TF.pixel_shuffle(t, 2), [x], rng)
    y = rng.standard_normal((2, 2, 6, 4))
    run_both(lambda t: F.pixel_unshuffle(t, 2), lambda t: TF.pixel_unshuffle(t, 2), [y], rng)
    run_both(lambda t: F.pixel_shuffle(t, 2), lambda t: TF.pixel_shuffle(t, 2), [x[0]], rng)  # unbatched


def test_float32_stays_float32_and_matches_torch():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = F.conv2d(Tensor(x), Tensor(w), padding=1)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), TF.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy(),
                               rtol=1e-4, atol=1e-4)
    for f in (lambda t: F.max_pool2d(t, 2), lambda t: F.avg_pool2d(t, 3, 2, 1),
              lambda t: F.interpolate(t, scale_factor=2, mode="bilinear"), lambda t: F.adaptive_avg_pool2d(t, 3)):
        assert f(Tensor(x)).dtype == np.float32


def test_a_conv_pool_chain_matches_torch():
    """conv2d outputs are channels-last in memory: the next ops (relu, max_pool2d, conv2d) read them so."""
    rng = np.random.default_rng(14)
    x, w1, w2 = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal((5, 4, 2, 2))

    def ours(x, w1, w2):
        h = F.max_pool2d(F.relu(F.conv2d(x, w1, padding=1)), 2, ceil_mode=True)
        return F.conv2d(F.avg_pool2d(h, 2, 1, 1), w2, stride=2)

    def theirs(x, w1, w2):
        h = TF.max_pool2d(TF.relu(TF.conv2d(x, w1, padding=1)), 2, ceil_mode=True)
        return TF.conv2d(TF.avg_pool2d(h, 2, 1, 1), w2, stride=2)

    run_both(ours, theirs, [x, w1, w2], rng)


def test_max_pool_nan_and_inf_as_torch():
    rng = np.random.default_rng(15)
    x = rng.standard_normal((1, 2, 5, 5))
    x[0, 0, 1, 1] = x[0, 0, 1, 2] = np.nan
    x[0, 1, :2, :2] = -np.inf
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, ceil_mode=True)):
        o, oi = F.max_pool2d(Tensor(x), return_indices=True, **kw)
        t, ti = TF.max_pool2d(torch.tensor(x), return_indices=True, **kw)
        np.testing.assert_array_equal(o.numpy(), t.numpy())
        np.testing.assert_array_equal(oi.numpy(), ti.numpy())


def test_conv_in_batch_chunks_matches_torch(monkeypatch):
    """ConvNd builds its columns a few images at a time: chunks of one image give torch's values too."""
    from engine.ops import spatial

    monkeypatch.setattr(spatial, "CHUNK_BYTES", 1)
    rng = np.random.default_rng(16)
    for kw in (dict(padding=1), dict(stride=2, groups=2, dilation=(1, 2))):
        arrays = [rng.standard_normal((3, 4, 7, 8)), rng.standard_normal((6, 4 // kw.get("groups", 1), 3, 3)),
                  rng.standard_normal(6)]
        run_both(lambda *t, kw=kw: F.conv2d(*t, **kw), lambda *t, kw=kw: TF.conv2d(*t, **kw), arrays, rng)
