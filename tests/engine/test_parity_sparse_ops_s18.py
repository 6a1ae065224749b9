"""Sparse COO tensors as graph inputs (engine/sparse.py), compared with torch 2.13: ``to_sparse``,
``sparse_coo_tensor(..., requires_grad=True)`` and from values that require grad, ``torch.sparse.mm``
(sparse gradient on the operand's entries), ``mm`` / ``matmul`` / ``@`` (dense gradient), dense @ sparse,
``t`` / ``transpose``, ``torch.sparse.sum``, ``to_dense``, ``torch.sparse.addmm``, a two-layer GCN trained
with a sparse adjacency, and the errors for bad shapes and dtypes.
"""

from __future__ import annotations

import numpy as np
import pytest

import engine

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.parity, pytest.mark.filterwarnings("ignore:Sparse invariant checks")]

RTOL = 1e-10
IDX = [[0, 1, 1, 2, 1, 3], [2, 0, 2, 1, 0, 3]]  # (1, 0) twice: uncoalesced
VALS = [1.5, -2.0, 3.0, 0.5, 4.0, -1.25]
SHAPE = (4, 4)


def pair(a, requires_grad=False, dtype=np.float64):
    a = np.asarray(a, dtype=dtype)
    return (torch.tensor(a, requires_grad=requires_grad),
            engine.tensor(a, requires_grad=requires_grad))


def sparse_pair(idx=IDX, vals=VALS, shape=SHAPE, requires_grad=False, dtype=np.float64):
    v = np.asarray(vals, dtype=dtype)
    return (torch.sparse_coo_tensor(torch.tensor(idx), torch.tensor(v), shape, requires_grad=requires_grad),
            engine.sparse_coo_tensor(np.asarray(idx), engine.tensor(v), shape, requires_grad=requires_grad))


def dense_of(t):
    return t.to_dense().detach().numpy() if t.is_sparse else t.detach().numpy()


def same_sparse(o, t, rtol=RTOL):
    """Layout, shape, dtype, coalesced flag, the stored indices and values, all as torch's."""
    assert o.is_sparse and t.is_sparse
    assert tuple(o.shape) == tuple(t.shape)
    assert str(o.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    assert o.is_coalesced() == t.is_coalesced()
    np.testing.assert_array_equal(o._indices().numpy(), t._indices().numpy())
    np.testing.assert_allclose(o._values().numpy(), t._values().detach().numpy(), rtol=rtol, atol=0)


def close(o, t, rtol=RTOL):
    assert not o.is_sparse and not t.is_sparse
    assert tuple(o.shape) == tuple(t.shape)
    assert str(o.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=1e-14)


def rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ---- conversion and flags ----


def test_dense_is_not_sparse_and_to_sparse_as_torch():
    a = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -3.0], [0.0, 0.0, 4.0]])
    t, o = pair(a)
    assert o.is_sparse is False and t.is_sparse is False
    for name in ("to_sparse", "to_sparse_coo"):
        ts, os_ = getattr(t, name)(), getattr(o, name)()
        same_sparse(os_, ts)
        np.testing.assert_array_equal(os_.to_dense().numpy(), a)
    same_sparse(o.to_sparse(1), t.to_sparse(1))  # hybrid: the nonzero rows
    t32, o32 = pair(a, dtype=np.float32)
    same_sparse(o32.to_sparse(), t32.to_sparse())
    with pytest.raises(RuntimeError, match="sparse_dim argument must be in"):
        t.to_sparse(3)
    with pytest.raises(RuntimeError, match="sparse_dim argument must be in"):
        o.to_sparse(3)


def test_sparse_coo_tensor_requires_grad_leaf_and_from_values():
    ts, os_ = sparse_pair(requires_grad=True)
    assert os_.requires_grad and ts.requires_grad and os_.is_leaf and ts.is_leaf
    assert os_.grad is None and ts.grad is None
    tv, ov = pair(VALS, requires_grad=True)
    t3 = torch.sparse_coo_tensor(torch.tensor(IDX), tv, SHAPE)
    o3 = engine.sparse_coo_tensor(np.asarray(IDX), ov, SHAPE)
    assert o3.requires_grad == t3.requires_grad is True and o3.is_leaf == t3.is_leaf is False
    plain = engine.sparse_coo_tensor(np.asarray(IDX), VALS, SHAPE)
    assert not plain.requires_grad and plain.is_leaf


