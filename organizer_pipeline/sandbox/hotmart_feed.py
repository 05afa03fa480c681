"""How `organizer up` feeds demo Hotmart events to the receiver in sandbox mode."""

from __future__ import annotations

from organizer_pipeline.processes import organizer_command


def trickle_command(web_url: str) -> list[str] | None:
    """An endless generator posting to `web_url` like a real shop (sandbox/hotmart.py `shop_traffic`): about
    four events a minute with a burst of 15-40 every ten minutes or so, 5% re-sent, some delivered late.
    It reads HOTMART_HOTTOK from the environment `organizer up` gives it."""
    return organizer_command(
        "sandbox",
        "hotmart",
        "--url",
        web_url,
        "--rate",
        "0.07",
        "--events",
        "0",
        "--duplicates",
        "0.05",
        "--shuffle",
    )
