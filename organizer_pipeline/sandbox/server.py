"""Serve an ASGI app on loopback, in a thread (tests) or in the foreground (`organizer sandbox serve`)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@contextmanager
def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0, lifespan: str = "off") -> Iterator[str]:
    """Yields the root URL (http://127.0.0.1:PORT) while the app serves; stops it on exit. `lifespan="on"`
    runs the app's startup/shutdown (the web app's /mcp needs it)."""
    sock = _bind(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the simulator did not start within 10 s")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve_forever(app, host: str, port: int, name: str = "simulator") -> None:
    """Serve until stopped, after printing the URL (port 0: a free one, so the URL is the only way to know)."""
    sock = _bind(host, port)
    print(f"{name}: http://{host}:{sock.getsockname()[1]}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
