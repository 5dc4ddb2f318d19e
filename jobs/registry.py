"""The model registry: list the model versions and their stages, show one with its history, promote a version to
champion, or roll back to the champion before the current one (stacktags.registry).

    scripts/submit.sh registry --list
    scripts/submit.sh registry --show 3
    scripts/submit.sh registry --promote 3 --reason "better on last month's questions"
    scripts/submit.sh registry --rollback --reason "tags of new questions got worse"

Options, not subcommands, so that the cloud targets carry them as they do every job's (Glue takes --key value
pairs only). --promote and --rollback are recorded in model_events with their reason, and in job_runs.
"""

import argparse

from stacktags import cli, config, registry
from stacktags.runs import recorded_run
from stacktags.session import build_session


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--list", action="store_true", help="every version, newest first: stage, created, metrics")
    action.add_argument("--show", type=int, metavar="N", help="version N: where, trained on what, its stage changes")
    action.add_argument("--promote", type=int, metavar="N", help="make version N the champion (the former: archived)")
    action.add_argument("--rollback", action="store_true", help="make the former champion the champion again")
    parser.add_argument("--reason", help="why (--promote and --rollback need one): recorded with the change")
    config.add_common_arguments(parser)
    args = parser.parse_args(argv)
    if (args.promote is not None or args.rollback) and not args.reason:
        parser.error("--promote and --rollback need --reason")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = config.from_arguments(args)
    spark = build_session(cfg, "stacktags-registry")
    if args.list:
        print(registry.listing(spark, cfg))
    elif args.show is not None:
        print(registry.history(spark, cfg, args.show))
    elif args.promote is not None:
        with recorded_run(spark, cfg, "registry promote") as run:
            print(registry.promote(spark, cfg, args.promote, args.reason, run.run_id))
    else:
        with recorded_run(spark, cfg, "registry rollback") as run:
            print(registry.rollback(spark, cfg, args.reason, run.run_id))


if __name__ == "__main__":
    cli.run(main)
