"""torch.special's functions: most are the engine's own ops under torch.special's names;
``entr``, ``xlog1py`` and ``ndtr`` are composed from them, so their gradients come from the engine;
``gammainc``/``gammaincc`` are the ``Gammainc`` op and ``zeta`` the ``Zeta`` op (engine/ops/special.py);
the Bessel functions, ``ndtri``, ``log_ndtr``, ``erfcx`` and the orthogonal polynomials are ATen's
Cephes approximations (engine/ops/special_functions.py). The ones torch differentiates (i0, i0e, i1,
i1e, ndtri, log_ndtr, erfcx, zeta in q) are ops with a backward; the others give a result outside the
graph, as torch's (no grad_fn).

>>> import engine
>>> x = engine.tensor([0.0, 2.0])
>>> expit(x).tolist() == engine.sigmoid(x).tolist()
True
"""

from __future__ import annotations

import math

import numpy as np

import engine
from engine.backend import array_module
from engine.functional import _TORCH_INT_NAMES
from engine.ops import special_functions as sf
from engine.ops.movement import broadcast_error
from engine.ops.special import Entr, Gammainc, Zeta
from engine.tensor import Tensor

__all__ = [
    "airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "chebyshev_polynomial_t", "chebyshev_polynomial_u",
    "chebyshev_polynomial_v", "chebyshev_polynomial_w", "digamma", "entr", "erf", "erfc", "erfcx", "erfinv", "exp2",
    "expit", "expm1", "gammainc", "gammaincc", "gammaln", "hermite_polynomial_h", "hermite_polynomial_he", "i0", "i0e",
    "i1", "i1e", "laguerre_polynomial_l", "legendre_polynomial_p", "log1p", "log_ndtr", "log_softmax", "logit",
    "logsumexp", "modified_bessel_i0", "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1",
    "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "round", "scaled_modified_bessel_k0",
    "scaled_modified_bessel_k1", "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u",
    "shifted_chebyshev_polynomial_v", "shifted_chebyshev_polynomial_w", "sinc", "softmax", "spherical_bessel_j0",
    "xlog1py", "xlogy", "zeta",
]

digamma = psi = engine.digamma
erf, erfc, erfinv = engine.erf, engine.erfc, engine.erfinv
exp2, expm1, log1p = engine.exp2, engine.expm1, engine.log1p
expit = engine.sigmoid
gammaln = engine.lgamma
logit, logsumexp, polygamma, sinc, xlogy = engine.logit, engine.logsumexp, engine.polygamma, engine.sinc, engine.xlogy
i0 = engine.i0
multigammaln = engine.mvlgamma
round = engine.round  # noqa: A001  (torch.special's name)


def softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """torch.special.softmax: ``dim`` is required.

    >>> import engine
    >>> softmax(engine.tensor([0.0, 0.0]), 0).tolist()
    [0.5, 0.5]
    """
    return engine.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """torch.special.log_softmax: ``dim`` is required.

    >>> import engine
    >>> [f"{v:.4f}" for v in log_softmax(engine.tensor([0.0, 0.0]), 0).tolist()]
    ['-0.6931', '-0.6931']
    """
    return engine.log_softmax(input, dim, dtype=dtype)


