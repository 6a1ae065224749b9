"""Activation checkpointing (engine.checkpoint / nn.utils.checkpoint) and nn.utils.fusion, skip_init,
convert_conv*_weight_memory_format, get_total_norm, clip_grads_with_norm_ against torch."""

from __future__ import annotations

import gc
import warnings
import weakref

import numpy as np
import pytest

import engine
import nn
from engine import autograd
from nn.utils.checkpoint import CheckpointError, checkpoint, checkpoint_sequential
from tests.nn.parity_helpers import copy_state, raises_as_torch

torch = pytest.importorskip("torch")
tcp = pytest.importorskip("torch.utils.checkpoint")

VARIANTS = [True, False]


def _t(a, grad=True):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _e(a, grad=True):
    return engine.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


# ---- gradients equal those without checkpointing, bit for bit (float64) --------------------------------


def _grads(model, x, ck, reentrant, seed=3):
    engine.manual_seed(seed)
    for p in model.parameters():
        p.grad = None
    xx = x.detach().requires_grad_(True)
    y = checkpoint(model, xx, use_reentrant=reentrant) if ck else model(xx)
    (y * y).sum().backward()
    return y, [xx.grad] + [p.grad for p in model.parameters()]


@pytest.mark.parametrize("reentrant", VARIANTS)
@pytest.mark.parametrize("kind", ["mlp", "transformer"])
def test_gradients_bit_for_bit_with_dropout(reentrant, kind):
    engine.manual_seed(0)
    if kind == "mlp":
        model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Dropout(0.3), nn.Linear(8, 3)).astype("float64")
        x = engine.randn(5, 4, dtype=engine.float64)
    else:
        model = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.2, batch_first=True).astype("float64")
        x = engine.randn(2, 5, 8, dtype=engine.float64)
    y0, g0 = _grads(model, x, False, reentrant)
    y1, g1 = _grads(model, x, True, reentrant)
    assert np.array_equal(y0.numpy(), y1.numpy())
    assert len(g0) == len(g1) and all(a is not None for a in g1)
    for a, b in zip(g0, g1):
        assert a.dtype == b.dtype and np.array_equal(a.numpy(), b.numpy())
    # the dropout really dropped (the masks matter): another seed gives other gradients
    _, g2 = _grads(model, x, True, reentrant, seed=4)
    assert not np.array_equal(g1[0].numpy(), g2[0].numpy())


def test_rng_state_after_backward_is_the_one_before():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5)).astype("float64")
    x = engine.randn(4, 3, dtype=engine.float64)
    draws = []
    for ck in (False, True):
        engine.manual_seed(7)
        y = checkpoint(model, x, use_reentrant=False) if ck else model(x)
        y.sum().backward()
        draws.append(engine.rand(5).numpy())
    assert np.array_equal(*draws)


@pytest.mark.parametrize("reentrant", VARIANTS)
def test_preserve_rng_state_false_draws_new_masks(reentrant):
    engine.manual_seed(0)
    drop = nn.Dropout(0.5)
    x = _e(np.ones(200))
    y = checkpoint(drop, x, use_reentrant=reentrant, preserve_rng_state=False)
    y.sum().backward()
    # the recomputation drew another mask: the gradient's zeros are not the output's
    assert not np.array_equal(x.grad.numpy() == 0, y.detach().numpy() == 0)


# ---- against torch: an MLP without dropout, module and parameter gradients ----------------------------------


