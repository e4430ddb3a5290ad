"""benchmarks/million.py end to end at a small --limit: build rows from ../shared/data, embed them
into shards with the packaged default model, select from the shard folder."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "stanford-alpaca").exists(), reason="needs ../shared/data")
def test_million_pipeline_small(tmp_path):
    out = tmp_path / "million.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "million.py"), "--limit", "400", "-n", "20",
                    "--shard-size", "150", "--workdir", str(tmp_path / "work"), "--json", str(out), "--keep"],
                   check=True, capture_output=True, text=True, timeout=600)
    result = json.loads(out.read_text())
    assert result["rows"] == 400 and result["build"]["rows"] == 400
    assert result["embed"]["peak_rss_mib"] > 0 and result["select"]["seconds"] > 0
    rows = [json.loads(line) for line in open(tmp_path / "work" / "rows-400.jsonl")]
    assert len({r["instruction"] for r in rows}) == 400  # every row differs
    selected = [json.loads(line) for line in open(tmp_path / "work" / "selected.jsonl")]
    assert len({r["id"] for r in selected}) == 20
