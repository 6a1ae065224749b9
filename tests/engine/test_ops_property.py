"""Property tests driven by the op registry: every differentiable op, random shapes and values.

For each spec in op_specs (one per registered op, plus the derived Tensor-level ops):
- the forward matches a plain-NumPy reference (float64);
- the backward matches central differences in float64 (engine.gradcheck: random upstream
  gradient, every entry, then a random direction vᵀJu; its default eps/atol/rtol);
  gradients have their input's shape and dtype, and a zero upstream gradient gives zeros;
- float32 inputs give float32 outputs and float32 gradients; float16 inputs a float16 forward.
Every property runs on the CPU, and on CuPy when a CUDA device is present.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_specs import ALL_SPECS, DERIVED, DEVICES, SPECS, broadcast_shapes, fill, on_device, shapes

import engine
import engine.functional as F
from engine import Tensor, gradcheck
from engine.backend import device_of
from engine.function import Function

NAMES = sorted(ALL_SPECS)


def engine_ops() -> set[str]:
    """Registered ops that need a spec: differentiable, defined in engine/ (tests may register
    their own throwaway ops), and not private bases such as ``_Extremum``."""
    return {
        name for name, cls in Function.registry.items()
        if cls.differentiable and cls.__module__.startswith("engine.") and not name.startswith("_")
    }


def test_every_differentiable_op_has_a_spec():
    missing, stale = engine_ops() - set(SPECS), set(SPECS) - engine_ops()
    assert not missing, f"ops without a spec in tests/engine/op_specs.py: {sorted(missing)}"
    assert not stale, f"specs for ops that are not registered (or not differentiable): {sorted(stale)}"
    assert not set(SPECS) & set(DERIVED)


def test_every_spec_has_a_torch_twin_or_a_reason():
    for name, spec in ALL_SPECS.items():
        assert (spec.torch is None) != (spec.torch_skip is None), f"{name}: give torch= or torch_skip="


# ---- helpers ------------------------------------------------------------------------------------


def leaves(case, device, dtype, requires_grad=True):
    return [Tensor(a.astype(dtype), device=device, requires_grad=requires_grad) for a in case.arrays]


def as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def joined(out):
    """One Tensor from a multi-output op (split, chunk), so one backward covers every part."""
    if not isinstance(out, tuple):
        return out
    return out[0] if len(out) == 1 else F.concatenate([o.reshape(-1) for o in out])


def ops_in_graph(outs) -> set[str]:
    names, seen, stack = set(), set(), list(as_tuple(outs))
    while stack:
        t = stack.pop()
        if t._ctx is None or id(t) in seen:
            continue
        seen.add(id(t))
        names.add(type(t._ctx).__name__)
        stack.extend(p for p in t._ctx.parents if p is not None)
    return names


def backward_checked(y, grad):
    """``y.backward(grad)``, asserting that every op's backward returns, for each input that
    needs one, a gradient of exactly that input's shape, dtype and array type. (Accumulating
    into a leaf casts and broadcasts, which would hide a float64 leak inside the graph.)
    NumPy scalars count as arrays: NumPy returns them for 0-d arithmetic."""
    seen, stack = set(), [y]
    while stack:
        t = stack.pop()
        ctx = t._ctx
        if ctx is None or id(ctx) in seen:
            continue
        seen.add(id(ctx))
        stack.extend(p for p in ctx.parents if p is not None)

        def checked(g, t=t, ctx=ctx, backward=ctx.backward):
            op = type(ctx).__name__
            assert g.dtype == t.dtype, f"{op}.backward got a {g.dtype} gradient"
            grads = backward(g)
            grads_t = grads if isinstance(grads, tuple) else (grads,)
            assert len(grads_t) == len(ctx.parents), f"{op}.backward gave {len(grads_t)} grads for {len(ctx.parents)}"
            for i, (p, need, pg) in enumerate(zip(ctx.parents, ctx.needs_input_grad, grads_t)):
                if need and pg is not None:
                    assert device_of(pg) == p.device, f"{op}.backward: input {i} gradient is a {type(pg)}"
                    assert pg.dtype == p.dtype, f"{op}.backward: input {i} is {p.dtype}, its gradient {pg.dtype}"
                    assert pg.shape == p.shape, f"{op}.backward: input {i} has shape {p.shape}, gradient {pg.shape}"
            return grads

        ctx.backward = checked
    y.backward(grad)


def skip_unsupported(spec, device, dtype):
    reason = spec.skip(device, np.dtype(dtype))
    if reason:
        pytest.skip(reason)


def expected_dtype(spec, dtype):
    return np.dtype(spec.out_dtype(np.dtype(dtype)) if spec.out_dtype else dtype)


def check_grads(ts, dtype):
    for i, t in enumerate(ts):
        assert t.grad is not None, f"input {i} got no gradient"
        assert t.grad.shape == t.shape, f"input {i}: gradient shape {t.grad.shape} != input shape {t.shape}"
        assert t.grad.dtype == dtype, f"input {i}: gradient dtype {t.grad.dtype} != {dtype}"
        assert t.grad.device == t.device


# ---- properties ---------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_forward_matches_numpy(name, device, data):
    spec = ALL_SPECS[name]
    skip_unsupported(spec, device, np.float64)
    if device not in spec.ref_devices:
        pytest.skip(f"the NumPy reference of {name} predicts the CPU random stream only")
    case = data.draw(spec.case, label="case")
    out = spec.fn(*leaves(case, device, np.float64), **on_device(case.params, device))
    ref = spec.ref(*case.arrays, **case.params)
    assert len(as_tuple(out)) == len(as_tuple(ref))
    for o, r in zip(as_tuple(out), as_tuple(ref)):
        assert isinstance(o, Tensor) and o.shape == np.shape(r)
        assert o.dtype == expected_dtype(spec, np.float64)
        np.testing.assert_allclose(o.numpy().astype(np.float64), np.asarray(r, dtype=np.float64),
                                   rtol=1e-7, atol=1e-10)
    if name in SPECS:
        assert name in ops_in_graph(out), f"the spec of {name} never calls {name}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_backward_matches_central_differences(name, device, data):
    """gradcheck in float64; then a zero upstream gradient must give zero input gradients."""
    spec = ALL_SPECS[name]
    skip_unsupported(spec, device, np.float64)
    case = data.draw(spec.case, label="case")
    seed = data.draw(st.integers(0, 2**16), label="gradcheck seed")
    params = on_device(case.params, device)

    # The leaves stay on the CPU and the op runs on ``device``, so the perturbations are exact
    # float64 NumPy updates and the ToDevice round trip is checked on the way.
    def fn(*ts):
        return joined(spec.fn(*(t.to(device) for t in ts), **params)).to("cpu")

    xs = [Tensor(a.copy(), requires_grad=True) for a in case.arrays]
    assert gradcheck(fn, *xs, seed=seed)
    check_grads(xs, np.dtype(np.float64))

    ts = leaves(case, device, np.float64)
    y = joined(spec.fn(*ts, **params))
    backward_checked(y, np.zeros(y.shape))
    check_grads(ts, np.dtype(np.float64))
    for i, t in enumerate(ts):
        g = t.grad.to_dense() if t.grad.is_sparse else t.grad  # sparse=True embeddings
        assert not np.any(g.numpy()), f"input {i}: nonzero gradient from a zero upstream gradient"


def check_values(spec, out, case, dtype, rtol, atol):
    """``out`` against the NumPy reference fed the same inputs rounded to ``dtype``.
    ``atol`` is relative to the largest reference value (reductions can reach a few hundred)."""
    ref = spec.ref(*(a.astype(dtype).astype(np.float64) for a in case.arrays), **case.params)
    for o, r in zip(as_tuple(out), as_tuple(ref)):
        r = np.asarray(r, dtype=np.float64)
        scale = max(1.0, float(np.abs(r).max(initial=0)))
        np.testing.assert_allclose(o.numpy().astype(np.float64), r, rtol=rtol, atol=atol * scale)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_dtype_is_preserved(name, device, data):
    """No silent upcast: float32 in gives float32 out and float32 input gradients; float16 in
    gives a float16 forward (for the ops marked ``half``)."""
    spec = ALL_SPECS[name]
    skip_unsupported(spec, device, np.float32)
    case = data.draw(spec.case, label="case")
    params = on_device(case.params, device)
    ts = leaves(case, device, np.float32)
    out = spec.fn(*ts, **params)
    for o in as_tuple(out):
        assert o.dtype == expected_dtype(spec, np.float32), f"{name}: float32 input gave {o.dtype}"
    if device in spec.ref_devices:  # float32 keeps about 7 digits
        check_values(spec, out, case, np.float32, rtol=1e-4, atol=1e-5)
    y = joined(out)
    backward_checked(y, np.random.default_rng(0).standard_normal(y.shape).astype(y.dtype))
    check_grads(ts, np.dtype(np.float32))

    if not spec.half or spec.skip(device, np.dtype(np.float16)):
        return
    out = spec.fn(*leaves(case, device, np.float16, requires_grad=False), **params)
    for o in as_tuple(out):
        assert o.dtype == expected_dtype(spec, np.float16), f"{name}: float16 input gave {o.dtype}"
    if device in spec.ref_devices:  # float16 keeps about 3 digits
        check_values(spec, out, case, np.float16, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("device", DEVICES)
@given(data=st.data())
def test_layer_norm_float16_keeps_its_digits_on_rows_of_close_values(device, data):
    """x - mean cancels most of float16's digits on such rows: only the output may be rounded."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    shape = (*data.draw(shapes(0, 2), label="lead"), data.draw(st.integers(2, 5), label="C"))
    x = (rng.uniform(-2, 2, shape[:-1] + (1,)) + rng.uniform(-0.02, 0.02, shape)).astype(np.float16)
    out = F.layer_norm(Tensor(x, device=device), x.shape[-1:]).numpy()
    ref = SPECS["LayerNorm"].ref(x.astype(np.float64), has_weight=False, has_bias=False, eps=1e-5)
    assert out.dtype == np.float16
    np.testing.assert_allclose(out, ref, rtol=2e-3, atol=2e-3)


