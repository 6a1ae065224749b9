"""The encoder-decoder of examples/translate_transformer.py against torch: nn.Transformer with the
same weights (copied through state_dict), and the whole Translator (embeddings, sinusoidal
positions, tied output projection, label-smoothed loss) against a torch twin."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

import engine  # noqa: E402
import nn  # noqa: E402
from engine import Tensor  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "translate_transformer.py"


@pytest.fixture(scope="module")
def tt():
    pytest.importorskip("num2words")
    spec = importlib.util.spec_from_file_location("translate_transformer_parity", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def to_torch(state):
    return {k: torch.from_numpy(np.array(v.numpy() if isinstance(v, Tensor) else v)) for k, v in state.items()}


def masks(N, S, T):
    src_kpm = np.zeros((N, S), dtype=bool)
    src_kpm[1, S - 2:] = True  # the second source sentence is two words shorter
    tgt_kpm = np.zeros((N, T), dtype=bool)
    tgt_kpm[1, T - 1:] = True
    return src_kpm, tgt_kpm


@pytest.mark.parametrize("batch_first,norm_first", [(True, False), (False, False), (True, True)])
def test_transformer_forward_and_backward_match_torch(batch_first, norm_first):
    N, S, T, d = 2, 5, 4, 8
    engine.manual_seed(0)
    ours = nn.Transformer(d, 2, 2, 2, 16, dropout=0.0, batch_first=batch_first, norm_first=norm_first,
                          dtype="float64")
    ref = torch.nn.Transformer(d, 2, 2, 2, 16, dropout=0.0, batch_first=batch_first, norm_first=norm_first,
                               dtype=torch.float64)
    ref.load_state_dict(to_torch(ours.state_dict()))
    assert list(ref.state_dict()) == list(ours.state_dict())
    rng = np.random.default_rng(0)
    shape_s, shape_t = ((N, S, d), (N, T, d)) if batch_first else ((S, N, d), (T, N, d))
    src, tgt = rng.standard_normal(shape_s), rng.standard_normal(shape_t)
    src_kpm, tgt_kpm = masks(N, S, T)
    causal = np.triu(np.full((T, T), -np.inf), 1)
    x, y = Tensor(src, requires_grad=True), Tensor(tgt, requires_grad=True)
    out = ours(x, y, tgt_mask=Tensor(causal), src_key_padding_mask=src_kpm, tgt_key_padding_mask=tgt_kpm,
               memory_key_padding_mask=src_kpm)
    tx, ty = torch.tensor(src, requires_grad=True), torch.tensor(tgt, requires_grad=True)
    ref.train()  # the math path: torch's eval fast path zeroes padded outputs
    tout = ref(tx, ty, tgt_mask=torch.tensor(causal), src_key_padding_mask=torch.tensor(src_kpm),
               tgt_key_padding_mask=torch.tensor(tgt_kpm), memory_key_padding_mask=torch.tensor(src_kpm))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-10)
    v = rng.standard_normal(out.shape)
    (out * Tensor(v)).sum().backward()
    (tout * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-9, atol=1e-10)
    tparams = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=1e-9, atol=1e-10,
                                   err_msg=name)


def test_need_weights_match_torch():
    engine.manual_seed(1)
    ours = nn.MultiheadAttention(8, 2, batch_first=True, dtype="float64")
    ref = torch.nn.MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64)
    ref.load_state_dict(to_torch(ours.state_dict()))
    rng = np.random.default_rng(1)
    q, k = rng.standard_normal((2, 3, 8)), rng.standard_normal((2, 5, 8))
    kpm = masks(2, 5, 3)[0]
    _, w = ours(Tensor(q), Tensor(k), Tensor(k), key_padding_mask=kpm)
    _, tw = ref(torch.tensor(q), torch.tensor(k), torch.tensor(k), key_padding_mask=torch.tensor(kpm))
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-10, atol=1e-12)


class TorchTranslator(torch.nn.Module):
    """The example's model written in torch, with the same parameter names."""

    def __init__(self, vs, vt, d, nhead, layers, ff, pe):
        super().__init__()
        self.d = d
        self.src_embed = torch.nn.Embedding(vs, d, padding_idx=0)
        self.tgt_embed = torch.nn.Embedding(vt, d, padding_idx=0)
        self.transformer = torch.nn.Transformer(d, nhead, layers, layers, ff, dropout=0.0, batch_first=True)
        self.pe = torch.tensor(pe)

    def forward(self, src, tgt_in):
        T = tgt_in.shape[1]
        s = self.src_embed(src) * math.sqrt(self.d) + self.pe[:src.shape[1]]
        t = self.tgt_embed(tgt_in) * math.sqrt(self.d) + self.pe[:T]
        causal = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=s.dtype)
        h = self.transformer(s, t, tgt_mask=causal, src_key_padding_mask=src == 0, tgt_key_padding_mask=tgt_in == 0,
                             memory_key_padding_mask=src == 0)
        return h @ self.tgt_embed.weight.T


def test_translator_loss_and_gradients_match_torch(tt):
    src = np.array([[5, 6, 7, 8, 2], [9, 4, 2, 0, 0]])
    tgt = np.array([[1, 4, 5, 6, 2], [1, 7, 2, 0, 0]])
    engine.manual_seed(0)
    ours = tt.Translator(12, 11, d_model=8, nhead=2, layers=2, dim_feedforward=16, dropout=0.0,
                         max_len=16).to(dtype="float64")
    ref = TorchTranslator(12, 11, 8, 2, 2, 16, tt.sinusoidal_positions(16, 8).astype(np.float64)).double()
    ref.load_state_dict(to_torch(ours.state_dict()))
    loss = tt.loss_fn(ours, src, tgt, smoothing=0.1)
    logits = ref(torch.tensor(src), torch.tensor(tgt[:, :-1]))
    tloss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), torch.tensor(tgt[:, 1:]), ignore_index=0,
                                              label_smoothing=0.1)
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-12)
    loss.backward()
    tloss.backward()
    tparams = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)
