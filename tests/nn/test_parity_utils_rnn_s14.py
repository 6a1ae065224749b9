"""nn.utils.rnn against torch.nn.utils.rnn where the earlier tests did not look: pad_sequence given
one tensor (the sequence of its rows), its padding_side error, and PackedSequence's cast and device
methods (double/float/half/long/int/..., cpu, is_pinned)."""

from __future__ import annotations

import numpy as np
import pytest

from engine import Tensor
from nn.utils import rnn as R

torch = pytest.importorskip("torch")
TR = pytest.importorskip("torch.nn.utils.rnn")
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("shape", [(2, 3), (4, 3, 2), (1, 5)])
def test_pad_sequence_of_a_tensor_equals_torch(shape, batch_first, padding_side):
    a = RNG.standard_normal(shape)
    ours = R.pad_sequence(Tensor(a), batch_first=batch_first, padding_side=padding_side)
    theirs = TR.pad_sequence(torch.tensor(a), batch_first=batch_first, padding_side=padding_side)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_pad_sequence_bad_padding_side_raises_torchs_error():
    seqs = [np.ones((2, 3)), np.ones((1, 3))]
    with pytest.raises(RuntimeError) as theirs:
        TR.pad_sequence([torch.tensor(s) for s in seqs], padding_side="middle")
    with pytest.raises(RuntimeError) as ours:
        R.pad_sequence([Tensor(s) for s in seqs], padding_side="middle")
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("method", ["double", "float", "half", "long", "int", "short", "char", "byte", "cpu"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_sequence_casts_equal_torch(method, enforce_sorted):
    seqs = [RNG.standard_normal((n, 2)) * 50 for n in ([4, 2, 1] if enforce_sorted else [2, 4, 1])]
    ours = getattr(R.pack_sequence([Tensor(s) for s in seqs], enforce_sorted=enforce_sorted), method)()
    theirs = getattr(TR.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=enforce_sorted), method)()
    assert isinstance(ours, R.PackedSequence)
    assert str(ours.data.dtype) == str(theirs.data.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(ours.data.numpy(), theirs.data.numpy())
    np.testing.assert_array_equal(ours.batch_sizes.numpy(), theirs.batch_sizes.numpy())
    for o, t in ((ours.sorted_indices, theirs.sorted_indices), (ours.unsorted_indices, theirs.unsorted_indices)):
        assert (o is None) == (t is None)
        if o is not None:
            np.testing.assert_array_equal(o.numpy(), t.numpy())
    assert ours.is_pinned() == theirs.is_pinned()
    assert ours.is_cuda == theirs.is_cuda
