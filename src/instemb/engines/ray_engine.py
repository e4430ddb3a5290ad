"""Embedding on Ray Data: an actor pool with one model per worker (``instemb embed --engine ray``).

The driver reads the input and writes the shard files; Ray only embeds, so no shared
filesystem is needed. The dataset is ``read_datasource(feed) -> map_batches(ShardWorker)``
on a fixed pool of actors that each load the model once: the driver puts shards ``(index,
texts)`` in a small Ray queue, one read task passes each on as a one-row block, an actor embeds
it, and the results stream back through ``iter_rows`` as they finish, in any order. The driver
keeps a fixed number of shards out and sends the next one only when a result has come back, so
memory stays bounded however long the input (a Dataset built with ``from_items`` would hold
every shard at once). Each shard is embedded by exactly the call the local path makes,
``load(**load_kwargs).encode(texts, batch_size=...)``, so the vectors are byte-identical.

``RAY_ADDRESS`` names a cluster to join; without it a local Ray is started for the run and shut
down after it. Every node needs instemb (``pip install "instemb[ray]"``) and the model.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import warnings
from contextlib import contextmanager
from typing import Iterable, Iterator

import numpy as np

from instemb.errors import InstembError

#: a worker that dies (killed, out of memory) is restarted and its shard retried this often
MAX_RETRIES = 3


class ShardWorker:
    """A Ray actor: loads the model once, then embeds one shard per call."""

    def __init__(self, load_kwargs: dict, batch_size: int, threads: int):
        import torch

        from instemb.models import load

        # workers sharing a node must not oversubscribe it (OMP_NUM_THREADS: ONNX Runtime)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)
        self.embedder = load(**load_kwargs)
        self.batch_size = batch_size

    def __call__(self, batch):
        """A one-row pyarrow table (shard, texts) -> (shard, dim, float32 bytes of the vectors)."""
        import pyarrow as pa

        texts = batch.column("texts")[0].as_py()
        vectors = self.embedder.encode(texts, batch_size=self.batch_size, show_progress_bar=False)
        return pa.table({"shard": batch.column("shard"),
                         "dim": pa.array([vectors.shape[1]], pa.int64()),
                         "vectors": pa.array([vectors.tobytes()], pa.large_binary())})


def encode_shards_on_ray(shards: Iterable[tuple[int, list[str]]], load_kwargs: dict,
                         batch_size: int, workers: int, cpus_per_worker: int | None = None,
                         in_flight: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Embed shards on a Ray actor pool; yield ``(shard index, float32 (n, dim) array)``.

    Shards come back as they finish, in any order, each exactly once. ``shards`` is read
    lazily: at most ``in_flight`` shards (default: two per worker) are out at a time, a new one
    goes out when a finished one has been yielded, so memory stays bounded on the driver and in
    the object store. ``cpus_per_worker`` (default: the cluster's CPUs split evenly over the
    workers) is what each actor reserves and the threads it uses. A worker that dies is
    restarted and its shard retried (:data:`MAX_RETRIES`); past that, or on an error in the
    model code, one :class:`InstembError` is raised and the shards already yielded stay valid.
    """
    try:
        import pyarrow as pa
        import ray
        import ray.data
        from ray.util.queue import Queue
    except ImportError:
        raise InstembError('--engine ray needs Ray: pip install "instemb[ray]"') from None
    from instemb.models.embedder import check_instructions

    if workers < 1:
        raise InstembError("--workers must be at least 1")
    in_flight = max(1, in_flight or 2 * workers)
    texts_type = pa.list_(pa.large_string())
    source = iter(shards)
    ended = False

    def send_next() -> None:
        """Put the next shard in the feed, or the end marker once ``shards`` runs out."""
        nonlocal ended
        item = None if ended else next(source, None)
        if item is not None:
            feed.put(pa.table({"shard": pa.array([item[0]], pa.int64()),
                               "texts": pa.array([check_instructions(item[1])], texts_type)}))
        elif not ended:
            ended = True
            feed.put(None)

    with _ray_session(workers):
        cpus = cpus_per_worker or max(1, int(ray.cluster_resources().get("CPU", 1)) // workers)
        feed = Queue(maxsize=in_flight + 1, actor_options={"num_cpus": 0})
        with warnings.catch_warnings(), _data_context(ray.data.DataContext.get_current()):
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
            # a retried read would have lost the shards it had taken: fail instead of waiting
            dataset = ray.data.read_datasource(_shard_feed(feed), num_cpus=0,
                                               ray_remote_args={"max_retries": 0})
            dataset = dataset.map_batches(
                ShardWorker, batch_size=1, batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=cpus,
                fn_constructor_kwargs={"load_kwargs": load_kwargs, "batch_size": batch_size,
                                       "threads": cpus},
                **_retry_args(ray.data.Dataset.map_batches))
        try:
            for _ in range(in_flight):
                send_next()
            for row in dataset.iter_rows():
                vectors = np.frombuffer(row["vectors"], dtype=np.float32)
                yield int(row["shard"]), vectors.reshape(-1, int(row["dim"])).copy()
                send_next()  # one out, one in
        except ray.exceptions.RayError as e:  # UserCodeException, ActorDiedError, ...
            raise _worker_error(e) from None
        finally:
            feed.shutdown(force=True)  # also ends a read task still waiting on it


def _shard_feed(feed):
    """A Ray Data source: one long read task that passes on the shards the driver puts in
    ``feed`` (a Ray queue), one block each, until the end marker."""
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    def read():
        while (block := feed.get()) is not None:
            yield block

    class ShardFeed(Datasource):
        def estimate_inmemory_data_size(self):
            return None

        def get_read_tasks(self, parallelism, **kwargs):
            unknown = {f.name: None for f in dataclasses.fields(BlockMetadata)  # fields vary
                       if f.default is dataclasses.MISSING
                       and f.default_factory is dataclasses.MISSING}
            return [ReadTask(read, BlockMetadata(**unknown))]

    return ShardFeed()


def _retry_args(map_batches) -> dict:
    """Bounded restarts (Ray Data's default retries a dying worker forever), where supported."""
    kinds = {p.kind for p in inspect.signature(map_batches).parameters.values()}
    if inspect.Parameter.VAR_KEYWORD not in kinds:
        return {}
    return {"max_restarts": MAX_RETRIES, "max_task_retries": MAX_RETRIES}


def _worker_error(error: BaseException) -> InstembError:
    """One line for a failure on a worker: our own message if the model code raised one."""
    seen, cause = set(), error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, InstembError):
            return InstembError(f"on a Ray worker: {cause}")
        inner = getattr(cause, "cause", None)  # RayTaskError keeps the worker's exception here
        cause = inner if isinstance(inner, BaseException) else cause.__cause__
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    ours = [line.split("InstembError: ", 1)[1] for line in lines if "InstembError: " in line]
    if ours:  # an actor that died in __init__ carries the exception only as text
        return InstembError(f"on a Ray worker: {ours[-1]}")
    detail = lines[-1].split(". ")[0].rstrip(".")[:200] if lines else "no details"
    return InstembError(f"a Ray worker failed ({type(error).__name__}: {detail})")


