"""examples/mlp_digits.py runs as a script from a clone and learns the digits."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("tqdm")

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "mlp_digits.py"


def test_mlp_digits_learns(tmp_path):
    # Run from elsewhere with a clean PYTHONPATH: the script must find the repo on its own.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--epochs", "5", "--seed", "0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    match = re.search(r"test accuracy: ([0-9.]+)", proc.stdout)
    assert match, proc.stdout
    assert float(match.group(1)) > 0.9
    assert "training" in proc.stderr  # the tqdm progress bar
