"""torch comparisons for divergences found by a differential sweep of the op set (values, dtypes,
shapes, errors and float64 gradients): reductions, promotion, shape ops, indexing and factories."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import engine  # noqa: E402

NAN, INF = float("nan"), float("inf")


def _as_numpy(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x.numpy())


def _same(ours, theirs):
    """Same values (nan where nan), dtype and shape; tuples element by element."""
    if isinstance(theirs, (tuple, list)):
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            _same(o, t)
        return
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), (ours.dtype, theirs.dtype)
    assert tuple(ours.shape) == tuple(theirs.shape), (ours.shape, theirs.shape)
    np.testing.assert_allclose(_as_numpy(ours), _as_numpy(theirs), rtol=1e-6, atol=1e-12, equal_nan=True)


def _both(fn):
    """fn(lib) on engine and on torch: same result."""
    _same(fn(engine), fn(torch))


def _raises_like(fn):
    """fn(lib) raises on torch, and ours raises the same exception type."""
    with pytest.raises(Exception) as theirs:
        fn(torch)
    with pytest.raises(type(theirs.value)):
        fn(engine)


def _grads(fn, *arrays, seed=0):
    """float64 gradients of fn(lib, *leaves) with a random upstream gradient, ours against torch's."""
    out = {}
    for lib in (engine, torch):
        leaves = [lib.tensor(a, requires_grad=True) for a in arrays]
        y = fn(lib, *leaves)
        up = np.random.default_rng(seed).standard_normal(tuple(y.shape))
        y.backward(lib.tensor(up))
        out[lib] = [None if x.grad is None else _as_numpy(x.grad) for x in leaves]
    for o, t in zip(out[engine], out[torch]):
        assert (o is None) == (t is None), (o, t)  # an unused leaf gets no gradient in both
        if t is not None:
            np.testing.assert_allclose(o, t, rtol=1e-10, atol=1e-12, equal_nan=True)


M = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, -1.0, 5.0], [0.0, 7.0, 7.0, 7.0]])
MN = np.array([[1.0, NAN, 3.0, 0.0], [2.0, 2.0, -1.0, 5.0], [NAN, 7.0, INF, -INF]])


# ---- reductions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin", "std", "var", "nansum"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_an_empty_dim_tuple_reduces_every_dim(op, keepdim):
    _both(lambda lib: getattr(lib, op)(lib.tensor(M), dim=(), keepdim=keepdim))
    _both(lambda lib: getattr(lib.tensor(M), op)((), keepdim))


def test_an_empty_dim_tuple_for_norm_and_count_nonzero():
    _both(lambda lib: lib.tensor(M).norm(dim=()))
    _both(lambda lib: lib.count_nonzero(lib.tensor(M), ()))


@pytest.mark.parametrize("op", ["all", "any"])
def test_all_any_keep_uint8(op):
    x = np.array([[0, 3], [1, 200]], dtype=np.uint8)
    _both(lambda lib: getattr(lib.tensor(x), op)())
    _both(lambda lib: getattr(lib, op)(lib.tensor(x), 1))


def test_median_of_an_empty_tensor_is_nan():
    _both(lambda lib: lib.zeros(0, 3).median())
    _both(lambda lib: lib.zeros(2, 0).nanmedian())


def test_nanmedian_without_dim_splits_the_gradient_among_ties():
    _grads(lambda lib, x: x.nanmedian(), M)
    _grads(lambda lib, x: x.nanmedian(), np.array([2.0, NAN, 2.0, 1.0, 5.0]))


def test_max_min_without_dim_send_the_gradient_to_nan():
    for a in (np.array([1.0, NAN, 2.0]), np.array([NAN, 3.0, NAN])):
        _grads(lambda lib, x: x.max(), a)
        _grads(lambda lib, x: x.min(), a)


