"""Sentence-embedding classifiers: zero-shot by similarity to label prompts, and SetFit.

Both are a `TextClassifier` with mean pooling, unit-length features and a linear head, so their
packages predict, serve and export like any other text model:
- zero-shot: the head's rows are the embeddings of the label prompts ("This text is about
  {label}."), scaled; a text goes to the label whose prompt it is most similar to. Nothing trains.
- SetFit (Tunstall et al., 2022), through the setfit library: contrastive fine-tuning of the
  encoder on pairs of training texts (same label: similar; different: not), then a logistic
  regression on the embeddings, whose weights become the head.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from transformers import TrainerCallback

from trainforge.config import ExperimentConfig, label_words
from trainforge.models.transformer import TextClassifier
from trainforge.training.options import FitOptions, Fitted

# Zero-shot logits are this times the cosine similarity: a softmax temperature of 0.05, the
# scale sentence-embedding models are trained with (MultipleNegativesRankingLoss).
ZERO_SHOT_SCALE = 20.0
# A class with no training rows gets this bias in a SetFit head: it is never predicted.
_ABSENT_BIAS = -30.0


ZH_TEMPLATE = "这段文字是关于{label}的。"


def label_prompts(cfg: ExperimentConfig, labels: list[str], scripts: Any = None) -> list[str]:
    """The prompt of each label: `model.template` around its description or its name as words.

    For Chinese training text (`scripts`, the training text's `Scripts`) the default template
    is Chinese too, unless the config sets one."""
    described = cfg.model.label_prompts or {}
    template = cfg.model.template
    chinese = scripts is not None and scripts.main == "Han"
    if chinese and "template" not in cfg.model.model_fields_set:
        template = ZH_TEMPLATE
    return [
        template.replace("{label}", described.get(label, label_words(label))) for label in labels
    ]


def init_zero_shot(
    net: TextClassifier, tokenizer: Any, prompts: list[str], max_length: int
) -> None:
    """Set the head's rows to the scaled, unit-length embeddings of the label prompts."""
    batch = tokenizer(
        prompts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    net.eval()
    with torch.inference_mode():
        embeddings = net.embed(**batch).float()
    linear = _linear(net)
    with torch.no_grad():
        linear.weight.copy_(embeddings * ZERO_SHOT_SCALE)
        linear.bias.zero_()


def fit_setfit(
    net: TextClassifier,
    backbone: str,
    texts: list[str],
    labels: np.ndarray,
    cfg: ExperimentConfig,
    run_dir: Path,
    options: FitOptions,
) -> Fitted:
    """Contrastive fine-tuning of `net`'s encoder, then a logistic-regression head, in place.

    The number of pairs is `model.pairs` per training text and direction (setfit's
    `num_iterations`), so time and memory grow linearly with the data, not with its square
    (setfit issues #472, #628); `model.max_pairs` and `train.max_steps` cap it.
    """
    import transformers
    from sentence_transformers import SentenceTransformer
    from setfit import SetFitModel, Trainer, TrainingArguments
    from sklearn.linear_model import LogisticRegression

    train, model = cfg.train, cfg.model
    steps = train.max_steps or -1
    pairs = 2 * model.pairs * len(texts) * train.epochs  # setfit: num_iterations per direction
    if model.max_pairs is not None and pairs > model.max_pairs:
        cap = -(-model.max_pairs // train.batch_size)
        steps = cap if steps < 0 else min(steps, cap)
    body = SentenceTransformer(backbone, device="cpu" if train.accelerator == "cpu" else None)
    encoder: Any = body[0].auto_model
    encoder.load_state_dict(net.encoder.state_dict())  # an update starts from its package
    body.max_seq_length = train.max_length
    head = LogisticRegression(max_iter=1000, random_state=train.seed)
    setfit_model = SetFitModel(model_body=body, model_head=head, normalize_embeddings=True)
    log = _LossLog()
    arguments = TrainingArguments(
        output_dir=str(run_dir / "setfit"),
        batch_size=train.batch_size,
        num_epochs=train.epochs,
        max_steps=steps,
        num_iterations=model.pairs,
        body_learning_rate=train.lr,
        warmup_proportion=train.warmup_ratio,
        l2_weight=train.weight_decay,
        max_length=train.max_length,
        seed=train.seed,
        show_progress_bar=options.progress,
        report_to="none",
        save_strategy="no",
        logging_steps=10,
    )
    from datasets import Dataset

    data = Dataset.from_dict({"text": texts, "label": labels.tolist()})
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    start = time.perf_counter()
    try:
        trainer = Trainer(model=setfit_model, args=arguments, train_dataset=data, callbacks=[log])
        if not options.progress:  # transformers prints every log line without a bar
            from transformers.trainer_callback import PrinterCallback, ProgressCallback

            trainer.remove_callback(PrinterCallback)
            trainer.remove_callback(ProgressCallback)
        trainer.train()
    finally:
        transformers.logging.set_verbosity(verbosity)
    seconds = time.perf_counter() - start
    net.encoder.load_state_dict(encoder.state_dict())
    _set_head(net, head, _linear(net).out_features)
    steps = log.steps or 1
    pairs = steps * train.batch_size
    return Fitted(
        history=log.history,
        train_time_s=seconds,
        samples_per_second=pairs / seconds if seconds > 0 else 0.0,
        extra={"setfit_pairs": pairs},
    )


def _set_head(net: TextClassifier, head: Any, k: int) -> None:
    """Copy a fitted logistic regression into the linear head (rows by class index)."""
    coef, intercept = np.asarray(head.coef_), np.asarray(head.intercept_)
    classes = [int(c) for c in head.classes_]
    weight = np.zeros((k, coef.shape[1]), dtype=np.float32)
    bias = np.full(k, _ABSENT_BIAS, dtype=np.float32)
    if len(classes) == 2 and coef.shape[0] == 1:
        # Binary: p(second) = sigmoid(w.x + b), which softmax over [0, w.x + b] reproduces.
        weight[classes[1]], bias[classes[1]] = coef[0], intercept[0]
        bias[classes[0]] = 0.0
    else:
        for row, cls in enumerate(classes):
            weight[cls], bias[cls] = coef[row], intercept[row]
    linear = _linear(net)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weight))
        linear.bias.copy_(torch.from_numpy(bias))


def _linear(net: TextClassifier) -> torch.nn.Linear:
    assert net.head is not None, "sentence-embedding classifiers use mean pooling"
    linear = cast(Any, net.head)[-1]
    assert isinstance(linear, torch.nn.Linear)
    return linear


class _LossLog(TrainerCallback):  # type: ignore[misc]
    """Keeps SetFit's contrastive loss per logging step, as the run's history."""

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []
        self.steps = 0

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **_: Any) -> None:
        self.steps = int(state.global_step)
        if logs and "embedding_loss" in logs:
            self.history.append(
                {
                    "epoch": float(logs.get("epoch", state.epoch or 0.0)),
                    "step": float(state.global_step),
                    "train_loss": float(logs["embedding_loss"]),
                }
            )

    def on_train_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        self.steps = int(state.global_step)
