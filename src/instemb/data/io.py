"""Read instruction sets in the formats users hold them in; write outputs atomically.

Formats, by extension: ``.jsonl``/``.ndjson`` (one object per line), ``.json`` (a list of
strings or objects, or an IEB category dict), ``.csv``/``.tsv``, ``.parquet``, and anything
else as plain text with one instruction per line.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

from instemb.errors import InstembError

DEFAULT_FIELD = "instruction"


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def _rows_from_json(obj, path: Path) -> list[dict]:
    if isinstance(obj, list):
        return [x if isinstance(x, dict) else {DEFAULT_FIELD: x} for x in obj]
    if isinstance(obj, dict):
        rows = []
        for key, value in obj.items():  # IEB: category key -> {"samples": [...]} or [...]
            samples = value.get("samples") if isinstance(value, dict) else value
            if not isinstance(samples, list):
                raise InstembError(f"{path}: a JSON object must map categories to sample lists "
                                   f"(IEB format); key {key!r} does not")
            for s in samples:
                row = dict(s) if isinstance(s, dict) else {DEFAULT_FIELD: s}
                row["category"] = key
                rows.append(row)
        return rows
    raise InstembError(f"{path}: expected a JSON list or an IEB category object")


def _read_jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InstembError(f"{path}:{lineno}: malformed JSON line ({e.msg})") from None
            yield obj if isinstance(obj, dict) else {DEFAULT_FIELD: obj}


def read_rows(path: str | os.PathLike) -> list[dict]:
    """All rows of an instruction file, as dicts (plain text gives ``{"instruction": line}``)."""
    path = Path(path)
    if not path.exists():
        raise InstembError(f"{path}: no such file")
    if path.is_dir():
        raise InstembError(f"{path}: is a folder, not a file")
    try:
        if path.stat().st_size == 0:
            raise InstembError(f"{path}: file is empty")
        ext = _suffix(path)
        if ext in (".jsonl", ".ndjson"):
            rows = list(_read_jsonl(path))
        elif ext == ".json":
            try:
                obj = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise InstembError(f"{path}:{e.lineno}: malformed JSON ({e.msg})") from None
            rows = _rows_from_json(obj, path)
        elif ext in (".csv", ".tsv"):
            with open(path, encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f, delimiter="\t" if ext == ".tsv" else ","))
        elif ext == ".parquet":
            import pyarrow.parquet as pq

            try:
                rows = pq.read_table(path).to_pylist()
            except Exception as e:  # pyarrow raises several types for a bad file
                raise InstembError(f"{path}: not a readable Parquet file ({e})") from None
        else:
            with open(path, encoding="utf-8") as f:
                rows = [{DEFAULT_FIELD: line.rstrip("\n")} for line in f if line.strip()]
    except UnicodeDecodeError:
        raise InstembError(f"{path}: not UTF-8 text") from None
    except PermissionError:
        raise InstembError(f"{path}: permission denied") from None
    if not rows:
        raise InstembError(f"{path}: no rows found")
    return rows


def column(rows: list[dict], field: str = DEFAULT_FIELD, source: str = "input") -> list[str]:
    """The instruction texts of ``rows``; a missing, empty or non-string value is an error."""
    texts = []
    for i, row in enumerate(rows, 1):
        if field not in row:
            fields = ", ".join(list(row)[:8])
            raise InstembError(f"{source}: row {i} has no field {field!r} (it has: {fields}); "
                               f"choose one with --field")
        value = row[field]
        if not isinstance(value, str):
            raise InstembError(f"{source}: row {i}: field {field!r} is not a string "
                               f"(got {type(value).__name__})")
        if not value.strip():
            raise InstembError(f"{source}: row {i}: field {field!r} is empty")
        texts.append(value)
    return texts


def read_instructions(path: str | os.PathLike, field: str = DEFAULT_FIELD) -> tuple[list[dict], list[str]]:
    """Rows and their instruction texts, checked."""
    rows = read_rows(path)
    return rows, column(rows, field, str(path))


def check_output_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.parent.exists():
        raise InstembError(f"{path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise InstembError(f"{path}: is a folder; give a file name")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds."""
    path = check_output_path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_jsonl(rows, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_json(obj, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
