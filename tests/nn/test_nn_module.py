"""Module bookkeeping: names, tied parameters, modes, grads, counts, repr, containers, state dicts."""

import numpy as np
import pytest

import engine
import nn
from engine import Tensor


class Block(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c)
        self.attn = nn.CausalSelfAttention(c, 2)
        self.ln_2 = nn.LayerNorm(c)
        self.mlp = nn.MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TinyGPT(nn.Module):
    """nanoGPT's layout in miniature, with lm_head tied to wte."""

    def __init__(self, vocab=11, block=6, c=4, n_layer=2):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab, c),
            wpe=nn.LearnedPositionalEmbedding(block, c),
            drop=nn.Dropout(0.1),
            h=nn.ModuleList([Block(c) for _ in range(n_layer)]),
            ln_f=nn.LayerNorm(c),
        ))
        self.lm_head = nn.Linear(c, vocab, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied

    def forward(self, idx):
        t = self.transformer
        x = t.drop(t.wte(idx) + t.wpe(np.arange(idx.shape[1])))
        for block in t.h:
            x = block(x)
        return self.lm_head(t.ln_f(x))


BLOCK_NAMES = [
    "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
    "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
    "mlp.c_proj.weight", "mlp.c_proj.bias",
]
GPT_NAMES = (
    ["transformer.wte.weight", "transformer.wpe.weight"]
    + [f"transformer.h.{i}.{n}" for i in range(2) for n in BLOCK_NAMES]
    + ["transformer.ln_f.weight", "transformer.ln_f.bias"]
)


def test_names_are_dotted_stable_and_in_assignment_order():
    model = TinyGPT()
    assert [n for n, _ in model.named_parameters()] == GPT_NAMES
    assert [n for n, _ in TinyGPT().named_parameters()] == GPT_NAMES  # a second build: same names
    named = dict(model.named_parameters())
    assert named["transformer.h.0.attn.c_attn.weight"] is model.transformer.h[0].attn.c_attn.weight
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in named.values())


def test_tied_parameter_appears_once():
    model = TinyGPT()
    params = model.parameters()
    assert len({id(p) for p in params}) == len(params) == len(GPT_NAMES)
    assert sum(p is model.transformer.wte.weight for p in params) == 1
    everything = [n for n, _ in model.named_parameters(remove_duplicate=False)]
    assert everything == GPT_NAMES + ["lm_head.weight"]
    # state_dict keeps every name, so checkpoints load into untied layouts too
    assert list(model.state_dict()) == GPT_NAMES + ["lm_head.weight"]


def test_shared_submodule_is_counted_once_but_saved_under_both_names():
    shared = nn.Linear(2, 3)
    model = nn.Sequential(shared, nn.ReLU(), nn.Linear(3, 2), nn.ReLU())
    model.extra = shared  # the same module in a second place, as in weight-shared blocks
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert model.num_parameters() == 6 + 3 + 6 + 2
    assert [n for n, _ in model.named_modules()] == ["", "0", "1", "2", "3"]
    # torch's layout: every name is in the state dict, so such checkpoints load strictly
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias", "extra.weight", "extra.bias"]
    model.load_state_dict(model.state_dict())


def test_num_parameters_counts_tied_once():
    model = TinyGPT(vocab=11, block=6, c=4, n_layer=2)
    c = 4
    block = 2 * (2 * c) + (3 * c * c + 3 * c) + (c * c + c) + (4 * c * c + 4 * c) + (4 * c * c + c)
    want = 11 * c + 6 * c + 2 * block + 2 * c
    assert model.num_parameters() == want
    assert model.num_parameters(exclude=("transformer.wpe.weight",)) == want - 6 * c
    assert nn.Linear(3, 5).num_parameters() == 20
    assert nn.Linear(3, 5, bias=False).num_parameters() == 15


def test_modules_lists_every_module_once_depth_first():
    model = TinyGPT(n_layer=1)
    names = [n for n, _ in model.named_modules()]
    assert names == [
        "", "transformer", "transformer.wte", "transformer.wpe", "transformer.drop", "transformer.h",
        "transformer.h.0", "transformer.h.0.ln_1", "transformer.h.0.attn", "transformer.h.0.attn.c_attn",
        "transformer.h.0.attn.c_proj", "transformer.h.0.attn.resid_dropout", "transformer.h.0.ln_2",
        "transformer.h.0.mlp", "transformer.h.0.mlp.c_fc", "transformer.h.0.mlp.gelu",
        "transformer.h.0.mlp.c_proj", "transformer.h.0.mlp.dropout", "transformer.ln_f", "lm_head",
    ]
    assert list(model.modules())[0] is model and len(list(model.modules())) == len(names)


def test_train_eval_propagate_to_every_module():
    model = TinyGPT()
    assert model.training and all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not any(m.training for m in model.modules())


def test_dropout_inside_a_model_follows_its_mode():
    engine.manual_seed(0)
    model = TinyGPT().eval()
    idx = np.array([[1, 2, 3, 4]])
    np.testing.assert_array_equal(model(idx).numpy(), model(idx).numpy())
    x = Tensor(np.random.default_rng(0).standard_normal((2, 4)))
    np.testing.assert_array_equal(model.transformer.drop(x).numpy(), x.numpy())  # identity in eval
    model.train()
    engine.manual_seed(1)
    a = model(idx).numpy()
    engine.manual_seed(2)
    assert not np.array_equal(a, model(idx).numpy())


