"""nn.utils.prune against torch.nn.utils.prune on the same weights: masks (ties included), the
reparametrization (``<name>_orig`` Parameter, ``<name>_mask`` buffer, plain ``<name>``, the pre-hook),
state_dict keys and order, forward outputs, gradients of ``<name>_orig``, iterative pruning through
PruningContainer, remove, global_unstructured, custom_from_mask, the validation errors (types and
messages), loading state_dicts, and training with an optimizer. The random methods use engine's
RNG, so for them counts, structure and seeded determinism are checked."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.utils.prune as tprune  # noqa: E402

import engine  # noqa: E402
import nn  # noqa: E402
import nn.utils.prune as prune  # noqa: E402
from engine import Tensor  # noqa: E402
from tests.nn.parity_helpers import outcome  # noqa: E402


def _pair(kind: str = "linear", seed: int = 0, values=None):
    """A torch module and ours holding the same weights (``values``: a function turning a NumPy
    array into the values wanted, e.g. rounding to make ties)."""
    torch.manual_seed(seed)
    if kind == "linear":
        t, o = torch.nn.Linear(6, 5), nn.Linear(6, 5)
    elif kind == "conv2d":
        t, o = torch.nn.Conv2d(3, 4, 3), nn.Conv2d(3, 4, 3)
    elif kind == "conv1d":
        t, o = torch.nn.Conv1d(3, 4, 5), nn.Conv1d(3, 4, 5)
    else:
        raise ValueError(kind)
    if values is not None:
        with torch.no_grad():
            for p in t.parameters():
                p.copy_(torch.tensor(values(p.detach().numpy())))
    o.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return t, o


def _same_masks(t, o, names=("weight",)):
    for name in names:
        np.testing.assert_array_equal(getattr(o, name + "_mask").numpy(),
                                      getattr(t, name + "_mask").detach().numpy())


def _same_layout(t, o):
    """state_dict keys (in order), parameter and buffer names, and the pre-hooks' classes."""
    assert list(o.state_dict()) == list(t.state_dict())
    assert [n for n, _ in o.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in o.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [type(h).__name__ for h in o._forward_pre_hooks.values()] == [
        type(h).__name__ for h in t._forward_pre_hooks.values()]


def _input(kind: str, seed: int = 1) -> np.ndarray:
    shape = {"linear": (3, 6), "conv2d": (2, 3, 6, 6), "conv1d": (2, 3, 9)}[kind]
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _same_forward(t, o, kind: str) -> None:
    x = _input(kind)
    np.testing.assert_allclose(o(Tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("amount", [0, 3, 30, 0.0, 0.25, 0.3, 0.5, 1.0])
def test_l1_unstructured_reparametrizes_as_torch(amount):
    t, o = _pair()
    w_t, w_o = t.weight, o.weight
    tprune.l1_unstructured(t, "weight", amount=amount)
    assert prune.l1_unstructured(o, "weight", amount=amount) is o
    _same_masks(t, o)
    _same_layout(t, o)
    assert list(o.state_dict()) == ["bias", "weight_orig", "weight_mask"]
    # the Parameter object moves to weight_orig; weight is a plain (non-Parameter) tensor
    assert o.weight_orig is w_o and t.weight_orig is w_t
    assert not isinstance(o.weight, nn.Parameter) and not isinstance(t.weight, torch.nn.Parameter)
    assert o.weight_mask.dtype == np.float32 and not o.weight_mask.requires_grad
    np.testing.assert_array_equal(o.weight.numpy(), t.weight.detach().numpy())
    _same_forward(t, o, "linear")


@pytest.mark.parametrize("kind", ["linear", "conv2d"])
def test_gradient_reaches_orig_through_the_mask(kind):
    t, o = _pair(kind)
    tprune.l1_unstructured(t, "weight", amount=0.4)
    prune.l1_unstructured(o, "weight", amount=0.4)
    x = _input(kind)
    (t(torch.tensor(x)) ** 2).sum().backward()
    (o(Tensor(x)) ** 2).sum().backward()
    np.testing.assert_allclose(o.weight_orig.grad.numpy(), t.weight_orig.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(o.bias.grad.numpy(), t.bias.grad.numpy(), rtol=1e-5, atol=1e-5)
    pruned = o.weight_mask.numpy() == 0
    assert pruned.any() and (o.weight_orig.grad.numpy()[pruned] == 0).all()


def test_the_pre_hook_recomputes_the_weight_before_each_forward():
    t, o = _pair()
    tprune.l1_unstructured(t, "weight", amount=0.5)
    prune.l1_unstructured(o, "weight", amount=0.5)
    with torch.no_grad():
        t.weight_orig.mul_(3.0)
    o.weight_orig.data = o.weight_orig.data * 3.0
    _same_forward(t, o, "linear")
    np.testing.assert_allclose(o.weight.numpy(), t.weight.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("amount", [1, 7, 15, 0.5, 0.9])
def test_l1_ties_pick_torchs_entries(seed, amount):
    # weights with few distinct values: which tied entries are pruned follows torch.topk's algorithm
    t, o = _pair(seed=seed, values=lambda a: np.round(a * 2) / 2)
    tprune.l1_unstructured(t, "weight", amount=amount)
    prune.l1_unstructured(o, "weight", amount=amount)
    _same_masks(t, o)


@pytest.mark.parametrize("n, k", [(10, 3), (20, 7), (100, 30), (200, 2), (1000, 10), (129, 2), (513, 9)])
def test_topk_ties_as_torch(n, k):
    rng = np.random.default_rng(n + k)
    for levels in (1, 2, 3):
        x = rng.integers(0, levels, size=n).astype(np.float32)
        x[rng.random(n) < 0.05] = np.nan
        for largest in (False, True):
            want = sorted(torch.topk(torch.tensor(x), k, largest=largest).indices.tolist())
            assert sorted(prune._topk_indices(Tensor(x), k, largest).tolist()) == want


@pytest.mark.parametrize("kind, dim", [("conv2d", 0), ("conv2d", 1), ("conv2d", -1), ("conv2d", 3),
                                       ("linear", 0), ("linear", 1), ("linear", -2)])
@pytest.mark.parametrize("n", [1, 2, math.inf, -math.inf, 3, 0.5, -1, "fro", "nuc"])
def test_ln_structured_as_torch(kind, dim, n):
    t, o = _pair(kind)
    want = outcome(lambda: tprune.ln_structured(t, "weight", amount=0.5, n=n, dim=dim))
    got = outcome(lambda: prune.ln_structured(o, "weight", amount=0.5, n=n, dim=dim))
    if want[0] != "OK":
        assert got == want
        assert list(o.state_dict()) == list(t.state_dict())  # the failure put the Parameter back (torch's order)
        return
    assert got[0] == "OK"
    _same_masks(t, o)
    _same_layout(t, o)
    _same_forward(t, o, kind)


def test_ln_structured_nuclear_norm_on_a_3d_weight():
    t, o = _pair("conv1d")
    tprune.ln_structured(t, "weight", amount=2, n="nuc", dim=0)
    prune.ln_structured(o, "weight", amount=2, n="nuc", dim=0)
    _same_masks(t, o)
    _same_forward(t, o, "conv1d")


@pytest.mark.parametrize("dim", [0, 1])
def test_ln_structured_ties_as_torch(dim):
    # all-equal channels: every norm ties, the kept channels are torch.topk's choice
    t, o = _pair("conv2d", values=lambda a: np.ones_like(a))
    tprune.ln_structured(t, "weight", amount=1, n=1, dim=dim)
    prune.ln_structured(o, "weight", amount=1, n=1, dim=dim)
    _same_masks(t, o)


def test_importance_scores_choose_the_entries():
    t, o = _pair()
    scores = np.random.default_rng(3).standard_normal((5, 6)).astype(np.float32)
    tprune.l1_unstructured(t, "weight", amount=10, importance_scores=torch.tensor(scores))
    prune.l1_unstructured(o, "weight", amount=10, importance_scores=Tensor(scores))
    _same_masks(t, o)
    t2, o2 = _pair("conv2d")
    s2 = np.random.default_rng(4).standard_normal((4, 3, 3, 3)).astype(np.float32)
    tprune.ln_structured(t2, "weight", amount=2, n=2, dim=1, importance_scores=torch.tensor(s2))
    prune.ln_structured(o2, "weight", amount=2, n=2, dim=1, importance_scores=Tensor(s2))
    _same_masks(t2, o2)


def test_iterative_pruning_combines_masks_in_a_container():
    t, o = _pair("conv2d")
    steps = [(tprune.l1_unstructured, prune.l1_unstructured, dict(amount=0.3)),
             (tprune.ln_structured, prune.ln_structured, dict(amount=1, n=2, dim=0)),
             (tprune.l1_unstructured, prune.l1_unstructured, dict(amount=5)),
             (tprune.ln_structured, prune.ln_structured, dict(amount=0.5, n=1, dim=1)),
             (tprune.l1_unstructured, prune.l1_unstructured, dict(amount=0.2))]
    for tf, of, kw in steps:
        tf(t, "weight", **kw)
        of(o, "weight", **kw)
        _same_masks(t, o)
        _same_layout(t, o)
    hook = next(iter(o._forward_pre_hooks.values()))
    assert isinstance(hook, prune.PruningContainer) and len(hook) == 5
    assert [type(m).__name__ for m in hook] == [type(m).__name__ for m in next(iter(t._forward_pre_hooks.values()))]
    _same_forward(t, o, "conv2d")


def test_iterative_pruning_amount_applies_to_the_units_left():
    t, o = _pair()
    for f in (tprune, prune):
        m = t if f is tprune else o
        f.l1_unstructured(m, "weight", amount=10)
        f.l1_unstructured(m, "weight", amount=0.5)  # half of the 20 left
    _same_masks(t, o)
    assert int((o.weight_mask.numpy() == 0).sum()) == 20


def test_remove_makes_pruning_permanent():
    t, o = _pair()
    tprune.l1_unstructured(t, "weight", amount=0.5)
    prune.l1_unstructured(o, "weight", amount=0.5)
    tprune.ln_structured(t, "weight", amount=1, n=2, dim=1)
    prune.ln_structured(o, "weight", amount=1, n=2, dim=1)
    orig = o.weight_orig
    tprune.remove(t, "weight")
    assert prune.remove(o, "weight") is o
    assert o.weight is orig and isinstance(o.weight, nn.Parameter)
    assert list(o.state_dict()) == list(t.state_dict()) == ["bias", "weight"]
    assert [n for n, _ in o.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert list(o.named_buffers()) == [] and len(o._forward_pre_hooks) == 0
    np.testing.assert_array_equal(o.weight.numpy(), t.weight.detach().numpy())
    assert not prune.is_pruned(o) and not tprune.is_pruned(t)
    _same_forward(t, o, "linear")


def test_remove_without_pruning_raises_as_torch():
    t, o = _pair()
    want, got = outcome(lambda: tprune.remove(t, "weight")), outcome(lambda: prune.remove(o, "weight"))
    assert want[0] is ValueError and got[0] is ValueError
    assert got[1] == "Parameter 'weight' of module Linear(in_features=6, out_features=5, bias=True) has to be " \
                     "pruned before pruning can be removed"
    assert want[1] == got[1]


def test_global_unstructured_as_torch():
    pairs = [_pair("linear", 0), _pair("conv2d", 1), _pair("linear", 2)]
    t_mods, o_mods = [p[0] for p in pairs], [p[1] for p in pairs]
    tprune.l1_unstructured(t_mods[2], "weight", amount=0.5)  # already pruned: its mask carries over
    prune.l1_unstructured(o_mods[2], "weight", amount=0.5)
    scores = np.random.default_rng(5).standard_normal((4, 3, 3, 3)).astype(np.float32)
    t_params = [(t_mods[0], "weight"), (t_mods[1], "weight"), (t_mods[2], "weight"), (t_mods[0], "bias")]
    o_params = [(o_mods[0], "weight"), (o_mods[1], "weight"), (o_mods[2], "weight"), (o_mods[0], "bias")]
    assert tprune.global_unstructured(t_params, tprune.L1Unstructured, amount=0.4,
                                      importance_scores={(t_mods[1], "weight"): torch.tensor(scores)}) is None
    assert prune.global_unstructured(o_params, prune.L1Unstructured, amount=0.4,
                                     importance_scores={(o_mods[1], "weight"): Tensor(scores)}) is None
    for t, o in zip(t_mods, o_mods):
        _same_masks(t, o)
        _same_layout(t, o)
    _same_masks(t_mods[0], o_mods[0], ("bias",))
    total = sum(int((m.weight_mask.numpy() == 0).sum()) for m in o_mods) + int((o_mods[0].bias_mask.numpy() == 0).sum())
    assert total == sum(int((m.weight_mask == 0).sum()) for m in t_mods) + int((t_mods[0].bias_mask == 0).sum())


def test_global_unstructured_int_amount_and_errors():
    (t1, o1), (t2, o2) = _pair("linear", 3), _pair("linear", 4)
    tprune.global_unstructured([(t1, "weight"), (t2, "weight")], tprune.L1Unstructured, amount=17)
    prune.global_unstructured([(o1, "weight"), (o2, "weight")], prune.L1Unstructured, amount=17)
    _same_masks(t1, o1)
    _same_masks(t2, o2)
    (t3, o3) = _pair("linear", 5)
    cases = [
        (lambda f, m: f.global_unstructured([(m, "weight")], f.RandomStructured, amount=1)),
        (lambda f, m: f.global_unstructured(5, f.L1Unstructured, amount=1)),
        (lambda f, m: f.global_unstructured([(m, "weight")], f.L1Unstructured, importance_scores=[1], amount=1)),
        (lambda f, m: f.global_unstructured([(m, "weight")], f.L1Unstructured, amount=31)),
    ]
    for case in cases:
        want, got = outcome(lambda c=case: c(tprune, t3)), outcome(lambda c=case: c(prune, o3))
        assert want[0] != "OK" and got[0] is want[0]
        if want[0] is TypeError and "of type structured" not in want[1]:  # the class repr differs
            assert got[1] == want[1]


def test_custom_from_mask_combines_with_earlier_pruning():
    t, o = _pair()
    m = (np.random.default_rng(6).random((5, 6)) > 0.4).astype(np.float32)
    tprune.custom_from_mask(t, "weight", mask=torch.tensor(m))
    assert prune.custom_from_mask(o, "weight", mask=Tensor(m)) is o
    _same_masks(t, o)
    tprune.l1_unstructured(t, "weight", amount=0.3)
    prune.l1_unstructured(o, "weight", amount=0.3)
    tprune.custom_from_mask(t, "weight", mask=torch.tensor(m[::-1].copy()))
    prune.custom_from_mask(o, "weight", mask=Tensor(m[::-1].copy()))
    _same_masks(t, o)
    _same_layout(t, o)
    bad = outcome(lambda: prune.CustomFromMask(Tensor.ones(2, 2)).compute_mask(Tensor.ones(3), Tensor.ones(3)))
    tbad = outcome(lambda: tprune.CustomFromMask(torch.ones(2, 2)).compute_mask(torch.ones(3), torch.ones(3)))
    assert bad == tbad


def test_identity_and_is_pruned():
    t, o = _pair()
    tprune.identity(t, "bias")
    prune.identity(o, "bias")
    _same_masks(t, o, ("bias",))
    _same_layout(t, o)
    assert (o.bias_mask.numpy() == 1).all()
    seq_t = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
    seq_o = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    assert prune.is_pruned(seq_o) == tprune.is_pruned(seq_t) is False
    tprune.identity(seq_t[0], "weight")
    prune.identity(seq_o[0], "weight")
    assert prune.is_pruned(seq_o) == tprune.is_pruned(seq_t) is True
    assert list(seq_o.state_dict()) == list(seq_t.state_dict())


def _amount_cases():
    return [
        lambda f, m: f.l1_unstructured(m, "weight", amount=31),  # more than the 30 entries
        lambda f, m: f.l1_unstructured(m, "weight", amount=-1),
        lambda f, m: f.l1_unstructured(m, "weight", amount=1.5),
        lambda f, m: f.l1_unstructured(m, "weight", amount=-0.1),
        lambda f, m: f.l1_unstructured(m, "weight", amount="0.5"),
        lambda f, m: f.random_unstructured(m, "weight", amount=40),
        lambda f, m: f.ln_structured(m, "weight", amount=6, n=2, dim=0),  # 5 rows
        lambda f, m: f.ln_structured(m, "weight", amount=1, n=2, dim=2),  # no dim 2
        lambda f, m: f.random_structured(m, "weight", amount=1, dim=5),
        lambda f, m: f.ln_structured(m, "bias", amount=1, n=2, dim=0),  # 1-D: not structured
        lambda f, m: f.random_structured(m, "bias", amount=1, dim=0),
        lambda f, m: f.l1_unstructured(m, "wieght", amount=1),  # no such parameter
        lambda f, m: f.l1_unstructured(m, "weight", amount=1, importance_scores=f_ones(f, 6, 5)),
        lambda f, m: f.custom_from_mask(m, "weight", mask=f_ones(f, 30)),
        lambda f, m: f.l1_unstructured(m, "weight", amount=True),  # a bool reaches topk's k
        lambda f, m: f.random_unstructured(m, "weight", amount=True),
        lambda f, m: f.random_structured(m, "weight", amount=True, dim=0),
        lambda f, m: f.l1_unstructured(m, "weight", amount=None),
    ]


def f_ones(f, *shape):
    return torch.ones(*shape) if f is tprune else Tensor.ones(*shape)


@pytest.mark.parametrize("case", range(len(_amount_cases())))
def test_errors_as_torch(case):
    fn = _amount_cases()[case]
    t, o = _pair()
    want, got = outcome(lambda: fn(tprune, t)), outcome(lambda: fn(prune, o))
    assert want[0] is not None and want[0] != "OK"
    assert got == want  # same type, same message
    # a failed first pruning leaves the module unpruned (the Parameter back, at the end as in torch)
    assert list(o.state_dict()) == list(t.state_dict())
    assert [n for n, _ in o.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert prune.is_pruned(o) == tprune.is_pruned(t)


def test_pruning_a_missing_bias_fails_as_torch():
    t, o = torch.nn.Linear(3, 2, bias=False), nn.Linear(3, 2, bias=False)
    want = outcome(lambda: tprune.l1_unstructured(t, "bias", 1))
    got = outcome(lambda: prune.l1_unstructured(o, "bias", 1))
    assert want[0] is TypeError and got == want
    # torch had moved the None slot to bias_orig before failing: so do we
    assert list(o._parameters) == list(t._parameters) == ["weight", "bias_orig"] and o.bias_orig is None


def test_failed_second_pruning_leaves_what_torch_leaves():
    t, o = _pair()
    tprune.l1_unstructured(t, "weight", amount=10)
    prune.l1_unstructured(o, "weight", amount=10)
    want = outcome(lambda: tprune.l1_unstructured(t, "weight", amount=25))  # only 20 left
    got = outcome(lambda: prune.l1_unstructured(o, "weight", amount=25))
    assert got == want and want[0] is ValueError
    assert list(o.state_dict()) == list(t.state_dict())
    assert prune.is_pruned(o) == tprune.is_pruned(t)  # torch drops the hook
    _same_masks(t, o)


class _Bad:
    """A pruning method whose PRUNING_TYPE the container does not know, built on each side."""

    @staticmethod
    def make(f, kind):
        class Bad(f.BasePruningMethod):
            PRUNING_TYPE = kind

            def compute_mask(self, t, default_mask):
                return default_mask

        return Bad


@pytest.mark.parametrize("kind", ["bogus", "structured"])
def test_container_rejects_unknown_pruning_type(kind):
    t, o = _pair()
    tprune.l1_unstructured(t, "weight", amount=3)
    prune.l1_unstructured(o, "weight", amount=3)
    want = outcome(lambda: _Bad.make(tprune, kind).apply(t, "weight"))
    got = outcome(lambda: _Bad.make(prune, kind).apply(o, "weight"))
    assert got == want and want[0] in (ValueError, AttributeError)
    assert list(o.state_dict()) == list(t.state_dict())


def test_container_and_base_class_errors():
    for f, ones in ((tprune, torch.ones), (prune, Tensor.ones)):
        a = f.L1Unstructured(amount=1)
        a._tensor_name = "weight"
        c = f.PruningContainer(a)
        with pytest.raises(TypeError, match="is not a BasePruningMethod subclass"):
            c.add_pruning_method(3)
        b = f.L1Unstructured(amount=1)
        b._tensor_name = "bias"
        with pytest.raises(ValueError, match="Can only add pruning methods acting on the parameter named 'weight'"):
            c.add_pruning_method(b)
        with pytest.raises(AttributeError):  # several methods, no name set first
            f.PruningContainer(a, a)
        with pytest.raises(TypeError):  # abstract
            f.BasePruningMethod()
        with pytest.raises(AssertionError, match="importance_scores should have the same shape as tensor t"):
            f.L1Unstructured(amount=1).prune(ones(3), importance_scores=ones(4))
    for name in ["Identity", "RandomUnstructured", "L1Unstructured", "RandomStructured", "LnStructured",
                 "CustomFromMask"]:
        assert getattr(prune, name).PRUNING_TYPE == getattr(tprune, name).PRUNING_TYPE


def test_prune_and_compute_mask_called_directly():
    w = np.random.default_rng(7).standard_normal((4, 5)).astype(np.float32)
    dm = (np.random.default_rng(8).random((4, 5)) > 0.3).astype(np.float32)
    for tm, om in [(tprune.L1Unstructured(0.4), prune.L1Unstructured(0.4)),
                   (tprune.LnStructured(2, 1, dim=1), prune.LnStructured(2, 1, dim=1)),
                   (tprune.Identity(), prune.Identity())]:
        np.testing.assert_array_equal(om.compute_mask(Tensor(w), Tensor(dm)).numpy(),
                                      tm.compute_mask(torch.tensor(w), torch.tensor(dm)).numpy())
        np.testing.assert_array_equal(om.prune(Tensor(w)).numpy(), tm.prune(torch.tensor(w)).numpy())
        np.testing.assert_array_equal(om.prune(Tensor(w), default_mask=Tensor(dm)).numpy(),
                                      tm.prune(torch.tensor(w), default_mask=torch.tensor(dm)).numpy())


@pytest.mark.parametrize("amount, size", [(0.25, 10), (0.35, 10), (0.5, 5), (0.15, 10), (0.05, 30)])
def test_float_amount_rounds_as_python_round(amount, size):
    assert prune._compute_nparams_toprune(amount, size) == tprune._compute_nparams_toprune(amount, size)
    w = np.random.default_rng(size).standard_normal(size).astype(np.float32)
    got = prune.L1Unstructured(amount).compute_mask(Tensor(w), Tensor.ones(size))
    want = tprune.L1Unstructured(amount).compute_mask(torch.tensor(w), torch.ones(size))
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_random_unstructured_counts_and_seeded_determinism():
    t, o = _pair("conv2d")
    tprune.random_unstructured(t, "weight", amount=0.3)
    engine.manual_seed(123)
    prune.random_unstructured(o, "weight", amount=0.3)
    _same_layout(t, o)
    mask = o.weight_mask.numpy()
    assert mask.shape == (4, 3, 3, 3) and set(np.unique(mask)) <= {0.0, 1.0}
    assert int((mask == 0).sum()) == int((t.weight_mask == 0).sum()) == round(0.3 * 108)
    _, o2 = _pair("conv2d")
    engine.manual_seed(123)
    prune.random_unstructured(o2, "weight", amount=0.3)
    np.testing.assert_array_equal(o2.weight_mask.numpy(), mask)
    prune.random_unstructured(o, "weight", amount=10)  # 10 more among the 76 left
    tprune.random_unstructured(t, "weight", amount=10)
    assert int((o.weight_mask.numpy() == 0).sum()) == int((t.weight_mask == 0).sum()) == 42
    assert (o.weight_mask.numpy()[mask == 0] == 0).all()


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_random_structured_prunes_whole_channels(dim):
    t, o = _pair("conv2d")
    tprune.random_structured(t, "weight", amount=0.5, dim=dim)
    engine.manual_seed(7)
    prune.random_structured(o, "weight", amount=0.5, dim=dim)
    _same_layout(t, o)
    mask = o.weight_mask.numpy()
    per_channel = np.moveaxis(mask, dim, 0).reshape(mask.shape[dim], -1)
    assert all(row.min() == row.max() for row in per_channel)  # each channel all kept or all pruned
    zero = int((per_channel.max(1) == 0).sum())
    t_mask = np.moveaxis(t.weight_mask.numpy(), dim, 0).reshape(mask.shape[dim], -1)
    assert zero == int((t_mask.max(1) == 0).sum()) == round(0.5 * mask.shape[dim])
    _, o2 = _pair("conv2d")
    engine.manual_seed(7)
    prune.random_structured(o2, "weight", amount=0.5, dim=dim)
    np.testing.assert_array_equal(o2.weight_mask.numpy(), mask)


def test_state_dict_loads_into_a_pruned_model_and_not_into_an_unpruned_one():
    t, o = _pair()
    tprune.l1_unstructured(t, "weight", amount=0.5)
    prune.l1_unstructured(o, "weight", amount=0.5)
    sd = {k: v.detach().numpy() for k, v in t.state_dict().items()}
    # a pruned model loads a pruned state_dict (another mask, another orig)
    _, o2 = _pair(seed=9)
    t2 = torch.nn.Linear(6, 5)
    tprune.l1_unstructured(t2, "weight", amount=3)
    prune.l1_unstructured(o2, "weight", amount=3)
    assert tuple(o2.load_state_dict(sd)) == tuple(t2.load_state_dict(t.state_dict())) == ([], [])
    _same_masks(t, o2)
    _same_forward(t, o2, "linear")
    # an unpruned model: weight missing, weight_orig and weight_mask unexpected, as torch
    t3, o3 = torch.nn.Linear(6, 5), nn.Linear(6, 5)
    want = t3.load_state_dict(t.state_dict(), strict=False)
    got = o3.load_state_dict(sd, strict=False)
    assert (got.missing_keys, got.unexpected_keys) == (want.missing_keys, want.unexpected_keys)
    assert outcome(lambda: o3.load_state_dict(sd)) == outcome(lambda: t3.load_state_dict(t.state_dict()))
    # and an unpruned state_dict into a pruned model
    plain = {k: v.detach().numpy() for k, v in t3.state_dict().items()}
    want = t.load_state_dict(t3.state_dict(), strict=False)
    got = o.load_state_dict(plain, strict=False)
    assert (got.missing_keys, got.unexpected_keys) == (want.missing_keys, want.unexpected_keys)


def test_to_double_keeps_pruning():
    t, o = _pair()
    tprune.l1_unstructured(t, "weight", amount=0.5)
    prune.l1_unstructured(o, "weight", amount=0.5)
    t.double()
    o.to(np.float64)
    assert o.weight_mask.dtype == np.float64 and o.weight_orig.dtype == np.float64
    x = _input("linear").astype(np.float64)
    np.testing.assert_allclose(o(Tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-12)
    assert o.weight.dtype == np.float64
    _same_layout(t, o)


def test_optimizer_trains_orig_and_masked_entries_stay_zero():
    t, o = _pair()
    tprune.l1_unstructured(t, "weight", amount=0.5)
    prune.l1_unstructured(o, "weight", amount=0.5)
    t_opt = torch.optim.SGD(t.parameters(), lr=0.1, momentum=0.9)
    o_opt = nn.optim.SGD(o.parameters(), lr=0.1, momentum=0.9)
    x = _input("linear")
    y = np.random.default_rng(2).standard_normal((3, 5)).astype(np.float32)
    for _ in range(4):
        t_opt.zero_grad()
        ((t(torch.tensor(x)) - torch.tensor(y)) ** 2).mean().backward()
        t_opt.step()
        o_opt.zero_grad()
        ((o(Tensor(x)) - Tensor(y)) ** 2).mean().backward()
        o_opt.step()
    np.testing.assert_allclose(o.weight_orig.numpy(), t.weight_orig.detach().numpy(), rtol=1e-5, atol=1e-6)
    o(Tensor(x))  # the hook refreshes weight from the trained orig
    pruned = o.weight_mask.numpy() == 0
    assert (o.weight.numpy()[pruned] == 0).all() and (o.weight.numpy()[~pruned] != 0).all()
    np.testing.assert_allclose(o.weight.numpy(), o.weight_orig.numpy() * o.weight_mask.numpy())


def test_two_tensors_of_one_module_and_remove_order():
    t, o = _pair("conv2d")
    for f, m in ((tprune, t), (prune, o)):
        f.l1_unstructured(m, "weight", amount=0.2)
        f.l1_unstructured(m, "bias", amount=2)
        f.ln_structured(m, "weight", amount=1, n=math.inf, dim=0)
    _same_masks(t, o, ("weight", "bias"))
    _same_layout(t, o)
    for f, m in ((tprune, t), (prune, o)):
        f.remove(m, "bias")
    _same_layout(t, o)
    _same_forward(t, o, "conv2d")
