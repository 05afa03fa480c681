"""Dagster definitions of the kpi domain (assets, checks, schedules, sensors and their resources)."""

import dagster as dg

defs = dg.Definitions()
