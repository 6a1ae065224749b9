"""Data-parallel training over MPI (CPU, through mpi4py) or NCCL (GPU, through ``cupy.cuda.nccl``).

``DistributedDataParallel(module)`` keeps one replica of ``module`` per process (rank): at start it
checks that every rank built the same parameters and copies rank 0's values to all; during
backward it averages the gradients over the ranks, so that each replica takes the same step.

How the gradients travel (as PyTorch's DDP): the parameters live in one flat buffer and their
gradients in another (``engine.flatten_parameters``). The gradient buffer is cut into buckets of
about ``bucket_cap_mb``, the last parameters first (backward produces their gradients first). When
backward has written every gradient of a bucket (a post-accumulate-grad hook per parameter), that
bucket's all-reduce starts at once, non-blocking (``Iallreduce``, or NCCL on a side stream), while
backward goes on with the earlier layers. The hook of the last gradient waits for all of them, so
``.grad`` holds the average when ``backward()`` returns.

Run with ``mpiexec -n 2 python script.py`` (``pip install .[dist]`` brings mpi4py and MPICH).
mpi4py is imported only when a DistributedDataParallel is built without ``comm``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import engine
from nn.module import Module


def world():
    """mpi4py's ``MPI.COMM_WORLD`` (the processes ``mpiexec`` started), with a clear error without mpi4py."""
    try:
        from mpi4py import MPI
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("data-parallel training needs mpi4py and an MPI runtime: pip install 'tinygrad_gpt[dist]' "
                          "(mpi4py and mpich), then launch with mpiexec -n N") from e
    return MPI.COMM_WORLD


