"""Sparse gradients (session 18): ``F.embedding(..., sparse=True)``, ``nn.Embedding(sparse=True)``,
``F.embedding_bag`` / ``nn.EmbeddingBag(sparse=True)`` leave a sparse COO tensor in ``weight.grad``
(engine/sparse.py), compared with torch 2.13: its layout, uncoalesced indices and values, ``coalesce``,
``to_dense``, accumulation, ``zero_grad``; SparseAdam, SGD and Adagrad stepping it (Adagrad and
SparseAdam bit for bit in float64), the other optimizers' refusals, clip_grad_norm_'s refusal (torch
2.13 has no sparse norm kernel) and ``sparse_coo_tensor``.

Bit for bit: the gradients and their accumulation, torch's coalesce where its sort keeps repeats in
order (16 entries or fewer), SGD, and Adagrad's sparse rule (a fused multiply-add per entry) where the
square roots are exact. torch's float64 sqrt (MKL's) is not correctly rounded (sqrt(7.232470174908294)
is 2.689325226689456, one ulp below the rounded root NumPy returns), so Adagrad's and SparseAdam's
trajectories are compared to a few ulps.

The losses are linear in the looked-up rows (sum(e * c)), so the gradient values are exactly c's on both
sides and any difference comes from the sparse machinery or the optimizer."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import engine
import engine.functional as F
import nn
from engine.sparse import fma

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(1818)
W = RNG.standard_normal((7, 3))


def _pair(w=W):
    return torch.nn.Parameter(torch.tensor(w)), nn.Parameter(engine.tensor(w))


def _same_sparse(o, t, exact=True):
    """Our sparse gradient against torch's: layout, size, uncoalesced indices, values."""
    assert o.is_sparse and t.is_sparse and str(o.layout) == str(t.layout) == "torch.sparse_coo"
    assert tuple(o.shape) == tuple(t.shape) and o._nnz() == t._nnz()
    assert o.is_coalesced() == t.is_coalesced()
    np.testing.assert_array_equal(o._indices().numpy(), t._indices().numpy())
    if exact:
        np.testing.assert_array_equal(o._values().numpy(), t._values().numpy())
    else:
        np.testing.assert_allclose(o._values().numpy(), t._values().numpy(), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("ids", [[[1, 3, 1], [0, 3, 4]], [2, 2, 2, 6], 5, []])
@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 3}, {"padding_idx": -1}, {"max_norm": 1.0},
                                    {"max_norm": 0.7, "norm_type": 1.0, "padding_idx": 1}])
def test_embedding_sparse_grad_as_torch(ids, kwargs):
    if np.ndim(ids) == 0 and "padding_idx" in kwargs:
        pytest.skip("torch 2.13's own sparse backward raises IndexError for 0-d ids with a padding_idx")
    tw, ow = _pair()
    c = RNG.standard_normal(np.shape(ids) + (3,))
    (TF.embedding(torch.tensor(ids, dtype=torch.long), tw, sparse=True, **kwargs) * torch.tensor(c)).sum().backward()
    (F.embedding(engine.tensor(ids, dtype=engine.int64), ow, sparse=True, **kwargs) * engine.tensor(c)).sum().backward()
    np.testing.assert_array_equal(ow.detach().numpy(), tw.detach().numpy())  # max_norm renormalised in place
    o, t = ow.grad, tw.grad
    _same_sparse(o, t)
    assert o.dtype == engine.float64 and o.sparse_dim() == t.sparse_dim() == 1 and o.dense_dim() == t.dense_dim()
    np.testing.assert_array_equal(o.to_dense().numpy(), t.to_dense().numpy())
    oc, tc = o.coalesce(), t.coalesce()
    assert oc.is_coalesced() and tc.is_coalesced()
    np.testing.assert_array_equal(oc.indices().numpy(), tc.indices().numpy())
    np.testing.assert_array_equal(oc.values().numpy(), tc.values().numpy())


def test_indices_and_values_need_coalesced_as_torch():
    tw, ow = _pair()
    TF.embedding(torch.tensor([1, 1]), tw, sparse=True).sum().backward()
    F.embedding(engine.tensor([1, 1]), ow, sparse=True).sum().backward()
    for name in ("indices", "values"):
        with pytest.raises(RuntimeError, match="uncoalesced") as ours:
            getattr(ow.grad, name)()
        with pytest.raises(RuntimeError) as theirs:
            getattr(tw.grad, name)()
        assert str(ours.value).split(",")[0] == str(theirs.value).split(",")[0]


