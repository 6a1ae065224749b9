"""F.self_attention (one fused op from qkv) equals its composition from primitives."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import engine
import engine.functional as F
from engine import Tensor


def composed(qkv, n_head, window=None, dropout_p=0.0):
    B, T, C3 = qkv.shape
    heads = qkv.reshape(B, T, 3, n_head, C3 // 3 // n_head).permute(2, 0, 3, 1, 4)
    y = F.scaled_dot_product_attention(heads[0], heads[1], heads[2], dropout_p=dropout_p, is_causal=True,
                                       window=window)
    return y.permute(0, 2, 1, 3).reshape(B, T, C3 // 3)


@given(b=st.integers(1, 3), t=st.integers(1, 6), n_head=st.integers(1, 3), hs=st.integers(1, 4),
       window=st.one_of(st.none(), st.integers(1, 6)), dropout_p=st.sampled_from([0.0, 0.3]),
       seed=st.integers(0, 2**31))
def test_self_attention_equals_composition(b, t, n_head, hs, window, dropout_p, seed):
    x = np.random.default_rng(seed).standard_normal((b, t, 3 * n_head * hs))
    upstream = np.random.default_rng(seed + 1).standard_normal((b, t, n_head * hs))
    results = []
    for fn in (F.self_attention, composed):
        qkv = Tensor(x, requires_grad=True)
        engine.manual_seed(seed)  # the same dropout mask on both paths
        y = fn(qkv, n_head, window=window, dropout_p=dropout_p)
        y.backward(upstream)
        results.append((y.numpy(), qkv.grad.numpy()))
    (y1, g1), (y2, g2) = results
    np.testing.assert_allclose(y1, y2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-12)


def test_self_attention_rejects_a_bad_width():
    with pytest.raises(ValueError, match=r"\(2, 3, 10\)"):
        F.self_attention(Tensor.zeros(2, 3, 10), n_head=2)
