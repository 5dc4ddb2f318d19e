"""The one Glue-specific part: the script every stacktags Glue job runs (its ScriptLocation). It turns the arguments
Glue gives a script into the job's own and runs the job file as spark-submit would run it.

Glue passes its own arguments (--JOB_NAME, --JOB_ID, --JOB_RUN_ID, --TempDir, --job-bookmark-option, ...) beside the
job parameters, all as `--key value`; a key whose value is empty arrives alone (a flag). Here:

- `--stacktags-job NAME` names the job (ingest, clean, train, evaluate, score, monitor, pipeline, registry,
  refresh). Its file, jobs/NAME.py, comes with the Glue job's `--extra-py-files`, which puts it on the Python path
  as the module NAME;
- Glue's own arguments (GLUE_ARGUMENTS) are dropped;
- every other argument goes to the job as it came, in order. A Glue argument map holds each key once, so several
  settings share one `--set`, joined by " --set " as Glue's own `--conf` joins Spark properties;
- the job's own parser refuses an argument it does not know, naming it, and the run fails (exit status 2).
"""

from __future__ import annotations

import runpy
import sys

from stacktags.errors import UserError

JOB_ARGUMENT = "--stacktags-job"
SETTING = "--set"
# The arguments Glue gives every job script, or reads itself: documented job parameters ("Using job parameters in
# AWS Glue jobs") and those Glue adds to a run (--JOB_ID, --JOB_RUN_ID, --scriptLocation, ...).
GLUE_ARGUMENTS = frozenset(
    {
        "--JOB_NAME",
        "--JOB_ID",
        "--JOB_RUN_ID",
        "--SECURITY_CONFIGURATION",
        "--TempDir",
        "--RedshiftTempDir",
        "--job-bookmark-option",
        "--job-bookmark-from",
        "--job-bookmark-to",
        "--continuation-option",
        "--encryption-type",
        "--enable-data-lineage",
        "--job-language",
        "--scriptLocation",
        "--debug",
        "--mode",
        "--endpoint",
        "--datalake-formats",
        "--conf",
        "--extra-py-files",
        "--extra-jars",
        "--extra-files",
        "--user-jars-first",
        "--additional-python-modules",
        "--python-modules-installer-option",
        "--python-virtual-env",
        "--python-virtual-env-storage-prefix",
        "--python-virtual-env-version",
        "--enable-glue-datacatalog",
        "--enable-metrics",
        "--enable-observability-metrics",
        "--enable-continuous-cloudwatch-log",
        "--enable-continuous-log-filter",
        "--continuous-log-logGroup",
        "--continuous-log-logStreamPrefix",
        "--continuous-log-conversionPattern",
        "--custom-logGroup-prefix",
        "--custom-logStream-prefix",
        "--enable-spark-ui",
        "--spark-event-logs-path",
        "--enable-auto-scaling",
        "--enable-job-insights",
        "--executor-cores",
        "--customer-driver-env-vars",
        "--customer-executor-env-vars",
        "--auto-stop-session",
        "--disable-proxy-v2",
        "--write-shuffle-files-to-s3",
        "--write-shuffle-spills-to-s3",
        "--s3-py-modules",
        "--enable-rename-algorithm-v2",
        "--enable-s3-parquet-optimized-committer",
    }
)


class GlueArgumentError(UserError, ValueError):
    """The arguments cannot be a stacktags job's: no job named, or a value without its --key."""


def pairs(argv: list[str]) -> list[tuple[str, str | None]]:
    """`--key value`, `--key=value` and lone `--flag` arguments as (key, value or None), in order."""
    result = []
    for position, token in enumerate(argv):
        if token.startswith("--"):
            key, equals, inline = token.partition("=")
            following = argv[position + 1] if position + 1 < len(argv) else None
            if equals:
                result.append((key, inline))
            else:
                result.append((key, None if following is None or following.startswith("--") else following))
        elif position == 0 or not argv[position - 1].startswith("--") or "=" in argv[position - 1]:
            raise GlueArgumentError(f"argument {token!r} follows no --key")
    return result


def job_arguments(argv: list[str]) -> tuple[str, list[str]]:
    """(the job's name, its own argument list) from the arguments Glue gave the script (without the script's path)."""
    job, arguments = None, []
    for key, value in pairs(argv):
        if key == JOB_ARGUMENT:
            job = value
        elif key in GLUE_ARGUMENTS:
            continue
        elif key == SETTING and value is not None:
            for setting in value.split(f" {SETTING} "):
                arguments += [SETTING, setting.strip()]
        else:
            arguments += [key] if value is None else [key, value]
    if not job:
        raise GlueArgumentError(f"no {JOB_ARGUMENT} NAME among the Glue job's arguments: which stacktags job to run")
    return job, arguments


def main() -> None:
    try:
        job, arguments = job_arguments(sys.argv[1:])
    except GlueArgumentError as error:
        sys.exit(f"error: {error}")
    print(f"stacktags on Glue: {job} {' '.join(arguments)}", file=sys.stderr, flush=True)
    sys.argv = [f"{job}.py", *arguments]
    runpy.run_module(job, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
