"""Linear-algebra ops with a reference backward: inverse, determinant, log|det|, solve, Cholesky,
the symmetric eigen-decomposition. Inputs are (..., n, n) batches; xp.linalg batches them.

The formulas are the standard matrix-calculus ones (as torch's): for Y = A⁻¹, gA = -Yᵀ g Yᵀ;
for d = det A, gA = g·d·A⁻ᵀ; for X = A⁻¹B, gB = A⁻ᵀ g and gA = -gB Xᵀ.
"""

from __future__ import annotations

import numpy as np

from engine.function import Function


def _mT(a):
    return a.swapaxes(-1, -2)


def _mH(a):
    """The conjugate transpose; a real array's plain transpose (no copy, so real graphs are unchanged)."""
    return a.swapaxes(-1, -2).conj() if a.dtype.kind == "c" else a.swapaxes(-1, -2)


class Inverse(Function):
    """A⁻¹ of (..., n, n); backward -A⁻ᵀ g A⁻ᵀ."""

    def forward(self, a):
        y = self.xp.linalg.inv(a)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        (y,) = self.saved
        yt = _mT(y)
        return -(yt @ g @ yt)


class Det(Function):
    """det A of (..., n, n) -> (...); backward g·adj(A)ᵀ (= g·det·A⁻ᵀ when A is invertible). The
    adjugate comes from the SVD A = U S Vh: adj(A) = det(U)det(Vh)·Vhᴴ diag(∏_{j≠i} s_j) Uᴴ, so a
    singular A (rank n-1 included) gets torch's finite gradient instead of an inversion error. adj is
    holomorphic in A, so the sweep's conjugation gives a complex A torch's g·adj(A)ᴴ."""

    def forward(self, a):
        self.save_for_backward(a)
        return self.xp.linalg.det(a)

    def backward(self, g):
        (a,) = self.saved
        xp = self.xp
        n = a.shape[-1]
        if n == 0:
            return xp.zeros_like(a)
        u, s, vh = xp.linalg.svd(a)
        ones = xp.ones(s.shape[:-1] + (1,), dtype=s.dtype)
        left = xp.cumprod(xp.concatenate([ones, s[..., :-1]], -1), -1)  # ∏_{j<i} s_j
        right = xp.flip(xp.cumprod(xp.concatenate([ones, xp.flip(s, -1)[..., :-1]], -1), -1), -1)  # ∏_{j>i}
        sign = xp.linalg.det(u) * xp.linalg.det(vh)
        adj = sign[..., None, None] * (_mH(vh) * (left * right)[..., None, :]) @ _mH(u)
        return g[..., None, None] * _mT(adj)


class LogAbsDet(Function):
    """log|det A| of (..., n, n) -> (...), real for a complex A too; backward g·A⁻ᴴ (torch's, written in its
    convention: the output is real, so g is)."""

    conj_grad = False

    def forward(self, a):
        _, logabs = self.xp.linalg.slogdet(a)
        self.save_for_backward(a)
        return logabs.astype(a.real.dtype, copy=False)

    def backward(self, g):
        (a,) = self.saved
        return g[..., None, None] * _mH(self.xp.linalg.inv(a))


class SlogdetSign(Function):
    """The sign det A / |det A| of a complex (..., n, n) -> (...) (a real A's sign has no gradient). Backward
    as torch's slogdet_backward, in its convention: sign = e^{iθ} with dθ = Im tr(A⁻¹ dA), so
    gA = i·Im(g·conj(sign))·A⁻ᴴ."""

    conj_grad = False

    def forward(self, a):
        sign, _ = self.xp.linalg.slogdet(a)
        self.save_for_backward(a, sign)
        return sign

    def backward(self, g):
        a, sign = self.saved
        coef = self.xp.asarray(1j * (g * sign.conj()).imag)
        return coef[..., None, None] * _mH(self.xp.linalg.inv(a))


class Solve(Function):
    """X = A⁻¹B for A (..., n, n) and B (..., n, k) of the same batch shape; backward
    gB = A⁻ᵀ g, gA = -gB Xᵀ."""

    def forward(self, a, b):
        x = self.xp.linalg.solve(a, b)
        self.save_for_backward(a, x)
        return x

    def backward(self, g):
        a, x = self.saved
        gb = self.xp.linalg.solve(_mT(a), g)
        return -(gb @ _mT(x)), gb


