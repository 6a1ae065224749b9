"""Complex tensors against torch: dtypes and promotion, creation and views, values, and gradients in
torch's convention (z.grad = dL/dRe z + i dL/dIm z), checked with torch.autograd.grad on the same numbers:
random complex cotangents through grad_outputs, and real losses."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import engine
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(0)


def crand(*shape, dtype=np.complex128):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(dtype)


def rrand(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def _np(x):
    return x.detach().resolve_conj().numpy() if isinstance(x, torch.Tensor) else x.numpy()


def check(fn, *arrays, tfn=None, cotangent=True, real_loss=None, rtol=1e-10, atol=1e-12):
    """fn on engine tensors and (tfn or fn) on torch tensors made from ``arrays`` (all requiring grad):
    outputs (values, dtype, shape) and gradients of every input against torch.autograd.grad, for a random
    cotangent of the output's dtype (complex when it is) and for ``real_loss`` (a function of the output)."""
    tfn = tfn or fn
    ours = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    y, ty = fn(*ours), tfn(*theirs)
    assert str(y.dtype) == str(ty.dtype).replace("torch.", "")
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(_np(y), _np(ty), rtol=rtol, atol=atol)
    losses = []
    if cotangent:
        c = crand(*y.shape) if y.dtype.kind == "c" else rrand(*y.shape)
        c = c.astype(y.dtype)
        losses.append((lambda out, c=c: (out, Tensor(c)), lambda out, c=c: (out, torch.tensor(c))))
    if real_loss is not None:
        losses.append((lambda out: (real_loss(out), None), lambda out: (real_loss(out), None)))
    for ours_loss, theirs_loss in losses:
        ours = [Tensor(a.copy(), requires_grad=True) for a in arrays]
        theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
        out, g = ours_loss(fn(*ours))
        tout, tg = theirs_loss(tfn(*theirs))
        grads = engine.autograd.grad(out, ours, grad_outputs=g, allow_unused=True)
        tgrads = torch.autograd.grad(tout, theirs, grad_outputs=tg, allow_unused=True)
        for a, gr, tgr in zip(arrays, grads, tgrads):
            if tgr is None:
                assert gr is None or not np.any(_np(gr))
                continue
            assert gr is not None
            assert str(gr.dtype) == str(tgr.dtype).replace("torch.", "") == str(a.dtype)
            np.testing.assert_allclose(_np(gr), _np(tgr), rtol=rtol, atol=atol)


def _mod(x):
    return engine if isinstance(x, Tensor) else torch


# ---- dtypes and promotion ----------------------------------------------------------------------------


def test_dtype_names_match_torch():
    assert engine.complex64 == engine.cfloat == np.complex64
    assert engine.complex128 == engine.cdouble == np.complex128
    assert engine.dtypes.to_dtype("torch.complex64") == np.complex64
    assert engine.dtypes.to_dtype("cdouble") == np.complex128
    assert engine.zeros(2, dtype=engine.complex64).dtype == np.complex64


@pytest.mark.parametrize("data", [[1 + 2j], [1.0, 2j], 3j, [[1, 2j]]])
def test_python_complex_is_complex64(data):
    assert str(engine.tensor(data).dtype) == str(torch.tensor(data).dtype).replace("torch.", "")
    np.testing.assert_array_equal(engine.tensor(data).numpy(), torch.tensor(data).numpy())


NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float32", "float64", "complex64", "complex128"]


@pytest.mark.parametrize("a", NAMES)
@pytest.mark.parametrize("b", NAMES)
def test_promote_types_match_torch(a, b):
    theirs = str(torch.promote_types(getattr(torch, a), getattr(torch, b))).replace("torch.", "")
    assert str(engine.promote_types(getattr(engine, a), getattr(engine, b))) == theirs


@pytest.mark.parametrize("a", NAMES)
@pytest.mark.parametrize("shape_a", [(2,), ()])
@pytest.mark.parametrize("other", [*[(n, s) for n in ("float32", "float64", "complex64", "complex128", "int64")
                                     for s in ((2,), ())], 1j, 2.5, 3, True])
def test_add_result_dtype_matches_torch(a, shape_a, other):
    def make(mod, name, shape):
        return mod.ones(shape, dtype=getattr(mod, name))

    x, tx = make(engine, a, shape_a), make(torch, a, shape_a)
    y, ty = (make(engine, *other), make(torch, *other)) if isinstance(other, tuple) else (other, other)
    assert str(engine.result_type(x, y)) == str(torch.result_type(tx, ty)).replace("torch.", "")
    if a == "bool" and (y is True):
        return
    out, tout = x + y, tx + ty
    assert str(out.dtype) == str(tout.dtype).replace("torch.", "")
    np.testing.assert_allclose(out.numpy(), tout.numpy())


