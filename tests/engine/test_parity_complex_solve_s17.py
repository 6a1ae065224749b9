"""Complex inverse, solves, determinants, LU, pseudo-inverse, least squares and matrix_exp against torch:
values, dtypes and gradients in torch's convention (z.grad = dL/dRe z + i dL/dIm z) through
torch.autograd.grad, for random complex cotangents and real losses, batched and unbatched; LU's pivots
(LAPACK's |Re| + |Im|), singular inputs and torch's errors."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(17)


def crand(*shape, dtype=np.complex128):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(dtype)


def well(*shape, dtype=np.complex128):
    """Random square complex matrices, kept away from singular (a multiple of I added)."""
    return (crand(*shape) + 3 * np.eye(shape[-1])).astype(dtype)


def _np(x):
    return x.detach().resolve_conj().resolve_neg().numpy() if isinstance(x, torch.Tensor) else x.numpy()


def _mod(x):
    return engine if isinstance(x, Tensor) else torch


def check(fn, *arrays, cotangent=True, real_loss=None, rtol=1e-10, atol=1e-12):
    """fn on engine and on torch tensors made from ``arrays`` (all requiring grad): output values, dtype and
    shape, then every input's gradient against torch.autograd.grad, for a random cotangent of the output's
    dtype and for ``real_loss`` (a function of the output)."""
    ours = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    y, ty = fn(*ours), fn(*theirs)
    assert str(y.dtype) == str(ty.dtype).replace("torch.", "")
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(_np(y), _np(ty), rtol=rtol, atol=atol)
    losses = []
    if cotangent:
        c = (crand(*y.shape) if y.dtype.kind == "c" else RNG.standard_normal(y.shape)).astype(y.dtype)
        losses.append((lambda out, c=c: (out, Tensor(c)), lambda out, c=c: (out, torch.tensor(c))))
    if real_loss is not None:
        losses.append((lambda out: (real_loss(out), None), lambda out: (real_loss(out), None)))
    for ours_loss, theirs_loss in losses:
        ours = [Tensor(a.copy(), requires_grad=True) for a in arrays]
        theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
        out, g = ours_loss(fn(*ours))
        tout, tg = theirs_loss(fn(*theirs))
        grads = engine.autograd.grad(out, ours, grad_outputs=g, allow_unused=True)
        tgrads = torch.autograd.grad(tout, theirs, grad_outputs=tg, allow_unused=True)
        for a, gr, tgr in zip(arrays, grads, tgrads):
            assert gr is not None and tgr is not None
            assert str(gr.dtype) == str(tgr.dtype).replace("torch.", "") == str(a.dtype)
            np.testing.assert_allclose(_np(gr), _np(tgr), rtol=rtol, atol=atol)


def abs_sum(out):
    return out.abs().sum()


BATCHES = [(), (2,)]


# ---- inverse, solves, determinants --------------------------------------------------------------------


@pytest.mark.parametrize("batch", BATCHES)
def test_inv(batch):
    check(lambda a: _mod(a).linalg.inv(a), well(*batch, 4, 4), real_loss=abs_sum)
    check(lambda a: _mod(a).linalg.inv_ex(a).inverse, well(*batch, 3, 3), real_loss=abs_sum)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("left", [True, False])
def test_solve(batch, left):
    b = crand(*batch, 4, 2) if left else crand(*batch, 2, 4)
    check(lambda a, b: _mod(a).linalg.solve(a, b, left=left), well(*batch, 4, 4), b, real_loss=abs_sum)
    check(lambda a, b: _mod(a).linalg.solve_ex(a, b, left=left).result, well(*batch, 4, 4), b, real_loss=abs_sum)


def test_solve_vector_and_broadcast():
    check(lambda a, b: _mod(a).linalg.solve(a, b), well(3, 3), crand(3), real_loss=abs_sum)
    check(lambda a, b: _mod(a).linalg.solve(a, b), well(2, 3, 3), crand(3, 1), real_loss=abs_sum)


@pytest.mark.parametrize("upper", [True, False])
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("unitriangular", [True, False])
def test_solve_triangular(upper, left, unitriangular):
    b = crand(2, 3, 2) if left else crand(2, 2, 3)
    check(lambda a, b: _mod(a).linalg.solve_triangular(a, b, upper=upper, left=left, unitriangular=unitriangular),
          well(2, 3, 3), b, real_loss=abs_sum)


@pytest.mark.filterwarnings("ignore:torch.triangular_solve is deprecated")
@pytest.mark.parametrize("transpose", [True, False])
@pytest.mark.parametrize("upper", [True, False])
def test_triangular_solve(transpose, upper):
    check(lambda b, a: _mod(a).triangular_solve(b, a, upper=upper, transpose=transpose).solution,
          crand(3, 2), well(3, 3), real_loss=abs_sum)


@pytest.mark.parametrize("batch", BATCHES)
def test_det(batch):
    check(lambda a: _mod(a).linalg.det(a), crand(*batch, 4, 4), real_loss=abs_sum)
    check(lambda a: _mod(a).linalg.det(a), crand(*batch, 1, 1), real_loss=abs_sum)


def test_det_singular_gradient():
    """det at a complex matrix of rank n-1: the gradient is the (nonzero) conjugate adjugate, as torch's."""
    a = crand(4, 3) @ crand(3, 4)
    check(lambda a: _mod(a).linalg.det(a), a, real_loss=lambda d: (d * d.conj()).real + d.real, atol=1e-10)


