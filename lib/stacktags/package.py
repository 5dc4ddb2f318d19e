"""The artifacts the cloud targets run, in one versioned folder: python -m stacktags.package (scripts/package.sh).

    var/dist/<version>/                  <version>: the package's, then the commit (and "-dirty" for changed files)
      stacktags-<v>-py3-none-any.whl     the project; its requirements leave pyspark and Delta to the runtime
      jobs/<job>.py                      the job files: spark-submit's entry points on EMR, --extra-py-files on Glue
      glue/glue_entry.py                 the script of every Glue job (stacktags.glue_entry)
      conf/*.toml                        the targets' settings, shipped beside the job (--files, --extra-files)
      jars/stacktags.jar                 the project's Java code (Glue and EMR bring Delta)
      jars/spark-nlp/*.jar               with [package] spark_nlp (the Spark 3.5 line): Spark NLP's jar and what it
                                         brings, for text.engine = "spark-nlp" (its Python package is in EMR's
                                         environment; Glue installs it at the run's start)
      environment.tar.gz                 for EMR: a venv with the wheel and its requirements (venv-pack)
      SHA256SUMS                         every file's hash: `sha256sum -c SHA256SUMS` in the folder

The EMR environment is made with [package] python: venv-pack does not carry the interpreter, so the environment's
python links to that path, where the cluster must have the same Python version (/usr/bin/python3.11 on
emr-spark-8.1.0). venv-pack's --python-prefix, which would move the link, makes a broken one for Python 3.11
(python3.11 -> <prefix>/bin/python3.113.11 with venv-pack 0.2.0), so the paths must agree.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import stacktags
from stacktags import cli, config, glue_entry, jars
from stacktags.errors import UserError
from stacktags.lines import running_line, spark_nlp_python

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT = "environment.tar.gz"
CONF_FILES = ("defaults.toml", "glue.toml", "emr.toml", "emr-serverless.toml")
SPARK_NLP_JARS = "jars/spark-nlp"


class PackageError(UserError):
    """A step of packaging failed (the commit, the wheel, the environment): its output says why."""


def package_version(root: Path) -> str:
    """The package's version and the commit, "-dirty" when tracked files differ from it: 0.1.0-16cb2f8."""

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        if result.returncode != 0:
            raise PackageError(f"{root} is not a git checkout, and a package is named by its commit: {result.stderr}")
        return result.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    dirty = "-dirty" if git("status", "--porcelain", "--untracked-files=no") else ""
    return f"{stacktags.__version__}-{commit}{dirty}"


def run(command: list[str], what: str) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True)
    except OSError as error:  # e.g. [package] python names no interpreter of this machine
        raise PackageError(f"{what}: cannot run {command[0]}: {error.strerror}") from error
    if result.returncode != 0:
        raise PackageError(f"{what} failed (exit {result.returncode}):\n{(result.stdout + result.stderr)[-3000:]}")


def build_wheel(root: Path, dest: Path) -> Path:
    # setuptools builds in the checkout's build/ and would ship what a former build left there (a removed module);
    # one build at a time per checkout (a lock file beside it), or one would empty build/ under the other
    lock = root / "var" / "build-wheel.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        shutil.rmtree(root / "build", ignore_errors=True)
        run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dest), str(root)],
            "pip wheel",
        )
    (wheel,) = dest.glob("stacktags-*.whl")
    return wheel


def build_environment(wheel: Path, python: str, dest: Path, requirements: list[str] = ()) -> Path:
    """A venv of `python` with the wheel and its requirements, held to [package] requirements (e.g. the Spark 3.5
    line's NumPy 1), packed by venv-pack into dest."""
    with tempfile.TemporaryDirectory(prefix="stacktags-environment-") as folder:
        venv = Path(folder) / "venv"
        run([python, "-m", "venv", str(venv)], f"{python} -m venv")
        run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel), *requirements],
            "pip install into the environment",
        )
        run(
            [sys.executable, "-m", "venv_pack", "--prefix", str(venv), "--output", str(dest), "--quiet"],
            "venv-pack",
        )
    return dest


def write_sums(folder: Path) -> Path:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(folder).as_posix()}\n" for p in files]
    (folder / "SHA256SUMS").write_text("".join(lines))
    return folder / "SHA256SUMS"


def build(root: Path, cfg: config.Config, with_environment: bool = True) -> Path:
    """Build var/dist/<version> (or [package] out/<version>) afresh; its path."""
    out = Path(cfg.get("package", "out") or root / "var" / "dist") / package_version(root)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    wheel = build_wheel(root, partial)
    (partial / "jobs").mkdir()
    for job in sorted((root / "jobs").glob("*.py")):
        shutil.copy2(job, partial / "jobs" / job.name)
    (partial / "glue").mkdir()
    shutil.copy2(glue_entry.__file__, partial / "glue" / "glue_entry.py")
    (partial / "conf").mkdir()
    for name in CONF_FILES:
        shutil.copy2(root / "conf" / name, partial / "conf" / name)
    (partial / "jars").mkdir()
    shutil.copy2(jars.build(Path(cfg.require("jars", "project"))), partial / "jars" / "stacktags.jar")
    requirements = list(cfg.get("package", "requirements", []))
    if cfg.get("package", "spark_nlp", False):
        (partial / SPARK_NLP_JARS).mkdir()
        for jar in jars.spark_nlp_jars(root):
            shutil.copy2(jar, partial / SPARK_NLP_JARS / jar.name)
        requirements.append(spark_nlp_python(running_line()))
    if with_environment:
        build_environment(wheel, cfg.require("package", "python"), partial / ENVIRONMENT, requirements)
    write_sums(partial)
    shutil.rmtree(out, ignore_errors=True)
    partial.replace(out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/package.sh", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--without-environment",
        action="store_true",
        help="leave out EMR's packed Python environment (Glue installs the wheel itself)",
    )
    config.add_common_arguments(parser)
    args = parser.parse_args(argv)
    cfg = config.from_arguments(args)
    print(build(ROOT, cfg, with_environment=not args.without_environment))


if __name__ == "__main__":
    cli.run(main)
