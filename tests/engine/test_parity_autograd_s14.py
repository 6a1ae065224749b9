"""The autograd engine's user-visible semantics and the Tensor object API, against torch on the same
calls: ``grad_fn`` nodes, ``.grad`` on non-leaves and its assignment checks, hooks, ``backward``'s
arguments, grad modes, and the Python protocols (format, iter, index, ``np.asarray``, copy, pickle)."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import engine  # noqa: E402
from engine import Tensor  # noqa: E402

RNG = np.random.default_rng(14)


def _both(values, requires_grad=False, dtype=np.float64):
    a = np.asarray(values, dtype=dtype)
    return Tensor(a.copy(), requires_grad=requires_grad), torch.tensor(a.copy(), requires_grad=requires_grad)


def _raises_as_torch(ours, theirs, match=None):
    """Run both; torch's exception type is the expected one, and ours is an instance of it."""
    with pytest.raises(Exception) as want:
        theirs()
    with pytest.raises(want.type, match=match):
        ours()


def _warnings(fn) -> list[str]:
    """The UserWarnings ``fn()`` emits, without torch's "(Triggered internally at ...)" tail."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(w.message).split(" (Triggered internally at")[0] for w in caught if w.category is UserWarning]


# ---- Python protocols -------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [".2f", ".3e", "", "8.1f", "+.4g"])
def test_format_of_a_0d_tensor_is_its_numbers_as_torch(spec):
    v = float(RNG.standard_normal())
    x, tx = _both(v, requires_grad=True)
    assert format(x, spec) == format(tx, spec)
    i, ti = Tensor(np.int64(7)), torch.tensor(7)
    assert format(i, "d") == format(ti, "d") and f"{i:>4}" == f"{ti:>4}"


def test_format_spec_on_a_tensor_with_dims_raises_as_torch():
    x, tx = _both([1.5, 2.5])
    _raises_as_torch(lambda: format(x, ".2f"), lambda: format(tx, ".2f"), match="unsupported format string")


def test_iteration_gives_rows_that_backpropagate_and_a_0d_tensor_refuses():
    x, tx = _both(RNG.standard_normal((3, 2)), requires_grad=True)
    rows, trows = list(x), list(tx)
    assert [r.shape for r in rows] == [tuple(r.shape) for r in trows]
    sum(r * (k + 1) for k, r in enumerate(rows)).sum().backward()
    sum(r * (k + 1) for k, r in enumerate(trows)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    s, ts = _both(1.0)
    _raises_as_torch(lambda: iter(s), lambda: iter(ts), match="iteration over a 0-d tensor")


def test_index_takes_int_and_bool_tensors_not_float_as_torch():
    seq = [10, 20, 30]
    for v in (1, True, np.int32(2)):
        assert seq[Tensor(np.asarray(v))] == seq[torch.tensor(np.asarray(v))]
    _raises_as_torch(lambda: seq[Tensor(1.0)], lambda: seq[torch.tensor(1.0)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_np_asarray_gives_the_values_in_their_dtype_as_torch(dtype):
    a = (RNG.standard_normal((2, 3)) * 3).astype(dtype)
    x, tx = Tensor(a.copy()), torch.tensor(a.copy())
    ours, theirs = np.asarray(x), np.asarray(tx)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(np.array(x, dtype=np.float64), np.array(tx, dtype=np.float64))
    np.testing.assert_allclose(x, tx)  # numpy's testing helpers read tensors through __array__


def test_np_asarray_of_a_list_of_0d_tensors_is_numeric():
    vals = RNG.standard_normal(4)
    ours = np.asarray([Tensor(v) for v in vals])
    theirs = np.asarray([torch.tensor(v) for v in vals])
    assert ours.dtype == theirs.dtype == np.float64
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("shape", [(2, 3, 4), (), (3,), (2, 3)])
def test_T_reverses_the_dims_and_warns_off_2d_as_torch(shape):
    # torch warns once per process (TORCH_WARN_ONCE), so its warnings cannot be compared call by call
    a = RNG.standard_normal(shape)
    x, tx = Tensor(a), torch.tensor(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(x.T.numpy(), tx.T.numpy())
    assert len(_warnings(lambda: x.T)) == (len(shape) != 2)


def test_mT_and_H_on_0d_warn_and_t_never_warns_as_torch():
    s, ts = _both(2.0)
    assert len(_warnings(lambda: s.mT)) == len(_warnings(lambda: s.H)) == 1  # torch's: once per process there
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert s.mT.item() == s.H.item() == ts.mT.item() == ts.H.item() == 2.0
    m, tm = _both(RNG.standard_normal((2, 3)))
    assert _warnings(lambda: (m.T, m.t(), m.H, m.mT)) == []
    np.testing.assert_array_equal(m.H.numpy(), tm.H.numpy())
    v, tv = _both([1.0, 2.0])
    assert _warnings(lambda: v.t()) == _warnings(lambda: tv.t()) == []
    _raises_as_torch(lambda: v.H, lambda: tv.H, match="only supported on matrices")


# ---- .grad --------------------------------------------------------------------------------------------------


def test_grad_of_a_non_leaf_is_none_with_torchs_warning_unless_retained():
    x, tx = _both([1.0, 2.0], requires_grad=True)
    y, ty = x * 3, tx * 3
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    assert len(_warnings(lambda: ty.grad)) == 1 and _warnings(lambda: y.grad) == _warnings(lambda: ty.grad)
    assert y.grad is None
    assert _warnings(lambda: x.grad) == []  # a leaf: no warning
    z, tz = x * 2, tx * 2
    z.retain_grad()
    tz.retain_grad()
    assert _warnings(lambda: z.grad) == _warnings(lambda: tz.grad) == []


@pytest.mark.parametrize("value", ["shape", "dtype", "int", "list"])
def test_assigning_a_mismatched_grad_raises_as_torch(value):
    x, tx = _both([1.0, 2.0], requires_grad=True, dtype=np.float32)
    make = {
        "shape": lambda m: m.zeros(3),
        "dtype": lambda m: m.zeros(2, dtype=m.float64),
        "int": lambda m: m.zeros(2, dtype=m.int64),
        "list": lambda m: [1.0, 2.0],
    }[value]

    def ours():
        x.grad = make(engine)

    def theirs():
        tx.grad = make(torch)

    _raises_as_torch(ours, theirs, match="size|dtype|expected to be a Tensor or None")
    assert x.grad is None


def test_assigned_grad_accumulates_as_torch():
    x, tx = _both([1.0, 2.0], requires_grad=True)
    x.grad, tx.grad = Tensor(np.array([1.0, 1.0])), torch.tensor([1.0, 1.0], dtype=torch.float64)
    g, tg = x.grad, tx.grad
    (x * x).sum().backward()
    (tx * tx).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    assert (x.grad is g) == (tx.grad is tg)  # accumulated in place, the same object
    x.grad, tx.grad = None, None
    assert x.grad is None


# ---- grad_fn ----------------------------------------------------------------------------------------------------

GRAD_FN_CASES = {
    "add": lambda t, m: t + 1, "sub": lambda t, m: t - t, "mul": lambda t, m: t * 2, "div": lambda t, m: t / 2,
    "neg": lambda t, m: -t, "exp": lambda t, m: t.exp(), "log": lambda t, m: t.abs().log(),
    "sum": lambda t, m: t.sum(), "mean": lambda t, m: t.mean(), "pow": lambda t, m: t ** 2,
    "view": lambda t, m: t.view(6), "reshape": lambda t, m: t.reshape(3, 2), "mm": lambda t, m: t @ t.mT,
    "select": lambda t, m: t[0], "slice": lambda t, m: t[0:1], "index": lambda t, m: t[[0, 1]],
    "relu": lambda t, m: t.relu(), "tanh": lambda t, m: t.tanh(), "sigmoid": lambda t, m: t.sigmoid(),
    "expand": lambda t, m: t.unsqueeze(0).expand(2, 2, 3),
    "to": lambda t, m: t.to(m.float32), "cat": lambda t, m: m.cat([t, t]), "stack": lambda t, m: m.stack([t, t]),
    "softmax": lambda t, m: t.softmax(-1), "log_softmax": lambda t, m: t.log_softmax(-1),
    "clamp": lambda t, m: t.clamp(-1, 1), "where": lambda t, m: m.where(t > 0, t, 0.0),
    "masked_fill": lambda t, m: t.masked_fill(t > 0, 0.0), "maximum": lambda t, m: m.maximum(t, t * 2),
    "cumsum": lambda t, m: t.cumsum(0), "sqrt": lambda t, m: t.abs().sqrt(),
}


@pytest.mark.parametrize("name", sorted(GRAD_FN_CASES))
def test_grad_fn_is_named_as_torchs_node(name):
    x, tx = _both(RNG.standard_normal((2, 3)), requires_grad=True)
    y, ty = GRAD_FN_CASES[name](x, engine), GRAD_FN_CASES[name](tx, torch)
    assert type(y.grad_fn).__name__ == type(ty.grad_fn).__name__
    assert y.grad_fn.name() == ty.grad_fn.name()
    assert repr(y.grad_fn).startswith(f"<{ty.grad_fn.name()} object at ")


def test_grad_fn_is_none_for_leaves_and_under_no_grad_and_one_object_per_node():
    x, tx = _both([1.0, 2.0], requires_grad=True)
    assert x.grad_fn is None and tx.grad_fn is None
    with engine.no_grad():
        assert (x * 2).grad_fn is None
    y = x * 2
    assert y.grad_fn is y.grad_fn


def test_next_functions_link_to_the_inputs_nodes_as_torch():
    (x, tx), (w, tw) = _both([1.0, 2.0], requires_grad=True), _both([3.0, 4.0])
    y, ty = (x * w).exp(), (tx * tw).exp()
    names = [[type(f).__name__ for f, _ in g.next_functions] for g in (y.grad_fn, ty.grad_fn)]
    assert names[0] == names[1] == ["MulBackward0"]
    mul, tmul = y.grad_fn.next_functions[0][0], ty.grad_fn.next_functions[0][0]
    assert [type(f).__name__ for f, _ in mul.next_functions] == [type(f).__name__ for f, _ in tmul.next_functions]
    assert mul.next_functions[0][0].variable is x and tmul.next_functions[0][0].variable is tx
    assert [i for _, i in mul.next_functions] == [i for _, i in tmul.next_functions] == [0, 0]
    assert mul is y.grad_fn.next_functions[0][0]  # the same node each time it is reached


def test_custom_function_node_is_named_after_the_class_as_torch():
    class Twice(engine.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class TTwice(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x, tx = _both([1.0], requires_grad=True)
    assert Twice.apply(x).grad_fn.name() == "TwiceBackward" and TTwice.apply(tx).grad_fn.name() == "TTwiceBackward"


# ---- copy and pickle ----------------------------------------------------------------------------------------


def test_deepcopy_of_a_leaf_copies_values_flag_and_grad_as_torch():
    x, tx = _both([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (tx * tx).sum().backward()
    y, ty = copy.deepcopy(x), copy.deepcopy(tx)
    assert (y.requires_grad, y.is_leaf, y.grad is x.grad) == (ty.requires_grad, ty.is_leaf, ty.grad is tx.grad)
    np.testing.assert_array_equal(y.grad.numpy(), ty.grad.numpy())
    with engine.no_grad():
        y[0] = 5.0
    assert x.tolist() == [1.0, 2.0]  # its own memory


def test_deepcopy_of_a_non_leaf_raises_as_torch():
    x, tx = _both([1.0, 2.0], requires_grad=True)
    _raises_as_torch(lambda: copy.deepcopy(x * 2), lambda: copy.deepcopy(tx * 2), match="graph leaves")
    d = copy.deepcopy((x * 2).detach())  # detached: fine
    assert d.tolist() == [2.0, 4.0] and not d.requires_grad


def test_pickle_keeps_values_and_flag_drops_grad_and_graph_as_torch():
    x, tx = _both([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (tx * tx).sum().backward()
    for src, tsrc in [(x, tx), (x * 3, tx * 3), (Tensor(np.arange(3)), torch.arange(3))]:
        y, ty = pickle.loads(pickle.dumps(src)), pickle.loads(pickle.dumps(tsrc))
        assert (y.requires_grad, y.is_leaf, y.grad is None) == (ty.requires_grad, ty.is_leaf, ty.grad is None)
        assert y.dtype == ty.detach().numpy().dtype
        np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())


def test_pickle_and_deepcopy_keep_a_subclass_and_its_attributes():
    import nn

    b = nn.Buffer(np.ones(2, dtype=np.float32), persistent=False)
    p = nn.Parameter(np.ones(2, dtype=np.float32))
    for f in (copy.deepcopy, lambda t: pickle.loads(pickle.dumps(t))):
        b2, p2 = f(b), f(p)
        assert type(b2) is nn.Buffer and b2.persistent is False
        assert type(p2) is nn.Parameter and p2.requires_grad


# ---- backward's arguments --------------------------------------------------------------------------------------


def test_backward_with_a_gradient_of_the_wrong_shape_raises_runtime_error_as_torch():
    x, tx = _both([1.0, 2.0, 3.0], requires_grad=True)
    _raises_as_torch(lambda: (x * 2).backward(Tensor(np.ones(2))), lambda: (tx * 2).backward(torch.ones(2)),
                     match="Mismatch in shape")


def test_backward_with_a_float64_gradient_gives_a_float32_leaf_its_own_dtype_as_torch():
    x, tx = _both([1.0, 2.0], requires_grad=True, dtype=np.float32)
    g = RNG.standard_normal(2)
    (x * 2).backward(Tensor(g))
    (tx * 2).backward(torch.tensor(g))
    assert x.grad.dtype == np.float32 and tx.grad.dtype == torch.float32
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_backward_inputs_may_be_non_leaves_and_must_require_grad_as_torch():
    x, tx = _both(RNG.standard_normal(3), requires_grad=True)
    w, tw = x * 2, tx * 2
    (w * w).sum().backward(inputs=[w])
    (tw * tw).sum().backward(inputs=[tw])
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-15)
    assert x.grad is None and tx.grad is None
    c, tc = _both([1.0, 2.0, 3.0])
    _raises_as_torch(lambda: (x * 2).sum().backward(inputs=[c]), lambda: (tx * 2).sum().backward(inputs=[tc]),
                     match="requires_grad=False")
    _raises_as_torch(lambda: engine.autograd.backward((x * 2).sum(), inputs=[c]),
                     lambda: torch.autograd.backward((tx * 2).sum(), inputs=[tc]), match="requires_grad=False")


def test_a_hook_that_changes_the_gradients_dtype_raises_as_torch():
    x, tx = _both([1.0, 2.0], requires_grad=True, dtype=np.float32)
    x.register_hook(lambda g: g.double())
    tx.register_hook(lambda g: g.double())
    _raises_as_torch(lambda: (x * 2).sum().backward(), lambda: (tx * 2).sum().backward(),
                     match="has changed the type of value")


def test_hooks_run_in_order_and_before_post_accumulate_hooks_and_removal_as_torch():
    def run(m, x):
        calls = []
        h1 = x.register_hook(lambda g: calls.append(("a", g.tolist())) or g * 2)
        x.register_hook(lambda g: calls.append(("b", g.tolist())) or g + 1)
        x.register_post_accumulate_grad_hook(lambda t: calls.append(("post", t.grad.tolist())))
        y = x * 3
        y.register_hook(lambda g: calls.append(("y", g.tolist())))
        (y * y).sum().backward()
        h1.remove()
        (x * 1).sum().backward()
        return calls

    x, tx = _both([1.0, 2.0], requires_grad=True)
    assert run(engine, x) == run(torch, tx)


# ---- grad modes -----------------------------------------------------------------------------------------------


def _modes(m):
    out = []
    with m.no_grad():
        out.append(m.is_grad_enabled())
        with m.enable_grad():
            out.append(m.is_grad_enabled())
            with m.set_grad_enabled(False):
                out.append(m.is_grad_enabled())
            with m.inference_mode():
                out.append((m.is_grad_enabled(), m.is_inference_mode_enabled()))
                with m.inference_mode(False):
                    out.append((m.is_grad_enabled(), m.is_inference_mode_enabled()))
            out.append((m.is_grad_enabled(), m.is_inference_mode_enabled()))
    out.append(m.is_grad_enabled())
    return out


def test_grad_modes_nest_as_torch():
    assert _modes(engine) == _modes(torch)


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode", "set_grad_enabled", "bare_inference_mode"])
def test_a_decorated_generator_runs_its_body_in_the_mode_and_the_caller_outside_as_torch(mode):
    def run(m):
        # made lazily: a plain set_grad_enabled(False) call switches the mode off at once (as torch)
        deco = {"no_grad": m.no_grad, "inference_mode": m.inference_mode,
                "set_grad_enabled": lambda: m.set_grad_enabled(False), "bare_inference_mode": lambda: m.inference_mode}[
            mode]()
        x = m.tensor([1.0], requires_grad=True)

        @deco
        def gen(n):
            for _ in range(n):
                got = yield ((x * 2).requires_grad, m.is_grad_enabled())
                assert got is None
            return "done"

        seen = []
        g = gen(2)
        for item in g:
            seen.append((item, m.is_grad_enabled()))
        return seen, m.is_grad_enabled()

    assert run(engine) == run(torch)


def test_inference_mode_works_as_a_decorator_and_context_manager_as_torch():
    def run(m):
        x = m.tensor([1.0], requires_grad=True)

        @m.inference_mode()
        def f():
            return (x * 2).requires_grad, m.is_inference_mode_enabled()

        @m.inference_mode
        def g():
            return (x * 2).requires_grad, m.is_inference_mode_enabled()

        with m.no_grad():
            with m.inference_mode(False):
                h = (x * 2).requires_grad
        return f(), g(), h, m.is_inference_mode_enabled(), m.autograd.inference_mode is m.inference_mode

    assert run(engine) == run(torch)


# ---- requires_grad, detach_, in-place on views ---------------------------------------------------------------------


@pytest.mark.parametrize("case", ["int_attr", "int_method", "int_ctor", "non_leaf_off_attr", "non_leaf_off_method",
                                  "non_leaf_on_attr"])
def test_requires_grad_errors_as_torch(case):
    def run(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        if case == "int_attr":
            m.tensor([1, 2]).requires_grad = True
        elif case == "int_method":
            m.tensor([1, 2]).requires_grad_()
        elif case == "int_ctor":
            m.tensor([1, 2], requires_grad=True)
        elif case == "non_leaf_off_attr":
            (x * 2).requires_grad = False
        elif case == "non_leaf_on_attr":
            (x * 2).requires_grad = True
        else:
            (x * 2).requires_grad_(False)

    _raises_as_torch(lambda: run(engine), lambda: run(torch),
                     match="Only Tensors of floating point|only change requires_grad flags of leaf variables")


def test_requires_grad_set_on_leaves_and_kept_on_non_leaves_as_torch():
    def run(m):
        x = m.tensor([1.0, 2.0])
        x.requires_grad = True
        y = x * 2
        y.requires_grad_(True)  # already: allowed (the attribute form raises on any non-leaf, as below)
        x2 = m.tensor([3.0])
        x2.requires_grad = True
        x2.requires_grad = False
        z = m.tensor([1, 2])
        z.requires_grad = False  # turning it off is fine for any dtype
        return x.requires_grad, y.requires_grad, y.is_leaf, x2.requires_grad, (x2 * 2).requires_grad, z.requires_grad

    assert run(engine) == run(torch)


def test_detach_in_place_cuts_a_non_leaf_and_refuses_a_view_as_torch():
    def run(m):
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        r = y.detach_()
        return r is y, y.requires_grad, y.is_leaf, y.grad_fn is None

    assert run(engine) == run(torch)
    x, tx = _both([1.0, 2.0, 3.0], requires_grad=True)
    _raises_as_torch(lambda: x[:2].detach_(), lambda: tx[:2].detach_(), match="Can't detach views in-place")


@pytest.mark.parametrize("op", ["mul_", "setitem", "zero_", "relu_", "add_"])
@pytest.mark.parametrize("view", ["slice", "view_of_slice", "select"])
def test_in_place_on_a_view_of_a_leaf_that_requires_grad_raises_as_torch(op, view):
    def run(m):
        x = m.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
        v = {"slice": lambda: x[:1], "view_of_slice": lambda: x.view(4)[1:], "select": lambda: x[0]}[view]()
        {"mul_": lambda: v.mul_(2), "setitem": lambda: v.__setitem__(0, 1.0), "zero_": v.zero_,
         "relu_": v.relu_, "add_": lambda: v.add_(1)}[op]()

    _raises_as_torch(lambda: run(engine), lambda: run(torch), match="a view of a leaf Variable")


def test_in_place_on_a_view_of_a_leaf_is_fine_under_no_grad_and_on_a_detached_leaf_as_torch():
    def run(m):
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        with m.no_grad():
            x[:2].mul_(2)
        d = m.tensor([1.0, 2.0, 3.0])
        d[:2].mul_(3)
        return x.tolist(), d.tolist(), x.requires_grad

    assert run(engine) == run(torch)


# ---- size() -------------------------------------------------------------------------------------------------------


def test_size_is_a_tuple_with_numel_as_torch_size():
    a = RNG.standard_normal((2, 3, 4))
    x, tx = Tensor(a), torch.tensor(a)
    s, ts = x.size(), tx.size()
    assert s == ts == x.shape == tuple(ts) and isinstance(s, tuple)
    assert s.numel() == ts.numel() and s[1:].numel() == ts[1:].numel() and Tensor(np.float64(1)).size().numel() == 1
    assert list(s[1:]) == list(ts[1:]) and type(s[1:]) is engine.Size and s[-1] == ts[-1]
    assert repr(s).replace("engine", "torch") == repr(ts)
    assert engine.Size([2, 3, 4]) == s and (s + (5,)) == (ts + (5,))
    assert [x.size(d) for d in range(-3, 3)] == [tx.size(d) for d in range(-3, 3)]
    assert engine.zeros(s).shape == tuple(torch.zeros(ts).shape)
