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
from engine.function import is_grad_enabled
from engine.functional import _need_tensor
from engine.ops import linalg as linalg_ops
from engine.ops.movement import wrap_dim
from engine.tensor import Tensor
from engine.torch_more import _make, _square, _zero_link
from engine.torch_more import cross as _cross


def inv(A: Tensor) -> Tensor:  # noqa: N803
    """Inverse of (..., n, n) matrices.

    >>> import engine
    >>> engine.linalg.inv(engine.tensor([[2.0, 0], [0, 4.0]])).tolist()
    [[0.5, 0.0], [0.0, 0.25]]
    """
    _square("linalg.inv", _need_tensor(A, "linalg.inv", "A"))
    try:
        return linalg_ops.Inverse.apply(A)
    except np.linalg.LinAlgError:
        raise RuntimeError("linalg.inv: The diagonal element 1 is zero, the inversion could not be completed "
                           "because the input matrix is singular.") from None


def det(A: Tensor) -> Tensor:  # noqa: N803
    """Determinant of (..., n, n) matrices -> (...)."""
    return linalg_ops.Det.apply(_square("linalg.det", _need_tensor(A, "linalg.det", "A")))


def slogdet(A: Tensor):  # noqa: N803
    """(sign, log|det|) of (..., n, n) matrices; the gradient flows through log|det|."""
    _square("linalg.slogdet", _need_tensor(A, "linalg.slogdet", "A"))
    sign, _ = array_module(A.data).linalg.slogdet(A.data)
    return _make("slogdet", ("sign", "logabsdet"), (Tensor(sign.astype(A.dtype)), linalg_ops.LogAbsDet.apply(A)))


def logdet(A: Tensor) -> Tensor:  # noqa: N803
    """log det A: nan where det < 0, -inf where det = 0 (as torch.logdet)."""
    import engine

    sign, logabs = slogdet(A)
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
        raise RuntimeError("linalg.solve: The solver failed because the input matrix is singular.") from None
    return x.squeeze(-1) if vector else x


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True,  # noqa: N803
                     unitriangular: bool = False) -> Tensor:
    """X with A X = B for triangular A (only its upper/lower triangle is read)."""
    import engine

    _square("linalg.solve_triangular", A)
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
        raise RuntimeError("linalg.cholesky: The factorization could not be completed because the input is not "
                           "positive-definite.") from None
    return out.mT if upper else out


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False):  # noqa: N803
    """(L, info): info 0 on success (errors raise here, like check_errors=True)."""
    out = cholesky(A, upper=upper)
    return _make("cholesky_ex", ("L", "info"), (out, Tensor(np.zeros(A.shape[:-2], dtype=np.int32))))


def inv_ex(A: Tensor, *, check_errors: bool = False):  # noqa: N803
    """(inverse, info): info 0 on success (errors raise here, like check_errors=True)."""
    return _make("inv_ex", ("inverse", "info"), (inv(A), Tensor(np.zeros(A.shape[:-2], dtype=np.int32))))


def eigh(A: Tensor, UPLO: str = "L"):  # noqa: N803
    """(eigenvalues ascending (..., n), eigenvectors (..., n, n)) of symmetric matrices; the gradient
    needs distinct eigenvalues (as torch). Only the ``UPLO`` triangle is read."""
    _square("linalg.eigh", _need_tensor(A, "linalg.eigh", "A"))
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"linalg.eigh: Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    a = A if UPLO == "L" else A.mT
    packed = linalg_ops.EighPacked.apply(a)
    n = A.shape[-1]
    return _make("eigh", ("eigenvalues", "eigenvectors"), (packed[..., n], packed[..., :n]))


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:  # noqa: N803
    """Eigenvalues (ascending) of symmetric matrices."""
    return eigh(A, UPLO)[0]


def _no_grad_linalg(op: str, A: Tensor) -> None:
    if A.requires_grad and is_grad_enabled():
        raise NotImplementedError(f"linalg.{op}: the gradient is not implemented here yet; call it under "
                                  "engine.no_grad() or on a detached tensor")


def svd(A: Tensor, full_matrices: bool = True):  # noqa: N803
    """(U, S, Vh) of (..., m, n) matrices. Differentiable with ``full_matrices=False`` (or square A):
    the gradient needs distinct nonzero singular values and a loss that does not depend on the signs
    of the singular vectors, as torch's."""
    if A.ndim < 2:
        raise RuntimeError(f"linalg.svd: The input tensor A must have at least 2 dimensions, got {A.shape}")
    m, n = A.shape[-2:]
    if full_matrices and m != n:
        _no_grad_linalg("svd (full_matrices=True on a non-square matrix)", A)
        u, s, vh = array_module(A.data).linalg.svd(A.data, full_matrices=True)
        return _make("svd", ("U", "S", "Vh"), (Tensor(u), Tensor(s), Tensor(vh)))
    k = builtins.min(m, n)
    packed = linalg_ops.SvdPacked.apply(A)
    batch = A.shape[:-2]
    u = packed[..., : m * k].reshape(batch + (m, k))
    s = packed[..., m * k: m * k + k]
    vh = packed[..., m * k + k:].reshape(batch + (k, n))
    return _make("svd", ("U", "S", "Vh"), (u, s, vh))