# ---- products ----


@pytest.mark.parametrize("coalesced", [False, True])
def test_sparse_mm_values_and_sparse_gradient(coalesced):
    ts, os_ = sparse_pair(requires_grad=True)
    if coalesced:
        ts, os_ = sparse_pair(torch.tensor(IDX).tolist(), VALS, requires_grad=True)
        ts = ts.detach().coalesce().requires_grad_()
        os_ = engine.sparse_coo_tensor(ts._indices().numpy(), ts._values().numpy(), SHAPE, requires_grad=True,
                                       is_coalesced=True)
    td, od = pair(rand((4, 3)), requires_grad=True)
    cot = rand((4, 3), seed=1)
    t_out, o_out = torch.sparse.mm(ts, td), engine.sparse.mm(os_, od)
    close(o_out, t_out)
    (t_out * torch.tensor(cot)).sum().backward()
    (o_out * engine.tensor(cot)).sum().backward()
    same_sparse(os_.grad, ts.grad)
    close(od.grad, td.grad)


@pytest.mark.parametrize("how", ["mm", "matmul", "@", "method"])
def test_mm_matmul_matmul_operator_dense_gradient(how):
    ts, os_ = sparse_pair(requires_grad=True)
    td, od = pair(rand((4, 2)), requires_grad=True)
    call = {"mm": lambda lib, a, b: lib.mm(a, b), "matmul": lambda lib, a, b: lib.matmul(a, b),
            "@": lambda lib, a, b: a @ b, "method": lambda lib, a, b: a.mm(b)}[how]
    t_out, o_out = call(torch, ts, td), call(engine, os_, od)
    close(o_out, t_out)
    cot = rand((4, 2), seed=2)
    (t_out * torch.tensor(cot)).sum().backward()
    (o_out * engine.tensor(cot)).sum().backward()
    assert not ts.grad.is_sparse and not os_.grad.is_sparse  # torch's mm gives the whole g @ denseᵀ
    close(os_.grad, ts.grad)
    close(od.grad, td.grad)


@pytest.mark.parametrize("op", ["sparse.mm", "mm"])
def test_gradient_through_to_sparse_reaches_the_dense_tensor(op):
    a = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -3.0], [0.0, 0.0, 4.0]])
    tx, ox = pair(a, requires_grad=True)
    td, od = pair(rand((3, 2)), requires_grad=True)
    f = {"sparse.mm": lambda lib, s, d: lib.sparse.mm(s, d), "mm": lambda lib, s, d: lib.mm(s, d)}[op]
    t_out, o_out = f(torch, tx.to_sparse(), td), f(engine, ox.to_sparse(), od)
    close(o_out, t_out)
    (t_out ** 2).sum().backward()
    (o_out ** 2).sum().backward()
    close(ox.grad, tx.grad)  # sparse.mm: zero off the pattern; mm: dense everywhere
    close(od.grad, td.grad)


@pytest.mark.parametrize("op", ["sparse.mm", "mm", "sum", "to_dense"])
def test_gradient_to_values_of_sparse_coo_tensor(op):
    tv, ov = pair(VALS, requires_grad=True)
    d = rand((4, 2))
    t_s = torch.sparse_coo_tensor(torch.tensor(IDX), tv, SHAPE)
    o_s = engine.sparse_coo_tensor(np.asarray(IDX), ov, SHAPE)
    w = rand(SHAPE, seed=3)
    f = {"sparse.mm": lambda lib, s: (lib.sparse.mm(s, lib.tensor(d)) ** 2).sum(),
         "mm": lambda lib, s: (lib.mm(s, lib.tensor(d)) ** 2).sum(),
         "sum": lambda lib, s: lib.sparse.sum(s) * 3.0,
         "to_dense": lambda lib, s: (s.to_dense() * lib.tensor(w)).sum()}[op]
    t_loss, o_loss = f(torch, t_s), f(engine, o_s)
    close(o_loss, t_loss)
    t_loss.backward()
    o_loss.backward()
    close(ov.grad, tv.grad)


