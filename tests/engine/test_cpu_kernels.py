"""engine/kernels/cpu/'s compiled kernels equal the references of the ops they replace.

Each op runs twice on the same inputs, kernels on and off (``engine.kernels.set_enabled``), and the
values, every gradient and the dtypes must agree: in float64 to 1e-12 (the kernels' sums are
reassociated, so not to the bit), in float32 to float32 rounding. AdamW must agree to the bit, in
both dtypes. Each test also asserts which path ran, so a kernel that silently fell back would
fail. The kernels' gradients are also checked by central differences in float64 here; the rest of
the suite (test_fused.py, test_ops_property.py) runs with the kernels on, so it checks them too.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import engine
import engine.functional as F
import engine.kernels
import engine.kernels.cpu
import nn
from engine import Tensor

pytestmark = pytest.mark.skipif(not engine.kernels.cpu.available(), reason="needs numba (the cpu extra)")

TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}


def _ln(x, weight=None, bias=None, eps=1e-5):
    """F.layer_norm over the last dim (torch's signature takes normalized_shape second)."""
    return F.layer_norm(x, x.shape[-1:], weight, bias, eps)


def gelu_tanh(x):
    """GPT-2's tanh GELU (F.gelu's default is torch's exact form)."""
    return F.gelu(x, approximate="tanh")


@contextlib.contextmanager
def softmax_kernel_calls():
    """Counts calls of the table's attention kernels (forward, backward) inside the block: the softmax
    pair, or "attention_blocks" (all query blocks at once, its own softmax) where that one runs."""
    calls = {"forward": 0, "backward": 0}
    keys = [("attention_softmax", "cpu"), ("attention_blocks", "cpu")]
    pairs = {key: engine.kernels.kernels[key] for key in keys}

    def counting(f, what):
        def call(*a):
            calls[what] += 1
            return f(*a)
        return call

    for key, (fwd, bwd) in pairs.items():
        engine.kernels.kernels[key] = (counting(fwd, "forward"), counting(bwd, "backward"))
    try:
        yield calls
    finally:
        engine.kernels.kernels.update(pairs)


def run(fn, arrays, kernels: bool, upstream=None, kernel_marker=None):
    """(output, grads, which path) of fn on fresh leaf tensors, kernels on or off. The path is the
    ctx's kernel pair, or with ``kernel_marker`` "kernel" if its kernels ran both ways; else None."""
    old = engine.kernels.set_enabled(kernels, "cpu")
    try:
        leaves = [Tensor(a.copy(), requires_grad=True) for a in arrays]
        if kernel_marker is not None:
            with kernel_marker() as calls:
                out = fn(*leaves)
                g = np.random.default_rng(1).standard_normal(out.shape) if upstream is None else upstream
                out.backward(Tensor(g.astype(out.dtype)))
            cpu = "kernel" if calls["forward"] and calls["backward"] else None
            return out.numpy(), [t.grad.numpy() for t in leaves], cpu
        out = fn(*leaves)
        cpu = out._ctx.kernel
        g = upstream if upstream is not None else np.random.default_rng(1).standard_normal(out.shape)
        out.backward(Tensor(g.astype(out.dtype)))
        return out.numpy(), [t.grad.numpy() for t in leaves], cpu
    finally:
        engine.kernels.set_enabled(old, "cpu")


def assert_same_path_results(fn, arrays, dtype, kernel_marker=None, check_path=True):
    """Both paths agree to TOL; in float32 each is also compared with float64's result, and where
    the input is ill-conditioned (a large offset) the kernel may be off only as far as the composed path."""
    out_k, grads_k, cpu_k = run(fn, arrays, True, kernel_marker=kernel_marker)
    out_c, grads_c, cpu_c = run(fn, arrays, False, kernel_marker=kernel_marker)
    if check_path:
        assert cpu_k and cpu_c is None, "the kernel path (on) and the composed path (off) both ran"
    assert out_k.dtype == out_c.dtype == dtype
    assert all(gk.dtype == gc.dtype == dtype for gk, gc in zip(grads_k, grads_c))
    if dtype == np.float64:
        for k, c in zip([out_k, *grads_k], [out_c, *grads_c]):
            np.testing.assert_allclose(k, c, **TOL[dtype])
        return
    out_t, grads_t, _ = run(fn, [a.astype(np.float64) for a in arrays], False, kernel_marker=kernel_marker)
    for k, c, t in zip([out_k, *grads_k], [out_c, *grads_c], [out_t, *grads_t]):
        scale = max(np.abs(t).max(), 1.0)  # relative, or absolute where the true values are small
        err_k, err_c = np.abs(k - t).max() / scale, np.abs(c - t).max() / scale
        assert err_k <= max(2 * err_c, 1e-5), (err_k, err_c)


def layer_norm_inputs(draw_shape, c, affine, dtype, seed, offset=0.0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((*draw_shape, c)) * rng.uniform(0.1, 10) + offset).astype(dtype)
    arrays = [x]
    if affine:
        arrays += [rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)]
    return arrays


