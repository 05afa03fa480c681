"""Waiting for a server we started (a subprocess) to answer over HTTP."""

from __future__ import annotations

import subprocess
import time

import requests


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
