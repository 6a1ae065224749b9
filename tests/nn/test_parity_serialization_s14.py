"""nn.save / nn.load as torch.save / torch.load: torch's signature (file objects, map_location,
weights_only), Tensors that load back as Tensors (Parameters, requires_grad), any nesting at the top
level; and files written by torch.save (zip format) read without torch: dtypes, strides, offsets,
shared storages, a model's and an optimizer's state dicts that resume training as torch's do."""

from __future__ import annotations

import collections
import io
import pickle
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import engine  # noqa: E402
import nn  # noqa: E402
from engine import Tensor  # noqa: E402


def _torch_objects():
    x = torch.arange(12.0).reshape(3, 4)
    return {
        "f32": x, "transposed": x.t(), "row": x[1], "offset_view": x[1:, 2:], "expanded": x[:, None].expand(3, 2, 4),
        "f64": torch.linspace(-1, 1, 5, dtype=torch.float64), "f16": torch.tensor([0.5, -2.0], dtype=torch.float16),
        "bf16": torch.tensor([1.5, -2.25, 3e38], dtype=torch.bfloat16), "i64": torch.tensor(7), "i32":
        torch.arange(3, dtype=torch.int32), "i16": torch.arange(3, dtype=torch.int16), "i8": torch.tensor([-3],
        dtype=torch.int8), "u8": torch.arange(4, dtype=torch.uint8), "bool": torch.tensor([True, False]),
        "c64": torch.tensor([1 + 2j], dtype=torch.complex64), "empty": torch.zeros(0, 3),
        "param": torch.nn.Parameter(torch.ones(2)), "frozen": torch.nn.Parameter(torch.ones(2), requires_grad=False),
        "leaf_rg": torch.ones(2, requires_grad=True),
        "nested": collections.OrderedDict(a=[torch.ones(1), (2, "s")], b={3: 4.5}), "size": torch.Size([2, 3]),
        "dtype": torch.float64, "device": torch.device("cpu"), "bytes": b"ab", "none": None,
    }


