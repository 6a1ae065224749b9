"""GradTap: the identity, whose backward shows the gradient passing through to a callback, which may
replace it. ``nn.Module``'s full backward hooks put one on each input and on the output of a module call."""

from __future__ import annotations

from collections.abc import Callable

from engine.function import Function


class GradTap(Function):
    """y = x; backward calls ``on_grad(g)`` with the gradient of y and passes g on, or what ``on_grad``
    returned in its place (an array of g's shape; None keeps g).

    >>> from engine import Tensor
    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> (GradTap.apply(x, on_grad=lambda g: print(g.tolist())) * 3).sum().backward()
    [3.0, 3.0]
    """

    conj_grad = False  # the callback sees and gives gradients in torch's convention

    def forward(self, x, on_grad: Callable | None = None):
        self.on_grad = on_grad
        return x.view()

    def backward(self, g):
        replaced = self.on_grad(g) if self.on_grad is not None else None
        if replaced is None:
            return g
        if tuple(replaced.shape) != tuple(g.shape):
            raise RuntimeError(f"GradTap: a hook returned a gradient of shape {tuple(replaced.shape)} "
                               f"for one of shape {tuple(g.shape)}")
        return replaced.astype(g.dtype, copy=False)
