"""Autograd semantics against torch (session 15): an in-place op through a view reaches its base, in
value and in graph (torch's CopySlices); saved tensors changed in place raise torch's version error;
backward twice raises only where a node saved tensors; hooks and retain_grad around in-place ops.
Each case runs on torch and on the engine; values, gradients (float64) and exception types must agree."""

from __future__ import annotations

import numpy as np
import pytest

import engine

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

NINE = np.arange(1.0, 10.0).reshape(3, 3)
W9 = np.arange(9.0).reshape(3, 3) + 1  # a weight, so every entry's gradient differs


def T(lib, a, grad=False):
    return lib.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def no_grad(lib):
    return lib.no_grad()


def index(lib, a):
    return lib.tensor(np.asarray(a, dtype=np.int64))


def grad_of(lib):
    return lib.autograd.grad


def _plain(v):
    """Outputs as plain values: tensors as float64 arrays (None stays None), containers recursively."""
    if isinstance(v, (list, tuple)):
        return [_plain(e) for e in v]
    if hasattr(v, "detach"):
        return np.asarray(v.detach().numpy(), dtype=np.float64)
    return v


def _run(case, lib):
    try:
        return _plain(case(lib)), None
    except Exception as e:  # noqa: BLE001 - compared with torch's
        return None, e


def _same(ours, theirs, where="out"):
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), where
        for i, (o, t) in enumerate(zip(ours, theirs)):
            _same(o, t, f"{where}[{i}]")
    elif isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray), where
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12, err_msg=where)
    else:
        assert ours == theirs, where


def check(case):
    theirs, t_err = _run(case, torch)
    ours, o_err = _run(case, engine)
    if t_err is not None:
        assert o_err is not None, f"torch raised {t_err!r}, ours returned {ours}"
        assert isinstance(o_err, type(t_err)), f"torch raised {t_err!r}, ours {o_err!r}"
        return o_err
    assert o_err is None, f"ours raised {o_err!r}, torch returned {theirs}"
    _same(ours, theirs)
    return None


# ---- an in-place op on a view of a non-leaf reaches the base, in value and in gradient ------------------

VIEWS = {
    "slice": lambda y: y[1:3],
    "view": lambda y: y.view(9),
    "diagonal": lambda y: y.diagonal(),
    "t": lambda y: y.t(),
    "select": lambda y: y.select(0, 1),
    "narrow": lambda y: y.narrow(1, 0, 2),
    "unsqueeze": lambda y: y.unsqueeze(0),
    "transpose": lambda y: y.transpose(0, 1),
    "int index": lambda y: y[1],
    "ellipsis": lambda y: y[..., 1],
    "step": lambda y: y[::2, 1:],
    "chain": lambda y: y.t()[1:].diagonal(),
    "reshape chain": lambda y: y.reshape(9)[2:8].view(2, 3)[:, 1],
}
INPLACE = {
    "mul_": lambda v: v.mul_(5),
    "add_": lambda v: v.add_(1),
    "sub_ alpha": lambda v: v.sub_(T(torch if isinstance(v, torch.Tensor) else engine, 2.0), alpha=3),
    "div_": lambda v: v.div_(4),
    "clamp_": lambda v: v.clamp_(max=5),
    "zero_": lambda v: v.zero_(),
    "fill_": lambda v: v.fill_(3),
    "relu_": lambda v: v.sub_(8).relu_(),
    "imul": lambda v: v.__imul__(3),
    "setitem": lambda v: v.__setitem__(0, 7.0),
    "setitem ellipsis": lambda v: v.__setitem__(..., 2.0),
}


@pytest.mark.parametrize("op", list(INPLACE))
@pytest.mark.parametrize("view", list(VIEWS))
def test_inplace_through_a_view_rewrites_the_base(view, op):
    def case(lib):
        x = T(lib, NINE, grad=True)
        y = x * 2
        v = VIEWS[view](y)
        INPLACE[op](v)
        (y * T(lib, W9)).sum().backward()
        return y, v, x.grad

    check(case)


@pytest.mark.parametrize("view", ["slice", "t", "diagonal", "chain"])
def test_backward_from_the_view_after_its_inplace_op(view):
    def case(lib):
        x = T(lib, NINE, grad=True)
        y = x * 2
        v = VIEWS[view](y)
        v.mul_(3)
        (v * v).sum().backward()
        return y, v, x.grad

    check(case)