@pytest.mark.parametrize("batch", BATCHES)
def test_slogdet(batch):
    a = crand(*batch, 4, 4)
    check(lambda a: _mod(a).linalg.slogdet(a).sign, a, real_loss=lambda s: s.real.sum() + 2 * s.imag.sum())
    check(lambda a: _mod(a).linalg.slogdet(a).logabsdet, a, real_loss=lambda x: (x * x).sum())
    # both outputs in one loss
    check(lambda a: _mod(a).linalg.slogdet(a).sign * _mod(a).linalg.slogdet(a).logabsdet, a, real_loss=abs_sum)


def test_slogdet_dtypes():
    for dtype in (np.complex128, np.complex64):
        s = engine.linalg.slogdet(Tensor(crand(3, 3, dtype=dtype)))
        t = torch.linalg.slogdet(torch.tensor(crand(3, 3, dtype=dtype)))
        assert (str(s.sign.dtype), str(s.logabsdet.dtype)) == tuple(str(x.dtype)[6:] for x in t)


@pytest.mark.parametrize("batch", BATCHES)
def test_logdet(batch):
    check(lambda a: _mod(a).logdet(a), crand(*batch, 3, 3), real_loss=abs_sum)


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log")
def test_logdet_and_slogdet_singular_values():
    a = np.array([[1, 2j], [1j, -2]])
    s, t = engine.linalg.slogdet(Tensor(a)), torch.linalg.slogdet(torch.tensor(a))
    assert s.sign.item() == t.sign.item() == 0
    assert s.logabsdet.item() == t.logabsdet.item() == -np.inf
    assert engine.logdet(Tensor(a)).real.item() == -np.inf


@pytest.mark.parametrize("n", [-3, -1, 2, 3])
def test_matrix_power(n):
    check(lambda a: _mod(a).linalg.matrix_power(a, n), well(2, 3, 3), real_loss=abs_sum, rtol=1e-9)


def test_tensorinv_tensorsolve():
    check(lambda a: _mod(a).linalg.tensorinv(a, ind=2), well(6, 6).reshape(2, 3, 6), real_loss=abs_sum)
    check(lambda a, b: _mod(a).linalg.tensorsolve(a, b), well(6, 6).reshape(2, 3, 6), crand(2, 3),
          real_loss=abs_sum)


@pytest.mark.parametrize("batch", BATCHES)
def test_matrix_exp(batch):
    a = crand(*batch, 4, 4)
    check(lambda a: _mod(a).linalg.matrix_exp(a), a, real_loss=abs_sum, rtol=1e-9)
    check(lambda a: _mod(a).linalg.matrix_exp(a), 3 * a, real_loss=abs_sum, rtol=1e-9)  # with squarings


# ---- LU -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 5), (5, 3)])
def test_lu_factor(shape):
    a = crand(*shape)
    ours, theirs = engine.linalg.lu_factor(Tensor(a)), torch.linalg.lu_factor(torch.tensor(a))
    np.testing.assert_array_equal(ours.pivots.numpy(), theirs.pivots.numpy())
    check(lambda a: _mod(a).linalg.lu_factor(a).LU, a, real_loss=abs_sum, rtol=1e-9)
    check(lambda a: _mod(a).linalg.lu_factor_ex(a).LU, a)


@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 5), (5, 3)])
def test_lu(shape):
    a = crand(*shape)
    ours, theirs = engine.linalg.lu(Tensor(a)), torch.linalg.lu(torch.tensor(a))
    assert str(ours.P.dtype) == str(theirs.P.dtype)[6:]
    np.testing.assert_array_equal(ours.P.numpy(), theirs.P.numpy())
    check(lambda a: _mod(a).linalg.lu(a).L, a, real_loss=abs_sum, rtol=1e-9)
    check(lambda a: _mod(a).linalg.lu(a).U, a, real_loss=abs_sum, rtol=1e-9)


