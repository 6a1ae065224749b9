"""nn.save / nn.load: bit-identical round trips in both formats, atomic writes, and damaged files
that raise ValueError instead of loading garbage."""

import os
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
import nn
from engine import Tensor

FORMATS = ["safetensors", "npz"]
# Each example writes and reads a file; fewer than the profile's default keep this quick.
io_settings = settings(max_examples=min(settings().max_examples, 25))


def model() -> nn.Module:
    engine.manual_seed(0)
    return nn.Sequential(nn.Embedding(7, 4), nn.LayerNorm(4), nn.MLP(4), nn.Linear(4, 3, bias=False))


@pytest.mark.parametrize("fmt", FORMATS)
def test_state_dict_round_trip_is_bit_identical(tmp_path, fmt):
    src = model()
    path = nn.save(src.state_dict(), tmp_path / f"m.{fmt}")
    assert path.exists()
    loaded = nn.load(path)
    assert sorted(loaded) == sorted(src.state_dict())
    engine.manual_seed(1)
    dst = nn.Sequential(nn.Embedding(7, 4), nn.LayerNorm(4), nn.MLP(4), nn.Linear(4, 3, bias=False))
    assert not np.array_equal(dst[0].weight.numpy(), src[0].weight.numpy())
    dst.load_state_dict(loaded)
    for (n, p), (_, q) in zip(src.named_parameters(), dst.named_parameters()):
        assert p.dtype == q.dtype, n
        assert p.numpy().tobytes() == q.numpy().tobytes(), n


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.scale = nn.Parameter(Tensor(np.array(0.5, dtype=np.float32)))  # 0-d

    def forward(self, x):
        return self.lin(x) * self.scale


@pytest.mark.parametrize("fmt", FORMATS)
def test_zero_dim_parameter_round_trips(tmp_path, fmt):
    src, dst = Scaled(), Scaled()
    src.scale.data[...] = 3.0
    dst.load_state_dict(nn.load(nn.save(src.state_dict(), tmp_path / f"m.{fmt}")))
    assert dst.scale.shape == () and dst.scale.item() == 3.0


@pytest.mark.parametrize("fmt", FORMATS)
def test_dtypes_shapes_tensors_and_metadata(tmp_path, fmt):
    rng = np.random.default_rng(0)
    sd = {
        "f32": rng.standard_normal((3, 4)).astype(np.float32),
        "f64": rng.standard_normal(5),
        "f16": rng.standard_normal((2, 2)).astype(np.float16),
        "i64": np.arange(6, dtype=np.int64).reshape(2, 3),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 3), np.float32),
        "tensor": Tensor(np.ones(2, np.float32)),
        "strided": rng.standard_normal((4, 4))[:, ::2],  # non-contiguous input
    }
    loaded, meta = nn.load(nn.save(sd, tmp_path / f"m.{fmt}", metadata={"step": "12"}), with_metadata=True)
    assert meta == {"step": "12"}
    assert sorted(loaded) == sorted(sd)
    for k, v in sd.items():
        assert isinstance(loaded[k], Tensor) == isinstance(v, Tensor), k  # a Tensor loads as a Tensor, as torch's
        got, v = (loaded[k].numpy(), v.numpy()) if isinstance(v, Tensor) else (loaded[k], v)
        assert got.dtype == v.dtype and got.shape == v.shape, k
        np.testing.assert_array_equal(got, v)


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_is_atomic(tmp_path, fmt, monkeypatch):
    path = tmp_path / f"m.{fmt}"
    nn.save({"w": np.ones(3, np.float32)}, path)
    good = path.read_bytes()
    # A crash in the middle of a write leaves the previous file as it was, and no temp file.
    import safetensors.numpy

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", boom)
    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        nn.save({"w": np.zeros(3, np.float32)}, path)
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("fmt", FORMATS)
def test_saved_file_has_umask_permissions(tmp_path, fmt):
    umask = os.umask(0o022)
    try:
        path = nn.save({"w": np.ones(2)}, tmp_path / f"m.{fmt}")
    finally:
        os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o644  # not mkstemp's 0600


