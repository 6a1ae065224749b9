"""Higher-order gradients (session 18) of the fused layers: scaled_dot_product_attention and the GPT's
self_attention (ScaledDotProductAttention, SelfAttention), nn.MultiheadAttention, nn.RNN / LSTM / GRU
(RNNLayer, LSTMLayer, GRULayer), against torch's double backward in float64: gradient penalties
d‖∂L/∂x‖²/d(inputs) and Hessian-vector products with respect to weights. Where torch has no counterpart
(dropout draws its own mask; the GPT) the reference is torch run with the mask ours drew, or float64
central differences of ours' first derivative (the array sweep, not the rules under test)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import engine
import engine.functional as F
import nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(1818)
TOL = {"rtol": 1e-10, "atol": 1e-12}


def _arrays(lib, *arrays, grad=True):
    return [lib.tensor(a, dtype=lib.float64, requires_grad=grad) for a in arrays]


def _math_path(lib):
    """torch's math attention (its CPU flash kernel has no double backward); nothing for ours."""
    if lib is torch:
        return torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH)
    return contextlib.nullcontext()


def penalty(lib, f, arrays, w, first=0, through=False) -> list:
    """d‖∂L/∂x_first‖²/d(x...) with L = sum(f(lib, *xs) · w), as NumPy arrays (None where none flows).
    ``through``: the inputs are intermediates nothing else holds (freed after the call)."""
    xs = _arrays(lib, *arrays)
    with _math_path(lib):
        out = f(lib, *[x * 1.0 for x in xs] if through else xs)
    (g,) = lib.autograd.grad((out * lib.tensor(w, dtype=lib.float64)).sum(), [xs[first]], create_graph=True)
    got = lib.autograd.grad((g * g).sum(), xs, allow_unused=True)
    return [None if t is None else np.array(t.tolist()) for t in got]


def assert_same(ours: list, theirs: list, **tol) -> None:
    tol = tol or TOL
    for o, t in zip(ours, theirs, strict=True):
        if t is None or not np.any(t):
            assert o is None or not np.any(o), o
        else:
            np.testing.assert_allclose(o, t, **tol)


def check_penalty(f, arrays, first=0, through=False) -> None:
    w = RNG.standard_normal(tuple(f(torch, *[torch.tensor(a) for a in arrays]).shape))
    ours = penalty(engine, f, arrays, w, first, through)
    assert any(o is not None and np.any(o) for o in ours)
    assert_same(ours, penalty(torch, f, arrays, w, first, through))


def _fn(lib):
    return F if lib is engine else torch.nn.functional


def _bool_mask(shape):
    keep = RNG.random(shape) > 0.4
    keep[..., 0] = True  # every query sees a key
    return keep


# ---- scaled_dot_product_attention ---------------------------------------------------------------------

SDPA = {  # name: (kwargs builder, q, k, v shapes)
    "plain": (lambda: {}, (2, 3, 4), (2, 5, 4), (2, 5, 3)),
    "causal": (lambda: {"is_causal": True}, (2, 2, 4, 3), (2, 2, 4, 3), (2, 2, 4, 3)),
    "causal_short_query": (lambda: {"is_causal": True}, (2, 3, 4), (2, 5, 4), (2, 5, 4)),
    "bool_mask": (lambda: {"attn_mask": _bool_mask((2, 1, 4, 6))}, (2, 2, 4, 3), (2, 2, 6, 3), (2, 2, 6, 2)),
    "bool_mask_2d": (lambda: {"attn_mask": _bool_mask((4, 5))}, (3, 4, 3), (3, 5, 3), (3, 5, 3)),
    "float_mask": (lambda: {"attn_mask": RNG.standard_normal((4, 5))}, (2, 4, 3), (2, 5, 3), (2, 5, 3)),
    "scale": (lambda: {"scale": 0.3, "is_causal": True}, (2, 4, 3), (2, 4, 3), (2, 4, 3)),
    "gqa": (lambda: {"enable_gqa": True, "is_causal": True}, (1, 4, 3, 2), (1, 2, 3, 2), (1, 2, 3, 2)),
    "broadcast_batch": (lambda: {}, (2, 2, 3, 4), (2, 1, 5, 4), (2, 1, 5, 4)),
}


def _sdpa_call(kwargs):
    def f(lib, q, k, v):
        kw = dict(kwargs)
        if "attn_mask" in kw:
            kw["attn_mask"] = lib.tensor(kw["attn_mask"], dtype=lib.bool if kw["attn_mask"].dtype == bool
                                         else lib.float64)
        return _fn(lib).scaled_dot_product_attention(q, k, v, **kw)
    return f


