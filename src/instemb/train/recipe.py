"""Contrastive fine-tuning with sentence-transformers' trainer.

- supervised: ``MultipleNegativesRankingLoss`` (InfoNCE with in-batch negatives, scale 1/0.05)
  on (anchor, positive, hard negative) triplets from task labels; optionally mixed with
  labelled intent sets, and with a term that keeps vectors of general instructions close
  to the base model's (cosine distance, ``distill``);
- unsupervised SimCSE: the same loss on (text, text) pairs, dropout as the only noise.

The prompt is applied to every text before training (templates with text after the
instruction cannot be expressed as sentence-transformers' prefix prompts).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from instemb.errors import InstembError
from instemb.prompts import get_prompt


@dataclass
class TrainConfig:
    base: str = "minilm"
    prompt: str = "none"
    method: str = "supervised"  # or "simcse"
    hard_negatives: bool = True
    epochs: float = 1.0
    batch_size: int = 64
    learning_rate: float = 5e-5
    temperature: float = 0.05
    max_instruction_tokens: int = 64
    min_count: int = 3
    max_per_task: int = 0  # cap anchors per task category (0: no cap), to fit a CPU budget
    mix: tuple[str, ...] = ()  # labelled intent sets mixed in (clinc150, banking77)
    mix_per_set: int = 3000
    distill: int = 0  # general instructions whose base vectors the model must keep
    merge_synonyms: bool = False  # WordNet-synonym verbs share a category (IEB's ## keys)
    distill_disjoint: bool = False  # keep-base texts never among the contrastive training texts
    keep_loss: str = "cosine"  # keep-base term: "cosine" (each vector) or "neighbours" (in-batch neighbours)
    lora_rank: int = 0  # > 0: train LoRA adapters (query/value projections, alpha 2 * rank), merged at save
    seed: int = 0
    max_steps: int = -1
    bf16: bool = False  # CPU autocast to bfloat16 for the forward/backward passes
    notes: dict = field(default_factory=dict)


def _truncate(tokenizer, texts: list[str], max_tokens: int) -> list[str]:
    """Cut each instruction to ``max_tokens`` tokens (at a token boundary), prompt not counted."""
    enc = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=max_tokens,
                    return_offsets_mapping=True)
    return [t[: offs[-1][1]] if offs else t for t, offs in zip(texts, enc["offset_mapping"])]


def keep_targets(model, texts: list[str], prompt, max_tokens: int, progress: bool = False):
    """The keep-base set: ``(inputs, targets)``, the prompted (and cut) texts the model is trained
    on, and the base model's vectors of the same texts without the prompt, the way the base is
    used. With a prompt, the prompted model learns to put each text where the unprompted base did."""
    plain = _truncate(model.tokenizer, texts, max_tokens)
    targets = model.encode(plain, batch_size=64, convert_to_numpy=True, show_progress_bar=progress)
    return [prompt.format(t) for t in plain], targets


def train(config: TrainConfig, examples, out_dir, data_root=None, progress: bool = True,
          resume: bool = False, exclude: set[str] = frozenset()) -> dict:
    """Fine-tune ``config.base`` and save a sentence-transformers folder (fp16) to ``out_dir``.

    ``examples``: labelled :class:`~instemb.train.data.Example` rows (supervised) or plain
    texts (simcse). Returns the training record, also written to ``out_dir/instemb_train.json``.
    """
    import torch
    from datasets import Dataset, DatasetDict
    from sentence_transformers import (SentenceTransformer, SentenceTransformerTrainer,
                                       SentenceTransformerTrainingArguments)
    from sentence_transformers.sentence_transformer.losses import (EmbedDistillLoss,
                                                                   MultipleNegativesRankingLoss)
    from transformers.utils import logging as hf_logging

    from instemb.models.registry import resolve
    from instemb.train import data as tdata
    from instemb.train.losses import KeepNeighboursLoss
    from instemb.train.sampler import DistinctTaskBatchSampler

    if config.keep_loss not in ("cosine", "neighbours"):
        raise InstembError(f"unknown keep loss {config.keep_loss!r}: cosine or neighbours")
    hf_logging.set_verbosity_error()
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    prompt = get_prompt(config.prompt)
    source, _ = resolve(config.base)
    model = SentenceTransformer(source, device="cpu")
    if config.lora_rank:
        add_lora(model, config.lora_rank)
    tok = model.tokenizer
    prompt_tokens = len(tok(prompt.format("x"), add_special_tokens=True)["input_ids"])
    base_max_length = model.max_seq_length  # restored before saving: users' inputs may be longer
    model.max_seq_length = config.max_instruction_tokens + prompt_tokens

    def prep(texts):
        return [prompt.format(t) for t in _truncate(tok, texts, config.max_instruction_tokens)]

    record = {"config": asdict(config)}
    category_of: dict[str, str] = {}
    if config.method == "simcse":
        texts = list(dict.fromkeys(examples))
        texts = prep(texts)
        main = Dataset.from_dict({"anchor": texts, "positive": texts})
        record["data"] = {"texts": len(texts)}
    elif config.method == "supervised":
        rows = list(examples)
        if config.merge_synonyms:
            rows, n_merged = tdata.merge_synonym_tasks(rows)
            record["merged_synonym_keys"] = n_merged
        rows = tdata.cap_per_task(rows, config.max_per_task, config.seed)
        if config.mix:
            rows += tdata.mixed_examples(config.mix, data_root, config.mix_per_set, config.seed)
        trip = tdata.triplets(rows, seed=config.seed, hard_negatives=config.hard_negatives)
        if not trip:
            raise InstembError("no training triplets: every category has a single instruction")
        cols = {c: prep([t[c] for t in trip]) for c in ("anchor", "positive", "negative")}
        for c, task_col in (("anchor", "anchor_task"), ("positive", "anchor_task"),
                            ("negative", "negative_task")):
            category_of.update(zip(cols[c], (t[task_col] for t in trip)))
        if not config.hard_negatives:
            cols.pop("negative")
        main = Dataset.from_dict(cols)
        record["data"] = {"triplets": len(trip), "hard_negatives": sum(t["hard"] for t in trip),
                          "categories": len({t["anchor_task"] for t in trip}),
                          "mixed_in": list(config.mix)}
    else:
        raise InstembError(f"unknown training method {config.method!r}: supervised or simcse")

    scale = 1.0 / config.temperature
    loss = MultipleNegativesRankingLoss(model, scale=scale)
    train_dataset, losses = main, loss
    if config.distill:
        skip = set(exclude)
        if config.distill_disjoint:  # a text is either pulled to its task or kept in place, not both
            skip |= {tdata.normalize(t) for t in (examples if config.method == "simcse" else
                                                  (e.text for e in examples))}
        texts, targets = keep_targets(model, tdata.general_texts(data_root, config.distill, config.seed, skip),
                                      prompt, config.max_instruction_tokens, progress)
        keep = Dataset.from_dict({"text": texts, "label": [v.tolist() for v in targets]})
        train_dataset = DatasetDict({"contrastive": main, "keep": keep})
        if config.keep_loss == "cosine":
            # cosine distance to the base vectors: MSE between unit vectors is ~1/dim as large and
            # barely moves the weights next to the contrastive loss
            keep_loss = EmbedDistillLoss(model, distance_metric="cosine")
        else:
            keep_loss = KeepNeighboursLoss(model, temperature=config.temperature)
        losses = {"contrastive": loss, "keep": keep_loss}
        record["data"]["distill_texts"] = len(texts)

    out_dir = Path(out_dir)
    ckpt = out_dir.parent / f".{out_dir.name}.checkpoints"
    args = SentenceTransformerTrainingArguments(
        output_dir=str(ckpt),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=0.1,
        bf16=config.bf16,
        seed=config.seed,
        data_seed=config.seed,
        batch_sampler=partial(DistinctTaskBatchSampler, category_of=category_of),
        multi_dataset_batch_sampler="proportional",
        dataloader_drop_last=True,
        logging_steps=20,
        save_strategy="steps",
        save_steps=50,
        save_total_limit=1,
        report_to="none",
        use_cpu=True,
        disable_tqdm=not progress,
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train_dataset, loss=losses)
    has_ckpt = resume and ckpt.exists() and any(ckpt.glob("checkpoint-*"))
    result = trainer.train(resume_from_checkpoint=True if has_ckpt else None)
    record["train_loss"] = result.training_loss
    record["train_runtime"] = result.metrics.get("train_runtime")
    record["steps"] = result.global_step
    record["log"] = [h for h in trainer.state.log_history if "loss" in h]
    record["train_seconds"] = round(time.perf_counter() - start, 1)
    record["torch_threads"] = torch.get_num_threads()
    model.max_seq_length = base_max_length
    if config.lora_rank:
        record["lora_trainable_parameters"] = merge_lora(model)
    save(model, out_dir, record, prompt)
    shutil.rmtree(ckpt, ignore_errors=True)
    return record


def add_lora(model, rank: int) -> None:
    """Freeze ``model`` and add LoRA adapters of ``rank`` on the attention query and value
    projections (the paper's choice; alpha = 2 * rank, dropout 0.05), the sentence-transformers
    way, so that the trainer's checkpoints (and ``--resume``) work as for full fine-tuning."""
    try:
        from peft import LoraConfig
    except ImportError:
        raise InstembError("LoRA training needs peft: pip install 'instemb[lora]'") from None
    names = {name.rsplit(".", 1)[-1] for name, _ in model[0].model.named_modules()}
    targets = [t for t in ("query", "value", "q_proj", "v_proj") if t in names]
    if not targets:
        raise InstembError(f"LoRA: no attention query/value projections in {type(model[0].model).__name__}")
    model.add_adapter(LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.05, target_modules=targets))


