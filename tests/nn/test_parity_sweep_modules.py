"""Module API and layer behaviours swept against torch as the oracle: registration checks and their
errors, assignment to registered names, apply order, get_submodule/get_parameter/get_buffer errors,
load_state_dict's messages; then layers' reprs, state_dict keys, init statistics and input checks."""

import warnings

import numpy as np
import pytest

import nn
from engine import Tensor
from tests.nn.parity_helpers import outcome

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


def _outcome(fn):
    """(error type name, message) or ("OK", result) of calling ``fn``."""
    return outcome(fn, by_name=True)


def _same_outcome(torch_fn, ours_fn, message: bool = True):
    t, o = _outcome(torch_fn), _outcome(ours_fn)
    assert t[0] == o[0], (t, o)
    if message or t[0] == "OK":
        assert t[1] == o[1], (t, o)


def _both(fn, message: bool = True):
    """Run ``fn(lib, make_tensor, make_parameter)`` with torch and with ours; same outcome."""
    _same_outcome(lambda: fn(torch.nn, lambda *s: torch.zeros(*s), lambda *s: torch.nn.Parameter(torch.zeros(*s))),
                  lambda: fn(nn, lambda *s: Tensor(np.zeros(s, np.float32)),
                             lambda *s: nn.Parameter(np.zeros(s, np.float32))), message)


@pytest.mark.parametrize("name", ["a.b", "", 3, "foo", "weight", "forward"])
@pytest.mark.parametrize("kind", ["parameter", "buffer", "module"])
def test_registering_a_bad_or_taken_name_raises_as_torch(kind, name):
    def fn(lib, tensor, param):
        m = lib.Linear(1, 1)
        m.foo = 3
        if kind == "parameter":
            m.register_parameter(name, None)
        elif kind == "buffer":
            m.register_buffer(name, None)
        else:
            m.add_module(name, lib.ReLU())
        return [n for n, _ in m.named_parameters()], [n for n, _ in m.named_children()]

    _both(fn)


@pytest.mark.parametrize("case", ["tensor_to_param", "none_then_tensor", "module_to_param", "int_to_module",
                                  "none_then_int_to_module", "param_to_buffer", "module_over_buffer",
                                  "param_over_attribute", "register_none_then_tensor", "int_to_buffer"])
def test_assigning_to_a_registered_name_follows_torch(case):
    """torch keeps a name registered as a parameter (module) slot after ``= None`` and refuses a
    value of another kind there; a Parameter or Module assigned over a buffer takes its place."""

    def fn(lib, tensor, param):
        m = lib.Sequential(lib.Linear(2, 3), lib.BatchNorm1d(3))
        lin, bn = m[0], m[1]
        if case == "tensor_to_param":
            lin.bias = tensor(3)
        elif case == "none_then_tensor":
            lin.bias = None
            lin.bias = tensor(3)
        elif case == "module_to_param":
            lin.bias = lib.ReLU()
        elif case == "int_to_module":
            setattr(m, "0", 3)
        elif case == "none_then_int_to_module":
            setattr(m, "0", None)
            setattr(m, "0", 3)
        elif case == "param_to_buffer":
            bn.running_mean = param(3)
        elif case == "module_over_buffer":
            bn.running_mean = lib.ReLU()
        elif case == "param_over_attribute":
            lin.foo = 3
            lin.foo = param(1)
        elif case == "register_none_then_tensor":
            lin.register_parameter("extra", None)
            lin.extra = tensor(1)
        elif case == "int_to_buffer":
            bn.running_mean = 3
        return ([n for n, _ in m.named_parameters()], [n for n, _ in m.named_buffers()],
                [n for n, _ in m.named_modules()], list(m.state_dict()))

    _both(fn, message=False)


def test_delattr_unregisters_parameters_buffers_and_modules():
    def fn(lib, tensor, param):
        m = lib.Sequential(lib.Linear(2, 3), lib.BatchNorm1d(3))
        del m[0].weight
        del m[1].running_var
        delattr(m, "1")
        m.add_module("1", lib.Tanh())
        return list(m.state_dict()), [n for n, _ in m.named_modules()]

    _both(fn)


def test_apply_visits_children_in_order_then_the_module():
    def fn(lib, tensor, param):
        shared = lib.Tanh()
        m = lib.Sequential(lib.Linear(1, 1), lib.Sequential(lib.ReLU(), shared), shared)
        seen = []
        assert m.apply(lambda x: seen.append(type(x).__name__)) is m
        return seen

    _both(fn)


