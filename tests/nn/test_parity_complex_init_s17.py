"""nn.init on complex tensors against torch: torch fills view_as_real, so uniform_ draws each part in
[a, b) and normal_ each part with std/sqrt(2) (E|z - mean|^2 = std^2); the fan-based inits follow.
Both sides draw 200,000 values; the moments must agree within a few standard errors. trunc_normal_ and
orthogonal_ refuse complex with torch's words."""

from __future__ import annotations

import math

import numpy as np
import pytest

import engine
import nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

SHAPE = (400, 500)
N = SHAPE[0] * SHAPE[1]


def _both(fn, *args, dtype="complex128"):
    t = torch.zeros(SHAPE, dtype=getattr(torch, dtype))
    getattr(torch.nn.init, fn)(t, *args)
    o = engine.zeros(SHAPE, dtype=getattr(engine, dtype))
    getattr(nn.init, fn)(o, *args)
    assert str(o.dtype) == dtype
    return o.numpy(), t.numpy()


def _moments(a):
    return {"re_mean": a.real.mean(), "im_mean": a.imag.mean(), "re_std": a.real.std(), "im_std": a.imag.std()}


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("fn,args", [("normal_", (1.0, 2.0)), ("uniform_", (-1.0, 3.0)), ("xavier_normal_", ()),
                                     ("xavier_uniform_", ()), ("kaiming_normal_", ()), ("kaiming_uniform_", ())])
def test_complex_fill_has_torchs_per_part_distribution(fn, args, dtype):
    ours, theirs = _both(fn, *args, dtype=dtype)
    assert np.abs(ours.imag).max() > 0  # the imaginary part is drawn, not left at 0
    mo, mt = _moments(ours), _moments(theirs)
    scale = max(mt["re_std"], mt["im_std"])
    for k in ("re_mean", "im_mean"):  # 6 standard errors of a mean
        assert abs(mo[k] - mt[k]) < 6 * 2 * scale / math.sqrt(N), (k, mo, mt)
    for k in ("re_std", "im_std"):  # a std's standard error is about std / sqrt(2N)
        assert abs(mo[k] - mt[k]) < 6 * 2 * scale / math.sqrt(2 * N), (k, mo, mt)
    if fn.endswith("uniform_"):  # the same support, part by part
        for part in ("real", "imag"):
            o, t = getattr(ours, part), getattr(theirs, part)
            width = t.max() - t.min()
            assert abs(o.min() - t.min()) < 1e-3 * width and abs(o.max() - t.max()) < 1e-3 * width


def test_sparse_zeroes_whole_complex_entries_and_draws_parts_with_std_over_sqrt2():
    ours, theirs = _both("sparse_", 0.5)
    assert (ours == 0).mean() == (theirs == 0).mean() == 0.5
    assert ((ours.real == 0) == (ours.imag == 0)).all()
    nz_o, nz_t = ours[ours != 0], theirs[theirs != 0]
    assert abs(nz_o.real.std() - nz_t.real.std()) < 6 * 2 * 0.01 / math.sqrt(N)


@pytest.mark.parametrize("fn", ["trunc_normal_", "orthogonal_"])
@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_inits_that_refuse_complex(fn, dtype):
    with pytest.raises(NotImplementedError) as te:
        getattr(torch.nn.init, fn)(torch.zeros(4, 3, dtype=getattr(torch, dtype)))
    with pytest.raises(NotImplementedError) as oe:
        getattr(nn.init, fn)(engine.zeros((4, 3), dtype=getattr(engine, dtype)))
    assert str(oe.value) == str(te.value)
