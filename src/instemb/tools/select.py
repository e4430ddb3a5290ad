"""Task-diverse data selection: K representatives of an instruction set.

``kmeans``: k-means with K clusters, keep the row nearest each centroid (the paper's method).
``kcenter``: greedy farthest-first traversal (k-center), which covers outlying tasks first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from instemb.errors import InstembError
from instemb.tools import index

METHODS = ("kmeans", "kcenter")


@dataclass
class Selection:
    """The chosen rows, in input order, with the cluster each one stands for."""

    indices: np.ndarray  # (k,) row numbers into the input, ascending
    cluster: np.ndarray  # (k,) cluster id of each chosen row (0..k-1)
    cluster_size: np.ndarray  # (k,) rows in that cluster (sums to n)
    distance: np.ndarray  # (k,) Euclidean distance to the centroid (kmeans) / covering radius
    labels: np.ndarray  # (n,) cluster id of every input row


def _check(emb: np.ndarray, k: int) -> np.ndarray:
    emb = np.asarray(emb, dtype=np.float32)
    if emb.ndim != 2 or len(emb) == 0:
        raise InstembError("embeddings must be a non-empty (n, dim) array")
    if not 1 <= k <= len(emb):
        raise InstembError(f"cannot choose {k} rows out of {len(emb)}: need 1 <= n <= {len(emb)}")
    return emb


def kmeans_select(emb: np.ndarray, k: int, seed: int = 0, engine: str = "auto") -> Selection:
    """k-means (see :func:`instemb.tools.index.kmeans`); per cluster the row nearest its centroid."""
    emb = _check(emb, k)
    centroids, labels = index.kmeans(emb, k, seed=seed, engine=engine)
    dist = index.row_distances(emb, centroids, labels)
    chosen, clusters = index.nearest_members(dist, labels)  # k-means can leave a cluster empty
    return _finish(chosen, clusters, labels, dist)


def kcenter_select(emb: np.ndarray, k: int, seed: int = 0, engine: str = "auto") -> Selection:
    """Greedy k-center: start at a seeded random row, then repeatedly add the row farthest from
    everything chosen so far. Each row's cluster is its nearest chosen row; ``distance`` is the
    distance from the chosen row to the nearest row chosen before it (0 for the first). Above
    ``index.KCENTER_MAX_ROWS`` rows the FAISS engine runs it on a seeded sample of that many
    rows (see :func:`instemb.tools.index.kcenter`)."""
    emb = _check(emb, k)
    centers, owner, radius = index.kcenter(emb, k, seed=seed, engine=engine)
    return _finish(centers, np.arange(len(centers)), owner, radius, per_row=False)


def _finish(chosen, clusters, labels, dist, per_row: bool = True) -> Selection:
    order = np.argsort(chosen, kind="stable")
    chosen, clusters = chosen[order], clusters[order]
    sizes = np.bincount(labels, minlength=int(labels.max()) + 1)[clusters]
    distance = dist[chosen] if per_row else dist[order]
    return Selection(chosen, clusters, sizes, distance.astype(np.float64), labels)


def select(emb: np.ndarray, k: int, method: str = "kmeans", seed: int = 0,
           engine: str = "auto") -> Selection:
    """``engine``: "auto" (scikit-learn/numpy below ``index.FAISS_MIN_ROWS`` rows, FAISS from
    there on), "sklearn" or "faiss"."""
    if method not in METHODS:
        raise InstembError(f"unknown selection method {method!r}: use {' or '.join(METHODS)}")
    return (kmeans_select if method == "kmeans" else kcenter_select)(emb, k, seed, engine)


def random_select(n: int, k: int, seed: int = 0) -> np.ndarray:
    """A uniform random subset of row numbers (the baseline), ascending."""
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


ADDED_FIELDS = ("cluster", "cluster_size", "distance")


def check_fields(rows: list[dict], added: tuple[str, ...], source: str = "input") -> None:
    """Refuse rows that already hold a field the output would add (and so overwrite)."""
    for i, row in enumerate(rows, 1):
        clash = next((f for f in added if f in row), None)
        if clash:
            raise InstembError(f"{source}: row {i} already has a field {clash!r}, which the output "
                               f"adds; rename it first")


def annotate(rows: list[dict], sel: Selection, extra: tuple[str, ...] = ADDED_FIELDS) -> list[dict]:
    """The chosen rows with every original field plus ``cluster``, ``cluster_size``, ``distance``."""
    check_fields([rows[int(i)] for i in sel.indices], extra)
    values = {"cluster": sel.cluster, "cluster_size": sel.cluster_size, "distance": sel.distance}
    out = []
    for j, i in enumerate(sel.indices):
        row = dict(rows[int(i)])
        for f in extra:
            v = values[f][j]
            row[f] = round(float(v), 6) if f == "distance" else int(v)
        out.append(row)
    return out


def coverage(labels: list[str | None]) -> dict:
    """Distinct task categories among labelled rows and the entropy (bits) of their distribution."""
    from collections import Counter

    counts = Counter(x for x in labels if x)
    total = sum(counts.values())
    p = np.array(list(counts.values()), dtype=np.float64) / max(total, 1)
    entropy = float(-(p * np.log2(p)).sum()) if total else 0.0
    return {"categories": len(counts), "entropy_bits": entropy, "labelled": total}
