"""torch.nn.utils.rnn: variable-length sequences for RNN, LSTM and GRU.

``pack_padded_sequence`` packs a padded batch and its lengths into a ``PackedSequence``; the
recurrent modules take one and run each sequence over its own steps only (h_n is each sequence's
last real step, the reverse direction starts there); ``pad_packed_sequence`` pads the output back.

    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, (h, c) = lstm(packed)
    out, lengths = pad_packed_sequence(out, batch_first=True)

``data`` holds the steps time-major: all sequences' step 0 (longest first), then step 1 of those
that have one, ...; ``batch_sizes[t]`` counts the sequences at step t.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

import engine.functional as F
from engine import Tensor


class PackedSequence(NamedTuple):
    """Sequences packed time-major: ``data`` (sum of lengths, *), ``batch_sizes`` (T,) int64,
    ``sorted_indices`` (the batch order of the packing, longest first) and ``unsorted_indices``
    (its inverse), None when the batch was given sorted."""

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def to(self, *args, **kwargs) -> PackedSequence:
        """``data`` moved or cast as ``Tensor.to``; the indices follow it to a new device, and
        ``batch_sizes`` stays on the CPU, as torch's."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        if data.device == self.data.device:
            return self._replace(data=data)
        move = lambda t: None if t is None else t.to(data.device)  # noqa: E731
        return self._replace(data=data, sorted_indices=move(self.sorted_indices),
                             unsorted_indices=move(self.unsorted_indices))

    def cpu(self) -> PackedSequence:
        return self.to("cpu")

    def cuda(self, device=None) -> PackedSequence:
        return self.to("cuda" if device is None else device)

    def _cast(self, method: str) -> PackedSequence:
        return self._replace(data=getattr(self.data, method)())

    def double(self) -> PackedSequence:
        return self._cast("double")

    def float(self) -> PackedSequence:
        return self._cast("float")

    def half(self) -> PackedSequence:
        return self._cast("half")

    def long(self) -> PackedSequence:
        return self._cast("long")

    def int(self) -> PackedSequence:
        return self._cast("int")

    def short(self) -> PackedSequence:
        return self._cast("short")

    def char(self) -> PackedSequence:
        return self._cast("char")

    def byte(self) -> PackedSequence:
        return self._cast("byte")

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda

    def is_pinned(self) -> bool:
        return False


def _as_lengths(lengths) -> np.ndarray:
    a = lengths.numpy() if isinstance(lengths, Tensor) else np.asarray(lengths)
    if a.ndim != 1:
        raise ValueError(f"pack_padded_sequence: lengths must be 1-D, got shape {a.shape}")
    return a.astype(np.int64)


def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack tensors of shapes (L_i, *) into (max L, B, *) (``batch_first``: (B, max L, *)), padded.

    >>> pad_sequence([Tensor([1.0, 2.0]), Tensor([3.0])], batch_first=True).tolist()
    [[1.0, 2.0], [3.0, 0.0]]
    """
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if isinstance(sequences, Tensor):  # as torch: a tensor is the sequence of its rows
        sequences = sequences.unbind(0)
    if len(sequences) == 0:
        raise RuntimeError("received an empty list of sequences")
    longest = max(s.shape[0] for s in sequences)
    rows = []
    for s in sequences:
        pad = longest - s.shape[0]
        if pad:
            fill = Tensor.full((pad, *s.shape[1:]), padding_value, dtype=s.dtype, device=s.device)
            s = F.concatenate([s, fill] if padding_side == "right" else [fill, s], 0)
        rows.append(s)
    return F.stack(rows, 0 if batch_first else 1)


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,  # noqa: A002
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (T, B, *) (``batch_first``: (B, T, *)) whose sequence b has ``lengths[b]``
    real steps. With ``enforce_sorted`` the lengths must be decreasing; otherwise the batch is
    sorted here and ``sorted_indices`` records the order. Differentiable in ``input``."""
    lengths = _as_lengths(lengths)
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence "
                               "to sidestep this requirement if you do not need ONNX exportability.")
        order = None
    else:
        order = np.argsort(-lengths, kind="stable")
        lengths = lengths[order]
    if batch_first:
        input = input.transpose(0, 1)
    if lengths.size and lengths[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' "
                           "that is <= 0")
    if lengths.size != input.shape[1]:
        raise RuntimeError(f"pack_padded_sequence: expected {input.shape[1]} lengths (the batch), got {lengths.size}")
    if lengths.size and lengths[0] > input.shape[0]:
        raise RuntimeError(f"pack_padded_sequence: a length ({lengths[0]}) exceeds the padded length {input.shape[0]}")
    if order is not None:
        input = input[:, Tensor(order)]
    batch_sizes = np.array([(lengths > t).sum() for t in range(int(lengths[0]) if lengths.size else 0)], np.int64)
    data = F.concatenate([input[t, :n] for t, n in enumerate(batch_sizes.tolist())], 0)
    sorted_indices = None if order is None else Tensor(order)
    unsorted_indices = None if order is None else Tensor(np.argsort(order).astype(np.int64))
    return PackedSequence(data, Tensor(batch_sizes), sorted_indices, unsorted_indices)