@pytest.mark.parametrize("name", sorted(SDPA))
@pytest.mark.parametrize("first", [0, 1, 2])
def test_sdpa_gradient_penalty(name, first):
    make, *shapes = SDPA[name]
    check_penalty(_sdpa_call(make()), [RNG.standard_normal(s) for s in shapes], first)


@pytest.mark.parametrize("name", ["causal", "bool_mask"])
def test_sdpa_gradient_penalty_freed_inputs(name):
    make, *shapes = SDPA[name]
    check_penalty(_sdpa_call(make()), [RNG.standard_normal(s) for s in shapes], 0, through=True)


def test_sdpa_hessian_vector_product_all_inputs():
    make, *shapes = SDPA["bool_mask"]
    f = _sdpa_call(make())
    arrays = [RNG.standard_normal(s) for s in shapes]
    w = RNG.standard_normal(tuple(f(torch, *[torch.tensor(a) for a in arrays]).shape))
    us = [RNG.standard_normal(s) for s in shapes]

    def hvp(lib):
        xs = _arrays(lib, *arrays)
        with _math_path(lib):
            out = f(lib, *xs)
        gs = lib.autograd.grad((out * lib.tensor(w)).sum(), xs, create_graph=True)
        total = sum((g * lib.tensor(u)).sum() for g, u in zip(gs, us))
        return [np.array(t.tolist()) for t in lib.autograd.grad(total, xs)]

    assert_same(hvp(engine), hvp(torch))


def _sdpa_dropout_case():
    q, k, v = (RNG.standard_normal(s) for s in [(2, 2, 4, 3), (2, 2, 5, 3), (2, 2, 5, 3)])
    keep = _bool_mask((4, 5))
    return q, k, v, keep


def test_sdpa_dropout_against_torch_with_our_mask():
    """dropout_p > 0: torch's composed attention with the mask ours drew (kept on the op as ``drop``)."""
    q, k, v, keep = _sdpa_dropout_case()
    w = RNG.standard_normal((2, 2, 4, 3))
    engine.manual_seed(5)
    xs = _arrays(engine, q, k, v)
    y = F.scaled_dot_product_attention(*xs, attn_mask=engine.tensor(keep), dropout_p=0.3)
    drop = y._ctx.drop
    assert drop.shape == (2, 2, 4, 5) and (drop == 0).any()
    (g,) = engine.autograd.grad((y * engine.tensor(w)).sum(), [xs[0]], create_graph=True)
    ours = [np.array(t.tolist()) for t in engine.autograd.grad((g * g).sum(), xs)]

    ts = _arrays(torch, q, k, v)
    s = (ts[0] @ ts[1].mT) / np.sqrt(3)
    p = s.masked_fill(~torch.tensor(keep), -np.inf).softmax(-1) * torch.tensor(drop)
    (tg,) = torch.autograd.grad(((p @ ts[2]) * torch.tensor(w)).sum(), [ts[0]], create_graph=True)
    assert_same(ours, [t.numpy() for t in torch.autograd.grad((tg * tg).sum(), ts)])


def test_sdpa_dropout_gradgradcheck():
    q, k, v, keep = _sdpa_dropout_case()

    def f(q, k, v):
        engine.manual_seed(7)  # the same mask on every call
        return F.scaled_dot_product_attention(q, k, v, attn_mask=engine.tensor(keep), dropout_p=0.3)

    assert engine.autograd.gradgradcheck(f, *_arrays(engine, q, k, v), atol=1e-6, rtol=1e-5)


# ---- self_attention (the GPT's fused op) --------------------------------------------------------------


