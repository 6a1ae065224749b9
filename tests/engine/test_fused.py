"""Each fused op equals its composition from primitives: values and gradients, in float64.

The fused ops (one forward and one hand-written backward each) are speed paths; the
compositions below use only Tensor primitives, so these tests pin both the forward and the
analytic backward to what autograd derives on its own. Each test runs twice on the CPU: with
engine/kernels/cpu's compiled kernels and with the ops' references. Inputs come from the same hypothesis
strategies as the property tests (op_specs). The dropout-attention gradient is also checked
against central differences there (spec "attention_dropout", re-seeded inside the function).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_specs import (
    DEVICES,
    attention_call,
    attention_case,
    cross_entropy_case,
    cross_entropy_last,
    embedding_case,
    keep_mask_ref,
    layer_norm_case,
    linear_case,
    on_device,
    unary,
)

import engine
import engine.functional as F
import engine.kernels
from engine import Tensor
from engine.backend import array_module, to_numpy

# ---- compositions from primitives --------------------------------------------------------------


def softmax_composed(x, axis=-1):
    e = (x - x.amax(axis=axis, keepdims=True)).exp()
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_composed(x, axis=-1):
    shifted = x - x.amax(axis=axis, keepdims=True)
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


def cross_entropy_composed(logits, targets, ignore_index, reduction):
    xp = array_module(targets)
    n_class = logits.shape[-1]
    valid = targets != ignore_index
    rows = xp.arange(targets.size)
    picked = log_softmax_composed(logits).reshape(-1, n_class)[rows, xp.where(valid, targets, 0).reshape(-1)]
    loss = -picked * Tensor(valid.reshape(-1).astype(logits.dtype), device=logits.device)
    if reduction == "none":
        return loss.reshape(targets.shape)
    return loss.sum() if reduction == "sum" else loss.sum() / float(valid.sum())


def layer_norm_composed(x, weight, bias, eps):
    xc = x - x.mean(axis=-1, keepdims=True)
    out = xc / ((xc * xc).mean(axis=-1, keepdims=True) + eps).sqrt()
    out = out * weight if weight is not None else out
    return out + bias if bias is not None else out


def attention_composed(q, k, v, causal, window, mask, dropout_p, scale, seed=None):
    t, s = q.shape[-2], k.shape[-2]
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    keep = keep_mask_ref(t, s, causal, window, None if mask is None else to_numpy(mask))
    scores = (q @ k.swapaxes(-1, -2)) * scale
    p = softmax_composed(scores.masked_fill(Tensor(~keep, device=q.device), -math.inf))
    if dropout_p:
        engine.manual_seed(seed)
        p = F.dropout(p, dropout_p)
    return p @ v


def gelu_tanh_composed(x):
    return 0.5 * x * (1 + ((x + 0.044715 * x**3) * math.sqrt(2 / math.pi)).tanh())


# ---- harness ------------------------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="module", params=["compiled", "composed"])
def cpu_path(request):
    """Every test here twice on the CPU: with the kernel table's compiled kernels (where numba is
    installed) and with the ops' references, so both stay pinned to the compositions."""
    if request.param == "compiled" and not engine.kernels.enabled("cpu"):
        pytest.skip("needs numba (the cpu extra)")
    old = engine.kernels.set_enabled(request.param == "compiled", "cpu")
    yield request.param
    engine.kernels.set_enabled(old, "cpu")


def assert_same(fused, composed, arrays, device, params=None, seed=0):
    """Run both on fresh float64 leaves with one random upstream gradient; compare everything."""
    params = params or {}

    def run(fn):
        ts = [None if a is None else Tensor(a, device=device, requires_grad=True) for a in arrays]
        out = fn(*ts, **params)
        out.backward(np.random.default_rng(seed).standard_normal(out.shape))
        return out, ts

    out_f, ts_f = run(fused)
    out_c, ts_c = run(composed)
    assert out_f.shape == out_c.shape and out_f.dtype == out_c.dtype
    np.testing.assert_allclose(out_f.numpy(), out_c.numpy(), rtol=1e-9, atol=1e-12, err_msg="forward")
    for i, (a, b) in enumerate(zip(ts_f, ts_c)):
        if a is None:
            continue
        ga = np.zeros(a.shape) if a.grad is None else a.grad.numpy()
        gb = np.zeros(b.shape) if b.grad is None else b.grad.numpy()
        np.testing.assert_allclose(ga, gb, rtol=1e-9, atol=1e-12, err_msg=f"gradient of input {i}")


