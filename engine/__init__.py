"""engine: a small reverse-mode autograd engine over NumPy (CPU) and CuPy (GPU).

>>> from engine import Tensor
>>> w = Tensor([2.0], requires_grad=True)
>>> (w * 3).sum().backward(); w.grad.item()
3.0
"""

import os

# OpenBLAS's idle threads spin for 2^28 cycles (~0.1 s) after every matmul, holding a core that
# our elementwise threads (engine/parallel.py) need; 2^16 cycles keeps matmuls as fast. Read by
# OpenBLAS when NumPy is first imported, so it only helps where engine is imported before NumPy.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "16")

from engine.amp import autocast
from engine.backend import gpu_available
from engine.draw import draw
from engine.function import Function, enable_grad, is_grad_enabled, name_scope, no_grad
from engine.functional import concatenate, maximum, minimum, pad, stack, where
from engine.gradcheck import GradcheckError, gradcheck, gradcheck_model
from engine.parallel import get_num_threads, set_num_threads
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
__all__ += ["draw", "gradcheck_model", "name_scope"]  # instruments for learners (issue 23)
