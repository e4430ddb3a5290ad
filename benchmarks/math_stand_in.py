"""A stand-in for MATH's train split, for one diagnostic run (`make math-diagnostic`), never for a
shipped model: MATH's train split is not in ../shared/data, so this writes the 4,000 MATH *test*
problems outside the 1,000 that the intent check samples as `math/train.jsonl`, in a folder that
links the other public sets, for `instemb train --mix ...,math --extra-data OUT`.

    python benchmarks/math_stand_in.py [--shared ../shared/data] [-o runs/diag-data]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINKED = ("stanford-alpaca", "gsm8k", "code-alpaca", "flan", "clinc150", "banking77")


def main() -> None:
    from instemb.bench.intent import _math

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared/data"))
    ap.add_argument("-o", "--output", default=str(ROOT / "runs/diag-data"))
    args = ap.parse_args()
    shared, out = Path(args.shared).resolve(), Path(args.output)
    (out / "math").mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = out / name
        if link.is_symlink():
            link.unlink()
        link.symlink_to(shared / name)
    checked = set(_math(shared)[0])  # the intent check's 1,000 problems stay unseen
    rows = [json.loads(line) for line in open(shared / "math/test.jsonl", encoding="utf-8")]
    kept = [{"problem": r["problem"], "type": r["type"]} for r in rows if r["problem"] not in checked]
    tmp = out / "math/train.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
    tmp.replace(out / "math/train.jsonl")
    print(f"{out}/math/train.jsonl: {len(kept)} problems ({len(rows) - len(kept)} held out for the check)")


if __name__ == "__main__":
    main()
