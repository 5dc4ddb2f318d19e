"""Clean bronze questions into the silver table questions_clean: prose, code, tech-aware tokens, tags, split.

Incremental: only questions that are new or changed since the last run are prepared. --full prepares all of them
again (after a change to the text preparation).
"""

import argparse

from stacktags import config
from stacktags.clean import clean
from stacktags.monitor import recorded_run
from stacktags.session import build_session


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="rebuild questions_clean from all bronze questions")
    config.add_common_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = config.from_arguments(args)
    spark = build_session(cfg, "stacktags-clean")
    with recorded_run(spark, cfg, "clean") as run:
        result = clean(spark, cfg, full=args.full)
        run.rows_in, run.rows_out, run.rows_rejected = result.bronze_questions, result.written.written, 0
        run.details = {"inserted": result.written.inserted, "updated": result.written.updated,
                       **{f"rows.{name}": n for name, n in result.rows_per_split.items()}}
    print(result.summary())


if __name__ == "__main__":
    main()
