"""The training loop behind ``examples/train_gpt.py``: data, model, AdamW, cosine LR,
eval, atomic checkpoints with exact resume, JSONL logs, a loss plot and a final sample.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import signal
import sys
import time
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
from tinygrad_gpt.data import prepare
from tinygrad_gpt.model import GPT


@dataclass
class TrainConfig:
    """Everything about a run except the model's shape. Defaults: the CPU Shakespeare run."""

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
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: int | None = None  # default: max_iters
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_iters: int = 20
    seed: int = 1337
    resume: bool = False
    sample_tokens: int = 300
    progress: bool = True
    plot: bool = True
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
        for name in ("batch_size", "grad_accum", "eval_interval", "eval_iters"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_iters < 0:
            raise ValueError(f"max_iters must be >= 0, got {self.max_iters}")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


# ---- command line -------------------------------------------------------------------------------
def _parse_value(text: str, default: Any, optional: bool = False):
    """Turn a flag's text into the type of ``default``; "none" is None for ``optional`` fields."""
    if isinstance(default, bool):
        if text.lower() in ("1", "true", "yes"):
            return True
        if text.lower() in ("0", "false", "no"):
            return False
        raise ValueError(f"expected true/false, got {text!r}")
    if optional and text.lower() == "none":
        return None
    for cast in (int, float):
        if isinstance(default, cast):
            return cast(text)
    return text


def _typed_default(f: dataclasses.Field, default: Any) -> tuple[Any, bool]:
    """A value of the field's type (its default, or for a None default one read off the annotation,
    so that ``--data 2024`` stays a path and ``--lr_decay_iters 50`` an int), and whether None is allowed."""
    annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
    optional = default is None or "None" in annotation
    if default is None:
        default = {"int": 0, "float": 0.0, "bool": False}.get(annotation.split("|")[0].strip(), "")
    return default, optional


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """Flags for every TrainConfig and GPTConfig field (``--key=value`` or ``--key value``),
    plus ``--config FILE`` (JSON of the same keys, overridden by later flags).

    >>> parse_args(["--max_iters=10", "--n_layer", "2"]).model
    {'n_layer': 2}
    """
    train_fields = {f.name: f for f in dataclasses.fields(TrainConfig) if f.name != "model"}
    model_fields = {f.name: f for f in dataclasses.fields(GPTConfig)}
    p = argparse.ArgumentParser(
        prog="train_gpt.py", description="Train a GPT. Any TrainConfig or GPTConfig field is a flag.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,  # a mistyped flag (--max_iter) is an error, not a silent prefix match
    )
    p.add_argument("--config", help="JSON file of field: value overrides")
    for name, f in train_fields.items():
        default = f.default if f.default is not dataclasses.MISSING else None
        p.add_argument(f"--{name}", default=None, help=f"default {default!r}")
    for name in model_fields:
        p.add_argument(f"--{name}", default=None, help="model field (default from the preset)")
    args = p.parse_args(argv)
    values: dict[str, Any] = {}
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            p.error(f"--config file {path} not found")
        try:
            values.update(json.loads(path.read_text()))
        except json.JSONDecodeError as e:
            p.error(f"--config {path} is not valid JSON: {e}")
    for name, text in vars(args).items():
        if name != "config" and text is not None:
            values[name] = text
    train_kw: dict[str, Any] = {}
    model_kw: dict[str, Any] = {}
    defaults = TrainConfig()
    preset_defaults = GPTConfig()
    for name, value in values.items():
        if name in train_fields:
            target, (default, optional) = train_kw, _typed_default(train_fields[name], getattr(defaults, name))
        elif name in model_fields:
            target, (default, optional) = model_kw, _typed_default(model_fields[name], getattr(preset_defaults, name))
        else:
            p.error(f"unknown field {name!r} in --config")
        try:
            target[name] = _parse_value(value, default, optional) if isinstance(value, str) else value
        except ValueError as e:
            p.error(f"--{name}: {e}")
    try:
        return TrainConfig(**train_kw, model=model_kw)
    except ValueError as e:
        p.error(str(e))


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


@no_grad()
def estimate_loss(model: GPT, data, cfg: TrainConfig, block_size: int) -> dict[str, float]:
    """Mean loss over ``eval_iters`` batches per split; the same batches at every eval."""
    model.eval()
    out = {}
    for split in ("train", "val"):
        loader = data.loader(split, block_size, cfg.batch_size, seed=cfg.seed + 1)
        losses = []
        for _ in range(cfg.eval_iters):
            x, y = loader.get_batch()
            with engine.autocast("float16", enabled=cfg.dtype == "float16"):
                _, loss = model(to_device(x, cfg.device), to_device(y, cfg.device))
            losses.append(loss.item())
        out[split] = float(np.mean(losses))
    model.train()
    return out


class _StopFlag:
    """SIGINT sets a flag so the loop stops at a step boundary and checkpoints; a second one aborts."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self.prev = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            if self.requested:
                signal.signal(signal.SIGINT, self.prev)
                raise KeyboardInterrupt
            self.requested = True
            print("\ninterrupt: saving a checkpoint at the end of this step (Ctrl-C again to abort)", flush=True)

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


def _plot(log_path: Path, png: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
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


# ---- the run -------------------------------------------------------------------------------------
def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run training as configured; returns the final figures (losses, iterations, speed)."""
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.device == "gpu" and "cupy" not in sys.modules:
        set_tf32(cfg.tf32)
    get_xp(cfg.device)  # fails at once, with install help, when the GPU is missing
    ckpt_path, best_path, log_path = out_dir / "ckpt.safetensors", out_dir / "best.safetensors", out_dir / "log.jsonl"

    resume_info = None
    if cfg.resume:
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
        model_sd, optim_sd, resume_info = load_checkpoint(ckpt_path)
        saved = resume_info["train_config"]
        # The run's identity comes from the checkpoint; length and logging may change.
        keep = {"max_iters", "eval_interval", "eval_iters", "progress", "plot", "sample_tokens", "resume", "device"}
        cfg = TrainConfig(**{**saved, **{k: getattr(cfg, k) for k in keep}})

    data = prepare(cfg.data, cfg.tokenizer)
    tok = data.tokenizer()
    if resume_info:
        model_cfg = GPTConfig(**resume_info["model_config"])
    else:
        model_cfg = GPTConfig.from_preset(cfg.preset, **{"vocab_size": data.vocab_size, **cfg.model})
    if model_cfg.vocab_size < data.vocab_size:
        raise ValueError(f"vocab_size {model_cfg.vocab_size} is smaller than the tokenizer's {data.vocab_size}")
    block = model_cfg.block_size
    train_loader = data.loader("train", block, cfg.batch_size, seed=cfg.seed)
    data.loader("val", block, cfg.batch_size)  # fails early when val is shorter than a block

    engine.manual_seed(cfg.seed)
    mixed = cfg.dtype == "float16"
    model = GPT(model_cfg, seed=cfg.seed).astype("float32" if mixed else cfg.dtype).to(cfg.device)
    scaler = nn.amp.GradScaler(enabled=mixed)
    autocast = engine.autocast("float16", enabled=mixed)
    optimizer = model.optimizer(cfg.lr, cfg.weight_decay, betas=(cfg.beta1, cfg.beta2))
    schedule = nn.optim.CosineWithWarmup(optimizer, cfg.lr, cfg.min_lr, cfg.warmup_iters,
                                         cfg.lr_decay_iters or cfg.max_iters)
    start_iter, best_val = 0, math.inf
    if resume_info:
        model.load_state_dict(model_sd)
        optimizer.load_state_dict(optim_sd)
        train_loader.load_state_dict(resume_info["loader"])
        scaler.load_state_dict(resume_info.get("scaler", scaler.state_dict()))
        engine.rng.set_state(resume_info["engine_rng"])
        start_iter, best_val = resume_info["iter"], resume_info["best_val"]
        print(f"resumed from {ckpt_path} at iteration {start_iter}")
    elif log_path.exists():
        log_path.unlink()  # a fresh run starts a fresh log

    n_params = model.num_parameters(exclude=("transformer.wpe.weight",))
    tokens_per_iter = cfg.batch_size * cfg.grad_accum * block
    peak = measure_matmul_peak(cfg.device)
    flops_per_iter = model.estimate_flops_per_token() * tokens_per_iter
    print(f"model: {cfg.preset} {model_cfg.n_layer}L {model_cfg.n_head}H {model_cfg.n_embd}C block {block}, "
          f"{n_params / 1e6:.2f}M params, vocab {model_cfg.vocab_size} ({tok.name})")
    print(f"data: {data.train.n_tokens:,} train / {data.val.n_tokens:,} val tokens; "
          f"{tokens_per_iter} tokens/iter on {cfg.device}; matmul peak {peak / 1e9:.0f} GFLOP/s")
    if cfg.device == "cpu":
        print(f"ops: {engine.kernels.describe()}")

    def checkpoint(it: int, path: Path = ckpt_path) -> None:
        info = {
            "iter": it, "best_val": best_val, "train_config": dataclasses.asdict(cfg),
            "model_config": model_cfg.to_dict(), "tokenizer": tok.to_dict(),
            "loader": train_loader.state_dict(), "engine_rng": engine.rng.get_state(),
            "scaler": scaler.state_dict(),
        }
        save_checkpoint(path, model, optimizer, info)

    bar = None
    if cfg.progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.max_iters, initial=start_iter, dynamic_ncols=True, desc="train")
    last = {"train": math.nan, "val": math.nan}
    it = start_iter
    t_run = time.perf_counter()
    tokens_done = 0
    with _StopFlag() as stop, open(log_path, "a") as log:
        while True:
            if it % cfg.eval_interval == 0 or it == cfg.max_iters:
                last = estimate_loss(model, data, cfg, block)
                log.write(json.dumps({"iter": it, "train_loss": last["train"], "val_loss": last["val"]}) + "\n")
                log.flush()
                msg = f"iter {it}: train loss {last['train']:.4f}, val loss {last['val']:.4f}"
                (bar.write if bar else print)(msg)
                if not math.isfinite(last["val"]):
                    raise TrainingDiverged(f"validation loss is {last['val']} at iteration {it}; "
                                           f"the last good checkpoint is {ckpt_path}")
                if last["val"] < best_val:
                    best_val = last["val"]
                    if it > 0:
                        checkpoint(it, best_path)
                if it > start_iter or not resume_info:
                    checkpoint(it)
            if it >= cfg.max_iters:
                break
            if stop.requested:
                checkpoint(it)
                (bar.write if bar else print)(f"stopped at iteration {it}; resume with --resume")
                break

            t0 = time.perf_counter()
            lr = schedule.step(it)
            loss_sum = 0.0
            for _ in range(cfg.grad_accum):
                x, y = train_loader.get_batch()
                with autocast:
                    _, loss = model(to_device(x, cfg.device), to_device(y, cfg.device))
                scaler.scale(loss * (1.0 / cfg.grad_accum)).backward()
                loss_sum += loss.item()
            loss_value = loss_sum / cfg.grad_accum
            if not math.isfinite(loss_value):
                raise TrainingDiverged(f"loss is {loss_value} at iteration {it}; stopped without saving, "
                                       f"the last good checkpoint is {ckpt_path}")
            scaler.unscale_(optimizer)
            if cfg.grad_clip > 0 and not scaler.found_inf:
                nn.optim.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)  # skipped when a float16 gradient overflowed
            scaler.update()
            optimizer.zero_grad()
            dt = time.perf_counter() - t0
            tokens_done += tokens_per_iter
            tps = tokens_per_iter / dt
            mfu = flops_per_iter / dt / peak
            log.write(json.dumps({"iter": it, "loss": loss_value, "lr": lr, "ms": dt * 1e3,
                                  "tokens_per_s": tps, "mfu": mfu}) + "\n")
            it += 1
            if bar:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.4f}", tok_s=f"{tps:,.0f}", mfu=f"{mfu:.0%}")
    if bar:
        bar.close()
    elapsed = time.perf_counter() - t_run

    plot = _plot(log_path, out_dir / "loss.png") if cfg.plot else None
    sample = ""
    if cfg.sample_tokens > 0:
        start = _sample_start(tok)
        ids = model.generate(np.array([start], dtype=np.int64), cfg.sample_tokens, temperature=0.8, top_k=200,
                             seed=cfg.seed, vocab_limit=tok.vocab_size)
        sample = tok.decode(ids[0, len(start):].tolist())
        print("---- sample ----")
        print(sample)
        print("----------------")
    results = {"iters": it, "train_loss": last["train"], "val_loss": last["val"], "best_val_loss": best_val,
               "seconds": elapsed, "tokens_per_s": tokens_done / elapsed if elapsed > 0 else 0.0,
               "checkpoint": str(ckpt_path), "log": str(log_path), "plot": str(plot) if plot else None}
    print(f"done: {it} iterations in {elapsed:.1f} s ({results['tokens_per_s']:,.0f} tokens/s); "
          f"final train loss {last['train']:.4f}, val loss {last['val']:.4f} (best {best_val:.4f}); "
          f"checkpoint {ckpt_path}")
    return results


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: parse flags, train, and turn expected failures into one clear line."""
    cfg = parse_args(argv)
    try:
        train(cfg)
    except TrainingDiverged as e:
        print(f"error: training diverged: {e}")
        return 1
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}")
        return 2
    except KeyboardInterrupt:
        print("aborted")
        return 130
    return 0


__all__ = ["Tensor", "TrainConfig", "TrainingDiverged", "main", "parse_args", "train"]
