"""What the web app itself counts (the warehouse's figures are read at scrape time, see endpoint.py)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, values

# True when the value store is the multiprocess one, i.e. PROMETHEUS_MULTIPROC_DIR was set before the import.
MULTIPROCESS = values.ValueClass is not values.MutexValue

WEBHOOK_REQUESTS = Counter(
    "organizer_webhook_requests",
    "POST /webhooks/hotmart answers, by HTTP status (200 stored or duplicate, 4xx refused, 503 retry later).",
    ["status"],
)
WEBHOOK_SECONDS = Histogram(
    "organizer_webhook_request_duration_seconds",
    "Time from request to answer of POST /webhooks/hotmart (the inbox commit included).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
IN_PROCESS = (WEBHOOK_REQUESTS, WEBHOOK_SECONDS)


def observe_webhook(status: int, seconds: float) -> None:
    WEBHOOK_REQUESTS.labels(status=str(status)).inc()
    WEBHOOK_SECONDS.observe(seconds)
