"""Parity with torch.nn for the layers built from today's engine ops: weights copied through
state_dict, outputs, running buffers and gradients (inputs and parameters) compared in float32
(1e-5) and float64 (1e-10), in train and eval mode (dropout 0)."""

import numpy as np
import pytest

import nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

from parity_helpers import compare, pair  # noqa: E402

DTYPES = ["float32", "float64"]
MODES = [True, False]


def rnd(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def run(tm, om, inputs, dtype, train, **kw):
    torch.manual_seed(0)
    tm, om = pair(torch, tm, om, dtype)
    compare(torch, tm, om, inputs, dtype, train, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("train", MODES)
@pytest.mark.parametrize("name,make,shape", [
    ("linear", lambda m: m.Linear(4, 3), (2, 5, 4)),
    ("linear_nobias", lambda m: m.Linear(4, 3, bias=False), (2, 4)),
    ("identity", lambda m: m.Sequential(m.Linear(3, 3), m.Identity(54, unused=1)), (2, 3)),
    ("flatten", lambda m: m.Sequential(m.Flatten(), m.Linear(6, 2)), (4, 2, 3)),
    ("unflatten", lambda m: m.Sequential(m.Linear(6, 6), m.Unflatten(1, (2, 3))), (4, 6)),
    ("layernorm", lambda m: m.LayerNorm(5), (3, 5)),
    ("layernorm_2d_shape", lambda m: m.LayerNorm((2, 3), eps=1e-3), (4, 2, 3)),
    ("layernorm_noaffine", lambda m: m.LayerNorm(4, elementwise_affine=False), (2, 4)),
    ("layernorm_nobias", lambda m: m.LayerNorm([4], bias=False), (2, 4)),
    ("rmsnorm", lambda m: m.RMSNorm(4), (3, 4)),
    ("rmsnorm_eps_2d", lambda m: m.RMSNorm((2, 4), eps=1e-3), (3, 2, 4)),
    ("batchnorm1d_2d", lambda m: m.BatchNorm1d(3), (5, 3)),
    ("batchnorm1d_3d", lambda m: m.BatchNorm1d(3, momentum=0.3), (4, 3, 2)),
    ("batchnorm1d_cma", lambda m: m.BatchNorm1d(3, momentum=None), (4, 3)),
    ("batchnorm1d_noaffine", lambda m: m.BatchNorm1d(3, affine=False), (4, 3)),
    ("batchnorm1d_notrack", lambda m: m.BatchNorm1d(3, track_running_stats=False), (4, 3)),
    ("batchnorm2d", lambda m: m.BatchNorm2d(2), (3, 2, 2, 3)),
    ("groupnorm", lambda m: m.GroupNorm(2, 4), (3, 4, 3)),
    ("groupnorm_noaffine", lambda m: m.GroupNorm(1, 3, affine=False), (2, 3, 2, 2)),
    ("instancenorm1d", lambda m: m.InstanceNorm1d(3), (2, 3, 4)),
    ("instancenorm1d_unbatched", lambda m: m.InstanceNorm1d(3, affine=True), (3, 4)),
    ("instancenorm1d_track", lambda m: m.InstanceNorm1d(3, affine=True, track_running_stats=True), (2, 3, 4)),
    ("instancenorm2d", lambda m: m.InstanceNorm2d(2, affine=True), (2, 2, 3, 3)),
    ("lrn_3d", lambda m: m.LocalResponseNorm(3), (2, 5, 3)),
    ("lrn_4d", lambda m: m.LocalResponseNorm(2, alpha=0.1, beta=0.5, k=2.0), (2, 4, 2, 2)),
    ("dropout0", lambda m: m.Sequential(m.Linear(3, 3), m.Dropout(0.0), m.Dropout1d(0.0)), (2, 3, 3)),
])
def test_layer_parity(name, make, shape, dtype, train):
    run(make(torch.nn), make(nn), [rnd(*shape)], dtype, train)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bilinear(dtype):
    run(torch.nn.Bilinear(3, 2, 4), nn.Bilinear(3, 2, 4), [rnd(5, 3), rnd(5, 2, seed=1)], dtype, True)
    run(torch.nn.Bilinear(2, 2, 3, bias=False), nn.Bilinear(2, 2, 3, bias=False),
        [rnd(2, 4, 2), rnd(2, 4, 2, seed=1)], dtype, False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_running_stats_over_steps(dtype):
    """Several train steps then eval: running mean/var (unbiased), num_batches_tracked, eval output."""
    for momentum in (0.1, None):
        tm, om = pair(torch, torch.nn.BatchNorm1d(3, momentum=momentum), nn.BatchNorm1d(3, momentum=momentum), dtype)
        for step in range(3):
            compare(torch, tm, om, [rnd(4, 3, seed=step) * (step + 1)], dtype, True, seed=step)
        assert int(om.num_batches_tracked.item()) == 3
        compare(torch, tm, om, [rnd(4, 3, seed=9)], dtype, False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [
    {}, {"padding_idx": 1}, {"padding_idx": -1}, {"max_norm": 1.0},
])
def test_embedding(dtype, kw):
    ids = np.array([[0, 1, 2], [1, 3, 1]])
    run(torch.nn.Embedding(5, 3, **kw), nn.Embedding(5, 3, **kw), [ids], dtype, True)


def test_embedding_padding_row_zero_init_and_from_pretrained():
    e = nn.Embedding(4, 2, padding_idx=2)
    assert not e.weight.numpy()[2].any()
    w = rnd(3, 2)
    fe, te = nn.Embedding.from_pretrained(w), torch.nn.Embedding.from_pretrained(torch.tensor(w))
    assert fe.weight.requires_grad == te.weight.requires_grad is False
    np.testing.assert_array_equal(fe(np.array([2, 0])).numpy(), te(torch.tensor([2, 0])).numpy())
    assert repr(fe) == repr(te) and repr(nn.Embedding(4, 2, padding_idx=2)) == repr(torch.nn.Embedding(4, 2, 2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag(dtype, mode):
    ids2 = np.array([[0, 2, 1], [3, 3, 1]])
    run(torch.nn.EmbeddingBag(5, 3, mode=mode), nn.EmbeddingBag(5, 3, mode=mode), [ids2], dtype, True)
    ids1, offs = np.array([1, 2, 4, 4, 0, 3]), np.array([0, 2, 2, 5])
    run(torch.nn.EmbeddingBag(5, 3, mode=mode), nn.EmbeddingBag(5, 3, mode=mode), [ids1, offs], dtype, True)
    run(torch.nn.EmbeddingBag(5, 3, mode=mode, include_last_offset=True),
        nn.EmbeddingBag(5, 3, mode=mode, include_last_offset=True), [ids1, np.array([0, 2, 6])], dtype, True)


def test_embedding_bag_per_sample_weights():
    ids1, offs, w = np.array([1, 2, 4, 0]), np.array([0, 3]), rnd(4)
    run(torch.nn.EmbeddingBag(5, 3, mode="sum"), nn.EmbeddingBag(5, 3, mode="sum"), [ids1, offs, w], "float64",
        True)


RNN_CONFIGS = [
    {},
    {"num_layers": 2},
    {"bidirectional": True},
    {"num_layers": 2, "bidirectional": True, "batch_first": True},
    {"bias": False},
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("train", MODES)
@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("cfg", RNN_CONFIGS)
def test_rnn_family(kind, cfg, dtype, train):
    x = rnd(4, 2, 3)  # (T, N, C) or (N, T, C) with batch_first
    run(getattr(torch.nn, kind)(3, 4, **cfg), getattr(nn, kind)(3, 4, **cfg), [x], dtype, train)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rnn_relu_initial_state_and_unbatched(dtype):
    cfg = {"num_layers": 2, "nonlinearity": "relu", "bidirectional": True}
    run(torch.nn.RNN(3, 4, **cfg), nn.RNN(3, 4, **cfg), [rnd(3, 2, 3), rnd(4, 2, 4, seed=1)], dtype, True)
    run(torch.nn.GRU(3, 4), nn.GRU(3, 4), [rnd(3, 3), rnd(1, 4, seed=1)], dtype, True)  # unbatched


@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_proj_and_initial_states(dtype):
    cfg = {"num_layers": 2, "proj_size": 2, "bidirectional": True}
    h0, c0 = rnd(4, 3, 2, seed=1), rnd(4, 3, 5, seed=2)
    run(torch.nn.LSTM(3, 5, **cfg), nn.LSTM(3, 5, **cfg), [rnd(4, 3, 3), (h0, c0)], dtype, True,
        call=lambda m, x, hc: m(x, tuple(torch.tensor(a, dtype=x.dtype) if m.__module__.startswith("torch")
                                         else _t(a, x.dtype) for a in hc)))
    run(torch.nn.LSTM(3, 5, proj_size=3), nn.LSTM(3, 5, proj_size=3), [rnd(4, 3)], dtype, False)  # unbatched


def _t(a, dtype):
    from engine import Tensor

    return Tensor(a.astype(dtype))


def test_lstm_names_are_torchs():
    cfg = {"num_layers": 2, "proj_size": 2, "bidirectional": True}
    assert list(nn.LSTM(3, 5, **cfg).state_dict()) == list(torch.nn.LSTM(3, 5, **cfg).state_dict())
    assert repr(nn.LSTM(3, 5, **cfg)) == repr(torch.nn.LSTM(3, 5, **cfg))
    assert repr(nn.RNN(3, 5, nonlinearity="relu")) == repr(torch.nn.RNN(3, 5, nonlinearity="relu"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["RNNCell", "GRUCell", "LSTMCell"])
def test_cells(kind, dtype):
    run(getattr(torch.nn, kind)(3, 4), getattr(nn, kind)(3, 4), [rnd(2, 3)], dtype, True)
    run(getattr(torch.nn, kind)(3, 4, bias=False), getattr(nn, kind)(3, 4, bias=False), [rnd(3)], dtype, True)
    if kind != "LSTMCell":
        run(getattr(torch.nn, kind)(3, 4), getattr(nn, kind)(3, 4), [rnd(2, 3), rnd(2, 4, seed=1)], dtype, True)


def _mha_call(kw):
    def call(m, q, k, v, *masks):
        return m(q, k, v, **kw, **({"attn_mask": masks[0]} if masks else {}))
    return call


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("train", MODES)
@pytest.mark.parametrize("ctor,fwd", [
    ({}, {}),
    ({"batch_first": True}, {"average_attn_weights": False}),
    ({"bias": False}, {"need_weights": False}),
    ({"add_bias_kv": True, "add_zero_attn": True}, {}),
    ({"kdim": 3, "vdim": 5}, {}),
])
def test_multihead_attention(ctor, fwd, dtype, train):
    L, S, N, E = 3, 3, 2, 4  # L == S so that batch_first reads the same arrays as (N, L, E)
    kd, vd = ctor.get("kdim", E), ctor.get("vdim", E)
    q, k, v = rnd(L, N, E), rnd(S, N, kd, seed=1), rnd(S, N, vd, seed=2)
    run(torch.nn.MultiheadAttention(E, 2, **ctor), nn.MultiheadAttention(E, 2, **ctor), [q, k, v], dtype, train,
        call=_mha_call(fwd))


@pytest.mark.parametrize("dtype", DTYPES)
def test_multihead_attention_masks(dtype):
    L, S, N, E, H = 3, 4, 2, 4, 2
    q, k, v = rnd(L, N, E), rnd(S, N, E, seed=1), rnd(S, N, E, seed=2)
    bool_mask = np.triu(np.ones((L, S), bool), k=2)
    float_mask = rnd(N * H, L, S, seed=3)
    kpm = np.array([[False, False, True, False], [False, True, False, False]])
    for mask in (bool_mask, float_mask):
        run(torch.nn.MultiheadAttention(E, H), nn.MultiheadAttention(E, H), [q, k, v, mask], dtype, True,
            grad_inputs=[True, True, True, False], call=_mha_call({}))
    run(torch.nn.MultiheadAttention(E, H), nn.MultiheadAttention(E, H), [q, k, v, kpm], dtype, True,
        call=lambda m, q, k, v, p: m(q, k, v, key_padding_mask=p))
    # unbatched
    run(torch.nn.MultiheadAttention(E, H), nn.MultiheadAttention(E, H), [q[:, 0], k[:, 0], v[:, 0]], dtype, True)


def test_multihead_attention_names_and_repr():
    for kw in ({}, {"kdim": 3, "vdim": 5, "add_bias_kv": True}):
        t, o = torch.nn.MultiheadAttention(4, 2, **kw), nn.MultiheadAttention(4, 2, **kw)
        assert list(o.state_dict()) == list(t.state_dict())
        assert repr(o) == repr(t)


def _tf_call(fwd):
    def call(m, *xs):
        return m(*xs, **fwd)
    return call


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("train", MODES)
@pytest.mark.parametrize("kw", [
    {},
    {"norm_first": True, "activation": "gelu", "batch_first": True},
    {"bias": False, "layer_norm_eps": 1e-3},
])
def test_transformer_layers(kw, dtype, train):
    src, tgt = rnd(3, 2, 4), rnd(3, 2, 4, seed=1)
    common = dict(dim_feedforward=6, dropout=0.0, **kw)
    run(torch.nn.TransformerEncoderLayer(4, 2, **common), nn.TransformerEncoderLayer(4, 2, **common), [src], dtype,
        train)
    run(torch.nn.TransformerDecoderLayer(4, 2, **common), nn.TransformerDecoderLayer(4, 2, **common), [tgt, src],
        dtype, train)


@pytest.mark.parametrize("dtype", DTYPES)
def test_transformer_full_with_masks(dtype):
    common = dict(d_model=4, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=6, dropout=0.0)
    src, tgt = rnd(3, 2, 4), rnd(2, 2, 4, seed=1)
    tgt_mask = torch.nn.Transformer.generate_square_subsequent_mask(2, dtype=getattr(torch, dtype)).numpy()
    np.testing.assert_array_equal(nn.Transformer.generate_square_subsequent_mask(2, dtype=dtype).numpy(), tgt_mask)
    run(torch.nn.Transformer(**common), nn.Transformer(**common), [src, tgt, tgt_mask], dtype, True,
        grad_inputs=[True, True, False], call=lambda m, s, t, mk: m(s, t, tgt_mask=mk))
    kpm = np.array([[False, False, True], [False, False, False]])
    run(torch.nn.Transformer(**common), nn.Transformer(**common), [src, tgt, kpm], dtype, True,
        call=lambda m, s, t, p: m(s, t, src_key_padding_mask=p, memory_key_padding_mask=p))


def test_transformer_names_and_repr():
    common = dict(d_model=4, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=6)
    t, o = torch.nn.Transformer(**common), nn.Transformer(**common)
    assert list(o.state_dict()) == list(t.state_dict())
    enc_t = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(4, 2, 6), 2, enable_nested_tensor=False)
    enc_o = nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 6), 2)
    assert list(enc_o.state_dict()) == list(enc_t.state_dict())
    want = repr(torch.nn.TransformerEncoderLayer(4, 2, 6))
    assert repr(nn.TransformerEncoderLayer(4, 2, 6)) == want


def test_module_containers_match_torch_names():
    from collections import OrderedDict

    def build(m):
        seq = m.Sequential(OrderedDict(fc=m.Linear(2, 3), act=m.ReLU()))
        seq.append(m.Linear(3, 1))
        lst = m.ModuleList([m.Linear(1, 1)])
        lst.insert(0, m.Linear(1, 2))
        lst.extend([m.BatchNorm1d(2)])
        pl = m.ParameterList([m.Parameter(torch.zeros(2)) if m is torch.nn else m.Parameter(np.zeros(2))])
        pd = m.ParameterDict({"a": m.Parameter(torch.ones(1)) if m is torch.nn else m.Parameter(np.ones(1))})
        return m.ModuleDict({"seq": seq, "lst": lst, "pl": m.ModuleList([m.Linear(1, 1)]), "params": pl, "pd": pd})

    t, o = build(torch.nn), build(nn)
    assert list(o.state_dict()) == list(t.state_dict())
    assert [n for n, _ in o.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in o.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert repr(o["seq"]) == repr(t["seq"]) and repr(o["lst"]) == repr(t["lst"])
    assert repr(o["seq"][1:]) == repr(t["seq"][1:])
    same = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert repr(same) == repr(torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)]))