@pytest.mark.parametrize("n", [16, 200])
def test_coalesce_sums_many_repeats_as_torch(n):
    """Coalescing adds a row's repeats in their order (to_dense too), as torch's CPU kernels: bit for bit
    up to 16 entries; beyond, torch's unstable sort may take the repeats in another order."""
    rng = np.random.default_rng(n)
    ids = rng.integers(0, 4, n)
    c = rng.standard_normal((n, 3)) * 10.0 ** rng.integers(-8, 8, (n, 1))
    tw, ow = _pair(W[:4])
    (TF.embedding(torch.tensor(ids), tw, sparse=True) * torch.tensor(c)).sum().backward()
    (F.embedding(engine.tensor(ids), ow, sparse=True) * engine.tensor(c)).sum().backward()
    np.testing.assert_array_equal(ow.grad.to_dense().numpy(), tw.grad.to_dense().numpy())
    np.testing.assert_array_equal(ow.grad.coalesce().indices().numpy(), tw.grad.coalesce().indices().numpy())
    o, t = ow.grad.coalesce().values().numpy(), tw.grad.coalesce().values().numpy()
    if n <= 16:
        np.testing.assert_array_equal(o, t)
    else:
        np.testing.assert_allclose(o, t, rtol=1e-14, atol=1e-6)  # sums of terms up to 1e8


def test_accumulation_concatenates_as_torch():
    """Two backward calls: the entries side by side (torch's accumulation of .sum().backward()'s sparse
    gradients, whose values are an expanded tensor)."""
    tw, ow = _pair()
    for ids in ([[1, 3, 1], [0, 3, 4]], [1, 6, 1]):
        TF.embedding(torch.tensor(ids), tw, sparse=True).sum().backward()
        F.embedding(engine.tensor(ids), ow, sparse=True).sum().backward()
    _same_sparse(ow.grad, tw.grad)
    assert ow.grad._nnz() == 9


