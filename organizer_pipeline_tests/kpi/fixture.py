"""A hand-computed KPI fixture: two months of sales in two empreendimentos, a distrato, rows with
ativo='N', a reserva without data_venda, reservas made months before the first daily unit snapshot (so VSO is
reconstructed for them), daily unit snapshots, payment conditions (pró-soluto) and Hotmart sales/events.

The EXPECTED_* values below were computed by hand from these rows (see the comments), never by the views.
"""

from __future__ import annotations

from decimal import Decimal as D

import sqlalchemy as sa

from organizer_pipeline.cvdw import derived

EMPREENDIMENTOS = [(10, "Residencial Alfa"), (20, "Torre Beta")]

# idreserva, ativo, data_venda, idempreendimento, idunidade, corretor, valor_contrato, situacao, data_cancelamento,
# data_cad. The earliest data_cad of an empreendimento's active reservas is its first appearance (VSO from day
# one): Alfa (10) on 2024-11-20, Beta (20) on 2024-12-10, both before the first snapshot (2025-01-01).
RESERVAS = [
    (1, "S", "2025-01-10 10:00", 10, 101, "Ana", "300000.00", "Vendida", None, "2024-11-20 09:00"),
    (2, "S", "2025-01-20 11:00", 10, 102, "Bruno", "200000.00", "Vendida", None, "2024-12-28 16:00"),
    (3, "S", "2025-01-25 15:30", 20, 201, "Ana", "450000.50", "Vendida", None, "2024-12-10 10:00"),
    (4, "S", "2025-02-05 09:00", 10, 103, "Bruno", "250000.00", "Distrato", "2025-02-20 10:00", "2025-02-02 10:00"),
    (5, "N", "2025-02-10 09:00", 20, 203, "Carla", "999999.99", "Vendida", None, "2024-06-01 10:00"),  # inactive
    (6, "S", None, 20, 204, "Carla", "123456.00", "Reserva", None, None),  # no data_venda: not a sale
    (7, "S", "2025-02-15 14:00", 20, 202, "Carla", "380000.00", "Vendida", None, "2025-01-31 18:00"),
]  # fmt: skip

# idcomissao, idreserva, ativo, corretor, valor_comissao
COMISSOES = [
    (1, 1, "S", "Ana", "12000.00"),
    (2, 2, "S", "Bruno", "8000.00"),
    (3, 3, "S", "Ana", "18000.02"),
    (4, 4, "S", "Bruno", "10000.00"),
    (5, 5, "S", "Carla", "40000.00"),  # reserva 5 is inactive: excluded
    (6, 7, "N", "Carla", "15200.00"),  # inactive commission: excluded
    (7, 7, "S", "Carla", "11400.00"),
    (8, 1, "N", "Ana", "5000.00"),  # inactive commission of a sale with condições: not in comissao_total
]

# Payment series (core.reservas_condicoes): idreservascondicoes, idreserva, ativo, serie, parcela_quantidade,
# valor (the whole series), vencimento. Names vary in case and accents as tenants type them.
CONDICOES = [
    (1, 1, "S", "Ato", 1, "15000.00", "2025-01-10"),
    (2, 1, "S", "Mensais", 24, "60000.00", "2025-02-10"),  # 24 monthly: last due 2027-01-10
    (3, 1, "S", "Financiamento Bancário", 1, "225000.00", "2025-06-30"),
    (4, 2, "S", "SINAL", 1, "10000.00", "2025-01-20"),
    (5, 2, "S", "intercaladas", 2, "10000.00", "2025-07-20"),  # every 6 months: last due 2026-01-20
    (6, 2, "S", "FGTS", 1, "20000.00", "2025-03-01"),
    (7, 2, "S", "financiamento  bancario", 1, "160000.00", "2025-03-01"),
    (8, 3, "S", "Ato", 1, "45000.50", "2025-01-25"),
    (9, 3, "S", "Permuta", 1, "30000.00", "2025-12-25"),  # unknown series: pró-soluto, and reported
    (10, 3, "S", "Subsídio", 1, "25000.00", "2025-04-01"),
    (11, 3, "S", "FINANCIAMENTO", 1, "350000.00", "2025-04-01"),
    (12, 3, "N", "Mensais", 10, "10000.00", "2025-02-25"),  # replaced condition (ativo N): ignored
    (13, 4, "S", "À Vista", 1, "250000.00", "2025-02-05"),
    (14, 5, "S", "Ato", 1, "999999.99", "2025-02-10"),  # reserva 5 is inactive: not a sale
    (15, 6, "S", "Ato", 1, "123456.00", "2025-03-01"),  # reserva 6 has no data_venda: not a sale
]  # reserva 7 is a sale without condições: no row in core.prosoluto

