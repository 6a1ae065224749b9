"""nn.utils.parametrize, nn.utils.parametrizations (weight_norm, spectral_norm, orthogonal) and the
older hook-based nn.utils.weight_norm / spectral_norm, against torch: class names, state_dict keys,
repr, errors, and outputs and gradients (float64, torch's autograd the oracle) over several
optimizer steps after copying torch's parameters and buffers in."""

import copy
import pickle
import warnings

import numpy as np
import pytest

import nn
import nn.utils.parametrizations as PZ
import nn.utils.parametrize as P
from engine import Tensor

torch = pytest.importorskip("torch")
TP = torch.nn.utils.parametrize
TPZ = torch.nn.utils.parametrizations
pytestmark = pytest.mark.parity

TOL = dict(rtol=1e-9, atol=1e-11)


def _np(t):
    return t.detach().numpy()


class Sym(nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).mT


class TSym(torch.nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).mT


class Skew(nn.Module):
    def forward(self, X):
        A = X.triu(1)
        return A - A.mT

    def right_inverse(self, A):
        return A.triu(1)


class TSkew(torch.nn.Module):
    def forward(self, X):
        A = X.triu(1)
        return A - A.mT

    def right_inverse(self, A):
        return A.triu(1)


class Split(nn.Module):  # right_inverse returns a pair: original0 / original1
    def forward(self, a, b):
        return a * b.exp()

    def right_inverse(self, W):
        return W, W * 0


class TSplit(torch.nn.Module):
    def forward(self, a, b):
        return a * b.exp()

    def right_inverse(self, W):
        return W, torch.zeros_like(W)


def _pair(tcls, ocls, *args):
    torch.manual_seed(0)
    tm = tcls(*args).double()
    om = ocls(*args).double()
    om.load_state_dict({k: _np(v) for k, v in tm.state_dict().items()})
    return tm, om


def _copy_all(tm, om):
    """torch's state (originals and buffers: spectral norm's _u/_v, orthogonal's base) into ours."""
    assert list(tm.state_dict()) == list(om.state_dict())
    res = om.load_state_dict({k: _np(v) for k, v in tm.state_dict().items()})
    assert not res.missing_keys and not res.unexpected_keys


def _train_and_compare(tm, om, x, steps=3, train=True):
    """Forward, backward of sum(y**2) and an SGD step, ``steps`` times: outputs, input and
    parameter gradients and buffers equal torch's at every step."""
    tm.train(train)
    om.train(train)
    topt = torch.optim.SGD(tm.parameters(), lr=0.1)
    oopt = nn.optim.SGD(om.parameters(), lr=0.1)
    for _ in range(steps):
        tx, ox = torch.tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
        ty, oy = tm(tx), om(ox)
        np.testing.assert_allclose(oy.numpy(), _np(ty), **TOL)
        (ty ** 2).sum().backward()
        (oy ** 2).sum().backward()
        np.testing.assert_allclose(ox.grad.numpy(), _np(tx.grad), **TOL)
        tps, ops = list(tm.named_parameters()), list(om.named_parameters())
        assert [n for n, _ in tps] == [n for n, _ in ops]
        for (n, p), (_, q) in zip(tps, ops):
            np.testing.assert_allclose(q.grad.numpy(), _np(p.grad), err_msg=n, **TOL)
        for (n, b), (_, c) in zip(tm.named_buffers(), om.named_buffers()):
            np.testing.assert_allclose(c.numpy(), _np(b), err_msg=n, **TOL)
        topt.step()
        oopt.step()
        topt.zero_grad()
        oopt.zero_grad()


# ---- parametrize ---------------------------------------------------------------------------------
def test_register_layout_and_gradients_as_torch():
    tm, om = _pair(torch.nn.Linear, nn.Linear, 3, 3)
    assert TP.register_parametrization(tm, "weight", TSym()) is tm
    assert P.register_parametrization(om, "weight", Sym()) is om
    assert type(om).__name__ == type(tm).__name__ == "ParametrizedLinear"
    assert isinstance(om, nn.Linear)
    assert list(om.state_dict()) == list(tm.state_dict()) == ["bias", "parametrizations.weight.original"]
    assert [n for n, _ in om.named_modules()] == [n for n, _ in tm.named_modules()]
    assert type(om.parametrizations).__name__ == "ModuleDict"
    assert type(om.parametrizations.weight).__name__ == "ParametrizationList"
    assert repr(om) == repr(tm).replace("TSym", "Sym")
    assert P.is_parametrized(om) and P.is_parametrized(om, "weight") and not P.is_parametrized(om, "bias")
    assert not P.is_parametrized(nn.Linear(2, 2))
    assert P.type_before_parametrizations(om) is nn.Linear
    _train_and_compare(tm, om, np.random.default_rng(0).standard_normal((4, 3)))
    np.testing.assert_allclose(om.weight.numpy(), om.weight.numpy().T)


