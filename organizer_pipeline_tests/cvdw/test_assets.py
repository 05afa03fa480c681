"""The CVDW assets end to end: simulator over HTTP → our client → real PostgreSQL, run by Dagster."""

from __future__ import annotations

from datetime import date, datetime

import dagster as dg
import pytest
import sqlalchemy as sa

from organizer_pipeline.cvdw.assets import ASSETS
from organizer_pipeline.cvdw.endpoints import BY_NAME
from organizer_pipeline.cvdw.partitions import range_tags
from organizer_pipeline.db import urls
from organizer_pipeline.resources.warehouse import Warehouse
from organizer_pipeline.sandbox.cvdw import Simulator
from organizer_pipeline_tests.cvdw.conftest import fast_client

JAN, FEB_END = date(2024, 1, 1), date(2024, 2, 29)
SINCE, UNTIL = "2024-01-01 00:00:00", "2024-02-29 23:59:59"


def materialize(
    base_url: str, db_url, first: date, last: date, selection=None, **client
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ASSETS,
        selection=selection,
        resources={"cvdw": fast_client(base_url, **client), "warehouse": Warehouse(database_url=urls.render(db_url))},
        tags=range_tags(first, last),
        raise_on_error=False,
    )


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    """The metadata of the asset's one step (a range run records it on every partition of the range)."""
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    assert events, f"{asset} was not materialized"
    values = [{key: value.value for key, value in e.materialization.metadata.items()} for e in events]
    assert all(v == values[0] for v in values)
    return values[0]


def partitions_materialized(result: dg.ExecuteInProcessResult, asset: str) -> set[str]:
    return {
        e.materialization.partition
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == asset
    }


def stored(engine, endpoint: str) -> set[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                f"SELECT referencia, to_char(referencia_data, 'YYYY-MM-DD HH24:MI:SS'), ativo "  # noqa: S608
                f"FROM {BY_NAME[endpoint].raw_table}"
            )
        ).all()
    return {tuple(row) for row in rows}


def expected(sim: Simulator, endpoint: str, since: str | None = SINCE, until: str | None = UNTIL) -> set:
    path = BY_NAME[endpoint].path.strip("/")
    return {
        (str(r["referencia"]), r["referencia_data"], r.get("ativo"))
        for r in sim.dataset.rows(path, since, until)
    }


def failed_checks(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        f"{e.asset_key.to_user_string()}.{e.check_name}: {e.description}"
        for e in result.get_asset_check_evaluations()
        if not e.passed
    ]


def test_full_sync_loads_exactly_the_window_in_one_run(simulator, db_url, engine):
    sim, base_url = simulator(n_reservas=2000)
    result = materialize(base_url, db_url, JAN, FEB_END)
    assert result.success
    assert len(partitions_materialized(result, "reservas")) == 60  # one run covers every day of the range
    for endpoint in ("reservas", "reservas_condicoes", "comissoes", "distratos", "repasses", "atendimentos"):
        want = expected(sim, endpoint)
        assert want and stored(engine, endpoint) == want, endpoint
        meta = metadata(result, endpoint)
        assert meta["rows_fetched"] == meta["rows_inserted"] == len(want)
        assert meta["date_windows"] == 2  # 60 days: one window per 31 days, never one request per day
        assert (
            meta["api_calls"] == meta["pages"] == sum(-(-n // 500) or 1 for n in _window_sizes(sim, endpoint))
        )
    assert stored(engine, "unidades") == expected(sim, "unidades")  # range without today: window only
    assert failed_checks(result) == []
    with engine.connect() as conn:
        typed = conn.execute(
            sa.text(
                "SELECT count(*), count(*) FILTER (WHERE data_venda IS NOT NULL AND ativo = 'S'), "
                "min(valor_contrato) FROM core.reservas"
            )
        ).one()
        assert typed[0] == len(expected(sim, "reservas")) and typed[1] > 0 and typed[2] > 0
        # zero dates become NULL; DD/MM/YYYY dates and numeric strings are typed
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM core.comissoes WHERE ativo = 'N' AND data_cad IS NOT NULL")
            ).scalar_one()
            == 0
        )
        unit = conn.execute(sa.text("SELECT data_entrega, valor FROM core.unidades LIMIT 1")).one()
        assert unit.data_entrega == date(2026, 12, 1) and unit.valor > 0
        projects = conn.execute(
            sa.text("SELECT count(*), sum(unidades_total) FROM core.empreendimentos")
        ).one()
        assert projects[0] == 4 and projects[1] == len(expected(sim, "unidades"))
        assert conn.execute(sa.text("SELECT count(*) FROM core.tipologias")).scalar_one() > 0
        assert conn.execute(sa.text("SELECT count(*) FROM raw.cvdw_quarantine")).scalar_one() == 0


def _window_sizes(sim: Simulator, endpoint: str) -> list[int]:
    path = BY_NAME[endpoint].path.strip("/")
    return [
        len(sim.dataset.select(path, "2024-01-01 00:00:00", "2024-01-31 23:59:59")),
        len(sim.dataset.select(path, "2024-02-01 00:00:00", "2024-02-29 23:59:59")),
    ]


