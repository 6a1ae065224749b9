"""engine.draw and engine.gradcheck_model: the DOT a small graph gives, rendering with and
without Graphviz's `dot`, gradient norms against ones computed directly, folding of repeated
blocks, and a model check that passes on real layers and catches a planted wrong backward."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

import engine
import nn
from engine import Function, GradcheckError, Tensor, name_scope
from tinygrad_gpt.config import GPTConfig
from tinygrad_gpt.model import GPT


def _nodes_and_edges(dot):
    src = dot.source
    nodes = dict(re.findall(r'^\s*(\w+) \[label="([^"]*)"', src, flags=re.M))
    edges = set(re.findall(r"^\s*(\w+) -> (\w+)", src, flags=re.M))
    return nodes, edges


def test_dot_of_a_small_graph_has_its_ops_leaves_and_edges():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    w = Tensor(np.ones((3, 4)), requires_grad=True)
    loss = (x @ w).tanh().sum()
    nodes, edges = _nodes_and_edges(engine.draw(loss, names={"x": x, "w": w}))
    by_head = {label.split("\n")[0]: nid for nid, label in nodes.items()}
    assert set(by_head) == {"Sum", "Tanh", "MatMul", "x", "w"}
    assert "(2, 4) float64" in nodes[by_head["MatMul"]]
    assert edges == {(by_head["x"], by_head["MatMul"]), (by_head["w"], by_head["MatMul"]),
                     (by_head["MatMul"], by_head["Tanh"]), (by_head["Tanh"], by_head["Sum"])}


def test_grad_norms_equal_the_gradients_computed_directly():
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    y = x * x
    loss = (y * 3.0).sum()
    nodes, _ = _nodes_and_edges(engine.draw(loss, names={"x": x}, grad_norms=True))
    norms = {}
    for label in nodes.values():
        head, _, *norm = label.split("\n")  # the constant 3.0 has no gradient, so no norm line
        norms.setdefault(head, set()).update(norm)
    # by hand: dL/dx = 6x; dL/dy = 3 (three entries); dL/d(3y) = 1; dL/dL = 1
    assert norms["x"] == {f"|grad| = {np.linalg.norm(6 * np.array([1.0, -2.0, 3.0])):.3g}"}
    assert norms["Mul"] == {f"|grad| = {np.sqrt(27):.3g}", f"|grad| = {np.sqrt(3):.3g}"}
    assert norms["Sum"] == {"|grad| = 1"} and norms["tensor"] == set()
    assert x.grad is None  # the extra backward leaves the leaves as it found them
    loss.backward()  # and the graph is still there
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy())


def test_a_freed_graph_is_refused_with_advice():
    x = Tensor([1.0], requires_grad=True)
    loss = (x * 2).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        engine.draw(loss)


def _blocks(n_blocks, odd_one=None):
    rng = np.random.default_rng(0)
    x = Tensor(rng.normal(size=(2, 4)), requires_grad=True)
    h, names = x, {}
    for i in range(n_blocks):
        with name_scope("h"), name_scope(str(i)):
            w = names[f"h.{i}.weight"] = Tensor(rng.normal(size=(4, 4)), requires_grad=True)
            h = (h @ w).tanh() if i != odd_one else (h @ w).sigmoid()
    return h.sum(), names


def _draw_blocks(n_blocks, odd_one=None, **kw):
    loss, names = _blocks(n_blocks, odd_one)
    return engine.draw(loss, names=names, **kw)


def test_identical_numbered_blocks_fold_after_the_first():
    nodes, edges = _nodes_and_edges(_draw_blocks(6))
    folded = [label for label in nodes.values() if "blocks like" in label]
    assert folded == ["h.1 … h.5\n5 blocks like h.0"]
    assert sum(label.startswith("Tanh") for label in nodes.values()) == 1  # only h.0's is drawn
    unfolded, _ = _nodes_and_edges(_draw_blocks(6, collapse=False))
    assert sum(label.startswith("Tanh") for label in unfolded.values()) == 6


def test_a_different_block_is_not_folded_with_the_others():
    nodes, _ = _nodes_and_edges(_draw_blocks(5, odd_one=3))
    assert any(label.startswith("Sigmoid") for label in nodes.values())
    assert [label for label in nodes.values() if "blocks like" in label] == ["h.1 … h.4\n3 blocks like h.0"]


def test_depth_folds_each_layer_into_one_box():
    nodes, edges = _nodes_and_edges(_draw_blocks(3, depth=1, collapse=False))
    boxes = sorted(label.split("\n")[0] for label in nodes.values() if "tensors)" in label)
    assert boxes == ["h.0", "h.1", "h.2"]
    assert len(edges) == 4  # x -> h.0 -> h.1 -> h.2 -> Sum; each weight is inside its layer's box


def test_gpt_graph_folds_its_blocks(tmp_path):
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=4, n_head=2, n_embd=8, dropout=0.0), seed=0)
    idx = np.random.default_rng(0).integers(0, 11, size=(2, 8))
    _, loss = model(idx, idx)
    dot = engine.draw(loss, names=model.named_parameters())
    assert any("blocks like" in line for line in dot.source.splitlines()), dot.source  # scopes recorded by nn
    assert engine.draw(loss, collapse=False).source.count("\n") > dot.source.count("\n")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
def test_renders_svg_when_dot_is_installed(tmp_path):
    x = Tensor([1.0, 2.0], requires_grad=True)
    engine.draw((x * x).sum(), tmp_path / "g", format="svg")
    assert (tmp_path / "g.dot").exists()
    assert (tmp_path / "g.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def test_without_dot_it_writes_the_dot_file_and_says_how_to_render(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.warns(RuntimeWarning, match=r"apt-get install graphviz.*g\.dot|g\.dot.*apt-get install graphviz"):
        engine.draw((x * x).sum(), tmp_path / "g", format="png")
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    assert not (tmp_path / "g.png").exists()


# ---- gradcheck_model -------------------------------------------------------------------------------


def test_gradcheck_model_passes_on_nn_layers(capsys):
    engine.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.GELU(), nn.LayerNorm(5), nn.Linear(5, 2))
    rows = engine.gradcheck_model(model, Tensor(np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)))
    assert [r["name"] for r in rows] == [n for n, _ in model.named_parameters()]
    assert all(r["ok"] for r in rows)
    out = capsys.readouterr().out
    assert "rel. error" in out and f"{len(rows)}/{len(rows)} parameters" in out
    assert next(iter(model.parameters())).dtype == np.float32  # the user's model is not cast


def _first(out):
    """A scalar from a layer's output, or from the first of the outputs it returns (RNNs, attention)."""
    out = out[0] if isinstance(out, tuple) else out
    return (out * out).sum()


