"""GET /metrics: behind the API token, counts the webhooks it answered (summed over uvicorn workers), and
reports the warehouse's figures read at scrape time."""

import json
import os
import subprocess
import sys
import time

import pytest
import requests
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from organizer_pipeline import settings
from organizer_pipeline.db import urls
from organizer_pipeline.db.embedded import free_port
from organizer_pipeline.processes import organizer_command, wait_for_http
from organizer_pipeline.sandbox import hotmart as generator
from organizer_pipeline.sandbox.server import serve_in_thread
from organizer_pipeline.web.app import create_app

TOKEN = "metrics-test-token"
HOTTOK = "metrics-test-hottok"


def scrape(root: str) -> dict[tuple[str, tuple], float]:
    response = requests.get(f"{root}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def post_event(root: str, seed: int, hottok: str = HOTTOK) -> requests.Response:
    event = generator.generate(1, seed=seed)[0]
    headers = {"X-HOTMART-HOTTOK": hottok, "Connection": "close"}  # a new connection: any worker may take it
    return requests.post(f"{root}/webhooks/hotmart", json=event, headers=headers, timeout=10)


@pytest.fixture
def served(db_url, monkeypatch):
    monkeypatch.setenv("ORGANIZER_API_TOKEN", TOKEN)
    monkeypatch.setenv("HOTMART_HOTTOK", HOTTOK)
    with serve_in_thread(create_app(urls.render(db_url))) as root:
        yield root


def test_metrics_needs_the_token(served):
    assert requests.get(f"{served}/metrics", timeout=10).status_code == 401
    wrong = requests.get(f"{served}/metrics", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401


def test_metrics_count_webhooks_and_report_the_warehouse(served, engine):
    before = scrape(served)
    assert post_event(served, seed=41).status_code == 200
    assert post_event(served, seed=41).status_code == 200  # duplicate: still a 200
    assert post_event(served, seed=42, hottok="wrong").status_code == 401
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO raw.cvdw_sync_windows (endpoint, total_de_registros, rows_fetched, pages, synced_at) "
                "VALUES ('reservas', 1, 1, 1, now() - interval '1 hour')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO ai.llm_calls (purpose, requested_model, status, cost_usd) "
                "VALUES ('profile', 'm', 'ok', 0.25), ('profile', 'm', 'ok', 0.5)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO ai.side_effects (subject, action) VALUES "
                "('contact:a', 'brevo_contact'), ('contact:b', 'brevo_contact'), ('event:e', 'brevo_event')"
            )
        )
    after = scrape(served)

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("organizer_webhook_requests_total", status="200") == 2
    assert delta("organizer_webhook_requests_total", status="401") == 1
    assert delta("organizer_webhook_request_duration_seconds_count") == 3
    assert after[("organizer_hotmart_inbox_backlog", ())] == 1
    assert 0 <= after[("organizer_hotmart_inbox_oldest_pending_age_seconds", ())] < 120
    assert 3500 < after[("organizer_cvdw_last_sync_age_seconds", (("endpoint", "reservas"),))] < 3700
    assert after[("organizer_cvdw_last_sync_age_seconds", (("endpoint", "comissoes"),))] == float("inf")
    assert after[("organizer_llm_spend_today_usd", ())] == pytest.approx(0.75)
    assert after[("organizer_brevo_calls_total", (("action", "brevo_contact"),))] == 2
    assert after[("organizer_brevo_calls_total", (("action", "brevo_event"),))] == 1
    assert after[("organizer_warehouse_up", ())] == 1


@pytest.mark.parametrize("workers", [2, 1])  # 1: uvicorn runs in the CLI's process and re-raises SIGTERM
def test_uvicorn_workers_add_up_and_the_directory_is_cleaned(workers, db_url, tmp_path):
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over by a killed run")  # must not be read
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in settings.ENV_VARS}
    env.update(
        DATABASE_URL=urls.render(db_url),
        HOTMART_HOTTOK=HOTTOK,
        ORGANIZER_API_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    web = subprocess.Popen(
        organizer_command("web", "--port", str(port), "--workers", str(workers)),
        env=env,
        cwd=settings.PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    root = f"http://127.0.0.1:{port}"
    try:
        assert wait_for_http(f"{root}/health", 60), "web app did not start"
        answers = [post_event(root, seed=100 + i).status_code for i in range(12)]
        assert answers == [200] * 12
        pids = {path.name.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}
        # Every scrape, whichever worker answers it, sees all 12 (one worker's own count would be less).
        totals = {scrape(root)[("organizer_webhook_requests_total", (("status", "200"),))] for _ in range(6)}
        assert totals == {12.0}, (totals, pids)
    finally:
        web.terminate()
        _, stderr = web.communicate(timeout=30)
    assert web.returncode in (0, 128 + 15), stderr[-500:]  # a clean stop (143: SIGTERM, as documented)
    assert not list(metrics_dir.glob("*.db")), "metric files left behind"
    assert all(json.loads(line)["level"] != "ERROR" for line in stderr.splitlines() if line.startswith("{"))


def test_the_cli_does_not_import_prometheus_client_before_setting_the_directory():
    code = (
        "import sys; import organizer_pipeline.cli as cli; cli.build_parser(); "
        "print('prometheus_client' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr[-500:]


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.1, 0.3, 1.5])
def test_a_sigterm_at_any_moment_of_startup_stops_the_web_app_and_cleans_up(delay, tmp_path):
    """A SIGTERM that came while the app was being imported once raised SystemExit inside a weakref callback,
    where Python ignores it: the server then ran on (seen in CI as a 30 s hang)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in settings.ENV_VARS}
    env.update(DATABASE_URL="postgresql://u@127.0.0.1:9/x", ORGANIZER_STATE_DIR=str(tmp_path))
    web = subprocess.Popen(
        organizer_command("web", "--port", str(port)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert web.stdout.readline().startswith("organizer web:")
        time.sleep(delay)
        web.terminate()
        _, stderr = web.communicate(timeout=20)
    finally:
        web.kill()
    assert web.returncode in (0, 128 + 15), stderr[-500:]
    assert not (tmp_path / "prometheus" / f"web-{port}").exists()