def test_predicates_item_and_casts():
    z = engine.tensor([1 + 2j])
    assert z.is_complex() and engine.is_complex(z) and not z.is_floating_point()
    assert not engine.tensor([1.0]).is_complex()
    assert z.item() == 1 + 2j and isinstance(z.item(), complex)
    assert engine.ones(2).cfloat().dtype == np.complex64 and engine.ones(2).cdouble().dtype == np.complex128
    assert engine.ones(2).to(complex).dtype == np.complex128
    assert engine.ones(2).to(engine.complex64).tolist() == torch.ones(2).to(torch.complex64).tolist()


def test_complex_to_real_warns_and_discards_imag():
    z = engine.tensor([1.5 + 2j])
    with pytest.warns(UserWarning, match="Casting complex values to real discards the imaginary part"):
        r = z.to(engine.float32)
    assert r.tolist() == [1.5] and r.dtype == np.float32
    with pytest.warns(UserWarning, match="discards the imaginary part"):
        assert z.long().tolist() == [1]


def test_requires_grad_on_complex_and_not_on_int():
    assert Tensor(crand(2), requires_grad=True).requires_grad
    assert engine.tensor([1j], requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="floating point and complex"):
        engine.tensor([1, 2]).requires_grad_()


def test_backward_of_a_complex_scalar_needs_a_gradient():
    z = engine.tensor(1 + 2j, requires_grad=True)
    with pytest.raises(RuntimeError, match="real scalar outputs"):
        z.backward()
    with pytest.raises(RuntimeError, match="real scalar outputs"):
        torch.tensor(1 + 2j, requires_grad=True).backward()


# ---- creation, views, values ------------------------------------------------------------------------


def test_complex_and_polar_values_dtypes_and_errors():
    for dt in (np.float32, np.float64):
        a, b = rrand(3, dtype=dt), rrand(2, 1, dtype=dt)
        for name in ("complex", "polar"):
            out = getattr(engine, name)(Tensor(a), Tensor(b))
            theirs = getattr(torch, name)(torch.tensor(a), torch.tensor(b))
            assert str(out.dtype) == str(theirs.dtype).replace("torch.", "")
            np.testing.assert_allclose(out.numpy(), theirs.numpy(), rtol=1e-6)
    for name in ("complex", "polar"):
        for args in ((engine.ones(2), engine.ones(2, dtype=engine.float64)),
                     (engine.ones(2, dtype=engine.int64), engine.ones(2, dtype=engine.int64))):
            targs = [torch.tensor(a.numpy()) for a in args]
            with pytest.raises(RuntimeError) as theirs:
                getattr(torch, name)(*targs)
            with pytest.raises(RuntimeError) as ours:
                getattr(engine, name)(*args)
            assert str(ours.value) == str(theirs.value)


def test_view_as_real_is_a_view():
    z = engine.tensor([1 + 2j, 3 - 4j])
    r = engine.view_as_real(z)
    assert r.dtype == np.float32 and r.shape == (2, 2) and r._is_view()
    r.mul_(2)
    assert z.tolist() == [2 + 4j, 6 - 8j]
    zt = engine.tensor(crand(3, 4)).transpose(0, 1)  # strided
    np.testing.assert_array_equal(engine.view_as_real(zt).numpy(), torch.view_as_real(torch.tensor(zt.numpy())))
    with pytest.raises(RuntimeError, match="only supported for complex tensors"):
        engine.view_as_real(engine.ones(2))