def packed_to_padded(sequence: PackedSequence, padding_value: float = 0.0, total_length: int | None = None) -> Tensor:
    """The packed steps as a padded (T, B, *) batch in the packing's (sorted) order."""
    data, sizes = sequence.data, sequence.batch_sizes.numpy().tolist()
    batch = sizes[0] if sizes else 0
    steps, start = [], 0
    for n in sizes:
        rows = data[start:start + n]
        start += n
        if n < batch:
            rows = F.concatenate([rows, Tensor.full((batch - n, *data.shape[1:]), padding_value, dtype=data.dtype,
                                                    device=data.device)], 0)
        steps.append(rows)
    for _ in range((total_length or len(sizes)) - len(sizes)):
        steps.append(Tensor.full((batch, *data.shape[1:]), padding_value, dtype=data.dtype, device=data.device))
    return F.stack(steps, 0)


def padded_to_packed(padded: Tensor, like: PackedSequence) -> PackedSequence:
    """A (T, B, *) batch in ``like``'s sorted order, packed with ``like``'s batch sizes."""
    sizes = like.batch_sizes.numpy().tolist()
    data = F.concatenate([padded[t, :n] for t, n in enumerate(sizes)], 0)
    return like._replace(data=data)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """(padded (T, B, *) in the original batch order, lengths (B,) int64): the inverse of
    ``pack_padded_sequence``.

    >>> x = pad_sequence([Tensor([1.0, 2.0]), Tensor([3.0])])
    >>> out, n = pad_packed_sequence(pack_padded_sequence(x, [2, 1])); out.tolist(), n.tolist()
    ([[1.0, 3.0], [2.0, 0.0]], [2, 1])
    """
    sizes = sequence.batch_sizes.numpy()
    if total_length is not None and total_length < len(sizes):
        raise ValueError(f"Expected total_length to be at least the length of the longest sequence in input, "
                         f"but got total_length={total_length} and max sequence length being {len(sizes)}")
    padded = packed_to_padded(sequence, padding_value, total_length)
    batch = int(sizes[0]) if sizes.size else 0
    lengths = np.array([(sizes > b).sum() for b in range(batch)], np.int64)
    if sequence.unsorted_indices is not None:
        padded = padded[:, sequence.unsorted_indices]
        lengths = lengths[sequence.unsorted_indices.numpy()]
    return (padded.transpose(0, 1) if batch_first else padded), Tensor(lengths)


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack tensors of shapes (L_i, *): ``pack_padded_sequence(pad_sequence(sequences), lengths)``."""
    return pack_padded_sequence(pad_sequence(sequences), [s.shape[0] for s in sequences],
                                enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list[Tensor]:
    """The sequences of a padded batch, each cut to its length."""
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[b, :n] for b, n in enumerate(_as_lengths(lengths).tolist())]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The sequences of a PackedSequence, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


__all__ = ["PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence", "pad_sequence",
           "unpack_sequence", "unpad_sequence"]
