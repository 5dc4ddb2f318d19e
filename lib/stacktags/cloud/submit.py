"""scripts/submit.sh JOB --target glue|emr|emr-serverless [--dry-run] [job options]: a job run on a cloud target.

A run: the packaged artifacts of this commit (scripts/package.sh: var/dist/<version>) go to <[aws] artifacts>/
<version>/ where their SHA256SUMS differ from those already there, Glue's entry script to its one place when its hash
differs; then the target's request starts the run (cloud/requests.py), and its state is followed until it ends: each
change printed with the time since the start; the exit status 0 for a run that succeeded, 1 for one that failed,
was cancelled or outlived the target's timeout, with where its logs are.

--dry-run prints the API request that starts the run, as one JSON object ({"service", "operation", "params"}), after
checking it against botocore's model of the operation; it calls nothing. Credentials come from the AWS credential
chain only (environment, profile, instance role) and are never printed.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from boto3.exceptions import Boto3Error
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from stacktags import config
from stacktags.cloud.requests import Artifacts, CloudRequestError, Request, artifacts_of, run_request
from stacktags.lines import conf_dir
from stacktags.package import package_version

SUMS = "SHA256SUMS"
POLL_SECONDS = 15
INTERRUPTED_STATUS = 130  # the shell's status for a command stopped by Ctrl-C


class CloudRunError(CloudRequestError):
    """AWS refused a call (a missing bucket or permission, a wrong region) or the run did not succeed."""


def target_config(root: Path, target: str, job_args: list[str]) -> config.Config:
    """The running line's conf/<target>.toml (conf/spark3.5/ on the 3.5 line) with the user's --set, --warehouse and
    --database."""
    return config.from_options(job_args, str(conf_dir(root) / f"{target}.toml"))[0]


def client(cfg: config.Config, service: str, attempts: int | None = None):
    """A boto3 client in [aws] region (and at [aws] endpoint_url when set, e.g. a local test endpoint); credentials
    from the AWS chain. attempts: botocore's total attempts per call, for a caller that retries on its own."""
    endpoint = cfg.get("aws", "endpoint_url")
    return boto3.client(
        service,
        region_name=cfg.require("aws", "region"),
        **({"endpoint_url": endpoint} if endpoint else {}),
        **({"config": Config(retries={"total_max_attempts": attempts})} if attempts else {}),
    )


