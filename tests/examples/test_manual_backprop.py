"""examples/manual_backprop.py: the hand-written NumPy backward equals engine autograd, gradient by
gradient, and training from it follows the autograd run step for step."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "manual_backprop.py"
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n") * 4


@pytest.fixture(scope="module")
def mb():
    spec = importlib.util.spec_from_file_location("manual_backprop_example", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("dtype,bound", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("seed", [0, 1])
def test_every_hand_gradient_matches_autograd(mb, dtype, bound, seed):
    diffs = mb.compare(dtype, seed=seed, text=TEXT, verbose=False)
    expected = {"logits", "h", "hpreact", "bngain", "bnbias", "hprebn", "hprebn_fast", "embcat", "emb",
                "W2", "b2", "W1", "b1", "C", "loss"}
    assert set(diffs) == expected
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= bound, f"{worst}: {diffs[worst]:.2e} > {bound}"


def test_hand_gradients_are_not_trivially_zero(mb):
    # The comparison is only meaningful if the gradients are real: check against a central difference.
    X, Y, vocab = mb.make_dataset(TEXT, 3)
    import engine
    engine.manual_seed(0)
    model = mb.CharMLP(len(vocab), 3, 4, 8).to(dtype="float64")
    p = mb.params_numpy(model)
    Xb, Yb = X[:16], Y[:16]
    _, cache = mb.manual_forward(p, Xb, Yb)
    g = mb.manual_backward(p, cache)
    rng = np.random.default_rng(0)
    for name in ("C", "W1", "b1", "bngain", "bnbias", "W2", "b2"):
        u = rng.standard_normal(p[name].shape)
        plus = {**p, name: p[name] + 1e-6 * u}
        minus = {**p, name: p[name] - 1e-6 * u}
        numeric = (mb.manual_forward(plus, Xb, Yb)[0] - mb.manual_forward(minus, Xb, Yb)[0]) / 2e-6
        analytic = float((g[name] * u).sum())
        if name == "b1":  # batch norm subtracts the batch mean, so b1 cancels: its gradient is 0
            assert abs(analytic) < 1e-12 and abs(numeric) < 1e-7
            continue
        assert abs(analytic) > 1e-8, name
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-9), name


def test_training_with_the_hand_backward_follows_autograd(mb):
    hand, auto = mb.train(steps=30, lr=0.1, text=TEXT, verbose=False)
    hand, auto = np.array(hand), np.array(auto)
    assert np.abs(hand - auto).max() < 1e-4  # float32 noise, step for step
    assert hand[-10:].mean() < hand[:3].mean() - 0.3  # and it learns
