"""scripts/package.sh's folder: the wheel leaves Spark and Delta to the runtime, every artifact is listed with its
hash, EMR's packed environment unpacks and imports the project with the cluster's Python, and on the line whose
package ships Spark NLP, the pipeline runs text.engine = "spark-nlp" with the packaged jars beside Delta's only."""

import json
import subprocess
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from conftest import CONF, LINE, ROOT, SAMPLE, SHORT_JVM, script

from stacktags import config, jars, package
from stacktags.lines import SPARK_NLP

pytestmark = pytest.mark.cluster_python  # the package is for [package] python: the same under any test Python

CLUSTER_PYTHON = "/usr/bin/python3.11"  # [package] python of conf/defaults.toml, as on the cluster
SHIPS_SPARK_NLP = config.load(CONF / "emr.toml").get("package", "spark_nlp")  # the 3.5 line's package


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
    # Spark NLP's Python package where the package ships its jars (it imports the pyspark that EMR puts on the path)
    spark_nlp = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('spark-nlp'))"], capture_output=True, text=True
    )
    assert spark_nlp.stdout.strip() == (SPARK_NLP[LINE] if SHIPS_SPARK_NLP else ""), spark_nlp.stderr[-300:]


def test_spark_nlps_jars_ship_without_what_the_runtime_brings_on_the_line_that_has_them(packaged):
    folder = packaged / package.SPARK_NLP_JARS
    if not SHIPS_SPARK_NLP:
        assert not folder.exists()
        return
    shipped = sorted(p.name for p in folder.glob("*.jar"))
    assert any(name.startswith("com.johnsnowlabs.nlp_spark-nlp_2.12-") for name in shipped)
    assert not [name for name in shipped if "delta" in name or "tensorflow" in name]
    listed = (packaged / "SHA256SUMS").read_text()
    assert all(f"{package.SPARK_NLP_JARS}/{name}" in listed for name in shipped)


@pytest.mark.jvm
def test_the_pipeline_runs_spark_nlp_with_the_packaged_jars_beside_the_runtimes_delta_only(packaged, tmp_path):
    """As on a cluster, which brings Spark and Delta: the jobs' class path is the package's jars (stacktags.jar,
    jars/spark-nlp/) and Delta's, nothing resolved; ingest, clean with Spark NLP's annotators, train, evaluate and
    score the sample in one process."""
    if not SHIPS_SPARK_NLP:
        pytest.skip(f"the {LINE} line's package ships no Spark NLP ([package] spark_nlp)")
    class_path = tmp_path / "jars"
    class_path.mkdir()
    for jar in [
        packaged / "jars" / "stacktags.jar",
        *(packaged / package.SPARK_NLP_JARS).glob("*.jar"),
        *map(Path, jars.resolved_jars(ROOT, "native")),
    ]:
        (class_path / jar.name).symlink_to(jar)
    settings = ["text.engine=spark-nlp", f"jars.dir={class_path}", "train.num_tags=10", "train.max_iter=10"]
    result = subprocess.run(
        [
            *script("submit.sh", "pipeline", "--warehouse", tmp_path / "warehouse", "--source", SAMPLE),
            *[option for setting in settings for option in ("--set", setting)],
            *SHORT_JVM,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "predictions: 2000 questions scored with model 1" in result.stdout
    stages = (tmp_path / "warehouse" / "models" / "stackoverflow" / "v1" / "stages").glob(
        "0_*/stages/*/metadata/part-*"
    )
    assert {"com.johnsnowlabs.nlp.DocumentAssembler", "com.johnsnowlabs.nlp.annotators.TokenizerModel"} <= {
        json.loads(path.read_text())["class"] for path in stages
    }
