"""Settings files, overrides and the Spark properties derived from them (no JVM needed)."""

from pathlib import Path

import pytest

from conftest import ROOT
from stacktags import config


def write_conf(folder: Path, text: str) -> Path:
    path = folder / "conf" / "t.toml"
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
        str(tmp_path / "here"), "other", "other.questions_raw")


def test_set_overrides_any_setting_with_toml_values():
    cfg = config.load(ROOT / "conf" / "local.toml", settings=[
        "ingest.max_body_bytes=2048", "spark.spark.sql.shuffle.partitions=4", "ingest.encoding=latin-1"])
    assert cfg.get("ingest", "max_body_bytes") == 2048
    assert cfg.get("ingest", "encoding") == "latin-1"
    assert config.spark_properties(cfg)["spark.sql.shuffle.partitions"] == "4"


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


def test_local_properties_give_delta_and_an_embedded_catalog_in_the_warehouse():
    cfg = config.load(ROOT / "conf" / "local.toml", warehouse="/tmp/wh")
    props = config.spark_properties(cfg)
    assert props["spark.sql.extensions"] == config.DELTA_EXTENSION
    assert props["spark.sql.catalog.spark_catalog"] == config.DELTA_CATALOG
    assert props["spark.sql.catalogImplementation"] == "hive"
    assert props["spark.sql.warehouse.dir"] == "/tmp/wh"
    assert props["spark.hadoop.javax.jdo.option.ConnectionURL"] == \
        "jdbc:derby:;databaseName=/tmp/wh/metastore_db;create=true"
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
    assert options[:2] == ["-Dderby.system.home=/tmp/wh",
                           f"-Dlog4j2.configurationFile={tmp_path}/conf/log4j2.properties"]
    assert f"-XX:SharedArchiveFile={tmp_path}/var/jvm/c.jsa" in options
    assert "-Xlog:cds=off" in options  # a missing or stale archive is skipped quietly, not printed on stdout
    bare = config.spark_properties(config.load(write_conf(tmp_path / "b", "[catalog]\nmetastore = 'external'\n"),
                                               warehouse="/tmp/wh"))
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