def test_right_inverse_on_registration_and_assignment_and_chain():
    tm, om = _pair(torch.nn.Linear, nn.Linear, 4, 4)
    TP.register_parametrization(tm, "weight", TSkew())
    P.register_parametrization(om, "weight", Skew())
    np.testing.assert_allclose(om.parametrizations.weight.original.numpy(), _np(tm.parametrizations.weight.original))
    original = om.parametrizations.weight.original
    W = np.random.default_rng(1).standard_normal((4, 4))
    tm.weight = torch.tensor(W)
    om.weight = Tensor(W)
    assert om.parametrizations.weight.original is original  # the same Parameter takes the value (torch's set_)
    np.testing.assert_allclose(original.numpy(), _np(tm.parametrizations.weight.original))
    TP.register_parametrization(tm, "weight", TSym(), unsafe=True)
    P.register_parametrization(om, "weight", Sym(), unsafe=True)
    assert len(om.parametrizations.weight) == 2 and om.parametrizations.weight.unsafe
    np.testing.assert_allclose(om.weight.numpy(), _np(tm.weight))
    _train_and_compare(tm, om, np.random.default_rng(2).standard_normal((3, 4)), steps=2)


def test_assignment_without_right_inverse_raises_as_torch():
    om = P.register_parametrization(nn.Linear(3, 3), "weight", Sym())
    tm = TP.register_parametrization(torch.nn.Linear(3, 3), "weight", TSym())
    with pytest.raises(RuntimeError, match="parametrization TSym does not implement right_inverse"):
        tm.weight = torch.eye(3)
    with pytest.raises(RuntimeError, match="parametrization Sym does not implement right_inverse"):
        om.weight = Tensor(np.eye(3, dtype=np.float32))
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        tm.weight = torch.nn.Parameter(torch.eye(3))
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        om.weight = nn.Parameter(np.eye(3, dtype=np.float32))


