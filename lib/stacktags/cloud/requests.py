"""Each cloud target's API request that starts a job, built from the target's conf and the packaged artifacts.

| target         | request                                 | the job runs                                            |
|----------------|-----------------------------------------|---------------------------------------------------------|
| glue           | glue StartJobRun of <job_prefix><job>   | glue/glue_entry.py, the job file as --extra-py-files    |
| emr            | emr AddJobFlowSteps on [emr] cluster_id | command-runner.jar: spark-submit --deploy-mode cluster  |
| emr-serverless | emr-serverless StartJobRun              | sparkSubmit of the job file                             |

On every target the job gets the packaged conf files as files of its working directory and `--conf-file
<target>.toml`; the user's --set, --warehouse and --database follow it, so they win as they do locally. Glue and EMR
bring Spark and Delta: the requests add stacktags.jar (and Spark NLP's jars for text.engine = "spark-nlp"), the wheel
(Glue: pip at the run's start) or the packed Python environment (EMR), Delta's session settings and the target's
[spark] section, less LOCAL_ONLY: what only this machine or the request itself decides (master, jars, the Python
workers' interpreter and daemon, the local UI).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import stacktags
from stacktags import config
from stacktags.errors import UserError
from stacktags.glue_entry import pairs
from stacktags.jars import spark_nlp_jars
from stacktags.lines import CONF_FOLDERS, running_line, spark_nlp_python
from stacktags.package import ENVIRONMENT, ROOT, SPARK_NLP_JARS

PYTHON = "./environment/bin/python"  # the packed environment's interpreter, where spark.archives unpacks it
# Properties that must not reach a cluster from a conf file: the launch settings that the request itself decides
# (master, deploy mode, jars, class path; a cluster's driver memory, cores and Java options do go), and what names
# this machine (its Python interpreter and worker daemon, its loopback address, the local UI).
LOCAL_ONLY = (
    config.LAUNCH_PROPERTIES - {"spark.driver.memory", "spark.driver.cores", "spark.driver.extraJavaOptions"}
) | {
    "spark.pyspark.python",
    "spark.pyspark.driver.python",
    "spark.python.daemon.module",
    "spark.driver.host",
    "spark.driver.bindAddress",
    "spark.ui.enabled",
    "spark.ui.showConsoleProgress",
}


# Settings of the submitting side (where to upload, which job or cluster, how long to wait): they shape the request,
# and the job on the cluster does not get them.
SUBMITTER_SECTIONS = frozenset({"aws", "package", "glue", "emr", "emr_serverless"})


class CloudRequestError(UserError):
    """A request cannot be made from these settings (a missing setting, a value the API refuses)."""


@dataclass(frozen=True)
class Request:
    service: str
    operation: str
    params: dict

    def as_json(self) -> str:
        return json.dumps({"service": self.service, "operation": self.operation, "params": self.params})


@dataclass(frozen=True)
class Artifacts:
    """Where a packaged version lives in S3: <[aws] artifacts>/<version>/<path in var/dist/<version>>."""

    base: str
    version: str

    def uri(self, path: str) -> str:
        return f"{self.base.rstrip('/')}/{self.version}/{path}"

    @property
    def wheel(self) -> str:
        return self.uri(f"stacktags-{stacktags.__version__}-py3-none-any.whl")

    @property
    def glue_script(self) -> str:
        """The script of every Glue job: one place for all versions (a job's ScriptLocation is part of its
        definition, not of a run), uploaded when it changes."""
        return f"{self.base.rstrip('/')}/glue/glue_entry.py"


def artifacts_of(cfg: config.Config, version: str) -> Artifacts:
    base = cfg.require("aws", "artifacts")
    if not base.startswith("s3://"):
        raise CloudRequestError(f"{cfg.path}: [aws] artifacts must be an s3:// URI, not {base!r}")
    return Artifacts(base, version)


def job_options(job_args: list[str]) -> list[tuple[str, str | None]]:
    """The user's job options as (--key, value or None for a flag), in order, less the submitter's settings; the cloud
    run sets --conf-file."""
    options = pairs(job_args)
    if any(key == "--conf-file" for key, _ in options):
        raise CloudRequestError("a cloud run reads its target's packaged conf file; change settings with --set")
    return [
        (key, value)
        for key, value in options
        if not (key == "--set" and value and value.partition(".")[0] in SUBMITTER_SECTIONS)
    ]


def argument_list(cfg: config.Config, job_args: list[str]) -> list[str]:
    """The job's arguments on the cluster: the packaged conf file, then the user's options."""
    arguments = ["--conf-file", cfg.path.name]
    for key, value in job_options(job_args):
        arguments += [key] if value is None else [key, value]
    return arguments


def conf_files(cfg: config.Config, artifacts: Artifacts) -> list[str]:
    """The packaged conf files the run needs: the target's and the base files it extends."""
    return [artifacts.uri(f"conf/{path.name}") for path in cfg.files]