@pytest.mark.parametrize("target", ["a.foo", "a.weight", "zz", "a.in_features", "q.weight", "a.nope", "a", ""])
@pytest.mark.parametrize("getter", ["get_submodule", "get_parameter", "get_buffer"])
def test_get_submodule_parameter_buffer_errors_as_torch(getter, target):
    def fn(lib, tensor, param):
        m = lib.Module()
        m.a = lib.BatchNorm1d(2)
        got = getattr(m, getter)(target)
        return type(got).__name__

    _both(fn)


def test_load_state_dict_error_messages_as_torch():
    _same_outcome(lambda: torch.nn.Linear(2, 3).load_state_dict({"weight": torch.zeros(3, 2), "x": torch.zeros(1)}),
                  lambda: nn.Linear(2, 3).load_state_dict({"weight": np.zeros((3, 2)), "x": np.zeros(1)}))
    _same_outcome(lambda: torch.nn.Linear(2, 3).load_state_dict(3), lambda: nn.Linear(2, 3).load_state_dict(3))


def _kinds(mods):
    return [type(m).__name__ for m in mods]


@pytest.mark.parametrize("case", ["insert_negative", "add_list", "iadd", "iadd_list", "mul", "rmul", "imul",
                                  "mul_zero", "mul_float", "dir_digits", "none_child_repr"])
def test_sequential_operators_as_torch(case):
    def fn(lib, tensor, param):
        s = lib.Sequential(lib.ReLU(), lib.Tanh())
        if case == "insert_negative":
            s.insert(-1, lib.Sigmoid())
        elif case == "add_list":
            s = s + [lib.ELU()]
        elif case == "iadd":
            s += lib.Sequential(lib.ELU())
        elif case == "iadd_list":
            s += [lib.ELU()]
        elif case == "mul":
            s = s * 2
        elif case == "rmul":
            s = 3 * s
        elif case == "imul":
            s *= 2
        elif case == "mul_zero":
            s = s * 0
        elif case == "mul_float":
            s = s * 1.5
        elif case == "dir_digits":
            return [k for k in dir(s) if k[0].isdigit()]
        elif case == "none_child_repr":
            s.add_module("x", None)
            return repr(s)
        return _kinds(s), [n for n, _ in s.named_children()], len(s)

    _both(fn, message=False)


def test_parameter_list_and_dict_repr_indent_as_torch():
    """torch indents each entry of their extra_repr by two spaces (then the Module repr adds its own)."""
    for n in (1, 2):
        t = repr(torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(2, 3)) for _ in range(n)]))
        o = repr(nn.ParameterList([nn.Parameter(np.zeros((2, 3), np.float32)) for _ in range(n)]))
        assert o == t.replace("torch.float32", "float32")
    t = repr(torch.nn.ParameterDict({"b": torch.nn.Parameter(torch.zeros(2)), "a": torch.nn.Parameter(torch.zeros(3))}))
    o = repr(nn.ParameterDict({"b": nn.Parameter(np.zeros(2, np.float32)), "a": nn.Parameter(np.zeros(3, np.float32))}))
    assert o == t.replace("torch.FloatTensor", "float32")


def _constant_dims(out: np.ndarray, x: np.ndarray) -> list[int]:
    """The dims along which the dropout mask (out / x) never changes."""
    mask = out / x
    return [d for d in range(x.ndim) if np.all(mask == np.take(mask, [0], axis=d))]


@pytest.mark.parametrize("layer,ndim", [("Dropout1d", 2), ("Dropout1d", 3), ("Dropout1d", 4),
                                        ("Dropout2d", 2), ("Dropout2d", 3), ("Dropout2d", 4), ("Dropout2d", 5),
                                        ("Dropout3d", 3), ("Dropout3d", 4), ("Dropout3d", 5)])
