"""Sample text from a trained GPT checkpoint.

    python examples/sample.py --checkpoint out --prompt "ROMEO:" --num_samples 3 --max_new_tokens 200
    python examples/sample.py --checkpoint out/best.safetensors --temperature 0 --max_new_tokens 100
    python examples/sample.py --checkpoint out --top_k none --top_p 0.9 --seed 7

``--checkpoint`` is a training output folder (its ckpt.safetensors, or best.safetensors when there
is no ckpt) or a checkpoint file. The model and the tokenizer are rebuilt from what the checkpoint
saved, so the prompt is encoded exactly as the training data was. The same seed gives the same samples.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import tinygrad_gpt  # noqa: F401
except ImportError:  # run from a clone without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from tinygrad_gpt.checkpoint import load_checkpoint
from tinygrad_gpt.config import GPTConfig
from tinygrad_gpt.model import GPT
from tinygrad_gpt.tokenizer import ENDOFTEXT, tokenizer_from_dict

SEPARATOR = "-" * 40


def find_checkpoint(path: str | Path) -> Path:
    """The checkpoint file for a folder (ckpt.safetensors, else best.safetensors) or a file path."""
    path = Path(path)
    if path.is_dir():
        for name in ("ckpt.safetensors", "best.safetensors"):
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"{path} holds no ckpt.safetensors or best.safetensors; train with "
                                f"examples/train_gpt.py --out_dir {path} first")
    if path.is_file():
        return path
    raise FileNotFoundError(f"checkpoint {path} does not exist")


def load(path: str | Path):
    """(model in eval mode, tokenizer, checkpoint file) from a training checkpoint."""
    file = find_checkpoint(path)
    state, _, info = load_checkpoint(file)
    if "model_config" not in info or "tokenizer" not in info:
        raise ValueError(f"{file} has no model_config/tokenizer: it is not a train_gpt.py checkpoint")
    model = GPT(GPTConfig(**info["model_config"]))
    dtype = next(iter(state.values())).dtype
    model.astype(dtype)  # sample in the precision it was trained in
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


def _optional(cast):
    def parse(text: str):
        return None if text.lower() == "none" else cast(text)

    parse.__name__ = cast.__name__
    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sample.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    p.add_argument("--checkpoint", default="out", help="training output folder or checkpoint file")
    p.add_argument("--prompt", default=None,
                   help=f"text to continue (default: a newline, or {ENDOFTEXT} for the gpt2 tokenizer)")
    p.add_argument("--num_samples", type=int, default=1, help="samples to draw, as one batch")
    p.add_argument("--max_new_tokens", type=int, default=200, help="tokens to generate after the prompt")
    p.add_argument("--temperature", type=float, default=0.8, help="0 is greedy")
    p.add_argument("--top_k", type=_optional(int), default=200, help="keep the k most likely tokens; none: all")
    p.add_argument("--top_p", type=_optional(float), default=None, help="nucleus sampling mass; none: off")
    p.add_argument("--seed", type=_optional(int), default=1337, help="none: a fresh random seed")
    args = p.parse_args(argv)
    if args.num_samples < 1:
        p.error(f"--num_samples must be >= 1, got {args.num_samples}")
    if args.max_new_tokens < 0:
        p.error(f"--max_new_tokens must be >= 0, got {args.max_new_tokens}")
    return args


def sample(args: argparse.Namespace) -> list[str]:
    """The samples (prompt included) that ``args`` asks for."""
    model, tok, _ = load(args.checkpoint)
    start = encode_prompt(tok, args.prompt)
    idx = np.array([start] * args.num_samples, dtype=np.int64)
    out = model.generate(idx, args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                         top_p=args.top_p, seed=args.seed, vocab_limit=tok.vocab_size)
    keep = len(start) if not args.prompt else 0  # show the prompt, not the default start token
    return [tok.decode(row[keep:].tolist()) for row in out]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        samples = sample(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for i, text in enumerate(samples):
        if i:
            print(SEPARATOR)
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
