#!/usr/bin/env python3
"""Per-step time of the training loop with the loss read back every step (the loop before issue 18:
``loss.item()`` after every micro-step, a device sync on the GPU) and every --log_interval steps
(``tinygrad_gpt.train.fit`` now), in one process on one model, alternating blocks of steps so that
machine drift hits both alike. Uses the loop's own pieces: ``setup`` and ``train_step``.

    python bench/loop_sync.py                                   # baby on the CPU: expect ~1.00x
    python bench/loop_sync.py --device gpu --preset gpt2 --tokenizer gpt2 --batch_size 8 --steps 20

Prints median ms/step of each mode over --rounds blocks of --steps steps (after --warmup steps),
and their ratio; --json FILE appends the figures as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    ap.add_argument("--preset", default="baby")
    ap.add_argument("--tokenizer", default="char", choices=["char", "gpt2"])
    ap.add_argument("--batch_size", type=int, default=12)
    ap.add_argument("--grad_accum", type=int, default=1)
    ap.add_argument("--log_interval", type=int, default=10, help="steps between reads in the new mode")
    ap.add_argument("--steps", type=int, default=50, help="steps per block (a multiple of --log_interval)")
    ap.add_argument("--rounds", type=int, default=5, help="blocks per mode, alternating")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--json", default=None, help="append the figures to this file as one JSON line")
    args = ap.parse_args(argv)

    from engine.backend import get_xp
    from tinygrad_gpt.train import TrainConfig, setup, train_step

    run = setup(TrainConfig(preset=args.preset, tokenizer=args.tokenizer, device=args.device,
                            batch_size=args.batch_size, grad_accum=args.grad_accum, plot=False, out_dir="/tmp"))
    xp = get_xp(args.device)

    def sync():
        if args.device == "gpu":
            xp.cuda.Device().synchronize()

    def block(every: int, n: int) -> float:
        """ms per step of n steps, reading the loss every ``every`` steps (all read by the end)."""
        sync()
        t0 = time.perf_counter()
        pending = []
        for it in range(n):
            run.schedule.step(it)
            pending.append(train_step(run.model, run.optimizer, run.loader, grad_accum=args.grad_accum,
                                      grad_clip=run.cfg.grad_clip, device=args.device))
            if (it + 1) % every == 0:
                [loss.item() for loss in pending]
                pending = []
        [loss.item() for loss in pending]
        sync()
        return (time.perf_counter() - t0) / n * 1e3

    block(1, args.warmup)
    times: dict[str, list[float]] = {"every_step": [], f"every_{args.log_interval}": []}
    for _ in range(args.rounds):
        times["every_step"].append(block(1, args.steps))
        times[f"every_{args.log_interval}"].append(block(args.log_interval, args.steps))
    med = {k: statistics.median(v) for k, v in times.items()}
    before, after = med["every_step"], med[f"every_{args.log_interval}"]
    for k, v in times.items():
        print(f"{k:>12}: median {med[k]:.2f} ms/step  ({', '.join(f'{t:.2f}' for t in v)})")
    print(f"read every step / every {args.log_interval}: {before / after:.3f}x time per step")
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps({"bench": "loop_sync", **vars(args), "ms_per_step": med, "runs": times,
                                "ratio": before / after}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
