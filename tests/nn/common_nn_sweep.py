"""Differential sweep against torch's older nn test specs (``torch.testing._internal.common_nn``:
``module_tests``, ``get_new_module_tests()`` and ``criterion_tests``, ~280 dicts): each spec's module
built on both sides from the same constructor (a ``torch.nn`` class by ``module_name``, a ``lambda``
over ``nn``, or ``wrap_functional(...)`` over ``torch.nn.functional``), torch's state_dict loaded into
ours, the spec's inputs (and targets) made with torch's seeded RNG and converted, and outputs,
state_dict keys and float64 gradients (inputs, float targets and parameters) compared.

    PYTHONPATH=. python tests/nn/common_nn_sweep.py [--only Conv2d,BCELoss,...] [--json OUT]

Dev tooling, not a test module (pytest does not collect it); it reuses the converters of
``tests/engine/opinfo_sweep.py`` as ``tests/nn/moduleinfo_sweep.py`` does, and exits 0 with a message
when torch is absent. ``--only`` matches a spec's module name or a prefix of its full name.

Constructors are turned into ours the way opinfo_sweep patches OpInfo lambdas: a copy of the function
whose globals ``nn``/``F``/``torch`` are ours (a shim for ``torch``), and whose closure cells (target
tensors, weights, nested lambdas) are converted. Failure classes are moduleinfo_sweep's: ``construct``,
``state_dict``, ``ours_raised``, ``shape`` / ``dtype`` / ``value`` / ``structure``, ``buffers``,
``grad`` / ``grad_missing``; ``skipped`` for CUDA-only / half / complex / long-tensor specs and for
arguments with no counterpart. Modules whose forward draws random numbers compare shapes only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location("opinfo_sweep", Path(__file__).parents[1] / "engine" / "opinfo_sweep.py")
ops = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ops)

RANDOM_NAMES = ("RReLU", "Dropout", "AlphaDropout", "FeatureAlphaDropout", "FractionalMaxPool", "rrelu",
                "dropout", "fractional_max_pool")
SKIP_WORDS = ("cuda", "half", "bfloat16", "complex", "cudnn", "sparse")


def load():
    try:
        import torch
    except ImportError:
        return None, None, "torch is not installed"
    ops.load({"__none__"})  # installs the expecttest stub when needed
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torch.testing._internal import common_nn
    except Exception as e:
        return None, None, f"torch's common_nn did not import: {ops.exc_text(e)}"
    specs = [("module", dict(s)) for s in common_nn.module_tests + common_nn.get_new_module_tests()]
    specs += [("criterion", dict(s)) for s in common_nn.criterion_tests]
    return torch, specs, None


def spec_name(spec):
    if spec.get("fullname"):
        return spec["fullname"]
    name = spec.get("module_name") or getattr(spec.get("constructor"), "__name__", "?")
    return name + (f"_{spec['desc']}" if spec.get("desc") else "")


class SpecCtx(ops.Ctx):
    """opinfo_sweep's converters, plus functions patched with their closures converted too."""

    def __init__(self, torch, engine):
        super().__init__(torch, engine)
        import nn

        self.nn = nn

    def patch_fn(self, fn, memo):
        """A copy of ``fn`` over ours: globals ``nn``, ``F``, ``torch`` replaced, closure cells converted."""
        mod = getattr(fn, "__module__", "") or ""
        if mod.startswith(("torch.nn.functional", "torch._C")):
            return self.ours_for_name("nn.functional." + fn.__name__)
        if not isinstance(fn, types.FunctionType):
            return self.convert(fn, memo, False)
        g = dict(fn.__globals__)
        g["torch"] = self.shim
        g["nn"] = self.nn
        g["F"] = ops._TorchShim(self, ("nn", "functional"))
        cells = None
        if fn.__closure__:
            cells = tuple(types.CellType(self.convert_deep(c.cell_contents, memo)) for c in fn.__closure__)
        new = types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, cells)
        new.__kwdefaults__ = self.convert_deep(fn.__kwdefaults__, memo) if fn.__kwdefaults__ else None
        return new

    def convert_deep(self, obj, memo):
        if isinstance(obj, types.FunctionType):
            return self.patch_fn(obj, memo)
        if isinstance(obj, dict):
            return {k: self.convert_deep(v, memo) for k, v in obj.items()}
        return self.convert(obj, memo, False)


