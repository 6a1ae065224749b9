"""Differential sweep against torch's OpInfo database: every operator description torch ships
(``torch.testing._internal.common_methods_invocations.op_db``, ~700 entries) run on its own sample
inputs through torch and through ours, outputs and float64 gradients compared.

    PYTHONPATH=. python tests/engine/opinfo_sweep.py [--ops NAME,...] [--dtypes float64,float32,int64,bool]
                                                     [--json OUT] [--limit-samples N] [--op-seconds S]

Dev tooling, not a test module (no ``test_`` prefix, pytest does not collect it). It needs torch and
``expecttest`` (torch's test utilities import it; a stub is put in its place when it is missing) and
exits 0 with a message when torch is absent.

Counterparts. OpInfo ``x`` -> ``engine.x``; ``nn.functional.x`` -> ``engine.functional.x`` (what nn's
layers call, ``import engine.functional as F``); ``linalg.x`` / ``special.x`` / ``fft.x`` ->
``engine.linalg.x`` / ``engine.special.x`` / ``engine.fft.x``; the method variant -> ``Tensor.<name>``
and the in-place variant -> ``Tensor.<name>_``. Where torch's OpInfo wraps the op in a lambda
(``lambda x, shape: x.view(shape)``, ``torch.einsum(equation, tensors)``), the lambda itself runs on
our Tensors with its ``torch`` global swapped for a shim that maps ``torch.X`` to ours.

Per sample (first ``--limit-samples`` of each op and dtype, torch seeded), each variant is called on
torch's tensors and on ours (same dtype, same values), and the first difference is classified:
``ours_raised``, ``torch_raised`` (torch raised, ours returned), ``structure``, ``shape``, ``dtype``,
``value`` (torch's default tolerances for the dtype, equal_nan), ``grad`` / ``grad_missing`` (float64:
the gradient of ``sum(out * cotangent)`` with respect to every input torch differentiates), ``missing``
(a name the call needs is absent), ``unconvertible`` (an argument with no counterpart in ours, such as
``torch.contiguous_format``), ``timeout``. Random ops compare shape and dtype only. ``error_inputs``
check that ours raises the exception type torch raises. Complex outputs are compared as torch does
(``--dtypes complex128,complex64`` runs complex inputs; complex128 gradients are the vector-Jacobian
product for a random complex cotangent, torch's convention). Sparse, quantized, half and complex32
are skipped and counted as such.

``--gradgrad`` compares second derivatives (``gradgrad*`` classes), float64 by default: the gradient g of
sum(out * v) (create_graph, v a random leaf), then d sum(g * u) / d (inputs, v). ``--gradgrad --dtypes
complex128`` runs the complex128 samples and the float64 samples with a complex output (fft.rfft of a real
input, ...) in torch's complex convention: Re(sum(conj(v) * out)) (its gradient is the vector-Jacobian
product with cotangent v, what torch's gradgradcheck differentiates) and Re(sum(conj(u) * g)); add float64 to
the list for the real samples as well.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
import types
import warnings

import numpy as np

FAMILIES = ("elementwise unary", "elementwise binary", "reductions", "shape/indexing", "linalg",
            "nn.functional", "special", "random/factories", "other")
FAIL_CLASSES = ("ours_raised", "torch_raised", "structure", "shape", "dtype", "value", "grad",
                "grad_missing", "missing", "unconvertible", "timeout", "error_no_raise", "error_type",
                "gradgrad", "gradgrad_missing", "gradgrad_unsupported", "gradgrad_raised")

# passes: "pass_ties" (indices differ only among equal values), "pass_gauge" (linalg outputs equal up to
# the sign/phase torch's own output_process_fn_grad removes), "pass_precision" (a float32 difference no
# larger than torch's own float32 rounding against a float64 reference)
PASS_CLASSES = ("pass", "pass_ties", "pass_gauge", "pass_precision")

# ops whose values are random or uninitialised: shape and dtype are compared, values are not
RANDOM_OPS = {
    "bernoulli", "cauchy", "exponential", "geometric", "log_normal", "multinomial", "normal", "uniform",
    "rand_like", "randn", "randn_like", "randint", "randint_like", "empty", "empty_like", "empty_permuted",
    "empty_strided", "new_empty", "new_empty_strided", "resize_", "resize_as_", "nn.functional.dropout",
    "nn.functional.dropout2d", "nn.functional.dropout3d", "nn.functional.alpha_dropout",
    "nn.functional.feature_alpha_dropout", "nn.functional.rrelu", "nn.functional.fractional_max_pool2d",
    "nn.functional.fractional_max_pool3d", "svd_lowrank", "pca_lowrank",
}
FACTORY_OPS = {
    "arange", "linspace", "logspace", "eye", "zeros", "ones", "full", "zeros_like", "ones_like",
    "full_like", "scalar_tensor", "tril_indices", "triu_indices", "new_zeros", "new_ones", "new_full",
}
SHAPE_OPS = set("""
__getitem__ alias_copy as_strided as_strided_copy as_strided_scatter atleast_1d atleast_2d atleast_3d block_diag
broadcast_shapes broadcast_tensors broadcast_to cartesian_prod cat chunk column_stack combinations
constant_pad_nd contiguous diag diag_embed diagflat diagonal diagonal_copy diagonal_scatter dsplit dstack
expand expand_as expand_copy flatten flip fliplr flipud gather hsplit hstack index_add index_copy index_fill
index_put index_reduce index_select masked_fill masked_scatter masked_select meshgrid movedim mT mH T H narrow
narrow_copy nonzero nonzero_static permute permute_copy put ravel repeat repeat_interleave reshape reshape_as
roll rot90 scatter scatter_add scatter_reduce select select_scatter slice slice_scatter split
split_with_sizes split_with_sizes_copy squeeze squeeze_copy stack t t_copy take take_along_dim tensor_split
tile transpose transpose_copy tril triu unbind unbind_copy unflatten unfold unfold_copy unsafe_chunk
unsafe_split unsqueeze unsqueeze_copy view view_as view_copy vsplit vstack where argwhere unravel_index
sum_to_size clone fill zero_ _unsafe_masked_index _unsafe_masked_index_put_accumulate _chunk_cat
""".split())
REDUCTION_OPS = set("""
all any amax amin aminmax argmax argmin argsort count_nonzero cummax cummin cumprod cumsum
cumulative_trapezoid diff histc histogram histogramdd bincount kthvalue logcumsumexp logsumexp max min mean
median mode msort nanmean nanmedian nanquantile nansum norm prod quantile sort std std_mean sum topk trace
trapezoid trapz var var_mean unique unique_consecutive searchsorted bucketize equal allclose cov corrcoef
dist renorm softmax log_softmax isin gradient _segment_reduce
""".split())
LINALG_OPS = set("""
addbmm addmm addmv addr baddbmm bmm cholesky cholesky_inverse cholesky_solve cross dot einsum geqrf inner kron
logdet lu lu_solve lu_unpack matmul matrix_exp mm mv ormqr outer pinverse qr svd tensordot triangular_solve vdot
__rmatmul__ cdist chain_matmul
""".split())
CONVERSION_OPS = {"bool", "byte", "char", "double", "float", "half", "int", "long", "short", "to", "item",
                  "contiguous", "clone", "bfloat16", "cfloat", "cdouble", "chalf"}
TERNARY_OPS = {"clamp", "clamp_min", "clamp_max", "lerp", "addcmul", "addcdiv", "isclose", "nan_to_num", "where",
               "rsub", "float_power", "true_divide", "ldexp", "nextafter", "copysign", "heaviside", "frexp"}
SKIP_PREFIXES = ("_", "torch.", "jiterator_", "sparse.", "masked.")  # private/aten/cuda/sparse/masked
SKIP_NAMES = {"to_sparse", "view_as_complex", "view_as_real", "complex", "polar", "cfloat", "cdouble",
              "chalf", "bfloat16", "half", "max_pool2d_with_indices_backward", "native_dropout_backward",
              "native_batch_norm", "native_layer_norm", "native_group_norm", "hash_tensor"}
DTYPE_NAMES = ("float64", "float32", "int64", "bool")
# --gradgrad: OpInfos whose torch double backward is silently wrong (where torch raises, the sample is skipped
# anyway); ours is checked against torch's correct path in tests instead
TORCH_GRADGRAD_WRONG = {
    "nn.functional.linear_cross_entropy.chunked":
        "the chunked op's backward is its forward's precomputed gradient, detached, times grad_output "
        "(torch/nn/modules/linear_cross_entropy.py: 'double-backward is unsupported'), so its second "
        "derivative in input and weight is 0; ours matches torch's unchunked path "
        "(tests/engine/test_parity_gradgrad_misc_s18.py)",
}


class Skip(Exception):
    """A sample (or argument) outside what the sweep compares: complex, sparse, half, ..."""


class Unconvertible(Exception):
    """A torch argument with no counterpart in ours (memory_format, layout, ...)."""


class Missing(AttributeError):
    """A torch name the call needs that ours lacks."""


class Timeout(Exception):
    pass


# ----------------------------------------------------------------------------------------------
# torch -> ours


def _on_alarm(signum, frame):
    raise Timeout("call took too long")


@contextlib.contextmanager
def time_limit(seconds):
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class Ctx:
    """Imports both sides once; holds the converters."""

    def __init__(self, torch, engine):
        self.torch = torch
        self.engine = engine
        import engine.functional as ef
        import engine.linalg as el
        import engine.special as es

        self.F, self.linalg, self.special = ef, el, es
        try:
            import nn.functional as nf  # if nn ever exposes F itself, prefer it
        except ImportError:
            nf = None
        self.nn_functional = nf
        self.Tensor = engine.Tensor
        self.shim = _TorchShim(self, ())
        self.dropped = set()  # torch arguments left out of the current sample (no counterpart, default)
        self.gradgrad = False  # --gradgrad: second derivatives instead of first
        # --gradgrad --dtypes complex128: complex inputs, and complex outputs of float64 samples, compared
        # (gradgrad_complex); float64 samples with neither are skipped unless float64 is asked for too
        self.gradgrad_complex = False
        self.gradgrad_float = True
        self.intermediates = False  # --intermediates: our inputs are freed intermediates (see run_sample)

    # namespaces ----------------------------------------------------------------------------
    def ours_for_name(self, dotted):
        """engine's counterpart of ``torch.<dotted>``, or raise Missing."""
        parts = dotted.split(".")
        if parts[:2] == ["nn", "functional"]:
            roots, parts = [r for r in (self.nn_functional, self.F) if r is not None], parts[2:]
        elif parts[0] == "Tensor":
            roots, parts = [self.Tensor], parts[1:]
        else:
            roots = [self.engine]
        for root in roots:
            obj = root
            for p in parts:
                obj = getattr(obj, p, None)
                if obj is None:
                    break
            if obj is not None:
                return obj
        raise Missing(f"ours lacks torch.{dotted}")

    # values ----------------------------------------------------------------------------------
    def dtype(self, tdt):
        name = str(tdt).split(".")[-1]
        if name in ("bfloat16", "complex32", "float8_e4m3fn", "float8_e5m2") or \
                name.startswith(("qint", "quint", "float8", "uint16", "uint32", "uint64", "bits")):
            raise Skip(f"dtype {name}")
        d = getattr(self.engine, name, None)
        if d is None:
            raise Unconvertible(f"torch.{name}")
        return d

    def tensor(self, t, memo, requires_grad=True):
        key = id(t)
        if key in memo:
            return memo[key]
        torch = self.torch
        if t.is_sparse or t.layout != torch.strided or t.is_quantized or t.is_nested or t.is_meta:
            raise Skip("sparse/quantized/nested/meta tensor")
        dt = self.dtype(t.dtype)
        arr = t.detach().resolve_conj().resolve_neg().cpu().numpy().copy()
        rg = bool(requires_grad and t.requires_grad and (t.is_floating_point() or t.is_complex()))
        ours = self.engine.tensor(arr, dtype=dt, requires_grad=rg)
        memo[key] = ours
        return ours

    def convert(self, obj, memo, requires_grad=True):
        torch = self.torch
        if isinstance(obj, torch.Tensor):
            return self.tensor(obj, memo, requires_grad)
        if isinstance(obj, torch.Size):
            return tuple(obj)
        if isinstance(obj, torch.dtype):
            return self.dtype(obj)
        if isinstance(obj, torch.device):
            return str(obj)
        if isinstance(obj, (torch.memory_format, torch.layout)):
            name = str(obj).split(".")[-1]
            ours = getattr(self.engine, name, None)
            if ours is None:
                if name in ("contiguous_format", "preserve_format", "strided"):
                    # the default anyway: leave the argument out (and say so), so the rest is compared
                    self.dropped.add(f"torch.{name}")
                    return _DROP
                raise Unconvertible(f"torch.{name}")
            return ours
        if isinstance(obj, torch.nn.Module):
            import nn

            cls = getattr(nn, type(obj).__name__, None)
            if cls is None:
                raise Unconvertible(f"torch.nn.{type(obj).__name__}")
            try:
                mod = cls()
            except TypeError as e:
                raise Unconvertible(f"torch.nn.{type(obj).__name__} (constructor)") from e
            for k, v in vars(obj).items():
                if isinstance(v, (bool, int, float, str)) and not k.startswith("_"):
                    setattr(mod, k, v)
            return mod
        if isinstance(obj, torch.Generator):
            g = self.engine.Generator()
            g.manual_seed(obj.initial_seed())
            return g
        if isinstance(obj, tuple) and hasattr(obj, "_fields"):
            return tuple(self.convert(x, memo, requires_grad) for x in obj)
        if isinstance(obj, (list, tuple)):
            out = type(obj)(self.convert(x, memo, requires_grad) for x in obj)
            if any(x is _DROP for x in out):
                raise Unconvertible(f"a positional {', '.join(sorted(self.dropped))}")
            return out
        if isinstance(obj, dict):
            out = {k: self.convert(v, memo, requires_grad) for k, v in obj.items()}
            return {k: v for k, v in out.items() if v is not _DROP}
        if isinstance(obj, types.FunctionType):
            return self.patch(obj)
        if callable(obj) and getattr(obj, "__module__", "") and str(obj.__module__).startswith("torch"):
            name = getattr(obj, "__name__", None)
            mod = str(obj.__module__)
            if name and mod.startswith(("torch.nn.functional", "torch._C._nn")):
                return self.ours_for_name("nn.functional." + name)
            if name:
                return self.ours_for_name(name)
            raise Unconvertible(repr(obj))
        return obj

    def patch(self, fn):
        """A copy of ``fn`` (a lambda from torch's OpInfo code) whose ``torch`` is the shim."""
        g = dict(fn.__globals__)
        g["torch"] = self.shim
        engine = self.engine

        def wrapper_set_seed(op, *args, **kwargs):
            engine.manual_seed(42)
            return op(*args, **kwargs)

        g["wrapper_set_seed"] = wrapper_set_seed
        if "F" in g and getattr(g["F"], "__name__", "") == "torch.nn.functional":
            g["F"] = _TorchShim(self, ("nn", "functional"))
        return types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)


