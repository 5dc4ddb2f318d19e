"""The whole pipeline with its warehouse on S3 (s3a://, Hadoop's S3 connector, conf/local-s3.toml) against a moto
server the tests start on 127.0.0.1: tables, models and reports written there, read back by another process, a score
killed with kill -9 and run again, and a rerun of ingest that commits nothing."""

import csv
import itertools
import os
import subprocess
from pathlib import Path

import boto3
import pytest
from conftest import LINE, MOTO_SECRET, ROOT, SAMPLE, SHORT_JVM, killed_when
from deltalake import DeltaTable

pytestmark = pytest.mark.jvm  # the jobs run in processes of their own, with the S3 connector's jars

BUCKET = "stacktags-s3-test"
QUICK = ["--set", "train.num_tags=20", "--set", "train.num_features=32768", "--set", "train.max_iter=10", *SHORT_JVM]
QUICK += ["--set", "train.reg_param=3e-7"]  # one value, not the conf's list (test_model_pipeline trains that)


@pytest.fixture(scope="module")
def s3_warehouse(moto_endpoint, tmp_path_factory):
    """A bucket on the moto server, the arguments that point conf/local-s3.toml at it, and delta-rs's options."""
    boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=moto_endpoint,
        aws_access_key_id="local-test-key",
        aws_secret_access_key=MOTO_SECRET,
    ).create_bucket(Bucket=BUCKET)
    metastore = tmp_path_factory.mktemp("metastore")
    arguments = [
        "--target",
        "local-s3",
        "--warehouse",
        f"s3a://{BUCKET}/warehouse",
        "--set",
        f"catalog.metastore_dir={metastore}",
        "--set",
        f"spark.spark.hadoop.fs.s3a.endpoint={moto_endpoint}",
        "--set",
        "spark.spark.hadoop.fs.s3a.path.style.access=true",
    ]
    storage = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "local-test-key",
        "AWS_SECRET_ACCESS_KEY": MOTO_SECRET,
        "AWS_REGION": "us-east-1",
        "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
    }
    return arguments, storage


def moto_environment() -> dict[str, str]:
    """This process's environment with the moto server's credentials only."""
    environment = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "local-test-key",
        "AWS_SECRET_ACCESS_KEY": MOTO_SECRET,
        "AWS_REGION": "us-east-1",
    }
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        environment.pop(name, None)
    return environment


def failure(result: subprocess.CompletedProcess) -> str:
    """A failed job's output: its Python traceback first (a driver that stops ends its JVM, whose shutdown prints
    the stack traces of the jobs it cancels after it), then the end of both streams."""
    traceback = result.stderr.find("Traceback (most recent call last)")
    first = result.stderr[traceback : traceback + 6000] + "\n...\n" if traceback >= 0 else ""
    return first + result.stdout[-2000:] + result.stderr[-3000:]


def run(script, *arguments):
    """One of the project's scripts, with the moto server's credentials only; its output, checked for a secret."""
    result = subprocess.run(
        [ROOT / "scripts" / script, "--spark", LINE, *arguments],
        capture_output=True,
        text=True,
        env=moto_environment(),
        timeout=900,
    )
    assert result.returncode == 0, failure(result)
    assert MOTO_SECRET not in result.stdout + result.stderr
    return result


def submit(job, arguments, *more):
    return run("submit.sh", job, *arguments, *QUICK, *more)


def table(storage, name):
    return DeltaTable(f"s3://{BUCKET}/warehouse/stackoverflow.db/{name}", storage_options=storage)


def first_questions(folder: Path, count: int) -> Path:
    """A StackSample folder with the sample's first `count` questions."""
    with (SAMPLE / "Questions.csv").open(newline="", encoding="utf-8") as source:
        rows = list(itertools.islice(csv.reader(source), count + 1))  # with the header
    folder.mkdir()
    with (folder / "Questions.csv").open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)
    return folder


def test_the_pipeline_writes_its_tables_models_and_reports_to_s3_and_a_rerun_commits_nothing(s3_warehouse, tmp_path):
    """The whole pipeline (scoring the first 100 questions), then a score of the others killed with kill -9 while it
    writes, and run again: every question scored once; then an ingest of the same files commits nothing."""
    arguments, storage = s3_warehouse
    result = submit(
        "pipeline", arguments, "--source", str(SAMPLE), "--score-source", str(first_questions(tmp_path / "first", 100))
    )
    assert "predictions: 100 questions scored with model 1" in result.stdout
    assert "WARN" not in result.stderr
    # read back by another reader (delta-rs, in this process)
    assert table(storage, "questions_raw").to_pyarrow_table().num_rows == 2000
    assert table(storage, "predictions").to_pyarrow_table().num_rows == 100
    objects = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=storage["AWS_ENDPOINT_URL"],
        aws_access_key_id="local-test-key",
        aws_secret_access_key=MOTO_SECRET,
    )
    keys = [o["Key"] for o in objects.list_objects_v2(Bucket=BUCKET, Prefix="warehouse/")["Contents"]]
    assert any(k.startswith("warehouse/models/stackoverflow/v1/stages/") for k in keys)
    assert [
        k
        for k in keys
        if k.startswith("warehouse/stackoverflow.db/questions_clean/_delta_log/0") and k.endswith(".json")
    ] == ["warehouse/stackoverflow.db/questions_clean/_delta_log/00000000000000000000.json"]  # one commit
    assert "warehouse/reports/stackoverflow/v1/report.html" in keys
    # a second Spark process, through the catalog of the embedded metastore: the table's history
    history = run("spark-sql", *arguments, "-e", "DESCRIBE HISTORY questions_clean").stdout
    header, *commits = [line.split("\t") for line in history.strip().splitlines()]
    assert [commit[header.index("version")] for commit in commits] == ["0"], history

    predictions = "warehouse/stackoverflow.db/predictions/"

    def data_written():  # a data file of the new scores, which the commit that follows would add
        listed = objects.list_objects_v2(Bucket=BUCKET, Prefix=predictions)["Contents"]
        return len([o for o in listed if o["Key"].endswith(".parquet")]) > len(
            table(storage, "predictions").file_uris()
        )

    score = [
        ROOT / "scripts" / "submit.sh",
        "--spark",
        LINE,
        "score",
        *arguments,
        *QUICK,
        "--source",
        "stackoverflow.questions_raw",
    ]
    killed_when(score, data_written, env=moto_environment())
    submit("score", arguments, "--source", "stackoverflow.questions_raw")
    scored = table(storage, "predictions").to_pyarrow_table(columns=["Id", "model_version"])
    assert scored.num_rows == 2000 and len(set(scored.column("Id").to_pylist())) == 2000

    versions = {name: table(storage, name).version() for name in ("questions_raw", "tags_raw", "answers_raw")}
    submit("ingest", arguments, "--source", str(SAMPLE))
    assert {name: table(storage, name).version() for name in versions} == versions
