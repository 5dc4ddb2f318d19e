"""infra/stacktags.yaml against what the code submits and what the issue promises, where cfn-lint and checkov
(scripts/lint-infra.sh) do not look: one Glue job per job file under the name scripts/submit.sh starts, defaults that
are the conf files' example values, roles that grant what a run reads and writes and nothing with a wildcard, buckets
encrypted with the project key, versioned, private and TLS-only. The template is read as CloudFormation's YAML, its
Fn::ForEach loops expanded as the AWS::LanguageExtensions transform does, and evaluated with its parameters' defaults
(no JVM, no AWS)."""

import fnmatch
import json
import re

import pytest
from conftest import ROOT

from infra.cloudformation import FOR_EACH, TEMPLATE, Evaluated, expand_for_each, load_raw, state_machine_definition
from stacktags import config
from stacktags.cloud.requests import run_request
from stacktags.cloud.submit import STATE_MACHINE_ARGUMENTS, STATE_MACHINE_JOBS
from stacktags.glue_entry import GLUE_ARGUMENTS, JOB_ARGUMENT
from stacktags.lines import CONF_FOLDERS, conf_dir

VERSION = "0.1.0-abc1234"


@pytest.fixture(scope="module")
def raw_template():
    return load_raw()


@pytest.fixture(scope="module")
def template(raw_template):
    return expand_for_each(raw_template)


@pytest.fixture(scope="module")
def evaluated(template):
    return Evaluated(template)


def as_list(value):
    return value if isinstance(value, list) else [value]


def policy_documents(template):
    """(where, document) of every identity policy: the roles' inline policies and the managed policies."""
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                yield f"{name}/{policy['PolicyName']}", policy["PolicyDocument"]
        elif resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            yield name, resource["Properties"]["PolicyDocument"]


