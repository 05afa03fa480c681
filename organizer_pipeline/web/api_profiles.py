"""GET /api/profiles/search (issue: enrichment)."""

routes: list = []
