import os
import subprocess
import sys

from organizer_pipeline.db import urls
from organizer_pipeline.sandbox import hotmart as generator
from organizer_pipeline.sandbox.hotmart_feed import trickle_command
from organizer_pipeline.sandbox.server import serve_in_thread
from organizer_pipeline.web.app import create_app
from organizer_pipeline_tests.hotmart.helpers import rows


def test_duplicates_and_shuffle_keep_the_same_unique_events():
    plain = generator.generate(200, seed=1, start_ms=0 + 1_760_000_000_000)
    messy = generator.generate(200, seed=1, duplicates=0.5, shuffle=True, start_ms=1_760_000_000_000)
    assert len(messy) > 250
    assert {e["id"] for e in messy} == {e["id"] for e in plain}
    assert [e["id"] for e in messy] != [e["id"] for e in plain]


def test_cli_posts_to_the_receiver(db_url, engine, monkeypatch):
    monkeypatch.setenv("HOTMART_HOTTOK", "cli-hottok-123456")
    with serve_in_thread(create_app(urls.render(db_url))) as root:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "organizer_pipeline.cli",
                "sandbox",
                "hotmart",
                "--url",
                root,
                "--events",
                "30",
                "--duplicates",
                "0.3",
                "--shuffle",
            ],
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert "failed 0" in done.stdout
    assert rows(engine, "SELECT count(*) AS n FROM hotmart.webhook_inbox") == [{"n": 30}]


def test_trickle_command_is_endless_and_slow_and_carries_no_secret():
    command = trickle_command("http://127.0.0.1:8080")
    assert command[:3] == [sys.executable, "-m", "organizer_pipeline.cli"]
    assert command[command.index("--events") + 1] == "0"
    assert float(command[command.index("--rate") + 1]) <= 1
    assert not any("hottok" in part.lower() for part in command)


def test_operator_cli_status_and_process(db_url, engine):
    from organizer_pipeline_tests.hotmart.helpers import store

    store(engine, generator.generate(25, seed=12))
    run = lambda *argv: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "organizer_pipeline.cli", "hotmart", *argv],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    status = run("status")
    assert status.returncode == 0 and '"pending": 25' in status.stdout
    processed = run("process")
    assert processed.returncode == 0 and "25 events, 25 applied" in processed.stdout
    assert '"pending": 0' in run("status").stdout
