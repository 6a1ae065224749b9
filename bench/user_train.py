#!/usr/bin/env python3
"""A training step timed the way a user's script runs it (issue 21): NumPy imported first, the
model and AdamW built with the public API, nothing set up for the benchmark.

``--impl ours``: ``import numpy`` first, then ``engine``/``tinygrad_gpt``; ``GPT(GPTConfig(...))``,
``model.optimizer(...)`` (AdamW, decay on 2-D weights), ``nn.utils.clip_grad_norm_``, and
``engine.tune_cpu()``, the one documented call a training script makes (``--tune`` picks parts of it,
to measure what each moves). ``--impl torch``: the same model (bench/torch_train.py's ``TorchGPT``,
torch_ref.py's model) in a plain eager loop, 2 threads.

Both read the same batches the same way: the char-level Shakespeare train split loaded into memory
once, random windows from ``np.random.default_rng(1337)``. Per-phase times per iteration with
``perf_counter``; the driver is ``bench_train.py --user-script``, or run it alone:

    python bench/user_train.py --impl ours --config S
    python bench/user_train.py --impl torch --config S
"""

import numpy as np  # noqa: I001  (first, as nearly every user script does: the point of this program)

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # the repository, as an installed package would be
sys.path.insert(1, str(BENCH))  # _common: configs and the contention/RSS measurement only

from _common import (  # noqa: E402
    BETAS,
    CONFIGS,
    EPS,
    GRAD_CLIP,
    LR,
    PHASES,
    SEED,
    VOCAB,
    WEIGHT_DECAY,
    CpuMonitor,
    flops_per_iter,
    peak_rss_mib,
    ru_maxrss_mib,
)


def corpus_ids() -> np.ndarray:
    """The train split's token ids, int64, in memory (what a small user script does)."""
    from tinygrad_gpt.data import prepare

    prep = prepare(None, "char")
    return np.asarray(prep.train.memmap(), dtype=np.int64)


def make_ours(cfg: dict, tune: str):
    import engine
    import nn
    from tinygrad_gpt.config import GPTConfig
    from tinygrad_gpt.model import GPT

    if tune == "all":
        engine.tune_cpu()
    elif tune == "malloc":
        from engine.backend import keep_freed_memory

        keep_freed_memory()
    elif tune == "blas":
        import os

        from engine import parallel

        os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", parallel.OPENBLAS_THREAD_TIMEOUT)
        parallel._restart_openblas_threads()
    model = GPT(GPTConfig(vocab_size=VOCAB, block_size=cfg["block_size"], n_layer=cfg["n_layer"],
                          n_head=cfg["n_head"], n_embd=cfg["n_embd"], dropout=0.0, bias=True,
                          pos_encoding="learned", tie_weights=True), seed=SEED)
    model.train()
    opt = model.optimizer(LR, WEIGHT_DECAY, BETAS, EPS)
    params = model.parameters()
    n_params = model.num_parameters()
    n_nopos = model.num_parameters(exclude=("transformer.wpe.weight",))

    def step():
        opt.step()
        opt.zero_grad()

    fns = (lambda x, y: model(x, y)[1], lambda loss: loss.backward(),
           lambda: nn.utils.clip_grad_norm_(params, GRAD_CLIP), step)
    return fns, n_params, n_nopos, "ours"


