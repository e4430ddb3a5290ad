"""`--engine ray` on one machine: local encode beside Ray actor pools with different thread splits.

    nice -n 19 python benchmarks/ray_embed.py --rows 20000 --shard-size 2000

For the default model (as `instemb embed` loads it: backend and dtype resolved), embeds the same
shards (IEB eft_test instructions, repeated) in this process and on a local Ray started for each
configuration: workers x torch/ONNX threads per worker, oversubscribed included. Prints wall time
(Ray start and model loads included), rows/s and whether every shard is byte-identical to the
local result. Run it on a quiet machine.
"""

import argparse
import inspect
import os
import time
from pathlib import Path

import ray

import instemb
from instemb.data.io import read_instructions
from instemb.engines.ray_engine import encode_shards_on_ray

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
IEB = Path(__file__).resolve().parents[2] / "shared" / "data" / "instruction-embedding-benchmark"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--shard-size", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", default=instemb.DEFAULT_MODEL)
    args = parser.parse_args()

    _, texts = read_instructions(IEB / "eft_test.json")
    texts = [texts[i % len(texts)] for i in range(args.rows)]
    shards = [(k, texts[s:s + args.shard_size])
              for k, s in enumerate(range(0, args.rows, args.shard_size))]
    embedder = instemb.load(args.model)
    load_kwargs = {"name_or_path": args.model, "pooling": embedder.pooling,
                   "dtype": embedder.dtype}
    if "backend" in inspect.signature(instemb.load).parameters:
        load_kwargs["backend"] = getattr(embedder, "backend", "torch")
    print(f"{args.rows} rows in {len(shards)} shards; {embedder}")

    start = time.perf_counter()
    expected = {k: embedder.encode(t, batch_size=args.batch_size, show_progress_bar=False)
                for k, t in shards}
    seconds = time.perf_counter() - start
    print(f"{'local (this process)':32s} {seconds:7.1f} s {args.rows / seconds:8.0f} rows/s")

    cores = len(os.sched_getaffinity(0))
    configs = [(1, cores), (2, max(1, cores // 2)), (2, cores)]
    for workers, threads in configs:
        start = time.perf_counter()
        # a Ray with room for every worker's threads, oversubscribed or not
        ray.init(address="local", num_cpus=workers * threads, include_dashboard=False,
                 log_to_driver=False, logging_level="ERROR")
        try:
            got = dict(encode_shards_on_ray(iter(shards), load_kwargs, args.batch_size, workers,
                                            cpus_per_worker=threads))
        finally:
            ray.shutdown()
        seconds = time.perf_counter() - start
        same = sorted(got) == sorted(expected) and all(
            got[k].tobytes() == expected[k].tobytes() for k in expected)
        label = f"ray {workers} worker(s) x {threads} thread(s)"
        print(f"{label:32s} {seconds:7.1f} s {args.rows / seconds:8.0f} rows/s  "
              f"identical={same}")


if __name__ == "__main__":
    main()
