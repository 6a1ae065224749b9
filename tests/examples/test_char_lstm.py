"""examples/char_lstm.py runs as a script from a clone: a few steps lower the loss, a sample is
printed and the loss curve is written."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("tqdm")
pytest.importorskip("matplotlib")

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "char_lstm.py"


def test_char_lstm_short_run(tmp_path):
    # Run from elsewhere with a clean PYTHONPATH: the script must find the repo on its own.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    png = tmp_path / "curve.png"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--iters", "25", "--hidden", "64", "--emb", "16", "--seq_len", "32",
         "--batch_size", "16", "--lr", "1e-2", "--eval_interval", "10", "--eval_batches", "2",
         "--sample_len", "40", "--out", str(png)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "step" in proc.stderr  # the tqdm progress bar
    m = re.search(r"trained 25 steps .* train loss ([0-9.]+), val loss ([0-9.]+)", proc.stdout)
    assert m, proc.stdout
    # A uniform guess over the 80 characters costs ln 80 = 4.38 nats; 25 steps learn the frequencies.
    assert float(m.group(2)) < 3.9 and float(m.group(1)) < 3.9
    sample = proc.stdout.split("sample:\n", 1)[1]
    assert sample.startswith("ROMEO:\n") and len(sample.rstrip("\n")) >= len("ROMEO:\n") + 30
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
