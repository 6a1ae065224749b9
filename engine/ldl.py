"""torch.linalg.ldl_factor / ldl_factor_ex / ldl_solve for symmetric (batched) matrices, real or complex:
LAPACK's Bunch-Kaufman factorization ``P A Pᵀ = L D Lᵀ`` (?sytf2, the unblocked ?sytrf that LAPACK runs for
the matrices smaller than its block, lower triangle; complex ``hermitian=True``: ?hetf2, ``P A Pᵀ = L D Lᴴ``)
and its solve (?sytrs / ?hetrs), in NumPy, in the input's dtype.

The output is LAPACK's (and torch's) compact form: D's 1x1 and 2x2 blocks on the diagonal and first
subdiagonal, L's multipliers below them (its unit diagonal implicit), the strict upper triangle zero;
pivots are 1-based int32, ``k`` for a 1x1 block whose rows k and ``pivots[k]`` were swapped, and the
same negative ``-p`` twice for a 2x2 block (rows k + 1 and p swapped). Neither has a derivative in torch:
backward through them raises its RuntimeError.

>>> import engine
>>> A = engine.tensor([[0.0, 1.0], [1.0, 0.0]])
>>> LD, pivots = engine.linalg.ldl_factor(A)
>>> pivots.tolist()
[-2, -2]
>>> engine.linalg.ldl_solve(LD, pivots, engine.tensor([[2.0], [3.0]])).tolist()
[[3.0], [2.0]]
"""

from __future__ import annotations

import math
import types

import numpy as np

from engine.backend import array_module
from engine.dtypes import scalar_type_name
from engine.function import Function
from engine.tensor import Tensor
from engine.torch_more import _make

_ALPHA = (1.0 + 17.0 ** 0.5) / 8.0  # Bunch-Kaufman's threshold: bounds the growth of the entries of L


def _cabs1(z):
    """LAPACK's CABS1 (|Re z| + |Im z|: what izamax maximizes for complex); abs for real."""
    return np.abs(z.real) + np.abs(z.imag) if np.iscomplexobj(z) else np.abs(z)


def _dlapy2(x, y):
    """LAPACK's dlapy2: sqrt(x² + y²) without overflow, in its rounding."""
    w, z = max(abs(x), abs(y)), min(abs(x), abs(y))
    return w if z == 0 else w * np.sqrt(1 + (z / w) ** 2)


