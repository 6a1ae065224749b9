"""Backprop by hand: a character MLP whose every gradient is written in NumPy, checked against autograd.

    python examples/manual_backprop.py                 # the gradient table (float64 and float32), then training
    python examples/manual_backprop.py --steps 2000 --plot out/manual_backprop.png

The model is makemore's MLP (Bengio et al. 2003, with a batch norm), predicting the next character
of the embedded Shakespeare text from the previous `block` characters:

    emb    = C[X]                          (B, T, E)     embedding lookup
    embcat = emb.reshape(B, T*E)           (B, T*E)
    hprebn = embcat @ W1ᵀ + b1             (B, H)        Linear
    hpreact = BatchNorm1d(hprebn)          (B, H)        batch statistics (training mode)
    h      = tanh(hpreact)                 (B, H)
    logits = h @ W2ᵀ + b2                  (B, V)        Linear
    loss   = cross_entropy(logits, Y)      ()

`manual_backward` walks that graph backwards one line per step; `compare` runs the same forward
through `nn` layers and `engine` autograd and returns the max |hand − autograd| of every gradient.
Training then updates the weights from the hand-written gradients only, next to an autograd twin.
Measured: every gradient within 3e-17 of autograd in float64 and 3e-8 in float32; over 2,000 SGD
steps the two loss curves never differ by more than 5e-7 (one float32 rounding of the loss).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "nn").is_dir():  # the code of the clone this example is in, installed or not
    sys.path.insert(0, str(ROOT))

import engine  # noqa: E402
import engine.functional as F  # noqa: E402
import nn  # noqa: E402
from engine import Tensor  # noqa: E402
from tinygrad_gpt.extras import MissingExtra, require  # noqa: E402


# ---------------------------------------------------------------- data
def load_text(chars: int | None = None) -> str:
    """The embedded Shakespeare plays (package data, nothing downloaded), the first `chars` of them."""
    from tinygrad_gpt import assets

    text = assets.shakespeare_text()
    return text if chars is None else text[:chars]


def make_dataset(text: str, block: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every position of the text: X (N, block) previous character ids, Y (N,) the next one."""
    vocab = sorted(set(text))
    ids = np.searchsorted(np.array(vocab), np.array(list(text))).astype(np.int64)  # (len(text),)
    windows = np.lib.stride_tricks.sliding_window_view(ids, block + 1)  # (N, block + 1)
    return windows[:, :block].copy(), windows[:, block].copy(), vocab


# ---------------------------------------------------------------- the model, in nn and as NumPy arrays
class CharMLP(nn.Module):
    """Embedding → Linear → BatchNorm1d → tanh → Linear; the forward returns every intermediate,
    each keeping its .grad (retain_grad) so the hand-written gradients can be compared one by one."""

    def __init__(self, vocab: int, block: int, n_embd: int = 10, hidden: int = 64):
        super().__init__()
        self.C = nn.Embedding(vocab, n_embd)
        self.lin1 = nn.Linear(block * n_embd, hidden)
        self.bn = nn.BatchNorm1d(hidden)
        self.lin2 = nn.Linear(hidden, vocab)
        with engine.no_grad():  # small last layer: the first loss is near log(vocab)
            self.lin2.weight.mul_(0.1)

    def forward(self, X: np.ndarray, Y: np.ndarray) -> dict[str, Tensor]:
        t = {}
        t["emb"] = self.C(Tensor(X))  # (B, T, E)
        t["embcat"] = t["emb"].reshape(X.shape[0], -1)  # (B, T*E)
        t["hprebn"] = self.lin1(t["embcat"])  # (B, H)
        t["hpreact"] = self.bn(t["hprebn"])  # (B, H)
        t["h"] = F.tanh(t["hpreact"])  # (B, H)
        t["logits"] = self.lin2(t["h"])  # (B, V)
        t["loss"] = F.cross_entropy(t["logits"], Y)  # ()
        for v in t.values():
            v.retain_grad()
        return t