class Cholesky(Function):
    """Lower L with A = L Lᴴ (A Hermitian positive definite, its lower triangle read); backward
    as torch's (Murray 2016), in torch's convention for complex A: gA = L⁻ᴴ Φ L⁻¹ with
    Φ = ½(T + tril(T, -1)ᴴ), T = tril(Lᴴ gL) (real A: ᴴ is ᵀ)."""

    conj_grad = False

    def forward(self, a):
        L = self.xp.linalg.cholesky(a)
        self.save_for_backward(L)
        return L

    def backward(self, g):
        (L,) = self.saved
        xp = self.xp
        t = xp.tril(_mH(L) @ g)
        phi = 0.5 * (t + _mH(xp.tril(t, -1)))
        linv = xp.linalg.inv(L)  # L⁻¹ (triangular; n is small in everyday use)
        return _mH(linv) @ phi @ linv


class EighPacked(Function):
    """Eigenvalues w (..., n) ascending and eigenvectors V (..., n, n) of a symmetric (Hermitian) A (its
    ``UPLO`` triangle read), packed as (..., n, n + 1) = [V | w] so that one op carries both (the public eigh
    splits them; w is real, stored in A's dtype). Backward (distinct eigenvalues), as torch's
    linalg_eig_backward for the Hermitian case, in torch's convention for complex A:
    gA = V (diag(gw) + skew(VᴴgV) / E) Vᴴ, skew(X) = ½(X - Xᴴ), E_ij = w_j - w_i (real A: symmetrized
    V (VᵀgV ∘ F) Vᵀ, the same); when only the eigenvalues were used (eigvalsh), V diag(gw) Vᴴ, which repeated
    eigenvalues do not break (as torch). A complex loss must not depend on the eigenvectors' phases (raises)."""

    conj_grad = False

    def forward(self, a, UPLO="L"):  # noqa: N803
        w, v = self.xp.linalg.eigh(a, UPLO=UPLO)
        self.save_for_backward(w, v)
        return self.xp.concatenate([v, w[..., None, :].swapaxes(-1, -2).astype(v.dtype)], axis=-1)

    def backward(self, g):
        w, v = self.saved
        xp = self.xp
        gv, gw = g[..., :-1], g[..., -1]
        n = w.shape[-1]
        if v.dtype.kind == "c":
            return self._complex_backward(w, v, gv, gw.real)
        inner = xp.eye(n, dtype=w.dtype) * gw[..., None, :]
        if xp.any(gv):
            diff = w[..., None, :] - w[..., :, None]  # (..., n, n): w_j - w_i
            eye = xp.eye(n, dtype=bool)
            f = xp.where(eye, 0, 1 / xp.where(eye, 1, diff))
            inner = inner + (_mT(v) @ gv) * f
        ga = v @ inner @ _mT(v)
        return 0.5 * (ga + _mT(ga))  # torch reads A as symmetric: the symmetric part

    def _complex_backward(self, w, v, gv, gw):
        xp = self.xp
        vh = _mH(v)
        if not xp.any(gv):
            return (v * gw[..., None, :]) @ vh
        vhgv = vh @ gv
        if not bool(xp.all(xp.abs(xp.diagonal(vhgv, 0, -2, -1).imag) <= 1e-2)):  # torch's allclose(imag, 0)
            raise RuntimeError("linalg_eigh_backward: The eigenvectors in the complex case are specified up to "
                               "multiplication by e^{i phi}. The specified loss function depends on this quantity, "
                               "so it is ill-defined.")
        n = w.shape[-1]
        eye = xp.eye(n, dtype=bool)
        e = w[..., None, :] - w[..., :, None]
        ret = 0.5 * (vhgv - _mH(vhgv)) / xp.where(eye, 1, e)
        if xp.any(gw):
            ret = xp.where(eye, gw[..., None, :], ret)
        return v @ ret @ vh


