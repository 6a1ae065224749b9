"""`nn.utils.watch`: activation, gradient and update statistics per layer, as in makemore's lectures.

Forward hooks on every module record what each layer outputs (mean, std, the saturated fraction of
tanh/GELU layers, the dead fraction of ReLU layers) and keep the output's gradient; after backward
the gradient's std is read, and around ``optimizer.step()`` each parameter's update-to-data ratio
std(Δp)/std(p). It records on every ``every``-th optimizer step and costs nothing in between beyond
one flag test per module call. Each record is a JSON line; ``plot()`` draws one PNG.

>>> import nn, engine
>>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
>>> opt = nn.optim.SGD(model.parameters(), lr=0.1)
>>> w = watch(model, opt, every=1)
>>> loss = model(engine.Tensor.randn(16, 4)).sum(); loss.backward(); opt.step()
>>> sorted(w.history[-1]["layers"])
['0', '1', '2']
>>> w.remove()
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from engine import Tensor, is_grad_enabled

TANH_SATURATED = 0.97  # |tanh| above this: the gradient through it is below 6% (makemore's threshold)
GELU_FLAT = -3.0  # GELU inputs below this: its slope is under 1.2% (the flat left tail)


def _kind(module) -> str:
    name = type(module).__name__
    if name in ("Tanh", "Hardtanh", "Tanhshrink"):
        return "tanh"
    if name in ("GELU", "MLP") or "gelu" in name.lower():
        return "gelu"
    if name in ("ReLU", "ReLU6", "LeakyReLU"):
        return "relu"
    return "other"


def _stats(a: np.ndarray) -> dict[str, float]:
    a = a.astype(np.float64, copy=False)
    return {"mean": float(a.mean()) if a.size else math.nan, "std": float(a.std()) if a.size else math.nan}


class Watcher:
    """What ``watch`` returns: the hooks, the records (``history``) and the plot."""

    def __init__(self, model, optimizer=None, every: int = 100, log: str | Path | None = None):
        if every < 1:
            raise ValueError(f"watch: every must be >= 1, got {every}")
        self.model, self.optimizer, self.every = model, optimizer, every
        self.log = None if log is None else Path(log)
        self.step_count = 0
        self.history: list[dict] = []
        self._outputs: dict[str, tuple[Tensor, dict]] = {}
        self._handles = [m.register_forward_hook(self._hook(name or "(model)"))
                         for name, m in model.named_modules() if name or not list(model.children())]
        self._original_step = None
        if optimizer is not None:
            self._original_step = optimizer.step
            optimizer.step = self._wrapped_step

    @property
    def recording(self) -> bool:
        """Whether this step's forward is being recorded."""
        return self.step_count % self.every == 0

    def _hook(self, name: str):
        def hook(module, inputs, output):
            # Only a training forward is recorded: evaluation and sampling between two steps run under
            # no_grad (or in eval mode) and would cost a histogram per layer per batch or token.
            if not self.recording or not isinstance(output, Tensor) or not module.training \
                    or not is_grad_enabled():
                return None
            out = output.numpy()
            row = {"kind": _kind(module), **_stats(out)}
            if row["kind"] == "tanh":
                row["saturated"] = float((np.abs(out) > TANH_SATURATED).mean())
            elif row["kind"] == "gelu" and inputs and isinstance(inputs[0], Tensor):
                row["saturated"] = float((inputs[0].numpy() < GELU_FLAT).mean())
            elif row["kind"] == "relu":
                row["dead"] = float((out <= 0).mean())
            row["hist"] = np.histogram(out.astype(np.float64), bins=40)[0].tolist() if out.size else []
            row["hist_range"] = [float(out.min()), float(out.max())] if out.size else [0.0, 0.0]
            if output.requires_grad:
                output.retain_grad()
            self._outputs[name] = (output, row)
            return None
        return hook

    def _wrapped_step(self, *args, **kwargs):
        if not self.recording:
            self.step_count += 1
            return self._original_step(*args, **kwargs)
        before = {n: p.numpy().copy() for n, p in self.model.named_parameters()}
        result = self._original_step(*args, **kwargs)
        self.record(before)
        return result

    def record(self, params_before: dict[str, np.ndarray] | None = None) -> dict:
        """Close this step's record (after backward; after the optimizer step when ``params_before``
        holds the parameters from before it) and append it to ``history`` and the log."""
        layers = {}
        for name, (out, row) in self._outputs.items():
            if out.grad is not None:
                row["grad_std"] = float(out.grad.numpy().astype(np.float64).std())
                out.grad = None
            layers[name] = row
        params = {}
        for name, p in self.model.named_parameters():
            data = p.numpy().astype(np.float64)
            row = {"std": float(data.std())}
            if p.grad is not None:
                row["grad_std"] = float(p.grad.numpy().astype(np.float64).std())
            if params_before is not None and name in params_before:
                row["update_ratio"] = float((data - params_before[name]).std() / (row["std"] + 1e-12))
            params[name] = row
        entry = {"step": self.step_count, "layers": layers, "params": params}
        self.history.append(entry)
        self._outputs = {}
        self.step_count += 1
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with self.log.open("a") as f:
                f.write(json.dumps(entry) + "\n")
        return entry

    def plot(self, path: str | Path) -> Path:
        """One PNG: the last record's activation histograms per layer, and over the recorded steps
        each layer's output std, saturated/dead fractions and each parameter's update ratio."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        if not self.history:
            raise RuntimeError("watch: nothing recorded yet (run a training step first)")
        last = self.history[-1]
        # The nonlinearities (tanh/GELU/ReLU outputs) are what makemore watches; other layers only
        # when a model has none. Colours run from the first layer (dark) to the last (light).
        watched = [n for n, row in last["layers"].items() if row["kind"] in ("tanh", "gelu", "relu")]
        watched = watched or list(last["layers"])
        weights = [n for n in last["params"] if _is_weight(n)]
        fig, axes = plt.subplots(2, 2, figsize=(16, 9))
        colour = plt.get_cmap("viridis")
        ax = axes[0][0]
        for i, name in enumerate(watched):
            row = last["layers"][name]
            if row["hist"]:
                lo, hi = row["hist_range"]
                edges = np.linspace(lo, hi, len(row["hist"]) + 1)
                ax.plot((edges[1:] + edges[:-1]) / 2, row["hist"], label=name,
                        color=colour(i / max(len(watched) - 1, 1)))
        ax.set_title(f"activation histograms (step {last['step']})")
        _legend(ax)
        steps = [h["step"] for h in self.history]
        for ax, key, title in ((axes[0][1], "std", "activation std"),
                               (axes[1][0], "saturated", "saturated / dead fraction")):
            for i, name in enumerate(watched):
                ys = [h["layers"].get(name, {}).get(key, h["layers"].get(name, {}).get("dead", np.nan))
                      for h in self.history]
                if not all(y is None or np.isnan(y) for y in ys):
                    ax.plot(steps, ys, label=name, color=colour(i / max(len(watched) - 1, 1)))
            ax.set_title(title)
            ax.set_xlabel("step")
            _legend(ax)
        ax = axes[1][1]
        for i, name in enumerate(weights):
            ys = [math.log10(h["params"][name]["update_ratio"] + 1e-20) if "update_ratio" in h["params"].get(name, {})
                  else np.nan for h in self.history]
            ax.plot(steps, ys, label=name, color=colour(i / max(len(weights) - 1, 1)))
        ax.axhline(-3, color="k", linestyle="--", linewidth=0.8)  # makemore's rule of thumb: about 1e-3
        ax.set_title("log10 update / data ratio per weight")
        ax.set_xlabel("step")
        _legend(ax)
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=90)
        plt.close(fig)
        return path

    def remove(self) -> None:
        """Take every hook off and give the optimizer its own step back."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self._outputs = {}
        if self.optimizer is not None and self._original_step is not None:
            self.optimizer.step = self._original_step
            self._original_step = None


def _legend(ax) -> None:
    """The legend right of the panel, in a column small enough for two dozen names."""
    handles = ax.get_legend_handles_labels()[0]
    if handles:
        ax.legend(fontsize=6 if len(handles) <= 12 else 5, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  frameon=False)


def _is_weight(name: str) -> bool:
    """Weights only in the update-ratio plot (biases and norm gains crowd it, as in makemore)."""
    return name.endswith("weight")


def watch(model: Any, optimizer: Any = None, every: int = 100, log: str | Path | None = None) -> Watcher:
    """Record per-layer statistics on every ``every``-th optimizer step (see module docstring).

    With ``optimizer``, its ``step`` is wrapped so recording needs no other call; without it, call
    ``watcher.record()`` after backward. ``log`` appends one JSON line per record.
    """
    return Watcher(model, optimizer, every, log)
