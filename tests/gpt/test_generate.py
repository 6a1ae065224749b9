"""GPT.generate: the KV cache equals recomputation, cropping past block_size, seeded sampling,
top-k / top-p / temperature, stop tokens and argument checks."""

import numpy as np
import pytest

from engine import no_grad
from tinygrad_gpt.config import GPTConfig
from tinygrad_gpt.model import GPT, sample_next

V = 13
CONFIGS = {
    "dense-learned": dict(),
    "alternating-sinusoidal": dict(attn_pattern="alternating", local_window=3, pos_encoding="sinusoidal"),
    "alternating-learned-3-layers": dict(attn_pattern="alternating", local_window=2, n_layer=3, bias=False),
}


def model_for(seed: int = 0, **overrides) -> GPT:
    c = GPTConfig(**{**dict(vocab_size=V, block_size=8, n_layer=2, n_head=2, n_embd=16), **overrides})
    # float64, so that near-ties between logits cannot flip an argmax between the two paths.
    return GPT(c, seed=seed).double()


def prompt(shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, V, size=shape)


def naive_greedy(model: GPT, idx: np.ndarray, n: int) -> np.ndarray:
    """Greedy decoding by recomputing the cropped context every step (nanoGPT's loop)."""
    bs = model.config.block_size
    model.eval()
    with no_grad():
        for _ in range(n):
            logits = model(idx[:, -bs:])[0].numpy()[:, -1]
            idx = np.concatenate([idx, logits.argmax(-1)[:, None]], axis=1)
    return idx


# ---- KV cache ----------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("prompt_len, new", [(1, 6), (3, 14), (10, 5)])  # fits; outgrows block 8; starts beyond
def test_greedy_with_and_without_cache_equal_recomputation(overrides, prompt_len, new):
    model = model_for(**overrides)
    idx = prompt((2, prompt_len))
    expected = naive_greedy(model, idx, new)
    cached = model.generate(idx, new, temperature=0, use_cache=True)
    uncached = model.generate(idx, new, temperature=0, use_cache=False)
    assert cached.shape == (2, prompt_len + new)
    np.testing.assert_array_equal(cached[:, :prompt_len], idx)
    np.testing.assert_array_equal(uncached, expected)
    np.testing.assert_array_equal(cached, expected)


@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
def test_sampling_with_and_without_cache_agree(overrides):
    model = model_for(**overrides)
    idx = prompt((3, 2), seed=1)
    kw = dict(temperature=0.9, top_k=8, top_p=0.95, seed=11)
    a = model.generate(idx, 15, use_cache=True, **kw)
    b = model.generate(idx, 15, use_cache=False, **kw)
    np.testing.assert_array_equal(a, b)


def test_cache_logits_match_full_forward():
    model = model_for(attn_pattern="alternating", local_window=3)
    import nn

    idx = prompt((2, 8), seed=2)
    with no_grad():
        full = model(idx)[0].numpy()
        caches = [nn.KVCache(8) for _ in range(model.config.n_layer)]
        first = model.lm_head(model.hidden(idx[:, :3], caches)).numpy()
        steps = [model.lm_head(model.hidden(idx[:, t:t + 1], caches)).numpy()[:, 0] for t in range(3, 8)]
    np.testing.assert_allclose(first, full[:, :3], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.stack(steps, 1), full[:, 3:], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="length 9 exceeds block_size 8"):
        model.hidden(idx[:, :1], caches)


# ---- sampling -----------------------------------------------------------------------------------
def test_same_seed_same_samples_and_different_seed_different_samples():
    model = model_for()
    idx = prompt((2, 3))
    kw = dict(temperature=1.0, top_k=10, top_p=0.9)
    a = model.generate(idx, 20, seed=5, **kw)
    b = model.generate(idx, 20, seed=5, **kw)
    c = model.generate(idx, 20, seed=6, **kw)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_top_k_1_is_greedy():
    model = model_for(attn_pattern="alternating", local_window=2)
    idx = prompt((2, 2), seed=3)
    greedy = model.generate(idx, 12, temperature=0)
    for seed in range(3):
        np.testing.assert_array_equal(model.generate(idx, 12, temperature=1.5, top_k=1, seed=seed), greedy)


