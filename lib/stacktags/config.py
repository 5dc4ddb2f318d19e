"""Settings: one TOML file per target (conf/<target>.toml) plus command-line overrides.

Relative paths in a conf file are relative to the folder of that file, so a job finds the same warehouse whatever
directory it is started from. Paths given on the command line are relative to the current directory, as usual.
Nothing is read from environment variables.
"""

from __future__ import annotations

import argparse
import copy
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"

# Properties that only the launcher (spark-submit, or the embedded session factory) can set: they decide the
# JVM and the classpath before any Python code runs.
LAUNCH_PROPERTIES = frozenset({
    "spark.master", "spark.submit.deployMode", "spark.jars", "spark.jars.packages", "spark.jars.excludes",
    "spark.jars.repositories",
    "spark.driver.memory", "spark.driver.cores", "spark.driver.extraJavaOptions", "spark.driver.extraClassPath",
})


class ConfigError(ValueError):
    """A setting is missing, malformed or points at nothing."""


def _is_uri(value: str) -> bool:
    return "://" in value or value.startswith("file:")


def _resolve_path(value: str, base: Path) -> str:
    """Absolute local path for a relative one; URIs (s3://, hdfs://, file:) and absolute paths pass through."""
    if _is_uri(value):
        return value
    # abspath, not resolve(): a venv's python is a symlink that must stay one.
    return os.path.abspath(base / Path(value).expanduser())


@dataclass(frozen=True)
class Config:
    """Merged settings of one run. `data` mirrors the TOML tables: catalog, jars, ingest, spark, ..."""

    path: Path
    data: dict[str, Any]

    def section(self, name: str) -> dict[str, Any]:
        return self.data.get(name, {})

    def get(self, section: str, key: str, default: Any = None) -> Any:
        return self.section(section).get(key, default)

    def require(self, section: str, key: str) -> Any:
        value = self.get(section, key)
        if value is None:
            raise ConfigError(f"{self.path}: [{section}] {key} is not set")
        return value

    @property
    def database(self) -> str:
        return self.require("catalog", "database")

    @property
    def warehouse(self) -> str:
        return self.require("catalog", "warehouse")

    def table(self, name: str) -> str:
        """Qualified name of a project table, e.g. stackoverflow.questions_raw."""
        return f"{self.database}.{name}"