def _float(x: Tensor, name: str) -> Tensor:
    """x as a Tensor of a float dtype (integers and bools go to the default float32, as torch)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"special.{name}: input must be a Tensor, got {type(x).__name__}")
    return x if x.is_floating_point() else x.float()


def entr(input: Tensor) -> Tensor:
    """Elementwise entropy term: −x·ln x for x > 0, 0 at 0, −inf for x < 0 (NaN stays NaN).

    >>> import engine
    >>> entr(engine.tensor([0.0, 0.5, -1.0])).tolist()
    [0.0, 0.3465735912322998, -inf]
    """
    return Entr.apply(_float(input, "entr"))


def xlog1py(input: Tensor | float, other: Tensor | float) -> Tensor:
    """x·log1p(y), 0 where x == 0 (unless y is NaN), as torch.special.xlog1py.

    >>> import engine
    >>> xlog1py(engine.tensor([0.0, 2.0]), engine.tensor([-1.0, 0.0])).tolist()
    [0.0, 0.0]
    """
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError("special.xlog1py: at least one of input and other must be a Tensor")
    like = _float(input if isinstance(input, Tensor) else other, "xlog1py")
    x = _float(input, "xlog1py") if isinstance(input, Tensor) else engine.full_like(like, input)
    y = _float(other, "xlog1py") if isinstance(other, Tensor) else engine.full_like(like, other)
    x, y = engine.broadcast_tensors(x, y)
    dtype = engine.promote_types(x.dtype, y.dtype)
    x, y = x.to(dtype), y.to(dtype)
    # where x is 0 and log1p(y) is not finite the result is 0; the gradient to x is log1p(y) elsewhere, at x = 0
    # too (torch's rule, as xlogy's), and the gradient to y is x / (1 + y)
    zero = (x == 0) & ~y.isnan() & ~((y > -1) & y.isfinite())
    safe_y = engine.where(zero, engine.zeros_like(y), y)  # log1p(0) = 0: the masked entries stay finite
    return x * safe_y.log1p()


def ndtr(input: Tensor) -> Tensor:
    """The standard normal CDF, Φ(x) = erfc(−x/√2)/2 (accurate in both tails' relative sense where erfc is).

    >>> import engine
    >>> ndtr(engine.tensor([0.0])).tolist()
    [0.5]
    """
    x = _float(input, "ndtr")
    return (x * (-1 / math.sqrt(2))).erfc() * 0.5


def _gammainc(input: Tensor, other: Tensor, upper: bool) -> Tensor:
    name = "gammaincc" if upper else "gammainc"
    for arg, value, position in (("input", input, 1), ("other", other, 2)):
        if not isinstance(value, Tensor):
            raise TypeError(f"special_{name}(): argument '{arg}' (position {position}) must be Tensor, not "
                            f"{type(value).__name__}")
    dtype = engine.result_type(input, other)
    if dtype.kind != "f":
        kernel = "igammac_cpu" if upper else "igamma_cpu"
        raise NotImplementedError(f'"{kernel}" not implemented for \'{_TORCH_INT_NAMES.get(str(dtype), str(dtype))}\'')
    error = broadcast_error(f"special.{name}", input.shape, other.shape)
    if error is not None:
        raise error
    return Gammainc.apply(input.to(dtype), other.to(dtype), upper=upper)


def gammainc(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """The regularized lower incomplete gamma P(a, x) = γ(a, x)/Γ(a), ``input`` = a ≥ 0 and ``other``
    = x ≥ 0 broadcast together (NaN outside). Differentiable in x only: a gradient to a raises
    NotImplementedError, as torch's.

    >>> import engine
    >>> [f"{v:.4f}" for v in gammainc(engine.tensor([1.0, 2.0]), engine.tensor([1.0, 1.0])).tolist()]
    ['0.6321', '0.2642']
    """
    return _gammainc(input, other, upper=False)


def gammaincc(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """The regularized upper incomplete gamma Q(a, x) = 1 − P(a, x), computed directly (accurate where
    it is tiny); the gradient as :func:`gammainc`'s, negated.

    >>> import engine
    >>> [f"{v:.4f}" for v in gammaincc(engine.tensor([1.0]), engine.tensor([1.0])).tolist()]
    ['0.3679']
    """
    return _gammainc(input, other, upper=True)


# ---- the Cephes family: Bessel functions, the normal quantile, erfcx, Hurwitz zeta, polynomials ----------


def _unsupported_half(x: Tensor, name: str) -> None:
    if x.dtype == np.float16:
        raise NotImplementedError(f'"{name}_cpu" not implemented for \'Half\'')


def _differentiable(op, name: str, half: bool = True):
    def fn(input: Tensor) -> Tensor:  # noqa: A002
        x = _float(input, name)
        if not half:
            _unsupported_half(x, name)
        return op.apply(x)

    fn.__name__ = fn.__qualname__ = name
    return fn


i0e = _differentiable(sf.I0e, "i0e")
i1 = _differentiable(sf.I1, "i1")
i1e = _differentiable(sf.I1e, "i1e")
ndtri = _differentiable(sf.Ndtri, "ndtri", half=False)
log_ndtr = _differentiable(sf.LogNdtr, "log_ndtr", half=False)
erfcx = _differentiable(sf.Erfcx, "erfcx", half=False)
i0e.__doc__ = """e^(−|x|)·I₀(x), the exponentially scaled modified Bessel function of order 0; differentiable.

    >>> import engine
    >>> f"{i0e(engine.tensor([1.0])).item():.4f}"
    '0.4658'
    """
i1.__doc__ = """I₁(x), the modified Bessel function of the first kind of order 1; differentiable.

    >>> import engine
    >>> f"{i1(engine.tensor([1.0])).item():.4f}"
    '0.5652'
    """
i1e.__doc__ = """e^(−|x|)·I₁(x); differentiable.

    >>> import engine
    >>> f"{i1e(engine.tensor([1.0])).item():.4f}"
    '0.2079'
    """
ndtri.__doc__ = """Φ⁻¹(p), the standard normal quantile (∓inf at 0 and 1, NaN outside [0, 1]); differentiable.

    >>> import engine
    >>> f"{ndtri(engine.tensor([0.975])).item():.4f}"
    '1.9600'
    """
log_ndtr.__doc__ = """log Φ(x), accurate far into the lower tail; differentiable.

    >>> import engine
    >>> f"{log_ndtr(engine.tensor([-10.0], dtype=engine.float64)).item():.4f}"
    '-53.2313'
    """
erfcx.__doc__ = """exp(x²)·erfc(x), the scaled complementary error function; differentiable.

    >>> import engine
    >>> f"{erfcx(engine.tensor([10.0])).item():.5f}"
    '0.05614'
    """


def _outside_graph(fn, name: str):
    def special_fn(input: Tensor) -> Tensor:  # noqa: A002
        x = _float(input, name)
        _unsupported_half(x, name)
        return Tensor(fn(array_module(x._data), x._data).astype(x.dtype, copy=False))

    special_fn.__name__ = special_fn.__qualname__ = name
    special_fn.__doc__ = (f"torch.special.{name} (ATen's Cephes approximation), elementwise; like torch's, the result "
                          f"has no gradient.\n\n    >>> import engine\n    >>> {name}(engine.zeros(1)).shape\n    "
                          f"(1,)\n    ")
    return special_fn


bessel_j0 = _outside_graph(sf.UNARY["bessel_j0"], "bessel_j0")
bessel_j1 = _outside_graph(sf.UNARY["bessel_j1"], "bessel_j1")
bessel_y0 = _outside_graph(sf.UNARY["bessel_y0"], "bessel_y0")
bessel_y1 = _outside_graph(sf.UNARY["bessel_y1"], "bessel_y1")
modified_bessel_i0 = _outside_graph(sf.UNARY["modified_bessel_i0"], "modified_bessel_i0")
modified_bessel_i1 = _outside_graph(sf.UNARY["modified_bessel_i1"], "modified_bessel_i1")
modified_bessel_k0 = _outside_graph(sf.UNARY["modified_bessel_k0"], "modified_bessel_k0")
modified_bessel_k1 = _outside_graph(sf.UNARY["modified_bessel_k1"], "modified_bessel_k1")
scaled_modified_bessel_k0 = _outside_graph(sf.UNARY["scaled_modified_bessel_k0"], "scaled_modified_bessel_k0")
scaled_modified_bessel_k1 = _outside_graph(sf.UNARY["scaled_modified_bessel_k1"], "scaled_modified_bessel_k1")
spherical_bessel_j0 = _outside_graph(sf.UNARY["spherical_bessel_j0"], "spherical_bessel_j0")
airy_ai = _outside_graph(sf.UNARY["airy_ai"], "airy_ai")


def _binary_operands(input, other, name: str, first: str, second: str) -> tuple[Tensor, Tensor]:
    """Two operands of a binary special function, at least one a Tensor, in their promoted float dtype
    (integers and bools promote to float32, as torch)."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError(f"special_{name}() received an invalid combination of arguments - got "
                        f"({type(input).__name__}, {type(other).__name__}), but expected at least one Tensor")
    dtype = engine.result_type(input, other)
    if dtype.kind != "f":
        dtype = np.dtype(np.float32)
    if dtype == np.float16:
        raise NotImplementedError(f'"{name}_cpu" not implemented for \'Half\'')
    like = input if isinstance(input, Tensor) else other
    a = input.to(dtype) if isinstance(input, Tensor) else engine.full_like(like, input, dtype=dtype)
    b = other.to(dtype) if isinstance(other, Tensor) else engine.full_like(like, other, dtype=dtype)
    error = broadcast_error(f"special.{name}", a.shape, b.shape)
    if error is not None:
        raise error
    return a, b


