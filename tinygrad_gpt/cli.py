"""The command lines: ``tinygrad-gpt train | sample | prepare`` (console scripts), also run as
``python -m tinygrad_gpt.cli train ...`` and by the thin copies in examples/.

    tinygrad-gpt train                                   # the baby GPT on Shakespeare, on the CPU
    tinygrad-gpt train --max_iters 500 --n_layer 2 --no-progress --out_dir out/small
    tinygrad-gpt train --resume                          # continue out/ckpt.safetensors exactly
    tinygrad-gpt sample --checkpoint out --prompt "ROMEO:" --stream
    tinygrad-gpt prepare --tokenizer gpt2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import engine
from tinygrad_gpt.checkpoint import load_checkpoint
from tinygrad_gpt.config import PRESETS, GPTConfig, describe_preset
from tinygrad_gpt.extras import MissingExtra
from tinygrad_gpt.train import TrainConfig, TrainingDiverged, fit, parse_duration, resume_path

# ---- train: flags -------------------------------------------------------------------------------
GROUPS = ("model", "data", "optimization", "evaluation and logging", "system")
_BABY = PRESETS["baby"]
_RESUME_HELP = "continue a run exactly: bare, out_dir/ckpt.safetensors; or a checkpoint file or folder (see below)"
EPILOG = [
    "Booleans are bare flags with --no- forms (--no-progress). --config FILE takes a JSON object of the same "
    "names; the flags on the command line override it.",
    "Resume: a resumed run continues exactly as if it had never stopped. It keeps the checkpoint's model, "
    "optimizer state, data order and LR schedule, the schedule's horizon included. Only the run's length "
    "(--max_iters, --max_time, --lr_decay_iters), evaluation, logging, --out_dir and --device may change; a "
    "changed model or optimizer flag is an error that names it. Past the old horizon a larger --max_iters "
    "continues at the schedule's end value (min_lr), unless --lr_decay_iters stretches the cosine to a new "
    "horizon; the run says which in one line.",
    "Ctrl-C finishes the step, writes the checkpoint, prints the command that resumes it and exits with status "
    "130; a second Ctrl-C aborts at once (130), leaving the last checkpoint as it was. Exit status 1: the loss "
    "became NaN or infinite (caught within --log_interval steps, before a checkpoint holds it); 2: bad flags or "
    "data, or a missing extra.",
]

# name: (group, description, default shown or None to show the dataclass default)
TRAIN_FLAGS: dict[str, tuple[str, str, str | None]] = {
    "preset": ("model", "model size and shape (table above); the model flags below override its fields", None),
    "vocab_size": ("model", "vocabulary size; may exceed the tokenizer's (padding)", "the tokenizer's"),
    "block_size": ("model", "context length in tokens", f"the preset's; baby: {_BABY['block_size']}"),
    "n_layer": ("model", "transformer blocks", f"the preset's; baby: {_BABY['n_layer']}"),
    "n_head": ("model", "attention heads per block", f"the preset's; baby: {_BABY['n_head']}"),
    "n_embd": ("model", "embedding width", f"the preset's; baby: {_BABY['n_embd']}"),
    "dropout": ("model", "dropout probability in training", None),
    "bias": ("model", "biases in the Linear and LayerNorm layers (--no-bias as nanoGPT's shakespeare-char)", "on"),
    "pos_encoding": ("model", "position encoding", None),
    "tie_weights": ("model", "share the LM head's weight with the token embedding", "on"),
    "attn_pattern": ("model", "dense attention in every block, or alternating dense and locally banded",
                     "dense; gpt3 presets: alternating"),
    "local_window": ("model", "tokens a banded block attends to, its own included", None),
    "data": ("data", "UTF-8 text file or folder of .txt files", "the embedded Shakespeare plays"),
    "tokenizer": ("data", "character-level, or GPT-2's BPE", None),
    "batch_size": ("data", "sequences per micro-batch", None),
    "max_iters": ("optimization", "optimizer steps of the run", None),
    "max_time": ("optimization", "wall-clock budget (90s, 2m, 1h30m): then a final eval and a checkpoint", "none"),
    "lr": ("optimization", "peak learning rate of AdamW", None),
    "min_lr": ("optimization", "learning rate at the end of the cosine decay", None),
    "warmup_iters": ("optimization", "linear warmup steps", None),
    "lr_decay_iters": ("optimization", "step where the cosine reaches min_lr (the schedule's horizon)",
                       "max_iters; on resume, the checkpoint's"),
    "weight_decay": ("optimization", "AdamW weight decay on the 2-D weights", None),
    "beta1": ("optimization", "AdamW beta1", None),
    "beta2": ("optimization", "AdamW beta2", None),
    "grad_clip": ("optimization", "clip the gradient's global norm to this (0: off)", None),
    "grad_accum": ("optimization", "micro-batches accumulated per step", None),
    "eval_interval": ("evaluation and logging", "evaluate and checkpoint every this many steps", None),
    "eval_iters": ("evaluation and logging", "batches per split in an eval", None),
    "log_interval": ("evaluation and logging", "read the loss back and log it every this many steps", None),
    "out_dir": ("evaluation and logging", "folder of ckpt.safetensors, best.safetensors, log.jsonl, loss.png",
                None),
    "sample_tokens": ("evaluation and logging", "tokens of the sample printed at the end (0: none)", None),
    "progress": ("evaluation and logging", "a progress bar (else a line per log interval)", "on"),
    "plot": ("evaluation and logging", "write loss.png (needs matplotlib: the examples extra)",
             "on when matplotlib is installed"),
    "watch": ("evaluation and logging", "every N steps, record each layer's activation, gradient and update "
              "statistics to watch.jsonl and watch.png (nn.utils.watch; 0: off)", None),
    "device": ("system", "where to train", None),
    "dtype": ("system", "float32, float64, or float16 (mixed precision: float32 master weights, loss scaling)",
              None),
    "tf32": ("system", "on the GPU, float32 matmuls on TF32 tensor cores", "on"),
    "seed": ("system", "seeds the weights, dropout and the data order", None),
    "resume": ("system", _RESUME_HELP, "off"),
    "ddp": ("system", "data-parallel over the ranks of `mpiexec -n N` (pip install .[dist]); --batch_size is per rank; "
                      "a resume may change N", "off"),
}
CHOICES = {"preset": list(PRESETS), "tokenizer": ["char", "gpt2"], "device": ["cpu", "gpu"],
           "dtype": ["float32", "float64", "float16"], "pos_encoding": ["learned", "sinusoidal"],
           "attn_pattern": ["dense", "alternating"]}
_BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _optional(cast: Callable) -> Callable:
    def parse(text: str):
        return None if text.lower() == "none" else cast(text)

    parse.__name__ = cast.__name__
    return parse


def _resume_value(text: str) -> bool | str:
    return _BOOL_WORDS.get(text.lower(), text)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


_duration.__name__ = "duration"


def _field_types() -> dict[str, tuple[Any, Any]]:
    """name: (default, argparse type or "bool") for every TrainConfig and GPTConfig flag."""
    out: dict[str, tuple[Any, Any]] = {}
    base = GPTConfig()
    for f in [*dataclasses.fields(TrainConfig), *dataclasses.fields(GPTConfig)]:
        if f.name == "model":
            continue
        default = getattr(TrainConfig(), f.name, None) if f.name in TrainConfig.__dataclass_fields__ \
            else getattr(base, f.name)
        annotation = str(f.type)
        if f.name == "resume":
            kind: Any = _resume_value
        elif f.name == "max_time":
            kind = _duration
        elif isinstance(default, bool):
            kind = "bool"
        elif "int" in annotation:
            kind = _optional(int) if "None" in annotation else int
        elif "float" in annotation:
            kind = _optional(float) if "None" in annotation else float
        else:
            kind = str
        out[f.name] = (default, kind)
    return out


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str):
        super().__init__(prog, max_help_position=32, width=110)


def train_parser(prog: str = "tinygrad-gpt train") -> argparse.ArgumentParser:
    """The ``train`` command's parser: every TrainConfig and GPTConfig field is a flag, in groups."""
    p = argparse.ArgumentParser(
        prog=prog, formatter_class=_Formatter, allow_abbrev=False,  # --max_iter is an error, not --max_iters
        description="Train a GPT. With no flags: the character-level `baby` GPT on the embedded Shakespeare "
                    "plays, on the CPU\n(2000 iterations, val loss about 1.9 in about 2 minutes).",
        epilog="\n\n".join(textwrap.fill(paragraph, 108) for paragraph in EPILOG))
    presets = "\n".join("  " + describe_preset(n, 80 if n == "baby" else None) for n in PRESETS)
    groups = {g: p.add_argument_group(g) for g in GROUPS}
    groups["model"].description = (f"presets (baby with the Shakespeare char vocabulary of 80, the others with "
                                   f"GPT-2's 50257):\n{presets}")
    types = _field_types()
    for name, (group, text, shown) in TRAIN_FLAGS.items():
        default, kind = types[name]
        shown = shown if shown is not None else ("none" if default is None else str(default))
        help_text = f"{text} (default: {shown})"
        g = groups[group]
        if kind == "bool":
            g.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                           help=help_text)
        elif name == "resume":
            g.add_argument("--resume", nargs="?", const=True, type=kind, default=argparse.SUPPRESS, metavar="CKPT",
                           help=help_text)
            g.add_argument("--no-resume", dest="resume", action="store_const", const=False,
                           default=argparse.SUPPRESS, help="start afresh (the default)")
        else:
            metavar = "PRESET" if name == "preset" else None if name in CHOICES else name.upper()
            g.add_argument(f"--{name}", type=kind, choices=CHOICES.get(name), default=argparse.SUPPRESS,
                           metavar=metavar, help=help_text)
    groups["system"].add_argument("--config", default=argparse.SUPPRESS, metavar="FILE",
                                  help="JSON object of flag names and values; command-line flags override it")
    return p