def test_lu_pivots_by_cabs1():
    """LAPACK's zgetrf pivots on |Re| + |Im|: 1+1j (|z| 1.41, cabs1 2) beats 1.9 (|z| 1.9), as torch."""
    a = np.array([[1 + 1j, 0.1, 0.3], [1.9, 2, 1], [0.2j, 1, 3]])
    for fn in (lambda m: m.linalg.lu_factor, lambda m: m.linalg.lu_factor_ex):
        ours, theirs = fn(engine)(Tensor(a)), fn(torch)(torch.tensor(a))
        assert ours.pivots.tolist() == theirs.pivots.tolist() == [1, 2, 3]
        np.testing.assert_allclose(ours.LU.numpy(), theirs.LU.numpy(), rtol=1e-12)
    i1, i2 = engine.linalg.inv_ex(Tensor(a)), torch.linalg.inv_ex(torch.tensor(a))
    np.testing.assert_allclose(i1.inverse.numpy(), i2.inverse.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("adjoint", [True, False])
@pytest.mark.parametrize("left", [True, False])
def test_lu_solve(adjoint, left):
    a = crand(2, 3, 3)
    lu, piv = torch.linalg.lu_factor(torch.tensor(a))
    lu = lu.numpy()
    ours_piv, theirs_piv = Tensor(piv.numpy()), piv
    b = crand(2, 3, 2) if left else crand(2, 2, 3)

    def fn(lu, b):
        p = ours_piv if isinstance(lu, Tensor) else theirs_piv
        return _mod(lu).linalg.lu_solve(lu, p, b, left=left, adjoint=adjoint)

    check(fn, lu, b, real_loss=abs_sum, rtol=1e-9)


@pytest.mark.filterwarnings("ignore:torch.lu_solve is deprecated")
def test_torch_lu_solve():
    a, b = crand(3, 3), crand(3, 2)
    lu, piv = torch.linalg.lu_factor(torch.tensor(a))
    ours = engine.lu_solve(Tensor(b), Tensor(lu.numpy()), Tensor(piv.numpy()))
    np.testing.assert_allclose(ours.numpy(), torch.lu_solve(torch.tensor(b), lu, piv).numpy(), rtol=1e-10)


def test_singular_inv_ex_solve_ex():
    """A zero pivot: info as torch's, and the complex result nan+nanj as LAPACK's (BLAS divides by 1/0)."""
    for a in (np.array([[1, 2j], [1j, -2]]), np.zeros((2, 2), complex), np.array([[0, 1j, 0], [0, 2, 0], [0, 0, 1]])):
        ours, theirs = engine.linalg.inv_ex(Tensor(a)), torch.linalg.inv_ex(torch.tensor(a))
        assert ours.info.tolist() == theirs.info.tolist() != 0
        np.testing.assert_array_equal(ours.inverse.numpy(), theirs.inverse.numpy())
        b = crand(a.shape[0], 2)
        ours, theirs = engine.linalg.solve_ex(Tensor(a), Tensor(b)), torch.linalg.solve_ex(torch.tensor(a),
                                                                                          torch.tensor(b))
        np.testing.assert_array_equal(ours.result.numpy(), theirs.result.numpy())
    with pytest.raises(engine.linalg.LinAlgError, match="linalg.inv: The diagonal element 2 is zero"):
        engine.linalg.inv(Tensor(np.array([[1, 2j], [1j, -2]])))


# ---- pinv, lstsq, matrix_rank -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (2, 4, 4)])
def test_pinv(shape):
    check(lambda a: _mod(a).linalg.pinv(a), crand(*shape), real_loss=abs_sum, rtol=1e-9)
    check(lambda a: _mod(a).pinverse(a), crand(*shape), real_loss=abs_sum, rtol=1e-9)


def test_pinv_rank_deficient_and_hermitian():
    low = crand(2, 4, 2) @ crand(2, 2, 5)  # rank 2
    check(lambda a: _mod(a).linalg.pinv(a), low, real_loss=abs_sum, rtol=1e-8, atol=1e-10)
    check(lambda a: _mod(a).linalg.pinv(a + a.mH, hermitian=True), crand(2, 4, 4), real_loss=abs_sum, rtol=1e-9)


@pytest.mark.parametrize("driver", ["gels", "gelsy", "gelsd", "gelss"])
@pytest.mark.parametrize("shape", [(5, 3), (3, 5)])
def test_lstsq(driver, shape):
    m = shape[0]
    check(lambda a, b: _mod(a).linalg.lstsq(a, b, driver=driver).solution, crand(*shape), crand(m, 2),
          real_loss=abs_sum, rtol=1e-9)
    a, b = crand(2, *shape), crand(2, m, 2)
    ours, theirs = engine.linalg.lstsq(Tensor(a), Tensor(b), driver=driver), \
        torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
    for o, t in zip(ours, theirs):
        assert (str(o.dtype), o.shape) == (str(t.dtype)[6:], tuple(t.shape))
        np.testing.assert_allclose(o.numpy(), _np(t), rtol=1e-9, atol=1e-12)


def test_lstsq_residuals_gradient():
    check(lambda a, b: _mod(a).linalg.lstsq(a, b, driver="gelsd").residuals, crand(5, 3), crand(5, 2),
          real_loss=lambda r: r.sum(), rtol=1e-9)


@pytest.mark.parametrize("hermitian", [False, True])
def test_matrix_rank(hermitian):
    low = crand(3, 4, 2) @ crand(3, 2, 4)
    a = low + np.swapaxes(low, -1, -2).conj() if hermitian else low
    a[1] = crand(4, 4)  # full rank
    a[2] = 0
    ours = engine.linalg.matrix_rank(Tensor(a), hermitian=hermitian)
    theirs = torch.linalg.matrix_rank(torch.tensor(a), hermitian=hermitian)
    assert ours.tolist() == theirs.tolist() and str(ours.dtype) == "int64"
    for atol, rtol in ((1e-3, None), (None, 0.5), (1.0, 0.1)):
        ours = engine.linalg.matrix_rank(Tensor(a), atol=atol, rtol=rtol, hermitian=hermitian)
        assert ours.tolist() == torch.linalg.matrix_rank(torch.tensor(a), atol=atol, rtol=rtol,
                                                         hermitian=hermitian).tolist()


# ---- complex64 values ---------------------------------------------------------------------------------


C64 = [
    lambda a, b: _mod(a).linalg.inv(a),
    lambda a, b: _mod(a).linalg.solve(a, b),
    lambda a, b: _mod(a).linalg.det(a),
    lambda a, b: _mod(a).linalg.slogdet(a).sign,
    lambda a, b: _mod(a).linalg.slogdet(a).logabsdet,
    lambda a, b: _mod(a).logdet(a),
    lambda a, b: _mod(a).linalg.matrix_power(a, -2),
    lambda a, b: _mod(a).linalg.matrix_exp(a),
    lambda a, b: _mod(a).linalg.lu_factor(a).LU,
    lambda a, b: _mod(a).linalg.pinv(a),
    lambda a, b: _mod(a).linalg.lstsq(a, b).solution,
    lambda a, b: _mod(a).linalg.solve_triangular(a, b, upper=True),
]


@pytest.mark.parametrize("k", range(len(C64)))
def test_complex64_values(k):
    a, b = well(2, 4, 4, dtype=np.complex64), crand(2, 4, 3, dtype=np.complex64)
    y, ty = C64[k](Tensor(a), Tensor(b)), C64[k](torch.tensor(a), torch.tensor(b))
    assert str(y.dtype) == str(ty.dtype)[6:]
    np.testing.assert_allclose(y.numpy(), _np(ty), rtol=2e-5, atol=2e-5)


# ---- errors -------------------------------------------------------------------------------------------


def _raises_like(fn, *arrays):
    with pytest.raises(Exception) as theirs:
        fn(*[torch.tensor(a) for a in arrays])
    with pytest.raises(type(theirs.value).__mro__[1] if "LinAlg" in type(theirs.value).__name__
                       else type(theirs.value)) as ours:
        fn(*[Tensor(a) for a in arrays])
    return str(ours.value), str(theirs.value)


def test_errors():
    ints = np.ones((2, 2), dtype=np.int64)
    for name in ("inv", "det", "slogdet", "matrix_exp", "inv_ex"):
        ours, theirs = _raises_like(lambda a, name=name: getattr(_mod(a).linalg, name)(a), ints)
        assert ours.replace("int64", "Long") == theirs
    ours, theirs = _raises_like(lambda a, b: _mod(a).linalg.solve(a, b), crand(3, 3), crand(3, 2).real.copy())
    assert "Expected A and B to have the same dtype" in ours and "Expected A and B to have the same dtype" in theirs
    ours, theirs = _raises_like(lambda a: _mod(a).linalg.inv(a), crand(2, 3))
    assert "must be batches of square matrices" in ours and "must be batches of square matrices" in theirs
    ours, theirs = _raises_like(lambda a: _mod(a).linalg.pinv(a), ints)
    assert ours.replace("int64[2, 2]", "Long{[2, 2]}") == theirs
    ours, theirs = _raises_like(lambda a: _mod(a).linalg.matrix_rank(a), ints)
    assert ours == theirs
    ours, theirs = _raises_like(lambda a: _mod(a).linalg.pinv(a, hermitian=True), crand(2, 3))
    assert "square" in ours and "square" in theirs
