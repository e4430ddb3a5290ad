"""IEB's two tasks, declared as data; the metric code lives in :mod:`instemb.bench.metrics`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # "clustering" or "pair_similarity"
    files: tuple[str, ...]
    main_score: str
    description: str


CLUSTERING = Task(
    name="clustering",
    kind="clustering",
    files=("eft_test.json",),
    main_score="ari",
    description="k-means with k = number of categories on the instructions of eft_test.json; "
                "ARI, purity, homogeneity, completeness, v-measure, silhouette",
)
INTENTION_SIMILARITY = Task(
    name="intention_similarity",
    kind="pair_similarity",
    files=("intention_similarity_test.json",),
    main_score="spearman",
    description="Spearman between pair cosine and the 0/1 same-task label; ROC-AUC",
)
TASKS = (CLUSTERING, INTENTION_SIMILARITY)
SEEDS = (0, 1, 2, 3, 4)
