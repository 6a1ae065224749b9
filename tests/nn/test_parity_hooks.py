"""Module hooks as torch's: forward pre-hooks (replacing args, with_kwargs), forward hooks
(replacing the output, with_kwargs, always_call, prepend), full backward hooks (grad_input,
grad_output), removal. The same script runs on torch.nn and on nn; the logs must be equal."""

import numpy as np
import pytest

import nn
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


class _Scale:
    """forward(x, scale=1.0) -> x * scale, for either library."""

    @staticmethod
    def make(m):
        class Scale(m.Module):
            def forward(self, x, scale=1.0):
                return x * scale

        return Scale()


def _arr(t):
    return np.asarray(t.detach().numpy() if hasattr(t, "detach") else t.numpy())


def _run_forward_hooks(m, T):
    log = []
    mod = _Scale.make(m)
    mod.register_forward_pre_hook(lambda mod_, args: log.append(("pre", len(args))))
    mod.register_forward_pre_hook(lambda mod_, args: (args[0] + 1,))  # replaces the input
    mod.register_forward_pre_hook(lambda mod_, args, kwargs: log.append(("pre_kw", sorted(kwargs))) or
                                  (args, {**kwargs, "scale": 2.0}), with_kwargs=True)
    mod.register_forward_hook(lambda mod_, args, out: log.append(("fwd", _arr(args[0]).tolist(), _arr(out).tolist())))
    mod.register_forward_hook(lambda mod_, args, kwargs, out: log.append(("fwd_kw", kwargs["scale"])),
                              with_kwargs=True)
    mod.register_forward_hook(lambda mod_, args, out: log.append(("first",)), prepend=True)
    h = mod.register_forward_hook(lambda mod_, args, out: out * 10)  # replaces the output
    out1 = _arr(mod(T([1.0, 2.0]), scale=3.0)).tolist()
    h.remove()
    out2 = _arr(mod(T([1.0, 2.0]))).tolist()
    return log, out1, out2


def test_forward_and_pre_hooks_as_torch():
    ours = _run_forward_hooks(nn, lambda v: Tensor(np.array(v)))
    theirs = _run_forward_hooks(torch.nn, lambda v: torch.tensor(v, dtype=torch.float64))
    assert ours == theirs


def _run_always_call(m):
    log = []
    mod = _Scale.make(m)
    mod.forward = None  # calling it raises TypeError
    mod.register_forward_hook(lambda mod_, args, out: log.append(("always", out)), always_call=True)
    mod.register_forward_hook(lambda mod_, args, out: log.append(("normal", out)))
    mod.register_forward_hook(lambda mod_, args, kwargs, out: log.append(("always_kw", sorted(kwargs), out)),
                              always_call=True, with_kwargs=True)
    with pytest.raises(TypeError):
        mod(1.0, scale=2.0)
    return log


def test_always_call_hooks_run_when_forward_raises():
    assert _run_always_call(nn) == _run_always_call(torch.nn) == [("always", None), ("always_kw", ["scale"], None)]


def test_pre_hook_with_kwargs_must_return_a_pair():
    for m in (nn, torch.nn):
        mod = _Scale.make(m)
        mod.register_forward_pre_hook(lambda mod_, args, kwargs: args, with_kwargs=True)
        with pytest.raises(RuntimeError, match="forward pre-hook must return None or a tuple"):
            mod(nn.Parameter(np.ones(2)) if m is nn else torch.ones(2), scale=1.0)


def _run_backward_hook(m, T, dtype):
    torch.manual_seed(0)
    tlin = torch.nn.Linear(3, 2).to(dtype)
    lin = m.Linear(3, 2)
    if m is nn:
        lin.to("float64")
        lin.load_state_dict({k: v.detach().numpy() for k, v in tlin.state_dict().items()})
    else:
        lin = tlin
    seen = []
    lin.register_full_backward_hook(lambda mod_, gi, go: seen.append(
        ([None if g is None else _arr(g) for g in gi], [_arr(g) for g in go])))
    x = T(np.arange(6.0).reshape(2, 3))
    y = lin(x)
    (y * T(np.array([[1.0, -2.0], [0.5, 3.0]]))).sum().backward()
    return seen, _arr(x.grad)


