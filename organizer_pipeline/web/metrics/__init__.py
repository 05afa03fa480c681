"""GET /metrics: Prometheus metrics of the web app, summed over every uvicorn worker.

prometheus-client's multiprocess mode keeps each worker's counters in files under PROMETHEUS_MULTIPROC_DIR
and adds them up at scrape time. The directory must be set before prometheus_client is first imported (it
picks its value store then) and emptied at start (a previous run's files would be counted again), so
`organizer web` — and `organizer up`, which starts it — calls `multiprocess_dir()` first. This module does
not import prometheus_client for that reason; `instruments` and `endpoint` do.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def multiprocess_dir(port: int) -> Iterator[Path]:
    """PROMETHEUS_MULTIPROC_DIR for this web app: the operator's (e.g. a Kubernetes emptyDir) or one under
    the state dir per port; emptied now, and removed at exit when it was ours."""
    from organizer_pipeline import settings

    given = os.environ.get(ENV)
    path = Path(given) if given else settings.STATE_DIR / "prometheus" / f"web-{port}"

    def clean_up() -> None:
        if given:
            for leftover in path.glob("*.db"):
                leftover.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)
            os.environ.pop(ENV, None)

    def exit_on_sigterm(signum: int, frame: object) -> None:
        # uvicorn re-raises the SIGTERM it shut down on, and one may also come before uvicorn took over the
        # signals: with the default handler the process would die without the clean-up. Raising SystemExit
        # here is not enough: it can land in a weakref callback or __del__, where Python ignores it and the
        # server then runs on. So: clean up and leave now, with the status SIGTERM gives (143).
        clean_up()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_on_sigterm)  # first: nothing is left, whenever it comes
    try:
        if path.exists():
            for stale in path.glob("*.db"):
                stale.unlink()
        path.mkdir(parents=True, exist_ok=True)
        os.environ[ENV] = str(path)
        yield path
    finally:
        signal.signal(signal.SIGTERM, previous)
        clean_up()
