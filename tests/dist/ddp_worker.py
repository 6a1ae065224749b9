"""What each rank runs in tests/dist (launched by ``mpiexec -n 2 python tests/dist/ddp_worker.py CASE ...``).

Cases print ``OK ...`` on rank 0 when their check passed, and raise (non-zero exit) otherwise.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _gpt(dtype: str):
    from tinygrad_gpt.config import GPTConfig
    from tinygrad_gpt.model import GPT

    cfg = GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=16, dropout=0.0)
    return GPT(cfg, seed=0).astype(dtype)


def _global_batches(steps: int, rows: int):
    import numpy as np

    rng = np.random.default_rng(123)
    for _ in range(steps):
        x = rng.integers(0, 11, size=(rows, 8))
        yield x, np.roll(x, -1, axis=1)


def equivalence(grad_accum: int, dtype: str) -> None:
    """2 ranks with per-rank batch b (in grad_accum micro-batches) == 1 process with batch 2b, after 5 steps."""
    import numpy as np

    import nn
    from tinygrad_gpt.train import train_step

    comm = nn.parallel.world()
    rank, size = comm.Get_rank(), comm.Get_size()
    b, steps = 2, 5
    ref, model = _gpt(dtype), _gpt(dtype)
    ddp = nn.parallel.DistributedDataParallel(model, comm=comm)
    opt_ref, opt = ref.optimizer(1e-2, 0.1), model.optimizer(1e-2, 0.1)
    for x, y in _global_batches(steps, size * b):
        train_step(ref, opt_ref, iter([(x, y)]), grad_clip=1.0)  # the whole global batch in one process
        mine_x, mine_y = x[rank * b:(rank + 1) * b], y[rank * b:(rank + 1) * b]
        micro = [(mine_x[i::grad_accum], mine_y[i::grad_accum]) for i in range(grad_accum)]
        train_step(ddp.module, opt, iter(micro), grad_accum=grad_accum, grad_clip=1.0, ddp=ddp)
    diff = max(float(np.abs(a.numpy() - c.numpy()).max()) for a, c in zip(ref.parameters(), model.parameters()))
    moved = max(float(np.abs(a.numpy() - c.numpy()).max()) for a, c in zip(ref.parameters(), _gpt(dtype).parameters()))
    tol = 1e-6 if dtype == "float64" else 1e-4
    assert moved > 100 * tol, f"the parameters barely moved ({moved})"
    assert diff <= tol, f"rank {rank}: DDP differs from the single process by {diff} (> {tol})"
    if rank == 0:
        print(f"OK equivalence grad_accum={grad_accum} {dtype} diff={diff:.3g} moved={moved:.3g}")


def buckets() -> None:
    """The bucketed all-reduce, started during backward, equals one blocking all-reduce of the flat buffer."""
    import numpy as np

    import engine
    import nn

    comm = nn.parallel.world()
    rank = comm.Get_rank()
    small = nn.parallel.DistributedDataParallel(_gpt("float64"), comm=comm, bucket_cap_mb=2e-3)  # ~260 numbers
    whole = nn.parallel.DistributedDataParallel(_gpt("float64"), comm=comm, bucket_cap_mb=1000)
    assert len(small.buckets) >= 4 and len(whole.buckets) == 1, (len(small.buckets), len(whole.buckets))
    grads_missing_at_launch = []
    launch = small._launch

    def spy(bucket):
        grads_missing_at_launch.append(sum(p.grad is None for p in small.flat.params))
        launch(bucket)

    small._launch = spy
    x = np.random.default_rng(rank).integers(0, 11, size=(3, 8))
    y = np.roll(x, -1, axis=1)
    _, loss = small(engine.tensor(x), engine.tensor(y))
    loss.backward()
    with whole.no_sync():
        _, loss2 = whole(engine.tensor(x), engine.tensor(y))
        loss2.backward()
    local = whole.flat.grad.copy()
    whole.allreduce_blocking_()
    assert grads_missing_at_launch[0] > 0, "the first bucket was not reduced during backward"
    assert len(grads_missing_at_launch) == len(small.buckets)
    np.testing.assert_array_equal(small.flat.grad, whole.flat.grad)
    assert not np.array_equal(local, whole.flat.grad), "the ranks' gradients were equal: nothing was tested"
    if rank == 0:
        print(f"OK buckets {len(small.buckets)} launches, first with {grads_missing_at_launch[0]} grads pending")


def fail(how: str) -> None:
    """Rank 1 fails mid-run (raises, or is killed) while rank 0 keeps all-reducing."""
    import numpy as np

    from tinygrad_gpt import ddp

    comm = ddp.comm()

    def work():
        buf = np.ones(4)
        for step in range(10_000):
            if comm.Get_rank() == 1 and step == 3:
                if how == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise ValueError("boom at step 3")
            comm.Allreduce(buf.copy(), buf)
            buf[...] = 1
            time.sleep(0.01)

    ddp.guard(work)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    case, *args = sys.argv[1:]
    if case == "equivalence":
        equivalence(int(args[0]), args[1])
    elif case == "buckets":
        buckets()
    elif case == "fail":
        fail(args[0])
    else:
        raise SystemExit(f"unknown case {case}")