_DROP = object()


class _TorchShim:
    """``torch`` as seen by a patched OpInfo lambda: attribute paths map to ours."""

    _NAMESPACES = {(), ("nn",), ("nn", "functional"), ("linalg",), ("special",), ("fft",)}

    def __init__(self, ctx, path):
        self._ctx, self._path = ctx, path

    def __getattr__(self, name):
        path = self._path + (name,)
        if path in self._NAMESPACES:
            return _TorchShim(self._ctx, path)
        if path == ("Tensor",):
            return self._ctx.Tensor
        return self._ctx.ours_for_name(".".join(path))


# ----------------------------------------------------------------------------------------------
# reprs


def short(obj, torch, depth=0):
    if isinstance(obj, torch.Tensor):
        s = f"T[{str(obj.dtype).split('.')[-1]}]{tuple(obj.shape)}"
        if obj.numel() <= 6:
            s += "=" + np.array2string(obj.detach().resolve_conj().cpu().numpy().reshape(-1), precision=4,
                                       separator=",")
        return s
    if isinstance(obj, (list, tuple)) and depth < 3:
        inner = ", ".join(short(x, torch, depth + 1) for x in list(obj)[:6]) + (", ..." if len(obj) > 6 else "")
        return f"[{inner}]" if isinstance(obj, list) else f"({inner})"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{k}={short(v, torch, depth + 1)}" for k, v in obj.items()) + "}"
    if isinstance(obj, types.FunctionType):
        return f"<fn {obj.__name__}>"
    r = repr(obj)
    return r if len(r) < 60 else r[:57] + "..."


