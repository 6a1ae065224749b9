"""Special functions with reference backwards: lgamma (gradient digamma), digamma (gradient
trigamma), polygamma of any order n ≥ 1 (gradient the order n + 1) and the Hurwitz zeta (gradient in
q), for real input. Lanczos (g = 7, 9 terms) for lgamma; digamma, trigamma and zeta are ATen's
(Cephes) algorithms: the recurrences up to a large argument, then the asymptotic or Euler–Maclaurin
series; polygamma(n ≥ 2, x) = (−1)ⁿ⁺¹ n! ζ(n + 1, x).

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


_PSI_10 = 2.25175258906672110764  # ψ(10)
_DIGAMMA_A = (8.33333333333333333333e-2, -2.10927960927960927961e-2, 7.57575757575757575758e-3,
              -4.16666666666666666667e-3, 3.96825396825396825397e-3, -8.33333333333333333333e-3,
              8.33333333333333333333e-2)


def _digamma(xp, x):
    """ψ(x) = d/dx log Γ(x) of a float array, in its dtype (float32 for the half types), as ATen's
    calc_digamma (Cephes): x < 0 by the reflection ψ(1 − x) − π/tan(π·frac(x)) (the fractional part
    keeps tan's argument small; that term in float64), then the recurrence up to x ≥ 10 and the
    asymptotic series there. ∓inf at ±0, NaN at −1, −2, ... and −inf."""
    x = xp.asarray(x)
    x = x if x.dtype in (np.float32, np.float64) else x.astype(np.float32)
    neg = x < 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x64 = x.astype(np.float64)
        cot = xp.where(neg, math.pi / xp.tan(math.pi * (x64 - xp.trunc(x64))), 0.0).astype(x.dtype)
        z = xp.where(neg, 1 - x, x)
        acc, y = _shifted(xp, z, lambda v: -1 / v)
        y2 = 1 / (y * y)
        poly = xp.zeros_like(y2)
        for c in _DIGAMMA_A:
            poly = poly * y2 + c
        series = xp.where(y < 1e17, y2 * poly, 0)
        out = xp.where(y == 10, acc + _PSI_10, acc + xp.log(y) - 0.5 / y - series)
    out = xp.where(neg, out - cot, out)
    out = xp.where(neg & (x == xp.trunc(x)), xp.nan, out)  # the poles, and −inf
    return xp.where(x == 0, -xp.copysign(xp.inf, x), out).astype(x.dtype, copy=False)


def _trigamma(xp, x):
    """ψ'(x) in x's dtype (float32 for the half types), as ATen's trigamma: x < ½ reflected through
    π²/sin²(πx) (no special case at the poles, so −1, −2, ... give sin's rounding, as torch's), six steps
    of the recurrence, then the asymptotic series."""
    x = xp.asarray(x)
    x = x if x.dtype in (np.float32, np.float64) else x.astype(np.float32)
    refl = x < 0.5
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = xp.sin(math.pi * x)
        front = xp.where(refl, -(math.pi * math.pi) / (s * s), 0)
        z = xp.where(refl, 1 - x, x)
        acc = xp.zeros_like(z)
        for _ in range(6):
            acc = acc + 1 / (z * z)
            z = z + 1
        ixx = 1 / (z * z)
        out = front + acc + (1 + 1 / (2 * z) + ixx * (1 / 6 - ixx * (1 / 30 - ixx * (1 / 42)))) / z
    return xp.where(refl, -out, out).astype(x.dtype, copy=False)


_ZETA_A = (12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9, 7.47242496e10,
           -2.950130727918164224e12, 1.1646782814350067249e14, -4.5979787224074726105e15,
           1.8152105401943546773e17, -7.1661652561756670113e18)
_MACHEP = 1.11022302462515654042e-16


def _zeta(xp, x, q):
    """The Hurwitz zeta ζ(x, q) = Σₖ (k + q)^(−x) of float arrays (broadcast), in float64, as ATen's zeta
    (Cephes): the sum directly until a term is below MACHEP of it (at least 9 terms and up to q > 9),
    then the Euler–Maclaurin tail with up to 12 Bernoulli terms. inf at x = 1 and at q = 0, −1, ...;
    NaN for x < 1, and for q < 0 with x not an integer."""
    shape = np.broadcast_shapes(np.shape(x), np.shape(q))
    with np.errstate(all="ignore"):  # the first term in the inputs' dtype: ATen's std::pow(q, -x) (float for float)
        first = (xp.asarray(q) ** -xp.asarray(x)).astype(np.float64)
    x, q = (xp.broadcast_to(xp.asarray(v, dtype=np.float64), shape).ravel() for v in (x, q))
    with np.errstate(all="ignore"):
        edge = (x <= 1) | ((q <= 0) & ((q == xp.floor(q)) | (x != xp.floor(x))))  # answered below, not summed
        s = xp.broadcast_to(first, shape).ravel().copy()
        a, b = q.copy(), xp.zeros_like(q)
        done = edge.copy()
        live, i, steps = xp.flatnonzero(~edge), 0, 16
        while live.size:  # the direct sum, each entry until its own stopping rule
            # ``steps`` steps at once (a q far below 0 takes millions), each row's a and s accumulated in
            # order (NumPy's cumsum is sequential: the same roundings as one += per step)
            steps = max(1, min(steps, (1 << 22) // live.size))
            ones = xp.ones((live.size, steps), dtype=np.float64)
            av = xp.cumsum(xp.concatenate([a[live, None], ones], 1), axis=1)  # a before step 1..steps+1
            bv = av[:, 1:] ** -x[live, None]
            sv = xp.cumsum(xp.concatenate([s[live, None], bv], 1), axis=1)[:, 1:]
            conv = (-_MACHEP * sv < bv) & (bv < _MACHEP * sv)
            going = (i + xp.arange(steps) < 9) | (av[:, :-1] <= 9)  # the loop's test before each step
            stop_conv = conv | ~going
            any_stop = stop_conv.any(1)
            j = xp.where(any_stop, stop_conv.argmax(1), steps)  # the first step that stops (steps: none)
            ran = xp.where(any_stop & ~going[xp.arange(live.size), xp.minimum(j, steps - 1)], j, j + 1)  # steps taken
            ran = xp.minimum(ran, steps)
            took = ran > 0
            r, k = xp.arange(live.size)[took], ran[took] - 1
            a[live] = av[xp.arange(live.size), ran]
            b[live[took]] = bv[r, k]
            s[live[took]] = sv[r, k]
            finished = any_stop & going[xp.arange(live.size), xp.minimum(j, steps - 1)]
            done[live[finished]] = True
            live = live[~any_stop]
            i += steps
            steps *= 4
        w = a
        tail = s + b * w / (x - 1) - 0.5 * b
        fact, k = xp.ones_like(x), 0.0
        going = ~done
        for c in _ZETA_A:  # Euler–Maclaurin: B₂ⱼ/(2j)! · x(x+1)...(x+2j−2) · w^(−x−2j+1)
            fact = fact * (x + k)
            b = b / w
            t = fact * b / c
            tail = xp.where(going, tail + t, tail)
            going = going & ~(xp.abs(t / tail) < _MACHEP)
            k += 1
            fact = fact * (x + k)
            b = b / w
            k += 1
        out = xp.where(done, s, tail)
    out = xp.where((q <= 0) & (x != xp.floor(x)), xp.nan, out)
    out = xp.where((q <= 0) & (q == xp.floor(q)), xp.inf, out)
    out = xp.where(x < 1, xp.nan, out)
    return xp.where(x == 1, xp.inf, out).reshape(shape)


def _work_dtype(dtype) -> np.dtype:
    """The dtype ATen's CPU kernels compute polygamma in: the input's own for float32/64, float32 for half."""
    return np.dtype(dtype) if dtype in (np.float32, np.float64) else np.dtype(np.float32)


def _polygamma(xp, n: int, x):
    """ψ⁽ⁿ⁾(x) for n ≥ 1 in x's dtype: trigamma for n = 1, (−1)ⁿ⁺¹ n! ζ(n + 1, x) above (ATen's
    calc_polygamma)."""
    if n == 1:
        return _trigamma(xp, x)
    dtype = _work_dtype(x.dtype)
    x = x.astype(dtype, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):
        zeta = _zeta(xp, dtype.type(n + 1), x).astype(dtype)
        return (1.0 if n % 2 else -1.0) * dtype.type(math.exp(math.lgamma(n + 1.0))) * zeta


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


class Polygamma(Function):
    """ψ⁽ⁿ⁾(a) for n ≥ 1 (n = 0 is Digamma); backward g·ψ⁽ⁿ⁺¹⁾(a)."""

    def forward(self, a, n=1):
        self.save_for_backward(a)
        self.n = n
        return _polygamma(self.xp, n, a).astype(a.dtype, copy=False)

    def backward(self, g):
        (a,) = self.saved
        return g * _polygamma(self.xp, self.n + 1, a).astype(g.dtype, copy=False)


class Entr(Function):
    """The entropy term −a·ln a (0 at 0, −inf below, NaN stays NaN); backward −g·(1 + ln a), torch's
    formula everywhere (so NaN for a < 0 and inf at 0, as torch's)."""

    def forward(self, a):
        self.save_for_backward(a)
        xp = self.xp
        with np.errstate(divide="ignore", invalid="ignore"):
            value = -a * xp.log(xp.where(a > 0, a, 1))
        return xp.where(a > 0, value, xp.where(a == 0, 0, xp.where(a < 0, -xp.inf, a))).astype(a.dtype, copy=False)

    def backward(self, g):
        (a,) = self.saved
        with np.errstate(divide="ignore", invalid="ignore"):
            return (-g * (1 + self.xp.log(a))).astype(g.dtype, copy=False)


class Logit(Function):
    """log(p/(1 − p)), p clamped to [eps, 1 − eps] first when ``eps`` is given. Backward torch's:
    g/(p(1 − p)) (inf at 0 and 1), NaN for p outside [0, 1] without eps, 0 outside [eps, 1 − eps] with it."""

    def forward(self, p, eps=None):
        self.save_for_backward(p)
        self.eps = eps
        xp = self.xp
        q = p if eps is None else xp.clip(p, eps, 1 - eps)
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp.log(q / (1 - q)).astype(p.dtype, copy=False)

    def backward(self, g):
        (p,) = self.saved
        xp, eps = self.xp, self.eps
        with np.errstate(divide="ignore", invalid="ignore"):
            grad = g / (p * (1 - p))
        if eps is None:
            return xp.where((p < 0) | (p > 1), xp.nan, grad).astype(g.dtype, copy=False)
        return xp.where((p < eps) | (p > 1 - eps), 0, grad).astype(g.dtype, copy=False)


class Zeta(Function):
    """The Hurwitz zeta ζ(x, q) of ``x`` and ``q`` (broadcast). Backward in q only, −g·x·ζ(x + 1, q);
    a gradient to x raises NotImplementedError, as torch's."""

    def forward(self, x, q):
        self.save_for_backward(x, q)
        return _zeta(self.xp, x, q).astype(np.result_type(x.dtype, q.dtype), copy=False)

    def backward(self, g):
        x, q = self.saved
        if self.needs_input_grad[0]:
            raise NotImplementedError("the derivative for 'zeta' is not implemented.")
        gq = -g * (x * _zeta(self.xp, x + 1, q)).astype(g.dtype, copy=False)
        return None, sum_to(gq, q.shape)


# ---- the gamma draw: P(a, x), its inverse, and the implicit reparameterization gradient ------------


def _gammainc(xp, a, x, upper: bool = False):
    """The regularized lower incomplete gamma P(a, x) of float64 arrays (a > 0, x ≥ 0), or the upper
    Q(a, x) = 1 − P(a, x) with ``upper``: the series of P below x = a + 1, the continued fraction
    of Q above (Numerical Recipes' gser and gcf, each summed only over the entries still converging),
    so the smaller of the two is never 1 minus the other. Edges as torch's igamma/igammac, in its order: NaN for
    a < 0 or x < 0, P(0, x > 0) = 1, P(a, 0) = 0 (a NaN too), P(inf, x) = 0, P(a, inf) = 1, NaN at (0, 0) and
    (inf, inf)."""
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
    # the edges in torch's order (calc_igamma: the first that holds decides; a NaN fails every comparison)
    nan = xp.nan
    edges = [((x < 0) | (a < 0), nan), (a == 0, xp.where(x > 0, one, nan)), (x == 0, zero),
             (xp.isinf(a), xp.where(xp.isinf(x), nan, zero)), (xp.isinf(x), one), (xp.isnan(a) | xp.isnan(x), nan)]
    return xp.select([c for c, _ in edges], [xp.broadcast_to(v, x.shape) for _, v in edges], out).reshape(shape)


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
