"""The one code location: each domain package contributes its own `defs`."""

import dagster as dg

from organizer_pipeline.cvdw import defs as cvdw
from organizer_pipeline.enrichment import defs as enrichment
from organizer_pipeline.hotmart import defs as hotmart
from organizer_pipeline.kpi import defs as kpi
from organizer_pipeline.ops import defs as ops
from organizer_pipeline.resources.warehouse import Warehouse

defs = dg.Definitions.merge(
    dg.Definitions(resources={"warehouse": Warehouse()}),
    cvdw.defs,
    hotmart.defs,
    enrichment.defs,
    kpi.defs,
    ops.defs,
)
