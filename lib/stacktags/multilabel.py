"""A multilabel Spark ML estimator: one binary logistic regression per tag, all tags trained in the same data passes.

MultilabelLogisticRegression (Estimator) -> MultilabelLogisticModel (Model). Both persist inside a Pipeline; the
model's tag list, thresholds, coefficients and intercepts are saved together and checked against each other on load
(classifier_io).

Training never collects the data: rows are packed once into cached sparse blocks on the executors (packing); each
L-BFGS iteration broadcasts the coefficients and sums the blocks' gradients (passes), as MLlib does for one model.
Prediction runs in the executors' JVMs (TagScorer, lib/stacktags/jvm), not in Python.
"""

from __future__ import annotations

import logging
import tempfile

import numpy as np
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.feature import IDF, IDFModel, Normalizer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import (
    HasFeaturesCol,
    HasMaxIter,
    HasParallelism,
    HasPredictionCol,
    HasRegParam,
    HasSeed,
    HasTol,
)
from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReadable, MLReader, MLWritable, MLWriter
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from stacktags.classifier_io import ModelReader, ModelWriter, check_consistent
from stacktags.jvmcolumns import java_column
from stacktags.logistic import LockstepLBFGS
from stacktags.mllib_per_tag import fit_per_tag
from stacktags.packing import (
    Block,
    by_frequency,
    column_counts_of,
    column_ranks,
    group_rows,
    has_any_of,
    has_tag,
    idf_model_of,
    idf_weights,
    pack_blocks,
    renumber_columns,
    tfidf_normalised,
)
from stacktags.passes import fit_lockstep, initial_theta, warm_start
from stacktags.session import project_class

log = logging.getLogger(__name__)

SCORER_CLASS = "stacktags.TagScorer"  # the prediction, in stacktags.jar (lib/stacktags/jvm)


class _MultilabelParams(HasFeaturesCol, HasPredictionCol):
    labelsCol = Param(Params._dummy(), "labelsCol", "array<string> of true tags", TypeConverters.toString)
    scoresCol = Param(
        Params._dummy(),
        "scoresCol",
        "top tags with probabilities: array<struct<tag, probability>>",
        TypeConverters.toString,
    )
    probabilitiesCol = Param(
        Params._dummy(),
        "probabilitiesCol",
        "array<float> of every tag's probability, in the order of the tag list ('' for none)",
        TypeConverters.toString,
    )
    minTags = Param(Params._dummy(), "minTags", "fewest tags predicted per question", TypeConverters.toInt)
    maxTags = Param(Params._dummy(), "maxTags", "most tags predicted per question", TypeConverters.toInt)
    topScores = Param(Params._dummy(), "topScores", "how many top tags scoresCol keeps", TypeConverters.toInt)

    def _set_multilabel_defaults(self) -> None:
        self._setDefault(
            featuresCol="features",
            labelsCol="tags",
            predictionCol="predicted_tags",
            scoresCol="scores",
            probabilitiesCol="",
            minTags=1,
            maxTags=5,
            topScores=5,
        )


SOLVERS = ("lockstep", "mllib")


