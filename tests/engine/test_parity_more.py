"""torch comparisons (values and gradients) for the ops and fixes of issue 15's second round:
float32/float64 promotion, bool subtraction, roll of a 0-d tensor, index errors in torch's words,
and the ops added by engine/torch_more.py (linalg, F extras, Tensor extras)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import engine  # noqa: E402
from engine import Tensor  # noqa: E402


def _same_error(fn_ours, fn_torch):
    """Both raise the same exception type with the same message (ours may prefix the op name)."""
    with pytest.raises(Exception) as theirs:
        fn_torch()
    with pytest.raises(type(theirs.value)) as ours:
        fn_ours()
    assert str(theirs.value) in str(ours.value), (str(ours.value), str(theirs.value))


def test_float32_with_float64_promotes_and_backprops_as_torch():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    for op in (lambda x, y: x * y + x, lambda x, y: x / y - y, lambda x, y: engine.where(x > 0, x, y)
               if isinstance(x, Tensor) else torch.where(x > 0, x, y)):
        x, y = Tensor(a.astype(np.float32), requires_grad=True), Tensor(b, requires_grad=True)
        tx, ty = torch.tensor(a.astype(np.float32), requires_grad=True), torch.tensor(b, requires_grad=True)
        z, tz = op(x, y), op(tx, ty)
        assert str(z.dtype) == str(tz.dtype).replace("torch.", "")
        np.testing.assert_allclose(z.numpy(), tz.detach().numpy(), rtol=1e-12)
        z.sum().backward()
        tz.sum().backward()
        assert x.grad.dtype == np.float32 and y.grad.dtype == np.float64
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
        np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-6)


def test_bool_subtraction_raises_as_torch():
    for a, b in (([True], [False]), ([True], True), ([True], 1), ([1], [True]), (True, [False])):
        def sub(f, a=a, b=b):
            return (f(a) if isinstance(a, list) else a) - (f(b) if isinstance(b, list) else b)
        _same_error(lambda: sub(engine.tensor), lambda: sub(torch.tensor))


def test_roll_of_a_0d_tensor_as_torch():
    assert engine.tensor(3.0).roll(1).item() == torch.tensor(3.0).roll(1).item()
    for dims in (0, -1, (0,)):
        _same_error(lambda d=dims: engine.tensor(3.0).roll(1, d), lambda d=dims: torch.tensor(3.0).roll(1, d))


def test_index_out_of_range_says_dimension_as_torch():
    a, ta = engine.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 2.0]])
    _same_error(lambda: a[0, 5], lambda: ta[0, 5])
    _same_error(lambda: a[3], lambda: ta[3])


@pytest.mark.parametrize("fn", ["std_mean", "var_mean"])
def test_std_mean_var_mean_with_inf_as_torch(fn):
    for v in ([1.0, float("inf")], [float("-inf"), float("inf")], [1.0, 2.0, float("nan")], [float("inf")]):
        ours = getattr(engine, fn)(engine.tensor(v))
        theirs = getattr(torch, fn)(torch.tensor(v))
        for o, t in zip(ours, theirs):
            np.testing.assert_array_equal(o.numpy(), t.numpy())


# ---- ops without a gradient, or outside the registry's draws: direct torch comparisons ---------------

import torch.nn.functional as TF  # noqa: E402

import engine.functional as F  # noqa: E402

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4, 4))
X = RNG.integers(0, 6, 20)


def _same(ours, theirs):
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        assert o.shape == tuple(t.shape), (o.shape, t.shape)
        assert str(o.dtype) == str(t.dtype).replace("torch.", ""), (o.dtype, t.dtype)
        np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)


NO_GRAD_CASES = {
    "bincount": (lambda E: E.tensor(X).bincount(minlength=8)),
    "bincount_weights": (lambda E: E.tensor(X).bincount(E.tensor(X * 0.5))),
    "bincount_weights_float32": (lambda E: E.bincount(E.tensor(X), E.tensor((X * 0.5).astype(np.float32)))),
    "histc": (lambda E: E.tensor(A).histc(7)),
    "histc_range": (lambda E: E.histc(E.tensor(A), 5, -1, 1)),
    "unique_consecutive": (lambda E: E.tensor(np.sort(X)).unique_consecutive(return_inverse=True, return_counts=True)),
    "unique_consecutive_dim": (lambda E: E.tensor(X.reshape(10, 2) // 3).unique_consecutive(dim=0,
                                                                                           return_inverse=True)),
    "searchsorted_right": (lambda E: E.searchsorted(E.tensor(np.sort(X)), E.tensor(X[:5]), right=True)),
    "searchsorted_side_int32": (lambda E: E.searchsorted(E.tensor(np.sort(X)), E.tensor(X[:5]), side="right",
                                                         out_int32=True)),
    "searchsorted_batched": (lambda E: E.searchsorted(E.tensor(np.sort(A, -1)), E.tensor(A[..., :2]))),
    "bucketize": (lambda E: E.bucketize(E.tensor(A), E.tensor([-1.0, 0, 1]))),
    "tril_indices": (lambda E: E.tril_indices(3, 4, 1)),
    "triu_indices": (lambda E: E.triu_indices(4, 3, -1)),
    "argwhere": (lambda E: E.argwhere(E.tensor(X.reshape(4, 5) > 2))),
    "signbit": (lambda E: E.tensor([-0.0, 1, -2]).signbit()),
    "heaviside": (lambda E: E.tensor([-1.0, 0, 2]).heaviside(E.tensor([0.5]))),
    "matrix_rank": (lambda E: E.linalg.matrix_rank(E.tensor(A[:, :, :2] @ A[:, :2, :]))),
    "svdvals_via_svd": (lambda E: E.linalg.svd(E.tensor(A), full_matrices=False)[1]),
    "qr_r_abs": (lambda E: E.linalg.qr(E.tensor(A))[1].abs()),
    "qr_wide_forward": (lambda E: E.linalg.qr(E.tensor(A[0, :3]))[1]),
    "qr_complete_tall_forward": (lambda E: E.linalg.qr(E.tensor(A[0, :, :3]), mode="complete")[0]),
    "fill_diagonal_": (lambda E: E.zeros(3, 5).fill_diagonal_(2.0)),
    "fill_diagonal_wrap": (lambda E: E.zeros(7, 2).fill_diagonal_(2.0, wrap=True)),
    "fill_diagonal_3d": (lambda E: E.zeros(3, 3, 3).fill_diagonal_(2.0)),
    "masked_fill_": (lambda E: E.zeros(3).masked_fill_(E.tensor([True, False, True]), 2.0)),
    "index_add_": (lambda E: E.zeros(3).index_add_(0, E.tensor([0, 0, 2]), E.tensor([1.0, 2, 3]))),
    "scatter_add_": (lambda E: E.zeros(3).scatter_add_(0, E.tensor([0, 0, 2]), E.tensor([1.0, 2, 3]))),
    "tril_": (lambda E: E.tensor(A[0]).tril_(-1)),
    "addcmul_": (lambda E: E.tensor(A[0]).addcmul_(E.tensor(A[1]), E.tensor(A[2]), value=0.5)),
    "t_": (lambda E: E.tensor(A[0]).t_()),
    "unsqueeze_": (lambda E: E.tensor(A[0]).unsqueeze_(1)),
    "squeeze_": (lambda E: E.tensor(A[:1]).squeeze_(0)),
    "transpose_": (lambda E: E.tensor(A).transpose_(0, 2)),
    "diff_n0": (lambda E: E.tensor(A).diff(0, append=E.tensor(A))),
    "diff_bool": (lambda E: E.tensor(X > 2).diff()),
    "rot90_int": (lambda E: E.tensor(X.reshape(4, 5)).rot90(3)),
    "deg2rad_int": (lambda E: E.tensor(X).deg2rad()),
    "mH": (lambda E: E.tensor(A).mH),
    "H": (lambda E: E.tensor(A[0]).H),
    "broadcast_shapes": (lambda E: E.tensor(list(E.broadcast_shapes((2, 1), (3,), 1)))),
    "rms_norm_default_eps_float32": (lambda E: (F if E is engine else TF).rms_norm(
        E.tensor(np.array([[0.047, 0.0], [1.0, 2.0]], dtype=np.float32)), (2,))),
    "logdet_negative_det_is_nan": (lambda E: E.tensor([[0.0, 1.0], [1.0, 0.0]]).logdet()),
}


@pytest.mark.parametrize("name", sorted(NO_GRAD_CASES))
def test_no_grad_op_matches_torch(name):
    fn = NO_GRAD_CASES[name]
    _same(fn(engine), fn(torch))


def test_torch_level_helpers():
    assert engine.numel(engine.zeros(2, 3)) == 6 and engine.is_tensor(engine.zeros(1))
    assert engine.is_floating_point(engine.zeros(1)) and not engine.is_floating_point(engine.tensor([1]))
    assert engine.get_default_dtype() == np.float32
    x = engine.tensor([1.0], requires_grad=True)
    with engine.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    engine.set_grad_enabled(False)
    assert not engine.is_grad_enabled()
    engine.set_grad_enabled(True)
    assert engine.is_grad_enabled()


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_matches_torch(mode, padding_mode, align_corners):
    x, g = RNG.standard_normal((2, 3, 5, 4)), RNG.uniform(-1.3, 1.3, (2, 3, 7, 2))
    ours = [engine.tensor(a, requires_grad=True) for a in (x, g)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, g)]
    o = F.grid_sample(*ours, mode, padding_mode, align_corners)
    t = TF.grid_sample(*theirs, mode, padding_mode, align_corners)
    _same(o, t)
    up = RNG.standard_normal(o.shape)
    o.backward(up)
    t.backward(torch.tensor(up))
    np.testing.assert_allclose(ours[0].grad.numpy(), theirs[0].grad.numpy(), rtol=1e-10, atol=1e-12)
    if mode == "bilinear":
        np.testing.assert_allclose(ours[1].grad.numpy(), theirs[1].grad.numpy(), rtol=1e-8, atol=1e-10)


def test_instance_norm_running_stats_move_as_torch():
    x = RNG.standard_normal((2, 6, 5))
    rm, rv = engine.zeros(6, dtype=engine.float64), engine.ones(6, dtype=engine.float64)
    trm, trv = torch.zeros(6, dtype=torch.float64), torch.ones(6, dtype=torch.float64)
    _same(F.instance_norm(engine.tensor(x), rm, rv, momentum=0.3), TF.instance_norm(torch.tensor(x), trm, trv,
                                                                                  momentum=0.3))
    _same((rm, rv), (trm, trv))
    _same(F.instance_norm(engine.tensor(x), rm, rv, use_input_stats=False),
          TF.instance_norm(torch.tensor(x), trm, trv, use_input_stats=False))


def test_channel_dropouts_drop_whole_channels_with_rate_p():
    engine.manual_seed(0)
    for fn, shape in ((F.dropout1d, (4000, 3, 5)), (F.dropout2d, (1000, 3, 2, 4)), (F.dropout3d, (500, 3, 2, 2, 2)),
                      (F.dropout1d, (3000, 5))):
        y = fn(engine.ones(*shape), 0.25).numpy()
        first = y.reshape(shape[0], -1) if len(shape) == 2 else y.reshape(shape[0] * shape[1], -1)
        assert (first == first[:, :1]).all()  # one value per channel
        assert np.all((first == 0) | np.isclose(first, 1 / 0.75, rtol=1e-6))
        assert abs((first[:, 0] == 0).mean() - 0.25) < 0.03
        assert fn(engine.ones(*shape), 0.25, training=False).numpy().min() == 1
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input"):
        F.dropout1d(engine.ones(2, 3, 4, 5), 0.5)


def test_alpha_dropouts_keep_mean_and_variance():
    engine.manual_seed(1)
    for z in (F.alpha_dropout(engine.randn(200_000), 0.3, training=True),
              F.feature_alpha_dropout(engine.randn(2000, 50, 4), 0.3, training=True)):
        assert abs(z.mean().item()) < 0.02 and abs(z.std().item() - 1) < 0.02
    x = engine.randn(10)
    assert F.alpha_dropout(x, 0.5) is x  # training=False by default, as torch


def test_gumbel_softmax_soft_and_hard():
    engine.manual_seed(2)
    logits = engine.randn(6, 5, requires_grad=True)
    y = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(y.sum(-1).numpy(), 1, rtol=1e-6)
    h = F.gumbel_softmax(logits, hard=True)
    assert set(np.unique(h.numpy())) <= {0.0, 1.0} and (h.numpy().sum(-1) == 1).all()
    h.sum().backward()
    assert logits.grad is not None
    # one class far ahead wins almost always
    big = engine.tensor([[0.0, 30.0, 0.0]])
    assert F.gumbel_softmax(big, hard=True).numpy().argmax() == 1


@pytest.mark.parametrize("name", ["max_pool1d", "max_pool2d", "adaptive_max_pool2d"])
def test_with_indices_spellings(name):
    x = RNG.standard_normal((2, 3, 6, 6))[..., 0, :] if name.endswith("1d") else RNG.standard_normal((2, 3, 6, 6))
    arg = 3 if name.startswith("adaptive") else 2
    o = getattr(F, name + "_with_indices")(engine.tensor(x), arg)
    t = getattr(TF, name + "_with_indices")(torch.tensor(x), arg)
    _same(tuple(o), tuple(t))


def test_bad_input_errors_name_the_op_and_shapes():
    with pytest.raises(RuntimeError, match=r"linalg.inv: A must be batches of square matrices.*\(2, 3\)"):
        engine.linalg.inv(engine.zeros(2, 3))
    with pytest.raises(RuntimeError, match="singular"):
        engine.linalg.inv(engine.zeros(2, 2))
    with pytest.raises(RuntimeError, match="linalg.solve: Incompatible shapes"):
        engine.linalg.solve(engine.eye(3), engine.zeros(2, 1))
    with pytest.raises(RuntimeError, match="positive-definite"):
        engine.linalg.cholesky(-engine.eye(2))
    with pytest.raises(RuntimeError, match="cross: inputs dimension 0 must have length 3"):
        engine.cross(engine.zeros(2), engine.zeros(2), dim=0)
    with pytest.raises(RuntimeError, match="addmv: size mismatch"):
        engine.zeros(2).addmv(engine.zeros(2, 3), engine.zeros(2))
    with pytest.raises(RuntimeError, match="bincount only supports 1-d non-negative integral inputs"):
        engine.tensor([-1, 2]).bincount()
    with pytest.raises(RuntimeError, match="group_norm: Expected number of channels"):
        F.group_norm(engine.zeros(2, 3, 4), 2)
    with pytest.raises(RuntimeError, match="bilinear: shapes don't match"):
        F.bilinear(engine.zeros(2, 3), engine.zeros(2, 4), engine.zeros(5, 3, 3))
    with pytest.raises(TypeError, match="pairwise_distance: argument 'x1' must be a Tensor"):
        F.pairwise_distance(np.zeros(3), engine.zeros(3))
    with pytest.raises(RuntimeError, match="sum_to_size: size \\[3\\] is not expandable"):
        engine.zeros(2, 4).sum_to_size(3)
    with pytest.raises(RuntimeError, match="quantile\\(\\) q values must be in the range"):
        engine.zeros(3).quantile(1.5)


def test_register_hook_sees_and_replaces_gradients_as_torch():
    results = []
    for E in (engine, torch):
        w = E.tensor([1.0, 2.0], requires_grad=True)
        y = w * 3
        seen = []
        y.register_hook(lambda g, seen=seen: seen.append(g.tolist()) or g * 10)
        handle = w.register_hook(lambda g: g + 1)
        (y * y).sum().backward()
        handle.remove()
        w.grad = None
        (w * 2).sum().backward()
        results.append((seen, w.grad.tolist()))
    assert results[0] == results[1]
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        engine.zeros(2).register_hook(lambda g: g)


LATE_CASES = {
    "unfold_0d": lambda E: E.tensor(3.0).unfold(0, 1, 1),
    "nanmedian": lambda E: E.tensor([[1.0, float("nan"), 3.0, 2.0], [float("nan")] * 4]).nanmedian(),
    "nanmedian_dim_values": lambda E: E.tensor([[1.0, float("nan"), 3.0, 2.0], [5.0, 4, 1, 0]]).nanmedian(1)[0],
    "gcd": lambda E: E.tensor([12, -18, 0, 7]).gcd(E.tensor([8, 12, 5, 0])),
    "lcm": lambda E: E.lcm(E.tensor([4, 6, 0]), E.tensor([6, 4, 3])),
    "nextafter": lambda E: E.tensor([1.0, -1.0]).nextafter(E.tensor([2.0, -2.0])),
    "angle": lambda E: E.tensor([-1.0, 0.0, 2.0, float("nan")]).angle(),
    "angle_int": lambda E: E.tensor([-1, 0, 2]).angle(),
    "isreal": lambda E: E.tensor([1.0, 2.0]).isreal(),
    "polygamma1": lambda E: E.tensor([0.3, 1.0, 2.5, -1.5, 7.0], dtype=E.float64).polygamma(1),
    "lgamma_poles": lambda E: E.tensor([0.0, -1.0, -2.5, float("inf"), float("nan")]).lgamma(),
    "digamma_poles": lambda E: E.tensor([0.0, -1.0, -2.5, float("inf"), float("nan")]).digamma(),
    "lgamma_int": lambda E: E.tensor([1, 2, 10]).lgamma(),
    "put": lambda E: E.zeros(2, 3).put(E.tensor([0, -1]), E.tensor([5.0, 6.0])),
    "put_accumulate": lambda E: E.zeros(2, 3).put(E.tensor([1, 1]), E.tensor([5.0, 6.0]), accumulate=True),
}


@pytest.mark.parametrize("name", sorted(LATE_CASES))
def test_late_additions_match_torch(name):
    fn = LATE_CASES[name]
    ours, theirs = fn(engine), fn(torch)
    assert ours.shape == tuple(theirs.shape) and str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-9, equal_nan=True)


def test_random_fills_follow_their_distributions():
    engine.manual_seed(3)
    g = engine.zeros(100_000).geometric_(0.3).numpy()
    assert g.min() >= 1 and abs(g.mean() - 1 / 0.3) < 0.05
    ln = engine.zeros(100_000, dtype=engine.float64).log_normal_(0.0, 0.5).numpy()
    assert abs(np.log(ln).mean()) < 0.01 and abs(np.log(ln).std() - 0.5) < 0.01
    c = engine.zeros(100_000).cauchy_(1.0, 2.0).numpy()
    assert abs(np.median(c) - 1.0) < 0.05 and abs(np.percentile(c, 75) - np.percentile(c, 25) - 4.0) < 0.1


def _values_and_grads(fn, *arrays):
    """fn(module, functional, *tensors) on engine and torch: outputs and input gradients."""
    res = []
    for E, FF in ((engine, F), (torch, TF)):
        ts = [E.tensor(a, requires_grad=True) for a in arrays]
        out = fn(E, FF, *ts)
        out = tuple(out) if isinstance(out, tuple) else (out,)
        diff_outs = [o for o in out if o.requires_grad]
        if diff_outs:
            sum((o * E.tensor(np.cos(np.arange(o.numel())).reshape(o.shape))).sum() for o in diff_outs).backward()
        res.append(([o.detach().numpy() for o in out], [t.grad.numpy() for t in ts]))
    return res


LATE_GRAD_CASES = {
    "adaptive_max_pool3d": (lambda E, FF, x: FF.adaptive_max_pool3d(x, (2, 3, 2), True),
                            (RNG.standard_normal((2, 3, 5, 6, 4)),)),
    "lp_pool3d": (lambda E, FF, x: FF.lp_pool3d(x.abs() + 0.1, 2, 2), (RNG.standard_normal((1, 2, 4, 4, 4)),)),
    "max_unpool3d": (lambda E, FF, x: FF.max_unpool3d(*FF.max_pool3d(x, 2, return_indices=True), 2),
                     (RNG.standard_normal((2, 3, 4, 6, 4)),)),
    "cond": (lambda E, FF, a: E.linalg.cond(a), (A + 3 * np.eye(4),)),
    "tensorinv": (lambda E, FF, a: E.linalg.tensorinv(a, 1),
                  (RNG.standard_normal((4, 2, 2)) + 3 * np.eye(4).reshape(4, 2, 2),)),
    "triangular_solve": (lambda E, FF, b, a: tuple(E.triangular_solve(b, a)),
                         (RNG.standard_normal((4, 2)), A[0] + 3 * np.eye(4))),
    "triangular_solve_transpose": (lambda E, FF, b, a: tuple(b.triangular_solve(a, upper=False, transpose=True)),
                                   (RNG.standard_normal((4, 2)), A[0] + 3 * np.eye(4))),
    "embedding_bag_padding_idx": (lambda E, FF, w: FF.embedding_bag(E.tensor([[1, 2, 0], [0, 0, 3]]), w,
                                                                    padding_idx=0),
                                  (RNG.standard_normal((5, 3)),)),
    "embedding_bag_per_sample_weights": (
        lambda E, FF, w, p: FF.embedding_bag(E.tensor([1, 2, 4, 4, 0]), w, E.tensor([0, 2, 2]), mode="sum",
                                             per_sample_weights=p),
        (RNG.standard_normal((5, 3)), RNG.standard_normal(5))),
    "embedding_bag_include_last_offset": (
        lambda E, FF, w: FF.embedding_bag(E.tensor([1, 2, 4, 4, 0]), w, E.tensor([0, 2, 2, 5]), mode="mean",
                                          include_last_offset=True),
        (RNG.standard_normal((5, 3)),)),
}


@pytest.mark.parametrize("name", sorted(LATE_GRAD_CASES))
def test_late_differentiable_additions_match_torch(name):
    fn, arrays = LATE_GRAD_CASES[name]
    (o1, g1), (o2, g2) = _values_and_grads(fn, *arrays)
    for a, b in zip(o1 + g1, o2 + g2):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_dtype_info_grad_mode_and_introspection_helpers_as_torch():
    for ours, theirs in ((engine.float32, torch.float32), (engine.float16, torch.float16),
                         (engine.float64, torch.float64)):
        for attr in ("eps", "max", "min", "tiny", "bits", "resolution"):
            assert float(getattr(engine.finfo(ours), attr)) == float(getattr(torch.finfo(theirs), attr)), attr
    assert engine.finfo().eps == torch.finfo().eps
    for ours, theirs in ((engine.int32, torch.int32), (engine.uint8, torch.uint8), (engine.int64, torch.int64)):
        assert (engine.iinfo(ours).max, engine.iinfo(ours).min) == (torch.iinfo(theirs).max, torch.iinfo(theirs).min)
    got = [t.tolist() for t in engine.unravel_index(engine.tensor([4, 7, -1]), (2, 4))]
    assert got == [t.tolist() for t in torch.unravel_index(torch.tensor([4, 7, -1]), (2, 4))]
    x = engine.tensor([1.0], requires_grad=True)
    with engine.inference_mode():
        assert not (x * 2).requires_grad
    assert (x * 2).grad_fn is not None and x.grad_fn is None
    assert engine.zeros(2, 3, 4).stride() == torch.zeros(2, 3, 4).stride()
    assert engine.zeros(2, 3).t().stride(1) == torch.zeros(2, 3).t().stride(1)
    assert engine.tensor([1]).is_signed() and not engine.tensor([1], dtype=engine.uint8).is_signed()
    assert engine.zeros(1).get_device() == torch.zeros(1).get_device()
    assert engine.tensor([2.0]).is_nonzero() and engine.is_same_size(engine.zeros(2), engine.zeros(2))
    y = x * 2
    y.detach_()
    assert not y.requires_grad and y.grad_fn is None
    np.testing.assert_allclose(engine.tensor(A).cumsum_(1).numpy(), torch.tensor(A).cumsum_(1).numpy())


@pytest.mark.parametrize("name", ["cosine_similarity", "pairwise_distance", "pdist", "layer_norm", "dropout"])
def test_torch_level_spellings_of_functional(name):
    a, b = RNG.standard_normal((3, 5)), RNG.standard_normal((3, 5))
    args = {"cosine_similarity": (a, b), "pairwise_distance": (a, b), "pdist": (a,), "layer_norm": (a, (5,)),
            "dropout": (a, 0.5, False)}[name]

    def call(E):
        return getattr(E, name)(*(E.tensor(v) if isinstance(v, np.ndarray) else v for v in args))
    _same(call(engine), call(torch))


def test_set_default_dtype_changes_the_factories_as_torch():
    def dtypes(E):
        return [str(t.dtype).replace("torch.", "") for t in (
            E.zeros(2), E.ones(1), E.empty(1), E.tensor([1.0]), E.tensor(2.5), E.tensor([1]), E.rand(2), E.randn(2),
            E.arange(0, 1, 0.5), E.arange(3), E.full((2,), 1.5), E.linspace(0, 1, 3), E.eye(2),
            E.ones(1, dtype=E.float32))]
    try:
        for d in ("float64", "float32"):
            engine.set_default_dtype(getattr(engine, d))
            torch.set_default_dtype(getattr(torch, d))
            assert dtypes(engine) == dtypes(torch)
            assert str(engine.get_default_dtype()) == str(torch.get_default_dtype()).replace("torch.", "")
    finally:
        engine.set_default_dtype(engine.float32)
        torch.set_default_dtype(torch.float32)
    with pytest.raises(TypeError, match="set_default_dtype only supports float32 and float64"):
        engine.set_default_dtype(engine.int64)


_L = np.linalg.cholesky(A[0] @ A[0].T + np.eye(4))
ALIAS_CASES = {
    "isin": lambda E: E.isin(E.tensor([1, 2, 3, 4]), E.tensor([2, 4])),
    "isin_invert": lambda E: E.isin(E.tensor([1, 2, 3]), E.tensor([2]), invert=True),
    "rsub": lambda E: E.rsub(E.tensor(A), 2.0, alpha=3),
    "frexp": lambda E: tuple(E.frexp(E.tensor(A))),
    "cholesky_inverse": lambda E: E.cholesky_inverse(E.tensor(_L)),
    "cholesky_solve": lambda E: E.tensor(A[1, :, :2]).cholesky_solve(E.tensor(_L)),
    "embedding": lambda E: E.embedding(E.tensor(A[0]), E.tensor([0, 3, 1])),
    "adjoint": lambda E: E.tensor(A).adjoint(),
    "split_with_sizes": lambda E: tuple(E.tensor(A[0]).split_with_sizes([1, 3])),
    "svd_deprecated_S_absV": lambda E: (E.tensor(A[0]).svd()[1], E.tensor(A[0]).svd()[2].abs()),
    "abs__function": lambda E: E.abs_(E.tensor(A)),
    "zero__function": lambda E: E.zero_(E.tensor(A)),
    "asarray": lambda E: E.asarray([1.0, 2.0]),
    "storage_offset": lambda E: E.tensor([E.tensor(A)[1:, 2:].storage_offset()]),
    "lu_pivots": lambda E: E.linalg.lu_factor(E.tensor(A))[1],
    "lu_P": lambda E: E.linalg.lu(E.tensor(A[:, :3]))[0],
    "lu_unpack": lambda E: tuple(E.lu_unpack(*E.linalg.lu_factor(E.tensor(A)))),
    "lu_solve": lambda E: E.linalg.lu_solve(*E.linalg.lu_factor(E.tensor(A[0])), E.tensor(A[1, :, :2])),
    "lu_solve_adjoint": lambda E: E.linalg.lu_solve(*E.linalg.lu_factor(E.tensor(A[0])), E.tensor(A[1, :, :2]),
                                                    adjoint=True),
}


@pytest.mark.parametrize("name", sorted(ALIAS_CASES))
def test_aliases_and_small_helpers_match_torch(name):
    fn = ALIAS_CASES[name]
    _same(fn(engine), fn(torch))


@pytest.mark.parametrize("name", ["hann_window", "hamming_window", "blackman_window", "bartlett_window"])
@pytest.mark.parametrize("n, periodic", [(8, True), (7, False), (1, True), (0, True)])
def test_windows_match_torch(name, n, periodic):
    ours, theirs = getattr(engine, name)(n, periodic), getattr(torch, name)(n, periodic)
    assert ours.dtype == np.float32 and ours.shape == tuple(theirs.shape)
    # torch evaluates the cosines in float32: ~1 ulp of 1.0 apart from ours (computed in float64)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)


def test_det_gradient_of_a_singular_matrix_is_the_adjugate():
    """Central differences (not torch, which returns 0 for a rank n-1 input in 2.13) check det's
    gradient where A⁻¹ does not exist: d det/dA = adj(A)ᵀ."""
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]])  # rank 2
    t = engine.tensor(a, requires_grad=True)
    engine.linalg.det(t).backward()
    h, numeric = 1e-6, np.zeros_like(a)
    for i, j in np.ndindex(3, 3):
        d = np.zeros_like(a)
        d[i, j] = h
        numeric[i, j] = (np.linalg.det(a + d) - np.linalg.det(a - d)) / (2 * h)
    np.testing.assert_allclose(t.grad.numpy(), numeric, atol=1e-8)
    assert np.abs(numeric).max() > 1  # a real, nonzero gradient


def test_engine_linalg_is_an_importable_module_as_torch_linalg():
    import importlib

    mod = importlib.import_module("engine.linalg")
    assert mod is engine.linalg and "linalg" in engine.__all__
    from engine.linalg import cross, norm, solve  # noqa: F401  (torch.linalg's spellings)

    assert cross(engine.tensor([1.0, 0, 0]), engine.tensor([0.0, 1, 0])).tolist() == [0.0, 0.0, 1.0]
    assert abs(norm(engine.tensor([3.0, 4.0])).item() - 5.0) < 1e-6


def test_linear_with_zero_input_features_is_its_bias_as_torch():
    x, w, b = np.zeros((2, 0)), np.zeros((3, 0)), np.arange(3.0)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ox, ow, ob = (Tensor(a, requires_grad=True) for a in (x, w, b))
    out, tout = engine.functional.linear(ox, ow, ob), torch.nn.functional.linear(tx, tw, tb)
    np.testing.assert_array_equal(out.numpy(), tout.detach().numpy())
    out.sum().backward()
    tout.sum().backward()
    assert ox.grad.shape == (2, 0) and ow.grad.shape == (3, 0)
    np.testing.assert_array_equal(ob.grad.numpy(), tb.grad.numpy())


def test_out_of_range_ids_raise_torchs_index_error():
    for ours, theirs in ((lambda: engine.functional.embedding(Tensor(np.array([5])), Tensor(np.zeros((3, 2)))),
                          lambda: torch.nn.functional.embedding(torch.tensor([5]), torch.zeros(3, 2))),
                         (lambda: engine.functional.cross_entropy(Tensor(np.zeros((2, 3))), Tensor(np.array([0, 7]))),
                          lambda: torch.nn.functional.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 7])))):
        _same_error(ours, theirs)
