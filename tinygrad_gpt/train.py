"""The training loop in pieces you can call from your own loop:

- ``setup(cfg)`` builds a :class:`Run`: data, model, AdamW, the cosine schedule, and with
  ``cfg.resume`` everything restored from a checkpoint;
- ``train_step(model, optimizer, batches, ...)`` takes one optimizer step and returns the loss
  on the device, unread (reading it waits for the GPU);
- ``evaluate(model, data, ...)`` gives the mean train and val losses;
- ``fit(cfg)`` runs them: logs, atomic checkpoints, Ctrl-C, a time budget, a plot and a sample.

The command line (``tinygrad-gpt train``, examples/train_gpt.py) is :mod:`tinygrad_gpt.cli`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import engine
import engine.kernels
import nn
from engine import Tensor, no_grad
from engine.backend import get_xp, set_tf32, to_device
from tinygrad_gpt.checkpoint import load_checkpoint, save_checkpoint
from tinygrad_gpt.config import PRESETS, GPTConfig
from tinygrad_gpt.data import BatchLoader, PreparedData, prepare
from tinygrad_gpt.extras import MissingExtra, require
from tinygrad_gpt.model import GPT


def parse_duration(text: str | float) -> float:
    """Seconds in a duration: a number of seconds, or ``"90s"``, ``"2m"``, ``"1.5h"``, ``"1h30m"``.

    >>> parse_duration("2m"), parse_duration("1h30m"), parse_duration("45"), parse_duration(7)
    (120.0, 5400.0, 45.0, 7.0)
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    s = str(text).strip().lower()
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)([hms]?)", s)
    units = [u for _, u in parts]
    if (not parts or "".join(n + u for n, u in parts) != s or ("" in units and len(parts) > 1)
            or len(set(units)) != len(units)):
        raise ValueError(f"expected a duration such as 90, 90s, 2m, 1.5h or 1h30m, got {text!r}")
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}
    return sum(float(n) * scale[u] for n, u in parts)


