"""torch's top-level elementwise functions (``engine.abs``, ``engine.atan2``, ``engine.eq``, ...).

Each is its Tensor method called on ``input``: ``engine.atan2(y, x)`` is ``y.atan2(x)``. Where torch
accepts a number first (``torch.pow(2, t)``, ``torch.add``, ``torch.sub``, ``torch.div``,
``torch.remainder``, ``torch.bitwise_*``), so do these.

>>> import engine
>>> engine.pow(2, engine.Tensor([1.0, 3.0])).tolist()
[2.0, 8.0]
"""

from __future__ import annotations

from collections.abc import Callable

from engine.tensor import Tensor

_NUMBER_FIRST = {"add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide", "pow",
                 "remainder", "float_power", "bitwise_and", "bitwise_or", "bitwise_xor",
                 "bitwise_left_shift", "bitwise_right_shift"}
# these take two numbers too (torch.add(-8, 6) is tensor(-2)): the first becomes a 0-d tensor of its default dtype
_TWO_NUMBERS = {"add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide"}
_NUMBER = (bool, int, float, complex)

# torch refuses a number as the second operand of these (torch.atan2(t, 2) is a TypeError): its name
_TENSOR_SECOND = {"atan2": "other", "arctan2": "other", "hypot": "other", "logaddexp": "other",
                  "logaddexp2": "other", "fmax": "other", "fmin": "other", "lerp": "end", "isclose": "other",
                  "allclose": "other", "equal": "other", "logical_and": "other", "logical_or": "other",
                  "logical_xor": "other"}

_UNARY = [
    "abs", "absolute", "neg", "negative", "sign", "sgn", "floor", "ceil", "round", "trunc", "fix", "frac",
    "sqrt", "rsqrt", "square", "reciprocal", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
    "erf", "erfc", "erfinv", "sin", "cos", "tan", "asin", "acos", "atan", "arcsin", "arccos", "arctan",
    "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "arcsinh", "arccosh", "arctanh", "sigmoid", "relu",
    "clamp", "clip", "clamp_min", "clamp_max", "nan_to_num", "isnan", "isinf", "isfinite", "isposinf",
    "isneginf", "logical_not", "bitwise_not", "softmax", "log_softmax", "hardshrink",
]
_BINARY = [
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide", "remainder",
    "fmod", "pow", "float_power", "atan2", "arctan2", "hypot", "logaddexp", "logaddexp2", "copysign", "fmax",
    "fmin", "lerp", "eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal",
    "not_equal", "isclose", "allclose", "equal", "logical_and", "logical_or", "logical_xor", "bitwise_and",
    "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift",
]


def _function(name: str) -> Callable[..., Tensor]:
    method = getattr(Tensor, name)

    def fn(input: Tensor, *args, **kwargs) -> Tensor:  # noqa: A002
        if not isinstance(input, Tensor):
            other = args[0] if args else None
            if name in _NUMBER_FIRST and isinstance(other, Tensor) and isinstance(input, _NUMBER):
                # torch.pow(2, t): the number as a 0-d tensor; a complex one in the result's complex dtype
                input = other._operands(input)[1] if isinstance(input, complex) else other._coerce(input)  # noqa: A001
            elif name in _TWO_NUMBERS and isinstance(input, _NUMBER) and isinstance(other, _NUMBER):
                from engine.factories import tensor

                input = tensor(input)  # noqa: A001
            else:
                raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
        if name in _TENSOR_SECOND:
            second = args[0] if args else kwargs.get(_TENSOR_SECOND[name])
            if not isinstance(second, Tensor):
                raise TypeError(f"{name}(): argument '{_TENSOR_SECOND[name]}' (position 2) must be Tensor, not "
                                f"{type(second).__name__}")
        return method(input, *args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = "engine"
    fn.__doc__ = f"torch.{name}: ``input.{name}(...)``, see ``Tensor.{name}``."
    return fn


__all__ = _UNARY + _BINARY
for _name in __all__:
    globals()[_name] = _function(_name)

# torch.selu, torch.celu, ...: the torch.nn.functional activations torch also has at the top level.
from engine import functional as _F  # noqa: E402

celu, selu, prelu, rrelu, threshold = _F.celu, _F.selu, _F.prelu, _F.rrelu, _F.threshold
__all__ += ["celu", "selu", "prelu", "rrelu", "threshold"]
