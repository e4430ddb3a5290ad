"""Command-line options shared by every `instemb` command that embeds."""

import typer

from instemb.models.registry import DEFAULT_MODEL

MODEL = typer.Option(DEFAULT_MODEL, "--model", "-m",
                     help="Alias (see `instemb models`), local folder or Hugging Face id.")
PROMPT = typer.Option(None, "--prompt", "-p",
                      help="pie, pie-short, none, or a template with {instruction}. "
                           "Default: the model's own (none for MiniLM, pie for decoder LLMs).")
POOLING = typer.Option(None, "--pooling",
                       help="cls | mean (all tokens of the prompted text) | mean-instruction "
                            "(the instruction's tokens only) for encoders; last | last2 for "
                            "decoders. Default: the model's own.")
DTYPE = typer.Option("auto", "--dtype",
                     help="auto (bfloat16 where the CPU supports it, else float32) | float32 | "
                          "bfloat16 | float16.")
BATCH = typer.Option(32, "--batch-size", min=1, help="Instructions per forward pass.")
FIELD = typer.Option("instruction", "--field", help="Which field holds the instruction.")
BACKEND = typer.Option("auto", "--backend",
                       help="auto (the fastest path measured faithful for the model) | torch | "
                            "onnx (ONNX Runtime, encoders; dtype float32 or int8).")
EMBED_ENGINE = typer.Option("local", "--engine",
                      help="local: embed in this process | ray: a Ray actor pool, one model per "
                           "worker, on the cluster in $RAY_ADDRESS or a local Ray (needs "
                           "instemb's ray extra). Writes a shard folder.")
WORKERS = typer.Option(2, "--workers", min=1, help="Ray workers (one model each) for --engine ray.")
