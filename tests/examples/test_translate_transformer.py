"""examples/translate_transformer.py: the data split, a float64 gradient check of the encoder-decoder
stack, and a few training steps with greedy and beam decoding, a checkpoint and --translate."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import engine
from engine import Tensor

pytest.importorskip("num2words")
SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "translate_transformer.py"


@pytest.fixture(scope="module")
def tt():
    spec = importlib.util.spec_from_file_location("translate_transformer_example", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tiny(tt, vs=12, vt=11, dropout=0.0):
    engine.manual_seed(0)
    return tt.Translator(vs, vt, d_model=8, nhead=2, layers=1, dim_feedforward=16, dropout=dropout, max_len=16)


def batch(vs=12, vt=11):
    """Two sentences, the second padded on both sides, so the padding masks matter."""
    src = np.array([[5, 6, 7, 8, 2], [9, 4, 2, 0, 0]])
    tgt = np.array([[1, 4, 5, 6, 2], [1, 7, 2, 0, 0]])
    return src, tgt


def test_splits_are_disjoint_and_cover_the_small_numbers(tt):
    train, test = tt.make_splits(0, 3000, 200)
    assert len(test) == 200 and len(set(test.tolist())) == 200
    assert not set(train.tolist()) & set(test.tolist())
    assert set(range(100)) <= set(train.tolist())
    assert test.min() >= 100 and train.max() <= tt.MAX_NUMBER


def test_data_is_num2words(tt):
    assert tt.english(1304) == "one thousand three hundred and four"
    assert tt.french(1304) == "mille trois cent quatre"
    v = tt.Vocab(tt.tokenize("deux cent un"))
    assert v.encode("deux cents") == [v.stoi["deux"], tt.UNK, tt.EOS]
    assert v.decode(v.encode("deux cent un") + [v.stoi["un"]]) == "deux cent un"  # stops at EOS


def test_sinusoidal_positions_match_the_paper(tt):
    pe = tt.sinusoidal_positions(6, 4)
    pos, i = np.arange(6)[:, None], np.arange(2)[None]
    np.testing.assert_allclose(pe[:, 0::2], np.sin(pos / 10000 ** (2 * i / 4)), atol=1e-6)
    np.testing.assert_allclose(pe[:, 1::2], np.cos(pos / 10000 ** (2 * i / 4)), atol=1e-6)


def test_noam_schedule_warms_up_then_decays(tt):
    f = tt.noam(64, warmup=10)
    assert f(5) == pytest.approx(64 ** -0.5 * 5 * 10 ** -1.5)
    assert f(40) == pytest.approx(64 ** -0.5 * 40 ** -0.5)
    assert max(range(1, 100), key=f) == 10


def test_encoder_decoder_gradcheck_float64(tt):
    """Every parameter (embeddings, attention, feed-forward, norms) against central differences,
    through the padding and causal masks and the tied output projection."""
    import engine.functional as F

    src, tgt = batch()
    model = tiny(tt)
    # The training loss itself (label smoothing, PAD targets ignored). A loss that also weighed the
    # outputs at PAD positions would see W_tgt[PAD] through the lookup, which padding_idx (as in
    # torch) deliberately leaves out of the gradient.
    rows = engine.gradcheck_model(model, (src, tgt[:, :-1]), lambda out: F.cross_entropy(
        out.transpose(1, 2), tgt[:, 1:], ignore_index=tt.PAD, label_smoothing=0.1), verbose=False)
    assert all(r["ok"] for r in rows) and len(rows) == len(list(model.parameters()))


def test_stack_input_gradcheck_float64(tt):
    """engine.gradcheck with respect to the embedded source and target themselves."""
    model = tiny(tt).to(dtype="float64")
    rng = np.random.default_rng(2)
    x = Tensor(rng.standard_normal((2, 4, 8)), requires_grad=True)
    y = Tensor(rng.standard_normal((2, 3, 8)), requires_grad=True)
    kpm = np.array([[False] * 4, [False, False, True, True]])
    causal = model.transformer.generate_square_subsequent_mask(3, dtype="float64")
    tf = model.transformer
    assert engine.gradcheck(lambda a, b: tf(a, b, tgt_mask=causal, src_key_padding_mask=kpm,
                                            memory_key_padding_mask=kpm), x, y)


def test_padding_is_invisible(tt):
    """Extra PAD columns on the source change nothing: the key padding mask hides them."""
    model = tiny(tt)
    model.eval()
    src, tgt = batch()
    wide = np.concatenate([src, np.zeros((2, 3), dtype=np.int64)], 1)
    np.testing.assert_allclose(model(src, tgt[:, :-1]).numpy(), model(wide, tgt[:, :-1]).numpy(), atol=1e-5)


def test_train_steps_then_decode_checkpoint_and_translate(tt, tmp_path, capsys):
    import nn

    numbers = [3, 4, 20, 21, 300, 304, 1000, 2000]
    en, fr = [tt.english(n) for n in numbers], [tt.french(n) for n in numbers]
    sv = tt.Vocab([w for s in en for w in tt.tokenize(s)])
    tv = tt.Vocab([w for s in fr for w in tt.tokenize(s)])
    src = tt.pad_batch([sv.encode(s) for s in en])
    tgt = tt.pad_batch([[tt.BOS] + tv.encode(s) for s in fr])
    engine.manual_seed(0)
    model = tt.Translator(len(sv), len(tv), d_model=16, nhead=2, layers=1, dim_feedforward=32, dropout=0.0)
    opt = nn.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    sched = nn.optim.lr_scheduler.LambdaLR(opt, tt.noam(16, warmup=5, factor=0.15))
    losses = []
    for _ in range(60):
        model.train()
        loss = tt.loss_fn(model, src, tgt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]

    greedy = tt.greedy_decode(model, src, max_len=8)
    assert len(greedy) == len(numbers) and all(len(g) <= 8 for g in greedy)
    # beam 1 without a length penalty is greedy search
    for i in range(len(numbers)):
        one = tt.beam_search(model, src[i:i + 1], beam=1, alpha=0.0, max_len=8)
        assert tv.decode(one) == tv.decode(greedy[i])
    beam = tt.beam_search(model, src[5:6], beam=3, max_len=8)
    assert all(0 <= t < len(tv) for t in beam)

    w = tt.cross_attention(model, src[5:6], np.array([[tt.BOS] + greedy[5]]))
    assert w.shape == (len(greedy[5]) + 1, src.shape[1])
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)

    class Args:
        d_model, nhead, layers, ff = 16, 2, 1, 32

    path = tmp_path / "t.safetensors"
    tt.save_checkpoint(path, model, sv, tv, Args)
    loaded, sv2, tv2 = tt.load_checkpoint(path)
    assert sv2.itos == sv.itos and tv2.itos == tv.itos
    assert tt.greedy_decode(loaded, src, max_len=8) == greedy
    tt.main(["--checkpoint", str(path), "--translate", "three hundred and four", "--beam", "2"])
    out = capsys.readouterr().out
    assert f"greedy: {tv.decode(greedy[5])}\n" in out and "beam 2:" in out
