#!/usr/bin/env python3
"""Sampling speed of GPT.generate with and without the KV cache.

For each preset, a model with random weights (seed 0) gets a prompt of --prompt_len random ids
(batch 1) and generates --new_tokens tokens greedily (temperature 0), once with use_cache=True
and once with use_cache=False, each in its own subprocess (so peak RSS is per program), after a
2-token warm-up. tokens/s = new tokens / wall time of the whole generate call (prompt included);
the time to the first token (prompt forward + one sample) is timed separately. The speedup is
cached tokens/s over uncached; both paths must produce the same greedy tokens.

Presets: any GPTConfig preset name, optionally with ':BLOCK' to override block_size. `baby`
gets vocab 80 (the char-level corpus), the GPT-2 sizes keep 50257. Note that baby's block_size
is 64: a 64-token prompt already fills it, so every new token re-runs the cropped 64-token window
and the cache cannot help; `baby:320` fits prompt + 256 new tokens and shows the cache at work.

    python bench/bench_generate.py                                   # baby, baby:320, gpt2; 256 tokens
    python bench/bench_generate.py --presets gpt2 --new_tokens 32    # shorter
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import sys
import time
from pathlib import Path

from _common import (
    CpuMonitor,
    add_repo_to_path,
    append_json,
    contended_mark,
    machine_info,
    med,
    peak_rss_mib,
    run_measured,
    write_json,
)


def parse_preset(spec: str) -> tuple[str, dict]:
    name, _, block = spec.partition(":")
    overrides = {"vocab_size": 80} if name == "baby" else {}
    if block:
        overrides["block_size"] = int(block)
    return name, overrides


def worker(args) -> None:
    add_repo_to_path()
    import numpy as np

    from tinygrad_gpt.config import GPTConfig
    from tinygrad_gpt.model import GPT

    name, overrides = parse_preset(args.preset)
    config = GPTConfig.from_preset(name, dropout=0.0, **overrides)
    t0 = time.perf_counter()
    model = GPT(config, seed=0)
    model.eval()
    init_s = time.perf_counter() - t0
    rss_setup = peak_rss_mib()
    use_cache = args.mode == "cache"
    prompt = np.random.default_rng(0).integers(0, config.vocab_size, size=(1, args.prompt_len), dtype=np.int64)
    model.generate(prompt[:, :8], 2, temperature=0, use_cache=use_cache)  # warm-up
    t0 = time.perf_counter()
    model.generate(prompt, 1, temperature=0, use_cache=use_cache)
    ttft = time.perf_counter() - t0
    mon = CpuMonitor().start()
    t0 = time.perf_counter()
    out = model.generate(prompt, args.new_tokens, temperature=0, use_cache=use_cache)
    dt = time.perf_counter() - t0
    cpu = mon.stop()
    new = out[0, args.prompt_len:].tolist()
    res = dict(preset=args.preset, mode=args.mode, prompt_len=args.prompt_len, new_tokens=len(new),
               block_size=config.block_size, vocab_size=config.vocab_size, n_params=model.num_parameters(),
               init_s=init_s, ttft_s=ttft, seconds=dt, tokens_per_s=len(new) / dt, ms_per_token=1e3 * dt / len(new),
               tokens_sha=hashlib.sha256(str(new).encode()).hexdigest()[:16], rss_after_setup_mib=rss_setup,
               peak_rss_mib=peak_rss_mib(), **cpu)
    print(f"{args.preset} {args.mode}: {len(new)} tokens in {dt:.2f}s = {res['tokens_per_s']:.2f} tok/s, "
          f"first token {1e3 * ttft:.0f} ms, peak RSS {res['peak_rss_mib']:.0f} MiB, "
          f"others {cpu['others_cores']:.2f} cores{contended_mark(res)}")
    if args.json_out:
        write_json(args.json_out, res)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="baby,baby:320,gpt2", help="comma-separated, e.g. baby,gpt2 or baby:320")
    ap.add_argument("--new_tokens", type=int, default=256)
    ap.add_argument("--prompt_len", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=1, help="runs of each (preset, mode), alternating the modes")
    ap.add_argument("--quiet-wait", type=float, default=60.0,
                    help="before each run, wait up to this many seconds for other processes to use < 0.25 cores")
    ap.add_argument("--retries", type=int, default=0, help="rerun a CONTENDED run up to this many times")
    ap.add_argument("--json", default="", help="append the summary as one JSON line to this file")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--preset", default="baby", help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=["cache", "nocache"], default="cache", help=argparse.SUPPRESS)
    ap.add_argument("--json-out", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)

    info = machine_info()
    print(f"{datetime.datetime.now().isoformat(timespec='seconds')}  {info['cpu']}, {info['cores']} cores, "
          f"python {info['python']}, numpy {info['numpy']}, {info['blas']}, commit {info['commit']}")
    print(f"greedy, batch 1, prompt {args.prompt_len} random ids, {args.new_tokens} new tokens, "
          f"{args.rounds} round(s)")
    sys.stdout.flush()
    presets = [p for p in args.presets.split(",") if p]
    runs: dict[str, dict[str, list[dict]]] = {p: {"cache": [], "nocache": []} for p in presets}
    for p in presets:
        for _ in range(args.rounds):
            for mode in ("cache", "nocache"):
                cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--preset", p, "--mode", mode,
                       "--new_tokens", str(args.new_tokens), "--prompt_len", str(args.prompt_len)]
                res = run_measured(cmd, args.verbose, args.quiet_wait, args.retries)
                runs[p][mode].append(res)
                print(f"  {p:10s} {mode:7s} {res['tokens_per_s']:9.2f} tok/s  {res['ms_per_token']:9.2f} ms/token  "
                      f"first token {1e3 * res['ttft_s']:8.1f} ms  RSS {res['peak_rss_mib']:6.0f} MiB  "
                      f"others {res['others_cores']:.2f} cores{contended_mark(res)}")
                sys.stdout.flush()
    summary = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), machine=info,
                   new_tokens=args.new_tokens, prompt_len=args.prompt_len, rounds=args.rounds, runs=runs, presets={})
    print("preset      cached tok/s  uncached tok/s  speedup  same tokens  peak RSS cached/uncached (MiB)")
    for p in presets:
        c, n = runs[p]["cache"], runs[p]["nocache"]
        s = dict(cache_tokens_per_s=med([r["tokens_per_s"] for r in c]),
                 nocache_tokens_per_s=med([r["tokens_per_s"] for r in n]),
                 same_tokens=len({r["tokens_sha"] for r in c + n}) == 1,
                 cache_peak_rss_mib=med([r["peak_rss_mib"] for r in c]),
                 nocache_peak_rss_mib=med([r["peak_rss_mib"] for r in n]))
        s["speedup"] = s["cache_tokens_per_s"] / s["nocache_tokens_per_s"]
        summary["presets"][p] = s
        print(f"{p:10s}  {s['cache_tokens_per_s']:12.2f}  {s['nocache_tokens_per_s']:14.2f}  {s['speedup']:6.2f}x  "
              f"{'yes' if s['same_tokens'] else 'NO':>11s}  "
              f"{s['cache_peak_rss_mib']:.0f} / {s['nocache_peak_rss_mib']:.0f}")
    if args.json:
        append_json(args.json, summary)


if __name__ == "__main__":
    main()
