"""Build the spark-submit and spark-sql command lines from a target's conf file.

    python -m stacktags.launch --root DIR submit JOB [--target T] [--master URL] [--dry-run] [job options]
    python -m stacktags.launch --root DIR sql [--target T] [--warehouse DIR] [spark-sql options]
    python -m stacktags.launch --root DIR publish --target glue [--dry-run] [--set section.key=value ...]

scripts/submit.sh, scripts/spark-sql and scripts/publish.sh call this. The jars go on the command line (--packages, or
--jars from a bundled folder), the rest of the Spark properties into a --properties-file, and the package as a
--py-files zip built on the fly, so the same command works in local mode and on a cluster. publish makes this commit's
package the version the AWS state machine runs (stacktags.cloud.submit.publish).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import shlex
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from pyspark.find_spark_home import _find_spark_home

import stacktags
from stacktags import cli, config, jars
from stacktags.cloud import CLOUD_TARGETS
from stacktags.errors import UserError
from stacktags.lines import conf_dir

# Spark 4.1's launcher gives every JVM the incubating Vector API module, and the JVM announces it on stderr at each
# start; it says nothing about the run.
JVM_START_NOTICE = b"WARNING: Using incubator modules: jdk.incubator.vector"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip entry can carry


def spark_bin(name: str) -> str:
    return str(Path(_find_spark_home()) / "bin" / name)


# var/submit keeps what a run reads (its properties, the package zip) under names made from their content: two jobs
# submitted at once never rewrite a file the other is reading (its executors import from the zip all run long).
# A file that no submit has used for this long is removed.
SUBMIT_FILES_KEPT_SECONDS = 7 * 24 * 3600


def write_submit_file(directory: Path, stem: str, suffix: str, data: bytes) -> Path:
    """`data` as directory/<stem>-<content hash><suffix>, written to a temporary name and renamed into place (a
    reader never sees it half-written); the other submit files not used for SUBMIT_FILES_KEPT_SECONDS go."""
    directory.mkdir(parents=True, exist_ok=True)
    dest = directory / f"{stem}-{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
    with tempfile.NamedTemporaryFile(dir=directory, prefix=f".{dest.name}.", delete=False) as partial:
        partial.write(data)
    os.replace(partial.name, dest)
    expired = time.time() - SUBMIT_FILES_KEPT_SECONDS
    for old in directory.iterdir():
        with contextlib.suppress(FileNotFoundError):  # another submit removed it first
            if old.stat().st_mtime < expired:
                old.unlink()
    return dest


def build_package_zip(directory: Path) -> Path:
    """Zip the stacktags package for --py-files, so executors and cluster drivers import the same code. The entries
    carry a fixed date: the same code gives the same bytes, so the same file."""
    package_dir = Path(stacktags.__file__).parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package_dir.rglob("*.py")):
            entry = zipfile.ZipInfo(str(Path("stacktags") / path.relative_to(package_dir)), date_time=ZIP_DATE)
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return write_submit_file(directory, "stacktags", ".zip", buffer.getvalue())


def write_properties(props: dict[str, str], directory: Path, stem: str) -> Path:
    text = "".join(f"{key} {value}\n" for key, value in sorted(props.items()))
    return write_submit_file(directory, stem, ".properties", text.encode("utf-8"))


def split_launch_options(props: dict[str, str], master: str | None) -> tuple[list[str], dict[str, str]]:
    """Master and jars as explicit options (readable in --dry-run), the other properties for the properties file."""
    props = dict(props)
    options = ["--master", master or props.pop("spark.master", "local[*]")]
    props.pop("spark.master", None)
    if "spark.jars" in props:
        options += ["--jars", props.pop("spark.jars")]
    if "spark.jars.packages" in props:
        options += ["--packages", props.pop("spark.jars.packages")]
    if "spark.jars.excludes" in props:
        options += ["--exclude-packages", props.pop("spark.jars.excludes")]
    return options, props


def config_for(root: Path, target: str, args: list[str]) -> tuple[config.Config, list[str]]:
    """The conf of a target (or of an explicit --conf-file among the options) and the options with --conf-file set."""
    cfg, _ = config.from_options(args, str(conf_dir(root) / f"{target}.toml"))
    if "--conf-file" not in args:
        args = ["--conf-file", str(cfg.path), *args]
    return cfg, args


def check_job(root: Path, job: str) -> Path:
    """The job's file in jobs/, or a UserError listing the jobs there are."""
    script = root / "jobs" / f"{job}.py"
    if not script.is_file():
        jobs = sorted(p.stem for p in (root / "jobs").glob("*.py"))
        raise UserError(f"unknown job {job!r}; jobs: {', '.join(jobs)}")
    return script


