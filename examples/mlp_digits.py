"""Train a small MLP on scikit-learn's 8×8 handwritten digits with our nn library.

    python examples/mlp_digits.py                      # about 97-98% test accuracy in seconds
    python examples/mlp_digits.py --epochs 10 --hidden 64 --seed 1

The data set (1,797 images, 10 classes) ships inside scikit-learn, so nothing is downloaded:
`pip install -e ".[examples]"` brings scikit-learn in. Everything else is this repository:
layers from `nn`, gradients from `engine`.
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

from tqdm import tqdm  # noqa: E402

import engine  # noqa: E402
import engine.functional as F  # noqa: E402
import nn  # noqa: E402
from engine import Tensor, no_grad  # noqa: E402
from tinygrad_gpt.extras import MissingExtra, require  # noqa: E402


def load_data(seed: int):
    """Pixels scaled to [0, 1], flattened to 64 features; a stratified 80/20 train/test split."""
    require("sklearn", "examples", "examples/mlp_digits.py")  # one line naming the extra, not a traceback
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # (1797, 64), pixel values were 0..16
    y = digits.target.astype(np.int64)  # (1797,), labels 0..9
    return train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()  # no dropout when measuring
    with no_grad():  # no graph needed: we won't call backward
        predictions = model(Tensor(x)).argmax(axis=1).numpy()
    model.train()
    return float((predictions == y).mean())


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=20, help="passes over the training set (default: 20)")
    ap.add_argument("--lr", type=float, default=1e-2, help="peak learning rate of AdamW (default: 1e-2)")
    ap.add_argument("--seed", type=int, default=0, help="seeds the weights, the split and the shuffling")
    ap.add_argument("--hidden", type=int, default=128, help="width of the hidden layer (default: 128)")
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args(argv)

    x_train, x_test, y_train, y_test = load_data(args.seed)
    print(f"digits: {len(x_train)} train / {len(x_test)} test images, 64 pixels each, 10 classes")

    engine.manual_seed(args.seed)  # the same seed gives the same initial weights
    model = nn.Sequential(
        nn.Linear(64, args.hidden),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(args.hidden, 10),  # one logit per digit
    )
    print(f"model: {model.num_parameters():,} parameters\n{model}")

    # Weight decay on the weight matrices only; biases are left alone (a common recipe).
    params = model.parameters()
    optimizer = nn.optim.AdamW([
        {"params": [p for p in params if p.ndim == 2], "weight_decay": 1e-2},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ], lr=args.lr)
    batches_per_epoch = -(-len(x_train) // args.batch_size)
    total_steps = args.epochs * batches_per_epoch
    schedule = nn.optim.CosineWithWarmup(optimizer, lr=args.lr, min_lr=args.lr / 10,
                                         warmup_steps=batches_per_epoch, decay_steps=total_steps)

    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    bar = tqdm(range(args.epochs), desc="training", unit="epoch")
    for _ in bar:
        order = rng.permutation(len(x_train))  # a new shuffle every epoch
        losses = []
        for i in range(0, len(order), args.batch_size):
            idx = order[i : i + args.batch_size]
            logits = model(Tensor(x_train[idx]))  # (B, 10)
            loss = F.cross_entropy(logits, y_train[idx])

            optimizer.zero_grad()  # gradients accumulate, so clear the previous step's
            loss.backward()
            schedule.step()  # set this step's learning rate, then take the step
            optimizer.step()
            losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses):.4f}", lr=f"{optimizer.param_groups[0]['lr']:.1e}")

    seconds = time.perf_counter() - start
    train_acc, test_acc = accuracy(model, x_train, y_train), accuracy(model, x_test, y_test)
    print(f"trained {args.epochs} epochs in {seconds:.1f} s")
    print(f"train accuracy: {train_acc:.4f}")
    print(f"test accuracy: {test_acc:.4f}")
    return test_acc


if __name__ == "__main__":
    try:
        main()
    except MissingExtra as e:
        print(e, file=sys.stderr)
        sys.exit(2)
