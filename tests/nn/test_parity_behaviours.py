"""Behaviours a torch user relies on, compared with torch: Linear's shape error, the transformer
layers' activation argument, Embedding max_norm renormalising in place, Sequential slicing and
OrderedDict, ParameterList/ParameterDict names, Module.to(dtype) with buffers, and
load_state_dict(strict=False)'s NamedTuple."""

from collections import OrderedDict

import numpy as np
import pytest

import engine.functional as F
import nn
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


def _torch_error(fn):
    with pytest.raises(RuntimeError) as e:
        fn()
    return str(e.value)


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5), (5,)])
def test_linear_wrong_width_raises_torchs_runtime_error(shape):
    want = _torch_error(lambda: torch.nn.Linear(3, 2)(torch.zeros(shape)))
    with pytest.raises(RuntimeError) as e:
        nn.Linear(3, 2)(Tensor(np.zeros(shape, dtype=np.float32)))
    assert want in str(e.value)


def _pair_layer(kind, dtype="float64", **kw):
    torch.manual_seed(0)
    t = getattr(torch.nn, kind)(8, 2, dim_feedforward=6, dropout=0.0, **kw.get("t", {})).double()
    o = getattr(nn, kind)(8, 2, dim_feedforward=6, dropout=0.0, **kw.get("o", {}))
    o.to(dtype)
    o.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return t, o


def test_transformer_activation_default_is_relu_and_accepts_string_and_callable():
    t = torch.nn.TransformerEncoderLayer(8, 2)
    o = nn.TransformerEncoderLayer(8, 2)
    assert t.activation is torch.nn.functional.relu and o.activation is F.relu
    x = np.random.default_rng(0).standard_normal((3, 2, 8))
    for kind in ("TransformerEncoderLayer", "TransformerDecoderLayer"):
        for kw in ({}, {"t": {"activation": "gelu"}, "o": {"activation": "gelu"}},
                   {"t": {"activation": torch.tanh}, "o": {"activation": lambda v: v.tanh()}}):
            t, o = _pair_layer(kind, **kw)
            t.eval()
            o.eval()
            args_t = (torch.tensor(x),) * (1 if kind.startswith("TransformerEnc") else 2)
            args_o = (Tensor(x),) * len(args_t)
            np.testing.assert_allclose(o(*args_o).numpy(), t(*args_t).detach().numpy(), rtol=1e-10, atol=1e-10)
    with pytest.raises((ValueError, RuntimeError)):
        nn.TransformerEncoderLayer(8, 2, activation="swish")


@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_embedding_max_norm_renormalises_in_place_as_torch(norm_type):
    torch.manual_seed(0)
    t = torch.nn.Embedding(6, 4, max_norm=1.0, norm_type=norm_type).double()
    o = nn.Embedding(6, 4, max_norm=1.0, norm_type=norm_type)
    o.to("float64")
    o.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    ids = np.array([[1, 3, 3], [0, 1, 5]])
    t_out, o_out = t(torch.tensor(ids)), o(ids)
    np.testing.assert_allclose(o_out.numpy(), t_out.detach().numpy(), rtol=1e-12)
    # the looked-up rows of the table itself were rescaled, the others left alone
    np.testing.assert_allclose(o.weight.numpy(), t.weight.detach().numpy(), rtol=1e-12)
    (t_out * torch.arange(24.0, dtype=torch.float64).reshape(2, 3, 4)).sum().backward()
    (o_out * Tensor(np.arange(24.0).reshape(2, 3, 4))).sum().backward()
    np.testing.assert_allclose(o.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-12)


def test_sequential_slicing_ordereddict_and_editing():
    for m in (nn, torch.nn):
        seq = m.Sequential(OrderedDict(a=m.Linear(2, 3), act=m.ReLU(), b=m.Linear(3, 1)))
        sub = seq[1:]
        assert isinstance(sub, m.Sequential) and list(dict(sub.named_children())) == ["act", "b"]
        assert sub[1] is seq.b and seq[-1] is seq.b and len(seq) == 3
        del seq[1]
        seq.append(m.Tanh())
        assert [type(c).__name__ for c in seq] == ["Linear", "Linear", "Tanh"]
        assert list(dict(seq.named_children())) == ["0", "1", "2"]  # torch renumbers after a deletion


