"""Parity with PyTorch for the spatial ops' edge cases found by a differential sweep: empty batches
and axes, integer and bool dtypes, NaN/inf locality in resampling and adaptive pooling, lp_pool's
±inf and all-zero windows, interpolate's unchanged axes, antialias and argument errors, pad's crops,
grid_sample in 3-D and bicubic with torch's coordinate gradients, and the 3-D pooling modules.
Values in float32 and float64; gradients in float64 with torch's autograd as the oracle."""

# ruff: noqa: B023  (each lambda runs inside both(), before the loop moves on)
from __future__ import annotations

import numpy as np
import pytest

import engine.functional as F
import nn
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity
TF = torch.nn.functional


from test_parity_spatial import kernel_path  # noqa: E402,F401  (autouse: compiled kernels and the NumPy reference)


def both(ours, theirs, arrays, grad=True, dtypes=("float32", "float64"), ints=(), seed=0):
    """Same outputs (shape, dtype, values, NaN where torch has NaN) and, in float64, the same
    gradients of every float input for a random upstream gradient."""
    rng = np.random.default_rng(seed)
    for dt in dtypes:
        arrs = [a if i in ints else a.astype(dt) for i, a in enumerate(arrays)]
        need = [grad and dt == "float64" and i not in ints for i in range(len(arrs))]
        ts = [Tensor(a.copy(), requires_grad=r) for a, r in zip(arrs, need)]
        tt = [torch.tensor(a, requires_grad=r) for a, r in zip(arrs, need)]
        o, t = ours(*ts), theirs(*tt)
        o, t = (o if isinstance(o, tuple) else (o,)), (t if isinstance(t, tuple) else (t,))
        for a, b in zip(o, t):
            b = b.detach().numpy()
            assert a.shape == b.shape and str(a.dtype) == str(b.dtype), (a.shape, a.dtype, b.shape, b.dtype)
            tol = 1e-5 if dt == "float32" else 1e-10
            np.testing.assert_allclose(a.numpy(), b, rtol=tol, atol=tol)
        if any(need):
            g = rng.standard_normal(tuple(t[0].shape))
            o[0].backward(Tensor(g))
            t[0].backward(torch.tensor(g))
            for i, (a, b) in enumerate(zip(ts, tt)):
                if b.grad is not None:
                    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-10,
                                               err_msg=f"input {i}")


def raises_as_torch(ours, theirs, *arrays):
    with pytest.raises(Exception) as te:
        theirs(*(torch.tensor(a) for a in arrays))
    with pytest.raises(type(te.value)):
        ours(*(Tensor(a) for a in arrays))


