"""Weight averaging after training: model soups (the mean of several fine-tuned runs) and
WiSE-FT (a blend ``alpha * fine-tuned + (1 - alpha) * base``), scored like the ablation table.

    python benchmarks/weight_averaging.py [--runs runs/] [--no-readme]
    python benchmarks/weight_averaging.py --from-json results/weight_averaging.json   # table only

Each line is one set of runs (averaged with equal weights) and one alpha. Scores: IEB ARI
(k-means seed 0 and mean over seeds 0-4), Spearman, and the intent-structure ARIs (seed 0 and
mean over seeds 0-4), bfloat16 inference, no prompt. Needs the runs of `make ablation`; "instemb" is
the shipped model. The blends are written to a temporary folder and not cached.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ieb_table import INTENT  # noqa: E402
from readme_section import measure_and_tabulate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# (runs averaged: folders under --runs, or "instemb" for the shipped model; alphas);
# alpha 1.0 is the plain average
GRID = [
    (("final-h",), (1.0, 0.85, 0.7)),
    (("instemb",), (1.0, 0.85)),
    (("final-h", "final-h-seed1"), (1.0,)),
    (("final-h", "final-i"), (1.0, 0.9, 0.8)),
    (("final-f", "final-h", "final-i"), (1.0, 0.85)),
    (("instemb", "final-f", "final-h", "final-i"), (1.0, 0.9)),
]


def markdown(results: list[dict]) -> str:
    lines = ["| runs averaged | alpha | IEB ARI | Spearman | CLINC150 | BANKING77 | MATH type |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {' + '.join(r['runs'])} | {r['alpha']} | {r['ieb_ari']:.3f} ({r['ieb_ari_mean']:.3f}) | "
                     f"{r['spearman']:.3f} | " + " | ".join(f"{r[t + '_ari']:.3f} ({r[t + '_ari_mean']:.3f})"
                                                           for t in INTENT) + " |")
    lines.append("")
    lines.append("Weights `alpha * mean(runs) + (1 - alpha) * base all-MiniLM-L6-v2`, fp16; `instemb` is the "
                 "shipped model, the others are the ablation runs. bfloat16 inference, no prompt, k-means "
                 "seed 0 (mean over seeds 0-4 in brackets). Regenerate: `make ablation && python "
                 "benchmarks/weight_averaging.py`.")
    return "\n".join(lines)


def main() -> None:
    measure_and_tabulate(__doc__, "weight-averaging", ROOT / "results/weight_averaging.json", measure, markdown)


def measure(args) -> list[dict]:
    import instemb
    from instemb.bench import run_benchmark
    from instemb.bench.intent import run_intent_tasks
    from instemb.models.registry import resolve
    from instemb.train.average import average_weights

    results = []
    for names, alphas in GRID:
        runs = [Path(resolve(n)[0]) if n == "instemb" else Path(args.runs) / n for n in names]
        if not all((r / "model.safetensors").exists() for r in runs):
            print(f"skipping {'+'.join(names)}: not trained (make ablation)", file=sys.stderr)
            continue
        for alpha in alphas:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp) / "model"
                average_weights(runs, folder, alpha=alpha, base="minilm")
                emb = instemb.load(str(folder), pooling="mean", prompt="none", dtype="bfloat16")
                r = run_benchmark(emb, data_dir=args.data_dir)
                intent = run_intent_tasks(emb, args.shared_data, seeds=(0, 1, 2, 3, 4))
            c, s = r["clustering"], r["intention_similarity"]
            results.append({"runs": list(names), "alpha": alpha, "ieb_ari": c["ari"],
                            "ieb_ari_mean": c["mean"]["ari"], "spearman": s["spearman"],
                            **{f"{t}_ari": v["ari"] for t, v in intent.items()},
                            **{f"{t}_ari_mean": v["mean"]["ari"] for t, v in intent.items()}})
            print(markdown(results[-1:]).splitlines()[2], flush=True)
    return results


if __name__ == "__main__":
    main()
