"""Optimizers against torch where torch's OptimizerInfo sweep (tests/nn/optiminfo_sweep.py) found them
to differ: Adam's checks of Tensor hyper-parameters and L-BFGS with a Tensor learning rate."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from parity_helpers import raises_as_torch as _raises_as_torch  # noqa: E402

import engine  # noqa: E402
import nn  # noqa: E402


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("kw,match", [
    ({"lr": "T", "foreach": True}, "lr as a Tensor is not supported for capturable=False and foreach=True"),
    ({"lr": "T2"}, "Tensor lr must be 1-element"),
    ({"betas": (0.9, "T")}, "betas must be either both floats or both Tensors"),
    ({"betas": ("T", 0.99)}, "betas must be either both floats or both Tensors"),
    ({"betas": ("T", "T"), "foreach": True}, r"betas\[0\] as a Tensor is not supported"),
])
def test_adam_tensor_hyperparameter_checks_as_torch(name, kw, match):
    def build(lib, opt_mod, param):
        def v(x):
            return lib.tensor(0.5) if x == "T" else lib.tensor([0.5, 0.5]) if x == "T2" else x
        args = {k: tuple(v(b) for b in val) if isinstance(val, tuple) else v(val) for k, val in kw.items()}
        return lambda: getattr(opt_mod, name)([param], **args)

    _raises_as_torch(build(engine, nn.optim, nn.Parameter(engine.zeros(2))),
                     build(torch, torch.optim, torch.nn.Parameter(torch.zeros(2))), match)


def test_adam_with_tensor_betas_steps_as_torch():
    # float64 betas: with float32 ones torch computes its bias corrections in float32 (5e-8 off), ours in
    # float64
    w = np.array([1.0, -2.0, 3.0])
    ours, theirs = nn.Parameter(engine.tensor(w)), torch.nn.Parameter(torch.tensor(w))
    b64 = engine.float64
    o = nn.optim.Adam([ours], lr=0.1, betas=(engine.tensor(0.8, dtype=b64), engine.tensor(0.9, dtype=b64)))
    t64 = torch.float64
    t = torch.optim.Adam([theirs], lr=0.1, betas=(torch.tensor(0.8, dtype=t64), torch.tensor(0.9, dtype=t64)))
    for _ in range(3):
        for p, opt in ((ours, o), (theirs, t)):
            opt.zero_grad()
            (p ** 2).sum().backward()
            opt.step()
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)


def test_lbfgs_with_a_tensor_learning_rate_matches_torch():
    # a Tensor lr used to stop ours after 3 of the 20 iterations (float32 steps from lr's dtype)
    rng = np.random.default_rng(0)
    w, x = rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
    out = []
    for lib, opt_mod, param in ((engine, nn.optim, nn.Parameter), (torch, torch.optim, torch.nn.Parameter)):
        p, X = param(lib.tensor(w)), lib.tensor(x)
        opt = opt_mod.LBFGS([p], lr=lib.tensor(0.001))

        def closure(opt=opt, p=p, X=X):
            opt.zero_grad()
            loss = ((X @ p.t()).tanh() ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        out.append((p.detach().numpy().copy(), opt.state[p]["n_iter"]))
    assert out[0][1] == out[1][1] == 20
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-9)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam",
                                  "RAdam", "Rprop", "ASGD", "Adafactor"])
def test_a_parameter_listed_twice_warns_and_steps_twice_as_torch(name):
    start = {"w": [1.0, -2.0], "b": [0.5, 3.0]}
    ours = {k: nn.Parameter(engine.tensor(v, dtype=engine.float64)) for k, v in start.items()}
    theirs = {k: torch.nn.Parameter(torch.tensor(v, dtype=torch.float64)) for k, v in start.items()}
    with pytest.warns(UserWarning, match="duplicate parameters"):
        o = getattr(nn.optim, name)([ours["w"], ours["b"], ours["w"]], lr=0.1)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        t = getattr(torch.optim, name)([theirs["w"], theirs["b"], theirs["w"]], lr=0.1)
    for _ in range(2):
        for k in start:
            ours[k].grad = ours[k].detach() * 2
            theirs[k].grad = theirs[k].detach() * 2
        o.step()
        t.step()
    for k in start:
        np.testing.assert_allclose(ours[k].detach().numpy(), theirs[k].detach().numpy(), rtol=1e-12, atol=1e-15)
