"""Complex reductions, norms, distances, log-sum-exps, lerp and a few activations/losses against torch:
values, dtypes (norms and variances of complex are real) and gradients in torch's convention, checked with
torch.autograd.grad on the same numbers for a random cotangent and for a real loss; and torch's errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import engine
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(17)
F = engine.functional
TF = torch.nn.functional


def crand(*shape, dtype=np.complex128):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(dtype)


def rrand(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def _np(x):
    return x.detach().resolve_conj().numpy() if isinstance(x, torch.Tensor) else x.detach().numpy()


def _mod(x):
    return engine if isinstance(x, Tensor) else torch


def check(fn, *arrays, tfn=None, real_loss=None, rtol=1e-10, atol=1e-12, grads=True):
    """fn on engine tensors and (tfn or fn) on torch tensors made from ``arrays``: the output's values,
    dtype and shape, and (``grads``) every input's gradient against torch.autograd.grad for a random
    cotangent of the output's dtype and for ``real_loss`` (default: the sum of |out|)."""
    tfn = tfn or fn
    ours = [Tensor(a.copy(), requires_grad=grads) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=grads) for a in arrays]
    y, ty = fn(*ours), tfn(*theirs)
    assert str(y.dtype) == str(ty.dtype).replace("torch.", "")
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(_np(y), _np(ty), rtol=rtol, atol=atol)
    if not grads:
        return
    c = (crand(*y.shape) if y.dtype.kind == "c" else rrand(*y.shape)).astype(y.dtype)
    real_loss = real_loss or (lambda out: out.abs().sum())
    for kind in ("cotangent", "loss"):
        ours = [Tensor(a.copy(), requires_grad=True) for a in arrays]
        theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
        out, tout = fn(*ours), tfn(*theirs)
        if kind == "cotangent":
            g = engine.autograd.grad(out, ours, grad_outputs=Tensor(c), allow_unused=True)
            tg = torch.autograd.grad(tout, theirs, grad_outputs=torch.tensor(c), allow_unused=True)
        else:
            g = engine.autograd.grad(real_loss(out), ours, allow_unused=True)
            tg = torch.autograd.grad(real_loss(tout), theirs, allow_unused=True)
        for a, gr, tgr in zip(arrays, g, tg):
            if tgr is None:
                assert gr is None or not np.any(_np(gr))
                continue
            assert str(gr.dtype) == str(tgr.dtype).replace("torch.", "") == str(a.dtype)
            np.testing.assert_allclose(_np(gr), _np(tgr), rtol=rtol, atol=atol)


SHAPES = [(5,), (2, 3, 4)]


# ---- var / std ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("op", ["var", "std", "var_mean", "std_mean"])
@pytest.mark.parametrize("kw", [{}, {"dim": -1}, {"dim": 0, "keepdim": True}, {"dim": -1, "correction": 0},
                                {"unbiased": False}])
def test_var_std_complex(shape, op, kw):
    z = crand(*shape)
    if op.endswith("_mean"):  # (var or std, mean): a real and a complex output, summed into one loss
        def fn(x):
            v, m = getattr(_mod(x), op)(x, **kw)
            return v + (m * m.conj()).real

        check(fn, z)
    else:
        check(lambda x: getattr(x, op)(**kw), z, real_loss=lambda out: (out * out).sum())


@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_complex64_values_and_dtype(op):
    z = crand(3, 4, dtype=np.complex64)
    check(lambda x: getattr(x, op)(1), z, rtol=1e-5, atol=1e-6, grads=False)
    assert getattr(Tensor(z), op)().dtype == np.float32


def test_var_of_complex_is_var_of_parts():
    z = crand(6)
    ours = Tensor(z).var().item()
    assert ours == pytest.approx(np.var(z.real, ddof=1) + np.var(z.imag, ddof=1), rel=1e-12)


# ---- norms ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("p", [2, 1, math.inf, -math.inf, 0, 3, 0.5, -1.5, "fro"])
def test_tensor_norm_complex(shape, p):
    z = crand(*shape)
    check(lambda x: x.norm(p), z)
    if p != "fro":
        check(lambda x: x.norm(p, dim=-1, keepdim=True), z)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ord", [2, 1, math.inf, -math.inf, 0, 4, -2])
def test_vector_norm_complex(shape, ord):  # noqa: A002
    z = crand(*shape)
    check(lambda x: _mod(x).linalg.vector_norm(x, ord), z)
    if len(shape) > 1:
        check(lambda x: _mod(x).linalg.vector_norm(x, ord, dim=(0, -1)), z)
    check(lambda x: _mod(x).linalg.norm(x, ord if ord != 0 else None, dim=-1), z)


