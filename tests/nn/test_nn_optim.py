"""Optimizers against update rules written here in NumPy (from the papers / torch.optim docs),
against torch.optim itself (parity extra), exact resume, parameter groups, clipping, schedules."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from engine import Tensor
from nn import optim

STEPS = 20

# A fixed convex quadratic: f(W, b) = ½‖W X + b − Y‖², so grads are (R Xᵀ, R·1) with R = W X + b − Y.
_rng = np.random.default_rng(1234)
X = _rng.standard_normal((3, 5))
Y = _rng.standard_normal((4, 5))
W0 = _rng.standard_normal((4, 3))
B0 = _rng.standard_normal(4)


def grads(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = w @ X + b[:, None] - Y
    return r @ X.T, r.sum(axis=1)


# ---- reference update rules, one parameter at a time, plain NumPy -----------------------------
def ref_sgd(p, g, s, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """torch.optim.SGD's documented algorithm (Sutskever et al. momentum, L2 decay on the grad)."""
    g = g + weight_decay * p
    if momentum:
        s["b"] = g.copy() if "b" not in s else momentum * s["b"] + (1 - dampening) * g
        g = g + momentum * s["b"] if nesterov else s["b"]
    return p - lr * g


def ref_adam(p, g, s, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    """Kingma & Ba's Adam with bias correction; decoupled=True is Loshchilov & Hutter's AdamW
    (p ← p − lr·λ·p, then Adam on the bare gradient) as torch.optim.AdamW does it."""
    b1, b2 = betas
    if decoupled:
        p = p - lr * weight_decay * p
    else:
        g = g + weight_decay * p
    s["t"] = s.get("t", 0) + 1
    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
    m_hat = s["m"] / (1 - b1 ** s["t"])
    v_hat = s["v"] / (1 - b2 ** s["t"])
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


CASES = {
    "sgd": (optim.SGD, ref_sgd, dict(lr=0.02)),
    "sgd_momentum": (optim.SGD, ref_sgd, dict(lr=0.02, momentum=0.9)),
    "sgd_dampening_decay": (optim.SGD, ref_sgd, dict(lr=0.02, momentum=0.8, dampening=0.3, weight_decay=0.05)),
    "sgd_nesterov": (optim.SGD, ref_sgd, dict(lr=0.02, momentum=0.9, nesterov=True)),
    "sgd_nesterov_decay": (optim.SGD, ref_sgd, dict(lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.1)),
    "adam": (optim.Adam, ref_adam, dict(lr=0.05)),
    "adam_l2": (optim.Adam, ref_adam, dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    "adamw": (optim.AdamW, lambda *a, **k: ref_adam(*a, decoupled=True, **k), dict(lr=0.05, weight_decay=0.1)),
    "adamw_betas": (optim.AdamW, lambda *a, **k: ref_adam(*a, decoupled=True, **k),
                    dict(lr=0.05, betas=(0.5, 0.9), weight_decay=0.3)),
}
TORCH = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}


def run_ours(make_opt, steps, w=W0, b=B0):
    pw, pb = nn.Parameter(Tensor(w.copy())), nn.Parameter(Tensor(b.copy()))
    opt = make_opt([pw, pb])
    for _ in range(steps):
        # in the parameters' dtype: torch refuses a float64 .grad on a float32 parameter, and so do we
        pw.grad, pb.grad = (Tensor(g.astype(p.dtype)) for g, p in zip(grads(pw.numpy(), pb.numpy()), (pw, pb)))
        opt.step()
    return pw, pb, opt


def run_reference(rule, hp, steps):
    w, b, sw, sb = W0.copy(), B0.copy(), {}, {}
    for _ in range(steps):
        gw, gb = grads(w, b)
        w, b = rule(w, gw, sw, **hp), rule(b, gb, sb, **hp)
    return w, b


@pytest.mark.parametrize("case", sorted(CASES))
def test_twenty_steps_match_numpy_reference(case):
    cls, rule, hp = CASES[case]
    pw, pb, _ = run_ours(lambda ps: cls(ps, **hp), STEPS)
    w, b = run_reference(rule, hp, STEPS)
    assert not np.allclose(w, W0)  # it moved
    np.testing.assert_allclose(pw.numpy(), w, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(pb.numpy(), b, rtol=1e-12, atol=1e-14)


def test_optimizers_reduce_the_loss():
    def loss(w, b):
        return 0.5 * ((w @ X + b[:, None] - Y) ** 2).sum()

    for case, (cls, _, hp) in CASES.items():
        pw, pb, _ = run_ours(lambda ps, cls=cls, hp=hp: cls(ps, **hp), 100)
        assert loss(pw.numpy(), pb.numpy()) < 0.5 * loss(W0, B0), case


@pytest.mark.parity
@pytest.mark.parametrize("case", sorted(CASES))
def test_twenty_steps_match_torch(case):
    torch = pytest.importorskip("torch")
    cls, _, hp = CASES[case]
    pw, pb, _ = run_ours(lambda ps: cls(ps, **hp), STEPS)
    tw = torch.tensor(W0.copy(), requires_grad=True)
    tb = torch.tensor(B0.copy(), requires_grad=True)
    topt = getattr(torch.optim, TORCH[case.split("_")[0]])([tw, tb], **hp)
    for _ in range(STEPS):
        gw, gb = grads(tw.detach().numpy(), tb.detach().numpy())
        tw.grad, tb.grad = torch.from_numpy(gw), torch.from_numpy(gb)
        topt.step()
    np.testing.assert_allclose(pw.numpy(), tw.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(pb.numpy(), tb.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_state_dict_resume_is_bit_identical(case, dtype):
    cls, _, hp = CASES[case]

    def make(ps):
        return cls(ps, **hp)

    # Uninterrupted: 20 steps. Interrupted: 10 steps, snapshot, 10 more from a fresh optimizer.
    pw, pb, opt = run_ours(make, STEPS // 2, W0.astype(dtype), B0.astype(dtype))
    snap_params = (pw.numpy().copy(), pb.numpy().copy())
    snap = opt.state_dict()
    # State lives in the parameter's dtype, even if a gradient came in another one.
    assert all(v.dtype == dtype for st_ in opt.state.values() for v in st_.values() if hasattr(v, "dtype"))
    for _ in range(STEPS // 2):  # keep going on the original: the snapshot must not change with it
        pw.grad, pb.grad = (Tensor(g.astype(dtype)) for g in grads(pw.numpy(), pb.numpy()))
        opt.step()

    qw, qb = nn.Parameter(Tensor(snap_params[0])), nn.Parameter(Tensor(snap_params[1]))
    resumed = make([qw, qb])
    resumed.load_state_dict(snap)
    for _ in range(STEPS // 2):
        qw.grad, qb.grad = (Tensor(g.astype(dtype)) for g in grads(qw.numpy(), qb.numpy()))
        resumed.step()
    assert qw.dtype == dtype
    np.testing.assert_array_equal(qw.numpy(), pw.numpy())
    np.testing.assert_array_equal(qb.numpy(), pb.numpy())
    assert resumed.param_groups[0]["lr"] == hp["lr"]


def test_load_state_dict_restores_hyperparameters_and_rejects_other_layouts():
    p = nn.Parameter(Tensor(np.ones(3)))
    a = optim.AdamW([p], lr=0.5)
    a.param_groups[0]["lr"] = 0.123  # e.g. set by a schedule
    b = optim.AdamW([nn.Parameter(Tensor(np.ones(3)))], lr=0.5)
    b.load_state_dict(a.state_dict())
    assert b.param_groups[0]["lr"] == 0.123
    two = optim.AdamW([nn.Parameter(Tensor(np.ones(3))), nn.Parameter(Tensor(np.ones(2)))])
    with pytest.raises(ValueError):
        two.load_state_dict(a.state_dict())


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """nanoGPT's split: decay 2-D weights; no decay on biases and LayerNorm parameters."""
    ps = model.parameters()
    return [
        {"params": [p for p in ps if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in ps if p.ndim < 2], "weight_decay": 0.0},
    ]


@pytest.mark.parametrize("case", ["adamw", "adam", "sgd_momentum"])
def test_param_groups_no_decay_on_biases_and_layernorm(case):
    cls, rule, _ = CASES[case]
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    model.double()
    before = {n: p.numpy().copy() for n, p in model.named_parameters()}
    lr, wd = 0.1, 0.2
    opt = cls(decay_groups(model, wd), lr=lr, **({"momentum": 0.9} if cls is optim.SGD else {}))
    assert [g["weight_decay"] for g in opt.param_groups] == [wd, 0.0]
    assert all(g["lr"] == lr for g in opt.param_groups)  # defaults fill what a group leaves out
    for _ in range(5):
        for p in model.parameters():  # zero gradients: only weight decay can move a parameter
            p.grad = Tensor(np.zeros(p.shape))
        opt.step()
    for n, p in model.named_parameters():
        if p.ndim >= 2:
            want, state = before[n], {}
            for _ in range(5):
                want = rule(want, np.zeros(p.shape), state, lr=lr, weight_decay=wd,
                            **({"momentum": 0.9} if cls is optim.SGD else {}))
            assert not np.allclose(want, before[n])
            np.testing.assert_allclose(p.numpy(), want, rtol=1e-12, atol=1e-14)
        else:  # biases and LayerNorm: untouched
            np.testing.assert_array_equal(p.numpy(), before[n])


def test_group_hyperparameters_override_defaults():
    a, b = nn.Parameter(Tensor(np.ones(2))), nn.Parameter(Tensor(np.ones(2)))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad = b.grad = Tensor(np.ones(2))
    opt.step()
    np.testing.assert_allclose(a.numpy(), 0.9)
    np.testing.assert_allclose(b.numpy(), 0.0)


def test_step_skips_params_without_grad_and_zero_grad():
    a, b = nn.Parameter(Tensor(np.ones(2))), nn.Parameter(Tensor(np.ones(2)))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = Tensor(np.ones(2))
    opt.step()
    np.testing.assert_array_equal(b.numpy(), np.ones(2))
    assert not np.array_equal(a.numpy(), np.ones(2))
    opt.zero_grad(set_to_none=False)
    assert a.grad is not None and not a.grad.numpy().any()
    opt.zero_grad()
    assert a.grad is None


def test_optimizer_argument_errors():
    with pytest.raises(ValueError):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError):
        optim.SGD([nn.Parameter(Tensor(np.ones(2)))], lr=0.1, nesterov=True)  # needs momentum
    with pytest.raises(TypeError):
        optim.SGD([np.ones(2)], lr=0.1)  # not a Tensor
    optim.SGD([Tensor(np.ones(2))], lr=0.1)  # a frozen leaf is accepted (and skipped: no grad), as torch


def test_a_parameter_given_twice_is_rejected_or_warned_as_torch():
    """In two groups torch raises (a bias in both the decay and no-decay group); twice in one group it warns
    and steps it twice, as here."""
    w, b = nn.Parameter(Tensor(np.ones(2))), nn.Parameter(Tensor(np.ones(2)))
    with pytest.raises(ValueError, match="more than once"):
        optim.AdamW([{"params": [w, b]}, {"params": [b], "weight_decay": 0.0}])
    with pytest.warns(UserWarning, match="duplicate parameters"):
        opt = optim.SGD([w, b, w], lr=0.1)
    w.grad, b.grad = Tensor(np.ones(2)), Tensor(np.ones(2))
    opt.step()
    assert w.tolist() == pytest.approx([0.8, 0.8]) and b.tolist() == pytest.approx([0.9, 0.9])  # torch's too
    model = nn.Linear(2, 2)
    optim.SGD(model.parameters(), lr=0.1)  # parameters() lists tied weights once, so this is fine


# ---- clipping ---------------------------------------------------------------------------------
@given(shapes=st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4)), min_size=1, max_size=4),
       max_norm=st.floats(0.01, 100), seed=st.integers(0, 2**32 - 1))
def test_clip_grad_norm(shapes, max_norm, seed):
    rng = np.random.default_rng(seed)
    ps = [nn.Parameter(Tensor(np.zeros(s))) for s in shapes]
    gs = [rng.standard_normal(s) * 3 for s in shapes]
    for p, g in zip(ps, gs):
        p.grad = Tensor(g.copy())
    total = math.sqrt(sum((g**2).sum() for g in gs))
    got = optim.clip_grad_norm_(ps, max_norm)
    assert got == pytest.approx(total, rel=1e-12)
    after = math.sqrt(sum((p.grad.numpy() ** 2).sum() for p in ps))
    if total > max_norm:
        # scaled by max_norm / (total + 1e-6), as torch does
        assert after == pytest.approx(total * max_norm / (total + 1e-6), rel=1e-12)
        for p, g in zip(ps, gs):  # direction kept
            np.testing.assert_allclose(p.grad.numpy(), g * (max_norm / (total + 1e-6)), rtol=1e-12)
    else:
        for p, g in zip(ps, gs):
            np.testing.assert_array_equal(p.grad.numpy(), g)


def test_clip_grad_norm_skips_missing_grads_and_keeps_float32():
    a = nn.Parameter(Tensor(np.zeros(2, np.float32)))
    b = nn.Parameter(Tensor(np.zeros(2, np.float32)))
    a.grad = Tensor(np.array([3.0, 4.0], np.float32))
    assert optim.clip_grad_norm_([a, b], 1.0) == pytest.approx(5.0)
    assert a.grad.dtype == np.float32 and b.grad is None
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0.8], rtol=1e-6)
    assert optim.clip_grad_norm_([b], 1.0) == 0.0


# ---- schedules ----------------------------------------------------------------------------------
def test_cosine_with_warmup():
    lr, min_lr, warm, decay = 1e-3, 1e-4, 10, 110
    s = optim.CosineWithWarmup(None, lr=lr, min_lr=min_lr, warmup_steps=warm, decay_steps=decay)
    for step in range(warm):
        assert s.lr_at(step) == pytest.approx(lr * (step + 1) / (warm + 1))
    assert all(s.lr_at(i) < s.lr_at(i + 1) for i in range(warm))  # rising through warmup
    assert s.lr_at(warm) == pytest.approx(lr)  # the peak
    assert s.lr_at((warm + decay) // 2) == pytest.approx((lr + min_lr) / 2)  # cosine midpoint
    step = warm + 25
    assert s.lr_at(step) == pytest.approx(min_lr + (lr - min_lr) * (1 + math.cos(math.pi * 0.25)) / 2)
    assert all(s.lr_at(i) > s.lr_at(i + 1) for i in range(warm, decay))  # falling through decay
    assert s.lr_at(decay) == pytest.approx(min_lr) and s.lr_at(10 * decay) == min_lr


def test_linear_warmup_decay():
    s = optim.LinearWarmupDecay(None, lr=1.0, min_lr=0.0, warmup_steps=4, decay_steps=14)
    assert [s.lr_at(i) for i in range(4)] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert [s.lr_at(i) for i in range(4, 15)] == pytest.approx([1 - k / 10 for k in range(11)])
    assert s.lr_at(100) == 0.0


def test_schedule_step_writes_every_group_and_constant():
    a, b = nn.Parameter(Tensor(np.ones(2))), nn.Parameter(Tensor(np.ones(2)))
    opt = optim.AdamW([{"params": [a]}, {"params": [b], "weight_decay": 0.0}], lr=5.0)
    s = optim.LinearWarmupDecay(opt, lr=1.0, min_lr=0.0, warmup_steps=4, decay_steps=14)
    assert s.step() == pytest.approx(0.2)  # first call is step 0
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.2, 0.2])
    s.step()
    assert opt.param_groups[1]["lr"] == pytest.approx(0.4)
    assert s.step(10) == pytest.approx(0.4) and s.last_step == 10  # resume at a given step
    c = optim.ConstantLR(opt, lr=0.3)
    assert [c.step() for _ in range(3)] == [0.3, 0.3, 0.3]
    assert [g["lr"] for g in opt.param_groups] == [0.3, 0.3]


