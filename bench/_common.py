"""Helpers shared by the benchmark scripts: configs, FLOP counts, timing loop, contention, RSS.

The scripts are run as ``python bench/NAME.py`` from anywhere; this module puts the repository
root on ``sys.path`` (``add_repo_to_path``) so that ``engine``, ``nn`` and ``tinygrad_gpt`` import
without ``pip install -e .``.

Measuring on a shared 2-core machine: every measured program runs in its own subprocess (so its
peak RSS is its own), programs being compared are alternated, and each one reports how many cores
*other* processes used while its timed loop ran (from /proc/stat, as ../shared/bench/torch_ref.py
does). A run where others used more than ``CONTENDED_CORES`` is flagged CONTENDED.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
CONTENDED_CORES = 0.05

# The two training configs of the CPU-speed issue, same model and optimizer as torch_ref.py.
# iters/warmup are the defaults: iters are timed, warmup iterations before them are not.
CONFIGS: dict[str, dict] = {
    "S": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, iters=100, warmup=10),
    "M": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, batch_size=8, iters=20, warmup=3),
}
SEED = 1337
LR, WEIGHT_DECAY, BETAS, EPS, GRAD_CLIP = 1e-3, 0.1, (0.9, 0.99), 1e-8, 1.0
VOCAB = 80  # char-level Shakespeare
PHASES = ("data", "forward", "backward", "clip", "step", "total")


def add_repo_to_path() -> None:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def flops_per_iter(n_params_nopos: int, n_layer: int, n_embd: int, block_size: int, batch_size: int) -> int:
    """(6N + 12·L·C·T)·B·T, N = parameters without the position embedding (tied wte counted once)."""
    return (6 * n_params_nopos + 12 * n_layer * n_embd * block_size) * batch_size * block_size


def batch_source(block_size: int, batch_size: int, random_data: bool = False, seed: int = SEED):
    """``(get_batch, description)``: random (x, y) int64 NumPy windows of the char-level Shakespeare
    train split via ``tinygrad_gpt.data``, or with ``random_data`` uniform ids in [0, VOCAB) (no corpus
    needed). Both benchmarked programs use this, so they read the same batches the same way."""
    import numpy as np

    if random_data:
        rng = np.random.default_rng(seed)

        def get_batch():
            w = rng.integers(0, VOCAB, size=(batch_size, block_size + 1), dtype=np.int64)
            return np.ascontiguousarray(w[:, :-1]), np.ascontiguousarray(w[:, 1:])

        return get_batch, f"random ids in [0, {VOCAB})"
    add_repo_to_path()
    from tinygrad_gpt.data import prepare

    prep = prepare(None, "char")
    if prep.vocab_size != VOCAB:
        raise RuntimeError(f"expected the char-level Shakespeare vocab of {VOCAB}, got {prep.vocab_size}")
    loader = prep.loader("train", block_size, batch_size, seed=seed)
    return loader.get_batch, f"shakespeare char, {prep.train.n_tokens} train tokens"


def cpu_ticks() -> tuple[int, int]:
    """(busy, steal) jiffies over all CPUs from /proc/stat; busy is everything but idle and iowait."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[0] + v[1] + v[2] + v[5] + v[6] + v[7], v[7]
    except (OSError, IndexError, ValueError):
        return 0, 0


def machine_load(window_s: float = 2.0) -> float:
    """Cores busy on the whole machine over ``window_s`` (the caller sleeping meanwhile)."""
    b0 = cpu_ticks()[0]
    time.sleep(window_s)
    return (cpu_ticks()[0] - b0) / os.sysconf("SC_CLK_TCK") / window_s


def wait_for_quiet(max_wait_s: float, threshold: float = 0.25) -> tuple[float, float]:
    """Wait up to ``max_wait_s`` until other processes use under ``threshold`` cores (2 s samples).
    Returns (seconds waited, last load in cores). Contention hurts torch's 2 OpenMP threads far more
    than NumPy (a busy core can slow torch tens of times), so a ratio taken under load means little."""
    t0 = time.monotonic()
    while True:
        load = machine_load()
        waited = time.monotonic() - t0
        if load < threshold or waited >= max_wait_s:
            return waited, load


def run_measured(cmd: Sequence[str], echo: bool, quiet_wait_s: float, retries: int) -> dict:
    """``run_worker`` after waiting for a quiet machine; a CONTENDED run (others above 0.25 cores)
    is run again up to ``retries`` times and the least contended attempt kept. The result records
    ``attempts`` and ``others_cores_per_attempt``."""
    best, seen = None, []
    for _ in range(retries + 1):
        waited, load = wait_for_quiet(quiet_wait_s) if quiet_wait_s > 0 else (0.0, float("nan"))
        if waited >= 2.5:
            print(f"    (waited {waited:.0f}s for a quiet machine; load now {load:.2f} cores)")
        res = run_worker(cmd, echo=echo)
        seen.append(res["others_cores"])
        if best is None or res["others_cores"] < best["others_cores"]:
            best = res
        if res["others_cores"] <= 0.25:
            break
    best.update(attempts=len(seen), others_cores_per_attempt=seen)
    return best


