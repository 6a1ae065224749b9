"""engine.autograd.Function (torch.autograd.Function): custom ops written with Tensors, their
ctx, and torch's errors; values and gradients against the same Functions written for torch."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import nn
from engine import Tensor
from engine.autograd import Function, once_differentiable


def _both(torch):
    """The same custom Functions for the engine and for torch (a straight-through round, a gradient
    reversal with a non-tensor argument, a scaled exp in the setup_context form)."""
    made = {}
    for lib, base in (("ours", Function), ("torch", torch.autograd.Function)):
        class RoundST(base):
            @staticmethod
            def forward(ctx, x):
                return x.round()

            @staticmethod
            @once_differentiable
            def backward(ctx, g):
                return g

        class Reverse(base):
            @staticmethod
            def forward(ctx, x, lam):
                ctx.lam = lam
                return x * 1.0

            @staticmethod
            def backward(ctx, g):
                return -ctx.lam * g, None

        class ScaledExp(base):
            @staticmethod
            def forward(x, scale):
                return (x * scale).exp()

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_backward(inputs[1], output)

            @staticmethod
            def backward(ctx, g):
                scale, out = ctx.saved_tensors
                return g * out * scale, (g * out * (out.log() / scale)).sum()

        made[lib] = (RoundST, Reverse, ScaledExp)
    return made


def test_custom_functions_match_torch():
    torch = pytest.importorskip("torch")
    made = _both(torch)
    x = np.random.default_rng(0).standard_normal((3, 4))
    results = {}
    for lib, (RoundST, Reverse, ScaledExp) in made.items():
        make = Tensor if lib == "ours" else torch.tensor
        a, s = make(x, requires_grad=True), make(np.array(0.7), requires_grad=True)
        y = RoundST.apply(a) * 2 + Reverse.apply(a, 0.5) + ScaledExp.apply(a, s)
        y.sum().backward()
        results[lib] = [y.detach().numpy(), a.grad.numpy(), s.grad.numpy()]
    for o, t in zip(results["ours"], results["torch"]):
        np.testing.assert_allclose(o, t, rtol=1e-12, atol=1e-12)


def test_ctx_flags_and_non_differentiable_outputs():
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, x, y, k):
            seen["flags"], seen["grad_mode"] = ctx.needs_input_grad, engine.is_grad_enabled()
            return x + y * k

        @staticmethod
        def backward(ctx, g):
            return g, g * 2, None

    class ArgMax(Function):
        @staticmethod
        def forward(ctx, x):
            out = x.argmax(-1).astype(np.float64)
            ctx.mark_non_differentiable(out)
            return out

    x, y = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0])
    out = Probe.apply(x, y, 3)
    assert seen == {"flags": (True, False, False), "grad_mode": False} and out.requires_grad
    out.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0] and y.grad is None
    assert not ArgMax.apply(x[None]).requires_grad
    with engine.no_grad():
        assert not Probe.apply(x, y, 3).requires_grad


def test_gradcheck_through_a_custom_function_in_a_module():
    class Softplus(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (1 + x.exp()).log()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x.sigmoid()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, x):
            return Softplus.apply(self.lin(x))

    engine.manual_seed(0)
    net = Net().double()
    x = Tensor(np.random.default_rng(1).standard_normal((4, 3)), requires_grad=True)
    engine.gradcheck(lambda a, w, b: Softplus.apply(a @ w.T + b), x, net.lin.weight, net.lin.bias)
    net(x).sum().backward()
    assert net.lin.weight.grad.shape == (2, 3)


def test_errors_as_torch():
    class TooFew(Function):
        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, g):
            return g

    class BadShape(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g[:1]

    class Broadcast(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g.expand(3, *g.shape)  # a gradient the input's shape expands to: summed, as torch

    class GradForNumber(Function):
        @staticmethod
        def forward(ctx, x, k):
            return x * k

        @staticmethod
        def backward(ctx, g):
            return g, g

    class Pair(Function):
        @staticmethod
        def forward(ctx, x):
            return x, x

    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"returned an incorrect number of gradients \(expected 2, got 1\)"):
        TooFew.apply(x, x).sum().backward()
    with pytest.raises(RuntimeError, match=r"invalid gradient at index 0 - got \[1\] but expected shape compatible "
                                           r"with \[2\]"):
        BadShape.apply(x).sum().backward()
    Broadcast.apply(x).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="gradient different than None at position 2"):
        GradForNumber.apply(x, 2.0).sum().backward()
    with pytest.raises(NotImplementedError, match="must return one Tensor"):
        Pair.apply(x)
    with pytest.raises(TypeError, match="save_for_backward can only save variables"):
        type("Saver", (Function,), {"forward": staticmethod(lambda ctx, a: ctx.save_for_backward(3) or a)}).apply(x)
