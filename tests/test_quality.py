"""The seed's approach and the linear baseline as scripts/quality.sh runs them: their text and their predictions,
row for row; the tables it prints."""

import re

import numpy as np
import pandas as pd
import pytest

from benchmarks.baseline import C_GRID, TECH_TOKENS, baseline_predictions, baseline_text, decide
from benchmarks.levers import bootstrap_interval, parse_variant
from benchmarks.quality import Approach, band_figures, group_table, joined_source, margin_table
from benchmarks.seed import seed_predictions, seed_text


def test_seed_text_is_lowercased_title_and_body_text():
    assert seed_text("Java NPE", "<p>My <code>foo()</code> fails &amp; dies</p>") == "java npe My  foo()  fails & dies"
    assert seed_text("Empty", None) == "empty "


def test_seed_predictions_keep_each_test_rows_truth_beside_its_prediction():
    train = pd.DataFrame(
        {"text": ["java spring bean"] * 6 + ["python pandas frame"] * 6, "tags": [["java"]] * 6 + [["python"]] * 6}
    )
    # a filtered frame keeps its old index: the output must follow row order, not index labels
    test = pd.DataFrame({"text": ["pandas frame", "spring bean"], "tags": [["python"], ["java"]]}, index=[7, 3])
    rows, fit_seconds = seed_predictions(train, test, ["java", "python"])
    assert rows["truth"].tolist() == [["python"], ["java"]]
    assert [ranked[0] for ranked in rows["ranked"]] == ["python", "java"]
    assert fit_seconds >= 0


def test_several_sources_are_joined_into_one_folder_with_one_header_per_file(tmp_path):
    for name, ids in (("a", [1, 2]), ("b", [3])):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "Questions.csv").write_text("Id,Title\n" + "".join(f'{i},"t\n{i}"\n' for i in ids))
        (folder / "Tags.csv").write_text("Id,Tag\n" + "".join(f"{i},java\n" for i in ids))
        (folder / "Answers.csv").write_text("Id,ParentId\n")
    joined = joined_source([tmp_path / "a", tmp_path / "b"], tmp_path / "joined")
    assert (joined / "Questions.csv").read_text() == 'Id,Title\n1,"t\n1"\n2,"t\n2"\n3,"t\n3"\n'
    assert (joined / "Tags.csv").read_text() == "Id,Tag\n1,java\n2,java\n3,java\n"
    assert (joined / "Answers.csv").read_text() == "Id,ParentId\n"


def test_joined_sources_keep_a_last_row_without_newline_and_refuse_other_headers(tmp_path):
    for name, questions in (("a", "Id,Title\n1,x"), ("b", "Id,Title\n2,y\n"), ("c", "Id,Body\n3,z\n")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "Questions.csv").write_text(questions)
        (folder / "Tags.csv").write_text("Id,Tag\n")
        (folder / "Answers.csv").write_text("Id,ParentId\n")
    joined = joined_source([tmp_path / "a", tmp_path / "b"], tmp_path / "joined")
    assert (joined / "Questions.csv").read_text() == "Id,Title\n1,x\n2,y\n"
    with pytest.raises(ValueError, match="header b'Id,Body' differs"):
        joined_source([tmp_path / "a", tmp_path / "c"], tmp_path / "mixed")
    (tmp_path / "a" / "Tags.csv").write_text("Id,Tag")  # a header alone, without its newline
    (tmp_path / "b" / "Tags.csv").write_text("Id,Tag\n2,sql\n")
    assert (
        joined_source([tmp_path / "a", tmp_path / "b"], tmp_path / "header") / "Tags.csv"
    ).read_text() == "Id,Tag\n2,sql\n"


