"""Features: the question's tokens -> one weighted bag of terms -> HashingTF -> IDF -> L2-normalised vector."""

from __future__ import annotations

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.feature import IDF, HashingTF, Normalizer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasOutputCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def bigrams(tokens: Column) -> Column:
    """Adjacent pairs, 'a b', within one token array (so no pair spans the title and the body)."""
    pairs = F.transform(F.sequence(F.lit(1), F.size(tokens) - 1),
                        lambda i: F.concat_ws(" ", F.element_at(tokens, i), F.element_at(tokens, i + 1)))
    return F.when(F.size(tokens) > 1, pairs).otherwise(F.array().cast("array<string>"))  # sequence(1, 0) is [1, 0]


class TermMixer(Transformer, HasOutputCol, DefaultParamsReadable, DefaultParamsWritable):
    """title, body and code tokens -> one array of terms. Title tokens count `titleWeight` times (a title says more
    about the tags than a sentence of the body); prose and code share one vocabulary; optional bigrams of the prose;
    optionally distinct terms: each term counts once in the title (times titleWeight) and once in the body (prose and
    code), however often it repeats: repeats are weak evidence, and this is the cheap form of a sublinear TF."""

    titleCol = Param(Params._dummy(), "titleCol", "title tokens", TypeConverters.toString)
    bodyCol = Param(Params._dummy(), "bodyCol", "body (prose) tokens", TypeConverters.toString)
    codeCol = Param(Params._dummy(), "codeCol", "code tokens", TypeConverters.toString)
    titleWeight = Param(Params._dummy(), "titleWeight", "times each title token counts", TypeConverters.toInt)
    withBigrams = Param(Params._dummy(), "withBigrams", "add bigrams of title and body", TypeConverters.toBoolean)
    distinctTerms = Param(Params._dummy(), "distinctTerms", "count each term once in the title and once in the body",
                          TypeConverters.toBoolean)

    @keyword_only
    def __init__(self, *, titleCol: str = "title_tokens", bodyCol: str = "body_tokens", codeCol: str = "code_tokens",
                 outputCol: str = "terms", titleWeight: int = 3, withBigrams: bool = False,
                 distinctTerms: bool = False):
        super().__init__()
        self._setDefault(titleCol="title_tokens", bodyCol="body_tokens", codeCol="code_tokens", outputCol="terms",
                         titleWeight=3, withBigrams=False, distinctTerms=False)
        self._set(**self._input_kwargs)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        title, body, code = (F.col(self.getOrDefault(p)) for p in (self.titleCol, self.bodyCol, self.codeCol))
        text = F.concat(body, code)
        title_bigrams, body_bigrams = bigrams(title), bigrams(body)
        if self.getOrDefault(self.distinctTerms):
            title, text = F.array_distinct(title), F.array_distinct(text)
            title_bigrams, body_bigrams = F.array_distinct(title_bigrams), F.array_distinct(body_bigrams)
        parts = [F.flatten(F.array_repeat(title, self.getOrDefault(self.titleWeight))), text]
        if self.getOrDefault(self.withBigrams):
            parts += [title_bigrams, body_bigrams]
        return dataset.withColumn(self.getOutputCol(), F.concat(*parts))


def feature_stages(num_features: int, title_weight: int, with_bigrams: bool, distinct_terms: bool,
                   min_doc_freq: int) -> list:
    """The feature stages of the model pipeline; IDF is fitted on the training rows."""
    return [
        TermMixer(outputCol="terms", titleWeight=title_weight, withBigrams=with_bigrams,
                  distinctTerms=distinct_terms),
        HashingTF(inputCol="terms", outputCol="tf", numFeatures=num_features),
        IDF(inputCol="tf", outputCol="tfidf", minDocFreq=min_doc_freq),
        Normalizer(inputCol="tfidf", outputCol="features", p=2.0),
    ]