def merge_lora(model) -> int:
    """Fold the trained adapters into their layers and drop them: the model saves as a plain
    transformers model. Returns the number of adapter parameters that were trained."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    hf = model[0].model
    trained = sum(p.numel() for p in hf.parameters() if p.requires_grad)
    for name, module in list(hf.named_modules()):
        if isinstance(module, BaseTunerLayer):
            module.merge()
            parent, _, child = name.rpartition(".")
            setattr(hf.get_submodule(parent), child, module.get_base_layer())
    del hf.peft_config  # what transformers' delete_adapter does once no adapter is left
    hf._hf_peft_config_loaded = False
    return trained


def save(model, out_dir: Path, record: dict, prompt) -> None:
    """fp16 safetensors in a sentence-transformers folder, written beside and renamed.

    Saved from float32 (sentence-transformers' model card runs a usage example with the model,
    which fails in float16 on CPU after bfloat16 training), then the weight files are rewritten
    in float16; ``config.json`` says float32, so plain sentence-transformers loads the model in
    float32 on CPU."""
    import torch
    from safetensors.torch import load_file, save_file

    tmp = out_dir.parent / f".{out_dir.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.to(torch.float32)
    model.save(str(tmp), safe_serialization=True)
    for weights in tmp.rglob("*.safetensors"):
        tensors = {k: v.to(torch.float16) if v.is_floating_point() else v
                   for k, v in load_file(str(weights)).items()}
        save_file(tensors, str(weights), metadata={"format": "pt"})
    record["prompt_template"] = prompt.template
    record["prompt_add_period"] = prompt.add_period
    (tmp / "instemb_train.json").write_text(json.dumps(record, indent=2) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)