def test_accumulation_equal_as_dense_when_torch_merges():
    """With contiguous values torch's CPU add merges the two lists; ours puts them side by side: the
    same tensor (coalesced, and dense)."""
    tw, ow = _pair()
    for ids in ([[1, 3, 1], [0, 3, 4]], [1, 6, 1]):
        c = RNG.standard_normal(np.shape(ids) + (3,))
        (TF.embedding(torch.tensor(ids), tw, sparse=True) * torch.tensor(c)).sum().backward()
        (F.embedding(engine.tensor(ids), ow, sparse=True) * engine.tensor(c)).sum().backward()
    assert ow.grad.is_sparse and tw.grad.is_sparse
    oc, tc = ow.grad.coalesce(), tw.grad.coalesce()
    np.testing.assert_array_equal(oc.indices().numpy(), tc.indices().numpy())
    np.testing.assert_allclose(oc.values().numpy(), tc.values().numpy(), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("order", ["together", "dense first", "sparse first"])
def test_dense_and_sparse_gradients_sum_to_dense_as_torch(order):
    tw, ow = _pair()
    ids = [[1, 3, 1], [0, 3, 4]]

    def sparse_part(lib, fn, w):
        return fn(lib.tensor(ids), w, sparse=True).sum()

    def dense_part(w):
        return (w * 2.0).sum()

    for lib, fn, w in ((torch, TF.embedding, tw), (engine, F.embedding, ow)):
        if order == "together":
            (sparse_part(lib, fn, w) + dense_part(w)).backward()
        elif order == "dense first":
            dense_part(w).backward()
            sparse_part(lib, fn, w).backward()
        else:
            sparse_part(lib, fn, w).backward()
            dense_part(w).backward()
    assert not tw.grad.is_sparse and not ow.grad.is_sparse
    np.testing.assert_array_equal(ow.grad.numpy(), tw.grad.numpy())


def test_scale_grad_by_freq_with_sparse_raises_at_backward_as_torch():
    tw, ow = _pair()
    t_out = TF.embedding(torch.tensor([1, 1]), tw, scale_grad_by_freq=True, sparse=True)  # the forward runs
    o_out = F.embedding(engine.tensor([1, 1]), ow, scale_grad_by_freq=True, sparse=True)
    np.testing.assert_array_equal(o_out.detach().numpy(), t_out.detach().numpy())
    with pytest.raises(RuntimeError) as theirs:
        t_out.sum().backward()
    with pytest.raises(RuntimeError) as ours:
        o_out.sum().backward()
    assert str(ours.value) == str(theirs.value)


def test_autograd_grad_and_hooks_see_the_sparse_gradient_as_torch():
    tw, ow = _pair()
    ids = [4, 0, 4]
    (tg,) = torch.autograd.grad(TF.embedding(torch.tensor(ids), tw, sparse=True).sum(), tw)
    (og,) = engine.autograd.grad(F.embedding(engine.tensor(ids), ow, sparse=True).sum(), ow)
    _same_sparse(og, tg)
    seen = {}

    def hook(name):
        def record(g):
            seen[name] = g.is_sparse
        return record

    tw.register_hook(hook("torch"))
    ow.register_hook(hook("ours"))
    TF.embedding(torch.tensor(ids), tw, sparse=True).sum().backward()
    F.embedding(engine.tensor(ids), ow, sparse=True).sum().backward()
    assert seen == {"torch": True, "ours": True}


def test_a_computed_weight_gets_the_same_values():
    """torch keeps the gradient sparse through a few ops before a non-leaf weight; ours makes it dense
    there (engine/sparse.py): the values agree."""
    tw, ow = _pair()
    c = RNG.standard_normal((2, 3, 3))
    ids = [[1, 3, 1], [0, 3, 4]]
    (TF.embedding(torch.tensor(ids), tw * 2.0, sparse=True) * torch.tensor(c)).sum().backward()
    (F.embedding(engine.tensor(ids), ow * 2.0, sparse=True) * engine.tensor(c)).sum().backward()
    t_grad = tw.grad.to_dense() if tw.grad.is_sparse else tw.grad
    np.testing.assert_array_equal(ow.grad.numpy(), t_grad.numpy())


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad_as_torch(set_to_none):
    t_emb, o_emb = torch.nn.Embedding(5, 2, sparse=True), nn.Embedding(5, 2, sparse=True)
    t_opt, o_opt = torch.optim.SGD(t_emb.parameters(), lr=0.1), nn.optim.SGD(o_emb.parameters(), lr=0.1)
    t_emb(torch.tensor([1, 2])).sum().backward()
    o_emb(engine.tensor([1, 2])).sum().backward()
    t_opt.zero_grad(set_to_none=set_to_none)
    o_opt.zero_grad(set_to_none=set_to_none)
    if set_to_none:
        assert t_emb.weight.grad is None and o_emb.weight.grad is None
    else:
        assert t_emb.weight.grad.is_sparse and o_emb.weight.grad.is_sparse
        assert o_emb.weight.grad._nnz() == t_emb.weight.grad._nnz() == 0
        np.testing.assert_array_equal(o_emb.weight.grad.to_dense().numpy(), t_emb.weight.grad.to_dense().numpy())
    o_emb(engine.tensor([1, 2])).sum().backward()
    o_emb.zero_grad(set_to_none=False)  # Module.zero_grad too
    assert o_emb.weight.grad._nnz() == 0


@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 2}, {"max_norm": 0.5}])
def test_embedding_module_sparse_as_torch(kwargs):
    t = torch.nn.Embedding(7, 3, sparse=True, **kwargs).double()
    o = nn.Embedding(7, 3, sparse=True, **kwargs).double()
    assert repr(o) == repr(t)
    o.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    ids = [[2, 5, 2], [0, 2, 6]]
    c = RNG.standard_normal((2, 3, 3))
    (t(torch.tensor(ids)) * torch.tensor(c)).sum().backward()
    (o(engine.tensor(ids)) * engine.tensor(c)).sum().backward()
    _same_sparse(o.weight.grad, t.weight.grad)
    np.testing.assert_array_equal(o.weight.detach().numpy(), t.weight.detach().numpy())


