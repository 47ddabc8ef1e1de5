"""The customer-service assistant: an intent model, an FAQ, and when to hand off to a person.

A question goes to the intent model. Under the abstention threshold the assistant hands off
(`handoff: true`); otherwise it answers with the FAQ's answer for that intent. A confident
intent with no FAQ answer falls back to retrieval: the FAQ question most similar to the new
one (cosine of sentence embeddings) gives the answer, unless it is less similar than
`min_similarity`, in which case the assistant hands off too. The retrieval encoder follows the
FAQ's script (MiniLM for English, multilingual-e5-small for Chinese and others), and so does
the default `min_similarity`.

The benchmark, the Python API and `POST /v1/ask` all go through `Assistant.ask_many`.
"""

from __future__ import annotations

import json
import threading
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from trainforge.apps.assistant.faq import Faq, read_faq
from trainforge.apps.assistant.retrieval import (
    AUTO,
    Match,
    QuestionIndex,
    SentenceEncoder,
    choose_backbone,
    default_min_similarity,
)
from trainforge.errors import ConfigError

Source = Literal["intent", "retrieval", "handoff"]


class FaqWarning(UserWarning):
    """An FAQ line the assistant can use only partly (e.g. an intent the model lacks)."""


@dataclass(frozen=True)
class Reply:
    """What the assistant says to one question.

    Args:
        answer: the FAQ answer, or None on hand-off.
        intent: the model's most probable intent (also on hand-off: a person may route by it).
        confidence: that intent's probability.
        handoff: True when a person should answer.
        source: "intent" (the intent's FAQ answer), "retrieval" (the nearest FAQ question's
            answer) or "handoff".
        conversation_id: given by the caller, or a new one.
        matched_question: the FAQ question retrieval matched (retrieval only).
        similarity: its cosine similarity to the question (retrieval only, also when too low).
    """

    answer: str | None
    intent: str
    confidence: float
    handoff: bool
    source: Source
    conversation_id: str
    matched_question: str | None = None
    similarity: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Threshold:
    """The abstention threshold in use and where it came from (for metadata and the log)."""

    value: float
    source: str


