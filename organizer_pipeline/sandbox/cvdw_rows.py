"""The CVDW rows the simulator serves, built from business facts (a project, a unit, a deal and what became
of it), with the contract's field names and types. Both data sets of the simulator — the uniform one of the
tests and benchmarks, and the sandbox company — describe their rows as these facts, so a row looks the
same whoever made it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

TS = "%Y-%m-%d %H:%M:%S"
ZERO_DATE = "0000-00-00 00:00:00"  # real CVDW answers this for missing dates (contract §3)
MESES = ("Janeiro", "Fevereiro", "Março", "Abril", "Maio", "Junho", "Julho", "Agosto", "Setembro", "Outubro",
         "Novembro", "Dezembro")  # fmt: skip


def ts(moment: datetime | None) -> str | None:
    return moment.strftime(TS) if moment is not None else None


def day(moment: datetime | date | None) -> str | None:
    return moment.strftime("%Y-%m-%d") if moment is not None else None


def money(value: float) -> float:
    return round(value, 2)


@dataclass(frozen=True)
class Project:
    """An empreendimento (CVDW has no endpoint for it: it shows inside the rows)."""

    id: int
    nome: str
    regiao: str
    tipo: str  # tipo_empreendimento: Vertical / Horizontal
    cidade: str = "Aracaju"
    entrega: date = date(2026, 12, 1)


@dataclass(frozen=True)
class Unit:
    id: int  # idunidade
    project: Project
    etapa: str
    idetapa: int
    bloco: str
    idbloco: int
    nome: str
    andar: int
    coluna: int
    tipologia: str
    area: float
    valor: float  # list price
    vagas: int = 1


@dataclass(frozen=True)
class Broker:
    id: int
    nome: str
    idimobiliaria: int
    imobiliaria: str


@dataclass(frozen=True)
class Deal:
    """One reserva and what became of it: sold (venda), then maybe a distrato; or cancelled unsold; or still
    a reserva. `cancelled` is the distrato date of a sale, or the cancellation of an unsold reserva."""

    id: int  # idreserva
    unit: Unit
    broker: Broker
    client: int  # idcliente
    created: datetime
    sold: datetime | None
    cancelled: datetime | None
    valor: float  # valor_contrato
    financiamento: float = 0.0
    fgts: float = 0.0
    subsidio: float = 0.0
    ativo: str = "S"
    midia: str = "Instagram"

    @property
    def state(self) -> str:
        if self.sold is not None:
            return "distrato" if self.cancelled is not None else "vendida"
        return "cancelada" if self.cancelled is not None else "reservada"


SITUACOES = {  # state -> (situacao, idsituacao); names are tenant-configurable in CV
    "vendida": ("Vendida", 3),
    "distrato": ("Distrato", 13),
    "reservada": ("Nova Reserva", 1),
    "cancelada": ("Cancelada", 14),
}


def reserva(deal: Deal, ref: datetime) -> dict[str, Any]:
    """A /reservas row (80 fields, contract §5.1) as of `ref`, its referencia_data."""
    unit, project, broker, sold = deal.unit, deal.unit.project, deal.broker, deal.sold
    state = deal.state
    situacao, idsituacao = SITUACOES[state]
    cancelled = deal.cancelled
    financed = deal.financiamento > 0
    table_month = deal.created
    client = deal.client
    return {
        "referencia": str(deal.id), "referencia_data": ts(ref), "ativo": deal.ativo, "idreserva": deal.id,
        "codigointerno": f"R{deal.id}", "numero_venda": str(deal.id) if sold else None,
        "aprovada": "Sim" if sold else "Não", "data_cad": ts(deal.created), "data_venda": ts(sold),
        "situacao": situacao, "idsituacao": idsituacao, "situacao_comercial": "Vendas" if sold else "Pre-vendas",
        "idempreendimento": project.id, "codigointerno_empreendimento": str(project.id * 100 + 34),
        "empreendimento": project.nome, "data_entrega_chaves_contrato_cliente": day(project.entrega),
        "etapa": unit.etapa, "bloco": unit.bloco, "unidade": unit.nome, "regiao": project.regiao,
        "venda": "Sim" if state == "vendida" else "Não", "idcliente": client,
        "documento_cliente": f"{client:011d}", "cliente": f"CLIENTE {client}",
        "email": f"cliente{client}@example.com", "cidade": project.cidade, "cep_cliente": "49052260",
        "renda": money(4000 + (client % 30) * 550.5), "sexo": "Feminino" if client % 2 else "Masculino",
        "idade": 22 + client % 40, "estado_civil": "Casado(a)" if client % 3 else "Solteiro(a)",
        "idcorretor": broker.id, "corretor": broker.nome, "idimobiliaria": broker.idimobiliaria,
        "imobiliaria": broker.imobiliaria, "valor_contrato": deal.valor,
        "vencimento": ts(deal.created + timedelta(days=7)), "campanha": "Campanha", "cessao": "Não",
        "motivo_cancelamento": "Desistência" if cancelled else None, "data_cancelamento": ts(cancelled),
        "espacos_complementares": None, "idlead": f"{168000 + deal.id},{4000 + deal.id}",
        "data_ultima_alteracao_situacao": ts(ref), "idempresa_correspondente": 1,
        "empresa_correspondente": "Nascimento", "valor_fgts": money(deal.fgts),
        "valor_financiamento": money(deal.financiamento), "valor_subsidio": money(deal.subsidio),
        "nome_usuario": "Nome", "idunidade": unit.id, "idprecadastro": 234 + deal.id, "idmidia": 2,
        "midia": deal.midia, "descricao_motivo_cancelamento": "Cliente desistiu" if cancelled else None,
        "idsituacao_anterior": 1, "situacao_anterior": "Nova Reserva",
        "idtabela": 100 + table_month.month, "nometabela": f"Tabela de {MESES[table_month.month - 1]}",
        "codigointernotabela": f"{MESES[table_month.month - 1][:3].upper()}{table_month:%y}",
        "data_contrato": day(sold), "valor_proposta": money(deal.valor * 1.03),
        "vpl_reserva": money(deal.valor * 0.97), "vgv_tabela": money(unit.valor),
        "vpl_tabela": money(unit.valor * 0.95), "usuario_aprovacao": "Manoel Gomes" if sold else None,
        "data_aprovacao": day(sold), "juros_condicao_aprovada": 0, "juros_apos_entrega_condicao_aprovada": 0,
        "idtabela_condicao_aprovada": 168523, "data_primeira_aprovacao": day(sold), "aprovacao_absoluto": 0,
        "aprovacao_vpl_valor": 0, "idtipovenda": 2 if financed else 1,
        "tipovenda": "Financiamento" if financed else "Venda Direta", "idgrupo": 1, "grupo": "Grupo Vendas",
        "data_modificacao": day(ref),
        "campos_adicionais": [
            {"referencia": 193, "referencia_data": ts(ref), "idcampo_valores": deal.id, "idcampo": 312,
             "nome": "CONTRATO - USO", "valor": "Residencial", "tipo": "texto"}
        ],
        "campos_adicionais_contrato": [],
    }  # fmt: skip


def condicao(ident: int, deal: Deal, serie: str, parcelas: int, valor: float, first_due: date,
             ref: datetime) -> dict[str, Any]:  # fmt: skip
    """A /reservas/condicoes row: one payment series of a reserva; `valor` is the series' total."""
    return {
        "referencia": str(ident), "referencia_data": ts(ref), "ativo": "S", "idreservascondicoes": ident,
        "idreserva": deal.id, "serie": serie, "parcela_quantidade": parcelas, "valor": money(valor),
        "valor_com_juros": money(valor * (1.1 if parcelas > 1 else 1.0)),
        "valor_com_comissao_fora_do_contrato": money(valor), "valor_sem_comissao": money(valor),
        "vencimento": day(first_due), "portador": "Carteira", "indexador": "INCC" if parcelas > 1 else "REAL",
        "data_reservas_condicoes": ts(deal.created), "data_modificacao": ts(ref),
    }  # fmt: skip


