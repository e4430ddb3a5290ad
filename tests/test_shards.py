"""Streaming, sharded, resumable `instemb embed` (a tiny BERT saved to a folder, loaded by path),
shard folders as input to the downstream commands, and a real `kill -9` in the middle of a run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from instemb.data import shards
from instemb.data.stream import BadRows, iter_instructions
from instemb.errors import InstembError

WORDS = ("write summarize translate explain list classify rewrite outline compare generate poem "
         "recipe email story code essay tweet question answer plan").split()


def instructions(n, seed=0):
    """n distinct instruction-like texts of varied length."""
    rng = np.random.default_rng(seed)
    return [f"{i}: " + " ".join(rng.choice(WORDS, size=int(rng.integers(3, 20)))) for i in range(n)]


def write_jsonl(path, texts, bad_at=()):
    lines = [json.dumps({"id": i, "instruction": t}) for i, t in enumerate(texts)]
    for i in bad_at:
        lines[i] = '{"id": %d, "instruction": "unterminated' % i
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, tiny_bert, tokenizer):
    """The conftest tiny BERT and its tokenizer, saved so `instemb --model FOLDER` loads it."""
    folder = tmp_path_factory.mktemp("models") / "tiny-bert"
    tiny_bert.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def cli(*args):
    """In-process `instemb ...`; an InstembError propagates (the real CLI turns it into exit 2)."""
    from typer.testing import CliRunner

    from instemb.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


# one torch thread per subprocess: on a busy 2-core machine two spinning threads run 10x slower
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "instemb.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=ENV)


def embed_args(src, out, model, *extra):
    return ("embed", src, "-o", out, "--model", model, "--dtype", "float32", "--no-progress",
            *extra)


def shard_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


# --- streaming readers (no model) ------------------------------------------------------------

def test_stream_formats_and_line_numbers(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"instruction": ["a", "b", ""], "k": [1, 2, 3]}), tmp_path / "x.parquet")
    bad = BadRows()
    got = list(iter_instructions(tmp_path / "x.parquet", skip_bad=True, bad=bad))
    assert [(n, t) for n, _, t in got] == [(1, "a"), (2, "b")] and got[0][1] == {"instruction": "a", "k": 1}
    assert bad.count == 1 and "row 3" in bad.examples[0] and "is empty" in bad.examples[0]

    (tmp_path / "x.csv").write_text('instruction,k\n"two\nlines",1\nplain,2\n')
    assert [(n, t) for n, _, t in iter_instructions(tmp_path / "x.csv")] == [(2, "two\nlines"), (4, "plain")]

    (tmp_path / "x.txt").write_bytes(b"one\n\n\xff\xfe bad\r\nthree\r\n")
    with pytest.raises(InstembError, match=r"x\.txt:3: not UTF-8"):
        list(iter_instructions(tmp_path / "x.txt"))
    assert [(n, t) for n, _, t in iter_instructions(tmp_path / "x.txt", skip_bad=True)] == [(1, "one"), (4, "three")]

    write_jsonl(tmp_path / "x.jsonl", ["a", "b", "c"], bad_at=[1])
    with pytest.raises(InstembError, match=r"x\.jsonl:2: malformed JSON line"):
        list(iter_instructions(tmp_path / "x.jsonl"))
    (tmp_path / "all_bad.jsonl").write_text('{"text": "a"}\n')
    with pytest.raises(InstembError, match=r"no rows found \(1 bad rows skipped\)"):
        list(iter_instructions(tmp_path / "all_bad.jsonl", skip_bad=True))


# --- sharded embedding -----------------------------------------------------------------------

def test_shards_equal_single_array_and_per_shard_encode(tmp_path, tiny_dir):
    import instemb

    texts = instructions(230)
    src = write_jsonl(tmp_path / "in.jsonl", texts)
    cli(*embed_args(src, tmp_path / "one.npy", tiny_dir))
    result = cli(*embed_args(src, tmp_path / "sh", tiny_dir, "--shard-size", "50", "--batch-size", "16"))
    assert "230 rows in 5 shards" in result.stderr and "rows/s" in result.stderr

    rows, vectors = shards.load_shards(tmp_path / "sh")
    assert [r["id"] for r in rows] == list(range(230)) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, np.load(tmp_path / "one.npy"), atol=1e-5)
    model = instemb.load(str(tiny_dir), dtype="float32")  # each shard is exactly one encode call
    for k in range(5):
        assert np.array_equal(vectors[50 * k:50 * (k + 1)],
                              model.encode(texts[50 * k:50 * (k + 1)], batch_size=16))
    manifest = json.loads((tmp_path / "sh" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["rows"] == 230 and manifest["bad_rows"] == 0
    s = manifest["settings"]
    assert (s["shard_size"], s["batch_size"], s["field"], s["pooling"], s["dtype"]) == (50, 16, "instruction", "mean", "float32")
    assert s["weights"] == model.fingerprint and manifest["input"]["size"] == src.stat().st_size
    assert [e["rows"] for e in manifest["shards"]] == [50, 50, 50, 50, 30]
    assert np.array_equal(np.concatenate(list(shards.iter_vectors(tmp_path / "sh"))), vectors)
    assert np.array_equal(shards.load_vectors(tmp_path / "sh"), vectors)


def test_resume_after_crash_is_byte_identical(tmp_path, tiny_dir):
    import instemb

    src = write_jsonl(tmp_path / "in.jsonl", instructions(260))
    cli(*embed_args(src, tmp_path / "whole", tiny_dir, "--shard-size", "40"))

    model = instemb.load(str(tiny_dir), dtype="float32")
    settings = shards.embedding_settings(model, batch_size=32, field="instruction", shard_size=40)
    encode = shards.local_encoder(model, 32)

    def crashing(todo):
        for n, item in enumerate(encode(todo)):
            if n == 3:
                raise KeyboardInterrupt
            yield item

    with pytest.raises(KeyboardInterrupt):
        shards.embed_to_shards(src, tmp_path / "cut", crashing, settings, progress=False)
    assert len(list((tmp_path / "cut").glob("shard-*.parquet"))) == 3
    with pytest.raises(InstembError, match="the embedding run is not finished"):
        shards.load_shards(tmp_path / "cut")
    with pytest.raises(InstembError, match="already holds an embedding run; add --resume"):
        cli(*embed_args(src, tmp_path / "cut", tiny_dir, "--shard-size", "40"))
    result = cli(*embed_args(src, tmp_path / "cut", tiny_dir, "--shard-size", "40", "--resume"))
    assert "4 computed, 3 kept from before" in result.stderr
    assert shard_bytes(tmp_path / "cut") == shard_bytes(tmp_path / "whole")
    assert "nothing to do" in cli(*embed_args(src, tmp_path / "cut", tiny_dir, "--shard-size", "40",
                                              "--resume")).stderr


def test_full_disk_keeps_finished_shards(tmp_path, tiny_dir, monkeypatch):
    src = write_jsonl(tmp_path / "in.jsonl", instructions(100))
    cli(*embed_args(src, tmp_path / "whole", tiny_dir, "--shard-size", "20"))
    real_write, calls = shards.write_shard, []

    def write_until_full(path, shard, vectors):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_write(path, shard, vectors)

    monkeypatch.setattr(shards, "write_shard", write_until_full)
    with pytest.raises(InstembError, match="shard-00002.parquet: cannot write the shard "
                                           r"\(No space left on device\); the finished shards"):
        cli(*embed_args(src, tmp_path / "cut", tiny_dir, "--shard-size", "20"))
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "cut").iterdir()) == [
        "manifest.json", "shard-00000.parquet", "shard-00001.parquet"]
    cli(*embed_args(src, tmp_path / "cut", tiny_dir, "--shard-size", "20", "--resume"))
    assert shard_bytes(tmp_path / "cut") == shard_bytes(tmp_path / "whole")


def test_resume_refuses_changed_settings_or_input(tmp_path, tiny_dir):
    src = write_jsonl(tmp_path / "in.jsonl", instructions(60))
    cli(*embed_args(src, tmp_path / "sh", tiny_dir, "--shard-size", "25"))
    for extra, fragment in [(("--shard-size", "30"), "shard_size was 25, now 30"),
                            (("--shard-size", "25", "--batch-size", "8"), "batch_size was 32, now 8"),
                            (("--shard-size", "25", "--prompt", "pie"), "prompt was 'none', now 'pie'")]:
        with pytest.raises(InstembError, match=f"cannot resume: {fragment}"):
            cli(*embed_args(src, tmp_path / "sh", tiny_dir, *extra, "--resume"))
    write_jsonl(src, instructions(61))
    with pytest.raises(InstembError, match="cannot resume: the input file changed"):
        cli(*embed_args(src, tmp_path / "sh", tiny_dir, "--shard-size", "25", "--resume"))


def test_bad_line_stops_or_is_skipped_and_counted(tmp_path, tiny_dir):
    src = write_jsonl(tmp_path / "in.jsonl", instructions(120), bad_at=[77])
    with pytest.raises(InstembError, match=r"in\.jsonl:78: malformed JSON line .*--skip-bad.*the "
                                           r"3 finished shards are kept"):
        cli(*embed_args(src, tmp_path / "sh", tiny_dir, "--shard-size", "25"))
    # nothing finished yet: no folder is left behind
    with pytest.raises(InstembError, match=r"in\.jsonl:78: malformed JSON line"):
        cli(*embed_args(src, tmp_path / "big", tiny_dir, "--shard-size", "100"))
    assert not (tmp_path / "big").exists()

    result = cli(*embed_args(src, tmp_path / "sh", tiny_dir, "--shard-size", "25", "--resume",
                             "--skip-bad"))
    assert "119 rows in 5 shards" in result.stderr and "1 bad rows skipped" in result.stderr
    manifest = shards.read_manifest(tmp_path / "sh")
    assert manifest["bad_rows"] == 1 and manifest["bad_row_examples"][0].endswith(
        "in.jsonl:78: malformed JSON line (Invalid control character at)")
    rows, _ = shards.load_shards(tmp_path / "sh")
    assert [r["id"] for r in rows] == [i for i in range(120) if i != 77]


def test_cli_errors_are_one_line(tmp_path, tiny_dir):
    src = write_jsonl(tmp_path / "in.jsonl", instructions(5), bad_at=[2])
    proc = run_cli(*embed_args(src, tmp_path / "out", tiny_dir))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("instemb: error:") and "in.jsonl:3:" in lines[0]
    assert not (tmp_path / "out").exists()
    proc = run_cli("embed", src, "-o", tmp_path / "x.npy", "--resume")
    assert proc.returncode == 2 and "give -o a folder" in proc.stderr


# --- shard folders as input --------------------------------------------------------------------

def test_select_and_demos_read_a_shard_folder(tmp_path, tiny_dir):
    from instemb.tools.select import select

    src = write_jsonl(tmp_path / "in.jsonl", instructions(150))
    cli(*embed_args(src, tmp_path / "sh", tiny_dir, "--shard-size", "40"))
    result = cli("select", tmp_path / "sh", "-n", "6", "-o", tmp_path / "sub.jsonl", "--no-progress")
    chosen = [json.loads(line) for line in (tmp_path / "sub.jsonl").read_text().splitlines()]
    want = select(shards.load_vectors(tmp_path / "sh"), 6, seed=0).indices
    assert [r["id"] for r in chosen] == [int(i) for i in want] and "warning" not in result.stderr

    result = cli("select", tmp_path / "sh", "-n", "6", "-o", tmp_path / "sub2.jsonl", "--model",
                 "minilm", "--prompt", "pie")
    assert "warning: --model minilm, --prompt pie ignored" in result.stderr
    assert (tmp_path / "sub2.jsonl").read_text() == (tmp_path / "sub.jsonl").read_text()
    with pytest.raises(InstembError, match="shards hold embeddings of field 'instruction'"):
        cli("select", tmp_path / "sh", "-n", "6", "-o", tmp_path / "x.jsonl", "--field", "text")

    # demos: the pool's stored vectors; queries from a raw file embedded by the manifest's model
    pool = [json.loads(line) for line in src.read_text().splitlines()]
    for r in pool:
        r["output"] = f"answer {r['id']}"
    (tmp_path / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pool))
    cli(*embed_args(tmp_path / "pool.jsonl", tmp_path / "pool", tiny_dir, "--shard-size", "40"))
    queries = write_jsonl(tmp_path / "q.jsonl", [pool[3]["instruction"], pool[90]["instruction"]])
    cli("demos", "--pool", tmp_path / "pool", "--queries", queries, "-k", "1", "-o", tmp_path / "d.jsonl")
    got = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert [g["demos"][0]["pool_index"] for g in got] == [3, 90]
    assert got[0]["demos"][0]["score"] == pytest.approx(1.0, abs=1e-4)


def test_correlate_reads_shard_folders(tmp_path, tiny_dir):
    a = write_jsonl(tmp_path / "a.jsonl", instructions(60, seed=1))
    b = write_jsonl(tmp_path / "b.jsonl", instructions(50, seed=2))
    cli(*embed_args(a, tmp_path / "a", tiny_dir, "--shard-size", "25"))
    cli(*embed_args(b, tmp_path / "b", tiny_dir, "--shard-size", "25"))
    cli("correlate", tmp_path / "a", tmp_path / "b", "-o", tmp_path / "from_shards", "--names", "a,b")
    cli("correlate", a, b, "-o", tmp_path / "from_files", "--names", "a,b", "--model", tiny_dir)
    got = json.loads((tmp_path / "from_shards" / "correlation.json").read_text())
    want = json.loads((tmp_path / "from_files" / "correlation.json").read_text())
    assert got["rows"] == [60, 50]
    # same model; bf16 rounding differs with batch composition (shards of 25 vs one pass)
    assert np.allclose(got["max_cosine"], want["max_cosine"], atol=1e-3)
    assert np.allclose(got["wasserstein"], want["wasserstein"], rtol=1e-2)
    with pytest.raises(InstembError, match="different models"):  # stored tiny-model vectors beside minilm ones
        cli("correlate", tmp_path / "a", b, "-o", tmp_path / "mixed", "--model", "minilm")


# --- a real kill -9 ---------------------------------------------------------------------------

def test_kill_9_then_resume_is_byte_identical(tmp_path, tiny_dir):
    n, size = 2000, 100
    src = write_jsonl(tmp_path / "in.jsonl", instructions(n, seed=1))
    args = ("--shard-size", size, "--batch-size", 8)
    proc = run_cli(*embed_args(src, tmp_path / "whole", tiny_dir, *args))
    assert proc.returncode == 0, proc.stderr

    cmd = [sys.executable, "-m", "instemb.cli", *map(str, embed_args(src, tmp_path / "cut", tiny_dir, *args))]
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    deadline = time.time() + 240
    while not list((tmp_path / "cut").glob("shard-*.parquet")) and child.poll() is None:
        assert time.time() < deadline, "no shard appeared"
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    done = sorted(p.name for p in (tmp_path / "cut").glob("shard-*.parquet"))
    manifest = json.loads((tmp_path / "cut" / "manifest.json").read_text())
    assert 1 <= len(done) < n // size and not manifest["complete"]

    proc = run_cli(*embed_args(src, tmp_path / "cut", tiny_dir, *args, "--resume"))
    assert proc.returncode == 0, proc.stderr
    assert f"{n // size - len(done)} computed, {len(done)} kept from before" in proc.stderr
    assert shard_bytes(tmp_path / "cut") == shard_bytes(tmp_path / "whole")  # no temp files left
    rows, vectors = shards.load_shards(tmp_path / "cut")
    assert [r["id"] for r in rows] == list(range(n))
    assert vectors.shape[0] == n and np.array_equal(vectors, shards.load_vectors(tmp_path / "whole"))
