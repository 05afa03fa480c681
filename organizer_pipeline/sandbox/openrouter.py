"""Simulator of the OpenRouter API (contracts/openrouter.md § C): chat completions that answer valid JSON
for the requested schema, deterministic embeddings (similar words -> near vectors), `usage` with tokens and
cost, the served `model`, and faults on demand.

Knobs: `latency` (s per call), `api_key` (None: any bearer accepted), `chat_faults` / `embedding_faults`
(queues consumed by successive calls: "429", "500", "502", "503", "error_in_200", "invalid_json",
"schema_violation", "402", and "timeout": the answer is produced — and billed — but only sent after
`stall_seconds`, so a client with a shorter timeout loses it), `down_models` (502 for those, with OpenRouter's
own fallback through `models`), `slow_models` ({model: seconds}), `cost_per_call` (USD),
`embedding_dimensions` (width forced whatever is asked). `app.state.sim` exposes what was called and
`billed` (generations and embeddings produced, whether or not the client got the answer)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

WORD_RE = re.compile(r"\w+", re.UNICODE)
STATUS_WORDS = {
    "PURCHASE_REFUNDED": "reembolso solicitado",
    "PURCHASE_CHARGEBACK": "chargeback contestado",
    "PURCHASE_OUT_OF_SHOPPING_CART": "carrinho abandonado",
    "SUBSCRIPTION_CANCELLATION": "assinatura cancelada",
    "PURCHASE_APPROVED": "compra aprovada",
    "PURCHASE_COMPLETE": "compra concluída",
}


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def hashed_embedding(text: str, dimensions: int) -> list[float]:
    """Bag of words hashed into `dimensions` signed buckets, unit length: texts sharing words are close."""
    vector = [0.0] * dimensions
    for word in WORD_RE.findall(text.lower()):
        bucket = _stable_int(word)
        vector[bucket % dimensions] += 1.0 if (bucket >> 32) & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    if norm == 1.0 and not any(vector):
        vector[0] = 1.0
    return [x / norm for x in vector]


def _facts(prompt: str) -> dict[str, Any]:
    start = prompt.find("{")
    try:
        found = json.loads(prompt[start:]) if start >= 0 else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _summary(facts: dict[str, Any]) -> str:
    products = ", ".join(str(p) for p in facts.get("products") or []) or "nenhum produto"
    status = STATUS_WORDS.get(str(facts.get("last_event")), "contato ativo")
    return f"Cliente com {status}; produtos: {products}."


def answer_for(
    schema: dict[str, Any], prompt: str, root: dict[str, Any] | None = None, name: str = ""
) -> Any:
    """A deterministic value that satisfies `schema` (object/array/enum/string/number/boolean, $ref)."""
    root = root or schema
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return answer_for(target, prompt, root, name)
    if "enum" in schema:
        return schema["enum"][_stable_int(prompt + name) % len(schema["enum"])]
    kind = schema.get("type")
    if kind == "object":
        return {
            key: answer_for(sub, prompt, root, key) for key, sub in (schema.get("properties") or {}).items()
        }
    if kind == "array":
        facts = _facts(prompt)
        items = [str(p) for p in facts.get("products") or []][:3] or ["educação", "finanças"]
        return items if (schema.get("items") or {}).get("type") == "string" else []
    if kind in ("integer", "number"):
        return _stable_int(prompt + name) % 100
    if kind == "boolean":
        return bool(_stable_int(prompt + name) % 2)
    if "summary" in name or "resumo" in name:
        return _summary(_facts(prompt))[: schema.get("maxLength", 400)]
    facts = _facts(prompt)
    return str((facts.get("products") or ["Mentoria avançada"])[-1])


@dataclass
class OpenRouterState:
    latency: float = 0.0
    api_key: str | None = None
    chat_faults: list[str] = field(default_factory=list)
    embedding_faults: list[str] = field(default_factory=list)
    down_models: set[str] = field(default_factory=set)
    slow_models: dict[str, float] = field(default_factory=dict)
    cost_per_call: float = 0.0004
    embedding_dimensions: int | None = None  # a model that ignores the `dimensions` field
    stall_seconds: float = 2.0
    billed: dict[str, int] = field(default_factory=lambda: {"chat/completions": 0, "embeddings": 0})
    calls: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0

    def next_fault(self, queue: list[str]) -> str | None:
        with self.lock:
            self.counter += 1
            return queue.pop(0) if queue else None


def _error(
    code: int, message: str, status: int | None = None, retry_after: str | None = None
) -> JSONResponse:
    headers = {"Retry-After": retry_after} if retry_after else None
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status or code, headers=headers
    )


def _fault_response(fault: str | None) -> Response | None:
    if fault is None or fault in ("invalid_json", "schema_violation", "timeout"):
        return None
    if fault == "error_in_200":
        return _error(502, "Upstream provider returned an invalid response", status=200)
    code = int(fault)
    return _error(
        code,
        {402: "Insufficient credits", 429: "Rate limit exceeded"}.get(code, "Provider error"),
        retry_after="0" if code in (429, 503) else None,
    )


def _usage(sim: OpenRouterState, prompt: str, completion: str) -> dict[str, Any]:
    prompt_tokens, completion_tokens = len(prompt) // 4 + 1, len(completion) // 4 + 1
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "cost": sim.cost_per_call,
    }


def create_app(**knobs: Any) -> Starlette:
    sim = OpenRouterState(**knobs)

    def authorized(request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and bool(token) and (sim.api_key is None or token == sim.api_key)

    async def received(request: Request, path: str, latency: float) -> dict[str, Any] | Response:
        """Authenticate, record and delay one call: its JSON body, or the error to answer."""
        if not authorized(request):
            return _error(401, "No auth credentials found")
        body = await request.json()
        sim.calls.append({"path": path, "body": body})
        if latency:
            await asyncio.sleep(latency)
        return body

    async def billed(fault: str | None, path: str) -> None:
        """The work is done and paid for; a "timeout" fault then holds the answer past the client's patience."""
        with sim.lock:
            sim.billed[path] += 1
        if fault == "timeout":
            await asyncio.sleep(sim.stall_seconds)

    async def chat(request: Request) -> Response:
        body = await received(request, "chat/completions", sim.latency)
        if isinstance(body, Response):
            return body
        fault = sim.next_fault(sim.chat_faults)
        if (response := _fault_response(fault)) is not None:
            return response
        candidates = body.get("models") or [body.get("model")]
        served = next((m for m in candidates if m not in sim.down_models), None)
        if served is None:
            return _error(502, f"{candidates[-1]} is down")
        if served in sim.slow_models:
            await asyncio.sleep(sim.slow_models[served])
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages") or [])
        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema") or {
            "type": "object"
        }
        answer = answer_for(schema, prompt)
        if fault == "schema_violation" and isinstance(answer, dict):
            answer = {key: 12345 for key in answer}
        content = json.dumps(answer, ensure_ascii=False)
        if fault == "invalid_json":
            content = content[: len(content) // 2]
        generation = f"gen-{sim.counter:08d}"
        await billed(fault, "chat/completions")
        return JSONResponse(
            {
                "id": generation,
                "object": "chat.completion",
                "created": 1745952631,
                "model": served,
                "provider": "Sandbox",
                "choices": [
                    {
                        "finish_reason": "stop",
                        "native_finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                "usage": _usage(sim, prompt, content),
            }
        )

    async def embeddings(request: Request) -> Response:
        body = await received(request, "embeddings", sim.latency / 4)
        if isinstance(body, Response):
            return body
        fault = sim.next_fault(sim.embedding_faults)
        if (response := _fault_response(fault)) is not None:
            return response
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not body.get("model") or not isinstance(texts, list):
            return _error(400, "model and input are required")
        dimensions = sim.embedding_dimensions or int(body.get("dimensions") or 1536)
        await billed(fault, "embeddings")
        return JSONResponse(
            {
                "id": f"embd-{sim.counter:08d}",
                "object": "list",
                "model": body["model"],
                "data": [
                    {"object": "embedding", "index": i, "embedding": hashed_embedding(str(t), dimensions)}
                    for i, t in enumerate(texts)
                ],
                "usage": {
                    "prompt_tokens": sum(len(str(t)) // 4 + 1 for t in texts),
                    "total_tokens": 0,
                    "cost": sim.cost_per_call / 20,
                },
            }
        )

    app = Starlette(
        routes=[
            Route("/api/v1/chat/completions", chat, methods=["POST"]),
            Route("/api/v1/embeddings", embeddings, methods=["POST"]),
        ]
    )
    app.state.sim = sim
    return app