# ---- tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@given(case=unary(min_dims=1, axis=lambda nd: st.integers(-nd, nd - 1)))
def test_softmax_equals_composition(device, case):
    assert_same(lambda x, axis: F.softmax(x, axis), softmax_composed, case.arrays, device, case.params)


@pytest.mark.parametrize("device", DEVICES)
@given(case=unary(min_dims=1, axis=lambda nd: st.integers(-nd, nd - 1)))
def test_log_softmax_equals_composition(device, case):
    assert_same(lambda x, axis: F.log_softmax(x, axis), log_softmax_composed, case.arrays, device, case.params)


@pytest.mark.parametrize("device", DEVICES)
@given(case=cross_entropy_case())
def test_cross_entropy_equals_composition(device, case):
    """ignore_index, every reduction, classes on the last axis of any-rank logits."""
    params = dict(case.params, targets=on_device(case.params["targets"], device))
    assert_same(cross_entropy_last, cross_entropy_composed, case.arrays, device, params)


@pytest.mark.parametrize("device", DEVICES)
@given(case=layer_norm_case())
def test_layer_norm_equals_composition(device, case):
    """With and without weight and bias."""
    x, *rest = case.arrays
    rest = list(rest)
    weight = rest.pop(0) if case.params["has_weight"] else None
    bias = rest.pop(0) if case.params["has_bias"] else None
    eps = case.params["eps"]
    assert_same(lambda x, w, b: F.layer_norm(x, x.shape[-1:], w, b, eps=eps),
                lambda x, w, b: layer_norm_composed(x, w, b, eps), (x, weight, bias), device)


@pytest.mark.parametrize("device", DEVICES)
@given(case=attention_case())
def test_attention_equals_composition(device, case):
    """Causal (aligned to the end of the keys), windowed, bool masks (True = attend), scales."""
    params = dict(case.params, mask=on_device(case.params["mask"], device))
    assert_same(attention_call, attention_composed, case.arrays, device, params)


@pytest.mark.parametrize("device", DEVICES)
@given(case=attention_case(dropout=True))
def test_attention_dropout_equals_composition_with_the_same_mask(device, case):
    """Seeded alike, the fused op and F.dropout on the weights draw the same keep-mask."""
    params = dict(case.params, mask=on_device(case.params["mask"], device))
    seed = params.pop("seed")

    def fused(q, k, v, **kw):
        engine.manual_seed(seed)
        return attention_call(q, k, v, **kw)

    assert_same(fused, lambda *a, **kw: attention_composed(*a, **kw, seed=seed), case.arrays, device, params)


def test_causal_attention_is_aligned_to_the_end_of_the_keys():
    """With T < S (a KV-cache step) query i sits at position S-T+i: the last query sees every key."""
    rng = np.random.default_rng(0)
    q, k, v = (Tensor(rng.standard_normal(s)) for s in ((2, 3), (5, 3), (5, 4)))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=F.causal_lower_right(2, 5)).numpy()
    full = F.scaled_dot_product_attention(q[1:], k, v).numpy()
    np.testing.assert_allclose(out[1:], full, rtol=1e-12)
    first = F.scaled_dot_product_attention(q[:1], k[:4], v[:4]).numpy()
    np.testing.assert_allclose(out[:1], first, rtol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@given(case=linear_case())
def test_linear_equals_composition(device, case):
    def composed(x, w, b=None):
        out = x @ w.T
        return out + b if b is not None else out

    assert_same(F.linear, composed, case.arrays, device)


@pytest.mark.parametrize("device", DEVICES)
@given(case=embedding_case())
def test_embedding_equals_indexing(device, case):
    ids = on_device(case.params["ids"], device)
    assert_same(lambda w: F.embedding(ids, w), lambda w: w[ids], case.arrays, device)


@pytest.mark.parametrize("device", DEVICES)
@given(case=unary())
def test_gelu_tanh_equals_composition(device, case):
    assert_same(lambda x: F.gelu(x, approximate="tanh"), gelu_tanh_composed, case.arrays, device)
