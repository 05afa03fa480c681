import os
import subprocess
import sys
from pathlib import Path

from organizer_pipeline import settings
from organizer_pipeline.db.engine import ensure_database


def test_definitions_load_without_database_or_secrets(monkeypatch):
    for name in settings.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    from organizer_pipeline.definitions import defs

    assert defs.resolve_asset_graph() is not None


def test_dagster_definitions_validate(db_url):
    """The code location loads in Dagster's own CLI with the project's dagster.yaml and only the DB vars."""
    ensure_database(os.environ["DAGSTER_PG_URL"])
    dagster = Path(sys.executable).parent / "dagster"
    env = {k: v for k, v in os.environ.items() if k not in settings.ENV_VARS}
    env.update(
        DAGSTER_HOME=str(settings.PROJECT_ROOT),
        DATABASE_URL=os.environ["DATABASE_URL"],
        DAGSTER_PG_URL=os.environ["DAGSTER_PG_URL"],
    )
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "organizer_pipeline.definitions"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=settings.PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