def build_ours(ctx, spec, c_args, memo):
    """Our module for ``spec`` (raises what ours raises)."""
    nn, torch = ctx.nn, ctx.torch
    con = spec.get("constructor")
    if con is None or (isinstance(con, type) and issubclass(con, torch.nn.Module)
                       and con.__name__ != "FunctionalModule"):
        name = spec.get("module_name") or con.__name__
        cls = getattr(nn, name, None)
        if cls is None:
            raise ops.Missing(f"ours lacks nn.{name}")
        return cls(*c_args)
    if isinstance(con, type):  # wrap_functional(fn, **kwargs)
        cl = dict(zip(con.forward.__code__.co_freevars, (c.cell_contents for c in con.forward.__closure__)))
        fn, kwargs = ctx.patch_fn(cl["fn"], memo), ctx.convert_deep(cl["kwargs"], memo)

        class FunctionalModule(nn.Module):
            def forward(self, *args):
                return fn(*args, **kwargs)

        return FunctionalModule(*c_args)
    return ctx.patch_fn(con, memo)(*c_args)


def build_torch(torch, spec):
    con = spec.get("constructor")
    if con is None:
        con = getattr(torch.nn, spec["module_name"])
    return con(*spec.get("constructor_args", ()))


def make_arg(torch, spec, name):
    """``input`` / ``target`` / ``extra_args`` as TestBase._get_arg makes them (float64 default)."""
    if name in spec:
        return spec[name]
    if name + "_fn" in spec:
        return spec[name + "_fn"]()
    if name + "_size" in spec:
        def sized(s):
            if isinstance(s, list):
                return [sized(x) for x in s]
            return s.double() if isinstance(s, torch.Tensor) else torch.randn(s)
        return sized(spec[name + "_size"])
    return () if name == "extra_args" else None


class Report:
    def __init__(self):
        self.counts, self.examples = {}, {}

    def add(self, cls, name, msg=None):
        self.counts[cls] = self.counts.get(cls, 0) + 1
        if cls != "pass":
            self.examples.setdefault(cls, []).append(f"{name}: {msg}")


def skip_reason(spec, name):
    low = name.lower()
    for w in SKIP_WORDS:
        if w in low:
            return f"{w} spec"
    if spec.get("test_cpu") is False:
        return "test_cpu=False"
    return None


