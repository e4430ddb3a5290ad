"""Turn any labelled instruction set into IEB-format benchmark files.

Categories whose verbs are WordNet synonyms and whose nouns agree are merged into one ``##`` key
(``compute|value##calculate|value``), as IEB does; rare categories are dropped. Output:
``eft_test.json`` (clustering) and ``intention_similarity_test.json`` (pairs: positives from the
same category, random negatives and hard negatives that share the verb or the noun).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

from instemb.errors import InstembError


def merge_synonyms(tasks: list[str]) -> dict[str, str]:
    """Map each ``verb|noun`` task to its merged key (alternatives joined with ``##``)."""
    from functools import lru_cache

    from instemb.labels import verb_synonym_groups

    @lru_cache(maxsize=None)
    def synonyms(a: str, b: str) -> bool:
        return len(verb_synonym_groups([a, b])) == 1

    verbs_of: dict[str, list[str]] = defaultdict(list)
    for t in sorted(set(tasks)):
        verb, _, noun = t.partition("|")
        verbs_of[noun].append(verb)
    key_of = {}
    for noun, verbs in verbs_of.items():
        groups: list[list[str]] = []  # every member a direct synonym of every other: no chains
        for v in verbs:
            home = next((g for g in groups if all(synonyms(*sorted((v, w))) for w in g)), None)
            if home is None:
                groups.append([v])
            else:
                home.append(v)
        for g in groups:
            key = "##".join(f"{v}|{noun}" for v in g)
            key_of.update({f"{v}|{noun}": key for v in g})
    return key_of


def build(rows: list[dict], out_dir, field: str = "instruction", min_count: int = 5,
          max_per_category: int = 50, n_pairs: int = 2000, positive_share: float = 0.6,
          seed: int = 0) -> dict:
    """Write the two benchmark files into ``out_dir`` (atomically, as a folder); return stats."""
    rng = random.Random(seed)
    labelled = [(r[field], r["task"], r) for r in rows
                if isinstance(r.get(field), str) and r[field].strip() and isinstance(r.get("task"), str)]
    if not labelled:
        raise InstembError("no labelled rows: every row needs a text and a 'task' (run `instemb label`)")
    key_of = merge_synonyms([t for _, t, _ in labelled])
    by_key: dict[str, list[tuple[str, str, dict]]] = defaultdict(list)
    seen = set()
    for text, task, row in labelled:
        if text in seen:
            continue
        seen.add(text)
        by_key[key_of[task]].append((text, task, row))
    by_key = {k: v for k, v in sorted(by_key.items()) if len(v) >= min_count}
    if len(by_key) < 2:
        raise InstembError(f"fewer than two categories with {min_count}+ instructions; lower --min-count")
    clustering = {}
    for key, items in by_key.items():
        items = rng.sample(items, min(len(items), max_per_category))
        clustering[key] = {"number": len(items), "samples": [
            {"category": task.split("|", 1), "instruction": text,
             **{k: row[k] for k in ("input", "output") if isinstance(row.get(k), str)}}
            for text, task, row in items]}

    keys = list(clustering)
    verb_of = {k: {alt.split("|")[0] for alt in k.split("##")} for k in keys}
    noun_of = {k: {alt.split("|")[1] for alt in k.split("##")} for k in keys}
    near = {k: [o for o in keys if o != k and (bool(verb_of[k] & verb_of[o]) != bool(noun_of[k] & noun_of[o]))]
            for k in keys}

    def sample(key):
        s = rng.choice(clustering[key]["samples"])
        return s["instruction"], "|".join(s["category"])

    pairs, n_pos = [], int(n_pairs * positive_share)
    for i in range(n_pairs):
        k1 = rng.choice(keys)
        if i < n_pos:
            k2 = k1
        elif i % 2 and near[k1]:
            k2 = rng.choice(near[k1])  # hard: shares the verb or the noun
        else:
            k2 = rng.choice([k for k in keys if k != k1])
        (a, ia), (b, ib) = sample(k1), sample(k2)
        if k1 == k2 and len(clustering[k1]["samples"]) > 1:
            while b == a:
                b, ib = sample(k2)
        pairs.append({"instruction1": a, "intention1": ia, "instruction2": b, "intention2": ib,
                      "label": int(k1 == k2), "hard_negative": k1 != k2 and k2 in near[k1]})
    rng.shuffle(pairs)

    out_dir = Path(out_dir)
    if not out_dir.parent.exists():
        raise InstembError(f"{out_dir}: folder {out_dir.parent} does not exist")
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        (tmp / "eft_test.json").write_text(json.dumps(clustering, indent=1, ensure_ascii=False))
        (tmp / "intention_similarity_test.json").write_text(json.dumps(pairs, indent=1, ensure_ascii=False))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"categories": len(clustering), "merged_keys": sum("##" in k for k in keys),
            "instructions": sum(c["number"] for c in clustering.values()), "pairs": len(pairs),
            "positives": sum(p["label"] for p in pairs),
            "hard_negatives": sum(p["hard_negative"] for p in pairs)}
