"""torch comparisons for engine.linalg and the add*/tensordot functions (session 15's OpInfo sweep): empty
matrices everywhere, gradients of wide QR and of full_matrices SVD, integer addmv/addbmm/baddbmm/addr,
and the smaller fixes listed in the commits."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import engine  # noqa: E402

RNG = np.random.default_rng(15)


def _outputs(M, fn, arrays, grad):
    """fn(M, *tensors) -> (outputs as NumPy, input grads as NumPy, which outputs require grad)."""
    ts = [M.tensor(a, requires_grad=grad) for a in arrays]
    out = fn(M, *ts)
    outs = tuple(out) if isinstance(out, tuple) else (out,)
    live = [o.requires_grad for o in outs]
    grads = []
    if grad and any(live):
        loss = sum((o * M.tensor(np.cos(np.arange(o.numel()) + 0.5 * i).reshape(o.shape), dtype=o.dtype)).sum()
                   for i, o in enumerate(outs) if o.requires_grad)
        loss.backward()
        grads = [t.grad.numpy() for t in ts]
    return [o.detach().numpy() for o in outs], grads, live


def _assert_same(fn, *arrays, grad=False, rtol=1e-9, atol=1e-10):
    o1, g1, live1 = _outputs(engine, fn, arrays, grad)
    o2, g2, live2 = _outputs(torch, fn, arrays, grad)
    assert live1 == live2
    assert len(g1) == len(g2)
    for a, b in zip(o1 + g1, o2 + g2):
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# ---- empty matrices ---------------------------------------------------------------------------------

EMPTY_SQUARE = [(0, 0), (2, 0, 0)]
EMPTY_ANY = EMPTY_SQUARE + [(0, 3), (3, 0), (0, 2, 5), (2, 3, 0)]

EMPTY_SQUARE_FNS = {
    "inv_ex": lambda M, a: M.linalg.inv_ex(a),
    "solve_ex": lambda M, a: M.linalg.solve_ex(a, a),
    "solve_ex_vector": lambda M, a: M.linalg.solve_ex(a, a.sum(-1)),
    "cholesky_ex": lambda M, a: M.linalg.cholesky_ex(a),
    "cholesky_ex_upper": lambda M, a: M.linalg.cholesky_ex(a, upper=True),
    "lu_solve": lambda M, a: M.linalg.lu_solve(*M.linalg.lu_factor(a), a),
}

EMPTY_ANY_FNS = {
    "svd": lambda M, a: M.linalg.svd(a),
    "svd_reduced": lambda M, a: M.linalg.svd(a, full_matrices=False),
    "svdvals": lambda M, a: M.linalg.svdvals(a),
    "torch.svd": lambda M, a: M.svd(a),
    "torch.svd_some_false": lambda M, a: M.svd(a, some=False),
    "qr": lambda M, a: M.linalg.qr(a),
    "qr_complete_wide": lambda M, a: M.linalg.qr(a if a.shape[-2] <= a.shape[-1] else a.mT, mode="complete"),
    "norm_inf": lambda M, a: M.linalg.norm(a, math.inf, dim=(-2, -1)),
    "norm_1": lambda M, a: M.linalg.norm(a, 1, dim=(-2, -1)),
    "matrix_norm_2": lambda M, a: M.linalg.matrix_norm(a, 2),
    "matrix_norm_inf_keepdim": lambda M, a: M.linalg.matrix_norm(a, math.inf, keepdim=True),
    "cond": lambda M, a: M.linalg.cond(a),
    "cond_1": lambda M, a: M.linalg.cond(a, 1),
    "cond_-2": lambda M, a: M.linalg.cond(a, -2),
    "pinv_hermitian": lambda M, a: M.linalg.pinv(a, hermitian=True),
    "lu_factor": lambda M, a: M.linalg.lu_factor(a),
    "lu": lambda M, a: M.linalg.lu(a),
}


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("shape", EMPTY_SQUARE)
@pytest.mark.parametrize("name", sorted(EMPTY_SQUARE_FNS))
def test_empty_square_matrices_as_torch(name, shape, grad):
    _assert_same(EMPTY_SQUARE_FNS[name], np.zeros(shape), grad=grad)


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("shape", EMPTY_ANY)
@pytest.mark.parametrize("name", sorted(EMPTY_ANY_FNS))
def test_empty_matrices_of_any_shape_as_torch(name, shape, grad):
    _assert_same(EMPTY_ANY_FNS[name], np.zeros(shape), grad=grad)


@pytest.mark.parametrize("ord_", [-1, -math.inf, -2])
@pytest.mark.parametrize("shape", [(0, 0), (2, 0, 0)])
def test_empty_matrix_norm_of_a_min_raises_index_error_as_torch(ord_, shape):
    with pytest.raises(IndexError):
        torch.linalg.matrix_norm(torch.zeros(shape), ord_)
    with pytest.raises(IndexError):
        engine.linalg.matrix_norm(engine.zeros(shape), ord_)


@pytest.mark.parametrize("name", ["cholesky_inverse", "cholesky_solve", "cond_fro"])
@pytest.mark.parametrize("shape", [(0, 3), (2, 3, 0)])
def test_empty_non_square_factors_raise_as_torch(name, shape):
    fn = {"cholesky_inverse": lambda M, a: M.cholesky_inverse(a),
          "cholesky_solve": lambda M, a: M.cholesky_solve(a, a),
          "cond_fro": lambda M, a: M.linalg.cond(a, "fro")}[name]
    with pytest.raises(RuntimeError, match="square matrices"):
        fn(torch, torch.zeros(shape))
    with pytest.raises(RuntimeError, match="square matrices"):
        fn(engine, engine.zeros(shape))


# ---- gradients of wide QR and of full_matrices SVD ----------------------------------------------------

QR_SHAPES = [(2, 5), (3, 3), (5, 2), (2, 3, 4), (2, 4, 3)]


@pytest.mark.parametrize("shape,mode", [(s, "reduced") for s in QR_SHAPES] +  # complete on tall: see below
                         [(s, "complete") for s in QR_SHAPES if s[-2] <= s[-1]])
def test_qr_gradient_as_torch_wide_included(shape, mode):
    a = RNG.standard_normal(shape)
    _assert_same(lambda M, t: M.linalg.qr(t, mode=mode), a, grad=True)
    _assert_same(lambda M, t: M.qr(t), a, grad=True)


@pytest.mark.parametrize("mode,shape,message", [
    ("r", (3, 2), "not computed when mode='r'"),
    ("r", (2, 3), "not computed when mode='r'"),
    ("complete", (3, 2), "not differentiable when mode='complete' and nrows > ncols"),
])
def test_qr_backward_raises_as_torch_where_q_is_undetermined(mode, shape, message):
    for M in (torch, engine):
        a = M.tensor(RNG.standard_normal(shape), requires_grad=True)
        r = M.linalg.qr(a, mode=mode).R
        assert r.requires_grad
        with pytest.raises(RuntimeError, match=message):
            r.sum().backward()


def _svd_loss_fn(full):
    def fn(M, t):
        u, s, vh = M.linalg.svd(t, full_matrices=full)
        k = s.shape[-1]  # a loss that is sign-invariant and does not use U's/Vh's columns past k
        uk, vk = u[..., :k], vh[..., :k, :]
        return s, uk * uk, vk * vk, u.shape[-1] * s  # the extra columns' shapes, through S
    return fn


@pytest.mark.parametrize("full", [True, False])
@pytest.mark.parametrize("shape", [(2, 5), (5, 2), (3, 3), (2, 3, 4), (2, 4, 3)])
def test_svd_full_matrices_gradient_as_torch(shape, full):
    _assert_same(_svd_loss_fn(full), RNG.standard_normal(shape), grad=True)


@pytest.mark.parametrize("shape", [(2, 5), (5, 2)])
def test_torch_svd_some_false_gradient_and_shapes_as_torch(shape):
    def fn(M, t):
        u, s, v = M.svd(t, some=False)
        k = s.shape[-1]
        return s, u[..., :k] ** 2, v[..., :k] ** 2, M.tensor(float(u.shape[-1] * 10 + v.shape[-1]))
    _assert_same(fn, RNG.standard_normal(shape), grad=True)


# ---- integer and bool addmv / addbmm / baddbmm / addr / addmm and their in-place forms -----------------

def _ints(M, dtype, shapes, seed):
    rng = np.random.default_rng(seed)
    ts = [M.tensor(rng.integers(-3, 4, s)) for s in shapes]
    return [t.bool() if dtype == "bool" else t.to(getattr(M, dtype)) for t in ts]


ADD_SHAPES = {
    "addmv": [(5,), (5, 4), (4,)], "addbmm": [(5, 3), (2, 5, 4), (2, 4, 3)],
    "baddbmm": [(2, 5, 3), (2, 5, 4), (2, 4, 3)], "addr": [(5, 3), (5,), (3,)], "addmm": [(5, 3), (5, 4), (4, 3)],
}


def _add_call(M, name, inplace, dtype, beta, alpha, seed=0):
    c, a, b = _ints(M, dtype, ADD_SHAPES[name], seed)
    if inplace:
        return getattr(c, name + "_")(a, b, beta=beta, alpha=alpha)
    return getattr(M, name)(c, a, b, beta=beta, alpha=alpha)


def _same_result_or_error(fn):
    try:
        theirs = fn(torch)
    except Exception as e:  # noqa: BLE001  (torch's exception type is the oracle)
        with pytest.raises(type(e)):
            fn(engine)
        return
    ours = fn(engine)
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


SCALARS = [(1, 1), (2, 3), (0.2, 0.6), (0.5, 1), (1, 0.5), (-1.7, 2.9), (True, False), (False, True), (0, 2),
           (2.0, 3.0), (-1, 1), (256, 1), (255.5, 1)]


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("name", sorted(ADD_SHAPES))
def test_integer_and_bool_add_products_as_torch(name, dtype, inplace):
    for beta, alpha in SCALARS:
        _same_result_or_error(lambda M, b=beta, a=alpha: _add_call(M, name, inplace, dtype, b, a))


@pytest.mark.parametrize("name", ["addmv", "addbmm", "baddbmm", "addmm"])
def test_mixed_dtypes_raise_as_torch(name):
    def call(M, which):
        ts = _ints(M, "int64", ADD_SHAPES[name], 1)
        ts[which] = ts[which].to(M.float32)
        return getattr(M, name)(*ts)
    for which in range(3):
        with pytest.raises(RuntimeError):
            call(torch, which)
        with pytest.raises(RuntimeError, match=f"{name}: input tensors must have the same dtype"):
            call(engine, which)


def test_addr_promotes_and_checks_its_scalars_as_torch():
    def call(M, dtypes, beta=1, alpha=1):
        ts = [t.to(getattr(M, d)) for t, d in zip(_ints(M, "int64", ADD_SHAPES["addr"], 2), dtypes)]
        return M.addr(*ts, beta=beta, alpha=alpha)
    for dtypes in [("int64", "bool", "bool"), ("bool", "int64", "int64"), ("float32", "bool", "int32")]:
        for beta, alpha in [(1, 1), (2, 3), (0.5, 1), (True, 1), (1, True)]:
            _same_result_or_error(lambda M, d=dtypes, b=beta, a=alpha: call(M, d, b, a))
    with pytest.raises(RuntimeError, match="addr: For integral input tensors, argument beta must not be a floating"):
        call(engine, ("int64", "int64", "int64"), beta=0.5)
    with pytest.raises(RuntimeError, match="addr: Boolean alpha only supported for Boolean results"):
        call(engine, ("float32", "float32", "float32"), alpha=True)


@pytest.mark.parametrize("name", ["addmm", "baddbmm"])
def test_beta_zero_ignores_nan_in_input_as_torch(name):
    c = np.full(ADD_SHAPES[name][0], np.nan)
    a, b = (RNG.standard_normal(s) for s in ADD_SHAPES[name][1:])
    _assert_same(lambda M, c, a, b: getattr(M, name)(c, a, b, beta=0, alpha=2), c, a, b, grad=True)


# ---- tensordot, vander, cross, matrix_exp --------------------------------------------------------------

@pytest.mark.parametrize("sa,sb,dims", [((1, 1, 1), (2, 1, 2), ([0, 1], [2, 0])), ((1, 3), (4, 3), ([0], [0])),
                                        ((2, 3), (2, 1), ([0, 1], [0, 1])), ((2, 1, 4), (3, 4), 2)])
def test_tensordot_broadcasts_a_size_one_contracted_dim_as_torch(sa, sb, dims):
    _assert_same(lambda M, a, b: M.tensordot(a, b, dims=dims), RNG.standard_normal(sa), RNG.standard_normal(sb),
                 grad=True)


def test_tensordot_other_contracted_size_mismatch_raises_as_torch():
    for M in (torch, engine):
        with pytest.raises(RuntimeError, match="contracted dimensions need to match"):
            M.tensordot(M.zeros(2, 3), M.zeros(3, 3), dims=([0], [0]))


@pytest.mark.parametrize("n", [2, 3, None, 1])
def test_vander_of_a_0d_tensor_is_one_point_as_torch(n):
    x = np.array(-4.827)
    if n is None or n <= 1:
        for M in (torch, engine):
            with pytest.raises(RuntimeError, match="N must be greater than 1"):
                M.linalg.vander(M.tensor(x), N=n)
        return
    _assert_same(lambda M, t: M.linalg.vander(t, N=n), x, grad=True)


@pytest.mark.parametrize("sa,sb,dim", [((5, 3), (5, 1), -1), ((5, 3), (5, 1), 0), ((3,), (3, 2), 0),
                                       ((2, 3), (2, 3), 2)])
def test_cross_rejects_what_torch_rejects(sa, sb, dim):
    with pytest.raises((RuntimeError, IndexError)) as theirs:
        torch.linalg.cross(torch.zeros(sa), torch.zeros(sb), dim=dim)
    with pytest.raises(type(theirs.value)):
        engine.linalg.cross(engine.zeros(sa), engine.zeros(sb), dim=dim)
    with pytest.raises(type(theirs.value)):
        engine.cross(engine.zeros(sa), engine.zeros(sb), dim=dim)


def test_cross_still_broadcasts_the_other_dims_as_torch():
    _assert_same(lambda M, a, b: M.linalg.cross(a, b), RNG.standard_normal((1, 3)), RNG.standard_normal((4, 3)),
                 grad=True)


def test_matrix_exp_float32_is_as_close_to_the_float64_answer_as_torchs():
    a = (RNG.standard_normal((5, 5, 5)) * 3).astype(np.float32)
    truth = torch.linalg.matrix_exp(torch.tensor(a, dtype=torch.float64)).numpy()
    theirs = torch.linalg.matrix_exp(torch.tensor(a)).numpy()
    ours = engine.linalg.matrix_exp(engine.tensor(a))
    assert ours.dtype == engine.float32
    scale = np.abs(truth).max(axis=(-2, -1), keepdims=True)
    assert (np.abs(ours.numpy() - truth) / scale).max() <= (np.abs(theirs - truth) / scale).max()


def test_matrix_exp_float32_gradient_as_torch():
    a = (RNG.standard_normal((3, 3)) * 0.5).astype(np.float32)
    o1, g1, _ = _outputs(engine, lambda M, t: M.linalg.matrix_exp(t), [a], True)
    o2, g2, _ = _outputs(torch, lambda M, t: M.linalg.matrix_exp(t), [a], True)
    assert g1[0].dtype == g2[0].dtype == np.float32
    np.testing.assert_allclose(o1[0], o2[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g1[0], g2[0], rtol=1e-5, atol=1e-6)


# ---- householder_product ---------------------------------------------------------------------------------

@pytest.mark.parametrize("sa,st,grad", [((4, 3), (2,), True), ((4, 3), (3,), True), ((3, 3), (3,), True),
                                        ((2, 5, 3), (2, 3), True), ((0, 0), (0,), False), ((3, 0), (0,), False),
                                        ((2, 3, 2), (2, 0), False)])
def test_householder_product_values_and_gradients_as_torch(sa, st, grad):
    _assert_same(lambda M, a, t: M.linalg.householder_product(a, t), RNG.standard_normal(sa),
                 RNG.standard_normal(st), grad=grad)


def test_householder_product_of_geqrf_rebuilds_q_as_torch():
    a = torch.tensor(RNG.standard_normal((5, 3)))
    reflectors, tau = torch.geqrf(a)
    ours = engine.linalg.householder_product(engine.tensor(reflectors.numpy()), engine.tensor(tau.numpy()))
    np.testing.assert_allclose(ours.numpy(), torch.linalg.householder_product(reflectors, tau).numpy(), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("sa,st,dtype", [((3, 4), (2,), "float32"), ((4, 3), (4,), "float32"),
                                         ((2, 4, 3), (3, 2), "float32"), ((4,), (1,), "float32"),
                                         ((4, 3), (2, 2), "float32"), ((2, 4, 3), (1, 2), "float32"),
                                         ((4, 3), (2,), "int64")])
def test_householder_product_bad_input_raises_as_torch(sa, st, dtype):
    with pytest.raises((RuntimeError, NotImplementedError)) as theirs:
        torch.linalg.householder_product(torch.ones(sa, dtype=getattr(torch, dtype)), torch.ones(st,
                                         dtype=getattr(torch, dtype)))
    with pytest.raises(type(theirs.value), match="householder_product|orgqr"):
        engine.linalg.householder_product(engine.ones(sa, dtype=getattr(engine, dtype)),
                                          engine.ones(st, dtype=getattr(engine, dtype)))


def test_householder_product_tau_dtype_mismatch_raises_as_torch():
    for M in (torch, engine):
        with pytest.raises(RuntimeError, match="tau dtype"):
            M.linalg.householder_product(M.ones(4, 3), M.ones(2, dtype=M.float64))
