"""Feature stages: QuestionHashingTF's weighting, bigrams and distinct terms, checked against MLlib's HashingTF."""

import csv
import itertools

import pytest
from chispa import assert_df_equality
from conftest import SAMPLE
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import HashingTF

from stacktags.features import QuestionHashingTF, feature_stages
from stacktags.text import text_preparation

SCHEMA = "title_tokens array<string>, body_tokens array<string>, code_tokens array<string>"
WIDTH = 1 << 10


def counts(spark, rows, **params) -> list[dict[int, float]]:
    frame = spark.createDataFrame(rows, SCHEMA)
    vectors = QuestionHashingTF(numFeatures=WIDTH, **params).transform(frame).collect()
    return [dict(zip(r["tf"].indices.tolist(), r["tf"].values.tolist())) for r in vectors]


def bag(*terms_and_counts) -> dict[int, float]:
    """{HashingTF's bucket of each term: its count}."""
    hashing = HashingTF(numFeatures=WIDTH)
    out = {}
    for term, count in terms_and_counts:
        out[hashing.indexOf(term)] = out.get(hashing.indexOf(term), 0.0) + count
    return out


def test_title_tokens_count_title_weight_times(spark):
    assert counts(spark, [(["java"], ["maven"], ["mvn"])], titleWeight=3) == [
        bag(("java", 3), ("maven", 1), ("mvn", 1))
    ]


def test_bigrams_stay_within_title_or_body(spark):
    out = counts(spark, [(["a", "b"], ["c", "d"], ["e"])], titleWeight=1, withBigrams=True)
    # no "b c" (title and body are not one text), no "d e" (nor are prose and code)
    assert out == [bag(*[(t, 1) for t in ("a", "b", "c", "d", "e", "a b", "c d")])]


def test_bigrams_of_short_token_arrays(spark):
    out = counts(spark, [(["one"], [], ["x"]), ([], ["a"], [])], titleWeight=1, withBigrams=True)
    assert out == [bag(("one", 1), ("x", 1)), bag(("a", 1))]


def test_distinct_terms_count_once_per_part(spark):
    out = counts(
        spark, [(["java", "java"], ["java"] * 6 + ["maven"], ["x", "maven", "x"])], titleWeight=2, distinctTerms=True
    )
    # java: once in the title (x2) and once in the body; maven and x: once in the body, prose and code together
    assert out == [bag(("java", 3), ("maven", 1), ("x", 1))]


def test_distinct_bigrams(spark):
    out = counts(spark, [(["a", "b", "a", "b"], [], [])], titleWeight=1, withBigrams=True, distinctTerms=True)
    assert out == [bag(("a", 1), ("b", 1), ("a b", 1), ("b a", 1))]


def test_empty_and_null_token_arrays_and_null_tokens(spark):
    out = counts(spark, [([], [], []), (None, None, None), (["a", None], None, [None, "b"])], titleWeight=2)
    assert out == [{}, {}, bag(("a", 2), ("b", 1))]


def test_a_title_weight_of_zero_leaves_the_title_out(spark):
    assert counts(spark, [(["a"], ["b"], [])], titleWeight=0, withBigrams=True) == [bag(("b", 1))]


def reference_terms(
    title: list[str], body: list[str], code: list[str], title_weight: int, with_bigrams: bool, distinct: bool
) -> list[str]:
    """The bag of terms QuestionHashingTF hashes, built in plain Python (in order of first appearance, as Spark's
    array_distinct keeps it)."""
    once = (lambda terms: list(dict.fromkeys(terms))) if distinct else list

    def pairs(tokens):
        return [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]

    terms = once(title) * title_weight + once(body + code)
    if with_bigrams:
        terms += once(pairs(title)) + once(pairs(body))
    return terms


@pytest.fixture(scope="module")
def sample_tokens(spark):
    """The tokens of the project's sample questions (real ones), as text preparation makes them."""
    with (SAMPLE / "Questions.csv").open(newline="", encoding="utf-8") as handle:
        questions = [(int(r["Id"]), r["Title"], r["Body"]) for r in csv.DictReader(handle)]
    frame = spark.createDataFrame(questions, "Id long, Title string, Body string")
    return text_preparation(spark).transform(frame).select("Id", "title_tokens", "body_tokens", "code_tokens").cache()


@pytest.mark.parametrize("with_bigrams, distinct", list(itertools.product([False, True], repeat=2)))
def test_the_counts_are_hashingtfs_of_the_terms_on_real_questions(spark, sample_tokens, with_bigrams, distinct):
    rows = sample_tokens.collect()
    assert len(rows) > 1000
    terms = spark.createDataFrame(
        [
            (r["Id"], reference_terms(r["title_tokens"], r["body_tokens"], r["code_tokens"], 2, with_bigrams, distinct))
            for r in rows
        ],
        "Id long, terms array<string>",
    )
    expected = HashingTF(inputCol="terms", outputCol="tf", numFeatures=1 << 18).transform(terms).select("Id", "tf")
    actual = (
        QuestionHashingTF(numFeatures=1 << 18, titleWeight=2, withBigrams=with_bigrams, distinctTerms=distinct)
        .transform(sample_tokens)
        .select("Id", "tf")
    )
    assert_df_equality(actual, expected, ignore_row_order=True)


def test_feature_stages_persist_with_their_params(spark, tmp_path):
    frame = spark.createDataFrame([(["java"], ["maven", "build"], ["mvn"]), (["python"], ["pip"], [])], SCHEMA)
    fitted = Pipeline(
        stages=feature_stages(num_features=64, title_weight=2, with_bigrams=True, distinct_terms=True, min_doc_freq=1)
    ).fit(frame)
    fitted.write().save(str(tmp_path / "features"))
    loaded = PipelineModel.load(str(tmp_path / "features"))
    hashing_tf = loaded.stages[0]
    assert (
        hashing_tf.getNumFeatures(),
        hashing_tf.getOrDefault("titleWeight"),
        hashing_tf.getOrDefault("withBigrams"),
        hashing_tf.getOrDefault("distinctTerms"),
    ) == (64, 2, True, True)
    assert_df_equality(loaded.transform(frame), fitted.transform(frame))
    assert loaded.transform(frame).first()["features"].norm(2) == pytest.approx(1.0)
