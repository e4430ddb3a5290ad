"""Instructions/s of instemb's embedding paths against sentence-transformers' encode, same model,
same prompt, same run, on IEB's 20,814 unlabelled training instructions.

    python benchmarks/throughput.py [--limit N] [--threads 2] [--json out.json]

For each setting (model:prompt; default: the default model with its default prompt, then with
the long PIE prompt) it measures instemb's default path (backend and dtype auto), ONNX Runtime
int8 and fp32, torch bf16 and fp32 (a path equal to the default one is not repeated), and
sentence-transformers' encode in fp32
(its default) and bf16 on the same prompted texts, plus `instemb embed` end to end (a
subprocess: start-up, reading, model load, embedding, writing) for the first setting. Model
loading (and the one-off ONNX export into the cache) is not timed. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from readme_section import replace_section  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared/data/instruction-embedding-benchmark/eft_train_unsup.json"
INSTEMB_PATHS = [  # label, backend, dtype
    ("instemb default (auto)", "auto", "auto"),
    ("instemb onnx int8", "onnx", "int8"),
    ("instemb onnx float32", "onnx", "float32"),
    ("instemb torch bfloat16", "torch", "bfloat16"),
    ("instemb torch float32", "torch", "float32"),
]
ST_BASE = "sentence-transformers float32"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--setting", action="append", default=None, metavar="MODEL:PROMPT",
                    help="repeatable; default: instemb:none and instemb:pie")
    ap.add_argument("--no-cli", action="store_true", help="skip the `instemb embed` row")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--no-readme", action="store_true")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # ONNX Runtime's intra-op threads too

    import torch
    from sentence_transformers import SentenceTransformer

    import instemb
    from instemb.models.registry import resolve
    from instemb.prompts import get_prompt

    torch.set_num_threads(args.threads)
    texts = json.loads(Path(args.data).read_text())[: args.limit]
    n = len(texts)
    results = {"n": n, "threads": args.threads, "batch_size": args.batch_size, "settings": []}

    def timed(label, fn, inputs, row):
        fn(inputs[:64])  # warm-up
        start = time.perf_counter()
        out = fn(inputs)
        seconds = time.perf_counter() - start
        row["rates"][label] = round(n / seconds, 1)
        print(f"  {label:32s} {n / seconds:8.1f} instructions/s  ({seconds:.1f} s)", flush=True)
        return out

    for setting in args.setting or ["instemb:none", "instemb:pie"]:
        model, _, prompt_name = setting.partition(":")
        prompt_name = prompt_name or "none"
        prompt = get_prompt(prompt_name)
        prompted = [prompt.format(t) for t in texts]
        row = {"model": model, "prompt": prompt_name, "rates": {}, "min_cosine_vs_st_fp32": {}}
        results["settings"].append(row)
        print(f"{model}, prompt {prompt_name}:", flush=True)
        vectors = {}
        for label, backend, dtype in INSTEMB_PATHS:
            emb = instemb.load(model, prompt=prompt_name, backend=backend, dtype=dtype)
            if label.endswith("(auto)"):
                row["default_path"] = f"{emb.backend} {emb.dtype}"
            elif f"{emb.backend} {emb.dtype}" == row["default_path"]:
                continue  # the default row measured it already
            vectors[label] = timed(label, lambda t: emb.encode(t, batch_size=args.batch_size,
                                                               show_progress_bar=False), texts, row)
        path = resolve(model)[0]
        for dtype in (torch.float32, torch.bfloat16):
            st = SentenceTransformer(path, device="cpu", model_kwargs={"dtype": dtype})
            ref = timed(f"sentence-transformers {str(dtype)[6:]}",
                        lambda t: st.encode(t, batch_size=args.batch_size, normalize_embeddings=True),
                        prompted, row)
            if dtype == torch.float32:
                row["min_cosine_vs_st_fp32"] = {k: round(float((v * ref).sum(1).min()), 5)
                                                for k, v in vectors.items()}
        if not args.no_cli and len(results["settings"]) == 1:
            row["rates"]["instemb embed (CLI, end to end)"] = cli_rate(texts, model, prompt_name, args)
        base = row["rates"][ST_BASE]
        best_st = max(base, row["rates"]["sentence-transformers bfloat16"])
        default = row["rates"]["instemb default (auto)"]
        row["speedup_vs_st_fp32"] = round(default / base, 2)
        row["speedup_vs_best_st"] = round(default / best_st, 2)
        print(f"  default path ({row['default_path']}): {default:.0f}/s, {default / base:.2f}x "
              f"sentence-transformers fp32, {default / best_st:.2f}x its fastest; min cosine to "
              f"ST fp32 {row['min_cosine_vs_st_fp32']['instemb default (auto)']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if not args.no_readme:
        replace_section("throughput", markdown(results))


def cli_rate(texts, model, prompt, args) -> float:
    """`instemb embed` end to end, as a user runs it."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jsonl"
        src.write_text("".join(json.dumps({"instruction": t}) + "\n" for t in texts))
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "instemb.cli", "embed", str(src), "-o",
                        str(Path(tmp) / "out.npy"), "--model", model, "--prompt", prompt,
                        "--no-progress", "--batch-size", str(args.batch_size)], check=True, env=env)
        seconds = time.perf_counter() - start
    label = "instemb embed (CLI, end to end)"
    print(f"  {label:32s} {len(texts) / seconds:8.1f} instructions/s  ({seconds:.1f} s)", flush=True)
    return round(len(texts) / seconds, 1)


def markdown(r: dict) -> str:
    lines = ["| model | prompt | path | instructions/s | vs sentence-transformers fp32 (its default) "
             "| vs sentence-transformers bf16 | min cosine to sentence-transformers fp32 |",
             "|---|---|---|---|---|---|---|"]
    for s in r["settings"]:
        base, bf16 = s["rates"][ST_BASE], s["rates"]["sentence-transformers bfloat16"]
        for label, rate in s["rates"].items():
            shown = f"{label}: {s['default_path']}" if label.endswith("(auto)") else label
            cos = s["min_cosine_vs_st_fp32"].get(label, "")
            lines.append(f"| {s['model']} | {s['prompt']} | {shown} | {rate:.0f} | {rate / base:.2f}x "
                         f"| {rate / bf16:.2f}x | {cos} |")
    lines.append("")
    lines.append(f"The first {r['n']:,} of IEB's unlabelled training instructions, batch {r['batch_size']}, "
                 f"{r['threads']} threads, one run each; model loading and the one-off ONNX export "
                 f"are not timed. Regenerate: `python benchmarks/throughput.py --limit {r['n']}`.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
