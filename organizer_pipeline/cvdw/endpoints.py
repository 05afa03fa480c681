"""The endpoint table: everything that differs between CVDW endpoints is data here, read by one asset
factory. A row of `core.<name>` is typed from the API row by `columns` ("column:type" or
"column:type=payload_key" when the API calls it something else); every other field stays in
`raw.cvdw_<name>.payload`."""

from __future__ import annotations

from dataclasses import dataclass

SQL_TYPES = {"text", "bigint", "integer", "numeric", "timestamp", "date"}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    source: str

    @classmethod
    def parse(cls, spec: str) -> Column:
        name, _, rest = spec.partition(":")
        type_name, _, source = rest.partition("=")
        if type_name not in SQL_TYPES:
            raise ValueError(f"column {name}: unknown type {type_name!r}")
        return cls(name, type_name, source or name)


@dataclass(frozen=True)
class Endpoint:
    name: str  # asset key, raw.cvdw_<name>, core.<name>
    path: str  # under /api/v1/cvdw
    description: str
    columns: tuple[Column, ...]
    natural_key: str  # the entity id inside the row; must be unique like referencia
    money: tuple[str, ...] = ()
    full_read_for_snapshot: bool = False  # also read everything once a day (unit availability history)
    references: tuple[tuple[str, str], ...] = ()  # (column, endpoint) whose natural key it must exist in

    @property
    def raw_table(self) -> str:
        return f"raw.cvdw_{self.name}"

    @property
    def core_table(self) -> str:
        return f"core.{self.name}"


def _columns(spec: str) -> tuple[Column, ...]:
    return tuple(Column.parse(item) for item in spec.split())


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "reservas",
        "/reservas",
        "CVDW /reservas: every reserva (proposal → sale → distrato), one row per reserva. "
        "Sales are rows with ativo='S' and data_venda set.",
        _columns(
            "idreserva:bigint data_cad:timestamp data_venda:timestamp aprovada:text venda:text situacao:text "
            "idsituacao:integer situacao_comercial:text idempreendimento:bigint empreendimento:text etapa:text "
            "bloco:text unidade:text idunidade:bigint regiao:text idcliente:bigint cliente:text "
            "idcorretor:bigint corretor:text idimobiliaria:bigint imobiliaria:text valor_contrato:numeric "
            "valor_proposta:numeric vgv_tabela:numeric idtipovenda:integer tipovenda:text "
            "data_contrato:timestamp data_cancelamento:timestamp motivo_cancelamento:text "
            "data_ultima_alteracao_situacao:timestamp data_modificacao:timestamp"
        ),
        "idreserva",
        ("valor_contrato", "valor_proposta", "vgv_tabela"),
    ),
    Endpoint(
        "reservas_condicoes",
        "/reservas/condicoes",
        "CVDW /reservas/condicoes: the payment series of each reserva (ato, mensais, financiamento…).",
        _columns(
            "idreservascondicoes:bigint idreserva:bigint serie:text parcela_quantidade:integer valor:numeric "
            "valor_com_juros:numeric vencimento:date portador:text indexador:text data_modificacao:timestamp"
        ),
        "idreservascondicoes",
        ("valor", "valor_com_juros"),
    ),
    Endpoint(
        "comissoes",
        "/comissoes",
        "CVDW /comissoes: broker/brokerage commissions, each tied to one reserva (idreserva).",
        _columns(
            "idcomissao:bigint idreserva:bigint situacao:text idsituacao:integer corretor:text imobiliaria:text "
            "empreendimento:text etapa:text bloco:text unidade:text valor_contrato:numeric "
            "porcentagem_comissao:numeric valor_comissao:numeric valor_comissao_apagar:numeric "
            "valor_pagamento:numeric data_pagamento:date data_cad:timestamp"
        ),
        "idcomissao",
        ("valor_contrato", "valor_comissao", "valor_comissao_apagar", "valor_pagamento"),
        references=(("idreserva", "reservas"),),
    ),
    Endpoint(
        "unidades",
        "/unidades",
        "CVDW /unidades: every unit with its availability (situacao_mapa_disponibilidade 1 Disponível, "
        "2 Reservada, 3 Vendida, 4 Bloqueada, 5 Em processo de reserva). A run that includes today also reads "
        "every unit and records today's availability in core.unidades_situacao_diaria (CVDW keeps no history).",
        _columns(
            "idunidade:bigint idempreendimento:bigint empreendimento:text=nome_empreendimento idetapa:bigint "
            "etapa:text idbloco:bigint bloco:text nome:text tipologia:text tipo:text area_privativa:numeric "
            "valor:numeric valor_avaliacao:numeric situacao_mapa_disponibilidade:integer "
            "situacao_vendida:bigint data_entrega:date"
        ),
        "idunidade",
        ("valor", "valor_avaliacao"),
        full_read_for_snapshot=True,
    ),
    Endpoint(
        "distratos",
        "/distratos",
        "CVDW /distratos: cancelled sales (for VSO net of distratos), one row per reserva.",
        _columns(
            "idreserva:bigint situacao_data:timestamp idempreendimento:bigint empreendimento:text "
            "idunidade:bigint unidade:text cliente:text corretor:text valor_contrato:numeric "
            "motivo_distrato:text"
        ),
        "idreserva",
        ("valor_contrato",),
    ),
    Endpoint(
        "repasses",
        "/repasses",
        "CVDW /repasses: bank financing hand-overs of sold reservas.",
        _columns(
            "idrepasse:bigint idreserva:bigint=reserva situacao:text idempreendimento:bigint empreendimento:text "
            "unidade:text cliente:text banco:text valor_financiado:numeric valor_contrato:numeric "
            "data_venda:timestamp data_repasse:timestamp"
        ),
        "idrepasse",
        ("valor_financiado", "valor_contrato"),
    ),
    Endpoint(
        "atendimentos",
        "/atendimentos",
        "CVDW /atendimentos: customer-service tickets (relacionamento).",
        _columns(
            "idatendimento:bigint protocolo:text situacao:text idempreendimento:bigint empreendimento:text "
            "idcliente:bigint cliente:text assunto:text data_cad:timestamp data_conclusao:timestamp"
        ),
        "idatendimento",
    ),
)

BY_NAME = {endpoint.name: endpoint for endpoint in ENDPOINTS}
