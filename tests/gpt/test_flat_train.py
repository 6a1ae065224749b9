"""Training on flat buffers (issue 21): train.setup puts each optimizer group's parameters in one flat
buffer (engine.flatten_parameters) and Adam keeps the moments flat too, so AdamW runs one update per
group. The trajectory must be bit for bit the one without flat buffers, resumes included."""

import numpy as np
import pytest

import engine
import nn
from tinygrad_gpt import train as T


def _run(monkeypatch, flat: bool, steps: int = 5, **kw):
    monkeypatch.setattr(T, "FLAT_BUFFERS", flat)
    run = T.setup(T.TrainConfig(max_iters=steps, model={"n_layer": 2}, batch_size=4, **kw))
    losses = []
    for it in range(steps):
        run.schedule.step(it)
        losses.append(T.train_step(run.model, run.optimizer, run.loader, grad_clip=run.cfg.grad_clip).item())
    return run, losses


def test_flat_buffers_give_the_same_bits(monkeypatch):
    plain, a = _run(monkeypatch, False)
    flat, b = _run(monkeypatch, True)
    assert a == b
    for (n, p), q in zip(plain.model.named_parameters(), flat.model.parameters()):
        np.testing.assert_array_equal(p._data, q._data, err_msg=n)
    for p, q in zip(plain.model.parameters(), flat.model.parameters()):
        sp, sq = plain.optimizer.state[id(p)], flat.optimizer.state[id(q)]
        assert sp["step"] == sq["step"]
        np.testing.assert_array_equal(sp["exp_avg"], sq["exp_avg"])
        np.testing.assert_array_equal(sp["exp_avg_sq"], sq["exp_avg_sq"])


def test_each_group_is_one_flat_buffer_and_so_are_its_moments(monkeypatch):
    run, _ = _run(monkeypatch, True, steps=1)
    for group in run.optimizer.param_groups:
        ps = group["params"]
        assert all(p._data.base is not None and p._data.base is ps[0]._data.base for p in ps)
        assert ps[0]._data.base.size == sum(p._data.size for p in ps)
        states = [run.optimizer.state[id(p)] for p in ps]
        for key in ("exp_avg", "exp_avg_sq"):
            base = states[0][key].base
            assert base is not None and all(s[key].base is base for s in states)
            assert base.size == sum(p._data.size for p in ps)


def test_moments_become_flat_again_after_load_state_dict():
    a = engine.Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    b = engine.Tensor(np.ones(4, np.float32), requires_grad=True)
    engine.flatten_parameters([a, b])
    opt = nn.optim.AdamW([a, b], lr=0.1)
    (a.sum() + (b * b).sum()).backward()
    opt.step()
    opt2 = nn.optim.AdamW([a, b], lr=0.1)
    opt2.load_state_dict(opt.state_dict())  # each parameter gets its own arrays
    expected = {k: opt.state[id(b)][k].copy() for k in ("exp_avg", "exp_avg_sq")}
    opt2.zero_grad()
    (a.sum() + (b * b).sum()).backward()
    g = 2 * b._data.copy()  # b's gradient at the second step
    opt2.step()
    sa, sb = opt2.state[id(a)], opt2.state[id(b)]
    assert sa["exp_avg"].base is sb["exp_avg"].base is not None
    assert sa["step"] == sb["step"] == 2
    # the second step's moments from the first's: m = 0.9 m + 0.1 g, v = 0.999 v + 0.001 g²
    np.testing.assert_allclose(sb["exp_avg"], 0.9 * expected["exp_avg"] + 0.1 * g, rtol=1e-6)
    np.testing.assert_allclose(sb["exp_avg_sq"], 0.999 * expected["exp_avg_sq"] + 0.001 * g * g, rtol=1e-6)


@pytest.mark.parametrize("group_params", ["separate arrays", "one flat buffer"])
def test_adam_matches_torch_with_and_without_flat_buffers(group_params):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s).astype(np.float32) for s in ((3, 4), (4,), (5,))]
    ours = [engine.Tensor(x.copy(), requires_grad=True) for x in init]
    if group_params == "one flat buffer":
        engine.flatten_parameters(ours)
    theirs = [torch.tensor(x.copy(), requires_grad=True) for x in init]
    o = nn.optim.AdamW(ours, lr=0.01, betas=(0.9, 0.99), weight_decay=0.1)
    t = torch.optim.AdamW(theirs, lr=0.01, betas=(0.9, 0.99), weight_decay=0.1)
    for _ in range(4):
        o.zero_grad()
        t.zero_grad()
        sum((p * p).sum() for p in ours).backward()
        sum((p * p).sum() for p in theirs).backward()
        o.step()
        t.step()
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p._data, q.detach().numpy(), rtol=1e-5, atol=1e-6)
