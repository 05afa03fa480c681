"""Dagster definitions of the cvdw domain (assets, checks, schedules, sensors and their resources)."""

import dagster as dg

defs = dg.Definitions()
