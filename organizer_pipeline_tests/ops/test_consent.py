"""The consent policy after an erasure, through the real Hotmart processing and the real Brevo sync: the old
relationship never comes back, however late its events arrive; a new purchase is a new relationship."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from organizer_pipeline.db import urls
from organizer_pipeline.enrichment.assets import brevo_contacts
from organizer_pipeline.hotmart.processing import process_pending
from organizer_pipeline.ops.consent import is_suppressed, record_consent
from organizer_pipeline.ops.erase import erase_person, find_traces
from organizer_pipeline.resources.brevo import BrevoClient
from organizer_pipeline.resources.warehouse import Warehouse
from organizer_pipeline.sandbox import brevo as brevo_sandbox
from organizer_pipeline.sandbox.server import serve_in_thread
from organizer_pipeline_tests.hotmart.helpers import store
from organizer_pipeline_tests.ops.test_erase_exact import purchase

ANA = "ana@gmail.com"


@pytest.fixture
def brevo():
    app = brevo_sandbox.create_app(rate_limit=0)
    with serve_in_thread(app) as url:
        yield url, app.state.sim


def sync_brevo(db_url, url: str) -> None:
    resources = {
        "warehouse": Warehouse(database_url=urls.render(db_url)),
        "brevo": BrevoClient(api_key="xkeysib-test", base_url=f"{url}/v3", requests_per_second=0),
    }
    assert dg.materialize([brevo_contacts], resources=resources).success


def state(engine, transaction: str) -> dict:
    with engine.connect() as conn:
        return {
            "contact": conn.execute(
                sa.text("select name, document from hotmart.contacts where email = :e"), {"e": ANA}
            ).one_or_none(),
            "buyer_email": conn.execute(
                sa.text("select buyer_email from hotmart.sales where transaction = :t"), {"t": transaction}
            ).scalar_one_or_none(),
            "suppressed": is_suppressed(conn, ANA),
        }


def bought_then_erased(engine) -> datetime:
    """Ana bought two days ago (HP100) and was erased now; returns now."""
    now = datetime.now(UTC)
    store(engine, [purchase(ANA, "HP100", now - timedelta(days=2))])
    process_pending(engine)
    erase_person(engine, ANA, requested_by="dpo", delete_in_brevo=None)
    return now


def test_events_of_the_old_relationship_never_bring_data_back(db_url, engine, brevo):
    url, sim = brevo
    now = bought_then_erased(engine)
    before = purchase(ANA, "HP100", now - timedelta(days=1), "PURCHASE_REFUNDED")  # dated before the erasure
    after = purchase(ANA, "HP100", now + timedelta(minutes=1), "PURCHASE_CHARGEBACK")  # no new purchase
    store(engine, [before, after])
    process_pending(engine)
    sync_brevo(db_url, url)

    assert state(engine, "HP100") == {"contact": None, "buyer_email": None, "suppressed": True}
    assert find_traces(engine, ANA) == {}  # the late payloads were scrubbed in the inbox too
    assert ANA not in sim.contacts and not sim.calls_to("POST", "contacts")


def test_a_new_purchase_after_the_erasure_is_a_new_relationship(db_url, engine, brevo):
    url, sim = brevo
    now = bought_then_erased(engine)
    store(engine, [purchase(ANA, "HP101", now + timedelta(minutes=2))])
    process_pending(engine)
    assert state(engine, "HP101") == {
        "contact": ("Pessoa Teste", "52998224725"),
        "buyer_email": ANA,
        "suppressed": False,
    }
    with engine.connect() as conn:
        consent = conn.execute(sa.text("select consent_event_id, consent_source from ops.erasures")).one()
    assert tuple(consent) == ("evt-HP101-PURCHASE_APPROVED", "hotmart PURCHASE_APPROVED")
    sync_brevo(db_url, url)
    assert ANA in sim.contacts  # the Brevo sync honours the lifted suppression

    # An event of the old relationship arriving now still brings nothing back.
    store(engine, [purchase(ANA, "HP100", now - timedelta(hours=12), "PURCHASE_REFUNDED")])
    process_pending(engine)
    assert state(engine, "HP100")["buyer_email"] is None


def test_only_a_consent_dated_after_the_erasure_counts(engine):
    erase_person(engine, ANA, requested_by="dpo", delete_in_brevo=None)
    with engine.begin() as conn:
        assert not record_consent(conn, ANA, "evt-old", datetime.now(UTC) - timedelta(days=1))
        assert is_suppressed(conn, ANA)
        later = datetime.now(UTC) + timedelta(minutes=5)
        assert record_consent(conn, ANA, "evt-new", later, "test")
        assert not record_consent(
            conn, ANA, "evt-newer", later + timedelta(minutes=1)
        )  # the first one stands
        assert record_consent(conn, ANA, "evt-earlier", later - timedelta(minutes=1))  # arrived out of order
        assert not is_suppressed(conn, ANA)
    erase_person(engine, ANA, requested_by="dpo", delete_in_brevo=None)  # a new erasure resets the consent
    with engine.connect() as conn:
        assert is_suppressed(conn, ANA)
