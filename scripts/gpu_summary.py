#!/usr/bin/env python3
"""Write $OUT/summary.md from what scripts/gpu_check.sh left in $OUT (plain Python, no GPU).

    python scripts/gpu_summary.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def tail(path: Path, n: int = 1) -> list[str]:
    if not path.is_file():
        return []
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-n:]


def result_line(path: Path) -> dict | None:
    if not path.is_file():
        return None
    for ln in reversed(path.read_text(errors="replace").splitlines()):
        if ln.startswith("RESULT "):
            return json.loads(ln[7:])
    return None


def pct(x) -> str:
    return f"{100 * x:.1f}%" if isinstance(x, (int, float)) else "-"


def main(out: Path) -> int:
    md = ["# GPU check summary", ""]
    env = out / "env.txt"
    if env.is_file():
        gpu = [ln for ln in env.read_text(errors="replace").splitlines() if ln.startswith(("gpu:", "versions:"))]
        md += [f"- {ln}" for ln in gpu] + [""]
    md += ["## Steps", "", "| step | status | seconds |", "|---|---|---|"]
    for ln in tail(out / "steps.tsv", 100):
        step, status, secs = (ln.split("\t") + ["", ""])[:3]
        md.append(f"| {step} | {status} | {secs} |")
    md += ["", "## GPU tests", ""]
    summary = [ln for ln in tail(out / "pytest_gpu.txt", 400) if " passed" in ln or " failed" in ln
               or " error" in ln or "skipped" in ln or ln.startswith(("FAILED", "ERROR"))]
    md += [f"    {ln}" for ln in summary[-30:]] or ["    (no pytest summary: see pytest_gpu.txt)"]
    md += ["", "## Training step benchmark (bench/bench_gpu.py)", ""]
    recs = []
    bench = out / "bench_gpu.jsonl"
    if bench.is_file():
        recs = [json.loads(ln) for ln in bench.read_text().splitlines() if ln.strip()]
    peak = next((r for r in recs if r.get("run") == "peak"), {})
    if peak.get("device"):
        md.append(f"Device: {peak['device']}; nominal dense peak ({peak.get('nominal_key')}): "
                  f"{peak.get('nominal_dense_tflops')} TFLOP/s")
        meas = {k[:-7]: v for k, v in peak.items() if k.endswith("_tflops")}
        md.append(f"Measured 8192^3 matmul TFLOP/s: {meas}")
        md.append("")
    md += ["| run | ms/step | tokens/s | TFLOP/s | MFU (measured) | MFU (nominal) | peak GiB | timed steps |",
           "|---|---|---|---|---|---|---|---|"]
    for r in recs:
        if r.get("run") == "peak":
            continue
        if "error" in r:
            md.append(f"| {r['run']} | {r['error'][:160]} | | | | | | |")
            continue
        md.append(f"| {r['run']} | {r['median_step_ms']:.1f} | {r['tokens_per_s']:,.0f} | {r['achieved_tflops']:.1f} | "
                  f"{pct(r.get('mfu_vs_measured'))} | {pct(r.get('mfu_vs_nominal'))} | {r.get('peak_mem_gib', '-')} | "
                  f"{r.get('timed_steps')} |")
    by = {r["run"]: r for r in recs if "tokens_per_s" in r}
    for prec in ("tf32", "fp16"):
        a, b = by.get(f"ours-{prec}"), by.get(f"torch-{prec}")
        if a and b:
            md.append(f"\nours/torch {prec}: {a['tokens_per_s'] / b['tokens_per_s']:.3f}x tokens/s, "
                      f"{a.get('peak_mem_gib', 0) / max(b.get('peak_mem_gib') or 1e-9, 1e-9):.2f}x peak memory")
    md += ["", "## Shakespeare-char, fixed wall clock (scripts/gpu_shakespeare.py)", ""]
    res = result_line(out / "shakespeare.log")
    if res:
        md.append(f"{res['iters']} iterations in {res['train_seconds']} s (first step {res['first_step_s']} s), "
                  f"{res['tokens_per_s']:,.0f} tokens/s ({res['tokens_per_s_after_first']:,.0f} after the first step); "
                  f"**val loss {res['val_loss']}**, train loss {res['train_loss']} (means of {res['eval_batches']} "
                  f"batches)")
    else:
        md += [f"    {ln}" for ln in tail(out / "shakespeare.log", 8)] or ["    (no shakespeare.log)"]
    (out / "summary.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "gpu_out")))
