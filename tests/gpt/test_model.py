"""GPT model: gradients of the whole model, causal and banded masks, overfitting, input checks,
presets (GPT-3 Table 2.1), GPT-2 initialization and FLOP accounting."""

import math

import numpy as np
import pytest

import engine
import nn
from engine import Tensor, no_grad
from tinygrad_gpt.config import PRESETS, GPTConfig
from tinygrad_gpt.model import GPT

TINY = dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8, dropout=0.0)


def tiny(seed: int = 0, **overrides) -> GPT:
    return GPT(GPTConfig(**{**TINY, **overrides}), seed=seed)


def random_ids(shape, vocab: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, vocab, size=shape)


# ---- gradients ------------------------------------------------------------------------------
GRAD_CONFIGS = {
    "learned-dense-bias-tied": dict(pos_encoding="learned", attn_pattern="dense", bias=True, tie_weights=True),
    "sinusoidal-alternating-nobias-untied": dict(
        pos_encoding="sinusoidal", attn_pattern="alternating", local_window=2, bias=False, tie_weights=False),
    "learned-alternating-bias-untied": dict(
        pos_encoding="learned", attn_pattern="alternating", local_window=3, bias=True, tie_weights=False),
}


@pytest.mark.parametrize("overrides", GRAD_CONFIGS.values(), ids=GRAD_CONFIGS.keys())
def test_loss_gradients_of_every_parameter_match_central_differences(overrides):
    model = tiny(seed=1, **overrides).double()  # parameters and the sinusoid table
    # T = 7 > window, so banded layers really drop keys; a -1 target checks ignore_index.
    idx = random_ids((2, 7), TINY["vocab_size"], seed=2)
    targets = random_ids((2, 7), TINY["vocab_size"], seed=3)
    targets[1, 3] = -1
    params = model.parameters()
    names = [n for n, _ in model.named_parameters()]
    assert all(p.dtype == np.float64 for p in params)
    if overrides["tie_weights"]:
        assert model.lm_head.weight is model.transformer.wte.weight
    else:
        assert "lm_head.weight" in names

    # Every parameter must get a non-zero gradient, or comparing it with differences proves little.
    _, loss = model(idx, targets)
    assert loss.dtype == np.float64
    loss.backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and np.abs(p.grad.numpy()).max() > 0, n
    model.zero_grad()

    def loss_fn(*_params):
        return model(idx, targets)[1]

    assert engine.gradcheck(loss_fn, *params, max_entries=6)


# ---- masks ----------------------------------------------------------------------------------
@pytest.mark.parametrize("attn_pattern", ["dense", "alternating"])
def test_changing_token_t_changes_no_logit_before_t(attn_pattern):
    model = tiny(seed=0, n_layer=3, attn_pattern=attn_pattern, local_window=2).eval()
    idx = random_ids((2, 8), TINY["vocab_size"], seed=4)
    with no_grad():
        base = model(idx)[0].numpy()
        for t in range(8):
            changed = idx.copy()
            changed[:, t] = (changed[:, t] + 1) % TINY["vocab_size"]
            logits = model(changed)[0].numpy()
            np.testing.assert_array_equal(logits[:, :t], base[:, :t], err_msg=f"token {t} leaked backwards")
            assert (np.abs(logits[:, t] - base[:, t]) > 1e-6).any()  # the mask does not hide t itself


def test_alternating_pattern_bands_odd_layers():
    c = GPTConfig(**{**TINY, "n_layer": 4, "attn_pattern": "alternating", "local_window": 3})
    model = GPT(c, seed=0)
    assert [blk.attn.window for blk in model.transformer.h] == [None, 3, None, 3]
    assert [c.layer_window(i) for i in range(4)] == [None, 3, None, 3]
    dense = GPT(GPTConfig(**{**TINY, "n_layer": 4, "local_window": 3}), seed=0)
    assert [blk.attn.window for blk in dense.transformer.h] == [None] * 4


