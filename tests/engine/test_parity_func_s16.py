"""engine.func against torch.func: grad, grad_and_value, vjp, jvp, jacrev, jacfwd, hessian, vmap,
functional_call, stack_module_state (and engine.vmap, nn.utils.stateless.functional_call): values,
dtypes, shapes, pytree structure, gradients through the transforms (float64) and error types."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import engine
import engine.func as ef
import nn
from engine import Tensor

torch = pytest.importorskip("torch")
tf = torch.func

RTOL, ATOL = 1e-10, 1e-12
rs = np.random.default_rng(16)


def arr(*shape) -> np.ndarray:
    return rs.standard_normal(shape)


def pair(a: np.ndarray, requires_grad: bool = False):
    """(ours, torch's) of one array (float64 stays float64)."""
    return (Tensor(a.copy(), requires_grad=requires_grad),
            torch.tensor(a.copy(), requires_grad=requires_grad))


def same(ours, theirs) -> None:
    """Equal pytrees: the same containers and keys, Tensors of equal shape, dtype and values."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, Tensor), type(ours)
        assert tuple(ours.shape) == tuple(theirs.shape), (ours.shape, theirs.shape)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), (ours.dtype, theirs.dtype)
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=RTOL, atol=ATOL)
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs), (ours, theirs)
        for k in theirs:
            same(ours[k], theirs[k])
    elif isinstance(theirs, (tuple, list)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), (type(ours), type(theirs))
        for o, t in zip(ours, theirs):
            same(o, t)
    else:
        assert ours == theirs


def raises_as_torch(ours, theirs, match: str | None = None) -> None:
    """torch's exception type is the expected one; ours must be an instance of it (and match ``match``)."""
    with pytest.raises(Exception) as want:
        theirs()
    with pytest.raises(want.type, match=match):
        ours()


# ---- small functions written twice (ours with engine ops, torch's with torch ops) ------------------------


def mlp(lib):
    """A two-layer MLP loss on a params dict: tanh(x@w1+b1)@w2 -> mean squared error against y."""
    def loss(params, x, y):
        h = lib.tanh(x @ params["w1"] + params["b1"])
        out = h @ params["w2"]
        return ((out - y) ** 2).mean()
    return loss


def mlp_params():
    arrays = {"w1": arr(3, 4), "b1": arr(4), "w2": arr(4, 2)}
    return ({k: Tensor(v.copy()) for k, v in arrays.items()}, {k: torch.tensor(v.copy()) for k, v in arrays.items()})


# ---- grad and grad_and_value ----------------------------------------------------------------------------


def test_grad_of_sin_sum_and_matmul_with_argnums():
    x, tx = pair(arr(3))
    same(ef.grad(lambda a: a.sin().sum())(x), tf.grad(lambda a: a.sin().sum())(tx))
    w, tw = pair(arr(3, 2))
    for argnums in (0, 1, (0, 1), (1, 0), -1, (-2,)):
        same(ef.grad(lambda a, b: (a @ b).square().sum(), argnums=argnums)(x, w),
             tf.grad(lambda a, b: (a @ b).square().sum(), argnums=argnums)(tx, tw))


def test_grad_of_a_params_dict_pytree_and_float32():
    ours, theirs = mlp_params()
    x, tx = pair(arr(5, 3))
    y, ty = pair(arr(5, 2))
    same(ef.grad(mlp(engine))(ours, x, y), tf.grad(mlp(torch))(theirs, tx, ty))
    same(ef.grad(mlp(engine), argnums=(0, 1))(ours, x, y), tf.grad(mlp(torch), argnums=(0, 1))(theirs, tx, ty))
    # a tuple and a list of Tensors as one argument keep their container
    same(ef.grad(lambda t: (t[0] * t[1]).sum())([x, x * 2]), tf.grad(lambda t: (t[0] * t[1]).sum())([tx, tx * 2]))
    x32, tx32 = Tensor(arr(3).astype(np.float32)), torch.tensor(arr(3).astype(np.float32))
    g, tg = ef.grad(lambda a: (a * a).sum())(x32), tf.grad(lambda a: (a * a).sum())(tx32)
    assert str(g.dtype) == "float32" and tg.dtype == torch.float32


def test_grad_and_value_has_aux_and_unused_inputs():
    x, tx = pair(arr(4))
    same(ef.grad_and_value(lambda a: a.exp().sum())(x), tf.grad_and_value(lambda a: a.exp().sum())(tx))
    ours = ef.grad_and_value(lambda a: ((a * a).sum(), {"n": a.sum()}), has_aux=True)(x)
    theirs = tf.grad_and_value(lambda a: ((a * a).sum(), {"n": a.sum()}), has_aux=True)(tx)
    same(ours, theirs)
    same(ef.grad(lambda a: ((a ** 3).sum(), a * 2), has_aux=True)(x),
         tf.grad(lambda a: ((a ** 3).sum(), a * 2), has_aux=True)(tx))
    # an input the output does not use gets zeros; a constant output too
    same(ef.grad(lambda a, b: b.sum())(x, x), tf.grad(lambda a, b: b.sum())(tx, tx))
    same(ef.grad(lambda a: engine.ones((), dtype=engine.float64))(x),
         tf.grad(lambda a: torch.ones((), dtype=torch.float64))(tx))
    value = ef.grad_and_value(lambda a: a.sum())(x)[1]
    assert not value.requires_grad and not tf.grad_and_value(lambda a: a.sum())(tx)[1].requires_grad


def test_nested_grad_is_the_higher_derivative():
    x, tx = pair(np.array(0.7))
    same(ef.grad(ef.grad(engine.sin))(x), tf.grad(tf.grad(torch.sin))(tx))
    same(ef.grad(ef.grad(ef.grad(lambda a: a ** 4)))(x), tf.grad(tf.grad(tf.grad(lambda a: a ** 4)))(tx))
    v, tv = pair(arr(3))
    # a closure over the outer argument: the inner gradient is taken at its own input only
    same(ef.grad(lambda a: ef.grad(lambda b: (a * b * b).sum())(a).sum())(v),
         tf.grad(lambda a: tf.grad(lambda b: (a * b * b).sum())(a).sum())(tv))


def test_grad_composes_with_outer_autograd_and_ignores_outer_no_grad():
    a = arr(3)
    x, tx = pair(a, requires_grad=True)
    g, tg = ef.grad(lambda v: (v ** 3).sum())(x), tf.grad(lambda v: (v ** 3).sum())(tx)
    same(g, tg)
    assert g.requires_grad and tg.requires_grad
    g.sum().backward()
    tg.sum().backward()
    same(x.grad, tx.grad)  # d/dx sum(3x²) = 6x
    # a closure parameter that requires grad: the gradient is differentiable in it
    w, tw = pair(arr(3), requires_grad=True)
    y, ty = pair(a)
    gw = ef.grad(lambda v: (v * v * w).sum())(y)
    tgw = tf.grad(lambda v: (v * v * tw).sum())(ty)
    gw.sum().backward()
    tgw.sum().backward()
    same(w.grad, tw.grad)
    with engine.no_grad():
        g = ef.grad(lambda v: (v ** 3).sum())(x)
    with torch.no_grad():
        tg = tf.grad(lambda v: (v ** 3).sum())(tx)
    same(g, tg)
    assert not g.requires_grad and not tg.requires_grad


def test_grad_errors_as_torch():
    x, tx = pair(arr(3))
    raises_as_torch(lambda: ef.grad(lambda a: a * 2)(x), lambda: tf.grad(lambda a: a * 2)(tx),
                    "Expected f\\(\\*args\\) to return a scalar Tensor, got tensor with 1 dims")
    raises_as_torch(lambda: ef.grad(lambda a: (a.sum(), 1))(x), lambda: tf.grad(lambda a: (a.sum(), 1))(tx),
                    "to return a Tensor")
    raises_as_torch(lambda: ef.grad(lambda a: a.sum(), has_aux=True)(x),
                    lambda: tf.grad(lambda a: a.sum(), has_aux=True)(tx), "should be a tuple")
    raises_as_torch(lambda: ef.grad(lambda a: a.sum())(1.0), lambda: tf.grad(lambda a: a.sum())(1.0),
                    "must be Tensor")
    raises_as_torch(lambda: ef.grad(lambda a: a.sum())(engine.tensor([1, 2])),
                    lambda: tf.grad(lambda a: a.sum())(torch.tensor([1, 2])), "floating point")
    for argnums, match in ((1, "Got argnum=1, but only 1 positional inputs"), ((0, 0), "unique"),
                           ((), "non-empty"), ([0], "argnums must be int or Tuple"), (0.0, "argnums must be int")):
        raises_as_torch(lambda argnums=argnums: ef.grad(lambda a: a.sum(), argnums=argnums)(x),
                        lambda argnums=argnums: tf.grad(lambda a: a.sum(), argnums=argnums)(tx), match)


# ---- vjp and jvp ----------------------------------------------------------------------------------------


def test_vjp_values_pytrees_and_reuse():
    x, tx = pair(arr(3))
    w, tw = pair(arr(3, 2))
    out, fn = ef.vjp(lambda a, b: (a @ b).tanh(), x, w)
    tout, tfn = tf.vjp(lambda a, b: (a @ b).tanh(), tx, tw)
    same(out, tout)
    c, tc = pair(arr(2))
    same(fn(c), tfn(tc))
    same(fn(c * 2), tfn(tc * 2))  # vjp_fn may be called again
    # tuple outputs, a dict primal, has_aux
    def f(d):  # the same code runs on both libraries' Tensors
        return (d["a"] * d["b"]).sum(), {"s": d["a"].sin()}

    d, td = {"a": x, "b": x * 3}, {"a": tx, "b": tx * 3}
    out, fn = ef.vjp(f, d)
    tout, tfn = tf.vjp(f, td)
    same(out, tout)
    s, ts = pair(arr(3))
    same(fn((engine.tensor(2.0, dtype=engine.float64), {"s": s})), tfn((torch.tensor(2.0, dtype=torch.float64),
                                                                        {"s": ts})))
    out, fn, aux = ef.vjp(lambda a: (a.exp(), a.sum()), x, has_aux=True)
    tout, tfn, taux = tf.vjp(lambda a: (a.exp(), a.sum()), tx, has_aux=True)
    same((out, aux), (tout, taux))
    same(fn(s), tfn(ts))
    # an output independent of the primal: zeros
    same(ef.vjp(lambda a: w.sum() * 2, x)[1](engine.tensor(1.0, dtype=engine.float64)),
         tf.vjp(lambda a: tw.sum() * 2, tx)[1](torch.tensor(1.0, dtype=torch.float64)))


def test_vjp_errors_as_torch():
    x, tx = pair(arr(3))
    raises_as_torch(lambda: ef.vjp(lambda a: a.long(), x), lambda: tf.vjp(lambda a: a.long(), tx),
                    "must be floating-point or complex")
    raises_as_torch(lambda: ef.vjp(lambda a: 3, x), lambda: tf.vjp(lambda a: 3, tx), "return only tensors")
    raises_as_torch(lambda: ef.vjp(lambda a: a, 3.0), lambda: tf.vjp(lambda a: a, 3.0), "must be Tensor")
    raises_as_torch(lambda: ef.vjp(lambda a: a, x, has_aux=True), lambda: tf.vjp(lambda a: a, tx, has_aux=True),
                    "should be a tuple")
    raises_as_torch(lambda: ef.vjp(lambda a: a, x)[1]((engine.ones(3),)),
                    lambda: tf.vjp(lambda a: a, tx)[1]((torch.ones(3),)), "pytree structure of cotangents")
    raises_as_torch(lambda: ef.vjp(lambda a: a, x)[1](engine.ones(2, dtype=engine.float64)),
                    lambda: tf.vjp(lambda a: a, tx)[1](torch.ones(2, dtype=torch.float64)), "shape")


def test_jvp_values_and_structures():
    x, tx = pair(arr(3))
    t, tt = pair(arr(3))
    same(ef.jvp(lambda a: a.sin() * a, (x,), (t,)), tf.jvp(lambda a: a.sin() * a, (tx,), (tt,)))
    w, tw = pair(arr(3, 2))
    v, tv = pair(arr(3, 2))
    same(ef.jvp(lambda a, b: ((a @ b).exp(), a.sum()), (x, w), (t, v)),
         tf.jvp(lambda a, b: ((a @ b).exp(), a.sum()), (tx, tw), (tt, tv)))
    same(ef.jvp(lambda d: d["a"] * d["b"], ({"a": x, "b": x},), ({"a": t, "b": t * 2},)),
         tf.jvp(lambda d: d["a"] * d["b"], ({"a": tx, "b": tx},), ({"a": tt, "b": tt * 2},)))
    same(ef.jvp(lambda a: (a * 2, a.sum()), (x,), (t,), has_aux=True),
         tf.jvp(lambda a: (a * 2, a.sum()), (tx,), (tt,), has_aux=True))
    same(ef.jvp(lambda a: w * 3, (x,), (t,)), tf.jvp(lambda a: tw * 3, (tx,), (tt,)))  # independent: zeros


def test_jvp_errors_as_torch():
    x, tx = pair(arr(3))
    raises_as_torch(lambda: ef.jvp(lambda a: a, x, x), lambda: tf.jvp(lambda a: a, tx, tx),
                    "Expected primals to be a tuple")
    raises_as_torch(lambda: ef.jvp(lambda a: a, (x,), x), lambda: tf.jvp(lambda a: a, (tx,), tx),
                    "same python structure")
    raises_as_torch(lambda: ef.jvp(lambda a: a, (x,), (engine.ones(2),)),
                    lambda: tf.jvp(lambda a: a, (tx,), (torch.ones(2),)), "different size")
    raises_as_torch(lambda: ef.jvp(lambda a: x * 3, (x,), (x,), strict=True),
                    lambda: tf.jvp(lambda a: tx * 3, (tx,), (tx,), strict=True), "independent of the inputs")
    raises_as_torch(lambda: ef.jvp(lambda a: a, (1.0,), (1.0,)), lambda: tf.jvp(lambda a: a, (1.0,), (1.0,)),
                    "only contain Tensors")
    raises_as_torch(lambda: ef.jvp(lambda a: a, (), ()), lambda: tf.jvp(lambda a: a, (), ()), "at least one Tensor")
    raises_as_torch(lambda: ef.jvp(lambda a: a * 2, (engine.tensor([1, 2]),), (engine.tensor([1, 2]),)),
                    lambda: tf.jvp(lambda a: a * 2, (torch.tensor([1, 2]),), (torch.tensor([1, 2]),)),
                    "floating point")


# ---- jacrev, jacfwd, hessian ----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["jacrev", "jacfwd"])
def test_jacobians_shapes_values_and_structure(which):
    ours, theirs = getattr(ef, which), getattr(tf, which)
    x, tx = pair(arr(3))
    w, tw = pair(arr(3, 2))
    same(ours(lambda a: a.sin())(x), theirs(lambda a: a.sin())(tx))
    for argnums in (0, 1, (0, 1), (1,)):
        j, tj = ours(lambda a, b: a @ b, argnums)(x, w), theirs(lambda a, b: a @ b, argnums)(tx, tw)
        same(j, tj)
    # tuple outputs (a 0-d one), dict input, has_aux
    f = lambda lib: lambda a, b: ((a @ b).tanh(), (a * a).sum())  # noqa: E731
    same(ours(f(engine), (0, 1))(x, w), theirs(f(torch), (0, 1))(tx, tw))
    g = lambda d: {"y": d["p"] * d["q"].sum()}  # noqa: E731
    same(ours(g)({"p": x, "q": w}), theirs(g)({"p": tx, "q": tw}))
    same(ours(lambda a: (a.exp(), a.sum()), has_aux=True)(x), theirs(lambda a: (a.exp(), a.sum()), has_aux=True)(tx))
    m, tm = pair(arr(2, 3))
    assert tuple(ours(lambda a: a.T @ a)(m).shape) == (3, 3, 2, 3) == tuple(theirs(lambda a: a.T @ a)(tm).shape)


def test_jacobian_errors_as_torch():
    x, tx = pair(arr(3))
    raises_as_torch(lambda: ef.jacrev(lambda a: a, chunk_size=0), lambda: tf.jacrev(lambda a: a, chunk_size=0),
                    "chunk_size")
    raises_as_torch(lambda: ef.jacrev(lambda a: a.long())(x), lambda: tf.jacrev(lambda a: a.long())(tx),
                    "floating-point")
    raises_as_torch(lambda: ef.jacrev(lambda a: a)(engine.tensor([1, 2])),
                    lambda: tf.jacrev(lambda a: a)(torch.tensor([1, 2])), "floating point")
    raises_as_torch(lambda: ef.jacfwd(lambda a: a)(engine.tensor([1, 2])),
                    lambda: tf.jacfwd(lambda a: a)(torch.tensor([1, 2])), "floating point")
    raises_as_torch(lambda: ef.jacrev(lambda a: a, argnums=2)(x), lambda: tf.jacrev(lambda a: a, argnums=2)(tx),
                    "Got argnum=2")
    raises_as_torch(lambda: ef.jacfwd(lambda a: a, randomness="x")(x),
                    lambda: tf.jacfwd(lambda a: a, randomness="x")(tx), "randomness")


def test_hessian_of_an_mlp_loss_and_argnums_tuple():
    x, tx = pair(arr(3))
    same(ef.hessian(lambda a: (a ** 3).sum() + a.sin().prod())(x),
         tf.hessian(lambda a: (a ** 3).sum() + a.sin().prod())(tx))
    w, tw = pair(arr(3, 2))
    f = lambda lib: lambda a, b: lib.tanh(a @ b).square().sum()  # noqa: E731
    same(ef.hessian(f(engine), argnums=(0, 1))(x, w), tf.hessian(f(torch), argnums=(0, 1))(tx, tw))
    ours, theirs = mlp_params()
    xs, txs = pair(arr(2, 3))
    ys, tys = pair(arr(2, 2))
    same(ef.hessian(mlp(engine))(ours, xs, ys), tf.hessian(mlp(torch))(theirs, txs, tys))
    # hessian of a vector output: out.shape + in.shape + in.shape
    same(ef.hessian(lambda a: a.sin())(x), tf.hessian(lambda a: a.sin())(tx))


# ---- vmap -------------------------------------------------------------------------------------------------


def test_vmap_in_dims_out_dims_and_nesting():
    x, tx = pair(arr(4, 3))
    y, ty = pair(arr(3, 4))
    same(ef.vmap(lambda a: a.sin().sum())(x), tf.vmap(lambda a: a.sin().sum())(tx))
    same(ef.vmap(lambda a, b: a * b, in_dims=(0, 1))(x, y), tf.vmap(lambda a, b: a * b, in_dims=(0, 1))(tx, ty))
    same(ef.vmap(lambda a, b: a * b, in_dims=(-2, -1))(x, y), tf.vmap(lambda a, b: a * b, in_dims=(-2, -1))(tx, ty))
    v, tv = pair(arr(3))
    same(ef.vmap(lambda a, b: a @ b, in_dims=(0, None))(x, v), tf.vmap(lambda a, b: a @ b, in_dims=(0, None))(tx, tv))
    for out_dims in (1, -1, 0):
        same(ef.vmap(lambda a: a.exp(), out_dims=out_dims)(x), tf.vmap(lambda a: a.exp(), out_dims=out_dims)(tx))
    same(ef.vmap(lambda a: (a * 2, a.sum()), out_dims=(1, 0))(x),
         tf.vmap(lambda a: (a * 2, a.sum()), out_dims=(1, 0))(tx))
    same(ef.vmap(lambda a: (a * 2, v), out_dims=(0, None))(x), tf.vmap(lambda a: (a * 2, tv), out_dims=(0, None))(tx))
    same(ef.vmap(lambda a: {"m": a.max(), "s": [a.sum()]})(x), tf.vmap(lambda a: {"m": a.max(), "s": [a.sum()]})(tx))
    # dict arguments with a dict in_dims, keyword arguments (unmapped), nesting (an outer product)
    same(ef.vmap(lambda d: d["a"] + d["b"], in_dims=({"a": 0, "b": 1},))({"a": x, "b": y}),
         tf.vmap(lambda d: d["a"] + d["b"], in_dims=({"a": 0, "b": 1},))({"a": tx, "b": ty}))
    same(ef.vmap(lambda a, scale=1.0: a * scale)(x, scale=3.0), tf.vmap(lambda a, scale=1.0: a * scale)(tx, scale=3.0))
    same(ef.vmap(ef.vmap(lambda a, b: a * b, in_dims=(None, 0)), in_dims=(0, None))(v, v),
         tf.vmap(tf.vmap(lambda a, b: a * b, in_dims=(None, 0)), in_dims=(0, None))(tv, tv))
    same(engine.vmap(lambda a: a.sum(), in_dims=1)(x), torch.vmap(lambda a: a.sum(), in_dims=1)(tx))
    # a batch of size 0
    e, te = pair(np.zeros((0, 2)))
    same(ef.vmap(lambda a: a.sum())(e), tf.vmap(lambda a: a.sum())(te))
    same(ef.vmap(lambda a: a * 2, out_dims=1)(e), tf.vmap(lambda a: a * 2, out_dims=1)(te))


def test_gradients_flow_through_vmap():
    a = arr(4, 3)
    x, tx = pair(a, requires_grad=True)
    w, tw = pair(arr(3), requires_grad=True)
    ef.vmap(lambda r: (r * w).sin().sum())(x).sum().backward()
    tf.vmap(lambda r: (r * tw).sin().sum())(tx).sum().backward()
    same((x.grad, w.grad), (tx.grad, tw.grad))
    assert engine.gradcheck(lambda t: ef.vmap(lambda r: (r * r).tanh(), in_dims=1)(t),
                            Tensor(a.copy(), requires_grad=True))


def test_vmap_of_grad_gives_torchs_per_sample_gradients():
    ours, theirs = mlp_params()
    x, tx = pair(arr(6, 3))
    y, ty = pair(arr(6, 2))
    same(ef.vmap(ef.grad(mlp(engine)), in_dims=(None, 0, 0))(ours, x, y),
         tf.vmap(tf.grad(mlp(torch)), in_dims=(None, 0, 0))(theirs, tx, ty))
    # with functional_call on a model of ours (the weights copied from torch's)
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    model.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})

    def loss(lib, m):
        def f(params, xi, yi):
            out = (ef if lib is engine else tf).functional_call(m, params, (xi.unsqueeze(0),))
            return ((out - yi) ** 2).sum()
        return f

    params = {k: v.detach() for k, v in model.named_parameters()}
    tparams = {k: v.detach() for k, v in tmodel.named_parameters()}
    same(ef.vmap(ef.grad(loss(engine, model)), in_dims=(None, 0, 0))(params, x, y),
         tf.vmap(tf.grad(loss(torch, tmodel)), in_dims=(None, 0, 0))(tparams, tx, ty))


