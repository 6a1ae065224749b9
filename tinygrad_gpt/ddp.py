"""Data-parallel GPT training (``--ddp``): what ``train.fit`` needs beyond ``nn.parallel``.

- :class:`RankLoader`: each rank's training batches. Batch ``k`` of rank ``r`` out of ``N`` comes from
  a generator seeded ``[seed, N, r, k]``: deterministic for a given N, and a resume (with the same N
  or another) re-derives every rank's stream from the step count alone.
- :func:`attach`: wraps a :class:`~tinygrad_gpt.train.Run`'s model in
  ``nn.parallel.DistributedDataParallel`` after checking that all ranks have the same config and
  data, and gives each rank its loader.
- :func:`guard`: runs the training so that an error on any rank ends every rank (``MPI.Abort``)
  after printing which rank failed and why, instead of leaving the others waiting forever.

Launch: ``mpiexec -n 2 tinygrad-gpt train --ddp`` (``pip install .[dist]``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_gpt.data import BatchLoader


class RankLoader(BatchLoader):
    """Training batches of one rank: batch ``k`` is drawn from ``default_rng([seed, world_size, rank, k])``.

    >>> loader = RankLoader(split, 8, 4, seed=0, rank=1, world_size=2)  # doctest: +SKIP
    >>> loader.load_state_dict({"step": 10}); x, y = loader.get_batch()  # the 11th batch of rank 1  # doctest: +SKIP
    """

    def __init__(self, source, block_size: int, batch_size: int, seed: int, rank: int, world_size: int):
        super().__init__(source, block_size, batch_size, seed=seed)
        self.seed, self.rank, self.world_size, self.step = seed, rank, world_size, 0

    def get_batch(self) -> tuple[np.ndarray, np.ndarray]:
        self.rng = np.random.default_rng([self.seed, self.world_size, self.rank, self.step])
        self.step += 1
        return super().get_batch()

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "world_size": self.world_size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])


def comm():
    """MPI's COMM_WORLD (mpi4py is imported only here, and only for ``--ddp``)."""
    from nn.parallel import world

    return world()


def _fingerprint(path: str | os.PathLike[str] | None) -> tuple[str, int, str] | None:
    """Name, size and a hash of the first MiB of a data file: enough to tell two files apart."""
    if path is None:
        return None
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(1 << 20)
    return p.name, p.stat().st_size, hashlib.sha1(head).hexdigest()


def check_same(comm_, what: str, value: Any) -> None:
    """Raise (on every rank) when ranks hold different ``value``s, naming the first rank that differs."""
    values = comm_.allgather(value)
    for r, v in enumerate(values):
        if v != values[0]:
            if isinstance(v, dict):
                keys = sorted(k for k in set(v) | set(values[0]) if v.get(k) != values[0].get(k))
                diff = ", ".join(f"{k}: rank 0 {values[0].get(k)!r}, rank {r} {v.get(k)!r}" for k in keys[:3])
            else:
                diff = f"rank 0 {values[0]!r}, rank {r} {v!r}"
            raise RuntimeError(f"--ddp: the ranks disagree on the {what} ({diff}); launch every rank with the same "
                               "flags and data")


def attach(run, resume_step: int | None = None) -> None:
    """Make ``run`` data-parallel over COMM_WORLD: check config and data agree, wrap the model in
    ``nn.parallel.DistributedDataParallel`` (rank 0's parameters go to all) and give each rank a
    :class:`RankLoader` positioned at ``resume_step`` micro-batches (a resume)."""
    import nn

    c = comm()
    cfg = run.cfg
    mine = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("progress",)}
    check_same(c, "training config", mine)
    check_same(c, "model config", run.model_cfg.to_dict())
    check_same(c, "training data", _fingerprint(run.data.split("train").path))
    run.ddp = nn.parallel.DistributedDataParallel(run.model, comm=c)
    loader = RankLoader(run.data.split("train"), run.model_cfg.block_size, cfg.batch_size, cfg.seed,
                        run.ddp.rank, run.ddp.world_size)
    if resume_step is not None:
        loader.load_state_dict({"step": resume_step})
    run.loader = loader
    if run.ddp.rank != 0:  # rank 0 alone talks; errors still reach stderr
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process


def use_local_gpu() -> int:
    """Make GPU ``i`` of this node current on the node's ``i``-th rank (modulo the GPU count); its index."""
    from mpi4py import MPI

    from engine.backend import get_xp

    cp = get_xp("gpu")
    local = comm().Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
    index = local % cp.cuda.runtime.getDeviceCount()
    cp.cuda.Device(index).use()
    return index


def rank0_first(fn: Callable[[], Any]) -> Any:
    """``fn()`` on rank 0, then on the others (e.g. data preparation that fills a cache: no race)."""
    c = comm()
    if c.Get_rank() == 0:
        out = fn()
        c.Barrier()
        return out
    c.Barrier()
    return fn()


def stop_votes(c, interrupted: bool, out_of_time: bool) -> tuple[bool, bool]:
    """Whether any rank saw Ctrl-C, and whether rank 0's clock ran out: all ranks stop on the same step."""
    from mpi4py import MPI

    flags = c.allreduce(int(interrupted), op=MPI.MAX)
    return bool(flags), bool(c.bcast(out_of_time, root=0))


def guard(fn: Callable[[], Any], codes: Callable[[BaseException], int] = lambda e: 1) -> Any:
    """Run ``fn()``; if it raises on this rank, print ``rank r of N failed: Error: message`` (and the
    traceback) to stderr and ``MPI.Abort`` every rank with status ``codes(error)``, so none hangs."""
    try:
        return fn()
    except BaseException as e:  # noqa: BLE001 - any error must end every rank
        if isinstance(e, SystemExit) and not e.code:
            raise
        try:
            c = comm()
        except ImportError:  # no MPI at all (the error may be just that): nothing to abort
            raise e from None
        rank, size = c.Get_rank(), c.Get_size()
        tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        msg = f"rank {rank} of {size} failed: {type(e).__name__}: {e}"
        try:
            sys.stderr.write(f"{tb}\n{msg}\naborting all {size} ranks\n")
            sys.stderr.flush()
        finally:
            c.Abort(codes(e))


__all__ = ["RankLoader", "attach", "check_same", "comm", "guard", "rank0_first", "stop_votes", "use_local_gpu"]
