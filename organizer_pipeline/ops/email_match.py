"""Exact e-mail matching, for the erasure and for its check that nothing is left.

Two questions, never a substring:
- `holds(value)`: the whole value is the address (a column, a JSON string), case-insensitively — `ana@gmail.com`
  holds `ANA@Gmail.com`, never `mariana@gmail.com`;
- `mentions(value)`: the address appears in free text or anywhere in a JSON document as a whole address:
  what comes before it cannot be part of a local part and what comes after cannot continue the domain.

Case-insensitivity is Python's (full Unicode), never the database's: `lower()` depends on the server's locale
(the embedded server runs with `C`, which leaves `É` alone). So SQL only pre-selects rows with `like_patterns`,
a locale-independent superset (ASCII lower-cased, every other character a wildcard), and Python decides.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.privacy import EMAIL_LOCAL_CHARS, email_key, email_variants, mask_email

ADDRESS_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
JSON_ESCAPE_RE = re.compile(r"\\u([0-9a-fA-F]{4})")
LIKE_SPECIAL = "%_\\"


class EmailMatch:
    """One person's address in every spelling it may be stored under (see privacy.email_variants)."""

    def __init__(self, email: str):
        self.key = email_key(email)
        if not ADDRESS_RE.fullmatch(self.key):
            raise OrganizerError("the value given does not look like an e-mail address (name@domain.tld)")
        self.variants = email_variants(self.key)
        alternatives = "|".join(re.escape(v) for v in sorted(self.variants, key=len, reverse=True))
        # Not preceded by a local-part character (`mariana@…` is another address), not followed by a domain
        # character or by '.' + domain character (`ana@gmail.com.br` is another address).
        self._token = re.compile(
            rf"(?<![{EMAIL_LOCAL_CHARS}])(?:{alternatives})(?![\w-]|\.[\w-])", re.IGNORECASE
        )

    @property
    def masked(self) -> str:
        return mask_email(self.key) or ""

    def holds(self, value: Any) -> bool:
        return isinstance(value, str) and email_key(value) in self.variants

    def mentions(self, value: Any) -> bool:
        if isinstance(value, str):
            return self._in_text(value)
        if isinstance(value, dict):
            return any(self._in_text(k) or self.mentions(v) for k, v in value.items())
        if isinstance(value, list | tuple):
            return any(self.mentions(item) for item in value)
        return False

    def _in_text(self, text: str) -> bool:
        if "@" not in text and "\\u" not in text:
            return False
        text = unicodedata.normalize("NFC", text)
        if self._token.search(text):
            return True
        # JSON text stored as text (a quarantined body) may spell `é` as \u00e9.
        return "\\u" in text and bool(
            self._token.search(unicodedata.normalize("NFC", JSON_ESCAPE_RE.sub(_unescape, text)))
        )

    def like_patterns(self) -> list[str]:
        """`lower(x::text) LIKE ANY(:patterns)` keeps every row that may mention the address (and some
        that don't: Python decides). Any non-ASCII character, and `"`/`\\` (escaped in JSON and record text),
        become `%`."""
        patterns = set()
        for variant in self.variants:
            out = []
            for char in variant:
                if not char.isascii() or char in '"\\':
                    out.append("%")
                elif char in LIKE_SPECIAL:
                    out.append("\\" + char)
                else:
                    out.append(char.lower())
            patterns.add("%" + re.sub("%+", "%", "".join(out)) + "%")
        return sorted(patterns)


def _unescape(match: re.Match[str]) -> str:
    return chr(int(match.group(1), 16))
