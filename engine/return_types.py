"""Named result tuples, like ``torch.return_types``: ``x.max(0).values``, ``x.sort().indices``.

>>> from engine import Tensor
>>> Tensor([1.0, 3.0, 2.0]).max(0).indices.item()
1
"""

from __future__ import annotations

from collections import namedtuple

max = namedtuple("max", ["values", "indices"])  # noqa: A001
min = namedtuple("min", ["values", "indices"])  # noqa: A001
sort = namedtuple("sort", ["values", "indices"])
topk = namedtuple("topk", ["values", "indices"])
median = namedtuple("median", ["values", "indices"])
kthvalue = namedtuple("kthvalue", ["values", "indices"])
cummax = namedtuple("cummax", ["values", "indices"])
cummin = namedtuple("cummin", ["values", "indices"])
aminmax = namedtuple("aminmax", ["min", "max"])
mode = namedtuple("mode", ["values", "indices"])
