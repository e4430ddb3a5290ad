"""Replace a generated section of README.md, between `<!-- name:start -->` and `<!-- name:end -->`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

README = Path(__file__).resolve().parents[1] / "README.md"
SHARED = README.parent.parent / "shared/data"


def replace_section(name: str, body: str, readme: Path = README) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = readme.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{readme} has no {start} ... {end} section")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{body.rstrip()}\n{end}{tail}")


def measure_and_tabulate(doc: str, section: str, default_json: Path, measure: Callable,
                         markdown: Callable) -> None:
    """The command line of a script that scores trained runs and regenerates one README table:
    ``--runs``, ``--data-dir``, ``--shared-data``, ``--json`` (results written there),
    ``--from-json`` (only rewrite the table from saved results), ``--no-readme``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--runs", default=str(README.parent / "runs"))
    ap.add_argument("--data-dir", default=str(SHARED / "instruction-embedding-benchmark"))
    ap.add_argument("--shared-data", default=str(SHARED))
    ap.add_argument("--json", default=str(default_json))
    ap.add_argument("--from-json", help="Only rewrite the README table from a saved results file.")
    ap.add_argument("--no-readme", action="store_true")
    args = ap.parse_args()
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
    else:
        results = measure(args)
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    print(table)
    if not args.no_readme:
        replace_section(section, table)
