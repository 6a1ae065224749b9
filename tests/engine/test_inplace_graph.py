"""In-place ops in the graph, against torch: ``out += identity`` (a ResNet block), ``outputs[t] = h``
(an RNN writing into a buffer), ``relu_``/``clamp_``/``mul_`` on intermediates, and the leaf error.
Values and float64 gradients equal torch's autograd on the same code."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import engine  # noqa: E402
import engine.functional as F  # noqa: E402
import nn  # noqa: E402
from engine import Tensor  # noqa: E402

RNG = np.random.default_rng(0)
A, B = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))


def _functional(m):
    return F if m is engine else torch.nn.functional


CASES = {
    "iadd_then_relu": lambda x, w, m: _functional(m).relu((lambda y: y.__iadd__(w))(x * 2)),
    "clamp_then_mul_by_a_grad_tensor": lambda x, w, m: (x + 1).clamp_(min=0.2).mul_(w),
    "use_before_the_change_keeps_the_old_value": lambda x, w, m: _use_then_add(x),
    "buffer_rows_written_from_the_graph": lambda x, w, m: _buffer(x, w, m) * 2,
    "bool_mask_assignment": lambda x, w, m: _masked(x) * w,
    "masked_fill_": lambda x, w, m: (x * 1).masked_fill_(w > 0, 2.0),
    "t_": lambda x, w, m: (x * 1).t_() * 2,
    "relu_inplace_flag": lambda x, w, m: _relu_inplace(x, m) + w,
    "zero_then_copy_": lambda x, w, m: (x * 2).zero_().copy_(w) * x,
    "index_put_": lambda x, w, m: (x * 1).index_put_((m.tensor([0, 2]),), w[0]),
    "fill_with_a_0d_tensor": lambda x, w, m: (x.sum(0) * 1).fill_(w.sum()) * x.sum(0),
    "idiv_then_exp_": lambda x, w, m: (lambda y: y.__itruediv__(w).exp_())(x * 1),
    "getitem_iadd_setitem": lambda x, w, m: _row_iadd(x, w),
}


def _use_then_add(x):
    y = x * 3
    z = y + 1  # uses y's old value
    y.add_(x)
    return z * y


def _buffer(x, w, m):
    buf = m.zeros(4, 3, dtype=x.dtype)  # a leaf that wants no gradient, written with values that do
    buf[1:3] = x[:2] * w[:2]
    buf[0] += w[3]
    return buf


def _masked(x):
    y = x * 1
    y[y > 0.5] = 0.0
    return y


def _relu_inplace(x, m):
    y = x * 1
    _functional(m).relu(y, inplace=True)
    return y


def _row_iadd(x, w):
    y = x * 1
    y[1] += w[2]  # Python: t = y[1]; t += w[2]; y[1] = t
    return y


@pytest.mark.parametrize("name", sorted(CASES))
def test_inplace_op_in_the_graph_matches_torch(name):
    fn = CASES[name]
    x, w = Tensor(A, requires_grad=True), Tensor(B, requires_grad=True)
    tx, tw = torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True)
    out, tout = fn(x, w, engine), fn(tx, tw, torch)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    gout = RNG.standard_normal(out.shape)
    out.backward(Tensor(gout))
    tout.backward(torch.tensor(gout))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    if tw.grad is None:
        assert w.grad is None
    else:
        np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_resnet_basic_block_with_inplace_relu_and_residual_add_matches_torch():
    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
            self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += identity
            return self.relu(out)

    class TorchBlock(torch.nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1, self.bn1 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False), torch.nn.BatchNorm2d(c)
            self.conv2, self.bn2 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False), torch.nn.BatchNorm2d(c)
            self.relu = torch.nn.ReLU(inplace=True)

        forward = Block.forward

    torch.manual_seed(0)
    theirs = TorchBlock(3).double()
    ours = Block(3).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    xa = RNG.standard_normal((2, 3, 5, 5))
    x, tx = Tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    ours(x).square().sum().backward()
    theirs(tx).square().sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_rnn_loop_writing_a_preallocated_output_tensor_matches_torch():
    wa, xa = RNG.standard_normal((3, 3)) * 0.5, RNG.standard_normal((5, 2, 3))

    def run(m, w, x):
        out = m.zeros(5, 2, 3, dtype=x.dtype)
        h = m.zeros(2, 3, dtype=x.dtype)
        for t in range(5):
            h = (x[t] + h @ w).tanh()
            out[t] = h
        return out

    w, x = Tensor(wa, requires_grad=True), Tensor(xa, requires_grad=True)
    tw, tx = torch.tensor(wa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    out, tout = run(engine, w, x), run(torch, tw, tx)
    assert out.requires_grad and not out.is_leaf
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_retain_grad_follows_the_tensor_to_its_new_value():
    x, tx = Tensor(A, requires_grad=True), torch.tensor(A, requires_grad=True)
    y, ty = x * 2, tx * 2
    y.retain_grad()
    ty.retain_grad()
    y.mul_(3)
    ty.mul_(3)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_a_leaf_that_requires_grad_refuses_in_place_ops_in_grad_mode_as_torch():
    for mutate in (lambda t: t.add_(1), lambda t: t.relu_(), lambda t: t.__setitem__(0, 1.0),
                   lambda t: t.copy_(torch.ones(4, 3, dtype=torch.float64) if isinstance(t, torch.Tensor)
                                     else Tensor(np.ones((4, 3))))):
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            mutate(torch.tensor(A, requires_grad=True))
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            mutate(Tensor(A, requires_grad=True))


def test_in_place_under_no_grad_still_writes_the_array_and_bumps_the_version():
    x = Tensor(A, requires_grad=True)
    y = x.exp()  # saves its output
    with engine.no_grad():
        y += 1
    np.testing.assert_allclose(y.numpy(), np.exp(A) + 1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