def peak_rss_mib() -> float:
    """This program's peak resident set size in MiB: VmHWM from /proc/self/status.

    Not ``ru_maxrss``: Linux carries a parent's peak RSS into a child across fork/vfork + exec, so a
    subprocess's ``ru_maxrss`` is at least its launcher's peak (a driver that held 790 MiB gives
    every child ru_maxrss >= 790 MiB). VmHWM belongs to the process's own address space. Falls back
    to ``ru_maxrss`` where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        pass
    return ru_maxrss_mib()


def ru_maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


class CpuMonitor:
    """CPU used by this process and by every other process between ``start()`` and ``stop()``."""

    def start(self) -> CpuMonitor:
        self.ru0, self.st0, self.t0 = resource.getrusage(resource.RUSAGE_SELF), cpu_ticks(), time.perf_counter()
        return self

    def stop(self) -> dict:
        wall = time.perf_counter() - self.t0
        ru1, st1 = resource.getrusage(resource.RUSAGE_SELF), cpu_ticks()
        hz = os.sysconf("SC_CLK_TCK")
        user, sys_ = ru1.ru_utime - self.ru0.ru_utime, ru1.ru_stime - self.ru0.ru_stime
        others = max(0.0, (st1[0] - self.st0[0]) / hz - user - sys_) / max(wall, 1e-9)
        return dict(loop_wall_s=wall, cpu_user_s=user, cpu_sys_s=sys_, cores_busy=(user + sys_) / max(wall, 1e-9),
                    others_cores=others, steal_s=(st1[1] - self.st0[1]) / hz,
                    minflt=ru1.ru_minflt - self.ru0.ru_minflt)


def ours_model(config: str):
    """Our GPT and AdamW for a benchmark config, as ../shared/bench/torch_ref.py builds torch's:
    (model, optimizer). Learned positions, tied head, GPT-2 init, dropout 0, biases."""
    add_repo_to_path()
    from tinygrad_gpt.config import GPTConfig
    from tinygrad_gpt.model import GPT

    cfg = CONFIGS[config]
    model = GPT(GPTConfig(vocab_size=VOCAB, block_size=cfg["block_size"], n_layer=cfg["n_layer"],
                          n_head=cfg["n_head"], n_embd=cfg["n_embd"], dropout=0.0, bias=True,
                          pos_encoding="learned", tie_weights=True), seed=SEED)
    model.train()
    return model, model.optimizer(LR, WEIGHT_DECAY, BETAS, EPS)


def timed_step(get_batch: Callable, forward: Callable, backward: Callable, clip: Callable,
               step: Callable) -> tuple[dict[str, float], object]:
    """One training step, each phase timed with perf_counter (all CPU work is synchronous):
    ({phase: ms, "total": ms}, forward's output)."""
    t0 = time.perf_counter()
    x, y = get_batch()
    t1 = time.perf_counter()
    out = forward(x, y)
    t2 = time.perf_counter()
    backward(out)
    t3 = time.perf_counter()
    clip()
    t4 = time.perf_counter()
    step()
    t5 = time.perf_counter()
    ms = {k: (b - a) * 1e3 for k, a, b in (("data", t0, t1), ("forward", t1, t2), ("backward", t2, t3),
                                            ("clip", t3, t4), ("step", t4, t5), ("total", t0, t5))}
    return ms, out


def time_training(get_batch: Callable, forward: Callable, backward: Callable, clip: Callable, step: Callable,
                  loss_value: Callable, iters: int, warmup: int) -> dict:
    """Run ``warmup + iters`` training steps (``timed_step``). Returns per-phase medians/means (ms)
    over the last ``iters`` and the CPU monitor's figures for those iterations only."""
    phases: dict[str, list[float]] = {k: [] for k in PHASES}
    mon, loss = None, float("nan")
    for it in range(warmup + iters):
        if it == warmup:
            mon = CpuMonitor().start()
        ms, out = timed_step(get_batch, forward, backward, clip, step)
        loss = loss_value(out)
        if it >= warmup:
            for k in PHASES:
                phases[k].append(ms[k])
    cpu = mon.stop() if mon else {}
    tot = sorted(phases["total"])
    return dict(
        ms_median={k: statistics.median(v) for k, v in phases.items()},
        ms_mean={k: statistics.fmean(v) for k, v in phases.items()},
        ms_total_p10=tot[int(0.1 * (len(tot) - 1))], ms_total_p90=tot[int(0.9 * (len(tot) - 1))],
        ms_total_min=tot[0], ms_total_max=tot[-1], last_loss=float(loss), **cpu)


def finish_result(res: dict, tokens_per_iter: int, flops: int) -> dict:
    """Add throughput figures to a ``time_training`` result."""
    ms = res["ms_median"]["total"]
    res.update(tokens_per_iter=tokens_per_iter, flops_per_iter=flops, tokens_per_s=tokens_per_iter / (ms / 1e3),
               gflops=flops / (ms / 1e3) / 1e9, peak_rss_mib=peak_rss_mib(), ru_maxrss_mib=ru_maxrss_mib())
    return res


def print_result(res: dict, peak_gflops: float = 0.0) -> None:
    """The human-readable report of one training run (the worker's own stdout)."""
    med, mean = res["ms_median"], res["ms_mean"]
    print(f"timing over {res['iters']} iters after {res['warmup']} warm-up, ms/iter median (mean):")
    for k in PHASES:
        print(f"  {k:9s} {med[k]:9.3f}  ({mean[k]:9.3f})  {100 * med[k] / med['total']:5.1f}%")
    print(f"  total p10 {res['ms_total_p10']:.3f}  p90 {res['ms_total_p90']:.3f}  "
          f"min {res['ms_total_min']:.3f}  max {res['ms_total_max']:.3f}")
    line = f"tokens/s {res['tokens_per_s']:.0f}  achieved {res['gflops']:.2f} GFLOP/s"
    if peak_gflops > 0:
        line += f"  MFU {100 * res['gflops'] / peak_gflops:.1f}% of {peak_gflops:.1f}"
    print(line)
    print(f"loop CPU {res['cores_busy']:.2f} cores busy; others used {res['others_cores']:.2f} cores, "
          f"steal {res['steal_s']:.2f}s" + contended_mark(res))
    print(f"peak RSS {res['peak_rss_mib']:.1f} MiB (after imports {res['rss_after_import_mib']:.1f}, "
          f"after setup {res['rss_after_setup_mib']:.1f})  last loss {res['last_loss']:.4f}")


def contended_mark(res: dict) -> str:
    return "  <-- CONTENDED" if res.get("others_cores", 0.0) > CONTENDED_CORES else ""


def matmul_peak_gflops(n: int = 2048, reps: int = 5) -> float:
    """Median GFLOP/s of a float32 n³ NumPy matmul (one warm-up first), this process's BLAS threads."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=out)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def matmul_peak_subprocess(n: int = 2048, reps: int = 5) -> float:
    """``matmul_peak_gflops`` in a fresh process, so the driver's own memory stays small."""
    code = (f"import sys; sys.path.insert(0, {str(BENCH_DIR)!r}); "
            f"from _common import matmul_peak_gflops; print(matmul_peak_gflops({n}, {reps}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out.split()[-1])


def machine_info() -> dict:
    """CPU model, core count, Python/NumPy versions and the BLAS NumPy uses (version where known)."""
    import numpy as np

    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    blas = "?"
    try:
        from threadpoolctl import threadpool_info

        infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if infos:
            i = infos[0]
            blas = (f"{i.get('internal_api')} {i.get('version')} "
                    f"({i.get('num_threads')} threads, {i.get('architecture')})")
    except ImportError:
        try:
            deps = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
            blas = f"{deps.get('name')} {deps.get('version')}"
        except Exception:  # noqa: BLE001 - best effort only
            pass
    add_repo_to_path()
    import engine.kernels

    return dict(cpu=model, cores=os.cpu_count(), python=platform.python_version(), numpy=np.__version__, blas=blas,
                cpu_kernels=engine.kernels.describe(), commit=git_commit())


def git_commit() -> str:
    """HEAD's short hash, with '+dirty' when engine/, nn/ or tinygrad_gpt/ differ from it: the code
    under test changes often, and a figure means little without the version it measured."""
    try:
        run = lambda *a: subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True,  # noqa: E731
                                        timeout=10).stdout.strip()
        head = run("rev-parse", "--short", "HEAD") or "?"
        return head + ("+dirty" if run("status", "--porcelain", "engine", "nn", "tinygrad_gpt") else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def run_worker(cmd: Sequence[str], echo: bool = False, timeout: float | None = None) -> dict:
    """Run one measured program in its own process; it writes its result as JSON to the path given
    after ``--json-out``. Its stdout is shown when ``echo``, its output tail when it fails."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        proc = subprocess.run([*cmd, "--json-out", str(out)], capture_output=True, text=True, timeout=timeout)
        if echo and proc.stdout:
            print("    | " + proc.stdout.rstrip().replace("\n", "\n    | "))
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stdout + proc.stderr)[-3000:]
            raise RuntimeError(f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n{tail}")
        return json.loads(out.read_text())


def med(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def write_json(path: str, obj: dict) -> None:
    with open(path, "w") as f:
        json.dump(obj, f)


def append_json(path: str, obj: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")
