"""Module methods torch has (cuda, type, bfloat16, share_memory, to_empty, compile) and
ParameterList / ParameterDict holding non-tensor values, against torch."""

import inspect

import numpy as np
import pytest

import engine
import nn
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


@pytest.mark.parametrize("name", ["cuda", "type", "bfloat16", "share_memory", "to_empty", "compile"])
def test_signatures_as_torch(name):
    ours = inspect.signature(getattr(nn.Module, name))
    theirs = inspect.signature(getattr(torch.nn.Module, name))
    assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == \
        [(p.name, p.kind, p.default) for p in theirs.parameters.values()]


@pytest.mark.skipif(engine.gpu_available(), reason="checks the error raised without a GPU")
def test_cuda_without_gpu_raises():
    with pytest.raises(RuntimeError, match="No CUDA GPUs are available"):
        nn.Linear(2, 2).cuda()


@pytest.mark.gpu
@pytest.mark.skipif(not engine.gpu_available(), reason="needs CuPy and a CUDA device")
def test_cuda_moves_in_place():
    m = nn.Linear(2, 3)
    w = m.weight
    assert m.cuda() is m and m.weight is w and m.weight.device == "gpu"
    assert nn.Linear(2, 2).cuda(0).weight.device == "gpu"


def test_type_casts_every_entry_as_torch():
    for dst_o, dst_t in [(engine.float64, torch.float64), ("torch.DoubleTensor", "torch.DoubleTensor"),
                         (engine.float16, torch.float16)]:
        tm, om = torch.nn.BatchNorm1d(3), nn.BatchNorm1d(3)
        tm.weight.grad, om.weight.grad = torch.ones(3), Tensor(np.ones(3, np.float32))
        w = om.weight
        assert om.type(dst_o) is om and om.weight is w
        tm.type(dst_t)
        assert [str(v.dtype) for v in om.state_dict().values()] == \
            [str(v.dtype).removeprefix("torch.") for v in tm.state_dict().values()]  # num_batches_tracked too
        assert str(om.weight.grad.dtype) == str(tm.weight.grad.dtype).removeprefix("torch.")
    assert nn.Linear(2, 2).double().type("torch.FloatTensor").weight.dtype == np.float32
    msg = "data set to a tensor that requires gradients must be floating point or complex dtype"
    with pytest.raises(RuntimeError, match=msg):
        torch.nn.Linear(2, 2).type(torch.int64)
    with pytest.raises(RuntimeError, match=msg):
        nn.Linear(2, 2).type(engine.int64)


def test_bfloat16_raises_type_error():
    with pytest.raises(TypeError, match="no bfloat16"):
        nn.Linear(2, 2).bfloat16()


def test_share_memory_compile_to_empty_as_torch():
    for M in (torch.nn, nn):
        m = M.Linear(2, 2)
        assert m.share_memory() is m
        assert m.compile() is None and m.compile(mode="reduce-overhead", fullgraph=True) is None
        s = M.Sequential(M.Linear(2, 3), M.BatchNorm1d(3))
        w, rm = s[0].weight, s[1].running_mean
        assert s.to_empty(device="cpu") is s
        assert s[0].weight is w and isinstance(s[0].weight, M.Parameter)  # the same Parameter, new storage
        assert tuple(s[0].weight.shape) == (3, 2) and tuple(s[1].running_mean.shape) == tuple(rm.shape)
        assert str(s[1].num_batches_tracked.dtype).removeprefix("torch.") == "int64"
    s = nn.Sequential(nn.Linear(2, 3))
    old = s[0].weight.data  # holds the old storage, so a new one can't reuse its address
    s.to_empty(device="cpu", recurse=False)  # nothing of its own: the child keeps its storage
    assert s[0].weight.data_ptr() == old.data_ptr()
    s.to_empty(device="cpu")
    assert s[0].weight.data_ptr() != old.data_ptr()
    with pytest.raises(TypeError):
        s.to_empty("cpu")  # keyword only, as torch


# ---- ParameterList / ParameterDict with non-tensor values ---------------------------------------------------
A = np.ones(2, np.float32)


def _lists():
    return (torch.nn.ParameterList([torch.nn.Parameter(torch.tensor(A)), 3, "x", torch.tensor(A), None]),
            nn.ParameterList([nn.Parameter(A.copy()), 3, "x", Tensor(A), None]))


