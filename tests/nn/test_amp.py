"""Mixed precision: engine.autocast (float16 matmuls, float32 everything else) and nn.amp.GradScaler."""

import numpy as np
import pytest

import engine
import engine.functional as F
import nn
from engine import Tensor


def test_autocast_linear_is_float16_math_with_float32_results():
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((6, 8), (5, 8), (5,)))
    g = rng.standard_normal((6, 5)).astype(np.float32)
    tensors = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    with engine.autocast("float16"):
        y = F.linear(*tensors)
    y.backward(g)
    assert y.dtype == np.float32 and all(t.grad.dtype == np.float32 for t in tensors)
    h = np.float16
    # The same products computed directly in float16 (NumPy), then widened.
    np.testing.assert_array_equal(y.numpy(), (x.astype(h) @ w.astype(h).T).astype(np.float32) + b)
    np.testing.assert_array_equal(tensors[0].grad.numpy(), (g.astype(h) @ w.astype(h)).astype(np.float32))
    np.testing.assert_array_equal(tensors[1].grad.numpy(), (g.astype(h).T @ x.astype(h)).astype(np.float32))
    # float32 sum of g (not float16): equal up to float32 rounding, since it is a GEMV, not .sum(0)
    assert tensors[2].grad.dtype == np.float32
    np.testing.assert_allclose(tensors[2].grad.numpy(), g.sum(0), rtol=1e-6, atol=1e-6)
    # And they are close to float32 math: float16 keeps about 3 significant digits.
    np.testing.assert_allclose(y.numpy(), x @ w.T + b, rtol=0, atol=2e-2)


def test_autocast_is_off_outside_the_block_and_rejects_bfloat16():
    x = Tensor(np.full((1, 3), 1 / 3, np.float32))
    w = Tensor(np.ones((1, 3), np.float32))
    with engine.autocast("float16"):
        pass
    assert F.linear(x, w).item() == pytest.approx(1.0, abs=1e-7)  # float32 again
    with pytest.raises(ValueError, match="bfloat16"):
        engine.autocast("bfloat16")


def _one_param_opt(grad):
    p = nn.Parameter(np.zeros(3, np.float32))
    p.grad = Tensor(np.asarray(grad, np.float32))
    return p, nn.optim.SGD([p], lr=1.0)


def test_grad_scaler_unscales_then_steps():
    scaler = nn.amp.GradScaler(init_scale=8.0)
    p, opt = _one_param_opt([8.0, 16.0, -8.0])
    assert scaler.step(opt) is True
    np.testing.assert_array_equal(p.numpy(), [-1.0, -2.0, 1.0])  # grad / 8, times lr 1
    scaler.update()
    assert scaler.scale_value == 8.0


def test_grad_scaler_skips_inf_and_backs_off_then_grows():
    scaler = nn.amp.GradScaler(init_scale=8.0, growth_interval=2)
    p, opt = _one_param_opt([np.inf, 1.0, 1.0])
    assert scaler.step(opt) is False
    np.testing.assert_array_equal(p.numpy(), [0.0, 0.0, 0.0])  # the step was skipped
    scaler.update()
    assert scaler.scale_value == 4.0
    for _ in range(2):
        p.grad = Tensor(np.ones(3, np.float32))
        assert scaler.step(opt) is True
        scaler.update()
    assert scaler.scale_value == 8.0
    state = scaler.state_dict()
    other = nn.amp.GradScaler()
    other.load_state_dict(state)
    assert other.state_dict() == state


def test_scaled_loss_gives_unscaled_gradients():
    layer = nn.Linear(3, 2)
    x = Tensor(np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32))
    layer(x).sum().backward()
    plain = [p.grad.numpy().copy() for p in layer.parameters()]
    layer.zero_grad()
    scaler = nn.amp.GradScaler(init_scale=1024.0)
    opt = nn.optim.SGD(layer.parameters(), lr=0.0)
    scaler.scale(layer(x).sum()).backward()
    scaler.unscale_(opt)
    for a, b in zip(plain, [p.grad.numpy() for p in layer.parameters()]):
        np.testing.assert_allclose(b, a, rtol=1e-6)
