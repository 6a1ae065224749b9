#!/usr/bin/env python3
"""Time a char-rnn training step, our nn.LSTM (the fused F.lstm_layer op) against PyTorch eager, on the CPU.

The model (same shapes on both sides, same initial weights):

    ids (B, T) -> Embedding(80, E) -> LSTM(E, H, num_layers=2, batch_first) -> Linear(H, 80)
      -> cross-entropy over the next ids

``--cell gru`` or ``--cell rnn`` puts nn.GRU or nn.RNN (tanh) in the LSTM's place: those have no fused
kernel, so each time step is the engine's ops (F.linear on the hidden state, the gates' pointwise ops).

One step = forward with the loss, backward, plain SGD (lr 0.01) and zeroing the gradients.
Each measured program runs in its own subprocess (its own peak RSS), ours and torch alternate for
--rounds rounds, and the medians, fastest steps and ours/torch ratios are printed, with the cores
other processes used meanwhile (the contention column).

    python bench/bench_lstm.py                          # hidden 256, batch 32, seq 64, 3 rounds
    python bench/bench_lstm.py --hidden 512 --batch 64 --seq 100
    python bench/bench_lstm.py --json bench/results/lstm.jsonl
    python bench/bench_lstm.py --cell gru
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import numpy as np
from _common import (
    CpuMonitor,
    add_repo_to_path,
    append_json,
    machine_info,
    med,
    peak_rss_mib,
    run_measured,
    write_json,
)

VOCAB, LAYERS, LR = 80, 2, 0.01
GATES = {"lstm": 4, "gru": 3, "rnn": 1}  # gate blocks in weight_ih / weight_hh


def init_params(emb: int, hidden: int, seed: int = 0, cell: str = "lstm") -> dict[str, np.ndarray]:
    """torch's default inits (N(0, 1) embedding, U(±1/sqrt(H)) recurrent layers, U(±1/sqrt(H)) head),
    float32, under torch's state_dict names (the recurrent module is ``lstm`` whatever its cell)."""
    rng = np.random.default_rng(seed)
    k = 1.0 / np.sqrt(hidden)
    g = GATES[cell] * hidden
    p = {"emb.weight": rng.standard_normal((VOCAB, emb))}
    for layer in range(LAYERS):
        n_in = emb if layer == 0 else hidden
        p[f"lstm.weight_ih_l{layer}"] = rng.uniform(-k, k, (g, n_in))
        p[f"lstm.weight_hh_l{layer}"] = rng.uniform(-k, k, (g, hidden))
        p[f"lstm.bias_ih_l{layer}"] = rng.uniform(-k, k, g)
        p[f"lstm.bias_hh_l{layer}"] = rng.uniform(-k, k, g)
    p["head.weight"] = rng.uniform(-k, k, (VOCAB, hidden))
    p["head.bias"] = rng.uniform(-k, k, VOCAB)
    return {n: v.astype(np.float32) for n, v in p.items()}


def batches(batch: int, seq: int, n: int = 4, seed: int = 1):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        w = rng.integers(0, VOCAB, (batch, seq + 1)).astype(np.int64)
        out.append((np.ascontiguousarray(w[:, :-1]), np.ascontiguousarray(w[:, 1:])))
    return out


# ---- the measured programs -------------------------------------------------------------------------


def ours_program(args):
    """(step(x, y) -> loss, describe) for our engine."""
    add_repo_to_path()
    import engine
    import engine.functional as F
    import nn
    from engine import Tensor

    class CharRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(VOCAB, args.emb)
            self.lstm = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[args.cell](
                args.emb, args.hidden, LAYERS, batch_first=True)
            self.head = nn.Linear(args.hidden, VOCAB)

        def forward(self, x):
            return self.head(self.lstm(self.emb(x))[0])

    engine.tune_cpu()  # as examples/char_lstm.py and bench_cnn.py do: malloc and OpenBLAS idle threads
    model = CharRNN()
    model.load_state_dict(init_params(args.emb, args.hidden, cell=args.cell))
    opt = nn.optim.SGD(model.parameters(), lr=LR)

    def step(x, y):
        logits = model(Tensor(x))
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), Tensor(y).reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    return step, f"engine threads {engine.get_num_threads()}"


