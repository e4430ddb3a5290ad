"""The ``instemb`` commands for the downstream tools: select, demos, compress, correlate, map.

``instemb.cli`` calls :func:`register`; heavy modules are imported inside each command.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from instemb.errors import InstembError
from instemb.options import BATCH, DTYPE, FIELD, MODEL, POOLING, PROMPT

SEED = typer.Option(0, "--seed", help="Seed for k-means / sampling / t-SNE (same seed, same output).")
PROGRESS = typer.Option(None, "--progress/--no-progress", help="Progress bars (default: for long inputs).")
ENGINE = typer.Option("auto", "--engine", help="Clustering / search engine: auto (scikit-learn and "
                      "numpy below 50,000 rows, FAISS from there on), sklearn or faiss.")


def _echo(msg: str) -> None:
    typer.echo(msg, err=True)


def _stored(texts, model, prompt, pooling, dtype):
    """A shard folder's stored vectors, and a warning for model options that they override."""
    from instemb.data.shards import StoredEmbedder
    from instemb.models.registry import DEFAULT_MODEL

    stored = texts.manifest["settings"]
    if model and Path(model).expanduser().is_dir():
        model = str(Path(model).expanduser().resolve())
    asked = {"model": model, "prompt": prompt, "pooling": pooling, "dtype": dtype}
    defaults = {"model": DEFAULT_MODEL, "prompt": None, "pooling": None, "dtype": "auto"}
    ignored = [f"--{k} {v}" for k, v in asked.items()
               if v != defaults[k] and v not in (stored[k], stored.get(f"{k}_template"))]
    if ignored:
        _echo(f"instemb: warning: {', '.join(ignored)} ignored: using the vectors stored in the "
              f"shard folder ({stored['model']}, prompt {stored['prompt']}, pooling "
              f"{stored['pooling']}, {stored['dtype']})")
    return texts.vectors, StoredEmbedder(texts.manifest)


def _embed(texts, model, prompt, pooling, dtype, batch_size, progress):
    from instemb.data.shards import StoredTexts
    from instemb.models import load

    if isinstance(texts, StoredTexts):  # read from a shard folder: nothing to embed
        return _stored(texts, model, prompt, pooling, dtype)
    embedder = load(model, pooling=pooling, prompt=prompt, dtype=dtype)
    if progress is None:
        progress = len(texts) >= 1000
    return embedder.encode(texts, batch_size=batch_size, show_progress_bar=progress), embedder


def _read(path: Path, field: str):
    """Rows and instruction texts of an input file, or of a shard folder made by `instemb embed`
    (its texts then carry the stored vectors, which :func:`_embed` returns as they are)."""
    from instemb.data.io import read_instructions
    from instemb.data.shards import is_shard_folder, read_shard_input

    if is_shard_folder(path):
        return read_shard_input(path, field)
    return read_instructions(path, field)


def _check_n(n: int, rows: list, what: str, source) -> None:
    if n > len(rows):
        raise InstembError(f"{source}: asked for {n} {what} but it has only {len(rows)} rows")


def parse_dataset_spec(spec: str, default_field: str) -> tuple[Path, str]:
    """``PATH`` or ``PATH:FIELD``; a path that exists as written is never split."""
    path = Path(spec)
    if path.exists() or ":" not in spec:
        return path, default_field
    head, field = spec.rsplit(":", 1)
    if not field or "/" in field:
        return path, default_field
    return Path(head), field


def dataset_names(paths: list[Path]) -> list[str]:
    """File stems; parent/stem where stems repeat (e.g. gsm8k/test, math/test)."""
    stems = [p.stem for p in paths]
    return [f"{p.parent.name}/{p.stem}" if stems.count(p.stem) > 1 else p.stem for p in paths]


