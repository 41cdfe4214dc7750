"""`tidings demo` (what `make demo` runs): stories and Quick Alerts arrive in the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_shows_stories_and_quick_alerts_arriving(tmp_path: Path) -> None:
    env = {**os.environ, "TIDINGS_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    env.pop("TIDINGS_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "tidings", "demo", "--site-port", "0", "--duration", "12",
         "--publish-every", "1"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Demo news site at http://127.0.0.1:" in out
    assert "reader@demo.tidings.invalid" in out
    assert out.count("\nstory ") >= 20
    assert "Syrian dictator Bashar al-Assad to meet Kim Jong-un in North Korea" in out
    assert "also reported by" in out
    assert 'Quick Alert (quick) matched "kim jong un"' in out
    assert (tmp_path / "data" / "tidings.db").exists()
