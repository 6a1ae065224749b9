"""Every layer in float64: forward against a NumPy formula, gradients of inputs AND parameters
against central differences (engine.gradcheck), shapes and configs drawn by hypothesis."""

import decimal
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import engine
import nn
from engine import Tensor, gradcheck

# Leading (batch) dims of an input: none up to two, each 1-3 long.
lead_shapes = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)
seeds = st.integers(0, 2**32 - 1)


def randn(seed: int, *shape) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def away_from_zero(x: np.ndarray, margin: float = 1e-2) -> np.ndarray:
    """Push entries out of (-margin, margin): central differences across relu's kink are wrong
    by construction, so we move inputs away from it rather than loosen tolerances."""
    return x + np.where(x >= 0, margin, -margin)


def check_layer(layer: nn.Module, x: np.ndarray | None, max_entries: int = 24, call=None) -> None:
    """gradcheck d(layer)/d(input) (if any) and d(layer)/d(every parameter), in float64."""
    layer.double()
    params = layer.parameters()
    assert all(p.dtype == np.float64 for p in params)
    call = call or (lambda inp: layer(inp))
    if x is None:
        gradcheck(lambda *ps: call(None), *params, max_entries=max_entries)
    else:
        xt = Tensor(x, requires_grad=True)
        gradcheck(lambda inp, *ps: call(inp), xt, *params, max_entries=max_entries)


@given(lead=lead_shapes, n_in=st.integers(1, 6), n_out=st.integers(1, 6), bias=st.booleans(), seed=seeds)
def test_linear(lead, n_in, n_out, bias, seed):
    layer = nn.Linear(n_in, n_out, bias=bias, dtype="float64")
    assert [n for n, _ in layer.named_parameters()] == (["weight", "bias"] if bias else ["weight"])
    x = randn(seed, *lead, n_in)
    want = x @ layer.weight.numpy().T + (layer.bias.numpy() if bias else 0)
    np.testing.assert_allclose(layer(Tensor(x)).numpy(), want, rtol=1e-12, atol=1e-12)
    check_layer(layer, x)


@given(lead=lead_shapes, num=st.integers(1, 8), dim=st.integers(1, 5), seed=seeds)
def test_embedding(lead, num, dim, seed):
    layer = nn.Embedding(num, dim, dtype="float64")
    # Draw ids with replacement from a small table: repeated ids must have their gradients summed.
    ids = np.random.default_rng(seed).integers(0, num, size=lead + (4,))
    np.testing.assert_array_equal(layer(ids).numpy(), layer.weight.numpy()[ids])
    check_layer(layer, None, call=lambda _: layer(ids))


def test_embedding_rejects_out_of_range_ids():
    layer = nn.Embedding(5, 2)
    with pytest.raises(ValueError, match="5"):
        layer(np.array([0, 5]))
    with pytest.raises(ValueError, match="-1"):
        layer(np.array([-1]))


@given(lead=lead_shapes, dim=st.integers(2, 7), bias=st.booleans(), eps=st.sampled_from([1e-5, 1e-3]),
       seed=seeds)
def test_layer_norm(lead, dim, bias, eps, seed):
    layer = nn.LayerNorm(dim, eps=eps, bias=bias, dtype="float64")
    # Non-trivial affine parameters, so their gradients and their use in forward both matter.
    layer.weight.data[...] = 1 + 0.5 * randn(seed + 1, dim)
    if bias:
        layer.bias.data[...] = randn(seed + 2, dim)
    x = randn(seed, *lead, dim) * 3 + 1
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    want = (x - mu) / np.sqrt(var + eps) * layer.weight.numpy() + (layer.bias.numpy() if bias else 0)
    np.testing.assert_allclose(layer(Tensor(x)).numpy(), want, rtol=1e-10, atol=1e-12)
    check_layer(layer, x)


