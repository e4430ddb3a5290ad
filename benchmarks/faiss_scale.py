"""k-means and k-NN at a million rows: FAISS (instemb's "faiss" engine) beside scikit-learn / numpy
in the same run.

    python benchmarks/faiss_scale.py [--rows 1000000] [--threads 2] [--json out.json]
    python benchmarks/faiss_scale.py --quick          # smoke run: 20,000 rows, no README

Data: IEB's 20,814 unlabelled training instructions embedded with the packaged default model
(``instemb.load()``; cached in results/ so reruns skip it), replicated to ``--rows`` rows, each
copy plus seeded Gaussian noise (``--noise`` per dimension) and re-normalised.

Timed, each on all rows unless said otherwise:
1. k-means into ``--clusters`` clusters: instemb's FAISS engine (k-means++ seeding and 20
   iterations on a seeded sample of 256 rows per cluster, then an exact assignment of every row);
   scikit-learn ``KMeans`` (random init, n_init=1) capped at ``--sklearn-iters`` Lloyd iterations
   on all rows (a full run would take far longer); scikit-learn ``MiniBatchKMeans`` for one pass
   over the rows (batch 4096, k-means++ on its default init sample). Quality: mean squared
   distance of a row to its centroid (lower is better), over all rows.
2. ``--queries`` k-NN queries (k = ``--k``, rows drawn from the set): exact FAISS brute force
   (``faiss.knn``, inner product); FAISS IVF (sqrt(rows) cells, ``--nprobe`` searched; index
   build timed apart; recall against the exact neighbours); numpy (matmul + argpartition in
   blocks of 64 queries).
3. On the real (un-replicated) embeddings: agreement (adjusted Rand index) of FAISS and
   scikit-learn k-means with ``--quality-clusters`` clusters, beside two scikit-learn seeds.
Peak RSS (resource.getrusage) is recorded after each part. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from readme_section import replace_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared/data/instruction-embedding-benchmark/eft_train_unsup.json"


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def base_embeddings(data: Path, limit: int | None, cache: Path) -> np.ndarray:
    if cache.exists():
        print(f"real embeddings from {cache}", flush=True)
        return np.load(cache)
    import instemb

    texts = json.loads(data.read_text())[:limit]
    embedder = instemb.load()
    print(f"embedding {len(texts)} instructions with {embedder.name} ...", flush=True)
    emb = embedder.encode(texts, show_progress_bar=True).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, emb)
    return emb


def replicate(base: np.ndarray, rows: int, noise: float, seed: int, block: int = 65536) -> np.ndarray:
    """Row i is base[i % len(base)] plus N(0, noise^2) per dimension, re-normalised."""
    rng = np.random.default_rng(seed)
    out = np.empty((rows, base.shape[1]), dtype=np.float32)
    for s in range(0, rows, block):
        part = base[np.arange(s, min(s + block, rows)) % len(base)]
        part = part + rng.standard_normal(part.shape, dtype=np.float32) * np.float32(noise)
        out[s:s + len(part)] = part / np.linalg.norm(part, axis=1, keepdims=True)
    return out


def mean_sq(x: np.ndarray, centroids: np.ndarray, labels: np.ndarray, block: int = 65536) -> float:
    total = 0.0
    for s in range(0, len(x), block):
        diff = x[s:s + block] - centroids[labels[s:s + block]]
        total += float(np.einsum("ij,ij->", diff, diff, dtype=np.float64))
    return total / len(x)


def timed(label: str, fn, results: dict, what: str):
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    results["timings"].append({"label": label, "what": what, "seconds": round(seconds, 2)})
    print(f"{label:44s} {seconds:8.2f} s   ({what})", flush=True)
    return out, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--nprobe", type=int, default=16, help="IVF cells searched per query")
    ap.add_argument("--noise", type=float, default=0.01, help="jitter per dimension (std)")
    ap.add_argument("--train-rows", type=int, default=256_000,
                    help="rows FAISS k-means trains on (instemb's default: 256,000)")
    ap.add_argument("--sklearn-iters", type=int, default=3,
                    help="Lloyd iterations of the capped scikit-learn KMeans run")
    ap.add_argument("--quality-clusters", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--limit", type=int, default=None, help="embed only the first N instructions")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 20,000 rows from 2,000 instructions, 50 clusters, 500 "
                         "queries, 1 capped iteration; no README")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--no-readme", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.clusters, args.queries = min(args.rows, 20_000), 50, 500
        args.limit, args.sklearn_iters, args.quality_clusters = args.limit or 2000, 1, 20
        args.no_readme = True

    import faiss
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.metrics import adjusted_rand_score
    from threadpoolctl import threadpool_limits

    from instemb.tools import index

    faiss.omp_set_num_threads(args.threads)
    threadpool_limits(args.threads)
    cache = ROOT / "results" / f"faiss_base_{args.data.stem}_{args.limit or 'all'}.npy"
    base = base_embeddings(args.data, args.limit, cache)
    results = {"rows": args.rows, "dim": int(base.shape[1]), "base_rows": len(base),
               "clusters": args.clusters, "queries": args.queries, "k": args.k,
               "noise": args.noise, "threads": args.threads, "seed": args.seed,
               "faiss": faiss.__version__, "timings": [], "peak_rss_mb": {}}
    results["peak_rss_mb"]["after base embeddings"] = peak_rss_mb()
    x = replicate(base, args.rows, args.noise, args.seed)
    print(f"{len(x):,} x {x.shape[1]} vectors from {len(base):,} real embeddings "
          f"(noise {args.noise})", flush=True)
    results["peak_rss_mb"]["after building the vectors"] = peak_rss_mb()

    # 1. k-means
    k = args.clusters
    train = min(len(x), int(np.clip(args.train_rows // k, 16, 256)) * k)
    (cf, lf), s_faiss = timed("FAISS k-means (instemb engine)",
                              lambda: index.kmeans(x, k, seed=args.seed, engine="faiss",
                                                   train_rows=args.train_rows), results,
                              f"k-means++ + 20 iterations on {train:,} sampled rows, "
                              f"then all {len(x):,} rows assigned")
    quality = {"FAISS k-means": mean_sq(x, cf, lf)}
    results["peak_rss_mb"]["after FAISS k-means"] = peak_rss_mb()
    iters = f"{args.sklearn_iters} iteration{'s' * (args.sklearn_iters != 1)}"
    km, s_sk = timed(f"scikit-learn KMeans, {iters}",
                     lambda: KMeans(k, init="random", n_init=1, max_iter=args.sklearn_iters,
                                    tol=0, random_state=args.seed).fit(x), results,
                     f"random init + {args.sklearn_iters} Lloyd iterations on all rows "
                     f"(capped; not converged)")
    quality[f"scikit-learn KMeans, {iters}"] = float(km.inertia_) / len(x)
    results["sklearn_kmeans_seconds_per_iteration"] = round(s_sk / args.sklearn_iters, 2)
    del km
    mb, _ = timed("scikit-learn MiniBatchKMeans, one pass",
                  lambda: MiniBatchKMeans(k, batch_size=4096, max_iter=1, n_init=1,
                                          random_state=args.seed).fit(x), results,
                  "k-means++ on an init sample, one pass of 4096-row batches, labels of all rows")
    quality["scikit-learn MiniBatchKMeans, one pass"] = float(mb.inertia_) / len(x)
    del mb
    results["kmeans_mean_sq_distance"] = {key: round(v, 5) for key, v in quality.items()}
    results["peak_rss_mb"]["after scikit-learn k-means"] = peak_rss_mb()

    # 2. k-NN
    q = x[np.sort(np.random.default_rng(args.seed + 1).choice(len(x), args.queries, replace=False))]
    (_, i_faiss), s_knn = timed(f"FAISS exact k-NN, k={args.k}",
                                lambda: index.knn(q, x, args.k, engine="faiss"), results,
                                f"{len(q):,} queries against {len(x):,} rows, faiss.knn inner product")
    ivf, s_build = timed("FAISS IVF index: build", lambda: index.ivf_index(x, seed=args.seed),
                         results, f"{int(np.sqrt(len(x)))} k-means cells, all rows added")
    ivf.nprobe = args.nprobe
    (_, i_ivf), s_ivf = timed(f"FAISS IVF k-NN, k={args.k}, nprobe {args.nprobe}",
                              lambda: ivf.search(q, args.k), results,
                              f"{len(q):,} queries, approximate")
    ivf = None
    (_, i_np), s_np = timed(f"numpy matmul + argpartition, k={args.k}",
                            lambda: index._knn_numpy(q, x, args.k, False, 64), results,
                            f"{len(q):,} queries in blocks of 64")

    def overlap(a, b):
        return round(float(np.mean([len(set(u) & set(v)) / args.k for u, v in zip(a, b)])), 5)

    results["knn_same_neighbours"] = overlap(i_faiss, i_np)
    results["ivf_recall"] = overlap(i_faiss, i_ivf)
    results["peak_rss_mb"]["after k-NN"] = peak_rss_mb()
    x = q = None  # free 1.5 GB before the last part

    # 3. agreement on the real embeddings
    kq = min(args.quality_clusters, len(base))
    (_, l_fa), s_qf = timed(f"FAISS k-means on the real set, k={kq}",
                            lambda: index.kmeans(base, kq, seed=args.seed, engine="faiss"), results,
                            f"{len(base):,} real embeddings")
    (_, l_sk), s_qs = timed(f"scikit-learn KMeans on the real set, k={kq}",
                            lambda: index.kmeans(base, kq, seed=args.seed, engine="sklearn"),
                            results, "k-means++, n_init='auto' (1), to convergence")
    _, l_sk2 = index.kmeans(base, kq, seed=args.seed + 1, engine="sklearn")
    _, l_fa2 = index.kmeans(base, kq, seed=args.seed + 1, engine="faiss")
    results["real_set"] = {
        "clusters": kq, "rows": len(base),
        "ari_faiss_vs_sklearn": round(adjusted_rand_score(l_sk, l_fa), 4),
        "ari_sklearn_seed_vs_seed": round(adjusted_rand_score(l_sk, l_sk2), 4),
        "ari_faiss_seed_vs_seed": round(adjusted_rand_score(l_fa, l_fa2), 4),
        "faiss_deterministic": bool(np.array_equal(l_fa, index.kmeans(base, kq, seed=args.seed,
                                                                      engine="faiss")[1])),
    }
    print(json.dumps(results["real_set"]), flush=True)
    results["peak_rss_mb"]["end"] = peak_rss_mb()
    print(f"k-means: FAISS {s_faiss:.1f} s; scikit-learn {results['sklearn_kmeans_seconds_per_iteration']}"
          f" s per Lloyd iteration on all rows; k-NN: FAISS exact {s_knn:.1f} s, IVF "
          f"{s_ivf:.1f} s (+{s_build:.1f} s build, recall {results['ivf_recall']}), numpy {s_np:.1f} s; "
          f"peak RSS {results['peak_rss_mb']['end']:.0f} MB", flush=True)
    print(json.dumps(results["kmeans_mean_sq_distance"]), flush=True)

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if not args.no_readme:
        replace_section("faiss-scale", markdown(results))


def markdown(r: dict) -> str:
    quality = r["kmeans_mean_sq_distance"]
    lines = [f"{r['rows']:,} x {r['dim']} float32 vectors (IEB's {r['base_rows']:,} unlabelled "
             f"training instructions embedded with the default model, replicated, Gaussian noise "
             f"{r['noise']} per dimension, re-normalised); {r['threads']} threads; one run each.",
             "", "| task | engine | what was timed | seconds | mean squared distance to centroid |",
             "|---|---|---|---|---|"]
    for t in r["timings"]:
        task = "k-means" if "means" in t["label"].lower() else "k-NN"
        lines.append(f"| {task} | {t['label']} | {t['what']} | {t['seconds']:.1f} | "
                     f"{quality.get(_quality_key(t['label']), '')} |")
    rs = r["real_set"]
    lines += ["", f"k-NN: FAISS and numpy return the same neighbours for "
                  f"{100 * r['knn_same_neighbours']:.2f} % of query results (both exact); "
                  f"IVF finds {100 * r['ivf_recall']:.2f} % of the exact neighbours. "
                  f"scikit-learn KMeans costs {r['sklearn_kmeans_seconds_per_iteration']} s per "
                  f"Lloyd iteration on all rows. Peak RSS: {r['peak_rss_mb']['end']:,.0f} MB.",
              "", f"Agreement on the real {rs['rows']:,} embeddings, {rs['clusters']} clusters "
                  f"(adjusted Rand index): FAISS vs scikit-learn {rs['ari_faiss_vs_sklearn']}; "
                  f"scikit-learn seed 0 vs seed 1 {rs['ari_sklearn_seed_vs_seed']}; FAISS seed 0 "
                  f"vs seed 1 {rs['ari_faiss_seed_vs_seed']}; FAISS rerun identical: "
                  f"{'yes' if rs['faiss_deterministic'] else 'no'}.",
              "", f"FAISS {r['faiss']}. Regenerate: `python benchmarks/faiss_scale.py`."]
    return "\n".join(lines)


def _quality_key(label: str) -> str:
    return {"FAISS k-means (instemb engine)": "FAISS k-means"}.get(label, label)


if __name__ == "__main__":
    main()
