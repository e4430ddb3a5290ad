"""A batch sampler for in-batch-negative losses: no text and no task category twice in a batch.

Passed to sentence-transformers' trainer through its documented ``batch_sampler`` argument.
"""

from __future__ import annotations

from typing import Iterator

import torch
from sentence_transformers.base.sampler import DefaultBatchSampler


class DistinctTaskBatchSampler(DefaultBatchSampler):
    """Shuffles (seed + epoch), then fills each batch greedily with rows whose texts and task
    categories are all new to the batch; rows that collide wait for a later batch.

    ``category_of`` maps a text to its task; texts it does not know only have to be unique.
    """

    def __init__(self, dataset, batch_size: int, drop_last: bool, valid_label_columns=None,
                 generator=None, seed: int = 0, category_of: dict[str, str] | None = None):
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last,
                         valid_label_columns=valid_label_columns, generator=generator, seed=seed)
        columns = [c for c in dataset.column_names if c not in (valid_label_columns or ["label"])]
        category_of = category_of or {}
        self.keys = []
        for values in zip(*(dataset[c] for c in columns)):
            keys = {("text", v) for v in values if isinstance(v, str)}
            keys |= {("task", category_of[v]) for v in values if isinstance(v, str) and v in category_of}
            self.keys.append(frozenset(keys))
        self.epoch = 0

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        remaining = torch.randperm(len(self.keys), generator=g).tolist()
        while remaining:
            batch, used, waiting = [], set(), []
            for idx in remaining:
                if len(batch) < self.batch_size and not (self.keys[idx] & used):
                    batch.append(idx)
                    used |= self.keys[idx]
                else:
                    waiting.append(idx)
            remaining = waiting
            if len(batch) == self.batch_size or (batch and not self.drop_last):
                yield batch
            if len(batch) < self.batch_size:
                break  # what is left cannot fill another batch without collisions

    def __len__(self) -> int:
        n = len(self.keys) // self.batch_size
        return n if self.drop_last or not len(self.keys) % self.batch_size else n + 1
