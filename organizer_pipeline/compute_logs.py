"""Dagster's compute logs (each step's stdout/stderr) under ORGANIZER_STATE_DIR, wherever Dagster is started
from. dagster.yaml names this class; a relative `base_dir` in dagster.yaml would follow the current directory
of whichever process (webserver, daemon, code server, `dagster asset materialize`) opened the instance."""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager

from organizer_pipeline import settings


class StateDirComputeLogManager(LocalComputeLogManager):
    """`LocalComputeLogManager` whose `base_dir` defaults to <ORGANIZER_STATE_DIR>/dagster/compute_logs."""

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            "base_dir": dg.Field(dg.StringSource, is_required=False),
            "polling_timeout": dg.Field(dg.Float, is_required=False),
        }

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: dict[str, Any]) -> StateDirComputeLogManager:
        base_dir = config_value.get("base_dir") or str(default_base_dir())
        return cls(base_dir=base_dir, polling_timeout=config_value.get("polling_timeout"), inst_data=inst_data)


def default_base_dir():
    return settings.state_dir() / "dagster" / "compute_logs"
