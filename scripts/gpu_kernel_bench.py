#!/usr/bin/env python3
"""Time each fused kernel of engine/kernels/cuda/ against the engine's composed op, on a GPU.

For every case, forward + backward at gpt2's shapes (batch 8, block 1024, width 768, 12 heads,
vocab 50257): the kernel pair (e.g. ``layer_norm`` + ``layer_norm_backward``) against the
engine's composed op run through autograd with the kernels off (``F.layer_norm(x, x.shape[-1:], w, b)`` then
``backward``). Prints one JSON
line per case: milliseconds (CUDA events, median of --reps after 3 warmups), the largest
relative difference of the outputs and gradients, and for attention the CuPy pool's peak bytes.
The kernels are wired into the engine only where this says they pay.

    python scripts/gpu_kernel_bench.py [--dtype float32|float16] [--reps 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import engine.functional as F  # noqa: E402
import engine.kernels as K  # noqa: E402
import engine.kernels.cuda as C  # noqa: E402
from engine import Tensor  # noqa: E402


def _gelu_tanh(x):
    """GPT-2's tanh GELU (F.gelu's default is torch's exact form)."""
    return F.gelu(x, approximate="tanh")


def timed(cp, fn, reps: int) -> float:
    for _ in range(3):
        fn()
    cp.cuda.Device().synchronize()
    ms = []
    for _ in range(reps):
        a, b = cp.cuda.Event(), cp.cuda.Event()
        a.record()
        fn()
        b.record()
        b.synchronize()
        ms.append(cp.cuda.get_elapsed_time(a, b))
    return round(statistics.median(ms), 3)


def rel(cp, a, b) -> float:
    a = cp.asarray(a, dtype=cp.float32)
    b = cp.asarray(b, dtype=cp.float32)
    return float(cp.abs(a - b).max() / (cp.abs(b).max() + 1e-12))


def composed(fn, arrays, g):
    """Forward + backward of fn through the engine, kernels switched off; (out, grads)."""
    old = K.set_enabled(False, "cuda")
    try:
        ts = [Tensor(a, requires_grad=True) for a in arrays]
        y = fn(*ts)
        y.backward(Tensor(g))
        return y._data, [t.grad._data for t in ts]
    finally:
        K.set_enabled(old, "cuda")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--only", default="", help="comma-separated case names")
    args = ap.parse_args(argv)
    import cupy as cp

    dt = np.dtype(args.dtype)
    rng = cp.random.default_rng(0)
    B, T, C_, H, V = 8, 1024, 768, 12, 50257
    N, D = B * T, C_ // H

    def r(*shape, scale=1.0):
        return (rng.standard_normal(shape, dtype=cp.float32) * scale).astype(dt)

    cases = {}
    x, g = r(N, C_), r(N, C_)
    w, b = r(C_) + 1, r(C_)
    cases["layer_norm"] = (
        lambda: (lambda y, m, s: (y, *C.layer_norm_backward(x, w, m, s, g)))(*C.layer_norm(x, w, b)),
        lambda: composed(lambda x_, w_, b_: F.layer_norm(x_, x_.shape[-1:], w_, b_), [x, w, b], g),
    )
    h, gh = r(N, 4 * C_), r(N, 4 * C_)
    cases["gelu"] = (
        lambda: (C.gelu(h), C.gelu_backward(h, gh)),
        lambda: composed(_gelu_tanh, [h], gh),
    )
    s, gs = r(B * H, T, 256), r(B * H, T, 256)
    cases["softmax"] = (
        lambda: (lambda y: (y, C.softmax_backward(y, gs)))(C.softmax(s)),
        lambda: composed(F.softmax, [s], gs),
    )
    logits = r(N, V)
    tgt = rng.integers(0, V, size=N).astype(cp.int64)
    one = cp.ones((), dt)

    def ce_kernel():
        loss, lse = C.cross_entropy(logits, tgt, check=False)
        scale = cp.full(N, 1 / N, cp.float32)  # "mean", no ignored rows
        return loss.mean(), C.cross_entropy_backward(logits, lse, tgt, scale)

    cases["cross_entropy"] = (ce_kernel, lambda: composed(lambda z: F.cross_entropy(z, tgt), [logits], one))
    q, k, v, go = (r(B, H, T, D) for _ in range(4))

    def flash():
        o, lse = C.flash_attention(q, k, v)
        return (o, *C.flash_attention_backward(q, k, v, o, lse, go))

    def attention_composed():
        return composed(lambda q_, k_, v_: F.scaled_dot_product_attention(q_, k_, v_, is_causal=True), [q, k, v], go)

    cases["attention"] = (flash, attention_composed)
    only = {c for c in args.only.split(",") if c}
    pool = cp.get_default_memory_pool()
    for name, (kern, comp) in cases.items():
        if only and name not in only:
            continue
        rec: dict = {"case": name, "dtype": args.dtype}
        try:
            out_k = kern()
            out_c = comp()
            flat_k = [out_k[0], *out_k[1:]] if name != "cross_entropy" else list(out_k)
            flat_c = [out_c[0], *out_c[1]]
            rec["max_rel_diff"] = max(rel(cp, a, b_) for a, b_ in zip(flat_k, flat_c))
            del out_k, out_c, flat_k, flat_c
            rec["ms_kernel"] = timed(cp, kern, args.reps)
            rec["ms_composed"] = timed(cp, comp, args.reps)
            rec["speedup"] = round(rec["ms_composed"] / rec["ms_kernel"], 2)
            if name.startswith("attention"):
                for key, fn in (("kernel", kern), ("composed", comp)):
                    cp.cuda.Device().synchronize()
                    pool.free_all_blocks()
                    before = pool.total_bytes()
                    fn()
                    cp.cuda.Device().synchronize()
                    rec[f"pool_gib_{key}"] = round((pool.total_bytes() - before) / 2**30, 3)
        except Exception as e:  # record and go on to the next case
            rec["error"] = f"{type(e).__name__}: {str(e)[:400]}"
        print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
