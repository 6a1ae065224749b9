#!/usr/bin/env python3
"""A/B in one process: our training step with 1 elementwise thread against N, alternating.

This machine's speed drifts by 20-30% over minutes, more than the effect of most changes. Two
settings measured in separate runs minutes apart cannot be told apart; alternating them every
few iterations inside one process, on the same model and batches, can. Prints per-phase medians
for each setting and their ratio.

    python bench/ab_threads.py --config S --blocks 20 --block-iters 5
    python bench/ab_threads.py --config M --blocks 6 --block-iters 2
"""

from __future__ import annotations

import argparse
import statistics

from _common import CONFIGS, GRAD_CLIP, PHASES, batch_source, ours_model, timed_step


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="S")
    ap.add_argument("--blocks", type=int, default=20, help="blocks per setting, alternating")
    ap.add_argument("--block-iters", type=int, default=5, help="iterations per block")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs=2, default=(1, 2), metavar=("A", "B"))
    args = ap.parse_args(argv)

    model, opt = ours_model(args.config)  # puts the repository on sys.path
    import engine.parallel
    import nn

    cfg = CONFIGS[args.config]
    get_batch, _ = batch_source(cfg["block_size"], cfg["batch_size"])
    params = model.parameters()

    def step() -> dict[str, float]:
        def update():
            opt.step()
            opt.zero_grad()

        return timed_step(get_batch, forward=lambda x, y: model(x, y)[1], backward=lambda loss: loss.backward(),
                          clip=lambda: nn.optim.clip_grad_norm_(params, GRAD_CLIP), step=update)[0]

    for _ in range(args.warmup):
        step()
    times: dict[int, list[dict[str, float]]] = {n: [] for n in args.threads}
    for _ in range(args.blocks):
        for n in args.threads:
            engine.parallel.set_num_threads(n)
            times[n] += [step() for _ in range(args.block_iters)]
    a, b = args.threads
    print(f"config {args.config}: {args.blocks} blocks x {args.block_iters} iters per setting, alternating")
    print(f"{'phase':10s} {'threads=' + str(a):>12s} {'threads=' + str(b):>12s} {'B/A':>6s}   (median ms/iter)")
    for k in PHASES:
        ma = statistics.median(r[k] for r in times[a])
        mb = statistics.median(r[k] for r in times[b])
        print(f"{k:10s} {ma:12.2f} {mb:12.2f} {mb / ma:6.3f}")


if __name__ == "__main__":
    main()
