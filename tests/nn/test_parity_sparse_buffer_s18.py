"""A sparse tensor as a registered buffer (a GCN's normalized adjacency), as torch: moved and cast with
the module, saved in state_dict and loaded back, and used in the forward."""

import numpy as np
import pytest

import engine
import nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(1818)
EDGES = np.array([[0, 1, 1, 2, 2, 3, 0, 3], [1, 0, 2, 1, 3, 2, 3, 0]])
WEIGHTS = RNG.uniform(0.1, 1.0, EDGES.shape[1])


def _gcn(lib, lib_nn):
    class GCN(lib_nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lib_nn.Linear(3, 2)
            self.register_buffer("adj", lib.sparse_coo_tensor(lib.tensor(EDGES), lib.tensor(WEIGHTS), (4, 4)))

        def forward(self, x):
            return lib.sparse.mm(self.adj, self.lin(x)).relu()

    return GCN()


def _pair():
    ours, ref = _gcn(engine, nn), _gcn(torch, torch.nn)
    w, b = RNG.standard_normal((2, 3)), RNG.standard_normal(2)
    ours.lin.weight._data[...] = w
    ours.lin.bias._data[...] = b
    with torch.no_grad():
        ref.lin.weight.copy_(torch.tensor(w))
        ref.lin.bias.copy_(torch.tensor(b))
    return ours, ref


def test_a_sparse_buffer_is_registered_cast_and_used_as_torch():
    ours, ref = _pair()
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in ref.named_buffers()] == ["adj"]
    ours.double()
    ref.double()
    assert str(ours.adj.dtype) == "float64" and ref.adj.dtype == torch.float64
    assert ours.adj.is_sparse and ref.adj.is_sparse
    assert str(ours.adj._indices().dtype) == "int64"
    x = RNG.standard_normal((4, 3))
    np.testing.assert_allclose(ours(engine.tensor(x)).numpy(), ref(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-14)


def test_a_sparse_buffer_round_trips_through_state_dict_and_save(tmp_path):
    ours, ref = _pair()
    nn.save(ours.state_dict(), tmp_path / "gcn.pt")
    sd, tsd = nn.load(tmp_path / "gcn.pt"), ref.state_dict()
    assert list(sd) == list(tsd) == ["adj", "lin.weight", "lin.bias"]
    assert sd["adj"].is_sparse and tsd["adj"].is_sparse
    np.testing.assert_array_equal(sd["adj"].to_dense().numpy(), tsd["adj"].to_dense().numpy())
    other = _gcn(engine, nn)
    other.register_buffer("adj", engine.sparse_coo_tensor(engine.tensor([[0], [0]]), engine.tensor([9.0]), (4, 4)))
    other.load_state_dict(sd)
    assert str(other.adj.dtype) == "float32"  # the buffer keeps its dtype (torch's copy_ casts)
    np.testing.assert_array_equal(other.adj.to_dense().numpy(), tsd["adj"].to_dense().float().numpy())


def test_loading_a_dense_array_into_a_sparse_buffer_raises():
    ours, _ = _pair()
    sd = ours.state_dict()
    sd["adj"] = np.zeros((4, 4), np.float32)
    with pytest.raises(RuntimeError, match="adj"):
        ours.load_state_dict(sd)


def test_sparse_to_accepts_torch_argument_forms():
    s = engine.sparse_coo_tensor(engine.tensor(EDGES), engine.tensor(WEIGHTS.astype(np.float32)), (4, 4))
    t = torch.sparse_coo_tensor(torch.tensor(EDGES), torch.tensor(WEIGHTS.astype(np.float32)), (4, 4))
    for args, kwargs in [((engine.float64,), {}), (("cpu",), {}), ((), {"dtype": engine.float64}),
                         (("cpu", engine.float64), {})]:
        targs = tuple(torch.float64 if a is engine.float64 else a for a in args)
        tkwargs = {k: torch.float64 for k in kwargs}
        ours, ref = s.to(*args, **kwargs), t.to(*targs, **tkwargs)
        assert str(ours.dtype) == str(ref.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(ours.to_dense().numpy(), ref.to_dense().numpy())
