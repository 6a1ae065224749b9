"""Shape/indexing ops and dtype conversions against torch, from the session-15 OpInfo sweep: 0-d
scatter/index_* ops, masked_fill broadcasting self, bool kept by roll/flip, ``Tensor.to``'s
overloads and ``memory_format``, error types, and the cheap torch names that were missing."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


def pair(a, dtype=np.float64, grad=True):
    a = np.asarray(a, dtype=dtype)
    return Tensor(a.copy(), requires_grad=grad), torch.tensor(a, requires_grad=grad)


def same(ours, theirs, what=""):
    theirs = theirs.detach().numpy()
    ours = ours.numpy()
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs torch {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} vs torch {theirs.dtype}"
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-12, equal_nan=True, err_msg=what)


def idx(values):
    return Tensor(np.asarray(values, dtype=np.int64)), torch.tensor(values, dtype=torch.int64)


# ---- 0-d self in scatter / index_* ------------------------------------------------------------

ZERO_D = {
    "scatter": lambda m, x, s: m.scatter(x, 0, idx(0)[m is torch], s),
    "scatter_1d_index": lambda m, x, s: m.scatter(x, 0, idx([0])[m is torch], s.reshape(1)),
    "scatter_value": lambda m, x, s: m.scatter(x, -1, idx(0)[m is torch], 2.5),
    "scatter_add": lambda m, x, s: m.scatter_add(x, 0, idx(0)[m is torch], s),
    "scatter_add_twice": lambda m, x, s: m.scatter_add(x, 0, idx([0, 0])[m is torch], m.stack([s, 2 * s])),
    "scatter_reduce_sum": lambda m, x, s: m.scatter_reduce(x, 0, idx(0)[m is torch], s, "sum"),
    "scatter_reduce_prod": lambda m, x, s: m.scatter_reduce(x, 0, idx(0)[m is torch], s, "prod"),
    "scatter_reduce_mean": lambda m, x, s: m.scatter_reduce(x, 0, idx(0)[m is torch], s, "mean"),
    "scatter_reduce_amax": lambda m, x, s: m.scatter_reduce(x, 0, idx(0)[m is torch], s, "amax"),
    "scatter_reduce_amin_excl": lambda m, x, s: m.scatter_reduce(x, 0, idx(0)[m is torch], s, "amin",
                                                                   include_self=False),
    "index_add": lambda m, x, s: m.index_add(x, 0, idx([0])[m is torch], s, alpha=3),
    "index_add_0d_index": lambda m, x, s: m.index_add(x, 0, idx(0)[m is torch], s),
    "index_copy": lambda m, x, s: m.index_copy(x, 0, idx([0])[m is torch], s),
    "index_fill": lambda m, x, s: m.index_fill(x, 0, idx([0])[m is torch], -1.5),
    "index_select": lambda m, x, s: m.index_select(x, 0, idx([0])[m is torch]) * s,
    "index_select_0d_index": lambda m, x, s: m.index_select(x, 0, idx(0)[m is torch]) * s,
}


@pytest.mark.parametrize("name", list(ZERO_D))
def test_scatter_and_index_ops_on_a_0d_self_and_their_gradients(name):
    fn = ZERO_D[name]
    (x, tx), (s, ts) = pair(1.25), pair(-2.0)
    out, tout = fn(engine, x, s), fn(torch, tx, ts)
    same(out, tout, name)
    out.backward()
    tout.backward()
    same(x.grad, tx.grad, name + " grad self")
    if ts.grad is None:  # src not used (scatter of a number, index_fill)
        assert s.grad is None, name
    else:
        same(s.grad, ts.grad, name + " grad src")


@pytest.mark.parametrize("name", ["scatter_", "scatter_add_", "index_add_", "index_copy_", "index_fill_"])
def test_inplace_scatter_and_index_ops_on_a_0d_self(name):
    x, tx = Tensor(np.float32(1.5)), torch.tensor(1.5)
    i, ti = idx([0])
    if name == "index_fill_":
        args, targs = (0, i, 4.0), (0, ti, 4.0)
    else:
        args, targs = (0, i, Tensor(np.float32(4.0))), (0, ti, torch.tensor(4.0))
    assert getattr(x, name)(*args) is x
    getattr(tx, name)(*targs)
    same(x, tx, name)


@pytest.mark.parametrize("dtype", [np.int64, np.uint8])
@pytest.mark.parametrize("shape", [(2, 0), (0,), (2, 0, 4)])
def test_gather_with_an_empty_index_of_any_shape_or_dtype_is_empty(shape, dtype):
    x, tx = pair(np.arange(5.0))
    out = engine.gather(x, 0, Tensor(np.zeros(shape, dtype)))
    same(out, torch.gather(tx, 0, torch.from_numpy(np.zeros(shape, dtype))))


def test_gather_and_scatter_reject_a_non_empty_uint8_index_as_torch():
    x, tx = Tensor(np.ones(5, np.float32)), torch.ones(5)
    i = np.zeros(2, np.uint8)
    for fn in (lambda m, a, j: m.gather(a, 0, j), lambda m, a, j: m.scatter(a, 0, j, 2.0)):
        with pytest.raises(RuntimeError) as theirs:
            fn(torch, tx, torch.from_numpy(i))
        with pytest.raises(type(theirs.value), match="int32/int64"):
            fn(engine, x, Tensor(i))


MIXED_0D = {
    "gather_0d_index": lambda m, x, s: m.gather(x, 0, idx(1)[m is torch]) * s,
    "scatter_0d_both": lambda m, x, s: m.scatter(x, 0, idx(1)[m is torch], s),
    "scatter_0d_src": lambda m, x, s: m.scatter(x, 0, idx([2])[m is torch], s),
    "scatter_add_0d_both": lambda m, x, s: m.scatter_add(x, 0, idx(1)[m is torch], s),
    "scatter_reduce_mean_0d_both": lambda m, x, s: m.scatter_reduce(x, 0, idx(1)[m is torch], s, "mean"),
}


@pytest.mark.parametrize("name", list(MIXED_0D))
def test_a_0d_index_or_src_counts_as_one_dim_with_a_1d_self(name):
    fn = MIXED_0D[name]
    (x, tx), (s, ts) = pair([1.0, 2.0, 3.0]), pair(-2.0)
    out, tout = fn(engine, x, s), fn(torch, tx, ts)
    same(out, tout, name)
    g = np.arange(1.0, 1.0 + out.numel()).reshape(out.shape)
    out.backward(Tensor(g))
    tout.backward(torch.tensor(g))
    same(x.grad, tx.grad, name + " grad self")
    same(s.grad, ts.grad, name + " grad src")


# ---- masked_fill / masked_scatter: self broadcast up to the mask -------------------------------

MASKED = {
    "masked_fill": lambda m, x, mask, v: m.masked_fill(x, mask, -1.5),
    "masked_fill_tensor_value": lambda m, x, mask, v: m.masked_fill(x, mask, v.sum()),
    "masked_scatter": lambda m, x, mask, v: m.masked_scatter(x, mask, v),
}


@pytest.mark.parametrize("name", list(MASKED))
@pytest.mark.parametrize("xshape, mshape", [((3,), (2, 3)), ((3, 1), (3,)), ((1, 3), (2, 1)), ((), (2,))])
def test_masked_ops_broadcast_self_up_to_the_mask(name, xshape, mshape):
    fn = MASKED[name]
    rng = np.random.default_rng(0)
    (x, tx), (v, tv) = pair(rng.normal(size=xshape)), pair(rng.normal(size=(12,)))
    mask = np.broadcast_to(rng.random(mshape) > 0.4, mshape).copy()
    out, tout = fn(engine, x, Tensor(mask), v), fn(torch, tx, torch.from_numpy(mask), tv)
    same(out, tout, name)
    g = rng.normal(size=out.shape)
    out.backward(Tensor(g))
    tout.backward(torch.tensor(g))
    same(x.grad, tx.grad, name + " grad self")
    if tv.grad is not None:
        same(v.grad, tv.grad, name + " grad value")


@pytest.mark.parametrize("name", ["masked_fill_", "masked_scatter_"])
def test_inplace_masked_ops_keep_selfs_shape_as_torch(name):
    mask = np.ones((2, 3), bool)
    args = (lambda m: (m.ones(6),)) if name == "masked_scatter_" else (lambda m: (1.0,))
    with pytest.raises(RuntimeError) as theirs:
        getattr(torch.zeros(3), name)(torch.from_numpy(mask), *args(torch))
    with pytest.raises(type(theirs.value), match="shape"):
        getattr(engine.zeros(3), name)(Tensor(mask), *args(engine))


# ---- dtypes kept by no-op movements ------------------------------------------------------------

KEEP_DTYPE = {
    "roll_zero": lambda m, x: m.roll(x, 0, 0),
    "roll_full_period": lambda m, x: m.roll(x, 3, 1),
    "roll_flat_zero": lambda m, x: m.roll(x, 0),
    "roll_0d": lambda m, x: m.roll(x.sum() > 0, 1),
    "flip_no_dims": lambda m, x: m.flip(x, ()),
    "narrow_copy": lambda m, x: x.narrow_copy(1, 1, 2),
    "sum_to_size_0d": lambda m, x: x.sum().bool().sum_to_size(()),
    "sum_to_size_same": lambda m, x: x.sum_to_size(2, 3),
    "sum_to_size_row": lambda m, x: x.sum_to_size(1, 3),
}


@pytest.mark.parametrize("dtype", [np.bool_, np.int32, np.float32])
@pytest.mark.parametrize("name", list(KEEP_DTYPE))
def test_movement_ops_keep_the_dtype_as_torch(name, dtype):
    a = (np.arange(6).reshape(2, 3) % 2).astype(dtype)
    same(KEEP_DTYPE[name](engine, Tensor(a)), KEEP_DTYPE[name](torch, torch.from_numpy(a)), name)


def test_roll_by_zero_still_passes_the_gradient():
    x, tx = pair(np.arange(6.0).reshape(2, 3))
    g = np.arange(6.0).reshape(2, 3) + 1
    engine.roll(x, 0, 0).backward(Tensor(g))
    torch.roll(tx, 0, 0).backward(torch.tensor(g))
    same(x.grad, tx.grad)


# ---- error types -------------------------------------------------------------------------------

ERRORS = {
    "narrow_0d": lambda m: m.narrow(m.tensor(1.0), 0, 0, 1),
    "narrow_copy_0d": lambda m: m.tensor(1.0).narrow_copy(0, 0, 1),
    "narrow_bool_start": lambda m: m.narrow(m.ones(4, 3), -2, m.tensor(True), 1),
    "narrow_float_start": lambda m: m.narrow(m.ones(4, 3), 0, m.tensor(1.0), 1),
    "narrow_1d_start": lambda m: m.narrow(m.ones(4, 3), 0, m.tensor([1]), 1),
    "narrow_python_float_start": lambda m: m.narrow(m.ones(4, 3), 0, 1.0, 1),
    "hsplit_0": lambda m: m.hsplit(m.ones(5, 5, 5), 0),
    "vsplit_0": lambda m: m.vsplit(m.ones(5, 5, 5), 0),
    "dsplit_0": lambda m: m.dsplit(m.ones(5, 5, 5), 0),
    "dsplit_negative": lambda m: m.dsplit(m.ones(5, 5, 5), -1),
    "hsplit_str": lambda m: m.hsplit(m.ones(5, 5), "abc"),
    "hstack_empty": lambda m: m.hstack(()),
    "vstack_empty": lambda m: m.vstack(()),
    "dstack_empty": lambda m: m.dstack(()),
    "column_stack_empty": lambda m: m.column_stack(()),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_bad_shape_arguments_raise_torchs_exception_type(name):
    with pytest.raises(Exception) as theirs:
        ERRORS[name](torch)
    with pytest.raises(type(theirs.value)):
        ERRORS[name](engine)


def test_narrow_takes_a_0d_integer_tensor_start():
    x, tx = pair(np.arange(12.0).reshape(4, 3))
    same(engine.narrow(x, 0, engine.tensor(1), 2), torch.narrow(tx, 0, torch.tensor(1), 2))


# ---- Tensor.to's overloads, memory_format and layout --------------------------------------------

TO_CALLS = {
    "device_dtype_nonblocking_copy": lambda m, x: x.to("cpu", m.float64, False, True),
    "device_none_dtype_copy": lambda m, x: x.to("cpu", None, False, True),
    "dtype_nonblocking_copy": lambda m, x: x.to(m.int32, False, True),
    "dtype_no_copy": lambda m, x: x.to(m.float32, True),
    "other_nonblocking_copy": lambda m, x: x.to(m.zeros(1, dtype=m.float64), False, True),
    "keywords": lambda m, x: x.to(device="cpu", dtype=m.int64, non_blocking=False, copy=True),
    "memory_format_kw": lambda m, x: x.to(m.float64, memory_format=m.preserve_format),
    "channels_last": lambda m, x: x.reshape(1, 2, 3, 1).to("cpu", m.float64, memory_format=m.channels_last),
}


@pytest.mark.parametrize("name", list(TO_CALLS))
def test_tensor_to_takes_every_torch_overload(name):
    a = np.arange(6, dtype=np.float32).reshape(2, 3) / 2
    x, tx = Tensor(a), torch.from_numpy(a.copy())
    out, tout = TO_CALLS[name](engine, x), TO_CALLS[name](torch, tx)
    same(out, tout, name)
    assert (out is x) == (tout is tx), name  # copy=True (or a cast) gives a new tensor, as torch


TO_ERRORS = {
    "five_positional": lambda m, x: x.to("cpu", m.float64, False, True, False),
    "int_flag": lambda m, x: x.to(m.float64, 1),
    "two_dtypes": lambda m, x: x.to(m.float64, m.float32),
    "channels_last_on_2d": lambda m, x: x.to(memory_format=m.channels_last),
    "channels_last_3d_on_2d_clone": lambda m, x: x.clone(memory_format=m.channels_last_3d),
    "channels_last_contiguous": lambda m, x: x.contiguous(memory_format=m.channels_last),
    "channels_last_float": lambda m, x: x.float(memory_format=m.channels_last),
    "channels_last_empty": lambda m, x: m.empty(2, 3, memory_format=m.channels_last),
    "memory_format_on_zeros": lambda m, x: m.zeros(2, memory_format=m.contiguous_format),
}


@pytest.mark.parametrize("name", list(TO_ERRORS))
def test_bad_to_and_memory_format_calls_raise_torchs_exception_type(name):
    with pytest.raises(Exception) as theirs:
        TO_ERRORS[name](torch, torch.ones(2, 3))
    with pytest.raises(type(theirs.value)):
        TO_ERRORS[name](engine, engine.ones(2, 3))


@pytest.mark.parametrize("method", ["clone", "contiguous", "float", "double", "half", "long", "int", "short",
                                    "char", "byte", "bool"])
@pytest.mark.parametrize("fmt", ["contiguous_format", "preserve_format", "channels_last"])
def test_casts_and_copies_take_memory_format_and_keep_the_values(method, fmt):
    a = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4) - 5
    x, tx = Tensor(a), torch.from_numpy(a.copy())
    same(getattr(x, method)(memory_format=getattr(engine, fmt)), getattr(tx, method)(memory_format=getattr(torch, fmt)))


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 1, 4, 5), (2, 3, 1, 1), (0, 3, 4, 5), (2, 3, 4), (2, 3, 4, 5, 6)])
@pytest.mark.parametrize("fmt", ["contiguous_format", "preserve_format", "channels_last", "channels_last_3d"])
@pytest.mark.parametrize("view", ["as_is", "permuted"])
def test_is_contiguous_with_a_memory_format_as_torch_for_the_same_strides(shape, fmt, view):
    a = np.zeros(shape, np.float32)
    x, tx = Tensor(a), torch.from_numpy(a)
    if view == "permuted":  # a channels-last array: NHWC memory seen as NCHW
        if len(shape) not in (4, 5):
            return
        perm = (0, len(shape) - 1, *range(1, len(shape) - 1))
        nhwc = tuple(shape[i] for i in (0, *range(2, len(shape)), 1))
        a = np.zeros(nhwc, np.float32)
        x, tx = Tensor(a).permute(*perm), torch.from_numpy(a).permute(*perm)
    assert x.is_contiguous(memory_format=getattr(engine, fmt)) == tx.is_contiguous(memory_format=getattr(torch, fmt))
    assert x.is_contiguous() == tx.is_contiguous()


def test_layout_strided_is_accepted_by_factories_and_is_the_only_layout():
    for name, args in [("zeros", (2, 3)), ("ones", (2,)), ("empty", (2,)), ("full", ((2,), 1.5)), ("arange", (3,)),
                       ("eye", (2,)), ("linspace", (0, 1, 3))]:
        out = getattr(engine, name)(*args, layout=engine.strided)
        assert out.shape == tuple(getattr(torch, name)(*args, layout=torch.strided).shape), name
    same(engine.zeros_like(engine.ones(2, 3), layout=engine.strided, memory_format=engine.preserve_format),
         torch.zeros_like(torch.ones(2, 3), layout=torch.strided, memory_format=torch.preserve_format))
    assert repr(engine.channels_last) == repr(torch.channels_last) and repr(engine.strided) == repr(torch.strided)
    with pytest.raises(TypeError):
        engine.zeros(2, layout="strided")


# ---- torch names that were missing --------------------------------------------------------------

COMPOSED = {
    "index_put": lambda m, x, i: m.index_put(x, (i,), m.ones(2, 3, dtype=x.dtype) * 2, accumulate=True),
    "put": lambda m, x, i: m.put(x, i, (x[0] * 3)[:2], accumulate=True),
    "fill": lambda m, x, i: m.fill(x, x.sum()),
    "split_with_sizes": lambda m, x, i: m.split_with_sizes(x, [1, 2], 1),
    "narrow_copy": lambda m, x, i: m.narrow_copy(x, 1, 1, 2),
    "unsafe_split": lambda m, x, i: m.unsafe_split(x, 2, 1),
    "unsafe_chunk": lambda m, x, i: m.unsafe_chunk(x, 2, 1),
    "diagflat_method": lambda m, x, i: x.diagflat(1),
    "constant_pad_nd": lambda m, x, i: m.constant_pad_nd(x, (1, 2, 0, 1), 2.5),
    "view_copy": lambda m, x, i: m.view_copy(x, (3, 2)),
    "permute_copy": lambda m, x, i: m.permute_copy(x, (1, 0)),
    "transpose_copy": lambda m, x, i: m.transpose_copy(x, 0, 1),
    "t_copy": lambda m, x, i: m.t_copy(x),
    "squeeze_copy": lambda m, x, i: m.squeeze_copy(x[:1], 0),
    "unsqueeze_copy": lambda m, x, i: m.unsqueeze_copy(x, 1),
    "expand_copy": lambda m, x, i: m.expand_copy(x[:1], (4, 3)),
    "diagonal_copy": lambda m, x, i: m.diagonal_copy(x, 1),
    "unbind_copy": lambda m, x, i: m.unbind_copy(x, 1),
    "unfold_copy": lambda m, x, i: m.unfold_copy(x, 1, 2, 1),
    "split_with_sizes_copy": lambda m, x, i: m.split_with_sizes_copy(x, [2, 1], 1),
    "alias_copy": lambda m, x, i: m.alias_copy(x),
    "real": lambda m, x, i: m.real(x),
    "real_property": lambda m, x, i: x.real,
    "conj_physical": lambda m, x, i: m.conj_physical(x),
}


@pytest.mark.parametrize("name", list(COMPOSED))
def test_composed_torch_names_and_their_gradients(name):
    fn = COMPOSED[name]
    (x, tx), (i, ti) = pair(np.arange(6.0).reshape(2, 3) - 2.5), idx([1, 1])
    out, tout = fn(engine, x, i), fn(torch, tx, ti)
    outs, touts = (out, tout) if isinstance(tout, (tuple, list)) else ((out,), (tout,))
    assert len(outs) == len(touts), name
    rng = np.random.default_rng(1)
    loss, tloss = 0, 0
    for o, t in zip(outs, touts):
        same(o, t, name)
        g = rng.normal(size=o.shape)
        loss, tloss = loss + (o * Tensor(g)).sum(), tloss + (t * torch.tensor(g)).sum()
    loss.backward()
    tloss.backward()
    same(x.grad, tx.grad, name + " grad")


def test_copies_do_not_share_memory_and_real_and_conj_physical_are_the_input():
    x, tx = Tensor(np.zeros((2, 3))), torch.zeros(2, 3, dtype=torch.float64)
    for name in ["view_copy", "alias_copy", "t_copy"]:
        args = ((3, 2),) if name == "view_copy" else ()
        getattr(engine, name)(x, *args).fill_(1.0)
        getattr(torch, name)(tx, *args).fill_(1.0)
        same(x, tx, name)
    assert (engine.real(x) is x) == (torch.real(tx) is tx)
    assert (engine.conj_physical(x) is x) == (torch.conj_physical(tx) is tx)


MISSING_ERRORS = {
    "imag": lambda m: m.imag(m.ones(2)),
    "imag_property": lambda m: m.ones(2).imag,
    "fill_1d_value": lambda m: m.fill(m.ones(2), m.ones(1)),
    "split_with_sizes_bad_sum": lambda m: m.split_with_sizes(m.ones(2, 3), [1, 1], 1),
    "narrow_copy_dim_past_end": lambda m: m.narrow_copy(m.ones(2, 3), 2, 0, 1),
    "narrow_copy_dim_below": lambda m: m.narrow_copy(m.ones(2, 3), -3, 0, 1),
}


@pytest.mark.parametrize("name", list(MISSING_ERRORS))
def test_the_new_names_raise_torchs_exception_types(name):
    with pytest.raises(Exception) as theirs:
        MISSING_ERRORS[name](torch)
    with pytest.raises(type(theirs.value)):
        MISSING_ERRORS[name](engine)
