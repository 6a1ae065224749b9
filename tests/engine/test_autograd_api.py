"""engine.autograd.grad / engine.autograd.backward and Tensor.backward's torch arguments (gradient=,
inputs=), against torch.autograd on the same float64 computations."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import engine  # noqa: E402
from engine import Tensor  # noqa: E402

RNG = np.random.default_rng(0)
A, W = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 2))


def _pair():
    return ((Tensor(A, requires_grad=True), Tensor(W, requires_grad=True)),
            (torch.tensor(A, requires_grad=True), torch.tensor(W, requires_grad=True)))


def _close(ours, theirs):
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_grad_of_leaves_and_an_intermediate_equals_torch_and_leaves_grad_untouched():
    (x, w), (tx, tw) = _pair()
    h, th = (x @ w).tanh(), (tx @ tw).tanh()
    y, ty = (h * h).sum() + h.sum(), (th * th).sum() + th.sum()
    got = engine.autograd.grad(y, [x, h, w], retain_graph=True)
    want = torch.autograd.grad(ty, [tx, th, tw], retain_graph=True)
    for g, tg in zip(got, want):
        _close(g, tg)
    assert x.grad is None and w.grad is None
    y.backward()  # the graph was retained
    ty.backward()
    _close(x.grad, tx.grad)


def test_grad_with_grad_outputs_for_a_non_scalar_output_and_several_outputs():
    (x, w), (tx, tw) = _pair()
    go = RNG.standard_normal((3, 2))
    outs, touts = [x @ w, (x * x).sum()], [tx @ tw, (tx * tx).sum()]
    got = engine.autograd.grad(outs, [x, w], grad_outputs=[Tensor(go), None])
    want = torch.autograd.grad(touts, [tx, tw], grad_outputs=[torch.tensor(go), None])
    for g, tg in zip(got, want):
        _close(g, tg)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        engine.autograd.grad(x @ w, [x])


def test_unused_inputs_raise_unless_allowed_as_torch():
    (x, w), (tx, tw) = _pair()
    msg = "appears to not have been used in the graph"
    with pytest.raises(RuntimeError, match=msg):
        torch.autograd.grad((tx * 2).sum(), [tw])
    with pytest.raises(RuntimeError, match=msg):
        engine.autograd.grad((x * 2).sum(), [w])
    assert engine.autograd.grad((x * 2).sum(), [w], allow_unused=True) == (None,)
    (z,) = engine.autograd.grad((x * 2).sum(), [w], materialize_grads=True)
    (tz,) = torch.autograd.grad((tx * 2).sum(), [tw], materialize_grads=True)
    _close(z, tz)


def test_autograd_backward_of_several_outputs_equals_torch():
    (x, w), (tx, tw) = _pair()
    h, th = x @ w, tx @ tw
    go = RNG.standard_normal((3, 2))
    engine.autograd.backward([h, h.relu().sum()], [Tensor(go), None])
    torch.autograd.backward([th, th.relu().sum()], [torch.tensor(go), None])
    _close(x.grad, tx.grad)
    _close(w.grad, tw.grad)


def test_backward_with_inputs_accumulates_only_into_them_and_takes_gradient_by_name():
    (x, w), (tx, tw) = _pair()
    y, ty = ((x @ w) ** 2).sum(), ((tx @ tw) ** 2).sum()
    y.backward(inputs=[w])
    ty.backward(inputs=[tw])
    assert x.grad is None and tx.grad is None
    _close(w.grad, tw.grad)
    g = RNG.standard_normal((3, 4))
    (x * 3).backward(gradient=Tensor(g))
    (tx * 3).backward(gradient=torch.tensor(g))
    _close(x.grad, tx.grad)


def test_hooks_run_and_create_graph_records_the_gradient():
    x = Tensor(A, requires_grad=True)
    h = x * 2
    h.register_hook(lambda g: g * 10)
    (gx,) = engine.autograd.grad(h.sum(), [x])
    np.testing.assert_allclose(gx.numpy(), np.full(A.shape, 20.0))
    (gx,) = engine.autograd.grad((x * x).sum(), [x], create_graph=True)  # engine.higher_order
    assert gx.requires_grad and gx.grad_fn is not None
    with pytest.raises(RuntimeError, match="does not require grad"):
        engine.autograd.grad((x * 2).sum(), [Tensor(A)])


def test_flag_retain_grad_hook_size_and_second_backward_errors_as_torch():
    def both(fn_ours, fn_theirs, match):
        with pytest.raises(RuntimeError, match=match):
            fn_theirs()
        with pytest.raises(RuntimeError, match=match):
            fn_ours()

    (x, _), (tx, _) = _pair()
    both(lambda: (x * 2).requires_grad_(False), lambda: (tx * 2).requires_grad_(False),
         "you can only change requires_grad flags of leaf variables")
    assert (x * 2).requires_grad_(True).requires_grad  # turning it on is a no-op on a non-leaf, as torch
    both(lambda: Tensor(A).retain_grad(), lambda: torch.tensor(A).retain_grad(),
         "can't retain_grad on Tensor that has requires_grad=False")

    def widen_ours(t):
        h = t * 2
        h.register_hook(lambda g: g.sum(0))
        h.sum().backward()

    def widen_theirs(t):
        h = t * 2
        h.register_hook(lambda g: g.sum(0))
        h.sum().backward()

    both(lambda: widen_ours(x), lambda: widen_theirs(tx), "has changed the size of value")
    y, ty = (x * x).sum(), (tx * tx).sum()
    y.backward()
    ty.backward()
    both(y.backward, ty.backward, "Trying to backward through the graph a second time")