@contextmanager
def _data_context(context):
    """Each shard its own block, passed on at once (not merged up to the usual 128 MiB, which
    would wait for shards the driver only sends when results come back); no progress bars or
    banner (the caller shows progress over shards)."""
    settings = {"target_max_block_size": 1, "enable_progress_bars": False,
                "print_on_execution_start": False}
    saved = {name: getattr(context, name) for name in settings if hasattr(context, name)}
    for name in saved:
        setattr(context, name, settings[name])
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(context, name, value)


#: Ray's notices that tell an instemb user nothing (Ray's warnings and errors still show)
_NOISY_LOGGERS = {
    "ray._private.authentication.authentication_token_setup": logging.ERROR,  # local run: token
    "ray.data._internal.progress": logging.ERROR,  # "progress bars disabled"
    "ray.data._internal.execution.streaming_executor": logging.WARNING,  # started, finished
}


@contextmanager
def _ray_session(workers: int):
    """Use the running Ray, else join ``RAY_ADDRESS``, else start a local one for this run."""
    import ray

    saved = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
    for name, level in _NOISY_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    try:
        with _started_ray(ray, workers):
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@contextmanager
def _started_ray(ray, workers: int):
    if ray.is_initialized():
        yield
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = os.environ.get("RAY_ADDRESS")
    quiet = {"log_to_driver": False, "logging_level": "WARNING"}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:  # a fresh local instance, never a stray one found in /tmp/ray
            ray.init(address="local", num_cpus=max(len(os.sched_getaffinity(0)), workers),
                     include_dashboard=False, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at RAY_ADDRESS={address}" if address else "a local Ray"
        raise InstembError(f"cannot start {where}: {str(e).splitlines()[0]}") from None
    try:
        yield
    finally:
        ray.shutdown()
