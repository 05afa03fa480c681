from datetime import date
from decimal import Decimal

import pytest

from organizer_pipeline.kpi import build, formatting, queries
from organizer_pipeline_tests.kpi import fixture


@pytest.fixture
def built(engine):
    fixture.insert(engine)
    build.build_all(engine)
    return engine


def load(engine, **params):
    with engine.connect() as conn:
        return queries.load(conn, queries.parse_filters(params))


def test_totals_match_the_hand_computed_values(built):
    data = load(built)
    assert data.totals == fixture.EXPECTED_TOTALS
    assert [b["corretor"] for b in data.brokers] == ["Ana", "Bruno", "Carla"]
    assert {row["idempreendimento"]: row["vso"] for row in data.vso} == {
        10: Decimal("0.4000"),  # (3 - 1) / (4 + 1)
        20: Decimal("0.6667"),  # 2 / (2 + 1)
    }


def test_filters_by_project_and_period(built):
    alfa = load(built, empreendimento="10")
    assert (alfa.totals["vendas"], alfa.totals["vgv"]) == (3, Decimal("750000.00"))
    assert alfa.totals["comissoes"] == Decimal("30000.00")  # 12000 + 8000 + 10000
    assert {row["situacao"]: row["unidades"] for row in alfa.stock} == {"Disponível": 3, "Vendida": 2}
    february = load(built, de="2025-02", ate="2025-02")
    assert (february.totals["vendas"], february.totals["vgv"]) == (2, Decimal("630000.00"))
    assert february.totals["vso"] == Decimal("0.2000")  # (2 - 1) / (5 + 0)
    assert february.totals["hotmart_receita"] == Decimal("500.00")
    assert february.totals["hotmart_taxa_reembolso"] == Decimal("0.0000")
    assert [row["dia"] for row in february.hotmart_daily] == [date(2025, 2, 2)]


def test_empty_views_mean_no_data(engine):
    build.build_all(engine)
    data = load(engine)
    assert not data.missing_views and not data.has_data
    assert data.totals["vendas"] == 0 and data.totals["ticket_medio"] is None and data.totals["vso"] is None


def test_missing_views_are_reported(engine):
    data = load(engine)
    assert "kpi.vendas_mensal" in data.missing_views and not data.has_data


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"de": "2025-13"}, "de must be a month"),
        ({"ate": "jan"}, "ate must be a month"),
        ({"de": "2025-03", "ate": "2025-01"}, "de must not be after ate"),
        ({"empreendimento": "1 OR 1=1"}, "empreendimento must be a numeric id"),
        ({"x": "1"}, "unknown filter 'x'"),
    ],
)
def test_bad_filters_are_refused(params, message):
    with pytest.raises(queries.FilterError, match=message):
        queries.parse_filters(params)


def test_pt_br_formats():
    assert formatting.brl(Decimal("1234.56")) == "R$ 1.234,56"
    assert formatting.brl(Decimal("1580000.5")) == "R$ 1.580.000,50"
    assert formatting.brl(-5) == "R$ -5,00"
    assert formatting.number(1234567) == "1.234.567"
    assert formatting.number(999) == "999"
    assert formatting.percent(Decimal("0.375")) == "37,5%"
    assert formatting.percent(None) == formatting.brl(None) == "–"
    assert formatting.brl(Decimal("0.005")) == "R$ 0,01"  # half up, like a cashier