# ---- comparisons ----------------------------------------------------------------------------------

COMPARISONS = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", sorted(COMPARISONS))
@given(data=st.data())
def test_comparisons_give_bool_and_no_grad(op, device, data):
    compare = COMPARISONS[op]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    a = np.round(fill(rng, data.draw(shapes(), label="shape")), 1)  # rounded, so == and != see ties
    other = data.draw(st.one_of(st.sampled_from([0.0, 0.5, -1]), st.just("tensor")), label="other")
    b = np.round(fill(rng, a.shape[data.draw(st.integers(0, a.ndim), label="drop"):]), 1) \
        if other == "tensor" else other
    ta = Tensor(a, device=device, requires_grad=True)
    tb = Tensor(b, device=device, requires_grad=True) if other == "tensor" else b
    out = compare(ta, tb)
    assert isinstance(out, Tensor) and out.dtype == np.bool_
    assert not out.requires_grad and out.is_leaf
    np.testing.assert_array_equal(out.numpy(), compare(a, b))
    # A comparison used as a mask passes no gradient through itself.
    y = (out.astype(np.float64) * ta).sum()
    y.backward()
    np.testing.assert_array_equal(ta.grad.numpy(), compare(a, b).astype(np.float64))
    if other == "tensor":
        assert tb.grad is None


