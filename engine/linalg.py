"""engine.linalg: torch.linalg's everyday functions on engine Tensors (``engine.linalg.solve(A, B)`` as
``torch.linalg.solve``), plus the torch.* linear-algebra spellings (``engine.det``, ``engine.logdet``,
``engine.lu_unpack``, ...). inv/det/solve/cholesky/eigh/svd/qr have reference backwards in
``engine/ops/linalg.py``; the rest are composed, so the engine derives their gradients.

>>> import engine
>>> A = engine.tensor([[2.0, 0.0], [0.0, 4.0]])
>>> engine.linalg.solve(A, engine.tensor([2.0, 2.0])).tolist()
[1.0, 0.5]
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence

import numpy as np

import engine
from engine.backend import array_module
from engine.functional import _need_tensor
from engine.ops import linalg as linalg_ops
from engine.ops.movement import wrap_dim
from engine.tensor import Tensor
from engine.torch_more import _make, _square, _zero_link
from engine.torch_more import cross as _cross


class LinAlgError(RuntimeError):
    """torch.linalg.LinAlgError: the input is singular or not positive-definite (a RuntimeError, as torch's).

    >>> import engine
    >>> try:
    ...     engine.linalg.inv(engine.zeros(2, 2))
    ... except engine.linalg.LinAlgError as e:
    ...     print(str(e)[:40])
    linalg.inv: The diagonal element 1 is ze
    """


def _cabs1(a):
    """LAPACK's pivot size: |a| for a real entry, |Re a| + |Im a| for a complex one (izamax's cabs1)."""
    xp = array_module(a)
    return xp.abs(a) if a.dtype.kind != "c" else xp.abs(a.real) + xp.abs(a.imag)


def _host(a) -> np.ndarray:
    return np.asarray(a.get() if hasattr(a, "get") else a)


def _batch_prefix(info: np.ndarray) -> str:
    """torch's "(Batch element k): " naming the first failing matrix of a batch ("" for one matrix)."""
    if info.ndim == 0:
        return ""
    return f"(Batch element {int(np.flatnonzero(info.reshape(-1))[0])}): "


def _first_info(info: np.ndarray) -> int:
    return int(info.reshape(-1)[np.flatnonzero(info.reshape(-1))[0]])


def _getrf(a) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LAPACK getrf on the host, unblocked: (LU, 1-based int32 pivots, info) of (..., m, n); info is the
    1-based index of the first exactly-zero pivot (0: none), and a zero pivot's column is left unscaled."""
    a = _host(a)
    batch, (m, n) = a.shape[:-2], a.shape[-2:]
    k = builtins.min(m, n)
    lu = a.reshape((math.prod(batch), m, n)).copy()
    rows = np.arange(lu.shape[0])
    piv = np.zeros((lu.shape[0], k), dtype=np.int32)
    info = np.zeros(lu.shape[0], dtype=np.int32)
    for j in range(k):
        p = j + _cabs1(lu[:, j:, j]).argmax(-1)
        piv[:, j] = p + 1
        row_j = lu[rows, j].copy()
        lu[rows, j] = lu[rows, p]
        lu[rows, p] = row_j
        pv = lu[:, j, j]
        info[(info == 0) & (pv == 0)] = j + 1
        lcol = lu[:, j + 1:, j] / np.where(pv == 0, 1, pv)[:, None]  # a zero pivot's column is all zero
        lu[:, j + 1:, j] = lcol
        lu[:, j + 1:, j + 1:] -= lcol[:, :, None] * lu[:, j, None, j + 1:]
    return lu.reshape(a.shape), piv.reshape(batch + (k,)), info.reshape(batch)


def _getrs(lu: np.ndarray, piv: np.ndarray, b: np.ndarray) -> np.ndarray:
    """X with A X = B from _getrf's (LU, pivots), B (..., n, k) of the same batch; a zero pivot gives
    inf/nan (complex: nan+nanj), as LAPACK's getrs."""
    n = lu.shape[-1]
    x = np.broadcast_to(b, lu.shape[:-2] + b.shape[-2:]).astype(lu.dtype)
    count = math.prod(lu.shape[:-2])
    x = x.reshape((count,) + b.shape[-2:]).copy()
    lu3, piv2 = lu.reshape((count, n, n)), piv.reshape((count, n)).astype(np.int64) - 1
    rows = np.arange(x.shape[0])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for j in range(n):  # the row swaps, then L y = P b (unit lower)
            row_j = x[rows, j].copy()
            x[rows, j] = x[rows, piv2[:, j]]
            x[rows, piv2[:, j]] = row_j
        for j in range(n):
            x[:, j + 1:] -= lu3[:, j + 1:, j, None] * x[:, j, None]
        for j in range(n - 1, -1, -1):  # U x = y
            if x.dtype.kind == "c":  # BLAS's ztrsm multiplies by 1/u_jj, nan+nanj for a zero u_jj
                d = lu3[:, j, j, None]
                x[:, j] = np.where(d == 0, complex(math.nan, math.nan), x[:, j] / np.where(d == 0, 1, d))
            else:
                x[:, j] /= lu3[:, j, j, None]
            x[:, :j] -= lu3[:, :j, j, None] * x[:, j, None]
    return x.reshape(lu.shape[:-2] + b.shape[-2:])


def _potrf(a) -> tuple[np.ndarray, np.ndarray]:
    """LAPACK potf2 on the host: (L, info) of the lower triangle of (..., n, n); info is the order of the
    first leading minor that is not positive-definite (0: none), where L holds the failed pivot and the
    untouched rest of A's lower triangle, as LAPACK leaves it."""
    a = _host(a)
    n = a.shape[-1]
    low = np.tril(a).reshape((math.prod(a.shape[:-2]), n, n)).copy()
    info = np.zeros(low.shape[0], dtype=np.int32)
    for j in range(n):  # complex (Hermitian A): as LAPACK's potf2, the pivot is Re(a_jj) - Σ|l_jk|²
        live = info == 0
        row = low[:, j, :j]
        d = low[:, j, j].real - (row * row.conj()).real.sum(-1)
        bad = live & ~(d > 0)
        info[bad] = j + 1
        low[bad, j, j] = d[bad]
        ok = live & ~bad
        ljj = np.sqrt(np.where(ok, d, 1))
        col = (low[:, j + 1:, j] - (low[:, j + 1:, :j] @ row.conj()[..., None])[..., 0]) / ljj[:, None]
        low[ok, j, j] = ljj[ok]
        low[ok, j + 1:, j] = col[ok]
    return low.reshape(a.shape), info.reshape(a.shape[:-2])


