"""engine.parallel: chunks cover the work exactly once, and no result depends on the thread count.

The threaded kernels only run on arrays over ``MIN_PARALLEL`` elements, which the property tests'
small arrays never reach, so each threaded op is checked here on big inputs: bit-identical across
thread counts, and equal to the plain NumPy formula in float64.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest

import engine.functional as F
import engine.parallel as parallel
from engine import Tensor
from engine.parallel import CHUNK, MIN_PARALLEL, MIN_PARALLEL_CHEAP, get_num_threads, parallel_for, set_num_threads


@pytest.fixture
def threads():
    """Run a body under several thread counts, restoring the default afterwards."""
    old = get_num_threads()
    yield set_num_threads
    set_num_threads(old)


@pytest.mark.parametrize("n,row_size", [(1, MIN_PARALLEL), (10, 1), (MIN_PARALLEL, 1), (3 * CHUNK + 7, 1),
                                        (1000, 129), (5, CHUNK * 2)])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_chunks_cover_every_row_once(threads, n, row_size, n_threads):
    threads(n_threads)
    hits = np.zeros(n, dtype=np.int64)
    chunks = []

    def kernel(lo, hi):
        chunks.append((lo, hi))  # list.append is atomic under the GIL
        hits[lo:hi] += 1  # disjoint rows: no race

    parallel_for(np, n, kernel, row_size)
    assert (hits == 1).all()
    assert all(hi - lo <= max(1, CHUNK // row_size) or (lo, hi) == (0, n) for lo, hi in chunks)


def test_worker_exception_reaches_the_caller(threads):
    threads(2)

    def kernel(lo, hi):
        if lo > 0:
            raise RuntimeError(f"bad chunk {lo}")

    with pytest.raises(RuntimeError, match="bad chunk"):
        parallel_for(np, 4 * CHUNK, kernel)


def test_set_num_threads_rejects_zero():
    with pytest.raises(ValueError, match="n >= 1"):
        set_num_threads(0)


def run_op(op, arrays, seed=0):
    """Forward and backward of ``op`` on fresh leaf tensors: (output, input grads) as arrays."""
    ts = [Tensor(a, requires_grad=True) for a in arrays]
    out = op(*ts)
    g = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    out.backward(g)
    return [out.data] + [t.grad.data for t in ts], g


def same_under_threads(threads, op, arrays):
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append(run_op(op, arrays)[0])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
    return results[0]


def gelu_tanh(x):
    """GPT-2's tanh GELU (F.gelu's default is torch's exact form)."""
    return F.gelu(x, approximate="tanh")


def gelu_reference(x, g):
    k, c = math.sqrt(2 / math.pi), 0.044715
    t = np.tanh(k * (x + c * x**3))
    return 0.5 * x * (1 + t), g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * c * x * x))


@pytest.mark.parametrize("shape", [(300, 257), (3 * CHUNK + 5,), (1030, 1024)])  # the last: backward threaded too
def test_gelu_threads_equal_one_thread_and_formula(threads, shape):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32) * 3
    assert x.size >= MIN_PARALLEL and (x.size >= MIN_PARALLEL_CHEAP or shape != (1030, 1024))
    out, gx = same_under_threads(threads, gelu_tanh, [x])
    _, g = run_op(gelu_tanh, [x])
    ref_out, ref_gx = gelu_reference(x.astype(np.float64), g.astype(np.float64))
    np.testing.assert_allclose(out, ref_out, rtol=2e-6, atol=2e-6)
    # The derivative's two terms cancel for x near -3, each about 16·|g|: float32 rounding of
    # ~1e-6 absolute there, so atol 1e-5 (the threaded and 1-thread results are bit-equal above).
    np.testing.assert_allclose(gx, ref_gx, rtol=2e-5, atol=1e-5)


