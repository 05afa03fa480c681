import requests

from organizer_pipeline.db import urls
from organizer_pipeline.db.embedded import free_port
from organizer_pipeline.sandbox.server import serve_in_thread
from organizer_pipeline.web.app import create_app


def test_health_ok_with_database(db_url):
    with serve_in_thread(create_app(urls.render(db_url))) as root:
        response = requests.get(f"{root}/health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"


def test_health_503_when_database_unreachable():
    dead = f"postgresql+psycopg2://postgres:pw@127.0.0.1:{free_port()}/organizer"
    with serve_in_thread(create_app(dead)) as root:
        response = requests.get(f"{root}/health", timeout=10)
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "error" and "pw" not in response.text