def cluster_properties(cfg: config.Config) -> dict[str, str]:
    """The Spark properties a cluster run gets from the conf: Delta's session settings, the catalog and warehouse,
    the [spark] section; none of LOCAL_ONLY, no jars (the requests add the packaged ones)."""
    return {
        key: value
        for key, value in config.spark_properties(cfg).items()
        if key not in LOCAL_ONLY and not key.startswith("spark.jars")
    }


def one_string(cfg: config.Config, target: str, options: list[str]) -> str:
    """Options as the one string that Glue's --conf and EMR Serverless' sparkSubmitParameters are, which the runtime
    splits at spaces: a value with a space cannot go there (EMR's step arguments are a list and can carry it)."""
    spaced = sorted(option.split("=")[0] for option in options if any(c.isspace() for c in option))
    if spaced:
        raise CloudRequestError(f"{cfg.path}: Spark properties with spaces cannot go to {target}: {spaced}")
    return " ".join(options)


def uses_spark_nlp(cfg: config.Config) -> bool:
    return cfg.get("text", "engine", "native") == "spark-nlp"


def jar_uris(cfg: config.Config, artifacts: Artifacts) -> list[str]:
    """The packaged jars a run adds to the runtime's: stacktags.jar, and Spark NLP's for text.engine = "spark-nlp",
    which only a package made with [package] spark_nlp has (the Spark 3.5 line's: the 4.1 line's Spark NLP is not
    served here)."""
    uris = [artifacts.uri("jars/stacktags.jar")]
    if uses_spark_nlp(cfg):
        line = running_line()
        if not cfg.get("package", "spark_nlp", False):
            others = " or ".join(f"--spark {other}" for other in CONF_FOLDERS if other != line)
            raise CloudRequestError(
                f'text.engine = "spark-nlp": the Spark {line} line\'s package ships no Spark NLP ([package] '
                f"spark_nlp); the other line's does: scripts/package.sh {others}, then scripts/submit.sh {others}"
            )
        uris += [artifacts.uri(f"{SPARK_NLP_JARS}/{jar.name}") for jar in spark_nlp_jars(ROOT)]
    return uris


def chained(cfg: config.Config, props: dict[str, str]) -> str:
    """Properties as Glue's --conf value: one key, the others chained with ' --conf '."""
    options = [f"{key}={value}" for key, value in props.items()]
    one_string(cfg, "glue", options)  # refuses a value with a space
    return " --conf ".join(options)


def glue_run(cfg: config.Config, job: str, job_args: list[str], artifacts: Artifacts) -> Request:
    glue = cfg.section("glue")
    python_modules = [artifacts.wheel, *glue.get("python_modules", [])]  # pip installs them at the run's start
    if uses_spark_nlp(cfg):
        python_modules.append(spark_nlp_python(running_line()))
    arguments = {
        "--stacktags-job": job,
        "--extra-py-files": artifacts.uri(f"jobs/{job}.py"),
        "--extra-files": ",".join(conf_files(cfg, artifacts)),
        "--extra-jars": ",".join(jar_uris(cfg, artifacts)),
        "--additional-python-modules": ",".join(python_modules),
        "--datalake-formats": "delta",
        "--enable-glue-datacatalog": "true",
        "--conf": chained(cfg, cluster_properties(cfg)),
    }
    settings = []
    for key, value in job_options(job_args):
        if key == "--set":
            settings.append(value)
        else:
            arguments[key] = "" if value is None else value
    arguments["--conf-file"] = cfg.path.name
    if settings:  # one key per Glue argument: the settings joined as stacktags.glue_entry splits them
        arguments["--set"] = " --set ".join(settings)
    params = {
        "JobName": f"{cfg.require('glue', 'job_prefix')}{job}",
        "Arguments": arguments,
        "WorkerType": cfg.require("glue", "worker_type"),
        "NumberOfWorkers": cfg.require("glue", "workers"),
        "Timeout": cfg.require("glue", "timeout_minutes"),
    }
    return Request("glue", "StartJobRun", params)


