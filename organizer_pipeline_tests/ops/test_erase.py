"""LGPD erasure: no trace of the e-mail in a fresh dump, KPI amounts kept, exactly one Brevo DELETE, the
erasure remembered until a new consent, a second run is harmless — and exact: another customer whose address
contains this one is never touched, whatever the script or case of the address."""

import subprocess

import pytest
import sqlalchemy as sa

from organizer_pipeline.db import urls
from organizer_pipeline.db.embedded import pg_binary
from organizer_pipeline.enrichment.embeddings import EMBEDDING_DIMENSIONS
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.ops.backup import libpq_env
from organizer_pipeline.ops.brevo_delete import http_contact_deleter
from organizer_pipeline.ops.consent import is_suppressed
from organizer_pipeline.ops.erase import ErasureIncomplete, erase_person, scrub
from organizer_pipeline.resources.http import RetryPolicy
from organizer_pipeline_tests.ops.helpers import purchase_payload, seed_hotmart

ANA = "Ana.Souza@Example.com"
ANA_KEY = ANA.lower()


def plain_dump(db_url) -> str:
    """A fresh SQL dump of the whole warehouse, the way an auditor would grep it."""
    return subprocess.run(
        [str(pg_binary("pg_dump")), "--format=plain", "--no-owner"],
        env=libpq_env(db_url),
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def seed(engine):
    seed_hotmart(engine, ANA, "Ana Souza", "52998224725", "HP001", 1497)
    seed_hotmart(engine, "bruno@example.org", "Bruno Lima", "11144477735", "HP002", 97.5)
    with engine.begin() as conn:  # the parsed facts the Hotmart pipeline keeps per event (its 0003)
        conn.execute(
            sa.text("alter table hotmart.events add column if not exists facts jsonb not null default '{}'")
        )
        conn.execute(
            sa.text(
                "update hotmart.events set facts = jsonb_build_object('email', email, 'name', 'Ana Souza', "
                "'document', '52998224725', 'transaction', transaction, 'price', price) where transaction = 'HP001'"
            )
        )
    with engine.begin() as conn:  # AI profiles of both (enrichment's migration 0004)
        conn.execute(
            sa.text(
                "insert into ai.contact_profiles (email, facts_hash, segment, purchase_intent, churn_risk, "
                "profile, summary, embedding, model, embedding_model, prompt_version) "
                "select e, 'h', 'novo', 'alta', 'baixo', '{\"persona\": \"x\"}', 'resumo', "
                "array_fill(0.1, array[:dims])::real[]::vector, 'm', 'em', 'v1' from unnest(array[:a, :b]) e"
            ),
            {"a": ANA_KEY, "b": "bruno@example.org", "dims": EMBEDDING_DIMENSIONS},
        )


def test_erase_leaves_no_trace_and_deletes_once_in_brevo(db_url, engine, recorder):
    seed(engine)
    recorder.known.add(ANA_KEY)
    dump_before = plain_dump(db_url).lower()
    assert ANA_KEY in dump_before and "52998224725" in dump_before

    deleter = http_contact_deleter(f"{recorder.url}/v3", "test-brevo-key")
    report = erase_person(engine, ANA, requested_by="dpo", delete_in_brevo=deleter)

    dump = plain_dump(db_url).lower()
    for trace in (ANA_KEY, "ana souza", "52998224725", "200.1.2.1"):
        assert trace not in dump, trace
    assert "bruno@example.org" in dump and "11144477735" in dump  # nobody else touched
    assert [c["method"] for c in recorder.calls] == ["DELETE"]
    assert recorder.calls[0]["path"] == f"/v3/contacts/{ANA_KEY}"  # lower-cased, URL-encoded on the wire
    assert recorder.calls[0]["key"] == "test-brevo-key"
    assert report.brevo == "deleted" and report.rows["hotmart.contacts"] == 1
    assert report.rows["hotmart.webhook_inbox"] == 1 and report.rows["ai.contact_profiles"] == 1

    with engine.connect() as conn:
        sale = conn.execute(
            sa.text("select price, status, buyer_email from hotmart.sales where transaction='HP001'")
        ).one()
        assert (float(sale.price), sale.status, sale.buyer_email) == (
            1497.0,
            "APPROVED",
            None,
        )  # KPIs keep amounts
        payload = conn.execute(
            sa.text("select payload from hotmart.webhook_inbox where event_id='evt-HP001'")
        ).scalar_one()
        assert payload["data"]["buyer"] == {"erased": True}
        assert (
            payload["data"]["product"]["name"] == "Curso X"
            and payload["data"]["purchase"]["transaction"] == "HP001"
        )
        facts = conn.execute(
            sa.text("select facts from hotmart.events where transaction='HP001'")
        ).scalar_one()
        assert facts == {"transaction": "HP001", "price": 1497}  # sale facts kept, the person gone
        register = conn.execute(sa.text("select requested_by, brevo_deleted_at from ops.erasures")).one()
        assert register.requested_by == "dpo" and register.brevo_deleted_at is not None
        audit_subjects = (
            conn.execute(sa.text("select subject from ops.audit_log where action like 'erase%'"))
            .scalars()
            .all()
        )
        assert audit_subjects == ["a***@e***.com", "a***@e***.com"]
        assert is_suppressed(conn, ANA) and not is_suppressed(conn, "bruno@example.org")


def test_erase_twice_is_harmless(db_url, engine, recorder):
    seed(engine)
    deleter = http_contact_deleter(f"{recorder.url}/v3", "k" * 10)
    erase_person(engine, ANA, requested_by="dpo", delete_in_brevo=deleter)
    again = erase_person(engine, ANA, requested_by="dpo", delete_in_brevo=deleter)
    assert again.brevo == "not in Brevo" and sum(again.rows.values()) == 0
    assert len(recorder.calls) == 2


def test_brevo_failure_keeps_the_warehouse_erasure_and_says_run_again(engine, recorder):
    seed(engine)
    deleter = http_contact_deleter(
        "http://127.0.0.1:9/v3", "k" * 10, retry=RetryPolicy(attempts=2, base_delay=0.01)
    )
    with pytest.raises(Exception, match="Brevo delete failed .* run the same `organizer erase` again"):
        erase_person(engine, ANA, requested_by="dpo", delete_in_brevo=deleter)
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.text("select count(*) from hotmart.contacts where email = :e"), {"e": ANA_KEY}
            ).scalar()
            == 0
        )