def test_parameter_list_non_tensors_as_torch():
    t, o = _lists()
    assert len(o) == len(t) == 5
    assert [type(v).__name__ for v in o] == [type(v).__name__ for v in t] == [
        "Parameter", "int", "str", "Parameter", "NoneType"]
    assert list(o.state_dict()) == list(t.state_dict()) == ["0", "3"]
    assert [n for n, _ in o.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert repr(o) == repr(t).replace("torch.", "")
    assert o[1] == 3 and o[2] == "x" and o[4] is None
    t[1], o[1] = torch.tensor(A), Tensor(A)  # an object replaced by a tensor: a Parameter, registered last
    assert isinstance(o[1], nn.Parameter) and list(o.state_dict()) == list(t.state_dict()) == ["0", "3", "1"]
    for lst, P in ((t, "torch.nn.Parameter"), (o, "nn.Parameter")):
        with pytest.raises(TypeError, match=f"cannot assign 'int' as parameter '0' \\({P} or None expected\\)"):
            lst[0] = 4
        with pytest.raises(IndexError, match="index 7 is out of range"):
            lst[7]
    ts, os_ = t[1:4], o[1:4]
    assert type(os_) is nn.ParameterList and [type(v).__name__ for v in os_] == [type(v).__name__ for v in ts]
    assert os_[2] is o[3]
    t.append(7)
    o.append(7)
    assert len(o) == len(t) == 6 and o[-1] == 7


def test_parameter_dict_non_tensors_as_torch():
    t = torch.nn.ParameterDict({"a": torch.nn.Parameter(torch.tensor(A)), "b": 3, "c": "s", "d": torch.tensor(A)})
    o = nn.ParameterDict({"a": nn.Parameter(A.copy()), "b": 3, "c": "s", "d": Tensor(A)})
    assert list(o.keys()) == list(t.keys()) == ["a", "b", "c", "d"]
    assert [type(v).__name__ for v in o.values()] == [type(v).__name__ for v in t.values()]
    assert list(o.state_dict()) == list(t.state_dict()) == ["a", "d"]
    assert repr(o) == repr(t).replace("torch.FloatTensor", "float32")
    assert o["b"] == t["b"] == 3
    for d in (t, o):
        with pytest.raises(AttributeError, match="'ParameterDict' object has no attribute 'zz'"):
            d["zz"]
        with pytest.raises(KeyError):
            del d["zz"]
    t["b"], o["b"] = torch.tensor(A), Tensor(A)
    assert list(o.keys()) == list(t.keys()) and list(o.state_dict()) == list(t.state_dict()) == ["a", "d", "b"]
    assert list(reversed(o)) == list(reversed(t))
    merged_t, merged_o = t | {"q": torch.tensor(A)}, o | {"q": Tensor(A)}
    assert type(merged_o) is nn.ParameterDict and list(merged_o.keys()) == list(merged_t.keys())
    assert type({"q": 1} | o) is type({"q": 1} | t) is dict
    t |= {"z": 1}
    o |= {"z": 1}
    assert list(o.keys()) == list(t.keys()) and o["z"] == 1


def test_private_state_dict_hooks_as_torch():
    """``_register_state_dict_hook`` (a returned dict replaces the root's result only) and
    ``_register_load_state_dict_pre_hook`` (with and without the module), which third-party code calls."""
    def rename(mod, sd, prefix, meta):
        return {k + "_x": v for k, v in sd.items()}

    for M in (torch.nn, nn):
        m = M.Linear(2, 2)
        m._register_state_dict_hook(rename)
        assert list(m.state_dict()) == ["weight_x", "bias_x"]
        s = M.Sequential(M.Linear(2, 2))
        s[0]._register_state_dict_hook(rename)
        assert list(s.state_dict()) == ["0.weight", "0.bias"]
    for with_module in (False, True):
        def fix(*args, skip=int(with_module)):
            sd, prefix = args[skip], args[skip + 1]
            sd[prefix + "weight"] = sd.pop(prefix + "w")

        results = []
        for M, zeros in ((torch.nn, torch.zeros), (nn, np.zeros)):
            m = M.Linear(2, 2)
            m._register_load_state_dict_pre_hook(fix, with_module=with_module)
            results.append(repr(m.load_state_dict({"w": zeros((2, 2)), "bias": zeros(2)})))
            assert float(m.weight.sum()) == 0.0
        assert results[0] == results[1] == "<All keys matched successfully>"
