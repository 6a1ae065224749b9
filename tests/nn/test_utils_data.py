"""nn.utils.data against torch.utils.data: the same batches in order, the same collation (values,
dtypes, structure), lengths, split sizes and errors; shuffles are permutations, repeatable with
engine.manual_seed (the random streams differ from torch's)."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tdata = pytest.importorskip("torch.utils.data")

import engine  # noqa: E402
from engine import Tensor  # noqa: E402
from nn.utils import data  # noqa: E402

X = np.arange(30, dtype=np.float32).reshape(10, 3)
Y = np.arange(10, dtype=np.int64)


def _np(batch):
    """A batch (nested) as NumPy arrays / lists, from ours or torch's."""
    if isinstance(batch, (Tensor, torch.Tensor)):
        return batch.numpy()
    if isinstance(batch, dict):
        return {k: _np(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return [_np(b) for b in batch]
    return batch


def _assert_same(ours, theirs):
    a, b = _np(ours), _np(theirs)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(ours[k], theirs[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(ours, theirs):
            _assert_same(x, y)
    else:
        assert a == b


@pytest.mark.parametrize(("batch_size", "drop_last"), [(1, False), (3, False), (3, True), (10, False), (4, True)])
def test_sequential_batches_and_len_equal_torch(batch_size, drop_last):
    ours = data.DataLoader(data.TensorDataset(Tensor(X), Tensor(Y)), batch_size=batch_size, drop_last=drop_last)
    theirs = tdata.DataLoader(tdata.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y)), batch_size=batch_size,
                              drop_last=drop_last)
    assert len(ours) == len(theirs)
    got, want = list(ours), list(theirs)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        _assert_same(a, b)


Point = namedtuple("Point", "x y")


@pytest.mark.parametrize("samples", [
    [1.5, 2.0], [1, 2, 3], [True, False], [np.float32(1), np.float32(2)], ["a", "b"],
    [(np.ones(2), 1), (np.zeros(2), 2)], [{"a": np.arange(3), "b": 0.5}, {"a": np.arange(3), "b": 1.5}],
    [[1, 2.0], [3, 4.0]], [Point(1.0, 2), Point(3.0, 4)],
], ids=["float", "int", "bool", "np_scalar", "str", "tuple", "dict", "list", "namedtuple"])
def test_default_collate_equals_torch(samples):
    ours, theirs = data.default_collate(samples), tdata.default_collate(samples)
    _assert_same(ours, theirs)
    if isinstance(samples[0], Point):
        assert type(ours) is Point


def test_batch_size_none_yields_converted_samples_as_torch():
    ds = [np.arange(3), np.ones(2)]
    for a, b in zip(data.DataLoader(ds, batch_size=None), tdata.DataLoader(ds, batch_size=None)):
        _assert_same(a, b)


def test_batch_sampler_and_split_sizes_equal_torch():
    for n, bs, drop in [(10, 3, False), (10, 3, True), (7, 7, False)]:
        assert list(data.BatchSampler(range(n), bs, drop)) == list(tdata.BatchSampler(range(n), bs, drop))
        assert len(data.BatchSampler(range(n), bs, drop)) == len(tdata.BatchSampler(range(n), bs, drop))
    ds = list(range(11))
    for lengths in ([0.5, 0.5], [0.7, 0.2, 0.1], [3, 8], [1.0]):
        ours = [len(s) for s in data.random_split(ds, lengths)]
        assert ours == [len(s) for s in tdata.random_split(ds, lengths)]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        data.random_split(ds, [3, 3])


def test_shuffle_is_a_new_permutation_each_epoch_and_repeats_with_the_seed():
    ds = data.TensorDataset(Tensor(Y))
    engine.manual_seed(0)
    loader = data.DataLoader(ds, batch_size=4, shuffle=True)
    epochs = [np.concatenate([b[0].numpy() for b in loader]) for _ in range(2)]
    for e in epochs:
        assert sorted(e.tolist()) == Y.tolist()
    assert epochs[0].tolist() != epochs[1].tolist()
    engine.manual_seed(0)
    assert np.concatenate([b[0].numpy() for b in loader]).tolist() == epochs[0].tolist()
    g = np.random.default_rng(3)
    split = data.random_split(list(range(10)), [5, 5], generator=g)
    assert sorted(list(split[0]) + list(split[1])) == list(range(10))


def test_subset_concat_and_samplers():
    ds = data.TensorDataset(Tensor(X), Tensor(Y))
    sub = data.Subset(ds, [4, 1])
    assert len(sub) == 2 and sub[0][1].item() == 4
    cat = ds + sub
    assert len(cat) == 12 and cat[10][1].item() == 4 and cat[-1][1].item() == 1
    assert sorted(data.SubsetRandomSampler([2, 5, 7])) == [2, 5, 7]
    assert len(list(data.RandomSampler(ds, replacement=True, num_samples=25))) == 25
    picks = list(data.WeightedRandomSampler([0.0, 1.0, 0.0], 20))
    assert picks == [1] * 20
    loader = data.DataLoader(ds, batch_sampler=data.BatchSampler(data.SequentialSampler(ds), 4, False))
    assert [b[1].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_iterable_dataset_batches_as_torch():
    class Stream(data.IterableDataset):
        def __iter__(self):
            return iter(range(7))

    class TorchStream(tdata.IterableDataset):
        def __iter__(self):
            return iter(range(7))

    for a, b in zip(data.DataLoader(Stream(), batch_size=3), tdata.DataLoader(TorchStream(), batch_size=3)):
        _assert_same(a, b)
    with pytest.raises(ValueError, match="shuffle"):
        data.DataLoader(Stream(), shuffle=True)


def test_bad_arguments_raise_torchs_errors():
    ds = data.TensorDataset(Tensor(Y))
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        data.TensorDataset(Tensor(X), Tensor(Y[:3]))
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        data.DataLoader(ds, sampler=data.SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        data.DataLoader(ds, batch_size=2, batch_sampler=data.BatchSampler(range(3), 2, False))
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        data.BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        data.DataLoader(ds, num_workers=-1)
