"""Synthetic CVDW + Hotmart data for the KPI benchmark, generated inside PostgreSQL (generate_series):
1M reservas load in seconds instead of minutes of client round trips. Deterministic (no random()):
values derive from the row number, so two runs measure the same data."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

PROJECTS = 40
BROKERS_PER_PROJECT = 8
PRODUCTS = 20


@dataclass(frozen=True)
class Size:
    reservas: int = 1_000_000
    hotmart_sales: int = 200_000
    units: int = 30_000
    months: int = 36
    first_month: str = "2023-01-01"


# Bound parameters: :n (rows), :units, :months, :first (date), :projects, :brokers, :products
STATEMENTS = (
    """
    INSERT INTO core.empreendimentos (referencia, idempreendimento, nome)
    SELECT p::text, p, 'Empreendimento ' || lpad(p::text, 2, '0') FROM generate_series(1, :projects) AS p
    """,
    # ~2% inactive, ~15% reservas without a sale date; projects and brokers cycle, values spread 150k..900k
    """
    INSERT INTO core.reservas (referencia, idreserva, ativo, data_venda, situacao, idempreendimento,
        empreendimento, idunidade, unidade, idcorretor, corretor, idimobiliaria, imobiliaria, idcliente, cliente,
        valor_contrato, data_cancelamento, row_hash)
    SELECT i::text, i,
        CASE WHEN i % 50 = 0 THEN 'N' ELSE 'S' END,
        CASE WHEN i % 7 = 0 THEN NULL
             ELSE CAST(:first AS timestamp) + ((i * 7919) % (:months * 30)) * interval '1 day'
                  + (i % 86400) * interval '1 second' END,
        CASE WHEN i % 33 = 0 THEN 'Distrato' ELSE 'Vendida' END,
        1 + i % :projects, 'Empreendimento ' || lpad((1 + i % :projects)::text, 2, '0'),
        1 + i % :units, (1 + i % :units)::text,
        (1 + i % :projects) * 100 + (i / :projects) % :brokers,
        'Corretor ' || ((1 + i % :projects) * 100 + (i / :projects) % :brokers),
        1 + i % 12, 'Imobiliária ' || (1 + i % 12), i, 'Cliente ' || i,
        150000 + (i * 104729) % 750000 + (i % 100) / 100.0,
        NULL, 'bench'
    FROM generate_series(1::bigint, :n) AS i
    """,
    """
    INSERT INTO core.comissoes (referencia, idcomissao, idreserva, ativo, corretor, imobiliaria, empreendimento,
        valor_contrato, porcentagem_comissao, valor_comissao, row_hash)
    SELECT r.idreserva::text, r.idreserva, r.idreserva, CASE WHEN r.idreserva % 41 = 0 THEN 'N' ELSE 'S' END,
        r.corretor, r.imobiliaria, r.empreendimento, r.valor_contrato, 4, round(r.valor_contrato * 0.04, 2), 'bench'
    FROM core.reservas AS r WHERE r.idreserva % 10 < 8
    """,
    # Payment series of every reserva: ato 10 %, 36 mensais 20 %, financing 70 % (spelled three ways, FGTS on some)
    """
    INSERT INTO core.reservas_condicoes (referencia, idreservascondicoes, idreserva, ativo, serie,
        parcela_quantidade, valor, vencimento, row_hash)
    SELECT (r.idreserva * 3 + s.k)::text, r.idreserva * 3 + s.k, r.idreserva, 'S',
        CASE s.k WHEN 0 THEN 'Ato' WHEN 1 THEN 'Mensais'
             ELSE (ARRAY['Financiamento', 'FINANCIAMENTO BANCÁRIO', 'financiamento caixa', 'FGTS'])[1 + r.idreserva % 4]
        END,
        CASE s.k WHEN 1 THEN 36 ELSE 1 END,
        round(r.valor_contrato * CASE s.k WHEN 0 THEN 0.1 WHEN 1 THEN 0.2 ELSE 0.7 END, 2),
        coalesce(r.data_venda, CAST(:first AS timestamp))::date + s.k * 30, 'bench'
    FROM core.reservas AS r CROSS JOIN generate_series(0, 2) AS s(k)
    """,
    """
    INSERT INTO core.distratos (referencia, idreserva, ativo, situacao_data, idempreendimento, empreendimento,
        idunidade, valor_contrato, row_hash)
    SELECT r.idreserva::text, r.idreserva, 'S', r.data_venda + interval '20 days', r.idempreendimento,
        r.empreendimento, r.idunidade, r.valor_contrato, 'bench'
    FROM core.reservas AS r WHERE r.idreserva % 33 = 0 AND r.data_venda IS NOT NULL
    """,
    """
    INSERT INTO core.unidades (referencia, ativo, idunidade, idempreendimento, empreendimento,
        situacao_mapa_disponibilidade, valor, row_hash)
    SELECT u::text, 'S', u, 1 + u % :projects, 'Empreendimento ' || lpad((1 + u % :projects)::text, 2, '0'),
        1 + (u * 31) % 5, 200000 + (u * 7) % 600000, 'bench'
    FROM generate_series(1, :units) AS u
    """,
    # Snapshots on the 1st, 15th and last day of each month; unit u appears from month (u % months) on, so
    # every month has launches; situation drifts from available to sold over time.
    """
    INSERT INTO core.unidades_situacao_diaria (dia, idunidade, idempreendimento, situacao_mapa_disponibilidade,
        valor)
    SELECT d.dia, u, 1 + u % :projects,
        CASE WHEN (u + m) % 10 < 6 THEN 1 ELSE 1 + (u + m) % 5 END,
        200000 + (u * 7) % 600000
    FROM generate_series(0, :months - 1) AS m
    CROSS JOIN LATERAL (
        VALUES ((CAST(:first AS date) + m * interval '1 month')::date),
               ((CAST(:first AS date) + m * interval '1 month' + interval '14 days')::date),
               ((CAST(:first AS date) + (m + 1) * interval '1 month' - interval '1 day')::date)
    ) AS d(dia)
    CROSS JOIN generate_series(1, :units) AS u
    WHERE u % :months <= m
    """,
    # Hotmart: ~90% approved, of those ~5% refunded and ~1% chargeback
    """
    INSERT INTO hotmart.sales (transaction, status, product_id, product_name, price, currency,
        producer_commission, buyer_email, order_date, approved_at)
    SELECT 'HP' || i,
        CASE WHEN i % 10 = 0 THEN 'CANCELED' WHEN i % 20 = 1 THEN 'REFUNDED' WHEN i % 100 = 3 THEN 'CHARGEBACK'
             WHEN i % 3 = 0 THEN 'COMPLETED' ELSE 'APPROVED' END,
        1 + i % :products, 'Produto ' || (1 + i % :products), 97 + (i % 5) * 100, 'BRL',
        round((97 + (i % 5) * 100) * 0.85, 2), 'buyer' || (i % 150000) || '@example.com',
        CAST(:first AS timestamptz) + ((i * 7907) % (:months * 30 * 24)) * interval '1 hour',
        CASE WHEN i % 10 = 0 THEN NULL
             ELSE CAST(:first AS timestamptz) + ((i * 7907) % (:months * 30 * 24)) * interval '1 hour'
                  + interval '5 minutes' END
    FROM generate_series(1::bigint, :hotmart) AS i
    """,
    """
    INSERT INTO hotmart.events (event_id, event, occurred_at, email, product_id, product_name)
    SELECT 'cart-' || i, 'PURCHASE_OUT_OF_SHOPPING_CART',
        CAST(:first AS timestamptz) + ((i * 7919) % (:months * 30 * 24)) * interval '1 hour',
        'buyer' || (i * 3 % 150000) || '@example.com', 1 + i % :products, 'Produto ' || (1 + i % :products)
    FROM generate_series(1::bigint, :hotmart / 2) AS i
    """,
)


def generate(engine: Engine, size: Size) -> None:
    params = {
        "n": size.reservas,
        "units": size.units,
        "months": size.months,
        "first": size.first_month,
        "projects": PROJECTS,
        "brokers": BROKERS_PER_PROJECT,
        "products": PRODUCTS,
        "hotmart": size.hotmart_sales,
    }
    with engine.begin() as conn:
        for statement in STATEMENTS:
            conn.execute(sa.text(statement), params)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