def R(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


# ---- empty batches and axes -------------------------------------------------------------------------


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_empty_batch_through_conv_transpose_pools_unfold(nd):
    sp = (5, 4, 3)[:nd]
    ct, tct = getattr(F, f"conv_transpose{nd}d"), getattr(TF, f"conv_transpose{nd}d")
    both(lambda x, w: ct(x, w, stride=2), lambda x, w: tct(x, w, stride=2), [R(0, 2, *sp), R(2, 3, *(2,) * nd)])
    mp, tmp = getattr(F, f"max_pool{nd}d"), getattr(TF, f"max_pool{nd}d")
    both(lambda x: mp(x, 2, padding=1), lambda x: tmp(x, 2, padding=1), [R(0, 2, *sp)])
    am, tam = getattr(F, f"adaptive_max_pool{nd}d"), getattr(TF, f"adaptive_max_pool{nd}d")
    both(lambda x: am(x, 2, return_indices=True), lambda x: tam(x, 2, return_indices=True), [R(0, 2, *sp)])
    if nd == 2:
        both(lambda x: F.unfold(x, 2), lambda x: TF.unfold(x, 2), [R(0, 2, 4, 4)])
        both(lambda c: F.fold(c, (3, 3), 2), lambda c: TF.fold(c, (3, 3), 2), [R(0, 8, 4)])


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_pools_reject_empty_channels_and_axes_as_torch(nd):
    for shape in [(2, 0, *(3,) * nd), (2, 2, 0, *(3,) * (nd - 1)), (0, *(3,) * nd)]:
        x = np.zeros(shape)
        for name in ("max_pool", "avg_pool", "lp_pool"):
            f, tf = getattr(F, f"{name}{nd}d"), getattr(TF, f"{name}{nd}d")
            args = (2.0, 1) if name == "lp_pool" else (1,)
            raises_as_torch(lambda x: f(x, *args), lambda x: tf(x, *args), x)
    am, tam = getattr(F, f"adaptive_max_pool{nd}d"), getattr(TF, f"adaptive_max_pool{nd}d")
    raises_as_torch(lambda x: am(x, 2), lambda x: tam(x, 2), np.zeros((2, 0, *(3,) * nd)))
    aa, taa = getattr(F, f"adaptive_avg_pool{nd}d"), getattr(TF, f"adaptive_avg_pool{nd}d")
    raises_as_torch(lambda x: aa(x, 2), lambda x: taa(x, 2), np.zeros((2, 2, 0, *(3,) * (nd - 1))))
    # output 1 is torch's mean shortcut, which takes an empty axis
    both(lambda x: aa(x, 1), lambda x: taa(x, 1), [np.zeros((2, 2, 0, *(3,) * (nd - 1)))], grad=False)


# ---- dtypes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_integer_avg_pool_truncates_as_torch(nd):
    x = np.random.default_rng(2).integers(-9, 9, (1, 2, *(5,) * nd))
    for kw in ({}, {"ceil_mode": True}, {"padding": 1, "count_include_pad": False}):
        f, tf = getattr(F, f"avg_pool{nd}d"), getattr(TF, f"avg_pool{nd}d")
        both(lambda x: f(x, 2, **kw), lambda x: tf(x, 2, **kw), [x], grad=False, ints=(0,), dtypes=("int64",))


def test_dtypes_torch_has_no_kernel_for_raise_not_implemented():
    ints, flags = np.arange(16).reshape(1, 1, 4, 4), np.zeros((1, 1, 4, 4), dtype=bool)
    cases = [
        (lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), flags),
        (lambda x: F.avg_pool2d(x, 2), lambda x: TF.avg_pool2d(x, 2), flags),
        (lambda x: F.max_pool1d(x[0], 2), lambda x: TF.max_pool1d(x[0], 2), ints),
        (lambda x: F.adaptive_avg_pool2d(x, 2), lambda x: TF.adaptive_avg_pool2d(x, 2), ints),
        (lambda x: F.adaptive_max_pool2d(x, 2), lambda x: TF.adaptive_max_pool2d(x, 2), ints),
        (lambda x: F.unfold(x, 2), lambda x: TF.unfold(x, 2), ints),
        (lambda x: F.interpolate(x, size=3), lambda x: TF.interpolate(x, size=3), ints),
        (lambda x: F.interpolate(x, size=3, mode="bilinear"), lambda x: TF.interpolate(x, size=3, mode="bilinear"),
         ints),
        (lambda x: F.pad(x, (1, 1), mode="reflect"), lambda x: TF.pad(x, (1, 1), mode="reflect"), flags),
    ]
    for ours, theirs, x in cases:
        raises_as_torch(ours, theirs, x)
    # max_pool1d with indices, and uint8 nearest resampling, are supported
    both(lambda x: F.max_pool1d(x, 2, return_indices=True), lambda x: TF.max_pool1d(x, 2, return_indices=True),
         [ints[0]], grad=False, ints=(0,), dtypes=("int64",))
    u8 = np.random.default_rng(3).integers(0, 255, (1, 2, 4, 5)).astype(np.uint8)
    both(lambda x: F.interpolate(x, scale_factor=1.7), lambda x: TF.interpolate(x, scale_factor=1.7), [u8],
         grad=False, ints=(0,), dtypes=("uint8",))


