"""torch.nn.functional (apart from the losses) against torch where earlier parity tests did not
reach: dropout with p = 1, the feature dropouts' reading of other ranks, ... (session 14).
Values in float64 (float32 where the dtype matters); gradients against torch's autograd."""

from __future__ import annotations

import warnings

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


def both(ours, theirs, arrays, ints=(), grad=True, rtol=1e-10, atol=1e-12):
    """Same outputs (shape, dtype, values, NaN where torch has NaN) and, for float64 inputs, the same
    gradients for a random upstream gradient on the first output."""
    need = [grad and i not in ints and a.dtype == np.float64 for i, a in enumerate(arrays)]
    ts = [Tensor(a.copy(), requires_grad=r) for a, r in zip(arrays, need)]
    tt = [torch.tensor(a, requires_grad=r) for a, r in zip(arrays, need)]
    o, t = ours(*ts), theirs(*tt)
    o, t = (o if isinstance(o, tuple) else (o,)), (t if isinstance(t, tuple) else (t,))
    assert len(o) == len(t)
    for a, b in zip(o, t):
        if b is None:  # e.g. need_weights=False
            assert a is None
            continue
        b = b.detach().numpy()
        assert a.shape == b.shape and str(a.dtype) == str(b.dtype), (a.shape, a.dtype, b.shape, b.dtype)
        np.testing.assert_allclose(a.numpy(), b, rtol=rtol, atol=atol, equal_nan=True)
    if any(need):
        g = np.random.default_rng(7).standard_normal(tuple(t[0].shape))
        o[0].backward(Tensor(g))
        t[0].backward(torch.tensor(g))
        for i, (a, b) in enumerate(zip(ts, tt)):
            if b.requires_grad:  # torch leaves .grad None where the gradient is zero by rule (norm p=0)
                assert a.grad is not None or b.grad is None, f"input {i}: no gradient"
                expected = np.zeros(b.shape) if b.grad is None else b.grad.numpy()
                got = np.zeros(b.shape) if a.grad is None else a.grad.numpy()
                np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-10, equal_nan=True,
                                           err_msg=f"input {i}")


def raises_as_torch(ours, theirs):
    with pytest.raises(Exception) as te:
        theirs()
    with pytest.raises(type(te.value)):
        ours()


# ---- dropouts ---------------------------------------------------------------------------------------


DROPOUTS = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"]


@pytest.mark.parametrize("name", DROPOUTS)
def test_dropout_with_p_one_is_zeros_with_zero_gradient_as_torch(name):
    shape = (2, 3, 4) if name != "dropout3d" else (2, 3, 4, 5)
    both(lambda x: getattr(F, name)(x, 1.0, True), lambda x: getattr(TF, name)(x, 1.0, True), [R(*shape)])
    both(lambda x: getattr(F, name)(x, 1.0, False), lambda x: getattr(TF, name)(x, 1.0, False), [R(*shape)])


@pytest.mark.parametrize("name", DROPOUTS)
def test_dropout_inplace_writes_the_input_as_torch(name):
    x, t = engine.ones(2, 4, 3, 3), torch.ones(2, 4, 3, 3)
    if name == "dropout1d":
        x, t = engine.ones(2, 4, 3), torch.ones(2, 4, 3)
    r, rt = getattr(F, name)(x, 0.5, True, True), getattr(TF, name)(t, 0.5, True, True)
    assert (r is x) == (rt is t) and rt is t
    assert not np.all(x.numpy() == 1) and not torch.all(t == 1).item()


def test_scaled_dot_product_attention_with_dropout_p_one_is_zeros_as_torch():
    both(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, dropout_p=1.0),
         lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, dropout_p=1.0),
         [R(2, 3, 4), R(2, 5, 4, seed=2), R(2, 5, 6, seed=3)])


def _drawn_groups(y: np.ndarray, lead: int) -> np.ndarray:
    """y reshaped (units, rest) with one unit per index of the first ``lead`` dims; asserts each unit
    is all kept or all dropped, and returns which units were kept."""
    units = y.reshape(int(np.prod(y.shape[:lead])), -1)
    assert (units == units[:, :1]).all(), "a channel was dropped only in part"
    return units[:, 0] != 0


