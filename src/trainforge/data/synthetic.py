"""Seeded synthetic data with a known structure: `trainforge make-data recommendations OUT_DIR`.

Recommendations: each item has a primary genre (and sometimes a second one); its title draws
two words from its primary genre's vocabulary and one from a random genre. Each user likes a
few genres (a Dirichlet draw with a small concentration). An interaction picks a user (by a
skewed activity), a genre by that user's taste, then an item of that genre by a skewed
popularity; a share of clicks (`noise`) goes to an item drawn by popularity alone. Times are
uniform over 180 days. Everything is vectorised NumPy: a million rows take seconds.

Files: `interactions.csv` (user, item, time) and `items.csv` (item, title, genres).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trainforge.errors import ConfigError

GENRES = (
    "action", "comedy", "drama", "horror", "romance", "scifi", "documentary", "animation",
    "thriller", "fantasy", "mystery", "western", "musical", "crime", "war", "family",
)  # fmt: skip
WORDS_PER_GENRE = 24
SECONDS = 180 * 24 * 3600
_SYLLABLES = ("ka", "lo", "mi", "ra", "ten", "vo", "shu", "bel", "dor", "ni", "qua", "zen", "fi")


@dataclass(frozen=True)
class SyntheticSpec:
    """Sizes and knobs of a synthetic interaction set.

    Args:
        users, items, interactions: how many of each (every user gets at least 3 interactions).
        genres: latent genres (at most 16).
        noise: share of interactions drawn by popularity alone.
        seed: everything is drawn from this seed.
    """

    users: int = 20_000
    items: int = 5_000
    interactions: int = 1_000_000
    genres: int = 12
    noise: float = 0.1
    seed: int = 0

    def check(self) -> None:
        problems = {
            "--users": self.users >= 1,
            "--items": self.items >= self.genres,
            "--interactions": self.interactions >= 3 * self.users,
            "--genres": 1 <= self.genres <= len(GENRES),
            "--noise": 0.0 <= self.noise <= 1.0,
        }
        for option, fine in problems.items():
            if not fine:
                raise ConfigError(
                    f"{option} is out of range ({self})",
                    where=option,
                    fix="Use at least 1 user, as many items as genres, 3 interactions per "
                    f"user, 1 to {len(GENRES)} genres and a noise share in [0, 1]",
                )


@dataclass(frozen=True)
class SyntheticTruth:
    """The hidden structure of a synthetic set: what an ideal recommender would know.

    Attributes:
        taste: (users, genres) each user's genre preferences.
        primary: (items,) each item's primary genre.
        popularity: (items,) each item's popularity weight.
        noise: share of popularity-only clicks.
    """

    taste: np.ndarray
    primary: np.ndarray
    popularity: np.ndarray
    noise: float

    def scores(self, users: np.ndarray) -> np.ndarray:
        """(len(users), items) click probabilities of user numbers (u7 -> 7) for item numbers."""
        genre_total = np.bincount(self.primary, weights=self.popularity)
        within = self.popularity / genre_total[self.primary]
        by_taste = self.taste[users][:, self.primary] * within
        return (1 - self.noise) * by_taste + self.noise * self.popularity / self.popularity.sum()


def make_recommendations(spec: SyntheticSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(interactions, items) frames drawn from `spec`.

    Example:
        >>> interactions, items = make_recommendations(SyntheticSpec(users=100, items=50,
        ...                                                          interactions=1000))
        >>> interactions.shape, items.shape
        ((1000, 3), (50, 3))
    """
    interactions, items, _ = draw_recommendations(spec)
    return interactions, items