def zeta(input: Tensor | float, other: Tensor | float) -> Tensor:  # noqa: A002
    """The Hurwitz zeta function ζ(x, q) = Σₖ (k + q)^(−x) (torch.special.zeta): x = ``input`` and
    q = ``other`` broadcast, either may be a number. Differentiable in q (−x·ζ(x + 1, q)); a gradient to
    x raises NotImplementedError, as torch's.

    >>> import engine
    >>> f"{zeta(engine.tensor([2.0]), 1.0).item():.4f}"
    '1.6449'
    """
    x, q = _binary_operands(input, other, "zeta", "x", "q")
    return Zeta.apply(x, q)


def _polynomial(name: str, formula: str):
    fn_array = sf.POLYNOMIALS[name]

    def polynomial(input: Tensor | float, n: Tensor | float) -> Tensor:  # noqa: A002
        x, order = _binary_operands(input, n, name, "x", "n")
        shape = np.broadcast_shapes(x.shape, order.shape)
        xp = array_module(x._data)
        out = fn_array(xp, xp.broadcast_to(x._data, shape), xp.broadcast_to(order._data, shape))
        return Tensor(xp.asarray(out, dtype=x.dtype).reshape(shape))

    polynomial.__name__ = polynomial.__qualname__ = name
    polynomial.__doc__ = (f"{formula} at x of order n (truncated to an integer; 0 for n < 0), broadcast, either a "
                          f"number (torch.special.{name}); no gradient, as torch's.\n\n    >>> import engine\n"
                          f"    >>> {name}(engine.tensor([0.5]), 2).shape\n    (1,)\n    ")
    return polynomial