def test_norm_complex_zero_entries_and_slices():
    """torch's gradient at 0: 0 for the entries that are 0 (2-norm, p < 1) and across a slice whose norm is 0."""
    z = crand(3, 4)
    z[0] = 0
    z[1, 2] = 0
    for p in (2, 1, 0.5, 3, -1):
        check(lambda x, p=p: _mod(x).linalg.vector_norm(x, p, dim=1), z)


def test_norm_complex64_dtype_and_dtype_argument():
    z = crand(4, dtype=np.complex64)
    assert engine.linalg.vector_norm(Tensor(z)).dtype == np.float32
    check(lambda x: _mod(x).linalg.vector_norm(x, dtype=_mod(x).complex128), z, grads=False)
    check(lambda x: x.norm(dtype=_mod(x).complex128), z, grads=False)


@pytest.mark.parametrize("x, dtype", [(crand(3), "float64"), (rrand(3), "complex128"), (crand(3), "complex64"),
                                      (rrand(3), "float32")])
def test_vector_norm_dtype_errors(x, dtype):
    with pytest.raises(RuntimeError) as theirs:
        torch.linalg.vector_norm(torch.tensor(x), dtype=getattr(torch, dtype))
    with pytest.raises(RuntimeError) as ours:
        engine.linalg.vector_norm(Tensor(x), dtype=getattr(engine, dtype))
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(RuntimeError):
        Tensor(x).norm(dtype=getattr(engine, dtype))


@pytest.mark.parametrize("p", [2, 1, 3, math.inf, 0])
def test_dist_complex(p):
    grads = p != 0  # torch's dist backward fails for p = 0 (an undefined tensor)
    check(lambda a, b: _mod(a).dist(a, b, p), crand(2, 3), crand(2, 3), grads=grads)
    check(lambda a, b: _mod(a).dist(a, b, p), crand(2, 3), crand(3), grads=grads)


@pytest.mark.parametrize("p, dim", [(2, 0), (1, 1), (3, -1)])
def test_renorm_complex(p, dim):
    z = crand(3, 4) * 3
    check(lambda x: x.renorm(p, dim, 2.5), z)


@pytest.mark.parametrize("p, dim", [(2, 1), (1, 0), (3, -1)])
def test_normalize_complex(p, dim):
    check(lambda x: (F if isinstance(x, Tensor) else TF).normalize(x, p=p, dim=dim), crand(3, 4))


@pytest.mark.parametrize("p", [2, 1, 3])
def test_pairwise_distance_and_triplet_loss_complex(p):
    def pd(a, b):
        return (F if isinstance(a, Tensor) else TF).pairwise_distance(a, b, p=p)

    def tm(a, b, c):
        return (F if isinstance(a, Tensor) else TF).triplet_margin_loss(a, b, c, margin=2.0, p=p)

    def tmd(a, b, c):
        return (F if isinstance(a, Tensor) else TF).triplet_margin_with_distance_loss(a, b, c, margin=2.0)

    check(pd, crand(4, 5), crand(4, 5))
    check(pd, crand(5), crand(5))
    check(tm, crand(4, 5), crand(4, 5), crand(4, 5))
    check(tmd, crand(4, 5), crand(4, 5), crand(4, 5))


# ---- cov / corrcoef ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(6,), (3, 6)])
def test_cov_complex(shape):
    z = crand(*shape)
    fw = RNG.integers(1, 4, shape[-1])
    aw = RNG.random(shape[-1])
    check(lambda x: _mod(x).cov(x), z)
    check(lambda x: _mod(x).cov(x, correction=0), z)
    check(lambda x, a: _mod(x).cov(x, fweights=_mod(x).tensor(fw), aweights=a), z, aw)
    check(lambda x, a: _mod(x).cov(x, aweights=a), z, aw.astype(np.float32), rtol=1e-5, atol=1e-6)


def test_cov_weights_keep_their_dtype():
    x, aw = rrand(2, 5, dtype=np.float32), RNG.random(5)
    assert engine.cov(Tensor(x), aweights=Tensor(aw)).dtype == np.float64
    assert torch.cov(torch.tensor(x), aweights=torch.tensor(aw)).dtype == torch.float64


def test_corrcoef_complex():
    z = crand(3, 6)
    check(lambda x: _mod(x).corrcoef(x), z, real_loss=lambda out: (out * out.conj()).real.sum())
    check(lambda x: _mod(x).corrcoef(x), crand(6), grads=False)


# ---- log-sum-exps, lerp, ldexp, float_power ---------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_logsumexp_logcumsumexp_complex(shape):
    z = crand(*shape) * 3
    check(lambda x: x.logsumexp(-1), z)
    check(lambda x: _mod(x).logsumexp(x, (0, -1) if len(shape) > 1 else 0, keepdim=True), z)
    check(lambda x: x.logcumsumexp(-1), z)
    check(lambda x: _mod(x).logcumsumexp(x, 0), z)
    check(lambda x: x.logsumexp(-1), z.astype(np.complex64), rtol=2e-5, atol=1e-5, grads=False)


