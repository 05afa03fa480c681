"""KPI assets: one per view in schema `kpi` (key `kpi/<view>`, group `kpi`) plus `kpi/dashboard`.

Upstream keys are the CVDW and Hotmart table assets (`reservas`, `comissoes`, …, `hotmart_sales`), so lineage
shows where every number comes from. Freshness: eager automation that does NOT wait for every daily partition
of the CVDW assets (plain `eager()` would, because one missing historical day blocks it forever).
"""

from datetime import timedelta

import dagster as dg

from organizer_pipeline import catalog, settings
from organizer_pipeline.automation import EAGER_DESPITE_MISSING_PARTITIONS
from organizer_pipeline.kpi import build, images, queries
from organizer_pipeline.kpi import dashboard as pages
from organizer_pipeline.kpi import formatting as fmt
from organizer_pipeline.kpi.views import BY_NAME, SCHEMA, VIEWS, KpiView
from organizer_pipeline.resources.warehouse import Warehouse

GROUP = "kpi"
AUTOMATION = EAGER_DESPITE_MISSING_PARTITIONS
# Shown in the UI as Pass/Warn/Fail: CVDW syncs every few hours on business days, so a KPI older than half a day
# is suspicious and one older than a day is failing. (Data-version staleness cannot say it: Dagster never derives
# it for an unpartitioned child of a time-partitioned parent, which is what every KPI view is.)
FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=13))


def asset_key(name: str) -> dg.AssetKey:
    """KPI views live under the `kpi` prefix (like their schema); upstream tables are plain keys."""
    return dg.AssetKey([SCHEMA, name]) if name in BY_NAME else dg.AssetKey(name)


def _cell(value: object) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: list[str], rows: list[dict]) -> str:
    if not rows:
        return "_(empty)_"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def view_metadata(
    view: KpiView, result: build.BuildResult, schema: dg.TableSchema | None = None
) -> dict[str, dg.MetadataValue]:
    return {
        "dagster/row_count": dg.MetadataValue.int(result.row_count),
        "dagster/table_name": dg.MetadataValue.text(view.qualified),
        **({"dagster/column_schema": dg.MetadataValue.table_schema(schema)} if schema else {}),
        "kind": dg.MetadataValue.text("materialized view" if view.materialized else "view"),
        "action": dg.MetadataValue.text(result.action),
        "seconds": dg.MetadataValue.float(round(result.seconds, 3)),
        "preview": dg.MetadataValue.md(markdown_table(result.columns, result.preview)),
    }


def kpi_view_asset(view: KpiView) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(view.name),
        group_name=GROUP,
        deps=[asset_key(name) for name in view.upstream],
        description=view.description,
        code_version=view.fingerprint,
        automation_condition=AUTOMATION,
        freshness_policy=FRESHNESS,
        kinds={"postgres", "sql"},
    )
    def _view(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        engine = warehouse.get_engine()
        result = build.build(engine, view)
        context.log.info(
            f"{view.qualified}: {result.action}, {result.row_count} rows in {result.seconds:.2f} s"
        )
        with engine.connect() as conn:
            schema = catalog.column_schema(conn, view.qualified)
        return dg.MaterializeResult(metadata=view_metadata(view, result, schema))

    return _view


VIEW_ASSETS = [kpi_view_asset(view) for view in VIEWS]


DASHBOARD_KEY = dg.AssetKey([SCHEMA, "dashboard"])


def dashboard_url() -> str:
    base = settings.env("ORGANIZER_WEB_URL")
    if not base:
        base = f"http://{settings.env('ORGANIZER_WEB_HOST')}:{settings.env('ORGANIZER_WEB_PORT')}"
    return base.rstrip("/") + "/dashboard"


@dg.asset(
    key=DASHBOARD_KEY,
    group_name=GROUP,
    deps=[asset_key(name) for name in queries.DASHBOARD_VIEWS],
    description="The KPI dashboard served by the web app at /dashboard: its link, the headline numbers and "
    "a PNG of the sales chart (kaleido + Chromium; skipped with a note where there is no browser).",
    automation_condition=AUTOMATION,
    freshness_policy=FRESHNESS,
    kinds={"plotly"},
)
def dashboard(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.get_engine().connect() as conn:
        data = queries.load(conn, queries.Filters())
    metadata: dict[str, dg.MetadataValue] = {"dashboard": dg.MetadataValue.url(dashboard_url())}
    if not data.has_data:
        metadata["headline_chart"] = dg.MetadataValue.md(
            "_no data yet_" + (f" (missing: {', '.join(data.missing_views)})" if data.missing_views else "")
        )
        return dg.MaterializeResult(metadata=metadata)
    for label, value, _note in pages.cards(data):
        metadata[label] = dg.MetadataValue.text(value)
    metadata["vendas"] = dg.MetadataValue.int(data.totals["vendas"])
    metadata["vgv"] = dg.MetadataValue.float(float(data.totals["vgv"]))
    image, note = images.png(pages.sales_figure(data))
    if image is None:
        context.log.warning(note)
        metadata["headline_chart"] = dg.MetadataValue.md(f"_{note}_")
    else:
        metadata["headline_chart"] = dg.MetadataValue.md(images.markdown_image(image, "Evolução das vendas"))
    context.log.info(f"dashboard: {fmt.number(data.totals['vendas'])} vendas, {dashboard_url()}")
    return dg.MaterializeResult(metadata=metadata)


ASSETS = [*VIEW_ASSETS, dashboard]
