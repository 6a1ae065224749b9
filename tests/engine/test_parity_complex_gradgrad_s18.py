"""Second (and third) derivatives through complex graphs against torch (create_graph=True), for the ops the
s17 set left out: where, sgn, angle, view_as_real/view_as_complex, complex, polar, pow with a complex
exponent, the holomorphic elementwise ops (log1p ... atanh), prod/cumsum/cumprod/var/logsumexp and the
linear algebra (inv, det, slogdet, logdet, solve, solve_triangular, lu_solve, cholesky, eigh, svd, svdvals,
qr, pinv). Each case is differentiated three ways: a real loss |f(z)|.sum(), a real loss (Re f(z))².sum(),
and the vjp of f for a random complex cotangent v (then grad again, also with respect to v); the second
loss is Re(conj(u)·g) summed over the first gradients g, u fixed and random."""

from __future__ import annotations

import numpy as np
import pytest

import engine

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(18)


def _c(*shape):
    return RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)


Z = _c(4) * 0.4
Z2 = _c(4) * 0.4
A = _c(3, 3) + 3 * np.eye(3)
AB = _c(2, 3, 3) + 3 * np.eye(3)
B = _c(3, 2)
W32, W23 = _c(3, 2), _c(2, 3)
H = A @ A.conj().T + np.eye(3)
MASK = np.array([True, False, True, False])


def _svd_parts(lib, a):
    u, s, vh = lib.linalg.svd(a, full_matrices=False)
    return lib.cat([(u * u.conj()).reshape(-1), s.to(a.dtype), (vh.mH @ vh).reshape(-1)])


