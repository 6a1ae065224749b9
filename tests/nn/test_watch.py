"""nn.utils.watch: its figures equal ones computed directly from the tensors, it records only every
N-th step, its hooks come off cleanly, and the model computes the same with it on."""

from __future__ import annotations

import json

import numpy as np
import pytest

import engine
import nn
from engine import Tensor
from nn.watch import TANH_SATURATED, watch


def _model_and_data():
    engine.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
    x = Tensor(np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32) * 3)
    return model, x


def test_figures_equal_the_ones_computed_from_the_tensors(tmp_path):
    model, x = _model_and_data()
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    w = watch(model, opt, every=1, log=tmp_path / "watch.jsonl")
    # the same forward by hand, keeping every intermediate
    h1 = model[0](x)
    t = model[1](h1)
    r = model[3](model[2](t))
    out = model[4](r)
    for z in (h1, t, r, out):
        z.retain_grad()
    out.sum().backward()
    want = {"h1": h1.numpy(), "t": t.numpy(), "r": r.numpy(), "gt": t.grad.numpy(), "gr": r.grad.numpy()}
    before = {n: p.numpy().copy() for n, p in model.named_parameters()}
    opt.zero_grad()

    loss = model(x).sum()
    loss.backward()
    grads = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
    opt.step()
    rec = w.history[-1]
    assert rec["layers"]["0"]["mean"] == pytest.approx(want["h1"].astype(np.float64).mean(), rel=1e-6)
    assert rec["layers"]["1"]["std"] == pytest.approx(want["t"].astype(np.float64).std(), rel=1e-6)
    assert rec["layers"]["1"]["saturated"] == pytest.approx((np.abs(want["t"]) > TANH_SATURATED).mean())
    assert rec["layers"]["3"]["dead"] == pytest.approx((want["r"] <= 0).mean())
    assert rec["layers"]["1"]["grad_std"] == pytest.approx(want["gt"].astype(np.float64).std(), rel=1e-6)
    assert rec["layers"]["3"]["grad_std"] == pytest.approx(want["gr"].astype(np.float64).std(), rel=1e-6)
    for n, p in model.named_parameters():
        upd = p.numpy().astype(np.float64) - before[n]
        # std(update) / std(param), guarded by 1e-12: the last layer's bias is one number (std 0)
        want_ratio = upd.std() / (p.numpy().astype(np.float64).std() + 1e-12)
        assert rec["params"][n]["update_ratio"] == pytest.approx(want_ratio, rel=1e-5)
        assert rec["params"][n]["grad_std"] == pytest.approx(grads[n].astype(np.float64).std(), rel=1e-6)
    logged = [json.loads(line) for line in (tmp_path / "watch.jsonl").read_text().splitlines()]
    assert logged == [json.loads(json.dumps(rec))]
    png = w.plot(tmp_path / "watch.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    w.remove()


def test_records_every_nth_step_only():
    model, x = _model_and_data()
    opt = nn.optim.SGD(model.parameters(), lr=0.01)
    w = watch(model, opt, every=3)
    for _ in range(7):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
    assert [h["step"] for h in w.history] == [0, 3, 6]
    w.remove()


def test_hooks_come_off_and_outputs_are_unchanged():
    model, x = _model_and_data()
    opt = nn.optim.SGD(model.parameters(), lr=0.01)
    plain = model(x).numpy()
    w = watch(model, opt, every=1)
    assert np.array_equal(model(x).numpy(), plain)
    w.remove()
    assert opt.step.__func__ is nn.optim.SGD.step
    assert all(not m._forward_hooks for m in model.modules())
    out = model(x)
    assert np.array_equal(out.numpy(), plain) and w.history == []


def test_evaluation_and_eval_mode_forwards_are_not_recorded():
    # A recording step in which an evaluation (no_grad) and an eval-mode forward of other inputs run
    # after the training forward: the record still holds the training forward's figures (and the
    # extra forwards cost no histograms).
    model, x = _model_and_data()
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    want = model[1](model[0](x)).numpy().astype(np.float64)
    w = watch(model, opt, every=1)
    loss = model(x).sum()
    with engine.no_grad():
        model(x * 100)
    model.eval()
    model(x * 100)
    model.train()
    loss.backward()
    opt.step()
    rec = w.history[-1]["layers"]["1"]
    assert rec["std"] == pytest.approx(want.std(), rel=1e-6)
    assert "grad_std" in rec
    with engine.no_grad():  # between two recorded steps: nothing is kept
        model(x)
    assert w._outputs == {}
    w.remove()
