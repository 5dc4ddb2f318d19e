"""A multilabel Spark ML estimator: one binary logistic regression per tag, all tags trained in the same data passes.

MultilabelLogisticRegression (Estimator) -> MultilabelLogisticModel (Model). Both persist inside a Pipeline; the
model's tag list, thresholds, coefficients and intercepts are saved together and checked against each other on load.

Training never collects the data: rows are packed once into cached sparse blocks on the executors; each L-BFGS
iteration broadcasts the coefficients and sums the blocks' gradients (pass_sums), as MLlib does for one model.
Prediction runs in the executors' JVMs (TagScorer, lib/stacktags/jvm), not in Python.
"""

from __future__ import annotations

import logging
import pickle
import tempfile
import time
from typing import Iterator, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import scipy.sparse as sp
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.feature import IDF, IDFModel, Normalizer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasFeaturesCol, HasMaxIter, HasPredictionCol, HasRegParam, HasSeed, HasTol
from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReadable, MLReader, MLWritable, MLWriter
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.classic.column import Column, _to_java_column

from stacktags.files import data_files, download, upload
from stacktags.logistic import (LockstepLBFGS, loss_gradient, regularised, return_freed_memory,
                                reuse_freed_memory)
from stacktags.persistence import read_metadata
from stacktags.session import project_class

log = logging.getLogger(__name__)

SCORER_CLASS = "stacktags.TagScorer"  # the prediction, in stacktags.jar (lib/stacktags/jvm)

class ModelMismatchError(ValueError):
    """A saved model whose parts (tags, thresholds, coefficients, intercepts) disagree."""


class _MultilabelParams(HasFeaturesCol, HasPredictionCol):
    labelsCol = Param(Params._dummy(), "labelsCol", "array<string> of true tags", TypeConverters.toString)
    scoresCol = Param(Params._dummy(), "scoresCol", "top tags with probabilities: array<struct<tag, probability>>",
                      TypeConverters.toString)
    probabilitiesCol = Param(Params._dummy(), "probabilitiesCol",
                             "array<float> of every tag's probability, in the order of the tag list ('' for none)",
                             TypeConverters.toString)
    minTags = Param(Params._dummy(), "minTags", "fewest tags predicted per question", TypeConverters.toInt)
    maxTags = Param(Params._dummy(), "maxTags", "most tags predicted per question", TypeConverters.toInt)
    topScores = Param(Params._dummy(), "topScores", "how many top tags scoresCol keeps", TypeConverters.toInt)

    def _set_multilabel_defaults(self) -> None:
        self._setDefault(featuresCol="features", labelsCol="tags", predictionCol="predicted_tags",
                         scoresCol="scores", probabilitiesCol="", minTags=1, maxTags=5, topScores=5)