def test_copy_into_a_view_gives_the_source_its_gradient():
    def case(lib):
        x, s = T(lib, [1.0, 2, 3, 4], grad=True), T(lib, [5.0, 6], grad=True)
        y = x * 2
        y[1:3].copy_(s * s)
        (y * T(lib, [1.0, 2, 3, 4])).sum().backward()
        return y, x.grad, s.grad

    check(case)


def test_a_leaf_without_grad_becomes_a_non_leaf_when_a_view_takes_a_value_with_grad():
    def case(lib):
        b, s = T(lib, [0.0, 0, 0, 0]), T(lib, [5.0, 6], grad=True)
        b[1:3].mul_(0).add_(s)
        (b * T(lib, [1.0, 2, 3, 4])).sum().backward()
        return b, s.grad, b.requires_grad, b.is_leaf

    check(case)


def test_an_inplace_op_on_a_view_under_no_grad_writes_the_base():
    def case(lib):
        x = T(lib, [1.0, 2, 3, 4], grad=True)
        y = x * 2
        with no_grad(lib):
            y[1:3].mul_(5)
        y.sum().backward()
        return y, x.grad, y._version

    check(case)


def test_a_view_taken_before_its_base_changed_sees_the_new_value_and_graph():
    def case(lib):
        x = T(lib, [1.0, 2, 3, 4], grad=True)
        y = x * 2
        v = y[1:3]
        y.mul_(3)
        (v * T(lib, [1.0, 2])).sum().backward()
        return v, x.grad

    check(case)


def test_an_overlapping_view_sees_a_write_through_another_view():
    def case(lib):
        x = T(lib, [1.0, 2, 3, 4], grad=True)
        y = x * 2
        w = y[0:2]
        y[1:3].mul_(5)
        (w * T(lib, [1.0, 2])).sum().backward()
        return w, y, x.grad

    check(case)


@pytest.mark.parametrize("op", ["masked_fill_", "index_fill_", "index_add_", "index_copy_", "scatter_"])
def test_indexed_inplace_ops_through_a_view(op):
    def case(lib):
        x, s = T(lib, [1.0, 2, 3, 4, 5], grad=True), T(lib, [7.0, 8.0], grad=True)
        y = x * 2
        v = y[1:4]
        if op == "masked_fill_":
            v.masked_fill_(lib.tensor(np.array([True, False, True])), 0.0)
        elif op == "index_fill_":
            v.index_fill_(0, index(lib, [0, 2]), 9.0)
        elif op == "index_add_":
            v.index_add_(0, index(lib, [2, 0]), s * 3)
        elif op == "index_copy_":
            v.index_copy_(0, index(lib, [2, 0]), s * 3)
        else:
            v.scatter_(0, index(lib, [1, 2]), s * 3)
        (y * T(lib, [1.0, 2, 3, 4, 5])).sum().backward()
        return y, x.grad, s.grad if op in ("index_add_", "index_copy_", "scatter_") else None

    check(case)


def test_versions_are_shared_by_a_base_its_views_and_detach():
    def case(lib):
        x = T(lib, [1.0, 2, 3], grad=True)
        h = x * 1
        v = h[0:2]
        v.add_(1)
        h.mul_(2)
        d = h.detach()
        d.add_(1)
        return h._version, v._version, d._version, h

    check(case)


def test_base_of_views_as_torch():
    def case(lib):
        x = T(lib, [1.0, 2, 3], grad=True)
        y = x * 2
        v = y[1:]
        vv = v.unsqueeze(0)[0:1]
        return v._base is y, vv._base is y, y._base is None, x.detach()._base is None, y.flip(0)._base is None

    check(case)


def test_grad_fn_names_after_an_inplace_op_through_a_view():
    def case(lib):
        x = T(lib, [1.0, 2, 3, 4], grad=True)
        y = x * 2
        v = y[1:3]
        v.mul_(2)
        return y.grad_fn.name(), v.grad_fn.name()

    check(case)


def test_inplace_on_an_expanded_tensor_raises():
    def case(lib):
        y = T(lib, [1.0, 2, 3], grad=True) * 2
        y.expand(2, 3).mul_(2)

    assert "single memory location" in str(check(case))


def test_inplace_on_a_view_of_a_leaf_that_requires_grad_raises():
    def case(lib):
        x = T(lib, [1.0, 2, 3], grad=True)
        x[0:2].mul_(2)

    check(case)


def test_flip_is_a_copy_not_a_view():
    def case(lib):
        x = T(lib, [1.0, 2, 3], grad=True)
        y = x * 2
        y.flip(0).mul_(2)
        y.repeat(1).mul_(2)
        y.sum().backward()
        return y, x.grad

    check(case)


# ---- saved tensors changed in place: torch's version error, and only then ------------------------------

