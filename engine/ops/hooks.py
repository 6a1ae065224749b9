"""GradTap: the identity, whose backward shows the gradient passing through to a callback.
``nn.Module``'s full backward hooks put one on each input and on the output of a module call."""

from __future__ import annotations

from collections.abc import Callable

from engine.function import Function


class GradTap(Function):
    """y = x; backward calls ``on_grad(g)`` with the gradient of y, then passes g on unchanged.

    >>> from engine import Tensor
    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> (GradTap.apply(x, on_grad=lambda g: print(g.tolist())) * 3).sum().backward()
    [3.0, 3.0]
    """

    def forward(self, x, on_grad: Callable | None = None):
        self.on_grad = on_grad
        return x.view()

    def backward(self, g):
        if self.on_grad is not None:
            self.on_grad(g)
        return g