def params_numpy(model: CharMLP) -> dict[str, np.ndarray]:
    """The model's weights as NumPy arrays (copies), under the names the hand-written code uses."""
    return {"C": model.C.weight.numpy().copy(), "W1": model.lin1.weight.numpy().copy(),
            "b1": model.lin1.bias.numpy().copy(), "bngain": model.bn.weight.numpy().copy(),
            "bnbias": model.bn.bias.numpy().copy(), "W2": model.lin2.weight.numpy().copy(),
            "b2": model.lin2.bias.numpy().copy()}


def manual_forward(p: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray, eps: float = 1e-5) -> tuple[float, dict]:
    """The forward in NumPy, broken into the small steps that the backward retraces."""
    B = X.shape[0]
    emb = p["C"][X]  # (B, T, E)
    embcat = emb.reshape(B, -1)  # (B, T*E)
    hprebn = embcat @ p["W1"].T + p["b1"]  # (B, H)
    bnmeani = hprebn.mean(0, keepdims=True)  # (1, H)
    bndiff = hprebn - bnmeani  # (B, H)
    bndiff2 = bndiff ** 2  # (B, H)
    bnvar = bndiff2.mean(0, keepdims=True)  # (1, H): biased (1/B), what BatchNorm normalizes with
    bnvar_inv = (bnvar + eps) ** -0.5  # (1, H)
    bnraw = bndiff * bnvar_inv  # (B, H)
    hpreact = p["bngain"] * bnraw + p["bnbias"]  # (B, H)
    h = np.tanh(hpreact)  # (B, H)
    logits = h @ p["W2"].T + p["b2"]  # (B, V)
    shifted = logits - logits.max(1, keepdims=True)  # (B, V): exp can't overflow
    logprobs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))  # (B, V)
    loss = -logprobs[np.arange(B), Y].mean()  # ()
    cache = dict(X=X, Y=Y, emb=emb, embcat=embcat, hprebn=hprebn, bndiff=bndiff, bnvar_inv=bnvar_inv,
                 bnraw=bnraw, hpreact=hpreact, h=h, logprobs=logprobs, eps=eps, bnvar=bnvar)
    return float(loss), cache


