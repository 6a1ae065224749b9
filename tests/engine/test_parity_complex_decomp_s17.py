"""Complex decompositions against torch: cholesky (and cholesky_inverse/solve), eigh/eigvalsh, svd/svdvals
(torch.svd, svd_lowrank), qr, geqrf/ormqr/householder_product, ldl_factor/ldl_solve and matrix_norm on
complex64/complex128 input: values, dtypes (real eigenvalues, singular values and norms), and gradients in
torch's convention against torch.autograd.grad (random complex cotangents and real losses, through
gauge-invariant functions of the singular vectors/eigenvectors), plus torch's errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import engine
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(17)


def crand(*shape, dtype=np.complex128):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(dtype)


def hpd(*shape, dtype=np.complex128):
    """A Hermitian positive-definite batch (..., n, n)."""
    x = crand(*shape)
    n = shape[-1]
    return (x @ np.swapaxes(x, -1, -2).conj() + n * np.eye(n)).astype(dtype)


def hermitian(*shape, dtype=np.complex128):
    x = crand(*shape)
    return ((x + np.swapaxes(x, -1, -2).conj()) / 2).astype(dtype)


def _np(x):
    return x.detach().resolve_conj().numpy() if isinstance(x, torch.Tensor) else x.numpy()


def _dt(t):
    return str(t.dtype).replace("torch.", "")


def check(fn, *arrays, real_loss=None, cotangent=True, rtol=1e-10, atol=1e-12, grad=True):
    """fn on engine tensors and on torch tensors (same numbers, all requiring grad); fn returns a tensor or a
    tuple of tensors. Outputs (values, dtypes, shapes), then the gradients of every input for a random
    cotangent per output (complex where the output is) and for ``real_loss`` (a function of fn's output)."""
    def run(mod_tensor, mod):
        ins = [mod_tensor(a.copy(), requires_grad=grad) for a in arrays]
        out = fn(mod, *ins)
        return ins, (out if isinstance(out, tuple) else (out,))

    _, ys = run(Tensor, engine)
    _, tys = run(torch.tensor, torch)
    for y, ty in zip(ys, tys, strict=True):
        assert str(y.dtype) == _dt(ty)
        assert y.shape == tuple(ty.shape)
        np.testing.assert_allclose(_np(y), _np(ty), rtol=rtol, atol=atol)
    if not grad:
        return
    losses = []
    if cotangent:
        cs = [crand(*y.shape).astype(y.dtype) if y.dtype.kind == "c" else RNG.standard_normal(y.shape).astype(y.dtype)
              for y in ys]
        losses.append(("cotangent", cs))
    if real_loss is not None:
        losses.append(("real", None))
    for kind, cs in losses:
        ins, outs = run(Tensor, engine)
        tins, touts = run(torch.tensor, torch)
        if kind == "cotangent":
            grads = engine.autograd.grad(list(outs), ins, grad_outputs=[Tensor(c) for c in cs], allow_unused=True)
            tgrads = torch.autograd.grad(list(touts), tins, grad_outputs=[torch.tensor(c) for c in cs],
                                         allow_unused=True)
        else:
            grads = engine.autograd.grad(real_loss(engine, *outs), ins, allow_unused=True)
            tgrads = torch.autograd.grad(real_loss(torch, *touts), tins, allow_unused=True)
        for a, g, tg in zip(arrays, grads, tgrads, strict=True):
            assert tg is not None and g is not None
            assert str(g.dtype) == _dt(tg) == str(a.dtype)
            np.testing.assert_allclose(_np(g), _np(tg), rtol=rtol, atol=atol)


def _abs_sum(mod, *outs):
    return sum(o.abs().sum() for o in outs)


SHAPES = [(4, 4), (2, 3, 3)]


# ---- cholesky ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky(shape, upper):
    check(lambda m, a: m.linalg.cholesky(a, upper=upper), hpd(*shape), real_loss=_abs_sum)


@pytest.mark.parametrize("shape", SHAPES)
def test_cholesky_of_gram_matrix_chain(shape):
    """The gradient through A = X Xᴴ + nI (a Hermitian A, as torch's formula assumes)."""
    n = shape[-1]

    def fn(m, x):
        eye = m.eye(n, dtype=x.dtype)
        return m.linalg.cholesky(x @ x.mH + n * eye)

    check(fn, crand(*shape), real_loss=_abs_sum)


def test_cholesky_ex_and_complex64():
    a = hpd(3, 3, dtype=np.complex64)
    check(lambda m, a: m.linalg.cholesky_ex(a).L, a, rtol=1e-5, atol=1e-5, grad=False)
    out = engine.linalg.cholesky_ex(engine.tensor(-np.eye(2, dtype=np.complex128)))
    tout = torch.linalg.cholesky_ex(torch.tensor(-np.eye(2, dtype=np.complex128)))
    assert out.info.item() == tout.info.item() == 1
    np.testing.assert_allclose(out.L.numpy(), tout.L.numpy())


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_inverse_and_solve(upper):
    low = np.linalg.cholesky(hpd(2, 3, 3))
    fac = np.swapaxes(low, -1, -2).conj() if upper else low
    check(lambda m, f: m.cholesky_inverse(f, upper=upper), fac[0], real_loss=_abs_sum)
    check(lambda m, b, f: m.cholesky_solve(b, f, upper=upper), crand(2, 3, 2), fac, real_loss=_abs_sum)


def test_cholesky_not_positive_definite_raises_like_torch():
    a = np.array([[1, 2j], [-2j, 1]], dtype=np.complex128)
    with pytest.raises(RuntimeError) as theirs:
        torch.linalg.cholesky(torch.tensor(a))
    with pytest.raises(engine.linalg.LinAlgError) as ours:
        engine.linalg.cholesky(engine.tensor(a))
    assert str(ours.value) == str(theirs.value)


# ---- eigh -------------------------------------------------------------------------------------------------


def _eigh_invariant(m, a, uplo="L"):
    """Eigenvalues (real) and the projector onto the first two eigenvectors (phase-invariant)."""
    w, v = m.linalg.eigh(a, UPLO=uplo)
    p = v[..., :2] @ v[..., :2].mH
    return w, p


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh(shape, uplo):
    a = hermitian(*shape)
    w = engine.linalg.eigh(engine.tensor(a), UPLO=uplo).eigenvalues
    assert w.dtype == np.float64
    check(lambda m, a: _eigh_invariant(m, a, uplo), a, real_loss=_abs_sum, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("shape", SHAPES)
def test_eigvalsh(shape):
    check(lambda m, a: m.linalg.eigvalsh(a), hermitian(*shape), real_loss=lambda m, w: (w * w).sum())


def test_eigh_complex64_values():
    a = hermitian(2, 4, 4, dtype=np.complex64)
    w, tw = engine.linalg.eigvalsh(engine.tensor(a)), torch.linalg.eigvalsh(torch.tensor(a))
    assert w.dtype == np.float32 and str(tw.dtype) == "torch.float32"
    np.testing.assert_allclose(w.numpy(), tw.numpy(), rtol=1e-5, atol=1e-5)


def test_eigh_phase_dependent_loss_raises_like_torch():
    a = hermitian(3, 3)
    ta = torch.tensor(a, requires_grad=True)
    with pytest.raises(RuntimeError) as theirs:
        torch.linalg.eigh(ta).eigenvectors.sum().abs().backward()
    x = engine.tensor(a, requires_grad=True)
    with pytest.raises(RuntimeError) as ours:
        engine.linalg.eigh(x).eigenvectors.sum().abs().backward()
    assert str(ours.value) == str(theirs.value)


# ---- svd --------------------------------------------------------------------------------------------------


def _svd_invariant(m, a, full_matrices=False):
    u, s, vh = m.linalg.svd(a, full_matrices=full_matrices)
    k = s.shape[-1]
    return s, u[..., :k] @ vh[..., :k, :], u[..., :1] @ u[..., :1].mH


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 4, 3), (2, 3, 4)])
def test_svd(shape):
    check(_svd_invariant, crand(*shape), real_loss=_abs_sum, rtol=1e-9, atol=1e-10)


