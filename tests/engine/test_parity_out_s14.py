"""torch's ``out=`` keyword on engine.*, engine.linalg.* and engine.special.* (engine/out.py) against
torch: values and dtype written into ``out``, ``out`` returned, torch's dtype rules (cast where
torch casts, equal dtype where torch needs it, errors otherwise), resizing (and its warning), the
autograd refusal, tuple outputs and factories taking ``out``'s dtype (session 14)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import engine
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

rng = np.random.default_rng(0)
A = rng.standard_normal((3, 4)).astype(np.float32)
B = rng.standard_normal((3, 4)).astype(np.float32)
P = np.abs(A) + 0.5
SQ = rng.standard_normal((3, 3)).astype(np.float32) + 3 * np.eye(3, dtype=np.float32)
SPD = SQ @ SQ.T
IDX = np.array([[0, 2, 1, 1], [1, 0, 2, 0], [2, 1, 0, 2]])
V = rng.standard_normal(4).astype(np.float32)
EDGES = np.arange(4.0, dtype=np.float32)

# (name, args, kwargs): numpy arrays become tensors of each library
CALLS = [
    ("add", (A, B), {}), ("add", (A, 2), {"alpha": 2}), ("sub", (A, B), {}), ("mul", (A, B), {}), ("div", (A, B), {}),
    ("div", (IDX, 2), {}), ("div", (IDX, 2), {"rounding_mode": "floor"}), ("pow", (P, 2), {}), ("atan2", (A, B), {}),
    ("abs", (A,), {}), ("exp", (A,), {}), ("sqrt", (P,), {}), ("neg", (A,), {}), ("sigmoid", (A,), {}),
    ("tanh", (A,), {}), ("eq", (A, B), {}), ("lt", (A, B), {}), ("logical_and", (A, B), {}),
    ("clamp", (A, -0.5, 0.5), {}), ("clamp", (IDX, 0, 1), {}), ("where", (A > 0, A, B), {}), ("maximum", (A, B), {}),
    ("fmod", (A, 0.7), {}), ("remainder", (IDX, 2), {}), ("bitwise_and", (IDX, 3), {}), ("sum", (A, 1), {}),
    ("sum", (A, 1, True), {}), ("mean", (A, 0), {}), ("prod", (A, 1), {}), ("amax", (A, 1), {}), ("amin", (A, 0), {}),
    ("max", (A, 1), {}), ("min", (A, 0), {}), ("max", (A, B), {}), ("std", (A, 1), {}), ("var", (A, 0), {}),
    ("logsumexp", (A, 1), {}), ("argmax", (A, 1), {}), ("all", (A > 0, 1), {}), ("any", (A > 0, 1), {}),
    ("cumsum", (A, 1), {}), ("cumprod", (A, 0), {}), ("norm", (A,), {}), ("matmul", (A, B.T), {}),
    ("mm", (A, B.T), {}), ("bmm", (A[None], B.T[None]), {}), ("addmm", (SQ, A[:, :3], SQ), {}), ("mv", (A, V), {}),
    ("dot", (V, V), {}), ("outer", (V, V), {}), ("cat", ([A, B],), {}), ("cat", ([A, B], 1), {}),
    ("stack", ([A, B],), {}), ("hstack", ([A, B],), {}), ("vstack", ([A, B],), {}), ("sort", (A, 1), {}),
    ("topk", (A, 2), {}), ("kthvalue", (A, 2, 1), {}), ("median", (A, 1), {}), ("mode", (IDX, 1), {}),
    ("cummax", (A, 1), {}), ("aminmax", (A,), {}), ("gather", (A, 1, IDX[:, :2]), {}),
    ("index_select", (A, 1, np.array([0, 2])), {}), ("masked_select", (A, A > 0), {}),
    ("take", (A, np.array([0, 5])), {}), ("tril", (A,), {}), ("triu", (A, 1), {}), ("diag", (V,), {}),
    ("nonzero", (A > 0,), {}), ("softmax", (A, 1), {}), ("log_softmax", (A, 1), {}), ("lerp", (A, B, 0.3), {}),
    ("addcmul", (A, A, B), {"value": 0.5}), ("xlogy", (P, P), {}), ("logical_not", (A > 0,), {}), ("sign", (A,), {}),
    ("msort", (A,), {}), ("diff", (A,), {}), ("kron", (SQ, SQ), {}), ("tensordot", (A, B.T), {"dims": 1}),
    ("inner", (A, B), {}), ("searchsorted", (EDGES, A), {}), ("bucketize", (A, EDGES), {}), ("histc", (A,), {}),
    ("quantile", (A, 0.3), {}), ("nanmean", (A, 1), {}), ("nansum", (A, 1), {}), ("logcumsumexp", (A, 1), {}),
    ("take_along_dim", (A, IDX, 1), {}), ("index_add", (A, 1, np.array([0, 2]), A[:, :2]), {}),
    ("scatter_add", (A, 1, IDX, B), {}), ("isin", (IDX, np.array([1])), {}), ("trunc", (A,), {}),
    ("cross", (SQ, SQ), {"dim": 1}), ("renorm", (A, 2, 0, 1.0), {}), ("hypot", (A, B), {}), ("logit", (P / 4,), {}),
    ("square", (A,), {}), ("signbit", (A,), {}), ("inverse", (SQ,), {}), ("matrix_power", (SQ, 2), {}),
    ("baddbmm", (SQ[None], SQ[None], SQ[None]), {}), ("addmv", (V[:3], A[:, :3], V[:3]), {}),
    ("linalg.inv", (SQ,), {}), ("linalg.det", (SQ,), {}), ("linalg.norm", (A,), {}),
    ("linalg.vector_norm", (A,), {}), ("linalg.matrix_norm", (A,), {}), ("linalg.solve", (SQ, SQ), {}),
    ("linalg.cholesky", (SPD,), {}), ("linalg.svdvals", (SQ,), {}), ("linalg.slogdet", (SQ,), {}),
    ("linalg.matmul", (A, B.T), {}), ("linalg.pinv", (A,), {}), ("linalg.matrix_power", (SQ, 2), {}),
    ("linalg.multi_dot", ([A, B.T],), {}), ("linalg.cross", (SQ, SQ), {}), ("linalg.vecdot", (A, B), {}),
    ("linalg.eigvalsh", (SPD,), {}), ("special.erf", (A,), {}), ("special.expit", (A,), {}),
    ("special.gammaln", (P,), {}), ("special.xlogy", (P, P), {}), ("special.logsumexp", (A, 1), {}),
    ("special.gammainc", (P, P), {}), ("special.ndtr", (A,), {}), ("special.entr", (P,), {}),
]
# float64 inputs, so that a float32 out tests narrowing within a category (torch allows it for some)
M = rng.standard_normal((3, 3)) + 3 * np.eye(3)
M_SPD, M_R = M @ M.T, rng.standard_normal((4, 3))
M_L = np.linalg.cholesky(M_SPD)
CALLS += [
    ("histogram", (M_R.ravel(),), {"bins": 4}), ("qr", (M,), {}), ("frexp", (M_R,), {}), ("slogdet", (M,), {}),
    ("linalg.lu_factor", (M,), {}), ("linalg.cholesky_ex", (M_SPD,), {}), ("linalg.inv_ex", (M,), {}),
    ("linalg.solve_ex", (M, M), {}), ("nanmedian", (M_R, 1), {}), ("cummin", (M_R, 1), {}), ("linalg.lu", (M,), {}),
    ("linalg.lstsq", (M_R, M_R), {}), ("linalg.slogdet", (M,), {}), ("aminmax", (M_R,), {"dim": 1}),
    ("linalg.cond", (M,), {}), ("linalg.matrix_rank", (M,), {}), ("linalg.tensorinv", (M,), {"ind": 1}),
    ("linalg.solve_triangular", (np.triu(M), M), {"upper": True}), ("cholesky", (M_SPD,), {}),
    ("scatter", (M_R, 1, np.zeros((4, 1), np.int64), M_R), {}),
    ("index_copy", (M_R, 0, np.array([1, 0, 2, 3]), M_R), {}),
    ("cholesky_solve", (M, M_L), {}), ("cholesky_inverse", (M_L,), {}), ("chain_matmul", (M, M), {}),
    ("addr", (M, M[0], M[1]), {}), ("addbmm", (M, M[None], M[None]), {}), ("vdot", (M[0], M[1]), {}),
    ("threshold", (M_R, 0.1, 2.0), {}), ("hardshrink", (M_R,), {}), ("slice_scatter", (M_R, M_R[:2], 0, 0, 2), {}),
    ("isposinf", (M_R,), {}), ("nan_to_num", (M_R,), {}), ("round", (M_R,), {"decimals": 1}),
    ("float_power", (np.abs(M_R), 2), {}), ("special.polygamma", (1, np.abs(M_R) + 1), {}),
    ("mvlgamma", (np.abs(M_R) + 2, 2), {}), ("special.multigammaln", (np.abs(M_R) + 2, 2), {}),
    ("nanquantile", (M_R, 0.5), {}), ("quantile", (M_R, 0.5, 1), {}), ("mode", (M_R, 1), {}), ("std", (M_R, 1), {}),
    ("linalg.eigh", (M_SPD,), {}), ("linalg.svd", (M,), {}), ("svd", (M,), {}), ("linalg.qr", (M,), {}),
]
SIGNED = {"qr", "svd", "linalg.eigh", "linalg.svd", "linalg.qr"}  # factors fixed only up to signs: no values
FACTORIES = [("zeros", (2, 3), {}), ("ones", (4,), {}), ("full", ((2,), 7), {}), ("arange", (5,), {}),
             ("arange", (0, 1, 0.25), {}), ("linspace", (0, 1, 5), {}), ("logspace", (0, 2, 3), {}), ("eye", (3,), {})]


def lib_args(lib, a):
    if isinstance(a, np.ndarray):
        return torch.from_numpy(a.copy()) if lib is torch else engine.tensor(a.copy())
    if isinstance(a, (list, tuple)):
        return type(a)(lib_args(lib, x) for x in a)
    return a


def fn(lib, name):
    for part in name.split("."):
        lib = getattr(lib, part)
    return lib


def make_out(lib, ref, dtype, shape):
    """An out tensor (or a tuple of them, like ``ref``) of ``dtype`` (None: ref's) and ``shape``."""
    if isinstance(ref, tuple):
        return tuple(make_out(lib, r, dtype, shape) for r in ref)
    dt = str(ref.dtype).replace("torch.", "") if dtype is None else dtype
    size = tuple(ref.shape) if shape == "same" else (0,) if shape == "empty" else (7,)
    return lib.zeros(size, dtype=getattr(lib, dt))


def call(lib, name, args, kwargs, out):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn(lib, name)(*lib_args(lib, args), **kwargs, out=out)
        except Exception as e:  # noqa: BLE001 - the exception type is compared with torch's
            return type(e), None, []
    return None, result, [str(w.message) for w in caught if "resized" in str(w.message)]


def assert_same(ours, theirs, what):
    if isinstance(theirs, tuple):
        for o, t in zip(ours, theirs):
            assert_same(o, t, what)
        return
    assert isinstance(ours, Tensor), what
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), f"{what}: {ours.dtype} vs {theirs.dtype}"
    assert ours.shape == tuple(theirs.shape), what
    np.testing.assert_allclose(ours.numpy().astype(np.float64), theirs.numpy().astype(np.float64),
                               rtol=1e-5, atol=1e-6, err_msg=what)


