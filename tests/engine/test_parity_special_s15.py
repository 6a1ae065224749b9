"""torch.special against torch on wide grids (s15): polygamma of every order and its gradient, the
Hurwitz zeta, mvlgamma without a domain check, the Cephes family (i0/i0e/i1/i1e, ndtri, log_ndtr,
erfcx, Bessel J/Y/I/K, spherical j0, airy_ai), the orthogonal polynomials, and the out-of-domain
gradients of entr, logit and digamma.

float64 values are compared to 1e-12 relative (where torch's own float64 is that accurate: near a
function's zeros, where both results are rounding noise, the comparison is absolute at the scale of
the terms), float32 at float32's tolerance, gradients in float64 against torch's autograd.
"""

import numpy as np
import pytest

import engine

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


def _wide():
    """Values over many decades, both signs, the branch points of the approximations and the IEEE edges."""
    return np.concatenate([np.linspace(-30, 30, 1201), np.geomspace(1e-300, 1e300, 121),
                           -np.geomspace(1e-300, 1e300, 121), np.linspace(-1, 1, 201),
                           [0.0, -0.0, np.inf, -np.inf, np.nan, 1, -1, 2, -2, 5, -5, 8, -8, 50, -6.1, -26.7, 103.892,
                            2.09, -2.09, 8.3203353]])


def _unit():
    return np.concatenate([np.linspace(0, 1, 2001), np.geomspace(1e-300, 0.5, 200), 1 - np.geomspace(1e-16, 0.5, 60),
                           [-0.1, 1.1, np.nan, np.inf, -np.inf]])