@pytest.mark.parametrize("name", ["adam_l2", "adamw_betas"])
def test_adam_on_a_big_parameter_is_thread_count_independent(name):
    """Parameters over engine.parallel.MIN_PARALLEL_CHEAP elements are updated in chunks on several
    threads: three steps must be bit-identical to one thread and match the reference."""
    from engine.parallel import MIN_PARALLEL_CHEAP, get_num_threads, set_num_threads

    make, rule, hp = CASES[name]
    rng = np.random.default_rng(5)
    p0 = rng.standard_normal((1030, 1024)).astype(np.float32)
    gs = [rng.standard_normal(p0.shape).astype(np.float32) for _ in range(3)]
    assert p0.size >= MIN_PARALLEL_CHEAP
    results, old = [], get_num_threads()
    try:
        for n in (1, 2):
            set_num_threads(n)
            p = Tensor(p0.copy(), requires_grad=True)
            opt = make([p], **hp)
            for g in gs:
                p.grad = Tensor(g)
                opt.step()
            results.append(p.data)
    finally:
        set_num_threads(old)
    np.testing.assert_array_equal(results[0], results[1])
    ref, state = p0.astype(np.float64), {}
    for g in gs:
        ref = rule(ref, g.astype(np.float64), state, **hp)
    np.testing.assert_allclose(results[1], ref, rtol=1e-5, atol=1e-6)