def manual_backward(p: dict[str, np.ndarray], c: dict) -> dict[str, np.ndarray]:
    """Every gradient by hand, from the loss back to the embedding table. Returns d<name> arrays;
    dhprebn is the long form through the batch statistics, dhprebn_fast the one-line form."""
    g = {}
    B, n = c["X"].shape[0], c["hprebn"].shape[0]
    probs = np.exp(c["logprobs"])  # (B, V) softmax
    onehot = np.zeros_like(probs)
    onehot[np.arange(B), c["Y"]] = 1.0
    # cross-entropy + softmax together: loss = mean_b(−log p[b, Y_b])
    g["logits"] = (probs - onehot) / B  # (B, V)
    # logits = h @ W2ᵀ + b2
    g["h"] = g["logits"] @ p["W2"]  # (B, V) @ (V, H) → (B, H)
    g["W2"] = g["logits"].T @ c["h"]  # (V, B) @ (B, H) → (V, H)
    g["b2"] = g["logits"].sum(0)  # (V,)
    # h = tanh(hpreact): tanh' = 1 − tanh²
    g["hpreact"] = (1.0 - c["h"] ** 2) * g["h"]  # (B, H)
    # hpreact = bngain * bnraw + bnbias
    g["bngain"] = (c["bnraw"] * g["hpreact"]).sum(0)  # (H,)
    g["bnbias"] = g["hpreact"].sum(0)  # (H,)
    dbnraw = p["bngain"] * g["hpreact"]  # (B, H)
    # --- long form: back through each batch statistic in turn
    # bnraw = bndiff * bnvar_inv: bndiff is used twice (here and in bndiff2), so its grads add up
    dbndiff = c["bnvar_inv"] * dbnraw  # (B, H), first path
    dbnvar_inv = (c["bndiff"] * dbnraw).sum(0, keepdims=True)  # (1, H): broadcast over B → sum
    # bnvar_inv = (bnvar + eps)^-1/2
    dbnvar = -0.5 * (c["bnvar"] + c["eps"]) ** -1.5 * dbnvar_inv  # (1, H)
    # bnvar = mean_b(bndiff2)
    dbndiff2 = np.ones_like(c["bndiff"]) / n * dbnvar  # (B, H)
    # bndiff2 = bndiff²
    dbndiff = dbndiff + 2 * c["bndiff"] * dbndiff2  # (B, H), second path added
    # bndiff = hprebn − bnmeani: hprebn directly, and through the mean
    dbnmeani = -dbndiff.sum(0, keepdims=True)  # (1, H)
    g["hprebn"] = dbndiff + np.ones_like(c["hprebn"]) / n * dbnmeani  # (B, H)
    # --- one-line form: the same, with the algebra done on paper
    g["hprebn_fast"] = p["bngain"] * c["bnvar_inv"] / n * (
        n * g["hpreact"] - g["hpreact"].sum(0) - c["bnraw"] * (g["hpreact"] * c["bnraw"]).sum(0))  # (B, H)
    # hprebn = embcat @ W1ᵀ + b1
    g["embcat"] = g["hprebn"] @ p["W1"]  # (B, H) @ (H, T*E) → (B, T*E)
    g["W1"] = g["hprebn"].T @ c["embcat"]  # (H, B) @ (B, T*E) → (H, T*E)
    g["b1"] = g["hprebn"].sum(0)  # (H,)
    # embcat = emb.reshape(B, T*E)
    g["emb"] = g["embcat"].reshape(c["emb"].shape)  # (B, T, E)
    # emb = C[X]: each row of C gets the sum of the grads of every place it was looked up
    g["C"] = np.zeros_like(p["C"])  # (V, E)
    np.add.at(g["C"], c["X"], g["emb"])  # scatter-add over (B, T)
    return g


# ---------------------------------------------------------------- the comparison
def compare(dtype: str = "float64", seed: int = 0, batch_size: int = 32, block: int = 8, n_embd: int = 10,
            hidden: int = 64, text: str | None = None, verbose: bool = True) -> dict[str, float]:
    """One batch through both backwards; returns {gradient name: max |hand − autograd|}.

    >>> diffs = compare("float64", text="to be or not to be, that is the question", verbose=False)
    >>> max(diffs.values()) < 1e-10
    True
    """
    text = text if text is not None else load_text(200_000)
    X, Y, vocab = make_dataset(text, block)
    engine.manual_seed(seed)
    model = CharMLP(len(vocab), block, n_embd, hidden).to(dtype=dtype)
    idx = np.random.default_rng(seed).integers(0, len(X), batch_size)
    Xb, Yb = X[idx], Y[idx]

    t = model(Xb, Yb)
    t["loss"].backward()
    loss, cache = manual_forward(params_numpy(model), Xb, Yb, eps=model.bn.eps)
    g = manual_backward(params_numpy(model), cache)

    auto = {"logits": t["logits"].grad, "h": t["h"].grad, "hpreact": t["hpreact"].grad,
            "bngain": model.bn.weight.grad, "bnbias": model.bn.bias.grad, "hprebn": t["hprebn"].grad,
            "hprebn_fast": t["hprebn"].grad, "embcat": t["embcat"].grad, "emb": t["emb"].grad,
            "W2": model.lin2.weight.grad, "b2": model.lin2.bias.grad, "W1": model.lin1.weight.grad,
            "b1": model.lin1.bias.grad, "C": model.C.weight.grad}
    diffs = {}
    for name, a in auto.items():
        a = a.numpy()
        if a.dtype != g[name].dtype or a.shape != g[name].shape:
            raise AssertionError(f"{name}: autograd {a.dtype}{a.shape} vs hand {g[name].dtype}{g[name].shape}")
        diffs[name] = float(np.abs(a - g[name]).max())
    diffs["loss"] = abs(loss - t["loss"].item())
    if verbose:
        print(f"{dtype}: loss {loss:.6f} (autograd {t['loss'].item():.6f}), batch {batch_size}")
        print(f"  {'gradient':<12} {'shape':<12} {'max |hand - autograd|':>22}")
        for name, d in diffs.items():
            shape = str(tuple(g[name].shape)) if name in g else "()"
            print(f"  {name:<12} {shape:<12} {d:>22.3e}")
    return diffs


