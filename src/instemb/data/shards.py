"""Embeddings of large instruction sets as a folder of shards, resumable after a crash.

A shard folder holds ``manifest.json`` and ``shard-00000.parquet``, ``shard-00001.parquet``, ...
Each shard is one Parquet file with the rows ``[k * shard_size, (k + 1) * shard_size)`` of the
input's good rows, in input order, and three columns:

- ``line`` (int64): the row's line (JSONL, CSV, text) or row number (Parquet, JSON) in the input;
- ``row`` (string): the original row as JSON text, every field kept;
- ``embedding`` (fixed-size list of float32): the row's vector, stored uncompressed so that
  reading it back is a copy, not a decode.

Why Parquet rather than .npy + JSONL: one file per shard is one atomic unit (rows and vectors
cannot get out of step), the rows are zstd-compressed, and pandas, polars, DuckDB or Hugging Face
``datasets`` read a shard folder as it is. Each shard is written to a temporary file, synced and
renamed, so a crash or ``kill -9`` leaves only whole shards. Each shard's texts are encoded with
one ``encode(texts, batch_size=...)`` call, so a shard's bytes do not depend on what ran before
it: a resumed run gives the same files as an uninterrupted one.

The manifest records the model (name and weights fingerprint), prompt, pooling, dtype, batch size,
field, shard size and the input's size and SHA-256; ``resume`` refuses when any of them differ.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from instemb.data.io import write_json
from instemb.data.stream import (BadRows, check_input_file, estimate_rows, file_fingerprint,
                                 iter_instructions)
from instemb.errors import InstembError

MANIFEST = "manifest.json"
FORMAT = "instemb-shards"
VERSION = 1
_SHARD = re.compile(r"^shard-(\d+)\.parquet$")

#: encode(iterable of (shard index, texts)) -> iterator of (shard index, (n, dim) float32 array),
#: in any order; each array is ``embedder.encode(texts, batch_size=...)``.
ShardEncoder = Callable[[Iterable[tuple[int, list[str]]]], Iterator[tuple[int, np.ndarray]]]


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.parquet"


def is_shard_folder(path: str | os.PathLike) -> bool:
    path = Path(path)
    return path.is_dir() and (path / MANIFEST).is_file()


def embedding_settings(embedder, *, batch_size: int, field: str, shard_size: int) -> dict:
    """Everything that changes a shard's bytes, apart from the input itself."""
    return {
        "model": embedder.name,
        "weights": embedder.fingerprint,
        "kind": embedder.kind,
        "backend": getattr(embedder, "backend", "torch"),
        "prompt": embedder.prompt.name,
        "prompt_template": embedder.prompt.template,
        "pooling": embedder.pooling,
        "dtype": embedder.dtype,
        "dim": embedder.dim,
        "batch_size": batch_size,
        "field": field,
        "shard_size": shard_size,
        "cache_key": embedder.cache_key(),
    }


def local_encoder(embedder, batch_size: int) -> ShardEncoder:
    """Encode shard after shard in this process."""
    def encode(shards: Iterable[tuple[int, list[str]]]) -> Iterator[tuple[int, np.ndarray]]:
        for index, texts in shards:
            yield index, embedder.encode(texts, batch_size=batch_size, show_progress_bar=False)
    return encode


# --- writing ---------------------------------------------------------------------------------

@dataclass
class Shard:
    """One shard's input rows: line numbers, rows and instruction texts."""

    index: int
    lines: list[int]
    rows: list[dict]
    texts: list[str]


def group_shards(rows: Iterable[tuple[int, dict, str]], shard_size: int) -> Iterator[Shard]:
    """Cut ``(line, row, text)`` items into consecutive shards of ``shard_size``."""
    shard = Shard(0, [], [], [])
    for line, row, text in rows:
        shard.lines.append(line)
        shard.rows.append(row)
        shard.texts.append(text)
        if len(shard.texts) == shard_size:
            yield shard
            shard = Shard(shard.index + 1, [], [], [])
    if shard.texts:
        yield shard


