"""Parity with Hugging Face GPT-2 (extra ``parity``: torch + transformers): loading, logits,
loss, gradients and greedy generation, and export back to transformers.

Skipped cleanly when torch or transformers is missing. They are imported when a test here runs,
not at collection, so ``-m "not parity"`` does not pay transformers' import time.
"""

import numpy as np
import pytest

from engine import no_grad
from tinygrad_gpt.config import GPTConfig
from tinygrad_gpt.model import GPT

pytestmark = pytest.mark.parity
torch = transformers = None


@pytest.fixture(scope="module", autouse=True)
def _libraries():
    global torch, transformers
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")

V, CTX, C, L, H = 61, 16, 32, 2, 4
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def hf_model(tie: bool, seed: int = 0):
    """A random GPT2LMHeadModel; LayerNorms and biases are randomized too (they start at 1 and 0),
    so that a mix-up of them cannot go unseen."""
    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        vocab_size=V, n_positions=CTX, n_embd=C, n_layer=L, n_head=H, resid_pdrop=0.0, embd_pdrop=0.0,
        attn_pdrop=0.0, tie_word_embeddings=tie, bos_token_id=0, eos_token_id=0, pad_token_id=0,
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("bias", "ln_1.weight", "ln_2.weight", "ln_f.weight")):
                p.add_(0.1 * torch.randn_like(p))
    return model


def ids(shape, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, V, size=shape)


def hf_logits(model, idx: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(idx)).logits.numpy()


def our_logits(model: GPT, idx: np.ndarray) -> np.ndarray:
    with no_grad():
        return model(idx)[0].numpy()


@pytest.mark.parametrize("tie", [True, False])
def test_from_pretrained_logits_match(tmp_path, tie):
    hf = hf_model(tie)
    hf.save_pretrained(tmp_path)
    ours = GPT.from_pretrained(tmp_path)
    c = ours.config
    assert (c.vocab_size, c.block_size, c.n_layer, c.n_head, c.n_embd, c.tie_weights) == (V, CTX, L, H, C, tie)
    assert (ours.lm_head.weight is ours.transformer.wte.weight) == tie
    idx = ids((3, CTX), seed=1)
    mine, theirs = our_logits(ours, idx), hf_logits(hf, idx)
    assert mine.dtype == theirs.dtype == np.float32
    np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-4)


def test_from_pretrained_weights_are_the_checkpoints(tmp_path):
    hf = hf_model(tie=False)
    hf.save_pretrained(tmp_path)
    ours = dict(GPT.from_pretrained(tmp_path).named_parameters())
    theirs = {k: v.detach().numpy() for k, v in hf.named_parameters()}
    assert set(ours) == set(theirs)
    for k, v in theirs.items():
        np.testing.assert_array_equal(ours[k].numpy(), v.T if k.endswith(CONV1D) else v, err_msg=k)


@pytest.mark.parametrize("tie", [True, False])
def test_loss_and_gradients_match_torch(tmp_path, tie):
    hf = hf_model(tie, seed=1)
    hf.save_pretrained(tmp_path)
    ours = GPT.from_pretrained(tmp_path).double()
    hf = hf.double()
    idx = ids((2, 12), seed=2)
    targets = ids((2, 12), seed=3)
    targets[0, 4] = targets[1, 0] = -1  # ignored, as our forward's ignore_index=-1 says

    logits = hf(torch.from_numpy(idx)).logits
    ref = torch.nn.functional.cross_entropy(logits.reshape(-1, V), torch.from_numpy(targets).reshape(-1),
                                            ignore_index=-1)
    ref.backward()
    _, loss = ours(idx, targets)
    loss.backward()
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-12)

    theirs = dict(hf.named_parameters())
    mine = dict(ours.named_parameters())
    assert set(mine) == set(theirs)
    for k, p in mine.items():
        g = theirs[k].grad.numpy()
        g = g.T if k.endswith(CONV1D) else g
        assert np.abs(g).max() > 0, k
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-9, atol=1e-12, err_msg=k)


def test_loss_matches_transformers_label_loss(tmp_path):
    # transformers shifts labels itself: predicting idx[t+1] from idx[:t+1].
    hf = hf_model(tie=True, seed=2)
    hf.save_pretrained(tmp_path)
    ours = GPT.from_pretrained(tmp_path)
    idx = ids((2, CTX), seed=4)
    with torch.no_grad():
        ref = hf(torch.from_numpy(idx), labels=torch.from_numpy(idx)).loss.item()
    with no_grad():
        _, loss = ours(idx[:, :-1], idx[:, 1:])
    np.testing.assert_allclose(loss.item(), ref, rtol=1e-5)


def test_greedy_generation_matches_transformers(tmp_path):
    hf = hf_model(tie=True, seed=3)
    hf.save_pretrained(tmp_path)
    ours = GPT.from_pretrained(tmp_path).double()
    hf = hf.double()
    idx = ids((2, 4), seed=5)
    with torch.no_grad():
        ref = hf.generate(torch.from_numpy(idx), max_new_tokens=CTX - 4, do_sample=False, eos_token_id=None,
                          pad_token_id=0).numpy()
    np.testing.assert_array_equal(ours.generate(idx, CTX - 4, temperature=0), ref)


def _randomize_like_hf(model: GPT, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for name, p in model.named_parameters():
        if name.endswith(("bias", "ln_1.weight", "ln_2.weight", "ln_f.weight")):
            p.data += (0.1 * rng.standard_normal(p.shape)).astype(p.dtype)


@pytest.mark.parametrize("tie", [True, False])
def test_save_pretrained_loads_in_transformers(tmp_path, tie):
    ours = GPT(GPTConfig(vocab_size=V, block_size=CTX, n_layer=L, n_head=H, n_embd=C, tie_weights=tie), seed=4)
    _randomize_like_hf(ours, seed=5)
    ours.save_pretrained(tmp_path)
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    assert hf.config.tie_word_embeddings == tie
    assert (hf.lm_head.weight.data_ptr() == hf.transformer.wte.weight.data_ptr()) == tie
    idx = ids((3, CTX), seed=6)
    np.testing.assert_allclose(hf_logits(hf, idx), our_logits(ours, idx), rtol=0, atol=1e-4)
    # and back again, exactly
    hf.save_pretrained(tmp_path / "again")
    back = GPT.from_pretrained(tmp_path / "again")
    for (k, a), (_, b) in zip(ours.state_dict().items(), back.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=k)
