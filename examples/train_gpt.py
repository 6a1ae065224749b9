"""Train a GPT: a thin copy of ``tinygrad-gpt train`` (tinygrad_gpt/cli.py; the loop is tinygrad_gpt/train.py).

    python examples/train_gpt.py                          # the baby GPT on Shakespeare, val loss about 1.9
    python examples/train_gpt.py --device gpu --preset gpt2 --tokenizer gpt2 --batch_size 8
    python examples/train_gpt.py --max_iters 200 --n_layer 2 --lr 3e-3 --no-progress --out_dir out/small
    python examples/train_gpt.py --max_time 2m            # stop after 2 minutes, with an eval and a checkpoint
    python examples/train_gpt.py --resume                 # continue out/ckpt.safetensors exactly

Every TrainConfig / GPTConfig field is a flag: see --help. Ctrl-C saves a checkpoint and prints
the command that resumes it (exit status 130); a second Ctrl-C aborts.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "tinygrad_gpt").is_dir():  # the code of the clone this example is in, installed or not
    sys.path.insert(0, str(ROOT))

from tinygrad_gpt.cli import train_main  # noqa: E402

if __name__ == "__main__":
    status = train_main()
    if status:  # 0 returns quietly, so that runpy and `python -i` need not catch SystemExit
        sys.exit(status)
