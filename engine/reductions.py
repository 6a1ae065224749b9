"""torch's top-level reductions, scans and sorts: ``engine.sum(x, 1)`` is ``x.sum(1)``.

Each takes the tensor first and passes the rest on to the ``Tensor`` method of that name,
so the signatures (positional order, ``dim``/``axis``, ``keepdim``/``keepdims``) are one.

>>> import engine
>>> engine.sum(engine.tensor([[1.0, 2.0], [3.0, 4.0]]), 0).tolist()
[4.0, 6.0]
"""

from __future__ import annotations

from engine.tensor import Tensor

__all__ = [
    "all", "amax", "amin", "aminmax", "any", "argmax", "argmin", "argsort", "count_nonzero", "cummax", "cummin",
    "cumprod", "cumsum", "kthvalue", "logcumsumexp", "logsumexp", "max", "mean", "median", "min", "msort", "nansum",
    "norm", "prod", "sort", "std", "std_mean", "sum", "topk", "unique", "var", "var_mean",
]


def _method(name: str):
    method = getattr(Tensor, name)

    def fn(input: Tensor, *args, **kwargs):  # noqa: A002
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be a Tensor, got {type(input).__name__}; "
                            "wrap it with engine.tensor(...)")
        return method(input, *args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``torch.{name}(input, ...)``: the same as ``input.{name}(...)``.\n\n{method.__doc__ or ''}"
    return fn


all = _method("all")  # noqa: A001
amax = _method("amax")
amin = _method("amin")
aminmax = _method("aminmax")
any = _method("any")  # noqa: A001
argmax = _method("argmax")
argmin = _method("argmin")
argsort = _method("argsort")
count_nonzero = _method("count_nonzero")
cummax = _method("cummax")
cummin = _method("cummin")
cumprod = _method("cumprod")
cumsum = _method("cumsum")
kthvalue = _method("kthvalue")
logcumsumexp = _method("logcumsumexp")
logsumexp = _method("logsumexp")
max = _method("max")  # noqa: A001
mean = _method("mean")
median = _method("median")
min = _method("min")  # noqa: A001
msort = _method("msort")
nansum = _method("nansum")
norm = _method("norm")
prod = _method("prod")
sort = _method("sort")
std = _method("std")
std_mean = _method("std_mean")
sum = _method("sum")  # noqa: A001
topk = _method("topk")
unique = _method("unique")
var = _method("var")
var_mean = _method("var_mean")

# -- torch names added for issue 15's audit --
mode = _method("mode")
nanmean = _method("nanmean")
select = _method("select")
logit = _method("logit")
dist = _method("dist")
__all__ += ["mode", "nanmean", "select", "logit", "dist"]