@pytest.mark.parametrize("mode", ["sum", "mean"])
@pytest.mark.parametrize("padding_idx", [None, 3])
@pytest.mark.parametrize("form", ["functional", "module"])
def test_embedding_bag_sparse_as_torch(mode, padding_idx, form):
    ids, offsets = [1, 3, 1, 0, 3, 4, 5], [0, 2, 2, 5]
    tw, ow = _pair()
    if form == "functional":
        t_out = TF.embedding_bag(torch.tensor(ids), tw, torch.tensor(offsets), mode=mode, sparse=True,
                                 padding_idx=padding_idx)
        o_out = F.embedding_bag(engine.tensor(ids), ow, engine.tensor(offsets), mode=mode, sparse=True,
                                padding_idx=padding_idx)
    else:
        t = torch.nn.EmbeddingBag.from_pretrained(tw.detach(), freeze=False, mode=mode, sparse=True,
                                                  padding_idx=padding_idx)
        o = nn.EmbeddingBag.from_pretrained(ow.detach(), freeze=False, mode=mode, sparse=True,
                                            padding_idx=padding_idx)
        tw, ow = t.weight, o.weight
        t_out, o_out = t(torch.tensor(ids), torch.tensor(offsets)), o(engine.tensor(ids), engine.tensor(offsets))
    c = RNG.standard_normal(tuple(t_out.shape))
    (t_out * torch.tensor(c)).sum().backward()
    (o_out * engine.tensor(c)).sum().backward()
    _same_sparse(ow.grad, tw.grad, exact=mode == "sum")  # mean: torch multiplies by 1/count, ours divides


def test_embedding_bag_sparse_per_sample_weights_2d_and_refusals_as_torch():
    tw, ow = _pair()
    psw = RNG.standard_normal((2, 3))
    TF.embedding_bag(torch.tensor([[1, 3, 1], [0, 3, 4]]), tw, mode="sum", sparse=True,
                     per_sample_weights=torch.tensor(psw)).sum().backward()
    F.embedding_bag(engine.tensor([[1, 3, 1], [0, 3, 4]]), ow, mode="sum", sparse=True,
                    per_sample_weights=engine.tensor(psw)).sum().backward()
    _same_sparse(ow.grad, tw.grad)
    with pytest.raises(ValueError, match="max mode does not support sparse weights"):
        TF.embedding_bag(torch.tensor([[1, 2]]), tw, mode="max", sparse=True)
    with pytest.raises(ValueError, match="max mode does not support sparse weights"):
        F.embedding_bag(engine.tensor([[1, 2]]), ow, mode="max", sparse=True)
    with pytest.raises(ValueError, match="max mode does not support sparse weights"):
        nn.EmbeddingBag(4, 2, mode="max", sparse=True)(engine.tensor([[1, 2]]))


def _train(lib, make_opt, steps=6, ids_per_step=None, weight=W):
    """Steps of a linear loss on a sparse=True lookup: the parameter after each step, or the error."""
    w = torch.nn.Parameter(torch.tensor(weight)) if lib is torch else nn.Parameter(engine.tensor(weight))
    opt = make_opt(torch.optim if lib is torch else nn.optim, [w])
    emb = TF.embedding if lib is torch else F.embedding
    rng = np.random.default_rng(7)
    out = []
    for _ in range(steps):
        ids = rng.integers(0, weight.shape[0], (3, 4))
        c = rng.standard_normal((3, 4, weight.shape[1]))
        opt.zero_grad()
        (emb(lib.tensor(ids), w, sparse=True) * lib.tensor(c)).sum().backward()
        opt.step()
        out.append(w.detach().numpy().copy())
    return out


SPARSE_OPTS = {
    "SGD": lambda O, p: O.SGD(p, lr=0.1),
    "SGD maximize": lambda O, p: O.SGD(p, lr=0.3, maximize=True),
    "SparseAdam": lambda O, p: O.SparseAdam(p, lr=0.1),
    "SparseAdam betas maximize": lambda O, p: O.SparseAdam(p, lr=0.05, betas=(0.8, 0.99), eps=1e-6, maximize=True),
    "Adagrad": lambda O, p: O.Adagrad(p, lr=0.1),
    "Adagrad lr_decay": lambda O, p: O.Adagrad(p, lr=0.3, lr_decay=0.05, initial_accumulator_value=0.2, eps=1e-3),
    "Adagrad maximize": lambda O, p: O.Adagrad(p, lr=0.1, maximize=True),
}


@pytest.mark.parametrize("name", sorted(SPARSE_OPTS))
def test_sparse_optimizer_trajectories_as_torch(name):
    """Six steps, only the looked-up rows moving: SGD bit for bit; Adagrad and SparseAdam to a few ulps
    (torch's float64 sqrt is MKL's, see the module docstring)."""
    for o, t in zip(_train(engine, SPARSE_OPTS[name]), _train(torch, SPARSE_OPTS[name]), strict=True):
        if name.startswith("SGD"):
            np.testing.assert_array_equal(o, t)
        else:
            np.testing.assert_allclose(o, t, rtol=4e-16, atol=1e-16)


