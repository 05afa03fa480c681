"""`organizer hotmart status|process`, in process (the same `main` the console script runs)."""

import copy
import json

from organizer_pipeline.cli import main
from organizer_pipeline.sandbox import hotmart as generator
from organizer_pipeline_tests.hotmart.helpers import rows, store
from organizer_pipeline_tests.hotmart.test_payloads import TEST_SEND


def status(capsys) -> dict:
    assert main(["hotmart", "status"]) == 0
    return json.loads(capsys.readouterr().out)


def test_an_unknown_event_id_is_named_and_fails_the_command(engine, capsys):
    events = generator.generate(5, seed=31)
    store(engine, events)
    code = main(["hotmart", "process", "--event-id", "no-such-event", "--event-id", events[0]["id"]])
    out, err = capsys.readouterr()
    assert code == 1
    assert "unknown event id(s), not in the inbox: no-such-event" in err
    assert "1 events, 1 applied" in out  # the known one was applied
    assert main(["hotmart", "process", "--event-id", events[0]["id"]]) == 0
    assert "already processed" in capsys.readouterr().out


def test_status_shows_failed_events_and_process_retries_them(engine, capsys):
    poison = copy.deepcopy(TEST_SEND)
    poison["data"]["purchase"]["payment"]["installments_number"] = 3_000_000_000
    store(engine, [poison, *generator.generate(4, seed=32)])
    assert main(["hotmart", "process"]) == 0
    out = capsys.readouterr().out
    assert "5 events, 4 applied, 1 failed" in out and f"failed {poison['id']}" in out

    shown = status(capsys)
    assert (shown["pending"], shown["failed"], shown["quarantined"]) == (0, 1, 1)
    [failure] = shown["recent_failures"]
    assert failure["event_id"] == poison["id"] and failure["attempts"] == 1
    assert "installments 3000000000 does not fit" in failure["reason"]

    assert main(["hotmart", "process", "--event-id", poison["id"]]) == 0  # retried (fails again)
    assert "1 events, 0 applied, 1 failed" in capsys.readouterr().out
    assert rows(engine, "SELECT attempts FROM hotmart.webhook_inbox WHERE failed_at IS NOT NULL") == [
        {"attempts": 1}
    ]