def _singular(op: str, info: np.ndarray) -> LinAlgError:
    return LinAlgError(f"{op}: {_batch_prefix(info)}The diagonal element {_first_info(info)} is zero, the inversion "
                       "could not be completed because the input matrix is singular.")


def _not_pd(op: str, info: np.ndarray) -> LinAlgError:
    return LinAlgError(f"{op}: {_batch_prefix(info)}The factorization could not be completed because the input is "
                       f"not positive-definite (the leading minor of order {_first_info(info)} is not "
                       "positive-definite).")


def _solver_singular(op: str, info: np.ndarray) -> LinAlgError:
    return LinAlgError(f"torch.{op}: {_batch_prefix(info)}The solver failed because the input matrix is singular.")


def inv(A: Tensor) -> Tensor:  # noqa: N803
    """Inverse of (..., n, n) matrices; a singular one raises LinAlgError naming it, as torch.

    >>> import engine
    >>> engine.linalg.inv(engine.tensor([[2.0, 0], [0, 4.0]])).tolist()
    [[0.5, 0.0], [0.0, 0.25]]
    """
    _square("linalg.inv", _need_tensor(A, "linalg.inv", "A"))
    try:
        return linalg_ops.Inverse.apply(A)
    except np.linalg.LinAlgError:
        raise _singular("linalg.inv", _getrf(A._data)[2]) from None


def det(A: Tensor) -> Tensor:  # noqa: N803
    """Determinant of (..., n, n) matrices -> (...)."""
    return linalg_ops.Det.apply(_square("linalg.det", _need_tensor(A, "linalg.det", "A")))


def slogdet(A: Tensor):  # noqa: N803
    """(sign, log|det|) of (..., n, n) matrices; log|det| is real, and a complex A's sign (complex, |sign| = 1
    or 0) is differentiable too, as torch's (a real A's gradient flows through log|det| only)."""
    _square("linalg.slogdet", _need_tensor(A, "linalg.slogdet", "A"))
    if A.dtype.kind == "c":
        sign = linalg_ops.SlogdetSign.apply(A)
    else:
        sign = Tensor(array_module(A._data).linalg.slogdet(A._data)[0].astype(A.dtype))
    return _make("linalg_slogdet", ("sign", "logabsdet"), (sign, linalg_ops.LogAbsDet.apply(A)))


def logdet(A: Tensor) -> Tensor:  # noqa: N803
    """log det A: nan where det < 0, -inf where det = 0 (as torch.logdet); complex for a complex A,
    log(sign) + log|det|, as torch's."""
    import engine

    sign, logabs = slogdet(A)
    if A.dtype.kind == "c":
        return sign.log() + logabs
    return engine.where(sign < 0, engine.full_like(logabs, math.nan),
                        engine.where(sign == 0, engine.full_like(logabs, -math.inf), logabs))


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:  # noqa: N803
    """X with A X = B (left=False: X A = B); B a vector batch (..., n) or matrices (..., n, k)."""
    _square("linalg.solve", _need_tensor(A, "linalg.solve", "A"))
    _need_tensor(B, "linalg.solve", "B")
    if not left:
        return solve(A.mT, B.mT).mT
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and B.shape == A.shape[:-1])
    b = B.unsqueeze(-1) if vector else B
    if b.shape[-2] != A.shape[-1]:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                           f"({A.shape[-2]}x{A.shape[-1]} and {b.shape[-2]}x{b.shape[-1]})")
    batch = np.broadcast_shapes(A.shape[:-2], b.shape[:-2])
    a = A.broadcast_to(batch + A.shape[-2:]) if A.shape[:-2] != batch else A
    b = b.broadcast_to(batch + b.shape[-2:]) if b.shape[:-2] != batch else b
    if a.dtype != b.dtype:
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found A of type {A.dtype} "
                           f"and B of type {B.dtype} instead")
    try:
        x = linalg_ops.Solve.apply(a, b)
    except np.linalg.LinAlgError:
        raise _solver_singular("linalg.solve", _getrf(a._data)[2]) from None
    return x.squeeze(-1) if vector else x


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True,  # noqa: N803
                     unitriangular: bool = False) -> Tensor:
    """X with A X = B for triangular A (only its upper/lower triangle is read)."""
    import engine

    _square("linalg.solve_triangular", _need_tensor(A, "linalg.solve_triangular", "A"))
    if _need_tensor(B, "linalg.solve_triangular", "B").ndim < 2:
        raise RuntimeError("linalg.solve_triangular: The input tensor B must have at least 2 dimensions.")
    a = A.triu() if upper else A.tril()
    if unitriangular:
        n = A.shape[-1]
        eye = engine.eye(n, dtype=A.dtype, device=A.device)
        a = a * (1 - eye) + eye
    return solve(a, B, left=left)


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:  # noqa: N803
    """Lower Cholesky factor L (A = L Lᵀ) of symmetric positive-definite (..., n, n) matrices
    (upper=True: Lᵀ); only the lower triangle of A is read."""
    _square("linalg.cholesky", _need_tensor(A, "linalg.cholesky", "A"))
    try:
        out = linalg_ops.Cholesky.apply(A)
    except np.linalg.LinAlgError:
        raise _not_pd("linalg.cholesky", _potrf(A._data)[1]) from None
    return out.mH if upper else out


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False):  # noqa: N803
    """(L, info) as torch.linalg.cholesky_ex: info (int32, per matrix) is 0 on success, else the order
    of the first leading minor that is not positive-definite (L then holds LAPACK's partial factor);
    check_errors=True raises LinAlgError instead.

    >>> import engine
    >>> engine.linalg.cholesky_ex(-engine.eye(2)).info.item()
    1
    """
    _square("linalg.cholesky_ex", _need_tensor(A, "linalg.cholesky_ex", "A"))
    low, info = _potrf(A._data)
    if info.any():
        if check_errors:
            raise _not_pd("linalg.cholesky_ex", info)
        out = Tensor(low).to(A.device)
        out = out.mH if upper else out
    else:
        out = cholesky(A, upper=upper)
    return _make("linalg_cholesky_ex", ("L", "info"), (out, Tensor(info).to(A.device)))