class DataParallel(Module):
    """torch.nn.DataParallel on one device: it calls ``module`` (torch's behaviour with no GPU or one
    device), kept as ``.module`` so the state_dict keys are torch's ``module.<name>``. For training on
    several processes use DistributedDataParallel.

    >>> import nn
    >>> dp = DataParallel(nn.Linear(2, 3)); dp(engine.randn(4, 2)).shape, list(dp.state_dict())
    ((4, 3), ['module.weight', 'module.bias'])
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0):
        super().__init__()
        self.module = module
        self.device_ids = []  # torch's on a machine without CUDA: no scatter, no replicas
        self.dim, self.output_device = dim, output_device

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.module(*inputs, **kwargs)


class _Bucket:
    """A contiguous slice ``[lo, hi)`` of the flat gradient buffer and the parameters it holds."""

    __slots__ = ("lo", "hi", "params", "pending", "request")

    def __init__(self, lo: int, hi: int, params: list):
        self.lo, self.hi, self.params = lo, hi, params
        self.pending = len(params)
        self.request: Any = None


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training: each rank runs it on its own share of the batch, and
    backward leaves every rank with the gradients averaged over all ranks (torch's name and use).

    ``comm``: an mpi4py communicator (default ``MPI.COMM_WORLD``). ``bucket_cap_mb``: the size of one
    all-reduce. ``broadcast_buffers``: copy rank 0's buffers (BatchNorm's running stats) to all ranks
    at each forward. On the GPU the gradients travel through NCCL (one communicator set up over MPI).

    Every parameter must get a gradient in each backward (a parameter unused in the forward would leave
    its bucket waiting: call :meth:`finish_gradient_sync` after such a backward). Move and cast the
    module before wrapping it: its parameters become views of one flat buffer.

    >>> ddp = DistributedDataParallel(model)  # doctest: +SKIP
    >>> loss = loss_fn(ddp(x_of_this_rank), y_of_this_rank)  # doctest: +SKIP
    >>> loss.backward(); opt.step(); opt.zero_grad()  # doctest: +SKIP
    """

    def __init__(self, module: Module, comm=None, bucket_cap_mb: float = 25, broadcast_buffers: bool = True):
        super().__init__()
        self.module = module
        comm = world() if comm is None else comm
        object.__setattr__(self, "comm", comm)  # not a submodule, not in state_dict
        self.rank, self.world_size = comm.Get_rank(), comm.Get_size()
        self.broadcast_buffers, self.bucket_cap_mb = broadcast_buffers, bucket_cap_mb
        self.require_backward_grad_sync = True
        names = {id(p): n for n, p in module.named_parameters()}
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise ValueError("DistributedDataParallel: the module has no parameter that requires grad")
        self._check_same_everywhere([(names.get(id(p), "?"), tuple(p.shape), str(p.dtype)) for p in params],
                                    "parameters (name, shape, dtype)")
        self.flat = engine.flatten_parameters(params)
        self.gpu = type(self.flat.data).__module__.startswith("cupy")
        self._nccl = _NcclAllReduce(comm) if self.gpu else None
        self._broadcast(self.flat.data)  # rank 0's values everywhere: trained and frozen parameters, buffers
        for t in [p for p in module.parameters() if not p.requires_grad] + module.buffers():
            self._broadcast(t._data)
        self.buckets = self._make_buckets(bucket_cap_mb)
        self._bucket_of = {id(p): b for b in self.buckets for p in b.params}
        self._span = {id(p): span for p, span in zip(self.flat.params, self.flat.spans)}
        self._handles = [p.register_post_accumulate_grad_hook(self._grad_ready) for p in self.flat.params]
        self._launched = 0

    # ---- set-up -----------------------------------------------------------------------------------
    def _check_same_everywhere(self, value, what: str) -> None:
        """Raise on every rank when ``value`` (a picklable description) differs between ranks."""
        values = self.comm.allgather(value)
        for r, v in enumerate(values):
            if v != values[0]:
                detail = ""
                if isinstance(v, list) and isinstance(values[0], list):
                    diff = [(a, b) for a, b in zip(values[0], v) if a != b]
                    detail = f"; first difference: rank 0 has {diff[0][0]}, rank {r} has {diff[0][1]}" if diff else \
                        f"; rank 0 has {len(values[0])} entries, rank {r} has {len(v)}"
                raise RuntimeError(f"DistributedDataParallel: the ranks disagree on the {what}{detail}")

    def _make_buckets(self, cap_mb: float) -> list[_Bucket]:
        """Buckets of about ``cap_mb`` MB over the parameters in reverse order (the order backward
        produces gradients): each a contiguous slice of the flat gradient buffer."""
        cap = max(1, int(cap_mb * 2**20 / self.flat.grad.itemsize))
        buckets, members, hi = [], [], None
        for p, (lo, end) in reversed(list(zip(self.flat.params, self.flat.spans))):
            if hi is None:
                hi = end
            members.append(p)
            if hi - lo >= cap:
                buckets.append(_Bucket(lo, hi, members))
                members, hi = [], None
        if members:
            buckets.append(_Bucket(self.flat.spans[self.flat.params.index(members[-1])][0], hi, members))
        return buckets

    def _broadcast(self, array) -> None:
        """Copy rank 0's ``array`` into every rank's, in place."""
        if self.gpu:
            self._nccl.broadcast(array)
        else:
            self.comm.Bcast(array, root=0)

    # ---- forward and the gradient sync ------------------------------------------------------------
    def forward(self, *args, **kwargs):
        if self._launched or any(b.pending != len(b.params) for b in self.buckets):  # as torch's DDP
            raise RuntimeError("DistributedDataParallel: the previous backward left gradient buckets unreduced "
                               "(a parameter got no gradient); call finish_gradient_sync() after such a backward")
        if self.broadcast_buffers and self.world_size > 1:
            for b in self.module.buffers():
                self._broadcast(b._data)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Backward inside accumulates gradients locally, without an all-reduce (for gradient
        accumulation: every micro-step but the last).

        >>> with ddp.no_sync():  # doctest: +SKIP
        ...     loss_fn(ddp(x0), y0).backward()
        >>> loss_fn(ddp(x1), y1).backward()  # doctest: +SKIP
        """
        prev = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = prev

    def _grad_ready(self, p) -> None:
        if not self.require_backward_grad_sync:  # (one rank still all-reduces: the same path, tested alone)
            return
        bucket = self._bucket_of[id(p)]
        bucket.pending -= 1
        if bucket.pending == 0:
            self._launch(bucket)
            if self._launched == len(self.buckets):
                self._wait_all()
        elif self._launched and not self.gpu:
            self._progress()

    def _progress(self) -> None:
        """Let MPI move the all-reduces in flight along: without a progress thread MPICH advances a
        non-blocking collective only inside MPI calls, so each gradient hook makes one (a cheap Test)."""
        for b in self.buckets:
            if b.request is not None:
                b.request.Test()

    def _launch(self, bucket: _Bucket) -> None:
        view = self.flat.grad[bucket.lo:bucket.hi]
        if self.gpu:
            bucket.request = self._nccl.start(view)
        else:
            from mpi4py import MPI

            bucket.request = self.comm.Iallreduce(MPI.IN_PLACE, view, op=MPI.SUM)
        self._launched += 1

    def _wait_all(self) -> None:
        for b in self.buckets:
            if b.request is not None:
                if self.gpu:
                    self._nccl.wait(b.request)
                else:
                    b.request.Wait()
            b.request, b.pending = None, len(b.params)
        self._launched = 0
        if self.world_size > 1:
            self.flat.grad *= 1.0 / self.world_size  # the sum over ranks -> the mean

    def finish_gradient_sync(self) -> None:
        """Reduce the buckets that a backward left waiting (a parameter without a gradient counts as
        zero) and wait for all: needed only after a backward in which some parameter got no gradient."""
        if not self.require_backward_grad_sync:
            return
        if not self._launched and all(b.pending == len(b.params) for b in self.buckets):
            return  # nothing is waiting
        for b in self.buckets:
            if b.request is None:
                for p in b.params:
                    if p.grad is None:
                        lo, hi = self._span[id(p)]
                        self.flat.grad[lo:hi] = 0
                self._launch(b)
        self._wait_all()

    def allreduce_blocking_(self) -> None:
        """Average the whole flat gradient buffer in one blocking all-reduce (the reference the
        bucketed, overlapped path must equal; also handy after a ``no_sync`` backward)."""
        if self.gpu:
            self._nccl.wait(self._nccl.start(self.flat.grad))
        else:
            from mpi4py import MPI

            self.comm.Allreduce(MPI.IN_PLACE, self.flat.grad, op=MPI.SUM)
        if self.world_size > 1:
            self.flat.grad *= 1.0 / self.world_size

    def remove_hooks(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


class _NcclAllReduce:
    """NCCL over one GPU per rank: a communicator whose id rank 0 makes and MPI broadcasts, and a side
    stream for the all-reduces, ordered after the compute stream with events (so backward runs on)."""

    def __init__(self, comm):
        import cupy as cp
        from cupy.cuda import nccl

        self.cp, self.nccl = cp, nccl
        uid = comm.bcast(nccl.get_unique_id() if comm.Get_rank() == 0 else None, root=0)
        self.comm = nccl.NcclCommunicator(comm.Get_size(), uid, comm.Get_rank())
        self.stream = cp.cuda.Stream(non_blocking=True)

    def _dtype(self, array) -> int:
        kinds = {"float32": self.nccl.NCCL_FLOAT32, "float64": self.nccl.NCCL_FLOAT64,
                 "float16": self.nccl.NCCL_FLOAT16}
        return kinds[str(array.dtype)]

    def start(self, view):
        """Sum ``view`` over the ranks in place on the side stream, after the work queued so far."""
        ready = self.cp.cuda.Event()
        ready.record(self.cp.cuda.get_current_stream())
        self.stream.wait_event(ready)
        self.comm.allReduce(view.data.ptr, view.data.ptr, view.size, self._dtype(view), self.nccl.NCCL_SUM,
                            self.stream.ptr)
        done = self.cp.cuda.Event()
        done.record(self.stream)
        return done

    def wait(self, done) -> None:
        self.cp.cuda.get_current_stream().wait_event(done)  # later kernels (the optimizer) wait on the GPU

    def broadcast(self, array) -> None:
        self.comm.bcast(array.data.ptr, array.size, self._dtype(array), 0, self.cp.cuda.get_current_stream().ptr)


__all__ = ["DistributedDataParallel", "world"]
