"""Broader intent structure: does an embedding still group real user intents and problem types?

Three clustering checks on labelled public sets (read from a local data folder, for example
``../shared/data``): CLINC150 test intents, BANKING77 test categories, and MATH problem `type`
on a seeded sample of 1,000 test problems. k-means with k = number of labels, as in IEB.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from instemb.bench import metrics
from instemb.errors import InstembError


def _clinc(root: Path) -> tuple[list[str], list[str]]:
    data = json.loads((root / "clinc150/data_full.json").read_text())
    return [t for t, _ in data["test"]], [y for _, y in data["test"]]


def _banking(root: Path) -> tuple[list[str], list[str]]:
    with open(root / "banking77/test.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def _math(root: Path, n: int = 1000, seed: int = 0) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in open(root / "math/test.jsonl", encoding="utf-8")]
    rows = random.Random(seed).sample(rows, n)
    return [r["problem"] for r in rows], [r["type"] for r in rows]


@dataclass(frozen=True)
class IntentTask:
    name: str
    files: tuple[str, ...]
    read: Callable[[Path], tuple[list[str], list[str]]]
    main_score: str = "ari"


INTENT_TASKS = (
    IntentTask("clinc150", ("clinc150/data_full.json",), _clinc),
    IntentTask("banking77", ("banking77/test.csv",), _banking),
    IntentTask("math_type", ("math/test.jsonl",), _math),
)


def run_intent_tasks(embedder, data_root, cache=None, seeds=(0, 1, 2, 3, 4),
                     batch_size: int = 32, tasks=INTENT_TASKS) -> dict:
    """k-means scores per task: ``{task name: {"ari", ..., "mean": {...}}}``."""
    root = Path(data_root)
    out = {}
    for task in tasks:
        missing = [f for f in task.files if not (root / f).exists()]
        if missing:
            raise InstembError(f"{root}: missing {', '.join(missing)}")
        texts, labels = task.read(root)
        if cache is not None:
            vectors, _ = cache.encode(embedder, texts, batch_size=batch_size)
        else:
            vectors = embedder.encode(texts, batch_size=batch_size)
        out[task.name] = metrics.kmeans_scores(vectors, labels, seeds)
    return out