def test_channel_dropout_ranks_and_mask_shape_as_torch(layer, ndim):
    """Which ranks are refused (Dropout1d) or only warned about (2d/3d), in train and eval, and
    over which dims one draw is shared (torch reads a 3D Dropout2d input as (N, C, L))."""
    # 16 draws along the first two dims: a mask that happens to be constant there is (almost) impossible
    x = np.random.default_rng(0).uniform(1, 2, ((16, 16) + (3,) * ndim)[:ndim])
    t_mod, o_mod = getattr(torch.nn, layer)(0.5), getattr(nn, layer)(0.5)
    for train in (False, True):
        t_mod.train(train)
        o_mod.train(train)
        with warnings.catch_warnings(record=True) as t_warned:
            warnings.simplefilter("always")
            t = _outcome(lambda: t_mod(torch.tensor(x)).numpy())
        with warnings.catch_warnings(record=True) as o_warned:
            warnings.simplefilter("always")
            o = _outcome(lambda: o_mod(Tensor(x)).numpy())
        assert t[0] == o[0], (t, o)
        assert [str(w.message) for w in o_warned] == [str(w.message) for w in t_warned]
        if t[0] == "OK":
            if train:
                assert _constant_dims(o[1], x) == _constant_dims(t[1], x)
            else:
                np.testing.assert_array_equal(o[1], t[1])


@pytest.mark.parametrize("ids", [[10], [-1], [1.0]])
@pytest.mark.parametrize("layer", ["Embedding", "EmbeddingBag"])
def test_embedding_bad_ids_raise_torchs_error_type(layer, ids):
    with pytest.raises(Exception) as t_err:
        getattr(torch.nn, layer)(10, 3)(torch.tensor([ids]))
    with pytest.raises(type(t_err.value)):
        getattr(nn, layer)(10, 3)(np.array([ids]))


def test_groupnorm_indivisible_channels_message_as_torch():
    _same_outcome(lambda: torch.nn.GroupNorm(3, 4), lambda: nn.GroupNorm(3, 4))


SLOT_MAKERS = {
    "linear_nobias": lambda m: m.Linear(2, 3, bias=False),
    "bilinear_nobias": lambda m: m.Bilinear(2, 2, 3, bias=False),
    "layernorm_noaffine": lambda m: m.LayerNorm(3, elementwise_affine=False),
    "layernorm_nobias": lambda m: m.LayerNorm(3, bias=False),
    "conv_nobias": lambda m: m.Conv1d(1, 1, 1, bias=False),
    "convT_nobias": lambda m: m.ConvTranspose2d(1, 1, 1, bias=False),
    "batchnorm_noaffine": lambda m: m.BatchNorm1d(2, affine=False),
    "batchnorm_nostats": lambda m: m.BatchNorm1d(2, track_running_stats=False),
    "instancenorm": lambda m: m.InstanceNorm1d(2),
    "groupnorm_noaffine": lambda m: m.GroupNorm(1, 2, affine=False),
    "groupnorm_nobias": lambda m: m.GroupNorm(1, 2, bias=False),
    "rmsnorm_noaffine": lambda m: m.RMSNorm(3, elementwise_affine=False),
    "rnncell_nobias": lambda m: m.RNNCell(2, 2, bias=False),
    "lstm_nobias": lambda m: m.LSTM(2, 2, bias=False),
    "mha": lambda m: m.MultiheadAttention(8, 2),
    "mha_kdim_nobias": lambda m: m.MultiheadAttention(8, 2, kdim=3, bias=False),
    "mha_bias_kv": lambda m: m.MultiheadAttention(8, 2, add_bias_kv=True),
    "sequential": lambda m: m.Sequential(m.Linear(1, 1), m.ReLU()),
}


@pytest.mark.parametrize("name", sorted(SLOT_MAKERS))
def test_parameter_module_and_buffer_slots_as_torch(name):
    """The registered names (None slots included), as torch's _parameters/_modules/_buffers keys;
    a Tensor assigned to a None parameter slot is refused as torch refuses it."""
    t, o = SLOT_MAKERS[name](torch.nn), SLOT_MAKERS[name](nn)
    assert list(o._parameters) == list(t._parameters)
    assert list(o._modules) == list(t._modules)
    assert list(o._buffers) == list(t._buffers)
    for slot in [k for k, v in t._parameters.items() if v is None]:
        with pytest.raises(TypeError):
            setattr(t, slot, torch.zeros(1))
        with pytest.raises(TypeError):
            setattr(o, slot, Tensor(np.zeros(1, np.float32)))


