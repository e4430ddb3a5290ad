import io
import json

import pytest

from instemb import InstembError
from instemb.data import ieb
from instemb.data.io import read_instructions, read_rows, write_jsonl


def test_formats(tmp_path):
    rows = [{"instruction": "Write a poem", "id": 1}, {"instruction": "Sort a list", "id": 2}]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    (tmp_path / "a.json").write_text(json.dumps(rows))
    (tmp_path / "s.json").write_text(json.dumps(["Write a poem", "Sort a list"]))
    (tmp_path / "a.csv").write_text("id,instruction\n1,Write a poem\n2,\"Sort a list\"\n")
    (tmp_path / "a.txt").write_text("Write a poem\n\nSort a list\n")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "a.parquet")
    for name in ("a.jsonl", "a.json", "s.json", "a.csv", "a.txt", "a.parquet"):
        _, texts = read_instructions(tmp_path / name)
        assert texts == ["Write a poem", "Sort a list"], name


def test_ieb_dict_format(ieb_dir):
    rows = read_rows(ieb_dir / "eft_test.json")
    assert len(rows) == 3291 and rows[0]["category"] == "outline|step"


@pytest.mark.parametrize("content,name,message", [
    ('{"instruction": "a"}\n{"instruction": \n', "x.jsonl", r"x.jsonl:2: malformed JSON line"),
    ('{"prompt": "a"}\n', "x.jsonl", r"row 1 has no field 'instruction'"),
    ('{"instruction": ""}\n', "x.jsonl", r"row 1: field 'instruction' is empty"),
    ('{"instruction": 5}\n', "x.jsonl", r"is not a string"),
    ("", "x.txt", "file is empty"),
    ("[1, 2", "x.json", "malformed JSON"),
])
def test_bad_input(tmp_path, content, name, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(InstembError, match=message):
        read_instructions(tmp_path / name)


def test_missing_file_and_output_folder(tmp_path):
    with pytest.raises(InstembError, match="no such file"):
        read_rows(tmp_path / "nope.jsonl")
    with pytest.raises(InstembError, match="does not exist"):
        write_jsonl([{"a": 1}], tmp_path / "missing" / "out.jsonl")


def test_ieb_readers(ieb_dir):
    cats = ieb.read_categories(ieb_dir / "eft_test.json")
    assert len(cats.texts) == 3291 and len(set(cats.labels)) == 145
    pairs = ieb.read_pairs(ieb_dir / "intention_similarity_test.json")
    assert len(pairs.labels) == 2496 and sum(pairs.labels) == 1504
    assert len(ieb.read_unlabelled(ieb_dir / "eft_train_unsup.json")) == 20814


def test_ieb_locate_download_checks_sha(ieb_dir, monkeypatch):
    good = (ieb_dir / "ift_test.json").read_bytes()
    served = {"body": b"not the file"}
    monkeypatch.setattr(ieb.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(served["body"]))
    with pytest.raises(InstembError, match="sha256"):
        ieb.locate("ift_test.json")
    served["body"] = good
    path = ieb.locate("ift_test.json")
    assert path.read_bytes() == good
    served["body"] = b"changed"  # cached now: no second download
    assert ieb.locate("ift_test.json") == path


def test_ieb_offline_message(monkeypatch):
    def refuse(url, timeout):
        raise ieb.urllib.error.URLError("no network")

    monkeypatch.setattr(ieb.urllib.request, "urlopen", refuse)
    with pytest.raises(InstembError, match="--data-dir DIR or set INSTEMB_DATA"):
        ieb.locate("eft_test.json")
