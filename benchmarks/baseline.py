"""A strong linear baseline, the bar stacktags' quality is held to (scripts/quality.sh's third column): scikit-learn
on one machine, as a careful practitioner would build it for this task.

- Text: the title three times (a title's words are the strongest evidence), then the prose and the code of the HTML
  body, lowercased.
- Features: TfidfVectorizer over word 1- and 2-grams, sublinear term frequency, terms in at least 2 questions, with a
  token pattern that keeps `c#`, `c++`, `node.js`, `asp.net-mvc` and `python-3.x` whole.
- Classifier: one logistic regression per tag (OneVsRestClassifier, liblinear), its C chosen from C_GRID by micro-F1
  on the validation split.
- Decision: each tag whose probability reaches 0.5, and the most probable tag when none does (at least one tag).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from bs4 import BeautifulSoup
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer

from benchmarks.seed import prediction_rows

C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
THRESHOLD = 0.5
TITLE_REPEATS = 3
# a word character, then word characters, dots, hashes, pluses or hyphens, ending on a word character, # or +
TECH_TOKENS = r"(?u)\b\w[\w.#+-]*[\w#+]|\b\w"
CODE_ELEMENTS = ("pre", "code")


def baseline_text(title: str, body_html: str | None) -> str:
    """The title three times, the body's prose, then its code (the text of its <pre> and <code> elements)."""
    soup = BeautifulSoup(body_html or "", "html.parser")
    # the outermost code elements (a <code> inside a <pre> is the same code)
    blocks = [e for e in soup.find_all(CODE_ELEMENTS) if e.find_parent(CODE_ELEMENTS) is None]
    code = " ".join(block.get_text(" ") for block in blocks)
    for block in blocks:
        block.decompose()
    prose = soup.get_text(" ")
    return " ".join([*[title or ""] * TITLE_REPEATS, prose, code]).lower()


def decide(probabilities: np.ndarray) -> np.ndarray:
    """Tags at or above THRESHOLD, and each row's most probable tag: a 0/1 matrix of the same shape."""
    chosen = probabilities >= THRESHOLD
    chosen[np.arange(len(probabilities)), probabilities.argmax(axis=1)] = True
    return chosen


def baseline_predictions(
    train: pd.DataFrame, validation: pd.DataFrame, test: pd.DataFrame, tags: list[str]
) -> tuple[pd.DataFrame, float, float]:
    """Fit on train (text, tags), choose C on validation, predict test: (truth, predicted, ranked) rows, the chosen
    C, and the seconds of the fits and the choice."""
    started = time.monotonic()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, token_pattern=TECH_TOKENS)
    binarizer = MultiLabelBinarizer(classes=tags)
    features = vectorizer.fit_transform(train["text"])
    labels = binarizer.fit_transform(train["tags"])
    checked = vectorizer.transform(validation["text"])
    truth = binarizer.transform(validation["tags"])
    best = None
    for c in C_GRID:
        classifier = OneVsRestClassifier(LogisticRegression(solver="liblinear", C=c)).fit(features, labels)
        score = f1_score(truth, decide(classifier.predict_proba(checked)), average="micro", zero_division=0)
        if best is None or score > best[0]:
            best = (score, c, classifier)
    _, chosen_c, classifier = best
    fit_seconds = time.monotonic() - started
    probabilities = classifier.predict_proba(vectorizer.transform(test["text"]))
    rows = prediction_rows(test, binarizer.classes_, probabilities, decide(probabilities))
    return rows, chosen_c, fit_seconds
