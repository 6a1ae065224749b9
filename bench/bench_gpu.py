#!/usr/bin/env python3
"""GPU training-step benchmark: our GPT (engine on CuPy) against a PyTorch eager twin, one run.

One step = forward with the loss, backward, gradient clipping at 1.0, AdamW (lr 6e-4, betas
(0.9, 0.95), eps 1e-8, weight decay 0.1 on 2-D weights only) and zero_grad, on random token ids
(throughput does not depend on the data). Default model: `gpt2` (124M: 12 layers, 12 heads,
768 wide, block 1024, vocab 50257, tied head, dropout 0) at batch 8.

Runs, in three subprocesses (torch's: peak, torch-tf32, torch-fp16; then ours-tf32; ours-fp16),
so that each allocator, peak memory and OOM is its own (torch resets its peak statistics between
its two runs):

    peak         matmul throughput of the card: torch 8192^3 in fp32, tf32, fp16, bf16
    torch-tf32   PyTorch eager, float32 weights, TF32 matmuls, SDPA attention, AdamW(fused=False)
    torch-fp16   the same under torch.autocast(float16) with a GradScaler
    ours-tf32    tinygrad_gpt.model.GPT on device "gpu", float32, CuPy matmuls with CUPY_TF32=1
    ours-fp16    float16 model + float32 master weights and AdamW, static-then-halving loss scale,
                 loss in float32 (the logits are cast); the engine has no autocast, so this is
                 all-fp16 activations (LayerNorm statistics included), unlike torch's autocast

Each run prints one JSON line: median step ms, tokens/s, MFU against the measured matmul peak of
its precision and against the card's nominal dense peak, and peak GPU memory (torch:
max_memory_allocated; ours: the CuPy memory pool's total bytes, i.e. what it held at most).
An OOM or any other failure becomes {"error": ...} for that run; the others go on.

    python bench/bench_gpu.py --out /tmp/bench_gpu.jsonl --budget 150
    python bench/bench_gpu.py --device cpu --preset baby --batch 2 --budget 120  # smoke test, no GPU

The warmup steps (default 5) are not timed; then up to --iters (default 10) steps are timed,
fewer when a run's share of --budget seconds runs out (the count is in the JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILDREN = {"torch": ("peak", "torch-tf32", "torch-fp16"), "ours-tf32": ("ours-tf32",), "ours-fp16": ("ours-fp16",)}
LR, BETAS, EPS, WEIGHT_DECAY, GRAD_CLIP, SEED = 6e-4, (0.9, 0.95), 1e-8, 0.1, 1.0, 1337

# Nominal dense peaks in TFLOP/s (NVIDIA data sheets; the "with sparsity" figures halved).
NOMINAL = {
    "H100 SXM": {"fp32": 67.0, "tf32": 494.7, "fp16": 989.4, "bf16": 989.4},
    "H100 PCIe": {"fp32": 51.2, "tf32": 378.0, "fp16": 756.0, "bf16": 756.0},
    "H100 NVL": {"fp32": 60.0, "tf32": 417.5, "fp16": 835.5, "bf16": 835.5},
    "H200 SXM": {"fp32": 67.0, "tf32": 494.7, "fp16": 989.4, "bf16": 989.4},
    "H200 NVL": {"fp32": 60.0, "tf32": 417.5, "fp16": 835.5, "bf16": 835.5},
}


def nominal_for(name: str) -> tuple[str, dict] | tuple[None, None]:
    """The data-sheet entry for a device name such as 'NVIDIA H100 80GB HBM3' or 'NVIDIA H200'."""
    n = name.upper()
    for chip in ("H200", "H100"):
        if chip in n:
            kind = "NVL" if "NVL" in n else "PCIe" if "PCIE" in n else "SXM"
            key = f"{chip} {kind}"
            return key, NOMINAL[key]
    return None, None


def flops_per_token(n_params_nopos: int, n_layer: int, n_embd: int, block: int) -> int:
    """6N + 12·L·C·T (nanoGPT / PaLM appendix; matmuls only, full T x T attention counted)."""
    return 6 * n_params_nopos + 12 * n_layer * n_embd * block


def model_shape(args) -> dict:
    sys.path.insert(0, str(REPO))
    from tinygrad_gpt.config import GPTConfig

    cfg = GPTConfig.from_preset(args.preset, dropout=0.0)
    if args.block:
        cfg.block_size = args.block
    return dict(vocab_size=cfg.vocab_size, block_size=cfg.block_size, n_layer=cfg.n_layer, n_head=cfg.n_head,
                n_embd=cfg.n_embd)


def emit(record: dict) -> None:
    print("RESULT " + json.dumps(record), flush=True)


def timed_loop(step, sync, warmup: int, iters: int, deadline: float) -> dict:
    """Run warmup then timed steps until ``iters`` or the deadline; step() returns the loss."""
    warm_ms, ms, losses = [], [], []
    for _ in range(warmup):
        t = time.perf_counter()
        losses.append(step())
        sync()
        warm_ms.append((time.perf_counter() - t) * 1e3)
        if time.perf_counter() > deadline:
            break
    for _ in range(iters):
        if time.perf_counter() + (ms[-1] if ms else warm_ms[-1]) / 1e3 > deadline and ms:
            break
        t = time.perf_counter()
        losses.append(step())
        sync()
        ms.append((time.perf_counter() - t) * 1e3)
    return {"warmup_ms": [round(x, 2) for x in warm_ms], "step_ms": [round(x, 2) for x in ms],
            "losses": [round(float(x), 4) for x in losses]}


def summarize(rec: dict, tokens_per_step: int, fpt: int, peak_tflops: float | None, nominal: float | None) -> dict:
    ms = rec["step_ms"] or rec["warmup_ms"][1:] or rec["warmup_ms"]
    rec["timed_steps"] = len(rec["step_ms"])
    if not rec["step_ms"]:
        rec["note"] = "no timed steps fitted the budget: figures from warmup steps"
    med = statistics.median(ms)
    rec["median_step_ms"] = round(med, 2)
    rec["tokens_per_s"] = round(tokens_per_step / (med / 1e3), 1)
    achieved = fpt * rec["tokens_per_s"] / 1e12
    rec["achieved_tflops"] = round(achieved, 2)
    if peak_tflops:
        rec["mfu_vs_measured"] = round(achieved / peak_tflops, 4)
    if nominal:
        rec["mfu_vs_nominal"] = round(achieved / nominal, 4)
    return rec


# ---- peak ---------------------------------------------------------------------------------------
def run_peak(args) -> dict:
    out: dict = {"run": "peak", "n": args.matmul_n}
    try:
        import torch

        if args.device == "gpu" and torch.cuda.is_available():
            name = torch.cuda.get_device_name(0)
            out["device"] = name
            key, nominal = nominal_for(name)
            out["nominal_key"], out["nominal_dense_tflops"] = key, nominal
            n = args.matmul_n
            for label, dtype, tf32 in (("fp32", torch.float32, False), ("tf32", torch.float32, True),
                                       ("fp16", torch.float16, False), ("bf16", torch.bfloat16, False)):
                torch.backends.cuda.matmul.allow_tf32 = tf32
                a = torch.randn(n, n, device="cuda", dtype=dtype)
                b = torch.randn(n, n, device="cuda", dtype=dtype)
                for _ in range(2):
                    a @ b
                torch.cuda.synchronize()
                reps = 3 if label == "fp32" else 10
                t = time.perf_counter()
                for _ in range(reps):
                    a @ b
                torch.cuda.synchronize()
                out[f"torch_{label}_tflops"] = round(2 * n**3 * reps / (time.perf_counter() - t) / 1e12, 1)
                del a, b
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.cuda.empty_cache()
    except Exception as e:  # torch missing or broken: cupy still measures
        out["torch_error"] = f"{type(e).__name__}: {e}"
    return out


# ---- torch --------------------------------------------------------------------------------------
def torch_model(shape: dict):
    """nanoGPT's GPT, as ../shared/bench/torch_ref.py builds it: bench/torch_train.py's TorchGPT,
    the same model the CPU comparison uses (SDPA attention, tanh GELU, pre-LN, tied head, GPT-2 init)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ itself, for torch_train
    from torch_train import TorchGPT

    return TorchGPT(**shape)


