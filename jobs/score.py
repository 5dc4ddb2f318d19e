"""Score new questions with a saved model into the predictions table (Id, tags, scores, model_version, scored_at).

Incremental: questions already scored by the same model version are skipped, so a rerun adds nothing.
"""

import argparse

from stacktags import cli, config
from stacktags.session import build_session
from stacktags.stages import run_score


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--source",
        required=True,
        help="questions to score: a table name (stackoverflow.questions_raw), a Delta folder, or a "
        "folder holding a StackSample Questions.csv (local, s3://, hdfs://)",
    )
    parser.add_argument("--model-version", type=int, help="default: the champion (scripts/submit.sh registry --list)")
    config.add_common_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = config.from_arguments(args)
    spark = build_session(cfg, "stacktags-score")
    print(run_score(spark, cfg, args.source, args.model_version).summary())


if __name__ == "__main__":
    cli.run(main)
