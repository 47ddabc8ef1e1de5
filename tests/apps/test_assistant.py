"""The customer-service assistant: FAQ checks, when it answers, retrieves or hands off, the
threshold it uses, and the conversation log.

The intent model is the shipped demo (examples/assistant: five intents, a linear probe on
MiniLM, threshold tuned for 0.95 precision), trained once for the module in seconds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_support import check_user_error, run_cli

import trainforge
from trainforge.apps.assistant import Assistant, FaqWarning, choose_threshold, read_faq
from trainforge.apps.assistant.assistant import Threshold
from trainforge.errors import ConfigError, DataError

pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning")]

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "examples" / "assistant"
FAQ = DEMO / "demo_faq.jsonl"
ANSWERS = {json.loads(line)["intent"]: json.loads(line)["answer"] for line in FAQ.open()}
DELIVERY = "Delivery takes up to 5 working days; the app shows the dispatch date."


def train_demo(folder: Path) -> Path:
    """The demo intent package, trained from the shipped config (paths made absolute)."""
    overrides = [
        f"data.{split}={DEMO / 'data' / f'{split}.csv'}"
        for split in ("train", "validation", "test")
    ]
    run = trainforge.train(
        DEMO / "demo.yaml", overrides=overrides, output=folder / "run", progress=False
    )
    return Path(run.model_dir)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_demo(tmp_path_factory.mktemp("assistant"))


@pytest.fixture(scope="module")
def assistant(package: Path) -> Assistant:
    return Assistant.from_files(package, FAQ)


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def entry(intent: str, answer: str = "An answer.", **extra: object) -> str:
    return json.dumps({"intent": intent, "answer": answer, **extra})


# --- the FAQ file -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([entry("card_lost"), '{"intent": "change_pin"}'], r"line 2: missing key 'answer'"),
        ([entry("card_lost"), "", "{not json"], r"line 3: not valid JSON"),
        (['["card_lost", "an answer"]'], r"line 1: expected a JSON object, got list"),
        ([entry("card_lost", "  ")], r"line 1: 'answer' must be a non-empty string"),
        ([entry("card_lost", questions="lost it")], r"line 1: 'questions' must be a list"),
        ([entry("card_lost", question=["x"])], r"unknown key 'question'. Did you mean 'questions'"),
        ([entry("card_lost"), entry("card_lost")], r"line 2: intent 'card_lost' already has an"),
        (["", "  "], r"the FAQ file is empty"),
    ],
    ids=[
        "missing_key",
        "bad_json",
        "not_object",
        "blank_answer",
        "questions_type",
        "unknown_key",
        "duplicate",
        "empty",
    ],
)
def test_faq_errors_name_the_line(tmp_path: Path, lines: list[str], message: str) -> None:
    faq = write_lines(tmp_path / "faq.jsonl", *lines)
    with pytest.raises(DataError, match=message) as raised:
        read_faq(faq)
    assert str(faq) in str(raised.value)


def test_missing_faq_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"faq.jsonl: FAQ file not found. Check the path"):
        read_faq(tmp_path / "faq.jsonl")


def test_shipped_faqs_are_valid() -> None:
    demo = read_faq(FAQ)
    assert sorted(demo.intents) == sorted(ANSWERS)
    banking = read_faq(DEMO / "banking77_faq.jsonl")
    assert len(banking.entries) == 77
    assert all(2 <= len(e.questions) <= 3 for e in banking.entries)


def test_unknown_intent_is_a_warning_naming_the_line(package: Path, tmp_path: Path) -> None:
    faq = write_lines(tmp_path / "faq.jsonl", entry("card_lost"), entry("card_los"))
    with pytest.warns(FaqWarning, match=r"line 2: intent 'card_los' is not one of the model's"):
        Assistant.from_files(package, faq)


# --- answering, retrieving, handing off ---------------------------------------------------------


def test_confident_questions_get_their_intents_answer(assistant: Assistant) -> None:
    questions = ["My new card still hasn't arrived", "How can I change my PIN?"]
    replies = assistant.ask_many(questions)
    assert [r.intent for r in replies] == ["card_arrival", "change_pin"]
    for reply in replies:
        assert reply.source == "intent" and not reply.handoff
        assert reply.answer == ANSWERS[reply.intent]
        assert reply.confidence >= assistant.threshold.value


def test_off_topic_question_is_handed_off(assistant: Assistant) -> None:
    reply = assistant.ask("What's the weather like in Lisbon today?")
    assert reply.handoff and reply.source == "handoff" and reply.answer is None
    assert reply.confidence < assistant.threshold.value
    assert reply.intent in ANSWERS  # the best guess stays, for a person to route by


def test_threshold_is_where_answers_turn_into_handoffs(assistant: Assistant) -> None:
    question = "I think my card was stolen"
    confidence = assistant.ask(question).confidence
    at = Assistant(assistant.model, assistant.faq, Threshold(confidence - 1e-6, "test"))
    above = Assistant(assistant.model, assistant.faq, Threshold(confidence + 1e-6, "test"))
    assert at.ask(question).source == "intent"
    assert above.ask(question).source == "handoff"


def test_intent_without_answer_falls_back_to_retrieval(package: Path, tmp_path: Path) -> None:
    # The FAQ answers card arrival under another name: only retrieval can find it.
    lines = [json.dumps(json.loads(x)) for x in FAQ.open() if "card_arrival" not in x]
    faq = write_lines(
        tmp_path / "faq.jsonl",
        *lines,
        entry("delivery_times", DELIVERY, questions=["When will my new card arrive?"]),
    )
    with pytest.warns(FaqWarning, match="delivery_times"):
        assistant = Assistant.from_files(package, faq)
    assert assistant.info()["intents_without_answer"] == ["card_arrival"]
    reply = assistant.ask("My new card still hasn't arrived")
    assert reply.intent == "card_arrival" and reply.source == "retrieval"
    assert reply.answer == DELIVERY and not reply.handoff
    assert reply.matched_question == "When will my new card arrive?"
    assert reply.similarity is not None and reply.similarity >= assistant.min_similarity
    # Questions with an answer of their own do not go through retrieval.
    assert assistant.ask("I lost my card").source == "intent"

    strict = Assistant(
        assistant.model,
        assistant.faq,
        assistant.threshold,
        min_similarity=0.99,
        encoder=assistant.index.encoder if assistant.index else None,
    )
    dissimilar = strict.ask("My new card still hasn't arrived")
    assert dissimilar.handoff and dissimilar.source == "handoff" and dissimilar.answer is None
    assert dissimilar.matched_question == "When will my new card arrive?"
    assert dissimilar.similarity == reply.similarity


def test_no_answer_and_no_questions_hands_off(package: Path, tmp_path: Path) -> None:
    faq = write_lines(tmp_path / "faq.jsonl", entry("card_lost", "Freeze it."))
    assistant = Assistant.from_files(package, faq)
    assert assistant.index is None  # nothing to retrieve from: no encoder is loaded
    reply = assistant.ask("How can I change my PIN?")
    assert reply.intent == "change_pin" and reply.handoff and reply.source == "handoff"


# --- the threshold ----------------------------------------------------------------------------


def test_threshold_comes_from_the_option_then_the_package(assistant: Assistant) -> None:
    model = assistant.model
    tuned = model.target.threshold_
    assert tuned is not None
    assert choose_threshold(model) == Threshold(tuned, assistant.threshold.source)
    assert "precision 0.95" in assistant.threshold.source
    assert choose_threshold(model, threshold=0.4) == Threshold(0.4, "--threshold")


def test_precision_sets_the_threshold_on_labelled_questions(assistant: Assistant) -> None:
    from trainforge.predict import encode_targets
    from trainforge.tasks.classification import precision_threshold

    validation = str(DEMO / "data" / "validation.csv")
    chosen = choose_threshold(assistant.model, precision=0.9, calibration=validation)
    frame = assistant.model.frame(validation)
    expected = precision_threshold(
        encode_targets(assistant.model.target, frame), assistant.model.output(frame), 0.9
    )
    assert chosen.value == pytest.approx(expected)
    with pytest.raises(ConfigError, match=r"--precision: --precision needs labelled questions"):
        choose_threshold(assistant.model, precision=0.9)


def test_package_without_threshold_says_how_to_get_one(assistant: Assistant) -> None:
    model = assistant.model
    saved = model.target.threshold_
    model.target.threshold_ = None
    try:
        with pytest.raises(ConfigError, match=r"model.abstain.precision: 0.95.*--threshold T"):
            choose_threshold(model)
    finally:
        model.target.threshold_ = saved


# --- conversations and the log -----------------------------------------------------------------


def test_conversation_id_is_carried_into_the_log(assistant: Assistant, tmp_path: Path) -> None:
    log = tmp_path / "logs" / "assistant.jsonl"
    logged = Assistant(
        assistant.model,
        assistant.faq,
        assistant.threshold,
        log=log,
        encoder=assistant.index.encoder if assistant.index else None,
    )
    first = logged.ask("I lost my card", conversation_id="chat-42")
    second = logged.ask("What's the weather like in Lisbon today?", conversation_id="chat-42")
    fresh = logged.ask("How do I close my account?")
    assert first.conversation_id == second.conversation_id == "chat-42"
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.conversation_id)
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [r["conversation_id"] for r in records] == ["chat-42", "chat-42", fresh.conversation_id]
    assert [r["source"] for r in records] == ["intent", "handoff", "intent"]
    assert records[0]["question"] == "I lost my card"
    assert records[0]["answer"] == ANSWERS["card_lost"]
    assert all(re.match(r"\d{4}-\d\d-\d\dT", r["time"]) for r in records)


# --- the command line ------------------------------------------------------------------------


def test_cli_answers_with_ask_and_warns_about_unknown_intents(
    package: Path, tmp_path: Path
) -> None:
    faq = write_lines(tmp_path / "faq.jsonl", *FAQ.read_text().splitlines(), entry("opening_hours"))
    log = tmp_path / "log.jsonl"
    result = run_cli(
        REPO,
        [
            "assistant",
            str(package),
            "--faq",
            str(faq),
            "--log",
            str(log),
            "--ask",
            "I lost my card",
            "--ask",
            "What's the weather like in Lisbon today?",
        ],
    )
    assert result.returncode == 0, result.stderr
    assert "Warning: " in result.stderr and "line 6: intent 'opening_hours'" in result.stderr
    replies = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["source"] for r in replies] == ["intent", "handoff"]
    assert replies[0]["answer"] == ANSWERS["card_lost"]
    assert len(log.read_text().splitlines()) == 2


def test_cli_refuses_a_bad_faq_or_threshold(package: Path, tmp_path: Path) -> None:
    faq = write_lines(tmp_path / "faq.jsonl", entry("card_lost"), '{"answer": "x"}')
    bad_faq = run_cli(REPO, ["assistant", str(package), "--faq", str(faq), "--ask", "hi"])
    check_user_error(bad_faq, "faq.jsonl line 2: missing key 'intent'")
    bad_threshold = run_cli(
        REPO, ["assistant", str(package), "--faq", str(FAQ), "--threshold", "1.5"]
    )
    check_user_error(bad_threshold, "--threshold:", "less than or equal to 1")
    no_key = run_cli(
        REPO, ["assistant", str(package), "--faq", str(FAQ), "--api-key-env", "UNSET_KEY_VAR"]
    )
    check_user_error(no_key, "--api-key-env:", "'UNSET_KEY_VAR' is not set")


def test_only_single_label_text_models_are_taken(tmp_path: Path) -> None:
    config = {
        "task": "tabular_classification",
        "data": {"train": "sklearn:iris", "label_column": "target"},
        "model": {"type": "logistic_regression"},
    }
    run = trainforge.train(config, output=tmp_path / "iris", progress=False)
    with pytest.raises(ConfigError, match=r"needs a single-label text classifier"):
        Assistant.from_files(run.model_dir, FAQ)
