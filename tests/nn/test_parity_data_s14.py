"""nn.utils.data against torch.utils.data, the corners test_utils_data.py leaves: collation and
conversion of mixed numbers, NumPy scalars and container types, ChainDataset / StackDataset /
__getitems__, random_split's fraction checks, the samplers' argument and multinomial errors, and
DataLoader's worker-option checks, attributes and iterator."""

from __future__ import annotations

import collections
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tdata = pytest.importorskip("torch.utils.data")

import engine  # noqa: E402
from engine import Tensor  # noqa: E402
from nn.utils import data  # noqa: E402

OD = collections.OrderedDict


def _plain(x):
    """A nested batch (ours or torch's) as comparable Python values, container types kept."""
    if isinstance(x, (Tensor, torch.Tensor)):
        return ("tensor", str(x.dtype).replace("torch.", ""), tuple(x.shape), x.numpy().tolist())
    if isinstance(x, collections.abc.Mapping):
        return (type(x).__name__, {k: _plain(v) for k, v in x.items()})
    if isinstance(x, (list, tuple, collections.deque)):
        return (type(x).__name__, [_plain(v) for v in x])
    if isinstance(x, np.ndarray):
        return ("ndarray", str(x.dtype), x.tolist())
    return (type(x).__name__, x)


def _outcome(fn):
    try:
        return "ok", _plain(fn())
    except Exception as e:  # noqa: BLE001 - the exception type is what is compared
        return "raises", type(e)


def _same(ours, theirs):
    a, b = _outcome(ours), _outcome(theirs)
    if a[0] == b[0] == "raises":
        assert issubclass(a[1], b[1]), (a, b)
    else:
        assert a == b


@pytest.mark.parametrize("batch", [
    [1, 2.5], [1.5, 2], [True, 2], [np.float16(1), np.float16(2)], [np.bool_(True), np.bool_(False)],
    [np.array(1.0), np.array(2.0)], [np.ones(2, np.complex64)] * 2, [OD(a=1, b=2.0), OD(a=3, b=4.0)],
    [collections.deque([1, 2]), collections.deque([3, 4])], [((1, 2.0), {"k": [3]}), ((4, 5.0), {"k": [6]})],
    [np.array(["a"])] * 2, [None, None], [[1, 2], [3]],
], ids=["int_then_float", "float_then_int", "bool_then_int", "np_f16", "np_bool", "np_0d", "complex",
        "ordereddict", "deque", "nested", "str_array", "none", "ragged"])
def test_default_collate_types_equal_torch(batch):
    _same(lambda: data.default_collate(batch), lambda: tdata.default_collate(batch))


@pytest.mark.parametrize("sample", [
    np.float32(2), np.bool_(True), np.array(3), np.ones(2, np.complex128), (np.ones(1), 2), [np.ones(1), "s"],
    OD(a=np.ones(1)), np.array(["a"]), 3, "s", collections.deque([np.ones(1)]),
], ids=["np_scalar", "np_bool", "np_0d", "complex", "tuple", "list", "ordereddict", "str_array", "int", "str",
        "deque"])
def test_default_convert_equals_torch(sample):
    _same(lambda: data.default_convert(sample), lambda: tdata.default_convert(sample))


X = np.arange(12.0).reshape(6, 2)
Y = np.arange(6)


def _both():
    return (data.TensorDataset(Tensor(X), Tensor(Y)),
            tdata.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y)))


def test_batch_size_none_yields_samples_as_torch_lists():
    ours, theirs = _both()
    _same(lambda: list(data.DataLoader(ours, batch_size=None)), lambda: list(tdata.DataLoader(theirs, batch_size=None)))