def test_full_backward_hook_as_torch():
    ours = _run_backward_hook(nn, lambda a: Tensor(np.asarray(a, dtype=np.float64), requires_grad=True),
                              torch.float64)
    theirs = _run_backward_hook(torch.nn, lambda a: torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True),
                                torch.float64)
    (o_seen, o_xg), (t_seen, t_xg) = ours, theirs
    assert len(o_seen) == len(t_seen) == 1
    for a, b in zip(o_seen[0][0] + o_seen[0][1], t_seen[0][0] + t_seen[0][1]):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(o_xg, t_xg, rtol=1e-12)


def test_removed_hooks_and_flags_are_gone():
    mod = _Scale.make(nn)
    h = mod.register_forward_hook(lambda *a: None, with_kwargs=True, always_call=True)
    h.remove()
    assert not mod._forward_hooks and not mod._forward_hooks_with_kwargs and not mod._forward_hooks_always_called


def _run_backward_pre_hook(m, T):
    torch.manual_seed(0)
    tlin = torch.nn.Linear(3, 2).double()
    if m is nn:
        lin = nn.Linear(3, 2)
        lin.to("float64")
        lin.load_state_dict({k: v.detach().numpy() for k, v in tlin.state_dict().items()})
    else:
        lin = tlin
    order = []
    lin.register_full_backward_hook(lambda mod_, gi, go: order.append(("full", _arr(gi[0]).tolist())))
    lin.register_full_backward_pre_hook(lambda mod_, go: order.append(("pre", _arr(go[0]).tolist())))
    y = lin(T(np.arange(6.0).reshape(2, 3)))
    (y * T(np.array([[1.0, -2.0], [0.5, 3.0]]))).sum().backward()
    return order


def test_full_backward_pre_hook_runs_first_with_grad_output_as_torch():
    ours = _run_backward_pre_hook(nn, lambda a: Tensor(np.asarray(a, dtype=np.float64), requires_grad=True))
    theirs = _run_backward_pre_hook(torch.nn, lambda a: torch.tensor(np.asarray(a, dtype=np.float64),
                                                                      requires_grad=True))
    assert [k for k, _ in ours] == [k for k, _ in theirs] == ["pre", "full"]
    for (_, a), (_, b) in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def _run_replacing_hooks(m, T):
    """A Linear whose pre-hook doubles grad_output and whose full hook adds 1 to grad_input; a second
    full hook sees the first one's replacement. Returns what the hooks saw and the gradients."""
    torch.manual_seed(0)
    tlin = torch.nn.Linear(3, 2).double()
    if m is torch.nn:
        lin = tlin
    else:
        lin = nn.Linear(3, 2).double()
        lin.load_state_dict({k: v.detach().numpy() for k, v in tlin.state_dict().items()})
    seen = []
    lin.register_full_backward_pre_hook(lambda mod_, go: (go[0] * 2,))
    lin.register_full_backward_hook(lambda mod_, gi, go: (gi[0] + 1,))
    lin.register_full_backward_hook(lambda mod_, gi, go: seen.append((_arr(gi[0]), _arr(go[0]))))
    x = T(np.arange(6.0).reshape(2, 3))
    (lin(x) * T(np.array([[1.0, -2.0], [0.5, 3.0]]))).sum().backward()
    return seen, _arr(x.grad), _arr(lin.weight.grad)


def test_backward_hooks_may_replace_gradients_as_torch():
    ours = _run_replacing_hooks(nn, lambda a: Tensor(np.asarray(a, dtype=np.float64), requires_grad=True))
    theirs = _run_replacing_hooks(torch.nn, lambda a: torch.tensor(np.asarray(a, dtype=np.float64),
                                                                     requires_grad=True))
    (gi, go), x_grad, w_grad = ours[0][0], ours[1], ours[2]
    (tgi, tgo), tx_grad, tw_grad = theirs[0][0], theirs[1], theirs[2]
    for a, b in ((gi, tgi), (go, tgo), (x_grad, tx_grad), (w_grad, tw_grad)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # and the replacement is real: grad_output doubled, then 1 added to the input's gradient
    np.testing.assert_allclose(go, 2 * np.array([[1.0, -2.0], [0.5, 3.0]]))


def test_backward_hook_replacing_an_earlier_input_is_refused():
    class Add(nn.Module):
        def forward(self, a, b):
            return a * b

    mod = Add()
    mod.register_full_backward_hook(lambda mod_, gi, go: (gi[0] * 0, gi[1] * 0))  # both: one has flowed on
    a = Tensor(np.ones(2), requires_grad=True)
    b = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(RuntimeError, match="replaced the gradient of input [01], which had already flowed on"):
        mod(a, b).sum().backward()
