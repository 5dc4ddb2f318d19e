"""Settings: one TOML file per target (conf/<target>.toml) plus command-line overrides.

Relative paths in a conf file are relative to the folder of that file, so a job finds the same warehouse whatever
directory it is started from. A target's file names a base file (`base = "defaults.toml"`, in the same folder), or
several, each over the one before (`base = ["../local.toml", "line.toml"]`), whose settings it extends and may
override. Paths given on the command line are relative to the current directory,
as usual.
Nothing is read from environment variables.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import os
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from stacktags.errors import UserError

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"

# Properties that only the launcher (spark-submit, or the embedded session factory) can set: they decide the
# JVM and the classpath before any Python code runs.
LAUNCH_PROPERTIES = frozenset(
    {
        "spark.master",
        "spark.submit.deployMode",
        "spark.jars",
        "spark.jars.packages",
        "spark.jars.excludes",
        "spark.jars.repositories",
        "spark.driver.memory",
        "spark.driver.cores",
        "spark.driver.extraJavaOptions",
        "spark.driver.extraClassPath",
    }
)


class ConfigError(UserError, ValueError):
    """A setting is missing, unknown, malformed or points at nothing."""


# Every setting a conf file or --set may hold, by section, with the type its value must have. [spark] holds Spark
# properties (spark.*), passed to Spark as they are.
SETTINGS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "catalog": {"database": str, "warehouse": str, "metastore": str, "metastore_dir": str},
    # [catalog] metastore = "postgresql": the metastore's database (stacktags.metastore runs a server for it)
    "metastore": {"host": str, "port": int, "database": str, "user": str, "data_dir": str},
    "jars": {"project": str, "packages": list, "exclude": list, "dir": str, "resolved": str},
    "submit": {"python": str},
    "jvm": {"log_config": str, "class_archive": str},
    "ingest": {"encoding": str, "max_body_bytes": int},
    "clean": {"split": dict},
    "text": {"engine": str},
    "train": {
        "classifier": str,
        "num_tags": int,
        "num_features": int,
        "title_weight": int,
        "bigrams": bool,
        "distinct_terms": bool,
        "min_doc_freq": int,
        "warm_start_rows": int,
        "warm_start_iter": int,
        "max_iter": int,
        "tags_per_fit": int,
        "other_rows_rate": (int, float),
        "reg_param": (int, float, list),  # a number, or numbers to choose from on the validation split
        "max_tags": int,
        "test_from": (str, date),
        "models_dir": str,
        "mllib_max_iter": int,
        "mllib_parallelism": int,
    },
    "evaluate": {"reports_dir": str},
    "refresh": {"retrain_after": int, "lease_minutes": int},
    "monitor": {
        "min_rows": int,
        "length_psi": (int, float),
        "unweighted_share_rise": (int, float),
        "empty_text_share_rise": (int, float),
        "predicted_tags_js": (int, float),
        "forced_tag_share_rise": (int, float),
        "top_score_drop": (int, float),
        "min_live_rows": int,
        "live_micro_f1_drop": (int, float),
        "live_macro_f1_drop": (int, float),
        "live_p_at_1_drop": (int, float),
        "webhook_url_env": str,
        "sns_topic_arn": str,
        "cloudwatch_namespace": str,
        "notify_attempts": int,
        "notify_retry_seconds": (int, float),
    },
    "registry": {
        "micro_f1_tolerance": (int, float),
        "p_at_1_tolerance": (int, float),
        "macro_f1_tolerance": (int, float),
    },
    "package": {"python": str, "out": str, "requirements": list, "spark_nlp": bool},
    # the cloud targets (stacktags.cloud)
    "aws": {"region": str, "artifacts": str, "logs": str, "endpoint_url": str},
    "glue": {
        "job_prefix": str,
        "glue_version": str,
        "worker_type": str,
        "workers": int,
        "timeout_minutes": int,
        "python_modules": list,
    },
    "emr": {"cluster_id": str, "release_label": str, "action_on_failure": str, "timeout_minutes": int},
    "emr_serverless": {"application_id": str, "execution_role": str, "release_label": str, "timeout_minutes": int},
}
CHOICES = {
    ("catalog", "metastore"): ("embedded", "postgresql", "external"),
    ("train", "classifier"): ("lockstep", "mllib"),
    ("text", "engine"): ("native", "spark-nlp"),
    ("emr", "action_on_failure"): ("CONTINUE", "CANCEL_AND_WAIT", "TERMINATE_CLUSTER"),
}
# Bounds of the numeric settings, inclusive (None: unbounded).
RANGES: dict[tuple[str, str], tuple[float | None, float | None]] = {
    ("ingest", "max_body_bytes"): (1, None),
    ("train", "num_tags"): (1, None),
    ("train", "num_features"): (2, 2**31 - 1),
    ("train", "title_weight"): (1, None),
    ("train", "min_doc_freq"): (0, None),
    ("train", "warm_start_rows"): (0, None),
    ("train", "warm_start_iter"): (0, None),
    ("train", "max_iter"): (1, None),
    ("train", "tags_per_fit"): (1, None),
    ("train", "other_rows_rate"): (0, 1),
    ("train", "reg_param"): (0, None),
    ("train", "max_tags"): (1, None),
    ("train", "mllib_max_iter"): (1, None),
    ("train", "mllib_parallelism"): (1, None),
    ("refresh", "retrain_after"): (1, None),
    ("refresh", "lease_minutes"): (1, None),
    ("monitor", "min_rows"): (1, None),
    ("monitor", "min_live_rows"): (1, None),
    ("monitor", "notify_attempts"): (1, 10),
    ("monitor", "notify_retry_seconds"): (0, 600),
    **{
        ("monitor", key): (0, None)
        for key in (
            "length_psi",
            "unweighted_share_rise",
            "empty_text_share_rise",
            "predicted_tags_js",
            "forced_tag_share_rise",
            "top_score_drop",
            "live_micro_f1_drop",
            "live_macro_f1_drop",
            "live_p_at_1_drop",
        )
    },
    ("registry", "micro_f1_tolerance"): (0, 1),
    ("registry", "p_at_1_tolerance"): (0, 1),
    ("registry", "macro_f1_tolerance"): (0, 1),
    ("metastore", "port"): (1, 65535),
    ("glue", "workers"): (2, None),
    ("glue", "timeout_minutes"): (1, None),
}
# The lists whose items are strings.
STRING_LISTS = {("jars", "packages"), ("jars", "exclude"), ("glue", "python_modules"), ("package", "requirements")}
SPARK_SECTION = "spark"
TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    list: "a list",
    dict: "a table",
    (int, float): "a number",
    (int, float, list): "a number or a list of numbers",
    (str, date): "a date such as 2015-01-01",
}


def _nearest(name: str, candidates: list[str]) -> str:
    """'; did you mean X?' for the closest candidate, or nothing when none is close."""
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def check_setting(section: str, key: str, value: Any, origin: str) -> None:
    """Refuse a setting this project does not have, or a value of the wrong type, naming the nearest valid one."""
    if section == SPARK_SECTION:
        if not key.startswith("spark."):
            raise ConfigError(
                f"{origin}: [spark] holds Spark properties, whose names start with spark., not {key!r}"
                f"; did you mean spark.spark.{key}?"
            )
        return
    if section not in SETTINGS:
        raise ConfigError(f"{origin}: unknown section [{section}]{_nearest(section, [*SETTINGS, SPARK_SECTION])}")
    known = SETTINGS[section]
    if key not in known:
        suggestion = _nearest(key, list(known))
        raise ConfigError(
            f"{origin}: unknown setting {section}.{key}"
            f"{suggestion.replace('mean ', f'mean {section}.') if suggestion else ''}"
        )
    kind = known[key]
    is_bool = isinstance(value, bool)
    if (is_bool and kind is not bool) or not isinstance(value, kind):
        raise ConfigError(f"{origin}: {section}.{key} must be {TYPE_NAMES[kind]}, got {value!r}")
    numbers = [value]
    if isinstance(value, list) and kind is not list:  # a setting that takes a number or a list of numbers
        if not value or not all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in value):
            raise ConfigError(f"{origin}: {section}.{key} must be {TYPE_NAMES[kind]}, got {value!r}")
        numbers = value
    low, high = RANGES.get((section, key), (None, None))
    if any((low is not None and n < low) or (high is not None and n > high) for n in numbers):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ConfigError(f"{origin}: {section}.{key} must be {bounds}, got {value!r}")
    if (section, key) in STRING_LISTS and not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{origin}: {section}.{key} must be a list of strings, got {value!r}")
    choices = CHOICES.get((section, key))
    if choices and value not in choices:
        raise ConfigError(
            f"{origin}: {section}.{key} must be one of {', '.join(choices)}, got {value!r}"
            f"{_nearest(value, list(choices))}"
        )


def check_settings(data: dict[str, Any], origin: str) -> None:
    """Every section and key of a parsed conf file against SETTINGS."""
    for section, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(
                f"{origin}: {section} = {values!r} is outside any section; settings go under [section] headers"
            )
        for key, value in values.items():
            check_setting(section, key, value, origin)


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
    files: tuple[Path, ...] = ()  # the conf file and the base files it extends, itself first

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


# The file names of PostgreSQL's JDBC driver: as Spark's resolver (Ivy) names it, and as Maven does (a bundle folder).
JDBC_DRIVER_JARS = ("org.postgresql_postgresql-", "postgresql-")

# The settings that name a file or folder. A relative path is relative to the folder of the conf file that sets it,
# or to the current directory when --set or --warehouse gives it.
PATH_SETTINGS = frozenset(
    {
        ("catalog", "warehouse"),
        ("catalog", "metastore_dir"),
        ("metastore", "data_dir"),
        ("jars", "dir"),
        ("jars", "project"),
        ("jars", "resolved"),
        ("jvm", "class_archive"),
        ("jvm", "log_config"),
        ("package", "out"),
        ("submit", "python"),
        ("train", "models_dir"),
        ("evaluate", "reports_dir"),
    }
)
BASE_KEY = "base"  # a conf file's top-level key naming the file (or files, each over the one before) it extends


def read_file(path: Path, extended_by: tuple[Path, ...] = ()) -> tuple[dict[str, Any], tuple[Path, ...]]:
    """A conf file's settings, checked, on top of those of its base file (and the base's base, ...); and the files
    read, this one first."""
    if not path.is_file():
        raise ConfigError(
            f"conf file not found: {path} (pass --conf-file, e.g. conf/local.toml)"
            if not extended_by
            else f"{extended_by[-1]}: its base {path} is not there"
        )
    if path in extended_by:
        raise ConfigError(f"{path}: its base files lead back to it")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    base = data.pop(BASE_KEY, None)
    check_settings(data, str(path))
    for section, key in PATH_SETTINGS:
        if data.get(section, {}).get(key):
            data[section][key] = _resolve_path(data[section][key], path.parent)
    merged, files = {}, (path,)
    for name in [base] if isinstance(base, str) else base or []:
        settings, read = read_file((path.parent / name).resolve(), (*extended_by, path))
        for section, values in settings.items():
            merged.setdefault(section, {}).update(values)
        files += read
    for section, values in data.items():
        merged.setdefault(section, {}).update(values)
    return merged, files


def load(
    path: str | Path, warehouse: str | None = None, database: str | None = None, settings: list[str] | None = None
) -> Config:
    """Read a conf file (on top of its base) and apply overrides: --warehouse, --database and any number of
    --set SECTION.KEY=VALUE. Every setting is checked against SETTINGS."""
    path = Path(path).expanduser().resolve()
    data, files = read_file(path)
    data = copy.deepcopy(data)
    for setting in settings or []:
        section, key, value = parse_setting(setting)
        check_setting(section, key, value, f"--set {setting}")
        if (section, key) in PATH_SETTINGS:
            value = _resolve_path(value, Path.cwd())
        data.setdefault(section, {})[key] = value
    catalog = data.setdefault("catalog", {})
    if database:
        catalog["database"] = database
    if warehouse:
        catalog["warehouse"] = _resolve_path(warehouse, Path.cwd())
    return Config(path=path, data=data, files=files)


def parse_setting(text: str) -> tuple[str, str, Any]:
    """'ingest.max_body_bytes=2048' -> ('ingest', 'max_body_bytes', 2048). The key is everything after the first
    dot, so spark.spark.sql.shuffle.partitions=4 works. Spark properties and string settings keep their text as it is
    (3.10 stays 3.10, a database named 2024 stays a string; TOML quotes are taken off); other values are read as TOML,
    falling back to a plain string."""
    name, sep, raw = text.partition("=")
    section, dot, key = name.strip().partition(".")
    key, raw = key.strip().strip('"'), raw.strip()
    if not sep or not dot or not section or not key:
        raise ConfigError(f"--set takes SECTION.KEY=VALUE, got {text!r}")
    if section == SPARK_SECTION or SETTINGS.get(section, {}).get(key) is str:
        quoted = len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'"
        return section, key, raw[1:-1] if quoted else raw
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return section, key, value


def _spark_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def jar_files(folder: str) -> list[str]:
    """The jars of a folder made by scripts/bundle-jars.sh, in a stable order."""
    jars = sorted(str(p) for p in Path(folder).glob("*.jar"))
    if not jars:
        raise ConfigError(f"[jars] dir = {folder} holds no .jar files (make it with scripts/bundle-jars.sh)")
    return jars


def recorded_resolutions(record: str) -> list[dict]:
    """What `python -m stacktags.jars resolve` recorded: one {packages, exclude, jars} per set of packages resolved
    (a conf's, and the same with Spark NLP added: switching [text] engine resolves nothing again)."""
    try:
        known = json.loads(Path(record).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return known.get("resolutions", []) if isinstance(known, dict) else []


def recorded_jars(record: str, packages: list[str], exclude: list[str]) -> list[str] | None:
    """The local jar files recorded for these packages, or None when the record is missing, holds no resolution of
    them, or names a jar that is no longer there."""
    for known in recorded_resolutions(record):
        if known.get("packages") == packages and known.get("exclude", []) == exclude:
            jars = known.get("jars", [])
            return jars if all(Path(jar).is_file() for jar in jars) else None
    return None


def embedded_metastore_dir(cfg: Config) -> str:
    """The local folder of the embedded Derby metastore: [catalog] metastore_dir, or the warehouse folder."""
    folder = cfg.get("catalog", "metastore_dir")
    if folder:
        return folder
    if _is_uri(cfg.warehouse) and not cfg.warehouse.startswith("file:"):
        raise ConfigError(
            f"{cfg.path}: the embedded metastore needs a folder of this machine, and the warehouse is "
            f"{cfg.warehouse}: set [catalog] metastore_dir"
        )
    return cfg.warehouse.removeprefix("file:")


def metastore_names(cfg: Config) -> tuple[str, str]:
    """[metastore] database and user, checked to be plain SQL identifiers: they stand in SQL and a JDBC URL as they
    are."""
    names = (cfg.require("metastore", "database"), cfg.require("metastore", "user"))
    for key, name in zip(("database", "user"), names, strict=True):
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ConfigError(f"{cfg.path}: [metastore] {key} {name!r}: lower-case letters, digits and _ only")
    return names


def spark_properties(cfg: Config) -> dict[str, str]:
    """Every Spark property a stacktags session needs, derived from the config in one place.

    Used by the session factory, by scripts/submit.sh (as --properties-file) and by scripts/spark-sql, so a job and
    a SQL shell see the same catalog, warehouse and Delta settings.
    """
    props = _catalog_and_jar_properties(cfg)
    if cfg.get("catalog", "metastore") == "postgresql":
        # The metastore client finds its JDBC driver through java.sql.DriverManager, which sees the JVM's class path,
        # not the jars Spark adds at run time
        drivers = [jar for jar in props.get("spark.jars", "").split(",") if Path(jar).name.startswith(JDBC_DRIVER_JARS)]
        if not drivers:
            raise ConfigError(
                f"{cfg.path}: the PostgreSQL metastore needs its JDBC driver's jar (org.postgresql:postgresql in "
                "[jars] packages, resolved by scripts/setup.sh, or in [jars] dir)"
            )
        class_path = props.get("spark.driver.extraClassPath")
        props["spark.driver.extraClassPath"] = ":".join([*([class_path] if class_path else []), *drivers])
    return props


def _catalog_and_jar_properties(cfg: Config) -> dict[str, str]:
    props = {key: _spark_value(value) for key, value in cfg.section("spark").items()}
    props["spark.sql.extensions"] = DELTA_EXTENSION
    props["spark.sql.catalog.spark_catalog"] = DELTA_CATALOG
    props["spark.sql.catalogImplementation"] = (
        "hive"  # persistent catalog: tables are visible by name to the next process
    )
    props["spark.sql.warehouse.dir"] = cfg.warehouse
    if cfg.get("catalog", "metastore", "embedded") == "embedded":
        # The embedded default: a Derby metastore inside the warehouse folder, so one folder holds the whole catalog;
        # with the warehouse elsewhere (s3a://), in [catalog] metastore_dir, a folder of this machine.
        folder = embedded_metastore_dir(cfg)
        props["spark.hadoop.javax.jdo.option.ConnectionURL"] = (
            f"jdbc:derby:;databaseName={folder}/metastore_db;create=true"
        )
        derby_home = f"-Dderby.system.home={folder}"  # keeps derby.log out of the cwd
        java_options = props.get("spark.driver.extraJavaOptions", "")
        props["spark.driver.extraJavaOptions"] = f"{java_options} {derby_home}".strip()
    elif cfg.get("catalog", "metastore") == "postgresql":
        # Hive's metastore tables in a PostgreSQL database, made by the metastore client on first use (no password:
        # stacktags.metastore's server lets this machine's connections in as the metastore's user)
        database, user = metastore_names(cfg)
        props |= {
            "spark.hadoop.javax.jdo.option.ConnectionURL": (
                f"jdbc:postgresql://{cfg.require('metastore', 'host')}:{cfg.require('metastore', 'port')}/{database}"
            ),
            "spark.hadoop.javax.jdo.option.ConnectionDriverName": "org.postgresql.Driver",
            "spark.hadoop.javax.jdo.option.ConnectionUserName": user,
            "spark.hadoop.datanucleus.schema.autoCreateAll": "false",
            "spark.hadoop.datanucleus.schema.autoCreateTables": "true",
            "spark.hadoop.datanucleus.schema.autoCreateColumns": "true",
            "spark.hadoop.datanucleus.schema.autoCreateConstraints": "false",
            "spark.hadoop.hive.metastore.schema.verification": "false",
        }
    driver_options = []
    if cfg.get("jvm", "log_config"):  # a system property, not SPARK_CONF_DIR: a class path folder with files in it
        driver_options.append(f"-Dlog4j2.configurationFile={cfg.get('jvm', 'log_config')}")  # rules out the archive
    if cfg.get("jvm", "class_archive"):
        # Classes mapped from the archive (stacktags.classarchive) instead of loaded one by one; a missing or stale
        # archive is skipped by the JVM, so its notice about that is silenced.
        driver_options += [
            f"-XX:SharedArchiveFile={cfg.get('jvm', 'class_archive')}",
            "-Xlog:cds=off",
            "-Xlog:cds+dynamic=off",
        ]
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
    packages, exclude = jar_packages(cfg)
    local = packages and jars.get("resolved") and recorded_jars(jars["resolved"], packages, exclude)
    if local:  # the packages' jars as resolved at setup: no resolution (nor its report) at each start
        props["spark.jars"] = ",".join([*([jars["project"]] if jars.get("project") else []), *local])
        return props
    if jars.get("project"):
        props["spark.jars"] = jars["project"]
    if packages:
        props["spark.jars.packages"] = ",".join(packages)
        if exclude:
            props["spark.jars.excludes"] = ",".join(exclude)
    return props


def jar_packages(cfg: Config) -> tuple[list[str], list[str]]:
    """The Maven packages a run needs and the dependencies it leaves out: [jars] packages and exclude, plus the
    running line's Spark NLP when [text] engine is spark-nlp, for the targets that resolve packages (those with
    [jars] packages; a cluster's runtime or [jars] dir brings its own jars)."""
    packages, exclude = list(cfg.get("jars", "packages", [])), list(cfg.get("jars", "exclude", []))
    if packages and cfg.get("text", "engine", "native") == "spark-nlp":
        from stacktags.lines import running_line, spark_nlp_exclude, spark_nlp_package

        line = running_line()
        packages.append(spark_nlp_package(line))
        exclude += [name for name in spark_nlp_exclude(line) if name not in exclude]
    return packages, exclude


def default_conf_file(target: str = "local") -> str:
    """A target's conf file on the runtime line of this Python, relative to the current directory: conf/local.toml,
    or conf/spark3.5/local.toml when a job runs under the 3.5 line's venv."""
    from stacktags.lines import CONF_FOLDERS, running_line

    return (Path("conf") / CONF_FOLDERS[running_line()] / f"{target}.toml").as_posix()


def add_common_arguments(parser: argparse.ArgumentParser, default_conf: str | None = None) -> None:
    """The options every job and script shares; --conf-file's default is default_conf, or the local target's file of
    the running line."""
    default_conf = default_conf or default_conf_file()
    group = parser.add_argument_group("configuration")
    group.add_argument(
        "--conf-file",
        default=default_conf,
        help="settings file (TOML), one per target: conf/local.toml, conf/standalone.toml, ... "
        f"(default: {default_conf}, relative to the current directory)",
    )
    group.add_argument(
        "--warehouse",
        help="warehouse folder or URI; overrides [catalog] warehouse. Locally it also holds the embedded metastore",
    )
    group.add_argument(
        "--database",
        help="catalog database of the project tables; overrides [catalog] database (default in conf: stackoverflow)",
    )
    group.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override any setting, e.g. --set ingest.max_body_bytes=2048 or "
        "--set spark.spark.sql.shuffle.partitions=4 (repeatable)",
    )
    group.add_argument(
        "--verbose",
        action="store_true",
        help="on an error the user can fix (a setting, an input), print the traceback too",
    )


def from_options(options: list[str], default_conf: str) -> tuple[Config, list[str]]:
    """The Config that a command line's --conf-file, --warehouse, --database and --set give (default_conf without
    --conf-file), and the options it left."""
    parser = argparse.ArgumentParser(add_help=False)
    add_common_arguments(parser, default_conf=default_conf)
    known, rest = parser.parse_known_args(options)
    return from_arguments(known), rest


def from_arguments(args: argparse.Namespace) -> Config:
    return load(args.conf_file, warehouse=args.warehouse, database=args.database, settings=args.settings)