def sample_repr(call, sample, torch):
    parts = [short(sample.input, torch)] + [short(a, torch) for a in sample.args]
    parts += [f"{k}={short(v, torch)}" for k, v in sample.kwargs.items()]
    s = f"{call}({', '.join(parts)})"
    return s if len(s) < 400 else s[:397] + "..."


def exc_text(e):
    s = f"{type(e).__name__}: {e}".replace("\n", " ")
    return s if len(s) < 300 else s[:297] + "..."


def ours_numpy(t):
    x = t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)
    return np.asarray(x)


def dtype_name(dt):
    s = str(dt)
    return s.split(".")[-1]


# ----------------------------------------------------------------------------------------------
# comparison


TOL = {"float64": (1e-7, 1e-7), "float32": (1.3e-6, 1e-5), "float16": (1e-3, 1e-5),
       "complex128": (1e-7, 1e-7), "complex64": (1.3e-6, 1e-5)}
GRAD_TOL = (1e-6, 1e-8)


def grad_tol(dtype) -> tuple:
    """Gradient tolerances: GRAD_TOL, or float32's for the gradient of a float32 input (a float64 sample may
    hold one, as cov's aweights): torch's own gradient there carries float32 rounding."""
    return TOL["float32"] if str(dtype).split(".")[-1] in ("float32", "complex64") else GRAD_TOL


def values_close(ours, theirs, dtname, tol=None):
    """None when close, else a short description of the largest difference."""
    a = np.asarray(ours)
    b = np.asarray(theirs)
    if a.shape != b.shape:
        return f"shape {a.shape} vs {b.shape}"
    if a.size == 0:
        return None
    if a.dtype == bool or b.dtype == bool or dtname not in TOL:
        if a.dtype.kind in "fc" or b.dtype.kind in "fc":
            rtol, atol = TOL.get(dtname, (1e-7, 1e-7)) if tol is None else tol
        else:
            eq = a == b
            if eq.all():
                return None
            i = np.unravel_index(int(np.argmin(eq.reshape(-1))), a.shape)
            return f"{int((~eq).sum())}/{a.size} differ; at {tuple(int(x) for x in i)}: ours {a[i]!r} torch {b[i]!r}"
    else:
        rtol, atol = TOL[dtname] if tol is None else tol
    if a.dtype.kind == "c" or b.dtype.kind == "c":
        return _complex_close(a, b, rtol, atol)
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    both_nan = np.isnan(a64) & np.isnan(b64)
    same_inf = np.isinf(a64) & np.isinf(b64) & (np.sign(a64) == np.sign(b64))
    with np.errstate(all="ignore"):
        diff = np.abs(a64 - b64)
        ok = both_nan | same_inf | (diff <= atol + rtol * np.abs(b64))
    if ok.all():
        return None
    bad = ~ok
    with np.errstate(all="ignore"):
        d = np.where(bad, np.nan_to_num(diff, nan=np.inf), -1.0)
    i = np.unravel_index(int(np.argmax(d)), a.shape)
    s = f"{int(bad.sum())}/{a.size} differ; worst at {tuple(int(x) for x in i)}: ours {a64[i]:.8g} torch {b64[i]:.8g}"
    if a.size <= 6:
        ours_s, torch_s = (np.array2string(v.reshape(-1), precision=6) for v in (a64, b64))
        s += f" (ours {ours_s} torch {torch_s})"
    return s


def _complex_close(a, b, rtol, atol):
    """values_close for complex: torch's rule, |a - b| <= atol + rtol |b| with nan anywhere in a
    number counting as nan (equal_nan) and infinities compared part by part."""
    a, b = a.astype(np.complex128), b.astype(np.complex128)
    with np.errstate(all="ignore"):
        an, bn = np.isnan(a.real) | np.isnan(a.imag), np.isnan(b.real) | np.isnan(b.imag)
        inf = ~an & ~bn & (np.isinf(a) | np.isinf(b))
        same_inf = inf & np.isclose(a.real, b.real, rtol, atol) & np.isclose(a.imag, b.imag, rtol, atol)
        diff = np.abs(a - b)
        ok = (an & bn) | same_inf | (~an & ~bn & ~inf & (diff <= atol + rtol * np.abs(b)))
    if ok.all():
        return None
    bad = ~ok
    with np.errstate(all="ignore"):
        d = np.where(bad, np.nan_to_num(diff, nan=np.inf), -1.0)
    i = np.unravel_index(int(np.argmax(d)), a.shape)
    s = f"{int(bad.sum())}/{a.size} differ; worst at {tuple(int(x) for x in i)}: ours {a[i]:.8g} torch {b[i]:.8g}"
    if a.size <= 6:
        a_s, b_s = (np.array2string(x.reshape(-1), precision=6) for x in (a, b))
        s += f" (ours {a_s} torch {b_s})"
    return s


def compare(ctx, ours, theirs, dtname, values=True, path="out"):
    """(class, message) for the first difference between ours and torch's output, or None."""
    torch = ctx.torch
    if isinstance(theirs, torch.Tensor):
        if not isinstance(ours, ctx.Tensor):
            return "structure", f"{path}: torch Tensor, ours {type(ours).__name__}"
        if tuple(ours.shape) != tuple(theirs.shape):
            return "shape", f"{path}: ours {tuple(ours.shape)} torch {tuple(theirs.shape)}"
        td, od = dtype_name(theirs.dtype), dtype_name(ours.dtype)
        if td != od:
            return "dtype", f"{path}: ours {od} torch {td}"
        if values:
            msg = values_close(ours_numpy(ours), theirs.detach().resolve_conj().resolve_neg().cpu().numpy(),
                               td if td in TOL else dtname)
            if msg:
                return "value", f"{path}: {msg}"
        return None
    if isinstance(theirs, (tuple, list)) and not isinstance(theirs, torch.Size):
        if not isinstance(ours, (tuple, list)):
            return "structure", f"{path}: torch {type(theirs).__name__} of {len(theirs)}, ours {type(ours).__name__}"
        if len(ours) != len(theirs):
            return "structure", f"{path}: torch {len(theirs)} items, ours {len(ours)}"
        for f in getattr(theirs, "_fields", ()):
            if not hasattr(ours, f):
                return "structure", f"{path}: ours lacks the named field .{f} ({type(theirs).__name__})"
        for i, (o, t) in enumerate(zip(ours, theirs, strict=True)):
            r = compare(ctx, o, t, dtname, values, f"{path}[{i}]")
            if r:
                return r
        return None
    if isinstance(theirs, torch.Size):
        if tuple(ours) != tuple(theirs) if isinstance(ours, (tuple, list)) else True:
            return "value", f"{path}: ours {ours!r} torch {tuple(theirs)!r}"
        return None
    if isinstance(theirs, torch.dtype):
        if dtype_name(ours) != dtype_name(theirs):
            return "value", f"{path}: ours {ours!r} torch {theirs!r}"
        return None
    if theirs is None:
        return None if ours is None else ("structure", f"{path}: torch None, ours {type(ours).__name__}")
    if isinstance(theirs, (bool, int, float, complex)):
        if isinstance(ours, ctx.Tensor):
            return "structure", f"{path}: torch {type(theirs).__name__} {theirs!r}, ours Tensor"
        if type(ours) is not type(theirs):
            return "dtype", f"{path}: torch {type(theirs).__name__} {theirs!r}, ours {type(ours).__name__} {ours!r}"
        if values:
            msg = values_close(np.asarray(ours), np.asarray(theirs), dtname)
            if msg:
                return "value", f"{path}: ours {ours!r} torch {theirs!r}"
        return None
    return None


