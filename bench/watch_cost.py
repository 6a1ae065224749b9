#!/usr/bin/env python3
"""What ``--watch N`` costs a training step (issue 23: zero when off, <= 5% at every 100 steps).

One process, one model: blocks of --steps steps alternate between no watcher and a watcher
recording every --every steps (``nn.utils.watch`` on the model and its optimizer, as ``fit`` attaches
it). The recording step is expensive (statistics, histograms, a JSON line) and the others cost one
flag test per module call, so the figure is the *mean* ms/step of each block (a median would hide
the recording step); the medians of those block means are compared.

    python bench/watch_cost.py                      # baby on the CPU, every 100 steps

--json FILE appends the figures as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="baby")
    ap.add_argument("--batch_size", type=int, default=12)
    ap.add_argument("--every", type=int, default=100, help="the watcher records every this many steps")
    ap.add_argument("--steps", type=int, default=100, help="steps per block (a multiple of --every)")
    ap.add_argument("--rounds", type=int, default=4, help="blocks per mode, alternating")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--json", default=None, help="append the figures to this file as one JSON line")
    args = ap.parse_args(argv)

    import engine
    import nn
    from tinygrad_gpt.train import TrainConfig, setup, train_step

    engine.tune_cpu()
    out = Path(tempfile.mkdtemp())
    run = setup(TrainConfig(preset=args.preset, batch_size=args.batch_size, plot=False, out_dir=str(out)))

    def block(watched: bool, n: int) -> float:
        """Mean ms per step over n steps, with or without a watcher attached."""
        watcher = nn.utils.watch(run.model, run.optimizer, every=args.every, log=out / "watch.jsonl") \
            if watched else None
        t0 = time.perf_counter()
        for it in range(n):
            run.schedule.step(it)
            train_step(run.model, run.optimizer, run.loader, grad_clip=run.cfg.grad_clip).item()
        ms = (time.perf_counter() - t0) / n * 1e3
        if watcher is not None:
            watcher.remove()
        return ms

    block(False, args.warmup)
    times: dict[str, list[float]] = {"off": [], f"every_{args.every}": []}
    for _ in range(args.rounds):
        times["off"].append(block(False, args.steps))
        times[f"every_{args.every}"].append(block(True, args.steps))
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in times.items():
        print(f"{k:>10}: median of block means {med[k]:.2f} ms/step  ({', '.join(f'{t:.2f}' for t in v)})")
    cost = med[f"every_{args.every}"] / med["off"] - 1
    print(f"watch every {args.every} steps costs {100 * cost:+.1f}% of step time")
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps({"bench": "watch_cost", **vars(args), "ms_per_step": med, "runs": times,
                                "cost": cost}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
