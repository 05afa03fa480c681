"""CVDW test fixtures: the simulator on loopback and a fast client (no rate limit, millisecond retries)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa

from organizer_pipeline import settings
from organizer_pipeline.db import urls
from organizer_pipeline.db.engine import ensure_database
from organizer_pipeline.resources.cvdw import CvdwClient
from organizer_pipeline.sandbox.cvdw import Simulator, create_app
from organizer_pipeline.sandbox.server import serve_in_thread

EMAIL, TOKEN = "sandbox@example.com", "sandbox-token"


def fast_client(base_url: str, **overrides) -> CvdwClient:
    settings = dict(
        base_url=base_url,
        email=EMAIL,
        token=TOKEN,
        max_requests_per_minute=0,
        retry_attempts=6,
        retry_base_delay_seconds=0.01,
        retry_max_delay_seconds=0.05,
        timeout_seconds=5,
    )
    return CvdwClient(**{**settings, **overrides})


@dataclass(frozen=True)
class Request:
    endpoint: str
    page: int
    since: str | None
    until: str | None
    status: int


class Recorder:
    """Wraps the simulator app: records every data request as the simulator answered it, and can make every
    request from the `fail_from`-th on fail with `fail_status` (a CVDW that breaks down mid-backfill)."""

    def __init__(self, app) -> None:
        self.app = app
        self.requests: list[Request] = []
        self.fail_from: int | None = None
        self.fail_status = 503

    def ok(self, endpoint: str | None = None) -> list[Request]:
        """Successful requests (of one endpoint)."""
        return [r for r in self.requests if r.status == 200 and endpoint in (None, r.endpoint)]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        query = parse_qs(scope["query_string"].decode())
        endpoint = scope["path"].removeprefix("/api/v1/cvdw/").strip("/")
        status = [0]

        def record(code: int) -> None:
            first = query.get("a_partir_data_referencia", [None])[0]
            last = query.get("ate_data_referencia", [None])[0]
            self.requests.append(Request(endpoint, int(query.get("pagina", ["0"])[0]), first, last, code))

        if self.fail_from is not None and len(self.requests) >= self.fail_from:
            record(self.fail_status)
            body = b'{"mensagem": "Erro inesperado (test)", "codigo": %d}' % self.fail_status
            await send({"type": "http.response.start", "status": self.fail_status,
                        "headers": [(b"content-type", b"application/json")]})  # fmt: skip
            await send({"type": "http.response.body", "body": body})
            return None

        async def watch(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        record(status[0])
        return None


@pytest.fixture
def recorded() -> Iterator[Callable[..., tuple[Simulator, str, Recorder]]]:
    """`recorded(**knobs)` -> (the simulator, its CVDW base URL, the request recorder); stopped after the
    test."""
    with contextlib.ExitStack() as stack:

        def start(**knobs) -> tuple[Simulator, str, Recorder]:
            knobs.setdefault("start", "2023-10-01")  # tests read fixed 2024 windows
            app = create_app(**knobs)
            recorder = Recorder(app)
            root = stack.enter_context(serve_in_thread(recorder))
            return app.state.simulator, f"{root}/api/v1/cvdw", recorder

        yield start


def dagster_cli(args: list[str], cwd: Path, **env: str) -> tuple[subprocess.CompletedProcess, sa.URL]:
    """Run this venv's `dagster` CLI as an operator would: DAGSTER_HOME = the project (its dagster.yaml), Dagster
    storage = the test's DAGSTER_PG_URL database. Returns the process and that database's URL."""
    dagster_url = urls.normalize(os.environ["DAGSTER_PG_URL"])
    ensure_database(dagster_url)
    root = settings.PROJECT_ROOT
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(root),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
        **env,
    }
    command = [str(Path(sys.executable).with_name("dagster")), *args]
    completed = subprocess.run(command, env=environment, cwd=cwd, capture_output=True, text=True, timeout=600)
    return completed, dagster_url


def run_count(dagster_url: sa.URL) -> int:
    with sa.create_engine(urls.render(dagster_url), poolclass=sa.pool.NullPool).connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM runs")).scalar_one()


@pytest.fixture
def simulator(recorded) -> Callable[..., tuple[Simulator, str]]:
    """`simulator(**knobs)` -> (the simulator, its CVDW base URL); stopped after the test."""

    def start(**knobs) -> tuple[Simulator, str]:
        sim, base_url, _ = recorded(**knobs)
        return sim, base_url

    return start
