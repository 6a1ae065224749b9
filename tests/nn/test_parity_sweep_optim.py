"""Regressions from a differential sweep of nn.optim, nn.lr_scheduler, the losses and nn.utils
against torch (torch is the oracle): the optimizer base's API and errors, Rprop/ASGD/Adafactor,
scheduler messages and state_dict keys, BCE's gradient at 0 and 1, fully-ignored NLL gradients,
the added loss modules and clip_grad_norm_'s 0-norm."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import engine.functional as F
import nn
import nn.utils
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "LBFGS", "Muon",
              "Rprop", "ASGD", "Adafactor"]


def _both(lib, name, params=None, **kw):
    if params is None:
        shape = (2, 3) if name == "Muon" else (3,)  # Muon takes 2-D parameters only
        params = [torch.nn.Parameter(torch.ones(shape, dtype=torch.float64))] if lib is torch else [
            nn.Parameter(np.ones(shape))]
    return getattr(lib.optim, name)(params, **kw)


def _outcome(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the error type and message are what is compared
        return type(e).__name__, str(e)
    return "ok", ""


# ---- the optimizer base ----


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_defaults_and_group_keys_equal_torch(name):
    theirs, ours = _both(torch, name), _both(nn, name)
    assert list(ours.defaults.items()) == list(theirs.defaults.items())
    t_group, o_group = theirs.state_dict()["param_groups"][0], ours.state_dict()["param_groups"][0]
    assert o_group == t_group


BAD = [("SGD", {"lr": -1.0}), ("SGD", {"momentum": -0.5}), ("SGD", {"weight_decay": -1.0}),
       ("SGD", {"nesterov": True}), ("SGD", {"momentum": 0.9, "dampening": 0.1, "nesterov": True}),
       ("Adam", {"lr": -1.0}), ("Adam", {"eps": -1.0}), ("Adam", {"betas": (1.0, 0.9)}),
       ("Adam", {"betas": (0.9, 1.5)}), ("Adam", {"weight_decay": -1.0}), ("AdamW", {"lr": -0.1}),
       ("AdamW", {"betas": (0.9, -0.1)}), ("RMSprop", {"alpha": -1.0}), ("RMSprop", {"momentum": -1.0}),
       ("Adagrad", {"lr_decay": -1.0}), ("Adagrad", {"initial_accumulator_value": -1.0}),
       ("Adadelta", {"rho": 1.5}), ("Adamax", {"eps": -1.0}), ("NAdam", {"momentum_decay": -1.0}),
       ("RAdam", {"betas": (0.9, 1.0)}), ("LBFGS", {"lr": -1.0}), ("Rprop", {"etas": (1.5, 1.2)}),
       ("Rprop", {"lr": -1.0}), ("ASGD", {"weight_decay": -1.0}), ("Adafactor", {"d": 0.5}),
       ("Adafactor", {"beta2_decay": 0.5}), ("Adafactor", {"lr": -1.0})]


@pytest.mark.parametrize("name,kw", BAD, ids=[f"{n}-{k}" for n, k in BAD])
def test_bad_hyperparameters_raise_torchs_error(name, kw):
    theirs = _outcome(lambda: _both(torch, name, **kw))
    assert theirs[0] == "ValueError"
    assert _outcome(lambda: _both(nn, name, **kw)) == theirs


def test_param_argument_errors_equal_torch():
    assert _outcome(lambda: nn.optim.SGD([], lr=0.1)) == _outcome(lambda: torch.optim.SGD([], lr=0.1))
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts"):
        nn.optim.SGD(nn.Parameter(np.ones(2)), lr=0.1)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        nn.optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        nn.optim.SGD([{"params": {nn.Parameter(np.ones(2))}}], lr=0.1)
    leaf = nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        nn.optim.SGD([leaf * 2], lr=0.1)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        nn.optim.SGD([{"params": [leaf]}, {"params": [leaf]}], lr=0.1)


def test_frozen_parameter_is_accepted_and_skipped_as_torch():
    frozen_t = torch.nn.Parameter(torch.ones(2, dtype=torch.float64), requires_grad=False)
    frozen_o = nn.Parameter(np.ones(2), requires_grad=False)
    live_t = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    live_o = nn.Parameter(np.ones(2))
    topt = torch.optim.Adam([live_t, frozen_t], lr=0.1)
    oopt = nn.optim.Adam([live_o, frozen_o], lr=0.1)
    live_t.grad, live_o.grad = torch.full((2,), 0.5, dtype=torch.float64), Tensor(np.full(2, 0.5))
    topt.step()
    oopt.step()
    np.testing.assert_allclose(live_o.numpy(), live_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_array_equal(frozen_o.numpy(), frozen_t.numpy())
    assert sorted(oopt.state_dict()["state"]) == sorted(topt.state_dict()["state"]) == [0]


def test_state_is_keyed_by_parameter_and_reads_missing_as_empty():
    p = nn.Parameter(np.ones(3))
    opt = nn.optim.Adam([p], lr=0.1)
    assert opt.state[p] == {}  # torch's defaultdict(dict)
    p.grad = Tensor(np.ones(3))
    opt.step()
    assert set(opt.state[p]) == {"step", "exp_avg", "exp_avg_sq"}
    assert opt.state[p] is opt.state[id(p)]
    assert p in opt.state
    assert list(opt.state) == [p]  # keyed by the parameter itself, as torch's


def test_custom_optimizer_with_torchs_base_signature():
    class Plain(nn.optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        def step(self, closure=None):
            loss = closure() if closure is not None else None
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        with nn.optim.no_grad():
                            p.sub_(group["lr"] * p.grad)
            return loss

    p = nn.Parameter(np.ones(2))
    opt = Plain([p], lr=0.5)
    assert opt.defaults == {"lr": 0.5}
    p.grad = Tensor(np.ones(2))
    assert opt.step(lambda: 3.0) == 3.0
    np.testing.assert_array_equal(p.numpy(), [0.5, 0.5])


def test_required_default_must_be_given():
    class Needs(nn.optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {"lr": nn.optim.required})

    with pytest.raises(ValueError, match="didn't specify a value of required optimization parameter lr"):
        Needs([nn.Parameter(np.ones(1))])
    assert Needs([{"params": [nn.Parameter(np.ones(1))], "lr": 0.1}]).param_groups[0]["lr"] == 0.1


def test_repr_equals_torch():
    theirs = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1, momentum=0.9)
    ours = nn.optim.SGD([nn.Parameter(np.ones(1))], lr=0.1, momentum=0.9)
    assert repr(ours) == repr(theirs)


def _torch_state_as_numpy(sd):
    def conv(x):
        if isinstance(x, torch.Tensor):
            return x.detach().numpy().copy()
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items()}
        return x

    return conv(sd)


@pytest.mark.parametrize("name,kw", [("Adam", {"lr": 0.01, "amsgrad": True}), ("NAdam", {"lr": 0.01}),
                                     ("RAdam", {"lr": 0.01}), ("Adamax", {}), ("ASGD", {"t0": 2}),
                                     ("Rprop", {}), ("Adafactor", {})])
def test_loading_torchs_state_dict_continues_in_float64(name, kw):
    """torch's 0-d float32 ``step`` (and ASGD's eta/mu) load as numbers, so the bias corrections stay
    in float64 and the run continues as torch's does."""
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (5,)]
    theirs = [torch.nn.Parameter(torch.tensor(rng.normal(size=s))) for s in shapes]
    topt = getattr(torch.optim, name)([{"params": theirs[:1]}, {"params": theirs[1:], "lr": 0.003}], **kw)

    def grads(step):
        r = np.random.default_rng(50 + step)
        return [r.normal(size=s) for s in shapes]

    for step in range(5):
        for q, g in zip(theirs, grads(step)):
            q.grad = torch.tensor(g)
        topt.step()
    ours = [nn.Parameter(q.detach().numpy().copy()) for q in theirs]
    oopt = getattr(nn.optim, name)([{"params": ours[:1]}, {"params": ours[1:]}], **kw)
    oopt.load_state_dict(_torch_state_as_numpy(topt.state_dict()))
    assert oopt.param_groups[1]["lr"] == 0.003
    for step in range(5, 12):
        for q, p, g in zip(theirs, ours, grads(step)):
            q.grad, p.grad = torch.tensor(g), Tensor(g.copy())
        topt.step()
        oopt.step()
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_load_state_dict_size_errors_equal_torch():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    sd = nn.optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        nn.optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        nn.optim.SGD([a], lr=0.1).load_state_dict(sd)