@pytest.mark.parametrize("reentrant", VARIANTS)
def test_mlp_gradients_match_torch(reentrant):
    tm = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2)).double()
    om = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)).astype("float64")
    copy_state(tm, om)
    xn = np.random.default_rng(0).standard_normal((3, 4))
    tx, ox = _t(xn), _e(xn)
    ty = tcp.checkpoint(tm, tx, use_reentrant=reentrant)
    oy = checkpoint(om, ox, use_reentrant=reentrant)
    np.testing.assert_allclose(oy.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    (ty ** 2).sum().backward()
    (oy ** 2).sum().backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    for (name, tp), op in zip(tm.named_parameters(), om.parameters()):
        np.testing.assert_allclose(op.grad.numpy(), tp.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("reentrant", VARIANTS)
def test_gradcheck_through_checkpoint(reentrant):
    w = _e(np.random.default_rng(1).standard_normal((3, 3)))

    def f(a, b):
        return checkpoint(lambda u, v: ((u @ w).tanh() * v).sin(), a, b, use_reentrant=reentrant)

    a = _e(np.random.default_rng(2).standard_normal((2, 3)))
    b = _e(np.random.default_rng(3).standard_normal((2, 3)))
    assert engine.gradcheck(f, a, b)


# ---- use_reentrant not passed; the reentrant variant's limits ---------------------------------------------


def test_use_reentrant_not_passed_warns_and_means_true():
    for mod in (tcp, None):
        x = (_t if mod else _e)([1.0, 2.0])
        def fn(a):
            return (a * 2).sum()

        with pytest.warns(UserWarning, match="the use_reentrant parameter should be passed explicitly"):
            y = (mod.checkpoint if mod else checkpoint)(fn, x)
        assert (y.grad_fn.name() == "CheckpointFunctionBackward")
        with pytest.warns(UserWarning, match="checkpoint_sequential: the use_reentrant parameter"):
            (mod.checkpoint_sequential if mod else checkpoint_sequential)([fn], 1, x)


def test_reentrant_without_input_requiring_grad():
    for ck, mk in ((tcp.checkpoint, _t), (checkpoint, _e)):
        w = mk([2.0])
        with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
            y = ck(lambda a, w=w: a * w, mk([1.0, 2.0], grad=False), use_reentrant=True)
        assert not y.requires_grad
        # non-reentrant: the parameter used inside still gets its gradient, and no warning
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y = ck(lambda a, w=w: a * w, mk([1.0, 2.0], grad=False), use_reentrant=False)
        y.sum().backward()
        assert w.grad.tolist() == [3.0]


def test_reentrant_rejects_grad_and_backward_inputs():
    msg = "incompatible with .grad\\(\\) or passing an `inputs` parameter"
    for ck, mk, grad in ((tcp.checkpoint, _t, torch.autograd.grad), (checkpoint, _e, autograd.grad)):
        x = mk([1.0, 2.0])
        with pytest.raises(RuntimeError, match=msg):
            grad(ck(lambda a: (a * a).sum(), x, use_reentrant=True), x)
        with pytest.raises(RuntimeError, match=msg):
            ck(lambda a: (a * a).sum(), x, use_reentrant=True).backward(inputs=[x])


def test_argument_errors():
    for ck in (tcp.checkpoint, checkpoint):
        mk = _t if ck is tcp.checkpoint else _e
        x = mk([1.0])
        with pytest.raises(ValueError, match="Unexpected keyword arguments: k"):
            ck(lambda a, k=1: a * k, x, use_reentrant=True, k=2)
        with pytest.raises(ValueError, match="only supported when use_reentrant=False"):
            ck(lambda a: a, x, use_reentrant=True, context_fn=lambda: (None, None))
        with pytest.raises(ValueError, match="only supported when use_reentrant=False"):
            ck(lambda a: a, x, use_reentrant=True, debug=True)
        with pytest.raises(ValueError, match="determinism_check should be one of"):
            ck(lambda a: a * 2, x, use_reentrant=False, determinism_check="shapes")
    with pytest.raises(ValueError, match="Unexpected keyword arguments"):
        checkpoint_sequential([lambda a: a], 1, _e([1.0]), use_reentrant=False, foo=1)
    with pytest.raises(ValueError, match="Unexpected keyword arguments"):
        tcp.checkpoint_sequential([lambda a: a], 1, _t([1.0]), use_reentrant=False, foo=1)


# ---- autograd.grad, backward(inputs=), retain_graph, create_graph ---------------------------------------------


def _closure_case(mk):
    rng = np.random.default_rng(5)
    w, b = mk(rng.standard_normal((3, 3))), mk(rng.standard_normal(3))
    x = mk(rng.standard_normal((2, 3)))
    return w, b, x, (lambda a, scale, bias=None: ((a @ w) * scale + bias).tanh())


def test_non_reentrant_autograd_grad_reaches_parameters_and_kwargs():
    got = []
    for ck, mk, grad in ((tcp.checkpoint, _t, torch.autograd.grad), (checkpoint, _e, autograd.grad)):
        w, b, x, f = _closure_case(mk)
        h = x * 2  # a non-leaf input
        y = ck(f, h, 0.5, use_reentrant=False, bias=b)
        got.append([g.detach().numpy() for g in grad((y * y).sum(), [w, b, x])])
        assert w.grad is None and x.grad is None
    for a, t in zip(got[1], got[0]):
        np.testing.assert_allclose(a, t, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reentrant", VARIANTS)
def test_retain_graph_and_second_backward(reentrant):
    for ck, mk in ((tcp.checkpoint, _t), (checkpoint, _e)):
        x = mk([0.5, -1.0])
        y = ck(lambda a: (a.sin() * 2).sum(), x, use_reentrant=reentrant)
        y.backward(retain_graph=True)
        first = x.grad.detach().numpy().copy()
        y.backward()
        np.testing.assert_array_equal(x.grad.detach().numpy(), 2 * first)
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            y.backward()


def test_backward_inputs_non_reentrant():
    res = []
    for ck, mk in ((tcp.checkpoint, _t), (checkpoint, _e)):
        w, b, x, f = _closure_case(mk)
        ck(f, x, 2.0, use_reentrant=False, bias=b).sum().backward(inputs=[w])
        res.append((w.grad.detach().numpy(), b.grad, x.grad))
    np.testing.assert_allclose(res[1][0], res[0][0], rtol=1e-12, atol=1e-15)
    assert res[1][1] is None and res[1][2] is None and res[0][1] is None and res[0][2] is None


def test_create_graph_non_reentrant_second_derivative():
    out = []
    for ck, mk, grad in ((tcp.checkpoint, _t, torch.autograd.grad), (checkpoint, _e, autograd.grad)):
        w, _, x, _ = _closure_case(mk)
        y = ck(lambda a, w=w: ((a @ w) ** 3).sum(), x, use_reentrant=False)
        gx, gw = grad(y, [x, w], create_graph=True)
        out.append([t.detach().numpy() for t in (gx, *grad((gx * gx).sum() + gw.sum(), [x, w]))])
    for a, t in zip(out[1], out[0]):
        np.testing.assert_allclose(a, t, rtol=1e-10, atol=1e-12)


def test_create_graph_reentrant_backward_gives_constant_grads():
    for ck, mk in ((tcp.checkpoint, _t), (checkpoint, _e)):
        x = mk([1.0, 2.0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ck(lambda a: (a ** 3).sum(), x, use_reentrant=True).backward(create_graph=True)
        assert x.grad.tolist() == [3.0, 12.0] and not x.grad.requires_grad
        with pytest.raises(RuntimeError, match="incompatible with .grad"):
            (torch.autograd.grad if mk is _t else autograd.grad)(
                ck(lambda a: (a ** 3).sum(), x, use_reentrant=True), x, create_graph=True)


def test_create_graph_with_several_outputs_is_not_supported():
    x = _e([1.0, 2.0])
    a, b = checkpoint(lambda t: (t * 2, t * 3), x, use_reentrant=False)
    with pytest.raises(NotImplementedError, match="several differentiable outputs"):
        autograd.grad((a * b).sum(), x, create_graph=True)


# ---- inputs and outputs: tuples, non-tensors, no grad, nested ---------------------------------------------


@pytest.mark.parametrize("reentrant", VARIANTS)
def test_tuple_outputs_and_non_tensor_args(reentrant):
    outs = []
    for ck, mk in ((tcp.checkpoint, _t), (checkpoint, _e)):
        x = mk([0.3, -1.2, 2.0])
        out = ck(lambda a, k, flag: (a * k, a.argmax(), a.detach() * 3, flag, (a * a).sum()), x, 2.0, "s",
                 use_reentrant=reentrant)
        flags = [(o.requires_grad, str(o.dtype).replace("torch.", "")) if hasattr(o, "dtype") else o for o in out]
        (out[0].sum() * out[4]).backward()
        outs.append((flags, x.grad.detach().numpy()))
    assert outs[1][0] == outs[0][0]
    np.testing.assert_allclose(outs[1][1], outs[0][1], rtol=1e-12)


def test_nested_outputs_non_reentrant():
    res = []
    for ck, mk in ((tcp.checkpoint, _t), (checkpoint, _e)):
        x = mk([0.3, -1.2])
        out = ck(lambda a: {"y": a.exp(), "z": [a * 2, 5]}, x, use_reentrant=False)
        (out["y"] * out["z"][0]).sum().backward()
        res.append((out["z"][1], x.grad.detach().numpy()))
    assert res[1][0] == res[0][0] == 5
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-12)


@pytest.mark.parametrize("reentrant", VARIANTS)
def test_under_no_grad_runs_the_function(reentrant):
    x = _e([1.0, 2.0])
    with engine.no_grad():
        y = checkpoint(lambda a: a * 2, x, use_reentrant=reentrant)
    assert y.tolist() == [2.0, 4.0] and not y.requires_grad and y.grad_fn is None


@pytest.mark.parametrize("reentrant", VARIANTS)
def test_input_modified_in_place_before_backward(reentrant):
    for ck, mk in ((tcp.checkpoint, _t), (checkpoint, _e)):
        h = mk([1.0, 2.0]) * 1
        y = ck(lambda a: (a.sin() * 2).sum(), h, use_reentrant=reentrant)
        with (torch.no_grad() if mk is _t else engine.no_grad()):
            h.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.backward()


def test_determinism_check():
    for ck, mk in ((tcp.checkpoint, _t), (checkpoint, _e)):
        calls = []

        def f(a, calls=calls):
            calls.append(1)
            return a[: len(calls) + 1].sin() * 2

        y = ck(f, mk([1.0, 2.0, 3.0]), use_reentrant=False)
        with pytest.raises(RuntimeError, match="Recomputed values for the following tensors have different metadata"):
            y.sum().backward()
    assert issubclass(CheckpointError, RuntimeError) and issubclass(tcp.CheckpointError, RuntimeError)


# ---- memory: the region's intermediates are not kept ----------------------------------------------------------


@pytest.mark.parametrize("reentrant", [True, False, None])
def test_intermediates_are_freed(reentrant):
    kept = []

    def f(a):
        h = a.exp() * 3  # an intermediate whose array sin's backward reads: only a weak link to it
        kept.append(weakref.ref(h._data))
        return (h.sin() * 2).tanh()

    x = _e(np.linspace(0, 1, 8))
    y = f(x) if reentrant is None else checkpoint(f, x, use_reentrant=reentrant)
    gc.collect()
    if reentrant is None:  # control: without checkpointing the graph keeps it
        assert kept[0]() is not None
        return
    assert kept[0]() is None
    node = y.grad_fn
    assert [n for n, _ in node.next_functions] and all(
        type(n).__name__ == "AccumulateGrad" for n, _ in node.next_functions)  # one node, then the leaf
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), _reference_grad(f, x), rtol=1e-15)


def _reference_grad(f, x):
    xx = x.detach().requires_grad_(True)
    f(xx).sum().backward()
    return xx.grad.numpy()


# ---- checkpoint_sequential -------------------------------------------------------------------------------------


@pytest.mark.parametrize("reentrant", VARIANTS)
@pytest.mark.parametrize("segments", [1, 2, 3, 5])
def test_checkpoint_sequential_matches_torch(reentrant, segments):
    tm = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 5), torch.nn.Tanh(),
                             torch.nn.Linear(5, 2)).double()
    om = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 5), nn.Tanh(), nn.Linear(5, 2)).astype("float64")
    copy_state(tm, om)
    xn = np.random.default_rng(1).standard_normal((4, 3))
    tx, ox = _t(xn), _e(xn)
    ty = tcp.checkpoint_sequential(tm, segments, tx, use_reentrant=reentrant)
    oy = checkpoint_sequential(om, segments, ox, use_reentrant=reentrant)
    np.testing.assert_allclose(oy.numpy(), ty.detach().numpy(), rtol=1e-12)
    ty.pow(2).sum().backward()
    oy.pow(2).sum().backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-14)
    for tp, op in zip(tm.parameters(), om.parameters()):
        np.testing.assert_allclose(op.grad.numpy(), tp.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_checkpoint_sequential_bad_segments():
    raises_as_torch(lambda: checkpoint_sequential([abs, abs], 0, _e([1.0]), use_reentrant=False),
                    lambda: tcp.checkpoint_sequential([abs, abs], 0, _t([1.0]), use_reentrant=False))
    raises_as_torch(lambda: checkpoint_sequential([abs, abs], 3, _e([1.0]), use_reentrant=False),
                    lambda: tcp.checkpoint_sequential([abs, abs], 3, _t([1.0]), use_reentrant=False))


# ---- nn.utils.fusion ---------------------------------------------------------------------------------------


def _bn_pair(tcls, ocls, n, affine=True):
    rng = np.random.default_rng(n)
    tb, ob = tcls(n, affine=affine).double(), ocls(n, affine=affine).astype("float64")
    with torch.no_grad():
        tb.running_mean.copy_(torch.tensor(rng.standard_normal(n)))
        tb.running_var.copy_(torch.tensor(rng.uniform(0.5, 2.0, n)))
        if affine:
            tb.weight.copy_(torch.tensor(rng.standard_normal(n)))
            tb.bias.copy_(torch.tensor(rng.standard_normal(n)))
    copy_state(tb, ob)
    return tb.eval(), ob.eval()


CONVS = [("Conv1d", "BatchNorm1d", (2, 3, 7), False), ("Conv2d", "BatchNorm2d", (2, 3, 5, 5), False),
         ("Conv3d", "BatchNorm3d", (1, 3, 4, 4, 4), False), ("ConvTranspose2d", "BatchNorm2d", (2, 3, 4, 4), True),
         ("ConvTranspose1d", "BatchNorm1d", (2, 3, 6), True)]


@pytest.mark.parametrize("conv,bn,shape,transpose", CONVS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_fuse_conv_bn_eval(conv, bn, shape, transpose, bias, affine):
    tc = getattr(torch.nn, conv)(3, 4, 3, bias=bias).double().eval()
    oc = getattr(nn, conv)(3, 4, 3, bias=bias).astype("float64").eval()
    copy_state(tc, oc)
    tb, ob = _bn_pair(getattr(torch.nn, bn), getattr(nn, bn), 4, affine)
    tf = torch.nn.utils.fuse_conv_bn_eval(tc, tb, transpose=transpose)
    of = nn.utils.fuse_conv_bn_eval(oc, ob, transpose=transpose)
    assert of is not oc and type(of) is type(oc)
    for name in ("weight", "bias"):
        tp, op = getattr(tf, name), getattr(of, name)
        assert isinstance(op, nn.Parameter) and op.requires_grad == tp.requires_grad and op.dtype == np.float64
        np.testing.assert_allclose(op.detach().numpy(), tp.detach().numpy(), rtol=1e-13, atol=1e-14)
    xn = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_allclose(of(_e(xn, False)).numpy(), tf(_t(xn, False)).detach().numpy(), rtol=1e-12,
                               atol=1e-12)
    assert np.array_equal(oc.weight.numpy(), tc.weight.detach().numpy())  # the original is untouched


@pytest.mark.parametrize("features", [4, 1])
@pytest.mark.parametrize("bias", [True, False])
def test_fuse_linear_bn_eval(features, bias):
    tl, ol = torch.nn.Linear(3, 4, bias=bias).double().eval(), nn.Linear(3, 4, bias=bias).astype("float64").eval()
    copy_state(tl, ol)
    tb, ob = _bn_pair(torch.nn.BatchNorm1d, nn.BatchNorm1d, features)
    tf, of = torch.nn.utils.fuse_linear_bn_eval(tl, tb), nn.utils.fuse_linear_bn_eval(ol, ob)
    for name in ("weight", "bias"):
        tp, op = getattr(tf, name), getattr(of, name)
        assert op.shape == tuple(tp.shape) and op.requires_grad == tp.requires_grad
        np.testing.assert_allclose(op.detach().numpy(), tp.detach().numpy(), rtol=1e-13, atol=1e-14)


def test_fuse_weights_float32_and_gradless():
    rng = np.random.default_rng(2)
    w, rm, rv = rng.standard_normal((4, 2, 3)).astype(np.float32), rng.standard_normal(4), rng.uniform(1, 2, 4)
    tw, tb = torch.nn.utils.fuse_conv_bn_weights(torch.tensor(w), None, torch.tensor(rm), torch.tensor(rv), 1e-5,
                                                 None, None)
    ow, ob = nn.utils.fuse_conv_bn_weights(engine.tensor(w), None, engine.tensor(rm), engine.tensor(rv), 1e-5,
                                           None, None)
    assert str(ow.dtype) == "float32" and str(ob.dtype) == "float32" and str(tb.dtype) == "torch.float32"
    assert (ow.requires_grad, ob.requires_grad) == (tw.requires_grad, tb.requires_grad) == (False, False)
    np.testing.assert_allclose(ow.detach().numpy(), tw.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(ob.detach().numpy(), tb.detach().numpy(), rtol=1e-6)


def test_fusion_errors():
    tc, oc = torch.nn.Conv2d(2, 3, 1), nn.Conv2d(2, 3, 1)
    tb, ob = torch.nn.BatchNorm2d(3), nn.BatchNorm2d(3)
    raises_as_torch(lambda: nn.utils.fuse_conv_bn_eval(oc, ob), lambda: torch.nn.utils.fuse_conv_bn_eval(tc, tb),
                    match="Fusion only for eval!")
    tl, ol = torch.nn.Linear(2, 3).eval(), nn.Linear(2, 3).eval()
    tb5, ob5 = torch.nn.BatchNorm1d(5).eval(), nn.BatchNorm1d(5).eval()
    raises_as_torch(lambda: nn.utils.fuse_linear_bn_eval(ol, ob5), lambda: torch.nn.utils.fuse_linear_bn_eval(tl, tb5),
                    match="linear.out_features=3 and bn.num_features=5")
    tn, on = torch.nn.BatchNorm1d(3, track_running_stats=False).eval(), nn.BatchNorm1d(3, track_running_stats=False)
    raises_as_torch(lambda: nn.utils.fuse_linear_bn_eval(ol, on.eval()),
                    lambda: torch.nn.utils.fuse_linear_bn_eval(tl, tn), match="must not be None")


# ---- skip_init, memory formats, norms ----------------------------------------------------------------------


def test_skip_init():
    for mod in ((torch.nn, torch.nn.utils), (nn, nn.utils)):
        m = mod[1].skip_init(mod[0].Linear, 5, 2, bias=False, dtype=mod[0] is nn and "float64" or torch.float64)
        assert tuple(m.weight.shape) == (2, 5) and m.bias is None and m.weight.requires_grad
        assert "float64" in str(m.weight.dtype)
    raises_as_torch(lambda: nn.utils.skip_init(int), lambda: torch.nn.utils.skip_init(int), match="Expected a Module")

    class NoDevice(nn.Module):
        pass

    class TNoDevice(torch.nn.Module):
        pass

    raises_as_torch(lambda: nn.utils.skip_init(NoDevice), lambda: torch.nn.utils.skip_init(TNoDevice),
                    match="must support a 'device' arg")


def test_convert_weight_memory_format_keeps_the_module():
    m = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Conv3d(3, 2, 1))
    w = [p.numpy().copy() for p in m.parameters()]
    assert nn.utils.convert_conv2d_weight_memory_format(m, engine.channels_last) is m
    assert nn.utils.convert_conv3d_weight_memory_format(m, engine.channels_last_3d) is m
    assert all(np.array_equal(a, p.numpy()) for a, p in zip(w, m.parameters()))


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, float("inf"), 0.0])
def test_get_total_norm_and_clip_grads_with_norm(norm_type):
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal(s) for s in ((3, 2), (4,), (1,))]
    tt, ot = [torch.tensor(a) for a in arrays], [engine.tensor(a) for a in arrays]
    tn = torch.nn.utils.get_total_norm(tt, norm_type)
    on = nn.utils.get_total_norm(ot, norm_type)
    assert str(on.dtype) == "float64" and on.shape == ()
    np.testing.assert_allclose(on.item(), tn.item(), rtol=1e-12)
    tps = [torch.nn.Parameter(torch.zeros_like(t)) for t in tt]
    ops = [nn.Parameter(engine.zeros_like(t)) for t in ot]
    for tp, op, t, o in zip(tps, ops, tt, ot):
        tp.grad, op.grad = t.clone(), o.clone()
    torch.nn.utils.clip_grads_with_norm_(tps, 0.5, tn)
    nn.utils.clip_grads_with_norm_(ops, 0.5, on)
    for tp, op in zip(tps, ops):
        np.testing.assert_allclose(op.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


def test_vector_to_parameters():
    vec = np.arange(7.0)
    tps = [torch.nn.Parameter(torch.zeros(2, 2, dtype=torch.float64)), torch.nn.Parameter(torch.zeros(3))]
    ops = [nn.Parameter(engine.zeros(2, 2, dtype=engine.float64)), nn.Parameter(engine.zeros(3))]
    torch.nn.utils.vector_to_parameters(torch.tensor(vec), tps)
    nn.utils.vector_to_parameters(engine.tensor(vec), ops)
    for tp, op in zip(tps, ops):
        np.testing.assert_array_equal(op.detach().numpy(), tp.detach().numpy())
    raises_as_torch(lambda: nn.utils.vector_to_parameters(vec, ops),
                    lambda: torch.nn.utils.vector_to_parameters(vec, tps), match="expected torch.Tensor")
