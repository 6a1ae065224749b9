"""Parity with PyTorch: every spec's forward and input gradients match torch's, in float64.

Skipped without torch (``pip install torch==2.13.0``, the ``parity`` extra). Conventions
mapped in op_specs: cross_entropy's classes are on the last axis, var/std take NumPy's
``ddof`` (torch's ``correction``), the causal mask is aligned to the end of the keys
(torch's ``is_causal`` is the same when T == S), and bool attention masks are True = attend.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_specs import ALL_SPECS, broadcast_shapes, shapes

import engine
import engine.functional as F
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-7, 1e-10


def as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def compare(ours, theirs, what):
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs torch {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=what)


@pytest.mark.parametrize("name", sorted(n for n, s in ALL_SPECS.items() if s.torch is not None))
@given(data=st.data())
def test_forward_and_gradients_match_torch(name, data):
    spec = ALL_SPECS[name]
    if spec.skip("cpu", np.dtype(np.float64)):
        pytest.skip(spec.skip("cpu", np.dtype(np.float64)))
    case = data.draw(spec.case, label="case")

    ts = [Tensor(a, requires_grad=True) for a in case.arrays]
    out = as_tuple(spec.fn(*ts, **case.params))
    tts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in case.arrays]
    tout = as_tuple(spec.torch(torch, *tts, **case.params))
    assert len(out) == len(tout)
    for i, (o, t) in enumerate(zip(out, tout)):
        compare(o.numpy(), t, f"{name} output {i}")

    # One random upstream gradient per output, the same for both.
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="upstream seed"))
    vs = [rng.standard_normal(o.shape) for o in out]
    y = F.concatenate([o.reshape(-1) for o in out]) if len(out) > 1 else out[0]
    y.backward(np.concatenate([v.reshape(-1) for v in vs]) if len(out) > 1 else vs[0])
    torch.autograd.backward([t for t in tout if t.requires_grad],
                            [torch.as_tensor(v) for v, t in zip(vs, tout) if t.requires_grad])
    for i, (t, tt) in enumerate(zip(ts, tts)):
        ours = np.zeros(t.shape) if t.grad is None else (t.grad.to_dense() if t.grad.is_sparse else t.grad).numpy()
        theirs = torch.zeros(tt.shape, dtype=torch.float64) if tt.grad is None else \
            tt.grad.to_dense() if tt.grad.is_sparse else tt.grad  # sparse=True embeddings: compared dense
        compare(ours, theirs, f"{name} gradient of input {i}")


# ---- ties: both split the gradient evenly ----------------------------------------------------------


@pytest.mark.parametrize("op", ["max", "min"])
@given(data=st.data())
def test_max_min_ties_match_torch_amax_amin(op, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    a = rng.integers(0, 3, size=data.draw(shapes(1), label="shape")).astype(np.float64)
    axis = data.draw(st.one_of(st.none(), st.integers(-a.ndim, a.ndim - 1)), label="axis")
    t, tt = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    getattr(t, "a" + op)(axis=axis).sum().backward()  # max(dim) gives the gradient to one index, as torch
    dims = tuple(range(a.ndim)) if axis is None else axis
    getattr(torch, "a" + op)(tt, dim=dims).sum().backward()
    compare(t.grad.numpy(), tt.grad, f"{op} gradient with ties")


@pytest.mark.parametrize("op", ["maximum", "minimum"])
@given(data=st.data())
def test_maximum_minimum_ties_match_torch(op, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    sa, sb = data.draw(broadcast_shapes(), label="shapes").input_shapes
    a, b = rng.integers(0, 2, size=sa).astype(np.float64), rng.integers(0, 2, size=sb).astype(np.float64)
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    tta, ttb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    getattr(engine, op)(ta, tb).sum().backward()
    getattr(torch, op)(tta, ttb).sum().backward()
    compare(ta.grad.numpy(), tta.grad, f"{op} gradient of a with ties")
    compare(tb.grad.numpy(), ttb.grad, f"{op} gradient of b with ties")