def write_shard(path: Path, shard: Shard, vectors: np.ndarray) -> None:
    """Write one shard atomically: temporary file, fsync, rename."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    table = pa.table({
        "line": pa.array(shard.lines, pa.int64()),
        "row": pa.array([json.dumps(r, ensure_ascii=False, default=str) for r in shard.rows],
                        pa.string()),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)),
                                                       vectors.shape[1]),
    })
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            pq.write_table(table, f, compression={"line": "zstd", "row": "zstd",
                                                  "embedding": "none"},
                           use_dictionary=False, write_statistics=["line"])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _finished_shards(folder: Path) -> dict[int, int]:
    """Shard index -> row count of the shard files already in ``folder``."""
    import pyarrow.parquet as pq

    found = {}
    for f in folder.iterdir():
        m = _SHARD.match(f.name)
        if m:
            try:
                found[int(m.group(1))] = pq.ParquetFile(f).metadata.num_rows
            except (OSError, ValueError):
                pass  # unreadable: computed again
    return found


def check_shard_folder(folder: str | os.PathLike, resume: bool = False) -> Path:
    """Fail early when ``folder`` cannot take a new (or resumed) shard run."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InstembError(f"{folder}: exists and is not a folder (give a folder for shards, "
                           f"or a .npy file for one array)")
    if not folder.exists():
        if not folder.parent.exists():
            raise InstembError(f"{folder}: folder {folder.parent} does not exist")
        if resume:
            raise InstembError(f"{folder}: nothing to resume (no such folder)")
    elif resume and not (folder / MANIFEST).exists():
        raise InstembError(f"{folder}: no {MANIFEST} to resume from; run without --resume")
    elif not resume:
        if (folder / MANIFEST).exists():
            raise InstembError(f"{folder}: already holds an embedding run; add --resume to finish "
                               f"it, or choose a new folder")
        if any(not f.name.startswith(".") for f in folder.iterdir()):
            raise InstembError(f"{folder}: folder is not empty; choose a new or empty folder")
    return folder