def test_logaddexp_complex():
    check(lambda a, b: a.logaddexp(b), crand(3, 4) * 3, crand(3, 4) * 3)
    check(lambda a, b: _mod(a).logaddexp(a, b), crand(3, 4), crand(4))


def test_log_add_exp_complex_special_values():
    inf, nan = math.inf, math.nan
    vals = [complex(r, i) for r in (-inf, -1.5, 0.0, 2.0, inf, nan) for i in (0.0, 1.3, -2.0)]
    a = np.array([u for u in vals for _ in vals])
    b = np.array([v for _ in vals for v in vals])
    ours = engine.logaddexp(Tensor(a), Tensor(b)).numpy()
    np.testing.assert_allclose(ours, torch.logaddexp(torch.tensor(a), torch.tensor(b)).numpy(), rtol=1e-12)
    for x in (a.reshape(-1, 6), b.reshape(-1, 9)):
        ours = engine.logcumsumexp(Tensor(x), 1).numpy()
        np.testing.assert_allclose(ours, torch.logcumsumexp(torch.tensor(x), 1).numpy(), rtol=1e-12)


def test_logaddexp2_refuses_complex():
    with pytest.raises(NotImplementedError, match="logaddexp2_cpu"):
        torch.logaddexp2(torch.tensor(crand(2)), torch.tensor(crand(2)))
    with pytest.raises(NotImplementedError, match="logaddexp2_cpu"):
        engine.logaddexp2(Tensor(crand(2)), Tensor(crand(2)))


@pytest.mark.parametrize("shape", SHAPES)
def test_lerp_complex(shape):
    check(lambda a, b: a.lerp(b, 0.3), crand(*shape), crand(*shape))
    check(lambda a, b: _mod(a).lerp(a, b, 0.7 - 0.2j), crand(*shape), crand(*shape))
    check(lambda a, b, w: _mod(a).lerp(a, b, w), crand(*shape), crand(*shape), crand(*shape) * 0.6)
    check(lambda a, b, w: a.lerp(b, w), crand(*shape), crand(shape[-1]), crand(*shape) * 0.6)


@pytest.mark.parametrize("args", [(crand(3), rrand(3), 0.3), (rrand(3), crand(3), 0.3), (crand(3), crand(3), rrand(3)),
                                  (crand(3), crand(3, dtype=np.complex64), 0.3)])
def test_lerp_dtype_errors(args):
    def call(m):
        return m.lerp(*[m.tensor(a) if isinstance(a, np.ndarray) else a for a in args])

    with pytest.raises(RuntimeError) as theirs:
        call(torch)
    with pytest.raises(RuntimeError) as ours:
        call(engine)
    assert str(ours.value) == str(theirs.value)


def test_ldexp_and_float_power_complex():
    check(lambda a, b: _mod(a).ldexp(a, b), crand(2, 3), crand(2, 3))
    check(lambda a, b: _mod(a).ldexp(a, b), crand(3), rrand(3), grads=False)  # torch's backward fails here
    check(lambda a, b: a.float_power(b), crand(3) + 2, crand(3))
    z, e = crand(4), crand(4)
    ours, theirs = Tensor(z), torch.tensor(z)
    ours.ldexp_(Tensor(e))
    theirs.ldexp_(torch.tensor(e))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    ours, theirs = Tensor(z), torch.tensor(z)
    ours.float_power_(Tensor(e))
    theirs.float_power_(torch.tensor(e))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    for base, exp in ((rrand(2), 1j), (crand(2, dtype=np.complex64), 2)):
        with pytest.raises(RuntimeError, match="float_power_"):
            torch.tensor(base).float_power_(exp)
        with pytest.raises(RuntimeError, match="float_power_"):
            Tensor(base).float_power_(exp)


# ---- activations and losses ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["softsign", "tanhshrink"])
def test_softsign_tanhshrink_complex(shape, name):
    check(lambda x: getattr(F if isinstance(x, Tensor) else TF, name)(x), crand(*shape))


def test_silu_complex_forward_and_autograd_error():
    z = crand(2, 3)
    check(lambda x: (F if isinstance(x, Tensor) else TF).silu(x), z, grads=False)
    check(lambda x: (F if isinstance(x, Tensor) else TF).silu(x), z.astype(np.complex64), rtol=1e-5, grads=False)
    with pytest.raises(RuntimeError) as theirs:
        TF.silu(torch.tensor(z, requires_grad=True))
    with pytest.raises(RuntimeError) as ours:
        F.silu(Tensor(z, requires_grad=True))
    assert str(ours.value) == str(theirs.value)
    with engine.no_grad():
        assert F.silu(Tensor(z, requires_grad=True)).dtype == np.complex128


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_l1_loss_complex(reduction):
    def fn(a, b):
        return (F if isinstance(a, Tensor) else TF).l1_loss(a, b, reduction=reduction)

    check(fn, crand(3, 4), crand(3, 4))
    check(fn, rrand(3, 4), crand(3, 4))
    check(fn, crand(3, 4, dtype=np.complex64), rrand(3, 4), rtol=1e-6)


