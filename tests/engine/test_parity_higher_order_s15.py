"""Higher-order gradients against torch's double backward (session 15): ``create_graph=True`` in
``autograd.grad`` and ``backward``, the second derivatives of every op the create_graph sweep covers
(engine.higher_order), a WGAN-GP step on a small MLP, ``autograd.functional.hessian/hvp/vhp`` and
``jacobian(create_graph=True)``, ``gradgradcheck``, and the clear NotImplementedError of an op the
sweep does not cover. Every case runs in float64 on both libraries; values and gradients must agree."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.functional as F
from engine.autograd import functional as AF

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.parity

TARGETS = np.array([0, 2, 1])

# name: (engine function, torch function, input shapes, inputs positive); the functions take the
# library's tensors, so one lambda serves both where the method names agree
CASES = {
    "add_sub": (lambda a, b: (a + b) * (a - b) * a, None, [(3, 4), (4,)], False),
    "mul": (lambda a, b: a * b * a, None, [(3, 4), (4,)], False),
    "div": (lambda a, b: a / b, None, [(3, 4), (4,)], True),
    "neg": (lambda a: -(a * a), None, [(5,)], False),
    "pow_scalar": (lambda a: a ** 3 + a ** 0.5 + a ** -1.5, None, [(5,)], True),
    "pow_tensor": (lambda a, b: a ** b, None, [(4,), (4,)], True),
    "exp": (lambda a: a.exp() * a, None, [(5,)], False),
    "log": (lambda a: a.log() * a, None, [(5,)], True),
    "sqrt": (lambda a: a.sqrt(), None, [(5,)], True),
    "sin_cos": (lambda a: a.sin() * a.cos(), None, [(5,)], False),
    "tanh": (lambda a: a.tanh(), None, [(5,)], False),
    "sigmoid": (lambda a: a.sigmoid(), None, [(5,)], False),
    "relu": (lambda a: F.relu(a) ** 2, lambda a: TF.relu(a) ** 2, [(6,)], False),
    "gelu_tanh": (lambda a: F.gelu(a, approximate="tanh"), lambda a: TF.gelu(a, approximate="tanh"), [(6,)], False),
    "gelu_erf": (lambda a: F.gelu(a), lambda a: TF.gelu(a), [(6,)], False),
    "softplus": (lambda a: F.softplus(a), lambda a: TF.softplus(a), [(6,)], False),
    "sum_mean_dims": (lambda a: (a * a).sum(1) * (a * a * a).mean(0)[:3], None, [(3, 4)], False),
    "max_dim": (lambda a: (a * a).max(1)[0], None, [(3, 4)], False),
    "amax": (lambda a: (a * a * a).amax(1), None, [(3, 4)], False),
    "matmul": (lambda a, b: (a @ b) ** 2, None, [(3, 4), (4, 5)], False),
    "matmul_vec": (lambda a, b: (a @ b) ** 3, None, [(4,), (4, 2)], False),
    "linear": (lambda x, w, b: F.linear(x, w, b) ** 2, lambda x, w, b: TF.linear(x, w, b) ** 2,
               [(3, 4), (5, 4), (5,)], False),
    "reshape_transpose": (lambda a: (a.reshape(4, 3).transpose(0, 1) * a) ** 2, None, [(3, 4)], False),
    "permute": (lambda a: a.permute(2, 0, 1) ** 3, None, [(2, 3, 4)], False),
    "getitem": (lambda a: a[1:, [0, 2]] ** 2 + a[0].sum(), None, [(3, 4)], False),
    "expand": (lambda a: a[:, None].expand(3, 2, 4) ** 3, None, [(3, 4)], False),
    "cat": (lambda a, b: engine.cat([a, b * a], 0) ** 2, lambda a, b: torch.cat([a, b * a], 0) ** 2,
            [(2, 3), (2, 3)], False),
    "stack": (lambda a, b: engine.stack([a, b * a], 1) ** 2, lambda a, b: torch.stack([a, b * a], 1) ** 2,
              [(2, 3), (2, 3)], False),
    "softmax": (lambda a: F.softmax(a * a, -1), lambda a: TF.softmax(a * a, -1), [(3, 4)], False),
    "log_softmax": (lambda a: F.log_softmax(a * a, 0), lambda a: TF.log_softmax(a * a, 0), [(3, 4)], False),
    "cross_entropy": (lambda a: F.cross_entropy(a * a, engine.tensor(TARGETS)),
                      lambda a: TF.cross_entropy(a * a, torch.tensor(TARGETS)), [(3, 4)], False),
    "cross_entropy_sum": (lambda a: F.cross_entropy(a, engine.tensor(TARGETS), reduction="sum"),
                          lambda a: TF.cross_entropy(a, torch.tensor(TARGETS), reduction="sum"), [(3, 4)], False),
    "mse_loss": (lambda a, b: F.mse_loss(a * a, b), lambda a, b: TF.mse_loss(a * a, b), [(2, 3), (2, 3)], False),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (4,), w, b), lambda x, w, b: TF.layer_norm(x, (4,), w, b),
                   [(3, 4), (4,), (4,)], False),
    "layer_norm_plain": (lambda x: F.layer_norm(x * x, (4,)), lambda x: TF.layer_norm(x * x, (4,)), [(2, 3, 4)], False),
    "norm": (lambda a: a.norm(dim=1) + a.norm(), None, [(3, 4)], False),
}


def _inputs(lib, shapes, positive, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    if positive:
        arrays = [np.abs(a) + 0.5 for a in arrays]
    return [lib.tensor(a, dtype=lib.float64, requires_grad=True) for a in arrays]


def _first_and_second(lib, fn, xs, v, w):
    """(the first gradients along v, recorded; the gradients of Σ first·w): both libraries' way."""
    y = fn(*xs)
    first = lib.autograd.grad(y, xs, lib.tensor(v), create_graph=True)
    total = sum((g * lib.tensor(wi)).sum() for g, wi in zip(first, w))
    second = lib.autograd.grad(total, xs, allow_unused=True)
    return first, second