def test_generate_restores_training_mode_and_leaves_prompt_alone():
    model = model_for(dropout=0.1)
    idx = prompt((1, 3))
    before = idx.copy()
    model.train()
    model.generate(idx, 3, temperature=0)
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    model.generate(idx, 3, temperature=0)
    assert not model.training
    np.testing.assert_array_equal(idx, before)


def test_generate_in_eval_mode_ignores_dropout():
    model = model_for(dropout=0.5)
    idx = prompt((2, 3))
    greedy = model.generate(idx, 10, temperature=0)  # generate runs in eval mode
    np.testing.assert_array_equal(greedy, naive_greedy(model, idx, 10))


SAMPLE = dict(temperature=1.0, seed=0)  # sampled, so that rows differ and tokens vary


def test_stop_token_stops_one_row():
    model = model_for()
    idx = prompt((1, 2), seed=4)
    full = model.generate(idx, 12, **SAMPLE)
    new = full[0, 2:]
    stop = int(new[5])
    first = int(np.argmax(new == stop))  # where stop first appears (at or before step 5)
    out = model.generate(idx, 12, stop_token=stop, **SAMPLE)
    np.testing.assert_array_equal(out, full[:, : 2 + first + 1])
    assert out[0, -1] == stop and stop not in out[0, 2:-1]


def test_stop_token_waits_for_every_row():
    model = model_for()
    idx = prompt((2, 2), seed=5)
    full = model.generate(idx, 16, **SAMPLE)
    new = full[:, 2:]
    first = [{t: int(np.argmax(row == t)) for t in set(row.tolist())} for row in new]
    # a token both rows produce, first at different steps
    shared = sorted(t for t in first[0].keys() & first[1].keys() if first[0][t] != first[1][t])
    assert shared, f"test setup: no usable stop token in {new}"
    stop = shared[0]
    done = max(first[0][stop], first[1][stop])
    out = model.generate(idx, 16, stop_token=stop, **SAMPLE)
    np.testing.assert_array_equal(out, full[:, : 2 + done + 1])
    never = model.generate(idx, 16, stop_token=V + 5, **SAMPLE)  # never produced: runs to the end
    np.testing.assert_array_equal(never, full)


def test_zero_new_tokens_returns_the_prompt():
    model = model_for()
    idx = prompt((2, 3))
    np.testing.assert_array_equal(model.generate(idx, 0), idx)


@pytest.mark.parametrize("kw, match", [
    (dict(temperature=-0.1), "temperature"),
    (dict(top_k=0), "top_k"),
    (dict(top_p=0.0), "top_p"),
    (dict(top_p=1.5), "top_p"),
])
def test_bad_sampling_arguments_raise(kw, match):
    with pytest.raises(ValueError, match=match):
        model_for().generate(prompt((1, 2)), 3, **kw)


def test_bad_prompts_raise():
    model = model_for()
    with pytest.raises(ValueError, match="at least one token"):
        model.generate(np.zeros((1, 0), dtype=np.int64), 3)
    with pytest.raises(ValueError, match=r"(?<!\d)13(?!\d)"):
        model.generate(np.array([[1, 13]]), 3)
    with pytest.raises(TypeError, match="integers"):
        model.generate(np.array([[1.0, 2.0]]), 3)


# ---- sample_next on known distributions ---------------------------------------------------------
PROBS = np.array([0.05, 0.5, 0.15, 0.3])
N = 20000


def draw(logits: np.ndarray, n: int = N, seed: int = 0, **kw) -> np.ndarray:
    """Frequencies of n draws of one row, sampled as n rows at once."""
    rows = np.repeat(logits[None], n, axis=0)
    ids = sample_next(rows, kw.pop("temperature", 1.0), kw.pop("top_k", None), kw.pop("top_p", None),
                      np.random.default_rng(seed))
    return np.bincount(ids, minlength=logits.size) / n


def assert_frequencies(freq: np.ndarray, probs: np.ndarray) -> None:
    # Five standard errors of a binomial frequency; entries of probability 0 must never appear.
    se = np.sqrt(probs * (1 - probs) / N)
    assert (freq[probs == 0] == 0).all(), (freq, probs)
    np.testing.assert_array_less(np.abs(freq - probs), 5 * se + 1e-12)


def test_sampling_follows_softmax():
    assert_frequencies(draw(np.log(PROBS)), PROBS)


