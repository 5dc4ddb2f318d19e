"""scripts/submit.sh against AWS's APIs, served by a moto server that these tests start on 127.0.0.1 and stop: the
artifacts uploaded by hash, each target's run started with the request the dry run shows, its end reported."""

import hashlib
import json
import shutil
from contextlib import contextmanager

import boto3
import pytest
from conftest import CONF, MOTO_SECRET, ROOT
from moto import settings as moto_settings
from moto.core.authorization import ActionAuthenticatorMixin

from stacktags import config, package
from stacktags.cloud import submit as cloud
from stacktags.cloud.requests import Artifacts
from stacktags.errors import UserError

REGION = "us-east-1"
ARTIFACTS = "s3://stacktags-artifacts/stacktags"
# the runtimes the tests' line's conf files ask for (submit refuses a Glue job or EMR cluster on another)
GLUE_VERSION = config.load(CONF / "glue.toml").require("glue", "glue_version")
EMR_RELEASE = config.load(CONF / "emr.toml").require("emr", "release_label")


@pytest.fixture
def aws(moto_endpoint, aws_credentials):
    """A client maker for the moto server, and the project's bucket there."""

    def make(service):
        return boto3.client(service, region_name=REGION, endpoint_url=moto_endpoint)

    s3 = make("s3")
    if "stacktags-artifacts" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket="stacktags-artifacts")
    return make


@pytest.fixture
def endpoint(moto_endpoint):
    return moto_endpoint


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    """This commit's package for the tests' line, without EMR's environment (its own test builds it)."""
    out = tmp_path_factory.mktemp("dist")
    cfg = config.load(CONF / "glue.toml", settings=[f'package.out="{out}"'])
    return package.build(ROOT, cfg, with_environment=False)


def settings(endpoint, packaged, *more):
    return ["--set", f"aws.endpoint_url={endpoint}", "--set", f'package.out="{packaged.parent}"', *more]


