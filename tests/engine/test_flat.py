"""Flat parameter/gradient buffers and post-accumulate-grad hooks (engine.flat, Tensor hooks)."""

import numpy as np
import pytest

import engine
import nn
from engine import Tensor


def _mlp(seed=0, dtype="float64"):
    engine.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).astype(dtype)


def _loss(model, x):
    return (model(Tensor(x)) ** 2).mean()


def test_views_share_memory_and_grads_accumulate_in_place():
    model = _mlp()
    flat = engine.flatten_parameters(model.parameters())
    assert flat.data.shape == (sum(p.numel() for p in model.parameters()),)
    x = np.random.default_rng(0).standard_normal((6, 4))
    _loss(model, x).backward()
    first = flat.grad.copy()
    for p, (lo, hi) in zip(flat.params, flat.spans):
        assert np.shares_memory(p.data, flat.data) and np.shares_memory(p.grad.data, flat.grad)
        np.testing.assert_array_equal(p.grad.numpy().reshape(-1), flat.grad[lo:hi])
    _loss(model, x).backward()  # a second backward adds into the same buffer
    np.testing.assert_allclose(flat.grad, 2 * first, rtol=1e-12)
    assert flat.is_intact()


def test_same_gradients_as_unflattened():
    ref, model = _mlp(), _mlp()
    engine.flatten_parameters(model.parameters())
    x = np.random.default_rng(1).standard_normal((6, 4))
    _loss(ref, x).backward()
    _loss(model, x).backward()
    for a, b in zip(ref.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_zero_grad_set_to_none_reuses_the_buffer():
    model = _mlp()
    flat = engine.flatten_parameters(model.parameters())
    x = np.random.default_rng(2).standard_normal((6, 4))
    _loss(model, x).backward()
    once = flat.grad.copy()
    opt = nn.optim.SGD(model.parameters(), lr=0.0)
    opt.zero_grad()  # torch's default: grads become None
    assert all(p.grad is None for p in model.parameters())
    _loss(model, x).backward()  # the first gradient is written (not added) into the stale buffer
    np.testing.assert_array_equal(flat.grad, once)
    assert flat.is_intact()
    flat.zero_grad(set_to_none=False)
    assert not flat.grad.any() and all(p.grad is not None for p in model.parameters())


def test_adamw_on_flat_parameters_matches_plain():
    ref, model = _mlp(), _mlp()
    flat = engine.flatten_parameters(model.parameters())
    opts = [nn.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.1) for m in (ref, model)]
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.standard_normal((6, 4))
        for m, opt in zip((ref, model), opts):
            opt.zero_grad()
            _loss(m, x).backward()
            opt.step()
    for a, b in zip(ref.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert flat.is_intact()


def test_existing_grads_move_into_the_buffer_and_ties_count_once():
    w = Tensor(np.ones(3), requires_grad=True)
    (w * 2).sum().backward()
    flat = engine.flatten_parameters([w, w])
    assert len(flat) == 1 and flat.grad.tolist() == [2.0, 2.0, 2.0]


def test_flatten_errors():
    with pytest.raises(TypeError, match="dtype"):
        engine.flatten_parameters([Tensor(np.ones(2), requires_grad=True),
                                   Tensor(np.ones(2, np.float32), requires_grad=True)])
    with pytest.raises(TypeError, match="Tensors"):
        engine.flatten_parameters([np.ones(2)])
    with pytest.raises(ValueError, match="empty"):
        engine.flatten_parameters([])


def test_post_accumulate_grad_hook_order_and_remove():
    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0], requires_grad=True)
    seen = []
    ha = a.register_post_accumulate_grad_hook(lambda t: seen.append(("a", t.grad.tolist())))
    b.register_post_accumulate_grad_hook(lambda t: seen.append(("b", t.grad.tolist())))
    ((a * b).sum() + a.sum()).backward()  # a's two paths are summed first: one call per leaf
    assert sorted(seen) == [("a", [4.0, 4.0]), ("b", [3.0])]
    ha.remove()
    seen.clear()
    (a * b).sum().backward()
    assert seen == [("b", [6.0])]


def test_post_accumulate_grad_hook_errors_as_torch():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        Tensor([1.0]).register_post_accumulate_grad_hook(print)
    x = Tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(print)


def test_adam_on_flat_buffers_is_one_update(monkeypatch):
    """engine.adam_ joins parameters whose arrays (p, m, v, g) are neighbours in flat buffers into one
    update, with the same result as one update per parameter."""
    import engine.ops.optim as O

    rng = np.random.default_rng(4)
    shapes = [(3, 4), (4,), (2, 2, 2)]
    n = sum(int(np.prod(s)) for s in shapes)
    p0, m0, v0, g0 = rng.standard_normal(n), rng.standard_normal(n), rng.random(n), rng.standard_normal(n)

    def views(flat):
        out, lo = [], 0
        for s in shapes:
            size = int(np.prod(s))
            out.append(flat[lo:lo + size].reshape(s))
            lo += size
        return out

    runs = []
    for joined in (True, False):
        params = [Tensor(a.copy(), requires_grad=True) for a in views(p0)]
        if joined:
            flat = engine.flatten_parameters(params)
            m, v, g = m0.copy(), v0.copy(), g0.copy()
            ms, vs, gs = views(m), views(v), views(g)
            assert np.shares_memory(flat.data, params[0].data)
        else:
            ms, vs, gs = [a.copy() for a in views(m0)], [a.copy() for a in views(v0)], [a.copy() for a in views(g0)]
        jobs = []

        def run_jobs(xp, js, jobs=jobs):
            jobs.append(len(js))
            for kernel, size in js:
                kernel(0, size)

        monkeypatch.setattr(O, "parallel_jobs", run_jobs)
        engine.adam_(params, gs, ms, vs, [3] * len(shapes), lr=0.1, weight_decay=0.1)
        runs.append((jobs, [p.numpy() for p in params], ms, vs))
    (jobs_flat, p_flat, m_flat, v_flat), (jobs_each, p_each, m_each, v_each) = runs
    assert jobs_flat == [1] and jobs_each == [len(shapes)]
    for a, b in zip(p_flat + m_flat + v_flat, p_each + m_each + v_each):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)
