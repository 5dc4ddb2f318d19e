"""Text preparation: HTML to prose and code, tech-aware tokens, and the stages' persistence."""

import json

import pytest
from chispa import assert_df_equality
from pyspark.ml import PipelineModel

from conftest import FIXTURES
from stacktags.text import HtmlToText, TechTokenizer, english_stop_words, text_preparation

REAL = json.loads((FIXTURES / "html_bodies.json").read_text(encoding="utf-8"))["questions"]


def html_to_text(spark, body):
    row = HtmlToText().transform(spark.createDataFrame([(body,)], "Body string")).first()
    return row["body_text"], row["code"]


def tokens(spark, text, stop_words=True):
    tokenizer = TechTokenizer(inputCol="t", outputCol="tokens",
                              stopWords=english_stop_words() if stop_words else [])
    return tokenizer.transform(spark.createDataFrame([(text,)], "t string")).first()["tokens"]


def test_tech_tokens_survive_whole(spark):
    text = ("C# and C++ on .NET with node.js, asp.net-mvc, objective-c, x86-64, python-3.x and F#. "
            "I use java.")
    assert tokens(spark, text) == ["c#", "c++", ".net", "node.js", "asp.net-mvc", "objective-c", "x86-64",
                                   "python-3.x", "f#", "use", "java"]


@pytest.mark.parametrize("text, expected", [
    ("Why does java. fail?", ["java", "fail"]),                 # trailing sentence punctuation goes
    ("(see: ruby-on-rails), [sql-server]!", ["see", "ruby-on-rails", "sql-server"]),
    ("?!...", []),                                              # a title that is only punctuation
    (None, []),
    ("Привет мир 你好 Ünïcode", ["привет", "мир", "你好", "ünïcode"]),  # non-Latin scripts are kept
    ("line one\r\nline two", ["line", "one", "line", "two"]),   # CR/LF inside text
    ("this and where in c", ["this", "where", "c"]),           # stop words that are also tags stay
])
def test_tokenizer_cases(spark, text, expected):
    assert tokens(spark, text) == expected


def test_code_keeps_its_stop_words(spark):
    assert tokens(spark, "for i in range(10): if x", stop_words=False) == ["for", "i", "in", "range", "10", "if", "x"]


@pytest.mark.parametrize("body, prose, code", [
    ("", "", ""),
    (None, "", ""),
    ("<pre><code>x = 1;\nprint(x)</code></pre>", "", "x = 1;\nprint(x)"),              # only code
    ("just plain text, no HTML", "just plain text, no HTML", ""),
    ("<p>Hello <b>big <i>world</p> and <div>unclosed", "Hello big world and unclosed", ""),  # unclosed/nested tags
    ("<p>a</p><script>alert('x')</script><style>p {color: red}</style><p>b</p>", "a b", ""),
    ("<p>kept</p><!-- a comment <b>with tags</b> -->", "kept", ""),
    ("<p>Привет мир</p><p>你好</p>", "Привет мир 你好", ""),
    ("<p>one\r\ntwo</p>\r\n<p>three</p>", "one two three", ""),
    ("<p>if a &lt; b &amp;&amp; c &gt; d, &quot;x&quot; isn&#39;t&nbsp;y &#x263A;</p>",
     "if a < b && c > d, \"x\" isn't y \u263a", ""),
    ("<p>Use <code>List&lt;T&gt;</code> here</p>", "Use here", "List<T>"),
    ("<p>see <a href=\"http://x.org\">the docs</a> <img src=\"a.png\" alt=\"pic\"></p>", "see the docs", ""),
    ("<pre class=\"lang-java\"><code>int x;", "", "int x;"),                           # unclosed block
    ("<p>3 < 4 is true</p>", "3 < 4 is true", ""),                                      # a lone < is text
    ("<script>never closed", "", ""),
    ("<p>Call <code>f()</code>:</p><pre><code>f(1)</code></pre><p>or <code>g()</code></p>",  # in document order
     "Call : or", "f()\n f(1) \ng()"),
    ("<pre>a <code>b</code> c</pre><!-- <code>not code</code> -->", "", "a  b  c"),  # nested code goes with its pre
    ("<PRE><Code>Upper</CODE></pre>", "", "Upper"),                                    # tag names in any case
])
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
            assert not [t for t in row[column] if "<" in t or ">" in t or t in ("p", "pre", "nbsp", "lt", "gt")], \
                (column, row[column])
    assert "java.util.stream.stream" in out[[q["Id"] for q in REAL.values()].index("70433519")]["body_tokens"]


def test_text_preparation_saves_and_loads_as_a_pipeline_model(spark, tmp_path):
    df = spark.createDataFrame([(q["Title"], q["Body"]) for q in REAL.values()], "Title string, Body string")
    stages = text_preparation()
    stages.write().save(str(tmp_path / "prep"))
    loaded = PipelineModel.load(str(tmp_path / "prep"))
    assert [type(s).__name__ for s in loaded.stages] == ["HtmlToText", "TechTokenizer", "TechTokenizer", "TechTokenizer"]
    assert loaded.stages[1].getOrDefault("stopWords") == english_stop_words()
    assert_df_equality(loaded.transform(df), stages.transform(df))