def _manifest_json(path: Path) -> dict:
    """A manifest file's contents, checked to be an instemb shard manifest."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InstembError(f"{path}: not a readable manifest") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InstembError(f"{path}: not an instemb shard manifest")
    return manifest


def _prepare(folder: Path, resume: bool, settings: dict, source: dict) -> dict | None:
    """Check the output folder; on resume, the manifest to continue (None when fresh)."""
    check_shard_folder(folder, resume)
    if not resume:
        folder.mkdir(exist_ok=True)
        return None
    old = _manifest_json(folder / MANIFEST)
    for key, value in {**settings, "input": source}.items():
        was = old.get("input") if key == "input" else old.get("settings", {}).get(key)
        if key == "input":
            was = {k: (was or {}).get(k) for k in ("size", "sha256")}
            value = {k: value[k] for k in ("size", "sha256")}
        if was != value:
            what = "the input file changed" if key == "input" else f"{key} was {was!r}, now {value!r}"
            raise InstembError(f"{folder}: cannot resume: {what}; use the same settings, or a "
                               f"new folder")
    for f in folder.iterdir():  # temporary files of a killed run
        if f.name.startswith(".") and f.name.endswith(".tmp") or f.name.startswith(f".{MANIFEST}."):
            f.unlink()
    return old


def embed_to_shards(source: str | os.PathLike, folder: str | os.PathLike, encode: ShardEncoder,
                    settings: dict, *, resume: bool = False, skip_bad: bool = False,
                    progress: bool | None = None) -> dict:
    """Embed the instructions of ``source`` (streamed) into shards in ``folder``.

    ``settings`` come from :func:`embedding_settings` (``field`` and ``shard_size`` are read
    from it). With ``resume``, shards already on disk are kept and only the others computed;
    a manifest whose settings or input fingerprint differ is refused. Returns the final
    manifest, plus run statistics under ``"run"`` (not written)."""
    from tqdm.auto import tqdm

    source, folder = Path(source), Path(folder)
    field, shard_size = settings["field"], settings["shard_size"]
    if shard_size < 1:
        raise InstembError("--shard-size must be at least 1")
    check_input_file(source)
    rows = iter_instructions(source, field, skip_bad=skip_bad, bad=(bad := BadRows()))
    fingerprint = {"path": str(source.resolve()), **file_fingerprint(source)}
    created = not folder.exists()
    old = _prepare(folder, resume, settings, fingerprint)
    manifest = {"format": FORMAT, "version": VERSION, "settings": settings,
                "input": fingerprint, "complete": False, "rows": None, "bad_rows": None,
                "bad_row_examples": [], "shards": []}
    if old is not None and old.get("complete") and \
            all((folder / s["file"]).is_file() for s in old["shards"]):
        return {**old, "run": {"computed": 0, "reused": len(old["shards"]), "rows": 0,
                                "seconds": 0.0, "already_complete": True}}
    write_json(manifest, folder / MANIFEST)
    finished = _finished_shards(folder) if old is not None else {}
    done: dict[int, dict] = {}
    pending: dict[int, Shard] = {}
    total = estimate_rows(source)
    if progress is None:  # a bar for long inputs only
        progress = total >= 2000 if total is not None else source.stat().st_size >= 1 << 20
    bar = tqdm(total=total, disable=not progress, desc="embedding", unit="row", smoothing=0.1)
    counts = {"computed": 0, "reused": 0, "rows": 0}

    def entry(shard: Shard) -> dict:
        return {"file": shard_name(shard.index), "rows": len(shard.texts),
                "first_line": shard.lines[0], "last_line": shard.lines[-1]}

    def write(index: int, vectors: np.ndarray) -> None:
        shard = pending.pop(index)
        if vectors.shape != (len(shard.texts), settings["dim"]):
            raise InstembError(f"shard {index}: the encoder returned {vectors.shape} vectors "
                               f"for {len(shard.texts)} rows")
        path = folder / shard_name(index)
        try:
            write_shard(path, shard, vectors)
            done[index] = entry(shard)
            write_json({**manifest, "shards": [done[i] for i in sorted(done)]}, folder / MANIFEST)
        except OSError as e:  # a full disk, a folder removed under us, ...
            raise InstembError(f"{path}: cannot write the shard ({e.strerror or e}); the "
                               f"finished shards are kept: fix it and run again with "
                               f"--resume") from None
        counts["computed"] += 1
        counts["rows"] += len(shard.texts)
        bar.update(len(shard.texts))

    def todo() -> Iterator[tuple[int, list[str]]]:
        for shard in group_shards(rows, shard_size):
            if finished.get(shard.index) == len(shard.texts):
                done[shard.index] = entry(shard)
                counts["reused"] += 1
                bar.update(len(shard.texts))
                continue
            pending[shard.index] = shard
            yield shard.index, shard.texts

    start = time.perf_counter()
    try:
        with bar:
            for index, vectors in encode(todo()):
                write(index, vectors)
    except BaseException as e:
        if old is None and not done:  # a fresh run that finished nothing leaves nothing behind
            (folder / MANIFEST).unlink(missing_ok=True)
            if created and not any(folder.iterdir()):
                folder.rmdir()
        elif isinstance(e, InstembError) and "--resume" not in str(e):
            raise InstembError(f"{e}; the {len(done)} finished shards are kept, --resume "
                               f"goes on from them") from None
        raise
    seconds = time.perf_counter() - start
    if pending:
        raise InstembError(f"the encoder returned no vectors for shards {sorted(pending)}")
    for stale in set(finished) - set(done):  # only if files were added by hand
        (folder / shard_name(stale)).unlink()
    manifest.update(complete=True, rows=sum(d["rows"] for d in done.values()),
                    bad_rows=bad.count, bad_row_examples=bad.examples,
                    shards=[done[i] for i in sorted(done)])
    write_json(manifest, folder / MANIFEST)
    return {**manifest, "run": {**counts, "seconds": seconds}}


# --- reading ---------------------------------------------------------------------------------

def read_manifest(folder: str | os.PathLike) -> dict:
    """The manifest of a finished shard folder (an unfinished one is an error)."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise InstembError(f"{folder}: not a shard folder (no {MANIFEST})")
    manifest = _manifest_json(path)
    if not manifest.get("complete"):
        raise InstembError(f"{folder}: the embedding run is not finished; run `instemb embed` "
                           f"again with --resume")
    for s in manifest["shards"]:
        if not (folder / s["file"]).is_file():
            raise InstembError(f"{folder}: shard {s['file']} is missing")
    return manifest


