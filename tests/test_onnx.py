import dataclasses
import json

import numpy as np
import pytest

import instemb
from instemb import InstembError
from instemb.models import onnx_backend
from instemb.models.embedder import _pick_backend
from instemb.models.registry import ALIASES

pytest.importorskip("onnxruntime")

TEXTS = [
    "Outline the steps to bake bread",
    "Write a poem about apple pie.",
    "What is the capital of France?",
    "Translate the following sentence into German: I like trains, and I like them a lot.",
    "Sort these numbers",
]


@pytest.fixture
def tiny_folder(tiny_bert, tokenizer, tmp_path):
    folder = tmp_path / "tiny-bert"
    tiny_bert.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _cosines(a, b):
    return (a * b).sum(1)


def test_onnx_fp32_matches_torch_and_int8_is_close(tiny_folder):
    torch_vecs = instemb.load(str(tiny_folder), backend="torch", dtype="float32").encode(TEXTS, batch_size=2)
    fp32 = instemb.load(str(tiny_folder), backend="onnx", dtype="float32")
    assert (fp32.backend, fp32.dtype, fp32.dim) == ("onnx", "float32", 32)
    vecs = fp32.encode(TEXTS, batch_size=2)  # batches with padding
    assert vecs.shape == (len(TEXTS), 32) and vecs.dtype == np.float32
    assert _cosines(vecs, torch_vecs).min() > 0.999
    int8 = instemb.load(str(tiny_folder), backend="onnx", dtype="int8")
    assert int8.dtype == "int8"
    assert _cosines(int8.encode(TEXTS), torch_vecs).min() > 0.95


def test_export_is_cached_and_reused(tiny_folder, monkeypatch):
    instemb.load(str(tiny_folder), backend="onnx", dtype="int8")
    from instemb.data.ieb import cache_root

    built = sorted(p.name.split("-")[1] for p in (cache_root() / "onnx").iterdir())
    assert built == ["fp32", "int8"]  # no temporary folders left behind

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_backend, "export_fp32", no_export)
    monkeypatch.setattr(onnx_backend, "quantize_int8", no_export)
    again = instemb.load(str(tiny_folder), backend="onnx", dtype="int8")
    assert again.encode(TEXTS[:2]).shape == (2, 32)


def test_cache_key_differs_by_backend_and_quantisation(tiny_folder):
    keys = {instemb.load(str(tiny_folder), backend=b, dtype=d).cache_key()
            for b, d in [("torch", "float32"), ("onnx", "float32"), ("onnx", "int8")]}
    assert len(keys) == 3
    torch_key = json.loads(instemb.load(str(tiny_folder), backend="torch", dtype="float32").cache_key())
    assert "torch" not in torch_key  # keys of caches written before backends existed still match


def test_mean_instruction_pooling_shared_with_torch(tiny_bert, tokenizer):
    emb = instemb.from_model(tiny_bert, tokenizer, pooling="mean-instruction", prompt="pie")
    twin = onnx_backend.from_embedder(emb)
    assert twin.cache_key() != emb.cache_key()
    assert _cosines(twin.encode(TEXTS, batch_size=3), emb.encode(TEXTS, batch_size=3)).min() > 0.999


def test_backend_choice():
    alias = ALIASES["instemb"]
    assert _pick_backend("auto", "auto", alias, "encoder", "cpu") == alias.fast
    measured_fast = dataclasses.replace(alias, fast=("onnx", "int8"))
    assert _pick_backend("auto", "auto", measured_fast, "encoder", "cpu") == ("onnx", "int8")
    assert _pick_backend("onnx", "auto", measured_fast, "encoder", "cpu") == ("onnx", "int8")
    assert _pick_backend("auto", "auto", measured_fast, "encoder", "cuda") == ("torch", "auto")
    assert _pick_backend("auto", "float32", alias, "encoder", "cpu") == ("torch", "float32")
    assert _pick_backend("auto", "int8", None, "encoder", "cpu") == ("onnx", "int8")
    assert _pick_backend("auto", "auto", ALIASES["minilm"], "encoder", "cpu") == ("torch", "auto")
    assert _pick_backend("onnx", "auto", None, "encoder", "cpu") == ("onnx", "float32")


@pytest.mark.parametrize("backend, dtype, kind, message", [
    ("tensorrt", "auto", "encoder", "unknown backend 'tensorrt'"),
    ("onnx", "bfloat16", "encoder", "float32 or int8"),
    ("onnx", "auto", "decoder", "encoder models only"),
    ("torch", "int8", "encoder", None),
])
def test_bad_backend_is_one_line(backend, dtype, kind, message, tiny_folder):
    with pytest.raises(InstembError) as err:
        if message is None:  # torch cannot run int8: refused when the model loads
            instemb.load(str(tiny_folder), backend=backend, dtype=dtype)
        else:
            _pick_backend(backend, dtype, None, kind, "cpu")
    assert "\n" not in str(err.value)
    if message:
        assert message in str(err.value)
