"""Dataset task correlation: how close the task distributions of two instruction sets are.

Two measures between every pair of datasets, following the paper (and its released
``correlation_analysis`` code):

* **Wasserstein** (symmetric, lower = closer): every embedding vector is first turned into a
  distribution over its dimensions, then for each dimension the 1-D Wasserstein distance
  (``scipy.stats.wasserstein_distance``) between the two datasets' values is taken, and these
  are averaged over dimensions. The paper divides each vector by the sum of its entries.
  That is only safe when the sums are far from zero and of one sign (true for the decoder
  LLM states the paper used); for L2-normalised sentence embeddings such as MiniLM the sums
  scatter around zero and the division blows single vectors up by orders of magnitude (and
  flips the sign of others). So the default here, ``shift-sum``, first shifts each vector by
  its own minimum (``x - min(x) >= 0``) and then divides by the sum, which gives a proper
  distribution over dimensions for every vector and keeps a pair's value independent of the
  other datasets in the run. ``sum`` is the paper's plain division (refused when any
  ``|sum| < 1e-6 * ||x||_1``); ``none`` uses the vectors as they are.
* **Max cosine** (asymmetric, higher = closer): the mean over A's rows of the highest cosine
  similarity to any row of B, i.e. how well B covers the tasks of A. Computed on the
  embeddings themselves (cosine ignores scale, so the sum normalisation only matters where it
  would flip a vector's sign; we leave vectors unflipped).
"""

from __future__ import annotations

import numpy as np

from instemb.errors import InstembError

NORMALISATIONS = ("shift-sum", "sum", "none")


def normalise(emb: np.ndarray, how: str = "shift-sum") -> np.ndarray:
    emb = np.asarray(emb, dtype=np.float64)
    if how == "none":
        return emb
    if how == "shift-sum":
        emb = emb - emb.min(axis=1, keepdims=True)
    elif how != "sum":
        raise InstembError(f"unknown normalisation {how!r}: use one of {', '.join(NORMALISATIONS)}")
    sums = emb.sum(axis=1, keepdims=True)
    scale = np.abs(emb).sum(axis=1, keepdims=True)
    bad = np.abs(sums) < 1e-6 * np.maximum(scale, 1e-30)
    if bad.any():
        raise InstembError(f"{int(bad.sum())} embedding(s) sum to (nearly) zero, so they cannot be "
                           f"divided by their sum; use --normalise shift-sum")
    return emb / sums


def mean_wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over dimensions of the 1-D Wasserstein distance between a[:, d] and b[:, d]."""
    from scipy.stats import wasserstein_distance

    if a.shape[1] != b.shape[1]:
        raise InstembError(f"embedding sizes differ: {a.shape[1]} vs {b.shape[1]}")
    return float(np.mean([wasserstein_distance(a[:, d], b[:, d]) for d in range(a.shape[1])]))


def mean_max_cosine(a: np.ndarray, b: np.ndarray, block: int = 2048) -> float:
    """Mean over rows of ``a`` of the highest cosine similarity to any row of ``b``."""
    from sklearn.metrics.pairwise import cosine_similarity

    best = [cosine_similarity(a[s:s + block], b).max(axis=1) for s in range(0, len(a), block)]
    return float(np.concatenate(best).mean())


def correlation_matrices(embs: list[np.ndarray], normalisation: str = "shift-sum",
                         progress: bool = False) -> dict[str, np.ndarray]:
    """``wasserstein`` (symmetric, 0 on the diagonal) and ``max_cosine`` (row A, column B:
    how well B covers A; 1 on the diagonal) for every pair of datasets."""
    from tqdm.auto import tqdm

    n = len(embs)
    normed = [normalise(e, normalisation) for e in embs]
    w = np.zeros((n, n))
    c = np.ones((n, n))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    for i, j in tqdm(pairs, disable=not progress, desc="dataset pairs", unit="pair"):
        w[i, j] = w[j, i] = mean_wasserstein(normed[i], normed[j])
        c[i, j] = mean_max_cosine(embs[i], embs[j])
        c[j, i] = mean_max_cosine(embs[j], embs[i])
    return {"wasserstein": w, "max_cosine": c}


def matrix_csv(names: list[str], mat: np.ndarray, digits: int = 6) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dataset", *names])
    for name, row in zip(names, mat):
        writer.writerow([name, *(f"{v:.{digits}g}" for v in row)])
    return buf.getvalue()


def heatmap(names: list[str], mats: dict[str, np.ndarray], path, title: str = "") -> None:
    """Both matrices as annotated heatmaps side by side, saved as a PNG (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(names)
    size = max(4.0, 0.62 * n + 2.0)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1.2, size), dpi=80)
    panels = [("wasserstein", "Wasserstein distance (lower = closer)", "YlGnBu_r"),
              ("max_cosine", "Mean max cosine: row covered by column (higher = closer)", "YlGnBu")]
    for ax, (key, label, cmap) in zip(axes, panels):
        scale, exp = 1.0, 0
        raw = mats[key][~np.eye(n, dtype=bool)] if n > 1 else mats[key].ravel()
        if key == "wasserstein" and raw.max() > 0:
            exp = int(np.floor(np.log10(raw.max())))
            if exp < -1:
                scale = 10.0 ** -exp
                label += f"  (units of 1e{exp})"
        m = mats[key] * scale
        off = raw * scale
        im = ax.imshow(m, cmap=cmap, vmin=off.min(), vmax=off.max())
        for i in range(n):
            for j in range(n):
                v = m[i, j]
                norm = (v - off.min()) / max(off.max() - off.min(), 1e-30)
                dark = norm > 0.6 if cmap == "YlGnBu" else norm < 0.4
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
        ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=9)
        ax.set_yticks(range(n), names, fontsize=9)
        ax.set_title(label, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