def comissao(ident: int, deal: Deal, ref: datetime, pct: float, situacao: tuple[str, int],
             paid: datetime | None) -> dict[str, Any]:  # fmt: skip
    """A /comissoes row. A distrato's commission is deactivated with zero dates, as real captures show."""
    unit, project = deal.unit, deal.unit.project
    dead = deal.state == "distrato"
    valor = money(deal.valor * pct / 100)
    return {
        "referencia": str(ident), "referencia_data": ts(ref), "ativo": "N" if dead else "S",
        "idcomissao": ident, "situacao": situacao[0], "idsituacao": situacao[1], "idreserva": deal.id,
        "corretor": deal.broker.nome, "imobiliaria": deal.broker.imobiliaria, "empreendimento": project.nome,
        "etapa": unit.etapa, "bloco": unit.bloco, "unidade": unit.nome, "regiao": project.regiao,
        "cliente": f"CLIENTE {deal.client}", "cep_cliente": "49030210", "valor_contrato": deal.valor,
        "porcentagem_comissao": pct, "valor_comissao": valor,
        "valor_comissao_apagar": 0 if paid else money(valor / 2), "valor_pagamento": valor if paid else 0,
        "nota_fiscal": str(ident) if paid else None, "data_pagamento": day(paid),
        "data_cad": ZERO_DATE if dead else ts(deal.sold or deal.created),
    }  # fmt: skip


def distrato(deal: Deal) -> dict[str, Any]:
    unit, project, broker = deal.unit, deal.unit.project, deal.broker
    return {
        "referencia": str(deal.id), "referencia_data": ts(deal.cancelled), "ativo": "S", "idreserva": deal.id,
        "aprovada": "Sim", "data_cad": ts(deal.sold), "situacao_data": ts(deal.cancelled),
        "situacao_atual": "Distrato", "idsituacao": 13, "idempreendimento": project.id,
        "empreendimento": project.nome, "regiao": project.regiao, "etapa": unit.etapa, "bloco": unit.bloco,
        "idunidade": unit.id, "unidade": unit.nome, "idcliente": deal.client, "cliente": f"CLIENTE {deal.client}",
        "idcorretor": broker.id, "corretor": broker.nome, "imobiliaria": broker.imobiliaria,
        "valor_contrato": deal.valor, "motivo_distrato": "Desistência",
        "descricao_motivo_distrato": "Cliente desistiu", "data_sincronizacao": ts(deal.cancelled),
    }  # fmt: skip


