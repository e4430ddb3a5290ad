"""``instemb train``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        data: list[Path] = typer.Option(..., "--data", help="Labelled instructions (from `instemb label`); "
                                                            "for --method simcse any instruction file. "
                                                            "Repeat to train on several files."),
        output: Path = typer.Option(..., "--output", "-o", help="Folder for the trained model."),
        base: str = typer.Option("minilm", "--base", help="Model to start from (alias, folder or hub id)."),
        method: str = typer.Option("supervised", "--method", help="supervised | simcse"),
        prompt: str = typer.Option("none", "--prompt", "-p", help="Prompt applied to every text (pie, none, ...)."),
        hard_negatives: bool = typer.Option(True, "--hard-negatives/--no-hard-negatives"),
        field: str = typer.Option("instruction", "--field"),
        epochs: float = typer.Option(1.0, "--epochs"),
        batch_size: int = typer.Option(64, "--batch-size", min=2),
        learning_rate: float = typer.Option(5e-5, "--lr"),
        max_instruction_tokens: int = typer.Option(64, "--max-instruction-tokens", min=4),
        min_count: int = typer.Option(3, "--min-count", min=2, help="Drop rarer categories."),
        max_per_task: int = typer.Option(0, "--max-per-task", min=0, help="Cap anchors per category (0: all)."),
        bf16: bool = typer.Option(False, "--bf16/--fp32", help="bfloat16 autocast (faster on CPUs with BF16)."),
        mix: Optional[str] = typer.Option(None, "--mix", help="Comma-separated labelled sets to mix in: "
                                                             "clinc150, banking77, math (MATH's train "
                                                             "split, not in ../shared/data)."),
        mix_per_set: int = typer.Option(3000, "--mix-per-set"),
        merge_synonyms: bool = typer.Option(False, "--merge-synonyms/--no-merge-synonyms",
                                            help="Merge categories whose verbs are WordNet synonyms "
                                                 "(IEB's ## keys), so they are positives, not hard negatives."),
        distill: int = typer.Option(0, "--distill", help="General instructions whose base vectors are kept (cosine distance)."),
        distill_disjoint: bool = typer.Option(False, "--distill-disjoint/--distill-overlap",
                                              help="Never draw --distill texts from the training texts."),
        keep_loss: str = typer.Option("cosine", "--keep-loss", help="How --distill keeps the base: cosine "
                                      "(each vector) or neighbours (each text's in-batch neighbours)."),
        lora_rank: int = typer.Option(0, "--lora-rank", min=0, help="Train LoRA adapters of this rank on the "
                                      "query/value projections instead of every weight (0: full "
                                      "fine-tuning); merged into the saved model. Needs peft."),
        extra_data: Optional[Path] = typer.Option(None, "--extra-data", help="Folder with the public sets "
                                                  "used by --mix and --distill (e.g. ../shared/data)."),
        ieb_dir: Optional[Path] = typer.Option(None, "--ieb-dir", help="IEB files, to drop test instructions."),
        seed: int = typer.Option(0, "--seed"),
        max_steps: int = typer.Option(-1, "--max-steps"),
        resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint."),
    ):
        """Fine-tune an embedder contrastively on task-labelled instructions (or SimCSE)."""
        from instemb.data.io import read_instructions
        from instemb.errors import InstembError
        from instemb.train import data as tdata
        from instemb.train.recipe import TrainConfig, train as run

        if not output.parent.exists():
            raise InstembError(f"{output}: folder {output.parent} does not exist")
        if (mix or distill) and extra_data is None:
            raise InstembError("--mix and --distill need --extra-data DIR (e.g. ../shared/data)")
        exclude = tdata.ieb_test_texts(ieb_dir)
        config = TrainConfig(base=base, prompt=prompt, method=method, hard_negatives=hard_negatives,
                             epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                             max_instruction_tokens=max_instruction_tokens, min_count=min_count,
                             mix=tuple(m.strip() for m in mix.split(",")) if mix else (),
                             mix_per_set=mix_per_set, distill=distill, seed=seed, max_steps=max_steps,
                             max_per_task=max_per_task, bf16=bf16, merge_synonyms=merge_synonyms,
                             distill_disjoint=distill_disjoint, keep_loss=keep_loss, lora_rank=lora_rank)
        if method == "simcse":
            texts = [t for path in data for t in read_instructions(path, field)[1]]
            examples = [t for t in dict.fromkeys(texts) if tdata.normalize(t) not in exclude]
            stats = {"input": len(texts), "kept": len(examples)}
        else:
            labelled = [e for path in data for e in tdata.load_labelled(path, field)]
            examples, stats = tdata.clean(labelled, exclude, min_count)
        config.notes["data_file"] = str(data[0]) if len(data) == 1 else [str(p) for p in data]
        config.notes["cleaning"] = stats
        typer.echo(f"training {method} on {stats['kept']} instructions"
                   + (f" in {stats['categories']} categories" if "categories" in stats else ""), err=True)
        record = run(config, examples, output, data_root=extra_data, resume=resume, exclude=exclude)
        typer.echo(f"saved {output} ({record['steps']} steps, {record['train_seconds']:.0f} s, "
                   f"loss {record['train_loss']:.3f})", err=True)

    @app.command()
    def soup(
        runs: list[Path] = typer.Argument(..., help="Model folders from `instemb train`, fine-tuned "
                                                    "from the same base."),
        output: Path = typer.Option(..., "--output", "-o", help="Folder for the averaged model."),
        alpha: float = typer.Option(1.0, "--alpha", help="Weight of the average; 1 - alpha goes to "
                                                         "--base (WiSE-FT). 1: a plain model soup."),
        base: str = typer.Option("minilm", "--base", help="The base model, for --alpha below 1."),
    ):
        """Average the weights of fine-tuned runs (a model soup), optionally blended towards the base."""
        from instemb.errors import InstembError
        from instemb.train.average import average_weights

        if not output.parent.exists():
            raise InstembError(f"{output}: folder {output.parent} does not exist")
        average_weights(runs, output, alpha=alpha, base=base)
        typer.echo(f"saved {output} (mean of {len(runs)} runs, alpha {alpha})", err=True)
