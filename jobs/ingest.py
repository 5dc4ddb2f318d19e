"""Ingest StackSample CSVs into the bronze Delta tables questions_raw, tags_raw and answers_raw.

Bad rows go to <table>_rejected with a reason; rows read = rows loaded + rows rejected. Rerunning over the same files
changes no table.
"""

import argparse

from stacktags import cli, config
from stacktags.session import build_session
from stacktags.stages import run_ingest


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--source",
        required=True,
        help="folder with Questions.csv, Tags.csv and optionally Answers.csv (local, s3://, hdfs://)",
    )
    parser.add_argument(
        "--encoding", help="file encoding: UTF-8, or latin-1 for the Kaggle download (default: [ingest] encoding)"
    )
    config.add_common_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = config.from_arguments(args)
    spark = build_session(cfg, "stacktags-ingest")
    print(run_ingest(spark, cfg, args.source, args.encoding).summary())


if __name__ == "__main__":
    cli.run(main)