def _close(ours, ref, rtol, atol=0.0):
    """Equal NaN/inf pattern, and |ours − ref| ≤ atol + rtol·|ref| elsewhere."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape
    same = (ours == ref) | (np.isnan(ours) & np.isnan(ref))
    bad_special = ~np.isfinite(ref) & ~same
    assert not bad_special.any(), (ours[bad_special][:5], ref[bad_special][:5])
    fin = np.isfinite(ref)
    err = np.abs(ours[fin] - ref[fin])
    tol = atol + rtol * np.abs(ref[fin])
    worst = np.argmax(err - tol) if err.size else 0
    assert (err <= tol).all(), f"worst {ours[fin][worst]!r} vs torch {ref[fin][worst]!r}"


FLOAT64, FLOAT32 = (np.float64, torch.float64, 1e-12), (np.float32, torch.float32, 1.3e-6)
UNARY = ["i0e", "i1", "i1e", "ndtri", "log_ndtr", "erfcx", "modified_bessel_i0", "modified_bessel_i1",
         "modified_bessel_k0", "modified_bessel_k1", "scaled_modified_bessel_k0", "scaled_modified_bessel_k1",
         "spherical_bessel_j0", "airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1"]
# J and Y oscillate: near their zeros both float64 results are the rounding of O(1) terms, so the
# comparison there is absolute at 1e-15 of the terms (float32: 1e-6; torch's own float32 Y₀ is 6e-6 from
# the exact value at x = 30, and ours as far, in float32 arithmetic both)
OSCILLATING = {"bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "airy_ai", "spherical_bessel_j0"}


@pytest.mark.parametrize("dtype", [FLOAT64, FLOAT32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", UNARY)
def test_unary_special_functions_match_torch_on_wide_grids(name, dtype):
    np_dtype, torch_dtype, rtol = dtype
    x = (_unit() if name == "ndtri" else _wide()).astype(np_dtype)
    ours = getattr(engine.special, name)(engine.tensor(x))
    ref = getattr(torch.special, name)(torch.tensor(x)).numpy()
    assert ours.dtype == np_dtype and not ours.requires_grad
    atol = (1e-15 if np_dtype == np.float64 else 1e-6) if name in OSCILLATING else 0.0
    if np_dtype == np.float32:
        atol = max(atol, 1e-37)  # float32's subnormal tail (log_ndtr far right) rounds differently
    _close(ours.numpy(), ref, rtol, atol)


def test_i0_everywhere_torch_has_it():
    x = _wide()
    want = torch.i0(torch.tensor(x)).numpy()
    _close(engine.i0(engine.tensor(x)).numpy(), want, 1e-12)
    _close(engine.special.i0(engine.tensor(x)).numpy(), want, 1e-12)
    t = engine.tensor(x)
    _close(t.i0().numpy(), want, 1e-12)
    t.i0_()
    _close(t.numpy(), want, 1e-12)
    assert engine.i0(engine.tensor([1, 2])).dtype == np.float32  # integers promote, as torch
    out = engine.empty(3, dtype=engine.float64)
    engine.special.i0(engine.tensor([0.0, 1.0, 2.0], dtype=engine.float64), out=out)
    _close(out.numpy(), torch.special.i0(torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)).numpy(), 1e-12)


@pytest.mark.parametrize("name", UNARY)
def test_half_support_as_torch(name):
    h = np.array([0.5], dtype=np.float16)
    try:
        want = getattr(torch.special, name)(torch.tensor(h))
    except NotImplementedError as e:
        with pytest.raises(NotImplementedError, match=str(e).split(" not")[0].replace('"', '.')):
            getattr(engine.special, name)(engine.tensor(h))
    else:
        got = getattr(engine.special, name)(engine.tensor(h))
        assert got.dtype == np.float16
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-3)


@pytest.mark.parametrize("name", ["i0", "i0e", "i1", "i1e", "ndtri", "log_ndtr", "erfcx"])
def test_gradients_of_the_differentiable_ones_match_torch(name):
    x = _unit()[1:-5:7] if name == "ndtri" else np.concatenate([np.linspace(-12, 12, 481), [0.0, 1e-20, -1e-20]])
    ours_x = engine.tensor(x, requires_grad=True)
    fn = engine.i0 if name == "i0" else getattr(engine.special, name)
    fn(ours_x).sum().backward()
    t = torch.tensor(x, requires_grad=True)
    getattr(torch.special, name)(t).sum().backward()
    _close(ours_x.grad.numpy(), t.grad.numpy(), 1e-11)


def test_gradients_pass_gradcheck():
    for fn in (engine.i0, engine.special.i0e, engine.special.i1, engine.special.i1e, engine.special.log_ndtr,
               engine.special.erfcx):
        assert engine.gradcheck(fn, engine.tensor([-3.0, -0.4, 0.7, 9.5], dtype=engine.float64, requires_grad=True))
    assert engine.gradcheck(engine.special.ndtri,
                            engine.tensor([0.01, 0.3, 0.9], dtype=engine.float64, requires_grad=True))


# ---- polygamma, zeta, mvlgamma --------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(0, 9))
@pytest.mark.parametrize("dtype", [FLOAT64, FLOAT32], ids=["float64", "float32"])
def test_polygamma_every_order_matches_torch(n, dtype):
    np_dtype, torch_dtype, rtol = dtype
    x = _wide()
    x = x[np.abs(x) < 1e6].astype(np_dtype)
    ours = engine.polygamma(n, engine.tensor(x)).numpy()
    ref = torch.polygamma(n, torch.tensor(x)).numpy()
    # near a root of ψ⁽ⁿ⁾ (negative x) both values are the rounding of the reflection's O(1) terms:
    # there the comparison is absolute, 1e-14 of them in float64 and 1e-6 in float32
    _close(ours, ref, rtol, 1e-14 if np_dtype == np.float64 else 1e-6)
    assert engine.special.polygamma(n, engine.tensor(x)).dtype == np_dtype
    assert engine.tensor(x).polygamma(n).dtype == np_dtype


def test_polygamma_gradient_is_the_next_order():
    x = np.concatenate([np.linspace(-4.9, 6, 110) + 0.013, [1e-3, 30.0]])
    for n in range(0, 5):
        ours_x = engine.tensor(x, requires_grad=True)
        engine.polygamma(n, ours_x).sum().backward()
        t = torch.tensor(x, requires_grad=True)
        torch.polygamma(n, t).sum().backward()
        _close(ours_x.grad.numpy(), t.grad.numpy(), 1e-12, 1e-14)
    assert engine.gradcheck(lambda v: engine.polygamma(2, v),
                            engine.tensor([0.3, 1.7, 4.0], dtype=engine.float64, requires_grad=True))


def test_polygamma_in_place_errors_and_integers():
    t = engine.tensor([1.0, 2.5], dtype=engine.float64)
    t.polygamma_(3)
    _close(t.numpy(), torch.polygamma(3, torch.tensor([1.0, 2.5], dtype=torch.float64)).numpy(), 1e-13)
    assert engine.polygamma(2, engine.tensor([1, 2])).dtype == torch.polygamma(2, torch.tensor([1, 2])).numpy().dtype
    with pytest.raises(RuntimeError, match="does not support negative n"):
        engine.polygamma(-1, engine.tensor([1.0]))
    with pytest.raises(TypeError, match="must be int"):
        engine.special.polygamma(2.5, engine.tensor([1.0]))


@pytest.mark.parametrize("dtype", [FLOAT64, FLOAT32], ids=["float64", "float32"])
def test_zeta_matches_torch_on_a_grid(dtype):
    np_dtype, torch_dtype, rtol = dtype
    qs = np.concatenate([np.linspace(-10, 10, 201), np.geomspace(1e-5, 1e6, 50),
                         [0, -1, -2.5, np.inf, -np.inf, np.nan]])
    xs = np.concatenate([np.linspace(0.5, 12, 24), [1, 1 + 1e-10, 2, 3, 20, 50, 100, np.inf, np.nan, 0.9]])
    x, q = (a.astype(np_dtype) for a in np.meshgrid(xs, qs))
    ours = engine.special.zeta(engine.tensor(x), engine.tensor(q)).numpy()
    ref = torch.special.zeta(torch.tensor(x), torch.tensor(q)).numpy()
    # q < 0: alternating-sign terms cancel (ζ(5, −9.5) is 1e-5 from terms of 1e-2): 1e-14 of the terms
    _close(ours, ref, rtol, 1e-14 if np_dtype == np.float64 else 0.0)


def test_zeta_scalars_dtypes_and_gradient():
    assert engine.special.zeta(2.0, engine.tensor([1.0])).dtype == np.float32
    assert engine.special.zeta(engine.tensor([2]), engine.tensor([1])).dtype == np.float32
    assert engine.special.zeta(engine.tensor([2]), engine.tensor([1.0], dtype=engine.float64)).dtype == np.float64
    _close(engine.special.zeta(engine.tensor([[2.0], [3.0]], dtype=engine.float64), 1.5).numpy(),
           torch.special.zeta(torch.tensor([[2.0], [3.0]], dtype=torch.float64), 1.5).numpy(), 1e-14)
    with pytest.raises(TypeError):
        engine.special.zeta(2.0, 1.0)
    q = np.array([0.3, 1.5, 2.5, 7.0])
    ours_q = engine.tensor(q, requires_grad=True)
    engine.special.zeta(engine.tensor([[2.0], [3.5]], dtype=engine.float64), ours_q).sum().backward()
    t = torch.tensor(q, requires_grad=True)
    torch.special.zeta(torch.tensor([[2.0], [3.5]], dtype=torch.float64), t).sum().backward()
    _close(ours_q.grad.numpy(), t.grad.numpy(), 1e-13)
    ours_x = engine.tensor([2.0], dtype=engine.float64, requires_grad=True)
    with pytest.raises(NotImplementedError, match="the derivative for 'zeta' is not implemented"):
        engine.special.zeta(ours_x, engine.tensor([1.5], dtype=engine.float64)).sum().backward()


def test_mvlgamma_has_no_domain_check_and_a_gradient():
    x = np.array([-1.5, -0.3, 0.7, 2.2, 6.0])
    for p in (1, 2, 3, 5):
        ours_x = engine.tensor(x, requires_grad=True)
        out = engine.mvlgamma(ours_x, p=p)
        out.sum().backward()
        t = torch.tensor(x, requires_grad=True)
        want = torch.mvlgamma(t, p=p)
        want.sum().backward()
        _close(out.detach().numpy(), want.detach().numpy(), 1e-12)
        _close(ours_x.grad.numpy(), t.grad.numpy(), 1e-12)
    assert f"{engine.mvlgamma(engine.tensor([-1.5]), p=1).item():.4f}" == "0.8600"
    with pytest.raises(RuntimeError, match="p has to be greater than or equal to 1"):
        engine.mvlgamma(engine.tensor([1.0]), p=0)


# ---- orthogonal polynomials ---------------------------------------------------------------------------

POLYNOMIALS = ["chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v",
               "chebyshev_polynomial_w", "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u",
               "shifted_chebyshev_polynomial_v", "shifted_chebyshev_polynomial_w", "hermite_polynomial_h",
               "hermite_polynomial_he", "laguerre_polynomial_l", "legendre_polynomial_p"]


@pytest.mark.parametrize("name", POLYNOMIALS)
def test_polynomials_match_torch_float64(name):
    xs = np.concatenate([np.linspace(-3, 3, 121), [0, 1, -1, 0.5, 2, -2, np.inf, -np.inf, 1 - 1e-16, -1 + 1e-16,
                                                    1e-300, 10, -10]])
    ns = np.concatenate([np.arange(-2, 30), [50, 100, 127, 128, 129, 511, 512, 513, 2.7, -0.5, np.nan, np.inf]])
    x, n = np.meshgrid(xs, ns)
    ours = getattr(engine.special, name)(engine.tensor(x), engine.tensor(n)).numpy()
    ref = getattr(torch.special, name)(torch.tensor(x), torch.tensor(n)).numpy()
    # the recurrences cancel (a value near a root from O(1)·growth terms): compare at 1e-12 relative of the
    # value plus 1e-12 of the largest term seen for that order, i.e. of max(1, |value|) along x
    scale = np.maximum(1.0, np.nanmax(np.where(np.isfinite(ref), np.abs(ref), 0), axis=1, keepdims=True))
    fin = np.isfinite(ref)
    assert ((ours == ref) | (np.isnan(ours) & np.isnan(ref)))[~fin].all()
    err = np.abs(ours - ref)[fin]
    assert (err <= 1e-12 * np.abs(ref[fin]) + 1e-10 * np.broadcast_to(scale, ref.shape)[fin]).all()


@pytest.mark.parametrize("name", POLYNOMIALS)
def test_polynomials_scalars_dtypes_and_no_gradient(name):
    fn, tfn = getattr(engine.special, name), getattr(torch.special, name)
    x = engine.tensor([0.25, -0.6], requires_grad=True)
    out = fn(x, 3)
    assert out.dtype == np.float32 and not out.requires_grad
    _close(out.numpy(), tfn(torch.tensor([0.25, -0.6]), 3).numpy(), 1.3e-6)
    assert fn(0.5, engine.tensor([2, 3])).dtype == np.float32
    assert fn(engine.tensor([1, 2]), engine.tensor([2, 3])).dtype == np.float32
    assert fn(engine.tensor([0.5], dtype=engine.float64), 2).dtype == np.float64
    _close(fn(engine.tensor([0.3]), engine.tensor([[1.0], [2.0], [4.0]])).numpy(),
           tfn(torch.tensor([0.3]), torch.tensor([[1.0], [2.0], [4.0]])).numpy(), 1.3e-6)
    with pytest.raises(TypeError):
        fn(0.5, 2)
    with pytest.raises(NotImplementedError, match=f'"{name}_cpu" not implemented for \'Half\''):
        fn(engine.tensor([0.5], dtype=engine.float16), 2)


# ---- out-of-domain gradients ------------------------------------------------------------------------------


def _grad_pair(efn, tfn, x):
    ours_x = engine.tensor(x, requires_grad=True)
    efn(ours_x).sum().backward()
    t = torch.tensor(x, requires_grad=True)
    tfn(t).sum().backward()
    return ours_x.grad.numpy(), t.grad.numpy()


def test_entr_logit_digamma_gradients_out_of_domain_as_torch():
    x = np.array([-2.0, -0.5, 0.0, 0.3, 1.0, 1.5, np.nan, np.inf])
    _close(*_grad_pair(engine.special.entr, torch.special.entr, x), 1e-15)
    _close(*_grad_pair(lambda v: v.logit(), lambda v: v.logit(), x), 1e-15)
    _close(*_grad_pair(lambda v: v.logit(0.1), lambda v: v.logit(0.1), x), 1e-15)
    _close(*_grad_pair(engine.special.logit, torch.special.logit, np.linspace(-0.5, 1.5, 81)), 1e-15)
    _close(*_grad_pair(engine.digamma, torch.digamma, np.array([-1e20, -1e10 - 0.5, -3.0, -2.5, 0.0, 1e-300, 7.0])),
           1e-12)
    _close(*_grad_pair(engine.lgamma, torch.lgamma, np.array([-1e20, -2.5, 1e-300, 7.0, 1e300])), 1e-12)


def test_digamma_matches_torch_on_a_wide_grid():
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 1.3e-6)):
        x = _wide().astype(dtype)
        ours = engine.digamma(engine.tensor(x)).numpy()
        ref = torch.digamma(torch.tensor(x)).numpy()
        _close(ours, ref, rtol, 1e-14 if dtype == np.float64 else 1e-6)  # absolute near ψ's negative roots


def test_xlogy_of_two_numbers_is_a_type_error_as_torch():
    with pytest.raises(TypeError):
        torch.xlogy(2, 3)
    with pytest.raises(TypeError, match="invalid combination of arguments"):
        engine.xlogy(2, 3)


def test_i1_gradient_at_nan_is_a_half_as_torch():
    x = np.array([np.nan, 0.0, 1.0])
    for name in ("i1", "i1e"):
        _close(*_grad_pair(getattr(engine.special, name), getattr(torch.special, name), x), 1e-14)
