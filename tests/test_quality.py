"""The seed's approach as scripts/quality.sh runs it: its text and its predictions, row for row."""

import pandas as pd

from stacktags.seed import seed_predictions, seed_text


def test_seed_text_is_lowercased_title_and_body_text():
    assert seed_text("Java NPE", "<p>My <code>foo()</code> fails &amp; dies</p>") == "java npe My  foo()  fails & dies"
    assert seed_text("Empty", None) == "empty "


def test_seed_predictions_keep_each_test_rows_truth_beside_its_prediction():
    train = pd.DataFrame({"text": ["java spring bean"] * 6 + ["python pandas frame"] * 6,
                          "tags": [["java"]] * 6 + [["python"]] * 6})
    # a filtered frame keeps its old index: the output must follow row order, not index labels
    test = pd.DataFrame({"text": ["pandas frame", "spring bean"], "tags": [["python"], ["java"]]}, index=[7, 3])
    rows, fit_seconds = seed_predictions(train, test, ["java", "python"])
    assert rows["truth"].tolist() == [["python"], ["java"]]
    assert [ranked[0] for ranked in rows["ranked"]] == ["python", "java"]
    assert fit_seconds >= 0
