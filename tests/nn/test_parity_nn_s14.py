"""Layers against torch.nn where session 14's differential probe found them apart: an input of
another dtype than the layer's weights (torch raises, no silent float64), GroupNorm's lone-value
check, PReLU (through F.prelu: 1-D input, the gradient at 0 and inf), RReLU and Hardtanh bounds,
the recurrent layers' and cells' state checks and their messages, ModuleList's type errors and
Unflatten's size error."""

import numpy as np
import pytest

import nn
from engine import Tensor
from tests.nn.parity_helpers import outcome as _outcome

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity




WEIGHTED = {  # layer maker, input shape
    "Linear": (lambda m: m.Linear(3, 2), (2, 3)),
    "Conv1d": (lambda m: m.Conv1d(3, 2, 2), (1, 3, 4)),
    "ConvTranspose1d": (lambda m: m.ConvTranspose1d(3, 2, 2), (1, 3, 4)),
    "BatchNorm1d": (lambda m: m.BatchNorm1d(3), (2, 3)),
    "LayerNorm": (lambda m: m.LayerNorm(3), (2, 3)),
    "GroupNorm": (lambda m: m.GroupNorm(1, 3), (2, 3)),
    "InstanceNorm1d": (lambda m: m.InstanceNorm1d(3, affine=True), (2, 3, 4)),
    "RMSNorm": (lambda m: m.RMSNorm(3), (2, 3)),
    "PReLU": (lambda m: m.PReLU(), (2, 3)),
}