def _bool_flags(p: argparse.ArgumentParser) -> set[str]:
    return {a.dest for a in p._actions if isinstance(a, argparse.BooleanOptionalAction)}


def _legacy_bools(argv: list[str], bools: set[str], p: argparse.ArgumentParser) -> list[str]:
    """``--progress false`` and ``--bias=0`` (the older form) become ``--no-progress`` and ``--no-bias``."""
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        if name in bools:
            if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                value, eq = argv[i + 1], "="
                i += 1
            if eq:
                if value.lower() not in _BOOL_WORDS:
                    p.error(f"--{name} takes no value (use --{name} or --no-{name}), got {value!r}")
                arg = f"--{name}" if _BOOL_WORDS[value.lower()] else f"--no-{name}"
        out.append(arg)
        i += 1
    return out


def parse_train_args(argv: list[str] | None = None, prog: str = "tinygrad-gpt train") -> TrainConfig:
    """A TrainConfig from flags (``--key value`` or ``--key=value``) and ``--config FILE``.
    It records which fields were given, for resume (see ``train.given_fields``).

    >>> cfg = parse_train_args(["--max_iters=10", "--n_layer", "2", "--no-progress"])
    >>> cfg.max_iters, cfg.model, cfg.progress
    (10, {'n_layer': 2}, False)
    """
    p = train_parser(prog)
    bools = _bool_flags(p)
    argv = sys.argv[1:] if argv is None else list(argv)
    values = vars(p.parse_args(_legacy_bools(argv, bools, p)))
    if "config" in values:
        values = {**_read_config(p, Path(values.pop("config")), bools), **values}
    model_names = {f.name for f in dataclasses.fields(GPTConfig)}
    model = {k: v for k, v in values.items() if k in model_names}
    train = {k: v for k, v in values.items() if k not in model_names}
    try:
        cfg = TrainConfig(**train, model=model)
    except (ValueError, TypeError) as e:
        p.error(str(e))
    cfg._given = frozenset(train)  # type: ignore[attr-defined]
    return cfg


