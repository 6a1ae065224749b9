"""Indexing as torch: values, shapes and gradients of ``x[...]``, ``x[...] = v``, index_put(_),
compared with torch on the same keys (advanced-index placement, masks, None, several Ellipses,
negative indices inside index tensors, NumPy arrays and lists as indices)."""

from __future__ import annotations

import numpy as np
import pytest

from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

E = Ellipsis
X = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5) / 7
MASK = (X[:, :, 0, 0] * 7 % 3) != 1  # (2, 3) bool

KEYS = [
    (1, slice(None), [0, -1]),  # an int and a list: torch puts the list's dim where the int was
    (1, slice(None), np.array([[0, 2], [-1, 1]])),  # 2-d index array, negative entry
    (slice(None), [0, 1], slice(None), [1, -2]),  # separated advanced indices go first
    (slice(None), [0, 1], [1, 2]),  # adjacent ones stay in place
    ([1, 0], slice(None), 2),  # an int after the array
    (0, 1, [3, 3, 0]),  # repeated entries (gradient sums)
    (None, 1, E, None, [2]),
    (MASK,),
    (MASK, 1),
    (E, np.array([True, False, True, True, False])),
    (E, 0, E),  # torch accepts a second ...; it spans nothing here
    (0, E, 1, E),
    (E, E),
    (np.int64(1), -1),
    (slice(None, None, 2), slice(1, None), np.array([0, -1])),
    ([[0], [1]], [[0, 1, 2]]),  # broadcast index arrays
    (True,),
    (None,),
]


def _torch_key(key):
    key = key if isinstance(key, tuple) else (key,)
    return tuple(torch.as_tensor(k) if isinstance(k, np.ndarray) else k for k in key)


@pytest.mark.parametrize("key", KEYS, ids=[str(i) for i in range(len(KEYS))])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_getitem_matches_torch_in_value_shape_and_gradient(key, as_tensor):
    ours_key = tuple(Tensor(k) if as_tensor and isinstance(k, np.ndarray) else k for k in key)
    x, tx = Tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
    y, ty = x[ours_key], tx[_torch_key(key)]
    assert y.shape == tuple(ty.shape)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    g = np.random.default_rng(0).standard_normal(y.shape)
    y.backward(Tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_placement_example_from_the_issue():
    x = Tensor(np.zeros((2, 3, 4)))
    assert x[1, :, [0, 1]].shape == (3, 2) == tuple(torch.zeros(2, 3, 4)[1, :, [0, 1]].shape)


@pytest.mark.parametrize("key", [(E, E, 0), (E, 0, E, 0), (E, E, None)])
def test_a_second_ellipsis_past_the_last_dim_is_an_index_error_as_in_torch(key):
    with pytest.raises(IndexError):
        torch.zeros(2, 3, 4)[key]
    with pytest.raises(IndexError):
        Tensor(np.zeros((2, 3, 4)))[key]


@pytest.mark.parametrize("key,dim,size", [((5,), 0, 2), ((slice(None), [0, 3]), 1, 3), ((0, 1, -6), 2, 4),
                                          ((slice(None), slice(None), np.array([4])), 2, 4)])
def test_out_of_range_index_is_an_index_error_naming_the_dim_and_size(key, dim, size):
    with pytest.raises(IndexError):
        torch.zeros(2, 3, 4)[_torch_key(key)]
    with pytest.raises(IndexError, match=rf"(axis|dim\w*) {dim} with size {size}"):
        Tensor(np.zeros((2, 3, 4)))[key]


SET_CASES = [
    ((slice(None), 0), np.array([1.0, 2.0, 3.0, 4.0, 5.0])),  # broadcast over dim 0 and 1
    ((1, slice(None), [0, 2]), np.arange(10.0).reshape(2, 5)),  # broadcast over dim 1 (torch's placement)
    ((MASK,), np.array(-1.0)),
    ((MASK,), np.arange(5.0)),
    ((E, np.array([-1, 0])), np.array([[9.0], [8.0], [7.0], [6.0]])),
    ((E, 0, E), 3.5),
]


@pytest.mark.parametrize("key,value", SET_CASES, ids=[str(i) for i in range(len(SET_CASES))])
def test_setitem_broadcasts_and_places_as_torch(key, value):
    x, tx = Tensor(X.copy()), torch.tensor(X.copy())
    x[key] = Tensor(value) if isinstance(value, np.ndarray) else value
    tx[_torch_key(key)] = torch.as_tensor(value) if isinstance(value, np.ndarray) else value
    np.testing.assert_array_equal(x.numpy(), tx.numpy())


PUT_CASES = [
    ((np.array([0, 2, -1]),), np.ones(4)),
    ((np.array([0, 0, 1]), np.array([1, 1, -2])), np.array([1.0, 2.0, 3.0])),  # repeats: accumulate sums
    ((np.arange(12).reshape(3, 4) % 5 > 1,), np.array(7.0)),  # a bool mask, a 0-d value broadcast
    ((np.array([[0], [2]]), np.array([1, 3])), np.array([[1.0, 2.0], [3.0, 4.0]])),
]


@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("indices,values", PUT_CASES, ids=[str(i) for i in range(len(PUT_CASES))])
def test_index_put_values_and_gradients_match_torch(indices, values, accumulate):
    if not accumulate and len(indices) == 2 and indices[0].shape == (3,):
        return  # repeated positions without accumulate: which write wins is unspecified in torch
    x0 = np.arange(12.0).reshape(3, 4)
    x, v = Tensor(x0, requires_grad=True), Tensor(values, requires_grad=True)
    tx, tv = torch.tensor(x0, requires_grad=True), torch.tensor(values, requires_grad=True)
    ti = tuple(torch.as_tensor(i) for i in indices)
    y = x.index_put(tuple(Tensor(i) for i in indices), v, accumulate=accumulate)
    ty = tx.index_put(ti, tv, accumulate=accumulate)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    g = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(Tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(v.grad.numpy(), tv.grad.numpy(), rtol=1e-12)
    # in place, with NumPy arrays as the indices
    z = Tensor(x0.copy())
    assert z.index_put_(indices, Tensor(values), accumulate=accumulate) is z
    np.testing.assert_array_equal(z.numpy(), torch.tensor(x0).index_put_(ti, torch.tensor(values), accumulate)
                                  .numpy())


def test_index_put_errors():
    x = Tensor(np.zeros((3, 4)))
    with pytest.raises(IndexError, match=r"index_put.*5.*size 3"):
        x.index_put((np.array([5]),), Tensor(1.0))
    with pytest.raises(IndexError, match="index_put"):
        x.index_put((np.array([0.5]),), Tensor(1.0))
    with pytest.raises(RuntimeError, match=r"index_put.*\(3,\).*\(2, 4\)"):
        x.index_put((np.array([0, 1]),), Tensor(np.ones(3)))
    with pytest.raises(TypeError, match="index_put"):
        x.index_put(np.array([0]), Tensor(1.0))
    leaf = Tensor(np.zeros(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        leaf.index_put_((np.array([0]),), Tensor(1.0))
