"""Fixtures of the dashboard and BI API tests: the web app on loopback, and the hand-computed KPI data."""

import pytest

from organizer_pipeline.db import urls
from organizer_pipeline.kpi import build
from organizer_pipeline.sandbox.server import serve_in_thread
from organizer_pipeline.web.app import create_app
from organizer_pipeline_tests.kpi import fixture


@pytest.fixture
def web(db_url):
    """Root URL of the web app serving the test's database."""
    with serve_in_thread(create_app(urls.render(db_url))) as root:
        yield root


@pytest.fixture
def filled(engine):
    """The hand-computed KPI fixture loaded and every kpi view built."""
    fixture.insert(engine)
    build.build_all(engine)
    return engine
