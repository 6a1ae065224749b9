"""Lazy modules as torch's: LazyConv1d/2d/3d, LazyConvTranspose1d/2d/3d, LazyBatchNorm1d/2d/3d and
LazyInstanceNorm1d/2d/3d. Each is built with 0 input channels and ``UninitializedParameter`` /
``UninitializedBuffer`` slots; the first forward (or a ``load_state_dict``, from the checkpoint's
shapes) reads the channel count, makes and initializes the tensors, and the module becomes its
``cls_to_become`` (Conv2d, BatchNorm2d, ...). Build the optimizer after that.

>>> from engine import Tensor
>>> m = LazyConv2d(4, 3); y = m(Tensor.randn(2, 5, 8, 8)); type(m).__name__, m.weight.shape
('Conv2d', (4, 5, 3, 3))
"""

from __future__ import annotations

import numpy as np

from engine import Tensor, no_grad
from nn.conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from nn.module import UninitializedBuffer, UninitializedParameter
from nn.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
)


class _LazyMixin:
    """First forward: ``_in_size(input)`` gives the channel count, ``_materialize`` the shapes, then
    the non-lazy ``reset_parameters`` and the class switch."""

    cls_to_become: type = None

    def _lazy_setup(self) -> None:
        self._lazy_hook = self.register_load_state_dict_pre_hook(_LazyMixin._materialize_from_checkpoint)

    def has_uninitialized_params(self) -> bool:
        """True while a parameter or buffer is still uninitialized (torch's)."""
        slots = list(self._parameters_dict().values()) + list(self._buffers.values())
        return any(isinstance(t, (UninitializedParameter, UninitializedBuffer)) for t in slots)

    def _parameters_dict(self) -> dict:
        return {n: getattr(self, n) for n in self.__dict__.get("_parameter_names", ())}

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self._channels() != 0:
            self.cls_to_become.reset_parameters(self)

    def initialize_parameters(self, input: Tensor) -> None:
        """Shapes from ``input``, then the non-lazy initialization; the module becomes ``cls_to_become``."""
        if self.has_uninitialized_params():
            with no_grad():
                self._materialize(self._in_size(input))
                self.reset_parameters()
        self._become()

    def forward(self, input: Tensor, *args, **kwargs):
        self.initialize_parameters(input)
        return self.forward(input, *args, **kwargs)  # cls_to_become's

    def _become(self) -> None:
        self._lazy_hook.remove()
        del self._lazy_hook
        self.__class__ = self.cls_to_become

    @staticmethod
    def _materialize_from_checkpoint(module, state_dict, prefix, *args) -> None:
        """load_state_dict into a module not yet run: the checkpoint's shapes give the channel count."""
        if not isinstance(module, _LazyMixin) or not module.has_uninitialized_params():
            return
        weight = state_dict.get(prefix + module._shape_key())
        if weight is not None:
            shape = np.shape(weight._data if isinstance(weight, Tensor) else weight)
            module._materialize(module._size_from_checkpoint(shape))
            module._become()