CASES = {
    # name: (inputs, f(lib, *tensors))
    "where": ([Z, Z2], lambda lib, a, b: lib.where(lib.tensor(MASK), a * a, b.exp())),
    "view_as_real": ([Z], lambda lib, a: lib.view_as_real(a * a)),
    "view_as_complex": ([np.stack([Z.real, Z.imag], -1)], lambda lib, a: lib.view_as_complex(a * a)),
    "sgn": ([Z], lambda lib, a: (a * a + 1).sgn() * a),
    "angle": ([Z], lambda lib, a: (a * a).angle()),
    "complex": ([Z.real.copy(), Z.imag.copy()], lambda lib, r, t: lib.complex(r * r, t).exp()),
    "polar": ([np.abs(Z) + 1, Z.real.copy()], lambda lib, r, t: lib.polar(r, t) ** 2),
    "log1p": ([Z], lambda lib, a: a.log1p()),
    "expm1": ([Z], lambda lib, a: a.expm1()),
    "sigmoid": ([Z], lambda lib, a: a.sigmoid()),
    "asin": ([Z], lambda lib, a: a.asin()),
    "acos": ([Z], lambda lib, a: a.acos()),
    "atan": ([Z], lambda lib, a: a.atan()),
    "asinh": ([Z], lambda lib, a: a.asinh()),
    "acosh": ([Z + 2], lambda lib, a: a.acosh()),
    "atanh": ([Z], lambda lib, a: a.atanh()),
    "rsqrt": ([Z + 1], lambda lib, a: a.rsqrt()),
    "exp2": ([Z], lambda lib, a: a.exp2()),
    "log2": ([Z], lambda lib, a: a.log2()),
    "log10": ([Z], lambda lib, a: a.log10()),
    "square": ([Z], lambda lib, a: a.square()),
    "pow tensor ** tensor": ([Z + 1, Z2], lambda lib, a, b: a ** b),
    "pow complex exponent": ([Z + 1], lambda lib, a: a ** (0.5 + 0.3j)),
    "pow real base": ([np.abs(Z) + 0.5, Z2], lambda lib, a, b: a.to(b.dtype) ** b),
    "prod": ([_c(3, 3)], lambda lib, a: a.prod(1)),
    "prod with a zero": ([np.array([1 + 1j, 0, 2 - 1j, 0.5j])], lambda lib, a: a.prod().reshape(1)),
    "cumsum": ([Z], lambda lib, a: (a * a).cumsum(0)),
    "cumprod": ([Z + 1], lambda lib, a: a.cumprod(0)),
    "mean": ([_c(3, 3)], lambda lib, a: (a * a).mean(1)),
    "var": ([_c(3, 3)], lambda lib, a: (a * a).var(1)),
    "std": ([_c(3, 3)], lambda lib, a: (a * a).std(1)),
    "logsumexp": ([_c(2, 3)], lambda lib, a: a.logsumexp(1)),
    "lerp": ([Z, Z2], lambda lib, a, b: a.lerp(b * b, 0.3)),
    "trace and tril": ([A], lambda lib, a: (a @ a).tril() * a.trace()),
    "masked_fill": ([Z], lambda lib, a: (a * a).masked_fill(lib.tensor(MASK), 0)),
    "einsum": ([A, B], lambda lib, a, b: lib.einsum("ij,jk->ik", a, b) ** 2),
    "inv": ([AB], lambda lib, a: lib.linalg.inv(a)),
    "det": ([AB], lambda lib, a: lib.linalg.det(a)),
    "slogdet": ([AB], lambda lib, a: (lambda sl: sl[0] * sl[1])(lib.linalg.slogdet(a))),
    "logdet": ([A], lambda lib, a: lib.logdet(a).reshape(1)),
    "solve": ([AB, _c(2, 3, 2)], lambda lib, a, b: lib.linalg.solve(a, b)),
    "solve_triangular": ([A, B], lambda lib, a, b: lib.linalg.solve_triangular(a.triu(), b, upper=True)),
    "lu_solve": ([A, B], lambda lib, a, b: (lambda lu: lib.linalg.lu_solve(lu[0], lu[1], b))(lib.linalg.lu_factor(a))),
    "cholesky": ([AB], lambda lib, a: lib.linalg.cholesky(a @ a.mH)),
    "eigvalsh": ([H], lambda lib, a: lib.linalg.eigvalsh(a + a.mH)),
    "eigh": ([H], lambda lib, a: (lambda wv: lib.cat([wv[0].to(a.dtype), (wv[1] * wv[1].conj()).reshape(-1)]))(
        lib.linalg.eigh(a + a.mH))),
    "svdvals": ([W23], lambda lib, a: lib.linalg.svdvals(a)),
    "svd square": ([A], lambda lib, a: _svd_parts(lib, a)),
    "svd tall": ([W32], lambda lib, a: _svd_parts(lib, a)),
    "svd wide": ([W23], lambda lib, a: _svd_parts(lib, a)),
    "qr tall": ([W32], lambda lib, a: (lambda qr: lib.cat([qr[0].reshape(-1), qr[1].reshape(-1)]))(lib.linalg.qr(a))),
    "qr wide": ([W23], lambda lib, a: (lambda qr: lib.cat([qr[0].reshape(-1), qr[1].reshape(-1)]))(lib.linalg.qr(a))),
    "pinv": ([W23], lambda lib, a: lib.linalg.pinv(a)),
    "matrix_exp": ([A * 0.3], lambda lib, a: lib.linalg.matrix_exp(a)),
}


def _numpy(t):
    return None if t is None else np.asarray(t.detach().resolve_conj().numpy())


def _random_like(gen, t):
    shape = tuple(t.shape)
    return gen.standard_normal(shape) + (1j * gen.standard_normal(shape) if t.is_complex() else 0)


def second_of(lib, inputs, f, mode):
    """First derivatives of ``f(lib, *inputs)`` under create_graph (mode "vjp": a random complex cotangent v,
    also differentiated; "abs": of |f|; "re2": of (Re f)²), then the derivatives of Re<u, g> for random u."""
    ts = [lib.tensor(x.copy(), requires_grad=True) for x in inputs]
    y = f(lib, *ts)
    gen = np.random.default_rng(5)
    wrt = list(ts)
    if mode == "vjp":
        v = lib.tensor(np.asarray(_random_like(gen, y)), requires_grad=True)
        gs = lib.autograd.grad(y, ts, grad_outputs=v, create_graph=True, allow_unused=True)
        wrt.append(v)
    else:
        loss = y.abs().sum() if mode == "abs" else ((y.real if y.is_complex() else y) ** 2).sum()
        gs = lib.autograd.grad(loss, ts, create_graph=True, allow_unused=True)
    l2 = 0
    for g in gs:
        if g is not None and g.requires_grad:
            u = lib.tensor(np.asarray(_random_like(gen, g)))
            l2 = l2 + ((g * u.conj()).real if g.is_complex() else g * u).sum()
    hs = lib.autograd.grad(l2, wrt, allow_unused=True)
    return [_numpy(g) for g in (*gs, *hs)]