def test_a_glue_run_uploads_the_changed_artifacts_starts_the_job_and_reports_success(aws, endpoint, packaged, capfd):
    glue = aws("glue")
    glue.create_job(
        Name="stacktags-train",
        Role="arn:aws:iam::123456789012:role/stacktags-glue-job",
        Command={"Name": "glueetl", "ScriptLocation": f"{ARTIFACTS}/glue/glue_entry.py", "PythonVersion": "3"},
        GlueVersion=GLUE_VERSION,
        DefaultArguments={"--custom-logGroup-prefix": "/aws-glue/stacktags"},
    )
    status = cloud.submit(ROOT, "train", "glue", settings(endpoint, packaged, "--set", "train.num_tags=1000"), False)
    out = capfd.readouterr()
    assert status == 0 and "stacktags-train" in out.err and "SUCCEEDED" in out.err
    assert (
        "logs: CloudWatch log groups /aws-glue/stacktags/output and /aws-glue/stacktags/error" in out.err
        and MOTO_SECRET not in out.out + out.err
    )
    # every packaged file is in S3 with the hash SHA256SUMS gives it
    s3 = aws("s3")
    sums = cloud.read_sums((packaged / "SHA256SUMS").read_text())
    artifacts = Artifacts(ARTIFACTS, packaged.name)
    for path, digest in sums.items():
        bucket, key = cloud.s3_location(artifacts.uri(path))
        assert hashlib.sha256(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest() == digest, path
    run = glue.get_job_runs(JobName="stacktags-train")["JobRuns"][0]
    assert run["Arguments"]["--datalake-formats"] == "delta" and run["Arguments"]["--set"] == "train.num_tags=1000"
    assert run["Arguments"]["--extra-jars"] == artifacts.uri("jars/stacktags.jar")
    # the same package again: nothing to upload
    assert cloud.upload_artifacts(s3, packaged, artifacts) == []


def test_an_emr_step_that_does_not_end_in_time_is_reported_with_its_logs(aws, endpoint, packaged, capfd):
    emr = aws("emr")
    cluster = emr.run_job_flow(
        Name="stacktags",
        ReleaseLabel=EMR_RELEASE,
        LogUri="s3://stacktags-logs/emr/",
        Instances={"InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True, "MasterInstanceType": "m5.xlarge"},
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]
    more = ["--set", f"emr.cluster_id={cluster}", "--set", "emr.timeout_minutes=0"]  # moto's steps never end
    status = cloud.submit(ROOT, "clean", "emr", settings(endpoint, packaged, *more), False)
    err = capfd.readouterr().err
    assert status == 1 and "still RUNNING after" in err and f"logs: s3://stacktags-logs/emr/{cluster}/steps/s-" in err
    (step,) = emr.list_steps(ClusterId=cluster)["Steps"]
    args = emr.describe_step(ClusterId=cluster, StepId=step["Id"])["Step"]["Config"]["Args"]
    assert args[:3] == ["spark-submit", "--deploy-mode", "cluster"] and "--conf-file" in args


def test_an_emr_serverless_run_starts_with_the_packed_environment(aws, endpoint, packaged, capfd):
    serverless = aws("emr-serverless")
    # moto accepts only the emr-X.Y.0 labels, not emr-spark-8.1.0; StartJobRun does not name the release
    application = serverless.create_application(
        name="stacktags", releaseLabel="emr-7.12.0", type="SPARK", clientToken="t"
    )["applicationId"]
    more = [
        "--set",
        f"emr_serverless.application_id={application}",
        "--set",
        "emr_serverless.execution_role=arn:aws:iam::123456789012:role/stacktags-emr-serverless-job",
        "--set",
        "emr_serverless.release_label=emr-7.12.0",
    ]
    status = cloud.submit(ROOT, "score", "emr-serverless", settings(endpoint, packaged, *more), False)
    err = capfd.readouterr().err
    assert status == 0 and "SUCCESS" in err and f"applications/{application}/jobs/" in err
    (run,) = serverless.list_job_runs(applicationId=application)["jobRuns"]
    details = serverless.get_job_run(applicationId=application, jobRunId=run["id"])["jobRun"]["jobDriver"]
    assert "spark.archives=" in details["sparkSubmit"]["sparkSubmitParameters"]


def test_a_glue_job_missing_or_on_another_glue_version_is_refused_before_any_run(aws, endpoint, packaged):
    glue = aws("glue")
    with pytest.raises(cloud.CloudRunError, match="no Glue job stacktags-evaluate in us-east-1: deploy infra/"):
        cloud.submit(ROOT, "evaluate", "glue", settings(endpoint, packaged), False)
    glue.create_job(
        Name="stacktags-evaluate",
        Role="arn:aws:iam::123456789012:role/stacktags-glue-job",
        Command={"Name": "glueetl", "ScriptLocation": f"{ARTIFACTS}/glue/glue_entry.py", "PythonVersion": "3"},
        GlueVersion="5.0",
    )
    message = (
        rf"Glue job stacktags-evaluate runs 5.0, and this target's conf is for {GLUE_VERSION} \(glue.glue_version\)"
    )
    with pytest.raises(cloud.CloudRunError, match=message):
        cloud.submit(ROOT, "evaluate", "glue", settings(endpoint, packaged), False)
    assert glue.get_job_runs(JobName="stacktags-evaluate")["JobRuns"] == []


class FailingAfter:
    """An S3 client whose uploads fail after the first `uploads`: an upload stopped half way."""

    def __init__(self, s3, uploads: int):
        self.s3, self.uploads = s3, uploads

    def upload_file(self, *args, **kwargs):
        if self.uploads == 0:
            raise ConnectionError("the network went away")
        self.uploads -= 1
        return self.s3.upload_file(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.s3, name)


def test_an_upload_stopped_half_way_leaves_no_list_vouching_for_the_files_and_the_next_one_mends_them(
    aws, packaged, tmp_path
):
    s3, artifacts = aws("s3"), Artifacts(f"{ARTIFACTS}-partial", packaged.name)
    cloud.upload_artifacts(s3, packaged, artifacts)
    changed = tmp_path / packaged.name
    shutil.copytree(packaged, changed)
    for job in ("clean.py", "train.py"):
        (changed / "jobs" / job).write_text("# another build\n")
    package.write_sums(changed)
    with pytest.raises(ConnectionError):
        cloud.upload_artifacts(FailingAfter(s3, uploads=1), changed, artifacts)  # clean.py went, train.py did not
    bucket, key = cloud.s3_location(artifacts.uri("SHA256SUMS"))
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=key)
    # the first build again: every file is compared afresh, and the half-changed one is put back
    uploaded = cloud.upload_artifacts(s3, packaged, artifacts)
    assert artifacts.uri("jobs/clean.py") in uploaded and len(uploaded) == len(
        cloud.read_sums((packaged / "SHA256SUMS").read_text())
    )
    body = s3.get_object(Bucket=bucket, Key=cloud.s3_location(artifacts.uri("jobs/clean.py"))[1])["Body"].read()
    assert body == (packaged / "jobs" / "clean.py").read_bytes()


def test_ctrl_c_stops_following_not_the_run_and_says_where_its_logs_are(capfd):
    def interrupted():
        raise KeyboardInterrupt

    run = cloud.Run("a run", interrupted, frozenset({"SUCCEEDED"}), frozenset({"FAILED"}), "the logs")
    assert cloud.follow(run, timeout_seconds=60, poll_seconds=0) == cloud.INTERRUPTED_STATUS
    assert capfd.readouterr().err.strip() == "stopped following a run: it goes on in AWS; logs: the logs"


@contextmanager
def iam_enforced():
    """From here on the moto server (in this process) checks every request's credentials and IAM policies, as AWS
    does: what moto's set_initial_no_auth_action_count(0) sets, for a block."""
    allowed_unchecked = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = 0, 0
    try:
        yield
    finally:
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = allowed_unchecked


def test_a_missing_permission_is_one_line_naming_the_action_and_starts_no_run(aws, endpoint, packaged, monkeypatch):
    iam, glue = aws("iam"), aws("glue")
    glue.create_job(
        Name="stacktags-score",
        Role="arn:aws:iam::123456789012:role/stacktags-glue-job",
        Command={"Name": "glueetl", "ScriptLocation": f"{ARTIFACTS}/glue/glue_entry.py", "PythonVersion": "3"},
        GlueVersion=GLUE_VERSION,
    )
    iam.create_user(UserName="submitter")
    uploads_and_reads = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
                "Resource": ["arn:aws:s3:::stacktags-artifacts", "arn:aws:s3:::stacktags-artifacts/*"],
            },
            {"Effect": "Allow", "Action": ["glue:GetJob", "glue:GetJobRun"], "Resource": "*"},
        ],
    }  # no glue:StartJobRun
    iam.put_user_policy(UserName="submitter", PolicyName="submit", PolicyDocument=json.dumps(uploads_and_reads))
    key = iam.create_access_key(UserName="submitter")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # its credentials were resolved once, for the other tests
    with iam_enforced(), pytest.raises(cloud.CloudRunError) as refused:
        cloud.submit(ROOT, "score", "glue", settings(endpoint, packaged), False)
    message = str(refused.value)
    assert "\n" not in message and "StartJobRun" in message and "not authorized to perform: glue:StartJobRun" in message
    assert key["SecretAccessKey"] not in message
    assert glue.get_job_runs(JobName="stacktags-score")["JobRuns"] == []


