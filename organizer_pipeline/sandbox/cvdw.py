"""A CVDW simulator that follows shared/contracts/cvdw.md: the envelope, `pagina`/`registros_por_pagina`
(default 30, max 500), date-window filters sent as query string or JSON body, rows sorted by
`referencia_data`, the real field names, the real error bodies — and fault knobs.

Two generated, deterministic data sets, whose rows are built on demand by sandbox/cvdw_rows.py:
- `Dataset` (tests, benchmarks): uniform — row i of an endpoint is a formula of i, so 100k full reservas
  cost no memory. 4 empreendimentos with hundreds of unidades; reservas that become sales, distratos (with a
  /distratos row and an inactive commission) or stay reserved; some rows `ativo='N'`.
- `Company` (sandbox/cvdw_company.py, what `organizer up` serves): a realistic incorporadora over 24 months.
Tests change rows with `update`, which moves the row's `referencia_data` like the real API does.

Knobs (`create_app(**knobs)`): n_reservas, start ("YYYY-MM-DD"), days, company, email, token; faults counted per
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

from organizer_pipeline.sandbox import cvdw_rows as rows

DATE_PARAM = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$")
TOO_MANY = json.dumps({"Response": "Too many requests"}, indent=3)
EMPREENDIMENTOS = (
    rows.Project(589, "Retiro Teixeira", "Sul", "Vertical"),
    rows.Project(1186, "Residencial Exemplo", "Nordeste", "Horizontal"),
    rows.Project(1203, "Varandas do Parque", "Sul", "Vertical"),
    rows.Project(1250, "Jardim das Águas", "Sudeste", "Vertical"),
)
TIPOLOGIAS = ("2 quartos", "3 quartos com suíte", "3 suítes com terraço gourmet", "Studio")
CORRETORES = (
    rows.Broker(274, "CORRETOR QC", 274, "IMOBILIÁRIA QC"),
    rows.Broker(301, "ANA CORRETORA", 12, "Lar & Cia Ltda"),
)


class Rows:
    """Every endpoint as (count, referencia_data(i), row(i)), rows sorted by referencia_data; `update`
    overrides single rows. Subclasses fill `endpoints`."""

    def __init__(self) -> None:
        self.overrides: dict[str, dict[int, tuple[str, dict[str, Any]]]] = {}
        self.lock = threading.Lock()
        self.endpoints: dict[str, tuple[Callable[[], int], Callable[[int], str], Callable[[int], dict]]] = {}
        self.n = 0  # reservas

    def update(self, endpoint: str, index: int, at: datetime | None = None, **changes: Any) -> dict[str, Any]:
        """Change row `index` like CV would: new values and a new `referencia_data` (default: now)."""
        when = (at or datetime.now().replace(microsecond=0)).strftime(rows.TS)
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

    def live_change(self, k: int) -> None:
        """The k-th edit of a live simulator: reserva (k × 7919) mod n is cancelled and deactivated."""
        self.update("reservas", (k * 7919) % self.n, ativo="N", situacao="Cancelada", idsituacao=14)


class Dataset(Rows):
    """The uniform data set of tests and benchmarks: `n_reservas` spread evenly over `days` from `start`,
    4 empreendimentos × `units_per_project` units; reserva i is sold (60 %), a distrato (10 %, with a
    /distratos row and an inactive commission) or stays reserved (30 %). Everything is a formula of the
    row index, so 100k reservas cost no memory."""

    def __init__(
        self, n_reservas: int = 600, start: str = "2023-10-01", days: int = 240, units_per_project: int = 120
    ):
        super().__init__()
        self.n = n_reservas
        self.start = datetime.strptime(start, "%Y-%m-%d")
        self.step = timedelta(days=days) / max(n_reservas, 1)
        self.n_units = units_per_project * len(EMPREENDIMENTOS)
        self.unit_step = timedelta(days=days) / max(self.n_units, 1)
        self.endpoints = {
            "reservas": (lambda: self.n, self._reserva_date, self.reserva),
            "reservas/condicoes": (lambda: 2 * self.n, lambda j: self._reserva_date(j // 2), self.condicao),
            "comissoes": (
                lambda: self.n,
                lambda k: rows.ts(self._reserva_at(k) + timedelta(hours=1)),
                self.comissao,
            ),
            "unidades": (lambda: self.n_units, self._unit_date, self.unidade),
            "distratos": (lambda: (self.n + 2) // 10, self._distrato_date, self.distrato),
            "repasses": (lambda: (self.n + 9) // 10, self._repasse_date, self.repasse),
            "atendimentos": (lambda: self.n // 3, lambda k: self._reserva_date(3 * k), self.atendimento),
        }

    # -- dates ---------------------------------------------------------------------------------------
    def _reserva_at(self, i: int) -> datetime:
        return (self.start + self.step * i).replace(microsecond=0)

    def _reserva_date(self, i: int) -> str:
        return rows.ts(self._reserva_at(i))

    def _distrato_date(self, k: int) -> str:
        return rows.ts(self._reserva_at(10 * k + 7) + timedelta(days=5))

    def _repasse_date(self, k: int) -> str:
        return rows.ts(self._reserva_at(10 * k) + timedelta(days=20))

    def _unit_at(self, u: int) -> datetime:
        return (self.start + self.unit_step * u).replace(microsecond=0)

    def _unit_date(self, u: int) -> str:
        return rows.ts(self._unit_at(u))

    # -- business facts ------------------------------------------------------------------------------
    @staticmethod
    def state(i: int) -> str:
        """vendida (60 %), distrato (10 %), reservada (30 %)."""
        return "distrato" if i % 10 == 7 else "vendida" if i % 10 < 6 else "reservada"

    def _valor(self, i: int) -> float:
        return rows.money(180000 + (i * 7919) % 420000 + (i % 100) / 4)

    def _unit_of(self, i: int) -> int:
        return (i * 31) % self.n_units

    def unit(self, u: int) -> rows.Unit:
        project = EMPREENDIMENTOS[u % len(EMPREENDIMENTOS)]
        return rows.Unit(
            id=5000 + u, project=project, etapa="Etapa 1", idetapa=project.id * 10, bloco=f"Bloco {u % 6 + 1:02d}",
            idbloco=project.id * 100 + u % 6, nome=str(100 + u), andar=u % 15, coluna=u % 8,
            tipologia=TIPOLOGIAS[u % len(TIPOLOGIAS)], area=45 + (u % 4) * 18, valor=250000 + (u % 7) * 15000,
            vagas=1 + u % 2,
        )  # fmt: skip

    def deal(self, i: int) -> rows.Deal:
        state, at, valor = self.state(i), self._reserva_at(i), self._valor(i)
        return rows.Deal(
            id=10000 + i, unit=self.unit(self._unit_of(i)), broker=CORRETORES[i % 2], client=30000 + i,
            created=at - timedelta(days=2), sold=at if state != "reservada" else None,
            cancelled=at + timedelta(days=5) if state == "distrato" else None, valor=valor,
            financiamento=valor * 0.7, fgts=valor * 0.02, ativo="N" if i % 50 == 13 else "S",
        )  # fmt: skip

    # -- rows ----------------------------------------------------------------------------------------
    def reserva(self, i: int) -> dict[str, Any]:
        return rows.reserva(self.deal(i), self._reserva_at(i))

    def condicao(self, j: int) -> dict[str, Any]:
        i, at = j // 2, self._reserva_at(j // 2)
        deal = self.deal(i)
        if j % 2 == 0:
            return rows.condicao(20000 + j, deal, "Ato", 1, deal.valor * 0.1, at.date(), at)
        return rows.condicao(20000 + j, deal, "Financiamento", 360, deal.valor * 0.9, at.date(), at)

    def comissao(self, k: int) -> dict[str, Any]:
        deal, at = self.deal(k), self._reserva_at(k)
        paid = deal.state == "vendida"
        situacao = ("Liberada", 2) if paid else ("Comissão Gerada (1)", 1)
        pct = 4 if deal.state != "reservada" else 0
        return rows.comissao(40000 + k, deal, at + timedelta(hours=1), pct, situacao, at if paid else None)

    def distrato(self, k: int) -> dict[str, Any]:
        return rows.distrato(self.deal(10 * k + 7))

    def repasse(self, k: int) -> dict[str, Any]:
        done = self._reserva_at(10 * k) + timedelta(days=20)
        return rows.repasse(
            60000 + k, self.deal(10 * k), done, "Contrato Registrado", "Caixa Econômica Federal", done
        )

    def atendimento(self, k: int) -> dict[str, Any]:
        at = self._reserva_at(3 * k)
        return rows.atendimento(70000 + k, self.deal(3 * k), at, "Assistência técnica", at if k % 4 else None)

    def unidade(self, u: int) -> dict[str, Any]:
        sales = (
            range(u * pow(31, -1, self.n_units) % self.n_units, self.n, self.n_units) if self.n else range(0)
        )
        last = self.state(sales[-1]) if sales else None
        mapa = 4 if u % 37 == 0 else {"vendida": 3, "reservada": 2}.get(last or "", 1)
        return rows.unidade(self.unit(u), self._unit_at(u), mapa, 10000 + sales[-1] if sales else None)


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
    def __init__(self, dataset: Rows, faults: Faults, email: str, token: str, cache_pages: bool = False):
        self.dataset, self.faults = dataset, faults
        self.email, self.token = email, token
        # Benchmarks: serve each rendered page from memory after its first request, so the simulator's
        # own row generation never limits what is measured on the client side.
        self.cache: dict[tuple, bytes | None] | None = {} if cache_pages else None
        self.requests = 0  # authenticated data requests, the fault counter
        # (start, end, path) of the latest requests, monotonic clock; bounded for long-running demos
        self.calls: deque[tuple[float, float, str]] = deque(maxlen=100_000)
        self.recent: deque[float] = deque()
        self.lock = threading.Lock()
        self.last_change = time.monotonic()
        self.changes = 0

    def live_change(self) -> None:
        """Like people using CV: every `live_changes_every` seconds the data set changes a row (its
        referencia_data moves to now), which is what the change sensor and the 4-hourly runs pick up."""
        every = self.faults.live_changes_every
        if every <= 0 or time.monotonic() - self.last_change < every or not self.dataset.n:
            return
        self.last_change = time.monotonic()
        self.dataset.live_change(self.changes)
        self.changes += 1

    async def serve(self, request: Request) -> Response:
        """The route: `handle`, timed (tests check that callers never overlap and keep the rate)."""
        started = time.monotonic()
        try:
            return await self.handle(request)
        finally:
            with self.lock:
                self.calls.append((started, time.monotonic(), request.path_params["path"]))

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
    company: bool = False,
    **faults: Any,
) -> Starlette:
    """The simulator as an ASGI app; `app.state.simulator` gives tests the data set and counters.
    `start` unset: the data set ends today (what `organizer up` serves, so the schedule finds rows).
    `company`: the sandbox company (sandbox/cvdw_company.py) instead of the uniform data set."""
    if start is None:
        start = first_day_of_last(days)
    if company:
        from organizer_pipeline.sandbox.cvdw_company import Company

        dataset: Rows = Company(n_reservas, start, days)
    else:
        dataset = Dataset(n_reservas, start, days)
    simulator = Simulator(dataset, Faults(**faults), email, token, cache_pages)
    app = Starlette(
        routes=[
            Route(
                "/api/v1/cvdw/{path:path}",
                simulator.serve,
                methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            )
        ]
    )
    app.state.simulator = simulator
    return app


DEMO_DAYS = 730  # the sandbox company's history: the last 24 months


def first_day_of_last(days: int) -> str:
    """The first day of a data set of `days` days that ends today."""
    return (datetime.now() - timedelta(days=days - 1)).strftime("%Y-%m-%d")


def create_demo_app() -> Starlette:
    """What `organizer up` serves without credentials: the sandbox company over the 24 months ending today,
    with one live change per minute (a reserva approved as a sale, then edits)."""
    return create_app(n_reservas=1500, days=DEMO_DAYS, company=True, live_changes_every=60.0)


def main(argv: list[str] | None = None) -> None:
    """`python -m organizer_pipeline.sandbox.cvdw --port P --reservas N [--days D] [--cache-pages] [--company]
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
    parser.add_argument(
        "--company", action="store_true", help="the sandbox company, not the uniform data set"
    )
    parser.add_argument("--rate-limit", type=int, default=0, help="requests per --rate-window (0: no limit)")
    parser.add_argument("--rate-window", type=float, default=60.0, help="seconds")
    args = parser.parse_args(argv)
    app = create_app(
        n_reservas=args.reservas,
        start=args.start,
        days=args.days,
        cache_pages=args.cache_pages,
        company=args.company,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
    )
    serve_forever(app, args.host, args.port)


if __name__ == "__main__":
    main()
