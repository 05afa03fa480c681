"""Dagster's local files (each step's stdout/stderr, the artifact storage) under ORGANIZER_STATE_DIR, wherever
Dagster is started from. dagster.yaml names these classes; a relative `base_dir` in dagster.yaml would follow
the current directory of whichever process (webserver, daemon, code server, `dagster asset materialize`)
opened the instance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.root import LocalArtifactStorage

from organizer_pipeline import settings


def dagster_dir() -> Path:
    return settings.state_dir() / "dagster"


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
        base_dir = config_value.get("base_dir") or str(dagster_dir() / "compute_logs")
        return cls(
            base_dir=base_dir, polling_timeout=config_value.get("polling_timeout"), inst_data=inst_data
        )


class StateDirArtifactStorage(LocalArtifactStorage):
    """`LocalArtifactStorage` whose `base_dir` defaults to <ORGANIZER_STATE_DIR>/dagster/storage (the path the
    relative setting gave when started from the project, so earlier files stay where they are)."""

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"base_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: dict[str, Any]) -> StateDirArtifactStorage:
        return cls(
            base_dir=config_value.get("base_dir") or str(dagster_dir() / "storage"), inst_data=inst_data
        )