chebyshev_polynomial_t = _polynomial("chebyshev_polynomial_t", "The Chebyshev polynomial of the first kind Tₙ")
chebyshev_polynomial_u = _polynomial("chebyshev_polynomial_u", "The Chebyshev polynomial of the second kind Uₙ")
chebyshev_polynomial_v = _polynomial("chebyshev_polynomial_v", "The Chebyshev polynomial of the third kind Vₙ")
chebyshev_polynomial_w = _polynomial("chebyshev_polynomial_w", "The Chebyshev polynomial of the fourth kind Wₙ")
shifted_chebyshev_polynomial_t = _polynomial("shifted_chebyshev_polynomial_t", "Tₙ(2x − 1)")
shifted_chebyshev_polynomial_u = _polynomial("shifted_chebyshev_polynomial_u", "Uₙ(2x − 1)")
shifted_chebyshev_polynomial_v = _polynomial("shifted_chebyshev_polynomial_v", "Vₙ(2x − 1)")
shifted_chebyshev_polynomial_w = _polynomial("shifted_chebyshev_polynomial_w", "Wₙ(2x − 1)")
hermite_polynomial_h = _polynomial("hermite_polynomial_h", "The physicists' Hermite polynomial Hₙ")
hermite_polynomial_he = _polynomial("hermite_polynomial_he", "The probabilists' Hermite polynomial Heₙ")
laguerre_polynomial_l = _polynomial("laguerre_polynomial_l", "The Laguerre polynomial Lₙ")
legendre_polynomial_p = _polynomial("legendre_polynomial_p", "The Legendre polynomial Pₙ")
