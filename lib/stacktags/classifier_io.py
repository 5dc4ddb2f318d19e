"""The multilabel classifier's parts on disk: saving and loading its tags, thresholds, coefficients and intercepts.

What it owns: the format of a saved MultilabelLogisticModel (Spark ML metadata for the params, one Parquet row per
tag for the coefficients) and the checks that its parts agree, on load and whenever they are set.
"""

from __future__ import annotations

import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReader, MLWriter
from pyspark.sql import SparkSession

from stacktags.errors import ModelMismatchError
from stacktags.files import data_files, download, upload
from stacktags.packing import lists_to_csr
from stacktags.persistence import read_metadata


def check_consistent(model) -> None:
    """Refuses a MultilabelLogisticModel whose tags, thresholds, coefficients and intercepts disagree in number."""
    tags = model.getOrDefault(model.tags)
    sizes = {
        "tags": len(tags),
        "thresholds": len(model.getOrDefault(model.thresholds)),
        "coefficient columns": model.coefficients.shape[1] if model.coefficients is not None else None,
        "intercepts": len(model.intercepts) if model.intercepts is not None else None,
    }
    if len(set(sizes.values())) != 1:
        raise ModelMismatchError(f"model parts disagree: {sizes}; the model was not saved whole, or was edited")
    if len(set(tags)) != len(tags):
        raise ModelMismatchError("model tag list holds duplicates")


class ModelWriter(MLWriter):
    """Params (tags, thresholds, ...) as Spark ML metadata, plus the width of the feature vectors; one row per tag
    (position, tag, intercept, its non-zero coefficients as indices and values) as a Parquet file in data/, which
    Spark reads as a table, so a reader can check that each row belongs to the tag it claims. Sparse, because most
    hashed columns carry no weight. pyarrow writes the file on the driver, where the coefficients are, and Hadoop's
    FileSystem copies it to the model's folder on any file system: faster than through a DataFrame, which sends
    every row from Python to the JVM (docs/performance.md)."""

    def __init__(self, instance):
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        m = self.instance
        DefaultParamsWriter.saveMetadata(  # the SparkContext: Spark 4 takes it or the session, Spark 3.5 only it
            m, path, self.sparkSession.sparkContext, extraMetadata={"numFeatures": int(m.coefficients.shape[0])}
        )
        indptr, indices, values = nonzero_per_tag(m.coefficients)
        offsets = pa.array(indptr, pa.int32())
        tags = m.getOrDefault(m.tags)
        rows = pa.table(
            {
                "position": pa.array(np.arange(len(tags), dtype=np.int32)),
                "tag": pa.array(tags, pa.string()),
                "intercept": pa.array(m.intercepts, pa.float64()),
                "indices": pa.ListArray.from_arrays(offsets, pa.array(indices, pa.int32())),
                "values": pa.ListArray.from_arrays(offsets, pa.array(values, pa.float32())),
            }
        )
        with tempfile.TemporaryDirectory(prefix="stacktags-model-") as folder:
            # Neither dictionary encoding nor compression: trained coefficients hardly repeat, so trying
            # dictionaries and compressing cost most of the write and save no space (docs/performance.md).
            pq.write_table(rows, f"{folder}/data.parquet", use_dictionary=False, compression="none")
            upload(self.sparkSession, f"{folder}/data.parquet", f"{path}/data/part-00000.parquet")


def nonzero_per_tag(coefficients: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each tag's non-zero coefficients (column k of the (features x tags) matrix), as the indptr, indices and data
    of scipy's csc_matrix: built from the rows that hold any, where csc_matrix would read the whole dense matrix
    column by column."""
    used = np.flatnonzero(coefficients.any(axis=1)).astype(np.int32)
    # row k: tag k's coefficients of the used rows, transposed in blocks of rows that stay in the CPU's cache (one
    # strided copy of them all misses it at every element)
    values = np.empty((coefficients.shape[1], len(used)), dtype=coefficients.dtype)
    for start in range(0, len(used), 1024):
        rows = used[start : start + 1024]
        values[:, start : start + len(rows)] = coefficients[rows].T
    nonzero = values != 0
    indptr = np.concatenate([[0], np.cumsum(nonzero.sum(axis=1))])
    return indptr, np.broadcast_to(used, values.shape)[nonzero], values[nonzero]


def read_parquet_folder(spark: SparkSession, folder: str) -> pa.Table:
    """The Parquet files of a folder (as ModelWriter or a DataFrame writes them) as one Arrow table, each copied to
    the driver's disk and read there by pyarrow."""
    files = data_files(spark, folder, ".parquet")
    if not files:
        raise ModelMismatchError(f"{folder}: no Parquet files; the model was not saved whole")
    with tempfile.TemporaryDirectory(prefix="stacktags-model-") as local:
        parts = []
        for number, file in enumerate(files):
            download(spark, file, f"{local}/{number}.parquet")
            parts.append(pq.read_table(f"{local}/{number}.parquet"))
    return pa.concat_tables(parts)


class ModelReader(MLReader):
    def __init__(self, cls):
        super().__init__()
        self.cls = cls

    def load(self, path: str):
        metadata = read_metadata(self.sparkSession, path)
        model = self.cls()
        model._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(model, metadata)
        rows = read_parquet_folder(self.sparkSession, f"{path}/data").sort_by("position")
        tags = model.getOrDefault(model.tags)
        saved = rows.column("tag").to_pylist()
        if saved != tags:
            raise ModelMismatchError(
                f"model at {path}: coefficient rows are for tags {saved[:5]}..., the tag list says {tags[:5]}..."
            )
        width = metadata["numFeatures"]
        indices = rows.column("indices").combine_chunks()
        if (pc.max(indices.flatten()).as_py() or 0) >= width:
            raise ModelMismatchError(f"model at {path}: coefficients beyond its {width} feature columns")
        per_tag = lists_to_csr(indices, width, rows.column("values").combine_chunks().flatten())
        model.coefficients = np.ascontiguousarray(per_tag.toarray().T)
        model.intercepts = rows.column("intercept").to_numpy().astype(np.float32)
        check_consistent(model)
        return model
