"""RSS of a training step at S (baby, batch 12) from step 10 to step 1000: it must stay flat.

    python bench/memory_flat.py [--steps 1000]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nn  # noqa: E402
from tinygrad_gpt.config import GPTConfig  # noqa: E402
from tinygrad_gpt.data import prepare  # noqa: E402
from tinygrad_gpt.model import GPT  # noqa: E402


def rss_mib() -> float:
    """Current resident set size of this process (VmRSS)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=1000)
    args = ap.parse_args()
    data = prepare(None, "char")
    loader = data.loader("train", 64, 12, seed=0)
    model = GPT(GPTConfig.from_preset("baby", vocab_size=data.vocab_size), seed=0)
    opt = model.optimizer(1e-3, 0.1)
    checkpoints = {10, 100, 250, 500, 750, args.steps}
    marks = {}
    start = time.time()
    for step in range(1, args.steps + 1):
        x, y = loader.get_batch()
        _, loss = model(x, y)
        loss.backward()
        nn.optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        if step in checkpoints:
            marks[step] = round(rss_mib(), 1)
    print(f"RSS MiB by step: {marks}; loss {loss.item():.3f}; {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
