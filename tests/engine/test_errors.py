"""Errors the engine must raise, and what their messages must say: shape mismatches name both
shapes, backward misuse, dtype/device mixing, and in-place changes caught by version counters."""

from __future__ import annotations

import re

import numpy as np
import pytest

import engine
import engine.functional as F
from engine import Tensor, no_grad

GPU = pytest.mark.skipif(not engine.gpu_available(), reason="no CUDA device")
RNG = np.random.default_rng(7)


def leaf(shape, dtype=np.float32, requires_grad=True) -> Tensor:
    return Tensor(RNG.uniform(0.5, 1.5, shape).astype(dtype), requires_grad=requires_grad)


def names_both(shape_a, shape_b):
    """A pytest.raises ``match`` that needs both shapes in the message, in either order."""
    a, b = re.escape(str(tuple(shape_a))), re.escape(str(tuple(shape_b)))
    return rf"(?s)({a}.*{b}|{b}.*{a})"


# ---- shape mismatches ------------------------------------------------------------------------------


@pytest.mark.parametrize("sa, sb", [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3, 4), (5, 6)), ((3,), (2, 4))])
def test_matmul_shape_mismatch_names_both_shapes(sa, sb):
    with pytest.raises(ValueError, match=names_both(sa, sb)):
        leaf(sa) @ leaf(sb)


@pytest.mark.parametrize("op", [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
                                lambda a, b: a / b, lambda a, b: a**b, lambda a, b: a.maximum(b),
                                lambda a, b: a.minimum(b), lambda a, b: b + a])
def test_broadcast_mismatch_names_both_shapes(op):
    with pytest.raises(ValueError, match=names_both((2, 3), (4,))):
        op(leaf((2, 3)), leaf((4,)))
    with pytest.raises(ValueError, match=names_both((2, 3), (3, 2))):
        op(leaf((2, 3)), np.ones((3, 2), np.float32))


def test_reshape_mismatch_names_both_shapes():
    x = leaf((2, 3))
    with pytest.raises(ValueError, match=names_both((2, 3), (4, 2))):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match=re.escape("(2, 3)")):
        x.reshape(-1, 4)


def test_linear_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=names_both((5, 3), (4, 2))):
        F.linear(leaf((5, 3)), leaf((4, 2)))


# ---- backward misuse -------------------------------------------------------------------------------


def test_backward_on_a_non_scalar_needs_grad():
    y = leaf((2, 3)) * 2
    with pytest.raises(RuntimeError, match=r"(?s)scalar.*\(2, 3\).*grad"):
        y.backward()


def test_backward_grad_of_the_wrong_shape():
    y = leaf((2, 3)) * 2
    with pytest.raises(ValueError, match=names_both((3, 2), (2, 3))):
        y.backward(np.ones((3, 2)))
    with pytest.raises(RuntimeError, match="Mismatch in shape"):  # torch's type and words
        y.backward(np.ones((3, 2)))


def test_backward_on_a_tensor_that_does_not_require_grad():
    y = leaf((3,), requires_grad=False) * 2
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()
    with no_grad():
        z = (leaf((3,)) * 2).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        z.backward()


def test_second_backward_through_a_freed_graph():
    x = leaf((3,))
    h = x.exp()
    y = (h * h).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"(?s)second time.*retain_graph=True"):
        y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):  # the shared part is freed too
        (h * 2).sum().backward()


def test_only_float_tensors_can_require_grad():
    with pytest.raises(TypeError, match="int64"):
        Tensor(np.arange(3), requires_grad=True)
    with pytest.raises(TypeError, match="int32"):
        Tensor(np.arange(3, dtype=np.int32)).requires_grad_()


def test_item_of_many_elements_and_unknown_device():
    with pytest.raises(ValueError, match=re.escape("(2,)")):
        leaf((2,)).item()
    with pytest.raises(ValueError, match="tpu"):
        leaf((2,)).to("tpu")
    with pytest.raises(ValueError, match="tpu"):
        engine.zeros(2, device="tpu")


# ---- dtype and device mixing -----------------------------------------------------------------------


@pytest.mark.parametrize("da, db", [(np.float32, np.float64), (np.float64, np.float32),
                                    (np.float16, np.float32)])
