"""The Organizer MCP server: the warehouse as read-only tools and the KPI definitions as resources.

Built on the SDK's high-level `MCPServer` (FastMCP's successor inside the official `mcp` package) rather than
the low-level `Server`: it derives each tool's input JSON Schema from the typed signature and validates calls
against it (ranges, required fields) before our code runs, derives the output schema and `structuredContent`
from the returned pydantic model, and turns a `ToolError` into an `isError` result with our one-line
message. With the low-level server we would hand-write and hand-check all three.

Every call and resource read is audited by `AuditTrail` (SDK middleware, so calls rejected before a tool
runs — unknown tool, invalid arguments — are audited too).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
import sqlalchemy as sa
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resources import FunctionResource
from mcp_types import ToolAnnotations
from pydantic import Field
from sqlalchemy.engine import Connection, Engine

from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.kpi.views import VIEWS, KpiView
from organizer_pipeline.mcp import periods, readonly, tools
from organizer_pipeline.mcp.readonly import ROW_CAP, ReadOnlyDb, read_only
from organizer_pipeline.ops.audit import audit
from organizer_pipeline.privacy import redact
from organizer_pipeline.resources.http import ApiError

T = TypeVar("T")
EngineSource = Callable[[], Engine]

INSTRUCTIONS = f"""\
Dados do negócio (vendas imobiliárias do CVCRM e vendas de produtos digitais da Hotmart), somente leitura.
- Números de vendas, VGV, ticket médio, comissões e VSO vêm das mesmas views do dashboard (schema kpi).
- `period` aceita: {periods.FORMS}. Sempre em meses inteiros; a resposta diz as datas exatas usadas.
- `empreendimento` aceita o id ou o nome exato (sem diferenciar maiúsculas e acentos).
- Para qualquer outra pergunta, veja as views com kpi_views e consulte com kpi_query; as fórmulas estão
  nos recursos kpi://views/<view>.
- Dados pessoais de compradores (nome, e-mail, telefone, documento) vêm mascarados.
"""

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
SEARCH = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)

Period = Annotated[
    str,
    Field(
        min_length=4,
        max_length=40,
        description=f"Período em meses inteiros: {periods.FORMS}. Ex.: '2025-10', '2025-Q4', 'trimestre_atual'.",
    ),
]
ProjectRef = Annotated[
    int | str | None,
    Field(
        description="Empreendimento: id (idempreendimento) ou nome exato. Vazio = todos os empreendimentos."
    ),
]


def _database_message(error: sa.exc.DBAPIError) -> str:
    code = getattr(error.orig, "pgcode", None)
    if code == "57014":  # query_canceled: the statement timeout
        limit = readonly.STATEMENT_TIMEOUT_MS / 1000
        return f"a consulta passou do limite de {limit:g} s; restrinja o período ou o filtro"
    if code == "25006":  # read_only_sql_transaction
        return "escrita recusada: as ferramentas MCP são somente leitura"
    lines = str(error.orig or error).strip().splitlines()
    return f"banco de dados indisponível: {redact(lines[0] if lines else type(error).__name__)}"


def _guarded(work: Callable[[], T]) -> T:
    """Run a tool body; every failure we can explain becomes a one-line ToolError (never a traceback)."""
    try:
        return work()
    except (tools.ToolFailure, OrganizerError) as error:
        raise ToolError(str(error)) from None
    except ApiError as error:
        raise ToolError(f"OpenRouter não respondeu à busca: {redact(str(error))}") from None
    except sa.exc.DBAPIError as error:
        raise ToolError(_database_message(error)) from None


def _arguments_hash(arguments: Any) -> str:
    text = json.dumps(arguments, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _row_count(tool: str, result: Any) -> int:
    if not isinstance(result, dict) or result.get("isError"):
        return 0
    structured = result.get("structuredContent")
    field = tools.ROW_FIELDS.get(tool)
    if isinstance(structured, dict) and field and isinstance(structured.get(field), list):
        return len(structured[field])
    return 1


def _error_kind(action: str, text: str) -> str:
    """What went wrong, without the message: messages quote the caller's values (a transaction code…)."""
    if action == "mcp.unknown_tool":
        return "unknown_tool"
    return "invalid_arguments" if "validation error" in text else "tool_error"


