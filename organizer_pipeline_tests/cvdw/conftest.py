"""CVDW test fixtures: the simulator on loopback and a fast client (no rate limit, millisecond retries)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

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
