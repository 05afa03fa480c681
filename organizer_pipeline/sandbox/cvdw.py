"""A CVDW simulator that follows shared/contracts/cvdw.md: the envelope, `pagina`/`registros_por_pagina`
(default 30, max 500), date-window filters sent as query string or JSON body, rows sorted by
`referencia_data`, the real field names, the real error bodies — and fault knobs.

The data set is generated, deterministic and lazy: row i of an endpoint is computed from i when a page asks
for it, so 100k full reservas cost no memory. A few empreendimentos with hundreds of unidades; reservas that
become sales, distratos (with a /distratos row and an inactive commission) or stay reserved; some rows
`ativo='N'`. Tests change rows with `Dataset.update`, which moves the row's `referencia_data` like the real
API does.

Knobs (`create_app(**knobs)`): n_reservas, start ("YYYY-MM-DD"), days, email, token; faults counted per
data request — rate_limit (requests per rate_window seconds, then the 'Too many requests' body),
too_many_every / too_many_status, error_every / error_status, slow_every / slow_seconds, malformed_every,
empty_status (200 or 204), zero_totals, live_changes_every (seconds between simulated edits), retry_after,
max_window_days / long_window_delay (a 400, late if asked, for windows longer than that)."""

from __future__ import annotations

import asyncio
import bisect
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

TS = "%Y-%m-%d %H:%M:%S"
DATE_PARAM = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$")
TOO_MANY = json.dumps({"Response": "Too many requests"}, indent=3)
EMPREENDIMENTOS = (
    (589, "Retiro Teixeira", "Sul", "Vertical"),
    (1186, "Residencial Exemplo", "Nordeste", "Horizontal"),
    (1203, "Varandas do Parque", "Sul", "Vertical"),
    (1250, "Jardim das Águas", "Sudeste", "Vertical"),
)
TIPOLOGIAS = ("2 quartos", "3 quartos com suíte", "3 suítes com terraço gourmet", "Studio")
CORRETORES = ((274, "CORRETOR QC", 274, "IMOBILIÁRIA QC"), (301, "ANA CORRETORA", 12, "Lar & Cia Ltda"))


def _money(value: float) -> float:
    return round(value, 2)