def test_next_of_parameters_and_buffers_gives_the_first_as_torch():
    t, o = torch.nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    assert next(o.parameters()) is o.weight and next(t.parameters()) is t.weight
    assert next(o.buffers()) is o.running_mean and next(t.buffers()) is t.running_mean
    assert [p.shape for p in o.parameters()] == [tuple(p.shape) for p in t.parameters()]


@pytest.mark.parametrize("kwargs", [dict(scale_grad_by_freq=True), dict(sparse=True),
                                    dict(scale_grad_by_freq=True, padding_idx=1, max_norm=1.5)])
def test_embedding_scale_grad_by_freq_and_sparse_as_torch(kwargs):
    """The weight gradient (sparse for sparse=True, as torch's; compared made dense) and the renormalised weight."""
    ids = np.array([[1, 2, 2, 5], [2, 5, 0, 1]])
    t = torch.nn.Embedding(6, 3, **kwargs).double()
    o = nn.Embedding(6, 3, **kwargs).double()
    assert repr(o) == repr(t)
    o.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    g = np.random.default_rng(0).standard_normal((2, 4, 3))
    (t(torch.tensor(ids)) * torch.tensor(g)).sum().backward()
    (o(ids) * Tensor(g)).sum().backward()
    assert o.weight.grad.is_sparse == t.weight.grad.is_sparse
    t_grad = t.weight.grad.to_dense() if t.weight.grad.is_sparse else t.weight.grad
    o_grad = o.weight.grad.to_dense() if o.weight.grad.is_sparse else o.weight.grad
    np.testing.assert_allclose(o_grad.numpy(), t_grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(o.weight.numpy(), t.weight.detach().numpy(), rtol=1e-12, atol=1e-12)


# Not compared: EmbeddingBag(scale_grad_by_freq=True)'s gradient. torch 2.13's CPU kernel scales some
# rows by another id's count (ids [[1, 2, 2], [2, 5, 1]] give id 2 a gradient of 1.5 and id 5 one of
# 1/3, where Embedding gives 1 and 1); ours divides by each id's own count, as documented.
@pytest.mark.parametrize("kwargs", [dict(mode="mean", max_norm=1.0),
                                    dict(mode="max", max_norm=0.5, norm_type=1.0),
                                    dict(mode="max", scale_grad_by_freq=True)])
def test_embedding_bag_max_norm_and_scale_grad_by_freq_as_torch(kwargs):
    ids = np.array([[1, 2, 2], [2, 5, 1]])
    t, o = torch.nn.EmbeddingBag(6, 3, **kwargs).double(), nn.EmbeddingBag(6, 3, **kwargs).double()
    assert repr(o) == repr(t)
    o.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    g = np.random.default_rng(0).standard_normal((2, 3))
    called = _outcome(lambda: t(torch.tensor(ids))), _outcome(lambda: o(ids))
    assert called[0][0] == called[1][0], called
    if called[0][0] != "OK":
        return
    t_out, o_out = called[0][1], called[1][1]
    np.testing.assert_allclose(o_out.numpy(), t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    (t_out * torch.tensor(g)).sum().backward()
    (o_out * Tensor(g)).sum().backward()
    np.testing.assert_allclose(o.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", [[2, 3], (2, 3), (2, 3.0), 6])
def test_unflatten_keeps_size_as_given_and_checks_it_as_torch(size):
    _same_outcome(lambda: repr(torch.nn.Unflatten(1, size)), lambda: repr(nn.Unflatten(1, size)))


def test_rnn_cell_repr_prints_nonlinearity_unquoted_as_torch():
    assert repr(nn.RNNCell(3, 4, nonlinearity="relu")) == repr(torch.nn.RNNCell(3, 4, nonlinearity="relu"))


@pytest.mark.parametrize("with_metadata", [False, True])
def test_load_state_dict_without_num_batches_tracked_as_torch(with_metadata):
    """A checkpoint without num_batches_tracked loads (the count is kept), unless torch's metadata
    says the norm layer's version saved it."""
    t = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    o = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    t_sd = t.state_dict()
    del t_sd["1.num_batches_tracked"]
    o_sd = t_sd if with_metadata else {k: v.numpy() for k, v in t_sd.items()}
    t_res = _outcome(lambda: tuple(t.load_state_dict(t_sd if with_metadata else dict(t_sd))))
    o_res = _outcome(lambda: tuple(o.load_state_dict(o_sd)))
    assert t_res == o_res


@pytest.mark.parametrize("kwargs", [dict(hidden_size=0), dict(hidden_size=3.0), dict(num_layers=0),
                                    dict(dropout=0.5), dict(dropout=0.5, num_layers=2), dict(dropout=1.5)])
@pytest.mark.parametrize("layer", ["RNN", "LSTM", "GRU"])
def test_recurrent_constructor_checks_and_dropout_warning_as_torch(layer, kwargs):
    kwargs = dict(dict(input_size=2, hidden_size=3), **kwargs)
    with warnings.catch_warnings(record=True) as t_warned:
        warnings.simplefilter("always")
        t = _outcome(lambda: repr(getattr(torch.nn, layer)(**kwargs)))
    with warnings.catch_warnings(record=True) as o_warned:
        warnings.simplefilter("always")
        o = _outcome(lambda: repr(getattr(nn, layer)(**kwargs)))
    assert o == t
    assert [str(w.message) for w in o_warned] == [str(w.message) for w in t_warned]


@pytest.mark.parametrize("kwargs", [dict(), dict(num_layers=2, bidirectional=True), dict(bias=False, proj_size=1)])
def test_lstm_flat_weights_names_as_torch(kwargs):
    t, o = torch.nn.LSTM(2, 3, **kwargs), nn.LSTM(2, 3, **kwargs)
    assert o._flat_weights_names == t._flat_weights_names
    assert [w.shape for w in o._flat_weights] == [tuple(w.shape) for w in t._flat_weights]


@pytest.mark.parametrize("key", ["a.b", "", 3, "ok"])
def test_parameter_dict_key_checks_as_torch(key):
    def fn(lib, tensor, param):
        return list(lib.ParameterDict([(key, param(1))]).keys())

    _both(fn)


def test_module_list_subclass_repr_uses_its_class_name_as_torch():
    def fn(lib, tensor, param):
        class Blocks(lib.ModuleList):
            pass

        return repr(Blocks()), repr(Blocks([lib.ReLU(), lib.ReLU(), lib.Tanh()]))

    _both(fn)


def test_always_call_forward_hook_runs_when_a_pre_hook_raises_as_torch():
    def fn(lib, tensor, param):
        m = lib.Linear(2, 2)
        seen = []

        def bad_pre_hook(mod, args):
            raise ValueError("pre-hook failed")

        m.register_forward_pre_hook(bad_pre_hook)
        m.register_forward_hook(lambda mod, args, out: seen.append(out), always_call=True)
        m.register_forward_hook(lambda mod, args, out: seen.append("plain"))
        try:
            m(tensor(1, 2))
        except ValueError as e:
            seen.append(str(e))
        return seen

    _both(fn)


def _plain(sd) -> dict:
    """A state_dict's values as NumPy arrays (other objects, such as extra state, kept)."""
    return {k: (v.detach().numpy() if hasattr(v, "detach") else v) for k, v in sd.items()}


def _extra_state_model(lib):
    class Counter(lib.Module):
        def __init__(self):
            super().__init__()
            self.lin = lib.Linear(2, 2)
            self.count = 0

        def get_extra_state(self):
            return {"count": self.count}

        def set_extra_state(self, state):
            self.count = state["count"]

    m = lib.Sequential(Counter(), lib.BatchNorm1d(2))
    m[0].count = 7
    return m


def test_extra_state_is_saved_and_loaded_as_torch():
    t, o = _extra_state_model(torch.nn), _extra_state_model(nn)
    assert list(o.state_dict()) == list(t.state_dict())
    assert o.state_dict()["0._extra_state"] == t.state_dict()["0._extra_state"] == {"count": 7}
    sd = _plain(t.state_dict())
    sd["0._extra_state"] = {"count": 3}
    o.load_state_dict(sd)
    assert o[0].count == 3
    t_sd = t.state_dict()
    del sd["0._extra_state"], t_sd["0._extra_state"]
    _same_outcome(lambda: _extra_state_model(torch.nn).load_state_dict(t_sd),
                  lambda: _extra_state_model(nn).load_state_dict(sd))
    with pytest.raises(RuntimeError):
        nn.Linear(1, 1).get_extra_state()


@pytest.mark.parametrize("keys", [["x", "0.bias"], ["0.q.w", "zz", "1.bias", "0.bias"], ["1.weight", "0.nope"]])
def test_unexpected_keys_in_torchs_order(keys):
    """torch lists unexpected keys module by module (depth first), not in the checkpoint's order."""
    def fn(lib, tensor, param):
        m = lib.Sequential(lib.Linear(1, 1), lib.ReLU())
        sd = {k: np.zeros(1, np.float32) if lib is nn else torch.zeros(1) for k in keys}
        return tuple(m.load_state_dict(sd, strict=False))

    _both(fn)


def test_strict_failure_still_copies_matching_entries_as_torch():
    def fn(lib, tensor, param):
        m = lib.Linear(2, 2)
        sd = {"weight": np.ones((2, 2), np.float32) if lib is nn else torch.ones(2, 2), "extra": tensor(1)}
        try:
            m.load_state_dict(sd)
        except RuntimeError:
            pass
        return float(m.weight.detach().sum()) if lib is torch.nn else float(m.weight.sum())

    _both(fn)


def test_state_dict_and_load_state_dict_hooks_as_torch():
    def fn(lib, tensor, param):
        m = lib.Sequential(lib.Linear(2, 2), lib.Linear(2, 1))
        log = []
        m[0].register_state_dict_pre_hook(lambda mod, prefix, keep_vars: log.append(("pre", prefix, keep_vars)))
        m.register_state_dict_pre_hook(lambda mod, prefix, keep_vars: log.append(("pre", prefix, keep_vars)))

        def drop_bias(mod, sd, prefix, local_metadata):
            log.append(("post", prefix))
            sd.pop(prefix + "bias")

        m[1].register_state_dict_post_hook(drop_bias)
        m.register_state_dict_post_hook(lambda mod, sd, prefix, meta: log.append(("post", prefix, list(sd))))
        sd = m.state_dict()

        def rename(mod, sd, prefix, meta, strict, missing, unexpected, errors):
            log.append(("load-pre", prefix))
            if prefix + "old_weight" in sd:
                sd[prefix + "weight"] = sd.pop(prefix + "old_weight")

        def forgive_bias(mod, keys):
            log.append(("load-post", list(keys.missing_keys)))
            keys.missing_keys[:] = [k for k in keys.missing_keys if not k.endswith("bias")]

        m[1].register_load_state_dict_pre_hook(rename)
        handle = m.register_load_state_dict_post_hook(forgive_bias)
        sd["1.old_weight"] = sd.pop("1.weight")
        result = m.load_state_dict(sd)
        handle.remove()
        log.append(tuple(result))
        log.append("1.old_weight" in sd)  # the caller's dict is not edited
        return log

    _both(fn)


def test_load_state_dict_assign_replaces_tensors_as_torch():
    def fn(lib, tensor, param):
        m = lib.Sequential(lib.Linear(2, 2), lib.BatchNorm1d(2))
        m[0].bias.requires_grad_(False)
        old = m[0].weight
        sd = {k: (v.double() if lib is torch.nn else v.astype(np.float64)) if k.endswith(("weight", "mean")) else v
              for k, v in m.state_dict().items()}
        m.load_state_dict(sd, assign=True)
        return (m[0].weight is old, type(m[0].weight).__name__, str(m[0].weight.dtype).replace("torch.", ""),
                m[0].bias.requires_grad, str(m[1].running_mean.dtype).replace("torch.", ""),
                [n for n, _ in m.named_parameters()], [n for n, _ in m.named_buffers()])

    _both(fn)


@pytest.mark.parametrize("layer,shape", [("RNN", (1, 1, 1, 3)), ("LSTM", (1, 1, 1, 3)), ("GRU", (3,))])
def test_recurrent_rank_error_message_as_torch(layer, shape):
    _same_outcome(lambda: getattr(torch.nn, layer)(3, 4)(torch.zeros(shape)),
                  lambda: getattr(nn, layer)(3, 4)(Tensor(np.zeros(shape, np.float32))))


@pytest.mark.parametrize("track,train,shape", [(False, True, (2, 3, 1)), (False, False, (3, 1)),
                                               (True, False, (2, 3, 1)), (True, True, (2, 3, 2))])
def test_instance_norm_needs_more_than_one_spatial_element_as_torch(track, train, shape):
    t, o = torch.nn.InstanceNorm1d(3, track_running_stats=track), nn.InstanceNorm1d(3, track_running_stats=track)
    t.train(train)
    o.train(train)
    t_res = _outcome(lambda: t(torch.ones(shape)).shape)
    o_res = _outcome(lambda: o(Tensor(np.ones(shape, np.float32))).shape)
    assert t_res[0] == o_res[0], (t_res, o_res)


def test_softmax2d_and_embedding_bag_rank_errors_as_torch():
    _same_outcome(lambda: torch.nn.Softmax2d()(torch.zeros(2, 3)), lambda: nn.Softmax2d()(Tensor(np.zeros((2, 3)))))
    _same_outcome(lambda: torch.nn.EmbeddingBag(5, 2)(torch.zeros(2, 2, 2)),
                  lambda: nn.EmbeddingBag(5, 2)(np.zeros((2, 2, 2), np.float32)))


_R = np.random.default_rng(1).standard_normal
ADDED_LAYERS = {
    "convT3d": (lambda m: m.ConvTranspose3d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
                [_R((1, 4, 3, 3, 3))]),
    "maxpool3d": (lambda m: m.MaxPool3d(2, stride=1, padding=1), [_R((1, 2, 4, 4, 4))]),
    "avgpool3d": (lambda m: m.AvgPool3d(2, divisor_override=3), [_R((1, 2, 4, 4, 4))]),
    "adaptive3d": (lambda m: m.AdaptiveAvgPool3d((2, 3, None)), [_R((1, 2, 5, 5, 4))]),
    "rrelu": (lambda m: m.RReLU(0.1, 0.3), [_R((3, 4))]),
    "cosine": (lambda m: m.CosineSimilarity(dim=-1), [_R((3, 4)), _R((3, 4))]),
    "pdist": (lambda m: m.PairwiseDistance(), [_R((3, 4)), _R((3, 4))]),
    "pdist_p1_keepdim": (lambda m: m.PairwiseDistance(p=1.0, keepdim=True), [_R((3, 4)), _R((3, 4))]),
    "pdist_1d": (lambda m: m.PairwiseDistance(), [_R(4), _R(4)]),
    "channel_shuffle": (lambda m: m.ChannelShuffle(3), [_R((2, 6, 2, 2))]),
    "constant_pad": (lambda m: m.ConstantPad2d((1, 0, 2, 1), 3.5), [_R((1, 2, 3, 3))]),
    "zero_pad": (lambda m: m.ZeroPad1d(2), [_R((2, 3))]),
    "reflection_pad": (lambda m: m.ReflectionPad2d((1, 2, 0, 1)), [_R((1, 2, 4, 4))]),
    "replication_pad": (lambda m: m.ReplicationPad3d(1), [_R((1, 1, 2, 3, 3))]),
    "circular_pad": (lambda m: m.CircularPad2d((1, 1, 2, 0)), [_R((1, 2, 3, 3))]),
}


@pytest.mark.parametrize("name", sorted(ADDED_LAYERS))
def test_added_layers_match_torch_in_eval(name):
    """Layers torch has that were missing: repr, state_dict, output and gradients (eval mode)."""
    from tests.nn.parity_helpers import compare, copy_state

    make, inputs = ADDED_LAYERS[name]
    t, o = make(torch.nn).double(), make(nn).double()
    assert repr(o) == repr(t)
    copy_state(t, o)
    compare(torch, t, o, inputs, train=False)


def test_rrelu_in_training_draws_slopes_between_lower_and_upper():
    x = -np.ones((200,))
    y = nn.RReLU(0.1, 0.3)(Tensor(x)).numpy()
    assert np.all((-y >= 0.1) & (-y <= 0.3)) and np.unique(y).size > 1


def test_circular_pad_rank_error_as_torch():
    _same_outcome(lambda: torch.nn.CircularPad2d(1)(torch.zeros(3, 3)),
                  lambda: nn.CircularPad2d(1)(Tensor(np.zeros((3, 3)))))


def test_flatten_parameters_is_callable_as_torch():
    t, o = torch.nn.LSTM(2, 3), nn.LSTM(2, 3)
    assert t.flatten_parameters() is None and o.flatten_parameters() is None


def test_sequential_takes_an_ordered_dict_but_not_a_plain_dict_as_torch():
    def fn(lib, tensor, param):
        return [n for n, _ in lib.Sequential({"a": lib.ReLU()}).named_children()]

    _both(fn, message=False)