VERSION_CASES = {
    "mul saved, changed": lambda L: (lambda x: (lambda h: (lambda w: (h.add_(1), w.sum().backward(), x.grad))(h * h))(
        x * 1))(T(L, [1.0, 2, 3], grad=True)),
    "exp result, changed": lambda L: (lambda x: (lambda h: (h.add_(1), h.sum().backward(), x.grad))(x.exp()))(
        T(L, [1.0, 2, 3], grad=True)),
    "tanh result, mul_": lambda L: (lambda x: (lambda h: (h.mul_(2), h.sum().backward(), x.grad))(x.tanh()))(
        T(L, [1.0, 2, 3], grad=True)),
    "sigmoid then sigmoid_": lambda L: (lambda x: (lambda h: (h.sigmoid_(), h.sum().backward(), x.grad))(
        x.sigmoid()))(T(L, [1.0, 2, 3], grad=True)),
    "add saves nothing": lambda L: (lambda x: (lambda h: (lambda w: (h.add_(1), w.sum().backward(), x.grad))(h + h))(
        x * 1))(T(L, [1.0, 2, 3], grad=True)),
    "constant factor's partner changed": lambda L: (lambda x: (lambda h: (lambda w: (
        h.add_(1), w.sum().backward(), x.grad))(h * T(L, [1.0, 2, 3])))(x * 1))(T(L, [1.0, 2, 3], grad=True)),
    "constant factor changed": lambda L: (lambda x, c: (lambda w: (c.add_(1), w.sum().backward(), x.grad))(x * c))(
        T(L, [1.0, 2, 3], grad=True), T(L, [1.0, 2, 3])),
    "constant addend changed": lambda L: (lambda x, c: (lambda w: (c.mul_(2), w.sum().backward(), x.grad))(x + c))(
        T(L, [1.0, 2, 3], grad=True), T(L, [1.0, 2, 3])),
    "changed through a view": lambda L: (lambda x: (lambda h: (lambda w: (
        h[0:2].add_(1), w.sum().backward(), x.grad))(h * h))(x * 1))(T(L, [1.0, 2, 3], grad=True)),
    "view saved, base changed": lambda L: (lambda x: (lambda h: (lambda w: (
        h.add_(1), w.sum().backward(), x.grad))(h[0:2] * h[0:2]))(x * 1))(T(L, [1.0, 2, 3], grad=True)),
    "changed through detach": lambda L: (lambda x: (lambda h: (lambda w: (
        h.detach().add_(1), w.sum().backward(), x.grad))(h * h))(x * 1))(T(L, [1.0, 2, 3], grad=True)),
    "changed through .data (untracked)": lambda L: (lambda x: (lambda h: (lambda w: (
        h.data.add_(1), w.sum().backward(), x.grad))(h * h))(x * 1))(T(L, [1.0, 2, 3], grad=True)),
    "matmul saved, changed": lambda L: (lambda x: (lambda h: (lambda w: (
        h.mul_(2), w.sum().backward(), x.grad))(h @ h))(x * 1))(T(L, np.ones((2, 2)), grad=True)),
    "pow saved, zero_": lambda L: (lambda x: (lambda h: (lambda w: (h.zero_(), w.sum().backward(), x.grad))(h ** 2))(
        x * 1))(T(L, [1.0, 2, 3], grad=True)),
}


def _changed_under_no_grad(lib):
    x = T(lib, [1.0, 2, 3], grad=True)
    h = x * 1
    w = h * h
    with no_grad(lib):
        h.add_(1)
    w.sum().backward()
    return x.grad


VERSION_CASES["changed under no_grad"] = _changed_under_no_grad


@pytest.mark.parametrize("name", list(VERSION_CASES))
def test_saved_tensor_changed_in_place(name):
    err = check(VERSION_CASES[name])
    if err is not None:
        assert "modified by an inplace operation" in str(err) and "version" in str(err)


def test_version_error_names_the_node_and_the_versions():
    x = engine.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    h = x * 1
    w = h * h
    h.add_(1)
    h.mul_(2)
    # torch's words: h's current producer (its mul_), not the node that saved it
    with pytest.raises(RuntimeError, match=r"DoubleTensor \[3\]\], which is output 0 of Mul, is at version 2; "
                       r"expected version 0 instead"):
        w.sum().backward()


# ---- backward twice: raises only where a node saved tensors -------------------------------------------

