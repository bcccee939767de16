"""``make demo`` in a short mode: real hub, three real edge services, fault proxies and an
agency process; its own verification must pass and nothing may be left running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_short_demo_verifies_and_cleans_up(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--duration", "12", "--plain", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "verification passed" in result.stdout
    for center in ("arish", "sharm", "aswan"):
        assert f"{center} " in result.stdout
        assert (data_dir / f"edge-{center}" / "edge.db").exists()
    leftover = subprocess.run(
        ["pgrep", "-f", str(data_dir)], capture_output=True, text=True, check=False
    )
    assert leftover.stdout.strip() == "", f"processes left running: {leftover.stdout}"


def test_demo_refuses_to_wipe_a_directory_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--duration", "1", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "not a demo directory" in result.stderr
    assert (tmp_path / "precious.txt").read_text(encoding="utf-8") == "keep me"
