"""The project's jars: Maven packages resolved once (into Spark's Ivy cache), stacktags.jar built from the Java
sources in lib/stacktags/jvm, and both bundled for clusters without internet.

    python -m stacktags.jars build --conf-file conf/local.toml     # fast when up to date
    python -m stacktags.jars resolve --conf-file conf/local.toml   # fast when already resolved
    python -m stacktags.jars bundle DIR --conf-file conf/local.toml
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from stacktags import config
from stacktags.errors import UserError

JAVA_SOURCES = Path(__file__).resolve().parent / "jvm"


class UnresolvedPackageError(UserError, RuntimeError):
    """A Maven package (or a dependency of one) that the reachable repositories do not serve."""


class BuildError(RuntimeError):
    """stacktags.jar could not be built (no JDK, or the sources do not compile)."""


def _spark_jars() -> list[Path]:
    """The jars of the installed PySpark: the sources compile against them (Spark's UDF API, commons-text)."""
    from pyspark.find_spark_home import _find_spark_home

    return sorted((Path(_find_spark_home()) / "jars").glob("*.jar"))


def _source_key(sources: list[Path]) -> str:
    """What a built jar is valid for: its sources, the JDK and the Spark jars it was compiled against."""
    javac = subprocess.run(["javac", "-version"], capture_output=True, text=True)
    digest = hashlib.sha256((javac.stdout + javac.stderr).encode())
    for path in [*sources, *_spark_jars()]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes() if path.suffix == ".java" else str(path.stat().st_size).encode())
    return digest.hexdigest()


def build(jar: Path) -> Path:
    """Compile lib/stacktags/jvm/*.java with javac (Java 17) into `jar`. A stamp beside the jar records what it was
    built from, so a rerun with nothing changed compiles nothing. The jar replaces the old one only when complete."""
    if shutil.which("javac") is None:
        raise BuildError(
            "javac not found: stacktags.jar is compiled from lib/stacktags/jvm at setup, which needs a "
            "Java 17 JDK, not only a JRE (e.g. apt-get install openjdk-17-jdk-headless)"
        )
    sources = sorted(JAVA_SOURCES.glob("*.java"))
    key = _source_key(sources)
    stamp = jar.with_name(jar.name + ".stamp")
    if jar.is_file() and stamp.is_file() and stamp.read_text().strip() == key:
        return jar
    jar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stacktags-javac-") as classes:
        compiled = subprocess.run(
            [
                "javac",
                "--release",
                "17",
                "-Xlint:all,-path",
                "-Werror",
                "-d",
                classes,
                "-cp",
                ":".join(str(path) for path in _spark_jars()),
                *map(str, sources),
            ],
            capture_output=True,
            text=True,
        )
        if compiled.returncode != 0:
            raise BuildError(f"javac failed on {JAVA_SOURCES}:\n{compiled.stdout}{compiled.stderr}")
        partial = jar.with_name(jar.name + ".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: stacktags\n\n")
            for path in sorted(Path(classes).rglob("*.class")):
                archive.write(path, path.relative_to(classes).as_posix())
        partial.replace(jar)
    stamp.write_text(key)
    return jar


def _resolve_with_spark(packages: list[str], exclude: list[str]) -> list[str]:
    """Spark's own resolver, the one spark.jars.packages uses: a throwaway session reports the local jar paths."""
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("stacktags-resolve-jars")
        .config("spark.jars.packages", ",".join(packages))
        .config("spark.jars.excludes", ",".join(exclude))
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    try:
        jars = spark.sparkContext.getConf().get("spark.jars", "")
    finally:
        spark.stop()
    return [jar.removeprefix("file://").removeprefix("file:") for jar in jars.split(",") if jar]


def resolve(packages: list[str], exclude: list[str], record: Path) -> list[str]:
    """Local paths of the packages' jars and their dependencies, less `exclude` (group:artifact). `record` remembers
    the last resolution, so a rerun with the same settings and the jars still in the cache starts no JVM and needs no
    network."""
    known = config.recorded_jars(str(record), packages, exclude)
    if known is not None:
        return known
    jars = _resolve_with_spark(packages, exclude)
    others = [
        known
        for known in config.recorded_resolutions(str(record))
        if (known.get("packages"), known.get("exclude", [])) != (packages, exclude)
    ]
    record.parent.mkdir(parents=True, exist_ok=True)
    partial = record.with_name(record.name + ".partial")
    partial.write_text(
        json.dumps({"resolutions": [*others, {"packages": packages, "exclude": exclude, "jars": jars}]}, indent=1)
    )
    partial.replace(record)
    return jars


UNRESOLVED = re.compile(r"unresolved dependency: ([^#\s]+)#([^;\s]+);([^:\s]+): not found")


