"""A multilabel Spark ML estimator: one binary logistic regression per tag, all tags trained in the same data passes.

MultilabelLogisticRegression (Estimator) -> MultilabelLogisticModel (Model). Both persist inside a Pipeline; the
model's tag list, thresholds, coefficients and intercepts are saved together and checked against each other on load.

Training never collects the data: rows are packed once into cached sparse blocks on the executors; each L-BFGS
iteration broadcasts the coefficients and sums the blocks' gradients with treeReduce, as MLlib does for one model.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasFeaturesCol, HasMaxIter, HasPredictionCol, HasRegParam, HasTol
from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReadable, MLReader, MLWritable, MLWriter
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, FloatType, StringType, StructField, StructType

from stacktags.logistic import LockstepLBFGS, block_loss_gradient, regularised

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


class MultilabelLogisticRegression(Estimator, _MultilabelParams, HasMaxIter, HasRegParam, HasTol, MLReadable,
                                   MLWritable):
    numTags = Param(Params._dummy(), "numTags", "how many of the most frequent tags to learn", TypeConverters.toInt)
    historySize = Param(Params._dummy(), "historySize", "L-BFGS memory", TypeConverters.toInt)

    @keyword_only
    def __init__(self, *, featuresCol: str = "features", labelsCol: str = "tags", predictionCol: str = "predicted_tags",
                 scoresCol: str = "scores", probabilitiesCol: str = "", numTags: int = 100, maxIter: int = 50,
                 regParam: float = 1e-5, tol: float = 1e-6, historySize: int = 5, minTags: int = 1, maxTags: int = 5,
                 topScores: int = 5):
        super().__init__()
        self._set_multilabel_defaults()
        self._setDefault(numTags=100, maxIter=50, regParam=1e-5, tol=1e-6, historySize=5)
        self._set(**self._input_kwargs)

    def _fit(self, dataset: DataFrame) -> "MultilabelLogisticModel":
        spark = dataset.sparkSession
        tags = top_tags(dataset, self.getOrDefault(self.labelsCol), self.getOrDefault(self.numTags))
        if not tags:
            raise ValueError("no tags to learn: the training rows carry no tags")
        labelled = dataset.select(self.getFeaturesCol(), tag_indices(F.col(self.getOrDefault(self.labelsCol)), tags)
                                  .alias("label_indices")).where(F.size("label_indices") > 0)
        packed = pack_blocks(labelled, self.getFeaturesCol(), "label_indices", len(tags)).persist()
        # Optimise over the feature columns the rows use: the coefficients that travel every iteration shrink from
        # numFeatures to that many rows (much fewer on small data). Only feature ids reach the driver, never rows.
        num_features, used = packed.map(lambda b: (b[0].shape[1], np.unique(b[0].indices))).treeReduce(
            lambda a, b: (a[0], np.union1d(a[1], b[1])))
        columns = spark.sparkContext.broadcast(used)
        blocks = packed.map(lambda b: (compact_columns(b[0], columns.value), b[1])).persist()
        try:
            theta = initial_theta(blocks, len(used), len(tags))  # the first pass over blocks: they are cached now
            packed.unpersist()  # early: the blocks replace it
            theta = fit_lockstep(spark, blocks, theta, self.getRegParam(), self.getMaxIter(), self.getTol(),
                                 self.getOrDefault(self.historySize))
        finally:
            packed.unpersist()
            blocks.unpersist()
            columns.destroy()
        coefficients = np.zeros((num_features, len(tags)), dtype=np.float32)
        coefficients[used] = theta[:-1]
        model = MultilabelLogisticModel(tags=tags, coefficients=coefficients,
                                        intercepts=theta[-1].astype(np.float32), thresholds=[0.5] * len(tags))
        return self._copyValues(model)

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


def tag_indices(labels: F.Column, tags: list[str]) -> F.Column:
    """A row's tags as sorted 0-based positions in the tag list (tags outside the list dropped)."""
    known = F.array(*[F.lit(t) for t in tags])
    positions = F.transform(F.filter(labels, lambda t: F.array_contains(known, t)),
                            lambda t: (F.array_position(known, t) - 1).cast("int"))
    return F.array_sort(F.array_distinct(positions))


MAX_BLOCK_CELLS = 1 << 24  # rows x tags of one block's dense margins: 64 MB in float32


