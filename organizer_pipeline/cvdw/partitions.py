"""The one daily partitioning of every CVDW asset: the day of `referencia_data` in São Paulo time."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from organizer_pipeline import settings
from organizer_pipeline.errors import ConfigError

TIMEZONE = "America/Sao_Paulo"
DAY_FORMAT = "%Y-%m-%d"


def start_date() -> str:
    """CVDW_START_DATE, checked: a typo must name the variable, not surface as a Dagster traceback."""
    value = settings.env("CVDW_START_DATE") or "2015-01-01"
    try:
        datetime.strptime(value, DAY_FORMAT)
    except ValueError:
        raise ConfigError(f"CVDW_START_DATE must be a date like 2015-01-01, got {value!r}") from None
    return value


# A single-run backfill of ten years is 3 653 partitions. Unless told otherwise, Dagster writes one "planned"
# event per partition and asset before the run starts and stores the run's per-partition materializations one
# event (and connection) at a time: minutes of bookkeeping for a run whose API part is minutes too. Every
# process that loads this code location (the Dagster CLI, run workers) gets both settings; processes that
# create runs without loading it (daemon, webserver) need them in their environment.
DAGSTER_ENV = {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1", "DAGSTER_EVENT_BATCH_SIZE": "1000"}
for _name, _value in DAGSTER_ENV.items():
    os.environ.setdefault(_name, _value)

# Read when the code location loads (a partition set cannot change per run).
daily = dg.DailyPartitionsDefinition(
    start_date=start_date(),
    timezone=TIMEZONE,
    end_offset=1,  # today is a valid partition: the 4-hourly schedule reads it
)


def today() -> date:
    return datetime.now(ZoneInfo(TIMEZONE)).date()


def days_of(key_range: dg.PartitionKeyRange) -> tuple[date, date]:
    """First and last day (inclusive) of a partition key range. Dagster accepts a reversed range (and would
    record it as a successful run that read nothing): refuse it."""
    first = datetime.strptime(key_range.start, DAY_FORMAT).date()
    last = datetime.strptime(key_range.end, DAY_FORMAT).date()
    if first > last:
        raise ConfigError(
            f"partition range {key_range.start}...{key_range.end} is reversed: the earlier day comes first,"
            f" --partition-range {key_range.end}...{key_range.start}"
        )
    return first, last


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
