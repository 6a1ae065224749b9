"""engine: a small reverse-mode autograd engine over NumPy (CPU) and CuPy (GPU).

>>> from engine import Tensor
>>> w = Tensor([2.0], requires_grad=True)
>>> (w * 3).sum().backward(); w.grad.item()
3.0
"""

from engine.amp import autocast
from engine.backend import gpu_available
from engine.function import Function, enable_grad, is_grad_enabled, no_grad
from engine.functional import concatenate, maximum, minimum, pad, stack, where
from engine.gradcheck import GradcheckError, gradcheck
from engine.ops.optim import adam_
from engine.parallel import get_num_threads, set_num_threads, tune_cpu
from engine.rng import manual_seed
from engine.tensor import Tensor

zeros, ones, full, empty = Tensor.zeros, Tensor.ones, Tensor.full, Tensor.empty
randn, rand, arange = Tensor.randn, Tensor.rand, Tensor.arange
# engine.zeros_like(x) is x.zeros_like(): shape, dtype and device of x.
zeros_like, ones_like, full_like = Tensor.zeros_like, Tensor.ones_like, Tensor.full_like
randn_like, rand_like = Tensor.randn_like, Tensor.rand_like

# torch-named top-level functions (issue 15), one block per op family:
# -- factories, random and reductions --
# -- elementwise and activations --
# -- shape, indexing and linear algebra --

__all__ = [
    "Function", "GradcheckError", "Tensor", "arange", "autocast", "concatenate", "empty", "enable_grad", "full",
    "get_num_threads", "gpu_available", "gradcheck", "is_grad_enabled", "manual_seed", "maximum", "minimum", "no_grad",
    "ones", "pad", "rand", "randn", "set_num_threads", "stack", "where", "zeros", "zeros_like", "ones_like",
    "full_like", "randn_like", "rand_like",
]
# -- kernels and optimizer steps (issue 14) --
__all__ += ["adam_", "tune_cpu"]
