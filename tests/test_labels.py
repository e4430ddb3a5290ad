"""Tests for instemb.labels: task labeller, agreement, WordNet verb groups (real spaCy model)."""

import pytest

pytest.importorskip("spacy")
pytest.importorskip("nltk")

from instemb.labels import agreement, label_instructions, label_rows, verb_synonym_groups  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _cache(tmp_path_factory):
    # WordNet files go to a private cache dir so the tests never touch ~/.cache
    mp = pytest.MonkeyPatch()
    mp.setenv("INSTEMB_CACHE", str(tmp_path_factory.mktemp("instemb-cache")))
    yield
    mp.undo()


CASES = [
    ("Outline the steps to make an apple pie.", "outline|step"),
    ("Write a poem about cats", "write|poem"),
    ("Write a function that returns the sum of two numbers.", "write|function"),
    ("Given a list of movies, find the movie that is most similar to a given one.", "find|movie"),
    ("I want you to write a short story about a dragon.", "write|story"),
    ("Can you name three countries in Africa?", "name|country"),
    ("Please suggest a few books for a 11 year old kid", "suggest|book"),
    ("Name 5 songs that express positive emotions", "name|song"),
    ("Give me a list of fruits that are red.", "give|list"),
    ("What is the capital of France?", "what|knowledge"),
    ("Who was the first president of the United States?", "who|knowledge"),
    ("Is a tomato a fruit or a vegetable?", "yes-no|knowledge"),
    ("How would you design a system to store user reviews?", "design|system"),
    ("Summarize the following paragraph.\nThe quick brown fox jumps over the lazy dog.", "summarize|paragraph"),
    ("Translate the sentence into French: I like apples.", "translate|sentence"),
    ("Imagine you are a chef. Write a recipe for a summer salad.", "write|recipe"),
    ("Your task is to classify the sentiment of the review.", "classify|sentiment"),
    ("Explain how to convert a string into a date.", "convert|string"),
    ("Find and replace all instances of the word.", "replace|instance"),
    ("Summarize what Alan Turing did.", "summarize|knowledge"),
    ("One of the best places to visit in Mexico", "noun|knowledge"),
]


def test_hand_written_instructions():
    got = [r["task"] for r in label_instructions([c[0] for c in CASES])]
    wrong = [(text, want, g) for (text, want), g in zip(CASES, got) if g != want]
    assert len(wrong) <= 1, wrong  # a statistical parser: allow one slip, not a pattern


def test_odd_input_never_crashes():
    texts = ["", "   \n  ", None, 42, "def f(x):\n    return x + 1", "Schreibe ein Gedicht über Katzen.",
             "???", "日本語の文章を要約してください。", "a" * 5000, "Write a poem."]
    res = label_instructions(texts, show_progress_bar=False)
    assert len(res) == len(texts)
    for r in res:
        assert set(r) == {"task", "reason"}
        assert (r["task"] is None) == (r["reason"] is not None)
        assert r["task"] is None or r["task"].count("|") == 1
    assert res[0] == {"task": None, "reason": "empty"}
    assert res[1]["reason"] == "empty"
    assert res[2]["task"] is None and "string" in res[2]["reason"]
    assert res[3]["task"] is None and "string" in res[3]["reason"]
    assert res[-1]["task"] == "write|poem"
    assert label_instructions([]) == []


def test_label_rows_keeps_fields():
    rows = [{"instruction": "Write a poem about the sea.", "input": "", "output": "Waves...", "id": 7},
            {"instruction": "", "id": 8},
            {"id": 9}]
    out = label_rows(rows)
    assert [r["id"] for r in out] == [7, 8, 9]
    assert out[0]["task"] == "write|poem" and "task_reason" not in out[0]
    assert out[0]["output"] == "Waves..." and out[0]["input"] == ""
    assert out[1]["task"] is None and out[1]["task_reason"] == "empty"
    assert out[2]["task"] is None and "instruction" in out[2]["task_reason"]
    assert "task" not in rows[0]  # the input rows are not modified
    assert label_rows([{"prompt": "Write a poem."}], field="prompt")[0]["task"] == "write|poem"


def test_agreement_arithmetic():
    gold = ["write|poem", "decide|statement##determine|statement", "what|knowledge", "list|city"]
    pred = ["write|poem", "determine|sentence", None, "name|city"]
    a = agreement(pred, gold)
    assert a["n"] == 4 and a["n_none"] == 1
    assert a["exact"] == pytest.approx(1 / 4)
    assert a["verb"] == pytest.approx(2 / 4)
    assert a["noun"] == pytest.approx(2 / 4)
    assert agreement(["determine|statement"], ["decide|statement##determine|statement"])["exact"] == 1.0
    with pytest.raises(ValueError):
        agreement(["a|b"], [])


def test_wordnet_verb_groups():
    groups = verb_synonym_groups(["compute", "calculate", "write", "Compute", "xyzzy"])
    assert groups == [["calculate", "compute"], ["write"], ["xyzzy"]]
    assert ["decide", "determine"] in verb_synonym_groups(["decide", "determine"])
    assert verb_synonym_groups([]) == []


def test_label_command(tmp_path):
    import json
    import subprocess
    import sys

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"instruction": "Write a poem about the sea.", "id": 1}) + "\n"
                   + json.dumps({"instruction": "What is the capital of Peru?", "id": 2}) + "\n")
    out = tmp_path / "out.jsonl"
    proc = subprocess.run([sys.executable, "-m", "instemb.cli", "label", str(src), "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["task"]) for r in rows] == [(1, "write|poem"), (2, "what|knowledge")]
