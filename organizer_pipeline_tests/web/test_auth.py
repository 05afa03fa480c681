import pytest
import requests
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from organizer_pipeline.sandbox.server import serve_in_thread
from organizer_pipeline.web.auth import require_api_token, token_matches


@require_api_token
async def secret(request):
    return JSONResponse({"ok": True})


@pytest.fixture(scope="module")
def root():
    with serve_in_thread(Starlette(routes=[Route("/api/x", secret)])) as url:
        yield url


def get(root, **headers):
    return requests.get(f"{root}/api/x", headers=headers, timeout=10)


def test_token_required(root, monkeypatch):
    monkeypatch.setenv("ORGANIZER_API_TOKEN", "s3cret-token")
    assert get(root).status_code == 401
    assert get(root, Authorization="Bearer wrong").status_code == 401
    assert get(root, Authorization="Basic s3cret-token").status_code == 401
    assert get(root, Authorization="Bearer s3cret-token").json() == {"ok": True}


def test_api_disabled_without_configured_token(root, monkeypatch):
    monkeypatch.delenv("ORGANIZER_API_TOKEN", raising=False)
    response = get(root, Authorization="Bearer anything")
    assert response.status_code == 503 and "ORGANIZER_API_TOKEN" in response.json()["error"]


def test_token_matches_edge_cases():
    assert not token_matches(None, "x") and not token_matches("x", None) and not token_matches("", "")
    assert token_matches("ção", "ção")
