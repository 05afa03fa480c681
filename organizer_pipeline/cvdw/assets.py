"""CVDW assets: one factory over the endpoint table, plus the tables CVDW has no endpoint for (`derived.py`)."""

import warnings
from collections.abc import Iterator

import dagster as dg

from organizer_pipeline import catalog
from organizer_pipeline.automation import EAGER_DESPITE_MISSING_PARTITIONS
from organizer_pipeline.cvdw import checks, derived, partitions
from organizer_pipeline.cvdw.endpoints import ENDPOINTS, Endpoint
from organizer_pipeline.cvdw.sync import SyncOptions, sync_range
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.resources.cvdw import CvdwClient
from organizer_pipeline.resources.http import ApiUnavailable
from organizer_pipeline.resources.warehouse import Warehouse

GROUP = "cvdw"
POOL = "cvdw_api"  # one process talks to CVDW at a time (limit 1, set by `organizer up`)
# `backfill_policy` is marked beta in Dagster 1.13; single-run backfills are a deliberate requirement here, so
# the warning would only repeat itself in every process that loads the code location.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy` .* is currently in beta")


def _check_specs(name: str, endpoint: Endpoint) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(check, asset=name, description=description)
        for check, description, _ in checks.check_names(endpoint)
    ]


def check_result(outcome: checks.Outcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=outcome.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.WARN if outcome.warn_only else dg.AssetCheckSeverity.ERROR,
        description=outcome.description,
        metadata=outcome.metadata,
    )


def build_endpoint_asset(endpoint: Endpoint) -> dg.AssetsDefinition:
    """The asset of one CVDW endpoint: reads the run's partition range as one date window (resuming what an
    earlier attempt stored), upserts raw + core, reports counts, and evaluates its checks on what it stored."""

    @dg.asset(
        name=endpoint.name,
        group_name=GROUP,
        deps=[target for _, target in endpoint.references],  # so a run loads reservas before comissoes
        description=f"{endpoint.description} Stored in {endpoint.raw_table} (jsonb) and {endpoint.core_table}.",
        partitions_def=partitions.daily,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=POOL,
        kinds={"postgres"},
        check_specs=_check_specs(endpoint.name, endpoint),
        metadata={"cvdw_path": f"/api/v1/cvdw{endpoint.path}", "table": endpoint.core_table},
    )
    def _asset(context: dg.AssetExecutionContext, cvdw: CvdwClient, warehouse: Warehouse) -> Iterator:
        options = SyncOptions(
            run_id=context.run_id, root_run_id=context.run.root_run_id, log=context.log.info
        )
        try:
            first, last = partitions.days_of(context.partition_key_range)
            api = cvdw.get_api()
            engine = warehouse.get_engine()
            result, seconds = sync_range(
                api, engine, endpoint, first, last, today=partitions.today(), options=options
            )
        except OrganizerError as error:
            # The run fails with what to fix (a wrong token, a reversed range…), not with where it surfaced.
            retryable = isinstance(error, ApiUnavailable)
            raise dg.Failure(description=str(error), allow_retries=retryable) from error
        context.log.info(
            f"{endpoint.name}: {first}..{last}: {result.rows_fetched} rows in {result.pages} pages"
            f" ({result.pages_resumed} already stored), {result.requests} requests"
            f" ({api.stats.retries} retries) in {seconds:.1f} s"
        )
        with engine.connect() as conn:
            table = catalog.table_metadata(conn, endpoint.core_table)
        yield dg.MaterializeResult(metadata={**result.metadata(api, seconds), **table})
        with engine.connect() as conn:
            for outcome in checks.evaluate(conn, endpoint, options.root):
                yield check_result(outcome)

    return _asset


ENDPOINT_ASSETS = [build_endpoint_asset(endpoint) for endpoint in ENDPOINTS]


def build_derived_asset(table: derived.DerivedTable) -> dg.AssetsDefinition:
    """A table CVDW has no endpoint for: unpartitioned (a whole table, "Materialized" in the Catalog), rebuilt
    from core once after any sync or backfill of its sources (declarative automation), then checked."""

    @dg.asset(
        name=table.name,
        group_name=GROUP,
        deps=list(table.deps),
        description=table.description,
        automation_condition=EAGER_DESPITE_MISSING_PARTITIONS,
        kinds={"postgres"},
        check_specs=[
            dg.AssetCheckSpec(check.name, asset=table.name, description=check.description)
            for check in table.checks
        ],
        metadata={"table": table.table},
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator:
        engine = warehouse.get_engine()
        changed, rows = derived.rebuild(engine, table)
        context.log.info(f"{table.table}: {changed} row(s) inserted or changed, {rows} in all")
        with engine.connect() as conn:
            described = catalog.table_metadata(conn, table.table)
        yield dg.MaterializeResult(metadata={"rows_changed": changed, **described})
        with engine.connect() as conn:
            for check in table.checks:
                yield check_result(check.evaluate(conn))

    return _asset


DERIVED_ASSETS = [build_derived_asset(table) for table in derived.TABLES]
empreendimentos, tipologias, prosoluto = DERIVED_ASSETS

ASSETS = [*ENDPOINT_ASSETS, *DERIVED_ASSETS]
