"""The pipeline's state machine (infra/stacktags.yaml, PipelineStateMachine) executed by moto's Step Functions
interpreter on the moto server the tests start, against moto's Glue, S3 and SNS: the path taken for a passing gate, a
failing gate and no retraining; a step that fails twice then succeeds (Retry with backoff); a step that keeps failing
(Catch, the failure notification, the Fail state); the Glue runs get the published version's arguments, which the jobs'
own parsers accept; and the landing rule's event pattern picks a batch's _SUCCESS object and nothing else.

moto 5.2.5 needs three corrections here, each a moto defect, documented in docs/step-functions-research.md: every
glue:startJobRun.sync task fails with `'NoneType' object has no attribute 'interrupt_all'` (fixed upstream in
LocalStack's interpreter, PR #13706); aws-sdk:s3:getObject leaves the Body a stream where AWS gives a string; and Glue
runs always succeed, so a failing run is made by setting its state. Retry intervals are recorded instead of slept."""

import json
import time
import uuid
from collections import Counter
from types import SimpleNamespace

import boto3
import moto
import pytest
import requests
from conftest import MOTO_SECRET, ROOT, load_job
from moto.glue import models as glue_models
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_glue,
)

from infra.cloudformation import Evaluated, load, state_machine_definition
from stacktags import config
from stacktags.cloud.submit import STATE_MACHINE_ARGUMENTS, STATE_MACHINE_JOBS, state_machine_arguments
from stacktags.glue_entry import job_arguments

PATCHED_MOTO = "5.2.5"  # the corrections below touch moto's private classes: re-check them when moto changes
VERSION = "0.1.0-abc1234"
# what the definition's substitutions stand for here: names no other test of the shared moto server uses
VALUES = {
    "ArtifactsBucket": "sfn-artifacts",
    "ArtifactsPrefix": "stacktags",
    "DataBucket": "sfn-data",
    "LandingPrefix": "landing",
    "GlueJobPrefix": "sfn-",
}
PASSED = ["ReadArguments", "JobOptions", "Ingest", "Clean", "Retrain", "Train", "Evaluate", "ReadDecision", "Gate"]


def glue_sync_without_callback(self, env, resource_runtime_part, normalised_parameters, state_credentials):
    """StateTaskServiceGlue._eval_integration_pattern less its .waitForTaskToken cleanup, which Glue's .sync has no
    endpoint for (moto 5.2.5's failing `interrupt_all()` on None)."""
    task_output = env.stack.pop()
    self.timeout.eval(env=env)
    timeout_seconds = env.stack.pop()
    env.stack.append(task_output)  # the sync resolver pops StartJobRun's output
    resolver = self._build_sync_resolver(
        env=env,
        resource_runtime_part=resource_runtime_part,
        normalised_parameters=normalised_parameters,
        state_credentials=state_credentials,
    )
    env.stack.append(
        self._eval_sync(
            env=env,
            sync_resolver=resolver,
            timeout_seconds=timeout_seconds,
            callback_endpoint=None,
            heartbeat_endpoint=None,
        )
    )


@pytest.fixture(scope="module")
def template():
    return load()


