"""The one code location: each domain package contributes its own `defs`; the Catalog's owners, domain tags and
business summaries are stamped on every asset in one place (`catalog.py`)."""

import warnings

import dagster as dg

from organizer_pipeline import catalog
from organizer_pipeline.cvdw import defs as cvdw
from organizer_pipeline.enrichment import defs as enrichment
from organizer_pipeline.hotmart import defs as hotmart
from organizer_pipeline.kpi import defs as kpi
from organizer_pipeline.ops import defs as ops
from organizer_pipeline.resources.warehouse import Warehouse

# `map_asset_specs` is marked preview in Dagster 1.13; it is the documented way to stamp attributes on every
# asset, and its warning would only repeat itself in every process that loads the code location.
warnings.filterwarnings("ignore", message=r"Function `Definitions.map_(resolved_)?asset_specs` is currently in preview")

defs = dg.Definitions.merge(
    dg.Definitions(resources={"warehouse": Warehouse()}),
    cvdw.defs,
    hotmart.defs,
    enrichment.defs,
    kpi.defs,
    ops.defs,
).map_asset_specs(func=catalog.with_domain)
