"""Is a fast inference path faithful to fp32? IEB scores and vector agreement of every path
(torch fp32 / bf16, ONNX Runtime fp32 / int8) for one model, against torch fp32.

    python benchmarks/faithfulness.py [--model instemb] [--limit N] [--json out.json]

Faithful (issue 5): IEB clustering ARI and intention-similarity Spearman within 0.01 of fp32,
the ARI taken as the mean over --seeds k-means seeds (default 10). A single k-means run is too
noisy to judge by: on the default model, bf16 (mean cosine to fp32 0.99995) moved the seed-0
ARI by -0.021 and the 10-seed mean by -0.005. The seed-0 ARI is printed too, and the min / mean
cosine of each path's vectors to fp32's, over every text IEB embeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared/data/instruction-embedding-benchmark"
PATHS = {  # name: (backend, dtype)
    "torch fp32": ("torch", "float32"),
    "torch bf16": ("torch", "bfloat16"),
    "onnx fp32": ("onnx", "float32"),
    "onnx int8": ("onnx", "int8"),
}
TOLERANCE = 0.01


class Recording:
    """An embedder that keeps every array it returns (so paths can be compared row by row)."""

    def __init__(self, embedder):
        self.embedder = embedder
        self.vectors: list[np.ndarray] = []
        self.seconds = 0.0

    def __getattr__(self, name):
        return getattr(self.embedder, name)

    def encode(self, texts, **kwargs):
        start = time.perf_counter()
        out = self.embedder.encode(texts, **kwargs)
        self.seconds += time.perf_counter() - start
        self.vectors.append(out)
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="instemb")
    ap.add_argument("--prompt", default=None, help="default: the model's own")
    ap.add_argument("--data-dir", default=str(DATA))
    ap.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, of: {', '.join(PATHS)}")
    ap.add_argument("--limit", type=int, default=None, help="first N rows of each task (smoke test)")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()

    import instemb
    from instemb.bench import run_benchmark

    names = [p.strip() for p in args.paths.split(",")]
    unknown = [n for n in names if n not in PATHS]
    if unknown:
        sys.exit(f"unknown path(s) {unknown}: use {', '.join(PATHS)}")
    if "torch fp32" not in names:
        names.insert(0, "torch fp32")
    rows: dict[str, dict] = {}
    reference = None
    for name in names:
        backend, dtype = PATHS[name]
        emb = Recording(instemb.load(args.model, prompt=args.prompt, backend=backend, dtype=dtype))
        result = run_benchmark(emb, data_dir=args.data_dir, seeds=tuple(range(args.seeds)),
                               batch_size=args.batch_size, limit=args.limit)
        vectors = np.concatenate(emb.vectors)
        if reference is None:
            reference = vectors
        cos = (vectors * reference).sum(1)
        rows[name] = {
            "backend": backend, "dtype": emb.dtype,
            "ari": result["clustering"]["ari"],
            "ari_mean": result["clustering"]["mean"]["ari"],
            "spearman": result["intention_similarity"]["spearman"],
            "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()),
            "texts": len(vectors), "seconds": round(emb.seconds, 2),
        }
        print(f"done: {name} ({emb.seconds:.0f} s)", file=sys.stderr, flush=True)
    base = rows["torch fp32"]
    for row in rows.values():
        row["ari_diff"] = row["ari"] - base["ari"]
        row["ari_mean_diff"] = row["ari_mean"] - base["ari_mean"]
        row["spearman_diff"] = row["spearman"] - base["spearman"]
        row["faithful"] = abs(row["ari_mean_diff"]) <= TOLERANCE and abs(row["spearman_diff"]) <= TOLERANCE

    print(f"\n{args.model}, prompt {args.prompt or 'default'}, limit {args.limit}, "
          f"{args.seeds} k-means seeds")
    head = (f"{'path':12s} {'ARI s0':>7s} {'diff':>7s} {'ARI mean':>8s} {'diff':>7s} "
            f"{'Spearman':>8s} {'diff':>7s} {'min cos':>8s} {'mean cos':>9s} {'faithful':>8s}")
    print(head)
    print("-" * len(head))
    for name, r in rows.items():
        print(f"{name:12s} {r['ari']:7.4f} {r['ari_diff']:+7.4f} {r['ari_mean']:8.4f} "
              f"{r['ari_mean_diff']:+7.4f} {r['spearman']:8.4f} {r['spearman_diff']:+7.4f} "
              f"{r['min_cosine']:8.5f} {r['mean_cosine']:9.6f} {'yes' if r['faithful'] else 'NO':>8s}")
    if args.json:
        out = {"model": args.model, "prompt": args.prompt, "limit": args.limit, "seeds": args.seeds,
               "tolerance": TOLERANCE, "paths": rows}
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
