"""bot/russian.py: numerals that agree, Russian numbers and percents, quotes inside quotes."""

from __future__ import annotations

import pytest

from bot.russian import NBSP, counted, number, percent, percent_of, plural, quoted, share

FORMS = ("школа", "школы", "школ")


def form_by_the_rule(n: int) -> str:
    """The rule as a grammar book words it, read off the digits as written: numbers ending in
    11-14 take the "many" form; otherwise a last digit 1 takes "one", 2-4 take "few", the rest
    (0, 5-9) take "many"."""
    digits = str(n)
    if digits[-2:] in {"11", "12", "13", "14"}:
        return "many"
    if digits[-1] == "1":
        return "one"
    if digits[-1] in "234":
        return "few"
    return "many"


def test_plural_over_0_to_1000_follows_the_rule() -> None:
    forms = {"one": "школа", "few": "школы", "many": "школ"}
    seen = {"one": 0, "few": 0, "many": 0}
    for n in range(1001):
        expected = form_by_the_rule(n)
        assert plural(n, *FORMS) == forms[expected], n
        seen[expected] += 1
    # Counted independently: of 0..1000, 100 numbers end in 1, 10 of them in 11 -> 90 "one";
    # 300 end in 2-4, 30 of them in 12-14 -> 270 "few"; the other 641 take "many".
    assert seen == {"one": 90, "few": 270, "many": 641}


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 школ"),
        (1, "1 школа"),
        (2, "2 школы"),
        (4, "4 школы"),
        (5, "5 школ"),
        (11, "11 школ"),
        (12, "12 школ"),
        (14, "14 школ"),
        (21, "21 школа"),
        (22, "22 школы"),
        (31, "31 школа"),
        (100, "100 школ"),
        (101, "101 школа"),
        (111, "111 школ"),
        (112, "112 школ"),
        (1000, "1000 школ"),
        (1001, "1001 школа"),
        (10_000, f"10{NBSP}000 школ"),
        (40_021, f"40{NBSP}021 школа"),
    ],
)
def test_counted_schools(n: int, text: str) -> None:
    assert counted(n, *FORMS) == text


@pytest.mark.parametrize(
    ("n", "text"),
    [(1, "из 1 школы"), (5, "из 5 школ"), (11, "из 11 школ"), (21, "из 21 школы"),
     (31, "из 31 школы"), (44, "из 44 школ")],
)  # fmt: skip
def test_after_iz_the_same_rule_takes_the_genitive_forms(n: int, text: str) -> None:
    assert f"из {n} {plural(n, 'школы', 'школ', 'школ')}" == text


def test_plural_of_people_and_negative_numbers() -> None:
    people = ("человек", "человека", "человек")
    assert [counted(n, *people) for n in (1, 3, 5, 23)] == [
        "1 человек",
        "3 человека",
        "5 человек",
        "23 человека",
    ]
    assert plural(-21, *FORMS) == "школа"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (7, "7"),
        (1500, "1500"),  # four digits stay whole
        (12_345, f"12{NBSP}345"),
        (1_234_567, f"1{NBSP}234{NBSP}567"),
        (58.3, "58,3"),
        (58.0, "58"),
        (0.04, "0"),
        (12_345.6, f"12{NBSP}345,6"),
        (-3.5, "−3,5"),
    ],
)
def test_number(value: float, text: str) -> None:
    assert number(value) == text


def test_share_is_rounded_down_so_that_100_means_all() -> None:
    assert share(7, 12) == 58.3
    assert share(2, 3) == 66.6
    assert share(9_999, 10_000) == 99.9
    assert share(10_000, 10_000) == 100.0
    assert share(0, 5) == 0.0
    assert share(3, 0) == 0.0


def test_percents_have_a_comma_and_a_no_break_space() -> None:
    assert percent(58.3) == f"58,3{NBSP}%"
    assert percent(100.0) == f"100{NBSP}%"
    assert percent_of(7, 12) == f"58,3{NBSP}%"
    assert percent_of(45, 50) == f"90{NBSP}%"
    assert percent_of(999, 1000) == f"99,9{NBSP}%"
    assert percent_of(999, 1000, digits=0) == f"99{NBSP}%"
    assert percent_of(0, 0) == f"0{NBSP}%"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Сводка", "«Сводка»"),
        ("МКОУ «Аксайская СОШ №1»", "«МКОУ „Аксайская СОШ №1“»"),
        ("ИКОП «Сферум» и VK Мессенджер", "«ИКОП „Сферум“ и VK Мессенджер»"),
        ('МКОУ "СОШ №2"', "«МКОУ „СОШ №2“»"),
        ("  009 ", "«009»"),
    ],
)  # fmt: skip
def test_quoted_never_nests_the_same_quotes(text: str, expected: str) -> None:
    assert quoted(text) == expected
