"""The `data:` section: where the data is, which columns mean what, splits and augmentation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from trainforge.config.section import Section


class SplitConfig(Section):
    """How to carve validation and test sets out of `data.train` when they are not given."""

    validation: float = Field(
        default=0.1, ge=0.0, lt=1.0, description="Fraction of rows for validation."
    )
    test: float = Field(default=0.2, ge=0.0, lt=1.0, description="Fraction of rows for test.")
    stratify: bool = Field(default=True, description="Keep class proportions in every split.")
    seed: int | None = Field(
        default=None,
        description="Seed of the split; train.seed by default. Fix it to "
        "compare runs of several training seeds on the same validation and test rows.",
    )

    @model_validator(mode="after")
    def _fractions_leave_training_rows(self) -> SplitConfig:
        if self.validation + self.test >= 0.9:
            raise ValueError(
                f"validation ({self.validation}) + test ({self.test}) must be below 0.9 so that "
                "enough rows remain for training"
            )
        return self


class AugmentConfig(Section):
    """Noise on training batches (off by default): token noise for text, transforms for images."""

    deletion: float = Field(default=0.0, ge=0.0, lt=0.5, description="Chance to drop each token.")
    swap: float = Field(
        default=0.0, ge=0.0, lt=0.5, description="Chance to swap a token with the next."
    )
    random_crop: int = Field(
        default=0, ge=0, description="Images: pad by this many pixels, crop back at random."
    )
    flip: bool = Field(default=False, description="Images: mirror left-right half of the time.")
    rotate: float = Field(
        default=0.0, ge=0.0, le=180.0, description="Images: rotate by up to this many degrees."
    )
    color_jitter: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="Images: scale brightness and contrast by 1±x."
    )
    noise: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="Images: Gaussian pixel noise, std on a 0-1 scale."
    )


class DataConfig(Section):
    """Where the data is and which columns mean what."""

    train: str = Field(
        description="Training data: a .csv/.tsv/.jsonl/.parquet file or 'sklearn:NAME'; "
        "token_classification: a CoNLL column file or JSONL."
    )
    validation: str | None = Field(
        default=None, description="Validation data; split from train if absent."
    )
    test: str | None = Field(default=None, description="Test data; split from train if absent.")
    label_column: str = Field(default="label", description="Column holding the target.")
    text_column: str = Field(default="text", description="Column holding the text (text tasks).")
    text_pair_column: str | None = Field(
        default=None, description="Optional second text column, for sentence-pair classification."
    )
    multi_label: bool = Field(
        default=False, description="Each row holds several labels (a list in JSONL, or delimited)."
    )
    label_delimiter: str = Field(
        default="|", min_length=1, description="Separates labels in one cell."
    )
    augment: AugmentConfig = AugmentConfig()
    shots: int | None = Field(
        default=None,
        ge=1,
        description="Train on this many rows per class, sampled (seeded) from data.train.",
    )
    labels: str | None = Field(
        default=None, description="image_classification: IDX label file beside IDX images."
    )
    image_column: str = Field(
        default="path", description="image_classification: column of image paths in a table."
    )
    image_size: int | tuple[int, int] | None = Field(
        default=None, description="image_classification: resize to this (or [height, width])."
    )
    channels: Literal[1, 3] | None = Field(
        default=None, description="image_classification: 1 grey, 3 RGB; inferred when absent."
    )
    on_bad_image: Literal["error", "skip"] = Field(
        default="error", description="image_classification: a corrupt image stops or is skipped."
    )
    format: Literal["auto", "conll", "jsonl", "prompt_response", "alpaca", "chat"] = Field(
        default="auto",
        description="token_classification: file format; 'auto' goes by the suffix "
        "(.jsonl/.json: JSONL, anything else: CoNLL columns). text_generation: the rows' "
        "layout, 'prompt_response' (data.prompt_column, data.response_column), 'alpaca' "
        "(instruction, input, output) or 'chat' (data.messages_column: [{role, content}]); "
        "'auto' goes by the columns.",
    )
    prompt_column: str = Field(
        default="prompt", description="text_generation: column of the prompt (the user's turn)."
    )
    response_column: str = Field(
        default="response", description="text_generation: column of the answer to learn."
    )
    chosen_column: str = Field(
        default="chosen",
        description="text_generation, model.objective dpo: column of the preferred answer "
        "(text, or assistant turns [{role, content}]).",
    )
    rejected_column: str = Field(
        default="rejected",
        description="text_generation, model.objective dpo: column of the answer preferred less.",
    )
    messages_column: str = Field(
        default="messages",
        description="text_generation: column of chat transcripts, lists of {role, content} "
        "with roles system, user and assistant.",
    )
    train_on_inputs: bool = Field(
        default=False,
        description="text_generation: the loss on every token, not only on the assistant's.",
    )
    too_long: Literal["truncate", "drop"] = Field(
        default="truncate",
        description="text_generation: a conversation longer than train.max_length tokens is "
        "cut there (dropped when no answer token remains) or dropped; counted in the metrics.",
    )
    tag_scheme: Literal["auto", "iob1", "iob2", "bioes", "bmes"] = Field(
        default="auto",
        description="token_classification: tag scheme of the files; 'auto' detects it. "
        "Training uses IOB2; predicted tags come back in this scheme.",
    )
    token_column: int = Field(default=0, description="CoNLL: column of the word.")
    tag_column: int = Field(
        default=-1, description="CoNLL: column of the tag (negative counts from the end)."
    )
    label_all_tokens: bool = Field(
        default=False,
        description="token_classification: train on every sub-word token, not only the first "
        "of each word.",
    )
    encoding: str = Field(default="utf-8", description="Text encoding of csv/tsv/jsonl files.")
    feature_columns: list[str] | None = Field(
        default=None, description="Input columns; all columns but the label by default."
    )
    split: SplitConfig = SplitConfig()
    missing: Literal["impute", "error"] = Field(
        default="impute",
        description="Missing feature values: fill (median / most frequent) or refuse.",
    )
    unknown_category: Literal["error", "ignore"] = Field(
        default="error",
        description="A category unseen in training at predict time: refuse or encode as 0.",
    )
    user_column: str = Field(default="user", description="recommendation: column of user ids.")
    item_column: str = Field(
        default="item", description="recommendation: column of item ids (also in data.items)."
    )
    rating_column: str | None = Field(
        default=None,
        description="recommendation: column of ratings; absent: every row is a positive "
        "interaction (a click).",
    )
    time_column: str | None = Field(
        default=None,
        description="recommendation: column of times (numbers or dates); with it, each user's "
        "last interactions are the validation and test ones, else a seeded per-user hold-out.",
    )
    items: str | None = Field(
        default=None,
        description="recommendation: the item file, joined on data.item_column; its other "
        "columns become item features (text, categorical or numeric, inferred).",
    )
    item_features: list[str] | None = Field(
        default=None,
        description="recommendation: columns of data.items used as item features; all but the "
        "item column by default.",
    )
    positive_threshold: float | None = Field(
        default=None,
        description="recommendation: ratings at or above this count as relevant (trained on as "
        "positives, scored as hits); default: the median training rating.",
    )
