"""Specs for engine.fft's op (``FFT``): irfft of a real input runs it real in, real out (a cast to complex,
the resize by ``n``, c2r), so the property tests' real gradchecks cover its backward. Complex outputs are
checked against torch in test_parity_fft_s16.py."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from op_specs import SEEDS, Case, Spec, fill, shapes

import engine

SPECS: dict[str, Spec] = {}
DERIVED: dict[str, Spec] = {}


@st.composite
def irfft_case(draw):
    shape = draw(shapes(min_dims=1, max_dims=3, min_side=2))
    rng = np.random.default_rng(draw(SEEDS))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return Case((fill(rng, shape),), {"dim": dim, "n": draw(st.one_of(st.none(), st.integers(1, 8))),
                                      "norm": draw(st.sampled_from([None, "backward", "ortho", "forward"]))})


SPECS["FFT"] = Spec(
    irfft_case(), lambda a, dim, n, norm: engine.fft.irfft(a, n=n, dim=dim, norm=norm),
    lambda a, dim, n, norm: np.fft.irfft(a, n=n, axis=dim, norm=norm),
    torch=lambda T, a, dim, n, norm: T.fft.irfft(a, n=n, dim=dim, norm=norm), half=False,
)
