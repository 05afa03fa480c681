"""The sandbox company (#14.1): its shape, judged from the rows the simulator serves — counts, units that
agree with the reservas, a year and more of monthly sales in every empreendimento, seasonality and launch
spikes, payment series in realistic spellings, and determinism."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pytest

from organizer_pipeline.sandbox.cvdw import create_app, create_demo_app
from organizer_pipeline.sandbox.cvdw_company import FINANCING_KINDS, KIND_OF, SERIES, Company

START, DAYS = "2023-12-01", 730


@pytest.fixture(scope="module")
def company() -> Company:
    return Company(1500, START, DAYS)


def rows(dataset, endpoint: str) -> list[dict]:
    return dataset.rows(endpoint)


def test_counts_and_window(company):
    reservas, unidades = rows(company, "reservas"), rows(company, "unidades")
    assert 1300 <= len(reservas) <= 1600 and len(unidades) == 2000
    projects = {u["idempreendimento"] for u in unidades}
    assert len(projects) == 6 and projects == {r["idempreendimento"] for r in reservas}
    last_day = datetime.strptime(START, "%Y-%m-%d") + timedelta(days=DAYS - 1)
    for endpoint, (count, date_of, _) in company.endpoints.items():
        dates = [date_of(i) for i in range(count())]
        assert dates == sorted(dates), endpoint  # served in referencia_data order, like CVDW
        assert START <= dates[0] and dates[-1] < last_day.strftime("%Y-%m-%d"), (
            endpoint
        )  # the last day is live
        assert count() > 0, endpoint
    counts = {endpoint: spec[0]() for endpoint, spec in company.endpoints.items()}
    sold = sum(1 for r in reservas if r["data_venda"])
    assert counts["comissoes"] == sold  # one commission per sale
    assert 0.03 * sold < counts["distratos"] < 0.12 * sold
    assert 0.5 * sold < counts["repasses"] < sold and counts["atendimentos"] > 0.2 * sold


def test_units_agree_with_the_reservas(company):
    """Sold units are Vendida (held by the selling reserva), reserved ones Reservada; a distrato or a
    cancelled reserva frees the unit; a unit is never taken twice at once."""
    by_unit = defaultdict(list)
    for r in rows(company, "reservas"):
        by_unit[r["idunidade"]].append(r)
    states = Counter()
    for unit in rows(company, "unidades"):
        deals = sorted(by_unit[int(unit["idunidade"])], key=lambda r: r["data_cad"])
        mapa = unit["situacao_mapa_disponibilidade"]
        states[mapa] += 1
        for earlier, later in zip(deals, deals[1:], strict=False):
            assert earlier["data_cancelamento"] and earlier["data_cancelamento"] <= later["data_cad"]
        if not deals:
            assert mapa in (1, 4)
            continue
        last = deals[-1]
        assert mapa != 4
        if last["situacao"] == "Vendida":
            assert mapa == 3 and unit["situacao_vendida"] == last["idreserva"]
        elif last["situacao"] == "Nova Reserva":
            assert mapa == 2 and unit["situacao_reservada"] == last["idreserva"]
        else:
            assert last["situacao"] in ("Distrato", "Cancelada") and mapa == 1
    assert states[3] > 1000 and states[1] > 300 and states[2] > 0 and states[4] > 0


def months_of_sales(reservas: list[dict]) -> dict[int, Counter]:
    months: dict[int, Counter] = defaultdict(Counter)
    for r in reservas:
        if r["data_venda"] and r["ativo"] == "S":
            months[r["idempreendimento"]][r["data_venda"][:7]] += 1
    return months


def test_a_year_of_sales_in_every_empreendimento_with_launches_and_seasons(company):
    reservas = rows(company, "reservas")
    months = months_of_sales(reservas)
    assert all(len(per_month) >= 12 for per_month in months.values()), {p: len(m) for p, m in months.items()}
    launches = sorted(min(per_month) for per_month in months.values())
    assert len(set(launches)) == 6  # launched in six different months
    for per_month in months.values():  # a launch sells more than the project's typical month
        first_quarter = [per_month[m] for m in sorted(per_month)[:3]]
        assert max(first_quarter) > sorted(per_month.values())[len(per_month) // 2]
    total = Counter()
    for per_month in months.values():
        total.update(per_month)
    by_calendar = defaultdict(list)
    for month, count in total.items():
        by_calendar[int(month[5:])].append(count)
    mean = {m: sum(c) / len(c) for m, c in by_calendar.items()}
    assert (mean[10] + mean[11]) / 2 > 1.2 * (mean[1] + mean[2]) / 2  # seasonality
    # VSO is not trivial: every project has sold much, and has stock left
    units = Counter(u["idempreendimento"] for u in rows(company, "unidades"))
    free = Counter(
        u["idempreendimento"] for u in rows(company, "unidades") if u["situacao_mapa_disponibilidade"] == 1
    )
    for project, count in units.items():
        assert 0.05 * count < free[project] < 0.6 * count


def fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def test_payment_series_are_realistic(company):
    reservas = {r["idreserva"]: r for r in rows(company, "reservas")}
    series = defaultdict(list)
    for c in rows(company, "reservas/condicoes"):
        series[c["idreserva"]].append(c)
    assert set(series) == set(reservas)  # every proposal has its conditions
    spellings = Counter(c["serie"] for cs in series.values() for c in cs)
    kinds = {KIND_OF[name] for name in spellings}
    assert kinds == set(
        SERIES
    )  # ato, sinal, mensais, intercaladas, chaves, pós-chaves, financiamento, FGTS, subsídio
    for kind in ("ato", "mensais", "financiamento", "fgts", "subsidio", "chaves"):
        used = {name for name in spellings if KIND_OF[name] == kind}
        assert len(used) >= 3, kind  # case, accent and abbreviation variants occur
        assert len({fold(name) for name in used}) < len(used) or kind == "ato", (
            kind
        )  # some differ only in case/accents
    assert any("." in name for name in spellings)  # abbreviations
    for reserva_id, cs in series.items():
        reserva = reservas[reserva_id]
        assert abs(sum(c["valor"] for c in cs) - reserva["valor_contrato"]) < 0.05
        financed = sum(c["valor"] for c in cs if KIND_OF[c["serie"]] in FINANCING_KINDS)
        parts = reserva["valor_financiamento"] + reserva["valor_fgts"] + reserva["valor_subsidio"]
        assert abs(financed - parts) < 0.05
        assert len(cs) >= 3
    shares = [
        sum(c["valor"] for c in cs if KIND_OF[c["serie"]] not in FINANCING_KINDS)
        / reservas[r]["valor_contrato"]
        for r, cs in series.items()
    ]
    assert min(shares) < 0.2 and max(shares) == pytest.approx(
        1.0
    )  # MCMV buyers finance most; direct sales none


def test_the_knobs_keep_their_meaning_and_the_data_are_deterministic(company):
    again = Company(1500, START, DAYS)
    assert [(d.id, d.unit.id, d.created, d.sold, d.cancelled, d.valor) for d in again.deals] == [
        (d.id, d.unit.id, d.created, d.sold, d.cancelled, d.valor) for d in company.deals
    ]
    for endpoint in ("reservas", "reservas/condicoes", "unidades"):
        digests = [
            hashlib.sha256(json.dumps(rows(d, endpoint), sort_keys=True).encode()).hexdigest()
            for d in (company, again)
        ]
        assert digests[0] == digests[1], endpoint
    small = Company(300, "2020-01-01", 365)
    assert 250 <= small.n <= 320 and len(small.units) == 400
    dates = [r["referencia_data"] for r in rows(small, "reservas")]
    assert "2020-01-01" <= min(dates) and max(dates) < "2020-12-31"


def test_the_demo_app_serves_the_company_over_the_24_months_ending_today():
    simulator = create_demo_app().state.simulator
    assert isinstance(simulator.dataset, Company)
    today = datetime.now().date()
    dates = [r["data_venda"] for r in simulator.dataset.rows("reservas") if r["data_venda"]]
    assert min(dates) < (today - timedelta(days=700)).isoformat() and max(dates) < today.isoformat()
    assert simulator.faults.live_changes_every == 60.0
    # the uniform data set stays the default of create_app (tests and benchmarks)
    assert not isinstance(create_app().state.simulator.dataset, Company)


def test_live_changes_approve_pending_reservas_as_sales_and_update_their_unit():
    company = Company(300, START, DAYS)  # its own: live changes modify it
    pending = [r for r in rows(company, "reservas") if r["situacao"] == "Nova Reserva"]
    assert pending
    company.live_change(0)
    reserva = next(r for r in rows(company, "reservas") if r["idreserva"] == pending[0]["idreserva"])
    unit = next(u for u in rows(company, "unidades") if int(u["idunidade"]) == reserva["idunidade"])
    assert reserva["situacao"] == "Vendida" and reserva["data_venda"] == reserva["referencia_data"]
    assert unit["situacao_mapa_disponibilidade"] == 3 and unit["situacao_vendida"] == reserva["idreserva"]
