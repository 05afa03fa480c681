"""Erasure matches whole addresses only, through the real Hotmart pipeline: `ana@gmail.com` never touches
`mariana@gmail.com`; a run stopped by Brevo is completed by a rerun; Unicode addresses are matched in any case
and never written anywhere in clear."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from organizer_pipeline.hotmart.processing import process_pending
from organizer_pipeline.ops.brevo_delete import http_contact_deleter
from organizer_pipeline.ops.erase import erase_person, find_traces
from organizer_pipeline.resources.http import RetryPolicy
from organizer_pipeline.sandbox import brevo as brevo_sandbox
from organizer_pipeline.sandbox.server import serve_in_thread
from organizer_pipeline_tests.hotmart.helpers import store
from organizer_pipeline_tests.ops.helpers import purchase_payload

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def purchase(email: str, transaction: str, at: datetime, event: str = "PURCHASE_APPROVED") -> dict:
    """A Hotmart 2.0.0 purchase envelope created at `at` (order placed a minute before)."""
    payload = purchase_payload(email, "Pessoa Teste", "52998224725", transaction)
    payload["id"] = f"evt-{transaction}-{event}"
    payload["event"] = event
    payload["creation_date"] = int(at.timestamp() * 1000)
    status = {"PURCHASE_APPROVED": "APPROVED", "PURCHASE_REFUNDED": "REFUNDED"}.get(event, "APPROVED")
    payload["data"]["purchase"] |= {
        "status": status,
        "order_date": int((at - timedelta(minutes=1)).timestamp() * 1000),
        "payment": {"type": "PIX", "installments_number": 1},
    }
    return payload


PERSON_SQL = {
    "inbox": "select event_id, payload from hotmart.webhook_inbox where payload::text like '%' || :t || '%'",
    "events": "select event_id, email, facts from hotmart.events where transaction = :t",
    "sales": "select transaction, buyer_email, price, status from hotmart.sales where transaction = :t",
    "contacts": "select email, name, phone, document from hotmart.contacts where email = :e",
}


def person_rows(engine, email: str, transaction: str) -> dict:
    """Everything the warehouse holds about one buyer, as stored."""
    with engine.connect() as conn:
        return {
            name: [dict(r) for r in conn.execute(sa.text(sql), {"e": email, "t": transaction}).mappings()]
            for name, sql in PERSON_SQL.items()
        }


@pytest.fixture
def brevo():
    app = brevo_sandbox.create_app(rate_limit=0)
    with serve_in_thread(app) as url:
        yield url, app.state.sim


def test_erasing_ana_leaves_mariana_untouched_and_succeeds(engine, brevo):
    url, sim = brevo
    store(engine, [purchase("ana@gmail.com", "HP100", T0), purchase("Mariana@Gmail.com", "HP200", T0)])
    process_pending(engine)
    for email in ("ana@gmail.com", "mariana@gmail.com"):
        sim.contacts[email] = {"email": email, "listIds": set(), "attributes": {}}
    mariana_before = person_rows(engine, "mariana@gmail.com", "HP200")
    assert mariana_before["contacts"] and mariana_before["events"][0]["facts"]["email"] == "mariana@gmail.com"

    report = erase_person(
        engine,
        "ana@gmail.com",
        requested_by="dpo",
        delete_in_brevo=http_contact_deleter(f"{url}/v3", "k" * 10),
    )

    assert person_rows(engine, "mariana@gmail.com", "HP200") == mariana_before
    assert "mariana@gmail.com" in sim.contacts and "ana@gmail.com" not in sim.contacts
    assert report.rows["hotmart.contacts"] == 1 and report.rows["hotmart.webhook_inbox"] == 1
    ana = person_rows(engine, "ana@gmail.com", "HP100")
    assert ana["contacts"] == [] and ana["sales"][0]["buyer_email"] is None
    assert ana["inbox"][0]["payload"]["data"]["buyer"] == {"erased": True}
    assert find_traces(engine, "ana@gmail.com") == {}


def test_a_run_stopped_by_brevo_is_completed_by_running_it_again(engine, brevo):
    url, sim = brevo
    store(engine, [purchase("ana@gmail.com", "HP100", T0), purchase("mariana@gmail.com", "HP200", T0)])
    process_pending(engine)
    sim.contacts["ana@gmail.com"] = {"email": "ana@gmail.com", "listIds": set(), "attributes": {}}
    deleter = http_contact_deleter(f"{url}/v3", "k" * 10, retry=RetryPolicy(attempts=2, base_delay=0.01))

    sim.faults[:] = [503, 503]  # Brevo down for both attempts of the first run
    with pytest.raises(Exception, match="Brevo delete failed .* run the same `organizer erase` again"):
        erase_person(engine, "ana@gmail.com", requested_by="dpo", delete_in_brevo=deleter)
    assert "ana@gmail.com" in sim.contacts and find_traces(engine, "ana@gmail.com") == {}

    again = erase_person(
        engine, "ana@gmail.com", requested_by="dpo", delete_in_brevo=deleter
    )  # Brevo is back
    assert again.brevo == "deleted" and "ana@gmail.com" not in sim.contacts
    assert sum(again.rows.values()) == 0  # the warehouse part was done by the first run
    with engine.connect() as conn:
        assert conn.execute(sa.text("select brevo_deleted_at is not null from ops.erasures")).scalar_one()
        assert conn.execute(sa.text("select count(*) from hotmart.contacts")).scalar_one() == 1  # Mariana


@pytest.mark.parametrize(
    ("asked", "stored"),
    [
        ("josé@exemplo.com.br", "JOSÉ@Exemplo.com.br"),  # accented local part, upper case beyond ASCII
        ("ANA@Exemplo.com.BR", "ana@exemplo.com.br"),
        ("ana@exêmplo.com.br", "ana@xn--exmplo-jva.com.br"),  # IDN domain, Unicode vs ASCII spelling
    ],
)
def test_unicode_addresses_are_matched_and_never_written_in_clear(engine, capsys, asked, stored):
    neighbour = stored.replace("@", "x@", 1)  # another person whose address contains this one
    store(engine, [purchase(stored, "HP300", T0), purchase(neighbour, "HP301", T0)])
    process_pending(engine)

    from organizer_pipeline.cli import main

    assert main(["erase", "--email", asked, "--requested-by", "dpo"]) == 0
    printed = capsys.readouterr()
    assert find_traces(engine, asked) == {}
    assert find_traces(engine, neighbour) != {}  # untouched
    with engine.connect() as conn:
        written = " ".join(
            conn.execute(sa.text(sql)).scalars().one()
            for sql in (
                "select coalesce(string_agg(detail::text || coalesce(subject, ''), ' '), '') from ops.audit_log",
                "select string_agg(detail::text, ' ') from ops.erasures",
            )
        )
    for text in (printed.out, printed.err, written):
        lowered = text.lower()
        assert asked.lower() not in lowered and stored.lower() not in lowered, text
    report = json.loads(printed.out)
    assert report["email_sha256"] and report["rows"]["hotmart.contacts"] == 1