@pytest.mark.parametrize("kwargs", [{"lr": 0.1}, {"lr": 0.37, "maximize": True}, {"lr": 0.2, "eps": 0.25}])
def test_adagrad_sparse_step_bit_for_bit_as_torch(kwargs):
    """One Adagrad step on integer gradients (repeats included): the sums of squares are squares, so
    every square root is exact on both sides and the step must match bit for bit: torch's
    param.add_(sparse, alpha=-clr) is a fused multiply-add per entry (a plain p - clr * x is not)."""
    w0 = RNG.standard_normal((9, 5))
    ids = np.array([[0, 3, 3, 7], [8, 0, 1, 3]])
    c = RNG.integers(-4, 5, (2, 4, 5)).astype(np.float64)
    got = []
    for lib in (torch, engine):
        w = torch.nn.Parameter(torch.tensor(w0)) if lib is torch else nn.Parameter(engine.tensor(w0))
        opt = (torch.optim if lib is torch else nn.optim).Adagrad([w], **kwargs)
        emb = TF.embedding if lib is torch else F.embedding
        (emb(lib.tensor(ids), w, sparse=True) * lib.tensor(c)).sum().backward()
        opt.step()
        got.append(w.detach().numpy())
    np.testing.assert_array_equal(got[1], got[0])
    np.testing.assert_array_equal(got[1][[2, 4, 5, 6]], w0[[2, 4, 5, 6]])  # rows not looked up stay put
    g = np.zeros_like(w0)
    np.add.at(g, ids.reshape(-1), c.reshape(-1, 5))
    g = -g if kwargs.get("maximize") else g
    rows = np.unique(ids)
    x = g[rows] / (np.abs(g[rows]) + kwargs.get("eps", 1e-10))
    plain = w0[rows] - kwargs["lr"] * x
    assert not np.array_equal(plain, got[0][rows])  # the fused rounding is what this test tells apart


@pytest.mark.parametrize("kwargs", [{"momentum": 0.9}, {"momentum": 0.9, "dampening": 0.3},
                                    {"momentum": 0.5, "nesterov": True}, {"momentum": 0.5, "maximize": True}])
def test_sgd_momentum_on_sparse_gradients_as_torch(kwargs):
    """The momentum buffer stays sparse (torch's too); torch merges or concatenates its entries by memory
    layout, ours concatenates: equal up to rounding."""
    ours = _train(engine, lambda O, p: O.SGD(p, lr=0.1, **kwargs), steps=8)
    theirs = _train(torch, lambda O, p: O.SGD(p, lr=0.1, **kwargs), steps=8)
    for o, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(o, t, rtol=1e-13, atol=1e-13)


def test_untouched_rows_stay_put_with_adagrad_and_sparse_adam():
    """The sparse rules leave rows with no lookup as they are (the dense rules would move every row
    with momentum; Adagrad's dense rule would too with a nonzero state)."""
    for make in (SPARSE_OPTS["Adagrad"], SPARSE_OPTS["SparseAdam"]):
        w = nn.Parameter(engine.tensor(W))
        opt = make(nn.optim, [w])
        for ids in ([0, 1], [1, 2], [0, 2]):
            opt.zero_grad()
            (F.embedding(engine.tensor(ids), w, sparse=True) ** 2).sum().backward()
            opt.step()
        np.testing.assert_array_equal(w.detach().numpy()[3:], W[3:])
        assert not np.array_equal(w.detach().numpy()[:3], W[:3])


REFUSE = {
    "SGD weight_decay": lambda O, p: O.SGD(p, lr=0.1, weight_decay=0.1),
    "Adagrad weight_decay": lambda O, p: O.Adagrad(p, weight_decay=0.1),
    "Adam": lambda O, p: O.Adam(p), "AdamW": lambda O, p: O.AdamW(p),
    "Adam amsgrad": lambda O, p: O.Adam(p, amsgrad=True), "RMSprop": lambda O, p: O.RMSprop(p),
    "Adadelta": lambda O, p: O.Adadelta(p), "Adamax": lambda O, p: O.Adamax(p), "NAdam": lambda O, p: O.NAdam(p),
    "RAdam": lambda O, p: O.RAdam(p), "ASGD": lambda O, p: O.ASGD(p), "Rprop": lambda O, p: O.Rprop(p),
    "Adafactor": lambda O, p: O.Adafactor(p),
}