def test_layer_norm_defaults():
    layer = nn.LayerNorm(4)
    assert layer.eps == 1e-5
    np.testing.assert_array_equal(layer.weight.numpy(), np.ones(4, np.float32))
    np.testing.assert_array_equal(layer.bias.numpy(), np.zeros(4, np.float32))
    assert nn.LayerNorm(4, bias=False).bias is None
    assert [n for n, _ in nn.LayerNorm(4, bias=False).named_parameters()] == ["weight"]


@given(lead=lead_shapes, dim=st.integers(1, 6), approximate=st.sampled_from(["tanh", "none"]), seed=seeds)
def test_gelu(lead, dim, approximate, seed):
    x = randn(seed, *lead, dim) * 2
    if approximate == "tanh":
        want = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    else:
        want = 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    layer = nn.GELU(approximate)
    np.testing.assert_allclose(layer(Tensor(x)).numpy(), want, rtol=1e-12, atol=1e-12)
    gradcheck(lambda t: layer(t), Tensor(x, requires_grad=True))


def _gelu_tanh_exact(x: float) -> float:
    """x·(1 + tanh u)/2 in 60-digit decimal arithmetic: 1 + tanh u = 2/(1 + e^(-2u)), no cancellation."""
    with decimal.localcontext() as ctx:
        ctx.prec, ctx.Emax, ctx.Emin = 60, decimal.MAX_EMAX, decimal.MIN_EMIN
        d = decimal.Decimal(x)
        u = decimal.Decimal(math.sqrt(2 / math.pi)) * (d + decimal.Decimal(0.044715) * d**3)
        return float(d / (1 + (-2 * u).exp()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_tanh_far_tails_are_finite_and_silent(dtype):
    # Forward computes (1 + tanh u)/2 as 1/(1 + exp(-2u)); exp overflows for very negative u.
    x = np.array([-1e4, -100, -45, -20, -5, 0, 5, 20, 100, 1e4], dtype=dtype)
    want = np.array([_gelu_tanh_exact(v) for v in x.tolist()]).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = Tensor(x, requires_grad=True)
        y = nn.GELU("tanh")(t)
        y.sum().backward()
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=0)
    assert y.dtype == dtype and np.all(np.isfinite(t.grad.numpy()))
    np.testing.assert_array_equal(t.grad.numpy()[[0, 1, -2, -1]], [0, 0, 1, 1])


def test_gelu_default_is_exact_as_torch_and_gpt_mlp_passes_tanh():
    assert nn.GELU().approximate == "none"
    assert nn.MLP(4).gelu.approximate == "tanh"


@given(lead=lead_shapes, dim=st.integers(1, 6), seed=seeds)
def test_relu_and_tanh(lead, dim, seed):
    x = away_from_zero(randn(seed, *lead, dim))
    np.testing.assert_array_equal(nn.ReLU()(Tensor(x)).numpy(), np.maximum(x, 0))
    np.testing.assert_allclose(nn.Tanh()(Tensor(x)).numpy(), np.tanh(x), rtol=1e-14)
    gradcheck(lambda t: nn.ReLU()(t), Tensor(x, requires_grad=True))
    gradcheck(lambda t: nn.Tanh()(t), Tensor(x, requires_grad=True))


@given(lead=lead_shapes, dim=st.integers(1, 6), p=st.sampled_from([0.0, 0.2, 0.5]), seed=seeds)
def test_dropout_gradients_in_train_mode(lead, dim, p, seed):
    layer = nn.Dropout(p).train()
    x = randn(seed, *lead, dim)

    def call(t):
        engine.manual_seed(seed)  # the same mask on every evaluation gradcheck makes
        return layer(t)

    gradcheck(call, Tensor(x, requires_grad=True))


def test_dropout_train_statistics_and_eval_identity():
    engine.manual_seed(0)
    layer = nn.Dropout(0.25)
    x = Tensor(np.ones((400, 500)))
    y = layer(x).numpy()
    zeros = (y == 0).mean()
    assert abs(zeros - 0.25) < 0.005  # 200k Bernoulli(0.25) draws: std of the mean ~0.001
    np.testing.assert_allclose(y[y != 0], 1 / 0.75, rtol=1e-15)
    layer.eval()
    xe = Tensor(np.random.default_rng(0).standard_normal((3, 4)))
    np.testing.assert_array_equal(layer(xe).numpy(), xe.numpy())
    assert not nn.Dropout(1.0)(x).numpy().any()  # torch allows p=1: everything dropped
    with pytest.raises(ValueError):
        nn.Dropout(1.1)
    with pytest.raises(ValueError):
        nn.Dropout(-0.1)


@given(lead=lead_shapes, n_embd=st.integers(1, 4), hidden=st.sampled_from([None, 3]), bias=st.booleans(),
       dropout=st.sampled_from([0.0, 0.3]), seed=seeds)
def test_mlp(lead, n_embd, hidden, bias, dropout, seed):
    layer = nn.MLP(n_embd, hidden=hidden, dropout=dropout, bias=bias)
    assert layer.c_fc.out_features == (hidden or 4 * n_embd)
    x = randn(seed, *lead, n_embd)
    layer.double().eval()
    # Eval-mode forward is the composition Linear -> GELU(tanh) -> Linear.
    h = x @ layer.c_fc.weight.numpy().T + (layer.c_fc.bias.numpy() if bias else 0)
    h = 0.5 * h * (1 + np.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)))
    want = h @ layer.c_proj.weight.numpy().T + (layer.c_proj.bias.numpy() if bias else 0)
    np.testing.assert_allclose(layer(Tensor(x)).numpy(), want, rtol=1e-10, atol=1e-12)

    layer.train()

    def call(t):
        engine.manual_seed(seed)
        return layer(t)

    check_layer(layer, x, max_entries=12, call=call)


