"""Dagster definitions of the kpi domain: the KPI view assets, the dashboard asset, and the sensor that
evaluates their automation conditions (running by default, so KPIs follow the CVDW/Hotmart syncs)."""

import dagster as dg

from organizer_pipeline.kpi.assets import ASSETS, GROUP

kpi_automation = dg.AutomationConditionSensorDefinition(
    "kpi_automation",
    target=dg.AssetSelection.groups(GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Re-materializes KPI views when their CVDW/Hotmart upstream updates (any daily partition).",
)

defs = dg.Definitions(assets=ASSETS, sensors=[kpi_automation])
