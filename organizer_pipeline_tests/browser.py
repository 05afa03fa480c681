"""Headless Chromium for the tests that look at a page as a person would (skipped where none is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from organizer_pipeline.settings import PROJECT_ROOT

ARTIFACTS = PROJECT_ROOT / "test-artifacts"  # screenshots to look at (git-ignored)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium installed (apt-get install -y chromium)"
)


def chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def screenshot(url: str, name: str, tmp_path: Path, size: str = "1400,1800") -> Path:
    """A PNG of the page under test-artifacts/, checked to be a real picture."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    shot.unlink(missing_ok=True)
    result = chromium([f"--screenshot={shot}", f"--window-size={size}", url], tmp_path)
    assert result.returncode == 0 and shot.stat().st_size > 20_000, result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return shot