class _LazyConvMixin(_LazyMixin):
    def _channels(self) -> int:
        return self.in_channels

    def _in_size(self, input: Tensor) -> int:
        nd = self._nd
        if input.ndim not in (nd + 1, nd + 2):
            raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to "
                               f"{type(self).__name__}, but got input of size: {input.shape}")
        return input.shape[1] if input.ndim == nd + 2 else input.shape[0]

    def _materialize(self, in_channels: int) -> None:
        if in_channels % self.groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        self.in_channels = int(in_channels)
        g = self.groups
        shape = ((self.in_channels, self.out_channels // g) if self.transposed
                 else (self.out_channels, self.in_channels // g)) + self.kernel_size
        self.weight.materialize(shape)
        if self.bias is not None:
            self.bias.materialize((self.out_channels,))

    def _shape_key(self) -> str:
        return "weight"

    def _size_from_checkpoint(self, shape) -> int:
        return shape[0] if self.transposed else shape[1] * self.groups


def _lazy_conv(base: type, transposed: bool) -> type:
    """The Lazy class of ``base`` (Conv2d, ConvTranspose2d, ...): torch's constructor without in_channels."""
    if transposed:
        def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0, groups: int = 1,
                     bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None, dtype=None):
            base.__init__(self, 0, 0, kernel_size, stride, padding, output_padding, groups, False, dilation,
                          padding_mode, device, dtype)
            self._lazy_params(out_channels, bias, device, dtype)
    else:
        def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, dilation=1, groups: int = 1,
                     bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
            base.__init__(self, 0, 0, kernel_size, stride, padding, dilation, groups, False, padding_mode,
                          device, dtype)
            self._lazy_params(out_channels, bias, device, dtype)

    def _lazy_params(self, out_channels, bias, device, dtype):
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)
        self._lazy_setup()

    name = "Lazy" + base.__name__
    doc = (f"torch.nn.{name}: a {base.__name__} whose ``in_channels`` comes from its first input "
           f"(input.shape[1], or shape[0] unbatched); it becomes a {base.__name__} then.")
    return type(name, (_LazyConvMixin, base), {"__init__": __init__, "_lazy_params": _lazy_params,
                                                "cls_to_become": base, "__doc__": doc, "__module__": __name__})


LazyConv1d = _lazy_conv(Conv1d, False)
LazyConv2d = _lazy_conv(Conv2d, False)
LazyConv3d = _lazy_conv(Conv3d, False)
LazyConvTranspose1d = _lazy_conv(ConvTranspose1d, True)
LazyConvTranspose2d = _lazy_conv(ConvTranspose2d, True)
LazyConvTranspose3d = _lazy_conv(ConvTranspose3d, True)


class _LazyNormMixin(_LazyMixin):
    def _channels(self) -> int:
        return self.num_features

    def _in_size(self, input: Tensor) -> int:
        if input.ndim < 2:  # the non-lazy forward's own error
            self._check_input_dim(input)
        return input.shape[1]  # torch's, unbatched InstanceNorm input included

    def _materialize(self, num_features: int) -> None:
        self.num_features = int(num_features)
        for t in (self.weight, self.bias, self.running_mean, self.running_var):
            if t is not None:
                t.materialize((self.num_features,))

    def _shape_key(self) -> str:
        return "weight" if self.affine else "running_mean"

    def _size_from_checkpoint(self, shape) -> int:
        return shape[0]


def _lazy_norm(base: type) -> type:
    """The Lazy class of ``base`` (BatchNorm2d, InstanceNorm2d, ...): torch's constructor without
    num_features, with torch's defaults affine=True, track_running_stats=True for all of them."""

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        base.__init__(self, 0, eps, momentum, False, False, device, dtype, bias=False)
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = UninitializedParameter(device=device, dtype=dtype)
            if bias:
                self.bias = UninitializedParameter(device=device, dtype=dtype)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(device=device, dtype=dtype)
            self.running_var = UninitializedBuffer(device=device, dtype=dtype)
            self.num_batches_tracked = Tensor.zeros((), dtype="int64", device=device or "cpu")
        self._lazy_setup()

    name = "Lazy" + base.__name__
    doc = (f"torch.nn.{name}: a {base.__name__} whose ``num_features`` comes from its first input "
           f"(input.shape[1]); it becomes a {base.__name__} then.")
    return type(name, (_LazyNormMixin, base), {"__init__": __init__, "cls_to_become": base, "__doc__": doc,
                                                "__module__": __name__})


LazyBatchNorm1d = _lazy_norm(BatchNorm1d)
LazyBatchNorm2d = _lazy_norm(BatchNorm2d)
LazyBatchNorm3d = _lazy_norm(BatchNorm3d)
LazyInstanceNorm1d = _lazy_norm(InstanceNorm1d)
LazyInstanceNorm2d = _lazy_norm(InstanceNorm2d)
LazyInstanceNorm3d = _lazy_norm(InstanceNorm3d)
