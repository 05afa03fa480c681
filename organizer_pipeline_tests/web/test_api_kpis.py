import csv
import io

import pytest
import requests

from organizer_pipeline.kpi import api_query

TOKEN = "kpi-test-token"


@pytest.fixture(autouse=True)
def api_token(monkeypatch):
    monkeypatch.setenv("ORGANIZER_API_TOKEN", TOKEN)


def api(root, path, token=TOKEN, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{root}{path}", params=params, headers=headers, timeout=30)


def test_token_is_required(web):
    assert api(web, "/api/kpis/vendas_mensal", token=None).status_code == 401
    assert api(web, "/api/kpis/vendas_mensal", token="wrong").status_code == 401
    assert api(web, "/api/kpis", token=None).status_code == 401


def test_vendas_mensal_json(filled, web):
    response = api(web, "/api/kpis/vendas_mensal", de="2025-01", ate="2025-01")
    assert response.status_code == 200
    body = response.json()
    assert body["view"] == "kpi.vendas_mensal" and body["next"] is None and body["count"] == 3
    got = {
        (r["idempreendimento"], r["total"]): (r["vendas"], r["vgv"], r["ticket_medio"]) for r in body["data"]
    }
    assert got == {
        (10, False): (2, 500000.0, 250000.0),
        (20, False): (1, 450000.5, 450000.5),
        (None, True): (3, 950000.5, 316666.83),
    }
    assert {r["mes"] for r in body["data"]} == {"2025-01-01"}


def test_prosoluto_mensal_and_vso_source(filled, web):
    body = api(web, "/api/kpis/prosoluto_mensal", empreendimento="10").json()
    assert body["view"] == "kpi.prosoluto_mensal" and "pró-soluto" in body["description"].lower()
    assert [
        (r["mes"], r["valor_prosoluto"], r["valor_financiado"], r["percentual_prosoluto"])
        for r in body["data"]
    ] == [
        ("2025-01-01", 95000.0, 405000.0, 0.19),
        ("2025-02-01", 250000.0, 0.0, 1.0),
    ]
    vso = api(web, "/api/kpis/vso_mensal", ate="2024-12").json()["data"]
    assert {(r["mes"], r["estoque_fonte"]) for r in vso} == {
        ("2024-11-01", "reconstruido"),
        ("2024-12-01", "reconstruido"),
    }
    months = api(web, "/api/kpis/estoque_empreendimento").json()["data"]
    assert [(r["idempreendimento"], r["estoque"], r["meses_para_vender"]) for r in months] == [
        (10, 3, None),
        (20, 1, None),
    ]


def test_period_on_timestamps_includes_the_last_day(filled, web):
    body = api(web, "/api/kpis/vendas", de="2025-01-20", ate="2025-01-25").json()
    assert [r["idreserva"] for r in body["data"]] == [2, 3]  # 3 sold 2025-01-25 15:30


def test_pagination_and_csv(filled, web):
    first = api(web, "/api/kpis/vendas", limit="2", format="csv")
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(first.text)))
    assert [r["idreserva"] for r in rows] == ["1", "2"] and rows[0]["valor_contrato"] == "300000.0"
    assert 'rel="next"' in first.headers["link"]
    seen = []
    url = "/api/kpis/vendas?limit=2"
    while url:
        body = requests.get(web + url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).json()
        seen += [r["idreserva"] for r in body["data"]]
        url = body["next"]
    assert seen == [1, 2, 3, 4, 7]


def test_empreendimento_filter(filled, web):
    body = api(web, "/api/kpis/estoque_unidades", empreendimento="20").json()
    assert {(r["situacao"], r["unidades"]) for r in body["data"]} == {
        ("Disponível", 1),
        ("Vendida", 2),
        ("Bloqueada", 1),
    }


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/kpis/pg_shadow", {}, "unknown view 'pg_shadow'"),
        ("/api/kpis/vendas;drop", {}, "unknown view"),
        ("/api/kpis/vendas", {"de": "2025-02-30"}, "de must be a date"),
        ("/api/kpis/vendas", {"de": "2025-02", "ate": "2025-01"}, "de must not be after ate"),
        ("/api/kpis/vendas", {"limit": "0"}, "limit must be a whole number from 1 to 10000"),
        ("/api/kpis/vendas", {"offset": "-1"}, "offset must be"),
        ("/api/kpis/vendas", {"format": "xml"}, "format must be one of json, csv"),
        ("/api/kpis/vendas", {"order": "valor"}, "unknown parameter 'order'"),
        ("/api/kpis/comissoes_corretor", {"de": "2025-01"}, "has no period column"),
        ("/api/kpis/hotmart_funil", {"empreendimento": "10"}, "not per empreendimento"),
        ("/api/kpis/vendas", {"empreendimento": "10 OR 1=1"}, "empreendimento must be a whole number"),
    ],
)
def test_bad_requests_are_400(web, path, params, message):
    response = api(web, path, **params)
    assert response.status_code == 400 and message in response.json()["error"]


def test_view_not_built_yet_is_503(web):
    response = api(web, "/api/kpis/vendas_mensal")
    assert response.status_code == 503 and "organizer kpi refresh" in response.json()["error"]


def test_catalogue_lists_every_view(web):
    body = api(web, "/api/kpis").json()
    assert [v["name"] for v in body["views"]] == list(api_query.BY_NAME)
    formulas = {v["name"]: v["formula"] for v in body["views"]}
    assert "(vendidas - distratos) / (estoque_inicial + lancadas)" in formulas["vso_mensal"]
    assert "valor_prosoluto / vgv_com_condicoes" in formulas["prosoluto_mensal"]
    assert "estoque / media_mensal_3m" in formulas["estoque_empreendimento"]


def test_statement_binds_every_value():
    request = api_query.parse_request("vendas", {"de": "2025-01", "empreendimento": "10", "limit": "5"})
    compiled = api_query.statement(request).compile()
    assert "2025" not in str(compiled) and set(compiled.params.values()) >= {10, 6}
