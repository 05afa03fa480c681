import subprocess

import sqlalchemy as sa

from organizer_pipeline.processes import organizer_command
from organizer_pipeline_tests.kpi import fixture


def organizer(*args):
    """The CLI in a subprocess; DATABASE_URL (and PYTHONPATH) come from the test's environment."""
    command = organizer_command(*args)
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_refresh_builds_every_view(engine):
    fixture.insert(engine)
    result = organizer("kpi", "refresh")
    assert result.returncode == 0, result.stderr
    assert "kpi.vendas_mensal" in result.stdout and "created" in result.stdout
    again = organizer("kpi", "refresh", "vendas_mensal")
    assert again.returncode == 0 and "refreshed" in again.stdout and "kpi.vendas " not in again.stdout
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM kpi.vendas_mensal")).scalar() == 6


def test_unknown_view_is_one_line_exit_2(db_url):
    result = organizer("kpi", "refresh", "vendas_anual")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "organizer: unknown KPI view 'vendas_anual'; available: vendas, vendas_mensal, comissoes_mensal, "
        "comissoes_corretor, vso_mensal, estoque_unidades, estoque_empreendimento, prosoluto_mensal, "
        "hotmart_receita_diaria, hotmart_funil"
    ]
