"""torch.backends' flags and availability checks that training scripts set or read, so that lines
such as ``torch.backends.cudnn.benchmark = True`` or ``if torch.backends.mps.is_available(): ...``
port as written. The engine uses neither cuDNN, MPS, MKL-DNN nor OpenMP: those report unavailable,
and the cuDNN flags are remembered without effect. ``cuda.matmul.allow_tf32`` is torch's other
spelling of ``set_float32_matmul_precision`` ("high" when True, "highest" when False).

>>> mps.is_available(), cudnn.benchmark
(False, False)
"""

from __future__ import annotations

from types import SimpleNamespace

from engine import torch_more as _torch_more
from engine.backend import gpu_available

__all__ = ["cuda", "cudnn", "mkldnn", "mps", "openmp"]


def _unavailable() -> bool:
    return False


class _CudnnModule:
    """torch.backends.cudnn: settable flags (no effect: the GPU path is CuPy's, without cuDNN)."""

    def __init__(self):
        self.enabled, self.benchmark, self.deterministic, self.allow_tf32 = True, False, False, True
        self.benchmark_limit = 10

    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def version() -> None:
        return None


class _MatmulFlags:
    """torch.backends.cuda.matmul: ``allow_tf32`` reads and sets the float32 matmul precision."""

    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True

    @property
    def allow_tf32(self) -> bool:
        return _torch_more._matmul_precision[0] != "highest"

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        _torch_more._float32_matmul_precision("high" if value else "highest")


cudnn = _CudnnModule()
cuda = SimpleNamespace(matmul=_MatmulFlags(), is_built=gpu_available)
mps = SimpleNamespace(is_available=_unavailable, is_built=_unavailable)
mkldnn = SimpleNamespace(is_available=_unavailable, enabled=False)
openmp = SimpleNamespace(is_available=_unavailable)
