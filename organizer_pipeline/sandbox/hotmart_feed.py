"""How `organizer up` feeds demo Hotmart events to the receiver in sandbox mode."""

from __future__ import annotations

import sys


def trickle_command(web_url: str) -> list[str] | None:
    """A slow, endless generator posting to `web_url` (about one event every 5 s, 5% re-sent). It reads
    HOTMART_HOTTOK from the environment `organizer up` gives it."""
    return [
        sys.executable,
        "-m",
        "organizer_pipeline.cli",
        "sandbox",
        "hotmart",
        "--url",
        web_url,
        "--rate",
        "0.2",
        "--events",
        "0",
        "--duplicates",
        "0.05",
    ]
