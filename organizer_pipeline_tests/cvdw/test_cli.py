"""The plain Dagster CLI: a partition range of four CVDW assets is ONE run that loads exactly that window."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from organizer_pipeline import settings
from organizer_pipeline.db import urls
from organizer_pipeline.db.engine import ensure_database
from organizer_pipeline_tests.cvdw.conftest import EMAIL, TOKEN
from organizer_pipeline_tests.cvdw.test_assets import expected, stored


@pytest.mark.slow
def test_dagster_cli_partition_range_is_one_run_for_exactly_the_window(simulator, db_url, engine, tmp_path):
    sim, base_url = simulator(n_reservas=1200)
    dagster_url = urls.normalize(os.environ["DAGSTER_PG_URL"])
    ensure_database(dagster_url)
    root = settings.PROJECT_ROOT
    env = {
        **os.environ,
        "DAGSTER_HOME": str(root),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
        "CVDW_BASE_URL": base_url,
        "CVCRM_API_EMAIL": EMAIL,
        "CVCRM_API_TOKEN": TOKEN,
        "CVDW_MAX_REQUESTS_PER_MINUTE": "0",
    }
    dagster = Path(sys.executable).with_name("dagster")
    completed = subprocess.run(
        [str(dagster), "asset", "materialize", "-m", "organizer_pipeline.definitions",
         "--select", "reservas,reservas_condicoes,comissoes,unidades",
         "--partition-range", "2024-01-01...2024-02-29"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    for endpoint in ("reservas", "reservas_condicoes", "comissoes", "unidades"):
        assert stored(engine, endpoint) == expected(sim, endpoint), endpoint
    with sa.create_engine(urls.render(dagster_url), poolclass=sa.pool.NullPool).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM runs")).scalar_one() == 1
    with engine.connect() as conn:
        windows = conn.execute(
            sa.text("SELECT endpoint, count(*) FROM raw.cvdw_sync_windows GROUP BY 1")
        ).all()
    assert dict(windows) == {"reservas": 2, "reservas_condicoes": 2, "comissoes": 2, "unidades": 2}