@given(lead=st.lists(st.integers(1, 5), min_size=0, max_size=2), c=st.integers(1, 70), affine=st.booleans(),
       dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 2**16), offset=st.sampled_from([0.0, 1e3]))
def test_layer_norm_kernel_equals_composed(lead, c, affine, dtype, seed, offset):
    arrays = layer_norm_inputs(lead, c, affine, dtype, seed, offset)
    assert_same_path_results(_ln, arrays, dtype)


@pytest.mark.parametrize("weight,bias", [(True, False), (False, True)])
def test_layer_norm_kernel_one_affine_input(weight, bias):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 9))
    p = rng.standard_normal(9)

    def fn(x, p):
        return _ln(x, p if weight else None, p if bias else None)

    assert_same_path_results(fn, [x, p], np.float64)


def test_layer_norm_kernel_above_the_thread_threshold_and_thread_count_independent():
    """(2048, 384) is split over threads; the bits must not depend on how many."""
    arrays = layer_norm_inputs((8, 256), 384, True, np.float32, 3)
    assert_same_path_results(_ln, arrays, np.float32)
    old = engine.get_num_threads()
    try:
        engine.set_num_threads(1)
        one = run(_ln, arrays, True)
        engine.set_num_threads(2)
        two = run(_ln, arrays, True)
    finally:
        engine.set_num_threads(old)
    np.testing.assert_array_equal(one[0], two[0])
    for a, b in zip(one[1], two[1]):
        np.testing.assert_array_equal(a, b)


def test_layer_norm_kernel_nan_row_and_non_contiguous_input():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((9, 7))
    x[3, 2] = np.nan  # NaN stays in its row, as in the composed path (no fast-math nnan)
    w, b = rng.standard_normal(7), rng.standard_normal(7)
    outs = {}
    for on in (True, False):
        old = engine.kernels.set_enabled(on, "cpu")
        try:
            with np.errstate(invalid="ignore"):
                outs[on] = _ln(Tensor(x), Tensor(w), Tensor(b)).numpy()
        finally:
            engine.kernels.set_enabled(old, "cpu")
    assert np.isnan(outs[True][3]).all() and np.isfinite(np.delete(outs[True], 3, axis=0)).all()
    np.testing.assert_allclose(outs[True], outs[False], rtol=1e-12, atol=1e-12)
    xt = rng.standard_normal((7, 9)).T  # a transposed view: not C-contiguous
    assert not xt.flags.c_contiguous
    assert_same_path_results(_ln, [xt], np.float64)


@pytest.mark.parametrize("kernels", [True, False])
def test_layer_norm_gradcheck_both_paths(kernels):
    rng = np.random.default_rng(4)
    x, w, b = (Tensor(a, requires_grad=True) for a in (rng.standard_normal((3, 5)), rng.standard_normal(5),
                                                       rng.standard_normal(5)))
    old = engine.kernels.set_enabled(kernels, "cpu")
    try:
        assert bool(_ln(x, w, b)._ctx.kernel) == kernels
        assert engine.gradcheck(_ln, x, w, b)
    finally:
        engine.kernels.set_enabled(old, "cpu")