def test_temperature_sharpens_as_p_to_the_1_over_t():
    t = 0.5
    expected = PROBS ** (1 / t) / (PROBS ** (1 / t)).sum()
    assert_frequencies(draw(np.log(PROBS), temperature=t), expected)


def test_top_k_keeps_the_k_most_likely():
    expected = np.array([0, 0.5, 0, 0.3]) / 0.8
    assert_frequencies(draw(np.log(PROBS), top_k=2), expected)


@pytest.mark.parametrize("top_p, kept", [
    (0.4, [1]), (0.6, [1, 3]), (0.79, [1, 3]), (0.81, [1, 3, 2]), (0.96, [1, 3, 2, 0]), (1.0, [0, 1, 2, 3]),
])
def test_top_p_keeps_the_smallest_prefix_reaching_p(top_p, kept):
    # sorted: 0.5 (id 1), 0.3 (id 3), 0.15 (id 2), 0.05 (id 0); cumulative 0.5, 0.8, 0.95, 1.0.
    # (Not exactly at a cumulative value: there, rounding in softmax decides.)
    expected = np.zeros(4)
    expected[kept] = PROBS[kept]
    expected /= expected.sum()
    assert_frequencies(draw(np.log(PROBS), top_p=top_p), expected)


def test_top_k_and_top_p_together():
    expected = np.array([0, 0.5, 0, 0.3]) / 0.8  # top_k=3 keeps 1, 3, 2; then top_p=0.7 of those keeps 1, 3
    assert_frequencies(draw(np.log(PROBS), top_k=3, top_p=0.7), expected)


def test_greedy_picks_argmax_per_row():
    logits = np.array([[0.0, 2.0, 1.0], [5.0, -1.0, 4.0]])
    assert sample_next(logits, 0.0, None, None, np.random.default_rng(0)).tolist() == [1, 0]


class _TopOfUnitInterval:
    """A generator stub whose uniform draws are the largest double below 1."""

    def random(self, size):
        return np.full(size, np.nextafter(1.0, 0.0))


@pytest.mark.parametrize("k", [1, 2, 4, 6])
def test_tokens_top_k_removes_are_never_drawn_even_at_the_top_of_the_unit_interval(k):
    # With u just below 1, a cumulative sum that rounds to just below 1 must not let the draw
    # run past the kept tokens onto a removed one.
    logits = np.random.default_rng(k).normal(0, 1, (2000, 7))
    ids = sample_next(logits, 1.0, k, None, _TopOfUnitInterval())
    kth = np.sort(logits, axis=1)[:, -k]
    assert (logits[np.arange(len(ids)), ids] >= kth).all()


def test_tokens_top_p_removes_are_never_drawn_even_at_the_top_of_the_unit_interval():
    logits = np.random.default_rng(0).normal(0, 1, (2000, 7))
    ids = sample_next(logits, 1.0, None, 0.5, _TopOfUnitInterval())
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    order = np.argsort(-p, axis=1)
    sorted_p = np.take_along_axis(p, order, 1)
    n_kept = (np.cumsum(sorted_p, 1) - sorted_p < 0.5).sum(1)
    assert all(i in row[:n] for i, row, n in zip(ids, order, n_kept))


def test_vocab_limit_samples_only_ids_below_it():
    model = model_for()
    idx = prompt((4, 2), seed=6)
    out = model.generate(idx, 30, temperature=2.0, seed=0, vocab_limit=5)
    assert (out[:, 2:] < 5).all()
    assert (model.generate(idx, 30, temperature=2.0, seed=0)[:, 2:] >= 5).any()  # without it they appear
    # greedy under a limit: the argmax of the allowed logits, recomputed step by step
    expected = idx
    with no_grad():
        for _ in range(6):
            logits = model(expected)[0].numpy()[:, -1, :5]
            expected = np.concatenate([expected, logits.argmax(-1)[:, None]], axis=1)
    np.testing.assert_array_equal(model.generate(idx, 6, temperature=0, vocab_limit=5), expected)
    np.testing.assert_array_equal(model.generate(idx, 6, temperature=0, vocab_limit=V),
                                  model.generate(idx, 6, temperature=0))
    for bad in (0, V + 1):
        with pytest.raises(ValueError, match=rf"vocab_limit must be in \[1, {V}\], got {bad}"):
            model.generate(idx, 1, vocab_limit=bad)
