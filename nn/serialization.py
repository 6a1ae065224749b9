"""``save``/``load``, torch.save/torch.load's places: safetensors, or .npz as a fallback.

Writes to a path are atomic (temp file + rename), so a crash never leaves a half-written file
under the real name. Loads verify a SHA-256 of every tensor's bytes stored in the
file's metadata, so a truncated or corrupted file raises instead of loading garbage.
``load`` also reads the zip files ``torch.save`` writes (.pt/.pth), without torch and without
running pickled code: only tensors, storages and plain containers are rebuilt.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import os
import pickle
import secrets
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from engine import SparseTensor, Tensor
from engine import device as _device
from engine.backend import to_numpy

_DIGEST_KEY = "tinygrad_gpt.sha256"


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = arrays[name]
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _as_numpy(state_dict: dict) -> dict[str, np.ndarray]:
    out = {}
    for k, v in state_dict.items():
        if not isinstance(k, str):
            raise TypeError(f"state_dict keys must be str, got {k!r}")
        # asarray(order="C"), not ascontiguousarray: that one turns a 0-d array into shape (1,).
        out[k] = np.asarray(to_numpy(v._data if isinstance(v, Tensor) else np.asarray(v)), order="C")
    return out


def atomic_write(path: str | Path, write) -> Path:
    """Call ``write(tmp_path)`` then rename onto ``path`` (same folder, so the rename is atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: its files are 0600 (so are safetensors' own), and the rename keeps
    # that, so a checkpoint would be unreadable to anyone else. Create with 0o666 so the umask
    # decides, as open() does, and put that mode back after ``write``.
    tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    mode = os.stat(tmp).st_mode & 0o777
    try:
        write(tmp)
        os.chmod(tmp, mode)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


_TREE_KEY = "tinygrad_gpt.tree"
# The tree (non-array values such as the step, and the nesting) is checksummed too: a flipped
# digit in it would otherwise load as a wrong step or learning rate. Files from before this key
# carry no tree digest and load as they did.
_TREE_DIGEST_KEY = "tinygrad_gpt.tree.sha256"
_ORDER_KEY = "tinygrad_gpt.order"


def _is_flat(obj) -> bool:
    return isinstance(obj, dict) and all(isinstance(k, str) and _is_array(v) for k, v in obj.items())


def _is_array(v) -> bool:
    return isinstance(v, Tensor) or (type(v) is not SparseTensor and hasattr(v, "dtype") and hasattr(v, "shape"))


def _flatten(obj, arrays: dict, path: str):
    """A JSON tree of ``obj`` with every array moved into ``arrays`` (under its path)."""
    from nn.module import Module

    if isinstance(obj, Module):
        obj = obj.state_dict()
    if isinstance(obj, Tensor):  # loads back as a Tensor (a Parameter), on its device, as torch's
        arrays[path or "tensor"] = obj
        return {"__tensor__": path or "tensor", "requires_grad": obj.requires_grad, "device": str(obj.device),
                "parameter": type(obj).__name__ == "Parameter"}
    if type(obj) is SparseTensor:  # a sparse buffer or gradient: its indices and values, and its size
        base = path or "sparse"
        arrays[f"{base}/indices"], arrays[f"{base}/values"] = obj._idx, obj._vals
        return {"__sparse__": base, "shape": list(obj.shape), "coalesced": obj._coalesced}
    if _is_array(obj):
        arrays[path or "array"] = obj
        return {"__array__": path or "array"}
    if isinstance(obj, dict):
        keys = list(obj)
        if all(isinstance(k, str) for k in keys):
            return {"__dict__": [[k, _flatten(obj[k], arrays, f"{path}/{k}" if path else k)] for k in keys]}
        if all(isinstance(k, int) for k in keys):  # an optimizer's state, keyed by param index
            return {"__intdict__": [[k, _flatten(obj[k], arrays, f"{path}/{k}" if path else str(k))] for k in keys]}
        raise TypeError(f"nn.save: dict keys must be all str or all int, got {keys!r}")
    if isinstance(obj, (list, tuple)):
        kind = "__list__" if isinstance(obj, list) else "__tuple__"
        return {kind: [_flatten(v, arrays, f"{path}/{i}") for i, v in enumerate(obj)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    raise TypeError(f"nn.save cannot store {type(obj).__name__} at {path or 'the top level'!r}")


def _unflatten(tree, arrays: dict, map_location=None):
    if isinstance(tree, dict):
        if "__tensor__" in tree:
            return _as_tensor(arrays[tree["__tensor__"]], tree["requires_grad"], tree["parameter"],
                              tree["device"], map_location)
        if "__array__" in tree:
            return arrays[tree["__array__"]]
        if "__sparse__" in tree:
            base = tree["__sparse__"]
            return SparseTensor(arrays[f"{base}/indices"], arrays[f"{base}/values"], tuple(tree["shape"]),
                                tree["coalesced"])
        if "__dict__" in tree:
            return {k: _unflatten(v, arrays, map_location) for k, v in tree["__dict__"]}
        if "__intdict__" in tree:
            return {int(k): _unflatten(v, arrays, map_location) for k, v in tree["__intdict__"]}
        if "__list__" in tree:
            return [_unflatten(v, arrays, map_location) for v in tree["__list__"]]
        if "__tuple__" in tree:
            return tuple(_unflatten(v, arrays, map_location) for v in tree["__tuple__"])
    return tree


def _as_tensor(array: np.ndarray, requires_grad: bool, parameter: bool, device: str, map_location) -> Tensor:
    """A loaded array as the Tensor (or Parameter) it was saved as, on the device ``map_location``
    picks: a device, a {saved: new} dict, or torch's callable ``(tensor, saved_device) -> tensor | None``."""
    if callable(map_location):
        t = map_location(Tensor(array), device)
        t = Tensor(array) if t is None else t
    else:
        if isinstance(map_location, dict):
            device = map_location.get(device, device)
        elif map_location is not None:
            device = str(map_location)
        t = Tensor(array, device=device)
    if parameter:
        from nn.module import Parameter

        return Parameter(t, requires_grad=requires_grad)
    return t.requires_grad_(requires_grad) if requires_grad else t


def save(obj, f, pickle_module=None, pickle_protocol: int = 2, _use_new_zipfile_serialization: bool = True, *,
         metadata: dict[str, str] | None = None) -> Path | None:
    """torch.save's place: save a Module (its state_dict), a state dict (name → NumPy/CuPy array or
    Tensor), a Tensor, or dicts/lists/tuples of these and plain values (``{"model": m.state_dict(),
    "optim": opt.state_dict(), "step": 10}``) to ``f``, a path (atomic, returned) or a binary file
    object. ``.npz`` selects the NumPy format, anything else safetensors; checksummed. Tensors load
    back as Tensors (Parameters as Parameters, ``requires_grad`` kept), arrays as arrays. The pickle
    arguments are accepted for torch's signature and unused: nothing is pickled.

    >>> import tempfile, os
    >>> p = save({"w": np.ones(2, dtype=np.float32)}, os.path.join(tempfile.mkdtemp(), "m.safetensors"))
    >>> load(p)["w"].tolist()
    [1.0, 1.0]
    """
    from nn.module import Module

    if isinstance(obj, Module):
        obj = obj.state_dict()
    meta = dict(metadata or {})
    if _is_flat(obj) and not any(isinstance(v, Tensor) for v in obj.values()):
        arrays = _as_numpy(obj)
        # safetensors stores names sorted; keep the state dict's own order (torch's OrderedDict)
        meta[_ORDER_KEY] = json.dumps(list(arrays))
    else:
        raw: dict = {}
        tree = _flatten(obj, raw, "")
        arrays = _as_numpy(raw)
        meta[_TREE_KEY] = json.dumps(tree)
        meta[_TREE_DIGEST_KEY] = hashlib.sha256(meta[_TREE_KEY].encode()).hexdigest()
    meta[_DIGEST_KEY] = _digest(arrays)
    if hasattr(f, "write"):  # a file object: the bytes go to it (atomicity is the caller's)
        from safetensors.numpy import save as to_bytes

        f.write(to_bytes(arrays, metadata=meta))
        return None
    path = Path(f)
    if path.suffix == ".npz":
        def write(tmp):
            with open(tmp, "wb") as out:
                np.savez(out, __metadata__=np.array(json.dumps(meta)), **arrays)
    else:
        from safetensors.numpy import save_file

        def write(tmp):
            save_file(arrays, tmp, metadata=meta)
    return atomic_write(path, write)


def load(f, map_location=None, pickle_module=None, *, weights_only: bool | None = None, mmap: bool | None = None,
         with_metadata: bool = False, **pickle_load_args):
    """torch.load's place: read what ``save`` wrote, from a path or a binary file object (name →
    NumPy array, or the object that was saved, Tensors as Tensors), and the metadata dict if asked.
    Also reads a file written by ``torch.save`` (its zip format): tensors come back as Tensors
    (bfloat16 widened to float32, which NumPy lacks), so ``model.load_state_dict(load("model.pt"))``
    works. ``map_location`` moves loaded Tensors (a device, a {saved: new} dict, or a callable);
    ``weights_only``, ``mmap`` and the pickle arguments are accepted: no load ever runs pickled code.
    Raises ValueError on a truncated or corrupted file.

    >>> import io
    >>> buf = io.BytesIO(); save({"w": Tensor([1.0, 2.0])}, buf); _ = buf.seek(0)
    >>> load(buf, map_location="cpu", weights_only=True)["w"].tolist()
    [1.0, 2.0]
    """
    if hasattr(f, "read"):
        name, raw = getattr(f, "name", "the file object"), f.read()
        head = raw[:4]
    else:
        name = path = Path(f)
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint file at {path}")
        with open(path, "rb") as fh:
            head = fh.read(4)
        raw = None
    kind = "safetensors"
    if head == b"\x80\x02\x8a\x0a":  # a pickle starting with torch's magic number: its format before 1.6
        raise ValueError(f"cannot read {name}: it is torch's legacy (pre-1.6, non-zip) format; re-save it with "
                         "torch.save's default _use_new_zipfile_serialization=True")
    if head == b"PK\x03\x04":  # a zip: NumPy's npz, or torch.save's format (it holds a data.pkl)
        try:
            with zipfile.ZipFile(io.BytesIO(raw) if raw is not None else name) as z:
                torch_pickle = [n for n in z.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
            kind = "torch" if torch_pickle else "npz"
        except Exception:  # a damaged zip: the npz reader below names the problem
            kind = "npz"
    if kind == "safetensors":
        from safetensors import safe_open  # outside the try: a missing package is not a bad file
    try:
        if kind == "torch":
            obj = _load_torch_zip(raw if raw is not None else name, torch_pickle[0], map_location)
            return (obj, {}) if with_metadata else obj
        if kind == "npz":
            # Our own file object: np.load(path) leaks its handle when the zip fails to parse.
            with (io.BytesIO(raw) if raw is not None else open(name, "rb")) as fh, \
                    np.load(fh, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(str(arrays.pop("__metadata__"))) if "__metadata__" in arrays else {}
        elif raw is not None:
            from safetensors.numpy import load as from_bytes

            arrays = from_bytes(raw)
            meta = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")]).get("__metadata__") or {}
        else:
            with safe_open(str(name), framework="numpy") as fh:
                meta = fh.metadata() or {}
                arrays = {k: fh.get_tensor(k) for k in fh.keys()}
    except pickle.UnpicklingError:
        raise
    except Exception as e:
        # Damaged bytes surface as whatever the parser trips on: BadZipFile, SafetensorError, but
        # also tokenize.TokenError (a mangled .npy header) or NotImplementedError (mangled zip
        # flags). All of them mean one thing to the caller.
        raise ValueError(
            f"cannot read {name}: the file is truncated or corrupted ({type(e).__name__}: {e})"
        ) from None
    expected = meta.pop(_DIGEST_KEY, None)
    if expected is None:
        raise ValueError(f"{name} has no checksum; it was not written by nn.save")
    if _digest(arrays) != expected:
        raise ValueError(f"{name} is corrupted: its tensors do not match the checksum saved with them")
    tree = meta.pop(_TREE_KEY, None)
    tree_digest = meta.pop(_TREE_DIGEST_KEY, None)
    if tree_digest is not None and (tree is None or hashlib.sha256(tree.encode()).hexdigest() != tree_digest):
        raise ValueError(f"{name} is corrupted: its nested structure does not match the checksum saved with it")
    order = meta.pop(_ORDER_KEY, None)
    if tree is None and order is not None:
        try:
            names = json.loads(order)
        except ValueError:
            names = None
        if not isinstance(names, list) or sorted(names) != sorted(arrays):
            raise ValueError(f"{name} is corrupted: its list of tensor names does not match its tensors")
        arrays = {k: arrays[k] for k in names}
    obj = arrays if tree is None else _unflatten(json.loads(tree), arrays, map_location)
    return (obj, meta) if with_metadata else obj


# ---- torch.save's zip format, read without torch -----------------------------------------------
# archive/data.pkl is a pickle whose tensors are torch._utils._rebuild_tensor_v2(storage, offset,
# size, stride, requires_grad, ...) calls, each storage a persistent id ("storage", torch.FloatStorage,
# key, location, numel) naming the raw bytes in archive/data/<key>.
_TORCH_STORAGES = {"FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
                   "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
                   "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
                   "ComplexFloatStorage": "complex64", "ComplexDoubleStorage": "complex128"}
_TORCH_DTYPES = {"float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool", "complex64",
                 "complex128"}


class _StorageType:
    def __init__(self, dtype: str):
        self.dtype = dtype


class _TorchUnpickler(pickle.Unpickler):
    """Rebuilds only tensors, storages, dtypes, devices, sizes and plain containers (torch's
    ``weights_only=True`` set); any other class raises UnpicklingError naming it."""

    def __init__(self, data: bytes, zf: zipfile.ZipFile, prefix: str, map_location):
        super().__init__(io.BytesIO(data))
        self.zf, self.prefix, self.map_location, self.storages = zf, prefix, map_location, {}
        order = self._entry("byteorder")
        self.byteorder = "<" if order not in zf.namelist() or zf.read(order).strip() == b"little" else ">"

    def _entry(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def find_class(self, module: str, name: str):
        if module == "torch" and name in _TORCH_STORAGES:
            return _StorageType(_TORCH_STORAGES[name])
        if module == "torch" and name in _TORCH_DTYPES:
            return np.dtype(name)
        if module == "torch" and name == "bfloat16":
            return np.dtype("float32")  # widened, as its tensors are
        allowed = {("torch._utils", "_rebuild_tensor_v2"): self._rebuild_tensor,
                   ("torch._utils", "_rebuild_tensor"): self._rebuild_tensor,
                   ("torch._utils", "_rebuild_parameter"): self._rebuild_parameter,
                   ("torch._utils", "_rebuild_parameter_with_state"): self._rebuild_parameter,
                   ("collections", "OrderedDict"): OrderedDict, ("torch", "Size"): lambda *a: tuple(*a),
                   ("torch", "device"): _device, ("_codecs", "encode"): codecs.encode}
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"nn.load: the torch file needs {module}.{name}, which loading weights "
                                         "without torch cannot rebuild (only tensors, Parameters, dtypes, devices "
                                         "and containers are supported)")
        return allowed[(module, name)]

    def persistent_load(self, pid):
        typename, storage_type, key, location, _numel = pid
        if typename != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"nn.load: unsupported torch storage {pid!r}")
        if key not in self.storages:
            raw = self.zf.read(self._entry(f"data/{key}"))
            if storage_type.dtype == "bfloat16":  # the high half of a float32: widen exactly
                bits = np.frombuffer(raw, np.dtype("uint16").newbyteorder(self.byteorder)).astype(np.uint32)
                array = (bits << 16).view(np.float32)
            else:
                array = np.frombuffer(raw, np.dtype(storage_type.dtype).newbyteorder(self.byteorder))
                array = array.astype(array.dtype.newbyteorder("="))
            self.storages[key] = (array, str(location))
        return self.storages[key]

    def _rebuild_tensor(self, storage, offset, size, stride, requires_grad=False, *_):
        array, location = storage
        size, stride = tuple(size), tuple(stride)
        if len(size) != len(stride) or offset < 0 or min(size + stride, default=0) < 0:
            raise ValueError(f"nn.load: bad tensor layout (offset {offset}, size {size}, stride {stride})")
        last = offset + sum((n - 1) * st for n, st in zip(size, stride))
        if 0 not in size and last >= len(array):  # never read past the storage
            raise ValueError(f"nn.load: a tensor of size {size} and stride {stride} at offset {offset} "
                             f"overruns its storage of {len(array)} elements")
        view = np.lib.stride_tricks.as_strided(array[offset:] if 0 not in size else array[:0], shape=size,
                                               strides=[st * array.itemsize for st in stride])
        return _as_tensor(np.array(view), bool(requires_grad), False, location, self.map_location)

    def _rebuild_parameter(self, data, requires_grad, *_):
        from nn.module import Parameter

        return Parameter(data, requires_grad=requires_grad)


def _load_torch_zip(source, pickle_name: str, map_location):
    """The object in a torch.save zip (a path or its bytes), tensors as Tensors."""
    with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as zf:
        prefix = pickle_name[:-len("/data.pkl")] if "/" in pickle_name else ""
        return _TorchUnpickler(zf.read(pickle_name), zf, prefix, map_location).load()
