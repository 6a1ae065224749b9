"""nn modules against torch where torch's ModuleInfo sweep (tests/nn/moduleinfo_sweep.py) found them
to differ: constructor checks of the recurrent layers, BatchNorm on empty batches and its eps checks,
GaussianNLLLoss's var shapes, fractional max pooling's sample checks, LinearCrossEntropyLoss, and
``autograd.grad`` asked for one tensor twice."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from parity_helpers import raises_as_torch as _raises_as_torch  # noqa: E402

import engine  # noqa: E402
import nn  # noqa: E402


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("args,kwargs,match", [
    ((3, 5), {"bias": 0}, "bias should be of type bool, got: int"),
    ((3, 5), {"batch_first": 1}, "batch_first should be of type bool, got: int"),
    ((3.0, 5), {}, "input_size should be of type int, got: float"),
    ((-1, 5), {}, "input_size must be greater than zero"),
    ((0, 5), {}, "input_size must be greater than zero"),
    ((3, 0), {}, "hidden_size must be greater than zero"),
])
def test_recurrent_constructor_checks_as_torch(name, args, kwargs, match):
    _raises_as_torch(lambda: getattr(nn, name)(*args, **kwargs),
                     lambda: getattr(torch.nn, name)(*args, **kwargs), match)


def _same(ours, theirs, rtol=1e-12):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=rtol, atol=1e-14)


@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (0, 5, 9)), ("BatchNorm2d", (0, 5, 2, 2)),
                                       ("BatchNorm3d", (0, 5, 2, 2, 2))])
def test_batchnorm_on_an_empty_batch_in_training_as_torch(cls, shape):
    ours, theirs = getattr(nn, cls)(5), getattr(torch.nn, cls)(5)
    x = np.zeros(shape, np.float32)
    out, want = ours(engine.tensor(x)), theirs(torch.tensor(x))
    assert tuple(out.shape) == tuple(want.shape)
    _same(ours.running_mean, theirs.running_mean)  # untouched, as torch's
    _raises_as_torch(lambda: getattr(nn, cls)(5)(engine.zeros((1, 5) + (1,) * (len(shape) - 2))),
                     lambda: getattr(torch.nn, cls)(5)(torch.zeros((1, 5) + (1,) * (len(shape) - 2))),
                     "Expected more than 1 value per channel when training")


@pytest.mark.parametrize("training,eps", [(True, -1.0), (True, 0.0), (False, -1.0)])
def test_batchnorm_eps_checks_as_torch(training, eps):
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    ours, theirs = nn.BatchNorm1d(3, eps=eps), torch.nn.BatchNorm1d(3, eps=eps)
    ours.train(training)
    theirs.train(training)
    _raises_as_torch(lambda: ours(engine.tensor(x)), lambda: theirs(torch.tensor(x)), "batch_norm eps must be")


@pytest.mark.parametrize("var_shape", [(4, 1), (1, 3), (4,), (4, 3)])
def test_gaussian_nll_loss_var_shapes_as_torch(var_shape):
    rng = np.random.default_rng(1)
    x, t, v = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), rng.uniform(0.5, 2, var_shape)
    want = torch.nn.GaussianNLLLoss()(torch.tensor(x), torch.tensor(t), torch.tensor(v))
    _same(nn.GaussianNLLLoss()(engine.tensor(x), engine.tensor(t), engine.tensor(v)), want)


def test_gaussian_nll_loss_rejects_two_mismatched_dims_as_torch():
    x, v = np.ones((4, 3, 2)), np.ones((4, 1, 1))
    _raises_as_torch(lambda: nn.GaussianNLLLoss()(engine.tensor(x), engine.tensor(x), engine.tensor(v)),
                     lambda: torch.nn.GaussianNLLLoss()(torch.tensor(x), torch.tensor(x), torch.tensor(v)),
                     "var is of incorrect size")


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("x_shape,s_shape", [("b", (3, 4, "nd")), ("b", (1, 4, "nd")), ("u", (2, 4, "nd")),
                                             ("b", (2, 4, "nd+1")), ("b", (2, 3, "nd")), ("b", (2, 4))])
def test_fractional_max_pool_random_samples_checks_as_torch(nd, x_shape, s_shape):
    xs = ((2, 4) if x_shape == "b" else (4,)) + (5,) * nd
    ss = tuple({"nd": nd, "nd+1": nd + 1}.get(d, d) for d in s_shape)
    rng = np.random.default_rng(2)
    x, s = rng.standard_normal(xs), rng.uniform(size=ss)
    name = f"fractional_max_pool{nd}d"

    def run(lib, F):
        return getattr(F, name)(lib.tensor(x), 2, output_size=(2,) * nd, _random_samples=lib.tensor(s))

    try:
        want = run(torch, torch.nn.functional)
    except RuntimeError as e:
        with pytest.raises(RuntimeError, match=str(e).split(".")[0].replace("(", r"\(").replace(")", r"\)")):
            run(engine, engine.functional)
        return
    _same(run(engine, engine.functional), want)  # a longer batch of samples: its first rows are used


def test_linear_cross_entropy_loss_module_as_torch():
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal((6, 5)), rng.integers(0, 4, (6, 2))
    ours = nn.LinearCrossEntropyLoss(5, 4, out_features=(2,), bias=True, dtype=engine.float64, label_smoothing=0.1)
    theirs = torch.nn.LinearCrossEntropyLoss(5, 4, out_features=(2,), bias=True, dtype=torch.float64,
                                             label_smoothing=0.1)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["linear.weight", "linear.bias"]
    ours.load_state_dict({k: engine.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    lo, lt = ours(engine.tensor(x), engine.tensor(t)), theirs(torch.tensor(x), torch.tensor(t))
    _same(lo, lt)
    lo.backward()
    lt.backward()
    _same(ours.linear.weight.grad, theirs.linear.weight.grad)
    _same(ours.linear.bias.grad, theirs.linear.bias.grad)
    _raises_as_torch(lambda: nn.LinearCrossEntropyLoss(5, 4, weight=engine.ones(3)),
                     lambda: torch.nn.LinearCrossEntropyLoss(5, 4, weight=torch.ones(3)), "expected weight shape")
    _raises_as_torch(lambda: nn.LinearCrossEntropyOptions(acc_policy="fast"),
                     lambda: torch.nn.LinearCrossEntropyOptions(acc_policy="fast"), "invalid acc_policy")


def test_autograd_grad_of_a_repeated_input_as_torch():
    # ours gave None for all but the last mention of a tensor in `inputs`
    x, tx = engine.tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 2.0], requires_grad=True)
    ours = engine.autograd.grad((x * x).sum(), [x, x])
    theirs = torch.autograd.grad((tx * tx).sum(), [tx, tx])
    for o, t in zip(ours, theirs, strict=True):
        _same(o, t)


@pytest.mark.parametrize("channels,size", [(3, 5), (8, 3), (10, 5), (6, 2), (1, 3), (12, 7), (4, 1)])
def test_cross_map_lrn2d_values_as_torch(channels, size):
    x = np.random.default_rng(4).standard_normal((2, channels, 3, 3))
    want = torch.nn.CrossMapLRN2d(size, alpha=0.5, beta=0.75, k=1.0)(torch.tensor(x))
    _same(nn.CrossMapLRN2d(size, alpha=0.5, beta=0.75, k=1.0)(engine.tensor(x)), want)
    assert repr(nn.CrossMapLRN2d(size)) == repr(torch.nn.CrossMapLRN2d(size))
    _raises_as_torch(lambda: nn.CrossMapLRN2d(size)(engine.tensor(x[0])),
                     lambda: torch.nn.CrossMapLRN2d(size)(torch.tensor(x[0])), "Expected input to be 4D, got 3D")


def test_cross_map_lrn2d_gradient_is_the_exact_derivative_where_torchs_is_not():
    # ours: central differences agree; torch's hand-written backward fails torch's own gradcheck
    x = np.random.default_rng(5).standard_normal((2, 6, 3, 3))
    ours = engine.tensor(x, requires_grad=True)
    assert engine.gradcheck(lambda t: nn.CrossMapLRN2d(3, alpha=0.5, k=1.0)(t), ours)
    theirs = torch.tensor(x, requires_grad=True)
    assert not torch.autograd.gradcheck(lambda t: torch.nn.CrossMapLRN2d(3, alpha=0.5, k=1.0)(t), (theirs,),
                                        raise_exception=False)
