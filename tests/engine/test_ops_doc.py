"""docs/ops.md is generated from the registry and the public API: it must match the code."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ops_page_is_in_step_with_the_code():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "ops_doc.py"), "--check"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr + "\nregenerate it: python scripts/ops_doc.py"


def test_every_registered_op_is_listed():
    from engine.function import Function

    page = (ROOT / "docs" / "ops.md").read_text()
    for name, cls in Function.registry.items():
        if cls.__module__.startswith("engine.") and not name.startswith("_"):
            assert f"| `{name}` |" in page, name