def run_torch(args, mode: str, deadline: float) -> dict:
    import torch

    dev = "cuda" if args.device == "gpu" else "cpu"
    torch.manual_seed(SEED)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    shape = model_shape(args)
    model = torch_model(shape).to(dev)
    params = list(model.parameters())
    n_nopos = sum(p.numel() for p in params) - model.wpe.weight.numel()
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}], lr=LR, betas=BETAS, eps=EPS, fused=False)
    g = torch.Generator().manual_seed(SEED)
    B, T, V = args.batch, shape["block_size"], shape["vocab_size"]
    x = torch.randint(V, (B, T), generator=g).to(dev)
    y = torch.randint(V, (B, T), generator=g).to(dev)
    amp = mode == "fp16"
    scaler = torch.amp.GradScaler(dev, enabled=amp)

    def step():
        with torch.autocast(device_type=dev, dtype=torch.float16, enabled=amp):
            _, loss = model(x, y)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    def sync():
        if dev == "cuda":
            torch.cuda.synchronize()

    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rec = {"run": f"torch-{mode}", "torch": torch.__version__, "n_params_nopos": n_nopos, **shape, "batch": B}
    rec.update(timed_loop(step, sync, args.warmup, args.iters, deadline))
    if dev == "cuda":
        rec["peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        rec["peak_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 2)
        rec["device"] = torch.cuda.get_device_name(0)
    rec["_fpt"] = flops_per_token(n_nopos, shape["n_layer"], shape["n_embd"], T)
    return rec


