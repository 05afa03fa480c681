"""POST /webhooks/hotmart against a real server on loopback and a real PostgreSQL."""

import json
import os
import signal
import threading
import time

import pytest
import requests
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from organizer_pipeline.bench.webhook import web_app
from organizer_pipeline.db import urls
from organizer_pipeline.db.embedded import free_port
from organizer_pipeline.sandbox import hotmart as generator
from organizer_pipeline.sandbox.server import serve_in_thread
from organizer_pipeline.web.app import create_app
from organizer_pipeline.web.webhook import MAX_BODY_BYTES
from organizer_pipeline_tests.hotmart.helpers import rows

HOTTOK = "test-hottok-0123456789"
AUTH = {"X-HOTMART-HOTTOK": HOTTOK, "Content-Type": "application/json"}


@pytest.fixture
def receiver(db_url, monkeypatch):
    monkeypatch.setenv("HOTMART_HOTTOK", HOTTOK)
    with serve_in_thread(create_app(urls.render(db_url))) as root:
        yield f"{root}/webhooks/hotmart"


def post(url, body, headers=AUTH):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(url, data=data, headers=headers, timeout=10)


def test_valid_event_is_committed_then_200(receiver, engine):
    event = generator.generate(1)[0]
    response = post(receiver, event)
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    [row] = rows(engine, "SELECT * FROM hotmart.webhook_inbox")
    assert row["event_id"] == event["id"] and row["processed_at"] is None
    assert row["payload"] == event and row["creation_date"] is not None


def test_repeated_id_is_200_and_stores_nothing_new(receiver, engine):
    event = generator.generate(1)[0]
    assert post(receiver, event).json()["status"] == "accepted"
    again = post(receiver, dict(event, data={"changed": True}))
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert rows(engine, "SELECT count(*) AS n FROM hotmart.webhook_inbox") == [{"n": 1}]


def test_unknown_event_type_is_stored(receiver, engine):
    response = post(
        receiver, {"id": "u-1", "event": "SOMETHING_NEW", "creationDate": 1759194927364, "data": {}}
    )
    assert response.status_code == 200
    assert rows(engine, "SELECT event FROM hotmart.webhook_inbox") == [{"event": "SOMETHING_NEW"}]


@pytest.mark.parametrize("headers", [{}, {"X-HOTMART-HOTTOK": "wrong"}, {"x-hotmart-hottok": HOTTOK + "x"}])
def test_bad_or_missing_hottok_is_401_and_only_audited(receiver, engine, headers):
    response = post(receiver, generator.generate(1)[0], headers=headers)
    assert response.status_code == 401
    assert rows(engine, "SELECT count(*) AS n FROM hotmart.webhook_inbox") == [{"n": 0}]
    [audit] = rows(engine, "SELECT action, detail::text AS detail FROM ops.audit_log")
    assert audit["action"] == "hotmart.webhook_unauthorized" and HOTTOK not in audit["detail"]


def test_header_name_is_case_insensitive(receiver):
    assert post(receiver, generator.generate(1)[0], headers={"x-hotmart-hottok": HOTTOK}).status_code == 200


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"event": "PURCHASE_APPROVED"}', "id"),
        (b'{"id": "x"}', "event"),
        (b'{"id": "x", "event": "X", "n": NaN}', "not JSON"),
        (b"\xff\xfe{}", "UTF-8"),
    ],
)
def test_not_an_envelope_is_400_and_quarantined(receiver, engine, body, reason):
    response = post(receiver, body)
    assert response.status_code == 400 and reason in response.json()["error"]
    [q] = rows(engine, "SELECT * FROM hotmart.webhook_quarantine")
    assert reason in q["reason"] and q["source"] == "webhook" and q["body"]
    assert "x-hotmart-hottok" not in q["headers"]
    [audit] = rows(engine, "SELECT action, detail FROM ops.audit_log")
    assert audit["action"] == "hotmart.webhook_quarantined" and audit["detail"]["quarantine_id"] == q["id"]


def test_payload_jsonb_cannot_hold_is_cleaned_not_lost(receiver, engine):
    response = post(
        receiver, b'{"id": "nul-1", "event": "PURCHASE_APPROVED", "data": {"x": "a\\u0000b", "y": "\\ud800"}}'
    )
    assert response.status_code == 200
    [row] = rows(engine, "SELECT payload FROM hotmart.webhook_inbox")
    assert row["payload"]["data"]["x"] == "ab"


