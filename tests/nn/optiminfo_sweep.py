"""Differential sweep against torch's OptimizerInfo database: every optimizer torch describes
(``torch.testing._internal.common_optimizers.optim_db``) with each of its configurations
(``optim_inputs_func``: lr, weight_decay, momentum, nesterov, amsgrad, maximize, ...), stepped on the
same parameters and gradients through torch and through ours, parameters compared after every step;
``optim_error_inputs_func`` checks that ours raises torch's exception type. Optimizers torch steps on
sparse gradients (SparseAdam only; SGD and Adagrad too, ``supports_sparse``: each config again, marked
"(sparse)") run a ``sparse=True`` embedding problem; where torch's step raises there, ours must raise the
same exception type.

    PYTHONPATH=. python tests/nn/optiminfo_sweep.py [--optims Adam,SGD] [--steps 6]

Dev tooling, not a test module (pytest does not collect it); exits 0 with a message when torch is
absent. Implementation switches of torch's (``foreach``, ``fused``, ``capturable``, ``differentiable``)
are passed through: ours should accept them as torch does.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location("opinfo_sweep", Path(__file__).parents[1] / "engine" / "opinfo_sweep.py")
ops = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ops)


def _problem(lib, rng_seed=0):
    """Two parameters (a weight (3, 4) and a bias (3,)) and a loss with a curved, non-separable surface."""
    rng = np.random.default_rng(rng_seed)
    w, b, x = rng.standard_normal((3, 4)), rng.standard_normal(3), rng.standard_normal((5, 4))
    if lib.__name__ == "torch":
        params = [lib.nn.Parameter(lib.tensor(w)), lib.nn.Parameter(lib.tensor(b))]
        X = lib.tensor(x)
    else:
        import nn

        params = [nn.Parameter(lib.tensor(w)), nn.Parameter(lib.tensor(b))]
        X = lib.tensor(x)

    def loss_fn():
        y = (X @ params[0].t() + params[1]).tanh()
        return (y * y).sum() + (params[0] ** 4).sum() * 0.01

    return params, loss_fn


def _sparse_problem(lib, rng_seed=0):
    """One embedding table (6, 3) looked up with sparse=True by other ids each call (repeats included):
    a sparse gradient of the looked-up rows, a curved loss."""
    rng = np.random.default_rng(rng_seed)
    w = rng.standard_normal((6, 3))
    ids = [rng.integers(0, 6, (2, 4)) for _ in range(64)]
    calls = [0]
    if lib.__name__ == "torch":
        params = [lib.nn.Parameter(lib.tensor(w))]
        emb = lib.nn.functional.embedding
    else:
        import engine.functional as F
        import nn

        params = [nn.Parameter(lib.tensor(w))]
        emb = F.embedding

    def loss_fn():
        e = emb(lib.tensor(ids[calls[0] % len(ids)]), params[0], sparse=True)
        calls[0] += 1
        return (e.tanh() * e).sum() + (e ** 4).sum() * 0.01

    return params, loss_fn


def run_config(ctx, info, oi, steps, sparse=False):
    """None when every step matches, else (class, message). ``sparse``: the sparse=True embedding problem."""
    torch, engine = ctx.torch, ctx.engine
    import nn

    name = info.optim_cls.__name__
    ours_cls = getattr(nn.optim, name, None)
    if ours_cls is None:
        return "missing", f"ours lacks nn.optim.{name}"
    kwargs = dict(oi.kwargs)
    problem = _sparse_problem if sparse else _problem
    t_params, t_loss = problem(torch)
    o_params, o_loss = problem(engine)
    groups_t, groups_o = t_params, o_params
    if oi.params is not None:  # torch's per-group settings: split our two params into the same shape
        return "skipped", "per-group params"
    if name == "Muon":  # 2-D parameters only
        t_params, o_params = t_params[:1], o_params[:1]
        groups_t, groups_o = t_params, o_params
    memo = {}
    try:
        o_kwargs = ctx.convert(kwargs, memo, False)
    except (ops.Skip, ops.Unconvertible) as e:
        return "skipped", str(e)
    topt = info.optim_cls(groups_t, **kwargs)
    try:
        oopt = ours_cls(groups_o, **o_kwargs)
    except Exception as e:
        return "ours_raised", f"constructor: {ops.exc_text(e)}"
    # L-BFGS runs 20 quasi-Newton iterations per step() and amplifies rounding: torch against itself,
    # with the loss summed in another order, differs by 1.4e-9 after one step() and ~1e-7 after two;
    # so it is compared after one step(), at 1e-6.
    tol = (1e-6, 1e-9) if name == "LBFGS" else (1e-7, 1e-10)
    for step in range(1 if name == "LBFGS" else steps):
        def t_closure():
            topt.zero_grad()
            loss = t_loss()
            loss.backward()
            return loss

        def o_closure():
            oopt.zero_grad()
            loss = o_loss()
            loss.backward()
            return loss

        try:
            if info.step_requires_closure:
                topt.step(t_closure)
            else:
                t_closure()
                topt.step()
        except Exception as te:  # torch refuses (a sparse gradient with weight_decay): ours must too
            try:
                o_closure()
                oopt.step()
            except Exception as e:
                return None if isinstance(e, type(te)) else ("error_type", f"step {step}: torch {ops.exc_text(te)}, "
                                                                           f"ours {ops.exc_text(e)}")
            return "error_no_raise", f"step {step}: torch {ops.exc_text(te)}, ours stepped"
        try:
            if info.step_requires_closure:
                oopt.step(o_closure)
            else:
                o_closure()
                oopt.step()
        except Exception as e:
            return "ours_raised", f"step {step}: {ops.exc_text(e)}"
        for i, (o, t) in enumerate(zip(o_params, t_params)):
            msg = ops.values_close(o.detach().numpy(), t.detach().numpy(), "float64", tol)
            if msg:
                return "value", f"step {step}, param {i}: {msg}"
    t_state, o_state = topt.state_dict(), oopt.state_dict()
    t_keys = sorted(t_state["state"].get(0, {}))
    o_keys = sorted(o_state["state"].get(0, {}))
    if t_keys != o_keys:
        return "state_dict", f"state keys torch {t_keys} ours {o_keys}"
    t_pg = sorted(k for k in t_state["param_groups"][0])
    o_pg = sorted(k for k in o_state["param_groups"][0])
    if t_pg != o_pg:
        return "state_dict", f"param_group keys: torch only {sorted(set(t_pg) - set(o_pg))}, " \
                             f"ours only {sorted(set(o_pg) - set(t_pg))}"
    return None


def run_errors(ctx, info):
    torch = ctx.torch
    import nn

    out = []
    if info.optim_error_inputs_func is None:
        return out
    ours_cls = getattr(nn.optim, info.optim_cls.__name__, None)
    if ours_cls is None:
        return [("missing", f"ours lacks nn.optim.{info.optim_cls.__name__}")]
    for ei in info.optim_error_inputs_func(device="cpu", dtype=torch.float64):
        oi = ei.optimizer_error_input
        if "STEP" in str(ei.error_on):
            continue  # errors at step() come from torch's own tensors (sparse grads, complex): skipped
        memo = {}
        try:
            params = ctx.convert(oi.params, memo, False) if oi.params is not None else None
            kwargs = ctx.convert(oi.kwargs, memo, False)
        except (ops.Skip, ops.Unconvertible):
            continue
        if params is None:
            import engine

            params = [nn.Parameter(engine.zeros(2, dtype=engine.float64))]
        if issubclass(ei.error_type, Warning):  # torch warns here (a parameter listed twice): ours must too
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                ours_cls(params, **kwargs)
            ok = any(issubclass(w.category, ei.error_type) for w in caught)
            out.append(("error_pass", None) if ok else ("error_no_raise", f"{oi.desc}: torch warns, ours does not"))
            continue
        try:
            ours_cls(params, **kwargs)
        except Exception as e:
            ok = isinstance(e, ei.error_type)
            why = f"{oi.desc}: torch {ei.error_type.__name__} ({ei.error_regex!r}), ours {ops.exc_text(e)}"
            out.append(("error_pass", None) if ok else ("error_type", why))
            continue
        out.append(("error_no_raise", f"{oi.desc} {ops.short(oi.kwargs, torch)}: torch {ei.error_type.__name__} "
                                      f"({ei.error_regex!r})"))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--optims", default="")
    p.add_argument("--steps", type=int, default=6)
    a = p.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("optiminfo_sweep: skipped (torch is not installed)")
        return 0
    ops.load({"__none__"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.testing._internal.common_optimizers import optim_db
    import engine

    wanted = {s for s in a.optims.split(",") if s}
    ctx = ops.Ctx(torch, engine)
    n_pass = n_fail = 0
    for info in optim_db:
        name = info.optim_cls.__name__
        if wanted and name not in wanted:
            continue
        results = []
        try:
            configs = info.optim_inputs_func(device="cpu", dtype=torch.float64)
        except Exception as e:
            print(f"{name}: optim_inputs_func: {ops.exc_text(e)}")
            continue
        kinds = [True] if info.only_supports_sparse_grads else [False, True] if info.supports_sparse else [False]
        for sparse in kinds:
            for oi in configs:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        r = run_config(ctx, info, oi, a.steps, sparse)
                except Exception as e:
                    r = ("harness", ops.exc_text(e))
                results.append((oi.desc + (" (sparse)" if sparse and not info.only_supports_sparse_grads else ""), r))
        errs = run_errors(ctx, info)
        bad = [(d, r) for d, r in results if r is not None and r[0] != "skipped"]
        bad_err = [e for e in errs if e[0] != "error_pass"]
        n_pass += len(results) - len(bad) + len(errs) - len(bad_err)
        n_fail += len(bad) + len(bad_err)
        print(f"{name:12s} configs {len(results) - len(bad)}/{len(results)} ok, error_inputs "
              f"{len(errs) - len(bad_err)}/{len(errs)} ok")
        for d, (cls, msg) in bad:
            print(f"    [{d}] {cls}: {msg}")
        for cls, msg in bad_err:
            print(f"    {cls}: {msg}")
    print(f"\n{n_pass} passed, {n_fail} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
