"""The declarative automation of every asset that follows the daily-partitioned CVDW (or Hotmart) tables.

Plain `eager()` waits until no upstream partition is missing, which for an unpartitioned child of a daily
partitioning since 2015 means never. This variant fires once when any upstream partition was updated (one
backfill run of a thousand days is one update), still waits while an upstream run is in progress, and never
re-requests on its own: a tick after the update has been handled requests nothing.
"""

import dagster as dg

EAGER_DESPITE_MISSING_PARTITIONS = (
    dg.AutomationCondition.eager()
    .without(~dg.AutomationCondition.any_deps_missing())
    .with_label("eager, even with missing upstream partitions")
)
