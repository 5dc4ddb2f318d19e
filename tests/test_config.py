"""Settings files, overrides and the Spark properties derived from them (no JVM needed)."""

import argparse
from pathlib import Path

import pytest
from conftest import CONF, ROOT

from stacktags import config


def write_conf(folder: Path, text: str, name: str = "t.toml") -> Path:
    path = folder / "conf" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_relative_paths_are_relative_to_the_conf_file_and_uris_pass_through(tmp_path, monkeypatch):
    path = write_conf(tmp_path, '[catalog]\ndatabase = "so"\nwarehouse = "../var/wh"\n')
    monkeypatch.chdir("/")
    assert config.load(path).warehouse == str(tmp_path / "var" / "wh")
    assert config.load(path, warehouse="s3://bucket/wh").warehouse == "s3://bucket/wh"


def test_command_line_paths_are_relative_to_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = config.load(ROOT / "conf" / "local.toml", warehouse="here", database="other")
    assert (cfg.warehouse, cfg.database, cfg.table("questions_raw")) == (
        str(tmp_path / "here"),
        "other",
        "other.questions_raw",
    )


def test_a_job_without_conf_file_reads_the_local_target_of_the_line_it_runs_on(monkeypatch):
    """python jobs/x.py under .venv-spark3.5 reads conf/spark3.5/local.toml, under .venv conf/local.toml."""
    monkeypatch.chdir(ROOT)
    parser = argparse.ArgumentParser()
    config.add_common_arguments(parser)
    assert config.from_arguments(parser.parse_args([])).path == CONF / "local.toml"
    assert config.from_options([], config.default_conf_file("local-postgres"))[0].path == CONF / "local-postgres.toml"


def test_set_overrides_any_setting_with_toml_values():
    cfg = config.load(
        ROOT / "conf" / "local.toml",
        settings=["ingest.max_body_bytes=2048", "spark.spark.sql.shuffle.partitions=4", "ingest.encoding=latin-1"],
    )
    assert cfg.get("ingest", "max_body_bytes") == 2048
    assert cfg.get("ingest", "encoding") == "latin-1"
    assert config.spark_properties(cfg)["spark.sql.shuffle.partitions"] == "4"


def test_relative_paths_are_relative_to_the_conf_files_folder_or_to_the_current_directory_on_the_command_line(
    tmp_path, monkeypatch
):
    path = write_conf(tmp_path, '[catalog]\ndatabase = "so"\nwarehouse = "wh"\n[train]\nmodels_dir = "../models"\n')
    cfg = config.load(path)
    assert (cfg.warehouse, cfg.get("train", "models_dir")) == (str(path.parent / "wh"), str(tmp_path / "models"))
    monkeypatch.chdir(tmp_path)
    cfg = config.load(path, warehouse="here", settings=["evaluate.reports_dir=reports", "train.models_dir=s3://b/m"])
    assert (cfg.warehouse, cfg.get("evaluate", "reports_dir")) == (str(tmp_path / "here"), str(tmp_path / "reports"))
    assert cfg.get("train", "models_dir") == "s3://b/m"


def test_spark_properties_and_string_settings_keep_their_text():
    cfg = config.load(
        ROOT / "conf" / "local.toml",
        settings=["spark.spark.executor.memoryOverheadFactor=0.10", "catalog.database=2024", 'ingest.encoding="utf-8"'],
    )
    assert config.spark_properties(cfg)["spark.executor.memoryOverheadFactor"] == "0.10"
    assert cfg.database == "2024" and cfg.get("ingest", "encoding") == "utf-8"


@pytest.mark.parametrize("bad", ["nodot=1", "ingest.max_body_bytes", "=3"])
def test_malformed_set_is_a_clear_error(bad):
    with pytest.raises(config.ConfigError, match="SECTION.KEY=VALUE"):
        config.load(ROOT / "conf" / "local.toml", settings=[bad])


def test_missing_or_invalid_conf_file_is_a_clear_error(tmp_path):
    with pytest.raises(config.ConfigError, match="conf file not found"):
        config.load(tmp_path / "nope.toml")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(write_conf(tmp_path, "[catalog\n"))
    with pytest.raises(config.ConfigError, match=r"\[catalog\] database is not set"):
        _ = config.load(write_conf(tmp_path, "[catalog]\n")).database