@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile_propagates_nan_and_nanquantile_skips_it(interpolation):
    for a in (M, MN):
        for dim in (None, 0, 1):
            _both(lambda lib, a=a, dim=dim: lib.quantile(lib.tensor(a), 0.3, dim=dim, interpolation=interpolation))
            _both(lambda lib, a=a, dim=dim: lib.nanquantile(
                lib.tensor(a), lib.tensor([0.1, 0.5, 1.0], dtype=lib.float64), dim=dim, keepdim=True,
                interpolation=interpolation))
    _both(lambda lib: lib.nanquantile(lib.tensor([[NAN, NAN], [1.0, 2.0]]), 0.5, dim=1))


def test_quantile_of_a_0d_tensor_and_of_an_empty_one():
    _both(lambda lib: lib.quantile(lib.tensor(2.5), lib.tensor([0.2, 0.7]), dim=0, keepdim=True))
    _raises_like(lambda lib: lib.quantile(lib.zeros(0, 3), 0.5, dim=1))


def test_norm_with_a_negative_p_over_zeros():
    _both(lambda lib: lib.tensor(M).norm(-1))
    _both(lambda lib: lib.tensor(M).norm(-2, dim=1))
    _raises_like(lambda lib: lib.zeros(0).norm(-1))


# ---- elementwise and promotion ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "uint8"])
def test_integer_pow_with_negative_tensor_exponents(dtype):
    base = [-3, -1, 0, 1, 2, 3, -1, 1] if dtype != "uint8" else [0, 1, 2, 3, 1, 1, 5, 7]
    exp = [-1, -2, 2, -1, -3, 2, -3, 0]
    _both(lambda lib: lib.tensor(base, dtype=getattr(lib, dtype)) ** lib.tensor(exp))
    _both(lambda lib: lib.tensor([2, -1], dtype=getattr(lib, dtype) if dtype != "uint8" else lib.int8)
          ** lib.tensor(-1, dtype=lib.int8))


def test_pow_by_plus_minus_a_half_at_signed_zero_and_infinities():
    x = [-2.5, -0.0, 0.0, 0.5, INF, -INF, NAN]
    for dtype in ("float32", "float64"):
        for p in (0.5, -0.5):
            _both(lambda lib, p=p, dtype=dtype: lib.tensor(x, dtype=getattr(lib, dtype)) ** p)


@pytest.mark.parametrize("op", ["lt", "le", "eq", "ne", "gt", "ge"])
def test_comparisons_meet_in_the_promoted_dtype(op):
    u8 = [0, 1, 3, 200]
    _both(lambda lib: getattr(lib.tensor(u8, dtype=lib.uint8), op)(lib.tensor(-3)))
    _both(lambda lib: getattr(lib.tensor([0.1, 0.2], dtype=lib.float32), op)(lib.tensor(0.1, dtype=lib.float64)))


def test_comparison_of_float32_with_0d_float64_is_in_float32():
    _both(lambda lib: lib.tensor([0.1, 0.3]) == lib.tensor(0.1, dtype=lib.float64))


def test_digamma_at_signed_zero():
    _both(lambda lib: lib.digamma(lib.tensor([-0.0, 0.0, -1.0, 1.0])))


def test_sign_of_bool():
    _both(lambda lib: lib.tensor([True, False]).sign())
    _both(lambda lib: lib.sgn(lib.tensor([True, False])))


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_xlogy_with_a_python_number_is_float32(dtype):
    x = [0, 1, 1] if dtype == "bool" else [0, 2, -1]
    _both(lambda lib: lib.xlogy(lib.tensor(x, dtype=getattr(lib, dtype)), 2.5))
    _both(lambda lib: lib.xlogy(lib.tensor(x, dtype=getattr(lib, dtype)), 3))


@pytest.mark.parametrize("pair", [("int64", "float32"), ("float64", "float32"), ("bool", "int32"),
                                  ("uint8", "int8"), ("float16", "int64")])
def test_cat_and_stack_promote(pair):
    def parts(lib):
        return [lib.ones(2, 3, dtype=getattr(lib, pair[0])), lib.zeros(2, 3, dtype=getattr(lib, pair[1]))]

    _both(lambda lib: lib.cat(parts(lib), 1))
    _both(lambda lib: lib.stack(parts(lib)))
    _both(lambda lib: lib.hstack(parts(lib)))