def test_exp_float32_within_two_ulp_and_its_ends():
    """engine.kernels.cpu.exp_ (float32): within 2 ulp of the true exp on [-87, 88.37], exactly 0 below
    (masked scores must weigh nothing), inf above, NaN kept. float64 is NumPy's exp, unchanged."""
    rng = np.random.default_rng(10)
    x = np.concatenate([rng.uniform(-100, 100, 200_000), rng.uniform(-1, 1, 50_000), np.arange(-87, 89, 0.25),
                        [0.0, -0.0, 1e-30, -1e-30, 88.37, -86.99, -87.01, 88.38, 1e4, -1e4]]).astype(np.float32)
    y = x.copy()
    engine.kernels.cpu.exp_(y)
    with np.errstate(over="ignore"):  # x = 1e4: inf, as it should be
        true = np.exp(x.astype(np.float64))
    inside = (x >= -87.0) & (x <= np.float32(88.37626))
    ulp = np.spacing(true[inside].astype(np.float32)).astype(np.float64)
    assert (np.abs(y[inside] - true[inside]) <= 2 * ulp).all()
    assert (y[x < -87.0] == 0).all() and np.isposinf(y[x > np.float32(88.37627)]).all()
    special = np.array([np.nan, -np.inf, np.inf], np.float32)
    engine.kernels.cpu.exp_(special)
    assert np.isnan(special[0]) and special[1] == 0 and np.isposinf(special[2])
    x64 = rng.uniform(-50, 50, 1000)
    y64 = x64.copy()
    engine.kernels.cpu.exp_(y64)
    np.testing.assert_array_equal(y64, np.exp(x64))


@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3), dtype=st.sampled_from([np.float64, np.float32]),
       seed=st.integers(0, 2**16), scale=st.sampled_from([1.0, 30.0]))
def test_gelu_kernel_equals_composed(shape, dtype, seed, scale):
    x = (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)
    assert_same_path_results(gelu_tanh, [x], dtype)


def test_gelu_kernel_tails_and_specials():
    x = np.array([-np.inf, -200.0, -20.0, -5.0, -1e-30, 0.0, 1e-30, 5.0, 20.0, 200.0, np.inf, np.nan], np.float32)
    for on in (True, False):
        old = engine.kernels.set_enabled(on, "cpu")
        try:
            with np.errstate(invalid="ignore"):
                t = Tensor(x, requires_grad=True)
                y = F.gelu(t, approximate="tanh")
                assert bool(y._ctx.kernel) == on
                y.backward(Tensor(np.ones_like(x)))
            result = (y.numpy(), t.grad.numpy())
        finally:
            engine.kernels.set_enabled(old, "cpu")
        if on:
            kernel = result
    np.testing.assert_array_equal(np.isnan(kernel[0]), np.isnan(result[0]))
    np.testing.assert_allclose(kernel[0], result[0], rtol=2e-6, atol=0)
    np.testing.assert_allclose(kernel[1], result[1], rtol=2e-6, atol=1e-30)


def test_gelu_kernel_large_array_and_gradcheck():
    x = np.random.default_rng(5).standard_normal((300, 400)).astype(np.float32)  # above the thread threshold
    assert_same_path_results(gelu_tanh, [x], np.float32)
    t = Tensor(np.random.default_rng(6).standard_normal((4, 5)), requires_grad=True)
    assert F.gelu(t, approximate="tanh")._ctx.kernel
    assert engine.gradcheck(gelu_tanh, t)


@given(t=st.sampled_from([1, 5, 64, 130]), extra=st.sampled_from([0, 3]), d=st.integers(1, 9),
       mask=st.sampled_from(["causal", "none", "shared", "per-batch", "window"]),
       dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 2**16))
def test_attention_softmax_kernels_equal_composed(t, extra, d, mask, dtype, seed):
    """T = 130 takes the 64-query blocks; a mask per batch entry keeps the composed forward softmax."""
    rng = np.random.default_rng(seed)
    s = t + extra
    q = (rng.standard_normal((2, 3, t, d)) * 2).astype(dtype)
    k, v = (rng.standard_normal((2, 3, s, d)).astype(dtype) for _ in range(2))
    keep = {"none": None, "causal": None, "window": None, "shared": rng.random((t, s)) < 0.7,
            "per-batch": rng.random((2, 1, t, s)) < 0.7}[mask]
    if keep is not None:
        keep[..., 0] = True  # no query without a key
    causal, window = mask in ("causal", "window"), (3 if mask == "window" else None)

    def fn(q, k, v):
        mask = F.causal_lower_right(t, s, window) if causal else keep
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    if mask == "per-batch":  # the forward keeps the composed softmax (a mask per batch entry), backward not
        with softmax_kernel_calls() as calls:
            out = fn(*(Tensor(a, requires_grad=True) for a in (q, k, v)))
            out.backward(Tensor(np.ones(out.shape, dtype)))
        assert calls["backward"] and bool(calls["forward"]) == bool(keep.all())  # all-True: no mask at all
        assert_same_path_results(fn, [q, k, v], dtype, kernel_marker=softmax_kernel_calls, check_path=False)
        return
    assert_same_path_results(fn, [q, k, v], dtype, kernel_marker=softmax_kernel_calls)


