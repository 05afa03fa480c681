"""The tables CVDW has no endpoint for: whole (unpartitioned) tables that follow their daily-partitioned sources
through declarative automation, materializable with no partition argument, checked after each rebuild."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest
import sqlalchemy as sa

from organizer_pipeline.cvdw.assets import DERIVED_ASSETS, ENDPOINT_ASSETS
from organizer_pipeline.cvdw.partitions import range_tags
from organizer_pipeline.db import urls
from organizer_pipeline.definitions import defs
from organizer_pipeline.kpi.assets import ASSETS as KPI_ASSETS
from organizer_pipeline.kpi.defs import kpi_automation
from organizer_pipeline.resources.warehouse import Warehouse
from organizer_pipeline_tests.cvdw.conftest import dagster_cli, run_count
from organizer_pipeline_tests.kpi import fixture

DERIVED = {"empreendimentos", "tipologias", "prosoluto"}
DAILY = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_date="2025-01-08")


def stub(name: str) -> dg.AssetsDefinition:
    """Stand-in for a CVDW endpoint asset: daily partitioned, one run per range, like the real ones."""

    @dg.asset(
        name=name, partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run(), group_name="cvdw"
    )
    def _stub() -> None:
        return None

    return _stub


def test_derived_tables_are_whole_tables_outside_the_sync_job():
    graph = defs.resolve_asset_graph()
    for name in DERIVED:
        node = graph.get(dg.AssetKey(name))
        assert node.partitions_def is None and node.automation_condition is not None, name
        assert node.check_keys, f"{name} has no asset check"
    job = defs.resolve_job_def("cvdw_sync")
    assert {key.to_user_string() for key in job.asset_layer.selected_asset_keys} == {
        asset.key.to_user_string() for asset in ENDPOINT_ASSETS
    }
    target = kpi_automation.asset_selection.resolve(graph)
    assert {dg.AssetKey(name) for name in DERIVED} <= target


def test_automation_runs_the_derived_tables_once_after_a_partitioned_run():
    """A range run of reservas + unidades -> exactly one run with the derived tables (and the KPI views built
    on them, same sensor); the next tick, with nothing new, requests nothing; a run of unidades alone brings
    back only the tables built from unidades."""
    endpoints = [stub(asset.key.to_user_string()) for asset in ENDPOINT_ASSETS]
    sensor = dg.AutomationConditionSensorDefinition(  # the real target, evaluated in-process
        "derived_test", target=kpi_automation.asset_selection, use_user_code_server=True
    )
    definitions = dg.Definitions(
        assets=[*endpoints, *DERIVED_ASSETS, *KPI_ASSETS],
        sensors=[sensor],
        resources={"warehouse": Warehouse()},
    )
    repository = definitions.get_repository_def()

    with dg.instance_for_test() as instance:

        def tick(cursor):
            context = dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=repository)
            result = sensor.evaluate_tick(context)
            return [
                set(key.to_user_string() for key in run.asset_selection) for run in result.run_requests
            ], (result.cursor)

        runs, cursor = tick(None)
        assert runs == []  # nothing updated yet
        synced = dg.materialize(
            endpoints,
            selection=["reservas", "unidades"],
            instance=instance,
            tags=range_tags(date(2025, 1, 2), date(2025, 1, 6)),
        )
        assert synced.success and len(synced.get_asset_materialization_events()) == 2 * 5  # 5 days, one run
        runs, cursor = tick(cursor)
        assert len(runs) == 1 and DERIVED <= runs[0]
        assert "kpi/vso_mensal" in runs[0] and "kpi/prosoluto_mensal" in runs[0]  # chained in the same run
        assert not any(name in runs[0] for name in ("reservas", "unidades"))  # never the partitioned sources
        runs, cursor = tick(cursor)
        assert runs == []  # handled: no second run while nothing changes
        dg.materialize(endpoints, selection=["unidades"], instance=instance, partition_key="2025-01-07")
        runs, cursor = tick(cursor)
        assert len(runs) == 1 and runs[0] & DERIVED == {"empreendimentos", "tipologias"}


def test_automation_builds_derived_tables_that_were_never_built():
    """The sensor's first tick comes after a sync (an upgrade adds `prosoluto`, the daemon starts late): eager()
    alone would wait for the next sync; the first-build trigger requests them once, and only once."""
    endpoints = [stub(asset.key.to_user_string()) for asset in ENDPOINT_ASSETS]
    sensor = dg.AutomationConditionSensorDefinition(
        "first_build_test", target=dg.AssetSelection.assets(*DERIVED_ASSETS), use_user_code_server=True
    )
    repository = dg.Definitions(
        assets=[*endpoints, *DERIVED_ASSETS], sensors=[sensor], resources={"warehouse": Warehouse()}
    ).get_repository_def()
    with dg.instance_for_test() as instance:
        dg.materialize(
            endpoints, selection=["reservas", "unidades"], instance=instance, partition_key="2025-01-03"
        )
        cursor, requested = None, []
        for _ in range(3):
            context = dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=repository)
            result = sensor.evaluate_tick(context)
            cursor = result.cursor
            requested.append(
                [{key.to_user_string() for key in run.asset_selection} for run in result.run_requests]
            )
    assert requested == [[DERIVED], [], []]


def checks_of(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_derived_assets_rebuild_and_report_their_checks(engine, db_url):
    fixture.insert(engine)
    with engine.begin() as conn:  # a sale of an empreendimento whose units were never loaded
        conn.execute(
            sa.text(
                "INSERT INTO core.reservas (referencia, idreserva, ativo, data_venda, idempreendimento, "
                "empreendimento, valor_contrato, row_hash) VALUES ('90', 90, 'S', '2025-02-01', 77, 'Ômega', 1, 'h')"
            )
        )
        conn.execute(sa.text("DELETE FROM core.prosoluto"))  # the asset must build it again
    warehouse = Warehouse(database_url=urls.render(db_url))
    result = dg.materialize(DERIVED_ASSETS, resources={"warehouse": warehouse}, raise_on_error=False)
    assert result.success  # unpartitioned: no partition key, no range tags
    events = {
        e.asset_key.to_user_string(): e.materialization for e in result.get_asset_materialization_events()
    }
    assert {name: e.partition for name, e in events.items()} == dict.fromkeys(DERIVED)
    assert events["prosoluto"].metadata["dagster/row_count"].value == len(fixture.EXPECTED_PROSOLUTO)
    checks = checks_of(result)
    unknown = checks["series_known"]
    assert not unknown.passed and unknown.severity == dg.AssetCheckSeverity.WARN
    assert "'permuta' (e.g. 'Permuta': 1 row(s), 1 sale(s))" in unknown.description
    assert unknown.metadata["unknown_series"].value == fixture.UNKNOWN_SERIES
    assert checks["condicoes_match_contract"].passed, checks["condicoes_match_contract"].description
    no_units = checks["projects_with_sales_have_units"]
    assert not no_units.passed and "77 Ômega" in no_units.description
    assert checks["units_have_a_tipologia"].passed is False  # the fixture's units carry no tipologia
    with engine.connect() as conn:
        projects = conn.execute(
            sa.text("SELECT idempreendimento FROM core.empreendimentos ORDER BY 1")
        ).scalars()
        assert list(projects) == [10, 20, 77]


def test_a_known_financing_series_added_later_moves_the_money(engine, db_url):
    """Which series are financing is data: once 'Permuta' is declared financing, reserva 3's 30000 moves from
    pró-soluto to financed at the next rebuild, and the check passes."""
    fixture.insert(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO core.prosoluto_series (serie, financiamento) VALUES (core.normaliza_serie(:s), true)"
            ),
            {"s": "PERMUTA"},
        )
    result = dg.materialize(
        [asset for asset in DERIVED_ASSETS if asset.key.to_user_string() == "prosoluto"],
        resources={"warehouse": Warehouse(database_url=urls.render(db_url))},
    )
    assert checks_of(result)["series_known"].passed
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT valor_prosoluto, valor_financiado FROM core.prosoluto WHERE idreserva = 3")
        ).one()
    assert (str(row.valor_prosoluto), str(row.valor_financiado)) == ("45000.50", "405000.00")


NAMES = {
    "Financiamento Bancário": "financiamento bancario",
    "  FINANCIAMENTO-BANCÁRIO ": "financiamento bancario",
    "financiamento  bancario": "financiamento bancario",
    "1ª Intercalada": "intercalada",
    "Pós-Chaves": "pos chaves",
    "Subsídio (MCMV)": "subsidio mcmv",
    "À VISTA": "a vista",
    "": "",
}


def test_series_names_match_whatever_the_case_and_accents(engine):
    with engine.connect() as conn:
        got = conn.execute(
            sa.text("SELECT name, core.normaliza_serie(name) FROM unnest(CAST(:names AS text[])) AS name"),
            {"names": list(NAMES)},
        ).all()
    assert dict(got) == NAMES


def test_series_table_only_takes_normalised_names(engine):
    with pytest.raises(sa.exc.IntegrityError, match="prosoluto_series_serie_check"), engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO core.prosoluto_series (serie, financiamento) VALUES ('Carta Crédito', true)")
        )


@pytest.mark.slow
def test_dagster_cli_materializes_a_derived_table_without_a_partition(engine, db_url, tmp_path):
    fixture.insert(engine)
    completed, dagster_url = dagster_cli(
        [
            "asset",
            "materialize",
            "-m",
            "organizer_pipeline.definitions",
            "--select",
            "empreendimentos,prosoluto",
        ],
        tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM core.empreendimentos")).scalar_one() == 2
        assert conn.execute(sa.text("SELECT count(*) FROM core.prosoluto")).scalar_one() == 4
    assert run_count(dagster_url) == 1
