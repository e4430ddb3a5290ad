"""Run IEB's tasks for one embedder and collect the results in one JSON-ready dict."""

from __future__ import annotations

import time


from instemb import __version__
from instemb.bench import metrics
from instemb.bench.tasks import SEEDS, TASKS, Task
from instemb.cache import EmbeddingCache
from instemb.data import ieb

SCHEMA_VERSION = 1


def _encode(embedder, texts, cache, batch_size, show_progress_bar):
    if cache is None:
        return embedder.encode(texts, batch_size=batch_size, show_progress_bar=show_progress_bar), len(texts)
    return cache.encode(embedder, texts, batch_size=batch_size, show_progress_bar=show_progress_bar)


def run_task(task: Task, embedder, data_dir=None, cache: EmbeddingCache | None = None,
             seeds=SEEDS, batch_size: int = 32, show_progress_bar: bool | None = None,
             limit: int | None = None) -> dict:
    """Scores of one task; ``limit`` keeps the first rows only (for quick checks)."""
    path = ieb.locate(task.files[0], data_dir)
    start = time.perf_counter()
    if task.kind == "clustering":
        data = ieb.read_categories(path)
        texts, labels = data.texts[:limit], data.labels[:limit]
        vectors, computed = _encode(embedder, texts, cache, batch_size, show_progress_bar)
        result = metrics.kmeans_scores(vectors, labels, seeds)
    elif task.kind == "pair_similarity":
        pairs = ieb.read_pairs(path)
        first, second, labels = pairs.first[:limit], pairs.second[:limit], pairs.labels[:limit]
        vectors, computed = _encode(embedder, first + second, cache, batch_size, show_progress_bar)
        result = metrics.pair_scores(vectors[:len(first)], vectors[len(first):], labels)
    else:  # a Task declared with a kind nobody implemented
        raise ValueError(f"unknown task kind {task.kind!r}")
    result["main_score"] = task.main_score
    result["embedded"] = computed
    result["seconds"] = round(time.perf_counter() - start, 2)
    return result


def run_benchmark(embedder, data_dir=None, cache: EmbeddingCache | None = None,
                  seeds=SEEDS, batch_size: int = 32, show_progress_bar: bool | None = None,
                  limit: int | None = None, tasks=TASKS) -> dict:
    """Both IEB tasks: ``{"schema_version", "model", "prompt", "pooling", <task name>: {...}}``."""
    out = {
        "schema_version": SCHEMA_VERSION,
        "instemb_version": __version__,
        "model": embedder.name,
        "prompt": embedder.prompt.name,
        "prompt_template": embedder.prompt.template,
        "pooling": embedder.pooling,
        "dtype": embedder.dtype,
        "data_dir": str(data_dir) if data_dir else None,
        "limit": limit,
    }
    for task in tasks:
        out[task.name] = run_task(task, embedder, data_dir, cache, seeds, batch_size,
                                  show_progress_bar, limit)
    return out


def summary_rows(result: dict) -> list[tuple[str, str, str]]:
    """(task, metric, value) rows for a printed table: seed-0 value and mean ± std."""
    rows = []
    c = result.get("clustering")
    if c:
        for m in metrics.CLUSTER_METRICS:
            rows.append(("clustering", m + (" *" if m == c["main_score"] else ""),
                         f"{c[m]:.3f}   ({c['mean'][m]:.3f} ± {c['std'][m]:.3f})"))
    s = result.get("intention_similarity")
    if s:
        rows.append(("intention_similarity", "spearman *",
                     f"{s['spearman']:.3f}   (ceiling {s['spearman_ceiling']:.3f})"))
        rows.append(("intention_similarity", "roc_auc", f"{s['roc_auc']:.3f}"))
    return rows


__all__ = ["SCHEMA_VERSION", "run_benchmark", "run_task", "summary_rows"]