@dataclass
class TrainConfig:
    """Everything about a run except the model's shape. Defaults: the CPU Shakespeare run.

    On resume (``resume=True`` or a checkpoint path) the checkpoint's values are kept; only the
    fields you give (for a config built in code: those that differ from these defaults) count, and
    only the run's length, logging and device may change (:data:`RUN_SETTINGS`).
    """

    preset: str = "baby"
    data: str | None = None  # None: the embedded Shakespeare plays
    tokenizer: str = "char"
    out_dir: str = "out"
    device: str = "cpu"
    dtype: str = "float32"  # of parameters, activations and optimizer state: "float32" | "float64"
    tf32: bool = True  # on the GPU, float32 matmuls on TF32 tensor cores
    batch_size: int = 12
    grad_accum: int = 1
    max_iters: int = 2000
    max_time: float | None = None  # seconds (or "2m", "1h30m"): stop, evaluate and checkpoint then
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: int | None = None  # default: max_iters of the first run
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_iters: int = 20
    log_interval: int = 10  # the loss is read back from the device every this many steps
    seed: int = 1337
    resume: bool | str = False  # True: out_dir/ckpt.safetensors; or a checkpoint file or folder
    sample_tokens: int = 300
    progress: bool = True
    plot: bool = True  # when matplotlib is installed (the examples extra)
    watch: int = 0  # record each layer's activation/gradient/update statistics every this many steps (0: off)
    ddp: bool = False  # data-parallel over the ranks of `mpiexec -n N` (tinygrad_gpt.ddp); batch_size is per rank
    model: dict[str, Any] = field(default_factory=dict)  # GPTConfig overrides

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose one of {sorted(PRESETS)}")
        if self.tokenizer not in ("char", "gpt2"):
            raise ValueError(f"tokenizer must be 'char' or 'gpt2', got {self.tokenizer!r}")
        if self.dtype not in ("float32", "float64", "float16"):
            # float16 means mixed precision: float32 master weights and optimizer state, float16
            # matmuls (engine.autocast) and dynamic loss scaling. NumPy/CuPy have no bfloat16.
            raise ValueError(f"dtype must be float32, float64 or float16 (mixed precision), got {self.dtype!r}")
        for name in ("batch_size", "grad_accum", "eval_interval", "eval_iters", "log_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_iters < 0:
            raise ValueError(f"max_iters must be >= 0, got {self.max_iters}")
        if self.watch < 0:
            raise ValueError(f"watch must be >= 0 (0: off), got {self.watch}")
        if self.max_time is not None:
            self.max_time = parse_duration(self.max_time)
            if not self.max_time > 0:
                raise ValueError(f"max_time must be > 0, got {self.max_time}")


# Fields a resumed run may change; every other one (and the model) is the checkpoint's.
RUN_SETTINGS = ("max_iters", "max_time", "lr_decay_iters", "eval_interval", "eval_iters", "log_interval",
                "sample_tokens", "progress", "plot", "watch", "device", "tf32", "out_dir", "resume", "ddp")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def given_fields(cfg: TrainConfig) -> set[str]:
    """The fields the user set: the command line records them; in code, those that differ from
    the defaults. The model overrides in ``cfg.model`` are always given."""
    given = getattr(cfg, "_given", None)
    if given is not None:
        return set(given)
    return {f.name for f in dataclasses.fields(cfg)
            if f.name != "model" and f.default is not dataclasses.MISSING and getattr(cfg, f.name) != f.default}


def resume_path(cfg: TrainConfig) -> Path:
    """The checkpoint ``cfg.resume`` names: out_dir's ckpt.safetensors, or the file or folder given."""
    if isinstance(cfg.resume, str):
        path = Path(cfg.resume)
        return path / "ckpt.safetensors" if path.is_dir() else path
    return Path(cfg.out_dir) / "ckpt.safetensors"


def _resumed_config(cfg: TrainConfig, info: dict[str, Any], path: Path) -> tuple[TrainConfig, list[str]]:
    """The checkpoint's config with the run settings the user gave; a changed model or run identity
    (data, seed, optimizer, ...) is an error naming the flag. Also one line on the LR schedule."""
    saved, saved_model, given = info["train_config"], info["model_config"], given_fields(cfg)
    advice = "a resumed run keeps its checkpoint's settings; drop the flag, or start a new run with another --out_dir"
    for name in sorted(given - set(RUN_SETTINGS)):
        mine, theirs = getattr(cfg, name), saved.get(name)
        if name == "data" and mine and theirs:
            mine, theirs = Path(mine).resolve(), Path(theirs).resolve()
        if mine != theirs:
            raise ValueError(f"--{name} {mine} differs from the checkpoint's {theirs} ({path}): {advice}")
    for name, value in sorted(cfg.model.items()):
        if saved_model.get(name) != value:
            raise ValueError(f"--{name} {value} differs from the checkpoint's model ({name} {saved_model.get(name)}, "
                             f"{path}): {advice}")
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    kw = {k: v for k, v in saved.items() if k in names}
    kw.update({k: getattr(cfg, k) for k in given & set(RUN_SETTINGS)})
    kw["resume"] = cfg.resume
    kw["ddp"] = cfg.ddp  # how this run was launched, not the checkpoint's
    if "out_dir" not in given:
        kw["out_dir"] = str(path.parent)
    horizon = saved.get("lr_decay_iters") or saved["max_iters"]  # None in checkpoints of older versions
    notes = []
    if "lr_decay_iters" in given and cfg.lr_decay_iters is not None and cfg.lr_decay_iters != horizon:
        notes.append(f"resume: the LR schedule now decays to min_lr at iteration {cfg.lr_decay_iters} "
                     f"(it did at {horizon})")
    else:
        kw["lr_decay_iters"] = horizon
        if kw["max_iters"] > max(horizon, info["iter"]):
            notes.append(f"resume: the LR schedule ended at iteration {horizon}; the LR stays at min_lr "
                         f"{kw['min_lr']:g} up to {kw['max_iters']} (give --lr_decay_iters to stretch the cosine)")
    return TrainConfig(**kw), notes


# ---- the pieces ---------------------------------------------------------------------------------
@dataclass
class Run:
    """What :func:`setup` builds: all that :func:`fit` uses, ready for a loop of your own."""

    cfg: TrainConfig
    model_cfg: GPTConfig
    data: PreparedData
    tokenizer: Any
    model: GPT
    optimizer: nn.optim.AdamW
    schedule: nn.optim.CosineWithWarmup
    scaler: nn.amp.GradScaler
    loader: BatchLoader  # the training batches, an iterator of (x, y)
    start_iter: int = 0
    best_val: float = math.inf
    resumed_from: Path | None = None
    notes: list[str] = field(default_factory=list)  # how a resume was resolved, to print
    ddp: Any = None  # nn.parallel.DistributedDataParallel around model under --ddp (tinygrad_gpt.ddp)

    @property
    def out_dir(self) -> Path:
        return Path(self.cfg.out_dir)

    @property
    def ckpt_path(self) -> Path:
        return self.out_dir / "ckpt.safetensors"

    def checkpoint(self, it: int, path: Path | None = None) -> Path:
        """Write everything needed to resume exactly at iteration ``it`` (atomically)."""
        info = {
            "iter": it, "best_val": self.best_val, "train_config": dataclasses.asdict(self.cfg),
            "model_config": self.model_cfg.to_dict(), "tokenizer": self.tokenizer.to_dict(),
            "loader": self.loader.state_dict(), "engine_rng": engine.rng.get_state(),
            "scaler": self.scaler.state_dict(),
        }
        return save_checkpoint(path or self.ckpt_path, self.model, self.optimizer, info)


FLAT_BUFFERS = True  # parameters and gradients as views of one flat buffer per optimizer group (issue 21)


def setup(cfg: TrainConfig) -> Run:
    """Data, model, optimizer, schedule and batches for ``cfg``; with ``cfg.resume``, as the checkpoint left them.

    >>> run = setup(TrainConfig(max_iters=2, model={"n_layer": 1}))  # doctest: +SKIP
    >>> loss = train_step(run.model, run.optimizer, run.loader)  # doctest: +SKIP
    """
    if cfg.plot and "plot" in given_fields(cfg):
        require("matplotlib", "examples", "--plot")  # asked for: fail now, not after training
    if cfg.device == "cpu":
        engine.tune_cpu()  # malloc, OpenBLAS idle spinning, whatever was imported first (TINYGRAD_GPT_TUNE_CPU=0: off)
    if cfg.device == "gpu" and "cupy" not in sys.modules:
        set_tf32(cfg.tf32)
    get_xp(cfg.device)  # fails at once, with install help, when the GPU is missing
    info, notes, path = None, [], None
    if cfg.resume:
        path = resume_path(cfg)
        if not path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {path}")
        model_sd, optim_sd, info = load_checkpoint(path)
        cfg, notes = _resumed_config(cfg, info, path)
    else:  # what a resume keeps: the schedule's horizon, and the data wherever it is resumed from
        horizon = cfg.max_iters if cfg.lr_decay_iters is None else cfg.lr_decay_iters
        cfg = dataclasses.replace(cfg, lr_decay_iters=horizon, data=str(Path(cfg.data).resolve()) if cfg.data else None)

    if cfg.ddp:  # rank 0 prepares (and caches) the data first, then the others read it
        from tinygrad_gpt import ddp

        if cfg.device == "gpu":
            ddp.use_local_gpu()  # one GPU per rank of a node, before the model is built
        data = ddp.rank0_first(lambda: prepare(cfg.data, cfg.tokenizer))
    else:
        data = prepare(cfg.data, cfg.tokenizer)
    if info:
        model_cfg = GPTConfig(**info["model_config"])
    else:
        model_cfg = GPTConfig.from_preset(cfg.preset, **{"vocab_size": data.vocab_size, **cfg.model})
    if model_cfg.vocab_size < data.vocab_size:
        raise ValueError(f"vocab_size {model_cfg.vocab_size} is smaller than the tokenizer's {data.vocab_size}")
    loader = data.loader("train", model_cfg.block_size, cfg.batch_size, seed=cfg.seed)
    data.loader("val", model_cfg.block_size, cfg.batch_size)  # fails early when val is shorter than a block

    engine.manual_seed(cfg.seed)
    mixed = cfg.dtype == "float16"
    model = GPT(model_cfg, seed=cfg.seed).astype("float32" if mixed else cfg.dtype).to(cfg.device)
    optimizer = model.optimizer(cfg.lr, cfg.weight_decay, betas=(cfg.beta1, cfg.beta2))
    if FLAT_BUFFERS and not cfg.ddp:  # (DDP flattens the whole model for its buckets itself)
        for group in optimizer.param_groups:  # one flat buffer per group: AdamW updates each in one pass
            engine.flatten_parameters(group["params"])
    schedule = nn.optim.CosineWithWarmup(optimizer, cfg.lr, cfg.min_lr, cfg.warmup_iters, cfg.lr_decay_iters)
    run = Run(cfg, model_cfg, data, data.tokenizer(), model, optimizer, schedule, nn.amp.GradScaler(enabled=mixed),
              loader, resumed_from=path, notes=notes)
    if info:
        model.load_state_dict(model_sd)
        optimizer.load_state_dict(optim_sd)
        if not cfg.ddp and "rng" in info["loader"]:
            loader.load_state_dict(info["loader"])
        elif not cfg.ddp:  # a --ddp run's checkpoint, resumed by one process: the batches of 1 rank out of 1
            from tinygrad_gpt.ddp import RankLoader

            run.loader = RankLoader(data.split("train"), model_cfg.block_size, cfg.batch_size, cfg.seed, 0, 1)
            run.loader.load_state_dict({"step": info["iter"] * cfg.grad_accum})
        run.scaler.load_state_dict(info.get("scaler", run.scaler.state_dict()))
        engine.rng.set_state(info["engine_rng"])
        run.start_iter, run.best_val = info["iter"], info["best_val"]
    if cfg.ddp:  # every rank: same config and data checked, rank 0's weights, its own batches
        ddp.attach(run, resume_step=run.start_iter * cfg.grad_accum)
    return run


def train_step(model: nn.Module, optimizer: nn.optim.Optimizer, batches: Iterator, *, grad_accum: int = 1,
               grad_clip: float = 1.0, scaler: nn.amp.GradScaler | None = None, amp: bool = False,
               device: str = "cpu", ddp: nn.parallel.DistributedDataParallel | None = None) -> Tensor:
    """One optimizer step: ``grad_accum`` micro-batches ``(x, y)`` from ``batches``, backward, clipping at
    ``grad_clip`` (0: off), the step, zero_grad. Returns the mean loss, detached and still on the device:
    ``.item()`` waits for the GPU, so read it every few steps, not every one.

    ``amp`` runs the forward in float16 (``engine.autocast``); give it a ``scaler`` (``nn.amp.GradScaler``).
    ``ddp`` (wrapping ``model``): the gradients are averaged over the ranks in the last micro-step's backward.

    >>> run = setup(TrainConfig(model={"n_layer": 1}))  # doctest: +SKIP
    >>> for it in range(100):  # doctest: +SKIP
    ...     run.schedule.step(it)
    ...     loss = train_step(run.model, run.optimizer, run.loader)
    ...     if it % 10 == 9:
    ...         print(it, loss.item())
    """
    scaled = scaler is not None and scaler.enabled
    total = None
    for i in range(grad_accum):
        x, y = next(batches)
        with engine.autocast("float16", enabled=amp):
            _, loss = model(to_device(x, device), to_device(y, device))
        scaled_loss = loss * (1.0 / grad_accum) if grad_accum > 1 else loss
        with ddp.no_sync() if ddp is not None and i < grad_accum - 1 else contextlib.nullcontext():
            (scaler.scale(scaled_loss) if scaled else scaled_loss).backward()
        total = loss.detach() if total is None else total + loss.detach()
    if scaled:
        scaler.unscale_(optimizer)
        if grad_clip > 0 and not scaler.found_inf:
            nn.optim.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)  # skipped when a float16 gradient overflowed
        scaler.update()
    else:
        if grad_clip > 0:
            nn.optim.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
    optimizer.zero_grad()
    return total * (1.0 / grad_accum) if grad_accum > 1 else total