def test_vmap_errors_as_torch():
    x, tx = pair(arr(3, 2))
    cases = [
        (lambda v: ef.vmap(lambda a, b: a + b)(v, engine.zeros(4, 2, dtype=engine.float64)),
         lambda v: tf.vmap(lambda a, b: a + b)(v, torch.zeros(4, 2, dtype=torch.float64)),
         r"same size in the mapped dimension, got sizes \[3, 4\]"),
        (lambda v: ef.vmap(lambda a: a, in_dims=None)(v), lambda v: tf.vmap(lambda a: a, in_dims=None)(v),
         "expected `in_dims` to be int or a"),
        (lambda v: ef.vmap(lambda a: a, in_dims=[0])(v), lambda v: tf.vmap(lambda a: a, in_dims=[0])(v),
         "expected `in_dims` to be int"),
        (lambda v: ef.vmap(lambda a: a, in_dims=(0, 0))(v), lambda v: tf.vmap(lambda a: a, in_dims=(0, 0))(v),
         "in_dims is not compatible with the structure of `inputs`"),
        (lambda v: ef.vmap(lambda a: a, in_dims=(2,))(v), lambda v: tf.vmap(lambda a: a, in_dims=(2,))(v),
         "expected in_dim to satisfy -2 <= in_dim < 2"),
        (lambda v: ef.vmap(lambda a: a, in_dims=(1.0,))(v), lambda v: tf.vmap(lambda a: a, in_dims=(1.0,))(v),
         "in_dim must be either an integer dimension or None"),
        (lambda v: ef.vmap(lambda a, b: a, in_dims=(0, 0))(v, 1.0),
         lambda v: tf.vmap(lambda a, b: a, in_dims=(0, 0))(v, 1.0), "We cannot vmap over non-Tensor arguments"),
        (lambda v: ef.vmap(lambda a: a, in_dims=(None,))(v), lambda v: tf.vmap(lambda a: a, in_dims=(None,))(v),
         "at least one Tensor to vmap over"),
        (lambda v: ef.vmap(lambda: v)(), lambda v: tf.vmap(lambda: v)(), "got no inputs"),
        (lambda v: ef.vmap(lambda a: 3)(v), lambda v: tf.vmap(lambda a: 3)(v), "must only return Tensors"),
        (lambda v: ef.vmap(lambda a: a * 2, out_dims=None)(v), lambda v: tf.vmap(lambda a: a * 2, out_dims=None)(v),
         "can not return a BatchedTensor when out_dim is None"),
        (lambda v: ef.vmap(lambda a: (a, a), out_dims=(0, 1, 2))(v),
         lambda v: tf.vmap(lambda a: (a, a), out_dims=(0, 1, 2))(v), "out_dims is not compatible"),
        (lambda v: ef.vmap(lambda a: a, out_dims="a")(v), lambda v: tf.vmap(lambda a: a, out_dims="a")(v),
         "`out_dims` must be an int, None or"),
        (lambda v: ef.vmap(lambda a: a, out_dims=2)(v), lambda v: tf.vmap(lambda a: a, out_dims=2)(v),
         "Dimension out of range"),
        (lambda v: ef.vmap(lambda a: a, randomness="x"), lambda v: tf.vmap(lambda a: a, randomness="x"),
         "Only allowed values for randomness"),
        (lambda v: ef.vmap(lambda a: a, chunk_size=0), lambda v: tf.vmap(lambda a: a, chunk_size=0),
         "chunk_size should be None or greater than 0"),
        (lambda v: ef.vmap(lambda a: engine.rand(2) + a[0])(v), lambda v: tf.vmap(lambda a: torch.rand(2) + a[0])(v),
         "randomness error mode"),
    ]
    for ours, theirs, match in cases:
        raises_as_torch(lambda ours=ours: ours(x), lambda theirs=theirs: theirs(tx), match)