def inv_ex(A: Tensor, *, check_errors: bool = False):  # noqa: N803
    """(inverse, info) as torch.linalg.inv_ex: info (int32, per matrix) is 0 on success, else the
    1-based index of LU's first zero pivot (the inverse then holds inf/nan, as LAPACK leaves it);
    check_errors=True raises LinAlgError instead.

    >>> import engine
    >>> engine.linalg.inv_ex(engine.tensor([[1.0, 2.0], [2.0, 4.0]])).info.item()
    2
    """
    _square("linalg.inv", _need_tensor(A, "linalg.inv_ex", "A"))  # torch names linalg.inv
    lu, piv, info = _getrf(A._data)
    if not info.any():
        return _make("linalg_inv_ex", ("inverse", "info"), (inv(A), Tensor(info).to(A.device)))
    if check_errors:
        raise _singular("linalg.inv_ex", info)
    n = A.shape[-1]
    out = Tensor(_getrs(lu, piv, np.eye(n, dtype=A.dtype))).to(A.device)
    return _make("linalg_inv_ex", ("inverse", "info"), (out, Tensor(info).to(A.device)))


def solve_ex(A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False):  # noqa: N803
    """(result, info) as torch.linalg.solve_ex: info (int32, per matrix) is 0 on success, else the 1-based
    index of LU's first zero pivot (the result then holds inf/nan); check_errors=True raises LinAlgError.

    >>> import engine
    >>> engine.linalg.solve_ex(engine.eye(2) * 2, engine.ones(2)).result.tolist()
    [0.5, 0.5]
    """
    _square("linalg.solve", _need_tensor(A, "linalg.solve_ex", "A"))  # as torch
    info = _getrf(A._data)[2]
    if not info.any():
        return _make("linalg_solve_ex", ("result", "info"), (solve(A, B, left=left), Tensor(info).to(A.device)))
    if check_errors:
        raise _solver_singular("linalg.solve_ex", info)
    a, b = (A, B) if left else (A.mT, B.mT)
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    bb = _host(b._data)[..., None] if vector else _host(b._data)
    batch = np.broadcast_shapes(a.shape[:-2], bb.shape[:-2])
    lu, piv, _ = _getrf(np.broadcast_to(_host(a._data), batch + a.shape[-2:]))
    x = _getrs(lu, piv, np.broadcast_to(bb, batch + bb.shape[-2:]))
    x = x[..., 0] if vector else (x if left else np.swapaxes(x, -1, -2))
    return _make("linalg_solve_ex", ("result", "info"), (Tensor(np.ascontiguousarray(x)).to(A.device),
                                                        Tensor(info).to(A.device)))


def _real_part(x: Tensor) -> Tensor:
    """x's real part for a complex x (the real-valued outputs packed with complex ones: eigh's eigenvalues,
    svd's singular values), x itself otherwise."""
    return x.real if x.dtype.kind == "c" else x


def eigh(A: Tensor, UPLO: str = "L"):  # noqa: N803
    """(eigenvalues ascending (..., n), eigenvectors (..., n, n)) of symmetric (Hermitian) matrices; the
    eigenvalues are real for a complex A, as torch's. The gradient needs distinct eigenvalues and, for a
    complex A, a loss that does not depend on the eigenvectors' phases (as torch). Only the ``UPLO``
    triangle is read."""
    _square("linalg.eigh", _need_tensor(A, "linalg.eigh", "A"))
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"linalg.eigh: Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    packed = linalg_ops.EighPacked.apply(A, UPLO=UPLO)
    n = A.shape[-1]
    return _make("linalg_eigh", ("eigenvalues", "eigenvectors"), (_real_part(packed[..., n]), packed[..., :n]))


def eig(A: Tensor):  # noqa: N803
    """(eigenvalues (..., n), eigenvectors (..., n, n)) of general square matrices, complex even for a real
    A (torch.linalg.eig): unit-norm eigenvectors, each fixed only up to a phase, so a loss must not depend on
    their phases (backward raises, as torch's). The gradient needs distinct eigenvalues.

    >>> import engine
    >>> sorted(v.real for v in eig(engine.tensor([[2.0, 0.0], [0.0, 3.0]])).eigenvalues.tolist())
    [2.0, 3.0]
    """
    _square("linalg.eig", _need_tensor(A, "linalg.eig", "A"), floating=False)
    if A.dtype.kind not in "fc" or A.dtype == np.float16:
        raise RuntimeError(f"linalg.eig: Expected a floating point or complex tensor as input. Got {A.dtype}")
    packed = linalg_ops.EigPacked.apply(A)
    n = A.shape[-1]
    return _make("linalg_eig", ("eigenvalues", "eigenvectors"), (packed[..., n], packed[..., :n]))


def eigvals(A: Tensor) -> Tensor:  # noqa: N803
    """The eigenvalues of general square matrices, complex (torch.linalg.eigvals).

    >>> import engine
    >>> eigvals(engine.tensor([[0.0, -1.0], [1.0, 0.0]])).tolist()
    [1j, -1j]
    """
    return eig(A)[0]


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:  # noqa: N803
    """Eigenvalues (ascending) of symmetric matrices."""
    return eigh(A, UPLO)[0]


def svd(A: Tensor, full_matrices: bool = True):  # noqa: N803
    """(U, S, Vh) of (..., m, n) matrices, as torch.linalg.svd (full_matrices: U (m, m) and Vh (n, n),
    else (m, k) and (k, n), k = min(m, n)). The gradient needs distinct nonzero singular values and a loss
    that does not depend on the signs of the singular vectors, nor (full_matrices) on U's and Vh's
    columns (rows) past k, as torch's.

    >>> import engine
    >>> engine.linalg.svd(engine.tensor([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0]])).S.tolist()
    [3.0, 2.0]
    """
    if A.ndim < 2:
        raise RuntimeError(f"linalg.svd: The input tensor A must have at least 2 dimensions, got {A.shape}")
    m, n = A.shape[-2:]
    k = builtins.min(m, n)
    mu, nv = (m, n) if full_matrices else (k, k)
    packed = linalg_ops.SvdPacked.apply(A, full_matrices=full_matrices)
    batch = A.shape[:-2]
    u = packed[..., : m * mu].reshape(batch + (m, mu))
    s = _real_part(packed[..., m * mu: m * mu + k])
    vh = packed[..., m * mu + k:].reshape(batch + (nv, n))
    return _make("linalg_svd", ("U", "S", "Vh"), (u, s, vh))


def svdvals(A: Tensor) -> Tensor:  # noqa: N803
    """Singular values (descending) of (..., m, n) matrices; the gradient is U diag(gS) Vh, as torch's
    (defined at repeated and zero singular values too).

    >>> import engine
    >>> engine.linalg.svdvals(engine.tensor([[0.0, 2.0], [3.0, 0.0]])).tolist()
    [3.0, 2.0]
    """
    if A.ndim < 2:
        raise RuntimeError(f"linalg.svdvals: The input tensor A must have at least 2 dimensions, got {A.shape}")
    return linalg_ops.Svdvals.apply(A)


