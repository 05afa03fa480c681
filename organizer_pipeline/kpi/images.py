"""PNG export of a Plotly figure (a plain figure dict) for Dagster metadata, via kaleido >= 1.0 and a local Chromium.

The kaleido sync server is started once per process (~0.3 s per image afterwards instead of ~3 s). Anything
missing — kaleido, a browser — or failing gives `None` and a note: an image is never worth a failed run.
"""

from __future__ import annotations

import atexit
import base64
import concurrent.futures
import importlib.metadata
import logging
import threading
from collections.abc import Callable
from typing import Any

TIMEOUT_SECONDS = 60
_lock = threading.Lock()
_server_started = False


def find_browser() -> str | None:
    """The Chromium kaleido would use (BROWSER_PATH, PATH, typical places, or one it downloaded)."""
    try:
        from choreographer.browsers.chromium import Chromium
    except ImportError:
        return None
    return Chromium.find_browser(skip_local=False)


def _start_server() -> None:
    global _server_started
    import kaleido

    with _lock:
        if not _server_started:
            # Its browser wrapper logs INFO from __del__ at interpreter exit, after logging has shut down.
            for name in ("choreographer", "logistro", "kaleido"):
                logging.getLogger(name).setLevel(logging.WARNING)
            kaleido.start_sync_server(silence_warnings=True)
            atexit.register(kaleido.stop_sync_server, silence_warnings=True)
            _server_started = True


def _render(fig: dict[str, Any], width: int, height: int) -> bytes:
    import kaleido

    _start_server()
    opts = {"format": "png", "width": width, "height": height, "scale": 1}
    return kaleido.calc_fig_sync(fig, opts=opts)


def png(
    fig: dict[str, Any], width: int = 900, height: int = 420, browser: Callable[[], str | None] = find_browser
) -> tuple[bytes | None, str]:
    """(PNG bytes, "") or (None, why there is no image)."""
    try:
        version = importlib.metadata.version("kaleido")
    except importlib.metadata.PackageNotFoundError:
        return None, "no image: kaleido is not installed (pip install 'kaleido>=1')"
    if int(version.split(".")[0]) < 1:
        return None, f"no image: kaleido {version} found, >= 1.0 is needed with plotly 7"
    if not browser():
        return None, "no image: no Chromium found (apt-get install -y chromium, or set BROWSER_PATH)"
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(_render, fig, width, height).result(timeout=TIMEOUT_SECONDS), ""
    except concurrent.futures.TimeoutError:
        return None, f"no image: kaleido did not answer within {TIMEOUT_SECONDS} s"
    except Exception as error:  # noqa: BLE001 - an image must never fail the run
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return None, f"no image: export failed ({first[:200]})"
    finally:
        pool.shutdown(wait=False)


def markdown_image(image: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(image).decode()})"
