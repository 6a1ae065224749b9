"""LowRankMultivariateNormal: N(loc, W Wᵀ + diag(D)) with ``cov_factor`` W (k × r) and ``cov_diag`` D,
whose density needs only the r × r "capacitance" C = I + Wᵀ D⁻¹ W (Woodbury's identity for the
inverse, the determinant lemma for log |Σ|), as torch.distributions.LowRankMultivariateNormal.

    >>> import engine
    >>> d = LowRankMultivariateNormal(engine.zeros(2), engine.tensor([[1.0], [0.0]]), engine.ones(2))
    >>> d.covariance_matrix.tolist(), d.rsample((3,)).shape
    ([[2.0, 0.0], [0.0, 1.0]], (3, 2))
"""

from __future__ import annotations

import math

import numpy as np

import engine
from engine import Tensor
from engine.distributions import constraints
from engine.distributions.families import Distribution, _mahalanobis, _tensor, lazy_property

__all__ = ["LowRankMultivariateNormal"]


def _capacitance_tril(w: Tensor, d: Tensor) -> Tensor:
    """cholesky(I + Wᵀ D⁻¹ W), batched."""
    wt_dinv = w.mT / d.unsqueeze(-2)
    return engine.linalg.cholesky(wt_dinv @ w + engine.eye(w.shape[-1], dtype=w.dtype, device=w.device))


def _lowrank_logdet(w: Tensor, d: Tensor, capacitance_tril: Tensor) -> Tensor:
    """log |W Wᵀ + D| = log |C| + log |D|."""
    return 2 * capacitance_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1) + d.log().sum(-1)


def _lowrank_mahalanobis(w: Tensor, d: Tensor, x: Tensor, capacitance_tril: Tensor) -> Tensor:
    """xᵀ (W Wᵀ + D)⁻¹ x = xᵀ D⁻¹ x − ‖C_L⁻¹ Wᵀ D⁻¹ x‖² (Woodbury)."""
    wt_dinv_x = ((w.mT / d.unsqueeze(-2)) @ x.unsqueeze(-1))[..., 0]
    return (x ** 2 / d).sum(-1) - _mahalanobis(capacitance_tril, wt_dinv_x)


class LowRankMultivariateNormal(Distribution):
    """N(loc, cov_factor cov_factorᵀ + diag(cov_diag)) over the last axis: ``loc`` (…, k),
    ``cov_factor`` (…, k, r), ``cov_diag`` (…, k) > 0, batch axes broadcast."""

    arg_constraints = {"loc": constraints.real_vector, "cov_factor": constraints.independent(constraints.real, 2),
                       "cov_diag": constraints.independent(constraints.positive, 1)}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, cov_factor, cov_diag, validate_args: bool | None = None):
        loc = _tensor(loc)
        cov_factor, cov_diag = _tensor(cov_factor, loc), _tensor(cov_diag, loc)
        if loc.ndim < 1:
            raise ValueError("loc must be at least one-dimensional.")
        event_shape = loc.shape[-1:]
        if cov_factor.ndim < 2:
            raise ValueError("cov_factor must be at least two-dimensional, with optional leading batch dimensions")
        if cov_factor.shape[-2:-1] != event_shape:
            raise ValueError(f"cov_factor must be a batch of matrices with shape {event_shape[0]} x m")
        if cov_diag.shape[-1:] != event_shape:
            raise ValueError(f"cov_diag must be a batch of vectors with shape {event_shape}")
        try:
            shape = np.broadcast_shapes(loc.shape + (1,), cov_factor.shape, cov_diag.shape + (1,))
        except ValueError:
            raise ValueError(f"Incompatible batch shapes: loc {loc.shape}, cov_factor {cov_factor.shape}, "
                             f"cov_diag {cov_diag.shape}") from None
        self.loc = loc.expand(*shape[:-1])
        self.cov_factor = cov_factor.expand(*shape)
        self.cov_diag = cov_diag.expand(*shape[:-1])
        self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag = cov_factor, cov_diag
        super().__init__(shape[:-2], event_shape, validate_args)
        self._capacitance_tril = _capacitance_tril(cov_factor, cov_diag)

    def expand(self, batch_shape, _instance=None) -> LowRankMultivariateNormal:
        new = type(self).__new__(type(self)) if _instance is None else _instance
        new.__dict__.update(self.__dict__)
        loc_shape = tuple(batch_shape) + self._event_shape
        new.loc, new.cov_diag = self.loc.expand(*loc_shape), self.cov_diag.expand(*loc_shape)
        new.cov_factor = self.cov_factor.expand(*loc_shape, self.cov_factor.shape[-1])
        for name in ("variance", "scale_tril", "covariance_matrix", "precision_matrix"):  # made for the old shape
            new.__dict__.pop(name, None)
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @lazy_property
    def variance(self) -> Tensor:
        w, d = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        return ((w ** 2).sum(-1) + d).expand(*self._batch_shape, *self._event_shape)

    @lazy_property
    def scale_tril(self) -> Tensor:
        """sqrt(D)·cholesky(I + D^(−1/2) W Wᵀ D^(−1/2)) (as torch: a factor of the covariance)."""
        n = self._event_shape[0]
        d_sqrt = self._unbroadcasted_cov_diag.sqrt().unsqueeze(-1)
        dinvsqrt_w = self._unbroadcasted_cov_factor / d_sqrt
        k = dinvsqrt_w @ dinvsqrt_w.mT + engine.eye(n, dtype=d_sqrt.dtype, device=d_sqrt.device)
        return (d_sqrt * engine.linalg.cholesky(k)).expand(*self._batch_shape, n, n)

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        w, d = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        return (w @ w.mT + d.diag_embed()).expand(*self._batch_shape, *self._event_shape * 2)

    @lazy_property
    def precision_matrix(self) -> Tensor:
        w, d = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        a = engine.linalg.solve_triangular(self._capacitance_tril, w.mT / d.unsqueeze(-2), upper=False)
        return (d.reciprocal().diag_embed() - a.mT @ a).expand(*self._batch_shape, *self._event_shape * 2)

    def rsample(self, sample_shape=()) -> Tensor:
        """loc + W ε_W + sqrt(D) ε_D, ε_W of rank r and ε_D of size k standard normal."""
        shape = self._extended_shape(sample_shape)
        eps_w = engine.randn(*shape[:-1], self.cov_factor.shape[-1], dtype=self.loc.dtype, device=self.loc.device)
        eps_d = engine.randn(*shape, dtype=self.loc.dtype, device=self.loc.device)
        w, d = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        return self.loc + (w @ eps_w.unsqueeze(-1))[..., 0] + d.sqrt() * eps_d

    def log_prob(self, value) -> Tensor:
        value = _tensor(value, self.loc)
        self._validate_sample(value)
        w, d = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        m = _lowrank_mahalanobis(w, d, value - self.loc, self._capacitance_tril)
        log_det = _lowrank_logdet(w, d, self._capacitance_tril)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + log_det + m)

    def entropy(self) -> Tensor:
        log_det = _lowrank_logdet(self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag,
                                  self._capacitance_tril)
        h = 0.5 * (self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + log_det)
        return h.expand(*self._batch_shape) if self._batch_shape else h