@pytest.mark.parametrize("lib_op", ["sparse.mm", "mm", "@"])
def test_dense_at_sparse(lib_op):
    ts, os_ = sparse_pair(requires_grad=True)
    td, od = pair(rand((3, 4)), requires_grad=True)
    f = {"sparse.mm": lambda lib, a, b: lib.sparse.mm(a, b), "mm": lambda lib, a, b: lib.mm(a, b),
         "@": lambda lib, a, b: a @ b}[lib_op]
    t_out, o_out = f(torch, td, ts), f(engine, od, os_)
    close(o_out, t_out)
    (t_out ** 2).sum().backward()
    (o_out ** 2).sum().backward()
    close(od.grad, td.grad)
    if lib_op == "sparse.mm":  # sparse, its entries sorted by column, as torch's
        same_sparse(os_.grad, ts.grad)
    else:
        close(os_.grad, ts.grad)


def test_matmul_with_vectors():
    ts, os_ = sparse_pair(requires_grad=True)
    tv, ov = pair(rand(4), requires_grad=True)
    for t_out, o_out in ((ts @ tv, os_ @ ov), (tv @ ts, ov @ os_), (torch.matmul(ts, tv), engine.matmul(os_, ov))):
        close(o_out, t_out)
        t_out.sum().backward()
        o_out.sum().backward()
    close(os_.grad, ts.grad)
    close(ov.grad, tv.grad)


@pytest.mark.parametrize("alpha,beta", [(1, 1), (2.0, 0.5), (-0.25, 0.0)])
def test_sparse_addmm(alpha, beta):
    ts, os_ = sparse_pair(requires_grad=True)
    td, od = pair(rand((4, 3)), requires_grad=True)
    tm, om = pair(rand((4, 3), seed=5), requires_grad=True)
    t_out = torch.sparse.addmm(tm, ts, td, beta=beta, alpha=alpha)
    o_out = engine.sparse.addmm(om, os_, od, beta=beta, alpha=alpha)
    close(o_out, t_out)
    cot = rand((4, 3), seed=6)
    (t_out * torch.tensor(cot)).sum().backward()
    (o_out * engine.tensor(cot)).sum().backward()
    same_sparse(os_.grad, ts.grad)
    close(od.grad, td.grad)
    close(om.grad, tm.grad)


def test_sparse_addmm_broadcasts_the_added_matrix():
    ts, os_ = sparse_pair()
    td, od = pair(rand((4, 3)))
    tm, om = pair(rand(3, seed=7))
    close(engine.sparse.addmm(om, os_, od), torch.sparse.addmm(tm, ts, td))


# ---- shape ops and reductions ----


def test_t_and_transpose():
    ts, os_ = sparse_pair(shape=(4, 5), requires_grad=True)
    for t_t, o_t in ((ts.t(), os_.t()), (ts.transpose(0, 1), os_.transpose(0, 1)),
                     (ts.transpose(1, 0), os_.transpose(-1, 0))):
        same_sparse(o_t, t_t)
        assert o_t.is_leaf == t_t.is_leaf is False
    same_sparse(os_.t().t(), ts.t().t())
    td, od = pair(rand((4, 2)), requires_grad=True)
    t_out, o_out = torch.sparse.mm(ts.t(), td), engine.sparse.mm(os_.t(), od)
    close(o_out, t_out)
    (t_out ** 2).sum().backward()
    (o_out ** 2).sum().backward()
    same_sparse(os_.grad, ts.grad)
    close(od.grad, td.grad)
    ts.grad, os_.grad = None, None
    t_out, o_out = torch.mm(ts.t(), td), engine.mm(os_.t(), od)
    (t_out ** 2).sum().backward()
    (o_out ** 2).sum().backward()
    close(os_.grad, ts.grad)


def test_t_refuses_three_sparse_dims():
    idx, vals, shape = [[0, 1], [1, 0], [0, 0]], [1.0, 2.0], (2, 2, 2)
    ts, os_ = sparse_pair(idx, vals, shape)
    with pytest.raises(RuntimeError, match="t\\(\\) expects a tensor with <= 2 sparse and 0 dense") as t_err:
        ts.t()
    with pytest.raises(RuntimeError) as o_err:
        os_.t()
    assert str(o_err.value) == str(t_err.value)


