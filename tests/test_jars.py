"""stacktags.jar: built from lib/stacktags/jvm by javac, rebuilt only when its sources change, bundled with the rest."""

import zipfile

import pytest
from conftest import ROOT

from stacktags import config, jars


def test_the_jar_holds_the_scanners_and_is_built_once(tmp_path):
    jar = jars.build(tmp_path / "stacktags.jar")
    with zipfile.ZipFile(jar) as archive:
        assert "stacktags/TextPreparation.class" in archive.namelist()
    built = jar.stat().st_mtime_ns
    assert jars.build(jar) == jar and jar.stat().st_mtime_ns == built  # up to date: not compiled again


def test_a_source_that_does_not_compile_leaves_the_old_jar(tmp_path, monkeypatch):
    jar = jars.build(tmp_path / "stacktags.jar")
    before = jar.read_bytes()
    sources = tmp_path / "jvm"
    sources.mkdir()
    (sources / "Broken.java").write_text("package stacktags; class Broken { int x = ; }")
    monkeypatch.setattr(jars, "JAVA_SOURCES", sources)
    with pytest.raises(jars.BuildError, match="Broken.java"):
        jars.build(jar)
    assert jar.read_bytes() == before


def test_local_sessions_get_the_jar_and_a_bundle_carries_it(tmp_path):
    cfg = config.load(ROOT / "conf" / "local.toml")
    assert config.spark_properties(cfg)["spark.jars"].split(",")[0] == str(ROOT / "var" / "jvm" / "stacktags.jar")
    folder = jars.bundle([str(jars.build(tmp_path / "stacktags.jar"))], tmp_path / "bundle")
    assert (folder / "stacktags.jar").is_file() and "stacktags.jar" in (folder / "SHA256SUMS").read_text()
    bundled = config.load(ROOT / "conf" / "local.toml", settings=[f'jars.dir="{folder}"'])
    assert config.spark_properties(bundled)["spark.jars"] == str(folder / "stacktags.jar")