# layer factory, input shape: one of each family of parametrized nn layers (train mode)
LAYERS = {
    "Conv1d": (lambda: nn.Conv1d(2, 3, 3, stride=2, padding=1), (2, 2, 7)),
    "Conv2d_groups": (lambda: nn.Conv2d(4, 4, 3, padding=1, groups=2, dilation=1), (1, 4, 5, 5)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(2, 3, 3, stride=2, output_padding=1), (1, 2, 3, 3)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), (4, 3, 2, 2)),
    "GroupNorm": (lambda: nn.GroupNorm(2, 4), (2, 4, 3)),
    "RMSNorm": (lambda: nn.RMSNorm(5), (3, 5)),
    "Embedding": (lambda: nn.Embedding(7, 4), None),
    "Bilinear": (lambda: nn.Bilinear(3, 3, 2), "pair"),
    "RNN": (lambda: nn.RNN(3, 4, num_layers=2, batch_first=True), (2, 3, 3)),
    "GRU": (lambda: nn.GRU(3, 4, bidirectional=True), (3, 2, 3)),
    "LSTM_proj": (lambda: nn.LSTM(3, 4, proj_size=2), (3, 2, 3)),
    "MultiheadAttention": (lambda: nn.MultiheadAttention(4, 2, batch_first=True), "qkv"),
    "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0,
                                                                   batch_first=True), (2, 3, 4)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_gradcheck_model_passes_on_each_family_of_nn_layers(name):
    make, shape = LAYERS[name]
    engine.manual_seed(0)
    layer = make()
    rng = np.random.default_rng(1)
    if shape is None:  # ids
        inputs = Tensor(rng.integers(0, 7, size=(2, 3)))
    elif shape == "pair":
        inputs = (Tensor(rng.normal(size=(2, 3))), Tensor(rng.normal(size=(2, 3))))
    elif shape == "qkv":
        x = Tensor(rng.normal(size=(2, 3, 4)))
        inputs = (x, x, x)
    else:
        inputs = Tensor(rng.normal(size=shape))
    rows = engine.gradcheck_model(layer, inputs, _first, verbose=False)
    assert rows and all(r["ok"] for r in rows), rows


