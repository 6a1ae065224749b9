"""F's losses against torch.nn.functional's: values and input gradients, float32 and float64.

Random shapes (N-d inputs with classes on dim 1, unbatched), ignore_index hits, class weights,
label smoothing, probability targets, every reduction, and torch's legacy size_average/reduce.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import engine.functional as F
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

TOL = {np.float64: (1e-9, 1e-11), np.float32: (2e-5, 2e-6)}
REDUCTIONS = ["mean", "sum", "none"]


def run_both(fn, tfn, arrays, grads, dtype, rng, consts=()):
    """Call fn on engine Tensors and tfn on torch tensors (float ``arrays`` cast to dtype, the ones
    flagged in ``grads`` requiring grad, ``consts`` passed as they are); compare values and grads."""
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    ours = [Tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    theirs = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    y = fn(*ours, *consts)
    ty = tfn(*theirs, *(torch.as_tensor(c) if isinstance(c, np.ndarray) else c for c in consts))
    rtol, atol = TOL[dtype]
    assert y.dtype == dtype
    assert y.shape == tuple(ty.shape), (y.shape, ty.shape)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=rtol, atol=atol, err_msg="value")
    if not any(grads) or not np.all(np.isfinite(ty.detach().numpy())):
        return
    up = rng.standard_normal(y.shape).astype(dtype)
    y.backward(Tensor(up))
    ty.backward(torch.tensor(up))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if grads[i]:
            assert a.grad.dtype == dtype and a.grad.shape == a.shape
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"grad {i}")


dtypes = st.sampled_from([np.float64, np.float32])


@st.composite
def class_case(draw, probs=False):
    """input (N, C, d…) / (N, C) / (C,) logits and matching int targets (or probabilities)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    c = draw(st.integers(1, 5))
    kind = draw(st.sampled_from(["unbatched", "2d", "nd"]))
    n = draw(st.integers(0 if kind != "unbatched" else 1, 4))
    extra = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2))) if kind == "nd" else ()
    shape = (c,) if kind == "unbatched" else (n, c, *extra)
    tshape = () if kind == "unbatched" else (n, *extra)
    x = rng.standard_normal(shape) * 2
    if probs:
        p = rng.random(shape) + 0.01
        target = p / p.sum(axis=0 if kind == "unbatched" else 1, keepdims=True)
    else:
        target = rng.integers(0, c, size=tshape).astype(np.int64)
    return rng, x, target


@given(case=class_case(), dtype=dtypes, reduction=st.sampled_from(REDUCTIONS), weighted=st.booleans(),
       smoothing=st.sampled_from([0.0, 0.0, 0.1, 0.7, 1.0]), ignore=st.sampled_from([None, -100, 0, 2]))
def test_cross_entropy_class_indices(case, dtype, reduction, weighted, smoothing, ignore):
    rng, x, t = case
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    kw = {"reduction": reduction, "label_smoothing": smoothing}
    if ignore is not None:
        kw["ignore_index"] = ignore
        if ignore == -100 and t.size:  # some targets hit the default ignore_index
            t = np.where(rng.random(t.shape) < 0.3, -100, t)
    if weighted:
        w = (rng.random(c) + 0.1).astype(dtype)
        kw["weight"] = w
    tkw = dict(kw, weight=torch.as_tensor(kw["weight"])) if weighted else kw
    run_both(lambda a, tt: F.cross_entropy(a, tt, **kw),
             lambda a, tt: torch.nn.functional.cross_entropy(a, tt, **tkw), [x], [True], dtype, rng, consts=(t,))


@given(case=class_case(probs=True), dtype=dtypes, reduction=st.sampled_from(REDUCTIONS), weighted=st.booleans(),
       smoothing=st.sampled_from([0.0, 0.2]), target_grad=st.booleans())
def test_cross_entropy_probabilities(case, dtype, reduction, weighted, smoothing, target_grad):
    """Float targets of input's shape: value, and gradients to the logits and to the target."""
    rng, x, p = case
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    w = (rng.random(c) + 0.1).astype(dtype) if weighted else None
    run_both(lambda a, tt: F.cross_entropy(a, tt, weight=w, reduction=reduction, label_smoothing=smoothing),
             lambda a, tt: torch.nn.functional.cross_entropy(
                 a, tt, weight=None if w is None else torch.as_tensor(w), reduction=reduction,
                 label_smoothing=smoothing),
             [x, p], [True, target_grad], dtype, rng)