def flat_tensors(obj, cls):
    out = []
    stack = [obj]
    while stack:
        x = stack.pop(0)
        if isinstance(x, cls):
            out.append(x)
        elif isinstance(x, (list, tuple)):
            stack[:0] = list(x)
        elif isinstance(x, dict):
            stack[:0] = list(x.values())
    return out


# ----------------------------------------------------------------------------------------------
# one op


def family_of(op, torch):
    from torch.testing._internal.opinfo.core import BinaryUfuncInfo, ReductionOpInfo, ShapeFuncInfo, UnaryUfuncInfo

    name = op.name
    if name.startswith("linalg.") or name in LINALG_OPS:
        return "linalg"
    if name.startswith("special.") or name in ("polygamma", "mvlgamma", "lgamma", "digamma", "i0", "igamma",
                                               "igammac", "erfinv", "xlogy", "zeta"):
        return "special"
    if name in RANDOM_OPS and not name.startswith("nn.functional") or name in FACTORY_OPS or \
            name.startswith(("signal.", "new_", "empty")):
        return "random/factories"
    if name.startswith("nn.functional."):
        return "nn.functional"
    if name in CONVERSION_OPS:
        return "other"
    if name in TERNARY_OPS:
        return "elementwise binary"
    if isinstance(op, ReductionOpInfo) or name in REDUCTION_OPS:
        return "reductions"
    if isinstance(op, ShapeFuncInfo) or name in SHAPE_OPS:
        return "shape/indexing"
    if isinstance(op, UnaryUfuncInfo):
        return "elementwise unary"
    if isinstance(op, BinaryUfuncInfo) or name.startswith("__r"):
        return "elementwise binary"
    return "other"


def resolve_variants(ctx, op):
    """{'func'|'method'|'inplace': (torch_callable, ours_callable_or_None, label)}; a None ours is missing."""
    torch = ctx.torch
    out = {}

    def dotted_torch(name):
        obj = torch
        for p in name.split("."):
            obj = getattr(obj, p, None)
            if obj is None:
                return None
        return obj

    name = op.name
    if op.op is not None:
        if name.startswith("__"):
            out["func"] = (op.op, getattr(ctx.Tensor, name, None), f"Tensor.{name}")
        elif dotted_torch(name) is op.op:
            try:
                ours = ctx.ours_for_name(name)
            except Missing:
                ours = None
            label = ("F." + name[len("nn.functional."):]) if name.startswith("nn.functional.") else f"torch.{name}"
            out["func"] = (op.op, ours, label)
        elif isinstance(op.op, types.FunctionType):
            out["func"] = (op.op, ctx.patch(op.op), f"torch.{name} (OpInfo wrapper)")
    for kind, fn in (("method", op.method_variant), ("inplace", op.inplace_variant)):
        if fn is None or (kind == "method" and name.startswith("__")):
            continue
        if isinstance(fn, types.FunctionType) and str(fn.__module__).startswith("torch.testing"):
            out[kind] = (fn, ctx.patch(fn), f"Tensor.{name}{'_' if kind == 'inplace' else ''} (OpInfo wrapper)")
            continue
        mname = getattr(fn, "__name__", None)
        if not mname:
            continue
        out[kind] = (fn, getattr(ctx.Tensor, mname, None), f"Tensor.{mname}")
    return out


def is_missing_exc(e):
    if isinstance(e, Missing):
        return True
    if isinstance(e, AttributeError):
        m = str(e)
        return ("has no attribute" in m) and ("'Tensor'" in m or "engine" in m or "module" in m)
    return False


class OpReport:
    def __init__(self, op, family):
        self.name = op.name + (f".{op.variant_test_name}" if op.variant_test_name else "")
        self.family = family
        self.variants = {}  # kind -> label
        self.missing = []  # kinds missing
        self.counts = {}  # class -> n
        self.failures = []  # first few
        self.skipped = {}
        self.notes = []
        self.api_gaps = set()  # torch arguments ours has no counterpart for, left out of the calls
        self.seconds = 0.0

    def add(self, cls, detail=None):
        self.counts[cls] = self.counts.get(cls, 0) + 1
        if cls in FAIL_CLASSES and detail is not None and sum(1 for f in self.failures if f["class"] == cls) < 2 \
                and len(self.failures) < 6:
            self.failures.append(dict(detail, **{"class": cls}))

    def skip(self, why):
        self.skipped[why] = self.skipped.get(why, 0) + 1

    @property
    def n_fail(self):
        return sum(v for k, v in self.counts.items() if k in FAIL_CLASSES)

    @property
    def n_pass(self):
        return sum(self.counts.get(k, 0) for k in PASS_CLASSES)

    def as_json(self):
        return {"family": self.family, "variants": self.variants, "missing": self.missing,
                "counts": self.counts, "failed": self.n_fail, "passed": self.n_pass,
                "skipped": self.skipped, "failures": self.failures, "notes": self.notes,
                "dropped_arguments": sorted(self.api_gaps),
                "seconds": round(self.seconds, 2)}


def run_grad(ctx, sample, t_out, o_out, memo, process_t, process_o):
    """Compare d sum(out * cot) / d inputs; returns (class, msg) or None. With a complex input or
    output, the vector-Jacobian product for a random complex cotangent (grad_outputs), torch's
    convention on both sides."""
    torch, engine = ctx.torch, ctx.engine
    t_in = [t for t in flat_tensors([sample.input, sample.args, sample.kwargs], torch.Tensor) if _diffable(t)]
    # unique by identity
    seen, uniq = set(), []
    for t in t_in:
        if id(t) not in seen:
            seen.add(id(t))
            uniq.append(t)
    t_in = uniq
    if not t_in:
        return None
    tp = process_t(t_out)
    t_outs = [t for t in flat_tensors(tp, torch.Tensor) if _diffable(t)]
    if not t_outs:
        return None
    op_ = process_o(o_out)
    o_all = flat_tensors(op_, ctx.Tensor)
    t_all = flat_tensors(tp, torch.Tensor)
    if len(o_all) != len(t_all):
        return "structure", f"processed outputs: torch {len(t_all)} tensors, ours {len(o_all)}"
    if any(t.is_complex() for t in t_outs + t_in):
        return _run_grad_complex(ctx, t_in, t_all, o_all, memo)
    gen = torch.Generator().manual_seed(1234)
    t_loss, o_loss = None, None
    for t, o in zip(t_all, o_all, strict=True):
        if not (t.requires_grad and t.is_floating_point()):
            continue
        cot = torch.randn(t.shape, dtype=t.dtype, generator=gen)
        tl = (t * cot).sum()
        t_loss = tl if t_loss is None else t_loss + tl
        if not o.requires_grad:
            continue
        ol = (o * engine.tensor(cot.numpy(), dtype=o.dtype)).sum()
        o_loss = ol if o_loss is None else o_loss + ol
    try:
        t_grads = torch.autograd.grad(t_loss, t_in, allow_unused=True)
    except Exception as e:  # torch's own backward fails (clamp with a broadcasting bound): nothing to compare
        raise Skip("torch backward raised") from e
    nz = [g is not None and bool((g != 0).any()) for g in t_grads]
    if o_loss is None:
        if any(nz):
            return "grad_missing", "ours' output does not require grad"
        return None
    o_in = [memo.get(id(t)) for t in t_in]
    pairs = [(i, o) for i, o in enumerate(o_in) if o is not None and o.requires_grad]
    o_grads = engine.autograd.grad(o_loss, [o for _, o in pairs], allow_unused=True)
    og = dict(zip([i for i, _ in pairs], o_grads, strict=True))
    for i, tg in enumerate(t_grads):
        g = og.get(i)
        if tg is None or not nz[i]:
            if g is not None and np.abs(ours_numpy(g)).max(initial=0) > 0 and tg is None:
                return "grad", f"input {i}: torch no grad, ours nonzero"
            continue
        bad = grad_difference("grad", f"input {i}", g, tg)
        if bad:
            return bad
    return None


def _diffable(t):
    return t.requires_grad and (t.is_floating_point() or t.is_complex())