def test_lbfgs_state_keys_equal_torch():
    x0 = np.array([1.5, -0.5])
    wt, wo = torch.nn.Parameter(torch.tensor(x0)), nn.Parameter(x0.copy())
    topt = torch.optim.LBFGS([wt], max_iter=4, line_search_fn="strong_wolfe")
    oopt = nn.optim.LBFGS([wo], max_iter=4, line_search_fn="strong_wolfe")

    def closure(opt, w):
        def run():
            opt.zero_grad()
            loss = ((w - 1) ** 4).sum() + (w * w).sum()
            loss.backward()
            return loss
        return run

    topt.step(closure(topt, wt))
    oopt.step(closure(oopt, wo))
    assert sorted(oopt.state_dict()["state"][0]) == sorted(topt.state_dict()["state"][0])
    np.testing.assert_allclose(wo.numpy(), wt.detach().numpy(), rtol=1e-12)


# ---- Rprop, ASGD, Adafactor: 12 steps, two groups, some gradients None ----


NEW = {"Rprop": {"lr": 0.01}, "Rprop_bounded": {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.02),
                                                 "maximize": True},
       "ASGD": {"lr": 0.01}, "ASGD_averaging": {"lr": 0.05, "lambd": 0.1, "alpha": 0.6, "t0": 3,
                                                 "weight_decay": 0.1, "maximize": True},
       "Adafactor": {}, "Adafactor_all": {"lr": 0.05, "beta2_decay": -0.5, "eps": (1e-5, 1e-2), "d": 1.5,
                                          "weight_decay": 0.1, "maximize": True}}