def check(name, args, kwargs, dtype, shape, skip_values=False):
    ref = fn(torch, name)(*lib_args(torch, args), **kwargs)
    ref = tuple(ref) if isinstance(ref, tuple) else ref
    out_t, out_e = make_out(torch, ref, dtype, shape), make_out(engine, ref, dtype, shape)
    err_t, res_t, warn_t = call(torch, name, args, kwargs, out_t)
    err_e, res_e, warn_e = call(engine, name, args, kwargs, out_e)
    what = f"{name} {kwargs} out={dtype}/{shape}"
    if err_t is NotImplementedError:  # torch has no kernel for that dtype (bool cumsum): nothing to match
        return
    assert err_e is err_t, f"{what}: ours {err_e} vs torch {err_t}"
    if err_t is not None:
        return
    if isinstance(out_t, tuple):
        assert isinstance(res_e, tuple) and all(r is o for r, o in zip(res_e, out_e)), what
    else:
        assert res_e is out_e, f"{what}: out is not returned"
    assert bool(warn_e) == bool(warn_t), f"{what}: warnings {warn_e} vs torch {warn_t}"
    if not skip_values:
        assert_same(out_e, out_t, what)


@pytest.mark.parametrize("dtype", [None, "float32", "float64", "int64", "bool"])
@pytest.mark.parametrize("shape", ["same", "empty", "wrong"])
@pytest.mark.parametrize("name,args,kwargs", CALLS, ids=[c[0] for c in CALLS])
def test_out_matches_torch(name, args, kwargs, dtype, shape):
    check(name, args, kwargs, dtype, shape, skip_values=name in SIGNED)


