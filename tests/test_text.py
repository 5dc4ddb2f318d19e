"""Text preparation: HTML to prose and code, tech-aware tokens, and the stages' persistence."""

import json
import subprocess
import sys

import pytest
from chispa import assert_df_equality
from conftest import FIXTURES, LINE, ROOT, SPARK_NLP, job_arguments, test_config
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from stacktags.persistence import load_stage
from stacktags.text import HtmlToText, TechTokenizer, english_stop_words, text_preparation

ENGINES = [
    "native",
    pytest.param(
        "spark-nlp", marks=pytest.mark.skipif(not SPARK_NLP, reason=f"no Spark NLP jar for Spark {LINE} here")
    ),
]

REAL = json.loads((FIXTURES / "html_bodies.json").read_text(encoding="utf-8"))["questions"]


def html_to_text(spark, body):
    row = HtmlToText().transform(spark.createDataFrame([(body,)], "Body string")).first()
    return row["body_text"], row["code"]


def prepared(spark, engine, title, body=None):
    """title_tokens, body_tokens and code_tokens of one question by text_preparation with `engine`."""
    frame = spark.createDataFrame([(title, body)], "Title string, Body string")
    row = text_preparation(spark, engine).transform(frame).first()
    return row["title_tokens"], row["body_tokens"], row["code_tokens"]


@pytest.mark.parametrize("engine", ENGINES)
def test_tech_tokens_survive_whole(spark, engine):
    text = "C# and C++ on .NET with node.js, asp.net-mvc, objective-c, x86-64, python-3.x and F#. I use java."
    assert prepared(spark, engine, text)[0] == [
        "c#",
        "c++",
        ".net",
        "node.js",
        "asp.net-mvc",
        "objective-c",
        "x86-64",
        "python-3.x",
        "f#",
        "use",
        "java",
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Why does java. fail?", ["java", "fail"]),  # trailing sentence punctuation goes
        ("(see: ruby-on-rails), [sql-server]!", ["see", "ruby-on-rails", "sql-server"]),
        ("?!...", []),  # a title that is only punctuation
        (None, []),
        ("Привет мир 你好 Ünïcode", ["привет", "мир", "你好", "ünïcode"]),  # non-Latin scripts are kept
        ("line one\r\nline two", ["line", "one", "line", "two"]),  # CR/LF inside text
        ("this and where in c", ["this", "where", "c"]),  # stop words that are also tags stay
    ],
)
@pytest.mark.parametrize("engine", ENGINES)
def test_tokenizer_cases(spark, engine, text, expected):
    assert prepared(spark, engine, text)[0] == expected


@pytest.mark.parametrize("engine", ENGINES)
def test_code_keeps_its_stop_words(spark, engine):
    code = "<pre><code>for i in range(10): if x</code></pre>"
    assert prepared(spark, engine, None, code)[2] == ["for", "i", "in", "range", "10", "if", "x"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "body, prose_tokens, code_tokens",
    [
        ("", [], []),
        (None, [], []),
        ("<p>Hello <b>big <i>world</p> and <div>unclosed", ["hello", "big", "world", "unclosed"], []),
        ('<pre class="lang-java"><code>int main() { return x86_64; }', [], ["int", "main", "return", "x86_64"]),
        ("<p>3 < 4 is true</p><p>a lone <</p>", ["3", "4", "true", "lone"], []),
        ("<script>never closed", [], []),
        ("<p>Привет мир</p><p>你好 日本語のテキスト</p>", ["привет", "мир", "你好", "日本語のテキスト"], []),
        ("<p>?!... --- ((:))</p>", [], []),
        ("<p>Is node.js? (see: foo(bar), main()!)</p>", ["node.js", "see", "foo", "bar", "main"], []),
    ],
)
def test_bad_html_and_text_give_the_same_tokens_under_both_engines(spark, engine, body, prose_tokens, code_tokens):
    assert prepared(spark, engine, "?!...", body) == ([], prose_tokens, code_tokens)