def qr(A: Tensor, mode: str = "reduced"):  # noqa: N803
    """(Q, R) of (..., m, n) matrices, as torch.linalg.qr: 'reduced' (Q (m, k), R (k, n), k = min(m, n)),
    'complete' (Q (m, m)) or 'r' (R only, Q empty). Differentiable for A of full rank, wide A included;
    as torch, the backward raises for mode='r' and for mode='complete' with m > n.

    >>> import engine
    >>> engine.linalg.qr(engine.tensor([[3.0, 1.0, 2.0], [4.0, 0.0, 1.0]])).R.shape
    (2, 3)
    """
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
                           "'r', or 'complete'")
    if A.ndim < 2:
        raise RuntimeError(f"linalg.qr: The input tensor A must have at least 2 dimensions, got {A.shape}")
    m, n = A.shape[-2:]
    mq = m if mode == "complete" else builtins.min(m, n)
    packed = linalg_ops.QrPacked.apply(A, mode=mode)
    batch = A.shape[:-2]
    r = packed[..., m * mq:].reshape(batch + (mq, n))
    if mode == "r":
        return _make("linalg_qr", ("Q", "R"), (Tensor(np.zeros((0,), dtype=A.dtype)).to(A.device), r))
    return _make("linalg_qr", ("Q", "R"), (packed[..., : m * mq].reshape(batch + (m, mq)), r))


def _tolerances(op: str, A: Tensor, atol, rtol) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
    """torch's (atol, rtol) of pinv/matrix_rank as arrays over the batch: both None -> rtol = eps·max(m, n);
    atol > 0 alone -> rtol = 0."""
    xp = array_module(A._data)

    real = np.finfo(A.dtype).dtype  # A's dtype, or a complex A's real one

    def arr(t):
        return xp.asarray(t._data if isinstance(t, Tensor) else t, dtype=real)

    default = np.finfo(A.dtype).eps * builtins.max(A.shape[-2:])
    at = arr(0.0 if atol is None else atol)
    rt = arr(rtol) if rtol is not None else (arr(default) if atol is None else xp.where(at > 0, 0, default))
    batch = np.broadcast_shapes(A.shape[:-2], at.shape, rt.shape)
    if batch != A.shape[:-2]:
        raise RuntimeError(f"{op}: atol/rtol of shapes {at.shape}/{rt.shape} do not broadcast to the batch "
                           f"shape {A.shape[:-2]}")
    return xp.broadcast_to(at, batch).astype(real), xp.broadcast_to(rt, batch).astype(real)


def pinv(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:  # noqa: N803
    """Moore-Penrose pseudo-inverse of (..., m, n) matrices, rank-deficient ones included: singular values
    (hermitian=True: |eigenvalues| of the lower triangle's symmetric matrix) at or below
    max(atol, rtol·σ_max) are dropped, with torch's defaults. Differentiable where the rank is constant.

    >>> import engine
    >>> (engine.linalg.pinv(engine.tensor([[1.0, 2.0], [2.0, 4.0]])) * 100).round().tolist()
    [[4.0, 8.0], [8.0, 16.0]]
    """
    _need_tensor(A, "linalg.pinv", "A")
    if A.ndim < 2 or A.dtype.kind not in "fc":
        raise RuntimeError(f"linalg.pinv({A.dtype}{list(A.shape)}): expected a tensor with 2 or more dimensions "
                           "of float, double, cfloat or cdouble types")
    if hermitian and A.numel() == 0:  # torch: no squareness check on empty input; pinv of nothing is nothing
        hermitian = False
    if hermitian:
        _square("linalg.pinv", A)
    at, rt = _tolerances("linalg.pinv", A, atol, rtol)
    return linalg_ops.Pinv.apply(A, atol=at, rtol=rt, hermitian=hermitian)


def matrix_rank(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:  # noqa: N803
    """Rank of (..., m, n) matrices (int64, no gradient): singular values (hermitian: |eigenvalues|)
    above max(atol, rtol·σ_max), with torch's defaults.

    >>> import engine
    >>> engine.linalg.matrix_rank(engine.tensor([[1.0, 2.0], [2.0, 4.0]])).item()
    1
    """
    _need_tensor(A, "linalg.matrix_rank", "A")
    if A.dtype.kind not in "fc":
        raise RuntimeError("This function doesn't handle types other than float and double")
    xp = array_module(A._data)
    at, rt = _tolerances("linalg.matrix_rank", A, atol, rtol)
    if hermitian:
        s = xp.abs(xp.linalg.eigvalsh(_square("linalg.matrix_rank", A)._data))
    else:
        s = xp.linalg.svd(A._data, compute_uv=False)
    tol = xp.maximum(at, rt * s.max(axis=-1, initial=0))
    return Tensor((s > tol[..., None]).sum(axis=-1).astype(np.int64))


def matrix_power(A: Tensor, n: int) -> Tensor:  # noqa: N803
    """A to the integer power n (n < 0: of the inverse), by repeated squaring."""
    import engine

    _square("linalg.matrix_power", A, floating=False)
    if n == 0:  # the identity, with a zero gradient to A
        return engine.eye(A.shape[-1], dtype=A.dtype, device=A.device) + _zero_link(A)
    if n < 0:
        A, n = inv(A), -n
    result, base = None, A
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return result


def vector_norm(x: Tensor, ord: float = 2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    """The vector ``ord``-norm over ``dim`` (None: all entries), as torch.linalg.vector_norm."""
    if isinstance(ord, str):
        raise RuntimeError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    if x.dtype.kind not in "fc":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got {x.dtype}")
    return x.norm(ord, dim, keepdim, dtype)


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: N803, A002
    """Matrix norm over the two ``dim``: 'fro', 'nuc', inf, -inf, 1, -1, 2, -2 (as torch).

    >>> import engine
    >>> engine.linalg.matrix_norm(engine.tensor([[0.0, 2.0], [3.0, 0.0]]), "nuc").item()
    5.0
    """
    if ord not in ("fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf):
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    A = A.to(dtype) if dtype is not None else A  # noqa: N806
    if A.ndim < 2:
        raise RuntimeError(f"linalg.matrix_norm: The input tensor A must have at least 2 dimensions, got {A.shape}")
    if A.dtype.kind not in "fc":
        raise RuntimeError(f"linalg.matrix_norm: Expected a floating point or complex tensor as input. Got {A.dtype}")
    dim = (dim,) if isinstance(dim, int) else tuple(dim)
    if len(dim) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dim))}")
    d0, d1 = (wrap_dim(d, A.ndim, "linalg.matrix_norm") for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
    if ord == "fro":  # a complex A's through |A| (real), the same norm and gradient A / ‖A‖ (torch's convention)
        return (A.abs() if A.dtype.kind == "c" else A).norm(2, (d0, d1), keepdim)
    if ord in (1, math.inf, 2) and A.shape[d1 if ord == 1 else d0] * (A.shape[d1] if ord == 2 else 1) == 0:
        # torch: the max over no columns (1), rows (inf) or singular values (2) is 0, outside the graph
        shape = tuple(1 if i in (d0, d1) else n for i, n in enumerate(A.shape))
        r = engine.zeros(shape, dtype=A.real.dtype if A.dtype.kind == "c" else A.dtype, device=A.device)
        return r if keepdim else r.squeeze((d0, d1))
    if ord in (1, -1, math.inf, -math.inf):
        inner, outer = (d0, d1) if ord in (1, -1) else (d1, d0)
        s = A.abs().sum(inner, keepdim=True)
        r = s.amax(outer, keepdim=True) if ord > 0 else s.amin(outer, keepdim=True)
        return r if keepdim else r.squeeze((d0, d1) if hasattr(r, "squeeze") else None)
    if ord in ("nuc", 2, -2):
        moved = A.movedim((d0, d1), (-2, -1))
        s = svdvals(moved)
        r = s.sum(-1) if ord == "nuc" else (s.amax(-1) if ord == 2 else s.amin(-1))
        if keepdim:
            r = r.unsqueeze(builtins.min(d0, d1)).unsqueeze(builtins.max(d0, d1))
        return r
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


def linalg_norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: N803, A002
    """torch.linalg.norm: the vector norm (1-D dim or ord None over all), else the matrix norm."""
    if isinstance(dim, int):
        dim = (dim,)
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype) if dim is None or len(dim) == 1 else \
            matrix_norm(A, "fro", dim, keepdim, dtype=dtype)
    if dim is None:
        if A.ndim == 1:
            return vector_norm(A, ord, None, keepdim, dtype=dtype)
        if A.ndim == 2:
            return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got "
                           f"{A.ndim}D.")
    if len(dim) == 1:
        return vector_norm(A, ord, dim, keepdim, dtype=dtype)
    return matrix_norm(A, ord, dim, keepdim, dtype=dtype)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """Dot products along ``dim`` (broadcast), x conjugated: sum(conj(x) * y), as torch.linalg.vecdot.

    >>> import engine
    >>> vecdot(engine.tensor([1j, 2.0]), engine.tensor([1j, 1.0])).item()
    (3+0j)
    """
    if isinstance(x, Tensor) and isinstance(y, Tensor) and x.dtype != y.dtype:
        from engine.dtypes import scalar_type_name

        raise RuntimeError(f"linalg.vecdot: Expected x and y to have the same dtype, but found x of type "
                           f"{scalar_type_name(x.dtype)} and y of type {scalar_type_name(y.dtype)} instead")
    return ((x.conj() if x.dtype.kind == "c" else x) * y).sum(dim)