def submit_parameters(cfg: config.Config, job: str, artifacts: Artifacts, python_env: dict[str, str]) -> list[str]:
    """spark-submit's options for a cluster run of the job, with the packed environment's interpreter set by
    `python_env` (property -> ./environment/bin/python)."""
    options = [
        "--name",
        f"stacktags-{job}",
        "--jars",
        ",".join(jar_uris(cfg, artifacts)),
        "--files",
        ",".join(conf_files(cfg, artifacts)),
        "--conf",
        f"spark.archives={artifacts.uri(ENVIRONMENT)}#environment",
    ]
    for key, value in {**python_env, **cluster_properties(cfg)}.items():
        options += ["--conf", f"{key}={value}"]
    return options


def emr_step(cfg: config.Config, job: str, job_args: list[str], artifacts: Artifacts) -> Request:
    python = {"spark.yarn.appMasterEnv.PYSPARK_PYTHON": PYTHON, "spark.executorEnv.PYSPARK_PYTHON": PYTHON}
    args = [
        "spark-submit",
        "--deploy-mode",
        "cluster",
        *submit_parameters(cfg, job, artifacts, python),
        artifacts.uri(f"jobs/{job}.py"),
        *argument_list(cfg, job_args),
    ]
    step = {
        "Name": f"stacktags-{job}",
        "ActionOnFailure": cfg.require("emr", "action_on_failure"),
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": args},
    }
    return Request("emr", "AddJobFlowSteps", {"JobFlowId": cfg.require("emr", "cluster_id"), "Steps": [step]})


def emr_serverless_run(cfg: config.Config, job: str, job_args: list[str], artifacts: Artifacts) -> Request:
    python = {
        "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON": PYTHON,
        "spark.emr-serverless.driverEnv.PYSPARK_PYTHON": PYTHON,
        "spark.executorEnv.PYSPARK_PYTHON": PYTHON,
    }
    params = {
        "applicationId": cfg.require("emr_serverless", "application_id"),
        "clientToken": str(uuid.uuid4()),  # the run's idempotency token (boto3 makes one when it is left out)
        "executionRoleArn": cfg.require("emr_serverless", "execution_role"),
        "name": f"stacktags-{job}",
        "executionTimeoutMinutes": cfg.require("emr_serverless", "timeout_minutes"),
        "jobDriver": {
            "sparkSubmit": {
                "entryPoint": artifacts.uri(f"jobs/{job}.py"),
                "entryPointArguments": argument_list(cfg, job_args),
                "sparkSubmitParameters": one_string(
                    cfg, "emr-serverless", submit_parameters(cfg, job, artifacts, python)
                ),
            }
        },
        "configurationOverrides": {
            "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": cfg.require("aws", "logs")}}
        },
    }
    return Request("emr-serverless", "StartJobRun", params)


BUILDERS = {"glue": glue_run, "emr": emr_step, "emr-serverless": emr_serverless_run}


def run_request(target: str, cfg: config.Config, job: str, job_args: list[str], version: str) -> Request:
    """The request that starts `job` on `target`, validated against botocore's model of the operation."""
    from stacktags.cloud.validate import request_errors

    request = BUILDERS[target](cfg, job, job_args, artifacts_of(cfg, version))
    errors = request_errors(request.service, request.operation, request.params)
    if errors:
        raise CloudRequestError(f"the {request.service} {request.operation} request is not valid: {'; '.join(errors)}")
    return request
