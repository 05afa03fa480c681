"""Dagster definitions of the kpi domain: the KPI view assets, the dashboard asset, and the sensor that
evaluates their automation conditions (running by default, so KPIs follow the CVDW/Hotmart syncs).

The same sensor evaluates the derived CVDW tables (empreendimentos, tipologias, prosoluto): one sensor for the
whole chain puts a derived table and the KPI views built on it in the same run, once, after a sync."""

import dagster as dg

from organizer_pipeline.cvdw.assets import DERIVED_ASSETS
from organizer_pipeline.kpi.assets import ASSETS, GROUP

kpi_automation = dg.AutomationConditionSensorDefinition(
    "kpi_automation",
    target=dg.AssetSelection.groups(GROUP) | dg.AssetSelection.assets(*DERIVED_ASSETS),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Rebuilds the derived CVDW tables and the KPI views once after their CVDW/Hotmart upstream "
    "updates (any daily partition).",
)

defs = dg.Definitions(assets=ASSETS, sensors=[kpi_automation])