@pytest.mark.parametrize("dtype", [None, "float64", "int64"])
@pytest.mark.parametrize("shape", ["same", "empty", "wrong"])
@pytest.mark.parametrize("name,args,kwargs", FACTORIES, ids=[c[0] for c in FACTORIES])
def test_factory_out_takes_its_dtype(name, args, kwargs, dtype, shape):
    check(name, args, kwargs, dtype, shape)


@pytest.mark.parametrize("name", ["randn", "rand", "empty"])
def test_random_factory_out_dtype(name):
    for lib in (torch, engine):
        o = lib.zeros(5, dtype=lib.float64)
        assert fn(lib, name)(2, 3, out=o) is o and tuple(o.shape) == (2, 3)
        assert str(o.dtype).replace("torch.", "") == "float64"


def test_dtype_messages_match_torch():
    a, b = engine.ones(3), engine.ones(3)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        engine.add(a, b, out=engine.empty(3, dtype=engine.int64))
    with pytest.raises(RuntimeError, match="Expected out tensor to have dtype float, but got double instead"):
        engine.mm(a[None], b[:, None], out=engine.empty(1, 1, dtype=engine.float64))
    with pytest.raises(RuntimeError, match=r"dtype Float does not match dtype of out parameter \(Long\)"):
        engine.zeros(3, dtype=engine.float32, out=engine.empty(3, dtype=engine.int64))
    with pytest.raises(TypeError, match="input types can't be cast to the desired output type Long"):
        engine.cat([a, b], out=engine.empty(6, dtype=engine.int64))
    with pytest.warns(UserWarning, match=r"had shape \[2\], which does not match the required output shape \[3\]"):
        engine.add(a, b, out=engine.empty(2))


