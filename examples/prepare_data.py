"""Tokenize a corpus once into train.bin / val.bin / meta.json, reusing earlier work.

    python examples/prepare_data.py                                  # embedded Shakespeare, chars
    python examples/prepare_data.py --tokenizer gpt2
    python examples/prepare_data.py --data my_books/ --out_dir data  # a folder of .txt files
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

# Let `python examples/prepare_data.py` work from a clone without `pip install -e .`.
if importlib.util.find_spec("tinygrad_gpt") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tinygrad_gpt.data import prepare  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None,
                    help="UTF-8 text file or folder of .txt files (default: Shakespeare)")
    ap.add_argument("--tokenizer", choices=["char", "gpt2"], default="char")
    ap.add_argument("--out_dir", default=None,
                    help="cache folder for prepared data (default: ~/.cache/tinygrad_gpt/data)")
    args = ap.parse_args(argv)

    prep = prepare(args.data, args.tokenizer, args.out_dir)
    meta = prep.meta
    print(f"{'reused' if prep.reused else 'wrote'} {prep.dir}")
    print(f"source:    {meta['source']} ({meta['n_chars']:,} chars, sha256 {meta['source_sha256'][:16]}...)")
    print(f"tokenizer: {prep.tokenizer_name}, vocab {prep.vocab_size:,}, stored as {meta['dtype']}")
    for split in (prep.train, prep.val):
        print(f"{split.path.name:>9}: {split.n_tokens:,} tokens, {split.path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