def test_svd_full_matrices_and_dtype():
    a = crand(5, 3)
    u, s, vh = engine.linalg.svd(engine.tensor(a))
    assert s.dtype == np.float64 and u.shape == (5, 5) and vh.shape == (3, 3)
    check(lambda m, a: _svd_invariant(m, a, True), a, real_loss=_abs_sum, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (2, 4, 3)])
def test_svdvals(shape):
    check(lambda m, a: m.linalg.svdvals(a), crand(*shape), real_loss=lambda m, s: s.sum())


def test_torch_svd_v_is_conjugate_transposed():
    a = crand(4, 3)
    check(lambda m, a: (lambda r: (r.S, r.U @ r.V.mH))(m.svd(a)), a, real_loss=_abs_sum, rtol=1e-9)


def test_svd_complex64_values():
    a = crand(2, 4, 3, dtype=np.complex64)
    check(lambda m, a: m.linalg.svdvals(a), a, rtol=1e-5, atol=1e-5, grad=False)


def test_svd_phase_dependent_loss_raises_like_torch():
    a = crand(3, 3)
    ta = torch.tensor(a, requires_grad=True)
    with pytest.raises(RuntimeError) as theirs:
        torch.linalg.svd(ta).U.sum().abs().backward()
    x = engine.tensor(a, requires_grad=True)
    with pytest.raises(RuntimeError) as ours:
        engine.linalg.svd(x).U.sum().abs().backward()
    assert str(ours.value) == str(theirs.value)