def _run_grad_complex(ctx, t_in, t_all, o_all, memo):
    """run_grad with complex tensors: autograd.grad(outs, ins, grad_outputs=cots) on both sides."""
    torch, engine = ctx.torch, ctx.engine
    gen = torch.Generator().manual_seed(1234)
    t_outs, cots, o_outs, o_cots = [], [], [], []
    for t, o in zip(t_all, o_all, strict=True):
        if not _diffable(t):
            continue
        cot = torch.randn(t.shape, dtype=t.dtype, generator=gen)
        t_outs.append(t)
        cots.append(cot)
        if o.requires_grad:
            o_outs.append(o)
            o_cots.append(engine.tensor(cot.numpy(), dtype=o.dtype))
    try:
        t_grads = torch.autograd.grad(t_outs, t_in, grad_outputs=cots, allow_unused=True)
    except Exception as e:
        raise Skip("torch backward raised") from e
    nz = [g is not None and bool((g != 0).any()) for g in t_grads]
    if not o_outs:
        return ("grad_missing", "ours' output does not require grad") if any(nz) else None
    if len(o_outs) != len(t_outs):
        return "grad_missing", f"{len(t_outs) - len(o_outs)} of ours' outputs do not require grad"
    o_in = [memo.get(id(t)) for t in t_in]
    pairs = [(i, o) for i, o in enumerate(o_in) if o is not None and o.requires_grad]
    o_grads = engine.autograd.grad(o_outs, [o for _, o in pairs], grad_outputs=o_cots, allow_unused=True)
    og = dict(zip([i for i, _ in pairs], o_grads, strict=True))
    for i, tg in enumerate(t_grads):
        g = og.get(i)
        if tg is None or not nz[i]:
            if g is not None and np.abs(ours_numpy(g)).max(initial=0) > 0 and tg is None:
                return "grad", f"input {i}: torch no grad, ours nonzero"
            continue
        bad = grad_difference("grad", f"input {i}", g, tg)
        if bad:
            return bad
    return None


def grad_difference(cls: str, what: str, g, tg):
    """(class, message) where our gradient ``g`` differs from torch's nonzero ``tg``, else None."""
    if g is None:
        return f"{cls}_missing", f"{what} {tuple(tg.shape)}: ours None"
    if tg._is_zerotensor():  # torch's lazy zeros (sgn's gradient of a real input) do not convert to NumPy
        tg = tg.new_zeros(tg.shape)
    if tuple(g.shape) != tuple(tg.shape):
        return cls, f"{what}: shape ours {tuple(g.shape)} torch {tuple(tg.shape)}"
    if (tg.is_complex() or g.dtype.kind == "c") and g.dtype != getattr(np, str(tg.dtype).split(".")[-1]):
        return cls, f"{what}: dtype ours {g.dtype} torch {str(tg.dtype).split('.')[-1]}"
    msg = values_close(ours_numpy(g), tg.detach().resolve_conj().numpy(), "float64", grad_tol(tg.dtype))
    return (cls, f"{what} {tuple(tg.shape)}: {msg}") if msg else None


def _unique(ts):
    seen, out = set(), []
    for t in ts:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def run_gradgrad(ctx, sample, t_out, o_out, memo, process_t, process_o):
    """``--gradgrad``: with g = dL/d inputs, L = Σ Re(Σ conj(v)·out) (create_graph, v a random leaf of each
    output's dtype: for real tensors Σ out·v; for complex ones the vjp with cotangent v that torch's gradgradcheck
    differentiates), compare d Σ Re(Σ conj(u)·g) / d (inputs, v) with torch (u random); returns (class, msg) or
    None. Complex inputs and outputs only with ``--dtypes complex128`` (ctx.gradgrad_complex)."""
    torch, engine = ctx.torch, ctx.engine
    cplx = ctx.gradgrad_complex and _has_complex(ctx, sample, t_out, process_t)
    diffable = _diffable if cplx else (lambda t: t.requires_grad and t.is_floating_point())
    t_in = _unique([t for t in flat_tensors([sample.input, sample.args, sample.kwargs], torch.Tensor) if diffable(t)])
    if not t_in:
        return None
    t_all = flat_tensors(process_t(t_out), torch.Tensor)
    o_all = flat_tensors(process_o(o_out), ctx.Tensor)
    if not any(diffable(t) for t in t_all) or (not cplx and any(t.is_complex() for t in t_all)):
        return None
    if len(o_all) != len(t_all):
        return "structure", f"processed outputs: torch {len(t_all)} tensors, ours {len(o_all)}"
    gen = torch.Generator().manual_seed(1234)
    t_loss = o_loss = None
    t_vs, o_vs = [], []
    for t, o in zip(t_all, o_all, strict=True):
        if not diffable(t):
            continue
        tv = torch.randn(t.shape, dtype=t.dtype, generator=gen).requires_grad_()
        t_vs.append(tv)
        tl = _real_dot(tv, t)
        t_loss = tl if t_loss is None else t_loss + tl
        if not o.requires_grad:
            o_vs.append(None)
            continue
        ov = engine.tensor(tv.detach().numpy(), dtype=o.dtype, requires_grad=True)
        o_vs.append(ov)
        ol = _real_dot(ov, o)
        o_loss = ol if o_loss is None else o_loss + ol
    try:
        t_g = torch.autograd.grad(t_loss, t_in, create_graph=True, allow_unused=True)
        ugen = torch.Generator().manual_seed(4321)
        us = [None if g is None else torch.randn(g.shape, dtype=g.dtype, generator=ugen) for g in t_g]
        t_l2 = sum(_real_dot(u, g) for g, u in zip(t_g, us) if g is not None and g.requires_grad)
        t_wrt = t_in + t_vs
        t_gg = torch.autograd.grad(t_l2, t_wrt, allow_unused=True) if torch.is_tensor(t_l2) \
            and t_l2.requires_grad else [None] * len(t_wrt)
    except Exception as e:
        raise Skip("torch double backward raised") from e
    if o_loss is None:
        return ("grad_missing", "ours' output does not require grad") if any(g is not None for g in t_g) else None
    o_in = [memo.get(id(t)) for t in t_in]
    o_wrt_all = o_in + o_vs
    idx = [i for i, o in enumerate(o_wrt_all) if o is not None and o.requires_grad]
    n_in = len(t_in)
    try:
        got = engine.autograd.grad(o_loss, [o_wrt_all[i] for i in idx if i < n_in], create_graph=True,
                                   allow_unused=True)
        o_g = dict(zip([i for i in idx if i < n_in], got, strict=True))
        # first order under create_graph first: a wrong first derivative is not a second-order bug
        for i, tg in enumerate(t_g):
            g = o_g.get(i)
            if tg is None or g is None:
                continue
            bad = grad_difference("grad", f"create_graph first derivative, input {i}", g, tg)
            if bad:
                return bad
        o_l2 = None
        for i, u in enumerate(us):
            g = o_g.get(i)
            if u is None or g is None or not g.requires_grad:
                continue
            term = _real_dot(engine.tensor(u.numpy(), dtype=g.dtype), g)
            o_l2 = term if o_l2 is None else o_l2 + term
        o_gg = {} if o_l2 is None else dict(zip(idx, engine.autograd.grad(
            o_l2, [o_wrt_all[i] for i in idx], allow_unused=True), strict=True))
    except NotImplementedError as e:
        m = str(e)
        if "double backward of" in m:
            return "gradgrad_unsupported", m.split("double backward of ")[1].split(" is not")[0]
        return "gradgrad_raised", exc_text(e)
    except Exception as e:
        return "gradgrad_raised", exc_text(e)
    for i, tg in enumerate(t_gg):
        g = o_gg.get(i)
        what = f"input {i}" if i < n_in else f"v {i - n_in}"
        if tg is None or not bool((tg != 0).any()):
            if g is not None:
                ref = np.zeros(tuple(g.shape), dtype=ours_numpy(g).dtype)  # torch may return a ZeroTensor
                msg = values_close(ours_numpy(g), ref, "float64", grad_tol(g.dtype))
                if msg:
                    return "gradgrad", f"{what}: torch zero/None, ours nonzero: {msg}"
            continue
        bad = grad_difference("gradgrad", what, g, tg)
        if bad:
            return bad
    return None


