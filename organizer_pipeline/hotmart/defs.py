"""Dagster definitions of the hotmart domain: the inbox assets, their job and the inbox sensor."""

import dagster as dg

from organizer_pipeline.hotmart.assets import hotmart_inbox, hotmart_inbox_backlog
from organizer_pipeline.hotmart.sensors import hotmart_inbox_job, hotmart_inbox_sensor

defs = dg.Definitions(
    assets=[hotmart_inbox],
    asset_checks=[hotmart_inbox_backlog],
    jobs=[hotmart_inbox_job],
    sensors=[hotmart_inbox_sensor],
)