@pytest.mark.parametrize(
    "body, prose, code",
    [
        ("", "", ""),
        (None, "", ""),
        ("<pre><code>x = 1;\nprint(x)</code></pre>", "", "x = 1;\nprint(x)"),  # only code
        ("just plain text, no HTML", "just plain text, no HTML", ""),
        ("<p>Hello <b>big <i>world</p> and <div>unclosed", "Hello big world and unclosed", ""),  # unclosed/nested tags
        ("<p>a</p><script>alert('x')</script><style>p {color: red}</style><p>b</p>", "a b", ""),
        ("<p>kept</p><!-- a comment <b>with tags</b> -->", "kept", ""),
        ("<p>Привет мир</p><p>你好</p>", "Привет мир 你好", ""),
        ("<p>one\r\ntwo</p>\r\n<p>three</p>", "one two three", ""),
        (
            "<p>if a &lt; b &amp;&amp; c &gt; d, &quot;x&quot; isn&#39;t&nbsp;y &#x263A;</p>",
            'if a < b && c > d, "x" isn\'t y \u263a',
            "",
        ),
        ("<p>Use <code>List&lt;T&gt;</code> here</p>", "Use here", "List<T>"),
        ('<p>see <a href="http://x.org">the docs</a> <img src="a.png" alt="pic"></p>', "see the docs", ""),
        ('<pre class="lang-java"><code>int x;', "", "int x;"),  # unclosed block
        ("<p>3 < 4 is true</p>", "3 < 4 is true", ""),  # a lone < is text
        ("<script>never closed", "", ""),
        (
            "<p>Call <code>f()</code>:</p><pre><code>f(1)</code></pre><p>or <code>g()</code></p>",  # in document order
            "Call : or",
            "f()\n f(1) \ng()",
        ),
        ("<pre>a <code>b</code> c</pre><!-- <code>not code</code> -->", "", "a  b  c"),  # nested code goes with its pre
        ("<PRE><Code>Upper</CODE></pre>", "", "Upper"),  # tag names in any case
    ],
)
def test_html_cases(spark, body, prose, code):
    assert html_to_text(spark, body) == (prose, code)


def test_real_bodies(spark):
    prose, code = html_to_text(spark, REAL["pre_lang"]["Body"])
    assert "static Stream<Optional<? extends Number>> getNumbers(Stream<Number> numbers)" in code
    assert "numbers.map(Optional::of).filter(number -> true);" in code
    assert prose.startswith("the below method compiles without problems: yet if I add")
    assert "java.util.stream.Stream<java.util.Optional<java.lang.Number>> cannot be converted to" in prose
    assert "static Stream" not in prose

    prose, code = html_to_text(spark, REAL["img"]["Body"])
    assert "see full size diagram" in prose and "lxvlR" not in prose and "<" not in prose and code == ""

    prose, code = html_to_text(spark, REAL["cr"]["Body"])
    assert "<!-- put your cursor in this field and press Enter -->" in code  # encoded comments are code text
    assert "snippet" not in prose and "\r" not in prose and "tabindex" in code and "tabindex" not in prose

    prose, _ = html_to_text(spark, REAL["h2"]["Body"])
    assert prose.startswith("Form-based authentication for websites We believe that Stack Overflow should")
    assert "cross-site request forgeries (CSRF)" in prose


def test_tokens_of_real_bodies_hold_no_html_remnants(spark):
    df = spark.createDataFrame([(q["Title"], q["Body"]) for q in REAL.values()], "Title string, Body string")
    out = text_preparation(spark).transform(df).collect()
    for row in out:
        for column in ("title_tokens", "body_tokens", "code_tokens"):
            assert not [t for t in row[column] if "<" in t or ">" in t or t in ("p", "pre", "nbsp", "lt", "gt")], (
                column,
                row[column],
            )
    assert "java.util.stream.stream" in out[[q["Id"] for q in REAL.values()].index("70433519")]["body_tokens"]


def test_a_session_without_stacktags_jar_gets_a_clear_error(spark, monkeypatch):
    from stacktags import text
    from stacktags.session import ClasspathError

    monkeypatch.setattr(text, "JVM_CLASS", "stacktags.NotThere")  # as when the jar is not on the classpath
    with pytest.raises(ClasspathError, match=r"stacktags\.jar .*scripts/setup\.sh"):
        HtmlToText().transform(spark.createDataFrame([("<p>x</p>",)], "Body string"))