@pytest.fixture(scope="module")
def world(moto_endpoint, template):
    """moto's Step Functions interpreter switched on (off afterwards), the corrections above, and what the machine
    calls: the Glue jobs, the buckets with the published arguments, the topic with a queue subscribed to read it."""
    assert moto.__version__ == PATCHED_MOTO, "moto changed: check whether the corrections of this module still apply"
    world = SimpleNamespace(failures=Counter(), runs=Counter(), slept=[])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_PORT", moto_endpoint.rsplit(":", 1)[1])  # where the interpreter's own clients call moto
        for name, value in (("AWS_ACCESS_KEY_ID", "local-test-key"), ("AWS_SECRET_ACCESS_KEY", MOTO_SECRET)):
            patch.setenv(name, value)
        patch.setattr(
            state_task_service_glue.StateTaskServiceGlue, "_eval_integration_pattern", glue_sync_without_callback
        )
        original_sdk_task = state_task_service_aws_sdk.StateTaskServiceAwsSdk._eval_service_task

        def sdk_task_with_string_body(self, env, *args, **kwargs):
            original_sdk_task(self, env, *args, **kwargs)
            output = env.stack[-1]
            if isinstance(output, dict) and hasattr(output.get("Body"), "read"):
                output["Body"] = output["Body"].read().decode("utf-8")

        patch.setattr(
            state_task_service_aws_sdk.StateTaskServiceAwsSdk, "_eval_service_task", sdk_task_with_string_body
        )
        patch.setattr(retrier_decl, "time", SimpleNamespace(sleep=world.slept.append))
        original_start = glue_models.FakeJob.start_job_run

        def start_job_run(job, *args, **kwargs):
            run_id = original_start(job, *args, **kwargs)
            world.runs[job.name] += 1
            if world.failures[job.name] > 0:
                world.failures[job.name] -= 1
                job.job_runs[-1].status = "FAILED"
            return run_id

        patch.setattr(glue_models.FakeJob, "start_job_run", start_job_run)
        config_url = f"{moto_endpoint}/moto-api/config"
        requests.post(
            config_url, json={"stepfunctions": {"execute_state_machine": True}}, timeout=10
        ).raise_for_status()
        try:
            make_resources(world, moto_endpoint, template)
            yield world
        finally:
            requests.post(config_url, json={"stepfunctions": {"execute_state_machine": False}}, timeout=10)


def make_resources(world, endpoint: str, template) -> None:
    def client(service):
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")

    world.glue, world.s3, world.sqs, world.sfn = client("glue"), client("s3"), client("sqs"), client("stepfunctions")
    for job in STATE_MACHINE_JOBS:
        world.glue.create_job(
            Name=f"{VALUES['GlueJobPrefix']}{job}",
            Role="arn:aws:iam::123456789012:role/glue",
            Command={"Name": "glueetl", "ScriptLocation": "s3://sfn-artifacts/stacktags/glue/glue_entry.py"},
        )
    for bucket in (VALUES["ArtifactsBucket"], VALUES["DataBucket"]):
        world.s3.create_bucket(Bucket=bucket)
    cfg = config.load(
        ROOT / "conf" / "glue.toml",
        settings=[f'aws.artifacts="s3://{VALUES["ArtifactsBucket"]}/{VALUES["ArtifactsPrefix"]}"'],
    )
    world.published = state_machine_arguments(cfg, VERSION, [])
    publish(world)
    sns = client("sns")
    topic = sns.create_topic(Name="sfn-pipeline")["TopicArn"]
    world.queue = world.sqs.create_queue(QueueName="sfn-news")["QueueUrl"]
    queue_arn = world.sqs.get_queue_attributes(QueueUrl=world.queue, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["QueueArn"])
    definition = state_machine_definition(template, VALUES | {"NotificationTopic": topic})
    world.machine = world.sfn.create_state_machine(
        name="sfn-pipeline", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]


def publish(world) -> None:
    """What scripts/publish.sh writes (tests/test_cloud_submit.py tests that it does)."""
    world.s3.put_object(
        Bucket=VALUES["ArtifactsBucket"],
        Key=f"{VALUES['ArtifactsPrefix']}/{STATE_MACHINE_ARGUMENTS}",
        Body=json.dumps(world.published).encode(),
    )


@pytest.fixture
def aws(world):
    """The module's world with no failures planned, no runs counted, no retry slept, no notification waiting."""
    world.failures.clear()
    world.runs.clear()
    world.slept.clear()
    notifications(world)
    return world


