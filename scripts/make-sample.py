#!/usr/bin/env python3
"""Make data/sample/: a few MB of real StackSample-format rows, taken from a larger StackSample-format folder.

    scripts/make-sample.py ../shared/data/so-dev data/sample --questions 2000 --seed 7

Picks questions at random (deterministic for a seed), always including the quirks a reader must handle: the tags
`null` and `nan`, NA dates, carriage returns inside bodies. Their tags and answers follow them. Rows are copied as
they are, in the files' own CSV dialect (minimal quoting, doubled quotes). Standard library only.
"""

import argparse
import csv
import random
import sys
from pathlib import Path

csv.field_size_limit(sys.maxsize)


def read(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    q_header, questions = read(args.source / "Questions.csv")
    t_header, tags = read(args.source / "Tags.csv")
    a_header, answers = read(args.source / "Answers.csv")

    quirky_tags = {row[0] for row in tags if row[1] in ("null", "nan")}
    must = [q for q in questions if q[0] in quirky_tags]
    must += [q for q in questions if q[2] == "NA"][:20]
    must += [q for q in questions if "\r" in q[6]][:10]
    chosen_ids = {q[0] for q in must}
    rest = [q for q in questions if q[0] not in chosen_ids]
    chosen_ids |= {q[0] for q in random.Random(args.seed).sample(rest, args.questions - len(chosen_ids))}

    args.dest.mkdir(parents=True, exist_ok=True)
    write(args.dest / "Questions.csv", q_header, [q for q in questions if q[0] in chosen_ids])
    write(args.dest / "Tags.csv", t_header, [t for t in tags if t[0] in chosen_ids])
    write(args.dest / "Answers.csv", a_header, [a for a in answers if a[3] in chosen_ids])


if __name__ == "__main__":
    main()