def submit_to_cloud(root: Path, job: str, target: str, job_args: list[str], dry_run: bool) -> int:
    try:
        from stacktags.cloud.submit import submit  # boto3 and botocore: only for the cloud targets
    except ModuleNotFoundError as error:
        raise UserError(
            f"the cloud targets need {error.name}, which this Python lacks: pip install -e '.[deploy]'"
        ) from error

    return submit(root, job, target, job_args, dry_run)


def publish_to_state_machine(root: Path, target: str, job_args: list[str], dry_run: bool) -> int:
    if target != "glue":
        raise UserError(f"the state machine runs Glue jobs: publish to --target glue, not {target}")
    try:
        from stacktags.cloud.submit import publish
    except ModuleNotFoundError as error:
        raise UserError(f"publish needs {error.name}, which this Python lacks: pip install -e '.[deploy]'") from error
    return publish(root, job_args, dry_run)


def submit_command(root: Path, job: str, target: str, master: str | None, job_args: list[str]) -> list[str]:
    script = check_job(root, job)
    cfg, job_args = config_for(root, target, job_args)
    return spark_submit_command(root, script, cfg, master, job_args)


def spark_submit_command(
    root: Path,
    script: Path,
    cfg: config.Config,
    master: str | None,
    app_args: list[str],
    submit_options: list[str] = (),
) -> list[str]:
    """spark-submit of a Python file with the conf's jars and properties; `submit_options` (e.g. --conf) win over
    the properties file."""
    options, props = split_launch_options(config.spark_properties(cfg), master)
    work = root / "var" / "submit"
    return [
        spark_bin("spark-submit"),
        *options,
        *submit_options,
        "--name",
        f"stacktags-{script.stem}",
        "--properties-file",
        str(write_properties(props, work, script.stem)),
        "--py-files",
        str(build_package_zip(work)),
        str(script),
        *app_args,
    ]


def sql_command(root: Path, target: str, master: str | None, sql_args: list[str]) -> list[str]:
    cfg, rest = config.from_options(sql_args, str(conf_dir(root) / f"{target}.toml"))
    options, props = split_launch_options(config.spark_properties(cfg), master)
    work = root / "var" / "submit"
    return [
        spark_bin("spark-sql"),
        *options,
        "--properties-file",
        str(write_properties(props, work, "spark-sql")),
        "--database",
        cfg.database,
        "--hiveconf",
        "hive.cli.print.header=true",
        *rest,
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/submit.sh | scripts/spark-sql",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--root", required=True, type=Path, help="the project folder (holds jobs/ and conf/)")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("submit", "sql", "publish"):
        command = commands.add_parser(name, add_help=name == "publish")  # else --help goes on to the job or spark-sql
        if name == "submit":
            command.add_argument("job", help="a file of jobs/ without .py: ingest, ...")
        if name == "publish":
            command.add_argument("--target", default="glue", help="glue (the default, the state machine's jobs)")
        else:
            command.add_argument("--target", default="local", help="conf/<target>.toml: local (default), ...")
            command.add_argument("--master", help="override the conf's spark.master, e.g. spark://127.0.0.1:7077")
        command.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    args, rest = parser.parse_known_args(argv)
    root = args.root.resolve()
    if args.command == "publish":
        sys.exit(publish_to_state_machine(root, args.target, rest, args.dry_run))
    if args.command == "submit" and args.target in CLOUD_TARGETS:
        check_job(root, args.job)
        sys.exit(submit_to_cloud(root, args.job, args.target, rest, args.dry_run))
    if args.command == "submit":
        if not args.dry_run:  # the packages resolved before the submit, a missing one named in one line
            jars.ensure_resolved(config_for(root, args.target, rest)[0])
        command = submit_command(root, args.job, args.target, args.master, rest)
    else:
        command = sql_command(root, args.target, args.master, rest)
    if args.dry_run:
        print(shlex.join(command))
        return
    sys.stdout.flush()
    sys.exit(run_quietly(command))


def run_quietly(command: list[str]) -> int:
    """Run a command with its output as it comes, less the JVM's start notice (JVM_START_NOTICE, the first line the
    JVM writes to stderr); its exit status. After that line stderr passes through as it is written, not line by line,
    so an interactive shell's prompt shows. An interrupt (Ctrl-C) reaches the command too: this waits for it to end."""
    # Unbuffered: readline takes the first line only and os.read the rest, with nothing read ahead between them.
    process = subprocess.Popen(command, stderr=subprocess.PIPE, bufsize=0)
    try:
        first = process.stderr.readline()
        if first.rstrip(b"\r\n") != JVM_START_NOTICE:
            sys.stderr.buffer.write(first)
            sys.stderr.buffer.flush()
        while chunk := os.read(process.stderr.fileno(), 1 << 16):
            sys.stderr.buffer.write(chunk)
            sys.stderr.buffer.flush()
    except KeyboardInterrupt:
        pass
    return process.wait()


if __name__ == "__main__":
    cli.run(main)
