"""Turn what people type into commands and answers. Pure functions, no I/O.

In chats VK shows a community bot only messages that mention it or start with `/`, so every
command works with a leading slash and with the bot's mention (`[club123|@bot] статус`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain import Campaign, Count, Step, StepKind, StepState

MAX_INPUT_LENGTH = 2000
MAX_REASON_LENGTH = 500

_MENTION = re.compile(r"^\s*\[(?:club|public)\d+\|[^\]]*\]\s*[,:]?\s*", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
# What a phone's keyboard or a copy from a document slips in: invisible characters (zero-width
# space, joiners, word joiner, byte order mark, soft hyphen, direction marks), and the
# full-width forms of ASCII (`３．１`, `４５／５０`), read as the ASCII they look like.
_TYPED: dict[int, int | None] = dict.fromkeys(
    (0x00AD, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF)
)
_TYPED |= {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_TYPED[0x3000] = 0x20  # ideographic space


class AdminCommand(StrEnum):
    STATUS = "status"
    PENDING = "pending"
    REPORT = "report"
    REMIND = "remind"
    HELP = "help"
    ANNOUNCE = "announce"
    PAUSE = "pause"
    RESUME = "resume"
    SCHEDULE = "schedule"
    BIND = "bind"
    REGISTRATIONS = "registrations"
    UNBIND = "unbind"


_ADMIN_WORDS: dict[str, AdminCommand] = {
    "статус": AdminCommand.STATUS,
    "status": AdminCommand.STATUS,
    "должники": AdminCommand.PENDING,
    "pending": AdminCommand.PENDING,
    "отчет": AdminCommand.REPORT,
    "отчёт": AdminCommand.REPORT,
    "report": AdminCommand.REPORT,
    "напомнить": AdminCommand.REMIND,
    "remind": AdminCommand.REMIND,
    "помощь": AdminCommand.HELP,
    "help": AdminCommand.HELP,
    "start": AdminCommand.HELP,
    "начать": AdminCommand.HELP,
    "объявить": AdminCommand.ANNOUNCE,
    "announce": AdminCommand.ANNOUNCE,
    "пауза": AdminCommand.PAUSE,
    "pause": AdminCommand.PAUSE,
    "продолжить": AdminCommand.RESUME,
    "resume": AdminCommand.RESUME,
    "расписание": AdminCommand.SCHEDULE,
    "schedule": AdminCommand.SCHEDULE,
    "привязать": AdminCommand.BIND,
    "bind": AdminCommand.BIND,
    "регистрации": AdminCommand.REGISTRATIONS,
    "registrations": AdminCommand.REGISTRATIONS,
    "отвязать": AdminCommand.UNBIND,
    "unbind": AdminCommand.UNBIND,
}

_STATE_WORDS: dict[str, StepState] = {
    "выполнено": StepState.DONE,
    "выполнен": StepState.DONE,
    "сделано": StepState.DONE,
    "готово": StepState.DONE,
    "done": StepState.DONE,
    "в работе": StepState.IN_PROGRESS,
    "в процессе": StepState.IN_PROGRESS,
    "in progress": StepState.IN_PROGRESS,
    "in_progress": StepState.IN_PROGRESS,
    "проблема": StepState.PROBLEM,
    "problem": StepState.PROBLEM,
}

_COUNT = re.compile(r"(-?\d+)\s*(?:/|из|of)\s*(-?\d+)", re.IGNORECASE)


def clean(text: str) -> str:
    """Drop invisible characters, the bot's mention and a leading slash; full-width ASCII as
    ASCII; squeeze spaces."""
    text = _MENTION.sub("", text[:MAX_INPUT_LENGTH].translate(_TYPED))
    text = text.strip()
    if text.startswith("/"):
        text = text[1:]
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class ParsedAdminCommand:
    command: AdminCommand
    argument: str = ""


def parse_admin_command(text: str) -> ParsedAdminCommand | None:
    cleaned = clean(text)
    if not cleaned:
        return None
    word, _, rest = cleaned.partition(" ")
    command = _ADMIN_WORDS.get(word.casefold())
    if command is None:
        return None
    return ParsedAdminCommand(command, rest.strip())


class AnswerError(StrEnum):
    """Why a typed answer could not be taken; each has its Russian explanation in texts."""

    UNKNOWN_STEP = "unknown_step"
    NO_STATE = "no_state"
    COUNT_FORMAT = "count_format"
    COUNT_OVER_TOTAL = "count_over_total"
    COUNT_NEGATIVE = "count_negative"
    COUNT_MISSING_PART = "count_missing_part"
    COUNT_TOO_LARGE = "count_too_large"
    REASON_TOO_LONG = "reason_too_long"


@dataclass(frozen=True)
class ParsedAnswer:
    step_id: str
    state: StepState
    counts: dict[str, Count] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class AnswerProblem:
    error: AnswerError
    step_id: str = ""
    detail: str = ""


_MAX_COUNT = 10_000_000


def looks_like_answer(text: str, campaign: Campaign) -> bool:
    """Does the text start with one of the campaign's step ids (`3.1 ...`)?"""
    cleaned = clean(text)
    first = cleaned.split(" ", 1)[0] if cleaned else ""
    return campaign.step(first) is not None or bool(re.match(r"^\d+(\.\d+)+\b", cleaned))


