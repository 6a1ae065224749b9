"""torch.nn.utils.parametrizations: weight_norm, spectral_norm and orthogonal written as
parametrizations (``nn.utils.parametrize``), with torch's state_dict layout.

>>> import nn
>>> m = weight_norm(nn.Linear(3, 2))
>>> list(m.state_dict())
['bias', 'parametrizations.weight.original0', 'parametrizations.weight.original1']
>>> m.parametrizations.weight.original0.shape  # g: one norm per output row (dim=0)
(2, 1)
"""

from __future__ import annotations

from enum import Enum, auto

import numpy as np

import engine
import engine.functional as F
from engine import Tensor, no_grad
from nn.module import Module
from nn.utils import parametrize

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


def _norm_except_dim(v: Tensor, dim: int) -> Tensor:
    """torch.norm_except_dim(v, 2, dim): the 2-norm over every dim but ``dim``, kept as size-1 dims
    (a 0-d total norm for dim=-1, as torch, which reads -1 as "no dim" here)."""
    if dim == -1:
        return v.norm()
    dim = dim % v.ndim
    axes = tuple(d for d in range(v.ndim) if d != dim)
    return (v * v).sum(dim=axes, keepdim=True).sqrt() if axes else v.abs()


def _weight_norm(v: Tensor, g: Tensor, dim: int) -> Tensor:
    """torch._weight_norm: v * (g / ||v||), the norm taken as ``_norm_except_dim``."""
    return v * (g / _norm_except_dim(v, dim))


