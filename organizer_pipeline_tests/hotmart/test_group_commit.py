import asyncio
import json

import pytest

from organizer_pipeline.db.embedded import free_port
from organizer_pipeline.hotmart import inbox
from organizer_pipeline.hotmart.group_commit import GroupCommitWriter
from organizer_pipeline.sandbox import hotmart as generator
from organizer_pipeline_tests.hotmart.helpers import rows


async def store_all(dsn: str, events: list[dict], size: int = 4) -> list:
    writer = GroupCommitWriter(inbox.ConnectionPool(dsn, size=size))
    try:
        return await asyncio.gather(
            *(writer.store(e["id"], e["event"], None, json.dumps(e), e) for e in events),
            return_exceptions=True,
        )
    finally:
        writer.pool.close()


def test_concurrent_rows_share_commits_and_each_gets_its_own_answer(engine):
    events = generator.generate(300, seed=31)
    repeated = events + events[:100]  # the same id twice, in flight at the same time
    results = asyncio.run(store_all(inbox.libpq_dsn(engine.url), repeated))
    assert all(isinstance(r, bool) for r in results)
    by_id: dict[str, list[bool]] = {}
    for event, result in zip(repeated, results, strict=True):
        by_id.setdefault(event["id"], []).append(result)
    assert all(answers.count(True) == 1 for answers in by_id.values())
    assert rows(engine, "SELECT count(*) AS n FROM hotmart.webhook_inbox") == [{"n": 300}]
    assert asyncio.run(store_all(inbox.libpq_dsn(engine.url), events[:10])) == [False] * 10


def test_a_payload_jsonb_refuses_does_not_sink_the_batch(engine):
    events = generator.generate(20, seed=32)
    bad = {"id": "nul", "event": "PURCHASE_APPROVED", "data": {"x": "a\u0000b"}}
    results = asyncio.run(store_all(inbox.libpq_dsn(engine.url), [*events, bad], size=1))
    assert results == [True] * 21
    assert rows(engine, "SELECT payload FROM hotmart.webhook_inbox WHERE event_id = 'nul'") == [
        {"payload": {"id": "nul", "event": "PURCHASE_APPROVED", "data": {"x": "ab"}}}
    ]


def test_database_down_fails_every_waiting_request():
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/organizer"
    results = asyncio.run(store_all(dsn, generator.generate(5, seed=33)))
    assert all(isinstance(r, inbox.InboxUnavailable) for r in results)


@pytest.mark.parametrize("size", [1, 8])
def test_every_row_is_committed_when_store_returns(engine, size):
    events = generator.generate(150, seed=34)
    assert asyncio.run(store_all(inbox.libpq_dsn(engine.url), events, size=size)) == [True] * 150
    assert rows(engine, "SELECT count(*) AS n FROM hotmart.webhook_inbox") == [{"n": 150}]