def _read_shard(folder: Path, entry: dict, columns: list[str]):
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(folder / entry["file"], columns=columns, memory_map=True)
    except (OSError, ValueError) as e:
        raise InstembError(f"{folder / entry['file']}: not a readable shard ({e})") from None
    if table.num_rows != entry["rows"]:
        raise InstembError(f"{folder / entry['file']}: has {table.num_rows} rows, the manifest "
                           f"says {entry['rows']}")
    return table


def _vectors(table, dim: int) -> np.ndarray:
    column = table.column("embedding").combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)


def iter_vectors(folder: str | os.PathLike) -> Iterator[np.ndarray]:
    """The vectors shard by shard, in input order: memory bounded by one shard."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    for entry in manifest["shards"]:
        yield _vectors(_read_shard(folder, entry, ["embedding"]), manifest["settings"]["dim"])


def load_vectors(folder: str | os.PathLike) -> np.ndarray:
    """All vectors as one (rows, dim) float32 array, filled shard by shard (no second copy)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    out = np.empty((manifest["rows"], manifest["settings"]["dim"]), dtype=np.float32)
    at = 0
    for vectors in iter_vectors(folder):
        out[at:at + len(vectors)] = vectors
        at += len(vectors)
    return out


def iter_rows(folder: str | os.PathLike) -> Iterator[dict]:
    """The original rows, in input order."""
    folder = Path(folder)
    for entry in read_manifest(folder)["shards"]:
        for text in _read_shard(folder, entry, ["row"]).column("row").to_pylist():
            yield json.loads(text)


def load_shards(folder: str | os.PathLike) -> tuple[list[dict], np.ndarray]:
    """The original rows and their (rows, dim) float32 vectors, in input order."""
    return list(iter_rows(folder)), load_vectors(folder)


# --- shard folders as input to the other commands --------------------------------------------

class StoredTexts(list):
    """The instruction texts of a shard folder, carrying the vectors stored beside them."""

    def __init__(self, texts: list[str], vectors: np.ndarray, manifest: dict):
        super().__init__(texts)
        self.vectors = vectors
        self.manifest = manifest


def read_shard_input(folder: str | os.PathLike, field: str) -> tuple[list[dict], StoredTexts]:
    """Rows and texts (with stored vectors) of a finished shard folder."""
    manifest = read_manifest(folder)
    stored = manifest["settings"]["field"]
    if field != stored:
        raise InstembError(f"{folder}: the shards hold embeddings of field {stored!r}; pass "
                           f"--field {stored}")
    rows, vectors = load_shards(folder)
    return rows, StoredTexts([r[stored] for r in rows], vectors, manifest)


class StoredEmbedder:
    """Stands in for the embedder a shard folder was made with: its own texts get the stored
    vectors; other texts (e.g. demos queries) the same model, loaded on first use."""

    def __init__(self, manifest: dict):
        self.settings = manifest["settings"]
        self.name = self.settings["model"]
        self.dim = self.settings["dim"]
        self._embedder = None

    def load(self):
        if self._embedder is None:
            import inspect

            from instemb.models import load

            s = self.settings
            kwargs = {"pooling": s["pooling"], "dtype": s["dtype"],
                      "prompt": s["prompt_template"] if s["prompt"] == "custom" else s["prompt"]}
            if "backend" in inspect.signature(load).parameters:
                kwargs["backend"] = s["backend"]
            self._embedder = load(s["model"], **kwargs)
            if self._embedder.cache_key() != s["cache_key"]:
                raise InstembError(f"the model {s['model']} has changed since the shards were "
                                   f"written; embed the shard folder's input again")
        return self._embedder

    def encode(self, texts, batch_size: int = 32, show_progress_bar: bool | None = None):
        if isinstance(texts, StoredTexts) and \
                texts.manifest["settings"]["cache_key"] == self.settings["cache_key"]:
            return texts.vectors
        return self.load().encode(texts, batch_size=batch_size, show_progress_bar=show_progress_bar)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.load(), name)

    def __repr__(self) -> str:
        s = self.settings
        return (f"StoredEmbedder(name={s['model']!r}, pooling={s['pooling']!r}, "
                f"prompt={s['prompt']!r}, dtype={s['dtype']!r}, dim={s['dim']})")