def test_a_missing_bucket_is_one_line_naming_it(aws, endpoint, packaged):
    with pytest.raises(cloud.CloudRunError, match="NoSuchBucket|does not exist") as refused:
        cloud.submit(
            ROOT, "train", "glue", settings(endpoint, packaged, "--set", "aws.artifacts=s3://nobucket/x"), False
        )
    assert MOTO_SECRET not in str(refused.value)


def test_no_package_for_this_commit_says_how_to_make_one(aws, endpoint, tmp_path):
    with pytest.raises(cloud.CloudRequestError, match="run scripts/package.sh first"):
        cloud.submit(ROOT, "train", "glue", settings(endpoint, tmp_path / "none"), False)


@pytest.mark.parametrize(
    "states, status, message",
    [
        (["STARTING", "RUNNING", "SUCCEEDED"], 0, "logs: the logs"),
        (["RUNNING", "FAILED"], 1, "error: a run ended FAILED: out of memory; logs: the logs"),
    ],
)
def test_following_a_run_prints_each_state_change_and_ends_with_its_outcome(states, status, message, capfd):
    remaining = iter(states)
    run = cloud.Run(
        "a run",
        lambda: next(remaining),
        frozenset({"SUCCEEDED"}),
        frozenset({"FAILED"}),
        "the logs",
        lambda: "out of memory",
    )
    assert cloud.follow(run, timeout_seconds=60, poll_seconds=0) == status
    err = capfd.readouterr().err
    assert [line.split(": ")[1].split(" (")[0] for line in err.splitlines()[:-1]] == states
    assert err.splitlines()[-1] == message


def test_publish_uploads_the_version_and_writes_the_state_machines_arguments(aws, endpoint, packaged, capfd):
    more = ("--set", "train.num_tags=500")
    assert cloud.publish(ROOT, list(settings(endpoint, packaged, *more)), dry_run=True) == 0
    printed = json.loads(capfd.readouterr().out)
    assert cloud.publish(ROOT, list(settings(endpoint, packaged, *more)), dry_run=False) == 0
    assert f"the state machine runs {packaged.name}" in capfd.readouterr().out
    s3 = aws("s3")
    written = json.loads(
        s3.get_object(Bucket="stacktags-artifacts", Key=f"stacktags/{cloud.STATE_MACHINE_ARGUMENTS}")["Body"].read()
    )
    assert written == printed and written["version"] == packaged.name
    assert set(written["jobs"]) == set(cloud.STATE_MACHINE_JOBS)
    # each job's arguments are those of a submitted run of it, naming the uploaded version's files
    train = cloud.run_request("glue", cloud.target_config(ROOT, "glue", [*more]), "train", [*more], packaged.name)
    assert (
        written["jobs"]["train"] == train.params["Arguments"]
        and written["jobs"]["train"]["--set"] == "train.num_tags=500"
    )
    assert written["jobs"]["score"]["--source"] == "stackoverflow.questions_raw"
    for uri in (written["jobs"]["ingest"]["--extra-py-files"], written["jobs"]["ingest"]["--extra-jars"]):
        s3.head_object(Bucket="stacktags-artifacts", Key=uri.removeprefix("s3://stacktags-artifacts/"))


def test_publish_is_for_glue_only(capfd):
    from stacktags import launch

    with pytest.raises(UserError, match="the state machine runs Glue jobs: publish to --target glue, not emr"):
        launch.main(["--root", str(ROOT), "publish", "--target", "emr"])