@pytest.mark.parametrize("config", sorted(NEW))
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_new_optimizers_equal_torch(config, dtype, tol):
    name, kw = config.split("_")[0], NEW[config]
    shapes = [(3, 4), (5,), (2, 2, 3)]
    rng = np.random.default_rng(0)
    start = [rng.normal(size=s).astype(dtype) for s in shapes]
    ours = [nn.Parameter(a.copy()) for a in start]
    theirs = [torch.nn.Parameter(torch.tensor(a.copy())) for a in start]
    lr = kw.get("lr", 0.01)
    groups = lambda ps: [{"params": ps[:2]}, {"params": ps[2:], "lr": lr * 0.5}]  # noqa: E731
    oopt, topt = getattr(nn.optim, name)(groups(ours), **kw), getattr(torch.optim, name)(groups(theirs), **kw)
    for step in range(12):
        r = np.random.default_rng(50 + step)
        for i, (p, q) in enumerate(zip(ours, theirs)):
            g = r.normal(size=p.shape).astype(dtype)
            if i == 1 and step % 3 == 1:
                p.grad = q.grad = None
                continue
            p.grad, q.grad = Tensor(g.copy()), torch.tensor(g.copy())
        oopt.step()
        topt.step()
    for p, q in zip(ours, theirs):
        assert p.dtype == dtype
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=tol, atol=tol)
    o_sd, t_sd = oopt.state_dict(), topt.state_dict()
    assert {k: sorted(v) for k, v in o_sd["state"].items()} == {k: sorted(v) for k, v in t_sd["state"].items()}
    assert o_sd["param_groups"] == t_sd["param_groups"]


# ---- schedulers ----


def _sched_pair():
    def make(lib):
        ps = [torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))] if lib is torch else [
            nn.Parameter(np.ones(2, np.float32)), nn.Parameter(np.ones(2, np.float32))]
        return lib.optim.SGD([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}], lr=0.1, momentum=0.9)
    return make(torch), make(nn)


@pytest.mark.parametrize("build", [
    lambda lr, o: lr.StepLR(o, 3, last_epoch=2),
    lambda lr, o: lr.OneCycleLR(o, max_lr=[1.0, 2.0, 3.0], total_steps=10),
    lambda lr, o: lr.CyclicLR(o, base_lr=[0.1], max_lr=1.0),
    lambda lr, o: lr.ReduceLROnPlateau(o, min_lr=[0.1]),
], ids=["missing-initial_lr", "onecycle-max_lr-length", "cyclic-base_lr-length", "plateau-min_lr-length"])
def test_scheduler_argument_errors_equal_torch(build):
    t_opt, o_opt = _sched_pair()
    theirs = _outcome(lambda: build(torch.optim.lr_scheduler, t_opt))
    assert theirs[0] != "ok"
    assert _outcome(lambda: build(nn.lr_scheduler, o_opt)) == theirs


@pytest.mark.parametrize("build", [
    lambda lr, o: lr.StepLR(o, 3),
    lambda lr, o: lr.CosineAnnealingLR(o, 7, eta_min=0.01),
    lambda lr, o: lr.CyclicLR(o, 0.01, 0.1, step_size_up=4, cycle_momentum=False),
    lambda lr, o: lr.CyclicLR(o, 0.01, 0.1, step_size_up=4),
    lambda lr, o: lr.OneCycleLR(o, max_lr=1.0, total_steps=40),
], ids=["step", "cosine", "cyclic-no-momentum", "cyclic", "onecycle"])
def test_scheduler_state_dict_keys_and_lrs_equal_torch(build):
    t_opt, o_opt = _sched_pair()
    theirs, ours = build(torch.optim.lr_scheduler, t_opt), build(nn.lr_scheduler, o_opt)
    for _ in range(35):
        t_opt.step()
        o_opt.step()
        theirs.step()
        ours.step()
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())


# ---- losses ----