def test_uint8_bilinear_is_within_one_of_torch():
    u8 = np.random.default_rng(4).integers(0, 255, (2, 3, 6, 5)).astype(np.uint8)
    for mode in ("bilinear", "bicubic"):
        for size in ((9, 7), (3, 4)):
            a = F.interpolate(Tensor(u8), size=size, mode=mode)
            b = TF.interpolate(torch.tensor(u8), size=size, mode=mode)
            assert a.dtype == np.uint8
            assert np.abs(a.numpy().astype(int) - b.numpy().astype(int)).max() <= 1


# ---- lp_pool -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_lp_pool_inf_norm_and_zero_windows(nd):
    f, tf = getattr(F, f"lp_pool{nd}d"), getattr(TF, f"lp_pool{nd}d")
    x = R(2, 2, *(5,) * nd)
    for p in (float("inf"), -float("inf")):
        both(lambda x: f(x, p, 2, 1, True), lambda x: tf(x, p, 2, 1, True), [x])
    z = np.zeros((1, 2, *(4,) * nd))
    z[..., :2] = R(1, 2, *(4,) * (nd - 1), 2)
    for p in (1, 2, 3):  # all-zero windows get a zero gradient, not 0·inf
        both(lambda x: f(x, p, 2), lambda x: tf(x, p, 2), [z])


# ---- NaN and inf stay local ----------------------------------------------------------------------------


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_nan_and_inf_only_reach_their_windows(nd):
    x = R(1, 2, *(5, 4, 3)[:nd])
    x.flat[[2, 7, 9]] = np.nan
    x.flat[[4]] = np.inf
    aa, taa = getattr(F, f"adaptive_avg_pool{nd}d"), getattr(TF, f"adaptive_avg_pool{nd}d")
    am, tam = getattr(F, f"adaptive_max_pool{nd}d"), getattr(TF, f"adaptive_max_pool{nd}d")
    both(lambda x: aa(x, 2), lambda x: taa(x, 2), [x], grad=False)
    both(lambda x: am(x, 2, return_indices=True), lambda x: tam(x, 2, return_indices=True), [x], grad=False)
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[nd]
    for m in (mode, "area", "bicubic" if nd == 2 else mode):
        both(lambda x: F.interpolate(x, size=7, mode=m), lambda x: TF.interpolate(x, size=7, mode=m), [x],
             grad=False)


def test_adaptive_max_pool_points_at_the_last_nan_as_torch():
    x = np.zeros((1, 1, 6))
    x[0, 0, [1, 2, 4]] = np.nan
    both(lambda x: F.adaptive_max_pool1d(x, 2, return_indices=True),
         lambda x: TF.adaptive_max_pool1d(x, 2, return_indices=True), [x], grad=False)


# ---- interpolate ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode,nd", [("linear", 1), ("bilinear", 2), ("bicubic", 2), ("trilinear", 3)])
def test_interpolate_axes_that_keep_their_size(mode, nd):
    """torch's linear kernels copy an axis whose size is unchanged, whatever scale_factor says
    (bicubic resamples it, though torch's bicubic backward copies the gradient then: torch's own
    gradcheck fails there, so bicubic compares values only)."""
    x = R(2, 2, *(3, 4, 5)[:nd])
    for sf in (1.1, 1.3, (2.5, 1.2, 1.1)[:nd]):
        for rsf in (None, True):
            kw = dict(scale_factor=sf, mode=mode, recompute_scale_factor=rsf)
            both(lambda x: F.interpolate(x, **kw), lambda x: TF.interpolate(x, **kw), [x], grad=mode != "bicubic")


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_interpolate_antialias(mode):
    x = R(2, 2, 9, 7)
    for ac in (None, True):
        for kw in ({"size": (3, 2)}, {"size": (4, 5)}, {"size": (13, 11)}, {"scale_factor": 0.5},
                   {"scale_factor": (0.4, 2.2), "recompute_scale_factor": True}):
            kw = dict(kw, mode=mode, align_corners=ac, antialias=True)
            both(lambda x: F.interpolate(x, **kw), lambda x: TF.interpolate(x, **kw), [x])