def allows(evaluated, principal, action, resource):
    """Whether one of the Allow statements of a role or managed policy names the action and the resource (IAM's
    wildcards; conditions are not evaluated)."""
    resources = evaluated.template["Resources"]
    properties = resources[principal]["Properties"]
    documents = [p["PolicyDocument"] for p in properties["Policies"]] if "Policies" in properties else []
    documents += [  # the policies that name the role
        r["Properties"]["PolicyDocument"]
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": principal} in r["Properties"]["Roles"]
    ]
    for document in documents or [properties["PolicyDocument"]]:
        for statement in document["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            actions = [a.lower() for a in as_list(statement["Action"])]
            resources = as_list(evaluated(statement["Resource"]))
            if any(fnmatch.fnmatchcase(action.lower(), a) for a in actions) and any(
                fnmatch.fnmatchcase(resource, r) for r in resources
            ):
                return True
    return False


def s3_arn(uri):
    return "arn:aws:s3:::" + uri.removeprefix("s3://")


def glue_jobs(evaluated):
    """{stage: resource} of the Glue jobs, by the job file each runs."""
    jobs = [
        (evaluated(r["Properties"]["DefaultArguments"][JOB_ARGUMENT]), r)
        for r in evaluated.resources("AWS::Glue::Job").values()
    ]
    assert len(dict(jobs)) == len(jobs), "two Glue jobs run one job file"
    return dict(jobs)


def test_expand_for_each_makes_what_the_language_extensions_transform_makes():
    loop = [
        "Cidr",
        ["10.0.2.0/24", "10.0.3.0/24"],
        {
            "Subnet&{Cidr}": {"Properties": {"CidrBlock": {"Ref": "Cidr"}, "Name": {"Fn::Sub": "${Prefix}-${Cidr}"}}},
            "Fn::ForEach::Tags": ["Kind", ["a", "b"], {"Tag${Kind}&{Cidr}": {"Fn::Sub": "${Kind} ${Cidr}"}}],
        },
    ]
    assert expand_for_each({"Fn::ForEach::Subnets": loop, "Other": {"Ref": "Cidr"}}) == {
        "Subnet1002024": {"Properties": {"CidrBlock": "10.0.2.0/24", "Name": {"Fn::Sub": "${Prefix}-10.0.2.0/24"}}},
        "Taga1002024": {"Fn::Sub": "a 10.0.2.0/24"},
        "Tagb1002024": {"Fn::Sub": "b 10.0.2.0/24"},
        "Subnet1003024": {"Properties": {"CidrBlock": "10.0.3.0/24", "Name": {"Fn::Sub": "${Prefix}-10.0.3.0/24"}}},
        "Taga1003024": {"Fn::Sub": "a 10.0.3.0/24"},
        "Tagb1003024": {"Fn::Sub": "b 10.0.3.0/24"},
        "Other": {"Ref": "Cidr"},
    }
    with pytest.raises(AssertionError, match="made twice"):
        expand_for_each({"Fn::ForEach::Jobs": ["Stage", ["a-b", "ab"], {"&{Stage}Job": {}}]})


def test_the_glue_jobs_are_one_loop_of_the_language_extensions_transform(raw_template, template):
    assert raw_template["Transform"] == "AWS::LanguageExtensions"
    loops = {key: value for key, value in raw_template["Resources"].items() if key.startswith(FOR_EACH)}
    assert list(loops) == ["Fn::ForEach::GlueJobs"]
    assert all(r["Type"] != "AWS::Glue::Job" for key, r in raw_template["Resources"].items() if key not in loops)
    # the logical IDs CloudFormation gives them: letters and digits only, none taken by another resource
    _, stages, _ = loops["Fn::ForEach::GlueJobs"]
    made = {key for key, r in template["Resources"].items() if r["Type"] == "AWS::Glue::Job"}
    assert made == {f"{stage}Job" for stage in stages} and all(re.fullmatch(r"[A-Za-z0-9]+", key) for key in made)
    assert len(template["Resources"]) == len(raw_template["Resources"]) - 1 + len(stages)


def test_one_glue_job_per_job_file_under_the_name_submit_starts_with_the_entry_script_it_uploads(evaluated):
    jobs = glue_jobs(evaluated)
    assert set(jobs) == {path.stem for path in (ROOT / "jobs").glob("*.py")}
    cfg = config.load(ROOT / "conf" / "glue.toml")
    for stage, job in jobs.items():
        request = run_request("glue", cfg, stage, [], VERSION)
        properties = evaluated(job["Properties"])
        assert properties["Name"] == request.params["JobName"]
        assert properties["Command"] == {
            "Name": "glueetl",
            "PythonVersion": "3",
            "ScriptLocation": f"{cfg.require('aws', 'artifacts')}/glue/glue_entry.py",
        }
        assert properties["GlueVersion"] == cfg.require("glue", "glue_version") == "6.0"
        # an argument a run sends too has the same value here; the others are Glue's, which the entry script drops
        defaults, sent = properties["DefaultArguments"], request.params["Arguments"]
        shared = [key for key in defaults if key in sent]
        assert JOB_ARGUMENT in shared and [defaults[key] for key in shared] == [sent[key] for key in shared]
        assert set(defaults) - {JOB_ARGUMENT} <= GLUE_ARGUMENTS
        assert properties["Role"] == "<GlueJobRole.Arn>" and properties["SecurityConfiguration"] == evaluated.ref(
            "GlueSecurityConfiguration"
        )


def test_the_parameters_defaults_are_the_conf_files_example_values(evaluated):
    glue = config.load(ROOT / "conf" / "glue.toml")
    serverless = config.load(ROOT / "conf" / "emr-serverless.toml")
    outputs = {name: evaluated(output["Value"]) for name, output in evaluated.template["Outputs"].items()}
    for cfg in (glue, serverless):
        assert outputs["ArtifactsUri"] == cfg.require("aws", "artifacts")
        assert outputs["WarehouseUri"] == cfg.warehouse
        assert outputs["DatabaseName"] == cfg.database
        assert outputs["Region"] == cfg.require("aws", "region")
    assert outputs["GlueJobPrefix"] == glue.require("glue", "job_prefix")
    parameters = evaluated.parameters
    assert (parameters["GlueWorkerType"], parameters["GlueWorkers"], parameters["GlueTimeoutMinutes"]) == (
        glue.require("glue", "worker_type"),
        glue.require("glue", "workers"),
        glue.require("glue", "timeout_minutes"),
    )
    assert outputs["EmrServerlessLogsUri"] == serverless.require("aws", "logs")
    role_name = evaluated(evaluated.template["Resources"]["EmrServerlessJobRole"]["Properties"]["RoleName"])
    assert serverless.require("emr_serverless", "execution_role").endswith(f":role/{role_name}")


def test_the_emr_serverless_application_runs_the_release_the_conf_names(evaluated):
    (application,) = evaluated.resources("AWS::EMRServerless::Application").values()
    properties = evaluated(application["Properties"])
    serverless = config.load(ROOT / "conf" / "emr-serverless.toml")
    assert properties["ReleaseLabel"] == serverless.require("emr_serverless", "release_label") == "emr-spark-8.1.0"
    assert properties["Type"] == "SPARK" and properties["Architecture"] == "X86_64"
    assert properties["AutoStartConfiguration"]["Enabled"] and properties["AutoStopConfiguration"]["Enabled"]


@pytest.mark.parametrize("line", sorted(CONF_FOLDERS))
def test_each_runtime_lines_glue_version_and_emr_serverless_release_is_a_choice_of_the_stack(evaluated, line):
    """The stack's GlueVersion and EmrServerlessReleaseLabel parameters: 6.0 and emr-spark-8.1.0 by default (the 4.1
    line), 5.1 and emr-7.12.0 for the 3.5 line; its conf files name them."""
    parameters = evaluated.template["Parameters"]
    glue = config.load(conf_dir(ROOT, line) / "glue.toml")
    serverless = config.load(conf_dir(ROOT, line) / "emr-serverless.toml")
    assert glue.require("glue", "glue_version") in parameters["GlueVersion"]["AllowedValues"]
    assert (
        serverless.require("emr_serverless", "release_label")
        in parameters["EmrServerlessReleaseLabel"]["AllowedValues"]
    )


@pytest.mark.parametrize("target, role", [("glue", "GlueJobRole"), ("emr-serverless", "EmrServerlessJobRole")])
def test_a_jobs_role_may_read_every_artifact_its_run_names_and_write_the_tables(evaluated, target, role):
    cfg = config.load(ROOT / "conf" / f"{target}.toml")
    request = run_request(target, cfg, "train", [], VERSION)
    if target == "glue":
        arguments = request.params["Arguments"]
        job = glue_jobs(evaluated)["train"]["Properties"]
        reads = [evaluated(job["Command"]["ScriptLocation"]), arguments["--extra-py-files"], arguments["--extra-jars"]]
        reads += arguments["--extra-files"].split(",")
        reads += [
            module for module in arguments["--additional-python-modules"].split(",") if module.startswith("s3://")
        ]
    else:
        driver = request.params["jobDriver"]["sparkSubmit"]
        words = driver["sparkSubmitParameters"].split()
        reads = [driver["entryPoint"], words[words.index("--jars") + 1], *words[words.index("--files") + 1].split(",")]
        reads += [word.split("=", 1)[1].split("#")[0] for word in words if word.startswith("spark.archives=")]
        log = request.params["configurationOverrides"]["monitoringConfiguration"]["s3MonitoringConfiguration"]["logUri"]
        assert allows(evaluated, role, "s3:PutObject", s3_arn(f"{log}applications/00app/jobs/00run/SPARK_DRIVER/x"))
    assert len(reads) >= 5 and all(uri.startswith("s3://") for uri in reads)
    for uri in reads:
        assert allows(evaluated, role, "s3:GetObject", s3_arn(uri)), uri
        assert not allows(evaluated, role, "s3:PutObject", s3_arn(uri)), uri
    table = f"{cfg.warehouse}/{cfg.database}.db/questions_clean/part-00000.parquet"
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert allows(evaluated, role, action, s3_arn(table))
    catalog = "arn:aws:glue:us-east-1:123456789012"
    for action in ("glue:GetTable", "glue:CreateTable", "glue:UpdateTable"):
        assert allows(evaluated, role, action, f"{catalog}:table/{cfg.database}/questions_clean")
    assert allows(evaluated, role, "glue:GetDatabase", f"{catalog}:database/{cfg.database}")
    assert not allows(evaluated, role, "glue:CreateTable", f"{catalog}:table/another_database/questions_clean")
    assert not allows(evaluated, role, "s3:GetObject", "arn:aws:s3:::another-bucket/key")


@pytest.mark.parametrize("target", ["glue", "emr-serverless"])
def test_the_submit_policy_allows_what_submit_calls_for_a_run(evaluated, target):
    cfg = config.load(ROOT / "conf" / f"{target}.toml")
    request = run_request(target, cfg, "train", [], VERSION)
    sums = s3_arn(f"{cfg.require('aws', 'artifacts')}/{VERSION}/SHA256SUMS")
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert allows(evaluated, "SubmitPolicy", action, sums)
    assert not allows(evaluated, "SubmitPolicy", "s3:PutObject", s3_arn(f"{cfg.warehouse}/x"))
    if target == "glue":
        job = f"arn:aws:glue:us-east-1:123456789012:job/{request.params['JobName']}"
        calls = ["glue:GetJob", "glue:StartJobRun", "glue:GetJobRun"]
    else:
        job = "<SparkApplication.Arn>"
        calls = ["emr-serverless:GetApplication", "emr-serverless:StartJobRun"]
        assert allows(evaluated, "SubmitPolicy", "emr-serverless:GetJobRun", f"{job}/jobruns/00run")
        assert allows(evaluated, "SubmitPolicy", "iam:PassRole", "<EmrServerlessJobRole.Arn>")
    for action in calls:
        assert allows(evaluated, "SubmitPolicy", action, job), action


def test_no_policy_grants_every_action_or_every_resource_and_no_role_takes_a_managed_policy(template, evaluated):
    documents = list(policy_documents(template))
    assert {where.split("/")[0] for where, _ in documents} == {
        "GlueJobRole",
        "EmrServerlessJobRole",
        "SubmitPolicy",
        "StateMachineRole",
        "RulesRole",
        "MonitorNotificationsPolicy",
    }
    buckets = [f"arn:aws:s3:::{evaluated.ref(name)}" for name in evaluated.resources("AWS::S3::Bucket")]
    project = (
        *buckets,
        "<ProjectKey.Arn>",
        "<SparkApplication.Arn>",
        "<EmrServerlessJobRole.Arn>",
        "<NotificationTopic>",
        "<PipelineStateMachine>",
        "arn:aws:glue:us-east-1:123456789012:",
        f"arn:aws:logs:us-east-1:123456789012:log-group:/aws-glue/{evaluated.parameters['ProjectName']}/",
    )
    for where, document in documents:
        for statement in document["Statement"]:
            actions, resources = as_list(statement["Action"]), as_list(evaluated(statement["Resource"]))
            assert not [a for a in actions if a == "*" or a.endswith(":*")], (where, statement)
            if actions == ["cloudwatch:PutMetricData"]:  # an action without resources: confined to a namespace
                namespace = evaluated(statement["Condition"]["StringEquals"]["cloudwatch:namespace"])
                assert resources == ["*"] and namespace == evaluated.parameters["ProjectName"]
                continue
            assert "*" not in resources, (where, statement)
            assert all(resource.startswith(project) for resource in resources), (where, resources)
    for role in evaluated.resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]
    glue_resources = [
        r
        for _, document in documents
        for statement in document["Statement"]
        for r in as_list(evaluated(statement["Resource"]))
        if r.startswith("arn:aws:glue:") and ":job/" not in r
    ]
    database = evaluated.parameters["DatabaseName"]
    assert set(glue_resources) == {
        "arn:aws:glue:us-east-1:123456789012:catalog",
        f"arn:aws:glue:us-east-1:123456789012:database/{database}",
        f"arn:aws:glue:us-east-1:123456789012:table/{database}/*",
        "arn:aws:glue:us-east-1:123456789012:database/default",
    }


