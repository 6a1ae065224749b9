"""nn.utils.rnn against torch.nn.utils.rnn: padding and packing, and RNN/LSTM/GRU on a
PackedSequence (each sequence over its own steps), values and float64 gradients."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
TR = pytest.importorskip("torch.nn.utils.rnn")

import nn  # noqa: E402
from engine import Tensor  # noqa: E402
from nn.utils import rnn as R  # noqa: E402

RNG = np.random.default_rng(0)


def _close(ours, theirs):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("sorted_batch", [False, True])
def test_recurrent_layers_on_packed_sequences_equal_torch(mode, bidirectional, sorted_batch):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, mode)(3, 4, num_layers=2, batch_first=True, bidirectional=bidirectional).double()
    ours = getattr(nn, mode)(3, 4, num_layers=2, batch_first=True, bidirectional=bidirectional).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    lengths = [5, 5, 3, 2] if sorted_batch else [3, 5, 2, 5]
    xa = RNG.standard_normal((4, 5, 3))
    dirs = 2 if bidirectional else 1
    h0a = RNG.standard_normal((2 * dirs, 4, 4))
    x, tx = Tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    h0, th0 = Tensor(h0a, requires_grad=True), torch.tensor(h0a, requires_grad=True)
    packed = R.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=sorted_batch)
    tpacked = TR.pack_padded_sequence(tx, lengths, batch_first=True, enforce_sorted=sorted_batch)
    assert packed.batch_sizes.tolist() == tpacked.batch_sizes.tolist()
    hx, thx = ((h0, h0 * 0.5), (th0, th0 * 0.5)) if mode == "LSTM" else (h0, th0)
    out, h = ours(packed, hx)
    tout, th = theirs(tpacked, thx)
    _close(out.data, tout.data)
    hn, thn = (h[0] + h[1], th[0] + th[1]) if mode == "LSTM" else (h, th)
    _close(hn, thn)
    padded, lens = R.pad_packed_sequence(out, batch_first=True)
    tpadded, tlens = TR.pad_packed_sequence(tout, batch_first=True)
    _close(padded, tpadded)
    assert lens.tolist() == tlens.tolist()
    (padded.square().sum() + hn.sum()).backward()
    (tpadded.square().sum() + thn.sum()).backward()
    _close(x.grad, tx.grad)
    _close(h0.grad, th0.grad)
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_pad_pack_and_unpack_sequences_equal_torch():
    seqs = [RNG.standard_normal((n, 2)) for n in (2, 4, 1)]
    ours, theirs = [Tensor(s) for s in seqs], [torch.tensor(s) for s in seqs]
    for kw in ({}, {"batch_first": True}, {"padding_value": -1.0, "padding_side": "left"}):
        _close(R.pad_sequence(ours, **kw), TR.pad_sequence(theirs, **kw))
    packed, tpacked = R.pack_sequence(ours, enforce_sorted=False), TR.pack_sequence(theirs, enforce_sorted=False)
    _close(packed.data, tpacked.data)
    assert packed.sorted_indices.tolist() == tpacked.sorted_indices.tolist()
    assert packed.unsorted_indices.tolist() == tpacked.unsorted_indices.tolist()
    for a, b in zip(R.unpack_sequence(packed), TR.unpack_sequence(tpacked)):
        _close(a, b)
    padded, _ = R.pad_packed_sequence(packed, total_length=6)
    tpadded, _ = TR.pad_packed_sequence(tpacked, total_length=6)
    _close(padded, tpadded)


def test_bad_lengths_raise_as_torch():
    x = Tensor(np.zeros((3, 2, 1)))
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        R.pack_padded_sequence(x, [1, 3])
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        R.pack_padded_sequence(x, [2, 0])
    with pytest.raises(ValueError, match="Expected total_length to be at least"):
        R.pad_packed_sequence(R.pack_padded_sequence(x, [3, 1]), total_length=2)