def data_region(raw: bytes, arr: np.ndarray) -> tuple[int, int]:
    """Where ``arr``'s bytes sit in the file (both formats store raw arrays uncompressed)."""
    start = raw.find(arr.tobytes())
    assert start > 0 and raw.find(arr.tobytes(), start + 1) == -1
    return start, start + arr.nbytes


SD = {"a": np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32), "b": np.arange(5.0)}


@pytest.mark.parametrize("fmt", FORMATS)
@io_settings
@given(data=st.data())
def test_flipped_byte_in_data_region_raises(tmp_path_factory, fmt, data):
    path = nn.save(SD, tmp_path_factory.mktemp("flip") / f"m.{fmt}")
    raw = bytearray(path.read_bytes())
    name = data.draw(st.sampled_from(sorted(SD)), label="tensor")
    lo, hi = data_region(bytes(raw), SD[name])
    if fmt == "safetensors":  # cross-check with the format: u64 header length, header, then data
        (header_len,) = struct.unpack("<Q", raw[:8])
        assert lo >= 8 + header_len
    i = data.draw(st.integers(lo, hi - 1), label="offset")
    raw[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupt"):
        nn.load(path)


@pytest.mark.parametrize("fmt", FORMATS)
@io_settings
@given(data=st.data())
def test_flipped_byte_anywhere_never_loads_garbage(tmp_path_factory, fmt, data):
    """Header, zip directory or data: the load either fails with ValueError or, where the byte
    did not matter (padding, a timestamp), returns exactly what was saved."""
    path = nn.save(SD, tmp_path_factory.mktemp("any") / f"m.{fmt}")
    raw = bytearray(path.read_bytes())
    i = data.draw(st.integers(0, len(raw) - 1), label="offset")
    raw[i] ^= data.draw(st.integers(1, 255), label="xor")
    path.write_bytes(bytes(raw))
    try:
        loaded = nn.load(path)
    except ValueError:
        return
    assert sorted(loaded) == sorted(SD)
    for k in SD:
        assert loaded[k].dtype == SD[k].dtype and loaded[k].tobytes() == SD[k].tobytes()


@pytest.mark.parametrize("fmt", FORMATS)
@io_settings
@given(data=st.data())
def test_truncated_file_raises(tmp_path_factory, fmt, data):
    path = nn.save(SD, tmp_path_factory.mktemp("cut") / f"m.{fmt}")
    raw = path.read_bytes()
    keep = data.draw(st.integers(0, len(raw) - 1), label="keep")
    path.write_bytes(raw[:keep])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        nn.load(path)


def test_every_truncation_point_of_a_small_file_raises(tmp_path):
    for fmt in FORMATS:
        path = nn.save({"w": np.arange(3, dtype=np.float32)}, tmp_path / f"m.{fmt}")
        raw = path.read_bytes()
        for keep in range(len(raw)):
            path.write_bytes(raw[:keep])
            with pytest.raises(ValueError):
                nn.load(path)


def test_missing_file_and_foreign_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        nn.load(tmp_path / "nope.safetensors")
    from safetensors.numpy import save_file

    save_file({"w": np.ones(2, np.float32)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ValueError, match="checksum"):  # no digest: we cannot vouch for it
        nn.load(tmp_path / "foreign.safetensors")


def test_int_keys_round_trip_and_mixed_keys_raise(tmp_path):
    """torch.save takes any keys; ours stores all-str or all-int keys (an optimizer's state)."""
    loaded = nn.load(nn.save({1: np.ones(2), 2: "x"}, tmp_path / "m.safetensors"))
    assert list(loaded) == [1, 2] and loaded[2] == "x"
    np.testing.assert_array_equal(loaded[1], np.ones(2))
    with pytest.raises(TypeError, match="all str or all int"):
        nn.save({1: np.ones(2), "a": np.ones(2)}, tmp_path / "m.safetensors")