def _has_complex(ctx, sample, t_out, process_t=None) -> bool:
    """Whether a sample's differentiable inputs or (processed) outputs include a complex tensor."""
    torch = ctx.torch
    ins = flat_tensors([sample.input, sample.args, sample.kwargs], torch.Tensor)
    outs = flat_tensors(process_t(t_out) if process_t is not None else t_out, torch.Tensor)
    return any(t.is_complex() for t in outs) or any(_diffable(t) and t.is_complex() for t in ins)


def _real_dot(a, b):
    """Re(sum(conj(a) * b)): the real pairing of torch's complex convention (sum(a * b) for real tensors),
    on either side. The gradient of ``_real_dot(v, out)`` is the vector-Jacobian product with cotangent v."""
    if a.is_complex():
        return (a.conj() * b).real.sum()
    return (a * b.real if b.is_complex() else a * b).sum()  # a real cotangent pairs with the real part


def identity(x):
    return x


def run_op(ctx, op, dtypes, limit, op_seconds, call_seconds):
    torch = ctx.torch
    rep = OpReport(op, family_of(op, torch))
    t0 = time.monotonic()
    name = op.name
    if (name.startswith(SKIP_PREFIXES) and not name.startswith("__")) or name in SKIP_NAMES:
        rep.notes.append("skipped: private/aten/CUDA/sparse/masked/complex op")
        rep.skip("op")
        return rep
    if ctx.gradgrad and not (op.supports_autograd and op.supports_gradgrad):
        rep.notes.append("skipped: --gradgrad and the OpInfo does not support gradgrad")
        rep.skip("op")
        return rep
    if ctx.gradgrad and rep.name in TORCH_GRADGRAD_WRONG:
        rep.notes.append("skipped: --gradgrad, torch's double backward is wrong: " + TORCH_GRADGRAD_WRONG[rep.name])
        rep.skip("op")
        return rep
    variants = resolve_variants(ctx, op)
    for kind, (_, ours, label) in variants.items():
        rep.variants[kind] = label
        if ours is None:
            rep.missing.append(kind)
    live = {k: v for k, v in variants.items() if v[1] is not None}
    if ctx.gradgrad:  # the one variant whose gradients are compared
        live = {k: v for k, v in live.items() if k == ("func" if "func" in live else "method")}
    random_op = name in RANDOM_OPS or any(
        isinstance(f, types.FunctionType) and "wrapper_set_seed" in f.__code__.co_names
        for f in (op.op, op.method_variant, op.inplace_variant) if f is not None)
    try:
        supported = {dtype_name(d) for d in op.supported_dtypes("cpu")}
    except Exception:
        supported = set(DTYPE_NAMES)
    dyn_missing = {k: [0, 0] for k in live}  # kind -> [missing samples, samples]
    if live:
        for dtname in dtypes:
            if dtname not in supported:
                continue
            tdt = getattr(torch, dtname)
            rg = op.supports_autograd and (dtname == "float64" or dtname == "complex128"
                                           and torch.complex128 in op.supported_backward_dtypes("cpu"))
            torch.manual_seed(0)
            chosen = pick_samples(op, tdt, rg, limit, rep, dtname)
            for sample in chosen:
                if time.monotonic() - t0 > op_seconds:
                    rep.notes.append(f"time limit {op_seconds}s: stopped at {dtname}")
                    break
                for kind, (tfn, ofn, label) in live.items():
                    cls, msg = run_sample(ctx, sample, kind, tfn, ofn, dtname, rg and kind == "func"
                                          or (rg and kind == "method" and "func" not in live),
                                          random_op, call_seconds, rep.family)
                    rep.api_gaps.update(ctx.dropped)
                    if cls == "missing":
                        dyn_missing[kind][0] += 1
                    dyn_missing[kind][1] += 1
                    if cls.startswith("skip"):
                        rep.skip(cls[5:] or "sample")
                        continue
                    detail = None
                    if cls != "pass":
                        detail = {"variant": kind, "dtype": dtname, "call": sample_repr(label, sample, torch),
                                  "error": msg}
                    rep.add(cls, detail)
            if time.monotonic() - t0 > op_seconds:
                break
    for kind, (m, total) in dyn_missing.items():
        if total and m == total:
            rep.missing.append(kind)
            rep.counts.pop("missing", None)
            rep.failures = [f for f in rep.failures if not (f["variant"] == kind and f["class"] == "missing")]
            rep.notes.append(f"{kind} missing at run time: every sample needed a name ours lacks")
    if not ctx.gradgrad and ("func" in live and "func" not in rep.missing or "method" in live):
        run_errors(ctx, op, rep, live, limit, call_seconds, t0, op_seconds)
    rep.seconds = time.monotonic() - t0
    return rep


def _numel(sample, torch):
    return sum(t.numel() for t in flat_tensors([sample.input, sample.args, sample.kwargs], torch.Tensor))