def s3_location(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def read_sums(text: str) -> dict[str, str]:
    """SHA256SUMS lines ("<hash>  <path>") as {path: hash}."""
    return {path: digest for digest, _, path in (line.partition("  ") for line in text.splitlines() if line)}


def upload_artifacts(s3, folder: Path, artifacts: Artifacts) -> list[str]:
    """The package's files that are missing or differ at their S3 place, uploaded (the remote SHA256SUMS deleted
    first and written last, so a list there always describes the files beside it); Glue's entry script to its one
    place when its hash differs. The uploaded URIs."""
    local = read_sums((folder / SUMS).read_text())
    bucket, prefix = s3_location(artifacts.uri(""))
    try:
        remote = read_sums(s3.get_object(Bucket=bucket, Key=prefix + SUMS)["Body"].read().decode())
    except ClientError as error:  # NoSuchKey, or AccessDenied where the caller may not list the bucket
        if error.response["Error"]["Code"] not in ("NoSuchKey", "AccessDenied", "403"):
            raise
        remote = {}
    changed = [path for path, digest in sorted(local.items()) if remote.get(path) != digest]
    if changed and remote:  # an upload that stops half way must leave no list that vouches for the old files
        s3.delete_object(Bucket=bucket, Key=prefix + SUMS)
    for path in changed:
        s3.upload_file(str(folder / path), bucket, prefix + path, ExtraArgs={"Metadata": {"sha256": local[path]}})
    if changed or not remote:
        s3.upload_file(str(folder / SUMS), bucket, prefix + SUMS)
    uploaded = [artifacts.uri(path) for path in changed]
    script_bucket, script_key = s3_location(artifacts.glue_script)
    digest = local["glue/glue_entry.py"]
    try:
        current = s3.head_object(Bucket=script_bucket, Key=script_key)["Metadata"].get("sha256")
    except ClientError:
        current = None
    if current != digest:
        s3.upload_file(
            str(folder / "glue" / "glue_entry.py"),
            script_bucket,
            script_key,
            ExtraArgs={"Metadata": {"sha256": digest}},
        )
        uploaded.append(artifacts.glue_script)
    return uploaded


@dataclass(frozen=True)
class Run:
    """A started run: how to read its state, which states end it, and where its logs go."""

    name: str
    state: callable
    succeeded: frozenset[str]
    failed: frozenset[str]
    logs: str
    reason: callable = lambda: ""


def check_runtime(what: str, runs: str | None, setting: str, cfg: config.Config) -> None:
    """Refuse to start on a runtime other than the one the package was made for (the conf's release or version)."""
    section, key = setting.split(".")
    wanted = cfg.require(section, key)
    if runs != wanted:
        raise CloudRunError(f"{what} runs {runs}, and this target's conf is for {wanted} ({setting})")


def start(cfg: config.Config, request: Request) -> Run:
    api = client(cfg, request.service)
    if request.service == "glue":
        name = request.params["JobName"]
        try:
            job = api.get_job(JobName=name)["Job"]
        except api.exceptions.EntityNotFoundException as error:
            raise CloudRunError(
                f"no Glue job {name} in {cfg.require('aws', 'region')}: deploy infra/stacktags.yaml, "
                "or set [glue] job_prefix to your jobs' prefix"
            ) from error
        check_runtime(f"Glue job {name}", job.get("GlueVersion"), "glue.glue_version", cfg)
        # the job's own log groups (infra/stacktags.yaml sets them), else Glue's shared ones
        log_groups = job.get("DefaultArguments", {}).get("--custom-logGroup-prefix", "/aws-glue/jobs").rstrip("/")
        run_id = api.start_job_run(**request.params)["JobRunId"]

        def glue_run():
            return api.get_job_run(JobName=name, RunId=run_id)["JobRun"]

        return Run(
            f"glue job {name} run {run_id}",
            lambda: glue_run()["JobRunState"],
            frozenset({"SUCCEEDED"}),
            frozenset({"FAILED", "ERROR", "TIMEOUT", "STOPPED", "EXPIRED"}),
            f"CloudWatch log groups {log_groups}/output and {log_groups}/error, streams {run_id}-*",
            lambda: glue_run().get("ErrorMessage", ""),
        )
    if request.service == "emr":
        cluster = request.params["JobFlowId"]
        described = api.describe_cluster(ClusterId=cluster)["Cluster"]
        check_runtime(f"EMR cluster {cluster}", described.get("ReleaseLabel"), "emr.release_label", cfg)
        (step,) = api.add_job_flow_steps(**request.params)["StepIds"]

        def emr_step():
            return api.describe_step(ClusterId=cluster, StepId=step)["Step"]["Status"]

        log_uri = described.get("LogUri")
        logs = (
            f"{log_uri.rstrip('/')}/{cluster}/steps/{step}/"
            if log_uri
            else f"the cluster has no LogUri: /mnt/var/log/hadoop/steps/{step}/ on its primary node"
        )
        return Run(
            f"EMR cluster {cluster} step {step}",
            lambda: emr_step()["State"],
            frozenset({"COMPLETED"}),
            frozenset({"FAILED", "CANCELLED", "INTERRUPTED"}),
            logs,
            lambda: emr_step().get("FailureDetails", {}).get("Message", ""),
        )
    application = request.params["applicationId"]
    release = api.get_application(applicationId=application)["application"]["releaseLabel"]
    check_runtime(f"EMR Serverless application {application}", release, "emr_serverless.release_label", cfg)
    run_id = api.start_job_run(**request.params)["jobRunId"]

    def serverless_run():
        return api.get_job_run(applicationId=application, jobRunId=run_id)["jobRun"]

    logs = request.params["configurationOverrides"]["monitoringConfiguration"]["s3MonitoringConfiguration"]["logUri"]
    return Run(
        f"EMR Serverless application {application} run {run_id}",
        lambda: serverless_run()["state"],
        frozenset({"SUCCESS"}),
        frozenset({"FAILED", "CANCELLED"}),
        f"{logs.rstrip('/')}/applications/{application}/jobs/{run_id}/SPARK_DRIVER/",
        lambda: serverless_run().get("stateDetails", ""),
    )


def follow(run: Run, timeout_seconds: float, poll_seconds: float = POLL_SECONDS) -> int:
    """Print each state change of the run until it ends, the timeout passes or Ctrl-C stops the following (not the
    run); the exit status."""
    started, last = time.monotonic(), None
    try:
        while True:
            state = run.state()
            elapsed = time.monotonic() - started
            if state != last:
                print(f"{time.strftime('%H:%M:%S')} {run.name}: {state} ({elapsed:.0f} s)", file=sys.stderr, flush=True)
                last = state
            if state in run.succeeded:
                print(f"logs: {run.logs}", file=sys.stderr)
                return 0
            if state in run.failed:
                reason = run.reason()
                print(
                    f"error: {run.name} ended {state}{f': {reason}' if reason else ''}; logs: {run.logs}",
                    file=sys.stderr,
                )
                return 1
            if elapsed > timeout_seconds:
                print(
                    f"error: {run.name} still {state} after {elapsed:.0f} s, the target's timeout; it goes on in "
                    f"AWS; logs: {run.logs}",
                    file=sys.stderr,
                )
                return 1
            time.sleep(poll_seconds)
    except KeyboardInterrupt:
        print(f"\nstopped following {run.name}: it goes on in AWS; logs: {run.logs}", file=sys.stderr)
        return INTERRUPTED_STATUS


SECTIONS = {"glue": "glue", "emr": "emr", "emr-serverless": "emr_serverless"}


def package_folder(root: Path, cfg: config.Config, version: str) -> Path:
    folder = Path(cfg.get("package", "out") or root / "var" / "dist") / version
    if not (folder / SUMS).is_file():
        raise CloudRequestError(f"no package for {version} in {folder.parent}: run scripts/package.sh first")
    return folder


def upload_package(cfg: config.Config, folder: Path, version: str) -> None:
    uploaded = upload_artifacts(client(cfg, "s3"), folder, artifacts_of(cfg, version))
    print(f"uploaded {len(uploaded)} changed artifacts of {version}", file=sys.stderr)


@contextmanager
def aws_errors(target: str):
    """AWS's refusals and failures as one CloudRunError line, whatever AWS said."""
    try:
        yield
    except (ClientError, BotoCoreError, Boto3Error) as error:
        raise CloudRunError(f"{target}: {' '.join(str(error).split())}") from error


def submit(root: Path, job: str, target: str, job_args: list[str], dry_run: bool) -> int:
    """Start `job` on `target` (or with dry_run print the request); the exit status."""
    cfg = target_config(root, target, job_args)
    version = package_version(root)
    request = run_request(target, cfg, job, job_args, version)
    if dry_run:
        print(request.as_json())
        return 0
    folder = package_folder(root, cfg, version)  # before any call to AWS
    minutes = cfg.require(SECTIONS[target], "timeout_minutes")
    with aws_errors(target):
        upload_package(cfg, folder, version)
        return follow(start(cfg, request), 60 * minutes)


# --- the version the AWS state machine runs (infra/stacktags.yaml, PipelineStateMachine) ----------------------------
# The machine starts the Glue jobs with the arguments that name a packaged version (its job file, wheel, jar, conf
# files, Spark properties): it reads them, for each of its jobs, from this object under [aws] artifacts.
STATE_MACHINE_JOBS = ("ingest", "clean", "train", "evaluate", "score", "monitor")
STATE_MACHINE_ARGUMENTS = "state-machine/arguments.json"


def state_machine_arguments(cfg: config.Config, version: str, job_args: list[str]) -> dict:
    """{"version", "jobs": {job: the Glue run's Arguments as scripts/submit.sh JOB --target glue sends them}}. Score
    scores the database's questions (those its model has not scored); the machine adds ingest's landing folder and
    evaluate's decision file, which it knows."""
    options = {"score": ["--source", cfg.table("questions_raw")]}
    return {
        "version": version,
        "jobs": {
            job: run_request("glue", cfg, job, [*job_args, *options.get(job, [])], version).params["Arguments"]
            for job in STATE_MACHINE_JOBS
        },
    }


def publish(root: Path, job_args: list[str], dry_run: bool) -> int:
    """Make this commit's package the version the state machine runs: upload it, then write its jobs' arguments
    (with the user's --set) to <[aws] artifacts>/state-machine/arguments.json. With dry_run, print them only."""
    cfg = target_config(root, "glue", job_args)
    version = package_version(root)
    document = json.dumps(state_machine_arguments(cfg, version, job_args), indent=1)
    if dry_run:
        print(document)
        return 0
    folder = package_folder(root, cfg, version)  # before any call to AWS
    bucket, key = s3_location(f"{cfg.require('aws', 'artifacts').rstrip('/')}/{STATE_MACHINE_ARGUMENTS}")
    with aws_errors("glue"):
        upload_package(cfg, folder, version)
        client(cfg, "s3").put_object(Bucket=bucket, Key=key, Body=document.encode(), ContentType="application/json")
    print(f"the state machine runs {version} from its next execution on (s3://{bucket}/{key})")
    return 0
