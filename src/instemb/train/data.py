"""Training examples: labelled instructions -> (anchor, positive, hard negative) triplets.

Positives share the anchor's task category; hard negatives share its verb or its noun but not
both (IEB's ``verb|noun``), or, for intent sets mixed in, its domain; a random other category
when no such neighbour exists. Instructions that appear in any IEB test file are dropped.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from instemb.data import ieb
from instemb.data.io import read_rows
from instemb.errors import InstembError


def normalize(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class Example:
    text: str
    task: str
    related: tuple[str, ...] = ()  # keys shared with near-miss tasks (verb, noun, domain)


def ieb_key_related(task: str) -> tuple[str, ...]:
    """``verb|noun`` (or a merged ``a|x##b|x`` key) -> the verbs and nouns it shares with others."""
    keys = []
    for part in task.split("##"):
        verb, _, noun = part.partition("|")
        keys += [f"verb:{verb}", f"noun:{noun}"]
    return tuple(dict.fromkeys(keys))


def merge_synonym_tasks(examples: list[Example]) -> tuple[list[Example], int]:
    """Merge ``verb|noun`` categories whose verbs are WordNet synonyms, as IEB's keys do
    (``compose|poem##write|poem``): such instructions become positives of each other instead
    of hard negatives. Returns the examples and the number of merged keys."""
    from instemb.bench.build import merge_synonyms

    key_of = merge_synonyms([e.task for e in examples if "|" in e.task and "##" not in e.task])
    out = [Example(e.text, key_of[e.task], ieb_key_related(key_of[e.task])) if e.task in key_of else e
           for e in examples]
    return out, sum("##" in k for k in set(key_of.values()))


def ieb_test_texts(data_dir=None) -> set[str]:
    """Every instruction of IEB's test files, normalised, to keep them out of training."""
    texts = set()
    for name in ("eft_test.json", "ift_test.json"):
        for t in ieb.read_categories(ieb.locate(name, data_dir)).texts:
            texts.add(normalize(t))
    pairs = ieb.read_pairs(ieb.locate("intention_similarity_test.json", data_dir))
    texts.update(normalize(t) for t in pairs.first + pairs.second)
    return texts


def load_labelled(path, field: str = "instruction", task_field: str = "task") -> list[Example]:
    """Rows of a file written by ``instemb label`` (or any file with a task field)."""
    rows = read_rows(path)
    if not any(task_field in r for r in rows):
        raise InstembError(f"{path}: no row has a {task_field!r} field; label it first with "
                           f"`instemb label {path} -o labelled.jsonl`")
    out = []
    for r in rows:
        text, task = r.get(field), r.get(task_field)
        if isinstance(text, str) and text.strip() and isinstance(task, str) and task:
            out.append(Example(text, task, ieb_key_related(task) if "|" in task else ()))
    return out


def clean(examples: list[Example], exclude: set[str], min_count: int = 3) -> tuple[list[Example], dict]:
    """Drop test-set instructions, duplicate texts and categories rarer than ``min_count``."""
    seen, kept, dropped_test = set(), [], 0
    for e in examples:
        key = normalize(e.text)
        if key in exclude:
            dropped_test += 1
            continue
        if key in seen:
            continue
        seen.add(key)
        kept.append(e)
    counts = Counter(e.task for e in kept)
    kept = [e for e in kept if counts[e.task] >= min_count]
    stats = {"input": len(examples), "dropped_in_ieb_test": dropped_test, "kept": len(kept),
             "categories": len({e.task for e in kept}), "min_count": min_count}
    if stats["categories"] < 2:
        raise InstembError(f"training needs at least two task categories with {min_count}+ "
                           f"instructions; found {stats['categories']}")
    return kept, stats


def cap_per_task(examples: list[Example], cap: int, seed: int = 0) -> list[Example]:
    """At most ``cap`` examples per task (a seeded sample); all when cap is 0."""
    if cap <= 0:
        return examples
    by_task: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        by_task[e.task].append(e)
    rng = random.Random(seed)
    return [e for task in sorted(by_task) for e in
            (rng.sample(by_task[task], cap) if len(by_task[task]) > cap else by_task[task])]


def triplets(examples: list[Example], seed: int = 0, hard_negatives: bool = True) -> list[dict]:
    """One (anchor, positive, negative) per example, with the tasks of anchor and negative."""
    rng = random.Random(seed)
    by_task: dict[str, list[str]] = defaultdict(list)
    related_of: dict[str, tuple[str, ...]] = {}
    for e in examples:
        by_task[e.task].append(e.text)
        related_of[e.task] = e.related
    tasks_by_key: dict[str, list[str]] = defaultdict(list)
    for task, keys in related_of.items():
        for k in keys:
            tasks_by_key[k].append(task)
    all_tasks = sorted(by_task)
    out = []
    for e in examples:
        others = [t for t in by_task[e.task] if t != e.text]
        if not others:
            continue
        positive = rng.choice(others)
        near = sorted({t for k in e.related for t in tasks_by_key[k]} - {e.task}) if hard_negatives else []
        neg_task = rng.choice(near) if near else e.task
        while neg_task == e.task:
            neg_task = rng.choice(all_tasks)
        out.append({"anchor": e.text, "positive": positive, "negative": rng.choice(by_task[neg_task]),
                    "anchor_task": e.task, "negative_task": neg_task, "hard": bool(near)})
    rng.shuffle(out)
    return out


# ---- labelled intent sets mixed in, so that training keeps broader intent structure ----------

def clinc150_train(root: Path) -> list[Example]:
    data = json.loads((root / "clinc150/data_full.json").read_text())
    domain_of = {intent: d for d, intents in
                 json.loads((root / "clinc150/domains.json").read_text()).items() for intent in intents}
    return [Example(t, f"clinc150/{y}", (f"clinc150-domain:{domain_of.get(y, y)}",))
            for t, y in data["train"]]


def banking77_train(root: Path) -> list[Example]:
    import csv

    with open(root / "banking77/train.csv", newline="", encoding="utf-8") as f:
        return [Example(r["text"], f"banking77/{r['category']}") for r in csv.DictReader(f)]


def math_train(root: Path) -> list[Example]:
    """MATH's train split (hendrycks/math, 7,500 problems), labelled by problem ``type``; the
    other types are its hard negatives. Not in ../shared/data (too large): place it as
    ``math/train.jsonl`` (one ``{"problem", "type"}`` object per line) under the --extra-data folder."""
    path = root / "math/train.jsonl"
    if not path.is_file():
        raise InstembError(f"--mix math needs MATH's train split as {path} (one JSON object with "
                           "'problem' and 'type' per line)")
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    return [Example(r["problem"], f"math/{r['type']}", ("math-problem",)) for r in rows]


MIXABLE = {"clinc150": clinc150_train, "banking77": banking77_train, "math": math_train}


def mixed_examples(names, root, per_set: int, seed: int = 0) -> list[Example]:
    out = []
    for name in names:
        if name not in MIXABLE:
            raise InstembError(f"unknown set to mix in {name!r}: use {', '.join(MIXABLE)}")
        rows = MIXABLE[name](Path(root))
        out += random.Random(seed).sample(rows, min(per_set, len(rows)))
    return out


def general_texts(root, n: int, seed: int = 0, exclude: set[str] = frozenset()) -> list[str]:
    """A seeded sample of instructions from several public sets (for keeping the base geometry);
    texts in ``exclude`` (normalised: IEB test texts, the contrastive training texts) are left out."""
    root = Path(root)
    pools = []
    alpaca = json.loads((root / "stanford-alpaca/alpaca_5000.json").read_text())
    pools.append([r["instruction"] for r in alpaca])
    pools.append([json.loads(line)["question"] for line in open(root / "gsm8k/train.jsonl")])
    pools.append([r["instruction"] for r in json.loads((root / "code-alpaca/code_alpaca_2k.json").read_text())])
    for name in ("aqua_train.tsv", "ecqa_train.tsv", "strategyqa_train.tsv", "creak_train.tsv"):
        pools.append([line.split("\t")[0].replace("\\n", "\n") for line in open(root / "flan" / name, encoding="utf-8")])
    rng = random.Random(seed)
    per_pool = n // len(pools) + 1
    texts = []
    for pool in pools:
        pool = [t for t in dict.fromkeys(pool) if t.strip() and normalize(t) not in exclude]
        texts += rng.sample(pool, min(per_pool, len(pool)))
    rng.shuffle(texts)
    return texts[:n]
