"""Text preparation: HTML to prose and code, tech-aware tokens, and the stages' persistence."""

import json

import pytest
from chispa import assert_df_equality
from conftest import FIXTURES
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from stacktags.text import HtmlToText, TechTokenizer, english_stop_words, text_preparation

REAL = json.loads((FIXTURES / "html_bodies.json").read_text(encoding="utf-8"))["questions"]


def html_to_text(spark, body):
    row = HtmlToText().transform(spark.createDataFrame([(body,)], "Body string")).first()
    return row["body_text"], row["code"]


def tokens(spark, text, stop_words=True):
    tokenizer = TechTokenizer(inputCol="t", outputCol="tokens", stopWords=english_stop_words() if stop_words else [])
    return tokenizer.transform(spark.createDataFrame([(text,)], "t string")).first()["tokens"]


def test_tech_tokens_survive_whole(spark):
    text = "C# and C++ on .NET with node.js, asp.net-mvc, objective-c, x86-64, python-3.x and F#. I use java."
    assert tokens(spark, text) == [
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
def test_tokenizer_cases(spark, text, expected):
    assert tokens(spark, text) == expected


def test_code_keeps_its_stop_words(spark):
    assert tokens(spark, "for i in range(10): if x", stop_words=False) == ["for", "i", "in", "range", "10", "if", "x"]


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
    out = text_preparation().transform(df).collect()
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


def test_text_preparation_saves_and_loads_as_a_pipeline_model(spark, tmp_path):
    df = spark.createDataFrame([(q["Title"], q["Body"]) for q in REAL.values()], "Title string, Body string")
    stages = text_preparation()
    stages.write().save(str(tmp_path / "prep"))
    loaded = PipelineModel.load(str(tmp_path / "prep"))
    assert [type(s).__name__ for s in loaded.stages] == [
        "HtmlToText",
        "TechTokenizer",
        "TechTokenizer",
        "TechTokenizer",
    ]
    assert loaded.stages[1].getOrDefault("stopWords") == english_stop_words()
    assert_df_equality(loaded.transform(df), stages.transform(df))


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