@pytest.mark.parametrize("in_dtype", ["int64", "float64"])
@pytest.mark.parametrize("name", sorted(WEIGHTED))
def test_input_of_another_dtype_than_the_weights_raises_as_torch(name, in_dtype):
    """torch refuses an integer (or a wider float) input in a float32 layer; we raise a RuntimeError
    naming the op and both dtypes instead of computing in float64. Same dtype: equal outputs."""
    make, shape = WEIGHTED[name]
    a = np.arange(np.prod(shape)).reshape(shape) % 3
    t_mod, o_mod = make(torch.nn), make(nn)
    t = _outcome(lambda: t_mod(torch.tensor(a.astype(in_dtype))))
    if t[0] == "OK":  # a dtype torch takes: then so do we, with its result dtype
        o = o_mod(Tensor(a.astype(in_dtype)))
        assert str(t[1].dtype).replace("torch.", "") == str(o.dtype)
        return
    with pytest.raises(RuntimeError, match=f"{in_dtype}.*float32"):
        o_mod(Tensor(a.astype(in_dtype)))
    t_mod.double(), o_mod.double()
    o_mod.load_state_dict({k: v.numpy() for k, v in t_mod.state_dict().items()})
    x = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_allclose(o_mod(Tensor(x)).numpy(), t_mod(torch.tensor(x)).detach().numpy(), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("shape,groups", [((1, 2), 2), ((1, 2, 1), 2), ((3, 2), 2), ((1, 4), 2), ((2, 4, 1), 4)])
def test_group_norm_with_one_value_per_group_as_torch(shape, groups):
    """torch raises only when the whole batch holds one value per group; a group of one value
    (among several samples) normalizes to 0."""
    x = np.random.default_rng(1).standard_normal(shape)
    t = _outcome(lambda: torch.nn.GroupNorm(groups, shape[1]).double()(torch.tensor(x)).detach().numpy())
    o = _outcome(lambda: nn.GroupNorm(groups, shape[1]).double()(Tensor(x)).numpy())
    assert t[0] is o[0] or (t[0] is not str and t[0] == o[0]), (t, o)
    if t[0] == "OK":
        np.testing.assert_allclose(o[1], t[1], atol=1e-12)
    else:
        assert o[1] == t[1]


@pytest.mark.parametrize("shape,n", [((6,), 1), ((), 1), ((2, 3), 3), ((2, 3, 4), 3), ((4, 3), 1), ((3,), 3),
                                     ((2, 4), 3)])
def test_prelu_values_gradients_and_shape_checks_as_torch(shape, n):
    """0, -0, inf and -inf among the inputs: torch's gradient at 0 is the slope, not 1; a 1-D input
    has one channel, so a PReLU with 3 weights refuses it."""
    x = np.resize(np.array([0.0, -1.5, 2.0, -0.0, np.inf, -np.inf, 0.7]), int(np.prod(shape))).reshape(shape)
    t_mod, o_mod = torch.nn.PReLU(n, init=0.3).double(), nn.PReLU(n, init=0.3).double()
    tx, ox = torch.tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
    try:
        t_out = t_mod(tx)
    except RuntimeError:
        with pytest.raises(RuntimeError):
            o_mod(ox)
        return
    o_out = o_mod(ox)
    g = np.random.default_rng(2).standard_normal(shape)
    (t_out * torch.tensor(g)).sum().backward()
    (o_out * Tensor(g)).sum().backward()
    np.testing.assert_array_equal(o_out.numpy(), t_out.detach().numpy())
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    finite = np.isfinite(x)  # the weight's gradient sums g * x over the negative entries
    if finite.all():
        np.testing.assert_allclose(o_mod.weight.grad.numpy(), t_mod.weight.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("train", [True, False])
def test_rrelu_lower_above_upper_raises_as_torch(train):
    x = np.zeros(3, np.float32)
    with pytest.raises(RuntimeError):
        torch.nn.RReLU(0.5, 0.1).train(train)(torch.tensor(x))
    with pytest.raises(RuntimeError, match="Lower bound"):
        nn.RReLU(0.5, 0.1).train(train)(Tensor(x))


def test_hardtanh_bounds_in_the_wrong_order_raise_assertion_error_as_torch():
    with pytest.raises(AssertionError):
        torch.nn.Hardtanh(2.0, 1.0)
    with pytest.raises(AssertionError, match="max_val"):
        nn.Hardtanh(2.0, 1.0)


@pytest.mark.parametrize("layer", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("in_dtype", ["float64", "int64"])
def test_recurrent_input_dtype_check_as_torch(layer, in_dtype):
    a = np.ones((4, 1, 3), in_dtype)
    with pytest.raises(ValueError, match="does not match weight dtype"):
        getattr(torch.nn, layer)(3, 2)(torch.tensor(a))
    with pytest.raises(ValueError, match=f"RNN input dtype \\({in_dtype}\\) does not match weight dtype"):
        getattr(nn, layer)(3, 2)(Tensor(a))


def _z(lib, *shape):
    return torch.zeros(*shape) if lib is torch.nn else Tensor(np.zeros(shape, np.float32))


@pytest.mark.parametrize("case", ["gru_h", "rnn_h", "lstm_h", "lstm_c", "lstm_unbatched_c"])
def test_recurrent_state_size_messages_as_torch(case):
    def run(lib):
        z = lambda *s: _z(lib, *s)  # noqa: E731
        if case == "gru_h":
            return lib.GRU(3, 4)(z(5, 2, 3), z(2, 2, 4))
        if case == "rnn_h":
            return lib.RNN(3, 4, 2, bidirectional=True)(z(5, 2, 3), z(4, 3, 4))
        if case == "lstm_h":
            return lib.LSTM(3, 4, proj_size=2)(z(5, 2, 3), (z(1, 2, 4), z(1, 2, 4)))
        if case == "lstm_c":
            return lib.LSTM(3, 4)(z(5, 2, 3), (z(1, 2, 4), z(1, 3, 4)))
        return lib.LSTM(3, 4)(z(5, 3), (z(1, 4), z(1, 5)))

    t, o = _outcome(lambda: run(torch.nn)), _outcome(lambda: run(nn))
    assert t[0] is RuntimeError and issubclass(o[0], RuntimeError), (t, o)
    assert o[1] == t[1]


@pytest.mark.parametrize("cell", ["RNNCell", "GRUCell", "LSTMCell"])
@pytest.mark.parametrize("case", ["hidden_size", "batch", "one_d_state_batched_input", "cell_state"])
def test_cell_state_checks_as_torch(cell, case):
    """torch checks a cell's state against the input's batch and hidden_size (ours broadcast a 1-D
    state over the batch before)."""
    if case == "cell_state" and cell != "LSTMCell":
        return

    def run(lib):
        z = lambda *s: _z(lib, *s)  # noqa: E731
        m = getattr(lib, cell)(3, 4)
        h = {"hidden_size": z(2, 5), "batch": z(3, 4), "one_d_state_batched_input": z(4), "cell_state": z(2, 4)}[case]
        if cell == "LSTMCell":
            return m(z(2, 3), (z(2, 4), z(2, 5)) if case == "cell_state" else (h, z(2, 4)))
        return m(z(2, 3), h)

    t, o = _outcome(lambda: run(torch.nn)), _outcome(lambda: run(nn))
    assert t[0] is RuntimeError and o[0] is RuntimeError, (t, o)
    assert o[1] == t[1]


def test_cell_with_a_correct_state_still_equals_torch():
    torch.manual_seed(0)
    t_mod = torch.nn.GRUCell(3, 4).double()
    o_mod = nn.GRUCell(3, 4).double()
    o_mod.load_state_dict({k: v.numpy() for k, v in t_mod.state_dict().items()})
    rng = np.random.default_rng(3)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    np.testing.assert_allclose(o_mod(Tensor(x), Tensor(h)).numpy(),
                               t_mod(torch.tensor(x), torch.tensor(h)).detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(o_mod(Tensor(x[0]), Tensor(h[0])).numpy(),
                               t_mod(torch.tensor(x[0]), torch.tensor(h[0])).detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("case", ["append_int", "extend_int", "init_with_int"])
def test_module_list_type_errors_as_torch(case):
    def run(lib):
        ml = lib.ModuleList([lib.ReLU()])
        if case == "append_int":
            ml.append(3)
        elif case == "extend_int":
            ml.extend(3)
        else:
            lib.ModuleList([lib.ReLU(), 3])

    t, o = _outcome(lambda: run(torch.nn)), _outcome(lambda: run(nn))
    assert t[0] is TypeError and o[0] is TypeError
    assert o[1] == t[1]


@pytest.mark.parametrize("sizes", [(2, 2), (-1, -1), (4, -1)])
def test_unflatten_sizes_that_do_not_fit_raise_runtime_error_as_torch(sizes):
    x = np.zeros((2, 6), np.float32)
    with pytest.raises(RuntimeError):
        torch.nn.Unflatten(1, sizes)(torch.tensor(x))
    with pytest.raises(RuntimeError, match="unflatten"):
        nn.Unflatten(1, sizes)(Tensor(x))
