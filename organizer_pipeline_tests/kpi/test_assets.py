import dataclasses

import dagster as dg
import pytest
import sqlalchemy as sa

from organizer_pipeline.db import urls
from organizer_pipeline.definitions import defs
from organizer_pipeline.kpi import assets, images, views
from organizer_pipeline.resources.warehouse import Warehouse
from organizer_pipeline_tests.kpi import fixture

DAILY = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_date="2025-01-04")


def stub(name):
    """Stand-in for a CVDW endpoint asset: daily partitioned, like the real ones."""

    @dg.asset(name=name, partitions_def=DAILY, group_name="cvdw")
    def _stub():
        return None

    return _stub


RESERVAS = stub("reservas")
VENDAS = assets.asset_key("vendas")
VENDAS_MENSAL = assets.asset_key("vendas_mensal")


def test_every_view_is_an_asset_in_group_kpi():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).group_name == "kpi"}
    assert keys == {
        "kpi/vendas", "kpi/vendas_mensal", "kpi/comissoes_mensal", "kpi/comissoes_corretor", "kpi/vso_mensal",
        "kpi/estoque_unidades", "kpi/estoque_empreendimento", "kpi/prosoluto_mensal",
        "kpi/hotmart_receita_diaria", "kpi/hotmart_funil", "kpi/dashboard",
    }  # fmt: skip
    assert {k.to_user_string() for k in graph.get(assets.asset_key("vso_mensal")).parent_keys} == {
        "kpi/vendas_mensal",
        "distratos",
        "unidades",
        "reservas",
        "empreendimentos",
    }
    assert {k.to_user_string() for k in graph.get(assets.asset_key("prosoluto_mensal")).parent_keys} == {
        "kpi/vendas",
        "prosoluto",
    }
    assert defs.resolve_sensor_def("kpi_automation").default_status == dg.DefaultSensorStatus.RUNNING


def test_automation_does_not_wait_for_every_daily_partition():
    plain_eager = dg.AutomationCondition.eager()
    control = dg.asset(name="control", deps=["reservas"], automation_condition=plain_eager)(lambda: None)
    definitions = dg.Definitions(
        assets=[RESERVAS, control, *assets.ASSETS], resources={"warehouse": Warehouse()}
    )
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(definitions, instance=instance)
        assert first.total_requested == 0  # like eager(): nothing on the initial evaluation
        # one day of three synced: the others are still missing
        dg.materialize([RESERVAS], partition_key="2025-01-02", instance=instance)
        second = dg.evaluate_automation_conditions(definitions, instance=instance, cursor=first.cursor)
        assert second.get_num_requested(VENDAS) == 1
        assert second.get_num_requested(VENDAS_MENSAL) == 1  # chained in the same tick
        assert second.get_num_requested(assets.DASHBOARD_KEY) == 1
        assert second.get_num_requested(dg.AssetKey("control")) == 0  # plain eager() would wait forever
        assert second.get_num_requested(assets.asset_key("hotmart_funil")) == 0  # its upstream did not change
        third = dg.evaluate_automation_conditions(definitions, instance=instance, cursor=second.cursor)
        assert third.total_requested == 0  # handled: no re-request loop


def test_materialize_reports_row_count_and_preview(engine, db_url):
    fixture.insert(engine)
    warehouse = Warehouse(database_url=urls.render(db_url))
    with dg.instance_for_test() as instance:
        result = dg.materialize(assets.ASSETS, resources={"warehouse": warehouse}, instance=instance)
        assert result.success
        meta = result.asset_materializations_for_node("kpi__vendas_mensal")[0].metadata
        assert meta["dagster/row_count"].value == 6
        assert "| mes | idempreendimento |" in meta["preview"].value
        assert meta["action"].value == "created"
        board = result.asset_materializations_for_node("kpi__dashboard")[0].metadata
        assert board["dashboard"].value == "http://127.0.0.1:8080/dashboard"
        assert board["VGV vendido"].value == "R$ 1.580.000,50"
        chart = board["headline_chart"].value
        if images.find_browser():
            assert chart.startswith("![Evolução das vendas](data:image/png;base64,iVBOR")
        else:
            assert "no Chromium found" in chart


def test_changed_sql_marks_the_view_stale_and_freshness_is_declared(engine, db_url):
    """Dagster never derives data staleness for an unpartitioned child of a daily-partitioned parent (an
    AllPartitionMapping over time windows is skipped), so the UI signals come from the code version (the SQL
    fingerprint) and the freshness policy; the automation condition does the re-materializing."""
    from dagster._core.definitions.data_version import StaleStatus
    from dagster._utils.test.data_versions import get_stale_status_resolver  # what the UI uses (private API)

    warehouse = Warehouse(database_url=urls.render(db_url))
    vendas = assets.VIEW_ASSETS[0]
    with dg.instance_for_test() as instance:
        assert dg.materialize([vendas], resources={"warehouse": warehouse}, instance=instance).success
        assert get_stale_status_resolver(instance, [vendas]).get_status(VENDAS) == StaleStatus.FRESH
        changed = dataclasses.replace(views.get("vendas"))
        changed.__dict__["fingerprint"] = "0123456789abcdef"
        resolver = get_stale_status_resolver(instance, [assets.kpi_view_asset(changed)])
        assert resolver.get_status(VENDAS) == StaleStatus.STALE
    assert all(spec.freshness_policy is not None for a in assets.ASSETS for spec in a.specs)


def test_no_browser_means_a_note_not_a_failure():
    image, note = images.png({"data": [], "layout": {}}, browser=lambda: None)
    assert image is None and "no Chromium found" in note


def test_dashboard_asset_on_empty_database(engine, db_url):
    warehouse = Warehouse(database_url=urls.render(db_url))
    result = dg.materialize([assets.dashboard], resources={"warehouse": warehouse})
    meta = result.asset_materializations_for_node("kpi__dashboard")[0].metadata
    assert "no data yet" in meta["headline_chart"].value
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('kpi.vendas')")).scalar() is None


@pytest.mark.parametrize("url", ["https://kpi.example.com/", "https://kpi.example.com"])
def test_dashboard_url_follows_the_setting(monkeypatch, url):
    monkeypatch.setenv("ORGANIZER_WEB_URL", url)
    assert assets.dashboard_url() == "https://kpi.example.com/dashboard"
