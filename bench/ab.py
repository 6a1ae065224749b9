#!/usr/bin/env python3
"""A/B in one process: our training step under two settings, alternating every few iterations.

This machine's speed drifts by 20-30% over minutes, more than the effect of most changes. Two
settings measured in separate runs minutes apart cannot be told apart; alternating them every
few iterations inside one process, on the same model and batches, can. Prints per-phase medians
for each setting and their ratio. Settings (--compare):

    threads          1 elementwise thread (A) against --threads N (B)
    batched-matmul   attention's batched matmuls as one NumPy call on multithreaded BLAS (A)
                     against engine.parallel.parallel_batched: one BLAS thread, batch shared out (B)
    cpu-kernels      the ops' references (A) against engine/kernels/cpu's compiled kernels (B)

    python bench/ab.py --config S --blocks 20 --block-iters 5
    python bench/ab.py --config M --blocks 6 --block-iters 2 --compare batched-matmul
    python bench/ab.py --config S --compare cpu-kernels
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
    ap.add_argument("--compare", choices=("threads", "batched-matmul", "cpu-kernels"), default="threads")
    ap.add_argument("--threads", type=int, default=2, help="B's elementwise threads with --compare threads")
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

    openblas = engine.parallel._openblas
    if args.compare == "threads":
        settings = {"threads=1": lambda: engine.parallel.set_num_threads(1),
                    f"threads={args.threads}": lambda: engine.parallel.set_num_threads(args.threads)}
    elif args.compare == "cpu-kernels":
        import engine.kernels

        if not engine.kernels.enabled("cpu"):
            raise SystemExit("--compare cpu-kernels needs numba (pip install -e \".[cpu]\")")
        settings = {"composed": lambda: engine.kernels.set_enabled(False, "cpu"),
                    "compiled": lambda: engine.kernels.set_enabled(True, "cpu")}
    else:
        if openblas is None:
            raise SystemExit("--compare batched-matmul needs NumPy's OpenBLAS, which engine.parallel did not find")
        settings = {"blas-threads": lambda: setattr(engine.parallel, "_openblas", None),
                    "batch-shared": lambda: setattr(engine.parallel, "_openblas", openblas)}
    for _ in range(args.warmup):
        step()
    times: dict[str, list[dict[str, float]]] = {name: [] for name in settings}
    for _ in range(args.blocks):
        for name, apply in settings.items():
            apply()
            times[name] += [step() for _ in range(args.block_iters)]
    a, b = settings
    print(f"config {args.config}: {args.blocks} blocks x {args.block_iters} iters per setting, alternating")
    print(f"{'phase':10s} {'A ' + a:>14s} {'B ' + b:>14s} {'B/A':>6s}   (median ms/iter)")
    for k in PHASES:
        ma = statistics.median(r[k] for r in times[a])
        mb = statistics.median(r[k] for r in times[b])
        print(f"{k:10s} {ma:14.2f} {mb:14.2f} {mb / ma:6.3f}")


if __name__ == "__main__":
    main()
