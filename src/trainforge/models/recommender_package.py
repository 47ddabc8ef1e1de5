"""Recommender package files: the network's weights, and the catalog beside them.

model.safetensors     RecommenderNet weights (with the item-feature tokens as a buffer)
catalog.json          user ids, item ids and each item's display fields
catalog.safetensors   popularity per item; seen items per user (all data and training)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from trainforge.data.interactions import Catalog, Csr
from trainforge.package import WEIGHTS, write_json

CATALOG_JSON = "catalog.json"
CATALOG_ARRAYS = "catalog.safetensors"


def network_spec(network: Any) -> dict[str, int]:
    """What `load_recommender` needs to rebuild the network before loading its weights."""
    return {
        "n_users": network.users.num_embeddings,
        "n_items": network.items.num_embeddings,
        "buckets": network.features.num_embeddings - 1,
        "dim": network.users.embedding_dim,
        "token_width": int(network.tokens.shape[1]),
    }


def save_recommender(folder: Path, network: Any, catalog: Catalog) -> None:
    """Write the weights and the catalog into a package folder."""
    from safetensors.numpy import save_file as save_arrays
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in network.state_dict().items()}
    save_file(state, folder / WEIGHTS)
    write_json(
        folder / CATALOG_JSON,
        {"user_ids": catalog.user_ids, "item_ids": catalog.item_ids, "records": catalog.records},
    )
    arrays = {
        "popularity": catalog.popularity.astype(np.float32),
        "seen_indptr": catalog.seen.indptr,
        "seen_indices": catalog.seen.indices,
        "seen_train_indptr": catalog.seen_train.indptr,
        "seen_train_indices": catalog.seen_train.indices,
    }
    save_arrays({k: np.ascontiguousarray(v) for k, v in arrays.items()}, folder / CATALOG_ARRAYS)


def load_recommender(path: Path, manifest: dict[str, Any]) -> tuple[Catalog, Any]:
    """(catalog, network in eval mode) of a package."""
    import torch
    from safetensors.numpy import load_file as load_arrays
    from safetensors.torch import load_file

    from trainforge.models.recommender import RecommenderNet

    spec = manifest["network"]
    tokens = torch.zeros((spec["n_items"], spec["token_width"]), dtype=torch.int64)
    network = RecommenderNet(spec["n_users"], spec["n_items"], tokens, spec["buckets"], spec["dim"])
    network.load_state_dict(load_file(path / WEIGHTS))
    network.eval()
    names = json.loads((path / CATALOG_JSON).read_text(encoding="utf-8"))
    arrays = load_arrays(path / CATALOG_ARRAYS)
    catalog = Catalog(
        user_ids=names["user_ids"],
        item_ids=names["item_ids"],
        records=names["records"],
        popularity=arrays["popularity"],
        seen=Csr(arrays["seen_indptr"], arrays["seen_indices"]),
        seen_train=Csr(arrays["seen_train_indptr"], arrays["seen_train_indices"]),
    )
    return catalog, network