@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 1), (1,)])
def test_sparse_sum_values_and_gradient(dim):
    ts, os_ = sparse_pair(requires_grad=True)
    t_out = torch.sparse.sum(ts) if dim is None else torch.sparse.sum(ts, dim)
    o_out = engine.sparse.sum(os_) if dim is None else engine.sparse.sum(os_, dim)
    assert o_out.is_sparse == t_out.is_sparse
    if t_out.is_sparse:
        same_sparse(o_out, t_out)
        w = rand(t_out.shape, seed=8)
        t_loss = (t_out.to_dense() * torch.tensor(w)).sum()
        o_loss = (o_out.to_dense() * engine.tensor(w)).sum()
    else:
        close(o_out, t_out)
        t_loss, o_loss = t_out * 2.5, o_out * 2.5
    t_loss.backward()
    o_loss.backward()
    same_sparse(os_.grad, ts.grad)


def test_sparse_sum_of_ints_and_with_dtype():
    ts, os_ = sparse_pair(vals=[1, 2, 3, 4, 5, 6], dtype=np.int32)
    close(engine.sparse.sum(os_), torch.sparse.sum(ts))  # int32 -> int64, as torch
    same_sparse(engine.sparse.sum(os_, 0), torch.sparse.sum(ts, 0))
    close(engine.sparse.sum(os_, dtype=engine.float64), torch.sparse.sum(ts, dtype=torch.float64))


def test_to_dense_gradient_is_masked_and_sparse():
    ts, os_ = sparse_pair(requires_grad=True)
    w = rand(SHAPE, seed=9)
    (ts.to_dense() * torch.tensor(w)).sum().backward()
    (os_.to_dense() * engine.tensor(w)).sum().backward()
    same_sparse(os_.grad, ts.grad)


def test_float32_stays_float32():
    ts, os_ = sparse_pair(dtype=np.float32, requires_grad=True)
    td, od = pair(rand((4, 2)), dtype=np.float32, requires_grad=True)
    t_out, o_out = torch.sparse.mm(ts, td), engine.sparse.mm(os_, od)
    close(o_out, t_out, rtol=1e-6)
    t_out.sum().backward()
    o_out.sum().backward()
    same_sparse(os_.grad, ts.grad, rtol=1e-6)
    close(od.grad, td.grad, rtol=1e-6)


# ---- a graph neural network ----


def _normalized_adjacency(n, seed):
    """Â = D^-1/2 (A + I) D^-1/2 of a random undirected graph, as COO indices and values."""
    rng = np.random.default_rng(seed)
    a = (rng.random((n, n)) < 0.3).astype(np.float64)
    a = np.triu(a, 1)
    a = a + a.T + np.eye(n)
    d = a.sum(1) ** -0.5
    a_hat = d[:, None] * a * d[None, :]
    idx = np.stack(np.nonzero(a_hat))
    return idx, a_hat[tuple(idx)], a_hat