def multi_dot(tensors: Sequence[Tensor]) -> Tensor:
    """Chain of matrix products (first may be 1-D, last may be 1-D), left to right."""
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    for i, t in enumerate(tensors):
        end = i in (0, len(tensors) - 1)
        if t.ndim != 2 and not (end and t.ndim == 1):
            which = "the first tensor" if i == 0 else ("the last tensor" if end else f"tensor {i}")
            raise RuntimeError(f"multi_dot(): {which} must be {'1D or 2D' if end else '2D'} but got {t.ndim}D")
    out = tensors[0]
    for t in tensors[1:]:
        out = out @ t
    return out


def linalg_cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:  # noqa: A002
    """torch.linalg.cross: as cross, with dim = -1 by default."""
    return _cross(input, other, dim)


def linalg_diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:  # noqa: N803
    """torch.linalg.diagonal: the diagonal of the last two dims by default."""
    return A.diagonal(offset, dim1, dim2)


def vander(x: Tensor, *, N: int | None = None) -> Tensor:  # noqa: N803
    """torch.linalg.vander: (..., n) -> (..., n, N) with columns x**0, x**1, ..., x**(N-1) (N defaults to n).

    >>> import engine
    >>> engine.linalg.vander(engine.tensor([2.0, 3.0])).tolist()
    [[1.0, 2.0], [1.0, 3.0]]
    """
    import engine

    _need_tensor(x, "linalg.vander", "x")
    x = x.reshape(1) if x.ndim == 0 else x  # torch reads a 0-d x as one point
    n = x.shape[-1] if N is None else N
    if n <= 1:
        raise RuntimeError("N must be greater than 1.")  # torch's words exactly (a test compares them)
    cols = [engine.ones_like(x), x] + [x ** k for k in range(2, n)]
    return engine.stack(cols, -1)


def householder_product(A: Tensor, tau: Tensor) -> Tensor:  # noqa: N803
    """torch.linalg.householder_product (orgqr): the first n columns of H₁ H₂ ⋯ H_k for A (..., m, n) and
    tau (..., k), m >= n >= k, with H_i = I - tau_i v_i v_iᴴ and v_i = (0, …, 0, 1, A[i+1:, i]) (LAPACK's
    geqrf layout, complex too). Composed from engine ops, so the gradient flows to A and tau.

    >>> import engine
    >>> engine.linalg.householder_product(engine.tensor([[1.0], [1.0]]), engine.tensor([1.0])).tolist()
    [[0.0], [-1.0]]
    """
    op = "torch.linalg.householder_product"
    _need_tensor(A, op, "input")
    _need_tensor(tau, op, "tau")
    if A.ndim < 2:
        raise RuntimeError(f"{op}: input must have at least 2 dimensions (got shape {A.shape}).")
    m, n = A.shape[-2:]
    if m < n:
        raise RuntimeError(f"{op}: input.shape[-2] must be greater than or equal to input.shape[-1] (got shape "
                           f"{A.shape}).")
    if tau.ndim != A.ndim - 1:
        raise RuntimeError(f"{op}: Expected tau to have one dimension less than input, but got tau.ndim equal to "
                           f"{tau.ndim} and input.ndim is equal to {A.ndim}")
    k = tau.shape[-1]
    if n < k:
        raise RuntimeError(f"{op}: input.shape[-1] must be greater than or equal to tau.shape[-1] (got shapes "
                           f"{A.shape} and {tau.shape}).")
    if tau.shape[:-1] != A.shape[:-2]:
        raise RuntimeError(f"{op}: Expected batch dimensions of tau to be equal to input.shape[:-2], but got "
                           f"{list(tau.shape[:-1])} (input shape {A.shape})")
    if tau.dtype != A.dtype:
        raise RuntimeError(f"{op}: tau dtype {tau.dtype} does not match input dtype {A.dtype}")
    if A.dtype.kind not in "fc":
        raise NotImplementedError(f'"orgqr_cpu" not implemented for \'{A.dtype}\'')
    rows = engine.arange(m, device=A.device).unsqueeze(-1)  # (m, 1)
    out = engine.eye(m, n, dtype=A.dtype, device=A.device).expand(*A.shape[:-2], m, n)
    for i in range(k - 1, -1, -1):  # out = H_i out, from the last reflector to the first
        v = A[..., :, i:i + 1] * (rows > i) + (rows == i).to(A.dtype)  # (..., m, 1)
        out = out - (tau[..., i, None, None] * v) @ (v.mH @ out)
    return out if k else out + _zero_link(A)  # no reflector: still in A's graph, as torch