class EigPacked(Function):
    """Eigenvalues w (..., n) and unit-norm eigenvectors V (..., n, n) of a general square A, complex
    even for a real A (as torch), packed as (..., n, n + 1) = [V | w]. Backward as torch's
    linalg_eig_backward, in torch's convention (a real A takes the real part, in the sweep):
    gA = V⁻ᴴ (VᴴgV - Vᴴ V diag(Re diag(VᴴgV))) / conj(E) with diag(gw) on the diagonal, Vᴴ, E_ij = w_j - w_i;
    eigenvalues only: V⁻ᴴ diag(gw) Vᴴ. The loss must not depend on the eigenvectors' phases (raises)."""

    conj_grad = False

    def forward(self, a):
        xp = self.xp
        w, v = xp.linalg.eig(a)
        self.in_dtype = a.dtype
        dtype = np.complex128 if a.dtype in (np.float64, np.complex128) else np.complex64
        w, v = w.astype(dtype, copy=False), v.astype(dtype, copy=False)
        self.save_for_backward(w, v)
        return xp.concatenate([v, w[..., None, :].swapaxes(-1, -2)], axis=-1)

    def backward(self, g):
        w, v = self.saved
        xp = self.xp
        gv, gw = g[..., :-1], g[..., -1]
        vh = xp.conj(_mT(v))
        if not xp.any(gv):
            return self._to_input(xp.linalg.solve(vh, gw[..., :, None] * vh))
        vhgv = vh @ gv
        diag = xp.diagonal(vhgv, axis1=-2, axis2=-1)
        if not bool(xp.all(xp.abs(diag.imag) <= 1e-2)):  # torch's allclose(imag, 0, rtol=1e-2, atol=1e-2)
            raise RuntimeError("linalg_eig_backward: The eigenvectors in the complex case are specified up to "
                               "multiplication by e^{i phi}. The specified loss function depends on this quantity, "
                               "so it is ill-defined.")
        vhgv = vhgv - vh @ (v * diag.real[..., None, :])
        wc = xp.conj(w)
        econj = wc[..., None, :] - wc[..., :, None]
        n = w.shape[-1]
        eye = xp.eye(n, dtype=bool)
        with np.errstate(all="ignore"):
            ret = vhgv / xp.where(eye, 1, econj)
        if xp.any(gw):
            ret = xp.where(eye, gw[..., None, :], ret)
        return self._to_input(xp.linalg.solve(vh, ret @ vh))

    def _to_input(self, ga):
        """A real A's gradient is the real part (torch's handle_r_to_c)."""
        return ga if self.in_dtype.kind == "c" else ga.real.astype(self.in_dtype)