def test_self_attention_kernels_thread_count_independent_and_gradcheck():
    rng = np.random.default_rng(9)
    qkv = rng.standard_normal((4, 70, 3 * 16)).astype(np.float32)
    old = engine.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            engine.set_num_threads(n)
            results.append(run(lambda t: F.self_attention(t, 2), [qkv], True, kernel_marker=softmax_kernel_calls))
    finally:
        engine.set_num_threads(old)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1][0], results[1][1][0])
    assert_same_path_results(lambda t: F.self_attention(t, 2), [qkv], np.float32, kernel_marker=softmax_kernel_calls)
    x = Tensor(rng.standard_normal((2, 6, 3 * 4)), requires_grad=True)
    with softmax_kernel_calls() as calls:
        assert engine.gradcheck(lambda t: F.self_attention(t, 2), x)
    assert calls["forward"] and calls["backward"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt_cls,kwargs", [(nn.optim.AdamW, dict(weight_decay=0.1)),
                                            (nn.optim.Adam, dict(weight_decay=0.01)),
                                            (nn.optim.AdamW, dict(weight_decay=0.0))])
def test_adam_kernel_bit_for_bit(dtype, opt_cls, kwargs):
    rng = np.random.default_rng(7)
    shapes = [(37, 5), (11,), (3, 4, 2), (700, 800)]  # the last above parallel_jobs' threshold
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(4)]
    finals = []
    for on in (True, False):
        old = engine.kernels.set_enabled(on, "cpu")
        try:
            params = [nn.Parameter(Tensor(a.copy())) for a in init]
            opt = opt_cls(params, lr=3e-3, betas=(0.9, 0.99), eps=1e-8, **kwargs)
            for step_grads in grads:
                for p, g in zip(params, step_grads):
                    p.grad = Tensor(g.copy())
                opt.step()
            finals.append([p.numpy().copy() for p in params] + [opt.state[id(p)]["exp_avg_sq"] for p in params])
        finally:
            engine.kernels.set_enabled(old, "cpu")
    for a, b in zip(*finals):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(finals[0][0], init[0])  # it did update


def test_gpt_training_steps_match_composed():
    from tinygrad_gpt.config import GPTConfig
    from tinygrad_gpt.model import GPT

    cfg = GPTConfig(block_size=16, vocab_size=50, n_layer=2, n_head=2, n_embd=32, dropout=0.0)
    rng = np.random.default_rng(8)
    x = rng.integers(0, 50, (3, 16))
    y = rng.integers(0, 50, (3, 16))
    losses = {}
    for on in (True, False):
        old = engine.kernels.set_enabled(on, "cpu")
        try:
            model = GPT(cfg, seed=0)
            opt = nn.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
            losses[on] = []
            for _ in range(3):
                _, loss = model(x, y)
                loss.backward()
                opt.step()
                opt.zero_grad()
                losses[on].append(loss.item())
        finally:
            engine.kernels.set_enabled(old, "cpu")
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-5)
    assert losses[True][2] < losses[True][0]