# ---- ours ---------------------------------------------------------------------------------------
def run_ours(args, mode: str, deadline: float) -> dict:
    if mode == "tf32":
        os.environ["CUPY_TF32"] = "1"  # read by CuPy at its first float32 matmul
    sys.path.insert(0, str(REPO))
    import numpy as np

    import engine
    import engine.functional as F
    import nn
    from engine import Tensor
    from engine.backend import get_xp, to_device
    from tinygrad_gpt.config import GPTConfig
    from tinygrad_gpt.model import GPT

    dev = args.device
    xp = get_xp(dev)
    shape = model_shape(args)
    cfg = GPTConfig(**shape, dropout=0.0)
    engine.manual_seed(SEED)
    t0 = time.perf_counter()
    model = GPT(cfg, seed=SEED)
    n_nopos = model.num_parameters(exclude=("transformer.wpe.weight",))
    B, T, V = args.batch, cfg.block_size, cfg.vocab_size
    rng = np.random.default_rng(SEED)
    x = to_device(rng.integers(0, V, size=(B, T), dtype=np.int64), dev)
    y = to_device(rng.integers(0, V, size=(B, T), dtype=np.int64), dev)
    rec: dict = {"run": f"ours-{mode}", "n_params_nopos": n_nopos, **shape, "batch": B}
    if mode == "tf32":
        model = model.to(dev)
        opt = model.optimizer(LR, WEIGHT_DECAY, betas=BETAS, eps=EPS)

        def step():
            _, loss = model(x, y)
            loss.backward()
            nn.optim.clip_grad_norm_(model.parameters(), GRAD_CLIP)
            opt.step()
            opt.zero_grad()
            return loss.item()
    else:
        master = model.to(dev)  # float32 master weights; AdamW runs on these
        half = GPT(cfg, seed=SEED).astype("float16").to(dev)
        opt = master.optimizer(LR, WEIGHT_DECAY, betas=BETAS, eps=EPS)
        pairs = list(zip(half.parameters(), master.parameters()))
        state = {"scale": 2.0**14, "skipped": 0}

        def step():
            logits = half.lm_head(half.hidden(x))
            logits = logits.astype("float32").reshape(-1, logits.shape[-1])  # the loss in float32, as autocast does
            loss = F.cross_entropy(logits, y.reshape(-1))
            (loss * state["scale"]).backward()
            inv = np.float32(1 / state["scale"])
            for p16, p32 in pairs:
                p32.grad = Tensor(p16.grad._data.astype(xp.float32) * inv)
                p16.grad = None
            norm = nn.optim.clip_grad_norm_(master.parameters(), GRAD_CLIP)
            if math.isfinite(norm):
                opt.step()
                for p16, p32 in pairs:
                    p16._data[...] = p32._data.astype(xp.float16)
            else:
                state["scale"] /= 2
                state["skipped"] += 1
            opt.zero_grad()
            return loss.item()

    rec["setup_s"] = round(time.perf_counter() - t0, 1)

    def sync():
        if dev == "gpu":
            xp.cuda.Device().synchronize()

    rec.update(timed_loop(step, sync, args.warmup, args.iters, deadline))
    if mode == "fp16":
        rec["loss_scale"], rec["skipped_steps"] = state["scale"], state["skipped"]
    if dev == "gpu":
        pool = xp.get_default_memory_pool()
        rec["peak_mem_gib"] = round(pool.total_bytes() / 2**30, 2)
        rec["pool_used_gib"] = round(pool.used_bytes() / 2**30, 2)
        rec["cupy"] = xp.__version__
        n = args.matmul_n
        a = xp.ones((n, n), dtype=xp.float32 if mode == "tf32" else xp.float16)
        a @ a
        sync()
        t = time.perf_counter()
        for _ in range(3):
            a @ a
        sync()
        rec["cupy_matmul_tflops_same_dtype"] = round(2 * n**3 * 3 / (time.perf_counter() - t) / 1e12, 1)
    rec["_fpt"] = flops_per_token(n_nopos, cfg.n_layer, cfg.n_embd, T)
    return rec