class ConversationLog:
    """Appends one JSON line per exchange to a file (thread-safe, flushed at every line)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def write(self, question: str, reply: Reply) -> None:
        record = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "conversation_id": reply.conversation_id,
            "question": question,
            **{k: v for k, v in reply.to_dict().items() if k != "conversation_id"},
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line)


class Assistant:
    """Answers questions from an FAQ through an intent model, or hands off.

    Args:
        model: a loaded single-label classification package (`trainforge.load`).
        faq: the checked FAQ (`read_faq`).
        threshold: answer only when the top intent's probability is at least this.
        min_similarity: retrieval answers only at this cosine similarity or more (default:
            the encoder's, `retrieval.MIN_SIMILARITY`).
        encoder: sentence encoder for retrieval (built for the FAQ's script when the FAQ has
            questions and none is given).
        log: append every exchange to this JSON-lines file.

    Example:
        >>> assistant = Assistant.from_files("runs/intents/model", "faq.jsonl")
        >>> assistant.ask("my card still has not arrived").answer
    """

    def __init__(
        self,
        model: Any,
        faq: Faq,
        threshold: Threshold,
        *,
        min_similarity: float | None = None,
        encoder: SentenceEncoder | None = None,
        log: str | Path | None = None,
    ) -> None:
        self.model = model
        self.faq = faq
        self.threshold = threshold
        self.labels: list[str] = list(model.labels)
        if faq.questions() and encoder is None:
            encoder = SentenceEncoder(choose_backbone(faq))
        self.index = QuestionIndex(faq, encoder) if encoder is not None else None
        self.min_similarity = (
            min_similarity
            if min_similarity is not None
            else default_min_similarity(encoder.backbone if encoder is not None else AUTO)
        )
        self.log = ConversationLog(log) if log is not None else None

    @classmethod
    def from_files(
        cls,
        model_dir: str | Path,
        faq: str | Path,
        *,
        threshold: float | None = None,
        precision: float | None = None,
        calibration: str | None = None,
        min_similarity: float | None = None,
        retrieval_backbone: str = AUTO,
        log: str | Path | None = None,
    ) -> Assistant:
        """Check the FAQ, load the package, choose the threshold, embed the FAQ questions.

        Args:
            model_dir: the intent model package.
            faq: the FAQ file (JSON lines).
            threshold, precision, calibration: see `choose_threshold`.
            min_similarity: retrieval answers only at this cosine similarity or more (default:
                the encoder's).
            retrieval_backbone: the retrieval encoder; "auto" (default) chooses it by the
                script of the FAQ's questions.
            log: append every exchange to this JSON-lines file.
        """
        from trainforge.predict import load

        checked = read_faq(faq)  # before the model loads: a bad file fails in a moment
        model = load(model_dir)
        check_model(model, model_dir)
        for message in checked.unknown_intents(model.labels or []):
            warnings.warn(message, FaqWarning, stacklevel=2)
        chosen = choose_threshold(model, threshold, precision, calibration)
        encoder = retrieval_encoder(checked, retrieval_backbone)
        return cls(model, checked, chosen, min_similarity=min_similarity, encoder=encoder, log=log)

    def ask(self, question: str, conversation_id: str | None = None) -> Reply:
        """The reply to one question (see the module docstring for the rules)."""
        return self.ask_many([question], [conversation_id])[0]

    def ask_many(
        self, questions: Sequence[str], conversation_ids: Sequence[str | None] | None = None
    ) -> list[Reply]:
        """Replies to many questions, with one model call and one retrieval call for all.

        Args:
            questions: the questions (non-empty texts).
            conversation_ids: one per question; None (or a None entry) starts a new one.
        """
        given = list(conversation_ids) if conversation_ids is not None else [None] * len(questions)
        if len(given) != len(questions):
            raise ValueError(
                f"{len(given)} conversation ids for {len(questions)} questions; give one per "
                "question (None for a new conversation), or none at all"
            )
        ids = [c or new_conversation_id() for c in given]
        # Unrounded probabilities, so the threshold compares exactly as the package's does.
        probabilities = self.model.output(self.model.frame(list(questions)))
        best = [(self.labels[int(row.argmax())], float(row.max())) for row in probabilities]
        confident = [score >= self.threshold.value for _, score in best]
        unanswered = [
            i
            for i, (intent, _) in enumerate(best)
            if confident[i] and self.faq.answer(intent) is None
        ]
        matches = self.index.nearest([questions[i] for i in unanswered]) if self.index else []
        matched = dict(zip(unanswered, matches, strict=False))
        replies = []
        for i, (intent, score) in enumerate(best):
            reply = self._reply(intent, score, confident[i], matched.get(i), ids[i])
            if self.log is not None:
                self.log.write(questions[i], reply)
            replies.append(reply)
        return replies

    def _reply(
        self, intent: str, score: float, confident: bool, match: Match | None, conversation_id: str
    ) -> Reply:
        handoff = Reply(
            answer=None,
            intent=intent,
            confidence=round(score, 6),
            handoff=True,
            source="handoff",
            conversation_id=conversation_id,
        )
        if not confident:
            return handoff
        entry = self.faq.answer(intent)
        if entry is not None:
            return replace(handoff, answer=entry.answer, handoff=False, source="intent")
        if match is None:
            return handoff
        found = replace(
            handoff, matched_question=match.question, similarity=round(match.similarity, 6)
        )
        if match.similarity < self.min_similarity:
            return found
        return replace(found, answer=match.entry.answer, handoff=False, source="retrieval")

    def info(self) -> dict[str, Any]:
        """What the assistant runs with: threshold, FAQ coverage, retrieval settings."""
        answered = set(self.faq.intents)
        return {
            "threshold": self.threshold.value,
            "threshold_source": self.threshold.source,
            "min_similarity": self.min_similarity,
            "faq": self.faq.source,
            "faq_entries": len(self.faq.entries),
            "faq_questions": len(self.index) if self.index else 0,
            "intents": self.labels,
            "intents_without_answer": [label for label in self.labels if label not in answered],
            "retrieval_encoder": self.index.encoder.backbone if self.index else None,
        }


def retrieval_encoder(faq: Faq, backbone: str = AUTO) -> SentenceEncoder | None:
    """The sentence encoder for the FAQ's questions (None when it has none to search).

    Args:
        backbone: a backbone name or folder, or "auto": by the script of the questions.
    """
    if not faq.questions():
        return None
    name = choose_backbone(faq) if backbone == AUTO else backbone
    try:
        return SentenceEncoder(name)
    except ConfigError as exc:  # its place is the backbone option, not a training config
        raise ConfigError(exc.what, where=f"--retrieval-backbone {name}", fix=exc.fix) from None


def new_conversation_id() -> str:
    """A fresh conversation id (32 hex digits)."""
    return uuid.uuid4().hex


def check_model(model: Any, model_dir: str | Path) -> None:
    """Refuse a package that does not predict one intent per text."""
    from trainforge.tasks.text.model import TextModel

    if not isinstance(model, TextModel) or model.target.kind != "classification":
        raise ConfigError(
            f"the assistant needs a single-label text classifier; this package is "
            f"{model.config.task!r} with a {model.target.kind} target",
            where=str(model_dir),
            fix="Train an intent model with task: text_classification (one label per text)",
        )


def choose_threshold(
    model: Any,
    threshold: float | None = None,
    precision: float | None = None,
    calibration: str | None = None,
) -> Threshold:
    """The abstention threshold: `threshold` if given; else, with `precision`, the lowest one
    whose answered `calibration` rows (labelled, the model's columns) reach that precision;
    else the one the package tuned on validation data (`model.abstain`).

    Raises `ConfigError` when none of these gives one.
    """
    if threshold is not None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(
                f"the threshold must be a probability in [0, 1], got {threshold}",
                where="--threshold",
                fix="Pass e.g. --threshold 0.5",
            )
        return Threshold(threshold, "--threshold")
    if precision is not None:
        return _calibrated(model, precision, calibration)
    tuned = getattr(model.target, "threshold_", None)
    if tuned is not None:
        wanted = getattr(model.target, "abstain_precision", None)
        how = f"tuned for precision {wanted} on validation data" if wanted else "fixed"
        return Threshold(float(tuned), f"package ({how})")
    raise ConfigError(
        "the model package has no abstention threshold, and none was given",
        where="--threshold",
        fix="Train the intent model with model.abstain.precision: 0.95 (the threshold is then "
        "saved in the package), or pass --threshold T, or --precision P --calibration "
        "LABELLED_FILE",
    )


def _calibrated(model: Any, precision: float, calibration: str | None) -> Threshold:
    from trainforge.predict import encode_targets
    from trainforge.tasks.classification import precision_threshold

    if not 0.0 < precision <= 1.0:
        raise ConfigError(
            f"the precision must be in (0, 1], got {precision}",
            where="--precision",
            fix="Pass e.g. --precision 0.95",
        )
    if calibration is None:
        raise ConfigError(
            "--precision needs labelled questions to set the threshold on",
            where="--precision",
            fix="Add --calibration FILE (the model's text and label columns), or pass "
            "--threshold T instead",
        )
    frame = model.frame(calibration)
    truth = encode_targets(model.target, frame)
    value = precision_threshold(truth, model.chunked_output(frame), precision)
    return Threshold(value, f"--precision {precision} on {calibration}")
