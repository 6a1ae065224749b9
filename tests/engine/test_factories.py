"""Factories, dtype names, conversions and random sampling under torch's names, compared
with torch where torch is installed; and the TypeError for a non-Tensor where one is needed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from op_specs import DEVICES

import engine
import engine.functional as F
from engine import Tensor

try:
    import torch
except ImportError:  # the torch comparisons skip, the rest runs
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="needs torch")


def torch_dtype(t) -> np.dtype:
    return torch.empty(0, dtype=t.dtype).numpy().dtype


# ---- engine.tensor and friends ------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("data", [1.5, 3, True, [1.0, 2.0], [1, 2], [True, False], [[1, 2.5]], [[1, 2], [3, 4]],
                                  np.array([1.0, 2.0]), np.array([1, 2], np.int32), np.float32(2.0)])
def test_tensor_infers_dtypes_as_torch(data):
    ours, theirs = engine.tensor(data), torch.tensor(data)
    assert ours.dtype == torch_dtype(theirs)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_tensor_copies_and_takes_dtype_device_requires_grad():
    a = np.array([1.0, 2.0])
    t = engine.tensor(a, dtype=engine.float32, device="cpu", requires_grad=True)
    assert t.dtype == np.float32 and t.requires_grad and t.device == "cpu"
    a[0] = 9
    assert engine.tensor(a).numpy()[0] == 9 and engine.tensor(a) is not None
    c = engine.tensor(a)
    a[0] = 7
    assert c.numpy()[0] == 9  # a copy
    u = engine.tensor(c)
    c.data[0] = 5
    assert u.numpy()[0] == 9 and not u.requires_grad
    assert engine.tensor([1, 2], dtype="float64").dtype == np.float64
    assert engine.tensor([1, 2], dtype=engine.long).dtype == np.int64


def test_as_tensor_and_from_numpy_share_memory():
    a = np.arange(3.0)
    t, f = engine.as_tensor(a), engine.from_numpy(a)
    a[1] = 10
    assert t.numpy()[1] == 10 and f.numpy()[1] == 10 and f.dtype == np.float64
    x = engine.tensor([1.0])
    assert engine.as_tensor(x) is x
    assert engine.as_tensor(x, dtype=engine.float64).dtype == np.float64
    with pytest.raises(TypeError, match="numpy"):
        engine.from_numpy([1.0])


# ---- filled factories --------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["zeros", "ones", "empty"])
def test_size_forms_dtype_device_requires_grad(name, device):
    make = getattr(engine, name)
    for t in (make(2, 3, device=device), make((2, 3), device=device), make([2, 3], device=device),
              make(size=(2, 3), device=device)):
        assert t.shape == (2, 3) and t.dtype == np.float32 and t.device == device
    assert make(()).shape == () and make(0).shape == (0,)
    assert make(2, dtype=engine.int64).dtype == np.int64
    assert make(2, dtype="float16").dtype == np.float16
    assert make(2, requires_grad=True).requires_grad
    if name != "empty":
        assert np.all(make(2, 2).numpy() == (name == "ones"))
    with pytest.raises(TypeError):
        make(2.5)


@needs_torch
def test_full_dtype_follows_the_fill_value_as_torch():
    for v in (7, 7.5, True):
        assert engine.full((2,), v).dtype == torch_dtype(torch.full((2,), v))
    assert engine.full((2, 2), 1, dtype=engine.float64).dtype == np.float64
    assert engine.full([3], 2.5).tolist() == [2.5] * 3


def test_like_factories_keep_shape_dtype_device():
    x = Tensor(np.zeros((3, 2), np.float64))
    for make in (engine.zeros_like, engine.ones_like, engine.empty_like, engine.rand_like, engine.randn_like):
        y = make(x)
        assert y.shape == (3, 2) and y.dtype == np.float64
        assert make(x, dtype=engine.float32).dtype == np.float32
    assert engine.full_like(x, 4).tolist() == [[4.0, 4.0]] * 3
    r = engine.randint_like(Tensor(np.zeros(50, np.int64)), 3)
    assert r.dtype == np.int64 and set(r.tolist()) <= {0, 1, 2}
    r = engine.randint_like(x, 5, 7)
    assert r.dtype == np.float64 and set(r.numpy().ravel().tolist()) <= {5.0, 6.0}


def test_new_methods_take_self_dtype_and_device():
    x = Tensor(np.zeros(2, np.int32))
    assert x.new_zeros(2, 3).dtype == np.int32 and x.new_zeros((2, 3)).shape == (2, 3)
    assert x.new_ones(2).tolist() == [1, 1]
    assert x.new_full((2,), 5).tolist() == [5, 5] and x.new_full((2,), 5).dtype == np.int32
    assert x.new_empty(4).shape == (4,)
    assert x.new_tensor([1.0, 2.0]).dtype == np.int32
    assert x.new_zeros(2, dtype=engine.float32).dtype == np.float32


# ---- ranges ------------------------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("args", [(5,), (2, 7), (1, 10, 3), (0.0, 1.0, 0.1), (0, 1, 0.25), (5.0,), (-1, -9, -2),
                                  (0, 0.3, 0.1)])
def test_arange_matches_torch(args):
    ours, theirs = engine.arange(*args), torch.arange(*args)
    assert ours.dtype == torch_dtype(theirs)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert engine.arange(3, dtype=engine.float64).dtype == np.float64


@needs_torch
def test_linspace_logspace_eye_match_torch():
    for args in ((0, 1, 5), (-2.0, 3.0, 7), (1, 1, 1), (0, 1, 0)):
        np.testing.assert_allclose(engine.linspace(*args).numpy(), torch.linspace(*args).numpy(), rtol=1e-6)
        np.testing.assert_allclose(engine.logspace(*args).numpy(), torch.logspace(*args).numpy(), rtol=1e-5)
        assert engine.linspace(*args).dtype == np.float32
    np.testing.assert_allclose(engine.logspace(0, 2, 3, base=2).numpy(), torch.logspace(0, 2, 3, base=2).numpy())
    for args in ((3,), (2, 4), (4, 2)):
        np.testing.assert_array_equal(engine.eye(*args).numpy(), torch.eye(*args).numpy())
    assert engine.eye(2, dtype=engine.int64).dtype == np.int64


# ---- dtype names and conversions -----------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("name", ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool",
                                  "long", "float", "double", "half", "int", "short"])
def test_dtype_names_are_torchs(name):
    assert getattr(engine, name) == torch_dtype(torch.empty(0, dtype=getattr(torch, name)))
    assert engine.zeros(1, dtype=getattr(engine, name)).dtype == getattr(engine, name)
    assert engine.zeros(1, dtype=name).dtype == getattr(engine, name)


def test_conversion_methods():
    x = Tensor(np.array([[1.5, -2.0]], np.float32))
    assert x.dim() == 2 and x.nelement() == 2 and x.element_size() == 4 and x.is_floating_point()
    assert x.long().dtype == np.int64 and x.long().tolist() == [[1, -2]]
    assert x.int().dtype == np.int32 and x.bool().dtype == np.bool_
    assert not x.long().is_floating_point()
    assert x.type_as(Tensor(np.zeros(1))).dtype == np.float64
    assert x.to(engine.float64).dtype == np.float64 and x.to("float16").dtype == np.float16
    assert x.to("cpu", engine.int64).dtype == np.int64
    assert x.to(Tensor(np.zeros(1, np.int32))).dtype == np.int32
    assert x.to(dtype=engine.float64, device="cpu").dtype == np.float64
    assert x.to("cpu") is x and x.to(engine.float32) is x
    with pytest.raises(ValueError, match="device"):
        x.to("tpu")


def test_clone_is_a_differentiable_copy_and_contiguous():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = x.clone()
    assert c.data is not x.data and not np.shares_memory(c.data, x.data)
    (c * c).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    y = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    t = y.T
    assert not t.is_contiguous() and t.contiguous().is_contiguous() and y.contiguous() is y
    np.testing.assert_array_equal(t.contiguous().numpy(), t.numpy())
    (t.contiguous() * 2).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), np.full((2, 3), 2.0))


# ---- random ------------------------------------------------------------------------------------


RANDOM = {
    "rand": lambda **kw: engine.rand(3, 4, **kw),
    "randn": lambda **kw: engine.randn((3, 4), **kw),
    "randint": lambda **kw: engine.randint(0, 10, (3, 4), **kw),
    "randint_high": lambda **kw: engine.randint(10, (3, 4), **kw),
    "randperm": lambda **kw: engine.randperm(12, **kw),
    "normal_size": lambda **kw: engine.normal(2.0, 3.0, (3, 4), **kw),
    "normal_tensors": lambda **kw: engine.normal(engine.zeros(3, 4), engine.ones(4), **kw),
    "bernoulli": lambda **kw: engine.bernoulli(engine.full((3, 4), 0.5), **kw),
    "multinomial": lambda **kw: engine.multinomial(engine.ones(3, 4), 2, **kw),
    "multinomial_replacement": lambda **kw: engine.multinomial(engine.ones(3, 4), 6, True, **kw),
    "uniform_": lambda **kw: engine.empty(3, 4).uniform_(-1, 1, **kw),
    "normal_": lambda **kw: engine.empty(3, 4).normal_(1.0, 2.0, **kw),
    "bernoulli_": lambda **kw: engine.empty(3, 4).bernoulli_(0.3, **kw),
    "rand_like": lambda **kw: engine.rand_like(engine.zeros(3, 4), **kw),
}


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_is_reproducible_under_manual_seed_and_generator(name):
    engine.manual_seed(7)
    a = RANDOM[name]().numpy()
    b = RANDOM[name]().numpy()
    engine.manual_seed(7)
    np.testing.assert_array_equal(RANDOM[name]().numpy(), a)
    assert not np.array_equal(RANDOM[name]().numpy(), a) or np.array_equal(a, b)
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(RANDOM[name](generator=g1).numpy(), RANDOM[name](generator=g2).numpy())


def test_random_distributions_and_dtypes():
    engine.manual_seed(0)
    assert engine.randint(3, 5, (1000,)).dtype == np.int64
    assert set(engine.randint(3, 5, (1000,)).tolist()) == {3, 4}
    p = engine.randperm(10)
    assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(10))
    n = engine.normal(2.0, 0.5, (20000,)).numpy()
    assert n.dtype == np.float32 and abs(n.mean() - 2) < 0.02 and abs(n.std() - 0.5) < 0.02
    m = engine.normal(engine.tensor([0.0, 100.0]), engine.tensor([1e-3, 1e-3])).numpy()
    assert abs(m[0]) < 0.01 and abs(m[1] - 100) < 0.01
    b = engine.bernoulli(engine.tensor([0.0, 1.0, 0.0, 1.0], dtype=engine.float64))
    assert b.dtype == np.float64 and b.tolist() == [0.0, 1.0, 0.0, 1.0]
    u = engine.empty(10000).uniform_(2, 3).numpy()
    assert u.min() >= 2 and u.max() < 3 and abs(u.mean() - 2.5) < 0.02
    assert Tensor(np.full(5000, 0.25)).bernoulli().numpy().mean() == pytest.approx(0.25, abs=0.03)


def test_multinomial_draws():
    engine.manual_seed(1)
    w = engine.tensor([[0.0, 1.0, 0.0, 3.0], [1.0, 1.0, 1.0, 1.0]])
    d = engine.multinomial(w, 2)
    assert d.dtype == np.int64 and d.shape == (2, 2)
    assert sorted(d.tolist()[0]) == [1, 3]  # without replacement: the only two with weight
    assert len(set(d.tolist()[1])) == 2
    many = engine.multinomial(engine.tensor([1.0, 3.0]), 4000, replacement=True).numpy()
    assert abs(many.mean() - 0.75) < 0.03
    assert sorted(engine.multinomial(engine.tensor([1.0, 1.0, 1.0]), 3).tolist()) == [0, 1, 2]
    # torch 2.x draws zero-weight categories last rather than raising (torch gives [0, 1] here too)
    assert engine.multinomial(engine.tensor([1.0, 0.0]), 2).tolist() == [0, 1]
    with pytest.raises(RuntimeError):
        engine.multinomial(engine.tensor([-1.0, 2.0]), 1)


def test_inplace_initialisers_bump_the_version_and_refuse_leaves_that_need_grad():
    x = engine.zeros(3)
    for fn in (lambda t: t.uniform_(), lambda t: t.normal_(), lambda t: t.zero_(), lambda t: t.fill_(2.0),
               lambda t: t.bernoulli_(0.5), lambda t: t.random_(5), lambda t: t.exponential_()):
        v = x._version
        assert fn(x) is x and x._version == v + 1
    w = engine.ones(3, requires_grad=True)
    y = w * w
    with pytest.raises(RuntimeError, match="in-place"):
        w.uniform_()
    with engine.no_grad():
        w.normal_()
    with pytest.raises(RuntimeError, match="modified"):
        y.sum().backward()


# ---- non-Tensor where a Tensor is required --------------------------------------------------------


@pytest.mark.parametrize("bad,kind", [(np.ones((2, 3), np.float32), "numpy.ndarray"), ([[1.0, 2.0, 3.0]], "list"),
                                      (2.0, "float")])
def test_a_non_tensor_input_gets_a_type_error_naming_the_op_and_argument(bad, kind):
    w = engine.ones(4, 3)
    with pytest.raises(TypeError, match=rf"linear: argument 0 must be a Tensor, got {kind}; wrap it with engine"):
        F.linear(bad, w)
    with pytest.raises(TypeError, match=r"linear: argument 1 must be a Tensor"):
        F.linear(engine.ones(2, 3), bad)
    with pytest.raises(TypeError, match=r"softmax: argument 0"):
        F.softmax(bad)


def test_nan_and_inf_fill():
    assert math.isnan(engine.full((1,), math.nan).item()) and engine.full((1,), math.inf).item() == math.inf