def _second(lib, name, mode):
    return second_of(lib, *CASES[name], mode)


def _assert_same(ours, theirs):
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        if o is None or t is None:  # torch's None and ours' zeros (or the reverse) are the same derivative
            assert not np.any(o if t is None else t)
            continue
        assert o.dtype == t.dtype and o.shape == t.shape
        np.testing.assert_allclose(o, t, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(t).max(initial=0))))


@pytest.mark.parametrize("mode", ["abs", "re2", "vjp"])
@pytest.mark.parametrize("name", list(CASES))
def test_second_derivatives_through_complex_ops_match_torch(name, mode):
    _assert_same(_second(engine, name, mode), _second(torch, name, mode))


def _third(lib, f):
    z = lib.tensor(Z.copy(), requires_grad=True)
    u, w = lib.tensor(Z2.copy()), lib.tensor(Z[::-1].copy())
    (g1,) = lib.autograd.grad(f(z), z, create_graph=True)
    (g2,) = lib.autograd.grad((g1 * u.conj()).real.sum(), z, create_graph=True)
    (g3,) = lib.autograd.grad((g2 * w.conj()).real.sum(), z)
    return [_numpy(g) for g in (g1, g2, g3)]


THIRD = {  # abs's, sgn's and angle's rules build Where nodes: a third derivative differentiates them
    "abs": lambda z: (z * z + z.exp()).abs().sum(),
    "sgn": lambda z: ((z * z + 1).sgn() * z).real.sum(),
    "angle": lambda z: ((z + 1).angle() ** 2).sum(),
    "abs of inv": lambda z: (1 / (z + 2)).abs().sum(),
}


@pytest.mark.parametrize("name", list(THIRD))
def test_third_derivatives_through_complex_abs_sgn_angle_match_torch(name):
    _assert_same(_third(engine, THIRD[name]), _third(torch, THIRD[name]))


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")  # 0/0, as torch
@pytest.mark.parametrize("name", ["abs", "abs of z*z", "angle", "sgn"])
def test_second_derivative_at_zero_is_torch_s(name):
    # torch: abs's is finite (0) at 0, angle's and sgn's are nan there (0 times the unguarded 1/|z|)
    loss = {"abs": lambda z: z.abs().sum(), "abs of z*z": lambda z: (z * z).abs().sum(),
            "angle": lambda z: z.angle().sum(), "sgn": lambda z: z.sgn().real.sum()}[name]

    def f(lib):
        z = lib.tensor(np.array([0j, 1 + 1j]), requires_grad=True)
        (g,) = lib.autograd.grad(loss(z), z, create_graph=True)
        (h,) = lib.autograd.grad((g * lib.tensor(np.array([1 + 2j, 3 - 1j])).conj()).real.sum(), z)
        return [_numpy(g), _numpy(h)]

    _assert_same(f(engine), f(torch))


def test_real_input_graphs_give_real_gradients_through_complex_ops():
    def f(lib):
        x = lib.tensor(np.array([0.3, -1.2, 0.7]), requires_grad=True)
        y = lib.linalg.inv(lib.diag(x.to(lib.complex128) * (1 + 1j)) + 2).abs().sum()
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        (h,) = lib.autograd.grad((g * g).sum(), x)
        return [_numpy(g), _numpy(h)]

    ours, theirs = f(engine), f(torch)
    assert ours[0].dtype == np.float64
    _assert_same(ours, theirs)


def test_eigh_loss_that_depends_on_eigenvector_phases_raises_as_torch():
    a = engine.tensor(H.copy(), requires_grad=True)
    v = engine.linalg.eigh(a + a.mH)[1]
    with pytest.raises(RuntimeError, match="linalg_eigh_backward: The eigenvectors in the complex case"):
        engine.autograd.grad(v.real.sum(), a, create_graph=True)


def test_an_op_without_a_complex_graph_backward_says_so():
    z = engine.tensor(A.copy(), requires_grad=True)
    # torch has no complex scatter_reduce gradient at all; ours has a first derivative, not a second
    out = engine.ones(3, 3, dtype=z.dtype).scatter_reduce(0, engine.tensor([[0, 1, 0], [1, 0, 2]]), z[:2], "prod")
    with pytest.raises(NotImplementedError, match="double backward of ScatterReduce with complex tensors"):
        engine.autograd.grad(out.abs().sum(), z, create_graph=True)
