"""Text preparation: the one definition shared by the clean job and by scoring.

`text_preparation(spark, engine)` returns a PipelineModel of persistable Spark ML stages that turns StackSample's
`Title` and HTML `Body` into:
  body_text     the prose: tags removed, entities decoded; <pre>, <code>, <img>, <script>, <style> and comments out
  code          the contents of <pre> and <code> blocks in document order, one per line, entities decoded
  title_tokens, body_tokens   lowercased tech-aware tokens of the prose, stop words removed
  code_tokens   lowercased tech-aware tokens of the code
The clean job applies it to bronze rows, and the trained model carries the same stages, so training and serving
cannot drift apart.

The work itself is done by hand-written scanners in Java (lib/stacktags/jvm/TextPreparation.java, built into
stacktags.jar by scripts/setup.sh and shipped by the jar bundle). Each output is one pass over the text; the
regular expressions they replace (documented there) took ten passes (docs/performance.md). The stages register them
as Java UDFs in the session, so they run in the executors' JVMs, without Python. With [text] engine = "spark-nlp"
the tokens come from Spark NLP's annotators instead (stacktags.text_sparknlp); the prose and code stay the same.
"""

from __future__ import annotations

import hashlib

from pyspark import keyword_only
from pyspark.ml import PipelineModel, Transformer
from pyspark.ml.feature import StopWordsRemover
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from stacktags.config import Config
from stacktags.session import project_class

JVM_CLASS = "stacktags.TextPreparation"


def _missing(spark: SparkSession, *names: str) -> bool:
    """A UDF is registered once per session: registering it again replaces it, with a warning each time."""
    return not all(spark.catalog.functionExists(name) for name in names)


def prose_and_code(spark: SparkSession, body: Column) -> tuple[Column, Column]:
    scanners = project_class(spark, JVM_CLASS)
    if _missing(spark, "stacktags_prose", "stacktags_code"):
        scanners.register(spark._jsparkSession)
    return F.call_udf("stacktags_prose", body), F.call_udf("stacktags_code", body)


def tokens_of(spark: SparkSession, text: Column, stop_words: list[str]) -> Column:
    """The tokens of text minus stop_words, by a UDF named after its stop words (one per list in a session)."""
    name = "stacktags_tokens_" + hashlib.sha256("\n".join(stop_words).encode()).hexdigest()[:16]
    scanners = project_class(spark, JVM_CLASS)
    if _missing(spark, name):
        scanners.registerTokens(spark._jsparkSession, name, stop_words)
    return F.call_udf(name, text)


class HtmlToText(Transformer, HasInputCol, DefaultParamsReadable, DefaultParamsWritable):
    """HTML body -> prose (proseCol) and code (codeCol). A null body gives two empty strings."""

    proseCol = Param(Params._dummy(), "proseCol", "output column for the prose", TypeConverters.toString)
    codeCol = Param(Params._dummy(), "codeCol", "output column for the code", TypeConverters.toString)

    @keyword_only
    def __init__(self, *, inputCol: str = "Body", proseCol: str = "body_text", codeCol: str = "code"):
        super().__init__()
        self._setDefault(inputCol="Body", proseCol="body_text", codeCol="code")
        self._set(**self._input_kwargs)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        prose, code = prose_and_code(dataset.sparkSession, F.col(self.getInputCol()))
        return dataset.withColumns({self.getOrDefault(self.proseCol): prose, self.getOrDefault(self.codeCol): code})


class TechTokenizer(Transformer, HasInputCol, HasOutputCol, DefaultParamsReadable, DefaultParamsWritable):
    """Text -> lowercased tech-aware tokens, minus the stopWords. Null text gives [].

    A token starts with a letter or digit (or a dot: .net), may hold + and # (c++, c#, f#), and joins parts with
    . - _ ' (node.js, asp.net-mvc, x86-64, python-3.x, objective-c). A dot or dash at the end is punctuation."""

    stopWords = Param(Params._dummy(), "stopWords", "lowercase words to drop", TypeConverters.toListString)

    @keyword_only
    def __init__(
        self, *, inputCol: str | None = None, outputCol: str | None = None, stopWords: list[str] | None = None
    ):
        super().__init__()
        self._setDefault(stopWords=[])
        self._set(**self._input_kwargs)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        tokens = tokens_of(dataset.sparkSession, F.col(self.getInputCol()), self.getOrDefault(self.stopWords))
        return dataset.withColumn(self.getOutputCol(), tokens)


def english_stop_words() -> list[str]:
    """Spark's English list, minus words that are also tag names on Stack Overflow."""
    keep = {"c", "r", "d", "go", "each", "where", "while", "this", "before", "after", "between", "over"}
    return [word for word in StopWordsRemover.loadDefaultStopWords("english") if word not in keep]


ENGINES = ("native", "spark-nlp")


def text_engine(cfg: Config) -> str:
    """[text] engine: the text preparation that clean and train use (and scoring, as the model carries it)."""
    return cfg.get("text", "engine", "native")


def text_preparation(spark: SparkSession, engine: str = "native") -> PipelineModel:
    """The stages from a raw question (Title, HTML Body) to prose, code and tokens, by `engine` ([text] engine):
    the native scanners, or Spark NLP's annotators (stacktags.text_sparknlp). Nothing to fit on data."""
    if engine not in ENGINES:
        raise ValueError(f"text engine {engine!r}: one of {', '.join(ENGINES)}")
    stop_words = english_stop_words()
    html = HtmlToText(inputCol="Body", proseCol="body_text", codeCol="code")
    if engine == "spark-nlp":
        from stacktags.text_sparknlp import spark_nlp_tokens

        columns = [
            ("Title", "title_tokens", stop_words),
            ("body_text", "body_tokens", stop_words),
            ("code", "code_tokens", []),
        ]
        return PipelineModel(stages=[html, *spark_nlp_tokens(spark, columns)])
    return PipelineModel(
        stages=[
            html,
            TechTokenizer(inputCol="Title", outputCol="title_tokens", stopWords=stop_words),
            TechTokenizer(inputCol="body_text", outputCol="body_tokens", stopWords=stop_words),
            TechTokenizer(inputCol="code", outputCol="code_tokens"),
        ]
    )
