"""Dagster definitions of the cvdw domain (assets, checks, schedules, sensors and their resources)."""

import dagster as dg

from organizer_pipeline.cvdw.assets import ASSETS
from organizer_pipeline.cvdw.schedules import cvdw_every_4h, cvdw_sync
from organizer_pipeline.cvdw.sensors import cvdw_changes
from organizer_pipeline.resources.cvdw import CvdwClient
from organizer_pipeline.resources.warehouse import Warehouse

defs = dg.Definitions(
    assets=ASSETS,
    jobs=[cvdw_sync],
    schedules=[cvdw_every_4h],
    sensors=[cvdw_changes],
    resources={
        # Secrets stay environment references (resolved when a run starts, shown as EnvVar in the UI).
        # The nested warehouse holds the rate limit every process shares.
        "cvdw": CvdwClient(
            email=dg.EnvVar("CVCRM_API_EMAIL"), token=dg.EnvVar("CVCRM_API_TOKEN"), warehouse=Warehouse()
        ),
    },
)
