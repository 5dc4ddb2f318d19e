"""One refresh of the continuous pipeline, safe to run on a schedule: ingest the new files of a landing folder,
clean the new questions, retrain (train, evaluate, gate) once [refresh] retrain_after labelled questions arrived
since the champion's data, and score the questions the champion has not scored. A refresh that finds nothing new
commits nothing to the data tables; two refreshes of one database never run at once (the loser says who holds it).

    scripts/submit.sh refresh --source s3://bucket/landing/
"""

import argparse
import sys

from stacktags import cli, config
from stacktags.refresh import run_refresh
from stacktags.session import build_session


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="the landing folder (local, s3://, hdfs://), read each time")
    config.add_common_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = config.from_arguments(args)
    spark = build_session(cfg, "stacktags-refresh")
    result = run_refresh(spark, cfg, args.source)
    print(result.summary())
    if result.alerts:
        sys.exit(cli.ALERT_STATUS)


if __name__ == "__main__":
    cli.run(main)
