"""Local simulators of the outside APIs, following `../shared/contracts/`. Used by `make run` when
credentials are absent, and by the tests; production code never imports this package."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from starlette.applications import Starlette


@dataclass(frozen=True)
class Simulator:
    name: str
    factory: str  # "module:function" returning a Starlette app
    credentials: tuple[str, ...]  # when all are set, the real API is used instead
    env: Callable[[str], dict[str, str]]  # root URL of the running simulator -> env for our clients

    def create_app(self, **knobs) -> Starlette:
        module, _, function = self.factory.partition(":")
        return getattr(importlib.import_module(module), function)(**knobs)


def _sandbox_cvdw_start() -> str:
    from organizer_pipeline.sandbox.cvdw import DEMO_DAYS, first_day_of_last

    return first_day_of_last(DEMO_DAYS)


SIMULATORS: dict[str, Simulator] = {
    sim.name: sim
    for sim in (
        Simulator(
            "cvdw",
            "organizer_pipeline.sandbox.cvdw:create_demo_app",
            ("CVCRM_API_EMAIL", "CVCRM_API_TOKEN"),
            lambda root: {
                "CVDW_BASE_URL": f"{root}/api/v1/cvdw",
                "CVCRM_API_EMAIL": "sandbox@example.com",
                "CVCRM_API_TOKEN": "sandbox-token",
                # The partitions start with the sandbox company's history (not "4,000 partitions missing").
                "CVDW_START_DATE": _sandbox_cvdw_start(),
            },
        ),
        Simulator(
            "openrouter",
            "organizer_pipeline.sandbox.openrouter:create_app",
            ("OPENROUTER_API_KEY",),
            lambda root: {"OPENROUTER_BASE_URL": f"{root}/api/v1", "OPENROUTER_API_KEY": "sandbox-key"},
        ),
        Simulator(
            "brevo",
            "organizer_pipeline.sandbox.brevo:create_app",
            ("BREVO_API_KEY",),
            lambda root: {"BREVO_BASE_URL": f"{root}/v3", "BREVO_API_KEY": "sandbox-key"},
        ),
    )
}
