"""Training-seed noise: each recipe trained with several seeds, scored like the ablation table,
and compared on the mean over training seeds; plus soups of each recipe's seeds (their mean
weights, and for the shipped recipe that mean blended towards the base).

    python benchmarks/training_seeds.py [--runs runs/] [--no-readme]
    python benchmarks/training_seeds.py --from-json results/training_seeds.json   # table only

One run per recipe moved IEB ARI by 0.04 and MATH `type` by 0.02-0.03 between two seeds, as much
as the differences between recipes, so recipes are ranked here on the mean over training seeds
(each run itself scored as the mean over k-means seeds 0-4). bfloat16 inference, no prompt;
single runs use the embedding cache, soups are written to a temporary folder and not cached.
Needs the runs of `make seeds` and `make ablation` (runs/final-h, runs/final-h-seed1).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from readme_section import measure_and_tabulate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# (recipe, run folders under --runs, one per training seed 0, 1, 2, ...; "instemb" is the shipped
# model, seed 0 of the shipped recipe; alphas of the soups: 1 is the plain average, below 1 a blend
# towards the base all-MiniLM-L6-v2)
RECIPES = [
    ("shipped recipe (`make train`)", ("instemb", "final-d-seed1", "final-d-seed2"), (1.0, 0.9, 0.85)),
    ("recipe h: + synonym verbs merged + public sets without knowledge questions",
     ("final-h", "final-h-seed1", "final-h-seed2"), (1.0,)),
]
# the columns: (key, header); every one is a mean over k-means seeds 0-4 except the first
COLUMNS = [("ieb_ari", "IEB ARI (k-means seed 0)"), ("ieb_ari_mean", "IEB ARI"),
           ("spearman", "Spearman"), ("clinc150", "CLINC150"), ("banking77", "BANKING77"),
           ("math_type", "MATH type")]


def score(folder: str, args, cache=None) -> dict:
    import instemb
    from instemb.bench import run_benchmark
    from instemb.bench.intent import run_intent_tasks

    emb = instemb.load(folder, pooling="mean", prompt="none", dtype="bfloat16")
    r = run_benchmark(emb, data_dir=args.data_dir, cache=cache)
    intent = run_intent_tasks(emb, args.shared_data, cache=cache, seeds=(0, 1, 2, 3, 4))
    c = r["clustering"]
    return {"ieb_ari": c["ari"], "ieb_ari_mean": c["mean"]["ari"],
            "spearman": r["intention_similarity"]["spearman"],
            **{t: v["mean"]["ari"] for t, v in intent.items()}}


def summarise(runs: list[dict]) -> dict:
    """Mean and sample standard deviation over training seeds, per column."""
    out = {}
    for key, _ in COLUMNS:
        values = [r[key] for r in runs]
        out[key] = {"mean": statistics.fmean(values),
                    "std": statistics.stdev(values) if len(values) > 1 else 0.0}
    return out


def measure(args) -> dict:
    from instemb.cache import EmbeddingCache
    from instemb.models.registry import resolve
    from instemb.train.average import average_weights

    cache = EmbeddingCache()
    print("base all-MiniLM-L6-v2", flush=True)
    results = {"base": score("minilm", args, cache), "recipes": []}

    def where(run: str) -> Path:
        return Path(resolve(run)[0]) if run == "instemb" else Path(args.runs) / run

    for name, folders, alphas in RECIPES:
        present = [f for f in folders if (where(f) / "model.safetensors").exists()]
        if len(present) < len(folders):
            print(f"{name}: missing {sorted(set(folders) - set(present))} (make seeds)", file=sys.stderr)
        if not present:
            continue
        runs = []
        for f in present:
            runs.append({"run": f, **score(str(where(f)), args, cache)})
            print(f"  {f}: " + " ".join(f"{k} {runs[-1][k]:.3f}" for k, _ in COLUMNS), flush=True)
        recipe = {"recipe": name, "runs": runs, "summary": summarise(runs)}
        recipe["soups"] = []
        for alpha in alphas if len(present) > 1 else ():
            with tempfile.TemporaryDirectory() as tmp:
                soup = Path(tmp) / "soup"
                average_weights([where(f) for f in present], soup, alpha=alpha, base="minilm")
                recipe["soups"].append({"alpha": alpha, **score(str(soup), args)})
        results["recipes"].append(recipe)
    return results


def markdown(results: dict) -> str:
    base = results["base"]
    head = "| recipe | training seed | " + " | ".join(h for _, h in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2),
             "| base all-MiniLM-L6-v2 | - | " + " | ".join(f"{base[k]:.3f}" for k, _ in COLUMNS) + " |"]
    verdicts = []
    for rec in results["recipes"]:
        for i, r in enumerate(rec["runs"]):
            lines.append(f"| {rec['recipe']} | {i} (`{r['run']}`) | "
                         + " | ".join(f"{r[k]:.3f}" for k, _ in COLUMNS) + " |")
        s = rec["summary"]
        lines.append(f"| {rec['recipe']} | **mean ± std of {len(rec['runs'])}** | "
                     + " | ".join(f"**{s[k]['mean']:.3f}** ± {s[k]['std']:.3f}" for k, _ in COLUMNS) + " |")
        for soup in rec.get("soups", []):
            what = f"soup of the {len(rec['runs'])} seeds" + (f", blended at alpha {soup['alpha']}"
                                                              if soup["alpha"] < 1 else "")
            lines.append(f"| {rec['recipe']} | {what} | " + " | ".join(f"{soup[k]:.3f}" for k, _ in COLUMNS) + " |")
        below = [h for k, h in COLUMNS[3:] if s[k]["mean"] < base[k]]
        verdicts.append(f"{rec['recipe'].split(':')[0]}: mean IEB ARI {s['ieb_ari_mean']['mean']:.3f}; "
                        + (f"below base on {', '.join(below)}" if below else "at or above base on every intent check"))
    lines.append("")
    lines.append("Each run: bfloat16 inference, no prompt; IEB ARI at k-means seed 0, every other column "
                 "the mean over k-means seeds 0-4 (intent columns: CLINC150 test intents, BANKING77 test, "
                 "`type` of 1,000 MATH test problems). Mean ± sample std over training seeds in bold. "
                 "Soup: the uniform average of the seeds' weights (`instemb soup`), encoded afresh; "
                 "blended: `alpha * soup + (1 - alpha) * base`. "
                 "Regenerate: `make seeds && python benchmarks/training_seeds.py`.")
    lines.append("")
    lines.append("On the mean over training seeds: " + "; ".join(verdicts) + ".")
    return "\n".join(lines)


def main() -> None:
    measure_and_tabulate(__doc__, "training-seeds", ROOT / "results/training_seeds.json", measure, markdown)


if __name__ == "__main__":
    main()
