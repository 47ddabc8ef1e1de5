"""The recommender network: user and item id embeddings plus an item-feature tower, dot product.

    score(u, i) = <user_u, item_i + tower(mean of i's feature-token embeddings)> + bias_i

Item id embeddings start at zero, so an item never seen in training (a cold item) is scored
from its features alone; scoring every item for a user is one matrix product.
"""

from __future__ import annotations

import torch
from torch import nn


class RecommenderNet(nn.Module):
    """Scores (user, item) pairs; `forward` gives the BPR difference of two items.

    Args:
        n_users, n_items: sizes of the id vocabularies.
        tokens: (n_items, width) int64 hashed item-feature tokens, 0-padded (a buffer, saved
            with the weights).
        buckets: the largest token id.
        dim: embedding width.
    """

    tokens: torch.Tensor

    def __init__(
        self, n_users: int, n_items: int, tokens: torch.Tensor, buckets: int, dim: int = 32
    ) -> None:
        super().__init__()
        self.users = nn.Embedding(n_users, dim)
        self.items = nn.Embedding(n_items, dim)
        self.bias = nn.Embedding(n_items, 1)
        self.features = nn.Embedding(buckets + 1, dim, padding_idx=0)
        self.tower = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.register_buffer("tokens", tokens.to(torch.int64))
        nn.init.normal_(self.users.weight, std=0.1)
        nn.init.zeros_(self.items.weight)
        nn.init.zeros_(self.bias.weight)
        nn.init.normal_(self.features.weight, std=0.1)
        with torch.no_grad():
            self.features.weight[0].zero_()

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        """(n, dim) vectors of the given item indices: id embedding + feature tower."""
        tokens = self.tokens[items]
        present = (tokens > 0).unsqueeze(-1).to(self.features.weight.dtype)
        bag = (self.features(tokens) * present).sum(1) / present.sum(1).clamp(min=1.0)
        return self.items(items) + self.tower(bag)

    def score(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        """Scores of (user[j], item[j]) pairs."""
        return (self.users(user) * self.item_vectors(item)).sum(-1) + self.bias(item).squeeze(-1)

    def forward(
        self, user: torch.Tensor, item: torch.Tensor, negative: torch.Tensor
    ) -> torch.Tensor:
        return self.score(user, item) - self.score(user, negative)

    @torch.inference_mode()
    def all_items(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(n_items, dim) item vectors and (n_items,) biases, for scoring whole catalogs."""
        index = torch.arange(self.items.num_embeddings, device=self.items.weight.device)
        vectors = torch.cat([self.item_vectors(part) for part in index.split(4096)])
        return vectors, self.bias.weight.squeeze(-1)
