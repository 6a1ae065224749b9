"""Data-parallel training of a small CNN on scikit-learn's 8×8 digits with nn.parallel.DistributedDataParallel.

    pip install -e ".[dist,examples]"
    mpiexec -n 2 python examples/ddp_cnn.py            # 2 processes, each on its half of every batch
    python examples/ddp_cnn.py                         # 1 process: the same code, the same result

Each rank builds the model (rank 0's weights are copied to all at start), takes its share of each
global batch, and backward leaves every rank with the gradients averaged over all ranks, so the
replicas stay equal. Rank 0 alone prints. With --batch-size B the global batch is B whatever the
number of ranks, so 1 and N processes train the same model up to float rounding.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "nn").is_dir():  # the code of the clone this example is in, installed or not
    sys.path.insert(0, str(ROOT))

import engine  # noqa: E402
import engine.functional as F  # noqa: E402
import nn  # noqa: E402
from engine import Tensor, no_grad  # noqa: E402
from tinygrad_gpt.extras import MissingExtra, require  # noqa: E402


def load_data(seed: int):
    """Images (N, 1, 8, 8) scaled to [0, 1] and labels; a stratified 80/20 train/test split."""
    require("sklearn", "examples", "examples/ddp_cnn.py")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images[:, None] / 16.0).astype(np.float32)  # (1797, 1, 8, 8)
    return train_test_split(x, digits.target.astype(np.int64), test_size=0.2, random_state=seed, stratify=digits.target)


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 16, 4, 4)
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 2, 2)
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10),
    )


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64, help="global batch, split over the ranks (default: 64)")
    args = ap.parse_args(argv)

    comm = nn.parallel.world()  # MPI.COMM_WORLD: the processes mpiexec started (1 without mpiexec)
    rank, size = comm.Get_rank(), comm.Get_size()
    say = print if rank == 0 else (lambda *a, **k: None)
    x_train, x_test, y_train, y_test = load_data(args.seed)
    engine.manual_seed(args.seed + rank)  # different weights per rank on purpose: DDP copies rank 0's
    model = nn.parallel.DistributedDataParallel(cnn(), comm=comm)
    optimizer = nn.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-2)
    say(f"{size} rank(s), {len(x_train)} train images, global batch {args.batch_size}, "
        f"{len(model.buckets)} gradient bucket(s)")

    rng = np.random.default_rng(args.seed)  # the same shuffle on every rank: each takes its slice
    start = time.perf_counter()
    for epoch in range(args.epochs):
        order, losses = rng.permutation(len(x_train)), []
        for i in range(0, len(order) - args.batch_size + 1, args.batch_size):
            idx = order[i:i + args.batch_size][rank::size]  # this rank's share of the global batch
            loss = F.cross_entropy(model(Tensor(x_train[idx])), Tensor(y_train[idx]))
            optimizer.zero_grad()
            loss.backward()  # the all-reduce of each bucket starts as soon as its gradients are ready
            optimizer.step()
            losses.append(loss.item())
        say(f"epoch {epoch + 1}: loss {np.mean(losses):.4f} (rank 0's share)")
    model.eval()
    with no_grad():
        acc = float((model(Tensor(x_test)).argmax(dim=1).numpy() == y_test).mean())
    say(f"trained in {time.perf_counter() - start:.1f} s; test accuracy: {acc:.4f}")
    return acc


if __name__ == "__main__":
    try:
        main()
    except MissingExtra as e:
        print(e, file=sys.stderr)
        sys.exit(2)