def test_a_table_missing_from_the_list_is_reported(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("create table ai.scratch_notes (id serial, prompt text)"))
        conn.execute(
            sa.text(
                "insert into ai.scratch_notes (prompt) values ('profile of ANA.souza@example.com.'), "
                "('profile of mariana.souza@example.com'), ('ana.souza@example.com.br')"
            )
        )
    with pytest.raises(ErasureIncomplete, match=r"ai\.scratch_notes \(1 rows\)"):
        erase_person(engine, ANA, requested_by="dpo", delete_in_brevo=None)


def test_missing_optional_tables_are_skipped(engine):
    with engine.begin() as conn:  # as on a warehouse migrated before the enrichment tables existed
        conn.execute(sa.text("drop table ai.contact_profiles"))
    report = erase_person(engine, "nobody@example.com", requested_by="dpo", delete_in_brevo=None)
    assert "ai.contact_profiles" in report.skipped_tables and report.brevo.startswith("skipped")


def test_scrub_handles_every_event_shape():
    subscription = {
        "data": {"subscriber": {"code": "X1", "name": "Ana", "email": ANA}, "plan": {"name": "P"}}
    }
    assert scrub(subscription, ANA_KEY) == {"data": {"subscriber": {"erased": True}, "plan": {"name": "P"}}}
    switch = {"data": {"subscription": {"user": {"email": ANA_KEY}, "status": "ACTIVE"}}}
    assert scrub(switch, ANA_KEY)["data"]["subscription"] == {"user": {"erased": True}, "status": "ACTIVE"}
    purchase = scrub(purchase_payload(ANA, "Ana Souza", "52998224725", "HP009"), ANA_KEY)
    assert purchase["data"]["purchase"]["buyer_ip"] is None and purchase["data"]["buyer"] == {"erased": True}
    assert scrub(["note about ana.souza@example.com", 3], ANA_KEY) == ["[erased]", 3]
    other = {"buyer": {"email": "mariana.souza@example.com"}, "note": "cc: xana.souza@example.com"}
    assert scrub(other, ANA_KEY) == other  # containing the address is not being it


def test_cli_erase(db_url, engine, recorder, monkeypatch):
    seed(engine)
    from organizer_pipeline.cli import main

    monkeypatch.setenv("BREVO_API_KEY", "xkeysib-test-secret-123")
    monkeypatch.setenv("BREVO_BASE_URL", f"{recorder.url}/v3")
    assert main(["erase", "--email", ANA, "--requested-by", "dpo"]) == 0
    assert len(recorder.calls) == 1
    assert ANA_KEY not in plain_dump(urls.normalize(db_url)).lower()


def test_a_rule_that_no_longer_fits_its_table_fails_cleanly_and_changes_nothing(engine):
    seed(engine)
    with engine.begin() as conn:  # another domain made the e-mail mandatory in events
        conn.execute(sa.text("alter table hotmart.events alter column email set not null"))
    with pytest.raises(OrganizerError, match=r"erasure rule for hotmart\.events .* nothing was changed"):
        erase_person(engine, ANA, requested_by="dpo", delete_in_brevo=None)
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.text("select count(*) from hotmart.contacts where email = :e"), {"e": ANA_KEY}
            ).scalar()
            == 1
        )
        assert conn.execute(sa.text("select count(*) from ops.erasures")).scalar() == 0
