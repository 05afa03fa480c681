"""Run-failure alerts: record every failed Dagster run, and POST a short JSON message to ALERT_WEBHOOK_URL
(Slack/Teams/Google Chat incoming webhooks all accept a `text` field). Sending is retried a few times and
never raises: an alert that cannot be sent is recorded, not allowed to break the sensor."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from organizer_pipeline import settings
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.ops.audit import audit
from organizer_pipeline.privacy import redact
from organizer_pipeline.resources.http import ApiClient, RetryPolicy

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 500
# Few, short retries: the sensor must finish well inside its evaluation timeout.
ALERT_RETRY = RetryPolicy(attempts=3, base_delay=0.5, max_delay=4.0)


class AlertWebhookClient(ApiClient):
    api_name = "alert webhook"

    def auth_hint(self) -> str:
        return "check ALERT_WEBHOOK_URL (it usually embeds its own secret)"


class AlertWebhook(dg.ConfigurableResource):
    """Where failure alerts go; `url` unset means ALERT_WEBHOOK_URL, and neither means no alerts."""

    url: Optional[str] = None  # noqa: UP045 - Dagster config fields need Optional on 3.11

    def target(self) -> str | None:
        return self.url or settings.env("ALERT_WEBHOOK_URL")


@dataclass(frozen=True)
class FailedRun:
    run_id: str
    job_name: str
    message: str

    def alert_payload(self, ui_url: str | None) -> dict:
        link = f"{ui_url.rstrip('/')}/runs/{self.run_id}" if ui_url else None
        text = f"organizer_pipeline: run of {self.job_name} failed: {self.message}"
        return {
            "text": text + (f" ({link})" if link else ""),
            "job": self.job_name,
            "run_id": self.run_id,
            "error": self.message,
            "url": link,
        }


def short_message(text: str | None) -> str:
    """First meaningful line, masked and bounded: alerts travel outside, tracebacks do not."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return redact(lines[0] if lines else "no error message")[:MESSAGE_LIMIT]


def send_alert(url: str, payload: dict, retry: RetryPolicy = ALERT_RETRY) -> str | None:
    """POST the payload; None on success, else the one-line reason (never raises)."""
    client = AlertWebhookClient(url, timeout=10.0, retry=retry)
    try:
        client.request("POST", url, json=payload)
    except OrganizerError as error:
        return redact(str(error))
    except Exception as error:  # noqa: BLE001 - an alert must never take the sensor down
        return redact(f"{type(error).__name__}: {error}")
    finally:
        client.session.close()
    return None


RECORD_FAILURE = sa.text(
    "insert into ops.run_failures (run_id, job_name, message) values (:run_id, :job_name, :message) "
    "on conflict (run_id) do nothing"
)


def record_failure(engine: Engine, run: FailedRun) -> bool:
    """Audit line + ops.run_failures row; False when this run was already recorded (alert already handled)."""
    with engine.begin() as conn:
        fresh = conn.execute(RECORD_FAILURE, vars(run)).rowcount == 1
        if fresh:
            audit(conn, "dagster", "run_failed", run.job_name, {"run_id": run.run_id, "error": run.message})
    return fresh


def handle_failed_run(
    get_engine: Callable[[], Engine],
    run: FailedRun,
    alert_url: str | None,
    ui_url: str | None,
    retry: RetryPolicy = ALERT_RETRY,
) -> str:
    """Record and alert; returns what happened in one line. When the warehouse itself is down the alert is
    still sent (that is when it matters most)."""
    engine: Engine | None = None
    try:
        engine = get_engine()
        fresh = record_failure(engine, run)
    except (sa.exc.SQLAlchemyError, OrganizerError) as error:
        log.error(
            "run failure of %s (%s) not recorded: %s", run.job_name, run.run_id, short_message(str(error))
        )
        fresh, engine = True, None
    if not fresh:
        return f"run {run.run_id} already recorded"
    if not alert_url:
        return f"run {run.run_id} recorded; no ALERT_WEBHOOK_URL"
    problem = send_alert(alert_url, run.alert_payload(ui_url), retry)
    if engine is not None:
        try:
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "update ops.run_failures set alerted_at = case when :problem is null then now() end, "
                        "alert_error = :problem where run_id = :run_id"
                    ),
                    {"problem": problem, "run_id": run.run_id},
                )
        except sa.exc.SQLAlchemyError as error:
            log.error("alert outcome for run %s not recorded: %s", run.run_id, short_message(str(error)))
    if problem:
        log.error("alert for failed run %s not sent: %s", run.run_id, problem)
        return f"run {run.run_id} recorded; alert not sent: {problem}"
    return f"run {run.run_id} recorded and alerted"


def dagster_ui_url() -> str:
    return f"http://{settings.env('DAGSTER_WEB_HOST')}:{settings.env('DAGSTER_WEB_PORT')}"
