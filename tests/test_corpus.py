"""The benchmark corpus generator (pure Python, no Spark)."""

import csv

from conftest import SAMPLE

from benchmarks.corpus import Source, generate


def rows(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_corpus_is_stacksample_shaped_and_deterministic(tmp_path):
    source = Source([SAMPLE])
    counts = generate(source, 500, tmp_path / "a", seed=3)
    generate(source, 500, tmp_path / "b", seed=3)
    generate(source, 500, tmp_path / "c", seed=4)
    for name in ("Questions.csv", "Tags.csv", "Answers.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "Questions.csv").read_bytes() != (tmp_path / "c" / "Questions.csv").read_bytes()

    questions, tags, answers = (rows(tmp_path / "a" / n) for n in ("Questions.csv", "Tags.csv", "Answers.csv"))
    assert questions[0] == ["Id", "OwnerUserId", "CreationDate", "ClosedDate", "Score", "Title", "Body"]
    assert [len(questions) - 1, len(tags) - 1, len(answers) - 1] == [
        counts[k] for k in ("questions", "tags", "answers")
    ]
    ids = [int(q[0]) for q in questions[1:]]
    assert ids == list(range(1, 501))
    assert all(q[2][:4].isdigit() and "2008" <= q[2][:4] <= "2016" for q in questions[1:])
    assert all(q[4].lstrip("-").isdigit() for q in questions[1:])  # StackSample always has a score
    assert {int(t[0]) for t in tags[1:]} == set(ids)  # every question keeps its tags
    assert {int(a[3]) for a in answers[1:]} <= set(ids)
    assert len({q[6] for q in questions[1:]}) == 500  # no two bodies byte-identical
