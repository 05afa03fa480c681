"""The sandbox company: what `organizer up` serves without CVDW credentials, so the dashboard shows a
business worth looking at.

An incorporadora in Aracaju with six empreendimentos launched at different moments of the window (one with a
second etapa launched later), ~2,000 units and ~1,500 reservas by default. Demand follows the calendar
(weak January–February, strong October–November) and spikes at every launch, then decays. Each reserva
takes a unit that is free at that moment; it becomes a sale (and some sales a distrato months later, which
frees the unit again), is cancelled unsold (unit freed), or, when recent, is still a reserva. So the unit
map (`situacao_mapa_disponibilidade`) is what the reservas say: Vendida, Reservada, Disponível, plus a few
units Bloqueada from launch (a land swap). Sales carry payment series (`/reservas/condicoes`) in the
spellings real price tables use, commissions, bank repasses and customer-service atendimentos.

The plan — which deal took which unit when — is computed once (a few thousand small tuples, well under a second);
rows are built from it on demand, like the uniform data set. Everything is deterministic: the same
`n_reservas`, `start` and `days` give the same company. Events happen before the window's last day; on
that day (today, for `organizer up`) the only changes are the live ones (`live_change`)."""

from __future__ import annotations

import bisect
import heapq
import math
import random
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from organizer_pipeline.sandbox import cvdw_rows as rows
from organizer_pipeline.sandbox.cvdw import Rows

# Sales by calendar month relative to the mean: summer holidays and Carnaval are slow, the second
# semester's fairs (feirões) and the 13th salary make October–November the best months.
SEASON = {1: 0.70, 2: 0.75, 3: 1.05, 4: 1.00, 5: 1.10, 6: 0.95, 7: 0.95, 8: 1.10, 9: 1.10, 10: 1.15,
          11: 1.20, 12: 0.85}  # fmt: skip

# Payment series as price tables and users spell them: each project's tables use one house spelling per kind;
# hand edits (10 %) use any variant (case, accents, abbreviations). Financing kinds are paid by
# a bank or a public programme; the rest is pró-soluto, paid to the incorporadora.
SERIES: dict[str, tuple[str, ...]] = {
    "ato": ("Ato", "ATO", "Entrada", "ato", "Ato/Entrada"),
    "sinal": ("Sinal", "SINAL", "Sinal de Negócio"),
    "mensais": ("Mensais", "MENSAIS", "Parcelas Mensais", "Mensal", "mensais", "Parc. Mensais"),
    "intercaladas": (
        "Intercaladas",
        "INTERCALADAS",
        "Intermediárias",
        "Semestrais",
        "Intermediarias",
        "Anuais",
    ),
    "chaves": ("Chaves", "CHAVES", "Entrega das Chaves", "Parcela Chaves", "Parc. Chaves"),
    "pos_chaves": ("Pós-Chaves", "POS CHAVES", "Pós Chaves"),
    "financiamento": (
        "Financiamento",
        "FINANCIAMENTO BANCARIO",
        "Financiamento Bancário",
        "Financiamento bancario",
        "Financiamento CEF",
        "Financ. Bancário",
        "Fin. Bancário",
    ),  # fmt: skip
    "fgts": ("FGTS", "Fgts", "Recursos FGTS", "F.G.T.S."),
    "subsidio": ("Subsídio", "SUBSIDIO", "Subsídio MCMV", "Subsidio"),
}
HOUSE_SPELLINGS = 3  # a project's price tables use one of the first three; the rest are typed by hand
FINANCING_KINDS = frozenset({"financiamento", "fgts", "subsidio"})
KIND_OF = {variant: kind for kind, variants in SERIES.items() for variant in variants}


