#!/usr/bin/env python3
"""The engine's per-op Python overhead: a chain of 250 tiny ops (4×4 arrays, so the array work is
negligible), forward and backward, timed 200 times. What it moves: ``Function.apply``, the backward
sweep and ``Function.free``, nothing else.

    python bench/engine_overhead.py
"""

import time

import numpy as np

from engine import Tensor

x = Tensor(np.ones((4, 4), np.float32), requires_grad=True)
w = Tensor(np.ones((4, 4), np.float32), requires_grad=True)


def step() -> None:
    h = x
    for _ in range(50):  # 5 ops each
        h = (h * w + x).tanh().reshape(16).reshape(4, 4)
    h.sum().backward()
    x.grad = w.grad = None


if __name__ == "__main__":
    for _ in range(20):
        step()
    times = []
    for _ in range(200):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    times.sort()
    print(f"{times[len(times) // 2] * 1e3:.3f} ms median, {times[0] * 1e3:.3f} ms fastest (250 ops, fwd + bwd)")
