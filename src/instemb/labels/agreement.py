"""Agreement between predicted ``verb|noun`` labels and gold IEB category keys."""

from __future__ import annotations


def _alternatives(key: str) -> list[tuple[str, str]]:
    alts = []
    for alt in str(key).split("##"):
        verb, _, noun = alt.strip().partition("|")
        alts.append((verb.strip().lower(), noun.strip().lower()))
    return alts


def _split(label) -> tuple[str | None, str | None]:
    if not isinstance(label, str) or "|" not in label:
        return None, None
    verb, _, noun = label.partition("|")
    return verb.strip().lower() or None, noun.strip().lower() or None


def agreement(predicted: list[str | None], gold_keys: list[str]) -> dict:
    """Exact, verb-only and noun-only agreement of ``predicted`` with ``gold_keys``.

    A gold key ``"a|b##c|d"`` accepts either alternative: exact when the prediction equals one
    of them, verb when its verb equals the verb of any alternative, noun likewise. A None
    prediction counts as wrong. Returns the three rates, ``n`` and ``n_none``.
    """
    predicted, gold_keys = list(predicted), list(gold_keys)
    if len(predicted) != len(gold_keys):
        raise ValueError(f"{len(predicted)} predictions for {len(gold_keys)} gold keys")
    n = len(gold_keys)
    exact = verb = noun = none = 0
    for pred, key in zip(predicted, gold_keys):
        pv, pn = _split(pred)
        if pv is None and pn is None:
            none += 1
            continue
        alts = _alternatives(key)
        exact += any(pv == v and pn == o for v, o in alts)
        verb += any(pv == v for v, _ in alts)
        noun += any(pn == o for _, o in alts)
    rate = (lambda k: k / n) if n else (lambda k: 0.0)
    return {"exact": rate(exact), "verb": rate(verb), "noun": rate(noun), "n": n, "n_none": none}
