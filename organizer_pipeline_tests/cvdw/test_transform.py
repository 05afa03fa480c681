"""Typing of API values, quarantine of what cannot be used, and checks that really fail on bad data."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from organizer_pipeline.cvdw import checks
from organizer_pipeline.cvdw.endpoints import BY_NAME
from organizer_pipeline.cvdw.sync import SyncOptions, sync_range
from organizer_pipeline.cvdw.transform import (
    NULL,
    Invalid,
    PageStager,
    to_date,
    to_integer,
    to_numeric,
    to_timestamp,
)
from organizer_pipeline_tests.cvdw.conftest import fast_client


def test_converters_follow_the_contracts_quirks():
    assert to_timestamp("0000-00-00 00:00:00") == NULL
    assert to_timestamp("2023-12-29 16:12:52") == "2023-12-29 16:12:52"
    assert to_date("01/12/2026") == "2026-12-01"
    assert to_numeric("9999.99") == "9999.99" and to_numeric(150000.5) == "150000.5" and to_numeric(3) == "3"
    assert to_integer("12345") == "12345" and to_integer(7.0) == "7"
    for converter, value in [
        (to_timestamp, "2024-02-31 10:00:00"),
        (to_timestamp, "ontem"),
        (to_numeric, "abc"),
        (to_numeric, float("nan")),
        (to_numeric, True),
        (to_integer, "1.5"),
        (to_integer, 2**70),
    ]:
        with pytest.raises(Invalid):
            converter(value)


def test_stager_sets_aside_rows_without_referencia_and_names_bad_columns():
    stager = PageStager(BY_NAME["comissoes"])
    good = {"referencia": 437, "referencia_data": "0000-00-00 00:00:00", "ativo": "N", "idcomissao": 437,
            "valor_contrato": "138128.16", "data_pagamento": None, "novo_campo": {"x": 1}}  # fmt: skip
    bad = {**good, "referencia": "438", "valor_comissao": "R$ 10", "data_cad": "2024-13-01 00:00:00"}
    page = stager.stage([good, bad, {"referencia_data": "2024-01-01 00:00:00"}, "not an object"])
    assert page.rows == 2
    reasons = sorted(reason for _, reason, _ in page.quarantined)
    assert reasons == [
        "no referencia",
        "no referencia",
        "values that do not convert: valor_comissao, data_cad",
    ]
    first = page.text.splitlines()[0].split("\t")
    assert first[:3] == ["437", NULL, "N"] and '"novo_campo":{"x":1}' in first[3]


def test_bad_values_are_quarantined_and_checks_fail_on_bad_data(simulator, engine):
    sim, base_url = simulator(n_reservas=600)
    moment = datetime(2024, 1, 10, 12, 0)
    bad = sim.dataset.update("reservas", 5, at=moment, valor_contrato="abc", data_venda="2024-02-31 10:00:00")
    negative = sim.dataset.update("reservas", 6, at=moment, valor_contrato=-5)
    sim.dataset.update("reservas", 7, at=moment, referencia=None)
    api = fast_client(base_url).get_api()
    reservas = BY_NAME["reservas"]
    options = SyncOptions(run_id="r1")
    result, _ = sync_range(api, engine, reservas, date(2024, 1, 1), date(2024, 1, 31), options=options)
    assert result.quarantined == 2
    with engine.connect() as conn:
        quarantine = dict(
            conn.execute(sa.text("SELECT coalesce(referencia, '-'), reason FROM raw.cvdw_quarantine")).all()
        )
        typed = conn.execute(
            sa.text("SELECT valor_contrato, data_venda FROM core.reservas WHERE referencia = :r"),
            {"r": bad["referencia"]},
        ).one()
        in_raw = conn.execute(
            sa.text("SELECT count(*) FROM raw.cvdw_reservas WHERE referencia = :r"), {"r": bad["referencia"]}
        ).scalar_one()
        outcomes = {o.name: o for o in checks.evaluate(conn, reservas, "r1")}
    assert quarantine == {
        bad["referencia"]: "values that do not convert: data_venda, valor_contrato",
        "-": "no referencia",
    }
    assert tuple(typed) == (None, None) and in_raw == 1
    assert not outcomes["money_not_negative"].passed and outcomes["money_not_negative"].metadata == {
        "rows": 1
    }
    # the API counted the row without referencia, which cannot be stored: the row-count check says so
    assert not outcomes["row_count_matches_api"].passed
    assert outcomes["referencia_unique"].passed
    assert negative["referencia"] != bad["referencia"]


def test_json_codec_gives_the_same_text_with_or_without_orjson(monkeypatch):
    from organizer_pipeline.resources import jsoncodec

    row = {
        "referencia": "1",
        "nome": "Jardim das Águas & Cia",
        "valor": 150000.5,
        "big": 2**70,
        "lista": [1, None],
    }
    fast = (jsoncodec.dumps(row), jsoncodec.loads(b'{"a": 18446744073709551616, "b": "\\u00e9"}'))
    monkeypatch.setattr(jsoncodec, "orjson", None)
    assert (jsoncodec.dumps(row), jsoncodec.loads(b'{"a": 18446744073709551616, "b": "\\u00e9"}')) == fast
    assert (
        fast[0]
        == '{"referencia":"1","nome":"Jardim das Águas & Cia","valor":150000.5,"big":1180591620717411303424,"lista":[1,null]}'
    )