class AuditTrail:
    """SDK middleware: one ops.audit_log line per tools/call and resources/read, whatever the outcome.

    The line holds the tool name, a SHA-256 of the arguments (never the arguments: perfis_buscar's text or a
    transaction code may identify a person), the number of rows answered, ok or the kind of error, and the
    duration."""

    def __init__(self, engine: EngineSource, transport: str, tool_names: set[str]):
        self.engine, self.transport, self.tool_names = engine, transport, tool_names

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        if ctx.method not in ("tools/call", "resources/read"):
            return await call_next(ctx)
        params = dict(ctx.params or {})
        if ctx.method == "tools/call":
            name = str(params.get("name", ""))
            action = f"mcp.{name}" if name in self.tool_names else "mcp.unknown_tool"
            arguments = params.get("arguments") or {}
        else:
            name, action, arguments = str(params.get("uri", "")), "mcp.resource", {"uri": params.get("uri")}
        started = time.perf_counter()
        result: Any = None
        error: str | None = None
        try:
            result = await call_next(ctx)
            return result
        except Exception as exc:  # a protocol-level failure: audited, then re-raised to the SDK
            error = f"protocol:{type(exc).__name__}"
            raise
        finally:
            if error is None and isinstance(result, dict) and result.get("isError"):
                error = _error_kind(action, str((result.get("content") or [{}])[0].get("text", "")))
            detail = {
                "tool": name[:80],
                "args_sha256": _arguments_hash(arguments),
                "rows": _row_count(name, result) if error is None else 0,
                "ok": error is None,
                "error": error,
                "transport": self.transport,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            }
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(
                    lambda: audit(self.engine(), f"mcp:{self.transport}", action, name[:80], detail)
                )


VALIDATION_HEADER = re.compile(r"^\d+ validation errors? for \w+$")


def one_line_validation_error(text: str) -> str:
    """pydantic's multi-line report as one line naming each argument and its rule (never the value sent)."""
    prefix, _, report = text.partition(": ")
    lines = report.splitlines()
    if not lines or not VALIDATION_HEADER.match(lines[0].strip()):
        return text
    problems, field = [], ""
    for line in lines[1:]:
        if not line.startswith(" "):
            field = line.strip()
        elif not line.strip().startswith("For further information"):
            problems.append(f"{field}: {line.strip().split(' [type=')[0]}")
    return f"{prefix}: argumento inválido: {'; '.join(problems)}" if problems else text


class OneLineErrors:
    """SDK middleware: a tool call rejected by its input schema answers one line, like our own errors."""

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        result = await call_next(ctx)
        if ctx.method == "tools/call" and isinstance(result, dict) and result.get("isError"):
            for block in result.get("content") or []:
                if block.get("type") == "text":
                    block["text"] = one_line_validation_error(block["text"])
        return result


def describe_view(engine: EngineSource, view: KpiView) -> str:
    """Markdown a model can cite: the registry's definition, the COMMENT and columns in the database, the SQL."""
    lines = [f"# {view.qualified}", "", view.description, ""]
    if view.formula:
        lines += ["## Fórmula", "", view.formula, ""]
    try:
        with read_only(engine()) as conn:
            comment, columns = _catalog(conn, view)
    except (sa.exc.SQLAlchemyError, OrganizerError):
        comment, columns = None, []
        lines += ["(banco indisponível agora: colunas e COMMENT omitidos)", ""]
    if comment and comment.strip() not in (view.description.strip(), view.comment):
        lines += ["## COMMENT no banco", "", comment, ""]
    if columns:
        lines += ["## Colunas", "", "| coluna | tipo |", "| --- | --- |"]
        lines += [f"| {name} | {kind} |" for name, kind in columns] + [""]
    elif comment is None:
        lines += ["(ainda não criada no banco: organizer kpi refresh)", ""]
    lines += [
        "## Como consultar",
        "",
        f"- tipo: {'materialized view' if view.materialized else 'view'}"
        + (f", chave única ({', '.join(view.unique_key)})" if view.unique_key else ""),
        f"- período (de/ate): {view.period_column or 'não tem'}",
        f"- empreendimento: {view.project_column or 'não se aplica'}",
        f"- ordem estável: {', '.join(view.order_by)}",
        f"- ferramenta: kpi_query(view='{view.name}', ...) ou GET /api/kpis/{view.name}",
        "",
        "## Definição (SQL)",
        "",
        "```sql",
        view.sql,
        "```",
    ]
    return "\n".join(lines)


