"""Shared helpers of the nn parity tests: copy a torch module's state_dict into ours, run both
on the same inputs, and compare outputs, buffers and gradients (inputs and parameters)."""

from __future__ import annotations

import numpy as np

from engine import Tensor

TOL = {"float32": dict(rtol=1e-5, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-10)}


def outcome(fn, by_name: bool = False):
    """("OK", result) of calling ``fn``, or the error it raised as (type, message); ``by_name``:
    the type's name, so that ours and torch's compare when only the names match."""
    try:
        return "OK", fn()
    except Exception as e:  # noqa: BLE001 - the error is the outcome compared
        return (type(e).__name__ if by_name else type(e)), str(e)


def raises_as_torch(ours, theirs, match=None) -> None:
    """Run both; torch's exception type is the expected one, ours must be an instance of it (and match
    ``match``)."""
    import pytest

    with pytest.raises(Exception) as want:
        theirs()
    with pytest.raises(want.type, match=match):
        ours()


def flat(out) -> list:
    """Every tensor inside a (possibly nested) tuple output, in order; None dropped."""
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flat(o)]
    return [] if out is None else [out]


def copy_state(torch_mod, ours) -> None:
    sd = {k: v.detach().cpu().numpy() for k, v in torch_mod.state_dict().items()}
    assert list(ours.state_dict()) == list(sd), (list(ours.state_dict()), list(sd))
    result = ours.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []


def compare(torch, torch_mod, ours, inputs, dtype: str = "float64", train: bool = True, grad_inputs=None,
            call=None, seed: int = 0) -> None:
    """Run ``torch_mod`` and ``ours`` (already holding equal weights, same dtype) on ``inputs``
    (NumPy arrays; float ones become leaves that require grad unless ``grad_inputs`` says
    otherwise) and compare every output, every buffer afterwards, and all gradients."""
    tol = TOL[dtype]
    torch_mod.train(train)
    ours.train(train)
    tdt = getattr(torch, dtype)
    if grad_inputs is None:
        grad_inputs = [isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in inputs]
    t_in, o_in = [], []
    for a, g in zip(inputs, grad_inputs):
        if isinstance(a, np.ndarray):
            if a.dtype.kind == "f":
                t_in.append(torch.tensor(a, dtype=tdt, requires_grad=g))
                o_in.append(Tensor(a.astype(dtype), requires_grad=g))
            else:
                t_in.append(torch.tensor(a))
                o_in.append(a)
        else:
            t_in.append(a)
            o_in.append(a)
    call = call or (lambda m, *xs: m(*xs))
    t_out = flat(call(torch_mod, *t_in))
    o_out = flat(call(ours, *o_in))
    assert len(t_out) == len(o_out)
    rng = np.random.default_rng(seed)
    t_loss = 0
    o_loss = None
    for t, o in zip(t_out, o_out):
        assert tuple(t.shape) == o.shape, (tuple(t.shape), o.shape)
        np.testing.assert_allclose(o.numpy(), t.detach().numpy(), **tol)
        if t.requires_grad:
            g = rng.standard_normal(tuple(t.shape))
            t_loss = t_loss + (t * torch.tensor(g, dtype=t.dtype)).sum()
            term = (o * Tensor(g.astype(dtype))).sum()
            o_loss = term if o_loss is None else o_loss + term
    for (k, tb), (k2, ob) in zip(torch_mod.named_buffers(), ours.named_buffers()):
        assert k == k2
        np.testing.assert_allclose(ob.numpy(), tb.numpy(), **tol)
    if o_loss is None:
        return
    t_loss.backward()
    o_loss.backward()
    for t, o in zip(t_in, o_in):
        if isinstance(o, Tensor) and o.requires_grad:
            np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), **tol)
    ours_p = dict(ours.named_parameters())
    for k, tp in torch_mod.named_parameters():
        op = ours_p[k]
        if tp.grad is None:
            assert op.grad is None or not op.grad.numpy().any(), k
        else:
            assert op.grad is not None, k
            np.testing.assert_allclose(op.grad.numpy(), tp.grad.numpy(), err_msg=k, **tol)


def pair(torch, torch_mod, ours, dtype: str):
    """Cast both to ``dtype`` and copy torch's weights into ours."""
    torch_mod.to(getattr(torch, dtype))
    ours.to(dtype)
    copy_state(torch_mod, ours)
    return torch_mod, ours


RNN_CONFIGS = [  # nn.RNN/GRU/LSTM cases: (constructor kwargs, input shape, with initial states)
    (dict(num_layers=1), (5, 3, 4), False),
    (dict(num_layers=2), (6, 2, 4), True),
    (dict(num_layers=2, batch_first=True), (2, 7, 4), True),
    (dict(num_layers=2, bidirectional=True), (5, 3, 4), True),
    (dict(num_layers=1, bias=False, bidirectional=True, batch_first=True), (3, 4, 4), False),
    (dict(num_layers=2), (5, 4), True),  # unbatched
]


def rnn_state_shape(kw: dict, shape: tuple, hidden: int) -> tuple:
    """The shape of an initial state (h0 or c0) for an RNN built with ``kw`` and an input of ``shape``."""
    dirs = 2 if kw.get("bidirectional") else 1
    batch = ((shape[1] if not kw.get("batch_first") else shape[0]),) if len(shape) == 3 else ()
    return (kw["num_layers"] * dirs, *batch, hidden)


def ops_in_graph(out) -> set[str]:
    """The names of the ops recorded in the graph behind the Tensor ``out``."""
    seen, stack = set(), [out]
    while stack:
        t = stack.pop()
        if t._ctx is not None:
            seen.add(type(t._ctx).__name__)
            stack.extend(p for p in t._ctx.parents if p is not None)
    return seen
