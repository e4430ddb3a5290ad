"""PIE embedders over Hugging Face transformers: encoders (CLS or mean) and decoder LLMs
(last-token state, optionally averaged over the last two layers)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from instemb.errors import InstembError
from instemb.models.registry import DEFAULT_MODEL, resolve
from instemb.prompts import Prompt, get_prompt

ENCODER_POOLINGS = ("cls", "mean", "mean-instruction")
DECODER_POOLINGS = ("last", "last2")
POOLING_HELP = (
    "cls: first token; mean: mean over all tokens of the prompted text (prompt, instruction and "
    "special tokens, as sentence-transformers does); mean-instruction: mean over the instruction's "
    "own tokens only; last: last token's final hidden state (decoders); last2: last token's state "
    "averaged over the last two layers (decoders, the paper's choice)"
)
DTYPES = ("auto", "float32", "bfloat16", "float16", "int8")
BACKENDS = ("auto", "torch", "onnx")
BACKEND_HELP = (
    "torch: PyTorch at the chosen dtype; onnx: ONNX Runtime, exported once into the cache "
    "(dtype float32, or int8 = dynamic int8 quantisation; encoders only); auto: the fastest path "
    "measured faithful for the model (benchmarks/faithfulness.py) when dtype is auto, ONNX for "
    "dtype int8, torch otherwise"
)


def cpu_has_bf16() -> bool:
    """True when this CPU runs bfloat16 matmuls natively (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(dtype: str, device: str):
    import torch

    if dtype not in DTYPES:
        raise InstembError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if dtype == "int8":
        raise InstembError("dtype int8 needs the ONNX backend (backend='onnx' or 'auto')")
    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if cpu_has_bf16() else torch.float32
    return getattr(torch, dtype)


def check_instructions(instructions) -> list[str]:
    """Reject what cannot be embedded, naming the first bad item."""
    if isinstance(instructions, str):
        raise InstembError("encode() takes a list of instructions, not a single string")
    texts = list(instructions)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InstembError(f"instruction {i} is not a string (got {type(t).__name__})")
        if not t.strip():
            raise InstembError(f"instruction {i} is empty")
    return texts


def _is_decoder(config) -> bool:
    """Decoder LLM (causal attention) rather than a bidirectional encoder."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_MASKED_LM_MAPPING_NAMES)

    archs = getattr(config, "architectures", None) or []
    if archs:
        return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs)
    kind = getattr(config, "model_type", "")
    return bool(getattr(config, "is_decoder", False)) or (
        kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES)


def _sentence_transformers_info(path: Path) -> tuple[Path, str | None, int | None]:
    """For a sentence-transformers folder: the transformer sub-folder, its pooling, max length."""
    modules = path / "modules.json"
    if not modules.exists():
        return path, None, None
    sub, pooling, max_len = path, None, None
    for module in json.loads(modules.read_text()):
        folder = path / module.get("path", "")
        if module["type"].endswith("models.Transformer"):
            sub = folder
            cfg = folder / "sentence_bert_config.json"
            if cfg.exists():
                max_len = json.loads(cfg.read_text()).get("max_seq_length")
        elif module["type"].endswith("models.Pooling"):
            cfg = json.loads((folder / "config.json").read_text())
            if cfg.get("pooling_mode_cls_token"):
                pooling = "cls"
            elif cfg.get("pooling_mode_mean_tokens"):
                pooling = "mean"
    return sub, pooling, max_len


def _fingerprint(source: str, path: Path | None) -> str:
    """Identify the weights: alias/folder plus size and mtime of the weight files."""
    h = hashlib.sha256(source.encode())
    if path is not None and path.is_dir():
        for f in sorted(path.rglob("*")):
            if f.suffix in (".safetensors", ".bin", ".gguf") and f.is_file():
                st = f.stat()
                h.update(f"{f.relative_to(path)}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


class Embedder:
    """Embeds instructions with a prompt and a pooling; see :func:`load`.

    Tokenisation, length-sorted batching and pooling live here; the forward pass is
    :meth:`_hidden` (PyTorch here, ONNX Runtime in :mod:`instemb.models.onnx_backend`)."""

    backend = "torch"

    def __init__(self, model, tokenizer, *, name: str, kind: str, pooling: str, prompt: Prompt,
                 max_length: int, fingerprint: str, device: str = "cpu"):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.kind = kind
        self.pooling = pooling
        self.prompt = prompt
        self.max_length = max_length
        self.fingerprint = fingerprint
        self.device = device

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def dtype(self) -> str:
        return str(next(self.model.parameters()).dtype).replace("torch.", "")

    def cache_key(self) -> str:
        """Everything that changes the vectors, apart from the text itself (torch keys are
        unchanged from before there were backends, so old caches stay valid)."""
        parts = [self.fingerprint, self.kind, self.pooling, self.prompt.template,
                 self.prompt.add_period, self.max_length, self.dtype]
        return json.dumps(parts if self.backend == "torch" else parts + [self.backend])

    def _tokenize(self, texts: list[str]):
        """Token ids per text (prompt applied), and for mean-instruction the instruction mask.

        An over-long instruction is cut so that the whole prompt still fits."""
        want_spans = self.pooling == "mean-instruction"
        parts = [self.prompt.split(t) for t in texts]
        enc = self.tokenizer(["".join(p) for p in parts], add_special_tokens=True,
                             truncation=False, return_offsets_mapping=want_spans or None,
                             return_attention_mask=False)
        ids = enc["input_ids"]
        too_long = [i for i, x in enumerate(ids) if len(x) > self.max_length]
        if too_long:
            for i in too_long:
                before, inst, after = parts[i]
                inst_tok = self.tokenizer(inst, add_special_tokens=False,
                                          return_offsets_mapping=True)
                budget = max(1, len(inst_tok["input_ids"]) - (len(ids[i]) - self.max_length))
                cut = inst_tok["offset_mapping"][budget - 1][1]
                parts[i] = (before, inst[:cut], after)
            again = self.tokenizer(["".join(parts[i]) for i in too_long], add_special_tokens=True,
                                   truncation=True, max_length=self.max_length,
                                   return_offsets_mapping=want_spans or None,
                                   return_attention_mask=False)
            for j, i in enumerate(too_long):
                ids[i] = again["input_ids"][j]
                if want_spans:
                    enc["offset_mapping"][i] = again["offset_mapping"][j]
        masks = None
        if want_spans:
            masks = []
            for (before, inst, _), offsets in zip(parts, enc["offset_mapping"]):
                lo, hi = len(before), len(before) + len(inst)
                masks.append([1 if (e > s and s < hi and e > lo) else 0 for s, e in offsets])
        return ids, masks

    def _batch(self, ids: list[list[int]], masks, rows: list[int]):
        """Padded numpy inputs for the rows (right-padded; left for decoders) and the pooling
        mask of mean-instruction (None otherwise)."""
        width = max(len(ids[r]) for r in rows)
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.tokenizer.eos_token_id or 0
        input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        attention = np.zeros((len(rows), width), dtype=np.int64)
        pool_mask = np.zeros((len(rows), width), dtype=np.float32) if masks else None
        left = self.kind == "decoder"
        for j, r in enumerate(rows):
            n = len(ids[r])
            sl = slice(width - n, width) if left else slice(0, n)
            input_ids[j, sl] = ids[r]
            attention[j, sl] = 1
            if masks:
                pool_mask[j, sl] = masks[r]
        batch = {"input_ids": input_ids, "attention_mask": attention}
        if left:
            batch["position_ids"] = np.clip(attention.cumsum(1) - 1, 0, None)
        return batch, pool_mask

    def _hidden(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """The model's output as float32 numpy: final hidden states (batch, tokens, dim) for
        encoders, the pooled last-token state (batch, dim) for decoders. Backends override this."""
        import torch

        inputs = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}
        with torch.inference_mode():
            if self.kind != "decoder":
                return self.model(**inputs).last_hidden_state.float().cpu().numpy()
            states = self.model(**inputs, output_hidden_states=True, use_cache=False).hidden_states
            vec = states[-1][:, -1].float()
            if self.pooling == "last2":
                vec = (vec + states[-2][:, -1].float()) / 2
            return vec.cpu().numpy()

    def _pool(self, hidden: np.ndarray, attention: np.ndarray, pool_mask) -> np.ndarray:
        """One vector per row from what :meth:`_hidden` returned."""
        if hidden.ndim == 2:  # decoders pool inside _hidden
            return hidden
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = attention.astype(np.float32)
        if pool_mask is not None:
            empty = pool_mask.sum(1) == 0  # nothing of the instruction survived: use all tokens
            mask = np.where(empty[:, None], mask, pool_mask)
        summed = np.matmul(mask[:, None, :], hidden)[:, 0]
        return summed / np.maximum(mask.sum(1, keepdims=True), 1e-9)

    def encode(self, instructions: Sequence[str], batch_size: int = 32,
               show_progress_bar: bool | None = None) -> np.ndarray:
        """Embed instructions: float32 array (n, dim), rows L2-normalised, in input order."""
        from tqdm.auto import tqdm

        texts = check_instructions(instructions)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        if batch_size < 1:
            raise InstembError("batch_size must be at least 1")
        ids, masks = self._tokenize(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(ids[i]))  # longest first
        if show_progress_bar is None:
            show_progress_bar = len(texts) >= 2000
        with tqdm(total=len(texts), disable=not show_progress_bar, desc="embedding",
                  unit="instr") as bar:
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                batch, pool_mask = self._batch(ids, masks, rows)
                vec = self._pool(self._hidden(batch), batch["attention_mask"], pool_mask)
                out[rows] = vec / np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
                bar.update(len(rows))
        return out

    def __repr__(self) -> str:
        return (f"Embedder(name={self.name!r}, kind={self.kind!r}, pooling={self.pooling!r}, "
                f"prompt={self.prompt.name!r}, backend={self.backend!r}, dtype={self.dtype!r}, "
                f"dim={self.dim})")


def from_model(model, tokenizer, *, name: str = "in-memory", pooling: str | None = None,
               prompt: str | Prompt | None = None, max_length: int = 512) -> Embedder:
    """Wrap an already loaded transformers model (used by tests and training code)."""
    kind = "decoder" if _is_decoder(model.config) else "encoder"
    pooling = pooling or ("last2" if kind == "decoder" else "mean")
    _check_pooling(kind, pooling)
    model.eval()
    return Embedder(model, tokenizer, name=name, kind=kind, pooling=pooling,
                    prompt=get_prompt(prompt), max_length=max_length,
                    fingerprint=f"memory-{id(model)}",
                    device=str(next(model.parameters()).device))


def _check_hub(model_id: str) -> None:
    """Fail fast and clearly for a hub id that is neither cached nor reachable."""
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(model_id, local_files_only=True)
        return  # in the local Hugging Face cache
    except (OSError, ValueError):
        pass
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or ""
    offline = constants.HF_HUB_OFFLINE
    if not offline:
        try:
            socket.getaddrinfo(host, 443)
        except OSError:
            offline = True
    if offline:
        raise InstembError(
            f"unknown model {model_id!r}: not an alias (see `instemb models`), not a local folder, "
            f"not in the Hugging Face cache, and the Hub ({host}) is unreachable from here"
        )


def _check_pooling(kind: str, pooling: str) -> None:
    allowed = DECODER_POOLINGS if kind == "decoder" else ENCODER_POOLINGS
    if pooling not in allowed:
        raise InstembError(f"pooling {pooling!r} does not fit a {kind} model: use one of "
                           f"{', '.join(allowed)}")


def _pick_backend(backend: str, dtype: str, alias, kind: str, device: str) -> tuple[str, str]:
    """(backend, dtype) to run: ``auto`` resolved, impossible combinations refused."""
    if backend not in BACKENDS:
        raise InstembError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if dtype not in DTYPES:
        raise InstembError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    fast_backend, fast_dtype = (alias.fast if alias else ("torch", "auto"))
    if backend == "auto":
        if dtype == "int8":
            backend = "onnx"
        elif (dtype == "auto" and device == "cpu" and fast_backend == "onnx"
              and importlib.util.find_spec("onnxruntime") is not None):
            backend = "onnx"
        else:
            backend = "torch"
    if backend == "onnx":
        if kind == "decoder":
            raise InstembError("the ONNX backend runs encoder models only: use backend torch")
        if device != "cpu":
            raise InstembError("the ONNX backend runs on the CPU only: use backend torch")
        if dtype in ("bfloat16", "float16"):
            raise InstembError(f"the ONNX backend takes dtype float32 or int8, not {dtype}")
        if dtype == "auto":
            dtype = fast_dtype if fast_backend == "onnx" else "float32"
    return backend, dtype


def load(name_or_path: str = DEFAULT_MODEL, pooling: str | None = None,
         prompt: str | Prompt | None = None, dtype: str = "auto", device: str = "cpu",
         max_length: int | None = None, backend: str = "auto") -> Embedder:
    """Load an embedder from an alias (see ``instemb models``), a local folder or a hub id.

    pooling defaults to the model's own (sentence-transformers config) for encoders, else
    ``mean``; ``last2`` for decoders. prompt is a template name (``pie``, ``pie-short``,
    ``none``) or a string with ``{instruction}``; by default the alias's own (``none`` for
    other models).

    backend ``torch``: dtype ``auto`` means bfloat16 where the CPU supports it, float32
    otherwise. backend ``onnx`` (encoders, CPU): the model is exported once to ONNX in the cache
    (``<cache>/onnx/``); dtype ``float32`` runs that graph, ``int8`` a dynamically quantised
    copy (int8 weights per channel, activations quantised per batch), ``auto`` the one the
    alias records as measured faithful (``Alias.fast``), else float32. backend ``auto``: the
    alias's ``fast`` path when dtype is ``auto`` (ONNX int8 for the default model, torch for
    the others: see benchmarks/faithfulness.py), ONNX for dtype ``int8``, torch for any other
    dtype.
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    source, alias = resolve(name_or_path)
    prompt = get_prompt(prompt if prompt is not None else (alias.prompt if alias else "none"))
    path = Path(source)
    local = path.is_dir()
    if not local and (source.startswith(("/", ".", "~")) or source.count("/") > 1):
        raise InstembError(f"model folder {source} does not exist")
    st_pooling, st_max = None, None
    if local:
        path, st_pooling, st_max = _sentence_transformers_info(path)
    else:
        _check_hub(source)
    try:
        config = AutoConfig.from_pretrained(str(path) if local else source)
    except (OSError, ValueError) as e:
        if local:
            raise InstembError(f"cannot read a transformers model from {path}: {e}") from None
        raise InstembError(
            f"unknown model {source!r}: not an alias (see `instemb models`), not a local folder, "
            f"and not loadable from the Hugging Face Hub (offline or no such id)"
        ) from None
    kind = alias.kind if alias else ("decoder" if _is_decoder(config) else "encoder")
    pooling = pooling or (alias.pooling if alias else None) or st_pooling or (
        "last2" if kind == "decoder" else "mean")
    _check_pooling(kind, pooling)
    backend, dtype = _pick_backend(backend, dtype, alias, kind, device)
    where = str(path) if local else source
    tokenizer = AutoTokenizer.from_pretrained(where)
    if not getattr(tokenizer, "is_fast", False) and pooling == "mean-instruction":
        raise InstembError("mean-instruction pooling needs a fast tokenizer")
    limits = [st_max, getattr(config, "max_position_embeddings", None),
              tokenizer.model_max_length if tokenizer.model_max_length < 1e6 else None,
              512 if kind == "encoder" else 1024]
    common = dict(name=name_or_path, kind=kind, pooling=pooling, prompt=prompt,
                  max_length=max_length or min(x for x in limits if x),
                  fingerprint=_fingerprint(source, path if local else None))
    if backend == "onnx":
        from instemb.models.onnx_backend import load_onnx

        return load_onnx(where, config, tokenizer, quantize=dtype == "int8", **common)
    model = AutoModel.from_pretrained(where, dtype=resolve_dtype(dtype, device)).to(device)
    model.eval()
    return Embedder(model, tokenizer, device=device, **common)
