"""Train a GPT. With no flags: a character-level `baby` GPT on the embedded Shakespeare, on CPU.

    python examples/train_gpt.py                         # ~2000 iterations, val loss <= 2.0
    python examples/train_gpt.py --device gpu --preset gpt2 --tokenizer gpt2 --batch_size 8
    python examples/train_gpt.py --max_iters 200 --n_layer 2 --lr 3e-3 --out_dir out/small
    python examples/train_gpt.py --resume                # continue from out/ckpt.safetensors

Every TrainConfig / GPTConfig field is a flag (see --help).
"""

import sys
from pathlib import Path

try:
    import tinygrad_gpt  # noqa: F401
except ImportError:  # run from a clone without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tinygrad_gpt.train import main

if __name__ == "__main__":
    sys.exit(main())
