"""Loading a saved PipelineModel with each stage's metadata read by the driver.

pyspark reads a stage's metadata (one line of JSON) with a Spark job, `spark.read.text(...).first()`, and a Python
stage's twice: 19 jobs for a stacktags model, each with its scheduling cost (docs/performance.md). Here the driver
reads each metadata file through Hadoop's
FileSystem (any scheme) and sets the params of plain Python stages itself; stages with a reader of their own (the
Java ones, IDF and Normalizer, and the classifier with its coefficients) are left to it. The saved format is
pyspark's: what `PipelineModel.load` reads, this reads.
"""

from __future__ import annotations

import importlib
import json
import tempfile

from pyspark.ml import PipelineModel
from pyspark.ml.pipeline import PipelineSharedReadWrite
from pyspark.ml.util import DefaultParamsReader
from pyspark.sql import SparkSession

from stacktags.errors import UserError
from stacktags.files import data_files, download

PIPELINE_MODEL = "pyspark.ml.pipeline.PipelineModel"
SPARK_NLP_CLASSES = "com.johnsnowlabs."


class NotAStageError(UserError, FileNotFoundError):
    """A folder that holds no saved Spark ML stage (a model folder deleted or copied in part)."""


def read_metadata(spark: SparkSession, path: str) -> dict:
    """The metadata DefaultParamsWriter saved for the stage at path."""
    files = data_files(spark, f"{path}/metadata", "")
    if not files:
        raise NotAStageError(f"{path}/metadata: no metadata file; not a saved Spark ML stage")
    with tempfile.TemporaryDirectory(prefix="stacktags-metadata-") as local:
        download(spark, files[0], f"{local}/metadata.json")
        with open(f"{local}/metadata.json", encoding="utf-8") as handle:
            return json.loads(handle.readline())


class UnknownStageError(LookupError):
    """A saved stage names a class this code does not have (a model saved by another version of stacktags)."""


def python_class(name: str) -> type:
    """The Python class of a saved stage's class name (org.apache.spark.ml... -> pyspark.ml...), as pyspark finds
    it."""
    if not name.startswith("pyspark.ml."):
        name = name.replace("org.apache.spark", "pyspark")
    if name.startswith(SPARK_NLP_CLASSES):
        try:
            import sparknlp  # noqa: F401  # maps com.johnsnowlabs.* module names onto its Python classes
        except ImportError as error:
            raise UnknownStageError(
                f"{name} is a Spark NLP stage and the Python package spark-nlp is missing"
            ) from error
    module, _, class_name = name.rpartition(".")
    try:
        return getattr(importlib.import_module(module), class_name)
    except (ImportError, AttributeError) as error:
        raise UnknownStageError(f"no class {name} ({error})") from error


def load_stage(spark: SparkSession, path: str):
    """The stage saved at path: a PipelineModel with its stages, or any other saved stage."""
    metadata = read_metadata(spark, path)
    if metadata["class"] == PIPELINE_MODEL:
        uids = metadata["paramMap"]["stageUids"]
        stages = [
            load_stage(spark, PipelineSharedReadWrite.getStagePath(uid, index, len(uids), f"{path}/stages"))
            for index, uid in enumerate(uids)
        ]
        return PipelineModel(stages=stages)._resetUid(metadata["uid"])
    cls = python_class(metadata["class"])
    if type(cls.read()) is not DefaultParamsReader:  # a reader of its own: data beside the params, or a Java stage
        return cls.load(path)
    stage = cls()
    stage._resetUid(metadata["uid"])
    DefaultParamsReader.getAndSetParams(stage, metadata)
    return stage
