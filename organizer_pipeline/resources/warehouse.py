"""The warehouse database as a Dagster resource."""

from __future__ import annotations

from typing import Optional

import dagster as dg
from sqlalchemy.engine import Engine

from organizer_pipeline.db.engine import get_engine, warehouse_url


class Warehouse(dg.ConfigurableResource):
    """PostgreSQL warehouse. `database_url` unset means DATABASE_URL, else the running embedded server —
    resolved when a run starts, so importing the code location never needs a database."""

    database_url: Optional[str] = None  # noqa: UP045 - Dagster config fields need Optional on 3.11

    def get_engine(self) -> Engine:
        return get_engine(self.database_url or warehouse_url())
