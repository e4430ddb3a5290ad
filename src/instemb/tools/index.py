"""k-means, k-center and k-nearest-neighbour search over embeddings, on two engines.

One interface, two engines:

- ``"sklearn"``: scikit-learn ``KMeans`` (k-means++, ``n_init="auto"``), greedy k-center in
  numpy and brute-force cosine top-k in numpy: the reference, exact, fine up to tens of
  thousands of rows.
- ``"faiss"``: FAISS (``faiss-cpu``). k-means: ``faiss.Kmeans`` (k-means++ seeding, ``niter``
  Lloyd iterations on a seeded subsample of at most 256 rows per cluster, then every row
  assigned to its nearest centroid exactly); k-NN: exact brute-force inner product
  (``faiss.knn``, the same result as numpy, without an index copy of the pool) or, for very
  large query x pool products, an IVF index (approximate); k-center: see :func:`kcenter`.
- ``"auto"`` (the default): scikit-learn/numpy below ``FAISS_MIN_ROWS`` rows, FAISS from there
  on, so small inputs give exactly the results they always gave.

Embeddings are L2-normalised, so Euclidean k-means and cosine (inner product) search agree
on what "near" means. Every engine is deterministic for a given seed and thread count.
"""

from __future__ import annotations

import numpy as np

from instemb.errors import InstembError

ENGINES = ("auto", "sklearn", "faiss")
# From 50,000 rows on "auto" uses FAISS. Measured on IEB's 20,814 real embeddings (2 busy
# cores): scikit-learn KMeans (k-means++, run to convergence) 44 s for 100 clusters, 165 s for
# 500; FAISS 10 s and 14 s, with a 3-10 % higher mean squared distance (20 iterations). Below
# the threshold scikit-learn's better optimum is worth its time, and the results of the tests
# and README figures (all under 20,000 rows) stay exactly as they were; above it scikit-learn
# grows to many minutes.
FAISS_MIN_ROWS = 50_000
# FAISS k-means trains on at most this many rows in all (but 16..256 per cluster): the cost of
# an iteration is train_rows x k x dim, and the final assignment of all rows is exact. Seeding
# is k-means++ (O(train_rows x k x dim), sequential over the k centroids; on the real set it
# lowers the final mean squared distance by 3 % against random seeding) while train_rows x k
# stays within KMEANS_PP_LIMIT (k = 1,000 on 256,000 rows), else random rows (FAISS's default).
KMEANS_TRAIN_ROWS = 256_000
KMEANS_PP_LIMIT = 300_000_000
# k-center above this many rows runs on a seeded sample of this size (see kcenter()). The
# greedy makes one pass over the rows per centre: 2,000 centres over IEB's 20,814 real
# embeddings took 52 s on 2 busy cores (58 s without pruning, same centres), so 10,000 centres
# over 50,000 rows take minutes; over a million rows they would take hours.
KCENTER_MAX_ROWS = 50_000
# FAISS k-NN searches exactly up to this many query x pool pairs (10,000 queries x 200,000 rows,
# 1.5e12 flops at dim 384: 10-20 s on 2 cores), approximately (IVF) beyond.
KNN_EXACT_PAIRS = 2_000_000_000


def engine_for(n: int, engine: str = "auto") -> str:
    if engine not in ENGINES:
        raise InstembError(f"unknown engine {engine!r}: use {', '.join(ENGINES)}")
    if engine == "auto":
        return "faiss" if n >= FAISS_MIN_ROWS else "sklearn"
    return engine


def _as_matrix(x, what: str = "embeddings") -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise InstembError(f"{what} must be a non-empty (n, dim) array")
    return x


def _faiss_seed(seed: int) -> int:
    return int(seed) % (2**31 - 1)  # FAISS takes a C int; negative means "from the clock"


