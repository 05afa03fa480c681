"""GET /api/kpis/<view> (issue: KPIs)."""

routes: list = []