def repasse(ident: int, deal: Deal, ref: datetime, situacao: str, banco: str,
            done: datetime | None) -> dict[str, Any]:  # fmt: skip
    project = deal.unit.project
    return {
        "referencia": str(ident), "referencia_data": ts(ref), "ativo": "S", "idrepasse": ident,
        "reserva": deal.id, "situacao": situacao, "idempreendimento": project.id, "empreendimento": project.nome,
        "unidade": deal.unit.nome, "cliente": f"CLIENTE {deal.client}", "banco": banco,
        "valor_financiado": money(deal.financiamento), "valor_contrato": deal.valor,
        "data_venda": ts(deal.sold), "data_repasse": ts(done),
    }  # fmt: skip


def atendimento(
    ident: int, deal: Deal, opened: datetime, assunto: str, closed: datetime | None
) -> dict[str, Any]:
    project = deal.unit.project
    return {
        "referencia": str(ident), "referencia_data": ts(closed or opened), "ativo": "S", "idatendimento": ident,
        "protocolo": f"AT-{ident}", "situacao": "Concluído" if closed else "Aberto",
        "idempreendimento": project.id, "empreendimento": project.nome, "idcliente": deal.client,
        "cliente": f"CLIENTE {deal.client}", "assunto": assunto, "data_cad": ts(opened),
        "data_conclusao": ts(closed),
    }  # fmt: skip


MAPA = {1: "Disponível", 2: "Reservada", 3: "Vendida", 4: "Bloqueada", 5: "Em processo de reserva"}


def unidade(unit: Unit, ref: datetime, mapa: int, holder: int | None) -> dict[str, Any]:
    """A /unidades row (57 fields, contract §5.5) with availability `mapa` (1..5); `holder` = the reserva
    that holds a reserved (2) or sold (3) unit. Several numerics are strings, as the spec types them."""
    project = unit.project
    reserved, sold = mapa == 2, mapa == 3
    return {
        "referencia": unit.id, "referencia_data": ts(ref), "idempreendimento": project.id,
        "idempreendimento_int": str(project.id), "idtipo_empreendimento": 1 if project.tipo == "Vertical" else 2,
        "tipo_empreendimento": project.tipo, "nome_empreendimento": project.nome, "idetapa": unit.idetapa,
        "idetapa_int": str(unit.idetapa), "etapa": unit.etapa, "idbloco": unit.idbloco,
        "idbloco_int": str(unit.idbloco), "bloco": unit.bloco, "nome": unit.nome, "area_privativa": f"{unit.area:.2f}",
        "idunidade": str(unit.id), "idunidade_int": str(unit.id), "vagas_garagem": str(unit.vagas),
        "andar": str(unit.andar), "area_comum": "33.39", "coluna": unit.coluna, "posicao": "Leste",
        "tipologia": unit.tipologia, "tipo": "Apartamento" if project.tipo == "Vertical" else "Casa",
        "idtipo_int": "1", "empresa_terceirizacao": None, "valor": f"{unit.valor:.2f}",
        "valor_avaliacao": f"{unit.valor * 1.04:.2f}", "data_bloqueio": None,
        "data_entrega": project.entrega.strftime("%d/%m/%Y"),
        "data_entrega_chaves": project.entrega.strftime("%d/%m/%Y"), "agendar_a_partir": None,
        "liberar_a_partir": None, "plantas": [{"idplanta": 1, "nome": "Planta 01"}], "campos_adicionais": [],
        "situacao_reservada": holder if reserved else None, "situacao_reservada_vencimento": None,
        "situacao_reservada_idsituacao": 1 if reserved else None,
        "situacao_reservada_nomesituacao": "Reservada" if reserved else None, "situacao_cor_bg": "990000",
        "situacao_cor_nome": "ffffff", "situacao_nome": None, "situacao_reservada_inicio": "N",
        "situacao_vendida": holder if sold else None, "situacao_vendida_idsituacao": 3 if sold else None,
        "situacao_idmotivo": None, "situacao_bloqueados_internos": "N",
        "situacao_bloqueada": "S" if mapa == 4 else "N", "situacao_bloqueada_idmotivo": 1 if mapa == 4 else None,
        "situacao_bloqueada_motivo": "Permuta com o terreno" if mapa == 4 else None, "situacao_tipo_id": 1,
        "situacao_tipo_nome": "Apartamento" if project.tipo == "Vertical" else "Casa", "situacao_para_venda": 1,
        "situacao_mapa_disponibilidade": mapa, "situacao_possui_reserva_solicitacao_distrato": "N",
    }  # fmt: skip