# ---- driver -------------------------------------------------------------------------------------
def child(args) -> int:
    """Run the named child's runs, each printing one RESULT line (an error record when it fails)."""
    start = time.perf_counter()
    end = start + args.seconds - 3
    names = CHILDREN[args.run]
    for i, name in enumerate(names):
        t0 = time.perf_counter()
        timed = [n for n in names[i:] if n != "peak"]
        deadline = t0 + (end - t0) / max(1, len(timed))
        try:
            if name == "peak":
                rec = run_peak(args)
            elif name.startswith("torch-"):
                rec = run_torch(args, name.split("-")[1], deadline)
            else:
                rec = run_ours(args, name.split("-")[1], deadline)
        except BaseException as e:  # OOM (cupy's OutOfMemoryError, torch.cuda.OutOfMemoryError) included
            kind = "OOM" if "OutOfMemory" in type(e).__name__ or "out of memory" in str(e).lower() else "error"
            rec = {"run": name, "error": f"{kind}: {type(e).__name__}: {str(e)[:500]}"}
        rec["wall_s"] = round(time.perf_counter() - t0, 1)
        emit(rec)
        if name.startswith("torch-") and args.device == "gpu":
            try:
                import torch

                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            except Exception:  # no CUDA torch: the run already recorded why
                pass
    return 0


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None, help="append one JSON line per run to this file")
    ap.add_argument("--budget", type=float, default=150.0, help="seconds for all runs together")
    ap.add_argument("--children", default=",".join(CHILDREN),
                    help=f"comma-separated subset of {tuple(CHILDREN)}, run in this order")
    ap.add_argument("--device", default="gpu", choices=["gpu", "cpu"], help="cpu: a smoke test of this script")
    ap.add_argument("--preset", default="gpt2")
    ap.add_argument("--block", type=int, default=0, help="override the preset's block size")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--matmul_n", type=int, default=8192)
    ap.add_argument("--run", default=None, help=argparse.SUPPRESS)  # child mode
    ap.add_argument("--seconds", type=float, default=60.0, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    if args.run:
        return child(args)
    children = [c for c in args.children.split(",") if c]
    unknown = set(children) - set(CHILDREN)
    if unknown:
        raise SystemExit(f"unknown children {sorted(unknown)}; choose from {tuple(CHILDREN)}")
    t_end = time.perf_counter() + args.budget
    records, peak = [], {}
    for i, name in enumerate(children):
        left = t_end - time.perf_counter()
        # torch is quick on a GPU (about 30 s with its import); ours gets the rest, 60/40 tf32/fp16
        if name == "torch":
            seconds = min(left, max(30.0, min(50.0, 0.3 * left)))
        else:
            seconds = left * (0.6 if name == "ours-tf32" and "ours-fp16" in children[i:] else 1.0)
        got: list[dict] = []
        if seconds < 10:
            got = [{"run": r, "error": "skipped: the budget was spent"} for r in CHILDREN[name]]
        else:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--run", name, "--seconds", f"{seconds:.1f}",
                   "--device", args.device, "--preset", args.preset, "--block", str(args.block),
                   "--batch", str(args.batch), "--warmup", str(args.warmup), "--iters", str(args.iters),
                   "--matmul_n", str(args.matmul_n)]
            print(f"[bench_gpu] {name}: up to {seconds:.0f} s", flush=True)
            out = ""
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 10, cwd=REPO)
                out, err, why = proc.stdout, proc.stderr, f"exit {proc.returncode}"
            except subprocess.TimeoutExpired as e:
                out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
                err, why = (e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")), "timeout"
            got = [json.loads(ln[7:]) for ln in out.splitlines() if ln.startswith("RESULT ")]
            done = {r["run"] for r in got}
            got += [{"run": r, "error": f"no result ({why} after {seconds:.0f} s budget): {err[-600:]}"}
                    for r in CHILDREN[name] if r not in done]
            if err.strip():
                print(err[-3000:], file=sys.stderr, flush=True)
        for rec in got:
            if rec["run"] == "peak":
                peak = rec
            elif "error" not in rec:
                precision = rec["run"].split("-")[1]
                measured = peak.get(f"torch_{precision}_tflops") or rec.get("cupy_matmul_tflops_same_dtype")
                nominal = (peak.get("nominal_dense_tflops") or {}).get(precision)
                fpt = rec.pop("_fpt")
                rec = summarize(rec, rec["batch"] * rec["block_size"], fpt, measured, nominal)
                rec["peak_tflops_used"] = {"measured": measured, "nominal": nominal}
            rec.pop("_fpt", None)
            records.append(rec)
            print(json.dumps(rec), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(rec) + "\n")
    print_table(records, peak)
    return 0


def print_table(records, peak) -> None:
    print("\n== GPU training step:", peak.get("device", "?"), "==")
    if peak.get("nominal_key"):
        nom = peak["nominal_dense_tflops"]
        print(f"nominal dense peak ({peak['nominal_key']}): " + ", ".join(f"{k} {v} TFLOP/s" for k, v in nom.items()))
    for key in ("H100 SXM", "H200 SXM"):
        print(f"  data sheet {key}: " + ", ".join(f"{k} {v}" for k, v in NOMINAL[key].items()) + " TFLOP/s dense")
    meas = {k: v for k, v in peak.items() if k.endswith("_tflops")}
    if meas:
        print("measured matmul: " + ", ".join(f"{k[:-7]} {v}" for k, v in meas.items()) + " TFLOP/s")
    print(f"{'run':<12}{'ms/step':>10}{'tokens/s':>12}{'TFLOP/s':>9}{'MFU meas':>10}{'MFU nom':>9}"
          f"{'peak GiB':>10}  note")
    for r in records:
        if r["run"] == "peak":
            continue
        if "error" in r:
            print(f"{r['run']:<12}  {r['error'][:100]}")
            continue

        def pct(x):
            return f"{100 * x:.1f}%" if x is not None else "-"

        print(f"{r['run']:<12}{r['median_step_ms']:>10.1f}{r['tokens_per_s']:>12,.0f}{r['achieved_tflops']:>9.1f}"
              f"{pct(r.get('mfu_vs_measured')):>10}{pct(r.get('mfu_vs_nominal')):>9}"
              f"{r.get('peak_mem_gib', float('nan')):>10.2f}  {r['timed_steps']} timed; {r.get('note', '')}")
    ours = {r["run"]: r for r in records if "tokens_per_s" in r}
    for prec in ("tf32", "fp16"):
        a, b = ours.get(f"ours-{prec}"), ours.get(f"torch-{prec}")
        if a and b:
            print(f"ours/torch {prec}: {a['tokens_per_s'] / b['tokens_per_s']:.3f}x tokens/s, "
                  f"{a.get('peak_mem_gib', 0) / max(b.get('peak_mem_gib', 0), 1e-9):.2f}x peak memory")


if __name__ == "__main__":
    sys.exit(main())
