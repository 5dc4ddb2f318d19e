"""Monitor a scoring batch against the reference profile of the model that scored it: input drift, prediction drift
and live quality into the drift_metrics table; the figures past their [monitor] thresholds into the alerts table and
to the configured notifications. Exits with status 3 when it raised an alert.
"""

import argparse
import sys

from stacktags import cli, config
from stacktags.session import build_session
from stacktags.stages import run_monitor


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--batch",
        help="a score run's id (job_runs.run_id, predictions.score_run), or a window of scored_at as FROM/TO in ISO "
        "form (UTC), e.g. 2026-12-01T00:00/2026-12-02T00:00. Default: the newest score run, unless monitored "
        "already",
    )
    parser.add_argument(
        "--model-version", type=int, help="only the batch's predictions of this model (default: each model's own)"
    )
    config.add_common_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = config.from_arguments(args)
    spark = build_session(cfg, "stacktags-monitor")
    result = run_monitor(spark, cfg, args.batch, args.model_version)
    print(result.summary())
    if result.alerts:
        sys.exit(cli.ALERT_STATUS)


if __name__ == "__main__":
    cli.run(main)