def pick_samples(op, tdt, rg, limit, rep, dtname, pool=120, max_numel=20000):
    """``limit`` samples of torch's reference_inputs (sample_inputs first, then the edge cases: empty,
    0-d, extremal values, noncontiguous): the first half in order, the rest evenly spaced over the
    remainder; inputs over ``max_numel`` elements are left out (counted as skipped)."""
    import itertools

    import torch

    torch.manual_seed(0)
    got = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for s in itertools.islice(op.reference_inputs("cpu", tdt, requires_grad=rg), pool):
                if _numel(s, torch) > max_numel:
                    rep.skip("large sample")
                    continue
                got.append(s)
    except Exception as e:
        rep.notes.append(f"{dtname}: sample generation raised {exc_text(e)}")
    if len(got) <= limit:
        return got
    head = got[: limit // 2]
    rest = got[limit // 2:]
    k = limit - len(head)
    idx = sorted({round(i * (len(rest) - 1) / max(k - 1, 1)) for i in range(k)})
    return head + [rest[i] for i in idx]


def within_float32_noise(ctx, tfn, sample, o_out, t_out):
    """True when ours is no further from torch's float64 answer than torch's own float32 answer is
    (within 4x, plus float32's tolerance): a float32 difference that is rounding, not a bug."""
    torch = ctx.torch

    def up(x):
        if isinstance(x, torch.Tensor) and x.dtype in (torch.float32, torch.complex64):
            return x.detach().double() if x.dtype == torch.float32 else x.detach().cdouble()
        if isinstance(x, (list, tuple)) and not isinstance(x, torch.Size):
            return type(x)(up(v) for v in x) if not hasattr(x, "_fields") else type(x)(*(up(v) for v in x))
        if isinstance(x, dict):
            return {k: up(v) for k, v in x.items()}
        return x

    try:
        with torch.no_grad():
            ref = tfn(up(sample.input), *up(list(sample.args)), **up(dict(sample.kwargs)))
    except Exception:
        return False
    refs = flat_tensors(ref, torch.Tensor)
    ts = flat_tensors(t_out, torch.Tensor)
    os_ = flat_tensors(o_out, ctx.Tensor)
    if not (len(refs) == len(ts) == len(os_)):
        return False
    for r, t, o in zip(refs, ts, os_, strict=True):
        if not (t.is_floating_point() or t.is_complex()) or tuple(r.shape) != tuple(t.shape):
            continue
        wide = np.complex128 if t.is_complex() else np.float64
        rr = r.detach().resolve_conj().numpy().astype(wide)
        with np.errstate(all="ignore"):
            et = np.nan_to_num(np.abs(t.detach().resolve_conj().numpy().astype(wide) - rr), nan=0.0)
            eo = np.abs(ours_numpy(o).astype(wide) - rr)
        fin = np.isfinite(rr)
        if np.isnan(eo[fin]).any():
            return False
        if (eo[fin] > 4 * et[fin] + 1e-5 + 1.3e-6 * np.abs(rr[fin])).any():
            return False
    return True


def _has_ties(x):
    x = x[~np.isnan(x)] if x.dtype.kind == "f" else x.reshape(-1)
    return np.unique(x).size < x.size


def ties_only(ctx, ours, theirs, t_input, dtname):
    """True when ours and torch differ only in which of several equal elements an index output
    names (sort/topk/kthvalue/mode/argsort on inputs with repeated values, where torch's own choice
    is unspecified): the values agree and the input has ties."""
    torch = ctx.torch
    if not isinstance(t_input, torch.Tensor) or t_input.is_complex():
        return False
    x = t_input.detach().numpy()
    if x.size == 0 or not _has_ties(x):
        return False
    if isinstance(theirs, (tuple, list)) and len(theirs) == 2 and isinstance(theirs[1], torch.Tensor) \
            and theirs[1].dtype == torch.int64 and isinstance(ours, (tuple, list)) and len(ours) == 2:
        return compare(ctx, ours[0], theirs[0], dtname) is None and \
            compare(ctx, ours[1], theirs[1], dtname, values=False) is None
    if isinstance(theirs, torch.Tensor) and theirs.dtype == torch.int64 and isinstance(ours, ctx.Tensor) \
            and theirs.ndim == x.ndim and tuple(ours.shape) == tuple(theirs.shape):
        oi, ti = ours_numpy(ours), theirs.numpy()
        for d in range(max(x.ndim, 1)):
            try:
                a = np.take_along_axis(x, oi, d) if x.ndim else x
                b = np.take_along_axis(x, ti, d) if x.ndim else x
            except (IndexError, ValueError):
                continue
            if np.array_equal(a, b, equal_nan=x.dtype.kind == "f"):
                return True
    return False


def fresh(obj, memo, torch, requires_grad=True):
    """torch's sample with every tensor a fresh contiguous leaf (same values, same aliasing)."""
    if isinstance(obj, torch.Tensor):
        if id(obj) not in memo:
            if obj.is_sparse or obj.layout != torch.strided or obj.is_quantized or obj.is_nested:
                raise Skip("sparse/quantized/nested tensor")
            c = obj.detach().clone()
            if requires_grad and obj.requires_grad and (obj.is_floating_point() or obj.is_complex()):
                c.requires_grad_()
            memo[id(obj)] = c
        return memo[id(obj)]
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(fresh(x, memo, torch, requires_grad) for x in obj))
    if isinstance(obj, (list, tuple)) and not isinstance(obj, torch.Size):
        return type(obj)(fresh(x, memo, torch, requires_grad) for x in obj)
    if isinstance(obj, dict):
        return {k: fresh(v, memo, torch, requires_grad) for k, v in obj.items()}
    return obj


def _through_intermediates(ctx, fn):
    """``fn`` called with each input that requires grad replaced by ``input * 1``, an intermediate that
    nothing else holds: freed after the call, so the op's graph keeps only its _GraphRef and
    engine.higher_order must match the op's saved arrays without it (the leaves are differentiated
    through the Mul)."""
    def swap(obj, memo):
        if isinstance(obj, ctx.Tensor):
            if obj.requires_grad and obj.dtype.kind in "fc":
                if id(obj) not in memo:
                    memo[id(obj)] = obj * 1.0
                return memo[id(obj)]
            return obj
        if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
            return type(obj)(swap(x, memo) for x in obj)
        if isinstance(obj, dict):
            return {k: swap(v, memo) for k, v in obj.items()}
        return obj

    def call(*args, **kwargs):
        memo = {}
        args, kwargs = swap(list(args), memo), swap(kwargs, memo)
        del memo
        return fn(*args, **kwargs)
    return call


def run_sample(ctx, sample, kind, tfn, ofn, dtname, do_grad, random_op, call_seconds, family=""):
    torch, engine = ctx.torch, ctx.engine
    inplace = kind == "inplace"
    memo = {}
    if kind != "func" and not isinstance(sample.input, torch.Tensor):
        return "skip method on a non-tensor", None  # torch's method tests skip these too
    try:
        # torch runs on fresh contiguous leaves, as ours gets (torch returns no gradient for some of
        # OpInfo's noncontiguous views, for instance an expanded leaf)
        tmemo = {}
        t_input = fresh(sample.input, tmemo, torch, not inplace)
        t_args = fresh(list(sample.args), tmemo, torch, not inplace)
        t_kwargs = fresh(dict(sample.kwargs), tmemo, torch, not inplace)
        sample = types.SimpleNamespace(input=t_input, args=t_args, kwargs=t_kwargs,
                                       output_process_fn_grad=sample.output_process_fn_grad)
        ctx.dropped.clear()
        o_input = ctx.convert(t_input, memo, not inplace)
        o_args = ctx.convert(list(t_args), memo, not inplace)
        o_kwargs = ctx.convert(dict(t_kwargs), memo, not inplace)
    except Skip as e:
        return "skip " + str(e), None
    except Unconvertible as e:
        return "unconvertible", f"no counterpart for {e}"
    except Missing as e:
        return "missing", str(e)
    except Exception as e:
        return "skip conversion", exc_text(e)
    # torch first, on its own objects
    t_exc = None
    grad_ctx = torch.no_grad() if inplace else contextlib.nullcontext()
    try:
        with warnings.catch_warnings(), grad_ctx:
            warnings.simplefilter("ignore")
            if random_op:
                torch.manual_seed(42)
            t_out = tfn(t_input, *t_args, **t_kwargs)
    except Exception as e:
        t_exc = e
    if ctx.gradgrad and not ctx.gradgrad_float and dtname == "float64" and (
            t_exc is not None or not _has_complex(ctx, sample, t_out)):
        return "skip real sample (--gradgrad complex only)", None
    o_exc = None
    try:
        with warnings.catch_warnings(), (engine.no_grad() if inplace else contextlib.nullcontext()), \
                time_limit(call_seconds):
            warnings.simplefilter("ignore")
            call = _through_intermediates(ctx, ofn) if ctx.intermediates else ofn
            o_out = call(o_input, *o_args, **o_kwargs)
    except Timeout as e:
        return "timeout", exc_text(e)
    except Exception as e:
        o_exc = e
    if t_exc is not None:
        if o_exc is None:
            return "torch_raised", f"torch raised {exc_text(t_exc)}; ours returned"
        return "pass", None
    if o_exc is not None:
        if is_missing_exc(o_exc):
            return "missing", exc_text(o_exc)
        return "ours_raised", exc_text(o_exc)
    try:
        r = compare(ctx, o_out, t_out, dtname, values=not random_op)
        if r is not None and r[0] == "value":
            if ties_only(ctx, o_out, t_out, t_input, dtname):
                return "pass_ties", r[1]
            if dtname in ("float32", "complex64") and within_float32_noise(ctx, tfn, sample, o_out, t_out):
                return "pass_precision", r[1]
            process = sample.output_process_fn_grad
            if isinstance(process, types.FunctionType) and process.__code__.co_code != identity.__code__.co_code \
                    and "linalg" in family:
                if compare(ctx, ctx.patch(process)(o_out), process(t_out), dtname) is None:
                    return "pass_gauge", r[1]
        if r is None and inplace:
            if isinstance(t_out, torch.Tensor) and o_out is not o_input:
                r = ("structure", "in-place variant did not return its input")
            elif isinstance(t_input, torch.Tensor) and isinstance(o_input, ctx.Tensor):
                r = compare(ctx, o_input, t_input, dtname, values=not random_op, path="mutated input")
        if r is None and do_grad and not random_op:
            process = sample.output_process_fn_grad or identity
            o_process = ctx.patch(process) if isinstance(process, types.FunctionType) and process is not identity \
                else process
            with time_limit(call_seconds):
                run = run_gradgrad if ctx.gradgrad else run_grad
                r = run(ctx, sample, t_out, o_out, memo, process, o_process)
    except Skip as e:
        return "skip " + str(e), None
    except Timeout as e:
        return "timeout", exc_text(e)
    except Exception as e:
        if is_missing_exc(e):
            return "missing", "while comparing/grad: " + exc_text(e)
        return ("grad" if do_grad else "structure"), "comparison/grad raised " + exc_text(e)
    if r is None:
        return "pass", None
    return r


def run_errors(ctx, op, rep, live, limit, call_seconds, t0, op_seconds):
    torch = ctx.torch
    kind = "func" if "func" in live else "method"
    tfn, ofn, label = live[kind]
    if getattr(op, "error_inputs_func", None) is None:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            errs = list(op.error_inputs(torch.device("cpu")))[:limit]
    except Exception as e:
        if not isinstance(e, NotImplementedError):
            rep.notes.append(f"error_inputs raised {exc_text(e)}")
        return
    for ei in errs:
        if time.monotonic() - t0 > op_seconds:
            break
        s = ei.sample_input
        if (kind == "method" or op.name.startswith("__")) and not isinstance(s.input, torch.Tensor):
            rep.skip("error_input method on a non-tensor")
            continue
        memo = {}
        try:
            o_in = ctx.convert(s.input, memo)
            o_args = ctx.convert(list(s.args), memo)
            o_kwargs = ctx.convert(dict(s.kwargs), memo)
        except (Skip, Unconvertible, Missing, Exception):
            rep.skip("error_input")
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tfn(s.input, *s.args, **s.kwargs)
            rep.skip("error_input torch did not raise")
            continue
        except Exception as e:
            t_exc = e
        try:
            with warnings.catch_warnings(), time_limit(call_seconds):
                warnings.simplefilter("ignore")
                ofn(o_in, *o_args, **o_kwargs)
        except Timeout:
            rep.add("timeout", {"variant": "error_inputs", "dtype": "-", "call": sample_repr(label, s, torch),
                                "error": "timeout"})
            continue
        except Exception as e:
            texp = type(t_exc)
            if isinstance(e, texp) or type(e).__name__ == texp.__name__:
                rep.add("error_pass")
            else:
                rep.add("error_type", {"variant": "error_inputs", "dtype": "-", "call": sample_repr(label, s, torch),
                                       "error": f"torch {exc_text(t_exc)} | ours {exc_text(e)}"})
            continue
        rep.add("error_no_raise", {"variant": "error_inputs", "dtype": "-", "call": sample_repr(label, s, torch),
                                   "error": f"torch {exc_text(t_exc)} | ours returned"})


# ----------------------------------------------------------------------------------------------
# main


def load(ops_filter):
    try:
        import torch
    except ImportError:
        return None, None, "torch is not installed"
    try:
        import expecttest  # noqa: F401
    except ImportError:
        import unittest

        stub = types.ModuleType("expecttest")
        stub.TestCase = unittest.TestCase
        sys.modules["expecttest"] = stub
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torch.testing._internal.common_methods_invocations import op_db
    except Exception as e:
        return None, None, f"torch's op_db did not import: {exc_text(e)}"
    ops = [o for o in op_db if not ops_filter or o.name in ops_filter
           or f"{o.name}.{o.variant_test_name}" in ops_filter]
    return torch, ops, None


def summarize(reports):
    fam = {f: {"ops": 0, "skipped_ops": 0, "covered": 0, "func_missing": 0, "method_missing": 0,
               "inplace_missing": 0, "all_missing": 0, "passed": 0, "failed": 0, "failing_ops": 0,
               "error_checks": 0, "error_failed": 0} for f in FAMILIES}
    for r in reports:
        s = fam[r.family]
        s["ops"] += 1
        if r.skipped.get("op"):
            s["skipped_ops"] += 1
            continue
        present = [k for k in r.variants if k not in r.missing]
        if present:
            s["covered"] += 1
        elif r.variants:
            s["all_missing"] += 1
        for k in ("func", "method", "inplace"):
            if k in r.missing:
                s[f"{k}_missing"] += 1
        err_fail = sum(r.counts.get(k, 0) for k in ("error_no_raise", "error_type"))
        s["error_checks"] += err_fail + r.counts.get("error_pass", 0)
        s["error_failed"] += err_fail
        s["passed"] += r.n_pass
        s["failed"] += r.n_fail - err_fail
        if r.n_fail:
            s["failing_ops"] += 1
    return fam


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ops", default="", help="comma-separated OpInfo names (name or name.variant)")
    p.add_argument("--dtypes", default=",".join(DTYPE_NAMES))
    p.add_argument("--json", default="")
    p.add_argument("--limit-samples", type=int, default=12)
    p.add_argument("--op-seconds", type=float, default=20.0, help="stop an op's remaining samples after this")
    p.add_argument("--call-seconds", type=float, default=10.0, help="one call of ours longer than this: timeout")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--gradgrad", action="store_true",
                   help="ops whose OpInfo supports gradgrad: compare second derivatives (float64; with "
                        "--dtypes complex128, complex inputs and complex outputs of float64 inputs)")
    p.add_argument("--intermediates", action="store_true",
                   help="our op's float inputs are intermediates (input * 1) freed after the call")
    a = p.parse_args(argv)
    ops_filter = {s.strip() for s in a.ops.split(",") if s.strip()}
    torch, ops, why = load(ops_filter)
    if torch is None:
        print(f"opinfo_sweep: skipped ({why})")
        return 0
    import engine

    torch.set_num_threads(1)
    np.seterr(all="ignore")
    ctx = Ctx(torch, engine)
    ctx.gradgrad, ctx.intermediates = a.gradgrad, a.intermediates
    dtypes = [d.strip() for d in a.dtypes.split(",") if d.strip()]
    if a.gradgrad:
        # float64 unless complex128 is asked for: complex128 samples, then the float64 samples with a
        # complex output (the rest of float64 too when it is asked for as well); other dtypes are not compared
        ctx.gradgrad_complex = "complex128" in dtypes
        ctx.gradgrad_float = "float64" in dtypes or not ctx.gradgrad_complex
        dtypes = ["complex128", "float64"] if ctx.gradgrad_complex else ["float64"]
    reports = []
    start = time.monotonic()
    for i, op in enumerate(ops):
        try:
            rep = run_op(ctx, op, dtypes, a.limit_samples, a.op_seconds, a.call_seconds)
        except Exception as e:  # the sweep goes on whatever one op does
            rep = OpReport(op, "other")
            rep.notes.append(f"harness error: {exc_text(e)}")
        reports.append(rep)
        if not a.quiet:
            print(f"[{i + 1}/{len(ops)} {time.monotonic() - start:6.0f}s] {rep.name:45s} pass {rep.n_pass:3d} "
                  f"fail {rep.n_fail:3d} {'MISSING ' + ','.join(rep.missing) if rep.missing else ''}",
                  file=sys.stderr, flush=True)
    fam = summarize(reports)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"torch": torch.__version__, "dtypes": dtypes, "limit_samples": a.limit_samples,
                       "families": fam, "ops": {r.name: r.as_json() for r in reports}}, f, indent=1)
    print("ops: OpInfos; cov: with at least one variant of ours; miss: with none; pass/fail: samples x variants;")
    print("failing ops: ops with a failure; err ok/all: error_inputs where ours raises torch's exception type")
    print(f"{'family':20s} {'ops':>4s} {'cov':>4s} {'miss':>4s} {'pass':>6s} {'fail':>6s} {'failing ops':>11s} "
          f"{'err ok/all':>10s}")
    for name, s in fam.items():
        if not s["ops"]:
            continue
        print(f"{name:20s} {s['ops']:4d} {s['covered']:4d} {s['all_missing']:4d} "
              f"{s['passed']:6d} {s['failed']:6d} {s['failing_ops']:11d} "
              f"{s['error_checks'] - s['error_failed']:4d}/{s['error_checks']:<5d}")
    print()
    for r in sorted(reports, key=lambda r: -r.n_fail):
        if not r.n_fail and not r.missing:
            continue
        cls = ", ".join(f"{k} {v}" for k, v in sorted(r.counts.items()) if k in FAIL_CLASSES)
        miss = f" MISSING {','.join(r.missing)}" if r.missing else ""
        print(f"{r.family:18s} {r.name:45s} fail {r.n_fail:3d} pass {r.n_pass:3d}{miss}  {cls}")
    total_fail = sum(s["failed"] for s in fam.values())
    total_pass = sum(s["passed"] for s in fam.values())
    print(f"\n{len(reports)} OpInfos, {total_pass} samples passed, {total_fail} failed "
          f"({time.monotonic() - start:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
