#!/usr/bin/env python3
"""PyTorch reference training step for bench_train.py (CPU, eager mode, 2 threads).

The model and optimizer are those of ../shared/bench/torch_ref.py (nanoGPT-equivalent):
learned token + position embeddings, pre-LayerNorm blocks of causal self-attention through
F.scaled_dot_product_attention(is_causal=True) and a 4x tanh-GELU MLP, final LayerNorm, lm_head
tied to the token embedding (no bias; every other Linear and LayerNorm has one), dropout 0,
GPT-2 init (N(0, 0.02), c_proj weights N(0, 0.02/sqrt(2·n_layer)), zero biases),
AdamW(lr 1e-3, betas (0.9, 0.99), eps 1e-8) with weight decay 0.1 on parameters of dim >= 2 only,
gradient clipping at global norm 1.0.

It reads its batches exactly as our step does (bench/_common.batch_source: the char-level
Shakespeare train split through tinygrad_gpt.data, or random ids), so the two programs differ only
in the framework. Run alone it prints the same per-phase report as torch_ref.py:

    python bench/torch_train.py --config S
"""

from __future__ import annotations

import argparse
import math
import sys

import torch
import torch.nn as tnn
import torch.nn.functional as TF
from _common import (
    BETAS,
    CONFIGS,
    EPS,
    GRAD_CLIP,
    LR,
    SEED,
    VOCAB,
    WEIGHT_DECAY,
    batch_source,
    finish_result,
    flops_per_iter,
    peak_rss_mib,
    print_result,
    time_training,
    write_json,
)


class SelfAttention(tnn.Module):
    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.c_attn = tnn.Linear(n_embd, 3 * n_embd)
        self.c_proj = tnn.Linear(n_embd, n_embd)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                   for t in self.c_attn(x).split(C, dim=2))  # (B, nh, T, hs) each
        y = TF.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(tnn.Module):
    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.ln_1 = tnn.LayerNorm(n_embd)
        self.attn = SelfAttention(n_embd, n_head)
        self.ln_2 = tnn.LayerNorm(n_embd)
        self.mlp = tnn.Sequential()
        self.mlp.c_fc = tnn.Linear(n_embd, 4 * n_embd)
        self.mlp.gelu = tnn.GELU(approximate="tanh")
        self.mlp.c_proj = tnn.Linear(4 * n_embd, n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TorchGPT(tnn.Module):
    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int):
        super().__init__()
        self.wte = tnn.Embedding(vocab_size, n_embd)
        self.wpe = tnn.Embedding(block_size, n_embd)
        self.h = tnn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = tnn.LayerNorm(n_embd)
        self.lm_head = tnn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight
        self.register_buffer("pos", torch.arange(block_size), persistent=False)
        for m in self.modules():
            if isinstance(m, (tnn.Linear, tnn.Embedding)):
                tnn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, tnn.Linear) and m.bias is not None:
                tnn.init.zeros_(m.bias)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                tnn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer))

    def forward(self, idx, targets):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(self.pos[:T])
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return logits, TF.cross_entropy(logits.view(B * T, -1), targets.view(B * T))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="S")
    ap.add_argument("--iters", type=int, default=0, help="timed iterations (0: the config's default)")
    ap.add_argument("--warmup", type=int, default=-1, help="untimed iterations first (-1: the config's default)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--random-data", action="store_true",
                    help=f"uniform random ids in [0, {VOCAB}) instead of the corpus")
    ap.add_argument("--peak-gflops", type=float, default=0.0, help="matmul peak for the MFU line (0: none)")
    ap.add_argument("--json-out", default="", help="write the result as JSON here")
    args = ap.parse_args(argv)

    cfg = CONFIGS[args.config]
    iters = args.iters or cfg["iters"]
    warmup = cfg["warmup"] if args.warmup < 0 else args.warmup
    L, H, C, T, B = (cfg[k] for k in ("n_layer", "n_head", "n_embd", "block_size", "batch_size"))
    rss_import = peak_rss_mib()

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    next_batch, data_desc = batch_source(T, B, args.random_data)

    def get_batch():
        x, y = next_batch()
        return torch.from_numpy(x), torch.from_numpy(y)

    model = TorchGPT(VOCAB, T, L, H, C)
    model.train()
    params = list(model.parameters())  # the tied weight once
    n_params = sum(p.numel() for p in params)
    n_nopos = n_params - model.wpe.weight.numel()
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}], lr=LR, betas=BETAS, eps=EPS)
    flops = flops_per_iter(n_nopos, L, C, T, B)
    rss_setup = peak_rss_mib()
    print(f"torch {torch.__version__}  threads {torch.get_num_threads()}  config {args.config} "
          f"L={L} H={H} C={C} T={T} B={B}  params {n_params} (excl. wpe {n_nopos})  "
          f"{flops / 1e9:.4f} GFLOP/iter  data: {data_desc}")
    sys.stdout.flush()

    def step():
        opt.step()
        opt.zero_grad(set_to_none=True)

    res = time_training(
        get_batch,
        forward=lambda x, y: model(x, y)[1],
        backward=lambda loss: loss.backward(),
        clip=lambda: torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP),
        step=step,
        loss_value=lambda loss: loss.item(),
        iters=iters, warmup=warmup)
    res.update(impl="torch", version=torch.__version__, config=args.config, iters=iters, warmup=warmup,
               threads=torch.get_num_threads(), data=data_desc, n_params=n_params, n_params_nopos=n_nopos,
               rss_after_import_mib=rss_import, rss_after_setup_mib=rss_setup)
    finish_result(res, B * T, flops)
    print_result(res, args.peak_gflops)
    if args.json_out:
        write_json(args.json_out, res)


if __name__ == "__main__":
    main()
