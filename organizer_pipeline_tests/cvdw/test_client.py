"""The CVDW client against the simulator over real HTTP: paging quirks, errors, limits."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from organizer_pipeline.errors import ConfigError
from organizer_pipeline.resources.cvdw import CvdwClient, decode_envelope
from organizer_pipeline.resources.http import ApiBadRequest, ApiUnavailable
from organizer_pipeline.resources.shared_limit import SharedRateLimiter
from organizer_pipeline_tests.calls import max_in_window
from organizer_pipeline_tests.cvdw.conftest import fast_client

JAN, FEB = datetime(2024, 1, 1), datetime(2024, 2, 29, 23, 59, 59)


def test_pages_are_streamed_one_request_at_a_time(simulator):
    sim, base_url = simulator(n_reservas=3000)
    api = fast_client(base_url).get_api()
    pages = api.iter_pages("/reservas", since=JAN, until=FEB)
    first = next(pages)
    assert api.stats.calls == 1 and len(first.rows) == 500  # nothing fetched ahead by the client itself
    rest = list(pages)
    want = sim.dataset.rows("reservas", "2024-01-01 00:00:00", "2024-02-29 23:59:59")
    assert [r["referencia"] for p in (first, *rest) for r in p.rows] == [r["referencia"] for r in want]
    assert api.stats.calls == 1 + len(rest) == first.total_pages


def test_string_pagina_and_zero_totals_with_rows(simulator):
    sim, base_url = simulator(n_reservas=3000, zero_totals=True)
    api = fast_client(base_url).get_api()
    pages = list(api.iter_pages("/comissoes", since=JAN, until=FEB))  # comissoes answers pagina as "1"
    want = sim.dataset.rows("comissoes", "2024-01-01 00:00:00", "2024-02-29 23:59:59")
    assert sum(len(p.rows) for p in pages) == len(want)
    assert len(pages[-1].rows) < 500  # stopped on the first short page
    assert decode_envelope({"pagina": "2", "total_de_paginas": "3", "dados": []}).number == 2
    assert decode_envelope({"Response": "Too many requests"}) is None
    assert decode_envelope({"dados": ["not an object"]}) is None


def test_empty_window_as_204(simulator):
    _, base_url = simulator(empty_status=204)
    pages = list(
        fast_client(base_url)
        .get_api()
        .iter_pages("/reservas", since=datetime(2010, 1, 1), until=datetime(2010, 2, 1))
    )
    assert len(pages) == 1 and pages[0].rows == [] and pages[0].total_pages == 0


def test_bad_request_carries_the_apis_message(simulator):
    _, base_url = simulator()
    api = fast_client(base_url).get_api()
    with pytest.raises(ApiBadRequest, match="O campo a_partir_data_referencia não é válido"):
        api.request(
            "GET", "/reservas", params={"pagina": 1, "a_partir_data_referencia": "0000-00-00 00:00:00"}
        )
    assert api.stats.calls == 1  # a 400 is final: no retry


def test_retries_give_up_with_a_clear_error(simulator):
    _, base_url = simulator(error_every=1)
    api = fast_client(base_url, retry_attempts=3).get_api()
    with pytest.raises(ApiUnavailable, match="after 3 attempts .*HTTP 503"):
        api.get_page("/reservas", 1)
    assert api.stats.calls == 3 and api.stats.retries == 2


def test_client_side_rate_limit_keeps_n_per_window(simulator, db_url):
    sim, base_url = simulator()
    # 3 per 0.5 s: the scaled-down "minute" (the real one: test_one_limit.py)
    api = fast_client(base_url, max_requests_per_minute=3, rate_limit_window_seconds=0.5).get_api()
    started = time.monotonic()
    for _ in range(6):
        api.get_page("/unidades", 1, page_size=1)
    assert time.monotonic() - started >= 0.5
    assert api.stats.rate_limit_wait_seconds >= 0.45
    assert max_in_window([start for start, _, _ in sim.calls], 0.5) <= 3


def test_missing_credentials_and_base_url_name_the_variables(monkeypatch):
    for name in ("CVCRM_API_EMAIL", "CVCRM_API_TOKEN", "CVDW_BASE_URL", "CVCRM_SUBDOMAIN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="CVCRM_API_EMAIL / CVCRM_API_TOKEN"):
        CvdwClient(base_url="http://127.0.0.1:1").get_api()
    with pytest.raises(ConfigError, match="CVDW_BASE_URL or CVCRM_SUBDOMAIN"):
        CvdwClient(email="a@b.c", token="t").get_api()
    monkeypatch.setenv("CVCRM_SUBDOMAIN", "acme")
    monkeypatch.setenv("CVDW_MAX_REQUESTS_PER_MINUTE", "20")
    monkeypatch.delenv("DATABASE_URL", raising=False)  # building a client needs no database
    api = CvdwClient(email="a@b.c", token="t").get_api()
    assert api.base_url == "https://acme.cvcrm.com.br/api/v1/cvdw"
    assert isinstance(api.limiter, SharedRateLimiter) and api.limiter.key == "cvdw:acme.cvcrm.com.br"
    assert (api.limiter.capacity, api.limiter.window) == (20, pytest.approx(60.0))
    assert api.session.headers["email"] == "a@b.c" and api.session.headers["token"] == "t"


def cli_environment(monkeypatch, base_url: str, rate: int) -> None:
    for name, value in {
        "CVDW_BASE_URL": base_url,
        "CVCRM_API_EMAIL": "sandbox@example.com",
        "CVCRM_API_TOKEN": "sandbox-token",
        "CVDW_MAX_REQUESTS_PER_MINUTE": str(rate),
    }.items():
        monkeypatch.setenv(name, value)


def test_organizer_cvdw_ping(simulator, monkeypatch, capsys):
    """With the limit off (0) no database is needed: none is set up here."""
    from organizer_pipeline import cli

    sim, base_url = simulator(n_reservas=300)
    cli_environment(monkeypatch, base_url, 0)
    assert cli.main(["cvdw", "ping", "--endpoint", "reservas"]) == 0
    out = capsys.readouterr().out
    assert f"reservas {len(sim.dataset.rows('reservas', None, None)):>9} rows".replace(
        " ", ""
    ) in out.replace(" ", "")
    monkeypatch.setenv("CVCRM_API_TOKEN", "wrong")
    assert cli.main(["cvdw", "ping"]) == 2
    assert "CVCRM_API_TOKEN" in capsys.readouterr().err


def test_ping_takes_its_turn_in_the_shared_limit(simulator, db_url, engine, monkeypatch, capsys):
    """The CLI is a caller like any run step: its requests count in the tenant's row."""
    import sqlalchemy as sa

    from organizer_pipeline import cli

    _, base_url = simulator(n_reservas=300)
    cli_environment(monkeypatch, base_url, 20)
    assert cli.main(["cvdw", "ping", "--endpoint", "reservas"]) == 0
    key = "cvdw:" + base_url.split("/")[2]
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT calls, holder FROM ops.api_rate_limits WHERE key = :k"), {"k": key}
        ).one()
    assert tuple(row) == (1, None)


def test_a_too_many_requests_body_pauses_every_caller(simulator, db_url):
    _, base_url = simulator(too_many_every=2, too_many_status=200)
    api = fast_client(base_url, max_requests_per_minute=6000, rate_limit_pause_seconds=0.4).get_api()
    started = time.monotonic()
    api.get_page("/unidades", 1, page_size=1)  # request 1 answers, 2 is blocked, 3 answers after the pause
    api.get_page("/unidades", 1, page_size=1)
    assert api.stats.retries == 1 and api.stats.rate_limit_wait_seconds >= 0.35
    assert time.monotonic() - started >= 0.35


def test_retry_after_is_honoured(simulator):
    _, base_url = simulator(too_many_every=2, retry_after=0.5)
    api = fast_client(base_url).get_api()  # backoff alone would wait at most 0.05 s
    api.get_page("/unidades", 1, page_size=1)
    started = time.monotonic()
    api.get_page("/unidades", 1, page_size=1)
    assert time.monotonic() - started >= 0.45 and api.stats.retries == 1