def test_parameter_list_and_dict_names_as_torch():
    def build(m, P):
        mod = m.Module()
        mod.plist = m.ParameterList([P(np.ones(2)), P(np.zeros((2, 3)))])
        mod.pdict = m.ParameterDict({"w": P(np.ones(3)), "b": P(np.zeros(1))})
        mod.plist.append(P(np.ones(1)))
        mod.pdict["extra"] = P(np.ones(4))
        return mod

    o = build(nn, lambda a: nn.Parameter(a))
    t = build(torch.nn, lambda a: torch.nn.Parameter(torch.tensor(a)))
    assert [n for n, _ in o.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert list(o.state_dict()) == list(t.state_dict())
    assert [p.shape for p in o.plist] == [tuple(p.shape) for p in t.plist]
    assert list(o.pdict.keys()) == list(t.pdict.keys())


def test_to_dtype_moves_float_buffers_only():
    for m, f64 in ((nn, np.float64), (torch.nn, torch.float64)):
        bn = m.BatchNorm1d(3).to(f64 if m is torch.nn else "float64")
        assert bn.running_mean.dtype == f64 and bn.running_var.dtype == f64 and bn.weight.dtype == f64
        assert str(bn.num_batches_tracked.dtype).endswith("int64")


def test_load_state_dict_non_strict_returns_torchs_namedtuple():
    o = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    t = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    sd = {k: v.detach().numpy() for k, v in t.state_dict().items() if k != "1.running_var"}
    sd["extra.weight"] = np.ones(1)
    r_o = o.load_state_dict(sd, strict=False)
    r_t = t.load_state_dict({k: torch.tensor(v) for k, v in sd.items()}, strict=False)
    assert r_o.missing_keys == r_t.missing_keys and r_o.unexpected_keys == r_t.unexpected_keys
    assert r_o._fields == r_t._fields
    missing, unexpected = r_o
    assert missing == ["1.running_var"] and unexpected == ["extra.weight"]
    with pytest.raises(RuntimeError, match="running_var"):
        o.load_state_dict(sd)


def test_layer_constructor_signatures_are_torchs():
    """Parameter names and defaults of every nn layer that torch.nn also has (RNN/GRU/LSTM: torch
    spells theirs *args; Hardtanh: torch's deprecated min_value/max_value are left out)."""
    import inspect

    skip_names = {"args", "kwargs", "min_value", "max_value"}
    for name in nn.__all__:
        ours = getattr(nn, name)
        theirs = getattr(torch.nn, name, None)
        if not (isinstance(ours, type) and issubclass(ours, nn.Module)) or theirs is None:
            continue
        tp = inspect.signature(theirs.__init__).parameters
        op = inspect.signature(ours.__init__).parameters
        if "args" in tp and len(tp) <= 3:
            continue
        missing = [k for k in tp if k not in op and k not in skip_names]
        assert not missing, (name, missing)
        for k in tp:
            if k in op and tp[k].default is not inspect.Parameter.empty:
                want, got = tp[k].default, op[k].default
                if callable(want):  # torch's F.relu default: ours is the engine's relu
                    assert getattr(got, "__name__", None) == want.__name__, (name, k)
                else:
                    assert got == want, (name, k, got, want)


def test_parameter_dict_methods_and_set_submodule_as_torch():
    def run(m, P):
        d = m.ParameterDict(OrderedDict(w=P(np.ones(2)), b=P(np.zeros(1)), c=P(np.ones(3))))
        log = [d.popitem()[0], list(d.keys()), list(d.copy().keys()), tuple(d.setdefault("z", P(np.ones(4))).shape),
               tuple(d.setdefault("w", P(np.ones(5))).shape), list(d.fromkeys(["a", "b"], P(np.ones(1))).keys())]
        d.clear()
        log.append(len(d))
        net = m.Sequential(m.Linear(1, 1), m.Sequential(m.ReLU(), m.Tanh()))
        net.set_submodule("1.0", m.Identity())
        log.append([type(c).__name__ for c in net[1]])
        with pytest.raises(AttributeError):
            net.set_submodule("1.5", m.ReLU(), strict=True)
        return log

    assert run(nn, nn.Parameter) == run(torch.nn, lambda a: torch.nn.Parameter(torch.tensor(a)))