@pytest.mark.parametrize(
    "engine, stages",
    [
        ("native", ["HtmlToText", "TechTokenizer", "TechTokenizer", "TechTokenizer"]),
        pytest.param(
            "spark-nlp",
            ["HtmlToText"]
            + ["DocumentAssembler", "TokenizerModel", "NormalizerModel", "StopWordsCleaner"] * 2
            + ["DocumentAssembler", "TokenizerModel", "NormalizerModel", "Finisher"],
            marks=ENGINES[1].marks,
        ),
    ],
)
def test_text_preparation_saves_and_loads_as_a_pipeline_model(spark, tmp_path, engine, stages):
    """Saved as a PipelineModel and loaded by pyspark's own reader and by stacktags' (persistence.load_stage), the
    stages give the same columns."""
    df = spark.createDataFrame([(q["Title"], q["Body"]) for q in REAL.values()], "Title string, Body string")
    preparation = text_preparation(spark, engine)
    preparation.write().save(str(tmp_path / "prep"))
    expected = preparation.transform(df)
    for loaded in (PipelineModel.load(str(tmp_path / "prep")), load_stage(spark, str(tmp_path / "prep"))):
        assert [type(s).__name__ for s in loaded.stages] == stages
        assert_df_equality(loaded.transform(df), expected)
    assert expected.columns == ["Title", "Body", "body_text", "code", "title_tokens", "body_tokens", "code_tokens"]


@pytest.mark.skipif(not SPARK_NLP, reason=f"no Spark NLP jar for Spark {LINE} here")
def test_both_engines_cut_real_questions_alike(spark):
    """The Spark NLP tokenizer is set to cut tokens as the native scanner does: on real questions, the same tokens
    (but for the rare runs of joiners that text_sparknlp's docstring names)."""
    df = spark.createDataFrame([(q["Title"], q["Body"]) for q in REAL.values()], "Title string, Body string")
    columns = ["title_tokens", "body_tokens", "code_tokens"]
    native = text_preparation(spark, "native").transform(df).select(*columns).collect()
    nlp = text_preparation(spark, "spark-nlp").transform(df).select(*columns).collect()
    same = sum(a[column] == b[column] for a, b in zip(native, nlp, strict=True) for column in columns)
    assert same == len(columns) * len(native)


# The regular expressions the Java scanners stand for (lib/stacktags/jvm/TextPreparation.java documents them), run
# by Spark's own regexp functions: the reference the scanners must agree with on any input.
_SKIPPED = r"script\b.*?(?:</script\s*>|$)|style\b.*?(?:</style\s*>|$)|!--.*?(?:-->|$)"
_CODE_BLOCK = r"(pre|code)\b[^>]*>(.*?)(?:</\1\s*>|$)"
_TAG = r"/?[a-zA-Z][^>]*(?:>|$)|![^>]*(?:>|$)"
_TOKEN = r"\.?[\p{L}\p{N}][\p{L}\p{N}+#]*(?:[.\-_'][\p{L}\p{N}+#]+)*"


def _decoded(text):
    unescaped = F.reflect(F.lit("org.apache.commons.text.StringEscapeUtils"), F.lit("unescapeHtml4"), text)
    return F.when(F.instr(text, "&") > 0, unescaped).otherwise(text)