# referencia, idreserva, ativo, situacao_data, idempreendimento, idunidade, valor_contrato
DISTRATOS = [
    ("d1", 4, "S", "2025-02-20 10:00", 10, 103, "250000.00"),
    ("d2", 3, "N", "2025-02-21 10:00", 20, 201, "450000.50"),  # inactive: excluded
]

# Daily snapshots: {dia: {idunidade: situacao}}; units 1xx belong to empreendimento 10, 2xx to 20.
# 102 is reserved (2) on 1 Jan and sold on 20 Jan; 202 is "em processo de reserva" (5) on 1 Feb, sold on 15 Feb:
# both are offer at the start of their month (only sold 3 and blocked 4 are not).
SNAPSHOTS = {
    "2025-01-01": {101: 1, 102: 2, 103: 1, 104: 1, 201: 1, 202: 1, 203: 4},
    "2025-01-31": {101: 3, 102: 3, 103: 1, 104: 1, 105: 1, 201: 3, 202: 1, 203: 4, 204: 1},
    "2025-02-01": {101: 3, 102: 3, 103: 1, 104: 1, 105: 1, 201: 3, 202: 5, 203: 4, 204: 1},
    "2025-02-28": {101: 3, 102: 3, 103: 1, 104: 1, 105: 1, 201: 3, 202: 3, 203: 4, 204: 1},
}
UNIT_VALUE = {10: "250000.00", 20: "400000.00"}

# transaction, status, product_id, product_name, price, producer_commission, approved_at (UTC), buyer
HOTMART_SALES = [
    ("T1", "APPROVED", 1, "Curso A", "100.00", "85.00", "2025-01-10 12:00+00", "a@x.com"),
    ("T2", "REFUNDED", 1, "Curso A", "100.00", "85.00", "2025-01-11 02:00+00", "b@x.com"),  # 23:00 in SP
    ("T3", "COMPLETED", 1, "Curso A", "100.00", "85.00", "2025-01-11 15:00+00", "c@x.com"),
    ("T4", "CHARGEBACK", 2, "Mentoria B", "500.00", "450.00", "2025-01-11 16:00+00", "a@x.com"),
    ("T5", "BILLET_PRINTED", 2, "Mentoria B", "500.00", "450.00", None, "z@x.com"),  # never approved
    ("T6", "APPROVED", 2, "Mentoria B", "500.00", "450.00", "2025-02-02 13:00+00", "d@x.com"),
]

# event_id, event, occurred_at, email, product_id
HOTMART_EVENTS = [
    ("e1", "PURCHASE_OUT_OF_SHOPPING_CART", "2025-01-09 10:00+00", "C@x.com", 1),  # bought later
    ("e2", "PURCHASE_OUT_OF_SHOPPING_CART", "2025-01-09 11:00+00", "e@x.com", 1),  # never bought
    ("e3", "PURCHASE_OUT_OF_SHOPPING_CART", "2025-02-05 10:00+00", "d@x.com", 2),  # bought before, not after
    ("e4", "PURCHASE_OUT_OF_SHOPPING_CART", "2025-02-06 10:00+00", "d@x.com", 2),
    ("e5", "PURCHASE_APPROVED", "2025-01-10 12:00+00", "a@x.com", 1),
]

NAMES = dict(EMPREENDIMENTOS)
BROKER_IDS = {"Ana": 1, "Bruno": 2, "Carla": 3}
JAN, FEB = "2025-01-01", "2025-02-01"

# (mes, idempreendimento or None for the total row) -> (vendas, vgv, ticket_medio)
EXPECTED_VENDAS_MENSAL = {
    (JAN, 10): (2, D("500000.00"), D("250000.00")),
    (JAN, 20): (1, D("450000.50"), D("450000.50")),
    (JAN, None): (3, D("950000.50"), D("316666.83")),  # 950000.50 / 3 = 316666.8333…
    (FEB, 10): (1, D("250000.00"), D("250000.00")),
    (FEB, 20): (1, D("380000.00"), D("380000.00")),  # reserva 5 (ativo N) excluded
    (FEB, None): (2, D("630000.00"), D("315000.00")),
}
# corretor -> (comissao_total, vendas, ranking)
EXPECTED_COMISSOES = {
    "Ana": (D("30000.02"), 2, 1),
    "Bruno": (D("18000.00"), 2, 2),
    "Carla": (D("11400.00"), 1, 3),
}
NOV, DEC = "2024-11-01", "2024-12-01"