def test_mixing_float_dtypes_promotes_elementwise_and_raises_in_matmul(da, db):
    a, b = leaf((2, 3), da), leaf((2, 3), db)
    both = rf"(?s)({np.dtype(da).name}.*{np.dtype(db).name}|{np.dtype(db).name}.*{np.dtype(da).name})"
    wide = np.promote_types(da, db)  # torch promotes elementwise ops (float16 + float32 is float32)
    for op in (lambda p, q: p + q, lambda p, q: p * q, lambda p, q: p - q, lambda p, q: p / q,
               lambda p, q: p**q, lambda p, q: p.maximum(q)):
        assert op(a, b).dtype == wide
    with pytest.raises(RuntimeError, match=both):  # torch's matmul refuses mixed dtypes too
        a @ b.T


def test_ops_called_directly_refuse_mixed_float_dtypes_too():
    x32, x64 = leaf((4, 3)), leaf((4, 3), np.float64)
    with pytest.raises(RuntimeError, match=r"(?s)float32.*float64"):
        F.linear(x32, leaf((2, 3), np.float64))
    with pytest.raises(RuntimeError, match=r"(?s)float32.*float64"):
        F.layer_norm(x32, (3,), leaf((3,), np.float64), leaf((3,), np.float64))
    with pytest.raises(RuntimeError, match=r"(?s)float64.*float32"):
        F.scaled_dot_product_attention(x64[None], x32[None], x32[None])
    # cat promotes as torch.cat does (float32 with float64 is float64); see test_parity_sweep_ops
    assert engine.concatenate([x32, x64]).dtype == np.float64
    out = F.linear(x64, leaf((2, 3), np.float64), leaf((2,), np.float64))  # one dtype: fine
    assert out.dtype == np.float64


@pytest.mark.gpu
@GPU
def test_mixing_devices_raises():
    a, b = leaf((3,)), leaf((3,)).to("gpu")
    for op in (lambda p, q: p + q, lambda p, q: q * p, lambda p, q: p @ q, lambda p, q: F.linear(p[None], q[None])):
        with pytest.raises(RuntimeError, match=r"(?s)(cpu.*gpu|gpu.*cpu)"):
            op(a, b)


# ---- in-place modification and version counters --------------------------------------------------


def test_inplace_change_of_a_saved_tensor_under_no_grad_raises_on_backward():
    x, w = leaf((3,)), leaf((3,))
    y = x * w
    with no_grad():
        w += 1
    # torch's words: a leaf is not named
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation: \[torch.FloatTensor \[3\]\] is at "
                       r"version 1; expected version 0 instead"):
        y.sum().backward()
    assert x.grad is None and w.grad is None


@pytest.mark.parametrize("mutate", [
    lambda t: t.add_(1), lambda t: t.sub_(1), lambda t: t.mul_(2), lambda t: t.div_(2), lambda t: t.zero_(),
    lambda t: t.fill_(3.0), lambda t: t.copy_(np.ones(3)), lambda t: t.__setitem__(0, 5.0),
], ids=["add_", "sub_", "mul_", "div_", "zero_", "fill_", "copy_", "setitem"])
def test_each_inplace_op_bumps_the_version(mutate):
    x, w = leaf((3,)), leaf((3,), requires_grad=False)
    y = (x * w).sum()
    before = w._version
    mutate(w)  # w does not require grad: allowed in grad mode
    assert w._version > before
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


@pytest.mark.parametrize(("mutate", "grad_of_2x"), [
    (lambda t: t.add_(1), [2, 2, 2]), (lambda t: t.mul_(2), [4, 4, 4]), (lambda t: t.zero_(), [0, 0, 0]),
    (lambda t: t.fill_(3.0), [0, 0, 0]), (lambda t: t.copy_(np.ones(3)), [0, 0, 0]),
    (lambda t: t.__setitem__(0, 5.0), [0, 2, 2]),
], ids=["add_", "mul_", "zero_", "fill_", "copy_", "setitem"])
def test_inplace_on_a_leaf_requiring_grad_raises_and_on_a_non_leaf_is_recorded(mutate, grad_of_2x):
    x = leaf((3,))
    before = x.numpy().copy()
    with pytest.raises(RuntimeError, match=r"(?s)in-place.*leaf Variable that requires grad.*no_grad"):
        mutate(x)
    np.testing.assert_array_equal(x.numpy(), before)
    y = x * 2  # a non-leaf: torch records the in-place op in the graph, so does the engine
    mutate(y)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.array(grad_of_2x, dtype=x.dtype))
    with no_grad():
        mutate(x)  # fine outside grad mode (an optimizer step)


