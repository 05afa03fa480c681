"""AI buyer profiles: which contacts need one, the facts sent to the LLM (never documents, phones or
e-mails), the answer's schema and its validation with one repair attempt."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROMPT_VERSION = "profile-v1"
HISTORY_LIMIT = 50  # most recent events per contact sent to the model

Segment = Literal[
    "comprador_recorrente",
    "comprador_unico",
    "assinante",
    "reembolsado",
    "carrinho_abandonado",
    "assinatura_cancelada",
    "lead",
]
Level = Literal["baixa", "media", "alta"]


class ContactProfile(BaseModel):
    """The answer we ask for; its JSON schema is sent as `response_format` and the answer validated
    against it, so the two cannot drift."""

    model_config = ConfigDict(extra="forbid")

    segment: Segment
    interests: list[str] = Field(max_length=10)
    purchase_intent: Level
    churn_risk: Level
    suggested_next_product: str = Field(max_length=200)
    summary_pt_br: str = Field(min_length=1, max_length=600)


def response_format() -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "contact_profile",
            "strict": True,
            "schema": ContactProfile.model_json_schema(),
        },
    }


SYSTEM_PROMPT = (
    "Você é analista de CRM de uma empresa brasileira de produtos digitais. A partir do histórico de compras, "
    "assinaturas e acessos de um cliente, devolva SOMENTE um JSON no schema pedido: segmento, interesses, "
    "intenção de compra, risco de churn, próximo produto sugerido e um resumo curto em português do Brasil. "
    "Não invente dados pessoais."
)


class ProfileInvalid(ValueError):
    """The model's answer is not JSON or does not follow the schema."""


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# Whitelisted keys of the contact's jsonb summaries (hotmart.contacts.products/subscription/club/cart): only
# behaviour reaches the model, never an identifier such as a subscriber code.
PRODUCT_KEYS = ("name", "paid", "statuses")
SUBSCRIPTION_KEYS = ("status", "plan", "product", "next_charge_at", "last_event", "cancelled")
CLUB_KEYS = ("first_access_at", "products", "modules_completed")
CART_KEYS = ("abandoned_at", "product", "abandonments", "recovered")


def _pick(value: Any, keys: tuple[str, ...]) -> dict[str, Any] | None:
    return {key: _plain(value.get(key)) for key in keys if key in value} if isinstance(value, dict) else None


def contact_facts(contact: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """What the model may see about a contact: behaviour and place, never identifiers (name, e-mail,
    phone, CPF/CNPJ, subscriber code). Keys are fixed so the prompt is stable."""
    products = contact.get("products") or []
    names = [p.get("name") if isinstance(p, dict) else p for p in products]
    return {
        "purchases": [_pick(p, PRODUCT_KEYS) for p in products if isinstance(p, dict)],
        "subscription": _pick(contact.get("subscription"), SUBSCRIPTION_KEYS),
        "club": _pick(contact.get("club"), CLUB_KEYS),
        "cart": _pick(contact.get("cart"), CART_KEYS),
        "status": contact.get("status"),
        "last_event": contact.get("last_event"),
        "state": contact.get("state"),
        "country": contact.get("country"),
        "first_event_at": _plain(contact.get("first_event_at")),
        "last_event_at": _plain(contact.get("last_event_at")),
        "lifetime_value": _plain(contact.get("lifetime_value")),
        "last_product": contact.get("last_product"),
        "history": [
            {
                "event": e.get("event"),
                "at": _plain(e.get("occurred_at")),
                "product": e.get("product_name"),
                "price": _plain(e.get("price")),
                "currency": e.get("currency"),
            }
            for e in events[-HISTORY_LIMIT:]
        ],
        "products": [str(n) for n in names if n],
    }


def build_messages(facts: dict[str, Any]) -> list[dict[str, str]]:
    user = "Fatos do cliente (JSON):\n" + json.dumps(facts, ensure_ascii=False, sort_keys=True)
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def repair_messages(messages: list[dict[str, str]], answer: str, problem: str) -> list[dict[str, str]]:
    return [
        *messages,
        {"role": "assistant", "content": answer[:4000]},
        {
            "role": "user",
            "content": f"A resposta anterior é inválida ({problem[:300]}). Responda de novo, somente o JSON "
            "exatamente no schema pedido.",
        },
    ]


def parse_profile(content: str) -> ContactProfile:
    try:
        data = json.loads(content)
    except ValueError as error:
        raise ProfileInvalid(f"not JSON: {error}") from None
    try:
        return ContactProfile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "answer"
        raise ProfileInvalid(
            f"schema violation at {where}: {first['msg']} ({error.error_count()} errors)"
        ) from None


def embedding_text(profile: ContactProfile, facts: dict[str, Any]) -> str:
    """The text whose embedding places a contact in search space: what they are and what they like."""
    return " ".join(
        [
            profile.summary_pt_br,
            f"segmento {profile.segment.replace('_', ' ')}",
            "interesses: " + ", ".join(profile.interests),
            "produtos: " + ", ".join(facts.get("products") or []),
            f"próximo produto: {profile.suggested_next_product}",
        ]
    )


@dataclass(frozen=True)
class PendingContact:
    email: str
    facts_hash: str
    facts: dict[str, Any]