@dataclass(frozen=True)
class Launch:
    """One empreendimento's plan. Fractions are of the data set's window; `etapas` = (name, share of the
    project's units, launch after the project's, as a fraction of the window)."""

    project: rows.Project
    units_share: float
    launch: float
    price: float  # mean list price
    segment: str  # "mcmv" (Minha Casa Minha Vida), "medio", "alto"
    absorption: float  # share of its units sold by the end of the window
    tipologias: tuple[tuple[str, float, float], ...]  # (name, private area m², price factor)
    etapas: tuple[tuple[str, float, float], ...] = (("1ª Etapa", 1.0, 0.0),)
    style: int = 0  # which spelling of each series its price tables use
    build_months: int = 36  # from launch to delivery (data_entrega)


LAUNCHES = (
    Launch(rows.Project(1101, "Residencial Vila Verde", "Grande Aracaju", "Horizontal", "Nossa Senhora do Socorro"),
           0.12, 0.00, 310_000, "medio", 0.82, (("Casa 2 quartos", 62, 0.9), ("Casa 3 quartos com suíte", 84, 1.15)),
           build_months=24),
    Launch(rows.Project(1102, "Edifício Mirante do Parque", "Zona Sul", "Vertical", "Aracaju"),
           0.18, 0.08, 420_000, "medio", 0.74,
           (("2 quartos", 58, 0.85), ("3 quartos com suíte", 78, 1.1), ("Cobertura duplex", 140, 1.9)), style=1),
    Launch(rows.Project(1103, "Jardim das Acácias", "Zona Norte", "Vertical", "Aracaju"),
           0.24, 0.18, 205_000, "mcmv", 0.70, (("2 quartos", 42, 0.95), ("2 quartos com varanda", 45, 1.05)),
           etapas=(("1ª Etapa", 0.55, 0.0), ("2ª Etapa", 0.45, 0.42)), style=2, build_months=30),
    Launch(rows.Project(1104, "Parque das Águas", "Litoral Norte", "Vertical", "Barra dos Coqueiros"),
           0.20, 0.28, 380_000, "medio", 0.62, (("2 quartos", 55, 0.9), ("3 quartos", 70, 1.1)), style=3),
    Launch(rows.Project(1105, "Reserva dos Ipês", "Zona de Expansão", "Horizontal", "Aracaju"),
           0.10, 0.37, 780_000, "alto", 0.55, (("Casa 3 suítes", 180, 0.85), ("Casa 4 suítes", 210, 1.0)), style=1,
           build_months=30),
    Launch(rows.Project(1106, "Torre Atlântica", "Orla", "Vertical", "Aracaju"),
           0.16, 0.45, 920_000, "alto", 0.50, (("3 suítes", 128, 0.9), ("4 suítes com terraço gourmet", 176, 1.25)),
           build_months=42),
)  # fmt: skip

BROKERS = (  # (broker, weight): a few brokers sell most
    (rows.Broker(501, "MARIANA COSTA", 1, "VENDAS DIRETAS"), 10),
    (rows.Broker(274, "CARLOS EDUARDO LIMA", 274, "IMOBILIÁRIA QC"), 8),
    (rows.Broker(301, "ANA PAULA SOUZA", 12, "Lar & Cia Ltda"), 7),
    (rows.Broker(502, "RAFAEL ALMEIDA", 1, "VENDAS DIRETAS"), 6),
    (rows.Broker(311, "FERNANDO OLIVEIRA", 310, "Nordeste Imóveis"), 5),
    (rows.Broker(312, "PATRÍCIA MENEZES", 310, "Nordeste Imóveis"), 5),
    (rows.Broker(416, "BRUNO CARVALHO", 415, "Casa Forte Negócios Imobiliários"), 4),
    (rows.Broker(302, "LUCIANA BARRETO", 12, "Lar & Cia Ltda"), 3),
    (rows.Broker(275, "DIEGO NASCIMENTO", 274, "IMOBILIÁRIA QC"), 3),
    (rows.Broker(417, "CAMILA ROCHA", 415, "Casa Forte Negócios Imobiliários"), 2),
    (rows.Broker(503, "JULIANA SANTOS", 1, "VENDAS DIRETAS"), 2),
    (rows.Broker(313, "THIAGO MOURA", 310, "Nordeste Imóveis"), 1),
)
MIDIAS = (("Instagram", 6), ("Plantão de Vendas", 5), ("Indicação", 4), ("Google", 4), ("Facebook", 3),
          ("Site", 3), ("Feirão Caixa", 2), ("Portal ZAP", 2))  # fmt: skip
