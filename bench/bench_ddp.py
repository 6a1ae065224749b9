#!/usr/bin/env python3
"""Data-parallel scaling on this machine (issue 20): tokens/s of 1 rank against 2 ranks, one thread
each, on a bench config (M by default), and the share of the step spent in the all-reduce, with the
overlapped bucketed all-reduce (``DistributedDataParallel``'s hooks) and without it (backward under
``no_sync``, then one blocking all-reduce of the whole flat gradient buffer).

    python bench/bench_ddp.py                     # config M, 2 rounds of (1 rank, 2 ranks) x (overlap, blocking)
    python bench/bench_ddp.py --config S --rounds 1 --json bench/results/<date>-<machine>-ddp.jsonl

Each rank has the same per-rank batch (the bench config's), so 2 ranks process twice the tokens of
1 per step: perfect scaling is a tokens/s ratio of 2.0. "all-reduce ms" is, with overlap, the time
backward's last hook waits for the buckets still in flight (the part overlap did not hide); without
it, the time of the blocking all-reduce. Both include waiting for the slower rank to finish its
backward, as the step itself does. The driver launches each case with ``mpiexec -n N`` and
reads rank 0's JSON line; ranks get ``TINYGRAD_GPT_THREADS=1 OPENBLAS_NUM_THREADS=1``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402


def worker(config: str, mode: str, iters: int, warmup: int) -> dict:
    """One rank: build the model, wrap it, time ``warmup + iters`` steps; rank 0 returns the figures."""
    _common.add_repo_to_path()
    import numpy as np

    import nn
    from nn.parallel import DistributedDataParallel, world

    comm = world()
    rank, size = comm.Get_rank(), comm.Get_size()
    model, optimizer = _common.ours_model(config)
    ddp = DistributedDataParallel(model, comm=comm)
    cfg = _common.CONFIGS[config]
    get_batch, _ = _common.batch_source(cfg["block_size"], cfg["batch_size"], seed=_common.SEED + rank)

    waited = [0.0]
    if mode == "overlap":  # time only the wait for the buckets still in flight when backward ends
        wait_all = ddp._wait_all

        def timed_wait_all():
            t = time.perf_counter()
            wait_all()
            waited[0] += time.perf_counter() - t
        ddp._wait_all = timed_wait_all

    steps, comm_ms = [], []
    for it in range(warmup + iters):
        x, y = get_batch()
        comm.Barrier()  # every rank starts the step together: the step time is the slowest rank's
        waited[0] = 0.0
        t0 = time.perf_counter()
        if mode == "overlap":
            _, loss = ddp(x, y)
            loss.backward()
        else:
            with ddp.no_sync():
                _, loss = ddp(x, y)
                loss.backward()
            t = time.perf_counter()
            ddp.allreduce_blocking_()
            waited[0] = time.perf_counter() - t
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
        t1 = time.perf_counter()
        if it >= warmup:
            steps.append((t1 - t0) * 1e3)
            comm_ms.append(waited[0] * 1e3)
    # Replicas must agree to the bit: the point of averaging the gradients.
    digest = float(np.sum(ddp.flat.data.astype(np.float64)))
    digests = comm.gather(digest, root=0)
    if rank != 0:
        return {}
    ms = statistics.median(steps)
    tokens = cfg["block_size"] * cfg["batch_size"] * size
    return dict(config=config, ranks=size, mode=mode, ms_median=ms, ms_min=min(steps),
                tokens_per_s=tokens / (ms / 1e3), allreduce_ms_median=statistics.median(comm_ms),
                allreduce_share=statistics.median(c / s for c, s in zip(comm_ms, steps)),
                grad_mib=ddp.flat.grad.nbytes / 2**20, buckets=len(ddp.buckets),
                replicas_equal=len(set(digests)) == 1)


def launch(config: str, ranks: int, mode: str, iters: int, warmup: int) -> dict:
    env = dict(os.environ, TINYGRAD_GPT_THREADS="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    cmd = ["mpiexec", "-n", str(ranks), sys.executable, __file__, "--worker", "--config", config,
           "--mode", mode, "--iters", str(iters), "--warmup", str(warmup)]
    b0 = _common.cpu_ticks()[0]
    t0 = time.monotonic()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    wall = time.monotonic() - t0
    res = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    busy = (_common.cpu_ticks()[0] - b0) / os.sysconf("SC_CLK_TCK") / wall
    res["machine_cores_busy"] = busy  # ranks' own use included: above `ranks` means others were busy
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="M", choices=sorted(_common.CONFIGS))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iters", type=int, default=None, help="timed steps per case (default: the config's)")
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--json", default=None, help="append one JSON line per case to this file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="overlap", choices=["overlap", "blocking"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    cfg = _common.CONFIGS[args.config]
    iters = args.iters or cfg["iters"]
    warmup = cfg["warmup"] if args.warmup is None else args.warmup
    if args.worker:
        res = worker(args.config, args.mode, iters, warmup)
        if res:
            print(json.dumps(res), flush=True)
        return 0
    results = []
    for r in range(args.rounds):
        for ranks in (1, 2):
            for mode in ("overlap", "blocking"):
                res = launch(args.config, ranks, mode, iters, warmup)
                res["round"] = r
                results.append(res)
                print(f"round {r} ranks {ranks} {mode:8s}: {res['ms_median']:7.1f} ms/step (min "
                      f"{res['ms_min']:.1f}), {res['tokens_per_s']:8.0f} tokens/s, all-reduce "
                      f"{res['allreduce_ms_median']:6.2f} ms = {100 * res['allreduce_share']:4.1f}% of the step, "
                      f"machine busy {res['machine_cores_busy']:.2f} cores, replicas equal {res['replicas_equal']}",
                      flush=True)
                if args.json:
                    _common.append_json(args.json, dict(res, bench="ddp", commit=_common.git_commit(),
                                                        date=time.strftime("%Y-%m-%d %H:%M")))
    for mode in ("overlap", "blocking"):
        one = statistics.median(r["tokens_per_s"] for r in results if r["ranks"] == 1 and r["mode"] == mode)
        two = statistics.median(r["tokens_per_s"] for r in results if r["ranks"] == 2 and r["mode"] == mode)
        share = statistics.median(r["allreduce_share"] for r in results if r["ranks"] == 2 and r["mode"] == mode)
        print(f"{mode:8s}: 1 rank {one:8.0f} tokens/s, 2 ranks {two:8.0f} tokens/s = {two / one:.2f}x; "
              f"all-reduce {100 * share:.1f}% of the 2-rank step")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