# (mes, idempreendimento) -> (vendidas, estoque_inicial, lancadas, distratos, vso)
# November and December have no snapshot: reconstructed. Alfa appears on 20 Nov (reserva 1's data_cad) with its
# four units of the first snapshot (101-104); 105 first shows on 31 Jan, so it is a January launch. Beta appears
# on 10 Dec with 201 and 202; 203 was blocked when first seen (never offer), 204 first shows on 31 Jan.
EXPECTED_VSO = {
    (NOV, 10): (0, 0, 4, 0, D("0.0000")),  # launched 101-104
    (NOV, None): (0, 0, 4, 0, D("0.0000")),
    (DEC, 10): (0, 4, 0, 0, D("0.0000")),
    (DEC, 20): (0, 0, 2, 0, D("0.0000")),  # launched 201, 202
    (DEC, None): (0, 4, 2, 0, D("0.0000")),
    (JAN, 10): (2, 4, 1, 0, D("0.4000")),  # 2 / (4 + 1): 102 reserved on 1 Jan is offer; 105 launched
    (JAN, 20): (1, 2, 1, 0, D("0.3333")),  # 1 / (2 + 1): 203 is blocked, 204 launched
    (JAN, None): (3, 6, 2, 0, D("0.3750")),
    (FEB, 10): (1, 3, 0, 1, D("0.0000")),  # (1 - 1) / 3: the February sale was undone by a distrato
    (FEB, 20): (1, 2, 0, 0, D("0.5000")),  # 202 is "em processo de reserva" on 1 Feb: offer
    (FEB, None): (2, 5, 0, 1, D("0.2000")),
}
EXPECTED_VSO_FONTE = {NOV: "reconstruido", DEC: "reconstruido", JAN: "snapshot", FEB: "snapshot"}
# The reconstruction in the snapshot months, where both methods exist, meets the snapshot:
#   Jan Alfa: appeared before 1 Jan 101-104, none sold yet -> 4; launched 105 -> 1
#   Jan Beta: 201, 202 (203 blocked) -> 2; launched 204 -> 1
#   Feb Alfa: 101-105 minus 101, 102 sold in January -> 3; Feb Beta: 201, 202, 204 minus 201 sold -> 2
EXPECTED_VSO_RECONSTRUIDO = {  # (mes, idempreendimento) -> (estoque_inicial_reconstruido, lancadas_reconstruidas)
    (JAN, 10): (4, 1), (JAN, 20): (2, 1), (FEB, 10): (3, 0), (FEB, 20): (2, 0),
}  # fmt: skip

