"""The paper's four downstream tools plus the task map, each measured on real data.

    nice -n 19 python benchmarks/downstream.py [--quick] [--no-readme] [--skip-llm]

Rows: the default model (``instemb.models.registry.DEFAULT_MODEL``) and base MiniLM, always
both (while they are the same model the two rows agree). Data: ../shared/data, read in place.

1. selection   Alpaca-5k, K = 500: task categories covered (spaCy labeller) and their entropy;
               k-means and k-center vs random (mean of seeds 0-4).
2. demos       (a) task-match@4, leave-one-out on IEB eft_test; (b) SmolLM2-135M-Instruct NLL
               per token of the reference output of 200 ift_test rows given 1 retrieved / 1
               random / no demonstration (pool: Alpaca-5k + eft_test).
3. compress    10 % of MATH test (type x level) and of eft_test (categories): total variation
               distance of the weighted label distribution to the full set's, vs random.
4. correlate   9 instruction sets, <= 1000 rows each: Wasserstein and max-cosine matrices.
5. map         Alpaca-5k task map, checked in headless Chromium, and its screenshot.

Writes results/downstream.json (+ correlation CSVs, the map HTML), docs/correlation_heatmap.png,
docs/alpaca_map.png and the README's downstream section. Embeddings are cached
(~/.cache/instemb/embeddings.sqlite), so a rerun only re-scores.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from readme_section import replace_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
ALPACA = DATA / "stanford-alpaca" / "alpaca_5000.json"
EFT = DATA / "instruction-embedding-benchmark" / "eft_test.json"
IFT = DATA / "instruction-embedding-benchmark" / "ift_test.json"
MATH = DATA / "math" / "test.jsonl"
CORRELATE = [  # (name, path, field)
    ("GSM8K", "gsm8k/test.jsonl", "question"),
    ("MATH", "math/test.jsonl", "problem"),
    ("MBPP", "mbpp/mbpp.jsonl", "text"),
    ("Code Alpaca", "code-alpaca/code_alpaca_2k.json", "instruction"),
    ("Alpaca", "stanford-alpaca/alpaca_5000.json", "instruction"),
    ("LIMA", "lima/lima.json", "instruction"),
    ("Self-Instruct", "self-instruct/user_oriented_instructions.jsonl", "instruction"),
    ("AlpacaEval", "alpaca-eval/model_outputs.json", "instruction"),
    ("Koala", "koala/koala_test_set.jsonl", "prompt"),
]
CHROMIUM = Path("/usr/bin/chromium")
PARTS = ("select", "demos", "compress", "correlate", "map")
SEEDS = range(5)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Embeddings:
    """Embeds through the on-disk cache; one loaded model per alias."""

    def __init__(self):
        from instemb.cache import EmbeddingCache

        self.cache = EmbeddingCache()
        self.models = {}

    def __call__(self, alias: str, texts: list[str]) -> np.ndarray:
        import instemb

        if alias not in self.models:
            self.models[alias] = instemb.load(alias, dtype="float32")
        vecs, _ = self.cache.encode(self.models[alias], texts, show_progress_bar=len(texts) >= 2000)
        return vecs


def model_rows() -> list[tuple[str, str]]:
    from instemb.models.registry import DEFAULT_MODEL

    return [(f"default ({DEFAULT_MODEL})", DEFAULT_MODEL), ("MiniLM (base)", "minilm")]


# --- 1. selection -------------------------------------------------------------------------

def bench_select(embed, rows, texts, tasks, k):
    from instemb.tools.select import coverage, random_select, select

    verbs = [t.split("|")[0] if t else None for t in tasks]

    def cov(idx):
        c = coverage([tasks[i] for i in idx])
        c["verbs"] = coverage([verbs[i] for i in idx])["categories"]
        return c

    full = cov(range(len(texts)))
    rand = [cov(random_select(len(texts), k, s)) for s in SEEDS]
    rand_cat = float(np.mean([r["categories"] for r in rand]))
    out = {"rows": len(texts), "k": k, "full_set": full,
           "ceiling": min(k, full["categories"]),
           "random": {"categories": rand_cat, "categories_std": float(np.std([r["categories"] for r in rand])),
                      "entropy_bits": float(np.mean([r["entropy_bits"] for r in rand])),
                      "verbs": float(np.mean([r["verbs"] for r in rand]))},
           "models": []}
    for label, alias in model_rows():
        emb = embed(alias, texts)
        for method in ("kmeans", "kcenter"):
            t = time.perf_counter()
            sel = select(emb, k, method=method, seed=0)
            c = cov(sel.indices)
            out["models"].append({"model": label, "alias": alias, "method": method, **c,
                                  "vs_random": c["categories"] / rand_cat,
                                  "verbs_vs_random": c["verbs"] / out["random"]["verbs"],
                                  "seconds": round(time.perf_counter() - t, 1)})
            log(f"select {label} {method}: {c['categories']} categories "
                f"({c['categories'] / rand_cat:.2f}x random {rand_cat:.1f}), "
                f"entropy {c['entropy_bits']:.2f} bits, {c['verbs']} verbs")
    return out


# --- 2. demonstrations --------------------------------------------------------------------

def bench_task_match(embed, k=4):
    from instemb.data.io import column, read_rows
    from instemb.tools.demos import retrieve, task_match

    rows = read_rows(EFT)
    texts, cats = column(rows, "instruction"), [r["category"] for r in rows]
    n = len(rows)
    out = {"rows": n, "k": k, "models": []}
    rand = []
    for s in SEEDS:
        rng = np.random.default_rng(s)
        idx = np.stack([rng.choice(np.delete(np.arange(n), i), size=k, replace=False) for i in range(n)])
        rand.append(task_match(cats, cats, idx))
    out["random"] = float(np.mean(rand))
    for label, alias in model_rows():
        idx, _ = retrieve(embed(alias, texts), embed(alias, texts), k, exclude_self=True)
        out["models"].append({"model": label, "alias": alias, "task_match": task_match(cats, cats, idx)})
        log(f"demos task-match@{k} {label}: {out['models'][-1]['task_match']:.3f} (random {out['random']:.3f})")
    return out


def _ids(tok, text: str, limit: int, keep: str = "head") -> list[int]:
    ids = tok(text, add_special_tokens=False)["input_ids"]
    return ids[:limit] if keep == "head" else ids[-limit:]


def _nll(model, batch: list[tuple[list[int], list[int]]]):
    """Summed NLL and token count of each target given its context (right-padded batch)."""
    import torch

    width = max(len(c) + len(t) for c, t in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for j, (c, t) in enumerate(batch):
        seq = c + t
        ids[j, :len(seq)] = torch.tensor(seq)
        mask[j, :len(seq)] = 1
    with torch.inference_mode():
        hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
        out = []
        for j, (c, t) in enumerate(batch):
            pos = torch.arange(len(c) - 1, len(c) + len(t) - 1)
            logits = model.lm_head(hidden[j, pos]).float()
            nll = torch.nn.functional.cross_entropy(logits, torch.tensor(t), reduction="sum")
            out.append((float(nll), len(t)))
    return out


def bench_llm(embed, n_queries=200, ctx_tokens=128, out_tokens=96, batch_size=8):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import instemb
    from instemb.data.io import column, read_rows
    from instemb.tools.demos import alpaca_block, retrieve

    torch.manual_seed(0)
    path = instemb.models.registry.ALIASES["smollm2-135m"].locate()
    tok = AutoTokenizer.from_pretrained(str(path))
    tok.model_max_length = 1_000_000  # we cut every piece ourselves
    ift = read_rows(IFT)
    queries = [ift[i] for i in sorted(random.Random(0).sample(range(len(ift)), min(n_queries, len(ift))))]
    pool = [dict(r, source="alpaca") for r in read_rows(ALPACA)] + \
           [dict(r, source="eft_test") for r in read_rows(EFT)]
    # IEB was built partly from Alpaca: drop pool rows that repeat any ift_test instruction or
    # reference output, so a "demonstration" can never hand the model the answer
    norm = lambda x: " ".join(str(x).lower().split())  # noqa: E731
    seen = {norm(r["instruction"]) for r in ift} | {norm(r["output"])[:200] for r in ift}
    before = len(pool)
    pool = [r for r in pool if norm(r["instruction"]) not in seen and norm(r["output"])[:200] not in seen]
    log(f"llm: pool {len(pool)} rows ({before - len(pool)} dropped as duplicates of ift_test)")
    q_texts, p_texts = column(queries, "instruction"), column(pool, "instruction")

    def demo_ids(row):
        return _ids(tok, alpaca_block(row["instruction"], row.get("input"), row.get("output", "")) + "\n\n",
                    ctx_tokens)

    def example(q, demo):
        ctx = _ids(tok, alpaca_block(q["instruction"], q.get("input")), ctx_tokens, keep="tail")
        target = _ids(tok, str(q["output"]).strip(), out_tokens)
        bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
        return (bos + (demo_ids(demo) if demo is not None else []) + ctx, target)

    rng = np.random.default_rng(0)
    conditions = {"none": [None] * len(queries),
                  "random": [pool[int(i)] for i in rng.integers(len(pool), size=len(queries))]}
    retrieved = {}
    for label, alias in model_rows():
        idx, _ = retrieve(embed(alias, q_texts), embed(alias, p_texts), 1)
        retrieved[label] = idx[:, 0]
        conditions[f"retrieved: {label}"] = [pool[int(i)] for i in idx[:, 0]]

    def run(model, demos_):
        items = [example(q, d) for q, d in zip(queries, demos_)]
        order = sorted(range(len(items)), key=lambda i: -sum(map(len, items[i])))
        res = [None] * len(items)
        for s in range(0, len(order), batch_size):
            chunk = order[s:s + batch_size]
            for i, r in zip(chunk, _nll(model, [items[i] for i in chunk])):
                res[i] = r
        return res

    # bf16 where it matches fp32: compare on the first 16 queries, no demonstration
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()
    items = [example(q, d) for q, d in zip(queries[:16], conditions["random"][:16])]
    f32 = _nll(model, items[:8]) + _nll(model, items[8:])
    model_bf = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.bfloat16).eval()
    bf = _nll(model_bf, items[:8]) + _nll(model_bf, items[8:])
    per_tok = lambda rs: sum(a for a, _ in rs) / sum(b for _, b in rs)  # noqa: E731
    diff = abs(per_tok(f32) - per_tok(bf))
    use_bf16 = diff < 0.02
    model = model_bf if use_bf16 else model
    log(f"llm: fp32 {per_tok(f32):.4f} vs bf16 {per_tok(bf):.4f} nats/token on 16 rows -> "
        f"{'bf16' if use_bf16 else 'fp32'}")

    results, cache = {}, {}
    for name, demos_ in conditions.items():
        key = tuple(id(d) for d in demos_)
        t = time.perf_counter()
        if key not in cache:
            cache[key] = run(model, demos_)
        res = cache[key]
        results[name] = {"nll_per_token": per_tok(res),
                         "nll_per_example": float(np.mean([a / b for a, b in res])),
                         "seconds": round(time.perf_counter() - t, 1), "_per": [a / b for a, b in res]}
        log(f"llm NLL/token {name}: {results[name]['nll_per_token']:.4f} ({results[name]['seconds']} s)")
    base = results["none"]["_per"]
    rand = results["random"]["_per"]
    for r in results.values():
        per = r.pop("_per")
        r["better_than_none"] = float(np.mean([a < b for a, b in zip(per, base)]))
        r["better_than_random"] = float(np.mean([a < b for a, b in zip(per, rand)]))
    return {"queries": len(queries), "pool": len(pool), "dtype": "bfloat16" if use_bf16 else "float32",
            "fp32_vs_bf16_nll_diff": diff, "context_tokens": ctx_tokens, "output_tokens": out_tokens,
            "pool_dropped_as_duplicates": before - len(pool), "conditions": results,
            "retrieved_from_eft": {k: float(np.mean([pool[int(i)]["source"] == "eft_test" for i in v]))
                                   for k, v in retrieved.items()}}


# --- 3. compression -----------------------------------------------------------------------

def bench_compress(embed, name, texts, labels, frac=0.1):
    from instemb.tools.compress import compress, subset_tvd
    from instemb.tools.select import random_select

    k = max(1, round(frac * len(texts)))
    rand = [subset_tvd(labels, random_select(len(texts), k, s)) for s in SEEDS]
    out = {"dataset": name, "rows": len(texts), "k": k, "label_values": len(set(labels)),
           "random": float(np.mean(rand)), "random_std": float(np.std(rand)), "models": []}
    for label, alias in model_rows():
        sel = compress(embed(alias, texts), k, seed=0)
        w = subset_tvd(labels, sel.indices, sel.cluster_size)
        u = subset_tvd(labels, sel.indices)
        out["models"].append({"model": label, "alias": alias, "tvd_weighted": w, "tvd_unweighted": u})
        log(f"compress {name} {label}: TVD {w:.3f} (unweighted {u:.3f}; random {out['random']:.3f})")
    return out


# --- 4. correlation -----------------------------------------------------------------------

def bench_correlate(embed, max_rows, results_dir: Path, heatmap_png: Path):
    from instemb.data.io import column, read_rows
    from instemb.tools.correlate import correlation_matrices, heatmap, matrix_csv
    from instemb.tools.select import random_select

    names, texts = [], []
    for name, rel, field in CORRELATE:
        rows = read_rows(DATA / rel)
        keep = random_select(len(rows), min(max_rows, len(rows)), 0)
        names.append(name)
        texts.append(column([rows[int(i)] for i in keep], field, rel))
    out = {"names": names, "rows": [len(t) for t in texts], "normalisation": "shift-sum", "models": []}
    for j, (label, alias) in enumerate(model_rows()):
        mats = correlation_matrices([embed(alias, t) for t in texts])
        folder = results_dir / f"correlation_{alias}"
        folder.mkdir(parents=True, exist_ok=True)
        for key, m in mats.items():
            (folder / f"{key}.csv").write_text(matrix_csv(names, m))
        if j == 0:
            heatmap(names, mats, heatmap_png, title=f"Dataset task correlation, {label}, "
                                                    f"<= {max_rows} rows each")
        out["models"].append({"model": label, "alias": alias,
                              **{k: np.round(v, 8).tolist() for k, v in mats.items()}})
        log(f"correlate {label}: done")
    return out


def correlation_reading(corr: dict) -> str:
    """A few sentences read off the default model's matrices (regenerated with the numbers)."""
    names = corr["names"]
    m = corr["models"][0]
    w, c = np.array(m["wasserstein"]), np.array(m["max_cosine"])
    n = len(names)
    pairs = [(w[i, j], i, j) for i in range(n) for j in range(i + 1, n)]
    pairs.sort()
    (v1, a1, b1), (v2, a2, b2) = pairs[0], pairs[1]
    vmax, am, bm = pairs[-1]
    far_mean = w.sum(1) / (n - 1)
    iso = int(np.argmax(far_mean))
    asym = max(((c[i, j] - c[j, i], i, j) for i in range(n) for j in range(n) if i != j))
    nearest = {names[i]: names[int(np.argmin(np.where(np.eye(n, dtype=bool)[i], np.inf, w[i])))] for i in range(n)}
    scale = 10 ** -int(np.floor(np.log10(vmax))) if vmax > 0 else 1
    return (
        f"By the Wasserstein measure the closest pair is {names[a1]}–{names[b1]} "
        f"({v1 * scale:.2f}, in the heatmap's units), then {names[a2]}–{names[b2]} ({v2 * scale:.2f}); "
        f"the farthest is {names[am]}–{names[bm]} ({vmax * scale:.2f}), and {names[iso]} is the "
        f"most isolated set overall (mean distance {far_mean[iso] * scale:.2f}). "
        f"Each set's nearest neighbour: " + ", ".join(f"{a} → {b}" for a, b in nearest.items()) + "; "
        f"coverage is asymmetric: {names[asym[2]]} covers {names[asym[1]]} with a mean max cosine of "
        f"{c[asym[1], asym[2]]:.2f}, but {names[asym[1]]} covers {names[asym[2]]} only at "
        f"{c[asym[2], asym[1]]:.2f} (the largest gap of any pair); note that AlpacaEval is partly "
        f"made of the other sets (its `dataset` field: 156 Koala and 252 Self-Instruct rows; 144 of "
        f"Koala's 180 prompts appear in it verbatim), so high coverage of Koala and Self-Instruct by "
        f"AlpacaEval is containment, not just similar tasks. General chat sets (Alpaca, LIMA, Self-Instruct, AlpacaEval, Koala) "
        f"cover each other at {np.mean([c[i, j] for i in range(n) for j in range(n) if i != j and names[i] in GENERAL and names[j] in GENERAL]):.2f} "
        f"on average, against {np.mean([c[i, j] for i in range(n) for j in range(n) if names[i] in GENERAL and names[j] in SPECIAL]):.2f} "
        f"when a maths or code set (GSM8K, MATH, MBPP, Code Alpaca) has to cover them.")


