"""The whole pipeline in one run: ingest -> clean -> train -> evaluate (and the registry's gate) -> score with the
champion -> monitor what it scored, each recorded in job_runs. Exits with status 3 when the monitor raised an alert.

Ends with a summary: the counts, the headline metrics and where the report is.
"""

import argparse
import sys

from stacktags import cli, config
from stacktags.session import build_session
from stacktags.stages import run_clean, run_evaluate, run_ingest, run_monitor, run_score, run_train


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", required=True, help="StackSample folder to ingest (local, s3://, hdfs://)")
    parser.add_argument("--encoding", help="file encoding (default: [ingest] encoding)")
    parser.add_argument("--score-source", help="questions to score (default: the ingested questions_raw table)")
    config.add_common_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = config.from_arguments(args)
    spark = build_session(cfg, "stacktags-pipeline")
    ingested = run_ingest(spark, cfg, args.source, args.encoding)
    cleaned = run_clean(spark, cfg)
    trained = run_train(spark, cfg)
    evaluated = run_evaluate(spark, cfg, trained.version)
    scored = run_score(spark, cfg, args.score_source or cfg.table("questions_raw"))  # the champion, after the gate
    monitored = run_monitor(spark, cfg, scored.run_id) if scored.scored else None
    summaries = [ingested, cleaned, trained, evaluated, scored, *([monitored] if monitored else [])]
    print("\n".join(["", *(result.summary() for result in summaries)]))
    if monitored and monitored.alerts:
        sys.exit(cli.ALERT_STATUS)


if __name__ == "__main__":
    cli.run(main)