# core.prosoluto, one row per sale with condições (1, 2, 3, 4):
# idreserva -> (valor_contrato, valor_financiado, valor_prosoluto, percentual_prosoluto, parcelas_prosoluto,
#               primeiro_vencimento, ultimo_vencimento, comissao_total)
EXPECTED_PROSOLUTO = {
    # ato 15000 + mensais 60000; financing 225000; 75000 / 300000; 1 + 24 instalments
    1: (D("300000.00"), D("225000.00"), D("75000.00"), D("0.2500"), 1 + 24, "2025-01-10", "2027-01-10",
        D("12000.00")),
    # sinal 10000 + intercaladas 10000; FGTS 20000 + financiamento 160000; 20000 / 200000
    2: (D("200000.00"), D("180000.00"), D("20000.00"), D("0.1000"), 1 + 2, "2025-01-20", "2026-01-20",
        D("8000.00")),
    # ato 45000.50 + permuta 30000 (unknown: pró-soluto); subsídio 25000 + financiamento 350000;
    # 75000.50 / 450000.50 = 0.16667
    3: (D("450000.50"), D("375000.00"), D("75000.50"), D("0.1667"), 1 + 1, "2025-01-25", "2025-12-25",
        D("18000.02")),
    4: (D("250000.00"), D("0.00"), D("250000.00"), D("1.0000"), 1, "2025-02-05", "2025-02-05", D("10000.00")),
}  # fmt: skip
# (mes, idempreendimento or None) -> (vendas, vendas_com_condicoes, vgv, vgv_com_condicoes, valor_prosoluto,
#                                     valor_financiado, percentual_prosoluto)
EXPECTED_PROSOLUTO_MENSAL = {
    (JAN, 10): (2, 2, D("500000.00"), D("500000.00"), D("95000.00"), D("405000.00"), D("0.1900")),
    (JAN, 20): (1, 1, D("450000.50"), D("450000.50"), D("75000.50"), D("375000.00"), D("0.1667")),
    # 170000.50 / 950000.50 = 0.178948…
    (JAN, None): (3, 3, D("950000.50"), D("950000.50"), D("170000.50"), D("780000.00"), D("0.1789")),
    (FEB, 10): (1, 1, D("250000.00"), D("250000.00"), D("250000.00"), D("0.00"), D("1.0000")),
    (FEB, 20): (1, 0, D("380000.00"), D("0.00"), D("0.00"), D("0.00"), None),  # reserva 7: no condições
    (FEB, None): (2, 1, D("630000.00"), D("250000.00"), D("250000.00"), D("0.00"), D("1.0000")),
}
UNKNOWN_SERIES = ["permuta"]
# (idempreendimento, situacao_codigo) -> (situacao, unidades, valor_total); current state = last snapshot
EXPECTED_ESTOQUE = {
    (10, 1): ("Disponível", 3, D("750000.00")),
    (10, 3): ("Vendida", 2, D("500000.00")),
    (20, 1): ("Disponível", 1, D("400000.00")),
    (20, 3): ("Vendida", 2, D("800000.00")),
    (20, 4): ("Bloqueada", 1, D("400000.00")),
}
# (dia, product_id) -> (vendas, receita_bruta, receita_liquida_produtor, reembolsos, taxa_reembolso)
EXPECTED_HOTMART_DIARIA = {
    ("2025-01-10", 1): (2, D("200.00"), D("85.00"), 1, D("0.5000")),
    ("2025-01-11", 1): (1, D("100.00"), D("85.00"), 0, D("0.0000")),
    ("2025-01-11", 2): (1, D("500.00"), D("0.00"), 1, D("1.0000")),
    ("2025-02-02", 2): (1, D("500.00"), D("450.00"), 0, D("0.0000")),
}
# product_id -> (abandonos, compradores, recuperados, taxa_conversao)
EXPECTED_FUNIL = {
    1: (2, 3, 1, D("0.5000")),
    2: (1, 2, 0, D("0.0000")),
}
# Dashboard headline numbers over both months, all empreendimentos
EXPECTED_TOTALS = {
    "vendas": 5,
    "vgv": D("1580000.50"),
    "ticket_medio": D("316000.10"),  # 1580000.50 / 5
    "comissoes": D("59400.02"),
    # (5 sold - 1 distrato) / (Alfa: 0 in stock on 1 Nov + 4 + 0 + 1 + 0 launched; Beta: 0 on 1 Dec + 2 + 1 + 0)
    "vso": D("0.5000"),
    "hotmart_receita": D("1300.00"),
    "hotmart_taxa_reembolso": D("0.4000"),  # 2 refunds / 5 approved sales
    "prosoluto": D("420000.50"),  # 75000 + 20000 + 75000.50 + 250000
    "percentual_prosoluto": D("0.3500"),  # 420000.50 / 1200000.50 (VGV of the sales with condições)
    "meses_para_vender": None,  # no sale in the 3 months before today: the stock would never run out
}


