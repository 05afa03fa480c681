"""How `organizer up` feeds demo Hotmart events to the receiver in sandbox mode."""

from __future__ import annotations


def trickle_command(web_url: str) -> list[str] | None:
    """The command line of a slow, endless generator posting to `web_url`, or None while there is none."""
    return None