def _grad_pair(fn_t, fn_o, x, *rest, upstream=None):
    xt, xo = torch.tensor(x, requires_grad=True), Tensor(x.copy(), requires_grad=True)
    lt, lo = fn_t(xt, *[torch.tensor(r) for r in rest]), fn_o(xo, *[Tensor(r) for r in rest])
    up = np.ones(lt.shape) if upstream is None else upstream
    lt.backward(torch.tensor(up))
    lo.backward(Tensor(up))
    return (lt.detach().numpy(), xt.grad.numpy()), (lo.numpy(), xo.grad.numpy())


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_gradient_at_zero_and_one_is_torchs(reduction, weighted):
    """torch's backward is (x - t) / max((1 - x) x, 1e-12): finite at x = 0 and x = 1."""
    x = np.array([[0.0, 1.0, 0.3], [1.0, 0.0, 0.9]])
    t = np.array([[0.7, 0.2, 1.0], [1.0, 0.0, 0.4]])
    w = np.array([0.5, 2.0, 1.0])
    kw_t = {"weight": torch.tensor(w)} if weighted else {}
    kw_o = {"weight": Tensor(w)} if weighted else {}
    theirs, ours = _grad_pair(lambda a, b: torch.nn.functional.binary_cross_entropy(a, b, reduction=reduction,
                                                                                    **kw_t),
                              lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction, **kw_o), x, t)
    for o, t_ in zip(ours, theirs):
        assert np.isfinite(o).all()
        np.testing.assert_allclose(o, t_, rtol=1e-10)


def test_bce_target_gradient_equals_torch():
    x = np.array([0.2, 0.5, 0.9])
    t = np.array([0.1, 0.6, 1.0])
    xt, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    xo, to = Tensor(x.copy(), requires_grad=True), Tensor(t.copy(), requires_grad=True)
    torch.nn.functional.binary_cross_entropy(xt, tt).backward()
    F.binary_cross_entropy(xo, to).backward()
    np.testing.assert_allclose(to.grad.numpy(), tt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("loss", ["nll", "ce_weighted", "ce_smoothed"])
def test_mean_with_every_target_ignored_is_nan_with_zero_gradient(loss):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3))
    target = np.full(4, -100)
    w = np.array([0.5, 1.0, 2.0])
    fns = {
        "nll": (lambda a, b: torch.nn.functional.nll_loss(a, b), lambda a, b: F.nll_loss(a, b)),
        "ce_weighted": (lambda a, b: torch.nn.functional.cross_entropy(a, b, weight=torch.tensor(w)),
                        lambda a, b: F.cross_entropy(a, b, weight=Tensor(w))),
        "ce_smoothed": (lambda a, b: torch.nn.functional.cross_entropy(a, b, label_smoothing=0.2),
                        lambda a, b: F.cross_entropy(a, b, label_smoothing=0.2)),
    }
    (vt, gt), (vo, go) = _grad_pair(*fns[loss], x, target)
    assert np.isnan(vt) and np.isnan(vo)
    np.testing.assert_array_equal(go, gt)


def test_zero_weight_targets_nan_gradient_only_on_counted_rows():
    x = np.random.default_rng(1).normal(size=(3, 4))
    w = np.array([1.0, 0.0, 1.0, 1.0])
    target = np.array([1, 1, -100])
    (vt, gt), (vo, go) = _grad_pair(lambda a, b: torch.nn.functional.cross_entropy(a, b, weight=torch.tensor(w)),
                                    lambda a, b: F.cross_entropy(a, b, weight=Tensor(w)), x, target)
    assert np.isnan(vo) and np.isnan(vt)
    np.testing.assert_array_equal(np.isnan(go), np.isnan(gt))
    np.testing.assert_array_equal(go[2], gt[2])


def test_soft_margin_loss_refuses_a_target_that_requires_grad():
    x, t = np.array([0.5, -1.0]), np.array([1.0, -1.0])
    theirs = _outcome(lambda: torch.nn.functional.soft_margin_loss(torch.tensor(x),
                                                                   torch.tensor(t, requires_grad=True)))
    ours = _outcome(lambda: F.soft_margin_loss(Tensor(x), Tensor(t, requires_grad=True)))
    assert theirs[0] == "RuntimeError" and ours == theirs


LOSS_MODULES = [
    ("HingeEmbeddingLoss", {"margin": 0.5}, "sign"),
    ("SoftMarginLoss", {"reduction": "sum"}, "sign"),
    ("MultiLabelMarginLoss", {}, "multilabel"),
    ("MultiLabelSoftMarginLoss", {"weight": np.array([0.5, 1.0, 2.0])}, "binary"),
    ("MultiMarginLoss", {"p": 2, "margin": 0.5, "weight": np.array([0.5, 1.0, 2.0])}, "class"),
    ("PoissonNLLLoss", {"full": True}, "counts"),
    ("GaussianNLLLoss", {"full": True, "reduction": "none"}, "gauss"),
    ("TripletMarginWithDistanceLoss", {"margin": 0.5, "swap": True}, "triplet"),
]