def svdvals(A: Tensor) -> Tensor:  # noqa: N803
    """Singular values (descending) of (..., m, n) matrices; the gradient (U diag(gS) Vh) needs
    distinct nonzero singular values."""
    if A.ndim < 2:
        raise RuntimeError(f"linalg.svdvals: The input tensor A must have at least 2 dimensions, got {A.shape}")
    return svd(A, full_matrices=False)[1]


def qr(A: Tensor, mode: str = "reduced"):  # noqa: N803
    """(Q, R) of (..., m, n) matrices. Differentiable for m >= n in 'reduced' mode (and square A in
    'complete' mode), A of full column rank, as torch; other shapes and modes are forward-only."""
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
                           "'r', or 'complete'")
    if A.ndim < 2:
        raise RuntimeError(f"linalg.qr: The input tensor A must have at least 2 dimensions, got {A.shape}")
    m, n = A.shape[-2:]
    if mode != "r" and m >= n and (mode == "reduced" or m == n):
        packed = linalg_ops.QrPacked.apply(A)
        batch = A.shape[:-2]
        return _make("qr", ("Q", "R"), (packed[..., : m * n].reshape(batch + (m, n)),
                                        packed[..., m * n:].reshape(batch + (n, n))))
    _no_grad_linalg(f"qr (mode='{mode}', shape {A.shape})", A)
    xp = array_module(A.data)
    q, r = xp.linalg.qr(A.data, mode="complete" if mode == "complete" else "reduced")
    if mode == "r":
        q = xp.zeros((0,), dtype=A.dtype)
    return _make("qr", ("Q", "R"), (Tensor(q), Tensor(r)))