def test_view_as_complex_is_a_view_with_torch_errors():
    x = engine.tensor([[1.0, 2.0], [3.0, 4.0]])
    z = engine.view_as_complex(x)
    assert z.tolist() == [1 + 2j, 3 + 4j] and z.dtype == np.complex64
    z.mul_(1j)
    assert x.tolist() == [[-2.0, 1.0], [-4.0, 3.0]]
    bad = [lambda m: m.ones(3, 3), lambda m: m.ones(3, 2).t().contiguous().t(), lambda m: m.ones(3, 2, dtype=m.int64),
           lambda m: m.ones(3, 4)[:, 1:3], lambda m: m.ones(())]
    for make in bad:
        with pytest.raises(RuntimeError) as theirs:
            torch.view_as_complex(make(torch))
        with pytest.raises(RuntimeError) as ours:
            engine.view_as_complex(make(engine))
        assert str(ours.value) == str(theirs.value)
    for ok in (lambda m: m.ones(2, 3, 2).transpose(0, 1), lambda m: m.ones(2)):
        ours, theirs = engine.view_as_complex(ok(engine)), torch.view_as_complex(ok(torch))
        assert ours.shape == tuple(theirs.shape)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_real_imag_views_write_through_and_set():
    a = crand(3, dtype=np.complex64)
    z, tz = Tensor(a.copy()), torch.tensor(a.copy())
    for m in (z, tz):
        m.real.mul_(2)
        m.imag.add_(1)
    np.testing.assert_array_equal(z.numpy(), tz.numpy())
    z.real = Tensor(np.ones(3, dtype=np.float32))
    tz.real = torch.ones(3)
    z.imag = 5.0
    tz.imag = 5.0
    np.testing.assert_array_equal(z.numpy(), tz.numpy())
    assert z.real._is_view() and z.imag._is_view()
    r = engine.ones(2)
    assert r.real is r and engine.real(r) is r
    with pytest.raises(RuntimeError, match="imag is not implemented for tensors with non-complex dtypes"):
        r.imag  # noqa: B018
    with pytest.raises(RuntimeError, match="imag is not implemented for tensors with non-complex dtypes"):
        engine.imag(r)


