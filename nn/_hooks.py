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
        """The callback for input ``index``'s tap: the hooks fire at the last input gradient to arrive,
        and what they return for that input replaces its gradient."""

        def on_grad(g):
            self.grad_input[index] = _tensor(g)
            self.waiting.discard(index)
            if self.grad_output is None or self.waiting:
                return None
            replaced = self.fire()
            for i, (old, new) in enumerate(zip(self.grad_input, replaced)):
                if i != index and new is not old:
                    raise RuntimeError(f"backward hook of {type(self.module).__name__}: it replaced the gradient of "
                                       f"input {i}, which had already flowed on (only the last input's gradient, "
                                       "e.g. a one-input layer's, can be replaced here)")
            new = replaced[index]
            if new is None or new is self.grad_input[index]:
                return None
            return new if isinstance(g, Tensor) else _array(new)

        return on_grad

    def output_grad(self, g) -> None:
        self.grad_output = (_tensor(g),)
        if not self.waiting:  # no input needs a gradient: the hooks see grad_input of Nones now
            self.fire()

    def fire(self) -> tuple:
        """Run the hooks in order; a hook that returns a tuple replaces grad_input for the next (torch)."""
        grad_input = tuple(self.grad_input)
        for hook in self.hooks:
            res = hook(self.module, grad_input, self.grad_output)
            if res is not None:
                res = tuple(res) if isinstance(res, (tuple, list)) else (res,)
                if len(res) != len(grad_input):
                    raise RuntimeError(f"backward hook of {type(self.module).__name__} returned {len(res)} "
                                       f"gradients for {len(grad_input)} inputs")
                grad_input = res
        return grad_input


def _tensor(g) -> Tensor:
    """The gradient the hooks see: an array (the array sweep) wrapped, or a create_graph sweep's Tensor
    as it is, so that what a hook computes from it stays in the graph (torch's hooks see graph tensors)."""
    return g if isinstance(g, Tensor) else Tensor(g)


def _array(t):
    return t._data if isinstance(t, Tensor) else t
