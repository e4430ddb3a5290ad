"""Weight averaging after training: a model soup (the uniform mean of several fine-tuned runs
of one base model) and WiSE-FT (a blend ``alpha * soup + (1 - alpha) * base``)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from instemb.errors import InstembError


def average_weights(runs, out_dir, alpha: float = 1.0, base=None) -> Path:
    """Write ``alpha * mean(runs) + (1 - alpha) * base`` as a sentence-transformers folder (fp16
    safetensors; the other files are copied from the first run, and ``instemb_average.json``
    records what was averaged), written beside and renamed.

    ``runs``: folders of sentence-transformers models fine-tuned from the same base;
    ``base``: that base (alias, folder), needed when ``alpha < 1``.
    """
    import torch
    from safetensors.torch import load_file, save_file

    runs = [Path(r) for r in runs]
    if not runs:
        raise InstembError("nothing to average: give at least one trained model folder")
    if not 0.0 < alpha <= 1.0:
        raise InstembError(f"alpha must be in (0, 1], not {alpha}")
    for r in runs:
        if not (r / "model.safetensors").is_file():
            raise InstembError(f"{r}: no model.safetensors (a sentence-transformers folder from instemb train)")
    tuned = [load_file(str(r / "model.safetensors")) for r in runs]
    sources = list(zip(runs, tuned))
    if alpha < 1.0:
        if base is None:
            raise InstembError("alpha < 1 blends towards the base model: name it (--base)")
        from instemb.models.registry import resolve

        base_dir = Path(resolve(base)[0])
        if not (base_dir / "model.safetensors").is_file():
            raise InstembError(f"base {base!r}: no model.safetensors in {base_dir}")
        sources.append((base_dir, load_file(str(base_dir / "model.safetensors"))))
    for where, weights in sources[1:]:  # every tensor of the first run, same shape (extra buffers are fine)
        if any(k not in weights or weights[k].shape != v.shape for k, v in tuned[0].items()):
            raise InstembError(f"{where}: its weights do not match {runs[0]}'s (not the same base model?)")

    mixed = {}
    for key, first in tuned[0].items():
        if not first.is_floating_point():
            mixed[key] = first
            continue
        mean = sum(t[key].float() for t in tuned) / len(tuned)
        if alpha < 1.0:
            mean = alpha * mean + (1 - alpha) * sources[-1][1][key].float()
        mixed[key] = mean.to(torch.float16).contiguous()

    out_dir = Path(out_dir)
    tmp = out_dir.parent / f".{out_dir.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(runs[0], tmp)
    save_file(mixed, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    record = {"runs": [str(r) for r in runs], "alpha": alpha, "base": base if alpha < 1.0 else None}
    (tmp / "instemb_average.json").write_text(json.dumps(record, indent=2) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir
