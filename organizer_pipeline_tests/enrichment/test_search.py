"""Semantic search over profiles: the plain function, `organizer profiles search` and the web API."""

from __future__ import annotations

import requests

from organizer_pipeline.cli import main
from organizer_pipeline.enrichment.embeddings import search
from organizer_pipeline.enrichment.enrich import build_profiles
from organizer_pipeline.sandbox.server import serve_in_thread
from organizer_pipeline.web.app import create_app
from organizer_pipeline_tests.enrichment.conftest import add_contact, openrouter_client, scalar


def seed_profiles(engine, server) -> None:
    add_contact(engine, "investidor@example.com", products=["Curso de Investimentos"])
    add_contact(
        engine,
        "arrependido@example.com",
        products=["Mentoria de Vendas"],
        last_product="Mentoria de Vendas",
        status="REFUNDED",
        last_event="PURCHASE_REFUNDED",
    )
    add_contact(
        engine,
        "indeciso@example.com",
        products=["Ebook de Receitas"],
        last_product="Ebook de Receitas",
        status="ABANDONED",
        last_event="PURCHASE_OUT_OF_SHOPPING_CART",
    )
    assert build_profiles(engine, openrouter_client(server).get_api(), 5.0).profiled == 3


def test_nearest_contacts_come_first_with_their_distance(engine, openrouter_server):
    seed_profiles(engine, openrouter_server)
    results = search(engine, openrouter_client(openrouter_server).get_api(), "reembolso solicitado", limit=3)
    assert results[0]["email"] == "arrependido@example.com"
    distances = [r["distance"] for r in results]
    assert distances == sorted(distances) and 0 <= distances[0] < distances[-1] <= 2
    assert scalar(engine, "SELECT count(*) FROM ai.llm_calls WHERE purpose = 'search'") == 1


def test_cli_search(engine, openrouter_server, monkeypatch, capsys):
    seed_profiles(engine, openrouter_server)
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")
    monkeypatch.setenv("OPENROUTER_BASE_URL", f"{openrouter_server.url}/api/v1")
    assert main(["profiles", "search", "carrinho abandonado receitas", "--limit", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "indeciso@example.com" in lines[0]
    monkeypatch.delenv("OPENROUTER_API_KEY")
    assert main(["profiles", "search", "x"]) == 2
    assert "OPENROUTER_API_KEY" in capsys.readouterr().err


def test_api_search_behind_the_token(db_url, engine, openrouter_server, monkeypatch):
    seed_profiles(engine, openrouter_server)
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")
    monkeypatch.setenv("OPENROUTER_BASE_URL", f"{openrouter_server.url}/api/v1")
    monkeypatch.setenv("ORGANIZER_API_TOKEN", "api-token-123")
    with serve_in_thread(create_app(db_url.render_as_string(hide_password=False))) as root:
        url = f"{root}/api/profiles/search"
        assert requests.get(url, params={"q": "investimentos"}, timeout=10).status_code == 401
        auth = {"Authorization": "Bearer api-token-123"}
        answer = requests.get(
            url, params={"q": "curso de investimentos", "limit": 2}, headers=auth, timeout=10
        )
        assert answer.status_code == 200
        body = answer.json()
        assert body["results"][0]["email"] == "investidor@example.com" and len(body["results"]) == 2
        assert isinstance(body["results"][0]["distance"], float)
        assert requests.get(url, params={"q": ""}, headers=auth, timeout=10).status_code == 400
        assert (
            requests.get(url, params={"q": "x", "limit": "999"}, headers=auth, timeout=10).status_code == 400
        )
        monkeypatch.delenv("OPENROUTER_API_KEY")
        unconfigured = requests.get(url, params={"q": "x"}, headers=auth, timeout=10)
        assert unconfigured.status_code == 503 and "OPENROUTER_API_KEY" in unconfigured.json()["error"]