def test_groups_of_tags_get_their_own_micro_and_macro_f1():
    per_tag = [
        {"recall": 1.0, "support": 4, "predicted": 4, "f1": 1.0},  # group 1: all right
        {"recall": 0.5, "support": 2, "predicted": 2, "f1": 0.5},
        {"recall": 0.0, "support": 3, "predicted": 1, "f1": 0.0},
    ]  # group 2: nothing right
    assert band_figures(per_tag[:2]) == (2 * 5 / 12, 0.75)
    rows = group_table([Approach("ours", {}, per_tag, 10, 1.0)], group_size=2).splitlines()
    assert rows[0] == "| approach | tags 1-2: micro-F1 | macro-F1 | tags 3-3: micro-F1 | macro-F1 |"
    assert rows[2] == "| ours | 0.833 | 0.750 | 0.000 | 0.000 |"


def test_baseline_text_repeats_the_title_and_keeps_prose_before_code_once():
    body = "<p>Why does <code>x++</code> fail?</p><pre><code>int x = 0;\nx++;</code></pre>"
    assert baseline_text("C# Loop", body) == "c# loop c# loop c# loop why does   fail? x++ int x = 0;\nx++;"
    assert baseline_text("Empty", None) == "empty empty empty  "


def test_baseline_tokens_keep_tech_names_whole():
    tokens = re.findall(TECH_TOKENS, "c# c++ node.js asp.net-mvc python-3.x f# a, java.")
    assert tokens == ["c#", "c++", "node.js", "asp.net-mvc", "python-3.x", "f#", "a", "java"]


def test_the_baseline_decides_at_least_one_tag_and_tunes_c_on_validation():
    assert decide(np.array([[0.2, 0.4], [0.6, 0.7]])).tolist() == [[False, True], [True, True]]
    words = {"java": "spring bean jvm", "python": "pandas frame pip"}
    train = pd.DataFrame(
        {"text": [words[t] for t in ("java", "python") for _ in range(8)], "tags": [[t] for t in ("java",) * 8]
         + [[t] for t in ("python",) * 8]}
    )  # fmt: skip
    test = pd.DataFrame({"text": ["pandas pip", "jvm bean"], "tags": [["python"], ["java"]]}, index=[5, 2])
    rows, chosen_c, fit_seconds = baseline_predictions(train, test, test, ["java", "python"])
    assert rows["predicted"].tolist() == [["python"], ["java"]] and rows["truth"].tolist() == [["python"], ["java"]]
    assert chosen_c in C_GRID and fit_seconds >= 0


def test_the_margin_table_says_how_far_ahead_stacktags_is():
    ours = Approach("ours", {"micro_f1": 0.75, "macro_f1": 0.6, "p_at_1": 0.84}, [], 1, 1.0)
    baseline = Approach("baseline", {"micro_f1": 0.72, "macro_f1": 0.61, "p_at_1": 0.84}, [], 1, 1.0)
    assert margin_table(ours, baseline).splitlines()[2] == "| ours | +0.030 | -0.010 | +0.000 |"


def test_the_levers_bootstrap_interval_holds_zero_for_noise_and_not_for_a_real_gain():
    rng = np.random.default_rng(1)
    true = rng.integers(1, 4, size=2000)
    said = np.maximum(true + rng.integers(-1, 2, size=2000), 1)
    base = np.stack([rng.binomial(np.minimum(true, said), 0.6), true, said], axis=1)
    assert bootstrap_interval(base, base) == (0.0, 0.0)
    reshuffled = base.copy()  # the same number of tags found, on other questions: no gain, some noise
    reshuffled[:, 0] = rng.permutation(base[:, 0])
    low, high = bootstrap_interval(base, reshuffled)
    assert low < 0 < high
    better = base.copy()  # one more true tag found on a tenth of the questions that had one to find
    room = np.flatnonzero(base[:, 0] < np.minimum(true, said))
    better[room[: len(room) // 10], 0] += 1
    low, high = bootstrap_interval(base, better)
    assert 0 < low < high


def test_a_lever_is_a_name_and_its_settings():
    assert parse_variant("today:") == ("today", [])
    assert parse_variant("2^20:train.num_features=1048576;train.min_doc_freq=1") == (
        "2^20",
        ["train.num_features=1048576", "train.min_doc_freq=1"],
    )
    with pytest.raises(SystemExit, match="NAME:SETTINGS"):
        parse_variant("train.reg_param=1e-6")