@pytest.mark.parametrize("product", ["sparse.mm", "@"])
def test_two_layer_gcn_trains_as_torch_and_as_dense(product):
    import nn

    n, f_in, hidden, classes, steps = 12, 5, 8, 3, 4
    idx, vals, a_hat = _normalized_adjacency(n, seed=11)
    x = rand((n, f_in), seed=12)
    labels = np.random.default_rng(13).integers(0, classes, n)
    w1, w2 = rand((f_in, hidden), seed=14) * 0.5, rand((hidden, classes), seed=15) * 0.5

    def run(lib, adj, optim_mod, cross_entropy):
        p1 = lib.tensor(w1.copy(), requires_grad=True)
        p2 = lib.tensor(w2.copy(), requires_grad=True)
        opt = optim_mod.SGD([p1, p2], lr=0.5)
        feats, target = lib.tensor(x), lib.tensor(labels)
        prod = (lambda a, b: lib.sparse.mm(a, b)) if product == "sparse.mm" else (lambda a, b: a @ b)
        losses = []
        for _ in range(steps):
            opt.zero_grad()
            h = lib.relu(prod(adj, feats @ p1))
            loss = cross_entropy(prod(adj, h @ p2), target)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return np.array(losses), p1.detach().numpy()

    t_adj = torch.sparse_coo_tensor(torch.tensor(idx), torch.tensor(vals), (n, n))
    o_adj = engine.sparse_coo_tensor(idx, vals, (n, n))
    t_losses, t_w1 = run(torch, t_adj, torch.optim, torch.nn.functional.cross_entropy)
    o_losses, o_w1 = run(engine, o_adj, nn.optim, engine.functional.cross_entropy)
    o_dense_losses, _ = run(engine, engine.tensor(a_hat), nn.optim, engine.functional.cross_entropy)
    assert t_losses[-1] < t_losses[0]  # it learns
    np.testing.assert_allclose(o_losses, t_losses, rtol=RTOL, atol=0)
    np.testing.assert_allclose(o_dense_losses, t_losses, rtol=RTOL, atol=0)
    np.testing.assert_allclose(o_w1, t_w1, rtol=RTOL, atol=1e-14)


def test_gcn_with_learned_edge_weights_as_torch():
    """Edge weights that require grad, through sparse_coo_tensor(indices, values): their gradient as torch's."""
    n = 10
    idx, vals, _ = _normalized_adjacency(n, seed=21)
    x, w = rand((n, 4), seed=22), rand((4, 3), seed=23)
    grads = []
    for lib in (torch, engine):
        ev = lib.tensor(vals.copy(), requires_grad=True)
        pw = lib.tensor(w.copy(), requires_grad=True)
        adj = lib.sparse_coo_tensor(lib.tensor(idx), ev, (n, n))
        out = lib.sparse.mm(adj, lib.tanh(lib.sparse.mm(adj, lib.tensor(x) @ pw)))
        (out ** 2).sum().backward()
        grads.append((ev.grad.numpy(), pw.grad.numpy()))
    for t_g, o_g in zip(*grads):
        np.testing.assert_allclose(o_g, t_g, rtol=RTOL, atol=1e-14)


# ---- bad input: torch's error types, messages naming the op and shapes ----


def _both_raise(t_call, o_call, exc, *words):
    with pytest.raises(exc) as t_err:
        t_call()
    with pytest.raises(exc) as o_err:
        o_call()
    assert str(t_err.value).split(" (")[0] in str(o_err.value)  # torch's words, ours may add the shapes
    for w in words:
        assert w in str(o_err.value)


@pytest.mark.parametrize("how", ["sparse.mm", "mm", "@", "matmul"])
def test_inner_size_mismatch(how):
    ts, os_ = sparse_pair()
    td, od = pair(rand((3, 2)))
    f = {"sparse.mm": lambda lib, a, b: lib.sparse.mm(a, b), "mm": lambda lib, a, b: lib.mm(a, b),
         "@": lambda lib, a, b: a @ b, "matmul": lambda lib, a, b: lib.matmul(a, b)}[how]
    _both_raise(lambda: f(torch, ts, td), lambda: f(engine, os_, od), RuntimeError, "addmm", "[4, 4]", "[3, 2]")


def test_dense_at_sparse_size_mismatch():
    ts, os_ = sparse_pair()
    td, od = pair(rand((2, 3)))
    _both_raise(lambda: torch.mm(td, ts), lambda: engine.mm(od, os_), RuntimeError, "addmm")
    _both_raise(lambda: td @ ts, lambda: od @ os_, RuntimeError, "addmm")


def test_dtype_mismatch():
    ts, os_ = sparse_pair()
    td, od = pair(rand((4, 2)), dtype=np.float32)
    _both_raise(lambda: torch.sparse.mm(ts, td), lambda: engine.sparse.mm(os_, od), RuntimeError, "float32")
    _both_raise(lambda: torch.mm(ts, td), lambda: engine.mm(os_, od), RuntimeError)


