#!/usr/bin/env python3
"""Compile every CUDA kernel of engine/kernels/cuda/ with NVRTC for sm_90: no GPU needed, only
CuPy's NVRTC bindings (``pip install cupy-cuda12x nvidia-cuda-nvrtc-cu12``).

    python scripts/nvrtc_check.py      # exit status 0 when every source compiles
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.kernels.cuda import ELEMENTWISE, elementwise_source, flash_config, source  # noqa: E402

_C_TYPES = {"float32": "float", "float16": "float", "bool": "bool", "int64": "long long", "int32": "int", "T": "float"}


def elementwise_check_source(name: str, in_params: str, out_params: str, body: str) -> str:
    """A standalone kernel wrapping an ElementwiseKernel body (T = float, i = 0) so NVRTC can check it."""
    decls = []
    for spec in (in_params + ", " + out_params).split(","):
        typ, var = spec.split()
        decls.append(f"{_C_TYPES[typ]} {var} = ({_C_TYPES[typ]})_seed[0];")
    outs = [spec.split()[1] for spec in out_params.split(",")]
    return ("typedef float T;\n"
            f'extern "C" __global__ void {name}(const float* _seed, float* _out) {{\n'
            "    long long i = threadIdx.x;\n    " + "\n    ".join(decls) + "\n    {" + body + "}\n"
            + "".join(f"    _out[{j}] = (float){o};\n" for j, o in enumerate(outs)) + "}\n")


def compile_all(arch: str = "compute_90", head_dims=(4, 8, 16, 32, 64, 96, 128)) -> list[str]:
    """Compile every kernel source (both dtypes, several head dims) with NVRTC; returns a list of
    'name: log' failures (empty when all compile)."""
    from cupy.cuda import nvrtc

    sources: list[tuple[str, str]] = []
    for half in (False, True):
        sources.append((f"rows half={half}", source("rows.cu", half)))
        for hd in head_dims:
            sources.append((f"flash HD={hd} half={half}", source("flash.cu", half, tuple(flash_config(hd).items()))))
    for name in ELEMENTWISE:
        sources.append((name, elementwise_check_source(name, *elementwise_source(name))))
    failures = []
    for label, src in sources:
        prog = nvrtc.createProgram(src, "tg_check.cu", [], [])
        try:
            nvrtc.compileProgram(prog, [f"-arch={arch}"])
        except Exception as e:  # NVRTCError carries the status; the log says why
            failures.append(f"{label}: {e}\n{nvrtc.getProgramLog(prog)}")
        finally:
            nvrtc.destroyProgram(prog)
    return failures


def main() -> int:
    failures = compile_all()
    for f in failures:
        print(f)
    print("all kernels compile" if not failures else f"{len(failures)} kernel sources failed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