def grad_cases(lib):
    a = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
    b = lib.tensor([1.0, 2.0, 0.5])
    e = lib.empty
    return [
        lambda: lib.add(a, b, out=e(3)),
        lambda: lib.add(b, b, out=e(3, requires_grad=True)),
        lambda: lib.eq(a, b, out=e(3, dtype=lib.bool)),  # not differentiable: allowed
        lambda: lib.eq(b, b, out=e(3, requires_grad=True)),
        lambda: lib.argmax(a, 0, out=e((), dtype=lib.int64)),
        lambda: lib.max(a, 0, out=(e(()), e((), dtype=lib.int64))),
        lambda: lib.zeros(3, out=e(3, requires_grad=True)),
        lambda: lib.cat([a, b], out=e(6)),
        lambda: lib.sort(a, out=(e(3), e(3, dtype=lib.int64))),
    ]


@pytest.mark.parametrize("i", range(9))
def test_out_refuses_autograd_as_torch(i):
    outcomes = []
    for lib in (torch, engine):
        try:
            grad_cases(lib)[i]()
            outcomes.append(None)
        except RuntimeError as e:
            assert "functions with out=... arguments don't support automatic differentiation" in str(e)
            outcomes.append(RuntimeError)
    assert outcomes[0] is outcomes[1]


def test_out_under_no_grad_and_aliasing():
    for lib in (torch, engine):
        a = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        with lib.no_grad():
            o = lib.empty(3, requires_grad=True)
            assert lib.mul(a, 2, out=o) is o and o.tolist() == [2.0, -4.0, 6.0] and o.requires_grad
        x = lib.tensor([1.0, 2.0])
        assert lib.add(x, x, out=x).tolist() == [2.0, 4.0]
        base = lib.zeros(2, 3)
        lib.add(lib.ones(3), 1, out=base[0])  # a view: the base sees the write
        assert base.tolist() == [[2.0, 2.0, 2.0], [0.0, 0.0, 0.0]]


def test_tuple_out_forms():
    x = [[3.0, 1.0, 2.0]]
    for lib in (torch, engine):
        r = lib.sort(lib.tensor(x), out=[lib.empty(0), lib.empty(0, dtype=lib.int64)])
        assert r.values.tolist() == [[1.0, 2.0, 3.0]] and r.indices.tolist() == [[1, 2, 0]]
        with pytest.raises(TypeError):
            lib.max(lib.tensor(x), 1, out=lib.empty(0))
        with pytest.raises(TypeError):
            lib.max(lib.tensor(x), 1, out=(lib.empty(0),))
        with pytest.raises(TypeError):
            lib.add(lib.ones(2), 1, out=[lib.empty(2)])


def test_out_on_another_device_raises():
    class Elsewhere(Tensor):
        device = property(lambda self: "gpu")

    with pytest.raises(RuntimeError, match="Expected out tensor to have device cpu, but got gpu"):
        engine.add(engine.ones(2), 1, out=Elsewhere(np.zeros(2, np.float32)))


@pytest.mark.parametrize("name", ["flip", "roll", "clone", "unique", "einsum", "zeros_like"])
def test_no_out_where_torch_has_none(name):
    args = {"flip": (0,), "roll": (1,), "clone": (), "unique": (), "zeros_like": ()}
    if name == "einsum":
        with pytest.raises(TypeError):
            torch.einsum("i->i", torch.ones(2), out=torch.empty(2))
        with pytest.raises(TypeError):
            engine.einsum("i->i", engine.ones(2), out=engine.empty(2))
        return
    for lib in (torch, engine):
        with pytest.raises(TypeError):
            getattr(lib, name)(lib.ones(2), *args[name], out=lib.empty(2))


def test_out_names_exist_in_torch():
    from engine import out

    for module, names in ((torch, out.TORCH), (torch.linalg, out.LINALG), (torch.special, out.SPECIAL)):
        missing = [n for n in names if not hasattr(module, n)]
        assert not missing, missing


def test_call_without_out_is_the_function():
    # the no-out path passes everything through unchanged (results and errors)
    assert engine.add.__wrapped__ is not engine.add
    assert engine.add(engine.ones(2), 1).tolist() == [2.0, 2.0]
    with pytest.raises(TypeError):
        engine.add(engine.ones(2), 1, bogus=1)
