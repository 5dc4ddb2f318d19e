"""Make a StackSample-shaped corpus of N questions from real rows, for timing at full scale.

    python -m benchmarks.corpus --source ../shared/data/so-dev --source ../shared/data/se-dev \\
        --questions 1264216 --out var/corpus/1264216 --seed 1

Questions are drawn at random (with replacement) from the sources' real questions. Each is given a new Id, a
creation date within StackSample's years (2008-2016), and light text variation built from the row's own words, so
that no two rows are byte-identical but every row keeps its tag signal. Its tags and answers come with it. The output
is the Kaggle schema and dialect and is the same for the same sources and seed. A user's real StackSample folder
works as a source too.

Timing only: the rows are resampled, so near-copies of one question can land in both train and test. Never measure
model quality on a generated corpus.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

csv.field_size_limit(sys.maxsize)

QUESTION_HEADER = ["Id", "OwnerUserId", "CreationDate", "ClosedDate", "Score", "Title", "Body"]
TAG_HEADER = ["Id", "Tag"]
ANSWER_HEADER = ["Id", "OwnerUserId", "CreationDate", "ParentId", "Score", "Body"]
FIRST_DATE = datetime(2008, 8, 1, tzinfo=UTC)
SPAN_SECONDS = int((datetime(2016, 10, 19, tzinfo=UTC) - FIRST_DATE).total_seconds())
WORD = re.compile(r"[A-Za-z][A-Za-z0-9#+.\-]{2,}")


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        return list(reader)


class Source:
    """The real rows to draw from: questions, their tags and their answers, from one or more StackSample folders."""

    def __init__(self, folders: list[Path]):
        self.questions: list[list[str]] = []
        self.tags: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.answers: dict[tuple[str, str], list[list[str]]] = defaultdict(list)
        for index, folder in enumerate(folders):
            number = str(index)  # tells apart equal Ids from different sources
            self.questions += [[number, *row] for row in read_rows(folder / "Questions.csv")]
            for question_id, tag in read_rows(folder / "Tags.csv"):
                self.tags[(number, question_id)].append(tag)
            if (folder / "Answers.csv").is_file():
                for row in read_rows(folder / "Answers.csv"):
                    self.answers[(number, row[3])].append(row)


def stamp(seconds: int) -> str:
    return (FIRST_DATE + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def vary(title: str, body: str, rng: random.Random) -> tuple[str, str]:
    """Light variation from the row's own words: a reworded title now and then, and one extra short paragraph."""
    words = WORD.findall(title) + WORD.findall(body[:2000])
    if words and rng.random() < 0.3:
        title = f"{title.rstrip('?')} with {rng.choice(words)}?"
    if words:
        body = f"{body}\n<p>{' '.join(rng.choices(words, k=rng.randint(3, 12)))}</p>\n"
    return title, body


def generate(source: Source, questions: int, out: Path, seed: int, first_id: int = 1) -> dict[str, int]:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    counts = {"questions": 0, "tags": 0, "answers": 0}
    answer_id = first_id + questions  # answers are numbered after the questions, as on Stack Overflow
    with (
        (out / "Questions.csv").open("w", newline="", encoding="utf-8") as q_file,
        (out / "Tags.csv").open("w", newline="", encoding="utf-8") as t_file,
        (out / "Answers.csv").open("w", newline="", encoding="utf-8") as a_file,
    ):
        q_out, t_out, a_out = (csv.writer(f, lineterminator="\n") for f in (q_file, t_file, a_file))
        q_out.writerow(QUESTION_HEADER)
        t_out.writerow(TAG_HEADER)
        a_out.writerow(ANSWER_HEADER)
        for offset in range(questions):
            number, old_id, owner, _, closed, score, title, body = rng.choice(source.questions)
            new_id = first_id + offset
            created = rng.randrange(SPAN_SECONDS)
            title, body = vary(title, body, rng)
            closed = "NA" if closed == "NA" else stamp(min(created + rng.randrange(86400 * 30), SPAN_SECONDS))
            score = score if score != "NA" else str(rng.randint(-2, 20))
            q_out.writerow([new_id, owner, stamp(created), closed, score, title, body])
            tags = source.tags[(number, old_id)]
            t_out.writerows([new_id, tag] for tag in tags)
            for answer in source.answers[(number, old_id)]:
                a_score = answer[4] if answer[4] != "NA" else "0"
                a_out.writerow(
                    [
                        answer_id,
                        answer[1],
                        stamp(min(created + rng.randrange(86400 * 90), SPAN_SECONDS)),
                        new_id,
                        a_score,
                        answer[5],
                    ]
                )
                answer_id += 1
                counts["answers"] += 1
            counts["questions"] += 1
            counts["tags"] += len(tags)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/make-corpus", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--source",
        type=Path,
        action="append",
        required=True,
        help="a StackSample-format folder to draw real rows from (repeatable)",
    )
    parser.add_argument("--questions", type=int, required=True, help="how many questions (StackSample: 1264216)")
    parser.add_argument("--out", type=Path, required=True, help="folder for Questions.csv, Tags.csv, Answers.csv")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    counts = generate(Source(args.source), args.questions, args.out, args.seed)
    print(f"{args.out}: {counts['questions']} questions, {counts['tags']} tag rows, {counts['answers']} answers")


if __name__ == "__main__":
    main()
