"""The backend switch: NumPy unless the GPU is asked for, a helpful error when CuPy or a CUDA
device is missing, and no import of CuPy on the CPU path."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

import engine
from engine import Tensor, backend
from engine.backend import array_module, check_device, device_of, get_xp, scatter_add, to_device, to_numpy

ROOT = Path(__file__).resolve().parents[2]


def test_cpu_is_numpy():
    assert get_xp("cpu") is np
    a = np.ones(3)
    assert array_module(a) is np and device_of(a) == "cpu"
    assert to_device(a, "cpu") is a and to_numpy(a) is a
    assert Tensor([1.0]).device == "cpu" and type(Tensor([1.0])._data) is np.ndarray


def test_device_names():
    assert check_device("cpu") == "cpu" and check_device("gpu") == "gpu"
    assert check_device("cuda") == "gpu" and check_device("cuda:0") == "gpu"
    with pytest.raises(ValueError, match=r"(?s)'tpu'.*cpu.*gpu"):
        check_device("tpu")


def gpu_requests():
    return {
        "zeros": lambda: engine.zeros(2, device="gpu"),
        "ones": lambda: engine.ones(2, device="gpu"),
        "full": lambda: engine.full(2, 1.0, device="gpu"),
        "arange": lambda: engine.arange(3, device="gpu"),
        "randn": lambda: engine.randn(2, device="gpu"),
        "rand": lambda: engine.rand(2, device="gpu"),
        "constructor": lambda: Tensor([1.0, 2.0], device="gpu"),
        "to": lambda: Tensor([1.0], requires_grad=True).to("gpu"),
        "to_cuda_alias": lambda: Tensor([1.0]).to("cuda"),
        "zeros_like": lambda: engine.zeros_like(Tensor([1.0]), device="gpu"),
        "get_xp": lambda: get_xp("gpu"),
    }


@pytest.mark.parametrize("name", sorted(gpu_requests()))
def test_gpu_without_cupy_says_what_to_install(monkeypatch, name):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` now raises ImportError
    with pytest.raises(RuntimeError, match=r"(?s)CuPy.*pip install.*cupy-cuda12x"):
        gpu_requests()[name]()
    assert not engine.gpu_available()


def fake_cupy(get_device_count):
    """A stand-in module: CuPy installed, but the CUDA runtime answers ``get_device_count``."""
    cupy = types.ModuleType("cupy")
    cupy.ndarray = type("ndarray", (), {})
    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=get_device_count))
    return cupy


def no_driver():
    raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")


@pytest.mark.parametrize("count, why", [(no_driver, "no CUDA device"), (lambda: 0, "no CUDA device found")],
                         ids=["no_driver", "zero_devices"])
def test_gpu_without_a_cuda_device_says_what_to_install(monkeypatch, count, why):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(count))
    for request in (lambda: engine.zeros(2, device="gpu"), lambda: Tensor([1.0]).to("gpu")):
        with pytest.raises(RuntimeError, match=rf"(?s)pip install.*{why}"):
            request()
    assert not engine.gpu_available()
    # the CPU keeps working with such a module around
    x = Tensor(np.float32(2.0), requires_grad=True)
    (x * x).backward()
    assert x.grad.item() == 4.0 and x.device == "cpu"


def test_cpu_ops_work_while_cupy_is_blocked(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    x = Tensor(np.float32(3.0), requires_grad=True)  # a NumPy scalar, not an ndarray
    y = x * Tensor(np.float64(2.0)).astype(np.float32)
    y.backward()
    assert x.grad.item() == 2.0
    assert array_module(np.float32(1.0)) is np and device_of(np.float64(1.0)) == "cpu"


def test_nothing_imports_cupy_on_the_cpu_path(tmp_path):
    """Run CPU work in a fresh interpreter where an importable (fake) cupy is first on the path:
    if anything imports it, it lands in sys.modules."""
    for name in ("cupy", "cupyx"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import engine, engine.functional as F
        assert engine.backend.__name__ == "engine.backend"
        assert "cupy" not in sys.modules, "import engine imported cupy"
        engine.manual_seed(0)
        x = engine.randn(4, 8, requires_grad=True)
        w = engine.rand(8, 8, requires_grad=True)
        ids = np.array([[0, 1, 1, 2]])
        h = F.embedding(ids, w)[0] + x
        h = F.layer_norm(F.gelu(h, approximate="none"), h.shape[-1:])
        h = F.dropout(F.softmax(h @ w), 0.1)
        q = h.reshape(1, 4, 8)
        h = F.scaled_dot_product_attention(q, q, q, is_causal=True).reshape(4, 8)
        loss = F.cross_entropy(h, np.array([1, 2, 3, 0])) + h.to("cpu").sum() * 0.0
        loss.backward()
        assert x.grad is not None and w.grad is not None
        engine.gradcheck(lambda t: (t * t).sum(), engine.Tensor(np.ones(2), requires_grad=True))
        print("cupy" in sys.modules, "cupyx" in sys.modules)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"], "the CPU path imported cupy/cupyx"


def test_scatter_add_sums_duplicate_indices():
    target = np.zeros(4)
    scatter_add(target, np.array([0, 2, 2, 2, 3]), np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    np.testing.assert_array_equal(target, [1.0, 0.0, 9.0, 5.0])


def test_erf_matches_math_erf():
    x = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(backend.erf(x), [math.erf(v) for v in x], rtol=1e-12, atol=1e-15)
    assert backend.erf(x.astype(np.float32)).dtype == np.float32


@pytest.mark.gpu
@pytest.mark.skipif(not engine.gpu_available(), reason="no CUDA device")
def test_gpu_arrays_round_trip():
    import cupy

    x = Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), device="gpu")
    assert isinstance(x._data, cupy.ndarray) and array_module(x._data) is cupy and x.device == "gpu"
    assert isinstance(x.numpy(), np.ndarray)
    np.testing.assert_array_equal(to_numpy(to_device(x._data, "gpu")), np.arange(6).reshape(2, 3))
    y = x.to("cpu")
    assert type(y._data) is np.ndarray
    assert (x * 2).device == "gpu" and (x.sum()).device == "gpu"


FAULTS_SCRIPT = textwrap.dedent(
    """
    import os
    import resource
    import numpy as np
    import engine  # importing tunes nothing: engine.tune_cpu() does

    if os.environ["TUNE"]:
        engine.tune_cpu()

    def step():  # like a training step: many 1 MiB temporaries alive at once, then all freed
        arrays = [np.ones(1 << 18, dtype=np.float32) for _ in range(16)]
        return sum(float(a[::1024].sum()) for a in arrays)

    step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        step()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


@pytest.mark.skipif(not (sys.platform.startswith("linux") and backend.keep_freed_memory()), reason="glibc only")
def test_freed_array_memory_is_reused_without_page_faults():
    def faults(tune):
        env = dict(os.environ, TUNE=tune, PYTHONPATH=str(ROOT))
        out = subprocess.run([sys.executable, "-c", FAULTS_SCRIPT], env=env, capture_output=True, text=True, check=True)
        return int(out.stdout)

    # 20 steps of 16 MiB: 4096 pages each when the freed memory goes back to the OS, none when reused.
    assert faults("") > 20 * 4096 // 2  # import engine alone leaves malloc as it was
    assert faults("1") < 4096


@pytest.mark.parametrize("index", [[2, 0, 2, 1, 2], [-1, 2, 0, -3, 0], [], [1]])
def test_scatter_add_rows_equals_add_at(index):
    rng = np.random.default_rng(0)
    index = np.array(index, dtype=np.int64)
    values = rng.standard_normal((len(index), 4))
    target = rng.standard_normal((3, 4))
    expected = target.copy()
    np.add.at(expected, index, values)
    scatter_add(target, index, values)
    np.testing.assert_allclose(target, expected, rtol=1e-12, atol=1e-12)