def test_wrong_ranks():
    ts, os_ = sparse_pair()
    tv, ov = pair(rand(4))
    _both_raise(lambda: torch.sparse.mm(ts, tv), lambda: engine.sparse.mm(os_, ov), IndexError, "sparse.mm")
    tw, ow = pair(rand(3))
    _both_raise(lambda: ts @ tw, lambda: os_ @ ow, RuntimeError, "mv", "[4, 4]", "[3]")
    t3, o3 = pair(rand((2, 4, 2)))
    _both_raise(lambda: ts @ t3, lambda: os_ @ o3, RuntimeError, "matmul", "[2, 4, 2]")
    i3, v3 = [[0, 1], [1, 0], [0, 0]], [1.0, 2.0]
    ts3, os3 = sparse_pair(i3, v3, (2, 2, 2))
    td, od = pair(rand((2, 2)))
    _both_raise(lambda: torch.sparse.mm(ts3, td), lambda: engine.sparse.mm(os3, od), RuntimeError,
                "matrices expected, got 3D")


def test_sparse_at_sparse_is_refused_by_name():
    _, os_ = sparse_pair()
    with pytest.raises(NotImplementedError, match="sparse @ sparse"):
        engine.sparse.mm(os_, os_)


def test_dense_path_unchanged():
    """A dense product still goes through MatMul, as before."""
    td, od = pair(rand((3, 4)), requires_grad=True)
    te, oe = pair(rand((4, 2)), requires_grad=True)
    o_out = engine.mm(od, oe)
    assert type(o_out._ctx).__name__ == "MatMul"
    close(o_out, torch.mm(td, te))


@pytest.mark.parametrize("seq", [("sum", "sum"), ("sparse.mm", "sum"), ("sparse.mm", "mm"), ("mm", "sparse.mm")])
def test_gradients_accumulate_as_torch(seq):
    """Two backward passes into one sparse leaf: sparse + sparse side by side, sparse + dense dense."""
    ts, os_ = sparse_pair(requires_grad=True)
    d = rand((4, 2), seed=10)
    calls = {"sum": lambda lib, s: lib.sparse.sum(s), "sparse.mm": lambda lib, s: lib.sparse.mm(s, lib.tensor(d)).sum(),
             "mm": lambda lib, s: lib.mm(s, lib.tensor(d)).sum()}
    for lib, s in ((torch, ts), (engine, os_)):
        for op in seq:
            calls[op](lib, s).backward()
    assert os_.grad.is_sparse == ts.grad.is_sparse
    if ts.grad.is_sparse:
        same_sparse(os_.grad, ts.grad)
    else:
        close(os_.grad, ts.grad)


@pytest.mark.parametrize("op", ["sparse.mm", "sum", "sum0", "to_dense", "t", "dense@", "mm"])
@pytest.mark.parametrize("nnz", [6, 4])  # with a repeated index, and without
def test_autograd_grad_wrt_a_sparse_tensor(op, nnz):
    """autograd.grad returns the op's gradient itself (torch's coalesced flags), .grad the accumulated one."""
    d = rand((4, 2), seed=11)
    f = {"sparse.mm": lambda lib, s: lib.sparse.mm(s, lib.tensor(d)).sum(),
         "sum": lambda lib, s: lib.sparse.sum(s),
         "sum0": lambda lib, s: lib.sparse.sum(s, 0).to_dense().sum(),
         "to_dense": lambda lib, s: (s.to_dense() ** 2).sum(),
         "t": lambda lib, s: lib.sparse.mm(s.t(), lib.tensor(d)).sum(),
         "dense@": lambda lib, s: lib.sparse.mm(lib.tensor(d.T.copy()), s).sum(),
         "mm": lambda lib, s: lib.mm(s, lib.tensor(d)).sum()}[op]
    ts, os_ = sparse_pair([row[:nnz] for row in IDX], VALS[:nnz], requires_grad=True)
    (t_g,), (o_g,) = torch.autograd.grad(f(torch, ts), ts), engine.autograd.grad(f(engine, os_), os_)
    if t_g.is_sparse:
        same_sparse(o_g, t_g)
    else:
        close(o_g, t_g)
    f(torch, ts).backward()
    f(engine, os_).backward()
    if ts.grad.is_sparse:
        same_sparse(os_.grad, ts.grad)
    else:
        close(os_.grad, ts.grad)
