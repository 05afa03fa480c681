"""The plain Dagster CLI: a partition range of four CVDW assets is ONE run that loads exactly that window."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from organizer_pipeline_tests.cvdw.conftest import EMAIL, TOKEN, dagster_cli, run_count
from organizer_pipeline_tests.cvdw.test_assets import expected, stored


@pytest.mark.slow
def test_dagster_cli_partition_range_is_one_run_for_exactly_the_window(simulator, db_url, engine, tmp_path):
    sim, base_url = simulator(n_reservas=1200)
    completed, dagster_url = dagster_cli(
        ["asset", "materialize", "-m", "organizer_pipeline.definitions",
         "--select", "reservas,reservas_condicoes,comissoes,unidades",
         "--partition-range", "2024-01-01...2024-02-29"],
        tmp_path, CVDW_BASE_URL=base_url, CVCRM_API_EMAIL=EMAIL, CVCRM_API_TOKEN=TOKEN,
        CVDW_MAX_REQUESTS_PER_MINUTE="0",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    for endpoint in ("reservas", "reservas_condicoes", "comissoes", "unidades"):
        assert stored(engine, endpoint) == expected(sim, endpoint), endpoint
    assert run_count(dagster_url) == 1
    with engine.connect() as conn:
        windows = conn.execute(
            sa.text("SELECT endpoint, count(*) FROM raw.cvdw_sync_windows GROUP BY 1")
        ).all()
    assert dict(windows) == {"reservas": 2, "reservas_condicoes": 2, "comissoes": 2, "unidades": 2}
