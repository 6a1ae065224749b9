"""torch names the engine lacked (issue 17, engine/torch_names.py) against torch 2.13: the aten
spellings of functional ops, native_* norms and dropout, functional RNN cells and the flat-weight
lstm/gru/rnn, segment_reduce, eager cond/while_loop, runtime and autocast queries, frombuffer and
DLPack, torch's errors for removed linear algebra, and Tensor's flags and legacy methods. torch is the
oracle for values, dtypes, shapes, float64 gradients (torch.autograd.grad) and error types/messages."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import engine
import engine.functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(17)


def pair(a, grad=False, dtype=np.float64):
    """The same values as (engine, torch) tensors."""
    a = np.asarray(a, dtype=dtype)
    return engine.tensor(a.copy(), requires_grad=grad), torch.tensor(a.copy(), requires_grad=grad)


def rand(*shape, grad=False):
    return pair(RNG.standard_normal(shape), grad)


def same(ours, theirs, atol=1e-10):
    """Values (float64: tight tolerance; else exact), shape and dtype equal."""
    want = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    got = ours.detach().numpy() if hasattr(ours, "detach") else np.asarray(ours)
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=atol)
    else:
        np.testing.assert_array_equal(got, want)


def grads_match(ours_out, theirs_out, ours_in, theirs_in, atol=1e-9):
    """Gradients of sum(out * w) for a random w, through torch.autograd.grad and engine.autograd.grad."""
    w = RNG.standard_normal(tuple(theirs_out.shape))
    g_t = torch.autograd.grad((theirs_out * torch.tensor(w)).sum(), theirs_in)
    g_e = engine.autograd.grad((ours_out * engine.tensor(w)).sum(), ours_in)
    for a, b in zip(g_e, g_t):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-7, atol=atol)


def raises_as_torch(ours, theirs, message=True):
    """Both raise the same exception type (and, with ``message``, the same message)."""
    with pytest.raises(Exception) as t:
        theirs()
    with pytest.raises(type(t.value)) as e:
        ours()
    if message:
        assert str(e.value) == str(t.value)


# ---- aten spellings of functional ops -------------------------------------------------------------


def test_batch_norm_and_instance_norm_aten_order():
    (xe, xt), (we, wt), (be, bt) = rand(4, 3, 5, grad=True), rand(3, grad=True), rand(3, grad=True)
    rme, rmt = pair(np.zeros(3))
    rve, rvt = pair(np.ones(3))
    oe = engine.batch_norm(xe, we, be, rme, rve, True, 0.2, 1e-5, False)
    ot = torch.batch_norm(xt, wt, bt, rmt, rvt, True, 0.2, 1e-5, False)
    same(oe, ot)
    same(rme, rmt)
    same(rve, rvt)
    grads_match(oe, ot, (xe, we, be), (xt, wt, bt))
    oe = engine.instance_norm(xe, we, be, None, None, True, 0.1, 1e-5, False)
    ot = torch.instance_norm(xt, wt, bt, None, None, True, 0.1, 1e-5, False)
    same(oe, ot)
    grads_match(oe, ot, (xe, we), (xt, wt))


@pytest.mark.parametrize("reduction", [0, 1, 2])
def test_losses_with_int_reduction(reduction):
    (xe, xt), (te, tt) = rand(3, 4, grad=True), pair(RNG.uniform(0, 1, (3, 4)))
    (pe, pt) = pair(RNG.uniform(0.5, 2, (4,)))
    oe = engine.binary_cross_entropy_with_logits(xe, te, None, pe, reduction)
    ot = torch.binary_cross_entropy_with_logits(xt, tt, None, pt, reduction)
    same(oe, ot)
    grads_match(oe, ot, (xe,), (xt,))
    oe, ot = engine.kl_div(xe, te, reduction), torch.kl_div(xt, tt, reduction)
    same(oe, ot)
    grads_match(oe, ot, (xe,), (xt,))
    oe, ot = engine.kl_div(xe, xe * 0.5, reduction, log_target=True), torch.kl_div(xt, xt * 0.5, reduction,
                                                                                   log_target=True)
    same(oe, ot)
    oe = engine.poisson_nll_loss(xe, te, True, True, 1e-8, reduction)
    ot = torch.poisson_nll_loss(xt, tt, True, True, 1e-8, reduction)
    same(oe, ot)
    grads_match(oe, ot, (xe,), (xt,))


def test_ctc_loss_int_reduction():
    lp = np.log(RNG.dirichlet(np.ones(5), size=(6, 2)))
    (le, lt) = pair(lp, grad=True)
    targets = np.array([[1, 2, 3], [2, 2, 4]])
    for reduction in (0, 1, 2):
        oe = engine.ctc_loss(le, engine.tensor(targets), [6, 5], [3, 2], 0, reduction, False)
        ot = torch.ctc_loss(lt, torch.tensor(targets), [6, 5], [3, 2], 0, reduction, False)
        same(oe, ot, atol=1e-9)
    grads_match(oe, ot, (le,), (lt,))


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_embedding_bag_four_outputs(mode):
    (we, wt) = rand(6, 3, grad=True)
    idx, offs = np.array([1, 2, 4, 5, 4, 3]), np.array([0, 2, 2, 5])
    oe = engine.embedding_bag(we, engine.tensor(idx), engine.tensor(offs), False, mode)
    ot = torch.embedding_bag(wt, torch.tensor(idx), torch.tensor(offs), False, mode)
    for a, b in zip(oe, ot):
        same(a, b)
    grads_match(oe[0], ot[0], (we,), (wt,))
    if mode:
        oe = engine.embedding_bag(we, engine.tensor(idx), engine.tensor(offs), False, mode, False, None, False, 4)
        ot = torch.embedding_bag(wt, torch.tensor(idx), torch.tensor(offs), False, mode, False, None, False, 4)
        for a, b in zip(oe, ot):
            same(a, b)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("nd", [1, 2])
def test_convolution(nd, transposed):
    (xe, xt) = rand(2, 4, *([7] * nd), grad=True)
    (we, wt) = rand(4, 2, *([3] * nd), grad=True)
    (be, bt) = rand(4 if not transposed else 4, grad=True)
    stride, padding, dilation, opad = [2] * nd, [1] * nd, [1] * nd, [1 if transposed else 0] * nd
    oe = engine.convolution(xe, we, be, stride, padding, dilation, transposed, opad, 2)
    ot = torch.convolution(xt, wt, bt, stride, padding, dilation, transposed, opad, 2)
    same(oe, ot)
    grads_match(oe, ot, (xe, we, be), (xt, wt, bt))


def test_channel_shuffle_and_inplace_activation_aliases():
    xe, xt = rand(2, 6, 3)
    same(engine.channel_shuffle(xe, 3), torch.channel_shuffle(xt, 3))
    same(engine.native_channel_shuffle(xe, 2), torch.native_channel_shuffle(xt, 2))
    for name, args in (("celu_", (0.5,)), ("selu_", ()), ("threshold_", (0.1, -2.0)), ("rrelu_", (0.1, 0.3, False))):
        ae, at = xe.clone(), xt.clone()
        re, rt = getattr(engine, name)(ae, *args), getattr(torch, name)(at, *args)
        assert re is ae and rt is at
        same(ae, at)


def test_native_layer_norm_batch_norm_group_norm():
    (xe, xt), (we, wt), (be, bt) = rand(2, 3, 4, grad=True), rand(4, grad=True), rand(4, grad=True)
    oe, ot = engine.native_layer_norm(xe, [4], we, be, 1e-5), torch.native_layer_norm(xt, [4], wt, bt, 1e-5)
    for a, b in zip(oe, ot):
        same(a, b)
    grads_match(oe[0], ot[0], (xe, we, be), (xt, wt, bt))
    oe, ot = engine.native_layer_norm(xe, [3, 4], None, None, 1e-5), torch.native_layer_norm(xt, [3, 4], None, None,
                                                                                             1e-5)
    for a, b in zip(oe, ot):
        same(a, b)
    rme, rmt = pair(np.zeros(3))
    rve, rvt = pair(np.ones(3))
    oe = engine.native_batch_norm(xe, None, None, rme, rve, True, 0.1, 1e-5)
    ot = torch.native_batch_norm(xt, None, None, rmt, rvt, True, 0.1, 1e-5)
    for a, b in zip(oe, ot):
        same(a, b)
    same(rme, rmt)
    oe = engine.native_batch_norm(xe, None, None, rme, rve, False, 0.1, 1e-5)
    ot = torch.native_batch_norm(xt, None, None, rmt, rvt, False, 0.1, 1e-5)
    for a, b in zip(oe, ot):
        same(a, b)
    (ge, gt) = rand(2, 6, 5, grad=True)
    oe = engine.native_group_norm(ge, None, None, 2, 6, 5, 3, 1e-5)
    ot = torch.native_group_norm(gt, None, None, 2, 6, 5, 3, 1e-5)
    for a, b in zip(oe, ot):
        same(a, b)
    grads_match(oe[0], ot[0], (ge,), (gt,))


def test_native_dropout_and_feature_dropout():
    xe, xt = rand(200, 50)
    oe, me = engine.native_dropout(xe, 0.3, True)
    ot, mt = torch.native_dropout(xt, 0.3, True)
    assert me.dtype == np.bool_ and mt.dtype == torch.bool and oe.shape == tuple(ot.shape)
    np.testing.assert_allclose(oe.numpy(), np.where(me.numpy(), xe.numpy() / 0.7, 0.0), rtol=1e-12)
    assert abs(me.numpy().mean() - 0.7) < 0.02
    oe, me = engine.native_dropout(xe, 0.3, False)
    ot, mt = torch.native_dropout(xt, 0.3, False)
    same(oe, ot)
    same(me, mt)
    fe = engine.feature_dropout(engine.ones(50, 40, 3), 0.5, True).numpy()
    ft = torch.feature_dropout(torch.ones(50, 40, 3), 0.5, True).numpy()
    for f in (fe, ft):  # whole channels dropped, the rest scaled by 2
        assert set(np.unique(f)) <= {0.0, 2.0} and (f == f[:, :, :1]).all()
    same(engine.feature_dropout(xe, 0.5, False), torch.feature_dropout(xt, 0.5, False))
    raises_as_torch(lambda: engine.feature_dropout(engine.ones(3), 0.5, True),
                    lambda: torch.feature_dropout(torch.ones(3), 0.5, True), message=False)


def test_inplace_dropouts_return_input():
    for name in ("dropout_", "alpha_dropout_", "feature_dropout_", "feature_alpha_dropout_"):
        xe, xt = rand(4, 5, 3)
        assert getattr(engine, name)(xe, 0.5, False) is xe and getattr(torch, name)(xt, 0.5, False) is xt
        same(xe, xt)
        ae = engine.ones(30, 20, 2)
        assert getattr(engine, name)(ae, 0.5, True) is ae
        assert (ae.numpy() != 1).any()


def test_embedding_renorm_():
    we, wt = rand(5, 3)
    ie, it = engine.tensor([0, 2, 2]), torch.tensor([0, 2, 2])
    with torch.no_grad():
        torch.embedding_renorm_(wt, it, 0.5, 2.0)
    assert engine.embedding_renorm_(we, ie, 0.5, 2.0) is we
    np.testing.assert_allclose(we.numpy(), wt.numpy(), rtol=1e-12)
    le, lt = rand(5, 3, grad=True)
    raises_as_torch(lambda: engine.embedding_renorm_(le, ie, 0.5, 2.0),
                    lambda: torch.embedding_renorm_(lt, it, 0.5, 2.0))


def test_deprecated_norms():
    (xe, xt) = rand(2, 3, 4, grad=True)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        oe = engine.frobenius_norm(xe, [1, 2])
    assert "frobenius_norm is deprecated" in str(w[0].message)
    ot = torch.frobenius_norm(xt, [1, 2])
    same(oe, ot)
    grads_match(oe, ot, (xe,), (xt,))
    same(engine.frobenius_norm(xe, [1], True), torch.frobenius_norm(xt, [1], True))
    same(engine.nuclear_norm(xe[0]), torch.nuclear_norm(xt[0]))
    oe, ot = engine.nuclear_norm(xe, [1, 2], True), torch.nuclear_norm(xt, [1, 2], True)
    same(oe, ot)
    grads_match(oe, ot, (xe,), (xt,), atol=1e-8)
    same(engine.nuclear_norm(xe[0], True), torch.nuclear_norm(xt[0], True))
    for p, dim in ((2, 0), (2, 1), (3, 2), (2, -1)):
        oe, ot = engine.norm_except_dim(xe, p, dim), torch.norm_except_dim(xt, p, dim)
        same(oe, ot)
    grads_match(oe, ot, (xe,), (xt,))


def test_max_pool1d_with_indices():
    (xe, xt) = rand(2, 3, 9, grad=True)
    oe, ot = engine.max_pool1d_with_indices(xe, 3), torch.max_pool1d_with_indices(xt, 3)
    same(oe[0], ot[0])
    same(oe[1], ot[1])
    grads_match(oe[0], ot[0], (xe,), (xt,))
    oe, ot = engine.max_pool1d_with_indices(xe, 3, 2, 1, 1, True), torch.max_pool1d_with_indices(xt, 3, 2, 1, 1, True)
    same(oe[0], ot[0])
    same(oe[1], ot[1])


def test_binomial_moments_dtype_shape():
    count, prob = np.full((20000,), 10.0), np.full((20000,), 0.3)
    ce, pe = engine.tensor(count), engine.tensor(prob)
    se, st = engine.binomial(ce, pe), torch.binomial(torch.tensor(count), torch.tensor(prob))
    assert se.dtype == np.float64 and st.dtype == torch.float64 and se.shape == tuple(st.shape)
    s = se.numpy()
    assert (s == np.round(s)).all() and s.min() >= 0 and s.max() <= 10
    assert abs(s.mean() - 3.0) < 0.05 and abs(s.var() - 2.1) < 0.1
    f32 = engine.binomial(engine.tensor([4.0], dtype=np.float32), engine.tensor([1.0], dtype=np.float32))
    t32 = torch.binomial(torch.tensor([4.0]), torch.tensor([1.0]))
    same(f32, t32)


def test_orgqr():
    a = RNG.standard_normal((5, 3))
    qr, tau = torch.geqrf(torch.tensor(a))
    (qe, qt), (te, tt) = pair(qr.numpy(), grad=True), pair(tau.numpy(), grad=True)
    oe, ot = engine.orgqr(qe, te), torch.orgqr(qt, tt)
    same(oe, ot)
    grads_match(oe, ot, (qe, te), (qt, tt), atol=1e-8)
    same(qe.orgqr(te), qt.orgqr(tt))


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min", "prod", "amax", "amin"])
@pytest.mark.parametrize("initial", [None, 2.5])
def test_segment_reduce(reduce, initial):
    (de, dt) = rand(7, 3, grad=True)
    lengths = np.array([2, 0, 4, 1])
    oe = engine.segment_reduce(de, reduce, lengths=engine.tensor(lengths), initial=initial)
    ot = torch.segment_reduce(dt, reduce, lengths=torch.tensor(lengths), initial=initial)
    same(oe, ot)
    finite = np.isfinite(ot.detach().numpy()).all()
    if finite:
        grads_match(oe, ot, (de,), (dt,))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    same(engine.segment_reduce(de, reduce, offsets=engine.tensor(offsets), initial=initial),
         torch.segment_reduce(dt, reduce, offsets=torch.tensor(offsets), initial=initial))


def test_segment_reduce_axis_and_errors():
    (de, dt) = rand(2, 5, 3, grad=True)
    lengths = np.array([[2, 0, 3], [1, 1, 3]])
    oe = engine.segment_reduce(de, "sum", lengths=engine.tensor(lengths), axis=1)
    ot = torch.segment_reduce(dt, "sum", lengths=torch.tensor(lengths), axis=1)
    same(oe, ot)
    grads_match(oe, ot, (de,), (dt,))
    d1e, d1t = rand(5)
    le, lt = engine.tensor([2, 0, 3]), torch.tensor([2, 0, 3])
    raises_as_torch(lambda: engine.segment_reduce(d1e, "foo", lengths=le),
                    lambda: torch.segment_reduce(d1t, "foo", lengths=lt))
    raises_as_torch(lambda: engine.segment_reduce(d1e, "sum"), lambda: torch.segment_reduce(d1t, "sum"))
    raises_as_torch(lambda: engine.segment_reduce(d1e, "sum", lengths=engine.tensor([1, 1])),
                    lambda: torch.segment_reduce(d1t, "sum", lengths=torch.tensor([1, 1])))
    raises_as_torch(lambda: engine.segment_reduce(d1e, "sum", lengths=engine.tensor([2, -1, 4])),
                    lambda: torch.segment_reduce(d1t, "sum", lengths=torch.tensor([2, -1, 4])))
    raises_as_torch(lambda: engine.segment_reduce(engine.arange(5), "sum", lengths=le),
                    lambda: torch.segment_reduce(torch.arange(5), "sum", lengths=lt))
    raises_as_torch(lambda: engine.segment_reduce(d1e, "sum", indices=le),
                    lambda: torch.segment_reduce(d1t, "sum", indices=lt))


def test_range_inclusive_with_warning():
    for args, kw in (((0, 3), {}), ((0, 1, 0.25), {}), ((1, -2, -0.5), {}), ((0, 3), {"dtype": torch.int64})):
        kwe = {"dtype": np.int64} if kw else {}
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            oe = engine.range(*args, **kwe)
        assert w[0].category is UserWarning and "torch.range is deprecated" in str(w[0].message)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ot = torch.range(*args, **kw)
        same(oe, ot)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raises_as_torch(lambda: engine.range(0, 3, 0), lambda: torch.range(0, 3, 0))
        raises_as_torch(lambda: engine.range(0, 3, -1), lambda: torch.range(0, 3, -1))


def test_copy_variants():
    (xe, xt) = rand(3, 4, grad=True)
    oe, ot = engine.detach_copy(xe), torch.detach_copy(xt)
    same(oe, ot)
    assert not oe.requires_grad and oe.data_ptr() != xe.data_ptr()
    oe, ot = engine.select_copy(xe, 1, 2), torch.select_copy(xt, 1, 2)
    same(oe, ot)
    grads_match(oe, ot, (xe,), (xt,))
    oe, ot = engine.slice_copy(xe, 1, 1, None, 2), torch.slice_copy(xt, 1, 1, None, 2)
    same(oe, ot)
    grads_match(oe, ot, (xe,), (xt,))
    same(engine.slice_copy(xe), torch.slice_copy(xt))
    for size in (2, 3):
        pe, pt = engine.split_copy(xe, size, 1), torch.split_copy(xt, size, 1)
        assert len(pe) == len(pt)
        for a, b in zip(pe, pt):
            same(a, b)
    ce = engine.tensor(np.array([1 + 2j, 3 - 1j]))
    ct = torch.tensor(np.array([1 + 2j, 3 - 1j]))
    same(engine.view_as_real_copy(ce), torch.view_as_real_copy(ct))
    same(engine.view_as_complex_copy(engine.view_as_real_copy(ce)),
         torch.view_as_complex_copy(torch.view_as_real_copy(ct)))


# ---- RNN entry points --------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
def test_rnn_cells(bias):
    B, I, H = 3, 4, 5  # noqa: N806
    (xe, xt), (he, ht), (ce, ct) = rand(B, I, grad=True), rand(B, H, grad=True), rand(B, H, grad=True)
    for name, g in (("rnn_tanh_cell", 1), ("rnn_relu_cell", 1), ("gru_cell", 3), ("lstm_cell", 4)):
        (wie, wit), (whe, wht) = rand(g * H, I, grad=True), rand(g * H, H, grad=True)
        (bie, bit), (bhe, bht) = rand(g * H, grad=True), rand(g * H, grad=True)
        be, bt = ((bie, bhe), (bit, bht)) if bias else ((None, None), (None, None))
        hxe, hxt = ((he, ce), (ht, ct)) if name == "lstm_cell" else (he, ht)
        oe = getattr(engine, name)(xe, hxe, wie, whe, *be)
        ot = getattr(torch, name)(xt, hxt, wit, wht, *bt)
        ins_e, ins_t = [xe, he, wie, whe] + list(be if bias else []), [xt, ht, wit, wht] + list(bt if bias else [])
        if name == "lstm_cell":
            same(oe[0], ot[0])
            same(oe[1], ot[1])
            grads_match(oe[0] + oe[1] * 2, ot[0] + ot[1] * 2, ins_e + [ce], ins_t + [ct])
        else:
            same(oe, ot)
            grads_match(oe, ot, ins_e, ins_t)
        raises_as_torch(lambda: getattr(engine, name)(xe[0], hxe, wie, whe, *be),  # noqa: B023  (B, I) only
                        lambda: getattr(torch, name)(xt[0], hxt, wit, wht, *bt))  # noqa: B023 (called at once)


def _flat_params(g, I, H, layers, dirs, bias):  # noqa: N803
    pe, pt = [], []
    for layer in range(layers):
        for _ in range(dirs):
            n_in = I if layer == 0 else H * dirs
            shapes = [(g * H, n_in), (g * H, H)] + ([(g * H,), (g * H,)] if bias else [])
            for s in shapes:
                a, b = rand(*s, grad=True)
                pe.append(a)
                pt.append(b)
    return pe, pt


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_flat_weight_rnns(kind, bidirectional, batch_first):
    T, B, I, H, L = 4, 2, 3, 5, 2  # noqa: N806
    dirs = 2 if bidirectional else 1
    g = {"lstm": 4, "gru": 3}.get(kind, 1)
    pe, pt = _flat_params(g, I, H, L, dirs, True)
    (xe, xt) = rand(*((B, T) if batch_first else (T, B)), I, grad=True)
    (he, ht), (ce, ct) = rand(L * dirs, B, H, grad=True), rand(L * dirs, B, H, grad=True)
    args = (True, L, 0.0, False, bidirectional, batch_first)
    if kind == "lstm":
        oe, ot = engine.lstm(xe, (he, ce), pe, *args), torch.lstm(xt, (ht, ct), pt, *args)
        ins_e, ins_t = [xe, he, ce] + pe, [xt, ht, ct] + pt
    else:
        oe, ot = getattr(engine, kind)(xe, he, pe, *args), getattr(torch, kind)(xt, ht, pt, *args)
        ins_e, ins_t = [xe, he] + pe, [xt, ht] + pt
    assert len(oe) == len(ot)
    for a, b in zip(oe, ot):
        same(a, b, atol=1e-9)
    grads_match(oe[0].sum() + oe[1].sum() * 2, ot[0].sum() + ot[1].sum() * 2, ins_e, ins_t, atol=1e-8)


def test_flat_weight_rnn_without_biases():
    pe, pt = _flat_params(3, 3, 4, 1, 1, False)
    (xe, xt), (he, ht) = rand(5, 2, 3), rand(1, 2, 4)
    for a, b in zip(engine.gru(xe, he, pe, False, 1, 0.0, False, False, False),
                    torch.gru(xt, ht, pt, False, 1, 0.0, False, False, False)):
        same(a, b)


# ---- control flow ------------------------------------------------------------------------------------


def test_cond_eager():
    (xe, xt) = rand(3, grad=True)
    for pred_e, pred_t in ((engine.tensor(True), torch.tensor(True)), (engine.tensor([0]), torch.tensor([0])),
                           (True, True), (0, 0)):
        oe = engine.cond(pred_e, lambda a: a.sin(), lambda a: a.cos(), (xe,))
        ot = torch.cond(pred_t, lambda a: a.sin(), lambda a: a.cos(), (xt,))
        same(oe, ot)
        grads_match(oe, ot, (xe,), (xt,))
    raises_as_torch(lambda: engine.cond(engine.tensor([True, False]), lambda a: a, lambda a: a, (xe,)),  # repr differs
                    lambda: torch.cond(torch.tensor([True, False]), lambda a: a, lambda a: a, (xt,)), message=False)
    raises_as_torch(lambda: engine.cond(engine.tensor(True), 1, lambda a: a, (xe,)),
                    lambda: torch.cond(torch.tensor(True), 1, lambda a: a, (xt,)))
    raises_as_torch(lambda: engine.cond("a", lambda a: a, lambda a: a, (xe,)),
                    lambda: torch.cond("a", lambda a: a, lambda a: a, (xt,)))


def test_while_loop_eager():
    (se, st) = pair(1.5, grad=True)
    oe = engine.while_loop(lambda i, s: i < 4, lambda i, s: (i + 1, s * s.cos()), (engine.tensor(0), se))
    ot = torch.while_loop(lambda i, s: i < 4, lambda i, s: (i + 1, s * s.cos()), (torch.tensor(0), st))
    assert isinstance(oe, tuple) and len(oe) == len(ot) == 2
    same(oe[0], ot[0])
    same(oe[1], ot[1])
    raises_as_torch(lambda: engine.while_loop(1, lambda i: (i,), (engine.tensor(0),)),
                    lambda: torch.while_loop(1, lambda i: (i,), (torch.tensor(0),)))


# ---- runtime state -----------------------------------------------------------------------------------


def test_runtime_queries():
    x, xt = engine.zeros(2), torch.zeros(2)
    assert repr(engine.get_default_device()) == repr(torch.get_default_device())
    engine.set_default_device("cpu")
    with pytest.raises(NotImplementedError):
        engine.set_default_device("cuda")
    assert engine.is_inference(x) is torch.is_inference(xt) is False  # (engine makes no inference tensors)
    raises_as_torch(lambda: engine.is_inference(1), lambda: torch.is_inference(1))
    assert engine.is_anomaly_enabled() is torch.is_anomaly_enabled() is False
    assert engine.is_anomaly_check_nan_enabled() is torch.is_anomaly_check_nan_enabled() is True
    engine.set_anomaly_enabled(True, False)
    torch.set_anomaly_enabled(True, False)
    try:
        assert engine.is_anomaly_enabled() is torch.is_anomaly_enabled() is True
        assert engine.is_anomaly_check_nan_enabled() is torch.is_anomaly_check_nan_enabled() is False
    finally:
        engine.set_anomaly_enabled(False)
        torch.set_anomaly_enabled(False)
    assert engine.is_warn_always_enabled() is torch.is_warn_always_enabled() is False
    engine.set_warn_always(True)
    assert engine.is_warn_always_enabled() is True
    engine.set_warn_always(False)
    assert engine.get_device(x) == torch.get_device(xt) == x.get_device() == -1
    assert engine.is_distributed(x) is torch.is_distributed(xt) is False
    assert x.is_distributed() is xt.is_distributed() is False
    assert isinstance(engine.set_flush_denormal(False), bool)
    assert engine.get_num_interop_threads() >= 1
    assert engine.init_num_threads() is None


def test_typename_and_is_storage():
    for dt, tdt in ((np.float32, torch.float32), (np.float64, torch.float64), (np.int64, torch.int64),
                    (np.bool_, torch.bool), (np.uint8, torch.uint8), (np.int8, torch.int8), (np.int16, torch.int16),
                    (np.int32, torch.int32), (np.float16, torch.float16)):
        assert engine.typename(engine.zeros(1, dtype=dt)) == torch.typename(torch.zeros(1, dtype=tdt))
    for obj in (1, "a", warnings.catch_warnings, np.zeros):
        assert engine.typename(obj) == torch.typename(obj)
    x, xt = engine.zeros(3), torch.zeros(3)
    assert engine.is_storage(x) is torch.is_storage(xt) is False
    assert engine.is_storage(x.untyped_storage()) is torch.is_storage(xt.untyped_storage()) is True
    se, st = x[1:].untyped_storage(), xt[1:].untyped_storage()
    assert se.nbytes() == st.nbytes() == 12 and se.size() == st.size() == 12
    assert se.data_ptr() == x.data_ptr() and st.data_ptr() == xt.data_ptr()


def test_autocast_state():
    assert engine.is_autocast_enabled() is torch.is_autocast_enabled() is False
    assert engine.is_autocast_enabled("cpu") is torch.is_autocast_enabled("cpu") is False
    assert str(engine.get_autocast_dtype("cuda")) == str(torch.get_autocast_dtype("cuda")).replace("torch.", "")
    with engine.autocast("float16"):
        assert engine.is_autocast_enabled("cpu") is True
        assert engine.get_autocast_dtype("cpu") == np.float16
    with torch.autocast("cpu", dtype=torch.float16):
        assert torch.is_autocast_enabled("cpu") is True
    raises_as_torch(lambda: engine.get_autocast_dtype("foo"), lambda: torch.get_autocast_dtype("foo"))
    raises_as_torch(lambda: engine.is_autocast_enabled("foo"), lambda: torch.is_autocast_enabled("foo"))
    engine.set_autocast_enabled("cpu", True)
    try:
        assert engine.is_autocast_enabled("cpu") is True
        we, xe = engine.ones(2, 3), engine.ones(4, 3)
        assert F.linear(we, xe).dtype == np.float32  # autocast's matmul ran (float32 out, as engine.amp)
    finally:
        engine.set_autocast_enabled("cpu", False)
    assert engine.is_autocast_enabled("cpu") is False
    with pytest.warns(DeprecationWarning, match="is_autocast_cpu_enabled"):
        assert engine.is_autocast_cpu_enabled() is False
    with pytest.warns(DeprecationWarning, match="get_autocast_cpu_dtype"):
        assert engine.get_autocast_cpu_dtype() == np.float16
    with pytest.raises(ValueError, match="bfloat16"):
        engine.set_autocast_dtype("cpu", "bfloat16")
    assert [engine.autocast_increment_nesting(), engine.autocast_increment_nesting(),
            engine.autocast_decrement_nesting(), engine.autocast_decrement_nesting()] == \
        [torch.autocast_increment_nesting(), torch.autocast_increment_nesting(),
         torch.autocast_decrement_nesting(), torch.autocast_decrement_nesting()]
    assert engine.is_autocast_cache_enabled() is torch.is_autocast_cache_enabled() is True
    engine.set_autocast_cache_enabled(False)
    assert engine.is_autocast_cache_enabled() is False
    engine.set_autocast_cache_enabled(True)
    assert engine.clear_autocast_cache() is None


def test_set_default_tensor_type():
    try:
        with pytest.warns(UserWarning, match="set_default_tensor_type"):
            engine.set_default_tensor_type("torch.DoubleTensor")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.set_default_tensor_type("torch.DoubleTensor")
        assert str(engine.get_default_dtype()) == str(torch.get_default_dtype()).replace("torch.", "") == "float64"
        assert engine.zeros(1).dtype == np.float64
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raises_as_torch(lambda: engine.set_default_tensor_type("torch.IntTensor"),
                            lambda: torch.set_default_tensor_type("torch.IntTensor"))
            raises_as_torch(lambda: engine.set_default_tensor_type("torch.cuda.FloatTensor"),
                            lambda: torch.set_default_tensor_type("torch.cuda.FloatTensor"))
            engine.set_default_tensor_type("torch.FloatTensor")
            torch.set_default_tensor_type("torch.FloatTensor")
        assert engine.get_default_dtype() == np.float32
    finally:
        engine.set_default_dtype(np.float32)
        torch.set_default_dtype(torch.float32)


def test_frombuffer():
    buf = bytearray(np.arange(6, dtype=np.int32).tobytes())
    oe, ot = engine.frombuffer(buf, dtype=engine.int32), torch.frombuffer(buf, dtype=torch.int32)
    same(oe, ot)
    buf[0] = 9  # both share the buffer's memory
    assert oe.tolist()[0] == ot.tolist()[0] == 9
    same(engine.frombuffer(buf, dtype=engine.int32, count=2, offset=8),
         torch.frombuffer(buf, dtype=torch.int32, count=2, offset=8))
    same(engine.frombuffer(buf, dtype=engine.float64, offset=8), torch.frombuffer(buf, dtype=torch.float64, offset=8))
    assert engine.frombuffer(buf, dtype=engine.float32, requires_grad=True).requires_grad
    for kw in ({"count": 7}, {"offset": 25}, {"offset": 3}):
        raises_as_torch(lambda: engine.frombuffer(buf, dtype=engine.int32, **kw),  # noqa: B023 (called at once)
                        lambda: torch.frombuffer(buf, dtype=torch.int32, **kw))  # noqa: B023 (called at once)
    raises_as_torch(lambda: engine.frombuffer(bytearray(0), dtype=engine.int32),
                    lambda: torch.frombuffer(bytearray(0), dtype=torch.int32))
    with pytest.warns(UserWarning, match="not writable"):
        same(engine.frombuffer(bytes(8), dtype=engine.int32), torch.zeros(2, dtype=torch.int32))


def test_dlpack_both_ways():
    xt = torch.arange(6.0).reshape(2, 3)
    xe = engine.from_dlpack(xt)
    same(xe, xt)
    xt[0, 0] = 7.0  # shared memory
    assert xe.tolist()[0][0] == 7.0
    ye = engine.arange(4.0)
    yt = torch.from_dlpack(ye)
    same(ye, yt)
    same(engine.from_dlpack(engine.to_dlpack(ye)), yt)
    same(torch.from_dlpack(torch.to_dlpack(yt)), engine.from_dlpack(np.arange(4.0, dtype=np.float32)).numpy())


@pytest.mark.parametrize("name", ["eig", "symeig", "lstsq", "solve", "matrix_rank"])
def test_removed_linalg_raise_as_torch(name):
    (xe, xt) = rand(3, 3)
    args = (1,) if name in ("eig", "symeig", "matrix_rank") else ()
    extra_e, extra_t = ((xe,), (xt,)) if name in ("lstsq", "solve") else ((), ())
    raises_as_torch(lambda: getattr(engine, name)(xe, *extra_e), lambda: getattr(torch, name)(xt, *extra_t))
    if name != "matrix_rank":
        raises_as_torch(lambda: getattr(xe, name)(*extra_e), lambda: getattr(xt, name)(*extra_t))
    del args


# ---- Tensor properties and methods ---------------------------------------------------------------------


def test_tensor_flags_and_layout():
    x, xt = engine.zeros(2), torch.zeros(2)
    for flag in ("is_sparse", "is_sparse_csr", "is_quantized", "is_meta", "is_nested", "is_mps", "is_xpu", "is_ipu",
                 "is_xla", "is_mkldnn", "is_vulkan", "is_maia", "is_mtia"):
        assert getattr(x, flag) is getattr(xt, flag) is False
    assert repr(x.layout) == repr(xt.layout) == "torch.strided" and x.layout is engine.strided
    assert x.name is xt.name is None
    assert x.output_nr == xt.output_nr == 0
    assert x.grad_dtype == np.float32 and xt.grad_dtype == torch.float32
    assert x.is_pinned() is xt.is_pinned() is False
    assert x.is_shared() is xt.is_shared() is False
    assert x.to_dense() is x and xt.to_dense() is xt
    assert x.const_data_ptr() == x.data_ptr()
    assert x.record_stream(None) is None


def test_pin_memory_needs_an_accelerator():
    if torch.cuda.is_available() or engine.cuda.is_available():
        pytest.skip("a GPU is present")
    raises_as_torch(lambda: engine.zeros(2).pin_memory(), lambda: torch.zeros(2).pin_memory())


def test_new_legacy_constructor():
    xe, xt = pair(np.ones((2, 3)))
    for args in ((2, 3), (3,), ()):
        oe, ot = xe.new(*args), xt.new(*args)
        assert oe.shape == tuple(ot.shape) and oe.dtype == np.float64 and ot.dtype == torch.float64
    same(xe.new([1, 2]), xt.new([1, 2]))
    same(xe.new((2, 3)), xt.new((2, 3)))
    le, lt = pair([1, 2], dtype=np.int64)
    same(le.new([1.5, 2]), lt.new([1.5, 2]))
    de, dt = pair([1.0, 2.0], grad=True)
    oe, ot = xe.new(de), xt.new(dt)
    same(oe, ot)
    grads_match(oe, ot, (de,), (dt,))
    raises_as_torch(lambda: xe.new(2.5), lambda: xt.new(2.5))
    raises_as_torch(lambda: xe.new(le), lambda: xt.new(lt), message=False)


def test_dim_order():
    for make in (lambda m: m.zeros(2, 3, 4, 5), lambda m: m.zeros(2, 3, 4, 5).permute(0, 2, 3, 1),
                 lambda m: m.zeros(2, 3, 4).transpose(0, 2), lambda m: m.zeros(()), lambda m: m.zeros(2, 1, 4, 5)):
        assert make(engine).dim_order() == make(torch).dim_order()
    assert engine.zeros(2, 3, 4, 5).permute(0, 2, 3, 1).dim_order(ambiguity_check=True) == (0, 3, 1, 2)
    raises_as_torch(lambda: engine.zeros(2, 1, 4, 5).dim_order(ambiguity_check=True),
                    lambda: torch.zeros(2, 1, 4, 5).dim_order(ambiguity_check=True))
    raises_as_torch(lambda: engine.zeros(2).dim_order(ambiguity_check="x"),
                    lambda: torch.zeros(2).dim_order(ambiguity_check="x"))


def test_resize_out_of_place():
    (xe, xt) = rand(2, 3, grad=True)
    with pytest.warns(UserWarning, match="non-inplace resize is deprecated"):
        oe = xe.resize(3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ot = xt.resize(3, 2)
        same(oe, ot)
        grads_match(oe, ot, (xe,), (xt,))
        same(xe.resize_as(engine.zeros(6)), xt.resize_as(torch.zeros(6)))
        raises_as_torch(lambda: xe.resize(7), lambda: xt.resize(7))
    with pytest.warns(UserWarning, match="non-inplace resize_as is deprecated"):
        xe.resize_as(engine.zeros(3, 2))


def test_is_set_to():
    x, xt = engine.zeros(2, 3), torch.zeros(2, 3)
    for fe, ft in ((lambda a: a, lambda a: a), (lambda a: a.view(6), lambda a: a.view(6)),
                   (lambda a: a[:], lambda a: a[:]), (lambda a: a.clone(), lambda a: a.clone()),
                   (lambda a: a.detach(), lambda a: a.detach()), (lambda a: a[1:], lambda a: a[1:])):
        assert x.is_set_to(fe(x)) is xt.is_set_to(ft(xt))


def test_dtype_casts_without_a_dtype_and_as_subclass():
    with pytest.raises(TypeError, match="bfloat16"):
        engine.zeros(2).bfloat16()
    with pytest.raises(TypeError, match="complex32"):
        engine.zeros(2).chalf()

    class Sub(engine.Tensor):
        pass

    (xe, xt) = rand(3, grad=True)
    se = xe.as_subclass(Sub)
    assert type(se) is Sub and se.data_ptr() == xe.data_ptr()

    class SubT(torch.Tensor):
        pass

    grads_match(se * 2, xt.as_subclass(SubT) * 2, (xe,), (xt,))
    raises_as_torch(lambda: xe.as_subclass(int), lambda: xt.as_subclass(int))


def test_module_load():
    xe, xt = pair(np.zeros((2, 3)), dtype=np.float32)
    oe = xe.module_load(engine.ones(2, 3, dtype=np.float64))
    ot = xt.module_load(torch.ones(2, 3, dtype=torch.float64))
    same(oe, ot)
    same(xe.module_load(engine.ones(2, 3, dtype=np.float64), assign=True),
         xt.module_load(torch.ones(2, 3, dtype=torch.float64), assign=True))
    same(xe.module_load(engine.full((3,), 2.0)), xt.module_load(torch.full((3,), 2.0)))
    raises_as_torch(lambda: xe.module_load([1, 2]), lambda: xt.module_load([1, 2]))
