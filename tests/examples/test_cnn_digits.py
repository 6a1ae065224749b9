"""examples/cnn_digits.py runs as a script from a clone, learns the digits in two epochs, and draws its curve."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("tqdm")
pytest.importorskip("matplotlib")

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "cnn_digits.py"


def test_cnn_digits_learns_and_writes_its_curve(tmp_path):
    # Run from elsewhere with a clean PYTHONPATH: the script must find the repo on its own.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--epochs", "2", "--seed", "0", "--out", str(tmp_path / "run")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    match = re.search(r"test accuracy: ([0-9.]+)", proc.stdout)
    assert match, proc.stdout
    assert float(match.group(1)) > 0.8  # chance is 0.1; two epochs reach ~0.95
    assert "training" in proc.stderr  # the tqdm progress bar
    png = tmp_path / "run" / "cnn_digits.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cnn_digits_names_a_missing_extra_in_one_line(tmp_path):
    # A sitecustomize that hides scikit-learn, as on an install without the examples extra.
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nclass _Hide:\n    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'sklearn' or name.startswith('sklearn.'):\n"
        "            raise ModuleNotFoundError(f\"No module named '{name}'\", name=name)\n"
        "sys.meta_path.insert(0, _Hide())\n")
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--epochs", "1", "--out", str(tmp_path / "run")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "scikit-learn" in lines[0] and "examples" in lines[0], proc.stderr