def make_torch(cfg: dict):
    import torch
    from torch_train import TorchGPT

    torch.set_num_threads(2)
    torch.manual_seed(SEED)
    model = TorchGPT(VOCAB, cfg["block_size"], cfg["n_layer"], cfg["n_head"], cfg["n_embd"])
    model.train()
    params = list(model.parameters())
    n_params = sum(p.numel() for p in params)
    opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": WEIGHT_DECAY},
                             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                            lr=LR, betas=BETAS, eps=EPS)

    def step():
        opt.step()
        opt.zero_grad(set_to_none=True)

    fns = (lambda x, y: model(torch.from_numpy(x), torch.from_numpy(y))[1], lambda loss: loss.backward(),
           lambda: torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP), step)
    return fns, n_params, n_params - model.wpe.weight.numel(), f"torch {torch.__version__}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impl", choices=["ours", "torch"], default="ours")
    ap.add_argument("--config", choices=sorted(CONFIGS), default="S")
    ap.add_argument("--iters", type=int, default=0, help="timed iterations (0: the config's default)")
    ap.add_argument("--warmup", type=int, default=-1, help="untimed iterations first (-1: the config's default)")
    ap.add_argument("--tune", choices=["all", "none", "malloc", "blas"], default="all",
                    help="ours: engine.tune_cpu() (all), nothing, only its malloc part, only its OpenBLAS part")
    ap.add_argument("--json-out", default="", help="write the result as JSON here")
    args = ap.parse_args(argv)
    cfg = CONFIGS[args.config]
    iters = args.iters or cfg["iters"]
    warmup = cfg["warmup"] if args.warmup < 0 else args.warmup
    L, C, T, B = cfg["n_layer"], cfg["n_embd"], cfg["block_size"], cfg["batch_size"]

    ids = corpus_ids()
    rss_import = peak_rss_mib()
    if args.impl == "ours":
        (forward, backward, clip, step), n_params, n_nopos, impl = make_ours(cfg, args.tune)
    else:
        (forward, backward, clip, step), n_params, n_nopos, impl = make_torch(cfg)
    rss_setup = peak_rss_mib()
    flops = flops_per_iter(n_nopos, L, C, T, B)
    rng = np.random.default_rng(SEED)
    offsets = np.arange(T + 1)

    phases = {k: [] for k in PHASES}
    mon, loss_value = None, math.nan
    for it in range(warmup + iters):
        if it == warmup:
            mon = CpuMonitor().start()
        t0 = time.perf_counter()
        w = ids[rng.integers(0, len(ids) - T - 1, size=B)[:, None] + offsets]
        x, y = np.ascontiguousarray(w[:, :-1]), np.ascontiguousarray(w[:, 1:])
        t1 = time.perf_counter()
        loss = forward(x, y)
        t2 = time.perf_counter()
        backward(loss)
        t3 = time.perf_counter()
        clip()
        t4 = time.perf_counter()
        step()
        t5 = time.perf_counter()
        loss_value = loss.item()
        if it >= warmup:
            for k, a, b in (("data", t0, t1), ("forward", t1, t2), ("backward", t2, t3), ("clip", t3, t4),
                            ("step", t4, t5), ("total", t0, t5)):
                phases[k].append((b - a) * 1e3)
    cpu = mon.stop() if mon else {}
    tot = sorted(phases["total"])
    ms = statistics.median(tot)
    res = dict(impl=impl, mode="user-script", tune=args.tune if args.impl == "ours" else None, config=args.config,
               iters=iters, warmup=warmup, n_params=n_params, n_params_nopos=n_nopos, flops_per_iter=flops,
               tokens_per_iter=B * T, ms_median={k: statistics.median(v) for k, v in phases.items()},
               ms_mean={k: statistics.fmean(v) for k, v in phases.items()}, ms_total_min=tot[0],
               ms_total_p10=tot[int(0.1 * (len(tot) - 1))], ms_total_p90=tot[int(0.9 * (len(tot) - 1))],
               ms_total_max=tot[-1], tokens_per_s=B * T / (ms / 1e3), gflops=flops / (ms / 1e3) / 1e9,
               last_loss=float(loss_value), peak_rss_mib=peak_rss_mib(), ru_maxrss_mib=ru_maxrss_mib(),
               rss_after_import_mib=rss_import, rss_after_setup_mib=rss_setup, **cpu)
    print(f"{impl} (user script, tune {res['tune']}) config {args.config}: median {ms:.2f} ms/iter, fastest "
          f"{tot[0]:.2f}, {res['tokens_per_s']:.0f} tokens/s, peak RSS {res['peak_rss_mib']:.0f} MiB, "
          f"loss {loss_value:.4f}, others {res.get('others_cores', math.nan):.2f} cores")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(res, f)


if __name__ == "__main__":
    main()
