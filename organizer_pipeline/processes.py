"""Our own command line as a subprocess, and waiting for a server we started to answer over HTTP."""

from __future__ import annotations

import subprocess
import sys
import time

import requests


def organizer_command(*args: str) -> list[str]:
    """`organizer ARGS…` for a subprocess: this interpreter and package, whatever is on PATH."""
    return [sys.executable, "-m", "organizer_pipeline.cli", *args]


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> bool:
    """True once `url` answers below 500; False on timeout or when `process` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return True
        except requests.RequestException:
            pass
        if process is not None and process.poll() is not None:
            return False
        time.sleep(0.2)
    return False
