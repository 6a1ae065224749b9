#!/usr/bin/env python3
"""Time a training step of a small ResNet-style CNN, ours against PyTorch eager, on the CPU.

The model (same shapes on both sides, same initial weights, no conv biases):

    x (64, 3, 32, 32) -> [conv3x3 16 + BN + ReLU] -> [conv3x3 32 + BN + ReLU] -> max_pool 2
      -> [conv3x3 64 + BN + ReLU] -> max_pool 2 -> [conv3x3 128 + BN + ReLU]
      -> adaptive_avg_pool 1 -> linear 10 -> cross-entropy

One step = forward with the loss, backward, plain SGD (lr 0.01) and zeroing the gradients.
Batch-norm uses the batch statistics and updates running statistics (training mode): ours is
F.batch_norm (one fused op, engine/ops/norm.py), torch's is nn.BatchNorm2d. Each measured program runs in its own
subprocess (its own peak RSS), ours and torch alternate for --rounds rounds, and the medians and
ours/torch ratios (images/s, peak RSS) are printed. ``--conv`` instead times conv2d forward +
backward alone at three shapes.

    python bench/bench_cnn.py                 # the CNN step, 3 rounds
    python bench/bench_cnn.py --conv          # conv2d alone
    python bench/bench_cnn.py --json bench/results/cnn.jsonl
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import numpy as np
from _common import (
    CpuMonitor,
    add_repo_to_path,
    append_json,
    machine_info,
    med,
    peak_rss_mib,
    run_measured,
    write_json,
)

BATCH, CLASSES, LR = 64, 10, 0.01
WIDTHS = (3, 16, 32, 64, 128)
POOL_AFTER = (1, 2)  # max_pool 2 after these blocks (0-based)
CONV_SHAPES = [  # (N, C, H, W), (O, C, k, k), stride, padding
    ((64, 16, 32, 32), (32, 16, 3, 3), 1, 1),
    ((64, 64, 16, 16), (64, 64, 3, 3), 1, 1),
    ((64, 128, 16, 16), (128, 128, 3, 3), 2, 1),
]


def init_params(seed: int = 0) -> dict[str, np.ndarray]:
    """Kaiming-normal conv weights, unit BN scales, zero shifts, a small linear head (float32)."""
    rng = np.random.default_rng(seed)
    p = {}
    for i, (cin, cout) in enumerate(zip(WIDTHS, WIDTHS[1:])):
        p[f"conv{i}"] = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (9 * cin))).astype(np.float32)
        p[f"bn{i}.weight"] = np.ones(cout, np.float32)
        p[f"bn{i}.bias"] = np.zeros(cout, np.float32)
    p["fc.weight"] = (rng.standard_normal((CLASSES, WIDTHS[-1])) * 0.05).astype(np.float32)
    p["fc.bias"] = np.zeros(CLASSES, np.float32)
    return p


def batches(n: int = 4, seed: int = 1):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((BATCH, 3, 32, 32)).astype(np.float32),
             rng.integers(0, CLASSES, BATCH).astype(np.int64)) for _ in range(n)]


# ---- the measured programs -------------------------------------------------------------------------


def ours_program():
    """(step(x, y) -> loss, describe) for our engine."""
    add_repo_to_path()
    import engine
    import engine.functional as F
    from engine import Tensor

    engine.tune_cpu()  # as a training program does: malloc keeps freed arrays (no page faults per step)
    params = {k: Tensor(v, requires_grad=True) for k, v in init_params().items()}
    running = {i: (Tensor(np.zeros(c, np.float32)), Tensor(np.ones(c, np.float32))) for i, c in enumerate(WIDTHS[1:])}

    def forward(x, y):
        h = Tensor(x)
        for i in range(len(WIDTHS) - 1):
            h = F.conv2d(h, params[f"conv{i}"], padding=1)
            h = F.relu(F.batch_norm(h, *running[i], params[f"bn{i}.weight"], params[f"bn{i}.bias"], training=True))
            if i in POOL_AFTER:
                h = F.max_pool2d(h, 2)
        h = F.adaptive_avg_pool2d(h, 1).reshape(BATCH, -1)
        return F.cross_entropy(F.linear(h, params["fc.weight"], params["fc.bias"]), y)

    def step(x, y):
        loss = forward(x, y)
        loss.backward()
        with engine.no_grad():
            for p in params.values():
                p.data -= LR * p.grad.data
                p.grad = None
        return loss.item()

    return step, f"engine threads {engine.get_num_threads()}"


def torch_program():
    import torch

    tnn = torch.nn
    torch.manual_seed(0)
    init = init_params()
    layers = []
    for i, (cin, cout) in enumerate(zip(WIDTHS, WIDTHS[1:])):
        conv = tnn.Conv2d(cin, cout, 3, padding=1, bias=False)
        bn = tnn.BatchNorm2d(cout)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(init[f"conv{i}"]))
        layers += [conv, bn, tnn.ReLU()]
        if i in POOL_AFTER:
            layers.append(tnn.MaxPool2d(2))
    fc = tnn.Linear(WIDTHS[-1], CLASSES)
    with torch.no_grad():
        fc.weight.copy_(torch.from_numpy(init["fc.weight"]))
        fc.bias.zero_()
    model = tnn.Sequential(*layers, tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), fc).train()
    opt = torch.optim.SGD(model.parameters(), lr=LR)

    def step(x, y):
        loss = tnn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    return step, f"torch {torch.__version__} threads {torch.get_num_threads()}"


def conv_program(impl: str, shape_index: int):
    """step() = conv2d forward + backward (input and weight gradients) at one CONV_SHAPES entry."""
    xs, ws, stride, padding = CONV_SHAPES[shape_index]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) * 0.1).astype(np.float32)
    if impl == "ours":
        add_repo_to_path()
        import engine.functional as F
        from engine import Tensor

        tx, tw = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        g = None

        def step(*_):
            nonlocal g
            tx.grad = tw.grad = None
            out = F.conv2d(tx, tw, stride=stride, padding=padding)
            g = g if g is not None else np.ones(out.shape, np.float32)
            out.backward(g)
            return 0.0

        return step, "ours"
    import torch

    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)

    def tstep(*_):
        tx.grad = tw.grad = None
        out = torch.nn.functional.conv2d(tx, tw, stride=stride, padding=padding)
        out.backward(torch.ones_like(out))
        return 0.0

    return tstep, f"torch threads {torch.get_num_threads()}"


def worker(args) -> None:
    rss_import = peak_rss_mib()
    if args.conv_shape >= 0:
        step, desc = conv_program(args.impl, args.conv_shape)
    else:
        step, desc = ours_program() if args.impl == "ours" else torch_program()
    data = batches()
    for i in range(args.warmup):
        step(*data[i % len(data)])
    times, loss = [], float("nan")
    mon = CpuMonitor().start()
    for i in range(args.iters):
        t0 = time.perf_counter()
        loss = step(*data[i % len(data)])
        times.append((time.perf_counter() - t0) * 1e3)
    res = mon.stop()
    res.update(impl=args.impl, desc=desc, ms_median=med(times), ms_min=min(times),
               images_per_s=BATCH * 1e3 / med(times), peak_rss_mib=peak_rss_mib(), rss_after_import_mib=rss_import,
               last_loss=loss, iters=args.iters, warmup=args.warmup, conv_shape=args.conv_shape)
    write_json(args.json_out, res)


# ---- the driver --------------------------------------------------------------------------------------


def compare(args, label: str, extra: list[str]) -> dict:
    """Alternate ours and torch for ``args.rounds`` rounds; print and return the medians and ratios."""
    me = str(Path(__file__).resolve())
    common = ["--worker", "--iters", str(args.iters), "--warmup", str(args.warmup), *extra]
    runs = {"ours": [], "torch": []}
    for r in range(args.rounds):
        for impl in ("ours", "torch"):
            res = run_measured([sys.executable, me, *common, "--impl", impl], False, args.quiet_wait, args.retries)
            runs[impl].append(res)
            print(f"  {label} round {r + 1} {impl:5s} {res['ms_median']:8.2f} ms/step (fastest {res['ms_min']:.2f})"
                  f"  {res['images_per_s']:7.1f} img/s"
                  f"  RSS {res['peak_rss_mib']:6.0f} MiB  others {res['others_cores']:.2f} cores  ({res['desc']})")
            sys.stdout.flush()
    keys = ("ms_median", "ms_min", "images_per_s", "peak_rss_mib", "others_cores")
    o = {k: med([r[k] for r in runs["ours"]]) for k in keys}
    t = {k: med([r[k] for r in runs["torch"]]) for k in keys}
    best = {impl: min(r["ms_min"] for r in runs[impl]) for impl in runs}  # the least disturbed step of all rounds
    ratios = dict(images_per_s=o["images_per_s"] / t["images_per_s"],
                  images_per_s_paired=med([a["images_per_s"] / b["images_per_s"]
                                           for a, b in zip(runs["ours"], runs["torch"])]),
                  images_per_s_fastest=best["torch"] / best["ours"],
                  peak_rss=o["peak_rss_mib"] / t["peak_rss_mib"])
    print(f"{label}: ours {o['ms_median']:.2f} ms, torch {t['ms_median']:.2f} ms; ours/torch images/s "
          f"{ratios['images_per_s']:.3f} (paired {ratios['images_per_s_paired']:.3f}, fastest steps "
          f"{best['ours']:.2f} vs {best['torch']:.2f} ms: {ratios['images_per_s_fastest']:.3f}), peak RSS "
          f"{o['peak_rss_mib']:.0f} vs {t['peak_rss_mib']:.0f} MiB ({ratios['peak_rss']:.2f}); others used "
          f"{o['others_cores']:.2f} / {t['others_cores']:.2f} cores")
    return dict(label=label, ours=o, torch=t, ratios=ratios, runs=runs)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=20, help="timed steps per run")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each program, alternating")
    ap.add_argument("--conv", action="store_true", help="time conv2d forward+backward alone at three shapes")
    ap.add_argument("--quiet-wait", type=float, default=30.0,
                    help="before each run, wait up to this many seconds for other processes to use < 0.25 cores")
    ap.add_argument("--retries", type=int, default=0, help="rerun a contended run up to this many times")
    ap.add_argument("--json", default="", help="append the summary as one JSON line to this file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--impl", choices=("ours", "torch"), default="ours", help=argparse.SUPPRESS)
    ap.add_argument("--conv-shape", type=int, default=-1, help=argparse.SUPPRESS)
    ap.add_argument("--json-out", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    info = machine_info()
    print(f"{datetime.datetime.now().isoformat(timespec='seconds')}  {info['cpu']}, {info['cores']} cores, "
          f"numpy {info['numpy']}, {info['blas']}, commit {info['commit']}; {args.iters} timed steps after "
          f"{args.warmup} warm-up, {args.rounds} round(s)")
    summary = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), machine=info, iters=args.iters,
                   warmup=args.warmup, rounds=args.rounds, results=[])
    if args.conv:
        for i, (xs, ws, s, p) in enumerate(CONV_SHAPES):
            summary["results"].append(compare(args, f"conv2d x{xs} w{ws} stride {s} pad {p}",
                                              ["--conv-shape", str(i)]))
    else:
        summary["results"].append(compare(args, "cnn step (batch 64, 3x32x32)", []))
    if args.json:
        append_json(args.json, summary)


if __name__ == "__main__":
    main()