def _self_attention_torch(qkv, n_head):
    B, T, C3 = qkv.shape
    heads = qkv.reshape(B, T, 3, n_head, C3 // (3 * n_head)).permute(2, 0, 3, 1, 4)
    y = torch.nn.functional.scaled_dot_product_attention(heads[0], heads[1], heads[2], is_causal=True)
    return y.permute(0, 2, 1, 3).reshape(B, T, C3 // 3)


@pytest.mark.parametrize("n_head", [1, 2])
@pytest.mark.parametrize("through", [False, True])
def test_self_attention_gradient_penalty(n_head, through):
    def f(lib, qkv):
        return F.self_attention(qkv, n_head) if lib is engine else _self_attention_torch(qkv, n_head)
    check_penalty(f, [RNG.standard_normal((2, 5, 12))], through=through)


def test_self_attention_window_against_torch_banded_mask():
    T, window = 6, 3
    idx = np.arange(T)
    keep = (idx[None] <= idx[:, None]) & (idx[:, None] - idx[None] < window)

    def f(lib, qkv):
        if lib is engine:
            return F.self_attention(qkv, 2, window=window)
        B, _, C3 = qkv.shape
        heads = qkv.reshape(B, T, 3, 2, C3 // 6).permute(2, 0, 3, 1, 4)
        y = torch.nn.functional.scaled_dot_product_attention(heads[0], heads[1], heads[2],
                                                             attn_mask=torch.tensor(keep))
        return y.permute(0, 2, 1, 3).reshape(B, T, C3 // 3)
    check_penalty(f, [RNG.standard_normal((2, T, 12))])


def test_self_attention_dropout_gradgradcheck():
    qkv = engine.tensor(RNG.standard_normal((1, 4, 6)), dtype=engine.float64, requires_grad=True)

    def f(qkv):
        engine.manual_seed(3)
        return F.self_attention(qkv, 2, dropout_p=0.25)

    assert engine.autograd.gradgradcheck(f, qkv, atol=1e-6, rtol=1e-5)


# ---- nn.MultiheadAttention ------------------------------------------------------------------------------


def _copy_params(ours, theirs) -> None:
    mine = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        assert mine[name].shape == tuple(p.shape), name
        mine[name].data = engine.tensor(p.detach().numpy(), dtype=engine.float64)


@pytest.mark.parametrize("mask", [None, "bool", "key_padding"])
def test_multihead_attention_gradient_penalty(mask):
    E, H, L, S, N = 6, 2, 4, 5, 2
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(E, H).double()
    om = nn.MultiheadAttention(E, H).astype(engine.float64)
    _copy_params(om, tm)
    kwargs = {}
    if mask == "bool":
        kwargs["attn_mask"] = ~_bool_mask((L, S))  # True = not allowed, as torch's
    elif mask == "key_padding":
        kpm = np.zeros((N, S), dtype=bool)
        kpm[:, -2:] = True
        kwargs["key_padding_mask"] = kpm

    def f(lib, q, kv):
        kw = {k: lib.tensor(v) for k, v in kwargs.items()}
        return (om if lib is engine else tm)(q, kv, kv, **kw)[0]

    check_penalty(f, [RNG.standard_normal((L, N, E)), RNG.standard_normal((S, N, E))])


# ---- a tiny GPT (CausalSelfAttention runs SelfAttention) ----------------------------------------------


def test_gpt_hessian_vector_product_against_central_differences():
    from tinygrad_gpt.config import GPTConfig
    from tinygrad_gpt.model import GPT

    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8), seed=0).astype(engine.float64)
    ids = RNG.integers(0, 11, (2, 6))
    targets = RNG.integers(0, 11, (2, 6))
    params = [p for p in model.parameters() if p.requires_grad]
    u = [RNG.standard_normal(p.shape) for p in params]

    def grads():  # the first derivative by the array sweep
        model.zero_grad()
        model(ids, targets)[1].backward()
        return [p.grad.numpy().copy() for p in params]

    _, loss = model(ids, targets)
    gs = engine.autograd.grad(loss, params, create_graph=True)
    hvp = engine.autograd.grad(sum((g * engine.tensor(d)).sum() for g, d in zip(gs, u)), params)
    base = [p.data.numpy().copy() for p in params]

    def central(eps):  # (∇L(θ + εu) − ∇L(θ − εu)) / 2ε
        sides = []
        for sign in (1, -1):
            for p, b, d in zip(params, base, u):
                p.data = engine.tensor(b + sign * eps * d)
            sides.append(grads())
        for p, b in zip(params, base):
            p.data = engine.tensor(b)
        return [(plus - minus) / (2 * eps) for plus, minus in zip(*sides)]

    # Richardson's extrapolation of two steps cancels the O(ε²) error of central differences
    coarse, fine = central(2e-5), central(1e-5)
    for h, c, f in zip(hvp, coarse, fine, strict=True):
        np.testing.assert_allclose(h.numpy(), (4 * f - c) / 3, rtol=1e-7, atol=1e-8)


# ---- nn.RNN / nn.LSTM / nn.GRU (RNNLayer, LSTMLayer, GRULayer) ----------------------------------------

RECURRENT = {  # name: (layer class name, kwargs)
    "rnn_tanh": ("RNN", {}),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
    "rnn_deep_bidirectional": ("RNN", {"num_layers": 2, "bidirectional": True}),
    "lstm": ("LSTM", {}),
    "lstm_no_bias": ("LSTM", {"bias": False}),
    "lstm_deep_bidirectional": ("LSTM", {"num_layers": 2, "bidirectional": True}),
    "lstm_batch_first": ("LSTM", {"batch_first": True}),
    "gru": ("GRU", {}),
    "gru_no_bias": ("GRU", {"bias": False}),
    "gru_deep_bidirectional": ("GRU", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
}


def _recurrent_pair(name, I=3, H=4):
    kind, kwargs = RECURRENT[name]
    torch.manual_seed(0)
    tm = getattr(torch.nn, kind)(I, H, **kwargs).double()
    om = getattr(nn, kind)(I, H, **kwargs).astype(engine.float64)
    _copy_params(om, tm)
    return tm, om, kind


def _grads(lib, loss, wrt) -> list:
    got = lib.autograd.grad(loss, wrt, allow_unused=True)
    return [None if t is None else np.array(t.tolist()) for t in got]


@pytest.mark.parametrize("name", sorted(RECURRENT))
@pytest.mark.parametrize("through", [False, True])
def test_recurrent_input_gradient_penalty(name, through):
    """d‖∂L/∂x‖²/d(x, h0, c0, every weight and bias), the initial states given."""
    tm, om, kind = _recurrent_pair(name)
    layers = tm.num_layers * (2 if tm.bidirectional else 1)
    x = RNG.standard_normal((2, 5, 3) if tm.batch_first else (5, 2, 3))
    states = [RNG.standard_normal((layers, 2, 4)) for _ in range(2 if kind == "LSTM" else 1)]
    w = None
    results = []
    for lib, m in ((torch, tm), (engine, om)):
        xs = _arrays(lib, x, *states)
        ins = [t * 1.0 for t in xs] if through else xs
        out, _ = m(ins[0], tuple(ins[1:]) if kind == "LSTM" else ins[1])
        w = RNG.standard_normal(tuple(out.shape)) if w is None else w
        (g,) = lib.autograd.grad((out * lib.tensor(w)).sum(), [xs[0]], create_graph=True)
        results.append(_grads(lib, (g * g).sum(), [*xs, *m.parameters()]))
    assert any(o is not None and np.any(o) for o in results[1])
    assert_same(results[1], results[0])


@pytest.mark.parametrize("name", ["rnn_tanh", "lstm", "gru_deep_bidirectional", "lstm_deep_bidirectional"])
def test_recurrent_weight_hessian_vector_product(name):
    """d(∇_θ L · u)/dθ (and /dx): the Hessian of the loss in the weights along u, with h_n (and c_n) in L."""
    tm, om, kind = _recurrent_pair(name)
    x = RNG.standard_normal((2, 5, 3) if tm.batch_first else (5, 2, 3))
    us = [RNG.standard_normal(tuple(p.shape)) for p in tm.parameters()]
    w = None
    results = []
    for lib, m in ((torch, tm), (engine, om)):
        (xt,) = _arrays(lib, x)
        out, state = m(xt)
        hn = state[0] if kind == "LSTM" else state
        w = w or [RNG.standard_normal(tuple(t.shape)) for t in (out, hn)]
        loss = (out * lib.tensor(w[0])).sum() + (hn.tanh() * lib.tensor(w[1])).sum()
        if kind == "LSTM":
            loss = loss + (state[1] ** 2).sum()
        params = list(m.parameters())
        gs = lib.autograd.grad(loss, params, create_graph=True)
        results.append(_grads(lib, sum((g * lib.tensor(u)).sum() for g, u in zip(gs, us)), [*params, xt]))
    assert_same(results[1], results[0])


CELLS = {  # op: (ours, torch's cell, gates)
    "lstm": (F.lstm_layer, torch.lstm_cell, 4),
    "gru": (F.gru_layer, torch.gru_cell, 3),
    "rnn_relu": (lambda *a, reverse: F.rnn_layer(*a, nonlinearity="relu", reverse=reverse), torch.rnn_relu_cell, 1),
}


@pytest.mark.parametrize("op", sorted(CELLS))
@pytest.mark.parametrize("reverse", [False, True])
def test_layer_functional_with_freed_weights_and_biases(op, reverse):
    """The fused layer ops on weights and biases that are intermediates freed after the call, against
    torch's cells stepped by hand; gradient penalty in x, then in the biases."""
    ours, cell, gates = CELLS[op]
    T, B, I, H = 4, 2, 3, 3
    lstm = op == "lstm"
    arrays = [RNG.standard_normal((T, B, I)), *[RNG.standard_normal((B, H)) for _ in range(1 + lstm)],
              RNG.standard_normal((gates * H, I)) * 0.5, RNG.standard_normal((gates * H, H)) * 0.5,
              RNG.standard_normal(gates * H), RNG.standard_normal(gates * H)]

    def f(lib, x, *rest):
        if lib is engine:
            out = ours(x, *rest, reverse=reverse)
            return out[0] * 1.0 if not lstm else engine.cat([out[0], out[2][None]], 0)
        states, (w_ih, w_hh, b_ih, b_hh) = rest[:-4], rest[-4:]
        hs = [None] * T
        state = states if lstm else states[0]
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            state = cell(x[t], state, w_ih, w_hh, b_ih, b_hh)
            hs[t] = state[0] if lstm else state
        return torch.cat([torch.stack(hs), state[1][None]], 0) if lstm else torch.stack(hs)

    check_penalty(f, arrays, first=0, through=True)
    check_penalty(f, arrays, first=len(arrays) - 1, through=True)


# ---- setitem, zeta, gammainc, standard_gamma, to(device), module backward hooks -------------------------


def _setitem_slices(lib, a, v):
    b = a * 1.0
    b[1:3, [0, 2]] = v * v
    return b.sin() * a


def _setitem_repeats(lib, a, v):
    b = a * 2.0
    b[..., 1] = v
    b[[0, 0, 2]] = v[0].sin()  # a repeated row: the last write wins
    return b * b


def _setitem_mask(lib, a, v):
    b = a.tanh() * 1.0
    b[lib.tensor(np.array([[True, False, True], [False, True, False]]))] = v.exp()
    return b * b


@pytest.mark.parametrize("f, shapes", [(_setitem_slices, [(4, 3), (2, 1)]), (_setitem_repeats, [(3, 4), (3,)]),
                                       (_setitem_mask, [(2, 3), (3,)])])
@pytest.mark.parametrize("first", [0, 1])
def test_setitem_gradient_penalty(f, shapes, first):
    check_penalty(f, [RNG.standard_normal(s) for s in shapes], first)


def test_zeta_gradient_penalty_in_q():
    def f(lib, x, q):
        return lib.special.zeta(x.detach() + 2, q.abs() + 0.5) * q
    check_penalty(f, [RNG.standard_normal(3), RNG.standard_normal((2, 3))], first=1)


def test_zeta_second_derivative_through_x_raises_as_torch():
    """The first derivative in q holds x·ζ(x + 1, q): differentiating it in x needs ζ's x-derivative,
    which neither library implements."""
    for lib in (torch, engine):
        x = lib.tensor([2.5, 3.0], dtype=lib.float64, requires_grad=True)
        q = lib.tensor([0.7, 1.5], dtype=lib.float64, requires_grad=True)
        with pytest.raises(RuntimeError, match="the derivative for 'zeta' is not implemented"):
            lib.autograd.grad(lib.special.zeta(x, q).sum(), [x, q], create_graph=True)


@pytest.mark.parametrize("upper", [False, True])
def test_gammainc_gradient_penalty_in_x(upper):
    def f(lib, a, x):
        fn = lib.special.gammaincc if upper else lib.special.gammainc
        return fn(a.detach().abs() + 0.5, x.abs() + 0.1) * x
    check_penalty(f, [RNG.standard_normal(3), RNG.standard_normal((2, 3))], first=1)


def test_standard_gamma_second_derivative_raises_as_torch():
    def first(lib):
        lib.manual_seed(0)
        alpha = lib.tensor([1.5, 2.5, 4.0], dtype=lib.float64, requires_grad=True)
        v = lib.tensor([0.3, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
        x = lib._standard_gamma(alpha)
        (g,) = lib.autograd.grad((x * v).sum(), [alpha], create_graph=True)
        return alpha, v, g

    for lib in (torch, engine):
        alpha, v, g = first(lib)
        with pytest.raises(RuntimeError, match="the derivative for '_standard_gamma_grad' is not implemented"):
            lib.autograd.grad(g.sum(), [alpha])
    # the first derivative under create_graph is the array sweep's, g = v · ∂x/∂α
    alpha, v, g = first(engine)
    engine.manual_seed(0)
    alpha2 = engine.tensor([1.5, 2.5, 4.0], dtype=engine.float64, requires_grad=True)
    (engine._standard_gamma(alpha2) * v.detach()).sum().backward()
    assert g.requires_grad
    np.testing.assert_allclose(g.numpy(), alpha2.grad.numpy(), **TOL)


def test_to_device_gradient_penalty():
    from engine.ops.elementwise import ToDevice

    def f(lib, x):
        y = ToDevice.apply(x * x, device="cpu") if lib is engine else (x * x).to("cpu")
        return y.sin()
    check_penalty(f, [RNG.standard_normal((2, 3))])


@pytest.mark.parametrize("hook", ["full", "pre"])
def test_module_backward_hooks_under_create_graph(hook):
    """A module's full backward hook (or pre-hook) that replaces the gradient: under create_graph the hooks
    see and return graph tensors, so the gradient penalty differentiates through what they computed."""
    torch.manual_seed(0)
    tm = torch.nn.Linear(3, 2).double()
    om = nn.Linear(3, 2).astype(engine.float64)
    _copy_params(om, tm)
    for m in (tm, om):
        if hook == "full":
            m.register_full_backward_hook(lambda mod, gi, go: (gi[0] * gi[0].tanh(),))
        else:
            m.register_full_backward_pre_hook(lambda mod, go: (go[0] * go[0],))

    def f(lib, x):
        return (tm if lib is torch else om)(x.tanh()) ** 2
    check_penalty(f, [RNG.standard_normal((4, 3))])


# ---- linalg.eig (EigPacked; complex eigen even for a real A), and complex inv / solve -------------------


def _eig_invariant(lib, a):  # depends on V only through phase-invariant quantities, as torch requires
    w, v = lib.linalg.eig(a)
    vv = (v * v.conj()).real
    spread = (vv @ w.imag.unsqueeze(-1) ** 2)[..., 0]
    return (w * w).real.sum(-1, keepdim=True) + (vv * w.real.unsqueeze(-2)).sum(-1) + spread


def _complex_second(lib, f, arrays):
    """(g, d(Re Σ g·u + ‖g‖²)/dA) with g = dL/dA, L = Σ f(A)·w (f real), A complex or real; NumPy arrays."""
    xs = [lib.tensor(a, requires_grad=True) for a in arrays]
    out = f(lib, *xs)
    w = lib.tensor(np.random.default_rng(1).standard_normal(tuple(out.shape)))
    gs = lib.autograd.grad((out * w).sum(), xs, create_graph=True)
    rng = np.random.default_rng(2)
    total = sum((g.real * lib.tensor(rng.standard_normal(tuple(g.shape)))).sum() + (g.abs() ** 2).sum() for g in gs)
    second = lib.autograd.grad(total, xs)
    return [np.asarray(t.detach().numpy() if lib is torch else t.numpy()) for t in (*gs, *second)]


def _check_complex(f, arrays):
    for o, t in zip(_complex_second(engine, f, arrays), _complex_second(torch, f, arrays), strict=True):
        np.testing.assert_allclose(o, t, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("case", ["real", "real_batch", "complex"])
def test_eig_second_derivatives(case):
    shape = (2, 3, 3) if case == "real_batch" else (3, 3)
    a = RNG.standard_normal(shape)
    if case == "complex":
        a = a + 1j * RNG.standard_normal(shape)
    _check_complex(_eig_invariant, [a])


@pytest.mark.parametrize("complex_input", [False, True])
def test_eigvals_second_derivatives(complex_input):
    a = RNG.standard_normal((4, 4)) + (1j * RNG.standard_normal((4, 4)) if complex_input else 0)
    _check_complex(lambda lib, a: (lib.linalg.eigvals(a) ** 3).real, [a])


def test_complex_inverse_and_solve_second_derivatives():
    a = RNG.standard_normal((3, 3)) + 3 * np.eye(3) + 1j * RNG.standard_normal((3, 3))
    b = RNG.standard_normal((3, 2)) + 1j * RNG.standard_normal((3, 2))
    _check_complex(lambda lib, a, b: (lib.linalg.inv(a) @ lib.linalg.solve(a, b)).abs(), [a, b])


def test_eig_phase_dependent_loss_raises_as_torch():
    arr = RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3))
    for lib in (torch, engine):
        a = lib.tensor(arr, requires_grad=True)
        _, v = lib.linalg.eig(a)
        with pytest.raises(RuntimeError, match="specified up to multiplication by e"):
            lib.autograd.grad(v[0].real.sum(), [a], create_graph=True)
