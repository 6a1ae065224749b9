"""Specs of the complex ops (engine/ops/complex.py). The property tests draw real arrays, so each spec
makes complex values from real inputs (engine.complex, view_as_complex) and ends in real values
(view_as_real, abs, angle, real, imag): gradcheck then checks the complex backwards end to end."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from op_specs import SEEDS, Case, Spec, broadcast_shapes, fill, shapes

import engine

COMPLEX = dict(half=False)  # no complex32


@st.composite
def pair(draw, a_domain="real", b_domain="real"):
    sa, sb = draw(broadcast_shapes()).input_shapes
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, sa, a_domain), fill(rng, sb, b_domain)), {})


@st.composite
def last_two(draw):
    """One array whose last dim is 2 (real, imag pairs), away from 0."""
    shape = draw(shapes(0, 3)) + (2,)
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, shape, "nonzero"),), {})


@st.composite
def eig_case(draw):
    """(batch..., n, n) = P diag(d) P⁻¹ with d 1 apart (distinct eigenvalues, gradients well conditioned)
    and P near the identity."""
    batch = draw(shapes(0, 2, max_side=3))
    n = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(SEEDS))
    p = np.eye(n) + 0.3 * rng.uniform(-1, 1, batch + (n, n))
    d = (np.arange(n) + 1.0) * rng.choice([-1.0, 1.0]) + rng.uniform(-0.2, 0.2, batch + (n,))
    return Case((p @ (d[..., :, None] * np.linalg.inv(p)),), {})


@st.composite
def complex_square(draw):
    """Real and imaginary parts of (batch..., n, n) complex matrices, kept away from singular (3I added)."""
    batch = draw(shapes(0, 2, max_side=3))
    n = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(SEEDS))
    return Case((rng.uniform(-1, 1, batch + (n, n)) + 3 * np.eye(n), rng.uniform(-1, 1, batch + (n, n))), {})


def _eig_ref(a):
    w, v = np.linalg.eig(a)
    return np.abs(v).sum((-2, -1)) + np.abs(w).sum(-1)


def _z(a, b):
    return a + 1j * b


def _as_real(z):
    return np.stack([z.real, z.imag], axis=-1)


SPECS: dict[str, Spec] = {
    "Complex": Spec(pair(), lambda a, b: engine.view_as_real(engine.complex(a, b) * engine.complex(b, a)),
                    lambda a, b: _as_real(_z(a, b) * _z(b, a)),
                    torch=lambda T, a, b: T.view_as_real(T.complex(a, b) * T.complex(b, a)), **COMPLEX),
    "ViewAsReal": Spec(pair(), lambda a, b: engine.view_as_real(engine.complex(a, b).exp()),
                       lambda a, b: _as_real(np.exp(_z(a, b))),
                       torch=lambda T, a, b: T.view_as_real(T.complex(a, b).exp()), **COMPLEX),
    "ViewAsComplex": Spec(last_two(), lambda x: engine.view_as_complex(x).reciprocal().abs(),
                          lambda x: np.abs(1 / _z(x[..., 0], x[..., 1])),
                          torch=lambda T, x: T.view_as_complex(x).reciprocal().abs(), **COMPLEX),
    "Real": Spec(pair(), lambda a, b: (engine.complex(a, b) * engine.complex(b, a)).real,
                 lambda a, b: (_z(a, b) * _z(b, a)).real,
                 torch=lambda T, a, b: (T.complex(a, b) * T.complex(b, a)).real, **COMPLEX),
    "Imag": Spec(pair(), lambda a, b: (engine.complex(a, b) * engine.complex(b, a)).imag,
                 lambda a, b: (_z(a, b) * _z(b, a)).imag,
                 torch=lambda T, a, b: (T.complex(a, b) * T.complex(b, a)).imag, **COMPLEX),
    "Conj": Spec(pair(), lambda a, b: engine.view_as_real(engine.complex(a, b).conj() * engine.complex(b, a)),
                 lambda a, b: _as_real(np.conj(_z(a, b)) * _z(b, a)),
                 torch=lambda T, a, b: T.view_as_real((T.complex(a, b).conj() * T.complex(b, a)).resolve_conj()),
                 **COMPLEX),
    "Angle": Spec(pair("real", "nonzero"), lambda a, b: engine.complex(a, b).angle(), lambda a, b: np.angle(_z(a, b)),
                  torch=lambda T, a, b: T.complex(a, b).angle(), **COMPLEX),
    "Sgn": Spec(pair("nonzero", "nonzero"), lambda a, b: engine.view_as_real(engine.complex(a, b).sgn()),
                lambda a, b: _as_real(_z(a, b) / np.abs(_z(a, b))),
                torch=lambda T, a, b: T.view_as_real(T.complex(a, b).sgn()), **COMPLEX),
    "Polar": Spec(pair("positive", "real"), lambda a, b: engine.view_as_real(engine.polar(a, b)),
                  lambda a, b: _as_real(a * np.exp(1j * b)),
                  torch=lambda T, a, b: T.view_as_real(T.polar(a, b)), **COMPLEX),
}
SPECS["EigPacked"] = Spec(
    eig_case(), lambda a: engine.linalg.eig(a)[1].abs().sum((-2, -1)) + engine.linalg.eigvals(a).abs().sum(-1),
    _eig_ref, torch=lambda T, a: T.linalg.eig(a)[1].abs().sum((-2, -1)) + T.linalg.eigvals(a).abs().sum(-1),
    **COMPLEX)
SPECS["SlogdetSign"] = Spec(
    complex_square(), lambda a, b: engine.view_as_real(engine.linalg.slogdet(engine.complex(a, b)).sign),
    lambda a, b: _as_real(np.linalg.slogdet(_z(a, b))[0]),
    torch=lambda T, a, b: T.view_as_real(T.linalg.slogdet(T.complex(a, b)).sign), **COMPLEX)
DERIVED: dict[str, Spec] = {}
