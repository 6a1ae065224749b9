"""torch.utils.checkpoint's place here (as ``nn.utils.data`` is torch.utils.data's): activation
checkpointing, from engine.checkpoint. A PyTorch script ports by changing the import::

    from nn.utils.checkpoint import checkpoint, checkpoint_sequential

>>> import engine
>>> x = engine.tensor([1.0, 2.0], requires_grad=True)
>>> checkpoint(lambda a: a.exp().sum(), x, use_reentrant=False).backward(); [round(g, 3) for g in x.grad.tolist()]
[2.718, 7.389]
"""

from engine.checkpoint import (  # noqa: F401
    CheckpointError,
    check_backward_validity,
    checkpoint,
    checkpoint_sequential,
    detach_variable,
    noop_context_fn,
)

__all__ = ["CheckpointError", "check_backward_validity", "checkpoint", "checkpoint_sequential", "detach_variable",
           "noop_context_fn"]
