"""Masking of personal data (e-mail, CPF/CNPJ, phone) and secrets, for logs and the audit trail, and the
canonical form of an e-mail (its key and hash).

E-mails are Unicode: accented local parts (`josé@…`) and internationalised domains, written either in
Unicode (`exêmplo.com.br`) or in their ASCII form (`xn--exmplo-jva.com.br`)."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata

# Characters of an address's local part, Unicode included (\w is Unicode-aware on str). Not `/`, so that a
# REST path keeps its shape when masked.
EMAIL_LOCAL_CHARS = r"\w.!#$%&'*+=?^`{|}~-"
# Also URL-encoded (`%40`), as an e-mail appears in a REST path such as Brevo's /contacts/{email}. The last
# group is the top-level domain, kept: letters in any script, or an IDNA `xn--` label.
EMAIL_RE = re.compile(
    rf"([{EMAIL_LOCAL_CHARS}])[{EMAIL_LOCAL_CHARS}]*?(?:@|%40)([^\W_])[\w.-]*(\.(?:xn--[\w-]+|[^\W\d_]{{2,}}))"
    r"(?![\w-])"
)
# CPF (11 digits) / CNPJ (14 digits), with or without punctuation.
DOCUMENT_RE = re.compile(r"\b\d{3}\.?\d{3}\.?\d{3}-?\d{2}\b|\b\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}\b")
PHONE_RE = re.compile(r"(?<![\w.])\+?\(?\d{2,3}\)?[\s-]?\d{4,5}-?\d{4}\b")
# ALERT_WEBHOOK_URL counts: chat webhook URLs carry their secret in the path.
SECRET_ENV_SUFFIXES = ("_KEY", "_TOKEN", "_HOTTOK", "_PASSWORD", "_SECRET", "_WEBHOOK_URL")
# The password of a URL (postgresql+psycopg2://user:PASSWORD@host), in case a driver error prints one.
URL_PASSWORD_RE = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@", re.I)


def email_key(email: str) -> str:
    """The canonical form contacts are keyed by: trimmed, NFC (one spelling of `é`), lower-cased."""
    return unicodedata.normalize("NFC", email.strip()).lower()


def email_variants(email: str) -> frozenset[str]:
    """Every key under which this address may be stored: its key, and the same address with the domain in
    Unicode and in IDNA (`xn--`) form, since both name the same mailbox."""
    key = email_key(email)
    local, at, domain = key.rpartition("@")
    variants = {key}
    if not at:
        return frozenset(variants)
    for convert in (_idna_ascii, _idna_unicode):
        other = convert(domain)
        if other:
            variants.add(f"{local}@{email_key(other)}")
    return frozenset(variants)


def _idna_ascii(domain: str) -> str | None:
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def _idna_unicode(domain: str) -> str | None:
    try:
        return domain.encode("ascii").decode("idna")
    except UnicodeError:
        return None


def email_sha256(email: str) -> str:
    return hashlib.sha256(email_key(email).encode()).hexdigest()


def mask_email(email: str | None) -> str | None:
    """`joao.silva@gmail.com` -> `j***@g***.com`: enough to tell two people apart in a log, no more."""
    if not email:
        return email
    return EMAIL_RE.sub(lambda m: f"{m.group(1)}***@{m.group(2)}***{m.group(3)}", email.strip())


def mask_digits(value: str | None, keep: int = 2) -> str | None:
    if not value:
        return value
    digits = re.sub(r"\D", "", value)
    return "*" * max(len(digits) - keep, 0) + digits[-keep:]


def secret_values() -> list[str]:
    """Values of secret-looking env vars currently set (long enough to be worth hiding)."""
    return [
        value for name, value in os.environ.items() if name.endswith(SECRET_ENV_SUFFIXES) and len(value) >= 6
    ]


def redact(text: str) -> str:
    """Mask every e-mail, document, phone number and known secret in free text."""
    for secret in secret_values():
        text = text.replace(secret, "***")
    text = URL_PASSWORD_RE.sub(r"\1***@", text)
    text = EMAIL_RE.sub(lambda m: f"{m.group(1)}***@{m.group(2)}***{m.group(3)}", text)
    text = DOCUMENT_RE.sub(lambda m: mask_digits(m.group(0)) or "", text)
    return PHONE_RE.sub(lambda m: mask_digits(m.group(0)) or "", text)


class RedactingFilter(logging.Filter):
    """Applied to our handlers so nothing personal or secret reaches a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        return True