def execute(aws, retrain: bool, decision: dict | None = None) -> tuple[dict, list[str]]:
    """One execution (with the gate's decision file that evaluate would write): its description and the states it
    entered, in order."""
    name = f"run-{uuid.uuid4().hex[:12]}"
    if decision is not None:
        aws.s3.put_object(
            Bucket=VALUES["DataBucket"], Key=f"state-machine/gates/{name}.json", Body=json.dumps(decision).encode()
        )
    arn = aws.sfn.start_execution(
        stateMachineArn=aws.machine, name=name, input=json.dumps({"trigger": "test", "retrain": retrain})
    )["executionArn"]
    deadline = time.monotonic() + 60
    while (described := aws.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end within a minute"
        time.sleep(0.1)
    events = aws.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    path = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]
    return described, path


def notifications(aws) -> list[dict]:
    messages = aws.sqs.receive_message(QueueUrl=aws.queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    )
    return [json.loads(m["Body"]) for m in messages]


def last_run_arguments(aws, job: str) -> dict:
    runs = aws.glue.get_job_runs(JobName=f"{VALUES['GlueJobPrefix']}{job}")["JobRuns"]
    return max(runs, key=lambda run: run["StartedOn"])["Arguments"]


@pytest.mark.parametrize(
    ("decision", "branch", "subject", "message"),
    [
        (
            {"model_version": 2, "stage": "champion", "promoted": True, "reason": "micro_f1 0.61 vs 0.60"},
            "Promoted",
            "stacktags: a new champion model",
            "Model 2 is the champion: micro_f1 0.61 vs 0.60",
        ),
        (
            {"model_version": 3, "stage": "rejected", "promoted": False, "reason": "micro_f1 0.55 < 0.60 - 0.005"},
            "Rejected",
            "stacktags: a candidate model was rejected",
            "Model 3 is rejected: micro_f1 0.55 < 0.60 - 0.005",
        ),
    ],
    ids=["passing gate", "failing gate"],
)
def test_the_gate_decides_the_branch_and_its_news_and_every_job_runs_the_published_version(
    aws, decision, branch, subject, message
):
    described, path = execute(aws, retrain=True, decision=decision)
    assert described["status"] == "SUCCEEDED", described
    assert path == [*PASSED, branch, "Score", "Monitor", "Done"]
    (news,) = notifications(aws)
    assert (news["Subject"], news["Message"]) == (subject, message)
    for job in STATE_MACHINE_JOBS:  # the published arguments, and this execution's options where it adds some
        arguments, published = last_run_arguments(aws, job), aws.published["jobs"][job]
        assert {key: arguments[key] for key in published} == published
        assert {key: value for key, value in arguments.items() if key not in published} == {
            "ingest": {"--source": f"s3://{VALUES['DataBucket']}/{VALUES['LandingPrefix']}/"},
            "evaluate": {
                "--decision-file": f"s3://{VALUES['DataBucket']}/state-machine/gates/{described['name']}.json"
            },
        }.get(job, {})
        # what the Glue entry script makes of them, the job's own parser accepts
        name, argv = job_arguments([token for pair in arguments.items() for token in pair if token != ""])
        assert name == job
        load_job(job).parse_args(argv)


def test_without_retraining_the_new_questions_are_cleaned_and_scored(aws):
    described, path = execute(aws, retrain=False)
    assert described["status"] == "SUCCEEDED", described
    assert path == ["ReadArguments", "JobOptions", "Ingest", "Clean", "Retrain", "Score", "Monitor", "Done"]
    assert aws.runs["sfn-train"] == 0 and notifications(aws) == []


def test_a_step_that_fails_twice_is_retried_with_backoff_and_the_execution_succeeds(aws):
    aws.failures["sfn-clean"] = 2
    described, path = execute(aws, retrain=False)
    assert described["status"] == "SUCCEEDED", described
    assert path == ["ReadArguments", "JobOptions", "Ingest", "Clean", "Retrain", "Score", "Monitor", "Done"]
    assert aws.runs["sfn-clean"] == 3
    assert aws.slept == [60.0, 120.0]  # IntervalSeconds, then times BackoffRate