@pytest.mark.parametrize("name", sorted(REFUSE))
def test_optimizers_refuse_sparse_gradients_as_torch(name):
    errors = []
    for lib in (torch, engine):
        with pytest.raises(RuntimeError) as e:
            _train(lib, REFUSE[name], steps=1)
        errors.append(str(e.value))
    assert errors[0] == errors[1]


def test_sparse_adam_refuses_dense_gradients_and_bad_arguments_as_torch():
    for lib, O in ((torch, torch.optim), (engine, nn.optim)):
        w = torch.nn.Parameter(torch.ones(3)) if lib is torch else nn.Parameter(engine.ones(3))
        opt = O.SparseAdam([w])
        (w * 2).sum().backward()
        with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients, please consider Adam"):
            opt.step()
        for kwargs, words in (({"lr": -1.0}, "Invalid learning rate: -1.0"), ({"eps": 0.0}, "Invalid epsilon value"),
                              ({"betas": (1.0, 0.5)}, "Invalid beta parameter at index 0: 1.0"),
                              ({"betas": (0.5, -0.1)}, "Invalid beta parameter at index 1: -0.1")):
            with pytest.raises(ValueError, match=words):
                O.SparseAdam([w], **kwargs)
    tc = torch.nn.Parameter(torch.ones(2, dtype=torch.complex128))
    oc = nn.Parameter(engine.ones(2, dtype=engine.complex128))
    with pytest.raises(ValueError) as theirs:
        torch.optim.SparseAdam([torch.nn.Parameter(torch.ones(2)), tc])
    with pytest.raises(ValueError) as ours:
        nn.optim.SparseAdam([nn.Parameter(engine.ones(2)), oc])
    assert str(ours.value) == str(theirs.value)


