"""Test-set compression: K representative rows with weights, so that a weighted score on the
subset estimates the score on the full set.

k-means with K clusters; each cluster is represented by its row nearest the centroid, weighted
by the cluster's size (``weight`` sums to n; ``weight_share`` sums to 1). A full-set metric that
averages per-row scores is then estimated by ``sum(weight_share * score)`` over the subset.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from instemb.tools.select import Selection, check_fields, kmeans_select

ADDED_FIELDS = ("cluster", "weight", "weight_share")


def compress(emb: np.ndarray, k: int, seed: int = 0, engine: str = "auto") -> Selection:
    """The k-means representatives; ``Selection.cluster_size`` is each one's weight.
    ``engine``: see :mod:`instemb.tools.index` (FAISS for large inputs under "auto")."""
    return kmeans_select(emb, k, seed=seed, engine=engine)


def weighted_rows(rows: list[dict], sel: Selection) -> list[dict]:
    """Chosen rows (input order) with every original field plus cluster, weight, weight_share."""
    check_fields([rows[int(i)] for i in sel.indices], ADDED_FIELDS)
    total = float(sel.cluster_size.sum())
    out = []
    for i, c, w in zip(sel.indices, sel.cluster, sel.cluster_size):
        row = dict(rows[int(i)])
        row.update(cluster=int(c), weight=int(w), weight_share=round(float(w) / total, 8))
        out.append(row)
    return out


def label_distribution(labels, weights=None) -> dict:
    weights = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=np.float64)
    acc: Counter = Counter()
    for lab, w in zip(labels, weights):
        acc[lab] += float(w)
    total = sum(acc.values())
    return {lab: v / total for lab, v in acc.items()}


def tvd(p: dict, q: dict) -> float:
    """Total variation distance between two label distributions: half the L1 distance."""
    return 0.5 * sum(abs(p.get(x, 0.0) - q.get(x, 0.0)) for x in set(p) | set(q))


def subset_tvd(labels, indices, weights=None) -> float:
    """TVD between the (weighted) label distribution of ``indices`` and the full set's."""
    labels = list(labels)
    sub = [labels[int(i)] for i in indices]
    return tvd(label_distribution(sub, weights), label_distribution(labels))