class MultilabelLogisticRegression(Estimator, _MultilabelParams, HasMaxIter, HasRegParam, HasTol, HasSeed,
                                   MLReadable, MLWritable):
    numTags = Param(Params._dummy(), "numTags", "how many of the most frequent tags to learn", TypeConverters.toInt)
    historySize = Param(Params._dummy(), "historySize", "L-BFGS memory", TypeConverters.toInt)
    warmStartRows = Param(Params._dummy(), "warmStartRows",
                          "the first warmStartIter iterations read about this many rows (every n-th row; all rows "
                          "when there are fewer); 0: no warm start", TypeConverters.toInt)
    warmStartIter = Param(Params._dummy(), "warmStartIter", "L-BFGS iterations on the warm-start rows, before "
                          "maxIter iterations on all rows", TypeConverters.toInt)
    tagsPerFit = Param(Params._dummy(), "tagsPerFit",
                       "learn the tags in groups of at most this many, one after the other, over the same cached rows "
                       "(the optimiser's state grows with features x tags); 0: all tags together", TypeConverters.toInt)
    otherRowsRate = Param(Params._dummy(), "otherRowsRate",
                          "when tags are learnt in groups: the share of the rows with none of a group's tags (but "
                          "another tag) that the group's iterations read, drawn at random (seed), each weighing "
                          "1/otherRowsRate, so the objective keeps its expectation; 1: all rows",
                          TypeConverters.toFloat)

    @keyword_only
    def __init__(self, *, featuresCol: str = "features", labelsCol: str = "tags", predictionCol: str = "predicted_tags",
                 scoresCol: str = "scores", probabilitiesCol: str = "", numTags: int = 100, maxIter: int = 50,
                 regParam: float = 1e-5, tol: float = 1e-6, historySize: int = 5, warmStartRows: int = 0,
                 warmStartIter: int = 0, tagsPerFit: int = 0, otherRowsRate: float = 1.0, seed: int = 42,
                 minTags: int = 1, maxTags: int = 5, topScores: int = 5):
        super().__init__()
        self._set_multilabel_defaults()
        self._setDefault(numTags=100, maxIter=50, regParam=1e-5, tol=1e-6, historySize=5, warmStartRows=0,
                         warmStartIter=0, tagsPerFit=0, otherRowsRate=1.0, seed=42)
        self._set(**self._input_kwargs)

    def _fit(self, dataset: DataFrame) -> "MultilabelLogisticModel":
        return self._fit_vectors(dataset, self.getFeaturesCol(), idf=None)[1]

    def fitWithIDF(self, dataset: DataFrame, idf: IDF, normalizer: Normalizer) -> tuple[IDFModel,
                                                                                       "MultilabelLogisticModel"]:
        """The same models as fitting `idf` on the dataset, then this estimator on `normalizer`'s output (L2), in
        one pass over the data instead of two: every row is packed as term counts, the packed columns' row counts
        are IDF's document frequencies, and the blocks are weighted, normalised and cut to the rows with one of the
        tags where they are cached."""
        if normalizer.getP() != 2.0 or normalizer.getInputCol() != idf.getOutputCol() \
                or normalizer.getOutputCol() != self.getFeaturesCol():
            raise ValueError(f"fitWithIDF expects IDF ({idf.getInputCol()} -> {idf.getOutputCol()}), then an L2 "
                             f"Normalizer into {self.getFeaturesCol()}; got p={normalizer.getP()}, "
                             f"{normalizer.getInputCol()} -> {normalizer.getOutputCol()}")
        return self._fit_vectors(dataset, idf.getInputCol(), idf)

    def _fit_vectors(self, dataset: DataFrame, vectors_col: str, idf: IDF | None) -> tuple[IDFModel | None,
                                                                                          "MultilabelLogisticModel"]:
        """The classifier from the vectors of `vectors_col`: features as they are, or (with `idf`) term counts that
        IDF weighting and L2 normalisation turn into features; then also the fitted IDFModel."""
        other_rows_rate = self.getOrDefault(self.otherRowsRate)
        if not 0 < other_rows_rate <= 1:
            raise ValueError(f"otherRowsRate must be in (0, 1], got {other_rows_rate}")
        spark = dataset.sparkSession
        tags = top_tags(dataset, self.getOrDefault(self.labelsCol), self.getOrDefault(self.numTags))
        if not tags:
            raise ValueError("no tags to learn: the training rows carry no tags")
        log.info("learning %d tags; packing the training rows", len(tags))
        labels_col = self.getOrDefault(self.labelsCol)
        source = dataset.select(vectors_col, labels_col)
        if idf is None:  # else the rows with none of the tags are packed too: IDF.fit counts every row
            source = source.where(has_any_of(labels_col, tags))
        group_size = self.getOrDefault(self.tagsPerFit) or len(tags)
        packed = pack_blocks(source, vectors_col, labels_col, tags, min(group_size, len(tags))).persist()
        # Optimise over the feature columns the rows with a tag use (the coefficients that travel every iteration
        # shrink from numFeatures to that many rows), numbered from the most frequent: the products then read the
        # coefficient rows of common terms from cache. Only per-column counts reach the driver, never rows.
        doc_freq, column_counts, packed_rows = packed.map(column_counts_of).treeReduce(
            lambda a, b: (a[0] + b[0], a[1] + b[1], a[2] + b[2]))
        idf_model, weights = None, None
        if idf is not None:
            weights = idf_weights(doc_freq, packed_rows, idf.getMinDocFreq())
            column_counts = np.where(weights > 0, column_counts, 0)  # a column IDF zeroes carries no feature
            kept = np.where(doc_freq >= idf.getMinDocFreq(), doc_freq, 0)  # MLlib reports 0 for the others
            idf_model = idf_model_of(spark, idf, doc_freq=kept, num_docs=packed_rows, weights=weights)
        columns = by_frequency(column_counts)
        shared = spark.sparkContext.broadcast((column_ranks(columns, len(column_counts)), weights))
        width = len(columns)  # the closures below capture this number, not the array

        def learnable(block: tuple) -> Block:
            """A packed block -> its rows with at least one of the tags, their features in optimiser columns."""
            ranks, column_weights = shared.value
            X, Y = block
            labelled = has_tag(Y)
            X, Y = X[labelled], Y[labelled]
            if column_weights is not None:
                X = tfidf_normalised(X, column_weights)
            return Block(renumber_columns(X, ranks, width), Y)

        blocks = packed.map(learnable).filter(lambda b: b.X.shape[0] > 0).persist()
        try:
            theta, rows = initial_theta(blocks, len(columns), len(tags))  # the first pass: blocks are cached now
            packed.unpersist()  # early: the blocks replace it
            log.info("packed %d rows, %d of %d feature columns used, %d tags", rows, len(columns),
                     len(column_counts), len(tags))
            warm_rows = self.getOrDefault(self.warmStartRows)
            warm = warm_rows > 0 and self.getOrDefault(self.warmStartIter) > 0
            every = max(1, round(rows / warm_rows)) if warm else 0  # warm start: one in `every` of a group's rows
            for first in range(0, len(tags), group_size):
                # Each tag's problem is independent of the others' (see LockstepLBFGS): a group's tags reach the
                # optimum they would reach beside all the others, with the optimiser's state of this group only.
                group = slice(first, min(first + group_size, len(tags)))
                if group_size < len(tags):
                    group_blocks = group_rows(blocks, group, other_rows_rate, self.getSeed()).persist()
                    read, weighted = group_blocks.map(lambda b: (b.X.shape[0], b.X.shape[0] * b.weight)).reduce(
                        lambda a, b: (a[0] + b[0], a[1] + b[1]))
                    log.info("tags %d to %d of %d: %d of %d rows read (weighing %d)", group.start + 1, group.stop,
                             len(tags), read, rows, round(weighted))
                else:
                    group_blocks = blocks  # every row has one of the tags: none to sample
                try:
                    theta[:, group] = self._fit_group(spark, group_blocks, every,
                                                      np.ascontiguousarray(theta[:, group]))
                finally:
                    if group_blocks is not blocks:
                        group_blocks.unpersist()
        finally:
            packed.unpersist()
            blocks.unpersist()
            shared.destroy()
        coefficients = np.zeros((len(column_counts), len(tags)), dtype=np.float32)
        coefficients[columns] = theta[:-1]
        model = MultilabelLogisticModel(tags=tags, coefficients=coefficients,
                                        intercepts=theta[-1].astype(np.float32), thresholds=[0.5] * len(tags))
        return idf_model, self._copyValues(model)

    def _fit_group(self, spark: SparkSession, blocks, every: int, theta: np.ndarray) -> np.ndarray:
        """L-BFGS from theta for the tags of the blocks' label columns: first warmStartIter iterations on one in
        `every` of the blocks' rows (when every > 0), then maxIter passes over all of them."""
        history, tol = self.getOrDefault(self.historySize), self.getTol()
        if every == 0:
            optimiser = LockstepLBFGS(history=history, tol=tol)
        else:
            # Iterations on a share of the rows cost that share of a pass; their curvature pairs carry over, so
            # the passes over all rows start near the optimum with a calibrated L-BFGS memory.
            sample = blocks.map(lambda b: Block(b.X[::every], b.Y[::every], b.weight)) if every > 1 else blocks
            theta, optimiser = warm_start(spark, sample, theta, self.getRegParam(),
                                          self.getOrDefault(self.warmStartIter), history, tol)
        try:
            return fit_lockstep(blocks, theta, self.getRegParam(), self.getMaxIter(), optimiser)
        finally:
            optimiser.close()

    def write(self) -> MLWriter:
        return DefaultParamsWriter(self)

    @classmethod
    def read(cls) -> MLReader:
        return DefaultParamsReader(cls)


