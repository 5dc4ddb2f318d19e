"""Train the tag model on the train split of questions_clean and register a new version in the models table.

Hashed term counts (HashingTF), IDF and one logistic regression per tag (the top [train] num_tags tags), thresholds
tuned on the validation split; the saved PipelineModel holds the text preparation too, so it scores raw questions.
"""

import argparse

from stacktags import cli, config
from stacktags.session import build_session
from stacktags.stages import run_train


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    config.add_common_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = config.from_arguments(args)
    spark = build_session(cfg, "stacktags-train")
    print(run_train(spark, cfg).summary())


if __name__ == "__main__":
    cli.run(main)
