"""engine.tune_cpu() takes effect whatever the import order (issue 21).

OpenBLAS's idle threads spin for 2^28 cycles (~0.1 s) after each matmul unless OPENBLAS_THREAD_TIMEOUT
was set when they started. A user script imports NumPy first, so the variable alone comes too late;
tune_cpu() restarts the threads. Each case runs in a fresh interpreter that imports NumPy before
anything of ours, then measures the CPU time the non-main threads burn while the main one sleeps
between small matmuls: that spinning is the effect the setting exists to remove.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, os, sys, time
import numpy as np                       # first, as in nearly every user script
from threadpoolctl import threadpool_info

def idle_threads_cpu():
    # CPU seconds of every thread but the main one (/proc/<pid>/task/<tid>/stat utime + stime)
    pid, total = os.getpid(), 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        if int(tid) != pid:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")

mode = sys.argv[1]
done = None
if mode == "engine":
    import engine
    done = engine.tune_cpu()
elif mode == "tinygrad_gpt":
    import engine, tinygrad_gpt  # importing changes nothing; the training entry calls tune_cpu
    done = engine.tune_cpu()
a = np.ones((256, 256), np.float32)
a @ a                                    # the (re)started OpenBLAS threads exist from here on
c0 = idle_threads_cpu()
for _ in range(6):
    a @ a
    time.sleep(0.25)                     # default timeout: a thread spins ~0.1 s of this
blas = [i for i in threadpool_info() if i["internal_api"] == "openblas"]
print(json.dumps({"spin_s": idle_threads_cpu() - c0, "done": done, "blas": blas,
                  "env": os.environ.get("OPENBLAS_THREAD_TIMEOUT")}))
"""


def _run(mode: str, **env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "TINYGRAD_GPT_TUNE_CPU",
                                                               "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    base.update(PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="2", **env)
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, env=base,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _pthreads_openblas(res: dict) -> bool:
    return any(b.get("threading_layer") == "pthreads" for b in res["blas"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_tune_cpu_after_numpy_stops_openblas_spinning():
    pytest.importorskip("threadpoolctl")
    untuned = _run("none")
    if not _pthreads_openblas(untuned):
        pytest.skip("NumPy is not on a pthreads OpenBLAS: nothing to tune")
    if untuned["spin_s"] < 0.1:  # 6 sleeps, each ~0.1 s of spinning on an idle core; less: too loaded to tell
        pytest.skip(f"default OpenBLAS spun only {untuned['spin_s']:.2f} s: machine too loaded to measure")
    tuned = _run("engine")
    assert tuned["done"] == {"keep_freed_memory": True, "openblas_thread_timeout": True}
    assert tuned["env"] == "16"
    # the short timeout leaves only the matmuls' own work on the helper thread (a few ms)
    assert tuned["spin_s"] < 0.3 * untuned["spin_s"], (tuned, untuned)
    assert all(b["num_threads"] == u["num_threads"] for b, u in zip(tuned["blas"], untuned["blas"]))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_import_tinygrad_gpt_after_numpy_then_tune_cpu():
    pytest.importorskip("threadpoolctl")
    res = _run("tinygrad_gpt")
    if not _pthreads_openblas(res):
        pytest.skip("NumPy is not on a pthreads OpenBLAS")
    assert res["done"]["openblas_thread_timeout"] is True
    assert res["spin_s"] < 0.1, res


def test_import_tinygrad_gpt_changes_no_environment():
    code = "import os, tinygrad_gpt; print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None"]


def test_opt_out_env_makes_tune_cpu_a_no_op():
    res = _run("engine", TINYGRAD_GPT_TUNE_CPU="0")
    assert res["done"] == {"keep_freed_memory": False, "openblas_thread_timeout": False}
    assert res["env"] is None