@given(case=class_case(), dtype=dtypes, reduction=st.sampled_from(REDUCTIONS), weighted=st.booleans(),
       ignore=st.sampled_from([-100, 1]))
def test_nll_loss(case, dtype, reduction, weighted, ignore):
    rng, x, t = case
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    w = (rng.random(c) + 0.1).astype(dtype) if weighted else None
    if t.size and ignore == -100:
        t = np.where(rng.random(t.shape) < 0.3, -100, t)
    run_both(lambda a, tt: F.nll_loss(a, tt, w, ignore_index=ignore, reduction=reduction),
             lambda a, tt: torch.nn.functional.nll_loss(a, tt, None if w is None else torch.as_tensor(w),
                                                        ignore_index=ignore, reduction=reduction),
             [x], [True], dtype, rng, consts=(t,))


def test_cross_entropy_every_target_ignored_is_nan_like_torch():
    x = np.random.default_rng(0).standard_normal((3, 4))
    t = np.full(3, -100)
    for kw in ({}, {"weight": np.ones(4)}, {"label_smoothing": 0.1}):
        ours = F.cross_entropy(Tensor(x), t, **kw).item()
        tkw = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        theirs = torch.nn.functional.cross_entropy(torch.tensor(x), torch.as_tensor(t), **tkw).item()
        assert np.isnan(ours) and np.isnan(theirs)


@pytest.mark.parametrize("size_average,reduce", [(None, False), (False, None), (True, True), (False, True)])
def test_legacy_size_average_and_reduce(size_average, reduce):
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((4, 3)), rng.integers(0, 3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = F.cross_entropy(Tensor(x), t, size_average=size_average, reduce=reduce).numpy()
        theirs = torch.nn.functional.cross_entropy(torch.tensor(x), torch.as_tensor(t), size_average=size_average,
                                                   reduce=reduce).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    with pytest.warns(UserWarning, match="size_average and reduce"):
        F.mse_loss(Tensor(x), Tensor(x), size_average=size_average, reduce=reduce)


@pytest.mark.parametrize("bad,exc", [
    (lambda: F.cross_entropy(Tensor(np.zeros((3, 4))), np.array([0, 1, 4])), IndexError),
    (lambda: F.cross_entropy(Tensor(np.zeros((3, 4))), np.array([0, 1, -2])), IndexError),
    (lambda: F.cross_entropy(Tensor(np.zeros((3, 4))), np.array([0, 1, 4]), weight=np.ones(4)), IndexError),
    (lambda: F.cross_entropy(Tensor(np.zeros((3, 4))), np.array([0.0, 1.0, 2.0])), RuntimeError),
    (lambda: F.cross_entropy(Tensor(np.zeros((3, 4))), np.array([0, 1])), ValueError),
    (lambda: F.cross_entropy(Tensor(np.zeros((3, 4))), np.zeros((3, 5))), RuntimeError),
    (lambda: F.cross_entropy(Tensor(np.zeros((3, 4))), np.array([0, 1, 2]), weight=np.ones(5)), RuntimeError),
    (lambda: F.cross_entropy(Tensor(np.zeros((3, 4))), np.array([0, 1, 2]), reduction="bad"), ValueError),
    (lambda: F.cross_entropy(Tensor(np.zeros((3, 4))), np.array([0, 1, 2]), label_smoothing=1.5), RuntimeError),
    (lambda: F.cross_entropy(Tensor(np.zeros((3, 4))), np.zeros((3, 4)), ignore_index=1), RuntimeError),
    (lambda: F.nll_loss(Tensor(np.zeros((3, 4))), np.array([0, 1, 4])), IndexError),
    (lambda: F.nll_loss(Tensor(np.zeros((2, 3, 4))), np.array([[0, 1, 2, 2]])), ValueError),
    (lambda: F.binary_cross_entropy(Tensor(np.full(3, 0.5)), Tensor(np.zeros(2))), ValueError),
    (lambda: F.binary_cross_entropy_with_logits(Tensor(np.zeros(3)), Tensor(np.zeros(2))), ValueError),
])
def test_bad_input_raises_torchs_exception_type(bad, exc):
    with pytest.raises(exc):
        bad()


def test_cross_entropy_errors_name_the_function_and_shapes():
    with pytest.raises(IndexError, match=r"cross_entropy.*4"):
        F.cross_entropy(Tensor(np.zeros((3, 4))), np.array([0, 1, 4]))
    with pytest.raises(ValueError, match=r"cross_entropy.*\(3, 4\).*\(2,\)"):
        F.cross_entropy(Tensor(np.zeros((3, 4))), np.array([0, 1]))
    with pytest.raises(RuntimeError, match=r"cross_entropy.*\(2, 4\)"):
        F.cross_entropy(Tensor(np.zeros((2, 3, 4))), np.zeros((2, 3), np.int64))


# ---- pointwise losses ---------------------------------------------------------------------------


@st.composite
def pair_case(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=3)))
    return rng, rng.standard_normal(shape) * 2, rng.standard_normal(shape) * 2


