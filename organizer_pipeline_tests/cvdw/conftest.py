"""CVDW test fixtures: the simulator on loopback and a fast client (no rate limit, millisecond retries)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

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


@pytest.fixture
def simulator() -> Iterator[Callable[..., tuple[Simulator, str]]]:
    """`simulator(**knobs)` -> (the simulator, its CVDW base URL); stopped after the test."""
    with contextlib.ExitStack() as stack:

        def start(**knobs) -> tuple[Simulator, str]:
            knobs.setdefault("start", "2023-10-01")  # tests read fixed 2024 windows
            app = create_app(**knobs)
            root = stack.enter_context(serve_in_thread(app))
            return app.state.simulator, f"{root}/api/v1/cvdw"

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
    completed = subprocess.run(command, env=environment, cwd=cwd, capture_output=True, text=True, timeout=240)
    return completed, dagster_url


def run_count(dagster_url: sa.URL) -> int:
    with sa.create_engine(urls.render(dagster_url), poolclass=sa.pool.NullPool).connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM runs")).scalar_one()
