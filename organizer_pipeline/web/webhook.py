"""POST /webhooks/hotmart (issue: Hotmart webhooks)."""

routes: list = []
