"""Recommendation: interactions and items in, a hybrid recommender and its ranking metrics out.

Fitting is the shared Lightning loop (`fit_network`) on (user, relevant item, sampled item)
batches: every epoch draws new negatives (uniformly over the items with training interactions,
re-drawn where they hit the user's own training items) from torch's generator, which the loop
re-seeds per epoch, so runs and resumes are reproducible. Validation batches use negatives
drawn once. Evaluation ranks the whole catalog per user against a popularity baseline
(`evaluation.ranking`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from trainforge.config import ExperimentConfig
from trainforge.data.interactions import Csr, RecommendationData, load_recommendation_data
from trainforge.errors import DataError
from trainforge.evaluation.ranking import RankingSet, ranking_set
from trainforge.tasks.family import FitOptions, Fitted, LoadPackage, Prepared
from trainforge.tasks.ranking import RankingTarget

NEGATIVE_RETRIES = 3


def prepare(cfg: ExperimentConfig, load_package: LoadPackage) -> Prepared:
    """Read, check, encode and split the interactions; build the (untrained) recommender."""
    from trainforge.models.recommender import RecommenderNet
    from trainforge.models.recommender_package import network_spec, save_recommender
    from trainforge.tasks.recommendation.model import RecommenderModel
    from trainforge.training.seeding import seed_all

    data = load_recommendation_data(cfg.data, cfg.split_seed)
    interactions = data.interactions
    train_rows = _positive_rows(data, "train")
    if len(train_rows) == 0:
        raise DataError(
            "no relevant training interaction to learn from"
            + (f" (no rating reaches {interactions.threshold})" if interactions.threshold else ""),
            where=cfg.data.train,
            fix="Lower data.positive_threshold, or check data.rating_column",
        )
    target = RankingTarget(interactions.threshold, interactions.split_kind)
    seed_all(cfg.train.seed)  # before any weight is initialised
    network = RecommenderNet(
        len(data.catalog.user_ids),
        len(data.catalog.item_ids),
        torch.from_numpy(data.tokens),
        data.featurizer.buckets,
        cfg.model.embedding_dim,
    )
    # The ranking target is a Target in all but name (loss, metrics, state).
    model = RecommenderModel(cfg, data.catalog, target, network=network)  # type: ignore[arg-type]
    truths = {split: _ranking_set(data, split) for split in ("validation", "test")}
    truths = {split: truth for split, truth in truths.items() if len(truth)}

    def fit(run_dir: Path, options: FitOptions) -> Fitted:
        fitted = _fit(network, target, cfg, data, run_dir, options)
        fitted.extra |= {
            f"data_{key}": value for key, value in interactions.stats.items() if value is not None
        }
        fitted.extra["positive_threshold"] = interactions.threshold
        fitted.extra["split"] = interactions.split_kind
        return fitted

    manifest = {
        "network": network_spec(network),
        "item_features": data.featurizer.state_dict()
        if hasattr(data.featurizer, "specs_")
        else None,
        "users": len(data.catalog.user_ids),
        "items": len(data.catalog.item_ids),
    }
    return Prepared(
        model=model,
        rows={"train": len(train_rows), **{s: len(t) for s, t in truths.items()}},
        fit=fit,
        # (truth, ranks) rather than arrays: RankingTarget.metrics reads them.
        evaluate=lambda split: (truths[split], model.rank(truths[split])),  # type: ignore[arg-type,return-value]
        manifest=manifest,
        write_files=lambda folder: save_recommender(folder, network, data.catalog),
        report_sections=_report_sections,
    )


def _positive_rows(data: RecommendationData, split: str) -> np.ndarray:
    rows = data.interactions.rows(split)
    return rows[data.interactions.relevant[rows]]


def _ranking_set(data: RecommendationData, split: str) -> RankingSet:
    """Relevant items of a held-out split; items the user met in earlier splits are excluded."""
    interactions = data.interactions
    rows = _positive_rows(data, split)
    earlier = interactions.split < (1 if split == "validation" else 2)
    seen = Csr.build(
        interactions.users[earlier], interactions.items[earlier], len(data.catalog.user_ids)
    )
    return ranking_set(
        interactions.users[rows],
        interactions.items[rows],
        seen.indptr,
        seen.indices,
        len(data.catalog.item_ids),
    )


class TripleDataset(Dataset[dict[str, torch.Tensor]]):
    """(user, relevant item, sampled item) triples, fetched a batch at a time.

    Args:
        users, items: the relevant pairs.
        seen: training items per user (a negative drawn among them is drawn again).
        pool: the items negatives are drawn from.
        negatives: fixed negatives (validation); None draws new ones per batch.
    """

    def __init__(
        self,
        users: np.ndarray,
        items: np.ndarray,
        seen: Csr,
        pool: np.ndarray,
        negatives: np.ndarray | None = None,
    ) -> None:
        self.users = torch.as_tensor(users, dtype=torch.int64)
        self.items = torch.as_tensor(items, dtype=torch.int64)
        self.seen, self.pool = seen, pool
        self.negatives = None if negatives is None else torch.as_tensor(negatives)

    def __len__(self) -> int:
        return len(self.users)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        index = torch.as_tensor(indices, dtype=torch.int64)
        users = self.users[index]
        negatives = (
            self.negatives[index]
            if self.negatives is not None
            else sample_negatives(users.numpy(), self.seen, self.pool, None)
        )
        return {
            "user": users,
            "item": self.items[index],
            "negative": torch.as_tensor(negatives, dtype=torch.int64),
            "labels": torch.ones(len(index)),
        }


def sample_negatives(
    users: np.ndarray, seen: Csr, pool: np.ndarray, rng: np.random.Generator | None
) -> np.ndarray:
    """One item of `pool` per user drawn uniformly, re-drawn (a few times) where the user has it.

    The pool is the items with training interactions: an item nobody interacted with is never
    pushed down as a negative, so its id embedding stays at zero and its features alone score
    it (a new item is not taken for a disliked one). `rng` None draws from torch's global
    generator (re-seeded per epoch by the training loop).
    """

    def draw(n: int) -> np.ndarray:
        if rng is not None:
            return pool[rng.integers(0, len(pool), n)]
        return pool[torch.randint(0, len(pool), (n,)).numpy()]

    negatives = draw(len(users))
    for _ in range(NEGATIVE_RETRIES):
        clash = seen.contains(users, negatives)
        if not clash.any():
            break
        negatives[clash] = draw(int(clash.sum()))
    return negatives


def _fit(
    network: Any,
    target: RankingTarget,
    cfg: ExperimentConfig,
    data: RecommendationData,
    run_dir: Path,
    options: FitOptions,
) -> Fitted:
    from trainforge.training.callbacks import EpochShuffleSampler
    from trainforge.training.fit import fit_network

    interactions, catalog = data.interactions, data.catalog
    train_rows = _positive_rows(data, "train")
    pool = np.unique(interactions.items[interactions.split == 0])
    train = TripleDataset(
        interactions.users[train_rows], interactions.items[train_rows], catalog.seen_train, pool
    )
    batch_size = cfg.train.batch_size
    train_loader = DataLoader(
        train,
        batch_size=batch_size,
        sampler=EpochShuffleSampler(len(train), cfg.train.seed),
        collate_fn=_identity,
        generator=torch.Generator().manual_seed(cfg.train.seed),
    )
    val_loader = None
    val_rows = _positive_rows(data, "validation")
    if len(val_rows):
        users = interactions.users[val_rows]
        rng = np.random.default_rng(cfg.train.seed)
        fixed = sample_negatives(users, catalog.seen, pool, rng)
        validation = TripleDataset(users, interactions.items[val_rows], catalog.seen, pool, fixed)
        val_loader = DataLoader(
            validation, batch_size=cfg.train.eval_batch_size, collate_fn=_identity
        )
    return fit_network(network, target, cfg.train, (train_loader, val_loader), run_dir, options)


def _identity(batch: Any) -> Any:
    return batch


def _report_sections(plots_dir: Path, results: list[Any]) -> list[str]:
    """A bar chart of the model against popularity per evaluated split."""
    from trainforge.evaluation.html import esc, image, table
    from trainforge.evaluation.ranking_plots import plot_model_vs_popularity

    parts = ["<h2>Model vs popularity</h2>"]
    for result in results:
        metrics = result.metrics
        names = ["ndcg_at_10", "hr_at_10", "map_at_10", "auc"]
        rows = [[n, metrics.get(n, "—"), metrics.get("popularity", {}).get(n, "—")] for n in names]
        parts += [f"<h3>{esc(result.name)}</h3>", table(["metric", "model", "popularity"], rows)]
        path = plot_model_vs_popularity(
            metrics, plots_dir / f"model_vs_popularity_{result.name}.png", title=result.name
        )
        parts.append(image(path, f"Ranking metrics, model vs popularity ({result.name})"))
    split = results[-1].metrics.get("split") if results else None
    if split is not None:
        how = (
            "each user's last interactions by time"
            if split == "time"
            else "a seeded random choice of each user's interactions"
        )
        parts.append(
            f'<p class="muted">Held out: {esc(how)}. Candidates: every item the user had not '
            "interacted with before the split; ties broken by one fixed order.</p>"
        )
    return parts