def test_sparse_adam_state_and_embedding_training_as_torch():
    """nn.Embedding(sparse=True) under SparseAdam and a Linear under Adam, a few steps of a real model."""
    torch.manual_seed(0)
    t_emb, t_lin = torch.nn.Embedding(9, 4, sparse=True).double(), torch.nn.Linear(4, 2).double()
    o_emb, o_lin = nn.Embedding(9, 4, sparse=True).double(), nn.Linear(4, 2).double()
    o_emb.load_state_dict({k: v.detach().numpy() for k, v in t_emb.state_dict().items()})
    o_lin.load_state_dict({k: v.detach().numpy() for k, v in t_lin.state_dict().items()})
    t_opts = [torch.optim.SparseAdam(t_emb.parameters(), lr=0.05), torch.optim.Adam(t_lin.parameters(), lr=0.05)]
    o_opts = [nn.optim.SparseAdam(o_emb.parameters(), lr=0.05), nn.optim.Adam(o_lin.parameters(), lr=0.05)]
    rng = np.random.default_rng(3)
    for _ in range(5):
        ids, y = rng.integers(0, 9, (6, 3)), rng.standard_normal((6, 2))
        for emb, lin, opts, lib in ((t_emb, t_lin, t_opts, torch), (o_emb, o_lin, o_opts, engine)):
            for opt in opts:
                opt.zero_grad()
            loss = ((lin(emb(lib.tensor(ids)).mean(1)) - lib.tensor(y)) ** 2).mean()
            loss.backward()
            for opt in opts:
                opt.step()
    np.testing.assert_allclose(o_emb.weight.detach().numpy(), t_emb.weight.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(o_lin.weight.detach().numpy(), t_lin.weight.detach().numpy(), rtol=1e-12, atol=1e-13)
    t_state, o_state = t_opts[0].state_dict()["state"][0], o_opts[0].state_dict()["state"][0]
    assert sorted(t_state) == sorted(o_state) and o_state["step"] == t_state["step"] == 5
    np.testing.assert_allclose(o_state["exp_avg_sq"], t_state["exp_avg_sq"].numpy(), rtol=1e-11, atol=1e-16)


def test_lbfgs_makes_sparse_gradients_dense_as_torch():
    steps = []
    for lib in (torch, engine):
        w = torch.nn.Parameter(torch.tensor(W)) if lib is torch else nn.Parameter(engine.tensor(W))
        opt = (torch.optim if lib is torch else nn.optim).LBFGS([w], max_iter=5)
        emb = TF.embedding if lib is torch else F.embedding

        def closure(w=w, opt=opt, emb=emb, lib=lib):
            opt.zero_grad()
            loss = (emb(lib.tensor([[1, 2, 2], [5, 1, 0]]), w, sparse=True) ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        steps.append(w.detach().numpy())
    np.testing.assert_allclose(steps[1], steps[0], rtol=1e-10, atol=1e-12)


def test_clip_grad_refuses_sparse_gradients_as_torch():
    """torch 2.13 has no sparse kernel for the norm (nor for clamp): both raise NotImplementedError."""
    for lib, utils, fn in ((torch, torch.nn.utils, TF.embedding), (engine, nn.utils, F.embedding)):
        w = torch.nn.Parameter(torch.tensor(W)) if lib is torch else nn.Parameter(engine.tensor(W))
        fn(lib.tensor([1, 2]), w, sparse=True).sum().backward()
        with pytest.raises(NotImplementedError, match="linalg_vector_norm"):
            utils.clip_grad_norm_([w], 1.0)
        with pytest.raises(NotImplementedError, match="clamp_min_"):
            utils.clip_grad_value_([w], 0.1)


@pytest.mark.parametrize("indices,values,size", [
    ([[0, 2, 0], [1, 0, 1]], [3.0, 4.0, 5.0], (3, 3)),
    ([[0, 2, 0], [1, 0, 1]], [3.0, 4.0, 5.0], None),
    ([[0, 3, 0]], [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], (5, 2)),
    ([[0, 3, 0]], [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], None),
    (np.zeros((1, 0), np.int64), np.zeros((0, 2)), (4, 2)),
])
def test_sparse_coo_tensor_as_torch(indices, values, size):
    args = (size,) if size is not None else ()
    t = torch.sparse_coo_tensor(torch.tensor(indices), torch.tensor(values), *args)
    o = engine.sparse_coo_tensor(engine.tensor(indices), engine.tensor(values), *args)
    assert tuple(o.shape) == tuple(t.shape) and o.dtype == getattr(engine, str(t.dtype).split(".")[-1])
    assert (o.sparse_dim(), o.dense_dim(), o._nnz(), o.is_coalesced()) == \
           (t.sparse_dim(), t.dense_dim(), t._nnz(), t.is_coalesced())
    np.testing.assert_array_equal(o.to_dense().numpy(), t.to_dense().numpy())
    oc, tc = o.coalesce(), t.coalesce()
    np.testing.assert_array_equal(oc.indices().numpy(), tc.indices().numpy())
    np.testing.assert_array_equal(oc.values().numpy(), tc.values().numpy())


def test_sparse_coo_tensor_from_lists_and_errors_as_torch():
    t = torch.sparse_coo_tensor([[0, 1]], [1.0, 2.0], (3,))
    o = engine.sparse_coo_tensor([[0, 1]], [1.0, 2.0], (3,))
    assert o.dtype == engine.float32 and t.dtype == torch.float32
    np.testing.assert_array_equal(o.to_dense().numpy(), t.to_dense().numpy())
    with pytest.raises(RuntimeError, match="indices and values must have same nnz") as ours:
        engine.sparse_coo_tensor([[0, 1]], [1.0, 2.0, 3.0], (3,))
    with pytest.raises(RuntimeError) as theirs:
        torch.sparse_coo_tensor([[0, 1]], [1.0, 2.0, 3.0], (3,))
    assert str(ours.value) == str(theirs.value)


def test_fma_rounds_once():
    """The fused multiply-add behind Adagrad's exact match, against exact rational arithmetic."""
    rng = np.random.default_rng(5)
    for dt in (np.float64, np.float32):
        a = (rng.standard_normal(3000) * 10.0 ** rng.integers(-6, 6, 3000)).astype(dt)
        b = rng.standard_normal(3000).astype(dt)
        c = (rng.standard_normal(3000) * 10.0 ** rng.integers(-9, 9, 3000)).astype(dt)
        c[:500] = -(a[:500] * b[:500])  # near-total cancellation: where a plain a * b + c loses it all
        exact = np.array([float(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z)))
                          for x, y, z in zip(a, b, c)]).astype(dt)
        np.testing.assert_array_equal(fma(a, b, c), exact)
        assert not np.array_equal(a * b + c, exact)
