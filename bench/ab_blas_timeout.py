#!/usr/bin/env python3
"""In one process, our S (or M) training step with OpenBLAS's idle threads spinning 2^28 cycles (its
default) against 2^16 (what ``engine.tune_cpu()`` sets), alternating blocks of --block-iters steps:
the thread timeout is switched by setting ``OPENBLAS_THREAD_TIMEOUT`` and restarting the loaded
OpenBLAS's threads (``engine.parallel._restart_openblas_threads``), as tune_cpu does. Prints per-setting
median and fastest step and the process's CPU time per step (all its threads, from /proc), which
shows the spinning even where contention blurs the wall times. NumPy is imported first.

    python bench/ab_blas_timeout.py --config S --blocks 12
"""

import numpy as np  # noqa: F401, I001  (first, as in a user's script)

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent))

from _common import CONFIGS, GRAD_CLIP, batch_source, ours_model  # noqa: E402


def process_cpu_s() -> float:
    """CPU seconds of every thread of this process (utime + stime from /proc/self/task/*/stat)."""
    total = 0
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="S")
    ap.add_argument("--blocks", type=int, default=12)
    ap.add_argument("--block-iters", type=int, default=5)
    args = ap.parse_args(argv)
    import nn
    from engine import parallel
    from engine.backend import keep_freed_memory

    keep_freed_memory()  # tune_cpu's other part, on for both settings
    cfg = CONFIGS[args.config]
    model, opt = ours_model(args.config)
    params = model.parameters()
    get_batch, _ = batch_source(cfg["block_size"], cfg["batch_size"])

    def step() -> None:
        x, y = get_batch()
        loss = model(x, y)[1]
        loss.backward()
        nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        opt.step()
        opt.zero_grad()
        loss.item()

    for _ in range(3):
        step()
    times: dict[str, list[float]] = {"28": [], "16": []}
    cpu = dict.fromkeys(times, 0.0)
    for _ in range(args.blocks):
        for timeout in times:
            os.environ["OPENBLAS_THREAD_TIMEOUT"] = timeout
            if not parallel._restart_openblas_threads():
                sys.exit("no pthreads OpenBLAS found through threadpoolctl: nothing to compare")
            step()  # the restarted threads start here, untimed
            c0 = process_cpu_s()
            for _ in range(args.block_iters):
                t0 = time.perf_counter()
                step()
                times[timeout].append(time.perf_counter() - t0)
            cpu[timeout] += process_cpu_s() - c0
    for timeout, ts in times.items():
        print(f"OPENBLAS_THREAD_TIMEOUT={timeout}: median {1e3 * statistics.median(ts):.1f} ms, fastest "
              f"{1e3 * min(ts):.1f} ms, process CPU {1e3 * cpu[timeout] / len(ts):.1f} ms per step")
    print(f"median step 16/28: {statistics.median(times['16']) / statistics.median(times['28']):.3f}")


if __name__ == "__main__":
    main()