def test_incremental_resync_applies_updates_without_duplicates(simulator, db_url, engine):
    sim, base_url = simulator(n_reservas=1500)
    selection = ["reservas", "comissoes"]
    assert materialize(base_url, db_url, JAN, FEB_END, selection).success
    before = stored(engine, "reservas")
    # A January reserva is deactivated in February (CV moves its referencia_data to the change time).
    index = next(
        i
        for i in sim.dataset.select("reservas", SINCE, "2024-01-31 23:59:59")
        if sim.dataset.state(i) == "vendida"
    )
    changed = sim.dataset.update(
        "reservas", index, at=datetime(2024, 2, 20, 9, 30), ativo="N", situacao="Cancelada"
    )
    again = materialize(base_url, db_url, date(2024, 2, 1), FEB_END, selection)
    assert again.success
    meta = metadata(again, "reservas")
    assert meta["rows_updated"] == 1 and meta["rows_inserted"] == 0
    assert meta["rows_unchanged"] == meta["rows_fetched"] - 1
    after = stored(engine, "reservas")
    assert len(after) == len(before)  # updated in place, nothing duplicated, nothing deleted
    assert (changed["referencia"], "2024-02-20 09:30:00", "N") in after
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT r.ativo, r.situacao, w.updated_at > w.first_seen_at FROM core.reservas r "
                    "JOIN raw.cvdw_reservas w USING (referencia) WHERE referencia = :r"),
            {"r": changed["referencia"]},
        ).one()  # fmt: skip
    assert row[0] == "N" and row[1] == "Cancelada" and row[2]
    # Re-reading January: the moved row is no longer in it, everything else is unchanged.
    january = materialize(base_url, db_url, JAN, date(2024, 1, 31), selection)
    meta = metadata(january, "reservas")
    assert (
        meta["rows_inserted"] == meta["rows_updated"] == 0 and meta["rows_unchanged"] == meta["rows_fetched"]
    )
    assert stored(engine, "reservas") == after


def test_backfill_of_30_days_is_one_run_and_one_window(simulator, db_url, engine):
    sim, base_url = simulator(n_reservas=3000)
    result = materialize(base_url, db_url, date(2024, 3, 1), date(2024, 3, 30), ["reservas"])
    assert result.success
    meta = metadata(result, "reservas")
    want = expected(sim, "reservas", "2024-03-01 00:00:00", "2024-03-30 23:59:59")
    assert meta["date_windows"] == 1 and meta["api_calls"] == -(-len(want) // 500)
    assert stored(engine, "reservas") == want
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(DISTINCT run_id) FROM raw.cvdw_sync_windows")).scalar_one()
            == 1
        )


# knobs of the simulator; `client` overrides the fast client where the fault needs real waiting
FAULTS = {
    "rate_limit": dict(
        rate_limit=1,
        rate_window=0.5,
        client=dict(retry_attempts=10, retry_base_delay_seconds=0.2, retry_max_delay_seconds=1.0),
    ),
    "too_many_body_429": dict(too_many_every=3),
    "too_many_body_200": dict(too_many_every=3, too_many_status=200),
    "server_errors": dict(error_every=2),
    "slow_responses": dict(slow_every=3, slow_seconds=1.5),
    "malformed_pages": dict(malformed_every=2),
}


@pytest.mark.parametrize("knobs", FAULTS.values(), ids=FAULTS.keys())
def test_every_fault_knob_ends_with_exactly_the_simulators_rows(simulator, db_url, engine, knobs):
    knobs = dict(knobs)
    client = knobs.pop("client", {})
    sim, base_url = simulator(n_reservas=3000, **knobs)
    result = materialize(
        base_url, db_url, JAN, FEB_END, ["reservas", "comissoes"], timeout_seconds=1.0, **client
    )
    assert result.success, failed_checks(result)
    for endpoint in ("reservas", "comissoes"):
        assert stored(engine, endpoint) == expected(sim, endpoint)
    assert metadata(result, "reservas")["retries"] + metadata(result, "comissoes")["retries"] > 0
    assert failed_checks(result) == []


def test_bad_credentials_fail_the_run_naming_the_variables(simulator, db_url, engine):
    _, base_url = simulator()
    result = materialize(base_url, db_url, JAN, FEB_END, ["reservas"], token="wrong")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    error, message = failure.step_failure_data.error, ""
    while error is not None:
        message, error = message + error.message, error.cause
    assert "401" in message and "CVCRM_API_EMAIL" in message and "CVCRM_API_TOKEN" in message
    assert stored(engine, "reservas") == set()


def test_unidades_run_that_includes_today_reads_all_and_snapshots(simulator, db_url, engine):
    from organizer_pipeline.cvdw.partitions import today

    sim, base_url = simulator(n_reservas=800)
    result = materialize(base_url, db_url, today(), today(), ["unidades", "tipologias"])
    assert result.success
    assert stored(engine, "unidades") == expected(sim, "unidades", None, None)
    with engine.connect() as conn:
        snapshot = conn.execute(
            sa.text("SELECT dia, count(*), count(*) FILTER (WHERE situacao_mapa_disponibilidade = 3) "
                    "FROM core.unidades_situacao_diaria GROUP BY dia")
        ).all()  # fmt: skip
    assert len(snapshot) == 1 and snapshot[0][0] == today() and snapshot[0][1] == sim.dataset.n_units
    assert snapshot[0][2] == sum(
        1 for r in expected_rows(sim, "unidades") if r["situacao_mapa_disponibilidade"] == 3
    )
    assert metadata(result, "unidades")["snapshot_rows"] == sim.dataset.n_units


def expected_rows(sim: Simulator, path: str) -> list[dict]:
    return sim.dataset.rows(path, None, None)