def test_cat_skips_1d_empty_tensors_and_promotes_them():
    _both(lambda lib: lib.cat([lib.zeros(0), lib.tensor(np.arange(24.0).reshape(2, 3, 4))], 1))
    _both(lambda lib: lib.cat([lib.zeros(0, dtype=lib.int64), lib.ones(2, 2)]))


def test_cat_gradient_through_promotion():
    _grads(lambda lib, x, y: lib.cat([x.float(), y], 0), M, M[:1].copy())


# ---- indexing, gather/scatter ----------------------------------------------------------------------

A3 = np.arange(24.0).reshape(2, 3, 4)


@pytest.mark.parametrize("name", ["empty list", "nested list", "list of lists", "list with slice", "uint8 mask"])
def test_getitem_reads_lists_and_uint8_masks_as_torch(name):
    def index(lib):
        return {"empty list": [], "nested list": [[0, 1]], "list of lists": [[0, 1], [1, 2]],
                "list with slice": [0, slice(None), [1, 3]],
                "uint8 mask": lib.tensor([1, 0], dtype=lib.uint8)}[name]

    _both(lambda lib: lib.tensor(A3)[index(lib)])
    _grads(lambda lib, x: x[index(lib)] * 2.0, A3)


def test_gather_and_scatter_refuse_negative_indices_as_torch():
    s = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    _raises_like(lambda lib: lib.gather(lib.tensor(s), 1, lib.tensor([[-1]])))
    _raises_like(lambda lib: lib.gather(lib.tensor(s), 1, lib.tensor([[5]])))
    _raises_like(lambda lib: lib.tensor(s).scatter_add(1, lib.tensor([[-1]]), lib.tensor(s)))
    _raises_like(lambda lib: lib.tensor(s).index_select(1, lib.tensor([-1])))
    _raises_like(lambda lib: lib.tensor(5.0).index_select(0, lib.tensor([0, 0])))
    _both(lambda lib: lib.take_along_dim(lib.tensor(s), lib.tensor([[-1], [0]]), 1))  # this one wraps


G = np.array([[0, 0, 2], [1, 0, 1]])
S = np.array([[3.0, 0.0, 2.0], [0.0, 5.0, 4.0]])