@pytest.mark.parametrize(
    "setting, message",
    [
        ("train.num_tagz=5", r"--set train.num_tagz=5: unknown setting train.num_tagz; did you mean train.num_tags\?"),
        ("trian.num_tags=5", r"unknown section \[trian\]; did you mean train\?"),
        ("nothing.like.this=5", r"unknown section \[nothing\]$"),
        ("catalog.warehose=/x", r"did you mean catalog.warehouse\?"),
        ("spark.sql.shuffle.partitions=4", r"\[spark\] holds Spark properties.*did you mean spark.spark.sql.shuffle"),
        ("train.num_tags=many", r"train.num_tags must be an integer, got 'many'"),
        ("train.bigrams=1", r"train.bigrams must be true or false, got 1"),
        ("train.reg_param=fast", r"train.reg_param must be a number"),
        ("train.classifier=mlib", r"train.classifier must be one of lockstep, mllib, got 'mlib'; did you mean mllib\?"),
        ("train.other_rows_rate=1.5", r"train.other_rows_rate must be between 0 and 1, got 1.5"),
        ("train.num_tags=0", r"train.num_tags must be at least 1, got 0"),
        ("train.max_tags=-2", r"train.max_tags must be at least 1, got -2"),
        ("glue.python_modules=[1, 2]", r"glue.python_modules must be a list of strings, got \[1, 2\]"),
    ],
)
def test_an_unknown_or_mistyped_setting_stops_at_start_with_the_nearest_valid_one(setting, message):
    with pytest.raises(config.ConfigError, match=message):
        config.load(ROOT / "conf" / "local.toml", settings=[setting])


def test_an_unknown_key_in_a_conf_file_is_refused_with_the_files_name(tmp_path):
    path = write_conf(tmp_path, '[catalog]\ndatabase = "so"\n[train]\nmax_itre = 3\n')
    with pytest.raises(
        config.ConfigError, match=rf"{path}: unknown setting train.max_itre; did you mean train.max_iter"
    ):
        config.load(path)
    with pytest.raises(config.ConfigError, match="outside any section"):
        config.load(write_conf(tmp_path, "num_tags = 3\n"))


def test_a_target_file_extends_its_base_and_overrides_it(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "common.toml").write_text(
        '[train]\nnum_tags = 10\nmax_iter = 3\n[ingest]\nencoding = "UTF-8"\n'
    )
    path = write_conf(tmp_path, 'base = "common.toml"\n[catalog]\ndatabase = "so"\n[train]\nmax_iter = 4\n')
    cfg = config.load(path, settings=["ingest.encoding=latin-1"])
    assert cfg.section("train") == {"num_tags": 10, "max_iter": 4} and cfg.get("ingest", "encoding") == "latin-1"
    (tmp_path / "conf" / "line.toml").write_text("[train]\nmax_iter = 5\nnum_features = 1024\n")
    several = write_conf(tmp_path, 'base = ["common.toml", "line.toml"]\n[train]\nnum_features = 2048\n', "s.toml")
    assert config.load(several).section("train") == {"num_tags": 10, "max_iter": 5, "num_features": 2048}
    (tmp_path / "conf" / "common.toml").write_text('base = "t.toml"\n')
    with pytest.raises(config.ConfigError, match="its base files lead back to it"):
        config.load(path)
    (tmp_path / "conf" / "common.toml").unlink()
    with pytest.raises(config.ConfigError, match=r"t.toml: its base .*common.toml is not there"):
        config.load(path)


def test_every_targets_conf_file_holds_only_known_settings():
    paths = sorted((ROOT / "conf").rglob("*.toml"))  # each runtime line's
    assert ROOT / "conf" / "spark3.5" / "local.toml" in paths
    for path in paths:
        config.load(path)


def test_a_spark35_target_is_the_41_targets_file_with_the_lines_venv_jvm_files_and_delta():
    for target in ("local", "local-s3", "local-postgres", "standalone"):
        line41, line35 = (config.load(ROOT / "conf" / folder / f"{target}.toml") for folder in (".", "spark3.5"))
        assert line35.get("jars", "packages")[0] == "io.delta:delta-spark_2.12:3.3.3"
        assert line35.get("submit", "python") == str(ROOT / ".venv-spark3.5" / "bin" / "python")
        assert line35.require("jars", "project") == str(ROOT / "var" / "spark3.5" / "jvm" / "stacktags.jar")
        assert "/var/spark3.5/" in line35.get("jvm", "class_archive")
        assert line35.get("jars", "resolved") != line41.get("jars", "resolved")
        if line35.get("catalog", "metastore") == "embedded":  # Derby 10.14 cannot open 10.16's metastore
            assert config.embedded_metastore_dir(line35) != config.embedded_metastore_dir(line41)
        else:
            assert line35.get("metastore", "database") != line41.get("metastore", "database")
        assert line35.section("train") == line41.section("train")  # what the jobs do is the same
        assert line35.get("spark", "spark.master") == line41.get("spark", "spark.master")


