"""Elementwise ops and activations against torch, values and gradients, on inputs full of the
awkward points: ties, 0 and -0, kinks (±0.5, ±1, ±3, 6), ±inf and nan, in float32 and float64.

The spec registry (test_parity_torch) compares every op in its smooth domain; here the point is
torch's conventions where the derivative is not classical: abs'(0) = 0, relu'(0) = 0, hardtanh's open
interval, clamp's closed one, maximum's split ties, fmax's whole ones, pow at 0 and ±inf, sqrt'(0) = inf,
nan propagation, the identity branch of softplus, and so on.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_specs import broadcast_shapes, shapes

import engine
import engine.functional as F
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 6.0, 0.25, 1e-3, 25.0, -25.0,
                    np.inf, -np.inf, np.nan])
DTYPES = {"float64": (np.float64, torch.float64), "float32": (np.float32, torch.float32)}
TOL = {"float64": dict(rtol=1e-7, atol=1e-12), "float32": dict(rtol=2e-5, atol=1e-6)}


def draw_values(rng, shape, finite=False):
    """Half special points, half normal * 3 (so ties between operands are common)."""
    pool = SPECIAL[np.isfinite(SPECIAL)] if finite else SPECIAL
    special = rng.choice(pool, size=shape)
    return np.where(rng.random(shape) < 0.5, special, rng.standard_normal(shape) * 3)


def Tf(name):
    return lambda T, *a, **kw: getattr(T.nn.functional, name)(*a, **kw)


def Ef(name):
    return lambda *a, **kw: getattr(F, name)(*a, **kw)


def method(name, *args, **kw):
    return lambda x: getattr(x, name)(*args, **kw)


def tmethod(name, *args, **kw):
    return lambda T, x: getattr(x, name)(*args, **kw)


UNARY = {name: (method(name), tmethod(name)) for name in [
    "abs", "sign", "floor", "ceil", "round", "trunc", "frac", "sqrt", "rsqrt", "square", "reciprocal", "exp",
    "exp2", "expm1", "log", "log2", "log10", "log1p", "erf", "erfc", "erfinv", "sin", "cos", "tan", "asin",
    "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "sigmoid", "relu", "neg", "nan_to_num",
]}
UNARY.update({
    "round_decimals_2": (method("round", decimals=2), tmethod("round", decimals=2)),
    "round_decimals_-1": (method("round", decimals=-1), tmethod("round", decimals=-1)),
    "clamp": (method("clamp", -0.5, 0.5), tmethod("clamp", -0.5, 0.5)),
    "clamp_min": (method("clamp", min=0.5), tmethod("clamp", min=0.5)),
    "clamp_max": (method("clamp", max=-0.5), tmethod("clamp", max=-0.5)),
    "clamp_inverted": (method("clamp", 1.0, -1.0), tmethod("clamp", 1.0, -1.0)),
    "pow_0": (lambda x: x**0, lambda T, x: x**0), "pow_2": (lambda x: x**2, lambda T, x: x**2),
    "pow_3": (lambda x: x**3, lambda T, x: x**3), "pow_half": (lambda x: x**0.5, lambda T, x: x**0.5),
    "pow_-1": (lambda x: x**-1, lambda T, x: x**-1), "pow_-2.5": (lambda x: x**-2.5, lambda T, x: x**-2.5),
    "rpow_2": (lambda x: 2**x, lambda T, x: 2**x), "rpow_0": (lambda x: 0.0**x, lambda T, x: 0.0**x),
    "nan_to_num_args": (method("nan_to_num", 1.5, 9.0, -9.0), tmethod("nan_to_num", 1.5, 9.0, -9.0)),
    "gelu_none": (Ef("gelu"), Tf("gelu")),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda T, x: T.nn.functional.gelu(x, approximate="tanh")),
    "relu6": (Ef("relu6"), Tf("relu6")), "hardtanh": (Ef("hardtanh"), Tf("hardtanh")),
    "hardtanh_args": (lambda x: F.hardtanh(x, -0.5, 2.0), lambda T, x: T.nn.functional.hardtanh(x, -0.5, 2.0)),
    "leaky_relu": (Ef("leaky_relu"), Tf("leaky_relu")),
    "leaky_relu_0.2": (lambda x: F.leaky_relu(x, 0.2), lambda T, x: T.nn.functional.leaky_relu(x, 0.2)),
    "elu": (Ef("elu"), Tf("elu")), "elu_2": (lambda x: F.elu(x, 2.0), lambda T, x: T.nn.functional.elu(x, 2.0)),
    "selu": (Ef("selu"), Tf("selu")), "celu_0.5": (lambda x: F.celu(x, 0.5), lambda T, x: T.nn.functional.celu(x, 0.5)),
    "silu": (Ef("silu"), Tf("silu")), "mish": (Ef("mish"), Tf("mish")), "softplus": (Ef("softplus"), Tf("softplus")),
    "softplus_2_1": (lambda x: F.softplus(x, 2.0, 1.0), lambda T, x: T.nn.functional.softplus(x, 2.0, 1.0)),
    "softsign": (Ef("softsign"), Tf("softsign")), "hardsigmoid": (Ef("hardsigmoid"), Tf("hardsigmoid")),
    "hardswish": (Ef("hardswish"), Tf("hardswish")), "logsigmoid": (Ef("logsigmoid"), Tf("logsigmoid")),
    "tanhshrink": (Ef("tanhshrink"), Tf("tanhshrink")), "softshrink": (Ef("softshrink"), Tf("softshrink")),
    "hardshrink": (Ef("hardshrink"), Tf("hardshrink")),
    "threshold": (lambda x: F.threshold(x, 0.5, -2.0), lambda T, x: T.nn.functional.threshold(x, 0.5, -2.0)),
    "rrelu_eval": (Ef("rrelu"), Tf("rrelu")), "sigmoid_F": (Ef("sigmoid"), lambda T, x: T.sigmoid(x)),
    "tanh_F": (Ef("tanh"), lambda T, x: T.tanh(x)), "relu_F": (Ef("relu"), Tf("relu")),
})

BINARY = {name: (lambda a, b, n=name: getattr(engine, n)(a, b), lambda T, a, b, n=name: getattr(T, n)(a, b))
          for name in ["add", "sub", "mul", "div", "remainder", "fmod", "pow", "atan2", "hypot", "logaddexp",
                       "logaddexp2", "copysign", "maximum", "minimum", "fmax", "fmin", "true_divide"]}
BINARY.update({
    "add_alpha": (lambda a, b: a.add(b, alpha=2), lambda T, a, b: a.add(b, alpha=2)),
    "sub_alpha": (lambda a, b: engine.sub(a, b, alpha=-0.5), lambda T, a, b: T.sub(a, b, alpha=-0.5)),
    "div_trunc": (lambda a, b: a.div(b, rounding_mode="trunc"), lambda T, a, b: a.div(b, rounding_mode="trunc")),
    "div_floor": (lambda a, b: a.div(b, rounding_mode="floor"), lambda T, a, b: a.div(b, rounding_mode="floor")),
    "clamp_min_tensor": (lambda a, b: a.clamp(min=b), lambda T, a, b: a.clamp(min=b)),
    "clamp_max_tensor": (lambda a, b: a.clamp(max=b), lambda T, a, b: a.clamp(max=b)),
    "lerp_scalar": (lambda a, b: a.lerp(b, 0.75), lambda T, a, b: a.lerp(b, 0.75)),
    "where_scalar_other": (lambda a, b: engine.where(a > b, a, 0.5), lambda T, a, b: T.where(a > b, a, 0.5)),
})
NO_TORCH_GRAD = {"floor_divide"}
# torch's own gradient at a nan input differs between its scalar path (short tensors: as ours) and its
# vectorized one (64+ entries: 0 or nan) for these, so it is not compared there.
NAN_GRAD_UNSPECIFIED = {"relu6", "hardtanh", "hardtanh_args", "elu", "elu_2", "selu", "celu_0.5", "hardswish",
                        "softshrink", "hardshrink"}  # torch: "derivative for aten::floor_divide is not implemented"
BINARY["floor_divide"] = (lambda a, b: a // b, lambda T, a, b: a // b)

TERNARY = {
    "clamp_tensors": (lambda a, lo, hi: engine.clamp(a, lo, hi), lambda T, a, lo, hi: T.clamp(a, lo, hi)),
    "lerp_tensor": (lambda a, b, w: engine.lerp(a, b, w), lambda T, a, b, w: T.lerp(a, b, w)),
}


def compare(ours, theirs, what, dtype):
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs torch {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} vs torch {theirs.dtype}"
    np.testing.assert_allclose(ours, theirs, equal_nan=True, err_msg=what, **TOL[dtype])


def run_both(fn, tfn, arrays, dtype, grads=True, seed=0, nan_grads=True):
    np_dtype, t_dtype = DTYPES[dtype]
    ts = [Tensor(a.astype(np_dtype), requires_grad=True) for a in arrays]
    tts = [torch.tensor(a.astype(np_dtype), dtype=t_dtype, requires_grad=True) for a in arrays]
    with np.errstate(all="ignore"):
        out = fn(*ts)
    tout = tfn(torch, *tts)
    compare(out.numpy(), tout, "forward", dtype)
    if not grads:
        return
    up = np.random.default_rng(seed).standard_normal(out.shape).astype(np_dtype)
    with np.errstate(all="ignore"):
        out.backward(up)
    tout.backward(torch.as_tensor(up))
    for i, (t, tt) in enumerate(zip(ts, tts)):
        ours = np.zeros(t.shape, np_dtype) if t.grad is None else t.grad.numpy()
        theirs = torch.zeros(tt.shape, dtype=t_dtype) if tt.grad is None else tt.grad
        if not nan_grads:
            keep = ~np.isnan(arrays[i])
            ours, theirs = ours[keep], theirs[torch.as_tensor(keep)]
        compare(ours, theirs, f"gradient of input {i}", dtype)


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_unary_matches_torch_at_special_points(name, dtype, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    a = draw_values(rng, data.draw(shapes(0, 3), label="shape"))
    run_both(*UNARY[name], [a], dtype, nan_grads=name not in NAN_GRAD_UNSPECIFIED)


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_binary_matches_torch_at_special_points_and_ties(name, dtype, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    sa, sb = data.draw(broadcast_shapes(max_dims=3), label="shapes").input_shapes
    run_both(*BINARY[name], [draw_values(rng, sa), draw_values(rng, sb)], dtype, grads=name not in NO_TORCH_GRAD)


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("name", sorted(TERNARY))
@given(data=st.data())
def test_ternary_matches_torch_at_special_points_and_ties(name, dtype, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    drawn = data.draw(broadcast_shapes(3, max_dims=3), label="shapes")
    # torch's clamp and lerp write into the first operand's shape: it must be the broadcast shape
    shapes_ = (drawn.result_shape, *drawn.input_shapes[1:])
    run_both(*TERNARY[name], [draw_values(rng, s, finite=True) for s in shapes_], dtype)


# ---- dim-taking activations ----------------------------------------------------------------------------

DIM_OPS = {
    "softmax": (lambda x, d: F.softmax(x, d), lambda T, x, d: T.nn.functional.softmax(x, d)),
    "log_softmax": (lambda x, d: F.log_softmax(x, dim=d), lambda T, x, d: T.nn.functional.log_softmax(x, dim=d)),
    "softmin": (lambda x, d: F.softmin(x, d), lambda T, x, d: T.nn.functional.softmin(x, d)),
    "tensor_softmax": (lambda x, d: x.softmax(d), lambda T, x, d: x.softmax(d)),
    "engine_softmax": (lambda x, d: engine.softmax(x, d), lambda T, x, d: T.softmax(x, d)),
    "normalize": (lambda x, d: F.normalize(x, dim=d), lambda T, x, d: T.nn.functional.normalize(x, dim=d)),
    "normalize_p1": (lambda x, d: F.normalize(x, 1.0, d), lambda T, x, d: T.nn.functional.normalize(x, 1.0, d)),
}


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("name", sorted(DIM_OPS))
@given(data=st.data())
def test_dim_ops_match_torch(name, dtype, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    shape = data.draw(shapes(0, 3), label="shape")
    dim = data.draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1), label="dim")
    a = draw_values(rng, shape, finite=True)
    if name.startswith("normalize") and data.draw(st.booleans(), label="zero rows"):
        a = np.where(rng.random(shape) < 0.5, 0.0, a)  # all-zero vectors: norm 0, clamped by eps
    fn, tfn = DIM_OPS[name]
    run_both(lambda x: fn(x, dim), lambda T, x: tfn(T, x, dim), [a], dtype)


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@given(data=st.data())
def test_glu_prelu_cosine_similarity_match_torch(dtype, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    shape = list(data.draw(shapes(2, 3), label="shape"))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    even = list(shape)
    even[dim] *= 2
    run_both(lambda x: F.glu(x, dim), lambda T, x: T.nn.functional.glu(x, dim), [draw_values(rng, even)], dtype)
    w = draw_values(rng, (shape[1],) if data.draw(st.booleans(), label="per channel") else (1,), finite=True)
    run_both(F.prelu, lambda T, x, w: T.nn.functional.prelu(x, w), [draw_values(rng, shape), w], dtype)
    # zero vectors stay (eps clamps their norm); the 1e-3 entries go: float32's rounding of x / |x| over a
    # norm of 1e-3 is 1e-4 absolute in the gradient, noise rather than a convention
    a, b = (draw_values(rng, shape, finite=True) for _ in range(2))
    a, b = (np.where(np.abs(v) == 1e-3, 0.5, v) for v in (a, b))
    run_both(lambda x, y: F.cosine_similarity(x, y, dim), lambda T, x, y: T.nn.functional.cosine_similarity(x, y, dim),
             [a, b], dtype)


def test_softmax_of_a_0d_tensor_is_one_and_takes_dtype():
    x = Tensor(np.float32(2.5), requires_grad=True)
    y = F.softmax(x, 0)
    assert y.shape == () and y.item() == torch.softmax(torch.tensor(2.5), 0).item()
    assert F.log_softmax(x, -1).item() == 0.0
    assert F.softmax(Tensor([1.0, 2.0]), dim=0, dtype="float64").dtype == np.float64
    assert F.softmax(Tensor([1, 2]), 0, dtype="float32").dtype == np.float32


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_relu_backward_zeroes_inf_and_passes_nan_inputs_as_torch(dtype):
    # relu's backward is a bit mask: an inf gradient where out <= 0 must give 0 (not inf·0 = nan),
    # a nan input passes its gradient on, broadcast gradients work.
    x = np.array([[-1.0, 0.0, 2.0, np.nan, 3.0, -0.0]], dtype=dtype)
    g = np.array([[np.inf, 5.0, np.nan, 7.0, -np.inf, np.nan]], dtype=dtype)
    ours = Tensor(x, requires_grad=True)
    ours.relu().backward(Tensor(g))
    theirs = torch.tensor(x, requires_grad=True)
    theirs.relu().backward(torch.tensor(g))
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    assert ours.grad.dtype == x.dtype
    ours = Tensor(np.tile(x, (3, 1)), requires_grad=True)
    ours.relu().sum().backward()  # a broadcast (stride-0) gradient of ones
    np.testing.assert_array_equal(ours.grad.numpy(), np.tile([[0, 0, 1, 1, 1, 0]], (3, 1)).astype(dtype))