GENERAL = {"Alpaca", "LIMA", "Self-Instruct", "AlpacaEval", "Koala"}
SPECIAL = {"GSM8K", "MATH", "MBPP", "Code Alpaca"}


# --- 5. map -------------------------------------------------------------------------------

def _chromium(args: list[str], url: str) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp()
    try:
        return subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
                               "--disable-background-networking", "--no-first-run",
                               "--disable-component-update", "--disable-sync",
                               f"--user-data-dir={profile}", *args, url],
                              capture_output=True, text=True, timeout=180)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def bench_map(embed, texts, tasks, html_path: Path, png_path: Path):
    from instemb.models.registry import DEFAULT_MODEL
    from instemb.tools.taskmap import build_html, cluster, default_clusters, name_clusters, project

    t = time.perf_counter()
    emb = embed(DEFAULT_MODEL, texts)
    k = default_clusters(len(texts))
    labels = cluster(emb, k, 0)
    xy = project(emb, 0)
    names = name_clusters(labels, tasks, texts)
    html_path.write_text(build_html(texts, xy, labels, names, emb=emb,
                                    title=f"Alpaca-5k task map ({DEFAULT_MODEL})"), encoding="utf-8")
    out = {"rows": len(texts), "clusters": k, "projection": "t-SNE (scikit-learn, cosine, PCA init)",
           "seconds": round(time.perf_counter() - t, 1), "html_bytes": html_path.stat().st_size,
           "largest_clusters": [names[int(c)] for c in np.argsort(-np.bincount(labels))[:6]]}
    if CHROMIUM.exists():
        url = html_path.resolve().as_uri()
        dom = _chromium(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom"], url)
        body = re.search(r"<body[^>]*>", dom.stdout)
        attrs = dict(re.findall(r'data-([a-z]+)="([^"]*)"', body.group(0))) if body else {}
        out["chromium"] = {"points_drawn": int(attrs.get("points", -1)), "errors": int(attrs.get("errors", -1)),
                           "uncaught_in_console": "Uncaught" in dom.stderr}
        _chromium(["--hide-scrollbars", f"--screenshot={png_path}", "--window-size=1400,900",
                   "--virtual-time-budget=10000"], url)
        _shrink_png(png_path)
        out["screenshot_bytes"] = png_path.stat().st_size
        log(f"map: chromium drew {out['chromium']['points_drawn']} of {len(texts)} points, "
            f"{out['chromium']['errors']} errors; screenshot {out['screenshot_bytes'] // 1024} KB")
    else:
        out["chromium"] = None
        log("map: /usr/bin/chromium not found, no browser check or screenshot")
    return out


def _shrink_png(path: Path, limit: int = 300_000) -> None:
    if not path.exists() or path.stat().st_size <= limit:
        return
    from PIL import Image

    img = Image.open(path).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    img.save(path, optimize=True)


# --- report -------------------------------------------------------------------------------

def markdown(r: dict) -> str:
    s = r["selection"]
    L = ["#### 1. Data selection (`instemb select`)", "",
         f"Alpaca-5k, K = {s['k']} of {s['rows']}; task categories (`verb|noun`) from the spaCy "
         f"labeller, and their verbs alone. The full set has {s['full_set']['categories']} categories "
         f"({s['full_set']['verbs']} verbs), most of them single rows, so no subset of {s['k']} can "
         f"cover more than {s['ceiling']} categories: "
         f"{s['ceiling'] / s['random']['categories']:.2f}x random is the ceiling. Random: mean of seeds 0–4.", "",
         "| model | method | categories covered | × random | entropy (bits) | verbs covered | × random |",
         "|---|---|---|---|---|---|---|",
         f"| — | random | {s['random']['categories']:.1f} ± {s['random']['categories_std']:.1f} | 1.00 | "
         f"{s['random']['entropy_bits']:.2f} | {s['random']['verbs']:.1f} | 1.00 |"]
    for m in s["models"]:
        L.append(f"| {m['model']} | {m['method']} | {m['categories']} | {m['vs_random']:.2f} | "
                 f"{m['entropy_bits']:.2f} | {m['verbs']} | {m['verbs_vs_random']:.2f} |")
    d = r["demos"]["task_match"]
    L += ["", "#### 2. Demonstration retrieval (`instemb demos`)", "",
          f"(a) Task-match@{d['k']}: leave-one-out on IEB eft_test ({d['rows']} instructions, 145 "
          f"categories): share of the {d['k']} retrieved demonstrations in the query's category.", "",
          "| model | task-match@4 |", "|---|---|", f"| random | {d['random']:.3f} |"]
    L += [f"| {m['model']} | {m['task_match']:.3f} |" for m in d["models"]]
    llm = r["demos"].get("llm")
    if llm:
        L += ["", f"(b) SmolLM2-135M-Instruct ({llm['dtype']}, CPU): negative log-likelihood of the "
              f"reference output (first {llm['output_tokens']} tokens) of {llm['queries']} IEB ift_test rows "
              f"(seeded sample), Alpaca template, with one demonstration from a pool of {llm['pool']} "
              f"(Alpaca-5k + eft_test, deduplicated; demo and query capped at {llm['context_tokens']} tokens each). "
              "Lower is better; \"wins\" = share of queries with a lower NLL than the comparison.", "",
              "| demonstration | NLL / token | NLL / example (mean) | wins vs none | wins vs random |",
              "|---|---|---|---|---|"]
        for name, c in llm["conditions"].items():
            L.append(f"| {name} | {c['nll_per_token']:.4f} | {c['nll_per_example']:.4f} | "
                     f"{c['better_than_none']:.2f} | {c['better_than_random']:.2f} |")
        note = (f"{llm['pool_dropped_as_duplicates']} pool rows that repeat an ift_test instruction or "
                "reference output were dropped first (IEB is partly built from Alpaca). ")
        if llm["dtype"] == "bfloat16":
            note += (f"bf16 was used after it matched fp32 within {llm['fp32_vs_bf16_nll_diff']:.4f} "
                     "nats/token on 16 rows.")
        L += ["", note]
    L += ["", "#### 3. Test-set compression (`instemb compress`)", "",
          "10 % of each test set; total variation distance between the subset's label distribution "
          "(weighted by cluster size) and the full set's. Lower is better; random: mean ± std of seeds 0–4 "
          "(unweighted by construction). \"unweighted\" drops the weights from the k-means subset.", "",
          "| test set | labels | model | TVD weighted | TVD unweighted | TVD random |", "|---|---|---|---|---|---|"]
    for c in r["compression"]:
        for m in c["models"]:
            L.append(f"| {c['dataset']} ({c['k']} of {c['rows']}) | {c['labels']} ({c['label_values']}) | "
                     f"{m['model']} | {m['tvd_weighted']:.3f} | {m['tvd_unweighted']:.3f} | "
                     f"{c['random']:.3f} ± {c['random_std']:.3f} |")
    corr = r["correlation"]
    L += ["", "#### 4. Dataset task correlation (`instemb correlate`)", "",
          f"At most {max(corr['rows'])} rows per set (seeded sample), default model. Left: mean over "
          "dimensions of the 1-D Wasserstein distance after each vector is shifted to be non-negative "
          "and divided by its sum (`--normalise shift-sum`: the paper's plain division by the sum is "
          "ill-defined for MiniLM, whose vector sums straddle zero). Right: row A, column B = mean over "
          "A's instructions of the best cosine to any instruction of B (how well B covers A). CSVs for "
          "both models in `results/correlation_*/`.", "",
          "![dataset task correlation](docs/correlation_heatmap.png)", "", correlation_reading(corr)]
    mp = r["map"]
    L += ["", "#### 5. Task map (`instemb map`)", "",
          f"Alpaca-5k, {mp['clusters']} k-means clusters named by their most characteristic task labels, "
          f"{mp['projection']}; one self-contained {mp['html_bytes'] // 1024} KB HTML file with hover, search "
          "and a cluster list. "]
    if mp.get("chromium"):
        ch = mp["chromium"]
        L[-1] += (f"Headless Chromium drew {ch['points_drawn']} of {mp['rows']} points with "
                  f"{ch['errors']} script errors.")
        L += ["", "![Alpaca-5k task map](docs/alpaca_map.png)"]
    L += ["", "Regenerate: `nice -n 19 python benchmarks/downstream.py` (embeddings are cached; the "
          "SmolLM2 measurement takes most of the time; `--only map` etc. reruns one part)."]
    return "\n".join(L)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, to check the script (no README)")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--skip-llm", action="store_true", help="leave out the SmolLM2 NLL measurement")
    ap.add_argument("--output", default=str(ROOT / "results" / "downstream.json"))
    ap.add_argument("--only", choices=PARTS, default=None,
                    help="rerun one part; the others are taken from the existing --output file")
    args = ap.parse_args()
    if args.quick and args.output == ap.get_default("output"):
        args.output = str(ROOT / "results" / "downstream-quick.json")

    from instemb.data.io import column, read_rows
    from instemb.labels import label_instructions

    start = time.perf_counter()
    q = args.quick
    results_dir = Path(args.output).parent
    results_dir.mkdir(parents=True, exist_ok=True)
    docs = (results_dir / "quick-docs") if q else ROOT / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    embed = Embeddings()

    def want(part):
        return args.only in (None, part)

    res = {"models": [a for _, a in model_rows()]}
    if args.only:
        res = json.loads(Path(args.output).read_text())
    if want("select") or want("map"):
        alpaca = read_rows(ALPACA)[: 400 if q else None]
        a_texts = column(alpaca, "instruction", str(ALPACA))
        log(f"labelling {len(a_texts)} Alpaca instructions")
        a_tasks = [x["task"] for x in label_instructions(a_texts, show_progress_bar=not q)]
    if want("select"):
        res["selection"] = bench_select(embed, alpaca, a_texts, a_tasks, 40 if q else 500)
    if want("demos"):
        res["demos"] = {"task_match": bench_task_match(embed)}
        if not args.skip_llm:
            res["demos"]["llm"] = bench_llm(embed, n_queries=12 if q else 200)
    if want("compress"):
        math_rows = read_rows(MATH)[: 500 if q else None]
        eft_rows = read_rows(EFT)
        res["compression"] = [
            {**bench_compress(embed, "MATH test", column(math_rows, "problem"),
                              [f"{r['type']}|{r['level']}" for r in math_rows]), "labels": "type × level"},
            {**bench_compress(embed, "MATH test", column(math_rows, "problem"),
                              [r["type"] for r in math_rows]), "labels": "type"},
            {**bench_compress(embed, "IEB eft_test", column(eft_rows, "instruction"),
                              [r["category"] for r in eft_rows]), "labels": "category"},
        ]
    if want("correlate"):
        res["correlation"] = bench_correlate(embed, 100 if q else 1000, results_dir,
                                             docs / "correlation_heatmap.png")
    if want("map"):
        res["map"] = bench_map(embed, a_texts, a_tasks, results_dir / "alpaca_map.html",
                               docs / "alpaca_map.png")
    if args.only:
        res.setdefault("parts_rerun", []).append({"part": args.only,
                                                  "seconds": round(time.perf_counter() - start, 1)})
        start -= res.get("seconds", 0)
    res["seconds"] = round(time.perf_counter() - start, 1)
    Path(args.output).write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    table = markdown(res)
    print(table)
    if not args.no_readme and not q and not args.skip_llm:
        replace_section("downstream", table)
        log("README section replaced")


if __name__ == "__main__":
    main()
