"""The tokens by Spark NLP's annotators: [text] engine = "spark-nlp" (on the Spark 3.5 line here;
docs/text-preparation.md).

Per text column: DocumentAssembler -> Tokenizer -> Normalizer (lowercase) -> StopWordsCleaner (not for code), then
one Finisher writes the same array<string> columns as the native engine (title_tokens, body_tokens, code_tokens).
HTML to prose and code stays with the native HtmlToText: DocumentNormalizer strips tags into one text, while the
model reads prose and code apart.

The Tokenizer is set to cut tokens the way the native scanner does (TechTokenizer):
- a candidate is a run of the characters a token may hold, letters, digits and + # . - _ ' (Tokenizer's
  targetPattern is a character class: any other character ends a candidate), and of ( ) ? : as well (Spark NLP
  pastes targetPattern into `[^(?:...)]`, so those four never end one);
- its rule drops what no token starts with at its start (+ # - _ ' ( ) ? :, and a dot before no letter or digit)
  and the joiners . - _ ' and ( ) ? : at its end: `c#`, `c++`, `.net`, `node.js`, `asp.net-mvc`, `objective-c`,
  `x86-64`, `python-3.x` stay whole;
- inside, two joiners or more in a row split it (x--y: x, y), as they end a native token, and so do ( ) ? : with the
  joiners around them (foo(bar: foo, bar);
- the Normalizer lowercases.
What differs is rare: after a run of joiners, the next piece keeps no leading dot and any leading + or # (a..b:
a, b; x--+y: x, +y; native: a, .b and x, y).
"""

from __future__ import annotations

from pyspark.ml import Pipeline, Transformer
from pyspark.sql import SparkSession

TOKEN_CHARACTERS = r"\p{L}\p{N}+#.\-_'"
LEADING = r"\A(?:[+#\-_'?():]|\.(?![\p{L}\p{N}]))*"
TOKEN = r"(.*?)"
TRAILING = r"[.\-_'?():]*\z"
INNER_BREAK = r"[.\-_']{2,}|[.\-_']*[?():]+(?:[+#\-_']|\.(?![\p{L}\p{N}]))*"


def spark_nlp_tokens(spark: SparkSession, columns: list[tuple[str, str, list[str]]]) -> list[Transformer]:
    """For each (input column, output column, stop words): the text's lowercased tokens minus the stop words, as
    array<string>: the fitted stages, with the annotation columns in between dropped at the end. Fitted here, on no
    rows: the Tokenizer builds its rules as it is fitted."""
    import sparknlp  # noqa: F401  # registers the com.johnsnowlabs.* module names that saved annotators are loaded by
    from sparknlp.annotator import Normalizer, StopWordsCleaner, Tokenizer
    from sparknlp.base import DocumentAssembler, Finisher

    stages, finished = [], []
    for input_col, output_col, stop_words in columns:
        prefix = f"_{output_col}"
        stages += [
            DocumentAssembler().setInputCol(input_col).setOutputCol(f"{prefix}_document"),
            Tokenizer()
            .setInputCols([f"{prefix}_document"])
            .setOutputCol(f"{prefix}_token")
            .setTargetPattern(TOKEN_CHARACTERS)
            .setPrefixPattern(LEADING)
            .setInfixPatterns([TOKEN])
            .setSuffixPattern(TRAILING)
            .setSplitPattern(INNER_BREAK),
            Normalizer()
            .setInputCols([f"{prefix}_token"])
            .setOutputCol(f"{prefix}_normal")
            .setLowercase(True)
            .setCleanupPatterns([]),  # its default keeps letters only: c# would be c, x86-64 x
        ]
        last = f"{prefix}_normal"
        if stop_words:
            stages.append(
                StopWordsCleaner()
                .setInputCols([last])
                .setOutputCol(f"{prefix}_clean")
                .setStopWords(stop_words)
                .setCaseSensitive(False)
            )
            last = f"{prefix}_clean"
        finished.append((last, output_col))
    stages.append(
        Finisher()
        .setInputCols([column for column, _ in finished])
        .setOutputCols([column for _, column in finished])
        .setIncludeMetadata(False)
        .setCleanAnnotations(True)
    )
    schema = ", ".join(f"`{input_col}` string" for input_col in dict.fromkeys(col for col, _, _ in columns))
    return Pipeline(stages=stages).fit(spark.createDataFrame([], schema)).stages
