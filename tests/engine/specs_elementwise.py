"""Specs of the elementwise and activation family (issue 15): torch's unary math, rounding,
division modes, binary float ops, tensor clamp, nan_to_num and the activations of engine.functional.

Inputs stay in each op's smooth domain by construction: quotients a / b sit away from integers (so
floor/fmod/remainder are constant near them), clamp's three operands lie on disjoint grids (no ties),
kinks of the activations are avoided with ``fill(..., avoid=...)``.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from op_specs import SEEDS, Case, Spec, broadcast_shapes, fill, no_tie_pair, shapes, unary

import engine
import engine.functional as F

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _erfinv(y):
    """Inverse of math.erf by bisection (plain Python, independent of SciPy)."""
    def one(v):
        lo, hi = -6.0, 6.0
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if math.erf(mid) < v else (lo, mid)
        return (lo + hi) / 2

    return np.vectorize(one, otypes=[np.float64])(y)


@st.composite
def scaled(draw, domain="real", scale=1.0, shift=0.0, avoid=(), min_dims=0, **params):
    """``unary`` values times ``scale`` plus ``shift`` (asin's (-0.9, 0.9), acosh's (1.2, 4), ...);
    ``avoid`` is in the scaled coordinates."""
    shape = draw(shapes(min_dims))
    rng = np.random.default_rng(draw(SEEDS))
    pre = tuple((c - shift) / scale for c in avoid)
    drawn = {k: draw(v if isinstance(v, st.SearchStrategy) else v(len(shape))) for k, v in params.items()}
    return Case((fill(rng, shape, domain, pre) * scale + shift,), drawn)


def _u(name, ref, torch_name=None, case=None, **kw):
    """A unary Tensor-method spec: ``a.<name>()`` against NumPy ``ref`` and ``torch.<name>``."""
    tname = torch_name or name
    return Spec(case if case is not None else unary(), lambda a: getattr(a, name)(), ref,
                torch=lambda T, a: getattr(T, tname)(a), **kw)


_HALF_PI = math.pi / 2
SPECS: dict[str, Spec] = {
    "Exp2": _u("exp2", np.exp2),
    "Expm1": _u("expm1", np.expm1),
    "Log2": _u("log2", np.log2, case=unary("positive")),
    "Log10": _u("log10", np.log10, case=unary("positive")),
    "Log1p": _u("log1p", np.log1p, case=scaled("real", 0.4, 0.0)),
    "Rsqrt": _u("rsqrt", lambda a: 1 / np.sqrt(a), case=unary("positive")),
    "Reciprocal": _u("reciprocal", lambda a: 1 / a, case=unary("nonzero")),
    "Erf": _u("erf", _erf),
    "Erfc": _u("erfc", _erfc),
    "Erfinv": _u("erfinv", _erfinv, case=scaled("real", 0.45)),
    "Tan": _u("tan", np.tan, case=unary(avoid=(-_HALF_PI, _HALF_PI))),
    "Asin": _u("asin", np.arcsin, case=scaled("real", 0.45)),
    "Acos": _u("acos", np.arccos, case=scaled("real", 0.45)),
    "Atan": _u("atan", np.arctan),
    "Sinh": _u("sinh", np.sinh),
    "Cosh": _u("cosh", np.cosh),
    "Asinh": _u("asinh", np.arcsinh),
    "Acosh": _u("acosh", np.arccosh, case=scaled("positive", 1.0, 1.0)),
    "Atanh": _u("atanh", np.arctanh, case=scaled("real", 0.45)),
}

# ---- rounding and division modes: piecewise constant, so values avoid the jumps --------------------

_INTS = tuple(float(k) for k in range(-3, 4))
_HALVES = tuple(k + 0.5 for k in range(-3, 3))


@st.composite
def rounding_case(draw):
    mode = draw(st.sampled_from(["sign", "floor", "ceil", "round", "trunc"]))
    avoid = (0.0,) if mode == "sign" else _HALVES if mode == "round" else _INTS
    return draw(scaled("real", 1.5, avoid=avoid, mode=st.just(mode)))


def _rounding_fn(a, mode):
    return getattr(a, mode)()


def _rounding_ref(a, mode):
    return {"sign": np.sign, "floor": np.floor, "ceil": np.ceil, "round": np.round, "trunc": np.trunc}[mode](a)


@st.composite
def quotient_case(draw, mode=False):
    """a, b with b broadcasting onto a, and every a / b at least 0.075 from an integer: a = q * b."""
    sa = draw(shapes())
    drop = draw(st.integers(0, len(sa)))
    sb = tuple(1 if draw(st.booleans()) else n for n in sa[drop:])
    rng = np.random.default_rng(draw(SEEDS))
    b = fill(rng, sb, "nonzero")
    q = fill(rng, sa, "real", tuple(c / 1.5 for c in _INTS)) * 1.5
    params = {"mode": draw(st.sampled_from(["trunc", "floor"]))} if mode else {}
    return Case((q * b, b), params)


def _torch_fmod_like(name):
    return lambda T, a, b: getattr(T, name)(a, b)


SPECS.update({
    "Rounding": Spec(rounding_case(), _rounding_fn, _rounding_ref,
                     torch=lambda T, a, mode: getattr(T, mode)(a)),
    "RoundedDiv": Spec(quotient_case(mode=True), lambda a, b, mode: a.div(b, rounding_mode=mode),
                       lambda a, b, mode: np.trunc(a / b) if mode == "trunc" else np.floor_divide(a, b),
                       torch=lambda T, a, b, mode: T.div(a, b, rounding_mode=mode)),
    "Fmod": Spec(quotient_case(), lambda a, b: a.fmod(b), np.fmod, torch=_torch_fmod_like("fmod")),
    "Remainder": Spec(quotient_case(), lambda a, b: a % b, np.remainder, torch=_torch_fmod_like("remainder")),
})

# ---- binary float ops -----------------------------------------------------------------------------------


@st.composite
def pair(draw, a_domain="real", b_domain="real"):
    sa, sb = draw(broadcast_shapes()).input_shapes
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, sa, a_domain), fill(rng, sb, b_domain)), {})


@st.composite
def lerp_case(draw, tensor_weight):
    shapes_ = draw(broadcast_shapes(3 if tensor_weight else 2)).input_shapes
    rng = np.random.default_rng(draw(SEEDS))
    arrays = tuple(fill(rng, s) for s in shapes_)
    return Case(arrays, {} if tensor_weight else {"w": draw(st.sampled_from([0.25, 0.5, 0.9, 1.5]))})


@st.composite
def clamp_case(draw):
    """a, min, max on three disjoint grids (a = 0.3k, min = 0.3k + 0.1, max = 0.3k + 0.2): no ties,
    min > max happens; ``which`` drops min or max."""
    which = draw(st.sampled_from(["both", "min", "max"]))
    n = 3 if which == "both" else 2
    shapes_ = draw(broadcast_shapes(n)).input_shapes
    rng = np.random.default_rng(draw(SEEDS))
    offsets = (0.0, 0.1, 0.2) if which == "both" else (0.0, 0.1)
    arrays = tuple(0.3 * rng.integers(-6, 6, size=s) + o for s, o in zip(shapes_, offsets))
    return Case(arrays, {"which": which})


def _clamp_fn(a, *bounds, which):
    if which == "both":
        return a.clamp(*bounds)
    return a.clamp(min=bounds[0]) if which == "min" else a.clamp(max=bounds[0])


def _clamp_ref(a, *bounds, which):
    if which == "both":
        return np.minimum(np.maximum(a, bounds[0]), bounds[1])
    return np.maximum(a, bounds[0]) if which == "min" else np.minimum(a, bounds[0])


def _clamp_torch(T, a, *bounds, which):
    if which == "both":
        return T.clamp(a, *bounds)
    return T.clamp(a, min=bounds[0]) if which == "min" else T.clamp(a, max=bounds[0])


def _nan_to_num_ref(a, nan, posinf, neginf):
    return np.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)


SPECS.update({
    "Atan2": Spec(pair("real", "nonzero"), lambda a, b: a.atan2(b), np.arctan2, torch=lambda T, a, b: T.atan2(a, b)),
    "Hypot": Spec(pair("nonzero", "nonzero"), lambda a, b: a.hypot(b), np.hypot, torch=lambda T, a, b: T.hypot(a, b)),
    "LogAddExp": Spec(pair(), lambda a, b: a.logaddexp(b), np.logaddexp, torch=lambda T, a, b: T.logaddexp(a, b)),
    "Copysign": Spec(pair("nonzero", "nonzero"), lambda a, b: a.copysign(b), np.copysign,
                     torch=lambda T, a, b: T.copysign(a, b)),
    "Nextafter": Spec(pair(), engine.nextafter, np.nextafter, torch=lambda T, a, b: T.nextafter(a, b)),
    "FrexpMantissa": Spec(unary("nonzero"), lambda a: engine.frexp(a).mantissa, lambda a: np.frexp(a)[0],
                          torch=lambda T, a: T.frexp(a).mantissa),
    "Fmax": Spec(no_tie_pair(), lambda a, b: a.fmax(b), np.fmax, torch=lambda T, a, b: T.fmax(a, b)),
    "Fmin": Spec(no_tie_pair(), lambda a, b: engine.fmin(a, b), np.fmin, torch=lambda T, a, b: T.fmin(a, b)),
    "Lerp": Spec(lerp_case(True), engine.lerp, lambda a, b, w: a + w * (b - a),
                 torch=lambda T, a, b, w: T.lerp(a, b, w)),
    "ClampTensor": Spec(clamp_case(), _clamp_fn, _clamp_ref, torch=_clamp_torch),
    "NanToNum": Spec(unary(nan=st.sampled_from([0.0, 1.5]), posinf=st.sampled_from([None, 9.0]),
                           neginf=st.sampled_from([None, -9.0])),
                     lambda a, nan, posinf, neginf: a.nan_to_num(nan, posinf, neginf), _nan_to_num_ref,
                     torch=lambda T, a, nan, posinf, neginf: T.nan_to_num(a, nan, posinf, neginf)),
})

# ---- activations ----------------------------------------------------------------------------------------

_SELU = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)


def _elu_ref(a, kind, alpha):
    if kind == "selu":
        al, scale = _SELU
        return scale * np.where(a > 0, a, al * np.expm1(a))
    if kind == "celu":
        return np.where(a > 0, a, alpha * np.expm1(a / alpha))
    return np.where(a > 0, a, alpha * np.expm1(a))


def _elu_fn(a, kind, alpha):
    return F.selu(a) if kind == "selu" else getattr(F, kind)(a, alpha)


def _elu_torch(T, a, kind, alpha):
    return T.nn.functional.selu(a) if kind == "selu" else getattr(T.nn.functional, kind)(a, alpha)


def _sigmoid_ref(a):
    return 1 / (1 + np.exp(-a))


def _softplus_ref(a, beta, threshold):
    return np.where(a * beta > threshold, a, np.log1p(np.exp(a * beta)) / beta)


_SOFTPLUS = [(1.0, 20.0), (2.0, 1.0), (0.5, 0.5)]  # kinks at 20, 0.5 and 1.0


def _torch_f(name):
    return lambda T, a, **kw: getattr(T.nn.functional, name)(a, **kw)


SPECS.update({
    "Hardtanh": Spec(
        unary(avoid=(-0.5, 0.7, -1.0, 1.0), min_val=st.sampled_from([-1.0, -0.5]), max_val=st.sampled_from([1.0, 0.7])),
        lambda a, **kw: F.hardtanh(a, **kw), lambda a, min_val, max_val: np.clip(a, min_val, max_val),
        torch=_torch_f("hardtanh"),
    ),
    "LeakyRelu": Spec(unary(avoid=(0.0,), negative_slope=st.sampled_from([0.01, 0.2, -0.5])),
                      lambda a, **kw: F.leaky_relu(a, **kw),
                      lambda a, negative_slope: np.where(a > 0, a, negative_slope * a), torch=_torch_f("leaky_relu")),
    "Elu": Spec(unary(avoid=(0.0,), kind=st.sampled_from(["elu", "selu", "celu"]),
                      alpha=st.sampled_from([1.0, 0.5, 2.0])),
                _elu_fn, _elu_ref, torch=_elu_torch),
    "Silu": Spec(unary(), F.silu, lambda a: a * _sigmoid_ref(a), torch=_torch_f("silu")),
    "Mish": Spec(unary(), F.mish, lambda a: a * np.tanh(np.log1p(np.exp(a))), torch=_torch_f("mish")),
    "Softplus": Spec(
        unary(avoid=(0.5, 1.0), bt=st.sampled_from(_SOFTPLUS)),
        lambda a, bt: F.softplus(a, *bt), lambda a, bt: _softplus_ref(a, *bt),
        torch=lambda T, a, bt: T.nn.functional.softplus(a, *bt),
    ),
    "LogSigmoid": Spec(scaled("real", 5.0), F.logsigmoid, lambda a: -np.log1p(np.exp(-a)),
                       torch=_torch_f("logsigmoid")),
    "Hardswish": Spec(scaled("real", 2.0, avoid=(-3.0, 3.0)), F.hardswish,
                      lambda a: a * np.clip(a + 3, 0, 6) / 6, torch=_torch_f("hardswish")),
})

# ---- ops composed from others (their gradients come from the primitives) ------------------------------------


def _softmax_ref(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


@st.composite
def glu_case(draw):
    shape = list(draw(shapes(1)))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    shape[dim] = 2 * draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, shape),), {"dim": dim})


def _glu_ref(a, dim):
    x, y = np.split(a, 2, axis=dim)
    return x * _sigmoid_ref(y)


@st.composite
def prelu_case(draw):
    shape = draw(shapes(0, 4))
    per_channel = len(shape) >= 2 and draw(st.booleans())
    rng = np.random.default_rng(draw(SEEDS))
    w = fill(rng, (shape[1],) if per_channel else (1,), "real")
    return Case((fill(rng, shape, "real", (0.0,)), w), {})


def _prelu_ref(a, w):
    w = w.reshape(()) if w.size == 1 else w.reshape(-1, *([1] * (a.ndim - 2)))
    return np.where(a > 0, a, w * a)


@st.composite
def norm_case(draw, two=False):
    shape = draw(shapes(1))
    rng = np.random.default_rng(draw(SEEDS))
    arrays = (fill(rng, shape, "nonzero"),) + ((fill(rng, shape, "nonzero"),) if two else ())
    return Case(arrays, {"dim": draw(st.integers(-len(shape), len(shape) - 1))})


def _normalize_ref(a, p, dim):
    n = np.sum(np.abs(a) ** p, axis=dim, keepdims=True) ** (1 / p)
    return a / np.maximum(n, 1e-12)


def _cos_ref(a, b, dim):
    na = np.sqrt((a * a).sum(dim, keepdims=True))
    nb = np.sqrt((b * b).sum(dim, keepdims=True))
    return ((a / na) * (b / nb)).sum(dim)


DERIVED: dict[str, Spec] = {
    "gelu_default_exact": Spec(unary(), F.gelu, lambda a: 0.5 * a * (1 + _erf(a / math.sqrt(2))),
                               torch=lambda T, a: T.nn.functional.gelu(a)),
    "relu6": Spec(scaled("real", 4.0, 3.0, avoid=(0.0, 6.0)), F.relu6, lambda a: np.clip(a, 0, 6),
                  torch=_torch_f("relu6")),
    "hardsigmoid": Spec(scaled("real", 2.0, avoid=(-3.0, 3.0)), F.hardsigmoid, lambda a: np.clip(a + 3, 0, 6) / 6,
                        torch=_torch_f("hardsigmoid")),
    "softsign": Spec(unary(), F.softsign, lambda a: a / (1 + np.abs(a)), torch=_torch_f("softsign")),
    "tanhshrink": Spec(unary(), F.tanhshrink, lambda a: a - np.tanh(a), torch=_torch_f("tanhshrink")),
    "threshold": Spec(unary(avoid=(0.5,)), lambda a: F.threshold(a, 0.5, -2.0), lambda a: np.where(a > 0.5, a, -2.0),
                      torch=lambda T, a: T.nn.functional.threshold(a, 0.5, -2.0)),
    "softshrink": Spec(unary(avoid=(-0.5, 0.5)), F.softshrink,
                       lambda a: np.where(a > 0.5, a - 0.5, np.where(a < -0.5, a + 0.5, 0.0)),
                       torch=_torch_f("softshrink")),
    "hardshrink": Spec(unary(avoid=(-0.5, 0.5)), lambda a: a.hardshrink(), lambda a: np.where(np.abs(a) > 0.5, a, 0.0),
                       torch=lambda T, a: a.hardshrink()),
    "rrelu_eval": Spec(unary(avoid=(0.0,)), F.rrelu, lambda a: np.where(a > 0, a, a * (1 / 8 + 1 / 3) / 2),
                       torch=lambda T, a: T.nn.functional.rrelu(a, training=False)),
    "prelu": Spec(prelu_case(), F.prelu, _prelu_ref, torch=lambda T, a, w: T.nn.functional.prelu(a, w)),
    "glu": Spec(glu_case(), F.glu, _glu_ref, torch=lambda T, a, dim: T.nn.functional.glu(a, dim)),
    "softmax_dim": Spec(unary(min_dims=1, dim=lambda nd: st.integers(-nd, nd - 1)),
                        lambda a, dim: F.softmax(a, dim=dim), _softmax_ref,
                        torch=lambda T, a, dim: T.nn.functional.softmax(a, dim=dim)),
    "softmax_0d": Spec(unary(min_dims=0, max_dims=0), lambda a: a.softmax(0), lambda a: np.ones_like(a),
                       torch=lambda T, a: a.softmax(0)),
    "log_softmax_dim": Spec(unary(min_dims=1, dim=lambda nd: st.integers(-nd, nd - 1)),
                            lambda a, dim: a.log_softmax(dim), lambda a, dim: np.log(_softmax_ref(a, dim)),
                            torch=lambda T, a, dim: a.log_softmax(dim)),
    "softmin": Spec(unary(min_dims=1, dim=lambda nd: st.integers(-nd, nd - 1)),
                    lambda a, dim: F.softmin(a, dim), lambda a, dim: _softmax_ref(-a, dim),
                    torch=lambda T, a, dim: T.nn.functional.softmin(a, dim)),
    "normalize": Spec(norm_case(), lambda a, dim: F.normalize(a, 2.0, dim), lambda a, dim: _normalize_ref(a, 2.0, dim),
                      torch=lambda T, a, dim: T.nn.functional.normalize(a, 2.0, dim)),
    "normalize_p1": Spec(norm_case(), lambda a, dim: F.normalize(a, 1, dim), lambda a, dim: _normalize_ref(a, 1, dim),
                         torch=lambda T, a, dim: T.nn.functional.normalize(a, 1, dim)),
    "cosine_similarity": Spec(norm_case(two=True), lambda a, b, dim: F.cosine_similarity(a, b, dim), _cos_ref,
                              torch=lambda T, a, b, dim: T.nn.functional.cosine_similarity(a, b, dim)),
    "lerp_scalar_weight": Spec(lerp_case(False), lambda a, b, w: a.lerp(b, w), lambda a, b, w: a + w * (b - a),
                               torch=lambda T, a, b, w: T.lerp(a, b, w)),
    "square": Spec(unary(), engine.square, np.square, torch=lambda T, a: T.square(a)),
    "frac": Spec(scaled("real", 1.5, avoid=_INTS), lambda a: a.frac(), lambda a: a - np.trunc(a),
                 torch=lambda T, a: a.frac()),
    "add_alpha": Spec(pair(), lambda a, b: engine.add(a, b, alpha=2.5), lambda a, b: a + 2.5 * b,
                      torch=lambda T, a, b: T.add(a, b, alpha=2.5)),
    "sub_alpha": Spec(pair(), lambda a, b: a.sub(b, alpha=-0.5), lambda a, b: a + 0.5 * b,
                      torch=lambda T, a, b: T.sub(a, b, alpha=-0.5)),
    "logaddexp2": Spec(pair(), lambda a, b: a.logaddexp2(b), np.logaddexp2, torch=lambda T, a, b: T.logaddexp2(a, b)),
    "rpow_int_base": Spec(unary(), lambda a: 2**a, lambda a: 2.0**a, torch=lambda T, a: 2**a),
    "abs_builtin": Spec(unary(avoid=(0.0,)), abs, np.abs, torch=lambda T, a: abs(a)),
    "clamp_number_bounds_both_none_one": Spec(unary(avoid=(-0.5,)), lambda a: engine.clamp(a, min=-0.5),
                                              lambda a: np.maximum(a, -0.5),
                                              torch=lambda T, a: T.clamp(a, min=-0.5)),
}