def test_vmap_randomness_same_and_different():
    x = engine.zeros(4, 3)
    same_rows = ef.vmap(lambda a: a + engine.rand(3), randomness="same")(x).numpy()
    assert (same_rows == same_rows[0]).all()
    different = ef.vmap(lambda a: a + engine.rand(3), randomness="different")(x).numpy()
    assert not (different == different[0]).all()
    tsame = tf.vmap(lambda a: a + torch.rand(3), randomness="same")(torch.zeros(4, 3))
    assert (tsame == tsame[0]).all()
    engine.rand(1)  # the error mode is left behind
    assert ef.vmap(lambda a: a * 2, chunk_size=2)(x).shape == (4, 3)


# ---- functional_call --------------------------------------------------------------------------------------


def linear_pair(din=3, dout=2):
    tm = torch.nn.Linear(din, dout).double()
    m = nn.Linear(din, dout).double()
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return m, tm


def test_functional_call_on_linear_and_sequential_against_torch():
    m, tm = linear_pair()
    x, tx = pair(arr(5, 3))
    wa = arr(2, 3)
    w, tw = pair(wa, requires_grad=True)
    orig = m.weight
    out, tout = ef.functional_call(m, {"weight": w}, x), tf.functional_call(tm, {"weight": tw}, tx)
    same(out, tout)
    out.sum().backward()
    tout.sum().backward()
    same((w.grad, m.bias.grad), (tw.grad, tm.bias.grad))
    assert m.weight is orig and m.weight.grad is None and type(m.weight) is nn.Parameter
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    # Sequential: dotted names, args as a tuple or a single argument, kwargs None
    tseq = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)).double()
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    seq.load_state_dict({k: v.detach().numpy() for k, v in tseq.state_dict().items()})
    new = {"0.weight": arr(4, 3), "2.bias": arr(2)}
    same(ef.functional_call(seq, {k: Tensor(v) for k, v in new.items()}, (x,)),
         tf.functional_call(tseq, {k: torch.tensor(v) for k, v in new.items()}, (tx,)))
    # a tuple of dicts is merged
    ours = ({"0.weight": Tensor(new["0.weight"])}, {"2.bias": Tensor(new["2.bias"])})
    theirs = ({"0.weight": torch.tensor(new["0.weight"])}, {"2.bias": torch.tensor(new["2.bias"])})
    same(ef.functional_call(seq, ours, x), tf.functional_call(tseq, theirs, tx))
    same(seq(x), tseq(tx))  # the originals are back


