"""Messages in the user's language: catalogues in step, chosen by TRAINFORGE_LANG or locale."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from cli_support import run_cli

from trainforge.messages import CATALOGUES, language, text


def _fields(message: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}


def test_every_catalogue_has_every_key_with_the_same_fields() -> None:
    english = CATALOGUES["en"]
    for lang, catalogue in CATALOGUES.items():
        assert set(catalogue) == set(english), (
            f"{lang}: add or remove {set(english) ^ set(catalogue)}"
        )
        for key, message in catalogue.items():
            assert _fields(message) == _fields(english[key]), f"{lang} {key}: fields differ"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"TRAINFORGE_LANG": "zh"}, "zh"),
        ({"TRAINFORGE_LANG": "", "LANG": "zh_CN.UTF-8"}, "zh"),
        ({"TRAINFORGE_LANG": "", "LC_ALL": "zh_TW.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
        ({"TRAINFORGE_LANG": "", "LANG": "en_US.UTF-8"}, "en"),
        ({"TRAINFORGE_LANG": "en", "LANG": "zh_CN.UTF-8"}, "en"),  # the explicit choice wins
        ({"TRAINFORGE_LANG": ""}, "en"),
    ],
)
def test_the_language_comes_from_trainforge_lang_then_the_locale(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: str
) -> None:
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert language() == expected


def test_the_command_line_reports_errors_in_chinese_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("task: tabular_classification\ndata:\n  train: missing.csv\n")
    monkeypatch.setenv("TRAINFORGE_LANG", "zh")
    result = run_cli(tmp_path, ["train", str(config), "--output", "run"])
    assert result.returncode == 2
    assert result.stderr.startswith("错误：") and "missing.csv" in result.stderr
    monkeypatch.setenv("TRAINFORGE_LANG", "en")
    assert run_cli(tmp_path, ["train", str(config)]).stderr.startswith("Error: ")


def test_report_headings_follow_the_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainforge.evaluation.report import write_report

    def page(lang: str) -> str:
        monkeypatch.setenv("TRAINFORGE_LANG", lang)
        path = write_report(
            tmp_path / lang,
            title="评论",
            kind="regression",
            labels=None,
            splits=[],
            history=[],
            summary={"task": "text_regression"},
            config_yaml="task: text_regression\n",
        )
        return path.read_text(encoding="utf-8")

    chinese, english = page("zh"), page("en")
    assert '<html lang="zh-CN">' in chinese and "<h2>概要</h2>" in chinese
    assert "<h2>最终配置</h2>" in chinese and "Summary" not in chinese
    assert '<html lang="en">' in english and "<h2>Resolved config</h2>" in english
    monkeypatch.setenv("TRAINFORGE_LANG", "zh")
    assert text("script.share", name=text("script.Han"), share=0.93) == "汉字（中文），占字母的 93%"