def geqrf(input: Tensor):  # noqa: A002
    """torch.geqrf: LAPACK's QR factorization of (..., m, n) matrices as (a, tau): R in a's upper triangle, the
    Householder vectors below it, and their scalars tau (..., min(m, n)); householder_product(a, tau) is Q.
    NumPy's raw QR is LAPACK's geqrf (transposed: Fortran order). No gradient (torch's backward raises).

    >>> import engine
    >>> engine.geqrf(engine.tensor([[3.0], [4.0]])).a.tolist()
    [[-5.0], [0.5]]
    """
    _need_tensor(input, "torch.geqrf", "input")
    if input.ndim < 2:
        raise RuntimeError(f"torch.geqrf: input must have at least 2 dimensions (got shape {input.shape}).")
    if input.dtype.kind not in "fc":
        raise NotImplementedError(f'"geqrf_cpu" not implemented for \'{input.dtype}\'')
    h, tau = np.linalg.qr(_host(input._data), mode="raw")
    a = np.ascontiguousarray(np.swapaxes(h, -1, -2)).astype(input.dtype)
    return _make("geqrf", ("a", "tau"), (Tensor(a).to(input.device), Tensor(tau.astype(input.dtype)).to(input.device)))


def ormqr(input: Tensor, input2: Tensor, input3: Tensor, left: bool = True, transpose: bool = False) -> Tensor:  # noqa: A002
    """torch.ormqr: ``other`` (input3) times Q (or Qᴴ with ``transpose``) of geqrf's (input, tau = input2),
    Q from the left or the right: Q is the full (m, m) product of the reflectors, through householder_product
    on input's vectors padded with zero columns (tau 0: the identity). Differentiable in all three.

    >>> import engine
    >>> a, tau = engine.geqrf(engine.tensor([[3.0], [4.0]]))
    >>> engine.ormqr(a, tau, engine.eye(2)).tolist()
    [[-0.6000000238418579, -0.800000011920929], [-0.800000011920929, 0.6000000238418579]]
    """
    op = "torch.ormqr"
    for t, arg in ((input, "input"), (input2, "tau"), (input3, "other")):
        _need_tensor(t, op, arg)
    A, tau, C = input, input2, input3  # noqa: N806
    if A.ndim < 2 or C.ndim < 2:
        raise RuntimeError(f"{op}: input and other must have at least 2 dimensions (got shapes {A.shape} and "
                           f"{C.shape}).")
    m, side = A.shape[-2], (-2 if left else -1)
    if C.shape[side] != m:
        raise RuntimeError(f"{op}: other.shape[{side}] must be equal to input.shape[-2] (got shapes {A.shape} "
                           f"and {C.shape}).")
    k = tau.shape[-1] if tau.ndim else -1
    if tau.ndim != A.ndim - 1 or k != builtins.min(m, A.shape[-1]) or tau.shape[:-1] != A.shape[:-2]:
        raise RuntimeError(f"{op}: tau.shape[-1] must be equal to min(other.shape[{side}], input.shape[-1]) and "
                           f"tau's batch dims input's (got tau {tau.shape}, input {A.shape}).")
    if not A.dtype == tau.dtype == C.dtype:
        raise RuntimeError(f"{op}: Expected input, tau and other to have the same dtype, but got {A.dtype}, "
                           f"{tau.dtype} and {C.dtype}")
    batch = A.shape[:-2]
    vectors = engine.cat([A[..., :, :k], engine.zeros(batch + (m, m - k), dtype=A.dtype, device=A.device)], -1)
    taus = engine.cat([tau, engine.zeros(batch + (m - k,), dtype=A.dtype, device=A.device)], -1)
    Q = householder_product(vectors, taus)  # noqa: N806
    Q = Q.mH if transpose else Q  # noqa: N806
    return Q @ C if left else C @ Q