def test_functional_call_buffers_restore_on_error_and_write_back():
    tbn = torch.nn.BatchNorm1d(3).double().eval()
    bn = nn.BatchNorm1d(3).double().eval()
    x, tx = pair(arr(4, 3))
    rm = arr(3)
    same(ef.functional_call(bn, {"running_mean": Tensor(rm)}, x),
         tf.functional_call(tbn, {"running_mean": torch.tensor(rm)}, tx))
    assert np.array_equal(bn.running_mean.numpy(), np.zeros(3)) and bn._buffers["running_mean"] is bn.running_mean

    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(np.ones(2))

        def forward(self, x):
            raise ValueError("boom")

    b = Boom()
    orig = b.w
    with pytest.raises(ValueError, match="boom"):
        ef.functional_call(b, {"w": engine.zeros(2)}, engine.ones(2))
    assert b.w is orig

    class Counter(nn.Module):  # reassigns its buffer: the new tensor is written back to the dict, as torch
        def __init__(self, lib):
            super().__init__()
            self.register_buffer("n", lib.zeros(()))

        def forward(self, x):
            self.n = self.n + 1
            return x + self.n

    class TCounter(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("n", torch.zeros(()))

        def forward(self, x):
            self.n = self.n + 1
            return x + self.n

    c, tc = Counter(engine), TCounter()
    d, td = {"n": engine.zeros(())}, {"n": torch.zeros(())}
    ef.functional_call(c, d, engine.ones(()))
    tf.functional_call(tc, td, torch.ones(()))
    assert d["n"].item() == td["n"].item() == 1.0 and c.n.item() == tc.n.item() == 0.0


def tied_pair():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2, bias=False)
            self.b = nn.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    class TTied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(2, 2, bias=False)
            self.b = torch.nn.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    m, tm = Tied().double(), TTied().double()
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return m, tm


