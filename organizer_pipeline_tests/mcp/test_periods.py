from datetime import date

import pytest

from organizer_pipeline.mcp.periods import Period, PeriodError, parse

TODAY = date(2025, 11, 14)


@pytest.mark.parametrize(
    ("text", "start", "end", "last_day"),
    [
        ("2025-10", date(2025, 10, 1), date(2025, 10, 1), date(2025, 10, 31)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 1), date(2024, 2, 29)),
        ("2025-Q4", date(2025, 10, 1), date(2025, 12, 1), date(2025, 12, 31)),
        ("2025q1", date(2025, 1, 1), date(2025, 3, 1), date(2025, 3, 31)),
        ("2024", date(2024, 1, 1), date(2024, 12, 1), date(2024, 12, 31)),
        (" 2025-01..2025-06 ", date(2025, 1, 1), date(2025, 6, 1), date(2025, 6, 30)),
        ("mes_atual", date(2025, 11, 1), date(2025, 11, 1), date(2025, 11, 30)),
        ("MES_ANTERIOR", date(2025, 10, 1), date(2025, 10, 1), date(2025, 10, 31)),
        ("trimestre_atual", date(2025, 10, 1), date(2025, 12, 1), date(2025, 12, 31)),
        ("trimestre_anterior", date(2025, 7, 1), date(2025, 9, 1), date(2025, 9, 30)),
        ("ano_atual", date(2025, 1, 1), date(2025, 12, 1), date(2025, 12, 31)),
        ("ano_anterior", date(2024, 1, 1), date(2024, 12, 1), date(2024, 12, 31)),
        ("ultimos_12_meses", date(2024, 12, 1), date(2025, 11, 1), date(2025, 11, 30)),
    ],
)
def test_accepted_forms(text, start, end, last_day):
    period = parse(text, today=TODAY)
    assert (period.start, period.end, period.last_day) == (start, end, last_day)


def test_previous_period_has_the_same_number_of_months_right_before():
    assert parse("2025-01", TODAY).previous() == Period(date(2024, 12, 1), date(2024, 12, 1))
    assert parse("2025-Q1", TODAY).previous() == Period(date(2024, 10, 1), date(2024, 12, 1))
    assert parse("2025", TODAY).previous() == Period(date(2024, 1, 1), date(2024, 12, 1))
    assert parse("2025-02..2025-05", TODAY).previous() == Period(date(2024, 10, 1), date(2025, 1, 1))


@pytest.mark.parametrize("text", ["2025-13", "2025-Q5", "outubro", "2025-06..2025-01", "25-01", "", "2025-1"])
def test_anything_else_is_refused_with_the_accepted_forms(text):
    with pytest.raises(PeriodError, match="YYYY-Qn"):
        parse(text, TODAY)


def test_a_range_is_bounded():
    with pytest.raises(PeriodError, match="máximo"):
        parse("2000-01..2025-01", TODAY)
