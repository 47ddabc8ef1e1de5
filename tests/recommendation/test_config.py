"""Recommendation config and data errors: each names the place and the fix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import trainforge
from trainforge.config import load_config
from trainforge.errors import ConfigError, DataError


def write(tmp_path: Path, interactions: pd.DataFrame, items: pd.DataFrame | None = None) -> dict:
    interactions.to_csv(tmp_path / "ratings.csv", index=False)
    data = {"train": str(tmp_path / "ratings.csv"), "user_column": "u", "item_column": "i"}
    if items is not None:
        items.to_csv(tmp_path / "items.csv", index=False)
        data["items"] = str(tmp_path / "items.csv")
    return {"task": "recommendation", "data": data, "train": {"epochs": 1}}


def ratings(n_users: int = 4, per_user: int = 4) -> pd.DataFrame:
    rows = [
        {"u": f"u{u}", "i": f"i{(u + j) % 6}", "r": j % 3}
        for u in range(n_users)
        for j in range(per_user)
    ]
    return pd.DataFrame(rows)


def items() -> pd.DataFrame:
    return pd.DataFrame({"i": [f"i{n}" for n in range(6)], "title": ["a b"] * 6})


def test_defaults_and_model_type() -> None:
    cfg = load_config({"task": "recommendation", "data": {"train": "x.csv"}})
    assert cfg.model.type == "recommender"
    assert cfg.data.user_column == "user" and cfg.data.rating_column is None
    assert cfg.train.early_stopping is not None and cfg.train.early_stopping.monitor == "val_loss"


def test_recommendation_keys_are_refused_for_other_tasks() -> None:
    with pytest.raises(ConfigError, match=r"data\.items does not apply to task"):
        load_config({"task": "tabular_classification", "data": {"train": "x", "items": "y"}})


def test_threshold_without_ratings_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"positive_threshold needs data\.rating_column"):
        load_config({"task": "recommendation", "data": {"train": "x", "positive_threshold": 1}})


def test_missing_column_names_file_and_columns(tmp_path: Path) -> None:
    config = write(tmp_path, ratings())
    config["data"]["rating_column"] = "stars"
    with pytest.raises(DataError, match=r"ratings.csv: column 'stars'.*the file has 'u', 'i', 'r'"):
        trainforge.train(config, output=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_item_file_without_the_item_column(tmp_path: Path) -> None:
    config = write(tmp_path, ratings(), items().rename(columns={"i": "id"}))
    with pytest.raises(DataError, match=r"items.csv: column 'i' \(data.item_column\) not found"):
        trainforge.train(config, output=tmp_path / "run")


def test_empty_interactions_file(tmp_path: Path) -> None:
    (tmp_path / "ratings.csv").write_text("u,i\n", encoding="utf-8")
    config = {"task": "recommendation", "data": {"train": str(tmp_path / "ratings.csv")}}
    with pytest.raises(DataError, match="has no data rows"):
        trainforge.train(config, output=tmp_path / "run")


def test_interactions_with_unknown_items_warn_with_a_count(tmp_path: Path) -> None:
    frame = pd.concat([ratings(), pd.DataFrame([{"u": "u0", "i": "zzz", "r": 2}])])
    config = write(tmp_path, frame, items())
    with pytest.warns(UserWarning, match="1 interactions name items missing"):
        run = trainforge.train(config, output=tmp_path / "run", progress=False)
    assert run.metrics["data_unknown_item_rows"] == 1


def test_no_item_of_the_item_file(tmp_path: Path) -> None:
    other = pd.DataFrame({"i": ["x1", "x2"], "title": ["a", "b"]})
    with pytest.raises(DataError, match="none of the 16 interactions names an item"):
        trainforge.train(write(tmp_path, ratings(), other), output=tmp_path / "run")


def test_users_with_too_few_interactions(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no user has the 3 interactions a per-user split needs"):
        trainforge.train(write(tmp_path, ratings(per_user=2)), output=tmp_path / "run")


def test_non_numeric_rating_names_the_line(tmp_path: Path) -> None:
    frame = ratings().astype({"r": object})
    frame.loc[5, "r"] = "good"
    config = write(tmp_path, frame)
    config["data"]["rating_column"] = "r"
    with pytest.raises(DataError, match=r"ratings.csv line 7 column 'r': rating 'good'"):
        trainforge.train(config, output=tmp_path / "run")


def test_latin1_item_file_needs_the_encoding(tmp_path: Path) -> None:
    config = write(tmp_path, ratings())
    (tmp_path / "items.csv").write_bytes("i,title\ni0,Caf\xe9 Ol\xe9\n".encode("latin-1"))
    config["data"]["items"] = str(tmp_path / "items.csv")
    with pytest.raises(DataError, match=r"not valid utf-8.*data\.encoding"):
        trainforge.train(config, output=tmp_path / "run")


def test_updates_are_refused() -> None:
    with pytest.raises(ConfigError, match="does not apply to task 'recommendation' yet"):
        load_config({"task": "recommendation", "data": {"train": "x"}, "model": {"init_from": "m"}})
