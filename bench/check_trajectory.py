#!/usr/bin/env python3
"""Check that our training step and bench/torch_train.py's are the same computation, step by step.

Builds both benchmark models (``ours_model`` and ``TorchGPT``), copies torch's initial weights into
ours, feeds both the same batches and runs forward, backward, clip at 1.0 and AdamW side by side.
Prints each step's loss and gradient norm for both and the largest relative differences, and
exits 1 if a loss differs by more than --rtol. The speed comparisons of bench_train.py are only
fair if this holds; it also explains a different last loss there (the two programs draw their
initial weights from different generators).

    python bench/check_trajectory.py --config S --steps 20
    python bench/check_trajectory.py --config M --steps 10
"""

from __future__ import annotations

import argparse
import sys

from _common import BETAS, CONFIGS, EPS, GRAD_CLIP, LR, SEED, VOCAB, WEIGHT_DECAY, batch_source, ours_model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="S")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rtol", type=float, default=1e-4, help="largest allowed relative loss difference")
    args = ap.parse_args(argv)

    model, opt = ours_model(args.config)  # puts the repository on sys.path
    import torch
    from torch_train import TorchGPT

    from engine import Tensor
    from nn.optim import clip_grad_norm_

    cfg = CONFIGS[args.config]
    L, H, C, T, B = (cfg[k] for k in ("n_layer", "n_head", "n_embd", "block_size", "batch_size"))
    torch.set_num_threads(2)
    torch.manual_seed(SEED)
    ref = TorchGPT(VOCAB, T, L, H, C)
    ref_params = list(ref.parameters())
    ref_opt = torch.optim.AdamW([{"params": [p for p in ref_params if p.dim() >= 2], "weight_decay": WEIGHT_DECAY},
                                 {"params": [p for p in ref_params if p.dim() < 2], "weight_decay": 0.0}],
                                lr=LR, betas=BETAS, eps=EPS)
    weights = {name: p.detach().numpy() for name, p in ref.named_parameters()}
    params = model.parameters()
    for name, p in model.named_parameters():
        p._data[...] = weights[name.removeprefix("transformer.")]  # same names but the prefix

    get_batch, _ = batch_source(T, B)
    worst_loss = worst_norm = 0.0
    print(f"config {args.config}: {args.steps} steps, torch's initial weights in both")
    for step in range(args.steps):
        x, y = get_batch()
        ref_loss = ref(torch.from_numpy(x), torch.from_numpy(y))[1]
        ref_loss.backward()
        ref_norm = float(torch.nn.utils.clip_grad_norm_(ref_params, GRAD_CLIP))
        ref_opt.step()
        ref_opt.zero_grad(set_to_none=True)
        loss = model(Tensor(x), Tensor(y))[1]
        loss.backward()
        norm = float(clip_grad_norm_(params, GRAD_CLIP))
        opt.step()
        opt.zero_grad()
        a, b = float(ref_loss.item()), float(loss.item())
        worst_loss = max(worst_loss, abs(a - b) / abs(a))
        worst_norm = max(worst_norm, abs(ref_norm - norm) / ref_norm)
        print(f"step {step:3d}  loss torch {a:.5f} ours {b:.5f}   grad norm torch {ref_norm:.4f} ours {norm:.4f}")
    print(f"largest relative difference: loss {worst_loss:.2e}, grad norm {worst_norm:.2e} (--rtol {args.rtol:g})")
    return 0 if worst_loss <= args.rtol else 1


if __name__ == "__main__":
    sys.exit(main())