def sytf2_lower(a: np.ndarray, hermitian: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """LAPACK ?sytf2 (complex ``hermitian``: ?hetf2, A = L D Lᴴ) with uplo='L' on one symmetric (Hermitian)
    matrix (its lower triangle is read): (LD with the strict upper triangle zeroed, 1-based pivots, info: the
    1-based index of the first zero pivot block, else 0). Complex pivots are chosen by CABS1, as LAPACK's.

    >>> ld, piv, info = sytf2_lower(np.array([[4.0, 2.0], [2.0, 3.0]]))
    >>> ld.tolist(), piv.tolist(), info
    ([[4.0, 0.0], [0.5, 2.0]], [1, 2], 0)
    """
    a = np.tril(a).astype(a.dtype, copy=True)
    n = a.shape[0]
    dt = a.dtype.type
    herm = hermitian and a.dtype.kind == "c"
    rdt = a.real.dtype.type
    alpha = rdt(_ALPHA)
    ipiv = np.zeros(n, dtype=np.int32)
    info = 0
    k = 0

    def absdiag(z):  # ?hetf2 reads the (real) diagonal's |Re|
        return abs(z.real) if herm else _cabs1(z)

    while k < n:
        kstep = 1
        absakk = absdiag(a[k, k])
        if k < n - 1:
            imax = k + 1 + int(np.argmax(_cabs1(a[k + 1:, k])))
            colmax = _cabs1(a[imax, k])
        else:
            imax, colmax = k, rdt(0)
        if max(absakk, colmax) == 0 or np.isnan(absakk):
            info = info or k + 1  # a zero column: D's block is zero, nothing is eliminated
            kp = k
            if herm:
                a[k, k] = a[k, k].real
        else:
            if absakk >= alpha * colmax:
                kp = k
            else:
                # the largest off-diagonal entry of row/column imax (row imax left of it, column imax below)
                jmax = k + int(np.argmax(_cabs1(a[imax, k:imax])))
                rowmax = _cabs1(a[imax, jmax])
                if imax < n - 1:
                    jmax = imax + 1 + int(np.argmax(_cabs1(a[imax + 1:, imax])))
                    rowmax = max(rowmax, _cabs1(a[jmax, imax]))
                if absakk >= alpha * colmax * (colmax / rowmax):
                    kp = k
                elif absdiag(a[imax, imax]) >= alpha * rowmax:
                    kp = imax
                else:
                    kp, kstep = imax, 2
            kk = k + kstep - 1
            if kp != kk:  # swap rows and columns kk and kp of the trailing lower triangle
                a[kp + 1:, kk], a[kp + 1:, kp] = a[kp + 1:, kp].copy(), a[kp + 1:, kk].copy()
                if herm:  # the entries between cross the diagonal: conjugated
                    a[kk + 1:kp, kk], a[kp, kk + 1:kp] = a[kp, kk + 1:kp].conj(), a[kk + 1:kp, kk].conj()
                    a[kp, kk] = a[kp, kk].conj()
                    a[kk, kk], a[kp, kp] = a[kp, kp].real, a[kk, kk].real
                else:
                    a[kk + 1:kp, kk], a[kp, kk + 1:kp] = a[kp, kk + 1:kp].copy(), a[kk + 1:kp, kk].copy()
                    a[kk, kk], a[kp, kp] = a[kp, kp], a[kk, kk]
                if kstep == 2:
                    if herm:
                        a[k, k] = a[k, k].real
                    a[k + 1, k], a[kp, k] = a[kp, k], a[k + 1, k]
            elif herm:
                a[k, k] = a[k, k].real
                if kstep == 2:
                    a[k + 1, k + 1] = a[k + 1, k + 1].real
            if kstep == 1:
                if k < n - 1 and herm:  # zher: A -= x (1/D) xᴴ with a real diagonal, then L's column
                    r1 = rdt(1) / a[k, k].real
                    x = a[k + 1:, k].copy()
                    upd = np.outer(x, -r1 * x.conj())
                    sub = a[k + 1:, k + 1:] + np.tril(upd, -1)
                    np.fill_diagonal(sub, np.diagonal(a[k + 1:, k + 1:]).real + np.diagonal(upd).real)
                    a[k + 1:, k + 1:] = sub
                    a[k + 1:, k] = x * r1
                elif k < n - 1:  # rank-1 update of the trailing lower triangle (?syr), then L's column
                    d11 = dt(1) / a[k, k]
                    x = a[k + 1:, k].copy()
                    a[k + 1:, k + 1:] += np.tril(np.outer(x, -d11 * x))
                    a[k + 1:, k] = x * d11
            elif k < n - 2:  # rank-2 update with the inverse of the 2x2 block
                ck, ck1 = a[k + 2:, k].copy(), a[k + 2:, k + 1].copy()
                if herm:
                    d = _dlapy2(a[k + 1, k].real, a[k + 1, k].imag)
                    d11 = a[k + 1, k + 1].real / d
                    d22 = a[k, k].real / d
                    tt = rdt(1) / (d11 * d22 - rdt(1))
                    d21 = a[k + 1, k] / d
                    d = tt / d
                    wk = d * (d11 * ck - d21 * ck1)
                    wkp1 = d * (d22 * ck1 - d21.conj() * ck)
                    upd = a[k + 2:, k + 2:] - np.outer(ck, wk.conj()) - np.outer(ck1, wkp1.conj())
                    np.fill_diagonal(upd, np.diagonal(upd).real)
                else:
                    d21 = a[k + 1, k]
                    d11 = a[k + 1, k + 1] / d21
                    d22 = a[k, k] / d21
                    t = dt(1) / (d11 * d22 - dt(1))
                    d21 = t / d21
                    wk = d21 * (d11 * ck - ck1)
                    wkp1 = d21 * (d22 * ck1 - ck)
                    upd = a[k + 2:, k + 2:] - np.outer(ck, wk) - np.outer(ck1, wkp1)
                a[k + 2:, k + 2:] = np.where(np.tri(n - k - 2, dtype=bool), upd, a[k + 2:, k + 2:])
                a[k + 2:, k], a[k + 2:, k + 1] = wk, wkp1
        if kstep == 1:
            ipiv[k] = kp + 1
        else:
            ipiv[k] = ipiv[k + 1] = -(kp + 1)
        k += kstep
    return a, ipiv, info


def sytrs_lower(ld: np.ndarray, ipiv: np.ndarray, b: np.ndarray, hermitian: bool = False) -> np.ndarray:
    """LAPACK ?sytrs (complex ``hermitian``: ?hetrs) with uplo='L': X with A X = B from sytf2_lower's
    (LD, pivots); B is (n, nrhs).

    >>> ld, piv, _ = sytf2_lower(np.array([[4.0, 2.0], [2.0, 3.0]]))
    >>> sytrs_lower(ld, piv, np.array([[6.0], [5.0]])).tolist()
    [[1.0], [1.0]]
    """
    b = b.copy()
    n = ld.shape[0]
    dt = ld.dtype.type
    herm = hermitian and ld.dtype.kind == "c"
    k = 0
    while k < n:  # L D X = B
        if ipiv[k] > 0:
            kp = ipiv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            if k < n - 1:
                b[k + 1:] -= np.outer(ld[k + 1:, k], b[k])
            if herm:
                b[k] *= ld.real.dtype.type(1) / ld[k, k].real
            else:
                b[k] *= dt(1) / ld[k, k]
            k += 1
        else:
            kp = -ipiv[k] - 1
            if kp != k + 1:
                b[[k + 1, kp]] = b[[kp, k + 1]]
            if k < n - 2:
                b[k + 2:] -= np.outer(ld[k + 2:, k], b[k])
                b[k + 2:] -= np.outer(ld[k + 2:, k + 1], b[k + 1])
            akm1k = ld[k + 1, k]
            akm1k_c = akm1k.conj() if herm else akm1k  # ?hetrs: D's upper entry is conj(akm1k)
            akm1 = ld[k, k] / akm1k_c
            ak = ld[k + 1, k + 1] / akm1k
            denom = akm1 * ak - dt(1)
            bkm1, bk = b[k] / akm1k_c, b[k + 1] / akm1k
            b[k], b[k + 1] = (ak * bkm1 - bk) / denom, (akm1 * bk - bkm1) / denom
            k += 2
    ldc = ld.conj() if herm else ld  # Lᴴ X = B: L's entries conjugated (?hetrs' ?gemv 'C')

    def dot(x, rows):  # x · rows, summed in order (reference BLAS's ?gemv: LAPACK's rounding, not a SIMD sum's)
        acc = np.zeros(b.shape[1], dtype=b.dtype)
        for xi, row in zip(x, rows):
            acc += xi * row
        return acc

    k = n - 1
    while k >= 0:  # Lᵀ X = B (Lᴴ: hermitian)
        if ipiv[k] > 0:
            if k < n - 1:
                b[k] -= dot(ldc[k + 1:, k], b[k + 1:])
            kp = ipiv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            k -= 1
        else:
            if k < n - 1:
                b[k] -= dot(ldc[k + 1:, k], b[k + 1:])
                b[k - 1] -= dot(ldc[k + 1:, k - 1], b[k + 1:])
            kp = -ipiv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            k -= 2
    return b


def _host(a) -> np.ndarray:
    return a.get() if hasattr(a, "get") else np.asarray(a)




class _LDLFactor(Function):
    """LD (computed by the caller, ``ld``) as an op of A: no derivative (torch's RuntimeError at backward)."""

    def forward(self, a, ld=None):
        return ld

    def backward(self, g):
        raise RuntimeError("derivative for aten::linalg_ldl_factor_ex is not implemented")


def _factor(a, hermitian: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sytf2_lower over the batch of ``a`` (..., n, n): (LD, pivots, info)."""
    host = _host(a)
    flat = host.reshape((math.prod(host.shape[:-2]),) + host.shape[-2:])
    out = np.zeros_like(flat)
    piv = np.zeros(flat.shape[:2], dtype=np.int32)
    info = np.zeros(flat.shape[0], dtype=np.int32)
    for i, m in enumerate(flat):
        out[i], piv[i], info[i] = sytf2_lower(m, hermitian)
    return out.reshape(host.shape), piv.reshape(host.shape[:-1]), info.reshape(host.shape[:-2])


class _LDLSolve(Function):
    """sytrs_lower per matrix, LD and pivots broadcast against B's batch; no derivative (torch's error)."""

    def forward(self, ld, b, pivots=None, hermitian=False):
        xp = array_module(b)
        ld, b, piv = _host(ld), _host(b), _host(pivots)
        batch = np.broadcast_shapes(ld.shape[:-2], b.shape[:-2])
        count = math.prod(batch)
        ld = np.broadcast_to(ld, batch + ld.shape[-2:]).reshape((count,) + ld.shape[-2:])
        piv = np.broadcast_to(piv, batch + piv.shape[-1:]).reshape((count,) + piv.shape[-1:])
        bb = np.broadcast_to(b, batch + b.shape[-2:]).reshape((count,) + b.shape[-2:])
        out = np.stack([sytrs_lower(ld[i], piv[i], bb[i], hermitian) for i in range(bb.shape[0])]) if bb.shape[0] else \
            np.zeros(bb.shape, dtype=b.dtype)
        return xp.asarray(out.reshape(batch + b.shape[-2:]))

    def backward(self, g):
        raise RuntimeError("derivative for aten::linalg_ldl_solve is not implemented")


def _check_square(op: str, A: Tensor) -> None:  # noqa: N803
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}(): argument 'A' (position 1) must be Tensor, not {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError(f"torch.{op}: The input tensor A must have at least 2 dimensions.")
    if A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"torch.{op}: A must be batches of square matrices, but they are {A.shape[-2]} by "
                           f"{A.shape[-1]} matrices")
    if A.dtype.kind not in "fc":
        raise RuntimeError(f"torch.{op}: Expected a floating point or complex tensor as input. Got "
                           f"{scalar_type_name(A.dtype)}")


def _unknown_error(op: str, info: np.ndarray) -> RuntimeError:
    """torch's error for a singular D (it has no words of its own: an internal assert on the LAPACK code)."""
    code = int(info.reshape(-1)[np.argmax(info.reshape(-1) != 0)])
    return RuntimeError(f"false INTERNAL ASSERT FAILED: torch.{op}: Unknown error code: {code}.")


def ldl_factor_ex(A: Tensor, *, hermitian: bool = False, check_errors: bool = False):  # noqa: N803
    """(LD, pivots, info) of the symmetric (..., n, n) ``A`` (its lower triangle is read), as
    torch.linalg.ldl_factor_ex: info (int32 per matrix) is the 1-based index of D's first zero block,
    0 when none. ``hermitian`` (complex A: L D Lᴴ of a Hermitian A, else L D Lᵀ of a complex symmetric one)
    is the same for real matrices.

    >>> import engine
    >>> engine.linalg.ldl_factor_ex(engine.tensor([[4.0, 2.0], [2.0, 3.0]])).LD.tolist()
    [[4.0, 0.0], [0.5, 2.0]]
    """
    _check_square("linalg.ldl_factor_ex", A)
    ld, piv, info = _factor(A._data, hermitian)
    ld = _LDLFactor.apply(A, ld=array_module(A._data).asarray(ld))
    if check_errors and info.any():
        raise _unknown_error("linalg.ldl_factor_ex", info)
    device = A.device
    return _make("linalg_ldl_factor_ex", ("LD", "pivots", "info"),
                 (ld, Tensor(piv).to(device), Tensor(np.asarray(info, dtype=np.int32)).to(device)))


def ldl_factor(A: Tensor, *, hermitian: bool = False):  # noqa: N803
    """(LD, pivots) as torch.linalg.ldl_factor: ldl_factor_ex, raising where a D block is singular.

    >>> import engine
    >>> engine.linalg.ldl_factor(engine.tensor([[4.0, 2.0], [2.0, 3.0]])).pivots.tolist()
    [1, 2]
    """
    _check_square("linalg.ldl_factor_ex", A)
    ld, piv, info = ldl_factor_ex(A, hermitian=hermitian)
    if info._data.any():
        raise _unknown_error("linalg.ldl_factor", _host(info._data))
    return _make("linalg_ldl_factor", ("LD", "pivots"), (ld, piv))


def ldl_solve(LD: Tensor, pivots: Tensor, B: Tensor, *, hermitian: bool = False) -> Tensor:  # noqa: N803
    """X with A X = B from ldl_factor's (LD, pivots), batches broadcast, as torch.linalg.ldl_solve.

    >>> import engine
    >>> LD, piv = engine.linalg.ldl_factor(engine.tensor([[4.0, 2.0], [2.0, 3.0]]))
    >>> engine.linalg.ldl_solve(LD, piv, engine.tensor([[6.0], [5.0]])).tolist()
    [[1.0], [1.0]]
    """
    op = "torch.linalg.ldl_solve"
    for name, t in (("LD", LD), ("pivots", pivots), ("B", B)):
        if not isinstance(t, Tensor):
            raise TypeError(f"linalg_ldl_solve(): argument '{name}' must be Tensor, not {type(t).__name__}")
    if LD.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor A must have at least 2 dimensions.")
    if LD.shape[-1] != LD.shape[-2]:
        raise RuntimeError(f"{op}: A must be batches of square matrices, but they are {LD.shape[-2]} by "
                           f"{LD.shape[-1]} matrices")
    if B.ndim < 2:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-max(B.ndim, 1)}, "
                         f"{max(B.ndim, 1) - 1}], but got -2)")
    if LD.dtype.kind not in "fc":
        raise RuntimeError(f"{op}: Expected a floating point or complex tensor as input. Got "
                           f"{scalar_type_name(LD.dtype)}")
    if pivots.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: Expected pivots to be integers. Got {scalar_type_name(pivots.dtype)}")
    if B.dtype != LD.dtype:
        raise RuntimeError(f"Expected b and A to have the same dtype, but found b of type "
                           f"{scalar_type_name(B.dtype)} and A of type {scalar_type_name(LD.dtype)} instead.")
    if B.shape[-2] != LD.shape[-1]:
        raise RuntimeError(f"Incompatible matrix sizes for {op}: each A matrix is {LD.shape[-2]} by "
                           f"{LD.shape[-1]} but each b matrix is {B.shape[-2]} by {B.shape[-1]}")
    if LD.shape[:-1] != pivots.shape:
        raise RuntimeError(f"{op}: Expected LD.shape[:-1] and pivots.shape to be the same, but got pivots with "
                           f"shape {list(pivots.shape)} instead")
    return _LDLSolve.apply(LD, B, pivots=pivots._data, hermitian=hermitian)


def install(linalg: types.ModuleType) -> None:
    """Put ldl_factor, ldl_factor_ex and ldl_solve on engine.linalg (and in its ``__all__``)."""
    for name in ("ldl_factor", "ldl_factor_ex", "ldl_solve"):
        setattr(linalg, name, globals()[name])
        if name not in linalg.__all__:
            linalg.__all__.append(name)
