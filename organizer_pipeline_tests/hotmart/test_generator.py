import os
import subprocess
import sys
from collections import Counter

from organizer_pipeline.cli import main
from organizer_pipeline.db import urls
from organizer_pipeline.db.embedded import free_port
from organizer_pipeline.processes import organizer_command
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


def sandbox_hotmart(root: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`organizer sandbox hotmart --url ROOT …` in its own process, with `env` on top of ours."""
    return subprocess.run(
        organizer_command("sandbox", "hotmart", "--url", root, *args),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_posts_to_the_receiver(db_url, engine, monkeypatch):
    monkeypatch.setenv("HOTMART_HOTTOK", "cli-hottok-123456")
    with serve_in_thread(create_app(urls.render(db_url))) as root:
        done = sandbox_hotmart(root, "--events", "30", "--duplicates", "0.3", "--shuffle")
    assert done.returncode == 0, done.stderr
    assert "failed 0" in done.stdout
    assert rows(engine, "SELECT count(*) AS n FROM hotmart.webhook_inbox") == [{"n": 30}]


def test_trickle_command_is_endless_and_slow_and_carries_no_secret():
    command = trickle_command("http://127.0.0.1:8080")
    assert command[:3] == [sys.executable, "-m", "organizer_pipeline.cli"]
    assert command[command.index("--events") + 1] == "0"
    assert float(command[command.index("--rate") + 1]) <= 1
    assert "--shuffle" in command and float(command[command.index("--duplicates") + 1]) > 0
    assert not any("hottok" in part.lower() for part in command)


def test_shop_traffic_is_a_few_a_minute_with_bursts_duplicates_and_late_events():
    traffic = generator.shop_traffic(seed=5, per_minute=4.0, duplicates=0.05, late=0.1)
    sent, clock = [], 0.0
    while clock < 4 * 3600:  # four simulated hours
        wait, event = next(traffic)
        assert wait >= 0
        clock += wait
        sent.append((clock, event))
    per_minute = len(sent) / (clock / 60)
    assert 4 <= per_minute <= 10  # a few a minute, bursts included
    minutes = Counter(int(at // 60) for at, _ in sent)
    assert sum(1 for n in minutes.values() if n >= 15) >= 10  # bursts: ~every 10 minutes
    quiet = sum(1 for m in range(int(clock // 60)) if minutes[m] <= 8)
    assert quiet / (clock // 60) > 0.85  # most minutes are calm
    ids = Counter(event["id"] for _, event in sent)
    assert 0.02 < sum(1 for n in ids.values() if n > 1) / len(ids) < 0.1  # re-sent, like Hotmart does
    created = [e.get("creation_date") or e.get("creationDate") for _, e in sent]
    inversions = sum(1 for a, b in zip(created, created[1:], strict=False) if b < a)
    assert inversions > len(sent) * 0.03  # out-of-order deliveries


def test_cli_refuses_an_endless_flood_with_one_line(capsys, monkeypatch):
    monkeypatch.setenv("HOTMART_HOTTOK", "cli-hottok-123456")
    assert main(["sandbox", "hotmart", "--events", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--events must be 0" in err


def test_an_unreachable_receiver_is_named():
    stats = generator.deliver(
        f"http://127.0.0.1:{free_port()}/webhooks/hotmart",
        "x" * 12,
        generator.generate(5, seed=1),
        attempts=1,
    )
    assert stats.sent == 1 and stats.stopped.startswith("cannot reach http://127.0.0.1:")
    assert "Connection refused" in stats.stopped


def test_cli_prints_why_the_receiver_refused(db_url, monkeypatch):
    monkeypatch.setenv("HOTMART_HOTTOK", "the-receivers-hottok")
    with serve_in_thread(create_app(urls.render(db_url))) as root:
        done = sandbox_hotmart(root, "--events", "5", HOTMART_HOTTOK="a-wrong-hottok")
    assert done.returncode == 1
    assert "sent 1 events" in done.stdout and "failed 1" in done.stdout
    assert "stopped: the receiver refuses the hottok: HTTP 401" in done.stderr
    assert "is HOTMART_HOTTOK the receiver's hottok?" in done.stderr


def test_operator_cli_status_and_process(db_url, engine):
    from organizer_pipeline_tests.hotmart.helpers import store

    store(engine, generator.generate(25, seed=12))
    run = lambda *argv: subprocess.run(  # noqa: E731
        organizer_command("hotmart", *argv),
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
