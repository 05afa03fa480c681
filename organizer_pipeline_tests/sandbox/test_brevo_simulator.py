"""The Brevo simulator enforces the contract our client is written against (contracts/brevo.md)."""

from __future__ import annotations

import pytest
import requests

from organizer_pipeline.sandbox.brevo import create_app
from organizer_pipeline.sandbox.server import serve_in_thread


@pytest.fixture
def brevo():
    app = create_app(api_key="xkeysib-ok", rate_limit=3)
    with serve_in_thread(app) as root:
        yield f"{root}/v3", app.state.sim


def call(base, method, path, key="xkeysib-ok", **kwargs):
    return requests.request(method, f"{base}/{path}", headers={"api-key": key}, timeout=10, **kwargs)


def test_auth_header_is_required(brevo):
    base, _ = brevo
    answer = call(base, "GET", "contacts/attributes", key="wrong")
    assert answer.status_code == 401 and answer.json() == {"code": "unauthorized", "message": "Key not found"}
    assert requests.get(f"{base}/contacts/attributes", timeout=10).status_code == 401


def test_attributes_must_exist_and_upsert_needs_update_enabled(brevo):
    base, sim = brevo
    sim.rate_limit = 0
    contact = {"email": "a@example.com", "attributes": {"LTV": 10.0}}
    assert call(base, "POST", "contacts", json=contact).json()["code"] == "invalid_parameter"
    assert call(base, "POST", "contacts/attributes/normal/LTV", json={"type": "float"}).status_code == 201
    assert call(base, "POST", "contacts", json=contact).status_code == 201
    assert call(base, "POST", "contacts", json=contact).json()["code"] == "duplicate_parameter"
    assert call(base, "POST", "contacts", json={**contact, "updateEnabled": True}).status_code == 204
    assert call(base, "PUT", "contacts/missing@example.com", json={}).status_code == 404
    assert (
        call(
            base, "POST", "events", json={"event_name": "bad name!", "identifiers": {"email_id": "a"}}
        ).status_code
        == 400
    )
    assert [c["status"] for c in sim.calls_to("POST", "contacts")] == [400, 201, 400, 204]


def test_ten_requests_per_second_with_ratelimit_headers(brevo):
    base, sim = brevo
    answers = [call(base, "GET", "contacts/attributes") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[2].headers["x-sib-ratelimit-remaining"] == "0"
    assert 0 < float(answers[3].headers["x-sib-ratelimit-reset"]) <= 1
    assert answers[0].headers["x-sib-ratelimit-limit"] == "3" and sim.rejected_for_rate == 1