class Dataset:
    """Every endpoint as (count, referencia_data(i), row(i)); `update` overrides single rows."""

    def __init__(
        self, n_reservas: int = 600, start: str = "2023-10-01", days: int = 240, units_per_project: int = 120
    ):
        self.n = n_reservas
        self.start = datetime.strptime(start, "%Y-%m-%d")
        self.step = timedelta(days=days) / max(n_reservas, 1)
        self.n_units = units_per_project * len(EMPREENDIMENTOS)
        self.unit_step = timedelta(days=days) / max(self.n_units, 1)
        self.overrides: dict[str, dict[int, tuple[str, dict[str, Any]]]] = {}
        self.lock = threading.Lock()
        self.endpoints: dict[str, tuple[Callable[[], int], Callable[[int], str], Callable[[int], dict]]] = {
            "reservas": (lambda: self.n, self._reserva_date, self.reserva),
            "reservas/condicoes": (lambda: 2 * self.n, lambda j: self._reserva_date(j // 2), self.condicao),
            "comissoes": (
                lambda: self.n,
                lambda k: self._ts(self._reserva_at(k) + timedelta(hours=1)),
                self.comissao,
            ),
            "unidades": (lambda: self.n_units, self._unit_date, self.unidade),
            "distratos": (lambda: (self.n + 2) // 10, self._distrato_date, self.distrato),
            "repasses": (lambda: (self.n + 9) // 10, self._repasse_date, self.repasse),
            "atendimentos": (lambda: self.n // 3, lambda k: self._reserva_date(3 * k), self.atendimento),
        }

    # -- dates ---------------------------------------------------------------------------------------
    @staticmethod
    def _ts(moment: datetime) -> str:
        return moment.strftime(TS)

    def _reserva_at(self, i: int) -> datetime:
        return (self.start + self.step * i).replace(microsecond=0)

    def _reserva_date(self, i: int) -> str:
        return self._ts(self._reserva_at(i))

    def _distrato_date(self, k: int) -> str:
        return self._ts(self._reserva_at(10 * k + 7) + timedelta(days=5))

    def _repasse_date(self, k: int) -> str:
        return self._ts(self._reserva_at(10 * k) + timedelta(days=20))

    def _unit_date(self, u: int) -> str:
        return self._ts((self.start + self.unit_step * u).replace(microsecond=0))

    # -- business state ------------------------------------------------------------------------------
    @staticmethod
    def state(i: int) -> str:
        """vendida (60 %), distrato (10 %), reservada (30 %)."""
        return "distrato" if i % 10 == 7 else "vendida" if i % 10 < 6 else "reservada"

    def _valor(self, i: int) -> float:
        return _money(180000 + (i * 7919) % 420000 + (i % 100) / 4)

    def _unit_of(self, i: int) -> int:
        return (i * 31) % self.n_units

    def _project(self, u: int) -> tuple[int, str, str, str]:
        return EMPREENDIMENTOS[u % len(EMPREENDIMENTOS)]

    # -- rows ----------------------------------------------------------------------------------------
    def reserva(self, i: int) -> dict[str, Any]:
        state = self.state(i)
        at = self._reserva_at(i)
        u = self._unit_of(i)
        idemp, emp, regiao, _ = self._project(u)
        idcorretor, corretor, idimob, imob = CORRETORES[i % 2]
        sold = state != "reservada"
        cancelled = state == "distrato"
        valor = self._valor(i)
        situacao, idsituacao = {
            "vendida": ("Vendida", 3),
            "distrato": ("Distrato", 13),
            "reservada": ("Nova Reserva", 1),
        }[state]
        return {
            "referencia": str(10000 + i), "referencia_data": self._ts(at), "ativo": "N" if i % 50 == 13 else "S",
            "idreserva": 10000 + i, "codigointerno": f"R{i}", "numero_venda": str(i) if sold else None,
            "aprovada": "Sim" if sold else "Não", "data_cad": self._ts(at - timedelta(days=2)),
            "data_venda": self._ts(at) if sold else None, "situacao": situacao, "idsituacao": idsituacao,
            "situacao_comercial": "Vendas" if sold else "Pre-vendas", "idempreendimento": idemp,
            "codigointerno_empreendimento": str(idemp * 100 + 34), "empreendimento": emp,
            "data_entrega_chaves_contrato_cliente": "2026-12-01", "etapa": "Etapa 1", "bloco": f"Bloco {u % 6 + 1:02d}",
            "unidade": str(100 + u), "regiao": regiao, "venda": "Sim" if sold and not cancelled else "Não",
            "idcliente": 30000 + i, "documento_cliente": f"{i:011d}", "cliente": f"CLIENTE {i}",
            "email": f"cliente{i}@example.com", "cidade": "Aracaju", "cep_cliente": "49052260",
            "renda": _money(4000 + (i % 30) * 550.5), "sexo": "Feminino" if i % 2 else "Masculino", "idade": 22 + i % 40,
            "estado_civil": "Casado(a)", "idcorretor": idcorretor, "corretor": corretor, "idimobiliaria": idimob,
            "imobiliaria": imob, "valor_contrato": valor, "vencimento": self._ts(at + timedelta(days=7)),
            "campanha": "Campanha", "cessao": "Não",
            "motivo_cancelamento": "Desistência" if cancelled else None,
            "data_cancelamento": self._ts(at + timedelta(days=5)) if cancelled else None,
            "espacos_complementares": None, "idlead": f"{168000 + i},{4000 + i}",
            "data_ultima_alteracao_situacao": self._ts(at), "idempresa_correspondente": 1,
            "empresa_correspondente": "Nascimento", "valor_fgts": _money(valor * 0.02),
            "valor_financiamento": _money(valor * 0.7), "valor_subsidio": 0, "nome_usuario": "Nome",
            "idunidade": 5000 + u, "idprecadastro": 234 + i, "idmidia": 2, "midia": "Instagram",
            "descricao_motivo_cancelamento": "Cliente desistiu" if cancelled else None,
            "idsituacao_anterior": 1, "situacao_anterior": "Nova Reserva", "idtabela": 100,
            "nometabela": "Tabela de Janeiro", "codigointernotabela": "JAN23",
            "data_contrato": at.strftime("%Y-%m-%d") if sold else None, "valor_proposta": _money(valor * 1.03),
            "vpl_reserva": _money(valor * 0.97), "vgv_tabela": _money(valor * 1.03), "vpl_tabela": _money(valor * 0.98),
            "usuario_aprovacao": "Manoel Gomes", "data_aprovacao": at.strftime("%Y-%m-%d") if sold else None,
            "juros_condicao_aprovada": 0, "juros_apos_entrega_condicao_aprovada": 0,
            "idtabela_condicao_aprovada": 168523, "data_primeira_aprovacao": at.strftime("%Y-%m-%d") if sold else None,
            "aprovacao_absoluto": 0, "aprovacao_vpl_valor": 0, "idtipovenda": 2, "tipovenda": "Financiamento",
            "idgrupo": 1, "grupo": "Grupo Teste", "data_modificacao": at.strftime("%Y-%m-%d"),
            "campos_adicionais": [
                {"referencia": 193, "referencia_data": self._ts(at), "idcampo_valores": 10000 + i, "idcampo": 312,
                 "nome": "CONTRATO - USO", "valor": "Residencial", "tipo": "texto"}
            ],
            "campos_adicionais_contrato": [],
        }  # fmt: skip

    def condicao(self, j: int) -> dict[str, Any]:
        i, serie = j // 2, ("Ato", "Financiamento")[j % 2]
        valor = self._valor(i) * (0.1 if j % 2 == 0 else 0.9)
        return {
            "referencia": str(20000 + j), "referencia_data": self._reserva_date(i), "ativo": "S",
            "idreservascondicoes": 20000 + j, "idreserva": 10000 + i, "serie": serie,
            "parcela_quantidade": 1 if j % 2 == 0 else 360, "valor": _money(valor), "valor_com_juros": _money(valor * 1.1),
            "valor_com_comissao_fora_do_contrato": _money(valor), "valor_sem_comissao": _money(valor),
            "vencimento": self._reserva_at(i).strftime("%Y-%m-%d"), "portador": "Carteira", "indexador": "REAL",
            "data_reservas_condicoes": self._reserva_date(i), "data_modificacao": self._reserva_date(i),
        }  # fmt: skip

    def comissao(self, k: int) -> dict[str, Any]:
        state, valor = self.state(k), self._valor(k)
        u = self._unit_of(k)
        paid = state == "vendida"
        pct = 4 if state != "reservada" else 0
        return {
            "referencia": str(40000 + k), "referencia_data": self._ts(self._reserva_at(k) + timedelta(hours=1)),
            "ativo": "N" if state == "distrato" else "S", "idcomissao": 40000 + k,
            "situacao": "Liberada" if paid else "Comissão Gerada (1)", "idsituacao": 2 if paid else 1,
            "idreserva": 10000 + k, "corretor": CORRETORES[k % 2][1], "imobiliaria": CORRETORES[k % 2][3],
            "empreendimento": self._project(u)[1], "etapa": "Etapa 1", "bloco": f"Bloco {u % 6 + 1:02d}",
            "unidade": str(100 + u), "regiao": self._project(u)[2], "cliente": f"CLIENTE {k}", "cep_cliente": "49030210",
            "valor_contrato": valor, "porcentagem_comissao": pct, "valor_comissao": _money(valor * pct / 100),
            "valor_comissao_apagar": _money(valor * pct / 200), "valor_pagamento": _money(valor * pct / 200) if paid else 0,
            "nota_fiscal": str(k) if paid else None, "data_pagamento": self._reserva_at(k).strftime("%Y-%m-%d") if paid else None,
            "data_cad": "0000-00-00 00:00:00" if state == "distrato" else self._reserva_date(k),
        }  # fmt: skip

    def distrato(self, k: int) -> dict[str, Any]:
        i = 10 * k + 7
        u = self._unit_of(i)
        idemp, emp, regiao, _ = self._project(u)
        return {
            "referencia": str(10000 + i), "referencia_data": self._distrato_date(k), "ativo": "S",
            "idreserva": 10000 + i, "aprovada": "Sim", "data_cad": self._reserva_date(i),
            "situacao_data": self._distrato_date(k), "situacao_atual": "Distrato", "idsituacao": 13,
            "idempreendimento": idemp, "empreendimento": emp, "regiao": regiao, "etapa": "Etapa 1",
            "bloco": f"Bloco {u % 6 + 1:02d}", "idunidade": 5000 + u, "unidade": str(100 + u),
            "idcliente": 30000 + i, "cliente": f"CLIENTE {i}", "idcorretor": CORRETORES[i % 2][0],
            "corretor": CORRETORES[i % 2][1], "imobiliaria": CORRETORES[i % 2][3], "valor_contrato": self._valor(i),
            "motivo_distrato": "Desistência", "descricao_motivo_distrato": "Cliente desistiu",
            "data_sincronizacao": self._distrato_date(k),
        }  # fmt: skip

    def repasse(self, k: int) -> dict[str, Any]:
        i = 10 * k
        u = self._unit_of(i)
        idemp, emp, _, _ = self._project(u)
        return {
            "referencia": str(60000 + k), "referencia_data": self._repasse_date(k), "ativo": "S",
            "idrepasse": 60000 + k, "reserva": 10000 + i, "situacao": "Contrato Registrado",
            "idempreendimento": idemp, "empreendimento": emp, "unidade": str(100 + u), "cliente": f"CLIENTE {i}",
            "banco": "Caixa Econômica Federal", "valor_financiado": _money(self._valor(i) * 0.7),
            "valor_contrato": self._valor(i), "data_venda": self._reserva_date(i), "data_repasse": self._repasse_date(k),
        }  # fmt: skip

    def atendimento(self, k: int) -> dict[str, Any]:
        i = 3 * k
        idemp, emp, _, _ = self._project(self._unit_of(i))
        return {
            "referencia": str(70000 + k), "referencia_data": self._reserva_date(i), "ativo": "S",
            "idatendimento": 70000 + k, "protocolo": f"AT-{70000 + k}", "situacao": "Concluído" if k % 4 else "Aberto",
            "idempreendimento": idemp, "empreendimento": emp, "idcliente": 30000 + i, "cliente": f"CLIENTE {i}",
            "assunto": "Assistência técnica", "data_cad": self._reserva_date(i),
            "data_conclusao": self._reserva_date(i) if k % 4 else None,
        }  # fmt: skip

    def unidade(self, u: int) -> dict[str, Any]:
        idemp, emp, _, tipo_emp = self._project(u)
        sales = (
            [i for i in range(u * pow(31, -1, self.n_units) % self.n_units, self.n, self.n_units)]
            if self.n
            else []
        )
        last = self.state(sales[-1]) if sales else None
        situacao = 4 if u % 37 == 0 else {"vendida": 3, "reservada": 2}.get(last or "", 1)
        return {
            "referencia": 5000 + u, "referencia_data": self._unit_date(u), "idempreendimento": idemp,
            "idempreendimento_int": str(idemp), "idtipo_empreendimento": 1, "tipo_empreendimento": tipo_emp,
            "nome_empreendimento": emp, "idetapa": idemp * 10, "idetapa_int": str(idemp * 10), "etapa": "1ª ETAPA",
            "idbloco": idemp * 100 + u % 6, "idbloco_int": str(idemp * 100 + u % 6), "bloco": f"Bloco {u % 6 + 1:02d}",
            "nome": str(100 + u), "area_privativa": f"{45 + (u % 4) * 18:.2f}", "idunidade": str(5000 + u),
            "idunidade_int": str(5000 + u), "vagas_garagem": str(1 + u % 2), "andar": str(u % 15), "area_comum": "33.39",
            "coluna": u % 8, "posicao": "Leste", "tipologia": TIPOLOGIAS[u % len(TIPOLOGIAS)], "tipo": "Apartamento",
            "idtipo_int": "1", "empresa_terceirizacao": None, "valor": f"{250000 + (u % 7) * 15000:.2f}",
            "valor_avaliacao": f"{260000 + (u % 7) * 15000:.2f}", "data_bloqueio": None, "data_entrega": "01/12/2026",
            "data_entrega_chaves": "01/12/2026", "agendar_a_partir": None, "liberar_a_partir": None,
            "plantas": [{"idplanta": 1, "nome": "Planta 01"}], "campos_adicionais": [],
            "situacao_reservada": 10000 + sales[-1] if last == "reservada" else None,
            "situacao_reservada_vencimento": None, "situacao_reservada_idsituacao": 1 if last == "reservada" else None,
            "situacao_reservada_nomesituacao": "Reservada" if last == "reservada" else None,
            "situacao_cor_bg": "990000", "situacao_cor_nome": "ffffff", "situacao_nome": None,
            "situacao_reservada_inicio": "N", "situacao_vendida": 10000 + sales[-1] if last == "vendida" else None,
            "situacao_vendida_idsituacao": 3 if last == "vendida" else None, "situacao_idmotivo": None,
            "situacao_bloqueados_internos": "N", "situacao_bloqueada": "S" if situacao == 4 else "N",
            "situacao_bloqueada_idmotivo": None, "situacao_bloqueada_motivo": None, "situacao_tipo_id": 1,
            "situacao_tipo_nome": "Apartamento", "situacao_para_venda": 1, "situacao_mapa_disponibilidade": situacao,
            "situacao_possui_reserva_solicitacao_distrato": "N",
        }  # fmt: skip

    # -- changes and queries -------------------------------------------------------------------------
    def update(self, endpoint: str, index: int, at: datetime | None = None, **changes: Any) -> dict[str, Any]:
        """Change row `index` like CV would: new values and a new `referencia_data` (default: now)."""
        when = self._ts(at or datetime.now().replace(microsecond=0))
        with self.lock:
            self.overrides.setdefault(endpoint, {})[index] = (when, changes)
        return self.row(endpoint, index)

    def row(self, endpoint: str, index: int) -> dict[str, Any]:
        row = self.endpoints[endpoint][2](index)
        override = self.overrides.get(endpoint, {}).get(index)
        if override:
            row.update(override[1], referencia_data=override[0])
        return row

    def select(self, endpoint: str, since: str | None, until: str | None) -> list[int] | range:
        """Indices of the rows in the window, in `referencia_data` order."""
        count, date_of, _ = self.endpoints[endpoint]
        dates = _LazyDates(count(), date_of)
        lo = bisect.bisect_left(dates, since) if since else 0
        hi = bisect.bisect_right(dates, until) if until else len(dates)
        overrides = self.overrides.get(endpoint)
        if not overrides:
            return range(lo, hi)
        moved = {i: when for i, (when, _) in overrides.items()}
        kept = [i for i in range(lo, hi) if i not in moved]
        extra = [
            i for i, when in moved.items() if (not since or when >= since) and (not until or when <= until)
        ]
        return sorted(kept + extra, key=lambda i: moved.get(i) or date_of(i))

    def rows(self, endpoint: str, since: str | None = None, until: str | None = None) -> list[dict[str, Any]]:
        """Every row the API would return for the window (for tests)."""
        return [self.row(endpoint, i) for i in self.select(endpoint, since, until)]


class _LazyDates:
    def __init__(self, count: int, date_of: Callable[[int], str]):
        self.count, self.date_of = count, date_of

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> str:
        return self.date_of(i)


@dataclass
class Faults:
    rate_limit: int = 0
    rate_window: float = 60.0
    too_many_every: int = 0
    too_many_status: int = 429
    error_every: int = 0
    error_status: int = 503
    slow_every: int = 0
    slow_seconds: float = 0.0
    malformed_every: int = 0
    empty_status: int = 200
    zero_totals: bool = False  # envelope totals 0 while rows come back (seen on real /demandas pages)
    live_changes_every: float = 0.0  # seconds between simulated edits in CV (0: the data set stays still)
    retry_after: float = 0.0  # Retry-After header on rate-limit answers (unconfirmed that CV sends one)
    # Windows longer than this many days (both bounds given) get a 400 — after `long_window_delay` seconds,
    # so a client with a shorter timeout sees a timeout. CV's behaviour on huge windows is not documented.
    max_window_days: int = 0
    long_window_delay: float = 0.0


class Simulator:
    def __init__(self, dataset: Dataset, faults: Faults, email: str, token: str, cache_pages: bool = False):
        self.dataset, self.faults = dataset, faults
        self.email, self.token = email, token
        # Benchmarks: serve each rendered page from memory after its first request, so the simulator's
        # own row generation never limits what is measured on the client side.
        self.cache: dict[tuple, bytes | None] | None = {} if cache_pages else None
        self.requests = 0  # authenticated data requests, the fault counter
        self.recent: deque[float] = deque()
        self.lock = threading.Lock()
        self.last_change = time.monotonic()
        self.changes = 0

    def live_change(self) -> None:
        """Like people using CV: every `live_changes_every` seconds one reserva is cancelled and deactivated
        (its referencia_data moves to now), which is what the change sensor and the 4-hourly runs pick up."""
        every = self.faults.live_changes_every
        if every <= 0 or time.monotonic() - self.last_change < every or not self.dataset.n:
            return
        self.last_change = time.monotonic()
        index = (self.changes * 7919) % self.dataset.n
        self.changes += 1
        self.dataset.update("reservas", index, ativo="N", situacao="Cancelada", idsituacao=14)

    def _every(self, n: int, k: int) -> bool:
        return k > 0 and n % k == 0

    async def handle(self, request: Request) -> Response:
        if request.method != "GET":
            return _json({"mensagem": "Método não permitido.", "codigo": 405}, 405)
        endpoint = request.path_params["path"].strip("/")
        if endpoint not in self.dataset.endpoints:
            return _json({"mensagem": "Não encontrado.", "codigo": 404}, 404)
        if request.headers.get("email") != self.email or request.headers.get("token") != self.token:
            return _json({"mensagem": "E-mail e/ou token incorreto(s).", "codigo": 401}, 401)
        with self.lock:
            self.requests += 1
            number = self.requests
            now = time.monotonic()
            while self.recent and self.recent[0] < now - self.faults.rate_window:
                self.recent.popleft()
            over_limit = bool(self.faults.rate_limit) and len(self.recent) >= self.faults.rate_limit
            if not over_limit:  # a refused request does not use up the quota
                self.recent.append(now)
        f = self.faults
        if over_limit or self._every(number, f.too_many_every):
            headers = {"Retry-After": f"{f.retry_after:g}"} if f.retry_after else None
            status = 429 if over_limit else f.too_many_status
            return Response(TOO_MANY, status_code=status, headers=headers, media_type="application/json")
        if self._every(number, f.error_every):
            return _json(
                {
                    "mensagem": "Erro inesperado, por favor entre em contato com o suporte técnico.",
                    "codigo": f.error_status,
                },
                f.error_status,
            )
        if self._every(number, f.slow_every):
            await asyncio.sleep(f.slow_seconds)
        self.live_change()
        params = await _params(request)
        problem = _validate(params)
        if problem:
            return _json(problem, 400)
        if f.max_window_days and _window_days(params) > f.max_window_days:
            await asyncio.sleep(f.long_window_delay)
            return _json({"error": "O intervalo de datas informado é muito longo", "code": 400}, 400)
        body = self.page(endpoint, params)
        if body is None:
            return Response(status_code=204)
        if self._every(number, f.malformed_every):
            return Response(body[: len(body) // 2], media_type="application/json")
        return Response(body, media_type="application/json")

    def page(self, endpoint: str, params: dict[str, Any]) -> bytes | None:
        if self.cache is None:
            return self._render(endpoint, params)
        key = (
            endpoint,
            *(str(params.get(name)) for name in sorted(params)),
            len(self.dataset.overrides.get(endpoint, ())),
        )
        if key not in self.cache:
            self.cache[key] = self._render(endpoint, params)
        return self.cache[key]

    def _render(self, endpoint: str, params: dict[str, Any]) -> bytes | None:
        size = min(int(params.get("registros_por_pagina") or 30), 500)
        number = int(params["pagina"])
        since = _full(params.get("a_partir_data_referencia"), "00:00:00")
        until = _full(params.get("ate_data_referencia"), "23:59:59")
        with self.dataset.lock:
            selected = self.dataset.select(endpoint, since, until)
            chunk = selected[(number - 1) * size : number * size]
            rows = [self.dataset.row(endpoint, i) for i in chunk]
        total = len(selected)
        if total == 0 and self.faults.empty_status == 204:
            return None
        # Some endpoints really answer `pagina` as a string (contract §2).
        pagina: Any = str(number) if endpoint == "comissoes" else number
        pages = math.ceil(total / size)
        if self.faults.zero_totals:
            total = pages = 0
        envelope = {"pagina": pagina, "registros": size, "total_de_registros": total,
                    "total_de_paginas": pages, "dados": rows}  # fmt: skip
        return json.dumps(envelope, ensure_ascii=False).encode()


async def _params(request: Request) -> dict[str, Any]:
    """Query string or a JSON body on GET (CV's own client sends the body)."""
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if body:
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            params = {**decoded, **params}
    return params


def _validate(params: dict[str, Any]) -> dict[str, Any] | None:
    for name in ("pagina", "registros_por_pagina"):
        value = params.get(name)
        if value is None and name == "registros_por_pagina":
            continue
        if not str(value).isdigit() or int(value) < 1:
            return {"mensagem": f"O campo {name} deve ser um inteiro.", "codigo": 400}
    for name in ("a_partir_data_referencia", "ate_data_referencia"):
        value = params.get(name)
        if value is not None and (not DATE_PARAM.match(str(value)) or str(value).startswith("0000")):
            return {"error": f"O campo {name} não é válido", "code": 400}
    return None


def _window_days(params: dict[str, Any]) -> int:
    """Days from `a_partir_data_referencia` to `ate_data_referencia` (0 when either is missing)."""
    since, until = params.get("a_partir_data_referencia"), params.get("ate_data_referencia")
    if not since or not until:
        return 0
    first, last = (datetime.strptime(str(value)[:10], "%Y-%m-%d") for value in (since, until))
    return (last - first).days + 1


def _full(value: str | None, time_part: str) -> str | None:
    if not value:
        return None
    return value if len(value) > 10 else f"{value} {time_part}"


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status_code=status, media_type="application/json")


def create_app(
    n_reservas: int = 600,
    start: str | None = None,
    days: int = 240,
    email: str = "sandbox@example.com",
    token: str = "sandbox-token",
    cache_pages: bool = False,
    **faults: Any,
) -> Starlette:
    """The simulator as an ASGI app; `app.state.simulator` gives tests the data set and counters.
    `start` unset: the data set ends today (what `organizer up` serves, so the schedule finds rows)."""
    if start is None:
        start = (datetime.now() - timedelta(days=days - 1)).strftime("%Y-%m-%d")
    simulator = Simulator(Dataset(n_reservas, start, days), Faults(**faults), email, token, cache_pages)
    app = Starlette(
        routes=[
            Route(
                "/api/v1/cvdw/{path:path}",
                simulator.handle,
                methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            )
        ]
    )
    app.state.simulator = simulator
    return app


def create_demo_app() -> Starlette:
    """What `organizer up` serves without credentials: data ending today, one reserva edited per minute."""
    return create_app(live_changes_every=60.0)


def main(argv: list[str] | None = None) -> None:
    """`python -m organizer_pipeline.sandbox.cvdw --port P --reservas N [--days D] [--cache-pages]
    [--rate-limit R --rate-window S]`: one simulator with a chosen data set (the benchmarks run it in its own
    process)."""
    import argparse

    from organizer_pipeline.sandbox.server import serve_forever

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--reservas", type=int, default=600)
    parser.add_argument("--start", help="first day of the data (default: so that the data end today)")
    parser.add_argument("--days", type=int, default=240)
    parser.add_argument("--cache-pages", action="store_true")
    parser.add_argument("--rate-limit", type=int, default=0, help="requests per --rate-window (0: no limit)")
    parser.add_argument("--rate-window", type=float, default=60.0, help="seconds")
    args = parser.parse_args(argv)
    app = create_app(
        n_reservas=args.reservas,
        start=args.start,
        days=args.days,
        cache_pages=args.cache_pages,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
    )
    serve_forever(app, args.host, args.port)


if __name__ == "__main__":
    main()
