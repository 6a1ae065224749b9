"""Autograd semantics against torch (session 15, part 2): split/chunk/unbind's outputs may not be modified in
place (torch's multi-output views), unsafe_split's may; a view taken before its base gained grad through another
view catches up; which saved tensors an op checks (1 / h saves 1/h, not h); the version error names the
tensor's current producer; in-place ops on an expanded tensor. Each case runs on torch and on the engine:
values, gradients (float64), exception types and messages must agree."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.functional as engine_F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

X12 = np.arange(1.0, 13.0).reshape(4, 3)


def leaf(lib, a=X12, grad=True):
    return lib.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def F(lib):
    return torch.nn.functional if lib is torch else engine_F


def _plain(v):
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


def check(case, message: bool = True, upto: str | None = None):
    """The case on both: torch's value (compared) or torch's exception, type and (``message``) words, up to
    ``upto`` where given (our hint differs from torch's)."""
    theirs, t_err = _run(case, torch)
    ours, o_err = _run(case, engine)
    if t_err is not None:
        assert o_err is not None, f"torch raised {t_err!r}, ours returned {ours}"
        assert isinstance(o_err, type(t_err)), f"torch raised {t_err!r}, ours {o_err!r}"
        if message:
            t_msg, o_msg = str(t_err), str(o_err)
            if upto is not None:
                t_msg, o_msg = t_msg.split(upto)[0], o_msg.split(upto)[0]
            assert o_msg == t_msg
        return o_err
    assert o_err is None, f"ours raised {o_err!r}, torch returned {theirs}"
    _same(ours, theirs)
    return None


# ---- 1. split/chunk/unbind's outputs: no in-place op on them, nor use after their memory changed ----------

def _y(lib):
    return leaf(lib) * 1


DIRECT = {
    "split": lambda L: _y(L).split(2)[0].add_(1),
    "split of a leaf": lambda L: leaf(L).split(2)[1].mul_(2),
    "chunk": lambda L: _y(L).chunk(2)[1].mul_(2),
    "unbind": lambda L: _y(L).unbind(0)[1].mul_(2),
    "unbind dim 1": lambda L: _y(L).unbind(1)[2].relu_(),
    "split_with_sizes": lambda L: _y(L).split_with_sizes([1, 3])[1].mul_(2),
    "split with a list": lambda L: L.split(_y(L), [3, 1])[1].div_(2),
    "split, one piece": lambda L: _y(L).split(4)[0].mul_(2),
    "zero_": lambda L: _y(L).split(2)[1].zero_(),
    "fill_": lambda L: _y(L).split(2)[1].fill_(3.0),
    "copy_": lambda L: _y(L).split(2)[1].copy_(L.zeros(2, 3, dtype=L.float64)),
    "unsqueeze_": lambda L: _y(L).split(2)[0].unsqueeze_(0),
    "a slice of a piece": lambda L: _y(L).split(2)[0][0:1].mul_(2),
    "a view of a piece": lambda L: _y(L).split(2)[1].view(6).mul_(2),
    "a slice of an unbind piece": lambda L: _y(L).unbind(1)[2][1:].mul_(2),
    "setitem on a piece (an int)": lambda L: _y(L).split(2)[1].__setitem__(0, 5.0),
    "setitem on a piece (a slice)": lambda L: _y(L).split(2)[1].__setitem__(slice(0, 1), 5.0),
    "a piece without grad, a value with grad": lambda L: leaf(L, grad=False).split(2)[0].copy_(
        leaf(L, np.ones((2, 3)))),
    "an unbind piece without grad, add_ with grad": lambda L: leaf(L, grad=False).unbind(0)[0].add_(
        leaf(L, np.ones(3))),
}


@pytest.mark.parametrize("name", DIRECT)
def test_inplace_on_an_output_of_split_raises_torchs_error(name):
    err = check(DIRECT[name])
    assert isinstance(err, RuntimeError) and "returns multiple views" in str(err)


def _base_changed(L):
    y = _y(L)
    a, _ = y.split(2)
    y.mul_(2)
    return a * 1


def _sibling_changed(L):
    y = _y(L)
    _, b = y.split(2)
    y[0].mul_(2)
    return b * 1


def _unbind_base_changed(L):
    y = _y(L)
    b = y.unbind(0)[1]
    y.add_(1)
    return b.sum()


def _changed_under_no_grad(L):
    y = _y(L)
    a, _ = y.split(2)
    with L.no_grad():
        a.mul_(2)
    return (a * 1).sum()


def _grad_fn_after_change(L):
    y = _y(L)
    a, _ = y.split(2)
    y.mul_(2)
    return a.grad_fn.name()


def _view_of_piece_after_change(L):
    y = _y(L)
    v = y.split(2)[0].t()
    y.mul_(2)
    return v.sum()


INDIRECT = {
    "base changed": _base_changed, "another view changed": _sibling_changed, "unbind's base changed":
    _unbind_base_changed, "the piece changed under no_grad": _changed_under_no_grad,
    "grad_fn read": _grad_fn_after_change, "a view of a piece": _view_of_piece_after_change,
}


@pytest.mark.parametrize("name", INDIRECT)
def test_using_an_output_of_split_after_its_memory_changed_raises_torchs_error(name):
    err = check(INDIRECT[name], message=name != "a view of a piece")  # torch names .t()'s node T, ours Transpose
    assert isinstance(err, RuntimeError) and "its base or another view of its base has been modified" in str(err)


def _no_grad_anywhere(L):
    a = leaf(L, grad=False)
    a.split(2)[0].add_(1)
    a.unbind(1)[0].mul_(3)
    return a


def _under_no_grad(L):
    x = leaf(L)
    y = x * 1
    a, _ = y.split(2)
    with L.no_grad():
        a.mul_(2)
    (y * y).sum().backward()
    return y, x.grad


def _split_of_no_grad_in_no_grad(L):
    z = L.zeros(4, 3, dtype=L.float64)
    with L.no_grad():
        z.split(2)[0].add_(1)
    return z


def _detached_piece(L):
    x = leaf(L)
    y = x * 1
    d = y.split(2)[0].detach()
    return d.mul_(2), y


def _tensor_split(L):  # not a multi-output view in torch: in place through it reaches the base
    x = leaf(L)
    y = x * 1
    p = y.tensor_split(2)[1]
    p.mul_(3)
    (y * y).sum().backward()
    return y, x.grad


def _unsafe(fn):
    def case(L):
        x = leaf(L)
        y = x * 1
        a, b = fn(L, y)
        a.mul_(2)  # writes y's memory; y's graph does not see it (torch's unsafe_*)
        (y.sum() + 10 * a.sum() + b.sum()).backward()
        return y, a, x.grad
    return case


def _unsafe_then_base_changed(L):
    x = leaf(L)
    y = x * 1
    a, b = L.unsafe_chunk(y, 2)
    y.mul_(3)  # a and b have versions of their own: no error
    (a * b).sum().backward()
    return x.grad


ALLOWED = {
    "nothing requires grad": _no_grad_anywhere, "under no_grad": _under_no_grad,
    "split made and written in no_grad": _split_of_no_grad_in_no_grad, "a detached piece": _detached_piece,
    "tensor_split": _tensor_split,
    "unsafe_split": _unsafe(lambda L, y: L.unsafe_split(y, 2)),
    "unsafe_chunk": _unsafe(lambda L, y: L.unsafe_chunk(y, 2)),
    "unsafe_split_with_sizes": _unsafe(lambda L, y: L.unsafe_split_with_sizes(y, [1, 3])[:2]),
    "Tensor.unsafe_split": _unsafe(lambda L, y: y.unsafe_split(2)),
    "unsafe pieces, base changed": _unsafe_then_base_changed,
}


@pytest.mark.parametrize("name", ALLOWED)
def test_what_torch_allows_on_split_outputs(name):
    assert check(ALLOWED[name]) is None


GRAD_FN_NAMES = {
    "split": lambda L: _y(L).split(2)[0], "chunk": lambda L: _y(L).chunk(2)[1],
    "split_with_sizes": lambda L: _y(L).split([1, 3])[1], "unbind": lambda L: _y(L).unbind(0)[2],
    "unsafe_split": lambda L: L.unsafe_split(_y(L), 2)[1], "unsafe_chunk": lambda L: L.unsafe_chunk(_y(L), 2)[0],
    "unsafe_split_with_sizes": lambda L: L.unsafe_split_with_sizes(_y(L), [1, 3])[1],
}


@pytest.mark.parametrize("name", GRAD_FN_NAMES)
def test_grad_fn_names_and_bases_of_split_outputs(name):
    assert check(lambda L: [GRAD_FN_NAMES[name](L).grad_fn.name(), GRAD_FN_NAMES[name](L)._is_view()]) is None


def test_split_outputs_still_backpropagate():
    def case(L):
        x = leaf(L)
        a, b = (x * 2).split([1, 3])
        u = (x * 1).unbind(1)
        ((a * a).sum() + b.sum() * 3 + (u[0] * u[2]).sum()).backward()
        return x.grad
    assert check(case) is None


# ---- 2. a view taken before its base gained grad (through another view) catches up ---------------------

def _caught_up(L):
    x = leaf(L, [2.0, 3.0])
    w = L.zeros(3, dtype=L.float64)
    v2 = w[1:]
    w[:2].mul_(1).add_(x)
    o = (v2 * 3).sum()
    flags = [v2.requires_grad, w.requires_grad, o.requires_grad]
    o.backward()
    return flags, x.grad


def _caught_up_with_another_input(L):
    x = leaf(L, [2.0, 3.0])
    w = L.zeros(3, dtype=L.float64)
    v2 = w[1:]
    w[:2].add_(x)
    (v2 * x).sum().backward()
    return x.grad, v2.grad_fn.name()


def _caught_up_grad_fn(L):
    x = leaf(L, [2.0, 3.0, 4.0])
    w = L.zeros(2, 3, dtype=L.float64)
    r = w[1]
    w[0].copy_(x)
    return [r.requires_grad, r.grad_fn.name(), (r * 1).requires_grad]


@pytest.mark.parametrize("case", [_caught_up, _caught_up_with_another_input, _caught_up_grad_fn])
def test_a_view_taken_before_its_base_gained_grad_catches_up(case):
    assert check(case) is None


# ---- 3. which saved tensors an op checks: change h in place after the op, then backward ------------------

OPS = {
    "1 / h": lambda L, h: 1 / h, "3.0 / h": lambda L, h: 3.0 / h, "2 / h (int)": lambda L, h: 2 / h,
    "h.reciprocal()": lambda L, h: h.reciprocal(), "h / 2": lambda L, h: h / 2,
    "h / tensor": lambda L, h: h / L.tensor(2.0, dtype=L.float64), "h ** 2": lambda L, h: h ** 2,
    "2 ** h": lambda L, h: 2 ** h, "h * 3": lambda L, h: h * 3, "h + 1": lambda L, h: h + 1,
    "1 - h": lambda L, h: 1 - h, "h - 1": lambda L, h: h - 1, "-h": lambda L, h: -h,
    "exp": lambda L, h: h.exp(), "exp2": lambda L, h: h.exp2(), "expm1": lambda L, h: h.expm1(),
    "sigmoid": lambda L, h: h.sigmoid(), "tanh": lambda L, h: h.tanh(), "tan": lambda L, h: h.tan(),
    "sqrt": lambda L, h: h.sqrt(), "rsqrt": lambda L, h: h.rsqrt(), "log": lambda L, h: h.log(),
    "log1p": lambda L, h: h.log1p(), "log2": lambda L, h: h.log2(), "relu": lambda L, h: h.relu(),
    "pow(3)": lambda L, h: h.pow(3), "pow(0.5)": lambda L, h: h.pow(0.5), "h ** -1": lambda L, h: h ** -1,
    "abs": lambda L, h: h.abs(), "sin": lambda L, h: h.sin(), "atan": lambda L, h: h.atan(),
    "erf": lambda L, h: h.erf(), "square": lambda L, h: h.square(), "h * h": lambda L, h: h * h,
    "h + h": lambda L, h: h + h, "softmax": lambda L, h: h.softmax(-1), "sum": lambda L, h: h.sum(),
    "gelu": lambda L, h: F(L).gelu(h), "silu": lambda L, h: F(L).silu(h),
    "clamp": lambda L, h: h.clamp(0.5, 2.0), "erfinv": lambda L, h: (h / 4).erfinv(),
}


@pytest.mark.parametrize("name", OPS)
def test_changing_h_in_place_after_an_op_then_backward(name):
    def case(L):
        x = leaf(L, [0.5, 1.5, 2.0, 3.0])
        h = x * 1
        out = OPS[name](L, h)
        h.div_(2)
        out.sum().backward()
        return x.grad
    check(case, upto=" Hint:")


def test_number_over_tensor_is_reciprocal_times_the_number():
    def case(L):
        x = leaf(L, [3.0, 7.0, -0.5, 1e-3])
        y = 3.0 / x
        y.sum().backward()
        return y, x.grad, y.grad_fn.name(), (1 / L.tensor([2, 4])).dtype == L.float32
    assert check(case) is None


# ---- 4. the version error names the saved tensor's current producer -------------------------------------

def _version_case(setup):
    def case(L):
        x = leaf(L, [0.5, 1.5, 2.0, 3.0])
        out = setup(L, x)
        out, _kept = out if isinstance(out, tuple) else (out, None)  # _kept: h alive during backward
        out.sum().backward()
    return case


def _nonleaf(change, keep=False):
    """h = x * 1 saved by log, then changed; ``keep``: h still alive at backward (else only the graph
    remembers what changed it: one in-place op is named right, of several the first only)."""
    def setup(L, x):
        h = x * 1
        o = h.log()
        change(L, h)
        return (o, h) if keep else o
    return setup


def _no_grad_mul(L, h):
    with L.no_grad():
        h.mul_(2)


def _leaf_no_grad(L, x):
    w = x.detach().clone().requires_grad_()
    o = w.log()
    with L.no_grad():
        w.mul_(2)
    return o


def _leaf_without_grad(L, x):
    w = x.detach().clone()
    o = w * (x * 1)
    w.mul_(2)
    return o


def _view_saved(change):
    def setup(L, x):
        h = x * 1
        v = h[1:]
        o = v.log()
        change(h, v)
        return o
    return setup


def _saved_output(change):
    def setup(L, x):
        o = (x * 1).exp()
        change(o)
        return o
    return setup


def _custom(L, x):
    fn = torch.autograd.Function if L is torch else engine.autograd.Function

    class Twice(fn):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    h = Twice.apply(x)
    o = h.log()
    with L.no_grad():
        h.mul_(2)
    return o


VERSION = {
    "mul_": _nonleaf(lambda L, h: h.mul_(2)), "exp_": _nonleaf(lambda L, h: h.exp_()),
    "relu_": _nonleaf(lambda L, h: h.relu_()), "setitem": _nonleaf(lambda L, h: h.__setitem__(0, 3.0)),
    "twice": _nonleaf(lambda L, h: h.add_(1).mul_(2), keep=True), "mul_ under no_grad": _nonleaf(_no_grad_mul),
    "exp_, h alive": _nonleaf(lambda L, h: h.exp_(), keep=True),
    "through a view, h alive": _nonleaf(lambda L, h: h[:2].mul_(2), keep=True),
    "pow_ with a tensor": _nonleaf(lambda L, h: h.pow_(L.tensor(2.0, dtype=L.float64))),
    "clamp_": _nonleaf(lambda L, h: h.clamp_(0, 2)), "through a view": _nonleaf(lambda L, h: h[:2].mul_(2)),
    "detach()": _nonleaf(lambda L, h: h.detach().mul_(2)),
    "a leaf under no_grad": _leaf_no_grad, "a leaf without grad": _leaf_without_grad,
    "a view, base changed": _view_saved(lambda h, v: h.mul_(2)),
    "a view, view changed": _view_saved(lambda h, v: v.mul_(2)),
    "a saved output, mul_": _saved_output(lambda o: o.mul_(2)),
    "a saved output, setitem": _saved_output(lambda o: o.__setitem__(0, 1.0)),
    "a custom Function": _custom,
}


@pytest.mark.parametrize("name", VERSION)
def test_version_error_in_torchs_words(name):
    err = check(_version_case(VERSION[name]), upto=" Hint:")
    assert isinstance(err, RuntimeError) and "modified by an inplace operation" in str(err)


# ---- 5. in-place ops on an expanded tensor ---------------------------------------------------------------

def _expanded(L):
    return L.tensor([1.0, 2.0, 3.0], dtype=L.float64).expand(2, 3)


EXPANDED = {
    "add_": lambda L: _expanded(L).add_(1), "add_ a tensor": lambda L: _expanded(L).add_(L.ones(2, 3).double()),
    "sub_": lambda L: _expanded(L).sub_(1), "mul_": lambda L: _expanded(L).mul_(2),
    "div_": lambda L: _expanded(L).div_(2), "pow_": lambda L: _expanded(L).pow_(2),
    "copy_": lambda L: _expanded(L).copy_(L.ones(2, 3).double()), "relu_": lambda L: _expanded(L).relu_(),
    "clamp_": lambda L: _expanded(L).clamp_(0, 1), "exp_": lambda L: _expanded(L).exp_(),
    "uniform_": lambda L: _expanded(L).uniform_(), "normal_": lambda L: _expanded(L).normal_(),
    "setitem over the shared dim": lambda L: _expanded(L).__setitem__((slice(None), 0), 5.0),
    "expand_as": lambda L: L.tensor([1.0, 2.0]).expand_as(L.ones(3, 2)).add_(1),
    "broadcast_to": lambda L: L.broadcast_to(L.tensor([1.0, 2.0]), (3, 2)).mul_(2),
    "under no_grad, requires grad": lambda L: _under(L, lambda: leaf(L, [1.0, 2.0]).expand(3, 2).add_(1)),
    "in grad mode": lambda L: (leaf(L, [1.0, 2.0]) * 1).expand(3, 2).add_(1),
}


def _under(L, f):
    with L.no_grad():
        return f()


@pytest.mark.parametrize("name", EXPANDED)
def test_inplace_on_an_expanded_tensor_raises_torchs_error(name):
    err = check(EXPANDED[name])
    assert isinstance(err, RuntimeError) and "refers to a single memory location" in str(err)


def _written(op):
    def case(L):
        base = L.tensor([1.0, 2.0, 3.0], dtype=L.float64)
        e = base.expand(2, 3)
        op(e)
        return base, e
    return case


WRITES = {  # torch writes these: every entry gets one value
    "zero_": _written(lambda e: e.zero_()), "fill_": _written(lambda e: e.fill_(2.0)),
    "setitem of a row": _written(lambda e: e.__setitem__(0, 5.0)),
    "same shape add_": lambda L: L.tensor([1.0, 2.0, 3.0]).expand(3).add_(1),
    "size-1 dims add_": lambda L: L.tensor([[1.0, 2.0, 3.0]]).expand(1, 3).add_(1),
}


@pytest.mark.parametrize("name", WRITES)
def test_inplace_writes_torch_allows_on_an_expanded_tensor(name):
    assert check(WRITES[name]) is None