def _regex_reference(df, stop_words):
    body = F.coalesce(F.col("Body"), F.lit(""))
    prose = F.regexp_replace(body, rf"(?is)<(?:{_SKIPPED}|{_CODE_BLOCK}|{_TAG})", " ")
    prose = F.trim(F.regexp_replace(_decoded(prose), r"[\s\u00a0]+", " "))
    blocks = F.regexp_extract_all(body, F.lit(rf"(?is)<(?:{_SKIPPED}|{_CODE_BLOCK})"), 2)
    code = F.array_join(F.filter(blocks, lambda block: block != ""), "\n")
    code = F.trim(_decoded(F.regexp_replace(code, rf"(?is)<(?:{_TAG})", " ")))

    def tokens(text, stop):
        # Java's String.toLowerCase, as the scanner lowercases: unlike Spark's lower() it knows the final sigma
        lowered = F.reflect(
            F.lit("org.apache.commons.lang3.StringUtils"), F.lit("lowerCase"), F.coalesce(text, F.lit(""))
        )
        found = F.regexp_extract_all(lowered, F.lit(_TOKEN), 0)
        return F.filter(found, lambda token: ~token.isin(stop)) if stop else found

    return df.select(
        "id",
        prose.alias("body_text"),
        code.alias("code"),
        tokens(F.col("Body"), stop_words).alias("body_tokens"),
        tokens(F.col("Body"), []).alias("code_tokens"),
    )


_PIECES = [
    "<pre>",
    "<pre class='lang-js'>",
    "</pre>",
    "</PRE >",
    "<code>",
    "</code>",
    "<Code",
    "</code\n>",
    "<script>",
    "</script>",
    "<style type=a>",
    "</style>",
    "<!--",
    "-->",
    "<!DOCTYPE html>",
    "<p>",
    "</p>",
    "<b>",
    "<br/>",
    "<img src=x alt='pic'>",
    '<a href="<code>">',
    "<",
    ">",
    "</",
    "</ >",
    "<prefix>",
    "<pre\u0301>",
    "<pre_x>",
    "<scripts>",
    "&amp;",
    "&lt;",
    "&#39;",
    "&#x263A;",
    "&nbsp;",
    "&bogus;",
    "&",
    " ",
    "  ",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "\u00a0",
    "\u2028",
    "\u0085",
    "c++",
    "c#",
    ".net",
    "node.js",
    "x86-64",
    "don't",
    "a--b",
    "...",
    "-",
    "_",
    "'",
    "+",
    "#",
    ".",
    "Ünïcode",
    "İstanbul",
    "ΟΔΟΣ",
    "你好",
    "\U0001d518\U0001d52b",
    "１２",
    "Ⅻ",
    "½",
    "ſcript",
    "\u212a",
    "Word",
    "The",
    "and",
    "where",
    "x = 1;",
    "f(1)",
]


def test_scanners_give_what_the_documented_regexes_give(spark):
    import random

    rng = random.Random(20261128)
    bodies = [(i, "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 14)))) for i in range(3000)]
    bodies += [(len(bodies) + i, q["Body"]) for i, q in enumerate(REAL.values())] + [(len(bodies) + 99, None)]
    df = spark.createDataFrame(bodies, "id int, Body string")
    stop_words = english_stop_words()
    prepared = HtmlToText().transform(df)
    prepared = TechTokenizer(inputCol="Body", outputCol="body_tokens", stopWords=stop_words).transform(prepared)
    prepared = TechTokenizer(inputCol="Body", outputCol="code_tokens").transform(prepared)
    expected = _regex_reference(df, stop_words)
    assert_df_equality(prepared.select(*expected.columns), expected, ignore_nullable=True, ignore_row_order=True)


@pytest.mark.skipif(SPARK_NLP, reason=f"Spark NLP's jar for Spark {LINE} resolves here")
def test_spark_nlp_where_its_jar_is_not_served_stops_the_job_at_start_in_one_line(tmp_path):
    """On the 4.1 line here: Maven Central has no spark-nlp_2.13:7.0.0. The job stops before Spark starts, with
    one line naming the artifact and the line that has Spark NLP, and writes nothing."""
    cfg = test_config(tmp_path / "warehouse", "nlp")
    record = tmp_path / "resolved.json"
    args = [*job_arguments(cfg, "text.engine=spark-nlp", f"jars.resolved={record}")]
    result = subprocess.run(
        [sys.executable, str(ROOT / "jobs" / "clean.py"), *args], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: com.johnsnowlabs.nlp:spark-nlp_2.13:7.0.0: not served by the Maven")
    assert "the Spark 3.5 line has Spark NLP 5.5.3 (com.johnsnowlabs.nlp:spark-nlp_2.12:5.5.3)" in result.stderr
    assert not record.exists() and not (tmp_path / "warehouse").exists()