@pytest.mark.parametrize("name,kw,kind", LOSS_MODULES, ids=[c[0] for c in LOSS_MODULES])
def test_added_loss_modules_equal_torch(name, kw, kind):
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    others = {
        "sign": [np.sign(t)], "binary": [(t > 0) * 1.0], "class": [np.array([0, 2, 1, 2])],
        "multilabel": [np.array([[2, 0, -1], [1, -1, 0], [0, 1, 2], [-1, 0, 0]])],
        "counts": [np.abs(t).round()], "gauss": [t, rng.uniform(0.2, 2.0, (4, 3))],
        "triplet": [t, rng.normal(size=(4, 3))],
    }[kind]
    t_mod = getattr(torch.nn, name)(**{k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()})
    o_mod = getattr(nn, name)(**{k: Tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()})
    xt, xo = torch.tensor(x, requires_grad=True), Tensor(x.copy(), requires_grad=True)
    lt, lo = t_mod(xt, *[torch.tensor(o) for o in others]), o_mod(xo, *[Tensor(o) for o in others])
    np.testing.assert_allclose(lo.numpy(), lt.detach().numpy(), rtol=1e-10)
    lt.sum().backward()
    lo.sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert sorted(o_mod.state_dict()) == sorted(t_mod.state_dict())


def test_added_loss_module_argument_errors():
    with pytest.raises(ValueError, match=re.escape("only p == 1 and p == 2 supported")):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="expected margin to be greater than 0"):
        nn.TripletMarginWithDistanceLoss(margin=0.0)


# ---- nn.utils ----


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_norm_zero_norm_counts_nonzero_tensors(dtype):
    grads = [np.array([0.0, 1.0, 2.0]), np.zeros(2), np.array([3.0, 4.0, 0.0, 6.0])]
    theirs = [torch.nn.Parameter(torch.zeros(len(g), dtype=torch.float64 if dtype == np.float64 else torch.float32))
              for g in grads]
    ours = [nn.Parameter(np.zeros(len(g), dtype)) for g in grads]
    for q, p, g in zip(theirs, ours, grads):
        q.grad, p.grad = torch.tensor(g.astype(dtype)), Tensor(g.astype(dtype))
    t_total = torch.nn.utils.clip_grad_norm_(theirs, 0.5, norm_type=0)
    o_total = nn.utils.clip_grad_norm_(ours, 0.5, norm_type=0)
    assert o_total.item() == t_total.item() == 2.0
    for q, p in zip(theirs, ours):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, math.inf, -math.inf, 0])
def test_get_total_norm_equals_torch(norm_type):
    rng = np.random.default_rng(3)
    ts = [rng.normal(size=s) for s in [(3, 4), (5,), (2, 2)]]
    theirs = torch.nn.utils.get_total_norm([torch.tensor(t) for t in ts], norm_type)
    ours = nn.utils.get_total_norm([Tensor(t) for t in ts], norm_type)
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)


def test_loss_errors_and_edge_values_equal_torch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    # a probability target with another batch size: torch's ValueError
    theirs = _outcome(lambda: torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(x[:2])))
    assert _outcome(lambda: F.cross_entropy(Tensor(x), Tensor(x[:2]))) == theirs
    # multi_margin_loss's out-of-range target: a RuntimeError in torch (nll's is an IndexError)
    theirs = _outcome(lambda: torch.nn.functional.multi_margin_loss(torch.tensor(x), torch.tensor([0, 5, 1])))
    assert _outcome(lambda: F.multi_margin_loss(Tensor(x), np.array([0, 5, 1]))) == theirs
    # kl_div's xlogy: a negative target gives nan, a zero target 0
    t = np.array([[0.5, -0.1, 0.0, 0.4]])
    for reduction in ("none", "sum"):
        want = torch.nn.functional.kl_div(torch.tensor(x[:1]), torch.tensor(t), reduction=reduction).numpy()
        np.testing.assert_allclose(F.kl_div(Tensor(x[:1]), Tensor(t), reduction=reduction).numpy(), want)


