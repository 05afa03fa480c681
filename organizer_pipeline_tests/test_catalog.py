"""The Catalog as a business user meets it: every asset owned, tagged by domain, with a one-line summary; every
table's materialization carries its column schema (read from PostgreSQL), row count and name; and Dagster's
current CLI (`dg`) works on the project as its docs teach."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from organizer_pipeline import catalog, settings
from organizer_pipeline.cvdw.assets import DERIVED_ASSETS
from organizer_pipeline.db import urls
from organizer_pipeline.definitions import defs
from organizer_pipeline.resources.warehouse import Warehouse


def test_every_asset_has_an_owner_a_domain_kinds_and_a_one_line_summary():
    graph = defs.resolve_asset_graph()
    assert len(list(graph.asset_nodes)) >= 25
    for node in graph.asset_nodes:
        name = node.key.to_user_string()
        domain = catalog.DOMAINS[node.group_name]
        assert node.owners == [domain.owner], name
        assert node.tags["domain"] == node.group_name, name
        assert any(tag.startswith("dagster/kind/") for tag in node.tags), f"{name} has no kind"
        first_line = (node.description or "").splitlines()[0]
        assert first_line == catalog.SUMMARIES[name] and len(first_line) <= 110, name
        assert "\n\n" in node.description, f"{name}: the technical description follows the summary"


def test_table_metadata_is_read_from_the_table_itself(engine):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO core.empreendimentos (referencia, idempreendimento, nome, unidades_total) "
                "VALUES ('10', 10, 'Alfa', 5), ('20', 20, 'Beta', 3)"
            )
        )
        conn.execute(sa.text("COMMENT ON COLUMN core.empreendimentos.regiao IS 'Região comercial'"))
        meta = catalog.table_metadata(conn, "core.empreendimentos")
        columns = conn.execute(
            sa.text(
                "SELECT column_name, is_nullable FROM information_schema.columns "
                "WHERE table_schema = 'core' AND table_name = 'empreendimentos' ORDER BY ordinal_position"
            )
        ).all()
    schema = meta["dagster/column_schema"]
    assert [(c.name, c.constraints.nullable) for c in schema.columns] == [
        (name, nullable == "YES") for name, nullable in columns
    ]
    by_name = {c.name: c for c in schema.columns}
    assert by_name["idempreendimento"].constraints.unique and by_name["idempreendimento"].type == "bigint"
    assert (
        by_name["unidades_disponiveis"].description
        == catalog.COLUMN_DESCRIPTIONS["core.empreendimentos"]["unidades_disponiveis"]
    )
    assert by_name["regiao"].description == "Região comercial"  # no description of ours: the COMMENT
    assert meta["dagster/row_count"] == 2 and meta["dagster/table_name"] == "core.empreendimentos"


def test_a_materialization_reports_schema_row_count_and_table(db_url, engine):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO core.unidades (referencia, referencia_data, ativo, idunidade, idempreendimento, "
                "empreendimento, tipologia, situacao_mapa_disponibilidade, row_hash) VALUES "
                "('1', now(), 'S', 1, 10, 'Alfa', '2 quartos', 1, 'h1'), "
                "('2', now(), 'S', 2, 10, 'Alfa', '2 quartos', 3, 'h2')"
            )
        )
    result = dg.materialize(
        DERIVED_ASSETS,
        selection="empreendimentos",
        resources={"warehouse": Warehouse(database_url=urls.render(db_url))},
    )
    [materialization] = result.asset_materializations_for_node("empreendimentos")
    metadata = materialization.metadata
    assert metadata["dagster/table_name"].value == "core.empreendimentos"
    assert metadata["dagster/row_count"].value == 1
    names = [column.name for column in metadata["dagster/column_schema"].schema.columns]
    assert names[:3] == ["referencia", "idempreendimento", "nome"]


def dg_cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in settings.ENV_VARS}
    env["DAGSTER_HOME"] = str(home)  # an empty instance: listing and checking need no database
    return subprocess.run(
        [str(Path(sys.executable).with_name("dg")), *args],
        cwd=settings.PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_dg_lists_and_checks_the_definitions(tmp_path):
    listed = dg_cli("list", "defs", "--json", home=tmp_path)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assets = json.loads(listed.stdout)["assets"]
    keys = {asset.get("key") or asset.get("asset_key") for asset in assets}
    expected = {node.key.to_user_string() for node in defs.resolve_asset_graph().asset_nodes}
    assert keys == expected
    checked = dg_cli("check", "defs", home=tmp_path)
    assert (
        checked.returncode == 0 and "All definitions loaded successfully" in checked.stdout + checked.stderr
    )
