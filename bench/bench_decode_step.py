#!/usr/bin/env python3
"""One decode step of GPT.generate (issue 21): tinygrad_gpt/decode.py's fast step against the
reference step (model.hidden with the KV caches + lm_head), alternating in one process, plus the
memory-bandwidth floor: the same weights read by one gemv each (x @ W.T), with nothing else.

gpt2-124M, random weights, a --prompt_len prompt in the caches; each step decodes one token at the
same position (the caches are rewound), so every step does the same work. min and median in ms.

    python bench/bench_decode_step.py                  # batch 1 and 8
    python bench/bench_decode_step.py --batch 1 --steps 50
"""

from __future__ import annotations

import argparse
import time

from _common import CpuMonitor, add_repo_to_path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", default="1,8", help="comma-separated batch sizes")
    ap.add_argument("--steps", type=int, default=20, help="timed steps of each kind")
    ap.add_argument("--prompt_len", type=int, default=64)
    args = ap.parse_args(argv)
    add_repo_to_path()
    from tinygrad_gpt.config import GPTConfig
    from tinygrad_gpt.model import GPT

    model = GPT(GPTConfig.from_preset("gpt2", dropout=0.0), seed=0)
    model.eval()
    for B in (int(b) for b in args.batch.split(",")):
        time_batch(model, B, args.steps, args.prompt_len)


def time_batch(model, B: int, steps: int, prompt_len: int) -> None:
    """Print min/median ms of the fast step, the reference step and the gemv floor at batch B."""
    import numpy as np

    import nn
    from engine import no_grad
    from tinygrad_gpt import decode

    weights = [p._data for name, p in model.named_parameters() if p.ndim == 2 and ".h." in name]
    weights.append(model.lm_head.weight._data)  # the tied (V, C) head
    mib = sum(w.nbytes for w in weights) / 2**20
    prompt = np.random.default_rng(0).integers(0, 50257, size=(B, prompt_len))
    caches = [nn.KVCache(model.config.block_size) for _ in range(model.config.n_layer)]
    xs = {n: np.random.default_rng(1).standard_normal((B, n)).astype(np.float32) for n in (768, 3072)}
    with no_grad():
        model.hidden(prompt, caches)
        dec = decode.Decoder(model, B)
        ids = prompt[:, -1]

        def fast():
            dec.step(ids, caches)

        def reference():
            model.lm_head(model.hidden(ids[:, None], caches)[:, -1, :])

        def gemv_floor():
            for w in weights:
                xs[w.shape[1]] @ w.T

        kinds = dict(fast=fast, reference=reference, gemv_floor=gemv_floor)
        times: dict[str, list[float]] = {k: [] for k in kinds}
        for f in kinds.values():
            f()  # warm-up (numba compiles)
        mon = CpuMonitor().start()
        for _ in range(steps):
            for k, f in kinds.items():
                for c in caches:
                    c.length = prompt_len
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
        cpu = mon.stop()
    print(f"batch {B}, {mib:.0f} MiB of weights a step, others {cpu['others_cores']:.2f} cores")
    for k, ts in times.items():
        print(f"  {k:10s} min {1e3 * min(ts):7.2f} ms  median {1e3 * float(np.median(ts)):7.2f} ms"
              + (f"  ({mib / 1024 / min(ts):.1f} GiB/s at the min)" if k == "gemv_floor" else ""))

if __name__ == "__main__":
    main()
