"""The gaps torch's OpInfo sweep (tests/engine/opinfo_sweep.py) found in nn.functional, the binary
elementwise ops, the reductions and the factories (session 15), each checked against torch:
values, shapes and dtypes; gradients in float64 against torch's autograd; error types."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.functional as F
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity
TF = torch.nn.functional


def R(*shape, seed=1, dtype="float64"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def same(a: Tensor, b) -> None:
    """Same shape, dtype and values (NaN where torch has NaN)."""
    b = b.detach()
    assert a.shape == tuple(b.shape) and str(a.dtype) == str(b.dtype).replace("torch.", ""), (a, b)
    np.testing.assert_allclose(a.detach().numpy(), b.numpy(), rtol=1e-10, atol=1e-12, equal_nan=True)


def both(ours, theirs, arrays, rtol=1e-10, atol=1e-12):
    """Same output as torch and, for the float64 arrays, the same gradients for a random upstream."""
    need = [a.dtype == np.float64 for a in arrays]
    ts = [Tensor(a.copy(), requires_grad=r) for a, r in zip(arrays, need)]
    tt = [torch.tensor(a, requires_grad=r) for a, r in zip(arrays, need)]
    o, t = ours(*ts), theirs(*tt)
    same(o, t)
    if any(need) and t.requires_grad:
        g = np.random.default_rng(7).standard_normal(tuple(t.shape))
        o.backward(Tensor(g))
        t.backward(torch.tensor(g))
        for i, (a, b) in enumerate(zip(ts, tt)):
            if b.requires_grad:
                expected = np.zeros(b.shape) if b.grad is None else b.grad.numpy()
                assert a.grad is not None, f"input {i}: no gradient"
                np.testing.assert_allclose(a.grad.numpy(), expected, rtol=1e-9, atol=1e-10, err_msg=f"input {i}")


def raises_as_torch(ours, theirs):
    with pytest.raises(Exception) as te:
        theirs()
    with pytest.raises(type(te.value)):
        ours()


# ---- nn.functional -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "uint8"])
@pytest.mark.parametrize("args", [(), (-1.5, 2.5), (-0.5, 0.5), (0.0, 100.0)])
def test_hardtanh_keeps_an_integer_dtype_with_truncated_bounds_as_torch(dtype, args):
    x = np.array([-2, 0, 1, 3, 7, 120]).astype(dtype)
    if dtype == "uint8" and int(args[0] if args else -1) < 0:  # torch: negative limits on an unsigned type
        raises_as_torch(lambda: F.hardtanh(Tensor(x), *args), lambda: TF.hardtanh(torch.tensor(x), *args))
        return
    same(F.hardtanh(Tensor(x), *args), TF.hardtanh(torch.tensor(x), *args))
    same(F.relu6(Tensor(x)), TF.relu6(torch.tensor(x)))
    t, tt = Tensor(x.copy()), torch.tensor(x)
    F.hardtanh_(t, *args)
    TF.hardtanh_(tt, *args)
    same(t, tt)


def test_hardtanh_refuses_bool_as_torch():
    x = np.array([True, False])
    raises_as_torch(lambda: F.hardtanh(Tensor(x)), lambda: TF.hardtanh(torch.tensor(x)))
    raises_as_torch(lambda: F.relu6(Tensor(x)), lambda: TF.relu6(torch.tensor(x)))


def test_hardtanh_float_values_and_gradient_as_torch():
    x = np.array([-2.0, -1.0, -0.3, 0.0, 0.7, 1.0, 3.0, 6.0, 7.0])
    both(lambda t: F.hardtanh(t, -1.0, 1.0), lambda t: TF.hardtanh(t, -1.0, 1.0), [x])
    both(F.relu6, TF.relu6, [x])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_margin_ranking_loss_on_integers_is_float32_as_torch(reduction):
    a, b, y = np.array([1, 2, 3, -4]), np.array([2, 1, 3, 0]), np.array([1, -1, 1, -1])
    same(F.margin_ranking_loss(Tensor(a), Tensor(b), Tensor(y), reduction=reduction),
         TF.margin_ranking_loss(torch.tensor(a), torch.tensor(b), torch.tensor(y), reduction=reduction))
    same(F.margin_ranking_loss(Tensor(a), Tensor(b), Tensor(y), margin=2, reduction=reduction),
         TF.margin_ranking_loss(torch.tensor(a), torch.tensor(b), torch.tensor(y), margin=2, reduction=reduction))


def test_bilinear_with_an_empty_batch_as_torch():
    both(F.bilinear, TF.bilinear, [R(0, 3), R(0, 4, seed=2), R(5, 3, 4, seed=3), R(5, seed=4)])
    both(F.bilinear, TF.bilinear, [R(2, 0, 3), R(2, 0, 4, seed=2), R(5, 3, 4, seed=3)])


def test_einsum_lets_an_empty_dim_meet_a_size_one_dim_as_torch():
    same(engine.einsum("ij,j->i", engine.ones(0, 1), engine.ones(3)),
         torch.einsum("ij,j->i", torch.ones(0, 1), torch.ones(3)))
    same(engine.einsum("ij,ij->i", engine.ones(1, 3), engine.ones(0, 3)),
         torch.einsum("ij,ij->i", torch.ones(1, 3), torch.ones(0, 3)))


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_on_empty_inputs_as_torch(training):
    e = np.zeros(0)
    same(F.batch_norm(Tensor(e), Tensor(e), Tensor(e), training=training),
         TF.batch_norm(torch.tensor(e), torch.tensor(e), torch.tensor(e), training=training))
    same(F.batch_norm(Tensor(e), None, None, training=training),
         TF.batch_norm(torch.tensor(e), None, None, training=training))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(0, 3), (2, 3, 0)])
def test_batch_norm_on_an_empty_batch_leaves_the_running_stats_as_torch(training, shape):
    rm, rv = np.zeros(3), np.ones(3)
    ours_rm, ours_rv, torch_rm, torch_rv = Tensor(rm), Tensor(rv), torch.tensor(rm), torch.tensor(rv)
    both(lambda x, w, b: F.batch_norm(x, ours_rm, ours_rv, w, b, training=training),
         lambda x, w, b: TF.batch_norm(x, torch_rm, torch_rv, w, b, training=training),
         [np.zeros(shape), R(3), R(3, seed=2)])
    same(ours_rm, torch_rm)
    same(ours_rv, torch_rv)
    same(F.batch_norm(Tensor(np.zeros(shape)), None, None, training=training),
         TF.batch_norm(torch.zeros(shape, dtype=torch.float64), None, None, training=training))


@pytest.mark.parametrize("shape", [(3,), (1, 3), (1, 3, 1)])
def test_batch_norm_rank_and_single_value_errors_as_torch(shape):
    x = np.ones(shape)
    raises_as_torch(lambda: F.batch_norm(Tensor(x), None, None, training=True),
                    lambda: TF.batch_norm(torch.tensor(x), None, None, training=True))


def test_batch_norm_one_sample_with_spatial_values_trains_as_torch():
    both(lambda x: F.batch_norm(x, None, None, training=True),
         lambda x: TF.batch_norm(x, None, None, training=True), [R(1, 3, 2)])


@pytest.mark.parametrize("nd", [2, 3])
def test_fractional_max_pool_with_an_empty_batch_as_torch(nd):
    shape, k, r = ((0, 1, 4, 5), (2, 2), (0.5, 0.5)) if nd == 2 else ((0, 1, 4, 5, 4), (2, 2, 1), (0.5,) * 3)
    ours = getattr(F, f"fractional_max_pool{nd}d")
    theirs = getattr(TF, f"fractional_max_pool{nd}d")
    x = Tensor(np.zeros(shape), requires_grad=True)
    y, i = ours(x, k, output_ratio=r, return_indices=True)
    ty, ti = theirs(torch.zeros(shape, dtype=torch.float64), k, output_ratio=r, return_indices=True)
    same(y, ty)
    same(i, ti)
    y.sum().backward()
    assert x.grad.shape == shape


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("case", ["0d", "1d_target1", "1d_target0d"])
def test_multi_margin_loss_one_sample_shapes_as_torch(reduction, case):
    x, t = {"0d": (R(), np.array(0)), "1d_target1": (R(5), np.array([1])),
            "1d_target0d": (R(5), np.array(3))}[case]
    both(lambda a: F.multi_margin_loss(a, Tensor(t), margin=-3.14 if case == "0d" else 1.0, reduction=reduction),
         lambda a: TF.multi_margin_loss(a, torch.tensor(t), margin=-3.14 if case == "0d" else 1.0,
                                        reduction=reduction), [x])
    w = R(5, seed=3) if x.ndim else R(1, seed=3)
    both(lambda a: F.multi_margin_loss(a, Tensor(t), p=2, margin=7, weight=Tensor(w), reduction=reduction),
         lambda a: TF.multi_margin_loss(a, torch.tensor(t), p=2, margin=7, weight=torch.tensor(w),
                                        reduction=reduction), [x])


@pytest.mark.parametrize("wshape", [(), (5, 4)])
def test_multi_margin_loss_weight_not_1d_is_a_value_error_before_the_target_check_as_torch(wshape):
    x, t, w = R(5, 4, dtype="float32"), R(5, dtype="float32"), R(*wshape, dtype="float32")
    raises_as_torch(lambda: F.multi_margin_loss(Tensor(x), Tensor(t), weight=Tensor(w)),
                    lambda: TF.multi_margin_loss(torch.tensor(x), torch.tensor(t), weight=torch.tensor(w)))


@pytest.mark.parametrize("pads", [(-4, 5, 0, 0), (0, 0, 2, -4), (-5, 6, 0, 0), (-6, 6, 1, 1), (2, -3, -1, 0),
                                  (-3, -1, 0, 0), (1, 2, 3, 0)])
def test_pad_replicate_with_negative_widths_clamps_into_the_uncropped_input_as_torch(pads):
    both(lambda x: F.pad(x, pads, "replicate"), lambda x: TF.pad(x, pads, "replicate"), [R(2, 3, 4, 5)])


@pytest.mark.parametrize("pads", [(-3, 0), (0, -3), (-2, -1)])
def test_pad_replicate_to_an_empty_output_is_refused_as_torch(pads):
    x = R(1, 1, 3)
    raises_as_torch(lambda: F.pad(Tensor(x), pads, "replicate"), lambda: TF.pad(torch.tensor(x), pads, "replicate"))


@pytest.mark.parametrize("kw", [{}, {"padding": 1}, {"stride": 2, "dilation": 2}])
@pytest.mark.parametrize("shape", [(2, 3, 5, 5), (0, 1, 5, 5), (3, 5, 5)])
def test_unfold_on_bool_as_torch(kw, shape):
    x = np.random.default_rng(0).random(shape) > 0.5
    same(F.unfold(Tensor(x), 2, **kw), TF.unfold(torch.tensor(x), 2, **kw))


def test_unfold_still_refuses_integers_as_torch():
    x = np.zeros((1, 1, 3, 3), dtype=np.int64)
    raises_as_torch(lambda: F.unfold(Tensor(x), 2), lambda: TF.unfold(torch.tensor(x), 2))


@pytest.mark.parametrize("name", ["adaptive_avg_pool1d", "adaptive_max_pool1d", "adaptive_avg_pool2d",
                                  "adaptive_max_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool3d"])
@pytest.mark.parametrize("shape", [(2,), (2, 2), (2, 2, 2), (2, 2, 2, 2)])
@pytest.mark.parametrize("out", [2, (2, 2), (2, 2, 2), (None, 2)])
def test_adaptive_pool_rank_errors_as_torch(name, shape, out):
    x = np.ones(shape, dtype=np.float32)
    try:
        expected = getattr(TF, name)(torch.tensor(x), out)
    except Exception as e:  # noqa: BLE001
        with pytest.raises(type(e)):
            getattr(F, name)(Tensor(x), out)
        return
    got = getattr(F, name)(Tensor(x), out)
    same(got[0] if isinstance(got, tuple) else got, expected[0] if isinstance(expected, tuple) else expected)


def test_rms_norm_refuses_an_empty_normalized_shape_as_torch():
    x = R(1, 2, 3, dtype="float32")
    raises_as_torch(lambda: F.rms_norm(Tensor(x), ()), lambda: TF.rms_norm(torch.tensor(x), ()))
    both(lambda a: F.rms_norm(a, (3,)), lambda a: TF.rms_norm(a, (3,)), [R(2, 3)])


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 3), (), (1,), (2, 3)])
def test_multilabel_margin_loss_empty_inputs_as_torch(shape):
    x = R(*shape)
    t = np.zeros(shape, dtype=np.int64) if not shape or shape[-1] < 2 else np.tile([2, 0, -1], shape[:-1] + (1,))
    try:
        expected = TF.multilabel_margin_loss(torch.tensor(x), torch.tensor(t), reduction="none")
    except Exception as e:  # noqa: BLE001
        with pytest.raises(type(e)):
            F.multilabel_margin_loss(Tensor(x), Tensor(t), reduction="none")
        return
    same(F.multilabel_margin_loss(Tensor(x), Tensor(t), reduction="none"), expected)


@pytest.mark.parametrize("case", ["plain", "bias", "unbatched", "kdim", "probs", "weight_smooth", "ignore"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_linear_cross_entropy_equals_torch(case, reduction):
    x, w, b = R(4, 3), R(5, 3, seed=2), R(5, seed=3)
    t = np.array([0, 4, 2, 1])
    kw = {"reduction": reduction}
    if case == "unbatched":
        x, t = x[0], t[0]
    if case == "kdim":
        w, b, t = R(5, 2, 3, seed=2), R(5, 2, seed=3), np.array([[0, 1], [4, 4], [2, 0], [3, 3]])
    if case == "probs":
        t = np.random.default_rng(5).dirichlet(np.ones(5), 4)
    if case == "weight_smooth":
        kw.update(label_smoothing=0.2)
    if case == "ignore":
        kw.update(ignore_index=4)
    args = [x, w, t] + ([b] if case in ("bias", "kdim") else [])
    cw = R(5, seed=9) ** 2 if case == "weight_smooth" else None

    def call(mod, tensor):
        def f(x, w, t, b=None):
            return mod.linear_cross_entropy(x, w, t, linear_bias=b, weight=None if cw is None else tensor(cw), **kw)
        return f

    both(call(F, Tensor), call(TF, torch.tensor), args)


def test_linear_cross_entropy_options_change_nothing():
    x, w, t = R(6, 3), R(5, 3, seed=2), np.array([0, 4, 2, 1, 3, 3])
    ref = F.linear_cross_entropy(Tensor(x), Tensor(w), Tensor(t))
    theirs = TF.linear_cross_entropy(torch.tensor(x), torch.tensor(w), torch.tensor(t),
                                     options=torch.nn.LinearCrossEntropyOptions())
    same(F.linear_cross_entropy(Tensor(x), Tensor(w), Tensor(t), options=object()), theirs)
    same(ref, theirs)


@pytest.mark.parametrize("case", ["input3d", "weight1d", "in_features", "bias_shape", "kdim_unbatched",
                                  "probs_ignore"])
def test_linear_cross_entropy_errors_as_torch(case):
    x, w, t, kw = R(4, 3), R(5, 3), np.array([0, 1, 2, 3]), {}
    if case == "input3d":
        x = R(2, 4, 3)
    elif case == "weight1d":
        w = R(3)
    elif case == "in_features":
        w = R(5, 2)
    elif case == "bias_shape":
        kw = {"linear_bias": R(4)}
    elif case == "kdim_unbatched":
        x, w, t = R(3), R(5, 2, 3), np.array([0, 1])
    else:
        t, kw = np.full((4, 5), 0.2), {"ignore_index": 1}
    tw = {k: torch.tensor(v) for k, v in kw.items() if isinstance(v, np.ndarray)} | \
        {k: v for k, v in kw.items() if not isinstance(v, np.ndarray)}
    ow = {k: Tensor(v) for k, v in kw.items() if isinstance(v, np.ndarray)} | \
        {k: v for k, v in kw.items() if not isinstance(v, np.ndarray)}
    raises_as_torch(lambda: F.linear_cross_entropy(Tensor(x), Tensor(w), Tensor(t), **ow),
                    lambda: TF.linear_cross_entropy(torch.tensor(x), torch.tensor(w), torch.tensor(t), **tw))


# ---- elementwise binary / ternary --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "int64", "float64"])
def test_float_power_in_place_needs_a_float64_self_as_torch(dtype):
    x = np.array([1.5, 2.0, 3.0]).astype(dtype)
    try:
        expected = torch.tensor(x).float_power_(2)
    except RuntimeError:
        with pytest.raises(RuntimeError, match="float_power_"):
            Tensor(x).float_power_(2)
        return
    t = Tensor(x)
    assert t.float_power_(2) is t
    same(t, expected)


@pytest.mark.parametrize("method, args", [("clamp_", ((1, 4, 4), (4, 4))), ("add_", ((2, 4, 4),)),
                                          ("mul_", ((4, 4),)), ("clamp_", ((4,), (1, 4)))])
def test_in_place_result_that_would_broadcast_self_is_refused_as_torch(method, args):
    x = R(4, 4)
    ours = [Tensor(R(*s, seed=i + 2)) for i, s in enumerate(args)]
    theirs = [torch.tensor(R(*s, seed=i + 2)) for i, s in enumerate(args)]
    try:
        expected = getattr(torch.tensor(x), method)(*theirs)
    except RuntimeError:
        with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
            getattr(Tensor(x), method)(*ours)
        return
    same(getattr(Tensor(x), method)(*ours), expected)


def test_nextafter_gradient_is_one_to_input_and_zero_to_other_as_torch():
    a, b = R(3, 4), R(4, seed=2)
    both(engine.nextafter, torch.nextafter, [a, b], rtol=0, atol=0)
    both(engine.nextafter, torch.nextafter, [a, np.array(np.inf)], rtol=0, atol=0)


def test_frexp_mantissa_gradient_is_grad_over_two_to_the_exponent_as_torch():
    x = np.array([1.0, 6.0, -0.3, 1e-300, 3e5, 0.0, -0.0, np.inf, np.nan])
    both(lambda t: engine.frexp(t).mantissa, lambda t: torch.frexp(t).mantissa, [x], rtol=0, atol=0)
    same(engine.frexp(Tensor(x)).exponent, torch.frexp(torch.tensor(x)).exponent)
    same(engine.frexp(Tensor(x.astype("float32"))).mantissa, torch.frexp(torch.tensor(x.astype("float32"))).mantissa)


SCALAR_STRICT = ["maximum", "minimum", "fmax", "fmin", "atan2", "arctan2", "hypot", "logaddexp", "logaddexp2",
                 "ldexp", "nextafter", "gcd", "lcm", "heaviside", "logical_and", "logical_or", "logical_xor", "xlogy",
                 "rsub", "isclose", "allclose", "equal"]


@pytest.mark.parametrize("name", SCALAR_STRICT)
@pytest.mark.parametrize("order", ["tensor_number", "number_tensor", "numbers"])
def test_binary_functions_with_a_number_operand_as_torch(name, order):
    x = np.array([1, 2, 3]) if name in ("gcd", "lcm") else np.array([1.0, 2.0, 3.0])
    args = {"tensor_number": (x, 2), "number_tensor": (2, x), "numbers": (2, 3)}[order]
    to = [torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    ours = [Tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    try:
        expected = getattr(torch, name)(*to)
    except TypeError:
        with pytest.raises(TypeError, match=name):
            getattr(engine, name)(*ours)
        return
    got = getattr(engine, name)(*ours)
    if isinstance(expected, bool):
        assert got == expected
    else:
        same(got, expected)


@pytest.mark.parametrize("kw", [{"rtol": -0.4}, {"atol": -0.4}, {"rtol": -1e-9, "atol": 1.0}])
def test_isclose_refuses_negative_tolerances_as_torch(kw):
    a, b = np.array(-8.4), np.array(-1.7)
    raises_as_torch(lambda: engine.isclose(Tensor(a), Tensor(b), **kw), lambda: torch.isclose(torch.tensor(a),
                                                                                               torch.tensor(b), **kw))
    raises_as_torch(lambda: engine.allclose(Tensor(a), Tensor(b), **kw), lambda: torch.allclose(torch.tensor(a),
                                                                                                 torch.tensor(b), **kw))


# ---- reductions -------------------------------------------------------------------------------------


@pytest.mark.parametrize("edge_order", [1, 2])
@pytest.mark.parametrize("shape", [(5,), (4, 5)])
def test_gradient_with_explicit_none_defaults_as_torch(edge_order, shape):
    x = R(*shape)
    ours = engine.gradient(Tensor(x), spacing=None, dim=None, edge_order=edge_order)
    theirs = torch.gradient(torch.tensor(x), spacing=None, dim=None, edge_order=edge_order)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        same(a, b)


@pytest.mark.parametrize("name", ["amax", "amin", "sum", "mean", "std", "logsumexp", "any"])
@pytest.mark.parametrize("dim", [(0, 0), (0, -4), (1, 2, -2)])
def test_reductions_refuse_a_repeated_dim_as_torch(name, dim):
    x = R(2, 3, 4, 5)
    raises_as_torch(lambda: getattr(engine, name)(Tensor(x), dim), lambda: getattr(torch, name)(torch.tensor(x), dim))


def test_reductions_over_distinct_dims_still_match_torch():
    x = R(2, 3, 4)
    for name in ["amax", "sum", "mean"]:
        both(lambda t, name=name: getattr(engine, name)(t, (0, -1)),
             lambda t, name=name: getattr(torch, name)(t, (0, -1)), [x])


def test_zero_d_reduction_refuses_dim_0_and_minus_1_together_as_torch():
    raises_as_torch(lambda: engine.sum(Tensor(np.array(1.0)), (0, -1)),
                    lambda: torch.sum(torch.tensor(1.0), (0, -1)))
    same(engine.sum(Tensor(np.array(1.0)), (0,)), torch.sum(torch.tensor(1.0, dtype=torch.float64), (0,)))


def test_gradient_refuses_a_repeated_dim_as_torch():
    x = R(3, 3)
    raises_as_torch(lambda: engine.gradient(Tensor(x), spacing=0.1, dim=(1, 1)),
                    lambda: torch.gradient(torch.tensor(x), spacing=0.1, dim=(1, 1)))


@pytest.mark.parametrize("which", ["fweights", "aweights"])
def test_cov_refuses_negative_weights_as_torch(which):
    x = R(5)
    w = np.array([1, 2, -3, 4, 5]) if which == "fweights" else np.array([1.0, 2.0, -3.0, 4.0, 5.0])
    raises_as_torch(lambda: engine.cov(Tensor(x), **{which: Tensor(w)}),
                    lambda: torch.cov(torch.tensor(x), **{which: torch.tensor(w)}))
    w = np.abs(w)
    same(engine.cov(Tensor(x), **{which: Tensor(w)}), torch.cov(torch.tensor(x), **{which: torch.tensor(w)}))


def test_diff_refuses_a_negative_order_as_torch():
    x = R(1, 3)
    raises_as_torch(lambda: engine.diff(Tensor(x), -1), lambda: torch.diff(torch.tensor(x), -1))


# ---- random / factories -----------------------------------------------------------------------------


@pytest.mark.parametrize("start, end, steps", [(4.3, -3, 50), (-3.7, 9.9, 7), (2.5, 2.5, 1), (-2.0, -3, 1),
                                               (0, 100, 8), (-1.9, 1.9, 4), (5, 5, 0)])
@pytest.mark.parametrize("dtype", ["int64", "int32", "int16"])
def test_linspace_integer_dtypes_as_torch(start, end, steps, dtype):
    same(engine.linspace(start, end, steps, dtype=getattr(engine, dtype)),
         torch.linspace(start, end, steps, dtype=getattr(torch, dtype)))
    same(engine.linspace(Tensor(np.array(start)), Tensor(np.array(end)), steps, dtype=getattr(engine, dtype)),
         torch.linspace(torch.tensor(start), torch.tensor(end), steps, dtype=getattr(torch, dtype)))


def test_linspace_uint8_counting_down_as_torch():
    same(engine.linspace(200, 0, 9, dtype=engine.uint8), torch.linspace(200, 0, 9, dtype=torch.uint8))


@pytest.mark.parametrize("name", ["linspace", "logspace"])
@pytest.mark.parametrize("shapes", [((2,), (2,)), ((1,), ()), ((), (1,))])
def test_linspace_logspace_refuse_bounds_that_are_not_0d_as_torch(name, shapes):
    a, b = np.ones(shapes[0]), np.full(shapes[1], 3.0)
    raises_as_torch(lambda: getattr(engine, name)(Tensor(a), Tensor(b), 1),
                    lambda: getattr(torch, name)(torch.tensor(a), torch.tensor(b), 1))


def test_logspace_takes_0d_tensor_bounds_as_torch():
    same(engine.logspace(Tensor(np.array(1.0)), Tensor(np.array(3.0)), 5),
         torch.logspace(torch.tensor(1.0, dtype=torch.float64), torch.tensor(3.0, dtype=torch.float64), 5))


@pytest.mark.parametrize("args", [(0, np.inf, 2), (-np.inf, 1, 2), (np.nan, 1), (np.inf,)])
def test_arange_refuses_an_infinite_or_nan_range_as_torch(args):
    raises_as_torch(lambda: engine.arange(*args), lambda: torch.arange(*args))


@pytest.mark.parametrize("sigma", [0.0, -1.0])
def test_cauchy_refuses_a_non_positive_sigma_as_torch(sigma):
    raises_as_torch(lambda: engine.empty(3).cauchy_(0, sigma), lambda: torch.empty(3).cauchy_(0, sigma))