def torch_program(args):
    import torch

    tnn = torch.nn

    class CharRNN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.emb = tnn.Embedding(VOCAB, args.emb)
            self.lstm = {"lstm": tnn.LSTM, "gru": tnn.GRU, "rnn": tnn.RNN}[args.cell](
                args.emb, args.hidden, LAYERS, batch_first=True)
            self.head = tnn.Linear(args.hidden, VOCAB)

        def forward(self, x):
            return self.head(self.lstm(self.emb(x))[0])

    model = CharRNN().train()
    params = init_params(args.emb, args.hidden, cell=args.cell)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})
    opt = torch.optim.SGD(model.parameters(), lr=LR)

    def step(x, y):
        logits = model(torch.from_numpy(x))
        loss = tnn.functional.cross_entropy(logits.reshape(-1, VOCAB), torch.from_numpy(y).reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    return step, f"torch {torch.__version__} threads {torch.get_num_threads()}"


def worker(args) -> None:
    rss_import = peak_rss_mib()
    step, desc = ours_program(args) if args.impl == "ours" else torch_program(args)
    data = batches(args.batch, args.seq)
    for i in range(args.warmup):
        step(*data[i % len(data)])
    times, loss = [], float("nan")
    mon = CpuMonitor().start()
    for i in range(args.iters):
        t0 = time.perf_counter()
        loss = step(*data[i % len(data)])
        times.append((time.perf_counter() - t0) * 1e3)
    res = mon.stop()
    res.update(impl=args.impl, desc=desc, ms_median=med(times), ms_min=min(times),
               tokens_per_s=args.batch * args.seq * 1e3 / med(times), peak_rss_mib=peak_rss_mib(),
               rss_after_import_mib=rss_import,
               last_loss=loss, iters=args.iters, warmup=args.warmup)
    write_json(args.json_out, res)


# ---- the driver --------------------------------------------------------------------------------------


def compare(args, label: str, extra: list[str]) -> dict:
    """Alternate ours and torch for ``args.rounds`` rounds; print and return the medians and ratios."""
    me = str(Path(__file__).resolve())
    common = ["--worker", "--iters", str(args.iters), "--warmup", str(args.warmup), "--hidden", str(args.hidden),
              "--emb", str(args.emb), "--batch", str(args.batch), "--seq", str(args.seq), "--cell", args.cell, *extra]
    runs = {"ours": [], "torch": []}
    for r in range(args.rounds):
        for impl in ("ours", "torch"):
            res = run_measured([sys.executable, me, *common, "--impl", impl], False, args.quiet_wait, args.retries)
            runs[impl].append(res)
            print(f"  {label} round {r + 1} {impl:5s} {res['ms_median']:8.2f} ms/step (fastest {res['ms_min']:8.2f})"
                  f"  {res['tokens_per_s']:7.1f} tok/s"
                  f"  RSS {res['peak_rss_mib']:6.0f} MiB  others {res['others_cores']:.2f} cores  ({res['desc']})")
            sys.stdout.flush()
    keys = ("ms_median", "ms_min", "tokens_per_s", "peak_rss_mib", "others_cores")
    o = {k: med([r[k] for r in runs["ours"]]) for k in keys}
    t = {k: med([r[k] for r in runs["torch"]]) for k in keys}
    ratios = dict(tokens_per_s=o["tokens_per_s"] / t["tokens_per_s"],
                  tokens_per_s_paired=med([a["tokens_per_s"] / b["tokens_per_s"]
                                           for a, b in zip(runs["ours"], runs["torch"])]),
                  fastest=t["ms_min"] / o["ms_min"], peak_rss=o["peak_rss_mib"] / t["peak_rss_mib"])
    print(f"{label}: ours {o['ms_median']:.2f} ms, torch {t['ms_median']:.2f} ms; ours/torch tokens/s "
          f"{ratios['tokens_per_s']:.3f} (paired {ratios['tokens_per_s_paired']:.3f}, fastest steps "
          f"{ratios['fastest']:.3f}), peak RSS "
          f"{o['peak_rss_mib']:.0f} vs {t['peak_rss_mib']:.0f} MiB ({ratios['peak_rss']:.2f}); others used "
          f"{o['others_cores']:.2f} / {t['others_cores']:.2f} cores")
    return dict(label=label, ours=o, torch=t, ratios=ratios, runs=runs)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=20, help="timed steps per run")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each program, alternating")
    ap.add_argument("--cell", choices=sorted(GATES), default="lstm",
                    help="the recurrent module: nn.LSTM, nn.GRU, nn.RNN")
    ap.add_argument("--hidden", type=int, default=256, help="LSTM hidden size")
    ap.add_argument("--emb", type=int, default=64, help="embedding size")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=64, help="time steps per sequence")
    ap.add_argument("--quiet-wait", type=float, default=30.0,
                    help="before each run, wait up to this many seconds for other processes to use < 0.25 cores")
    ap.add_argument("--retries", type=int, default=0, help="rerun a contended run up to this many times")
    ap.add_argument("--json", default="", help="append the summary as one JSON line to this file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--impl", choices=("ours", "torch"), default="ours", help=argparse.SUPPRESS)
    ap.add_argument("--json-out", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    info = machine_info()
    print(f"{datetime.datetime.now().isoformat(timespec='seconds')}  {info['cpu']}, {info['cores']} cores, "
          f"numpy {info['numpy']}, {info['blas']}, commit {info['commit']}; {args.iters} timed steps after "
          f"{args.warmup} warm-up, {args.rounds} round(s)")
    summary = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), machine=info, iters=args.iters,
                   warmup=args.warmup, rounds=args.rounds, results=[])
    label = (f"char-{args.cell} step (2 layers, hidden {args.hidden}, emb {args.emb}, batch {args.batch}, "
             f"seq {args.seq})")
    summary["results"].append(compare(args, label, []))
    if args.json:
        append_json(args.json, summary)


if __name__ == "__main__":
    main()
