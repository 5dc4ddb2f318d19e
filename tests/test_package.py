"""scripts/package.sh's folder: the wheel leaves Spark and Delta to the runtime, every artifact is listed with its
hash, and EMR's packed environment unpacks and imports the project with the cluster's Python (no JVM)."""

import subprocess
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from conftest import CONF, ROOT

from stacktags import config, package

pytestmark = pytest.mark.cluster_python  # the package is for [package] python: the same under any test Python

CLUSTER_PYTHON = "/usr/bin/python3.11"  # [package] python of conf/defaults.toml, as on the cluster


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    cfg = config.load(CONF / "emr.toml", settings=[f'package.out="{out}"'])  # the tests' line's
    return package.build(ROOT, cfg)


def test_the_folder_is_named_by_version_and_commit_and_lists_every_file_with_its_hash(packaged):
    assert packaged.name.startswith(package.package_version(ROOT).split("-dirty")[0])
    check = subprocess.run(
        ["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=packaged, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    listed = {line.split("  ", 1)[1] for line in (packaged / "SHA256SUMS").read_text().splitlines()}
    assert {
        "glue/glue_entry.py",
        "jobs/train.py",
        "conf/glue.toml",
        "conf/defaults.toml",
        "jars/stacktags.jar",
        package.ENVIRONMENT,
    } <= listed
    assert listed == {
        p.relative_to(packaged).as_posix() for p in packaged.rglob("*") if p.name != "SHA256SUMS" and p.is_file()
    }


def test_the_wheel_holds_the_runtime_package_only_and_requires_neither_spark_nor_the_benchmarks_tools(packaged):
    (wheel,) = packaged.glob("stacktags-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(name for name in names if name.endswith(".dist-info/METADATA"))
        fields = Parser().parsestr(archive.read(metadata).decode())
    assert "stacktags/jvm/TagScorer.java" in names
    source = {p.relative_to(ROOT / "lib").as_posix() for p in (ROOT / "lib" / "stacktags").rglob("*.py")}
    assert {name for name in names if name.endswith(".py")} == source  # no benchmarks, nothing a former build left
    required = [r for r in fields.get_all("Requires-Dist") if "extra ==" not in r]
    assert any(r.startswith("numba") for r in required)
    assert not [
        r for r in required if r.startswith(("pyspark", "delta-spark", "spark-nlp", "scikit-learn", "beautifulsoup4"))
    ]


def test_the_environment_runs_the_project_with_the_clusters_python(packaged, tmp_path):
    with tarfile.open(packaged / package.ENVIRONMENT) as archive:
        archive.extractall(tmp_path / "environment", filter="tar")
    python = tmp_path / "environment" / "bin" / "python"
    assert python.resolve() == Path(CLUSTER_PYTHON).resolve()  # the interpreter at the cluster's path, not packed
    imported = subprocess.run(
        [
            python,
            "-c",
            "import numba, numpy, scipy.sparse, pyarrow, stacktags.config, stacktags.glue_entry;"
            "print(f'numpy=={numpy.__version__}')",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    # [package] requirements hold: NumPy 1 on the Spark 3.5 line (conf/spark3.5/cloud.toml), the newest otherwise
    pinned = [r for r in config.load(CONF / "emr.toml").get("package", "requirements", []) if r.startswith("numpy==")]
    assert imported.stdout.strip() == pinned[0] if pinned else imported.stdout.startswith("numpy==2.")