def insert(engine: sa.Engine) -> None:
    """Write the fixture rows straight into the upstream tables (what the CVDW/Hotmart assets would do) and
    build core.prosoluto from them (what the `prosoluto` asset does)."""
    unit_project = {u: 10 if u < 200 else 20 for day in SNAPSHOTS.values() for u in day}
    last_day = SNAPSHOTS[max(SNAPSHOTS)]
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO core.empreendimentos (referencia, idempreendimento, nome) VALUES (:r, :i, :n)"
            ),
            [{"r": str(i), "i": i, "n": n} for i, n in EMPREENDIMENTOS],
        )
        conn.execute(
            sa.text(
                "INSERT INTO core.reservas (referencia, idreserva, ativo, data_venda, situacao, idempreendimento, "
                "empreendimento, idunidade, unidade, idcorretor, corretor, imobiliaria, cliente, valor_contrato, "
                "data_cancelamento, data_cad, row_hash) VALUES (:ref, :id, :ativo, :dv, :sit, :emp, :nome, :un, "
                ":un_txt, :idc, :cor, 'Imob', 'Cliente ' || :ref, :valor, :dc, :cad, 'h')"
            ),
            [
                {
                    "ref": str(r[0]),
                    "id": r[0],
                    "ativo": r[1],
                    "dv": r[2],
                    "emp": r[3],
                    "nome": NAMES[r[3]],
                    "un": r[4],
                    "un_txt": str(r[4]),
                    "idc": BROKER_IDS[r[5]],
                    "cor": r[5],
                    "valor": r[6],
                    "sit": r[7],
                    "dc": r[8],
                    "cad": r[9],
                }
                for r in RESERVAS
            ],
        )
        valor_contrato = {r[0]: r[6] for r in RESERVAS}
        conn.execute(
            sa.text(
                "INSERT INTO core.comissoes (referencia, idcomissao, idreserva, ativo, corretor, valor_contrato, "
                "valor_comissao, row_hash) VALUES (:ref, :id, :res, :ativo, :cor, :vc, :valor, 'h')"
            ),
            [
                {
                    "ref": str(c[0]),
                    "id": c[0],
                    "res": c[1],
                    "ativo": c[2],
                    "cor": c[3],
                    "vc": valor_contrato[c[1]],
                    "valor": c[4],
                }
                for c in COMISSOES
            ],
        )
        conn.execute(
            sa.text(
                "INSERT INTO core.reservas_condicoes (referencia, idreservascondicoes, idreserva, ativo, serie, "
                "parcela_quantidade, valor, vencimento, row_hash) VALUES (:ref, :id, :res, :ativo, :serie, :n, "
                ":valor, :venc, 'h')"
            ),
            [
                {"ref": str(c[0]), "id": c[0], "res": c[1], "ativo": c[2], "serie": c[3], "n": c[4],
                 "valor": c[5], "venc": c[6]}
                for c in CONDICOES
            ],
        )  # fmt: skip
        conn.execute(
            sa.text(
                "INSERT INTO core.distratos (referencia, idreserva, ativo, situacao_data, idempreendimento, "
                "empreendimento, idunidade, valor_contrato, row_hash) VALUES (:ref, :res, :ativo, :dia, :emp, "
                ":nome, :un, :valor, 'h')"
            ),
            [
                {
                    "ref": d[0],
                    "res": d[1],
                    "ativo": d[2],
                    "dia": d[3],
                    "emp": d[4],
                    "nome": NAMES[d[4]],
                    "un": d[5],
                    "valor": d[6],
                }
                for d in DISTRATOS
            ],
        )
        conn.execute(
            sa.text(
                "INSERT INTO core.unidades_situacao_diaria (dia, idunidade, idempreendimento, "
                "situacao_mapa_disponibilidade, valor) VALUES (:dia, :un, :emp, :sit, :valor)"
            ),
            [
                {"dia": dia, "un": u, "emp": unit_project[u], "sit": s, "valor": UNIT_VALUE[unit_project[u]]}
                for dia, units in SNAPSHOTS.items()
                for u, s in units.items()
            ],
        )
        conn.execute(
            sa.text(
                "INSERT INTO core.unidades (referencia, ativo, idunidade, idempreendimento, empreendimento, "
                "situacao_mapa_disponibilidade, valor, row_hash) VALUES (:ref, 'S', :un, :emp, :nome, :sit, "
                ":valor, 'h')"
            ),
            [
                {
                    "ref": str(u),
                    "un": u,
                    "emp": unit_project[u],
                    "nome": NAMES[unit_project[u]],
                    "sit": s,
                    "valor": UNIT_VALUE[unit_project[u]],
                }
                for u, s in last_day.items()
            ],
        )
        conn.execute(
            sa.text(
                "INSERT INTO hotmart.sales (transaction, status, product_id, product_name, price, currency, "
                "producer_commission, approved_at, order_date, buyer_email) VALUES (:t, :s, :p, :n, :price, 'BRL', "
                ":pc, :at, coalesce(CAST(:at AS timestamptz), '2025-01-05'), :email)"
            ),
            [
                {
                    "t": s[0],
                    "s": s[1],
                    "p": s[2],
                    "n": s[3],
                    "price": s[4],
                    "pc": s[5],
                    "at": s[6],
                    "email": s[7],
                }
                for s in HOTMART_SALES
            ],
        )
        conn.execute(
            sa.text(
                "INSERT INTO hotmart.events (event_id, event, occurred_at, email, product_id, product_name) "
                "VALUES (:id, :ev, :at, :email, :p, :n)"
            ),
            [
                {
                    "id": e[0],
                    "ev": e[1],
                    "at": e[2],
                    "email": e[3],
                    "p": e[4],
                    "n": "Curso A" if e[4] == 1 else "Mentoria B",
                }
                for e in HOTMART_EVENTS
            ],
        )
    derived.rebuild(engine, derived.PROSOLUTO)