@pytest.mark.parametrize("window", [1, 2, 3, 5])
def test_banded_layer_ignores_tokens_further_back_than_its_window(window):
    model = tiny(seed=0, n_embd=16, n_head=4, attn_pattern="alternating", local_window=window).eval()
    attn = model.transformer.h[1].attn
    assert attn.window == window
    T = 8
    x = np.random.default_rng(5).standard_normal((2, T, 16)).astype(np.float32)
    with no_grad():
        base = attn(Tensor(x)).numpy()
        for s in range(T):
            changed = x.copy()
            changed[:, s] += 1.0
            out = attn(Tensor(changed)).numpy()
            # Position t sees keys s with t - window < s <= t.
            for t in range(T):
                if t < s or t >= s + window:
                    np.testing.assert_array_equal(out[:, t], base[:, t], err_msg=f"key {s} reached query {t}")
                else:
                    assert (np.abs(out[:, t] - base[:, t]) > 1e-6).any(), f"key {s} should reach query {t}"


# ---- learning ---------------------------------------------------------------------------------
def test_overfits_one_batch():
    vocab = 16
    model = GPT(GPTConfig(vocab_size=vocab, block_size=16, n_layer=2, n_head=2, n_embd=32), seed=0)
    x = random_ids((4, 16), vocab, seed=6)
    y = random_ids((4, 16), vocab, seed=7)
    opt = model.optimizer(lr=1e-2, weight_decay=0.0)
    first = None
    for _ in range(300):
        _, loss = model(x, y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        first = loss.item() if first is None else first
        if loss.item() < 0.1:
            break
    assert first > 2.0  # about log(16) at init
    assert loss.item() < 0.1


def test_optimizer_decays_only_matrices():
    model = tiny(seed=0)
    opt = model.optimizer(lr=1e-3, weight_decay=0.1)
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] == 0.1 for p in g["params"]}
    for n, p in model.named_parameters():
        assert (id(p) in decayed) == (p.ndim == 2), n
    assert sum(len(g["params"]) for g in opt.param_groups) == len(model.parameters())


# ---- input checks -----------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [11, 12, 1000, -1])
def test_token_ids_outside_vocab_raise_naming_the_id(bad):
    model = tiny()
    idx = np.array([[0, 3, bad, 2]])
    with pytest.raises(ValueError, match=rf"(?<!\d){bad}(?!\d)"):
        model(idx)
    with pytest.raises(ValueError, match=rf"(?<!\d){bad}(?!\d)"):
        model.generate(idx, 2, temperature=0)


def test_sequence_longer_than_block_size_raises_naming_the_length():
    model = tiny()
    with pytest.raises(ValueError, match=r"length 9 exceeds block_size 8"):
        model(np.zeros((1, 9), dtype=np.int64))
    model(np.zeros((1, 8), dtype=np.int64))  # exactly block_size is fine