@pytest.mark.parametrize("name, shape, lead", [
    ("dropout2d", (400, 5, 3), 2),       # torch reads a 3-D input to dropout2d as (N, C, L)
    ("dropout2d", (400, 5), 2),          # and a 2-D one as (N, C), with a deprecation warning
    ("dropout2d", (40, 5, 2, 2, 2), 2),  # 5-D: the first two dims too
    ("dropout3d", (400, 5), 1),          # dropout3d: anything but 5-D is one unbatched sample
    ("dropout3d", (400, 2, 2), 1),
    ("dropout3d", (400,), 1),
])
def test_feature_dropouts_draw_per_channel_of_the_ranks_torch_reads(name, shape, lead):
    engine.manual_seed(0)
    torch.manual_seed(0)
    warned = []
    for lib, fn in ((engine, getattr(F, name)), (torch, getattr(TF, name))):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            y = fn(lib.ones(*shape, dtype=lib.float64), 0.25)
        warned.append(len(w) > 0)
        y = y.numpy()
        assert y.shape == shape
        kept = _drawn_groups(y, lead)
        assert np.allclose(y[y != 0], 1 / 0.75)
        assert abs((~kept).mean() - 0.25) < 0.05, (lib.__name__, (~kept).mean())
    assert warned[0] == warned[1], "warns where torch warns"


def test_feature_dropouts_rank_errors_as_torch():
    raises_as_torch(lambda: F.dropout1d(engine.ones(2, 3, 4, 5), 0.5),
                    lambda: TF.dropout1d(torch.ones(2, 3, 4, 5), 0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raises_as_torch(lambda: F.dropout2d(engine.ones(5), 0.5), lambda: TF.dropout2d(torch.ones(5), 0.5))
        raises_as_torch(lambda: F.dropout3d(engine.ones(()), 0.5), lambda: TF.dropout3d(torch.ones(()), 0.5))
        both(lambda x: F.dropout2d(x, 0.5, training=False), lambda x: TF.dropout2d(x, 0.5, training=False), [R(5)])
    raises_as_torch(lambda: F.feature_alpha_dropout(engine.ones(5), 0.5, True),
                    lambda: TF.feature_alpha_dropout(torch.ones(5), 0.5, True))
    for p in (-0.1, 1.5):
        raises_as_torch(lambda p=p: F.dropout(engine.ones(3), p), lambda p=p: TF.dropout(torch.ones(3), p))


# ---- normalize and distances ------------------------------------------------------------------------


def _with_zero_row(*shape, seed=1):
    x = R(*shape, seed=seed)
    x[1] = 0.0
    return x


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.5, float("inf"), -float("inf"), 0.0, -1.5])
@pytest.mark.parametrize("dim", [0, 1, -1, (0, 1)])
def test_normalize_any_p_with_a_zero_row_as_torch(p, dim):
    both(lambda x: F.normalize(x, p=p, dim=dim), lambda x: TF.normalize(x, p=p, dim=dim), [_with_zero_row(4, 5)])


def test_normalize_eps_dtype_and_errors_as_torch():
    both(lambda x: F.normalize(x, eps=0.5), lambda x: TF.normalize(x, eps=0.5), [_with_zero_row(4, 5)])
    x32 = R(3, 4, dtype="float32")
    assert F.normalize(Tensor(x32)).dtype == np.float32
    np.testing.assert_allclose(F.normalize(Tensor(x32), p=float("inf")).numpy(),
                               TF.normalize(torch.tensor(x32), p=float("inf")).numpy(), rtol=1e-6)
    raises_as_torch(lambda: F.normalize(Tensor(np.array([[1, 2]]))), lambda: TF.normalize(torch.tensor([[1, 2]])))
    raises_as_torch(lambda: F.normalize(Tensor(R(3))), lambda: TF.normalize(torch.tensor(R(3))))


@pytest.mark.parametrize("p", [0.0, -1.0, 0.5, float("inf")])
def test_distances_gradients_at_p_zero_negative_and_zero_entries_as_torch(p):
    a, b = R(4, 5), R(4, 5, seed=2)
    a[2, 1] = b[2, 1]  # a zero difference: norm 0 for p < 0
    both(lambda x, y: F.pairwise_distance(x, y, p=p, eps=0.0), lambda x, y: TF.pairwise_distance(x, y, p=p, eps=0.0),
         [a, b])
    both(lambda x, y: engine.cdist(x, y, p=p), lambda x, y: torch.cdist(x, y, p=p), [a, b]) if p >= 0 else None
    both(lambda x: F.pdist(x, p=p), lambda x: TF.pdist(x, p=p), [a]) if p >= 0 else None
    both(lambda x: x.norm(p, 1), lambda x: x.norm(p, 1), [a])
    both(lambda x: x.norm(p, 1, keepdim=True), lambda x: x.norm(p, 1, keepdim=True), [a])