def test_functional_call_tie_weights_and_strict():
    m, tm = tied_pair()
    x, tx = pair(arr(3, 2))
    w = arr(2, 2)
    for tie in (True, False):
        same(ef.functional_call(m, {"a.weight": Tensor(w)}, x, tie_weights=tie),
             tf.functional_call(tm, {"a.weight": torch.tensor(w)}, tx, tie_weights=tie))
    raises_as_torch(lambda: ef.functional_call(m, {"a.weight": Tensor(w), "b.weight": Tensor(w)}, x),
                    lambda: tf.functional_call(tm, {"a.weight": torch.tensor(w), "b.weight": torch.tensor(w)}, tx),
                    "which are tied")
    same(ef.functional_call(m, {"a.weight": Tensor(w), "b.weight": Tensor(w * 2)}, x, tie_weights=False),
         tf.functional_call(tm, {"a.weight": torch.tensor(w), "b.weight": torch.tensor(w * 2)}, tx, tie_weights=False))
    lin, tlin = linear_pair()
    x3, tx3 = pair(arr(1, 3))
    for given in ({"weight": arr(2, 3)}, {"weight": arr(2, 3), "bias": arr(2), "extra": arr(1)}):
        raises_as_torch(lambda given=given: ef.functional_call(lin, {k: Tensor(v) for k, v in given.items()}, x3,
                                                               strict=True),
                        lambda given=given: tf.functional_call(tlin, {k: torch.tensor(v) for k, v in given.items()},
                                                               tx3, strict=True),
                        "Error\\(s\\) in reparametrizing for Linear")
    full = {"weight": arr(2, 3), "bias": arr(2)}
    same(ef.functional_call(lin, {k: Tensor(v) for k, v in full.items()}, x3, strict=True),
         tf.functional_call(tlin, {k: torch.tensor(v) for k, v in full.items()}, tx3, strict=True))
    raises_as_torch(lambda: ef.functional_call(lin, ({"weight": engine.ones(2, 3)}, {"weight": engine.ones(2, 3)}), x3),
                    lambda: tf.functional_call(tlin, ({"weight": torch.ones(2, 3)}, {"weight": torch.ones(2, 3)}), tx3),
                    "appeared in multiple dictionaries")
    raises_as_torch(lambda: ef.functional_call(lin, 3, x3), lambda: tf.functional_call(tlin, 3, tx3),
                    "Expected parameter_and_buffer_dicts to be a dict")
    raises_as_torch(lambda: ef.functional_call(lin, [{"weight": engine.ones(2, 3)}, 3], x3),
                    lambda: tf.functional_call(tlin, [{"weight": torch.ones(2, 3)}, 3], tx3),
                    "to be dictionaries")
    raises_as_torch(lambda: ef.functional_call(lin, {"nope.weight": engine.ones(1)}, x3),
                    lambda: tf.functional_call(tlin, {"nope.weight": torch.ones(1)}, tx3), "has no attribute")


