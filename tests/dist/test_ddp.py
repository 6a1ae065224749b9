"""Data-parallel training on 2 MPI ranks (CPU): each test launches ``mpiexec -n 2`` as users do.

Skipped without mpi4py or mpiexec (``pip install -e ".[dist]"``). Marked ``dist``.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")
ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("ddp_worker.py")
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
pytestmark = [pytest.mark.dist, pytest.mark.skipif(MPIEXEC is None, reason="needs mpiexec (pip install mpich)")]
TEXT = "ROMEO:\nBut, soft! what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n" * 20
TINY = ["--n_layer", "1", "--n_head", "2", "--n_embd", "16", "--block_size", "16", "--batch_size", "2",
        "--eval_iters", "1", "--no-progress", "--no-plot", "--sample_tokens", "0", "--dtype", "float64",
        "--warmup_iters", "1", "--lr_decay_iters", "4", "--log_interval", "1"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return {**os.environ, "TINYGRAD_GPT_CACHE": str(tmp_path_factory.mktemp("cache")), "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1", "TINYGRAD_GPT_THREADS": "1", "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "input.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def mpirun(n: int, args: list[str], env, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([MPIEXEC, "-n", str(n), sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


@pytest.mark.parametrize("grad_accum,dtype", [(1, "float64"), (2, "float64"), (2, "float32")])
def test_two_ranks_equal_one_process_with_twice_the_batch(grad_accum, dtype, env):
    out = ok(mpirun(2, [str(WORKER), "equivalence", str(grad_accum), dtype], env))
    assert f"OK equivalence grad_accum={grad_accum} {dtype}" in out


def test_bucketed_overlapped_allreduce_equals_one_blocking_allreduce(env):
    assert "OK buckets" in ok(mpirun(2, [str(WORKER), "buckets"], env))


def test_a_raising_rank_ends_every_rank_with_its_name_and_error(env):
    t = time.monotonic()
    r = mpirun(2, [str(WORKER), "fail", "raise"], env, timeout=60)
    assert r.returncode != 0 and time.monotonic() - t < 60
    assert "rank 1 of 2 failed: ValueError: boom at step 3" in r.stderr


def test_a_killed_rank_makes_the_launcher_exit_nonzero_within_60s(env):
    t = time.monotonic()
    r = mpirun(2, [str(WORKER), "fail", "kill"], env, timeout=60)
    assert r.returncode != 0 and time.monotonic() - t < 60


def _train(n: int, out: Path, corpus: Path, env, *flags: str) -> str:
    args = ["-m", "tinygrad_gpt.cli", "train", "--ddp", "--data", str(corpus), "--out_dir", str(out), *TINY, *flags]
    return ok(mpirun(n, args, env))


def _weights(path: Path) -> dict:
    from tinygrad_gpt.checkpoint import load_checkpoint

    model, optim, info = load_checkpoint(path)
    return {**{f"m.{k}": v for k, v in model.items()}, "iter": np.array(info["iter"])}


@pytest.fixture(scope="module")
def two_rank_runs(tmp_path_factory, corpus, env) -> Path:
    """2-rank runs: full/ 4 iterations straight, split/ stopped at 2 (checkpoint at 2)."""
    root = tmp_path_factory.mktemp("runs")
    _train(2, root / "full", corpus, env, "--max_iters", "4", "--eval_interval", "2")
    _train(2, root / "split", corpus, env, "--max_iters", "2", "--eval_interval", "2")
    return root


def test_resume_under_ddp_is_bit_exact(two_rank_runs, tmp_path, corpus, env):
    shutil.copytree(two_rank_runs / "split", tmp_path / "split")
    out = _train(2, tmp_path / "split", corpus, env, "--resume", "--max_iters", "4", "--eval_interval", "2")
    assert "resumed from" in out
    full = _weights(two_rank_runs / "full" / "ckpt.safetensors")
    split = _weights(tmp_path / "split" / "ckpt.safetensors")
    assert full.keys() == split.keys() and int(full["iter"]) == 4
    for k in full:
        np.testing.assert_array_equal(full[k], split[k], err_msg=k)
    # the rank that logs: one log.jsonl, one row per step (rank 1 writes nothing)
    rows = (two_rank_runs / "full" / "log.jsonl").read_text().splitlines()
    assert sum('"loss"' in r for r in rows) == 4


def test_resume_with_another_number_of_ranks(two_rank_runs, tmp_path, corpus, env):
    # 1 rank re-derives its sampler and continues the 2-rank run; a plain process does the same
    for name in ("one", "plain"):
        shutil.copytree(two_rank_runs / "split", tmp_path / name)
    out = _train(1, tmp_path / "one", corpus, env, "--resume", "--max_iters", "3", "--eval_interval", "5")
    assert "done: 3 iterations" in out
    plain = ["-m", "tinygrad_gpt.cli", "train", "--data", str(corpus), "--out_dir", str(tmp_path / "plain"), *TINY,
             "--resume", "--max_iters", "3", "--eval_interval", "5"]
    ok(subprocess.run([sys.executable, *plain], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT))
    one, plain = _weights(tmp_path / "one" / "ckpt.safetensors"), _weights(tmp_path / "plain" / "ckpt.safetensors")
    for k in one:
        np.testing.assert_array_equal(one[k], plain[k], err_msg=k)


def test_mismatched_config_is_reported_at_start_up(tmp_path, corpus, env):
    # rank 1 gets another seed through an MPMD launch (mpiexec A : B)
    base = ["-m", "tinygrad_gpt.cli", "train", "--ddp", "--data", str(corpus), "--out_dir", str(tmp_path), *TINY,
            "--max_iters", "1"]
    r = subprocess.run([MPIEXEC, "-n", "1", sys.executable, *base, ":", "-n", "1", sys.executable, *base,
                        "--seed", "7"], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "ranks disagree on the training config (seed: rank 0 1337, rank 1 7)" in r.stderr


def test_ctrl_c_on_the_launcher_checkpoints_once_and_exits_130(tmp_path, corpus, env):
    args = ["-m", "tinygrad_gpt.cli", "train", "--ddp", "--data", str(corpus), "--out_dir", str(tmp_path), *TINY,
            "--max_iters", "100000", "--eval_interval", "100000"]
    proc = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        for line in proc.stdout:
            if line.startswith("iter 2:"):  # training is on (log_interval 1)
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert out.count("interrupted at iteration") == 1 and "resume with: mpiexec -n 2 " in out
    assert (tmp_path / "ckpt.safetensors").is_file()


def test_ddp_cnn_example_learns_on_two_ranks(env):
    pytest.importorskip("sklearn")
    out = ok(mpirun(2, [str(ROOT / "examples" / "ddp_cnn.py"), "--epochs", "2"], env))
    assert out.count("test accuracy") == 1  # rank 0 alone prints
    assert float(out.rsplit("test accuracy: ", 1)[1].split()[0]) > 0.8
