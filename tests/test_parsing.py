"""Typed commands and answers, as heads and staff write them."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.domain import Campaign, Count, CountPart, Step, StepKind, StepState
from bot.parsing import (
    AdminCommand,
    AnswerError,
    AnswerProblem,
    ParsedAdminCommand,
    ParsedAnswer,
    clean,
    looks_like_answer,
    parse_admin_command,
    parse_answer,
)
from bot.texts import split_message

CAMPAIGN = Campaign(
    id="c",
    title="t",
    number="47",
    date=dt.date(2023, 10, 16),
    deadline=dt.datetime(2023, 10, 20, 20, 59, tzinfo=dt.UTC),
    timezone="Europe/Moscow",
    steps=(
        Step(id="3.1", title="a", short_title="a"),
        Step(
            id="3.2",
            title="b",
            short_title="b",
            kind=StepKind.COUNT,
            parts=(
                CountPart(key="teachers", title="педагоги", aliases=("учителя",)),
                CountPart(key="pupils", title="ученики", aliases=("обучающиеся", "дети")),
            ),
        ),
        Step(id="3.4", title="d", short_title="d"),
    ),
)


@pytest.mark.parametrize(
    ("text", "command", "argument"),
    [
        ("статус", AdminCommand.STATUS, ""),
        ("/Статус", AdminCommand.STATUS, ""),
        ("[club123|@bot] статус  СОШ №5", AdminCommand.STATUS, "СОШ №5"),
        ("[club123|Управление], STATUS 12", AdminCommand.STATUS, "12"),
        ("должники", AdminCommand.PENDING, ""),
        ("/pending", AdminCommand.PENDING, ""),
        ("ОТЧЁТ", AdminCommand.REPORT, ""),
        ("remind", AdminCommand.REMIND, ""),
        ("помощь", AdminCommand.HELP, ""),
    ],
)
def test_admin_commands(text: str, command: AdminCommand, argument: str) -> None:
    parsed = parse_admin_command(text)
    assert parsed is not None
    assert (parsed.command, parsed.argument) == (command, argument)


@pytest.mark.parametrize("text", ["", "привет", "3.1 выполнено", "статусы", "/"])
def test_not_admin_commands(text: str) -> None:
    assert parse_admin_command(text) is None


def test_clean_strips_mention_and_slash() -> None:
    assert clean("[club1|@bot]   /3.1   выполнено ") == "3.1 выполнено"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.1 выполнено", ParsedAnswer("3.1", StepState.DONE)),
        ("/3.1 Выполнено", ParsedAnswer("3.1", StepState.DONE)),
        ("3.1 в работе", ParsedAnswer("3.1", StepState.IN_PROGRESS)),
        (
            "3.4 проблема нет интернета",
            ParsedAnswer("3.4", StepState.PROBLEM, reason="нет интернета"),
        ),
        ("3.4 Проблема: нет ПК", ParsedAnswer("3.4", StepState.PROBLEM, reason="нет ПК")),
        ("3.4 проблема", ParsedAnswer("3.4", StepState.PROBLEM)),
        (
            "3.2 педагоги 45/50 ученики 380/412",
            ParsedAnswer(
                "3.2",
                StepState.IN_PROGRESS,
                {"teachers": Count(done=45, total=50), "pupils": Count(done=380, total=412)},
            ),
        ),
        (
            "3.2 ученики 412 из 412, учителя 50 из 50",
            ParsedAnswer(
                "3.2",
                StepState.DONE,
                {"teachers": Count(done=50, total=50), "pupils": Count(done=412, total=412)},
            ),
        ),
        (
            "3.2 45/50 380/412",
            ParsedAnswer(
                "3.2",
                StepState.IN_PROGRESS,
                {"teachers": Count(done=45, total=50), "pupils": Count(done=380, total=412)},
            ),
        ),
    ],
)
def test_answers(text: str, expected: ParsedAnswer) -> None:
    assert parse_answer(text, CAMPAIGN) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("3.9 выполнено", AnswerError.UNKNOWN_STEP),
        ("3.1 может быть", AnswerError.NO_STATE),
        ("3.2 педагоги много", AnswerError.COUNT_FORMAT),
        ("3.2 выполнено", AnswerError.COUNT_FORMAT),
        ("3.2 педагоги 45/40 ученики 1/2", AnswerError.COUNT_OVER_TOTAL),
        ("3.2 педагоги -5/40 ученики 1/2", AnswerError.COUNT_NEGATIVE),
        ("3.2 педагоги 45/50", AnswerError.COUNT_MISSING_PART),
        ("3.2 педагоги 0/0 ученики 1/2", AnswerError.COUNT_OVER_TOTAL),
        ("3.2 педагоги 1/99999999999 ученики 1/2", AnswerError.COUNT_TOO_LARGE),
        ("3.4 проблема " + "х" * 600, AnswerError.REASON_TOO_LONG),
    ],
)
def test_bad_answers(text: str, error: AnswerError) -> None:
    result = parse_answer(text, CAMPAIGN)
    assert isinstance(result, AnswerProblem)
    assert result.error is error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.1\u200b выполнено", ParsedAnswer("3.1", StepState.DONE)),
        ("\ufeff3.1 выпол\u00adнено\u2060", ParsedAnswer("3.1", StepState.DONE)),
        ("３．１　выполнено", ParsedAnswer("3.1", StepState.DONE)),
        (
            "3.2 педагоги ４５／５０ ученики 380 из 412",
            ParsedAnswer(
                "3.2",
                StepState.IN_PROGRESS,
                {"teachers": Count(done=45, total=50), "pupils": Count(done=380, total=412)},
            ),
        ),
    ],
)
def test_invisible_characters_and_full_width_digits_are_read(
    text: str, expected: ParsedAnswer
) -> None:
    assert parse_answer(text, CAMPAIGN) == expected
    assert looks_like_answer(text, CAMPAIGN)


def test_commands_and_codes_are_read_through_invisible_characters() -> None:
    assert parse_admin_command("\u200bстатус\u200b ０１") == ParsedAdminCommand(
        AdminCommand.STATUS, "01"
    )
    assert clean("регистрация Ｋ７Ｍ４ＰＱ") == "регистрация K7M4PQ"


def test_split_message_keeps_every_line_under_limit() -> None:
    text = "\n".join(f"строка {i} " + "я" * 50 for i in range(300)) + "\n" + "ж" * 9000
    parts = split_message(text, limit=4000)
    assert all(len(part) <= 4000 for part in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def test_pending_list_says_how_many_more_are_in_the_report() -> None:
    from bot.domain import School
    from bot.status import PendingSchool
    from bot.texts import pending

    shown = [PendingSchool(school=School(id="1", name="СОШ №1"), states={}, people=())]
    text = pending(CAMPAIGN, shown, total=40_000, owing=39_000)
    # Five-digit numbers in groups of three, joined by no-break spaces.
    assert text.startswith("Не выполнили все пункты: 39\u00a0000 из 40\u00a0000 школ")
    assert "…и ещё 38\u00a0999 школ:" in text
    assert "«отчёт»" in text
