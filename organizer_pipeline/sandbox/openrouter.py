"""Simulator of the openrouter API (see ../shared/contracts/)."""

from starlette.applications import Starlette


def create_app(**knobs) -> Starlette:
    return Starlette(routes=[])
