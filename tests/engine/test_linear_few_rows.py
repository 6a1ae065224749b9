"""Linear's product for a few rows, and MatMul's gradient in x (engine/ops/matmul.py ``times_weight_t``):
2-32 rows of work above ``FEW_ROWS_MIN_WORK`` run as (w @ xᵀ)ᵀ. The result must be x @ wᵀ (to rounding),
C-contiguous, in the inputs' dtype, and values and float64 gradients there must match torch's."""

from __future__ import annotations

import numpy as np
import pytest

import engine.functional as F
import engine.ops.matmul as M
from engine import Tensor


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 2, 3, 16, 32, 33, 64])
def test_times_weight_t_equals_the_product(rows, dtype):
    rng = np.random.default_rng(rows)
    k, n = 256, 1024  # rows * n * k >= FEW_ROWS_MIN_WORK from 1 row
    x, w = rng.standard_normal((rows, k)).astype(dtype), rng.standard_normal((n, k)).astype(dtype)
    out = M.times_weight_t(x, w)
    want = x.astype(np.float64) @ w.astype(np.float64).T
    assert out.shape == (rows, n) and out.dtype == dtype and out.flags.c_contiguous
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out, want, **tol)


def test_few_rows_path_runs_only_where_it_was_measured(monkeypatch):
    """The other orientation is taken for 2..FEW_ROWS rows with enough work, never for one row or
    a tiny product; strided inputs give the same product."""
    calls = []
    real = np.ascontiguousarray

    def spy(a, *args, **kw):
        calls.append(a.shape)
        return real(a, *args, **kw)

    monkeypatch.setattr(M.np, "ascontiguousarray", spy)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((512, 256))
    for rows, taken in ((1, False), (2, True), (M.FEW_ROWS, True), (M.FEW_ROWS + 1, False)):
        calls.clear()
        M.times_weight_t(rng.standard_normal((rows, 256)), w)
        assert bool(calls) == taken, rows
    calls.clear()
    M.times_weight_t(rng.standard_normal((2, 8)), rng.standard_normal((8, 8)))  # 128 < FEW_ROWS_MIN_WORK
    assert not calls
    x = rng.standard_normal((256, 8)).T  # (8, 256), F-ordered
    np.testing.assert_allclose(M.times_weight_t(x, w[:, ::1]), x @ w.T, rtol=1e-12)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_with_few_rows_matches_torch(bias):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((3, 5, 128)), rng.standard_normal((640, 128))  # 15 rows
    b = rng.standard_normal(640) if bias else None
    g = rng.standard_normal((3, 5, 640))
    ours = [Tensor(a, requires_grad=True) for a in (x, w, b) if a is not None]
    out = F.linear(*ours) if bias else F.linear(ours[0], ours[1])
    out.backward(Tensor(g))
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b) if a is not None]
    t_out = torch.nn.functional.linear(*theirs)
    t_out.backward(torch.tensor(g))
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("a_shape", [(16, 256), (256,)])
def test_matmul_gradient_with_few_rows_matches_torch(a_shape):
    """x @ W's gradient in x, g @ Wᵀ, takes the same orientation for a few rows of g."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(a_shape), rng.standard_normal((256, 1024))
    g = rng.standard_normal(a_shape[:-1] + (1024,))
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    (ta @ tb).backward(Tensor(g))
    qa, qb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (qa @ qb).backward(torch.tensor(g))
    np.testing.assert_allclose(ta.grad.numpy(), qa.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), qb.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rows", [1, 2, 8, 32, 33])
def test_decode_reference_product_into_strided_out(rows):
    """rows_times_weight_blas (GPT.generate's decode matmul without the compiled kernel) writes
    x @ wᵀ into ``out``, also a strided one, for each of its orientations."""
    rng = np.random.default_rng(rows)
    x, w = rng.standard_normal((rows, 96)), rng.standard_normal((200, 96))
    for strided in (False, True):
        full = np.full((rows, 400 if strided else 200), np.nan)
        out = full[:, ::2] if strided else full
        M.rows_times_weight_blas(x, w, out)
        np.testing.assert_allclose(out, x @ w.T, rtol=1e-12, atol=1e-12)
