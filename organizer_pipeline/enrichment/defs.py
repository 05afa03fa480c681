"""Dagster definitions of the enrichment domain (assets, checks, schedules, sensors and their resources)."""

import dagster as dg

from organizer_pipeline.enrichment.assets import brevo_contacts, contact_profiles
from organizer_pipeline.resources.brevo import BrevoClient
from organizer_pipeline.resources.openrouter import OpenRouterClient

# Runs the enrichment assets' eager conditions after each Hotmart run (on by default, unlike Dagster's
# default automation sensor).
enrichment_automation_sensor = dg.AutomationConditionSensorDefinition(
    "enrichment_automation_sensor",
    target=dg.AssetSelection.groups("enrichment"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)

defs = dg.Definitions(
    assets=[contact_profiles, brevo_contacts],
    sensors=[enrichment_automation_sensor],
    resources={
        # Keys are read from the environment when a step starts, not through dg.EnvVar (a missing EnvVar
        # stops Dagster before the run exists, so nothing says why): a missing key fails that run, in the
        # UI, naming the variable.
        "openrouter": OpenRouterClient(),
        "brevo": BrevoClient(),
    },
)
