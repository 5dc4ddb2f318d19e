"""The seed's approach, the baseline stacktags is measured against: scikit-learn on one machine.

TfidfVectorizer(max_features=5000, stop_words='english') over the lowercased title plus the BeautifulSoup text of
the body, OneVsRestClassifier(LogisticRegression(solver='liblinear')), threshold 0.5. scripts/quality.sh scores it
on our split; scripts/bench.sh times it end to end on a corpus:

    python -m benchmarks.seed var/corpus/1264216
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bs4 import BeautifulSoup
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer

SEED_THRESHOLD = 0.5
RANKED = 5


def seed_text(title: str, body_html: str) -> str:
    """The seed's input: the lowercased title and the text of the HTML body."""
    return f"{title.lower()} {BeautifulSoup(body_html or '', 'html.parser').get_text(' ')}"


def seed_predictions(train: pd.DataFrame, test: pd.DataFrame, tags: list[str]) -> tuple[pd.DataFrame, float]:
    """Fit the seed's approach on train (text, tags) and predict test: (truth, predicted, ranked) rows, fit seconds."""
    started = time.monotonic()
    vectorizer = TfidfVectorizer(max_features=5000, stop_words="english")
    binarizer = MultiLabelBinarizer(classes=tags)
    classifier = OneVsRestClassifier(LogisticRegression(solver="liblinear"))
    classifier.fit(vectorizer.fit_transform(train["text"]), binarizer.fit_transform(train["tags"]))
    fit_seconds = time.monotonic() - started
    probabilities = classifier.predict_proba(vectorizer.transform(test["text"]))
    return prediction_rows(test, binarizer.classes_, probabilities, probabilities >= SEED_THRESHOLD), fit_seconds


def prediction_rows(test: pd.DataFrame, tags, probabilities: np.ndarray, chosen: np.ndarray) -> pd.DataFrame:
    """(truth, predicted, ranked) per test row, in row order: its tags, the tags `chosen` (a 0/1 matrix over `tags`)
    and the RANKED most probable tags."""
    names = np.array(tags)
    order = np.argsort(-probabilities, axis=1)[:, :RANKED]
    return pd.DataFrame(
        {
            "truth": test["tags"].map(list).tolist(),
            "predicted": [list(names[row]) for row in chosen],
            "ranked": [list(names[o]) for o in order],
        }
    )


def seed_end_to_end(corpus: Path, num_tags: int = 100, test_fraction: float = 0.2) -> tuple[int, float]:
    """The whole approach on a StackSample folder, as the seed ran it: pandas reads Questions.csv and Tags.csv, the
    text is prepared as in seed_text, a random 80/20 split of the questions with one of the top num_tags tags, fit,
    predict the test rows. Returns the number of questions read and the seconds taken."""
    started = time.monotonic()
    questions = pd.read_csv(
        corpus / "Questions.csv", usecols=["Id", "Title", "Body"], dtype={"Id": "int64"}, keep_default_na=False
    )
    tags = pd.read_csv(corpus / "Tags.csv", dtype={"Id": "int64", "Tag": str}, keep_default_na=False)
    top = tags["Tag"].value_counts().index[:num_tags].tolist()
    per_question = tags[tags["Tag"].isin(top)].groupby("Id")["Tag"].apply(list).rename("tags")
    rows = questions.merge(per_question, left_on="Id", right_index=True)
    rows["text"] = [seed_text(title, body) for title, body in zip(rows["Title"], rows["Body"])]
    test = rows.sample(frac=test_fraction, random_state=0)
    seed_predictions(rows.drop(test.index), test, top)
    return len(questions), time.monotonic() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.seed", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", type=Path, help="a StackSample-format folder")
    args = parser.parse_args(argv)
    questions, seconds = seed_end_to_end(args.corpus)
    print(f"seed's approach: {questions} questions in {seconds:.0f} s")


if __name__ == "__main__":
    main()