def test_stateless_functional_call_is_the_deprecated_alias():
    lin, tlin = linear_pair()
    x, tx = pair(arr(2, 3))
    w = arr(2, 3)
    with pytest.warns(FutureWarning, match="deprecated"):
        ours = nn.utils.stateless.functional_call(lin, {"weight": Tensor(w)}, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.nn.utils.stateless.functional_call(tlin, {"weight": torch.tensor(w)}, tx)
    same(ours, theirs)


# ---- stack_module_state and ensembling -----------------------------------------------------------------


def test_stack_module_state_and_an_ensemble_through_vmap():
    pairs = [linear_pair() for _ in range(3)]
    ours, theirs = [p[0] for p in pairs], [p[1] for p in pairs]
    params, buffers = ef.stack_module_state(ours)
    tparams, tbuffers = tf.stack_module_state(theirs)
    same((params, buffers), (tparams, tbuffers))
    assert all(p.is_leaf and p.requires_grad for p in params.values())
    x, tx = pair(arr(5, 3))

    def run(lib, model):
        return lambda p, b, data: lib.functional_call(model, (p, b), (data,))

    out = ef.vmap(run(ef, ours[0]), in_dims=(0, 0, None))(params, buffers, x)
    tout = tf.vmap(run(tf, theirs[0]), in_dims=(0, 0, None))(tparams, tbuffers, tx)
    same(out, tout)
    out.square().sum().backward()
    tout.square().sum().backward()
    same({k: v.grad for k, v in params.items()}, {k: v.grad for k, v in tparams.items()})
    # buffers are stacked too and do not require grad
    bns = [nn.BatchNorm1d(2), nn.BatchNorm1d(2)]
    _, bufs = ef.stack_module_state(bns)
    _, tbufs = tf.stack_module_state([torch.nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2)])
    assert list(bufs) == list(tbufs) and not bufs["running_mean"].requires_grad
    same(bufs, tbufs)