def pack_blocks(dataset: DataFrame, features_col: str, indices_col: str, num_tags: int):
    """Rows -> an RDD of (X csr float32, Y csr 0/1 with num_tags columns) blocks, built on the executors. Blocks are
    as large as MAX_BLOCK_CELLS allows: each block's gradient is a dense (features x tags) array, so fewer blocks
    means less of that work per pass."""
    rows_per_block = max(1024, MAX_BLOCK_CELLS // num_tags)

    def pack(rows):
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) == rows_per_block:
                yield _block(batch)
                batch = []
        if batch:
            yield _block(batch)

    def _block(rows):
        size = rows[0][0].size
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(r[0].indices) for r in rows])
        indices = np.concatenate([r[0].indices for r in rows]).astype(np.int32)
        values = np.concatenate([r[0].values for r in rows]).astype(np.float32)
        label_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
        label_ptr[1:] = np.cumsum([len(r[1]) for r in rows])
        label_idx = np.array([i for r in rows for i in r[1]], dtype=np.int32)
        features = sp.csr_matrix((values, indices, indptr), shape=(len(rows), size))
        features.eliminate_zeros()  # terms IDF ignores (below minDocFreq) carry 0: no coefficient to learn
        return (features, sp.csr_matrix((np.ones(len(label_idx), dtype=np.float32), label_idx, label_ptr),
                                        shape=(len(rows), num_tags)))

    return dataset.rdd.mapPartitions(pack)


def compact_columns(features: sp.csr_matrix, used: np.ndarray) -> sp.csr_matrix:
    """Renumber a block's feature columns to positions in `used` (sorted ids of every column any row uses)."""
    return sp.csr_matrix((features.data, np.searchsorted(used, features.indices).astype(np.int32), features.indptr),
                         shape=(features.shape[0], len(used)))


def initial_theta(blocks, num_features: int, num_tags: int) -> np.ndarray:
    """Zero coefficients and each tag's log-odds as intercept: the best model before reading any feature."""
    positives, rows = blocks.map(lambda b: (np.asarray(b[1].sum(axis=0)).ravel(), b[0].shape[0])).reduce(
        lambda a, b: (a[0] + b[0], a[1] + b[1]))
    rate = np.clip(positives / rows, 1e-6, 1 - 1e-6)
    theta = np.zeros((num_features + 1, num_tags))
    theta[-1] = np.log(rate / (1 - rate))
    return theta


def partition_loss_gradient(blocks, theta: np.ndarray) -> list:
    """One partition's blocks -> one summed (loss, gradient, rows): a single result per partition to send."""
    total = None
    for X, Y in blocks:
        loss, gradient, rows = block_loss_gradient(X, Y, theta)
        if total is None:
            total = [loss, gradient, rows]
        else:
            total[0] += loss
            total[1] += gradient
            total[2] += rows
    # float32 on the wire: a (features x tags) gradient is 100 MB at 2^18 x 100 instead of 200 MB
    return [] if total is None else [(total[0], total[1].astype(np.float32), total[2])]


def fit_lockstep(spark: SparkSession, blocks, theta: np.ndarray, reg_param: float, max_iter: int, tol: float,
                 history: int) -> np.ndarray:
    sc = spark.sparkContext

    def evaluate(current: np.ndarray):
        shared = sc.broadcast(current.astype(np.float32))  # the executors' products run in float32
        try:
            loss, gradient, rows = blocks.mapPartitions(
                lambda part: partition_loss_gradient(part, shared.value)
            ).treeReduce(lambda a, b: (a[0] + b[0], a[1] + b[1], a[2] + b[2]), depth=2)
        finally:
            shared.destroy()
        return regularised(loss, gradient.astype(np.float64), rows, current, reg_param)

    theta, _, _ = LockstepLBFGS(history=history, tol=tol).minimise(evaluate, theta, max_iter)
    return theta


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
        spark = dataset.sparkSession
        tags = np.array(self.getOrDefault(self.tags))
        thresholds = np.array(self.getOrDefault(self.thresholds))
        weights = spark.sparkContext.broadcast((self.coefficients, self.intercepts))
        min_tags, max_tags = self.getOrDefault(self.minTags), self.getOrDefault(self.maxTags)
        top = min(self.getOrDefault(self.topScores), len(tags))
        with_probabilities = bool(self.getOrDefault(self.probabilitiesCol))
        fields = [StructField("predicted", ArrayType(StringType())),
                  StructField("scores", ArrayType(StructType([StructField("tag", StringType()),
                                                              StructField("probability", FloatType())])))]
        if with_probabilities:
            fields.append(StructField("probabilities", ArrayType(FloatType())))

        @F.pandas_udf(StructType(fields))
        def predict(features: pd.DataFrame) -> pd.DataFrame:
            coefficients, intercepts = weights.value
            probabilities = probabilities_of(to_csr(features, coefficients.shape[0]), coefficients, intercepts)
            predicted, scores = decide(probabilities, tags, thresholds, min_tags, max_tags, top)
            out = pd.DataFrame({"predicted": predicted, "scores": scores})
            if with_probabilities:
                out["probabilities"] = list(probabilities.astype(np.float32))
            return out

        result = dataset.withColumn("_prediction", predict(F.col(self.getFeaturesCol())))
        columns = {self.getPredictionCol(): F.col("_prediction.predicted"),
                   self.getOrDefault(self.scoresCol): F.col("_prediction.scores")}
        if with_probabilities:
            columns[self.getOrDefault(self.probabilitiesCol)] = F.col("_prediction.probabilities")
        return result.withColumns(columns).drop("_prediction")

    def write(self) -> MLWriter:
        return _ModelWriter(self)

    @classmethod
    def read(cls) -> MLReader:
        return _ModelReader(cls)


