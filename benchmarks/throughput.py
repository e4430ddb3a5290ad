"""Instructions/s of instemb's embedding path against sentence-transformers' encode, same model,
same prompt, same run, on IEB's 20,814 unlabelled training instructions.

    python benchmarks/throughput.py [--limit N] [--threads 2] [--json out.json]

Measures: instemb (auto dtype: bf16 here), instemb fp32, sentence-transformers fp32 (its
default) and sentence-transformers bf16, plus `instemb embed` end to end (a subprocess: start-up,
reading, model load, embedding, writing). Run it on a quiet machine.
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


def rate(n, seconds):
    return n / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--prompt", default="pie")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--no-readme", action="store_true")
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    import instemb
    from instemb.models.registry import ALIASES
    from instemb.prompts import get_prompt

    torch.set_num_threads(args.threads)
    texts = json.loads(Path(args.data).read_text())[: args.limit]
    prompt = get_prompt(args.prompt)
    prompted = [prompt.format(t) for t in texts]
    path = str(ALIASES["minilm"].locate())
    n = len(texts)
    results = {"n": n, "threads": args.threads, "batch_size": args.batch_size, "prompt": args.prompt}

    def timed(label, fn):
        fn(texts[:64] if label.startswith("instemb") else prompted[:64])  # warm-up
        start = time.perf_counter()
        out = fn(texts if label.startswith("instemb") else prompted)
        seconds = time.perf_counter() - start
        results[label] = round(rate(n, seconds), 1)
        print(f"{label:32s} {results[label]:8.1f} instructions/s  ({seconds:.1f} s)", flush=True)
        return out

    for dtype in ("auto", "float32"):
        emb = instemb.load("minilm", prompt=args.prompt, dtype=dtype)
        vecs = timed(f"instemb {emb.dtype}",
                     lambda t: emb.encode(t, batch_size=args.batch_size, show_progress_bar=False))
        if dtype == "auto":
            ours = vecs
    for dtype in (torch.float32, torch.bfloat16):
        st = SentenceTransformer(path, device="cpu", model_kwargs={"dtype": dtype})
        ref = timed(f"sentence-transformers {str(dtype)[6:]}",
                    lambda t: st.encode(t, batch_size=args.batch_size, normalize_embeddings=True))
        if dtype == torch.float32:
            results["min_cosine_instemb_vs_st_fp32"] = round(float((ours * ref).sum(1).min()), 5)

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jsonl"
        src.write_text("".join(json.dumps({"instruction": t}) + "\n" for t in texts))
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "instemb.cli", "embed", str(src), "-o",
                        str(Path(tmp) / "out.npy"), "--model", "minilm", "--prompt", args.prompt, "--no-progress",
                        "--batch-size", str(args.batch_size)], check=True, env=env)
        seconds = time.perf_counter() - start
        results["instemb embed (CLI, end to end)"] = round(rate(n, seconds), 1)
        print(f"{'instemb embed (CLI, end to end)':32s} {results['instemb embed (CLI, end to end)']:8.1f} "
              f"instructions/s  ({seconds:.1f} s)")

    ours_key = next(k for k in results if k.startswith("instemb bfloat16") or k == "instemb float32")
    speedup = results[ours_key] / results["sentence-transformers float32"]
    results["speedup_vs_st_default"] = round(speedup, 2)
    print(f"speed-up of {ours_key} over sentence-transformers' default (fp32): {speedup:.2f}x; "
          f"min cosine to it {results['min_cosine_instemb_vs_st_fp32']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if not args.no_readme and args.limit is None:
        replace_section("throughput", markdown(results))


def markdown(r: dict) -> str:
    rows = [k for k in r if k.startswith(("instemb", "sentence-transformers"))]
    lines = ["| path | instructions/s | vs sentence-transformers (fp32, its default) |", "|---|---|---|"]
    base = r["sentence-transformers float32"]
    lines += [f"| {k} | {r[k]:.0f} | {r[k] / base:.2f}x |" for k in rows]
    lines.append("")
    lines.append(f"all-MiniLM-L6-v2 with the `{r['prompt']}` prompt on IEB's {r['n']:,} unlabelled training "
                 f"instructions, batch {r['batch_size']}, {r['threads']} threads, one run each. "
                 f"Minimum cosine between instemb's bf16 vectors and sentence-transformers' fp32 "
                 f"vectors: {r['min_cosine_instemb_vs_st_fp32']}. Regenerate: "
                 f"`python benchmarks/throughput.py`.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