def test_body_limit_413_while_reading(receiver, engine):
    big = json.dumps({"id": "big", "event": "PURCHASE_APPROVED", "pad": "x" * MAX_BODY_BYTES}).encode()
    assert post(receiver, big).status_code == 413

    def chunked():  # no Content-Length: the limit must hold while streaming
        yield b'{"id": "big2", "event": "PURCHASE_APPROVED", "pad": "'
        for _ in range(40):
            yield b"x" * 16_384
        yield b'"}'

    response = requests.post(receiver, data=chunked(), headers=AUTH, timeout=10)
    assert response.status_code == 413
    assert rows(engine, "SELECT count(*) AS n FROM hotmart.webhook_inbox") == [{"n": 0}]
    assert {r["reason"] for r in rows(engine, "SELECT reason FROM hotmart.webhook_quarantine")} == {
        f"body larger than {MAX_BODY_BYTES} bytes"
    }


def test_database_down_is_503_never_500(monkeypatch):
    monkeypatch.setenv("HOTMART_HOTTOK", HOTTOK)
    dead = f"postgresql+psycopg2://postgres:pw@127.0.0.1:{free_port()}/organizer"
    with serve_in_thread(create_app(dead)) as root:
        assert post(f"{root}/webhooks/hotmart", generator.generate(1)[0]).status_code == 503
        assert post(f"{root}/webhooks/hotmart", b"junk").status_code == 400


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=15,
)
# No NaN/Infinity: not JSON (json.dumps writes them, the receiver rightly quarantines them as such).
odd_dates = st.one_of(
    st.integers(), st.text(max_size=30), st.floats(allow_nan=False, allow_infinity=False), st.none()
)
# Envelopes Hotmart could send: a valid id and event name, anything at all in the other fields.
valid_envelopes = st.fixed_dictionaries(
    {
        "id": st.one_of(st.uuids().map(str), st.integers(0, 10**12)),
        "event": st.sampled_from(["PURCHASE_APPROVED", "CLUB_FIRST_ACCESS", "NEW_THING_2027"]),
    },
    optional={
        "creation_date": odd_dates,
        "creationDate": odd_dates,
        "data": json_values,
        "hottok": st.text(max_size=10),
    },
)
any_envelopes = st.fixed_dictionaries(
    {"id": json_values, "event": json_values}, optional={"creation_date": odd_dates, "data": json_values}
)
bodies = st.one_of(
    st.binary(max_size=300).map(lambda b: (b, False)),
    any_envelopes.map(lambda e: (json.dumps(e).encode(), False)),
    valid_envelopes.map(lambda e: (json.dumps(e).encode(), True)),
)
header_values = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, token=st.one_of(st.just(HOTTOK), header_values), content_type=header_values)
def test_fuzz_never_5xx_never_loses_a_valid_event(receiver, engine, body, token, content_type):
    """Arbitrary bodies and headers: never a 5xx; an authenticated valid envelope is always stored."""
    data, valid = body
    response = post(receiver, data, headers={"X-HOTMART-HOTTOK": token, "Content-Type": content_type})
    assert response.status_code < 500
    if token != HOTTOK:
        assert response.status_code == 401
        return
    assert response.status_code == 200 if valid else response.status_code in (200, 400)
    if response.status_code == 200:
        with engine.connect() as conn:
            stored = conn.execute(
                sa.text("SELECT count(*) FROM hotmart.webhook_inbox WHERE event_id = :id"),
                {"id": response.json()["id"]},
            ).scalar()
        assert stored == 1


@pytest.mark.slow
def test_sigkill_mid_load_loses_no_acknowledged_event(db_url, engine):
    """Several uvicorn workers, killed with SIGKILL while 8 senders post: every 2xx is in the inbox."""
    events = generator.generate(4000, seed=21)
    acknowledged: list[str] = []
    lock = threading.Lock()
    with web_app(db_url, HOTTOK, workers=2) as web:
        url = f"{web.root}/webhooks/hotmart"

        def sender(part):
            session = requests.Session()
            for event in part:
                try:
                    response = session.post(url, data=json.dumps(event), headers=AUTH, timeout=5)
                except requests.RequestException:
                    return
                if response.status_code == 200:
                    with lock:
                        acknowledged.append(event["id"])

        threads = [threading.Thread(target=sender, args=(events[i::8],)) for i in range(8)]
        for thread in threads:
            thread.start()
        while len(acknowledged) < 300 and any(t.is_alive() for t in threads):
            time.sleep(0.01)
        os.killpg(web.process.pid, signal.SIGKILL)
        for thread in threads:
            thread.join(timeout=30)
    stored = {r["event_id"] for r in rows(engine, "SELECT event_id FROM hotmart.webhook_inbox")}
    assert 300 <= len(acknowledged) < len(events)
    assert set(acknowledged) <= stored
