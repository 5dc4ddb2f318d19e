"""The cloud targets' requests (scripts/submit.sh JOB --target glue|emr|emr-serverless --dry-run): valid for botocore's
model of each operation, carrying the packaged artifacts, Delta and the target's Spark settings, and nothing of this
machine (no JVM, no AWS)."""

import json
import subprocess

import pytest
from conftest import CONF, LINE, ROOT

from stacktags import config
from stacktags.cloud.requests import LOCAL_ONLY, CloudRequestError, run_request
from stacktags.cloud.validate import request_errors
from stacktags.glue_entry import job_arguments
from stacktags.jars import spark_nlp_jars

VERSION = "0.1.0-abc1234"
JOB_ARGS = ["--source", "s3://lake/new", "--set", "train.num_tags=1000", "--set=ingest.encoding=latin-1", "--verbose"]


def request(target, *settings, job="train", job_args=JOB_ARGS):
    cfg = config.load(ROOT / "conf" / f"{target}.toml", settings=list(settings))
    return run_request(target, cfg, job, job_args, VERSION)


def dry_run(target, *args):
    return subprocess.run(
        [ROOT / "scripts" / "submit.sh", "train", "--target", target, "--dry-run", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "target, service, operation",
    [
        ("glue", "glue", "StartJobRun"),
        ("emr", "emr", "AddJobFlowSteps"),
        ("emr-serverless", "emr-serverless", "StartJobRun"),
    ],
)
def test_dry_run_prints_one_request_that_botocore_validates_and_calls_nothing(target, service, operation):
    result = dry_run(target, *JOB_ARGS)
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    printed = json.loads(line)
    assert (printed["service"], printed["operation"]) == (service, operation)
    assert request_errors(service, operation, printed["params"]) == []
    text = json.dumps(printed)
    assert "/stacktags-artifacts/stacktags/0.1.0-" in text  # the package's version, uploaded under [aws] artifacts
    assert not [local for local in (str(ROOT), ".venv", "local[", "127.0.0.1") if local in text]


@pytest.mark.parametrize(
    "target, runtime",
    [("glue", "Spark 3.5: Glue 5.1"), ("emr", "Spark 3.5: EMR emr-7.12.0"), ("emr-serverless", "EMR emr-7.12.0")],
)
def test_the_spark_35_lines_targets_ask_for_its_runtime_and_its_jar(target, runtime):
    """scripts/submit.sh --spark 3.5 JOB --target T: conf/spark3.5/T.toml, the 4.1 line's file with Glue 5.1 or EMR
    7.12, the jar compiled against Spark 3.5 and NumPy 1 in EMR's packed environment; the jobs' own settings (what
    the packaged conf files hold) are the 4.1 line's."""
    line35, line41 = (
        config.load(ROOT / "conf" / "spark3.5" / f"{target}.toml"),
        config.load(ROOT / "conf" / f"{target}.toml"),
    )
    assert {"glue": line35.get("glue", "glue_version"), "emr": line35.get("emr", "release_label")}.get(
        target, line35.get("emr_serverless", "release_label")
    ) in runtime
    assert line35.require("jars", "project").endswith("var/spark3.5/jvm/stacktags.jar")
    assert "numpy==1.26.4" in line35.require("package", "requirements")
    for section in ("catalog", "ingest", "clean", "text", "train", "monitor", "spark", "aws"):
        assert line35.section(section) == line41.section(section), section
    spark_nlp = ["--set", "text.engine=spark-nlp"]  # the 3.5 line's package has it; the 4.1 line's request refuses
    result = subprocess.run(
        [ROOT / "scripts" / "submit.sh", "--spark", "3.5", "train", "--target", target, "--dry-run", *spark_nlp],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    params = json.loads(result.stdout)["params"]
    text = json.dumps(params)
    assert "/stacktags-artifacts/stacktags/0.1.0-" in text and not [p for p in (str(ROOT), "local[") if p in text]
    assert "/jars/spark-nlp/com.johnsnowlabs.nlp_spark-nlp_2.12-5.5.3.jar" in text
    if target == "glue":  # the wheel, then the line's modules, then Spark NLP's
        modules = params["Arguments"]["--additional-python-modules"]
        assert modules.endswith(".whl,numba==0.68.1,scipy==1.17.1,spark-nlp==5.5.3")


def jar_list(target: str, params: dict) -> list[str]:
    """The jars a request adds: Glue's --extra-jars, spark-submit's --jars of an EMR step or EMR Serverless run."""
    if target == "glue":
        return params["Arguments"]["--extra-jars"].split(",")
    if target == "emr":
        options = params["Steps"][0]["HadoopJarStep"]["Args"]
    else:
        options = params["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"].split()
    return options[options.index("--jars") + 1].split(",")


@pytest.mark.parametrize("target", ["glue", "emr", "emr-serverless"])
def test_a_spark_nlp_run_carries_its_packaged_jars_where_the_lines_package_has_them_and_is_refused_elsewhere(target):
    cfg = config.load(CONF / f"{target}.toml", settings=["text.engine=spark-nlp"])  # the tests' line's
    if not cfg.get("package", "spark_nlp"):
        with pytest.raises(
            CloudRequestError,
            match=rf'^text.engine = "spark-nlp": the Spark {LINE} line.s package ships no Spark NLP \(\[package\] '
            r"spark_nlp\); the other line's does: scripts/package.sh --spark 3.5, then scripts/submit.sh --spark 3.5$",
        ):
            run_request(target, cfg, "clean", [], VERSION)
        return
    params = run_request(target, cfg, "clean", [], VERSION).params
    packaged = f"s3://stacktags-artifacts/stacktags/{VERSION}/jars"
    shipped = [f"{packaged}/spark-nlp/{jar.name}" for jar in spark_nlp_jars(ROOT)]
    assert jar_list(target, params) == [f"{packaged}/stacktags.jar", *shipped]
    assert any("spark-nlp_2.12-5.5.3" in uri for uri in shipped) and not [uri for uri in shipped if "delta" in uri]
    if target == "glue":
        assert params["Arguments"]["--additional-python-modules"].endswith(",spark-nlp==5.5.3")
    native = json.dumps(run_request(target, config.load(CONF / f"{target}.toml"), "clean", [], VERSION).params)
    assert "spark-nlp" not in native


@pytest.mark.parametrize("target", ["glue", "emr", "emr-serverless"])
def test_this_machines_launch_settings_do_not_reach_a_cluster_but_its_driver_size_does(target):
    local = {prop: "local-value" for prop in LOCAL_ONLY}
    settings = [f"spark.{prop}={value}" for prop, value in {**local, "spark.driver.memory": "9g"}.items()]
    text = json.dumps(request(target, *settings).params)
    assert "local-value" not in text and "spark.driver.memory=9g" in text


def test_the_glue_run_carries_delta_the_jars_the_wheel_and_the_jobs_options_through_the_adapter():
    params = request("glue").params
    arguments = params["Arguments"]
    assert params["JobName"] == "stacktags-train" and params["WorkerType"] == "G.1X"
    assert arguments["--datalake-formats"] == "delta" and arguments["--enable-glue-datacatalog"] == "true"
    assert arguments["--extra-jars"] == f"s3://stacktags-artifacts/stacktags/{VERSION}/jars/stacktags.jar"
    assert arguments["--extra-py-files"] == f"s3://stacktags-artifacts/stacktags/{VERSION}/jobs/train.py"
    modules = arguments["--additional-python-modules"].split(",")
    assert modules[0] == f"s3://stacktags-artifacts/stacktags/{VERSION}/stacktags-0.1.0-py3-none-any.whl"
    assert [m.split("==")[0] for m in modules[1:]] == ["numba", "scipy"]  # what Glue 6.0 lacks, pinned
    spark = dict(pair.split("=", 1) for pair in arguments["--conf"].split(" --conf "))
    assert spark["spark.sql.extensions"] == config.DELTA_EXTENSION
    assert spark["spark.sql.warehouse.dir"] == "s3://stacktags-data/warehouse"
    # as Glue hands them to the script: its own arguments, then each key and value (an empty value as a flag)
    argv = ["--JOB_ID", "j_1", "--JOB_RUN_ID", "jr_1", "--JOB_NAME", params["JobName"]]
    for key, value in arguments.items():
        argv += [key] if value == "" else [key, value]
    job, job_argv = job_arguments(argv)
    assert job == "train"
    assert job_argv == [
        "--source",
        "s3://lake/new",
        "--verbose",
        "--conf-file",
        "glue.toml",
        "--set",
        "train.num_tags=1000",
        "--set",
        "ingest.encoding=latin-1",
    ]


def test_the_emr_runs_use_the_packed_environment_and_the_jobs_own_arguments():
    step = request("emr").params["Steps"][0]["HadoopJarStep"]
    args = step["Args"]
    assert step["Jar"] == "command-runner.jar" and args[:3] == ["spark-submit", "--deploy-mode", "cluster"]
    confs = {args[i + 1].split("=", 1)[0]: args[i + 1].split("=", 1)[1] for i, a in enumerate(args) if a == "--conf"}
    assert confs["spark.archives"] == f"s3://stacktags-artifacts/stacktags/{VERSION}/environment.tar.gz#environment"
    assert confs["spark.executorEnv.PYSPARK_PYTHON"] == "./environment/bin/python"
    job_file = args.index(f"s3://stacktags-artifacts/stacktags/{VERSION}/jobs/train.py")
    assert args[job_file + 1 :] == [
        "--conf-file",
        "emr.toml",
        "--source",
        "s3://lake/new",
        "--set",
        "train.num_tags=1000",
        "--set",
        "ingest.encoding=latin-1",
        "--verbose",
    ]
    serverless = request("emr-serverless").params["jobDriver"]["sparkSubmit"]
    assert serverless["entryPointArguments"][:2] == ["--conf-file", "emr-serverless.toml"]
    assert (
        "spark.emr-serverless.driverEnv.PYSPARK_PYTHON=./environment/bin/python" in serverless["sparkSubmitParameters"]
    )


@pytest.mark.parametrize(
    "settings, job_args, message",
    [
        (["glue.worker_type=G.3X"], [], r"WorkerType: 'G.3X' is not one of"),
        (["aws.artifacts=/tmp/here"], [], r"\[aws\] artifacts must be an s3:// URI"),
        ([], ["--conf-file", "mine.toml"], "reads its target's packaged conf file"),
        ([], ["stray"], "argument 'stray' follows no --key"),
        (
            ['spark."spark.executor.extraJavaOptions"="-Xss4m -Dx=1"'],
            [],
            "Spark properties with spaces cannot go to glue",
        ),
    ],
)
def test_a_request_aws_would_refuse_is_an_error_before_any_call(settings, job_args, message):
    with pytest.raises((CloudRequestError, ValueError), match=message):
        request("glue", *settings, job_args=job_args)


def test_a_spark_property_with_spaces_goes_to_emrs_argument_list_but_not_to_emr_serverless_one_string():
    spaced = 'spark."spark.executor.extraJavaOptions"="-Xss4m -Dx=1"'
    assert (
        "spark.executor.extraJavaOptions=-Xss4m -Dx=1"
        in request("emr", spaced).params["Steps"][0]["HadoopJarStep"]["Args"]
    )
    with pytest.raises(CloudRequestError, match=r"cannot go to emr-serverless: \['spark.executor.extraJavaOptions'\]"):
        request("emr-serverless", spaced)


def test_the_validator_finds_what_botocore_leaves_to_aws():
    params = {"JobName": "j", "WorkerType": "G.9X", "Timeout": 0}
    errors = request_errors("glue", "StartJobRun", params)
    assert "Invalid value for parameter Timeout, value: 0, valid min value: 1" in errors
    assert any(e.startswith(".WorkerType: 'G.9X' is not one of") for e in errors)
    assert request_errors("glue", "StartJobRun", {"JobName": "j"}) == []


def test_a_dry_run_with_a_bad_setting_says_so_in_one_line():
    result = dry_run("emr", "--set", "emr.action_on_failure=STOP")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: --set emr.action_on_failure=STOP: emr.action_on_failure must be one of")
