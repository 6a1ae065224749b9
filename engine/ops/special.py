"""Special functions with reference backwards: lgamma (gradient digamma) and digamma (gradient
trigamma), for real input. Lanczos (g = 7, 9 terms) for lgamma; digamma and trigamma shift x up
to >= 10 by their recurrences and sum the asymptotic series there; x < 0.5 uses the reflection
formulas. Accurate to about 1e-13 relative in float64.

The gamma draw (``StandardGamma``, torch's ``_standard_gamma``) samples by inverting the regularized
incomplete gamma P(α, x) at a uniform u, and differentiates x with respect to α at fixed u (the
implicit reparameterization gradient of Gamma, Beta, Dirichlet and StudentT ``rsample``).
"""

from __future__ import annotations

import math

import numpy as np

from engine.backend import device_of
from engine.function import Function
from engine.ops.elementwise import sum_to
from engine.rng import generator

_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
            1.5056327351493116e-7)


def _lgamma(xp, x):
    """log|Γ(x)| of a float array (inf at the poles 0, -1, -2, ...)."""
    x = xp.asarray(x, dtype=np.float64)
    refl = x < 0.5
    z = xp.where(refl, 1 - x, x) - 1  # Lanczos on z + 1 >= 0.5
    a = xp.full_like(z, _LANCZOS[0])
    for i, c in enumerate(_LANCZOS[1:], start=1):
        a = a + c / (z + i)
    t = z + 7.5
    with np.errstate(invalid="ignore", divide="ignore"):  # inf/nan inputs give nan here, fixed below
            big = 0.5 * math.log(2 * math.pi) + (z + 0.5) * xp.log(t) - t + xp.log(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = xp.abs(xp.sin(math.pi * x))
        small = math.log(math.pi) - xp.log(s) - big
    out = xp.where(refl, small, big)
    out = xp.where((x == 1) | (x == 2), 0.0, out)  # Γ(1) = Γ(2) = 1 exactly (the series is 1e-15 off)
    pole = (x <= 0) & (x == xp.floor(x))
    return xp.where(pole, xp.inf, xp.where(xp.isinf(x), xp.inf, out))


def _shifted(xp, x, term):
    """Sum of term(x + k) for k = 0.. while x + k < 10, and the shifted x (>= 10)."""
    acc = xp.zeros_like(x)
    y = x.copy()
    for _ in range(12):
        low = y < 10
        if not low.any():
            break
        acc = acc + xp.where(low, term(xp.where(low, y, 1.0)), 0.0)
        y = xp.where(low, y + 1, y)
    return acc, y


def _digamma(xp, x):
    """ψ(x) = d/dx log Γ(x) of a float array (nan at the poles, as torch gives -inf at 0 only)."""
    x = xp.asarray(x, dtype=np.float64)
    refl = x < 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        cot = xp.where(refl, math.pi / xp.tan(math.pi * x), 0.0)
    z = xp.where(refl, 1 - x, x)
    acc, y = _shifted(xp, z, lambda v: -1 / v)
    y2 = 1 / (y * y)
    series = xp.log(y) - 0.5 / y - y2 * (1 / 12 - y2 * (1 / 120 - y2 * (1 / 252 - y2 * (1 / 240 - y2 / 132))))
    out = acc + series
    out = xp.where(refl, out - cot, out)
    pole = (x <= 0) & (x == xp.floor(x))
    out = xp.where(pole, xp.where(x == 0, -xp.copysign(xp.inf, x), xp.nan), out)  # torch: ∓inf at ±0, nan at -1, ...
    return xp.where(xp.isposinf(x), xp.inf, out)


def _trigamma(xp, x):
    """ψ'(x) of a float array."""
    x = xp.asarray(x, dtype=np.float64)
    refl = x < 0.5
    z = xp.where(refl, 1 - x, x)
    acc, y = _shifted(xp, z, lambda v: 1 / (v * v))
    y2 = 1 / (y * y)
    series = 1 / y + 0.5 * y2 + (1 / y) * y2 * (1 / 6 - y2 * (1 / 30 - y2 * (1 / 42 - y2 * (1 / 30 - y2 * 5 / 66))))
    out = acc + series
    with np.errstate(divide="ignore", invalid="ignore"):
        s = xp.sin(math.pi * x)
        out = xp.where(refl, math.pi**2 / (s * s) - out, out)
    pole = (x <= 0) & (x == xp.floor(x))
    return xp.where(pole, xp.inf, out)


class Lgamma(Function):
    """log|Γ(a)|; backward g·ψ(a)."""

    def forward(self, a):
        self.save_for_backward(a)
        return _lgamma(self.xp, a).astype(a.dtype, copy=False)

    def backward(self, g):
        (a,) = self.saved
        return g * _digamma(self.xp, a).astype(a.dtype, copy=False)


class Digamma(Function):
    """ψ(a) = d/da log Γ(a); backward g·ψ'(a)."""

    def forward(self, a):
        self.save_for_backward(a)
        return _digamma(self.xp, a).astype(a.dtype, copy=False)

    def backward(self, g):
        (a,) = self.saved
        return g * _trigamma(self.xp, a).astype(a.dtype, copy=False)


class Trigamma(Function):
    """ψ'(a) (polygamma(1, a)); no gradient here (polygamma of order 2 is not implemented)."""

    differentiable = False

    def forward(self, a):
        return _trigamma(self.xp, a).astype(a.dtype, copy=False)


# ---- the gamma draw: P(a, x), its inverse, and the implicit reparameterization gradient ------------


def _gammainc(xp, a, x, upper: bool = False):
    """The regularized lower incomplete gamma P(a, x) of float64 arrays (a > 0, x ≥ 0), or the upper
    Q(a, x) = 1 − P(a, x) with ``upper``: the series of P below x = a + 1, the continued fraction
    of Q above (Numerical Recipes' gser and gcf, each summed only over the entries still converging),
    so the smaller of the two is never 1 minus the other. Edges as torch's igamma/igammac: NaN for
    a < 0 or x < 0, P(0, x > 0) = 1, P(a, 0) = 0, P(inf, x) = 0, P(a, inf) = 1, NaN at (0, 0) and (inf, inf)."""
    shape = np.broadcast_shapes(np.shape(a), np.shape(x))
    a, x = (xp.broadcast_to(xp.asarray(v, dtype=np.float64), shape).ravel() for v in (a, x))
    lower = xp.zeros_like(x)  # P where the series runs, Q where the fraction does
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        front = xp.exp(_log_power_front(xp, a, x))  # xᵃ e⁻ˣ / Γ(a)
        inside = (a > 0) & (x > 0) & xp.isfinite(a) & xp.isfinite(x)
        series = xp.flatnonzero(inside & (x < a + 1))
        lower[series] = front[series] * _gamma_series(xp, a[series], x[series])
        frac = xp.flatnonzero(inside & (x >= a + 1))
        lower[frac] = front[frac] * _gamma_fraction(xp, a[frac], x[frac])
    use_series = xp.zeros(x.shape, dtype=bool)
    use_series[series] = True
    out = xp.where(use_series == upper, 1 - lower, lower)
    one, zero = (0.0, 1.0) if upper else (1.0, 0.0)  # P's values, swapped for Q
    out = xp.where((x == 0) | (xp.isposinf(a) & xp.isfinite(x)), zero, out)
    out = xp.where(xp.isposinf(x) & xp.isfinite(a), one, out)
    out = xp.where((a == 0) & (x > 0), one, out)
    bad = (a < 0) | (x < 0) | ((a == 0) & (x == 0)) | (xp.isposinf(a) & xp.isposinf(x)) | xp.isnan(a) | xp.isnan(x)
    return xp.where(bad, xp.nan, out).reshape(shape)


def _log_power_front(xp, a, x):
    """log(xᵃ e⁻ˣ / Γ(a)) of float64 arrays. For a ≥ 10 it is a·(log1p(t) − t) + ½ log(a/2π) − c(a),
    t = (x − a)/a and c Stirling's correction of lgamma: the terms a·log x and lgamma(a) (each about
    a·log a) would otherwise cancel and leave their rounding, 1e-9 relative at a = 10⁶."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        direct = a * xp.log(x) - x - _lgamma(xp, a)
        big = xp.where(a >= 10, a, 10.0)
        t = (x - big) / big
        r2 = 1 / (big * big)
        stirling = (1 / big) * (1 / 12 - r2 * (1 / 360 - r2 * (1 / 1260 - r2 * (1 / 1680 - r2 / 1188))))
        large = big * (xp.log1p(t) - t) + 0.5 * xp.log(big / (2 * math.pi)) - stirling
    return xp.where((a >= 10) & xp.isfinite(a), large, direct)


def _gamma_series(xp, a, x):
    """Σₙ xⁿ / (a (a+1) ... (a+n)), the entries that have converged dropped from the loop."""
    term = 1 / a
    total = term.copy()
    live = xp.arange(a.size)
    for n in range(1, 100000):  # about √(74a) terms near x ≈ a
        term = term * x[live] / (a[live] + n)
        total[live] += term
        going = xp.abs(term) > xp.abs(total[live]) * 1e-16
        live, term = live[going], term[going]
        if live.size == 0:
            break
    return total


def _gamma_fraction(xp, a, x):
    """The continued fraction of Q(a, x)·Γ(a)/(xᵃ e⁻ˣ) (modified Lentz), converged entries dropped."""
    tiny = 1e-300
    b = x + 1 - a
    c = xp.full_like(b, 1 / tiny)
    d = 1 / b
    h = d.copy()
    live = xp.arange(a.size)
    for i in range(1, 100000):
        an = -i * (i - a[live])
        b = b + 2
        d = an * d + b
        d = xp.where(xp.abs(d) < tiny, tiny, d)
        c = b + an / c
        c = xp.where(xp.abs(c) < tiny, tiny, c)
        d = 1 / d
        delta = d * c
        h[live] *= delta
        going = xp.abs(delta - 1) > 2e-16
        live, b, c, d = live[going], b[going], c[going], d[going]
        if live.size == 0:
            break
    return h


def _gammaincinv(xp, a, u):
    """x with P(a, x) = u (0 ≤ u < 1), by Halley steps from Numerical Recipes' invgammp start,
    each step only for the entries still moving."""
    shape = np.broadcast_shapes(np.shape(a), np.shape(u))
    a, u = (xp.broadcast_to(xp.asarray(v, dtype=np.float64), shape).ravel() for v in (a, u))
    gln = _lgamma(xp, a)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        pp = xp.where(u < 0.5, u, 1 - u)
        t = xp.sqrt(-2 * xp.log(xp.maximum(pp, 1e-300)))
        z = (2.30753 + t * 0.27061) / (1 + t * (0.99229 + t * 0.04481)) - t
        z = xp.where(u < 0.5, -z, z)
        big = xp.maximum(1e-3, a * (1 - 1 / (9 * a) - z / (3 * xp.sqrt(a))) ** 3)
        s = 1 - a * (0.253 + a * 0.12)
        small = xp.where(u < s, (u / s) ** (1 / a), 1 - xp.log1p(-(u - s) / (1 - s)))
        x = xp.where(a > 1, big, small)
        live = xp.flatnonzero((u > 0) & (x > 0))
        for _ in range(100):
            al, xl = a[live], x[live]
            err = _gammainc(xp, al, xl) - u[live]
            dens = xp.exp((al - 1) * xp.log(xl) - xl - gln[live])  # the density at xl
            step = err / dens
            step = step / (1 - 0.5 * xp.minimum(1.0, step * ((al - 1) / xl - 1)))  # Halley's correction
            step = xp.where((dens > 0) & xp.isfinite(step), step, 0.0)
            new = xl - step
            x[live] = xp.where(new <= 0, 0.5 * xl, new)  # halve instead of crossing 0
            live = live[xp.abs(step) > 1e-14 * xl]
            if live.size == 0:
                break
    return xp.where(u <= 0, 0.0, x).reshape(shape)


_GAMMA_GRAD_UV = np.array([
    [0.16009398, -0.094634809, 0.025146376, -0.0030648343, 1, 0.32668115, 0.10406089, 0.0014179084],
    [0.53487893, 0.1298071, 0.065735949, -0.0015649758, 0.16639465, 0.020070113, -0.0035938915, -0.00058392623],
    [0.040121004, -0.0065914022, -0.0026286047, -0.0013441777, 0.017050642, -0.0021309326, 0.00085092367,
     -1.5247877e-07]])


def _standard_gamma_grad(xp, alpha, x):
    """∂x/∂α of a Gamma(α, 1) draw x at fixed P(α, x) (implicit reparameterization), by ATen's
    ``standard_gamma_grad_one``: a Taylor series for x < 0.8, Rice's saddle-point expansion for
    α > 8, a bivariate rational approximation otherwise."""
    alpha, x = xp.broadcast_arrays(xp.asarray(alpha, dtype=np.float64), xp.asarray(x, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        # Taylor series in x of P(α, x) and of its α-derivative
        numer, denom = xp.ones_like(x), alpha.copy()
        series1, series2 = numer / denom, numer / (denom * denom)
        for i in range(1, 6):
            numer = numer * (-x / i)
            denom = denom + 1
            series1 = series1 + numer / denom
            series2 = series2 + numer / (denom * denom)
        pow_x_alpha = x ** alpha
        gamma_pdf = x ** (alpha - 1) * xp.exp(-x)
        gamma_cdf = pow_x_alpha * series1
        gamma_cdf_alpha = (xp.log(x) - _digamma(xp, alpha)) * gamma_cdf - pow_x_alpha * series2
        taylor = -gamma_cdf_alpha / gamma_pdf
        taylor = xp.where(xp.isnan(taylor), 0.0, taylor)
        # Rice saddle point, near x ≈ α and away from it
        numer_1 = 1 + 24 * alpha * (1 + 12 * alpha)
        numer_2 = (1440 * alpha * alpha + 6 * x * (53 - 120 * x) - 65 * x * x / alpha
                   + alpha * (107 + 3600 * x))
        near = numer_1 * numer_2 / (1244160 * alpha ** 4)
        den = xp.sqrt(8 * alpha)
        term2 = den / (alpha - x)
        term3 = (x - alpha - alpha * xp.log(x / alpha)) ** -1.5
        term23 = xp.where(x < alpha, term2 - term3, term2 + term3)
        term1 = xp.log(x / alpha) * term23 - xp.sqrt(2 / alpha) * (alpha + x) / ((alpha - x) * (alpha - x))
        stirling = 1 + 1 / (12 * alpha) * (1 + 1 / (24 * alpha))
        far = -stirling * x * term1 / den
        rice = xp.where((0.9 * alpha <= x) & (x <= 1.1 * alpha), near, far)
        # rational approximation in u = log(x/α), v = log α
        u, v = xp.log(x / alpha), xp.log(alpha)
        c = [_GAMMA_GRAD_UV[0, i] + u * (_GAMMA_GRAD_UV[1, i] + u * _GAMMA_GRAD_UV[2, i]) for i in range(8)]
        p = c[0] + v * (c[1] + v * (c[2] + v * c[3]))
        q = c[4] + v * (c[5] + v * (c[6] + v * c[7]))
        rational = xp.exp(p / q)
    return xp.where(x < 0.8, taylor, xp.where(alpha > 8, rice, rational))


class StandardGamma(Function):
    """Gamma(α, 1) draws, one per entry of ``alpha`` (> 0): x = P⁻¹(α, u) with u ~ U[0, 1) from the
    engine's generator (inverse-cdf sampling, so a fixed seed makes x a smooth function of α), kept
    ≥ the dtype's tiny as torch's ``_standard_gamma``. Backward g·∂x/∂α at fixed u, by ATen's
    approximation (``_standard_gamma_grad``)."""

    def forward(self, alpha):
        xp, tiny = self.xp, np.finfo(alpha.dtype).tiny
        u = generator(device_of(alpha)).random(alpha.shape, dtype=np.float64)
        x = _gammaincinv(xp, xp.where(alpha > 0, alpha, 1.0), u).astype(alpha.dtype, copy=False)
        x = xp.where(alpha > 0, xp.maximum(x, tiny), tiny)  # torch: tiny for α ≤ 0
        self.save_for_backward(alpha, x)
        return x

    def backward(self, g):
        alpha, x = self.saved
        return g * _standard_gamma_grad(self.xp, alpha, x).astype(g.dtype, copy=False)


class Gammainc(Function):
    """The regularized incomplete gamma of ``a`` and ``x`` (broadcast): P(a, x), or Q(a, x) = 1 − P
    with ``upper`` (torch.special.gammainc / gammaincc), computed in float64. Backward in x only,
    ±g·x^(a−1) e^(−x) / Γ(a) (torch's formula, so its NaN/inf at x = 0 too); a gradient to ``a``
    raises NotImplementedError, as torch's."""

    def forward(self, a, x, upper=False):
        self.save_for_backward(a, x)
        self.upper = upper
        return _gammainc(self.xp, a, x, upper).astype(np.result_type(a.dtype, x.dtype), copy=False)

    def backward(self, g):
        a, x = self.saved
        if self.needs_input_grad[0]:
            raise NotImplementedError(f"the derivative for '{'igammac' if self.upper else 'igamma'}: input' is not "
                                      "implemented.")
        xp = self.xp
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            a64, x64 = a.astype(np.float64), x.astype(np.float64)
            density = xp.exp((a64 - 1) * xp.log(x64) - x64 - _lgamma(xp, a64))  # torch's formula (its 0·log 0 too)
            density = xp.where((a64 >= 10) & (x64 > 0), xp.exp(_log_power_front(xp, a64, x64)) / x64, density)
        gx = g * (-density if self.upper else density).astype(g.dtype, copy=False)
        return None, sum_to(gx, x.shape)