def test_token_ids_must_be_integer_2d():
    model = tiny()
    with pytest.raises(TypeError, match="integers"):
        model(np.zeros((1, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(np.zeros(4, dtype=np.int64))


def test_targets_shape_must_match():
    model = tiny()
    with pytest.raises(ValueError, match="targets shape"):
        model(np.zeros((2, 4), dtype=np.int64), np.zeros((2, 3), dtype=np.int64))


def test_loss_ignores_minus_one_targets():
    model = tiny(seed=3)
    idx = random_ids((2, 6), TINY["vocab_size"], seed=8)
    targets = random_ids((2, 6), TINY["vocab_size"], seed=9)
    targets[0, 2] = targets[1, 5] = -1
    with no_grad():
        logits, loss = model(idx, targets)
    z = logits.numpy().astype(np.float64)
    logp = z - z.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    keep = targets != -1
    expected = -logp[keep, targets[keep]].mean()
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-6)


# ---- configs and presets -----------------------------------------------------------------------
def test_unknown_preset_names_it_and_the_choices():
    with pytest.raises(ValueError, match=r"unknown preset 'gpt5'.*gpt2"):
        GPTConfig.from_preset("gpt5")


def test_unknown_override_field_is_named():
    with pytest.raises(ValueError, match="n_embed"):
        GPTConfig.from_preset("baby", n_embed=64)


def test_n_embd_not_divisible_by_n_head_names_both():
    with pytest.raises(ValueError, match=r"n_embd 100 is not divisible by n_head 3"):
        GPTConfig(n_embd=100, n_head=3)
    with pytest.raises(ValueError, match=r"n_embd 100 is not divisible by n_head 3"):
        GPTConfig.from_preset("baby", n_embd=100, n_head=3)


@pytest.mark.parametrize("field, value", [
    ("n_layer", 0), ("block_size", -1), ("vocab_size", 2.5), ("n_head", True), ("local_window", 0),
    ("dropout", 1.0), ("dropout", -0.1), ("pos_encoding", "rotary"), ("attn_pattern", "sparse"),
])
def test_invalid_config_fields_are_named(field, value):
    with pytest.raises(ValueError, match=field):
        GPTConfig(**{field: value})


# GPT-3 paper (Brown et al. 2020), Table 2.1: n_params, n_layers, d_model, n_heads, d_head; n_ctx = 2048.
GPT3_TABLE = {
    "gpt3-small": (125e6, 12, 768, 12, 64),
    "gpt3-medium": (350e6, 24, 1024, 16, 64),
    "gpt3-large": (760e6, 24, 1536, 16, 96),
    "gpt3-xl": (1.3e9, 24, 2048, 24, 128),
    "gpt3-2.7b": (2.7e9, 32, 2560, 32, 80),
    "gpt3-6.7b": (6.7e9, 32, 4096, 32, 128),
    "gpt3-13b": (13.0e9, 40, 5140, 40, 128),
    "gpt3-175b": (175.0e9, 96, 12288, 96, 128),
}
# Where the table cannot be followed literally, the presets keep its d_head:
#   gpt3-xl: 24 heads do not divide d_model 2048, so 16 heads of 128;
#   gpt3-13b: 5140 is not 40 heads of 128 (nor any whole d_head), so d_model 5120.
DEVIATIONS = {"gpt3-xl": {"n_head": 16}, "gpt3-13b": {"n_embd": 5120}}


@pytest.mark.parametrize("name", GPT3_TABLE)
def test_gpt3_presets_follow_table_2_1(name):
    n_params, n_layer, d_model, n_head, d_head = GPT3_TABLE[name]
    c = GPTConfig.from_preset(name)
    expected = {"n_layer": n_layer, "n_embd": d_model, "n_head": n_head, **DEVIATIONS.get(name, {})}
    assert (c.n_layer, c.n_embd, c.n_head) == (expected["n_layer"], expected["n_embd"], expected["n_head"])
    assert c.n_embd // c.n_head == d_head
    assert c.block_size == 2048
    assert c.attn_pattern == "alternating" and c.vocab_size == 50257
    # The table's sizes, from 12·L·d² (blocks) + (vocab + context)·d (embeddings), within 3%.
    n = 12 * c.n_layer * c.n_embd**2 + (c.vocab_size + c.block_size) * c.n_embd
    assert abs(n / n_params - 1) < 0.03, (name, n)


def test_gpt3_preset_list_is_complete():
    assert {n for n in PRESETS if n.startswith("gpt3")} == set(GPT3_TABLE)


@pytest.mark.parametrize("name, shape", [
    ("gpt2", (12, 12, 768)), ("gpt2-medium", (24, 16, 1024)), ("gpt2-large", (36, 20, 1280)),
    ("gpt2-xl", (48, 25, 1600)),
])
def test_gpt2_presets(name, shape):
    c = GPTConfig.from_preset(name)
    assert (c.n_layer, c.n_head, c.n_embd) == shape
    assert (c.block_size, c.vocab_size, c.attn_pattern) == (1024, 50257, "dense")


def test_preset_overrides_and_dict_round_trip():
    c = GPTConfig.from_preset("gpt2", dropout=0.1, vocab_size=65)
    assert (c.dropout, c.vocab_size, c.n_layer) == (0.1, 65, 12)
    assert GPTConfig(**c.to_dict()) == c


# ---- initialization -----------------------------------------------------------------------------
def _check_normal(name: str, values: np.ndarray, std: float) -> None:
    # Five standard errors of the sample mean and of the sample std of n normal draws.
    n = values.size
    assert abs(values.mean()) < 5 * std / math.sqrt(n), name
    assert abs(values.std() / std - 1) < 5 / math.sqrt(2 * n), (name, values.std(), std)


@pytest.mark.parametrize("tie_weights", [True, False])
def test_gpt2_init(tie_weights):
    c = GPTConfig(vocab_size=300, block_size=64, n_layer=4, n_head=4, n_embd=64, tie_weights=tie_weights)
    model = GPT(c, seed=0)
    proj_std = 0.02 / math.sqrt(2 * c.n_layer)
    for n, p in model.named_parameters():
        v = p.numpy().astype(np.float64)
        if n.endswith("c_proj.weight"):
            _check_normal(n, v, proj_std)
        elif n.endswith(".bias"):
            assert (v == 0).all(), n
        elif ".ln_" in n or n.startswith("transformer.ln_f"):
            assert (v == 1).all(), n
        else:
            assert n.endswith(("wte.weight", "wpe.weight", "c_attn.weight", "c_fc.weight", "lm_head.weight")), n
            _check_normal(n, v, 0.02)
    names = {n for n, _ in model.named_parameters()}
    assert ("lm_head.weight" in names) == (not tie_weights)
    assert sum(n.endswith("c_proj.weight") for n in names) == 2 * c.n_layer


def test_seeded_init_is_reproducible_and_independent_of_global_rng():
    engine.manual_seed(1)
    a = tiny(seed=7).state_dict()
    engine.manual_seed(2)
    b = tiny(seed=7).state_dict()
    c = tiny(seed=8).state_dict()
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert any(not np.array_equal(a[k], c[k]) for k in a if a[k].std() > 0)


def test_unseeded_init_follows_engine_manual_seed():
    engine.manual_seed(3)
    a = GPT(GPTConfig(**TINY)).state_dict()
    engine.manual_seed(3)
    b = GPT(GPTConfig(**TINY)).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_state_dict_round_trip():
    a, b = tiny(seed=0), tiny(seed=1)
    b.load_state_dict(a.state_dict())
    idx = random_ids((1, 5), TINY["vocab_size"], seed=0)
    with no_grad():
        np.testing.assert_array_equal(a(idx)[0].numpy(), b(idx)[0].numpy())
    assert b.lm_head.weight is b.transformer.wte.weight  # loading keeps the tie


# ---- FLOPs ----------------------------------------------------------------------------------
def count_params(c: GPTConfig) -> int:
    """Parameters without position embeddings, counted from the architecture."""
    C, V, b = c.n_embd, c.vocab_size, int(c.bias)
    ln = C + b * C
    linear = lambda i, o: i * o + b * o  # noqa: E731
    block = 2 * ln + linear(C, 3 * C) + linear(C, C) + linear(C, 4 * C) + linear(4 * C, C)
    return V * C + c.n_layer * block + ln + (0 if c.tie_weights else V * C)


@pytest.mark.parametrize("overrides", [
    {}, {"tie_weights": False}, {"bias": False, "pos_encoding": "sinusoidal"}, {"n_layer": 3, "block_size": 16},
])
def test_flops_per_token_is_6n_plus_attention(overrides):
    model = tiny(**overrides)
    c = model.config
    n = count_params(c)
    wpe = c.block_size * c.n_embd if c.pos_encoding == "learned" else 0
    assert sum(p.numel() for p in model.parameters()) == n + wpe
    assert model.estimate_flops_per_token() == 6 * n + 12 * c.n_layer * c.n_embd * c.block_size
    assert model.estimate_flops_per_token(seq_len=5) == 6 * n + 12 * c.n_layer * c.n_embd * 5


def test_mfu():
    model = tiny()
    c = model.config
    flops = 6 * count_params(c) + 12 * c.n_layer * c.n_embd * c.block_size
    assert model.mfu(tokens_per_s=1000.0, peak_flops=1e9) == pytest.approx(flops * 1000.0 / 1e9, rel=1e-12)
    assert model.mfu(tokens_per_s=0.0, peak_flops=1e9) == 0.0


def test_module_names_match_gpt2_checkpoints():
    names = [n for n, _ in tiny(n_layer=1, tie_weights=False).named_parameters()]
    assert names == [
        "transformer.wte.weight", "transformer.wpe.weight",
        "transformer.h.0.ln_1.weight", "transformer.h.0.ln_1.bias",
        "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.bias",
        "transformer.h.0.attn.c_proj.weight", "transformer.h.0.attn.c_proj.bias",
        "transformer.h.0.ln_2.weight", "transformer.h.0.ln_2.bias",
        "transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_fc.bias",
        "transformer.h.0.mlp.c_proj.weight", "transformer.h.0.mlp.c_proj.bias",
        "transformer.ln_f.weight", "transformer.ln_f.bias", "lm_head.weight",
    ]
    assert isinstance(tiny().transformer.h[0].attn, nn.CausalSelfAttention)


# ---- Hugging Face format without transformers ------------------------------------------------
def test_save_pretrained_then_from_pretrained_is_exact(tmp_path):
    for tie in (True, False):
        model = tiny(seed=4, tie_weights=tie)
        model.save_pretrained(tmp_path / str(tie))
        back = GPT.from_pretrained(tmp_path / str(tie))
        assert back.config == model.config
        for (k, a), (k2, b) in zip(model.state_dict().items(), back.state_dict().items()):
            assert k == k2
            np.testing.assert_array_equal(a, b, err_msg=k)
        assert (back.lm_head.weight is back.transformer.wte.weight) == tie
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize("overrides, match", [
    ({"pos_encoding": "sinusoidal"}, "learned positions"),
    ({"attn_pattern": "alternating"}, "dense attention"),
    ({"bias": False}, "biases"),
])
def test_save_pretrained_refuses_what_gpt2_cannot_hold(tmp_path, overrides, match):
    with pytest.raises(ValueError, match=match):
        tiny(**overrides).save_pretrained(tmp_path)


def test_from_pretrained_needs_both_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        GPT.from_pretrained(tmp_path)
    tiny().save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        GPT.from_pretrained(tmp_path)


@pytest.mark.parametrize("key, value", [
    ("activation_function", "relu"),
    ("activation_function", "gelu"),  # erf GELU; GPT-2's is the tanh approximation
    ("layer_norm_epsilon", 1e-6),
    ("scale_attn_weights", False),
    ("scale_attn_by_inverse_layer_idx", True),
    ("n_inner", 64),
    ("add_cross_attention", True),
])
def test_from_pretrained_refuses_configs_it_would_compute_differently(tmp_path, key, value):
    import json

    tiny().save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg[key] = value
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=rf"{key}.*{value}"):
        GPT.from_pretrained(tmp_path)


@pytest.mark.parametrize("key, value", [
    ("activation_function", "gelu_pytorch_tanh"), ("n_inner", 32), ("n_inner", None),
    ("reorder_and_upcast_attn", True),  # only the precision of an intermediate, not the math
])
def test_from_pretrained_accepts_equivalent_configs(tmp_path, key, value):
    import json

    model = tiny(seed=2)
    model.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg[key] = value
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    back = GPT.from_pretrained(tmp_path)
    idx = random_ids((1, 6), TINY["vocab_size"], seed=1)
    with no_grad():
        np.testing.assert_array_equal(back(idx)[0].numpy(), model(idx)[0].numpy())


def test_from_pretrained_reads_the_original_gpt2_key_layout(tmp_path):
    # The GPT-2 files on the Hub name tensors without "transformer.", carry no lm_head (it is tied)
    # and keep the causal mask as attn.bias / attn.masked_bias buffers.
    from safetensors.numpy import load_file, save_file

    model = tiny(seed=5, n_layer=2)
    model.save_pretrained(tmp_path)
    sd = load_file(str(tmp_path / "model.safetensors"))
    old = {k.removeprefix("transformer."): v for k, v in sd.items()}
    assert "lm_head.weight" not in old
    for i in range(2):
        old[f"h.{i}.attn.bias"] = np.tril(np.ones((1, 1, 8, 8), dtype=np.float32))
        old[f"h.{i}.attn.masked_bias"] = np.array(-1e4, dtype=np.float32)
    save_file(old, str(tmp_path / "model.safetensors"))
    back = GPT.from_pretrained(tmp_path)
    idx = random_ids((2, 8), TINY["vocab_size"], seed=3)
    with no_grad():
        np.testing.assert_array_equal(back(idx)[0].numpy(), model(idx)[0].numpy())
