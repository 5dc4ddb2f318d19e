"""Feature stages: TermMixer's weighting, bigrams and distinct terms, and what HashingTF makes of them."""

import pytest
from chispa import assert_df_equality
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import HashingTF

from stacktags.features import TermMixer, feature_stages

SCHEMA = "title_tokens array<string>, body_tokens array<string>, code_tokens array<string>"


def terms(spark, rows, **params):
    frame = spark.createDataFrame(rows, SCHEMA)
    return [sorted(r["terms"]) if r["terms"] is not None else None
            for r in TermMixer(**params).transform(frame).collect()]


def test_title_tokens_count_title_weight_times(spark):
    assert terms(spark, [(["java"], ["maven"], ["mvn"])], titleWeight=3) == [["java"] * 3 + ["maven", "mvn"]]


def test_bigrams_stay_within_title_or_body(spark):
    out = terms(spark, [(["a", "b"], ["c", "d"], [])], titleWeight=1, withBigrams=True)
    assert out == [sorted(["a", "b", "c", "d", "a b", "c d"])]  # no "b c": the title and body are not one text


def test_bigrams_of_short_token_arrays(spark):
    out = terms(spark, [(["one"], [], ["x"]), ([], ["a"], [])], titleWeight=1, withBigrams=True)
    assert out == [["one", "x"], ["a"]]


def test_distinct_terms_count_once_per_part(spark):
    frame = spark.createDataFrame([(["java", "java"], ["java"] * 6 + ["maven"], ["x", "maven", "x"])], SCHEMA)
    mixed = TermMixer(titleWeight=2, distinctTerms=True).transform(frame)
    counts = HashingTF(inputCol="terms", outputCol="tf", numFeatures=1 << 10).transform(mixed).first()["tf"]
    hashing = HashingTF(numFeatures=1 << 10)
    # java: once in the title (x2) and once in the body; maven and x: once in the body, prose and code together
    assert {t: counts[hashing.indexOf(t)] for t in ("java", "maven", "x")} == {"java": 3, "maven": 1, "x": 1}


def test_distinct_terms_of_an_empty_question(spark):
    assert terms(spark, [([], [], []), (["a"], [], [])], titleWeight=2, distinctTerms=True) == [[], ["a", "a"]]


def test_distinct_bigrams(spark):
    out = terms(spark, [(["a", "b", "a", "b"], [], [])], titleWeight=1, withBigrams=True, distinctTerms=True)
    assert out == [sorted(["a", "b", "a b", "b a"])]


def test_feature_stages_persist_with_their_params(spark, tmp_path):
    frame = spark.createDataFrame([(["java"], ["maven", "build"], ["mvn"]), (["python"], ["pip"], [])], SCHEMA)
    fitted = Pipeline(stages=feature_stages(num_features=64, title_weight=2, with_bigrams=True, distinct_terms=True,
                                            min_doc_freq=1)).fit(frame)
    fitted.write().save(str(tmp_path / "features"))
    loaded = PipelineModel.load(str(tmp_path / "features"))
    mixer = loaded.stages[0]
    assert (mixer.getOrDefault("titleWeight"), mixer.getOrDefault("withBigrams"),
            mixer.getOrDefault("distinctTerms")) == (2, True, True)
    assert_df_equality(loaded.transform(frame), fitted.transform(frame))
    assert loaded.transform(frame).first()["features"].norm(2) == pytest.approx(1.0)