def lstsq(A: Tensor, B: Tensor, rcond=None, *, driver=None):  # noqa: N803
    """Least-squares solution of A X ≈ B for (..., m, n) A and (..., m, k) B (or (..., m)), as
    torch.linalg.lstsq: the minimum-norm solution pinv(A) B (so the gradient is pinv's, as torch's), and
    the fields each LAPACK driver fills: residuals (squared, (..., k)) when m > n and, except for 'gels',
    A has full rank ('gelsy' leaves them empty); rank unless 'gels'; singular_values for 'gelsd'/'gelss'.

    >>> import engine
    >>> A = engine.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    >>> engine.linalg.lstsq(A, engine.tensor([1.0, 2.0, 3.0]), driver="gelsd").residuals.tolist()
    [9.0]
    """
    _need_tensor(A, "linalg.lstsq", "A")
    _need_tensor(B, "linalg.lstsq", "B")
    driver = "gelsy" if driver is None else driver
    if driver not in ("gels", "gelsy", "gelsd", "gelss"):
        raise RuntimeError("torch.linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)")
    if A.dtype.kind not in "fc" or B.dtype.kind not in "fc":
        raise RuntimeError("This function doesn't handle types other than float and double")
    if A.ndim < 2:
        raise RuntimeError(f"torch.linalg.lstsq: input must have at least 2 dimensions, got {A.shape}")
    vector = B.ndim == A.ndim - 1
    b = B.unsqueeze(-1) if vector else B
    if b.shape[-2] != A.shape[-2]:
        raise RuntimeError("torch.linalg.lstsq: input.size(-2) should match other.size(-2)")
    m, n = A.shape[-2:]
    x = pinv(A) @ b
    xp = array_module(A._data)
    batch = np.broadcast_shapes(A.shape[:-2], b.shape[:-2])
    s = xp.linalg.svd(A._data, compute_uv=False)
    tol = (np.finfo(A.dtype).eps * builtins.max(m, n) if rcond is None else rcond) * s.max(-1, initial=0)
    rank = (s > tol[..., None]).sum(-1).astype(np.int64)
    empty = Tensor(np.zeros((0,), dtype=s.dtype)).to(A.device)  # A's real dtype
    residuals = (x.real if x.dtype.kind == "c" else x).reshape(-1)[:0]  # empty, in the graph (as torch's)
    if m > n and driver != "gelsy" and (driver == "gels" or bool((rank == n).all())):
        r = A @ x - b
        residuals = (r * r).sum(-2) if r.dtype.kind != "c" else (r.real * r.real + r.imag * r.imag).sum(-2)
    rank_t = Tensor(np.zeros((0,), dtype=np.int64)).to(A.device) if driver == "gels" else \
        Tensor(xp.broadcast_to(rank, batch).copy())
    sv = Tensor(xp.broadcast_to(s, batch + s.shape[-1:]).copy()) if driver in ("gelsd", "gelss") else empty
    return _make("linalg_lstsq", ("solution", "residuals", "rank", "singular_values"),
                 (x.squeeze(-1) if vector else x, residuals, rank_t, sv))


