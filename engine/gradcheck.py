"""Check analytic gradients against central differences in float64."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from engine.backend import array_module, to_numpy
from engine.function import no_grad
from engine.tensor import Tensor


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with central differences."""


def _eval(fn, inputs):
    with no_grad():
        out = fn(*inputs)
    return to_numpy(out.data).astype(np.float64) if isinstance(out, Tensor) else np.asarray(out, dtype=np.float64)


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs: Tensor,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
    max_entries: int | None = None,
) -> bool:
    """Compare the backward of ``fn`` with central differences, for every input that requires grad.

    The upstream gradient is random (not ones), so every output entry is weighed.
    Each input entry is checked (or ``max_entries`` sampled ones), then once more along a
    random direction u (vᵀJu). Returns True or raises GradcheckError naming the input,
    the index and both values.

    >>> x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    >>> gradcheck(lambda t: (t * t).sum(), x)
    True
    """
    rng = np.random.default_rng(seed)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            warnings.warn(f"gradcheck: input {i} is {inputs[i].dtype}, not float64; expect false alarms", stacklevel=2)
    for t in inputs:
        if isinstance(t, Tensor):
            t.grad = None
    out = fn(*inputs)
    v = rng.standard_normal(out.shape)
    if out.requires_grad:  # else the analytic gradient is zero (a lost graph), which is checked too
        out.backward(v.astype(out.dtype))
    for i in checked:
        t = inputs[i]
        analytic = np.zeros(t.shape) if t.grad is None else t.grad.numpy().astype(np.float64)
        # Perturb t.data in place through a full index (a reshape(-1) "view" would be a
        # copy for a non-contiguous array, and the perturbation would be lost), restore after.
        data = t.data
        entries = range(t.numel())
        if max_entries is not None and t.numel() > max_entries:
            entries = sorted(rng.choice(t.numel(), size=max_entries, replace=False).tolist())
        for j in entries:
            index = tuple(int(k) for k in np.unravel_index(j, t.shape))
            orig = data[index].item()
            data[index] = orig + eps
            plus = _eval(fn, inputs)
            data[index] = orig - eps
            minus = _eval(fn, inputs)
            data[index] = orig
            numeric = float(((plus - minus) * v).sum() / (2 * eps))
            got = float(analytic[index])
            if not abs(got - numeric) <= atol + rtol * abs(numeric):
                raise GradcheckError(
                    f"gradcheck: input {i} (shape {t.shape}) at index {index}: "
                    f"analytic {got!r} vs numeric {numeric!r}"
                )
        # One random direction over the whole input.
        u = rng.standard_normal(t.shape)
        base = data.copy()
        t.data[...] = base + eps * array_module(data).asarray(u, dtype=data.dtype)
        plus = _eval(fn, inputs)
        t.data[...] = base - eps * array_module(data).asarray(u, dtype=data.dtype)
        minus = _eval(fn, inputs)
        t.data[...] = base
        numeric = float(((plus - minus) * v).sum() / (2 * eps))
        got = float((analytic * u).sum())
        if not abs(got - numeric) <= atol * max(1.0, np.sqrt(u.size)) + rtol * abs(numeric):
            raise GradcheckError(
                f"gradcheck: input {i} (shape {t.shape}) along a random direction: "
                f"analytic {got!r} vs numeric {numeric!r}"
            )
    return True