def test_distance_argument_errors_as_torch():
    raises_as_torch(lambda: F.pdist(Tensor(R(3, 4)), -1.0), lambda: TF.pdist(torch.tensor(R(3, 4)), -1.0))
    raises_as_torch(lambda: F.cosine_similarity(Tensor(R(4, 5)), Tensor(R(4, 6))),
                    lambda: TF.cosine_similarity(torch.tensor(R(4, 5)), torch.tensor(R(4, 6))))


# ---- embedding --------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 0.5, float("inf"), -float("inf"), 0.0])
def test_embedding_max_norm_renormalises_rows_for_any_norm_type_as_torch(norm_type):
    ids = np.array([[0, 2, 5], [2, 2, 1]])
    w = R(6, 4) * 2
    wo, wt = Tensor(w.copy()), torch.tensor(w.copy())
    eo, et = (F.embedding(Tensor(ids), wo, max_norm=1.0, norm_type=norm_type),
              TF.embedding(torch.tensor(ids), wt, max_norm=1.0, norm_type=norm_type))
    np.testing.assert_allclose(eo.numpy(), et.numpy(), rtol=1e-12)
    np.testing.assert_allclose(wo.numpy(), wt.numpy(), rtol=1e-12)  # the table itself, in place
    both(lambda i, ww: F.embedding(i, ww * 1, max_norm=0.7, norm_type=norm_type),
         lambda i, ww: TF.embedding(i, ww * 1, max_norm=0.7, norm_type=norm_type), [ids, w], ints=(0,))


def test_embedding_argument_errors_as_torch():
    w = R(6, 4)
    for pad in (6, -7):
        raises_as_torch(lambda pad=pad: F.embedding(Tensor(np.array([1])), Tensor(w), padding_idx=pad),
                        lambda pad=pad: TF.embedding(torch.tensor([1]), torch.tensor(w), padding_idx=pad))
    raises_as_torch(lambda: F.embedding(Tensor(np.array([1.0])), Tensor(w)),
                    lambda: TF.embedding(torch.tensor([1.0]), torch.tensor(w)))


