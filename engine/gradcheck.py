"""Check analytic gradients against central differences in float64."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.backend import array_module, to_numpy
from engine.function import no_grad
from engine.tensor import Tensor


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with central differences."""


def _eval(fn, inputs):
    with no_grad():
        out = fn(*inputs)
    out = to_numpy(out._data) if isinstance(out, Tensor) else np.asarray(out)
    return out.astype(np.complex128 if out.dtype.kind == "c" else np.float64)


def _dot(a, b) -> float:
    """Re(sum(conj(a) * b)): the real inner product of two real or complex arrays."""
    return float(np.sum(np.real(a) * np.real(b) + np.imag(a) * np.imag(b)))


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
    the index and both values. Complex inputs and outputs are checked as torch's gradcheck does:
    the real loss Re(sum(conj(v) * out)), its derivative along the real and the imaginary part of each
    entry against the gradient's real and imaginary parts (torch's convention).

    >>> x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    >>> gradcheck(lambda t: (t * t).sum(), x)
    True
    """
    rng = np.random.default_rng(seed)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype not in (np.float64, np.complex128):
            warnings.warn(f"gradcheck: input {i} is {inputs[i].dtype}, not float64; expect false alarms", stacklevel=2)
    for t in inputs:
        if isinstance(t, Tensor):
            t.grad = None
    out = fn(*inputs)
    v = rng.standard_normal(out.shape)
    if out.dtype.kind == "c":
        v = v + 1j * rng.standard_normal(out.shape)
    if out.requires_grad:  # else the analytic gradient is zero (a lost graph), which is checked too
        out.backward(v.astype(out.dtype))
    for i in checked:
        t = inputs[i]
        kind = np.complex128 if t.dtype.kind == "c" else np.float64
        g = t.grad.to_dense() if t.grad is not None and t.grad.is_sparse else t.grad  # sparse=True embeddings
        analytic = np.zeros(t.shape, dtype=kind) if g is None else g.numpy().astype(kind)
        parts = (1, 1j) if t.dtype.kind == "c" else (1,)
        # Perturb t._data in place through a full index (a reshape(-1) "view" would be a
        # copy for a non-contiguous array, and the perturbation would be lost), restore after.
        data = t._data
        entries = range(t.numel())
        if max_entries is not None and t.numel() > max_entries:
            entries = sorted(rng.choice(t.numel(), size=max_entries, replace=False).tolist())
        for j in entries:
            index = tuple(int(k) for k in np.unravel_index(j, t.shape))
            orig = data[index].item()
            for part in parts:  # the real part, and for a complex input the imaginary part
                data[index] = orig + eps * part
                plus = _eval(fn, inputs)
                data[index] = orig - eps * part
                minus = _eval(fn, inputs)
                data[index] = orig
                numeric = _dot(v, plus - minus) / (2 * eps)
                got = float(analytic[index].real if part == 1 else analytic[index].imag)
                if not abs(got - numeric) <= atol + rtol * abs(numeric):
                    where = "" if len(parts) == 1 else (" (real part)" if part == 1 else " (imaginary part)")
                    raise GradcheckError(
                        f"gradcheck: input {i} (shape {t.shape}) at index {index}{where}: "
                        f"analytic {got!r} vs numeric {numeric!r}"
                    )
        # One random direction over the whole input.
        u = rng.standard_normal(t.shape)
        if t.dtype.kind == "c":
            u = u + 1j * rng.standard_normal(t.shape)
        base = data.copy()
        t._data[...] = base + eps * array_module(data).asarray(u, dtype=data.dtype)
        plus = _eval(fn, inputs)
        t._data[...] = base - eps * array_module(data).asarray(u, dtype=data.dtype)
        minus = _eval(fn, inputs)
        t._data[...] = base
        numeric = _dot(v, plus - minus) / (2 * eps)
        got = _dot(analytic, u)
        if not abs(got - numeric) <= atol * max(1.0, np.sqrt(u.size)) + rtol * abs(numeric):
            raise GradcheckError(
                f"gradcheck: input {i} (shape {t.shape}) along a random direction: "
                f"analytic {got!r} vs numeric {numeric!r}"
            )
    return True


def gradcheck_model(model: Any, inputs: Any, loss_fn: Callable[[Any], Tensor] | None = None, *, eps: float = 1e-6,
                    rtol: float = 1e-4, atol: float = 1e-8, directions: int = 2, seed: int = 0,
                    verbose: bool = True, raise_on_failure: bool = True) -> list[dict]:
    """Check a whole model's parameter gradients against central differences, in float64.

    The model is copied and cast to float64 (``model.double()``); float inputs are cast too. For
    each parameter, ``directions`` random directions u give the analytic ``⟨grad, u⟩`` and the
    numeric ``(L(p + eps·u) − L(p − eps·u)) / 2eps``. Every loss evaluation reseeds the engine's
    generator, so dropout draws the same mask each time and train mode can be checked too.
    ``loss_fn(output)`` turns the output into a scalar (default: a fixed random projection of it).
    Prints a table (parameter, shape, relative error, ✗ where it fails) and returns its rows;
    raises GradcheckError naming the worst parameter when one fails (``raise_on_failure``).

    >>> class Scale:  # any object with named_parameters() and __call__ works
    ...     def __init__(self): self.w = Tensor(np.array([2.0]), requires_grad=True)
    ...     def named_parameters(self): return [("w", self.w)]
    ...     def double(self): return self
    ...     def __call__(self, x): return x * self.w
    >>> rows = gradcheck_model(Scale(), Tensor(np.array([1.0, 3.0])), verbose=False)
    >>> rows[0]["name"], rows[0]["ok"]
    ('w', True)
    """
    import copy

    from engine.rng import get_state, set_state

    model = copy.deepcopy(model)
    if hasattr(model, "double"):
        model = model.double() or model
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    args = tuple(a.astype(np.float64) if isinstance(a, Tensor) and a.dtype.kind == "f" else a for a in args)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not params:
        raise ValueError("gradcheck_model: the model has no parameter that requires grad")
    for name, p in params:
        if p.dtype != np.float64:
            raise TypeError(f"gradcheck_model: parameter {name} is {p.dtype} after model.double(); "
                            "the check needs float64 parameters")
    rng = np.random.default_rng(seed)
    rng_state = get_state()
    projection: dict[str, np.ndarray] = {}

    def loss_of() -> Tensor:
        set_state(rng_state)  # the same dropout masks at every evaluation
        out = model(*args)
        if loss_fn is not None:
            return loss_fn(out)
        if "v" not in projection:
            projection["v"] = rng.standard_normal(out.shape)
        return (out * Tensor(projection["v"].astype(out.dtype))).sum()

    for _, p in params:
        p.grad = None
    loss_of().backward()
    rows = []
    for name, p in params:
        analytic_grad = np.zeros(p.shape) if p.grad is None else to_numpy(p.grad._data).astype(np.float64)
        worst, ok, analytic, numeric = -1.0, True, 0.0, 0.0
        base = p._data.copy()
        xp = array_module(p._data)
        for _ in range(directions):
            u = rng.standard_normal(p.shape)
            with no_grad():
                p._data[...] = base + eps * xp.asarray(u)
                plus = float(loss_of().item())
                p._data[...] = base - eps * xp.asarray(u)
                minus = float(loss_of().item())
                p._data[...] = base
            a, n = float((analytic_grad * u).sum()), (plus - minus) / (2 * eps)
            err = abs(a - n) / max(abs(a), abs(n), 1e-12)  # reported as it is, the worst direction's
            ok &= abs(a - n) <= atol + rtol * max(abs(a), abs(n))  # a tiny |a - n| passes on atol
            if err > worst:
                worst, analytic, numeric = err, a, n
        rows.append({"name": name, "shape": tuple(p.shape), "analytic": analytic, "numeric": numeric,
                     "rel_error": worst, "ok": ok})
    set_state(rng_state)
    if verbose:
        print(_format_rows(rows, rtol))
    bad = [r for r in rows if not r["ok"]]
    if bad and raise_on_failure:
        w = max(bad, key=lambda r: r["rel_error"])
        raise GradcheckError(f"gradcheck_model: {len(bad)} of {len(rows)} parameters fail; worst {w['name']} "
                             f"(shape {w['shape']}): analytic {w['analytic']!r} vs numeric {w['numeric']!r}, "
                             f"relative error {w['rel_error']:.2e} > {rtol:g}")
    return rows


def _format_rows(rows: list[dict], rtol: float) -> str:
    width = max(len("parameter"), *(len(r["name"]) for r in rows))
    lines = [f"{'parameter':<{width}}  {'shape':<16} {'rel. error':>10}", "-" * (width + 30)]
    worst = max(rows, key=lambda r: r["rel_error"])
    for r in rows:
        flag = "  ✗ FAIL" if not r["ok"] else ("  ← worst" if r is worst and r["rel_error"] > 0 else "")
        lines.append(f"{r['name']:<{width}}  {str(r['shape']):<16} {r['rel_error']:>10.2e}{flag}")
    lines.append(f"{sum(r['ok'] for r in rows)}/{len(rows)} parameters within rtol {rtol:g}")
    return "\n".join(lines)


def gradgradcheck(
    fn: Callable[..., Tensor],
    *inputs: Tensor,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
    max_entries: int | None = None,
) -> bool:
    """Check second derivatives against central differences (torch.autograd.gradgradcheck's check, in
    ``gradcheck``'s signature): ``gradcheck`` of x ↦ vᵀ·J(x), the gradient of ``fn`` along a fixed
    random upstream v, recorded with ``create_graph`` (engine.higher_order).

    >>> x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    >>> gradgradcheck(lambda t: (t * t * t).sum(), x)
    True
    """
    import engine
    from engine.function import enable_grad

    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradgradcheck: no input has requires_grad=True")
    with no_grad():
        shape, dtype = (lambda out: (out.shape, out.dtype))(fn(*inputs))
    v = Tensor(np.random.default_rng(seed + 1).standard_normal(shape).astype(dtype))

    def first_order(*xs):
        with enable_grad():
            grads = engine.autograd.grad(fn(*xs), [xs[i] for i in checked], v, create_graph=True,
                                         materialize_grads=True)
        return engine.cat([g.reshape(-1) for g in grads])

    return gradcheck(first_order, *inputs, eps=eps, atol=atol, rtol=rtol, seed=seed, max_entries=max_entries)