def _read_config(p: argparse.ArgumentParser, path: Path, bools: set[str]) -> dict[str, Any]:
    if not path.is_file():
        p.error(f"--config file {path} not found")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        p.error(f"--config {path} is not valid JSON: {e}")
    if not isinstance(raw, dict):
        p.error(f"--config {path} must hold a JSON object of flag names and values")
    types = _field_types()
    out = {}
    for name, value in raw.items():
        if name not in types:
            p.error(f"unknown field {name!r} in --config {path}")
        default, kind = types[name]
        try:
            if name in bools:
                value = _BOOL_WORDS[value.lower()] if isinstance(value, str) else value
                if not isinstance(value, bool):
                    raise ValueError(f"expected true or false, got {value!r}")
            elif isinstance(value, str) and kind is not str:
                value = kind(value)
            elif kind is float and isinstance(value, int):
                value = float(value)
        except (ValueError, KeyError, argparse.ArgumentTypeError) as e:
            p.error(f"--config {path}: {name}: {e}")
        out[name] = value
    return out


def _invocation() -> str:
    """How this program was started, for the commands it prints."""
    arg0 = sys.argv[0] if sys.argv and sys.argv[0] else "tinygrad-gpt"
    if Path(arg0).name in ("cli.py", "__main__.py", "-c"):
        return "python -m tinygrad_gpt.cli"
    if arg0.endswith(".py"):
        return f"python {shlex.quote(arg0)}"
    return Path(arg0).name


