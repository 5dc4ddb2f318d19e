"""Clean bronze questions into the silver table questions_clean: prose, code, tech-aware tokens, tags, split.

Incremental: only questions that are new or changed since the last run are prepared. --full prepares all of them
again (after a change to the text preparation).
"""

import argparse

from stacktags import cli, config
from stacktags.session import build_session
from stacktags.stages import run_clean


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="rebuild questions_clean from all bronze questions")
    config.add_common_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = config.from_arguments(args)
    spark = build_session(cfg, "stacktags-clean")
    print(run_clean(spark, cfg, full=args.full).summary())


if __name__ == "__main__":
    cli.run(main)