# ---- elementwise odds and ends -------------------------------------------------------------------------


def test_abs_inplace_refuses_complex():
    for name in ("abs_", "absolute_"):
        with pytest.raises(RuntimeError) as theirs:
            getattr(torch.tensor(crand(3)), name)()
        with pytest.raises(RuntimeError) as ours:
            getattr(Tensor(crand(3)), name)()
        assert str(ours.value) == str(theirs.value)
    x = rrand(3)
    np.testing.assert_array_equal(Tensor(x).abs_().numpy(), np.abs(x))


def test_acosh_complex_gradient_branch():
    z = crand(4, 5) * 2
    z[0, :3] = [-2 + 1e-3j, -0.5 - 2j, 0.3 - 1j]  # where sqrt(z²-1) and sqrt(z+1)·sqrt(z-1) differ in sign
    check(lambda x: x.acosh(), z)


def test_conj_physical_inplace():
    z = crand(3, 2)
    t = Tensor(z.copy())
    assert t.conj_physical_() is t
    np.testing.assert_array_equal(t.numpy(), np.conj(z))
    r = Tensor(rrand(3))
    np.testing.assert_array_equal(r.conj_physical_().numpy(), r.numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("value", [2 + 0j, 1j, "t2", "t1j"])
def test_masked_fill_complex_value_into_real(dtype, value):
    def call(m):
        v = m.tensor(complex(value[1:])) if isinstance(value, str) else value
        return m.zeros(3, dtype=getattr(m, dtype)).masked_fill(m.tensor([True, False, True]), v)

    try:
        expected = call(torch)
    except RuntimeError as e:
        with pytest.raises(RuntimeError) as ours:
            call(engine)
        assert str(ours.value) == str(e)
        return
    out = call(engine)
    assert str(out.dtype) == str(expected.dtype).replace("torch.", "")
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


@pytest.mark.parametrize("nd", [1, 2])
def test_conv_real_input_complex_bias_raises(nd):
    x, w, b = rrand(1, 1, *(4,) * nd), rrand(1, 1, *(2,) * nd), crand(1)
    with pytest.raises(RuntimeError):
        getattr(TF, f"conv{nd}d")(*(torch.tensor(a) for a in (x, w, b)))
    with pytest.raises(RuntimeError, match="bias"):
        getattr(F, f"conv{nd}d")(*(Tensor(a) for a in (x, w, b)))
    check(lambda x, w, b: getattr(F if isinstance(x, Tensor) else TF, f"conv{nd}d")(x, w, b),
          crand(1, 1, *(4,) * nd), crand(1, 1, *(2,) * nd), crand(1))


def test_vecdot_complex():
    check(lambda a, b: _mod(a).linalg.vecdot(a, b), crand(3, 4), crand(3, 4))
    check(lambda a, b: _mod(a).linalg.vecdot(a, b, dim=0), crand(3, 4), crand(3, 1))
    check(lambda a: _mod(a).linalg.vecdot(a, a), crand(5))
    for x, y in ((crand(3), rrand(3)), (rrand(3, dtype=np.float32), rrand(3))):
        with pytest.raises(RuntimeError) as theirs:
            torch.linalg.vecdot(torch.tensor(x), torch.tensor(y))
        with pytest.raises(RuntimeError) as ours:
            engine.linalg.vecdot(Tensor(x), Tensor(y))
        assert str(ours.value) == str(theirs.value)


# ---- random fills ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_uniform_normal_fill_complex(dtype):
    n = 20000
    u = engine.zeros(n, dtype=getattr(engine, dtype)).uniform_(2, 3)
    assert str(u.dtype) == str(torch.zeros(1, dtype=getattr(torch, dtype)).uniform_(2, 3).dtype).split(".")[-1]
    for part in (u.real.numpy(), u.imag.numpy()):
        assert part.min() >= 2 and part.max() < 3 and abs(part.mean() - 2.5) < 0.01
    g = engine.zeros(n, dtype=getattr(engine, dtype)).normal_(1.0, 2.0)
    assert str(g.dtype) == dtype
    for part in (g.real.numpy(), g.imag.numpy()):  # torch: each part N(mean, std²/2)
        assert abs(part.mean() - 1.0) < 0.05 and abs(part.std() - math.sqrt(2.0)) < 0.05
    with pytest.raises(RuntimeError):
        engine.zeros(2, dtype=getattr(engine, dtype)).uniform_(3, 2)