def test_the_stages_defaults_are_the_conf_defaults():
    """A stage built without arguments behaves as the train job with conf/defaults.toml."""
    from stacktags.features import QuestionHashingTF
    from stacktags.multilabel import MultilabelLogisticRegression

    train = config.load(ROOT / "conf" / "local.toml").section("train")
    hashing, estimator = QuestionHashingTF(), MultilabelLogisticRegression()
    assert {
        "num_features": hashing.getNumFeatures(),
        "title_weight": hashing.getOrDefault("titleWeight"),
        "bigrams": hashing.getOrDefault("withBigrams"),
        "distinct_terms": hashing.getOrDefault("distinctTerms"),
    } == {key: train[key] for key in ("num_features", "title_weight", "bigrams", "distinct_terms")}
    params = {
        "classifier": "solver",
        "num_tags": "numTags",
        "max_iter": "maxIter",
        "warm_start_rows": "warmStartRows",
        "warm_start_iter": "warmStartIter",
        "tags_per_fit": "tagsPerFit",
        "other_rows_rate": "otherRowsRate",
        "max_tags": "maxTags",
        "mllib_parallelism": "parallelism",
    }
    assert {key: estimator.getOrDefault(param) for key, param in params.items()} == {key: train[key] for key in params}
    # the conf's reg_param is a list that train chooses from; the estimator alone fits the path's first value
    assert estimator.getRegParam() == min(train["reg_param"])


def test_local_properties_give_delta_and_an_embedded_catalog_in_the_warehouse(tmp_path):
    cfg = config.load(
        ROOT / "conf" / "local.toml", warehouse="/tmp/wh", settings=[f"jars.resolved={tmp_path / 'none.json'}"]
    )  # not resolved yet: Maven packages
    props = config.spark_properties(cfg)
    assert props["spark.sql.extensions"] == config.DELTA_EXTENSION
    assert props["spark.sql.catalog.spark_catalog"] == config.DELTA_CATALOG
    assert props["spark.sql.catalogImplementation"] == "hive"
    assert props["spark.sql.warehouse.dir"] == "/tmp/wh"
    assert (
        props["spark.hadoop.javax.jdo.option.ConnectionURL"]
        == "jdbc:derby:;databaseName=/tmp/wh/metastore_db;create=true"
    )
    assert "-Dderby.system.home=/tmp/wh" in props["spark.driver.extraJavaOptions"]
    assert props["spark.jars.packages"] == "io.delta:delta-spark_4.1_2.13:4.2.0"
    assert "org.apache.hadoop:hadoop-client-runtime" in props["spark.jars.excludes"].split(",")  # Spark ships it
    assert props["spark.ui.enabled"] == "false"


def test_a_bundled_jar_folder_replaces_maven_packages(tmp_path):
    jars = tmp_path / "jars"
    jars.mkdir()
    for name in ("b.jar", "a.jar", "SHA256SUMS"):
        (jars / name).write_text("x")
    cfg = config.load(ROOT / "conf" / "local.toml", settings=[f'jars.dir="{jars}"'])
    props = config.spark_properties(cfg)
    assert "spark.jars.packages" not in props
    assert props["spark.jars"] == f"{jars}/a.jar,{jars}/b.jar"
    (jars / "a.jar").unlink(), (jars / "b.jar").unlink()
    with pytest.raises(config.ConfigError, match="holds no .jar files"):
        config.spark_properties(cfg)


def test_an_external_metastore_gets_no_derby_settings():
    cfg = config.load(ROOT / "conf" / "local.toml", settings=['catalog.metastore="external"'])
    assert not any("jdo" in key for key in config.spark_properties(cfg))


def test_the_driver_gets_the_log_settings_and_the_class_archive_beside_the_conf_file(tmp_path):
    path = write_conf(tmp_path, '[jvm]\nlog_config = "log4j2.properties"\nclass_archive = "../var/jvm/c.jsa"\n')
    options = config.spark_properties(config.load(path, warehouse="/tmp/wh"))["spark.driver.extraJavaOptions"].split()
    assert options[:2] == [
        "-Dderby.system.home=/tmp/wh",
        f"-Dlog4j2.configurationFile={tmp_path}/conf/log4j2.properties",
    ]
    assert f"-XX:SharedArchiveFile={tmp_path}/var/jvm/c.jsa" in options
    assert "-Xlog:cds=off" in options  # a missing or stale archive is skipped quietly, not printed on stdout
    bare = config.spark_properties(
        config.load(write_conf(tmp_path / "b", "[catalog]\nmetastore = 'external'\n"), warehouse="/tmp/wh")
    )
    assert "spark.driver.extraJavaOptions" not in bare


def test_a_class_archive_is_current_only_with_a_stamp_of_the_same_key(tmp_path):
    from stacktags import classarchive

    cfg = config.load(ROOT / "conf" / "local.toml")
    archive = tmp_path / "c.jsa"
    key = classarchive.archive_key(cfg)
    assert key == classarchive.archive_key(cfg)
    other_jars = config.load(ROOT / "conf" / "local.toml", settings=['jars.packages=["a:b:1"]'])
    assert key != classarchive.archive_key(other_jars)
    assert not classarchive.is_current(archive, key)
    archive.write_bytes(b"x")
    assert not classarchive.is_current(archive, key)  # no stamp: an interrupted build
    archive.with_suffix(".stamp").write_text(key + "\n")
    assert classarchive.is_current(archive, key)
    assert not classarchive.is_current(archive, "another JDK")
    assert classarchive.archive_path(cfg) == ROOT / "var" / "jvm" / "classes.jsa"