def _pointwise(name, **kw):
    return (lambda a, b: getattr(F, name)(a, b, **kw)), (lambda a, b: getattr(torch.nn.functional, name)(a, b, **kw))


POINTWISE = [("mse_loss", {}), ("l1_loss", {}), ("smooth_l1_loss", {}), ("smooth_l1_loss", {"beta": 0.5}),
             ("smooth_l1_loss", {"beta": 0.0}), ("huber_loss", {}), ("huber_loss", {"delta": 2.5}),
             ("kl_div", {}), ("kl_div", {"log_target": True}), ("soft_margin_loss", {})]


@pytest.mark.parametrize("name,kw", POINTWISE)
@given(case=pair_case(), dtype=dtypes, reduction=st.sampled_from(REDUCTIONS + ["batchmean"]),
       target_grad=st.booleans())
def test_pointwise_losses(name, kw, case, dtype, reduction, target_grad):
    rng, x, y = case
    if reduction == "batchmean":
        if name != "kl_div":
            reduction = "mean"
        elif x.ndim == 0:
            return  # torch's batchmean of a 0-d input: sum / size(0) fails in torch
    if name == "kl_div" and not kw:
        # probabilities, some exactly 0 (where torch's target gradient is nan: not compared)
        y = np.abs(y) * (rng.random(y.shape) < 0.8) if not target_grad else np.abs(y) + 0.01
    if name == "soft_margin_loss":
        y, target_grad = np.where(y > 0, 1.0, -1.0), False  # torch: not differentiable in target
    fn, tfn = _pointwise(name, reduction=reduction, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns on 'mean' kl_div
        run_both(fn, tfn, [x, y], [True, target_grad], dtype, rng)


@pytest.mark.parametrize("name,kw", [("l1_loss", {}), ("smooth_l1_loss", {"beta": 1.0}), ("huber_loss", {"delta": 1.0}),
                                     ("mse_loss", {})])
def test_gradients_at_the_kinks_match_torch(name, kw):
    """l1 at d = 0 has gradient 0; smooth_l1/huber at |d| = beta/delta take torch's side."""
    x = np.array([0.0, 1.0, -1.0, 2.0, -0.5])
    y = np.zeros(5)
    run_both(*_pointwise(name, reduction="sum", **kw), [x, y], [True, True], np.float64, np.random.default_rng(0))


@given(case=pair_case(), dtype=dtypes, reduction=st.sampled_from(REDUCTIONS), weighted=st.booleans(),
       pos_weighted=st.booleans(), target_grad=st.booleans())
def test_binary_cross_entropy_with_logits(case, dtype, reduction, weighted, pos_weighted, target_grad):
    rng, x, _ = case
    x = x * 10  # large logits: the stable form
    t = rng.random(x.shape)
    w = rng.random(x.shape) + 0.1 if weighted else None
    pw = rng.random(x.shape[-1:]) * 3 if pos_weighted and x.ndim else None
    tw = None if w is None else torch.as_tensor(w.astype(dtype))
    tpw = None if pw is None else torch.as_tensor(pw.astype(dtype))
    run_both(lambda a, b: F.binary_cross_entropy_with_logits(a, b, None if w is None else w.astype(dtype),
                                                             reduction=reduction,
                                                             pos_weight=None if pw is None else pw.astype(dtype)),
             lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(a, b, tw, reduction=reduction,
                                                                               pos_weight=tpw),
             [x, t], [True, target_grad], dtype, rng)


@given(case=pair_case(), dtype=dtypes, reduction=st.sampled_from(REDUCTIONS), weighted=st.booleans(),
       target_grad=st.booleans())
def test_binary_cross_entropy(case, dtype, reduction, weighted, target_grad):
    rng, x, _ = case
    p = 1 / (1 + np.exp(-x))
    t = rng.random(x.shape)
    w = (rng.random(x.shape) + 0.1).astype(dtype) if weighted else None
    run_both(lambda a, b: F.binary_cross_entropy(a, b, w, reduction=reduction),
             lambda a, b: torch.nn.functional.binary_cross_entropy(a, b, None if w is None else torch.as_tensor(w),
                                                                   reduction=reduction),
             [p, t], [True, target_grad], dtype, rng)


def test_binary_cross_entropy_clamps_the_log_at_minus_100():
    p, t = np.array([0.0, 1.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0, 1.0])
    ours = F.binary_cross_entropy(Tensor(p), Tensor(t), reduction="none").numpy()
    theirs = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t), reduction="none").numpy()
    np.testing.assert_array_equal(ours, theirs)
    assert ours.tolist() == [100.0, 100.0, 0.0, 0.0]