def pinv(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:  # noqa: N803
    """Moore-Penrose pseudo-inverse of full-rank (..., m, n) matrices (via the normal equations, so
    the gradient is exact there); rank-deficient input raises."""
    if A.ndim < 2:
        raise RuntimeError(f"linalg.pinv: The input tensor A must have at least 2 dimensions, got {A.shape}")
    m, n = A.shape[-2:]
    try:
        if m >= n:
            return solve(A.mT @ A, A.mT)
        return solve(A @ A.mT, A).mT
    except RuntimeError:
        raise RuntimeError(f"linalg.pinv: only full-rank matrices are supported here (shape {A.shape})") from None


def matrix_rank(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:  # noqa: N803
    """Rank of (..., m, n) matrices (int64, no gradient)."""
    xp = array_module(A.data)
    s = xp.linalg.svd(A.data, compute_uv=False)
    tol_r = rtol if rtol is not None else (0.0 if atol is not None and atol > 0 else
                                           builtins.max(A.shape[-2:]) * np.finfo(A.dtype).eps)
    tol = xp.maximum(atol or 0.0, tol_r * s.max(axis=-1, initial=0)[..., None])
    return Tensor((s > tol).sum(axis=-1).astype(np.int64))


def matrix_power(A: Tensor, n: int) -> Tensor:  # noqa: N803
    """A to the integer power n (n < 0: of the inverse), by repeated squaring."""
    import engine

    _square("linalg.matrix_power", A)
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
    x = x.to(dtype) if dtype is not None else x
    if x.dtype.kind != "f":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point tensor as input. Got {x.dtype}")
    return x.norm(ord, dim, keepdim)


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: N803, A002
    """Matrix norm over the two ``dim``: 'fro', 'nuc', inf, -inf, 1, -1, 2, -2 (as torch)."""
    A = A.to(dtype) if dtype is not None else A  # noqa: N806
    if A.ndim < 2:
        raise RuntimeError(f"linalg.matrix_norm: The input tensor A must have at least 2 dimensions, got {A.shape}")
    d0, d1 = (wrap_dim(d, A.ndim, "linalg.matrix_norm") for d in dim)
    if ord == "fro":
        return A.norm(2, (d0, d1), keepdim)
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
    """Dot products along ``dim`` (broadcast)."""
    return (x * y).sum(dim)


def multi_dot(tensors: Sequence[Tensor]) -> Tensor:
    """Chain of matrix products (first may be 1-D, last may be 1-D), left to right."""
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
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


def lstsq(A: Tensor, B: Tensor, rcond=None, *, driver=None):  # noqa: N803
    """Least-squares solution of full-column-rank A X ≈ B via the normal equations (differentiable)."""
    vector = B.ndim == A.ndim - 1
    b = B.unsqueeze(-1) if vector else B
    x = solve(A.mT @ A, A.mT @ b)
    x = x.squeeze(-1) if vector else x
    empty = Tensor(np.zeros((0,), dtype=A.dtype))
    return _make("lstsq", ("solution", "residuals", "rank", "singular_values"),
                 (x, empty, Tensor(np.zeros((0,), dtype=np.int64)), empty))


def matrix_exp(A: Tensor) -> Tensor:  # noqa: N803
    """exp(A) of (..., n, n) matrices by scaling and squaring a degree-18 Taylor polynomial (error
    below float64's epsilon once ‖A/2^s‖₁ <= 1); differentiable through the matmuls."""
    import engine

    _square("linalg.matrix_exp", A)
    n = A.shape[-1]
    norm = float(array_module(A.data).abs(A.data).sum(-2).max()) if A.numel() else 0.0
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
    """Condition number: σ_max/σ_min (p None or 2), σ_min/σ_max (p = -2), else ‖A‖_p·‖A⁻¹‖_p."""
    if p in (None, 2, -2):
        s = svdvals(A)
        r = s[..., 0] / s[..., -1]
        return r if p != -2 else 1 / r
    return matrix_norm(A, p) * matrix_norm(inv(A), p)


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


def lu_factor(A: Tensor, *, pivot: bool = True):  # noqa: N803
    """(LU, pivots) of (..., m, n) by Gaussian elimination with partial pivoting (LAPACK's getrf
    choices: the first largest |entry| of each column), composed from engine ops so the gradient
    flows; pivots are 1-based int32, as torch."""
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
    xp = array_module(A.data)
    for j in range(k):
        col = xp.abs(x.data[..., j:, j])
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
        lcol = x[..., j + 1:, j] / pivot_value.unsqueeze(-1)  # (..., m-j-1)
        trail = x[..., j + 1:, j + 1:] - lcol.unsqueeze(-1) * x[..., j, j + 1:].unsqueeze(-2)
        lower = engine.cat([x[..., j + 1:, :j], lcol.unsqueeze(-1), trail], -1)
        x = engine.cat([x[..., : j + 1, :], lower], -2)
    return _make("lu_factor", ("LU", "pivots"), (x, Tensor(pivots).to(A.device)))


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
    piv = LU_pivots.data
    perm = _perm_from_pivots(np.asarray(piv.get() if hasattr(piv, "get") else piv), m)
    eye = np.eye(m, dtype=LU_data.dtype)
    p = np.swapaxes(eye[perm], -1, -2)  # P[perm[i], i] = 1
    lower = LU_data[..., :, :k].tril(-1) + engine.eye(m, k, dtype=LU_data.dtype, device=LU_data.device)
    upper = LU_data[..., :k, :].triu()
    return _make("lu_unpack", ("P", "L", "U"), (Tensor(np.ascontiguousarray(p)).to(LU_data.device), lower, upper))


def lu(A: Tensor, *, pivot: bool = True):  # noqa: N803
    """(P, L, U) with A = P L U (partial pivoting, differentiable through L and U)."""
    lu_, piv = lu_factor(A, pivot=pivot)
    p, lower, upper = lu_unpack(lu_, piv)
    return _make("lu", ("P", "L", "U"), (p, lower, upper))


def lu_solve(LU: Tensor, pivots: Tensor, B: Tensor, *, left: bool = True, adjoint: bool = False) -> Tensor:  # noqa: N803
    """X with A X = B (left=False: X A = B; adjoint: Aᵀ) from lu_factor's output."""
    p, lower, upper = lu_unpack(LU, pivots)
    a = p @ lower @ upper
    a = a.mT if adjoint else a
    return solve(a, B, left=left)


# torch.linalg's names for the functions above whose plain name means something else at top level
norm = linalg_norm
cross = linalg_cross
diagonal = linalg_diagonal
matmul = engine.matmul

__all__ = ["inv", "det", "slogdet", "solve", "solve_triangular", "cholesky", "cholesky_ex", "inv_ex", "eigh",
           "eigvalsh", "svd", "svdvals", "qr", "pinv", "matrix_rank", "matrix_power", "vector_norm", "matrix_norm",
           "norm", "vecdot", "multi_dot", "cross", "diagonal", "lstsq", "matmul", "matrix_exp", "cond", "tensorinv",
           "tensorsolve", "lu_factor", "lu", "lu_solve"]
