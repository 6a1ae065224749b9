"""Char and GPT-2 tokenizers: known ids, round trips, errors and saved vocabularies."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_gpt.tokenizer import (
    ENDOFTEXT,
    GPT2_PATTERN,
    CharTokenizer,
    GPT2Tokenizer,
    get_tokenizer,
    load_tokenizer,
    tokenizer_from_dict,
)


@pytest.fixture(scope="module")
def gpt2():
    return GPT2Tokenizer()


def test_gpt2_known_ids(gpt2):
    assert gpt2.name == "gpt2" and gpt2.vocab_size == 50257
    assert gpt2.encode("Hello world") == [15496, 995]
    assert gpt2.encode(" the\n") == [262, 198]
    assert gpt2.encode(ENDOFTEXT, allowed_special={ENDOFTEXT}) == [50256]
    assert gpt2.encode("a" + ENDOFTEXT, allowed_special="all") == [64, 50256]
    assert gpt2.eot_token == 50256
    assert gpt2.decode([50256]) == ENDOFTEXT


def test_gpt2_special_token_text_is_plain_text_by_default(gpt2):
    ids = gpt2.encode("end" + ENDOFTEXT)
    assert 50256 not in ids
    assert gpt2.decode(ids) == "end" + ENDOFTEXT


def test_gpt2_pattern_is_tiktokens_own():
    openai_public = pytest.importorskip("tiktoken_ext.openai_public")
    assert GPT2_PATTERN == openai_public.r50k_pat_str


@settings(deadline=None)
@given(st.text())
def test_gpt2_round_trips_any_text(gpt2, text):
    ids = gpt2.encode(text)
    assert all(0 <= i < 50256 for i in ids)
    assert gpt2.decode(ids) == text


@pytest.mark.parametrize("bad", [50257, 10**6, -1])
def test_gpt2_decode_rejects_out_of_range_ids(gpt2, bad):
    with pytest.raises(ValueError, match=f"token id {bad} is out of range"):
        gpt2.decode([15496, bad])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_char_round_trips_text_from_its_alphabet(data):
    corpus = data.draw(st.text(min_size=1), label="corpus")
    tok = CharTokenizer.from_text(corpus)
    assert tok.vocab_size == len(set(corpus))
    text = data.draw(st.text(alphabet=sorted(set(corpus))), label="text")
    ids = tok.encode(text)
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text


def test_char_ids_follow_sorted_chars():
    tok = get_tokenizer("char", "hello world")
    assert tok.name == "char" and tok.vocab_size == 8
    assert tok.encode(" dehlorw") == list(range(8))


def test_char_unknown_character_is_named():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match=r"character 'é' \(U\+00E9\)"):
        tok.encode("abé")


@pytest.mark.parametrize("bad", [3, -1])
def test_char_decode_rejects_out_of_range_ids(bad):
    with pytest.raises(ValueError, match=f"token id {bad} is out of range"):
        CharTokenizer.from_text("abc").decode([0, bad])


def test_dicts_round_trip_through_json(gpt2, tmp_path):
    char = CharTokenizer.from_text("To be, or not to be —")
    for tok in (char, gpt2):
        d = json.loads(json.dumps(tok.to_dict()))
        back = tokenizer_from_dict(d)
        assert (back.name, back.vocab_size) == (tok.name, tok.vocab_size)
        assert back.encode("not to be") == tok.encode("not to be")

    (tmp_path / "meta.json").write_text(json.dumps({"tokenizer": char.to_dict()}))
    for where in (tmp_path, tmp_path / "meta.json", {"tokenizer": char.to_dict()}):
        assert load_tokenizer(where).decode(char.encode("or not")) == "or not"


def test_bad_dicts_and_names_are_refused(gpt2):
    with pytest.raises(ValueError, match="unknown tokenizer 'bpe'"):
        get_tokenizer("bpe")
    with pytest.raises(ValueError, match="needs the corpus text"):
        get_tokenizer("char")
    with pytest.raises(ValueError, match="unknown tokenizer"):
        tokenizer_from_dict({"name": "bpe"})
    with pytest.raises(ValueError, match="sorted unique"):
        tokenizer_from_dict({"name": "char", "chars": "ba"})
    with pytest.raises(ValueError, match="vocab_size 5"):
        tokenizer_from_dict({"name": "char", "chars": "ab", "vocab_size": 5})
    with pytest.raises(ValueError, match="vocab_bpe_sha256"):
        tokenizer_from_dict({**gpt2.to_dict(), "vocab_bpe_sha256": "0" * 64})
