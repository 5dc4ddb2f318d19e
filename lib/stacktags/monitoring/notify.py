"""Where the monitor's alerts and figures go besides its tables: an HTTP webhook (a JSON POST), an SNS topic and
CloudWatch custom metrics, each when [monitor] configures it.

A notification that fails is retried ([monitor] notify_attempts, waiting notify_retry_seconds, doubled each time;
botocore's own retries are off, so that one policy counts the attempts), then logged as an error and recorded in the
alerts rows' `notified` column: never lost silently, and never the reason a run fails. The webhook's URL is a secret (it
often carries a token): it comes from the environment variable that [monitor] webhook_url_env names, and is never
logged.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime

from stacktags.config import Config
from stacktags.monitoring.monitor import MonitorResult

log = logging.getLogger(__name__)

SNS_SUBJECT_CHARS = 100  # SNS's limit
CLOUDWATCH_BATCH = 1000  # PutMetricData's limit of values per request
HTTP_TIMEOUT_SECONDS = 10


def with_retries(cfg: Config, channel: str, send: Callable[[], None]) -> str:
    """send() until it succeeds or [monitor] notify_attempts are spent: 'sent', or 'failed ...' (logged)."""
    attempts, wait = cfg.require("monitor", "notify_attempts"), float(cfg.require("monitor", "notify_retry_seconds"))
    for attempt in range(1, attempts + 1):
        try:
            send()
            return "sent"
        except Exception as error:  # any failure of the channel: retried, then reported
            reason = f"{type(error).__name__}: {error}"
            if attempt == attempts:
                log.error("%s: failed after %d attempts: %s", channel, attempts, reason)
                return f"failed after {attempts} attempts ({reason})"
            log.warning(
                "%s: attempt %d of %d failed (%s); retrying in %.0f s", channel, attempt, attempts, reason, wait
            )
            time.sleep(wait)
            wait *= 2
    return "not sent"  # attempts < 1 is refused by the conf check


def alert_document(cfg: Config, result: MonitorResult, dashboard: str | None) -> dict:
    return {
        "source": "stacktags",
        "database": cfg.database,
        "batch": result.batch,
        "alerts": [{k: v for k, v in asdict(a).items() if k != "batch"} for a in result.alerts],
        "dashboard": dashboard,
    }


def post_json(url: str, document: dict) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(document).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 (the user's URL)
        response.read()


def notify(cfg: Config, result: MonitorResult, dashboard: str | None = None) -> str | None:
    """Send the result's alerts to every configured channel: what each did ('webhook: sent; sns: failed ...'), or
    None when there is no alert or no channel."""
    if not result.alerts:
        return None
    document = alert_document(cfg, result, dashboard)
    outcomes = []
    variable = cfg.get("monitor", "webhook_url_env")
    url = os.environ.get(variable, "") if variable else ""
    if url:
        outcomes.append(f"webhook: {with_retries(cfg, 'webhook', lambda: post_json(url, document))}")
    elif variable:
        log.info("no webhook: %s is not set", variable)
    topic = cfg.get("monitor", "sns_topic_arn")
    if topic:
        subject = f"stacktags: {len(result.alerts)} alerts on batch {result.batch}"[:SNS_SUBJECT_CHARS]

        def publish() -> None:
            from stacktags.cloud.submit import client

            client(cfg, "sns", attempts=1).publish(
                TopicArn=topic, Subject=subject, Message=json.dumps(document, indent=1)
            )

        outcomes.append(f"sns: {with_retries(cfg, 'sns', publish)}")
    return "; ".join(outcomes) or None


def put_metrics(cfg: Config, result: MonitorResult) -> str | None:
    """The batch's figures (not the per-tag ones) as CloudWatch custom metrics in [monitor] cloudwatch_namespace,
    with the database and model version as dimensions: what the put did, or None when not configured."""
    namespace = cfg.get("monitor", "cloudwatch_namespace")
    if not namespace or not result.reports:
        return None
    now = datetime.now(UTC)
    data = [
        {
            "MetricName": figure.metric,
            "Dimensions": [
                {"Name": "Database", "Value": cfg.database},
                {"Name": "ModelVersion", "Value": str(report.version)},
            ],
            "Timestamp": now,
            "Value": float(figure.value),
        }
        for report in result.reports
        for figure in report.figures
        if figure.tag is None
    ]

    def put() -> None:
        from stacktags.cloud.submit import client

        cloudwatch = client(cfg, "cloudwatch", attempts=1)
        for start in range(0, len(data), CLOUDWATCH_BATCH):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + CLOUDWATCH_BATCH])

    return f"cloudwatch: {with_retries(cfg, 'cloudwatch', put)}"
