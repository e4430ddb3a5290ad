"""End to end at a million rows: build a 1,000,000-row JSONL from the instruction sets in
../shared/data (light seeded rewording so rows differ), then time `instemb embed` (sharded)
and `instemb select -n 10000` on the shard folder: wall time, rows/s, peak RSS of each step.

    python benchmarks/million.py                    # the full run (about an hour on 2 cores)
    python benchmarks/million.py --limit 2000 -n 50 # the same pipeline, small (CI runs this)

Peak RSS is the child process's own maximum resident set (os.wait4), so it is each command's
figure, not this script's.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
INSTEMB = [sys.executable, "-m", "instemb.cli"]


def _jsonl(path, field):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)[field] for line in f if line.strip()]


def _json(path, field):
    return [r[field] for r in json.loads(Path(path).read_text(encoding="utf-8"))]


def base_pool(shared: Path) -> list[tuple[str, str]]:
    """(source, instruction) for every distinct instruction of the public sets."""
    ieb = shared / "instruction-embedding-benchmark"
    sources = {
        "ieb-train": lambda: json.loads((ieb / "eft_train_unsup.json").read_text(encoding="utf-8")),
        "alpaca": lambda: _json(shared / "stanford-alpaca/alpaca_5000.json", "instruction"),
        "lima": lambda: _json(shared / "lima/lima.json", "instruction"),
        "gsm8k": lambda: _jsonl(shared / "gsm8k/train.jsonl", "question") + _jsonl(shared / "gsm8k/test.jsonl", "question"),
        "math": lambda: _jsonl(shared / "math/test.jsonl", "problem"),
        "mbpp": lambda: _jsonl(shared / "mbpp/mbpp.jsonl", "text"),
        "code-alpaca": lambda: _json(shared / "code-alpaca/code_alpaca_2k.json", "instruction"),
        "self-instruct": lambda: _jsonl(shared / "self-instruct/seed_tasks.jsonl", "instruction")
        + _jsonl(shared / "self-instruct/user_oriented_instructions.jsonl", "instruction"),
        "alpaca-eval": lambda: _json(shared / "alpaca-eval/model_outputs.json", "instruction"),
        "koala": lambda: _jsonl(shared / "koala/koala_test_set.jsonl", "prompt"),
        "ifeval": lambda: _jsonl(shared / "ifeval/input_data.jsonl", "prompt"),
        "clinc150": lambda: [t for split in ("train", "val", "test") for t, _ in
                             json.loads((shared / "clinc150/data_full.json").read_text())[split]],
        "banking77": lambda: [r["text"] for name in ("train.csv", "test.csv")
                              for r in csv.DictReader(open(shared / "banking77" / name, encoding="utf-8"))],
        "flan": lambda: [line.split("\t")[0].replace("\\n", "\n") for f in sorted((shared / "flan").glob("*_train.tsv"))
                         for line in open(f, encoding="utf-8")],
    }
    seen, pool = set(), []
    for name, get in sources.items():
        for text in get():
            text = text.strip() if isinstance(text, str) else ""
            if text and text not in seen:
                seen.add(text)
                pool.append((name, text))
    return pool


PREFIXES = ["", "", "", "Please ", "Could you ", "I need help: ", "Quick question: ", "Task: ",
            "Hi! ", "Hey, ", "Kindly ", "Help me out. "]
SUFFIXES = ["", "", "", " Thanks.", " Thank you!", " Be brief.", " Explain your answer.",
            " Keep it short.", " Please be detailed.", " (urgent)", " Answer in English.", " :)"]


def reword(text: str, rng: random.Random) -> str:
    """A light, meaning-keeping variation: a polite prefix and/or suffix, sometimes lower case."""
    pre, suf = rng.choice(PREFIXES), rng.choice(SUFFIXES)
    if pre in ("Please ", "Could you ", "Kindly ") and text[:1].isupper() and not text[:2].isupper():
        text = text[0].lower() + text[1:]
    out = pre + text + suf
    return out.lower() if rng.random() < 0.1 else out


def build(path: Path, rows: int, seed: int = 0) -> dict:
    pool = base_pool(SHARED)
    rng = random.Random(seed)
    seen: set[str] = set()
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for i in range(rows):
            source, base = pool[i] if i < len(pool) else rng.choice(pool)
            text = base if i < len(pool) else reword(base, rng)
            while text in seen:  # rows must differ: reword again (and again)
                text = reword(base, rng) + rng.choice(["", " ", "!", "?", " please"])
            seen.add(text)
            f.write(json.dumps({"id": i, "source": source, "instruction": text}, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return {"rows": rows, "distinct_base_instructions": len(pool), "bytes": path.stat().st_size}


def timed(cmd: list[str]) -> dict:
    """Run a command; wall seconds and the child's own peak RSS (MiB)."""
    print("$", " ".join(cmd[2:] if cmd[:3] == INSTEMB else cmd), flush=True)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"command failed with exit code {code}: {' '.join(cmd)}")
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=1_000_000, help="rows to build (default 1,000,000)")
    ap.add_argument("-n", type=int, default=10_000, help="rows for `instemb select -n`")
    ap.add_argument("--workdir", type=Path, default=ROOT / "results" / "million")
    ap.add_argument("--shard-size", type=int, default=50_000)
    ap.add_argument("--model", default="instemb")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the JSONL and shards afterwards")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--readme", action="store_true", help="update the README's million section")
    args = ap.parse_args()

    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    data, shards, selected = work / f"rows-{args.limit}.jsonl", work / f"shards-{args.limit}", work / "selected.jsonl"
    t = time.perf_counter()
    built = build(data, args.limit, args.seed)
    built["seconds"] = round(time.perf_counter() - t, 1)
    print(f"built {built['rows']:,} rows from {built['distinct_base_instructions']:,} distinct instructions "
          f"({built['bytes'] / 2**20:.0f} MiB) in {built['seconds']} s", flush=True)

    if shards.exists():
        import shutil
        shutil.rmtree(shards)
    embed = timed(INSTEMB + ["embed", str(data), "-o", str(shards), "--model", args.model,
                             "--shard-size", str(args.shard_size)])
    embed["rows_per_s"] = round(args.limit / embed["seconds"], 1)
    select = timed(INSTEMB + ["select", str(shards), "-n", str(args.n), "-o", str(selected),
                              "--seed", str(args.seed)])
    select["rows_per_s"] = round(args.limit / select["seconds"], 1)
    with open(selected, encoding="utf-8") as f:
        kept = sum(1 for _ in f)
    if kept != args.n:
        raise SystemExit(f"select wrote {kept} rows, expected {args.n}")

    result = {"rows": args.limit, "select_n": args.n, "model": args.model, "cores": os.cpu_count(),
              "build": built, "embed": embed, "select": select}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.readme:
        from readme_section import replace_section
        body = ("| step | wall time | rows/s | peak RSS |\n|---|---|---|---|\n"
                f"| `instemb embed` ({args.limit:,} rows, shards of {args.shard_size:,}) | "
                f"{embed['seconds'] / 60:.1f} min | {embed['rows_per_s']:,.0f} | {embed['peak_rss_mib'] / 1024:.2f} GiB |\n"
                f"| `instemb select -n {args.n:,}` on the shard folder | {select['seconds'] / 60:.1f} min | "
                f"{select['rows_per_s']:,.0f} | {select['peak_rss_mib'] / 1024:.2f} GiB |\n\n"
                f"{os.cpu_count()} CPU cores, model `{args.model}`, its default prompt. "
                "Regenerate: `python benchmarks/million.py --readme`.")
        replace_section("million", body)
    if not args.keep:
        data.unlink(missing_ok=True)
        import shutil
        shutil.rmtree(shards, ignore_errors=True)


if __name__ == "__main__":
    main()
