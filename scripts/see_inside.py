#!/usr/bin/env python3
"""Make the README's "See inside" pictures from the default (baby) GPT: the backward graph drawn
by ``engine.draw`` (its 4 blocks folded into one box) and the table of ``engine.gradcheck_model``.
The third picture, ``watch.png``, comes from the default run with ``--watch 100``:

    python scripts/see_inside.py                      # docs/images/gpt_graph.svg, gradcheck table
    python examples/train_gpt.py --watch 100 --out_dir out && cp out/watch.png docs/images/
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    import engine
    from tinygrad_gpt.config import GPTConfig
    from tinygrad_gpt.model import GPT

    cfg = GPTConfig.from_preset("baby", vocab_size=65, dropout=0.0)
    model = GPT(cfg, seed=0)
    idx = np.random.default_rng(0).integers(0, cfg.vocab_size, size=(2, 16))
    _, loss = model(idx, idx)
    loss.backward(retain_graph=True)  # draw labels each tensor with its gradient norm
    out = ROOT / "docs" / "images"
    out.mkdir(parents=True, exist_ok=True)
    engine.draw(loss, out / "gpt_graph", format="svg", names=model.named_parameters())
    print(f"wrote {out / 'gpt_graph.svg'}")
    tiny = GPT(GPTConfig.from_preset("baby", vocab_size=65, dropout=0.0, n_layer=2), seed=0)
    engine.gradcheck_model(tiny, (idx[:1, :8], idx[:1, :8]), loss_fn=lambda out: out[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
