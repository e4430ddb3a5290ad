"""The Instruction Embedding Benchmark's released files: where they are, and how to read them.

Lookup order for the folder: an explicit ``data_dir``, then ``$INSTEMB_DATA``, then the user
cache, which is filled from the public GitHub repository at a pinned commit (sha256-checked).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from instemb.errors import InstembError

REPO = "Yiwei98/instruction-embedding-benchmark"
COMMIT = "cecb90fb886c20c56091d7cd67bc718af38fa4a8"
URL = "https://raw.githubusercontent.com/{repo}/{commit}/data/{name}"
SHA256 = {
    "eft_test.json": "d5bc096b18eb5161f075c9503a8a567325958aa04db14f9b9741f25b18cae9fc",
    "ift_test.json": "dafa559bfefd35d4a38cfc8f3c779a9efb0ad0133e2ea800f31e7f8614f2c2ba",
    "intention_similarity_test.json": "ec7f0496cef5e5c793ca49ebf1fb8798e26b9cc2d0c51e3cbca36b4503670e33",
    "eft_train_unsup.json": "888275d57cd7e32c31b4e00d42c7e34871701c162f5fe8ffd4928757e3c4f0f2",
}


def cache_root() -> Path:
    """instemb's cache folder: ``$INSTEMB_CACHE``, else ``~/.cache/instemb``."""
    env = os.environ.get("INSTEMB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "instemb"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download(name: str, dest: Path) -> None:
    url = URL.format(repo=REPO, commit=COMMIT, name=name)
    print(f"downloading IEB {name} from {url}", file=sys.stderr, flush=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:
            f.write(r.read())
    except (urllib.error.URLError, OSError) as e:
        tmp.unlink(missing_ok=True)
        raise InstembError(
            f"IEB file {name} is not available locally and the download failed ({e}); "
            f"offline, copy the files of {REPO} (commit {COMMIT[:7]}, folder data/) into a folder "
            f"and pass --data-dir DIR or set INSTEMB_DATA=DIR"
        ) from None
    if _sha256(tmp) != SHA256[name]:
        tmp.unlink()
        raise InstembError(f"downloaded {name} does not match its pinned sha256; not used")
    os.replace(tmp, dest)


def locate(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Path of one IEB file: from data_dir / $INSTEMB_DATA, else the (downloaded) cache."""
    chosen = data_dir or os.environ.get("INSTEMB_DATA")
    if chosen:
        path = Path(chosen) / name
        if not path.exists():
            raise InstembError(f"{path}: no such file (data folder {chosen})")
        return path
    path = cache_root() / "ieb" / COMMIT[:12] / name
    if not path.exists():
        if name not in SHA256:
            raise InstembError(f"{name} is not an IEB file")
        _download(name, path)
    return path


@dataclass
class LabelledTexts:
    texts: list[str]
    labels: list[str]


@dataclass
class Pairs:
    first: list[str]
    second: list[str]
    labels: list[int]


def _load_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InstembError(f"{path}:{e.lineno}: malformed JSON ({e.msg})") from None


def read_categories(path: Path, field: str = "instruction") -> LabelledTexts:
    """``eft_test.json``/``ift_test.json``: category key -> {"samples": [...]}."""
    data = _load_json(path)
    if not isinstance(data, dict):
        raise InstembError(f"{path}: expected an object mapping categories to samples")
    texts, labels = [], []
    for key, value in data.items():
        samples = value.get("samples") if isinstance(value, dict) else value
        if not isinstance(samples, list):
            raise InstembError(f"{path}: category {key!r} has no sample list")
        for s in samples:
            text = s.get(field) if isinstance(s, dict) else s
            if not isinstance(text, str) or not text.strip():
                raise InstembError(f"{path}: category {key!r} has a sample without {field!r}")
            texts.append(text)
            labels.append(key)
    return LabelledTexts(texts, labels)


def read_pairs(path: Path) -> Pairs:
    """``intention_similarity_test.json``: [{instruction1, instruction2, label}, ...]."""
    data = _load_json(path)
    if not isinstance(data, list):
        raise InstembError(f"{path}: expected a list of pairs")
    first, second, labels = [], [], []
    for i, p in enumerate(data, 1):
        try:
            a, b, y = p["instruction1"], p["instruction2"], int(p["label"])
        except (KeyError, TypeError, ValueError):
            raise InstembError(f"{path}: pair {i} needs instruction1, instruction2 and a 0/1 label") from None
        if y not in (0, 1):
            raise InstembError(f"{path}: pair {i} has label {y}, expected 0 or 1")
        first.append(a)
        second.append(b)
        labels.append(y)
    return Pairs(first, second, labels)


def read_unlabelled(path: Path) -> list[str]:
    """``eft_train_unsup.json``: a list of instruction strings."""
    data = _load_json(path)
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise InstembError(f"{path}: expected a list of strings")
    return data
