"""What ``Module.register_full_backward_hook`` keeps per module call. The gradients arrive through
engine's ``GradTap`` (an identity op whose backward calls back) on each input and on the output."""

from __future__ import annotations

from engine import Tensor


class _HookState:
    """One forward call's hook bookkeeping: the input gradients still awaited."""

    def __init__(self, module, hooks, n_inputs: int, waiting: set[int]):
        self.module, self.hooks = module, hooks
        self.grad_input: list = [None] * n_inputs
        self.grad_output = None
        self.waiting = waiting

    def input_grad(self, index: int):
        """The callback for input ``index``'s tap."""

        def on_grad(g) -> None:
            self.grad_input[index] = Tensor(g)
            self.waiting.discard(index)
            self.maybe_fire()

        return on_grad

    def output_grad(self, g) -> None:
        self.grad_output = (Tensor(g),)
        self.maybe_fire()

    def maybe_fire(self) -> None:
        if self.grad_output is not None and not self.waiting:
            for hook in self.hooks:
                res = hook(self.module, tuple(self.grad_input), self.grad_output)
                if res is not None:
                    raise RuntimeError("backward hooks that return new gradients are not supported")