@pytest.mark.parametrize("src", [[[0.0, 2.0, 3.0], [1.0, 0.0, 0.0]], [[0.0, 0.0, 3.0], [1.0, 2.0, 0.0]]])
@pytest.mark.parametrize("reduce", ["prod", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_gradients_with_zeros_and_ties(src, reduce, include_self):
    _grads(lambda lib, x, s: lib.scatter_reduce(x, 1, lib.tensor(G), s, reduce, include_self=include_self),
           S, np.array(src))


@pytest.mark.parametrize("reduce", ["mean", "amax", "amin", "prod", "sum"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_on_integers(reduce, include_self):
    _both(lambda lib: lib.scatter_reduce(lib.tensor([[3, -1, 2], [0, 5, 4]]), 1, lib.tensor(G),
                                         lib.tensor([[1, -2, 3], [-4, 5, 7]]), reduce, include_self=include_self))


def test_where_with_only_a_0d_condition():
    _both(lambda lib: lib.where(lib.tensor(True)))
    _both(lambda lib: lib.where(lib.tensor(0.0)))


# ---- factories and shape ops -----------------------------------------------------------------------


@pytest.mark.parametrize("args", [(5, 1), (-3,), (0, 1, -0.5), (1.0, -2.0)])
def test_arange_with_bounds_against_the_step_raises(args):
    _raises_like(lambda lib: lib.arange(*args))


def test_arange_takes_end_as_a_keyword_and_0d_tensors():
    _both(lambda lib: lib.arange(end=5))
    _both(lambda lib: lib.arange(lib.tensor(3)))
    _both(lambda lib: lib.arange(lib.tensor(1), lib.tensor(2.5), 0.5))
    _both(lambda lib: lib.linspace(lib.tensor(0.0), lib.tensor(1.0), 3))


def test_factories_refuse_negative_sizes_as_torch():
    _raises_like(lambda lib: lib.eye(-1))
    _raises_like(lambda lib: lib.logspace(0, 1, -1))


def test_tensor_of_a_list_of_one_element_tensors():
    _both(lambda lib: lib.tensor([lib.tensor([1.0]), lib.tensor(2.0)]))
    _both(lambda lib: lib.tensor([lib.tensor(1, dtype=lib.int32), lib.tensor(2, dtype=lib.int32)]))
    _raises_like(lambda lib: lib.tensor([lib.tensor([1.0, 2.0]), lib.tensor([3.0, 4.0])]))


def test_squeeze_of_a_0d_tensor_checks_the_dim_and_dim_tuple_squeezes_nothing():
    _both(lambda lib: lib.tensor(5.0).squeeze(-1))
    _raises_like(lambda lib: lib.tensor(5.0).squeeze(1))
    _both(lambda lib: lib.zeros(1, 3, 1).squeeze(()))


def test_roll_with_no_dims_rolls_the_flattened_tensor():
    _both(lambda lib: lib.tensor(A3).roll(5, ()))
    _grads(lambda lib, x: x.roll(-3, ()), A3)


def test_repeat_interleave_of_counts_alone():
    _both(lambda lib: lib.repeat_interleave(lib.tensor([2, 0, 3])))
    _both(lambda lib: lib.repeat_interleave(lib.tensor(A3[0]), lib.tensor([1, 0, 2]), dim=0))


def test_argmax_of_an_empty_tensor_and_kthvalue_on_an_empty_dim_raise_index_error():
    _raises_like(lambda lib: lib.zeros(0, 3).argmax())
    _raises_like(lambda lib: lib.zeros(0, 3).argmin())
    _raises_like(lambda lib: lib.zeros(2, 0).kthvalue(1, 1))


# ---- more: in-place casting, sums of small ints, unique, softmax of empty, matmul errors -------------


@pytest.mark.parametrize("case", [("int64", "add_", 2.5), ("int32", "mul_", 1.5), ("int64", "div_", 2),
                                  ("bool", "add_", 2), ("bool", "mul_", 2.5)])
def test_in_place_ops_refuse_a_result_type_that_does_not_cast(case):
    dtype, op, v = case
    _raises_like(lambda lib: getattr(lib.tensor([1, 0, 3], dtype=getattr(lib, dtype)), op)(v))


def test_in_place_ops_that_cast_are_fine():
    def f(lib):
        x = lib.tensor([1.0, 0.0, 3.0])
        x.add_(2).mul_(True).div_(2)
        x += lib.tensor([1, 2, 3])
        return x

    _both(f)


@pytest.mark.parametrize("dtype", ["int32", "int16", "int8", "uint8", "bool"])
def test_sum_and_prod_with_a_small_int_dtype_keep_it(dtype):
    _both(lambda lib: lib.tensor([[1, 0], [1, 1]], dtype=getattr(lib, dtype)).sum(dtype=getattr(lib, dtype)))
    _both(lambda lib: lib.tensor([[1, 0], [1, 1]]).prod(0, dtype=getattr(lib, dtype)))


def test_item_of_several_elements_raises_runtime_error():
    _raises_like(lambda lib: lib.tensor([1, 2]).item())


def test_unique_keeps_every_nan():
    _both(lambda lib: lib.tensor([3.0, NAN, 1.0, NAN]).unique())
    _both(lambda lib: lib.unique(lib.tensor([3.0, NAN, 1.0, NAN, 3.0]), return_counts=True))


def test_softmax_of_an_empty_tensor():
    _both(lambda lib: lib.zeros(0, 3).softmax(0))
    _both(lambda lib: lib.zeros(2, 0).log_softmax(1))


def test_matmul_shape_errors_are_runtime_errors():
    _raises_like(lambda lib: lib.matmul(lib.tensor(1.0), lib.ones(2)))
    _raises_like(lambda lib: lib.matmul(lib.ones(2, 3), lib.ones(2, 3)))


@pytest.mark.parametrize("args", [(0.5, 5.5, 1.5), (1.5, 7.9, 2.5), (-3.7, 4.2, 1.1), (5.5, -2.2, -1.5),
                                  (0, 10, 2.5), (-0.5, 3, 0.7)])
@pytest.mark.parametrize("dtype", ["int64", "int32", "int16", "float64"])
def test_arange_with_float_bounds_and_an_integer_dtype(args, dtype):
    if dtype == "int64" and args == (-0.5, 3, 0.7):  # the step truncates to 0
        _raises_like(lambda lib: lib.arange(*args, dtype=getattr(lib, dtype)))
        return
    _both(lambda lib: lib.arange(*args, dtype=getattr(lib, dtype)))


def test_errors_of_int_requires_grad_and_0d_unbind_and_chunk():
    _raises_like(lambda lib: lib.tensor([1, 2], requires_grad=True))
    _raises_like(lambda lib: lib.zeros(2, dtype=lib.int64, requires_grad=True))
    _raises_like(lambda lib: lib.tensor(1.0).unbind())
    _raises_like(lambda lib: lib.tensor(1.0).chunk(1))


# ---- in-place ops on tensors in the graph (recorded as torch does) ---------------------------------

_SET_INDEX = {
    "int": (lambda lib: 1, (4,)), "slice": (lambda lib: (slice(None), slice(1, 3)), (3, 1)),
    "adv": (lambda lib: lib.tensor([0, 2]), (4,)),
    "adv dup": (lambda lib: (lib.tensor([0, 0, 1]), lib.tensor([1, 1, 2])), (3,)),
    "mask": (lambda lib: lib.tensor(M > 2), ()), "row mask": (lambda lib: lib.tensor([True, False, True]), (1, 4)),
    "ellipsis": (lambda lib: (Ellipsis, 2), (3,)), "int adv": (lambda lib: (1, lib.tensor([0, 3])), (2,)),
}


@pytest.mark.parametrize("name", list(_SET_INDEX))
@pytest.mark.parametrize("fresh", [False, True])
def test_setitem_gradients_as_torch(name, fresh):
    index, vshape = _SET_INDEX[name]

    def f(lib, x, v):
        y = lib.zeros(3, 4, dtype=lib.float64) if fresh else x * 2
        before = y.exp()  # used before the write: keeps its own gradient
        y[index(lib)] = v
        return y * y + before

    _grads(f, M, np.arange(1.0, 1.0 + np.prod(vshape)).reshape(vshape))


def test_setitem_of_numbers_into_a_non_leaf():
    def f(lib, x):
        y = x * 1
        y[0, 1] = 5.0
        y[y.detach() > 4] = 0.0
        return y * x

    _grads(f, M)


def test_setitem_on_a_leaf_that_requires_grad_still_raises():
    _raises_like(lambda lib: lib.tensor([1.0, 2.0], requires_grad=True).__setitem__(0, 1.0))


@pytest.mark.parametrize("op", ["add_", "sub_", "mul_", "div_"])
def test_in_place_arithmetic_on_non_leaves_is_recorded(op):
    _grads(lambda lib, x, v: getattr(x * 1, op)(v) * x, M, M[0] + 1)
    _grads(lambda lib, x: getattr(x * 1, op)(2.5) * x, M)

    def into_plain(lib, x, v):
        y = lib.ones(3, 4, dtype=lib.float64)
        getattr(y, op)(v)
        return y * 2

    _grads(into_plain, M, M + 1)


@pytest.mark.parametrize("op", ["clamp_", "relu_", "exp_", "sigmoid_", "abs_", "tanh_"])
def test_in_place_unary_ops_on_non_leaves_are_recorded(op):
    _grads(lambda lib, x: getattr(x * 1, op)() if op != "clamp_" else (x * 1).clamp_(0, 3), M)
