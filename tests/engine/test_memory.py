"""Memory: a training loop does not grow, backward frees the graph's saved arrays, and a graph
is freed by reference counting alone (no Tensor <-> Function reference cycles)."""

from __future__ import annotations

import gc
import os
import tracemalloc
import weakref

import numpy as np
import pytest

import engine.functional as F
from engine import Tensor, no_grad
from engine.function import _holds_array


def live_tensors() -> int:
    gc.collect()
    # issubclass(type(o)), not isinstance(o): isinstance falls back to o.__class__, which on
    # some library proxies runs code (a deprecation warning, a linecache read) that allocates.
    return sum(1 for o in gc.get_objects() if issubclass(type(o), Tensor))


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class MLP:
    """Two layers built from engine ops directly: weights are plain Tensors."""

    def __init__(self, rng, d_in=32, hidden=64, classes=10):
        def w(*shape):
            return Tensor((rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32), requires_grad=True)

        self.params = [w(hidden, d_in), Tensor(np.zeros(hidden, np.float32), requires_grad=True),
                       w(classes, hidden), Tensor(np.zeros(classes, np.float32), requires_grad=True)]

    def loss(self, x, y):
        w1, b1, w2, b2 = self.params
        return F.cross_entropy(F.linear(F.relu(F.linear(x, w1, b1)), w2, b2), y)

    def step(self, x, y, lr=0.1) -> float:
        loss = self.loss(x, y)
        loss.backward()
        with no_grad():
            for p in self.params:
                p -= lr * p.grad
                p.grad = None
        return loss.item()


def test_training_loop_memory_is_flat():
    rng = np.random.default_rng(0)
    model = MLP(rng)
    x = Tensor(rng.standard_normal((64, 32)).astype(np.float32))
    y = rng.integers(0, 10, 64)
    first = model.step(x, y)
    live_tensors(), rss_bytes()  # warm up whatever the measuring itself allocates once
    tracemalloc.start()
    try:
        marks = {}
        for step in range(1, 201):
            last = model.step(x, y)
            if step in (50, 200):
                gc.collect()
                marks[step] = (tracemalloc.get_traced_memory()[0], live_tensors(), rss_bytes())
    finally:
        tracemalloc.stop()
    assert last < first  # it trains, so the loop really ran forward and backward
    (mem50, n50, rss50), (mem200, n200, rss200) = marks[50], marks[200]
    assert n200 <= n50, f"live Tensors grew from {n50} to {n200}"
    assert mem200 - mem50 < 8 * 1024, f"traced memory grew by {mem200 - mem50} bytes in 150 steps"
    assert rss200 - rss50 < 4 * 2**20, f"RSS grew by {(rss200 - rss50) / 2**20:.1f} MiB in 150 steps"


def test_saved_arrays_are_released_by_backward():
    x = Tensor(np.linspace(0.1, 1.0, 1000), requires_grad=True)
    h = x.sin()
    prod = h * h  # Mul saves h's array (an intermediate) twice
    ctx = prod._ctx
    refs = [weakref.ref(a) for a in ctx.saved]
    assert refs
    y = prod.sum()
    del h, prod
    gc.collect()
    assert all(r() is not None for r in refs), "the graph must keep what backward needs"
    y.backward()
    assert ctx.freed and ctx.saved == ()  # the links to the inputs stay (torch's next_functions)
    assert all(r() is None for r in refs), "backward did not release the saved arrays"
    assert y is not None  # the root is still alive: the graph, not the root, held the arrays


def test_retain_graph_keeps_saved_arrays_until_the_graph_dies():
    x = Tensor(np.linspace(0.1, 1.0, 1000), requires_grad=True)
    prod = x.sin() * x.cos()
    refs = [weakref.ref(a) for a in prod._ctx.saved]
    y = prod.sum()
    del prod
    y.backward(retain_graph=True)
    assert all(r() is not None for r in refs)
    gc.disable()  # reference counting alone must free it
    try:
        del y
        assert all(r() is None for r in refs), "a retained graph outlived its root"
    finally:
        gc.enable()


def test_every_op_of_a_graph_is_freed_after_backward():
    rng = np.random.default_rng(1)
    model = MLP(rng, d_in=8, hidden=16, classes=4)
    x = Tensor(rng.standard_normal((5, 8)).astype(np.float32))
    loss = model.loss(x, rng.integers(0, 4, 5))
    ctxs, stack = [], [loss]
    while stack:
        t = stack.pop()
        if t is not None and t._ctx is not None:
            ctxs.append(t._ctx)
            stack.extend(t._ctx.parents)
    assert len(ctxs) >= 4
    loss.backward()
    for ctx in ctxs:
        assert ctx.saved == (), type(ctx).__name__
        arrays = sorted(k for k, v in getattr(ctx, "__dict__", {}).items() if _holds_array(v))
        assert not arrays, f"{type(ctx).__name__} kept {arrays}"


@pytest.mark.parametrize("backward", [True, False], ids=["with_backward", "forward_only"])
def test_graphs_are_freed_without_the_cycle_collector(backward):
    """Ops that save their output (exp, tanh, relu, softmax) must not make result <-> ctx cycles:
    an evaluation in grad mode that is never backpropagated would then wait for the gc."""
    rng = np.random.default_rng(2)
    model = MLP(rng, d_in=8, hidden=16, classes=4)
    x = Tensor(rng.standard_normal((5, 8)).astype(np.float32))
    y = rng.integers(0, 4, 5)

    def run():
        h = F.relu(F.linear(x, *model.params[:2])).tanh().exp()
        out = F.softmax(F.linear(h, *model.params[2:]), -1).sqrt().sigmoid()
        loss = F.cross_entropy(out, y) + out.sum()
        if backward:
            loss.backward()
            for p in model.params:
                p.grad = None
        return weakref.ref(out), weakref.ref(h)

    run()
    before = live_tensors()
    gc.disable()
    try:
        refs = [r for _ in range(20) for r in run()]
        assert all(r() is None for r in refs), "intermediate tensors were kept alive by a reference cycle"
        count = sum(1 for o in gc.get_objects() if issubclass(type(o), Tensor))
    finally:
        gc.enable()
    assert count <= before


def test_an_intermediate_nothing_holds_is_freed_before_backward():
    """ctx.parents keeps no input's array: an Add does not keep its (B, T, C) operands alive, as in
    torch (GPT's residual adds kept every block's Linear outputs to the end of backward)."""
    x = Tensor(np.linspace(0.1, 1.0, 1000), requires_grad=True)
    a = x * 2.0  # Mul by a number saves nothing of its output
    ref = weakref.ref(a._data)
    y = (a + x).sum()  # Add saves nothing either
    del a
    assert ref() is None, "the graph kept an intermediate's array that backward never reads"
    y.backward()
    np.testing.assert_array_equal(x.grad._data, np.full(1000, 3.0))


def test_hooks_and_retain_grad_reach_a_tensor_dropped_after_its_use():
    x = Tensor(np.linspace(0.1, 1.0, 4), requires_grad=True)
    h = x * 2.0
    y = h * 3.0  # h is used first ...
    seen = []
    h.register_hook(lambda g: seen.append(g._data.copy()))  # ... and hooked after
    h.retain_grad()
    kept = weakref.ref(h)
    del h
    y.sum().backward()
    np.testing.assert_array_equal(seen[0], np.full(4, 3.0))
    assert kept() is not None and np.array_equal(kept().grad._data, np.full(4, 3.0))
    np.testing.assert_array_equal(x.grad._data, np.full(4, 6.0))
