import itertools
from datetime import UTC, datetime, timedelta

import pytest

from organizer_pipeline.hotmart import state

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def steps(*names: str) -> list[state.Step]:
    return [
        state.Step(
            f"e{i}", f"PURCHASE_{name}", state.EVENT_STATUS[f"PURCHASE_{name}"], T0 + timedelta(minutes=i)
        )
        for i, name in enumerate(names)
    ]


@pytest.mark.parametrize(
    ("events", "final"),
    [
        (("APPROVED",), "APPROVED"),
        (("APPROVED", "COMPLETE"), "COMPLETE"),  # warranty elapsed: progress
        (("BILLET_PRINTED", "APPROVED"), "APPROVED"),
        (("BILLET_PRINTED", "EXPIRED"), "EXPIRED"),
        (("APPROVED", "REFUNDED", "APPROVED"), "REFUNDED"),  # a late APPROVED never resurrects
        (("APPROVED", "CHARGEBACK", "APPROVED"), "CHARGEBACK"),
        (("CANCELED", "APPROVED"), "CANCELED"),
        (("APPROVED", "PROTEST", "APPROVED"), "APPROVED"),  # a dispute won
        (("APPROVED", "PROTEST", "CHARGEBACK"), "CHARGEBACK"),
        (("APPROVED", "COMPLETE", "APPROVED"), "COMPLETE"),  # no step back
        (("APPROVED", "BILLET_PRINTED"), "APPROVED"),
        (("REFUNDED",), "REFUNDED"),
    ],
)
def test_fold(events, final):
    outcome = state.fold(steps(*events))
    assert outcome.status == final
    assert len(outcome.history) == len(events)


def test_history_says_what_was_ignored():
    outcome = state.fold(steps("APPROVED", "REFUNDED", "APPROVED"))
    assert [h["applied"] for h in outcome.history] == [True, True, False]
    assert outcome.history[2]["from"] == "REFUNDED"


def test_arrival_order_does_not_matter():
    ordered = steps("BILLET_PRINTED", "APPROVED", "PROTEST", "APPROVED", "COMPLETE", "REFUNDED")
    expected = state.fold(ordered)
    for permutation in itertools.permutations(ordered):
        assert state.fold(permutation).history == expected.history


def test_same_instant_orders_by_precedence():
    same = [state.Step(f"e{i}", "x", status, T0) for i, status in enumerate(("REFUNDED", "APPROVED"))]
    assert state.fold(same).status == "REFUNDED"
    assert state.fold(reversed(same)).status == "REFUNDED"


def test_every_status_has_a_row_in_the_table():
    assert set(state.TRANSITIONS) == {None, *state.EVENT_STATUS.values()}
    for targets in state.TRANSITIONS.values():
        assert targets <= set(state.EVENT_STATUS.values())
