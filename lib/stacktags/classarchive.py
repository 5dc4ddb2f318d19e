"""A JVM class archive (AppCDS) that starts every local job's driver sooner (docs/performance.md).

    python -m stacktags.classarchive --conf-file conf/local.toml   # scripts/setup.sh runs it; fast when up to date

A cold driver JVM spends most of its start loading and verifying the classes of Spark, Hive's metastore client and
Delta. Java 17 can dump the classes a run loaded into an archive (-XX:ArchiveClassesAtExit) and map them at the next
start (-XX:SharedArchiveFile) instead of loading them one by one.

The archive is made by one warm-up run (a throwaway warehouse: a database, a Delta table, a MERGE, a Python task)
submitted exactly as the jobs are, because the JVM only uses an archive whose class path matches its own. When it
does not match (another JDK, other jars), the JVM ignores the archive and loads classes as usual: a slower start,
never a failure. A stamp beside the archive records what it was made from; setup remakes it when that changes.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

from stacktags import config

WARMUP = "warmup"


def archive_path(cfg: config.Config) -> Path | None:
    """The archive the conf names ([jvm] class_archive), or None: no archive for this target."""
    path = cfg.get("jvm", "class_archive")
    return Path(path) if path else None


def archive_key(cfg: config.Config) -> str:
    """What an archive is valid for: the JDK, Spark's jars and the configured packages or bundled jars."""
    from pyspark.find_spark_home import _find_spark_home

    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    spark_jars = sorted(p.name for p in (Path(_find_spark_home()) / "jars").glob("*.jar"))
    props = config.spark_properties(cfg)
    jars = {k: v for k, v in props.items() if k.startswith("spark.jars")}
    # The JVM also refuses an archive when a jar on the class path changed (stacktags.jar after a rebuild)
    jar_files = [
        (jar, Path(jar).stat().st_mtime_ns) for jar in props.get("spark.jars", "").split(",") if Path(jar).is_file()
    ]
    return hashlib.sha256(repr((java, spark_jars, sorted(jars.items()), jar_files)).encode()).hexdigest()


def is_current(archive: Path, key: str) -> bool:
    stamp = archive.with_suffix(".stamp")
    return archive.is_file() and stamp.is_file() and stamp.read_text().strip() == key


def build(root: Path, cfg: config.Config, archive: Path) -> bool:
    """Submit the warm-up run with -XX:ArchiveClassesAtExit; the archive replaces the old one only when complete.
    False, with the reason on stderr, when there is none: jobs run without it, their drivers start slower."""
    from stacktags.launch import spark_submit_command

    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    props = config.spark_properties(cfg)
    java_options = " ".join(
        option
        for option in props.get("spark.driver.extraJavaOptions", "").split()
        if not option.startswith("-XX:SharedArchiveFile=")
    )  # dumping starts from no archive
    with tempfile.TemporaryDirectory(prefix="stacktags-classarchive-") as warehouse:
        command = spark_submit_command(
            root,
            Path(__file__),
            cfg,
            None,
            ["--conf-file", str(cfg.path), "--warehouse", warehouse, WARMUP],
            [f"--conf=spark.driver.extraJavaOptions={java_options} -XX:ArchiveClassesAtExit={partial}"],
        )
        result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not partial.is_file():
        print(
            f"classarchive: no archive made, the warm-up run failed (exit {result.returncode}); jobs run without "
            f"it, their drivers start slower.\n{(result.stdout + result.stderr)[-3000:]}",
            file=sys.stderr,
        )
        return False
    partial.replace(archive)
    return True


def warm_up(cfg: config.Config) -> None:
    """Load the classes every job loads: session and catalog, a Delta write, MERGE and read, a Python task."""
    from stacktags.session import build_session
    from stacktags.tables import table_version, upsert

    spark = build_session(cfg, "stacktags-classarchive")
    table = cfg.table("warmup")
    rows = spark.range(100).selectExpr("id AS Id", "CAST(id AS STRING) AS text")
    upsert(spark, rows, table, ["Id"])
    upsert(spark, rows.union(spark.range(100, 120).selectExpr("id", "CAST(id AS STRING)")), table, ["Id"])
    table_version(spark, table)
    spark.table(table).mapInArrow(lambda batches: batches, spark.table(table).schema).count()
    spark.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stacktags.classarchive",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", nargs="?", choices=[WARMUP], help=argparse.SUPPRESS)  # the submitted run itself
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parents[2],
        help="the project folder (holds jobs/ and conf/)",
    )
    config.add_common_arguments(parser)
    args = parser.parse_args(argv)
    cfg = config.from_arguments(args)
    if args.action == WARMUP:
        warm_up(cfg)
        return
    archive = archive_path(cfg)
    if archive is None:
        print(f"no [jvm] class_archive in {cfg.path}: nothing to do")
        return
    key = archive_key(cfg)
    if is_current(archive, key):
        return
    if not build(args.root.resolve(), cfg, archive):
        return
    archive.with_suffix(".stamp").write_text(key + "\n")
    print(f"JVM class archive written: {archive} ({archive.stat().st_size // (1024 * 1024)} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