class _WeightNorm(Module):
    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        return _norm_except_dim(weight, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Weight normalization: ``module.<name>`` becomes g * v / ||v||, the norm taken over every dim
    but ``dim`` (over all of them for ``dim=None``), with g = ``parametrizations.<name>.original0``
    and v = ``original1``. A state_dict of the older ``nn.utils.weight_norm`` (``<name>_g``,
    ``<name>_v``) loads into it.

    >>> import nn
    >>> m = weight_norm(nn.Linear(3, 2))
    >>> bool(((m.weight - m.parametrizations.weight.original1).abs() < 1e-6).all())  # g = ||v|| at first
    True
    """
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)

    def _weight_norm_compat_hook(mod, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                 error_msgs) -> None:
        g_key, v_key = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g_key)
            state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v_key)

    module.register_load_state_dict_pre_hook(_weight_norm_compat_hook)
    return module


class _SpectralNorm(Module):
    """W / sigma(W), sigma estimated by power iteration on the buffers ``_u`` and ``_v``, updated
    (without gradient) at each call in training mode; a 1-D weight is only normalized."""

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but "
                             f"got n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight)
            h, w = weight_mat.shape
            kw = dict(dtype=weight.dtype, device=weight.device)
            self.register_buffer("_u", F.normalize(engine.randn(h, **kw), dim=0, eps=self.eps))
            self.register_buffer("_v", F.normalize(engine.randn(w, **kw), dim=0, eps=self.eps))
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, weight_mat: Tensor, n_power_iterations: int) -> None:
        with no_grad():  # the buffers are written in place, as torch's out=
            for _ in range(n_power_iterations):
                self._u.copy_(F.normalize(engine.mv(weight_mat, self._v), dim=0, eps=self.eps))
                self._v.copy_(F.normalize(engine.mv(weight_mat.mH, self._u), dim=0, eps=self.eps))

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u, v = self._u.clone(), self._v.clone()  # later in-place updates leave this graph alone
        sigma = engine.vdot(u, engine.mv(weight_mat, v))
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def _transposed_conv_types() -> tuple[type, ...]:
    from nn.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d

    return ConvTranspose1d, ConvTranspose2d, ConvTranspose3d


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12,
                  dim: int | None = None) -> Module:
    """Spectral normalization: ``module.<name>`` becomes W / sigma(W), sigma the largest singular
    value of W seen as a matrix (``dim`` first, 1 for ConvTranspose, else 0), estimated by
    ``n_power_iterations`` steps of power iteration per call in training mode, with the vectors
    kept in ``parametrizations.<name>.0._u`` and ``._v``.

    >>> import nn
    >>> m = spectral_norm(nn.Linear(4, 3))
    >>> sorted(k for k in m.state_dict() if "parametrizations" in k)
    ['parametrizations.weight.0._u', 'parametrizations.weight.0._v', 'parametrizations.weight.original']
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if isinstance(module, _transposed_conv_types()) else 0
    parametrize.register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


# ---- orthogonal ---------------------------------------------------------------------------------
def _is_orthogonal(Q: Tensor) -> bool:
    n, k = Q.shape[-2], Q.shape[-1]
    eps = 10.0 * n * np.finfo(Q.dtype).eps
    return bool(engine.allclose(Q.mH @ Q, engine.eye(k, dtype=Q.dtype, device=Q.device), atol=eps))


def _geqrf(A: Tensor) -> tuple[Tensor, Tensor]:
    """torch.geqrf (no gradient): LAPACK's compact QR, R on and above the diagonal, the Householder
    vectors below it, and their scales tau. NumPy's ``qr(mode="raw")`` gives it transposed."""
    h, tau = np.linalg.qr(A.cpu().numpy(), mode="raw")
    return Tensor(np.ascontiguousarray(np.swapaxes(h, -1, -2)), device=A.device), Tensor(tau, device=A.device)


def _make_orthogonal(A: Tensor) -> Tensor:
    """The Q of A's QR decomposition with the signs that make R's diagonal positive (torch's)."""
    X, tau = _geqrf(A)
    Q = _householder_product(X, tau)
    return Q * engine.sgn(X.diagonal(dim1=-2, dim2=-1)).unsqueeze(-2)


def _householder_product(A: Tensor, tau: Tensor) -> Tensor:
    """torch.linalg.householder_product: the first k columns of H_1 ... H_k, H_i = I - tau_i v_i v_i^H,
    v_i the i-th column of A below the diagonal with a 1 on it. Composed from engine ops (differentiable)."""
    n, k = A.shape[-2], A.shape[-1]
    eye = engine.eye(n, dtype=A.dtype, device=A.device)
    V = A.tril(-1) + eye[:, :k]
    Q = eye[:, :k].expand(*A.shape[:-2], n, k)
    for i in reversed(range(k)):  # Q <- H_i Q, from the last reflector to the first
        v = V[..., :, i:i + 1]
        Q = Q - (tau[..., i:i + 1].unsqueeze(-1) * v) @ (v.mH @ Q)
    return Q


class _OrthMaps(Enum):
    matrix_exp = auto()
    cayley = auto()
    householder = auto()


class _Orthogonal(Module):
    def __init__(self, weight: Tensor, orthogonal_map: _OrthMaps, *, use_trivialization: bool = True) -> None:
        super().__init__()
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X: Tensor) -> Tensor:
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X = X.mT
            n, k = k, n
        if self.orthogonal_map in (_OrthMaps.matrix_exp, _OrthMaps.cayley):
            X = X.tril()
            if n != k:
                X = engine.cat([X, engine.zeros(*X.shape[:-2], n, n - k, dtype=X.dtype, device=X.device)], dim=-1)
            A = X - X.mH
            if self.orthogonal_map == _OrthMaps.matrix_exp:
                Q = engine.matrix_exp(A)
            else:
                Id = engine.eye(n, dtype=A.dtype, device=A.device)
                Q = engine.linalg.solve(Id - 0.5 * A, Id + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        else:
            A = X.tril(-1)
            tau = 2.0 / (1.0 + (A * A).sum(dim=-2))
            Q = _householder_product(A, tau)
            Q = Q * X.diagonal(dim1=-2, dim2=-1).int().unsqueeze(-2)
        if hasattr(self, "base"):
            Q = self.base @ Q
        if transposed:
            Q = Q.mT
        return Q

    def right_inverse(self, Q: Tensor) -> Tensor:
        with no_grad():
            if Q.shape != self.shape:
                raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. "
                                 f"Got a tensor of shape {Q.shape}.")
            Q_init = Q
            n, k = Q.shape[-2], Q.shape[-1]
            transpose = n < k
            if transpose:
                Q = Q.mT
                n, k = k, n
            if not hasattr(self, "base"):
                if self.orthogonal_map in (_OrthMaps.cayley, _OrthMaps.matrix_exp):
                    raise NotImplementedError("It is not possible to assign to the matrix exponential "
                                              "or the Cayley parametrizations when use_trivialization=False.")
                A, tau = _geqrf(Q)  # its diagonal becomes sign(diag), negated where tau is 0 (torch's)
                d = engine.sign(A.diagonal(dim1=-2, dim2=-1))
                d = engine.where(tau == 0.0, -d, d)
                A.diagonal(dim1=-2, dim2=-1).copy_(d)  # a view: written into A
                return A.mT if transpose else A
            if n == k:
                Q = _make_orthogonal(Q) if not _is_orthogonal(Q) else Q.clone()
            else:
                N = engine.randn(*Q.shape[:-2], n, n - k, dtype=Q.dtype, device=Q.device)
                Q = _make_orthogonal(engine.cat([Q, N], dim=-1))
            self.base = Q
            n0, k0 = Q_init.shape[-2], Q_init.shape[-1]
            return (-engine.eye(n0, k0, dtype=Q_init.dtype, device=Q_init.device)).expand(*Q_init.shape).contiguous()


def orthogonal(module: Module, name: str = "weight", orthogonal_map: str | None = None, *,
               use_trivialization: bool = True) -> Module:
    """Make ``module.<name>`` (a matrix, or a batch of them) orthogonal (its columns or rows
    orthonormal): a map ("matrix_exp" for square matrices, "householder" otherwise by default,
    or "cayley") from an unconstrained ``original``; with ``use_trivialization`` the current
    weight is kept as ``base`` and ``original`` starts as minus the identity.

    >>> import nn
    >>> m = orthogonal(nn.Linear(3, 3))
    >>> bool(((m.weight @ m.weight.T - engine.eye(3)).abs() < 1e-5).all())
    True
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    orth_enum = getattr(_OrthMaps, orthogonal_map, None)
    if orth_enum is None:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
                         f"Got: {orthogonal_map}")
    orth = _Orthogonal(weight, orth_enum, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module
