"""Training rows packed for the optimiser: Arrow batches -> cached sparse blocks (features X, 0/1 labels Y).

What it owns: the label columns of a block (one per tag), the blocks' size and weight, the rows a group of tags
reads, the per-column counts that give IDF's document frequencies, the IDF weighting and L2 normalisation done where
the blocks are cached, and the renumbering of feature columns from the most frequent. Everything here runs on the
executors or on per-column counts: no training row reaches the driver.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from pyspark.ml.feature import IDF, IDFModel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F


def has_any_of(labels_col: str, tags: list[str]) -> Column:
    """Whether a row's labels (array<string>) hold any of `tags`: a hash lookup per label, where arrays_overlap
    with a literal array of the tags compares each label with every tag (docs/performance.md)."""
    return F.exists(labels_col, lambda tag: tag.isin(tags))


def tag_positions(labels: pa.ListArray, tags: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The (row, position in `tags`) of each of `tags` that the rows of a list<string> column hold, in row order,
    once each (a row may repeat a tag); other tags are left out. One hash lookup per tag, where Spark SQL's
    array_position over a literal array of the tags grows with their number (docs/performance.md)."""
    positions = np.asarray(pc.index_in(labels.flatten(), value_set=pa.array(tags, pa.string())).fill_null(-1))
    rows = np.asarray(pc.list_parent_indices(labels))  # aligned with flatten(), whatever the array's offset
    known = positions >= 0
    cells = np.unique(rows[known] * len(tags) + positions[known])
    return cells // len(tags), cells % len(tags)


def tags_to_csr(labels: pa.ListArray, tags: list[str]) -> sp.csr_matrix:
    """A list<string> column -> 0/1 float32 CSR labels, one column per tag of `tags` (tag_positions)."""
    rows, positions = tag_positions(labels, tags)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(labels)))])
    return sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), positions.astype(np.int32), indptr), shape=(len(labels), len(tags))
    )


MAX_BLOCK_CELLS = 1 << 24  # rows x tags of one block's dense margins: 64 MB in float32


def rows_per_block(tags_at_once: int) -> int:
    """The most rows of a block whose dense margins for this many tags stay within MAX_BLOCK_CELLS. Every block
    also costs (features x tags) work of its own (its gradient is added to the partition's): small blocks multiply
    that (docs/performance.md)."""
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


def lists_to_csr(
    lists: pa.ListArray, width: int, values: pa.Array | None = None, dtype: type = np.float32
) -> sp.csr_matrix:
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
    return sp.csr_matrix(
        (np.array(values.flatten(), dtype=dtype), indices.astype(np.int32), indptr), shape=(len(vectors), width)
    )


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
        return Block(
            sp.vstack([b.X for b in group], format="csr"),
            sp.vstack([b.Y for b in group], format="csr"),
            group[0].weight,
        )

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
    return (np.bincount(X.indices, minlength=width), np.bincount(X[has_tag(Y)].indices, minlength=width), X.shape[0])


def has_tag(labels: sp.csr_matrix) -> np.ndarray:
    """Per row of a packed block's label matrix: does it hold at least one of the tags."""
    return np.diff(labels.indptr) > 0


def idf_weights(doc_freq: np.ndarray, num_docs: int, min_doc_freq: int) -> np.ndarray:
    """MLlib's IDF: log((m + 1) / (df + 1)) per column, 0 for columns in fewer than min_doc_freq rows."""
    return np.where(doc_freq >= min_doc_freq, np.log((num_docs + 1.0) / (doc_freq + 1.0)), 0.0)


def tfidf_normalised(counts: sp.csr_matrix, weights: np.ndarray) -> sp.csr_matrix:
    """Term counts -> IDF-weighted rows scaled to unit L2 norm (IDFModel, then Normalizer(p=2)), in float32; the
    entries IDF zeroes are dropped."""
    weighted = sp.csr_matrix(
        (counts.data * weights[counts.indices], counts.indices.copy(), counts.indptr.copy()), shape=counts.shape
    )  # float64, as the JVM computes
    weighted.eliminate_zeros()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0  # an empty row stays empty
    weighted.data /= np.repeat(norms, np.diff(weighted.indptr))
    return weighted.astype(np.float32)


def idf_model_of(spark: SparkSession, idf: IDF, doc_freq: np.ndarray, num_docs: int, weights: np.ndarray) -> IDFModel:
    """The IDFModel that `idf`.fit returns on rows with these document frequencies. PySpark has no constructor for
    one; the JVM classes' constructors (package-private in Scala, public to Java) are called through Py4J, and a
    test checks the result against IDF.fit."""
    jvm = spark.sparkContext._jvm
    old_model = jvm.org.apache.spark.mllib.feature.IDFModel(
        jvm.org.apache.spark.mllib.linalg.Vectors.dense(_java_array(spark, weights, "double")),
        _java_array(spark, doc_freq, "long"),
        int(num_docs),
    )
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
    renumbered = sp.csr_matrix(
        (features.data, ranks[features.indices], features.indptr), shape=(features.shape[0], width)
    )
    renumbered.sort_indices()
    return renumbered