# ---- activations ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("shape", [(), (4,), (2, 3), (2, 3, 4), (2, 3, 4, 5), (1, 2, 2, 2, 2)])
def test_softmax_family_without_dim_takes_torchs_implicit_dim_and_warns(name, shape):
    warned = []
    for fn in (getattr(F, name), getattr(TF, name)):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            fn(Tensor(R(*shape)) if fn is getattr(F, name) else torch.tensor(R(*shape)))
        warned.append([str(m.message) for m in w])
    assert warned[0] == warned[1] and len(warned[0]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        both(getattr(F, name), getattr(TF, name), [R(*shape)])


# ---- shuffles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, groups", [((1, 6, 2, 2), 3), ((2, 4, 3), 2), ((1, 6, 2, 2), 1), ((1, 6, 2, 2, 2), 2)])
def test_channel_shuffle_as_torch(shape, groups):
    both(lambda x: F.channel_shuffle(x, groups), lambda x: TF.channel_shuffle(x, groups), [R(*shape)])
    both(lambda x: F.native_channel_shuffle(x, groups), lambda x: TF.native_channel_shuffle(x, groups), [R(*shape)],
         grad=False)  # torch has no derivative for native_channel_shuffle


@pytest.mark.parametrize("shape, groups", [((1, 6), 2), ((6,), 2), ((1, 6, 2, 2), 4), ((1, 6, 2, 2), 0)])
def test_channel_shuffle_errors_as_torch(shape, groups):
    raises_as_torch(lambda: F.channel_shuffle(Tensor(R(*shape)), groups),
                    lambda: TF.channel_shuffle(torch.tensor(R(*shape)), groups))


# ---- embedding_bag ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_max_norm_renormalises_the_table_as_torch(mode):
    ids, off, w = np.array([1, 2, 4, 5, 4, 3, 2, 9]), np.array([0, 3, 3, 6]), R(10, 3) * 2
    wo, wt = Tensor(w.copy()), torch.tensor(w.copy())
    eo = F.embedding_bag(Tensor(ids), wo, Tensor(off), max_norm=1.0, mode=mode)
    et = TF.embedding_bag(torch.tensor(ids), wt, torch.tensor(off), max_norm=1.0, mode=mode)
    np.testing.assert_allclose(eo.numpy(), et.numpy(), rtol=1e-12)
    np.testing.assert_allclose(wo.numpy(), wt.numpy(), rtol=1e-12)
    both(lambda i, ww, o: F.embedding_bag(i, ww * 1, o, max_norm=0.8, norm_type=1.0, mode=mode),
         lambda i, ww, o: TF.embedding_bag(i, ww * 1, o, max_norm=0.8, norm_type=1.0, mode=mode), [ids, w, off],
         ints=(0, 2))


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_embedding_bag_scale_grad_by_freq_as_torchs_embedding(mode):
    # torch 2.13's CPU embedding_bag divides by the wrong count when ids repeat unevenly
    # (pytorch/pytorch#190063); its embedding's scale_grad_by_freq, reduced per bag, is the oracle
    ids, w = np.array([[1, 1, 2], [1, 3, 3]]), R(5, 3)
    both(lambda i, ww: F.embedding_bag(i, ww, mode=mode, scale_grad_by_freq=True),
         lambda i, ww: getattr(TF.embedding(i, ww, scale_grad_by_freq=True), mode)(1), [ids, w], ints=(0,))
    both(lambda i, ww, o: F.embedding_bag(i, ww, o, mode=mode, scale_grad_by_freq=True),
         lambda i, ww, o: TF.embedding_bag(i, ww, o, mode=mode, scale_grad_by_freq=True),  # even counts: torch right
         [np.array([1, 2, 2, 1, 3, 3]), w, np.array([0, 2])], ints=(0, 2))


def test_embedding_bag_argument_errors_as_torch():
    ids, w = torch.tensor([1, 2, 4]), torch.tensor(R(10, 3))
    raises_as_torch(lambda: F.embedding_bag(Tensor(ids.numpy()), Tensor(w.numpy()), Tensor(np.array([1, 2]))),
                    lambda: TF.embedding_bag(ids, w, torch.tensor([1, 2])))
    raises_as_torch(lambda: F.embedding_bag(Tensor(np.array([[1, 10]])), Tensor(w.numpy())),
                    lambda: TF.embedding_bag(torch.tensor([[1, 10]]), w))
    raises_as_torch(lambda: F.embedding_bag(Tensor(np.array([[1, 2]])), Tensor(w.numpy()), mode="max",
                                            scale_grad_by_freq=True),
                    lambda: TF.embedding_bag(torch.tensor([[1, 2]]), w, mode="max", scale_grad_by_freq=True))


# ---- multi_head_attention_forward -------------------------------------------------------------------


E_, H_, L_, S_, N_ = 6, 2, 4, 5, 3


def _mha_masks(lib, which):
    t = torch.tensor if lib is torch else Tensor
    kpm = np.zeros((N_, S_), bool)
    kpm[0, 1] = True
    kpm[2, [0, 4]] = True
    return {"bool": {"attn_mask": t(np.random.default_rng(5).random((L_, S_)) > 0.7)},
            "float": {"attn_mask": t(R(L_, S_, seed=11))},
            "float3": {"attn_mask": t(R(N_ * H_, L_, S_, seed=12))},
            "kpm": {"key_padding_mask": t(kpm)},
            "kpm+bool": {"key_padding_mask": t(kpm), "attn_mask": t(np.random.default_rng(5).random((L_, S_)) > 0.7)},
            "causal": {"attn_mask": t(np.triu(np.ones((L_, S_), bool), 1)), "is_causal": True},
            "none": {}, "no_weights": {"need_weights": False}, "per_head": {"average_attn_weights": False}}[which]


@pytest.mark.parametrize("extra", ["none", "zero_attn", "bias_kv"])
@pytest.mark.parametrize("which", ["none", "no_weights", "per_head", "bool", "float", "float3", "kpm", "kpm+bool",
                                   "causal"])
def test_multi_head_attention_forward_as_torch(which, extra):
    def run(lib):
        fn = (TF if lib is torch else F).multi_head_attention_forward

        def call(q, k, v, wi, bi, wo, bo, bk, bv):
            return fn(q, k, v, E_, H_, wi, bi, bk if extra == "bias_kv" else None, bv if extra == "bias_kv" else None,
                      extra == "zero_attn", 0.0, wo, bo, training=False, **_mha_masks(lib, which))
        return call

    both(run(engine), run(torch), [R(L_, N_, E_, seed=1), R(S_, N_, E_, seed=2), R(S_, N_, E_, seed=3),
                                   R(3 * E_, E_, seed=4), R(3 * E_, seed=5), R(E_, E_, seed=6), R(E_, seed=7),
                                   R(1, 1, E_, seed=8), R(1, 1, E_, seed=9)])


def test_multi_head_attention_forward_unbatched_separate_weights_and_errors_as_torch():
    def sep(fn):
        return lambda q, k, v, wq, wk, wv, bi, wo, bo: fn(
            q, k, v, E_, H_, None, bi, None, None, False, 0.0, wo, bo, training=False, use_separate_proj_weight=True,
            q_proj_weight=wq, k_proj_weight=wk, v_proj_weight=wv)

    both(sep(F.multi_head_attention_forward), sep(TF.multi_head_attention_forward),
         [R(L_, N_, E_), R(S_, N_, 5, seed=2), R(S_, N_, 7, seed=3), R(E_, E_, seed=4), R(E_, 5, seed=5),
          R(E_, 7, seed=6), R(3 * E_, seed=7), R(E_, E_, seed=8), R(E_, seed=9)])

    def plain(fn, **kw):
        return lambda q, k, v, wi, wo: fn(q, k, v, E_, H_, wi, None, None, None, False, 0.0, wo, None, training=False,
                                          **kw)

    unbatched = [R(L_, E_), R(S_, E_, seed=2), R(S_, E_, seed=3), R(3 * E_, E_, seed=4), R(E_, E_, seed=6)]
    both(plain(F.multi_head_attention_forward), plain(TF.multi_head_attention_forward), unbatched)
    arrays = [R(L_, N_, E_), R(S_, N_, E_, seed=2), R(S_, N_, E_, seed=3), R(3 * E_, E_, seed=4), R(E_, E_, seed=6)]
    for kw in ({"is_causal": True}, {"attn_mask": R(3, 3)}, {"key_padding_mask": np.zeros((2, 2), bool)}):
        raises_as_torch(
            lambda kw=kw: plain(F.multi_head_attention_forward, **{k: Tensor(v) for k, v in kw.items()
                                                                    if k != "is_causal"},
                                **{k: v for k, v in kw.items() if k == "is_causal"})(*map(Tensor, arrays)),
            lambda kw=kw: plain(TF.multi_head_attention_forward, **{k: torch.tensor(v) for k, v in kw.items()
                                                                     if k != "is_causal"},
                                **{k: v for k, v in kw.items() if k == "is_causal"})(*map(torch.tensor, arrays)))


def test_scaled_dot_product_attention_without_keys_is_zeros_as_torch():
    both(lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
         lambda q, k, v: TF.scaled_dot_product_attention(q, k, v), [R(2, 4, 5), R(2, 0, 5, seed=2), R(2, 0, 7, seed=3)])
    both(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
         lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True),
         [R(2, 4, 5), R(2, 0, 5, seed=2), R(2, 0, 7, seed=3)])


# ---- norms ------------------------------------------------------------------------------------------


def test_norm_argument_errors_as_torch():
    x = R(2, 3, 4)
    raises_as_torch(lambda: F.batch_norm(Tensor(x), None, None, training=False),
                    lambda: TF.batch_norm(torch.tensor(x), None, None, training=False))
    raises_as_torch(lambda: F.instance_norm(Tensor(R(2, 3, 1))), lambda: TF.instance_norm(torch.tensor(R(2, 3, 1))))
    raises_as_torch(lambda: F.instance_norm(Tensor(x), use_input_stats=False),
                    lambda: TF.instance_norm(torch.tensor(x), use_input_stats=False))
    both(lambda a: F.instance_norm(a, Tensor(np.zeros(3)), Tensor(np.ones(3)), use_input_stats=False),
         lambda a: TF.instance_norm(a, torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64),
                                    use_input_stats=False), [R(2, 3, 1)])
