"""Train a 2-layer character LSTM (char-rnn) on the embedded Shakespeare text with our nn library.

    python examples/char_lstm.py                     # 5 minutes of training, then val loss and a sample
    python examples/char_lstm.py --max_time 60       # a shorter run
    python examples/char_lstm.py --iters 200 --hidden 128

The model is Embedding -> nn.LSTM(num_layers=2, batch_first=True) -> Linear over the 80 characters,
trained with Adam on random windows of the text (no state carried between batches). The learning
rate decays on a cosine over the run's budget (wall time with --max_time, steps with --iters). At
the end it prints the validation loss, writes the loss curve as a PNG and samples text one
character at a time, carrying the LSTM's (h, c) state.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "nn").is_dir():  # the code of the clone this example is in, installed or not
    sys.path.insert(0, str(ROOT))

from tqdm import tqdm  # noqa: E402

import engine  # noqa: E402
import engine.functional as F  # noqa: E402
import nn  # noqa: E402
from engine import Tensor, no_grad  # noqa: E402
from tinygrad_gpt.data import prepare  # noqa: E402
from tinygrad_gpt.extras import require  # noqa: E402


class CharLSTM(nn.Module):
    """ids (B, T) -> logits (B, T, V), and the LSTM's final (h, c) for sampling."""

    def __init__(self, vocab: int, emb: int, hidden: int, layers: int = 2, dropout: float = 0.0):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids: Tensor, state=None):
        out, state = self.lstm(self.emb(ids), state)  # (B, T, H)
        return self.head(out), state


def evaluate(model: CharLSTM, get_batch, batches: int) -> float:
    model.eval()
    losses = []
    with no_grad():
        for _ in range(batches):
            x, y = get_batch()
            logits, _ = model(Tensor(x))
            losses.append(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Tensor(y).reshape(-1)).item())
    model.train()
    return float(np.mean(losses))


def sample(model: CharLSTM, tok, prompt: str, n: int, temperature: float, rng: np.random.Generator) -> str:
    """Feed ``prompt``, then draw ``n`` characters one at a time, carrying (h, c)."""
    model.eval()
    ids = tok.encode(prompt)
    out = list(ids)
    with no_grad():
        logits, state = model(Tensor(np.asarray([ids], dtype=np.int64)))
        for _ in range(n):
            p = F.softmax(logits[0, -1] / temperature, dim=-1).numpy().astype(np.float64)
            nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(nxt)
            logits, state = model(Tensor(np.asarray([[nxt]], dtype=np.int64)), state)
    model.train()
    return tok.decode(out)


def plot(path: Path, steps: list[int], train: list[float], val_steps: list[int], val: list[float]) -> None:
    require("matplotlib", "examples", "the loss-curve plot")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, train, lw=0.6, alpha=0.7, label="train (one batch)")
    ax.plot(val_steps, val, "o-", ms=3, label="val")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/char)")
    ax.set_title("char LSTM on Shakespeare")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max_time", type=float, default=300.0, help="training budget in seconds (default: 300)")
    ap.add_argument("--iters", type=int, default=0, help="train this many steps instead of --max_time (0: by time)")
    ap.add_argument("--hidden", type=int, default=256, help="LSTM hidden size (default: 256)")
    ap.add_argument("--emb", type=int, default=64, help="character embedding size (default: 64)")
    ap.add_argument("--seq_len", type=int, default=64, help="time steps per training window (default: 64)")
    ap.add_argument("--batch_size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=4e-3, help="peak Adam learning rate (default: 4e-3)")
    ap.add_argument("--dropout", type=float, default=0.0, help="dropout between the LSTM layers")
    ap.add_argument("--eval_interval", type=int, default=250, help="steps between val estimates")
    ap.add_argument("--eval_batches", type=int, default=20, help="val batches for the final loss (default: 20)")
    ap.add_argument("--sample_len", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="out/char_lstm.png", help="where to write the loss curve")
    args = ap.parse_args(argv)

    engine.tune_cpu()
    prep = prepare(None, "char")
    tok = prep.tokenizer()
    train_batch = prep.loader("train", args.seq_len, args.batch_size, seed=args.seed).get_batch
    val_batch = prep.loader("val", args.seq_len, args.batch_size, seed=args.seed).get_batch
    print(f"shakespeare: {prep.train.n_tokens:,} train / {prep.val.n_tokens:,} val characters, "
          f"vocab {prep.vocab_size}")

    engine.manual_seed(args.seed)
    model = CharLSTM(prep.vocab_size, args.emb, args.hidden, 2, args.dropout)
    print(f"model: {model.num_parameters():,} parameters\n{model}")
    opt = nn.optim.Adam(model.parameters(), lr=args.lr)

    by_time = args.iters <= 0
    budget = args.max_time if by_time else args.iters
    steps, losses, val_steps, vals = [], [], [], []
    bar = tqdm(total=round(budget) if by_time else budget, unit="s" if by_time else "step",
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}] {postfix}")
    t0 = time.perf_counter()
    step = 0
    while True:
        done = (time.perf_counter() - t0) / budget if by_time else step / budget
        if done >= 1:
            break
        opt.param_groups[0]["lr"] = args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * done)))  # cosine
        x, y = train_batch()
        logits, _ = model(Tensor(x))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Tensor(y).reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps.append(step)
        losses.append(loss.item())
        if step % args.eval_interval == 0 and step > 0:
            val_steps.append(step)
            vals.append(evaluate(model, val_batch, 5))
        step += 1
        bar.set_postfix_str(f"step {step} loss {np.mean(losses[-20:]):.3f}" + (f" val {vals[-1]:.3f}" if vals else ""))
        bar.n = min(round(time.perf_counter() - t0), bar.total) if by_time else step
        bar.refresh()
    bar.close()
    train_s = time.perf_counter() - t0

    val = evaluate(model, val_batch, args.eval_batches)
    val_steps.append(step)
    vals.append(val)
    print(f"trained {step} steps in {train_s:.1f} s ({step * args.batch_size * args.seq_len / train_s:,.0f} chars/s); "
          f"train loss {np.mean(losses[-50:]):.4f}, val loss {val:.4f}")
    plot(Path(args.out), steps, losses, val_steps, vals)
    print(f"loss curve: {args.out}")
    text = sample(model, tok, "ROMEO:\n", args.sample_len, 0.8, np.random.default_rng(args.seed))
    print("sample:\n" + text)
    return dict(steps=step, train_s=train_s, val_loss=val, first_loss=losses[0], last_loss=float(np.mean(losses[-10:])))


if __name__ == "__main__":
    main()
