"""Bad input to the convolution, pooling and resampling ops: torch's exception type, and a
message that names the op and the shapes involved."""

from __future__ import annotations

import numpy as np
import pytest

import engine.functional as F
from engine import Tensor


def t(*shape):
    return Tensor(np.zeros(shape, dtype=np.float32))


CASES = [
    # (call, exception type, fragments the message must contain)
    (lambda: F.conv2d(t(1, 4, 5, 5), t(2, 3, 3, 3)), RuntimeError, ["conv2d", "[2, 3, 3, 3]", "[1, 4, 5, 5]",
                                                                   "3 channels"]),
    (lambda: F.conv2d(t(1, 4, 5, 5), t(3, 2, 3, 3), groups=2), RuntimeError, ["conv2d", "groups=2",
                                                                              "[3, 2, 3, 3]"]),
    (lambda: F.conv2d(t(1, 3, 5, 5), t(3, 1, 3, 3), groups=2), RuntimeError, ["conv2d", "divisible by 2"]),
    (lambda: F.conv2d(t(1, 3, 2, 2), t(2, 3, 3, 3)), RuntimeError, ["conv2d", "(2 x 2)", "(3 x 3)",
                                                                   "Kernel size can't be greater"]),
    (lambda: F.conv1d(t(1, 3, 5), t(2, 3, 3), dilation=3), RuntimeError, ["conv1d", "(5)", "(7)"]),
    (lambda: F.conv2d(t(3, 5, 5, 5, 1), t(2, 3, 3, 3)), RuntimeError, ["conv2d", "3D (unbatched) or 4D",
                                                                      "[3, 5, 5, 5, 1]"]),
    (lambda: F.conv2d(t(5, 5), t(2, 3, 3, 3)), RuntimeError, ["conv2d", "[5, 5]"]),
    (lambda: F.conv2d(t(1, 3, 5, 5), t(2, 3, 3)), RuntimeError, ["conv2d", "weight", "[2, 3, 3]"]),
    (lambda: F.conv2d(t(1, 3, 5, 5), t(2, 3, 3, 3), t(3)), RuntimeError, ["conv2d", "bias", "[3]"]),
    (lambda: F.conv2d(t(1, 3, 5, 5), t(2, 3, 3, 3), stride=0), RuntimeError, ["conv2d", "stride"]),
    (lambda: F.conv2d(t(1, 3, 5, 5), t(2, 3, 3, 3), dilation=0), RuntimeError, ["conv2d", "dilation"]),
    (lambda: F.conv2d(t(1, 3, 5, 5), t(2, 3, 3, 3), groups=0), RuntimeError, ["conv2d", "groups"]),
    (lambda: F.conv2d(t(1, 3, 5, 5), t(2, 3, 3, 3), padding=-1), RuntimeError, ["conv2d", "negative padding"]),
    (lambda: F.conv2d(t(1, 3, 5, 5), t(2, 3, 3, 3), padding="foo"), RuntimeError, ["conv2d", "'foo'"]),
    (lambda: F.conv2d(t(1, 3, 5, 5), t(2, 3, 3, 3), padding="same", stride=2), RuntimeError,
     ["conv2d", "strided"]),
    (lambda: F.conv2d(t(1, 3, 5, 5), t(2, 3, 3, 3), stride=(1, 1, 1)), RuntimeError, ["conv2d", "stride"]),
    (lambda: F.conv2d(np.zeros((1, 3, 5, 5)), t(2, 3, 3, 3)), TypeError, ["conv2d", "Tensor"]),
    (lambda: F.conv_transpose2d(t(1, 4, 5, 5), t(3, 2, 3, 3)), RuntimeError, ["conv_transpose2d", "[3, 2, 3, 3]",
                                                                             "[1, 4, 5, 5]"]),
    (lambda: F.conv_transpose2d(t(1, 3, 5, 5), t(3, 2, 3, 3), output_padding=1), RuntimeError,
     ["conv_transpose2d", "output padding must be smaller"]),
    (lambda: F.conv_transpose2d(t(1, 3, 1, 1), t(3, 2, 1, 1), padding=1), RuntimeError,
     ["conv_transpose2d", "(1 x 1)", "(-1 x -1)", "too small"]),
    (lambda: F.conv_transpose1d(t(1, 3, 4), t(3, 1, 2), groups=2), RuntimeError, ["conv_transpose1d",
                                                                                 "groups=2"]),
    (lambda: F.max_pool2d(t(1, 3, 2, 2), 3), RuntimeError, ["max_pool2d", "(3x2x2)", "(3x0x0)", "too small"]),
    (lambda: F.max_pool2d(t(1, 3, 5, 5), 3, padding=2), RuntimeError, ["max_pool2d", "pad=2", "kernel_size=3"]),
    (lambda: F.max_pool2d(t(3, 5, 5, 5, 1), 3), RuntimeError, ["max_pool2d", "[3, 5, 5, 5, 1]"]),
    (lambda: F.max_pool1d(t(1, 3, 5), 2, stride=0), RuntimeError, ["max_pool1d", "stride"]),
    (lambda: F.avg_pool2d(t(1, 3, 2, 2), 3), RuntimeError, ["avg_pool2d", "(3x2x2)", "too small"]),
    (lambda: F.avg_pool2d(t(1, 3, 5, 5), 3, padding=2), RuntimeError, ["avg_pool2d", "pad=2"]),
    (lambda: F.avg_pool2d(t(1, 3, 5, 5), 3, divisor_override=0), RuntimeError, ["avg_pool2d", "divisor"]),
    (lambda: F.max_unpool2d(t(1, 3, 2, 2), np.full((1, 3, 2, 2), 100), 2), RuntimeError,
     ["max_unpool2d", "invalid max index: 100", "4x4"]),
    (lambda: F.max_unpool2d(t(1, 3, 2, 2), np.zeros((1, 3, 2)), 2), RuntimeError, ["max_unpool2d", "[1, 3, 2, 2]"]),
    (lambda: F.adaptive_max_pool2d(t(1, 3, 5, 5), (2, -1)), RuntimeError, ["adaptive_max_pool2d", "[2, -1]"]),
    (lambda: F.unfold(t(1, 3, 5, 5), 6), RuntimeError, ["unfold", "(5, 5)", "(6, 6)"]),
    (lambda: F.fold(t(1, 12, 5), (4, 4), 2), RuntimeError, ["fold", "[1, 12, 5]", "3 * 3 = 9"]),
    (lambda: F.fold(t(1, 10, 9), (4, 4), 2), RuntimeError, ["fold", "[1, 10, 9]", "divisible"]),
    (lambda: F.interpolate(t(1, 3, 5, 5), size=4, mode="linear"), NotImplementedError, ["4D", "linear"]),
    (lambda: F.interpolate(t(1, 3, 5, 5), size=4, align_corners=True), ValueError, ["align_corners"]),
    (lambda: F.interpolate(t(1, 3, 5, 5), size=4, scale_factor=2.0), ValueError, ["only one of size"]),
    (lambda: F.interpolate(t(1, 3, 5, 5)), ValueError, ["either size or scale_factor"]),
    (lambda: F.interpolate(t(1, 3, 5, 5), size=4, mode="foo"), NotImplementedError, ["'foo'"]),
    (lambda: F.interpolate(t(1, 3, 5, 5), size=0), RuntimeError, ["(5, 5)", "(0, 0)"]),
    (lambda: F.interpolate(t(3, 5), size=4), NotImplementedError, ["2D"]),
    (lambda: F.pixel_shuffle(t(1, 3, 5, 5), 2), RuntimeError, ["pixel_shuffle", "input.size(-3)=3", "4"]),
    (lambda: F.pixel_unshuffle(t(1, 3, 5, 4), 2), RuntimeError, ["pixel_unshuffle", "input.size(-2)=5"]),
    (lambda: F.pixel_shuffle(t(4, 5), 2), RuntimeError, ["pixel_shuffle", "3 dimensions"]),
]


@pytest.mark.parametrize("i", range(len(CASES)))
def test_bad_input_raises_a_clear_error(i):
    call, exc, fragments = CASES[i]
    with pytest.raises(exc) as info:
        call()
    msg = str(info.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"


def test_max_pool_with_indices_outside_the_graph():
    """return_indices works under no_grad and for inputs that need no gradient (no graph node)."""
    import engine

    x = Tensor(np.arange(16.0, dtype=np.float32).reshape(1, 1, 4, 4))
    with engine.no_grad():
        y, i = F.max_pool2d(x, 2, return_indices=True)
    assert i.dtype == np.int64
    assert i.numpy().ravel().tolist() == [5, 7, 13, 15]
    y2, i2 = F.adaptive_max_pool2d(x, 2, return_indices=True)
    assert i2.numpy().ravel().tolist() == [5, 7, 13, 15]