def kmeans(emb, k: int, seed: int = 0, engine: str = "auto", niter: int = 20,
           train_rows: int = KMEANS_TRAIN_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """(centroids (k, dim) float32, labels (n,) int64): k-means with k clusters. FAISS trains on
    a seeded sample of about ``train_rows`` rows (16 to 256 per cluster) for ``niter`` Lloyd
    iterations after k-means++ seeding (random seeding for very large k, see
    ``KMEANS_PP_LIMIT``); every row is then assigned exactly."""
    emb = _as_matrix(emb)
    if not 1 <= k <= len(emb):
        raise InstembError(f"cannot make {k} clusters of {len(emb)} rows")
    if engine_for(len(emb), engine) == "sklearn":
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=k, random_state=seed, n_init="auto").fit(emb)
        return km.cluster_centers_.astype(np.float32), km.labels_.astype(np.int64)
    import faiss

    per_centroid = int(np.clip(train_rows // k, 16, 256))
    plus_plus = min(len(emb), per_centroid * k) * k <= KMEANS_PP_LIMIT
    km = faiss.Kmeans(emb.shape[1], k, niter=niter, seed=_faiss_seed(seed), verbose=False,
                      max_points_per_centroid=per_centroid, min_points_per_centroid=1,
                      init_method=faiss.ClusteringInitMethod_KMEANS_PLUS_PLUS if plus_plus
                      else faiss.ClusteringInitMethod_RANDOM)
    km.train(emb)
    return km.centroids, assign(emb, km.centroids)


def assign(emb, centroids) -> np.ndarray:
    """Each row's nearest centroid (Euclidean), exact, with FAISS."""
    import faiss

    _, labels = faiss.knn(_as_matrix(emb), _as_matrix(centroids, "centroids"), 1)
    return labels[:, 0]


def row_distances(emb, centroids, labels, block: int = 65536) -> np.ndarray:
    """Euclidean distance of every row to its own centroid, in blocks (no (n, dim) copy)."""
    out = np.empty(len(emb), dtype=np.float32)
    for s in range(0, len(emb), block):
        out[s:s + block] = np.linalg.norm(emb[s:s + block] - centroids[labels[s:s + block]], axis=1)
    return out


def nearest_members(dist: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, clusters): per non-empty cluster, its row with the smallest ``dist`` (ties: the
    lowest row number), ordered by cluster id. O(n log n), not O(n k)."""
    order = np.lexsort((np.arange(len(labels)), dist, labels))
    first = np.ones(len(order), dtype=bool)
    first[1:] = labels[order[1:]] != labels[order[:-1]]
    return order[first], labels[order[first]]


def kcenter(emb, k: int, seed: int = 0, engine: str = "auto", max_rows: int = KCENTER_MAX_ROWS
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy farthest-first traversal: (centres, labels, radius).

    ``centres`` (m <= k,) row numbers in the order chosen (stops early when only duplicates are
    left); ``labels`` (n,) index into ``centres`` of each row's nearest centre; ``radius`` (m,)
    distance from each centre to the nearest centre chosen before it (0 for the first).

    ``"sklearn"``: the plain greedy on every row (one pass over all rows per centre, O(n k d)).
    ``"faiss"``: the same greedy, exact, but a centre only revisits the rows owned by centres
    within twice their owner's radius (triangle inequality), on at most ``max(max_rows, k)``
    rows: a larger input runs on a seeded random sample of that many rows (the greedy is
    sequential, about one pass over the rows per centre: k = 10,000 over a million rows would
    read 1.5 GB 10,000 times) and then every row is assigned to its nearest centre with FAISS.
    So above ``max_rows`` rows it covers the sample, not every outlier of the full set."""
    emb = _as_matrix(emb)
    if not 1 <= k <= len(emb):
        raise InstembError(f"cannot choose {k} centres out of {len(emb)} rows")
    rng = np.random.default_rng(seed)
    if engine_for(len(emb), engine) == "sklearn":
        return _kcenter_plain(emb, k, int(rng.integers(len(emb))))
    max_rows = max(max_rows, k)
    if len(emb) > max_rows:
        sample = np.sort(rng.choice(len(emb), size=max_rows, replace=False))
        centres, _, radius = _kcenter_pruned(emb[sample], k, int(rng.integers(max_rows)))
        centres = sample[centres]
        return centres, assign(emb, emb[centres]), radius
    return _kcenter_pruned(emb, k, int(rng.integers(len(emb))))


def _kcenter_plain(emb, k, first):
    nearest = np.linalg.norm(emb - emb[first], axis=1)
    owner = np.zeros(len(emb), dtype=np.int64)
    centres, radius = [first], [0.0]
    for c in range(1, k):
        far = int(np.argmax(nearest))
        if nearest[far] <= 0:  # only duplicates left
            break
        centres.append(far)
        radius.append(float(nearest[far]))
        d = np.linalg.norm(emb - emb[far], axis=1)
        closer = d < nearest
        nearest[closer] = d[closer]
        owner[closer] = c
    return np.array(centres), owner, np.array(radius)


def _kcenter_pruned(emb, k, first):
    """The greedy with squared distances from one matrix-vector product per centre, restricted
    to the groups (rows owned by one centre) that the new centre can reach: a row x owned by
    centre o can only move to the new centre c if d(o, c) < 2 d(x, o). Squared distances
    below 1e-6 of the largest squared norm count as 0 (duplicates; float32 rounding)."""
    from tqdm.auto import tqdm

    sq = np.einsum("ij,ij->i", emb, emb)
    tol = 1e-6 * float(sq.max())

    def sqdist(rows, point_sq, point):
        d = sq[rows] + point_sq - 2 * (emb[rows] @ point)
        d[d < tol] = 0
        return d

    everything = slice(None)
    nearest = sqdist(everything, sq[first], emb[first])
    owner = np.zeros(len(emb), dtype=np.int64)
    chosen = np.zeros((k, emb.shape[1]), dtype=np.float32)  # centre vectors, filled in order
    chosen[0] = emb[first]
    chosen_sq = np.zeros(k, dtype=np.float32)
    chosen_sq[0] = sq[first]
    reach = np.zeros(k, dtype=np.float32)  # per centre: largest distance of a row it owns
    reach[0] = np.sqrt(nearest.max())
    in_group = np.zeros(k, dtype=bool)
    centres, radius = [first], [0.0]
    for c in tqdm(range(1, k), desc="k-center", disable=k < 2000 or len(emb) < 50_000):
        far = int(np.argmax(nearest))
        if nearest[far] <= 0:  # only duplicates left
            break
        point = emb[far]
        centres.append(far)
        radius.append(float(np.sqrt(nearest[far])))
        chosen[c], chosen_sq[c] = point, sq[far]
        gap = np.sqrt(np.maximum(chosen_sq[:c] + sq[far] - 2 * (chosen[:c] @ point), 0))
        groups = np.flatnonzero(gap < 2 * reach[:c] * (1 + 1e-3) + 1e-3)  # margin: rounding
        rows = everything
        if len(groups) < c:
            in_group[groups] = True
            reached = np.flatnonzero(in_group[owner])
            in_group[groups] = False
            if len(reached) < len(emb) // 3:  # else one pass over all rows is cheaper than a gather
                rows = reached
        d, old = sqdist(rows, sq[far], point), nearest[rows]
        closer = d < old
        new_near, new_owner = np.where(closer, d, old), np.where(closer, c, owner[rows])
        nearest[rows], owner[rows] = new_near, new_owner
        reach[groups], reach[c] = 0, 0
        np.maximum.at(reach, new_owner, np.sqrt(new_near))  # exact for every touched group
    return np.array(centres), owner, np.array(radius)


def knn(queries, pool, k: int, exclude_self: bool = False, engine: str = "auto",
        batch: int = 1024, exact: bool | None = None, nprobe: int = 16, seed: int = 0
        ) -> tuple[np.ndarray, np.ndarray]:
    """(scores (nq, k) float32, indices (nq, k) int64): the k pool rows with the largest inner
    product (cosine, for normalised rows) per query, best first; ties: the lower row first.
    ``exclude_self``: the queries are the pool; row i never retrieves itself.

    The FAISS engine searches exactly (brute force, ``faiss.knn``) unless ``exact=False`` or,
    with ``exact=None``, queries x pool rows exceed ``KNN_EXACT_PAIRS``: then an inverted-file
    index (:func:`ivf_index`), which scans the ``nprobe`` cells nearest each query: approximate,
    much faster on large pools."""
    queries, pool = _as_matrix(queries, "queries"), _as_matrix(pool, "pool")
    if queries.shape[1] != pool.shape[1]:
        raise InstembError(f"query and pool embeddings differ in shape: {queries.shape} vs {pool.shape}")
    if exclude_self and len(queries) != len(pool):
        raise InstembError("exclude_self needs the queries to be the pool")
    avail = len(pool) - (1 if exclude_self else 0)
    if not 1 <= k <= avail:
        raise InstembError(f"cannot retrieve {k} neighbours from a pool of {avail}")
    if engine_for(len(pool), engine) == "sklearn":
        return _knn_numpy(queries, pool, k, exclude_self, batch)
    import faiss

    want = k + (1 if exclude_self else 0)
    if exact is None:
        exact = len(queries) * len(pool) <= KNN_EXACT_PAIRS
    if exact:
        scores, idx = faiss.knn(queries, pool, want, metric=faiss.METRIC_INNER_PRODUCT)
    else:
        ivf = ivf_index(pool, seed=seed)
        ivf.nprobe = nprobe
        scores, idx = ivf.search(queries, want)
        short = np.flatnonzero((idx < 0).any(1))  # cells too small to fill k: search exactly
        if len(short):
            scores[short], idx[short] = faiss.knn(queries[short], pool, want,
                                                  metric=faiss.METRIC_INNER_PRODUCT)
    if exclude_self:  # drop the row itself (or, if ties pushed it out, the last one)
        own = idx == np.arange(len(queries))[:, None]
        own[~own.any(1), -1] = True
        scores, idx = scores[~own].reshape(-1, k), idx[~own].reshape(-1, k)
    order = np.lexsort((idx, -scores), axis=1)
    return np.take_along_axis(scores, order, 1), np.take_along_axis(idx, order, 1)


def ivf_index(pool, seed: int = 0, nlist: int | None = None):
    """A FAISS inverted-file index over ``pool`` (inner product): k-means cells (about
    sqrt(n) of them, seeded, 10 iterations on at most 64 rows per cell), each row stored in full
    in its cell's list."""
    import faiss

    pool = _as_matrix(pool, "pool")
    nlist = nlist or int(np.clip(np.sqrt(len(pool)), 1, 4096))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(pool.shape[1]), pool.shape[1], nlist,
                             faiss.METRIC_INNER_PRODUCT)
    ivf.cp.seed, ivf.cp.niter = _faiss_seed(seed), 10
    ivf.cp.max_points_per_centroid, ivf.cp.min_points_per_centroid = 64, 1
    ivf.train(pool)
    ivf.add(pool)
    return ivf


def _knn_numpy(queries, pool, k, exclude_self, batch):
    idx = np.zeros((len(queries), k), dtype=np.int64)
    sims = np.zeros((len(queries), k), dtype=np.float32)
    for s in range(0, len(queries), batch):
        sim = queries[s:s + batch] @ pool.T
        if exclude_self:
            sim[np.arange(len(sim)), np.arange(s, s + len(sim))] = -np.inf
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        psim = np.take_along_axis(sim, part, 1)
        order = np.lexsort((part, -psim), axis=1)  # best first; ties: lower row first
        idx[s:s + len(sim)] = np.take_along_axis(part, order, 1)
        sims[s:s + len(sim)] = np.take_along_axis(psim, order, 1)
    return sims, idx