def test_gradcheck_model_passes_on_a_gpt_with_dropout_in_train_mode():
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8, dropout=0.1), seed=0)
    model.train()
    idx = np.random.default_rng(1).integers(0, 11, size=(2, 8))
    rows = engine.gradcheck_model(model, idx, loss_fn=lambda out: out[0].sum(), verbose=False, directions=1)
    assert all(r["ok"] for r in rows) and len(rows) == len(list(model.named_parameters()))


class _WrongSquare(Function):
    """x² with a planted mistake: the backward forgets the factor 2."""

    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, g):
        return g * self.saved[0]


class _Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = nn.Linear(3, 1)

    def forward(self, x):
        return self.b(_WrongSquare.apply(self.a(x)))


def test_gradcheck_model_catches_a_planted_wrong_backward(capsys):
    engine.manual_seed(0)
    x = Tensor(np.random.default_rng(2).normal(size=(4, 3)))
    with pytest.raises(GradcheckError, match=r"a\.(weight|bias)"):
        engine.gradcheck_model(_Custom(), x)
    table = capsys.readouterr().out
    assert "✗ FAIL" in table
    fails = [line.split()[0] for line in table.splitlines() if "FAIL" in line]
    assert set(fails) == {"a.weight", "a.bias"}  # b sits after the wrong op: its gradient is right


def test_module_calls_record_their_names_as_scopes():
    """Each op made inside a module's forward carries the module path, as named_modules() gives it."""
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Tanh()))
    y = model(Tensor(np.ones((1, 2), np.float32), requires_grad=True))
    assert y._ctx.scope == ("1", "0")  # the Tanh inside the inner Sequential
    assert y._ctx.parents[0]._ctx.scope == ("0",)  # the Linear
    assert dict(model.named_modules())["1.0"] is model[1][0]


def test_scopes_are_full_paths_through_containers_that_are_never_called():
    """GPT keeps its layers in a ModuleDict (``transformer``) that its forward reaches into: the ops
    still carry the whole path, so they sit with their parameters (``transformer.h.0...``)."""
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8, dropout=0.0), seed=0)
    idx = np.random.default_rng(0).integers(0, 11, size=(1, 8))
    _, loss = model(idx, idx)
    scopes, stack, seen = set(), [loss], set()
    while stack:
        t = stack.pop()
        if t._ctx is None or id(t) in seen:
            continue
        seen.add(id(t))
        scopes.add(".".join(t._ctx.scope))
        stack.extend(p for p in t._ctx.parents if p is not None)
    modules = {n for n, _ in model.named_modules()}
    assert {"transformer.h.0.attn", "transformer.h.1.mlp.c_fc", "transformer.ln_f"} <= scopes
    assert scopes <= modules, scopes - modules