@pytest.mark.parametrize("name", sorted(CASES))
def test_second_derivatives_equal_torch(name):
    fn_e, fn_t, shapes, positive = CASES[name]
    fn_t = fn_t or fn_e
    xe, xt = _inputs(engine, shapes, positive), _inputs(torch, shapes, positive)
    out_shape = tuple(fn_t(*xt).shape)
    rng = np.random.default_rng(1)
    v = rng.standard_normal(out_shape)
    w = [rng.standard_normal(s) for s in shapes]
    first_e, second_e = _first_and_second(engine, fn_e, xe, v, w)
    first_t, second_t = _first_and_second(torch, fn_t, xt, v, w)
    for ge, gt in zip(first_e, first_t):
        assert gt.requires_grad or not ge.requires_grad  # in the graph where it depends on the inputs (torch's
        # fused layer_norm backward puts even its bias gradient, a constant here, in the graph)
        np.testing.assert_allclose(ge.detach().numpy(), gt.detach().numpy(), rtol=1e-10, atol=1e-12)
    for he, ht, x in zip(second_e, second_t, xt):  # None (unused) reads as zeros
        ht = np.zeros(x.shape) if ht is None else ht.numpy()
        he = np.zeros(x.shape) if he is None else he.numpy()
        np.testing.assert_allclose(he, ht, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("op", ["sin", "tanh"])
def test_grad_of_grad_through_backward(op):
    """x.grad of x.grad: backward(create_graph=True) leaves a graph .grad, differentiated again."""
    results = []
    for lib in (engine, torch):
        x = lib.tensor([0.3, -1.2, 2.0], dtype=lib.float64, requires_grad=True)
        getattr(x, op)().sum().backward(create_graph=True)
        g1 = x.grad
        assert g1.requires_grad
        x.grad = None
        g1.sum().backward()
        results.append((g1.detach().numpy().copy(), x.grad.numpy().copy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_create_graph_retains_the_graph_and_accumulates():
    """create_graph implies retain_graph (a second backward runs), and .grad accumulates out of place."""
    grads = []
    for lib in (engine, torch):
        x = lib.tensor([0.5, 1.5], dtype=lib.float64, requires_grad=True)
        y = (x.exp() * x).sum()
        y.backward(create_graph=True)
        y.backward(create_graph=True)  # the graph is still there
        g = x.grad
        assert g.requires_grad
        (h,) = lib.autograd.grad(g.sum(), x)
        grads.append((g.detach().numpy(), h.numpy()))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def _mlp(lib, params, x):
    w1, b1, w2, b2, w3, b3 = params
    functional = F if lib is engine else TF
    h = functional.leaky_relu(functional.linear(x, w1, b1), 0.2) if lib is engine else \
        TF.leaky_relu(TF.linear(x, w1, b1), 0.2)
    h = functional.gelu(functional.linear(h, w2, b2).tanh() + h.sum(-1, keepdim=True))
    return functional.linear(functional.layer_norm(h, (h.shape[-1],)), w3, b3)


def test_wgan_gp_step_equals_torch():
    """The WGAN-GP penalty on a small MLP critic: the parameters' gradients equal torch's."""
    rng = np.random.default_rng(7)
    shapes = [(8, 5), (8,), (8, 8), (8,), (1, 8), (1,)]
    params = [rng.standard_normal(s) * 0.5 for s in shapes]
    real, fake = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    alpha = rng.random((6, 1))
    results = []
    for lib in (engine, torch):
        ps = [lib.tensor(p, dtype=lib.float64, requires_grad=True) for p in params]
        x = lib.tensor(alpha * real + (1 - alpha) * fake, dtype=lib.float64, requires_grad=True)
        d = _mlp(lib, ps, x)
        grad = lib.autograd.grad(d.sum(), x, create_graph=True)[0]
        penalty = ((grad.norm(dim=1) - 1) ** 2).mean()
        loss = _mlp(lib, ps, lib.tensor(fake, dtype=lib.float64)).mean() - \
            _mlp(lib, ps, lib.tensor(real, dtype=lib.float64)).mean() + 10 * penalty
        loss.backward()
        results.append([float(penalty)] + [p.grad.numpy().copy() for p in ps])
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-10)
    for a, b in zip(results[0][1:], results[1][1:]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def _scalar_fn(lib):
    def f(x):
        return (x.sin() * x * x).sum() + x[0] * x[1] + (x.exp() / (1 + x * x)).sum()
    return f


def _two_inputs_fn(x, y):
    return (x * x * y).sum() + (y.tanh() * x[:2].sum()).sum()


def test_hessian_hvp_vhp_equal_torch():
    rng = np.random.default_rng(3)
    x, v = rng.standard_normal(4), rng.standard_normal(4)
    he = AF.hessian(_scalar_fn(engine), engine.tensor(x))
    ht = torch.autograd.functional.hessian(_scalar_fn(torch), torch.tensor(x))
    np.testing.assert_allclose(he.numpy(), ht.numpy(), rtol=1e-10)
    assert not he.requires_grad
    for name in ("hvp", "vhp"):
        out_e, pe = getattr(AF, name)(_scalar_fn(engine), engine.tensor(x), engine.tensor(v))
        out_t, pt = getattr(torch.autograd.functional, name)(_scalar_fn(torch), torch.tensor(x), torch.tensor(v))
        np.testing.assert_allclose(out_e.numpy(), out_t.numpy(), rtol=1e-12)
        np.testing.assert_allclose(pe.numpy(), pt.numpy(), rtol=1e-10)


def test_hessian_of_several_inputs_equals_torch():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal(3), rng.standard_normal(3)
    he = AF.hessian(_two_inputs_fn, (engine.tensor(x), engine.tensor(y)))
    ht = torch.autograd.functional.hessian(_two_inputs_fn, (torch.tensor(x), torch.tensor(y)))
    for row_e, row_t in zip(he, ht):
        for a, b in zip(row_e, row_t):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)


def test_functional_create_graph_keeps_the_results_differentiable():
    rng = np.random.default_rng(5)
    x = rng.standard_normal(3)
    results = []
    for lib, fa in ((engine, AF), (torch, torch.autograd.functional)):
        xt = lib.tensor(x, dtype=lib.float64, requires_grad=True)
        jac = fa.jacobian(lambda t: t.sin() * t.sum(), xt, create_graph=True)
        hes = fa.hessian(lambda t: (t ** 3).sum() * t[0], xt, create_graph=True)
        _, hv = fa.hvp(lambda t: (t.exp() * t).sum(), xt, xt * 2, create_graph=True)
        assert jac.requires_grad and hes.requires_grad and hv.requires_grad
        (g,) = lib.autograd.grad(jac.sum() + hes.sum() + hv.sum(), xt)
        results.append((jac.detach().numpy(), hes.detach().numpy(), hv.detach().numpy(), g.numpy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_gradgradcheck():
    x = engine.tensor(np.array([0.4, -1.1, 2.0]), requires_grad=True)
    w = engine.tensor(np.random.default_rng(0).standard_normal((2, 3)), requires_grad=True)
    assert engine.autograd.gradgradcheck(lambda x, w: F.softplus(F.linear(x, w)).pow(2).sum(), x, w)


def test_an_uncovered_op_raises_clearly():
    from engine.function import Function

    class _TestOnlyCube(Function):  # an array backward and no graph rule
        def forward(self, a):
            self.save_for_backward(a)
            return a ** 3

        def backward(self, g):
            (a,) = self.saved
            return (3 * a * a * g,)

    try:
        x = engine.tensor([1.0, 2.0, 3.0], dtype=engine.float64, requires_grad=True)
        assert engine.autograd.grad(_TestOnlyCube.apply(x).sum(), x)[0].tolist() == [3.0, 12.0, 27.0]
        with pytest.raises(NotImplementedError, match="double backward of _TestOnlyCube is not supported"):
            engine.autograd.grad(_TestOnlyCube.apply(x).sum(), x, create_graph=True)
    finally:
        Function.registry.pop("_TestOnlyCube", None)


def test_the_first_order_path_is_unchanged():
    """Without create_graph the gradients are plain arrays outside the graph, as before."""
    x = engine.tensor([1.0, 2.0], dtype=engine.float64, requires_grad=True)
    (g,) = engine.autograd.grad((x ** 3).sum(), x)
    assert not g.requires_grad and g.grad_fn is None
    (x ** 3).sum().backward()
    assert not x.grad.requires_grad