def ensure_resolved(cfg: config.Config) -> None:
    """Before a run on this machine starts Spark: its packages resolved and recorded, unless [jars] resolved has them
    already (scripts/setup.sh resolves the conf's; a --set text.engine=spark-nlp adds Spark NLP's). Spark resolves
    packages only as its JVM starts, so this runs in a process of its own. A package the repositories do not serve
    stops the run here, in one line naming it."""
    packages, exclude = config.jar_packages(cfg)
    record = cfg.get("jars", "resolved")
    if cfg.get("jars", "dir") or not packages or not record or config.recorded_jars(record, packages, exclude):
        return
    request = json.dumps({"packages": packages, "exclude": exclude, "record": record})
    resolved = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from stacktags.jars import resolve_request; resolve_request(sys.argv[1])",
            request,
        ],
        capture_output=True,
        text=True,
    )
    if resolved.returncode == 0:
        return
    missing = [":".join(match) for match in UNRESOLVED.findall(resolved.stdout + resolved.stderr)]
    if not missing:
        raise UnresolvedPackageError(
            f"could not resolve {', '.join(packages)}:\n{(resolved.stdout + resolved.stderr)[-3000:]}"
        )
    raise UnresolvedPackageError(
        f"{', '.join(missing)}: not served by the Maven repositories this machine reaches{spark_nlp_hint(missing)}"
    )


def spark_nlp_hint(missing: list[str]) -> str:
    """Which line has Spark NLP, when its jar is what is missing."""
    from stacktags.lines import SPARK_NLP, running_line, spark_nlp_package

    line = running_line()
    if spark_nlp_package(line) not in missing:
        return ""
    others = [other for other in SPARK_NLP if other != line]
    return "".join(
        f' (Spark NLP {SPARK_NLP[line]} for Spark {line}, needed by text.engine = "spark-nlp"); the Spark {other}'
        f" line has Spark NLP {SPARK_NLP[other]} ({spark_nlp_package(other)}): scripts/setup.sh --spark {other},"
        f' then --spark {other} first on the scripts, or text.engine = "native"'
        for other in others
    )


def resolved_jars(root: Path, engine: str) -> list[str]:
    """The jars of the running line's local target with [text] engine `engine`, as setup resolved them (resolved now
    when they are not: ensure_resolved, which stops in one line when a package is not served)."""
    from stacktags.lines import conf_dir

    local = config.load(conf_dir(root) / "local.toml", settings=[f"text.engine={engine}"])
    ensure_resolved(local)
    return config.recorded_jars(local.require("jars", "resolved"), *config.jar_packages(local)) or []


def spark_nlp_jars(root: Path) -> list[Path]:
    """Spark NLP's jar and the dependencies it brings, less Delta's jars: what a package ships for the cloud targets,
    whose runtimes bring Spark and Delta but not Spark NLP. The 4.1 line's Spark NLP is not served here: then
    UnresolvedPackageError, in one line naming the line that has it."""
    runtime = set(resolved_jars(root, "native"))
    return [Path(jar) for jar in resolved_jars(root, "spark-nlp") if jar not in runtime]


def resolve_request(request: str) -> None:
    """ensure_resolved's child process: resolve({"packages", "exclude", "record"} as JSON)."""
    known = json.loads(request)
    resolve(known["packages"], known["exclude"], Path(known["record"]))


def bundle(jars: list[str], dest: Path) -> Path:
    """Copy the jars into `dest` with a SHA256SUMS list (check it with `sha256sum -c SHA256SUMS` in that folder)."""
    dest.mkdir(parents=True, exist_ok=True)
    sums = []
    for jar in jars:
        target = dest / Path(jar).name
        shutil.copy2(jar, target)
        sums.append(f"{hashlib.sha256(target.read_bytes()).hexdigest()}  {target.name}\n")
    (dest / "SHA256SUMS").write_text("".join(sums))
    return dest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stacktags.jars", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["build", "resolve", "bundle"])
    parser.add_argument("dest", nargs="?", type=Path, help="with bundle: the folder to fill")
    config.add_common_arguments(parser)
    args = parser.parse_args(argv)
    if args.action == "bundle" and args.dest is None:
        parser.error("bundle needs a destination folder")
    cfg = config.from_arguments(args)
    record = Path(cfg.require("jars", "resolved"))
    try:
        if args.action == "build":
            jar = build(Path(cfg.require("jars", "project")))
            print(f"{jar} is up to date with {JAVA_SOURCES}")
            return
        packages, exclude = config.jar_packages(cfg)
        jars = resolve(packages, exclude, record)
        if args.action == "resolve":
            print(f"{len(jars)} jars resolved for {', '.join(packages)}")
            return
        dest = bundle([*jars, str(build(Path(cfg.require("jars", "project"))))], args.dest)
    except (BuildError, config.ConfigError) as err:
        raise SystemExit(f"stacktags.jars: {err}") from err
    print(f'{len(jars) + 1} jars copied to {dest}; on the cluster set [jars] dir = "{dest}" in the conf file')


if __name__ == "__main__":
    main()