class MultilabelLogisticRegression(
    Estimator, _MultilabelParams, HasMaxIter, HasRegParam, HasTol, HasSeed, HasParallelism, MLReadable, MLWritable
):
    """One binary logistic regression per tag (MLlib's objective with elasticNetParam 0 and no standardization) for
    the numTags most frequent tags; rows with none of them take no part. Two solvers give the same optimum:

    - lockstep (the default): every tag in the same passes over rows packed once into cached blocks, a warm start on
      a sample inside tasks first (packing, passes, logistic);
    - mllib: pyspark.ml's LogisticRegression per tag, `parallelism` at a time (mllib_per_tag): the reference path.

    maxIter counts the L-BFGS iterations over all rows: after the warm start for lockstep, all of them for mllib."""

    solver = Param(
        Params._dummy(), "solver", f"how the per-tag models are fitted: {' or '.join(SOLVERS)}", TypeConverters.toString
    )
    numTags = Param(Params._dummy(), "numTags", "how many of the most frequent tags to learn", TypeConverters.toInt)
    historySize = Param(Params._dummy(), "historySize", "L-BFGS memory", TypeConverters.toInt)
    warmStartRows = Param(
        Params._dummy(),
        "warmStartRows",
        "the first warmStartIter iterations read about this many rows (every n-th row; all rows "
        "when there are fewer); 0: no warm start",
        TypeConverters.toInt,
    )
    warmStartIter = Param(
        Params._dummy(),
        "warmStartIter",
        "L-BFGS iterations on the warm-start rows, before maxIter iterations on all rows",
        TypeConverters.toInt,
    )
    tagsPerFit = Param(
        Params._dummy(),
        "tagsPerFit",
        "learn the tags in groups of at most this many, one after the other, over the same cached rows "
        "(the optimiser's state grows with features x tags); 0: all tags together",
        TypeConverters.toInt,
    )
    otherRowsRate = Param(
        Params._dummy(),
        "otherRowsRate",
        "when tags are learnt in groups: the share of the rows with none of a group's tags (but "
        "another tag) that the group's iterations read, drawn at random (seed), each weighing "
        "1/otherRowsRate, so the objective keeps its expectation; 1: all rows",
        TypeConverters.toFloat,
    )

    @keyword_only
    def __init__(
        self,
        *,
        featuresCol: str = "features",
        labelsCol: str = "tags",
        predictionCol: str = "predicted_tags",
        scoresCol: str = "scores",
        probabilitiesCol: str = "",
        solver: str = "lockstep",
        numTags: int = 100,
        maxIter: int = 11,
        regParam: float = 3e-7,
        tol: float = 1e-6,
        historySize: int = 5,
        warmStartRows: int = 100_000,
        warmStartIter: int = 55,
        tagsPerFit: int = 250,
        otherRowsRate: float = 0.25,
        seed: int = 42,
        parallelism: int = 4,
        minTags: int = 1,
        maxTags: int = 5,
        topScores: int = 5,
    ):
        super().__init__()
        self._set_multilabel_defaults()
        self._setDefault(
            solver="lockstep",
            numTags=100,
            maxIter=11,
            regParam=3e-7,
            tol=1e-6,
            historySize=5,
            warmStartRows=100_000,
            warmStartIter=55,
            tagsPerFit=250,
            otherRowsRate=0.25,
            seed=42,
            parallelism=4,
        )
        self._set(**self._input_kwargs)

    def getSolver(self) -> str:
        solver = self.getOrDefault(self.solver)
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(SOLVERS)}, not {solver!r}")
        return solver

    def _fit(self, dataset: DataFrame) -> MultilabelLogisticModel:
        if self.getSolver() == "mllib":
            return self._fit_with_mllib(dataset)
        return self._fit_vectors(dataset, self.getFeaturesCol(), None, [self.getRegParam()])[1][0]

    def _fit_with_mllib(self, dataset: DataFrame) -> MultilabelLogisticModel:
        """The per-tag models fitted by pyspark.ml's LogisticRegression (mllib_per_tag), in the same model class."""
        labels_col = self.getOrDefault(self.labelsCol)
        tags = top_tags(dataset, labels_col, self.getOrDefault(self.numTags))
        if not tags:
            raise ValueError("no tags to learn: the training rows carry no tags")
        coefficients, intercepts = fit_per_tag(
            dataset,
            self.getFeaturesCol(),
            labels_col,
            tags,
            self.getRegParam(),
            self.getMaxIter(),
            self.getTol(),
            self.getParallelism(),
        )
        model = MultilabelLogisticModel(
            tags=tags, coefficients=coefficients, intercepts=intercepts, thresholds=[0.5] * len(tags)
        )
        return self._copyValues(model)

    def fitWithIDF(
        self, dataset: DataFrame, idf: IDF, normalizer: Normalizer
    ) -> tuple[IDFModel, MultilabelLogisticModel]:
        """The same models as fitting `idf` on the dataset, then this estimator on `normalizer`'s output (L2). The
        lockstep solver does it in one pass over the data instead of two: every row is packed as term counts, the
        packed columns' row counts are IDF's document frequencies, and the blocks are weighted, normalised and cut
        to the rows with one of the tags where they are cached. The mllib solver runs the three stages in turn."""
        idf_model, (model,) = self.fitPathWithIDF(dataset, idf, normalizer, [self.getRegParam()])
        return idf_model, model

    def fitPathWithIDF(
        self, dataset: DataFrame, idf: IDF, normalizer: Normalizer, regParams: list[float]
    ) -> tuple[IDFModel, list[MultilabelLogisticModel]]:
        """fitWithIDF at each of regParams, in their order: a regularisation path. The lockstep solver packs the rows
        once and fits the weakest value first, as fitWithIDF would alone, then each stronger value from the fit
        before (the coefficients move little from one to the next); the mllib solver fits each value on its own."""
        if not regParams or min(regParams) < 0:
            raise ValueError(f"regParams must be one or more values >= 0, got {regParams}")
        if (
            normalizer.getP() != 2.0
            or normalizer.getInputCol() != idf.getOutputCol()
            or normalizer.getOutputCol() != self.getFeaturesCol()
        ):
            raise ValueError(
                f"fitWithIDF expects IDF ({idf.getInputCol()} -> {idf.getOutputCol()}), then an L2 "
                f"Normalizer into {self.getFeaturesCol()}; got p={normalizer.getP()}, "
                f"{normalizer.getInputCol()} -> {normalizer.getOutputCol()}"
            )
        if self.getSolver() == "mllib":  # MLlib's own stages, one after the other
            idf_model = idf.fit(dataset)
            features = normalizer.transform(idf_model.transform(dataset))
            return idf_model, [self.copy({self.regParam: reg})._fit_with_mllib(features) for reg in regParams]
        return self._fit_vectors(dataset, idf.getInputCol(), idf, list(regParams))

    def _fit_vectors(
        self, dataset: DataFrame, vectors_col: str, idf: IDF | None, reg_params: list[float]
    ) -> tuple[IDFModel | None, list[MultilabelLogisticModel]]:
        """The classifiers at each of reg_params from the vectors of `vectors_col`: features as they are, or (with
        `idf`) term counts that IDF weighting and L2 normalisation turn into features; then also the fitted
        IDFModel."""
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
            lambda a, b: (a[0] + b[0], a[1] + b[1], a[2] + b[2])
        )
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
        path = sorted(set(reg_params))  # weakest first: each next fit starts from the one before
        try:
            theta, rows = initial_theta(blocks, len(columns), len(tags))  # the first pass: blocks are cached now
            thetas = {reg: theta.copy() for reg in path}
            packed.unpersist()  # early: the blocks replace it
            log.info(
                "packed %d rows, %d of %d feature columns used, %d tags",
                rows,
                len(columns),
                len(column_counts),
                len(tags),
            )
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
                        lambda a, b: (a[0] + b[0], a[1] + b[1])
                    )
                    log.info(
                        "tags %d to %d of %d: %d of %d rows read (weighing %d)",
                        group.start + 1,
                        group.stop,
                        len(tags),
                        read,
                        rows,
                        round(weighted),
                    )
                else:
                    group_blocks = blocks  # every row has one of the tags: none to sample
                try:
                    fitted = self._fit_group(spark, group_blocks, every, np.ascontiguousarray(theta[:, group]), path)
                    for reg, group_theta in zip(path, fitted):
                        thetas[reg][:, group] = group_theta
                finally:
                    if group_blocks is not blocks:
                        group_blocks.unpersist()
        finally:
            packed.unpersist()
            blocks.unpersist()
            shared.destroy()
        models = []
        for reg in reg_params:
            coefficients = np.zeros((len(column_counts), len(tags)), dtype=np.float32)
            coefficients[columns] = thetas[reg][:-1]
            model = MultilabelLogisticModel(
                tags=tags,
                coefficients=coefficients,
                intercepts=thetas[reg][-1].astype(np.float32),
                thresholds=[0.5] * len(tags),
            )
            models.append(self._copyValues(model))
        return idf_model, models

    def _fit_group(
        self, spark: SparkSession, blocks, every: int, theta: np.ndarray, path: list[float]
    ) -> list[np.ndarray]:
        """L-BFGS from theta for the tags of the blocks' label columns, at each regularisation of the path in turn,
        each from the fit before: first warmStartIter iterations on one in `every` of the blocks' rows (when every
        > 0), then maxIter passes over all of them. One theta per value of the path."""
        history, tol = self.getOrDefault(self.historySize), self.getTol()
        sample = blocks.map(lambda b: Block(b.X[::every], b.Y[::every], b.weight)) if every > 1 else blocks
        fitted = []
        for reg in path:
            if every == 0:
                optimiser = LockstepLBFGS(history=history, tol=tol)
            else:
                # Iterations on a share of the rows cost that share of a pass; their curvature pairs carry over, so
                # the passes over all rows start near the optimum with a calibrated L-BFGS memory.
                theta, optimiser = warm_start(
                    spark, sample, theta, reg, self.getOrDefault(self.warmStartIter), history, tol
                )
            try:
                theta = fit_lockstep(blocks, theta, reg, self.getMaxIter(), optimiser)
            finally:
                optimiser.close()
            fitted.append(theta)
        return fitted

    def write(self) -> MLWriter:
        return DefaultParamsWriter(self)

    @classmethod
    def read(cls) -> MLReader:
        return DefaultParamsReader(cls)