class SvdPacked(Function):
    """SVD A = U diag(S) Vh of (..., m, n), k = min(m, n), packed per matrix as
    [U (m·ku) | S (k) | Vh (ku·n)] so that one op carries all three (the public svd splits them; S is real,
    stored in A's dtype); ku = k, or with ``full_matrices`` U is (m, m) and Vh (n, n).
    Backward as torch's svd_backward, in torch's convention for complex A (distinct nonzero singular
    values; a loss that depends on U and Vh only through sign- (phase-) invariant quantities, else raises):
    gA = U [(skew(UᴴgU) S + S skew(VᴴgV)) / E + diag(gS) (+ diag(UᴴgU)/(2S), complex)] Vh + the parts of gU,
    gVh outside the column spaces, skew(X) = X - Xᴴ, E_ij = S_j² - S_i². With ``full_matrices``, as torch,
    U, Vh and their gradients are narrowed to their first k columns (rows): the extra ones are arbitrary, so a
    loss must not use them."""

    conj_grad = False

    def forward(self, a, full_matrices=False):
        xp = self.xp
        u, s, vh = xp.linalg.svd(a, full_matrices=full_matrices)
        self.save_for_backward(u, s, vh)
        batch = a.shape[:-2]  # sizes spelled out: reshape cannot infer -1 when the batch is empty
        return xp.concatenate([u.reshape(batch + (u.shape[-2] * u.shape[-1],)), s.astype(u.dtype, copy=False),
                               vh.reshape(batch + (vh.shape[-2] * vh.shape[-1],))], axis=-1)

    def backward(self, g):
        u, s, vh = self.saved
        xp = self.xp
        cplx = u.dtype.kind == "c"
        (m, ku), n, k = u.shape[-2:], vh.shape[-1], s.shape[-1]
        gu = g[..., : m * ku].reshape(u.shape)[..., :k]
        gs = g[..., m * ku: m * ku + k]
        gs = gs.real if cplx else gs
        gvh = g[..., m * ku + k:].reshape(vh.shape)[..., :k, :]
        u, vh = u[..., :k], vh[..., :k, :]
        v, gv = _mH(vh), _mH(gvh)
        uhgu = _mH(u) @ gu
        uhgu = uhgu - _mH(uhgu)
        vhgv = _mH(v) @ gv
        vhgv = vhgv - _mH(vhgv)
        if cplx:  # the loss must be invariant under (U, V) -> (U L, V L), L = diag(e^{iθ})
            im_u, im_v = xp.diagonal(uhgu, 0, -2, -1).imag, xp.diagonal(vhgv, 0, -2, -1).imag
            if not bool(xp.all(xp.abs(im_u + im_v) <= 1e-2 + 1e-2 * xp.abs(im_v))):  # torch's allclose
                raise RuntimeError("svd_backward: The singular vectors in the complex case are specified up to "
                                   "multiplication by e^{i phi}. The specified loss function depends on this phase "
                                   "term, making it ill-defined.")
        s2 = s * s
        e = s2[..., None, :] - s2[..., :, None]
        eye = xp.eye(k, dtype=bool)
        e = xp.where(eye, 1, e)
        ret = (uhgu * s[..., None, :] + s[..., :, None] * vhgv) / e
        ret = ret + eye * gs[..., None, :]
        if cplx and xp.any(gu) and xp.any(gvh):
            ret = ret + eye * (xp.diagonal(uhgu, 0, -2, -1) / (2 * s))[..., None, :]
        ga = u @ ret @ vh
        if m > k:  # gU outside U's columns
            gusinv = gu / s[..., None, :]
            ga = ga + (gusinv - u @ (_mH(u) @ gusinv)) @ vh
        if n > k:  # gVh outside Vh's rows
            sinvgvh = gvh / s[..., :, None]
            ga = ga + u @ (sinvgvh - (sinvgvh @ v) @ vh)
        return ga


class Svdvals(Function):
    """Singular values S (descending) of (..., m, n). Backward as torch's svd_backward when only S is used:
    gA = U diag(gS) Vh, with no division by singular-value gaps, so it holds at repeated or zero singular
    values too (the nuclear norm's subgradient at a rank-deficient matrix: U Vh). S is real for a complex A
    (as torch's), and the formula is torch's convention as it stands."""

    conj_grad = False

    def forward(self, a):
        u, s, vh = self.xp.linalg.svd(a, full_matrices=False)
        self.save_for_backward(u, s, vh)  # s: the input u·diag(s)·vh for a graph backward once it is freed
        return s

    def backward(self, g):
        u, _, vh = self.saved
        return u @ (g[..., :, None] * vh)


