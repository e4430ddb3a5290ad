import numpy as np
import pytest

from instemb.bench import TASKS, run_benchmark
from instemb.bench.metrics import kmeans_scores, pair_scores, purity, spearman_ceiling
from instemb.cache import EmbeddingCache
from instemb.prompts import get_prompt


class OneHot:
    """A fake embedder that knows each text's category: a perfect instruction embedding."""

    name, pooling, dtype, kind = "one-hot", "none", "float32", "fake"
    prompt = get_prompt("none")

    def __init__(self, category_of):
        self.category_of = category_of
        cats = sorted(set(category_of.values()))
        self.index = {c: i for i, c in enumerate(cats)}
        self.calls = 0

    def cache_key(self):
        return "one-hot"

    def encode(self, texts, batch_size=32, show_progress_bar=None):
        self.calls += len(texts)
        out = np.zeros((len(texts), len(self.index)), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, self.index[self.category_of[t]]] = 1
        return out


def test_tasks_are_declared_as_data():
    assert [t.name for t in TASKS] == ["clustering", "intention_similarity"]
    assert [t.main_score for t in TASKS] == ["ari", "spearman"]


def test_purity():
    assert purity([0, 0, 1, 1], [0, 0, 0, 1]) == 0.75


def test_one_hot_scores_perfectly(ieb_dir):
    from instemb.data import ieb

    data = ieb.read_categories(ieb_dir / "eft_test.json")
    category_of = dict(zip(data.texts, data.labels))
    vecs = OneHot(category_of).encode(data.texts)
    result = kmeans_scores(vecs, [category_of[t] for t in data.texts], seeds=(0, 1))
    assert result["ari"] == pytest.approx(1.0)
    assert result["purity"] == pytest.approx(1.0) and result["k"] == len(set(category_of.values()))


def test_pair_scores_ceiling():
    labels = np.array([1, 1, 1, 0, 0])
    a = np.eye(5, dtype=np.float32)
    b = np.eye(5, dtype=np.float32) * labels[:, None]  # cosine 1 for positives, 0 for negatives
    s = pair_scores(a, b, labels)
    assert s["roc_auc"] == 1.0
    assert s["spearman"] == pytest.approx(1.0)  # ties in the score too
    assert spearman_ceiling(labels) < 1.0


def test_spearman_ceiling_of_ieb(ieb_dir):
    from instemb.data import ieb

    assert spearman_ceiling(np.array(ieb.read_pairs(ieb_dir / "intention_similarity_test.json").labels)) \
        == pytest.approx(0.848, abs=5e-4)


def test_cache_avoids_reembedding(tmp_path):
    fake = OneHot({"a": "x", "b": "y", "c": "x"})
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    first, computed = cache.encode(fake, ["a", "b", "a"])
    assert computed == 2 and fake.calls == 2
    second, computed = cache.encode(fake, ["c", "a", "b"])
    assert computed == 1 and fake.calls == 3
    np.testing.assert_array_equal(second[1:], first[:2])


def test_bench_result_schema(ieb_dir, tiny_bert, tokenizer):
    import instemb

    emb = instemb.from_model(tiny_bert, tokenizer, prompt="pie")
    result = run_benchmark(emb, data_dir=ieb_dir, seeds=(0, 1), limit=120)
    assert result["schema_version"] == 1 and result["prompt"] == "pie"
    assert set(result["clustering"]["mean"]) >= {"ari", "purity", "homogeneity", "silhouette"}
    assert -1 <= result["intention_similarity"]["spearman"] <= 1
