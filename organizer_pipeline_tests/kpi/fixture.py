"""A hand-computed KPI fixture: two months of sales in two empreendimentos, a distrato, rows with
ativo='N', a reserva without data_venda, daily unit snapshots and Hotmart sales/events.

The EXPECTED_* values below were computed by hand from these rows (see the comments), never by the views.
"""

from __future__ import annotations

from decimal import Decimal as D

import sqlalchemy as sa

EMPREENDIMENTOS = [(10, "Residencial Alfa"), (20, "Torre Beta")]

# idreserva, ativo, data_venda, idempreendimento, idunidade, corretor, valor_contrato, situacao, data_cancelamento
RESERVAS = [
    (1, "S", "2025-01-10 10:00", 10, 101, "Ana", "300000.00", "Vendida", None),
    (2, "S", "2025-01-20 11:00", 10, 102, "Bruno", "200000.00", "Vendida", None),
    (3, "S", "2025-01-25 15:30", 20, 201, "Ana", "450000.50", "Vendida", None),
    (4, "S", "2025-02-05 09:00", 10, 103, "Bruno", "250000.00", "Distrato", "2025-02-20 10:00"),
    (5, "N", "2025-02-10 09:00", 20, 203, "Carla", "999999.99", "Vendida", None),  # inactive: not a sale
    (6, "S", None, 20, 204, "Carla", "123456.00", "Reserva", None),  # no data_venda: not a sale
    (7, "S", "2025-02-15 14:00", 20, 202, "Carla", "380000.00", "Vendida", None),
]

# idcomissao, idreserva, ativo, corretor, valor_comissao
COMISSOES = [
    (1, 1, "S", "Ana", "12000.00"),
    (2, 2, "S", "Bruno", "8000.00"),
    (3, 3, "S", "Ana", "18000.02"),
    (4, 4, "S", "Bruno", "10000.00"),
    (5, 5, "S", "Carla", "40000.00"),  # reserva 5 is inactive: excluded
    (6, 7, "N", "Carla", "15200.00"),  # inactive commission: excluded
    (7, 7, "S", "Carla", "11400.00"),
]

# referencia, idreserva, ativo, situacao_data, idempreendimento, idunidade, valor_contrato
DISTRATOS = [
    ("d1", 4, "S", "2025-02-20 10:00", 10, 103, "250000.00"),
    ("d2", 3, "N", "2025-02-21 10:00", 20, 201, "450000.50"),  # inactive: excluded
]

# Daily snapshots: {dia: {idunidade: situacao}}; units 1xx belong to empreendimento 10, 2xx to 20.
SNAPSHOTS = {
    "2025-01-01": {101: 1, 102: 1, 103: 1, 104: 1, 201: 1, 202: 1, 203: 4},
    "2025-01-31": {101: 3, 102: 3, 103: 1, 104: 1, 105: 1, 201: 3, 202: 1, 203: 4, 204: 1},
    "2025-02-01": {101: 3, 102: 3, 103: 1, 104: 1, 105: 1, 201: 3, 202: 1, 203: 4, 204: 1},
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
# (mes, idempreendimento) -> (vendidas, estoque_inicial, lancadas, distratos, vso)
EXPECTED_VSO = {
    (JAN, 10): (2, 4, 1, 0, D("0.4000")),  # 2 / (4 + 1): unit 105 launched in January
    (JAN, 20): (1, 2, 1, 0, D("0.3333")),  # 1 / (2 + 1): 203 is blocked, 204 launched
    (JAN, None): (3, 6, 2, 0, D("0.3750")),
    (FEB, 10): (1, 3, 0, 1, D("0.0000")),  # (1 - 1) / 3: the February sale was undone by a distrato
    (FEB, 20): (1, 2, 0, 0, D("0.5000")),
    (FEB, None): (2, 5, 0, 1, D("0.2000")),
}
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
    "vso": D("0.5000"),  # (5 sold - 1 distrato) / (6 in stock at the start of January + 2 launched + 0)
    "hotmart_receita": D("1300.00"),
    "hotmart_taxa_reembolso": D("0.4000"),  # 2 refunds / 5 approved sales
}


def insert(engine: sa.Engine) -> None:
    """Write the fixture rows straight into the upstream tables (what the CVDW/Hotmart assets would do)."""
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
                "data_cancelamento, row_hash) VALUES (:ref, :id, :ativo, :dv, :sit, :emp, :nome, :un, :un_txt, "
                ":idc, :cor, 'Imob', 'Cliente ' || :ref, :valor, :dc, 'h')"
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