def top_tags(dataset: DataFrame, labels_col: str, n: int) -> list[str]:
    """The n most frequent tags (ties broken by name, so the list is the same on every run)."""
    counts = (dataset.select(F.explode(labels_col).alias("tag")).groupBy("tag").count()
              .orderBy(F.desc("count"), F.asc("tag")).limit(n))
    return [row["tag"] for row in counts.collect()]


def has_any_of(labels_col: str, tags: list[str]) -> Column:
    """Whether a row's labels (array<string>) hold any of `tags`: a hash lookup per label, where arrays_overlap
    with a literal array of 1,000 tags took 0.86 s over 885,000 cached rows, this 0.27 s (0.49 and 0.21 s at 100)."""
    return F.exists(labels_col, lambda tag: tag.isin(tags))


def tag_positions(labels: pa.ListArray, tags: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The (row, position in `tags`) of each of `tags` that the rows of a list<string> column hold, in row order,
    once each (a row may repeat a tag); other tags are left out. One hash lookup per tag: in Spark SQL,
    array_position over a literal array of 1,000 tags took 8 s for 885,000 rows, against 1.4 s for 100 tags."""
    positions = np.asarray(pc.index_in(labels.flatten(), value_set=pa.array(tags, pa.string())).fill_null(-1))
    rows = np.asarray(pc.list_parent_indices(labels))  # aligned with flatten(), whatever the array's offset
    known = positions >= 0
    cells = np.unique(rows[known] * len(tags) + positions[known])
    return cells // len(tags), cells % len(tags)


def tags_to_csr(labels: pa.ListArray, tags: list[str]) -> sp.csr_matrix:
    """A list<string> column -> 0/1 float32 CSR labels, one column per tag of `tags` (tag_positions)."""
    rows, positions = tag_positions(labels, tags)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(labels)))])
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), positions.astype(np.int32), indptr),
                         shape=(len(labels), len(tags)))


MAX_BLOCK_CELLS = 1 << 24  # rows x tags of one block's dense margins: 64 MB in float32


def rows_per_block(tags_at_once: int) -> int:
    """The most rows of a block whose dense margins for this many tags stay within MAX_BLOCK_CELLS. Every block
    also costs (features x tags) work of its own (its gradient is added to the partition's): small blocks multiply
    that (a pass over 100k rows in 1,864-row blocks took 1.47 s, in one block 0.51 s)."""
    return max(1024, MAX_BLOCK_CELLS // tags_at_once)


def pack_blocks(dataset: DataFrame, features_col: str, labels_col: str, tags: list[str], tags_at_once: int):
    """Rows -> an RDD of (X csr float32, Y csr 0/1 with a column per tag) blocks, built from Arrow batches on the
    executors. Blocks are as large as MAX_BLOCK_CELLS allows for the tags learnt at once, in at most one partition
    per core: each partition sends one dense (features x tags) gradient per pass, so more partitions than cores
    only add traffic."""
    block_rows = rows_per_block(tags_at_once)
    partitions = min(dataset.rdd.getNumPartitions(), dataset.sparkSession.sparkContext.defaultParallelism)

    def pack(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        pending, rows = [], 0
        for batch in batches:
            pending.append(batch)
            rows += batch.num_rows
            while rows >= block_rows:
                table = pa.Table.from_batches(pending)
                yield _block(table.slice(0, block_rows))
                rest = table.slice(block_rows)
                pending, rows = rest.to_batches(), rest.num_rows
        if rows:
            yield _block(pa.Table.from_batches(pending))

    def _block(rows: pa.Table) -> pa.RecordBatch:
        features = vectors_to_csr(rows.column(0).combine_chunks())
        features.eliminate_zeros()  # terms IDF ignores (below minDocFreq) carry 0: no coefficient to learn
        labels = tags_to_csr(rows.column(1).combine_chunks(), tags)
        return pa.RecordBatch.from_pydict({"block": [pickle.dumps((features, labels), protocol=5)]})

    serialized = dataset.select(features_col, labels_col).coalesce(partitions).mapInArrow(pack, "block binary")
    return serialized.rdd.map(lambda row: pickle.loads(row.block))


def lists_to_csr(lists: pa.ListArray, width: int, values: pa.Array | None = None,
                 dtype: type = np.float32) -> sp.csr_matrix:
    """An Arrow list<int> column (column numbers per row) -> CSR, with `values` (aligned with the lists' items) or
    ones. Reads the flat buffers: no per-row Python work."""
    offsets = np.asarray(lists.offsets, dtype=np.int64)
    indptr = offsets - offsets[0]
    indices = np.array(lists.flatten(), dtype=np.int32)  # a copy: Arrow's buffers are read-only
    data = np.ones(len(indices), dtype=dtype) if values is None else np.array(values, dtype=dtype)
    return sp.csr_matrix((data, indices, indptr), shape=(len(lists), width))


def vectors_to_csr(vectors: pa.StructArray, dtype: type = np.float32) -> sp.csr_matrix:
    """ML vectors as Arrow carries them (VectorUDT's SQL struct: type 0 sparse / 1 dense, size, indices, values) ->
    one CSR matrix. A dense vector's indices are null: its columns are the positions in its values."""
    fields = dict(zip([f.name for f in vectors.type], vectors.flatten()))
    values = fields["values"]
    is_dense = np.asarray(fields["type"], dtype=np.int8) == 1
    offsets = np.asarray(values.offsets, dtype=np.int64)
    indptr = offsets - offsets[0]
    lengths = np.diff(indptr)
    width = max(pc.max(fields["size"]).as_py() or 0, int(lengths[is_dense].max(initial=0)))  # dense: size is null
    if not is_dense.any():
        return lists_to_csr(fields["indices"], width, values.flatten(), dtype)
    indices = np.arange(indptr[-1]) - np.repeat(indptr[:-1], lengths)  # position within the row: a dense row's
    indices[~np.repeat(is_dense, lengths)] = np.asarray(fields["indices"].flatten())  # a sparse row's own
    return sp.csr_matrix((np.array(values.flatten(), dtype=dtype), indices.astype(np.int32), indptr),
                         shape=(len(vectors), width))


class Block(NamedTuple):
    """Rows as the optimiser reads them: features X (csr float32, optimiser columns), 0/1 labels Y (csr, one column
    per tag) and the weight of each of its rows (1, or 1/rate for rows drawn at that rate)."""
    X: sp.csr_matrix
    Y: sp.csr_matrix
    weight: float = 1.0


def stacked(blocks: list[Block], max_rows: int) -> list[Block]:
    """Consecutive blocks of the same row weight joined into as few blocks as hold at most max_rows rows each (a
    larger one stays as it is)."""
    def joined(group: list[Block]) -> Block:
        if len(group) == 1:
            return group[0]
        return Block(sp.vstack([b.X for b in group], format="csr"), sp.vstack([b.Y for b in group], format="csr"),
                     group[0].weight)

    result, group, rows = [], [], 0
    for block in blocks:
        if group and (rows + block.X.shape[0] > max_rows or block.weight != group[0].weight):
            result.append(joined(group))
            group, rows = [], 0
        group.append(block)
        rows += block.X.shape[0]
    if group:
        result.append(joined(group))
    return result


def group_rows(blocks, labels: slice, other_rows_rate: float, seed: int):
    """The blocks' rows for learning the tags of the label columns `labels` alone: every row with one of them, and
    of the other rows a random share other_rows_rate (drawn per partition from the seed), each weighing
    1/other_rows_rate. A pass's cost grows with rows x tags: a group of rare tags reads far fewer rows, and its
    objective (a weighted mean) keeps its expectation. The kept rows of each weight are stacked into blocks as large
    as rows_per_block allows."""
    max_rows = rows_per_block(labels.stop - labels.start)

    def of_partition(index: int, part: Iterator[Block]) -> list[Block]:
        rng = np.random.default_rng([seed, labels.start, index])
        with_tag, others = [], []
        for X, Y, weight in part:
            Y = Y[:, labels]
            if other_rows_rate == 1:
                with_tag.append(Block(X, Y, weight))
                continue
            tagged = has_tag(Y)
            drawn = ~tagged & (rng.random(len(tagged)) < other_rows_rate)
            with_tag.append(Block(X[tagged], Y[tagged], weight))
            others.append(Block(X[drawn], Y[drawn], weight / other_rows_rate))
        return stacked([b for b in with_tag + others if b.X.shape[0] > 0], max_rows)

    return blocks.mapPartitionsWithIndex(of_partition)


def column_counts_of(block: tuple) -> tuple[np.ndarray, np.ndarray, int]:
    """A packed block -> per column, the rows that use it (document frequencies) and the rows with at least one
    tag that use it (the columns to learn coefficients for), and the number of rows."""
    X, Y = block
    width = X.shape[1]
    return (np.bincount(X.indices, minlength=width),
            np.bincount(X[has_tag(Y)].indices, minlength=width), X.shape[0])


def has_tag(labels: sp.csr_matrix) -> np.ndarray:
    """Per row of a packed block's label matrix: does it hold at least one of the tags."""
    return np.diff(labels.indptr) > 0


def idf_weights(doc_freq: np.ndarray, num_docs: int, min_doc_freq: int) -> np.ndarray:
    """MLlib's IDF: log((m + 1) / (df + 1)) per column, 0 for columns in fewer than min_doc_freq rows."""
    return np.where(doc_freq >= min_doc_freq, np.log((num_docs + 1.0) / (doc_freq + 1.0)), 0.0)


def tfidf_normalised(counts: sp.csr_matrix, weights: np.ndarray) -> sp.csr_matrix:
    """Term counts -> IDF-weighted rows scaled to unit L2 norm (IDFModel, then Normalizer(p=2)), in float32; the
    entries IDF zeroes are dropped."""
    weighted = sp.csr_matrix((counts.data * weights[counts.indices], counts.indices.copy(), counts.indptr.copy()),
                             shape=counts.shape)  # float64, as the JVM computes
    weighted.eliminate_zeros()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0  # an empty row stays empty
    weighted.data /= np.repeat(norms, np.diff(weighted.indptr))
    return weighted.astype(np.float32)


def idf_model_of(spark: SparkSession, idf: IDF, doc_freq: np.ndarray, num_docs: int,
                 weights: np.ndarray) -> IDFModel:
    """The IDFModel that `idf`.fit returns on rows with these document frequencies. PySpark has no constructor for
    one; the JVM classes' constructors (package-private in Scala, public to Java) are called through Py4J, and a
    test checks the result against IDF.fit."""
    jvm = spark.sparkContext._jvm
    old_model = jvm.org.apache.spark.mllib.feature.IDFModel(
        jvm.org.apache.spark.mllib.linalg.Vectors.dense(_java_array(spark, weights, "double")),
        _java_array(spark, doc_freq, "long"), int(num_docs))
    model = IDFModel(jvm.org.apache.spark.ml.feature.IDFModel(idf.uid, old_model))
    return idf._copyValues(model)


def _java_array(spark: SparkSession, values: np.ndarray, kind: str):
    """A Java double[] or long[] with these values, sent as one byte array (Py4J would send item by item)."""
    jvm = spark.sparkContext._jvm
    dtype = {"double": "<f8", "long": "<i8"}[kind]
    buffer = jvm.java.nio.ByteBuffer.wrap(bytearray(np.ascontiguousarray(values, dtype=dtype).tobytes()))
    buffer = buffer.order(jvm.java.nio.ByteOrder.LITTLE_ENDIAN)
    array = spark.sparkContext._gateway.new_array(getattr(jvm, kind), len(values))
    (buffer.asDoubleBuffer() if kind == "double" else buffer.asLongBuffer()).get(array)
    return array


def by_frequency(column_counts: np.ndarray) -> np.ndarray:
    """The ids of the columns that occur, most frequent first (ties by id)."""
    used = np.flatnonzero(column_counts)
    return used[np.argsort(-column_counts[used], kind="stable")]


def column_ranks(columns: np.ndarray, width: int) -> np.ndarray:
    """For every column id below width: its position in `columns` (ids not in it are never looked up)."""
    ranks = np.zeros(width, dtype=np.int32)
    ranks[columns] = np.arange(len(columns), dtype=np.int32)
    return ranks


def renumber_columns(features: sp.csr_matrix, ranks: np.ndarray, width: int) -> sp.csr_matrix:
    """A block's columns renumbered by `ranks`, into a matrix `width` wide, each row's columns in order."""
    renumbered = sp.csr_matrix((features.data, ranks[features.indices], features.indptr),
                               shape=(features.shape[0], width))
    renumbered.sort_indices()
    return renumbered


def initial_theta(blocks, num_features: int, num_tags: int) -> tuple[np.ndarray, int]:
    """Zero coefficients and each tag's log-odds as intercept (the best model before reading any feature), and the
    number of rows."""
    positives, rows = blocks.map(lambda b: (np.asarray(b.Y.sum(axis=0)).ravel(), b.X.shape[0])).reduce(
        lambda a, b: (a[0] + b[0], a[1] + b[1]))
    rate = np.clip(positives / rows, 1e-6, 1 - 1e-6)
    theta = np.zeros((num_features + 1, num_tags))
    theta[-1] = np.log(rate / (1 - rate))
    return theta, rows


def partition_loss_gradient(blocks: Iterator[Block], theta: np.ndarray) -> list:
    """One partition's blocks -> one summed (loss, gradient, rows): a single result per partition to send, its
    gradient in theta's dtype (float32 on the wire: a (features x tags) gradient is 100 MB at 2^18 x 100 instead of
    200 MB)."""
    reuse_freed_memory()
    total = loss_gradient(blocks, theta)
    return [] if total is None else [total]


GRADIENT_BANDS = 32  # a pass's gradient travels in this many bands of rows: a result of 126 MB (at 250 tags) costs
                     # Spark more to pass from the worker to the driver than 32 of 4 MB (two partitions' gradients:
                     # 1.29 s against 0.55 s, scripts/microbench gradients in BENCHMARKS.md)
DRIVER_SUMS_AT_MOST = 4  # partitions whose gradients the driver receives and adds itself; with more, the executors
                         # add each band first (as treeReduce's intermediate level would), and the driver receives one


def gradient_bands(totals: list, bands: int) -> Iterator[tuple]:
    """partition_loss_gradient's result -> the pairs that a pass sends: (-1, (loss, rows)), then (b, band b of the
    gradient's rows) for each of `bands` bands."""
    for loss, gradient, rows in totals:
        yield -1, (loss, rows)
        yield from enumerate(np.array_split(gradient, bands))


def add_band(a, b):
    """Sums two values of one key of gradient_bands: (loss, rows) pairs, or bands (into a, a fresh array from a
    partition: no temporary)."""
    if isinstance(a, tuple):
        return a[0] + b[0], a[1] + b[1]
    return np.add(a, b, out=a)


def pass_sums(blocks, theta: np.ndarray, bands: int = GRADIENT_BANDS) -> tuple[np.ndarray, np.ndarray, float]:
    """One distributed pass: the loss, the float64 gradient and the weighted rows of all blocks at theta (float32,
    broadcast once). Each partition sums its blocks and sends gradient_bands; a band's partitions are added in
    float32, in partition order when the driver adds them, and copied into the float64 gradient."""
    sc = blocks.context
    shared = sc.broadcast(theta)
    try:
        pairs = blocks.mapPartitions(lambda part: gradient_bands(partition_loss_gradient(part, shared.value), bands))
        if pairs.getNumPartitions() > DRIVER_SUMS_AT_MOST:
            pairs = pairs.reduceByKey(add_band, numPartitions=min(bands, sc.defaultParallelism))
        sums = {}
        for key, value in pairs.collect():
            sums[key] = add_band(sums[key], value) if key in sums else value
    finally:
        shared.destroy()
    if -1 not in sums:
        raise ValueError("a pass over no rows: the blocks are empty")
    loss, rows = sums[-1]
    return loss, np.concatenate([sums[band] for band in range(bands)], dtype=np.float64), rows


def fit_lockstep(blocks, theta: np.ndarray, reg_param: float, max_iter: int, optimiser: LockstepLBFGS) -> np.ndarray:
    """At most max_iter L-BFGS iterations over the blocks from theta, one data pass each."""
    reuse_freed_memory()

    def evaluate(current: np.ndarray):
        started = time.monotonic()
        loss, gradient, rows = pass_sums(blocks, current.astype(np.float32))  # the products run in float32
        objective, grad = regularised(loss, gradient, rows, current, reg_param)
        log.info("pass over %d rows: mean objective %.6f, %.1f s", rows, objective.mean(), time.monotonic() - started)
        return objective, grad

    theta, objective, passes = optimiser.minimise(evaluate, theta, max_iter)
    log.info("%d passes: mean objective of the accepted steps %.6f", passes, objective.mean())
    return theta


MIN_WARM_START_TAGS = 25  # fewest tags per warm-start task (but one task): each task receives a copy of the sample
WARM_START_TASKS_PER_CORE = 2  # a task runs until the slowest of its tags converges: with two per core, a core whose
                               # task ends early takes the next one instead of idling
WARM_START_MEMORY_BYTES = 256 << 20  # per core: the L-BFGS pairs its warm-start tasks send back, each its newest
                                     # ones within its share (all 5 for 25 tags of 2^17 features, 2 for 62): the
                                     # driver receives every task's at once


def warm_start(spark: SparkSession, sample, theta: np.ndarray, reg_param: float, max_iter: int, history: int,
               tol: float) -> tuple[np.ndarray, LockstepLBFGS]:
    """At most max_iter L-BFGS iterations over the sample's blocks from theta, run inside tasks: the tags are cut
    into WARM_START_TASKS_PER_CORE chunks per core (of at least MIN_WARM_START_TAGS), and each chunk's task gets
    every sample row and iterates on its own. Each tag's iterations are its own; the chunks change only the memory a
    tag ends with, as its chunk may iterate on after it converged and push empty pairs into its history. A pass
    over a sample is short: sending (features x tags) coefficients out and gradients back at each iteration costs
    more than the pass. This sends them once. Returns theta and an optimiser holding the chunks' memories."""
    sc = spark.sparkContext
    tasks = max(1, min(sc.defaultParallelism * WARM_START_TASKS_PER_CORE, theta.shape[1] // MIN_WARM_START_TAGS))
    chunks = np.array_split(np.arange(theta.shape[1]), tasks)
    memory_bytes = WARM_START_MEMORY_BYTES * sc.defaultParallelism // tasks
    shared = sc.broadcast(theta)

    def chunk_rows(block: Block) -> list:
        return [(k, Block(block.X, block.Y[:, columns], block.weight)) for k, columns in enumerate(chunks)]

    def fit_chunk(items: Iterator[tuple]) -> list:
        items = list(items)
        if not items:
            return []
        result = fit(items[0][0], [block for _, block in items])
        # The optimiser's (features x tags) arrays (3 GB a task at top-1000) are free now, but the heap keeps them
        # (reuse_freed_memory); the passes over all rows that this worker runs next need about half as much.
        return_freed_memory()
        return result

    def fit(k: int, slices: list[tuple]) -> list:
        # the sample's rows arrive in slices of the packed blocks: joined (those of one weight), a chunk's
        # evaluation has fewer blocks
        blocks = stacked(sorted(slices, key=lambda b: b.weight), rows_per_block(len(chunks[k])))
        # A sample of rare tags' rows uses two thirds of the feature columns: the optimiser's own (parameters x
        # tags) work, most of such a task's time, shrinks with the rows of the others, which stay as they are.
        start = shared.value[:, chunks[k]]
        movable = movable_rows(blocks, start)
        ranks = column_ranks(movable[:-1], start.shape[0] - 1)
        blocks = [Block(renumber_columns(b.X, ranks, len(movable) - 1), b.Y, b.weight) for b in blocks]
        optimiser = LockstepLBFGS(history=history, tol=tol)

        def evaluate(current: np.ndarray):  # the sums of a distributed pass (fit_lockstep's), in one task
            (total,) = partition_loss_gradient(iter(blocks), current.astype(np.float32))
            loss, gradient, rows = total
            return regularised(loss, gradient.astype(np.float64), rows, current, reg_param)

        try:
            fitted, _, _ = optimiser.minimise(evaluate, np.ascontiguousarray(start[movable]), max_iter)
            return [(k, movable, fitted, optimiser.memory(fitted, memory_bytes).within(movable, start.shape[0]))]
        finally:
            optimiser.close()

    started = time.monotonic()
    try:
        fitted = sorted(sample.flatMap(chunk_rows).partitionBy(len(chunks), lambda k: k)
                        .mapPartitions(fit_chunk).collect(), key=lambda result: result[0])
    finally:
        shared.destroy()
    log.info("warm start: %d iterations on the sample for %d tags in %d tasks, %.1f s", max_iter, theta.shape[1],
             len(chunks), time.monotonic() - started)
    theta = theta.copy()
    for k, movable, chunk_theta, _ in fitted:
        theta[np.ix_(movable, chunks[k])] = chunk_theta
    return theta, LockstepLBFGS.side_by_side([memory for _, _, _, memory in fitted], history, tol)


def movable_rows(blocks: list[Block], theta: np.ndarray) -> np.ndarray:
    """The rows of theta ((features + 1) x tags, the intercepts last) that iterations over the blocks can move: the
    feature columns their rows use, those where theta holds a coefficient (the L2 term pulls it), and the
    intercepts. The others' gradient is zero: they stay as they are."""
    movable = theta.any(axis=1)
    for block in blocks:
        movable[block.X.indices] = True
    movable[-1] = True
    return np.flatnonzero(movable)


class MultilabelLogisticModel(Model, _MultilabelParams, MLReadable, MLWritable):
    """Per-tag logistic models with per-tag decision thresholds. Each question gets at least minTags and at most
    maxTags tags: those whose probability reaches their threshold, most probable first."""

    tags = Param(Params._dummy(), "tags", "the tag of each model, in order", TypeConverters.toListString)
    thresholds = Param(Params._dummy(), "thresholds", "the decision threshold of each tag", TypeConverters.toListFloat)

    def __init__(self, tags: list[str] | None = None, coefficients: np.ndarray | None = None,
                 intercepts: np.ndarray | None = None, thresholds: list[float] | None = None):
        """coefficients: (numFeatures, numTags), one column per tag; intercepts: (numTags,)."""
        super().__init__()
        self._set_multilabel_defaults()
        self.coefficients = coefficients
        self.intercepts = intercepts
        self._jvm_weights = None  # (what they were made from, the JVM broadcast): see _broadcast_weights
        if tags is not None:
            self._set(tags=tags)
        if thresholds is not None:
            self._set(thresholds=thresholds)
        if tags is not None:
            check_consistent(self)

    def setThresholds(self, thresholds: list[float]) -> "MultilabelLogisticModel":
        self._set(thresholds=list(thresholds))
        check_consistent(self)
        return self

    def _transform(self, dataset: DataFrame) -> DataFrame:
        """Adds the predicted tags, the top scores and, if probabilitiesCol is set, every tag's probability. The
        prediction runs in the JVM (TagScorer, in stacktags.jar), with the coefficients broadcast once per model."""
        spark = dataset.sparkSession
        with_probabilities = bool(self.getOrDefault(self.probabilitiesCol))
        prediction = project_class(spark, SCORER_CLASS).predict(
            _to_java_column(F.col(self.getFeaturesCol())), self._broadcast_weights(spark),
            list(self.getOrDefault(self.tags)), [float(t) for t in self.getOrDefault(self.thresholds)],
            self.getOrDefault(self.minTags), self.getOrDefault(self.maxTags), self.getOrDefault(self.topScores),
            with_probabilities)
        result = dataset.withColumn("_prediction", Column(prediction))
        columns = {self.getPredictionCol(): F.col("_prediction.predicted"),
                   self.getOrDefault(self.scoresCol): F.col("_prediction.scores")}
        if with_probabilities:
            columns[self.getOrDefault(self.probabilitiesCol)] = F.col("_prediction.probabilities")
        return result.withColumns(columns).drop("_prediction")

    def probabilityHistograms(self, dataset: DataFrame, labelsCol: str, buckets: int) -> tuple[np.ndarray,
                                                                                               np.ndarray]:
        """Per tag, how many rows of `dataset` with and without the tag in `labelsCol` (array<string>) have the
        tag's probability in each of `buckets` equal buckets ([b / buckets, (b + 1) / buckets), 1 in the last): two
        (tags, buckets) float arrays. Counted in the executors' JVMs as they score (TagScorer.histograms): only the
        counts reach the driver, never a probability per row and tag (121 million at 1,000 tags on 121,438 rows)."""
        tags = self.getOrDefault(self.tags)
        counts = project_class(dataset.sparkSession, SCORER_CLASS).histograms(
            dataset._jdf, self.getFeaturesCol(), labelsCol, self._broadcast_weights(dataset.sparkSession), list(tags),
            buckets)
        with_tag, without_tag = np.frombuffer(counts, dtype="<i8").reshape(2, len(tags), buckets).astype(np.float64)
        return with_tag, without_tag

    def _broadcast_weights(self, spark: SparkSession):
        """The coefficients and intercepts as a JVM broadcast, made once per model and SparkContext."""
        key = (spark.sparkContext, self.coefficients, self.intercepts)
        if self._jvm_weights is None or any(a is not b for a, b in zip(self._jvm_weights[0], key)):
            # only the rows of the features with a coefficient: at full scale half of them, so half the bytes to
            # write, read and broadcast (1 GB at 2^18 x 1000)
            features = np.flatnonzero(self.coefficients.any(axis=1))
            with tempfile.TemporaryDirectory(prefix="stacktags-model-") as folder:
                features_file, coefficients_file = f"{folder}/features.i32", f"{folder}/coefficients.f32"
                features.astype("<i4").tofile(features_file)
                self.coefficients[features].astype("<f4", copy=False).tofile(coefficients_file)
                weights = project_class(spark, SCORER_CLASS).broadcast(
                    spark._jsparkSession, features_file, coefficients_file, int(self.coefficients.shape[0]),
                    [float(b) for b in self.intercepts])
            self._jvm_weights = (key, weights)
        return self._jvm_weights[1]

    def write(self) -> MLWriter:
        return _ModelWriter(self)

    @classmethod
    def read(cls) -> MLReader:
        return _ModelReader(cls)


def check_consistent(model: MultilabelLogisticModel) -> None:
    tags = model.getOrDefault(model.tags)
    sizes = {"tags": len(tags), "thresholds": len(model.getOrDefault(model.thresholds)),
             "coefficient rows": model.coefficients.shape[1] if model.coefficients is not None else None,
             "intercepts": len(model.intercepts) if model.intercepts is not None else None}
    if len(set(sizes.values())) != 1:
        raise ModelMismatchError(f"model parts disagree: {sizes}; the model was not saved whole, or was edited")
    if len(set(tags)) != len(tags):
        raise ModelMismatchError("model tag list holds duplicates")


class _ModelWriter(MLWriter):
    """Params (tags, thresholds, ...) as Spark ML metadata, plus the width of the feature vectors; one row per tag
    (position, tag, intercept, its non-zero coefficients as indices and values) as a Parquet file in data/, which
    Spark reads as a table, so a reader can check that each row belongs to the tag it claims. Sparse, because most
    hashed columns carry no weight. pyarrow writes the file on the driver, where the coefficients are, and Hadoop's
    FileSystem copies it to the model's folder on any file system. A 2^18 x 1000 model took 42.8 s to save and 23.5 s
    to load through a DataFrame, 18.7 and 14.6 s this way (BENCHMARKS.md); 5.3 to 10.3 s to save since its
    columns are built from the used rows and written without dictionary encoding."""

    def __init__(self, instance: MultilabelLogisticModel):
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        m = self.instance
        DefaultParamsWriter.saveMetadata(m, path, self.sparkSession,
                                         extraMetadata={"numFeatures": int(m.coefficients.shape[0])})
        indptr, indices, values = nonzero_per_tag(m.coefficients)
        offsets = pa.array(indptr, pa.int32())
        tags = m.getOrDefault(m.tags)
        rows = pa.table({
            "position": pa.array(np.arange(len(tags), dtype=np.int32)),
            "tag": pa.array(tags, pa.string()),
            "intercept": pa.array(m.intercepts, pa.float64()),
            "indices": pa.ListArray.from_arrays(offsets, pa.array(indices, pa.int32())),
            "values": pa.ListArray.from_arrays(offsets, pa.array(values, pa.float32())),
        })
        with tempfile.TemporaryDirectory(prefix="stacktags-model-") as folder:
            # Neither dictionary encoding nor compression: trained coefficients hardly repeat. Trying dictionaries
            # on the values cost 8 of the 11 s a top-1000 model's file took; snappy shrank the 1.05 GB file by 0.005%
            # and cost 2.7 s to write and as much to read.
            pq.write_table(rows, f"{folder}/data.parquet", use_dictionary=False, compression="none")
            upload(self.sparkSession, f"{folder}/data.parquet", f"{path}/data/part-00000.parquet")


def nonzero_per_tag(coefficients: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each tag's non-zero coefficients (column k of the (features x tags) matrix), as the indptr, indices and data
    of scipy's csc_matrix: built from the rows that hold any, where csc_matrix reads the whole dense matrix column by
    column (13 s at 2^18 x 1000 with half the rows used, this 2.6 s)."""
    used = np.flatnonzero(coefficients.any(axis=1)).astype(np.int32)
    # row k: tag k's coefficients of the used rows, transposed in blocks of rows that stay in cache (at 131,684 x
    # 1,000 one transposed copy of them all took 2.8 to 3.5 s, the blocks 0.3 s)
    values = np.empty((coefficients.shape[1], len(used)), dtype=coefficients.dtype)
    for start in range(0, len(used), 1024):
        rows = used[start:start + 1024]
        values[:, start:start + len(rows)] = coefficients[rows].T
    nonzero = values != 0
    indptr = np.concatenate([[0], np.cumsum(nonzero.sum(axis=1))])
    return indptr, np.broadcast_to(used, values.shape)[nonzero], values[nonzero]


def read_parquet_folder(spark: SparkSession, folder: str) -> pa.Table:
    """The Parquet files of a folder (as _ModelWriter or a DataFrame writes them) as one Arrow table, each copied to
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


class _ModelReader(MLReader):
    def __init__(self, cls):
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> MultilabelLogisticModel:
        metadata = read_metadata(self.sparkSession, path)
        model = self.cls()
        model._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(model, metadata)
        rows = read_parquet_folder(self.sparkSession, f"{path}/data").sort_by("position")
        tags = model.getOrDefault(model.tags)
        saved = rows.column("tag").to_pylist()
        if saved != tags:
            raise ModelMismatchError(f"model at {path}: coefficient rows are for tags {saved[:5]}..., "
                                     f"the tag list says {tags[:5]}...")
        width = metadata["numFeatures"]
        indices = rows.column("indices").combine_chunks()
        if (pc.max(indices.flatten()).as_py() or 0) >= width:
            raise ModelMismatchError(f"model at {path}: coefficients beyond its {width} feature columns")
        per_tag = lists_to_csr(indices, width, rows.column("values").combine_chunks().flatten())
        model.coefficients = np.ascontiguousarray(per_tag.toarray().T)
        model.intercepts = rows.column("intercept").to_numpy().astype(np.float32)
        check_consistent(model)
        return model