def top_tags(dataset: DataFrame, labels_col: str, n: int) -> list[str]:
    """The n most frequent tags (ties broken by name, so the list is the same on every run)."""
    counts = (
        dataset.select(F.explode(labels_col).alias("tag"))
        .groupBy("tag")
        .count()
        .orderBy(F.desc("count"), F.asc("tag"))
        .limit(n)
    )
    return [row["tag"] for row in counts.collect()]


class MultilabelLogisticModel(Model, _MultilabelParams, MLReadable, MLWritable):
    """Per-tag logistic models with per-tag decision thresholds. Each question gets at least minTags and at most
    maxTags tags: those whose probability reaches their threshold, most probable first."""

    tags = Param(Params._dummy(), "tags", "the tag of each model, in order", TypeConverters.toListString)
    thresholds = Param(Params._dummy(), "thresholds", "the decision threshold of each tag", TypeConverters.toListFloat)

    def __init__(
        self,
        tags: list[str] | None = None,
        coefficients: np.ndarray | None = None,
        intercepts: np.ndarray | None = None,
        thresholds: list[float] | None = None,
    ):
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

    def setThresholds(self, thresholds: list[float]) -> MultilabelLogisticModel:
        self._set(thresholds=list(thresholds))
        check_consistent(self)
        return self

    def _transform(self, dataset: DataFrame) -> DataFrame:
        """Adds the predicted tags, the top scores and, if probabilitiesCol is set, every tag's probability. The
        prediction runs in the JVM (TagScorer, in stacktags.jar), with the coefficients broadcast once per model."""
        spark = dataset.sparkSession
        with_probabilities = bool(self.getOrDefault(self.probabilitiesCol))
        prediction = project_class(spark, SCORER_CLASS).predict(
            java_column(self.getFeaturesCol()),
            self._broadcast_weights(spark),
            list(self.getOrDefault(self.tags)),
            [float(t) for t in self.getOrDefault(self.thresholds)],
            self.getOrDefault(self.minTags),
            self.getOrDefault(self.maxTags),
            self.getOrDefault(self.topScores),
            with_probabilities,
        )
        result = dataset.withColumn("_prediction", Column(prediction))
        columns = {
            self.getPredictionCol(): F.col("_prediction.predicted"),
            self.getOrDefault(self.scoresCol): F.col("_prediction.scores"),
        }
        if with_probabilities:
            columns[self.getOrDefault(self.probabilitiesCol)] = F.col("_prediction.probabilities")
        return result.withColumns(columns).drop("_prediction")

    def probabilityHistograms(self, dataset: DataFrame, labelsCol: str, buckets: int) -> tuple[np.ndarray, np.ndarray]:
        """Per tag, how many rows of `dataset` with and without the tag in `labelsCol` (array<string>) have the
        tag's probability in each of `buckets` equal buckets ([b / buckets, (b + 1) / buckets), 1 in the last): two
        (tags, buckets) float arrays. Counted in the executors' JVMs as they score (TagScorer.histograms): only the
        counts reach the driver, never a probability per row and tag (121 million at 1,000 tags on 121,438 rows)."""
        tags = self.getOrDefault(self.tags)
        counts = project_class(dataset.sparkSession, SCORER_CLASS).histograms(
            dataset._jdf,
            self.getFeaturesCol(),
            labelsCol,
            self._broadcast_weights(dataset.sparkSession),
            list(tags),
            buckets,
        )
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
                    spark._jsparkSession,
                    features_file,
                    coefficients_file,
                    int(self.coefficients.shape[0]),
                    [float(b) for b in self.intercepts],
                )
            self._jvm_weights = (key, weights)
        return self._jvm_weights[1]

    def write(self) -> MLWriter:
        return ModelWriter(self)

    @classmethod
    def read(cls) -> MLReader:
        return ModelReader(cls)