def run_spec(ctx, kind, spec, report):
    torch, engine = ctx.torch, ctx.engine
    name = spec_name(spec)
    why = skip_reason(spec, name)
    if why:
        report.add("skipped", name, why)
        return
    torch.manual_seed(0)
    prev = torch.get_default_dtype()
    torch.set_default_dtype(spec.get("default_dtype") or torch.float64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tm = build_torch(torch, spec)
            inp = make_arg(torch, spec, "input")
            target = make_arg(torch, spec, "target") if kind == "criterion" else None
            extra = tuple(make_arg(torch, spec, "extra_args"))
    except Exception as e:
        report.add("skipped", name, f"torch's spec did not build: {ops.exc_text(e)}")
        return
    finally:
        torch.set_default_dtype(prev)
    tm = tm.double()
    tm.train(True)
    inputs = inp if isinstance(inp, tuple) else (inp,)
    inputs = tuple(x.detach().double().requires_grad_() if isinstance(x, torch.Tensor) and x.is_floating_point()
                   else x for x in inputs)
    t_args = inputs
    if kind == "criterion":
        if isinstance(target, torch.Tensor) and target.is_floating_point():
            target = target.detach().double().requires_grad_()
        t_args = inputs + (target,) + extra
    memo = {}
    try:
        o_args = ctx.convert(t_args, memo)
        c_args = ctx.convert(tuple(spec.get("constructor_args", ())), memo, False)
    except (ops.Skip, ops.Unconvertible) as e:
        report.add("skipped", name, str(e))
        return
    try:
        om = build_ours(ctx, spec, c_args, memo)
        om.to(engine.float64)
        om.train(True)
    except (ops.Skip, ops.Unconvertible) as e:
        report.add("skipped", name, str(e))
        return
    except Exception as e:
        report.add("construct", name, ops.exc_text(e))
        return
    t_sd, o_sd = tm.state_dict(), om.state_dict()
    if list(t_sd) != list(o_sd):
        report.add("state_dict", name, f"torch keys {list(t_sd)}, ours {list(o_sd)}")
        return
    for k in t_sd:
        if tuple(t_sd[k].shape) != tuple(o_sd[k].shape):
            report.add("state_dict", name, f"{k} torch {tuple(t_sd[k].shape)} ours {tuple(o_sd[k].shape)}")
            return
    try:
        om.load_state_dict({k: engine.tensor(v.detach().numpy().copy()) for k, v in t_sd.items()})
    except Exception as e:
        report.add("state_dict", name, f"load_state_dict: {ops.exc_text(e)}")
        return
    random = any(r in name for r in RANDOM_NAMES)
    try:
        torch.manual_seed(0)
        t_out = tm(*t_args)
    except Exception as e:
        report.add("skipped", name, f"torch raised {ops.exc_text(e)}")
        return
    try:
        with ops.time_limit(20):
            o_out = om(*o_args)
    except Exception as e:
        report.add("ours_raised", name, ops.exc_text(e))
        return
    r = ops.compare(ctx, o_out, t_out, "float64", values=not random)
    if r:
        report.add(r[0], name, r[1])
        return
    t_sd2, o_sd2 = tm.state_dict(), om.state_dict()
    for k in t_sd2:
        msg = ops.values_close(ops.ours_numpy(o_sd2[k]), t_sd2[k].detach().numpy(), "float64")
        if msg:
            report.add("buffers", name, f"{k} after forward: {msg}")
            return
    if random:
        report.add("pass", name)
        return
    msg = compare_grads(ctx, spec, t_out, o_out, t_args, memo, tm, om)
    if msg:
        report.add(msg[0], name, msg[1])
        return
    if spec.get("module_name") and ctx.nn.__dict__.get(spec["module_name"]) \
            and _torch_size_as_tuple(repr(tm)) != repr(om):
        report.add("repr", name, f"torch {repr(tm)!r}, ours {repr(om)!r}")
        return
    if kind == "module" and spec.get("check_eval", True):
        tm.eval()
        om.eval()
        torch.manual_seed(0)
        with torch.no_grad():
            t_out = tm(*t_args)
        with engine.no_grad():
            o_out = om(*o_args)
        r = ops.compare(ctx, o_out, t_out, "float64", values=not random)
        if r:
            report.add("eval_" + r[0], name, r[1])
            return
    report.add("pass", name)


def _torch_size_as_tuple(r):
    """torch's repr with ``torch.Size([2, 2])`` as ``(2, 2)``: the converter gives ours a tuple."""
    return re.sub(r"torch\.Size\(\[([^\]]*)\]\)", lambda m: f"({m.group(1)}{',' if ',' not in m.group(1) else ''})",
                  r)


def compare_grads(ctx, spec, t_out, o_out, t_args, memo, tm, om):
    """(class, message) for the first float64 gradient difference (then second-order, where the spec
    checks gradgrad), or None."""
    torch, engine = ctx.torch, ctx.engine
    t_all = ops.flat_tensors(t_out, torch.Tensor)
    keep = [i for i, t in enumerate(t_all) if t.requires_grad]
    if not keep:
        return None
    o_all = ops.flat_tensors(o_out, ctx.Tensor)
    rng = np.random.default_rng(0)
    cots = [rng.standard_normal(tuple(t_all[i].shape)) for i in keep]
    t_in = [t for t in ops.flat_tensors(t_args, torch.Tensor) if t.requires_grad]
    t_leaves = t_in + [p for p in tm.parameters() if p.requires_grad]
    o_in = [memo[id(t)] for t in t_in]
    o_leaves = o_in + [p for p in om.parameters() if p.requires_grad]
    names = [f"input {i}" for i in range(len(o_in))] + [n for n, p in om.named_parameters() if p.requires_grad]
    gradgrad = spec.get("check_gradgrad", True)
    try:
        t_grads = torch.autograd.grad(sum((t_all[i] * torch.tensor(c)).sum() for i, c in zip(keep, cots)),
                                      t_leaves, allow_unused=True, create_graph=gradgrad)
    except Exception as e:
        return "skipped", f"torch backward raised {ops.exc_text(e)}"
    try:
        loss = sum((o_all[i] * engine.tensor(c)).sum() for i, c in zip(keep, cots))
        o_grads = engine.autograd.grad(loss, o_leaves, allow_unused=True, create_graph=gradgrad)
    except Exception as e:
        return "ours_raised", f"(backward) {ops.exc_text(e)}"
    for n, og, tg in zip(names, o_grads, t_grads):
        if tg is None:
            continue
        if og is None:
            return "grad_missing", f"d/d {n}"
        msg = ops.values_close(ops.ours_numpy(og), tg.detach().numpy(force=True), "float64", ops.GRAD_TOL)
        if msg:
            return "grad", f"d/d {n}: {msg}"
    if not gradgrad:
        return None
    pairs = [(o, t) for o, t in zip(o_grads, t_grads) if t is not None and t.requires_grad]
    if not pairs:
        return None
    vs = [rng.standard_normal(tuple(t.shape)) for _, t in pairs]
    t_gg = torch.autograd.grad(sum((t * torch.tensor(v)).sum() for (_, t), v in zip(pairs, vs)), t_leaves,
                               allow_unused=True)
    try:
        outs = [(o * engine.tensor(v)).sum() for (o, _), v in zip(pairs, vs) if o.requires_grad]
        if not outs:  # fine where torch's second derivative is 0 (ReLU, NLLLoss, padding: g-linear)
            zero = all(t is None or not np.any(t.numpy(force=True)) for t in t_gg)
            return None if zero else ("gradgrad_missing", "ours' first gradients carry no graph")
        o_gg = engine.autograd.grad(sum(outs), o_leaves, allow_unused=True)
    except Exception as e:
        return "ours_raised", f"(double backward) {ops.exc_text(e)}"
    for n, og, tg in zip(names, o_gg, t_gg):
        if tg is None:
            continue
        if og is None:
            if np.any(tg.numpy() != 0):
                return "gradgrad_missing", f"d2/d {n}"
            continue
        msg = ops.values_close(ops.ours_numpy(og), tg.numpy(force=True), "float64", ops.GRAD_TOL)
        if msg:
            return "gradgrad", f"d2/d {n}: {msg}"
    return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default="", help="comma-separated module names or full-name prefixes")
    p.add_argument("--json", default="")
    p.add_argument("--show-skipped", action="store_true")
    a = p.parse_args(argv)
    torch, specs, why = load()
    if torch is None:
        print(f"common_nn_sweep: skipped ({why})")
        return 0
    import engine

    only = [s.strip() for s in a.only.split(",") if s.strip()]
    if only:
        specs = [(k, s) for k, s in specs
                 if s.get("module_name") in only or any(spec_name(s).startswith(o) for o in only)]
    torch.set_num_threads(1)
    np.seterr(all="ignore")
    ctx = SpecCtx(torch, engine)
    report, start = Report(), time.monotonic()
    for kind, spec in specs:
        try:
            run_spec(ctx, kind, spec, report)
        except Exception as e:  # the sweep goes on whatever one spec does
            report.add("harness", spec_name(spec), ops.exc_text(e))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"counts": report.counts, "examples": report.examples}, f, indent=1)
    for cls, ex in sorted(report.examples.items()):
        if cls == "skipped" and not a.show_skipped:
            continue
        print(f"== {cls} ({len(ex)})")
        for line in ex:
            print(f"    {line}")
    fails = sum(v for k, v in report.counts.items() if k not in ("pass", "skipped"))
    print(f"\n{len(specs)} specs: {report.counts.get('pass', 0)} passed, {fails} failed, "
          f"{report.counts.get('skipped', 0)} skipped {report.counts} ({time.monotonic() - start:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