def register(app: typer.Typer) -> None:
    @app.command()
    def select(
        input: Path = typer.Argument(..., help="Instructions in any format `instemb embed` reads."),
        n: int = typer.Option(..., "-n", "--n", min=1, help="How many rows to keep."),
        output: Path = typer.Option(..., "--output", "-o", help="The chosen rows as JSONL."),
        method: str = typer.Option("kmeans", "--method",
                                   help="kmeans: the row nearest each of n k-means centroids (the "
                                        "paper's); kcenter: greedy farthest-first (covers outliers)."),
        seed: int = SEED, field: str = FIELD, model: str = MODEL, prompt: Optional[str] = PROMPT,
        pooling: Optional[str] = POOLING, dtype: str = DTYPE, batch_size: int = BATCH,
        progress: Optional[bool] = PROGRESS, engine: str = ENGINE,
    ):
        """Choose n task-diverse rows. Output rows keep every field, plus cluster (id),
        cluster_size (input rows it stands for) and distance (to its k-means centroid; for
        kcenter the distance to the nearest row chosen before it)."""
        from instemb.data.io import check_output_path, write_jsonl
        from instemb.tools.select import ADDED_FIELDS, METHODS, annotate, check_fields
        from instemb.tools.select import select as run_select

        check_output_path(output)
        if method not in METHODS:
            raise InstembError(f"unknown --method {method!r}: use {' or '.join(METHODS)}")
        rows, texts = _read(input, field)
        _check_n(n, rows, "rows", input)
        check_fields(rows, ADDED_FIELDS, str(input))  # before the slow part
        emb, embedder = _embed(texts, model, prompt, pooling, dtype, batch_size, progress)
        sel = run_select(emb, n, method=method, seed=seed, engine=engine)
        write_jsonl(annotate(rows, sel), output)
        _echo(f"wrote {len(sel.indices)} of {len(rows)} rows to {output} ({method}, seed {seed}; "
              f"{embedder.name})")

    @app.command()
    def demos(
        pool: Path = typer.Option(..., "--pool", help="Rows to draw demonstrations from (with outputs)."),
        queries: Path = typer.Option(..., "--queries", help="Rows that need demonstrations."),
        output: Path = typer.Option(..., "--output", "-o", help="Queries with demos and prompt, as JSONL."),
        k: int = typer.Option(4, "-k", "--k", min=1, help="Demonstrations per query."),
        field: str = FIELD,
        input_field: str = typer.Option("input", "--input-field",
                                        help="Optional context field (Alpaca's `input`)."),
        output_field: str = typer.Option("output", "--output-field",
                                         help="The pool rows' response field."),
        model: str = MODEL, prompt: Optional[str] = PROMPT, pooling: Optional[str] = POOLING,
        dtype: str = DTYPE, batch_size: int = BATCH, progress: Optional[bool] = PROGRESS,
        engine: str = ENGINE,
    ):
        """For each query, the k pool rows with the most similar instruction embedding (cosine),
        and a few-shot prompt in the Alpaca template (demonstrations, then the query).

        Output: each query row plus "demos" (the pool rows with "pool_index" and "score") and
        "prompt". When --pool and --queries are the same file a row never retrieves itself."""
        from instemb.data.io import check_output_path, write_jsonl
        from instemb.tools.demos import fewshot_prompt, retrieve
        from instemb.tools.select import check_fields

        check_output_path(output)
        pool_rows, pool_texts = _read(pool, field)
        for i, row in enumerate(pool_rows, 1):
            if output_field not in row:
                raise InstembError(f"{pool}: row {i} has no field {output_field!r} for the "
                                   f"demonstration's response; choose one with --output-field")
        same = pool.resolve() == queries.resolve()
        q_rows, q_texts = (pool_rows, pool_texts) if same else _read(queries, field)
        check_fields(q_rows, ("demos", "prompt"), str(queries))
        avail = len(pool_rows) - (1 if same else 0)
        if k > avail:
            raise InstembError(f"{pool}: asked for {k} demonstrations but the pool has only {avail}")
        p_emb, embedder = _embed(pool_texts, model, prompt, pooling, dtype, batch_size, progress)
        q_emb = p_emb if same else embedder.encode(q_texts, batch_size=batch_size,
                                                   show_progress_bar=progress)
        idx, sims = retrieve(q_emb, p_emb, k, exclude_self=same, engine=engine)
        out = []
        for row, ids, ss in zip(q_rows, idx, sims):
            chosen = [pool_rows[int(j)] for j in ids]
            demos_ = [{"pool_index": int(j), "score": round(float(s), 6), **r}
                      for j, s, r in zip(ids, ss, chosen)]
            text = fewshot_prompt(row, chosen, field, input_field, output_field)
            out.append({**row, "demos": demos_, "prompt": text})
        write_jsonl(out, output)
        _echo(f"wrote {len(out)} queries with {k} demonstrations each to {output} ({embedder.name})")

    @app.command()
    def compress(
        testset: Path = typer.Argument(..., help="Test set in any format `instemb embed` reads."),
        n: int = typer.Option(..., "-n", "--n", min=1, help="Rows to keep."),
        output: Path = typer.Option(..., "--output", "-o", help="Weighted rows as JSONL."),
        seed: int = SEED, field: str = FIELD, model: str = MODEL, prompt: Optional[str] = PROMPT,
        pooling: Optional[str] = POOLING, dtype: str = DTYPE, batch_size: int = BATCH,
        progress: Optional[bool] = PROGRESS, engine: str = ENGINE,
    ):
        """Compress a test set to n representative rows (k-means, the row nearest each centroid),
        each with a weight: the number of test rows its cluster holds. Score the model on the
        subset and average with weight_share (sums to 1) to estimate the full-set score."""
        from instemb.data.io import check_output_path, write_jsonl
        from instemb.tools.compress import ADDED_FIELDS, weighted_rows
        from instemb.tools.compress import compress as run_compress
        from instemb.tools.select import check_fields

        check_output_path(output)
        rows, texts = _read(testset, field)
        _check_n(n, rows, "rows", testset)
        check_fields(rows, ADDED_FIELDS, str(testset))  # before the slow part
        emb, embedder = _embed(texts, model, prompt, pooling, dtype, batch_size, progress)
        sel = run_compress(emb, n, seed=seed, engine=engine)
        write_jsonl(weighted_rows(rows, sel), output)
        _echo(f"wrote {len(sel.indices)} weighted rows standing for {len(rows)} to {output} "
              f"(largest weight {int(sel.cluster_size.max())}; {embedder.name})")

    @app.command()
    def correlate(
        datasets: List[str] = typer.Argument(..., help="Two or more datasets, each PATH or "
                                                       "PATH:FIELD (FIELD overrides --field)."),
        output: Path = typer.Option(..., "--output", "-o", help="Folder for wasserstein.csv, "
                                    "max_cosine.csv, correlation.json and correlation.png "
                                    "(created if its parent exists)."),
        names: Optional[str] = typer.Option(None, "--names",
                                            help="Comma-separated display names, one per dataset "
                                                 "(default: file names)."),
        max_rows: int = typer.Option(1000, "--max-rows", min=1,
                                     help="Seeded random sample of at most this many rows per dataset."),
        normalise: str = typer.Option("shift-sum", "--normalise",
                                      help="Before the Wasserstein measure: shift-sum (each vector "
                                           "minus its minimum, divided by its sum), sum (the "
                                           "paper's plain division by the sum), none."),
        seed: int = SEED, field: str = FIELD, model: str = MODEL, prompt: Optional[str] = PROMPT,
        pooling: Optional[str] = POOLING, dtype: str = DTYPE, batch_size: int = BATCH,
        progress: Optional[bool] = PROGRESS,
    ):
        """Task correlation between every pair of datasets: mean per-dimension Wasserstein
        distance of the embedding distributions (symmetric, lower = closer) and the mean over
        A's rows of the max cosine to any row of B (row A, column B; higher = B covers A)."""
        import numpy as np

        from instemb.data.io import atomic_path, write_json
        from instemb.tools.correlate import (NORMALISATIONS, correlation_matrices, heatmap,
                                             matrix_csv)
        from instemb.tools.select import random_select

        if len(datasets) < 2:
            raise InstembError("correlate needs at least two datasets")
        if normalise not in NORMALISATIONS:
            raise InstembError(f"unknown --normalise {normalise!r}: use one of {', '.join(NORMALISATIONS)}")
        if output.exists() and not output.is_dir():
            raise InstembError(f"{output}: exists and is not a folder")
        if not output.parent.exists():
            raise InstembError(f"{output}: folder {output.parent} does not exist")
        specs = [parse_dataset_spec(s, field) for s in datasets]
        labels = [x.strip() for x in names.split(",")] if names else dataset_names([p for p, _ in specs])
        if len(labels) != len(specs) or not all(labels):
            raise InstembError(f"--names gives {len(labels)} names for {len(specs)} datasets")
        from instemb.data.shards import StoredTexts
        from instemb.models import load

        embs, used, embedder = [], [], None
        for path, f in specs:
            rows, texts = _read(path, f)  # a shard folder brings its stored vectors
            keep = [int(i) for i in random_select(len(rows), min(max_rows, len(rows)), seed)]
            if isinstance(texts, StoredTexts):
                vectors, stored = _stored(texts, model, prompt, pooling, dtype)
                embs.append(vectors[keep])
                used.append(stored.name)
            else:
                if embedder is None:
                    embedder = load(model, pooling=pooling, prompt=prompt, dtype=dtype)
                embs.append(embedder.encode([texts[i] for i in keep], batch_size=batch_size,
                                            show_progress_bar=progress))
                used.append(embedder.name)
        models = list(dict.fromkeys(used))
        if len(models) > 1:
            raise InstembError(f"the datasets' vectors come from different models ({', '.join(models)}): "
                               f"re-embed the shard folders with one model")
        mats = correlation_matrices(embs, normalisation=normalise, progress=bool(progress))
        output.mkdir(exist_ok=True)
        for key, mat in mats.items():
            with atomic_path(output / f"{key}.csv") as tmp:
                tmp.write_text(matrix_csv(labels, mat), encoding="utf-8")
        write_json({"names": labels, "rows": [len(e) for e in embs], "model": models[0],
                    "normalisation": normalise, "seed": seed,
                    **{k: np.round(v, 8).tolist() for k, v in mats.items()}},
                   output / "correlation.json")
        with atomic_path(output / "correlation.png") as tmp:
            heatmap(labels, mats, tmp, title=f"Dataset task correlation ({models[0]})")
        _echo(f"wrote wasserstein.csv, max_cosine.csv, correlation.json, correlation.png to "
              f"{output} ({len(specs)} datasets, <= {max_rows} rows each; {models[0]})")

    @app.command("map")
    def task_map(
        input: Path = typer.Argument(..., help="Instructions in any format `instemb embed` reads."),
        output: Path = typer.Option(..., "--output", "-o", help="The HTML file to write."),
        clusters: Optional[int] = typer.Option(None, "--clusters", min=1,
                                               help="k-means clusters (default: about sqrt(n/3), at most 40)."),
        title: Optional[str] = typer.Option(None, "--title", help="Page title (default: the file name)."),
        labels: bool = typer.Option(True, "--labels/--no-labels",
                                    help="Name clusters by task labels (spaCy labeller); without, "
                                         "by their most frequent first two words."),
        max_points: int = typer.Option(20_000, "--max-points", min=3,
                                       help="t-SNE on a seeded sample of at most this many rows "
                                            "(clusters and their sizes still use every row)."),
        seed: int = SEED, field: str = FIELD, model: str = MODEL, prompt: Optional[str] = PROMPT,
        pooling: Optional[str] = POOLING, dtype: str = DTYPE, batch_size: int = BATCH,
        progress: Optional[bool] = PROGRESS, engine: str = ENGINE,
    ):
        """A self-contained HTML task map: t-SNE of the embeddings, points coloured by k-means
        cluster, clusters named by their most frequent task labels; hover shows the
        instruction, a search box filters (also map.html#q=word), a side list shows clusters."""
        from instemb.data.io import atomic_path, check_output_path
        import numpy as np

        from instemb.tools.taskmap import (build_html, cluster, default_clusters, name_clusters,
                                           project, sample_rows)

        check_output_path(output)
        rows, texts = _read(input, field)
        emb, embedder = _embed(texts, model, prompt, pooling, dtype, batch_size, progress)
        k = min(clusters or default_clusters(len(texts)), len(texts))
        assign = cluster(emb, k, seed, engine=engine)
        sizes = dict(enumerate(np.bincount(assign, minlength=k).tolist()))
        shown = sample_rows(len(texts), max_points, seed)  # t-SNE, labels, names: on these rows
        if len(shown) < len(texts):
            _echo(f"the map draws a random sample of {len(shown)} of {len(texts)} instructions "
                  f"(--max-points); clusters and their sizes use all {len(texts)}")
            texts, emb, assign = [texts[int(i)] for i in shown], emb[shown], assign[shown]
        tasks = [None] * len(texts)
        if labels:
            from instemb.labels import label_instructions

            tasks = [r["task"] for r in label_instructions(texts, show_progress_bar=progress)]
        if progress or (progress is None and len(texts) >= 1000):
            _echo(f"projecting {len(texts)} points with t-SNE ...")
        xy = project(emb, seed)
        html = build_html(texts, xy, assign, name_clusters(assign, tasks, texts),
                          title=title or f"Task map: {input.name} ({embedder.name})", emb=emb,
                          sizes={c: s for c, s in sizes.items() if s}, total=len(rows))
        with atomic_path(output) as tmp:
            tmp.write_text(html, encoding="utf-8")
        _echo(f"wrote a map of {len(texts)} of {len(rows)} instructions in {k} clusters to {output}"
              if len(texts) < len(rows) else
              f"wrote a map of {len(texts)} instructions in {k} clusters to {output}")

