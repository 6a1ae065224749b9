"""Differential sweep against torch's ModuleInfo database: every ``torch.nn`` module torch describes
(``torch.testing._internal.common_modules.module_db``, ~110 entries) built from its own constructor
arguments, given torch's parameters and buffers, run on its own sample inputs through torch and
through ours; state_dict keys, outputs, updated buffers and float64 gradients compared.

    PYTHONPATH=. python tests/nn/moduleinfo_sweep.py [--modules Linear,LSTM,...] [--json OUT]

Dev tooling, not a test module (pytest does not collect it); it reuses the converters of
``tests/engine/opinfo_sweep.py`` and exits 0 with a message when torch is absent.

Per sample (training and eval mode where they differ): the module is built on both sides from the
same arguments (``float64``), torch's state_dict is loaded into ours (after one forward for lazy
modules), and the first difference is classified: ``construct`` (ours raised building it or lacks
the class), ``state_dict`` (other keys or shapes), ``ours_raised``, ``torch_raised``, ``shape`` /
``dtype`` / ``value`` (outputs), ``buffers`` (after the forward: running stats), ``grad`` /
``grad_missing`` (inputs and parameters, of ``sum(out * cotangent)``). ``error_inputs`` check that ours
raises torch's exception type. Modules whose forward draws random numbers compare shapes only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location("opinfo_sweep", Path(__file__).parents[1] / "engine" / "opinfo_sweep.py")
ops = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ops)

RANDOM_MODULES = {"FractionalMaxPool2d", "FractionalMaxPool3d", "RReLU", "Dropout", "Dropout1d", "Dropout2d",
                  "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"}


def load(names):
    try:
        import torch
    except ImportError:
        return None, None, "torch is not installed"
    ops.load({"__none__"})  # installs the expecttest stub when needed
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torch.testing._internal.common_modules import module_db
    except Exception as e:
        return None, None, f"torch's module_db did not import: {ops.exc_text(e)}"
    return torch, [m for m in module_db if not names or m.module_cls.__name__ in names or m.name in names], None


class ModuleCtx(ops.Ctx):
    """opinfo_sweep's converters, plus torch layer instances given to a constructor (TransformerEncoder's
    ``encoder_layer``) rebuilt as ours from their attributes (the state_dict is copied afterwards)."""

    def convert(self, obj, memo, requires_grad=True):
        torch = self.torch
        if isinstance(obj, (torch.nn.TransformerEncoderLayer, torch.nn.TransformerDecoderLayer)):
            import nn

            act = obj.activation
            act = getattr(act, "__name__", None) or type(act).__name__.lower()
            kwargs = dict(dim_feedforward=obj.linear1.out_features, dropout=obj.dropout.p, activation=act,
                          layer_norm_eps=obj.norm1.eps, batch_first=obj.self_attn.batch_first,
                          norm_first=obj.norm_first, bias=obj.linear1.bias is not None)
            return getattr(nn, type(obj).__name__)(obj.self_attn.embed_dim, obj.self_attn.num_heads, **kwargs)
        return super().convert(obj, memo, requires_grad)


class Report:
    def __init__(self, name):
        self.name, self.counts, self.examples = name, {}, {}

    def add(self, cls, example=None):
        self.counts[cls] = self.counts.get(cls, 0) + 1
        if example and len(self.examples.setdefault(cls, [])) < 2:
            self.examples[cls].append(example)

    @property
    def n_fail(self):
        return sum(v for k, v in self.counts.items() if k not in ("pass", "error_pass"))


def run_sample(ctx, info, mi, training, report, dtname):
    torch = ctx.torch
    import nn

    name = info.module_cls.__name__
    where = f"{name}({ops.short(mi.constructor_input.args, torch)}, {ops.short(mi.constructor_input.kwargs, torch)})"
    where += f" training={training} forward{ops.short(mi.forward_input.args, torch)}"
    where += f" {ops.short(mi.forward_input.kwargs, torch)}" if mi.forward_input.kwargs else ""
    cls = getattr(nn, name, None)
    if cls is None:
        report.add("construct", f"{where}: ours lacks nn.{name}")
        return
    memo = {}
    try:
        c_args = ctx.convert(mi.constructor_input.args, memo, False)
        c_kwargs = ctx.convert(mi.constructor_input.kwargs, memo, False)
        f_args = ctx.convert(mi.forward_input.args, memo)
        f_kwargs = ctx.convert(mi.forward_input.kwargs, memo)
    except (ops.Skip, ops.Unconvertible) as e:
        report.add("skipped", f"{where}: {e}")
        return
    tdt = getattr(torch, dtname)
    torch.manual_seed(0)
    tm = info.module_cls(*mi.constructor_input.args, **mi.constructor_input.kwargs).to(tdt)
    tm.train(training)
    try:
        om = cls(*c_args, **c_kwargs)
        om.to(getattr(ctx.engine, dtname))
        om.train(training)
    except Exception as e:
        report.add("construct", f"{where}: {ops.exc_text(e)}")
        return
    t_in = ops.flat_tensors((mi.forward_input.args, mi.forward_input.kwargs), torch.Tensor)
    if info.is_lazy:  # materialise both, then copy torch's values
        with torch.no_grad():
            tm(*[a.detach() if isinstance(a, torch.Tensor) else a for a in mi.forward_input.args],
               **mi.forward_input.kwargs)
        try:
            with ctx.engine.no_grad():
                om(*f_args, **f_kwargs)
        except Exception as e:
            report.add("ours_raised", f"{where} (lazy first call): {ops.exc_text(e)}")
            return
    t_sd, o_sd = tm.state_dict(), om.state_dict()
    if list(t_sd) != list(o_sd):
        report.add("state_dict", f"{where}: torch keys {list(t_sd)}, ours {list(o_sd)}")
        return
    for k in t_sd:
        if tuple(t_sd[k].shape) != tuple(o_sd[k].shape):
            report.add("state_dict", f"{where}: {k} torch {tuple(t_sd[k].shape)} ours {tuple(o_sd[k].shape)}")
            return
    try:
        om.load_state_dict({k: ctx.engine.tensor(v.detach().numpy().copy()) for k, v in t_sd.items()})
    except Exception as e:
        report.add("state_dict", f"{where}: load_state_dict: {ops.exc_text(e)}")
        return
    random = name in RANDOM_MODULES
    try:
        torch.manual_seed(0)
        t_out = tm(*mi.forward_input.args, **mi.forward_input.kwargs)
    except Exception as e:
        report.add("skipped", f"{where}: torch raised {ops.exc_text(e)}")
        return
    try:
        with ops.time_limit(20):
            o_out = om(*f_args, **f_kwargs)
    except Exception as e:
        report.add("ours_raised", f"{where}: {ops.exc_text(e)}")
        return
    r = ops.compare(ctx, o_out, t_out, dtname, values=not random)
    if r:
        report.add(r[0], f"{where}: {r[1]}")
        return
    t_sd2, o_sd2 = tm.state_dict(), om.state_dict()
    for k in t_sd2:
        msg = ops.values_close(ops.ours_numpy(o_sd2[k]), t_sd2[k].detach().numpy(), dtname)
        if msg:
            report.add("buffers", f"{where}: {k} after forward: {msg}")
            return
    if dtname != "float64" or random:
        report.add("pass")
        return
    t_all = ops.flat_tensors(t_out, torch.Tensor)
    t_outs = [t for t in t_all if t.requires_grad]
    o_outs = [o for o, t in zip(ops.flat_tensors(o_out, ctx.Tensor), t_all) if t.requires_grad]
    if not t_outs:
        report.add("pass")
        return
    rng = np.random.default_rng(0)
    cots = [rng.standard_normal(tuple(t.shape)) for t in t_outs]
    t_leaves = [t for t in t_in if t.requires_grad] + [p for p in tm.parameters() if p.requires_grad]
    o_in = [memo[id(t)] for t in t_in if t.requires_grad and id(t) in memo]
    o_leaves = o_in + [p for p in om.parameters() if p.requires_grad]
    names = [f"input {i}" for i in range(len(o_in))] + [n for n, p in om.named_parameters() if p.requires_grad]
    t_grads = torch.autograd.grad(sum((t * torch.tensor(c)).sum() for t, c in zip(t_outs, cots)), t_leaves,
                                  allow_unused=True)
    try:
        loss = sum((o * ctx.engine.tensor(c)).sum() for o, c in zip(o_outs, cots))
        o_grads = ctx.engine.autograd.grad(loss, o_leaves, allow_unused=True)
    except Exception as e:
        report.add("ours_raised", f"{where} (backward): {ops.exc_text(e)}")
        return
    for n, og, tg in zip(names, o_grads, t_grads):
        if tg is None:
            continue
        if og is None:
            report.add("grad_missing", f"{where}: d/d {n}")
            return
        msg = ops.values_close(ops.ours_numpy(og), tg.numpy(), dtname, ops.GRAD_TOL)
        if msg:
            report.add("grad", f"{where}: d/d {n}: {msg}")
            return
    report.add("pass")


def run_errors(ctx, info, report):
    torch = ctx.torch
    import nn

    if info.module_error_inputs_func is None:
        return
    cls = getattr(nn, info.module_cls.__name__, None)
    for ei in info.module_error_inputs_func(info, device="cpu", dtype=torch.float32, requires_grad=False,
                                            training=True):
        mi, want = ei.module_error_input, ei.error_type
        at_construction = "CONSTRUCTION" in str(ei.error_on)
        memo = {}
        try:
            args = ctx.convert(mi.constructor_input.args, memo, False)
            kwargs = ctx.convert(mi.constructor_input.kwargs, memo, False)
            f_args = f_kwargs = None
            if not at_construction:
                f_args = ctx.convert(mi.forward_input.args, memo)
                f_kwargs = ctx.convert(mi.forward_input.kwargs, memo)
        except (ops.Skip, ops.Unconvertible):
            continue
        where = f"{info.module_cls.__name__}({ops.short(mi.constructor_input.args, torch)}, " \
                f"{ops.short(mi.constructor_input.kwargs, torch)})"
        if not at_construction:
            where += f" forward{ops.short(mi.forward_input.args, torch)}"
        try:
            om = cls(*args, **kwargs)
            if not at_construction:
                om(*f_args, **f_kwargs)
        except Exception as e:
            ok = isinstance(e, want)
            report.add("error_pass" if ok else "error_type",
                       None if ok else f"{where}: torch {want.__name__} ({ei.error_regex!r}), ours {ops.exc_text(e)}")
            continue
        report.add("error_no_raise", f"{where}: torch {want.__name__} ({ei.error_regex!r})")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modules", default="", help="comma-separated class names")
    p.add_argument("--dtypes", default="float64,float32")
    p.add_argument("--json", default="")
    a = p.parse_args(argv)
    torch, infos, why = load({s.strip() for s in a.modules.split(",") if s.strip()})
    if torch is None:
        print(f"moduleinfo_sweep: skipped ({why})")
        return 0
    import engine

    torch.set_num_threads(1)
    np.seterr(all="ignore")
    ctx = ModuleCtx(torch, engine)
    reports, start = [], time.monotonic()
    for info in infos:
        rep = Report(info.name)
        for dtname in a.dtypes.split(","):
            for training in ((True, False) if info.train_and_eval_differ else (True,)):
                try:
                    inputs = info.module_inputs_func(info, device="cpu", dtype=getattr(torch, dtname),
                                                     requires_grad=True, training=training)
                except Exception as e:
                    rep.add("skipped", f"module_inputs_func: {ops.exc_text(e)}")
                    continue
                for mi in inputs:
                    try:
                        run_sample(ctx, info, mi, training, rep, dtname)
                    except Exception as e:  # the sweep goes on whatever one module does
                        rep.add("harness", f"{ops.exc_text(e)}")
        try:
            run_errors(ctx, info, rep)
        except Exception as e:
            rep.add("harness", f"error_inputs: {ops.exc_text(e)}")
        reports.append(rep)
        print(f"[{time.monotonic() - start:5.0f}s] {rep.name:32s} fail {rep.n_fail:3d} {rep.counts}",
              file=sys.stderr, flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({r.name: {"counts": r.counts, "examples": r.examples} for r in reports}, f, indent=1)
    failing = [r for r in reports if r.n_fail]
    for r in sorted(failing, key=lambda r: -r.n_fail):
        print(f"{r.name:32s} {', '.join(f'{k} {v}' for k, v in sorted(r.counts.items()))}")
        for cls, ex in r.examples.items():
            if cls not in ("pass", "error_pass", "skipped"):
                print(f"    {cls}: {ex[0]}")
    passed = sum(r.counts.get("pass", 0) for r in reports)
    print(f"\n{len(reports)} modules, {len(failing)} with a failure; {passed} samples passed, "
          f"{sum(r.n_fail for r in reports)} failed ({time.monotonic() - start:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