# ---- ties: the subgradient convention (not differentiable, so not in gradcheck's domain) ------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", ["max", "min"])
@given(data=st.data())
def test_max_min_ties_split_the_gradient_evenly(op, device, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    shape = data.draw(shapes(1), label="shape")
    a = rng.integers(0, 3, size=shape).astype(np.float64)  # few distinct values: many ties
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)), label="axis")
    t = Tensor(a, device=device, requires_grad=True)
    getattr(t, "a" + op)(axis=axis).sum().backward()  # amax/amin: max(dim) gives it to one index
    hit = a == getattr(np, op)(a, axis=axis, keepdims=True)
    np.testing.assert_allclose(t.grad.numpy(), hit / hit.sum(axis=axis, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", ["maximum", "minimum"])
@given(data=st.data())
def test_maximum_minimum_ties_split_the_gradient_evenly(op, device, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    sa, sb = data.draw(broadcast_shapes(), label="shapes").input_shapes
    a, b = rng.integers(0, 2, size=sa).astype(np.float64), rng.integers(0, 2, size=sb).astype(np.float64)
    ta, tb = Tensor(a, device=device, requires_grad=True), Tensor(b, device=device, requires_grad=True)
    getattr(engine, op)(ta, tb).sum().backward()
    wins = (a > b) if op == "maximum" else (a < b)
    wa = np.broadcast_to(wins + 0.5 * (a == b), np.broadcast_shapes(sa, sb))
    np.testing.assert_allclose(ta.grad.numpy(), sum_to(wa, sa), rtol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), sum_to(1 - wa, sb), rtol=1e-12)


def sum_to(x, shape):
    """Plain-NumPy sum of a broadcast array back to ``shape``."""
    lead = x.ndim - len(shape)
    x = x.sum(axis=tuple(range(lead)))
    return x.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True).reshape(shape)
