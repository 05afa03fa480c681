"""The plain Dagster CLI: a ten-year partition range of four CVDW assets is ONE run that loads exactly that
window in the fewest requests (issue 11's "Must show")."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from organizer_pipeline.cvdw.endpoints import BY_NAME
from organizer_pipeline_tests.cvdw.conftest import EMAIL, TOKEN, dagster_cli, run_count
from organizer_pipeline_tests.cvdw.test_assets import expected, stored

ASSETS = ("reservas", "reservas_condicoes", "comissoes", "unidades")
SINCE, UNTIL = "2015-01-01 00:00:00", "2024-12-31 23:59:59"


@pytest.mark.slow
def test_dagster_cli_ten_year_range_is_one_run_in_the_fewest_requests(recorded, db_url, engine, tmp_path):
    # A sparse history from 2015 to late 2025: the range must load 2015-2024 and nothing after it.
    sim, base_url, recorder = recorded(n_reservas=2000, start="2015-01-01", days=4000)
    completed, dagster_url = dagster_cli(
        ["asset", "materialize", "-m", "organizer_pipeline.definitions",
         "--select", ",".join(ASSETS), "--partition-range", "2015-01-01...2024-12-31"],
        tmp_path, CVDW_BASE_URL=base_url, CVCRM_API_EMAIL=EMAIL, CVCRM_API_TOKEN=TOKEN,
        CVDW_MAX_REQUESTS_PER_MINUTE="0",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    bound = 0
    for name in ASSETS:
        want = expected(sim, name, SINCE, UNTIL)
        everything = expected(sim, name, None, None)
        assert want and want != everything and stored(engine, name) == want, name
        path = BY_NAME[name].path.strip("/")
        assert len(recorder.ok(path)) == max(1, math.ceil(len(want) / 500)), name  # one window, paged
        bound += math.ceil(len(want) / 500)
    assert len(recorder.requests) == len(recorder.ok()) <= bound + len(ASSETS)
    assert run_count(dagster_url) == 1
    with engine.connect() as conn:
        windows = conn.execute(
            sa.text(
                "SELECT endpoint, count(*) FROM raw.cvdw_sync_windows WHERE completed_at IS NOT NULL GROUP BY 1"
            )
        ).all()
    assert dict(windows) == dict.fromkeys(ASSETS, 1)
