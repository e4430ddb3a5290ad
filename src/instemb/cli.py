"""The ``instemb`` command."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer

from instemb.errors import InstembError
from instemb.options import (BACKEND, BATCH, DTYPE, EMBED_ENGINE, MODEL, POOLING, PROMPT,
                             WORKERS)

app = typer.Typer(
    help="Instruction embeddings that capture the task an instruction asks for (PIE), and the "
         "Instruction Embedding Benchmark (IEB).",
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
)



def _err(message: str) -> None:
    typer.echo(f"instemb: error: {message}", err=True)


@app.command()
def embed(
    input: Path = typer.Argument(..., help="JSONL, JSON (list or IEB dict), CSV/TSV, Parquet, "
                                           "or plain text with one instruction per line."),
    output: Path = typer.Option(..., "--output", "-o",
                                help="A .npy file: one (n, dim) array. Anything else: a folder of "
                                     "Parquet shards (rows + vectors) with a manifest.json; "
                                     "resumable, read by select/demos/compress/map."),
    model: str = MODEL, prompt: Optional[str] = PROMPT, pooling: Optional[str] = POOLING,
    dtype: str = DTYPE, batch_size: int = BATCH, backend: str = BACKEND,
    field: str = typer.Option("instruction", "--field", help="Which field holds the instruction."),
    shard_size: int = typer.Option(10_000, "--shard-size", min=1,
                                   help="Rows per shard (shard folder output)."),
    resume: bool = typer.Option(False, "--resume",
                                help="Finish an interrupted run into the same folder: only the "
                                     "missing shards are computed; refused if settings or input "
                                     "changed."),
    skip_bad: bool = typer.Option(False, "--skip-bad",
                                  help="Skip and count malformed lines and rows without a usable "
                                       "instruction (default: stop at the first, naming its line)."),
    engine: str = EMBED_ENGINE, workers: int = WORKERS,
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress",
                                            help="Progress bar (default: for long inputs)."),
):
    """Embed every instruction of INPUT, in input order: into one (n, dim) float32 .npy array,
    or, streamed in bounded memory, into a resumable folder of shards."""
    import importlib.util

    import numpy as np

    from instemb.data.io import atomic_path, check_output_path
    from instemb.data.shards import (check_shard_folder, embed_to_shards, embedding_settings,
                                     local_encoder)
    from instemb.data.stream import BadRows, check_input_file, iter_instructions
    from instemb.models import load
    from instemb.models.registry import ALIASES

    sharded = output.suffix.lower() != ".npy"
    if engine not in ("local", "ray"):
        raise InstembError(f"unknown --engine {engine!r}: use local or ray")
    if not sharded and (resume or engine != "local"):
        raise InstembError(f"{output}: --resume and --engine ray write a shard folder; give -o a "
                           f"folder instead of a .npy file")
    if engine == "ray" and importlib.util.find_spec("ray") is None:
        raise InstembError('--engine ray needs Ray: pip install "instemb[ray]"')
    check_input_file(input)
    if sharded:
        check_shard_folder(output, resume)
    else:
        check_output_path(output)
    bad = BadRows()
    if not sharded:  # one array: the texts are held in memory anyway, read them before the model
        texts = [t for _, _, t in iter_instructions(input, field, skip_bad=skip_bad, bad=bad)]
    if model not in ALIASES and Path(model).expanduser().is_dir():
        model = str(Path(model).expanduser().resolve())  # same weights fingerprint from any cwd
    load_kwargs = {"name_or_path": model, "pooling": pooling, "prompt": prompt, "dtype": dtype,
                   "backend": backend}
    embedder = load(**load_kwargs)
    skipped = f"; {bad.count} bad rows skipped" if bad.count else ""
    if not sharded:
        start = time.perf_counter()
        vectors = embedder.encode(texts, batch_size=batch_size, show_progress_bar=progress)
        seconds = time.perf_counter() - start
        with atomic_path(output) as tmp, open(tmp, "wb") as f:
            np.save(f, vectors)
        typer.echo(f"wrote {vectors.shape[0]} x {vectors.shape[1]} embeddings to {output} "
                   f"({len(texts) / max(seconds, 1e-9):.0f} instructions/s{skipped}; {embedder})",
                   err=True)
        return
    settings = embedding_settings(embedder, batch_size=batch_size, field=field,
                                  shard_size=shard_size)
    if engine == "local":
        encoder = local_encoder(embedder, batch_size)
    else:
        from instemb.engines.ray_engine import encode_shards_on_ray

        # workers load exactly what was loaded here: resolved pooling, dtype and backend
        ray_kwargs = {**load_kwargs, "pooling": embedder.pooling, "dtype": settings["dtype"],
                      "backend": settings["backend"]}

        def encoder(shards):
            return encode_shards_on_ray(shards, ray_kwargs, batch_size, workers)
    result = embed_to_shards(input, output, encoder, settings, resume=resume, skip_bad=skip_bad,
                             progress=progress)
    run = result["run"]
    bad_rows = f"; {result['bad_rows']} bad rows skipped" if result["bad_rows"] else ""
    if run.get("already_complete"):
        typer.echo(f"nothing to do: {output} is complete ({result['rows']} rows in "
                   f"{len(result['shards'])} shards)", err=True)
        return
    typer.echo(f"wrote {result['rows']} rows in {len(result['shards'])} shards to {output} "
               f"({run['computed']} computed, {run['reused']} kept from before; "
               f"{run['rows'] / max(run['seconds'], 1e-9):.0f} rows/s{bad_rows}; {embedder})",
               err=True)


@app.command()
def bench(
    model: str = MODEL, prompt: Optional[str] = PROMPT, pooling: Optional[str] = POOLING,
    dtype: str = typer.Option(
        "float32", "--dtype",
        help="float32 by default so scores are reproducible to the third decimal: bf16 rounding "
             "(cosine >= 0.9999 to fp32) still moves a single k-means run's ARI by about 0.01. "
             "auto | bfloat16 | float16 | int8 (ONNX) for speed."),
    batch_size: int = BATCH, backend: str = BACKEND,
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", help="Folder with the IEB files (or one made by build-benchmark). "
                                 "Default: $INSTEMB_DATA, else a cache filled from GitHub."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the results JSON here."),
    seeds: int = typer.Option(5, "--seeds", min=1, help="k-means seeds 0..N-1 (mean ± std)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=2, help="Only the first N rows of each task."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Reuse embeddings from earlier runs."),
):
    """Evaluate an embedder on IEB: instruction clustering and intention similarity."""
    from rich.console import Console
    from rich.table import Table

    from instemb.bench import run_benchmark
    from instemb.bench.runner import summary_rows
    from instemb.cache import EmbeddingCache
    from instemb.data.io import check_output_path, write_json
    from instemb.models import load

    if output is not None:
        check_output_path(output)
    embedder = load(model, pooling=pooling, prompt=prompt, dtype=dtype, backend=backend)
    store = EmbeddingCache() if cache else None
    result = run_benchmark(embedder, data_dir=data_dir, cache=store, seeds=tuple(range(seeds)),
                           batch_size=batch_size, limit=limit)
    table = Table(title=f"IEB · {model} · prompt {embedder.prompt.name} · pooling "
                        f"{embedder.pooling} · {embedder.backend} {embedder.dtype}")
    table.add_column("task")
    table.add_column("metric")
    table.add_column(f"seed 0   (mean ± std, {seeds} seeds)")
    for row in summary_rows(result):
        table.add_row(*row)
    Console().print(table)
    if output is not None:
        write_json(result, output)
        typer.echo(f"wrote {output}", err=True)


@app.command()
def label(
    input: Path = typer.Argument(..., help="Instructions in any format `instemb embed` reads."),
    output: Path = typer.Option(..., "--output", "-o", help="Labelled rows as JSONL."),
    field: str = typer.Option("instruction", "--field", help="Which field holds the instruction."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress"),
):
    """Add a task category ("task": "verb|noun") to every row, from a spaCy dependency parse.

    Rows the parser cannot place get "task": null and a "task_reason"."""
    from collections import Counter

    from instemb.data.io import check_output_path, read_rows, write_jsonl
    from instemb.labels import label_rows

    check_output_path(output)
    rows = read_rows(input)
    labelled = label_rows(rows, field=field, show_progress_bar=progress)
    write_jsonl(labelled, output)
    tasks = Counter(r["task"] for r in labelled if r["task"])
    missing = sum(r["task"] is None for r in labelled)
    common = ", ".join(f"{t} ({n})" for t, n in tasks.most_common(5))
    typer.echo(f"wrote {len(labelled)} rows to {output}: {len(tasks)} task categories, "
               f"{missing} unplaced; most common: {common}", err=True)


@app.command("build-benchmark")
def build_benchmark(
    input: Path = typer.Argument(..., help="Instructions; labelled by `instemb label` or labelled here."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder to write the IEB-format files into."),
    field: str = typer.Option("instruction", "--field"),
    min_count: int = typer.Option(5, "--min-count", min=2, help="Drop categories with fewer instructions."),
    max_per_category: int = typer.Option(50, "--max-per-category", min=2),
    pairs: int = typer.Option(2000, "--pairs", min=10, help="Intention-similarity pairs to write."),
    seed: int = typer.Option(0, "--seed"),
):
    """Make an IEB-format benchmark (clustering + intention-similarity files) from any
    instruction set; then `instemb bench --data-dir OUTPUT`."""
    from instemb.bench.build import build
    from instemb.data.io import read_rows
    from instemb.labels import label_rows

    if not output.parent.exists():
        raise InstembError(f"{output}: folder {output.parent} does not exist")
    rows = read_rows(input)
    if not any("task" in r for r in rows):
        rows = label_rows(rows, field=field)
    stats = build(rows, output, field=field, min_count=min_count,
                  max_per_category=max_per_category, n_pairs=pairs, seed=seed)
    typer.echo(f"wrote {output}: {stats['instructions']} instructions in {stats['categories']} "
               f"categories ({stats['merged_keys']} merged by WordNet synonymy), {stats['pairs']} "
               f"pairs ({stats['positives']} positive, {stats['hard_negatives']} hard negatives)", err=True)


@app.command()
def models():
    """List the model aliases and where each comes from."""
    from rich.console import Console
    from rich.table import Table

    from instemb.models.registry import ALIASES, DEFAULT_MODEL

    table = Table(title="instemb model aliases")
    for col in ("alias", "model", "kind", "pooling", "prompt", "install"):
        table.add_column(col)
    for a in ALIASES.values():
        table.add_row(a.name + (" (default)" if a.name == DEFAULT_MODEL else ""), a.model,
                      a.kind, a.pooling, a.prompt, a.install)
    Console().print(table)


def _register_extra_commands() -> None:
    """Commands that live beside their code (downstream tools, training) add themselves here."""
    import importlib

    for module in ("instemb.tools.commands", "instemb.train.commands"):
        try:
            importlib.import_module(module).register(app)
        except ModuleNotFoundError as e:
            if not (module == e.name or module.startswith(f"{e.name}.")):
                raise


_register_extra_commands()


def main() -> None:
    try:
        app()
    except InstembError as e:
        _err(str(e))
        sys.exit(2)
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