def test_svd_lowrank_reconstructs_complex():
    x = crand(6, 2) @ crand(2, 5)
    for a in (x, x.T.copy()):
        u, s, v = engine.svd_lowrank(engine.tensor(a), q=3)
        assert s.dtype == np.float64 and u.dtype == np.complex128
        np.testing.assert_allclose(((u * s.to(u.dtype)) @ v.mH).numpy(), a, atol=1e-10)
        np.testing.assert_allclose(s.numpy()[:2], np.linalg.svd(a, compute_uv=False)[:2], rtol=1e-10)
    _, s, _ = engine.pca_lowrank(engine.tensor(x), q=2)
    assert s.dtype == np.float64


# ---- qr, geqrf, householder_product, ormqr ---------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 4, 3), (2, 3, 4)])
def test_qr(shape):
    check(lambda m, a: tuple(m.linalg.qr(a)), crand(*shape), real_loss=_abs_sum)


def test_qr_complete_wide_and_complex64():
    check(lambda m, a: tuple(m.linalg.qr(a, mode="complete")), crand(3, 5), real_loss=_abs_sum)
    check(lambda m, a: tuple(m.linalg.qr(a)), crand(4, 3, dtype=np.complex64), rtol=1e-5, atol=1e-5, grad=False)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 3)])
def test_geqrf_values(shape):
    check(lambda m, a: tuple(m.geqrf(a)), crand(*shape), grad=False)


@pytest.mark.parametrize("shape,k", [((4, 3), 3), ((2, 5, 3), 2)])
def test_householder_product(shape, k):
    a, tau = crand(*shape), crand(*shape[:-2], k)
    check(lambda m, a, t: m.linalg.householder_product(a, t), a, tau, real_loss=_abs_sum)


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("transpose", [False, True])
def test_ormqr(left, transpose):
    a, tau = (x.numpy() for x in torch.geqrf(torch.tensor(crand(4, 3))))
    c = crand(4, 2) if left else crand(2, 4)
    check(lambda m, a, t, c: m.ormqr(a, t, c, left=left, transpose=transpose), a, tau, c, real_loss=_abs_sum)


# ---- ldl --------------------------------------------------------------------------------------------------