def attention_reference(q, k, v, keep, g):
    """softmax(q kᵀ/√d, masked) v and its gradients, in float64, by the textbook formulas."""
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    s = np.where(keep, s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    gv = np.swapaxes(p, -1, -2) @ g
    gp = g @ np.swapaxes(v, -1, -2)
    gs = p * (gp - (gp * p).sum(-1, keepdims=True)) / math.sqrt(q.shape[-1])
    return p @ v, gs @ k, np.swapaxes(gs, -1, -2) @ q, gv


@pytest.mark.parametrize("mask,T", [("causal", 96), ("per_batch", 96), ("none", 96), ("causal", 520)])
def test_attention_threads_equal_one_thread_and_formula(threads, mask, T):
    rng = np.random.default_rng(2)
    B, H, D = 3, 4, 16  # B·H·T·T: 110,592 scores (forward threaded), or 3.2M (backward threaded too)
    q, k, v = (rng.standard_normal((B, H, T, D)).astype(np.float32) for _ in range(3))
    keep = {"causal": np.tril(np.ones((T, T), bool)),
            "per_batch": rng.random((B, 1, T, T)) < 0.7,
            "none": np.ones((T, T), bool)}[mask]
    keep[..., :, 0] = True  # every query sees a key: no all-masked (nan) rows
    op = lambda q_, k_, v_: F.scaled_dot_product_attention(q_, k_, v_, attn_mask=keep)  # noqa: E731
    results = same_under_threads(threads, op, [q, k, v])
    _, g = run_op(op, [q, k, v])
    ref = attention_reference(*(a.astype(np.float64) for a in (q, k, v)), keep, g.astype(np.float64))
    for got, want in zip(results, ref):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def layer_norm_reference(x, w, b, g, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    rstd = 1 / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + eps)
    xhat = (x - mean) * rstd
    gxhat = g * w
    gx = rstd * (gxhat - gxhat.mean(-1, keepdims=True) - xhat * (gxhat * xhat).mean(-1, keepdims=True))
    lead = tuple(range(x.ndim - 1))
    return xhat * w + b, gx, (g * xhat).sum(lead), g.sum(lead)


def test_layer_norm_threads_equal_one_thread_and_formula(threads):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((7, 300, 48)) * 2 + 1).astype(np.float32)  # 100,800 elements, 2,100 rows
    w, b = (rng.standard_normal(48).astype(np.float32) for _ in range(2))
    op = lambda x_, w_, b_: F.layer_norm(x_, x_.shape[-1:], w_, b_)  # noqa: E731
    results = same_under_threads(threads, op, [x, w, b])
    _, g = run_op(op, [x, w, b])
    ref = layer_norm_reference(*(a.astype(np.float64) for a in (x, w, b, g)))
    for got, want in zip(results, ref):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


