"""Audit: which everyday torch names are missing in engine / engine.Tensor / engine.functional,
and which exist with a different positional signature.

    PYTHONPATH=. python tests/engine/torch_api_audit.py [--verbose]

Dev tooling (torch is imported, so it lives under tests/). It prints, per namespace, the missing
names and the names whose leading positional parameters differ from torch's (first names only,
``self`` dropped); the last line gives the totals.
"""

from __future__ import annotations

import inspect
import sys

import torch
import torch.nn.functional as TF

import engine
import engine.functional as F
from engine import Tensor

# everyday torch.Tensor methods (in-place forms listed separately below)
TENSOR_METHODS = """
abs absolute acos acosh add addbmm addcdiv addcmul addmm addmv addr all allclose amax amin aminmax angle any
arccos arccosh arcsin arcsinh arctan arctan2 arctanh argmax argmin argsort argwhere asin asinh atan atan2 atanh
baddbmm bernoulli bfloat16 bincount bitwise_and bitwise_not bitwise_or bitwise_xor bitwise_left_shift
bitwise_right_shift bmm bool broadcast_to byte ceil char cholesky chunk clamp clamp_max clamp_min clip clone
contiguous copysign cos cosh count_nonzero cpu cross cuda cummax cummin cumprod cumsum deg2rad detach diag
diag_embed diagonal diff digamma dim dist div divide dot double element_size eq equal erf erfc erfinv exp exp2
expand expand_as expm1 flatten flip fliplr flipud float float_power floor floor_divide fmax fmin fmod frac
gather gcd ge greater greater_equal gt half hardshrink heaviside histc hypot index_add index_copy index_fill
index_put index_select inner int inverse is_complex is_contiguous is_floating_point isclose isfinite isinf isnan
isneginf isposinf isreal item kron kthvalue lcm ldexp le lerp less less_equal lgamma log log10 log1p log2
logaddexp logaddexp2 logcumsumexp logdet logical_and logical_not logical_or logical_xor logit logsumexp long lt
masked_fill masked_scatter masked_select matmul matrix_exp matrix_power max maximum mean median min minimum mm
moveaxis movedim msort mul multiply multinomial mv mvlgamma nan_to_num nanmean nanmedian nanquantile nansum
narrow ndimension ne neg negative nelement new_empty new_full new_ones new_tensor new_zeros nextafter nonzero
norm not_equal numel numpy outer permute pinverse polygamma positive pow prod put quantile rad2deg ravel
reciprocal relu remainder renorm repeat repeat_interleave requires_grad_ reshape reshape_as resolve_conj roll
rot90 round rsqrt scatter scatter_add scatter_reduce select sgn short sigmoid sign signbit sin sinc sinh size
slogdet softmax log_softmax sort split sqrt square squeeze std sub subtract sum sum_to_size swapaxes swapdims t
take take_along_dim tan tanh tensor_split tile to tolist topk trace transpose triangular_solve tril triu
true_divide trunc type type_as unbind unflatten unfold unique unique_consecutive unsqueeze var view view_as
vsplit hsplit where xlogy zero_ fill_ uniform_ normal_ clamp_ add_ sub_ mul_ div_ copy_ masked_fill_
index_fill_ scatter_ scatter_add_ exponential_ bernoulli_ random_ geometric_ log_normal_ cauchy_ abs_ neg_
exp_ log_ sqrt_ pow_ relu_ sigmoid_ tanh_ clip_ floor_ ceil_ round_ trunc_ sign_ t_ transpose_ squeeze_
unsqueeze_ fill_diagonal_ index_add_ index_copy_ lerp_ addcmul_ addcdiv_ addmm_ tril_ triu_ masked_scatter_
sin_ cos_ reciprocal_ rsqrt_ square_ erf_ exp2_ expm1_ log1p_ log2_ log10_ sub_ nan_to_num_ clamp_min_
clamp_max_ div_ remainder_ fmod_ requires_grad grad is_leaf backward retain_grad register_hook data shape
dtype device ndim T mT H mH itemsize nbytes
""".split()

# everyday torch.* functions
TORCH_FUNCS = """
tensor as_tensor from_numpy zeros ones full empty zeros_like ones_like full_like empty_like rand randn randint
randperm rand_like randn_like randint_like arange linspace logspace eye manual_seed seed cat concat concatenate
stack hstack vstack dstack column_stack row_stack split chunk unbind tensor_split where gather scatter
scatter_add index_select masked_select take take_along_dim nonzero argwhere flatten reshape squeeze unsqueeze
transpose permute movedim moveaxis swapaxes flip fliplr flipud roll rot90 tile repeat_interleave broadcast_to
broadcast_tensors broadcast_shapes meshgrid cartesian_prod combinations tril triu diag diag_embed diagonal
diagflat trace outer kron cross tensordot block_diag cdist atleast_1d atleast_2d atleast_3d einsum matmul mm
bmm mv dot inner addmm addmv addbmm baddbmm addcmul addcdiv abs sign sqrt exp log sin cos tanh sigmoid clamp
clip maximum minimum pow add sub mul div sum mean prod max min amax amin argmax argmin std var std_mean
var_mean logsumexp cumsum cumprod cummax cummin logcumsumexp sort argsort topk kthvalue msort median
quantile unique unique_consecutive bincount histc searchsorted bucketize count_nonzero allclose isclose
equal isnan isinf isfinite nan_to_num lerp softmax log_softmax norm dist diff numel is_tensor
is_floating_point no_grad enable_grad set_grad_enabled is_grad_enabled get_default_dtype set_default_dtype
normal bernoulli multinomial polar complex clamp_min clamp_max erf erfinv logit xlogy heaviside gcd lcm
frac logaddexp hypot atan2 fmod remainder floor_divide trapezoid cumulative_trapezoid vander tril_indices
triu_indices narrow select index_add index_copy index_fill masked_fill rsqrt square reciprocal
""".split()

