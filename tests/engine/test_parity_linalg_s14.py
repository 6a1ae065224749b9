"""torch comparisons for engine.linalg and torch.*'s linear-algebra functions (session 14's sweep):
torch.return_types names, LinAlgError and its messages, the *_ex functions' info, pinv/matrix_rank
tolerances, rank-deficient pinv and its gradient, and the other fixes listed in the commits."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import engine  # noqa: E402

RNG = np.random.default_rng(14)
A = RNG.standard_normal((2, 4, 4))
TALL = RNG.standard_normal((2, 5, 3))
WIDE = RNG.standard_normal((2, 3, 5))
SING = np.array([[1.0, 2.0], [2.0, 4.0]])
SING3 = np.arange(1.0, 10.0, dtype=np.float32).reshape(3, 3)  # its LU has an exact zero pivot in float32
RANK2 = RNG.standard_normal((5, 2)) @ RNG.standard_normal((2, 4))  # 5x4 of rank 2
SPD = A @ A.transpose(0, 2, 1) + 4 * np.eye(4)


def _both(fn, *arrays, grad=False):
    """fn(module, *tensors) on engine and torch: (outputs, input grads) of each, as NumPy."""
    res = []
    for M in (engine, torch):
        ts = [M.tensor(a, requires_grad=grad) for a in arrays]
        out = fn(M, *ts)
        outs = tuple(out) if isinstance(out, tuple) else (out,)
        if grad:
            loss = sum((o * M.tensor(np.cos(np.arange(o.numel())).reshape(o.shape), dtype=o.dtype)).sum()
                       for o in outs if o.requires_grad)
            loss.backward()
        res.append(([o.detach().numpy() for o in outs], [t.grad.numpy() for t in ts] if grad else []))
    return res


def _assert_same(fn, *arrays, grad=False, rtol=1e-9, atol=1e-10):
    (o1, g1), (o2, g2) = _both(fn, *arrays, grad=grad)
    for a, b in zip(o1 + g1, o2 + g2):
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# ---- torch.return_types names ------------------------------------------------------------------

RETURN_TYPES = {
    "linalg.slogdet": (lambda M: M.linalg.slogdet(M.tensor(A))),
    "slogdet": (lambda M: M.slogdet(M.tensor(A))),
    "Tensor.slogdet": (lambda M: M.tensor(A).slogdet()),
    "linalg.eigh": (lambda M: M.linalg.eigh(M.tensor(SPD))),
    "linalg.svd": (lambda M: M.linalg.svd(M.tensor(TALL), full_matrices=False)),
    "linalg.svd_full": (lambda M: M.linalg.svd(M.tensor(TALL))),
    "linalg.qr": (lambda M: M.linalg.qr(M.tensor(TALL))),
    "qr": (lambda M: M.qr(M.tensor(TALL))),
    "Tensor.qr": (lambda M: M.tensor(TALL).qr()),
    "linalg.lstsq": (lambda M: M.linalg.lstsq(M.tensor(TALL), M.tensor(TALL))),
    "linalg.cholesky_ex": (lambda M: M.linalg.cholesky_ex(M.tensor(SPD))),
    "linalg.inv_ex": (lambda M: M.linalg.inv_ex(M.tensor(A))),
    "linalg.solve_ex": (lambda M: M.linalg.solve_ex(M.tensor(A), M.tensor(A))),
    "linalg.lu_factor": (lambda M: M.linalg.lu_factor(M.tensor(A))),
    "linalg.lu": (lambda M: M.linalg.lu(M.tensor(A))),
    "lu_unpack": (lambda M: M.lu_unpack(*M.linalg.lu_factor(M.tensor(A)))),
}


@pytest.mark.parametrize("name", sorted(RETURN_TYPES))
def test_result_tuples_are_named_as_torch_return_types(name):
    ours, theirs = RETURN_TYPES[name](engine), RETURN_TYPES[name](torch)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours._fields == tuple(type(theirs).__match_args__)


# ---- LinAlgError and its messages -----------------------------------------------------------------

def _same_linalg_error(fn, *arrays):
    with pytest.raises(torch.linalg.LinAlgError) as theirs:
        fn(torch, *[torch.tensor(a) for a in arrays])
    with pytest.raises(engine.linalg.LinAlgError) as ours:
        fn(engine, *[engine.tensor(a) for a in arrays])
    assert str(ours.value) == str(theirs.value)


ERRORS = {
    "inv": (lambda M, a: M.linalg.inv(a), SING),
    "inv_3x3": (lambda M, a: M.linalg.inv(a), SING3),
    "inv_batch": (lambda M, a: M.linalg.inv(a), np.stack([np.eye(2), SING])),
    "inverse": (lambda M, a: M.inverse(a), np.zeros((3, 3))),
    "inv_ex_check": (lambda M, a: M.linalg.inv_ex(a, check_errors=True), SING),
    "solve": (lambda M, a: M.linalg.solve(a, a), SING),
    "solve_batch": (lambda M, a: M.linalg.solve(a, a[..., 0]), np.stack([np.eye(2), SING])),
    "solve_ex_check": (lambda M, a: M.linalg.solve_ex(a, a, check_errors=True), SING),
    "cholesky": (lambda M, a: M.linalg.cholesky(a), -np.eye(3)),
    "cholesky_minor2": (lambda M, a: M.linalg.cholesky(a), np.array([[1.0, 2.0], [2.0, 1.0]])),
    "cholesky_batch": (lambda M, a: M.linalg.cholesky(a), np.stack([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]])),
    "cholesky_ex_check": (lambda M, a: M.linalg.cholesky_ex(a, check_errors=True), -np.eye(2)),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_singular_and_indefinite_inputs_raise_torchs_linalg_error(name):
    fn, a = ERRORS[name]
    _same_linalg_error(fn, a)


def test_linalg_error_is_a_runtime_error_as_torch():
    assert issubclass(engine.linalg.LinAlgError, RuntimeError)
    assert issubclass(torch.linalg.LinAlgError, RuntimeError)


def test_integer_input_raises_as_torch():
    for fn in (lambda M, a: M.linalg.inv(a), lambda M, a: M.linalg.det(a), lambda M, a: M.linalg.cholesky(a)):
        with pytest.raises(RuntimeError) as theirs:
            fn(torch, torch.eye(2, dtype=torch.int64))
        with pytest.raises(RuntimeError) as ours:
            fn(engine, engine.eye(2, dtype=engine.int64))
        assert str(theirs.value).replace("Long", "int64") == str(ours.value)


# ---- the *_ex functions report instead of raising ---------------------------------------------------

EX_CASES = {
    "cholesky_ex_ok": (lambda M, a: M.linalg.cholesky_ex(a), SPD),
    "cholesky_ex_upper": (lambda M, a: M.linalg.cholesky_ex(a, upper=True), SPD),
    "cholesky_ex_minor1": (lambda M, a: M.linalg.cholesky_ex(a), -np.eye(3)),
    "cholesky_ex_minor2": (lambda M, a: M.linalg.cholesky_ex(a), np.array([[4.0, 2, 1], [2, 1, 3], [1, 3, 9]])),
    "cholesky_ex_batch": (lambda M, a: M.linalg.cholesky_ex(a), np.stack([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]])),
    "inv_ex_ok": (lambda M, a: M.linalg.inv_ex(a), A),
    "inv_ex_singular": (lambda M, a: M.linalg.inv_ex(a), SING),
    "inv_ex_singular_3x3": (lambda M, a: M.linalg.inv_ex(a), SING3),
    "inv_ex_batch": (lambda M, a: M.linalg.inv_ex(a), np.stack([np.eye(2), SING])),
    "solve_ex_ok": (lambda M, a: M.linalg.solve_ex(a, a[..., :1, :].mT), A),
    "solve_ex_left_false": (lambda M, a: M.linalg.solve_ex(a, a[..., :1, :], left=False), A),
    "solve_ex_singular_vector": (lambda M, a: M.linalg.solve_ex(a, a[0]), SING),
    "solve_ex_singular_3x3": (lambda M, a: M.linalg.solve_ex(a, a[:, :2]), SING3),
}


@pytest.mark.parametrize("name", sorted(EX_CASES))
def test_ex_functions_return_info_and_lapacks_values_as_torch(name):
    fn, a = EX_CASES[name]
    (o1, _), (o2, _) = _both(fn, a)
    for x, y in zip(o1, o2):
        assert x.shape == y.shape and x.dtype == y.dtype
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)


def test_ex_functions_backprop_when_info_is_zero():
    _assert_same(lambda M, a: M.linalg.inv_ex(a).inverse, A, grad=True)
    _assert_same(lambda M, a: M.linalg.cholesky_ex(a).L, SPD, grad=True)
    _assert_same(lambda M, a, b: M.linalg.solve_ex(a, b).result, A, TALL[0, :4], grad=True)


# ---- pinv and matrix_rank: torch's tolerances, rank-deficient input -------------------------------

PINV = {
    "tall": (lambda M, a: M.linalg.pinv(a), TALL),
    "wide": (lambda M, a: M.linalg.pinv(a), WIDE),
    "rank_deficient": (lambda M, a: M.linalg.pinv(a), RANK2),
    "singular": (lambda M, a: M.linalg.pinv(a), SING),
    "rtol": (lambda M, a: M.linalg.pinv(a, rtol=0.5), TALL),
    "atol": (lambda M, a: M.linalg.pinv(a, atol=1.0), TALL),
    "atol_and_rtol": (lambda M, a: M.linalg.pinv(a, atol=0.1, rtol=0.4), WIDE),
    "atol_tensor": (lambda M, a: M.linalg.pinv(a, atol=M.tensor([0.0, 1.5], dtype=a.dtype)), TALL),
    "hermitian": (lambda M, a: M.linalg.pinv(a, hermitian=True), (A + A.transpose(0, 2, 1)) / 2),
    "hermitian_rank_deficient": (lambda M, a: M.linalg.pinv(a, hermitian=True), RANK2[:4] @ RANK2[:4].T),
    "pinverse_rcond": (lambda M, a: M.pinverse(a, rcond=0.5), TALL),
    "Tensor.pinverse": (lambda M, a: a.pinverse(), RANK2),
}


@pytest.mark.parametrize("name", sorted(PINV))
def test_pinv_values_and_gradient_as_torch(name):
    fn, a = PINV[name]
    _assert_same(fn, a, grad=True, rtol=1e-7, atol=1e-9)


def test_pinv_float32():
    _assert_same(lambda M, a: M.linalg.pinv(a), RANK2.astype(np.float32), rtol=1e-4, atol=1e-5)


RANK = {
    "default": (lambda M, a: M.linalg.matrix_rank(a), np.stack([RANK2[:4], A[0]])),
    "singular": (lambda M, a: M.linalg.matrix_rank(a), SING),
    "atol": (lambda M, a: M.linalg.matrix_rank(a, atol=1.0), TALL),
    "atol_rtol": (lambda M, a: M.linalg.matrix_rank(a, atol=0.5, rtol=0.3), WIDE),
    "rtol": (lambda M, a: M.linalg.matrix_rank(a, rtol=0.4), TALL),
    "hermitian": (lambda M, a: M.linalg.matrix_rank(a, hermitian=True), RANK2[:4] @ RANK2[:4].T - 2 * np.eye(4)),
    "float32": (lambda M, a: M.linalg.matrix_rank(a), RANK2.astype(np.float32)),
}


@pytest.mark.parametrize("name", sorted(RANK))
def test_matrix_rank_as_torch(name):
    fn, a = RANK[name]
    _assert_same(fn, a)


# ---- lstsq: each driver's fields, wide and rank-deficient A, gradients ------------------------------

B5 = RNG.standard_normal((2, 5, 2))


@pytest.mark.parametrize(("driver", "shape"), [
    (d, s) for d in (None, "gels", "gelsy", "gelsd", "gelss") for s in ("tall", "tall_vector", "wide", "rank_deficient")
    if (d, s) != ("gels", "rank_deficient")])  # gels assumes full rank: torch's solution there is rounding noise
def test_lstsq_fields_per_driver_as_torch(driver, shape):
    a, b = {"tall": (TALL, B5), "tall_vector": (TALL[0], B5[0, :, 0]), "wide": (WIDE, B5[:, :3]),
            "rank_deficient": (RANK2, B5[0, :, :1].copy())}[shape]
    (o1, _), (o2, _) = _both(lambda M, a, b: M.linalg.lstsq(a, b, driver=driver), a, b)
    assert type(engine.linalg.lstsq(engine.tensor(a), engine.tensor(b))).__name__ == "linalg_lstsq"
    for name, x, y in zip(("solution", "residuals", "rank", "singular_values"), o1, o2):
        assert x.shape == y.shape and x.dtype == y.dtype, (name, x.shape, y.shape, x.dtype, y.dtype)
        np.testing.assert_allclose(x, y, rtol=1e-8, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("driver", ["gelsy", "gelsd", "gels"])
def test_lstsq_gradients_as_torch(driver):
    _assert_same(lambda M, a, b: M.linalg.lstsq(a, b, driver=driver)[:2], TALL, B5, grad=True, rtol=1e-8)
    _assert_same(lambda M, a, b: M.linalg.lstsq(a, b, driver=driver)[0], WIDE, B5[:, :3], grad=True, rtol=1e-8)


def test_lstsq_bad_driver_and_shapes_raise_as_torch():
    for fn in (lambda M: M.linalg.lstsq(M.eye(3), M.ones(3, 1), driver="foo"),
               lambda M: M.linalg.lstsq(M.eye(3), M.ones(2, 1))):
        with pytest.raises(RuntimeError) as theirs:
            fn(torch)
        with pytest.raises(RuntimeError) as ours:
            fn(engine)
        assert str(ours.value) == str(theirs.value)


# ---- eigh / eigvalsh ---------------------------------------------------------------------------

def test_eigvalsh_gradient_at_repeated_eigenvalues_as_torch():
    a = np.stack([np.eye(3), np.diag([1.0, 1.0, 2.0]), SPD[0, :3, :3]])
    _assert_same(lambda M, a: M.linalg.eigvalsh(a), a, grad=True)
    _assert_same(lambda M, a: M.linalg.eigh(a).eigenvalues, a, grad=True)


@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_reads_the_uplo_triangle_as_torch(uplo):
    _assert_same(lambda M, a: M.linalg.eigvalsh(a, UPLO=uplo), A, grad=True)
    _assert_same(lambda M, a: M.linalg.eigh(a, UPLO=uplo).eigenvectors ** 2, A, grad=True, rtol=1e-8)


# ---- LU: lu_factor_ex, singular input, the deprecated torch.lu / torch.lu_solve -------------------

LU_CASES = {
    "lu_factor_ex": (lambda M, a: M.linalg.lu_factor_ex(a), np.stack([SING, np.eye(2), [[1.0, 2.0], [3.0, 4.0]]])),
    "lu_factor_ex_zero": (lambda M, a: M.linalg.lu_factor_ex(a), np.zeros((3, 3))),
    "lu_factor_ex_wide": (lambda M, a: M.linalg.lu_factor_ex(a), np.array([[1.0, 2, 3], [2, 4, 5]])),
    "lu_singular": (lambda M, a: M.linalg.lu(a), SING),
    "torch.lu": (lambda M, a: M.lu(a), A),
    "torch.lu_singular": (lambda M, a: M.lu(a), SING),
    "torch.lu_get_infos": (lambda M, a: M.lu(a, get_infos=True), np.stack([SING, np.eye(2)])),
    "Tensor.lu": (lambda M, a: a.lu(), A),
}


@pytest.mark.parametrize("name", sorted(LU_CASES))
def test_lu_factorizations_as_torch(name):
    fn, a = LU_CASES[name]
    _assert_same(fn, a)


def test_lu_factor_ex_and_lu_solve_gradients_as_torch():
    _assert_same(lambda M, a: M.linalg.lu_factor_ex(a)[0], A, grad=True)
    _assert_same(lambda M, a, b: M.lu_solve(b, *M.linalg.lu_factor(a)), A, B5[:, :4], grad=True)
    _assert_same(lambda M, a, b: b.lu_solve(*M.linalg.lu_factor(a)), A, B5[:, :4], grad=True)


def test_lu_factor_of_a_singular_matrix_raises_as_torch():
    for fn in (lambda M: M.linalg.lu_factor(M.tensor(SING)),
               lambda M: M.linalg.lu_factor(M.tensor(np.stack([np.eye(2), SING]))),
               lambda M: M.linalg.lu_factor_ex(M.tensor(SING), check_errors=True)):
        with pytest.raises(RuntimeError) as theirs:
            fn(torch)
        with pytest.raises(RuntimeError) as ours:
            fn(engine)
        assert str(ours.value) == str(theirs.value)


# ---- small ones: cond of a singular matrix, linalg.vander, argument checks --------------------------

SMALL = {
    "cond_singular_p1": (lambda M, a: M.linalg.cond(a, 1), SING),
    "cond_singular_batch_inf": (lambda M, a: M.linalg.cond(a, math.inf), np.stack([SING, A[0, :2, :2]])),
    "cond_singular_fro": (lambda M, a: M.linalg.cond(a, "fro"), SING),
    "linalg.vander": (lambda M, a: M.linalg.vander(a), RNG.standard_normal((2, 4))),
    "linalg.vander_N": (lambda M, a: M.linalg.vander(a, N=5), RNG.standard_normal(3)),
    "linalg.vander_int": (lambda M, a: M.linalg.vander(a), np.array([1, 2, 3])),
    "matrix_power_int": (lambda M, a: M.linalg.matrix_power(a, 3), np.arange(4).reshape(2, 2)),
    "matrix_power_int_0": (lambda M, a: M.linalg.matrix_power(a, 0), np.arange(4).reshape(2, 2)),
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_small_linalg_cases_as_torch(name):
    fn, a = SMALL[name]
    _assert_same(fn, a)


def test_linalg_vander_gradient_as_torch():
    _assert_same(lambda M, a: M.linalg.vander(a, N=4), np.array([[0.0, 1.5, -2.0]]), grad=True)


BAD = {
    "solve_triangular_1d_B": lambda M: M.linalg.solve_triangular(M.eye(3), M.ones(3), upper=True),
    "multi_dot_3d_first": lambda M: M.linalg.multi_dot([M.ones(2, 2, 2), M.ones(2, 2)]),
    "multi_dot_1d_middle": lambda M: M.linalg.multi_dot([M.ones(2, 2), M.ones(2), M.ones(2, 2)]),
    "multi_dot_3d_last": lambda M: M.linalg.multi_dot([M.ones(2, 2), M.ones(2, 2, 2)]),
    "linalg.vander_N1": lambda M: M.linalg.vander(M.ones(3), N=1),
    "matrix_power_int_negative": lambda M: M.linalg.matrix_power(M.ones(2, 2, dtype=M.int64), -1),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_arguments_raise_torchs_error(name):
    with pytest.raises(RuntimeError) as theirs:
        BAD[name](torch)
    with pytest.raises(RuntimeError) as ours:
        BAD[name](engine)
    assert str(ours.value) == str(theirs.value).replace("Long", "int64")


def test_vector_norm_rejects_integer_input_even_with_dtype_as_torch():
    with pytest.raises(RuntimeError, match="Expected a floating point or complex tensor as input"):
        torch.linalg.vector_norm(torch.arange(3), dtype=torch.float32)
    with pytest.raises(RuntimeError, match="Expected a floating point or complex tensor as input"):
        engine.linalg.vector_norm(engine.arange(3), dtype=engine.float32)


# ---- torch.* misc: histogram, gradient, einsum's sublist form, cov weights, combinations(r=0) -------

X35 = RNG.standard_normal((3, 5))
V6 = RNG.standard_normal(6)

MISC = {
    "histogram": (lambda M, a: M.histogram(a, bins=4), V6),
    "histogram_range": (lambda M, a: M.histogram(a, bins=4, range=(-1.0, 1.0)), V6),
    "histogram_const": (lambda M, a: M.histogram(a, bins=4), np.ones(3)),
    "histogram_2d_float32": (lambda M, a: M.histogram(a, 5), X35.astype(np.float32)),
    "histogram_weight_density": (lambda M, a, w: M.histogram(a, bins=3, weight=w, density=True), V6, np.abs(V6)),
    "histogram_edges": (lambda M, a, b: M.histogram(a, bins=b), V6, np.array([-2.0, 0.0, 0.5, 2.0])),
    "gradient_1d": (lambda M, a: M.gradient(a), V6),
    "gradient_int": (lambda M, a: M.gradient(a), np.array([1, 4, 9, 16])),
    "gradient_2d": (lambda M, a: M.gradient(a), X35),
    "gradient_spacing": (lambda M, a: M.gradient(a, spacing=2.0), X35),
    "gradient_spacing_per_dim": (lambda M, a: M.gradient(a, dim=[0, -1], spacing=[1.5, 2.0]),
                                 RNG.standard_normal((3, 4, 5))),
    "gradient_edge2": (lambda M, a: M.gradient(a, dim=1, edge_order=2), X35),
    "gradient_two_points": (lambda M, a: M.gradient(a), np.array([1.0, 3.0])),
    "gradient_coords": (lambda M, a, c: M.gradient(a, spacing=(c,)), V6, np.sort(RNG.standard_normal(6))),
    "gradient_coords_edge2": (lambda M, a, c: M.gradient(a, spacing=(c,), edge_order=2), V6,
                              np.sort(RNG.standard_normal(6))),
    "gradient_coords_dim1": (lambda M, a, c: M.gradient(a, spacing=(c,), dim=1), X35, np.sort(RNG.standard_normal(5))),
    "einsum_sublist": (lambda M, a, b: M.einsum(a, [0, 1], b, [1, 2], [0, 2]), X35, X35.T.copy()),
    "einsum_sublist_implicit": (lambda M, a: M.einsum(a, [0, 0]), A[0]),
    "einsum_sublist_ellipsis": (lambda M, a, b: M.einsum(a, [Ellipsis, 0, 1], b, [1, 2]), A, X35[:, :4].T.copy()),
    "cov_fweights_aweights": (lambda M, a, w: M.cov(a, fweights=M.tensor([1, 2, 3, 1, 1]), aweights=w), X35,
                              np.abs(RNG.standard_normal(5))),
    "cov_aweights": (lambda M, a, w: M.cov(a, aweights=w), X35, np.abs(RNG.standard_normal(5))),
    "cov_fweights_correction0": (lambda M, a: M.cov(a, correction=0, fweights=M.tensor([1, 2, 3, 1, 1])), X35),
    "cov_1d_aweights": (lambda M, a, w: M.cov(a, aweights=w), V6, np.abs(RNG.standard_normal(6))),
    "combinations_r0": (lambda M, a: M.combinations(a, 0), V6[:3]),
    "combinations_r0_replacement": (lambda M, a: M.combinations(a, 0, with_replacement=True), V6[:3]),
}


@pytest.mark.parametrize("name", sorted(MISC))
def test_misc_torch_functions_as_torch(name):
    fn, *arrays = MISC[name]
    single = any(a.dtype == np.float32 for a in arrays)  # float32 edges: torch's linspace rounds differently
    _assert_same(fn, *arrays, rtol=1e-6 if single else 1e-9)


MISC_GRAD = {
    "gradient": (lambda M, a: M.gradient(a, edge_order=2), X35),
    "gradient_coords_edge2": (lambda M, a, c: M.gradient(a, spacing=(c,), edge_order=2), V6,
                              np.sort(RNG.standard_normal(6))),
    "einsum_sublist": (lambda M, a, b, c: M.einsum(a, [0, 1], b, [1, 2], c, [2, 3], [0, 3]), X35, X35.T.copy(), X35),
    "cov_weights": (lambda M, a, w: M.cov(a, fweights=M.tensor([1, 2, 3, 1, 1]), aweights=w), X35,
                    np.abs(RNG.standard_normal(5))),
}


@pytest.mark.parametrize("name", sorted(MISC_GRAD))
def test_misc_torch_function_gradients_as_torch(name):
    fn, *arrays = MISC_GRAD[name]
    _assert_same(fn, *arrays, grad=True)


def test_misc_bad_input_raises_as_torch():
    cases = [(lambda M: M.histogram(M.tensor([1, 2]), bins=2), NotImplementedError),
             (lambda M: M.histc(M.tensor([1, 2]), bins=2), NotImplementedError),
             (lambda M: M.frexp(M.tensor([1, 2])), RuntimeError),
             (lambda M: M.gradient(M.tensor([1.0, 2.0]), edge_order=2), RuntimeError),
             (lambda M: M.cov(M.ones(2, 3), fweights=M.ones(3)), RuntimeError)]
    for fn, kind in cases:
        with pytest.raises(kind):
            fn(torch)
        with pytest.raises(kind):
            fn(engine)
    assert type(engine.histogram(engine.tensor(V6), 3)).__name__ == type(torch.histogram(torch.tensor(V6), 3)).__name__
