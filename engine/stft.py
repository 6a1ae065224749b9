"""torch.stft and torch.istft, composed from engine ops (pad, unfold, multiply, slicing) and engine.fft's
``FFT`` op, so their gradients (input and window) come from those ops' backward.

>>> import engine
>>> engine.stft(engine.ones(16), 8, return_complex=True).shape
(5, 9)
"""

from __future__ import annotations

import warnings

import numpy as np

from engine.dtypes import scalar_type_name
from engine.fft import _COMPLEX, FFT
from engine.function import Function
from engine.tensor import Tensor

__all__ = ["istft", "stft"]

_RC_FALSE = ("stft with return_complex=False is deprecated. In a future pytorch release, stft will return complex "
             "tensors for all inputs, and return_complex=False will raise an error.\nNote: you can still call "
             "torch.view_as_real on the complex output to recover the old return format.")


class _OverlapAdd(Function):
    """Frames (B, T, n) summed into a signal (B, length) at hops of ``hop`` (torch's unfold_backward)."""

    conj_grad = False  # linear with real coefficients: no conjugation needed

    def forward(self, frames, hop=1, length=0):
        b, t, n = frames.shape
        self.hop, self.t, self.n = hop, t, n
        out = self.xp.zeros((b, length), dtype=frames.dtype)
        for i in range(t):
            out[:, i * hop:i * hop + n] += frames[:, i]
        return out

    def backward(self, g):
        xp = self.xp
        index = xp.arange(self.t)[:, None] * self.hop + xp.arange(self.n)
        return g[:, index]


def _opt(v) -> str:
    return "None" if v is None else str(int(v))


def _window_repr(window) -> str:
    if window is None:
        return "None"
    return f"torch.{scalar_type_name(window.dtype)}Tensor{{{list(window.shape)}}}"


def _complex_dtype(t: Tensor) -> np.dtype:
    return t.dtype if t.dtype.kind == "c" else _COMPLEX[t.dtype]


