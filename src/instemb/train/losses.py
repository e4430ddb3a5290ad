"""A similarity-preserving term for keeping the base model's neighbourhoods.

``EmbedDistillLoss`` (cosine) asks every general instruction to keep its base *vector*; that
fights the contrastive loss, which has to move vectors. :class:`KeepNeighboursLoss` asks only
that, inside a batch, each text keeps the same *neighbours* as under the base model: the KL
divergence between the softmax over in-batch cosine similarities of the base vectors (the
``label`` column) and of the model's vectors, at the contrastive loss's temperature. A rotation
of the whole space is free; what k-means sees (who is near whom) is kept.
"""

from __future__ import annotations

import torch
from sentence_transformers.base.losses.merged_forward import embed_columns
from torch import Tensor, nn


class KeepNeighboursLoss(nn.Module):
    def __init__(self, model, temperature: float = 0.05) -> None:
        super().__init__()
        self.model = model
        self.temperature = temperature

    def forward(self, sentence_features, labels: Tensor) -> Tensor:
        (student,) = embed_columns(self.model, sentence_features)
        student = nn.functional.normalize(student.float(), dim=-1)
        teacher = nn.functional.normalize(labels.detach().float(), dim=-1)
        eye = torch.eye(len(student), dtype=torch.bool, device=student.device)
        s = (student @ student.T / self.temperature).masked_fill(eye, float("-inf"))
        t = (teacher @ teacher.T / self.temperature).masked_fill(eye, float("-inf"))
        # rows: each text's distribution over its batch neighbours; diagonal excluded (0 * -inf)
        log_p_s = torch.log_softmax(s, dim=-1).masked_fill(eye, 0.0)
        log_p_t = torch.log_softmax(t, dim=-1).masked_fill(eye, 0.0)
        return (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1).mean()