def test_a_step_that_keeps_failing_is_notified_and_fails_the_execution(aws):
    aws.failures["sfn-clean"] = 3
    described, path = execute(aws, retrain=True)
    assert described["status"] == "FAILED", described
    assert path == ["ReadArguments", "JobOptions", "Ingest", "Clean", "NotifyFailure", "Failed"]
    assert aws.runs["sfn-clean"] == 3 and aws.runs["sfn-train"] == 0
    (news,) = notifications(aws)
    assert news["Subject"] == "stacktags: the pipeline failed"
    assert news["Message"].startswith(f"Execution {described['name']} failed: ")
    assert json.loads(news["Message"].split(" failed: ", 1)[1])["Error"] == "States.TaskFailed"
    history = aws.sfn.get_execution_history(executionArn=described["executionArn"], maxResults=1000)["events"]
    assert history[-1]["executionFailedEventDetails"]["error"] == "PipelineFailed"


def test_a_monitor_run_that_alerts_is_not_retried_and_its_news_says_so(aws):
    aws.failures["sfn-monitor"] = 1  # the job's exit status 3
    described, path = execute(aws, retrain=False)
    assert described["status"] == "FAILED", described
    assert path == ["ReadArguments", "JobOptions", "Ingest", "Clean", "Retrain", "Score", "Monitor", "NotifyMonitor",
                    "MonitorFailed"]  # fmt: skip
    assert aws.runs["sfn-monitor"] == 1 and aws.slept == []
    (news,) = notifications(aws)
    assert news["Subject"] == "stacktags: drift alerts, or a failed monitor run"
    assert news["Message"].startswith(f"Execution {described['name']}: the monitor run ended with an error")
    history = aws.sfn.get_execution_history(executionArn=described["executionArn"], maxResults=1000)["events"]
    assert history[-1]["executionFailedEventDetails"]["error"] == "MonitorAlerted"


def test_unpublished_arguments_fail_the_execution_with_a_notification(aws):
    aws.s3.delete_object(Bucket=VALUES["ArtifactsBucket"], Key=f"{VALUES['ArtifactsPrefix']}/{STATE_MACHINE_ARGUMENTS}")
    described, path = execute(aws, retrain=False)
    assert described["status"] == "FAILED" and path == ["ReadArguments", "NotifyFailure", "Failed"]
    (news,) = notifications(aws)
    assert "NoSuchKey" in news["Message"]
    assert sum(aws.runs.values()) == 0
    publish(aws)


def test_the_landing_rule_matches_a_batchs_success_object_only(moto_endpoint, aws_credentials, template):
    """moto delivers no rule's events to Step Functions: the template's pattern goes on a rule with a queue target."""
    evaluated = Evaluated(template)
    pattern = evaluated(template["Resources"]["LandingRule"]["Properties"]["EventPattern"])
    pattern["detail"]["bucket"]["name"] = ["sfn-landing"]
    session = boto3.Session(region_name="us-east-1")
    s3, events, sqs = (session.client(s, endpoint_url=moto_endpoint) for s in ("s3", "events", "sqs"))
    s3.create_bucket(Bucket="sfn-landing")
    s3.put_bucket_notification_configuration(
        Bucket="sfn-landing", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    queue = sqs.create_queue(QueueName="sfn-landing-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="sfn-landing", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="sfn-landing", Targets=[{"Id": "queue", "Arn": queue_arn}])
    for key in ("landing/2026-12-02/Questions.csv", "landing/2026-12-02/_SUCCESS", "archive/2026-12-01/_SUCCESS"):
        s3.put_object(Bucket="sfn-landing", Key=key, Body=b"")
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert [json.loads(m["Body"])["detail"]["object"]["key"] for m in received] == ["landing/2026-12-02/_SUCCESS"]
