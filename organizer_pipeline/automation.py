"""The declarative automation of every asset that follows the daily-partitioned CVDW (or Hotmart) tables.

Plain `eager()` waits until no upstream partition is missing, which for an unpartitioned child of a daily
partitioning since 2015 means never. This condition fires once when any upstream partition was updated (one
backfill run of a thousand days is one update), still waits while an upstream run is in progress, and never
re-requests on its own: a tick after the update has been handled requests nothing.

`eager()` also ignores whatever happened before the sensor's first tick (an asset added by an upgrade, a daemon
started after the first sync), so a second trigger builds an asset that was never built once an upstream has
data — once: `newly_true()` does not re-request a run that failed (the next upstream update will).
"""

import dagster as dg

FIRST_BUILD = (
    (
        dg.AutomationCondition.missing()
        & dg.AutomationCondition.any_deps_match(~dg.AutomationCondition.missing())
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    )
    .newly_true()
    .with_label("never built, and an upstream has data")
)

EAGER_DESPITE_MISSING_PARTITIONS = (
    dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing()) | FIRST_BUILD
).with_label("eager, even with missing upstream partitions")