def _check(ours, theirs, where="top"):
    """ours (from nn.load) is what theirs (from torch.load) is, with torch's types mapped to ours."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, Tensor), where
        assert (type(ours).__name__ == "Parameter") == isinstance(theirs, torch.nn.Parameter), where
        assert ours.requires_grad == theirs.requires_grad, where
        want = theirs.detach()
        want = want.float() if want.dtype == torch.bfloat16 else want  # NumPy has no bfloat16: widened
        assert ours.shape == tuple(want.shape) and ours.dtype == want.numpy().dtype, where
        np.testing.assert_array_equal(ours.numpy(), want.numpy(), err_msg=where)
    elif isinstance(theirs, torch.Size):
        assert ours == tuple(theirs), where
    elif isinstance(theirs, torch.dtype):
        assert ours == getattr(engine, str(theirs).split(".")[1]), where
    elif isinstance(theirs, torch.device):
        assert str(ours) == str(theirs), where
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs), where
        for k in theirs:
            _check(ours[k], theirs[k], f"{where}/{k}")
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _check(a, b, f"{where}/{i}")
    else:
        assert type(ours) is type(theirs) and ours == theirs, where


def test_reads_torch_save_files_as_torch_load_does(tmp_path):
    objects = _torch_objects()
    torch.save(objects, tmp_path / "all.pt")
    _check(nn.load(tmp_path / "all.pt"), torch.load(tmp_path / "all.pt", weights_only=True))
    buf = io.BytesIO()
    torch.save(objects["transposed"], buf)
    buf.seek(0)
    ours = nn.load(buf, map_location="cpu", weights_only=True)
    buf.seek(0)
    _check(ours, torch.load(buf))


def test_views_of_one_storage_are_independent_arrays_with_its_values(tmp_path):
    x = torch.arange(6.0)
    torch.save({"x": x, "tail": x[2:], "even": x[::2]}, tmp_path / "views.pt")
    got = nn.load(tmp_path / "views.pt")
    assert [got[k].tolist() for k in ("x", "tail", "even")] == [x.tolist(), x[2:].tolist(), x[::2].tolist()]


def test_torch_model_and_optimizer_checkpoint_resumes_in_ours(tmp_path):
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.BatchNorm1d(4),
                             torch.nn.Linear(4, 2)).double()
    topt = torch.optim.Adam(tm.parameters(), lr=0.05)
    xs = [np.random.default_rng(s).standard_normal((5, 3)) for s in range(4)]

    def tstep(x):
        topt.zero_grad()
        (tm(torch.from_numpy(x)) ** 2).mean().backward()
        topt.step()

    for x in xs[:2]:
        tstep(x)
    torch.save({"model": tm.state_dict(), "optim": topt.state_dict(), "epoch": 2}, tmp_path / "ck.pth")
    ck = nn.load(tmp_path / "ck.pth")
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.BatchNorm1d(4), nn.Linear(4, 2)).double()
    result = m.load_state_dict(ck["model"])
    assert result.missing_keys == [] and result.unexpected_keys == []
    opt = nn.optim.Adam(m.parameters(), lr=0.05)
    opt.load_state_dict(ck["optim"])
    assert ck["epoch"] == 2
    for x in xs[2:]:
        tstep(x)
        opt.zero_grad()
        (m(Tensor(x)) ** 2).mean().backward()
        opt.step()
    for (k, a), b in zip(tm.state_dict().items(), m.state_dict().values()):
        np.testing.assert_allclose(np.asarray(b), a.numpy(), rtol=1e-12, atol=1e-12, err_msg=k)


def test_torch_file_with_a_pickled_class_is_refused_as_torchs_weights_only_load(tmp_path):
    torch.save({"layer": torch.nn.Linear(1, 1)}, tmp_path / "module.pt")
    with pytest.raises(pickle.UnpicklingError):
        torch.load(tmp_path / "module.pt", weights_only=True)
    with pytest.raises(pickle.UnpicklingError, match="torch.nn.modules.linear.Linear"):
        nn.load(tmp_path / "module.pt")


def test_damaged_torch_files_raise_instead_of_reading_garbage(tmp_path):
    torch.save({"w": torch.arange(8.0)}, tmp_path / "w.pt")
    raw = bytearray((tmp_path / "w.pt").read_bytes())
    at = raw.find(np.arange(8.0, dtype=np.float32).tobytes())
    raw[at + 5] ^= 1  # the zip's CRC-32 catches a flipped data bit
    (tmp_path / "flip.pt").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupted"):
        nn.load(tmp_path / "flip.pt")
    # a storage shorter than the tensor that views it (a consistent zip): never read past it
    with zipfile.ZipFile(tmp_path / "w.pt") as src, zipfile.ZipFile(tmp_path / "short.pt", "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data[:8] if name.endswith("data/0") else data)
    with pytest.raises(ValueError, match="overruns its storage"):
        nn.load(tmp_path / "short.pt")
    torch.save(torch.ones(2), tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match="legacy"):
        nn.load(tmp_path / "legacy.pt")


@pytest.mark.parametrize("suffix", [".safetensors", ".npz", ".pt", None])
def test_own_round_trip_keeps_what_torch_keeps(tmp_path, suffix):
    """Saved by ours and loaded by ours, compared with the same objects through torch.save/load."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal(4)
    lin = nn.Linear(2, 2)
    ours_obj = {"t": Tensor(a), "rg": Tensor(b, requires_grad=True), "param": lin.weight,
                "frozen": nn.Parameter(Tensor(b), requires_grad=False), "list": [Tensor(a), 3, (1.5, "x")],
                "ints": {0: Tensor(b), 1: None}}
    torch_lin = torch.nn.Linear(2, 2)
    with torch.no_grad():
        torch_lin.weight.copy_(torch.from_numpy(lin.weight.numpy()))
    theirs_obj = {"t": torch.from_numpy(a), "rg": torch.from_numpy(b).requires_grad_(), "param": torch_lin.weight,
                  "frozen": torch.nn.Parameter(torch.from_numpy(b), requires_grad=False),
                  "list": [torch.from_numpy(a), 3, (1.5, "x")], "ints": {0: torch.from_numpy(b), 1: None}}
    buf = io.BytesIO()
    torch.save(theirs_obj, buf)
    buf.seek(0)
    theirs = torch.load(buf, weights_only=True)
    if suffix is None:  # a file object
        f = io.BytesIO()
        assert nn.save(ours_obj, f) is None
        f.seek(0)
        ours = nn.load(f, map_location="cpu", weights_only=True)
    else:
        ours = nn.load(nn.save(ours_obj, tmp_path / f"o{suffix}"), map_location=None, weights_only=False, mmap=None)
    _check(ours, theirs)
    for whole in (Tensor(a, requires_grad=True), [Tensor(b)], (1, 2.0)):  # any top level, as torch.save's
        f = io.BytesIO()
        nn.save(whole, f)
        f.seek(0)
        g = io.BytesIO()
        torch.save(_to_torch(whole), g)
        g.seek(0)
        _check(nn.load(f), torch.load(g))


def _to_torch(obj):
    if isinstance(obj, Tensor):
        return torch.from_numpy(obj.numpy()).requires_grad_(obj.requires_grad)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_torch(v) for v in obj)
    return obj


def test_map_location_forms(tmp_path):
    path = nn.save({"w": Tensor([1.0, 2.0])}, tmp_path / "m.safetensors")
    assert nn.load(path, map_location="cpu")["w"].device == "cpu"
    assert nn.load(path, map_location=engine.device("cpu"))["w"].device == "cpu"
    assert nn.load(path, map_location={"cuda:0": "cpu"})["w"].device == "cpu"
    seen = []
    got = nn.load(path, map_location=lambda t, loc: seen.append(loc))  # None: keep torch's default
    assert seen == ["cpu"] and got["w"].tolist() == [1.0, 2.0]
    torch.save({"w": torch.ones(1)}, tmp_path / "t.pt")
    assert nn.load(tmp_path / "t.pt", map_location=lambda t, loc: t * 3)["w"].tolist() == [3.0]


def test_file_object_write_and_atomic_path_write(tmp_path, monkeypatch):
    m = nn.Linear(3, 2)
    with open(tmp_path / "m.bin", "wb") as f:
        nn.save(m.state_dict(), f)
    with open(tmp_path / "m.bin", "rb") as f:
        sd = nn.load(f)
    assert list(sd) == list(m.state_dict())
    fresh = nn.Linear(3, 2)
    fresh.load_state_dict(sd)
    np.testing.assert_array_equal(fresh.weight.numpy(), m.weight.numpy())
    path = tmp_path / "m.pt"
    nn.save({"w": Tensor([1.0])}, path)
    before = path.read_bytes()
    import safetensors.numpy

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        nn.save({"w": Tensor([2.0])}, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["m.bin", "m.pt"]
