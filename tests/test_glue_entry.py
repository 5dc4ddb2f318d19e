"""The Glue adapter: Glue's arguments dropped, the job's own passed on in order, unknown ones refused (no JVM)."""

import subprocess
import sys

import pytest
from conftest import ROOT

from stacktags.glue_entry import GlueArgumentError, job_arguments

# As Glue gives them to a script: its own arguments around the job parameters, an empty value as a lone flag.
GLUE_OWN = [
    "--JOB_ID",
    "j_7e08",
    "--JOB_RUN_ID",
    "jr_ff24",
    "--JOB_NAME",
    "stacktags-train",
    "--TempDir",
    "s3://artifacts/tmp/",
    "--job-bookmark-option",
    "job-bookmark-disable",
    "--enable-metrics",
    "--enable-glue-datacatalog",
    "true",
    "--datalake-formats",
    "delta",
]


def test_glue_arguments_are_dropped_and_the_jobs_own_kept_in_order():
    argv = [
        *GLUE_OWN[:6],
        "--stacktags-job",
        "score",
        "--conf-file",
        "glue.toml",
        "--source",
        "s3://lake/new",
        *GLUE_OWN[6:],
        "--model-version",
        "3",
        "--full",
    ]
    assert job_arguments(argv) == (
        "score",
        ["--conf-file", "glue.toml", "--source", "s3://lake/new", "--model-version", "3", "--full"],
    )


def test_several_settings_share_one_set_argument():
    argv = ["--stacktags-job", "train", "--set", "train.num_tags=1000 --set ingest.encoding=latin-1", *GLUE_OWN]
    assert job_arguments(argv) == ("train", ["--set", "train.num_tags=1000", "--set", "ingest.encoding=latin-1"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (GLUE_OWN, "no --stacktags-job NAME"),
        (["--stacktags-job", "train", "stray"], "argument 'stray' follows no --key"),
    ],
)
def test_arguments_that_name_no_job_are_refused(argv, message):
    with pytest.raises(GlueArgumentError, match=message):
        job_arguments(argv)


def run_entry(*argv: str) -> subprocess.CompletedProcess:
    """The adapter as Glue runs it, with jobs/ on the Python path as --extra-py-files puts the job file there."""
    return subprocess.run(
        [sys.executable, "-m", "stacktags.glue_entry", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "jobs"), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_an_argument_the_job_does_not_know_fails_the_run_naming_it():
    result = run_entry(*GLUE_OWN, "--stacktags-job", "train", "--conf-file", "conf/local.toml", "--num-tags", "5")
    assert result.returncode == 2 and "unrecognized arguments: --num-tags 5" in result.stderr


def test_a_bad_setting_fails_the_run_with_the_jobs_one_line():
    result = run_entry(
        *GLUE_OWN, "--stacktags-job", "train", "--conf-file", "conf/local.toml", "--set", "train.num_tagz=5"
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "error: --set train.num_tagz=5: unknown setting train.num_tagz; did you mean train.num_tags?"
    )
