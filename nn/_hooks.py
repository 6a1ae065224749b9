"""Identity ops that let ``Module.register_full_backward_hook`` see gradients (private: not
engine ops, so they are not in the op registry)."""

from __future__ import annotations

from engine.function import Function


class _HookState:
    """One forward call's hook bookkeeping: the input gradients still awaited."""

    def __init__(self, module, hooks, n_inputs: int, waiting: set[int]):
        self.module, self.hooks = module, hooks
        self.grad_input: list = [None] * n_inputs
        self.grad_output = None
        self.waiting = waiting

    def maybe_fire(self) -> None:
        if self.grad_output is not None and not self.waiting:
            for hook in self.hooks:
                res = hook(self.module, tuple(self.grad_input), self.grad_output)
                if res is not None:
                    raise RuntimeError("backward hooks that return new gradients are not supported")


class _BackwardHookInput(Function):
    def forward(self, x, state=None, index=0):
        self.state, self.index = state, index
        return x.view()

    def backward(self, grad):
        from engine.tensor import Tensor

        self.state.grad_input[self.index] = Tensor(grad)
        self.state.waiting.discard(self.index)
        self.state.maybe_fire()
        return grad


class _BackwardHookOutput(Function):
    def forward(self, x, state=None):
        self.state = state
        return x.view()

    def backward(self, grad):
        from engine.tensor import Tensor

        self.state.grad_output = (Tensor(grad),)
        self.state.maybe_fire()
        return grad
