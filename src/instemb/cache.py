"""On-disk embedding cache: one vector per (model, prompt, pooling, dtype, text)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np

from instemb.data.ieb import cache_root


def _key(prefix: str, text: str) -> str:
    return hashlib.sha256(f"{prefix}\x00{text}".encode()).hexdigest()


class EmbeddingCache:
    """A SQLite table of float32 vectors; safe to share between runs."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else cache_root() / "embeddings.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB)")

    def encode(self, embedder, texts: list[str], batch_size: int = 32,
               show_progress_bar: bool | None = None) -> tuple[np.ndarray, int]:
        """Vectors for texts (input order) and how many had to be computed."""
        prefix = embedder.cache_key()
        keys = [_key(prefix, t) for t in texts]
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 900):
            chunk = unique[i:i + 900]
            marks = ",".join("?" * len(chunk))
            for k, blob in self.db.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", chunk):
                found[k] = np.frombuffer(blob, dtype=np.float32)
        todo = {k: t for k, t in zip(keys, texts) if k not in found}
        if todo:
            vecs = embedder.encode(list(todo.values()), batch_size=batch_size,
                                   show_progress_bar=show_progress_bar)
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                                    [(k, v.tobytes()) for k, v in zip(todo, vecs)])
            found.update(zip(todo, vecs))
        return np.stack([found[k] for k in keys]).astype(np.float32), len(todo)

    def close(self) -> None:
        self.db.close()
