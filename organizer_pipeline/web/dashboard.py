"""GET /dashboard (issue: KPIs)."""

routes: list = []
