#!/usr/bin/env python3
"""A/B in one process: SelfAttention forward + backward at the two training shapes, float32.

A: the reference path (engine/ops/fused.py's per-block ``parallel_batched`` calls and the
"attention_softmax" kernel); B: the "attention_blocks" CPU kernel (engine/kernels/cpu/attention.py)
taken out of the table for A. Alternates A and B every ``--block`` reps on the same arrays, and
prints medians per call (ms) and the cores other processes used meanwhile (/proc/stat).

    python bench/bench_attention.py --shape S M --rounds 30
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _common import CpuMonitor, add_repo_to_path

add_repo_to_path()

from engine import kernels  # noqa: E402
from engine.functional import attention_mask  # noqa: E402
from engine.ops.fused import SelfAttention  # noqa: E402
from engine.parallel import tune_cpu  # noqa: E402

SHAPES = {"S": (12, 64, 128, 4), "M": (8, 256, 384, 6)}  # B, T, C, n_head (as the GPT configs)


def run_once(qkv, g, keep, n_head):
    """(forward ms, backward ms, forward + backward CPU ms of all threads) of one SelfAttention call.
    The CPU time hardly moves when other processes take the cores (wall time does, 2-3x here)."""
    fn = SelfAttention()
    fn.xp, fn.saved = np, ()
    c0, t0 = time.process_time(), time.perf_counter()
    fn.forward(qkv, n_head=n_head, keep=keep, causal=True)
    t1 = time.perf_counter()
    fn.backward(g)
    t2, c2 = time.perf_counter(), time.process_time()
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3, (c2 - c0) * 1e3


def bench(shape: str, rounds: int, block: int) -> None:
    B, T, C, nh = SHAPES[shape]
    rng = np.random.default_rng(0)
    qkv = rng.standard_normal((B, T, 3 * C), dtype=np.float32)
    g = rng.standard_normal((B, T, C), dtype=np.float32)
    keep = np.asarray(attention_mask(T, T))
    entry = kernels.kernels.get(("attention_blocks", "cpu"))
    if entry is None:
        print("no attention_blocks kernel registered: A only")
    times = {"A": [], "B": []}
    for _ in range(3):  # compile and warm both
        for name in ("A", "B"):
            _toggle(entry, name)
            run_once(qkv, g, keep, nh)
    mon = CpuMonitor().start()
    for _ in range(rounds):
        for name in ("A", "B") if entry is not None else ("A",):
            _toggle(entry, name)
            for _ in range(block):
                times[name].append(run_once(qkv, g, keep, nh))
    load = mon.stop()
    _toggle(entry, "B")
    print(f"shape {shape} (B={B}, T={T}, 3C={3 * C}, n_head={nh}), {rounds}x{block} reps each; "
          f"others used {load['others_cores']:.2f} cores, this process {load['cores_busy']:.2f}")
    for name, ts in times.items():
        if ts:
            f, b = statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts)
            tot, cpu = statistics.median(t[0] + t[1] for t in ts), statistics.median(t[2] for t in ts)
            print(f"  {name}: forward {f:7.3f} ms  backward {b:7.3f} ms  total {tot:7.3f} ms  (CPU {cpu:7.3f} ms)")
    if times["B"]:
        for what, key in (("wall", lambda t: t[0] + t[1]), ("CPU", lambda t: t[2])):
            a, b = statistics.median(map(key, times["A"])), statistics.median(map(key, times["B"]))
            print(f"  B/A total {what}: {b / a:.3f} ({(1 - b / a) * 100:.0f}% less)")


def _toggle(entry, name: str) -> None:
    """A: the kernel out of the table; B: in."""
    if entry is None:
        return
    if name == "A":
        kernels.kernels.pop(("attention_blocks", "cpu"), None)
    else:
        kernels.kernels[("attention_blocks", "cpu")] = entry


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", nargs="+", choices=sorted(SHAPES), default=["S", "M"])
    ap.add_argument("--rounds", type=int, default=20, help="alternations of A and B")
    ap.add_argument("--block", type=int, default=5, help="reps per setting per round")
    args = ap.parse_args(argv)
    tune_cpu()
    kernels.lookup("attention_softmax", np.ones(1, np.float32))  # load the table
    for shape in args.shape:
        bench(shape, args.rounds, args.block)


if __name__ == "__main__":
    main()