def _indefinite(n, herm, dtype):
    x = crand(n, n)
    x[np.diag_indices(n)] *= 0.01  # small diagonal: 2x2 pivots and interchanges
    return ((x + (x.conj().T if herm else x.T)) / 2).astype(dtype)


@pytest.mark.parametrize("herm", [False, True])
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("n", [1, 4, 7])
def test_ldl_factor_and_solve(herm, dtype, n):
    a = _indefinite(n, herm, dtype)
    b = crand(n, 2, dtype=dtype)
    tol = 1e-10 if dtype == np.complex128 else 1e-4
    ours, theirs = engine.linalg.ldl_factor_ex(engine.tensor(a), hermitian=herm), \
        torch.linalg.ldl_factor_ex(torch.tensor(a), hermitian=herm)
    np.testing.assert_array_equal(ours.pivots.numpy(), theirs.pivots.numpy())
    assert ours.info.item() == theirs.info.item()
    assert ours.LD.dtype == dtype
    np.testing.assert_allclose(ours.LD.numpy(), theirs.LD.numpy(), rtol=tol, atol=tol)
    x = engine.linalg.ldl_solve(ours.LD, ours.pivots, engine.tensor(b), hermitian=herm)
    tx = torch.linalg.ldl_solve(theirs.LD, theirs.pivots, torch.tensor(b), hermitian=herm)
    np.testing.assert_allclose(x.numpy(), tx.numpy(), rtol=tol, atol=tol)


def test_ldl_batched_and_pivots_with_2x2_blocks():
    a = np.stack([_indefinite(5, True, np.complex128) for _ in range(3)])
    ours = engine.linalg.ldl_factor(engine.tensor(a), hermitian=True)
    theirs = torch.linalg.ldl_factor(torch.tensor(a), hermitian=True)
    assert (theirs.pivots < 0).any()  # the test reaches ?hetf2's 2x2 blocks
    np.testing.assert_array_equal(ours.pivots.numpy(), theirs.pivots.numpy())
    np.testing.assert_allclose(ours.LD.numpy(), theirs.LD.numpy(), rtol=1e-10, atol=1e-12)


def test_ldl_solve_dtype_mismatch_raises_like_torch():
    ld, piv = torch.linalg.ldl_factor(torch.tensor(hpd(3, 3)))
    b = np.ones((3, 1))
    with pytest.raises(RuntimeError) as theirs:
        torch.linalg.ldl_solve(ld, piv, torch.tensor(b))
    with pytest.raises(RuntimeError) as ours:
        engine.linalg.ldl_solve(engine.tensor(ld.numpy()), engine.tensor(piv.numpy()), engine.tensor(b))
    assert str(ours.value) == str(theirs.value)


# ---- matrix_norm ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ord", ["fro", "nuc", 2, -2, math.inf, -math.inf, 1, -1])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 4)])
def test_matrix_norm(ord, shape):  # noqa: A002
    check(lambda m, a: m.linalg.matrix_norm(a, ord), crand(*shape), real_loss=lambda m, r: r.sum(), rtol=1e-9)


@pytest.mark.parametrize("ord", ["fro", "nuc", 2, math.inf])
def test_matrix_norm_complex64_keepdim_dims(ord):  # noqa: A002
    a = crand(3, 2, 4, dtype=np.complex64)
    check(lambda m, a: m.linalg.matrix_norm(a, ord, dim=(0, 2), keepdim=True), a, rtol=1e-5, atol=1e-5,
          grad=False)
    check(lambda m, a: m.linalg.norm(a, ord, dim=(2, 0)), a, rtol=1e-5, atol=1e-5, grad=False)


def test_matrix_norm_of_empty_complex_is_real():
    a = np.zeros((3, 0), dtype=np.complex128)
    for ord in (2, math.inf):
        r, tr = engine.linalg.matrix_norm(engine.tensor(a), ord), torch.linalg.matrix_norm(torch.tensor(a), ord)
        assert str(r.dtype) == _dt(tr) == "float64" and r.item() == tr.item()
