"""CVDW assets: one factory over the endpoint table, plus the two tables CVDW has no endpoint for."""

import warnings
from collections.abc import Iterator

import dagster as dg
import sqlalchemy as sa

from organizer_pipeline.cvdw import checks, partitions
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
        yield dg.MaterializeResult(metadata=result.metadata(api, seconds))
        with engine.connect() as conn:
            for outcome in checks.evaluate(conn, endpoint, options.root):
                yield dg.AssetCheckResult(
                    check_name=outcome.name,
                    passed=outcome.passed,
                    severity=dg.AssetCheckSeverity.WARN if outcome.warn_only else dg.AssetCheckSeverity.ERROR,
                    description=outcome.description,
                    metadata=outcome.metadata,
                )

    return _asset


ENDPOINT_ASSETS = [build_endpoint_asset(endpoint) for endpoint in ENDPOINTS]

# Derived tables are rebuilt whole from core at the end of each run that loads their sources (sharing the
# partitioning keeps them in the same run, after their sources); their partition range is not used.
EMPREENDIMENTOS_SQL = """
INSERT INTO core.empreendimentos AS e (referencia, idempreendimento, nome, regiao, unidades_total,
                                       unidades_disponiveis)
SELECT idempreendimento::text, idempreendimento, coalesce(u.nome, r.nome), r.regiao,
       coalesce(u.total, 0), coalesce(u.disponiveis, 0)
FROM (SELECT idempreendimento, max(empreendimento) AS nome, count(*) AS total,
             count(*) FILTER (WHERE situacao_mapa_disponibilidade = 1) AS disponiveis
      FROM core.unidades WHERE idempreendimento IS NOT NULL GROUP BY idempreendimento) u
FULL JOIN (SELECT idempreendimento, max(empreendimento) AS nome, max(regiao) AS regiao
           FROM core.reservas WHERE idempreendimento IS NOT NULL GROUP BY idempreendimento) r
     USING (idempreendimento)
ON CONFLICT (idempreendimento) DO UPDATE SET
    nome = EXCLUDED.nome, regiao = EXCLUDED.regiao, unidades_total = EXCLUDED.unidades_total,
    unidades_disponiveis = EXCLUDED.unidades_disponiveis, updated_at = now()
WHERE (e.nome, e.regiao, e.unidades_total, e.unidades_disponiveis)
      IS DISTINCT FROM (EXCLUDED.nome, EXCLUDED.regiao, EXCLUDED.unidades_total, EXCLUDED.unidades_disponiveis)
"""

TIPOLOGIAS_SQL = """
WITH current AS (
    SELECT idempreendimento, tipologia, count(*) AS unidades_total,
           round(avg(area_privativa), 2) AS area_privativa_media, round(avg(valor), 2) AS valor_medio
    FROM core.unidades WHERE idempreendimento IS NOT NULL AND tipologia IS NOT NULL
    GROUP BY idempreendimento, tipologia
), removed AS (
    DELETE FROM core.tipologias t
    WHERE NOT EXISTS (SELECT 1 FROM current c
                      WHERE c.idempreendimento = t.idempreendimento AND c.tipologia = t.tipologia)
)
INSERT INTO core.tipologias AS t (idempreendimento, tipologia, unidades_total, area_privativa_media, valor_medio)
SELECT * FROM current
ON CONFLICT (idempreendimento, tipologia) DO UPDATE SET
    unidades_total = EXCLUDED.unidades_total, area_privativa_media = EXCLUDED.area_privativa_media,
    valor_medio = EXCLUDED.valor_medio, updated_at = now()
WHERE (t.unidades_total, t.area_privativa_media, t.valor_medio)
      IS DISTINCT FROM (EXCLUDED.unidades_total, EXCLUDED.area_privativa_media, EXCLUDED.valor_medio)
"""


def _derived(name: str, deps: list[str], description: str, statement: str, table: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        group_name=GROUP,
        deps=deps,
        description=description,
        partitions_def=partitions.daily,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"postgres"},
        metadata={"table": table},
    )
    def _asset(warehouse: Warehouse) -> dg.MaterializeResult:
        with warehouse.get_engine().begin() as conn:
            changed = conn.execute(sa.text(statement)).rowcount
            total = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
        return dg.MaterializeResult(metadata={"rows_changed": changed, "rows": total})

    return _asset


empreendimentos = _derived(
    "empreendimentos",
    ["unidades", "reservas"],
    "Empreendimentos (projects). CVDW has NO endpoint for them (contract §7.4): derived from core.unidades "
    "(units, availability) and core.reservas (projects with sales but no unit rows, regiao).",
    EMPREENDIMENTOS_SQL,
    "core.empreendimentos",
)
tipologias = _derived(
    "tipologias",
    ["unidades"],
    "Tipologias (unit types) per empreendimento. CVDW has NO endpoint for them: derived from the `tipologia` "
    "of core.unidades, with unit count, mean private area and mean price.",
    TIPOLOGIAS_SQL,
    "core.tipologias",
)

ASSETS = [*ENDPOINT_ASSETS, empreendimentos, tipologias]