def test_lookup_rules():
    f32, f64 = np.ones(3, np.float32), np.ones(3)
    assert engine.kernels.lookup("gelu", f32) == engine.kernels.kernels[("gelu", "cpu")]
    assert engine.kernels.lookup("layer_norm", f64, None, f64) == engine.kernels.kernels[("layer_norm", "cpu")]
    assert engine.kernels.lookup("layer_norm", f32, f64) is None  # mixed dtypes
    assert engine.kernels.lookup("gelu", np.ones(3, np.float16)) is None
    assert engine.kernels.lookup("gelu", np.ones(3, np.int64)) is None
    assert engine.kernels.lookup("gelu", None) is None
    assert engine.kernels.lookup("softmax", f32) is None  # no CPU softmax kernel: the reference
    old = engine.kernels.set_enabled(False, "cpu")
    try:
        assert engine.kernels.lookup("gelu", f32) is None
    finally:
        engine.kernels.set_enabled(old, "cpu")



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(8, 256), (3, 7), (1,)])
def test_embedding_backward_kernel_adds_rows_in_input_order(dtype, shape):
    """Embedding's scatter-add: each id's rows summed one by one in input order (a plain loop gives
    the expected bits, nan/inf rows and -0.0 included) on any thread count; the reference (sort and
    reduceat, which may round in another order) agrees to TOL."""
    rng = np.random.default_rng(5)
    V, D = 80, 384 if len(shape) == 2 else 5
    ids = rng.integers(0, V, shape)
    weight = rng.standard_normal((V, D)).astype(dtype)
    g = rng.standard_normal(shape + (D,)).astype(dtype)
    g.reshape(-1, D)[0, :3] = [np.nan, np.inf, -0.0]
    g.reshape(-1, D)[-1, 1:3] = [-np.inf, -0.0]
    expected = np.zeros((V, D), dtype)
    for i, row in zip(ids.reshape(-1), g.reshape(-1, D)):
        expected[i] += row

    def go(kernels, threads):
        old, old_threads = engine.kernels.set_enabled(kernels, "cpu"), engine.get_num_threads()
        try:
            engine.set_num_threads(threads)
            w = Tensor(weight.copy(), requires_grad=True)
            out = F.embedding(Tensor(ids), w)
            assert (out._ctx.kernel is not None) == kernels
            out.backward(Tensor(g))
            return out.numpy(), w.grad.numpy()
        finally:
            engine.kernels.set_enabled(old, "cpu")
            engine.set_num_threads(old_threads)

    out_r, grad_r = go(False, 2)
    for threads in (1, 2):
        out_k, grad_k = go(True, threads)
        assert out_k.dtype == grad_k.dtype == dtype
        np.testing.assert_array_equal(out_k, weight[ids])
        np.testing.assert_array_equal(grad_k, expected)
        np.testing.assert_array_equal(np.signbit(grad_k), np.signbit(expected))
        np.testing.assert_allclose(grad_k, grad_r, **TOL[dtype])


def test_gelu_float32_one_pass_same_bits_as_three_passes():
    """The float32 GELU kernels fuse _gelu_exponent, exp_ and the finishing pass into one loop
    (exp_float32_scalar inline); each value must keep the three passes' bits: saturated, tiny,
    nan/inf and ±0 inputs, and exp's clamps (−87, 88.38) reached from both sides."""
    from engine.kernels.cpu import exp_, exp_float32_scalar
    from engine.kernels.cpu import gelu as G

    rng = np.random.default_rng(11)
    a = np.concatenate([(rng.standard_normal(200_001) * 4).astype(np.float32),
                        np.linspace(-70, 70, 50_001, dtype=np.float32),
                        np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-40, 3.4e38, -3.4e38], np.float32)])
    g = rng.standard_normal(a.size).astype(np.float32)
    e = np.empty_like(a)
    G._gelu_exponent(a, e)
    v = e.copy()
    exp_(e)
    three = np.empty_like(a)
    G._gelu_finish(a, e, three)
    three_bwd = np.empty_like(a)
    G._gelu_backward_from_exp(a, e, g, three_bwd)
    v[:9] = [np.nan, np.inf, -np.inf, -87.0, -87.00001, 88.37626, 88.3763, -0.0, 0.0]
    e2 = v.copy()
    exp_(e2)
    scalar = np.array([exp_float32_scalar(x) for x in v[:2000]], np.float32)
    np.testing.assert_array_equal(scalar.view(np.int32), e2[:2000].view(np.int32))
    np.testing.assert_array_equal(G.gelu(a).view(np.int32), three.view(np.int32))
    np.testing.assert_array_equal(G.gelu_backward(a, g).view(np.int32), three_bwd.view(np.int32))