@no_grad()
def evaluate(model: nn.Module, data: PreparedData, *, block_size: int, batch_size: int, iters: int, seed: int,
             device: str = "cpu", amp: bool = False) -> dict[str, float]:
    """Mean loss over ``iters`` batches of each split, in eval mode; the same batches for the same ``seed``.

    >>> evaluate(run.model, run.data, block_size=64, batch_size=12, iters=20, seed=0)  # doctest: +SKIP
    {'train': 1.61..., 'val': 1.79...}
    """
    was_training = model.training
    model.eval()
    out = {}
    try:
        for split in ("train", "val"):
            loader = data.loader(split, block_size, batch_size, seed=seed)
            losses = []
            for _ in range(iters):
                x, y = loader.get_batch()
                with engine.autocast("float16", enabled=amp):
                    _, loss = model(to_device(x, device), to_device(y, device))
                losses.append(loss.detach())
            out[split] = float(np.mean([loss.item() for loss in losses]))  # one wait for the queue
    finally:
        model.train(was_training)
    return out


# ---- helpers -----------------------------------------------------------------------------------
def measure_matmul_peak(device: str = "cpu", n: int = 1024, repeats: int = 5) -> float:
    """Achieved float32 FLOP/s of an n³ matmul on ``device``: the ceiling MFU is measured against."""
    xp = get_xp(device)
    a = xp.ones((n, n), dtype=xp.float32)
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        c = a @ a
        if device == "gpu":
            xp.cuda.Device().synchronize()
        best = min(best, time.perf_counter() - t)
    del c
    return 2 * n**3 / best