def _catalog(conn: Connection, view: KpiView) -> tuple[str | None, list[tuple[str, str]]]:
    from organizer_pipeline.kpi.build import TAG

    comment = conn.execute(
        sa.text("SELECT obj_description(to_regclass(:name), 'pg_class')"), {"name": view.qualified}
    ).scalar()
    columns = conn.execute(
        sa.text(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = to_regclass(:name) AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        ),
        {"name": view.qualified},
    ).all()
    return (TAG.sub("", comment).strip() if comment else None), [(row[0], row[1]) for row in columns]


def _index() -> str:
    lines = ["# Views de KPI (schema kpi)", ""]
    lines += [f"- {tools.RESOURCE_PREFIX}{view.name}: {view.description}" for view in VIEWS]
    return "\n".join(lines)


def build_server(engine: EngineSource, transport: str) -> MCPServer:
    """`engine` is called on each use (the web app resolves its database lazily); `transport` goes into the
    audit actor (`mcp:stdio`, `mcp:http`)."""
    server = MCPServer("organizer", instructions=INSTRUCTIONS, version="1")
    names: set[str] = set()

    def tool(
        annotations: ToolAnnotations, description: str
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def register(fn: Callable[..., T]) -> Callable[..., T]:
            names.add(fn.__name__)
            return server.tool(annotations=annotations, description=description)(fn)

        return register

    def borrow(work: Callable[[ReadOnlyDb], T], *, cost_accounting: bool = False) -> T:
        def run() -> T:
            current = engine()
            with ReadOnlyDb(current, writer=current if cost_accounting else None) as db:
                return work(db)

        return _guarded(run)

    def read(work: Callable[[Connection], T]) -> T:
        return borrow(lambda db: work(db.connection()))

    @tool(
        annotations=READ_ONLY,
        description="Lista as views de KPI (vendas, comissões, VSO, estoque, receita Hotmart…): descrição, "
        "colunas, filtros aceitos e coluna de período. Use antes de kpi_query.",
    )
    def kpi_views() -> tools.KpiViews:
        return read(tools.kpi_views)

    @tool(
        annotations=READ_ONLY,
        description="Uma página de uma view de KPI, com os mesmos filtros e linhas da API de BI "
        "(GET /api/kpis/<view>). Para mais linhas, chame de novo com offset = next_offset. "
        "Erros de filtro explicam o que é aceito.",
    )
    def kpi_query(
        view: Annotated[
            str, Field(max_length=80, description="Nome da view, ex. 'vendas_mensal' (veja kpi_views).")
        ],
        de: Annotated[
            str | None, Field(max_length=10, description="Primeiro dia, YYYY-MM-DD ou YYYY-MM (inclusivo).")
        ] = None,
        ate: Annotated[
            str | None,
            Field(
                max_length=10, description="Último dia, YYYY-MM-DD ou YYYY-MM (um mês = até seu último dia)."
            ),
        ] = None,
        empreendimento: Annotated[
            int | None, Field(ge=0, description="idempreendimento (só em views por empreendimento).")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=ROW_CAP, description=f"Linhas por página, 1..{ROW_CAP}.")] = 100,
        offset: Annotated[int, Field(ge=0, description="Linhas a pular (paginação).")] = 0,
    ) -> tools.KpiPage:
        return read(lambda conn: tools.kpi_query(conn, view, de, ate, empreendimento, limit, offset))

    @tool(
        annotations=READ_ONLY,
        description="Resumo de vendas imobiliárias (CVCRM) de um período: quantidade de vendas, VGV "
        "(soma do valor de contrato), ticket médio, vendas por mês e comparação com o período anterior de "
        "mesma duração. Opcionalmente de um empreendimento.",
    )
    def vendas_resumo(period: Period, empreendimento: ProjectRef = None) -> tools.SalesSummary:
        return read(lambda conn: tools.vendas_resumo(conn, period, empreendimento))

    @tool(
        annotations=READ_ONLY,
        description="Ranking dos corretores por comissão (comissões ativas das vendas do período): "
        "comissão total e número de vendas. Empates dividem a posição.",
    )
    def top_corretores(
        period: Period,
        n: Annotated[int, Field(ge=1, le=100, description="Quantos corretores, 1..100.")] = 5,
    ) -> tools.TopBrokers:
        return read(lambda conn: tools.top_corretores(conn, period, n))

    @tool(
        annotations=READ_ONLY,
        description="VSO (vendas sobre oferta) dos últimos meses com dados: série mensal e o VSO do "
        "período = (vendidas − distratos) / (estoque no início + lançamentos). De um empreendimento ou de "
        "todos. A fórmula completa está no recurso kpi://views/vso_mensal.",
    )
    def vso(
        empreendimento: ProjectRef = None,
        months: Annotated[
            int, Field(ge=1, le=60, description="Quantos meses, 1..60, até o último com dados.")
        ] = 12,
    ) -> tools.VsoAnswer:
        return read(lambda conn: tools.vso(conn, empreendimento, months))

    @tool(
        annotations=READ_ONLY,
        description="Receita Hotmart de um período: vendas aprovadas, receita bruta, receita líquida do "
        "produtor, reembolsos/chargebacks e taxa de reembolso, por moeda (moedas nunca são somadas) e por "
        "produto. Opcionalmente de um produto (id ou nome exato).",
    )
    def hotmart_receita(
        period: Period,
        produto: Annotated[
            int | str | None, Field(description="Produto Hotmart: product_id ou nome exato. Vazio = todos.")
        ] = None,
    ) -> tools.HotmartRevenue:
        return read(lambda conn: tools.hotmart_receita(conn, period, produto))

    @tool(
        annotations=READ_ONLY,
        description="Uma venda Hotmart pelo código da transação: status atual, se é final, próximos status "
        "possíveis e o histórico de status como a máquina de estados aplicou cada evento (eventos "
        "atrasados ou duplicados aparecem com applied=false).",
    )
    def hotmart_venda(
        transaction: Annotated[
            str,
            Field(min_length=1, max_length=64, description="Código da transação Hotmart, ex. HP0123456789."),
        ],
    ) -> tools.HotmartSale:
        return read(lambda conn: tools.hotmart_venda(conn, transaction))

    @tool(
        annotations=SEARCH,
        description="Busca semântica nos perfis de compradores gerados por IA (pgvector): os n perfis mais "
        "parecidos com um texto, ex. 'pediu reembolso do curso', com segmento, intenção de compra, risco "
        "de churn, resumo e distância (0 = idêntico). E-mails vêm mascarados.",
    )
    def perfis_buscar(
        texto: Annotated[
            str, Field(min_length=1, max_length=500, description="O que procurar, em linguagem natural.")
        ],
        n: Annotated[int, Field(ge=1, le=50, description="Quantos perfis, 1..50.")] = 10,
    ) -> tools.ProfileSearch:
        return borrow(lambda db: tools.perfis_buscar(db, texto, n), cost_accounting=True)

    @tool(
        annotations=READ_ONLY,
        description="Saúde do sistema: o último resultado do job db_health (conexão, migrações, tamanho, "
        "inbox, CVDW), o backlog do inbox de webhooks Hotmart e a atualidade do CVDW medidos agora.",
    )
    def saude() -> tools.Health:
        return borrow(tools.saude)

    server.add_resource(
        FunctionResource.from_function(
            fn=_index,
            uri=tools.RESOURCE_PREFIX.rstrip("/"),
            name="kpi_views",
            mime_type="text/markdown",
            description="Índice das views de KPI e seus recursos.",
        )
    )
    for view in VIEWS:  # from the registry: a view added there is a resource here, with no change
        server.add_resource(
            FunctionResource.from_function(
                fn=lambda view=view: describe_view(engine, view),
                uri=f"{tools.RESOURCE_PREFIX}{view.name}",
                name=view.name,
                title=view.qualified,
                description=view.description,
                mime_type="text/markdown",
            )
        )
    server.middleware.extend([OneLineErrors(), AuditTrail(engine, transport, names)])  # outermost first
    return server