def test_sequence_right_inverse_gives_original0_original1():
    tm, om = _pair(torch.nn.Linear, nn.Linear, 3, 2)
    TP.register_parametrization(tm, "weight", TSplit())
    P.register_parametrization(om, "weight", Split())
    assert list(om.state_dict()) == list(tm.state_dict()) == [
        "bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    _train_and_compare(tm, om, np.random.default_rng(3).standard_normal((4, 3)), steps=2)
    with pytest.raises(ValueError, match="Cannot leave unparametrized"):
        TP.remove_parametrizations(tm, "weight", leave_parametrized=False)
    with pytest.raises(ValueError, match="Cannot leave unparametrized"):
        P.remove_parametrizations(om, "weight", leave_parametrized=False)
    TP.remove_parametrizations(tm, "weight")
    P.remove_parametrizations(om, "weight")
    assert type(om) is nn.Linear and list(om.state_dict()) == list(tm.state_dict()) == ["bias", "weight"]
    assert isinstance(om.weight, nn.Parameter)
    np.testing.assert_allclose(om.weight.numpy(), _np(tm.weight), **TOL)


@pytest.mark.parametrize("leave", [True, False])
def test_remove_parametrizations_as_torch(leave):
    tm, om = _pair(torch.nn.Linear, nn.Linear, 3, 3)
    TP.register_parametrization(tm, "weight", TSym())
    P.register_parametrization(om, "weight", Sym())
    original = om.parametrizations.weight.original
    assert TP.remove_parametrizations(tm, "weight", leave_parametrized=leave) is tm
    assert P.remove_parametrizations(om, "weight", leave_parametrized=leave) is om
    assert type(om) is nn.Linear and not hasattr(om, "parametrizations")
    assert om.weight is original  # the original Parameter object comes back (optimizers keep it)
    assert list(om.state_dict()) == list(tm.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(om.weight.numpy(), _np(tm.weight))


def test_errors_as_torch():
    for M, PP in ((torch.nn, TP), (nn, P)):
        with pytest.raises(ValueError, match="does not have a parametrization on weight"):
            PP.remove_parametrizations(M.Linear(2, 2), "weight")
        with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized element "
                                             "with name 'foo'"):
            PP.register_parametrization(M.Linear(2, 2), "foo", M.Identity())

    class Half(nn.Module):
        def forward(self, X):
            return X[:1]

    class THalf(torch.nn.Module):
        def forward(self, X):
            return X[:1]

    msg = "Registering a parametrization may not change the shape of the tensor, unless `unsafe` flag is enabled"
    with pytest.raises(ValueError, match=msg):
        TP.register_parametrization(torch.nn.Linear(2, 2), "weight", THalf())
    with pytest.raises(ValueError, match=msg):
        P.register_parametrization(nn.Linear(2, 2), "weight", Half())
    P.register_parametrization(nn.Linear(2, 2), "weight", Half(), unsafe=True)


def test_cached_and_buffers_and_train_mode():
    om = P.register_parametrization(nn.Linear(3, 3), "weight", Sym())
    assert om.weight is not om.weight
    with P.cached():
        with P.cached():
            w = om.weight
        assert om.weight is w
    assert om.weight is not w

    class TB(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("b", torch.ones(3, 3))

    class OB(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("b", Tensor(np.ones((3, 3), dtype=np.float32)))

    tb, ob = TP.register_parametrization(TB(), "b", TSym()), P.register_parametrization(OB(), "b", Sym())
    assert type(ob).__name__ == "ParametrizedOB" and type(tb).__name__ == "ParametrizedTB"
    assert list(ob.state_dict()) == list(tb.state_dict()) == ["parametrizations.b.original"]
    assert [n for n, _ in ob.named_buffers()] == [n for n, _ in tb.named_buffers()]
    assert list(ob.parameters()) == []
    m = nn.Linear(2, 2).eval()
    P.register_parametrization(m, "weight", Sym())
    assert not m.parametrizations.weight[0].training  # follows the module, as torch


def test_deepcopy_state_dict_load_and_pickle():
    tm, om = _pair(torch.nn.Linear, nn.Linear, 3, 3)
    TP.register_parametrization(tm, "weight", TSym())
    P.register_parametrization(om, "weight", Sym())
    twin = copy.deepcopy(om)
    assert type(twin).__name__ == "ParametrizedLinear"
    assert twin.parametrizations.weight.original is not om.parametrizations.weight.original
    np.testing.assert_allclose(twin.weight.numpy(), om.weight.numpy())
    fresh = P.register_parametrization(nn.Linear(3, 3).double(), "weight", Sym())
    fresh.load_state_dict({k: _np(v) for k, v in tm.state_dict().items()})
    np.testing.assert_allclose(fresh.weight.numpy(), _np(tm.weight))
    with pytest.raises(RuntimeError, match="Serialization of parametrized modules is only supported through "
                                           "state_dict"):
        pickle.dumps(om)


# ---- parametrizations.weight_norm / spectral_norm / orthogonal ----------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1, -2, None])
def test_weight_norm_as_torch(dim):
    tm, om = _pair(torch.nn.Linear, nn.Linear, 4, 3)
    TPZ.weight_norm(tm, dim=dim)
    PZ.weight_norm(om, dim=dim)
    assert list(om.state_dict()) == list(tm.state_dict()) == [
        "bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    for k, v in tm.state_dict().items():  # g = ||v|| per slice, computed at registration
        np.testing.assert_allclose(om.state_dict()[k], _np(v), **TOL)
    assert repr(om) == repr(tm)
    _train_and_compare(tm, om, np.random.default_rng(4).standard_normal((5, 4)))


def test_weight_norm_conv_and_bias_and_old_checkpoint():
    tm, om = _pair(torch.nn.Conv2d, nn.Conv2d, 2, 3, 3)
    TPZ.weight_norm(tm)
    PZ.weight_norm(om)
    _train_and_compare(tm, om, np.random.default_rng(5).standard_normal((2, 2, 5, 5)), steps=2)
    tm, om = _pair(torch.nn.Linear, nn.Linear, 4, 3)
    TPZ.weight_norm(tm, "bias")
    PZ.weight_norm(om, "bias")
    _train_and_compare(tm, om, np.random.default_rng(6).standard_normal((5, 4)), steps=2)
    # a state_dict of the older weight_norm (weight_g, weight_v) loads, as torch's compat hook
    old, new = torch.nn.Linear(4, 3).double(), PZ.weight_norm(nn.Linear(4, 3).double())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.nn.utils.weight_norm(old)
    assert repr(new.load_state_dict({k: _np(v) for k, v in old.state_dict().items()})) == \
        "<All keys matched successfully>"
    np.testing.assert_allclose(new.weight.numpy(), _np(old.weight_v), **TOL)


@pytest.mark.parametrize("kind", ["linear", "conv", "convT"])
@pytest.mark.parametrize("kw", [{}, {"n_power_iterations": 3}, {"dim": 1}, {"eps": 1e-3}])
def test_spectral_norm_several_training_steps_as_torch(kind, kw):
    tcls, ocls, args, xshape = {"linear": (torch.nn.Linear, nn.Linear, (4, 3), (5, 4)),
                                "conv": (torch.nn.Conv2d, nn.Conv2d, (2, 3, 3), (2, 2, 5, 5)),
                                "convT": (torch.nn.ConvTranspose2d, nn.ConvTranspose2d, (2, 3, 3), (2, 2, 4, 4))}[kind]
    tm, om = _pair(tcls, ocls, *args)
    TPZ.spectral_norm(tm, **kw)
    PZ.spectral_norm(om, **kw)
    assert list(om.state_dict()) == list(tm.state_dict()) == [
        "bias", "parametrizations.weight.original", "parametrizations.weight.0._u", "parametrizations.weight.0._v"]
    assert om.parametrizations.weight[0].dim == tm.parametrizations.weight[0].dim  # ConvTranspose: 1
    _copy_all(tm, om)
    x = np.random.default_rng(7).standard_normal(xshape)
    _train_and_compare(tm, om, x, steps=3)
    u = om.parametrizations.weight[0]._u.numpy().copy()
    _train_and_compare(tm, om, x, steps=2, train=False)  # eval: no power iteration
    np.testing.assert_array_equal(om.parametrizations.weight[0]._u.numpy(), u)


def test_spectral_norm_1d_and_errors_as_torch():
    tm, om = _pair(torch.nn.Linear, nn.Linear, 4, 3)
    TPZ.spectral_norm(tm, "bias")
    PZ.spectral_norm(om, "bias")
    assert list(om.state_dict()) == list(tm.state_dict())
    _train_and_compare(tm, om, np.random.default_rng(8).standard_normal((5, 4)), steps=2)
    for M, F in ((torch.nn, TPZ), (nn, PZ)):
        with pytest.raises(ValueError, match="Expected n_power_iterations to be positive, but got "
                                             "n_power_iterations=0"):
            F.spectral_norm(M.Linear(2, 2), n_power_iterations=0)
        with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\] but "
                                             r"got 2\)"):
            F.spectral_norm(M.Linear(2, 2), dim=2)
        with pytest.raises(ValueError, match="has no parameter or buffer with name 'foo'"):
            F.spectral_norm(M.Linear(2, 2), "foo")


@pytest.mark.parametrize("shape,omap,triv", [((4, 4), None, True), ((4, 4), "cayley", True),
                                             ((4, 4), "householder", True), ((4, 4), "matrix_exp", False),
                                             ((5, 3), "householder", False), ((3, 5), "householder", False),
                                             ((5, 3), None, True), ((3, 5), "cayley", True)])
def test_orthogonal_as_torch(shape, omap, triv):
    tm, om = _pair(torch.nn.Linear, nn.Linear, shape[1], shape[0])
    TPZ.orthogonal(tm, orthogonal_map=omap, use_trivialization=triv)
    PZ.orthogonal(om, orthogonal_map=omap, use_trivialization=triv)
    assert list(om.state_dict()) == list(tm.state_dict())
    if shape[0] == shape[1] or not triv:  # a non-square base is completed with random columns
        for k, v in tm.state_dict().items():
            np.testing.assert_allclose(om.state_dict()[k], _np(v), err_msg=k, **TOL)
    _copy_all(tm, om)
    _train_and_compare(tm, om, np.random.default_rng(9).standard_normal((2, shape[1])), steps=2)
    W = om.weight.numpy()
    small = W @ W.T if shape[0] <= shape[1] else W.T @ W
    np.testing.assert_allclose(small, np.eye(min(shape)), atol=1e-10)
    with pytest.raises(ValueError, match="Expected a matrix or batch of matrices. Got a tensor of 1 dimensions."):
        PZ.orthogonal(nn.Linear(2, 2), "bias")
    with pytest.raises(ValueError, match='orthogonal_map has to be one of "matrix_exp", "cayley", "householder"'):
        PZ.orthogonal(nn.Linear(2, 2), orthogonal_map="qr")


# ---- the older hook-based weight_norm / spectral_norm ---------------------------------------------------
def test_old_weight_norm_as_torch():
    tm, om = _pair(torch.nn.Linear, nn.Linear, 4, 3)
    with pytest.warns(FutureWarning, match="torch.nn.utils.weight_norm` is deprecated"):
        torch.nn.utils.weight_norm(tm)
    with pytest.warns(FutureWarning, match="torch.nn.utils.weight_norm` is deprecated"):
        assert nn.utils.weight_norm(om) is om
    assert list(om.state_dict()) == list(tm.state_dict()) == ["bias", "weight_g", "weight_v"]
    _copy_all(tm, om)
    _train_and_compare(tm, om, np.random.default_rng(10).standard_normal((5, 4)))
    assert nn.utils.remove_weight_norm(om) is om
    torch.nn.utils.remove_weight_norm(tm)
    assert list(om.state_dict()) == list(tm.state_dict()) == ["bias", "weight"]
    assert isinstance(om.weight, nn.Parameter)
    np.testing.assert_allclose(om.weight.numpy(), _np(tm.weight), **TOL)
    for M in (torch.nn, nn):
        with pytest.raises(ValueError, match="weight_norm of 'weight' not found in Linear"):
            M.utils.remove_weight_norm(M.Linear(2, 2))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            m = M.utils.weight_norm(M.Linear(2, 2), dim=None)
            with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks on the same parameter "
                                                   "weight"):
                M.utils.weight_norm(m)
        assert m.weight_g.shape == ()


@pytest.mark.parametrize("kind", ["linear", "convT"])
def test_old_spectral_norm_as_torch(kind):
    tcls, ocls, args, xshape = {"linear": (torch.nn.Linear, nn.Linear, (4, 3), (5, 4)),
                                "convT": (torch.nn.ConvTranspose2d, nn.ConvTranspose2d, (2, 3, 3), (2, 2, 4, 4))}[kind]
    tm, om = _pair(tcls, ocls, *args)
    torch.nn.utils.spectral_norm(tm, n_power_iterations=2)
    assert nn.utils.spectral_norm(om, n_power_iterations=2) is om
    assert list(om.state_dict()) == list(tm.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    _copy_all(tm, om)
    x = np.random.default_rng(11).standard_normal(xshape)
    _train_and_compare(tm, om, x, steps=3)
    _train_and_compare(tm, om, x, steps=1, train=False)
    torch.nn.utils.remove_spectral_norm(tm)
    assert nn.utils.remove_spectral_norm(om) is om
    assert list(om.state_dict()) == list(tm.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(om.weight.numpy(), _np(tm.weight), **TOL)
    for M in (torch.nn, nn):
        with pytest.raises(ValueError, match="spectral_norm of 'weight' not found in Linear"):
            M.utils.remove_spectral_norm(M.Linear(2, 2))
        with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks on the same parameter"):
            M.utils.spectral_norm(M.utils.spectral_norm(M.Linear(2, 2)))


@pytest.mark.parametrize("make", [
    lambda: PZ.weight_norm(nn.Linear(3, 4).double()),
    lambda: PZ.weight_norm(nn.Linear(3, 4).double(), dim=None),
    lambda: PZ.spectral_norm(nn.Linear(3, 4).double()).eval(),  # eval: the buffers stay put between calls
    lambda: PZ.orthogonal(nn.Linear(4, 4).double()),
    lambda: PZ.orthogonal(nn.Linear(4, 4).double(), orthogonal_map="cayley"),
    lambda: PZ.orthogonal(nn.Linear(3, 5).double(), orthogonal_map="matrix_exp"),
])
def test_gradcheck_through_the_parametrization(make):
    """Central differences in float64 on the input and every original (householder is left out:
    its forward reads the diagonal's sign through int(), a kink exactly at the -1 it starts from)."""
    from engine import gradcheck

    m = make()
    originals = [p for n, p in m.named_parameters() if n.startswith("parametrizations.")]
    x = Tensor(np.random.default_rng(12).standard_normal((2, m.in_features)), requires_grad=True)
    assert gradcheck(lambda x, *ps: m(x), x, *originals)