class _Count(data.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


class _TCount(tdata.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


def test_chain_stack_subset_and_concat_helpers_equal_torch():
    ours, theirs = _both()
    _same(lambda: list(data.ChainDataset([_Count(2), _Count(3)])),
          lambda: list(tdata.ChainDataset([_TCount(2), _TCount(3)])))
    _same(lambda: list(_Count(2) + _Count(3)), lambda: list(_TCount(2) + _TCount(3)))
    _same(lambda: len(data.ChainDataset([_Count(2), _Count(3)])),
          lambda: len(tdata.ChainDataset([_TCount(2), _TCount(3)])))
    _same(lambda: list(data.ChainDataset([_Count(2), [1]])), lambda: list(tdata.ChainDataset([_TCount(2), [1]])))
    _same(lambda: data.StackDataset(ours, ours)[1], lambda: tdata.StackDataset(theirs, theirs)[1])
    _same(lambda: data.StackDataset(x=ours, y=Y.tolist())[2], lambda: tdata.StackDataset(x=theirs, y=Y.tolist())[2])
    _same(lambda: len(data.StackDataset(ours, ours)), lambda: len(tdata.StackDataset(theirs, theirs)))
    _same(lambda: data.StackDataset(ours, [1]), lambda: tdata.StackDataset(theirs, [1]))
    _same(lambda: data.StackDataset(), lambda: tdata.StackDataset())
    _same(lambda: data.StackDataset(ours, y=ours), lambda: tdata.StackDataset(theirs, y=theirs))
    _same(lambda: data.Subset(ours, [3, 1]).__getitems__([1, 0]),
          lambda: tdata.Subset(theirs, [3, 1]).__getitems__([1, 0]))
    _same(lambda: data.ConcatDataset.cumsum([[1], [1, 2], []]), lambda: tdata.ConcatDataset.cumsum([[1], [1, 2], []]))
    assert data.get_worker_info() is None and tdata.get_worker_info() is None


def test_loader_uses_the_datasets_getitems_as_torch():
    class Batched(data.Dataset):
        def __getitem__(self, i):
            return i

        def __len__(self):
            return 5

        def __getitems__(self, idx):
            return [100 + i for i in idx]

    class TBatched(tdata.Dataset):
        def __getitem__(self, i):
            return i

        def __len__(self):
            return 5

        def __getitems__(self, idx):
            return [100 + i for i in idx]

    _same(lambda: list(data.DataLoader(Batched(), batch_size=2)),
          lambda: list(tdata.DataLoader(TBatched(), batch_size=2)))
    sub, tsub = data.Subset(Batched(), [4, 0, 2]), tdata.Subset(TBatched(), [4, 0, 2])
    _same(lambda: list(data.DataLoader(sub, batch_size=2)), lambda: list(tdata.DataLoader(tsub, batch_size=2)))


@pytest.mark.parametrize("lengths", [[-0.5, 1.5], [1.2, -0.2], [0.0, 1.0], [0.3, 0.3, 0.4], [0.1] * 10])
def test_random_split_fractions_equal_torch(lengths):
    ds = list(range(10))
    with warnings.catch_warnings(record=True) as ours_w:
        warnings.simplefilter("always")
        ours = _outcome(lambda: [len(s) for s in data.random_split(ds, lengths)])
    with warnings.catch_warnings(record=True) as theirs_w:
        warnings.simplefilter("always")
        theirs = _outcome(lambda: [len(s) for s in tdata.random_split(ds, lengths)])
    assert ours[0] == theirs[0] and (ours[1] == theirs[1] if ours[0] == "ok" else issubclass(ours[1], theirs[1]))
    assert [str(w.message) for w in ours_w] == [str(w.message) for w in theirs_w]


def test_random_split_with_an_engine_generator_is_a_repeatable_partition():
    parts = [data.random_split(range(10), [3, 7], generator=engine.Generator().manual_seed(5)) for _ in range(2)]
    assert [list(p) for p in parts[0]] == [list(p) for p in parts[1]]
    assert sorted(list(parts[0][0]) + list(parts[0][1])) == list(range(10))


def test_sampler_argument_errors_equal_torch():
    ds = list(range(4))
    _same(lambda: data.RandomSampler(ds, replacement=1), lambda: tdata.RandomSampler(ds, replacement=1))
    _same(lambda: data.WeightedRandomSampler([1, 2], 2, replacement=0),
          lambda: tdata.WeightedRandomSampler([1, 2], 2, replacement=0))
    _same(lambda: data.WeightedRandomSampler([0.0, 1.0], 3).weights,
          lambda: tdata.WeightedRandomSampler([0.0, 1.0], 3).weights)
    for w, n, repl in [([1, 2], 3, False), ([1, -2], 3, True), ([0, 0], 3, True), ([1, np.inf], 2, True),
                       ([1, np.nan], 2, True)]:
        ours = _outcome(lambda w=w, n=n, r=repl: list(data.WeightedRandomSampler(w, n, replacement=r)))
        theirs = _outcome(lambda w=w, n=n, r=repl: list(tdata.WeightedRandomSampler(w, n, replacement=r)))
        assert ours == theirs == ("raises", RuntimeError), (w, n, repl)


def test_weighted_sampler_without_replacement_draws_each_index_once():
    """Distinct indices, the weighted ones before any zero-weight one (which torch draws only when
    asked for more indices than have weight), for ours as for torch's."""
    for w, n in [([1, 2, 3], 3), ([1, 0, 2], 3), ([0, 5, 0, 1], 2), ([0, 5, 0, 1], 4)]:
        nonzero = {i for i, v in enumerate(w) if v}
        k = min(n, len(nonzero))
        for picks in (list(data.WeightedRandomSampler(w, n, replacement=False)),
                      tdata.WeightedRandomSampler(w, n, replacement=False).__iter__()):
            picks = list(picks)
            assert len(picks) == len(set(picks)) == n and set(picks[:k]) <= nonzero, (w, n, picks)


@pytest.mark.parametrize("kwargs", [
    {"prefetch_factor": 2}, {"persistent_workers": True}, {"multiprocessing_context": "spawn"},
    {"num_workers": 2, "prefetch_factor": -1}, {"timeout": 1.0}, {"batch_sampler": [[0, 1]], "drop_last": True},
])
def test_loader_option_checks_equal_torch(kwargs):
    ours, theirs = _both()
    _same(lambda: list(data.DataLoader(ours, **kwargs)), lambda: list(tdata.DataLoader(theirs, **kwargs)))


@pytest.mark.parametrize("kwargs", [{"shuffle": True}, {"sampler": [0]}, {"batch_sampler": [[0]]}])
def test_iterable_dataset_option_errors_name_the_option_as_torch(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=f"expected unspecified {name} option"):
        data.DataLoader(_Count(3), **kwargs)
    with pytest.raises(ValueError, match=f"expected unspecified {name} option"):
        tdata.DataLoader(_TCount(3), **kwargs)


def test_loader_attributes_iterator_and_frozen_fields_equal_torch():
    ours, theirs = _both()
    names = ("prefetch_factor", "persistent_workers", "pin_memory_device", "in_order", "multiprocessing_context",
             "timeout", "num_workers", "drop_last", "batch_size", "generator", "worker_init_fn")
    for kw in ({}, {"num_workers": 2}, {"batch_size": None}):
        a, b = data.DataLoader(ours, **kw), tdata.DataLoader(theirs, **kw)
        assert [getattr(a, n) for n in names] == [getattr(b, n) for n in names], kw
        _same(lambda a=a: len(iter(a)), lambda b=b: len(iter(b)))
        _same(lambda a=a: next(iter(a)), lambda b=b: next(iter(b)))
        it, tit = iter(a), iter(b)
        assert iter(it) is it and iter(tit) is tit
        for name in ("batch_size", "sampler", "drop_last", "dataset"):
            _same(lambda a=a, n=name: setattr(a, n, None), lambda b=b, n=name: setattr(b, n, None))
    a, b = data.DataLoader(ours, num_workers=2, batch_size=4), tdata.DataLoader(theirs, num_workers=2, batch_size=4)
    _same(lambda: [list(a), list(a)], lambda: [list(b), list(b)])  # twice: each epoch from the start
    a.collate_fn = len  # not frozen in torch either
    assert list(a) == [4, 2]


@pytest.mark.parametrize(("n", "replicas", "drop_last"), [(10, 3, False), (10, 3, True), (2, 5, False), (9, 3, True),
                                                          (7, 2, False)])
def test_distributed_sampler_shards_as_torch(n, replicas, drop_last):
    ds = list(range(n))
    for rank in range(replicas):
        ours = data.DistributedSampler(ds, num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        theirs = tdata.DistributedSampler(ds, num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
        assert (ours.num_samples, ours.total_size) == (theirs.num_samples, theirs.total_size)
    # shuffled: the ranks still partition one padded permutation; a new epoch, a new order
    shards = [data.DistributedSampler(ds, num_replicas=replicas, rank=r, seed=1, drop_last=drop_last)
              for r in range(replicas)]
    first = [list(s) for s in shards]
    want = [list(tdata.DistributedSampler(ds, num_replicas=replicas, rank=r, seed=1, drop_last=drop_last))
            for r in range(replicas)]
    assert [len(s) for s in first] == [len(s) for s in want]
    flat = [i for s in first for i in s]
    if drop_last:  # no index twice
        assert len(set(flat)) == len(flat)
    else:  # every index, the padding repeating some
        assert set(flat) == set(ds)
    for s in shards:
        s.set_epoch(1)
    assert [list(s) for s in shards] != first or n < 3
    _same(lambda: data.DistributedSampler(ds, num_replicas=2, rank=2),
          lambda: tdata.DistributedSampler(ds, num_replicas=2, rank=2))