# ---------------------------------------------------------------- training with the hand-written backward
def train(steps: int = 1000, lr: float = 0.1, seed: int = 0, batch_size: int = 32, block: int = 8,
          text: str | None = None, verbose: bool = True) -> tuple[list[float], list[float]]:
    """SGD twice from the same weights and batches: once from `manual_backward`'s gradients
    (NumPy only), once from engine autograd (`nn.optim.SGD`). Returns both loss curves (float32)."""
    text = text if text is not None else load_text(1_000_000)
    X, Y, vocab = make_dataset(text, block)
    engine.manual_seed(seed)
    model = CharMLP(len(vocab), block)
    p = params_numpy(model)  # the hand-trained copy
    opt = nn.optim.SGD(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    hand, auto = [], []
    for step in range(steps):
        lr_t = lr if step < steps * 3 // 4 else lr / 10  # a step decay, the same for both
        opt.param_groups[0]["lr"] = lr_t
        idx = rng.integers(0, len(X), batch_size)
        Xb, Yb = X[idx], Y[idx]
        loss, cache = manual_forward(p, Xb, Yb)
        g = manual_backward(p, cache)
        for k in p:
            p[k] -= lr_t * g[k]  # in place: the plain SGD update
        hand.append(loss)
        t = model(Xb, Yb)
        opt.zero_grad()
        t["loss"].backward()
        opt.step()
        auto.append(t["loss"].item())
        if verbose and (step % max(1, steps // 10) == 0 or step == steps - 1):
            print(f"step {step:5d}  hand {loss:.4f}  autograd {auto[-1]:.4f}  |diff| {abs(loss - auto[-1]):.1e}")
    return hand, auto


def plot(path: Path, hand: list[float], auto: list[float]) -> None:
    require("matplotlib", "examples", "the loss-curve plot")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, height_ratios=[3, 1])
    ax.plot(hand, lw=0.8, label="hand-written backward (NumPy)")
    ax.plot(auto, lw=0.8, ls="--", label="engine autograd")
    ax.set_ylabel("training loss (one batch)")
    ax.legend()
    ax2.plot(np.abs(np.array(hand) - np.array(auto)), ".", ms=2, color="k")
    ax2.set_ylabel("|hand − autograd|")  # 0 or a float32 rounding of the loss
    ax2.set_xlabel("step")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2000, help="training steps (default: 2000)")
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", type=Path, default=ROOT / "out" / "manual_backprop.png")
    args = ap.parse_args(argv)

    d64 = compare("float64", seed=args.seed)
    d32 = compare("float32", seed=args.seed)
    worst64, worst32 = max(d64.values()), max(d32.values())
    print(f"worst: float64 {worst64:.1e} (bound 1e-10), float32 {worst32:.1e} (bound 1e-5)")
    hand, auto = train(args.steps, args.lr, args.seed)
    gap = float(np.max(np.abs(np.array(hand) - np.array(auto))))
    print(f"final loss: hand {np.mean(hand[-100:]):.4f}, autograd {np.mean(auto[-100:]):.4f} "
          f"(mean of the last 100 steps); largest step-wise gap {gap:.1e}")
    plot(args.plot, hand, auto)
    print(f"loss curves: {args.plot}")
    return {"float64": worst64, "float32": worst32, "gap": gap}


if __name__ == "__main__":
    try:
        main()
    except MissingExtra as e:
        print(e, file=sys.stderr)
        sys.exit(2)
