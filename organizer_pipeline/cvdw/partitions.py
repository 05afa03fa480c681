"""The one daily partitioning of every CVDW asset: the day of `referencia_data` in São Paulo time."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from organizer_pipeline import settings

TIMEZONE = "America/Sao_Paulo"
DAY_FORMAT = "%Y-%m-%d"

# Read when the code location loads (a partition set cannot change per run).
daily = dg.DailyPartitionsDefinition(
    start_date=settings.env("CVDW_START_DATE") or "2015-01-01",
    timezone=TIMEZONE,
    end_offset=1,  # today is a valid partition: the 4-hourly schedule reads it
)


def today() -> date:
    return datetime.now(ZoneInfo(TIMEZONE)).date()


def days_of(key_range: dg.PartitionKeyRange) -> tuple[date, date]:
    """First and last day (inclusive) of a partition key range."""
    return (
        datetime.strptime(key_range.start, DAY_FORMAT).date(),
        datetime.strptime(key_range.end, DAY_FORMAT).date(),
    )


def range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run cover the days `first`..`last` (single-run backfill policy)."""
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    return {
        ASSET_PARTITION_RANGE_START_TAG: first.strftime(DAY_FORMAT),
        ASSET_PARTITION_RANGE_END_TAG: last.strftime(DAY_FORMAT),
    }


def clamp(day: date) -> date:
    """A day inside the partition set (API dates outside it are folded onto its ends)."""
    first = datetime.strptime(daily.start.strftime(DAY_FORMAT), DAY_FORMAT).date()
    return min(max(day, first), today())


def yesterday_and_today(now: datetime) -> tuple[date, date]:
    local = now.astimezone(ZoneInfo(TIMEZONE)).date()
    return local - timedelta(days=1), local