def test_call_runs_forward_and_gradients_reach_every_parameter():
    model = TinyGPT().eval()
    idx = np.array([[1, 2, 3], [4, 5, 6]])
    logits = model(idx)
    assert logits.shape == (2, 3, 11)
    logits.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name


def test_zero_grad():
    model = TinyGPT().eval()
    model(np.array([[1, 2]])).sum().backward()
    model.zero_grad(set_to_none=False)
    for p in model.parameters():
        assert p.grad is not None and not p.grad.numpy().any()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_repr():
    net = nn.Sequential(nn.Linear(2, 3), nn.GELU(), nn.Dropout(0.1), nn.LayerNorm(3, bias=False))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): GELU(approximate='none')\n"
        "  (2): Dropout(p=0.1, inplace=False)\n"
        "  (3): LayerNorm((3,), eps=1e-05, elementwise_affine=True, bias=False)\n"
        ")"
    )
    assert repr(nn.Embedding(5, 2)) == "Embedding(5, 2)"
    assert "n_embd=8, n_head=2" in repr(nn.CausalSelfAttention(8, 2))
    assert repr(nn.ModuleList([nn.ReLU()])) == "ModuleList(\n  (0): ReLU()\n)"


def test_containers():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and list(seq) == [a, b, c]
    x = Tensor(np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32))
    np.testing.assert_array_equal(seq(x).numpy(), c(b(a(x))).numpy())

    ml = nn.ModuleList([a])
    ml.append(c)
    assert len(ml) == 2 and ml[1] is c and list(ml) == [a, c]
    assert [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    with pytest.raises(TypeError):
        ml.append(lambda x: x)

    md = nn.ModuleDict({"enc": a})
    md["dec"] = c
    assert "enc" in md and "nope" not in md and md["dec"] is c
    assert list(md.keys()) == ["enc", "dec"] and dict(md.items()) == {"enc": a, "dec": c}
    with pytest.raises(TypeError):
        md["x"] = 3


def test_to_cpu_keeps_parameter_objects_and_astype_casts_in_place():
    model = TinyGPT()
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    before = model.parameters()
    assert model.to("cpu") is model and model.device == "cpu"
    model.double()
    after = model.parameters()
    assert all(p is q for p, q in zip(before, after))
    assert all(p.dtype == np.float64 for p in after)
    assert opt.param_groups[0]["params"][0] is after[0]
    assert model.lm_head.weight is model.transformer.wte.weight  # still tied
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())
    pe = nn.SinusoidalPositionalEncoding(4, 2).double()
    assert pe.table.dtype == np.float64  # buffers are cast too
    with pytest.raises(TypeError):
        model.astype("int32")
    with pytest.raises(ValueError):
        model.to("tpu")


@pytest.mark.skipif(engine.gpu_available(), reason="checks the error when no GPU is present")
def test_to_gpu_without_gpu_explains():
    with pytest.raises(RuntimeError, match="CuPy"):
        nn.Linear(2, 2).to("gpu")


def test_state_dict_copies_and_loads():
    src, dst = TinyGPT(), TinyGPT()
    sd = src.state_dict()
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    sd["transformer.ln_f.bias"][...] = 7  # a copy: the model is unchanged
    assert not (src.transformer.ln_f.bias.numpy() == 7).any()
    sd = src.state_dict()
    missing, unexpected = dst.load_state_dict(sd)
    assert missing == [] and unexpected == []
    for (n, p), (m, q) in zip(src.named_parameters(), dst.named_parameters()):
        assert n == m and p is not q
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_strict_load_names_missing_unexpected_and_mismatched_together():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    sd = model.state_dict()
    del sd["0.bias"]
    sd["2.weight"] = np.zeros(4, np.float32)
    sd["1.weight"] = np.zeros(5, np.float32)
    with pytest.raises(RuntimeError) as err:  # torch's exception type and wording
        model.load_state_dict(sd)
    msg = str(err.value)
    assert "Missing key(s)" in msg and "0.bias" in msg
    assert "Unexpected key(s)" in msg and "2.weight" in msg
    assert "1.weight" in msg and "(5,)" in msg and "(4,)" in msg


def test_non_strict_load_reports_and_loads_what_matches():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    sd = {"0.weight": np.full((4, 3), 2.0, np.float32), "extra": np.zeros(1)}
    bias = model[0].bias.numpy().copy()
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert missing == ["0.bias", "1.weight", "1.bias"] and unexpected == ["extra"]
    np.testing.assert_array_equal(model[0].weight.numpy(), sd["0.weight"])
    np.testing.assert_array_equal(model[0].bias.numpy(), bias)
    with pytest.raises(RuntimeError, match="0.weight"):  # a wrong shape is never silently skipped
        model.load_state_dict({"0.weight": np.zeros((3, 4))}, strict=False)


def test_full_backward_hook_sees_the_input_and_output_gradients():
    """y = x @ W.T: grad_output is the upstream gradient, grad_input = grad_output @ W."""
    lin = nn.Linear(3, 2, bias=False)
    seen = []
    handle = lin.register_full_backward_hook(lambda m, gi, go: seen.append((m, gi, go)))
    x = Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    upstream = np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32)
    (lin(x) * Tensor(upstream)).sum().backward()
    (module, grad_input, grad_output), = seen
    assert module is lin
    np.testing.assert_allclose(grad_output[0].numpy(), upstream)
    np.testing.assert_allclose(grad_input[0].numpy(), upstream @ lin.weight.numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), upstream @ lin.weight.numpy(), rtol=1e-6)  # passed on unchanged
    handle.remove()
    lin(x).sum().backward()
    assert len(seen) == 1
