#!/usr/bin/env python3
"""Where a training step's time goes, op by op, and what the step would take if every op ran as
fast as it does warm.

Phase 1 times each op's forward and backward where it runs inside ordinary steps. Phase 2 runs
more steps in which every op call, right after its real call, is repeated ``--repeats`` times on
the same inputs (same instance, a copy of the upstream gradient): the median repeat is that call
warm (its data in cache, the BLAS and pool threads awake). Per op class: calls a step, in-step
ms, warm ms. The difference is what running inside a step costs; "floor" = the step's median
minus that difference summed over the ops = the step with every op warm, Python's time between
ops kept. NumPy is imported first and the model is built with the public API, as a user's script
(bench/user_train.py's ``make_ours``).

    python bench/step_floor.py --config S
    python bench/step_floor.py --config M --steps 6 --capture-steps 2
"""

import numpy as np  # noqa: I001  (first, as in a user's script)

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent))

from _common import CONFIGS  # noqa: E402
from user_train import corpus_ids, make_ours  # noqa: E402


class OpTimer:
    """Wraps every registered op's forward and backward: per-call times per "Class.F"/"Class.B", and
    with ``repeats`` the warm time of each call (the median of that many repeats right after it)."""

    def __init__(self):
        from engine.function import Function

        self.registry = Function.registry
        self.originals = {}
        self.in_step = defaultdict(float)  # key -> seconds, this step
        self.warm = defaultdict(float)
        self.calls = defaultdict(int)
        self.repeats = 0
        self.not_repeatable = set()

    def install(self) -> None:
        for cls in list(self.registry.values()):
            for name in ("forward", "backward"):
                f = cls.__dict__.get(name)
                if f is not None:
                    self.originals[(cls, name)] = f
                    setattr(cls, name, self._wrap(f, f"{cls.__name__}.{'F' if name == 'forward' else 'B'}",
                                                  name == "backward"))

    def uninstall(self) -> None:
        for (cls, name), f in self.originals.items():
            setattr(cls, name, f)

    def _wrap(self, f, key: str, is_backward: bool):
        timer = self

        def timed(self_, *args, **kwargs):
            t0 = time.perf_counter()
            out = f(self_, *args, **kwargs)
            timer.in_step[key] += time.perf_counter() - t0
            timer.calls[key] += 1
            if timer.repeats and key not in timer.not_repeatable:
                timer._repeat(f, self_, args, kwargs, key, is_backward)
            return out

        return timed

    def _repeat(self, f, self_, args, kwargs, key: str, is_backward: bool) -> None:
        times = []
        try:
            for _ in range(self.repeats):
                a = tuple(x.copy() if is_backward and hasattr(x, "copy") else x for x in args)  # g may be written
                t0 = time.perf_counter()
                f(self_, *a, **kwargs)
                times.append(time.perf_counter() - t0)
        except Exception:  # an op whose backward frees what it used: no warm figure for it
            self.not_repeatable.add(key)
            return
        self.warm[key] += statistics.median(times)

    def take(self) -> tuple[dict, dict]:
        step, warm = dict(self.in_step), dict(self.warm)
        self.in_step.clear()
        self.warm.clear()
        return step, warm


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="S")
    ap.add_argument("--steps", type=int, default=40, help="ordinary steps timed op by op (phase 1)")
    ap.add_argument("--capture-steps", type=int, default=5, help="steps with every op call repeated (phase 2)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=10)
    args = ap.parse_args(argv)
    cfg = CONFIGS[args.config]
    (forward, backward, clip, step), *_ = make_ours(cfg, "all")
    ids = corpus_ids()
    rng = np.random.default_rng(0)
    T, B = cfg["block_size"], cfg["batch_size"]
    offsets = np.arange(T + 1)

    def one() -> float:
        w = ids[rng.integers(0, len(ids) - T - 1, size=B)[:, None] + offsets]
        x, y = np.ascontiguousarray(w[:, :-1]), np.ascontiguousarray(w[:, 1:])
        t0 = time.perf_counter()
        loss = forward(x, y)
        backward(loss)
        clip()
        step()
        loss.item()
        return time.perf_counter() - t0

    for _ in range(args.warmup):
        one()
    plain = [one() for _ in range(args.steps)]
    timer = OpTimer()
    timer.install()
    try:
        per_step, totals = [], []
        for _ in range(args.steps):
            totals.append(one())
            per_step.append(timer.take()[0])
        calls = {k: v // args.steps for k, v in timer.calls.items()}
        timer.repeats = args.repeats
        warm_steps = []
        for _ in range(args.capture_steps):
            one()
            warm_steps.append(timer.take()[1])
    finally:
        timer.uninstall()

    def med_of(steps: list[dict], key: str) -> float:
        return statistics.median(s.get(key, 0.0) for s in steps) * 1e3

    keys = sorted(per_step[0], key=lambda k: -med_of(per_step, k))
    step_ms, plain_ms = statistics.median(totals) * 1e3, statistics.median(plain) * 1e3
    print(f"config {args.config}: step median {plain_ms:.2f} ms unwrapped, {step_ms:.2f} ms with the op timers")
    print(f"{'op':28s} {'calls':>5s} {'in step':>9s} {'warm':>9s} {'in/warm':>8s}")
    sum_in = sum_warm = 0.0
    for k in keys:
        a = med_of(per_step, k)
        if k in timer.not_repeatable:
            print(f"{k:28s} {calls[k]:5d} {a:8.3f}ms {'-':>9s}")
            sum_in += a
            sum_warm += a
            continue
        w = med_of(warm_steps, k)
        sum_in += a
        sum_warm += w
        print(f"{k:28s} {calls[k]:5d} {a:8.3f}ms {w:8.3f}ms {a / w if w else float('nan'):8.2f}")
    outside = step_ms - sum_in
    print(f"ops in step {sum_in:.2f} ms, warm {sum_warm:.2f} ms; outside the ops (Python, clip, optimizer) "
          f"{outside:.2f} ms")
    print(f"floor (every op warm): {plain_ms - (sum_in - sum_warm):.2f} ms against {plain_ms:.2f} ms")


if __name__ == "__main__":
    main()
