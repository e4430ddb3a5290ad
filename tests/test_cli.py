"""The command as a user runs it: real subprocesses, packaged MiniLM, a few hundred IEB rows."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest


def run(*args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "instemb.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def assert_clean_error(proc, fragment):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("instemb: error:"), proc.stderr
    assert fragment in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("content,name,fragment", [
    ('{"instruction": "a"}\nnot json\n', "in.jsonl", "in.jsonl:2: malformed JSON line"),
    ('{"text": "a"}\n', "in.jsonl", "no field 'instruction'"),
    ('{"instruction": "  "}\n', "in.jsonl", "is empty"),
    ("", "in.txt", "file is empty"),
])
def test_embed_bad_input(tmp_path, content, name, fragment):
    (tmp_path / name).write_text(content)
    out = tmp_path / "out.npy"
    proc = run("embed", str(tmp_path / name), "-o", str(out))
    assert_clean_error(proc, fragment)
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / name]


def test_embed_bad_model_and_output(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("Write a poem\n")
    assert_clean_error(run("embed", str(src), "-o", str(tmp_path / "no" / "x.npy")), "does not exist")
    assert_clean_error(run("embed", str(src), "-o", str(tmp_path / "x.npy"), "--model",
                           "no-such-alias"), "unknown model")
    assert_clean_error(run("embed", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "x.npy")),
                       "no such file")
    assert not (tmp_path / "x.npy").exists()


def test_models_lists_aliases():
    proc = run("models")
    assert proc.returncode == 0 and "minilm" in proc.stdout and "smollm2-135m" in proc.stdout


def test_embed_writes_array_in_input_order(tmp_path, ieb_dir):
    import instemb

    rows = json.loads((ieb_dir / "intention_similarity_test.json").read_text())[:40]
    texts = [r["instruction1"] for r in rows]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "instruction": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "out.npy"
    proc = run("embed", str(src), "-o", str(out), "--dtype", "float32")  # the default model
    assert proc.returncode == 0, proc.stderr
    got = np.load(out)
    assert got.shape == (40, 384) and got.dtype == np.float32
    want = instemb.load(dtype="float32").encode(texts)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_bench_on_a_few_hundred_rows(tmp_path, ieb_dir):
    out = tmp_path / "r.json"
    args = ("bench", "--model", "minilm", "--prompt", "none", "--data-dir", str(ieb_dir),
            "--limit", "300", "--seeds", "2", "-o", str(out))
    proc = run(*args)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert {"model", "prompt", "pooling", "clustering", "intention_similarity", "schema_version"} <= set(result)
    assert result["clustering"]["n"] == 300
    # MiniLM separates these tasks far better than chance on a 300-row slice
    assert result["clustering"]["ari"] > 0.3
    assert result["intention_similarity"]["spearman"] > 0.6
    again = run(*args)  # the embedding cache answers the second run
    assert again.returncode == 0
    assert json.loads(out.read_text())["clustering"]["embedded"] == 0


def test_shipped_default_model(ieb_dir):
    """The packaged model: fp16 safetensors under 50 MB, and more task-focused than its base."""
    from scipy.stats import spearmanr

    import instemb
    from instemb.models.registry import DEFAULT_MODEL, SHIPPED

    assert DEFAULT_MODEL == "instemb"
    weights = SHIPPED / "model.safetensors"
    assert weights.stat().st_size < 50_000_000
    from safetensors import safe_open

    with safe_open(str(weights), "pt") as f:
        assert all(str(f.get_slice(k).get_dtype()) == "F16" for k in f.keys())
    # stored in fp16, computed in fp32: plain sentence-transformers follows config.json, and fp16
    # matmuls on CPU are several times slower
    assert json.loads((SHIPPED / "config.json").read_text())["dtype"] == "float32"
    pairs = json.loads((ieb_dir / "intention_similarity_test.json").read_text())[:300]
    labels = [p["label"] for p in pairs]
    scores = {}
    for name in ("instemb", "minilm"):
        emb = instemb.load(name)
        a = emb.encode([p["instruction1"] for p in pairs])
        b = emb.encode([p["instruction2"] for p in pairs])
        scores[name] = spearmanr((a * b).sum(1), labels).statistic
    assert scores["instemb"] > scores["minilm"] + 0.03, scores