class _StopFlag:
    """The first SIGINT sets a flag (the loop stops at the step's end and checkpoints); a second aborts."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self.prev = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            if self.requested:
                signal.signal(signal.SIGINT, self.prev)
                raise KeyboardInterrupt
            self.requested = True
            # os.write, not print: print is not reentrant, and the loop may be printing right now.
            _write_now("\ninterrupt: finishing this step, then saving a checkpoint (Ctrl-C again to abort)\n")

        try:
            signal.signal(signal.SIGINT, handler)
        except ValueError:  # not the main thread
            pass
        return self

    def __exit__(self, *exc):
        try:
            signal.signal(signal.SIGINT, self.prev)
        except ValueError:
            pass
        return False


def _write_now(text: str) -> None:
    try:
        os.write(sys.stdout.fileno(), text.encode())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):  # no real file behind stdout (captured)
        try:
            print(text, end="", flush=True)
        except RuntimeError:  # reentrant call: the loop was printing
            pass


class _StepLog:
    """Keeps each step's loss on the device and reads them all every ``log_interval`` steps (and
    before evals and checkpoints): one wait for the GPU per interval, and a NaN is caught before
    anything is saved. Writes log.jsonl rows and the progress line."""

    def __init__(self, run: Run, file, bar, tokens_per_iter: int, flops_per_iter: float, peak: float):
        self.run, self.file, self.bar = run, file, bar
        self.tokens_per_iter, self.flops_per_iter, self.peak = tokens_per_iter, flops_per_iter, peak
        self.pending: list[tuple[int, float, Tensor]] = []
        self.first_step_s: float | None = None
        self.restart_clock()

    def restart_clock(self) -> None:
        self.t_mark = time.perf_counter()

    def add(self, it: int, lr: float, loss: Tensor) -> None:
        self.pending.append((it, lr, loss))
        if self.bar:
            self.bar.update(1)
        if (it + 1) % self.run.cfg.log_interval == 0 or self.first_step_s is None:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        values = [loss.item() for _, _, loss in self.pending]  # the first read waits for the queue
        dt = (time.perf_counter() - self.t_mark) / len(values)
        if self.first_step_s is None:
            self.first_step_s = dt
        rows = []
        for (it, lr, _), value in zip(self.pending, values):
            if not math.isfinite(value):
                self.pending = []
                self._write(rows)
                raise TrainingDiverged(f"loss is {value} at iteration {it}; stopped without saving, "
                                       f"the last good checkpoint is {self.run.ckpt_path}")
            rows.append({"iter": it, "loss": value, "lr": lr, "ms": dt * 1e3, "tokens_per_s": self.tokens_per_iter / dt,
                         "mfu": self.flops_per_iter / dt / self.peak})
        self.pending = []
        self._write(rows)
        last, mean = rows[-1], sum(r["loss"] for r in rows) / len(rows)
        if self.bar:
            self.bar.set_postfix(loss=f"{mean:.4f}", tok_s=f"{last['tokens_per_s']:,.0f}", mfu=f"{last['mfu']:.0%}")
        else:
            print(f"iter {last['iter']}: loss {mean:.4f}, lr {last['lr']:.2e}, {last['ms']:.1f} ms/iter, "
                  f"{last['tokens_per_s']:,.0f} tokens/s, mfu {last['mfu']:.1%}", flush=True)
        self.restart_clock()

    def _write(self, rows: list[dict]) -> None:
        self.file.write("".join(json.dumps(r) + "\n" for r in rows))
        self.file.flush()


def _plot(log_path: Path, png: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"plot skipped: matplotlib is not installed ({MissingExtra.install_hint('examples')})")
        return None
    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    steps = [r for r in rows if "loss" in r]
    evals = [r for r in rows if "val_loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["iter"] for r in steps], [r["loss"] for r in steps], lw=0.6, alpha=0.6, label="train (batch)")
    ax.plot([r["iter"] for r in evals], [r["train_loss"] for r in evals], "o-", label="train (eval)")
    ax.plot([r["iter"] for r in evals], [r["val_loss"] for r in evals], "o-", label="val")
    ax.set_xlabel("iteration")
    ax.set_ylabel("cross-entropy loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def _sample_start(tok) -> list[int]:
    """The prompt of the final sample: GPT-2's end-of-text token, a newline, or else token 0
    (a char vocabulary has no newline when the corpus is one line)."""
    if tok.name == "gpt2":
        return [tok.eot_token]
    try:
        return tok.encode("\n")
    except ValueError:
        return [0]


def _sample(run: Run) -> str:
    start = _sample_start(run.tokenizer)
    ids = run.model.generate(np.array([start], dtype=np.int64), run.cfg.sample_tokens, temperature=0.8, top_k=200,
                             seed=run.cfg.seed, vocab_limit=run.tokenizer.vocab_size)
    return run.tokenizer.decode(ids[0, len(start):].tolist())


def _print_header(run: Run, tokens_per_iter: int, peak: float) -> None:
    cfg, m = run.cfg, run.model_cfg
    n_params = run.model.num_parameters(exclude=("transformer.wpe.weight",))
    if run.resumed_from:
        print(f"resumed from {run.resumed_from} at iteration {run.start_iter}")
    for note in run.notes:
        print(note)
    print(f"model: {cfg.preset} {m.n_layer}L {m.n_head}H {m.n_embd}C block {m.block_size}, "
          f"{n_params / 1e6:.2f}M params, vocab {m.vocab_size} ({run.tokenizer.name})")
    print(f"data: {run.data.train.n_tokens:,} train / {run.data.val.n_tokens:,} val tokens; "
          f"{tokens_per_iter} tokens/iter on {cfg.device}; matmul peak {peak / 1e9:.0f} GFLOP/s")
    if cfg.device == "cpu":
        print(f"ops: {engine.kernels.describe()}")
    if run.ddp is not None:
        d = run.ddp
        print(f"ddp: {d.world_size} ranks ({'NCCL' if d.gpu else 'MPI'}), batch {cfg.batch_size} per rank, "
              f"{len(d.buckets)} gradient bucket(s) of about {d.bucket_cap_mb:g} MB")


# ---- the run -------------------------------------------------------------------------------------
def fit(cfg: TrainConfig) -> dict[str, Any]:
    """Train as configured. Returns the figures: ``stopped`` is "max_iters", "max_time" or
    "interrupt" (Ctrl-C: checkpointed, and the losses are those of the last eval, at ``eval_iter``).

    Evaluates every ``eval_interval`` iterations and at the end, writing out_dir/ckpt.safetensors
    then (and best.safetensors at a new best val loss). Raises :class:`TrainingDiverged` on a
    non-finite loss, within ``log_interval`` steps and before any checkpoint holds it.

    >>> fit(TrainConfig(max_iters=200, max_time="1m", progress=False))["val_loss"]  # doctest: +SKIP
    2.31...
    """
    run = setup(cfg)
    cfg = run.cfg
    run.out_dir.mkdir(parents=True, exist_ok=True)
    log_path = run.out_dir / "log.jsonl"
    main = run.ddp is None or run.ddp.rank == 0  # under --ddp the other ranks write no files
    if not run.resumed_from and log_path.exists() and main:
        log_path.unlink()  # a fresh run starts a fresh log
    ranks = run.ddp.world_size if run.ddp else 1
    tokens_per_iter = cfg.batch_size * cfg.grad_accum * run.model_cfg.block_size * ranks
    peak = measure_matmul_peak(cfg.device)
    _print_header(run, tokens_per_iter, peak)
    bar = None
    if cfg.progress and not (run.ddp and run.ddp.rank):
        from tqdm import tqdm

        bar = tqdm(total=cfg.max_iters, initial=run.start_iter, dynamic_ncols=True, desc="train")
    # nn.utils.watch: forward hooks and a wrapped optimizer.step; nothing is attached when off.
    watcher = nn.utils.watch(run.model, run.optimizer, every=cfg.watch, log=run.out_dir / "watch.jsonl") \
        if cfg.watch and main else None
    with _StopFlag() as stop, open(log_path if main else os.devnull, "a") as file:
        log = _StepLog(run, file, bar, tokens_per_iter, run.model.estimate_flops_per_token() * tokens_per_iter, peak)
        budget = f", at most {cfg.max_time:g} s" if cfg.max_time else ""
        print(f"training: iterations {run.start_iter} to {cfg.max_iters}{budget}; Ctrl-C stops with a checkpoint",
              flush=True)
        t_run = time.perf_counter()
        it, stopped, last = _loop(run, log, stop, t_run, say=bar.write if bar else print)
    if bar:
        bar.close()
    elapsed = time.perf_counter() - t_run
    watch_plot = None
    if watcher is not None:
        watcher.remove()
        if watcher.history and cfg.plot:
            try:
                watch_plot = str(watcher.plot(run.out_dir / "watch.png"))
            except ImportError:
                print(f"watch plot skipped: matplotlib is not installed ({MissingExtra.install_hint('examples')})")
    results = {"iters": it, "stopped": stopped, "eval_iter": last["iter"], "train_loss": last["train"],
               "val_loss": last["val"], "best_val_loss": run.best_val, "seconds": elapsed,
               "tokens_per_s": (it - run.start_iter) * tokens_per_iter / elapsed if elapsed > 0 else 0.0,
               "first_step_s": log.first_step_s, "checkpoint": str(run.ckpt_path), "log": str(log_path), "plot": None,
               "watch_plot": watch_plot}
    if main:
        _report(run, results, log_path)
    return results


def _loop(run: Run, log: _StepLog, stop: _StopFlag, t_run: float, say) -> tuple[int, str, dict[str, Any]]:
    """Steps until max_iters, the time budget or Ctrl-C, evaluating and checkpointing on the way."""
    cfg, it, stopped = run.cfg, run.start_iter, None
    last = {"iter": None, "train": math.nan, "val": math.nan}
    main = run.ddp is None or run.ddp.rank == 0  # under --ddp rank 0 alone evaluates and checkpoints
    while True:
        out_of_time = bool(cfg.max_time) and time.perf_counter() - t_run >= cfg.max_time
        interrupted = stop.requested
        if run.ddp is not None:  # every rank stops on the same step
            from tinygrad_gpt.ddp import stop_votes

            interrupted, out_of_time = stop_votes(run.ddp.comm, interrupted, out_of_time)
        if it >= cfg.max_iters:
            stopped = "max_iters"
        elif out_of_time:
            stopped = "max_time"
        if (it % cfg.eval_interval == 0 or stopped) and main:
            log.flush()  # a NaN raises here, before the checkpoint
            last = _eval_and_checkpoint(run, it, log.file, say)
            log.restart_clock()
        if stopped or interrupted:
            if interrupted and not stopped and main:
                log.flush()
                run.checkpoint(it)
            if run.ddp is not None:
                run.ddp.comm.Barrier()  # the others wait for rank 0's checkpoint
            return it, stopped or "interrupt", last
        if run.ddp is not None and it % cfg.eval_interval == 0:
            run.ddp.comm.Barrier()
        lr = run.schedule.step(it)
        loss = train_step(run.model, run.optimizer, run.loader, grad_accum=cfg.grad_accum, grad_clip=cfg.grad_clip,
                          scaler=run.scaler, amp=cfg.dtype == "float16", device=cfg.device, ddp=run.ddp)
        log.add(it, lr, loss)
        it += 1


def _report(run: Run, results: dict[str, Any], log_path: Path) -> None:
    """The end of a run: for an interrupted one its iteration and last eval only; else the plot,
    the sample and the final figures."""
    cfg, it = run.cfg, results["iters"]
    if results["stopped"] == "interrupt":
        print(f"interrupted at iteration {it}; checkpoint written to {run.ckpt_path}")
        if results["eval_iter"] is not None:
            print(f"last eval (iteration {results['eval_iter']}): train loss {results['train_loss']:.4f}, "
                  f"val loss {results['val_loss']:.4f}")
        return
    if cfg.plot:
        plot = _plot(log_path, run.out_dir / "loss.png")
        results["plot"] = str(plot) if plot else None
    if cfg.sample_tokens > 0:
        print("---- sample ----")
        print(_sample(run))
        print("----------------")
    if results["stopped"] == "max_time":
        print(f"stopped at iteration {it} on the time budget of {cfg.max_time:g} s")
    print(f"done: {it} iterations in {results['seconds']:.1f} s ({results['tokens_per_s']:,.0f} tokens/s); "
          f"final eval: train loss {results['train_loss']:.4f}, val loss {results['val_loss']:.4f} "
          f"(best {run.best_val:.4f}); checkpoint {run.ckpt_path}")


def _eval_and_checkpoint(run: Run, it: int, file, say) -> dict[str, Any]:
    """Evaluate at iteration ``it``, log it, and write the checkpoints (best.safetensors at a new best)."""
    cfg, m = run.cfg, run.model_cfg
    losses = evaluate(run.model, run.data, block_size=m.block_size, batch_size=cfg.batch_size, iters=cfg.eval_iters,
                      seed=cfg.seed + 1, device=cfg.device, amp=cfg.dtype == "float16")
    file.write(json.dumps({"iter": it, "train_loss": losses["train"], "val_loss": losses["val"]}) + "\n")
    file.flush()
    say(f"iter {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
    if not math.isfinite(losses["val"]):
        raise TrainingDiverged(f"validation loss is {losses['val']} at iteration {it}; "
                               f"the last good checkpoint is {run.ckpt_path}")
    if losses["val"] < run.best_val:
        run.best_val = losses["val"]
        if it > 0:
            run.checkpoint(it, run.out_dir / "best.safetensors")
    if it > run.start_iter or not run.resumed_from:
        run.checkpoint(it)
    return {"iter": it, **losses}


__all__ = ["RUN_SETTINGS", "Run", "TrainConfig", "TrainingDiverged", "evaluate", "fit", "given_fields",
           "parse_duration", "resume_path", "setup", "train_step"]
