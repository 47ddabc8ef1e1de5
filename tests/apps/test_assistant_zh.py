"""The customer-service assistant in Chinese: the retrieval encoder follows the FAQ's script,
e5 gets its query/passage prefixes, Chinese questions get the right FAQ answer (by intent and
by retrieval), and replies, logs and the HTTP API carry Chinese as readable UTF-8.

The intent model is a frozen multilingual-e5-small probe on the shipped shop intents
(examples/zh/data/intents), trained once for the module.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from chinese_support import needs_e5
from cli_support import run_cli

import trainforge
from trainforge.apps.assistant import Assistant, FaqWarning, read_faq
from trainforge.apps.assistant.faq import Faq, FaqEntry
from trainforge.apps.assistant.retrieval import (
    MIN_SIMILARITY,
    QuestionIndex,
    SentenceEncoder,
    choose_backbone,
    default_min_similarity,
    prefixes,
)
from trainforge.models.multilingual import MULTILINGUAL_E5

pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning")]

REPO = Path(__file__).resolve().parents[2]
ZH = REPO / "examples" / "zh"
FAQ = ZH / "assistant_zh_faq.jsonl"
INTENTS = ZH / "data" / "intents"
ANSWERS = {json.loads(line)["intent"]: json.loads(line)["answer"] for line in FAQ.open()}
# Questions worded unlike any FAQ or training question, with the intent they ask about.
PARAPHRASES = {
    "我的包裹现在到哪了": "查询物流",
    "东西不想要了，可以退吗": "退货退款",
    "收货地址写错了能改吗": "修改地址",
    "发票怎么申请": "发票",
    "密码忘了，登录不上": "账户登录",
    "帮我转接人工": "人工客服",
}


def rows(split: str) -> list[dict[str, str]]:
    with (INTENTS / f"{split}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_faq(path: Path, entries: list[dict[str, object]]) -> Path:
    lines = [json.dumps(e, ensure_ascii=False) for e in entries]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- the shipped example ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["assistant_zh.yaml", "reviews_zh.yaml"])
def test_chinese_example_configs_are_valid(name: str) -> None:
    from trainforge.config import load_config

    cfg = load_config(ZH / name)
    assert cfg.model.backbone == MULTILINGUAL_E5 and cfg.model.trim_vocab


def test_shipped_chinese_example_answers_every_intent() -> None:
    faq = read_faq(FAQ)
    counts = Counter(r["label"] for split in ("train", "validation", "test") for r in rows(split))
    assert sorted(faq.intents) == sorted(counts)
    assert all(25 <= n <= 40 for n in counts.values()), counts
    texts = [r["text"] for split in ("train", "validation", "test") for r in rows(split)]
    assert len(texts) == len(set(texts)), "a question is in two splits"


# --- choosing the encoder, prefixes, similarity floor (no model) -------------------------------


def faq_of(*questions: str) -> Faq:
    entry = FaqEntry(intent="x", answer="an answer", questions=tuple(questions), line=1)
    return Faq("faq.jsonl", (entry,))


def test_retrieval_encoder_follows_the_script_of_the_faq_questions() -> None:
    assert choose_backbone(read_faq(FAQ)) == MULTILINGUAL_E5
    assert choose_backbone(read_faq(REPO / "examples" / "assistant" / "demo_faq.jsonl")) == "minilm"
    assert choose_backbone(faq_of("订单 123 的 ETA 是多少？")) == MULTILINGUAL_E5
    assert choose_backbone(faq_of()) == "minilm"


def test_e5_gets_query_and_passage_prefixes_other_encoders_none() -> None:
    assert prefixes(MULTILINGUAL_E5) == {"query": "query: ", "passage": "passage: "}
    assert prefixes("minilm") == {"query": "", "passage": ""}
    assert default_min_similarity(MULTILINGUAL_E5) == MIN_SIMILARITY[MULTILINGUAL_E5] == 0.88
    assert default_min_similarity("minilm") == default_min_similarity("./my-encoder") == 0.6


def test_a_missing_retrieval_backbone_is_named_as_the_option() -> None:
    from trainforge.apps.assistant.assistant import retrieval_encoder
    from trainforge.errors import ConfigError

    assert retrieval_encoder(faq_of(), "./no-such-encoder") is None  # nothing to search
    with pytest.raises(ConfigError, match=r"^--retrieval-backbone ./no-such-encoder: backbone"):
        retrieval_encoder(faq_of("转人工"), "./no-such-encoder")


class RecordingEncoder:
    """Records the role of each call; embeds a text as a one-hot vector of its length."""

    backbone = "recording"

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def encode(self, texts: list[str], role: str = "query") -> object:
        import numpy as np

        self.calls.append((role, list(texts)))
        out = np.zeros((len(texts), 16), np.float32)
        out[np.arange(len(texts)), [min(len(t), 15) for t in texts]] = 1.0
        return out


def test_the_index_embeds_faq_questions_as_passages_and_asks_as_queries() -> None:
    encoder = RecordingEncoder()
    index = QuestionIndex(faq_of("转人工", "我要找人工客服"), encoder)  # type: ignore[arg-type]
    match = index.nearest(["我想要人工客服"])[0]
    assert encoder.calls == [
        ("passage", ["转人工", "我要找人工客服"]),
        ("query", ["我想要人工客服"]),
    ]
    assert match is not None and match.question == "我要找人工客服"  # as long as the question


# --- the real e5 encoder ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def e5() -> SentenceEncoder:
    return SentenceEncoder(MULTILINGUAL_E5)


@needs_e5
def test_chinese_paraphrases_retrieve_their_faq_entry(e5: SentenceEncoder) -> None:
    index = QuestionIndex(read_faq(FAQ), e5)
    matches = index.nearest(list(PARAPHRASES))
    for (question, intent), match in zip(PARAPHRASES.items(), matches, strict=True):
        assert match is not None and match.entry.intent == intent, (question, match)
        assert match.similarity >= MIN_SIMILARITY[MULTILINGUAL_E5], (question, match)


@needs_e5
def test_the_prefixes_are_what_e5_reads(e5: SentenceEncoder) -> None:
    text = "我的快递到哪了"
    bare = e5.prefixes
    e5.prefixes = {"query": "", "passage": ""}
    try:
        plain = e5.encode([f"query: {text}", f"passage: {text}"])
    finally:
        e5.prefixes = bare
    assert (abs(e5.encode([text], role="query") - plain[0]) < 1e-5).all()
    assert (abs(e5.encode([text], role="passage") - plain[1]) < 1e-5).all()


# --- the assistant with a Chinese intent model -------------------------------------------------


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = {
        "task": "text_classification",
        "data": {
            "train": str(INTENTS / "train.csv"),
            "validation": str(INTENTS / "validation.csv"),
        },
        "model": {
            "backbone": MULTILINGUAL_E5,
            "finetune": "frozen",
            "trim_vocab": True,
            "abstain": {"precision": 0.95},
        },
        "train": {"epochs": 30, "batch_size": 16, "lr": 1e-2, "max_length": 32, "seed": 42},
    }
    folder = tmp_path_factory.mktemp("assistant_zh")
    return Path(trainforge.train(config, output=folder / "run", progress=False).model_dir)


@pytest.fixture(scope="module")
def assistant(package: Path) -> Assistant:
    return Assistant.from_files(package, FAQ)


@pytest.mark.slow
@needs_e5
def test_chinese_questions_get_their_intents_answer(assistant: Assistant) -> None:
    assert assistant.info()["retrieval_encoder"] == MULTILINGUAL_E5
    assert assistant.min_similarity == 0.88
    replies = assistant.ask_many(list(PARAPHRASES))
    assert [r.intent for r in replies] == list(PARAPHRASES.values())
    answered = [r for r in replies if not r.handoff]
    assert len(answered) >= 4, replies  # a frozen probe: one or two may be handed off
    for reply in answered:
        assert reply.source == "intent" and reply.answer == ANSWERS[reply.intent]


@pytest.mark.slow
@needs_e5
def test_a_chinese_intent_without_answer_is_answered_by_retrieval(
    package: Path, tmp_path: Path
) -> None:
    # The FAQ answers parcel tracking under another name: only retrieval can find it.
    entries = [json.loads(line) for line in FAQ.open(encoding="utf-8")]
    for entry in entries:
        if entry["intent"] == "查询物流":
            entry["intent"] = "物流时效"
    faq = write_faq(tmp_path / "faq.jsonl", entries)
    with pytest.warns(FaqWarning, match="物流时效"):
        assistant = Assistant.from_files(package, faq, threshold=0.0)
    reply = assistant.ask("我的包裹现在到哪了")
    assert reply.intent == "查询物流" and reply.source == "retrieval"
    assert reply.answer == ANSWERS["查询物流"] and not reply.handoff
    assert reply.matched_question == "我的快递到哪里了？"
    assert reply.similarity is not None and reply.similarity >= 0.88


@pytest.mark.slow
@needs_e5
def test_cli_and_http_replies_and_the_log_are_readable_chinese(
    package: Path, assistant: Assistant, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from trainforge.apps.assistant.app import create_app
    from trainforge.apps.assistant.settings import AssistantSettings

    log = tmp_path / "log.jsonl"
    question = "我的包裹现在到哪了"
    args = ["assistant", str(package), "--faq", str(FAQ), "--log", str(log), "--ask", question]
    result = run_cli(REPO, args)
    assert result.returncode == 0, result.stderr
    assert "\\u" not in result.stdout and "查询物流" in result.stdout
    reply = json.loads(result.stdout)
    assert reply["intent"] == "查询物流" and reply["answer"] == ANSWERS["查询物流"]
    assert question in log.read_text(encoding="utf-8")

    settings = AssistantSettings(model_dir=package, faq=FAQ)
    with TestClient(create_app(assistant, settings)) as client:
        response = client.post("/v1/ask", json={"question": "发票怎么申请"})
        metadata = client.get("/v1/metadata").json()
    assert response.status_code == 200
    assert "发票" in response.text and "\\u" not in response.text
    assert response.json()["intent"] == "发票"
    assert metadata["retrieval_encoder"] == MULTILINGUAL_E5 and metadata["min_similarity"] == 0.88
