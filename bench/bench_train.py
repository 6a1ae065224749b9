#!/usr/bin/env python3
"""Time our GPT training step on the CPU, optionally against PyTorch (bench/torch_train.py).

One step = a batch, forward with the loss, backward, gradient clipping at 1.0, AdamW(lr 1e-3,
betas (0.9, 0.99), weight decay 0.1 on 2-D weights) and zero_grad, on the char-level model of
../shared/bench/torch_ref.py (learned positions, tied head, GPT-2 init, dropout 0, biases):

    S: n_layer 4, n_head 4, n_embd 128, block 64, batch 12   (4.005 GFLOP/iter)
    M: n_layer 6, n_head 6, n_embd 384, block 256, batch 8   (145.7 GFLOP/iter)

Our program calls ``engine.tune_cpu()`` first, as the training CLI does. Each measured program runs
in its own subprocess, so its peak RSS (VmHWM) is its own. With
--vs-torch the two programs alternate (ours, torch, ours, torch, ...) for --rounds rounds and the
medians and the ours/torch ratios of tokens/s and peak RSS are printed. FLOPs per iteration are
(6N + 12·L·C·T)·B·T with N the parameters without the position embedding; MFU is against a float32
2048³ NumPy matmul measured by this script before and after the runs (the better of the two).

    python bench/bench_train.py --config S --vs-torch
    python bench/bench_train.py --config M --vs-torch --iters 10 --warmup 2

--user-script (issue 21) times the step as a user's script runs it instead (bench/user_train.py:
NumPy imported first, public API, engine.tune_cpu() the only setup) against a minimal torch loop of
the same model, and runs ../shared/bench/torch_ref.py in the same rounds: the torch loop's median
must be within 3% of torch_ref's, or the comparison is not trusted. Medians and fastest iterations
are both reported. --tune-variants none,malloc,blas adds our step without tune_cpu or with one part.

    python bench/bench_train.py --config S --user-script --rounds 5
    python bench/bench_train.py --config S --user-script --tune-variants none,malloc,blas
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
from pathlib import Path

from _common import (
    BENCH_DIR,
    CONFIGS,
    GRAD_CLIP,
    PHASES,
    VOCAB,
    add_repo_to_path,
    append_json,
    batch_source,
    contended_mark,
    finish_result,
    flops_per_iter,
    machine_info,
    matmul_peak_subprocess,
    med,
    ours_model,
    peak_rss_mib,
    print_result,
    run_measured,
    time_training,
    wait_for_quiet,
    write_json,
)
from check_torch_ref import default_torch_ref


def ours_worker(args, iters: int, warmup: int) -> None:
    """The measured program for our engine (runs in a subprocess of the driver)."""
    add_repo_to_path()
    import engine
    import nn

    engine.tune_cpu()  # as the training CLI does (train.setup); without it M ran 25% slower (session 9)
    rss_import = peak_rss_mib()
    cfg = CONFIGS[args.config]
    L, H, C, T, B = (cfg[k] for k in ("n_layer", "n_head", "n_embd", "block_size", "batch_size"))
    get_batch, data_desc = batch_source(T, B, args.random_data)
    model, opt = ours_model(args.config)
    params = model.parameters()
    n_params = model.num_parameters()
    n_nopos = model.num_parameters(exclude=("transformer.wpe.weight",))
    flops = flops_per_iter(n_nopos, L, C, T, B)
    if abs(model.estimate_flops_per_token() * B * T - flops) > 1:
        print(f"note: model.estimate_flops_per_token() gives {model.estimate_flops_per_token() * B * T:.0f} "
              f"FLOP/iter, the benchmark formula {flops}")
    rss_setup = peak_rss_mib()
    print(f"ours  config {args.config} L={L} H={H} C={C} T={T} B={B}  params {n_params} (excl. wpe {n_nopos})  "
          f"{flops / 1e9:.4f} GFLOP/iter  data: {data_desc}")
    sys.stdout.flush()

    def step():
        opt.step()
        opt.zero_grad()

    def measure():
        return time_training(
            get_batch,
            forward=lambda x, y: model(x, y)[1],
            backward=lambda loss: loss.backward(),
            clip=lambda: nn.optim.clip_grad_norm_(params, GRAD_CLIP),
            step=step,
            loss_value=lambda loss: loss.item(),
            iters=iters, warmup=warmup)

    if args.profile:  # the profiler's overhead inflates the timings: use for shares, not speed
        import cProfile
        import pstats

        prof = cProfile.Profile()
        res = prof.runcall(measure)
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.profile)
    else:
        res = measure()
    res.update(impl="ours", config=args.config, iters=iters, warmup=warmup, data=data_desc, n_params=n_params,
               n_params_nopos=n_nopos, rss_after_import_mib=rss_import, rss_after_setup_mib=rss_setup)
    finish_result(res, B * T, flops)
    print_result(res, args.peak_gflops)
    if args.json_out:
        write_json(args.json_out, res)


def summarize(name: str, runs: list[dict], peak: float) -> dict:
    nan = math.nan  # torch_ref.py reports neither its fastest iteration nor its RSS after imports
    s = dict(runs=len(runs), contended=sum(r["others_cores"] > 0.05 for r in runs),
             ms_per_iter=med([r["ms_median"]["total"] for r in runs]),
             ms_per_iter_min=min(r.get("ms_total_min", nan) for r in runs),
             tokens_per_s=med([r["tokens_per_s"] for r in runs]),
             gflops=med([r["gflops"] for r in runs]),
             peak_rss_mib=med([r["peak_rss_mib"] for r in runs]),
             rss_after_import_mib=med([r.get("rss_after_import_mib", nan) for r in runs]),
             rss_after_setup_mib=med([r.get("rss_after_setup_mib", nan) for r in runs]),
             others_cores=med([r["others_cores"] for r in runs]),
             phases_ms={k: med([r["ms_median"][k] for r in runs]) for k in PHASES})
    s["mfu"] = s["gflops"] / peak if peak > 0 else float("nan")
    tot = s["phases_ms"]["total"]
    mfu = f"{100 * s['mfu']:.1f}%" if peak > 0 else "n/a"
    print(f"{name}: {len(runs)} run(s), medians: {s['ms_per_iter']:.2f} ms/iter  {s['tokens_per_s']:.0f} tokens/s  "
          f"{s['gflops']:.2f} GFLOP/s  MFU {mfu}  peak RSS {s['peak_rss_mib']:.0f} MiB "
          f"(imports {s['rss_after_import_mib']:.0f}, after setup {s['rss_after_setup_mib']:.0f})  "
          f"others {s['others_cores']:.2f} cores, {s['contended']} contended; "
          f"fastest iter {s['ms_per_iter_min']:.2f} ms")
    print("  phases ms (share): " + "  ".join(
        f"{k} {s['phases_ms'][k]:.2f} ({100 * s['phases_ms'][k] / tot:.0f}%)" for k in PHASES if k != "total"))
    return s


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="S")
    ap.add_argument("--iters", type=int, default=0, help="timed iterations per run (0: S 100, M 20)")
    ap.add_argument("--warmup", type=int, default=-1, help="untimed iterations first (-1: S 10, M 3)")
    ap.add_argument("--vs-torch", action="store_true", help="alternate with bench/torch_train.py, print ratios")
    ap.add_argument("--user-script", action="store_true",
                    help="bench/user_train.py (ours and a minimal torch loop) and torch_ref.py, alternating")
    ap.add_argument("--tune-variants", default="", help="with --user-script: also ours with --tune none/malloc/blas")
    ap.add_argument("--torch-ref", default=str(default_torch_ref()))
    ap.add_argument("--rounds", type=int, default=0, help="runs of each program (0: 3 with --vs-torch, else 1)")
    ap.add_argument("--torch-python", default=sys.executable, help="python that has torch==2.13.0")
    ap.add_argument("--random-data", action="store_true",
                    help=f"uniform random ids in [0, {VOCAB}) instead of the corpus")
    ap.add_argument("--quiet-wait", type=float, default=60.0,
                    help="before each run, wait up to this many seconds for other processes to use < 0.25 cores")
    ap.add_argument("--retries", type=int, default=0, help="rerun a CONTENDED run up to this many times")
    ap.add_argument("--no-peak", action="store_true", help="skip the matmul peak (no MFU)")
    ap.add_argument("--json", default="", help="append the summary as one JSON line to this file")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="cProfile our step and print the N functions with most own time (implies -v)")
    ap.add_argument("-v", "--verbose", action="store_true", help="show each run's own report")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--peak-gflops", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--json-out", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    cfg = CONFIGS[args.config]
    iters = args.iters or cfg["iters"]
    warmup = cfg["warmup"] if args.warmup < 0 else args.warmup
    if args.worker:
        return ours_worker(args, iters, warmup)

    if args.user_script:
        return user_script_main(args, iters, warmup)
    rounds = args.rounds or (3 if args.vs_torch else 1)
    info = machine_info()
    print(f"{datetime.datetime.now().isoformat(timespec='seconds')}  {info['cpu']}, {info['cores']} cores, "
          f"python {info['python']}, numpy {info['numpy']}, {info['blas']}, {info['cpu_kernels']}, "
          f"commit {info['commit']}")
    print(f"config {args.config}: {', '.join(f'{k} {v}' for k, v in cfg.items() if k not in ('iters', 'warmup'))}; "
          f"{iters} timed iters after {warmup} warm-up, {rounds} round(s)"
          + ("; random data" if args.random_data else ""))
    peaks = [] if args.no_peak else [matmul_peak_subprocess()]
    if peaks:
        print(f"float32 2048^3 NumPy matmul: {peaks[0]:.1f} GFLOP/s")
    sys.stdout.flush()

    common = ["--config", args.config, "--iters", str(iters), "--warmup", str(warmup)]
    common += ["--random-data"] if args.random_data else []
    programs = {"ours": [sys.executable, str(Path(__file__).resolve()), "--worker", *common,
                         *(["--profile", str(args.profile)] if args.profile else [])]}
    args.verbose = args.verbose or bool(args.profile)
    if args.vs_torch:
        programs["torch"] = [args.torch_python, str(BENCH_DIR / "torch_train.py"), *common]
    runs: dict[str, list[dict]] = {k: [] for k in programs}
    for r in range(rounds):
        for name, cmd in programs.items():
            res = run_measured(cmd, args.verbose, args.quiet_wait, args.retries)
            runs[name].append(res)
            print(f"  round {r + 1} {name:5s} {res['ms_median']['total']:9.2f} ms/iter "
                  f"{res['tokens_per_s']:8.0f} tok/s "
                  f"{res['gflops']:7.2f} GFLOP/s  RSS {res['peak_rss_mib']:6.0f} MiB  loss {res['last_loss']:.3f}  "
                  f"others {res['others_cores']:.2f} cores{contended_mark(res)}")
            sys.stdout.flush()
    if not args.no_peak:
        peaks.append(matmul_peak_subprocess())
        print(f"float32 2048^3 NumPy matmul after the runs: {peaks[-1]:.1f} GFLOP/s; MFU uses {max(peaks):.1f}")
    peak = max(peaks) if peaks else 0.0

    summary = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), machine=info, config=args.config,
                   iters=iters, warmup=warmup, rounds=rounds, random_data=args.random_data, peak_gflops=peak,
                   peaks=peaks, runs=runs)
    summary["ours"] = summarize("ours", runs["ours"], peak)
    if args.vs_torch:
        summary["torch"] = summarize("torch", runs["torch"], peak)
        o, t = summary["ours"], summary["torch"]
        paired = med([a["tokens_per_s"] / b["tokens_per_s"] for a, b in zip(runs["ours"], runs["torch"])])
        ratios = dict(tokens_per_s=o["tokens_per_s"] / t["tokens_per_s"], tokens_per_s_paired=paired,
                      fastest_iter=t["ms_per_iter_min"] / o["ms_per_iter_min"],
                      peak_rss=o["peak_rss_mib"] / t["peak_rss_mib"],
                      phases={k: o["phases_ms"][k] / t["phases_ms"][k] for k in PHASES})
        summary["ratios"] = ratios
        print(f"ours/torch: tokens/s {ratios['tokens_per_s']:.3f} (median of per-round ratios {paired:.3f}), "
              f"fastest iterations {ratios['fastest_iter']:.3f}; peak RSS {ratios['peak_rss']:.2f}")
        print("  time ratio by phase: " + "  ".join(f"{k} {v:.1f}x" for k, v in ratios["phases"].items()))
    if args.json:
        append_json(args.json, summary)


TORCH_REF_TOLERANCE = 0.03  # the minimal torch loop's median against torch_ref.py's, same run


def user_script_main(args, iters: int, warmup: int) -> None:
    """--user-script: ours, the minimal torch loop and torch_ref.py, each in its own process, alternating."""
    from check_torch_ref import corpus_file, run_torch_ref


    rounds = args.rounds or 3
    info = machine_info()
    print(f"{datetime.datetime.now().isoformat(timespec='seconds')}  {info['cpu']}, {info['cores']} cores, "
          f"python {info['python']}, numpy {info['numpy']}, {info['blas']}, {info['cpu_kernels']}, "
          f"commit {info['commit']}")
    cfg = CONFIGS[args.config]
    print(f"user-script mode, config {args.config}: {iters} timed iters after {warmup} warm-up, {rounds} round(s)")
    peaks = [] if args.no_peak else [matmul_peak_subprocess()]
    common = ["--config", args.config, "--iters", str(iters), "--warmup", str(warmup)]
    script = str(BENCH_DIR / "user_train.py")
    programs: dict[str, list[str] | None] = {"ours": [sys.executable, script, "--impl", "ours", *common]}
    for v in filter(None, args.tune_variants.split(",")):
        programs[f"ours-tune-{v}"] = [sys.executable, script, "--impl", "ours", "--tune", v, *common]
    programs["torch"] = [args.torch_python, script, "--impl", "torch", *common]
    ref = Path(args.torch_ref)
    data = None
    if ref.is_file():
        programs["torch_ref"], data = None, corpus_file()
    else:
        print(f"note: {ref} not found: no torch_ref check (pass --torch-ref)")
    runs: dict[str, list[dict]] = {k: [] for k in programs}
    for r in range(rounds):
        for name, cmd in programs.items():
            if cmd is None:
                if args.quiet_wait > 0:
                    wait_for_quiet(args.quiet_wait)
                res = run_torch_ref(args.torch_python, ref, data, cfg, iters, warmup)
                res.setdefault("ms_total_min", math.nan)
            else:
                res = run_measured(cmd, args.verbose, args.quiet_wait, args.retries)
            runs[name].append(res)
            print(f"  round {r + 1} {name:16s} median {res['ms_median']['total']:9.2f} ms/iter  fastest "
                  f"{res['ms_total_min']:9.2f}  {res['tokens_per_s']:8.0f} tok/s  RSS {res['peak_rss_mib']:6.0f} MiB  "
                  f"others {res['others_cores']:.2f} cores{contended_mark(res)}")
            sys.stdout.flush()
    if not args.no_peak:
        peaks.append(matmul_peak_subprocess())
        print(f"float32 2048^3 NumPy matmul before/after: {peaks[0]:.1f} / {peaks[-1]:.1f} GFLOP/s")
    peak = max(peaks) if peaks else 0.0
    summary = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), machine=info, mode="user-script",
                   config=args.config, iters=iters, warmup=warmup, rounds=rounds, peak_gflops=peak, peaks=peaks,
                   runs=runs)
    for name in programs:
        summary[name] = summarize(name, runs[name], peak)
    o, t = summary["ours"], summary["torch"]
    ratios = dict(tokens_per_s=o["tokens_per_s"] / t["tokens_per_s"],
                  tokens_per_s_paired=med([a["tokens_per_s"] / b["tokens_per_s"]
                                           for a, b in zip(runs["ours"], runs["torch"])]),
                  fastest_iter=t["ms_per_iter_min"] / o["ms_per_iter_min"],
                  peak_rss=o["peak_rss_mib"] / t["peak_rss_mib"])
    print(f"ours/torch (user script): tokens/s by medians {ratios['tokens_per_s']:.3f} (median of per-round ratios "
          f"{ratios['tokens_per_s_paired']:.3f}), by fastest iterations {ratios['fastest_iter']:.3f}; "
          f"peak RSS {ratios['peak_rss']:.2f}" + (f"; ours at {100 * o['mfu']:.1f}% of the sgemm peak" if peak else ""))
    if "torch_ref" in summary:
        tr = t["ms_per_iter"] / summary["torch_ref"]["ms_per_iter"]
        ok = abs(tr - 1) <= TORCH_REF_TOLERANCE
        ratios["torch_vs_torch_ref_ms"] = tr
        print(f"torch loop / torch_ref.py median ms/iter: {tr:.3f} ({'within' if ok else 'OUTSIDE'} "
              f"{100 * TORCH_REF_TOLERANCE:.0f}%{'' if ok else ': the torch side is not trusted in this run'})")
    for name in programs:
        if name.startswith("ours-tune-"):
            v = summary[name]
            print(f"  {name}/ours median ms/iter {v['ms_per_iter'] / o['ms_per_iter']:.3f}, "
                  f"fastest {v['ms_per_iter_min'] / o['ms_per_iter_min']:.3f}")
    summary["ratios"] = ratios
    if args.json:
        append_json(args.json, summary)


if __name__ == "__main__":
    main()