def test_interpolate_errors_and_empty_outputs():
    x = R(1, 2, 5, 4)
    for kw in ({"size": 3, "antialias": True}, {"size": [3, 3, 3]}, {"size": [3]}):
        raises_as_torch(lambda x: F.interpolate(x, **kw), lambda x: TF.interpolate(x, **kw), x)
    raises_as_torch(lambda x: F.interpolate(x, size=3), lambda x: TF.interpolate(x, size=3), R(2, 0, 5, 4))
    both(lambda x: F.interpolate(x, scale_factor=0.1, mode="area"),
         lambda x: TF.interpolate(x, scale_factor=0.1, mode="area"), [x], grad=False)
    t = Tensor(x)
    assert F.interpolate(t, size=(5, 4)) is not t  # a new tensor, as torch, even when nothing moves


# ---- pad, unfold ----------------------------------------------------------------------------------


def test_pad_crops_past_zero_raise_as_torch():
    x = np.zeros((2, 3, 4))
    for mode, pads in [("constant", (-3, -2)), ("constant", (-5, 1)), ("reflect", (-2, -2)),
                       ("replicate", (-4, 0)), ("circular", (-3, -2)), ("reflect", (-2, -2, -3, 0))]:
        raises_as_torch(lambda x: F.pad(x, pads, mode=mode), lambda x: TF.pad(x, pads, mode=mode), x)
    for mode, pads in [("constant", (-2, -2)), ("circular", (-2, -2)), ("reflect", (-2, -2, 1, 1)),
                       ("replicate", (1, 1, -3, 0))]:
        both(lambda x: F.pad(x, pads, mode=mode), lambda x: TF.pad(x, pads, mode=mode), [R(2, 3, 4)])
    raises_as_torch(lambda x: F.pad(x, (1, 1), mode="reflect", value=2.0),
                    lambda x: TF.pad(x, (1, 1), mode="reflect", value=2.0), x)


def test_conv_transpose_string_padding_and_unfold_rank_errors():
    raises_as_torch(lambda x, w: F.conv_transpose2d(x, w, padding="same"),
                    lambda x, w: TF.conv_transpose2d(x, w, padding="same"), R(1, 2, 4, 4), R(2, 3, 2, 2))
    raises_as_torch(lambda x: F.unfold(x, 2), lambda x: TF.unfold(x, 2), R(6, 5))


def test_adaptive_output_size_errors():
    x = R(1, 3, 5, 5)
    for name, size in [("adaptive_avg_pool2d", (2, 2, 2)), ("adaptive_max_pool2d", (2, 2, 2)),
                       ("adaptive_avg_pool2d", (2, -1)), ("adaptive_max_pool2d", (2, -1))]:
        raises_as_torch(lambda x: getattr(F, name)(x, size), lambda x: getattr(TF, name)(x, size), x)
    raises_as_torch(lambda x: F.adaptive_avg_pool1d(x, None), lambda x: TF.adaptive_avg_pool1d(x, None), R(1, 3, 5))


# ---- grid_sample / affine_grid -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [False, True])
def test_grid_sample_modes(mode, padding_mode, align):
    kw = dict(mode=mode, padding_mode=padding_mode, align_corners=align)
    both(lambda x, g: F.grid_sample(x, g, **kw), lambda x, g: TF.grid_sample(x, g, **kw),
         [R(2, 3, 6, 7), R(2, 4, 5, 2, seed=2) * 1.3])
    lattice = np.stack(np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5)), -1)[None]
    both(lambda x, g: F.grid_sample(x, g, **kw), lambda x, g: TF.grid_sample(x, g, **kw), [R(1, 2, 4, 4), lattice])
    g = np.full((1, 2, 2, 2), np.inf)
    g[0, 0, 0], g[0, 1, 1], g[0, 1, 0] = np.nan, -np.inf, [0.2, -0.3]
    both(lambda x, g: F.grid_sample(x, g, **kw), lambda x, g: TF.grid_sample(x, g, **kw), [R(1, 2, 3, 4), g],
         grad=False)
    if mode != "bicubic":
        both(lambda x, g: F.grid_sample(x, g, **kw), lambda x, g: TF.grid_sample(x, g, **kw),
             [R(2, 3, 4, 6, 7), R(2, 3, 4, 5, 3, seed=3) * 1.3])