def _prog(command: str) -> str:
    """``tinygrad-gpt train``, or ``python examples/train_gpt.py`` for a script that is one command."""
    inv = _invocation()
    return inv if inv.startswith("python ") and not inv.startswith("python -m") else f"{inv} {command}"


def train_main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """``train``: parse the flags and ``fit``. Exit status 0 done, 1 diverged, 2 bad input or a missing
    extra, 130 interrupted (Ctrl-C, after a checkpoint; a second Ctrl-C aborts without one)."""
    prog = prog or _prog("train")
    cfg = parse_train_args(argv, prog)
    engine.tune_cpu()
    try:
        if cfg.ddp:  # an error on any rank ends every rank (MPI Abort) with a message naming the rank
            from tinygrad_gpt import ddp

            result = ddp.guard(lambda: fit(cfg), codes=_exit_status)
            prog = f"mpiexec -n {ddp.comm().Get_size()} {prog} --ddp"  # for the resume command below
        else:
            result = fit(cfg)
        if result["stopped"] == "interrupt":
            print(f"resume with: {prog} --resume {shlex.quote(result['checkpoint'])}", flush=True)
            return 130
        return 0
    except MissingExtra as e:
        print(e, file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        print(f"error: training diverged: {e}")
        return 1
    except (ValueError, FileNotFoundError, RuntimeError, ImportError) as e:
        print(f"error: {e}")
        return 2
    except KeyboardInterrupt:  # the second Ctrl-C, or one before training started
        ckpt = resume_path(cfg) if cfg.resume else Path(cfg.out_dir) / "ckpt.safetensors"
        print(f"\naborted; the last checkpoint ({ckpt}) is left as it was", flush=True)
        return 130


def _exit_status(e: BaseException) -> int:
    """The status ``--ddp`` aborts with when a rank fails: what :func:`train_main` returns for that error."""
    if isinstance(e, TrainingDiverged):
        return 1
    if isinstance(e, KeyboardInterrupt):
        return 130
    return 2 if isinstance(e, (MissingExtra, ValueError, FileNotFoundError, RuntimeError, ImportError)) else 1


# ---- sample ------------------------------------------------------------------------------------
SEPARATOR = "-" * 40


def find_checkpoint(path: str | Path) -> Path:
    """The file or folder to load: a training folder's ckpt.safetensors (else best.safetensors), a
    checkpoint file, or a Hugging Face GPT-2 folder (config.json + model.safetensors)."""
    path = Path(path)
    if path.is_dir():
        for name in ("ckpt.safetensors", "best.safetensors"):
            if (path / name).is_file():
                return path / name
        if (path / "config.json").is_file() and (path / "model.safetensors").is_file():
            return path
        raise FileNotFoundError(f"{path} holds no ckpt.safetensors or best.safetensors (nor a Hugging Face "
                                f"config.json + model.safetensors); train with --out_dir {path} first")
    if path.is_file():
        return path
    raise FileNotFoundError(f"checkpoint {path} does not exist")


def load(path: str | Path):
    """(model in eval mode, tokenizer, what was loaded) from a training checkpoint or a HF GPT-2 folder."""
    from tinygrad_gpt.model import GPT
    from tinygrad_gpt.tokenizer import GPT2Tokenizer, tokenizer_from_dict

    file = find_checkpoint(path)
    if file.is_dir():
        return GPT.from_pretrained(file).eval(), GPT2Tokenizer(), file
    state, _, info = load_checkpoint(file)
    if "model_config" not in info or "tokenizer" not in info:
        raise ValueError(f"{file} has no model_config/tokenizer: it is not a tinygrad-gpt train checkpoint")
    model = GPT(GPTConfig(**info["model_config"]))
    model.astype(next(iter(state.values())).dtype)  # sample in the precision it was trained in
    model.load_state_dict(state)
    return model.eval(), tokenizer_from_dict(info["tokenizer"]), file


def encode_prompt(tok, prompt: str | None) -> list[int]:
    """Token ids of the prompt; with none, GPT-2's end-of-text or a newline (else token 0)."""
    if tok.name == "gpt2":
        return tok.encode(prompt, allowed_special="all") if prompt else [tok.eot_token]
    if prompt:
        try:
            return tok.encode(prompt)
        except ValueError as e:
            raise ValueError(f"--prompt: {e}; the checkpoint's tokenizer cannot encode it") from None
    try:
        return tok.encode("\n")
    except ValueError:
        return [0]


def sample_parser(prog: str = "tinygrad-gpt sample") -> argparse.ArgumentParser:
    from tinygrad_gpt.tokenizer import ENDOFTEXT

    p = argparse.ArgumentParser(prog=prog, formatter_class=_Formatter, allow_abbrev=False,
                                description="Sample text from a trained GPT or a local Hugging Face GPT-2 folder. "
                                "The same seed gives the same samples.")
    p.add_argument("--checkpoint", default="out", help="training output folder, checkpoint file, or HF GPT-2 "
                   "folder (config.json + model.safetensors) (default: out)")
    prompt = p.add_mutually_exclusive_group()
    prompt.add_argument("--prompt", default=None,
                        help=f"text to continue (default: a newline, or {ENDOFTEXT} for the gpt2 tokenizer)")
    prompt.add_argument("--prompt_file", default=None, help="read the prompt from this UTF-8 file (default: none)")
    p.add_argument("--num_samples", type=int, default=1, help="samples to draw, as one batch (default: 1)")
    p.add_argument("--max_new_tokens", type=int, default=200, help="tokens to generate after the prompt (default: 200)")
    p.add_argument("--temperature", type=float, default=0.8, help="0 is greedy (default: 0.8)")
    p.add_argument("--top_k", type=_optional(int), default=200,
                   help="keep the k most likely tokens; none: all (default: 200)")
    p.add_argument("--top_p", type=_optional(float), default=None,
                   help="nucleus sampling mass; none: off (default: none)")
    p.add_argument("--seed", type=_optional(int), default=1337, help="none: a fresh random seed (default: 1337)")
    p.add_argument("--stream", action=argparse.BooleanOptionalAction, default=None,  # None: no "(default: False)"
                   help="print tokens as they are generated; several samples are then drawn one after another, "
                        "seeded seed, seed+1, ... (default: off)")
    return p


def parse_sample_args(argv: list[str] | None = None, prog: str = "tinygrad-gpt sample") -> argparse.Namespace:
    p = sample_parser(prog)
    args = p.parse_args(argv)
    if args.num_samples < 1:
        p.error(f"--num_samples must be >= 1, got {args.num_samples}")
    if args.max_new_tokens < 0:
        p.error(f"--max_new_tokens must be >= 0, got {args.max_new_tokens}")
    if args.prompt_file is not None:
        try:
            args.prompt = Path(args.prompt_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            p.error(f"--prompt_file: {e}")
    return args


def _generate(model, tok, args: argparse.Namespace, rows: int, seed: int | None, callback=None) -> np.ndarray:
    start = encode_prompt(tok, args.prompt)
    idx = np.array([start] * rows, dtype=np.int64)
    return model.generate(idx, args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                          top_p=args.top_p, seed=seed, vocab_limit=tok.vocab_size, callback=callback)


def sample(args: argparse.Namespace, loaded=None) -> list[str]:
    """The samples (prompt included) that ``args`` asks for, drawn as one batch."""
    model, tok, _ = loaded or load(args.checkpoint)
    out = _generate(model, tok, args, args.num_samples, args.seed)
    keep = len(encode_prompt(tok, args.prompt)) if not args.prompt else 0  # show the prompt, not the start token
    return [tok.decode(row[keep:].tolist()) for row in out]


class _StreamPrinter:
    """Writes the text of each new id as it comes, holding back a partial multi-byte character."""

    def __init__(self, tok, write: Callable[[str], Any]):
        self.tok, self.write, self.ids, self.shown = tok, write, [], 0

    def __call__(self, nxt: np.ndarray) -> None:
        self.ids.append(int(nxt[0]))
        text = self.tok.decode(self.ids)
        if not text.endswith("\ufffd"):
            self.write(text[self.shown:])
            self.shown = len(text)

    def finish(self) -> None:
        self.write(self.tok.decode(self.ids)[self.shown:])


def stream(args: argparse.Namespace, write: Callable[[str], Any], loaded=None) -> None:
    """Write each sample as its tokens are drawn (one sample at a time, seeds seed, seed+1, ...)."""
    model, tok, _ = loaded or load(args.checkpoint)
    for i in range(args.num_samples):
        if i:
            write("\n" + SEPARATOR + "\n")
        if args.prompt:
            write(args.prompt)
        printer = _StreamPrinter(tok, write)
        _generate(model, tok, args, 1, None if args.seed is None else args.seed + i, printer)
        printer.finish()
    write("\n")


def sample_main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = parse_sample_args(argv, prog or _prog("sample"))
    try:
        loaded = load(args.checkpoint)
        if args.stream:
            def write(text: str) -> None:
                sys.stdout.write(text)
                sys.stdout.flush()

            stream(args, write, loaded)
            return 0
        samples = sample(args, loaded)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(("\n" + SEPARATOR + "\n").join(samples))
    return 0


# ---- prepare -----------------------------------------------------------------------------------
def prepare_main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Tokenize a corpus once into train.bin / val.bin / meta.json, reusing earlier work."""
    from tinygrad_gpt.data import prepare

    ap = argparse.ArgumentParser(prog=prog or _prog("prepare"), description=prepare_main.__doc__,
                                 formatter_class=_Formatter)
    ap.add_argument("--data", default=None, help="UTF-8 text file or folder of .txt files (default: Shakespeare)")
    ap.add_argument("--tokenizer", choices=["char", "gpt2"], default="char",
                    help="character-level or GPT-2's BPE (default: char)")
    ap.add_argument("--out_dir", default=None,
                    help="cache folder for prepared data (default: ~/.cache/tinygrad_gpt/data)")
    args = ap.parse_args(argv)
    try:
        prep = prepare(args.data, args.tokenizer, args.out_dir)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    meta = prep.meta
    print(f"{'reused' if prep.reused else 'wrote'} {prep.dir}")
    print(f"source:    {meta['source']} ({meta['n_chars']:,} chars, sha256 {meta['source_sha256'][:16]}...)")
    print(f"tokenizer: {prep.tokenizer_name}, vocab {prep.vocab_size:,}, stored as {meta['dtype']}")
    for split in (prep.train, prep.val):
        print(f"{split.path.name:>9}: {split.n_tokens:,} tokens, {split.path.stat().st_size:,} bytes")
    return 0


# ---- tinygrad-gpt ------------------------------------------------------------------------------
COMMANDS: dict[str, Callable[..., int]] = {"train": train_main, "sample": sample_main, "prepare": prepare_main}
USAGE = """usage: {prog} {{train,sample,prepare}} [flags]

  train     train a GPT (with no flags: the baby GPT on Shakespeare, on the CPU)
  sample    sample text from a checkpoint or a local Hugging Face GPT-2 folder
  prepare   tokenize a corpus into train.bin / val.bin once

'{prog} COMMAND --help' lists a command's flags."""


def main(argv: list[str] | None = None) -> int:
    """The ``tinygrad-gpt`` console script: ``tinygrad-gpt train|sample|prepare [flags]``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = _invocation()
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE.format(prog=prog), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(USAGE.format(prog=prog) + f"\n{prog}: error: unknown command {argv[0]!r}", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:], prog=f"{prog} {argv[0]}")


if __name__ == "__main__":
    sys.exit(main())