def test_augmented_assignment_on_a_tensor_requiring_grad_raises():
    x = leaf((3,))
    with pytest.raises(RuntimeError, match="in-place"):
        x += 1
    with pytest.raises(RuntimeError, match="in-place"):
        x *= 2


def test_inplace_change_of_an_unsaved_input_does_not_raise():
    a, b = RNG.standard_normal(3).astype(np.float32), RNG.standard_normal(3).astype(np.float32)
    x, w = Tensor(a, requires_grad=True), Tensor(b.copy())
    y = x + w  # Add saves nothing
    z = x - w
    with no_grad():
        w += 1
    (y.sum() + (z * 2).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 3.0))


def test_inplace_change_of_a_saved_output_raises():
    x = leaf((3,))
    y = x.exp()  # Exp saves its output
    with no_grad():
        y *= 2
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation: \[torch.FloatTensor \[3\]\], which is "
                       r"output 0 of Exp, is at version 1"):
        y.sum().backward()


@pytest.mark.parametrize("view", [lambda t: t[0:2], lambda t: t.reshape(2, 3)[1], lambda t: t.reshape(2, 3),
                                  lambda t: t.reshape(3, 2).T, lambda t: t.detach(),
                                  lambda t: t.detach()[::2]],
                         ids=["slice", "row", "reshape", "transpose", "detach", "detach_slice"])
def test_inplace_change_through_a_view_or_detach_raises(view):
    x = leaf((6,))
    y = x.exp()
    v = view(y)
    with no_grad():
        v.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    assert x.grad is None


def test_inplace_change_through_a_view_of_a_saved_input_raises():
    x, w = leaf((2, 3)), leaf((2, 3), requires_grad=False)
    y = (x * w).sum()
    w[0].add_(1)  # w[0] is a view of w's memory; w does not require grad
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_writing_data_directly_is_caught_once_the_version_is_bumped():
    x, w = leaf((3,)), leaf((3,), requires_grad=False)
    y = (x * w).sum()
    w.data[...] = 0  # what nn does for init/load/optimizers, then it bumps the version
    w._version += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_error_is_raised_before_any_gradient_is_accumulated():
    a, b, w = leaf((2,)), leaf((2,)), leaf((2,), requires_grad=False)
    for loss_of in (lambda: (a * 2).sum() + (b * w).sum(), lambda: (b * w).sum() + (a * 2).sum()):
        loss = loss_of()
        w.add_(1)  # w does not require grad
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()
        assert a.grad is None and b.grad is None, "backward left half a gradient behind"


def test_inplace_update_after_backward_is_the_optimizer_pattern():
    a = RNG.standard_normal(3).astype(np.float32)
    x, w = Tensor(a, requires_grad=True), leaf((3,))
    for _ in range(3):
        loss = (x * w).sum()
        loss.backward()
        with no_grad():
            w -= 0.1 * w.grad
            x -= 0.1 * x.grad
        w.grad = x.grad = None
    assert x._version == 3 and w._version == 3


def test_pad_of_a_0d_tensor_says_why():
    with pytest.raises(ValueError, match="0-d"):
        Tensor(np.float32(2)).pad(1)


def test_matmul_of_two_float_dtypes_raises_runtime_error_as_torch():
    # torch promotes float32 with float64 in elementwise ops but its matmul refuses (RuntimeError)
    a, b = Tensor(np.ones((2, 3), np.float32)), Tensor(np.ones((3, 2), np.float64))
    with pytest.raises(RuntimeError, match=r"matmul: .*float32 \(shape \(2, 3\)\) and float64 \(shape \(3, 2\)\)"):
        a @ b
    assert (a + b.T).dtype == np.float64