def test_grid_sample_and_affine_grid_errors():
    x, g = R(2, 3, 6, 7), R(2, 4, 5, 2)
    for kw in ({"mode": "area"}, {"padding_mode": "circular"}):
        raises_as_torch(lambda x, g: F.grid_sample(x, g, align_corners=False, **kw),
                        lambda x, g: TF.grid_sample(x, g, align_corners=False, **kw), x, g)
    for xs, gs in [((2, 3, 6, 7), (1, 4, 5, 2)), ((2, 3, 6, 7), (2, 4, 5, 3)), ((2, 3, 0, 7), (2, 4, 5, 2)),
                   ((2, 3, 4, 6, 7), (2, 3, 4, 5, 2)), ((3, 6, 7), (4, 5, 2))]:
        raises_as_torch(lambda x, g: F.grid_sample(x, g, align_corners=False),
                        lambda x, g: TF.grid_sample(x, g, align_corners=False), R(*xs), R(*gs))
    raises_as_torch(lambda x, g: F.grid_sample(x, g, mode="bicubic", align_corners=False),
                    lambda x, g: TF.grid_sample(x, g, mode="bicubic", align_corners=False),
                    R(2, 3, 4, 6, 7), R(2, 3, 4, 5, 3))
    raises_as_torch(lambda t: F.affine_grid(t, (3, 3, 4, 5), align_corners=False),
                    lambda t: TF.affine_grid(t, (3, 3, 4, 5), align_corners=False), R(2, 2, 3))
    raises_as_torch(lambda t: F.affine_grid(t, (2, 3, 4, 5), align_corners=False),
                    lambda t: TF.affine_grid(t, (2, 3, 4, 5), align_corners=False), np.zeros((2, 2, 3), np.int64))


# ---- modules ---------------------------------------------------------------------------------------


def test_3d_pooling_modules_and_conv_padding_attribute():
    x = R(2, 3, 4, 4, 6).astype(np.float32)
    for name, args in [("AdaptiveMaxPool3d", (2,)), ("LPPool3d", (2, 2))]:
        om, tm = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
        assert repr(om) == repr(tm)
        np.testing.assert_allclose(om(Tensor(x)).numpy(), tm(torch.tensor(x)).numpy(), rtol=1e-5, atol=1e-6)
    y, i = TF.max_pool3d(torch.tensor(x), 2, return_indices=True)
    om, tm = nn.MaxUnpool3d(2), torch.nn.MaxUnpool3d(2)
    assert repr(om) == repr(tm)
    np.testing.assert_array_equal(om(Tensor(y.numpy()), Tensor(i.numpy())).numpy(), tm(y, i).numpy())
    for kw in ({"padding": "same"}, {"padding": 1, "padding_mode": "reflect"}, {"padding": (1, 2)}):
        for k in (2, 3):
            assert nn.Conv2d(2, 2, k, **kw)._reversed_padding_repeated_twice == \
                tuple(torch.nn.Conv2d(2, 2, k, **kw)._reversed_padding_repeated_twice)
    om, tm = nn.Conv2d(2, 2, 3, padding=4, padding_mode="reflect"), torch.nn.Conv2d(2, 2, 3, padding=4,
                                                                                     padding_mode="reflect")
    raises_as_torch(om, tm, np.zeros((1, 2, 3, 3), np.float32))