def sinusoid_reference(max_len: int, d: int) -> np.ndarray:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)), entry by entry."""
    pe = np.zeros((max_len, d))
    for pos in range(max_len):
        for j in range(d):
            i = j // 2
            angle = pos / 10000 ** (2 * i / d)
            pe[pos, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return pe


@given(max_len=st.integers(1, 40), dim=st.integers(1, 12))
def test_sinusoidal_positional_encoding_equals_formula(max_len, dim):
    layer = nn.SinusoidalPositionalEncoding(max_len, dim, dtype="float64")
    assert layer.parameters() == []  # a fixed table, not trained
    np.testing.assert_allclose(layer(np.arange(max_len)).numpy(), sinusoid_reference(max_len, dim),
                               rtol=1e-13, atol=1e-13)


def test_sinusoidal_positional_encoding_lookup_and_errors():
    layer = nn.SinusoidalPositionalEncoding(8, 6)
    assert layer(np.arange(8)).dtype == np.float32
    np.testing.assert_array_equal(layer(np.array([[3, 1]])).numpy(), layer.table.numpy()[[[3, 1]]])
    np.testing.assert_array_equal(layer([2, 5]).numpy(), layer.table.numpy()[[2, 5]])
    with pytest.raises(ValueError, match="8"):
        layer(np.array([8]))
    with pytest.raises(ValueError, match="-1"):
        layer(np.array([-1]))  # would otherwise wrap around to position 7


@given(num=st.integers(1, 6), dim=st.integers(1, 4), seed=seeds)
def test_learned_positional_embedding(num, dim, seed):
    layer = nn.LearnedPositionalEmbedding(num, dim, dtype="float64")
    pos = np.random.default_rng(seed).integers(0, num, size=(2, 3))
    np.testing.assert_array_equal(layer(pos).numpy(), layer.weight.numpy()[pos])
    check_layer(layer, None, call=lambda _: layer(pos))


def test_learned_positional_embedding_errors_and_lists():
    layer = nn.LearnedPositionalEmbedding(4, 2)
    assert layer([0, 3]).shape == (2, 2)
    with pytest.raises(ValueError, match="4"):
        layer(np.arange(5))
    with pytest.raises(ValueError, match="-2"):
        layer(np.array([-2]))


def test_layers_reject_wrong_input_width():
    with pytest.raises(ValueError, match="Linear"):
        nn.Linear(3, 2)(Tensor(np.zeros((2, 4), np.float32)))
