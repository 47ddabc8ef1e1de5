"""The script of training text: what decides the default backbone and the unknown-token check."""

from __future__ import annotations

from trainforge.data.language import count_scripts, script_of


def test_letters_are_counted_by_script_and_punctuation_is_not() -> None:
    scripts = count_scripts(["这家餐厅很好吃！", "Good food, 5 stars.", "Привет"])
    assert scripts.counts == {"Han": 7, "Latin": 13, "Cyrillic": 6}
    assert scripts.main == "Latin" and scripts.letters == 26
    assert not count_scripts(["物流太慢了，包装也破了 ok"]).latin


def test_the_description_names_the_language_where_a_script_is_one() -> None:
    assert count_scripts(["北京是首都"]).describe() == "Han script (Chinese), 100% of letters"
    assert count_scripts(["ひらがなカタカナ"]).describe().startswith("Kana script (Japanese)")
    assert count_scripts(["1234 !!"]).describe() == "no letters"
    assert count_scripts(["1234 !!"]).latin  # nothing to cover: the English default is fine


def test_scripts_of_single_characters() -> None:
    assert [script_of(c) for c in "aé中한ひ٣ 😀"] == [
        "Latin",
        "Latin",
        "Han",
        "Hangul",
        "Kana",
        None,
        None,
        None,
    ]
    assert script_of("ᚠ") == "Other"  # a letter outside the table
