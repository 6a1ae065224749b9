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

--vs-hf (issue 21): gpt2-124M with random weights (seed 0), saved once in Hugging Face format
(``save_pretrained``) and loaded by both ``GPT.from_pretrained`` and transformers'
``GPT2LMHeadModel.from_pretrained`` (2 torch threads), so both run the same weights. Greedy, a
--prompt_len prompt, batch 1 and 8, 64 and 256 new tokens, ``generate(use_cache=True)`` on both;
tokens/s = batch * new tokens / wall time of the generate call. Each library runs in its own
process, alternating for --rounds rounds. --quick: 16 new tokens only, 1 round.

    python bench/bench_generate.py --vs-hf --rounds 3
    python bench/bench_generate.py --vs-hf --quick
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import (
    REPO,
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


HF_BATCHES = (1, 8)
HF_NEW_TOKENS = (64, 256)


def hf_worker(args) -> None:
    """--vs-hf worker: load the saved gpt2 into ours or transformers', time every (batch, new tokens)."""
    add_repo_to_path()
    import numpy as np

    cases = [(b, n) for b in HF_BATCHES for n in args.hf_new_tokens]
    t0 = time.perf_counter()
    if args.impl == "ours":
        from tinygrad_gpt.model import GPT

        model = GPT.from_pretrained(args.weights)
        model.eval()

        def generate(prompt, n):
            return model.generate(prompt, n, temperature=0, use_cache=True)

        version = "ours"
    else:
        import torch
        import transformers

        torch.set_num_threads(2)
        model = transformers.GPT2LMHeadModel.from_pretrained(args.weights).eval()
        model.generation_config.eos_token_id = None  # never stop early: ours does not either

        def generate(prompt, n):
            ids = torch.from_numpy(prompt)
            with torch.no_grad():
                out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False,
                                     use_cache=True, pad_token_id=50256)
            return out.numpy()

        version = f"transformers {transformers.__version__}, torch {torch.__version__}"
    load_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    prompt_all = rng.integers(0, 50257, size=(max(HF_BATCHES), args.prompt_len), dtype=np.int64)
    generate(prompt_all[:1, :8], 2)  # warm-up
    results = []
    for b, n in cases:
        prompt = prompt_all[:b]
        mon = CpuMonitor().start()
        t0 = time.perf_counter()
        out = generate(prompt, n)
        dt = time.perf_counter() - t0
        cpu = mon.stop()
        new = np.asarray(out)[:, args.prompt_len:]
        results.append(dict(batch=b, new_tokens=int(new.shape[1]), seconds=dt, tokens_per_s=new.size / dt,
                            ms_per_step=1e3 * dt / max(1, new.shape[1]), tokens=new.tolist(), **cpu))
        print(f"{args.impl} batch {b} new {n}: {new.size / dt:.1f} tok/s ({1e3 * dt / n:.1f} ms/step), "
              f"others {cpu['others_cores']:.2f} cores")
        sys.stdout.flush()
    res = dict(impl=args.impl, version=version, load_s=load_s, prompt_len=args.prompt_len, cases=results,
               peak_rss_mib=peak_rss_mib(), others_cores=max(r["others_cores"] for r in results))
    if args.json_out:
        write_json(args.json_out, res)


def save_random_gpt2(folder: Path) -> None:
    """gpt2-124M with random weights (seed 0), in Hugging Face format, written by a subprocess."""
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); from tinygrad_gpt.config import GPTConfig; "
            "from tinygrad_gpt.model import GPT; "
            f"GPT(GPTConfig.from_preset('gpt2', dropout=0.0), seed=0).save_pretrained({str(folder)!r})")
    subprocess.run([sys.executable, "-c", code], check=True)


def vs_hf_main(args) -> None:
    info = machine_info()
    new_tokens = (16,) if args.quick else HF_NEW_TOKENS
    rounds = 1 if args.quick else args.rounds
    print(f"{datetime.datetime.now().isoformat(timespec='seconds')}  {info['cpu']}, {info['cores']} cores, "
          f"python {info['python']}, numpy {info['numpy']}, {info['blas']}, commit {info['commit']}")
    print(f"gpt2 (124M, random weights) vs transformers GPT2LMHeadModel, greedy, use_cache=True, prompt "
          f"{args.prompt_len}, batches {HF_BATCHES}, new tokens {new_tokens}, {rounds} round(s)")
    sys.stdout.flush()
    runs: dict[str, list[dict]] = {"ours": [], "hf": []}
    with tempfile.TemporaryDirectory() as tmp:
        save_random_gpt2(Path(tmp))
        for _ in range(rounds):
            for impl in runs:
                cmd = [sys.executable, str(Path(__file__).resolve()), "--hf-worker", "--impl", impl, "--weights", tmp,
                       "--prompt_len", str(args.prompt_len), "--hf-new-tokens", ",".join(map(str, new_tokens))]
                res = run_measured(cmd, args.verbose, args.quiet_wait, args.retries)
                runs[impl].append(res)
                print("  " + impl + ": " + "  ".join(f"b{c['batch']}/n{c['new_tokens']} {c['tokens_per_s']:.1f} tok/s"
                                                     for c in res["cases"])
                      + f"  RSS {res['peak_rss_mib']:.0f} MiB  others {res['others_cores']:.2f}{contended_mark(res)}")
                sys.stdout.flush()
    table = []
    print("batch  new  ours tok/s  HF tok/s  ours/HF  same greedy tokens")
    for i, c in enumerate(runs["ours"][0]["cases"]):
        o = med([r["cases"][i]["tokens_per_s"] for r in runs["ours"]])
        h = med([r["cases"][i]["tokens_per_s"] for r in runs["hf"]])
        a, b = np.asarray(runs["ours"][0]["cases"][i]["tokens"]), np.asarray(runs["hf"][0]["cases"][i]["tokens"])
        same = float((a == b).mean())
        table.append(dict(batch=c["batch"], new_tokens=c["new_tokens"], ours_tokens_per_s=o, hf_tokens_per_s=h,
                          ratio=o / h, same_token_fraction=same))
        print(f"{c['batch']:5d}  {c['new_tokens']:3d}  {o:10.1f}  {h:8.1f}  {o / h:6.2f}x  {100 * same:.0f}%")
    for rs in runs.values():
        for r in rs:
            for c in r["cases"]:
                c.pop("tokens")
    if args.json:
        append_json(args.json, dict(date=datetime.datetime.now().isoformat(timespec="seconds"), machine=info,
                                    mode="vs-hf", prompt_len=args.prompt_len, rounds=rounds, runs=runs, table=table,
                                    peak_rss_mib={k: med([r["peak_rss_mib"] for r in v]) for k, v in runs.items()}))


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
    ap.add_argument("--vs-hf", action="store_true", help="gpt2 generate against transformers on the same weights")
    ap.add_argument("--quick", action="store_true", help="with --vs-hf: 16 new tokens, 1 round")
    ap.add_argument("--hf-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--impl", choices=["ours", "hf"], default="ours", help=argparse.SUPPRESS)
    ap.add_argument("--weights", default="", help=argparse.SUPPRESS)
    ap.add_argument("--hf-new-tokens", default="64,256", help=argparse.SUPPRESS)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--preset", default="baby", help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=["cache", "nocache"], default="cache", help=argparse.SUPPRESS)
    ap.add_argument("--json-out", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.hf_worker:
        args.hf_new_tokens = tuple(int(x) for x in args.hf_new_tokens.split(","))
        return hf_worker(args)
    if args.vs_hf:
        return vs_hf_main(args)

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