def test_mse_loss_broadcasts_with_a_warning_as_torch():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    with pytest.warns(UserWarning, match="different to the input size"):
        ours = F.mse_loss(Tensor(x), Tensor(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.nn.functional.mse_loss(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)


def test_empty_mean_is_nan_as_torch():
    e = np.zeros((0, 3))
    for name in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"):
        assert np.isnan(getattr(F, name)(Tensor(e), Tensor(e)).item())
        assert np.isnan(getattr(torch.nn.functional, name)(torch.tensor(e), torch.tensor(e)).item())


# ---- the rest of torch's losses -----------------------------------------------------------------


@given(case=pair_case(), dtype=dtypes, reduction=st.sampled_from(REDUCTIONS), log_input=st.booleans(),
       full=st.booleans(), target_grad=st.booleans())
def test_poisson_nll_loss(case, dtype, reduction, log_input, full, target_grad):
    rng, x, _ = case
    if not log_input:
        x = np.abs(x) + 0.1
    t = rng.poisson(2.0, x.shape) + (rng.random(x.shape) if target_grad else 0)
    kw = {"log_input": log_input, "full": full, "reduction": reduction}
    run_both(lambda a, b: F.poisson_nll_loss(a, b, **kw), lambda a, b: torch.nn.functional.poisson_nll_loss(a, b, **kw),
             [x, t], [True, target_grad and not full], dtype, rng)


@given(case=pair_case(), dtype=dtypes, reduction=st.sampled_from(REDUCTIONS), full=st.booleans(),
       var_kind=st.sampled_from(["same", "drop_last", "keep_one", "float"]))
def test_gaussian_nll_loss(case, dtype, reduction, full, var_kind):
    rng, x, y = case
    if x.ndim == 0 and var_kind in ("drop_last", "keep_one"):
        var_kind = "same"
    shape = {"same": x.shape, "drop_last": x.shape[:-1], "keep_one": (*x.shape[:-1], 1), "float": None}[var_kind]
    if shape is None:
        run_both(lambda a, b: F.gaussian_nll_loss(a, b, 0.7, full=full, reduction=reduction),
                 lambda a, b: torch.nn.functional.gaussian_nll_loss(a, b, 0.7, full=full, reduction=reduction),
                 [x, y], [True, True], dtype, rng)
        return
    var = rng.random(shape) + 0.05
    var.flat[: var.size // 3] = 1e-9  # below eps: clamped for the value, not for the gradient
    run_both(lambda a, b, v: F.gaussian_nll_loss(a, b, v, full=full, reduction=reduction),
             lambda a, b, v: torch.nn.functional.gaussian_nll_loss(a, b, v, full=full, reduction=reduction),
             [x, y, var], [True, True, True], dtype, rng)


def _pm1(rng, shape):
    return np.where(rng.random(shape) < 0.5, 1.0, -1.0)


@given(case=pair_case(), dtype=dtypes, reduction=st.sampled_from(REDUCTIONS), margin=st.sampled_from([0.0, 0.5]))
def test_margin_ranking_and_hinge_embedding(case, dtype, reduction, margin):
    rng, x, y = case
    t = _pm1(rng, x.shape)
    run_both(lambda a, b, c: F.margin_ranking_loss(a, b, c, margin, reduction=reduction),
             lambda a, b, c: torch.nn.functional.margin_ranking_loss(a, b, c, margin, reduction=reduction),
             [x, y, t], [True, True, False], dtype, rng)
    t = np.where(rng.random(x.shape) < 0.2, 0.5, t)  # a target that is neither 1 nor -1 takes both terms
    run_both(lambda a, c: F.hinge_embedding_loss(a, c, margin + 1, reduction=reduction),
             lambda a, c: torch.nn.functional.hinge_embedding_loss(a, c, margin + 1, reduction=reduction),
             [x, t], [True, False], dtype, rng)


@given(seed=st.integers(0, 2**16), dtype=dtypes, reduction=st.sampled_from(REDUCTIONS), batched=st.booleans(),
       margin=st.sampled_from([0.0, 0.3]), p=st.sampled_from([1, 2, 3]), swap=st.booleans())
def test_cosine_embedding_and_triplet_margin(seed, dtype, reduction, batched, margin, p, swap):
    rng = np.random.default_rng(seed)
    shape = (rng.integers(1, 5), rng.integers(1, 5)) if batched else (rng.integers(1, 5),)
    a, b, c = (rng.standard_normal(shape) for _ in range(3))
    t = _pm1(rng, shape[:-1])
    run_both(lambda x, y, z: F.cosine_embedding_loss(x, y, z, margin, reduction=reduction),
             lambda x, y, z: torch.nn.functional.cosine_embedding_loss(x, y, z, margin, reduction=reduction),
             [a, b, t], [True, True, False], dtype, rng)
    kw = {"margin": margin + 1, "p": p, "swap": swap, "reduction": reduction}
    run_both(lambda x, y, z: F.triplet_margin_loss(x, y, z, **kw),
             lambda x, y, z: torch.nn.functional.triplet_margin_loss(x, y, z, **kw),
             [a, b, c], [True, True, True], dtype, rng)


@given(seed=st.integers(0, 2**16), dtype=dtypes, reduction=st.sampled_from(REDUCTIONS), batched=st.booleans(),
       p=st.sampled_from([1, 2]), weighted=st.booleans())
def test_multi_margin_and_multilabel_soft_margin(seed, dtype, reduction, batched, p, weighted):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(1, 5))
    shape = (int(rng.integers(1, 5)), c) if batched else (c,)
    x = rng.standard_normal(shape)
    t = rng.integers(0, c, shape[:-1]).astype(np.int64)
    w = (rng.random(c) + 0.1).astype(dtype) if weighted else None
    tw = None if w is None else torch.as_tensor(w)
    run_both(lambda a, tt: F.multi_margin_loss(a, tt, p, 0.8, w, reduction=reduction),
             lambda a, tt: torch.nn.functional.multi_margin_loss(a, tt, p, 0.8, tw, reduction=reduction),
             [x], [True], dtype, rng, consts=(t,))
    y = (rng.random(shape) < 0.5).astype(np.float64)
    run_both(lambda a, b: F.multilabel_soft_margin_loss(a, b, w, reduction=reduction),
             lambda a, b: torch.nn.functional.multilabel_soft_margin_loss(a, b, tw, reduction=reduction),
             [x, y], [True, True], dtype, rng)
