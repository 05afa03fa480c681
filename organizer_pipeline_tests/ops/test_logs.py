"""Real code paths run with test secrets and e-mails; what they log must contain neither, one JSON event
per line."""

import io
import json
import logging
import os
import subprocess

import pytest
import requests

from organizer_pipeline import settings
from organizer_pipeline.db import urls
from organizer_pipeline.db.embedded import free_port
from organizer_pipeline.logs import configure_logging
from organizer_pipeline.ops.alerts import FailedRun, handle_failed_run
from organizer_pipeline.processes import organizer_command, wait_for_http
from organizer_pipeline_tests.ops.helpers import purchase_payload, seed_hotmart

EMAIL = "Carla.Mendes@example.net"
CPF = "39053344705"
PASSWORD = "db-pass-log-test-0005"
WRONG_BREVO_KEY = "xkeysib-wrong-log-test-0007"
SECRETS = {
    "BREVO_API_KEY": "xkeysib-log-test-brevo-0001",
    "HOTMART_HOTTOK": "hottok-log-test-0002",
    "ORGANIZER_API_TOKEN": "api-token-log-test-0003",
    "OPENROUTER_API_KEY": "sk-or-log-test-0006",
    "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hooks/T000/B000/sekr3t-path-0004",
}


def database_password(db_url) -> str:
    """The server's own password when it has one (scram checks it); a test one where trust auth ignores it."""
    return urls.normalize(db_url).password or PASSWORD


def assert_clean(text: str, db_url=None) -> None:
    lowered = text.lower()
    passwords = (PASSWORD, database_password(db_url)) if db_url is not None else (PASSWORD,)
    for needle in (EMAIL, EMAIL.replace("@", "%40"), CPF, *passwords, WRONG_BREVO_KEY, *SECRETS.values()):
        assert needle.lower() not in lowered, f"{needle!r} leaked into the logs"


def process_env(db_url, **extra) -> dict[str, str]:
    with_password = urls.render(urls.normalize(db_url).set(password=database_password(db_url)))
    env = {k: v for k, v in os.environ.items() if k not in settings.ENV_VARS}
    env.update(SECRETS, DATABASE_URL=with_password, ORGANIZER_LOG_LEVEL="DEBUG", **extra)
    return env


def organizer(args, env):
    return subprocess.run(
        organizer_command(*args),
        env=env,
        cwd=settings.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def json_lines(stderr: str) -> list[dict]:
    """Every log line parses as one JSON event (the CLI's final `organizer: …` error line excepted)."""
    events = []
    for line in stderr.splitlines():
        if line.startswith("organizer: "):
            continue
        events.append(json.loads(line))
    return events


def test_cli_commands_log_no_secret_or_email(db_url, engine, recorder, tmp_path):
    seed_hotmart(engine, EMAIL, "Carla Mendes", CPF, "HP077", 297)
    recorder.api_key = SECRETS["BREVO_API_KEY"]
    live_brevo = process_env(db_url, BREVO_BASE_URL=f"{recorder.url}/v3")
    wrong_key = {**live_brevo, "BREVO_API_KEY": WRONG_BREVO_KEY}
    runs = [
        organizer(["backup", "--out", str(tmp_path / "w.dump")], live_brevo),
        organizer(["health"], live_brevo),
        organizer(["erase", "--email", EMAIL], wrong_key),  # fails: Brevo answers 401
        organizer(["erase", "--email", EMAIL], live_brevo),
        organizer(["restore", str(tmp_path / "w.dump")], live_brevo),  # refused: not empty
    ]
    assert [run.returncode for run in runs] == [0, 0, 2, 0, 2], [run.stderr[-300:] for run in runs]
    assert "Brevo delete failed" in runs[2].stderr and "not empty" in runs[4].stderr
    events = [event for run in runs for event in json_lines(run.stderr)]
    assert any(event["logger"] == "organizer_pipeline.ops.backup" for event in events)
    assert any(event["msg"].startswith("erase: c***@e***.net") for event in events)
    for run in runs:
        assert_clean(run.stdout + run.stderr, db_url)


def test_web_app_logs_no_secret_or_email(db_url, tmp_path):
    port = free_port()
    log_file = tmp_path / "web.log"
    with open(log_file, "w") as output:
        web = subprocess.Popen(
            organizer_command("web", "--port", str(port)),
            env=process_env(db_url),
            cwd=settings.PROJECT_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            root = f"http://127.0.0.1:{port}"
            assert wait_for_http(f"{root}/health", 60), "web app did not start"
            payload = purchase_payload(EMAIL, "Carla Mendes", CPF, "HP078")
            for hottok in (SECRETS["HOTMART_HOTTOK"], "wrong-" + SECRETS["HOTMART_HOTTOK"]):
                requests.post(
                    f"{root}/webhooks/hotmart", json=payload, headers={"X-HOTMART-HOTTOK": hottok}, timeout=10
                )
            requests.post(f"{root}/webhooks/hotmart", data=json.dumps(payload)[:-5], timeout=10)  # malformed
            requests.get(
                f"{root}/api/kpis/vendas",
                headers={"Authorization": f"Bearer {SECRETS['ORGANIZER_API_TOKEN']}"},
                timeout=10,
            )
            assert requests.get(f"{root}/health", timeout=10).status_code == 200
        finally:
            web.terminate()
            web.wait(timeout=30)
    assert_clean(log_file.read_text(), db_url)


@pytest.fixture
def captured_logs():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    yield stream
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


def test_sensor_path_logs_no_secret_or_email(captured_logs, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    failed = FailedRun(
        "run-1", "hotmart_contacts", f"Brevo rejected {EMAIL} (cpf {CPF}) with {SECRETS['BREVO_API_KEY']}"
    )
    dead_db = f"postgresql+psycopg2://organizer:{PASSWORD}@127.0.0.1:{free_port()}/organizer"

    from organizer_pipeline.db.engine import get_engine

    outcome = handle_failed_run(lambda: get_engine(dead_db), failed, SECRETS["ALERT_WEBHOOK_URL"], None)
    assert "alert not sent" in outcome
    text = captured_logs.getvalue()
    assert len(text.splitlines()) >= 2 and all(
        json.loads(line)["level"] == "ERROR" for line in text.splitlines()
    )
    assert_clean(text + outcome)