def stft(input: Tensor, n_fft: int, hop_length: int | None = None, win_length: int | None = None,  # noqa: A002
         window: Tensor | None = None, center: bool = True, pad_mode: str = "reflect", normalized: bool = False,
         onesided: bool | None = None, return_complex: bool | None = None,
         align_to_window: bool | None = None) -> Tensor:
    """Short-time Fourier transform (torch.stft): (n_fft // 2 + 1, frames) per signal (or n_fft rows when
    two-sided), frames ``hop_length`` apart, each multiplied by ``window`` (zero-padded to n_fft, centred).

    >>> import engine
    >>> engine.stft(engine.ones(2, 16), 8, hop_length=4, return_complex=True).shape
    (2, 5, 5)
    """
    from engine import functional as F  # noqa: N812

    if center and align_to_window is not None:
        raise RuntimeError("stft align_to_window should only be set when center = false")
    x = input
    if center:
        signal_dim = x.ndim
        pad = int(n_fft // 2)
        x = F.pad(x.reshape([1] * (3 - signal_dim) + list(x.shape)), [pad, pad], pad_mode)
        x = x.reshape(x.shape[-signal_dim:])
    hop = n_fft // 4 if hop_length is None else hop_length
    win = n_fft if win_length is None else win_length
    complex_default = x.dtype.kind == "c" or (window is not None and window.dtype.kind == "c")
    rc = complex_default if return_complex is None else return_complex
    if not rc:
        if return_complex is None:
            raise RuntimeError("stft requires the return_complex parameter be given for real inputs, and will further "
                               "require that return_complex=True in a future PyTorch release.")
        warnings.warn(_RC_FALSE, UserWarning, stacklevel=2)
    where = (f"stft(torch.{scalar_type_name(x.dtype)}Tensor{list(x.shape)}, n_fft={n_fft}, "
             f"hop_length={hop}, win_length={win}, window={_window_repr(window)}, normalized={int(normalized)}, "
             f"onesided={_opt(onesided)}, return_complex={_opt(return_complex)}, "
             f"align_to_window={_opt(align_to_window)}) ")
    if x.dtype.kind not in "fc":
        raise RuntimeError(where + ": expected a tensor of floating point or complex values")
    if x.ndim not in (1, 2):
        raise RuntimeError(where + ": expected a 1D or 2D tensor")
    batched = x if x.ndim == 2 else x.unsqueeze(0)
    length = batched.shape[1]
    if n_fft <= 0 or n_fft > length:
        raise RuntimeError(where + f": expected 0 < n_fft < {length}, but got n_fft={win}")  # torch prints win_length
    if hop <= 0:
        raise RuntimeError(where + f": expected hop_length > 0, but got hop_length={hop}")
    if win <= 0 or win > n_fft:
        raise RuntimeError(where + f": expected 0 < win_length <= n_fft, but got win_length={win}")
    if window is not None and (window.ndim != 1 or window.shape[0] != win):
        raise RuntimeError(where + f": expected a 1D window tensor of size equal to win_length={win}, but got window "
                           f"with size {list(window.shape)}")
    left = (n_fft - win) // 2
    win_ = window
    if win < n_fft:
        if window is not None:
            win_ = F.pad(window, [left, n_fft - win - left])
        else:
            ones = np.zeros(n_fft, dtype=x.dtype)
            ones[left:left + win] = 1
            win_ = Tensor(ones).to(x.device)
        if align_to_window:  # frames start where the window's non-zero part does
            batched = F.pad(batched, [left, n_fft - win - left])
    frames = batched.unfold(1, n_fft, hop)  # (batch, n_frames, n_fft)
    if win_ is not None:
        frames = frames * win_
    complex_fft = frames.dtype.kind == "c"
    sided = (not complex_fft) if onesided is None else onesided
    mode = "sqrt" if normalized else "none"
    if complex_fft:
        if sided:
            raise RuntimeError("Cannot have onesided output if window or input is complex")
        step = ("c2c", (1,), mode, True)
    else:
        step = ("r2c", (1,), mode, sided)
    # transformed along dim 1 of (batch, n_fft, n_frames): torch's layout, and real in and out when not rc
    steps = (step,) if rc else (step, ("as_real",))
    out = FFT.apply(frames.transpose(1, 2), steps=steps, cdtype=_complex_dtype(frames))
    return out.squeeze(0) if x.ndim == 1 else out


def istft(input: Tensor, n_fft: int, hop_length: int | None = None, win_length: int | None = None,  # noqa: A002
          window: Tensor | None = None, center: bool = True, normalized: bool = False, onesided: bool | None = None,
          length: int | None = None, return_complex: bool = False) -> Tensor:
    """Inverse short-time Fourier transform (torch.istft): overlap-add of the inverse transforms of the
    frames, divided by the window's squared envelope.

    >>> import engine
    >>> x = engine.arange(16.0)
    >>> y = engine.istft(engine.stft(x, 8, return_complex=True), 8, length=16)
    >>> bool((y - x).abs().max() < 1e-4)
    True
    """
    from engine import functional as F  # noqa: N812

    hop = n_fft >> 2 if hop_length is None else hop_length
    win = n_fft if win_length is None else win_length
    if input.dtype.kind != "c":
        raise RuntimeError("istft requires a complex-valued input tensor matching the output from stft with "
                           "return_complex=True.")
    real_dim = input.ndim + 1  # torch works on view_as_real(input)
    if real_dim < 3:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-real_dim}, {real_dim - 1}], "
                         "but got -3)")
    n_frames, fft_size = input.shape[-1], input.shape[-2]
    expected = n_fft + hop * (n_frames - 1)
    where = (f"istft(CPU{scalar_type_name(input.dtype)}Type{list(input.shape)}, n_fft={n_fft}, "
             f"hop_length={hop}, win_length={win}, window={_window_repr(window)}, center={int(center)}, "
             f"normalized={int(normalized)}, onesided={_opt(onesided)}, length={_opt(length)}, "
             f"return_complex={int(return_complex)}) ")
    if input.numel() == 0:
        raise RuntimeError(where + ": input tensor cannot be empty.")
    if real_dim not in (3, 4):
        raise RuntimeError(where + f": expected a tensor with three or four dimensions of real values, but got "
                           f"{real_dim}")
    sided = fft_size != n_fft if onesided is None else onesided
    if sided and n_fft // 2 + 1 != fft_size:
        raise RuntimeError(where + ": expected the frequency dimension (3rd to the last) of the input tensor to "
                           f"match n_fft / 2 + 1 when onesided=True, but got {fft_size}")
    if not sided and n_fft != fft_size:
        raise RuntimeError(where + ": expected the frequency dimension (3rd to the last) of the input tensor to "
                           f"match n_fft when onesided=False, but got {fft_size}")
    if not 0 < hop <= win:
        raise RuntimeError(where + ": expected 0 < hop_length <= win_length")
    if not 0 < win <= n_fft:
        raise RuntimeError(where + ": expected 0 < win_length <= n_fft")
    if window is not None and (window.ndim != 1 or window.shape[0] != win):
        raise RuntimeError(where + ": Invalid window shape. window has to be 1D and length of `win_length`")
    cdtype = input.dtype
    rdtype = np.dtype(cdtype.char.lower())
    window_ = window if window is not None else Tensor(np.ones(win, dtype=rdtype)).to(input.device)
    if win != n_fft:
        left = (n_fft - win) // 2
        window_ = F.pad(window_, [left, n_fft - win - left])
    x = (input if input.ndim == 3 else input.unsqueeze(0)).transpose(1, 2)  # (channel, n_frames, fft_size)
    mode = "sqrt" if normalized else "n"
    if return_complex:
        if sided:
            raise RuntimeError("Cannot have onesided output if window or input is complex")
        frames = FFT.apply(x, steps=(("c2c", (2,), mode, False),), cdtype=cdtype)
    else:
        if window is not None and window.dtype.kind == "c":
            raise RuntimeError("Complex windows are incompatible with return_complex=False")
        if not sided:
            x = x[:, :, :n_fft // 2 + 1]
        frames = FFT.apply(x, steps=(("c2r", (2,), mode, n_fft),), cdtype=cdtype)
    y = _OverlapAdd.apply(frames * window_.reshape(1, 1, n_fft), hop=hop, length=expected)
    envelope = _OverlapAdd.apply((window_ * window_).reshape(1, 1, n_fft).expand(1, n_frames, n_fft), hop=hop,
                                 length=expected)
    start = n_fft // 2 if center else 0
    end = start + length if length is not None else -(n_fft // 2) if center else expected
    y, envelope = y[:, start:end], envelope[:, start:end]
    if bool((envelope.abs().min() < 1e-11).item()):
        raise RuntimeError(where + "window overlap add min: 1\n[ CPUBoolType{} ]")
    y = y / envelope
    if input.ndim == 2:
        y = y.squeeze(0)
    if end > expected:
        warnings.warn("The length of signal is shorter than the length parameter. Result is being padded with zeros "
                      "in the tail. Please check your center and hop_length settings.", UserWarning, stacklevel=2)
        y = F.pad(y, [0, end - expected])
    return y


def _stft_method(self: Tensor, *args, **kwargs) -> Tensor:
    """Tensor.stft: :func:`stft` with this tensor as input."""
    return stft(self, *args, **kwargs)


def _istft_method(self: Tensor, *args, **kwargs) -> Tensor:
    """Tensor.istft: :func:`istft` with this tensor as input."""
    return istft(self, *args, **kwargs)


Tensor.stft = _stft_method
Tensor.istft = _istft_method