def test_poisson_full_target_gradient_equals_torch():
    x, t = np.array([0.1, 0.2, 0.3, 0.4, 0.5]), np.array([0.0, 1.0, 2.0, 0.5, 3.0])
    xt, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    xo, to = Tensor(x.copy(), requires_grad=True), Tensor(t.copy(), requires_grad=True)
    torch.nn.functional.poisson_nll_loss(xt, tt, full=True, reduction="sum").backward()
    with np.errstate(invalid="ignore", divide="ignore"):
        F.poisson_nll_loss(xo, to, full=True, reduction="sum").backward()
    np.testing.assert_allclose(to.grad.numpy(), tt.grad.numpy(), rtol=1e-12)  # nan at target 0, as torch
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_state_dict_hooks_run_as_torchs():
    logs = {}
    for lib in (torch, nn):
        p = torch.nn.Parameter(torch.ones(2)) if lib is torch else nn.Parameter(np.ones(2, np.float32))
        opt = lib.optim.SGD([p], lr=0.1)
        log = logs[lib] = []
        opt.register_state_dict_pre_hook(lambda o, log=log: log.append("pre"))
        opt.register_state_dict_pre_hook(lambda o, log=log: log.append("first"), prepend=True)
        handle = opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
        opt.register_load_state_dict_pre_hook(lambda o, sd: {k: v for k, v in sd.items() if k != "extra"})
        opt.register_load_state_dict_post_hook(lambda o, log=log: log.append("loaded"))
        saved = opt.state_dict()
        opt.load_state_dict(saved)
        handle.remove()
        log.append("extra" in saved)
        log.append("extra" in opt.state_dict())
    assert logs[nn] == logs[torch]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_gradient_at_log_probs_equals_torchs(reduction, zero_infinity):
    """torch's documented use: log_probs = randn(...).log_softmax(2).detach().requires_grad_(); its
    backward folds the softmax term into log_probs' gradient, and so does ours."""
    rng = np.random.default_rng(0)
    lp = torch.tensor(rng.normal(size=(12, 3, 5))).log_softmax(2).numpy()
    targets, target_lengths = rng.integers(1, 5, (3, 4)), np.array([4, 3, 0])
    input_lengths = np.array([2, 10, 7]) if zero_infinity else np.array([12, 10, 7])  # sample 0: impossible
    lt_in, lo_in = torch.tensor(lp, requires_grad=True), Tensor(lp.copy(), requires_grad=True)
    lt = torch.nn.functional.ctc_loss(lt_in, torch.tensor(targets), torch.tensor(input_lengths),
                                      torch.tensor(target_lengths), reduction=reduction, zero_infinity=zero_infinity)
    lo = F.ctc_loss(lo_in, targets, input_lengths, target_lengths, reduction=reduction, zero_infinity=zero_infinity)
    np.testing.assert_allclose(lo.numpy(), lt.detach().numpy(), rtol=1e-10)
    up = rng.normal(size=tuple(lt.shape))
    lt.backward(torch.tensor(up))
    lo.backward(Tensor(up))
    np.testing.assert_allclose(lo_in.grad.numpy(), lt_in.grad.numpy(), rtol=1e-9, atol=1e-12)


# ---- swa_utils ----


def _np(v):
    return np.asarray(v.numpy() if hasattr(v, "numpy") else v, dtype=float)


@pytest.mark.parametrize("kind", ["swa", "ema_multi", "ema", "use_buffers"])
def test_averaged_model_and_update_bn_equal_torch(kind):
    from engine import no_grad

    rng = np.random.default_rng(0)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2)).double()
    om = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).double()
    om.load_state_dict({k: Tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
    ts, os_ = torch.optim.swa_utils, nn.optim.swa_utils
    kw = {"swa": ({}, {}),
          "ema_multi": ({"multi_avg_fn": ts.get_ema_multi_avg_fn(0.9)},
                        {"multi_avg_fn": os_.get_ema_multi_avg_fn(0.9)}),
          "ema": ({"avg_fn": ts.get_ema_avg_fn(0.8)}, {"avg_fn": os_.get_ema_avg_fn(0.8)}),
          "use_buffers": ({"use_buffers": True}, {"use_buffers": True})}[kind]
    t_avg, o_avg = ts.AveragedModel(tm, **kw[0]), os_.AveragedModel(om, **kw[1])
    for step in range(5):
        x = rng.normal(size=(6, 3))
        tm(torch.tensor(x))
        om(Tensor(x))
        with torch.no_grad():
            for p in tm.parameters():
                p.add_(0.1 * step)
        with no_grad():
            for p in om.parameters():
                p.add_(0.1 * step)
        t_avg.update_parameters(tm)
        o_avg.update_parameters(om)
    t_sd, o_sd = t_avg.state_dict(), o_avg.state_dict()
    assert sorted(o_sd) == sorted(t_sd)
    for k in t_sd:
        np.testing.assert_allclose(_np(o_sd[k]), _np(t_sd[k]), rtol=1e-12, atol=1e-14)
    data = [rng.normal(size=(5, 3)) for _ in range(3)]
    ts.update_bn([(torch.tensor(d), 0) for d in data], t_avg)
    os_.update_bn([(Tensor(d), 0) for d in data], o_avg)
    t_sd, o_sd = t_avg.state_dict(), o_avg.state_dict()
    for k in t_sd:
        np.testing.assert_allclose(_np(o_sd[k]), _np(t_sd[k]), rtol=1e-12, atol=1e-14)
    assert repr(o_avg) == repr(t_avg)


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("anneal_epochs", [0, 1, 5])
def test_swalr_equals_torch(strategy, anneal_epochs):
    seqs = {}
    for lib in (torch, nn):
        ps = [torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))] if lib is torch else [
            nn.Parameter(np.ones(2, np.float32)), nn.Parameter(np.ones(2, np.float32))]
        opt = lib.optim.SGD([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}], lr=0.1)
        sched = lib.optim.swa_utils.SWALR(opt, swa_lr=[0.01, 0.02], anneal_epochs=anneal_epochs,
                                          anneal_strategy=strategy)
        seq = [sched.get_last_lr()]
        for _ in range(12):
            opt.step()
            sched.step()
            seq.append(sched.get_last_lr())
        seqs[lib] = (seq, sorted(sched.state_dict()))
    np.testing.assert_allclose(seqs[nn][0], seqs[torch][0], rtol=1e-12)
    assert seqs[nn][1] == seqs[torch][1]


