"""Batch scoring's own transforms (the job end to end is in test_model_pipeline.py)."""

from chispa import assert_df_equality

from stacktags.score import one_row_per_id


def test_a_repeated_id_is_scored_once(spark):
    questions = spark.createDataFrame(
        [(1, "a", "x"), (2, "b", "y"), (1, "a", "x")], "Id long, Title string, Body string"
    )
    assert_df_equality(
        one_row_per_id(questions),
        spark.createDataFrame([(1, "a", "x"), (2, "b", "y")], "Id long, Title string, Body string"),
        ignore_row_order=True,
    )


def test_questions_without_repeats_pass_through_unshuffled(spark):
    questions = spark.createDataFrame([(1, "a", "x"), (2, "b", "y")], "Id long, Title string, Body string")
    assert one_row_per_id(questions) is questions  # no dropDuplicates: its shuffle would move every body
