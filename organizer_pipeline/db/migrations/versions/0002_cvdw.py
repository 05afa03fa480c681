"""CVDW storage: raw jsonb per endpoint and typed core tables.

Revision ID: 0002_cvdw
Revises: 0001_foundation
"""

from alembic import op

revision = "0002_cvdw"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

# Frozen copy of the endpoint table at the time of this migration (migrations never import app code).
RAW_ENDPOINTS = (
    "reservas",
    "reservas_condicoes",
    "comissoes",
    "unidades",
    "distratos",
    "repasses",
    "atendimentos",
)

COMMON = """
    referencia      text PRIMARY KEY,
    referencia_data timestamp,
    ativo           text,
"""
TRACKING = """
    row_hash        text NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
"""

CORE_TABLES = {
    "reservas": """
        idreserva bigint, data_cad timestamp, data_venda timestamp, aprovada text, venda text,
        situacao text, idsituacao integer, situacao_comercial text,
        idempreendimento bigint, empreendimento text, etapa text, bloco text, unidade text, idunidade bigint,
        regiao text, idcliente bigint, cliente text, idcorretor bigint, corretor text,
        idimobiliaria bigint, imobiliaria text,
        valor_contrato numeric(16,2), valor_proposta numeric(16,2), vgv_tabela numeric(16,2),
        idtipovenda integer, tipovenda text, data_contrato timestamp, data_cancelamento timestamp,
        motivo_cancelamento text, data_ultima_alteracao_situacao timestamp, data_modificacao timestamp,
    """,
    "reservas_condicoes": """
        idreservascondicoes bigint, idreserva bigint, serie text, parcela_quantidade integer,
        valor numeric(16,2), valor_com_juros numeric(16,2), vencimento date, portador text, indexador text,
        data_modificacao timestamp,
    """,
    "comissoes": """
        idcomissao bigint, idreserva bigint, situacao text, idsituacao integer, corretor text, imobiliaria text,
        empreendimento text, etapa text, bloco text, unidade text,
        valor_contrato numeric(16,2), porcentagem_comissao numeric(9,4), valor_comissao numeric(16,2),
        valor_comissao_apagar numeric(16,2), valor_pagamento numeric(16,2), data_pagamento date,
        data_cad timestamp,
    """,
    "unidades": """
        idunidade bigint, idempreendimento bigint, empreendimento text, idetapa bigint, etapa text,
        idbloco bigint, bloco text, nome text, tipologia text, tipo text,
        area_privativa numeric(12,2), valor numeric(16,2), valor_avaliacao numeric(16,2),
        situacao_mapa_disponibilidade integer, situacao_vendida bigint, data_entrega date,
        first_seen_at timestamptz NOT NULL DEFAULT now(),
    """,
    "distratos": """
        idreserva bigint, situacao_data timestamp, idempreendimento bigint, empreendimento text,
        idunidade bigint, unidade text, cliente text, corretor text, valor_contrato numeric(16,2),
        motivo_distrato text,
    """,
    "repasses": """
        idrepasse bigint, idreserva bigint, situacao text, idempreendimento bigint, empreendimento text,
        unidade text, cliente text, banco text, valor_financiado numeric(16,2), valor_contrato numeric(16,2),
        data_venda timestamp, data_repasse timestamp,
    """,
    "atendimentos": """
        idatendimento bigint, protocolo text, situacao text, idempreendimento bigint, empreendimento text,
        idcliente bigint, cliente text, assunto text, data_cad timestamp, data_conclusao timestamp,
    """,
}


def upgrade() -> None:
    for endpoint in RAW_ENDPOINTS:
        op.execute(
            f"""
            CREATE TABLE raw.cvdw_{endpoint} (
                {COMMON}
                payload       jsonb NOT NULL,
                first_seen_at timestamptz NOT NULL DEFAULT now(),
                last_seen_at  timestamptz NOT NULL DEFAULT now(),
                {TRACKING}
            )
            """
        )
        op.execute(
            f"CREATE INDEX cvdw_{endpoint}_referencia_data_idx ON raw.cvdw_{endpoint} (referencia_data)"
        )
    for table, columns in CORE_TABLES.items():
        op.execute(f"CREATE TABLE core.{table} ({COMMON} {columns} {TRACKING})")
    op.execute("CREATE INDEX reservas_data_venda_idx ON core.reservas (data_venda) WHERE ativo = 'S'")
    op.execute("CREATE INDEX reservas_idreserva_idx ON core.reservas (idreserva)")
    op.execute("CREATE INDEX comissoes_idreserva_idx ON core.comissoes (idreserva)")
    op.execute("CREATE INDEX unidades_idempreendimento_idx ON core.unidades (idempreendimento)")
    # CVDW keeps no history of unit status; VSO needs the stock at the start of each month.
    op.execute(
        """
        CREATE TABLE core.unidades_situacao_diaria (
            dia date NOT NULL,
            idunidade bigint NOT NULL,
            idempreendimento bigint,
            situacao_mapa_disponibilidade integer,
            valor numeric(16,2),
            PRIMARY KEY (dia, idunidade)
        )
        """
    )
    # No CVDW endpoint: derived from unidades and reservas.
    op.execute(
        """
        CREATE TABLE core.empreendimentos (
            referencia text PRIMARY KEY,
            idempreendimento bigint NOT NULL UNIQUE,
            nome text,
            regiao text,
            unidades_total integer,
            unidades_disponiveis integer,
            first_seen_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # No CVDW endpoint either: the distinct `tipologia` of each empreendimento's unidades.
    op.execute(
        """
        CREATE TABLE core.tipologias (
            idempreendimento bigint NOT NULL,
            tipologia text NOT NULL,
            unidades_total integer NOT NULL,
            area_privativa_media numeric(12,2),
            valor_medio numeric(16,2),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (idempreendimento, tipologia)
        )
        """
    )
    # What the API said about each window we read: the row-count check compares stored rows with it.
    op.execute(
        """
        CREATE TABLE raw.cvdw_sync_windows (
            id bigserial PRIMARY KEY,
            endpoint text NOT NULL,
            window_start timestamp,  -- NULL: read from the beginning (full read)
            window_end timestamp,
            total_de_registros integer NOT NULL,
            rows_fetched integer NOT NULL,
            pages integer NOT NULL,
            run_id text,
            synced_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX cvdw_sync_windows_endpoint_idx ON raw.cvdw_sync_windows (endpoint, synced_at)")
    # Rows that could not be used as they came, with the reason; the row itself is still kept in raw.
    op.execute(
        """
        CREATE TABLE raw.cvdw_quarantine (
            id bigserial PRIMARY KEY,
            endpoint text NOT NULL,
            referencia text,
            row_hash text NOT NULL,
            reason text NOT NULL,
            payload jsonb NOT NULL,
            seen_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (endpoint, row_hash)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS raw.cvdw_quarantine, raw.cvdw_sync_windows, core.tipologias")
    op.execute("DROP TABLE IF EXISTS core.empreendimentos, core.unidades_situacao_diaria")
    for table in CORE_TABLES:
        op.execute(f"DROP TABLE IF EXISTS core.{table}")
    for endpoint in RAW_ENDPOINTS:
        op.execute(f"DROP TABLE IF EXISTS raw.cvdw_{endpoint}")
