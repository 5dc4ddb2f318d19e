"""Evaluate a model on the test split of the data it was trained from: model_metrics table, JSON and HTML report."""

import argparse

from stacktags import cli, config
from stacktags.session import build_session
from stacktags.stages import run_evaluate


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--model-version",
        type=int,
        help="default: the newest candidate (a model waiting for its gate), else the champion. Evaluating a "
        "candidate runs the gate: it becomes the champion, or is rejected",
    )
    parser.add_argument(
        "--decision-file",
        help="also write the model's stage after this evaluation (and the gate's reason) as JSON to this file, local "
        "or s3://: what an orchestrator branches on, e.g. the AWS state machine's Gate state",
    )
    config.add_common_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = config.from_arguments(args)
    spark = build_session(cfg, "stacktags-evaluate")
    print(run_evaluate(spark, cfg, args.model_version, args.decision_file).summary())


if __name__ == "__main__":
    cli.run(main)
