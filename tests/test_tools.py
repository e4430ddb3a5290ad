"""Downstream tools: selection, demonstrations, compression, correlation, task map.

Library functions on synthetic arrays (no model); commands in-process on small slices of the
real data in ../shared/data with the packaged MiniLM; bad input through the real CLI."""

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from instemb.errors import InstembError
from instemb.tools import compress, correlate, demos, select, taskmap

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CHROMIUM = Path("/usr/bin/chromium")


def blobs(n_blobs=6, per=20, dim=16, seed=0):
    """Well separated unit-norm clusters; labels = blob id."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_blobs, dim)) * 5
    x = np.repeat(centers, per, axis=0) + rng.normal(size=(n_blobs * per, dim)) * 0.3
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), np.repeat(np.arange(n_blobs), per)


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def ieb_rows(n_cats=10, per=10):
    """The first `per` rows of the first `n_cats` eft_test categories with at least `per` rows."""
    from instemb.data.io import read_rows

    rows = read_rows(need(DATA / "instruction-embedding-benchmark" / "eft_test.json"))
    by_cat = {}
    for r in rows:
        by_cat.setdefault(r["category"], []).append(r)
    cats = [c for c, rs in by_cat.items() if len(rs) >= per][:n_cats]
    return [r for c in cats for r in by_cat[c][:per]]


def cli(*args):
    """In-process `instemb ...`; an InstembError propagates (the real CLI turns it into exit 2)."""
    from typer.testing import CliRunner

    from instemb.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "instemb.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def assert_clean_error(proc, fragment, out: Path):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("instemb: error:"), proc.stderr
    assert fragment in lines[0], lines[0]
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}*")), "temporary file left behind"


# --- library: selection -------------------------------------------------------------------

def test_kmeans_select_one_per_blob_and_deterministic():
    x, y = blobs()
    sel = select.select(x, 6, "kmeans", seed=3)
    assert sorted(y[sel.indices]) == list(range(6))  # every task exactly once
    assert list(sel.indices) == sorted(sel.indices)
    assert sel.cluster_size.sum() == len(x) and sorted(sel.cluster) == list(range(6))
    assert np.all(sel.distance >= 0)
    again = select.select(x, 6, "kmeans", seed=3)
    assert np.array_equal(sel.indices, again.indices)


def test_kcenter_select_covers_blobs():
    x, y = blobs(n_blobs=8, per=15)
    sel = select.select(x, 8, "kcenter", seed=1)
    assert len(set(y[sel.indices])) == 8
    assert sel.cluster_size.sum() == len(x)
    assert sorted(sel.distance)[0] == 0.0 and (sel.distance > 0).sum() == 7
    assert np.array_equal(sel.indices, select.select(x, 8, "kcenter", seed=1).indices)


def test_select_rejects_bad_k_and_method():
    x, _ = blobs(n_blobs=2, per=3)
    with pytest.raises(InstembError, match="cannot choose 7 rows out of 6"):
        select.select(x, 7)
    with pytest.raises(InstembError, match="unknown selection method"):
        select.select(x, 2, "dbscan")


def test_coverage_counts_and_entropy():
    cov = select.coverage(["a|b", "a|b", "c|d", None, "e|f", "e|f"])
    assert cov["categories"] == 3 and cov["labelled"] == 5
    p = np.array([2, 1, 2]) / 5
    assert cov["entropy_bits"] == pytest.approx(-(p * np.log2(p)).sum())


# --- library: demonstrations --------------------------------------------------------------

def test_retrieve_matches_brute_force_and_excludes_self():
    x, y = blobs(n_blobs=5, per=12, seed=2)
    idx, sims = demos.retrieve(x, x, 4, exclude_self=True)
    assert not np.any(idx == np.arange(len(x))[:, None])
    assert np.all(np.diff(sims, axis=1) <= 1e-6)  # best first
    full = x @ x.T
    np.fill_diagonal(full, -np.inf)
    assert np.allclose(sims, -np.sort(-full, axis=1)[:, :4], atol=1e-5)
    assert demos.task_match(y, y, idx) == 1.0
    with pytest.raises(InstembError, match="cannot retrieve 60"):
        demos.retrieve(x, x, 60, exclude_self=True)


def test_fewshot_prompt_alpaca_template():
    demo = {"instruction": "Outline the steps to bake bread.",
            "input": "Outline the steps to bake bread. ", "output": "1. Mix. 2. Bake."}
    query = {"instruction": "Translate to French.", "input": "Good morning"}
    text = demos.fewshot_prompt(query, [demo])
    blocks = text.split("\n\nBelow is an instruction")
    assert len(blocks) == 2
    assert "### Input" not in blocks[0]  # IEB input that only repeats the instruction
    assert blocks[0].endswith("### Response:\n1. Mix. 2. Bake.")
    assert "### Input:\nGood morning\n\n### Response:\n" in blocks[1]
    assert text.endswith("### Response:\n")


# --- library: compression -----------------------------------------------------------------

def test_compress_weights_track_label_distribution():
    rng = np.random.default_rng(0)
    sizes = [60, 25, 10, 5]  # skewed task mix
    x = np.concatenate([rng.normal(size=(s, 8)) * 0.1 + 10 * np.eye(8)[i] for i, s in enumerate(sizes)])
    y = np.repeat(np.arange(4), sizes)
    sel = compress.compress(x, 4, seed=0)
    assert sel.cluster_size.sum() == 100
    assert compress.subset_tvd(y, sel.indices, sel.cluster_size) == pytest.approx(0.0, abs=1e-12)
    unweighted = compress.subset_tvd(y, sel.indices)  # one row per task, equal weights: far off
    assert unweighted == pytest.approx(0.5 * (abs(.6 - .25) + 0 + abs(.1 - .25) + abs(.05 - .25)))
    rows = [{"q": str(i)} for i in range(100)]
    out = compress.weighted_rows(rows, sel)
    assert sum(r["weight"] for r in out) == 100
    assert sum(r["weight_share"] for r in out) == pytest.approx(1.0, abs=1e-6)


# --- library: correlation -----------------------------------------------------------------

def test_normalise_sum_guard_and_shift_sum():
    x = np.array([[0.5, -0.5, 0.2], [1.0, -1.0, 0.0]])
    with pytest.raises(InstembError, match="sum to \\(nearly\\) zero"):
        correlate.normalise(x, "sum")
    z = correlate.normalise(x, "shift-sum")
    assert np.all(z >= 0) and np.allclose(z.sum(1), 1)
    assert np.allclose(correlate.normalise(np.array([[1.0, 3.0]]), "sum"), [[0.25, 0.75]])


def test_correlation_matrices_order_related_sets():
    x, y = blobs(n_blobs=3, per=40, dim=12, seed=4)
    a, a2, b = x[y == 0][:20], x[y == 0][20:], x[y == 1]
    both = np.concatenate([a2, b])
    m = correlate.correlation_matrices([a, a2, b, both])
    w, c = m["wasserstein"], m["max_cosine"]
    assert np.allclose(w, w.T) and np.all(np.diag(w) == 0)
    assert w[0, 1] < w[0, 2]  # same task closer than another task
    assert c[0, 1] > c[0, 2]
    assert c[1, 3] == pytest.approx(1.0) and c[3, 1] < 0.9  # asymmetric: `both` covers a2, not back
    assert len(correlate.matrix_csv(["a", "a2", "b", "both"], w).splitlines()) == 5


# --- library: task map --------------------------------------------------------------------

def test_build_html_is_self_contained_and_escapes():
    texts = ["Write a poem </script><script>alert(1)</script>", "Fix <!-- this --> HTML", "Sum 2+2"]
    html = taskmap.build_html(texts, np.array([[0, 0], [0.5, 1], [1, 0.2]]), np.array([0, 1, 1]),
                              {0: "write|poem", 1: "translate|text"}, title="t <b>")
    assert html.count("</script>") == 2  # only the page's own two script tags
    payload = re.search(r'<script id="data" type="application/json">(.*?)</script>', html, re.S).group(1)
    assert json.loads(payload)["t"] == texts  # what the page's JSON.parse will read
    assert "<title>t &lt;b&gt;</title>" in html
    assert not re.search(r"(src|href)=\"https?:", html) and "cdn" not in html.lower()


def test_name_clusters_prefers_characteristic_labels():
    labels = np.array([0, 0, 0, 1, 1, 1])
    tasks = ["what|knowledge", "write|poem", "write|poem", "what|knowledge", "what|knowledge", None]
    names = taskmap.name_clusters(labels, tasks, ["x"] * 5 + ["Sort numbers quickly"], top=2)
    assert names[0].startswith("write|poem") and names[1].startswith("what|knowledge")
    assert "sort numbers" in names[1]


# --- commands on real data (packaged MiniLM) ----------------------------------------------

def test_select_command_covers_ieb_categories(tmp_path):
    rows = ieb_rows(10, 10)
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "sel.jsonl"
    cli("select", src, "-n", 10, "-o", out, "--model", "minilm", "--seed", 0)
    chosen = read_jsonl(out)
    assert len(chosen) == 10 and set(chosen[0]) >= set(rows[0]) | {"cluster", "cluster_size", "distance"}
    assert sum(r["cluster_size"] for r in chosen) == 100
    assert all({k: r[k] for k in rows[0]} in rows for r in chosen)
    # random 10 of 10 equal categories covers 6.5 on average; task clusters should do better
    assert len({r["category"] for r in chosen}) >= 8
    out2 = tmp_path / "kc.jsonl"
    cli("select", src, "-n", 10, "-o", out2, "--method", "kcenter", "--model", "minilm")
    assert len(read_jsonl(out2)) == 10


def test_demos_command_retrieves_same_task(tmp_path):
    src = write_jsonl(tmp_path / "pool.jsonl", ieb_rows(8, 8))
    out = tmp_path / "demos.jsonl"
    cli("demos", "--pool", src, "--queries", src, "-k", 3, "-o", out, "--model", "minilm")
    res = read_jsonl(out)
    assert len(res) == 64
    hits = []
    for i, r in enumerate(res):
        assert len(r["demos"]) == 3 and all(d["pool_index"] != i for d in r["demos"])
        assert [d["score"] for d in r["demos"]] == sorted((d["score"] for d in r["demos"]), reverse=True)
        assert r["prompt"].count("### Response:") == 4 and r["prompt"].endswith("### Response:\n")
        hits += [d["category"] == r["category"] for d in r["demos"]]
    assert np.mean(hits) > 0.5  # random demos would match about 1/8


def test_compress_command_on_math(tmp_path):
    from instemb.data.io import read_rows

    rows = read_rows(need(DATA / "math" / "test.jsonl"))[:150]
    src = write_jsonl(tmp_path / "math.jsonl", rows)
    out = tmp_path / "small.jsonl"
    cli("compress", src, "-n", 15, "-o", out, "--field", "problem", "--model", "minilm")
    res = read_jsonl(out)
    assert len(res) == 15 and sum(r["weight"] for r in res) == 150
    assert sum(r["weight_share"] for r in res) == pytest.approx(1.0, abs=1e-6)
    assert all({k: r[k] for k in rows[0]} in rows for r in res)  # original fields kept
    assert len({r["cluster"] for r in res}) == 15


def test_correlate_command_orders_datasets(tmp_path):
    gsm_test = need(DATA / "gsm8k" / "test.jsonl")
    out = tmp_path / "corr"
    cli("correlate", f"{gsm_test}:question", f"{DATA / 'gsm8k' / 'train.jsonl'}:question",
        f"{need(DATA / 'mbpp' / 'mbpp.jsonl')}:text", "--names", "gsm-test,gsm-train,mbpp",
        "--max-rows", 60, "-o", out, "--model", "minilm")
    assert {p.name for p in out.iterdir()} == {"wasserstein.csv", "max_cosine.csv",
                                              "correlation.json", "correlation.png"}
    res = json.loads((out / "correlation.json").read_text())
    w, c = np.array(res["wasserstein"]), np.array(res["max_cosine"])
    assert res["names"] == ["gsm-test", "gsm-train", "mbpp"] and res["rows"] == [60, 60, 60]
    assert w[0, 1] < w[0, 2] and c[0, 1] > c[0, 2]  # GSM8K test is closest to GSM8K train
    assert (out / "max_cosine.csv").read_text().splitlines()[0] == "dataset,gsm-test,gsm-train,mbpp"


def chromium_dom(html: Path, fragment: str = "") -> str:
    profile = tempfile.mkdtemp()
    try:
        proc = subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--no-first-run", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
             "--virtual-time-budget=5000", "--dump-dom", html.resolve().as_uri() + fragment],
            capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert "Uncaught" not in proc.stderr, proc.stderr[-2000:]
    body = re.search(r"<body[^>]*>", proc.stdout)
    assert body, proc.stdout[:500]
    return body.group(0)


def test_map_command_renders_in_chromium(tmp_path):
    from instemb.data.io import read_rows

    rows = read_rows(need(DATA / "stanford-alpaca" / "alpaca_5000.json"))[:150]
    src = write_jsonl(tmp_path / "a.jsonl", rows)
    out = tmp_path / "map.html"
    cli("map", src, "-o", out, "--clusters", 6, "--model", "minilm")
    html = out.read_text()
    assert html.count('"id":') == 6 and "|" in html  # six clusters named by task labels
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed (apt-get install chromium)")
    body = chromium_dom(out)
    assert 'data-points="150"' in body and 'data-errors="0"' in body, body
    want = sum("write" in r["instruction"].lower() for r in rows)
    assert 0 < want < 150
    assert f'data-visible="{want}"' in chromium_dom(out, "#q=Write"), want


# --- bad input through the real CLI -------------------------------------------------------

def test_bad_inputs_exit_2_without_output(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"instruction": f"Write poem {i}"} for i in range(5)])
    out = tmp_path / "out.jsonl"
    assert_clean_error(run_cli("select", src, "-n", 9, "-o", out), "asked for 9 rows but it has only 5", out)
    assert_clean_error(run_cli("compress", src, "-n", 2, "-o", out, "--field", "text"),
                       "no field 'text'", out)
    assert_clean_error(run_cli("demos", "--pool", src, "--queries", src, "-o", out),
                       "has no field 'output'", out)
    corr = tmp_path / "corr"
    assert_clean_error(run_cli("correlate", f"{src}:prompt", str(src), "-o", corr),
                       "no field 'prompt'", corr)
    assert_clean_error(run_cli("map", tmp_path / "missing.json", "-o", tmp_path / "m.html"),
                       "no such file", tmp_path / "m.html")
    clash = write_jsonl(tmp_path / "c.jsonl", [{"instruction": "Sort a list", "cluster": 3}] * 3)
    assert_clean_error(run_cli("select", clash, "-n", 2, "-o", out),
                       "row 1 already has a field 'cluster'", out)