def test_named_parameters_give_param_names_as_torch():
    tm, om = torch.nn.Linear(2, 1), nn.Linear(2, 1)
    theirs = torch.optim.AdamW(tm.named_parameters(), lr=0.1)
    ours = nn.optim.AdamW(om.named_parameters(), lr=0.1)
    assert ours.state_dict()["param_groups"] == theirs.state_dict()["param_groups"]
    assert list(ours.param_groups[0]) == list(theirs.param_groups[0])
    extra_t, extra_o = torch.nn.Parameter(torch.ones(1)), nn.Parameter(np.ones(1, np.float32))
    assert _outcome(lambda: ours.add_param_group({"params": [extra_o]})) == _outcome(
        lambda: theirs.add_param_group({"params": [extra_t]}))
    ours.add_param_group({"params": [("extra", extra_o)], "lr": 0.5})
    assert ours.param_groups[1]["param_names"] == ["extra"]


@pytest.mark.parametrize("case", ["bce_logits_weight", "bce_logits_pos_weight", "bce_weight", "ce_weight",
                                  "nll_weight", "multi_margin_weight"])
def test_weight_that_requires_grad_is_refused_as_torch(case):
    rng = np.random.default_rng(0)
    x, t, w, y = rng.normal(size=(3, 4)), rng.uniform(size=(3, 4)), rng.uniform(0.5, 2, 4), np.array([0, 3, 1])
    p = rng.uniform(0.05, 0.95, (3, 4))
    calls = {
        "bce_logits_weight": lambda L, a: L.binary_cross_entropy_with_logits(a(x), a(t, False), weight=a(w)),
        "bce_logits_pos_weight": lambda L, a: L.binary_cross_entropy_with_logits(a(x), a(t, False), pos_weight=a(w)),
        "bce_weight": lambda L, a: L.binary_cross_entropy(a(p), a(t, False), weight=a(w)),
        "ce_weight": lambda L, a: L.cross_entropy(a(x), y if L is F else torch.tensor(y), weight=a(w)),
        "nll_weight": lambda L, a: L.nll_loss(a(x), y if L is F else torch.tensor(y), weight=a(w)),
        "multi_margin_weight": lambda L, a: L.multi_margin_loss(a(x), y if L is F else torch.tensor(y), weight=a(w)),
    }

    def t_arg(v, grad=True):
        return torch.tensor(v, requires_grad=grad)

    def o_arg(v, grad=True):
        return Tensor(v.copy(), requires_grad=grad)

    theirs = _outcome(lambda: calls[case](torch.nn.functional, t_arg))
    assert theirs[0] == "RuntimeError"
    assert _outcome(lambda: calls[case](F, o_arg)) == theirs


@pytest.mark.parametrize("kw", [{}, {"lr": 0.02, "nesterov": False, "adjust_lr_fn": "match_rms_adamw",
                                     "weight_decay": 0.0}, {"lr": 0.01, "momentum": 0.9}])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_muon_equals_torch(kw, dtype):
    """torch's Newton-Schulz runs in bfloat16; ours rounds each op to bfloat16 the same way."""
    rng = np.random.default_rng(0)
    start = [rng.normal(size=s).astype(dtype) for s in [(4, 6), (7, 3)]]
    ours = [nn.Parameter(a.copy()) for a in start]
    theirs = [torch.nn.Parameter(torch.tensor(a.copy())) for a in start]
    oopt, topt = nn.optim.Muon(ours, **kw), torch.optim.Muon(theirs, **kw)
    assert list(oopt.defaults.items()) == list(topt.defaults.items())
    for step in range(10):
        r = np.random.default_rng(50 + step)
        for p, q in zip(ours, theirs):
            g = r.normal(size=p.shape).astype(dtype)
            p.grad, q.grad = Tensor(g.copy()), torch.tensor(g.copy())
        oopt.step()
        topt.step()
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-6)
    assert _outcome(lambda: nn.optim.Muon([nn.Parameter(np.ones(3))])) == _outcome(
        lambda: torch.optim.Muon([torch.nn.Parameter(torch.ones(3))]))


