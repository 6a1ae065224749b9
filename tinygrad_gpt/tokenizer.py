"""Tokenizers: characters of a corpus, or GPT-2's byte-level BPE through tiktoken.

Both share one small interface (:class:`Tokenizer`), and both turn into a JSON-ready dict with
``to_dict()`` so that prepared data carries the vocabulary it was encoded with.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

import tiktoken
import tiktoken.load

from . import assets

__all__ = [
    "Tokenizer",
    "CharTokenizer",
    "GPT2Tokenizer",
    "GPT2_PATTERN",
    "ENDOFTEXT",
    "gpt2_encoding",
    "get_tokenizer",
    "tokenizer_from_dict",
    "load_tokenizer",
]

# tiktoken's own r50k/gpt2 split pattern (tiktoken_ext/openai_public.py, r50k_pat_str).
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
ENDOFTEXT = "<|endoftext|>"


class Tokenizer(Protocol):
    """What the data pipeline and the sampler need from a tokenizer."""

    name: str

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Iterable[int]) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


def _checked_ids(ids: Iterable[int], vocab_size: int, name: str) -> list[int]:
    # A negative id would silently index from the end of a list, so reject it like a large one.
    ids = [int(i) for i in ids]
    for i in ids:
        if not 0 <= i < vocab_size:
            raise ValueError(f"token id {i} is out of range for {name} tokens (vocab size {vocab_size})")
    return ids


class CharTokenizer:
    """One token per character, ids in sorted character order.

    >>> tok = CharTokenizer.from_text("hello")
    >>> tok.encode("hole"), tok.decode([2, 0]), tok.vocab_size
    ([1, 3, 2, 0], 'le', 4)
    """

    name = "char"

    def __init__(self, chars: Iterable[str]):
        self.chars = "".join(chars)
        if list(self.chars) != sorted(set(self.chars)):
            raise ValueError("a char vocabulary must be sorted unique characters")
        self._stoi = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The vocabulary of every distinct character in ``text``."""
        if not text:
            raise ValueError("cannot build a char vocabulary from empty text")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        try:
            return [self._stoi[c] for c in text]
        except KeyError as e:
            c = e.args[0]
            raise ValueError(
                f"character {c!r} (U+{ord(c):04X}) is not in the char vocabulary ({self.vocab_size} chars)"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[i] for i in _checked_ids(ids, self.vocab_size, self.name))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "vocab_size": self.vocab_size, "chars": self.chars}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CharTokenizer:
        if d.get("name") != cls.name:
            raise ValueError(f"not a char tokenizer dict: name is {d.get('name')!r}")
        tok = cls(d["chars"])
        if d.get("vocab_size", tok.vocab_size) != tok.vocab_size:
            n = d["vocab_size"]
            raise ValueError(f"char tokenizer dict says vocab_size {n} but has {tok.vocab_size} chars")
        return tok


@functools.lru_cache(maxsize=1)
def gpt2_encoding() -> tiktoken.Encoding:
    """GPT-2's encoding built from the pinned local BPE files (tiktoken itself would download them).

    >>> gpt2_encoding().encode("Hello world")  # doctest: +SKIP
    [15496, 995]
    """
    vocab_bpe, encoder_json = assets.gpt2_bpe_files()
    ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=str(vocab_bpe),
        encoder_json_file=str(encoder_json),
        vocab_bpe_hash=assets.VOCAB_BPE.sha256,
        encoder_json_hash=assets.ENCODER_JSON.sha256,
    )
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=GPT2_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={ENDOFTEXT: 50256},
        explicit_n_vocab=50257,
    )


class GPT2Tokenizer:
    """GPT-2's byte-level BPE (50257 tokens). Special-token text is plain text unless allowed.

    >>> tok = GPT2Tokenizer()  # doctest: +SKIP
    >>> tok.encode("Hello world"), tok.encode(ENDOFTEXT, allowed_special="all")  # doctest: +SKIP
    ([15496, 995], [50256])
    """

    name = "gpt2"

    def __init__(self) -> None:
        self.encoding = gpt2_encoding()

    @property
    def vocab_size(self) -> int:
        return self.encoding.n_vocab

    @property
    def eot_token(self) -> int:
        return self.encoding.eot_token

    def encode(self, text: str, allowed_special: Collection[str] | Literal["all"] = ()) -> list[int]:
        # disallowed_special=() so a corpus that happens to contain "<|endoftext|>" encodes as text
        # (like encode_ordinary) instead of raising.
        allowed = allowed_special if allowed_special == "all" else set(allowed_special)
        return self.encoding.encode(text, allowed_special=allowed, disallowed_special=())

    def decode(self, ids: Iterable[int]) -> str:
        return self.encoding.decode(_checked_ids(ids, self.vocab_size, self.name))

    def to_dict(self) -> dict[str, Any]:
        # The 50k merges are pinned by hash rather than copied into every meta.json.
        return {
            "name": self.name,
            "vocab_size": self.vocab_size,
            "pat_str": GPT2_PATTERN,
            "special_tokens": {ENDOFTEXT: self.eot_token},
            "vocab_bpe_sha256": assets.VOCAB_BPE.sha256,
            "encoder_json_sha256": assets.ENCODER_JSON.sha256,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GPT2Tokenizer:
        if d.get("name") != cls.name:
            raise ValueError(f"not a gpt2 tokenizer dict: name is {d.get('name')!r}")
        tok = cls()
        mine = tok.to_dict()
        diff = sorted(k for k in mine if k in d and d[k] != mine[k])
        if diff:
            fields = ", ".join(diff)
            raise ValueError(f"gpt2 tokenizer dict differs from the pinned GPT-2 vocabulary in {fields}")
        return tok


_TOKENIZERS: dict[str, type[CharTokenizer | GPT2Tokenizer]] = {"char": CharTokenizer, "gpt2": GPT2Tokenizer}


def get_tokenizer(name: str, text: str | None = None) -> Tokenizer:
    """A fresh tokenizer by name; ``"char"`` builds its vocabulary from ``text``.

    >>> get_tokenizer("char", "abcab").vocab_size
    3
    """
    if name == "char":
        if text is None:
            raise ValueError("the char tokenizer needs the corpus text to build its vocabulary")
        return CharTokenizer.from_text(text)
    if name == "gpt2":
        return GPT2Tokenizer()
    raise ValueError(f"unknown tokenizer {name!r}; choose one of {sorted(_TOKENIZERS)}")


def tokenizer_from_dict(d: Mapping[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from its ``to_dict()``.

    >>> tokenizer_from_dict(CharTokenizer("ab").to_dict()).decode([1, 0])
    'ba'
    """
    cls = _TOKENIZERS.get(d.get("name", ""))
    if cls is None:
        raise ValueError(f"unknown tokenizer {d.get('name')!r}; choose one of {sorted(_TOKENIZERS)}")
    return cls.from_dict(d)


def load_tokenizer(meta: Mapping[str, Any] | str | Path) -> Tokenizer:
    """The tokenizer stored in prepared data: a meta dict, a ``meta.json`` path, or its folder.

    >>> load_tokenizer({"tokenizer": {"name": "char", "chars": "ab"}}).vocab_size
    2
    """
    if not isinstance(meta, Mapping):
        path = Path(meta)
        if path.is_dir():
            path = path / "meta.json"
        meta = json.loads(path.read_text(encoding="utf-8"))
    return tokenizer_from_dict(meta["tokenizer"])
