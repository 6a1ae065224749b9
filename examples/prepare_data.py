"""Tokenize a corpus once into train.bin / val.bin / meta.json: a thin copy of ``tinygrad-gpt prepare``.

    python examples/prepare_data.py                                  # embedded Shakespeare, chars
    python examples/prepare_data.py --tokenizer gpt2
    python examples/prepare_data.py --data my_books/ --out_dir data  # a folder of .txt files
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "tinygrad_gpt").is_dir():  # the code of the clone this example is in, installed or not
    sys.path.insert(0, str(ROOT))

from tinygrad_gpt.cli import prepare_main  # noqa: E402

if __name__ == "__main__":
    status = prepare_main()
    if status:  # 0 returns quietly, so that runpy and `python -i` need not catch SystemExit
        sys.exit(status)