def matrix_exp(A: Tensor) -> Tensor:  # noqa: N803
    """exp(A) of (..., n, n) matrices by scaling and squaring a degree-18 Taylor polynomial (error
    below float64's epsilon once ‖A/2^s‖₁ <= 1), computed in float64 and returned in A's dtype;
    differentiable through the matmuls.

    >>> import engine
    >>> engine.linalg.matrix_exp(engine.zeros(2, 2)).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    import engine

    _square("linalg.matrix_exp", A)
    if A.dtype not in (np.float64, np.complex128):  # float32's rounding, amplified by the squarings, would cost
        wide = engine.complex128 if A.dtype.kind == "c" else engine.float64  # digits torch keeps
        return matrix_exp(A.to(wide)).to(A.dtype)
    n = A.shape[-1]
    norm = float(array_module(A._data).abs(A._data).sum(-2).max()) if A.numel() else 0.0
    s = max(0, math.ceil(math.log2(norm))) if norm > 1 and math.isfinite(norm) else 0
    x = A * (0.5**s) if s else A
    eye = engine.eye(n, dtype=A.dtype, device=A.device)
    # Horner: I + x(I + x/2(I + x/3(... (I + x/18))))
    out = eye + x * (1 / 18)
    for k in range(17, 0, -1):
        out = eye + (x @ out) * (1 / k)
    for _ in range(s):
        out = out @ out
    return out


def cond(A: Tensor, p=None) -> Tensor:  # noqa: N803
    """Condition number: σ_max/σ_min (p None or 2), σ_min/σ_max (p = -2), else ‖A‖_p·‖A⁻¹‖_p (inf where A
    is singular, as torch).

    >>> import engine
    >>> engine.linalg.cond(engine.tensor([[1.0, 2.0], [2.0, 4.0]]), 1).item()
    inf
    """
    if p in ("fro", "nuc"):
        _square(f"linalg.cond(ord={p})", A)
    if A.ndim >= 2 and A.numel() == 0:  # torch: zeros over the batch, outside the graph (any shape)
        return engine.zeros(A.shape[:-2], dtype=A.dtype, device=A.device)
    if p in (None, 2, -2):
        s = svdvals(A)
        r = s[..., 0] / s[..., -1]
        return r if p != -2 else 1 / r
    inverse, info = inv_ex(_square("linalg.cond", A))
    r = matrix_norm(A, p) * matrix_norm(inverse, p)
    if not info._data.any():
        return r
    # a singular matrix's condition number is inf, as torch
    return engine.where(info != 0, engine.full_like(r, math.inf), r.detach())


def tensorinv(A: Tensor, ind: int = 2) -> Tensor:  # noqa: N803
    """The tensor inverse over the first ``ind`` dims (A reshaped to a square matrix)."""
    lead, rest = A.shape[:ind], A.shape[ind:]
    m, k = math.prod(lead), math.prod(rest)
    if m != k:
        raise RuntimeError(f"linalg.tensorinv: Expected self to satisfy the requirement prod(self.shape[ind:]) == "
                           f"prod(self.shape[:ind]), but got {k} != {m}")
    return inv(A.reshape(m, k)).reshape(rest + lead)


def tensorsolve(A: Tensor, B: Tensor, dims=None) -> Tensor:  # noqa: N803
    """X with tensordot(A, X, X.ndim) = B."""
    if dims is not None:
        dims = [d % A.ndim for d in dims]
        A = A.movedim(dims, list(range(A.ndim - len(dims), A.ndim)))  # noqa: N806
    rest = A.shape[B.ndim:]
    m = math.prod(B.shape)
    return solve(A.reshape(m, math.prod(rest)), B.reshape(m)).reshape(rest)


def triangular_solve(b: Tensor, A: Tensor, upper: bool = True, transpose: bool = False,  # noqa: N803
                     unitriangular: bool = False):
    """Deprecated torch.triangular_solve: (solution of op(A) X = b, A's copy)."""
    a = A.mT if transpose else A
    x = solve_triangular(a, b, upper=upper != transpose, unitriangular=unitriangular)
    return _make("triangular_solve", ("solution", "cloned_coefficient"), (x, A * 1))


def _zero_pivot(op: str, info: np.ndarray) -> RuntimeError:
    k = _first_info(info)
    return RuntimeError(f"torch.{op}: {_batch_prefix(info)}U[{k},{k}] is zero and using it on lu_solve would result "
                        "in a division by zero. If you still want to perform the factorization, consider calling "
                        "linalg.lu(A, pivot) or linalg.lu_factor_ex(A, pivot)")


def lu_factor(A: Tensor, *, pivot: bool = True):  # noqa: N803
    """(LU, pivots) of (..., m, n) by Gaussian elimination with partial pivoting (LAPACK's getrf
    choices: the first largest |entry| of each column), composed from engine ops so the gradient
    flows; pivots are 1-based int32, as torch. A zero pivot raises, as torch (lu_factor_ex reports it).

    >>> import engine
    >>> engine.linalg.lu_factor(engine.tensor([[1.0, 2.0], [3.0, 4.0]])).pivots.tolist()
    [2, 2]
    """
    lu_, piv, info = lu_factor_ex(A, pivot=pivot)
    if info._data.any():
        raise _zero_pivot("linalg.lu_factor", _host(info._data))
    return _make("linalg_lu_factor", ("LU", "pivots"), (lu_, piv))


def lu_factor_ex(A: Tensor, *, pivot: bool = True, check_errors: bool = False):  # noqa: N803
    """(LU, pivots, info) as torch.linalg.lu_factor_ex: info (int32, per matrix) is the 1-based index of
    U's first zero diagonal entry (0: none); a zero pivot leaves its column of L unscaled, as LAPACK.

    >>> import engine
    >>> engine.linalg.lu_factor_ex(engine.tensor([[1.0, 2.0], [2.0, 4.0]])).info.item()
    2
    """
    import engine

    if not pivot:
        raise NotImplementedError("lu_factor: pivot=False is not supported on the CPU (as torch)")
    if A.ndim < 2:
        raise RuntimeError(f"linalg.lu_factor: The input tensor A must have at least 2 dimensions, got {A.shape}")
    m, n = A.shape[-2:]
    k = builtins.min(m, n)
    x = A
    batch = A.shape[:-2]
    pivots = np.zeros(batch + (k,), dtype=np.int32)
    for j in range(k):
        col = _cabs1(x._data[..., j:, j])
        piv = (col.argmax(-1) + j) if col.shape[-1] else np.zeros(batch, dtype=np.int64)
        piv = np.asarray(piv.get() if hasattr(piv, "get") else piv)
        pivots[..., j] = piv + 1
        perm = np.broadcast_to(np.arange(m), batch + (m,)).copy()
        rows = perm[..., j].copy()
        np.put_along_axis(perm, np.asarray(piv)[..., None], rows[..., None], -1)
        perm[..., j] = piv
        if (perm != np.arange(m)).any():
            idx = Tensor(np.broadcast_to(perm[..., None], batch + (m, n)).copy()).to(A.device)
            x = x.gather(x.ndim - 2, idx)
        if j + 1 >= m:
            continue
        pivot_value = x[..., j, j]
        pivot_value = engine.where(pivot_value == 0, engine.ones_like(pivot_value), pivot_value)  # column all 0
        lcol = x[..., j + 1:, j] / pivot_value.unsqueeze(-1)  # (..., m-j-1)
        trail = x[..., j + 1:, j + 1:] - lcol.unsqueeze(-1) * x[..., j, j + 1:].unsqueeze(-2)
        lower = engine.cat([x[..., j + 1:, :j], lcol.unsqueeze(-1), trail], -1)
        x = engine.cat([x[..., : j + 1, :], lower], -2)
    info = np.zeros(batch, dtype=np.int32)
    diag = _host(x._data.diagonal(0, -2, -1)) == 0
    if k:
        info[diag.any(-1)] = diag.argmax(-1)[diag.any(-1)] + 1
    if check_errors and info.any():
        raise _zero_pivot("linalg.lu_factor_ex", info)
    return _make("linalg_lu_factor_ex", ("LU", "pivots", "info"),
                 (x, Tensor(pivots).to(A.device), Tensor(info).to(A.device)))


def _perm_from_pivots(pivots: np.ndarray, m: int) -> np.ndarray:
    """perm with A[perm] = L U from LAPACK's 1-based pivots: row i of LU is row perm[i] of A."""
    batch = pivots.shape[:-1]
    perm = np.broadcast_to(np.arange(m), batch + (m,)).copy()
    for j in range(pivots.shape[-1]):
        p = pivots[..., j].astype(np.int64) - 1
        a = perm[..., j].copy()
        b = np.take_along_axis(perm, p[..., None], -1)[..., 0]
        perm[..., j] = b
        np.put_along_axis(perm, p[..., None], a[..., None], -1)
    return perm


def lu_unpack(LU_data: Tensor, LU_pivots: Tensor, unpack_data: bool = True, unpack_pivots: bool = True):  # noqa: N803
    """(P, L, U) with A = P L U from lu_factor's output."""
    import engine

    m, n = LU_data.shape[-2:]
    k = builtins.min(m, n)
    piv = LU_pivots._data
    perm = _perm_from_pivots(np.asarray(piv.get() if hasattr(piv, "get") else piv), m)
    eye = np.eye(m, dtype=LU_data.dtype)
    p = np.swapaxes(eye[perm], -1, -2)  # P[perm[i], i] = 1
    lower = LU_data[..., :, :k].tril(-1) + engine.eye(m, k, dtype=LU_data.dtype, device=LU_data.device)
    upper = LU_data[..., :k, :].triu()
    return _make("lu_unpack", ("P", "L", "U"), (Tensor(np.ascontiguousarray(p)).to(LU_data.device), lower, upper))


def lu(A: Tensor, *, pivot: bool = True):  # noqa: N803
    """(P, L, U) with A = P L U (partial pivoting, differentiable through L and U)."""
    lu_, piv, _ = lu_factor_ex(A, pivot=pivot)
    p, lower, upper = lu_unpack(lu_, piv)
    return _make("linalg_lu", ("P", "L", "U"), (p, lower, upper))


def lu_solve(LU: Tensor, pivots: Tensor, B: Tensor, *, left: bool = True, adjoint: bool = False) -> Tensor:  # noqa: N803
    """X with A X = B (left=False: X A = B; adjoint: Aᴴ) from lu_factor's output."""
    p, lower, upper = lu_unpack(LU, pivots)
    a = p @ lower @ upper
    a = a.mH if adjoint else a
    return solve(a, B, left=left)


# torch.linalg's names for the functions above whose plain name means something else at top level
norm = linalg_norm
cross = linalg_cross
diagonal = linalg_diagonal
matmul = engine.matmul

__all__ = ["inv", "det", "slogdet", "solve", "solve_triangular", "cholesky", "cholesky_ex", "inv_ex", "eigh", "eig",
           "eigvals",
           "eigvalsh", "svd", "svdvals", "qr", "pinv", "matrix_rank", "matrix_power", "vector_norm", "matrix_norm",
           "norm", "vecdot", "multi_dot", "cross", "diagonal", "lstsq", "matmul", "matrix_exp", "cond", "tensorinv",
           "tensorsolve", "lu_factor", "lu", "lu_solve", "LinAlgError", "solve_ex", "lu_factor_ex", "vander",
           "householder_product"]
