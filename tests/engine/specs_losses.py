"""Specs of F's losses (issue 15). CrossEntropy (its spec is in op_specs) and BinaryCrossEntropy
are registered ops; the rest are compositions, so they are DERIVED entries here: each gets the registry's float64
gradcheck, its NumPy reference, float32 preservation and a torch twin.

Values stay where each loss is smooth: l1/smooth_l1/huber differences keep GAP away from 0 and
from beta/delta, bce probabilities stay inside (0.1, 0.9), kl_div targets are positive. Class
weights, pos_weight, ties at the kinks and empty batches are compared with torch in
test_parity_losses and test_losses.
"""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import strategies as st
from op_specs import SEEDS, Case, Spec, fill, shapes

import engine.functional as F

SPECS: dict[str, Spec] = {}
DERIVED: dict[str, Spec] = {}

REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


def _reduce(v, reduction):
    return v.mean() if reduction == "mean" else v.sum() if reduction == "sum" else v


@st.composite
def pair_case(draw, kink=None, name=None):
    """(input, target) of one shape; with ``kink``, |input - target| stays GAP away from 0 and from
    ``kink``, which is passed as the keyword ``name`` (beta, delta) when given."""
    shape = draw(shapes())
    rng = np.random.default_rng(draw(SEEDS))
    params = {"reduction": draw(REDUCTIONS)}
    x = fill(rng, shape)
    if kink is None:
        y = fill(rng, shape)
    else:
        if name:
            params[name] = kink
        y = x - fill(rng, shape, "real", avoid=(0.0, kink, -kink))
    return Case((x, y), params)


def _pointwise(name):
    return lambda a, b, **p: getattr(F, name)(a, b, **p)


def _torch_pointwise(name):
    def fn(T, a, b, **p):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns that kl_div's 'mean' will change
            return getattr(T.nn.functional, name)(a, b, **p)

    return fn


def _smooth_l1(a, b, reduction, beta):
    d = np.abs(a - b)
    return _reduce(np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta), reduction)


def _huber(a, b, reduction, delta):
    d = np.abs(a - b)
    return _reduce(np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta)), reduction)


@st.composite
def kl_case(draw, log_target):
    shape = draw(shapes())
    rng = np.random.default_rng(draw(SEEDS))
    reduction = draw(st.sampled_from(["mean", "sum", "none"] + (["batchmean"] if shape else [])))
    return Case((fill(rng, shape), fill(rng, shape, "real" if log_target else "positive")),
                {"reduction": reduction, "log_target": log_target})


def _kl_ref(x, t, reduction, log_target):
    v = np.exp(t) * (t - x) if log_target else t * (np.log(t) - x)
    return v.sum() / x.shape[0] if reduction == "batchmean" else _reduce(v, reduction)


@st.composite
def bce_case(draw, logits):
    shape = draw(shapes())
    rng = np.random.default_rng(draw(SEEDS))
    x = fill(rng, shape) if logits else rng.uniform(0.1, 0.9, shape)
    return Case((np.asarray(x, dtype=np.float64), rng.uniform(0.0, 1.0, shape)), {"reduction": draw(REDUCTIONS)})


def _bce_ref(p, t, reduction):
    return _reduce(-(t * np.log(p) + (1 - t) * np.log(1 - p)), reduction)


def _bce_logits_ref(x, t, reduction):
    return _reduce(np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x))), reduction)


@st.composite
def class_case(draw, log_probs):
    """(N, C, d...) scores (classes on dim 1), int targets (N, d...), some hitting ignore_index."""
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    rng = np.random.default_rng(draw(SEEDS))
    x = fill(rng, (n, c, *extra))
    if log_probs:
        x = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    target = rng.integers(0, c, (n, *extra)).astype(np.int64)
    ignore = draw(st.sampled_from([-100, 0]))
    if ignore == -100:
        target = np.where(rng.random(target.shape) < 0.3, -100, target)
        target.flat[0] = 0  # at least one target counts: an all-ignored mean is nan (checked in test_losses)
    params = {"target": target, "ignore_index": ignore, "reduction": draw(REDUCTIONS)}
    if not log_probs:
        params["label_smoothing"] = draw(st.sampled_from([0.0, 0.2]))
    if ignore == 0 and params["reduction"] == "mean" and not (target != 0).any():
        params["reduction"] = "sum"
    return Case((x,), params)


def _nll_ref(x, target, ignore_index, reduction, label_smoothing=0.0):
    """-x[n, t] (with label smoothing: mixed with the mean over classes), ignored targets dropped."""
    c = x.shape[1]
    keep = target != ignore_index
    safe = np.where(keep, target, 0)
    picked = -np.take_along_axis(x, safe[:, None], axis=1)[:, 0]
    if label_smoothing:
        picked = (1 - label_smoothing) * picked + label_smoothing / c * -x.sum(axis=1)
    v = np.where(keep, picked, 0.0)
    if reduction == "mean":
        return v.sum() / keep.sum()
    return v.sum() if reduction == "sum" else v


def _ce_ref(x, target, ignore_index, reduction, label_smoothing):
    m = x.max(axis=1, keepdims=True)
    logp = x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    return _nll_ref(logp, target, ignore_index, reduction, label_smoothing)


def _torch_class(name):
    def fn(T, x, target, **p):
        return getattr(T.nn.functional, name)(x, T.as_tensor(target), **p)

    return fn


# the registered op under F.binary_cross_entropy (torch's gradient at 0 and 1 is in test_parity_sweep_optim)
SPECS["BinaryCrossEntropy"] = Spec(bce_case(False), _pointwise("binary_cross_entropy"), _bce_ref,
                                   torch=_torch_pointwise("binary_cross_entropy"))

DERIVED.update({
    "mse_loss": Spec(pair_case(), _pointwise("mse_loss"), lambda a, b, reduction: _reduce((a - b) ** 2, reduction),
                     torch=_torch_pointwise("mse_loss")),
    "l1_loss": Spec(pair_case(kink=0.0), _pointwise("l1_loss"),
                    lambda a, b, reduction: _reduce(np.abs(a - b), reduction), torch=_torch_pointwise("l1_loss")),
    "smooth_l1_loss": Spec(pair_case(kink=0.7, name="beta"), _pointwise("smooth_l1_loss"), _smooth_l1,
                           torch=_torch_pointwise("smooth_l1_loss")),
    "huber_loss": Spec(pair_case(kink=1.3, name="delta"), _pointwise("huber_loss"), _huber,
                       torch=_torch_pointwise("huber_loss")),
    "kl_div": Spec(kl_case(False), _pointwise("kl_div"), _kl_ref, torch=_torch_pointwise("kl_div")),
    "kl_div_log_target": Spec(kl_case(True), _pointwise("kl_div"), _kl_ref, torch=_torch_pointwise("kl_div")),
    "binary_cross_entropy": Spec(bce_case(False), _pointwise("binary_cross_entropy"), _bce_ref,
                                 torch=_torch_pointwise("binary_cross_entropy")),
    "binary_cross_entropy_with_logits": Spec(bce_case(True), _pointwise("binary_cross_entropy_with_logits"),
                                             _bce_logits_ref,
                                             torch=_torch_pointwise("binary_cross_entropy_with_logits")),
    "nll_loss": Spec(class_case(True), lambda x, target, **p: F.nll_loss(x, target, **p), _nll_ref,
                     torch=_torch_class("nll_loss")),
    "cross_entropy": Spec(class_case(False), lambda x, target, **p: F.cross_entropy(x, target, **p), _ce_ref,
                          torch=_torch_class("cross_entropy")),
})
