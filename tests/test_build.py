import json

import pytest

pytest.importorskip("nltk")


@pytest.fixture(autouse=True)
def _wordnet_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("INSTEMB_CACHE", str(tmp_path_factory.getbasetemp() / "wn-cache"))


def rows():
    out = []
    for task in ("compute|value", "calculate|value", "write|poem", "write|story", "sort|list", "rare|thing"):
        n = 1 if task == "rare|thing" else 6
        out += [{"instruction": f"{task} request number {i}", "task": task, "output": "x"} for i in range(n)]
    return out


def test_build_merges_synonyms_drops_rare_and_bench_reads_it(tmp_path, tiny_bert, tokenizer):
    import instemb
    from instemb.bench import run_benchmark
    from instemb.bench.build import build

    stats = build(rows(), tmp_path / "bench", min_count=3, n_pairs=60, seed=0)
    clustering = json.loads((tmp_path / "bench/eft_test.json").read_text())
    assert set(clustering) == {"calculate|value##compute|value", "write|poem", "write|story", "sort|list"}
    assert clustering["calculate|value##compute|value"]["number"] == 12
    assert clustering["write|poem"]["samples"][0]["output"] == "x"
    pairs = json.loads((tmp_path / "bench/intention_similarity_test.json").read_text())
    assert len(pairs) == 60 and stats["positives"] == 36 and stats["hard_negatives"] > 0
    key_of = {"|".join(s["category"]): k for k, c in clustering.items() for s in c["samples"]}
    for p in pairs:
        assert p["label"] == int(key_of[p["intention1"]] == key_of[p["intention2"]])
    result = run_benchmark(instemb.from_model(tiny_bert, tokenizer), data_dir=tmp_path / "bench", seeds=(0,))
    assert result["clustering"]["k"] == 4 and result["intention_similarity"]["n_pairs"] == 60


def test_build_refuses_too_few_categories(tmp_path):
    from instemb import InstembError
    from instemb.bench.build import build

    with pytest.raises(InstembError, match="fewer than two categories"):
        build(rows(), tmp_path / "b", min_count=20)
    assert not (tmp_path / "b").exists()