@pytest.mark.parametrize("window,dropout_p", [(None, 0.0), (40, 0.0), (1, 0.0), (None, 0.3), (70, 0.3)])
def test_blocked_attention_equals_one_block(monkeypatch, window, dropout_p):
    """Causal attention over T >= 4 blocks skips the masked keys block by block: it must equal
    the one-block computation, dropout included (the mask is drawn once for all blocks)."""
    import engine
    import engine.ops.fused as fused

    rng = np.random.default_rng(4)
    B, T, n_head, hs = 2, 4 * fused.ATTENTION_BLOCK + 7, 3, 8
    qkv = rng.standard_normal((B, T, 3 * n_head * hs)).astype(np.float32)

    def run():  # [output, dqkv]
        engine.manual_seed(0)  # the same dropout mask in both runs
        return run_op(lambda x: F.self_attention(x, n_head, dropout_p=dropout_p, window=window), [qkv])[0]

    assert len(fused.query_blocks(~F.attention_mask(T, T, window), T, T, np)) >= 4
    blocked = run()
    monkeypatch.setattr(fused, "ATTENTION_BLOCK", 10**9)
    single = run()
    for a, b in zip(blocked, single):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_can_use_the_threads(threads):
    """The pool's threads do not survive fork(); a child must start its own, not hang."""
    threads(2)
    x = np.random.default_rng(6).standard_normal(4 * CHUNK).astype(np.float32)
    expected = F.gelu(Tensor(x), approximate="tanh").data  # starts the parent's pool
    pid = os.fork()
    if pid == 0:  # child: exit 0 only if the threaded GELU finishes and agrees
        ok = np.array_equal(F.gelu(Tensor(x), approximate="tanh").data, expected)
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + 20  # the child needs well under a second
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            pytest.fail("the forked child hung in parallel_for")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_bad_thread_count_in_the_environment_is_named(value):
    import subprocess
    import sys

    env = dict(os.environ, TINYGRAD_GPT_THREADS=value)
    out = subprocess.run([sys.executable, "-c", "import engine"], env=env, capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert out.returncode != 0 and "TINYGRAD_GPT_THREADS must be a positive integer" in out.stderr


def test_import_engine_changes_nothing_and_tune_cpu_does():
    """``import engine`` leaves the environment as it was; ``engine.tune_cpu()`` sets what it documents."""
    import subprocess
    import sys

    code = ("import os, engine; a = os.environ.get('OPENBLAS_THREAD_TIMEOUT'); done = engine.tune_cpu(); "
            "print(a, os.environ.get('OPENBLAS_THREAD_TIMEOUT'), done['openblas_thread_timeout'])")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert out.stdout.split() == ["None", parallel.OPENBLAS_THREAD_TIMEOUT, "True"]


@pytest.mark.skipif(parallel._openblas is None, reason="NumPy's BLAS is not an OpenBLAS we can find")
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_parallel_batched_equals_one_matmul_and_restores_blas_threads(threads, n_threads):
    """Shared-out batched matmuls equal NumPy's batched matmul on one BLAS thread, bit for bit,
    cover every entry once, and leave OpenBLAS's thread count as it was, also after an error."""
    threads(n_threads)
    get_blas_threads, set_blas_threads = parallel._openblas
    before = get_blas_threads()
    rng = np.random.default_rng(7)
    a = rng.standard_normal((9, 64, 48)).astype(np.float32)
    b = rng.standard_normal((9, 48, 64)).astype(np.float32)
    out, hits = np.empty((9, 64, 64), np.float32), np.zeros(9, int)
    seen = []

    def kernel(lo, hi):
        seen.append(get_blas_threads())
        hits[lo:hi] += 1
        np.matmul(a[lo:hi], b[lo:hi], out=out[lo:hi])

    parallel.parallel_batched(np, 9, kernel, row_size=64 * 64)
    assert (hits == 1).all() and set(seen) == {1} and get_blas_threads() == before
    set_blas_threads(1)
    try:
        want = a @ b
    finally:
        set_blas_threads(before)
    np.testing.assert_array_equal(out, want)

    def failing(lo, hi):
        raise RuntimeError("bad share")

    with pytest.raises(RuntimeError, match="bad share"):
        parallel.parallel_batched(np, 9, failing, row_size=64 * 64)
    assert get_blas_threads() == before


def test_parallel_batched_leaves_small_or_single_batches_and_other_blas_alone(threads, monkeypatch):
    threads(2)
    calls = []
    parallel.parallel_batched(np, 1, lambda lo, hi: calls.append((lo, hi)), row_size=10**6)
    parallel.parallel_batched(np, 4, lambda lo, hi: calls.append((lo, hi)), row_size=4)
    monkeypatch.setattr(parallel, "_openblas", None)  # e.g. NumPy on MKL or Accelerate
    parallel.parallel_batched(np, 8, lambda lo, hi: calls.append((lo, hi)), row_size=10**6)
    assert calls == [(0, 1), (0, 4), (0, 8)]


class _OtherArrayModule:
    """NumPy under another name: ops take their CuPy branches (``xp is not np``) on the CPU."""

    def __getattr__(self, name):
        return getattr(np, name)


@pytest.mark.parametrize("T", [40, 300])  # one block; several blocks on NumPy
def test_attention_on_another_array_module_equals_numpy(T):
    """The branches CuPy takes (one block, one call, results assigned instead of matmul out= into
    strided views) give what NumPy's blocked, shared-out path gives."""
    import engine.ops.fused as fused

    rng = np.random.default_rng(8)
    B, n_head, hs = 3, 2, 8
    qkv = rng.standard_normal((B, T, 3 * n_head * hs)).astype(np.float32)
    g = rng.standard_normal((B, T, n_head * hs)).astype(np.float32)
    keep = F.attention_mask(T, T)  # (T, T) bool array
    results = []
    for xp in (np, _OtherArrayModule()):
        op = fused.SelfAttention()
        op.xp, op.saved = xp, ()
        y = op.forward(qkv, n_head=n_head, keep=keep)
        blocked = xp is np and T >= 2 * fused.ATTENTION_BLOCK
        assert len(op.blocks) == (-(-T // fused.ATTENTION_BLOCK) if blocked else 1)
        results.append((y, op.backward(g)))
    (y_np, d_np), (y_other, d_other) = results
    np.testing.assert_allclose(y_other, y_np, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d_other, d_np, rtol=1e-5, atol=1e-6)
