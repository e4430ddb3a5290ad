"""Read instruction rows one at a time, in bounded memory, checking each as it comes.

JSONL (one object per line), CSV/TSV and Parquet (``pyarrow`` record batches) are streamed;
plain text is streamed line by line; a JSON file (a list or an IEB category dict) is one value
and is read whole with :func:`instemb.data.io.read_rows`.

A bad row (a malformed JSON line, a missing field, an empty or non-string instruction) stops
the stream with one line naming the file and line, or with ``skip_bad`` is skipped and counted
in a :class:`BadRows`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Iterator

from instemb.data.io import DEFAULT_FIELD, read_rows
from instemb.errors import InstembError

STREAMED = (".jsonl", ".ndjson", ".csv", ".tsv", ".parquet")
PARQUET_BATCH = 8192


@dataclass
class BadRows:
    """Rows skipped with ``skip_bad``: how many, and the first few (where and why)."""

    count: int = 0
    examples: list[str] = dc_field(default_factory=list)
    keep: int = 20

    def add(self, where: str, problem: str) -> None:
        self.count += 1
        if len(self.examples) < self.keep:
            self.examples.append(f"{where}: {problem}")


def _where(path: Path, number: int) -> str:
    """``file:line`` for line-based formats, ``file: row N`` for the others."""
    if path.suffix.lower() in (".parquet", ".json"):
        return f"{path}: row {number}"
    return f"{path}:{number}"


def check_input_file(path: Path) -> None:
    if not path.exists():
        raise InstembError(f"{path}: no such file")
    if path.is_dir():
        raise InstembError(f"{path}: is a folder, not a file")
    if path.stat().st_size == 0:
        raise InstembError(f"{path}: file is empty")


def _jsonl(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except UnicodeDecodeError:
                yield lineno, None, "not UTF-8 text"
                continue
            except json.JSONDecodeError as e:
                yield lineno, None, f"malformed JSON line ({e.msg})"
                continue
            yield lineno, obj if isinstance(obj, dict) else {DEFAULT_FIELD: obj}, None


def _csv(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        try:
            reader.fieldnames  # reads the header
            while True:
                start = reader.line_num + 1  # a quoted field may span lines: report the first
                row = next(reader, None)
                if row is None:
                    return
                yield start, row, None
        except UnicodeDecodeError:
            raise InstembError(f"{path}: not UTF-8 text (after line {reader.line_num})") from None
        except csv.Error as e:
            raise InstembError(f"{path}:{reader.line_num}: malformed CSV ({e})") from None


def _parquet(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH)
        number = 0
        for batch in batches:
            for row in batch.to_pylist():
                number += 1
                yield number, row, None
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid / ArrowIOError derive from these
        raise InstembError(f"{path}: not a readable Parquet file ({e})") from None


def _text(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.rstrip(b"\n").rstrip(b"\r")
            if not raw.strip():
                continue
            try:
                yield lineno, {DEFAULT_FIELD: raw.decode("utf-8")}, None
            except UnicodeDecodeError:
                yield lineno, None, "not UTF-8 text"


def _in_memory(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    for number, row in enumerate(read_rows(path), 1):
        yield number, row, None


def iter_raw_rows(path: str | os.PathLike) -> Iterator[tuple[int, dict | None, str | None]]:
    """``(line or row number, row, problem)`` for every row; ``row`` is None when the line
    could not be parsed and ``problem`` says why."""
    path = Path(path)
    check_input_file(path)
    ext = path.suffix.lower()
    if ext in (".jsonl", ".ndjson"):
        return _jsonl(path)
    if ext in (".csv", ".tsv"):
        return _csv(path)
    if ext == ".parquet":
        return _parquet(path)
    if ext == ".json":
        return _in_memory(path)
    return _text(path)


def row_problem(row: dict, field: str) -> str | None:
    """Why ``row[field]`` cannot be embedded, or None."""
    if field not in row:
        fields = ", ".join(list(row)[:8])
        return f"no field {field!r} (it has: {fields}); choose one with --field"
    value = row[field]
    if not isinstance(value, str):
        return f"field {field!r} is not a string (got {type(value).__name__})"
    if not value.strip():
        return f"field {field!r} is empty"
    return None


def iter_instructions(path: str | os.PathLike, field: str = DEFAULT_FIELD, *,
                      skip_bad: bool = False, bad: BadRows | None = None
                      ) -> Iterator[tuple[int, dict, str]]:
    """``(line or row number, row, instruction)`` for every good row of ``path``, in order.

    A bad row raises :class:`InstembError` naming the file and line, or with ``skip_bad`` is
    counted in ``bad`` and skipped. A file without any good row is an error."""
    path = Path(path)
    bad = bad if bad is not None else BadRows()
    good = 0
    for number, row, problem in iter_raw_rows(path):
        problem = problem or row_problem(row, field)
        if problem:
            if not skip_bad:
                raise InstembError(f"{_where(path, number)}: {problem} "
                                   f"(--skip-bad skips and counts such rows)")
            bad.add(_where(path, number), problem)
            continue
        good += 1
        yield number, row, row[field]
    if not good:
        raise InstembError(f"{path}: no rows found" + (f" ({bad.count} bad rows skipped)"
                                                        if bad.count else ""))


def estimate_rows(path: str | os.PathLike) -> int | None:
    """A quick row count for a progress bar: exact for Parquet, lines for JSONL and text
    (blank or bad lines included), None for CSV (quoted fields may span lines)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(path).metadata.num_rows
        except (OSError, ValueError):
            return None
    if ext in (".csv", ".tsv", ".json"):
        return None
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def file_fingerprint(path: str | os.PathLike) -> dict:
    """Size and full SHA-256 of a file (about 1-2 GB/s with SHA extensions: seconds even at
    GB scale, next to minutes or hours of embedding)."""
    path = Path(path)
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256") if hasattr(hashlib, "file_digest") else None
        if digest is None:  # Python 3.10
            digest = hashlib.sha256()
            while chunk := f.read(1 << 24):
                digest.update(chunk)
    return {"size": path.stat().st_size, "sha256": digest.hexdigest()}