LINALG_FUNCS = """
norm vector_norm matrix_norm det inv solve cholesky qr svd svdvals slogdet pinv eigh eigvalsh matrix_rank
cross matmul vecdot diagonal multi_dot lstsq matrix_power matrix_exp inv_ex cholesky_ex solve_triangular lu
lu_factor eig eigvals cond tensorinv tensorsolve householder_product
""".split()


# torch.nn.functional names that are not everyday API (helpers, private-ish, experimental kernels)
F_EXOTIC = {"ScalingType", "SwizzleType", "assert_int_or_pair", "grouped_mm", "scaled_grouped_mm", "scaled_mm",
            "linear_cross_entropy"}


def torch_f_names() -> list[str]:
    return sorted(n for n in dir(TF) if not n.startswith("_") and callable(getattr(TF, n)) and n not in F_EXOTIC
                  and getattr(getattr(TF, n), "__module__", "").startswith("torch.nn.functional")
                  or n in {"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                           "conv_transpose3d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "pixel_shuffle",
                           "pixel_unshuffle", "softplus", "hardtanh", "logsigmoid", "pdist", "bilinear",
                           "softshrink", "hardshrink", "tanhshrink", "threshold", "rrelu", "elu", "selu",
                           "celu", "leaky_relu", "prelu", "relu6", "hardsigmoid", "hardswish", "silu",
                           "mish", "gelu", "glu", "cosine_similarity", "pairwise_distance", "one_hot",
                           "adaptive_avg_pool1d", "adaptive_max_pool1d", "unfold", "fold",
                           "layer_norm", "group_norm", "batch_norm", "instance_norm", "rms_norm"})


def pos_params(fn) -> list[str] | None:
    """The leading positional-or-keyword parameter names, or None when not introspectable."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    out = []
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            out.append(p.name)
        elif p.kind == p.VAR_POSITIONAL:
            out.append("*")
            break
        else:
            break
    if out and out[0] == "self":
        out = out[1:]
    return out


def all_params(fn) -> tuple[set[str], bool] | None:
    """Every parameter name, and whether it takes **kwargs; None when not introspectable."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    names = {p.name for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return names, any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


def compare(ns_name, names, ours, theirs, verbose) -> tuple[list[str], list[str]]:
    missing, differ = [], []
    for n in names:
        if not hasattr(ours, n):
            missing.append(n)
            continue
        if theirs is None or not hasattr(theirs, n):
            continue
        a, b = pos_params(getattr(ours, n)), pos_params(getattr(theirs, n))
        if a is None or b is None or "*" in a or "*" in b:
            continue
        a, b = [x for x in a if x != "out"], [x for x in b if x != "out"]
        k = min(len(a), len(b))
        if a[:k] != b[:k] or len(a) < len(b):
            differ.append(f"{n}: ours {a} torch {b}")
            continue
        pa, pb = all_params(getattr(ours, n)), all_params(getattr(theirs, n))
        if pa and pb and not pa[1]:
            lacking = sorted(pb[0] - pa[0] - {"out", "_stacklevel", "inplace", "sparse", "layout", "pin_memory"})
            if lacking:
                differ.append(f"{n}: keywords torch has and ours lacks: {lacking}")
    print(f"== {ns_name}: {len(missing)} missing of {len(names)}")
    print("  missing:", " ".join(missing))
    if differ:
        print(f"  positional differences ({len(differ)}):")
        for d in differ:
            print("   ", d)
    return missing, differ


def main(verbose: bool = False) -> int:
    fnames = torch_f_names()
    m1, d1 = compare("torch.nn.functional -> engine.functional", fnames, F, TF, verbose)
    m2, _ = compare("torch.Tensor -> engine.Tensor", TENSOR_METHODS, Tensor, None, verbose)
    m3, d3 = compare("torch -> engine", TORCH_FUNCS, engine, torch, verbose)
    linalg = getattr(engine, "linalg", None)
    if linalg is None:
        m4 = LINALG_FUNCS
        print(f"== torch.linalg -> engine.linalg: {len(m4)} missing of {len(LINALG_FUNCS)} (no engine.linalg)")
        d4 = []
    else:
        m4, d4 = compare("torch.linalg -> engine.linalg", LINALG_FUNCS, linalg, torch.linalg, verbose)
    total = len(m1) + len(m2) + len(m3) + len(m4)
    print(f"TOTAL missing {total} (F {len(m1)}, Tensor {len(m2)}, torch {len(m3)}, linalg {len(m4)}); "
          f"positional differences {len(d1) + len(d3) + len(d4)}")
    return total


if __name__ == "__main__":
    main("--verbose" in sys.argv)
