"""Text preparation: the one definition shared by the clean job and by scoring.

`text_preparation()` returns a PipelineModel of persistable Spark ML stages that turns StackSample's `Title` and HTML
`Body` into:
  body_text     the prose: tags removed, entities decoded; <pre>, <code>, <img>, <script>, <style> and comments out
  code          the contents of <pre> and <code> blocks, entities decoded
  title_tokens, body_tokens   lowercased tech-aware tokens of the prose, stop words removed
  code_tokens   lowercased tech-aware tokens of the code
The clean job applies it to bronze rows, and the trained model carries the same stages, so training and serving
cannot drift apart. Every stage is Spark SQL expressions (no Python UDF), so it runs in the JVM at full speed.
"""

from __future__ import annotations

from pyspark import keyword_only
from pyspark.ml import PipelineModel, Transformer
from pyspark.ml.feature import StopWordsRemover
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# A token starts with a letter or digit (or a dot: .net), may hold + and # (c++, c#, f#), and joins parts with . - _
# (node.js, asp.net-mvc, x86-64, python-3.x, objective-c). A dot or dash at the end is punctuation, not token.
TOKEN_PATTERN = r"\.?[\p{L}\p{N}][\p{L}\p{N}+#]*(?:[.\-_'][\p{L}\p{N}+#]+)*"

# Each pattern is one left-to-right scan of the body, and at each "<" the first alternative that matches wins: a
# <code> inside a <pre> goes with its <pre>, tags inside a comment or a script go with it. An unclosed block runs to
# the end of the body; a lone < (3 < 4) matches nothing and stays text.
_SKIPPED = r"script\b.*?(?:</script\s*>|$)|style\b.*?(?:</style\s*>|$)|!--.*?(?:-->|$)"
_CODE_BLOCK = r"(pre|code)\b[^>]*>(.*?)(?:</\1\s*>|$)"  # group 2: the block's contents
_TAG = r"/?[a-zA-Z][^>]*(?:>|$)|![^>]*(?:>|$)"  # any other tag, also one cut off at the end
_NOT_PROSE = rf"(?is)<(?:{_SKIPPED}|{_CODE_BLOCK}|{_TAG})"  # <img> is a tag: its alt text is not prose
_CODE_OR_SKIPPED = rf"(?is)<(?:{_SKIPPED}|{_CODE_BLOCK})"
_SPACES = r"[\s\u00a0]+"  # \u00a0: &nbsp; decodes to a no-break space that \s does not match


def decode_entities(text: Column) -> Column:
    """&lt; &amp; &#39; &#x263A; &nbsp; ... -> characters, by the JVM's commons-text (ships with Spark). Only text
    with an & goes through it: the call costs more than the rest of the prose's preparation."""
    unescaped = F.reflect(F.lit("org.apache.commons.text.StringEscapeUtils"), F.lit("unescapeHtml4"), text)
    return F.when(F.instr(text, "&") > 0, unescaped).otherwise(text)


def strip_tags(html: Column) -> Column:
    return F.regexp_replace(html, rf"(?is)<(?:{_TAG})", " ")


def squeeze(text: Column) -> Column:
    return F.trim(F.regexp_replace(text, _SPACES, " "))


def prose_of(body: Column) -> Column:
    return squeeze(decode_entities(F.regexp_replace(F.coalesce(body, F.lit("")), _NOT_PROSE, " ")))


def code_of(body: Column) -> Column:
    """The contents of the <pre> and <code> blocks in the order they come, one per line."""
    blocks = F.regexp_extract_all(F.coalesce(body, F.lit("")), F.lit(_CODE_OR_SKIPPED), 2)
    code = F.array_join(F.filter(blocks, lambda block: block != ""), "\n")  # a skipped block extracts as ""
    return F.trim(decode_entities(strip_tags(code)))


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
        body = F.col(self.getInputCol())
        return dataset.withColumns({self.getOrDefault(self.proseCol): prose_of(body),
                                    self.getOrDefault(self.codeCol): code_of(body)})


class TechTokenizer(Transformer, HasInputCol, HasOutputCol, DefaultParamsReadable, DefaultParamsWritable):
    """Text -> lowercased tech-aware tokens (see TOKEN_PATTERN), minus the stopWords. Null text gives []."""

    stopWords = Param(Params._dummy(), "stopWords", "lowercase words to drop", TypeConverters.toListString)

    @keyword_only
    def __init__(self, *, inputCol: str | None = None, outputCol: str | None = None,
                 stopWords: list[str] | None = None):
        super().__init__()
        self._setDefault(stopWords=[])
        self._set(**self._input_kwargs)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        text = F.lower(F.coalesce(F.col(self.getInputCol()), F.lit("")))
        tokens = F.regexp_extract_all(text, F.lit(TOKEN_PATTERN), 0)
        stop_words = self.getOrDefault(self.stopWords)
        if stop_words:
            # isin of literals becomes a hash set lookup (InSet); array_contains would scan the list per token
            tokens = F.filter(tokens, lambda token: ~token.isin(stop_words))
        return dataset.withColumn(self.getOutputCol(), tokens)


def english_stop_words() -> list[str]:
    """Spark's English list, minus words that are also tag names on Stack Overflow."""
    keep = {"c", "r", "d", "go", "each", "where", "while", "this", "before", "after", "between", "over"}
    return [word for word in StopWordsRemover.loadDefaultStopWords("english") if word not in keep]


def text_preparation(title_col: str = "Title", body_col: str = "Body") -> PipelineModel:
    """The stages from a raw question (Title, HTML Body) to prose, code and tokens. No fitting needed."""
    stop_words = english_stop_words()
    return PipelineModel(stages=[
        HtmlToText(inputCol=body_col, proseCol="body_text", codeCol="code"),
        TechTokenizer(inputCol=title_col, outputCol="title_tokens", stopWords=stop_words),
        TechTokenizer(inputCol="body_text", outputCol="body_tokens", stopWords=stop_words),
        TechTokenizer(inputCol="code", outputCol="code_tokens"),
    ])