@pytest.mark.parametrize("build", [
    lambda lr, o: lr.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=40, anneal_strategy="linear"),
    lambda lr, o: lr.OneCycleLR(o, max_lr=1.0, total_steps=30, three_phase=True),
    lambda lr, o: lr.CosineAnnealingWarmRestarts(o, 3, T_mult=2, eta_min=0.001),
    lambda lr, o: lr.CyclicLR(o, 0.01, 0.1, step_size_up=4, mode="exp_range", gamma=0.95),
], ids=["onecycle", "onecycle-three-phase", "warm-restarts", "cyclic"])
def test_scheduler_state_dict_values_equal_torch_and_torchs_loads(build):
    t_opt, o_opt = _sched_pair()
    theirs, ours = build(torch.optim.lr_scheduler, t_opt), build(nn.lr_scheduler, o_opt)
    for _ in range(7):
        t_opt.step()
        theirs.step()
        o_opt.step()
        ours.step()
    t_sd, o_sd = theirs.state_dict(), ours.state_dict()
    assert {k: repr(v) for k, v in o_sd.items() if k != "_scale_fn_custom"} == {
        k: repr(v) for k, v in t_sd.items() if k != "_scale_fn_custom"}
    # torch's scheduler state (and its optimizer's groups) restored into a fresh one of ours
    _, fresh_opt = _sched_pair()
    fresh = build(nn.lr_scheduler, fresh_opt)
    for mine, saved in zip(fresh_opt.param_groups, t_opt.param_groups):
        mine.update({k: v for k, v in saved.items() if k != "params"})
    fresh.load_state_dict(t_sd)
    for _ in range(10):
        t_opt.step()
        theirs.step()
        fresh.step()
        np.testing.assert_allclose(fresh.get_last_lr(), theirs.get_last_lr(), rtol=1e-12)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_elementwise_weight_equals_torch(name, reduction):
    """mse/l1: the weighted mean divides by Σ weight; huber: by the count; the weight's gradient too."""
    rng = np.random.default_rng(0)
    x, t, w = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.uniform(0.5, 2, (3, 4))
    ts = [torch.tensor(a, requires_grad=True) for a in (x, t, w)]
    os_ = [Tensor(a.copy(), requires_grad=True) for a in (x, t, w)]
    lt = getattr(torch.nn.functional, name)(ts[0], ts[1], reduction=reduction, weight=ts[2])
    lo = getattr(F, name)(os_[0], os_[1], reduction=reduction, weight=os_[2])
    np.testing.assert_allclose(lo.numpy(), lt.detach().numpy(), rtol=1e-12)
    up = rng.normal(size=tuple(lt.shape))
    lt.backward(torch.tensor(up))
    lo.backward(Tensor(up))
    for a, b in zip(os_, ts):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-14)
    theirs = _outcome(lambda: getattr(torch.nn.functional, name)(torch.tensor(x), torch.tensor(t),
                                                                 weight=torch.tensor(w[0])))
    assert _outcome(lambda: getattr(F, name)(Tensor(x), Tensor(t), weight=Tensor(w[0]))) == theirs


def test_loss_warnings_as_torchs():
    x, t = np.log(np.full((2, 3), 1 / 3)), np.full((2, 3), 1 / 3)
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(Tensor(x), Tensor(t))
    with pytest.warns(UserWarning, match="elementwise_mean' is deprecated"):
        ours = F.mse_loss(Tensor(x), Tensor(t * 2), reduction="elementwise_mean")
    assert ours.item() == pytest.approx(torch.nn.functional.mse_loss(torch.tensor(x), torch.tensor(t * 2)).item())


def test_margin_loss_shapes_and_errors_equal_torch():
    rng = np.random.default_rng(0)
    a, p, n = (rng.normal(size=(2, 3, 4)) for _ in range(3))
    want = torch.nn.functional.triplet_margin_loss(torch.tensor(a), torch.tensor(p), torch.tensor(n), reduction="none")
    got = F.triplet_margin_loss(Tensor(a), Tensor(p), Tensor(n), reduction="none")
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)  # any rank: distances over the last dim
    x = rng.normal(size=(3, 4))
    pairs = [
        (lambda: torch.nn.functional.triplet_margin_loss(torch.tensor(x), torch.tensor(x[0]), torch.tensor(x)),
         lambda: F.triplet_margin_loss(Tensor(x), Tensor(x[0]), Tensor(x))),
        (lambda: torch.nn.functional.triplet_margin_loss(torch.tensor(x), torch.tensor(x), torch.tensor(x), margin=0.0),
         lambda: F.triplet_margin_loss(Tensor(x), Tensor(x), Tensor(x), margin=0.0)),
        (lambda: torch.nn.functional.multilabel_margin_loss(torch.tensor(x), torch.full((3, 4), 7)),
         lambda: F.multilabel_margin_loss(Tensor(x), np.full((3, 4), 7))),
        (lambda: torch.nn.functional.multi_margin_loss(torch.tensor(x), torch.zeros(3, dtype=torch.long),
                                                       weight=torch.ones(1, 4, dtype=torch.float64)),
         lambda: F.multi_margin_loss(Tensor(x), np.zeros(3, np.int64), weight=Tensor(np.ones((1, 4))))),
    ]
    for theirs, ours in pairs:
        assert _outcome(ours) == _outcome(theirs) != ("ok", "")


def test_scheduler_step_warnings_as_torchs():
    p = nn.Parameter(np.ones(1))
    opt = nn.optim.SGD([p], lr=0.1)
    sched = nn.lr_scheduler.StepLR(opt, 2)
    with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`"):
        sched.step()
    opt = nn.optim.SGD([p], lr=0.1)
    sched = nn.lr_scheduler.StepLR(opt, 2)
    opt.step()
    with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)` was not necessary"):
        sched.step(3)
