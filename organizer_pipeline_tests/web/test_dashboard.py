import gzip

import pytest
import requests
import sqlalchemy as sa

from organizer_pipeline.kpi import build
from organizer_pipeline_tests.browser import chromium, needs_chromium, screenshot


def get(root, path, **kwargs):
    return requests.get(root + path, timeout=30, **kwargs)


def test_dashboard_shows_the_kpis_in_pt_br(filled, web):
    page = get(web, "/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for text in ("R$ 1.580.000,50", "R$ 316.000,10", "R$ 59.400,02", "50,0%", "R$ 1.300,00", "40,0%"):
        assert text in page.text
    for div in (
        "chart-sales",
        "chart-brokers",
        "chart-vso",
        "chart-vso-mensal",
        "chart-prosoluto",
        "chart-stock",
        "chart-hotmart",
    ):
        assert f'id="{div}"' in page.text
    assert '<script src="/static/plotly.min.js">' in page.text and "cdn.plot.ly" not in page.text
    assert '<option value="10">Residencial Alfa</option>' in page.text


def test_dashboard_shows_prosoluto_months_to_sell_out_and_marks_reconstructed_months(filled, web):
    page = get(web, "/dashboard").text
    assert "Pró-soluto" in page and "35,0%" in page and "R$ 420.000,50 pagos direto" in page
    assert "Meses para vender o estoque" in page  # "–": no sale in the last 3 months of the fixture
    # November and December 2024 precede the first daily snapshot: their VSO bars are the reconstructed trace
    assert "2 mês(es) com estoque reconstruído" in page
    assert (
        '"x":["11/2024","12/2024"],"y":[0.0,0.0],"text":["0,0%","0,0%"],"textposition":"outside","name":"Estoque reconstruído'
        in page
    )
    assert '"x":["01/2025","02/2025"],"y":[0.375,0.2]' in page  # snapshot months: 3/8 and 1/5


def test_dashboard_filters(filled, web):
    page = get(web, "/dashboard", params={"empreendimento": "20", "de": "2025-01", "ate": "2025-01"})
    assert page.status_code == 200
    assert "R$ 450.000,50" in page.text and '<option value="20" selected>' in page.text
    assert 'name="de" value="2025-01"' in page.text


def test_bad_filter_is_a_400_page(web):
    page = get(web, "/dashboard", params={"de": "janeiro"})
    assert page.status_code == 400 and "de must be a month as YYYY-MM" in page.text


def test_empty_database_says_no_data_yet(engine, web):
    before = get(web, "/dashboard")  # views not even created yet
    assert before.status_code == 200 and "no data yet" in before.text and "kpi.vendas_mensal" in before.text
    build.build_all(engine)
    after = get(web, "/dashboard")
    assert after.status_code == 200 and "no data yet" in after.text and "vazias" in after.text


def test_names_are_escaped(filled, web):
    with filled.begin() as conn:
        conn.execute(sa.text("UPDATE core.comissoes SET corretor = '</script><script>alert(1)</script>'"))
        conn.execute(sa.text("UPDATE core.empreendimentos SET nome = '<b>x</b>' WHERE idempreendimento = 10"))
    build.build_all(filled)
    page = get(web, "/dashboard").text
    assert "<script>alert(1)" not in page and "<b>x</b>" not in page


def test_plotly_js_is_served_offline(web):
    plain = get(web, "/static/plotly.min.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("text/javascript")
    assert b"plotly" in plain.content[:2000].lower() and len(plain.content) > 1_000_000
    raw = requests.get(
        web + "/static/plotly.min.js", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=30
    )
    assert raw.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw.raw.read()) == plain.content
    cached = get(web, "/static/plotly.min.js", headers={"If-None-Match": plain.headers["etag"]})
    assert cached.status_code == 304


@pytest.mark.browser
@needs_chromium
def test_dashboard_renders_in_a_real_browser(filled, web, tmp_path):
    url = f"{web}/dashboard"
    dom = chromium(["--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-js-errors="[]"' in dom.stdout, dom.stdout[:500]
    assert 'data-charts-rendered="7"' in dom.stdout
    assert dom.stdout.count('class="main-svg"') >= 7  # Plotly drew SVG for every chart
    screenshot(url, "dashboard.png", tmp_path)


@pytest.mark.browser
@needs_chromium
def test_browser_probe_reports_js_errors(filled, web, tmp_path, monkeypatch):
    """The check above can fail: without Plotly's JS the probe records the errors and zero charts."""
    monkeypatch.setattr("organizer_pipeline.kpi.dashboard.PLOTLY_JS_PATH", "/static/missing.js")
    dom = chromium(["--dump-dom", f"{web}/dashboard"], tmp_path)
    assert 'data-charts-rendered="0"' in dom.stdout
    assert "Plotly is not defined" in dom.stdout
