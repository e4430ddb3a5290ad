"""Score a trained model, write its model card, and copy it to where the package ships it.

    python -m instemb.train.ship runs/final src/instemb/models/instemb-minilm \\
        --ieb-dir ../shared/data/instruction-embedding-benchmark --shared-data ../shared/data
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

CARD = """---
library_name: sentence-transformers
base_model: sentence-transformers/all-MiniLM-L6-v2
pipeline_tag: sentence-similarity
license: apache-2.0
tags: [instruction-embedding, instemb, task-identification]
---

# instemb-minilm

all-MiniLM-L6-v2 fine-tuned so that instructions land by the **task** they ask for
(IEB's `verb|noun` categories), not by topic, while keeping the base model's grouping of
user intents and problem types. Made by `make train` in the instemb repository.

Use it with instemb (`instemb embed FILE -o out.npy`, the default model) or with
sentence-transformers (mean pooling, normalised){prompt_note}.

## Data
- {n_kept} instructions of IEB's unlabelled training set (`eft_train_unsup.json`, 20,814 rows)
  labelled `verb|noun` by instemb's spaCy task labeller; {n_test} rows that also appear in an IEB
  test file dropped; categories with fewer than {min_count} rows dropped; {cap}: {triplets}
  triplets in {categories} categories, mixed-in sets included ({hard} with a hard negative sharing
  the verb or the noun, or the CLINC150 domain).
- Mixed in: {mix} ({mix_per_set} training rows each, their own intent labels, hard negatives from the
  same CLINC150 domain).
- {distill} general instructions (Alpaca, GSM8K, Code Alpaca, FLAN CoT sets) whose base-model vectors
  the model is asked to keep (cosine distance), so that other intent structure survives.

## Recipe
sentence-transformers trainer; `MultipleNegativesRankingLoss` (InfoNCE, in-batch negatives,
temperature {temperature}); a batch sampler that never puts the same text or task category twice
in a batch; prompt `{prompt}`; {epochs} epoch, batch {batch_size}, lr {learning_rate}, warmup 10%,
instructions cut to {max_tokens} tokens, {precision}, seed {seed}; {steps} steps in {minutes:.1f} min on
{threads} CPU threads. Weights stored as fp16 safetensors.

## Scores (bfloat16 inference, k-means seed 0; mean over seeds 0-4 in brackets)
{scores}
{gaps}
"""


def score(model_dir: str, prompt: str, ieb_dir: str, shared: str) -> dict:
    import instemb
    from instemb.bench import run_benchmark
    from instemb.bench.intent import run_intent_tasks

    emb = instemb.load(model_dir, pooling="mean", prompt=prompt, dtype="bfloat16")
    r = run_benchmark(emb, data_dir=ieb_dir)
    r["intent"] = run_intent_tasks(emb, shared, seeds=(0,))
    return r


def card(record: dict, results: dict[str, dict], base: dict) -> str:
    """The model card; ``results`` by prompt, ``base``: the base model without a prompt."""
    cfg, data = record["config"], record["data"]
    lines = ["| model | prompt | IEB ARI | Spearman | ROC-AUC | CLINC150 ARI | BANKING77 ARI | MATH type ARI |",
             "|---|---|---|---|---|---|---|---|"]
    rows = [("this model", p, r) for p, r in results.items()] + [("base all-MiniLM-L6-v2", "none", base)]
    for name, prompt, r in rows:
        c, s, i = r["clustering"], r["intention_similarity"], r["intent"]
        lines.append(f"| {name} | {prompt} | {c['ari']:.3f} ({c['mean']['ari']:.3f}) | {s['spearman']:.3f} | "
                     f"{s['roc_auc']:.3f} | {i['clinc150']['ari']:.3f} | {i['banking77']['ari']:.3f} | "
                     f"{i['math_type']['ari']:.3f} |")
    own = results[cfg["prompt"]]["intent"]
    weaker = [t for t in own if own[t]["ari"] < base["intent"][t]["ari"]]
    gaps = (f"\nBelow the base model on: {', '.join(weaker)} (k-means ARI, seed 0)." if weaker else
            "\nAt or above the base model on every intent-structure check.")
    cleaning = cfg["notes"].get("cleaning", {})
    prompt_note = "" if cfg["prompt"] == "none" else f"; wrap inputs in the `{cfg['prompt']}` prompt"
    return CARD.format(
        prompt_note=prompt_note, n_kept=cleaning.get("kept"), n_test=cleaning.get("dropped_in_ieb_test"),
        min_count=cfg["min_count"],
        cap=f"at most {cfg['max_per_task']} anchors per category" if cfg["max_per_task"] else "every row an anchor",
        triplets=data.get("triplets"), categories=data.get("categories"), hard=data.get("hard_negatives"),
        mix=", ".join(cfg["mix"]) or "nothing", mix_per_set=cfg["mix_per_set"], distill=cfg["distill"],
        temperature=cfg["temperature"], prompt=cfg["prompt"], epochs=cfg["epochs"],
        batch_size=cfg["batch_size"], learning_rate=cfg["learning_rate"],
        max_tokens=cfg["max_instruction_tokens"], precision="bf16 autocast" if cfg.get("bf16") else "fp32",
        seed=cfg["seed"], steps=record["steps"], minutes=record["train_seconds"] / 60,
        threads=record.get("torch_threads"), scores="\n".join(lines), gaps=gaps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("dest")
    ap.add_argument("--ieb-dir", required=True)
    ap.add_argument("--shared-data", required=True)
    args = ap.parse_args()
    src = Path(args.model_dir)
    record = json.loads((src / "instemb_train.json").read_text())
    results = {p: score(str(src), p, args.ieb_dir, args.shared_data) for p in ("none", "pie")}
    base = score(record["config"]["base"], "none", args.ieb_dir, args.shared_data)
    record["scores"] = {p: {"ieb_ari": r["clustering"]["ari"], "ieb_ari_mean": r["clustering"]["mean"]["ari"],
                            "spearman": r["intention_similarity"]["spearman"],
                            "roc_auc": r["intention_similarity"]["roc_auc"],
                            **{f"{t}_ari": v["ari"] for t, v in r["intent"].items()}}
                        for p, r in results.items()}
    (src / "instemb_train.json").write_text(json.dumps(record, indent=2) + "\n")
    (src / "README.md").write_text(card(record, results, base))
    dest = Path(args.dest)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("*.tmp", ".*"))
    print(f"shipped {src} -> {dest}")
    for p, sc in record["scores"].items():
        print(p, {k: round(v, 3) for k, v in sc.items()})


if __name__ == "__main__":
    main()
