"""Dagster definitions of the enrichment domain (assets, checks, schedules, sensors and their resources)."""

import dagster as dg

defs = dg.Definitions()
