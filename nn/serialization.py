"""``save``/``load`` of a name → array dict: safetensors, or .npz as a fallback.

Writes are atomic (temp file + rename), so a crash never leaves a half-written file
under the real name. Loads verify a SHA-256 of every tensor's bytes stored in the
file's metadata, so a truncated or corrupted file raises instead of loading garbage.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

import numpy as np

from engine import Tensor
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
        out[k] = np.asarray(to_numpy(v.data if isinstance(v, Tensor) else np.asarray(v)), order="C")
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
    return isinstance(v, Tensor) or (hasattr(v, "dtype") and hasattr(v, "shape"))


def _flatten(obj, arrays: dict, path: str):
    """A JSON tree of ``obj`` with every array moved into ``arrays`` (under its path)."""
    from nn.module import Module

    if isinstance(obj, Module):
        obj = obj.state_dict()
    if _is_array(obj):
        arrays[path] = obj
        return {"__array__": path}
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


def _unflatten(tree, arrays: dict):
    if isinstance(tree, dict):
        if "__array__" in tree:
            return arrays[tree["__array__"]]
        if "__dict__" in tree:
            return {k: _unflatten(v, arrays) for k, v in tree["__dict__"]}
        if "__intdict__" in tree:
            return {int(k): _unflatten(v, arrays) for k, v in tree["__intdict__"]}
        if "__list__" in tree:
            return [_unflatten(v, arrays) for v in tree["__list__"]]
        if "__tuple__" in tree:
            return tuple(_unflatten(v, arrays) for v in tree["__tuple__"])
    return tree


def save(obj, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Save a Module (its state_dict), a state dict (name → NumPy/CuPy array or Tensor), or a
    dict holding state dicts and plain values (``{"model": m.state_dict(), "optim": opt.state_dict(),
    "step": 10}``) to ``path``; ``.npz`` selects the NumPy format. Atomic, and checksummed.

    >>> import tempfile, os
    >>> p = save({"w": np.ones(2, dtype=np.float32)}, os.path.join(tempfile.mkdtemp(), "m.safetensors"))
    >>> load(p)["w"].tolist()
    [1.0, 1.0]
    """
    from nn.module import Module

    if isinstance(obj, Module):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise TypeError(f"nn.save takes a Module or a dict, got {type(obj).__name__}")
    bad = [k for k in obj if not isinstance(k, str)]
    if bad:
        raise TypeError(f"nn.save: top-level keys must be str, got {bad[0]!r}")
    meta = dict(metadata or {})
    if _is_flat(obj):
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
    path = Path(path)
    if path.suffix == ".npz":
        def write(tmp):
            with open(tmp, "wb") as f:
                np.savez(f, __metadata__=np.array(json.dumps(meta)), **arrays)
    else:
        from safetensors.numpy import save_file

        def write(tmp):
            save_file(arrays, tmp, metadata=meta)
    return atomic_write(path, write)


def load(path: str | Path, with_metadata: bool = False):
    """Load what ``save`` wrote: name → NumPy array, or the nested dict that was saved (and the
    metadata dict if asked). Raises ValueError on a truncated or corrupted file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    if path.suffix != ".npz":
        from safetensors import safe_open  # outside the try: a missing package is not a bad file
    try:
        if path.suffix == ".npz":
            # Our own file object: np.load(path) leaks its handle when the zip fails to parse.
            with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(str(arrays.pop("__metadata__"))) if "__metadata__" in arrays else {}
        else:
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                arrays = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:
        # Damaged bytes surface as whatever the parser trips on: BadZipFile, SafetensorError, but
        # also tokenize.TokenError (a mangled .npy header) or NotImplementedError (mangled zip
        # flags). All of them mean one thing to the caller.
        raise ValueError(
            f"cannot read {path}: the file is truncated or corrupted ({type(e).__name__}: {e})"
        ) from None
    expected = meta.pop(_DIGEST_KEY, None)
    if expected is None:
        raise ValueError(f"{path} has no checksum; it was not written by nn.save")
    if _digest(arrays) != expected:
        raise ValueError(f"{path} is corrupted: its tensors do not match the checksum saved with them")
    tree = meta.pop(_TREE_KEY, None)
    tree_digest = meta.pop(_TREE_DIGEST_KEY, None)
    if tree_digest is not None and (tree is None or hashlib.sha256(tree.encode()).hexdigest() != tree_digest):
        raise ValueError(f"{path} is corrupted: its nested structure does not match the checksum saved with it")
    order = meta.pop(_ORDER_KEY, None)
    if tree is None and order is not None:
        try:
            names = json.loads(order)
        except ValueError:
            names = None
        if not isinstance(names, list) or sorted(names) != sorted(arrays):
            raise ValueError(f"{path} is corrupted: its list of tensor names does not match its tensors")
        arrays = {k: arrays[k] for k in names}
    obj = arrays if tree is None else _unflatten(json.loads(tree), arrays)
    return (obj, meta) if with_metadata else obj
