"""`instemb embed --engine ray`: Ray Data actor pool output equals the local path, byte for byte."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import instemb
from instemb.errors import InstembError

ray = pytest.importorskip("ray")
from instemb.engines.ray_engine import encode_shards_on_ray  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")  # Ray's own internals

VERBS = ["Write", "Summarize", "Translate", "Explain", "List", "Rewrite", "Classify", "Outline"]
THINGS = ["a poem about the sea", "this news article", "the sentence into French",
          "how vaccines work", "five uses of copper", "the paragraph formally",
          "the review's sentiment", "the steps to bake bread"]


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, tiny_bert, tokenizer):
    path = tmp_path_factory.mktemp("tiny-bert")
    tiny_bert.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def test_cli_engine_ray_equals_local(tmp_path, tiny_model_dir):
    """End to end: a local Ray started (and stopped) by `instemb embed` writes the same shards."""
    pq = pytest.importorskip("pyarrow.parquet")
    rows = tmp_path / "rows.jsonl"
    texts = [t for _, shard in _shards(n_rows=1000) for t in shard]
    rows.write_text("".join(json.dumps({"id": i, "instruction": t}) + "\n"
                            for i, t in enumerate(texts)))
    folders = {}
    for engine in ("local", "ray"):
        folders[engine] = tmp_path / engine
        proc = subprocess.run(
            [sys.executable, "-m", "instemb.cli", "embed", str(rows), "-o", str(folders[engine]),
             "--model", tiny_model_dir, "--prompt", "pie", "--batch-size", "16",
             "--shard-size", "150", "--engine", engine, "--workers", "2", "--no-progress"],
            capture_output=True, text=True, env=dict(os.environ), timeout=300)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    names = sorted(p.name for p in folders["local"].glob("shard-*.parquet"))
    assert len(names) == 7 and names == sorted(p.name for p in folders["ray"].glob("shard-*"))
    for name in names:
        assert pq.read_table(folders["ray"] / name).equals(pq.read_table(folders["local"] / name))


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray (2 CPUs, no dashboard) for the in-process tests; the CLI test starts its own."""
    with pytest.MonkeyPatch.context() as mp:  # the workers inherit this environment
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 object_store_memory=256 << 20, logging_level="ERROR")
    yield
    ray.shutdown()


def _worker_pids() -> list[int]:
    """The processes of the embedding actors (Ray titles them after the class)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"ShardWorker" in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            pass
    assert pids, "no Ray worker process found"
    return pids


def _shards(n_rows=3000, shard_size=250):
    texts = [f"{VERBS[i % 8]} {THINGS[(i // 8) % 8]} (case {i})" + " please" * (i % 5)
             for i in range(n_rows)]
    return [(k, texts[start:start + shard_size])
            for k, start in enumerate(range(0, n_rows, shard_size))]


def test_ray_matches_local_byte_for_byte(local_ray, tiny_model_dir):
    """Every shard exactly once and byte-identical, with bounded shards out, after a kill -9."""
    shards = _shards()
    load_kwargs = {"name_or_path": tiny_model_dir, "prompt": "pie"}
    local = instemb.load(**load_kwargs)
    expected = {k: local.encode(texts, batch_size=16, show_progress_bar=False)
                for k, texts in shards}

    pulled = []

    def lazily():
        for shard in shards:
            pulled.append(shard[0])
            yield shard

    got = {}
    for index, vectors in encode_shards_on_ray(lazily(), load_kwargs, batch_size=16, workers=2):
        assert index not in got, f"shard {index} came back twice"
        got[index] = vectors
        assert len(pulled) - len(got) < 2 * 2, "more than two shards per worker were out"
        if len(got) == 2:  # kill -9 a worker mid-run: Ray restarts it and retries its shard
            os.kill(_worker_pids()[0], signal.SIGKILL)
    assert sorted(got) == sorted(expected)  # every shard exactly once
    for index, vectors in got.items():
        assert vectors.dtype == np.float32 and vectors.shape == expected[index].shape
        assert vectors.tobytes() == expected[index].tobytes(), f"shard {index} differs"
    assert ray.is_initialized()  # a Ray it did not start is left running


def test_ray_worker_error_is_one_line(local_ray, tmp_path):
    load_kwargs = {"name_or_path": str(tmp_path / "no-such-model")}
    with pytest.raises(InstembError, match="on a Ray worker: model folder .* does not exist"):
        list(encode_shards_on_ray([(0, ["Write a poem."])], load_kwargs, batch_size=8, workers=1))
