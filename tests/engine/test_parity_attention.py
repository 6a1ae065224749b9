"""F.scaled_dot_product_attention against torch's: values and gradients, float32 and float64.

Bool masks (True = attend) and float masks (added to the scores, with -inf entries),
is_causal (top-left aligned, also with L != S), scale, enable_gqa, broadcast batch dims, and
rows where every key is masked (torch gives 0 there, and zero gradients).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import engine.functional as F
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

TOL = {np.float64: (1e-9, 1e-11), np.float32: (2e-5, 2e-6)}
TF = torch.nn.functional


def compare(q, k, v, dtype, rng, mask=None, mask_grad=False, **kw):
    arrays = [np.asarray(a, dtype=dtype) for a in (q, k, v)]
    ours = [Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    om = tm = None
    if mask is not None:
        if mask.dtype == bool:
            om, tm = mask, torch.as_tensor(mask)
        else:
            m = mask.astype(dtype)
            om, tm = Tensor(m, requires_grad=mask_grad), torch.tensor(m, requires_grad=mask_grad)
    y = F.scaled_dot_product_attention(*ours, attn_mask=om, **kw)
    ty = TF.scaled_dot_product_attention(*theirs, attn_mask=tm, **kw)
    rtol, atol = TOL[dtype]
    assert y.shape == tuple(ty.shape) and y.dtype == dtype
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=rtol, atol=atol, err_msg="value")
    up = rng.standard_normal(y.shape).astype(dtype)
    y.backward(Tensor(up))
    ty.backward(torch.tensor(up))
    pairs = list(zip(ours, theirs))
    if mask_grad:
        pairs.append((om, tm))
    for name, (a, b) in zip(("dq", "dk", "dv", "dmask"), pairs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol, err_msg=name)


@st.composite
def attention_case(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    lead = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    L, S, E, Ev = (draw(st.integers(1, 5)) for _ in range(4))
    q, k, v = (rng.standard_normal((*lead, n, e)) for n, e in ((L, E), (S, E), (S, Ev)))
    return rng, q, k, v


dtypes = st.sampled_from([np.float64, np.float32])
scales = st.sampled_from([None, 0.3, 2.0])


@given(case=attention_case(), dtype=dtypes, scale=scales, causal=st.booleans())
def test_no_mask_and_is_causal(case, dtype, scale, causal):
    """is_causal is top-left aligned as torch's, whatever L and S."""
    rng, q, k, v = case
    compare(q, k, v, dtype, rng, is_causal=causal, scale=scale)


@given(case=attention_case(), dtype=dtypes, scale=scales, per_batch=st.booleans(), p=st.sampled_from([0.3, 0.7, 1.0]))
def test_bool_mask(case, dtype, scale, per_batch, p):
    """True = attend; some rows may see no key at all (torch gives 0 there)."""
    rng, q, k, v = case
    L, S = q.shape[-2], k.shape[-2]
    shape = (*q.shape[:-2], L, S) if per_batch else (L, S)
    compare(q, k, v, dtype, rng, mask=rng.random(shape) < p, scale=scale)


@given(case=attention_case(), dtype=dtypes, scale=scales, per_batch=st.booleans(), mask_grad=st.booleans())
def test_float_mask_is_added_to_the_scores(case, dtype, scale, per_batch, mask_grad):
    rng, q, k, v = case
    L, S = q.shape[-2], k.shape[-2]
    shape = (*q.shape[:-2], L, S) if per_batch else (L, S)
    bias = rng.standard_normal(shape)
    bias[rng.random(shape) < 0.3] = -np.inf
    compare(q, k, v, dtype, rng, mask=bias, mask_grad=mask_grad and not np.isinf(bias).any(), scale=scale)


@given(data=st.data(), dtype=dtypes, causal=st.booleans())
def test_enable_gqa_repeats_key_value_heads(data, dtype, causal):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    hk = data.draw(st.integers(1, 3))
    hq = hk * data.draw(st.integers(1, 3))
    b, L, S, E = (data.draw(st.integers(1, 4)) for _ in range(4))
    q, k, v = rng.standard_normal((b, hq, L, E)), rng.standard_normal((b, hk, S, E)), rng.standard_normal((b, hk, S, E))
    compare(q, k, v, dtype, rng, is_causal=causal, enable_gqa=True)


def test_broadcast_batch_dims():
    rng = np.random.default_rng(3)
    q, k, v = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((1, 3, 6, 5)), rng.standard_normal((2, 1, 6, 2))
    compare(q, k, v, np.float64, rng)


def test_fully_masked_rows_give_zero_and_zero_gradients():
    rng = np.random.default_rng(4)
    q, k, v = (rng.standard_normal((2, 3, 4)) for _ in range(3))
    keep = np.ones((3, 3), bool)
    keep[1] = False
    compare(q, k, v, np.float64, rng, mask=keep)
    bias = np.zeros((3, 3))
    bias[2] = -np.inf
    compare(q, k, v, np.float64, rng, mask=bias)
    y = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), attn_mask=keep)
    assert not y.numpy()[:, 1].any()


def test_causal_lower_right_is_torchs_lower_right_bias():
    from torch.nn.attention.bias import causal_lower_right
    rng = np.random.default_rng(5)
    for L, S in ((2, 5), (5, 5), (4, 2)):
        q, k, v = rng.standard_normal((2, L, 3)), rng.standard_normal((2, S, 3)), rng.standard_normal((2, S, 3))
        ours = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), attn_mask=F.causal_lower_right(L, S))
        theirs = TF.scaled_dot_product_attention(*(torch.tensor(a) for a in (q, k, v)),
                                                 attn_mask=causal_lower_right(L, S))
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10, atol=1e-12)


def test_window_bands_the_causal_mask():
    rng = np.random.default_rng(6)
    q, k, v = (rng.standard_normal((1, 6, 3)) for _ in range(3))
    keep = np.tril(np.ones((6, 6), bool)) & ~np.tril(np.ones((6, 6), bool), -3)  # the 3 latest keys
    compare(q, k, v, np.float64, rng, mask=keep)
    ours = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), is_causal=True, window=3)
    np.testing.assert_allclose(ours.numpy(), TF.scaled_dot_product_attention(
        *(torch.tensor(a) for a in (q, k, v)), attn_mask=torch.as_tensor(keep)).numpy(), rtol=1e-10)


@pytest.mark.parametrize("bad,exc", [
    (lambda q: F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), bool), is_causal=True),
     RuntimeError),
    (lambda q: F.scaled_dot_product_attention(q, q[..., :2], q), RuntimeError),
    (lambda q: F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((2, 3), bool)), RuntimeError),
    (lambda q: F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), np.int64)), TypeError),
    (lambda q: F.scaled_dot_product_attention(q, q, q, window=2), ValueError),
    (lambda q: F.scaled_dot_product_attention(q, q, q.numpy()), TypeError),
])
def test_bad_arguments(bad, exc):
    with pytest.raises(exc):
        bad(Tensor(np.zeros((2, 3, 4))))


def test_gqa_heads_must_divide():
    q, k = Tensor(np.zeros((1, 3, 2, 4))), Tensor(np.zeros((1, 2, 2, 4)))
    with pytest.raises(RuntimeError, match="heads"):
        F.scaled_dot_product_attention(q, k, k, enable_gqa=True)
    with pytest.raises(RuntimeError):
        TF.scaled_dot_product_attention(torch.zeros(1, 3, 2, 4), torch.zeros(1, 2, 2, 4), torch.zeros(1, 2, 2, 4),
                                        enable_gqa=True)