def parse_answer(text: str, campaign: Campaign) -> ParsedAnswer | AnswerProblem:
    """Parse `3.1 выполнено`, `3.4 проблема нет интернета`, `3.2 педагоги 45/50 ученики 1/2`."""
    cleaned = clean(text)
    step_word, _, rest = cleaned.partition(" ")
    step = campaign.step(step_word)
    if step is None:
        return AnswerProblem(AnswerError.UNKNOWN_STEP, step_id=step_word[:16])
    rest = rest.strip()
    state, remainder = _leading_state(rest)
    if state is StepState.PROBLEM:
        if len(remainder) > MAX_REASON_LENGTH:
            return AnswerProblem(AnswerError.REASON_TOO_LONG, step.id)
        return ParsedAnswer(step.id, StepState.PROBLEM, reason=remainder)
    if step.kind is StepKind.COUNT:
        if state is not None and not remainder:
            # "3.2 выполнено" says nothing about the numbers the order asks for.
            return AnswerProblem(AnswerError.COUNT_FORMAT, step.id)
        return parse_counts(remainder if state is not None else rest, step)
    if state is None:
        return AnswerProblem(AnswerError.NO_STATE, step.id)
    return ParsedAnswer(step.id, state)


def _leading_state(text: str) -> tuple[StepState | None, str]:
    folded = text.casefold()
    for words in sorted(_STATE_WORDS, key=len, reverse=True):
        if folded == words or folded.startswith(words + " ") or folded.startswith(words + ":"):
            return _STATE_WORDS[words], text[len(words) :].lstrip(" :,.-—").strip()
    return None, text


def parse_counts(text: str, step: Step) -> ParsedAnswer | AnswerProblem:
    """Numbers for a count step: by part name (`педагоги 45/50 ...`) or in the parts' order."""
    matches = list(_COUNT.finditer(text))
    if not matches:
        return AnswerProblem(AnswerError.COUNT_FORMAT, step.id)
    assigned: dict[str, tuple[int, int]] = {}
    unnamed: list[tuple[int, int]] = []
    previous_end = 0
    for match in matches:
        label = text[previous_end : match.start()].casefold()
        previous_end = match.end()
        numbers = (int(match.group(1)), int(match.group(2)))
        named = _part_named(label, step)
        if named is None:
            unnamed.append(numbers)
        else:
            assigned[named] = numbers
    for part in step.parts:
        if part.key not in assigned and unnamed:
            assigned[part.key] = unnamed.pop(0)
    missing = [p.title for p in step.parts if p.key not in assigned]
    if missing:
        return AnswerProblem(AnswerError.COUNT_MISSING_PART, step.id, ", ".join(missing))
    counts: dict[str, Count] = {}
    for part in step.parts:
        done, total = assigned[part.key]
        if done < 0 or total < 0:
            return AnswerProblem(AnswerError.COUNT_NEGATIVE, step.id, part.title)
        if done > _MAX_COUNT or total > _MAX_COUNT:
            return AnswerProblem(AnswerError.COUNT_TOO_LARGE, step.id, part.title)
        if done > total or total == 0:
            return AnswerProblem(
                AnswerError.COUNT_OVER_TOTAL, step.id, f"{part.title}: {done} из {total}"
            )
        counts[part.key] = Count(done=done, total=total)
    complete = all(count.complete for count in counts.values())
    return ParsedAnswer(step.id, StepState.DONE if complete else StepState.IN_PROGRESS, counts)


def _part_named(label: str, step: Step) -> str | None:
    words = re.findall(r"[\w]+", label)
    for part in step.parts:
        names = part.names()
        if any(word in names or any(word.startswith(n[:5]) for n in names) for word in words):
            return part.key
    return None
