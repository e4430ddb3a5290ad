"""Scores for instruction clustering and pair similarity."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.stats import spearmanr
from sklearn import metrics
from sklearn.cluster import KMeans

CLUSTER_METRICS = ("ari", "purity", "homogeneity", "completeness", "v_measure", "silhouette")


def purity(labels_true, labels_pred) -> float:
    """Share of items whose cluster's majority class is their own class."""
    table = metrics.cluster.contingency_matrix(labels_true, labels_pred)
    return float(table.max(axis=0).sum() / table.sum())


def cluster_scores(labels_true, labels_pred, embeddings: np.ndarray) -> dict[str, float]:
    homogeneity, completeness, v = metrics.homogeneity_completeness_v_measure(labels_true, labels_pred)
    n_clusters = len(set(labels_pred))
    silhouette = (metrics.silhouette_score(embeddings, labels_pred)
                  if 1 < n_clusters < len(labels_pred) else float("nan"))
    return {
        "ari": float(metrics.adjusted_rand_score(labels_true, labels_pred)),
        "purity": purity(labels_true, labels_pred),
        "homogeneity": float(homogeneity),
        "completeness": float(completeness),
        "v_measure": float(v),
        "silhouette": float(silhouette),
    }


def kmeans_scores(embeddings: np.ndarray, labels: Sequence[str],
                  seeds: Sequence[int] = (0, 1, 2, 3, 4)) -> dict:
    """k-means with k = number of categories, once per seed; the first seed's scores at the top
    level, and mean / std over all seeds."""
    k = len(set(labels))
    per_seed = []
    for seed in seeds:
        pred = KMeans(n_clusters=k, n_init="auto", random_state=seed).fit_predict(embeddings)
        per_seed.append(cluster_scores(labels, pred, embeddings))
    result = dict(per_seed[0])
    result.update({
        "seed": seeds[0],
        "seeds": list(seeds),
        "mean": {m: float(np.mean([s[m] for s in per_seed])) for m in CLUSTER_METRICS},
        "std": {m: float(np.std([s[m] for s in per_seed])) for m in CLUSTER_METRICS},
        "n": len(labels),
        "k": k,
    })
    return result


def pair_scores(first: np.ndarray, second: np.ndarray, labels: Sequence[int]) -> dict:
    """Spearman and ROC-AUC of the pair cosine (rows are L2-normalised) against 0/1 labels."""
    cosine = np.einsum("ij,ij->i", first, second)
    labels = np.asarray(labels)
    return {
        "spearman": float(spearmanr(cosine, labels).statistic),
        "roc_auc": float(metrics.roc_auc_score(labels, cosine)),
        "n_pairs": int(len(labels)),
        "spearman_ceiling": spearman_ceiling(labels),
    }


def spearman_ceiling(labels: np.ndarray) -> float:
    """The best Spearman that distinct scores can reach against tied 0/1 labels: every
    positive above every negative."""
    labels = np.asarray(labels)
    perfect = labels * len(labels) + np.arange(len(labels))
    return float(spearmanr(perfect, labels).statistic)
