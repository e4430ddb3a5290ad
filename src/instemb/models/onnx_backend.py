"""ONNX Runtime backend for encoders: the transformer exported once to ONNX (fp32, or dynamically
quantised to int8) in instemb's cache; tokenisation, batching and pooling stay in
:class:`~instemb.models.embedder.Embedder`.

dtype: ``float32`` runs the exported graph (same vectors as torch fp32, cosine 1.00000);
``int8`` quantises every weight MatMul (int8 weights per output channel, uint8 activations
per batch). Measured on the default model (2-core AMD EPYC, AVX512-VNNI, one thread, per
CPU-second, no prompt): torch bf16 ~320, ONNX fp32 ~210, ONNX int8 ~510 instructions; int8's
cosine to fp32 is 0.976 min / 0.993 mean; on the shipped model it moved IEB's ARI by -0.007
(10-seed mean; a single seed moves more under bf16 alone) and Spearman by 0.0000, within the
0.01 faithfulness bar, so ``backend="auto"`` uses it for the default model
(benchmarks/faithfulness.py). Tried and dropped: onnxruntime.transformers' BERT fusions (slower than ORT's own
ALL-level fusions: 194 fp32 / 425 int8), MatMulNBits 8-bit blocks (cosine 0.999 but no faster
than torch bf16), int8 with the FFN input layers kept fp32 (0.995 mean cosine, ~340), batch
sizes 16-128 (32 is best); ONNX Runtime's CPU provider has no bfloat16 arithmetic."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from instemb.errors import InstembError
from instemb.models.embedder import Embedder

EXPORT_VERSION = 1  # bump when the export recipe changes: old files are then ignored
INPUTS = ("input_ids", "attention_mask")


def _require_onnxruntime():
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError:
        raise InstembError("the ONNX backend needs onnxruntime and onnx: pip install onnxruntime onnx"
                          ) from None
    return onnxruntime


def onnx_folder(fingerprint: str, variant: str) -> Path:
    """Cache folder of one exported variant (``fp32`` or ``int8``) of the weights."""
    import onnxruntime

    from instemb.data.ieb import cache_root

    key = hashlib.sha256(f"{fingerprint}:{variant}:{EXPORT_VERSION}:{onnxruntime.__version__}"
                         .encode()).hexdigest()[:16]
    return cache_root() / "onnx" / f"{fingerprint}-{variant}-{key}"


def _cached(folder: Path, build: Callable[[Path], None]) -> Path:
    """``folder/model.onnx``, built by ``build(tmp_file)`` in a temporary folder beside it and
    renamed into place only once complete (a crash or a concurrent build never leaves half a
    model)."""
    target = folder / "model.onnx"
    if target.exists():
        return target
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        build(tmp / "model.onnx")
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished first
            if not target.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def export_fp32(model, out: Path) -> None:
    """Export an encoder's transformer (input ids, attention mask -> last hidden state) with
    dynamic batch and sequence axes."""
    import warnings

    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask):
            return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    # padding in the example keeps the traced graph on the general masked path
    ids = torch.tensor([[101, 2023, 2003, 102], [101, 102, 0, 0]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHidden(model.float().eval()), (ids, mask), str(out), dynamo=False,
            input_names=list(INPUTS), output_names=["last_hidden_state"], opset_version=17,
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                          "attention_mask": {0: "batch", 1: "sequence"},
                          "last_hidden_state": {0: "batch", 1: "sequence"}},
        )


def quantize_int8(fp32: Path, out: Path) -> None:
    """Dynamic int8 quantisation of the MatMuls (int8 weights per output channel, uint8
    activations quantised per batch): VNNI integer kernels on x86."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process applies to static quantisation
    try:
        quantize_dynamic(fp32, out, op_types_to_quantize=["MatMul"], per_channel=True,
                         weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)


def session_options(threads: int | None = None):
    """Intra-op threads = the cores this process may use (``OMP_NUM_THREADS`` overrides),
    all graph optimisations (attention, LayerNorm and GELU fusions)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads is None:
        threads = int(os.environ.get("OMP_NUM_THREADS", 0) or 0) or len(os.sched_getaffinity(0))
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return opts


def onnx_model_path(where: str, fingerprint: str, quantize: bool) -> Path:
    """The exported (and, for int8, quantised) model in the cache; built on first use."""
    def build_fp32(out: Path) -> None:
        from transformers import AutoModel

        print(f"exporting {where} to ONNX in {out.parent.parent} (once)", file=sys.stderr,
              flush=True)
        import torch

        model = AutoModel.from_pretrained(where, dtype=torch.float32, attn_implementation="eager")
        export_fp32(model, out)

    fp32 = _cached(onnx_folder(fingerprint, "fp32"), build_fp32)
    if not quantize:
        return fp32
    return _cached(onnx_folder(fingerprint, "int8"), lambda out: quantize_int8(fp32, out))


class OnnxEmbedder(Embedder):
    """An :class:`Embedder` whose forward pass runs in an ONNX Runtime session."""

    backend = "onnx"

    def __init__(self, session, tokenizer, *, hidden_size: int, quantized: bool, **kwargs):
        super().__init__(None, tokenizer, device="cpu", **kwargs)
        self.session = session
        self.hidden_size = hidden_size
        self.quantized = quantized

    @property
    def dim(self) -> int:
        return self.hidden_size

    @property
    def dtype(self) -> str:
        return "int8" if self.quantized else "float32"

    def _hidden(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, {k: batch[k] for k in INPUTS})[0]


def load_onnx(where: str, config, tokenizer, *, quantize: bool, fingerprint: str,
              **kwargs) -> OnnxEmbedder:
    """An ONNX Runtime embedder for the encoder at ``where`` (export cached by fingerprint)."""
    ort = _require_onnxruntime()
    path = onnx_model_path(where, fingerprint, quantize)
    session = ort.InferenceSession(str(path), session_options(),
                                   providers=["CPUExecutionProvider"])
    return OnnxEmbedder(session, tokenizer, hidden_size=int(config.hidden_size),
                        quantized=quantize, fingerprint=fingerprint, **kwargs)


def from_embedder(embedder: Embedder, quantize: bool = False) -> OnnxEmbedder:
    """The ONNX twin of an in-memory torch encoder (tests, experiments); exported to a temporary
    folder, not the cache, since an in-memory model has no stable fingerprint."""
    ort = _require_onnxruntime()
    if embedder.kind != "encoder":
        raise InstembError("the ONNX backend runs encoder models only: use backend torch")
    import copy

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fp32.onnx"
        export_fp32(copy.deepcopy(embedder.model), path)
        if quantize:
            quantize_int8(path, Path(tmp) / "int8.onnx")
            path = Path(tmp) / "int8.onnx"
        session = ort.InferenceSession(str(path), session_options(),
                                       providers=["CPUExecutionProvider"])
    return OnnxEmbedder(session, embedder.tokenizer, hidden_size=embedder.dim, quantized=quantize,
                        name=embedder.name, kind=embedder.kind, pooling=embedder.pooling,
                        prompt=embedder.prompt, max_length=embedder.max_length,
                        fingerprint=embedder.fingerprint)