BANKS = (
    ("Caixa Econômica Federal", 7),
    ("Banco do Brasil", 1),
    ("Bradesco", 1),
    ("Itaú", 1),
    ("Santander", 1),
)
ASSUNTOS = ("Segunda via de boleto", "Dúvida sobre parcelas", "Andamento da obra", "Assistência técnica",
            "Alteração cadastral", "Vistoria de entrega")  # fmt: skip
YIELD = 0.85  # net sales per reserva (some are cancelled unsold, some sales end in a distrato)


def _pick(rng: random.Random, weighted: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([item for item, _ in weighted], [weight for _, weight in weighted])[0]


def _month_after(moment: datetime | date, months: int) -> date:
    year, month = divmod(moment.month - 1 + months, 12)
    return date(moment.year + year, month + 1, min(moment.day, 28))


class Company(Rows):
    """The sandbox company as CVDW endpoints (see the module docstring)."""

    def __init__(self, n_reservas: int = 1500, start: str = "2023-10-01", days: int = 730):
        super().__init__()
        self.start = datetime.strptime(start, "%Y-%m-%d")
        self.days = days
        self.horizon = self.start + timedelta(days=max(days - 1, 1))  # the last day: live changes only
        self.target = n_reservas
        self.units: list[rows.Unit] = []
        self.unit_launch: list[datetime] = []
        self.blocked: set[int] = set()
        self.projects = {  # delivery dates follow the launch, wherever the window lies
            launch.project.id: replace(
                launch.project, entrega=_month_after(self._at(launch.launch), launch.build_months)
            )
            for launch in LAUNCHES
        }
        self._build_units(max(round(n_reservas * 4 / 3), len(LAUNCHES)))
        self.deals: list[rows.Deal] = []
        self._deal_series: list[list[tuple[str, int, float, date]]] = []  # per deal
        self._plan_deals()
        self.n = len(self.deals)
        self._index_rows()
        self.endpoints = {
            "reservas": (lambda: self.n, lambda i: self._reserva_rows[i][0], self.reserva),
            "reservas/condicoes": (lambda: len(self._series), lambda j: self._series[j][0], self.condicao),
            "comissoes": (lambda: len(self._comissoes), lambda k: self._comissoes[k][0], self.comissao),
            "unidades": (lambda: len(self.units), lambda u: self._unit_rows[u][0], self.unidade),
            "distratos": (lambda: len(self._distratos), lambda k: self._distratos[k][0], self.distrato),
            "repasses": (lambda: len(self._repasses), lambda k: self._repasses[k][0], self.repasse),
            "atendimentos": (
                lambda: len(self._atendimentos),
                lambda k: self._atendimentos[k][0],
                self.atendimento,
            ),
        }
        self._pending = [
            i for i, (_, d) in enumerate(self._reserva_rows) if self.deals[d].state == "reservada"
        ]

    # -- the plan --------------------------------------------------------------------------------------
    def _at(self, fraction: float) -> datetime:
        return self.start + timedelta(days=self.days * fraction)

    def _build_units(self, total: int) -> None:
        shares = [launch.units_share for launch in LAUNCHES]
        counts = [max(1, round(total * share / sum(shares))) for share in shares]
        for launch, count in zip(LAUNCHES, counts, strict=True):
            project = self.projects[launch.project.id]
            vertical = project.tipo == "Vertical"
            per_floor = {"mcmv": 8, "medio": 6, "alto": 4}[launch.segment] if vertical else 20
            floors = {"mcmv": 8, "medio": 12, "alto": 20}[launch.segment] if vertical else 1
            made = 0
            for e, (etapa, share, offset) in enumerate(launch.etapas):
                size = count - made if e == len(launch.etapas) - 1 else round(count * share)
                opens = self._at(launch.launch + offset).replace(hour=9, minute=0, second=0)
                for k in range(size):
                    block, rest = divmod(k, per_floor * floors)
                    floor, column = divmod(rest, per_floor)
                    regular = [t for t in launch.tipologias if t[2] <= 1.5]
                    premium = [t for t in launch.tipologias if t[2] > 1.5]  # penthouses: top floor only
                    top = vertical and floor == floors - 1 and premium and column < 2
                    name, area, factor = premium[0] if top else regular[column % len(regular)]
                    jitter = 1 + ((project.id * 31 + made + k) * 7919 % 41 - 20) / 1000
                    unit = rows.Unit(
                        id=80000 + len(self.units), project=project, etapa=etapa, idetapa=project.id * 10 + e + 1,
                        bloco=f"Torre {chr(65 + block)}" if vertical else f"Quadra {block + 1:02d}",
                        idbloco=project.id * 100 + e * 10 + block,
                        nome=f"{floor + 1}{column + 1:02d}" if vertical else f"Casa {column + 1:02d}",
                        andar=floor + 1 if vertical else 0, coluna=column + 1, tipologia=name, area=area,
                        valor=rows.money(launch.price * factor * (1 + 0.006 * floor) * jitter),
                        vagas=2 if launch.segment == "alto" else 1,
                    )  # fmt: skip
                    if (made + k) % 67 == 33:  # reserved for the landowner (permuta): never for sale
                        self.blocked.add(len(self.units))
                    self.units.append(unit)
                    self.unit_launch.append(opens)
                made += size

    def _arrivals(self, launch: Launch, count: int, rng: random.Random) -> list[datetime]:
        """`count` reserva moments for one project: seasonal demand with a spike after every etapa launch."""
        first = self._at(launch.launch).date()
        last = self.horizon.date() - timedelta(days=1)
        days = [first + timedelta(days=d) for d in range((last - first).days + 1)]
        if not days or count <= 0:
            return []
        weights = []
        for d in days:
            boost = 0.0
            for _, share, offset in launch.etapas:
                since = (d - self._at(launch.launch + offset).date()).days
                if since >= 0:
                    boost += share * 3.5 * math.exp(-since / 40)
            weights.append(SEASON[d.month] * (1 + boost))
        cumulative, total = [], 0.0
        for weight in weights:
            total += weight
            cumulative.append(total)
        moments = []
        for k in range(count):
            at = bisect.bisect_left(cumulative, (k + rng.random()) / count * total)
            seconds = rng.randrange(8 * 3600, 20 * 3600)
            moments.append(
                datetime.combine(days[min(at, len(days) - 1)], datetime.min.time())
                + timedelta(seconds=seconds)
            )
        return sorted(moments)

    def _plan_deals(self) -> None:
        weights = [
            launch.absorption * sum(1 for u in self.units if u.project.id == launch.project.id) / YIELD
            for launch in LAUNCHES
        ]
        horizon = self.horizon
        drafts: list[tuple[datetime, Launch, int, datetime | None, datetime | None, random.Random]] = []
        for launch, weight in zip(LAUNCHES, weights, strict=True):
            rng = random.Random(f"cvdw-company:{launch.project.id}")
            count = round(self.target * weight / sum(weights))
            ids = [
                u
                for u, unit in enumerate(self.units)
                if unit.project.id == launch.project.id and u not in self.blocked
            ]
            waiting = sorted((self.unit_launch[u], u) for u in ids)  # units not yet launched
            free: list[int] = []
            released: list[tuple[datetime, int]] = []  # heap of (moment, unit) freed by cancellations
            for created in self._arrivals(launch, count, rng):
                while waiting and waiting[0][0] <= created:
                    bisect.insort(free, waiting.pop(0)[1])
                while released and released[0][0] <= created:
                    bisect.insort(free, heapq.heappop(released)[1])
                if not free:
                    continue  # sold out at that moment: the demand is lost
                unit = free.pop(rng.randrange(len(free)))
                sold = cancelled = None
                outcome = rng.random()
                recent = created > horizon - timedelta(days=15)
                if not (recent and outcome < 0.45):
                    if outcome < 0.09:
                        cancelled = created + timedelta(days=rng.randint(2, 12), seconds=rng.randrange(36000))
                    else:
                        sold = created + timedelta(days=rng.randint(1, 10), seconds=rng.randrange(36000))
                        if rng.random() < 0.08:
                            cancelled = sold + timedelta(
                                days=rng.randint(30, 240), seconds=rng.randrange(36000)
                            )
                if sold is not None and sold >= horizon:
                    sold = cancelled = None  # not decided yet
                if cancelled is not None and cancelled >= horizon:
                    cancelled = None
                if cancelled is not None:
                    heapq.heappush(released, (cancelled, unit))
                drafts.append(
                    (
                        created,
                        launch,
                        unit,
                        sold,
                        cancelled,
                        random.Random(f"{launch.project.id}:{unit}:{created}"),
                    )
                )
        drafts.sort(key=lambda draft: draft[0])
        for index, (created, launch, unit, sold, cancelled, rng) in enumerate(drafts):
            price = self.units[unit].valor
            months = max((created - self._at(launch.launch)).days / 30.4, 0)
            valor = rows.money(price * (1 + 0.005 * months) * (1 - rng.uniform(0, 0.05)))
            series = self._series_of(launch, valor, created, rng)
            financing = {
                kind: sum(v for name, _, v, _ in series if KIND_OF[name] == kind) for kind in FINANCING_KINDS
            }
            self.deals.append(
                rows.Deal(
                    id=10000 + index,
                    unit=self.units[unit],
                    broker=_pick(rng, BROKERS),
                    client=30000 + index,
                    created=created,
                    sold=sold,
                    cancelled=cancelled,
                    valor=valor,
                    financiamento=financing["financiamento"],
                    fgts=financing["fgts"],
                    subsidio=financing["subsidio"],
                    ativo="N" if sold is None and cancelled is not None and rng.random() < 0.3 else "S",
                    midia=_pick(rng, MIDIAS),
                )  # fmt: skip
            )
            self._deal_series.append(series)

    def _series_of(self, launch: Launch, valor: float, created: datetime,
                   rng: random.Random) -> list[tuple[str, int, float, date]]:  # fmt: skip
        """The payment series of one proposal: (serie, parcelas, total, first due date); they sum to valor."""

        def name(kind: str) -> str:
            variants = SERIES[kind]
            if rng.random() < 0.1:  # typed by hand, or an older price table
                return rng.choice(variants)
            return variants[launch.style % HOUSE_SPELLINGS]

        entrega = self.projects[launch.project.id].entrega
        parts: list[tuple[str, float, int, date]] = []  # kind, share, parcelas, first due
        if launch.segment == "mcmv":
            parts.append(("ato", rng.uniform(0.01, 0.03), 1, created.date()))
            parts.append(("mensais", rng.uniform(0.05, 0.09), 24, _month_after(created, 1)))
            parts.append(("fgts", rng.uniform(0.03, 0.08), 1, _month_after(created, 2)))
            if valor < 240_000:
                parts.append(("subsidio", rng.uniform(0.04, 0.12), 1, _month_after(created, 2)))
            financed = True
        else:
            parts.append(("ato", rng.uniform(0.05, 0.10), 1, created.date()))
            if rng.random() < 0.3:
                parts.append(("sinal", rng.uniform(0.02, 0.05), 1, _month_after(created, 1)))
            months = max(12, (entrega.year - created.year) * 12 + entrega.month - created.month)
            parts.append(("mensais", rng.uniform(0.10, 0.18), months, _month_after(created, 1)))
            parts.append(
                ("intercaladas", rng.uniform(0.05, 0.10), max(2, months // 6), _month_after(created, 6))
            )
            parts.append(("chaves", rng.uniform(0.05, 0.10), 1, entrega))
            financed = launch.segment == "medio" or rng.random() < 0.7
            if launch.segment == "medio" and rng.random() < 0.35:
                parts.append(("fgts", rng.uniform(0.02, 0.06), 1, entrega))
            if not financed:
                parts.append(("pos_chaves", rng.uniform(0.25, 0.40), 36, _month_after(entrega, 1)))
        series = [
            (name(kind), parcelas, rows.money(valor * share), due) for kind, share, parcelas, due in parts
        ]
        rest = rows.money(valor - sum(v for _, _, v, _ in series))
        if financed:
            series.append((name("financiamento"), 1, rest, entrega))
        else:  # direct sale: the remainder goes to the monthly series
            kind, parcelas, v, due = series[[KIND_OF[s[0]] for s in series].index("mensais")]
            series[[KIND_OF[s[0]] for s in series].index("mensais")] = (
                kind,
                parcelas,
                rows.money(v + rest),
                due,
            )
        return series

    # -- rows sorted by referencia_data ------------------------------------------------------------------
    def _index_rows(self) -> None:
        horizon = self.horizon
        reservas = []
        for d, deal in enumerate(self.deals):
            reservas.append((rows.ts(deal.cancelled or deal.sold or deal.created), d))
        self._reserva_rows = sorted(reservas)
        series = []
        ident = 20000
        for d, deal in enumerate(self.deals):
            ref = rows.ts(deal.sold or deal.created)
            for serie, parcelas, valor, due in self._deal_series[d]:
                series.append((ref, ident, d, serie, parcelas, valor, due))
                ident += 1
        self._series = sorted(series)
        comissoes, repasses, atendimentos = [], [], []
        for d, deal in enumerate(self.deals):
            if deal.sold is None:
                continue
            rng = random.Random(f"after-sale:{deal.id}")
            own = deal.broker.idimobiliaria == 1
            pct = round(rng.uniform(2.5, 3.0) if own else rng.uniform(4.0, 5.0), 2)
            age = (horizon - deal.sold).days
            if deal.cancelled is not None:
                comissoes.append((rows.ts(deal.cancelled), d, pct, ("Cancelada", 6), None))
            elif age < 30:
                comissoes.append(
                    (rows.ts(deal.sold + timedelta(hours=1)), d, pct, ("Comissão Gerada (1)", 1), None)
                )
            elif age < 60:
                comissoes.append(
                    (rows.ts(deal.sold + timedelta(days=30)), d, pct, ("Aguardando NF", 4), None)
                )
            else:
                paid = deal.sold + timedelta(days=rng.randint(35, 55))
                comissoes.append((rows.ts(paid), d, pct, ("Finalizado", 5), paid))
            if deal.state == "vendida" and deal.financiamento > 0:
                entry = deal.sold + timedelta(days=rng.randint(15, 40), hours=rng.randint(0, 8))
                if entry < horizon:
                    done = entry + timedelta(days=rng.randint(60, 100))
                    signed = entry + timedelta(days=rng.randint(25, 45))
                    if done < horizon:
                        repasses.append((rows.ts(done), d, "Contrato Registrado", done))
                    elif signed < horizon:
                        repasses.append((rows.ts(signed), d, "Contrato Assinado", None))
                    else:
                        repasses.append((rows.ts(entry), d, "Em análise", None))
            if deal.cancelled is not None:
                opened = deal.cancelled - timedelta(days=rng.randint(5, 15))
                atendimentos.append(
                    (rows.ts(deal.cancelled), d, opened, "Solicitação de distrato", deal.cancelled)
                )
            elif rng.random() < 0.35:
                opened = deal.sold + timedelta(days=rng.randint(20, 300), hours=rng.randint(1, 9))
                if opened < horizon:
                    closed = opened + timedelta(days=rng.randint(1, 20))
                    closed = closed if closed < horizon else None
                    atendimentos.append((rows.ts(closed or opened), d, opened, rng.choice(ASSUNTOS), closed))
        self._comissoes = sorted(comissoes, key=lambda row: (row[0], row[1]))
        self._repasses = sorted(repasses, key=lambda row: (row[0], row[1]))
        self._atendimentos = sorted(atendimentos, key=lambda row: (row[0], row[1]))
        self._distratos = sorted(
            (rows.ts(deal.cancelled), d) for d, deal in enumerate(self.deals) if deal.state == "distrato"
        )
        self.unit_state = self._unit_states()
        self._unit_rows = sorted((rows.ts(self.unit_state[u][2]), u) for u in range(len(self.units)))

    def _unit_states(self) -> list[tuple[int, int | None, datetime]]:
        """Per unit: (situacao_mapa_disponibilidade, the reserva holding it, its last change)."""
        states: list[tuple[int, int | None, datetime]] = [
            (4 if u in self.blocked else 1, None, self.unit_launch[u]) for u in range(len(self.units))
        ]
        index = {unit.id: u for u, unit in enumerate(self.units)}
        for deal in self.deals:  # in creation order: the last deal of a unit decides
            u = index[deal.unit.id]
            last = deal.cancelled or deal.sold or deal.created
            mapa = {"vendida": 3, "reservada": 2}.get(deal.state, 1)
            states[u] = (mapa, deal.id if mapa in (2, 3) else None, max(last, states[u][2]))
        return states

    # -- rows --------------------------------------------------------------------------------------------
    def reserva(self, i: int) -> dict[str, Any]:
        ref, d = self._reserva_rows[i]
        return rows.reserva(self.deals[d], datetime.strptime(ref, rows.TS))

    def condicao(self, j: int) -> dict[str, Any]:
        ref, ident, d, serie, parcelas, valor, due = self._series[j]
        return rows.condicao(
            ident, self.deals[d], serie, parcelas, valor, due, datetime.strptime(ref, rows.TS)
        )

    def comissao(self, k: int) -> dict[str, Any]:
        ref, d, pct, situacao, paid = self._comissoes[k]
        return rows.comissao(40000 + k, self.deals[d], datetime.strptime(ref, rows.TS), pct, situacao, paid)

    def distrato(self, k: int) -> dict[str, Any]:
        return rows.distrato(self.deals[self._distratos[k][1]])

    def repasse(self, k: int) -> dict[str, Any]:
        ref, d, situacao, done = self._repasses[k]
        banco = _pick(random.Random(f"bank:{d}"), BANKS)
        return rows.repasse(60000 + k, self.deals[d], datetime.strptime(ref, rows.TS), situacao, banco, done)

    def atendimento(self, k: int) -> dict[str, Any]:
        _, d, opened, assunto, closed = self._atendimentos[k]
        return rows.atendimento(70000 + k, self.deals[d], opened, assunto, closed)

    def unidade(self, u: int) -> dict[str, Any]:
        ref, unit = self._unit_rows[u]
        mapa, holder, _ = self.unit_state[unit]
        return rows.unidade(self.units[unit], datetime.strptime(ref, rows.TS), mapa, holder)

    # -- live ----------------------------------------------------------------------------------------------
    def live_change(self, k: int) -> None:
        """Today's business: a pending reserva is approved as a sale (the reserva and its unit change); once
        none is left, a sold reserva's record is edited (an update that changes no KPI)."""
        now = datetime.now().replace(microsecond=0)
        if k < len(self._pending):
            i = self._pending[k]
            deal = self.deals[self._reserva_rows[i][1]]
            self.update("reservas", i, at=now, data_venda=rows.ts(now), situacao="Vendida", idsituacao=3,
                        venda="Sim", aprovada="Sim", data_contrato=rows.day(now), data_aprovacao=rows.day(now))  # fmt: skip
            u = next(u for u, (_, unit) in enumerate(self._unit_rows) if self.units[unit].id == deal.unit.id)
            self.update("unidades", u, at=now, situacao_mapa_disponibilidade=3, situacao_vendida=deal.id,
                        situacao_vendida_idsituacao=3, situacao_reservada=None, situacao_reservada_idsituacao=None,
                        situacao_reservada_nomesituacao=None)  # fmt: skip
            return
        self.update("reservas", (k * 7919) % self.n, at=now, data_modificacao=rows.day(now))