@pytest.mark.parametrize("name", ["abs", "absolute", "angle", "sgn", "conj", "conj_physical", "resolve_conj",
                                  "resolve_neg", "real", "imag", "exp", "log", "sqrt", "sin", "cos", "tanh",
                                  "sigmoid", "reciprocal", "neg"])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_unary_values_and_dtypes(name, dtype):
    a = crand(7, dtype=dtype)
    a[0] = 0
    if name in ("log", "reciprocal"):
        a[0] = 1
    out, theirs = getattr(engine, name)(Tensor(a)), getattr(torch, name)(torch.tensor(a)).resolve_conj()
    assert str(out.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(out.numpy(), theirs.numpy(), rtol=2e-6 if dtype == np.complex64 else 1e-12, atol=1e-7)
    method = getattr(Tensor, name, None)
    if isinstance(method, property):
        assert getattr(Tensor(a), name).dtype == out.dtype
    elif method is not None:
        assert getattr(Tensor(a), name)().dtype == out.dtype


def test_angle_and_sgn_of_real_tensors():
    a = np.array([-1.0, 0.0, 2.0, np.nan, -0.0], dtype=np.float32)
    np.testing.assert_array_equal(engine.angle(Tensor(a)).numpy(), torch.angle(torch.tensor(a)).numpy())
    assert engine.angle(engine.tensor([-1, 0, 2])).dtype == np.float32
    np.testing.assert_array_equal(engine.sgn(Tensor(a)).numpy(), torch.sgn(torch.tensor(a)).numpy())
    x, tx = Tensor(a[:3].astype(np.float64), requires_grad=True), torch.tensor(a[:3].astype(np.float64),
                                                                                requires_grad=True)
    engine.angle(x).sum().backward()
    torch.angle(tx).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_conj_is_never_lazy():
    z = engine.tensor([1 + 2j])
    assert not z.conj().is_conj() and not engine.is_conj(z.conj()) and not z.is_neg()
    assert engine.resolve_conj(z) is z
    r = engine.ones(2)
    assert r.conj() is r


def test_conjugate_transposes():
    a = crand(2, 3, 4, dtype=np.complex64)
    z, tz = Tensor(a), torch.tensor(a)
    np.testing.assert_array_equal(z.mH.numpy(), _np(tz.mH))
    np.testing.assert_array_equal(z.adjoint().numpy(), _np(tz.adjoint()))
    np.testing.assert_array_equal(engine.adjoint(z).numpy(), _np(torch.adjoint(tz)))
    np.testing.assert_array_equal(z[0].H.numpy(), _np(tz[0].H))
    np.testing.assert_array_equal(z.mT.numpy(), tz.mT.numpy())


REFUSED = {
    "relu": lambda m, z: m.relu(z), "clamp": lambda m, z: z.clamp(0, 1), "max": lambda m, z: z.max(),
    "sort": lambda m, z: z.sort(), "argmax": lambda m, z: z.argmax(), "lt": lambda m, z: z < z,
    "maximum": lambda m, z: m.maximum(z, z), "floor": lambda m, z: z.floor(), "sign": lambda m, z: z.sign(),
    "floor_fn": lambda m, z: m.floor(z), "sign_fn": lambda m, z: m.sign(z), "sort_fn": lambda m, z: m.sort(z),
    "argmax_fn": lambda m, z: m.argmax(z), "erf": lambda m, z: m.erf(z), "atan2": lambda m, z: m.atan2(z, z),
    "median": lambda m, z: m.median(z), "unique": lambda m, z: m.unique(z), "nansum": lambda m, z: m.nansum(z),
    "deg2rad": lambda m, z: m.deg2rad(z), "xlogy": lambda m, z: m.xlogy(z, z), "topk": lambda m, z: m.topk(z, 2),
    "cummax": lambda m, z: m.cummax(z, 0), "ge": lambda m, z: z >= 0, "gt_other": lambda m, z: z.real > z,
    "remainder": lambda m, z: m.remainder(z, 2), "gelu": lambda m, z: m.nn.functional.gelu(z) if m is torch else
    engine.functional.gelu(z),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_ops_refusing_complex_raise_as_torch(name):
    a = crand(3, dtype=np.complex64)
    with pytest.raises((RuntimeError, NotImplementedError)) as theirs:
        REFUSED[name](torch, torch.tensor(a))
    with pytest.raises(theirs.type) as ours:
        REFUSED[name](engine, Tensor(a))
    if name not in ("gelu", "relu", "clamp", "max"):  # torch's words, but for ours naming a kernel it lacks
        assert str(ours.value).strip() == str(theirs.value).strip()


@pytest.mark.parametrize("name", ["isreal", "float_power", "cov", "vdot", "dot", "sum", "prod", "cumsum", "trace",
                                  "outer", "kron", "diff", "abs", "sgn", "angle", "square", "exp2", "tan", "sinh",
                                  "asinh", "rsqrt", "log10", "log1p", "expm1"])
def test_more_values_on_complex(name):
    a = crand(3, 3)
    args = {"float_power": (2,), "vdot": "self", "dot": "self", "outer": "self", "kron": "self"}.get(name, ())

    def run(m, x):
        if name in ("vdot", "dot", "outer", "kron"):
            x = x.reshape(-1)
            return getattr(m, name)(x, x * (1 - 2j))
        if name in ("cumsum",):
            return m.cumsum(x, 1)
        return getattr(m, name)(x, *args)

    out, theirs = run(engine, Tensor(a)), run(torch, torch.tensor(a))
    assert str(out.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(out.numpy(), _np(theirs), rtol=1e-10, atol=1e-12)


def test_matmul_refuses_mixed_real_and_complex():
    with pytest.raises(RuntimeError):
        torch.ones(2, 2) @ torch.ones(2, 2, dtype=torch.complex64)
    with pytest.raises(RuntimeError):
        engine.ones(2, 2) @ engine.ones(2, 2, dtype=engine.complex64)


# ---- gradients ---------------------------------------------------------------------------------------

C = np.complex128


def _real_sum(out):
    return (out.abs() if out.dtype.is_complex else out).sum() if hasattr(out.dtype, "is_complex") else (
        out.abs().sum() if out.dtype.kind == "c" else out.sum())


UNARY = ["exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "reciprocal", "neg", "abs", "angle", "sgn",
         "conj", "conj_physical", "real", "imag", "clone", "resolve_conj"]


@pytest.mark.parametrize("name", UNARY)
def test_unary_gradients(name):
    check(lambda z: getattr(_mod(z), name)(z), crand(3, 4), real_loss=_real_sum)


BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "rsub_scalar": lambda a, b: (2 - 1j) - a * b, "mul_scalar": lambda a, b: a * (0.5 + 2j) + b * 3,
    "div_scalar": lambda a, b: (1 + 1j) / a + b / (2j), "add_alpha": lambda a, b: a.add(b, alpha=2),
    "where": lambda a, b: _mod(a).where(a.real > 0, a, b),
}


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_gradients_complex_complex(name):
    check(BINARY[name], crand(3, 4), crand(4), real_loss=_real_sum)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
def test_binary_gradients_real_meets_complex(name):
    """A real input's gradient is the real part of the complex one (torch's handle_r_to_c)."""
    check(BINARY[name], rrand(3, 4), crand(4), real_loss=_real_sum)
    check(BINARY[name], crand(3, 4), rrand(4), real_loss=_real_sum)


@pytest.mark.parametrize("p", [2, 3, 0.5, -1.5, 0])
def test_pow_with_real_exponent(p):
    check(lambda z: z**p, crand(5), real_loss=_real_sum)
    check(lambda z: z.pow(p), crand(5))


def test_pow_complex_exponent_and_tensor_exponent():
    check(lambda z: z ** (0.5 + 1j), crand(4))
    check(lambda z, w: z**w, crand(4), crand(4))


def test_real_losses_from_the_brief():
    check(lambda z: z.abs().sum(), crand(5), cotangent=False, real_loss=lambda o: o)
    check(lambda z, w: (z * w).real.sum(), crand(5), crand(5), cotangent=False, real_loss=lambda o: o)
    check(lambda z: _mod(z).view_as_real(z).pow(2).sum(), crand(3, 2), cotangent=False, real_loss=lambda o: o)
    check(lambda z: (z * z.conj()).real.mean() + z.imag.sum() * 2, crand(4), cotangent=False, real_loss=lambda o: o)


def test_creation_gradients():
    check(lambda a, b: _mod(a).complex(a, b), rrand(3, 1), rrand(4), real_loss=_real_sum)
    check(lambda a, b: _mod(a).polar(a, b), rrand(3), rrand(3), real_loss=_real_sum)
    check(lambda z: _mod(z).view_as_real(z), crand(3, 2), real_loss=lambda o: (o * o).sum())
    check(lambda x: _mod(x).view_as_complex(x), rrand(3, 2), real_loss=_real_sum)
    check(lambda x: _mod(x).view_as_complex(x * 2).exp(), rrand(4, 2), real_loss=_real_sum)


def test_casts_between_real_and_complex():
    check(lambda x: x.to(torch.complex128 if isinstance(x, torch.Tensor) else engine.complex128) * (1 + 2j),
          rrand(4), real_loss=_real_sum)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda z: z.to(torch.float64 if isinstance(z, torch.Tensor) else engine.float64) ** 2, crand(4),
              real_loss=_real_sum)
        check(lambda z: z.to(torch.complex64 if isinstance(z, torch.Tensor) else engine.complex64).double(), crand(3),
              rtol=1e-6, atol=1e-6)


REDUCE = {
    "sum": lambda z: z.sum(), "sum_dim": lambda z: z.sum(1, keepdim=True), "mean": lambda z: z.mean(0),
    "prod": lambda z: z.prod(1), "prod_all": lambda z: z.prod(),
}


@pytest.mark.parametrize("name", list(REDUCE))
def test_reduction_gradients(name):
    check(REDUCE[name], crand(3, 4), real_loss=_real_sum)


LINALG = {
    "matmul": (lambda a, b: a @ b, ((3, 4), (4, 2))),
    "mm": (lambda a, b: _mod(a).mm(a, b), ((3, 4), (4, 2))),
    "bmm": (lambda a, b: _mod(a).bmm(a, b), ((2, 3, 4), (2, 4, 5))),
    "matmul_batched": (lambda a, b: a @ b, ((2, 3, 4), (4,))),
    "mv": (lambda a, b: a @ b, ((3, 4), (4,))),
    "einsum": (lambda a, b: _mod(a).einsum("ij,jk->ik", a, b), ((3, 4), (4, 2))),
    "einsum_batch": (lambda a, b: _mod(a).einsum("bij,bkj->bik", a, b), ((2, 3, 4), (2, 5, 4))),
    "dot": (lambda a, b: _mod(a).dot(a, b), ((4,), (4,))),
    "vdot": (lambda a, b: _mod(a).vdot(a, b), ((4,), (4,))),
    "outer": (lambda a, b: _mod(a).outer(a, b), ((3,), (4,))),
}


@pytest.mark.parametrize("name", list(LINALG))
def test_matmul_family_gradients(name):
    fn, shapes = LINALG[name]
    check(fn, *(crand(*s) for s in shapes), real_loss=_real_sum)


MOVEMENT = {
    "reshape": lambda z: z.reshape(4, 3), "view": lambda z: z.view(-1), "permute": lambda z: z.permute(1, 0),
    "transpose": lambda z: z.transpose(0, 1), "t": lambda z: z.t(), "squeeze": lambda z: z[None].squeeze(0),
    "unsqueeze": lambda z: z.unsqueeze(1), "expand": lambda z: z[:, None].expand(3, 2, 4),
    "flatten": lambda z: z.flatten(), "cat": lambda z: _mod(z).cat([z, z * 2], 0),
    "stack": lambda z: _mod(z).stack([z, z.conj()], 1), "split": lambda z: z.split(2, 1)[1] * 3,
    "chunk": lambda z: z.chunk(2, 0)[0], "getitem": lambda z: z[1:, ::2], "getitem_adv": lambda z: z[[0, 2, 0]],
    "index_select": lambda z: z.index_select(1, _mod(z).tensor([3, 0, 3])),
    "gather": lambda z: z.gather(1, _mod(z).tensor([[0, 1], [2, 2], [3, 0]])),
    "masked_select": lambda z: z.masked_select(z.real > 0), "flip": lambda z: z.flip(0),
    "roll": lambda z: z.roll(1, 1), "pad": lambda z: (engine.functional if isinstance(z, Tensor)
                                                      else torch.nn.functional).pad(z, (1, 2)),
    "clone": lambda z: z.clone(), "mT": lambda z: z.mT, "mH": lambda z: z.mH, "adjoint": lambda z: z.adjoint(),
    "diagonal": lambda z: z.diagonal(), "tril": lambda z: z.tril(), "repeat": lambda z: z.repeat(2, 1),
    "cumsum": lambda z: z.cumsum(1),
}


@pytest.mark.parametrize("name", list(MOVEMENT))
def test_movement_and_indexing_gradients(name):
    check(MOVEMENT[name], crand(3, 4), real_loss=_real_sum)


def test_detach_stops_the_gradient():
    z = Tensor(crand(3), requires_grad=True)
    out = (z.detach() * z).real.sum()
    (g,) = engine.autograd.grad(out, [z])
    tz = torch.tensor(z.numpy(), requires_grad=True)
    (tg,) = torch.autograd.grad((tz.detach() * tz).real.sum(), [tz])
    np.testing.assert_allclose(g.numpy(), tg.numpy())


def test_backward_accumulates_into_grad_and_hooks_see_torch_convention():
    a = crand(3)
    z, tz = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    seen, tseen = [], []
    for x, box in ((z, seen), (tz, tseen)):
        y = x * (2 - 1j)
        y.register_hook(lambda g, box=box: box.append(g.numpy().copy()))
        (y.abs().sum() + (x.conj() * x).real.sum()).backward()
        (x.exp().imag.sum()).backward()
    np.testing.assert_allclose(z.grad.numpy(), tz.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(seen[0], tseen[0], rtol=1e-12)


def test_custom_function_gradients_in_torch_convention():
    class Scale(engine.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            return z * 2j

        @staticmethod
        def backward(ctx, g):
            return g * -2j  # torch's convention: g * conj(2j)

    a = crand(3)
    z, tz = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    Scale.apply(z).abs().sum().backward()
    (tz * 2j).abs().sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), tz.grad.numpy(), rtol=1e-12)


def test_complex64_gradients():
    a = crand(3, 4, dtype=np.complex64)
    check(lambda z: (z * z.exp()).sum(1) @ z, a, real_loss=_real_sum, rtol=1e-5, atol=1e-5)


def test_create_graph_with_complex_raises_clearly():
    # elementwise, matmul and shape ops have complex graph backwards (test_parity_complex_gradgrad_s17.py);
    # the others say which op stops the sweep
    z = Tensor(crand(3, 3), requires_grad=True)  # sgn, abs, eig and logcumsumexp have them too now
    out = engine.ones(3, 3, dtype=z.dtype).scatter_reduce(0, engine.tensor([[0, 1, 0], [1, 0, 2]]), z[:2] * z[:2],
                                                          "prod")  # torch has no complex scatter_reduce gradient
    with pytest.raises(NotImplementedError, match="complex"):
        engine.autograd.grad(out.abs().sum(), [z], create_graph=True)


def test_polar_round_trip_value():
    r, th = engine.tensor([2.0]), engine.tensor([math.pi / 3])
    z = engine.polar(r, th)
    assert np.allclose(z.abs().numpy(), 2.0) and np.allclose(z.angle().numpy(), math.pi / 3)


# ---- engine.gradcheck on complex inputs and outputs ----------------------------------------------------

GRADCHECKED = {
    "mul": lambda a, b: a * b, "exp_abs": lambda a, b: (a.exp() * b).abs(), "sgn": lambda a, b: a.sgn() + b,
    "angle": lambda a, b: a.angle() * b, "view_as_real": lambda a, b: _mod(a).view_as_real(a / b),
    "conj_sin": lambda a, b: a.conj() * a.sin(), "polar": lambda a, b: _mod(a).polar(b.abs() + 0.1, b) * a,
    "matmul": lambda a, b: a[:, None] @ (a * b)[None, :], "pow": lambda a, b: a ** 1.5 + a.sqrt() * b,
}


@pytest.mark.parametrize("name", list(GRADCHECKED))
def test_gradcheck_takes_complex_inputs(name):
    z = Tensor(crand(4), requires_grad=True)
    w = Tensor(rrand(4), requires_grad=True)
    assert engine.gradcheck(GRADCHECKED[name], z, w)
    tz, tw = (torch.tensor(t.numpy(), requires_grad=True) for t in (z, w))
    assert torch.autograd.gradcheck(GRADCHECKED[name], (tz, tw))


def test_gradcheck_catches_a_wrong_complex_gradient():
    class Wrong(engine.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            return z * 2j

        @staticmethod
        def backward(ctx, g):
            return g * 2j  # should be g * conj(2j)

    with pytest.raises(engine.GradcheckError, match="real part"):
        engine.gradcheck(lambda z: Wrong.apply(z), Tensor(crand(3), requires_grad=True))


# ---- linalg.eig / eigvals ------------------------------------------------------------------------------


def _eig_input(cplx: bool, shape=(2, 4, 4)):
    a = RNG.standard_normal(shape)
    return a + 1j * RNG.standard_normal(shape) if cplx else a


@pytest.mark.parametrize("cplx", [False, True])
def test_eig_values_and_vectors(cplx):
    a = _eig_input(cplx)
    w, v = engine.linalg.eig(Tensor(a))
    tw, tv = torch.linalg.eig(torch.tensor(a))
    assert str(w.dtype) == str(tw.dtype).replace("torch.", "") == str(v.dtype)
    assert w.shape == tuple(tw.shape) and v.shape == tuple(tv.shape)
    np.testing.assert_allclose(np.sort_complex(w.numpy()), np.sort_complex(tw.numpy()), rtol=1e-10)
    av = a @ v.numpy()
    np.testing.assert_allclose(av, v.numpy() * w.numpy()[..., None, :], atol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(v.numpy(), axis=-2), 1.0, rtol=1e-12)
    np.testing.assert_allclose(engine.linalg.eigvals(Tensor(a)).numpy(), w.numpy())
    assert engine.linalg.eig(Tensor(a.astype(np.float32 if not cplx else np.complex64)))[0].dtype == np.complex64


EIG_LOSSES = {
    "eigvals_abs": lambda la, A: la.eigvals(A).abs().sum(),
    "eigvals_view_as_real": lambda la, A: (engine if la is engine.linalg else torch).view_as_real(la.eigvals(A)).sum(),
    "vectors_abs": lambda la, A: la.eig(A)[1].abs().sum(),
    "both": lambda la, A: (la.eig(A)[0] ** 2).real.sum() + la.eig(A)[1].abs().pow(3).sum(),
    "phase_free": lambda la, A: (la.eig(A)[1] * la.eig(A)[1].conj()).real.sum(),
}


@pytest.mark.parametrize("name", list(EIG_LOSSES))
@pytest.mark.parametrize("cplx", [False, True])
def test_eig_gradients(name, cplx):
    a = _eig_input(cplx)
    A, tA = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (g,) = engine.autograd.grad(EIG_LOSSES[name](engine.linalg, A), [A])
    (tg,) = torch.autograd.grad(EIG_LOSSES[name](torch.linalg, tA), [tA])
    assert g.dtype == a.dtype
    np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("cplx", [False, True])
def test_eig_phase_dependent_loss_raises_as_torch(cplx):
    a = _eig_input(cplx)
    with pytest.raises(RuntimeError, match="specified up to multiplication") as theirs:
        tA = torch.tensor(a, requires_grad=True)
        torch.autograd.grad(torch.linalg.eig(tA)[1].real.sum(), [tA])
    A = Tensor(a, requires_grad=True)
    with pytest.raises(RuntimeError) as ours:
        engine.autograd.grad(engine.linalg.eig(A)[1].real.sum(), [A])
    assert str(ours.value) == str(theirs.value).split(" (Triggered")[0] or "specified up to" in str(ours.value)


def test_eig_refuses_what_torch_refuses():
    with pytest.raises(RuntimeError, match="square"):
        engine.linalg.eig(engine.ones(2, 3))
    with pytest.raises(RuntimeError, match="floating point or complex"):
        engine.linalg.eig(engine.ones(2, 2, dtype=engine.int64))


@pytest.mark.parametrize("reentrant", [False, True])
def test_checkpointed_region_with_complex_values(reentrant):
    a, b = crand(3), rrand(3)
    z, w = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    tz, tw = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)

    def region(x, y):
        return (x.exp() * y).sin(), x * y

    for ckpt, x, y in ((engine.checkpoint.checkpoint, z, w), (torch.utils.checkpoint.checkpoint, tz, tw)):
        p, q = ckpt(region, x, y, use_reentrant=reentrant)
        (p.abs().sum() + q.real.sum()).backward()
    np.testing.assert_allclose(z.grad.numpy(), tz.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)


def test_mh_and_h_on_0d_and_1d_as_torch():
    for make in (lambda m: m.tensor(1 + 2j), lambda m: m.tensor([1 + 2j])):
        for attr in ("mH", "H"):
            with warnings.catch_warnings(record=True) as theirs:
                warnings.simplefilter("always")
                try:
                    t = getattr(make(torch), attr)
                    terr = None
                except RuntimeError as e:
                    terr = e
            with warnings.catch_warnings(record=True) as ours:
                warnings.simplefilter("always")
                if terr is not None:
                    with pytest.raises(RuntimeError, match=str(terr).split(".")[0]):
                        getattr(make(engine), attr)
                    continue
                o = getattr(make(engine), attr)
            # torch warns once per process (TORCH_WARN_ONCE), so its words are checked, not its count
            assert [str(w.message) for w in ours] == [f"Tensor.{attr} is deprecated on 0-D tensors. Consider using "
                                                      "x.conj()."]
            assert all(str(w.message).startswith(f"Tensor.{attr} is deprecated") for w in theirs)
            assert o.item() == t.item()


def test_module_backward_hooks_see_torch_convention():
    a = crand(3)
    seen = {}
    for name, m, x in (("ours", engine, Tensor(a, requires_grad=True)), ("theirs", torch, torch.tensor(a,
                                                                                                      requires_grad=True))):
        nn_mod = __import__("nn") if m is engine else torch.nn
        lin = nn_mod.Identity()
        lin.register_full_backward_hook(lambda mod, gi, go, name=name: seen.__setitem__(name, _np(go[0]).copy()))
        y = lin(x * (1 + 1j))
        (y * (2 - 3j)).abs().sum().backward()
        seen[name + "_grad"] = _np(x.grad)
    np.testing.assert_allclose(seen["ours"], seen["theirs"], rtol=1e-12)
    np.testing.assert_allclose(seen["ours_grad"], seen["theirs_grad"], rtol=1e-12)


@pytest.mark.parametrize("make", [lambda m: m.full((2,), 1 + 2j), lambda m: m.zeros(2, dtype=m.complex128),
                                  lambda m: m.ones_like(m.tensor([1j])), lambda m: m.eye(2, dtype=m.complex64),
                                  lambda m: m.tensor([1j]).new_zeros(2), lambda m: m.as_tensor([1j]),
                                  lambda m: m.zeros(2, dtype=m.complex64).fill_(1j), lambda m: m.tensor([1j, 2]).sum(),
                                  lambda m: m.stack([m.tensor([1j]), m.tensor([2.0])]),
                                  lambda m: m.tensor([1, 2]) * m.tensor(1j), lambda m: m.ones(2).to(complex) / 3j])
def test_factories_and_promotions_with_complex(make):
    out, theirs = make(engine), make(torch)
    assert str(out.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(out.numpy(), theirs.numpy(), rtol=1e-7)


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_randn_complex_dtype_and_variance(dtype):
    engine.manual_seed(0)
    z = engine.randn(20000, dtype=getattr(engine, dtype))
    assert str(z.dtype) == str(torch.randn(2, dtype=getattr(torch, dtype)).dtype).replace("torch.", "")
    assert abs(z.real.numpy().var() - 0.5) < 0.03 and abs(z.imag.numpy().var() - 0.5) < 0.03
    assert abs((z.abs() ** 2).mean().item() - 1) < 0.05


def test_in_place_through_real_imag_and_view_as_real_in_the_graph():
    a = crand(2, 2)

    def run(m):
        z = m.tensor(a, requires_grad=True)
        y = z * 1
        r, im = y.real, y[1].imag  # views made before the writes: re-derived after them
        y.real.mul_(2)
        y[0].imag.add_(z[1].real)
        im.mul_(3)
        m.view_as_real(y)[:, 1, 0].sub_(z[0].imag)
        loss = (y.abs() ** 2).sum() + (r * r).sum() + m.view_as_real(y).pow(3).sum()
        (g,) = (engine.autograd if m is engine else torch.autograd).grad(loss, [z])
        return _np(y), _np(g)

    (y, g), (ty, tg) = run(engine), run(torch)
    np.testing.assert_allclose(y, ty, rtol=1e-12)
    np.testing.assert_allclose(g, tg, rtol=1e-12)


def test_in_place_in_the_graph_on_view_as_complex_is_refused():
    x = Tensor(rrand(3, 2), requires_grad=True)
    with pytest.raises(NotImplementedError, match="view of a float64 tensor"):
        engine.view_as_complex(x * 1).mul_(2j)
