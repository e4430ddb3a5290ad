"""The two engines of instemb.tools.index (scikit-learn/numpy and FAISS) give the same results,
deterministically; select/demos/compress/map use them; the map samples large inputs."""

import json
import re

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from instemb.errors import InstembError
from instemb.tools import demos, index, select, taskmap
from test_tools import CHROMIUM, DATA, chromium_dom, cli, need, write_jsonl


def blobs(n_blobs=6, per=30, dim=16, seed=0, spread=0.3):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_blobs, dim)) * 5
    x = np.repeat(centers, per, axis=0) + rng.normal(size=(n_blobs * per, dim)) * spread
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), np.repeat(np.arange(n_blobs), per)


def unit(n, dim=24, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_engine_choice():
    assert index.engine_for(index.FAISS_MIN_ROWS - 1) == "sklearn"
    assert index.engine_for(index.FAISS_MIN_ROWS) == "faiss"
    assert index.engine_for(10, "faiss") == "faiss"
    with pytest.raises(InstembError, match="unknown engine 'annoy'"):
        index.engine_for(10, "annoy")


def test_kmeans_engines_agree_on_clustered_data():
    x, y = blobs(n_blobs=8, per=40)
    _, ref = index.kmeans(x, 8, seed=0, engine="sklearn")
    centroids, got = index.kmeans(x, 8, seed=0, engine="faiss")
    assert centroids.shape == (8, 16) and got.shape == (len(x),) and got.dtype == np.int64
    assert adjusted_rand_score(ref, got) == 1.0 and adjusted_rand_score(y, got) == 1.0
    assert np.array_equal(got, index.assign(x, centroids))


@pytest.mark.parametrize("plus_plus", [True, False])
def test_faiss_kmeans_deterministic_with_seed(monkeypatch, plus_plus):
    if not plus_plus:  # the random seeding used for very many clusters
        monkeypatch.setattr(index, "KMEANS_PP_LIMIT", 0)
    x, _ = blobs(n_blobs=10, per=50, spread=2.0, seed=3)  # overlapping: the seed matters
    a = index.kmeans(x, 12, seed=5, engine="faiss")
    b = index.kmeans(x, 12, seed=5, engine="faiss")
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    c = index.kmeans(x, 12, seed=6, engine="faiss")
    assert not np.array_equal(a[0], c[0])


def test_knn_faiss_equals_numpy():
    pool, queries = unit(500, seed=1), unit(60, seed=2)
    s_np, i_np = index.knn(queries, pool, 5, engine="sklearn")
    s_fa, i_fa = index.knn(queries, pool, 5, engine="faiss")
    assert np.array_equal(i_np, i_fa) and np.allclose(s_np, s_fa, atol=1e-5)
    s_np, i_np = index.knn(pool, pool, 4, exclude_self=True, engine="sklearn")
    s_fa, i_fa = index.knn(pool, pool, 4, exclude_self=True, engine="faiss")
    assert np.array_equal(i_np, i_fa) and np.allclose(s_np, s_fa, atol=1e-5)
    assert not np.any(i_fa == np.arange(len(pool))[:, None])
    idx, sims = demos.retrieve(queries, pool, 3, engine="faiss")  # (indices, scores) order
    ref_scores, ref_idx = index.knn(queries, pool, 3, engine="sklearn")
    assert np.array_equal(idx, ref_idx) and np.allclose(sims, ref_scores, atol=1e-5)
    with pytest.raises(InstembError, match="cannot retrieve 500"):
        index.knn(pool, pool, 500, exclude_self=True, engine="faiss")


def test_knn_ivf_is_close_to_exact_and_deterministic():
    pool, _ = blobs(n_blobs=20, per=100, dim=32, spread=1.0, seed=8)
    queries = pool[::10]
    _, exact = index.knn(queries, pool, 4, engine="faiss", exact=True)
    _, approx = index.knn(queries, pool, 4, engine="faiss", exact=False, nprobe=4)
    recall = np.mean([len(set(a) & set(b)) / 4 for a, b in zip(exact, approx)])
    assert recall > 0.9, recall
    assert np.array_equal(approx, index.knn(queries, pool, 4, engine="faiss", exact=False, nprobe=4)[1])
    _, own = index.knn(pool, pool, 3, exclude_self=True, engine="faiss", exact=False)
    assert not np.any(own == np.arange(len(pool))[:, None])


def test_knn_exclude_self_with_duplicate_rows():
    pool = np.repeat(unit(20, seed=4), 3, axis=0)  # every row three times
    _, idx = index.knn(pool, pool, 2, exclude_self=True, engine="faiss")
    assert not np.any(idx == np.arange(len(pool))[:, None])
    assert np.all(idx // 3 == np.arange(len(pool))[:, None] // 3)  # its two copies


def test_select_with_faiss_engine():
    x, y = blobs(n_blobs=6, per=30)
    sel = select.select(x, 6, "kmeans", seed=0, engine="faiss")
    assert len(set(sel.indices)) == 6 and sorted(y[sel.indices]) == list(range(6))
    assert sel.cluster_size.sum() == len(x)
    ref = select.select(x, 6, "kmeans", seed=0, engine="sklearn")
    assert np.array_equal(np.sort(sel.indices), np.sort(ref.indices))  # same nearest rows
    many = select.select(unit(400, seed=7), 50, "kmeans", seed=1, engine="faiss")
    assert len(set(many.indices)) == 50 and many.cluster_size.sum() == 400


def test_nearest_members_matches_the_loop():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, size=300)
    dist = rng.integers(0, 5, size=300).astype(np.float32)  # many ties
    rows, clusters = index.nearest_members(dist, labels)
    loop = [np.flatnonzero(labels == c)[np.argmin(dist[labels == c])] for c in range(7)]
    assert list(clusters) == list(range(7)) and list(rows) == loop


def test_kcenter_pruned_equals_plain_greedy():
    x = np.concatenate([blobs(n_blobs=12, per=25, spread=0.5, seed=2)[0], unit(100, 16, 9)])
    x = np.concatenate([x, x[:40]])  # duplicates
    for k in (1, 30, 120):
        plain = index.kcenter(x, k, seed=4, engine="sklearn")
        pruned = index.kcenter(x, k, seed=4, engine="faiss")
        assert np.array_equal(plain[0], pruned[0])
        assert np.allclose(plain[2], pruned[2], atol=1e-3)
        assert np.array_equal(plain[1], pruned[1])
    dup = np.repeat(unit(5, seed=1), 4, axis=0)  # only 5 distinct rows: stops at 5
    assert len(index.kcenter(dup, 12, engine="faiss")[0]) == 5


def test_kcenter_sample_above_max_rows():
    x, y = blobs(n_blobs=8, per=50, spread=0.2, seed=5)
    centres, labels, radius = index.kcenter(x, 8, seed=0, engine="faiss", max_rows=100)
    assert len(set(centres)) == 8 and labels.shape == (400,) and radius[0] == 0
    assert np.array_equal(labels, index.assign(x, x[centres]))
    again = index.kcenter(x, 8, seed=0, engine="faiss", max_rows=100)
    assert np.array_equal(centres, again[0])
    sel = select.select(x, 8, "kcenter", seed=0, engine="faiss")
    assert sel.cluster_size.sum() == 400 and len(set(sel.indices)) == 8


def test_sample_rows():
    assert np.array_equal(taskmap.sample_rows(10, 20), np.arange(10))
    s = taskmap.sample_rows(1000, 50, seed=3)
    assert len(s) == 50 == len(set(s)) and np.all(np.diff(s) > 0)
    assert np.array_equal(s, taskmap.sample_rows(1000, 50, seed=3))


def test_map_samples_points_but_counts_all_rows(tmp_path):
    from instemb.data.io import read_rows

    rows = read_rows(need(DATA / "stanford-alpaca" / "alpaca_5000.json"))[:120]
    src = write_jsonl(tmp_path / "a.jsonl", rows)
    out = tmp_path / "map.html"
    res = cli("map", src, "-o", out, "--clusters", 4, "--max-points", 50, "--no-labels",
              "--engine", "faiss", "--model", "minilm")
    assert "random sample of 50 of 120" in res.output
    html = out.read_text()
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>',
                                html, re.S).group(1))
    assert len(data["t"]) == 50 and data["total"] == 120
    assert sum(c["size"] for c in data["clusters"]) == 120 and len(data["clusters"]) == 4
    assert set(data["t"]) <= {r["instruction"] for r in rows}
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed")
    body = chromium_dom(out)
    assert 'data-points="50"' in body and 'data-total="120"' in body and 'data-errors="0"' in body