def test_stack_module_state_errors_as_torch():
    raises_as_torch(lambda: ef.stack_module_state([]), lambda: tf.stack_module_state([]), "at least one model")
    raises_as_torch(lambda: ef.stack_module_state([nn.Linear(2, 2), nn.Tanh()]),
                    lambda: tf.stack_module_state([torch.nn.Linear(2, 2), torch.nn.Tanh()]), "same class")
    raises_as_torch(lambda: ef.stack_module_state([nn.Linear(2, 2), nn.Linear(2, 2).eval()]),
                    lambda: tf.stack_module_state([torch.nn.Linear(2, 2), torch.nn.Linear(2, 2).eval()]),
                    "same training/eval mode")
    frozen, tfrozen = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    frozen.weight.requires_grad_(False)
    tfrozen.weight.requires_grad_(False)
    raises_as_torch(lambda: ef.stack_module_state([nn.Linear(2, 2), frozen]),
                    lambda: tf.stack_module_state([torch.nn.Linear(2, 2), tfrozen]), "same .requires_grad")


# ---- gradcheck of the transforms' results -------------------------------------------------------------


def test_gradcheck_through_grad_and_jacrev():
    a = arr(3)
    assert engine.gradcheck(lambda t: ef.grad(lambda v: (v.sin() * v).sum())(t), Tensor(a.copy(), requires_grad=True))
    assert engine.gradcheck(lambda t: ef.jacrev(lambda v: v.tanh() * v.sum())(t), Tensor(a.copy(), requires_grad=True))
    assert engine.gradcheck(lambda t: ef.vmap(ef.grad(lambda v: (v ** 3).sum()))(t),
                            Tensor(arr(2, 3), requires_grad=True))
