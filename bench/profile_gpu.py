#!/usr/bin/env python3
"""Where a GPU training step of our GPT spends its time: phases, then ops.

1. Phases (device-synchronized after each): forward with the loss, backward, clip, AdamW step;
   and the whole step without any extra sync. Median of --steps steps after 3 warmups.
2. Ops: every op's forward and backward wrapped with a device sync before and after, summed per
   op class over --steps steps (the syncs slow the step down; the shares are what count).

    python bench/profile_gpu.py                       # gpt2, batch 8, block 1024, TF32
    python bench/profile_gpu.py --n_layer 6 --n_head 6 --n_embd 384 --block 256 --batch 64 --vocab 65 --dropout 0.2
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n_layer", type=int, default=12)
    ap.add_argument("--n_head", type=int, default=12)
    ap.add_argument("--n_embd", type=int, default=768)
    ap.add_argument("--block", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--bias", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--device", default="gpu", choices=["gpu", "cpu"], help="cpu: a smoke test of this script")
    ap.add_argument("--kernels", type=int, default=1, help="0: the composed ops (engine.kernels.set_enabled(False))")
    args = ap.parse_args(argv)
    os.environ.setdefault("CUPY_TF32", "1")
    import numpy as np

    import engine.kernels
    import nn
    from engine.backend import get_xp, to_device
    from engine.function import Function
    from tinygrad_gpt.config import GPTConfig
    from tinygrad_gpt.model import GPT

    engine.kernels.set_enabled(bool(args.kernels), "cuda")
    dev = args.device
    xp = get_xp(dev)
    cfg = GPTConfig(vocab_size=args.vocab, block_size=args.block, n_layer=args.n_layer, n_head=args.n_head,
                    n_embd=args.n_embd, dropout=args.dropout, bias=bool(args.bias))
    model = GPT(cfg, seed=0).to(dev)
    opt = model.optimizer(6e-4, 0.1, betas=(0.9, 0.95))
    params = model.parameters()
    rng = np.random.default_rng(0)
    x, y = (to_device(rng.integers(0, args.vocab, size=(args.batch, args.block)), dev) for _ in range(2))

    def sync():
        if dev == "gpu":
            xp.cuda.Device().synchronize()

    phases = collections.defaultdict(list)

    def step(timed: bool):
        marks = [time.perf_counter()]

        def mark():
            if timed:
                sync()
                marks.append(time.perf_counter())

        _, loss = model(x, y)
        mark()
        loss.backward()
        mark()
        nn.optim.clip_grad_norm_(params, 1.0)
        mark()
        opt.step()
        opt.zero_grad()
        sync()
        marks.append(time.perf_counter())
        if timed:
            for name, a, b in zip(("forward", "backward", "clip", "adamw"), marks, marks[1:]):
                phases[name].append((b - a) * 1e3)
        else:
            phases["step (no extra syncs)"].append((marks[-1] - marks[0]) * 1e3)

    for _ in range(3):
        step(False)
    phases.clear()
    for _ in range(args.steps):
        step(False)
    for _ in range(args.steps):
        step(True)
    out = {"config": vars(args), "phases_ms": {k: round(statistics.median(v), 2) for k, v in phases.items()}}

    acc: dict[str, float] = collections.defaultdict(float)
    calls: dict[str, int] = collections.defaultdict(int)
    originals = {}

    def wrap(cls):
        f, b = cls.forward, cls.backward

        def fw(self, *a, **k):
            sync()
            t = time.perf_counter()
            r = f(self, *a, **k)
            sync()
            acc[cls.__name__ + ".fwd"] += time.perf_counter() - t
            calls[cls.__name__ + ".fwd"] += 1
            return r

        def bw(self, g):
            sync()
            t = time.perf_counter()
            r = b(self, g)
            sync()
            acc[cls.__name__ + ".bwd"] += time.perf_counter() - t
            calls[cls.__name__ + ".bwd"] += 1
            return r

        originals[cls] = (f, b)
        cls.forward, cls.backward = fw, bw

    for cls in list(Function.registry.values()):
        if "forward" in cls.__dict__:
            wrap(cls)
    for _ in range(args.steps):
        step(True)
    for cls, (f, b) in originals.items():
        cls.forward, cls.backward = f, b
    n = args.steps
    ops = sorted(acc.items(), key=lambda kv: -kv[1])
    out["ops_ms_per_step"] = {k: [round(v * 1e3 / n, 2), calls[k] // n] for k, v in ops[: args.top]}
    out["ops_total_ms"] = round(sum(acc.values()) * 1e3 / n, 1)
    if dev == "gpu":
        out["pool_gib"] = round(xp.get_default_memory_pool().total_bytes() / 2**30, 2)
    print(json.dumps(out, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