GRAPHS = {
    "mul by a number": lambda L, x: (x * 3).sum(),
    "add": lambda L, x: (x + x).sum(),
    "add a constant": lambda L, x: (x + T(L, [1.0, 1, 1])).sum(),
    "exp": lambda L, x: x.exp().sum(),
    "mul": lambda L, x: (x * x).sum(),
    "mul a constant": lambda L, x: (x * T(L, [1.0, 2, 3])).sum(),
    "matmul": lambda L, x: (x.reshape(1, 3) @ T(L, np.ones((3, 2)))).sum(),
    "slice": lambda L, x: x[1:].sum(),
    "reshape, t": lambda L, x: x.reshape(3, 1).t().sum(),
    "neg": lambda L, x: (-x).sum(),
    "sub a number": lambda L, x: (x - 1).sum(),
    "div by a number": lambda L, x: (x / 2).sum(),
    "square": lambda L, x: (x ** 2).sum(),
    "mean": lambda L, x: x.mean(),
    "relu": lambda L, x: x.relu().sum(),
    "advanced index": lambda L, x: x[[0, 0, 2]].sum(),
    "cat": lambda L, x: L.cat([x, x]).sum(),
    "expand": lambda L, x: x.expand(2, 3).sum(),
}


@pytest.mark.parametrize("retain", [False, True], ids=["plain", "retain_graph first"])
@pytest.mark.parametrize("name", list(GRAPHS))
def test_backward_twice(name, retain):
    def case(lib):
        x = T(lib, [1.0, 2, 3], grad=True)
        b = GRAPHS[name](lib, x)
        b.backward(retain_graph=retain)
        b.backward()
        return x.grad

    err = check(case)
    if err is not None:
        assert "Trying to backward through the graph a second time" in str(err)


def test_retain_graph_mixes():
    def shared(lib, retain_first):
        x = T(lib, [1.0, 2, 3], grad=True)
        y = x.exp()
        a, b = y.sum(), (y * 2).sum()
        a.backward(retain_graph=retain_first)
        b.backward()
        return x.grad

    check(lambda lib: shared(lib, True))
    check(lambda lib: shared(lib, False))

    def grad_twice(lib):
        x = T(lib, [1.0, 2, 3], grad=True)
        b = (x + 1).sum()
        return grad_of(lib)(b, x)[0], grad_of(lib)(b, x)[0]

    check(grad_twice)


def test_next_functions_survive_backward():
    def case(lib):
        x = T(lib, [1.0, 2, 3], grad=True)
        b = x.exp().sum()
        b.backward()
        return [type(f).__name__ for f, _ in b.grad_fn.next_functions]

    check(case)


# ---- hooks, retain_grad and requires_grad_ around in-place ops ---------------------------------------

def test_hook_registered_before_an_inplace_op_sees_the_old_values_gradient():
    def case(lib):
        x = T(lib, [1.0, 2, 3], grad=True)
        y = x * 2
        seen = []
        y.register_hook(lambda g: seen.append(g.clone()))
        y.mul_(3)
        y.register_hook(lambda g: seen.append(g * 10))
        (y * T(lib, [1.0, 2, 3])).sum().backward()
        return x.grad, seen

    check(case)


def test_hook_on_a_base_written_through_a_view():
    def case(lib):
        x = T(lib, [1.0, 2, 3, 4], grad=True)
        y = x * 2
        seen = []
        y.register_hook(lambda g: seen.append(g.clone()))
        y[1:3].mul_(3)
        (y * T(lib, [1.0, 2, 3, 4])).sum().backward()
        return x.grad, seen

    check(case)


@pytest.mark.parametrize("when", ["before", "after"])
def test_retain_grad_on_a_view_and_an_inplace_op(when):
    def case(lib):
        x = T(lib, [1.0, 2, 3, 4], grad=True)
        y = x * 2
        v = y[1:3]
        if when == "before":
            v.retain_grad()
        v.mul_(3)
        if when == "after":
            v.retain_grad()
        (y * T(lib, [1.0, 2, 3, 4])).sum().backward()
        return x.grad, v.grad

    check(case)


def test_retain_grad_on_a_base_follows_its_new_value():
    def case(lib):
        x = T(lib, [1.0, 2, 3], grad=True)
        y = x * 2
        y.retain_grad()
        y.mul_(3)
        (y * T(lib, [1.0, 2, 3])).sum().backward()
        return x.grad, y.grad

    check(case)


def test_requires_grad_after_inplace_ops():
    def case(lib):
        b = T(lib, [1.0, 2, 3])
        v = b[0:2]
        v.mul_(2)
        b.add_(1)
        b.requires_grad_()
        (b * b).sum().backward()
        return b, b.grad, b.is_leaf, b._version

    check(case)
