"""Features: the question's tokens -> hashed counts of one weighted bag of terms -> IDF -> L2-normalised vector."""

from __future__ import annotations

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.feature import IDF, Normalizer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasNumFeatures, HasOutputCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame

from stacktags.jvmcolumns import java_column
from stacktags.session import project_class

HASHING_TF_CLASS = "stacktags.QuestionHashingTF"  # in stacktags.jar (lib/stacktags/jvm)


class QuestionHashingTF(Transformer, HasOutputCol, HasNumFeatures, DefaultParamsReadable, DefaultParamsWritable):
    """MLlib's HashingTF of one bag of terms made from a question's title, body and code tokens: an ML vector of
    numFeatures buckets, each holding how often its terms occur.

    The terms: title tokens count `titleWeight` times (a title says more about the tags than a sentence of the
    body); prose and code share one vocabulary; optional bigrams of the title and of the body (no pair spans the
    two); optionally distinct terms: each term counts once in the title (times titleWeight) and once in the body
    (prose and code), however often it repeats: repeats are weak evidence, and this is the cheap form of a sublinear
    TF. Each term goes to its HashingTF bucket (murmur3, seed 42), and the vectors equal MLlib's HashingTF of the
    bag to the bit (tested on real questions). Making the bag and counting it is one Java UDF (QuestionHashingTF in
    stacktags.jar), where Spark's array functions followed by MLlib's HashingTF make several passes over each bag
    (docs/performance.md)."""

    titleCol = Param(Params._dummy(), "titleCol", "title tokens", TypeConverters.toString)
    bodyCol = Param(Params._dummy(), "bodyCol", "body (prose) tokens", TypeConverters.toString)
    codeCol = Param(Params._dummy(), "codeCol", "code tokens", TypeConverters.toString)
    titleWeight = Param(Params._dummy(), "titleWeight", "times each title token counts", TypeConverters.toInt)
    withBigrams = Param(Params._dummy(), "withBigrams", "add bigrams of title and body", TypeConverters.toBoolean)
    distinctTerms = Param(
        Params._dummy(),
        "distinctTerms",
        "count each term once in the title and once in the body",
        TypeConverters.toBoolean,
    )

    @keyword_only
    def __init__(
        self,
        *,
        titleCol: str = "title_tokens",
        bodyCol: str = "body_tokens",
        codeCol: str = "code_tokens",
        outputCol: str = "tf",
        numFeatures: int = 1 << 18,
        titleWeight: int = 2,
        withBigrams: bool = False,
        distinctTerms: bool = True,
    ):
        super().__init__()
        self._setDefault(
            titleCol="title_tokens",
            bodyCol="body_tokens",
            codeCol="code_tokens",
            outputCol="tf",
            numFeatures=1 << 18,
            titleWeight=2,
            withBigrams=False,
            distinctTerms=True,
        )
        self._set(**self._input_kwargs)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        title, body, code = (java_column(self.getOrDefault(p)) for p in (self.titleCol, self.bodyCol, self.codeCol))
        counts = project_class(dataset.sparkSession, HASHING_TF_CLASS).counts(
            title,
            body,
            code,
            self.getOrDefault(self.titleWeight),
            self.getOrDefault(self.withBigrams),
            self.getOrDefault(self.distinctTerms),
            self.getNumFeatures(),
        )
        # with HashingTF's column metadata: a vector of numFeatures attributes
        return dataset.withColumn(
            self.getOutputCol(),
            Column(counts).alias(self.getOutputCol(), metadata={"ml_attr": {"num_attrs": self.getNumFeatures()}}),
        )


def feature_stages(
    num_features: int, title_weight: int, with_bigrams: bool, distinct_terms: bool, min_doc_freq: int
) -> list:
    """The feature stages of the model pipeline; IDF is fitted on the training rows."""
    return [
        QuestionHashingTF(
            outputCol="tf",
            numFeatures=num_features,
            titleWeight=title_weight,
            withBigrams=with_bigrams,
            distinctTerms=distinct_terms,
        ),
        IDF(inputCol="tf", outputCol="tfidf", minDocFreq=min_doc_freq),
        Normalizer(inputCol="tfidf", outputCol="features", p=2.0),
    ]
