"""nn.save/nn.load with module trees: a module (saved as its state dict), a state dict, and a
checkpoint dict (model + optimizer state + step) round-trip and resume exactly; writes are atomic;
a corrupted file, in its arrays or in its nested structure, raises a clear error."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import nn
from engine import Tensor


def _tree() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(8, 5), nn.LayerNorm(5),
        nn.ModuleDict({"head": nn.Linear(5, 3), "emb": nn.Embedding(4, 5)}),
    )


def _forward(m, x):
    return m[7]["head"](m[:7](x))


def _train_step(m, opt, seed):
    x = Tensor(np.random.default_rng(seed).standard_normal((2, 1, 4, 4)).astype(np.float32))
    loss = (_forward(m, x) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_module_round_trips(tmp_path, suffix):
    m = _tree()
    _train_step(m, nn.optim.SGD(m.parameters(), lr=0.1), 0)  # running stats and num_batches_tracked move
    path = nn.save(m, tmp_path / f"m{suffix}")
    sd = nn.load(path)
    assert list(sd) == list(m.state_dict())
    fresh = _tree()
    result = fresh.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (k, a), (k2, b) in zip(m.state_dict().items(), fresh.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
        assert b.dtype == a.dtype
    m.eval()
    fresh.eval()
    x = Tensor(np.random.default_rng(1).standard_normal((3, 1, 4, 4)).astype(np.float32))
    np.testing.assert_array_equal(_forward(fresh, x).numpy(), _forward(m, x).numpy())


@pytest.mark.parametrize("opt_name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_checkpoint_with_optimizer_and_step_resumes_exactly(tmp_path, opt_name):
    kw = {"SGD": {"lr": 0.1, "momentum": 0.9}, "Adam": {"amsgrad": True}, "AdamW": {}, "RMSprop": {"centered": True}}
    m = _tree()
    opt = getattr(nn.optim, opt_name)(m.parameters(), **kw[opt_name])
    for s in range(3):
        _train_step(m, opt, s)
    nn.save({"model": m.state_dict(), "optim": opt.state_dict(), "step": 3}, tmp_path / "ck.safetensors")
    for s in range(3, 5):
        _train_step(m, opt, s)
    ck = nn.load(tmp_path / "ck.safetensors")
    assert ck["step"] == 3
    m2 = _tree()
    m2.load_state_dict(ck["model"])
    opt2 = getattr(nn.optim, opt_name)(m2.parameters(), **kw[opt_name])
    opt2.load_state_dict(ck["optim"])
    for s in range(ck["step"], 5):
        _train_step(m2, opt2, s)
    for (k, a), b in zip(m.state_dict().items(), m2.state_dict().values()):
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a), err_msg=k)


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    nn.save(nn.Linear(2, 2), path)
    before = path.read_bytes()
    import safetensors.numpy

    def broken(arrays, tmp, metadata=None):
        with open(tmp, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        nn.save(_tree(), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.safetensors"]  # no temp file left behind


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_corrupted_array_bytes_are_detected(tmp_path):
    path = nn.save({"model": _tree().state_dict(), "step": 7}, tmp_path / "ck.safetensors")
    _flip(path, path.stat().st_size - 3)  # inside the last tensor's data
    with pytest.raises(ValueError, match="corrupted"):
        nn.load(path)


def test_corrupted_structure_is_detected(tmp_path):
    """A digit of the step changed inside the header: the arrays still match, the tree must not."""
    path = nn.save({"model": nn.Linear(2, 2).state_dict(), "step": 7}, tmp_path / "ck.safetensors")
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    tree = header["__metadata__"]["tinygrad_gpt.tree"]
    assert '"step", 7]' in tree
    header["__metadata__"]["tinygrad_gpt.tree"] = tree.replace('"step", 7]', '"step", 8]')
    new = json.dumps(header, separators=(",", ":")).encode()
    new += b" " * ((-len(new)) % 8)
    path.write_bytes(len(new).to_bytes(8, "little") + new + raw[8 + n:])
    with pytest.raises(ValueError, match="corrupted"):
        nn.load(path)


def test_save_rejects_what_it_cannot_store(tmp_path):
    assert nn.load(nn.save([1, (2.0, "x")], tmp_path / "x.safetensors")) == [1, (2.0, "x")]  # torch.save's too
    with pytest.raises(TypeError, match="nn.save"):
        nn.save({"f": object()}, tmp_path / "x.safetensors")