def draw_recommendations(spec: SyntheticSpec) -> tuple[pd.DataFrame, pd.DataFrame, SyntheticTruth]:
    """(interactions, items, the hidden structure they were drawn from)."""
    spec.check()
    rng = np.random.default_rng(spec.seed)
    n_genres = spec.genres
    primary = rng.integers(0, n_genres, spec.items)
    items = _items(rng, primary, n_genres)
    popularity = rng.lognormal(0.0, 1.2, spec.items)
    taste = rng.dirichlet(np.full(n_genres, 0.3), spec.users)
    activity = rng.lognormal(0.0, 0.8, spec.users)
    extra = spec.interactions - 3 * spec.users
    users = np.concatenate(
        [
            np.repeat(np.arange(spec.users), 3),
            rng.choice(spec.users, extra, p=activity / activity.sum()),
        ]
    )
    # A genre per interaction by the user's taste (inverse CDF on each user's row).
    cumulative = np.cumsum(taste, axis=1)
    draws = rng.random(len(users))
    genre = np.minimum((cumulative[users] < draws[:, None]).sum(axis=1), n_genres - 1)
    chosen = np.empty(len(users), dtype=np.int64)
    for g in range(n_genres):
        rows = np.flatnonzero(genre == g)
        members = np.flatnonzero(primary == g)
        if len(members) == 0:  # no item of this genre: any item, by popularity
            members = np.arange(spec.items)
        chosen[rows] = _by_weight(rng, members, popularity[members], len(rows))
    noisy = rng.random(len(users)) < spec.noise
    chosen[noisy] = _by_weight(rng, np.arange(spec.items), popularity, int(noisy.sum()))
    interactions = pd.DataFrame(
        {
            "user": np.char.add("u", users.astype(str)),
            "item": np.char.add("i", chosen.astype(str)),
            "time": rng.integers(0, SECONDS, len(users)),
        }
    )
    return interactions, items, SyntheticTruth(taste, primary, popularity, spec.noise)


def write_recommendations(out_dir: Path, spec: SyntheticSpec) -> tuple[Path, Path]:
    """Write interactions.csv and items.csv into `out_dir`; returns their paths."""
    interactions, items = make_recommendations(spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = (out_dir / "interactions.csv", out_dir / "items.csv")
    for frame, path in zip((interactions, items), paths, strict=True):
        tmp = path.with_name(f".{path.name}.tmp")
        frame.to_csv(tmp, index=False)
        tmp.replace(path)
    return paths


def _items(rng: np.random.Generator, primary: np.ndarray, n_genres: int) -> pd.DataFrame:
    """Item ids, titles (words tied to genres) and genres ("drama" or "drama|crime")."""
    vocabulary = _vocabulary(rng, n_genres)
    n = len(primary)
    own = rng.integers(0, WORDS_PER_GENRE, (n, 2))
    other_genre = rng.integers(0, n_genres, n)
    other_word = rng.integers(0, WORDS_PER_GENRE, n)
    titles = [
        f"{vocabulary[g][a]} {vocabulary[g][b]} {vocabulary[o][w]}".title()
        for g, (a, b), o, w in zip(primary, own, other_genre, other_word, strict=True)
    ]
    second = rng.integers(0, n_genres, n)
    has_second = (rng.random(n) < 0.3) & (second != primary)
    names = np.array(GENRES[:n_genres])
    genres = np.where(
        has_second, np.char.add(np.char.add(names[primary], "|"), names[second]), names[primary]
    )
    return pd.DataFrame(
        {"item": np.char.add("i", np.arange(n).astype(str)), "title": titles, "genres": genres}
    )


def _vocabulary(rng: np.random.Generator, n_genres: int) -> list[list[str]]:
    """Distinct made-up words, WORDS_PER_GENRE per genre."""
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < n_genres * WORDS_PER_GENRE:
        word = "".join(rng.choice(_SYLLABLES, int(rng.integers(2, 4))))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return [words[g * WORDS_PER_GENRE : (g + 1) * WORDS_PER_GENRE] for g in range(n_genres)]


def _by_weight(
    rng: np.random.Generator, members: np.ndarray, weights: np.ndarray, n: int
) -> np.ndarray:
    cumulative = np.cumsum(weights)
    picks = np.searchsorted(cumulative, rng.random(n) * cumulative[-1], side="right")
    return members[np.minimum(picks, len(members) - 1)]


def make_data_command(
    kind: str,
    out_dir: Path,
    users: int = 20_000,
    items: int = 5_000,
    interactions: int = 1_000_000,
    genres: int = 12,
    noise: float = 0.1,
    seed: int = 0,
) -> None:
    """Write a seeded synthetic data set: `recommendations` (interactions.csv, items.csv)."""
    import time

    import typer

    if kind != "recommendations":
        raise ConfigError(
            f"unknown synthetic data set {kind!r}",
            where="make-data KIND",
            fix="Use: trainforge make-data recommendations OUT_DIR",
        )
    spec = SyntheticSpec(users, items, interactions, genres, noise, seed)
    start = time.perf_counter()
    paths = write_recommendations(out_dir, spec)
    seconds = time.perf_counter() - start
    typer.echo(f"Wrote {paths[0]} ({interactions:,} interactions) and {paths[1]} ({items:,} items)")
    typer.echo(f"in {seconds:.1f} s (seed {seed})")