def test_every_bucket_is_encrypted_with_the_project_key_versioned_private_and_tls_only(template, evaluated):
    buckets = evaluated.resources("AWS::S3::Bucket")
    assert {evaluated.ref(name) for name in buckets} == {"stacktags-data", "stacktags-artifacts", "stacktags-logs"}
    policies = {p["Properties"]["Bucket"]["Ref"]: p for p in evaluated.resources("AWS::S3::BucketPolicy").values()}
    for name, bucket in buckets.items():
        properties = bucket["Properties"]
        (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": {"Fn::GetAtt": ["ProjectKey", "Arn"]},
        }
        assert rule["BucketKeyEnabled"] is True
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
        assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
        assert len(properties["PublicAccessBlockConfiguration"]) == 4
        assert bucket["DeletionPolicy"] == "Retain"
        arn = evaluated.attribute(name, "Arn")
        (deny,) = [s for s in policies[name]["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert (deny["Principal"], deny["Action"]) == ("*", "s3:*")
        assert sorted(evaluated(deny["Resource"])) == [arn, f"{arn}/*"]
        assert str(deny["Condition"]["Bool"]["aws:SecureTransport"]).lower() == "false"
        rules = properties["LifecycleConfiguration"]["Rules"]
        assert any("NoncurrentVersionExpiration" in r for r in rules)
    for name in ("DataBucket", "ArtifactsBucket"):
        assert buckets[name]["Properties"]["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "LogsBucket"}
    (expiry,) = [
        r for r in buckets["LogsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r
    ]
    assert expiry["Status"] == "Enabled" and expiry["ExpirationInDays"] == {"Ref": "LogRetentionDays"}
    key = template["Resources"]["ProjectKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    assert all(statement["Principal"] != "*" for statement in key["KeyPolicy"]["Statement"])


def test_the_glue_jobs_log_to_the_projects_log_groups_encrypted_with_its_key(evaluated):
    groups = {
        evaluated(g["Properties"]["LogGroupName"]): g for g in evaluated.resources("AWS::Logs::LogGroup").values()
    }
    for job in evaluated.resources("AWS::Glue::Job").values():
        prefix = evaluated(job["Properties"]["DefaultArguments"]["--custom-logGroup-prefix"])
        assert set(groups) == {f"{prefix}/output", f"{prefix}/error"}
    for name, group in groups.items():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["ProjectKey", "Arn"]}
        stream = f"arn:aws:logs:us-east-1:123456789012:log-group:{name}:log-stream:jr_0123-driver"
        assert allows(evaluated, "GlueJobRole", "logs:PutLogEvents", stream)
    assert not allows(
        evaluated,
        "GlueJobRole",
        "logs:PutLogEvents",
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws-glue/jobs/output:log-stream:x",
    )


def test_every_skipped_check_says_why(template):
    skips = [
        (name, skip)
        for name, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips  # the template's skips are read where checkov reads them
    for name, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]) and len(skip.get("comment", "")) > 40, (name, skip)
    # cfn-lint's ignores (Metadata: cfn-lint: config: ignore_checks) have no field for a reason: each rule ignored
    # carries it as a comment on its line
    lines = TEMPLATE.read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"\s*ignore_checks:", line):
            inline = line.partition("ignore_checks:")[2].strip()
            items = [line] if inline and not inline.startswith("#") else []
            indent = len(line) - len(line.lstrip())
            for item in lines[number + 1 :]:
                if len(item) - len(item.lstrip()) <= indent or not item.lstrip().startswith("- "):
                    break
                items.append(item)
            assert items and all(re.search(r"#\s*\S", item) for item in items), (number + 1, line)


def glue_tasks(definition):
    """{job: state} of the state machine's Glue tasks."""
    prefix = "stacktags-"
    return {
        state["Parameters"]["JobName"].removeprefix(prefix): state
        for state in definition["States"].values()
        if state.get("Resource", "").startswith("arn:aws:states:::glue:")
    }


def test_the_state_machine_runs_the_published_jobs_under_their_glue_names_and_may_do_what_it_does(template, evaluated):
    definition = state_machine_definition(template)
    tasks = glue_tasks(definition)
    assert sorted(tasks) == sorted(STATE_MACHINE_JOBS)  # what scripts/publish.sh writes arguments for
    assert set(tasks) <= set(glue_jobs(evaluated))
    for job, state in tasks.items():
        assert state["Resource"] == "arn:aws:states:::glue:startJobRun.sync"
        retried = {error for retry in state["Retry"] for error in retry["ErrorEquals"]}
        assert "Glue.ConcurrentRunsExceededException" in retried
        # a failed evaluate may have applied the gate, a failed monitor raised alerts: not run again
        assert ("States.TaskFailed" in retried) == (job not in ("evaluate", "monitor")), job
        assert state["Catch"][0]["Next"] == ("NotifyMonitor" if job == "monitor" else "NotifyFailure")
        job_arn = f"arn:aws:glue:us-east-1:123456789012:job/stacktags-{job}"
        for action in ("glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"):
            assert allows(evaluated, "StateMachineRole", action, job_arn), (action, job)
    reads = definition["States"]["ReadArguments"]["Parameters"]
    assert allows(evaluated, "StateMachineRole", "s3:GetObject", f"arn:aws:s3:::{reads['Bucket']}/{reads['Key']}")
    assert reads["Key"].endswith(STATE_MACHINE_ARGUMENTS)
    decision = definition["States"]["JobOptions"]["Parameters"]["evaluate"]["--decision-file.$"]
    assert "s3://stacktags-data/state-machine/gates/" in decision
    assert allows(evaluated, "StateMachineRole", "s3:GetObject", "arn:aws:s3:::stacktags-data/state-machine/gates/x")
    assert allows(evaluated, "GlueJobRole", "s3:PutObject", "arn:aws:s3:::stacktags-data/state-machine/gates/x")
    assert allows(evaluated, "StateMachineRole", "sns:Publish", "<NotificationTopic>")
    assert allows(evaluated, "RulesRole", "states:StartExecution", "<PipelineStateMachine>")


def test_both_rules_start_the_state_machine_saying_whether_to_retrain(template):
    rules = {name: r["Properties"] for name, r in template["Resources"].items() if r["Type"] == "AWS::Events::Rule"}
    assert set(rules) == {"LandingRule", "NightlyRule"}
    landing = rules["LandingRule"]["Targets"][0]["InputTransformer"]["InputTemplate"]
    assert json.loads(landing.replace("<key>", '"landing/x/_SUCCESS"'))["retrain"] is False
    assert json.loads(rules["NightlyRule"]["Targets"][0]["Input"])["retrain"] is True
    for rule in rules.values():
        assert rule["Targets"][0]["Arn"] == {"Ref": "PipelineStateMachine"}
    data_bucket = template["Resources"]["DataBucket"]["Properties"]
    assert data_bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True


@pytest.mark.parametrize("target, role", [("glue", "GlueJobRole"), ("emr-serverless", "EmrServerlessJobRole")])
def test_a_jobs_role_may_send_the_monitors_alerts_and_metrics_where_the_conf_says(evaluated, target, role):
    cfg = config.load(ROOT / "conf" / f"{target}.toml")
    assert cfg.get("monitor", "cloudwatch_namespace") == evaluated.parameters["ProjectName"]
    assert allows(evaluated, role, "cloudwatch:PutMetricData", "*")
    assert allows(evaluated, role, "sns:Publish", "<NotificationTopic>")
    assert not allows(evaluated, role, "sns:Publish", "arn:aws:sns:us-east-1:123456789012:another-topic")
