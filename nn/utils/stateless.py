"""torch.nn.utils.stateless: ``functional_call``, torch's deprecated name for
``engine.func.functional_call`` (a FutureWarning says so, as torch's does).

>>> import warnings, engine, nn
>>> m = nn.Linear(2, 1)
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     functional_call(m, {"weight": engine.ones(1, 2), "bias": engine.zeros(1)}, engine.tensor([[1.0, 2.0]]))
Tensor([[3.]], dtype=float32, device=cpu)
"""

from __future__ import annotations

import warnings
from typing import Any

from engine import Tensor
from engine.func import _functional_call

__all__ = ["functional_call"]


def functional_call(module, parameters_and_buffers: dict[str, Tensor], args: Any = None,
                    kwargs: dict[str, Any] | None = None, *, tie_weights: bool = True, strict: bool = False) -> Any:
    """``module(*args, **kwargs)`` with the given parameters and buffers swapped in (one dict), as
    ``engine.func.functional_call``; deprecated as in torch 2.0 (FutureWarning).

    >>> import warnings, engine, nn
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     out = functional_call(nn.Linear(1, 1), {"weight": engine.ones(1, 1), "bias": engine.ones(1)},
    ...                           engine.ones(1, 1))
    >>> out.item(), w[0].category.__name__
    (2.0, 'FutureWarning')
    """
    warnings.warn("`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 and will be removed "
                  "in a future version of PyTorch. Please use `torch.func.functional_call` instead which is a "
                  "drop-in replacement.", FutureWarning, stacklevel=2)
    return _functional_call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict)