def load(path: str | Path, warehouse: str | None = None, database: str | None = None,
         settings: list[str] | None = None) -> Config:
    """Read a conf file and apply overrides: --warehouse, --database and any number of --set SECTION.KEY=VALUE."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"conf file not found: {path} (pass --conf-file, e.g. conf/local.toml)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    data = copy.deepcopy(data)
    for setting in settings or []:
        section, key, value = parse_setting(setting)
        data.setdefault(section, {})[key] = value
    catalog = data.setdefault("catalog", {})
    if database:
        catalog["database"] = database
    if warehouse:
        catalog["warehouse"] = _resolve_path(warehouse, Path.cwd())
    elif "warehouse" in catalog:
        catalog["warehouse"] = _resolve_path(catalog["warehouse"], path.parent)
    jars = data.get("jars", {})
    for key in ("dir", "project"):
        if jars.get(key):
            jars[key] = _resolve_path(jars[key], path.parent)
    jvm = data.get("jvm", {})
    for key in ("class_archive", "log_config"):
        if jvm.get(key):
            jvm[key] = _resolve_path(jvm[key], path.parent)
    submit = data.get("submit", {})
    if submit.get("python"):
        submit["python"] = _resolve_path(submit["python"], path.parent)
    return Config(path=path, data=data)


def parse_setting(text: str) -> tuple[str, str, Any]:
    """'ingest.max_body_bytes=2048' -> ('ingest', 'max_body_bytes', 2048). The value is read as TOML, falling back
    to a plain string; the key is everything after the first dot, so spark.spark.sql.shuffle.partitions=4 works."""
    name, sep, raw = text.partition("=")
    section, dot, key = name.strip().partition(".")
    if not sep or not dot or not section or not key:
        raise ConfigError(f"--set takes SECTION.KEY=VALUE, got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return section, key.strip().strip('"'), value


def _spark_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def jar_files(folder: str) -> list[str]:
    """The jars of a folder made by scripts/bundle-jars.sh, in a stable order."""
    jars = sorted(str(p) for p in Path(folder).glob("*.jar"))
    if not jars:
        raise ConfigError(f"[jars] dir = {folder} holds no .jar files (make it with scripts/bundle-jars.sh)")
    return jars


def spark_properties(cfg: Config) -> dict[str, str]:
    """Every Spark property a stacktags session needs, derived from the config in one place.

    Used by the session factory, by scripts/submit.sh (as --properties-file) and by scripts/spark-sql, so a job and
    a SQL shell see the same catalog, warehouse and Delta settings.
    """
    props = {key: _spark_value(value) for key, value in cfg.section("spark").items()}
    props["spark.sql.extensions"] = DELTA_EXTENSION
    props["spark.sql.catalog.spark_catalog"] = DELTA_CATALOG
    props["spark.sql.catalogImplementation"] = "hive"  # persistent catalog: tables are visible by name to the next process
    props["spark.sql.warehouse.dir"] = cfg.warehouse
    if cfg.get("catalog", "metastore", "embedded") == "embedded":
        # The embedded default: a Derby metastore inside the warehouse folder, so one folder holds the whole catalog.
        metastore = f"{cfg.warehouse.removeprefix('file:')}/metastore_db"
        props["spark.hadoop.javax.jdo.option.ConnectionURL"] = f"jdbc:derby:;databaseName={metastore};create=true"
        derby_home = f"-Dderby.system.home={cfg.warehouse.removeprefix('file:')}"  # keeps derby.log out of the cwd
        java_options = props.get("spark.driver.extraJavaOptions", "")
        props["spark.driver.extraJavaOptions"] = f"{java_options} {derby_home}".strip()
    driver_options = []
    if cfg.get("jvm", "log_config"):  # a system property, not SPARK_CONF_DIR: a class path folder with files in it
        driver_options.append(f"-Dlog4j2.configurationFile={cfg.get('jvm', 'log_config')}")  # rules out the archive
    if cfg.get("jvm", "class_archive"):
        # Classes mapped from the archive (stacktags.classarchive) instead of loaded one by one; a missing or stale
        # archive is skipped by the JVM, so its notice about that is silenced.
        driver_options += [f"-XX:SharedArchiveFile={cfg.get('jvm', 'class_archive')}", "-Xlog:cds=off",
                           "-Xlog:cds+dynamic=off"]
    if driver_options:
        java_options = props.get("spark.driver.extraJavaOptions", "")
        props["spark.driver.extraJavaOptions"] = " ".join([java_options, *driver_options]).strip()
    python = cfg.get("submit", "python")
    if python:  # same-machine targets: the driver's and the executors' Python workers use the project's venv
        props["spark.pyspark.python"] = python
        props["spark.pyspark.driver.python"] = python
    jars = cfg.section("jars")
    if jars.get("dir"):
        props["spark.jars"] = ",".join(jar_files(jars["dir"]))  # the bundle holds stacktags.jar too
        return props
    if jars.get("project"):
        props["spark.jars"] = jars["project"]
    if jars.get("packages"):
        props["spark.jars.packages"] = ",".join(jars["packages"])
        if jars.get("exclude"):
            props["spark.jars.excludes"] = ",".join(jars["exclude"])
    return props


def add_common_arguments(parser: argparse.ArgumentParser, default_conf: str = "conf/local.toml") -> None:
    """The options every job and script shares."""
    group = parser.add_argument_group("configuration")
    group.add_argument("--conf-file", default=default_conf,
                       help="settings file (TOML), one per target: conf/local.toml, conf/standalone.toml, ... "
                            f"(default: {default_conf}, relative to the current directory)")
    group.add_argument("--warehouse", help="warehouse folder or URI; overrides [catalog] warehouse. Locally it also "
                                           "holds the embedded metastore")
    group.add_argument("--database", help="catalog database of the project tables; overrides [catalog] database "
                                          "(default in conf: stackoverflow)")
    group.add_argument("--set", dest="settings", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override any setting, e.g. --set ingest.max_body_bytes=2048 or "
                            "--set spark.spark.sql.shuffle.partitions=4 (repeatable)")


def from_arguments(args: argparse.Namespace) -> Config:
    return load(args.conf_file, warehouse=args.warehouse, database=args.database, settings=args.settings)