def to_csr(vectors: pd.DataFrame, num_features: int) -> sp.csr_matrix:
    """A batch of ML vectors as pandas UDFs receive them (VectorUDT's SQL struct: type 0 sparse / 1 dense, size,
    indices, values) -> one CSR matrix."""
    is_dense = (vectors["type"] == 1).to_numpy()
    values = list(vectors["values"])
    indices = [np.arange(len(v)) if dense else i for dense, i, v in zip(is_dense, vectors["indices"], values)]
    indptr = np.zeros(len(values) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(i) for i in indices])
    flat_indices = np.concatenate(indices).astype(np.int32) if values else np.array([], dtype=np.int32)
    flat_values = np.concatenate(values).astype(np.float64) if values else np.array([])
    return sp.csr_matrix((flat_values, flat_indices, indptr), shape=(len(values), num_features))


def probabilities_of(features: sp.csr_matrix, coefficients: np.ndarray, intercepts: np.ndarray) -> np.ndarray:
    """(n, D) features, (D, K) coefficients -> (n, K) probabilities."""
    return 1.0 / (1.0 + np.exp(-(features @ coefficients + intercepts)))


def decide(probabilities: np.ndarray, tags: np.ndarray, thresholds: np.ndarray, min_tags: int, max_tags: int,
           top: int) -> tuple[list, list]:
    """The decision rule: tags at or above their threshold, most probable first, at least min_tags, at most max_tags.
    Returns the predicted tag lists and the top `top` (tag, probability) pairs of each row."""
    order = np.argsort(-probabilities, axis=1, kind="stable")
    ranked = np.take_along_axis(probabilities, order, axis=1)
    passes = np.take_along_axis(probabilities >= thresholds, order, axis=1)
    counts = np.clip(passes.sum(axis=1), min_tags, max_tags)
    predicted, scores = [], []
    for row in range(probabilities.shape[0]):
        chosen = order[row][passes[row]][:counts[row]]
        if len(chosen) < counts[row]:  # too few passed: fill with the most probable of the rest
            rest = [i for i in order[row] if i not in set(chosen)]
            chosen = np.concatenate([chosen, rest[:counts[row] - len(chosen)]]).astype(int)
        predicted.append(list(tags[chosen]))
        scores.append([{"tag": tags[i], "probability": float(p)} for i, p in zip(order[row][:top], ranked[row][:top])])
    return predicted, scores


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
    """Params (tags, thresholds, ...) as Spark ML metadata; one row per tag (tag, intercept, coefficients) as Parquet,
    on any Hadoop file system, so a reader can check that each row belongs to the tag it claims."""

    def __init__(self, instance: MultilabelLogisticModel):
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        DefaultParamsWriter.saveMetadata(self.instance, path, self.sparkSession)
        m = self.instance
        rows = [(i, tag, float(m.intercepts[i]), m.coefficients[:, i].tolist())
                for i, tag in enumerate(m.getOrDefault(m.tags))]
        schema = "position int, tag string, intercept double, coefficients array<float>"
        self.sparkSession.createDataFrame(rows, schema).coalesce(1).write.parquet(f"{path}/data")


class _ModelReader(MLReader):
    def __init__(self, cls):
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> MultilabelLogisticModel:
        metadata = DefaultParamsReader.loadMetadata(path, self.sc)
        model = self.cls()
        model._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(model, metadata)
        rows = self.sparkSession.read.parquet(f"{path}/data").orderBy("position").collect()
        tags = model.getOrDefault(model.tags)
        saved = [row["tag"] for row in rows]
        if saved != tags:
            raise ModelMismatchError(f"model at {path}: coefficient rows are for tags {saved[:5]}..., "
                                     f"the tag list says {tags[:5]}...")
        model.coefficients = np.array([row["coefficients"] for row in rows], dtype=np.float32).T
        model.intercepts = np.array([row["intercept"] for row in rows], dtype=np.float32)
        check_consistent(model)
        return model