class QrPacked(Function):
    """QR A = Q R of (..., m, n) in torch's ``mode`` ('reduced': Q (m, k), R (k, n), k = min(m, n);
    'complete': Q (m, m), R (m, n); 'r': R of 'reduced', Q not returned), packed per matrix as
    [Q (flat) | R (flat)] so that one op carries both (the public qr splits them). Backward (A of
    full rank), as torch's linalg_qr_backward (torch's convention for complex A), with M = gR Rᴴ - Qᴴ gQ:
    m >= n: gA = (gQ + Q copyltu(Mᵀ)) R⁻ᵀ, copyltu(X) = tril(X) + tril(X, -1)ᵀ (Walter & Lehmann; complex:
    triu(M, 1) + triu(M, 1)ᴴ + Re diag(M), and ᴴ for ᵀ);
    m < n, R = [R₁ | R₂]: gA = [Q tril(Mᴴ - M) R₁⁻ᴴ | 0] + Q gR (Roberts & Roberts 2020, §4.5; complex: the
    diagonal's imaginary part halved).
    mode='r' and mode='complete' with m > n leave Q (partly) undetermined: backward raises, as torch."""

    conj_grad = False

    def forward(self, a, mode="reduced"):
        xp = self.xp
        q, r = xp.linalg.qr(a, mode="complete" if mode == "complete" else "reduced")
        self.save_for_backward(q, r)
        self.mode = mode
        batch = a.shape[:-2]  # sizes spelled out: reshape cannot infer -1 when the batch is empty
        return xp.concatenate([q.reshape(batch + (q.shape[-2] * q.shape[-1],)),
                               r.reshape(batch + (r.shape[-2] * r.shape[-1],))], axis=-1)

    def backward(self, g):
        q, r = self.saved
        xp = self.xp
        (m, k), n = q.shape[-2:], r.shape[-1]
        if self.mode == "r":
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
                               "Please use linalg.qr(A, mode='reduced') if you are going to differentiate "
                               "through linalg.qr.")
        if k > n:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
        gq = g[..., : m * k].reshape(q.shape)
        gr = g[..., m * k:].reshape(r.shape)
        mm = gr @ _mH(r) - _mH(q) @ gq
        cplx = q.dtype.kind == "c"
        if m >= n:
            if cplx:  # torch's syminvadj(triu(M)): X + Xᴴ with X = triu(M), its (real) diagonal halved
                x = xp.triu(mm, 1)
                copyltu = x + _mH(x) + xp.eye(n) * xp.diagonal(mm, 0, -2, -1).real[..., None, :]
            else:
                mm = _mT(mm)
                copyltu = xp.tril(mm) + _mT(xp.tril(mm, -1))
            rhs = gq + q @ copyltu  # (..., m, n); gA = rhs R⁻ᴴ, i.e. solve R Xᴴ = rhsᴴ
            return _mH(xp.linalg.solve(r, _mH(rhs)))
        skew = xp.tril(_mH(mm) - mm)
        if cplx:  # torch's trilImInvAdjSkew: the diagonal's imaginary part halved
            skew = skew - 0.5j * xp.eye(m) * xp.diagonal(skew, 0, -2, -1).imag[..., None, :]
        lead = _mH(xp.linalg.solve(r[..., :m], _mH(q @ skew)))  # (..., m, m)
        ga = q @ gr
        ga[..., :m] += lead
        return ga


class Pinv(Function):
    """Moore-Penrose pseudo-inverse of (..., m, n): singular values (hermitian: |eigenvalues|) at or
    below max(atol, rtol·σ_max) count as zero, as torch.linalg.pinv; ``atol``/``rtol`` are arrays that
    broadcast against the batch. Backward as torch's pinv_backward, in its convention (pinv of a complex A
    is not holomorphic), exact where the rank does not change, with P = pinv(A), for m <= n: K = gᴴP,
    gA = -(PK)ᴴ + KPᴴ - APKPᴴ + PᴴP(gᴴ - KA); m > n is its conjugate transpose."""

    conj_grad = False

    def forward(self, a, atol, rtol, hermitian):
        xp = self.xp
        if hermitian:
            w, v = xp.linalg.eigh(a)
            big = xp.abs(w).max(-1, initial=0)[..., None]
            keep = xp.abs(w) > xp.maximum(atol[..., None], rtol[..., None] * big)
            p = (v * xp.where(keep, 1 / xp.where(keep, w, 1), 0)[..., None, :]) @ _mH(v)
        else:
            u, s, vh = xp.linalg.svd(a, full_matrices=False)
            big = s.max(-1, initial=0)[..., None]
            keep = s > xp.maximum(atol[..., None], rtol[..., None] * big)
            p = (_mH(vh) * xp.where(keep, 1 / xp.where(keep, s, 1), 0)[..., None, :]) @ _mH(u)
        p = p.astype(a.dtype, copy=False)
        self.save_for_backward(a, p)
        return p

    def backward(self, g):
        a, p = self.saved
        pt, gt = _mH(p), _mH(g)
        if a.shape[-2] <= a.shape[-1]:
            k = gt @ p
            kpt = k @ pt
            return -_mH(p @ k) + kpt - (a @ p) @ kpt + (pt @ p) @ (gt - k @ a)
        k = p @ gt
        ptk = pt @ k
        return -_mH(k @ p) + ptk - ptk @ p @ a + (gt - a @ k) @ p @ pt
